//! The terminal's health verdict for `GET /healthz`: from plain facts (devices, ledger age,
//! replication, outbox, relay, clock, disk) to `ok`, `degraded` or `failing` per check and overall.
//!
//! `failing` means the lane cannot do its job (no scanner answers, the outbox refuses new
//! crossings, replication stopped for good, the disk is nearly full); `degraded` means it works
//! but someone should look (a stale ledger makes it refer, records wait for central).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

/// Oldest crossing allowed to wait for central before the outbox counts as backed up.
pub const OUTBOX_PENDING_DEGRADED: Duration = Duration::from_secs(15 * 60);
/// Free space on the data directory's file system below which the terminal is degraded.
pub const DISK_FREE_DEGRADED_BYTES: u64 = 1 << 30;
/// Free space below which the terminal is failing: the stores may not be able to write.
pub const DISK_FREE_FAILING_BYTES: u64 = 64 << 20;

/// How bad a check (or the whole terminal) is; ordered, the worst wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// Working as intended.
    Ok,
    /// Working, but needs attention.
    Degraded,
    /// Cannot serve the lane.
    Failing,
}

/// What ledger replication is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplicationState {
    /// No successful round yet, or the last round failed and is being retried.
    Connecting,
    /// The last round succeeded.
    Following,
    /// Stopped on a fatal error (a fork, a forged checkpoint): the replica is kept as it was.
    Stopped,
}

/// Everything the health verdict is made from, gathered by the adapters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthFacts {
    /// Each configured device and whether it is up.
    pub devices: Vec<(String, bool)>,
    /// Age of the applied ledger checkpoint; `None` when none was ever applied.
    pub ledger_age: Option<Duration>,
    /// When the ledger counts as stale (`[lane] ledger_stale_after_s`).
    pub ledger_stale_after: Duration,
    /// Ledger replication.
    pub replication: ReplicationState,
    /// Crossings waiting for central.
    pub outbox_depth: u64,
    /// The outbox's limit (`[limits] outbox_events_max`): at it, new crossings are refused.
    pub outbox_max: u64,
    /// How long the oldest waiting crossing has waited.
    pub oldest_pending_age: Option<Duration>,
    /// Whether the last relay round reached central.
    pub relay_connected: bool,
    /// Whether the wall clock is trusted (never seen going back).
    pub clock_trusted: bool,
    /// Free bytes on the data directory's file system; `None` when it could not be read.
    pub disk_free_bytes: Option<u64>,
}

/// One check's verdict and a sentence saying why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    /// The verdict.
    pub status: HealthStatus,
    /// What was found.
    pub detail: String,
}

/// The body of `GET /healthz`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HealthReport {
    /// The worst of the checks.
    pub status: HealthStatus,
    /// Each check by name.
    pub checks: BTreeMap<&'static str, Check>,
}

fn check(status: HealthStatus, detail: impl Into<String>) -> Check {
    Check {
        status,
        detail: detail.into(),
    }
}

/// The health verdict for these facts.
pub fn assess(facts: &HealthFacts) -> HealthReport {
    let checks = BTreeMap::from([
        ("devices", devices(&facts.devices)),
        ("ledger_age", ledger_age(facts)),
        ("replication", replication(facts.replication)),
        ("outbox", outbox(facts)),
        ("relay", relay(facts.relay_connected)),
        ("clock", clock(facts.clock_trusted)),
        ("disk_space", disk_space(facts.disk_free_bytes)),
    ]);
    let status = checks
        .values()
        .map(|check| check.status)
        .max()
        .unwrap_or(HealthStatus::Ok);
    HealthReport { status, checks }
}

fn devices(devices: &[(String, bool)]) -> Check {
    let down: Vec<&str> = devices
        .iter()
        .filter(|(_, up)| !up)
        .map(|(name, _)| name.as_str())
        .collect();
    if devices.is_empty() {
        check(HealthStatus::Ok, "no devices configured")
    } else if down.is_empty() {
        check(HealthStatus::Ok, format!("{} up", devices.len()))
    } else if down.len() == devices.len() {
        check(
            HealthStatus::Failing,
            format!("all down: {}", down.join(", ")),
        )
    } else {
        check(HealthStatus::Degraded, format!("down: {}", down.join(", ")))
    }
}

fn ledger_age(facts: &HealthFacts) -> Check {
    match facts.ledger_age {
        None => check(HealthStatus::Degraded, "no ledger checkpoint applied yet"),
        Some(age) if age > facts.ledger_stale_after => check(
            HealthStatus::Degraded,
            format!(
                "stale: checkpoint {} s old, limit {} s",
                age.as_secs(),
                facts.ledger_stale_after.as_secs()
            ),
        ),
        Some(age) => check(
            HealthStatus::Ok,
            format!("checkpoint {} s old", age.as_secs()),
        ),
    }
}

fn replication(state: ReplicationState) -> Check {
    match state {
        ReplicationState::Following => check(HealthStatus::Ok, "following central"),
        ReplicationState::Connecting => check(HealthStatus::Degraded, "central not reached"),
        ReplicationState::Stopped => check(
            HealthStatus::Failing,
            "stopped on a fatal error: see the log; the replica is kept as it was",
        ),
    }
}

