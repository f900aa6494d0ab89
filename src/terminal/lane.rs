//! The stores and the lane a `Config` turns into: the one way the daemon, the demo, the
//! simulation and the benchmarks open a terminal's ledger replica and outbox and build a lane
//! over them. Callers inject only what is not configuration (the clock, a simulated device).

use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::{broadcast, watch};

use super::{TerminalError, lane_settings, session_window, terminal_id};
use crate::adapters::feed::{Outbox, OutboxConfig};
use crate::adapters::gate::SerialGate;
use crate::adapters::ledger::SledLedger;
use crate::config::{Config, Direction};
use crate::core::stay::policy::StayPolicy;
use crate::lane::chip::ChipLane;
use crate::lane::driver::{LaneDriver, LaneParts};
use crate::ports::chip::DocumentChipReader;
use crate::ports::clock::Clock;
use crate::ports::gate::Gate;
use crate::ports::ledger::ReplicationState;

/// How long a chip read waits for a card in the field after the MRZ is scanned.
const CHIP_CARD_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

fn store_error(what: &'static str) -> impl Fn(String) -> TerminalError {
    move |message| TerminalError::Store { what, message }
}

/// Opens the ledger replica at `<data_dir>/ledger`, setting a corrupt one aside.
pub fn open_ledger(config: &Config) -> Result<SledLedger, TerminalError> {
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| store_error("data directory")(e.to_string()))?;
    let (ledger, set_aside) = SledLedger::open_or_set_aside(
        &config.data_dir.join("ledger"),
        config.ledger.cache_capacity_bytes.get(),
    )
    .map_err(|e| store_error("ledger replica")(e.to_string()))?;
    if let Some((aside, why)) = set_aside {
        tracing::error!(
            message = "ledger replica corrupt: moved aside, replicating again from central",
            aside = %aside.display(),
            error = %why
        );
    }
    Ok(ledger)
}

/// Opens the outbox at `<data_dir>/outbox` as the terminal `<checkpoint id>-<lane>`, signing with
/// the configured key, with the configured cache, row limit and clock tolerance.
pub fn open_outbox(config: &Config, clock: Arc<dyn Clock>) -> Result<Outbox, TerminalError> {
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| store_error("data directory")(e.to_string()))?;
    let outbox = Outbox::open_with_cache(
        &config.data_dir.join("outbox"),
        OutboxConfig {
            terminal: terminal_id(config)?,
            time_zone: config.checkpoint.time_zone.clone(),
        },
        config.keys.terminal_key.signing_key().clone(),
        clock,
        config.retention.cache_capacity_bytes.get(),
    )
    .map_err(|e| store_error("outbox")(e.to_string()))?;
    outbox.set_rows_max(config.limits.outbox_events_max.get());
    outbox.set_clock_backwards_tolerance(config.lane.clock_backwards_tolerance);
    Ok(outbox)
}

/// What a lane is built over besides its configuration.
pub struct LaneSources {
    /// The ledger replica.
    pub ledger: SledLedger,
    /// The outbox: recorder, movement history and clock high-water mark.
    pub outbox: Outbox,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// The stay rules the configuration names (`stay_policy`).
    pub policy: Arc<StayPolicy>,
    /// How the replica follows central.
    pub replication: watch::Receiver<ReplicationState>,
}

/// The lane's ports over the stores, with the kiosk gate the configuration names.
pub fn lane_parts(config: &Config, sources: LaneSources) -> LaneParts {
    let depth_outbox = sources.outbox.clone();
    let mark_outbox = sources.outbox.clone();
    LaneParts {
        ledger: Arc::new(sources.ledger),
        movements: Arc::new(sources.outbox.movement_index()),
        recorder: Arc::new(sources.outbox),
        outbox_depth: Arc::new(move || depth_outbox.depth()),
        clock_high_water: Arc::new(move || mark_outbox.clock_high_water().ok().flatten()),
        policy: sources.policy,
        clock: sources.clock,
        gate: config.gate.as_ref().map(|gate| {
            let gate: Arc<Mutex<dyn Gate>> = Arc::new(Mutex::new(SerialGate::new(
                gate.port.clone(),
                gate.profile.clone(),
            )));
            gate
        }),
        replication: sources.replication,
    }
}

/// A lane with the configuration's settings and session window over `parts`.
pub fn lane_driver(
    config: &Config,
    parts: LaneParts,
    events: broadcast::Sender<Value>,
    status: watch::Sender<Value>,
) -> LaneDriver {
    LaneDriver::new(
        lane_settings(config),
        parts,
        session_window(config),
        events,
        status,
    )
}

/// `config` for a lane of the same terminal facing the other way (the demo's and the
/// simulation's departures lane beside their arrivals lane).
pub fn facing(config: &Config, direction: Direction) -> Config {
    let mut facing = config.clone();
    facing.checkpoint.direction = direction;
    facing
}

/// The lane's chip step over the configured `pcsc` reader: read through PC/SC, or through
/// `injected` (the demo's simulated field) with the configured reader's settings.
pub fn chip_lane(
    config: &Config,
    injected: Option<&Arc<Mutex<dyn DocumentChipReader>>>,
) -> Option<ChipLane> {
    config.chip_reader.as_ref().map(|reader| {
        let device: Arc<Mutex<dyn DocumentChipReader>> = match injected {
            Some(device) => Arc::clone(device),
            None => Arc::new(Mutex::new(crate::adapters::pcsc_reader::PcscChipReader {
                pattern: reader.pattern.clone(),
                extended_length: reader.extended_length,
                card_wait: CHIP_CARD_WAIT,
            })),
        };
        let settings = crate::core::chip::reader::ReadSettings {
            refuse_bac_fallback: reader.refuse_bac_fallback,
            ..crate::core::chip::reader::ReadSettings::default()
        };
        ChipLane::new(&reader.name, device, settings)
    })
}
