//! Retention soak (issue #10, resource bounds): one real `checkpointd` whose wall clock runs
//! days per second under libfaketime records crossings of new travellers without pause, relays
//! them to a real nats-server and prunes every two seconds. Once the first movements are older
//! than the 400-day retention they must be gone (the first traveller's stay look-up shows no
//! presence any more), and from then on RSS, the data directory, file descriptors and threads
//! must stop growing while crossings keep coming.
//!
//! Short by default (part of the normal suite). `RETENTION_SOAK_SECS=N` runs N seconds,
//! `RETENTION_SOAK_DAYS_PER_SEC=D` sets the clock's pace, `RETENTION_SOAK_RATE=R` the crossings
//! offered per second, `RETENTION_SOAK_REPORT=path` writes
//! the samples as a markdown table (`scripts/soak --retention`).

mod common;

use std::fmt::Write as _;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use checkpointd::adapters::ledger::Central;
use checkpointd::core::ledger::{Change, TerminalKeyAdded};
use common::nats::NatsServer;
use common::terminal::{
    EventStream, LaneConfig, OFFICER_ID, OFFICER_SECRET, Pty, TOKEN, free_port, root_key,
    spawn_daemon, td3, try_http, write_firmware,
};
use ed25519_dalek::SigningKey;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

const FAKETIME_LIB: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";
const SHORT_SECS: u64 = 36;
/// In the short mode 400 days pass in 10 s.
const SHORT_DAYS_PER_SEC: u64 = 40;
const RETENTION_DAYS: u64 = 400;
const TERMINAL_SEED: [u8; 32] = [0x52; 32];
const VERDICT_WAIT: Duration = Duration::from_secs(10);
/// Crossings per second offered (real time): a steady arrival rate makes the number of
/// movements inside the retention window steady too.
const DEFAULT_RATE: u64 = 100;
/// Growth allowed between the first sample past retention and the last one.
const RSS_SLACK_MIB: f64 = 24.0;
const FD_SLACK: i64 = 6;
const THREAD_SLACK: i64 = 4;

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

#[derive(Clone, Debug)]
struct Sample {
    t: f64,
    days: f64,
    crossings: u64,
    rss_mib: f64,
    data_mib: f64,
    fds: i64,
    threads: i64,
    outbox_depth: u64,
}

fn proc_field(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
}

/// Bytes the directory occupies on disk (allocated blocks, not apparent sizes).
fn disk_bytes(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => disk_bytes(&entry.path()),
            Ok(meta) => meta.blocks() * 512,
            Err(_) => 0,
        })
        .sum()
}

fn count_dir(path: String) -> i64 {
    std::fs::read_dir(path).map_or(0, |dir| dir.count() as i64)
}

struct Lane {
    child: Child,
    http: std::net::SocketAddr,
    scanner: Pty,
    clock_file: std::path::PathBuf,
    data: std::path::PathBuf,
    /// The officer's session cookie, once signed in.
    cookie: Option<String>,
}

