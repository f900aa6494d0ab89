//! Replication over NATS JetStream: central appends entries to stream `LEDGER` (stream sequence
//! = entry seq, guarded by the expected-last-sequence header) and signed checkpoints to
//! `LEDGER_CHECKPOINTS`; a terminal pulls from its own cursor, verifies, and applies.

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
    CHECKPOINT_BYTES_MAX, ChainError, Change, Checkpoint, CheckpointError, Cursor, ENTRY_BYTES_MAX,
    Entry, Hash, RootSet, SignedCheckpoint, entry_hash,
};
use crate::ports::ledger::{LedgerStore, LedgerStoreError};

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
/// Bound on one request to the server.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
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

/// A snapshot: every entry up to a signed checkpoint. It is trusted through that checkpoint.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Snapshot {
    #[serde(with = "serde_bytes_vec")]
    pub checkpoint: Vec<u8>,
    pub entries: Vec<ciborium::Value>,
}

mod serde_bytes_vec {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(b)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        ciborium::Value::deserialize(d)?
            .into_bytes()
            .map_err(|_| serde::de::Error::custom("expected a byte string"))
    }
}

impl Snapshot {
    /// Builds a snapshot from a replica's applied state.
    pub fn from_store(store: &dyn LedgerStore) -> Result<Option<Self>, LedgerStoreError> {
        let cursor = store.cursor()?;
        let Some(checkpoint) = store.signed_checkpoint()? else {
            return Ok(None);
        };
        let entries = store
            .entries(1, cursor.seq)?
            .into_iter()
            .map(ciborium::Value::Bytes)
            .collect();
        Ok(Some(Self {
            checkpoint,
            entries,
        }))
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        ciborium::into_writer(self, &mut out).expect("writing cbor into a Vec cannot fail");
        out
    }

    /// Decodes a whole snapshot in memory (tools and tests; a terminal reads one with
    /// [`SnapshotReader`], entry by entry).
    pub fn decode(bytes: &[u8]) -> Result<Self, ReplicationError> {
        let mut reader = SnapshotReader::new(bytes)?;
        let mut entries = Vec::new();
        while let Some(entry) = reader.next_entry()? {
            entries.push(ciborium::Value::Bytes(entry));
        }
        Ok(Self {
            checkpoint: reader.checkpoint,
            entries,
        })
    }
}

/// Reads a snapshot as it arrives: the signed checkpoint first (it must precede the entries, as
/// [`Snapshot::encode`] writes it), then one entry at a time, so that bootstrapping a million
/// permits never holds them all.
pub struct SnapshotReader<R: std::io::Read> {
    decoder: ciborium_ll::Decoder<R>,
    /// The signed checkpoint the snapshot ends at.
    pub checkpoint: Vec<u8>,
    /// Entries not read yet.
    remaining: u64,
    read: u64,
}

fn snapshot_error(why: impl std::fmt::Display) -> ReplicationError {
    ReplicationError::Snapshot(why.to_string())
}

impl<R: std::io::Read> SnapshotReader<R> {
    /// Reads the snapshot's head: `{"checkpoint": bytes, "entries": [` with a definite length.
    pub fn new(reader: R) -> Result<Self, ReplicationError> {
        let mut decoder = ciborium_ll::Decoder::from(reader);
        match pull(&mut decoder)? {
            ciborium_ll::Header::Map(Some(2)) => {}
            other => {
                return Err(snapshot_error(format!(
                    "expected a map of two fields, found {other:?}"
                )));
            }
        }
        expect_key(&mut decoder, "checkpoint")?;
        let checkpoint = read_bytes(&mut decoder, CHECKPOINT_BYTES_MAX, "checkpoint")?;
        expect_key(&mut decoder, "entries")?;
        let remaining = match pull(&mut decoder)? {
            ciborium_ll::Header::Array(Some(n)) => u64::try_from(n).map_err(snapshot_error)?,
            other => {
                return Err(snapshot_error(format!(
                    "entries: expected an array of definite length, found {other:?}"
                )));
            }
        };
        Ok(Self {
            decoder,
            checkpoint,
            remaining,
            read: 0,
        })
    }

