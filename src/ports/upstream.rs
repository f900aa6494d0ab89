//! The upstream port: recording crossings durably for central, and reading the movement history
//! that all terminals' crossings build.

use crate::core::document::HolderDigest;
use crate::core::event::{Crossing, Direction, EventHash, TerminalId};

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

/// Records crossings. `record` returns only after the crossing is on disk; only then may the
/// officer or kiosk be told "recorded".
pub trait CrossingRecorder: Send + Sync {
    /// Signs, chains, stores and flushes one crossing. Blocking.
    fn record(&self, crossing: Crossing) -> Result<Recorded, UpstreamError>;
}

/// One crossing of a document, from any terminal, as the movement index keeps it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MovementRecord {
    /// When it was recorded.
    pub at: jiff::Timestamp,
    /// Entry, exit or refused entry.
    pub direction: Direction,
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
