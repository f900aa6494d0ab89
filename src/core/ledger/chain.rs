//! The hash chain: checks that a run of entries extends the applied state and ends exactly at a
//! verified checkpoint.

use serde::{Deserialize, Serialize};

use super::checkpoint::Checkpoint;
use jiff::Timestamp;

use super::entry::{Change, Entry, EntryError, Hash, entry_hash};

/// How far a replica has applied: the last entry and the checkpoint that covered it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub seq: u64,
    #[serde(with = "super::bytes")]
    pub hash: Hash,
    /// The checkpoint the state was last applied under; `None` for an empty replica.
    pub checkpoint: Option<Checkpoint>,
}

impl Cursor {
    /// An empty replica: nothing applied, `prev` of entry 1 is all zeroes.
    pub const EMPTY: Cursor = Cursor {
        seq: 0,
        hash: [0; 32],
        checkpoint: None,
    };
}

/// Why a run of entries cannot be applied.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChainError {
    #[error("entry {seq} is malformed: {source}")]
    Entry { seq: u64, source: EntryError },
    #[error("gap: expected entry {expected}, found {found}")]
    Gap { expected: u64, found: u64 },
    #[error("entry {seq} prev does not match the hash of entry {}", seq - 1)]
    PrevMismatch { seq: u64 },
    #[error("checkpoint size {size} but the entries end at {last}")]
    Incomplete { size: u64, last: u64 },
    #[error("checkpoint root does not match the hash of entry {size}")]
    RootMismatch { size: u64 },
    #[error("checkpoint size {size} is behind the applied entry {applied}")]
    Behind { size: u64, applied: u64 },
}

/// Entries proven to extend the cursor up to a checkpoint, ready to apply as one unit.
#[derive(Clone, Debug)]
pub struct VerifiedBatch {
    /// Decoded entries with their exact bytes.
    pub entries: Vec<(Entry, Vec<u8>)>,
    pub checkpoint: Checkpoint,
    /// The cursor after applying.
    pub next: Cursor,
}

/// Checks a run of entries as they arrive, one at a time: each must follow the one before it
/// (from the cursor on), and the run must end exactly at the (already signature-verified)
/// checkpoint. A run too long to hold in memory is checked and applied chunk by chunk.
#[derive(Clone, Debug)]
pub struct ChainCheck {
    checkpoint: Checkpoint,
    seq: u64,
    hash: Hash,
}

impl ChainCheck {
    /// Starts a run after `cursor` towards `checkpoint`.
    pub fn new(cursor: &Cursor, checkpoint: Checkpoint) -> Result<Self, ChainError> {
        if checkpoint.size < cursor.seq {
            return Err(ChainError::Behind {
                size: checkpoint.size,
                applied: cursor.seq,
            });
        }
        Ok(Self {
            checkpoint,
            seq: cursor.seq,
            hash: cursor.hash,
        })
    }

    /// Checks the next entry and returns it decoded.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Entry, ChainError> {
        let expected = self.seq + 1;
        let entry = Entry::decode(bytes).map_err(|source| ChainError::Entry {
            seq: expected,
            source,
        })?;
        if entry.seq != expected {
            return Err(ChainError::Gap {
                expected,
                found: entry.seq,
            });
        }
        if entry.prev != self.hash {
            return Err(ChainError::PrevMismatch { seq: expected });
        }
        if expected > self.checkpoint.size {
            return Err(ChainError::Incomplete {
                size: self.checkpoint.size,
                last: expected,
            });
        }
        self.hash = entry_hash(bytes);
        self.seq = expected;
        Ok(entry)
    }

    /// The last entry checked so far.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The checkpoint the run must end at.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// Ends the run: it must have reached the checkpoint and hashed to its root.
    pub fn finish(self) -> Result<Cursor, ChainError> {
        if self.seq != self.checkpoint.size {
            return Err(ChainError::Incomplete {
                size: self.checkpoint.size,
                last: self.seq,
            });
        }
        if self.hash != self.checkpoint.root {
            return Err(ChainError::RootMismatch { size: self.seq });
        }
        Ok(Cursor {
            seq: self.seq,
            hash: self.hash,
            checkpoint: Some(self.checkpoint),
        })
    }
}

/// Checks `encoded` (entries `cursor.seq + 1 ..= checkpoint.size`, in order) against the cursor
/// and the (already signature-verified) checkpoint.
pub fn verify_batch(
    cursor: &Cursor,
    encoded: Vec<Vec<u8>>,
    checkpoint: Checkpoint,
) -> Result<VerifiedBatch, ChainError> {
    let mut chain = ChainCheck::new(cursor, checkpoint)?;
    let mut entries = Vec::with_capacity(encoded.len());
    for bytes in encoded {
        let entry = chain.push(&bytes)?;
        entries.push((entry, bytes));
    }
    let next = chain.finish()?;
    Ok(VerifiedBatch {
        entries,
        checkpoint,
        next,
    })
}

/// Encodes `changes` as the entries following `(seq, hash)`, all stamped `time`; returns them
/// with the new head hash. This is how central extends the chain.
pub fn extend(seq: u64, hash: Hash, changes: Vec<Change>, time: Timestamp) -> (Vec<Vec<u8>>, Hash) {
    let mut head = (seq, hash);
    let encoded = changes
        .into_iter()
        .map(|change| {
            let bytes = Entry {
                seq: head.0 + 1,
                prev: head.1,
                time,
                change,
            }
            .encode();
            head = (head.0 + 1, entry_hash(&bytes));
            bytes
        })
        .collect();
    (encoded, head.1)
}
