//! `checkpoint-central` against real parts: a nats-server, a PostgreSQL cluster made by the test
//! (initdb + pg_ctl), terminals' outbox and relay, the service binary killed with SIGKILL, and
//! `checkpointctl central` asking its reports.

mod common;

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use checkpointd::adapters::feed::{Outbox, OutboxConfig, RelayConfig, ensure_stream, run_relay};
use checkpointd::adapters::ledger::Central;
use checkpointd::adapters::nats::{CentralLink, IntoCentralLink, connect_link};
use checkpointd::config::{ClientCertificate, UpstreamTls};
use checkpointd::core::document::HolderDigest;
use checkpointd::core::event::{
    ClockState, Crossing, CrossingEvent, CrossingKind, EVENT_FORMAT_VERSION, EventHash,
    GENESIS_HASH, Grounds, Operator, TerminalId, Traveller, Verdict, message_id, sign,
};
use checkpointd::core::ledger::{Change, StayExtension, TerminalKeyAdded, TerminalKeyRetired};
use checkpointd::core::privacy::DocumentNumber;
use checkpointd::ports::clock::Clock;
use common::nats::NatsServer;
use common::postgres::Postgres;
use common::tls::{CLIENT_EXT, SERVER_EXT, certificates, nats_server_config};
use ed25519_dalek::SigningKey;
use jiff::Timestamp;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(40);
const TOKEN: &str = "operator-token-for-tests-0123456789";

fn root_key() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

fn terminal_key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn ts(text: &str) -> Timestamp {
    text.parse().expect("timestamp")
}

fn key_added(terminal: &str, seed: u8) -> Change {
    Change::TerminalKeyAdded(TerminalKeyAdded {
        terminal_id: terminal.into(),
        public_key: terminal_key(seed).verifying_key().to_bytes(),
        valid_from: ts("2025-01-01T00:00:00Z"),
        valid_until: ts("2030-01-01T00:00:00Z"),
    })
}

/// Publishes the ledger central replicates: terminal keys (T3's first key retired) and
/// `extra` entries, under one checkpoint signed by the single root.
async fn publish_ledger(link: impl IntoCentralLink, extra: Vec<Change>) {
    let central = Central::connect(link).await.expect("connect ledger");
    central.provision(1).await.expect("provision ledger");
    let mut changes = vec![
        key_added("T1", 11),
        key_added("T2", 12),
        key_added("T3", 13),
        Change::TerminalKeyRetired(TerminalKeyRetired {
            terminal_id: "T3".into(),
            public_key: terminal_key(13).verifying_key().to_bytes(),
        }),
        key_added("T3", 14),
    ];
    changes.extend(extra);
    let now = ts("2026-01-01T00:00:00Z");
    central.append(changes, now).await.expect("append");
    central
        .checkpoint(&[root_key()], now)
        .await
        .expect("checkpoint");
}

/// The service, its configuration and its dependencies.
struct Rig {
    nats: NatsServer,
    pg: Postgres,
    dir: tempfile::TempDir,
    config: PathBuf,
    http: SocketAddr,
    child: Option<Child>,
    starts: u32,
}

fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
}

fn write_secret(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write secret");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

fn rules_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("firmware-config/stay-rules.toml")
}

impl Rig {
    fn new(batch_max: u32) -> Self {
        let nats = NatsServer::start();
        let link = format!("url = \"{}\"", nats.url());
        let rig = Self::around(nats);
        rig.configure(&link, batch_max);
        rig
    }