    /// Entries the snapshot holds (read or not).
    pub fn len(&self) -> u64 {
        self.read + self.remaining
    }

    /// Whether the snapshot holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The next entry's exact bytes, or `None` after the last.
    pub fn next_entry(&mut self) -> Result<Option<Vec<u8>>, ReplicationError> {
        if self.remaining == 0 {
            return Ok(None);
        }
        let what = format!("entry {}", self.read + 1);
        let entry = read_bytes(&mut self.decoder, ENTRY_BYTES_MAX, &what)?;
        self.remaining -= 1;
        self.read += 1;
        Ok(Some(entry))
    }
}

fn pull<R: std::io::Read>(
    decoder: &mut ciborium_ll::Decoder<R>,
) -> Result<ciborium_ll::Header, ReplicationError> {
    let offset = decoder.offset();
    decoder.pull().map_err(|e| match e {
        ciborium_ll::Error::Io(io) => snapshot_error(format!("read at byte {offset}: {io}")),
        ciborium_ll::Error::Syntax(at) => snapshot_error(format!("not CBOR at byte {at}")),
    })
}

fn read_exact<R: std::io::Read>(
    decoder: &mut ciborium_ll::Decoder<R>,
    len: usize,
    cap: usize,
    what: &str,
) -> Result<Vec<u8>, ReplicationError> {
    if len > cap {
        return Err(snapshot_error(format!(
            "{what} is {len} bytes, more than {cap}"
        )));
    }
    let offset = decoder.offset();
    let mut out = vec![0; len];
    ciborium_io::Read::read_exact(decoder, &mut out)
        .map_err(|e| snapshot_error(format!("{what} cut short at byte {offset}: {e}")))?;
    Ok(out)
}

fn read_bytes<R: std::io::Read>(
    decoder: &mut ciborium_ll::Decoder<R>,
    cap: usize,
    what: &str,
) -> Result<Vec<u8>, ReplicationError> {
    match pull(decoder)? {
        ciborium_ll::Header::Bytes(Some(len)) => read_exact(decoder, len, cap, what),
        other => Err(snapshot_error(format!(
            "{what}: expected a byte string of definite length, found {other:?}"
        ))),
    }
}

fn expect_key<R: std::io::Read>(
    decoder: &mut ciborium_ll::Decoder<R>,
    key: &str,
) -> Result<(), ReplicationError> {
    let found = match pull(decoder)? {
        ciborium_ll::Header::Text(Some(len)) => read_exact(decoder, len, key.len(), "field name")
            .map(|name| String::from_utf8_lossy(&name).into_owned()),
        other => Err(snapshot_error(format!(
            "expected field {key:?}, found {other:?}"
        ))),
    }?;
    if found == key {
        Ok(())
    } else {
        Err(snapshot_error(format!(
            "expected field {key:?}, found {found:?}"
        )))
    }
}

/// Creates the streams and the snapshot bucket if missing (file storage, limits retention,
/// `replicas` copies each: 3 on a three-node cluster).
pub async fn provision(js: &jetstream::Context, replicas: usize) -> Result<(), ReplicationError> {
    for (name, subject) in [
        (ENTRY_STREAM, ENTRY_SUBJECT),
        (CHECKPOINT_STREAM, CHECKPOINT_SUBJECT),
    ] {
        js.get_or_create_stream(stream::Config {
            name: name.into(),
            subjects: vec![subject.into()],
            storage: stream::StorageType::File,
            retention: stream::RetentionPolicy::Limits,
            num_replicas: replicas,
            ..Default::default()
        })
        .await
        .map_err(nats)?;
    }
    if js.get_object_store(SNAPSHOT_BUCKET).await.is_err() {
        js.create_object_store(jetstream::object_store::Config {
            bucket: SNAPSHOT_BUCKET.into(),
            storage: stream::StorageType::File,
            num_replicas: replicas,
            ..Default::default()
        })
        .await
        .map_err(nats)?;
    }
    Ok(())
}

