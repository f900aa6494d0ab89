//! Scan-to-verdict at the lane with a large ledger and movement history while replication
//! applies in the background: the real `LaneDriver` (session, MRZ, permit re-verification from the
//! ledger, alerts, movements, stay engine, decision, API stream), an officer lane at entry.
//! Also the movement-index lookup alone and during the replication load.
//!
//! The terminal is assembled from a configuration as the daemon assembles it (`terminal::`
//! `open_ledger`, `open_outbox`, `lane_parts`, `lane_driver`), with a fixed clock.
//!
//! `LANE_BENCH_PERMITS=1000000 LANE_BENCH_MOVEMENTS=1000000 cargo bench --bench lane`
//! (defaults 200,000 each). The serial transport in front of it is `benches/devices_latency.rs`.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use checkpointd::adapters::feed::{IndexMessage, MovementIndex, Outbox};
use checkpointd::adapters::ledger::{CACHE_CAPACITY_DEFAULT, SledLedger};
use checkpointd::cli::feed::synthetic_crossing;
use checkpointd::config::{Config, LoadOptions};
use checkpointd::core::event::{
    ClockState, CrossingEvent, EVENT_FORMAT_VERSION, GENESIS_HASH, TerminalId,
};
use checkpointd::core::ledger::permit_check::Bp1Verification;
use checkpointd::core::ledger::state::{IndexConsistency, PermitCheck};
use checkpointd::core::ledger::{RootSet, SignedCheckpoint, verify_batch};
use checkpointd::core::mrz::{Td3Fields, compose_td3};
use checkpointd::core::privacy::DocumentNumber;
use checkpointd::core::session::SessionScan;
use checkpointd::ports::clock::Clock;
use checkpointd::ports::ledger::{LedgerStore, LedgerView, ReplicationState};
use checkpointd::ports::upstream::MovementHistory;
use checkpointd::terminal::{self, LaneSources};
use jiff::{SignedDuration, Timestamp};
use rand::{Rng, SeedableRng};
use serde_json::Value;
use tokio::sync::{broadcast, watch};

#[path = "support/central.rs"]
mod central;
use central::{Central, document_number, holder, ts};

const BATCH: u32 = 20_000;
const MOVEMENTS_PER_DOCUMENT: u64 = 10;
const TRAVELLERS: usize = 20_000;
const STAY_RULES: &str = include_str!("../firmware-config/stay-rules.toml");

struct FixedClock(Timestamp);

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        self.0
    }
    fn monotonic(&self) -> Duration {
        Duration::ZERO
    }
}

