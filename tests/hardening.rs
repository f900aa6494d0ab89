//! The red-team findings of issue 24 against the real `checkpointd` binary: a token with `+` and
//! `/`, the recorded officer, a flood of idle connections under a 1024-descriptor limit, the API socket's
//! group and bind failures, and trace logging with a NATS upstream.

mod common;

use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::nats::NatsServer;
use common::terminal::{
    EventStream, LaneConfig, Pty, SUPERVISOR_ID, SUPERVISOR_SECRET, TERMINAL_SEED, free_port,
    root_key, seed_replica, td3, try_http, write_firmware,
};
use serde_json::{Value, json};

/// A base64 token (the README's `head -c 24 /dev/urandom | base64`) with `+` and `/`.
const TOKEN: &str = "q+Zb/9kT+2xW/Lm0r+Pe/4sVnA3h";
/// The same token as a browser's `encodeURIComponent` writes it into a URL.
const TOKEN_IN_URL: &str = "q%2BZb%2F9kT%2B2xW%2FLm0r%2BPe%2F4sVnA3h";
/// Longest wait for anything in these tests.
const WAIT: Duration = Duration::from_secs(20);
/// Unreachable upstream for tests that need none (the lane decides without central).
const NO_NATS: &str = "nats://127.0.0.1:9";

/// A configured (not yet started) lane terminal.
struct Lane {
    dir: tempfile::TempDir,
    scanner: Pty,
    http: SocketAddr,
    config: PathBuf,
    /// The officer's session cookie (a restarted daemon needs a new sign-in).
    cookie: std::cell::RefCell<Option<String>>,
}

impl Lane {
    /// The e2e configuration with [`TOKEN`], a second device (an image spool), and `edit` applied
    /// to the configuration text.
    fn new(nats_url: &str, edit: impl Fn(String) -> String) -> Self {
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
                terminal_seed: TERMINAL_SEED,
                ledger_root: root_key().verifying_key().to_bytes(),
                http,
            },
        );
        let token = config.with_file_name("keys/api.token");
        std::fs::write(&token, format!("{TOKEN}\n")).expect("token");
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let spool = dir.path().join("spool");
        let text = std::fs::read_to_string(&config).expect("config").replace(
            "[ledger]",
            &format!(
                "[[devices]]\nname = \"pages\"\nprofile = \"fullpage-image-spool.toml\"\nspool = \"{}\"\n\n[ledger]",
                spool.display()
            ),
        );
        std::fs::write(&config, edit(text)).expect("config");
        Self {
            dir,
            scanner,
            http,
            config,
            cookie: std::cell::RefCell::new(None),
        }
    }

    /// Puts the officer's account in the replica before the daemon starts, as if replicated two
    /// days ago (these lanes have no central to replicate it from).
    fn with_officers(self) -> Self {
        let two_days_ago = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(48);
        seed_replica(
            &self.config.with_file_name("data").join("ledger"),
            two_days_ago,
        );
        self
    }

    /// Signs the test officer in on the running daemon; later confirmations carry the cookie.
    fn sign_in(&self) {
        let cookie = common::terminal::officer_cookie(self.http, TOKEN, WAIT, || self.log());
        *self.cookie.borrow_mut() = Some(cookie);
    }

    /// The `Cookie:` header line of the session (empty before a sign-in).
    fn cookie_header(&self) -> String {
        self.cookie
            .borrow()
            .as_ref()
            .map(|cookie| format!("Cookie: {cookie}\r\n"))
            .unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("daemon.log")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Starts the daemon, behind `wrapper` (e.g. `prlimit …`) when given.
    fn spawn(&self, wrapper: &[&str], env: &[(&str, &str)]) -> Daemon {
        let log = std::fs::File::create(self.log_path()).expect("log");
        let daemon = env!("CARGO_BIN_EXE_checkpointd");
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(daemon);
                command
            }
            None => Command::new(daemon),
        };
        command
            .arg("--config")
            .arg(&self.config)
            .args(["--log-format", "json"])
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .stdout(Stdio::null())
            .stderr(log);
        for (key, value) in env {
            command.env(key, value);
        }
        Daemon(command.spawn().expect("spawn checkpointd"))
    }

    fn status(&self) -> Option<Value> {
        match try_http(self.http, "GET", "/api/v1/status", None, Some(TOKEN)) {
            Some((200, status)) => Some(status),
            _ => None,
        }
    }

    /// Polls the status until `ready` holds.
    fn wait_status(&self, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if let Some(status) = self.status().filter(|status| ready(status)) {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("waited for {what}; log:\n{}", self.log());
    }

    fn scan(&mut self, mrz: &[String; 2]) {
        use std::io::Write;
        let text = format!("{}\r{}\r", mrz[0], mrz[1]);
        self.scanner
            .master
            .write_all(text.as_bytes())
            .expect("write to the scanner");
    }

    fn confirm(&self, body: &Value) -> (u16, Value) {
        common::terminal::exchange(
            self.http,
            "POST",
            "/api/v1/confirm",
            Some(body),
            Some(TOKEN),
            &self.cookie_header(),
        )
        .map(|(code, _, body)| (code, body))
        .unwrap_or_else(|| panic!("no answer to confirm; log:\n{}", self.log()))
    }
}

