//! The assembled terminal: opens the stores, starts the devices, the local API and the upstream
//! tasks (ledger replication, crossing relay, movement index) from a validated `Config`, and
//! builds the lane the runtime loop drives. Everything here is wiring; the work is elsewhere.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ed25519_dalek::VerifyingKey;
use jiff::SignedDuration;
use serde_json::Value;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

use crate::adapters::api::{self, ApiAccess, ApiState};
use crate::adapters::devices::{
    self, Backoff, DeviceSpec, DeviceTask, parse_profile, parse_programming,
};
use crate::adapters::feed::{
    IndexConfig, Outbox, OutboxConfig, RelayConfig, run_index, run_relay_metered,
};
use crate::adapters::gate::SerialGate;
use crate::adapters::health::{self, Probe};
use crate::adapters::ledger::SledLedger;
use crate::adapters::ledger::replication::{
    Backoff as ReplicationBackoff, JetStreamSource, REQUEST_TIMEOUT as LEDGER_REQUEST_TIMEOUT,
    Replicator,
};
use crate::adapters::nats_transport;
use crate::adapters::metrics::Telemetry;
use crate::config::{Config, Connection, Mode};
use crate::core::decision::LaneMode;
use crate::core::event::{TerminalId, TerminalKeys};
use crate::core::ledger::permit_check::Bp1Verification;
use crate::core::ledger::{RootKey, RootSet};
use crate::core::stay::policy::StayPolicy;
use crate::lane::LaneSettings;
use crate::lane::driver::{LaneDriver, LaneParts};
use crate::ports::clock::Clock;
use crate::ports::ledger::LedgerView;
use crate::ports::telemetry::{RelayMeter, ReplicationMeter};
use crate::runtime::Input;

/// Clock-skew allowance for permit `nbf`/`exp`.
pub const PERMIT_CLOCK_SKEW: SignedDuration = SignedDuration::from_mins(5);
/// How often the replica asks central for a newer checkpoint.
pub const LEDGER_POLL: Duration = Duration::from_secs(5);
/// Device events queued before a reader waits.
pub const DEVICE_EVENTS_MAX: usize = 64;

/// Why the terminal could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum TerminalError {
    /// A store could not be opened.
    #[error("{what}: {message}")]
    Store {
        /// Which store.
        what: &'static str,
        /// Why.
        message: String,
    },
    /// A file named by the configuration could not be used.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// The local API could not listen.
    #[error(transparent)]
    Api(#[from] api::ApiError),
}

/// The running terminal's parts that outlive start-up.
pub struct Terminal {
    /// The lane the runtime drives.
    pub lane: LaneDriver,
    devices: Vec<DeviceTask>,
    tasks: Vec<JoinHandle<()>>,
    outbox: Outbox,
    stop: watch::Sender<bool>,
}

impl std::fmt::Debug for Terminal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Terminal")
            .field("devices", &self.devices.len())
            .field("tasks", &self.tasks.len())
            .finish_non_exhaustive()
    }
}

impl Terminal {
    /// Stops devices and background tasks and flushes the outbox.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for device in self.devices {
            // Joining a device thread blocks for at most one poll interval.
            let _ = tokio::task::spawn_blocking(move || device.stop()).await;
        }
        for task in self.tasks {
            task.abort();
        }
        if let Err(error) = self.outbox.flush_async().await {
            tracing::error!(message = "outbox flush at shutdown failed", %error);
        }
    }
}

struct LedgerTerminalKeys(SledLedger);

impl TerminalKeys for LedgerTerminalKeys {
    fn verifying_key(&self, terminal: &TerminalId) -> Option<VerifyingKey> {
        let keys = self.0.terminal_keys(terminal.as_str()).ok()?;
        keys.iter()
            .rev()
            .find(|key| key.retired_at.is_none())
            .and_then(|key| VerifyingKey::from_bytes(&key.key.public_key).ok())
    }
}

async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

fn read(path: &Path) -> Result<String, TerminalError> {
    crate::config::read_named_file(path).map_err(|error| TerminalError::File {
        path: path.display().to_string(),
        message: error.to_string(),
    })
}

