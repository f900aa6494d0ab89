//! The durable JetStream consumer on `EVENTS`: each batch is verified with the terminal keys of
//! central's ledger replica, classified against the record (new, replayed, conflicting, chain
//! break), written in one transaction with the stream position, and acknowledged after commit.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull};
use ed25519_dalek::VerifyingKey;
use futures::StreamExt;

use super::config::{NatsSettings, PostgresSettings};
use super::store::{self, AnomalyRow, Batch, MovementRow, MovementStore, StoreError};
use crate::adapters::ledger::SledLedger;
use crate::core::event::{
    Admission, CrossingEvent, CrossingKind, EventHash, GENESIS_HASH, TerminalId, TerminalKeys,
    Verdict, Verification, verify,
};
use crate::ports::ledger::LedgerView;

/// How long an unacknowledged batch stays with this consumer before JetStream redelivers it.
const ACK_WAIT: Duration = Duration::from_secs(30);
/// How long a pull waits for the first new message when the consumer has none ready.
const PULL_WAIT: Duration = Duration::from_millis(500);
/// How long a pull may stay silent (past its expiry, or between two messages) before it is taken
/// as lost: its server died or the consumer's leader moved, and the server's answer will never
/// come. The client's own guard is 5 s past the expiry, a stall the fleet measured.
const PULL_SILENCE_MAX: Duration = Duration::from_millis(500);
/// Pause before pulling again after a failed pull (a leader election answers with errors).
const PULL_RETRY_DELAY: Duration = Duration::from_millis(100);
/// Longest pause between attempts to reach PostgreSQL again.
const RETRY_DELAY_MAX: Duration = Duration::from_secs(5);
/// Longest pause between attempts to reach the stream again: a cluster elects a new leader in
/// seconds, and a doubling delay capped at 5 s would add seconds to one failover.
const NATS_RETRY_DELAY_MAX: Duration = Duration::from_secs(1);

/// Failures that stop ingestion (everything transient is retried inside).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// NATS failed in a way a retry does not fix.
    #[error("nats {op}: {why}")]
    Nats {
        /// What was being done.
        op: &'static str,
        /// The client's error.
        why: String,
    },
    /// A signature-checking thread failed (panicked); the batch is not acknowledged.
    #[error("verifying a pulled batch failed; it is pulled again")]
    Verify,
    /// The record refused the batch for a reason a retry does not fix.
    #[error("{0}")]
    Store(#[from] StoreError),
}

fn nats_error(op: &'static str) -> impl FnOnce(String) -> IngestError {
    move |why| IngestError::Nats { op, why }
}

/// Terminal keys as central's ledger replica holds them: the terminal's current (not retired)
/// key, so an event signed with a retired key is rejected.
pub struct ReplicaTerminalKeys(pub SledLedger);

impl TerminalKeys for ReplicaTerminalKeys {
    fn verifying_key(&self, terminal: &TerminalId) -> Option<VerifyingKey> {
        let keys = self.0.terminal_keys(terminal.as_str()).ok()?;
        keys.iter()
            .rev()
            .find(|key| key.retired_at.is_none())
            .and_then(|key| VerifyingKey::from_bytes(&key.key.public_key).ok())
    }
}

/// One verifying thread's view of the terminal keys while it verifies its part of a batch: each
/// terminal's key is read from the replica (a sled read and a point decompression) once per part,
/// not once per event. A key retired meanwhile applies from the next batch on, as the replica's
/// own polling delays it anyway.
struct PartKeys<'a> {
    keys: &'a (dyn TerminalKeys + Send + Sync),
    seen: RefCell<HashMap<TerminalId, Option<VerifyingKey>>>,
}

impl TerminalKeys for PartKeys<'_> {
    fn verifying_key(&self, terminal: &TerminalId) -> Option<VerifyingKey> {
        if let Some(key) = self.seen.borrow().get(terminal) {
            return *key;
        }
        let key = self.keys.verifying_key(terminal);
        self.seen.borrow_mut().insert(terminal.clone(), key);
        key
    }
}