fn env(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn apply(
    store: &SledLedger,
    roots: &RootSet,
    (encoded, signed): (Vec<Vec<u8>>, Vec<u8>),
    check: &dyn PermitCheck,
) {
    let checkpoint = roots
        .verify(&SignedCheckpoint::decode(&signed).expect("decode"))
        .expect("verify");
    let batch = verify_batch(&store.cursor().expect("cursor"), encoded, checkpoint).expect("chain");
    store.apply(&batch, &signed, check).expect("apply");
}

/// `movements` crossings of other terminals, ten per document, the documents of the permit
/// holders: entries and exits over the year before `now`.
fn movement_index(outbox: &Outbox, movements: u64) -> MovementIndex {
    let index = outbox.movement_index();
    let documents = movements / MOVEMENTS_PER_DOCUMENT;
    let mut event = CrossingEvent {
        v: EVENT_FORMAT_VERSION,
        event_id: String::new(),
        terminal: TerminalId::new("AZ-AST-1").expect("valid id"),
        seq: 0,
        prev_hash: GENESIS_HASH,
        wall_time: ts("2025-06-01T00:00:00Z"),
        time_zone: "Asia/Baku".into(),
        utc_offset_s: 4 * 3600,
        clock: ClockState {
            last_sync_age_s: None,
            monotonic_ns: 0,
            behind_high_water_ms: None,
        },
        crossing: synthetic_crossing(0, "AZ-AST"),
    };
    let started = Instant::now();
    let mut batch = Vec::with_capacity(256);
    for seq in 1..=movements {
        let document = (seq - 1) % documents;
        let round = (seq - 1) / documents;
        event.seq = seq;
        event.wall_time = ts("2025-06-01T00:00:00Z")
            .checked_add(SignedDuration::from_hours(24 * 30 * round as i64))
            .expect("in range");
        event.crossing.direction = if round.is_multiple_of(2) {
            checkpointd::core::event::CrossingKind::Entry
        } else {
            checkpointd::core::event::CrossingKind::Exit
        };
        event.crossing.traveller.document_number =
            DocumentNumber::new(document_number(document as u32));
        batch.push((seq, event.clone()));
        if batch.len() == 256 || seq == movements {
            let messages: Vec<_> = batch
                .iter()
                .map(|(seq, event)| (*seq, IndexMessage::Movement(event)))
                .collect();
            index.apply_batch(&messages).expect("apply");
            batch.clear();
        }
    }
    println!(
        "setup: {movements} movements indexed in {:.1?}",
        started.elapsed()
    );
    index
}

fn mrz(i: u32) -> String {
    let number = document_number(i);
    let [line1, line2] = compose_td3(&Td3Fields {
        state: "UTO",
        surname: "ERIKSSON",
        given: "ANNA MARIA",
        number: &number,
        nationality: "UTO",
        birth: "900101",
        sex: 'F',
        expiry: "310101",
    });
    format!("{line1}\n{line2}")
}

/// The benchmarked terminal's configuration (`AZ-GYD-A1`, an officer lane at entry), written
/// into `dir` and loaded through the daemon's validation path; nothing here dials central.
fn configuration(dir: &Path, central: &Central) -> Config {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(dir.join("stay-rules.toml"), STAY_RULES).expect("stay rules");
    let key = dir.join("terminal.key");
    std::fs::write(&key, format!("{}\n", hex::encode([7u8; 32]))).expect("key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let group = nix::unistd::Group::from_gid(nix::unistd::getegid())
        .expect("own group")
        .expect("own group exists")
        .name;
    let roots: Vec<String> = central
        .root_public_keys()
        .iter()
        .map(|key| format!("\"{}\"", hex::encode(key)))
        .collect();
    let text = format!(
        r#"data_dir = "."
rules_file = "stay-rules.toml"
devices_dir = "."

[checkpoint]
id = "AZ-GYD"
name = "Lane benchmark"
kind = "airport"
lane = "A1"
time_zone = "Asia/Baku"
mode = "officer"
direction = "entry"

[ledger]
cache_capacity_bytes = {CACHE_CAPACITY_DEFAULT}

[upstream]
nats_url = "nats://127.0.0.1:4222"
events_stream = "EVENTS"
ledger_stream = "LEDGER"
duplicate_window_hours = 72
heartbeat_every_s = 30

[keys]
ledger_roots = [{roots}]
ledger_root_threshold = 2
terminal_key = "terminal.key"

[lane]
session_window_ms = 30000
ledger_stale_after_s = 2592000
clock_backwards_tolerance_ms = 2000
watchlist_threshold = 0.72

[api]
socket = "api.sock"
group = "{group}"

[retention]
movement_days = 400
prune_every_s = 3600
cache_capacity_bytes = 67108864

[limits]
scan_frame_bytes_max = 4096
outbox_events_max = 1000000
shutdown_grace_ms = 3000
"#,
        roots = roots.join(", "),
    );
    let path = dir.join("checkpoint.toml");
    std::fs::write(&path, text).expect("configuration");
    checkpointd::config::load(&path, &LoadOptions::default()).expect("configuration valid")
}

fn percentiles(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    println!(
        "{label}: p50 {:?} p99 {:?} p99.9 {:?} max {:?} ({} samples)",
        pct(0.50),
        pct(0.99),
        pct(0.999),
        pct(1.0),
        samples.len()
    );
}

fn main() {
    let permits = env("LANE_BENCH_PERMITS", 200_000);
    let movements = u64::from(env("LANE_BENCH_MOVEMENTS", 200_000));
    let dir = tempfile::tempdir().expect("tempdir");
    let mut central = Central::default();
    let roots = central.roots();

    // Central's ledger, applied as a terminal would (the permits are real signed cards; they are
    // verified again on every use, so setup checks only index consistency).
    let started = Instant::now();
    let config = configuration(dir.path(), &central);
    let ledger = Arc::new(terminal::open_ledger(&config).expect("open"));
    let key = central.issuer_key();
    apply(&ledger, &roots, central.next(vec![key]), &IndexConsistency);
    let mut done = 0;
    while done < permits {
        let n = BATCH.min(permits - done);
        let batch = central.permits(done, n);
        apply(&ledger, &roots, batch, &IndexConsistency);
        done += n;
    }
    println!(
        "setup: {permits} permits in the ledger in {:.1?}",
        started.elapsed()
    );

    // Within `ledger_stale_after_s` of central's checkpoint (2026-05-01).
    let now = ts("2026-05-20T08:00:00Z");
    let clock: Arc<dyn Clock> = Arc::new(FixedClock(now));
    let outbox = terminal::open_outbox(&config, Arc::clone(&clock)).expect("outbox");
    let index = movement_index(&outbox, movements);

    // What replication will apply meanwhile: fresh permits, fully verified (made now, not timed).
    let background: Vec<_> = (0..4)
        .map(|k| central.permits(permits + k * BATCH, BATCH))
        .collect();

    let sources = LaneSources {
        ledger: (*ledger).clone(),
        outbox: outbox.clone(),
        clock: Arc::clone(&clock),
        policy: Arc::new(terminal::stay_policy(&config).expect("stay rules")),
        replication: watch::channel(ReplicationState::Running).1,
    };
    let (events, mut stream) = broadcast::channel::<Value>(1024);
    let (status, _) = watch::channel(Value::Null);
    let mut lane = terminal::lane_driver(
        &config,
        terminal::lane_parts(&config, sources),
        events,
        status,
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let documents = (movements / MOVEMENTS_PER_DOCUMENT).min(u64::from(permits)) as u32;
    let mut travellers = rand::rngs::StdRng::seed_from_u64(9);
    let mut rng = rand::rngs::StdRng::seed_from_u64(10);
    let mut previous = u32::MAX;
    let mut drive = |count: usize, samples: &mut Vec<Duration>| {
        runtime.block_on(async {
            for _ in 0..count {
                // The same passport twice in a row is the same traveller's session.
                let mut next = travellers.gen_range(0..documents);
                while next == previous {
                    next = travellers.gen_range(0..documents);
                }
                previous = next;
                let scan = SessionScan::Mrz {
                    line_width: 44,
                    text: mrz(next),
                };
                let started = Instant::now();
                lane.on_scan("mrz-reader", scan).await.expect("a verdict");
                // The verdict is on the API stream when `on_scan` returns.
                loop {
                    match stream.try_recv() {
                        Ok(event) if event["type"] == "verdict" => break,
                        Ok(_) => {}
                        Err(error) => panic!("no verdict on the API stream: {error}"),
                    }
                }
                samples.push(started.elapsed());
            }
        });
    };

    let mut warmup = Vec::new();
    drive(2_000, &mut warmup);
    let mut quiet = Vec::with_capacity(TRAVELLERS);
    let started = Instant::now();
    drive(TRAVELLERS, &mut quiet);
    let quiet_rate = TRAVELLERS as f64 / started.elapsed().as_secs_f64();
    percentiles(
        &format!("scan-to-verdict ({permits} permits, {movements} movements, quiet)"),
        quiet,
    );
    println!("decision loop, one lane, quiet: {quiet_rate:.0} travellers/s");

    let mut lookups = Vec::with_capacity(100_000);
    for _ in 0..100_000 {
        let digest = holder(rng.gen_range(0..documents));
        let started = Instant::now();
        let found = index.movements(&digest).expect("lookup");
        lookups.push(started.elapsed());
        assert_eq!(found.len() as u64, MOVEMENTS_PER_DOCUMENT);
    }
    percentiles(
        &format!("movement lookup ({movements} movements, quiet)"),
        lookups,
    );

    // The same while replication verifies and applies batches on another thread.
    let applying = Arc::new(AtomicBool::new(true));
    let applied = Arc::new(AtomicU64::new(0));
    let writer = {
        let (ledger, roots, applying, applied) = (
            Arc::clone(&ledger),
            roots.clone(),
            Arc::clone(&applying),
            Arc::clone(&applied),
        );
        std::thread::spawn(move || {
            // At the priority the replicator gives its apply thread.
            checkpointd::adapters::ledger::lower_priority();
            let started = Instant::now();
            for batch in background {
                apply(&ledger, &roots, batch, &Bp1Verification);
                applied.fetch_add(u64::from(BATCH), Ordering::Relaxed);
            }
            applying.store(false, Ordering::Relaxed);
            started.elapsed()
        })
    };
    let mut busy = Vec::new();
    let mut busy_lookups = Vec::new();
    let started = Instant::now();
    while applying.load(Ordering::Relaxed) {
        drive(500, &mut busy);
        for _ in 0..2_000 {
            let digest = holder(rng.gen_range(0..documents));
            let t = Instant::now();
            index.movements(&digest).expect("lookup");
            busy_lookups.push(t.elapsed());
        }
    }
    let busy_elapsed = started.elapsed();
    let apply_time = writer.join().expect("writer");
    let busy_rate = busy.len() as f64 / busy_elapsed.as_secs_f64();
    percentiles(
        &format!(
            "scan-to-verdict while replication applies {} verified permits in {apply_time:.1?}",
            applied.load(Ordering::Relaxed)
        ),
        busy,
    );
    println!("decision loop, one lane, during replication: {busy_rate:.0} travellers/s");
    percentiles(
        &format!("movement lookup ({movements} movements, during replication)"),
        busy_lookups,
    );
    let _ = ledger.permits_by_holder(&holder(0));
}
