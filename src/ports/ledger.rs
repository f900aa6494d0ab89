//! The ledger-store port: the local replica of the permit ledger, as the runtime sees it.
//!
//! [`LedgerView`] is what the decision layer reads; [`LedgerStore`] adds what replication needs.

use jiff::Timestamp;
use jiff::civil::Date;

use crate::core::document::HolderDigest;
use crate::core::ledger::state::{
    Alert, HeldPermit, IssuerKey, MemoryState, OfficerRecord, PermitCheck, PermitRecord,
    PersonAlertChange, PersonAlertChanges, PersonAlertRecord, Rejection, TerminalKey,
};
use crate::core::ledger::{
    ChainError, Checkpoint, Cursor, Kid, Registration, StayExtension, VerifiedBatch,
};

/// A failure of the replica (not an outcome: a missing permit is `Ok(None)`).
#[derive(Debug, thiserror::Error)]
pub enum LedgerStoreError {
    #[error("ledger store backend failed: {0}")]
    Backend(String),
    #[error("ledger store holds a corrupt {what}: {reason}")]
    Corrupt { what: &'static str, reason: String },
    #[error("entry {seq} rejected: {rejection}")]
    Rejected { seq: u64, rejection: Rejection },
    #[error("chain check failed: {0}")]
    Chain(#[from] ChainError),
    #[error("cursor moved underneath: expected entry {expected}, store is at {found}")]
    CursorMoved { expected: u64, found: u64 },
    #[error("another apply run is writing to the replica")]
    Busy,
    #[error("the apply run failed at an earlier chunk and cannot be finished")]
    RunFailed,
    #[error(
        "the replica file {path} holds person alerts and other users can read it (mode {mode:o}): \
         it must be the daemon user's alone (chmod 700 its directory, chmod 600 the file)"
    )]
    Exposed { path: String, mode: u32 },
}

/// Read-only queries the decision layer makes.
pub trait LedgerView {
    /// Permits issued to this holder (revoked ones included; ask [`Self::is_revoked`]), oldest
    /// first. This is the lookup every traveller costs, so it answers without the signed text.
    fn permits_by_holder(&self, holder: &HolderDigest)
    -> Result<Vec<HeldPermit>, LedgerStoreError>;
    /// The signed BP1 text of the permit issued by entry `seq`, read when the permit is used;
    /// `None` if that entry is not an applied permit issue.
    fn permit_text(&self, seq: u64) -> Result<Option<String>, LedgerStoreError>;
    fn permit(&self, cti: &[u8; 16]) -> Result<Option<PermitRecord>, LedgerStoreError>;
    fn is_revoked(&self, cti: &[u8; 16]) -> Result<bool, LedgerStoreError>;
    /// Alerts not lifted and still in force on `day`.
    fn active_alerts(
        &self,
        holder: &HolderDigest,
        day: Date,
    ) -> Result<Vec<Alert>, LedgerStoreError>;
    fn stay_extensions(
        &self,
        holder: &HolderDigest,
    ) -> Result<Vec<StayExtension>, LedgerStoreError>;
    fn registrations(&self, holder: &HolderDigest) -> Result<Vec<Registration>, LedgerStoreError>;
    /// Every issuer key (active or retired) with this kid.
    fn issuer_keys(&self, kid: &Kid) -> Result<Vec<IssuerKey>, LedgerStoreError>;
    fn terminal_keys(&self, terminal_id: &str) -> Result<Vec<TerminalKey>, LedgerStoreError>;
    /// The officer account with this id, revoked or not; `None` if never enrolled.
    fn officer(&self, officer_id: &str) -> Result<Option<OfficerRecord>, LedgerStoreError>;
    /// Time of the latest verified checkpoint applied; `None` before the first one.
    /// The ledger's age is `now - this`.
    fn checkpoint_time(&self) -> Result<Option<Timestamp>, LedgerStoreError>;
    /// The last entry applied; `None` where the view keeps no cursor (the in-memory model).
    fn applied_seq(&self) -> Result<Option<u64>, LedgerStoreError>;
    /// Person alerts raised and lifted by the applied entries after `after`, reading at most
    /// `max` entries: what the lane's watchlist catches up with.
    fn person_alert_changes(
        &self,
        after: u64,
        max: u64,
    ) -> Result<PersonAlertChanges, LedgerStoreError>;
    /// The person alert with this id, lifted or not, read in full (what a hit shows).
    fn person_alert(&self, id: &str) -> Result<Option<PersonAlertRecord>, LedgerStoreError>;
}

