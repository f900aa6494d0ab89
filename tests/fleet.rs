//! A fleet against central's three-node cluster: N simulated terminals (the real outbox and
//! relay; crossings generated) record at a steady rate while a cluster node is killed and
//! restarted and one terminal is cut off from central for a while; the real `checkpoint-central`
//! consumes `EVENTS` into PostgreSQL meanwhile. Every crossing a terminal was told is recorded
//! must reach `EVENTS` exactly once and central's movement record once; the end-to-end latency
//! from the durable record to the stream's store time and to the PostgreSQL commit that holds
//! the movement (commit timestamps) is reported.
//!
//! Short mode here (CI). `scripts/fleet` runs the long mode: `FLEET_TERMINALS` (default 8),
//! `FLEET_RATE` crossings per second per terminal (5), `FLEET_SECS` of traffic (8),
//! `FLEET_CUTOFF_SECS` the cut-off terminal stays unreachable (3), `FLEET_REPORT` a file the
//! figures are also written to, `CHECKPOINT_CENTRAL_BIN` a copy of `checkpoint-central` to run
//! instead of the one built beside the test, `FLEET_VICTIM` the node killed: `events-leader`
//! (default: the leader of `EVENTS`), `consumer-leader` (of central's durable consumer) or
//! `none-leader` (a node leading neither); the two leaders are first moved apart (a documented
//! leader step-down) so that the victim holds only the one named.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use checkpointd::adapters::feed::{
    Outbox, OutboxConfig, RelayConfig, ensure_stream, run_relay_metered,
};
use checkpointd::adapters::ledger::Central;
use checkpointd::adapters::nats::{CentralLink, link_options};
use checkpointd::cli::feed::synthetic_crossing;
use checkpointd::core::event::TerminalId;
use checkpointd::core::ledger::{Change, TerminalKeyAdded};
use checkpointd::ports::telemetry::RelayMeter;
use common::central::CentralService;
use common::nats::{CLUSTER_NODES, NatsCluster, stored_events, stream_leader};
use common::postgres::Postgres;
use ed25519_dalek::SigningKey;

/// How long the cluster may take to elect leaders, or the fleet to drain, before the run fails.
const SETTLE: Duration = Duration::from_secs(60);

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text:?} is not a whole number")),
        Err(_) => default,
    }
}

struct Plan {
    terminals: u64,
    rate: u64,
    secs: u64,
    cutoff_secs: u64,
    victim: Victim,
}

/// Which node the fleet kills: the leader of what.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Victim {
    /// The leader of `EVENTS` (the terminals' relays wait for the stream's election).
    Events,
    /// The leader of central's durable consumer (central waits for the consumer's election).
    Consumer,
    /// A node leading neither.
    Neither,
}

impl Victim {
    fn from_env() -> Self {
        match std::env::var("FLEET_VICTIM").as_deref() {
            Err(_) | Ok("events-leader") => Self::Events,
            Ok("consumer-leader") => Self::Consumer,
            Ok("none-leader") => Self::Neither,
            Ok(other) => {
                panic!("FLEET_VICTIM={other:?}: events-leader, consumer-leader or none-leader")
            }
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::Events => "the leader of EVENTS",
            Self::Consumer => "the leader of central's consumer",
            Self::Neither => "a node leading neither EVENTS nor central's consumer",
        }
    }
}

/// Central's durable consumer on `EVENTS` (`CentralService` names it so).
const CONSUMER: &str = "central";

