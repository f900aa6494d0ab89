//! A new terminal's movement history from central's signed snapshot, against a real nats-server:
//! `checkpointctl feed snapshot` publishes it, a new terminal verifies and loads it and reads the
//! stream only past it; a tampered snapshot or one signed by another key is refused and the
//! terminal reads the whole stream instead.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use checkpointd::adapters::feed::{
    Bootstrap, IndexConfig, MovementIndex, Outbox, OutboxConfig, RelayConfig, SnapshotError,
    bootstrap_index, run_index, run_relay, snapshot_bucket,
};
use checkpointd::adapters::nats::{CentralLink, connect_link};
use checkpointd::adapters::system_clock::SystemClock;
use checkpointd::cli::feed::synthetic_crossing;
use checkpointd::config::{ClientCertificate, UpstreamTls};
use checkpointd::core::document::HolderDigest;
use checkpointd::core::event::{TerminalId, TerminalKeys};
use common::nats::NatsServer;
use common::tls::{CLIENT_EXT, SERVER_EXT, certificates, nats_server_config};
use ed25519_dalek::{SigningKey, VerifyingKey};
use tokio::io::AsyncReadExt;

const WAIT: Duration = Duration::from_secs(30);

fn open(dir: &Path, id: &str, seed: u8) -> (Outbox, VerifyingKey) {
    let key = SigningKey::from_bytes(&[seed; 32]);
    let public = key.verifying_key();
    let config = OutboxConfig {
        terminal: TerminalId::new(id).expect("valid id"),
        time_zone: jiff::tz::TimeZone::UTC,
    };
    let outbox =
        Outbox::open(dir, config, key, Arc::new(SystemClock::default())).expect("open outbox");
    (outbox, public)
}

async fn client(url: &str) -> async_nats::Client {
    async_nats::connect(url).await.expect("client")
}

/// Records crossings of documents `documents` and relays them until central acknowledged all.
async fn record_and_relay(
    outbox: &Outbox,
    client: async_nats::Client,
    documents: std::ops::Range<u64>,
) {
    for n in documents {
        outbox.record(synthetic_crossing(n, "GYD")).expect("record");
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let relay = tokio::spawn(run_relay(
        outbox.clone(),
        client,
        RelayConfig {
            idle_poll: Duration::from_millis(20),
            ..RelayConfig::with_duplicate_window_hours(48)
        },
        async {
            let _ = stopped.await;
        },
    ));
    let deadline = Instant::now() + WAIT;
    while outbox.depth() > 0 {
        assert!(Instant::now() < deadline, "outbox not drained");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop.send(());
    relay.await.expect("join").expect("relay stops cleanly");
}

/// Central's terminals: A and B are in the keys file central's tool reads; LATE is not yet.
struct Feed {
    server: NatsServer,
    dir: tempfile::TempDir,
    keys: Arc<dyn TerminalKeys + Send + Sync>,
}

/// Stream: 20 crossings of A (`synthetic_crossing` 0..20), one of LATE (5), 20 of B (10..30).
async fn feed() -> Feed {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, a_key) = open(&dir.path().join("a"), "AIRPORT1", 1);
    let (late, late_key) = open(&dir.path().join("late"), "LATE3", 3);
    let (b, b_key) = open(&dir.path().join("b"), "LAND2", 2);
    record_and_relay(&a, client(&server.url()).await, 0..20).await;
    record_and_relay(&late, client(&server.url()).await, 5..6).await;
    record_and_relay(&b, client(&server.url()).await, 10..30).await;
    let keys_file: String = [("AIRPORT1", a_key), ("LAND2", b_key)]
        .iter()
        .map(|(id, key)| format!("{id} {}\n", hex::encode(key.as_bytes())))
        .collect();
    std::fs::write(dir.path().join("keys"), keys_file).expect("keys file");
    let keys: Arc<dyn TerminalKeys + Send + Sync> = Arc::new(HashMap::from([
        (TerminalId::new("AIRPORT1").expect("id"), a_key),
        (TerminalId::new("LAND2").expect("id"), b_key),
        (TerminalId::new("LATE3").expect("id"), late_key),
    ]));
    Feed { server, dir, keys }
}

/// `checkpointctl feed snapshot`, its JSON report.
fn publish(feed: &Feed) -> serde_json::Value {
    let output = Command::new(env!("CARGO_BIN_EXE_checkpointctl"))
        .args(["feed", "snapshot", "--nats", &feed.server.url(), "--keys"])
        .arg(feed.dir.path().join("keys"))
        .arg("--data")
        .arg(feed.dir.path().join("central"))
        .arg("--key")
        .arg(feed.dir.path().join("snapshot.key"))
        .output()
        .expect("run checkpointctl");
    assert!(
        output.status.success(),
        "feed snapshot failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON report")
}

fn snapshot_key(feed: &Feed) -> VerifyingKey {
    let text = std::fs::read_to_string(feed.dir.path().join("snapshot.pub")).expect("public key");
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut bytes).expect("hex");
    VerifyingKey::from_bytes(&bytes).expect("key")
}

