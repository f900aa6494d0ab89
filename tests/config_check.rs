//! `--check-config` and the configuration loader against real files: the shipped configuration
//! passes; broken ones are refused with every problem listed at its line and column.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use checkpointd::config::{self, ConfigError, Connection, Direction, LoadOptions, Mode};

/// A valid kiosk configuration with no scanners; `@GROUP@` becomes the test's own group.
const VALID: &str = r#"data_dir = "data"
rules_file = "stay-rules.toml"

[checkpoint]
id = "AZ-TEST-1"
name = "Test checkpoint"
kind = "land"
lane = "1"
time_zone = "Asia/Baku"
mode = "kiosk"
direction = "entry"

[ledger]
cache_capacity_bytes = 8388608
# the replica is flushed after every applied batch: no flush interval

[upstream]
nats_url = "nats://127.0.0.1:4222"
events_stream = "EVENTS"
ledger_stream = "LEDGER"
duplicate_window_hours = 72
heartbeat_every_s = 30

[keys]
ledger_roots = ["3505c95ea6d24a38bf5cfc4b9cf661c20f6720532432e2a1b1857f939f53c61b", "4e4a16636c3ec508c2ff2473df773003c66d0feef5764952c06b98afe192c1a8"]
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
http = "127.0.0.1:8480"
token_file = "keys/api.token"

[gate]
profile = "gate.toml"
port = "/dev/ttyUSB0"

[retention]
movement_days = 400
"#;

const ROOT_1: &str = "3505c95ea6d24a38bf5cfc4b9cf661c20f6720532432e2a1b1857f939f53c61b";
const ROOT_2: &str = "4e4a16636c3ec508c2ff2473df773003c66d0feef5764952c06b98afe192c1a8";
/// A valid secret seed for the terminal key files the tests write.
const SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const TOKEN: &str = "0123456789abcdef0123";

/// The name of this process's group: the API group every test configuration can resolve.
fn own_group() -> String {
    nix::unistd::Group::from_gid(nix::unistd::getegid())
        .expect("look up own group")
        .expect("own group exists")
        .name
}

/// Writes `text` at `path` with `mode`.
fn write_with_mode(path: &Path, text: &str, mode: u32) {
    std::fs::write(path, text).expect("write file");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A checkout-like tree: `firmware-config/` (config, rules, keys) next to `devices/`.
struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let firmware = dir.path().join("firmware-config");
        let keys = firmware.join("keys");
        let devices = firmware.join("devices");
        std::fs::create_dir_all(&keys).expect("mkdir keys");
        std::fs::create_dir_all(&devices).expect("mkdir devices");
        std::fs::copy(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/firmware-config/stay-rules.toml"
            ),
            firmware.join("stay-rules.toml"),
        )
        .expect("rules");
        write_with_mode(&keys.join("terminal.key"), &format!("{SEED}\n"), 0o600);
        write_with_mode(&keys.join("open.key"), &format!("{SEED}\n"), 0o644);
        write_with_mode(&keys.join("bad.key"), "not a key\n", 0o600);
        write_with_mode(&keys.join("api.token"), &format!("  {TOKEN}\n"), 0o600);
        write_with_mode(&keys.join("short.token"), "short\n", 0o600);
        std::fs::write(devices.join("swipe.toml"), "# profile\n").expect("profile");
        std::fs::copy(
            repo_devices().join("gate-serial-relay.toml"),
            devices.join("gate.toml"),
        )
        .expect("gate profile");
        Self { dir }
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("firmware-config/checkpoint.toml")
    }

    fn write(&self, text: &str) -> PathBuf {
        let path = self.config_path();
        std::fs::write(&path, text.replace("@GROUP@", &own_group())).expect("write config");
        path
    }
}

fn repo_devices() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("devices")
}

/// The shipped configuration deployed by the README's install lines, with `/etc/checkpointd`
/// a temp dir: `cp -r firmware-config/* devices` into it, the two secrets created there, the
/// console group the test's own. Everything else is the shipped text unchanged.
fn deployed_shipped_config() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let etc = dir.path().join("etc/checkpointd");
    std::fs::create_dir_all(&etc).expect("mkdir etc");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let status = Command::new("sh")
        .arg("-c")
        .arg("cp -r firmware-config/* \"$1\"/ && cp -r devices \"$1\"/")
        .arg("install")
        .arg(&etc)
        .current_dir(repo)
        .status()
        .expect("run cp");
    assert!(status.success(), "README install lines failed");
    write_with_mode(&etc.join("terminal.key"), SEED, 0o600);
    write_with_mode(&etc.join("api.token"), TOKEN, 0o600);
    let path = etc.join("checkpoint.toml");
    let shipped = std::fs::read_to_string(&path).expect("read shipped config");
    assert!(shipped.contains("\"/etc/checkpointd/terminal.key\""));
    assert!(shipped.contains("\"/etc/checkpointd/api.token\""));
    assert!(shipped.contains("group = \"checkpointd-console\""));
    let text = shipped
        .replace("\"/etc/checkpointd/", &format!("\"{}/", etc.display()))
        .replace(
            "group = \"checkpointd-console\"",
            &format!("group = \"{}\"", own_group()),
        );
    std::fs::write(&path, text).expect("write config");
    (dir, path)
}

