//! The real `checkpointd` binary as a lane terminal: a temp configuration with a PTY scanner
//! (`devices/generic-mrz-rs232.toml`), loopback HTTP with a token, the Unix API socket and the
//! nats_url of a real nats-server; plus raw HTTP/1.1 and SSE clients to talk to it.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use serde_json::Value;

/// The API token written to the token file.
pub const TOKEN: &str = "e2e-token-0123456789abcdef";
/// Checkpoint id and lane in the configuration: the terminal id is `AZ-TEST-1-1`.
pub const CHECKPOINT: &str = "AZ-TEST-1";
/// The terminal id the daemon derives from checkpoint id and lane.
pub const TERMINAL_ID: &str = "AZ-TEST-1-1";
/// The seed of the terminal's signing key written to the key file.
pub const TERMINAL_SEED: [u8; 32] = [7; 32];
/// The seed of the single ledger root the configuration trusts.
pub const ROOT_SEED: [u8; 32] = [9; 32];
/// How long any one wait in these tests may take.
pub const WAIT: Duration = Duration::from_secs(10);

/// A pseudo-terminal: the daemon opens `path` (the slave), the test drives `master`.
pub struct Pty {
    pub master: File,
    pub path: String,
    // Held so the master never sees the line hang up between daemon reopenings.
    _slave: OwnedFd,
}

/// A master and its slave, both close-on-exec.
struct Pair {
    master: OwnedFd,
    slave: OwnedFd,
}

impl Pty {
    pub fn open() -> Self {
        use nix::fcntl::OFlag;
        // Both ends close-on-exec from the moment they exist: tests run in parallel threads, and a
        // daemon another test spawns in between would otherwise inherit the master, so the line
        // would never hang up when this test closes it (an unplug).
        let flags = OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
        let master = nix::pty::posix_openpt(flags).expect("posix_openpt");
        nix::pty::grantpt(&master).expect("grantpt");
        nix::pty::unlockpt(&master).expect("unlockpt");
        let slave_path = nix::pty::ptsname_r(&master).expect("ptsname");
        let slave = nix::fcntl::open(slave_path.as_str(), flags, nix::sys::stat::Mode::empty())
            .expect("open the slave");
        let pair = Pair {
            master: OwnedFd::from(master),
            slave,
        };
        let path = nix::unistd::ttyname(&pair.slave).expect("ttyname");
        // Raw mode on the slave so CRs reach the reader as sent.
        let mut attributes = nix::sys::termios::tcgetattr(&pair.slave).expect("tcgetattr");
        nix::sys::termios::cfmakeraw(&mut attributes);
        nix::sys::termios::tcsetattr(&pair.slave, nix::sys::termios::SetArg::TCSANOW, &attributes)
            .expect("tcsetattr");
        Self {
            master: File::from(pair.master),
            path: path.to_string_lossy().into_owned(),
            _slave: pair.slave,
        }
    }
}

/// The terminal's signing key (the one in the key file).
pub fn terminal_key() -> SigningKey {
    SigningKey::from_bytes(&TERMINAL_SEED)
}

/// The ledger root the configuration pins (threshold 1).
pub fn root_key() -> SigningKey {
    SigningKey::from_bytes(&ROOT_SEED)
}

/// A TD3 passport MRZ with correct check digits.
pub fn td3(
    state: &str,
    surname: &str,
    given: &str,
    number: &str,
    nationality: &str,
) -> [String; 2] {
    checkpointd::core::mrz::compose_td3(&checkpointd::core::mrz::Td3Fields {
        state,
        surname,
        given,
        number,
        nationality,
        birth: "850101",
        sex: 'F',
        expiry: "340101",
    })
}

/// How the terminal under test is set up.
pub struct Setup<'a> {
    pub nats_url: &'a str,
    /// `officer` or `kiosk`.
    pub mode: &'a str,
    /// `entry` or `exit`.
    pub direction: &'a str,
    /// Serial port of the kiosk gate (kiosk mode only).
    pub gate_port: Option<&'a str>,
}

/// A running `checkpointd` with its temp directory, scanner PTY and API addresses.
pub struct Terminal {
    pub dir: tempfile::TempDir,
    pub scanner: Pty,
    pub http: SocketAddr,
    pub socket: PathBuf,
    child: Child,
    /// The session cookie (`checkpoint_session=…`) once an officer signed in.
    cookie: std::sync::Mutex<Option<String>>,
}

