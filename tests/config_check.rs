//! `--check-config` and the configuration loader against real files: the shipped configuration
//! passes; broken ones are refused with every problem listed at its line and column.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use checkpointd::config::{self, ConfigError, Connection, LoadOptions};

/// A valid configuration with no devices; `{devices}` and `{extra}` are substituted.
const VALID: &str = r#"data_dir = "data"
rules_file = "stay-rules.toml"

[checkpoint]
id = "AZ-TEST-1"
name = "Test checkpoint"
kind = "land"
lane = "1"
time_zone = "Asia/Baku"
mode = "kiosk"

[ledger]
cache_capacity_bytes = 8388608
flush_every_ms = 100

[upstream]
nats_url = "nats://127.0.0.1:4222"
events_stream = "CROSSINGS"
ledger_stream = "PERMITS"

[keys]
permit_issuers = ["keys/issuer.pub.pem"]

[limits]
scan_frame_bytes_max = 4096
outbox_events_max = 1000
shutdown_grace_ms = 2000
"#;

/// A checkout-like tree: `firmware-config/` (config, rules, keys) next to `devices/`.
struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let firmware = dir.path().join("firmware-config");
        std::fs::create_dir_all(firmware.join("keys")).expect("mkdir keys");
        std::fs::create_dir_all(dir.path().join("devices")).expect("mkdir devices");
        std::fs::write(firmware.join("stay-rules.toml"), "# rules\n").expect("rules");
        std::fs::write(
            firmware.join("keys/issuer.pub.pem"),
            "-----BEGIN PUBLIC KEY-----\n",
        )
        .expect("key");
        std::fs::write(dir.path().join("devices/swipe.toml"), "# profile\n").expect("profile");
        Self { dir }
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("firmware-config/checkpoint.toml")
    }

    fn write(&self, text: &str) -> PathBuf {
        let path = self.config_path();
        std::fs::write(&path, text).expect("write config");
        path
    }
}

fn repo_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("firmware-config/checkpoint.toml")
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
fn shipped_config_is_valid() {
    let config = config::load(&repo_config(), &LoadOptions::default()).expect("shipped config");
    assert_eq!(config.checkpoint.id, "AZ-GYD-T1");
    assert_eq!(config.checkpoint.time_zone.iana_name(), Some("Asia/Baku"));
    assert_eq!(config.devices.len(), 2);
    assert_eq!(
        config.devices[1].connection,
        Connection::Usb {
            vendor_id: 0x0c2e,
            product_id: 0x0720
        }
    );
}

#[test]
fn both_binaries_accept_the_shipped_config() {
    let path = repo_config();
    let path = path.to_str().expect("utf-8 path");
    let daemon = run(env!("CARGO_BIN_EXE_checkpointd"), &["--check-config", path]);
    assert_eq!(daemon.status.code(), Some(0), "{daemon:?}");
    let ctl = run(env!("CARGO_BIN_EXE_checkpointctl"), &["check-config", path]);
    assert_eq!(ctl.status.code(), Some(0), "{ctl:?}");
    assert!(String::from_utf8_lossy(&ctl.stdout).contains("valid"));
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
fn device_profiles_are_found_in_the_sibling_devices_dir_or_the_override() {
    let tree = Tree::new();
    let text = format!(
        "{VALID}\n[[devices]]\nname = \"swipe\"\nprofile = \"swipe.toml\"\nport = \"/dev/ttyS0\"\n"
    );
    let path = tree.write(&text);
    let config = config::load(&path, &LoadOptions::default()).expect("valid");
    assert!(
        config.devices[0]
            .profile_path
            .ends_with("devices/swipe.toml")
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
    config::load(&path, &options).expect("profile in override dir");
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
        ("keys/issuer.pub.pem", "keys/missing.pem", 22, "key file"),
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
            17,
            "nats_url `http://central`",
        ),
        (
            "shutdown_grace_ms = 2000",
            "shutdown_grace_ms = 0",
            27,
            "out of range",
        ),
        (
            "flush_every_ms = 100\n",
            "",
            12,
            "missing key `ledger.flush_every_ms`",
        ),
        ("[ledger]", "[ledgr]", 12, "unknown field `ledgr`"),
        (
            "permit_issuers = [\"keys/issuer.pub.pem\"]",
            "permit_issuers = []",
            22,
            "is empty",
        ),
        (
            "ledger_stream = \"PERMITS\"",
            "ledger_stream = \"PER.MITS\"",
            19,
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
        .replacen("flush_every_ms = 100", "flush_every_ms = \"fast\"", 1) // line 15
        .replacen("keys/issuer.pub.pem", "keys/gone.pem", 1) // line 23
        + "\n[[devices]]\nname = \"d\"\nprofile = \"gone.toml\"\nport = \"/dev/ttyS0\"\n"; // line 32
    let path = tree.write(&broken);
    let found = problems(&path);
    let lines: Vec<usize> = found.iter().map(|(line, _)| *line).collect();
    assert_eq!(lines, vec![9, 11, 15, 23, 32], "{found:?}");

    let path = path.to_str().expect("utf-8 path");
    for output in [
        run(env!("CARGO_BIN_EXE_checkpointd"), &["--check-config", path]),
        run(env!("CARGO_BIN_EXE_checkpointctl"), &["check-config", path]),
    ] {
        assert_eq!(output.status.code(), Some(78), "{output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        for (line, column) in [(9, 13), (11, 1), (15, 18), (23, 19), (32, 11)] {
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