fn run(binary: &str, arguments: &[&str]) -> Output {
    Command::new(binary)
        .args(arguments)
        .output()
        .expect("run binary")
}

fn problems(path: &Path) -> Vec<(usize, String)> {
    match config::load(path, &LoadOptions::default()) {
        Err(ConfigError::Invalid(problems)) => problems
            .problems
            .into_iter()
            .map(|problem| (problem.line, problem.message))
            .collect(),
        other => panic!("expected problems, got {other:?}"),
    }
}

#[test]
fn shipped_config_is_valid_once_deployed() {
    let (_dir, path) = deployed_shipped_config();
    let config = config::load(&path, &LoadOptions::default()).expect("shipped config");
    assert_eq!(config.checkpoint.id, "AZ-GYD-T1");
    assert_eq!(config.checkpoint.time_zone.iana_name(), Some("Asia/Baku"));
    assert_eq!(config.checkpoint.direction, Direction::Entry);
    assert_eq!(config.checkpoint.mode, Mode::Officer);
    assert_eq!(config.devices.len(), 2);
    assert_eq!(
        config.devices[1].connection,
        Connection::Usb {
            vendor_id: 0x0c2e,
            product_id: 0x0720
        }
    );
    assert_eq!(config.upstream.events_stream, "EVENTS");
    assert_eq!(config.upstream.ledger_stream, "LEDGER");
    assert_eq!(config.upstream.duplicate_window.as_secs(), 72 * 3600);
    assert_eq!(config.keys.ledger_roots.len(), 2);
    assert_eq!(config.keys.ledger_root_threshold.get(), 2);
    assert_eq!(config.lane.session_window.as_millis(), 30_000);
    assert_eq!(config.retention.movement_days, 400);
    assert_eq!(
        config.retention.prune_every.as_secs(),
        3600,
        "default when absent"
    );
    assert!(config.gate.is_none());
    let http = config.api.http.as_ref().expect("http enabled");
    assert_eq!(http.address.to_string(), "127.0.0.1:8480");
    assert_eq!(http.token.expose(), TOKEN);
    // Secrets stay out of Debug output.
    let debug = format!("{config:?}");
    assert!(!debug.contains(TOKEN), "token in {debug}");
    assert!(!debug.contains(SEED), "seed in {debug}");
}

#[test]
fn both_binaries_accept_the_shipped_config_once_deployed() {
    let (_dir, path) = deployed_shipped_config();
    let path_text = path.to_str().expect("utf-8 path");
    let daemon = run(
        env!("CARGO_BIN_EXE_checkpointd"),
        &["--check-config", path_text],
    );
    assert_eq!(daemon.status.code(), Some(0), "{daemon:?}");
    let ctl = run(
        env!("CARGO_BIN_EXE_checkpointctl"),
        &["check-config", path_text],
    );
    assert_eq!(ctl.status.code(), Some(0), "{ctl:?}");
    assert!(String::from_utf8_lossy(&ctl.stdout).contains("valid"));

    // Whatever start-up parses, the check parses: a broken profile or programming file is a
    // configuration error (78), not a daemon that starts and exits 1 in a restart loop.
    let etc = path.parent().expect("config dir");
    for (file, text) in [
        (
            "devices/generic-mrz-rs232.toml",
            "transport = \"carrier-pigeon\"\n",
        ),
        ("scanners/honeywell-2d.toml", "[[command]]\nsend = 42\n"),
    ] {
        let original = std::fs::read_to_string(etc.join(file)).expect("read");
        std::fs::write(etc.join(file), text).expect("break the file");
        for (binary, arguments) in [
            (
                env!("CARGO_BIN_EXE_checkpointd"),
                ["--check-config", path_text],
            ),
            (
                env!("CARGO_BIN_EXE_checkpointctl"),
                ["check-config", path_text],
            ),
        ] {
            let output = run(binary, &arguments);
            assert_eq!(output.status.code(), Some(78), "{file}: {output:?}");
            assert!(
                String::from_utf8_lossy(&output.stderr)
                    .contains(file.split('/').nth(1).unwrap_or(file)),
                "{file}: {output:?}"
            );
        }
        std::fs::write(etc.join(file), original).expect("restore");
    }
}

