//! `GET /healthz` and `GET /metrics`: reads what is measured at request time (outbox, ledger,
//! disk, the process) into a [`Sample`], judges health with `core::health`, and serves both
//! without a token: neither carries personal data (see docs/api.md).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ed25519_dalek::VerifyingKey;

use crate::adapters::feed::Outbox;
use crate::adapters::metrics::{Exposition, Sample, Telemetry};
use crate::core::event::{TerminalId, TerminalKeys, Verification, verify};
use crate::core::health::{self, HealthFacts, HealthReport, HealthStatus};
use crate::ports::clock::Clock;
use crate::ports::ledger::LedgerView;

/// What the probe reads at request time.
#[derive(Clone)]
pub struct Probe {
    /// The registry the meters feed.
    pub telemetry: Telemetry,
    /// The crossing outbox.
    pub outbox: Outbox,
    /// The ledger replica.
    pub ledger: Arc<dyn LedgerView + Send + Sync>,
    /// The terminal's own public key: the outbox's events are read through their signature.
    pub terminal_key: VerifyingKey,
    /// The data directory (its file system's free space is measured).
    pub data_dir: PathBuf,
    /// `[limits] outbox_events_max`.
    pub outbox_max: u64,
    /// `[lane] ledger_stale_after_s`.
    pub ledger_stale_after: Duration,
    /// The clock.
    pub clock: Arc<dyn Clock>,
}

struct OwnKey(VerifyingKey);

impl TerminalKeys for OwnKey {
    fn verifying_key(&self, _terminal: &TerminalId) -> Option<VerifyingKey> {
        Some(self.0)
    }
}

fn since(now: jiff::Timestamp, then: jiff::Timestamp) -> Duration {
    Duration::try_from(now.duration_since(then)).unwrap_or_default()
}

impl Probe {
    /// Reads everything measured at request time.
    pub fn sample(&self) -> Sample {
        let now = self.clock.now();
        Sample {
            outbox_depth: u64::try_from(self.outbox.depth()).unwrap_or(u64::MAX),
            oldest_pending_age: self.oldest_pending().map(|at| since(now, at)),
            ledger_applied_seq: self.ledger.applied_seq().ok().flatten(),
            ledger_age: self
                .ledger
                .checkpoint_time()
                .ok()
                .flatten()
                .map(|at| since(now, at)),
            disk_free_bytes: disk_free(&self.data_dir),
            resident_memory_bytes: resident_memory(),
            open_fds: open_fds(),
        }
    }

    /// The wall time of the oldest crossing still waiting for central.
    fn oldest_pending(&self) -> Option<jiff::Timestamp> {
        let row = self.outbox.pending(None, 1).ok()?.into_iter().next()?;
        match verify(&row.signed, &OwnKey(self.terminal_key)) {
            Verification::Valid(event, _) => Some(event.wall_time),
            Verification::Rejected(_) => None,
        }
    }

    /// The health verdict now.
    pub fn health(&self) -> HealthReport {
        let sample = self.sample();
        health::assess(&HealthFacts {
            devices: self.telemetry.devices(),
            ledger_age: sample.ledger_age,
            ledger_stale_after: self.ledger_stale_after,
            replication: self.telemetry.replication(),
            outbox_depth: sample.outbox_depth,
            outbox_max: self.outbox_max,
            oldest_pending_age: sample.oldest_pending_age,
            relay_connected: self.telemetry.relay_connected(),
            clock_trusted: self.telemetry.is_clock_trusted(),
            disk_free_bytes: sample.disk_free_bytes,
        })
    }
}

fn disk_free(dir: &std::path::Path) -> Option<u64> {
    let stat = nix::sys::statvfs::statvfs(dir).ok()?;
    stat.blocks_available().checked_mul(stat.fragment_size())
}

/// `VmRSS` of `/proc/self/status`, in bytes.
fn resident_memory() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

fn open_fds() -> Option<u64> {
    let entries = std::fs::read_dir("/proc/self/fd").ok()?;
    // The directory handle being read is one of them.
    u64::try_from(entries.count()).ok()?.checked_sub(1)
}

/// The tokenless routes: `/healthz` and `/metrics`.
pub fn routes(probe: Probe) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(probe)
}

async fn healthz(State(probe): State<Probe>) -> Response {
    let report = tokio::task::spawn_blocking(move || probe.health()).await;
    match report {
        Ok(report) => {
            let code = if report.status == HealthStatus::Failing {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::OK
            };
            (code, axum::Json(report)).into_response()
        }
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}

async fn metrics(State(probe): State<Probe>, headers: HeaderMap) -> Response {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok());
    let format = Exposition::from_accept(accept);
    let text =
        tokio::task::spawn_blocking(move || probe.telemetry.encode(&probe.sample(), format)).await;
    match text {
        Ok(Ok(text)) => ([(header::CONTENT_TYPE, format.content_type())], text).into_response(),
        Ok(Err(_)) => (StatusCode::INTERNAL_SERVER_ERROR, "metrics not encodable").into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}