/// Connects to `url`, a seed URL or several separated by commas (the servers of central's
/// cluster: the client learns the others and moves to another when one is lost).
async fn connect(url: &str) -> Result<jetstream::Context, ReplicationError> {
    let seeds: Vec<&str> = url.split(',').map(str::trim).collect();
    let client = async_nats::ConnectOptions::new()
        .request_timeout(Some(REQUEST_TIMEOUT))
        .connect(seeds.as_slice())
        .await
        .map_err(nats)?;
    Ok(jetstream::new(client))
}

/// Central's writer. There is one per ledger; the expected-last-sequence header makes a second
/// writer fail instead of forking the stream.
pub struct Central {
    js: jetstream::Context,
}

impl Central {
    pub async fn connect(url: &str) -> Result<Self, ReplicationError> {
        Ok(Self {
            js: connect(url).await?,
        })
    }

    /// Creates the streams and bucket with `replicas` copies each (see [`provision`]).
    pub async fn provision(&self, replicas: usize) -> Result<(), ReplicationError> {
        provision(&self.js, replicas).await
    }

    /// The last entry's seq and hash (`(0, zeroes)` for an empty ledger).
    pub async fn head(&self) -> Result<(u64, Hash), ReplicationError> {
        let mut stream = self.js.get_stream(ENTRY_STREAM).await.map_err(nats)?;
        let last = stream.info().await.map_err(nats)?.state.last_sequence;
        if last == 0 {
            return Ok((0, [0; 32]));
        }
        let message = stream.get_raw_message(last).await.map_err(nats)?;
        let entry =
            Entry::decode(&message.payload).map_err(|e| ReplicationError::Head(e.to_string()))?;
        if entry.seq != last {
            return Err(ReplicationError::Head(format!(
                "stream seq {last} holds entry {}",
                entry.seq
            )));
        }
        Ok((last, entry_hash(&message.payload)))
    }

    /// Appends entries after the head; returns the new head.
    pub async fn append(
        &self,
        changes: Vec<Change>,
        time: Timestamp,
    ) -> Result<(u64, Hash), ReplicationError> {
        let head = self.head().await?;
        self.append_after(head, changes, time).await
    }

    /// Appends entries after `head`, the head the caller checked them against: if another
    /// writer appended since, the server refuses the first one and nothing is appended.
    pub async fn append_after(
        &self,
        head: (u64, Hash),
        changes: Vec<Change>,
        time: Timestamp,
    ) -> Result<(u64, Hash), ReplicationError> {
        let (mut seq, mut hash) = head;
        let mut pending = Vec::with_capacity(PUBLISH_WINDOW);
        for change in changes {
            let entry = Entry {
                seq: seq + 1,
                prev: hash,
                time,
                change,
            };
            let bytes = entry.encode();
            hash = entry_hash(&bytes);
            let publish = jetstream::message::PublishMessage::build()
                .payload(bytes.into())
                .expected_last_sequence(seq);
            let ack = self
                .js
                .send_publish(ENTRY_SUBJECT, publish)
                .await
                .map_err(nats)?;
            seq += 1;
            pending.push((seq, ack));
            if pending.len() >= PUBLISH_WINDOW {
                await_acks(&mut pending).await?;
            }
        }
        await_acks(&mut pending).await?;
        Ok((seq, hash))
    }

    /// Signs the current head with the given roots and publishes the checkpoint.
    pub async fn checkpoint(
        &self,
        roots: &[SigningKey],
        time: Timestamp,
    ) -> Result<Checkpoint, ReplicationError> {
        let (size, root) = self.head().await?;
        let checkpoint = Checkpoint { size, root, time };
        self.publish_checkpoint(&SignedCheckpoint::sign(&checkpoint, roots))
            .await?;
        Ok(checkpoint)
    }

