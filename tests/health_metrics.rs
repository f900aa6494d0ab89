//! `/healthz` and `/metrics` of the real `checkpointd`: health under induced faults (no broker,
//! a backed-up then full outbox, a stale ledger, the scanner unplugged), metrics that follow a
//! scan through the lane, `promtool check metrics` on the exposition, and a real Prometheus
//! server on loopback that scrapes the daemon and answers a PromQL query.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use checkpointd::adapters::ledger::Central;
use checkpointd::core::ledger::{Change, TerminalKeyAdded};
use common::nats::NatsServer;
use common::terminal::{
    EventStream, LaneConfig, Pty, TERMINAL_ID, TOKEN, WAIT, free_port, officer_enrolments,
    root_key, seed_replica, spawn_daemon, td3, try_http, unix_http, write_firmware,
};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

/// A daemon on a configuration the test edits before starting it.
struct Daemon {
    dir: tempfile::TempDir,
    scanner: Option<Pty>,
    http: SocketAddr,
    socket: PathBuf,
    child: Child,
    /// The officer's session cookie once signed in.
    cookie: Option<String>,
}

impl Daemon {
    /// `seeded`: the replica holds the officer's account before the daemon starts (no broker).
    fn start(nats_url: &str, seeded: bool, edit: impl Fn(String) -> String) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let scanner = Pty::open();
        let http = free_port();
        let config = write_firmware(
            dir.path(),
            &LaneConfig {
                nats_url,
                checkpoint: "AZ-TEST-1",
                kind: "land",
                lane: "1",
                mode: "officer",
                direction: "entry",
                scanner_port: &scanner.path,
                scanner_profile: "generic-mrz-rs232.toml",
                gate_port: None,
                terminal_seed: common::terminal::TERMINAL_SEED,
                ledger_root: root_key().verifying_key().to_bytes(),
                http,
            },
        );
        let text = std::fs::read_to_string(&config).expect("read config");
        std::fs::write(&config, edit(text)).expect("write config");
        if seeded {
            let two_days_ago = Timestamp::now() - SignedDuration::from_hours(48);
            seed_replica(&config.with_file_name("data").join("ledger"), two_days_ago);
        }
        let child = spawn_daemon(&config, &dir.path().join("daemon.log"), &[]);
        let daemon = Self {
            socket: config.with_file_name("api.sock"),
            dir,
            scanner: Some(scanner),
            http,
            child,
            cookie: None,
        };
        daemon.wait_health("the daemon to answer", |_, _| true);
        daemon
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    /// `/healthz` without a token: the status code and the JSON body.
    fn health(&self) -> Option<(u16, Value)> {
        try_http(self.http, "GET", "/healthz", None, None)
    }