#[test]
fn kiosk_gate_and_api_are_typed() {
    let tree = Tree::new();
    let config = config::load(&tree.write(VALID), &LoadOptions::default()).expect("valid");
    let gate = config.gate.expect("kiosk has a gate");
    assert_eq!(gate.port, PathBuf::from("/dev/ttyUSB0"));
    assert_eq!(gate.profile.open_command, "OPEN\r");
    assert_eq!(
        config.api.gid,
        nix::unistd::getegid().as_raw(),
        "group resolved to its id"
    );
    assert_eq!(
        config.api.socket,
        tree.dir.path().join("firmware-config/api.sock")
    );
    let http = config.api.http.expect("http");
    assert_eq!(
        http.token.expose(),
        TOKEN,
        "token is the trimmed file content"
    );
    assert_eq!(hex::encode(config.keys.ledger_roots[1].as_bytes()), ROOT_2);
    assert_eq!(
        hex::encode(config.keys.terminal_key.signing_key().to_bytes()),
        SEED
    );
}

#[test]
fn zero_devices_is_valid_and_paths_resolve_against_the_config_dir() {
    let tree = Tree::new();
    let path = tree.write(VALID);
    let config = config::load(&path, &LoadOptions::default()).expect("valid");
    assert!(config.devices.is_empty());
    assert_eq!(
        config.rules_file,
        tree.dir.path().join("firmware-config/stay-rules.toml")
    );
    assert_eq!(
        config.data_dir,
        tree.dir.path().join("firmware-config/data")
    );
}

#[test]
fn device_profiles_are_found_in_the_devices_dir_beside_the_file_or_the_override() {
    let tree = Tree::new();
    let text = format!(
        "{VALID}\n[[devices]]\nname = \"swipe\"\nprofile = \"swipe.toml\"\nport = \"/dev/ttyS0\"\n"
    );
    let path = tree.write(&text);
    let config = config::load(&path, &LoadOptions::default()).expect("valid");
    assert_eq!(
        config.devices[0].profile_path,
        tree.dir.path().join("firmware-config/devices/swipe.toml")
    );

    let elsewhere = tempfile::tempdir().expect("temp dir");
    let options = LoadOptions {
        devices_dir: Some(elsewhere.path().to_path_buf()),
    };
    let error = config::load(&path, &options).expect_err("profile not in override dir");
    assert!(
        error
            .to_string()
            .contains("device profile `swipe.toml` not found"),
        "{error}"
    );
    std::fs::write(elsewhere.path().join("swipe.toml"), "").expect("profile");
    std::fs::copy(
        repo_devices().join("gate-serial-relay.toml"),
        elsewhere.path().join("gate.toml"),
    )
    .expect("gate profile");
    let config = config::load(&path, &options).expect("profiles in override dir");
    assert_eq!(
        config.gate.expect("gate").profile_path,
        elsewhere.path().join("gate.toml")
    );
}

/// One problem per case: (what to replace in VALID, replacement, line expected, message part).
#[test]
fn each_kind_of_problem_is_reported_at_its_line() {
    let cases: &[(&str, &str, usize, &str)] = &[
        (
            "mode = \"kiosk\"",
            "mode = \"kiosk\"\nmood = \"calm\"",
            11,
            "unknown field `mood`",
        ),
        (
            "lane = \"1\"",
            "lane = 1",
            8,
            "invalid type: integer `1`, expected a string",
        ),
        (
            "kind = \"land\"",
            "kind = \"river\"",
            7,
            "unknown variant `river`",
        ),
        (
            "Asia/Baku",
            "Asia/Bakuu",
            9,
            "unknown time zone `Asia/Bakuu`",
        ),
        ("stay-rules.toml", "no-rules.toml", 2, "rules file"),
        (
            "id = \"AZ-TEST-1\"",
            "id = \"az test\"",
            5,
            "checkpoint id `az test`",
        ),
        (
            "nats://127.0.0.1:4222",
            "http://central",
            18,
            "nats_url `http://central`",
        ),
        (
            "shutdown_grace_ms = 2000",
            "shutdown_grace_ms = 0",
            32,
            "out of range",
        ),
        (
            "cache_capacity_bytes = 8388608\n",
            "cache_capacity_bytes = 8388608\nflush_every_ms = 100\n",
            15,
            "unknown field `flush_every_ms`",
        ),
        ("[ledger]", "[ledgr]", 13, "unknown field `ledgr`"),
        (
            "ledger_stream = \"LEDGER\"",
            "ledger_stream = \"LED.GER\"",
            20,
            "stream name",
        ),
    ];
    for (from, to, line, message) in cases {
        let tree = Tree::new();
        assert!(VALID.contains(from), "case {from:?} does not apply");
        let path = tree.write(&VALID.replacen(from, to, 1));
        let found = problems(&path);
        assert!(
            found
                .iter()
                .any(|(at, text)| at == line && text.contains(message)),
            "case {to:?}: expected line {line} `{message}`, got {found:?}"
        );
    }
}

