//! The terminal's side: `Replicator` pulls from its own cursor (or bootstraps from a
//! snapshot), verifies and applies in runs on a lower-priority thread, with backoff between
//! failed rounds.

use super::*;
use crate::adapters::nats::IntoCentralLink;

/// Exponential backoff with full jitter, for reconnects and failed rounds.
#[derive(Clone, Debug)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            attempt: 0,
        }
    }

    /// The next delay; grows until `max`.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self
            .initial
            .saturating_mul(1u32 << self.attempt.min(16))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        ceiling.mul_f64(rand::random::<f64>().max(0.1))
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// What the feed of a run sends to the thread applying it.
pub(super) enum RunChunk {
    /// The next entries, in order.
    Entries(Vec<Vec<u8>>),
    /// Every entry was sent: finish the run.
    End,
}

/// The terminal side: pulls from its own cursor, verifies, applies.
pub struct Replicator<S, U = JetStreamSource> {
    source: U,
    store: S,
    roots: RootSet,
    check: Arc<dyn PermitCheck + Send + Sync>,
    /// Entries per chunk of a run ([`RUN_CHUNK_ENTRIES`] unless a test asks for fewer).
    run_chunk_entries: usize,
    /// Where a snapshot is downloaded before it is read (the replica's disk, not memory); `None`:
    /// a temporary file of its own.
    snapshot_dir: Option<PathBuf>,
    /// Told `(entries read, entries in the snapshot)` as a bootstrap goes.
    progress: Option<BootstrapProgress>,
}

/// A bootstrap's progress callback: `(entries read, entries in the snapshot)`.
pub type BootstrapProgress = Arc<dyn Fn(u64, u64) + Send + Sync>;

impl<S: LedgerStore + Clone + Send + 'static> Replicator<S> {
    /// A replicator reading central's JetStream streams at `url`.
    pub async fn connect(
        link: impl IntoCentralLink,
        store: S,
        roots: RootSet,
        check: Arc<dyn PermitCheck + Send + Sync>,
    ) -> Result<Self, ReplicationError> {
        Ok(Self::new(
            JetStreamSource::connect(link).await?,
            store,
            roots,
            check,
        ))
    }
}