/// A daemon killed when the test ends, however it ends.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn device_up(status: &Value, name: &str) -> bool {
    status["devices"].as_array().is_some_and(|devices| {
        devices
            .iter()
            .any(|device| device["name"] == name && device["state"] == "up")
    })
}

fn both_devices_up(status: &Value) -> bool {
    device_up(status, "mrz") && device_up(status, "pages")
}

/// An expired Georgian passport: the verdict at entry is a refusal.
fn expired_passport() -> [String; 2] {
    checkpointd::core::mrz::compose_td3(&checkpointd::core::mrz::Td3Fields {
        state: "GEO",
        surname: "BERIDZE",
        given: "NINO",
        number: "13AB45678",
        nationality: "GEO",
        birth: "850101",
        sex: 'F',
        expiry: "200101",
    })
}

#[test]
fn a_token_with_plus_and_slash_opens_status_and_stream_from_a_url() {
    let lane = Lane::new(NO_NATS, |text| text);
    let _daemon = lane.spawn(&[], &[]);
    lane.wait_status("the API", |_| true);
    for query in [TOKEN_IN_URL, TOKEN] {
        let path = format!("/api/v1/status?token={query}");
        let answer = try_http(lane.http, "GET", &path, None, None);
        assert_eq!(answer.map(|(code, _)| code), Some(200), "{path}");
        let mut stream = EventStream::try_open(lane.http, &format!("/api/v1/stream?token={query}"))
            .unwrap_or_else(|| panic!("stream refused with ?token={query}"));
        stream.expect("status", |_| true);
    }
    let wrong = "q%20Zb%2F9kT%2B2xW%2FLm0r%2BPe%2F4sVnA3h";
    let answer = try_http(
        lane.http,
        "GET",
        &format!("/api/v1/status?token={wrong}"),
        None,
        None,
    );
    assert_eq!(answer.map(|(code, _)| code), Some(403));
}

#[test]
fn the_recorded_officer_is_the_signed_in_one_never_a_body_field() {
    let mut lane = Lane::new(NO_NATS, |text| text).with_officers();
    let _daemon = lane.spawn(&[], &[]);
    lane.wait_status("the scanner", |status| device_up(status, "mrz"));
    let mut stream = EventStream::open(lane.http, &format!("/api/v1/stream?token={TOKEN}"));
    lane.scan(&td3("GEO", "BERIDZE", "NINO", "13AB45678", "GEO"));
    let verdict = stream.expect("verdict", |_| true);
    let session = verdict["session"].as_u64().expect("session");
    // Without a session nothing is recorded, whatever officer id the body names.
    let (code, answer) =
        lane.confirm(&json!({"session": session, "decision": "refuse", "officer": "B-1"}));
    assert_eq!((code, &answer), (401, &json!({"error": "not_signed_in"})));
    lane.sign_in();
    let (code, answer) =
        lane.confirm(&json!({"session": session, "decision": "refuse", "officer": "B-1\u{200b}"}));
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["seq"], 1, "{answer}");
}

/// Raises this process's descriptor limit so it can hold the flood itself.
fn raise_own_descriptor_limit(wanted: u64) {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    let maximum = limit.maximum.unwrap_or(u64::MAX);
    rustix::process::setrlimit(
        rustix::process::Resource::Nofile,
        rustix::process::Rlimit {
            current: Some(wanted.min(maximum)),
            maximum: limit.maximum,
        },
    )
    .expect("raise RLIMIT_NOFILE");
}