/// The problems of the keys added for the lane, the API, the gate, the ledger roots, the
/// terminal key and retention: (replace, with, line, column, message part).
#[test]
fn each_new_kind_of_problem_is_reported_at_its_line_and_column() {
    let root_1 = format!("\"{ROOT_1}\"");
    let root_2 = format!("\"{ROOT_2}\"");
    let invalid_point = format!("\"02{}\"", "0".repeat(62));
    let cases: Vec<(&str, &str, usize, usize, &str)> = vec![
        (
            "direction = \"entry\"",
            "direction = \"sideways\"",
            11,
            13,
            "unknown variant `sideways`",
        ),
        (
            "direction = \"entry\"\n",
            "",
            4,
            1,
            "missing key `checkpoint.direction`",
        ),
        (
            "duplicate_window_hours = 72",
            "duplicate_window_hours = 0",
            21,
            26,
            "duplicate_window_hours 0 is out of range",
        ),
        (
            "heartbeat_every_s = 30\n",
            "",
            17,
            1,
            "missing key `upstream.heartbeat_every_s`",
        ),
        (
            &root_1,
            "\"abc\"",
            25,
            17,
            "expected 64 hex characters, found 3",
        ),
        (
            &root_2,
            &invalid_point,
            25,
            85,
            "not a point on the Ed25519 curve",
        ),
        (&root_2, &root_1, 25, 85, "listed twice"),
        (
            "ledger_roots = [",
            "ledger_roots = [] #",
            25,
            16,
            "ledger_roots is empty",
        ),
        (
            "ledger_root_threshold = 1",
            "ledger_root_threshold = 3",
            26,
            25,
            "expected 1 to the number of ledger_roots (2)",
        ),
        (
            "ledger_root_threshold = 1",
            "ledger_root_threshold = 0",
            26,
            25,
            "ledger_root_threshold 0 is out of range",
        ),
        (
            "ledger_root_threshold = 1",
            "ledger_root_threshold = 1\npermit_issuers = []",
            27,
            1,
            "unknown field `permit_issuers`",
        ),
        (
            "keys/terminal.key",
            "keys/open.key",
            27,
            16,
            "readable by group or others (mode 0644)",
        ),
        (
            "keys/terminal.key",
            "keys/bad.key",
            27,
            16,
            "is not an Ed25519 secret seed",
        ),
        (
            "keys/terminal.key",
            "keys/absent.key",
            27,
            16,
            "is not readable: No such file",
        ),
        (
            "session_window_ms = 30000",
            "session_window_ms = 10",
            35,
            21,
            "session_window_ms 10 is out of range",
        ),
        (
            "ledger_stale_after_s = 86400",
            "ledger_stale_after_s = 0",
            36,
            24,
            "ledger_stale_after_s 0 is out of range",
        ),
        (
            "socket = \"api.sock\"",
            "socket = \"api.sock\"\nsockett = 1",
            41,
            1,
            "unknown field `sockett`",
        ),
        (
            "group = \"@GROUP@\"",
            "group = \"no-such-group-x\"",
            41,
            9,
            "unknown group `no-such-group-x`",
        ),
        (
            "http = \"127.0.0.1:8480\"",
            "http = \"0.0.0.0:8480\"",
            42,
            8,
            "not a loopback address",
        ),
        (
            "http = \"127.0.0.1:8480\"",
            "http = \"localhost\"",
            42,
            8,
            "expected an address and port",
        ),
        (
            "token_file = \"keys/api.token\"\n",
            "",
            42,
            8,
            "http needs token_file",
        ),
        (
            "keys/api.token",
            "keys/short.token",
            43,
            14,
            "expected at least 16",
        ),
        (
            "[gate]\nprofile = \"gate.toml\"\nport = \"/dev/ttyUSB0\"\n",
            "",
            10,
            8,
            "needs a [gate] table",
        ),
        (
            "mode = \"kiosk\"",
            "mode = \"officer\"",
            45,
            1,
            "[gate] is for kiosk mode only",
        ),
        (
            "profile = \"gate.toml\"",
            "profile = \"swipe.toml\"",
            46,
            11,
            "is not valid",
        ),
        (
            "port = \"/dev/ttyUSB0\"",
            "port = \"ttyUSB0\"",
            47,
            8,
            "expected an absolute device path",
        ),
        (
            "movement_days = 400",
            "movement_days = 180",
            50,
            17,
            "expected 366 (the longest stay window",
        ),
        (
            "movement_days = 400",
            "movement_days = 400\nprune_every_s = 0",
            51,
            17,
            "prune_every_s 0 is out of range",
        ),
        (
            "movement_days = 400",
            "movement_days = 400\ncache_capacity_bytes = 0",
            51,
            24,
            "cache_capacity_bytes 0 is out of range",
        ),
        (
            "[retention]\nmovement_days = 400\n",
            "",
            1,
            1,
            "missing key `retention`",
        ),
    ];
    for (from, to, line, column, message) in cases {
        let tree = Tree::new();
        assert!(VALID.contains(from), "case {from:?} does not apply");
        let path = tree.write(&VALID.replacen(from, to, 1));
        let found = match config::load(&path, &LoadOptions::default()) {
            Err(ConfigError::Invalid(problems)) => problems.problems,
            other => panic!("case {to:?}: expected problems, got {other:?}"),
        };
        assert!(
            found.iter().any(|problem| problem.line == line
                && problem.column == column
                && problem.message.contains(message)),
            "case {to:?}: expected {line}:{column} `{message}`, got {found:?}"
        );
    }
}

