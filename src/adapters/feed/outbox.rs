//! The durable outbox: each crossing becomes a signed event, an outbox row, a movement and the
//! next sequence, flushed (group-committed) before the caller hears "recorded".
//!
//! No sled transaction or batch: in sled 0.34 both take a process-wide lock that stalls every
//! reader in the process (and sat in the stacks of a wedged fleet run). Each batch is written key
//! by key in an order that `outbox_head::finish_written` can complete after a crash or an I/O
//! error.

use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::FeedError;
use super::index::{MovementIndex, MovementRow, movement_entry, open_log};
use super::movement_log::MovementLog;
use super::outbox_head::{finish_written, read_head, write_head};
use super::subjects::event_subject;
use super::trees::{Trees, decode_u64};
use crate::core::event::{ChainHead, Crossing, EventHash, Stamp, TerminalId, chain};
use crate::ports::clock::Clock;
use crate::ports::upstream::{
    ConfirmationKey, CrossingRecorder, KeptConfirmation, Recorded, UpstreamError,
};
use ed25519_dalek::SigningKey;

/// Most crossings committed by one transaction and one flush.
pub const GROUP_COMMIT_MAX: usize = 256;
/// Requests that may wait for the committer before `record` blocks.
const QUEUE_DEPTH_MAX: usize = 4096;
/// sled page cache of the crossings database by default. It holds the outbox, this terminal's
/// events and the index's cursor; the movement lists are in the index's own files.
pub const CACHE_CAPACITY_BYTES_DEFAULT: u64 = 64 * 1024 * 1024;

/// How to open an outbox.
#[derive(Clone, Debug)]
pub struct OutboxConfig {
    /// This terminal.
    pub terminal: TerminalId,
    /// The terminal's time zone (recorded with every event).
    pub time_zone: jiff::tz::TimeZone,
}

/// A row waiting for central's PubAck.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxRow {
    /// Per-terminal sequence.
    pub seq: u64,
    /// Subject to publish on.
    pub subject: String,
    /// The signed event.
    pub signed: Vec<u8>,
}

type Reply = mpsc::SyncSender<Result<Recorded, FeedError>>;

struct Request {
    crossing: Crossing,
    /// The confirmation's idempotency key, kept with the record.
    key: Option<ConfirmationKey>,
    reply: Reply,
}

struct Inner {
    db: sled::Db,
    trees: Arc<Trees>,
    log: Arc<MovementLog>,
    terminal: TerminalId,
    requests: Mutex<Option<mpsc::SyncSender<Request>>>,
    committer: Mutex<Option<JoinHandle<()>>>,
    appended: Arc<tokio::sync::Notify>,
    /// Most rows that may wait for central (`limits.outbox_events_max`).
    rows_max: AtomicU64,
    /// Rows waiting for central, counted here because sled counts a tree by walking it.
    depth: Arc<AtomicUsize>,
    /// A backwards clock step larger than this marks a crossing `clock_suspect` (ms).
    clock_tolerance_ms: Arc<AtomicU64>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Ok(mut requests) = self.requests.lock() {
            requests.take();
        }
        if let Ok(mut committer) = self.committer.lock()
            && let Some(handle) = committer.take()
        {
            let _ = handle.join();
        }
    }
}

/// The durable crossing outbox of one terminal. Cheap to clone; all clones share one committer.
#[derive(Clone)]
pub struct Outbox {
    inner: Arc<Inner>,
}

impl Outbox {
    /// Opens (or creates) the outbox database in `dir` with the default page cache and starts
    /// its committer thread.
    pub fn open(
        dir: &Path,
        config: OutboxConfig,
        key: SigningKey,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, FeedError> {
        Self::open_with_cache(dir, config, key, clock, CACHE_CAPACITY_BYTES_DEFAULT)
    }

    /// As [`Outbox::open`], with a page cache of `cache_capacity_bytes`
    /// (`[retention] cache_capacity_bytes`).
    pub fn open_with_cache(
        dir: &Path,
        config: OutboxConfig,
        key: SigningKey,
        clock: Arc<dyn Clock>,
        cache_capacity_bytes: u64,
    ) -> Result<Self, FeedError> {
        let db = crate::adapters::open_sled(
            &sled::Config::new()
                .path(dir)
                .cache_capacity(cache_capacity_bytes),
        )?;
        let trees = Arc::new(Trees::open(&db)?);
        let log = Arc::new(open_log(dir, &db, &trees)?);
        let index = MovementIndex::new(
            db.clone(),
            Arc::clone(&trees),
            Arc::clone(&log),
            &config.terminal,
        );
        let head = finish_written(
            &trees,
            read_head(&trees.meta)?,
            &config.terminal,
            key.verifying_key(),
        )?;
        index_own_events(&index, &trees, &config.terminal, &key)?;
        let depth = Arc::new(AtomicUsize::new(trees.outbox.len()));
        let appended = Arc::new(tokio::sync::Notify::new());
        let clock_tolerance_ms = Arc::new(AtomicU64::new(0));
        let (sender, receiver) = mpsc::sync_channel(QUEUE_DEPTH_MAX);
        let committer = Committer {
            db: db.clone(),
            trees: Arc::clone(&trees),
            index,
            config: config.clone(),
            key,
            clock,
            head,
            appended: Arc::clone(&appended),
            depth: Arc::clone(&depth),
            clock_tolerance_ms: Arc::clone(&clock_tolerance_ms),
            unfinished: false,
        };
        let handle = std::thread::Builder::new()
            .name("outbox-commit".into())
            .spawn(move || committer.run(receiver))
            .map_err(|e| FeedError::Transaction(format!("spawn committer: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                trees,
                log,
                terminal: config.terminal,
                requests: Mutex::new(Some(sender)),
                committer: Mutex::new(Some(handle)),
                appended,
                rows_max: AtomicU64::new(u64::MAX),
                depth,
                clock_tolerance_ms,
            }),
        })
    }

