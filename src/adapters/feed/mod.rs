//! The crossing-record outbox (sled), the JetStream relay to central, heartbeats, and the
//! movement index fed by every terminal's events.
//!
//! The outbox lives in its own sled database (`<data>/outbox`), separate from the ledger replica:
//! it holds the only data that originates on this terminal.

mod backoff;
mod index;
mod movement_list;
mod movement_log;
mod outbox;
mod outbox_head;
mod relay;
mod snapshot;
mod subjects;
mod trees;

pub use index::{
    FLUSH_EVERY_BYTES_DEFAULT, INDEX_BATCH_MAX, IndexConfig, IndexMessage, MovementIndex, catch_up,
    run_index,
};
pub use outbox::{CACHE_CAPACITY_BYTES_DEFAULT, GROUP_COMMIT_MAX, Outbox, OutboxConfig, OutboxRow};
pub use relay::{
    FeedSink, HealthProbe, JetStreamSink, RelayConfig, SinkAck, backoff_delay, ensure_stream,
    heartbeat, relay_round, run_heartbeats, run_relay, run_relay_metered,
};
pub use snapshot::{
    BodyReader, Bootstrap, SNAPSHOT_BYTES_MAX, SNAPSHOT_FORMAT, SnapshotError, SnapshotHeader,
    VerifiedSnapshot, bootstrap_index, download_snapshot, load_snapshot, publish_snapshot,
    snapshot_bucket, verified_header, verify_snapshot, write_snapshot,
};
pub use subjects::{event_subject, heartbeat_subject};

use crate::ports::upstream::UpstreamError;

/// Name of the JetStream stream holding every terminal's events.
pub const STREAM_NAME: &str = "EVENTS";
/// Subject prefix of events: `events.<checkpoint>.<terminal>`.
pub const EVENT_SUBJECT_PREFIX: &str = "events";
/// Subject prefix of heartbeats: `heartbeats.<terminal>` (outside the `EVENTS` stream).
pub const HEARTBEAT_SUBJECT_PREFIX: &str = "heartbeats";

/// Failures of the outbox, relay and index.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// sled failed.
    #[error("outbox store: {0}")]
    Store(#[from] sled::Error),
    /// The movement index's files failed.
    #[error("movement index files: {0}")]
    Files(String),
    /// A sled transaction failed.
    #[error("outbox transaction: {0}")]
    Transaction(String),
    /// A stored value is not what this version wrote.
    #[error("outbox corrupt at {what}: {why}")]
    Corrupt {
        /// Which key or tree.
        what: String,
        /// What was wrong.
        why: String,
    },
    /// The crossing could not be encoded or signed.
    #[error("event: {0}")]
    Event(#[from] crate::core::event::EventError),
    /// The committer thread is gone.
    #[error("outbox committer has stopped")]
    Closed,
    /// As many crossings as the configured limit wait for central: recording stops until the
    /// relay drains some (the disk must not fill during a long outage).
    #[error(
        "outbox holds {depth} crossings not yet acknowledged by central (limit {max}); record this crossing by the fallback procedure"
    )]
    Full {
        /// Rows waiting.
        depth: usize,
        /// The configured limit.
        max: u64,
    },
    /// Talking to NATS failed.
    #[error("nats {op}: {why}")]
    Nats {
        /// What was being done.
        op: &'static str,
        /// The client's error.
        why: String,
    },
}

impl FeedError {
    fn nats(op: &'static str, error: impl std::fmt::Display) -> Self {
        Self::Nats {
            op,
            why: error.to_string(),
        }
    }
}

impl From<FeedError> for UpstreamError {
    fn from(error: FeedError) -> Self {
        match error {
            FeedError::Event(e) => UpstreamError::Invalid(e.to_string()),
            FeedError::Closed => UpstreamError::Closed,
            other => UpstreamError::Store(other.to_string()),
        }
    }
}