    /// Entry `seq`'s bytes as the stream holds them (`None` when the stream no longer or not
    /// yet holds it).
    pub async fn entry_at(&self, seq: u64) -> Result<Option<Vec<u8>>, ReplicationError> {
        let stream = self.js.get_stream(ENTRY_STREAM).await.map_err(nats)?;
        match stream.get_raw_message(seq).await {
            Ok(message) => Ok(Some(message.payload.to_vec())),
            Err(e) if e.kind() == stream::RawMessageErrorKind::NoMessageFound => Ok(None),
            Err(e) => Err(nats(e)),
        }
    }

    /// Replaces the entry stream by its entries `first..` as given (`kept`, the ones to keep, in
    /// order from `first`): the stream is deleted and made again starting at `first`, unless an
    /// interrupted earlier call left it holding a prefix of `kept`, which is then completed.
    /// Checkpoints stating an entry that is no longer kept are deleted. The one way to take a
    /// refused entry out of the ledger (docs/ledger.md, "A refused entry in the stream").
    pub async fn rewrite_entries(
        &self,
        first: u64,
        kept: &[Vec<u8>],
    ) -> Result<(), ReplicationError> {
        let keep_through = first + kept.len() as u64 - 1;
        let checkpoints = self.js.get_stream(CHECKPOINT_STREAM).await.map_err(nats)?;
        let replicas = checkpoints.cached_info().config.num_replicas;
        let mut last = match self.js.get_stream(ENTRY_STREAM).await {
            Ok(mut stream) => stream.info().await.map_err(nats)?.state.last_sequence,
            Err(_) => 0,
        };
        if last > keep_through || last == 0 {
            // The tail to drop is still there (or the stream is gone): make it again.
            let _ = self.js.delete_stream(ENTRY_STREAM).await;
            self.js
                .create_stream(stream::Config {
                    name: ENTRY_STREAM.into(),
                    subjects: vec![ENTRY_SUBJECT.into()],
                    storage: stream::StorageType::File,
                    retention: stream::RetentionPolicy::Limits,
                    num_replicas: replicas,
                    first_sequence: (first > 1).then_some(first),
                    ..Default::default()
                })
                .await
                .map_err(nats)?;
            last = first - 1;
        }
        let mut pending = Vec::with_capacity(PUBLISH_WINDOW);
        for (seq, bytes) in (first..).zip(kept).skip_while(|(seq, _)| *seq <= last) {
            let publish = jetstream::message::PublishMessage::build()
                .payload(bytes.clone().into())
                .expected_last_sequence(seq - 1);
            let ack = self
                .js
                .send_publish(ENTRY_SUBJECT, publish)
                .await
                .map_err(nats)?;
            pending.push((seq, ack));
            if pending.len() >= PUBLISH_WINDOW {
                await_acks(&mut pending).await?;
            }
        }
        await_acks(&mut pending).await?;
        self.drop_checkpoints_past(keep_through).await
    }

    /// Deletes the newest checkpoints while they state more than `size` entries.
    async fn drop_checkpoints_past(&self, size: u64) -> Result<(), ReplicationError> {
        let stream = self.js.get_stream(CHECKPOINT_STREAM).await.map_err(nats)?;
        loop {
            let message = match stream
                .get_last_raw_message_by_subject(CHECKPOINT_SUBJECT)
                .await
            {
                Ok(message) => message,
                Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => {
                    return Ok(());
                }
                Err(e) => return Err(nats(e)),
            };
            let stated = SignedCheckpoint::decode(&message.payload)?.unverified()?;
            if stated.size <= size {
                return Ok(());
            }
            stream
                .delete_message(message.sequence)
                .await
                .map_err(nats)?;
        }
    }