    /// Refuses new crossings while `max` rows wait for central. Concurrent records may pass the
    /// limit by the few that were already queued.
    pub fn set_rows_max(&self, max: u64) {
        self.inner
            .rows_max
            .store(max, std::sync::atomic::Ordering::Relaxed);
    }

    /// Marks a crossing `clock_suspect` only when the wall clock is more than `tolerance` behind
    /// the latest recorded time (`[lane] clock_backwards_tolerance_ms`); zero until set.
    pub fn set_clock_backwards_tolerance(&self, tolerance: std::time::Duration) {
        let ms = u64::try_from(tolerance.as_millis()).unwrap_or(u64::MAX);
        self.inner
            .clock_tolerance_ms
            .store(ms, std::sync::atomic::Ordering::Relaxed);
    }

    /// This terminal's id.
    pub fn terminal(&self) -> &TerminalId {
        &self.inner.terminal
    }

    /// Records one crossing durably. Blocks until it is flushed (group-committed with whatever
    /// else is waiting).
    pub fn record(&self, crossing: Crossing) -> Result<Recorded, FeedError> {
        self.submit(crossing, None)
    }

    /// As [`Outbox::record`], keeping `key` → the confirmation in the same transaction.
    pub fn record_keyed(
        &self,
        crossing: Crossing,
        key: ConfirmationKey,
    ) -> Result<Recorded, FeedError> {
        self.submit(crossing, Some(key))
    }

    /// The confirmation kept under `key`, if the event it names was written. A key is written
    /// just before its event, so a write that stopped between the two leaves a key whose
    /// sequence holds no event or, once the chain moved on, another one: not a confirmation.
    pub fn kept(&self, key: &str) -> Result<Option<KeptConfirmation>, FeedError> {
        let Some(bytes) = self.inner.trees.idempotency.get(key.as_bytes())? else {
            return Ok(None);
        };
        let kept: KeptConfirmation =
            serde_json::from_slice(&bytes).map_err(|e| FeedError::Corrupt {
                what: "idempotency".into(),
                why: e.to_string(),
            })?;
        let written = self.inner.trees.events.get(kept.seq.to_be_bytes())?;
        Ok(written
            .filter(|signed| EventHash::of(signed) == kept.event_hash)
            .map(|_| kept))
    }

    fn submit(
        &self,
        crossing: Crossing,
        key: Option<ConfirmationKey>,
    ) -> Result<Recorded, FeedError> {
        crossing.validate()?;
        let max = self
            .inner
            .rows_max
            .load(std::sync::atomic::Ordering::Relaxed);
        let depth = self.depth();
        if depth as u64 >= max {
            return Err(FeedError::Full { depth, max });
        }
        let sender = self
            .inner
            .requests
            .lock()
            .map_err(|_| FeedError::Closed)?
            .clone()
            .ok_or(FeedError::Closed)?;
        let (reply, answer) = mpsc::sync_channel(1);
        sender
            .send(Request {
                crossing,
                key,
                reply,
            })
            .map_err(|_| FeedError::Closed)?;
        answer.recv().map_err(|_| FeedError::Closed)?
    }

