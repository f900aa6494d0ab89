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
    ChainCheck, Change, Checkpoint, Cti, Cursor, Entry, Kid, PermitIndex, PermitIssued,
    Registration, StayExtension, VerifiedBatch,
};
use crate::ports::ledger::{LedgerRun, LedgerStore, LedgerStoreError, LedgerView};

/// Default page cache; sled's own default (1 GiB) would dwarf a terminal's memory budget. Sled
/// holds only the mutable state (revocations, keys, alerts, extensions, registrations): lookups by
/// holder and cti answer from the in-memory directory and entries are read from their file.
pub const CACHE_CAPACITY_DEFAULT: u64 = 16 * 1024 * 1024;
/// Entries read at a time when the lane's watchlist catches up.
const PERSON_ALERT_READ_CHUNK: u64 = 4096;
/// First byte of every stored value; bump when a record's shape changes.
const VALUE_VERSION: u8 = 4;
/// Length marker of an absent side of a row.
const ABSENT: u32 = u32::MAX;
const META_APPLIED: &[u8] = b"applied";
/// Which set of trees and values the replica holds; a replica of another layout is cleared on
/// open and replicated again (it is only a copy of central's ledger).
const META_LAYOUT: &[u8] = b"layout";
const LAYOUT: &[u8] = b"4";
/// Trees of earlier layouts, dropped with them (entries and permits moved to files in layout 4).
const RETIRED_TREES: [&str; 3] = ["permits_by_holder", "entries", "permits"];

// Tree positions inside `SledLedger::trees`.
const REVOKED: usize = 0;
const ISSUER_KEYS: usize = 1;
const TERMINAL_KEYS: usize = 2;
const ALERTS: usize = 3;
const ALERTS_BY_HOLDER: usize = 4;
const EXTENSIONS: usize = 5;
const REGISTRATIONS: usize = 6;
const META: usize = 7;
const OFFICERS: usize = 8;
const PERSON_ALERTS: usize = 9;
const TREE_NAMES: [&str; 10] = [
    "revoked",
    "issuer_keys",
    "terminal_keys",
    "alerts",
    "alerts_by_holder",
    "extensions",
    "registrations",
    "meta",
    "officers",
    "person_alerts",
];

/// The cursor and the signed checkpoint it was applied under, as readers see them.
#[derive(Clone, Debug)]
struct Applied {
    cursor: Cursor,
    /// Permit records in the permit file that the cursor covers.
    permits: u64,
    signed_checkpoint: Option<Vec<u8>>,
}

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

fn backend(e: impl std::fmt::Display) -> LedgerStoreError {
    LedgerStoreError::Backend(e.to_string())
}

fn corrupt(what: &'static str, reason: impl Into<String>) -> LedgerStoreError {
    LedgerStoreError::Corrupt {
        what,
        reason: reason.into(),
    }
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(value, &mut out).expect("writing cbor into a Vec cannot fail");
    out
}

fn decode<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T, LedgerStoreError> {
    ciborium::from_reader(bytes).map_err(|e| corrupt(what, e.to_string()))
}

/// A stored row: `now` is what readers at or after `seq` see, `before` what earlier readers see.
/// Both sides are CBOR; `None` means "no such record". `run` names the apply run that wrote it,
/// so that a long run reads back its own rows (and not those a crashed run left behind).
struct Row<'a> {
    seq: u64,
    run: u64,
    now: Option<&'a [u8]>,
    before: Option<&'a [u8]>,
}

impl<'a> Row<'a> {
    /// `version | seq u64 BE | run u64 BE | now_len u32 BE | now | before_len u32 BE | before`.
    fn encode(stamp: &RunStamp, now: Option<&[u8]>, before: Option<&[u8]>) -> Vec<u8> {
        let side_len = |s: Option<&[u8]>| s.map_or(0, <[u8]>::len);
        let mut out = Vec::with_capacity(25 + side_len(now) + side_len(before));
        out.push(VALUE_VERSION);
        out.extend_from_slice(&stamp.last.to_be_bytes());
        out.extend_from_slice(&stamp.run.to_be_bytes());
        for side in [now, before] {
            match side {
                Some(bytes) => {
                    let len = u32::try_from(bytes.len()).expect("a ledger record is under 4 GiB");
                    out.extend_from_slice(&len.to_be_bytes());
                    out.extend_from_slice(bytes);
                }
                None => out.extend_from_slice(&ABSENT.to_be_bytes()),
            }
        }
        out
    }

    fn decode(what: &'static str, bytes: &'a [u8]) -> Result<Self, LedgerStoreError> {
        let Some((&version, rest)) = bytes.split_first() else {
            return Err(corrupt(what, "empty value"));
        };
        if version != VALUE_VERSION {
            return Err(corrupt(what, format!("unknown value version {version}")));
        }
        let (seq, rest) = take::<8>(what, rest)?;
        let (run, rest) = take::<8>(what, rest)?;
        let (now, rest) = side(what, rest)?;
        let (before, rest) = side(what, rest)?;
        if !rest.is_empty() {
            return Err(corrupt(what, format!("{} trailing bytes", rest.len())));
        }
        Ok(Self {
            seq: u64::from_be_bytes(seq),
            run: u64::from_be_bytes(run),
            now,
            before,
        })
    }

    /// The side a reader at cursor `applied` sees.
    fn at(&self, applied: u64) -> Option<&'a [u8]> {
        if self.seq <= applied {
            self.now
        } else {
            self.before
        }
    }
}

/// What every row of one apply run is written with, and what the run reads rows against.
#[derive(Clone, Copy, Debug)]
struct RunStamp {
    /// The cursor the run started from: readers see each row's side for it until the run ends.
    applied: u64,
    /// The run's last entry: readers at or past it see the rows' new side.
    last: u64,
    /// Random per run: a row with this stamp was staged by this run.
    run: u64,
}

impl RunStamp {
    fn new(applied: u64, last: u64) -> Self {
        Self {
            applied,
            last,
            run: rand::random(),
        }
    }
}

fn take<'a, const N: usize>(
    what: &'static str,
    bytes: &'a [u8],
) -> Result<([u8; N], &'a [u8]), LedgerStoreError> {
    match bytes.split_first_chunk::<N>() {
        Some((head, rest)) => Ok((*head, rest)),
        None => Err(corrupt(
            what,
            format!("value cut short: {} bytes", bytes.len()),
        )),
    }
}

fn side<'a>(
    what: &'static str,
    bytes: &'a [u8],
) -> Result<(Option<&'a [u8]>, &'a [u8]), LedgerStoreError> {
    let (len, rest) = take::<4>(what, bytes)?;
    let len = u32::from_be_bytes(len);
    if len == ABSENT {
        return Ok((None, rest));
    }
    let len = len as usize;
    if rest.len() < len {
        return Err(corrupt(
            what,
            format!("side of {len} bytes but {} left", rest.len()),
        ));
    }
    let (value, rest) = rest.split_at(len);
    Ok((Some(value), rest))
}

/// Clears a replica written in another layout (replication fills it again) and marks the layout.
fn clear_other_layout(db: &sled::Db) -> Result<(), LedgerStoreError> {
    let meta = db.open_tree(TREE_NAMES[META]).map_err(backend)?;
    let layout = meta.get(META_LAYOUT).map_err(backend)?;
    if layout.as_deref() == Some(LAYOUT) {
        return Ok(());
    }
    if layout.is_some() || meta.get(META_APPLIED).map_err(backend)?.is_some() {
        tracing::warn!(
            layout = %String::from_utf8_lossy(layout.as_deref().unwrap_or(b"2")),
            "ledger replica written in an older layout: cleared, replication rebuilds it"
        );
    }
    // Every tree, even without a cursor: a first catch-up cut off before its cursor moved has
    // left rows of the old layout behind.
    for name in TREE_NAMES.iter().chain(&RETIRED_TREES) {
        db.drop_tree(name).map_err(backend)?;
    }
    db.open_tree(TREE_NAMES[META])
        .map_err(backend)?
        .insert(META_LAYOUT, LAYOUT)
        .map_err(backend)?;
    db.flush().map_err(backend)?;
    Ok(())
}

fn holder_key(holder: &[u8; 32], tail: &[u8]) -> Vec<u8> {
    [holder.as_slice(), tail].concat()
}

/// `version | permits u64 BE | cursor length u32 BE | cursor CBOR | signed checkpoint`.
fn encode_applied(cursor: &Cursor, permits: u64, signed_checkpoint: &[u8]) -> Vec<u8> {
    let cursor = encode(cursor);
    let len = u32::try_from(cursor.len()).expect("a cursor is a few dozen bytes");
    let mut out = vec![VALUE_VERSION];
    out.extend_from_slice(&permits.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&cursor);
    out.extend_from_slice(signed_checkpoint);
    out
}

fn decode_applied(bytes: &[u8]) -> Result<Applied, LedgerStoreError> {
    const WHAT: &str = "cursor";
    let Some((&version, rest)) = bytes.split_first() else {
        return Err(corrupt(WHAT, "empty value"));
    };
    if version != VALUE_VERSION {
        return Err(corrupt(WHAT, format!("unknown value version {version}")));
    }
    let (permits, rest) = take::<8>(WHAT, rest)?;
    let (Some(cursor), signed) = side(WHAT, rest)? else {
        return Err(corrupt(WHAT, "no cursor"));
    };
    Ok(Applied {
        cursor: decode(WHAT, cursor)?,
        permits: u64::from_be_bytes(permits),
        signed_checkpoint: Some(signed.to_vec()),
    })
}

