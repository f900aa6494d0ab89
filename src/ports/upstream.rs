//! The upstream port: recording crossings durably for central, and reading the movement history
//! that all terminals' crossings build.

use crate::core::document::HolderDigest;
use crate::core::event::{Crossing, CrossingKind, EventHash, TerminalId};

/// Why a crossing could not be recorded or history could not be read.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The crossing itself is malformed (field too long, …); retrying will not help.
    #[error("crossing rejected: {0}")]
    Invalid(String),
    /// The durable store failed; the crossing was NOT recorded.
    #[error("crossing store failed: {0}")]
    Store(String),
    /// The recorder has shut down.
    #[error("crossing recorder is closed")]
    Closed,
}

/// Proof that a crossing is durable (flushed) and queued for central.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    /// The per-terminal sequence it received.
    pub seq: u64,
    /// Hash of the signed event (the next event's `prev_hash`).
    pub event_hash: EventHash,
    /// The recorded wall time.
    pub wall_time: jiff::Timestamp,
    /// The wall clock read earlier than a previous record: the time is flagged as untrusted.
    pub clock_suspect: bool,
}

/// An officer's confirmation as kept under its idempotency key: enough to give the first answer
/// again when the confirmation is retried, even after a restart.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeptConfirmation {
    /// The traveller session it confirmed.
    pub session: u64,
    /// The crossing's sequence.
    pub seq: u64,
    /// Hash of the signed event.
    pub event_hash: EventHash,
    /// The recorded wall time.
    pub wall_time: jiff::Timestamp,
    /// The recorded direction.
    pub direction: CrossingKind,
    /// Whether the officer admitted (else refused).
    pub admitted: bool,
}

/// The idempotency key of an officer's confirmation and what it confirmed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfirmationKey {
    /// The client's `Idempotency-Key`.
    pub key: String,
    /// The traveller session confirmed.
    pub session: u64,
    /// Whether the officer admitted (else refused).
    pub admitted: bool,
}

/// Records crossings. `record` returns only after the crossing is on disk; only then may the
/// officer or kiosk be told "recorded".
pub trait CrossingRecorder: Send + Sync {
    /// Signs, chains, stores and flushes one crossing. Blocking.
    fn record(&self, crossing: Crossing) -> Result<Recorded, UpstreamError>;

    /// As [`CrossingRecorder::record`], keeping the key → the confirmation in the same durable
    /// write, so that a retry finds it whether or not the first answer arrived. A recorder that
    /// cannot keep keys refuses rather than record without one.
    fn record_keyed(
        &self,
        crossing: Crossing,
        key: ConfirmationKey,
    ) -> Result<Recorded, UpstreamError> {
        let _ = (crossing, key);
        Err(UpstreamError::Invalid(
            "this recorder keeps no idempotency keys".into(),
        ))
    }

    /// The confirmation recorded under `key`, if any.
    fn kept(&self, key: &str) -> Result<Option<KeptConfirmation>, UpstreamError> {
        let _ = key;
        Ok(None)
    }
}

/// One crossing of a document, from any terminal, as the movement index keeps it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MovementRecord {
    /// When it was recorded.
    pub at: jiff::Timestamp,
    /// Entry, exit or refused entry.
    pub direction: CrossingKind,
    /// Where.
    pub checkpoint: String,
    /// Recording terminal.
    pub terminal: TerminalId,
    /// The terminal's sequence (with `terminal`, the unique key).
    pub seq: u64,
}

/// The movement history of documents across all terminals, oldest first.
pub trait MovementHistory: Send + Sync {
    /// Every retained movement of the document with this holder digest, oldest first.
    fn movements(&self, holder: &HolderDigest) -> Result<Vec<MovementRecord>, UpstreamError>;
}
