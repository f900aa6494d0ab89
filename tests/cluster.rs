//! Central as a three-node JetStream cluster on loopback: a terminal configured with the seed
//! URLs relays into an R3 `EVENTS` stream while the stream's leader is killed with SIGKILL, and
//! then while the whole cluster restarts; every recorded crossing is stored exactly once. A
//! replica catching up from an R3 `LEDGER` loses its stream leader and still reaches central's
//! head, with nothing missing or repeated.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use checkpointd::adapters::feed::{Outbox, OutboxConfig, RelayConfig, ensure_stream, run_relay};
use checkpointd::adapters::ledger::{
    CACHE_CAPACITY_DEFAULT, Central, ReplicationOutcome, Replicator, SledLedger,
};
use checkpointd::cli::feed::synthetic_crossing;
use checkpointd::cli::ledger::verify_replica;
use checkpointd::core::document::HolderDigest;
use checkpointd::core::event::TerminalId;
use checkpointd::core::ledger::state::IndexConsistency;
use checkpointd::ports::ledger::{LedgerStore, LedgerView};
use common::ledger::{permits, roots};
use common::nats::{CLUSTER_NODES, NatsCluster, stored_events, stream_leader};
use ed25519_dalek::SigningKey;

/// How long the cluster may take to elect leaders, or the relay to drain, before the test fails.
const SETTLE: Duration = Duration::from_secs(30);

fn relay_config() -> RelayConfig {
    RelayConfig {
        backoff_max: Duration::from_millis(500),
        idle_poll: Duration::from_millis(50),
        replicas: CLUSTER_NODES,
        ..RelayConfig::with_duplicate_window_hours(48)
    }
}

async fn client(urls: &[String]) -> async_nats::Client {
    async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connect(urls)
        .await
        .expect("client")
}