/// The replica holds person alerts' names: a new replica directory is created owner-only (0700);
/// an existing replica whose files group or others can reach and read (a directory they may
/// enter holding a file they may read) is refused, not repaired behind the operator's back.
fn guard_directory(path: &Path) -> Result<(), LedgerStoreError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let mode_of = |meta: &std::fs::Metadata| meta.permissions().mode() & 0o7777;
    let dir_mode = match std::fs::metadata(path) {
        Ok(meta) => mode_of(&meta),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(path)
                .map_err(|e| backend(format!("creating {}: {e}", path.display())));
        }
        Err(e) => return Err(backend(format!("reading {}: {e}", path.display()))),
    };
    if dir_mode & 0o011 == 0 {
        return Ok(());
    }
    for name in REPLICA_FILES {
        let file = path.join(name);
        if let Ok(meta) = std::fs::metadata(&file)
            && meta.is_file()
            && mode_of(&meta) & 0o044 != 0
        {
            return Err(LedgerStoreError::Exposed {
                path: file.display().to_string(),
                mode: mode_of(&meta),
            });
        }
    }
    Ok(())
}

/// The files that hold the replica's data: sled's log and the entry files (whose person alerts
/// carry names).
const REPLICA_FILES: [&str; 4] = ["db", ENTRIES_FILE, ENDS_FILE, PERMITS_FILE];

/// Gives the replica's files mode 0600: sled creates its files with the process umask.
fn restrict_files(path: &Path) -> Result<(), LedgerStoreError> {
    use std::os::unix::fs::PermissionsExt;
    for name in REPLICA_FILES {
        let file = path.join(name);
        let meta = std::fs::metadata(&file)
            .map_err(|e| backend(format!("reading {}: {e}", file.display())))?;
        if meta.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| backend(format!("restricting {}: {e}", file.display())))?;
        }
    }
    Ok(())
}