    /// Publishes an already signed checkpoint as it is.
    pub async fn publish_checkpoint(
        &self,
        signed: &SignedCheckpoint,
    ) -> Result<(), ReplicationError> {
        self.js
            .publish(CHECKPOINT_SUBJECT, signed.encode().into())
            .await
            .map_err(nats)?
            .await
            .map_err(nats)?;
        Ok(())
    }

    /// Stores a snapshot as the latest one.
    pub async fn put_snapshot(&self, snapshot: &Snapshot) -> Result<u64, ReplicationError> {
        let bucket = self
            .js
            .get_object_store(SNAPSHOT_BUCKET)
            .await
            .map_err(nats)?;
        let bytes = snapshot.encode();
        let mut reader = bytes.as_slice();
        bucket
            .put(SNAPSHOT_OBJECT, &mut reader)
            .await
            .map_err(nats)?;
        Ok(bytes.len() as u64)
    }

    /// Drops entries below `keep_from` from the stream (retention), as central does once a
    /// snapshot covers them. The head entry is always kept: it is how central knows the hash to
    /// chain the next entry to.
    pub async fn trim(&self, keep_from: u64) -> Result<(), ReplicationError> {
        let mut stream = self.js.get_stream(ENTRY_STREAM).await.map_err(nats)?;
        let last = stream.info().await.map_err(nats)?.state.last_sequence;
        stream
            .purge()
            .sequence(keep_from.min(last))
            .await
            .map_err(nats)?;
        Ok(())
    }
}

async fn await_acks(
    pending: &mut Vec<(u64, jetstream::context::PublishAckFuture)>,
) -> Result<(), ReplicationError> {
    for (seq, ack) in pending.drain(..) {
        let ack = ack.await.map_err(nats)?;
        if ack.sequence != seq {
            return Err(ReplicationError::Nats(format!(
                "entry {seq} stored at stream sequence {}",
                ack.sequence
            )));
        }
    }
    Ok(())
}

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

/// Where a terminal reads central's ledger from. [`JetStreamSource`] is the real one; the
/// deterministic simulation supplies one that drops, stalls and trims on a seeded schedule.
pub trait LedgerSource: Send + Sync {
    /// The latest signed checkpoint as published (`None` before central has published one).
    fn latest_checkpoint(
        &self,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, ReplicationError>> + Send;
    /// The first entry seq the source still holds (entries below it are only in a snapshot).
    fn first_seq(&self) -> impl Future<Output = Result<u64, ReplicationError>> + Send;
    /// Entries `from..=to`, in order; [`ReplicationError::Missing`] when the source lacks some.
    fn entries(
        &self,
        from: u64,
        to: u64,
    ) -> impl Future<Output = Result<Vec<Vec<u8>>, ReplicationError>> + Send;
    /// Writes the latest snapshot into the file `into` (created or truncated), up to
    /// [`SNAPSHOT_BYTES_MAX`] bytes, and returns its length.
    fn snapshot_into(
        &self,
        into: &Path,
    ) -> impl Future<Output = Result<u64, ReplicationError>> + Send;
}

/// The names of central's ledger streams and snapshot bucket as a terminal reads them:
/// `[upstream] ledger_stream` names the entry stream, the others are derived from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerStreams {
    /// The entry stream (`LEDGER`).
    pub entries: String,
    /// The checkpoint stream (`<entries>_CHECKPOINTS`).
    pub checkpoints: String,
    /// The snapshot bucket (`<entries>_SNAPSHOTS`).
    pub snapshots: String,
}

impl LedgerStreams {
    /// The streams of the ledger whose entry stream is `entries`.
    pub fn named(entries: &str) -> Self {
        Self {
            entries: entries.to_string(),
            checkpoints: format!("{entries}_CHECKPOINTS"),
            snapshots: format!("{entries}_SNAPSHOTS"),
        }
    }
}

impl Default for LedgerStreams {
    fn default() -> Self {
        Self::named(ENTRY_STREAM)
    }
}

