//! Every setting of the terminal's configuration takes effect, observed from outside the real
//! `checkpointd`: the NKey credentials log in to a nats-server that requires them, heartbeats
//! arrive every `heartbeat_every_s` with the status, the configured stream names are the ones
//! used, `scan_frame_bytes_max` bounds a scan; and SIGHUP applies a new direction, device port,
//! HTTP address and ledger stream, and names what waits for a restart.

mod common;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use checkpointd::adapters::ledger::Central;
use checkpointd::core::ledger::{Change, TerminalKeyAdded};
use common::nats::NatsServer;
use common::terminal::{
    Pty, Setup, TERMINAL_ID, Terminal, WAIT, free_port, root_key, td3, terminal_key, try_http,
};
use futures::StreamExt;
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn georgian() -> [String; 2] {
    td3("GEO", "BERIDZE", "NINO", "13AB45678", "GEO")
}

fn write_secret(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write secret");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
}

#[test]
fn nkey_credentials_log_in_and_heartbeats_carry_the_status() {
    let user = nkeys::KeyPair::new_user();
    let seed = user.seed().expect("user seed");
    let nats = NatsServer::start_with_config(&format!(
        "authorization {{ users = [ {{ nkey: \"{}\" }} ] }}\n",
        user.public_key()
    ));
    let url = nats.url();
    let terminal = Terminal::start_edited(
        &Setup {
            nats_url: &url,
            mode: "officer",
            direction: "entry",
            gate_port: None,
        },
        |dir, text| {
            write_secret(&dir.join("keys/nats.nk"), &format!("{seed}\n"));
            text.replace(
                "heartbeat_every_s = 30",
                "heartbeat_every_s = 1\ncredentials_file = \"keys/nats.nk\"",
            )
            .replace(
                "events_stream = \"EVENTS\"",
                "events_stream = \"CROSSINGS\"",
            )
        },
    );
    // The terminal says who it is at start: the id the feed carries and the key to publish.
    let public_key = hex::encode(terminal_key().verifying_key().to_bytes());
    let log = terminal.log();
    assert!(
        log.lines().any(|line| line.contains("terminal identity")
            && line.contains(TERMINAL_ID)
            && line.contains(&public_key)),
        "{log}"
    );
    runtime().block_on(async {
        assert!(
            async_nats::connect(url.as_str()).await.is_err(),
            "the server must refuse a client without credentials"
        );
        let watcher = async_nats::ConnectOptions::with_nkey(seed.clone())
            .connect(url.as_str())
            .await
            .expect("the test's client logs in with the seed");
        let mut beats = watcher
            .subscribe(format!("heartbeats.{TERMINAL_ID}"))
            .await
            .expect("subscribe");
        let mut received: Vec<Value> = Vec::new();
        while received.len() < 2 {
            let message = tokio::time::timeout(WAIT, beats.next())
                .await
                .unwrap_or_else(|_| panic!("no heartbeat within {WAIT:?}:\n{}", terminal.log()))
                .expect("subscription open");
            received.push(serde_json::from_slice(&message.payload).expect("heartbeat is JSON"));
        }
        for beat in &received {
            assert_eq!(beat["type"], "heartbeat", "{beat}");
            assert_eq!(beat["terminal"], TERMINAL_ID, "{beat}");
            assert_eq!(beat["outbox_depth"], 0, "{beat}");
            assert!(beat["devices"].is_array(), "{beat}");
            assert!(beat["ledger"]["age_seconds"].is_null(), "{beat}");
            assert!(beat["ledger"].get("applied_seq").is_some(), "{beat}");
            assert!(beat["ledger"]["replication"].is_string(), "{beat}");
            assert_eq!(beat["clock"]["trusted"], true, "{beat}");
        }
        let at = |beat: &Value| -> Timestamp {
            beat["at"].as_str().expect("at").parse().expect("timestamp")
        };
        let gap = at(&received[1]).duration_since(at(&received[0]));
        assert!(
            gap >= SignedDuration::from_millis(900),
            "beats {gap:?} apart"
        );

        // The relay made the configured stream, not the default one.
        let js = async_nats::jetstream::new(watcher);
        let deadline = Instant::now() + WAIT;
        while js.get_stream("CROSSINGS").await.is_err() {
            assert!(
                Instant::now() < deadline,
                "no CROSSINGS stream:\n{}",
                terminal.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(js.get_stream("EVENTS").await.is_err(), "EVENTS was made");
    });
    // The replica the daemon holds is not fought over, nor a new one made beside it: the daemon
    // answers (tests/ledger_on_daemon.rs compares its answers with the replica's).
    let replica = terminal.dir.path().join("firmware-config/data/ledger");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_checkpointctl"))
        .args(["ledger", "status", "--data"])
        .arg(&replica)
        .output()
        .expect("run checkpointctl");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("held by a running checkpointd; answered by it"),
        "{output:?}"
    );
    let status: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("the daemon's answer, as JSON");
    assert!(status["applied_seq"].is_u64(), "{status}");
}

/// Central publishes a ledger holding the terminal's key, with a fresh checkpoint.
fn publish_ledger(url: &str) {
    runtime().block_on(async {
        let central = Central::connect(url).await.expect("central connects");
        central.provision(1).await.expect("provision streams");
        let now = Timestamp::now();
        let change = Change::TerminalKeyAdded(TerminalKeyAdded {
            terminal_id: TERMINAL_ID.into(),
            public_key: terminal_key().verifying_key().to_bytes(),
            valid_from: now - SignedDuration::from_hours(24),
            valid_until: now + SignedDuration::from_hours(24 * 365),
        });
        central.append(vec![change], now).await.expect("append");
        central
            .checkpoint(&[root_key()], now)
            .await
            .expect("checkpoint");
    });
}

#[test]
fn sighup_applies_direction_device_port_http_address_and_upstream() {
    let nats = NatsServer::start();
    let url = nats.url();
    publish_ledger(&url);
    let mut terminal = Terminal::start_edited(
        &Setup {
            nats_url: &url,
            mode: "officer",
            direction: "entry",
            gate_port: None,
        },
        |_, text| {
            text.replace("ledger_stream = \"LEDGER\"", "ledger_stream = \"OTHER\"")
                .replace("scan_frame_bytes_max = 4096", "scan_frame_bytes_max = 16")
        },
    );
    // The configured ledger stream is the one read: central has none by that name.
    terminal.wait_status("replication retrying on the missing stream", |status| {
        status["ledger"]["replication"]
            .as_str()
            .is_some_and(|state| state.starts_with("connecting: "))
    });
    // A scan longer than scan_frame_bytes_max is dropped and reported.
    let mut stream = terminal.stream();
    terminal.wait_status("the scanner to be up", |status| {
        status["devices"][0]["state"] == "up"
    });
    terminal.scan(&georgian());
    let problem = stream.expect("scan_problem", |_| true);
    assert!(
        problem["problem"]
            .as_str()
            .is_some_and(|p| p.contains("16")),
        "{problem}"
    );

    let mut second_scanner = Pty::open();
    let old_http = terminal.http;
    let new_http = free_port();
    let old_port = terminal.scanner.path.clone();
    terminal.reload(|text| {
        text.replace("direction = \"entry\"", "direction = \"exit\"")
            .replace(&old_port, &second_scanner.path)
            .replace(&old_http.to_string(), &new_http.to_string())
            .replace("lane = \"1\"", "lane = \"2\"")
            .replace("ledger_stream = \"OTHER\"", "ledger_stream = \"LEDGER\"")
            .replace("scan_frame_bytes_max = 16", "scan_frame_bytes_max = 4096")
    });
    terminal.http = new_http;
    let status = terminal.wait_status("the reloaded settings", |status| {
        status["direction"] == "exit" && status["ledger"]["replication"] == "running"
    });
    assert_eq!(status["ledger"]["applied_seq"], 1, "{status}");
    assert_eq!(
        status["lane"], "1",
        "the terminal id waits for a restart: {status}"
    );
    assert_eq!(
        status["restart_required"],
        serde_json::json!(["checkpoint.lane"]),
        "{status}"
    );
    assert!(
        try_http(old_http, "GET", "/api/v1/status", None, None).is_none(),
        "the old address still answers"
    );
    assert!(
        terminal.log().contains("restart required: checkpoint.lane"),
        "{}",
        terminal.log()
    );

    // The scanner is now read on the new port.
    let mut stream = terminal.stream();
    let deadline = Instant::now() + WAIT;
    loop {
        let status = terminal.wait_status("a device", |_| true);
        if status["devices"][0]["state"] == "up" && status["devices"][0]["since"].is_string() {
            break;
        }
        assert!(Instant::now() < deadline, "device not up: {status}");
    }
    let mrz = georgian();
    second_scanner
        .master
        .write_all(format!("{}\r{}\r", mrz[0], mrz[1]).as_bytes())
        .expect("write to the new scanner");
    let verdict = stream.expect("verdict", |_| true);
    assert_eq!(verdict["direction"], "exit", "{verdict}");
}