impl SledLedger {
    /// Opens (or creates) the replica at `path`. Open once per process and share the handle.
    pub fn open(path: &Path, cache_capacity: u64) -> Result<Self, LedgerStoreError> {
        guard_directory(path)?;
        let db = crate::adapters::open_sled(
            &sled::Config::new()
                .path(path)
                .cache_capacity(cache_capacity)
                .mode(sled::Mode::HighThroughput),
        )
        .map_err(backend)?;
        clear_other_layout(&db)?;
        let trees = TREE_NAMES
            .iter()
            .map(|name| db.open_tree(name))
            .collect::<Result<Vec<_>, _>>()
            .map_err(backend)?;
        let applied = match trees[META].get(META_APPLIED).map_err(backend)? {
            Some(v) => decode_applied(&v)?,
            None => Applied {
                cursor: Cursor::EMPTY,
                permits: 0,
                signed_checkpoint: None,
            },
        };
        let files = AppendFiles::open(path)?;
        restrict_files(path)?;
        // Drops what a run cut off by a crash (or refused) wrote past the cursor.
        files.settle(applied.cursor.seq, applied.permits)?;
        let directory = PermitDirectory::default();
        let mut first = 0;
        files.read_permits(applied.permits, |records| {
            directory
                .insert_records(first, applied.cursor.seq, records)
                .map_err(|reason| corrupt("permit file", reason))?;
            first += records.len() as u64;
            Ok(())
        })?;
        Ok(Self {
            db,
            trees: trees.into(),
            applied_seq: Arc::new(AtomicU64::new(applied.cursor.seq)),
            applied: Arc::new(RwLock::new(applied)),
            directory: Arc::new(directory),
            files: Arc::new(files),
            writing: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Opens the replica at `path`; if it is corrupt, moves it aside to `<path>.corrupt`
    /// (replacing an earlier one) and opens an empty replica in its place, which replication
    /// fills again: the replica is only a copy of central's ledger, and a terminal that would not
    /// start over it is worse than one that refers travellers until it has caught up. Returns
    /// what was set aside and why. Other failures (the disk, a lock another process holds) are
    /// returned as they are.
    pub fn open_or_set_aside(
        path: &Path,
        cache_capacity: u64,
    ) -> Result<(Self, Option<(std::path::PathBuf, LedgerStoreError)>), LedgerStoreError> {
        match Self::open(path, cache_capacity) {
            Err(corruption @ LedgerStoreError::Corrupt { .. }) => {
                let mut aside = path.as_os_str().to_owned();
                aside.push(".corrupt");
                let aside = std::path::PathBuf::from(aside);
                if aside.exists() {
                    std::fs::remove_dir_all(&aside)
                        .map_err(|e| backend(format!("removing {}: {e}", aside.display())))?;
                }
                std::fs::rename(path, &aside).map_err(|e| {
                    backend(format!(
                        "moving {} aside to {}: {e}",
                        path.display(),
                        aside.display()
                    ))
                })?;
                if let Some(parent) = path.parent() {
                    // The move outlives a power cut, or the replica would be set aside again.
                    std::fs::File::open(parent)
                        .and_then(|d| d.sync_all())
                        .map_err(|e| backend(format!("syncing {}: {e}", parent.display())))?;
                }
                let store = Self::open(path, cache_capacity)?;
                Ok((store, Some((aside, corruption))))
            }
            opened => opened.map(|store| (store, None)),
        }
    }

    /// Bytes the replica uses on disk: sled's and the files'.
    pub fn size_on_disk(&self) -> Result<u64, LedgerStoreError> {
        Ok(self.db.size_on_disk().map_err(backend)? + self.files.size()?)
    }

    /// The applied permit issue of this cti, if any: the directory names candidate entries by
    /// the cti's first bytes and the entry itself settles it.
    fn issued(&self, cti: &Cti) -> Result<Option<(u64, PermitIssued)>, LedgerStoreError> {
        for seq in self.directory.seqs_of_cti(cti) {
            if let Some(p) = self.permit_issue(seq)?
                && p.index.cti == *cti
            {
                return Ok(Some((seq, p)));
            }
        }
        Ok(None)
    }

    /// The permit issue entry `seq` holds (`None` for another kind of entry). The caller knows
    /// `seq` is applied.
    fn permit_issue(&self, seq: u64) -> Result<Option<PermitIssued>, LedgerStoreError> {
        let bytes = self.files.read_entry(seq)?;
        match Entry::decode(&bytes) {
            Ok(Entry {
                change: Change::PermitIssued(p),
                ..
            }) => Ok(Some(p)),
            Ok(_) => Ok(None),
            Err(e) => Err(corrupt("entry", format!("entry {seq}: {e}"))),
        }
    }

    fn applied(&self) -> Applied {
        // A poisoned lock only means a writer panicked after a complete assignment.
        match self.applied.read() {
            Ok(a) => a.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The CBOR under `key` as the run sees it (its own staged value, else the value visible at
    /// the cursor it started from), and as readers see it until the run ends.
    fn run_sides(
        &self,
        tree: usize,
        key: &[u8],
        stamp: &RunStamp,
        what: &'static str,
    ) -> Result<RowSides, LedgerStoreError> {
        let Some(v) = self.trees[tree].get(key).map_err(backend)? else {
            return Ok(RowSides::default());
        };
        let row = Row::decode(what, &v)?;
        let visible = row.at(stamp.applied).map(<[u8]>::to_vec);
        let current = if row.seq == stamp.last && row.run == stamp.run {
            row.now.map(<[u8]>::to_vec)
        } else {
            visible.clone()
        };
        Ok(RowSides { current, visible })
    }

    fn visible<T: DeserializeOwned>(
        &self,
        tree: usize,
        key: &[u8],
        what: &'static str,
    ) -> Result<Option<T>, LedgerStoreError> {
        let applied = self.applied_seq.load(Ordering::Acquire);
        match self.trees[tree].get(key).map_err(backend)? {
            Some(v) => Row::decode(what, &v)?
                .at(applied)
                .map(|bytes| decode(what, bytes))
                .transpose(),
            None => Ok(None),
        }
    }

    fn scan_holder<T: DeserializeOwned>(
        &self,
        tree: usize,
        holder: &HolderDigest,
        what: &'static str,
    ) -> Result<Vec<T>, LedgerStoreError> {
        let applied = self.applied_seq.load(Ordering::Acquire);
        let mut out = Vec::new();
        for kv in self.trees[tree].scan_prefix(holder.0) {
            let (_, v) = kv.map_err(backend)?;
            if let Some(bytes) = Row::decode(what, &v)?.at(applied) {
                out.push(decode(what, bytes)?);
            }
        }
        Ok(out)
    }
}

/// A key's value as an apply run sees it and as readers see it.
#[derive(Default)]
struct RowSides {
    current: Option<Vec<u8>>,
    visible: Option<Vec<u8>>,
}

/// A row the batch being applied will write: the new value and the one visible before it.
struct PendingRow {
    now: Option<Vec<u8>>,
    before: Option<Vec<u8>>,
}

/// A batch's rows by (tree, key), in the order they are written.
type PendingRows = BTreeMap<(usize, Vec<u8>), PendingRow>;

/// `LedgerState` over the store as the run has left it plus the rows of the chunk being checked;
/// nothing of the chunk reaches sled until every entry of it has been accepted.
struct Overlay<'a> {
    store: &'a SledLedger,
    stamp: RunStamp,
    /// Ordered by tree and key so that the write phase inserts in key order.
    rows: PendingRows,
    /// Issuer keys as the run has left them, decoded once: every permit check reads them.
    issuer_keys: RefCell<HashMap<Kid, Vec<IssuerKey>>>,
    /// The chunk's permits, for the directory once the run is published.
    permits: Vec<HeldPermit>,
    /// Ctis issued by earlier chunks of the run.
    run_ctis: &'a HashSet<Cti>,
    /// Ctis issued by this chunk.
    chunk_ctis: HashSet<Cti>,
}

impl Overlay<'_> {
    fn get<T: DeserializeOwned>(
        &self,
        tree: usize,
        key: &[u8],
        what: &'static str,
    ) -> Result<Option<T>, LedgerStoreError> {
        let raw = match self.rows.get(&(tree, key.to_vec())) {
            Some(row) => row.now.clone(),
            None => self.store.run_sides(tree, key, &self.stamp, what)?.current,
        };
        raw.map(|bytes| decode(what, &bytes)).transpose()
    }

    /// Sets a row that may already hold a visible value (which readers keep seeing until the
    /// cursor moves).
    fn put<T: Serialize>(
        &mut self,
        tree: usize,
        key: Vec<u8>,
        value: Option<&T>,
        what: &'static str,
    ) -> Result<(), LedgerStoreError> {
        let now = value.map(encode);
        match self.rows.get_mut(&(tree, key.clone())) {
            Some(row) => row.now = now,
            None => {
                let before = self.store.run_sides(tree, &key, &self.stamp, what)?.visible;
                self.rows.insert((tree, key), PendingRow { now, before });
            }
        }
        Ok(())
    }

    /// Sets a row that has no value: its key is new in this run (a new cti, a seq past the
    /// cursor), so there is nothing to read first.
    fn put_new<T: Serialize>(&mut self, tree: usize, key: Vec<u8>, value: &T) {
        let now = Some(encode(value));
        match self.rows.get_mut(&(tree, key.clone())) {
            Some(row) => row.now = now,
            None => {
                self.rows
                    .insert((tree, key), PendingRow { now, before: None });
            }
        }
    }
}

impl LedgerState for Overlay<'_> {
    type Error = LedgerStoreError;
    fn has_permit(&self, cti: &Cti) -> Result<bool, LedgerStoreError> {
        if self.chunk_ctis.contains(cti) || self.run_ctis.contains(cti) {
            return Ok(true);
        }
        // The directory holds exactly the permits visible when the run began.
        Ok(self.store.issued(cti)?.is_some())
    }
    fn insert_permit(&mut self, permit: &PermitRecord) -> Result<(), LedgerStoreError> {
        // The signed text stays in its entry only: it is read when the permit is used.
        self.chunk_ctis.insert(permit.index.cti);
        self.permits.push(permit.held());
        Ok(())
    }
    fn revoke(&mut self, cti: &Cti, seq: u64) -> Result<(), LedgerStoreError> {
        self.put(REVOKED, cti.to_vec(), Some(&seq), "revocation")
    }
    fn issuer_keys(&self, kid: &Kid) -> Result<Vec<IssuerKey>, LedgerStoreError> {
        if let Some(keys) = self.issuer_keys.borrow().get(kid) {
            return Ok(keys.clone());
        }
        let keys: Vec<IssuerKey> = self
            .get(ISSUER_KEYS, kid, "issuer keys")?
            .unwrap_or_default();
        self.issuer_keys.borrow_mut().insert(*kid, keys.clone());
        Ok(keys)
    }
    fn set_issuer_keys(&mut self, kid: &Kid, keys: &[IssuerKey]) -> Result<(), LedgerStoreError> {
        self.issuer_keys.borrow_mut().insert(*kid, keys.to_vec());
        self.put(ISSUER_KEYS, kid.to_vec(), Some(&keys), "issuer keys")
    }
    fn terminal_keys(&self, terminal: &str) -> Result<Vec<TerminalKey>, LedgerStoreError> {
        Ok(self
            .get(TERMINAL_KEYS, terminal.as_bytes(), "terminal keys")?
            .unwrap_or_default())
    }
    fn set_terminal_keys(
        &mut self,
        terminal: &str,
        keys: &[TerminalKey],
    ) -> Result<(), LedgerStoreError> {
        self.put(
            TERMINAL_KEYS,
            terminal.as_bytes().to_vec(),
            Some(&keys),
            "terminal keys",
        )
    }
    fn alert(&self, id: u64) -> Result<Option<Alert>, LedgerStoreError> {
        self.get(ALERTS, &id.to_be_bytes(), "alert")
    }
    fn insert_alert(&mut self, alert: &Alert) -> Result<(), LedgerStoreError> {
        // An alert's id is the seq of the entry raising it: past the cursor, so new.
        self.put_new(ALERTS, alert.id.to_be_bytes().to_vec(), alert);
        self.put_new(
            ALERTS_BY_HOLDER,
            holder_key(&alert.alert.holder, &alert.id.to_be_bytes()),
            alert,
        );
        Ok(())
    }
    fn remove_alert(&mut self, alert: &Alert) -> Result<(), LedgerStoreError> {
        self.put::<Alert>(ALERTS, alert.id.to_be_bytes().to_vec(), None, "alert")?;
        self.put::<Alert>(
            ALERTS_BY_HOLDER,
            holder_key(&alert.alert.holder, &alert.id.to_be_bytes()),
            None,
            "alert",
        )
    }
    fn insert_extension(
        &mut self,
        seq: u64,
        extension: &StayExtension,
    ) -> Result<(), LedgerStoreError> {
        self.put_new(
            EXTENSIONS,
            holder_key(&extension.holder, &seq.to_be_bytes()),
            extension,
        );
        Ok(())
    }
    fn insert_registration(
        &mut self,
        seq: u64,
        registration: &Registration,
    ) -> Result<(), LedgerStoreError> {
        self.put_new(
            REGISTRATIONS,
            holder_key(&registration.holder, &seq.to_be_bytes()),
            registration,
        );
        Ok(())
    }
    fn officer(&self, officer_id: &str) -> Result<Option<OfficerRecord>, LedgerStoreError> {
        self.get(OFFICERS, officer_id.as_bytes(), "officer")
    }
    fn set_officer(&mut self, officer: &OfficerRecord) -> Result<(), LedgerStoreError> {
        let key = officer.enrolled.officer_id.as_bytes().to_vec();
        self.put(OFFICERS, key, Some(officer), "officer")
    }
    fn person_alert(&self, id: &str) -> Result<Option<PersonAlertState>, LedgerStoreError> {
        self.get(PERSON_ALERTS, id.as_bytes(), "person alert")
    }
    fn insert_person_alert(
        &mut self,
        seq: u64,
        alert: &PersonAlertRaised,
    ) -> Result<(), LedgerStoreError> {
        // Only where the alert was raised: its names stay in the entry, read on a hit.
        let state = PersonAlertState { seq, lifted: None };
        self.put(
            PERSON_ALERTS,
            alert.alert_id.as_bytes().to_vec(),
            Some(&state),
            "person alert",
        )
    }
    fn lift_person_alert(
        &mut self,
        id: &str,
        state: &PersonAlertState,
    ) -> Result<(), LedgerStoreError> {
        self.put(
            PERSON_ALERTS,
            id.as_bytes().to_vec(),
            Some(state),
            "person alert",
        )
    }
}

/// The issuer keys visible at the cursor, recording what a permit check asked for.
struct RecordingTrust<'a> {
    store: &'a SledLedger,
    stamp: &'a RunStamp,
    /// Keys this worker has read, as the run stands before the chunk (a bootstrap adds its
    /// issuer keys in the same run as the permits they sign).
    known: &'a RefCell<HashMap<Kid, Vec<IssuerKey>>>,
    asked: RefCell<Vec<(Kid, Vec<IssuerKey>)>>,
}

impl IssuerTrust for RecordingTrust<'_> {
    fn keys_for(&self, kid: &Kid) -> Vec<IssuerKey> {
        let known = self.known.borrow().get(kid).cloned();
        let keys = known.unwrap_or_else(|| {
            // A store failure here only costs the shortcut: the permit is checked again in order.
            let keys: Vec<IssuerKey> = self
                .store
                .run_sides(ISSUER_KEYS, kid, self.stamp, "issuer keys")
                .ok()
                .and_then(|sides| sides.current)
                .and_then(|bytes| decode("issuer keys", &bytes).ok())
                .unwrap_or_default();
            self.known.borrow_mut().insert(*kid, keys.clone());
            keys
        });
        self.asked.borrow_mut().push((*kid, keys.clone()));
        keys
    }
}

/// The permits of a batch that passed their check against the trust list as it was before the
/// batch, by what the check was given, with the keys each check saw.
type Passed = HashMap<CheckInput, Vec<(Kid, Vec<IssuerKey>)>>;

/// A digest of everything a permit check is given but the trust list: two entries issuing the
/// same cti (the second is refused) are told apart, so a check replays only for its own input.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct CheckInput([u8; 32]);

impl CheckInput {
    fn of(bp1: &str, index: &PermitIndex, at: Timestamp) -> Self {
        use sha2::Digest;
        let mut hash = sha2::Sha256::new();
        for part in [bp1.as_bytes(), &encode(index), at.to_string().as_bytes()] {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part);
        }
        Self(hash.finalize().into())
    }
}