/// One message of a pulled batch, verified.
struct Pulled {
    stream_seq: u64,
    payload: Vec<u8>,
    verification: Verification,
}

/// Consumes `EVENTS` into the record until `shutdown`; transient NATS and PostgreSQL failures
/// are retried with the batch in hand, so nothing is acknowledged before it is committed.
pub async fn run_ingest(
    nats: &NatsSettings,
    postgres: &PostgresSettings,
    keys: Arc<dyn TerminalKeys + Send + Sync>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), IngestError> {
    tokio::pin!(shutdown);
    let mut store = connect_store(postgres, &nats.durable).await;
    let client = connect(nats).await?;
    let js = jetstream::new(client);
    let mut position = stored_position(&mut store, postgres, &nats.durable).await;
    let mut reader = Reader::start(durable_consumer(&js, nats, position).await?, nats, &keys);
    loop {
        let read = tokio::select! {
            () = &mut shutdown => return Ok(()),
            read = reader.batches.recv() => read,
        };
        let verified = match read {
            Some((verifying, last)) => verifying.await.ok().and_then(Result::ok).zip(Some(last)),
            None => None,
        };
        let Some((verified, last)) = verified else {
            // A verifying thread (or the reader) failed: nothing after the stored position is
            // committed until it is read again from there.
            tracing::warn!(message = "verifying a pulled batch failed; reading it again");
            drop(reader);
            reader = Reader::start(durable_consumer(&js, nats, position).await?, nats, &keys);
            continue;
        };
        let fresh: Vec<_> = verified
            .into_iter()
            .filter(|pulled| pulled.stream_seq > position)
            .collect();
        if skips_stored_messages(&js, nats, &fresh, position).await {
            drop(reader);
            reader = Reader::start(durable_consumer(&js, nats, position).await?, nats, &keys);
            continue;
        }
        if let Some(batch_last) = fresh.last().map(|pulled| pulled.stream_seq) {
            // The reader pulls and verifies the next batches (NATS, all cores) meanwhile;
            // nothing of them is acknowledged before their own commit.
            let ok;
            (store, ok) = commit_with_retry(store, postgres, &nats.durable, fresh, position).await;
            if !ok {
                // The stored position moved under this batch: nothing of it is acknowledged,
                // and reading starts again right after what the record holds.
                drop(reader);
                position = stored_position(&mut store, postgres, &nats.durable).await;
                tracing::warn!(
                    message = "stored position moved; consumer re-created there",
                    position
                );
                reader = Reader::start(durable_consumer(&js, nats, position).await?, nats, &keys);
                continue;
            }
            position = batch_last;
        }
        // Acknowledging the last message acknowledges the whole batch (AckPolicy::All). A lost
        // acknowledgement only brings a redelivery, which the stored position skips.
        if let Err(error) = last.ack().await {
            tracing::warn!(message = "batch acknowledgement not sent", %error);
        }
    }
}

/// Whether `fresh` starts past messages the stream still holds after the stored `position` (a
/// redelivery overtaken by newer ones): committing would move the position past them, so they
/// are read again from the position instead.
async fn skips_stored_messages(
    js: &jetstream::Context,
    nats: &NatsSettings,
    fresh: &[Pulled],
    position: u64,
) -> bool {
    let Some(first) = fresh.first() else {
        return false;
    };
    if first.stream_seq <= position + 1 || !stream_holds(js, nats, position + 1).await {
        return false;
    }
    tracing::warn!(
        message = "delivery skipped messages; consumer re-created at the stored position",
        position,
        first = first.stream_seq
    );
    true
}

/// Batches pulled but not yet committed, at most (besides the one being committed): enough
/// that the pulls and the verification of the next batches keep the cores busy while
/// PostgreSQL commits, few enough to stay well inside the consumer's pending-ack limit.
const READ_AHEAD: usize = 2;

