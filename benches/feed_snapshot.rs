//! Time for a new terminal to reach the national movement history from central's snapshot:
//! central's index of N movements is written and signed (`write_snapshot`), published to a local
//! nats-server's object store, then a fresh terminal index downloads, verifies and loads it
//! (`bootstrap_index`, what the terminal runs at start-up). Sampled lookups are compared with
//! central's index. Run: `FEED_SNAPSHOT_BENCH_MOVEMENTS=10000000 cargo bench --bench
//! feed_snapshot` (default 1,000,000; 10 movements per document).

// Only start() and url() are used here.
#[allow(dead_code)]
#[path = "../tests/common/nats.rs"]
mod nats;

use std::sync::Arc;
use std::time::Instant;

use checkpointd::adapters::feed::{
    Bootstrap, INDEX_BATCH_MAX, IndexMessage, MovementIndex, Outbox, OutboxConfig, bootstrap_index,
    publish_snapshot, write_snapshot,
};
use checkpointd::adapters::system_clock::SystemClock;
use checkpointd::cli::feed::synthetic_crossing;
use checkpointd::core::document::HolderDigest;
use checkpointd::core::event::{
    ClockState, CrossingEvent, EVENT_FORMAT_VERSION, GENESIS_HASH, TerminalId,
};
use checkpointd::core::privacy::DocumentNumber;
use ed25519_dalek::SigningKey;
use rand::Rng;

const MOVEMENTS: u64 = 1_000_000;
const MOVEMENTS_PER_DOCUMENT: u64 = 10;
const LOOKUPS_COMPARED: usize = 10_000;

fn status_mib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kib| kib.parse::<u64>().ok())
        .map_or(0, |kib| kib / 1024)
}

fn open(dir: &std::path::Path, id: &str) -> Outbox {
    Outbox::open(
        dir,
        OutboxConfig {
            terminal: TerminalId::new(id).expect("valid id"),
            time_zone: jiff::tz::TimeZone::UTC,
        },
        SigningKey::from_bytes(&[7; 32]),
        Arc::new(SystemClock::default()),
    )
    .expect("open outbox")
}

/// Central's index: `movements` verified events applied as its consumer applies them.
fn build_central(index: &MovementIndex, movements: u64, runtime: &tokio::runtime::Runtime) {
    let documents = movements / MOVEMENTS_PER_DOCUMENT;
    let template = CrossingEvent {
        v: EVENT_FORMAT_VERSION,
        event_id: String::new(),
        terminal: TerminalId::new("OTHER").expect("valid id"),
        seq: 0,
        prev_hash: GENESIS_HASH,
        wall_time: jiff::Timestamp::from_second(1_790_000_000).expect("in range"),
        time_zone: "UTC".into(),
        utc_offset_s: 0,
        clock: ClockState {
            last_sync_age_s: None,
            monotonic_ns: 0,
            behind_high_water_ms: None,
        },
        crossing: synthetic_crossing(0, "GYD"),
    };
    let start = Instant::now();
    let mut events = Vec::with_capacity(INDEX_BATCH_MAX);
    let mut seq = 1;
    while seq <= movements {
        events.clear();
        for stream_seq in seq..(seq + INDEX_BATCH_MAX as u64).min(movements + 1) {
            let mut event = template.clone();
            event.seq = stream_seq;
            event.wall_time = jiff::Timestamp::from_second(
                1_790_000_000 + (stream_seq / documents) as i64 * 86_400,
            )
            .expect("in range");
            event.crossing.traveller.document_number =
                DocumentNumber::new(format!("D{:08}", stream_seq % documents));
            events.push((stream_seq, event));
        }
        let batch: Vec<(u64, IndexMessage<'_>)> = events
            .iter()
            .map(|(seq, event)| (*seq, IndexMessage::Movement(event)))
            .collect();
        index.apply_batch(&batch).expect("apply");
        runtime.block_on(index.flush_if_due()).expect("flush");
        seq += events.len() as u64;
    }
    runtime.block_on(index.flush_async()).expect("checkpoint");
    println!(
        "central's index: {movements} movements, {} documents, built in {:.1} s",
        index.documents(),
        start.elapsed().as_secs_f64()
    );
}

fn main() {
    let movements = std::env::var("FEED_SNAPSHOT_BENCH_MOVEMENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(MOVEMENTS);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let central = open(&dir.path().join("central"), "CENTRAL");
    let central_index = central.movement_index();
    build_central(&central_index, movements, &runtime);

    let key = SigningKey::from_bytes(&[9; 32]);
    let file = dir.path().join("movement-snapshot.cbor");
    let start = Instant::now();
    let header = write_snapshot(
        &central_index,
        "EVENTS",
        movements,
        jiff::Timestamp::now(),
        &key,
        &file,
    )
    .expect("write snapshot");
    println!(
        "wrote and signed the snapshot in {:.1} s: {} documents, {} movements, {} MiB",
        start.elapsed().as_secs_f64(),
        header.documents,
        header.movements,
        header.body_bytes >> 20
    );

    let server = nats::NatsServer::start();
    let client = runtime
        .block_on(async_nats::connect(server.url()))
        .expect("connect");
    let _runtime = runtime.enter();
    let js = async_nats::jetstream::new(client.clone());
    let start = Instant::now();
    runtime
        .block_on(publish_snapshot(&js, "EVENTS", 1, &file))
        .expect("publish");
    println!(
        "published it to the object store in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    std::fs::remove_file(&file).expect("remove the local copy");

    let terminal = open(&dir.path().join("terminal"), "NEW1");
    let index = terminal.movement_index();
    let rss_before = status_mib("VmRSS:");
    let start = Instant::now();
    let outcome = runtime.block_on(bootstrap_index(
        &index,
        client,
        key.verifying_key(),
        "EVENTS",
        dir.path(),
    ));
    let took = start.elapsed();
    let Bootstrap::Loaded {
        movements: loaded, ..
    } = outcome
    else {
        panic!("not loaded: {outcome:?}");
    };
    assert_eq!(loaded, movements);
    println!(
        "new terminal: downloaded, verified and loaded {loaded} movements in {:.1} s ({:.0} movements/s); cursor {}; VmRSS {} MiB before, {} MiB after, VmHWM {} MiB",
        took.as_secs_f64(),
        loaded as f64 / took.as_secs_f64(),
        index.cursor().expect("cursor"),
        rss_before,
        status_mib("VmRSS:"),
        status_mib("VmHWM:")
    );

    let documents = movements / MOVEMENTS_PER_DOCUMENT;
    let mut rng = rand::thread_rng();
    for _ in 0..LOOKUPS_COMPARED {
        let holder = HolderDigest::of("UTO", &format!("D{:08}", rng.gen_range(0..documents)));
        let here = index.lookup(&holder).expect("lookup");
        assert_eq!(here.len() as u64, MOVEMENTS_PER_DOCUMENT);
        assert_eq!(here, central_index.lookup(&holder).expect("lookup"));
    }
    println!("{LOOKUPS_COMPARED} sampled lookups equal central's");
}