/// Replays a check made ahead of the sequential pass when the keys it saw are still the keys
/// the sequential pass sees (a key added or retired earlier in the same batch changes them);
/// otherwise checks again. The outcome is exactly that of checking in order.
struct Prechecked<'a> {
    inner: &'a dyn PermitCheck,
    passed: Passed,
}

impl PermitCheck for Prechecked<'_> {
    fn check(
        &self,
        bp1: &str,
        index: &PermitIndex,
        at: Timestamp,
        trust: &dyn IssuerTrust,
    ) -> Result<(), String> {
        if let Some(asked) = self.passed.get(&CheckInput::of(bp1, index, at))
            && asked.iter().all(|(kid, keys)| trust.keys_for(kid) == *keys)
        {
            return Ok(());
        }
        self.inner.check(bp1, index, at, trust)
    }
}

/// One apply run in progress: what its chunks have staged so far.
struct Staging {
    stamp: RunStamp,
    /// Issuer keys as the run has left them.
    issuer_keys: HashMap<Kid, Vec<IssuerKey>>,
    /// The run's permits, for the directory once the run is published.
    permits: PendingPermits,
    /// The run's ctis, so that a cti issued twice in one run is refused.
    ctis: HashSet<Cti>,
    /// Where the next entry goes in the entry file.
    entries_end: u64,
    /// Permit records the cursor covered when the run began.
    permits_before: u64,
}

impl Staging {
    fn new(applied: &Applied, last: u64, entries_end: u64) -> Self {
        Self {
            stamp: RunStamp::new(applied.cursor.seq, last),
            issuer_keys: HashMap::new(),
            permits: PendingPermits::default(),
            ctis: HashSet::new(),
            entries_end,
            permits_before: applied.permits,
        }
    }

    /// Permit records the cursor will cover once the run is published.
    fn permits_after(&self) -> u64 {
        self.permits_before + self.permits.len() as u64
    }
}

/// A chunk that passed its checks: the rows to write, its permits and the issuer keys as it
/// leaves them.
struct CheckedChunk {
    rows: PendingRows,
    permits: Vec<HeldPermit>,
    issuer_keys: HashMap<Kid, Vec<IssuerKey>>,
}

impl SledLedger {
    /// Checks and stages one chunk of a run: every entry against the store as the run has left
    /// it, then the chunk's entries and rows written and flushed, invisible until the run ends.
    fn stage_chunk(
        &self,
        staging: &mut Staging,
        entries: &[(Entry, Vec<u8>)],
        check: &dyn PermitCheck,
    ) -> Result<(), LedgerStoreError> {
        let Some((first, _)) = entries.first() else {
            return Ok(());
        };
        // The chain has proved the entries and no reader looks past the cursor: they are written
        // while the permits are checked (a refused run leaves them there, unseen, as a crash
        // would, for the next attempt to overwrite).
        let (checked, written) = std::thread::scope(|scope| {
            let written = scope.spawn(|| {
                self.files.write_entries(
                    first.seq,
                    staging.entries_end,
                    entries.iter().map(|(_, bytes)| bytes.as_slice()),
                )
            });
            (self.check(staging, entries, check), written.join())
        });
        let checked = checked?;
        let entries_end = written.map_err(|_| backend("the entry writer panicked"))??;
        let mut permits = PendingPermits::default();
        permits.add(&checked.permits);
        let records: Vec<[u8; RECORD_BYTES]> = permits.records().collect();
        self.files
            .write_permits(staging.permits_after(), &records)?;
        self.files.sync()?;
        self.stage(&checked.rows, &staging.stamp)?;
        staging.entries_end = entries_end;
        staging.permits.extend(permits);
        staging
            .ctis
            .extend(checked.permits.iter().map(|p| p.index.cti));
        staging.issuer_keys = checked.issuer_keys;
        Ok(())
    }

    /// Checks every entry of a chunk in order.
    fn check(
        &self,
        staging: &Staging,
        entries: &[(Entry, Vec<u8>)],
        check: &dyn PermitCheck,
    ) -> Result<CheckedChunk, LedgerStoreError> {
        let passed = self.precheck(entries, check, &staging.stamp);
        let mut overlay = Overlay {
            store: self,
            stamp: staging.stamp,
            rows: BTreeMap::new(),
            issuer_keys: RefCell::new(staging.issuer_keys.clone()),
            permits: Vec::new(),
            run_ctis: &staging.ctis,
            chunk_ctis: HashSet::new(),
        };
        let check = Prechecked {
            inner: check,
            passed,
        };
        for (entry, _) in entries {
            apply_entry(&mut overlay, entry, &check).map_err(|f| match f {
                ApplyFailure::Rejected { seq, rejection } => {
                    LedgerStoreError::Rejected { seq, rejection }
                }
                ApplyFailure::Store(e) => e,
            })?;
        }
        Ok(CheckedChunk {
            rows: overlay.rows,
            permits: overlay.permits,
            issuer_keys: overlay.issuer_keys.into_inner(),
        })
    }

    /// Checks a chunk's permits (the signature checks: most of the work) on every core at once,
    /// against the trust list as the run stands before the chunk.
    fn precheck(
        &self,
        entries: &[(Entry, Vec<u8>)],
        check: &dyn PermitCheck,
        stamp: &RunStamp,
    ) -> Passed {
        let permits: Vec<&Entry> = entries
            .iter()
            .map(|(entry, _)| entry)
            .filter(|entry| matches!(entry.change, Change::PermitIssued(_)))
            .collect();
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        let chunk = permits.len().div_ceil(threads).max(1);
        std::thread::scope(|scope| {
            let workers: Vec<_> = permits
                .chunks(chunk)
                .map(|entries| {
                    scope.spawn(move || {
                        let mut found = Passed::new();
                        let known = RefCell::new(HashMap::new());
                        for entry in entries {
                            let Change::PermitIssued(p) = &entry.change else {
                                continue;
                            };
                            let trust = RecordingTrust {
                                store: self,
                                stamp,
                                known: &known,
                                asked: RefCell::new(Vec::new()),
                            };
                            if check.check(&p.bp1, &p.index, entry.time, &trust).is_ok() {
                                found.insert(
                                    CheckInput::of(&p.bp1, &p.index, entry.time),
                                    trust.asked.into_inner(),
                                );
                            }
                        }
                        found
                    })
                })
                .collect();
            let mut all = Passed::new();
            // A worker that panicked only loses its shortcuts.
            for found in workers.into_iter().filter_map(|w| w.join().ok()) {
                all.extend(found);
            }
            all
        })
    }

    /// Writes a chunk's rows, invisible until the cursor reaches the run's last entry, and
    /// flushes them.
    fn stage(&self, rows: &PendingRows, stamp: &RunStamp) -> Result<(), LedgerStoreError> {
        for ((tree, key), row) in rows {
            self.trees[*tree]
                .insert(
                    key.as_slice(),
                    Row::encode(stamp, row.now.as_deref(), row.before.as_deref()),
                )
                .map_err(backend)?;
        }
        self.db.flush().map_err(backend)?;
        Ok(())
    }

    /// Ends a run: moves the cursor (one value, so the whole run becomes visible, and durable,
    /// in one step), then lets lookups see its permits.
    fn publish(
        &self,
        staging: Staging,
        next: &Cursor,
        signed_checkpoint: &[u8],
    ) -> Result<(), LedgerStoreError> {
        self.check_cursor(staging.stamp.applied)?;
        let permits = staging.permits_after();
        self.trees[META]
            .insert(
                META_APPLIED,
                encode_applied(next, permits, signed_checkpoint),
            )
            .map_err(backend)?;
        self.db.flush().map_err(backend)?;
        let applied = Applied {
            cursor: *next,
            permits,
            signed_checkpoint: Some(signed_checkpoint.to_vec()),
        };
        match self.applied.write() {
            Ok(mut a) => *a = applied,
            Err(poisoned) => *poisoned.into_inner() = applied,
        }
        self.applied_seq.store(next.seq, Ordering::Release);
        // Only now, with the cursor durable: a lookup never sees a permit a crash could take back.
        self.directory.insert_pending(staging.permits);
        Ok(())
    }

    fn check_cursor(&self, expected: u64) -> Result<u64, LedgerStoreError> {
        let applied = self.applied_seq.load(Ordering::Acquire);
        if applied == expected {
            Ok(applied)
        } else {
            Err(LedgerStoreError::CursorMoved {
                expected,
                found: applied,
            })
        }
    }
}

/// A run of entries applied chunk by chunk (a catch-up or a bootstrap too long to hold at once):
/// each chunk is chain-checked, checked and staged as it arrives; nothing is visible until
/// [`LedgerRun::finish`] has checked the run ends at its checkpoint and moved the cursor.
pub struct SledRun {
    store: SledLedger,
    chain: ChainCheck,
    staging: Staging,
    signed_checkpoint: Vec<u8>,
    /// A chunk failed: the chain has moved past entries that were not staged.
    failed: bool,
    _writer: WriterGuard,
}