/// The officer every terminal test signs in as (enrolled by [`officer_enrolments`]).
pub const OFFICER_ID: &str = "T-OFFICER";
/// Their secret.
pub const OFFICER_SECRET: &str = "officer-pin-2468";
/// A supervisor for four-eyes overrides.
pub const SUPERVISOR_ID: &str = "T-SUPERVISOR";
/// Their secret.
pub const SUPERVISOR_SECRET: &str = "supervisor-pin-1357";

/// Applies the terminal's key and the test officers to a fresh replica at `ledger` (what the
/// daemon opens as `<data_dir>/ledger`) under a checkpoint made `at` by the pinned root, as
/// replication would: for tests without a broker whose officer must sign in.
pub fn seed_replica(ledger: &Path, at: jiff::Timestamp) {
    use checkpointd::core::ledger::{
        Change, Checkpoint, RootKey, RootSet, SignedCheckpoint, TerminalKeyAdded, extend,
        verify_batch,
    };
    use checkpointd::ports::ledger::LedgerStore;
    let mut changes = vec![Change::TerminalKeyAdded(TerminalKeyAdded {
        terminal_id: TERMINAL_ID.into(),
        public_key: terminal_key().verifying_key().to_bytes(),
        valid_from: at - jiff::SignedDuration::from_hours(24),
        valid_until: at + jiff::SignedDuration::from_hours(24 * 365),
    })];
    changes.extend(officer_enrolments());
    let size = changes.len() as u64;
    let (encoded, root) = extend(0, [0; 32], changes, at);
    let checkpoint = Checkpoint {
        size,
        root,
        time: at,
    };
    let signed = SignedCheckpoint::sign(&checkpoint, &[root_key()]).encode();
    let roots = RootSet::new(
        vec![RootKey::from_bytes(&root_key().verifying_key().to_bytes()).expect("root")],
        1,
    )
    .expect("roots");
    let verified = roots
        .verify(&SignedCheckpoint::decode(&signed).expect("decode"))
        .expect("verify");
    let store =
        checkpointd::adapters::ledger::SledLedger::open(ledger, 8 << 20).expect("open replica");
    let batch = verify_batch(&store.cursor().expect("cursor"), encoded, verified).expect("batch");
    store
        .apply(
            &batch,
            &signed,
            &checkpointd::core::ledger::IndexConsistency,
        )
        .expect("apply");
}

/// `officer_enrolled` entries for [`OFFICER_ID`] and [`SUPERVISOR_ID`], valid around today.
pub fn officer_enrolments() -> Vec<checkpointd::core::ledger::Change> {
    use checkpointd::core::officer::{Language, Role};
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let from = today.yesterday().expect("yesterday");
    let until = today.tomorrow().expect("tomorrow");
    [
        (OFFICER_ID, Role::Officer, OFFICER_SECRET, Language::Az),
        (
            SUPERVISOR_ID,
            Role::Supervisor,
            SUPERVISOR_SECRET,
            Language::Ru,
        ),
    ]
    .into_iter()
    .map(|(id, role, secret, language)| {
        checkpointd::cli::officer::enrolment(id, role, secret.as_bytes(), from, until, language)
            .expect("enrolment")
    })
    .collect()
}

/// A free loopback address for the daemon's HTTP API.
pub fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr")
}

fn own_group() -> String {
    nix::unistd::Group::from_gid(nix::unistd::getegid())
        .expect("look up own group")
        .expect("own group exists")
        .name
}

fn write_secret(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write secret");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
}

/// Everything that varies between the lane terminals a test runs.
pub struct LaneConfig<'a> {
    pub nats_url: &'a str,
    /// Checkpoint id; the terminal id is `<checkpoint>-<lane>`.
    pub checkpoint: &'a str,
    /// `airport`, `land` or `sea`.
    pub kind: &'a str,
    pub lane: &'a str,
    /// `officer` or `kiosk`.
    pub mode: &'a str,
    /// `entry` or `exit`.
    pub direction: &'a str,
    /// Path the scanner is opened at (a PTY slave, or a symlink to one).
    pub scanner_port: &'a str,
    /// A profile file name in `devices/`.
    pub scanner_profile: &'a str,
    /// Serial port of the kiosk gate (kiosk mode only).
    pub gate_port: Option<&'a str>,
    /// Seed of the terminal's signing key.
    pub terminal_seed: [u8; 32],
    /// The single pinned ledger root (threshold 1).
    pub ledger_root: [u8; 32],
    pub http: SocketAddr,
}