impl<S: LedgerStore + Clone + Send + 'static, U: LedgerSource> Replicator<S, U> {
    pub fn new(
        source: U,
        store: S,
        roots: RootSet,
        check: Arc<dyn PermitCheck + Send + Sync>,
    ) -> Self {
        Self {
            source,
            store,
            roots,
            check,
            run_chunk_entries: RUN_CHUNK_ENTRIES,
            snapshot_dir: None,
            progress: None,
        }
    }

    /// Downloads snapshots into `dir` (the data directory: a snapshot of a million permits is
    /// about 700 MB, and a temporary directory may be memory).
    pub fn with_snapshot_dir(mut self, dir: &Path) -> Self {
        self.snapshot_dir = Some(dir.to_path_buf());
        self
    }

    /// Tells `progress` how far a bootstrap has read, after every chunk (the status shows
    /// `bootstrapping n/N`).
    pub fn with_bootstrap_progress(mut self, progress: BootstrapProgress) -> Self {
        self.progress = Some(progress);
        self
    }

    /// Applies runs in chunks of `entries` (at least one): tests make runs span many chunks.
    pub fn with_run_chunk_entries(mut self, entries: usize) -> Self {
        self.run_chunk_entries = entries.max(1);
        self
    }

    /// One round: read the latest checkpoint, fetch what it covers beyond the cursor (from the
    /// stream, or a snapshot if the stream no longer has it), verify, apply atomically.
    pub async fn sync_once(&self) -> Result<ReplicationOutcome, ReplicationError> {
        let Some(raw) = self.source.latest_checkpoint().await? else {
            return Ok(ReplicationOutcome::NoCheckpoint);
        };
        let signed = SignedCheckpoint::decode(&raw)?;
        let checkpoint = self.roots.verify(&signed)?;
        let cursor = self.store.cursor()?;
        if checkpoint.size < cursor.seq {
            return Ok(ReplicationOutcome::UpToDate { seq: cursor.seq });
        }
        if checkpoint.size == cursor.seq {
            if checkpoint.root != cursor.hash {
                return Err(ReplicationError::Fork {
                    size: checkpoint.size,
                    applied: cursor.seq,
                });
            }
            // Central re-signs an unchanged head to say "nothing new": keeping that checkpoint
            // is what keeps a quiet ledger's age (and the stale flag) honest.
            if cursor.checkpoint.is_none_or(|c| checkpoint.time > c.time) {
                self.apply_run(checkpoint, raw, |_| async { Ok(()) })
                    .await?;
            }
            return Ok(ReplicationOutcome::UpToDate { seq: cursor.seq });
        }
        if cursor.seq + 1 < self.source.first_seq().await? {
            return self.bootstrap(cursor).await;
        }
        let (from, to) = (cursor.seq + 1, checkpoint.size);
        let chunk = u64::try_from(self.run_chunk_entries).unwrap_or(u64::MAX);
        self.apply_run(checkpoint, raw, |chunks| async move {
            let mut next = from;
            while next <= to {
                let last = to.min(next.saturating_add(chunk - 1));
                let encoded = self.source.entries(next, last).await?;
                if chunks.send(RunChunk::Entries(encoded)).await.is_err() {
                    // The run stopped (it refused an entry): its error is the answer.
                    break;
                }
                next = last + 1;
            }
            Ok(())
        })
        .await?;
        Ok(ReplicationOutcome::Applied {
            from: cursor.seq + 1,
            to: checkpoint.size,
        })
    }

    /// Applies the run of entries up to `checkpoint` that `feed` sends in chunks (none: only the
    /// newer checkpoint is kept). Verification and writing are CPU and disk work: they run off
    /// the runtime, on a thread of lower priority (its helper threads inherit it), so a catch-up
    /// never delays a lane's verdict. Nothing is visible until the whole run has been checked.
    pub(super) async fn apply_run<'a, F, Fut>(
        &'a self,
        checkpoint: Checkpoint,
        signed_checkpoint: Vec<u8>,
        feed: F,
    ) -> Result<(), ReplicationError>
    where
        F: FnOnce(tokio::sync::mpsc::Sender<RunChunk>) -> Fut,
        Fut: Future<Output = Result<(), ReplicationError>> + 'a,
    {
        let store = self.store.clone();
        let check = Arc::clone(&self.check);
        // One chunk in flight beside the one being applied: fetching overlaps applying.
        let (chunks, mut received) = tokio::sync::mpsc::channel::<RunChunk>(1);
        let (done, result) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("ledger-apply".into())
            .spawn(move || {
                lower_priority();
                let applied = (|| {
                    let mut run = store.begin_run(checkpoint, signed_checkpoint)?;
                    while let Some(chunk) = received.blocking_recv() {
                        match chunk {
                            RunChunk::Entries(encoded) => run.push(encoded, check.as_ref())?,
                            RunChunk::End => return run.finish().map(Some),
                        }
                    }
                    // The feed failed: the run is dropped unfinished, and nothing of it is seen.
                    Ok(None)
                })();
                let _ = done.send(applied);
            })
            .map_err(|e| ReplicationError::Nats(format!("apply thread not started: {e}")))?;
        let fed = feed(chunks.clone()).await;
        if fed.is_ok() {
            // A closed channel means the run already stopped: its result says why.
            let _ = chunks.send(RunChunk::End).await;
        }
        drop(chunks);
        let applied = result
            .await
            .map_err(|_| ReplicationError::Nats("apply thread ended without an answer".into()))?;
        match (fed, applied) {
            // A refused entry explains a feed cut short.
            (
                _,
                Err(refused @ (LedgerStoreError::Rejected { .. } | LedgerStoreError::Chain(_))),
            ) => Err(refused.into()),
            (Err(failed), _) => Err(failed),
            (Ok(()), Err(failed)) => Err(failed.into()),
            (Ok(()), Ok(Some(_))) => Ok(()),
            (Ok(()), Ok(None)) => Err(ReplicationError::Nats(
                "the run's feed ended without finishing it".into(),
            )),
        }
    }

    /// Bootstraps from central's snapshot: downloaded to a file, then read, verified and applied
    /// a chunk at a time, so memory does not grow with the ledger.
    pub(super) async fn bootstrap(
        &self,
        cursor: Cursor,
    ) -> Result<ReplicationOutcome, ReplicationError> {
        // In the data directory the name is fixed, so a file a crash left is overwritten by the
        // next bootstrap rather than piling up.
        let temporary;
        let path = match &self.snapshot_dir {
            Some(dir) => dir.join(SNAPSHOT_FILE),
            None => {
                temporary = tempfile::NamedTempFile::new()
                    .map_err(|e| scratch_error(&std::env::temp_dir(), e))?
                    .into_temp_path();
                temporary.to_path_buf()
            }
        };
        let result = match self.source.snapshot_into(&path).await {
            Ok(_) => self.bootstrap_from(&path, cursor).await,
            Err(error) => Err(error),
        };
        if let Err(error) = tokio::fs::remove_file(&path).await
            && error.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(%error, path = %path.display(), "snapshot file not removed");
        }
        result
    }

    pub(super) async fn bootstrap_from(
        &self,
        path: &Path,
        cursor: Cursor,
    ) -> Result<ReplicationOutcome, ReplicationError> {
        let file = path.to_path_buf();
        let mut reader = tokio::task::spawn_blocking(move || {
            let opened = std::fs::File::open(&file).map_err(|e| scratch_error(&file, e))?;
            SnapshotReader::new(std::io::BufReader::new(opened))
        })
        .await
        .map_err(|e| scratch_error(path, e))??;
        let signed = SignedCheckpoint::decode(&reader.checkpoint)?;
        let checkpoint = self.roots.verify(&signed)?;
        if checkpoint.size <= cursor.seq {
            let stream_first = cursor.seq + 1;
            return Err(ReplicationError::Missing {
                from: stream_first,
                to: checkpoint.size.max(stream_first),
            });
        }
        if reader.len() != checkpoint.size {
            return Err(ReplicationError::Snapshot(format!(
                "it holds {} entries but its checkpoint covers {}",
                reader.len(),
                checkpoint.size
            )));
        }
        let chunk = self.run_chunk_entries;
        let signed_checkpoint = reader.checkpoint.clone();
        let progress = self.progress.clone();
        let read = |chunks: tokio::sync::mpsc::Sender<RunChunk>| async move {
            tokio::task::spawn_blocking(move || {
                // The replica already holds the entries up to its cursor.
                for _ in 0..cursor.seq {
                    reader.next_entry()?;
                }
                let mut done = cursor.seq;
                loop {
                    let mut encoded = Vec::with_capacity(chunk);
                    while encoded.len() < chunk {
                        match reader.next_entry()? {
                            Some(entry) => encoded.push(entry),
                            None => break,
                        }
                    }
                    done += encoded.len() as u64;
                    if encoded.is_empty()
                        || chunks.blocking_send(RunChunk::Entries(encoded)).is_err()
                    {
                        return Ok(());
                    }
                    if let Some(progress) = &progress {
                        progress(done, checkpoint.size);
                    }
                }
            })
            .await
            .map_err(|e| ReplicationError::Snapshot(format!("reader stopped: {e}")))?
        };
        self.apply_run(checkpoint, signed_checkpoint, read).await?;
        Ok(ReplicationOutcome::Bootstrapped {
            to: checkpoint.size,
        })
    }

    /// Replicates until a fatal error: a round every `interval`, backing off on transient
    /// failures. Returns the fatal error (the caller raises the alert).
    pub async fn follow(&self, interval: Duration, mut backoff: Backoff) -> ReplicationError {
        loop {
            match self.sync_once().await {
                Ok(outcome) => {
                    backoff.reset();
                    tracing::debug!(?outcome, "ledger replication round");
                    tokio::time::sleep(interval).await;
                }
                Err(e) if e.is_fatal() => return e,
                Err(e) => {
                    let delay = backoff.next_delay();
                    tracing::warn!(error = %e, ?delay, "ledger replication failed; retrying");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// The replica being written.
    pub fn store(&self) -> &S {
        &self.store
    }
}

/// Lowers the calling thread's scheduling priority (on Linux the nice value is per thread, and
/// threads it starts inherit it). The replicator applies every batch on such a thread.
pub fn lower_priority() {
    if let Err(error) = rustix::process::nice(APPLY_NICE) {
        tracing::debug!(%error, "ledger apply keeps normal priority");
    }
}

/// Scheduling niceness added for ledger application.
pub(super) const APPLY_NICE: i32 = 10;