impl LedgerRun for SledRun {
    fn push(
        &mut self,
        encoded: Vec<Vec<u8>>,
        check: &dyn PermitCheck,
    ) -> Result<(), LedgerStoreError> {
        if self.failed {
            return Err(LedgerStoreError::RunFailed);
        }
        // Failed until this chunk is staged: the chain moves past entries as it checks them.
        self.failed = true;
        let mut entries = Vec::with_capacity(encoded.len());
        for bytes in encoded {
            let entry = self.chain.push(&bytes)?;
            entries.push((entry, bytes));
        }
        self.store.stage_chunk(&mut self.staging, &entries, check)?;
        self.failed = false;
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<Cursor, LedgerStoreError> {
        if self.failed {
            return Err(LedgerStoreError::RunFailed);
        }
        let next = self.chain.finish()?;
        self.store
            .publish(self.staging, &next, &self.signed_checkpoint)?;
        Ok(next)
    }
}

impl SledLedger {
    /// The alert raised by entry `id`, while it is not lifted (as applied up to the cursor).
    pub fn alert_by_id(&self, id: u64) -> Result<Option<Alert>, LedgerStoreError> {
        self.visible(ALERTS, &id.to_be_bytes(), "alert")
    }
}

impl LedgerView for SledLedger {
    fn permits_by_holder(
        &self,
        holder: &HolderDigest,
    ) -> Result<Vec<HeldPermit>, LedgerStoreError> {
        Ok(self.directory.permits_of(holder))
    }
    fn permit_text(&self, seq: u64) -> Result<Option<String>, LedgerStoreError> {
        // Entries past the cursor may be left over from a batch cut off by a crash.
        if seq == 0 || seq > self.applied_seq.load(Ordering::Acquire) {
            return Ok(None);
        }
        Ok(self.permit_issue(seq)?.map(|p| p.bp1))
    }
    fn permit(&self, cti: &[u8; 16]) -> Result<Option<PermitRecord>, LedgerStoreError> {
        Ok(self.issued(cti)?.map(|(seq, p)| PermitRecord {
            index: p.index,
            bp1: p.bp1,
            seq,
        }))
    }
    fn is_revoked(&self, cti: &[u8; 16]) -> Result<bool, LedgerStoreError> {
        Ok(self.visible::<u64>(REVOKED, cti, "revocation")?.is_some())
    }
    fn active_alerts(
        &self,
        holder: &HolderDigest,
        day: Date,
    ) -> Result<Vec<Alert>, LedgerStoreError> {
        let alerts: Vec<Alert> = self.scan_holder(ALERTS_BY_HOLDER, holder, "alert")?;
        Ok(alerts.into_iter().filter(|a| a.is_active_on(day)).collect())
    }
    fn stay_extensions(
        &self,
        holder: &HolderDigest,
    ) -> Result<Vec<StayExtension>, LedgerStoreError> {
        self.scan_holder(EXTENSIONS, holder, "stay extension")
    }
    fn registrations(&self, holder: &HolderDigest) -> Result<Vec<Registration>, LedgerStoreError> {
        self.scan_holder(REGISTRATIONS, holder, "registration")
    }
    fn issuer_keys(&self, kid: &Kid) -> Result<Vec<IssuerKey>, LedgerStoreError> {
        Ok(self
            .visible(ISSUER_KEYS, kid, "issuer keys")?
            .unwrap_or_default())
    }
    fn terminal_keys(&self, terminal_id: &str) -> Result<Vec<TerminalKey>, LedgerStoreError> {
        Ok(self
            .visible(TERMINAL_KEYS, terminal_id.as_bytes(), "terminal keys")?
            .unwrap_or_default())
    }
    fn officer(&self, officer_id: &str) -> Result<Option<OfficerRecord>, LedgerStoreError> {
        self.visible(OFFICERS, officer_id.as_bytes(), "officer")
    }
    fn checkpoint_time(&self) -> Result<Option<Timestamp>, LedgerStoreError> {
        Ok(self.applied().cursor.checkpoint.map(|c| c.time))
    }
    fn applied_seq(&self) -> Result<Option<u64>, LedgerStoreError> {
        Ok(Some(self.applied_seq.load(Ordering::Acquire)))
    }
    fn person_alert_changes(
        &self,
        after: u64,
        max: u64,
    ) -> Result<PersonAlertChanges, LedgerStoreError> {
        let applied = self.applied_seq.load(Ordering::Acquire);
        let to = applied.min(after.saturating_add(max));
        let mut changes = PersonAlertChanges {
            through: to.max(after),
            changes: Vec::new(),
        };
        // In chunks, so a catch-up over a million entries never holds them all at once.
        let mut from = after + 1;
        while from <= to {
            let last = to.min(from + PERSON_ALERT_READ_CHUNK - 1);
            for (seq, bytes) in (from..=last).zip(self.files.read_entries(from, last)?) {
                let entry = Entry::decode(&bytes)
                    .map_err(|e| corrupt("entry", format!("entry {seq}: {e}")))?;
                changes.note(seq, entry.change);
            }
            from = last + 1;
        }
        Ok(changes)
    }
    fn person_alert(&self, id: &str) -> Result<Option<PersonAlertRecord>, LedgerStoreError> {
        let Some(state) =
            self.visible::<PersonAlertState>(PERSON_ALERTS, id.as_bytes(), "person alert")?
        else {
            return Ok(None);
        };
        let bytes = self.files.read_entry(state.seq)?;
        match Entry::decode(&bytes) {
            Ok(Entry {
                change: Change::PersonAlert(alert),
                ..
            }) if alert.alert_id == id => Ok(Some(PersonAlertRecord { state, alert })),
            Ok(_) => Err(corrupt(
                "person alert",
                format!("entry {} does not raise person alert {id:?}", state.seq),
            )),
            Err(e) => Err(corrupt("entry", format!("entry {}: {e}", state.seq))),
        }
    }
}

impl LedgerStore for SledLedger {
    fn permit_count(&self) -> usize {
        self.directory.count()
    }

    fn cursor(&self) -> Result<Cursor, LedgerStoreError> {
        Ok(self.applied().cursor)
    }

    fn apply(
        &self,
        batch: &VerifiedBatch,
        signed_checkpoint: &[u8],
        check: &dyn PermitCheck,
    ) -> Result<(), LedgerStoreError> {
        let first = batch
            .entries
            .first()
            .map_or(batch.next.seq, |(e, _)| e.seq - 1);
        let _writer = WriterGuard::take(&self.writing)?;
        let applied = self.applied();
        if applied.cursor.seq != first {
            return Err(LedgerStoreError::CursorMoved {
                expected: first,
                found: applied.cursor.seq,
            });
        }
        let entries_end = self.files.entry_end(applied.cursor.seq)?;
        let mut staging = Staging::new(&applied, batch.next.seq, entries_end);
        self.stage_chunk(&mut staging, &batch.entries, check)?;
        self.publish(staging, &batch.next, signed_checkpoint)
    }

    fn begin_run(
        &self,
        checkpoint: Checkpoint,
        signed_checkpoint: Vec<u8>,
    ) -> Result<Box<dyn LedgerRun + Send>, LedgerStoreError> {
        let writer = WriterGuard::take(&self.writing)?;
        let applied = self.applied();
        let chain = ChainCheck::new(&applied.cursor, checkpoint)?;
        let entries_end = self.files.entry_end(applied.cursor.seq)?;
        Ok(Box::new(SledRun {
            store: self.clone(),
            chain,
            staging: Staging::new(&applied, checkpoint.size, entries_end),
            signed_checkpoint,
            failed: false,
            _writer: writer,
        }))
    }

    fn entries(&self, from: u64, to: u64) -> Result<Vec<Vec<u8>>, LedgerStoreError> {
        // Entries past the cursor may be left over from a batch cut off by a crash.
        let to = to.min(self.applied_seq.load(Ordering::Acquire));
        self.files.read_entries(from.max(1), to)
    }