/// Writes `<dir>/firmware-config/` (configuration, stay rules, terminal key, API token) with the
/// data directory at `<dir>/firmware-config/data`; returns the configuration file's path.
pub fn write_firmware(dir: &Path, lane: &LaneConfig<'_>) -> PathBuf {
    let firmware = dir.join("firmware-config");
    std::fs::create_dir_all(firmware.join("keys")).expect("mkdir");
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/firmware-config/stay-rules.toml"
        ),
        firmware.join("stay-rules.toml"),
    )
    .expect("copy stay rules");
    write_secret(
        &firmware.join("keys/terminal.key"),
        &format!("{}\n", hex::encode(lane.terminal_seed)),
    );
    write_secret(&firmware.join("keys/api.token"), &format!("{TOKEN}\n"));
    let gate = lane
        .gate_port
        .map(|port| format!("[gate]\nprofile = \"gate-serial-relay.toml\"\nport = \"{port}\"\n"))
        .unwrap_or_default();
    let config = format!(
        r#"data_dir = "data"
rules_file = "stay-rules.toml"
devices_dir = "{devices}"

[checkpoint]
id = "{checkpoint}"
name = "End-to-end test lane"
kind = "{kind}"
lane = "{lane}"
time_zone = "Asia/Baku"
mode = "{mode}"
direction = "{direction}"

[[devices]]
name = "mrz"
profile = "{profile}"
port = "{scanner}"

[ledger]
cache_capacity_bytes = 8388608

[upstream]
nats_url = "{nats}"
events_stream = "EVENTS"
ledger_stream = "LEDGER"
duplicate_window_hours = 72
heartbeat_every_s = 30

[keys]
ledger_roots = ["{root}"]
ledger_root_threshold = 1
terminal_key = "keys/terminal.key"

[limits]
scan_frame_bytes_max = 4096
outbox_events_max = 1000000
shutdown_grace_ms = 2000

[lane]
session_window_ms = 30000
ledger_stale_after_s = 86400
clock_backwards_tolerance_ms = 2000

[api]
socket = "api.sock"
group = "{group}"
http = "{http}"
token_file = "keys/api.token"

{gate}
[retention]
movement_days = 400
"#,
        devices = concat!(env!("CARGO_MANIFEST_DIR"), "/devices"),
        checkpoint = lane.checkpoint,
        kind = lane.kind,
        lane = lane.lane,
        mode = lane.mode,
        direction = lane.direction,
        profile = lane.scanner_profile,
        scanner = lane.scanner_port,
        nats = lane.nats_url,
        root = hex::encode(lane.ledger_root),
        group = own_group(),
        http = lane.http,
    );
    let path = firmware.join("checkpoint.toml");
    std::fs::write(&path, config).expect("write config");
    path
}

/// Starts `checkpointd --config <config>` with JSON logs appended to `log` (so a restarted
/// daemon keeps its predecessor's log); `env` is added to its environment.
pub fn spawn_daemon(config: &Path, log: &Path, env: &[(&str, &str)]) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("log file");
    let mut command = Command::new(env!("CARGO_BIN_EXE_checkpointd"));
    command
        .arg("--config")
        .arg(config)
        .args(["--log-format", "json"])
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC")
        .stdout(Stdio::null())
        .stderr(log);
    for (key, value) in env {
        command.env(key, value);
    }
    command.spawn().expect("spawn checkpointd")
}

impl Terminal {
    /// Writes the configuration and starts the daemon; returns once the HTTP API answers.
    pub fn start(setup: &Setup<'_>) -> Self {
        Self::start_edited(setup, |_, text| text)
    }

