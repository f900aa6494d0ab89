//! The movement index: every terminal's crossings by holder digest, fed from `EVENTS` (verified
//! against terminal keys) with its own cursor, and pruned past the longest stay rule.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use sha2::{Digest, Sha256};
use sled::Transactional;
use sled::transaction::{
    ConflictableTransactionError, ConflictableTransactionResult, TransactionError,
    TransactionalTree,
};

use super::movement_list;
use super::outbox::{Trees, decode_u64};
use super::relay::backoff_delay;
use super::{FeedError, STREAM_NAME};
use crate::core::document::HolderDigest;
use crate::core::event::{
    CrossingEvent, Rejection, TerminalId, TerminalKeys, Verification, verify,
};
use crate::ports::clock::Clock;
use crate::ports::upstream::{MovementHistory, MovementRecord, UpstreamError};

const META_INDEX_CURSOR: &[u8] = b"index_cursor";
/// Stream messages applied per index transaction at most.
pub const INDEX_BATCH_MAX: usize = 256;
/// Bytes the index writes (about: keys and values put, keys removed) before its consumer
/// flushes the database (`MovementIndex::flush_if_due`).
///
/// sled keeps what was written but not flushed in memory, and its background flusher does not
/// keep up with a consumer catching up on a backlog in small transactions: without these
/// flushes the process grows with the volume written, whatever the page cache size
/// (`benches/feed.rs`, 1,000,000 one-event batches: 4.9 GB; flushed every MiB: 372 MiB).
/// The flushes are for memory, not durability: the cursor moves in the same transaction as the
/// movements, sled recovers a prefix of its transactions, and re-applying an event is harmless,
/// so a crash between two flushes only makes the consumer read the stream again from an earlier
/// cursor (the index is rebuildable from it). Hence by bytes rather than after every batch: a
/// trickle of one-event batches costs no fsync per event (flushing every batch halved the rate
/// of a one-event-batch catch-up), while a catch-up leaves about this much at most for sled to
/// write, which also limits what an outbox group commit (flushing the same database, on the
/// lane's path) may find to write before its own rows.
pub const FLUSH_EVERY_BYTES_DEFAULT: u64 = 1024 * 1024;
/// Events parked for a terminal key the ledger does not hold yet; past this, the oldest are
/// dropped (with a warning) rather than letting the store grow without bound.
const PARKED_MAX: usize = 100_000;
/// Movements removed per prune transaction.
const PRUNE_CHUNK: usize = 1024;
/// Key layout: holder digest (32) ‖ time (8) ‖ terminal digest (8) ‖ seq (8).
const MOVEMENT_KEY_BYTES: usize = 56;
const DIGEST_BYTES: usize = 32;
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

enum Row<'a> {
    Movement(MovementRow),
    Parked(u64, &'a [u8]),
    Skip,
}

/// The local index of movements by holder digest. Cheap to clone.
#[derive(Clone)]
pub struct MovementIndex {
    db: sled::Db,
    trees: Arc<Trees>,
    /// First bytes of SHA-256 of this terminal's id, as in movement keys: its own events may be
    /// pruned from the outbox's `events` tree together with their movements.
    own_terminal: [u8; 8],
    /// Bytes written through this index (and its clones) and not yet flushed by it.
    unflushed: Arc<AtomicU64>,
    /// Flush once this many bytes were written (`FLUSH_EVERY_BYTES_DEFAULT`).
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

/// Where one event goes in the index: the document's list and the by-time key that prunes it.
pub(super) struct MovementRow {
    holder: [u8; DIGEST_BYTES],
    by_time: Vec<u8>,
    element: Vec<u8>,
}

/// The index rows of one event.
pub(super) fn movement_entry(event: &CrossingEvent) -> MovementRow {
    let digest = event.crossing.traveller.holder_digest();
    let terminal = terminal_digest(event.terminal.as_str());
    let time = time_key(event.wall_time);
    let mut id = [0u8; movement_list::ID_BYTES];
    id[..8].copy_from_slice(&time);
    id[8..16].copy_from_slice(&terminal);
    id[16..].copy_from_slice(&event.seq.to_be_bytes());
    let mut by_time = Vec::with_capacity(MOVEMENT_KEY_BYTES);
    by_time.extend_from_slice(&time);
    by_time.extend_from_slice(&digest.0);
    by_time.extend_from_slice(&terminal);
    by_time.extend_from_slice(&event.seq.to_be_bytes());
    let record = MovementRecord {
        at: event.wall_time,
        direction: event.crossing.direction,
        checkpoint: event.crossing.checkpoint.clone(),
        terminal: event.terminal.clone(),
        seq: event.seq,
    };
    MovementRow {
        holder: digest.0,
        by_time,
        element: movement_list::element(id, &record),
    }
}

/// Adds a movement inside a transaction over (`movements`, `movements_by_time`); returns about
/// how many bytes it wrote.
pub(super) fn put_movement(
    movements: &TransactionalTree,
    by_time: &TransactionalTree,
    row: &MovementRow,
) -> ConflictableTransactionResult<u64, ()> {
    let current = movements.get(row.holder)?;
    let mut written = row.by_time.len();
    match movement_list::insert(current.as_deref(), &row.element) {
        Ok(Some(list)) => {
            written += DIGEST_BYTES + list.len();
            movements.insert(&row.holder[..], list)?;
        }
        Ok(None) => {}
        Err(error) => {
            tracing::error!(%error, "movement list unreadable; not changed");
            return Err(ConflictableTransactionError::Abort(()));
        }
    }
    by_time.insert(row.by_time.as_slice(), &[][..])?;
    Ok(written as u64)
}

impl MovementIndex {
    pub(super) fn new(db: sled::Db, trees: Arc<Trees>, own_terminal: &TerminalId) -> Self {
        Self {
            db,
            trees,
            own_terminal: terminal_digest(own_terminal.as_str()),
            unflushed: Arc::new(AtomicU64::new(0)),
            flush_every_bytes: FLUSH_EVERY_BYTES_DEFAULT,
        }
    }