#[test]
fn device_problems_are_reported() {
    let cases: &[(&str, &str)] = &[
        (
            "profile = \"absent.toml\"\nport = \"/dev/ttyS0\"",
            "device profile `absent.toml` not found",
        ),
        (
            "profile = \"../escape.toml\"\nport = \"/dev/ttyS0\"",
            "expected a file name inside",
        ),
        ("profile = \"swipe.toml\"", "neither `port` nor `usb`"),
        ("profile = \"swipe.toml\"\nusb = \"0c2e\"", "usb `0c2e`"),
        (
            "profile = \"swipe.toml\"\nport = \"ttyS0\"",
            "expected an absolute device path",
        ),
    ];
    for (body, message) in cases {
        let tree = Tree::new();
        let path = tree.write(&format!("{VALID}\n[[devices]]\nname = \"d\"\n{body}\n"));
        let found = problems(&path);
        assert!(
            found.iter().any(|(_, text)| text.contains(message)),
            "case {body:?}: expected `{message}`, got {found:?}"
        );
    }
}

#[test]
fn every_problem_of_a_broken_file_is_listed_at_once_by_both_binaries() {
    let tree = Tree::new();
    let broken = VALID
        .replacen("mode = \"kiosk\"", "mode = \"kiosk\"\ncolour = \"blue\"", 1) // line 11
        .replacen("Asia/Baku", "Mars/Olympus", 1) // line 9
.replacen(
            "cache_capacity_bytes = 8388608",
            "cache_capacity_bytes = \"fast\"",
            1,
        ) // line 15
        .replacen("keys/terminal.key", "keys/gone.key", 1) // line 28
        + "\n[[devices]]\nname = \"d\"\nprofile = \"gone.toml\"\nport = \"/dev/ttyS0\"\n"; // line 55
    let path = tree.write(&broken);
    let found = problems(&path);
    let lines: Vec<usize> = found.iter().map(|(line, _)| *line).collect();
    assert_eq!(lines, vec![9, 11, 15, 28, 55], "{found:?}");

    let path = path.to_str().expect("utf-8 path");
    for output in [
        run(env!("CARGO_BIN_EXE_checkpointd"), &["--check-config", path]),
        run(env!("CARGO_BIN_EXE_checkpointctl"), &["check-config", path]),
    ] {
        assert_eq!(output.status.code(), Some(78), "{output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        for (line, column) in [(9, 13), (11, 1), (15, 24), (28, 16), (55, 11)] {
            let position = format!("{path}:{line}:{column}: ");
            assert!(
                stderr.contains(&position),
                "{position} missing in:\n{stderr}"
            );
        }
    }
}

#[test]
fn syntax_errors_and_missing_files_are_config_errors() {
    let tree = Tree::new();
    let path = tree.write("[checkpoint\nid = 1\n");
    let found = problems(&path);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, 1);

    let missing = tree.dir.path().join("absent.toml");
    let output = run(
        env!("CARGO_BIN_EXE_checkpointd"),
        &["--check-config", missing.to_str().expect("utf-8 path")],
    );
    assert_eq!(output.status.code(), Some(78), "{output:?}");
}

