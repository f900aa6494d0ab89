//! Prometheus metrics of a terminal (`GET /metrics`): the lane, relay and replication meters
//! feed a `prometheus-client` registry; values read at scrape time (outbox, ledger, disk,
//! process) arrive as a [`Sample`]. Labels carry device names, kinds, outcomes and reason codes
//! only: never a document number, a name or an officer.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::core::decision::Verdict;
use crate::core::health::ReplicationState;
use crate::ports::scanner::{DeviceState, Link};
use crate::ports::telemetry::{LaneMeter, RelayMeter, ReplicationMeter};

/// The exposition formats `/metrics` answers in, chosen by the scraper's `Accept` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exposition {
    /// OpenMetrics 1.0 text: what Prometheus asks for first.
    OpenMetrics,
    /// The Prometheus text format 0.0.4: the default (curl, `promtool check metrics`).
    PrometheusText,
}

impl Exposition {
    /// The format an `Accept` header asks for.
    pub fn from_accept(accept: Option<&str>) -> Self {
        match accept {
            Some(accept) if accept.contains("application/openmetrics-text") => Self::OpenMetrics,
            _ => Self::PrometheusText,
        }
    }

    /// The response's `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Self::PrometheusText => prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ScanLabels {
    device: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    outcome: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeviceLabels {
    device: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

/// Values read when Prometheus scrapes (or `/healthz` is asked), not counted as they happen.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sample {
    /// Crossings waiting for central.
    pub outbox_depth: u64,
    /// How long the oldest waiting crossing has waited.
    pub oldest_pending_age: Option<Duration>,
    /// The ledger replica's applied sequence number.
    pub ledger_applied_seq: Option<u64>,
    /// Age of the applied ledger checkpoint.
    pub ledger_age: Option<Duration>,
    /// Free bytes on the data directory's file system.
    pub disk_free_bytes: Option<u64>,
    /// The process's resident memory.
    pub resident_memory_bytes: Option<u64>,
    /// The process's open file descriptors.
    pub open_fds: Option<u64>,
}

struct Families {
    scans: Family<ScanLabels, Counter>,
    verdicts: Family<OutcomeLabels, Counter>,
    verdict_reasons: Family<ReasonLabels, Counter>,
    scan_to_verdict: Histogram,
    records: Family<OutcomeLabels, Counter>,
    outbox_depth: Gauge,
    outbox_oldest_pending: Gauge<f64, AtomicU64>,
    relay_acks: Counter,
    relay_retries: Counter,
    relay_connected: Gauge,
    ledger_applied_seq: Gauge,
    ledger_age: Gauge<f64, AtomicU64>,
    ledger_entries_applied: Counter,
    replication_state: Family<StateLabels, Gauge>,
    device_up: Family<DeviceLabels, Gauge>,
    device_reconnects: Family<DeviceLabels, Counter>,
    clock_trusted: Gauge,
    disk_free: Gauge,
    resident_memory: Gauge,
    open_fds: Gauge,
}

struct Inner {
    registry: Registry,
    families: Families,
    /// Each device: up now, and whether it was ever up (so a first connect is no reconnect).
    devices: Mutex<BTreeMap<String, (bool, bool)>>,
    replication: Mutex<ReplicationState>,
    relay_connected: AtomicBool,
    clock_trusted: AtomicBool,
}

/// The metrics registry handle: cheap to clone, given to the lane, relay and replicator at
/// assembly (`terminal::open`), read by `/metrics` and `/healthz`.
#[derive(Clone)]
pub struct Telemetry {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry").finish_non_exhaustive()
    }
}

fn families() -> Families {
    Families {
        scans: Family::default(),
        verdicts: Family::default(),
        verdict_reasons: Family::default(),
        // 1 ms to about 16 s.
        scan_to_verdict: Histogram::new(exponential_buckets(0.001, 2.0, 15)),
        records: Family::default(),
        outbox_depth: Gauge::default(),
        outbox_oldest_pending: Gauge::default(),
        relay_acks: Counter::default(),
        relay_retries: Counter::default(),
        relay_connected: Gauge::default(),
        ledger_applied_seq: Gauge::default(),
        ledger_age: Gauge::default(),
        ledger_entries_applied: Counter::default(),
        replication_state: Family::default(),
        device_up: Family::default(),
        device_reconnects: Family::default(),
        clock_trusted: Gauge::default(),
        disk_free: Gauge::default(),
        resident_memory: Gauge::default(),
        open_fds: Gauge::default(),
    }
}

