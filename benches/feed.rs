//! Feed benchmarks: durable record latency (p50/p99 incl. flush), relay throughput and
//! 100,000-event backlog drain to a local nats-server, movement lookup with 1,000,000 movements.
//! Run: `NATS_SERVER_BIN=… cargo bench --bench feed` (figures are printed; criterion measures
//! the lookup; `FEED_BENCH_LOOKUP_ONLY=1` runs the lookup part alone).

// Only start() and url() are used here.
#[allow(dead_code)]
#[path = "../tests/common/nats.rs"]
mod nats;

use std::sync::Arc;
use std::time::{Duration, Instant};

use checkpointd::adapters::feed::{MovementIndex, Outbox, OutboxConfig, RelayConfig, run_relay};
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

fn backlog_drain() {
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

    let server = nats::NatsServer::start();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let drain = runtime.block_on(async {
        let client = async_nats::connect(server.url()).await.expect("connect");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let relay = tokio::spawn(run_relay(
            outbox.clone(),
            client,
            RelayConfig::default(),
            async {
                let _ = stopped.await;
            },
        ));
        let start = Instant::now();
        while outbox.depth() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let drain = start.elapsed();
        let _ = stop.send(());
        let _ = relay.await;
        drain
    });
    println!(
        "drained a {BACKLOG}-event backlog to nats-server in {drain:?}: relay throughput {:.0} events/s",
        BACKLOG as f64 / drain.as_secs_f64()
    );
}

fn movement_index(dir: &std::path::Path) -> (MovementIndex, Vec<HolderDigest>) {
    let outbox = open(dir);
    let index = outbox.movement_index();
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
    let documents = MOVEMENTS / MOVEMENTS_PER_DOCUMENT;
    let start = Instant::now();
    let mut event = template;
    for seq in 1..=MOVEMENTS {
        let document = seq % documents;
        event.seq = seq;
        event.wall_time =
            jiff::Timestamp::from_second(1_790_000_000 + (seq / documents) as i64 * 86_400)
                .expect("in range");
        event.crossing.traveller.document_number = DocumentNumber::new(format!("D{document:08}"));
        index.apply(seq, Some(&event)).expect("apply");
    }
    println!(
        "built a {MOVEMENTS}-movement index in {:?}",
        start.elapsed()
    );
    let holders = (0..documents)
        .map(|d| HolderDigest::of("UTO", &format!("D{d:08}")))
        .collect();
    (index, holders)
}

fn main() {
    // FEED_BENCH_LOOKUP_ONLY=1 measures the movement index alone (no nats-server needed).
    if std::env::var_os("FEED_BENCH_LOOKUP_ONLY").is_none() {
        record_latency();
        backlog_drain();
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let (index, holders) = movement_index(dir.path());
    let mut rng = rand::thread_rng();
    // The first pass reads each document's list for the first time since the build; the
    // second, with the working set in sled's cache, is what a terminal sees in service.
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
            &format!("movement lookup (10 movements per document, 1,000,000 total, {pass})"),
            samples,
        );
    }

    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    for field in ["VmRSS:", "VmHWM:"] {
        if let Some(line) = status.lines().find(|l| l.starts_with(field)) {
            println!("movement index process {line}");
        }
    }

    let mut criterion = Criterion::default().configure_from_args();
    criterion.bench_function("movement_lookup_1m", |b| {
        b.iter(|| {
            let holder = &holders[rng.gen_range(0..holders.len())];
            index.lookup(holder).expect("lookup")
        })
    });
    criterion.final_summary();
}