/// `[upstream]` with seed URLs and TLS in place of the single `nats_url`.
fn with_transport(keys: &str) -> String {
    VALID.replacen(
        "nats_url = \"nats://127.0.0.1:4222\"\n",
        &format!("{keys}\n"),
        1,
    )
}

#[test]
fn seed_urls_tls_and_replicas_are_typed_and_checked() {
    let tree = Tree::new();
    let keys = tree.dir.path().join("firmware-config/keys");
    std::fs::write(
        keys.join("central-ca.pem"),
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    )
    .expect("ca");
    std::fs::write(
        keys.join("terminal.pem"),
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    )
    .expect("cert");
    write_with_mode(
        &keys.join("terminal-tls.key"),
        "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n",
        0o600,
    );
    write_with_mode(
        &keys.join("open-tls.key"),
        "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n",
        0o644,
    );
    let full = with_transport(
        "urls = [\"tls://10.0.0.1:4222\", \"tls://10.0.0.2:4222\", \"tls://10.0.0.3:4222\"]\n\
         ca_file = \"keys/central-ca.pem\"\nclient_cert_file = \"keys/terminal.pem\"\n\
         client_key_file = \"keys/terminal-tls.key\"\nstream_replicas = 3",
    );
    let config = config::load(&tree.write(&full), &LoadOptions::default()).expect("valid");
    let upstream = config.upstream;
    assert_eq!(upstream.urls.len(), 3);
    assert_eq!(upstream.nats_url, "tls://10.0.0.1:4222");
    assert_eq!(upstream.stream_replicas, 3);
    let tls = upstream.tls.expect("tls");
    assert!(tls.ca_file.ends_with("keys/central-ca.pem"));
    let client = tls.client_certificate.expect("client certificate");
    assert!(client.key_file.ends_with("keys/terminal-tls.key"));

    let cases = [
        (
            "urls = [\"tls://10.0.0.1:4222\"]",
            "a tls:// URL needs ca_file",
        ),
        ("urls = []", "expected 1 to 16 seed URLs"),
        ("urls = [\"http://central\"]", "urls `http://central`"),
        (
            "nats_url = \"nats://a:4222\"\nurls = [\"nats://b:4222\"]",
            "nats_url and urls both given",
        ),
        (
            "urls = [\"tls://a:4222\"]\nca_file = \"keys/api.token\"",
            "holds no PEM block `-----BEGIN CERTIFICATE-----`",
        ),
        (
            "urls = [\"tls://a:4222\"]\nca_file = \"keys/central-ca.pem\"\nclient_cert_file = \"keys/terminal.pem\"",
            "client_cert_file and client_key_file go together",
        ),
        (
            "urls = [\"tls://a:4222\"]\nca_file = \"keys/central-ca.pem\"\nclient_cert_file = \"keys/terminal.pem\"\nclient_key_file = \"keys/open-tls.key\"",
            "is readable by group or others",
        ),
        (
            "urls = [\"nats://a:4222\"]\nclient_cert_file = \"keys/terminal.pem\"\nclient_key_file = \"keys/terminal-tls.key\"",
            "a client certificate needs TLS",
        ),
        (
            "urls = [\"nats://a:4222\"]\nstream_replicas = 7",
            "stream_replicas 7 is out of range",
        ),
    ];
    for (keys, message) in cases {
        let found = problems(&tree.write(&with_transport(keys)));
        assert!(
            found.iter().any(|(_, text)| text.contains(message)),
            "case {keys:?}: expected `{message}`, got {found:?}"
        );
    }
}

#[test]
fn a_token_file_readable_by_others_is_refused_like_a_key() {
    let tree = Tree::new();
    let keys = tree.dir.path().join("firmware-config/keys");
    write_with_mode(&keys.join("api.token"), &format!("{TOKEN}\n"), 0o644);
    let found = problems(&tree.write(VALID));
    assert!(
        found
            .iter()
            .any(|(_, message)| message.contains("api.token")
                && message.contains("readable by group or others (mode 0644)")),
        "{found:?}"
    );
}

/// `checkpointd --check-config` on `config`, killed if it has not answered within 10 s.
fn check_config_within_deadline(config: &Path) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_checkpointd"))
        .arg("--check-config")
        .arg(config)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn checkpointd");
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid fits"));
    let (done, finished) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let output = child.wait_with_output();
        let _ = done.send(());
        output
    });
    if finished
        .recv_timeout(std::time::Duration::from_secs(10))
        .is_err()
    {
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        panic!(
            "--check-config {} hung (killed after 10 s)",
            config.display()
        );
    }
    waiter
        .join()
        .expect("waiter thread")
        .expect("checkpointd output")
}