fn register(registry: &mut Registry, f: &Families) {
    let terminal = registry.sub_registry_with_prefix("checkpointd");
    register_lane(terminal, f);
    register_upstream(terminal, f);
    let process = registry.sub_registry_with_prefix("process");
    process.register_with_unit(
        "resident_memory",
        "Resident memory of the daemon",
        prometheus_client::registry::Unit::Bytes,
        f.resident_memory.clone(),
    );
    process.register(
        "open_fds",
        "Open file descriptors of the daemon",
        f.open_fds.clone(),
    );
}

/// What the lane and its devices report.
fn register_lane(lane: &mut Registry, f: &Families) {
    lane.register(
        "scans",
        "Scans received, by device and kind (mrz, symbol)",
        f.scans.clone(),
    );
    lane.register(
        "verdicts",
        "Verdicts published, by outcome",
        f.verdicts.clone(),
    );
    lane.register(
        "verdict_reasons",
        "Reasons given in verdicts, by the verdict's outcome and the stable reason code",
        f.verdict_reasons.clone(),
    );
    lane.register_with_unit(
        "scan_to_verdict",
        "Time from the lane taking a scan to publishing the verdict",
        prometheus_client::registry::Unit::Seconds,
        f.scan_to_verdict.clone(),
    );
    lane.register(
        "records",
        "Crossings recorded durably, by outcome (admit, refuse)",
        f.records.clone(),
    );
    lane.register(
        "device_up",
        "1 when the device is open and initialised",
        f.device_up.clone(),
    );
    lane.register(
        "device_reconnects",
        "Times the device came back after being down",
        f.device_reconnects.clone(),
    );
    lane.register(
        "clock_trusted",
        "0 when the wall clock went back behind an earlier reading",
        f.clock_trusted.clone(),
    );
    lane.register_with_unit(
        "disk_free",
        "Free space on the data directory's file system",
        prometheus_client::registry::Unit::Bytes,
        f.disk_free.clone(),
    );
}

/// What the outbox, the relay and ledger replication report.
fn register_upstream(upstream: &mut Registry, f: &Families) {
    upstream.register(
        "outbox_depth",
        "Crossings waiting for central's acknowledgement",
        f.outbox_depth.clone(),
    );
    upstream.register_with_unit(
        "outbox_oldest_pending_age",
        "How long the oldest crossing in the outbox has waited (0 when empty)",
        prometheus_client::registry::Unit::Seconds,
        f.outbox_oldest_pending.clone(),
    );
    upstream.register(
        "relay_acks",
        "Crossings central acknowledged",
        f.relay_acks.clone(),
    );
    upstream.register(
        "relay_retries",
        "Relay rounds that failed and were retried",
        f.relay_retries.clone(),
    );
    upstream.register(
        "relay_connected",
        "1 when the last relay round reached central",
        f.relay_connected.clone(),
    );
    upstream.register(
        "ledger_applied_seq",
        "The ledger replica's applied sequence number",
        f.ledger_applied_seq.clone(),
    );
    upstream.register_with_unit(
        "ledger_age",
        "Age of the applied ledger checkpoint (-1 when none was ever applied)",
        prometheus_client::registry::Unit::Seconds,
        f.ledger_age.clone(),
    );
    upstream.register(
        "ledger_entries_applied",
        "Ledger entries applied by replication (rate() gives the apply rate)",
        f.ledger_entries_applied.clone(),
    );
    upstream.register(
        "replication_state",
        "1 for the state ledger replication is in (connecting, following, stopped)",
        f.replication_state.clone(),
    );
}