/// The node leading central's durable consumer, once it exists and has a leader (`None` after
/// `wait`).
async fn consumer_leader(js: &jetstream::Context, wait: Duration) -> Option<usize> {
    let deadline = Instant::now() + wait;
    loop {
        if let Ok(stream) = js.get_stream("EVENTS").await
            && let Ok(consumer) = stream
                .get_consumer::<jetstream::consumer::pull::Config>(CONSUMER)
                .await
            && let Ok(info) = consumer.get_info().await
            && let Some(node) = info
                .cluster
                .as_ref()
                .and_then(|c| c.leader.as_deref())
                .and_then(NatsCluster::node_named)
        {
            return Some(node);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How long after `killed` the cluster named a leader other than `victim` for what the victim
/// led (short requests, every 50 ms); `None` when it led neither.
async fn new_leader_after(
    urls: Vec<String>,
    role: Victim,
    victim: usize,
    killed: Instant,
) -> Option<Duration> {
    let client = async_nats::ConnectOptions::new()
        .request_timeout(Some(Duration::from_millis(250)))
        .connect(urls)
        .await
        .expect("watcher");
    let js = jetstream::new(client);
    loop {
        let leader = match role {
            Victim::Events => stream_leader(&js, "EVENTS", Duration::ZERO).await,
            Victim::Consumer => consumer_leader(&js, Duration::ZERO).await,
            Victim::Neither => return None,
        };
        if leader.is_some_and(|node| node != victim) {
            return Some(killed.elapsed());
        }
        assert!(killed.elapsed() < SETTLE, "no new leader elected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// When the fleet's relays failed a round (all terminals together).
#[derive(Default)]
struct RelayFailures(Mutex<Vec<Instant>>);

impl RelayMeter for RelayFailures {
    fn relayed(&self, _acknowledged: u64) {}

    fn relay_failed(&self) {
        self.0.lock().expect("lock").push(Instant::now());
    }
}

/// The report's line on the failover: the election's length and the relays' last failure
/// within the relay's failover window after the kill.
fn failover_line(
    role: Victim,
    election: Option<Duration>,
    failures: &RelayFailures,
    killed: Instant,
) -> String {
    // The relay's own failover window: its failures past it are not the failover's.
    let window = relay_config().failover_window;
    let failed: Vec<Duration> = failures
        .0
        .lock()
        .expect("lock")
        .iter()
        .filter_map(|at| at.checked_duration_since(killed))
        .filter(|since| *since < window)
        .collect();
    let elected = match election {
        Some(after) => format!(
            "the cluster named a new {} {after:.1?} after the kill",
            role.describe().trim_start_matches("the ")
        ),
        None => "no leader to elect".to_string(),
    };
    match failed.iter().max() {
        Some(last) => format!(
            "failover: {elected}; the relays' last failed round ended {last:.1?} after it ({} failed rounds)\n",
            failed.len()
        ),
        None => format!("failover: {elected}; no relay round failed\n"),
    }
}

/// The node to kill for `victim`. When one node leads both `EVENTS` and central's consumer,
/// the one not named steps down first (JetStream's leader step-down API) until they differ.
async fn choose_victim(client: &async_nats::Client, victim: Victim) -> usize {
    let js = jetstream::new(client.clone());
    let deadline = Instant::now() + SETTLE;
    loop {
        let events = stream_leader(&js, "EVENTS", SETTLE)
            .await
            .expect("EVENTS has a leader");
        let consumer = consumer_leader(&js, SETTLE)
            .await
            .expect("central's consumer has a leader");
        if events != consumer {
            return match victim {
                Victim::Events => events,
                Victim::Consumer => consumer,
                Victim::Neither => (0..CLUSTER_NODES)
                    .find(|node| *node != events && *node != consumer)
                    .expect("three nodes, two leaders"),
            };
        }
        assert!(Instant::now() < deadline, "leaders never moved apart");
        let subject = match victim {
            Victim::Consumer => "$JS.API.STREAM.LEADER.STEPDOWN.EVENTS".to_string(),
            _ => format!("$JS.API.CONSUMER.LEADER.STEPDOWN.EVENTS.{CONSUMER}"),
        };
        if let Err(error) = client.request(subject, "".into()).await {
            eprintln!("leader step-down not answered (retrying): {error}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn relay_config() -> RelayConfig {
    RelayConfig {
        idle_poll: Duration::from_millis(50),
        replicas: CLUSTER_NODES,
        ..RelayConfig::with_duplicate_window_hours(48)
    }
}

/// A client with central's connect options, as a terminal has.
async fn client(urls: &[String]) -> async_nats::Client {
    link_options(&CentralLink::plain(&urls.join(",")))
        .expect("link options")
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connect(urls)
        .await
        .expect("client")
}

/// Central's ledger root (the checkpoints of the ledger that names the fleet's keys).
fn root_key() -> SigningKey {
    SigningKey::from_bytes(&[200; 32])
}

/// Terminal `n`'s id and signing key.
fn identity(n: u64) -> (String, SigningKey) {
    (
        format!("FLEET{n:03}"),
        SigningKey::from_bytes(&[(n % 199) as u8 + 1; 32]),
    )
}

/// The ledger `checkpoint-central` verifies events with: every terminal's key, one checkpoint,
/// in `LEDGER` with three replicas (retried while the new cluster elects its leaders).
async fn publish_ledger(seeds: &str, terminals: u64) {
    let changes: Vec<Change> = (0..terminals)
        .map(|n| {
            let (id, key) = identity(n);
            Change::TerminalKeyAdded(TerminalKeyAdded {
                terminal_id: id,
                public_key: key.verifying_key().to_bytes(),
                valid_from: "2025-01-01T00:00:00Z".parse().expect("time"),
                valid_until: "2035-01-01T00:00:00Z".parse().expect("time"),
            })
        })
        .collect();
    let central = Central::connect(seeds).await.expect("connect ledger");
    let deadline = Instant::now() + SETTLE;
    while let Err(error) = central.provision(CLUSTER_NODES).await {
        assert!(Instant::now() < deadline, "LEDGER never created: {error}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let now = jiff::Timestamp::now();
    central.append(changes, now).await.expect("append keys");
    central
        .checkpoint(&[root_key()], now)
        .await
        .expect("checkpoint");
}

/// A terminal of the fleet: its outbox, and its relay while it is connected.
struct Terminal {
    id: String,
    outbox: Outbox,
    relay: Option<(
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    )>,
    _data: tempfile::TempDir,
}

impl Terminal {
    fn open(n: u64) -> Self {
        let data = tempfile::tempdir().expect("tempdir");
        let (id, key) = identity(n);
        let outbox = Outbox::open_with_cache(
            data.path(),
            OutboxConfig {
                terminal: TerminalId::new(&id).expect("valid id"),
                time_zone: jiff::tz::TimeZone::UTC,
            },
            key,
            Arc::new(checkpointd::adapters::system_clock::SystemClock::default()),
            1 << 20,
        )
        .expect("open outbox");
        Self {
            id,
            outbox,
            relay: None,
            _data: data,
        }
    }

    /// Connects to central (a client of its own) and relays until cut off.
    async fn connect(&mut self, urls: &[String], failures: &Arc<RelayFailures>) {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let meter: Arc<dyn RelayMeter> = failures.clone();
        let relay = run_relay_metered(
            self.outbox.clone(),
            client(urls).await,
            relay_config(),
            Some(meter),
            async {
                let _ = stopped.await;
            },
        );
        let task = tokio::spawn(async move {
            relay.await.expect("relay stops cleanly");
        });
        self.relay = Some((stop, task));
    }

    /// Central unreachable: the relay stops, recording goes on into the outbox.
    async fn cut_off(&mut self) {
        if let Some((stop, task)) = self.relay.take() {
            let _ = stop.send(());
            task.await.expect("relay task");
        }
    }
}

/// (terminal, seq) → when the terminal was told "recorded".
type Acknowledged = Arc<Mutex<HashMap<(String, u64), jiff::Timestamp>>>;

/// Records at `rate` per second on each terminal for `secs`, on blocking threads.
fn traffic(
    terminals: &[Terminal],
    plan: &Plan,
    acknowledged: &Acknowledged,
) -> Vec<std::thread::JoinHandle<()>> {
    terminals
        .iter()
        .enumerate()
        .map(|(index, terminal)| {
            let outbox = terminal.outbox.clone();
            let id = terminal.id.clone();
            let acknowledged = Arc::clone(acknowledged);
            let (rate, secs) = (plan.rate, plan.secs);
            std::thread::spawn(move || {
                let period = Duration::from_secs(1) / rate.max(1) as u32;
                let start = Instant::now();
                for n in 0..rate * secs {
                    let due = start + period * n as u32;
                    std::thread::sleep(due.saturating_duration_since(Instant::now()));
                    let crossing = synthetic_crossing(index as u64 * 1_000_000 + n, "GYD");
                    let recorded = outbox.record(crossing).expect("record");
                    acknowledged
                        .lock()
                        .expect("lock")
                        .insert((id.clone(), recorded.seq), recorded.wall_time);
                }
            })
        })
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// When the killed node was down.
type Window = (jiff::Timestamp, jiff::Timestamp);

/// Latencies from the record to `arrived` (by `terminal:seq`) of every acknowledged crossing,
/// as one report block: all, terminals never cut off, and those recorded while the node was
/// down (the cut-off terminal left out). Panics on a crossing that never arrived.
fn latencies(
    plan: &Plan,
    acknowledged: &HashMap<(String, u64), jiff::Timestamp>,
    arrived: &HashMap<String, jiff::Timestamp>,
    (to, node_down): (&str, Window),
) -> String {
    let mut all = Vec::with_capacity(acknowledged.len());
    let mut connected = Vec::with_capacity(acknowledged.len());
    let mut while_down = Vec::new();
    let cut_off = identity(plan.terminals - 1).0;
    for ((terminal, seq), recorded) in acknowledged {
        let id = format!("{terminal}:{seq}");
        let at = arrived
            .get(id.as_str())
            .unwrap_or_else(|| panic!("acknowledged crossing {id} never reached {to}"));
        let latency = Duration::try_from(at.duration_since(*recorded)).unwrap_or(Duration::ZERO);
        all.push(latency);
        if *terminal != cut_off {
            connected.push(latency);
            if (node_down.0..node_down.1).contains(recorded) {
                while_down.push(latency);
            }
        }
    }
    let line = |name: &str, mut samples: Vec<Duration>| {
        samples.sort_unstable();
        if samples.is_empty() {
            return format!("end-to-end latency record -> {to}, {name}: no samples\n");
        }
        format!(
            "end-to-end latency record -> {to}, {name}: n {} p50 {:?} p99 {:?} max {:?}\n",
            samples.len(),
            percentile(&samples, 0.50),
            percentile(&samples, 0.99),
            samples[samples.len() - 1],
        )
    };
    line("all (cut-off terminal included)", all)
        + &line("terminals never cut off", connected)
        + &line("recorded while the node was down", while_down)
}

/// Checks exactly-once delivery of every acknowledged crossing to `EVENTS`; returns the report.
fn judge(
    plan: &Plan,
    acknowledged: &HashMap<(String, u64), jiff::Timestamp>,
    stored: &[(String, jiff::Timestamp)],
    node_down: Window,
) -> String {
    let mut copies: BTreeMap<&str, u32> = BTreeMap::new();
    for (id, _) in stored {
        *copies.entry(id.as_str()).or_default() += 1;
    }
    let repeated: Vec<_> = copies.iter().filter(|(_, n)| **n > 1).collect();
    assert!(repeated.is_empty(), "stored more than once: {repeated:?}");
    assert_eq!(
        stored.len(),
        acknowledged.len(),
        "central holds crossings nobody recorded"
    );
    let by_id: HashMap<String, jiff::Timestamp> = stored.iter().cloned().collect();
    format!(
        "fleet: {} terminals x {} crossings/s for {} s, one node killed and restarted ({:.1} s down; it was {}), one terminal cut off for {} s\n\
         crossings acknowledged {} = stored in EVENTS exactly once {}\n",
        plan.terminals,
        plan.rate,
        plan.secs,
        node_down.1.duration_since(node_down.0).as_secs_f64(),
        plan.victim.describe(),
        plan.cutoff_secs,
        acknowledged.len(),
        stored.len(),
    ) + &latencies(plan, acknowledged, &by_id, ("EVENTS", node_down))
}

/// Waits until central's record holds every acknowledged crossing (each row is one
/// `(terminal, seq)`: the primary key), then reports the latency to the commit that stored it.
async fn judge_record(
    plan: &Plan,
    acknowledged: &HashMap<(String, u64), jiff::Timestamp>,
    pg: &Postgres,
    central: &CentralService,
    node_down: Window,
) -> String {
    let client = pg.client().await;
    let want = i64::try_from(acknowledged.len()).expect("count fits");
    let deadline = Instant::now() + SETTLE;
    loop {
        let have: i64 = client
            .query_one("SELECT count(*) FROM movements", &[])
            .await
            .map_or(-1, |row| row.get(0));
        if have == want {
            break;
        }
        assert!(
            have <= want && Instant::now() < deadline,
            "central's record holds {have} movements, want {want}; log:\n{}",
            central.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let rows = client
        .query(
            "SELECT terminal, seq, \
             (extract(epoch FROM pg_xact_commit_timestamp(xmin)) * 1000000)::bigint \
             FROM movements",
            &[],
        )
        .await
        .expect("movements with commit times");
    let committed: HashMap<String, jiff::Timestamp> = rows
        .iter()
        .map(|row| {
            let (terminal, seq, micros): (String, i64, i64) = (row.get(0), row.get(1), row.get(2));
            let at = jiff::Timestamp::from_microsecond(micros).expect("commit time in range");
            (format!("{terminal}:{seq}"), at)
        })
        .collect();
    format!(
        "central's record (checkpoint-central -> PostgreSQL) holds {} movements, one per acknowledged crossing\n",
        committed.len()
    ) + &latencies(plan, acknowledged, &committed, ("PostgreSQL", node_down))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_crossing_of_the_fleet_reaches_central_once() {
    let plan = Plan {
        terminals: env_u64("FLEET_TERMINALS", 8),
        rate: env_u64("FLEET_RATE", 5),
        secs: env_u64("FLEET_SECS", 8),
        cutoff_secs: env_u64("FLEET_CUTOFF_SECS", 3),
        victim: Victim::from_env(),
    };
    assert!(
        (1..=199).contains(&plan.terminals) && plan.secs > 2,
        "FLEET_TERMINALS in 1..=199 and FLEET_SECS > 2"
    );
    let mut cluster = NatsCluster::start();
    let urls = cluster.urls();
    let pg = Postgres::start_durable();
    publish_ledger(&urls.join(","), plan.terminals).await;
    let root = hex::encode(root_key().verifying_key().to_bytes());
    let central = CentralService::start(&urls.join(","), pg.port, &root, 1000);
    let observer = client(&urls).await;
    let js = jetstream::new(observer.clone());
    let deadline = Instant::now() + SETTLE;
    while let Err(error) = ensure_stream(&js, &relay_config()).await {
        assert!(Instant::now() < deadline, "EVENTS never created: {error}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let victim = choose_victim(&observer, plan.victim).await;
    let mut terminals: Vec<Terminal> = (0..plan.terminals).map(Terminal::open).collect();
    let failures = Arc::new(RelayFailures::default());
    for terminal in &mut terminals {
        terminal.connect(&urls, &failures).await;
    }
    let acknowledged: Acknowledged = Arc::default();
    let traffic = traffic(&terminals, &plan, &acknowledged);

    // A third in: one node dies (SIGKILL) and the last terminal loses central.
    let third = Duration::from_secs(plan.secs) / 3;
    tokio::time::sleep(third).await;
    cluster.kill(victim);
    let killed = Instant::now();
    let down_from = jiff::Timestamp::now();
    let survivors: Vec<String> = (0..CLUSTER_NODES)
        .filter(|node| *node != victim)
        .map(|node| urls[node].clone())
        .collect();
    let election = tokio::spawn(new_leader_after(survivors, plan.victim, victim, killed));
    terminals.last_mut().expect("a terminal").cut_off().await;
    tokio::time::sleep(third).await;
    let down_to = jiff::Timestamp::now();
    cluster.restart(victim);
    tokio::time::sleep(Duration::from_secs(plan.cutoff_secs).saturating_sub(third)).await;
    terminals
        .last_mut()
        .expect("a terminal")
        .connect(&urls, &failures)
        .await;
    for thread in traffic {
        thread.join().expect("traffic");
    }
    let deadline = Instant::now() + SETTLE;
    for terminal in &terminals {
        while terminal.outbox.depth() > 0 {
            assert!(Instant::now() < deadline, "{} not drained", terminal.id);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    for terminal in &mut terminals {
        terminal.cut_off().await;
    }
    let acknowledged = std::mem::take(&mut *acknowledged.lock().expect("lock"));
    let node_down = (down_from, down_to);
    let election = election.await.expect("election watcher");
    let report = judge(
        &plan,
        &acknowledged,
        &stored_events(&js, SETTLE).await,
        node_down,
    ) + &failover_line(plan.victim, election, &failures, killed)
        + &judge_record(&plan, &acknowledged, &pg, &central, node_down).await;
    eprintln!("{report}");
    if let Ok(path) = std::env::var("FLEET_REPORT") {
        std::fs::write(&path, &report).expect("write the fleet report");
    }
}