/// Opens everything the configuration names and wires it to `inputs`.
pub async fn open(
    config: &Config,
    clock: Arc<dyn Clock>,
    inputs: mpsc::Sender<Input>,
) -> Result<Terminal, TerminalError> {
    let store_error = |what| move |message: String| TerminalError::Store { what, message };
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
    let terminal_id = TerminalId::new(format!(
        "{}-{}",
        config.checkpoint.id, config.checkpoint.lane
    ))
    .map_err(|e| store_error("terminal id")(e.to_string()))?;
    let outbox = Outbox::open_with_cache(
        &config.data_dir.join("outbox"),
        OutboxConfig {
            terminal: terminal_id,
            time_zone: config.checkpoint.time_zone.clone(),
        },
        config.keys.terminal_key.signing_key().clone(),
        Arc::clone(&clock),
        config.retention.cache_capacity_bytes.get(),
    )
    .map_err(|e| store_error("outbox")(e.to_string()))?;
    outbox.set_rows_max(config.limits.outbox_events_max.get());
    let policy =
        StayPolicy::from_toml(&read(&config.rules_file)?).map_err(|e| TerminalError::File {
            path: config.rules_file.display().to_string(),
            message: e.to_string(),
        })?;

    let (stop, stop_receiver) = watch::channel(false);
    let mut tasks = Vec::new();

    // The local API.
    let (events, _) = broadcast::channel(api::API_STREAM_EVENTS_MAX);
    let (status, status_view) = watch::channel(Value::Null);
    let (commands, mut command_inbox) = mpsc::channel(api::API_COMMANDS_MAX);
    let access = ApiAccess {
        token: config
            .api
            .http
            .as_ref()
            .map(|http| http.token.expose().to_string()),
        socket_gid: Some(config.api.gid),
    };
    let telemetry = Telemetry::new(config.devices.iter().map(|device| device.name.clone()));
    let probe = Probe {
        telemetry: telemetry.clone(),
        outbox: outbox.clone(),
        ledger: Arc::new(ledger.clone()),
        terminal_key: config.keys.terminal_key.signing_key().verifying_key(),
        data_dir: config.data_dir.clone(),
        outbox_max: config.limits.outbox_events_max.get(),
        ledger_stale_after: config.lane.ledger_stale_after,
        clock: Arc::clone(&clock),
    };
    let api_state = ApiState::new(events.clone(), commands, status_view, access)
        .with_open_routes(health::routes(probe));
    if let Some(parent) = config.api.socket.parent() {
        // Under systemd `RuntimeDirectory=` made it; a failure here shows as the bind's error.
        let _ = std::fs::create_dir_all(parent);
    }
    // A socket that cannot be bound or given to the console's group is fatal: a terminal whose
    // console cannot connect must not report READY.
    let unix_listener = api::bind_unix(&config.api.socket, Some(config.api.gid))?;
    let unix_state = api_state.clone();
    let unix_stop = stopped(stop_receiver.clone());
    tasks.push(tokio::spawn(async move {
        if let Err(error) = api::serve_unix(unix_listener, unix_state, unix_stop).await {
            tracing::error!(message = "api socket failed", %error);
        }
    }));
    if let Some(http) = &config.api.http {
        let listener = api::bind_http(&http.address.to_string()).await?;
        let http_stop = stopped(stop_receiver.clone());
        tasks.push(tokio::spawn(async move {
            if let Err(error) = api::serve_http(listener, api_state, http_stop).await {
                tracing::error!(message = "api http failed", %error);
            }
        }));
    }
    let api_inputs = inputs.clone();
    tasks.push(tokio::spawn(async move {
        while let Some(command) = command_inbox.recv().await {
            if api_inputs.send(Input::Api(command)).await.is_err() {
                break;
            }
        }
    }));

    // Devices: each in its own thread (an image spool's decoding too), events forwarded to the loop.
    let (device_events, mut device_inbox) = mpsc::channel(DEVICE_EVENTS_MAX);
    let mut device_tasks = Vec::new();
    let scanners_dir = config.source.parent().map(|dir| dir.join("scanners"));
    for device in &config.devices {
        let profile =
            parse_profile(&read(&device.profile_path)?).map_err(|e| TerminalError::File {
                path: device.profile_path.display().to_string(),
                message: e.to_string(),
            })?;
        let programming = match (&profile.init, &scanners_dir) {
            (Some(init), Some(dir)) => {
                let path = dir.join(format!("{init}.toml"));
                Some(
                    parse_programming(&read(&path)?).map_err(|e| TerminalError::File {
                        path: path.display().to_string(),
                        message: e.to_string(),
                    })?,
                )
            }
            _ => None,
        };
        let path = match &device.connection {
            Connection::Port(path) | Connection::Spool(path) => Some(path.display().to_string()),
            Connection::Usb { .. } => None,
        };
        let spec = DeviceSpec {
            name: device.name.clone(),
            profile,
            programming,
            path,
        };
        let task = devices::spawn(
            spec,
            Arc::clone(&clock),
            Backoff::default(),
            device_events.clone(),
        )
        .map_err(|e| TerminalError::File {
            path: device.name.clone(),
            message: e.to_string(),
        })?;
        device_tasks.push(task);
    }
    drop(device_events);
    let device_inputs = inputs.clone();
    tasks.push(tokio::spawn(async move {
        while let Some(event) = device_inbox.recv().await {
            if device_inputs.send(Input::Device(event)).await.is_err() {
                break;
            }
        }
    }));

    // Upstream: ledger replication, crossing relay, movement index. Each retries on its own;
    // the lane decides from what is local whether or not central is reachable.
    let upstream = config.upstream.clone();
    let roots = RootSet::new(
        config
            .keys
            .ledger_roots
            .iter()
            .filter_map(|key| RootKey::from_bytes(&key.to_bytes()).ok())
            .collect(),
        config.keys.ledger_root_threshold.get(),
    )
    .map_err(|e| store_error("ledger roots")(e.to_string()))?;
    {
        let ledger = ledger.clone();
        let upstream = upstream.clone();
        let snapshot_dir = config.data_dir.clone();
        let meter: Arc<dyn ReplicationMeter> = Arc::new(telemetry.clone());
        tasks.push(tokio::spawn(async move {
            let mut backoff = ReplicationBackoff::new(Duration::from_millis(500), Duration::from_secs(30));
            loop {
                let options = async_nats::ConnectOptions::new().request_timeout(Some(LEDGER_REQUEST_TIMEOUT));
                match nats_transport::connect_with(options, &upstream).await {
                    Ok(client) => {
                        let replicator = Replicator::new(JetStreamSource::from_client(client), ledger.clone(), roots.clone(), Arc::new(Bp1Verification));
                        let replicator = replicator
                            .with_snapshot_dir(&snapshot_dir)
                            .with_meter(Arc::clone(&meter));
                        let fatal = replicator.follow(LEDGER_POLL, backoff).await;
                        tracing::error!(message = "ledger replication stopped: replica kept at its last good state", error = %fatal);
                        return;
                    }
                    Err(error) => {
                        meter.replication_failed(false);
                        let delay = backoff.next_delay();
                        tracing::warn!(message = "central unreachable for the ledger", %error, ?delay);
                        tokio::time::sleep(delay).await;
                    }
                }
            }
        }));
    }
    {
        let outbox = outbox.clone();
        let ledger = ledger.clone();
        let clock = Arc::clone(&clock);
        let stop = stop_receiver.clone();
        let duplicate_window_hours =
            u32::try_from(config.upstream.duplicate_window.as_secs() / 3600)
                .unwrap_or(u32::MAX)
                .max(1);
        let relay_config = RelayConfig {
            replicas: config.upstream.stream_replicas,
            ..RelayConfig::with_duplicate_window_hours(duplicate_window_hours)
        };
        let retention_days = config.retention.movement_days;
        let prune_every = config.retention.prune_every;
        let meter: Arc<dyn RelayMeter> = Arc::new(telemetry.clone());
        tasks.push(tokio::spawn(async move {
            let options = async_nats::ConnectOptions::new().retry_on_initial_connect();
            let client = match nats_transport::connect_with(options, &upstream).await {
                Ok(client) => client,
                Err(error) => {
                    tracing::error!(message = "cannot connect to central", %error);
                    return;
                }
            };
            let relay = run_relay_metered(
                outbox.clone(),
                client.clone(),
                relay_config,
                Some(meter),
                stopped(stop.clone()),
            );
            let index_config = IndexConfig {
                retention_days,
                prune_every,
                ..IndexConfig::default()
            };
            let index = run_index(
                outbox.movement_index(),
                client,
                Arc::new(LedgerTerminalKeys(ledger)),
                index_config,
                clock,
                stopped(stop),
            );
            let (relay, index) = tokio::join!(relay, index);
            if let Err(error) = relay {
                tracing::error!(message = "crossing relay stopped", %error);
            }
            if let Err(error) = index {
                tracing::error!(message = "movement index stopped", %error);
            }
        }));
    }

    let settings = LaneSettings {
        checkpoint: config.checkpoint.id.clone(),
        lane: config.checkpoint.lane.clone(),
        direction: config.checkpoint.direction,
        mode: match config.checkpoint.mode {
            Mode::Officer => LaneMode::Officer,
            Mode::Kiosk => LaneMode::Kiosk,
        },
        time_zone: config.checkpoint.time_zone.clone(),
        ledger_stale_after: SignedDuration::try_from(config.lane.ledger_stale_after)
            .unwrap_or(SignedDuration::MAX),
        permit_clock_skew: PERMIT_CLOCK_SKEW,
    };
    let depth_outbox = outbox.clone();
    let parts = LaneParts {
        ledger: Arc::new(ledger),
        movements: Arc::new(outbox.movement_index()),
        recorder: Arc::new(outbox.clone()),
        outbox_depth: Arc::new(move || depth_outbox.depth()),
        clock_high_water: {
            let outbox = outbox.clone();
            Arc::new(move || outbox.clock_high_water().ok().flatten())
        },
        policy: Arc::new(policy),
        clock,
        gate: config.gate.as_ref().map(|gate| {
            Arc::new(Mutex::new(SerialGate::new(
                gate.port.clone(),
                gate.profile.clone(),
            )))
        }),
    };
    let window = SignedDuration::try_from(config.lane.session_window)
        .unwrap_or(SignedDuration::from_secs(30));
    let lane =
        LaneDriver::new(settings, parts, window, events, status).with_meter(Arc::new(telemetry));
    Ok(Terminal {
        lane,
        devices: device_tasks,
        tasks,
        outbox,
        stop,
    })
}
