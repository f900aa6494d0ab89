//! The movement index: every terminal's crossings by holder digest, fed from `EVENTS` (verified
//! against terminal keys) with its own cursor, and pruned past the longest stay rule.
//!
//! The lists live in `movement_log` (segment files and an in-memory directory); the cursor and
//! the files' extent are checkpointed in the outbox's sled `meta` tree, and events whose terminal
//! key has not arrived yet wait in its `movements_parked` tree.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use sha2::{Digest, Sha256};

use super::backoff::backoff_delay;
use super::movement_list;
use super::movement_log::{LogState, MovementLog};
use super::trees::{Trees, decode_u64};
use super::{FeedError, STREAM_NAME};
use crate::core::document::HolderDigest;
use crate::core::event::{
    CrossingEvent, Rejection, TerminalId, TerminalKeys, Verification, verify,
};
use crate::ports::clock::Clock;
use crate::ports::upstream::{MovementHistory, MovementRecord, UpstreamError};

/// The index's checkpointed [`LogState`] in the `meta` tree.
const META_INDEX_STATE: &[u8] = b"movement_index";
/// What versions before the segment files kept in sled: dropped on open (the index is rebuilt
/// from the stream and the outbox's own events).
const LEGACY_TREES: [&str; 2] = ["movement_lists", "movements_by_time"];
const LEGACY_CURSOR: &[u8] = b"index_cursor";
/// The directory of the segment files, inside the outbox's directory.
const LOG_DIR: &str = "movement-lists";
/// Stream messages applied per index batch at most.
pub const INDEX_BATCH_MAX: usize = 256;
/// Bytes the index writes before its consumer checkpoints it (`MovementIndex::flush_if_due`):
/// syncs the segment files and stores the cursor.
///
/// The checkpoint is for durability of the cursor, not memory: the lists are written straight to
/// the files and the process keeps only their directory. A crash loses at most what was written
/// since the last checkpoint, which the consumer reads again from the stream (and the outbox's
/// own events again from its `events` tree). By bytes rather than after every batch, so that a
/// trickle of one-event batches costs no fsync per event and a catch-up one per few MiB.
pub const FLUSH_EVERY_BYTES_DEFAULT: u64 = 4 * 1024 * 1024;
/// Events parked for a terminal key the ledger does not hold yet; past this, the oldest are
/// dropped (with a warning) rather than letting the store grow without bound.
const PARKED_MAX: usize = 100_000;
const SECONDS_IN_DAY: i64 = 86_400;

/// How the index consumer runs.
#[derive(Clone, Debug)]
pub struct IndexConfig {
    /// Stream to consume (`EVENTS`).
    pub stream: String,
    /// Movements older than this many days are pruned (the longest stay rule; default 400).
    pub retention_days: u32,
    /// How often to prune.
    pub prune_every: Duration,
    /// How often events parked for an unknown terminal key are verified again.
    pub retry_parked_every: Duration,
}

impl Default for IndexConfig {
    fn default() -> Self {
        Self {
            stream: STREAM_NAME.into(),
            retention_days: 400,
            prune_every: Duration::from_secs(3600),
            retry_parked_every: Duration::from_secs(30),
        }
    }
}

/// What one `EVENTS` message means for the index.
pub enum IndexMessage<'a> {
    /// A verified event: index its movement.
    Movement(&'a CrossingEvent),
    /// Signed by a terminal whose key the ledger does not hold yet: keep the bytes.
    Parked(&'a [u8]),
    /// Rejected: only the cursor moves past it.
    Skip,
}

/// The local index of movements by holder digest. Cheap to clone; clones share one index.
#[derive(Clone)]
pub struct MovementIndex {
    db: sled::Db,
    trees: Arc<Trees>,
    log: Arc<MovementLog>,
    /// This terminal: its own events may be pruned from the outbox's `events` tree together
    /// with their movements.
    own_terminal: TerminalId,
    /// Checkpoint once this many bytes were written (`FLUSH_EVERY_BYTES_DEFAULT`).
    flush_every_bytes: u64,
}

fn terminal_digest(terminal: &str) -> [u8; 8] {
    let digest: [u8; 32] = Sha256::digest(terminal.as_bytes()).into();
    let mut short = [0u8; 8];
    short.copy_from_slice(&digest[..8]);
    short
}

fn time_key(at: jiff::Timestamp) -> [u8; 8] {
    // Sign bit flipped so that big-endian bytes sort like the signed seconds.
    ((at.as_second() as u64) ^ (1 << 63)).to_be_bytes()
}

/// Where one event goes in the index: the document and its list element.
#[derive(Clone)]
pub(super) struct MovementRow {
    holder: [u8; 32],
    element: Vec<u8>,
}

/// The index row of one event.
pub(super) fn movement_entry(event: &CrossingEvent) -> MovementRow {
    let digest = event.crossing.traveller.holder_digest();
    let mut id = [0u8; movement_list::ID_BYTES];
    id[..8].copy_from_slice(&time_key(event.wall_time));
    id[8..16].copy_from_slice(&terminal_digest(event.terminal.as_str()));
    id[16..].copy_from_slice(&event.seq.to_be_bytes());
    let record = MovementRecord {
        at: event.wall_time,
        direction: event.crossing.direction,
        checkpoint: event.crossing.checkpoint.clone(),
        terminal: event.terminal.clone(),
        seq: event.seq,
    };
    MovementRow {
        holder: digest.0,
        element: movement_list::element(id, &record),
    }
}

fn rows_of<'a>(rows: impl IntoIterator<Item = &'a MovementRow>) -> Vec<([u8; 32], &'a [u8])> {
    rows.into_iter()
        .map(|row| (row.holder, row.element.as_slice()))
        .collect()
}