fn outbox(facts: &HealthFacts) -> Check {
    let depth = facts.outbox_depth;
    let waited = facts.oldest_pending_age.unwrap_or_default();
    if depth >= facts.outbox_max {
        check(
            HealthStatus::Failing,
            format!("full: {depth} crossings wait, new ones are refused"),
        )
    } else if depth.saturating_mul(2) >= facts.outbox_max || waited > OUTBOX_PENDING_DEGRADED {
        check(
            HealthStatus::Degraded,
            format!(
                "backed up: {depth} of {} waiting, oldest {} s",
                facts.outbox_max,
                waited.as_secs()
            ),
        )
    } else {
        check(HealthStatus::Ok, format!("{depth} waiting"))
    }
}

fn relay(connected: bool) -> Check {
    if connected {
        check(HealthStatus::Ok, "central acknowledges")
    } else {
        check(HealthStatus::Degraded, "central not reached")
    }
}

fn clock(trusted: bool) -> Check {
    if trusted {
        check(HealthStatus::Ok, "trusted")
    } else {
        check(
            HealthStatus::Degraded,
            "went back behind an earlier reading: records are marked suspect",
        )
    }
}

fn disk_space(free: Option<u64>) -> Check {
    match free {
        None => check(HealthStatus::Degraded, "free space unknown"),
        Some(free) if free < DISK_FREE_FAILING_BYTES => {
            check(HealthStatus::Failing, format!("{} MiB free", free >> 20))
        }
        Some(free) if free < DISK_FREE_DEGRADED_BYTES => {
            check(HealthStatus::Degraded, format!("{} MiB free", free >> 20))
        }
        Some(free) => check(HealthStatus::Ok, format!("{} MiB free", free >> 20)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy() -> HealthFacts {
        HealthFacts {
            devices: vec![("mrz".into(), true), ("qr".into(), true)],
            ledger_age: Some(Duration::from_secs(60)),
            ledger_stale_after: Duration::from_secs(3600),
            replication: ReplicationState::Following,
            outbox_depth: 0,
            outbox_max: 100,
            oldest_pending_age: None,
            relay_connected: true,
            clock_trusted: true,
            disk_free_bytes: Some(10 << 30),
        }
    }

    fn verdict(change: impl FnOnce(&mut HealthFacts)) -> (HealthStatus, HealthReport) {
        let mut facts = healthy();
        change(&mut facts);
        let report = assess(&facts);
        (report.status, report)
    }

    #[test]
    fn healthy_facts_are_ok_in_every_check() {
        let (status, report) = verdict(|_| {});
        assert_eq!(status, HealthStatus::Ok);
        assert_eq!(report.checks.len(), 7);
        assert!(report.checks.values().all(|c| c.status == HealthStatus::Ok));
    }

    #[test]
    fn each_fault_gives_its_status_in_its_check() {
        use HealthStatus::{Degraded, Failing};
        type Change = Box<dyn FnOnce(&mut HealthFacts)>;
        let cases: Vec<(&str, HealthStatus, Change)> = vec![
            ("devices", Degraded, Box::new(|f| f.devices[0].1 = false)),
            (
                "devices",
                Failing,
                Box::new(|f| f.devices.iter_mut().for_each(|d| d.1 = false)),
            ),
            ("ledger_age", Degraded, Box::new(|f| f.ledger_age = None)),
            (
                "ledger_age",
                Degraded,
                Box::new(|f| f.ledger_age = Some(Duration::from_secs(3601))),
            ),
            (
                "replication",
                Degraded,
                Box::new(|f| f.replication = ReplicationState::Connecting),
            ),
            (
                "replication",
                Failing,
                Box::new(|f| f.replication = ReplicationState::Stopped),
            ),
            ("outbox", Degraded, Box::new(|f| f.outbox_depth = 50)),
            (
                "outbox",
                Degraded,
                Box::new(|f| {
                    f.outbox_depth = 1;
                    f.oldest_pending_age = Some(OUTBOX_PENDING_DEGRADED + Duration::from_secs(1));
                }),
            ),
            ("outbox", Failing, Box::new(|f| f.outbox_depth = 100)),
            ("relay", Degraded, Box::new(|f| f.relay_connected = false)),
            ("clock", Degraded, Box::new(|f| f.clock_trusted = false)),
            (
                "disk_space",
                Degraded,
                Box::new(|f| f.disk_free_bytes = None),
            ),
            (
                "disk_space",
                Degraded,
                Box::new(|f| f.disk_free_bytes = Some(DISK_FREE_DEGRADED_BYTES - 1)),
            ),
            (
                "disk_space",
                Failing,
                Box::new(|f| f.disk_free_bytes = Some(DISK_FREE_FAILING_BYTES - 1)),
            ),
        ];
        for (name, expected, change) in cases {
            let (status, report) = verdict(change);
            assert_eq!(status, expected, "{name}: {report:?}");
            assert_eq!(report.checks[name].status, expected, "{name}");
            let others_ok = report
                .checks
                .iter()
                .filter(|(other, _)| **other != name)
                .all(|(_, c)| c.status == HealthStatus::Ok);
            assert!(others_ok, "{name} changed another check: {report:?}");
        }
    }

    #[test]
    fn report_serialises_as_the_api_promises() {
        let (_, report) = verdict(|f| f.relay_connected = false);
        let json = serde_json::to_value(&report).expect("serialisable");
        assert_eq!(json["status"], "degraded");
        assert_eq!(json["checks"]["relay"]["status"], "degraded");
        assert_eq!(json["checks"]["devices"]["status"], "ok");
    }
}
