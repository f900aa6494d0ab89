//! The relay while the leader of `EVENTS` is killed (issue 20): a three-node cluster, a few
//! terminals relaying at a steady rate over central's real connect options (half of them seeded
//! with the leader's URL only, so they lose their connection; half never connected to it), the
//! leader killed with SIGKILL. Every recorded crossing must be stored exactly once; the test
//! reports the latency from the durable record to the stream's store time around the kill, the
//! time the cluster took to name a new leader, and the survivors' log lines of the election.
//!
//! `RUST_LOG=checkpointd::adapters::feed=debug` adds the relay's own timing (failed rounds,
//! stream checks). `FAILOVER_SECS` (default 6) is how long traffic runs after the kill.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use checkpointd::adapters::feed::{Outbox, OutboxConfig, RelayConfig, ensure_stream, run_relay};
use checkpointd::adapters::nats::{CentralLink, link_options};
use checkpointd::cli::feed::synthetic_crossing;
use checkpointd::core::event::TerminalId;
use common::nats::{CLUSTER_NODES, NatsCluster, stored_events, stream_leader};
use ed25519_dalek::SigningKey;

/// How long the cluster may take to elect leaders, or the relays to drain, before the test fails.
const SETTLE: Duration = Duration::from_secs(30);
/// Terminals relaying; the first half are seeded with the leader's URL only.
const TERMINALS: usize = 4;
/// Crossings per second on each terminal.
const RATE: u64 = 20;
/// Traffic before the kill.
const BEFORE_KILL: Duration = Duration::from_secs(2);

fn relay_config() -> RelayConfig {
    RelayConfig {
        replicas: CLUSTER_NODES,
        ..RelayConfig::with_duplicate_window_hours(48)
    }
}

/// A client with central's real connect options (what a terminal and central's tools use).
async fn link_client(urls: &[String]) -> async_nats::Client {
    let link = CentralLink {
        urls: urls.to_vec(),
        tls: None,
        credentials_file: None,
    };
    link_options(&link)
        .expect("link options")
        .connect(urls)
        .await
        .expect("connect")
}

/// (terminal, seq) → when the terminal was told "recorded".
type Recorded = Arc<Mutex<HashMap<String, jiff::Timestamp>>>;

fn open_outbox(n: usize, dir: &std::path::Path) -> Outbox {
    Outbox::open(
        dir,
        OutboxConfig {
            terminal: TerminalId::new(format!("FAIL{n}")).expect("valid id"),
            time_zone: jiff::tz::TimeZone::UTC,
        },
        SigningKey::from_bytes(&[n as u8 + 1; 32]),
        Arc::new(checkpointd::adapters::system_clock::SystemClock::default()),
    )
    .expect("open outbox")
}

/// Records `RATE` crossings per second for `secs` on a blocking thread.
fn traffic(
    outbox: &Outbox,
    n: usize,
    secs: u64,
    recorded: &Recorded,
) -> std::thread::JoinHandle<()> {
    let (outbox, recorded) = (outbox.clone(), Arc::clone(recorded));
    std::thread::spawn(move || {
        let period = Duration::from_secs(1) / RATE as u32;
        let start = Instant::now();
        for i in 0..RATE * secs {
            std::thread::sleep(
                (start + period * i as u32).saturating_duration_since(Instant::now()),
            );
            let crossing = synthetic_crossing(n as u64 * 1_000_000 + i, "GYD");
            let done = outbox.record(crossing).expect("record");
            let id = format!("FAIL{n}:{}", done.seq);
            recorded.lock().expect("lock").insert(id, done.wall_time);
        }
    })
}

