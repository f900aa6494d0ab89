//! Feed benchmarks: durable record latency (p50/p99 incl. flush), relay throughput and
//! 100,000-event backlog drain to a local nats-server and into `EVENTS` with 3 replicas on a
//! three-node loopback cluster, movement lookup with 1,000,000 movements.
//! Run: `NATS_SERVER_BIN=… cargo bench --bench feed` (figures are printed; criterion measures
//! the lookup; `FEED_BENCH_RELAY_ONLY=1` runs the two backlog drains alone;
//! `FEED_BENCH_LOOKUP_ONLY=1` runs the movement index part alone, which also takes
//! `FEED_BENCH_CACHE_BYTES` (the outbox's sled cache), `FEED_BENCH_FLUSH_EVERY_BYTES` (the
//! index's checkpoint interval), `FEED_BENCH_MOVEMENTS` and `FEED_BENCH_BATCH`).

// Only the server and cluster starts and their URLs are used here.
#[allow(dead_code)]
#[path = "../tests/common/nats.rs"]
mod nats;

use std::sync::Arc;
use std::time::{Duration, Instant};

use checkpointd::adapters::feed::{
    CACHE_CAPACITY_BYTES_DEFAULT, FLUSH_EVERY_BYTES_DEFAULT, INDEX_BATCH_MAX, IndexMessage,
    MovementIndex, Outbox, OutboxConfig, RelayConfig, ensure_stream, run_relay,
};
use checkpointd::adapters::system_clock::SystemClock;
use checkpointd::cli::feed::synthetic_crossing;
use checkpointd::core::document::HolderDigest;
use checkpointd::core::event::{
    ClockState, CrossingEvent, EVENT_FORMAT_VERSION, GENESIS_HASH, TerminalId,
};
use checkpointd::core::privacy::DocumentNumber;
use criterion::Criterion;
use ed25519_dalek::SigningKey;
use rand::Rng;

const LATENCY_SAMPLES: usize = 2_000;
const BACKLOG: u64 = 100_000;
const MOVEMENTS: u64 = 1_000_000;
const MOVEMENTS_PER_DOCUMENT: u64 = 10;
const LOOKUP_SAMPLES: usize = 100_000;
/// RSS is printed every this many movements while the index is built.
const MOVEMENTS_SAMPLE_EVERY: u64 = 100_000;

fn open(dir: &std::path::Path) -> Outbox {
    let config = OutboxConfig {
        terminal: TerminalId::new("BENCH1").expect("valid id"),
        time_zone: jiff::tz::TimeZone::UTC,
    };
    Outbox::open(
        dir,
        config,
        SigningKey::from_bytes(&[7; 32]),
        Arc::new(SystemClock::default()),
    )
    .expect("open outbox")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort_unstable();
    println!(
        "{name}: n={} p50={:?} p99={:?} max={:?}",
        samples.len(),
        percentile(&samples, 0.50),
        percentile(&samples, 0.99),
        samples[samples.len() - 1]
    );
}

