//! The crossing feed against a real nats-server: outage backlog, broker restart, lost PubAck,
//! two terminals exchanging movements, tampered events.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use checkpointd::adapters::feed::{
    IndexConfig, IndexMessage, Outbox, OutboxConfig, RelayConfig, event_subject, run_index,
    run_relay,
};
use checkpointd::cli::feed::synthetic_crossing;
use checkpointd::core::event::{
    CrossingKind, TerminalId, TerminalKeys, Verification, message_id, verify,
};
use checkpointd::ports::clock::Clock;
use common::nats::NatsServer;
use ed25519_dalek::{SigningKey, VerifyingKey};
use futures::StreamExt;

const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);

/// A wall clock fixed at a given instant (the terminal's clock in a test).
struct FixedClock(jiff::Timestamp);

impl Clock for FixedClock {
    fn now(&self) -> jiff::Timestamp {
        self.0
    }
    fn monotonic(&self) -> Duration {
        Duration::ZERO
    }
}

fn system_clock() -> Arc<dyn Clock> {
    Arc::new(checkpointd::adapters::system_clock::SystemClock::default())
}

fn open(dir: &Path, id: &str, seed: u8, clock: Arc<dyn Clock>) -> (Outbox, VerifyingKey) {
    let key = SigningKey::from_bytes(&[seed; 32]);
    let public = key.verifying_key();
    let config = OutboxConfig {
        terminal: TerminalId::new(id).expect("valid id"),
        time_zone: jiff::tz::TimeZone::UTC,
    };
    (
        Outbox::open(dir, config, key, clock).expect("open outbox"),
        public,
    )
}

fn test_relay_config() -> RelayConfig {
    RelayConfig {
        backoff_max: Duration::from_millis(500),
        idle_poll: Duration::from_millis(50),
        ..RelayConfig::with_duplicate_window_hours(48)
    }
}

async fn client(url: &str) -> async_nats::Client {
    async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connect(url)
        .await
        .expect("client")
}

fn spawn_relay(outbox: &Outbox, client: async_nats::Client) -> tokio::sync::oneshot::Sender<()> {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let outbox = outbox.clone();
    tokio::spawn(async move {
        run_relay(outbox, client, test_relay_config(), async {
            let _ = stopped.await;
        })
        .await
    });
    stop
}

