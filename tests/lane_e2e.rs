//! End to end through the real `checkpointd` binary: an MRZ written into a PTY scanner becomes a
//! verdict on the API's event stream; an officer's confirmation (or a kiosk's clear verdict)
//! records the crossing, which reaches a real nats-server; the kiosk gate, a scripted serial
//! relay on a second PTY, opens only after the record and its silence keeps the kiosk referring;
//! the API refuses requests without the token.

mod common;

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use checkpointd::adapters::ledger::Central;
use checkpointd::core::ledger::{Change, TerminalKeyAdded};
use common::nats::NatsServer;
use common::terminal::{
    Pty, Setup, TERMINAL_ID, TOKEN, Terminal, WAIT, http, officer_enrolments, root_key, td3,
    terminal_key, unix_http,
};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

/// A Georgian passport: GEO is visa-free in `firmware-config/stay-rules.toml`.
fn georgian() -> [String; 2] {
    td3("GEO", "BERIDZE", "NINO", "13AB45678", "GEO")
}

fn reason_codes(verdict: &Value) -> Vec<String> {
    verdict["verdict"]["reasons"]
        .as_array()
        .map(|reasons| {
            reasons
                .iter()
                .filter_map(|reason| reason["code"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn devices_up(status: &Value) -> bool {
    status["devices"]
        .as_array()
        .is_some_and(|devices| devices.iter().any(|device| device["state"] == "up"))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Messages in the `EVENTS` stream of the real server, polled until `expected` or [`WAIT`].
fn events_in_stream(url: &str, expected: u64) -> u64 {
    runtime().block_on(async {
        let client = async_nats::connect(url).await.expect("connect to nats");
        let js = async_nats::jetstream::new(client);
        let deadline = Instant::now() + WAIT;
        let mut n_messages = 0;
        while Instant::now() < deadline {
            if let Ok(mut stream) = js.get_stream("EVENTS").await
                && let Ok(info) = stream.info().await
            {
                n_messages = info.state.messages;
                if n_messages >= expected {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        n_messages
    })
}

/// Central publishes a ledger (the terminal's own key) with a fresh checkpoint signed by the
/// pinned root, so the terminal's replica is not stale once it has replicated.
fn publish_fresh_ledger(url: &str) {
    publish_ledger_at(url, Timestamp::now());
}

/// Central publishes the terminal's key and the test officers with a checkpoint made `at`.
fn publish_ledger_at(url: &str, at: Timestamp) {
    runtime().block_on(async {
        let central = Central::connect(url).await.expect("central connects");
        central.provision(1).await.expect("provision streams");
        let now = Timestamp::now();
        let mut changes = vec![Change::TerminalKeyAdded(TerminalKeyAdded {
            terminal_id: TERMINAL_ID.into(),
            public_key: terminal_key().verifying_key().to_bytes(),
            valid_from: now - SignedDuration::from_hours(24 * 3),
            valid_until: now + SignedDuration::from_hours(24 * 365),
        })];
        changes.extend(officer_enrolments());
        central.append(changes, at).await.expect("append");
        central
            .checkpoint(&[root_key()], at)
            .await
            .expect("checkpoint");
    });
}

#[test]
fn officer_scan_verdict_confirm_record_feed() {
    let nats = NatsServer::start();
    let url = nats.url();
    // A ledger two days old (stale): it holds the officer's account.
    publish_ledger_at(&url, Timestamp::now() - SignedDuration::from_hours(48));
    let mut terminal = Terminal::start(&Setup {
        nats_url: &url,
        mode: "officer",
        direction: "entry",
        gate_port: None,
    });
    terminal.wait_status("the scanner to be up", devices_up);
    terminal.sign_in_officer();
    let mut stream = terminal.stream();
    stream.expect("status", |_| true);

    terminal.scan(&georgian());
    let verdict = stream.expect("verdict", |_| true);
    let codes = reason_codes(&verdict);
    assert!(
        codes.iter().any(|code| code == "ledger_stale"),
        "stale ledger must be flagged: {verdict}"
    );
    assert!(
        codes.iter().any(|code| code == "grounds_visa_free"),
        "{verdict}"
    );
    assert!(verdict["verdict"]["outcome"].is_string(), "{verdict}");
    assert_eq!(verdict["document"]["nationality"], "GEO", "{verdict}");
    assert_eq!(verdict["direction"], "entry");
    let session = verdict["session"].as_u64().expect("session id");

    // Nothing is recorded before the officer confirms.
    assert_eq!(
        terminal.request("GET", "/api/v1/status", None).1["outbox_depth"],
        0
    );
    let (code, answer) = terminal.request(
        "POST",
        "/api/v1/confirm",
        Some(&json!({"session": session, "decision": "admit"})),
    );
    assert_eq!(code, 200, "{answer}; log:\n{}", terminal.log());
    let seq = answer["seq"].as_u64().expect("seq in the answer");
    assert_eq!(answer["direction"], "entry", "{answer}");
    let recorded = stream.expect("recorded", |data| data["session"] == session);
    assert_eq!(recorded["seq"].as_u64(), Some(seq), "{recorded}");

    // The crossing reached central, exactly once, and the outbox drained.
    assert_eq!(events_in_stream(&url, 1), 1, "log:\n{}", terminal.log());
    terminal.wait_status("the outbox to drain", |status| status["outbox_depth"] == 0);
    // A second confirmation of the same session (a double click) records nothing more.
    let (code, answer) = terminal.request(
        "POST",
        "/api/v1/confirm",
        Some(&json!({"session": session, "decision": "admit"})),
    );
    assert_eq!(code, 409, "{answer}");
    assert_eq!(events_in_stream(&url, 2), 1);
}

#[test]
fn api_refuses_wrong_token_and_stranger() {
    let nats = NatsServer::start();
    let url = nats.url();
    let terminal = Terminal::start(&Setup {
        nats_url: &url,
        mode: "officer",
        direction: "exit",
        gate_port: None,
    });
    for token in [
        None,
        Some("wrong-token-0123456789"),
        Some(&TOKEN[..TOKEN.len() - 1]),
    ] {
        for (method, path) in [
            ("GET", "/api/v1/status"),
            ("GET", "/"),
            ("POST", "/api/v1/new-traveller"),
        ] {
            let (code, body) = http(terminal.http, method, path, None, token);
            assert_eq!(code, 403, "{method} {path} with {token:?}: {body}");
            assert_eq!(body["error"], "not authorised: wrong group or token");
        }
    }
    // The token in the query (as the console page uses it) is accepted; a wrong one is not.
    assert_eq!(
        http(
            terminal.http,
            "GET",
            &format!("/api/v1/status?token={TOKEN}"),
            None,
            None
        )
        .0,
        200
    );
    assert_eq!(
        http(
            terminal.http,
            "GET",
            "/api/v1/status?token=nope",
            None,
            None
        )
        .0,
        403
    );

    // The Unix socket: the daemon's own user is allowed without a token.
    let (code, status) = unix_http(&terminal.socket, "GET", "/api/v1/status");
    assert_eq!(code, 200, "{status}");
    assert_eq!(status["direction"], "exit", "{status}");
    let mode = std::fs::metadata(&terminal.socket)
        .map(|meta| std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777)
        .expect("socket metadata");
    assert_eq!(mode, 0o660, "socket mode {mode:o}");
}

/// A scripted serial relay on the gate PTY: logs each CR-terminated command and, when
/// `answering`, replies PONG to PING and OK to OPEN.
struct Relay {
    pty: Pty,
    commands: Arc<Mutex<Vec<String>>>,
}

impl Relay {
    fn start(answering: bool) -> Self {
        let pty = Pty::open();
        let commands = Arc::new(Mutex::new(Vec::new()));
        let mut master = pty.master.try_clone().expect("clone pty master");
        let log = Arc::clone(&commands);
        std::thread::spawn(move || {
            let mut line = Vec::new();
            let mut byte = [0u8; 1];
            while let Ok(1) = master.read(&mut byte) {
                if byte[0] != b'\r' {
                    line.push(byte[0]);
                    continue;
                }
                let command = String::from_utf8_lossy(&line).into_owned();
                line.clear();
                let reply: &[u8] = match command.as_str() {
                    "PING" => b"PONG\r",
                    "OPEN" => b"OK\r",
                    _ => b"ERR\r",
                };
                log.lock().expect("relay log").push(command);
                if answering && master.write_all(reply).is_err() {
                    return;
                }
            }
        });
        Self { pty, commands }
    }

    fn commands(&self) -> Vec<String> {
        self.commands.lock().expect("relay log").clone()
    }
}

fn kiosk(url: &str, relay: &Relay) -> Terminal {
    publish_fresh_ledger(url);
    let terminal = Terminal::start(&Setup {
        nats_url: url,
        mode: "kiosk",
        direction: "entry",
        gate_port: Some(&relay.pty.path),
    });
    terminal.wait_status("scanner up and ledger replicated", |status| {
        devices_up(status)
            && status["ledger"]["stale"] == false
            && status["ledger"]["applied_seq"].as_u64() >= Some(1)
    });
    terminal
}

#[test]
fn kiosk_gate_opens_only_after_record() {
    let nats = NatsServer::start();
    let url = nats.url();
    let relay = Relay::start(true);
    let mut terminal = kiosk(&url, &relay);
    terminal.wait_status("the gate to answer", |status| status["gate"] == "ok");
    let mut stream = terminal.stream();
    stream.expect("status", |_| true);
    let opens_before = relay.commands().iter().filter(|c| *c == "OPEN").count();
    assert_eq!(opens_before, 0, "{:?}", relay.commands());

    terminal.scan(&georgian());
    let verdict = stream.expect("verdict", |_| true);
    assert_eq!(verdict["verdict"]["outcome"], "admit", "{verdict}");
    let recorded = stream.expect("recorded", |_| true);
    let gate = stream.expect("gate", |data| data["state"] == "open");
    assert_eq!(gate["seq"], recorded["seq"], "{gate} {recorded}");
    let kinds = stream.kinds();
    let position = |kind: &str| kinds.iter().position(|k| k == kind);
    assert!(
        position("verdict") < position("recorded") && position("recorded") < position("gate"),
        "order on the stream: {kinds:?}"
    );
    // The relay saw OPEN exactly once, after the pings that cleared the gate.
    let commands = relay.commands();
    assert_eq!(
        commands.last().map(String::as_str),
        Some("OPEN"),
        "{commands:?}"
    );
    assert_eq!(
        commands.iter().filter(|c| *c == "OPEN").count(),
        1,
        "{commands:?}"
    );
    assert!(
        commands.iter().all(|c| c == "PING" || c == "OPEN"),
        "{commands:?}"
    );
    assert_eq!(events_in_stream(&url, 1), 1, "log:\n{}", terminal.log());
}

#[test]
fn kiosk_gate_silent_keeps_referring() {
    let nats = NatsServer::start();
    let url = nats.url();
    let relay = Relay::start(false);
    let mut terminal = kiosk(&url, &relay);
    let status = terminal.wait_status("the gate to be probed", |_| !relay.commands().is_empty());
    assert_eq!(status["gate"], "fault", "{status}");
    let mut stream = terminal.stream();
    stream.expect("status", |_| true);

    terminal.scan(&georgian());
    let verdict = stream.expect("verdict", |_| true);
    assert_eq!(verdict["verdict"]["outcome"], "refer", "{verdict}");
    assert!(
        verdict["verdict"]["explanation"]
            .as_str()
            .is_some_and(|text| text.contains("gate_fault")),
        "{verdict}"
    );
    // Nothing is recorded and the gate is never told to open.
    stream.drain(Duration::from_millis(1500));
    assert!(
        !stream.kinds().iter().any(|kind| kind == "recorded"),
        "{:?}",
        stream.kinds()
    );
    let status = terminal.request("GET", "/api/v1/status", None).1;
    assert_eq!(status["outbox_depth"], 0, "{status}");
    assert_eq!(status["recorded"], 0, "{status}");
    assert!(
        relay.commands().iter().all(|c| c == "PING"),
        "{:?}",
        relay.commands()
    );
    assert_eq!(events_in_stream(&url, 0), 0);
}
