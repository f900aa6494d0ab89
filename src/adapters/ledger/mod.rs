//! The permit ledger replica (sled and append-only files) and its replication from central over
//! JetStream.

mod directory;
mod files;
pub mod pending;
pub mod replication;
pub mod report;
pub mod store;
pub mod verify;

pub use replication::{
    Backoff, CHECKPOINT_STREAM, CHECKPOINT_SUBJECT, Central, ENTRY_STREAM, ENTRY_SUBJECT,
    JetStreamSource, LedgerSource, LedgerStreams, ReplicationError, ReplicationOutcome, Replicator,
    SNAPSHOT_BUCKET, SNAPSHOT_OBJECT, Snapshot, SnapshotReader, lower_priority,
};
pub use store::{CACHE_CAPACITY_DEFAULT, SledLedger};
