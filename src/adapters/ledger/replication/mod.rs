//! Replication over NATS JetStream: central appends entries to stream `LEDGER` (stream sequence
//! = entry seq, guarded by the expected-last-sequence header) and signed checkpoints to
//! `LEDGER_CHECKPOINTS`; a terminal pulls from its own cursor, verifies, and applies.

mod central;
mod replicator;
mod snapshot;
mod source;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use ed25519_dalek::SigningKey;
use futures::StreamExt;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;

use crate::core::ledger::state::PermitCheck;
use crate::core::ledger::{
    ANY_ENTRY_BYTES_MAX, CHECKPOINT_BYTES_MAX, ChainError, Change, Checkpoint, CheckpointError,
    Cursor, Entry, Hash, RootSet, SignedCheckpoint, entry_hash,
};
use crate::ports::ledger::{LedgerStore, LedgerStoreError};

pub use central::*;
pub use replicator::*;
pub use snapshot::*;
pub use source::*;

/// The entry stream; its sequence numbers are the entry seqs.
pub const ENTRY_STREAM: &str = "LEDGER";
pub const ENTRY_SUBJECT: &str = "ledger.entries";
/// Signed checkpoints, newest last.
pub const CHECKPOINT_STREAM: &str = "LEDGER_CHECKPOINTS";
pub const CHECKPOINT_SUBJECT: &str = "ledger.checkpoints";
/// Object-store bucket and object holding the latest snapshot.
pub const SNAPSHOT_BUCKET: &str = "LEDGER_SNAPSHOTS";
pub const SNAPSHOT_OBJECT: &str = "latest";
/// Largest snapshot a terminal will read (1,000,000 permits is about 700 MB of entries).
pub const SNAPSHOT_BYTES_MAX: u64 = 2 * 1024 * 1024 * 1024;
/// The file a snapshot is downloaded to, in the replicator's snapshot directory.
const SNAPSHOT_FILE: &str = "ledger-snapshot.partial";
/// Publishes in flight before central waits for acks.
const PUBLISH_WINDOW: usize = 512;
/// How long a terminal waits for the next entry of a range the stream should hold.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Entries fetched and applied per chunk of a run: a catch-up after days offline or a bootstrap
/// is checked and staged this many at a time, so memory does not grow with the run.
pub const RUN_CHUNK_ENTRIES: usize = 20_000;

/// Why replication failed. [`Self::is_fatal`] says whether retrying could help.
#[derive(Debug, thiserror::Error)]
pub enum ReplicationError {
    #[error("nats: {0}")]
    Nats(String),
    #[error("checkpoint refused: {0}")]
    Checkpoint(#[from] CheckpointError),
    #[error("store: {0}")]
    Store(#[from] LedgerStoreError),
    #[error("checkpoint at {size} contradicts the applied entry {applied}: the ledger forked")]
    Fork { size: u64, applied: u64 },
    #[error("stream is missing entries {from}..={to} and no snapshot covers them")]
    Missing { from: u64, to: u64 },
    #[error("snapshot refused: {0}")]
    Snapshot(String),
    #[error("central head entry is malformed: {0}")]
    Head(String),
    #[error("snapshot file: {0}")]
    Scratch(String),
}

impl ReplicationError {
    /// A forged, reordered or contradictory ledger: stop and alert rather than retry.
    pub fn is_fatal(&self) -> bool {
        match self {
            Self::Checkpoint(_) | Self::Fork { .. } | Self::Snapshot(_) | Self::Head(_) => true,
            Self::Store(e) => !matches!(
                e,
                LedgerStoreError::Backend(_)
                    | LedgerStoreError::CursorMoved { .. }
                    | LedgerStoreError::Busy
            ),
            Self::Nats(_) | Self::Missing { .. } | Self::Scratch(_) => false,
        }
    }
}

fn nats(e: impl std::fmt::Display) -> ReplicationError {
    ReplicationError::Nats(e.to_string())
}

fn scratch_error(path: &Path, e: impl std::fmt::Display) -> ReplicationError {
    ReplicationError::Scratch(format!("{}: {e}", path.display()))
}

/// What one replication round did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplicationOutcome {
    /// Central has published no checkpoint yet.
    NoCheckpoint,
    UpToDate {
        seq: u64,
    },
    Applied {
        from: u64,
        to: u64,
    },
    Bootstrapped {
        to: u64,
    },
}

impl ReplicationOutcome {
    /// Entries this round applied (a bootstrap counts the snapshot's entries).
    pub fn entries_applied(&self) -> u64 {
        match *self {
            Self::NoCheckpoint | Self::UpToDate { .. } => 0,
            Self::Applied { from, to } => (to + 1).saturating_sub(from),
            Self::Bootstrapped { to } => to,
        }
    }
}

impl From<ChainError> for ReplicationError {
    fn from(e: ChainError) -> Self {
        Self::Store(LedgerStoreError::Chain(e))
    }
}