    /// As [`Terminal::start`], with the configuration text passed through `edit` (which gets
    /// the configuration's directory, to write files the edit names) before the daemon reads it.
    pub fn start_edited(setup: &Setup<'_>, edit: impl FnOnce(&Path, String) -> String) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let scanner = Pty::open();
        let http = free_port();
        let config = write_firmware(
            dir.path(),
            &LaneConfig {
                nats_url: setup.nats_url,
                checkpoint: CHECKPOINT,
                kind: "land",
                lane: "1",
                mode: setup.mode,
                direction: setup.direction,
                scanner_port: &scanner.path,
                scanner_profile: "generic-mrz-rs232.toml",
                gate_port: setup.gate_port,
                terminal_seed: TERMINAL_SEED,
                ledger_root: root_key().verifying_key().to_bytes(),
                http,
            },
        );
        let text = std::fs::read_to_string(&config).expect("read config");
        let firmware = config.parent().expect("config dir").to_path_buf();
        std::fs::write(&config, edit(&firmware, text)).expect("write edited config");
        let child = spawn_daemon(&config, &dir.path().join("daemon.log"), &[]);
        let terminal = Self {
            socket: config.with_file_name("api.sock"),
            dir,
            scanner,
            http,
            child,
            cookie: std::sync::Mutex::new(None),
        };
        terminal.wait_status("the HTTP API to answer", |_| true);
        terminal
    }

    /// The configuration file the daemon reads.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("firmware-config/checkpoint.toml")
    }

    /// Rewrites the configuration with `edit` and sends SIGHUP.
    pub fn reload(&self, edit: impl FnOnce(String) -> String) {
        let path = self.config_path();
        let text = std::fs::read_to_string(&path).expect("read config");
        std::fs::write(&path, edit(text)).expect("write config");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).expect("pid")),
            nix::sys::signal::Signal::SIGHUP,
        )
        .expect("send SIGHUP");
    }

    /// The daemon's log so far (for assertion messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    /// Polls `GET /api/v1/status` until `ready` holds; panics with the log after [`WAIT`].
    pub fn wait_status(&self, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        let mut last = Value::Null;
        while Instant::now() < deadline {
            if let Some((200, status)) =
                try_http(self.http, "GET", "/api/v1/status", None, Some(TOKEN))
            {
                if ready(&status) {
                    return status;
                }
                last = status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "waited for {what}; last status {last}; log:\n{}",
            self.log()
        );
    }

    /// Writes a scanned MRZ into the scanner PTY as the reader sends it: CR-terminated lines.
    pub fn scan(&mut self, mrz: &[String; 2]) {
        let text = format!("{}\r{}\r", mrz[0], mrz[1]);
        self.scanner
            .master
            .write_all(text.as_bytes())
            .expect("write to scanner pty");
    }

    /// An HTTP request with the right token (and the session cookie once signed in).
    pub fn request(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let (status, _, value) = self.exchange(method, path, body);
        (status, value)
    }

    /// As [`Terminal::request`], with the response head (status line and headers) too.
    pub fn exchange(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, String, Value) {
        let cookie = self.cookie.lock().expect("cookie").clone();
        let extra = cookie
            .map(|cookie| format!("Cookie: {cookie}\r\n"))
            .unwrap_or_default();
        exchange(self.http, method, path, body, Some(TOKEN), &extra)
            .unwrap_or_else(|| panic!("{method} {path}: no HTTP answer"))
    }

    /// Signs in with `POST /api/v1/session`; on `200` later requests carry the session cookie.
    /// Returns the status, the `Set-Cookie` value and the body.
    pub fn sign_in(&self, officer_id: &str, secret: &str) -> (u16, Option<String>, Value) {
        let body = serde_json::json!({ "officer_id": officer_id, "secret": secret });
        let (status, head, value) = self.exchange("POST", "/api/v1/session", Some(&body));
        let set_cookie = head.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("set-cookie")
                .then(|| value.trim().to_string())
        });
        if status == 200
            && let Some(pair) = set_cookie.as_deref().and_then(|c| c.split(';').next())
        {
            *self.cookie.lock().expect("cookie") = Some(pair.to_string());
        }
        (status, set_cookie, value)
    }

    /// Forgets the session cookie (requests go without one).
    pub fn forget_session(&self) {
        *self.cookie.lock().expect("cookie") = None;
    }

    /// Signs in as [`OFFICER_ID`] (enrolled in the ledger the test published), waiting for the
    /// replica to hold the account.
    pub fn sign_in_officer(&self) {
        let deadline = Instant::now() + WAIT;
        loop {
            let (status, _, body) = self.sign_in(OFFICER_ID, OFFICER_SECRET);
            if status == 200 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "officer cannot sign in: {status} {body}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Kills the daemon now (a test of what its clients do when it is gone).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Opens the event stream with the right token.
    pub fn stream(&self) -> EventStream {
        EventStream::open(self.http, &format!("/api/v1/stream?token={TOKEN}"))
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        // Never leave a daemon behind when an assertion fails.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn request_text(method: &str, path: &str, body: Option<&Value>, token: Option<&str>) -> String {
    request_text_with(method, path, body, token, "")
}

fn request_text_with(
    method: &str,
    path: &str,
    body: Option<&Value>,
    token: Option<&str>,
    extra_headers: &str,
) -> String {
    let body = body.map(Value::to_string).unwrap_or_default();
    let auth = token
        .map(|token| format!("Authorization: Bearer {token}\r\n"))
        .unwrap_or_default();
    format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{auth}{extra_headers}Content-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// A loopback request with extra header lines (each ending in CRLF); status, head and JSON body.
pub fn exchange(
    address: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
    token: Option<&str>,
    extra_headers: &str,
) -> Option<(u16, String, Value)> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(WAIT)).ok()?;
    stream
        .write_all(request_text_with(method, path, body, token, extra_headers).as_bytes())
        .ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw);
    let head = text.split_once("\r\n\r\n")?.0.to_string();
    let (status, value) = parse_response(&raw)?;
    Some((status, head, value))
}

