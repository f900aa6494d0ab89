//! The terminal's tasks that talk to central over one NATS connection: ledger replication (with
//! its state published for the status), the crossing relay, the movement index and the
//! heartbeats. Each retries on its own; the lane decides from what is local.

use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::VerifyingKey;
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::stopped;
use crate::adapters::feed::{
    HealthProbe, IndexConfig, Outbox, RelayConfig, bootstrap_index, run_heartbeats, run_index,
    run_relay_metered,
};
use crate::adapters::ledger::SledLedger;
use crate::adapters::ledger::replication::{
    Backoff, JetStreamSource, LedgerStreams, ReplicationOutcome, Replicator,
};
use crate::adapters::metrics::Telemetry;
use crate::adapters::nats;
use crate::config::Config;
use crate::core::event::{TerminalId, TerminalKeys};
use crate::core::ledger::permit_check::Bp1Verification;
use crate::core::ledger::{RootKey, RootSet};
use crate::ports::clock::Clock;
use crate::ports::ledger::{LedgerView, ReplicationState};
use crate::ports::telemetry::{RelayMeter, ReplicationMeter};

/// How often the replica asks central for a newer checkpoint.
pub const LEDGER_POLL: Duration = Duration::from_secs(5);

/// What the upstream tasks share with the rest of the terminal.
#[derive(Clone)]
pub struct UpstreamParts {
    pub ledger: SledLedger,
    pub outbox: Outbox,
    pub clock: Arc<dyn Clock>,
    /// The replicator's state, read by the lane.
    pub replication: Arc<watch::Sender<ReplicationState>>,
    /// The lane's status, sent as the heartbeat.
    pub status: watch::Receiver<Value>,
    /// Relay and replication counters for `/metrics`.
    pub telemetry: Telemetry,
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

/// The lane's status as the heartbeat's body.
struct StatusProbe(watch::Receiver<Value>);

impl HealthProbe for StatusProbe {
    fn health(&self) -> Value {
        self.0.borrow().clone()
    }
}

/// The ledger roots the configuration pins.
pub fn root_set(config: &Config) -> Result<RootSet, String> {
    RootSet::new(
        config
            .keys
            .ledger_roots
            .iter()
            .filter_map(|key| RootKey::from_bytes(&key.to_bytes()).ok())
            .collect(),
        config.keys.ledger_root_threshold.get(),
    )
    .map_err(|e| e.to_string())
}

/// Connects to central and starts replication, relay, index and heartbeats until `stop`.
pub async fn start(
    config: &Config,
    parts: UpstreamParts,
    stop: watch::Receiver<bool>,
) -> Result<Vec<JoinHandle<()>>, super::TerminalError> {
    let roots = root_set(config).map_err(|message| super::TerminalError::Store {
        what: "ledger roots",
        message,
    })?;
    let client = nats::connect(&config.upstream)
        .await
        .map_err(|e| super::TerminalError::Upstream(e.to_string()))?;
    let streams = LedgerStreams::named(&config.upstream.ledger_stream);
    let bootstrap_state = Arc::clone(&parts.replication);
    let replicator = Replicator::new(
        JetStreamSource::from_client(client.clone(), streams),
        parts.ledger.clone(),
        roots,
        Arc::new(Bp1Verification),
    )
    .with_snapshot_dir(&config.data_dir)
    .with_bootstrap_progress(Arc::new(move |done, total| {
        bootstrap_state.send_replace(ReplicationState::Bootstrapping { done, total });
    }));
    let mut tasks = vec![tokio::spawn(replicate(
        replicator,
        Arc::new(parts.telemetry.clone()),
        Arc::clone(&parts.replication),
        Arc::clone(&parts.clock),
        stopped(stop.clone()),
    ))];
    tasks.push(tokio::spawn(feed(
        client.clone(),
        relay_config(config),
        index_config(config),
        IndexBootstrap {
            key: config.keys.movement_snapshot_key,
            scratch: config.data_dir.clone(),
        },
        parts.clone(),
        stop.clone(),
    )));
    tasks.push(tokio::spawn(run_heartbeats(
        parts.outbox.clone(),
        client,
        Arc::new(StatusProbe(parts.status.clone())),
        parts.clock,
        config.upstream.heartbeat_every,
        stopped(stop),
    )));
    Ok(tasks)
}

fn relay_config(config: &Config) -> RelayConfig {
    let hours = u32::try_from(config.upstream.duplicate_window.as_secs() / 3600)
        .unwrap_or(u32::MAX)
        .max(1);
    RelayConfig {
        stream: config.upstream.events_stream.clone(),
        replicas: config.upstream.stream_replicas,
        ..RelayConfig::with_duplicate_window_hours(hours)
    }
}

fn index_config(config: &Config) -> IndexConfig {
    IndexConfig {
        stream: config.upstream.events_stream.clone(),
        retention_days: config.retention.movement_days,
        prune_every: config.retention.prune_every,
        ..IndexConfig::default()
    }
}

/// Where a new terminal's movement history comes from before the stream: central's snapshot,
/// when its key is pinned.
struct IndexBootstrap {
    key: Option<VerifyingKey>,
    scratch: std::path::PathBuf,
}

async fn feed(
    client: async_nats::Client,
    relay: RelayConfig,
    index: IndexConfig,
    bootstrap: IndexBootstrap,
    parts: UpstreamParts,
    stop: watch::Receiver<bool>,
) {
    let meter: Arc<dyn RelayMeter> = Arc::new(parts.telemetry.clone());
    let relay = run_relay_metered(
        parts.outbox.clone(),
        client.clone(),
        relay,
        Some(meter),
        stopped(stop.clone()),
    );
    let movements = parts.outbox.movement_index();
    let index = async {
        if let Some(key) = bootstrap.key {
            let stream = index.stream.clone();
            tokio::select! {
                () = stopped(stop.clone()) => return Ok(()),
                _ = bootstrap_index(&movements, client.clone(), key, &stream, &bootstrap.scratch) => {}
            }
        }
        run_index(
            movements.clone(),
            client,
            Arc::new(LedgerTerminalKeys(parts.ledger)),
            index,
            parts.clock,
            stopped(stop),
        )
        .await
    };
    let (relay, index) = tokio::join!(relay, index);
    if let Err(error) = relay {
        tracing::error!(message = "crossing relay stopped", %error);
    }
    if let Err(error) = index {
        tracing::error!(message = "movement index stopped", %error);
    }
}

/// Follows central until a fatal error or `stop`, publishing the state after every round.
async fn replicate(
    replicator: Replicator<SledLedger>,
    meter: Arc<dyn ReplicationMeter>,
    state: Arc<watch::Sender<ReplicationState>>,
    clock: Arc<dyn Clock>,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    loop {
        let round = tokio::select! {
            () = &mut stop => return,
            round = replicator.sync_once() => round,
        };
        let delay = match round {
            Ok(outcome) => {
                meter.replicated(outcome.entries_applied());
                backoff.reset();
                log_outcome(&outcome);
                state.send_replace(ReplicationState::Running);
                LEDGER_POLL
            }
            Err(error) if error.is_fatal() => {
                meter.replication_failed(true);
                tracing::error!(message = "ledger replication stopped: replica kept at its last good state", %error);
                state.send_replace(ReplicationState::Stopped {
                    reason: error.to_string(),
                    since: clock.now(),
                });
                return;
            }
            Err(error) => {
                meter.replication_failed(false);
                let delay = backoff.next_delay();
                tracing::warn!(message = "ledger replication failed; retrying", %error, ?delay);
                state.send_replace(ReplicationState::Connecting {
                    last_error: Some(error.to_string()),
                });
                delay
            }
        };
        tokio::select! {
            () = &mut stop => return,
            () = tokio::time::sleep(delay) => {}
        }
    }
}

fn log_outcome(outcome: &ReplicationOutcome) {
    match outcome {
        ReplicationOutcome::Bootstrapped { to } => {
            tracing::info!(message = "ledger bootstrapped from a snapshot", to)
        }
        other => tracing::debug!(message = "ledger replication round", outcome = ?other),
    }
}
