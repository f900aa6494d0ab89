//! The replica: the ledger's mutable state in sled (one tree per entity, fixed-width big-endian
//! keys, versioned values), its entries and permit records in append-only files beside it, and
//! each verified batch made visible all at once by the cursor.
//!
//! Why not one sled transaction per batch: sled 0.34 guards every read in the process with one
//! global lock that a committing transaction holds for writing, so a 20,000-entry catch-up stalled
//! every lookup — and the outbox's crossing records — for the whole commit (measured: lookup p99
//! 1.3 ms, worst 1.6 s). A batch is applied in three steps instead:
//! 1. every entry is checked against an in-memory overlay of the visible state, so a rejected
//!    entry writes nothing at all;
//! 2. the batch's entries and permit records are written to the files past what the cursor covers,
//!    and its rows to sled stamped with the batch's last seq, each row keeping the value readers
//!    saw before it; all of it synced;
//! 3. the cursor (one value: seq, hash, checkpoint, permit count and the signed checkpoint) is
//!    written and flushed.
//!
//! Readers take from each row the value for the applied cursor and read the files only up to it,
//! so the whole batch becomes visible in one step. A crash before step 3 leaves rows and bytes
//! nobody sees, which the re-applied batch (the same entries: the chain fixes them) overwrites.

mod apply;
#[cfg(test)]
mod csca_tests;
mod open;
mod overlay;
mod read;
mod rows;
#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use jiff::Timestamp;
use jiff::civil::Date;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sled::Tree;

use super::directory::{PendingPermits, PermitDirectory, RECORD_BYTES};
use super::files::{AppendFiles, ENDS_FILE, ENTRIES_FILE, PERMITS_FILE};
use crate::core::document::HolderDigest;
use crate::core::ledger::entry::PersonAlertRaised;
use crate::core::ledger::state::{
    Alert, ApplyFailure, HeldPermit, IssuerKey, IssuerTrust, LedgerState, OfficerRecord,
    PermitCheck, PermitRecord, PersonAlertChanges, PersonAlertRecord, PersonAlertState,
    TerminalKey, apply_entry,
};
use crate::core::ledger::{
    ChainCheck, Change, Checkpoint, CrlRecord, CscaRecord, CscaTrust, Cti, Cursor, Entry, Kid,
    PermitIndex, PermitIssued, Registration, StayExtension, VerifiedBatch,
};
use crate::ports::ledger::{LedgerRun, LedgerStore, LedgerStoreError, LedgerView};

pub use apply::SledRun;
use overlay::*;
use rows::*;

/// Default page cache; sled's own default (1 GiB) would dwarf a terminal's memory budget. Sled
/// holds only the mutable state (revocations, keys, alerts, extensions, registrations): lookups by
/// holder and cti answer from the in-memory directory and entries are read from their file.
pub const CACHE_CAPACITY_DEFAULT: u64 = 16 * 1024 * 1024;

/// The terminal's ledger replica.
#[derive(Clone)]
pub struct SledLedger {
    db: sled::Db,
    trees: Arc<[Tree]>,
    /// `applied.cursor.seq`, read on every lookup without taking the lock.
    applied_seq: Arc<AtomicU64>,
    applied: Arc<RwLock<Applied>>,
    /// The applied permits by holder and by cti, for the lookup every traveller costs.
    directory: Arc<PermitDirectory>,
    /// Entries and permit records, read up to the cursor.
    files: Arc<AppendFiles<RECORD_BYTES>>,
    /// Set while an apply run (or `apply`) writes: one writer at a time, or a second one would
    /// write rows and file bytes from a cursor the first is moving.
    writing: Arc<AtomicBool>,
}

/// The replica's one writer, for as long as it lives.
struct WriterGuard(Arc<AtomicBool>);

impl WriterGuard {
    fn take(writing: &Arc<AtomicBool>) -> Result<Self, LedgerStoreError> {
        writing
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .map(|_| Self(Arc::clone(writing)))
            .map_err(|_| LedgerStoreError::Busy)
    }
}

impl Drop for WriterGuard {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}