    fn wait_health(&self, what: &str, ready: impl Fn(u16, &Value) -> bool) -> (u16, Value) {
        let deadline = Instant::now() + WAIT;
        let mut last = None;
        while Instant::now() < deadline {
            if let Some((code, body)) = self.health() {
                if ready(code, &body) {
                    return (code, body);
                }
                last = Some((code, body));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("waited for {what}; last {last:?}; log:\n{}", self.log());
    }

    fn scan(&mut self, mrz: &[String; 2]) {
        let scanner = self.scanner.as_mut().expect("scanner plugged");
        write!(scanner.master, "{}\r{}\r", mrz[0], mrz[1]).expect("write to scanner pty");
    }

    /// Scans a traveller and confirms the verdict as an officer: one crossing recorded.
    fn record_crossing(&mut self, stream: &mut EventStream, mrz: &[String; 2]) {
        self.scan(mrz);
        let verdict = stream.expect("verdict", |_| true);
        let session = verdict["session"].as_u64().expect("session id");
        let cookie = self.sign_in();
        let (code, _, answer) = common::terminal::exchange(
            self.http,
            "POST",
            "/api/v1/confirm",
            Some(&json!({"session": session, "decision": "admit"})),
            Some(TOKEN),
            &format!("Cookie: {cookie}\r\n"),
        )
        .expect("an answer");
        assert_eq!(code, 200, "{answer}; log:\n{}", self.log());
    }

    /// The officer's session cookie, signing in the first time.
    fn sign_in(&mut self) -> String {
        if let Some(cookie) = &self.cookie {
            return cookie.clone();
        }
        let cookie = common::terminal::officer_cookie(self.http, TOKEN, WAIT, || self.log());
        self.cookie = Some(cookie.clone());
        cookie
    }

    fn stream(&self) -> EventStream {
        let mut stream = EventStream::open(self.http, &format!("/api/v1/stream?token={TOKEN}"));
        stream.expect("status", |_| true);
        stream
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn check(body: &Value, name: &str) -> String {
    body["checks"][name]["status"]
        .as_str()
        .unwrap_or("absent")
        .to_string()
}

/// A loopback GET answered with text (`/metrics`), with an optional `Accept` header.
fn get_text(address: SocketAddr, path: &str, accept: Option<&str>) -> (u16, String, String) {
    let mut stream =
        TcpStream::connect_timeout(&address, Duration::from_secs(1)).expect("connect to daemon");
    stream.set_read_timeout(Some(WAIT)).expect("timeout");
    let accept = accept
        .map(|accept| format!("Accept: {accept}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\n{accept}Connection: close\r\n\r\n"
    )
    .expect("write request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP response");
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("status code");
    let content_type = head
        .lines()
        .find_map(|line| {
            line.to_ascii_lowercase()
                .strip_prefix("content-type: ")
                .map(String::from)
        })
        .unwrap_or_default();
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    (code, content_type, body)
}

fn dechunk(mut raw: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = raw.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).expect("chunk size");
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        raw = &rest[size + 2..];
    }
    out
}

/// The value of the sample `series` (name and labels exactly as exposed); 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |value| value.trim().parse().expect("a number"))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Central publishes a terminal key (`seed`'s, for `terminal`) with a checkpoint signed at `at`.
fn publish_ledger(url: &str, terminal: &str, seed: [u8; 32], at: Timestamp) {
    runtime().block_on(async {
        let central = Central::connect(url).await.expect("central connects");
        central.provision(1).await.expect("provision streams");
        let change = Change::TerminalKeyAdded(TerminalKeyAdded {
            terminal_id: terminal.into(),
            public_key: ed25519_dalek::SigningKey::from_bytes(&seed)
                .verifying_key()
                .to_bytes(),
            valid_from: at - SignedDuration::from_hours(24),
            valid_until: at + SignedDuration::from_hours(24 * 365),
        });
        let mut changes = vec![change];
        if terminal == TERMINAL_ID {
            changes.extend(officer_enrolments());
        }
        central.append(changes, at).await.expect("append");
        central
            .checkpoint(&[root_key()], at)
            .await
            .expect("checkpoint");
    });
}

/// No broker at all: relay and replication degraded; the outbox backed up, then full (503); the
/// scanner unplugged (its PTY closed) fails the devices check; tokenless on HTTP and the socket.
#[test]
fn healthz_under_no_broker_full_outbox_and_unplugged_scanner() {
    let nowhere = format!("nats://{}", free_port());
    let mut daemon = Daemon::start(&nowhere, true, |config| {
        config.replace("outbox_events_max = 1000000", "outbox_events_max = 2")
    });
    let (code, body) = daemon.wait_health("the scanner to be up", |_, body| {
        check(body, "devices") == "ok"
    });
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["status"], "degraded", "{body}");
    for (name, expected) in [
        ("relay", "degraded"),
        ("replication", "degraded"),
        ("ledger_age", "degraded"),
        ("outbox", "ok"),
        ("clock", "ok"),
        ("disk_space", "ok"),
    ] {
        assert_eq!(check(&body, name), expected, "{name}: {body}");
    }
    // The socket answers the same without a token; the rest of the API still wants one.
    let (code, over_socket) = unix_http(&daemon.socket, "GET", "/healthz");
    assert_eq!((code, &over_socket["status"]), (200, &json!("degraded")));
    let refused = try_http(daemon.http, "GET", "/api/v1/status", None, None);
    assert_eq!(refused.map(|(code, _)| code), Some(403));

    let mut stream = daemon.stream();
    daemon.record_crossing(
        &mut stream,
        &td3("GEO", "BERIDZE", "NINO", "13AB45678", "GEO"),
    );
    let (code, body) = daemon.wait_health("the outbox to back up", |_, body| {
        check(body, "outbox") == "degraded"
    });
    assert_eq!(code, 200, "{body}");
    daemon.record_crossing(
        &mut stream,
        &td3("GEO", "KAPANADZE", "ANA", "14CD56789", "GEO"),
    );
    let (code, body) = daemon.wait_health("the outbox to fill", |_, body| {
        check(body, "outbox") == "failing"
    });
    assert_eq!((code, &body["status"]), (503, &json!("failing")), "{body}");

    drop(daemon.scanner.take());
    let (_, body) = daemon.wait_health("the scanner to be down", |_, body| {
        check(body, "devices") == "failing"
    });
    assert!(
        body["checks"]["devices"]["detail"]
            .as_str()
            .is_some_and(|detail| detail.contains("mrz")),
        "{body}"
    );
}

/// With central up: a ledger whose checkpoint is two days old is stale (degraded, everything
/// else ok); a fresh checkpoint makes the terminal ok. Then `/metrics` follows one scan, passes
/// `promtool check metrics`, and a real Prometheus scrapes it.
#[test]
fn stale_then_ok_and_metrics_follow_a_scan_into_prometheus() {
    let nats = NatsServer::start();
    let url = nats.url();
    let two_days_ago = Timestamp::now() - SignedDuration::from_hours(48);
    publish_ledger(
        &url,
        TERMINAL_ID,
        common::terminal::TERMINAL_SEED,
        two_days_ago,
    );
    let mut daemon = Daemon::start(&url, false, |config| config);
    let (code, body) = daemon.wait_health("the stale ledger to replicate", |_, body| {
        check(body, "replication") == "ok" && check(body, "relay") == "ok"
    });
    assert_eq!((code, &body["status"]), (200, &json!("degraded")), "{body}");
    assert_eq!(check(&body, "ledger_age"), "degraded", "{body}");
    assert!(
        body["checks"]["ledger_age"]["detail"]
            .as_str()
            .is_some_and(|detail| detail.starts_with("stale")),
        "{body}"
    );
    // A second terminal's key, so central has a new entry to checkpoint now.
    publish_ledger(&url, "AZ-TEST-1-2", [8; 32], Timestamp::now());
    let (code, body) = daemon.wait_health("every check to be ok", |_, body| body["status"] == "ok");
    assert_eq!(code, 200, "{body}");

    let scans = r#"checkpointd_scans_total{device="mrz",kind="mrz"}"#;
    let (code, content_type, before) = get_text(daemon.http, "/metrics", None);
    assert_eq!(code, 200, "{before}");
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    assert_eq!(sample(&before, scans), 0.0, "{before}");
    assert_eq!(
        sample(&before, r#"checkpointd_device_up{device="mrz"}"#),
        1.0
    );
    assert!(
        sample(&before, "checkpointd_ledger_applied_seq") >= 2.0,
        "{before}"
    );
    assert!(
        sample(&before, "process_resident_memory_bytes") > 0.0,
        "{before}"
    );
    assert!(sample(&before, "process_open_fds") > 0.0, "{before}");

    let mut stream = daemon.stream();
    daemon.record_crossing(
        &mut stream,
        &td3("GEO", "BERIDZE", "NINO", "13AB45678", "GEO"),
    );
    let deadline = Instant::now() + WAIT;
    let after = loop {
        let (_, _, after) = get_text(daemon.http, "/metrics", None);
        if sample(&after, "checkpointd_relay_acks_total") >= 1.0 || Instant::now() > deadline {
            break after;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(sample(&after, scans), 1.0, "{after}");
    assert_eq!(
        sample(&after, "checkpointd_scan_to_verdict_seconds_count"),
        1.0
    );
    assert_eq!(
        sample(&after, r#"checkpointd_records_total{outcome="admit"}"#),
        1.0
    );
    assert_eq!(
        sample(&after, "checkpointd_relay_acks_total"),
        1.0,
        "{after}"
    );
    assert_eq!(sample(&after, "checkpointd_outbox_depth"), 0.0, "{after}");
    let verdicts: f64 = after
        .lines()
        .filter(|line| line.starts_with("checkpointd_verdicts_total{"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(verdicts, 1.0, "{after}");
    assert!(
        !after.contains("BERIDZE") && !after.contains("13AB45678"),
        "{after}"
    );

    promtool_check(&after);
    let (_, content_type, open_metrics) = get_text(
        daemon.http,
        "/metrics",
        Some("application/openmetrics-text; version=1.0.0"),
    );
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    assert!(open_metrics.ends_with("# EOF\n"), "{open_metrics}");

    let prometheus = Prometheus::start(daemon.http);
    let value = prometheus.query_until(&format!("sum({scans})"));
    assert_eq!(value, 1.0, "log:\n{}", daemon.log());
}

fn tool(name: &str, package: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("{name} not found: install the Debian package `{package}` (scripts/test does)")
    })
}

fn promtool_check(exposition: &str) {
    let mut child = Command::new(tool("promtool", "prometheus"))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(exposition.as_bytes())
        .expect("feed promtool");
    let output = child.wait_with_output().expect("promtool ran");
    assert!(
        output.status.success(),
        "promtool check metrics: {}{}\n{exposition}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A real Prometheus on loopback scraping the daemon every second.
struct Prometheus {
    _dir: tempfile::TempDir,
    address: SocketAddr,
    child: Child,
}

impl Prometheus {
    fn start(target: SocketAddr) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  \
                 - job_name: checkpointd\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .expect("write prometheus.yml");
        let address = free_port();
        let child = Command::new(tool("prometheus", "prometheus"))
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={address}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("prometheus.log")).expect("log"))
            .spawn()
            .expect("start prometheus");
        Self {
            _dir: dir,
            address,
            child,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// Polls the HTTP API with the PromQL `query` until it has a result; its value.
    fn query_until(&self, query: &str) -> f64 {
        let encoded: String = query
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect();
        let path = format!("/api/v1/query?query={encoded}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut last = Value::Null;
        while Instant::now() < deadline {
            if let Some((200, answer)) = try_http(self.address, "GET", &path, None, None) {
                if let Some(value) = answer["data"]["result"][0]["value"][1].as_str() {
                    return value.parse().expect("a number");
                }
                last = answer;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "prometheus never answered {query}; last {last}; log:\n{}",
            self.log()
        );
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