/// Central's streams and snapshot bucket on JetStream, read with an ordered pull consumer from
/// the terminal's own cursor (no per-terminal state on the server).
pub struct JetStreamSource {
    js: jetstream::Context,
    streams: LedgerStreams,
}

impl JetStreamSource {
    pub async fn connect(url: &str) -> Result<Self, ReplicationError> {
        Ok(Self {
            js: connect(url).await?,
            streams: LedgerStreams::default(),
        })
    }

    /// A source reading `streams` over an open connection (the terminal's, with its
    /// credentials).
    pub fn from_client(client: async_nats::Client, streams: LedgerStreams) -> Self {
        Self {
            js: jetstream::new(client),
            streams,
        }
    }
}

impl LedgerSource for JetStreamSource {
    async fn latest_checkpoint(&self) -> Result<Option<Vec<u8>>, ReplicationError> {
        let checkpoint_stream = self
            .js
            .get_stream(&self.streams.checkpoints)
            .await
            .map_err(nats)?;
        match checkpoint_stream
            .get_last_raw_message_by_subject(CHECKPOINT_SUBJECT)
            .await
        {
            Ok(m) => Ok(Some(m.payload.to_vec())),
            Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => Ok(None),
            Err(e) => Err(nats(e)),
        }
    }

    async fn first_seq(&self) -> Result<u64, ReplicationError> {
        let mut entry_stream = self
            .js
            .get_stream(&self.streams.entries)
            .await
            .map_err(nats)?;
        Ok(entry_stream
            .info()
            .await
            .map_err(nats)?
            .state
            .first_sequence)
    }

    async fn entries(&self, from: u64, to: u64) -> Result<Vec<Vec<u8>>, ReplicationError> {
        let stream = self
            .js
            .get_stream(&self.streams.entries)
            .await
            .map_err(nats)?;
        let consumer = stream
            .create_consumer(consumer::pull::OrderedConfig {
                filter_subject: ENTRY_SUBJECT.into(),
                deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                    start_sequence: from,
                },
                ..Default::default()
            })
            .await
            .map_err(nats)?;
        let mut messages = consumer.messages().await.map_err(nats)?;
        let mut out = Vec::with_capacity(usize::try_from(to - from + 1).unwrap_or(0));
        let mut expected = from;
        while expected <= to {
            let message = tokio::time::timeout(FETCH_TIMEOUT, messages.next())
                .await
                .map_err(|_| ReplicationError::Missing { from: expected, to })?
                .ok_or(ReplicationError::Missing { from: expected, to })?
                .map_err(nats)?;
            let stream_seq = message.info().map_err(nats)?.stream_sequence;
            if stream_seq != expected {
                // The stream was trimmed under us; the next round bootstraps.
                return Err(ReplicationError::Missing {
                    from: expected,
                    to: stream_seq.min(to),
                });
            }
            out.push(message.payload.to_vec());
            expected += 1;
        }
        Ok(out)
    }

    async fn snapshot_into(&self, into: &Path) -> Result<u64, ReplicationError> {
        let bucket = self
            .js
            .get_object_store(&self.streams.snapshots)
            .await
            .map_err(nats)?;
        let object = bucket.get(SNAPSHOT_OBJECT).await.map_err(nats)?;
        let mut file = tokio::fs::File::create(into)
            .await
            .map_err(|e| scratch_error(into, e))?;
        tokio::io::copy(&mut object.take(SNAPSHOT_BYTES_MAX), &mut file)
            .await
            .map_err(nats)
    }
}