/// The replica as replication drives it.
pub trait LedgerStore: LedgerView {
    /// Permits the replica answers lookups with (revoked ones included).
    fn permit_count(&self) -> usize;
    /// What has been applied.
    fn cursor(&self) -> Result<Cursor, LedgerStoreError>;
    /// Applies a verified batch atomically with the cursor, then makes it durable.
    /// The batch must start right after `cursor()`; a rejected entry leaves the store unchanged.
    fn apply(
        &self,
        batch: &VerifiedBatch,
        signed_checkpoint: &[u8],
        check: &dyn PermitCheck,
    ) -> Result<(), LedgerStoreError>;
    /// Starts applying the entries after `cursor()` up to `checkpoint` (already verified) as one
    /// unit that arrives in chunks: a catch-up or a bootstrap too long to hold in memory at once.
    fn begin_run(
        &self,
        checkpoint: Checkpoint,
        signed_checkpoint: Vec<u8>,
    ) -> Result<Box<dyn LedgerRun + Send>, LedgerStoreError>;
    /// The exact encoded entries `from ..= to` that the store holds.
    fn entries(&self, from: u64, to: u64) -> Result<Vec<Vec<u8>>, LedgerStoreError>;
    /// The encoded signed checkpoint the cursor was applied under.
    fn signed_checkpoint(&self) -> Result<Option<Vec<u8>>, LedgerStoreError>;
}

/// A run of entries being applied chunk by chunk; dropped unfinished, it leaves the store as it
/// was (to readers).
pub trait LedgerRun {
    /// Chain-checks, checks and stages the next entries of the run, in order.
    fn push(
        &mut self,
        encoded: Vec<Vec<u8>>,
        check: &dyn PermitCheck,
    ) -> Result<(), LedgerStoreError>;
    /// Checks the run ended at its checkpoint and makes all of it visible at once.
    fn finish(self: Box<Self>) -> Result<Cursor, LedgerStoreError>;
}

