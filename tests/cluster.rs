//! Central as a three-node JetStream cluster on loopback: a terminal configured with the seed
//! URLs relays into an R3 `EVENTS` stream while the stream's leader is killed with SIGKILL, and
//! then while the whole cluster restarts; every recorded crossing is stored exactly once.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use checkpointd::adapters::feed::{Outbox, OutboxConfig, RelayConfig, ensure_stream, run_relay};
use checkpointd::cli::feed::synthetic_crossing;
use checkpointd::core::event::TerminalId;
use common::nats::{CLUSTER_NODES, NatsCluster};
use ed25519_dalek::SigningKey;
use futures::StreamExt;

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
    let deadline = Instant::now() + SETTLE;
    loop {
        if let Ok(mut stream) = js.get_stream("EVENTS").await
            && let Ok(info) = stream.info().await
            && let Some(node) = info
                .cluster
                .as_ref()
                .and_then(|c| c.leader.as_deref())
                .and_then(NatsCluster::node_named)
        {
            return node;
        }
        assert!(Instant::now() < deadline, "EVENTS has no leader");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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
    use async_nats::jetstream::consumer::pull::OrderedConfig;
    let deadline = Instant::now() + SETTLE;
    let mut stream = loop {
        match js.get_stream("EVENTS").await {
            Ok(stream) => break stream,
            Err(error) => assert!(Instant::now() < deadline, "EVENTS unreadable: {error}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let last = stream.info().await.expect("info").state.last_sequence;
    let consumer = stream
        .create_consumer(OrderedConfig::default())
        .await
        .expect("consumer");
    let mut messages = consumer.messages().await.expect("messages");
    let mut ids = Vec::new();
    while let Some(message) = messages.next().await {
        let message = message.expect("message");
        let id = message
            .headers
            .as_ref()
            .and_then(|h| h.get("Nats-Msg-Id"))
            .map(|v| v.as_str().to_string())
            .expect("every event carries its id");
        ids.push(id);
        if message.info().expect("info").stream_sequence >= last {
            break;
        }
    }
    ids
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