/// What the feed of a run sends to the thread applying it.
enum RunChunk {
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
        url: &str,
        store: S,
        roots: RootSet,
        check: Arc<dyn PermitCheck + Send + Sync>,
    ) -> Result<Self, ReplicationError> {
        Ok(Self::new(
            JetStreamSource::connect(url).await?,
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
    async fn apply_run<'a, F, Fut>(
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
    async fn bootstrap(&self, cursor: Cursor) -> Result<ReplicationOutcome, ReplicationError> {
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

    async fn bootstrap_from(
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

impl From<ChainError> for ReplicationError {
    fn from(e: ChainError) -> Self {
        Self::Store(LedgerStoreError::Chain(e))
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
const APPLY_NICE: i32 = 10;

#[cfg(test)]
mod tests {
    use super::*;

    fn nice_of_this_thread() -> i64 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("stat");
        // Field 19 is the nice value; fields after the parenthesised name are space-separated.
        let after_name = &stat[stat.rfind(')').expect("name") + 2..];
        after_name
            .split(' ')
            .nth(16)
            .and_then(|n| n.parse().ok())
            .expect("nice field")
    }

    fn snapshot_of(entries: &[&[u8]]) -> Vec<u8> {
        Snapshot {
            checkpoint: b"signed checkpoint".to_vec(),
            entries: entries
                .iter()
                .map(|e| ciborium::Value::Bytes(e.to_vec()))
                .collect(),
        }
        .encode()
    }

    #[test]
    fn a_snapshot_is_read_entry_by_entry_and_every_cut_is_an_error() {
        let bytes = snapshot_of(&[b"one", b"", b"three"]);
        let mut reader = SnapshotReader::new(bytes.as_slice()).expect("head");
        assert_eq!(reader.checkpoint, b"signed checkpoint");
        assert_eq!(reader.len(), 3);
        let mut read = Vec::new();
        while let Some(entry) = reader.next_entry().expect("entry") {
            read.push(entry);
        }
        assert_eq!(read, [b"one".to_vec(), Vec::new(), b"three".to_vec()]);
        let decoded = Snapshot::decode(&bytes).expect("decode");
        assert_eq!(decoded.entries.len(), 3);

        for cut in 0..bytes.len() {
            let whole = SnapshotReader::new(&bytes[..cut]).and_then(|mut reader| {
                while reader.next_entry()?.is_some() {}
                Ok(())
            });
            assert!(whole.is_err(), "cut at {cut} read as a whole snapshot");
        }
    }

    #[test]
    fn a_snapshot_out_of_shape_is_refused_with_the_reason() {
        let refused = |bytes: &[u8]| match SnapshotReader::new(bytes).and_then(|mut reader| {
            while reader.next_entry()?.is_some() {}
            Ok(())
        }) {
            Err(ReplicationError::Snapshot(why)) => why,
            other => panic!("expected a refusal, got {other:?}"),
        };
        let cbor = |value: &ciborium::Value| {
            let mut out = Vec::new();
            ciborium::into_writer(value, &mut out).expect("encode");
            out
        };
        use ciborium::Value::{Array, Bytes, Map, Text};
        let entries_first = Map(vec![
            (Text("entries".into()), Array(vec![])),
            (Text("checkpoint".into()), Bytes(vec![1])),
        ]);
        assert!(refused(&cbor(&entries_first)).contains("expected field \"checkpoint\""));
        let text_entry = Map(vec![
            (Text("checkpoint".into()), Bytes(vec![1])),
            (Text("entries".into()), Array(vec![Text("x".into())])),
        ]);
        assert!(refused(&cbor(&text_entry)).contains("entry 1: expected a byte string"));
        let huge = Map(vec![
            (Text("checkpoint".into()), Bytes(vec![1])),
            (
                Text("entries".into()),
                Array(vec![Bytes(vec![0; ENTRY_BYTES_MAX + 1])]),
            ),
        ]);
        assert!(refused(&cbor(&huge)).contains("more than"));
        assert!(refused(b"\xff").contains("expected a map"));
    }

    #[test]
    fn lowering_priority_affects_only_the_calling_thread() {
        let before = nice_of_this_thread();
        let lowered = std::thread::spawn(|| {
            lower_priority();
            nice_of_this_thread()
        })
        .join()
        .expect("thread");
        assert_eq!(lowered, (before + i64::from(APPLY_NICE)).min(19));
        assert_eq!(nice_of_this_thread(), before);
    }
}
