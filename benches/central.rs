//! checkpoint-central figures on this machine, against a real nats-server and a PostgreSQL
//! cluster with its durable defaults (fsync on): ingestion rate from a backlog of signed events,
//! the overstayers report and one document's history over a large record, bytes per movement.
//! Run: `cargo bench --bench central`; `CENTRAL_BENCH_REPORTS_ONLY=1` skips ingestion; sizes: `CENTRAL_BENCH_EVENTS` (1,000,000),
//! `CENTRAL_BENCH_MOVEMENTS` (10,000,000), `CENTRAL_BENCH_HISTORY_SAMPLES` (2,000).

#[allow(dead_code)]
#[path = "../tests/common/nats.rs"]
mod nats;
#[allow(dead_code)]
#[path = "../tests/common/postgres.rs"]
mod postgres;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use checkpointd::adapters::feed::{RelayConfig, ensure_stream};
use checkpointd::adapters::ledger::{CACHE_CAPACITY_DEFAULT, SledLedger};
use checkpointd::central::config::{NatsSettings, PostgresSettings};
use checkpointd::central::reports::{self, Report, ReportContext};
use checkpointd::central::{ingest, store};
use checkpointd::core::document::HolderDigest;
use checkpointd::core::event::{
    ClockState, Crossing, CrossingEvent, CrossingKind, EVENT_FORMAT_VERSION, EventHash,
    GENESIS_HASH, Grounds, Operator, TerminalId, TerminalKeys, Traveller, Verdict, sign,
};
use checkpointd::core::privacy::DocumentNumber;
use checkpointd::core::stay::StayPolicy;
use ed25519_dalek::{SigningKey, VerifyingKey};

const TERMINALS: u64 = 20;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn event(terminal: &TerminalId, seq: u64, prev: EventHash, n: u64) -> CrossingEvent {
    CrossingEvent {
        v: EVENT_FORMAT_VERSION,
        event_id: format!("{n:032x}"),
        terminal: terminal.clone(),
        seq,
        prev_hash: prev,
        wall_time: jiff::Timestamp::from_second(1_767_225_600 + i64::try_from(n).unwrap_or(0))
            .expect("time"),
        time_zone: "Asia/Baku".into(),
        utc_offset_s: 14_400,
        clock: ClockState {
            last_sync_age_s: Some(1),
            monotonic_ns: n,
            behind_high_water_ms: None,
        },
        crossing: Crossing {
            checkpoint: "GYD".into(),
            lane: "1".into(),
            direction: if n.is_multiple_of(2) {
                CrossingKind::Entry
            } else {
                CrossingKind::Exit
            },
            traveller: Traveller {
                document_type: "P".into(),
                issuing_state: "RUS".into(),
                nationality: "RUS".into(),
                birth_date: "800101".into(),
                sex: "M".into(),
                document_number: DocumentNumber::new(format!("B{:08}", n / 2)),
            },
            grounds: Grounds::default(),
            verdict: Verdict::Admit,
            reason_codes: vec!["VISA_FREE".into()],
            operator: Operator::Officer("O1".into()),
            ledger_age_s: Some(30),
            stay: None,
            clock_sync_age_s: Some(1),
            officer_override: None,
            referral: None,
            second_line: None,
            alert_acknowledged: None,
            watchlist: None,
            chip: None,
        },
    }
}

struct Keys(HashMap<TerminalId, VerifyingKey>);

impl TerminalKeys for Keys {
    fn verifying_key(&self, terminal: &TerminalId) -> Option<VerifyingKey> {
        self.0.get(terminal).copied()
    }
}

/// CPU seconds this process has used (user + system), from /proc/self/stat: on a shared machine
/// the wall-clock rate depends on what else runs, the CPU cost per event does not.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: Vec<f64> = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|field| field.parse().ok())
        .collect();
    ticks.iter().sum::<f64>() / 100.0
}

fn settings(pg: &postgres::Postgres) -> PostgresSettings {
    PostgresSettings {
        host: "127.0.0.1".into(),
        port: pg.port,
        user: "postgres".into(),
        dbname: "postgres".into(),
        password: None,
    }
}