impl Drop for Lane {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn status(lane: &Lane) -> Option<Value> {
    match try_http(lane.http, "GET", "/api/v1/status", None, Some(TOKEN)) {
        Some((200, status)) => Some(status),
        _ => None,
    }
}

/// Days used of the first traveller as the terminal's stay look-up sees them.
fn stay_days(lane: &Lane, number: &str) -> Option<u64> {
    let path = format!("/api/v1/stay?issuing_state=GEO&document_number={number}&nationality=GEO");
    match try_http(lane.http, "GET", &path, None, Some(TOKEN)) {
        Some((200, answer)) => answer["days_used"].as_u64(),
        _ => None,
    }
}

fn publish_ledger(url: &str, terminal_id: &str, terminal: &SigningKey) {
    runtime().block_on(async {
        let central = Central::connect(url).await.expect("central connects");
        central.provision(1).await.expect("provision streams");
        let now = Timestamp::now();
        let change = Change::TerminalKeyAdded(TerminalKeyAdded {
            terminal_id: terminal_id.into(),
            public_key: terminal.verifying_key().to_bytes(),
            valid_from: now - SignedDuration::from_hours(24),
            // The terminal's clock runs years ahead in this soak.
            valid_until: now + SignedDuration::from_hours(24 * 365 * 20),
        });
        // The officer's account covers the years the terminal's clock runs ahead.
        let today = now.to_zoned(jiff::tz::TimeZone::UTC).date();
        let officer = checkpointd::cli::officer::enrolment(
            OFFICER_ID,
            checkpointd::core::officer::Role::Officer,
            OFFICER_SECRET.as_bytes(),
            today.yesterday().expect("yesterday"),
            today.saturating_add(jiff::Span::new().years(20)),
            checkpointd::core::officer::Language::En,
        )
        .expect("enrolment");
        central
            .append(vec![change, officer], now)
            .await
            .expect("append");
        central
            .checkpoint(&[root_key()], now)
            .await
            .expect("checkpoint");
    });
}

fn start(url: &str, dir: &Path) -> Lane {
    let scanner = Pty::open();
    let http = free_port();
    let config = write_firmware(
        dir,
        &LaneConfig {
            nats_url: url,
            checkpoint: "RET",
            kind: "land",
            lane: "1",
            mode: "officer",
            direction: "entry",
            scanner_port: &scanner.path,
            scanner_profile: "generic-mrz-rs232.toml",
            gate_port: None,
            terminal_seed: TERMINAL_SEED,
            ledger_root: root_key().verifying_key().to_bytes(),
            http,
        },
    );
    let text = std::fs::read_to_string(&config).expect("read config");
    let text = text.replace(
        "[retention]\nmovement_days = 400\n",
        &format!("[retention]\nmovement_days = {RETENTION_DAYS}\nprune_every_s = 2\n"),
    );
    assert!(
        text.contains("prune_every_s = 2"),
        "retention table rewritten"
    );
    std::fs::write(&config, text).expect("write config");
    let clock_file = dir.join("faketime");
    std::fs::write(&clock_file, "+0\n").expect("clock file");
    let clock = clock_file.display().to_string();
    let env = [
        ("LD_PRELOAD", FAKETIME_LIB),
        ("FAKETIME_TIMESTAMP_FILE", clock.as_str()),
        ("FAKETIME_CACHE_DURATION", "1"),
        // Only the wall clock runs fast; timers and the monotonic guard keep real time.
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
    ];
    let child = spawn_daemon(&config, &dir.join("daemon.log"), &env);
    Lane {
        child,
        http,
        scanner,
        clock_file,
        data: config.with_file_name("data"),
        cookie: None,
    }
}

/// Signs the officer in (once the replica holds the account); later confirmations carry the
/// session cookie.
fn sign_in(lane: &mut Lane) {
    let cookie =
        common::terminal::officer_cookie(lane.http, TOKEN, Duration::from_secs(30), String::new);
    lane.cookie = Some(format!("Cookie: {cookie}\r\n"));
}

/// One traveller through the officer lane: scan, verdict, confirm. True once recorded.
/// `session` is the latest session seen, so a late verdict of an earlier traveller is skipped.
fn cross(lane: &mut Lane, stream: &mut EventStream, number: &str, session: &mut u64) -> bool {
    use std::io::Write as _;
    let mrz = td3("GEO", "RETENTION", "SOAK", number, "GEO");
    let text = format!("{}\r{}\r", mrz[0], mrz[1]);
    if lane.scanner.master.write_all(text.as_bytes()).is_err() {
        return false;
    }
    let after = *session;
    let Some(verdict) = stream.next_matching("verdict", VERDICT_WAIT, |v| {
        v["session"].as_u64().is_some_and(|s| s > after)
    }) else {
        return false;
    };
    *session = verdict["session"].as_u64().unwrap_or(after);
    let decision = if verdict["verdict"]["outcome"] == "refuse" {
        "refuse"
    } else {
        "admit"
    };
    let body = json!({"session": verdict["session"], "decision": decision});
    let cookie = lane.cookie.clone().unwrap_or_default();
    matches!(
        common::terminal::exchange(
            lane.http,
            "POST",
            "/api/v1/confirm",
            Some(&body),
            Some(TOKEN),
            &cookie,
        ),
        Some((200, _, _))
    )
}

#[test]
fn retention_pruning_keeps_memory_and_disk_flat() {
    assert!(
        Path::new(FAKETIME_LIB).exists(),
        "libfaketime is not installed ({FAKETIME_LIB}): run ./scripts/test once, or \
         apt-get install libfaketime"
    );
    let secs = env_u64("RETENTION_SOAK_SECS").unwrap_or(SHORT_SECS);
    let days_per_sec = env_u64("RETENTION_SOAK_DAYS_PER_SEC").unwrap_or(if secs <= 120 {
        SHORT_DAYS_PER_SEC
    } else {
        2
    });
    let rate = env_u64("RETENTION_SOAK_RATE")
        .unwrap_or(DEFAULT_RATE)
        .max(1);
    let sample_every = Duration::from_secs_f64((secs as f64 / 24.0).clamp(1.0, 30.0));
    let nats = NatsServer::start();
    let url = nats.url();
    let terminal_key = SigningKey::from_bytes(&TERMINAL_SEED);
    publish_ledger(&url, "RET-1", &terminal_key);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut lane = start(&url, dir.path());
    sign_in(&mut lane);

    let deadline = Instant::now() + Duration::from_secs(30);
    while status(&lane).is_none_or(|s| {
        !s["devices"]
            .as_array()
            .is_some_and(|d| d.iter().any(|d| d["state"] == "up"))
    }) {
        assert!(Instant::now() < deadline, "terminal did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut stream = EventStream::open(lane.http, &format!("/api/v1/stream?token={TOKEN}"));

    let first = "R00000001".to_string();
    let mut session = 0u64;
    assert!(
        cross(&mut lane, &mut stream, &first, &mut session),
        "first crossing recorded"
    );
    let present_at_start = stay_days(&lane, &first);
    assert!(
        present_at_start.is_some_and(|d| d >= 1),
        "the first traveller is inside: {present_at_start:?}"
    );

    let started = Instant::now();
    let mut next_sample = started;
    let mut samples: Vec<Sample> = Vec::new();
    let mut crossings = 1u64;
    let mut failures = 0u64;
    let mut last_offset = 0u64;
    let mut first_gone_at_days: Option<f64> = None;
    let pid = lane.child.id();
    while started.elapsed() < Duration::from_secs(secs) {
        let elapsed = started.elapsed().as_secs_f64();
        let offset = (elapsed * days_per_sec as f64 * 86_400.0) as u64;
        if offset != last_offset {
            std::fs::write(&lane.clock_file, format!("+{offset}\n")).expect("clock file");
            last_offset = offset;
        }
        let due = started + Duration::from_secs_f64((crossings + failures) as f64 / rate as f64);
        if let Some(ahead) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(ahead);
        }
        let number = format!("R{:08}", crossings + 1);
        if cross(&mut lane, &mut stream, &number, &mut session) {
            crossings += 1;
        } else {
            failures += 1;
        }
        if Instant::now() >= next_sample {
            next_sample += sample_every;
            let days = offset as f64 / 86_400.0;
            if first_gone_at_days.is_none() && stay_days(&lane, &first) == Some(0) {
                first_gone_at_days = Some(days);
            }
            samples.push(Sample {
                t: elapsed,
                days,
                crossings,
                rss_mib: proc_field(pid, "VmRSS").unwrap_or(0.0) / 1024.0,
                data_mib: disk_bytes(&lane.data) as f64 / (1024.0 * 1024.0),
                fds: count_dir(format!("/proc/{pid}/fd")),
                threads: count_dir(format!("/proc/{pid}/task")),
                outbox_depth: status(&lane)
                    .and_then(|s| s["outbox_depth"].as_u64())
                    .unwrap_or(u64::MAX),
            });
        }
    }
    let total_days = last_offset as f64 / 86_400.0;
    if first_gone_at_days.is_none() && stay_days(&lane, &first) == Some(0) {
        first_gone_at_days = Some(total_days);
    }

    // From the first sample after the retention horizon plus a margin on, nothing may grow.
    let horizon = RETENTION_DAYS as f64 + 2.0 * sample_every.as_secs_f64() * days_per_sec as f64;
    let steady: Vec<&Sample> = samples.iter().filter(|s| s.days >= horizon).collect();
    let mut report = String::new();
    writeln!(
        report,
        "{secs} s, clock pace {days_per_sec} days/s ({total_days:.0} days), retention {RETENTION_DAYS} days, \
         pruning every 2 s, {rate} crossings/s offered; {crossings} crossings recorded, {failures} not (a verdict slower than {VERDICT_WAIT:?} \
         or a refused confirmation); the first traveller's movement pruned by day {}.\n",
        first_gone_at_days.map_or("— (never)".into(), |d| format!("{d:.0}"))
    )
    .expect("string");
    writeln!(
        report,
        "| t (s) | clock (days) | crossings | RSS MiB | data dir MiB | fds | threads | outbox |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    )
    .expect("string");
    for s in &samples {
        writeln!(
            report,
            "| {:.0} | {:.0} | {} | {:.1} | {:.1} | {} | {} | {} |",
            s.t, s.days, s.crossings, s.rss_mib, s.data_mib, s.fds, s.threads, s.outbox_depth
        )
        .expect("string");
    }
    eprintln!("{report}");
    if let Ok(path) = std::env::var("RETENTION_SOAK_REPORT") {
        std::fs::write(&path, &report).expect("write report");
    }

    assert!(
        crossings > 50,
        "too few crossings ({crossings}) to say anything; failures {failures}"
    );
    assert!(
        first_gone_at_days.is_some_and(|d| d <= total_days),
        "the first traveller's movement was never pruned (clock reached {total_days:.0} days)"
    );
    assert!(
        steady.len() >= 2,
        "too few samples past the retention horizon: {}",
        steady.len()
    );
    let (from, to) = (steady[0], steady[steady.len() - 1]);
    // The index holds about the same number of movements throughout the steady state; sled's
    // log reclaims pruned space segment by segment, so the directory may wobble but not trend.
    let data_bound = from.data_mib * 1.5 + 4.0;
    let problems: Vec<String> = [
        (to.rss_mib > from.rss_mib + RSS_SLACK_MIB).then(|| {
            format!(
                "RSS {:.1} -> {:.1} MiB past retention",
                from.rss_mib, to.rss_mib
            )
        }),
        steady
            .iter()
            .any(|s| s.data_mib > data_bound)
            .then(|| format!("data dir above {data_bound:.1} MiB past retention")),
        (to.fds > from.fds + FD_SLACK).then(|| format!("fds {} -> {}", from.fds, to.fds)),
        (to.threads > from.threads + THREAD_SLACK)
            .then(|| format!("threads {} -> {}", from.threads, to.threads)),
    ]
    .into_iter()
    .flatten()
    .collect();
    assert!(problems.is_empty(), "{problems:#?}\n{report}");
    drop(lane);
    drop(nats);
}