    /// This index flushing once `bytes` were written instead of [`FLUSH_EVERY_BYTES_DEFAULT`]
    /// (0: after every write).
    pub fn with_flush_every_bytes(mut self, bytes: u64) -> Self {
        self.flush_every_bytes = bytes;
        self
    }

    fn wrote(&self, bytes: u64) {
        self.unflushed.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Bytes written through this index since its last flush (about).
    pub fn unflushed_bytes(&self) -> u64 {
        self.unflushed.load(Ordering::Relaxed)
    }

    /// Movements of one document, oldest first.
    pub fn lookup(&self, holder: &HolderDigest) -> Result<Vec<MovementRecord>, FeedError> {
        match self.trees.movements.get(holder.0)? {
            Some(list) => movement_list::decode(&list).map_err(|e| FeedError::Corrupt {
                what: format!("movements[{}]", hex::encode(holder.0)),
                why: e.to_string(),
            }),
            None => Ok(Vec::new()),
        }
    }

    /// The last `EVENTS` stream sequence applied (0: none).
    pub fn cursor(&self) -> Result<u64, FeedError> {
        match self.trees.meta.get(META_INDEX_CURSOR)? {
            Some(bytes) => decode_u64(&bytes, "meta.index_cursor"),
            None => Ok(0),
        }
    }

    /// Applies stream message `stream_seq`: its movement (when it verified) and the cursor, in
    /// one transaction. Re-applying an event is harmless: its key is (document, time, terminal, seq).
    pub fn apply(&self, stream_seq: u64, event: Option<&CrossingEvent>) -> Result<(), FeedError> {
        let message = match event {
            Some(event) => IndexMessage::Movement(event),
            None => IndexMessage::Skip,
        };
        self.apply_batch(&[(stream_seq, message)])
    }

    /// Applies consecutive stream messages in one transaction, the cursor moving to the last.
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
        let rows: Vec<_> = messages
            .iter()
            .map(|(seq, message)| match message {
                IndexMessage::Movement(event) => Row::Movement(movement_entry(event)),
                IndexMessage::Parked(signed) => Row::Parked(*seq, signed),
                IndexMessage::Skip => Row::Skip,
            })
            .collect();
        let result: Result<u64, TransactionError<()>> = (
            &t.movements,
            &t.movements_by_time,
            &t.movements_parked,
            &t.meta,
        )
            .transaction(|(movements, by_time, parked, meta)| {
                let mut written = 0;
                for row in &rows {
                    match row {
                        Row::Movement(row) => written += put_movement(movements, by_time, row)?,
                        Row::Parked(seq, signed) => {
                            parked.insert(&seq.to_be_bytes(), *signed)?;
                            written += 8 + signed.len() as u64;
                        }
                        Row::Skip => {}
                    }
                }
                meta.insert(META_INDEX_CURSOR, &last.to_be_bytes())?;
                written += (META_INDEX_CURSOR.len() + 8) as u64;
                Ok::<u64, ConflictableTransactionError<()>>(written)
            });
        let written = result.map_err(|e| FeedError::Transaction(format!("{e:?}")))?;
        self.wrote(written);
        Ok(())
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
    pub fn retry_parked(&self, keys: &dyn TerminalKeys) -> Result<u64, FeedError> {
        let mut indexed = 0;
        for entry in self.trees.movements_parked.iter() {
            let (key, signed) = entry?;
            match verify(&signed, keys) {
                Verification::Valid(event, _) => {
                    let row = movement_entry(&event);
                    let t = &self.trees;
                    let result: Result<u64, TransactionError<()>> = (
                        &t.movements,
                        &t.movements_by_time,
                        &t.movements_parked,
                    )
                        .transaction(|(movements, by_time, parked)| {
                            let written = put_movement(movements, by_time, &row)?;
                            parked.remove(key.as_ref())?;
                            Ok::<u64, ConflictableTransactionError<()>>(written + key.len() as u64)
                        });
                    let written = result.map_err(|e| FeedError::Transaction(format!("{e:?}")))?;
                    self.wrote(written);
                    indexed += 1;
                }
                Verification::Rejected(Rejection::UnknownTerminal(_)) => {}
                Verification::Rejected(rejection) => {
                    tracing::warn!(
                        stream_seq = decode_u64(&key, "parked key").unwrap_or_default(),
                        %rejection,
                        "parked event rejected; dropped"
                    );
                    self.trees.movements_parked.remove(&key)?;
                    self.wrote(key.len() as u64);
                }
            }
        }
        Ok(indexed)
    }

    /// Removes movements recorded before `now - retention_days`; returns how many.
    /// This terminal's own events of those movements leave the outbox's `events` tree too,
    /// unless central has not acknowledged them yet.
    pub fn prune(&self, now: jiff::Timestamp, retention_days: u32) -> Result<u64, FeedError> {
        let horizon = now.as_second() - i64::from(retention_days) * SECONDS_IN_DAY;
        let cutoff = jiff::Timestamp::from_second(horizon).unwrap_or(jiff::Timestamp::MIN);
        let end = time_key(cutoff);
        let mut removed = 0u64;
        loop {
            let keys: Vec<sled::IVec> = self
                .trees
                .movements_by_time
                .range(..end)
                .keys()
                .take(PRUNE_CHUNK)
                .collect::<Result<_, _>>()?;
            if keys.is_empty() {
                return Ok(removed);
            }
            let t = &self.trees;
            let own = self.own_terminal;
            let result: Result<u64, TransactionError<()>> = (
                &t.movements,
                &t.movements_by_time,
                &t.events,
                &t.outbox,
            )
                .transaction(|(movements, by_time, events, outbox)| {
                    let mut written = 0;
                    for key in &keys {
                        by_time.remove(key.as_ref())?;
                        written += key.len();
                        if key.len() != MOVEMENT_KEY_BYTES {
                            continue;
                        }
                        let holder = &key[8..8 + DIGEST_BYTES];
                        let mut id = [0u8; movement_list::ID_BYTES];
                        id[..8].copy_from_slice(&key[..8]);
                        id[8..].copy_from_slice(&key[8 + DIGEST_BYTES..]);
                        if let Some(list) = movements.get(holder)? {
                            match movement_list::remove(&list, &id) {
                                Ok(Some(Some(rest))) => {
                                    written += holder.len() + rest.len();
                                    movements.insert(holder, rest)?;
                                }
                                Ok(Some(None)) => {
                                    written += holder.len();
                                    movements.remove(holder)?;
                                }
                                Ok(None) => {}
                                Err(error) => {
                                    tracing::error!(%error, "movement list unreadable; not pruned");
                                    return Err(ConflictableTransactionError::Abort(()));
                                }
                            }
                        }
                        let terminal = &key[8 + DIGEST_BYTES..8 + DIGEST_BYTES + 8];
                        let seq = &key[8 + DIGEST_BYTES + 8..];
                        if terminal == own && outbox.get(seq)?.is_none() {
                            events.remove(seq)?;
                            written += seq.len();
                        }
                    }
                    Ok::<u64, ConflictableTransactionError<()>>(written as u64)
                });
            let written = result.map_err(|e| FeedError::Transaction(format!("{e:?}")))?;
            self.wrote(written);
            removed += keys.len() as u64;
        }
    }

    /// Persists the index and cursor (and whatever else the database holds unflushed), on
    /// sled's flusher threads.
    pub async fn flush_async(&self) -> Result<(), FeedError> {
        // Bytes written while this flush runs may miss it and stay counted.
        let written = self.unflushed.load(Ordering::Relaxed);
        self.db.flush_async().await?;
        // Saturating: two clones flushing at once both subtract what they saw.
        let _ = self
            .unflushed
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |now| {
                Some(now.saturating_sub(written))
            });
        Ok(())
    }

