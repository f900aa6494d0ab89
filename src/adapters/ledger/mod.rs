//! The sled-backed permit ledger replica and its replication from central over JetStream.

pub mod replication;
pub mod store;

pub use replication::{
    Backoff, Central, ReplicationError, ReplicationOutcome, Replicator, CHECKPOINT_STREAM,
    CHECKPOINT_SUBJECT, ENTRY_STREAM, ENTRY_SUBJECT, SNAPSHOT_BUCKET, SNAPSHOT_OBJECT, Snapshot,
};
pub use store::{SledLedger, CACHE_CAPACITY_DEFAULT};
