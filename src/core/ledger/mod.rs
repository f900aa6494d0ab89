//! The permit ledger model: entries, hash chain, signed checkpoints, and the state they build.
//!
//! Everything here is pure: bytes and time come in as arguments; storage is reached through the
//! [`state::LedgerState`] trait that an adapter implements over its own transaction.

pub mod byte_string;
pub mod bytes;
pub mod chain;
pub mod checkpoint;
pub mod entry;
pub mod permit_check;
pub mod state;

pub use chain::{ChainCheck, ChainError, Cursor, VerifiedBatch, extend, verify_batch};
pub use checkpoint::{
    CHECKPOINT_BYTES_MAX, Checkpoint, CheckpointError, RootKey, RootSet, SignedCheckpoint,
};
pub use csca::{CrlRecord, CscaRecord, CscaTrust};
pub use entry::{
    ANY_ENTRY_BYTES_MAX, AlertKind, AlertLifted, AlertRaised, Change, CscaCertificate, CscaCrl,
    CscaMasterListPublished, Cti, ENTRY_BYTES_MAX, Entry, EntryError, Hash, IssuerKeyAdded,
    IssuerKeyRetired, Kid, OfficerEnrolled, OfficerRevoked, PermitIndex, PermitIssued,
    PermitRevoked, PermitType, Registration, StayExtension, TerminalKeyAdded, TerminalKeyRetired,
    entry_hash,
};
pub use state::csca;
pub use state::{
    Alert, ApplyFailure, HeldPermit, IndexConsistency, IssuerKey, LedgerState, MemoryState,
    OfficerRecord, PermitCheck, PermitRecord, Rejection, TerminalKey, apply_entry,
};
