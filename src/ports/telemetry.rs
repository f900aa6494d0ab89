//! What the lane, the crossing relay and ledger replication report for monitoring: counts and
//! states, never personal data. The metrics adapter implements these; `None` means unmetered.

use std::time::Duration;

use crate::core::decision::Verdict;
use crate::ports::scanner::DeviceState;

/// The lane's events: scans, verdicts, records, device links and the clock.
pub trait LaneMeter: Send + Sync {
    /// A scan arrived from `device`; `kind` is `mrz` or `symbol`.
    fn scanned(&self, device: &str, kind: &str);
    /// A verdict was published `elapsed` after the lane took the scan that led to it.
    fn decided(&self, verdict: &Verdict, elapsed: Duration);
    /// A crossing was recorded durably (`admitted` or refused).
    fn recorded(&self, admitted: bool);
    /// A device's link changed.
    fn device_state(&self, state: &DeviceState);
    /// Whether the wall clock is trusted, as the lane last judged it.
    fn clock_trusted(&self, trusted: bool);
}

/// The crossing relay's rounds.
pub trait RelayMeter: Send + Sync {
    /// A round reached central and `acknowledged` crossings left the outbox.
    fn relayed(&self, acknowledged: u64);
    /// A round failed and will be retried.
    fn relay_failed(&self);
}

/// Ledger replication's rounds.
pub trait ReplicationMeter: Send + Sync {
    /// A round succeeded and applied `entries` new entries (0 when up to date).
    fn replicated(&self, entries: u64);
    /// A round failed; `fatal` when replication stops for good.
    fn replication_failed(&self, fatal: bool);
}