    /// Up to `limit` rows still waiting for a PubAck, in sequence order, after `after`.
    pub fn pending(&self, after: Option<u64>, limit: usize) -> Result<Vec<OutboxRow>, FeedError> {
        let start = after.map_or(0, |seq| seq.saturating_add(1));
        let mut rows = Vec::new();
        for entry in self
            .inner
            .trees
            .outbox
            .range(start.to_be_bytes()..)
            .take(limit)
        {
            let (key, subject) = entry?;
            let seq = decode_u64(&key, "outbox key")?;
            let signed = self
                .inner
                .trees
                .events
                .get(key)?
                .ok_or_else(|| FeedError::Corrupt {
                    what: format!("events[{seq}]"),
                    why: "outbox row without its event".into(),
                })?;
            let subject = String::from_utf8(subject.to_vec()).map_err(|_| FeedError::Corrupt {
                what: format!("outbox[{seq}]"),
                why: "subject is not UTF-8".into(),
            })?;
            rows.push(OutboxRow {
                seq,
                subject,
                signed: signed.to_vec(),
            });
        }
        Ok(rows)
    }

    /// Central acknowledged `seq`: its row leaves the outbox (the event stays for audit).
    pub fn acknowledge(&self, seq: u64) -> Result<(), FeedError> {
        if self.inner.trees.outbox.remove(seq.to_be_bytes())?.is_some() {
            // Saturating: a recount after a failed write may race an acknowledgement.
            let _ = self
                .inner
                .depth
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |depth| {
                    Some(depth.saturating_sub(1))
                });
        }
        Ok(())
    }

    /// The latest wall time any recorded crossing carried (persisted across restarts): a clock
    /// reading behind it must not be trusted for a decision.
    pub fn clock_high_water(&self) -> Result<Option<jiff::Timestamp>, FeedError> {
        Ok(read_head(&self.inner.trees.meta)?.clock_high_water)
    }

    /// Rows still waiting for central.
    pub fn depth(&self) -> usize {
        self.inner.depth.load(Ordering::Relaxed)
    }

    /// The signed event with this sequence, if still kept.
    pub fn event(&self, seq: u64) -> Result<Option<Vec<u8>>, FeedError> {
        Ok(self
            .inner
            .trees
            .events
            .get(seq.to_be_bytes())?
            .map(|v| v.to_vec()))
    }

    /// Persists acknowledgements (rows removed since the last flush), on a blocking thread.
    /// Not sled's own `flush_async`: that blocks one of sled's few I/O threads until the flush
    /// is done, while the buffer writes the flush waits for queue for those same threads; with
    /// eight relays acknowledging at once every outbox of `tests/fleet.rs` wedged.
    pub async fn flush_async(&self) -> Result<(), FeedError> {
        let db = self.inner.db.clone();
        tokio::task::spawn_blocking(move || db.flush())
            .await
            .map_err(|e| FeedError::Transaction(format!("flush task: {e}")))??;
        Ok(())
    }

    /// Resolves when a crossing has been appended since the last call (or one was pending).
    pub async fn appended(&self) {
        self.inner.appended.notified().await;
    }

    /// The movement index stored alongside the outbox.
    pub fn movement_index(&self) -> MovementIndex {
        MovementIndex::new(
            self.inner.db.clone(),
            Arc::clone(&self.inner.trees),
            Arc::clone(&self.inner.log),
            &self.inner.terminal,
        )
    }
}

impl CrossingRecorder for Outbox {
    fn record(&self, crossing: Crossing) -> Result<Recorded, UpstreamError> {
        Outbox::record(self, crossing).map_err(UpstreamError::from)
    }

    fn record_keyed(
        &self,
        crossing: Crossing,
        key: ConfirmationKey,
    ) -> Result<Recorded, UpstreamError> {
        Outbox::record_keyed(self, crossing, key).map_err(UpstreamError::from)
    }

    fn kept(&self, key: &str) -> Result<Option<KeptConfirmation>, UpstreamError> {
        Outbox::kept(self, key).map_err(UpstreamError::from)
    }
}

struct Committer {
    db: sled::Db,
    trees: Arc<Trees>,
    index: MovementIndex,
    config: OutboxConfig,
    key: SigningKey,
    clock: Arc<dyn Clock>,
    head: ChainHead,
    appended: Arc<tokio::sync::Notify>,
    depth: Arc<AtomicUsize>,
    clock_tolerance_ms: Arc<AtomicU64>,
    /// A write failed part way and its events are not taken in yet.
    unfinished: bool,
}

/// Why a batch was not confirmed: while its keys were written, or when they were flushed.
enum WriteFailure {
    NotWritten(FeedError),
    NotFlushed(FeedError),
}

/// One crossing, signed and placed in the chain, ready to be written.
struct Staged {
    seq: u64,
    signed: Vec<u8>,
    subject: String,
    movement: MovementRow,
    recorded: Recorded,
    /// Idempotency key and the kept confirmation (JSON), written just before the event.
    kept: Option<(String, Vec<u8>)>,
}