impl LedgerView for MemoryState {
    fn permits_by_holder(
        &self,
        holder: &HolderDigest,
    ) -> Result<Vec<HeldPermit>, LedgerStoreError> {
        let mut held: Vec<HeldPermit> = self
            .permits
            .values()
            .filter(|p| p.index.holder == holder.0)
            .map(PermitRecord::held)
            .collect();
        held.sort_by_key(|p| p.seq);
        Ok(held)
    }
    fn permit_text(&self, seq: u64) -> Result<Option<String>, LedgerStoreError> {
        Ok(self
            .permits
            .values()
            .find(|p| p.seq == seq)
            .map(|p| p.bp1.clone()))
    }
    fn permit(&self, cti: &[u8; 16]) -> Result<Option<PermitRecord>, LedgerStoreError> {
        Ok(self.permits.get(cti).cloned())
    }
    fn is_revoked(&self, cti: &[u8; 16]) -> Result<bool, LedgerStoreError> {
        Ok(self.revoked.contains_key(cti))
    }
    fn active_alerts(
        &self,
        holder: &HolderDigest,
        day: Date,
    ) -> Result<Vec<Alert>, LedgerStoreError> {
        Ok(self
            .alerts
            .values()
            .filter(|a| a.alert.holder == holder.0 && a.is_active_on(day))
            .cloned()
            .collect())
    }
    fn stay_extensions(
        &self,
        holder: &HolderDigest,
    ) -> Result<Vec<StayExtension>, LedgerStoreError> {
        Ok(self
            .extensions
            .values()
            .filter(|e| e.holder == holder.0)
            .cloned()
            .collect())
    }
    fn registrations(&self, holder: &HolderDigest) -> Result<Vec<Registration>, LedgerStoreError> {
        Ok(self
            .registrations
            .values()
            .filter(|r| r.holder == holder.0)
            .cloned()
            .collect())
    }
    fn issuer_keys(&self, kid: &Kid) -> Result<Vec<IssuerKey>, LedgerStoreError> {
        Ok(self.issuer_keys.get(kid).cloned().unwrap_or_default())
    }
    fn terminal_keys(&self, terminal_id: &str) -> Result<Vec<TerminalKey>, LedgerStoreError> {
        Ok(self
            .terminal_keys
            .get(terminal_id)
            .cloned()
            .unwrap_or_default())
    }
    fn officer(&self, officer_id: &str) -> Result<Option<OfficerRecord>, LedgerStoreError> {
        Ok(self.officers.get(officer_id).cloned())
    }
    fn checkpoint_time(&self) -> Result<Option<Timestamp>, LedgerStoreError> {
        Ok(None)
    }
    fn applied_seq(&self) -> Result<Option<u64>, LedgerStoreError> {
        Ok(None)
    }
    fn person_alert_changes(
        &self,
        after: u64,
        max: u64,
    ) -> Result<PersonAlertChanges, LedgerStoreError> {
        let mut changes: Vec<(u64, PersonAlertChange)> = Vec::new();
        for record in self.person_alerts.values() {
            changes.push((
                record.state.seq,
                PersonAlertChange::Raised(record.alert.clone()),
            ));
            if let Some(lifted) = record.state.lifted {
                let id = record.alert.alert_id.clone();
                changes.push((lifted, PersonAlertChange::Lifted(id)));
            }
        }
        changes.retain(|(seq, _)| *seq > after && *seq - after <= max);
        changes.sort_by_key(|(seq, _)| *seq);
        let through = changes.last().map_or(after, |(seq, _)| *seq);
        Ok(PersonAlertChanges { through, changes })
    }
    fn person_alert(&self, id: &str) -> Result<Option<PersonAlertRecord>, LedgerStoreError> {
        Ok(self.person_alerts.get(id).cloned())
    }
}

/// How the replica follows central's ledger, as the status, the heartbeats and the console
/// show it (`Display`: `connecting`, `running`, `bootstrapping n/N`, `stopped: <reason>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplicationState {
    /// Not yet answered by central, or retrying after a transient failure (the last one).
    Connecting {
        /// The failure being retried, if any.
        last_error: Option<String>,
    },
    /// Following central: the last round succeeded.
    Running,
    /// Filling an empty or far-behind replica from central's snapshot.
    Bootstrapping {
        /// Entries read so far.
        done: u64,
        /// Entries in the snapshot.
        total: u64,
    },
    /// Stopped for good (a fork, a refused checkpoint): the replica keeps its last good state.
    Stopped {
        /// Why.
        reason: String,
        /// When it stopped: decisions are `ledger_stale` once this is older than the limit.
        since: Timestamp,
    },
}

impl std::fmt::Display for ReplicationState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplicationState::Connecting { last_error: None } => f.write_str("connecting"),
            ReplicationState::Connecting {
                last_error: Some(error),
            } => write!(f, "connecting: {error}"),
            ReplicationState::Running => f.write_str("running"),
            ReplicationState::Bootstrapping { done, total } => {
                write!(f, "bootstrapping {done}/{total}")
            }
            ReplicationState::Stopped { reason, .. } => write!(f, "stopped: {reason}"),
        }
    }
}