/// Creates `EVENTS` with three replicas once the cluster can (its meta leader elected).
async fn events_stream(js: &jetstream::Context) {
    let deadline = Instant::now() + SETTLE;
    while let Err(error) = ensure_stream(js, &relay_config()).await {
        assert!(Instant::now() < deadline, "EVENTS never created: {error}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The node leading `EVENTS`.
async fn events_leader(js: &jetstream::Context) -> usize {
    stream_leader(js, "EVENTS", SETTLE)
        .await
        .expect("EVENTS has no leader")
}

async fn wait_drained(outbox: &Outbox) {
    let deadline = Instant::now() + SETTLE;
    while outbox.depth() > 0 {
        assert!(
            Instant::now() < deadline,
            "outbox not drained: {} left",
            outbox.depth()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `Nats-Msg-Id` of every message in `EVENTS`, in stream order.
async fn stored_ids(js: &jetstream::Context) -> Vec<String> {
    let stored = stored_events(js, SETTLE).await;
    stored.into_iter().map(|(id, _)| id).collect()
}

/// Records `count` crossings from `first`, a few milliseconds apart, on a blocking thread.
fn record_paced(outbox: &Outbox, first: u64, count: u64) -> std::thread::JoinHandle<()> {
    let outbox = outbox.clone();
    std::thread::spawn(move || {
        for n in first..first + count {
            outbox.record(synthetic_crossing(n, "GYD")).expect("record");
            std::thread::sleep(Duration::from_millis(3));
        }
    })
}

fn assert_exactly_once(ids: &[String], terminal: &str, count: u64) {
    let distinct: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len(), "a crossing was stored twice");
    let expected: BTreeSet<String> = (1..=count).map(|seq| format!("{terminal}:{seq}")).collect();
    let found: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(found, expected, "lost crossings");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_rides_out_the_events_leader_killed_and_a_whole_cluster_restart() {
    let mut cluster = NatsCluster::start();
    let urls = cluster.urls();
    let js = jetstream::new(client(&urls).await);
    events_stream(&js).await;
    let data = tempfile::tempdir().expect("tempdir");
    let outbox = Outbox::open(
        data.path(),
        OutboxConfig {
            terminal: TerminalId::new("CLUSTER1").expect("valid id"),
            time_zone: jiff::tz::TimeZone::UTC,
        },
        SigningKey::from_bytes(&[5; 32]),
        Arc::new(checkpointd::adapters::system_clock::SystemClock::default()),
    )
    .expect("open outbox");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let relay = tokio::spawn(run_relay(
        outbox.clone(),
        client(&urls).await,
        relay_config(),
        async {
            let _ = stopped.await;
        },
    ));

    // The leader of EVENTS dies while crossings are being relayed.
    let recording = record_paced(&outbox, 0, 300);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let leader = events_leader(&js).await;
    cluster.kill(leader);
    recording.join().expect("recorder");
    wait_drained(&outbox).await;
    cluster.restart(leader);

    // Every node dies at once and comes back on its store.
    for node in 0..CLUSTER_NODES {
        cluster.kill(node);
    }
    let recording = record_paced(&outbox, 300, 50);
    for node in 0..CLUSTER_NODES {
        cluster.restart(node);
    }
    recording.join().expect("recorder");
    wait_drained(&outbox).await;

    let _ = stop.send(());
    relay.await.expect("join").expect("relay stops cleanly");
    assert_exactly_once(&stored_ids(&js).await, "CLUSTER1", 350);
}

/// The node leading `LEDGER`.
async fn ledger_leader(js: &jetstream::Context) -> usize {
    stream_leader(js, "LEDGER", SETTLE)
        .await
        .expect("LEDGER has no leader")
}

/// Replication rounds until the replica's cursor is `target`; failed rounds (a lost leader) are
/// retried, as the daemon's follower does.
async fn replicate_to(terminal: &Replicator<SledLedger>, target: u64) {
    let deadline = Instant::now() + SETTLE;
    loop {
        let seq = terminal.store().cursor().expect("cursor").seq;
        if seq == target {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "replication stalled at {seq} of {target}"
        );
        match terminal.sync_once().await {
            Ok(_) => {}
            Err(error) => {
                eprintln!("replication round failed (retrying): {error}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replication_rides_out_the_ledger_leader_killed_mid_catch_up() {
    let mut cluster = NatsCluster::start();
    let seeds = cluster.urls().join(",");
    let (keys, roots) = roots();
    let deadline = Instant::now() + SETTLE;
    let central = loop {
        match Central::connect(&seeds).await {
            Ok(central) => match central.provision(CLUSTER_NODES).await {
                Ok(()) => break central,
                Err(error) => assert!(Instant::now() < deadline, "provision: {error}"),
            },
            Err(error) => assert!(Instant::now() < deadline, "connect: {error}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let now: jiff::Timestamp = "2026-05-01T10:00:00Z".parse().expect("time");
    for chunk in 0..4 {
        central
            .append(permits(chunk * 2500, 2500), now)
            .await
            .expect("append");
        central
            .checkpoint(&keys[..2], now)
            .await
            .expect("checkpoint");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SledLedger::open(dir.path(), CACHE_CAPACITY_DEFAULT).expect("open replica");
    let terminal = Replicator::connect(&seeds, store, roots.clone(), Arc::new(IndexConsistency))
        .await
        .expect("connect terminal")
        .with_run_chunk_entries(1_000);
    let js = jetstream::new(client(&cluster.urls()).await);
    let leader = ledger_leader(&js).await;
    // The first round applies part of the backlog; the leader dies before the next. A round
    // may fail while the new R3 stream settles (a request timing out on a loaded machine).
    let deadline = Instant::now() + SETTLE;
    loop {
        match terminal.sync_once().await {
            Ok(ReplicationOutcome::Applied { from: 1, .. }) => break,
            Err(error) => assert!(Instant::now() < deadline, "first round: {error}"),
            Ok(other) => panic!("the first round did {other:?}, not part of the backlog"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    cluster.kill(leader);
    replicate_to(&terminal, 10_000).await;
    // Central keeps writing with two of three nodes; the replica follows.
    let deadline = Instant::now() + SETTLE;
    loop {
        match central.append(permits(10_000, 100), now).await {
            Ok(_) => break,
            // An append whose answer was lost may still have been stored: never append twice.
            Err(_) if matches!(central.head().await, Ok((10_100, _))) => break,
            Err(error) => assert!(Instant::now() < deadline, "append without a node: {error}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    central
        .checkpoint(&keys[1..], now)
        .await
        .expect("checkpoint");
    cluster.restart(leader);
    replicate_to(&terminal, 10_100).await;
    assert_eq!(verify_replica(terminal.store(), &roots), Ok(10_100));
    let holder = HolderDigest::of("UTO", "N10050");
    assert_eq!(
        terminal
            .store()
            .permits_by_holder(&holder)
            .expect("lookup")
            .len(),
        1
    );
}