#[test]
fn two_thousand_idle_connections_leave_the_api_and_the_spool_up() {
    raise_own_descriptor_limit(8192);
    let lane = Lane::new(NO_NATS, |text| text);
    let _daemon = lane.spawn(&["prlimit", "--nofile=1024:1024", "--"], &[]);
    lane.wait_status("both devices", both_devices_up);

    // Idle connections that never send a byte, and slow ones that never finish their headers.
    let mut idle = Vec::new();
    for n in 0..2000 {
        // A short timeout: a daemon that stopped accepting fills its backlog, and then a connect
        // never completes.
        if let Ok(mut stream) = TcpStream::connect_timeout(&lane.http, Duration::from_millis(200)) {
            if n % 2 == 0 {
                use std::io::Write;
                let _ = stream.write_all(b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\n");
            }
            idle.push(stream);
        }
    }
    println!("{} idle connections open", idle.len());

    let asked = Instant::now();
    let answer = try_http(lane.http, "GET", "/api/v1/status", None, Some(TOKEN));
    println!(
        "status answered after {:?} under the flood",
        asked.elapsed()
    );
    let status = answer;
    assert!(
        matches!(&status, Some((200, _))),
        "status during the flood: {status:?}; log:\n{}",
        lane.log()
    );
    let (_, status) = status.expect("checked");
    assert!(both_devices_up(&status), "{status}");
    // The spool still opens its files and decodes.
    let image = lane.dir.path().join("spool/incoming/0001.png");
    std::fs::write(&image, b"\x89PNG\r\n\x1a\nnot an image").expect("write image");
    let reason = lane.dir.path().join("spool/failed/0001.png.reason");
    let deadline = Instant::now() + WAIT;
    while !reason.exists() {
        assert!(
            Instant::now() < deadline,
            "spool stalled; log:\n{}",
            lane.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = lane.wait_status("the status", |_| true);
    assert!(both_devices_up(&status), "{status}");
    assert!(
        !lane.log().contains("Too many open files"),
        "descriptors ran out; log:\n{}",
        lane.log()
    );
    drop(idle);
}

fn other_group() -> (String, u32) {
    let own = nix::unistd::getegid();
    ["daemon", "nogroup", "users", "adm"]
        .iter()
        .find_map(|name| {
            let group = nix::unistd::Group::from_name(name).ok()??;
            (group.gid != own).then(|| (group.name, group.gid.as_raw()))
        })
        .expect("a group other than the test's own")
}

#[test]
fn the_api_socket_is_given_to_the_api_group_and_a_bind_failure_is_fatal() {
    // Root may give the socket to any group, which tells the configured group apart from the
    // daemon's own; another user can only use its own group.
    let (group, gid) = if nix::unistd::geteuid().is_root() {
        other_group()
    } else {
        let own = nix::unistd::getegid();
        let group = nix::unistd::Group::from_gid(own)
            .expect("own group")
            .expect("own group exists");
        (group.name, own.as_raw())
    };
    let lane = Lane::new(NO_NATS, |text| {
        let start = text.find("group = \"").expect("group line");
        let end = start + text[start..].find('\n').expect("end of line");
        format!("{}group = \"{group}\"{}", &text[..start], &text[end..])
    });
    let _daemon = lane.spawn(&[], &[]);
    lane.wait_status("the API", |_| true);
    let socket = lane.config.with_file_name("api.sock");
    let metadata = std::fs::metadata(&socket).expect("socket");
    assert_eq!(metadata.gid(), gid, "socket group");
    assert_eq!(metadata.mode() & 0o777, 0o660, "socket mode");

    // A socket path under a regular file cannot be bound: the daemon must not start.
    let blocked = Lane::new(NO_NATS, |text| {
        text.replace("socket = \"api.sock\"", "socket = \"not-a-dir/api.sock\"")
    });
    std::fs::write(blocked.config.with_file_name("not-a-dir"), b"").expect("file");
    let mut daemon = blocked.spawn(&[], &[]);
    let deadline = Instant::now() + WAIT;
    let code = loop {
        if let Some(status) = daemon.0.try_wait().expect("wait") {
            break status.code();
        }
        assert!(
            Instant::now() < deadline,
            "the daemon runs without its socket; log:\n{}",
            blocked.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_ne!(code, Some(0), "log:\n{}", blocked.log());
    assert!(
        blocked.log().contains("not-a-dir"),
        "log:\n{}",
        blocked.log()
    );
}

#[test]
fn trace_logging_shows_no_document_number_override_reason_or_dependency_payloads() {
    let nats = NatsServer::start();
    let url = nats.url();
    let mut lane = Lane::new(&url, |text| text).with_officers();
    let _daemon = lane.spawn(&[], &[("CHECKPOINTD_LOG", "trace")]);
    lane.wait_status("the scanner", |status| device_up(status, "mrz"));
    let mut stream = EventStream::open(lane.http, &format!("/api/v1/stream?token={TOKEN}"));
    lane.scan(&expired_passport());
    let verdict = stream.expect("verdict", |_| true);
    assert_eq!(verdict["verdict"]["outcome"], "refuse", "{verdict}");
    let session = verdict["session"].as_u64().expect("session");
    lane.sign_in();
    let reason = "settled with the passenger\n{\"level\":\"INFO\",\"message\":\"forged line\"}";
    let (code, answer) = lane.confirm(&json!({"session": session, "decision": "admit",
        "override": {"reason_code": "other", "text": reason, "supervisor_id": SUPERVISOR_ID,
            "supervisor_secret": SUPERVISOR_SECRET}}));
    assert_eq!(code, 200, "{answer}");
    // Published to central: async-nats had the payload in hand.
    lane.wait_status("the outbox to drain", |status| status["outbox_depth"] == 0);
    std::thread::sleep(Duration::from_millis(300));
    let log = lane.log();
    assert!(log.contains("crossing recorded"), "{log}");
    assert!(log.contains("officer override recorded"), "{log}");
    assert!(!log.contains("13AB45678"), "document number in the log");
    assert!(
        !log.contains("forged line") && !log.contains("passenger"),
        "override reason in the log"
    );
    let dependency_detail: Vec<&str> = log
        .lines()
        .filter(|line| {
            let line: Value = serde_json::from_str(line).unwrap_or(Value::Null);
            let target = line["target"].as_str().unwrap_or("checkpointd");
            let level = line["level"].as_str().unwrap_or("INFO");
            !target.starts_with("checkpointd") && matches!(level, "DEBUG" | "TRACE")
        })
        .take(3)
        .collect();
    assert!(dependency_detail.is_empty(), "{dependency_detail:?}");
}

/// `POST /api/v1/confirm` with an `Idempotency-Key`; `None` when no answer came.
fn confirm_keyed(lane: &Lane, body: &Value, key: &str) -> Option<(u16, Value)> {
    use std::io::{Read, Write};
    let mut stream = send_confirm(lane, body, key)?;
    stream.set_read_timeout(Some(WAIT)).ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let code = head.split(' ').nth(1)?.parse().ok()?;
    let _ = stream.flush();
    Some((code, serde_json::from_str(body).unwrap_or(Value::Null)))
}

/// Writes the confirmation request and returns the connection without reading the answer.
fn send_confirm(lane: &Lane, body: &Value, key: &str) -> Option<TcpStream> {
    use std::io::Write;
    let body = body.to_string();
    let mut stream = TcpStream::connect_timeout(&lane.http, Duration::from_secs(1)).ok()?;
    let cookie = lane.cookie_header();
    let request = format!(
        "POST /api/v1/confirm HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {TOKEN}\r\n\
         {cookie}Idempotency-Key: {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    Some(stream)
}

#[test]
fn a_confirmation_killed_in_flight_and_retried_is_recorded_exactly_once() {
    let mut lane = Lane::new(NO_NATS, |text| text).with_officers();
    // Kill delays after the request is sent: before, during and after the flush.
    for (round, delay_ms) in [0u64, 3, 10, 40].into_iter().enumerate() {
        let mut daemon = lane.spawn(&[], &[]);
        lane.wait_status("the scanner", |status| device_up(status, "mrz"));
        lane.sign_in();
        let mut stream = EventStream::open(lane.http, &format!("/api/v1/stream?token={TOKEN}"));
        let number = format!("13AB4567{round}");
        lane.scan(&td3("GEO", "BERIDZE", "NINO", &number, "GEO"));
        let session = stream.expect("verdict", |_| true)["session"].clone();
        let body = json!({"session": session, "decision": "refuse"});
        let key = format!("confirm-{round}");
        let in_flight = send_confirm(&lane, &body, &key).expect("send");
        std::thread::sleep(Duration::from_millis(delay_ms));
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(i32::try_from(daemon.0.id()).expect("pid")),
            nix::sys::signal::Signal::SIGKILL,
        )
        .expect("kill -9");
        let _ = daemon.0.wait();
        drop(in_flight);

        let _daemon = lane.spawn(&[], &[]);
        lane.wait_status("the scanner again", |status| device_up(status, "mrz"));
        // A restart signed the officer out.
        lane.sign_in();
        let (code, first) = confirm_keyed(&lane, &body, &key).expect("retry answered");
        let recorded_before_the_kill = code == 200;
        let first = if recorded_before_the_kill {
            first
        } else {
            // Not recorded before the kill: the session is gone, the officer scans again and
            // confirms the same traveller with the same key.
            assert_eq!(code, 409, "{first}");
            let mut stream = EventStream::open(lane.http, &format!("/api/v1/stream?token={TOKEN}"));
            lane.scan(&td3("GEO", "BERIDZE", "NINO", &number, "GEO"));
            let session = stream.expect("verdict", |_| true)["session"].clone();
            let body = json!({"session": session, "decision": "refuse"});
            let (code, answer) = confirm_keyed(&lane, &body, &key).expect("answered");
            assert_eq!(code, 200, "{answer}");
            answer
        };
        // Any further retry is the first answer again, and records nothing.
        let (code, again) = confirm_keyed(&lane, &body, &key).expect("answered");
        assert_eq!((code, &again), (200, &first));
        let status = lane.wait_status("the status", |_| true);
        println!(
            "round {round}: killed {delay_ms} ms after sending; recorded before the kill: \
             {recorded_before_the_kill}; seq {}",
            first["seq"]
        );
        assert_eq!(
            status["outbox_depth"],
            round + 1,
            "round {round}: crossings recorded; log:\n{}",
            lane.log()
        );
        drop(_daemon);
    }
}

/// The browser tools of `tests/console_e2e.rs` (installed by `scripts/test`), or why not.
fn browser_tools() -> Result<(PathBuf, PathBuf), String> {
    let modules = std::env::var_os("PLAYWRIGHT_NODE_MODULES").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".tools/node/node_modules"),
        PathBuf::from,
    );
    let chromium = std::env::var_os("CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    let node = Command::new("node").arg("--version").output();
    if !node.is_ok_and(|output| output.status.success()) {
        return Err("node is not installed".into());
    }
    if !chromium.exists() {
        return Err(format!("{} is missing", chromium.display()));
    }
    if !modules.join("playwright-core").exists() {
        return Err(format!(
            "playwright-core is missing in {}",
            modules.display()
        ));
    }
    Ok((modules, chromium))
}

#[test]
fn the_console_works_with_a_token_holding_plus_and_slash() {
    use std::io::BufRead;
    let (modules, chromium) = browser_tools().unwrap_or_else(|why| {
        panic!("{why}: run ./scripts/test once to install the browser tools")
    });
    let lane = Lane::new(NO_NATS, |text| text);
    let _daemon = lane.spawn(&[], &[]);
    lane.wait_status("the scanner", |status| device_up(status, "mrz"));
    // The token pasted into the URL as it is, `+` and `/` included.
    let page = format!("http://{}/?token={TOKEN}&lang=en", lane.http);
    let mut browser = Command::new("node")
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/console.mjs"))
        .arg(&page)
        .arg(lane.dir.path().join("console.png"))
        .env("PLAYWRIGHT_NODE_MODULES", modules)
        .env("CHROMIUM", chromium)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start node");
    let stdout = browser.stdout.take().expect("piped stdout");
    let said: Vec<String> = std::io::BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .collect();
    let status = browser.wait().expect("node");
    let mut errors = String::new();
    if let Some(mut stderr) = browser.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut stderr, &mut errors);
    }
    assert!(status.success(), "node failed: {said:?}\n{errors}");
    // The page's own requests carried the token: the status answered with the lane.
    assert!(
        said.iter().any(|line| line.contains("\"lane\":")),
        "{said:?}"
    );
}

#[test]
fn refused_requests_are_answered_429_past_a_burst_and_logged_once() {
    let lane = Lane::new(NO_NATS, |text| text);
    let _daemon = lane.spawn(&[], &[]);
    lane.wait_status("the API", |_| true);
    let mut codes = std::collections::BTreeMap::new();
    let started = Instant::now();
    for _ in 0..300 {
        let answer = try_http(
            lane.http,
            "GET",
            "/api/v1/status",
            None,
            Some("wrong-token-0123456"),
        );
        *codes.entry(answer.map(|(code, _)| code)).or_insert(0) += 1;
    }
    let took = started.elapsed();
    println!("300 refused requests in {took:?}: {codes:?}");
    // A burst of 10, then 2 a second regained.
    let forbidden = codes.get(&Some(403)).copied().unwrap_or(0);
    let regained = usize::try_from(took.as_secs() * 2 + 2).expect("small");
    assert!((10..=10 + regained).contains(&forbidden), "{codes:?}");
    assert_eq!(codes.get(&Some(429)), Some(&(300 - forbidden)), "{codes:?}");
    // Still served with the right token.
    assert!(lane.status().is_some());
    let warnings = lane
        .log()
        .lines()
        .filter(|line| line.contains("api request refused"))
        .count();
    assert_eq!(warnings, 1, "log:\n{}", lane.log());
}