/// Watches `EVENTS` from the kill on (short requests, every 50 ms) and returns when a node other
/// than `victim` leads it and how long after `killed` that was.
async fn new_leader_after(urls: &[String], victim: usize, killed: Instant) -> (usize, Duration) {
    let client = async_nats::ConnectOptions::new()
        .request_timeout(Some(Duration::from_millis(250)))
        .connect(urls)
        .await
        .expect("watcher");
    let js = jetstream::new(client);
    loop {
        if let Some(node) = stream_leader(&js, "EVENTS", Duration::ZERO).await
            && node != victim
        {
            return (node, killed.elapsed());
        }
        assert!(
            killed.elapsed() < SETTLE,
            "EVENTS never elected a new leader"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// Latency per half second of record time around the kill, and p50/p99 of those recorded in
/// the first `window` after it.
fn report(
    recorded: &HashMap<String, jiff::Timestamp>,
    stored: &HashMap<String, jiff::Timestamp>,
    killed_at: jiff::Timestamp,
    window: Duration,
) -> String {
    let mut buckets: std::collections::BTreeMap<i64, Vec<Duration>> = Default::default();
    let mut after_kill = Vec::new();
    for (id, at) in recorded {
        let stored_at = stored[id];
        let latency = Duration::try_from(stored_at.duration_since(*at)).unwrap_or(Duration::ZERO);
        let since_kill_ms = at.duration_since(killed_at).as_millis() as i64;
        buckets
            .entry(since_kill_ms.div_euclid(500))
            .or_default()
            .push(latency);
        if (0..window.as_millis() as i64).contains(&since_kill_ms) {
            after_kill.push(latency);
        }
    }
    let mut text = String::from("record time since kill -> n, max latency record -> EVENTS\n");
    for (bucket, latencies) in &buckets {
        let max = latencies.iter().max().copied().unwrap_or_default();
        text += &format!(
            "  [{:+.1} s, {:+.1} s): n {:3} max {max:?}\n",
            *bucket as f64 / 2.0,
            (*bucket + 1) as f64 / 2.0,
            latencies.len()
        );
    }
    after_kill.sort_unstable();
    if !after_kill.is_empty() {
        text += &format!(
            "recorded in the {window:?} after the kill: n {} p50 {:?} p99 {:?} max {:?}\n",
            after_kill.len(),
            percentile(&after_kill, 0.5),
            percentile(&after_kill, 0.99),
            after_kill[after_kill.len() - 1]
        );
    }
    text
}

/// The survivors' log lines about the election, from the kill on.
fn election_lines(cluster: &NatsCluster, victim: usize) -> String {
    let mut text = String::new();
    for node in (0..CLUSTER_NODES).filter(|node| *node != victim) {
        for line in cluster.log(node).lines().filter(|line| {
            line.contains("EVENTS") || line.contains("leader") || line.contains("Lost")
        }) {
            text += &format!("  n{node}: {line}\n");
        }
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_store_every_crossing_once_while_the_events_leader_is_killed() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let after_kill = std::env::var("FAILOVER_SECS")
        .map(|secs| {
            secs.parse::<u64>()
                .expect("FAILOVER_SECS is a whole number")
        })
        .unwrap_or(6);
    let mut cluster = NatsCluster::start();
    let urls = cluster.urls();
    let js = jetstream::new(link_client(&urls).await);
    let deadline = Instant::now() + SETTLE;
    while let Err(error) = ensure_stream(&js, &relay_config()).await {
        assert!(Instant::now() < deadline, "EVENTS never created: {error}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let victim = stream_leader(&js, "EVENTS", SETTLE)
        .await
        .expect("EVENTS has a leader");
    let others: Vec<String> = (0..CLUSTER_NODES)
        .filter(|node| *node != victim)
        .map(|node| urls[node].clone())
        .collect();

    let dirs: Vec<tempfile::TempDir> = (0..TERMINALS)
        .map(|_| tempfile::tempdir().expect("tempdir"))
        .collect();
    let outboxes: Vec<Outbox> = dirs
        .iter()
        .enumerate()
        .map(|(n, dir)| open_outbox(n, dir.path()))
        .collect();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut relays = Vec::new();
    for (n, outbox) in outboxes.iter().enumerate() {
        let seeds = if n < TERMINALS / 2 {
            vec![urls[victim].clone()]
        } else {
            others.clone()
        };
        let mut stopped = stopped.clone();
        relays.push(tokio::spawn(run_relay(
            outbox.clone(),
            link_client(&seeds).await,
            relay_config(),
            async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            },
        )));
    }
    let recorded: Recorded = Arc::default();
    let secs = BEFORE_KILL.as_secs() + after_kill;
    let threads: Vec<_> = outboxes
        .iter()
        .enumerate()
        .map(|(n, outbox)| traffic(outbox, n, secs, &recorded))
        .collect();

    tokio::time::sleep(BEFORE_KILL).await;
    let killed = Instant::now();
    let killed_at = jiff::Timestamp::now();
    cluster.kill(victim);
    let (leader, election) = new_leader_after(&others, victim, killed).await;
    for thread in threads {
        thread.join().expect("traffic");
    }
    let deadline = Instant::now() + SETTLE;
    for outbox in &outboxes {
        while outbox.depth() > 0 {
            assert!(Instant::now() < deadline, "outbox not drained");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let _ = stop.send(true);
    for relay in relays {
        relay.await.expect("join").expect("relay stops cleanly");
    }

    let js = jetstream::new(link_client(&others).await);
    let stored = stored_events(&js, SETTLE).await;
    let ids: BTreeSet<&String> = stored.iter().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), stored.len(), "a crossing was stored twice");
    let recorded = std::mem::take(&mut *recorded.lock().expect("lock"));
    let expected: BTreeSet<&String> = recorded.keys().collect();
    assert_eq!(ids, expected, "lost or unknown crossings");
    let stored: HashMap<String, jiff::Timestamp> = stored.into_iter().collect();
    eprintln!(
        "EVENTS leader n{victim} killed; n{leader} seen leading {election:?} later\n{}survivors' log:\n{}",
        report(
            &recorded,
            &stored,
            killed_at,
            Duration::from_secs(after_kill)
        ),
        election_lines(&cluster, victim),
    );
}