    /// The rig around `nats`, not yet configured.
    fn around(nats: NatsServer) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        write_secret(&dir.path().join("operator.token"), TOKEN);
        Self {
            nats,
            pg: Postgres::start(),
            config: dir.path().join("central.toml"),
            dir,
            http: free_addr(),
            child: None,
            starts: 0,
        }
    }

    /// Writes the service's configuration; `link` is the `[nats]` table's connection keys.
    fn configure(&self, link: &str, batch_max: u32) {
        let text = format!(
            "data_dir = \"{data}\"\n[nats]\n{link}\ndurable = \"central\"\nbatch_max = {batch_max}\n\
             [postgres]\nhost = \"127.0.0.1\"\nport = {port}\nuser = \"postgres\"\ndbname = \"postgres\"\n\
             [ledger]\nroots = [\"{root}\"]\nroot_threshold = 1\n\
             [http]\nlisten = \"{http}\"\ntoken_file = \"operator.token\"\n\
             [stay]\nrules = \"{rules}\"\n",
            data = self.dir.path().join("state").display(),
            port = self.pg.port,
            root = hex::encode(root_key().verifying_key().to_bytes()),
            http = self.http,
            rules = rules_path().display(),
        );
        std::fs::write(&self.config, text).expect("write config");
    }

    fn start(&mut self) {
        self.starts += 1;
        let log =
            std::fs::File::create(self.dir.path().join(format!("central-{}.log", self.starts)))
                .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_checkpoint-central"))
            .arg("--config")
            .arg(&self.config)
            .arg("--log-format")
            .arg("json")
            .env("CHECKPOINTD_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start checkpoint-central");
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn logs(&self) -> String {
        (1..=self.starts)
            .map(|n| {
                std::fs::read_to_string(self.dir.path().join(format!("central-{n}.log")))
                    .unwrap_or_default()
            })
            .collect()
    }

    /// Waits until `sql` (one bigint) returns `want`.
    async fn wait_count(&self, sql: &str, want: i64) {
        let deadline = Instant::now() + WAIT;
        let mut last = -1;
        while Instant::now() < deadline {
            if let Ok(client) = tokio::time::timeout(Duration::from_secs(2), self.pg.client()).await
                && let Ok(row) = client.query_one(sql, &[]).await
            {
                last = row.get::<_, i64>(0);
                if last == want {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "`{sql}` is {last}, want {want}\nservice log:\n{}",
            self.logs()
        );
    }

    /// `checkpointctl central ARGS --json` against this service.
    fn report(&self, args: &[&str]) -> Value {
        let out = Command::new(env!("CARGO_BIN_EXE_checkpointctl"))
            .arg("central")
            .args(args)
            .arg("--json")
            .arg("--url")
            .arg(format!("http://{}", self.http))
            .arg("--token-file")
            .arg(self.dir.path().join("operator.token"))
            .output()
            .expect("run checkpointctl");
        assert!(
            out.status.success(),
            "checkpointctl central {args:?}: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.logs()
        );
        serde_json::from_slice(&out.stdout).expect("report is JSON")
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A terminal clock the test moves.
struct TestClock(Mutex<Timestamp>);

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().expect("clock lock")
    }
    fn monotonic(&self) -> Duration {
        Duration::ZERO
    }
}

fn crossing(
    checkpoint: &str,
    direction: CrossingKind,
    nationality: &str,
    number: &str,
) -> Crossing {
    Crossing {
        checkpoint: checkpoint.into(),
        lane: "1".into(),
        direction,
        traveller: Traveller {
            document_type: "P".into(),
            issuing_state: nationality.into(),
            nationality: nationality.into(),
            birth_date: "800101".into(),
            sex: "F".into(),
            document_number: DocumentNumber::new(number.to_string()),
        },
        grounds: Grounds::default(),
        verdict: Verdict::Admit,
        reason_codes: vec![],
        operator: Operator::Officer("O1".into()),
        ledger_age_s: Some(10),
        stay: None,
        clock_sync_age_s: Some(1),
        officer_override: None,
        referral: None,
        second_line: None,
        alert_acknowledged: None,
        watchlist: None,
        chip: None,
    }
}

/// A signed event built outside any outbox (for forged, replayed and bulk events).
fn signed_event(terminal: &str, key: &SigningKey, seq: u64, prev: EventHash, n: u64) -> Vec<u8> {
    let direction = if n.is_multiple_of(2) {
        CrossingKind::Entry
    } else {
        CrossingKind::Exit
    };
    let event = CrossingEvent {
        v: EVENT_FORMAT_VERSION,
        event_id: format!("{n:032x}"),
        terminal: TerminalId::new(terminal).expect("terminal id"),
        seq,
        prev_hash: prev,
        wall_time: ts("2026-03-01T08:00:00Z")
            + jiff::SignedDuration::from_secs(i64::try_from(n).expect("n")),
        time_zone: "Asia/Baku".into(),
        utc_offset_s: 14_400,
        clock: ClockState {
            last_sync_age_s: Some(1),
            monotonic_ns: n,
            behind_high_water_ms: None,
        },
        crossing: crossing("GYD", direction, "UTO", &format!("B{:07}", n / 2)),
    };
    sign(&event, key).expect("sign")
}

async fn js(url: &str) -> async_nats::jetstream::Context {
    let js = async_nats::jetstream::new(async_nats::connect(url).await.expect("connect"));
    ensure_stream(&js, &RelayConfig::with_duplicate_window_hours(48))
        .await
        .expect("EVENTS stream");
    js
}

async fn publish(js: &async_nats::jetstream::Context, terminal: &str, id: &str, payload: Vec<u8>) {
    let message = async_nats::jetstream::message::PublishMessage::build()
        .payload(payload.into())
        .message_id(id);
    js.send_publish(format!("events.GYD.{terminal}"), message)
        .await
        .expect("publish")
        .await
        .expect("pub ack");
}

/// Records crossings on a terminal outbox at the given instants and relays them until drained.
async fn record_and_relay(
    link: impl IntoCentralLink,
    dir: &Path,
    terminal: &str,
    seed: u8,
    crossings: Vec<(Timestamp, Crossing)>,
) {
    let clock = Arc::new(TestClock(Mutex::new(crossings[0].0)));
    let outbox = Outbox::open(
        dir,
        OutboxConfig {
            terminal: TerminalId::new(terminal).expect("id"),
            time_zone: jiff::tz::TimeZone::get("Asia/Baku").expect("zone"),
        },
        terminal_key(seed),
        Arc::clone(&clock) as Arc<dyn Clock>,
    )
    .expect("outbox");
    for (at, crossing) in crossings {
        *clock.0.lock().expect("clock") = at;
        outbox.record(crossing).expect("record");
    }
    let client = connect_link(link).await.expect("connect");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let relay = tokio::spawn(run_relay(
        outbox.clone(),
        client,
        RelayConfig {
            idle_poll: Duration::from_millis(50),
            ..RelayConfig::with_duplicate_window_hours(48)
        },
        async {
            let _ = stopped.await;
        },
    ));
    let deadline = Instant::now() + WAIT;
    while outbox.depth() > 0 {
        assert!(
            Instant::now() < deadline,
            "outbox of {terminal} not drained"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop.send(());
    let _ = relay.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crossings_reach_the_record_and_the_reports() {
    let mut rig = Rig::new(50);
    // R3's stay is extended in the ledger: a ground of stay central must honour.
    let extension = Change::StayExtension(StayExtension {
        holder: HolderDigest::of("RUS", "R3").0,
        until: "2026-12-31".parse().expect("date"),
        reference: "EXT-1".into(),
    });
    publish_ledger(&rig.nats.url(), vec![extension]).await;
    let js = js(&rig.nats.url()).await;
    // T1 at the airport: R1 stays (overstays a 90-day stay), R2 leaves, R3 stays on an
    // extension, D1 (no rule) stays.
    let t1 = vec![
        (
            ts("2026-01-10T06:00:00Z"),
            crossing("GYD", CrossingKind::Entry, "RUS", "R1"),
        ),
        (
            ts("2026-01-10T07:30:00Z"),
            crossing("GYD", CrossingKind::Entry, "RUS", "R2"),
        ),
        (
            ts("2026-01-10T07:45:00Z"),
            crossing("GYD", CrossingKind::Entry, "RUS", "R3"),
        ),
        (
            ts("2026-04-20T09:00:00Z"),
            crossing("GYD", CrossingKind::Entry, "DEU", "D1"),
        ),
        (
            ts("2026-04-20T09:10:00Z"),
            crossing("GYD", CrossingKind::RefusedEntry, "DEU", "D2"),
        ),
    ];
    // T2 at a land post: R2 leaves there.
    let t2 = vec![(
        ts("2026-01-20T10:00:00Z"),
        crossing("ASTARA", CrossingKind::Exit, "RUS", "R2"),
    )];
    record_and_relay(&rig.nats.url(), &rig.dir.path().join("t1"), "T1", 11, t1).await;
    record_and_relay(&rig.nats.url(), &rig.dir.path().join("t2"), "T2", 12, t2).await;

    // A forged event (signature byte flipped), a replay of T1's first event under a new message
    // id, and an event signed with T3's retired key.
    let genuine = signed_event("T2", &terminal_key(12), 2, GENESIS_HASH, 100);
    let mut forged = genuine.clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    publish(&js, "T2", "forged-1", forged).await;
    let retired = signed_event("T3", &terminal_key(13), 1, GENESIS_HASH, 102);
    publish(&js, "T3", "retired-1", retired).await;
    rig.start();
    rig.wait_count("SELECT count(*) FROM movements", 6).await;
    rig.wait_count("SELECT count(*) FROM anomalies", 2).await;
    // Replay T1's first event (stream message 1) byte for byte, now that it is recorded.
    let stored = js
        .get_stream("EVENTS")
        .await
        .expect("stream")
        .get_raw_message(1)
        .await
        .expect("first message");
    publish(&js, "T1", "replay-1", stored.payload.to_vec()).await;
    rig.wait_count("SELECT count(*) FROM anomalies", 3).await;
    rig.wait_count("SELECT count(*) FROM movements", 6).await;

    let client = rig.pg.client().await;
    let kinds: Vec<String> = client
        .query("SELECT kind FROM anomalies ORDER BY id", &[])
        .await
        .expect("anomalies")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(kinds, ["bad_signature", "key_id_mismatch", "replayed"]);

    // Heartbeats are recorded.
    let nats = async_nats::connect(rig.nats.url()).await.expect("connect");
    let beat = serde_json::json!({"terminal": "T1", "at": "2026-04-20T10:00:00Z", "devices_up": ["mrz"],
        "outbox_depth": 3, "ledger_age_s": 20, "clock_sync_age_s": 1, "clock_suspect": false});
    rig.wait_count("SELECT count(*) FROM consumer_position", 1)
        .await;
    let deadline = Instant::now() + WAIT;
    loop {
        nats.publish("heartbeats.T1", beat.to_string().into())
            .await
            .expect("heartbeat");
        nats.flush().await.expect("flush");
        let n: i64 = client
            .query_one("SELECT count(*) FROM terminal_health", &[])
            .await
            .expect("health")
            .get(0);
        if n == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "heartbeat never recorded");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let present = rig.report(&["present", "--date", "2026-05-01"]);
    assert_eq!(present["total"], 3, "{present}");
    assert_eq!(
        present["by_nationality"],
        serde_json::json!([{"nationality": "DEU", "present": 1}, {"nationality": "RUS", "present": 2}])
    );
    let overstayers = rig.report(&["overstayers", "--date", "2026-05-01"]);
    let listed = overstayers["overstayers"].as_array().expect("list");
    assert_eq!(listed.len(), 1, "{overstayers}");
    assert_eq!(listed[0]["document_number"], "R1");
    // 10 January to 1 May, both counted: 112 days of a 90-day stay.
    assert_eq!(listed[0]["days_used"], 112, "{overstayers}");
    assert_eq!(listed[0]["overstay_days"], 22, "{overstayers}");
    assert_eq!(listed[0]["binding_rule"], "visa-free-90-per-stay");

    let history = rig.report(&["history", "--document", "RUS:R2"]);
    let moves: Vec<(String, String)> = history["movements"]
        .as_array()
        .expect("movements")
        .iter()
        .map(|m| {
            (
                m["checkpoint"].as_str().unwrap_or("").into(),
                m["direction"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    assert_eq!(
        moves,
        [
            ("GYD".to_string(), "entry".to_string()),
            ("ASTARA".into(), "exit".into())
        ]
    );

    let traffic = rig.report(&["traffic", "--from", "2026-01-10", "--to", "2026-01-10"]);
    // Baku is UTC+4: 06:00Z is hour 10, 07:30Z and 07:45Z hour 11.
    assert_eq!(
        traffic["by_hour"],
        serde_json::json!([
            {"checkpoint": "GYD", "date": "2026-01-10", "hour": 10, "entries": 1, "exits": 0, "refused": 0},
            {"checkpoint": "GYD", "date": "2026-01-10", "hour": 11, "entries": 2, "exits": 0, "refused": 0},
        ])
    );
    assert_eq!(traffic["by_day"][0]["entries"], 3);

    let health = rig.report(&["health"]);
    let t1 = &health["terminals"][0];
    assert_eq!(t1["terminal"], "T1");
    assert_eq!(t1["outbox_depth"], 3);
    assert_eq!(t1["last_seq"], 5);
    assert_eq!(t1["missing_events"], 0);
    assert_eq!(health["central"]["ledger_seq"], 6);

    let anomalies = rig.report(&["anomalies"]);
    assert_eq!(anomalies["anomalies"].as_array().map(Vec::len), Some(3));

    // No token, no report; report queries are logged without document numbers.
    let refused = Command::new(env!("CARGO_BIN_EXE_checkpointctl"))
        .args(["central", "health", "--json", "--url"])
        .arg(format!("http://{}", rig.http))
        .arg("--token-file")
        .arg({
            let wrong = rig.dir.path().join("wrong.token");
            write_secret(&wrong, "not-the-operator-token");
            wrong
        })
        .output()
        .expect("checkpointctl");
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("401"));
    central_page(&rig);
    let logs = rig.logs();
    assert!(logs.contains("\"report\":\"history\""), "{logs}");
    for number in ["R1", "R2", "R3", "D1"] {
        assert!(
            !logs.contains(&format!("\"{number}\"")),
            "{number} in the log"
        );
    }
}

/// Movements recorded so far (0 while PostgreSQL is down).
async fn movements(pg: &Postgres) -> i64 {
    match tokio::time::timeout(Duration::from_secs(2), pg.client()).await {
        Ok(client) => client
            .query_one("SELECT count(*) FROM movements", &[])
            .await
            .map_or(0, |row| row.get(0)),
        Err(_) => 0,
    }
}

fn node_modules() -> PathBuf {
    std::env::var_os("PLAYWRIGHT_NODE_MODULES").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/node/node_modules"),
        PathBuf::from,
    )
}

fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// The central-ops page in headless Chromium (`tests/e2e/central.mjs`): refused without the
/// token, then every table, the chart and a history lookup. `CENTRAL_SCREENSHOT=docs/central.png`
/// refreshes the screenshot in the docs.
fn central_page(rig: &Rig) {
    assert!(
        chromium().exists() && node_modules().join("playwright-core").exists(),
        "chromium or playwright-core missing: run ./scripts/test once to install them"
    );
    let screenshot = std::env::var_os("CENTRAL_SCREENSHOT").map_or_else(
        || rig.dir.path().join("central.png"),
        |path| Path::new(env!("CARGO_MANIFEST_DIR")).join(path),
    );
    let out = Command::new("node")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/central.mjs"))
        .arg(format!("http://{}/", rig.http))
        .args([TOKEN, "2026-04-21", "RUS", "R2"])
        .arg(&screenshot)
        .env("PLAYWRIGHT_NODE_MODULES", node_modules())
        .env("CHROMIUM", chromium())
        .output()
        .expect("run node (install nodejs: ./scripts/test)");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "browser run failed: {said}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = said
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    let said = |key: &str| {
        lines
            .iter()
            .find_map(|line| line.get(key).cloned())
            .unwrap_or_else(|| panic!("the page run said nothing of {key}: {lines:?}"))
    };
    assert!(
        said("without_token")
            .as_str()
            .is_some_and(|e| e.contains("not authorised"))
    );
    assert_eq!(said("present"), "3 present on 2026-04-21");
    // R1: 10 January to 21 April is 102 days of a 90-day stay.
    assert_eq!(
        said("overstayers"),
        serde_json::json!(["RUS R1", "RUS", "2026-01-10", "12", "visa-free-90-per-stay"])
    );
    assert_eq!(
        said("traffic"),
        serde_json::json!(["GYD", "2026-04-20", "1", "0", "1"])
    );
    assert_eq!(said("chart_drawn"), true);
    let history = said("history");
    let history = history.as_array().expect("cells");
    assert_eq!(history.len(), 8, "{history:?}");
    assert_eq!(history[1], "GYD");
    assert_eq!(history[5], "ASTARA");
    assert!(screenshot.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_and_postgres_restart_lose_and_double_nothing() {
    const PER_TERMINAL: u64 = 2_000;
    let mut rig = Rig::new(40);
    publish_ledger(&rig.nats.url(), Vec::new()).await;
    let js = js(&rig.nats.url()).await;
    for (terminal, seed) in [("T1", 11u8), ("T2", 12), ("T3", 14)] {
        let key = terminal_key(seed);
        let mut prev = GENESIS_HASH;
        for seq in 1..=PER_TERMINAL {
            let event = signed_event(terminal, &key, seq, prev, seq);
            prev = EventHash::of(&event);
            let id = message_id(&TerminalId::new(terminal).expect("id"), seq);
            let message = async_nats::jetstream::message::PublishMessage::build()
                .payload(event.into())
                .message_id(id);
            // Acks are awaited at the end: publishing stays pipelined.
            js.send_publish(format!("events.GYD.{terminal}"), message)
                .await
                .expect("publish");
        }
    }
    let total = i64::try_from(3 * PER_TERMINAL).expect("total");
    // Wait until the stream holds everything.
    let deadline = Instant::now() + WAIT;
    loop {
        let info = js
            .get_stream("EVENTS")
            .await
            .expect("stream")
            .info()
            .await
            .expect("info")
            .state
            .messages;
        if info == 3 * PER_TERMINAL {
            break;
        }
        assert!(Instant::now() < deadline, "stream holds {info}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut seed = 0x9E37_79B9_u64;
    let mut random_ms = move |max: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % max
    };
    rig.start();
    let mut cut_mid_ingestion = 0;
    for round in 0..5i64 {
        // Each fault falls after this incarnation has made progress, at a random moment.
        let deadline = Instant::now() + WAIT;
        while movements(&rig.pg).await < total * (round + 1) / 7 {
            assert!(
                Instant::now() < deadline,
                "no progress before fault {round}: {}",
                rig.logs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(random_ms(100))).await;
        if movements(&rig.pg).await < total {
            cut_mid_ingestion += 1;
        }
        if round == 2 {
            // PostgreSQL goes away mid-ingestion and comes back.
            rig.pg.stop();
            tokio::time::sleep(Duration::from_millis(500)).await;
            rig.pg.start_again();
        } else {
            rig.kill();
            rig.start();
        }
    }
    assert!(
        cut_mid_ingestion >= 3,
        "only {cut_mid_ingestion} faults fell during ingestion"
    );
    rig.wait_count("SELECT count(*) FROM movements", total)
        .await;
    rig.wait_count(
        "SELECT stream_seq FROM consumer_position WHERE consumer = 'central'",
        total,
    )
    .await;
    let client = rig.pg.client().await;
    let row = client
        .query_one(
            "SELECT count(DISTINCT (terminal, seq)), count(*) FILTER (WHERE seq > $1), \
             (SELECT count(*) FROM anomalies) FROM movements",
            &[&i64::try_from(PER_TERMINAL).expect("n")],
        )
        .await
        .expect("counts");
    assert_eq!(row.get::<_, i64>(0), total, "a movement is doubled");
    assert_eq!(row.get::<_, i64>(1), 0);
    assert_eq!(row.get::<_, i64>(2), 0, "{}", rig.logs());
    let logs = rig.logs();
    assert!(
        logs.contains("postgresql") || logs.contains("batch not committed"),
        "the PostgreSQL outage was not seen: {logs}"
    );
}

#[test]
fn check_config_accepts_the_shipped_example_and_places_problems() {
    let dir = tempfile::tempdir().expect("temp dir");
    let shipped = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("firmware-config/central.toml"),
    )
    .expect("shipped central.toml");
    let token = dir.path().join("operator.token");
    write_secret(&token, TOKEN);
    let text = shipped
        .replace(
            "/etc/checkpoint-central/operator.token",
            &token.to_string_lossy(),
        )
        .replace(
            "\"stay-rules.toml\"",
            &format!("\"{}\"", rules_path().display()),
        );
    let config = dir.path().join("central.toml");
    std::fs::write(&config, &text).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_checkpoint-central"))
        .arg("--check-config")
        .arg(&config)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let broken = text.replace("listen = \"127.0.0.1:8480\"", "listen = \"0.0.0.0:8480\"");
    std::fs::write(&config, &broken).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_checkpoint-central"))
        .arg("--check-config")
        .arg(&config)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let listen_line = broken
        .lines()
        .position(|l| l.starts_with("listen"))
        .expect("listen line")
        + 1;
    let token_line = broken
        .lines()
        .position(|l| l.starts_with("token_file"))
        .expect("token line")
        + 1;
    let path = config.display();
    assert!(
        stderr.contains(&format!(
            "{path}:{listen_line}:10: http.listen must be a loopback address"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{path}:{token_line}:14: http.token_file"))
            && stderr.contains("chmod 600"),
        "{stderr}"
    );
}

/// One movement row as ingestion writes it (only what the stays and reports read varies).
fn movement_row(
    terminal: &str,
    seq: i64,
    at: &str,
    direction: &'static str,
    number: &str,
) -> checkpointd::central::store::MovementRow {
    let recorded_at = ts(at);
    checkpointd::central::store::MovementRow {
        terminal: terminal.into(),
        seq,
        event_hash: vec![u8::try_from(seq).expect("small seq"); 32],
        prev_hash: vec![0; 32],
        stream_seq: seq,
        recorded_at,
        local_date: jiff::tz::Offset::from_seconds(14_400)
            .expect("offset")
            .to_datetime(recorded_at)
            .date(),
        utc_offset_s: 14_400,
        checkpoint: "GYD".into(),
        lane: "1".into(),
        direction,
        verdict: "admit",
        holder: HolderDigest::of("RUS", number).0.to_vec(),
        issuing_state: "RUS".into(),
        document_type: "P".into(),
        document_number: number.into(),
        nationality: "RUS".into(),
        birth_date: "800101".into(),
        sex: "F".into(),
        permit_cti: None,
        evisa: None,
    }
}

/// `stays` (what the overstayers report reads) follows batches arriving out of order across
/// terminals, ignores refused entries, is untouched by a batch that is not committed, and is
/// what deriving it again from `movements` gives.
#[tokio::test(flavor = "multi_thread")]
async fn stays_follow_batches_in_any_order() {
    use checkpointd::adapters::ledger::{CACHE_CAPACITY_DEFAULT, SledLedger};
    use checkpointd::central::reports::{self, Report, ReportContext};
    use checkpointd::central::store::{self, Batch, MovementStore, StoreError};

    let pg = Postgres::start();
    let mut client = pg.client().await;
    store::migrate(&mut client).await.expect("migrate");
    let mut movements = MovementStore::new(pg.client().await, "stays");
    // T2's exit of A reaches central before T1's earlier entry of A; B enters and overstays;
    // C leaves and comes back (appended); D is only refused; E's crossings arrive in neither
    // time nor seq order within each batch, two of them appended at once.
    let first = vec![
        movement_row("T2", 6, "2026-01-25T10:00:00Z", "exit", "E"),
        movement_row("T2", 1, "2026-01-20T10:00:00Z", "exit", "A"),
        movement_row("T2", 2, "2026-01-10T08:00:00Z", "entry", "B"),
        movement_row("T2", 3, "2026-01-10T09:00:00Z", "entry", "C"),
        movement_row("T2", 4, "2026-01-20T09:00:00Z", "exit", "C"),
        movement_row("T2", 5, "2026-01-10T09:00:00Z", "refused_entry", "D"),
        movement_row("T2", 7, "2026-01-05T10:00:00Z", "entry", "E"),
    ];
    let second = vec![
        movement_row("T1", 3, "2026-03-02T06:00:00Z", "exit", "E"),
        movement_row("T1", 1, "2026-01-10T06:00:00Z", "entry", "A"),
        movement_row("T1", 4, "2026-03-01T06:00:00Z", "entry", "E"),
        movement_row("T1", 2, "2026-04-20T06:00:00Z", "entry", "C"),
    ];
    let batch = |movements, after, last| Batch {
        movements,
        anomalies: Vec::new(),
        after_stream_seq: after,
        last_stream_seq: last,
    };
    movements
        .commit(&batch(first, 0, 7))
        .await
        .expect("first batch");
    // Pulled after a position the record does not hold: refused, nothing of it kept.
    let stale = movements.commit(&batch(second.clone(), 3, 9)).await;
    assert!(matches!(stale, Err(StoreError::PositionMoved { .. })));
    movements
        .commit(&batch(second, 7, 9))
        .await
        .expect("second batch");

    let read = "SELECT document_number, dates::text, entries::text FROM stays ORDER BY 1";
    let kept: Vec<(String, String, String)> = client
        .query(read, &[])
        .await
        .expect("stays")
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect();
    let expected = [
        ("A", "{2026-01-10,2026-01-20}", "{t,f}"),
        ("B", "{2026-01-10}", "{t}"),
        ("C", "{2026-01-10,2026-01-20,2026-04-20}", "{t,f,t}"),
        (
            "E",
            "{2026-01-05,2026-01-25,2026-03-01,2026-03-02}",
            "{t,f,t,f}",
        ),
    ];
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(n, d, e)| ((*n).into(), (*d).into(), (*e).into()))
        .collect();
    assert_eq!(kept, expected);
    store::rebuild_stays(&client).await.expect("rebuild");
    let derived: Vec<(String, String, String)> = client
        .query(read, &[])
        .await
        .expect("stays")
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect();
    assert_eq!(derived, expected);

    let dir = tempfile::tempdir().expect("ledger dir");
    let context = std::sync::Arc::new(ReportContext {
        ledger: SledLedger::open(dir.path(), CACHE_CAPACITY_DEFAULT).expect("ledger"),
        stay: checkpointd::core::stay::StayPolicy::from_toml(
            &std::fs::read_to_string(rules_path()).expect("rules"),
        )
        .expect("policy"),
    });
    let on = |date: &str| Report::Overstayers {
        date: date.parse().expect("date"),
    };
    let may = reports::run(&client, &context, &on("2026-05-01"))
        .await
        .expect("report");
    // B and C are present; B over the 90-day stay, C back since 20 April.
    assert_eq!(may["present_assessed"], 2, "{may}");
    let listed = may["overstayers"].as_array().expect("list");
    assert_eq!(listed.len(), 1, "{may}");
    assert_eq!(listed[0]["document_number"], "B");
    assert_eq!(listed[0]["entered"], "2026-01-10");
    assert_eq!(listed[0]["overstay_days"], 22);
    // On 15 January A, B, C and E were all in the country (their exits came later).
    let january = reports::run(&client, &context, &on("2026-01-15"))
        .await
        .expect("report");
    assert_eq!(january["present_assessed"], 4, "{january}");
    assert_eq!(january["overstayers"], serde_json::json!([]));
}

/// `checkpoint-central` reaches a broker that requires TLS, a client certificate and NKey
/// credentials through its `[nats]` keys and ingests what terminals relayed over the same link;
/// configured with a CA the broker's certificate does not chain to, it records nothing and says
/// why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_ingests_over_tls_with_credentials_and_refuses_a_foreign_ca() {
    let certs = tempfile::tempdir().expect("temp dir");
    let path = |name: &str| certs.path().join(name);
    certificates(
        certs.path(),
        "central",
        &[("server", SERVER_EXT), ("service", CLIENT_EXT)],
    );
    certificates(certs.path(), "stranger", &[("service", CLIENT_EXT)]);
    let user = nkeys::KeyPair::new_user();
    write_secret(
        &path("central.nk"),
        &format!("{}\n", user.seed().expect("seed")),
    );
    std::fs::set_permissions(
        path("central-service.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .expect("owner-only");
    let nats = NatsServer::start_with_config(&nats_server_config(
        certs.path(),
        "central",
        Some(&user.public_key()),
    ));
    let url = format!("tls://127.0.0.1:{}", nats.port);
    let link = CentralLink {
        urls: vec![url.clone()],
        tls: Some(UpstreamTls {
            ca_file: path("central-ca.pem"),
            client_certificate: Some(ClientCertificate {
                certificate_file: path("central-service.pem"),
                key_file: path("central-service.key"),
            }),
        }),
        credentials_file: Some(path("central.nk")),
    };
    let mut rig = Rig::around(nats);
    publish_ledger(&link, Vec::new()).await;
    let crossings = ["A1", "A2", "A3"]
        .iter()
        .enumerate()
        .map(|(n, number)| {
            let at = ts("2026-02-01T08:00:00Z")
                + jiff::SignedDuration::from_mins(i64::try_from(n).expect("n"));
            (at, crossing("GYD", CrossingKind::Entry, "UTO", number))
        })
        .collect();
    record_and_relay(&link, &rig.dir.path().join("t1"), "T1", 11, crossings).await;
    let keys = |ca: &str| {
        format!(
            "url = \"{url}\"\nca_file = \"{}\"\nclient_cert_file = \"{}\"\n\
             client_key_file = \"{}\"\ncredentials_file = \"{}\"",
            path(ca).display(),
            path("central-service.pem").display(),
            path("central-service.key").display(),
            path("central.nk").display(),
        )
    };

    rig.configure(&keys("stranger-ca.pem"), 50);
    rig.start();
    let deadline = Instant::now() + WAIT;
    while !rig.logs().contains("invalid peer certificate") {
        assert!(
            Instant::now() < deadline,
            "no word of the foreign CA in the log:\n{}",
            rig.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(movements(&rig.pg).await, 0, "{}", rig.logs());
    rig.kill();

    rig.configure(&keys("central-ca.pem"), 50);
    rig.start();
    rig.wait_count("SELECT count(*) FROM movements", 3).await;
}