    /// Flushes when [`FLUSH_EVERY_BYTES_DEFAULT`] (or the configured amount) were written since
    /// the last flush; returns whether it did. The consumer calls it after each batch, so that
    /// memory stays bounded while it catches up.
    pub async fn flush_if_due(&self) -> Result<bool, FeedError> {
        if self.unflushed_bytes() < self.flush_every_bytes.max(1) {
            return Ok(false);
        }
        self.flush_async().await?;
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
    use async_nats::jetstream::consumer::{DeliverPolicy, pull::OrderedConfig};
    let stream = js
        .get_stream(&config.stream)
        .await
        .map_err(|e| FeedError::nats("get stream", e))?;
    let cursor = index.cursor()?;
    let consumer = stream
        .create_consumer(OrderedConfig {
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: cursor + 1,
            },
            ..OrderedConfig::default()
        })
        .await
        .map_err(|e| FeedError::nats("create consumer", e))?;
    // Whatever has arrived is applied in one transaction (a catch-up after an outage is
    // thousands of messages), at most this many at a time.
    let mut messages = consumer
        .messages()
        .await
        .map_err(|e| FeedError::nats("consume", e))?
        .ready_chunks(INDEX_BATCH_MAX);
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
                                tracing::info!(stream_seq, terminal, "no key for this terminal yet; event parked");
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
                // Waiting for the flush holds the next batch back: a catch-up goes no faster
                // than the disk takes it, instead of growing sled's unflushed memory.
                index.flush_if_due().await?;
            }
        }
    }
}