fn seconds(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

fn clamp(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn label(value: impl serde::Serialize) -> String {
    // The outcome and reason enums serialise to their stable snake_case codes.
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => text,
        _ => "unknown".into(),
    }
}

impl Telemetry {
    /// A registry with every metric, the configured devices counted down until they report.
    pub fn new(devices: impl IntoIterator<Item = String>) -> Self {
        let families = families();
        let mut registry = Registry::default();
        register(&mut registry, &families);
        let devices: BTreeMap<String, (bool, bool)> =
            devices.into_iter().map(|d| (d, (false, false))).collect();
        for name in devices.keys() {
            families
                .device_up
                .get_or_create(&DeviceLabels {
                    device: name.clone(),
                })
                .set(0);
        }
        let telemetry = Self {
            inner: Arc::new(Inner {
                registry,
                families,
                devices: Mutex::new(devices),
                replication: Mutex::new(ReplicationState::Connecting),
                relay_connected: AtomicBool::new(false),
                clock_trusted: AtomicBool::new(true),
            }),
        };
        telemetry.set_replication(ReplicationState::Connecting);
        telemetry.clock_trusted(true);
        telemetry
    }

    /// Each configured device and whether it is up.
    pub fn devices(&self) -> Vec<(String, bool)> {
        let devices = self
            .inner
            .devices
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        devices
            .iter()
            .map(|(name, (up, _))| (name.clone(), *up))
            .collect()
    }

    /// What ledger replication is doing.
    pub fn replication(&self) -> ReplicationState {
        *self
            .inner
            .replication
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the last relay round reached central.
    pub fn relay_connected(&self) -> bool {
        self.inner.relay_connected.load(Ordering::Relaxed)
    }

    /// Whether the lane trusts the wall clock.
    pub fn is_clock_trusted(&self) -> bool {
        self.inner.clock_trusted.load(Ordering::Relaxed)
    }

    fn set_replication(&self, state: ReplicationState) {
        *self
            .inner
            .replication
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = state;
        for candidate in [
            ReplicationState::Connecting,
            ReplicationState::Following,
            ReplicationState::Stopped,
        ] {
            self.inner
                .families
                .replication_state
                .get_or_create(&StateLabels {
                    state: label(candidate),
                })
                .set(i64::from(candidate == state));
        }
    }

    /// The exposition text with `sample`'s values, in `format`.
    pub fn encode(&self, sample: &Sample, format: Exposition) -> Result<String, std::fmt::Error> {
        let f = &self.inner.families;
        f.outbox_depth.set(clamp(sample.outbox_depth));
        f.outbox_oldest_pending
            .set(sample.oldest_pending_age.map_or(0.0, seconds));
        f.ledger_applied_seq
            .set(clamp(sample.ledger_applied_seq.unwrap_or(0)));
        f.ledger_age.set(sample.ledger_age.map_or(-1.0, seconds));
        f.disk_free.set(clamp(sample.disk_free_bytes.unwrap_or(0)));
        f.resident_memory
            .set(clamp(sample.resident_memory_bytes.unwrap_or(0)));
        f.open_fds.set(clamp(sample.open_fds.unwrap_or(0)));
        let mut text = String::new();
        match format {
            Exposition::OpenMetrics => encode(&mut text, &self.inner.registry)?,
            Exposition::PrometheusText => {
                prometheus_client::encoding::prometheus_text::encode(
                    &mut text,
                    &self.inner.registry,
                )?;
            }
        }
        Ok(text)
    }
}

impl LaneMeter for Telemetry {
    fn scanned(&self, device: &str, kind: &str) {
        self.inner
            .families
            .scans
            .get_or_create(&ScanLabels {
                device: device.to_string(),
                kind: kind.to_string(),
            })
            .inc();
    }

    fn decided(&self, verdict: &Verdict, elapsed: Duration) {
        let f = &self.inner.families;
        let outcome = label(verdict.outcome);
        f.verdicts
            .get_or_create(&OutcomeLabels {
                outcome: outcome.clone(),
            })
            .inc();
        for code in verdict.codes() {
            f.verdict_reasons
                .get_or_create(&ReasonLabels {
                    outcome: outcome.clone(),
                    reason: label(code),
                })
                .inc();
        }
        f.scan_to_verdict.observe(seconds(elapsed));
    }

    fn recorded(&self, admitted: bool) {
        let outcome = if admitted { "admit" } else { "refuse" };
        self.inner
            .families
            .records
            .get_or_create(&OutcomeLabels {
                outcome: outcome.into(),
            })
            .inc();
    }

    fn device_state(&self, state: &DeviceState) {
        let up = state.link == Link::Up;
        let reconnected = {
            let mut devices = self
                .inner
                .devices
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let (was_up, ever_up) = devices.get(&state.device).copied().unwrap_or_default();
            devices.insert(state.device.clone(), (up, ever_up || up));
            up && !was_up && ever_up
        };
        let labels = DeviceLabels {
            device: state.device.clone(),
        };
        let f = &self.inner.families;
        f.device_up.get_or_create(&labels).set(i64::from(up));
        // A configured device starts counted down; its first "up" is a connect, not a reconnect.
        if reconnected {
            f.device_reconnects.get_or_create(&labels).inc();
        }
    }

    fn clock_trusted(&self, trusted: bool) {
        self.inner.clock_trusted.store(trusted, Ordering::Relaxed);
        self.inner.families.clock_trusted.set(i64::from(trusted));
    }
}

impl RelayMeter for Telemetry {
    fn relayed(&self, acknowledged: u64) {
        let f = &self.inner.families;
        f.relay_acks.inc_by(acknowledged);
        f.relay_connected.set(1);
        self.inner.relay_connected.store(true, Ordering::Relaxed);
    }

    fn relay_failed(&self) {
        let f = &self.inner.families;
        f.relay_retries.inc();
        f.relay_connected.set(0);
        self.inner.relay_connected.store(false, Ordering::Relaxed);
    }
}

impl ReplicationMeter for Telemetry {
    fn replicated(&self, entries: u64) {
        self.inner.families.ledger_entries_applied.inc_by(entries);
        self.set_replication(ReplicationState::Following);
    }

    fn replication_failed(&self, fatal: bool) {
        self.set_replication(if fatal {
            ReplicationState::Stopped
        } else {
            ReplicationState::Connecting
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::decision::{Outcome, Reason, ReasonCode};

    fn verdict() -> Verdict {
        Verdict {
            outcome: Outcome::Refer,
            reasons: vec![Reason {
                code: ReasonCode::LedgerStale,
                outcome: Outcome::Refer,
                message: String::new(),
            }],
            grounds: None,
            raise_alert: false,
            explanation: String::new(),
        }
    }

    #[test]
    fn meters_show_in_the_exposition() {
        let telemetry = Telemetry::new(["mrz".to_string()]);
        telemetry.scanned("mrz", "mrz");
        telemetry.decided(&verdict(), Duration::from_millis(3));
        telemetry.recorded(true);
        telemetry.relayed(2);
        telemetry.replicated(5);
        let down = DeviceState {
            device: "mrz".into(),
            link: Link::Down,
            since: jiff::Timestamp::UNIX_EPOCH,
            last_error: None,
        };
        let up = DeviceState {
            link: Link::Up,
            ..down.clone()
        };
        for state in [&up, &down, &up] {
            telemetry.device_state(state);
        }
        let text = telemetry
            .encode(
                &Sample {
                    outbox_depth: 3,
                    ..Sample::default()
                },
                Exposition::OpenMetrics,
            )
            .expect("encodable");
        for line in [
            r#"checkpointd_scans_total{device="mrz",kind="mrz"} 1"#,
            r#"checkpointd_verdicts_total{outcome="refer"} 1"#,
            r#"checkpointd_verdict_reasons_total{outcome="refer",reason="ledger_stale"} 1"#,
            "checkpointd_scan_to_verdict_seconds_count 1",
            r#"checkpointd_records_total{outcome="admit"} 1"#,
            "checkpointd_outbox_depth 3",
            "checkpointd_relay_acks_total 2",
            "checkpointd_ledger_entries_applied_total 5",
            r#"checkpointd_replication_state{state="following"} 1"#,
            r#"checkpointd_device_up{device="mrz"} 1"#,
            r#"checkpointd_device_reconnects_total{device="mrz"} 1"#,
            "checkpointd_clock_trusted 1",
            "# EOF",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
    }
}