impl Committer {
    fn run(mut self, requests: mpsc::Receiver<Request>) {
        while let Ok(first) = requests.recv() {
            let mut batch = vec![first];
            while batch.len() < GROUP_COMMIT_MAX {
                match requests.try_recv() {
                    Ok(request) => batch.push(request),
                    Err(_) => break,
                }
            }
            self.commit(batch);
        }
    }

    fn commit(&mut self, batch: Vec<Request>) {
        if self.unfinished {
            self.finish_partial_write();
        }
        if self.unfinished {
            for request in batch {
                let _ = request.reply.send(Err(FeedError::Transaction(
                    "an earlier write is not finished; recording resumes once it is".into(),
                )));
            }
            return;
        }
        let mut head = self.head;
        let mut staged = Vec::with_capacity(batch.len());
        let mut replies = Vec::with_capacity(batch.len());
        for request in batch {
            match self.stage(&mut head, request.crossing, request.key) {
                Ok(item) => {
                    staged.push(item);
                    replies.push(request.reply);
                }
                Err(error) => {
                    let _ = request.reply.send(Err(error));
                }
            }
        }
        if staged.is_empty() {
            return;
        }
        // Counted before the rows can be seen: the relay may publish and acknowledge one
        // before `write` returns, and a count that dipped below zero would wrap.
        self.depth.fetch_add(staged.len(), Ordering::Relaxed);
        let result = self.write(&staged, &head);
        match &result {
            // Written (after a failed flush it is still in sled's memory and reaches disk
            // later): the next event must link to it.
            Ok(()) | Err(WriteFailure::NotFlushed(_)) => self.head = head,
            Err(WriteFailure::NotWritten(_)) => self.finish_partial_write(),
        }
        match result {
            Ok(()) => {
                self.index_movements(&staged);
                self.appended.notify_one();
                for (item, reply) in staged.into_iter().zip(replies) {
                    let _ = reply.send(Ok(item.recorded));
                }
            }
            Err(WriteFailure::NotWritten(error) | WriteFailure::NotFlushed(error)) => {
                tracing::error!(%error, "crossing batch not confirmed durable");
                let message = error.to_string();
                for reply in replies {
                    let _ = reply.send(Err(FeedError::Transaction(message.clone())));
                }
            }
        }
    }

    fn stage(
        &self,
        head: &mut ChainHead,
        crossing: Crossing,
        key: Option<ConfirmationKey>,
    ) -> Result<Staged, FeedError> {
        let stamp = Stamp {
            now: self.clock.now(),
            monotonic_ns: u64::try_from(self.clock.monotonic().as_nanos()).unwrap_or(u64::MAX),
            event_id: hex::encode(rand::random::<[u8; 16]>()),
            time_zone: &self.config.time_zone,
            clock_tolerance: std::time::Duration::from_millis(
                self.clock_tolerance_ms
                    .load(std::sync::atomic::Ordering::Relaxed),
            ),
        };
        let chained = chain(head, &self.config.terminal, crossing, &stamp, &self.key)?;
        let event = &chained.event;
        if let Some(behind_ms) = event.clock.behind_high_water_ms {
            tracing::warn!(
                behind_ms,
                seq = event.seq,
                "wall clock is behind its high-water mark"
            );
        }
        let kept = match key {
            Some(key) => {
                let confirmation = KeptConfirmation {
                    session: key.session,
                    seq: event.seq,
                    event_hash: chained.hash,
                    wall_time: stamp.now,
                    direction: event.crossing.direction,
                    admitted: key.admitted,
                };
                let value = serde_json::to_vec(&confirmation)
                    .map_err(|e| FeedError::Transaction(format!("keep confirmation: {e}")))?;
                Some((key.key, value))
            }
            None => None,
        };
        Ok(Staged {
            seq: event.seq,
            subject: event_subject(&event.crossing.checkpoint, &event.terminal),
            movement: movement_entry(event),
            recorded: Recorded {
                seq: event.seq,
                event_hash: chained.hash,
                wall_time: stamp.now,
                clock_suspect: chained.clock_suspect,
            },
            signed: chained.signed,
            kept,
        })
    }

    /// Writes a batch key by key: per crossing its idempotency key, then its event, then its
    /// outbox row; the head last. Each is one atomic insert, and whatever prefix survives a crash
    /// is completed by `finish_written` on open.
    fn write(&self, staged: &[Staged], head: &ChainHead) -> Result<(), WriteFailure> {
        self.write_keys(staged, head)
            .map_err(WriteFailure::NotWritten)?;
        self.db
            .flush()
            .map_err(|e| WriteFailure::NotFlushed(FeedError::Store(e)))?;
        Ok(())
    }