/// Runs the index consumer until its cursor reaches `seq`, then stops it.
async fn read_stream_to(index: &MovementIndex, feed: &Feed, seq: u64) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let consumer = tokio::spawn(run_index(
        index.clone(),
        client(&feed.server.url()).await,
        Arc::clone(&feed.keys),
        IndexConfig::default(),
        Arc::new(SystemClock::default()),
        async {
            let _ = stopped.await;
        },
    ));
    let deadline = Instant::now() + WAIT;
    while index.cursor().expect("cursor") < seq {
        assert!(Instant::now() < deadline, "index stuck before {seq}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop.send(());
    consumer
        .await
        .expect("join")
        .expect("consumer stops cleanly");
}

fn history(index: &MovementIndex) -> Vec<Vec<(String, u64)>> {
    // `synthetic_crossing(n)` is document n / 2.
    (0..30)
        .step_by(2)
        .map(|n| {
            let holder: HolderDigest = synthetic_crossing(n, "GYD").traveller.holder_digest();
            index
                .lookup(&holder)
                .expect("lookup")
                .iter()
                .map(|m| (m.terminal.to_string(), m.seq))
                .collect()
        })
        .collect()
}

/// A new terminal's index: bootstrapped with `key` (when given), then the stream to the end.
async fn new_terminal(feed: &Feed, name: &str, key: VerifyingKey) -> (Outbox, Bootstrap) {
    let (outbox, _) = open(&feed.dir.path().join(name), "NEW9", 9);
    let index = outbox.movement_index();
    let bootstrap = bootstrap_index(
        &index,
        client(&feed.server.url()).await,
        key,
        "EVENTS",
        &feed.dir.path().join(name),
    )
    .await;
    (outbox, bootstrap)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_terminal_loads_the_signed_snapshot_then_reads_the_stream_past_it() {
    let feed = feed().await;
    let someone = SigningKey::from_bytes(&[42; 32]).verifying_key();
    let (_, before) = new_terminal(&feed, "early", someone).await;
    assert!(matches!(before, Bootstrap::NoSnapshot), "{before:?}");

    let report = publish(&feed);
    // LATE3's event (stream seq 21) is parked at central: the snapshot stops before it.
    assert_eq!(report["stream_seq"], 20, "{report}");
    assert_eq!(report["movements"], 40, "{report}");
    assert_eq!(report["documents"], 15, "{report}");
    assert_eq!(report["bucket"], snapshot_bucket("EVENTS"));

    let (outbox, bootstrap) = new_terminal(&feed, "new", snapshot_key(&feed)).await;
    let Bootstrap::Loaded {
        stream_seq,
        documents,
        movements,
    } = bootstrap
    else {
        panic!("snapshot not loaded: {bootstrap:?}");
    };
    assert_eq!((stream_seq, documents, movements), (20, 15, 40));
    let index = outbox.movement_index();
    assert_eq!(index.cursor().expect("cursor"), 20, "reads from 21 on");
    assert!(
        !feed
            .dir
            .path()
            .join("new/movement-snapshot.partial")
            .exists(),
        "the download is removed"
    );
    read_stream_to(&index, &feed, 41).await;

    let (reference, _) = open(&feed.dir.path().join("reference"), "REF8", 8);
    read_stream_to(&reference.movement_index(), &feed, 41).await;
    let loaded = history(&index);
    assert_eq!(loaded, history(&reference.movement_index()));
    assert_eq!(
        loaded[2],
        [
            ("AIRPORT1".to_string(), 5),
            ("AIRPORT1".to_string(), 6),
            ("LATE3".to_string(), 1)
        ],
        "the event parked at central came from the stream"
    );
    assert_eq!(loaded[7].len(), 4, "both terminals' movements");

    // A second run reads only what is new and publishes the later snapshot.
    let again = publish(&feed);
    assert_eq!(
        again["stream_seq"], 20,
        "LATE3 still unknown to central: {again}"
    );
    drop(index);
    drop(outbox);
    let (_, restarted) = new_terminal(&feed, "new", snapshot_key(&feed)).await;
    assert!(matches!(restarted, Bootstrap::NotNeeded), "{restarted:?}");
}

/// Replaces the published snapshot with `change` applied to its bytes.
async fn alter_snapshot(feed: &Feed, change: impl FnOnce(&mut Vec<u8>)) {
    let js = async_nats::jetstream::new(client(&feed.server.url()).await);
    let store = js
        .get_object_store(snapshot_bucket("EVENTS"))
        .await
        .expect("bucket");
    let mut bytes = Vec::new();
    store
        .get("latest")
        .await
        .expect("object")
        .read_to_end(&mut bytes)
        .await
        .expect("read");
    change(&mut bytes);
    store
        .put("latest", &mut bytes.as_slice())
        .await
        .expect("put");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_or_foreign_snapshot_is_refused_and_the_stream_read_instead() {
    let feed = feed().await;
    publish(&feed);
    let key = snapshot_key(&feed);

    let foreign = SigningKey::from_bytes(&[77; 32]).verifying_key();
    let (_, refused) = new_terminal(&feed, "foreign", foreign).await;
    let Bootstrap::FellBack(SnapshotError::Signature(why)) = &refused else {
        panic!("signed by another key but not refused: {refused:?}");
    };
    assert!(why.contains("pinned snapshot key"), "{why}");

    alter_snapshot(&feed, |bytes| {
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
    })
    .await;
    let (outbox, refused) = new_terminal(&feed, "body", key).await;
    let Bootstrap::FellBack(SnapshotError::Body(why)) = &refused else {
        panic!("altered body not refused: {refused:?}");
    };
    assert!(why.contains("altered"), "{why}");
    let index = outbox.movement_index();
    assert_eq!(index.cursor().expect("cursor"), 0, "nothing of it was used");
    assert_eq!(index.documents(), 0);
    read_stream_to(&index, &feed, 41).await;
    assert_eq!(history(&index).iter().map(Vec::len).sum::<usize>(), 41);

    // An altered signed header (the stream sequence it claims) fails the signature.
    publish(&feed);
    alter_snapshot(&feed, |bytes| {
        let at = bytes
            .windows(10)
            .position(|w| w == b"stream_seq")
            .expect("header field");
        bytes[at + 10] ^= 0x01;
    })
    .await;
    let (_, refused) = new_terminal(&feed, "head", key).await;
    assert!(
        matches!(refused, Bootstrap::FellBack(SnapshotError::Signature(_))),
        "{refused:?}"
    );
}

#[test]
fn the_daemon_loads_the_snapshot_at_start_when_its_key_is_pinned() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let feed = runtime.block_on(feed());
    publish(&feed);
    let key = hex::encode(snapshot_key(&feed).as_bytes());
    let url = feed.server.url();
    let terminal = common::terminal::Terminal::start_edited(
        &common::terminal::Setup {
            nats_url: &url,
            mode: "officer",
            direction: "entry",
            gate_port: None,
        },
        |_, text| {
            text.replace(
                "terminal_key = \"keys/terminal.key\"\n",
                &format!(
                    "terminal_key = \"keys/terminal.key\"\nmovement_snapshot_key = \"{key}\"\n"
                ),
            )
        },
    );
    let deadline = Instant::now() + WAIT;
    loop {
        let log = terminal.log();
        if let Some(line) = log
            .lines()
            .find(|l| l.contains("movement index loaded from central's snapshot"))
        {
            for (field, value) in [("stream_seq", 20), ("documents", 15), ("movements", 40)] {
                assert!(
                    line.contains(&format!("{field}={value}"))
                        || line.contains(&format!("\"{field}\":{value}")),
                    "{field} is not {value}: {line}"
                );
            }
            break;
        }
        assert!(
            Instant::now() < deadline,
            "snapshot not loaded; log:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `checkpointctl feed snapshot` against the TLS server with `link` arguments.
fn snapshot_over(dir: &Path, link: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_checkpointctl"))
        .args(["feed", "snapshot"])
        .args(link)
        .arg("--keys")
        .arg(dir.join("keys"))
        .arg("--data")
        .arg(dir.join("central"))
        .arg("--key")
        .arg(dir.join("snapshot.key"))
        .output()
        .expect("run checkpointctl")
}

/// Central's tool reaches a broker requiring TLS, a client certificate and NKey credentials
/// through its link arguments (seed URLs, `--ca-file`, `--client-cert`/`--client-key`,
/// `--credentials`); a broker whose certificate does not chain to the pinned CA, or a login
/// without credentials, is refused with an error naming the connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn central_s_snapshot_tool_connects_over_tls_with_credentials_and_refuses_a_wrong_ca() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = |name: &str| dir.path().join(name);
    certificates(
        dir.path(),
        "central",
        &[("server", SERVER_EXT), ("tool", CLIENT_EXT)],
    );
    certificates(dir.path(), "stranger", &[("tool", CLIENT_EXT)]);
    let user = nkeys::KeyPair::new_user();
    let seed_file = path("central.nk");
    std::fs::write(&seed_file, format!("{}\n", user.seed().expect("seed"))).expect("seed file");
    for secret in [seed_file.clone(), path("central-tool.key")] {
        std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .expect("owner-only");
    }
    let server = NatsServer::start_with_config(&nats_server_config(
        dir.path(),
        "central",
        Some(&user.public_key()),
    ));
    let url = format!("tls://127.0.0.1:{}", server.port);
    let link = |ca: &str| CentralLink {
        urls: vec![url.clone()],
        tls: Some(UpstreamTls {
            ca_file: path(ca),
            client_certificate: Some(ClientCertificate {
                certificate_file: path("central-tool.pem"),
                key_file: path("central-tool.key"),
            }),
        }),
        credentials_file: Some(seed_file.clone()),
    };
    let (terminal, terminal_key) = open(&path("terminal"), "AIRPORT1", 1);
    let relayed = connect_link(&link("central-ca.pem"))
        .await
        .expect("connect");
    record_and_relay(&terminal, relayed, 0..5).await;
    let keys = format!("AIRPORT1 {}\n", hex::encode(terminal_key.as_bytes()));
    std::fs::write(path("keys"), keys).expect("keys file");

    let (ca, cert, key, seed) = (
        path("central-ca.pem"),
        path("central-tool.pem"),
        path("central-tool.key"),
        seed_file.clone(),
    );
    let [ca, cert, key, seed] = [&ca, &cert, &key, &seed].map(|p| p.to_str().expect("utf-8"));
    // A second, unreachable seed first: the tool moves on to the next seed URL.
    let seeds = format!("tls://127.0.0.1:{},{url}", common::nats::free_port());
    let full = [
        "--nats",
        &seeds,
        "--ca-file",
        ca,
        "--client-cert",
        cert,
        "--client-key",
        key,
        "--credentials",
        seed,
    ];
    let output = snapshot_over(dir.path(), &full);
    assert!(
        output.status.success(),
        "feed snapshot over TLS failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON report");
    assert_eq!(report["movements"], 5, "{report}");

    let stranger = path("stranger-ca.pem");
    let mut wrong_ca = full;
    wrong_ca[3] = stranger.to_str().expect("utf-8");
    let no_credentials = &full[..8];
    for (arguments, why) in [
        (&wrong_ca[..], "wrong CA"),
        (no_credentials, "no credentials"),
    ] {
        let output = snapshot_over(dir.path(), arguments);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{why}: {stderr}");
        assert!(stderr.contains("connecting to"), "{why}: {stderr}");
    }
    // A tls:// URL without the CA to pin is refused before any connection.
    let output = snapshot_over(dir.path(), &["--nats", &url]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("needs --ca-file"), "{stderr}");
}