/// Status and JSON body of a `Connection: close` response (non-chunked or chunked).
fn parse_response(raw: &[u8]) -> Option<(u16, Value)> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body.as_bytes())
    } else {
        body.to_string()
    };
    Some((status, serde_json::from_str(&body).unwrap_or(Value::Null)))
}

fn dechunk(mut raw: &[u8]) -> String {
    let mut out = Vec::new();
    while let Some(end) = raw.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&raw[..end]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = end + 2;
        let Some(chunk) = raw.get(start..start + size) else {
            break;
        };
        out.extend_from_slice(chunk);
        raw = raw.get(start + size + 2..).unwrap_or_default();
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A loopback HTTP request, `None` when nothing (parsable) answers.
pub fn try_http(
    address: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
    token: Option<&str>,
) -> Option<(u16, Value)> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(WAIT)).ok()?;
    stream
        .write_all(request_text(method, path, body, token).as_bytes())
        .ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    parse_response(&raw)
}

/// A loopback HTTP request; `token` goes into `Authorization: Bearer`.
pub fn http(
    address: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
    token: Option<&str>,
) -> (u16, Value) {
    try_http(address, method, path, body, token)
        .unwrap_or_else(|| panic!("{method} {path}: no HTTP answer"))
}

/// An HTTP request over the Unix API socket (authorised by peer credentials, no token).
pub fn unix_http(socket: &Path, method: &str, path: &str) -> (u16, Value) {
    let mut stream = UnixStream::connect(socket).expect("connect to the api socket");
    stream.set_read_timeout(Some(WAIT)).expect("timeout");
    stream
        .write_all(request_text(method, path, None, None).as_bytes())
        .expect("write request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    parse_response(&raw).unwrap_or_else(|| panic!("unparsable answer {raw:?}"))
}

/// One server-sent event: its `event:` name, its JSON `data:`, and when it arrived.
#[derive(Debug, Clone)]
pub struct StreamEvent {
    pub kind: String,
    pub data: Value,
    pub at: Instant,
}

/// The SSE stream read by a thread from a raw HTTP/1.1 connection.
pub struct EventStream {
    events: mpsc::Receiver<StreamEvent>,
    /// Every event taken so far, in order.
    pub seen: Vec<StreamEvent>,
}

impl EventStream {
    /// Connects, checks the `200` head, and starts reading events.
    pub fn open(address: SocketAddr, path: &str) -> Self {
        Self::try_open(address, path).expect("open the event stream")
    }

    /// As [`EventStream::open`], but `None` when the daemon does not answer with `200`
    /// (for tests that kill and restart it).
    pub fn try_open(address: SocketAddr, path: &str) -> Option<Self> {
        let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(1)).ok()?;
        stream.set_read_timeout(Some(WAIT)).ok()?;
        stream
            .write_all(
                format!(
                    "GET {path} HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n"
                )
                .as_bytes(),
            )
            .ok()?;
        let mut reader = BufReader::new(stream);
        let mut head = String::new();
        let mut chunked = false;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).ok()?;
            if line
                .to_ascii_lowercase()
                .starts_with("transfer-encoding: chunked")
            {
                chunked = true;
            }
            if line == "\r\n" || line.is_empty() {
                break;
            }
            head.push_str(&line);
        }
        if !head.starts_with("HTTP/1.1 200") {
            return None;
        }
        // Idle streams only carry keep-alives; a dead daemon must not block the reader forever.
        reader.get_ref().set_read_timeout(None).ok()?;
        let (sender, events) = mpsc::channel();
        std::thread::spawn(move || read_events(reader, chunked, &sender));
        Some(Self {
            events,
            seen: Vec::new(),
        })
    }

    /// The next event named `kind` whose data satisfy `matches` within `timeout`, skipping (and
    /// forgetting) others; `None` on timeout or when the connection closed.
    pub fn next_matching(
        &mut self,
        kind: &str,
        timeout: Duration,
        matches: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let event = self.events.recv_timeout(left).ok()?;
            if event.kind == kind && matches(&event.data) {
                return Some(event.data);
            }
        }
    }

    /// The next event whose name is `kind` and whose data satisfy `matches`, skipping others
    /// (they stay in `seen`); panics after [`WAIT`].
    pub fn expect(&mut self, kind: &str, matches: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(event) => {
                    self.seen.push(event.clone());
                    if event.kind == kind && matches(&event.data) {
                        return event.data;
                    }
                }
                Err(_) => panic!(
                    "no {kind:?} event within {WAIT:?}; seen: {:?}",
                    self.seen
                        .iter()
                        .map(|event| (&event.kind, event.data.to_string()))
                        .collect::<Vec<_>>()
                ),
            }
        }
    }

    /// Takes every event that arrives during `period`, into `seen`.
    pub fn drain(&mut self, period: Duration) {
        let deadline = Instant::now() + period;
        while let Ok(event) = self
            .events
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.seen.push(event);
        }
    }

    /// Names of the events seen so far, in order.
    pub fn kinds(&self) -> Vec<String> {
        self.seen.iter().map(|event| event.kind.clone()).collect()
    }
}

