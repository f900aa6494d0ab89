//! The real `checkpointd` binary under a stand-in service manager: `NOTIFY_SOCKET` points at a
//! Unix datagram socket this test owns. It checks READY, periodic WATCHDOG, reload on SIGHUP
//! (bad kept out, good applied), STOPPING and a clean exit within 5 s of SIGTERM.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const VALID: &str = r#"data_dir = "data"
rules_file = "stay-rules.toml"

[checkpoint]
id = "AZ-TEST-1"
name = "Test checkpoint"
kind = "land"
lane = "1"
time_zone = "Asia/Baku"
mode = "officer"
direction = "exit"

[ledger]
cache_capacity_bytes = 8388608

[upstream]
nats_url = "nats://127.0.0.1:4222"
events_stream = "EVENTS"
ledger_stream = "LEDGER"
duplicate_window_hours = 72
heartbeat_every_s = 30

[keys]
ledger_roots = ["3505c95ea6d24a38bf5cfc4b9cf661c20f6720532432e2a1b1857f939f53c61b"]
ledger_root_threshold = 1
terminal_key = "keys/terminal.key"

[limits]
scan_frame_bytes_max = 4096
outbox_events_max = 1000
shutdown_grace_ms = 2000

[lane]
session_window_ms = 30000
ledger_stale_after_s = 86400
clock_backwards_tolerance_ms = 2000

[api]
socket = "api.sock"
group = "@GROUP@"

[retention]
movement_days = 400
"#;

/// The watchdog timeout handed to the daemon; it must ping every half of it.
const WATCHDOG_USEC: u64 = 400_000;
/// How long the test waits for any one notification.
const NOTIFY_WAIT: Duration = Duration::from_secs(10);
/// The issue's bound on a graceful stop.
const STOP_BOUND: Duration = Duration::from_secs(5);

/// The configuration text with `@GROUP@` replaced by this process's group, which the API
/// group check can resolve on any machine.
fn with_own_group(config: &str) -> String {
    let group = nix::unistd::Group::from_gid(nix::unistd::getegid())
        .expect("look up own group")
        .expect("own group exists");
    config.replace("@GROUP@", &group.name)
}

struct Daemon {
    dir: tempfile::TempDir,
    socket: UnixDatagram,
    child: Child,
}

impl Daemon {
    fn start(config: &str) -> Self {
        Self::start_over(config, |_| {})
    }