/// Opens the segment files in `dir` at the state checkpointed in `meta`. Files that do not open
/// are set aside: the index starts empty and is read again from the stream (it is a copy).
pub(super) fn open_log(dir: &Path, db: &sled::Db, trees: &Trees) -> Result<MovementLog, FeedError> {
    for tree in LEGACY_TREES {
        db.drop_tree(tree)?;
    }
    trees.meta.remove(LEGACY_CURSOR)?;
    let dir = dir.join(LOG_DIR);
    let state = match trees.meta.get(META_INDEX_STATE)? {
        Some(bytes) => LogState::decode(&bytes)?,
        None => LogState::default(),
    };
    match MovementLog::open(&dir, state) {
        Ok(log) => Ok(log),
        Err(error) => {
            tracing::error!(%error, "movement index files unusable; rebuilding the index from the stream");
            std::fs::remove_dir_all(&dir)
                .map_err(|e| FeedError::Files(format!("removing {}: {e}", dir.display())))?;
            let fresh = LogState {
                pruned_before: state.pruned_before,
                ..LogState::default()
            };
            trees.meta.insert(META_INDEX_STATE, &fresh.encode()[..])?;
            db.flush()?;
            MovementLog::open(&dir, fresh)
        }
    }
}

impl MovementIndex {
    pub(super) fn new(
        db: sled::Db,
        trees: Arc<Trees>,
        log: Arc<MovementLog>,
        own_terminal: &TerminalId,
    ) -> Self {
        Self {
            db,
            trees,
            log,
            own_terminal: own_terminal.clone(),
            flush_every_bytes: FLUSH_EVERY_BYTES_DEFAULT,
        }
    }

    /// This index checkpointing once `bytes` were written instead of
    /// [`FLUSH_EVERY_BYTES_DEFAULT`] (0: after every write).
    pub fn with_flush_every_bytes(mut self, bytes: u64) -> Self {
        self.flush_every_bytes = bytes;
        self
    }

    /// Bytes written to the index since its last checkpoint.
    pub fn unflushed_bytes(&self) -> u64 {
        self.log.unflushed_bytes()
    }

    /// Movements of one document, oldest first.
    pub fn lookup(&self, holder: &HolderDigest) -> Result<Vec<MovementRecord>, FeedError> {
        self.log.lookup(&holder.0)
    }

    /// Documents with at least one retained movement.
    pub fn documents(&self) -> usize {
        self.log.holders()
    }

    /// Bytes of the index's files (live lists and superseded copies not yet reclaimed).
    pub fn file_bytes(&self) -> u64 {
        self.log.file_bytes()
    }

    /// The last `EVENTS` stream sequence applied (0: none).
    pub fn cursor(&self) -> Result<u64, FeedError> {
        Ok(self.log.state().cursor)
    }

    /// The last of this terminal's own events indexed by the outbox.
    pub(super) fn own_seq(&self) -> u64 {
        self.log.state().own_seq
    }

    /// Applies stream message `stream_seq`: its movement (when it verified) and the cursor.
    /// Re-applying an event is harmless: it is named by (time, terminal, seq) in its document's list.
    pub fn apply(&self, stream_seq: u64, event: Option<&CrossingEvent>) -> Result<(), FeedError> {
        let message = match event {
            Some(event) => IndexMessage::Movement(event),
            None => IndexMessage::Skip,
        };
        self.apply_batch(&[(stream_seq, message)])
    }