    fn write_keys(&self, staged: &[Staged], head: &ChainHead) -> Result<(), FeedError> {
        let t = &self.trees;
        for item in staged {
            let key = item.seq.to_be_bytes();
            if let Some((key, value)) = &item.kept {
                t.idempotency.insert(key.as_bytes(), value.as_slice())?;
            }
            t.events.insert(key, item.signed.as_slice())?;
            t.outbox.insert(key, item.subject.as_bytes())?;
        }
        write_head(&t.meta, head)
    }

    /// After a write failed part way, takes in the events it did write (their callers heard an
    /// error; an officer's retry finds the kept key), so that the next batch links to them.
    /// Until that succeeds no batch is written: it would overwrite those events' sequences.
    fn finish_partial_write(&mut self) {
        self.unfinished = true;
        match finish_written(
            &self.trees,
            self.head,
            &self.config.terminal,
            self.key.verifying_key(),
        ) {
            Ok(head) => {
                self.unfinished = false;
                self.head = head;
                // How many of the batch's rows were written is known only by counting.
                self.depth.store(self.trees.outbox.len(), Ordering::Relaxed);
                if let Err(error) =
                    index_own_events(&self.index, &self.trees, &self.config.terminal, &self.key)
                {
                    tracing::error!(%error, "events of a failed write not indexed yet");
                }
            }
            Err(error) => {
                tracing::error!(%error, "events of a failed write not taken in");
            }
        }
    }
}

impl Committer {
    /// Adds a durable batch's movements to the index, so that the next decision sees them before
    /// central echoes them back. A failure here loses nothing: the index picks them up from the
    /// `events` tree when the outbox is next opened, and from the stream meanwhile.
    fn index_movements(&self, staged: &[Staged]) {
        let Some(last) = staged.last() else {
            return;
        };
        let rows: Vec<MovementRow> = staged.iter().map(|item| item.movement.clone()).collect();
        if let Err(error) = self
            .index
            .add_own(&rows, last.seq)
            .and_then(|()| self.index.checkpoint_if_due().map(|_| ()))
        {
            tracing::error!(%error, "recorded crossings not added to the movement index yet");
        }
    }
}