    fn signed_checkpoint(&self) -> Result<Option<Vec<u8>>, LedgerStoreError> {
        Ok(self.applied().signed_checkpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::ledger::state::IndexConsistency;
    use crate::core::ledger::{
        AlertKind, AlertLifted, AlertRaised, ChainError, Change, Checkpoint, PermitIndex,
        PermitIssued, PermitRevoked, PermitType, extend, verify_batch,
    };
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};

    fn person_alert(id: &str) -> Change {
        let line = format!(
            r#"{{"alert_id":"{id}","names":[{{"surname":"MAMMADOV","given_names":"ELCHIN"}}],"birth_date":"1985","nationalities":["AZE"],"sex":"M","kind":"wanted","action":"hold","note":"n"}}"#
        );
        Change::PersonAlert(serde_json::from_str(&line).expect("alert line"))
    }

    fn lift(id: &str) -> Change {
        Change::PersonAlertLifted(crate::core::ledger::entry::PersonAlertLifted {
            alert_id: id.into(),
        })
    }

    #[test]
    fn person_alerts_are_kept_by_id_and_read_in_full_on_a_hit() {
        let (_dir, store, first) = with_permit_1();
        let second = batch(
            &first.next,
            vec![person_alert("PA-1"), person_alert("PA-2"), lift("PA-1")],
        );
        store
            .apply(&second, b"cp2", &IndexConsistency)
            .expect("apply");
        let record = store.person_alert("PA-1").expect("read").expect("kept");
        assert_eq!(
            record.state,
            PersonAlertState {
                seq: 2,
                lifted: Some(4)
            }
        );
        assert_eq!(record.alert.action, "hold");
        assert_eq!(store.person_alert("PA-9").expect("read"), None);
        let changes = store.person_alert_changes(0, u64::MAX).expect("changes");
        assert_eq!(changes.through, 4);
        let seqs: Vec<u64> = changes.changes.iter().map(|(seq, _)| *seq).collect();
        assert_eq!(seqs, [2, 3, 4]);
        let bounded = store.person_alert_changes(2, 1).expect("bounded");
        assert_eq!((bounded.through, bounded.changes.len()), (3, 1));
        // A lift of a lifted alert is refused, and the replica is left as it was.
        let third = batch(&second.next, vec![lift("PA-1")]);
        let refused = store.apply(&third, b"cp3", &IndexConsistency);
        assert!(
            matches!(
                refused,
                Err(LedgerStoreError::Rejected {
                    seq: 5,
                    rejection: crate::core::ledger::Rejection::PersonAlertAlreadyLifted { .. }
                })
            ),
            "{refused:?}"
        );
        assert_eq!(store.applied_seq().expect("seq"), Some(4));
    }

    #[test]
    fn the_replica_is_owner_only_and_an_open_one_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ledger");
        let store = SledLedger::open(&path, CACHE_CAPACITY_DEFAULT).expect("open");
        drop(store);
        let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
        let chmod = |p: &Path, mode| {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod")
        };
        assert_eq!(mode(&path), 0o700);
        let files: Vec<_> = REPLICA_FILES.iter().map(|name| path.join(name)).collect();
        for file in &files {
            assert_eq!(mode(file), 0o600, "{}", file.display());
        }
        // A readable file behind a closed directory is out of reach: it opens, and is closed.
        chmod(&files[0], 0o644);
        drop(SledLedger::open(&path, CACHE_CAPACITY_DEFAULT).expect("reachable by none"));
        assert_eq!(mode(&files[0]), 0o600);
        for (dir_mode, file_mode) in [(0o755, 0o644), (0o711, 0o640)] {
            chmod(&path, dir_mode);
            chmod(&files[0], file_mode);
            let refused = match SledLedger::open_or_set_aside(&path, CACHE_CAPACITY_DEFAULT) {
                Ok(_) => panic!("an exposed replica opened"),
                Err(e) => e,
            };
            assert!(
                matches!(&refused, LedgerStoreError::Exposed { mode, .. } if *mode == file_mode),
                "{refused:?}"
            );
            assert!(refused.to_string().contains("chmod"), "{refused}");
        }
        chmod(&files[0], 0o600);
        drop(SledLedger::open(&path, CACHE_CAPACITY_DEFAULT).expect("owner-only files open"));
    }

    fn time() -> Timestamp {
        "2026-05-01T00:00:00Z".parse().expect("ts")
    }

    fn permit(n: u8) -> Change {
        Change::PermitIssued(PermitIssued {
            bp1: format!("BP1:{n}"),
            index: PermitIndex {
                cti: [n; 16],
                holder: [n; 32],
                permit_type: PermitType::WorkPermit,
                valid_from: "2026-01-01".parse().expect("date"),
                valid_until: "2027-01-01".parse().expect("date"),
            },
        })
    }

    fn batch(cursor: &Cursor, changes: Vec<Change>) -> VerifiedBatch {
        let (encoded, head) = extend(cursor.seq, cursor.hash, changes, time());
        let size = cursor.seq + encoded.len() as u64;
        let checkpoint = Checkpoint {
            size,
            root: head,
            time: time(),
        };
        verify_batch(cursor, encoded, checkpoint).expect("chain")
    }

    /// A replica holding permit 1, applied under checkpoint `cp1`.
    fn with_permit_1() -> (tempfile::TempDir, SledLedger, VerifiedBatch) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SledLedger::open(dir.path(), CACHE_CAPACITY_DEFAULT).expect("open");
        let first = batch(&Cursor::EMPTY, vec![permit(1)]);
        store
            .apply(&first, b"cp1", &IndexConsistency)
            .expect("apply");
        (dir, store, first)
    }

    /// Encoded entries after `cursor` and the checkpoint that covers them.
    fn encoded(cursor: &Cursor, changes: Vec<Change>) -> (Vec<Vec<u8>>, Checkpoint) {
        let (encoded, head) = extend(cursor.seq, cursor.hash, changes, time());
        let checkpoint = Checkpoint {
            size: cursor.seq + encoded.len() as u64,
            root: head,
            time: time(),
        };
        (encoded, checkpoint)
    }

    fn revoke(n: u8) -> Change {
        Change::PermitRevoked(PermitRevoked {
            cti: [n; 16],
            reason: "x".into(),
        })
    }

    fn raise(n: u8) -> Change {
        Change::Alert(AlertRaised {
            holder: [n; 32],
            alert: AlertKind::Lost,
            note: "reported".into(),
        })
    }

    /// What a reader sees of holders 1..=9.
    fn seen(store: &SledLedger) -> Vec<String> {
        let today = "2026-06-01".parse().expect("date");
        (1..=9u8)
            .map(|n| {
                let h = HolderDigest([n; 32]);
                format!(
                    "{n}: permits {:?} revoked {} alerts {:?}",
                    store.permits_by_holder(&h).expect("permits"),
                    store.is_revoked(&[n; 16]).expect("revoked"),
                    store.active_alerts(&h, today).expect("alerts"),
                )
            })
            .collect()
    }

    /// A run applied in chunks, whose later chunks depend on earlier ones (a revocation, an
    /// alert lifted, a duplicate), ends exactly where the same entries applied at once end.
    #[test]
    fn a_run_in_chunks_ends_where_one_batch_ends() {
        let changes = vec![
            permit(1),
            permit(2),
            raise(1),
            permit(3),
            revoke(1),
            Change::AlertLifted(AlertLifted { alert_id: 3 }),
            raise(2),
            permit(4),
        ];
        let whole = tempfile::tempdir().expect("tempdir");
        let whole = SledLedger::open(whole.path(), CACHE_CAPACITY_DEFAULT).expect("open");
        let one = batch(&Cursor::EMPTY, changes.clone());
        whole
            .apply(&one, b"cp", &IndexConsistency)
            .expect("one batch");

        for split in [vec![1, 1, 1, 1, 1, 1, 1, 1], vec![3, 2, 3], vec![5, 3]] {
            let dir = tempfile::tempdir().expect("tempdir");
            let store = SledLedger::open(dir.path(), CACHE_CAPACITY_DEFAULT).expect("open");
            let (encoded, checkpoint) = encoded(&Cursor::EMPTY, changes.clone());
            let mut run = store.begin_run(checkpoint, b"cp".to_vec()).expect("begin");
            let mut rest = encoded.into_iter();
            for n in &split {
                run.push(rest.by_ref().take(*n).collect(), &IndexConsistency)
                    .expect("chunk");
                assert_eq!(store.cursor().expect("cursor"), Cursor::EMPTY, "unseen yet");
                assert!(seen(&store).iter().all(|s| s.contains("permits []")));
            }
            assert_eq!(run.finish().expect("finish"), one.next);
            assert_eq!(seen(&store), seen(&whole), "split {split:?}");
            assert_eq!(
                store.entries(1, u64::MAX).expect("entries"),
                whole.entries(1, u64::MAX).expect("entries")
            );
            drop(store);
            let store = SledLedger::open(dir.path(), CACHE_CAPACITY_DEFAULT).expect("reopen");
            assert_eq!(seen(&store), seen(&whole), "after reopen");
        }
    }

    /// Asks for the keys of kid 9 and passes when there are some; counts its calls.
    #[derive(Default)]
    struct NeedsKey(std::sync::atomic::AtomicUsize);

    impl PermitCheck for NeedsKey {
        fn check(
            &self,
            _bp1: &str,
            _index: &PermitIndex,
            _at: Timestamp,
            trust: &dyn IssuerTrust,
        ) -> Result<(), String> {
            self.0.fetch_add(1, Ordering::Relaxed);
            if trust.keys_for(&[9; 8]).is_empty() {
                Err("no key".into())
            } else {
                Ok(())
            }
        }
    }