    /// Applies consecutive stream messages, the cursor moving to the last (never back).
    pub fn apply_batch(&self, messages: &[(u64, IndexMessage<'_>)]) -> Result<(), FeedError> {
        let Some((last, _)) = messages.last() else {
            return Ok(());
        };
        let t = &self.trees;
        let parking = messages
            .iter()
            .filter(|(_, m)| matches!(m, IndexMessage::Parked(_)))
            .count();
        while parking > 0 && t.movements_parked.len() + parking > PARKED_MAX {
            let Some((oldest, _)) = t.movements_parked.pop_min()? else {
                break;
            };
            tracing::warn!(
                stream_seq = decode_u64(&oldest, "parked key").unwrap_or_default(),
                "parked events full; dropping the oldest"
            );
        }
        let mut rows = Vec::new();
        for (seq, message) in messages {
            match message {
                IndexMessage::Movement(event) => rows.push(movement_entry(event)),
                // Parked before the cursor that passes them is checkpointed; parking again
                // after a crash rewrites the same key.
                IndexMessage::Parked(signed) => {
                    t.movements_parked.insert(seq.to_be_bytes(), *signed)?;
                }
                IndexMessage::Skip => {}
            }
        }
        self.log.add(&rows_of(&rows), Some(*last), None)?;
        Ok(())
    }

    /// Indexes this terminal's own events up to `last_seq` (the outbox does, once they are durable).
    pub(super) fn add_own(&self, rows: &[MovementRow], last_seq: u64) -> Result<(), FeedError> {
        self.log.add(&rows_of(rows), None, Some(last_seq))?;
        Ok(())
    }

    /// Adds whole lists (a snapshot's), merged with those held, and moves the cursor forward to
    /// `cursor`; returns the movements the lists held.
    pub(super) fn put_lists(
        &self,
        lists: &[([u8; 32], Vec<u8>)],
        cursor: u64,
    ) -> Result<u64, FeedError> {
        self.log.put_lists(lists, cursor)
    }

    /// Calls `each` with every document's retained list (writers wait meanwhile).
    pub(super) fn for_each_list(
        &self,
        each: impl FnMut(&[u8; 32], &[u8]) -> Result<(), FeedError>,
    ) -> Result<(), FeedError> {
        self.log.for_each_list(each)
    }

    /// The stream sequence up to which the index holds every verified event: the cursor, or
    /// just before the first event parked for a terminal key not yet known (a snapshot must not
    /// claim to cover it).
    pub fn complete_through(&self) -> Result<u64, FeedError> {
        let cursor = self.cursor()?;
        match self.trees.movements_parked.first()? {
            Some((key, _)) => {
                let parked = decode_u64(&key, "parked key")?;
                Ok(cursor.min(parked.saturating_sub(1)))
            }
            None => Ok(cursor),
        }
    }

    /// Parks stream message `stream_seq`, whose terminal has no key in the ledger yet (the
    /// ledger may lag the feed), and moves the cursor past it; [`Self::retry_parked`] indexes it
    /// once the key arrives.
    pub fn park(&self, stream_seq: u64, signed: &[u8]) -> Result<(), FeedError> {
        self.apply_batch(&[(stream_seq, IndexMessage::Parked(signed))])
    }

    /// Events parked for an unknown terminal key.
    pub fn parked(&self) -> usize {
        self.trees.movements_parked.len()
    }

    /// Verifies parked events again: those whose key has arrived are indexed, those still
    /// without a key stay, any other rejection drops the event. Returns how many were indexed.
    /// An indexed event leaves the parked tree only after the index is checkpointed.
    pub fn retry_parked(&self, keys: &dyn TerminalKeys) -> Result<u64, FeedError> {
        let mut rows = Vec::new();
        let mut done = Vec::new();
        for entry in self.trees.movements_parked.iter() {
            let (key, signed) = entry?;
            match verify(&signed, keys) {
                Verification::Valid(event, _) => {
                    rows.push(movement_entry(&event));
                    done.push(key);
                }
                Verification::Rejected(Rejection::UnknownTerminal(_)) => {}
                Verification::Rejected(rejection) => {
                    tracing::warn!(
                        stream_seq = decode_u64(&key, "parked key").unwrap_or_default(),
                        %rejection,
                        "parked event rejected; dropped"
                    );
                    done.push(key);
                }
            }
        }
        if done.is_empty() {
            return Ok(0);
        }
        self.log.add(&rows_of(&rows), None, None)?;
        self.checkpoint()?;
        for key in done {
            self.trees.movements_parked.remove(key)?;
        }
        self.db.flush()?;
        Ok(rows.len() as u64)
    }

    /// Removes movements recorded before `now - retention_days`; returns how many.
    /// This terminal's own events of those movements leave the outbox's `events` tree too,
    /// unless central has not acknowledged them yet.
    pub fn prune(&self, now: jiff::Timestamp, retention_days: u32) -> Result<u64, FeedError> {
        let horizon = (now.as_second() - i64::from(retention_days) * SECONDS_IN_DAY)
            .max(jiff::Timestamp::MIN.as_second());
        let removed = self.log.prune(horizon)?;
        self.checkpoint()?;
        // One remove at a time, not a sled batch: batches take sled's process-wide lock (see
        // the outbox). A prune cut short leaves events that the next prune removes.
        for movement in &removed {
            let seq = movement.seq.to_be_bytes();
            if movement.terminal == self.own_terminal && self.trees.outbox.get(seq)?.is_none() {
                self.trees.events.remove(seq)?;
            }
        }
        Ok(removed.len() as u64)
    }

    /// Makes the index durable: syncs the files written since the last checkpoint, then stores
    /// the cursor and the files' extent and flushes sled. Blocking.
    pub fn checkpoint(&self) -> Result<(), FeedError> {
        self.log.checkpoint(|state| {
            self.trees
                .meta
                .insert(META_INDEX_STATE, &state.encode()[..])?;
            self.db.flush()?;
            Ok(())
        })
    }

    /// [`Self::checkpoint`] on a blocking thread.
    pub async fn flush_async(&self) -> Result<(), FeedError> {
        let index = self.clone();
        tokio::task::spawn_blocking(move || index.checkpoint())
            .await
            .map_err(|e| FeedError::Files(format!("checkpoint task: {e}")))?
    }

    /// Checkpoints when [`FLUSH_EVERY_BYTES_DEFAULT`] (or the configured amount) were written
    /// since the last checkpoint; returns whether it did. The consumer calls it after each batch.
    pub async fn flush_if_due(&self) -> Result<bool, FeedError> {
        if self.unflushed_bytes() < self.flush_every_bytes.max(1) {
            return Ok(false);
        }
        self.flush_async().await?;
        Ok(true)
    }

    /// As [`Self::flush_if_due`], on this thread (the outbox's committer).
    pub(super) fn checkpoint_if_due(&self) -> Result<bool, FeedError> {
        if self.unflushed_bytes() < self.flush_every_bytes.max(1) {
            return Ok(false);
        }
        self.checkpoint()?;
        Ok(true)
    }
}

impl MovementHistory for MovementIndex {
    fn movements(&self, holder: &HolderDigest) -> Result<Vec<MovementRecord>, UpstreamError> {
        self.lookup(holder).map_err(UpstreamError::from)
    }
}

/// Consumes `EVENTS` from all terminals into the index from its cursor, verifying each event
/// against the terminal keys; prunes on schedule. Reconnects with backoff until `shutdown`.
pub async fn run_index(
    index: MovementIndex,
    client: async_nats::Client,
    keys: Arc<dyn TerminalKeys + Send + Sync>,
    config: IndexConfig,
    clock: Arc<dyn Clock>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), FeedError> {
    let js = async_nats::jetstream::new(client);
    tokio::pin!(shutdown);
    let mut failures = 0u32;
    let mut ticks = Ticks {
        prune: tokio::time::interval(config.prune_every),
        retry_parked: tokio::time::interval(config.retry_parked_every),
    };
    loop {
        let consumed = consume(&index, &js, keys.as_ref(), &config, &clock, &mut ticks);
        tokio::select! {
            () = &mut shutdown => {
                index.flush_async().await?;
                return Ok(());
            }
            result = consumed => {
                if let Err(error) = result {
                    failures = failures.saturating_add(1);
                    tracing::warn!(%error, failures, "movement index consumer failed; retrying");
                }
            }
        }
        tokio::select! {
            () = &mut shutdown => return Ok(()),
            () = tokio::time::sleep(backoff_delay(failures, Duration::from_millis(100), Duration::from_secs(30))) => {}
        }
    }
}

struct Ticks {
    prune: tokio::time::Interval,
    retry_parked: tokio::time::Interval,
}

async fn consume(
    index: &MovementIndex,
    js: &async_nats::jetstream::Context,
    keys: &(dyn TerminalKeys + Send + Sync),
    config: &IndexConfig,
    clock: &Arc<dyn Clock>,
    ticks: &mut Ticks,
) -> Result<(), FeedError> {
    let stream = js
        .get_stream(&config.stream)
        .await
        .map_err(|e| FeedError::nats("get stream", e))?;
    let mut messages = batches_after(&stream, index.cursor()?).await?;
    loop {
        tokio::select! {
            _ = ticks.retry_parked.tick() => {
                let indexed = index.retry_parked(keys)?;
                if indexed > 0 {
                    tracing::info!(indexed, "indexed parked events whose terminal key arrived");
                }
                index.flush_if_due().await?;
            }
            _ = ticks.prune.tick() => {
                let pruned = index.prune(clock.now(), config.retention_days)?;
                if pruned > 0 {
                    tracing::info!(pruned, "pruned movements past retention");
                }
                index.flush_if_due().await?;
            }
            next = messages.next() => {
                let Some(ready) = next else {
                    return Err(FeedError::nats("consume", "message stream ended"));
                };
                apply_messages(index, ready, keys)?;
                // Waiting for the flush holds the next batch back: a catch-up goes no faster
                // than the disk takes it, instead of growing sled's unflushed memory.
                index.flush_if_due().await?;
            }
        }
    }
}

type Delivered = Result<
    async_nats::jetstream::Message,
    async_nats::error::Error<async_nats::jetstream::consumer::pull::OrderedErrorKind>,
>;

/// Verifies and applies delivered messages in one batch; returns the last stream sequence.
fn apply_messages(
    index: &MovementIndex,
    ready: Vec<Delivered>,
    keys: &dyn TerminalKeys,
) -> Result<u64, FeedError> {
    let mut received = Vec::with_capacity(ready.len());
    for message in ready {
        let message = message.map_err(|e| FeedError::nats("consume", e))?;
        let stream_seq = message
            .info()
            .map_err(|e| FeedError::nats("message info", e))?
            .stream_sequence;
        let verification = verify(&message.payload, keys);
        received.push((stream_seq, message, verification));
    }
    let batch: Vec<(u64, IndexMessage<'_>)> = received
        .iter()
        .map(|(stream_seq, message, verification)| {
            let meaning = match verification {
                Verification::Valid(event, _) => IndexMessage::Movement(event),
                Verification::Rejected(Rejection::UnknownTerminal(terminal)) => {
                    tracing::info!(
                        stream_seq,
                        terminal,
                        "no key for this terminal yet; event parked"
                    );
                    IndexMessage::Parked(&message.payload)
                }
                Verification::Rejected(rejection) => {
                    tracing::warn!(stream_seq, %rejection, "event rejected by movement index");
                    IndexMessage::Skip
                }
            };
            (*stream_seq, meaning)
        })
        .collect();
    index.apply_batch(&batch)?;
    Ok(batch.last().map_or(0, |(seq, _)| *seq))
}

/// The stream's messages past `cursor`, in order, in batches of whatever has arrived: one
/// batch is applied in one write (a catch-up after an outage is thousands of messages), at most
/// [`INDEX_BATCH_MAX`] at a time.
async fn batches_after(
    stream: &async_nats::jetstream::stream::Stream,
    cursor: u64,
) -> Result<futures::stream::ReadyChunks<async_nats::jetstream::consumer::pull::Ordered>, FeedError>
{
    use async_nats::jetstream::consumer::{DeliverPolicy, pull::OrderedConfig};
    let consumer = stream
        .create_consumer(OrderedConfig {
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: cursor + 1,
            },
            ..OrderedConfig::default()
        })
        .await
        .map_err(|e| FeedError::nats("create consumer", e))?;
    Ok(consumer
        .messages()
        .await
        .map_err(|e| FeedError::nats("consume", e))?
        .ready_chunks(INDEX_BATCH_MAX))
}

/// Reads the stream from the index's cursor up to the sequence that was last when it started,
/// then checkpoints (central's snapshot tool). Returns the index's cursor.
pub async fn catch_up(
    index: &MovementIndex,
    client: async_nats::Client,
    keys: &dyn TerminalKeys,
    stream: &str,
) -> Result<u64, FeedError> {
    let js = async_nats::jetstream::new(client);
    let mut stream = js
        .get_stream(stream)
        .await
        .map_err(|e| FeedError::nats("get stream", e))?;
    let last = stream
        .info()
        .await
        .map_err(|e| FeedError::nats("stream info", e))?
        .state
        .last_sequence;
    let cursor = index.cursor()?;
    if cursor < last {
        let mut messages = batches_after(&stream, cursor).await?;
        while let Some(ready) = messages.next().await {
            let reached = apply_messages(index, ready, keys)?;
            index.flush_if_due().await?;
            if reached >= last {
                break;
            }
        }
    }
    index.flush_async().await?;
    index.cursor()
}