#[test]
fn a_fifo_named_anywhere_is_refused_without_hanging() {
    let tree = Tree::new();
    let fifo = tree.dir.path().join("firmware-config/keys/fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");

    let output = check_config_within_deadline(&fifo);
    assert_eq!(output.status.code(), Some(78), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("not a regular file (a FIFO)"),
        "{output:?}"
    );

    for (setting, value) in [
        (
            "terminal_key = \"keys/terminal.key\"",
            "terminal_key = \"keys/fifo\"",
        ),
        (
            "token_file = \"keys/api.token\"",
            "token_file = \"keys/fifo\"",
        ),
        (
            "rules_file = \"stay-rules.toml\"",
            "rules_file = \"keys/fifo\"",
        ),
    ] {
        assert!(VALID.contains(setting), "{setting}");
        let path = tree.write(&VALID.replace(setting, value));
        let output = check_config_within_deadline(&path);
        assert_eq!(output.status.code(), Some(78), "{value}: {output:?}");
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("not a regular file (a FIFO)")
                || String::from_utf8_lossy(&output.stderr).contains("not a regular file (a FIFO)"),
            "{value}: {output:?}"
        );
    }
}

#[test]
fn watchlist_threshold_defaults_to_0_72_is_validated_and_shown_by_check_config() {
    let tree = Tree::new();
    let path = tree.write(VALID);
    let config = config::load(&path, &LoadOptions::default()).expect("valid");
    assert_eq!(config.lane.watchlist_threshold.value(), 0.72);
    let set = VALID.replace(
        "clock_backwards_tolerance_ms = 2000\n",
        "clock_backwards_tolerance_ms = 2000\nwatchlist_threshold = 0.85\n",
    );
    assert_ne!(set, VALID);
    let path = tree.write(&set);
    let config = config::load(&path, &LoadOptions::default()).expect("valid");
    assert_eq!(config.lane.watchlist_threshold.value(), 0.85);
    let out = run(
        env!("CARGO_BIN_EXE_checkpointd"),
        &["--check-config", path.to_str().expect("utf-8")],
    );
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("watchlist threshold: 0.85"), "{stdout}");
    for bad in ["0.3", "1.5", "nan"] {
        let text = VALID.replace(
            "clock_backwards_tolerance_ms = 2000\n",
            &format!("clock_backwards_tolerance_ms = 2000\nwatchlist_threshold = {bad}\n"),
        );
        let path = tree.write(&text);
        let found = problems(&path);
        assert!(
            found
                .iter()
                .any(|(_, message)| message.contains("watchlist_threshold")
                    && message.contains("0.5 to 1")),
            "{bad}: {found:?}"
        );
    }
}

#[test]
fn a_pcsc_chip_reader_is_a_device_with_its_own_settings() {
    let tree = Tree::new();
    let path = tree.write(&format!(
        "{VALID}\n[[devices]]\nname = \"chip\"\npcsc = \"OMNIKEY\"\nrefuse_bac_fallback = true\nextended_length = true\n"
    ));
    let config = config::load(&path, &LoadOptions::default()).expect("valid");
    assert!(config.devices.is_empty(), "a chip reader is not a scanner");
    let reader = config.chip_reader.expect("chip reader");
    assert_eq!(reader.name, "chip");
    assert_eq!(reader.pattern, "OMNIKEY");
    assert!(reader.refuse_bac_fallback);
    assert!(reader.extended_length);

    let cases: &[(&str, &str)] = &[
        (
            "pcsc = \"OMNIKEY\"",
            "missing key `devices.refuse_bac_fallback`",
        ),
        (
            "pcsc = \"\"\nrefuse_bac_fallback = false",
            "pcsc reader pattern is empty",
        ),
        (
            "pcsc = \"X\"\nrefuse_bac_fallback = false\nport = \"/dev/ttyS0\"",
            "`port` is a scanner setting",
        ),
        (
            "profile = \"swipe.toml\"\nport = \"/dev/ttyS0\"\nrefuse_bac_fallback = true",
            "`refuse_bac_fallback` is a setting of a chip reader",
        ),
        (
            "pcsc = \"X\"\nrefuse_bac_fallback = \"yes\"",
            "expected a boolean",
        ),
    ];
    for (body, message) in cases {
        let tree = Tree::new();
        let path = tree.write(&format!("{VALID}\n[[devices]]\nname = \"d\"\n{body}\n"));
        let found = problems(&path);
        assert!(
            found.iter().any(|(_, text)| text.contains(message)),
            "case {body:?}: expected `{message}`, got {found:?}"
        );
    }
    let tree = Tree::new();
    let two = "[[devices]]\nname = \"a\"\npcsc = \"A\"\nrefuse_bac_fallback = true\n[[devices]]\nname = \"b\"\npcsc = \"B\"\nrefuse_bac_fallback = true\n";
    let found = problems(&tree.write(&format!("{VALID}\n{two}")));
    assert!(
        found
            .iter()
            .any(|(_, text)| text.contains("at most one pcsc chip reader")),
        "{found:?}"
    );
}