/// Indexes this terminal's events past the index's checkpointed own sequence: those a crash
/// took from the index after they were recorded.
fn index_own_events(
    index: &MovementIndex,
    trees: &Trees,
    terminal: &TerminalId,
    key: &SigningKey,
) -> Result<(), FeedError> {
    let keys = std::collections::HashMap::from([(terminal.clone(), key.verifying_key())]);
    let from = index.own_seq().saturating_add(1);
    let mut rows = Vec::new();
    let mut last = None;
    for entry in trees.events.range(from.to_be_bytes()..) {
        let (seq, signed) = entry?;
        let seq = decode_u64(&seq, "events key")?;
        match crate::core::event::verify(&signed, &keys) {
            crate::core::event::Verification::Valid(event, _) => rows.push(movement_entry(&event)),
            crate::core::event::Verification::Rejected(rejection) => {
                return Err(FeedError::Corrupt {
                    what: format!("events[{seq}]"),
                    why: rejection.to_string(),
                });
            }
        }
        last = Some(seq);
    }
    if let Some(last) = last {
        index.add_own(&rows, last)?;
        index.checkpoint()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::time::Duration;

    use super::*;
    use crate::cli::feed::synthetic_crossing;
    use crate::core::event::{FeedAudit, Verification, verify};

    /// A settable wall clock, in seconds.
    struct ManualClock(AtomicI64);

    impl Clock for ManualClock {
        fn now(&self) -> jiff::Timestamp {
            jiff::Timestamp::from_second(self.0.load(Ordering::SeqCst)).expect("in range")
        }
        fn monotonic(&self) -> Duration {
            Duration::ZERO
        }
    }

    fn open(dir: &Path, clock: Arc<ManualClock>) -> Outbox {
        let config = OutboxConfig {
            terminal: TerminalId::new("T1").expect("valid"),
            time_zone: jiff::tz::TimeZone::UTC,
        };
        Outbox::open(dir, config, SigningKey::from_bytes(&[1; 32]), clock).expect("open")
    }

    #[test]
    fn a_step_back_within_the_tolerance_is_not_suspect() {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = Arc::new(ManualClock(AtomicI64::new(1_800_000_000)));
        let outbox = open(dir.path(), Arc::clone(&clock));
        outbox.set_clock_backwards_tolerance(std::time::Duration::from_secs(2));
        outbox.record(synthetic_crossing(0, "GYD")).expect("record");
        clock.0.store(1_800_000_000 - 2, Ordering::SeqCst);
        let within = outbox.record(synthetic_crossing(1, "GYD")).expect("record");
        assert!(
            !within.clock_suspect,
            "two seconds back is within the tolerance"
        );
        clock.0.store(1_800_000_000 - 3, Ordering::SeqCst);
        let beyond = outbox.record(synthetic_crossing(2, "GYD")).expect("record");
        assert!(beyond.clock_suspect, "three seconds back is beyond it");
    }

    #[test]
    fn sequence_chain_and_clock_mark_survive_restart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = Arc::new(ManualClock(AtomicI64::new(1_800_000_000)));
        {
            let outbox = open(dir.path(), Arc::clone(&clock));
            for n in 0..3 {
                let recorded = outbox.record(synthetic_crossing(n, "GYD")).expect("record");
                assert_eq!(recorded.seq, n + 1);
                assert!(!recorded.clock_suspect);
            }
        }
        // The clock is set back an hour while the terminal is off.
        clock.0.store(1_800_000_000 - 3600, Ordering::SeqCst);
        let outbox = open(dir.path(), Arc::clone(&clock));
        let recorded = outbox.record(synthetic_crossing(3, "GYD")).expect("record");
        assert_eq!(recorded.seq, 4);
        assert!(
            recorded.clock_suspect,
            "a clock behind its high-water mark is flagged"
        );

        let keys = HashMap::from([(
            TerminalId::new("T1").expect("id"),
            SigningKey::from_bytes(&[1; 32]).verifying_key(),
        )]);
        let mut audit = FeedAudit::new();
        let rows = outbox.pending(None, 10).expect("pending");
        assert_eq!(
            rows.iter().map(|r| r.seq).collect::<Vec<_>>(),
            vec![1, 2, 3, 4]
        );
        for row in &rows {
            match verify(&row.signed, &keys) {
                Verification::Valid(event, hash) => {
                    if event.seq == 4 {
                        assert_eq!(event.clock.behind_high_water_ms, Some(3_600_000));
                    }
                    audit.admit(&event, hash);
                }
                Verification::Rejected(r) => panic!("{r}"),
            }
        }
        assert!(audit.report().is_clean(), "{:?}", audit.report());
        outbox.acknowledge(1).expect("ack");
        assert_eq!(outbox.depth(), 3);
        assert_eq!(outbox.pending(Some(2), 10).expect("pending").len(), 2);
    }

    /// What a crash leaves when it stops a write after seq 3's idempotency key and event, before
    /// its outbox row and the head: written here straight into the outbox's sled database.
    fn write_cut_short(dir: &Path, key: &str) -> EventHash {
        let db = sled::open(dir).expect("sled");
        let trees = Trees::open(&db).expect("trees");
        let mut head = read_head(&trees.meta).expect("head");
        let stamp = Stamp {
            now: jiff::Timestamp::from_second(1_800_000_100).expect("in range"),
            monotonic_ns: 0,
            event_id: "00".repeat(16),
            time_zone: &jiff::tz::TimeZone::UTC,
            clock_tolerance: Duration::ZERO,
        };
        let chained = chain(
            &mut head,
            &TerminalId::new("T1").expect("id"),
            synthetic_crossing(2, "GYD"),
            &stamp,
            &SigningKey::from_bytes(&[1; 32]),
        )
        .expect("chained");
        let kept = KeptConfirmation {
            session: 7,
            seq: chained.event.seq,
            event_hash: chained.hash,
            wall_time: stamp.now,
            direction: chained.event.crossing.direction,
            admitted: true,
        };
        let value = serde_json::to_vec(&kept).expect("json");
        trees.idempotency.insert(key, value).expect("insert");
        trees
            .events
            .insert(chained.event.seq.to_be_bytes(), chained.signed)
            .expect("insert");
        db.flush().expect("flush");
        chained.hash
    }

    #[test]
    fn a_write_cut_short_after_its_event_is_finished_on_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = Arc::new(ManualClock(AtomicI64::new(1_800_000_000)));
        {
            let outbox = open(dir.path(), Arc::clone(&clock));
            outbox.record(synthetic_crossing(0, "GYD")).expect("record");
            outbox.record(synthetic_crossing(1, "GYD")).expect("record");
        }
        let hash = write_cut_short(dir.path(), "retry-me");

        let outbox = open(dir.path(), Arc::clone(&clock));
        let kept = outbox.kept("retry-me").expect("read").expect("kept");
        assert_eq!((kept.seq, kept.event_hash), (3, hash));
        assert_eq!(outbox.depth(), 3, "the cut-short event gets its outbox row");
        let next = outbox.record(synthetic_crossing(3, "GYD")).expect("record");
        assert_eq!(next.seq, 4, "the head moved past the taken-in event");

        let keys = HashMap::from([(
            TerminalId::new("T1").expect("id"),
            SigningKey::from_bytes(&[1; 32]).verifying_key(),
        )]);
        let mut audit = FeedAudit::new();
        let rows = outbox.pending(None, 10).expect("pending");
        assert_eq!(rows.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3, 4]);
        for row in &rows {
            match verify(&row.signed, &keys) {
                Verification::Valid(event, hash) => {
                    audit.admit(&event, hash);
                }
                Verification::Rejected(r) => panic!("{r}"),
            }
        }
        assert!(audit.report().is_clean(), "{:?}", audit.report());
    }

    #[test]
    fn a_kept_key_whose_event_was_not_written_is_no_confirmation() {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = Arc::new(ManualClock(AtomicI64::new(1_800_000_000)));
        drop(open(dir.path(), Arc::clone(&clock)));
        write_cut_short(dir.path(), "lost");
        {
            // The crash came before the event: only the key reached the disk.
            let db = sled::open(dir.path()).expect("sled");
            db.open_tree("events")
                .expect("tree")
                .remove(1u64.to_be_bytes())
                .expect("remove");
            db.flush().expect("flush");
        }
        let outbox = open(dir.path(), Arc::clone(&clock));
        assert_eq!(outbox.kept("lost").expect("read"), None);
        let recorded = outbox.record(synthetic_crossing(5, "GYD")).expect("record");
        assert_eq!(
            recorded.seq, 1,
            "the sequence the lost event would have had"
        );
        assert_eq!(
            outbox.kept("lost").expect("read"),
            None,
            "another event at that sequence does not confirm the key"
        );
    }

    #[test]
    fn an_event_past_the_head_that_does_not_link_stops_the_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = Arc::new(ManualClock(AtomicI64::new(1_800_000_000)));
        {
            let outbox = open(dir.path(), Arc::clone(&clock));
            outbox.record(synthetic_crossing(0, "GYD")).expect("record");
        }
        {
            let db = sled::open(dir.path()).expect("sled");
            let events = db.open_tree("events").expect("tree");
            let first = events.get(1u64.to_be_bytes()).expect("get").expect("seq 1");
            events.insert(2u64.to_be_bytes(), first).expect("insert");
            db.flush().expect("flush");
        }
        let config = OutboxConfig {
            terminal: TerminalId::new("T1").expect("valid"),
            time_zone: jiff::tz::TimeZone::UTC,
        };
        let error = Outbox::open(dir.path(), config, SigningKey::from_bytes(&[1; 32]), clock)
            .err()
            .expect("refused");
        assert!(
            error.to_string().contains("events[2]"),
            "names the event: {error}"
        );
    }

    #[test]
    fn concurrent_records_are_gapless_and_share_flushes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let outbox = open(
            dir.path(),
            Arc::new(ManualClock(AtomicI64::new(1_800_000_000))),
        );
        let mut seqs: Vec<u64> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|worker| {
                    let outbox = outbox.clone();
                    scope.spawn(move || {
                        (0..25)
                            .map(|n| {
                                outbox
                                    .record(synthetic_crossing(worker * 25 + n, "GYD"))
                                    .expect("record")
                                    .seq
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("worker"))
                .collect()
        });
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=200).collect::<Vec<_>>());
        let index = outbox.movement_index();
        let holder = synthetic_crossing(0, "GYD").traveller.holder_digest();
        // Crossings 0 and 1 share a document (entry then exit).
        assert_eq!(index.lookup(&holder).expect("lookup").len(), 2);
    }

    #[test]
    fn own_movements_left_out_of_the_index_by_a_crash_are_indexed_on_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = Arc::new(ManualClock(AtomicI64::new(1_700_000_000)));
        let holder = synthetic_crossing(0, "GYD").traveller.holder_digest();
        {
            let outbox = open(dir.path(), Arc::clone(&clock));
            outbox.record(synthetic_crossing(0, "GYD")).expect("entry");
            outbox.movement_index().checkpoint().expect("checkpoint");
            outbox.record(synthetic_crossing(1, "GYD")).expect("exit");
            assert_eq!(
                outbox
                    .movement_index()
                    .lookup(&holder)
                    .expect("lookup")
                    .len(),
                2
            );
            // Dropped without a checkpoint: the index files count only the entry.
        }
        let outbox = open(dir.path(), clock);
        let index = outbox.movement_index();
        let seqs: Vec<u64> = index
            .lookup(&holder)
            .expect("lookup")
            .iter()
            .map(|m| m.seq)
            .collect();
        assert_eq!(seqs, [1, 2]);
        assert_eq!(index.own_seq(), 2);
    }

    #[test]
    fn prune_drops_movements_past_retention() {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = Arc::new(ManualClock(AtomicI64::new(1_700_000_000)));
        let outbox = open(dir.path(), Arc::clone(&clock));
        outbox.record(synthetic_crossing(0, "GYD")).expect("old");
        clock
            .0
            .store(1_700_000_000 + 300 * 86_400, Ordering::SeqCst);
        outbox.record(synthetic_crossing(1, "GYD")).expect("newer");
        let index = outbox.movement_index();
        let holder = synthetic_crossing(0, "GYD").traveller.holder_digest();
        let now = jiff::Timestamp::from_second(1_700_000_000 + 450 * 86_400).expect("in range");
        assert_eq!(index.prune(now, 400).expect("prune"), 1);
        let left = index.lookup(&holder).expect("lookup");
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].seq, 2);
        assert_eq!(index.prune(now, 400).expect("prune"), 0);
    }

    #[test]
    fn prune_drops_own_acknowledged_events_and_keeps_unacknowledged_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = Arc::new(ManualClock(AtomicI64::new(1_700_000_000)));
        let outbox = open(dir.path(), Arc::clone(&clock));
        outbox
            .record(synthetic_crossing(0, "GYD"))
            .expect("acknowledged");
        outbox
            .record(synthetic_crossing(1, "GYD"))
            .expect("never acknowledged");
        outbox.acknowledge(1).expect("ack");
        clock
            .0
            .store(1_700_000_000 + 300 * 86_400, Ordering::SeqCst);
        outbox.record(synthetic_crossing(2, "GYD")).expect("recent");
        let now = jiff::Timestamp::from_second(1_700_000_000 + 450 * 86_400).expect("in range");
        assert_eq!(outbox.movement_index().prune(now, 400).expect("prune"), 2);
        assert_eq!(outbox.event(1).expect("read"), None, "acknowledged and old");
        assert!(
            outbox.event(2).expect("read").is_some(),
            "still owed to central"
        );
        assert!(outbox.event(3).expect("read").is_some(), "recent");
        assert_eq!(outbox.pending(None, 10).expect("pending").len(), 2);
    }

    #[test]
    fn events_of_a_terminal_without_a_key_yet_are_parked_then_indexed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = Arc::new(ManualClock(AtomicI64::new(1_700_000_000)));
        let outbox = open(dir.path(), Arc::clone(&clock));
        let other_dir = tempfile::tempdir().expect("tempdir");
        let other_key = SigningKey::from_bytes(&[2; 32]);
        let other = Outbox::open(
            other_dir.path(),
            OutboxConfig {
                terminal: TerminalId::new("T2").expect("valid"),
                time_zone: jiff::tz::TimeZone::UTC,
            },
            other_key.clone(),
            clock,
        )
        .expect("open");
        other.record(synthetic_crossing(4, "EVX")).expect("record");
        let signed = other.event(1).expect("read").expect("kept");
        let index = outbox.movement_index();
        index.park(7, &signed).expect("park");
        assert_eq!((index.parked(), index.cursor().expect("cursor")), (1, 7));

        let holder = synthetic_crossing(4, "EVX").traveller.holder_digest();
        let mut keys: HashMap<TerminalId, ed25519_dalek::VerifyingKey> = HashMap::new();
        assert_eq!(index.retry_parked(&keys).expect("retry"), 0);
        assert_eq!(index.parked(), 1, "still no key: stays parked");
        assert!(index.lookup(&holder).expect("lookup").is_empty());

        keys.insert(
            TerminalId::new("T2").expect("valid"),
            other_key.verifying_key(),
        );
        assert_eq!(index.retry_parked(&keys).expect("retry"), 1);
        assert_eq!(index.parked(), 0);
        let found = index.lookup(&holder).expect("lookup");
        assert_eq!((found.len(), found[0].terminal.as_str()), (1, "T2"));

        index.park(8, &signed).expect("park");
        keys.insert(
            TerminalId::new("T2").expect("valid"),
            SigningKey::from_bytes(&[3; 32]).verifying_key(),
        );
        assert_eq!(index.retry_parked(&keys).expect("retry"), 0);
        assert_eq!(index.parked(), 0, "a wrong key drops the event");
    }

    #[test]
    fn recording_stops_at_the_row_limit_and_resumes_when_central_acknowledges() {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = Arc::new(ManualClock(AtomicI64::new(1_700_000_000)));
        let outbox = open(dir.path(), clock);
        outbox.set_rows_max(2);
        outbox.record(synthetic_crossing(0, "GYD")).expect("first");
        outbox.record(synthetic_crossing(1, "GYD")).expect("second");
        assert!(matches!(
            outbox.record(synthetic_crossing(2, "GYD")),
            Err(FeedError::Full { depth: 2, max: 2 })
        ));
        outbox.acknowledge(1).expect("ack");
        let third = outbox
            .record(synthetic_crossing(2, "GYD"))
            .expect("room again");
        assert_eq!(third.seq, 3, "the refused crossing took no sequence number");
    }
}