fn read_events(
    mut reader: BufReader<TcpStream>,
    chunked: bool,
    sender: &mpsc::Sender<StreamEvent>,
) {
    let mut pending = String::new();
    loop {
        let mut piece = String::new();
        if chunked {
            let mut size_line = String::new();
            if reader.read_line(&mut size_line).unwrap_or(0) == 0 {
                return;
            }
            let Ok(size) = usize::from_str_radix(size_line.trim(), 16) else {
                continue;
            };
            if size == 0 {
                return;
            }
            let mut chunk = vec![0; size + 2];
            if reader.read_exact(&mut chunk).is_err() {
                return;
            }
            chunk.truncate(size);
            piece.push_str(&String::from_utf8_lossy(&chunk));
        } else if reader.read_line(&mut piece).unwrap_or(0) == 0 {
            return;
        }
        pending.push_str(&piece);
        while let Some(end) = pending.find("\n\n") {
            let block: String = pending.drain(..end + 2).collect();
            let mut kind = String::from("message");
            let mut data = String::new();
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("event:") {
                    kind = value.trim().to_string();
                } else if let Some(value) = line.strip_prefix("data:") {
                    data.push_str(value.trim_start());
                }
            }
            if data.is_empty() {
                continue; // keep-alive comment
            }
            let event = StreamEvent {
                kind,
                data: serde_json::from_str(&data).unwrap_or(Value::String(data)),
                at: Instant::now(),
            };
            if sender.send(event).is_err() {
                return;
            }
        }
    }
}

/// Signs the test officer in on the daemon at `http` (reached with `token`), retrying until
/// `wait` has passed (the account may still be replicating), and returns the session cookie as
/// `name=value`; `log` is what the daemon logged, shown when it never succeeds.
pub fn officer_cookie(
    http: SocketAddr,
    token: &str,
    wait: Duration,
    log: impl Fn() -> String,
) -> String {
    let body = serde_json::json!({"officer_id": OFFICER_ID, "secret": OFFICER_SECRET});
    let deadline = Instant::now() + wait;
    loop {
        let answer = exchange(
            http,
            "POST",
            "/api/v1/session",
            Some(&body),
            Some(token),
            "",
        );
        let cookie = answer.as_ref().and_then(|(code, head, _)| {
            let line = head
                .lines()
                .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))?;
            (*code == 200).then(|| line["set-cookie:".len()..].split(';').next())?
        });
        if let Some(cookie) = cookie {
            return cookie.trim().to_string();
        }
        assert!(
            Instant::now() < deadline,
            "sign-in: {answer:?}; log:\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