    /// Starts the daemon after `prepare` has been given its data directory.
    fn start_over(config: &str, prepare: impl FnOnce(&Path)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let firmware = dir.path().join("firmware-config");
        let data = firmware.join("data");
        std::fs::create_dir_all(&data).expect("mkdir data");
        prepare(&data);
        std::fs::create_dir_all(firmware.join("keys")).expect("mkdir");
        std::fs::create_dir_all(dir.path().join("devices")).expect("mkdir");
        std::fs::copy(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/firmware-config/stay-rules.toml"
            ),
            firmware.join("stay-rules.toml"),
        )
        .expect("rules");
        let key = firmware.join("keys/terminal.key");
        std::fs::write(&key, format!("{}\n", "7".repeat(64))).expect("key");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        std::fs::write(firmware.join("checkpoint.toml"), with_own_group(config)).expect("config");
        let socket_path = dir.path().join("notify.sock");
        let socket = UnixDatagram::bind(&socket_path).expect("bind notify socket");
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let log = std::fs::File::create(dir.path().join("daemon.log")).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_checkpointd"))
            .arg("--config")
            .arg(firmware.join("checkpoint.toml"))
            .args(["--log-format", "json"])
            .env("NOTIFY_SOCKET", &socket_path)
            .env("WATCHDOG_USEC", WATCHDOG_USEC.to_string())
            .env_remove("WATCHDOG_PID")
            .env_remove("JOURNAL_STREAM")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn checkpointd");
        Self { dir, socket, child }
    }

    fn write_config(&self, config: &str) {
        std::fs::write(self.config_path(), with_own_group(config)).expect("write config");
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("firmware-config/checkpoint.toml")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    fn signal(&self, signal: Signal) {
        let pid = i32::try_from(self.child.id()).expect("pid fits i32");
        kill(Pid::from_raw(pid), signal).expect("send signal");
    }

    /// Datagrams until one contains `needle`; panics after [`NOTIFY_WAIT`].
    fn wait_for(&self, needle: &str) -> Vec<String> {
        let deadline = Instant::now() + NOTIFY_WAIT;
        let mut seen = Vec::new();
        let mut buffer = [0_u8; 4096];
        while Instant::now() < deadline {
            if let Ok(length) = self.socket.recv(&mut buffer) {
                let message = String::from_utf8_lossy(&buffer[..length]).into_owned();
                let found = message.contains(needle);
                seen.push(message);
                if found {
                    return seen;
                }
            }
        }
        panic!(
            "no notification containing {needle:?}; seen {seen:?}; log:\n{}",
            self.log()
        );
    }

    /// Waits for the process to exit, returning its code and how long it took.
    fn wait_exit(&mut self) -> (Option<i32>, Duration) {
        let started = Instant::now();
        while started.elapsed() < NOTIFY_WAIT {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return (status.code(), started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        panic!("checkpointd did not exit; log:\n{}", self.log());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // Never leave a daemon behind when an assertion fails.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn count(messages: &[String], needle: &str) -> usize {
    messages
        .iter()
        .filter(|message| message.contains(needle))
        .count()
}

#[test]
fn ready_watchdog_reload_and_stop() {
    let mut daemon = Daemon::start(VALID);
    let startup = daemon.wait_for("READY=1");
    assert!(
        startup
            .iter()
            .any(|message| message.contains("STATUS=running")),
        "{startup:?}"
    );

    // Pinged every 200 ms: 1.5 s must bring several pings.
    let started = Instant::now();
    let mut pings = Vec::new();
    while started.elapsed() < Duration::from_millis(1500) {
        pings.extend(daemon.wait_for("WATCHDOG=1"));
    }
    let n_pings = count(&pings, "WATCHDOG=1");
    assert!((4..=12).contains(&n_pings), "{n_pings} pings in 1.5 s");

    // A bad reload is refused: the daemon keeps running and says so.
    daemon.write_config(&VALID.replace("Asia/Baku", "Mars/Olympus"));
    daemon.signal(Signal::SIGHUP);
    let refused = daemon.wait_for("STATUS=reload failed");
    assert!(
        refused.iter().any(|message| message.contains("lane 1")),
        "{refused:?}"
    );
    daemon.wait_for("WATCHDOG=1");
    assert!(
        daemon.child.try_wait().expect("try_wait").is_none(),
        "daemon died"
    );
    assert!(daemon.log().contains("Mars/Olympus"), "{}", daemon.log());

    // A good reload is applied; a new lane (the terminal id) waits for a restart, and STATUS=
    // says so.
    daemon.write_config(&VALID.replace("lane = \"1\"", "lane = \"7\""));
    daemon.signal(Signal::SIGHUP);
    let applied = daemon.wait_for("restart required: checkpoint.lane");
    assert!(
        applied
            .iter()
            .any(|message| message.contains("READY=1") && message.contains("lane 1,")),
        "the terminal runs as lane 1 until restarted: {applied:?}"
    );
    assert!(
        daemon.log().contains("restart required: checkpoint.lane"),
        "{}",
        daemon.log()
    );

    daemon.signal(Signal::SIGTERM);
    daemon.wait_for("STOPPING=1");
    let (code, took) = daemon.wait_exit();
    assert_eq!(code, Some(0), "log:\n{}", daemon.log());
    assert!(took < STOP_BOUND, "stop took {took:?}");
}

#[test]
fn sigint_stops_cleanly_too() {
    let mut daemon = Daemon::start(VALID);
    daemon.wait_for("READY=1");
    daemon.signal(Signal::SIGINT);
    daemon.wait_for("STOPPING=1");
    let (code, took) = daemon.wait_exit();
    assert_eq!(code, Some(0), "log:\n{}", daemon.log());
    assert!(took < STOP_BOUND, "stop took {took:?}");
}

#[test]
fn invalid_config_exits_with_the_config_code_and_never_says_ready() {
    let mut daemon = Daemon::start(&VALID.replace("kind = \"land\"", "kind = \"river\""));
    let (code, _) = daemon.wait_exit();
    assert_eq!(code, Some(78), "log:\n{}", daemon.log());
    let mut buffer = [0_u8; 4096];
    let mut messages = Vec::new();
    while let Ok(length) = daemon.socket.recv(&mut buffer) {
        messages.push(String::from_utf8_lossy(&buffer[..length]).into_owned());
    }
    assert_eq!(count(&messages, "READY=1"), 0, "{messages:?}");
    assert!(
        daemon.log().contains("unknown variant `river`"),
        "{}",
        daemon.log()
    );
    assert!(Path::new(env!("CARGO_BIN_EXE_checkpointd")).exists());
}

/// A ledger replica that no longer opens (a file cut short under it) does not keep the terminal
/// down: it is moved aside, the daemon comes up on an empty replica that replication fills again,
/// and the log says what happened.
#[test]
fn a_corrupt_ledger_replica_is_set_aside_and_the_daemon_comes_up() {
    use checkpointd::adapters::ledger::{CACHE_CAPACITY_DEFAULT, SledLedger};
    use checkpointd::core::ledger::state::IndexConsistency;
    use checkpointd::core::ledger::{
        AlertKind, AlertRaised, Change, Checkpoint, Cursor, extend, verify_batch,
    };
    use checkpointd::ports::ledger::LedgerStore;

    let mut daemon = Daemon::start_over(VALID, |data| {
        let replica = data.join("ledger");
        let store = SledLedger::open(&replica, CACHE_CAPACITY_DEFAULT).expect("replica");
        let time = "2026-05-01T00:00:00Z".parse().expect("time");
        let changes = vec![Change::Alert(AlertRaised {
            holder: [1; 32],
            alert: AlertKind::Lost,
            note: "reported".into(),
        })];
        let (encoded, head) = extend(0, [0; 32], changes, time);
        let checkpoint = Checkpoint {
            size: 1,
            root: head,
            time,
        };
        let batch = verify_batch(&Cursor::EMPTY, encoded, checkpoint).expect("chain");
        store
            .apply(&batch, b"cp", &IndexConsistency)
            .expect("applied");
        drop(store);
        std::fs::write(replica.join("entries.end"), b"").expect("cut");
    });
    daemon.wait_for("READY=1");
    let log = daemon.log();
    assert!(
        log.contains("ledger replica corrupt: moved aside") && log.contains("entries.end"),
        "{log}"
    );
    assert!(
        daemon
            .dir
            .path()
            .join("firmware-config/data/ledger.corrupt/entries.log")
            .exists()
    );
    daemon.signal(Signal::SIGTERM);
    let (code, _) = daemon.wait_exit();
    assert_eq!(code, Some(0), "log:\n{}", daemon.log());
}

/// The replica holds person alerts' names: one that other users can read (a directory they may
/// enter, a file they may read) stops the start, with what to do, before READY.
#[test]
fn a_ledger_replica_others_can_read_is_refused_at_start() {
    use checkpointd::adapters::ledger::{CACHE_CAPACITY_DEFAULT, SledLedger};

    let mut daemon = Daemon::start_over(VALID, |data| {
        let replica = data.join("ledger");
        drop(SledLedger::open(&replica, CACHE_CAPACITY_DEFAULT).expect("replica"));
        std::fs::set_permissions(&replica, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::fs::set_permissions(replica.join("db"), std::fs::Permissions::from_mode(0o644))
            .expect("chmod");
    });
    let (code, _) = daemon.wait_exit();
    assert_ne!(code, Some(0), "log:\n{}", daemon.log());
    let log = daemon.log();
    assert!(
        log.contains("holds person alerts and other users can read it") && log.contains("chmod"),
        "{log}"
    );
}