async fn wait_drained(outbox: &Outbox) {
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    while outbox.depth() > 0 {
        assert!(
            Instant::now() < deadline,
            "outbox not drained: {} left",
            outbox.depth()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every message in `EVENTS`, in stream order, as (stream seq, payload).
async fn stream_messages(url: &str) -> Vec<(u64, Vec<u8>)> {
    use async_nats::jetstream::consumer::pull::OrderedConfig;
    let js = async_nats::jetstream::new(async_nats::connect(url).await.expect("connect"));
    let mut stream = js.get_stream("EVENTS").await.expect("EVENTS stream");
    let last = stream.info().await.expect("info").state.last_sequence;
    let mut found = Vec::new();
    if last == 0 {
        return found;
    }
    let consumer = stream
        .create_consumer(OrderedConfig::default())
        .await
        .expect("consumer");
    let mut messages = consumer.messages().await.expect("messages");
    while let Some(message) = messages.next().await {
        let message = message.expect("message");
        let seq = message.info().expect("info").stream_sequence;
        found.push((seq, message.payload.to_vec()));
        if seq >= last {
            break;
        }
    }
    found
}

fn record_many(outbox: &Outbox, count: u64, threads: u64) {
    std::thread::scope(|scope| {
        for worker in 0..threads {
            let outbox = outbox.clone();
            scope.spawn(move || {
                let mut n = worker;
                while n < count {
                    outbox.record(synthetic_crossing(n, "GYD")).expect("record");
                    n += threads;
                }
            });
        }
    });
}

/// Per-terminal sequences found in the stream, in stream order; asserts every message verifies.
fn sequences(messages: &[(u64, Vec<u8>)], keys: &dyn TerminalKeys) -> Vec<(String, u64)> {
    messages
        .iter()
        .map(|(stream_seq, payload)| match verify(payload, keys) {
            Verification::Valid(event, _) => (event.terminal.to_string(), event.seq),
            Verification::Rejected(r) => panic!("stream seq {stream_seq} rejected: {r}"),
        })
        .collect()
}

fn write_keys(path: &Path, keys: &[(&str, VerifyingKey)]) {
    let text: String = keys
        .iter()
        .map(|(id, key)| format!("{id} {}\n", hex::encode(key.as_bytes())))
        .collect();
    std::fs::write(path, text).expect("write keys file");
}

fn audit_cli(url: &str, keys_file: &Path) -> (bool, serde_json::Value) {
    let output = Command::new(env!("CARGO_BIN_EXE_checkpointctl"))
        .args(["feed", "audit", "--nats", url, "--keys"])
        .arg(keys_file)
        .output()
        .expect("run checkpointctl feed audit");
    let report = serde_json::from_slice(&output.stdout).expect("audit prints a JSON report");
    (output.status.success(), report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backlog_recorded_while_broker_down_arrives_once_and_in_order() {
    let mut server = NatsServer::start();
    server.kill();
    let dir = tempfile::tempdir().expect("tempdir");
    let (outbox, public) = open(&dir.path().join("outbox"), "T1", 1, system_clock());
    let relay_client = client(&server.url()).await;
    let stop = spawn_relay(&outbox, relay_client);

    let count = 10_000;
    record_many(&outbox, count, 32);
    assert_eq!(
        outbox.depth(),
        count as usize,
        "nothing leaves while the broker is down"
    );

    server.restart();
    wait_drained(&outbox).await;
    let _ = stop.send(());

    let keys = HashMap::from([(TerminalId::new("T1").expect("id"), public)]);
    let seqs = sequences(&stream_messages(&server.url()).await, &keys);
    let expected: Vec<(String, u64)> = (1..=count).map(|seq| ("T1".to_string(), seq)).collect();
    assert_eq!(
        seqs, expected,
        "every crossing exactly once, in sequence order"
    );

    let keys_file = dir.path().join("keys");
    write_keys(&keys_file, &[("T1", public)]);
    let (clean, report) = audit_cli(&server.url(), &keys_file);
    assert!(clean, "{report}");
    assert_eq!(report["events"], count);
    assert_eq!(report["duplicates"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restart_mid_stream_neither_loses_nor_duplicates() {
    let mut server = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let (outbox, public) = open(&dir.path().join("outbox"), "T1", 2, system_clock());
    let count = 4_000u64;
    record_many(&outbox, count, 16);
    let stop = spawn_relay(&outbox, client(&server.url()).await);
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    while outbox.depth() > (count as usize) * 3 / 4 {
        assert!(Instant::now() < deadline, "relay made no progress");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.restart();
    wait_drained(&outbox).await;
    let _ = stop.send(());

    let keys = HashMap::from([(TerminalId::new("T1").expect("id"), public)]);
    let mut seqs: Vec<u64> = sequences(&stream_messages(&server.url()).await, &keys)
        .into_iter()
        .map(|(_, seq)| seq)
        .collect();
    assert_eq!(seqs.len() as u64, count, "no duplicate stored");
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=count).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_a_lost_puback_is_deduplicated() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let (outbox, public) = open(&dir.path().join("outbox"), "T1", 3, system_clock());
    record_many(&outbox, 100, 1);

    // A relay that published the first 40 rows and lost the connection before the PubAcks came
    // back: the rows are stored by JetStream but still in the outbox.
    let lost = client(&server.url()).await;
    let js = async_nats::jetstream::new(lost.clone());
    checkpointd::adapters::feed::ensure_stream(&js, &test_relay_config())
        .await
        .expect("stream");
    let terminal = TerminalId::new("T1").expect("id");
    for row in outbox.pending(None, 40).expect("pending") {
        let publish = async_nats::jetstream::message::PublishMessage::build()
            .payload(row.signed.into())
            .message_id(message_id(&terminal, row.seq));
        // The ack future is dropped unawaited: the PubAck is lost.
        drop(
            js.send_publish(row.subject, publish)
                .await
                .expect("publish"),
        );
    }
    lost.flush().await.expect("flush");
    drop(lost);
    assert_eq!(outbox.depth(), 100);

    let stop = spawn_relay(&outbox, client(&server.url()).await);
    wait_drained(&outbox).await;
    let _ = stop.send(());

    let keys = HashMap::from([(terminal, public)]);
    let seqs: Vec<u64> = sequences(&stream_messages(&server.url()).await, &keys)
        .into_iter()
        .map(|(_, seq)| seq)
        .collect();
    assert_eq!(
        seqs,
        (1..=100).collect::<Vec<_>>(),
        "the 40 retried rows were deduplicated"
    );
}

/// Days of stay from the index: each entry..exit (or ..today) counts both ends.
fn stay_days(
    movements: &[checkpointd::ports::upstream::MovementRecord],
    today: jiff::civil::Date,
) -> i32 {
    let mut days = 0;
    let mut entered: Option<jiff::civil::Date> = None;
    for movement in movements {
        let date = movement.at.to_zoned(jiff::tz::TimeZone::UTC).date();
        match movement.direction {
            CrossingKind::Entry => entered = Some(date),
            CrossingKind::Exit => {
                if let Some(start) = entered.take() {
                    days += (date - start).get_days() + 1;
                }
            }
            CrossingKind::RefusedEntry | CrossingKind::Referred => {}
        }
    }
    if let Some(start) = entered {
        days += (today - start).get_days() + 1;
    }
    days
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_terminals_exchange_movements_and_compute_stay_days() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let at = |text: &str| text.parse::<jiff::Timestamp>().expect("timestamp");
    let (airport, airport_key) = open(
        &dir.path().join("a"),
        "AIRPORT1",
        4,
        Arc::new(FixedClock(at("2026-10-01T09:00:00Z"))),
    );
    let (land, land_key) = open(
        &dir.path().join("b"),
        "LAND7",
        5,
        Arc::new(FixedClock(at("2026-10-11T17:00:00Z"))),
    );
    let keys: Arc<dyn TerminalKeys + Send + Sync> = Arc::new(HashMap::from([
        (TerminalId::new("AIRPORT1").expect("id"), airport_key),
        (TerminalId::new("LAND7").expect("id"), land_key),
    ]));

    let mut stops = Vec::new();
    for outbox in [&airport, &land] {
        stops.push(spawn_relay(outbox, client(&server.url()).await));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let index = outbox.movement_index();
        let (nats, keys) = (client(&server.url()).await, Arc::clone(&keys));
        tokio::spawn(async move {
            run_index(
                index,
                nats,
                keys,
                IndexConfig::default(),
                system_clock(),
                async {
                    let _ = stopped.await;
                },
            )
            .await
        });
        stops.push(stop);
    }

    let mut entry = synthetic_crossing(0, "GYD");
    entry.direction = CrossingKind::Entry;
    let traveller = entry.traveller.holder_digest();
    airport.record(entry).expect("record entry");
    // Its own event is in the airport's index at once.
    assert_eq!(
        airport
            .movement_index()
            .lookup(&traveller)
            .expect("lookup")
            .len(),
        1
    );

    let mut exit = synthetic_crossing(0, "ASTARA");
    exit.direction = CrossingKind::Exit;
    land.record(exit).expect("record exit");

    let today = jiff::civil::date(2026, 10, 20);
    for index in [airport.movement_index(), land.movement_index()] {
        let deadline = Instant::now() + DRAIN_TIMEOUT;
        loop {
            let movements = index.lookup(&traveller).expect("lookup");
            if movements.len() == 2 {
                assert_eq!(movements[0].checkpoint, "GYD");
                assert_eq!(movements[1].checkpoint, "ASTARA");
                assert_eq!(
                    stay_days(&movements, today),
                    11,
                    "1 Oct to 11 Oct inclusive"
                );
                break;
            }
            assert!(
                Instant::now() < deadline,
                "movement not exchanged: {movements:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    for stop in stops {
        let _ = stop.send(());
    }

    // Central's tools over the same stream.
    let keys_file = dir.path().join("keys");
    write_keys(
        &keys_file,
        &[("AIRPORT1", airport_key), ("LAND7", land_key)],
    );
    let export = |since: &str| -> Vec<serde_json::Value> {
        let output = Command::new(env!("CARGO_BIN_EXE_checkpointctl"))
            .args([
                "feed",
                "export",
                "--nats",
                &server.url(),
                "--since",
                since,
                "--keys",
            ])
            .arg(&keys_file)
            .output()
            .expect("run export");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout)
            .expect("utf-8")
            .lines()
            .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
            .collect()
    };
    assert_eq!(export("2026-09-30").len(), 2);
    let later = export("2026-10-05T00:00:00Z");
    assert_eq!(later.len(), 1);
    assert_eq!(later[0]["terminal"], "LAND7");
    assert_eq!(later[0]["seq"], 1);
    assert_eq!(later[0]["event"]["crossing"]["direction"], "exit");

    let tail = Command::new(env!("CARGO_BIN_EXE_checkpointctl"))
        .args(["feed", "tail", "--nats", &server.url(), "--keys"])
        .arg(&keys_file)
        .output()
        .expect("run tail");
    let text = String::from_utf8(tail.stdout).expect("utf-8");
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(
        !text.contains("X00000000"),
        "tail masks document numbers: {text}"
    );
    assert!(text.contains("******00"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_and_unsigned_events_are_rejected_by_the_consumer() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let (outbox, public) = open(&dir.path().join("outbox"), "T1", 6, system_clock());
    record_many(&outbox, 3, 1);
    let genuine = outbox.event(2).expect("read").expect("event 2 kept");
    let stop = spawn_relay(&outbox, client(&server.url()).await);
    wait_drained(&outbox).await;
    let _ = stop.send(());

    // A forger on the bus: the same event with a flipped payload byte, and one stripped of its
    // signature, under message ids the terminal never used.
    let mut tampered = genuine.clone();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0x01;
    let mut unsigned: coset::CoseSign1 =
        coset::TaggedCborSerializable::from_tagged_slice(&genuine).expect("cose");
    unsigned.signature.clear();
    let unsigned = coset::TaggedCborSerializable::to_tagged_vec(unsigned).expect("encode");
    let js = async_nats::jetstream::new(client(&server.url()).await);
    let subject = event_subject("GYD", &TerminalId::new("T1").expect("id"));
    for (id, payload) in [("forged:1", tampered), ("forged:2", unsigned)] {
        let publish = async_nats::jetstream::message::PublishMessage::build()
            .payload(payload.into())
            .message_id(id);
        js.send_publish(subject.clone(), publish)
            .await
            .expect("publish")
            .await
            .expect("ack");
    }

    let keys_file = dir.path().join("keys");
    write_keys(&keys_file, &[("T1", public)]);
    let (clean, report) = audit_cli(&server.url(), &keys_file);
    assert!(
        !clean,
        "a report with rejected messages is not clean: {report}"
    );
    assert_eq!(report["rejected"], 2, "{report}");
    assert_eq!(report["events"], 3, "{report}");
    assert_eq!(report["terminals"][0]["gaps"], serde_json::json!([]));

    // Unknown keys: every message is rejected.
    let other = dir.path().join("other-keys");
    write_keys(
        &other,
        &[("T1", SigningKey::from_bytes(&[9; 32]).verifying_key())],
    );
    let (clean, report) = audit_cli(&server.url(), &other);
    assert!(!clean);
    assert_eq!(report["events"], 0, "{report}");
}

struct LaneHealth;

impl checkpointd::adapters::feed::HealthProbe for LaneHealth {
    fn health(&self) -> serde_json::Value {
        serde_json::json!({
            "devices_up": ["mrz-reader"],
            "ledger_age_s": 42,
            "clock_suspect": false,
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_carry_terminal_health_on_their_own_subject() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let clock: Arc<dyn Clock> = Arc::new(FixedClock(
        "2026-11-23T08:00:00Z".parse().expect("timestamp"),
    ));
    let (outbox, _) = open(dir.path(), "HB-1", 31, Arc::clone(&clock));
    outbox
        .record(synthetic_crossing(0, "GYD"))
        .expect("recorded while nothing relays");
    let watcher = client(&server.url()).await;
    let mut beats = watcher
        .subscribe("heartbeats.HB-1")
        .await
        .expect("subscribe");
    watcher.flush().await.expect("flush");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let publisher = tokio::spawn(checkpointd::adapters::feed::run_heartbeats(
        outbox.clone(),
        client(&server.url()).await,
        Arc::new(LaneHealth),
        clock,
        Duration::from_millis(100),
        async {
            let _ = stopped.await;
        },
    ));
    let mut received = Vec::new();
    while received.len() < 2 {
        let message = tokio::time::timeout(Duration::from_secs(10), beats.next())
            .await
            .expect("a heartbeat within 10 s")
            .expect("subscription open");
        received.push(
            serde_json::from_slice::<serde_json::Value>(&message.payload)
                .expect("heartbeat is JSON"),
        );
    }
    let _ = stop.send(());
    publisher.await.expect("publisher stops");
    for beat in &received {
        assert_eq!(beat["terminal"], "HB-1");
        assert_eq!(beat["at"], "2026-11-23T08:00:00Z");
        assert_eq!(beat["outbox_depth"], 1, "the unrelayed crossing");
        assert_eq!(beat["devices_up"], serde_json::json!(["mrz-reader"]));
        assert_eq!(beat["ledger_age_s"], 42);
        assert_eq!(beat["clock_suspect"], false);
    }
    let js = async_nats::jetstream::new(watcher);
    if let Ok(mut events) = js.get_stream("EVENTS").await {
        let info = events.info().await.expect("stream info");
        assert_eq!(info.state.messages, 0, "heartbeats stay out of EVENTS");
    }
}

/// Terminal keys as the ledger replica holds them: a key can arrive after the events it signs.
#[derive(Default)]
struct LaggingKeys(std::sync::RwLock<HashMap<TerminalId, VerifyingKey>>);

impl TerminalKeys for LaggingKeys {
    fn verifying_key(&self, terminal: &TerminalId) -> Option<VerifyingKey> {
        self.0.read().ok()?.get(terminal).copied()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn movements_of_a_terminal_whose_key_arrives_late_are_indexed_when_it_does() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let (land, _) = open(&dir.path().join("land"), "LAND9", 6, system_clock());
    let (remote, remote_key) = open(&dir.path().join("remote"), "AIRPORT9", 7, system_clock());
    let keys = Arc::new(LaggingKeys::default());
    let stop_relay = spawn_relay(&remote, client(&server.url()).await);
    let entry = synthetic_crossing(0, "GYD");
    let traveller = entry.traveller.holder_digest();
    remote.record(entry).expect("record");
    wait_drained(&remote).await;

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let index = land.movement_index();
    let consumer = tokio::spawn(run_index(
        index.clone(),
        client(&server.url()).await,
        Arc::clone(&keys) as Arc<dyn TerminalKeys + Send + Sync>,
        IndexConfig {
            retry_parked_every: Duration::from_millis(100),
            ..IndexConfig::default()
        },
        system_clock(),
        async {
            let _ = stopped.await;
        },
    ));
    let deadline = Instant::now() + Duration::from_secs(10);
    while index.parked() == 0 {
        assert!(Instant::now() < deadline, "event never parked");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(index.lookup(&traveller).expect("lookup").is_empty());

    keys.0
        .write()
        .expect("lock")
        .insert(TerminalId::new("AIRPORT9").expect("id"), remote_key);
    // The event is indexed first and leaves the parked tree after the index's checkpoint.
    while index.lookup(&traveller).expect("lookup").is_empty() || index.parked() != 0 {
        assert!(
            Instant::now() < deadline,
            "parked event never indexed and released (parked: {})",
            index.parked()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop.send(());
    let _ = stop_relay.send(());
    consumer
        .await
        .expect("join")
        .expect("consumer stops cleanly");
}

/// Copies a directory tree: the files of a database still open in this process, as a crash
/// would leave them.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

#[tokio::test]
async fn an_index_batch_flushed_by_the_consumer_survives_a_crash_with_its_cursor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (land, _) = open(&dir.path().join("land"), "LAND8", 8, system_clock());
    let (remote, remote_key) = open(&dir.path().join("remote"), "REMOTE8", 9, system_clock());
    let (stranger, _) = open(
        &dir.path().join("stranger"),
        "STRANGER8",
        10,
        system_clock(),
    );
    let mut payloads = Vec::new();
    for n in 0..6 {
        let recorded = remote.record(synthetic_crossing(n, "EVX")).expect("record");
        payloads.push(remote.event(recorded.seq).expect("read").expect("kept"));
    }
    stranger
        .record(synthetic_crossing(20, "EVX"))
        .expect("record");
    payloads.push(stranger.event(1).expect("read").expect("kept"));
    payloads.push(b"not an event".to_vec());
    let mut keys: HashMap<TerminalId, VerifyingKey> = HashMap::new();
    keys.insert(TerminalId::new("REMOTE8").expect("id"), remote_key);
    // Stream messages 1..=8 as the consumer reads them: six movements, one event without a key
    // (parked), one rejected.
    let verified: Vec<Verification> = payloads.iter().map(|p| verify(p, &keys)).collect();
    let batch: Vec<(u64, IndexMessage<'_>)> = verified
        .iter()
        .zip(&payloads)
        .zip(1u64..)
        .map(|((verification, payload), stream_seq)| {
            let meaning = match verification {
                Verification::Valid(event, _) => IndexMessage::Movement(event),
                Verification::Rejected(checkpointd::core::event::Rejection::UnknownTerminal(_)) => {
                    IndexMessage::Parked(payload)
                }
                Verification::Rejected(_) => IndexMessage::Skip,
            };
            (stream_seq, meaning)
        })
        .collect();
    let holders: Vec<_> = (0..6)
        .step_by(2)
        .map(|n| synthetic_crossing(n, "EVX").traveller.holder_digest())
        .collect();

    // Below its flush interval the consumer leaves the batch to sled's flusher...
    let index = land.movement_index();
    index.apply_batch(&batch[..1]).expect("apply");
    assert!(!index.flush_if_due().await.expect("flush"));
    assert!(index.unflushed_bytes() > 0);
    // ...past it, the consumer flushes before it takes the next batch.
    let index = index.with_flush_every_bytes(1);
    index.apply_batch(&batch).expect("apply");
    assert!(index.flush_if_due().await.expect("flush"));
    assert_eq!(index.unflushed_bytes(), 0);

    // The files as a crash would leave them now, opened by a new process.
    let image = dir.path().join("land-after-crash");
    copy_tree(&dir.path().join("land"), &image);
    let (reopened, _) = open(&image, "LAND8", 8, system_clock());
    let index = reopened.movement_index();
    assert_eq!(index.cursor().expect("cursor"), 8);
    assert_eq!(index.parked(), 1);
    for holder in &holders {
        let found = index.lookup(holder).expect("lookup");
        let directions: Vec<CrossingKind> = found.iter().map(|m| m.direction).collect();
        assert_eq!(directions, [CrossingKind::Entry, CrossingKind::Exit]);
    }

    // The stream delivered again from an earlier cursor: every movement stays single.
    index.apply_batch(&batch[2..]).expect("apply again");
    index.apply_batch(&batch).expect("apply again");
    assert_eq!(index.cursor().expect("cursor"), 8);
    assert_eq!(index.parked(), 1);
    for holder in &holders {
        assert_eq!(index.lookup(holder).expect("lookup").len(), 2);
    }

    // And it prunes as before.
    let later = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 500);
    assert_eq!(index.prune(later, 400).expect("prune"), 6);
    for holder in &holders {
        assert!(index.lookup(holder).expect("lookup").is_empty());
    }
}

/// The feed tools take the terminal keys from central's ledger replica instead of a keys file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_tools_read_terminal_keys_from_the_ledger_replica() {
    use checkpointd::adapters::ledger::Central;
    use checkpointd::core::ledger::{Change, TerminalKeyAdded};
    let server = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let (outbox, public) = open(&dir.path().join("outbox"), "T1", 1, system_clock());
    let stop = spawn_relay(&outbox, client(&server.url()).await);
    record_many(&outbox, 20, 4);
    wait_drained(&outbox).await;
    let _ = stop.send(());

    let central = Central::connect(&server.url()).await.expect("central");
    central.provision(1).await.expect("provision");
    let now = jiff::Timestamp::now();
    let key = Change::TerminalKeyAdded(TerminalKeyAdded {
        terminal_id: "T1".into(),
        public_key: public.to_bytes(),
        valid_from: "2026-01-01T00:00:00Z".parse().expect("ts"),
        valid_until: "2036-01-01T00:00:00Z".parse().expect("ts"),
    });
    central.append(vec![key], now).await.expect("append");
    let roots = [
        SigningKey::from_bytes(&[11; 32]),
        SigningKey::from_bytes(&[12; 32]),
    ];
    central.checkpoint(&roots, now).await.expect("checkpoint");
    let roots_file = dir.path().join("roots.pub");
    let text: String = roots
        .iter()
        .map(|k| hex::encode(k.verifying_key().to_bytes()) + "\n")
        .collect();
    std::fs::write(&roots_file, text).expect("roots");
    let replica = dir.path().join("replica");
    let ctl = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_checkpointctl"))
            .args(args)
            .output()
            .expect("run checkpointctl")
    };
    let (replica_arg, roots_arg) = (
        replica.to_str().expect("utf-8"),
        roots_file.to_str().expect("utf-8"),
    );
    let replicated = ctl(&[
        "ledger",
        "replicate",
        "--data",
        replica_arg,
        "--nats",
        &server.url(),
        "--roots",
        roots_arg,
    ]);
    assert!(replicated.status.success(), "{replicated:?}");

    let audit = ctl(&[
        "feed",
        "audit",
        "--nats",
        &server.url(),
        "--ledger",
        replica_arg,
    ]);
    let report: serde_json::Value = serde_json::from_slice(&audit.stdout).expect("report");
    assert!(audit.status.success(), "{report}");
    assert_eq!(report["events"], 20);
    let tail = ctl(&[
        "feed",
        "tail",
        "--nats",
        &server.url(),
        "--ledger",
        replica_arg,
    ]);
    assert!(tail.status.success(), "{tail:?}");
    let text = String::from_utf8_lossy(&tail.stdout);
    assert_eq!(
        text.lines().filter(|l| l.contains(" T1:")).count(),
        20,
        "{text}"
    );
    assert!(!text.contains("REJECTED"), "{text}");
    let both = ctl(&[
        "feed",
        "audit",
        "--nats",
        &server.url(),
        "--ledger",
        replica_arg,
        "--keys",
        roots_arg,
    ]);
    assert_eq!(both.status.code(), Some(2), "{both:?}");
}