    /// A bootstrap adds its issuer key in the same run as the permits it signs: the checks made
    /// ahead on every core must see it from the next chunk on, or every permit would be checked a
    /// second time, in order, on one core.
    #[test]
    fn a_run_checks_each_permit_once_after_the_chunk_that_adds_its_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SledLedger::open(dir.path(), CACHE_CAPACITY_DEFAULT).expect("open");
        let key = Change::IssuerKeyAdded(crate::core::ledger::IssuerKeyAdded {
            kid: [9; 8],
            public_key: ed25519_dalek::SigningKey::from_bytes(&[9; 32])
                .verifying_key()
                .to_bytes(),
            sign_from: time(),
            sign_until: time(),
            verify_until: time(),
            permit_types: vec![PermitType::WorkPermit],
        });
        let mut changes = vec![key, permit(1)];
        changes.extend((2..=7).map(permit));
        let (encoded, checkpoint) = encoded(&Cursor::EMPTY, changes);
        let check = NeedsKey::default();
        let mut run = store.begin_run(checkpoint, b"cp".to_vec()).expect("begin");
        run.push(encoded[..2].to_vec(), &check)
            .expect("key and permit 1");
        // Permit 1 was checked ahead without the key (not staged yet), then again in order.
        assert_eq!(check.0.load(Ordering::Relaxed), 2);
        run.push(encoded[2..5].to_vec(), &check)
            .expect("permits 2-4");
        run.push(encoded[5..].to_vec(), &check)
            .expect("permits 5-7");
        run.finish().expect("finish");
        assert_eq!(
            check.0.load(Ordering::Relaxed),
            2 + 6,
            "one check per later permit"
        );
        assert_eq!(store.permit_count(), 7);
    }

    /// A run refused in its second chunk, or dropped unfinished, or whose entries do not reach
    /// its checkpoint's root, leaves nothing a reader sees; the next run is not misled by the
    /// rows it left.
    #[test]
    fn a_run_that_does_not_finish_leaves_nothing_seen() {
        let (_dir, store, first) = with_permit_1();
        let before = seen(&store);

        let changes = vec![permit(2), raise(2), permit(3), revoke(1)];
        let (good, checkpoint) = encoded(&first.next, changes.clone());

        // Refused: the second chunk issues cti 2 again.
        let (dup, dup_checkpoint) = encoded(&first.next, vec![permit(2), raise(2), permit(2)]);
        let mut run = store
            .begin_run(dup_checkpoint, b"x".to_vec())
            .expect("begin");
        run.push(dup[..2].to_vec(), &IndexConsistency)
            .expect("first chunk");
        let refused = run.push(dup[2..].to_vec(), &IndexConsistency);
        assert!(
            matches!(refused, Err(LedgerStoreError::Rejected { seq: 4, .. })),
            "{refused:?}"
        );
        drop(run);
        assert_eq!(seen(&store), before);

        // Dropped after a chunk, as a crash would.
        let mut run = store.begin_run(checkpoint, b"x".to_vec()).expect("begin");
        run.push(good[..3].to_vec(), &IndexConsistency)
            .expect("chunk");
        drop(run);
        assert_eq!(seen(&store), before);

        // Entries that do not hash to the checkpoint's root.
        let forged = Checkpoint {
            root: [7; 32],
            ..checkpoint
        };
        let mut run = store.begin_run(forged, b"x".to_vec()).expect("begin");
        run.push(good.clone(), &IndexConsistency).expect("chunk");
        assert!(matches!(
            run.finish(),
            Err(LedgerStoreError::Chain(ChainError::RootMismatch { .. }))
        ));
        assert_eq!(seen(&store), before);
        assert_eq!(store.cursor().expect("cursor"), first.next);

        // The honest run after all of that.
        let mut run = store.begin_run(checkpoint, b"cp2".to_vec()).expect("begin");
        run.push(good[..1].to_vec(), &IndexConsistency)
            .expect("chunk");
        run.push(good[1..].to_vec(), &IndexConsistency)
            .expect("chunk");
        run.finish().expect("finish");
        let whole = tempfile::tempdir().expect("tempdir");
        let whole = SledLedger::open(whole.path(), CACHE_CAPACITY_DEFAULT).expect("open");
        whole
            .apply(&first, b"cp1", &IndexConsistency)
            .expect("apply");
        whole
            .apply(&batch(&first.next, changes), b"cp2", &IndexConsistency)
            .expect("apply");
        assert_eq!(seen(&store), seen(&whole));
        assert_eq!(
            store.entries(1, 9).expect("entries"),
            whole.entries(1, 9).expect("entries")
        );
    }

    /// A refused run that staged more permit records than the next run writes leaves records
    /// past the published ones, with seqs the cursor covers: the cursor's permit count, not the
    /// seqs, says which records are applied, across a restart too.
    #[test]
    fn records_a_refused_run_left_are_not_read_back() {
        let (dir, store, first) = with_permit_1();
        let (refused, checkpoint) = encoded(
            &first.next,
            vec![permit(2), permit(3), permit(4), permit(2)],
        );
        let mut run = store.begin_run(checkpoint, b"x".to_vec()).expect("begin");
        run.push(refused[..3].to_vec(), &IndexConsistency)
            .expect("three permits staged");
        assert!(run.push(refused[3..].to_vec(), &IndexConsistency).is_err());
        drop(run);

        // The published run: an alert (entry 2) and permit 5 (entry 3), so the refused run's
        // record of permit 3 (entry 3) sits after permit 5's, at a seq the cursor covers.
        let next = batch(&first.next, vec![raise(1), permit(5)]);
        store
            .apply(&next, b"cp2", &IndexConsistency)
            .expect("apply");
        let want = seen(&store);
        assert_eq!(store.permit_count(), 2);
        drop(store);
        let store = SledLedger::open(dir.path(), CACHE_CAPACITY_DEFAULT).expect("reopen");
        assert_eq!(store.permit_count(), 2);
        assert_eq!(seen(&store), want);
        assert!(store.permit(&[3; 16]).expect("lookup").is_none());
        assert_eq!(
            store.permit(&[5; 16]).expect("lookup").map(|p| p.seq),
            Some(3)
        );
    }

    /// Files cut shorter than the cursor needs, or a permit record gone bad, make the open fail
    /// with the file and the reason; nothing panics.
    #[test]
    fn a_damaged_file_is_reported_on_open() {
        for (file, damage, want) in [
            (ENTRIES_FILE, Damage::Cut(1), "entries.log"),
            (ENDS_FILE, Damage::Cut(1), "entries.end"),
            (PERMITS_FILE, Damage::Cut(1), "permits.rec"),
            (PERMITS_FILE, Damage::Byte(48, 0xff), "permit type code 255"),
            (PERMITS_FILE, Damage::Byte(23, 0x09), "names entry 9"),
        ] {
            let (dir, store, _) = with_permit_1();
            drop(store);
            let path = dir.path().join(file);
            let mut bytes = std::fs::read(&path).expect("read");
            match damage {
                Damage::Cut(n) => bytes.truncate(bytes.len() - n),
                Damage::Byte(at, value) => bytes[at] = value,
            }
            std::fs::write(&path, bytes).expect("write");
            match SledLedger::open(dir.path(), CACHE_CAPACITY_DEFAULT) {
                Err(e @ LedgerStoreError::Corrupt { .. }) => {
                    assert!(e.to_string().contains(want), "{file}: {e}");
                }
                Err(e) => panic!("{file}: not reported as corrupt: {e}"),
                Ok(_) => panic!("{file}: damage not noticed"),
            }
        }
    }

    /// A corrupt replica is moved aside and an empty one opens in its place; an intact one opens
    /// as it is.
    #[test]
    fn a_corrupt_replica_is_set_aside_and_replicated_again() {
        let (dir, store, first) = with_permit_1();
        drop(store);
        let path = dir.path().join("replica");
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .expect("dir");
        for name in std::fs::read_dir(dir.path()).expect("list").flatten() {
            if name.file_name() != "replica" {
                std::fs::rename(name.path(), path.join(name.file_name())).expect("move");
            }
        }
        let (store, aside) =
            SledLedger::open_or_set_aside(&path, CACHE_CAPACITY_DEFAULT).expect("intact");
        assert!(aside.is_none());
        assert_eq!(store.cursor().expect("cursor"), first.next);
        drop(store);

        let ends = path.join(super::super::files::ENDS_FILE);
        let len = std::fs::metadata(&ends).expect("meta").len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&ends)
            .and_then(|f| f.set_len(len - 1))
            .expect("cut");
        let (store, aside) =
            SledLedger::open_or_set_aside(&path, CACHE_CAPACITY_DEFAULT).expect("set aside");
        let (aside, why) = aside.expect("corruption reported");
        assert_eq!(aside, dir.path().join("replica.corrupt"));
        assert!(why.to_string().contains("entries.end"), "{why}");
        assert!(
            aside.join(super::super::files::ENDS_FILE).exists(),
            "kept for diagnosis"
        );
        assert_eq!(store.cursor().expect("cursor"), Cursor::EMPTY);
        store
            .apply(&first, b"cp1", &IndexConsistency)
            .expect("replicated again");
        assert_eq!(store.permit_count(), 1);
    }

    /// One writer at a time: a second run or batch is refused while a run is open, and a run
    /// whose chunk failed cannot be finished (its chain moved past entries never staged).
    #[test]
    fn one_writer_at_a_time_and_a_failed_run_never_finishes() {
        let (_dir, store, first) = with_permit_1();
        let (good, checkpoint) = encoded(&first.next, vec![permit(2), raise(2)]);
        let mut run = store.begin_run(checkpoint, b"cp2".to_vec()).expect("begin");
        assert!(matches!(
            store.begin_run(checkpoint, b"cp2".to_vec()),
            Err(LedgerStoreError::Busy)
        ));
        assert!(matches!(
            store.apply(
                &batch(&first.next, vec![permit(3)]),
                b"x",
                &IndexConsistency
            ),
            Err(LedgerStoreError::Busy)
        ));
        run.push(good.clone(), &IndexConsistency).expect("chunk");
        run.finish().expect("finish");
        assert_eq!(store.permit_count(), 2);

        let (refused, checkpoint) = encoded(
            &store.cursor().expect("cursor"),
            vec![permit(4), permit(1), permit(5)],
        );
        let mut run = store.begin_run(checkpoint, b"x".to_vec()).expect("begin");
        assert!(matches!(
            run.push(refused[..2].to_vec(), &IndexConsistency),
            Err(LedgerStoreError::Rejected { .. })
        ));
        assert!(matches!(
            run.push(refused[2..].to_vec(), &IndexConsistency),
            Err(LedgerStoreError::RunFailed)
        ));
        assert!(matches!(run.finish(), Err(LedgerStoreError::RunFailed)));
        assert_eq!(store.permit_count(), 2);
        assert!(store.permit(&[4; 16]).expect("lookup").is_none());
        // The writer is free again once the run is gone.
        store
            .apply(
                &batch(&store.cursor().expect("cursor"), vec![permit(6)]),
                b"cp3",
                &IndexConsistency,
            )
            .expect("next writer");
    }

    /// A replica of the older layout whose first catch-up was cut off (rows staged, no cursor)
    /// is cleared too: its rows would not decode in this layout.
    #[test]
    fn an_older_replica_without_a_cursor_is_cleared_too() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let db = sled::Config::new().path(dir.path()).open().expect("db");
            db.open_tree(TREE_NAMES[META])
                .expect("meta")
                .insert(META_LAYOUT, b"3")
                .expect("layout");
            db.open_tree(TREE_NAMES[REVOKED])
                .expect("revoked")
                .insert([1; 16], vec![3u8, 0, 0])
                .expect("old row");
            db.flush().expect("flush");
        }
        // Made before replicas were owner-only: the operator closes its directory first.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
            .expect("chmod");
        let store = SledLedger::open(dir.path(), CACHE_CAPACITY_DEFAULT).expect("open");
        assert!(!store.is_revoked(&[1; 16]).expect("no old row left"));
        let first = batch(&Cursor::EMPTY, vec![permit(1), revoke(1)]);
        store
            .apply(&first, b"cp1", &IndexConsistency)
            .expect("replicated");
        assert!(store.is_revoked(&[1; 16]).expect("revoked"));
    }

    enum Damage {
        Cut(usize),
        Byte(usize, u8),
    }

    /// Refuses the permit whose text says "bad".
    struct RefusesBad;

    impl PermitCheck for RefusesBad {
        fn check(
            &self,
            bp1: &str,
            _index: &PermitIndex,
            _at: Timestamp,
            _trust: &dyn IssuerTrust,
        ) -> Result<(), String> {
            if bp1.contains("bad") {
                Err("bad signature".into())
            } else {
                Ok(())
            }
        }
    }

    /// Two entries of one chunk issue the same cti, the first with a text that fails its check:
    /// the run is refused at the first, for its check (the second's passing check made ahead
    /// must not stand in for it).
    #[test]
    fn a_check_made_ahead_replays_only_for_its_own_entry() {
        let (_dir, store, first) = with_permit_1();
        let Change::PermitIssued(good) = permit(2) else {
            unreachable!("permit() issues a permit")
        };
        let bad = Change::PermitIssued(PermitIssued {
            bp1: "BP1:bad".into(),
            ..good.clone()
        });
        let refused = store.apply(
            &batch(&first.next, vec![bad, Change::PermitIssued(good)]),
            b"cp2",
            &RefusesBad,
        );
        assert!(
            matches!(
                refused,
                Err(LedgerStoreError::Rejected {
                    seq: 2,
                    rejection: crate::core::ledger::Rejection::PermitCheck { .. }
                })
            ),
            "{refused:?}"
        );
    }

    /// A replica of an earlier layout (a `permits_by_holder` tree, no layout mark) is cleared
    /// on open, so replication starts it again from the first entry.
    #[test]
    fn a_replica_of_an_older_layout_is_cleared_on_open() {
        let (dir, store, first) = with_permit_1();
        store.trees[META].remove(META_LAYOUT).expect("unmark");
        store
            .db
            .open_tree("permits_by_holder")
            .expect("old tree")
            .insert(b"k", b"v")
            .expect("insert");
        store.db.flush().expect("flush");
        drop(store);

        let store = SledLedger::open(dir.path(), CACHE_CAPACITY_DEFAULT).expect("reopen");
        assert_eq!(store.cursor().expect("cursor"), Cursor::EMPTY);
        assert_eq!(store.permit_count(), 0);
        assert!(store.entries(1, u64::MAX).expect("entries").is_empty());
        assert!(
            !store
                .db
                .tree_names()
                .iter()
                .any(|n| n == b"permits_by_holder")
        );
        store
            .apply(&first, b"cp1", &IndexConsistency)
            .expect("replicated again");
        drop(store);
        let store = SledLedger::open(dir.path(), CACHE_CAPACITY_DEFAULT).expect("reopen");
        assert_eq!(store.cursor().expect("cursor"), first.next, "marked: kept");
        assert_eq!(store.permit_count(), 1);
    }

    /// A cti issued before, in an earlier batch or earlier in the same one, is refused and the
    /// store stays where it was.
    #[test]
    fn a_permit_issued_twice_is_refused() {
        let (_dir, store, first) = with_permit_1();
        let again = |changes| batch(&first.next, changes);
        for changes in [vec![permit(2), permit(1)], vec![permit(2), permit(2)]] {
            let refused = store.apply(&again(changes), b"cp2", &IndexConsistency);
            assert!(
                matches!(
                    refused,
                    Err(LedgerStoreError::Rejected {
                        seq: 3,
                        rejection: crate::core::ledger::Rejection::DuplicatePermit { .. }
                    })
                ),
                "{refused:?}"
            );
            assert_eq!(store.cursor().expect("cursor"), first.next);
            assert!(store.permit(&[2; 16]).expect("lookup").is_none());
            assert_eq!(store.permit_count(), 1);
        }
    }

    #[test]
    fn rows_round_trip_and_truncation_is_reported() {
        let stamp = RunStamp {
            applied: 6,
            last: 7,
            run: 9,
        };
        let row = Row::encode(&stamp, Some(b"now"), None);
        let decoded = Row::decode("t", &row).expect("decode");
        assert_eq!((decoded.at(7), decoded.at(6)), (Some(&b"now"[..]), None));
        for cut in 0..row.len() {
            assert!(Row::decode("t", &row[..cut]).is_err(), "cut at {cut}");
        }
        let mut long = row.clone();
        long.push(0);
        assert!(Row::decode("t", &long).is_err());
    }

    /// A batch staged but never published (the process died before the cursor moved) is
    /// invisible after a restart, and applying it again makes it visible exactly once.
    #[test]
    fn a_staged_batch_is_invisible_until_its_cursor_is_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SledLedger::open(dir.path(), CACHE_CAPACITY_DEFAULT).expect("open");
        let first = batch(&Cursor::EMPTY, vec![permit(1), permit(2)]);
        store
            .apply(&first, b"cp1", &IndexConsistency)
            .expect("apply");
        let alert = AlertRaised {
            holder: [1; 32],
            alert: AlertKind::Lost,
            note: "reported".into(),
        };
        let second = batch(
            &first.next,
            vec![
                permit(3),
                Change::PermitRevoked(PermitRevoked {
                    cti: [1; 16],
                    reason: "x".into(),
                }),
                Change::Alert(alert),
                Change::AlertLifted(AlertLifted { alert_id: 5 }),
            ],
        );
        let applied = store.applied();
        let entries_end = store.files.entry_end(first.next.seq).expect("end");
        let mut staging = Staging::new(&applied, second.next.seq, entries_end);
        store
            .stage_chunk(&mut staging, &second.entries, &IndexConsistency)
            .expect("stage");
        drop(store);

        let store = SledLedger::open(dir.path(), CACHE_CAPACITY_DEFAULT).expect("reopen");
        let h = |n: u8| HolderDigest([n; 32]);
        assert_eq!(store.cursor().expect("cursor"), first.next);
        assert_eq!(store.entries(1, u64::MAX).expect("entries").len(), 2);
        assert!(store.permits_by_holder(&h(3)).expect("lookup").is_empty());
        assert_eq!(store.permit(&[3; 16]).expect("lookup"), None);
        assert!(!store.is_revoked(&[1; 16]).expect("revoked"));
        assert_eq!(
            store.signed_checkpoint().expect("cp"),
            Some(b"cp1".to_vec())
        );

        store
            .apply(&second, b"cp2", &IndexConsistency)
            .expect("reapply");
        assert_eq!(store.permits_by_holder(&h(3)).expect("lookup").len(), 1);
        assert!(store.is_revoked(&[1; 16]).expect("revoked"));
        let today = "2026-06-01".parse().expect("date");
        assert!(
            store
                .active_alerts(&h(1), today)
                .expect("alerts")
                .is_empty()
        );
        assert_eq!(store.entries(1, u64::MAX).expect("entries").len(), 6);
    }
}