#[test]
fn a_chip_reader_takes_its_name_and_extended_length_from_a_profile_its_keys_override() {
    let tree = Tree::new();
    let devices = tree.dir.path().join("firmware-config/devices");
    for name in ["hid-omnikey-5022.toml", "pcsc-generic-contactless.toml"] {
        std::fs::copy(repo_devices().join(name), devices.join(name)).expect("chip profile");
    }
    std::fs::write(
        devices.join("broken.toml"),
        "[chip_reader]\nmodel = \"x\"\n",
    )
    .expect("write");
    let load = |body: &str| {
        let path = tree.write(&format!("{VALID}\n[[devices]]\nname = \"chip\"\n{body}\n"));
        config::load(&path, &LoadOptions::default())
    };
    let config =
        load("profile = \"hid-omnikey-5022.toml\"\nrefuse_bac_fallback = true").expect("valid");
    assert!(config.devices.is_empty(), "a chip reader is not a scanner");
    let reader = config.chip_reader.expect("chip reader");
    assert_eq!(reader.pattern, "OMNIKEY 5022");
    assert!(reader.extended_length);
    let config = load(
        "profile = \"hid-omnikey-5022.toml\"\npcsc = \"5022 CL\"\nextended_length = false\nrefuse_bac_fallback = true",
    )
    .expect("valid");
    let reader = config.chip_reader.expect("chip reader");
    assert_eq!(reader.pattern, "5022 CL");
    assert!(!reader.extended_length);
    let config = load(
        "profile = \"pcsc-generic-contactless.toml\"\npcsc = \"Contactless\"\nrefuse_bac_fallback = false",
    )
    .expect("valid");
    assert!(!config.chip_reader.expect("chip reader").extended_length);

    let cases: &[(&str, &str)] = &[
        (
            "profile = \"pcsc-generic-contactless.toml\"\nrefuse_bac_fallback = true",
            "chip reader has no reader name",
        ),
        (
            "profile = \"broken.toml\"\nrefuse_bac_fallback = true",
            "chip reader profile",
        ),
        (
            "profile = \"hid-omnikey-5022.toml\"\nrefuse_bac_fallback = true\nport = \"/dev/ttyS0\"",
            "`port` is a scanner setting",
        ),
        (
            "profile = \"hid-omnikey-5022.toml\"\npcsc = \"\"\nrefuse_bac_fallback = true",
            "pcsc reader pattern is empty",
        ),
        (
            "profile = \"hid-omnikey-5022.toml\"",
            "missing key `devices.refuse_bac_fallback`",
        ),
    ];
    for (body, message) in cases {
        let path = tree.write(&format!("{VALID}\n[[devices]]\nname = \"chip\"\n{body}\n"));
        let found = problems(&path);
        assert!(
            found.iter().any(|(_, text)| text.contains(message)),
            "case {body:?}: expected `{message}`, got {found:?}"
        );
    }
}

#[test]
fn the_movement_snapshot_key_is_optional_and_checked() {
    let tree = Tree::new();
    let path = tree.write(VALID);
    let config = config::load(&path, &LoadOptions::default()).expect("valid");
    assert_eq!(config.keys.movement_snapshot_key, None);
    let with_key = |key: &str| {
        VALID.replace(
            "terminal_key = \"keys/terminal.key\"\n",
            &format!("terminal_key = \"keys/terminal.key\"\nmovement_snapshot_key = \"{key}\"\n"),
        )
    };
    let path = tree.write(&with_key(ROOT_2));
    let config = config::load(&path, &LoadOptions::default()).expect("valid");
    assert_eq!(
        config
            .keys
            .movement_snapshot_key
            .map(|k| hex::encode(k.as_bytes())),
        Some(ROOT_2.to_string())
    );
    let identity = format!("01{}", "00".repeat(31));
    for (bad, why) in [
        ("abc", "expected 64 hex characters"),
        (identity.as_str(), "weak"),
    ] {
        let path = tree.write(&with_key(bad));
        let found = problems(&path);
        assert!(
            found
                .iter()
                .any(|(_, m)| m.contains("movement_snapshot_key") && m.contains(why)),
            "{bad}: {found:?}"
        );
    }
}
