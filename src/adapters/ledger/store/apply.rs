//! Applying verified batches: each chunk checked against the overlay (permit signatures
//! checked once, ahead, in parallel), staged to sled and the files, and published by the cursor;
//! `LedgerStore` and its runs.

use super::*;

/// The issuer keys visible at the cursor, recording what a permit check asked for.
pub(super) struct RecordingTrust<'a> {
    pub(super) store: &'a SledLedger,
    pub(super) stamp: &'a RunStamp,
    /// Keys this worker has read, as the run stands before the chunk (a bootstrap adds its
    /// issuer keys in the same run as the permits they sign).
    pub(super) known: &'a RefCell<HashMap<Kid, Vec<IssuerKey>>>,
    pub(super) asked: RefCell<Vec<(Kid, Vec<IssuerKey>)>>,
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
pub(super) type Passed = HashMap<CheckInput, Vec<(Kid, Vec<IssuerKey>)>>;

/// A digest of everything a permit check is given but the trust list: two entries issuing the
/// same cti (the second is refused) are told apart, so a check replays only for its own input.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct CheckInput(pub(super) [u8; 32]);

impl CheckInput {
    pub(super) fn of(bp1: &str, index: &PermitIndex, at: Timestamp) -> Self {
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
pub(super) struct Prechecked<'a> {
    pub(super) inner: &'a dyn PermitCheck,
    pub(super) passed: Passed,
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
pub(super) struct Staging {
    pub(super) stamp: RunStamp,
    /// Issuer keys as the run has left them.
    pub(super) issuer_keys: HashMap<Kid, Vec<IssuerKey>>,
    /// The run's permits, for the directory once the run is published.
    pub(super) permits: PendingPermits,
    /// The run's ctis, so that a cti issued twice in one run is refused.
    pub(super) ctis: HashSet<Cti>,
    /// Where the next entry goes in the entry file.
    pub(super) entries_end: u64,
    /// Permit records the cursor covered when the run began.
    pub(super) permits_before: u64,
}

impl Staging {
    pub(super) fn new(applied: &Applied, last: u64, entries_end: u64) -> Self {
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
    pub(super) fn permits_after(&self) -> u64 {
        self.permits_before + self.permits.len() as u64
    }
}

/// A chunk that passed its checks: the rows to write, its permits and the issuer keys as it
/// leaves them.
pub(super) struct CheckedChunk {
    pub(super) rows: PendingRows,
    pub(super) permits: Vec<HeldPermit>,
    pub(super) issuer_keys: HashMap<Kid, Vec<IssuerKey>>,
}

impl SledLedger {
    /// Checks and stages one chunk of a run: every entry against the store as the run has left
    /// it, then the chunk's entries and rows written and flushed, invisible until the run ends.
    pub(super) fn stage_chunk(
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
    pub(super) fn check(
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
    pub(super) fn precheck(
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
    pub(super) fn stage(
        &self,
        rows: &PendingRows,
        stamp: &RunStamp,
    ) -> Result<(), LedgerStoreError> {
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
    pub(super) fn publish(
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

    pub(super) fn check_cursor(&self, expected: u64) -> Result<u64, LedgerStoreError> {
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