fn record_latency() {
    let dir = tempfile::tempdir().expect("tempdir");
    let outbox = open(dir.path());
    let samples: Vec<Duration> = (0..LATENCY_SAMPLES as u64)
        .map(|n| {
            let start = Instant::now();
            outbox.record(synthetic_crossing(n, "GYD")).expect("record");
            start.elapsed()
        })
        .collect();
    report("durable record latency, 1 recorder", samples);

    let threads = 8u64;
    let samples: Vec<Duration> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|worker| {
                let outbox = outbox.clone();
                scope.spawn(move || {
                    (0..(LATENCY_SAMPLES as u64 / threads))
                        .map(|n| {
                            let start = Instant::now();
                            outbox
                                .record(synthetic_crossing(worker * 1_000_000 + n, "GYD"))
                                .expect("record");
                            start.elapsed()
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
    report(
        "durable record latency, 8 concurrent recorders (group commit)",
        samples,
    );
}

/// Records a backlog of [`BACKLOG`] crossings, then drains it with the real relay into `EVENTS`
/// on `broker` (one replica per server), the stream created beforehand so that the figure is the
/// relay's and not the cluster's election.
fn backlog_drain(broker: nats::Broker) {
    let dir = tempfile::tempdir().expect("tempdir");
    let outbox = open(dir.path());
    let start = Instant::now();
    std::thread::scope(|scope| {
        for worker in 0..32u64 {
            let outbox = outbox.clone();
            scope.spawn(move || {
                let mut n = worker;
                while n < BACKLOG {
                    outbox.record(synthetic_crossing(n, "GYD")).expect("record");
                    n += 32;
                }
            });
        }
    });
    let recording = start.elapsed();
    println!(
        "recorded {BACKLOG} crossings (32 recorders) in {recording:?}: {:.0} records/s",
        BACKLOG as f64 / recording.as_secs_f64()
    );

    let config = RelayConfig {
        replicas: broker.replicas(),
        ..RelayConfig::default()
    };
    let seeds: Vec<String> = broker.seeds().split(',').map(str::to_string).collect();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let drain = runtime.block_on(async {
        let client = async_nats::connect(seeds.as_slice())
            .await
            .expect("connect");
        let js = async_nats::jetstream::new(client.clone());
        let deadline = Instant::now() + Duration::from_secs(30);
        while let Err(error) = ensure_stream(&js, &config).await {
            assert!(Instant::now() < deadline, "EVENTS not created: {error}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let relay = tokio::spawn(run_relay(outbox.clone(), client, config.clone(), async {
            let _ = stopped.await;
        }));
        let start = Instant::now();
        while outbox.depth() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let drain = start.elapsed();
        let _ = stop.send(());
        let _ = relay.await;
        drain
    });
    let target = match broker {
        nats::Broker::Server(_) => "nats-server (EVENTS R1)",
        nats::Broker::Cluster(_) => "a three-node cluster (EVENTS R3)",
    };
    println!(
        "drained a {BACKLOG}-event backlog to {target} in {drain:?}: relay throughput {:.0} events/s",
        BACKLOG as f64 / drain.as_secs_f64()
    );
}

/// A field of `/proc/self/status` in MiB (0 where there is none).
fn status_mib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kib| kib.parse::<u64>().ok())
        .map_or(0, |kib| kib / 1024)
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// Builds the index the way `run_index` does while catching up on a backlog: batches of
/// `INDEX_BATCH_MAX` messages through `apply_batch`, each followed by `flush_if_due`; then
/// reopens it as a restarted daemon would.
fn movement_index(dir: &std::path::Path) -> (Outbox, MovementIndex, Vec<HolderDigest>) {
    // FEED_BENCH_CACHE_BYTES: the page cache (`[retention] cache_capacity_bytes`);
    // FEED_BENCH_FLUSH_EVERY_BYTES: the index's flush interval (0: after every batch).
    let cache = env_u64("FEED_BENCH_CACHE_BYTES").unwrap_or(CACHE_CAPACITY_BYTES_DEFAULT);
    let flush_every = env_u64("FEED_BENCH_FLUSH_EVERY_BYTES").unwrap_or(FLUSH_EVERY_BYTES_DEFAULT);
    let outbox = Outbox::open_with_cache(
        dir,
        OutboxConfig {
            terminal: TerminalId::new("BENCH1").expect("valid id"),
            time_zone: jiff::tz::TimeZone::UTC,
        },
        SigningKey::from_bytes(&[7; 32]),
        Arc::new(SystemClock::default()),
        cache,
    )
    .expect("open outbox");
    let index = outbox.movement_index().with_flush_every_bytes(flush_every);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
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
    // FEED_BENCH_MOVEMENTS and FEED_BENCH_BATCH: a longer build, or the smaller batches of a
    // consumer that is not behind.
    let movements = env_u64("FEED_BENCH_MOVEMENTS").unwrap_or(MOVEMENTS);
    let batch_max = env_u64("FEED_BENCH_BATCH").map_or(INDEX_BATCH_MAX, |b| b.max(1) as usize);
    let documents = movements / MOVEMENTS_PER_DOCUMENT;
    println!(
        "building a {movements}-movement index: cache_capacity {} MiB, flush every {} KiB written, batches of {batch_max}",
        cache >> 20,
        flush_every >> 10
    );
    let start = Instant::now();
    let mut flushes = 0u64;
    let mut events = Vec::with_capacity(batch_max);
    let mut seq = 1;
    while seq <= movements {
        events.clear();
        for stream_seq in seq..(seq + batch_max as u64).min(movements + 1) {
            let document = stream_seq % documents;
            let mut event = template.clone();
            event.seq = stream_seq;
            event.wall_time = jiff::Timestamp::from_second(
                1_790_000_000 + (stream_seq / documents) as i64 * 86_400,
            )
            .expect("in range");
            event.crossing.traveller.document_number =
                DocumentNumber::new(format!("D{document:08}"));
            events.push((stream_seq, event));
        }
        let batch: Vec<(u64, IndexMessage<'_>)> = events
            .iter()
            .map(|(seq, event)| (*seq, IndexMessage::Movement(event)))
            .collect();
        index.apply_batch(&batch).expect("apply");
        if runtime.block_on(index.flush_if_due()).expect("flush") {
            flushes += 1;
        }
        let next = seq + events.len() as u64;
        if next / MOVEMENTS_SAMPLE_EVERY != seq / MOVEMENTS_SAMPLE_EVERY {
            println!(
                "  {:>9} movements  {:>6.1} s  VmRSS {} MiB",
                next - 1,
                start.elapsed().as_secs_f64(),
                status_mib("VmRSS:")
            );
        }
        seq = next;
    }
    let built = start.elapsed();
    println!(
        "built a {movements}-movement index in {built:?} ({:.0} movements/s, {flushes} checkpoints); {} documents, {} MiB of index files; VmRSS {} MiB, VmHWM {} MiB",
        movements as f64 / built.as_secs_f64(),
        index.documents(),
        index.file_bytes() >> 20,
        status_mib("VmRSS:"),
        status_mib("VmHWM:")
    );
    runtime.block_on(index.flush_async()).expect("checkpoint");
    drop(index);
    drop(outbox);
    // A restart: the directory is rebuilt from the files.
    let start = Instant::now();
    let outbox = Outbox::open_with_cache(
        dir,
        OutboxConfig {
            terminal: TerminalId::new("BENCH1").expect("valid id"),
            time_zone: jiff::tz::TimeZone::UTC,
        },
        SigningKey::from_bytes(&[7; 32]),
        Arc::new(SystemClock::default()),
        cache,
    )
    .expect("reopen outbox");
    let index = outbox.movement_index();
    println!(
        "reopened the index in {:?} ({} documents); VmRSS {} MiB",
        start.elapsed(),
        index.documents(),
        status_mib("VmRSS:")
    );
    let holders = (0..documents)
        .map(|d| HolderDigest::of("UTO", &format!("D{d:08}")))
        .collect();
    (outbox, index, holders)
}

fn main() {
    // FEED_BENCH_LOOKUP_ONLY=1 measures the movement index alone (no nats-server needed).
    if std::env::var_os("FEED_BENCH_RELAY_ONLY").is_some() {
        backlog_drain(nats::Broker::Server(nats::NatsServer::start()));
        backlog_drain(nats::Broker::Cluster(nats::NatsCluster::start()));
        return;
    }
    if std::env::var_os("FEED_BENCH_LOOKUP_ONLY").is_none() {
        record_latency();
        backlog_drain(nats::Broker::Server(nats::NatsServer::start()));
        backlog_drain(nats::Broker::Cluster(nats::NatsCluster::start()));
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let (_outbox, index, holders) = movement_index(dir.path());
    let mut rng = rand::thread_rng();
    // The first pass reads each document's list for the first time since the reopen; the
    // second, with the working set in the page cache, is what a terminal sees in service.
    for pass in ["first pass", "second pass"] {
        let samples: Vec<Duration> = (0..LOOKUP_SAMPLES)
            .map(|_| {
                let holder = &holders[rng.gen_range(0..holders.len())];
                let start = Instant::now();
                let found = index.lookup(holder).expect("lookup");
                let elapsed = start.elapsed();
                assert_eq!(found.len() as u64, MOVEMENTS_PER_DOCUMENT);
                elapsed
            })
            .collect();
        report(
            &format!(
                "movement lookup ({MOVEMENTS_PER_DOCUMENT} movements per document, {} total, {pass})",
                holders.len() as u64 * MOVEMENTS_PER_DOCUMENT
            ),
            samples,
        );
    }

    println!(
        "movement index process after the lookups: VmRSS {} MiB, VmHWM {} MiB",
        status_mib("VmRSS:"),
        status_mib("VmHWM:")
    );

    let mut criterion = Criterion::default().configure_from_args();
    criterion.bench_function("movement_lookup", |b| {
        b.iter(|| {
            let holder = &holders[rng.gen_range(0..holders.len())];
            index.lookup(holder).expect("lookup")
        })
    });
    criterion.final_summary();
}