/// A batch being verified (on the blocking pool) and its last message, to acknowledge.
type Reading = (
    tokio::task::JoinHandle<Result<Vec<Pulled>, IngestError>>,
    jetstream::Message,
);

/// Pulls batches from the durable consumer and starts verifying each as it arrives, in stream
/// order and up to [`READ_AHEAD`] ahead of the commits. Dropping it stops the pulls (a
/// consumer re-created elsewhere delivers again from the stored position).
struct Reader {
    batches: tokio::sync::mpsc::Receiver<Reading>,
    task: tokio::task::JoinHandle<()>,
}

impl Reader {
    fn start(
        consumer: jetstream::consumer::Consumer<pull::Config>,
        nats: &NatsSettings,
        keys: &Arc<dyn TerminalKeys + Send + Sync>,
    ) -> Self {
        let (send, batches) = tokio::sync::mpsc::channel(READ_AHEAD);
        let (max, keys) = (nats.batch_max, Arc::clone(keys));
        let task = tokio::spawn(async move {
            loop {
                match pull_batch(&consumer, max).await {
                    Ok((messages, Some(last))) => {
                        let verifying = tokio::spawn(verify_all(messages, Arc::clone(&keys)));
                        if send.send((verifying, last)).await.is_err() {
                            return;
                        }
                    }
                    Ok((_, None)) => {}
                    Err(error) => {
                        tracing::warn!(message = "pull from EVENTS failed; retrying", %error);
                        tokio::time::sleep(PULL_RETRY_DELAY).await;
                    }
                }
            }
        });
        Self { batches, task }
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The stored position, reconnecting to PostgreSQL until it answers.
async fn stored_position(
    store: &mut MovementStore,
    postgres: &PostgresSettings,
    durable: &str,
) -> u64 {
    loop {
        match store.position().await {
            Ok(position) => return position,
            Err(error) => {
                tracing::warn!(message = "postgresql unavailable; reconnecting", %error);
                *store = connect_store(postgres, durable).await;
            }
        }
    }
}

async fn connect_store(postgres: &PostgresSettings, durable: &str) -> MovementStore {
    let mut delay = Duration::from_millis(100);
    loop {
        match store::connect(postgres).await {
            Ok(mut client) => match store::migrate(&mut client).await {
                Ok(()) => return MovementStore::new(client, durable),
                Err(error) => tracing::warn!(message = "schema migration failed", %error),
            },
            Err(error) => tracing::warn!(message = "postgresql unreachable", %error, ?delay),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(RETRY_DELAY_MAX);
    }
}

/// Whether the stream still holds message `seq` (not removed by its limits).
async fn stream_holds(js: &jetstream::Context, nats: &NatsSettings, seq: u64) -> bool {
    match js.get_stream(&nats.stream).await {
        Ok(mut stream) => match stream.info().await {
            Ok(info) => info.state.first_sequence <= seq,
            Err(_) => true,
        },
        Err(_) => true,
    }
}

/// The durable consumer, (re-)created to start right after the stored position: the position in
/// PostgreSQL is the truth, and the server's own ack state of an earlier run (messages handed to
/// a process that died before committing them) must not let a later acknowledgement skip them.
async fn durable_consumer(
    js: &jetstream::Context,
    nats: &NatsSettings,
    position: u64,
) -> Result<jetstream::consumer::Consumer<pull::Config>, IngestError> {
    let mut delay = Duration::from_millis(100);
    let stream = loop {
        match js.get_stream(&nats.stream).await {
            Ok(stream) => break stream,
            Err(error) => {
                tracing::warn!(message = "events stream not available yet", %error, ?delay);
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(NATS_RETRY_DELAY_MAX);
            }
        }
    };
    let deliver_policy = if position == 0 {
        jetstream::consumer::DeliverPolicy::All
    } else {
        jetstream::consumer::DeliverPolicy::ByStartSequence {
            start_sequence: position + 1,
        }
    };
    // Absent on a first start; any other failure shows again when it is created.
    let _ = stream.delete_consumer(&nats.durable).await;
    stream
        .create_consumer(pull::Config {
            durable_name: Some(nats.durable.clone()),
            deliver_policy,
            ack_policy: jetstream::consumer::AckPolicy::All,
            ack_wait: ACK_WAIT,
            max_ack_pending: i64::try_from(nats.batch_max * (READ_AHEAD + 4)).unwrap_or(i64::MAX),
            ..pull::Config::default()
        })
        .await
        .map_err(|e| nats_error("durable consumer")(e.to_string()))
}

type PulledBatch = (Vec<(u64, Vec<u8>)>, Option<jetstream::Message>);

/// Up to `max` messages with their stream sequences, and the last message (to acknowledge):
/// what the consumer has ready, at once; when it has nothing, the first message to arrive within
/// [`PULL_WAIT`] and what is ready after it. A batch never waits to fill up.
async fn pull_batch(
    consumer: &jetstream::consumer::Consumer<pull::Config>,
    max: usize,
) -> Result<PulledBatch, IngestError> {
    let mut pulled = (Vec::new(), None);
    let ready = consumer.fetch().max_messages(max);
    take_pull(ready.messages().await, Duration::ZERO, &mut pulled).await?;
    if !pulled.0.is_empty() {
        return Ok(pulled);
    }
    let first = consumer.batch().max_messages(1).expires(PULL_WAIT);
    take_pull(first.messages().await, PULL_WAIT, &mut pulled).await?;
    if !pulled.0.is_empty() && max > 1 {
        let rest = consumer.fetch().max_messages(max - 1);
        take_pull(rest.messages().await, Duration::ZERO, &mut pulled).await?;
    }
    Ok(pulled)
}

/// Adds one pull's messages to `into`, in stream order. A pull silent for longer than
/// [`PULL_SILENCE_MAX`] (past `expires` for its first message) ends with what arrived, and so
/// does one that fails after delivering some: messages it might still deliver go to a dropped
/// inbox, and the gap check in [`run_ingest`] reads them again from the stored position.
async fn take_pull(
    pull: Result<pull::Batch, pull::BatchError>,
    expires: Duration,
    into: &mut PulledBatch,
) -> Result<(), IngestError> {
    let mut pull = pull.map_err(|e| nats_error("pull")(e.to_string()))?;
    let mut silence = expires + PULL_SILENCE_MAX;
    loop {
        let message = match tokio::time::timeout(silence, pull.next()).await {
            Ok(Some(Ok(message))) => message,
            Ok(None) => return Ok(()),
            Ok(Some(Err(error))) if into.0.is_empty() => {
                return Err(nats_error("pull")(error.to_string()));
            }
            Ok(Some(Err(error))) => {
                tracing::warn!(message = "pull ended early; keeping what arrived", %error);
                return Ok(());
            }
            Err(_) => {
                tracing::warn!(
                    message = "pull unanswered; taken as lost",
                    silent_ms = silence.as_millis()
                );
                return Ok(());
            }
        };
        silence = PULL_SILENCE_MAX;
        let seq = message
            .info()
            .map_err(|e| nats_error("message info")(e.to_string()))?
            .stream_sequence;
        into.0.push((seq, message.payload.to_vec()));
        into.1 = Some(message);
    }
}

/// Verifies every message's signature on the blocking pool, split over the available cores. A
/// verifying thread that panicked fails the whole batch (it is then pulled again), never drops
/// its part.
async fn verify_all(
    mut messages: Vec<(u64, Vec<u8>)>,
    keys: Arc<dyn TerminalKeys + Send + Sync>,
) -> Result<Vec<Pulled>, IngestError> {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let chunk = messages.len().div_ceil(threads).max(1);
    let mut parts = Vec::with_capacity(threads);
    while messages.len() > chunk {
        let rest = messages.split_off(chunk);
        parts.push(std::mem::replace(&mut messages, rest));
    }
    parts.push(messages);
    let verified = tokio::task::spawn_blocking(move || {
        std::thread::scope(|scope| {
            let workers: Vec<_> = parts
                .into_iter()
                .map(|part| {
                    let keys = &keys;
                    scope.spawn(move || verify_part(part, keys.as_ref()))
                })
                .collect();
            let mut verified = Vec::new();
            for worker in workers {
                verified.extend(worker.join().ok()?);
            }
            Some(verified)
        })
    })
    .await;
    verified.ok().flatten().ok_or(IngestError::Verify)
}

fn verify_part(part: Vec<(u64, Vec<u8>)>, keys: &(dyn TerminalKeys + Send + Sync)) -> Vec<Pulled> {
    let keys = PartKeys {
        keys,
        seen: RefCell::new(HashMap::new()),
    };
    part.into_iter()
        .map(|(stream_seq, payload)| Pulled {
            stream_seq,
            verification: verify(&payload, &keys),
            payload,
        })
        .collect()
}

/// Classifies and commits, reconnecting to PostgreSQL until the batch is in; `false` when the
/// stored position is no longer `after` (the batch is then dropped, unacknowledged).
async fn commit_with_retry(
    mut store: MovementStore,
    postgres: &PostgresSettings,
    durable: &str,
    pulled: Vec<Pulled>,
    after: u64,
) -> (MovementStore, bool) {
    loop {
        let attempt = async {
            let batch = classify(&mut store, &pulled, after).await?;
            store.commit(&batch).await?;
            Ok::<_, StoreError>(batch)
        }
        .await;
        match attempt {
            Ok(batch) => {
                tracing::debug!(
                    message = "batch committed",
                    movements = batch.movements.len(),
                    anomalies = batch.anomalies.len(),
                    position = batch.last_stream_seq
                );
                return (store, true);
            }
            Err(error @ StoreError::PositionMoved { .. }) => {
                tracing::warn!(message = "batch not committed", %error);
                return (store, false);
            }
            Err(error) => {
                tracing::warn!(message = "batch not committed; reconnecting", %error);
                store = connect_store(postgres, durable).await;
            }
        }
    }
}

/// Turns a verified batch into rows: what the record already holds decides whether an event is
/// new, a replay of the same bytes, or a conflicting second version of a (terminal, seq).
async fn classify(
    store: &mut MovementStore,
    pulled: &[Pulled],
    after: u64,
) -> Result<Batch, StoreError> {
    let mut wanted = Vec::new();
    for item in pulled {
        if let Verification::Valid(event, _) = &item.verification {
            let seq = i64::try_from(event.seq).unwrap_or(i64::MAX);
            wanted.push((event.terminal.to_string(), seq));
            wanted.push((event.terminal.to_string(), seq - 1));
        }
    }
    let mut known = store.known_hashes(&wanted).await?;
    let mut batch = Batch {
        after_stream_seq: after,
        last_stream_seq: pulled.last().map_or(0, |p| p.stream_seq),
        ..Batch::default()
    };
    for item in pulled {
        let stream_seq = i64::try_from(item.stream_seq).unwrap_or(i64::MAX);
        match &item.verification {
            Verification::Rejected(rejection) => batch.anomalies.push(AnomalyRow {
                stream_seq,
                terminal: None,
                seq: None,
                kind: rejection_code(rejection),
                detail: rejection.to_string(),
                payload: item.payload.clone(),
            }),
            Verification::Valid(event, hash) => {
                admit(&mut known, &mut batch, event, *hash, item);
            }
        }
    }
    Ok(batch)
}

fn admit(
    known: &mut HashMap<(String, i64), Vec<u8>>,
    batch: &mut Batch,
    event: &CrossingEvent,
    hash: EventHash,
    item: &Pulled,
) {
    let stream_seq = i64::try_from(item.stream_seq).unwrap_or(i64::MAX);
    let seq = i64::try_from(event.seq).unwrap_or(i64::MAX);
    let terminal = event.terminal.to_string();
    let anomaly = |kind: &str, detail: String| AnomalyRow {
        stream_seq,
        terminal: Some(terminal.clone()),
        seq: Some(seq),
        kind: kind.to_string(),
        detail,
        payload: item.payload.clone(),
    };
    let admission = match known.get(&(terminal.clone(), seq)) {
        Some(seen) if seen.as_slice() == hash.0 => Admission::Duplicate,
        Some(_) => Admission::Conflict,
        None => Admission::New,
    };
    match admission {
        Admission::Duplicate => batch.anomalies.push(anomaly(
            "replayed",
            "an event already recorded arrived again at a new stream position".into(),
        )),
        Admission::Conflict => batch.anomalies.push(anomaly(
            "conflict",
            "a second, different event with this terminal and seq".into(),
        )),
        Admission::New => {
            let expected_prev = if event.seq == 1 {
                Some(GENESIS_HASH.0.to_vec())
            } else {
                known.get(&(terminal.clone(), seq - 1)).cloned()
            };
            if let Some(expected) = expected_prev
                && expected.as_slice() != event.prev_hash.0
            {
                batch.anomalies.push(anomaly(
                    "chain_break",
                    "prev_hash does not match the recorded predecessor".into(),
                ));
            }
            known.insert((terminal, seq), hash.0.to_vec());
            batch.movements.push(movement_row(event, hash, stream_seq));
        }
    }
}

/// The stable code of a rejection (its serialised `reason` tag).
fn rejection_code(rejection: &crate::core::event::Rejection) -> String {
    serde_json::to_value(rejection)
        .ok()
        .and_then(|value| value.get("reason")?.as_str().map(str::to_string))
        .unwrap_or_else(|| "rejected".to_string())
}

fn movement_row(event: &CrossingEvent, hash: EventHash, stream_seq: i64) -> MovementRow {
    let crossing = &event.crossing;
    let traveller = &crossing.traveller;
    let offset =
        jiff::tz::Offset::from_seconds(event.utc_offset_s).unwrap_or(jiff::tz::Offset::UTC);
    MovementRow {
        terminal: event.terminal.to_string(),
        seq: i64::try_from(event.seq).unwrap_or(i64::MAX),
        event_hash: hash.0.to_vec(),
        prev_hash: event.prev_hash.0.to_vec(),
        stream_seq,
        recorded_at: event.wall_time,
        local_date: offset.to_datetime(event.wall_time).date(),
        utc_offset_s: event.utc_offset_s,
        checkpoint: crossing.checkpoint.clone(),
        lane: crossing.lane.clone(),
        direction: match crossing.direction {
            CrossingKind::Entry => "entry",
            CrossingKind::Exit => "exit",
            CrossingKind::RefusedEntry => "refused_entry",
            CrossingKind::Referred => "referred",
        },
        verdict: match crossing.verdict {
            Verdict::Admit => "admit",
            Verdict::Refer => "refer",
            Verdict::Refuse => "refuse",
        },
        holder: traveller.holder_digest().0.to_vec(),
        issuing_state: traveller.issuing_state.clone(),
        document_type: traveller.document_type.clone(),
        document_number: traveller.document_number.expose().to_string(),
        nationality: traveller.nationality.clone(),
        birth_date: traveller.birth_date.clone(),
        sex: traveller.sex.clone(),
        permit_cti: crossing.grounds.permit_cti.clone(),
        evisa: crossing.grounds.evisa.clone(),
    }
}

/// A terminal's heartbeat as published on `heartbeats.<terminal>` (JSON, see
/// `adapters::feed::Heartbeat`).
#[derive(Debug, serde::Deserialize)]
struct HeartbeatMessage {
    terminal: String,
    at: Option<jiff::Timestamp>,
    #[serde(default)]
    devices_up: Vec<String>,
    outbox_depth: u64,
    ledger_age_s: Option<u64>,
    #[serde(default)]
    clock_suspect: bool,
}

/// Reads one heartbeat; the terminal named inside must be the one in the subject.
pub fn heartbeat_row(subject: &str, payload: &[u8]) -> Result<store::HeartbeatRow, String> {
    let message: HeartbeatMessage =
        serde_json::from_slice(payload).map_err(|e| format!("not a heartbeat: {e}"))?;
    let from_subject = subject
        .strip_prefix(crate::adapters::feed::HEARTBEAT_SUBJECT_PREFIX)
        .and_then(|rest| rest.strip_prefix('.'))
        .unwrap_or_default();
    let terminal = TerminalId::new(message.terminal.clone()).map_err(|e| e.to_string())?;
    if terminal.as_str() != from_subject {
        return Err(format!("heartbeat for {terminal} published on {subject}"));
    }
    Ok(store::HeartbeatRow {
        terminal: message.terminal,
        heartbeat_at: message.at,
        outbox_depth: i64::try_from(message.outbox_depth).unwrap_or(i64::MAX),
        ledger_age_s: message.ledger_age_s.and_then(|age| i64::try_from(age).ok()),
        clock_suspect: message.clock_suspect,
        devices_up: message.devices_up,
    })
}

/// Connects through the configured link (seeds, TLS, credentials), retrying in the background
/// while no server answers.
async fn connect(nats: &NatsSettings) -> Result<async_nats::Client, IngestError> {
    let link = nats.link();
    crate::adapters::nats::link_options(&link)
        .map_err(|e| nats_error("connect")(e.to_string()))?
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connect(link.urls.as_slice())
        .await
        .map_err(|e| nats_error("connect")(e.to_string()))
}

/// Records every terminal's latest heartbeat until `shutdown` (best effort, like the
/// heartbeats themselves: a malformed one is logged and dropped).
pub async fn run_heartbeats(
    nats: &NatsSettings,
    postgres: &PostgresSettings,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), IngestError> {
    tokio::pin!(shutdown);
    let client = connect(nats).await?;
    let mut beats = client
        .subscribe(format!(
            "{}.>",
            crate::adapters::feed::HEARTBEAT_SUBJECT_PREFIX
        ))
        .await
        .map_err(|e| nats_error("subscribe heartbeats")(e.to_string()))?;
    let mut db: Option<tokio_postgres::Client> = None;
    loop {
        let message = tokio::select! {
            () = &mut shutdown => return Ok(()),
            message = beats.next() => match message {
                Some(message) => message,
                None => return Ok(()),
            },
        };
        let row = match heartbeat_row(message.subject.as_str(), &message.payload) {
            Ok(row) => row,
            Err(why) => {
                tracing::warn!(message = "heartbeat dropped", why);
                continue;
            }
        };
        if db.as_ref().is_none_or(tokio_postgres::Client::is_closed) {
            db = store::connect(postgres).await.ok();
        }
        if let Some(client) = &db
            && let Err(error) = store::record_heartbeat(client, &row).await
        {
            tracing::warn!(message = "heartbeat not recorded", %error);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::event::{ClockState, Rejection};

    fn event(seq: u64, prev: EventHash) -> CrossingEvent {
        CrossingEvent {
            v: crate::core::event::EVENT_FORMAT_VERSION,
            event_id: format!("{seq:032x}"),
            terminal: TerminalId::new("T1").expect("id"),
            seq,
            prev_hash: prev,
            wall_time: jiff::Timestamp::from_second(1_767_225_600).expect("time"),
            time_zone: "Asia/Baku".into(),
            utc_offset_s: 14_400,
            clock: ClockState {
                last_sync_age_s: None,
                monotonic_ns: 0,
                behind_high_water_ms: None,
            },
            crossing: crate::cli::feed::synthetic_crossing(seq, "GYD"),
        }
    }

    fn pulled(stream_seq: u64) -> Pulled {
        Pulled {
            stream_seq,
            payload: Vec::new(),
            verification: Verification::Rejected(Rejection::NoPayload),
        }
    }

    #[test]
    fn replays_conflicts_and_chain_breaks_are_anomalies() {
        let mut known = HashMap::new();
        let mut batch = Batch::default();
        let first = event(1, GENESIS_HASH);
        admit(
            &mut known,
            &mut batch,
            &first,
            EventHash([1; 32]),
            &pulled(1),
        );
        admit(
            &mut known,
            &mut batch,
            &first,
            EventHash([1; 32]),
            &pulled(2),
        );
        admit(
            &mut known,
            &mut batch,
            &first,
            EventHash([9; 32]),
            &pulled(3),
        );
        // Seq 2 names a predecessor that is not the recorded seq 1: authentic, so recorded,
        // and flagged.
        let second = event(2, EventHash([5; 32]));
        admit(
            &mut known,
            &mut batch,
            &second,
            EventHash([2; 32]),
            &pulled(4),
        );
        let third = event(3, EventHash([2; 32]));
        admit(
            &mut known,
            &mut batch,
            &third,
            EventHash([3; 32]),
            &pulled(5),
        );
        let seqs: Vec<i64> = batch.movements.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, [1, 2, 3]);
        let kinds: Vec<(&str, i64)> = batch
            .anomalies
            .iter()
            .map(|a| (a.kind.as_str(), a.stream_seq))
            .collect();
        assert_eq!(
            kinds,
            [("replayed", 2), ("conflict", 3), ("chain_break", 4)]
        );
    }

    /// Terminal keys that count how often they are asked.
    struct Counting(std::sync::atomic::AtomicUsize, VerifyingKey);

    impl TerminalKeys for Counting {
        fn verifying_key(&self, terminal: &TerminalId) -> Option<VerifyingKey> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            (terminal.as_str() == "T1").then_some(self.1)
        }
    }

    #[test]
    fn a_part_reads_each_terminals_key_once() {
        let signing = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let replica = Counting(0.into(), signing.verifying_key());
        let mut prev = GENESIS_HASH;
        let mut part = Vec::new();
        for seq in 1..=5 {
            let signed = crate::core::event::sign(&event(seq, prev), &signing).expect("sign");
            prev = EventHash::of(&signed);
            part.push((seq, signed));
        }
        let verified = verify_part(part, &replica);
        assert!(
            verified
                .iter()
                .all(|p| matches!(p.verification, Verification::Valid(..)))
        );
        assert_eq!(replica.0.load(std::sync::atomic::Ordering::Relaxed), 1);
        // An unknown terminal is asked once too, and stays unknown.
        let keys = PartKeys {
            keys: &replica,
            seen: RefCell::new(HashMap::new()),
        };
        let other = TerminalId::new("T9").expect("id");
        assert!(keys.verifying_key(&other).is_none());
        assert!(keys.verifying_key(&other).is_none());
        assert_eq!(replica.0.load(std::sync::atomic::Ordering::Relaxed), 2);
    }

    #[test]
    fn a_heartbeat_names_the_terminal_of_its_subject() {
        let beat = br#"{"terminal":"T1","at":null,"devices_up":[],"outbox_depth":2,"ledger_age_s":5,"clock_suspect":false}"#;
        let row = heartbeat_row("heartbeats.T1", beat).expect("valid heartbeat");
        assert_eq!((row.terminal.as_str(), row.outbox_depth), ("T1", 2));
        assert!(heartbeat_row("heartbeats.T2", beat).is_err());
        assert!(heartbeat_row("heartbeats.T1", b"{}").is_err());
        assert!(heartbeat_row("heartbeats.T1", b"\xff").is_err());
    }
}