/// Publishes `events` signed events from `TERMINALS` terminals, then times the consumer from
/// the first batch to the stored position reaching the end of the backlog.
async fn ingestion(pg: &postgres::Postgres, events: u64) {
    let server = nats::NatsServer::start();
    let client = async_nats::connect(server.url()).await.expect("connect");
    let js = async_nats::jetstream::new(client);
    ensure_stream(&js, &RelayConfig::with_duplicate_window_hours(1))
        .await
        .expect("stream");
    let mut keys = HashMap::new();
    let mut chains = Vec::new();
    for t in 0..TERMINALS {
        let id = TerminalId::new(format!("B{t}")).expect("id");
        let key = SigningKey::from_bytes(&[u8::try_from(t + 1).expect("seed"); 32]);
        keys.insert(id.clone(), key.verifying_key());
        chains.push((id, key, GENESIS_HASH));
    }
    let started = Instant::now();
    let mut acks = Vec::new();
    for n in 0..events {
        let (id, key, prev) = &mut chains[usize::try_from(n % TERMINALS).expect("index")];
        let seq = n / TERMINALS + 1;
        let signed = sign(&event(id, seq, *prev, n), key).expect("sign");
        *prev = EventHash::of(&signed);
        let message = async_nats::jetstream::message::PublishMessage::build()
            .payload(signed.into())
            .message_id(format!("{id}:{seq}"));
        acks.push(
            js.send_publish(format!("events.GYD.{id}"), message)
                .await
                .expect("publish"),
        );
        if acks.len() >= 4_096 {
            for ack in acks.drain(..) {
                ack.await.expect("ack");
            }
        }
    }
    for ack in acks.drain(..) {
        ack.await.expect("ack");
    }
    println!(
        "backlog: {events} events published in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let nats = NatsSettings {
        url: server.url(),
        tls: None,
        credentials_file: None,
        stream: "EVENTS".into(),
        durable: "bench".into(),
        batch_max: 5_000,
    };
    let postgres = settings(pg);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = {
        let (nats, postgres) = (nats.clone(), postgres.clone());
        tokio::spawn(async move {
            ingest::run_ingest(&nats, &postgres, Arc::new(Keys(keys)), async {
                let _ = stopped.await;
            })
            .await
        })
    };
    let probe = store::connect(&postgres).await.expect("probe");
    let started = Instant::now();
    let cpu_before = cpu_seconds();
    let target = i64::try_from(events).expect("events");
    loop {
        let done = probe
            .query_opt(
                "SELECT stream_seq FROM consumer_position WHERE consumer = 'bench'",
                &[],
            )
            .await
            .ok()
            .flatten()
            .map_or(0, |row| row.get::<_, i64>(0));
        if done >= target {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;
    let _ = stop.send(());
    let _ = task.await;
    println!(
        "ingestion: {events} events in {seconds:.1} s = {:.0} events/s (verify + classify + commit, fsync on)",
        events as f64 / seconds
    );
    println!(
        "ingestion CPU: {cpu:.1} s in the consumer process = {:.0} events per CPU-second (PostgreSQL's own CPU not included)",
        events as f64 / cpu
    );
}

/// Fills the record with `movements` rows by SQL (entries and exits of documents with 10
/// movements each over 2026), then times the reports.
async fn reports_over(pg: &postgres::Postgres, movements: u64, samples: u64) {
    let client = pg.client().await;
    let started = Instant::now();
    // generate_series inside PostgreSQL: the rows are what ingestion writes, without the wire.
    client
        .batch_execute("TRUNCATE movements, stays")
        .await
        .expect("truncate");
    let chunk = 1_000_000u64;
    let mut from = 0u64;
    while from < movements {
        let to = (from + chunk).min(movements);
        client
            .execute(
                "INSERT INTO movements (terminal, seq, event_hash, prev_hash, stream_seq, recorded_at, \
                 local_date, utc_offset_s, checkpoint, lane, direction, verdict, holder, issuing_state, \
                 document_type, document_number, nationality, birth_date, sex) \
                 SELECT 'R' || (n % 50), n, sha256(int8send(n)), sha256(int8send(n - 1)), n, \
                 t, (t AT TIME ZONE 'Asia/Baku')::date, 14400, 'CP' || (n % 12), '1', \
                 CASE WHEN (n / 100000) % 2 = 0 THEN 'entry' ELSE 'exit' END, 'admit', \
                 sha256(convert_to('RUS:D' || (n % $3), 'UTF8')), \
                 CASE WHEN n % 3 = 0 THEN 'RUS' ELSE 'TUR' END, 'P', 'D' || (n % $3), \
                 CASE WHEN n % 3 = 0 THEN 'RUS' ELSE 'TUR' END, '800101', 'F' \
                 FROM (SELECT n, timestamptz '2026-01-01 00:00:00+00' + (n * 31536000 / $4) * interval '1 second' AS t \
                 FROM generate_series($1::int8, $2::int8) AS n) s",
                &[
                    &i64::try_from(from + 1).expect("n"),
                    &i64::try_from(to).expect("n"),
                    &i64::try_from(movements / 10).expect("n"),
                    &i64::try_from(movements).expect("n"),
                ],
            )
            .await
            .expect("fill");
        from = to;
    }
    client
        .batch_execute("ANALYZE movements")
        .await
        .expect("analyze");
    println!(
        "record: {movements} movements written by SQL in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // Ingestion keeps `stays` batch by batch; rows written by SQL need it derived once.
    let started = Instant::now();
    store::rebuild_stays(&client).await.expect("stays");
    println!(
        "stays: derived from the record in {:.1} s (ingestion keeps it per batch)",
        started.elapsed().as_secs_f64()
    );
    let size: i64 = client
        .query_one(
            "SELECT pg_total_relation_size('movements') + pg_total_relation_size('stays')",
            &[],
        )
        .await
        .expect("size")
        .get(0);
    println!(
        "storage: {:.0} bytes per movement (movements and stays: tables, TOAST, indexes: {} MiB)",
        size as f64 / movements as f64,
        size >> 20
    );
    let dir = tempfile::tempdir().expect("ledger dir");
    let context = std::sync::Arc::new(ReportContext {
        ledger: SledLedger::open(dir.path(), CACHE_CAPACITY_DEFAULT).expect("ledger"),
        stay: StayPolicy::from_toml(
            &std::fs::read_to_string(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("firmware-config/stay-rules.toml"),
            )
            .expect("rules"),
        )
        .expect("policy"),
    });
    let date = "2026-07-01".parse().expect("date");
    let started = Instant::now();
    let value = reports::run(&client, &context, &Report::Overstayers { date })
        .await
        .expect("overstayers");
    println!(
        "overstayers on {date} over {movements} movements: {:.2} s ({} present assessed, {} overstayers)",
        started.elapsed().as_secs_f64(),
        value["present_assessed"],
        value["overstayers"].as_array().map_or(0, Vec::len)
    );
    let mut times = Vec::new();
    for i in 0..samples {
        let n = (i * 7_919) % (movements / 10);
        let holder = HolderDigest::of("RUS", &format!("D{n}"));
        let started = Instant::now();
        let value = reports::run(&client, &context, &Report::History { holder })
            .await
            .expect("history");
        times.push(started.elapsed());
        assert!(!value["movements"].as_array().is_none_or(Vec::is_empty));
    }
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    println!(
        "history of one document ({samples} lookups, 10 movements each): p50 {:?}, p99 {:?}, max {:?}",
        at(0.5),
        at(0.99),
        times[times.len() - 1]
    );
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing and must stay short.
    let benching = std::env::args().any(|a| a == "--bench");
    let events = env_u64(
        "CENTRAL_BENCH_EVENTS",
        if benching { 1_000_000 } else { 2_000 },
    );
    let movements = env_u64(
        "CENTRAL_BENCH_MOVEMENTS",
        if benching { 10_000_000 } else { 10_000 },
    );
    let samples = env_u64(
        "CENTRAL_BENCH_HISTORY_SAMPLES",
        if benching { 2_000 } else { 20 },
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let pg = postgres::Postgres::start_durable();
        let mut client = store::connect(&settings(&pg)).await.expect("connect");
        store::migrate(&mut client).await.expect("migrate");
        if std::env::var_os("CENTRAL_BENCH_REPORTS_ONLY").is_none() {
            ingestion(&pg, events).await;
        }
        reports_over(&pg, movements, samples).await;
    });
}
