//! `checkpointctl terminal init|show`, `completions` and `man` through the real binaries: the
//! shipped configuration gets its key and token created once (owner-only, never overwritten),
//! passes `--check-config` afterwards, and the printed publication line is a valid ledger entry
//! for the terminal's public key; completion scripts parse in bash, zsh and fish; `feed export`
//! draws progress only on a terminal.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;

use common::feed_helper;

use checkpointd::core::ledger::Change;
use ed25519_dalek::SigningKey;

const CTL: &str = env!("CARGO_BIN_EXE_checkpointctl");
const DAEMON: &str = env!("CARGO_BIN_EXE_checkpointd");

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn own_group() -> String {
    nix::unistd::Group::from_gid(nix::unistd::getegid())
        .expect("look up own group")
        .expect("own group exists")
        .name
}

/// The shipped configuration with its secrets and group pointed into `dir` (nothing created).
fn shipped_config_in(dir: &Path) -> PathBuf {
    let shipped = std::fs::read_to_string(repo("firmware-config/checkpoint.toml")).expect("read");
    let etc = dir.join("etc");
    let text = shipped
        .replace("\"/etc/checkpointd/", &format!("\"{}/", etc.display()))
        .replace(
            "group = \"checkpointd-console\"",
            &format!("group = \"{}\"", own_group()),
        )
        .replace("\"/var/lib/checkpointd\"", "\"data\"")
        .replace(
            "rules_file = \"stay-rules.toml\"",
            &format!(
                "rules_file = \"{}\"",
                repo("firmware-config/stay-rules.toml").display()
            ),
        );
    let path = dir.join("checkpoint.toml");
    std::fs::write(&path, text).expect("write config");
    // Profiles and scanner programming sit beside the configuration, as the package installs them.
    for (beside, shipped) in [
        ("devices", "devices"),
        ("scanners", "firmware-config/scanners"),
    ] {
        std::os::unix::fs::symlink(repo(shipped), dir.join(beside)).expect("link shipped files");
    }
    path
}

fn ctl(arguments: &[&str]) -> Output {
    Command::new(CTL)
        .args(arguments)
        .output()
        .expect("run checkpointctl")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn assert_ok(output: &Output) {
    assert!(
        output.status.success(),
        "{:?}\nstdout: {}\nstderr: {}",
        output.status,
        stdout(output),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// What `show` prints: the lines from `terminal id:` on.
fn shown(text: &str) -> &str {
    &text[text.find("terminal id:").expect("terminal id printed")..]
}

#[test]
fn terminal_init_creates_secrets_once_and_prints_the_publication_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = shipped_config_in(dir.path());
    let config_arg = config.to_str().expect("utf-8 path");

    let missing = ctl(&["terminal", "show", "--config", config_arg]);
    assert_eq!(missing.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("terminal init"));

    let first = ctl(&["terminal", "init", "--config", config_arg]);
    assert_ok(&first);
    let first_text = stdout(&first);
    assert!(first_text.contains("terminal key"), "{first_text}");
    assert!(first_text.contains(": created"), "{first_text}");
    let key_path = dir.path().join("etc/terminal.key");
    let token_path = dir.path().join("etc/api.token");
    for path in [&key_path, &token_path] {
        let mode = std::fs::metadata(path)
            .expect("created")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{}", path.display());
    }
    let key_text = std::fs::read_to_string(&key_path).expect("key");
    let seed: [u8; 32] = hex::decode(key_text.trim_end())
        .expect("hex")
        .try_into()
        .expect("32 bytes");
    let token = std::fs::read_to_string(&token_path).expect("token");
    let token = token.trim_end();
    assert!(
        token.len() >= 32 && token.bytes().all(|b| b.is_ascii_alphanumeric()),
        "{token}"
    );

    let public = hex::encode(SigningKey::from_bytes(&seed).verifying_key().to_bytes());
    assert!(
        shown(&first_text).starts_with("terminal id: AZ-GYD-T1-3\n"),
        "{first_text}"
    );
    assert!(
        first_text.contains(&format!("public key: {public}\n")),
        "{first_text}"
    );
    let line = first_text
        .lines()
        .find(|line| line.contains("checkpointctl ledger publish"))
        .expect("publication line");
    assert!(line.trim_end().ends_with(
        "| checkpointctl ledger publish --nats nats://central.checkpoint.example:4222 \
         --data /var/lib/checkpoint-central/publisher --entries -"
    ));
    let json = line
        .split_once('\'')
        .and_then(|(_, rest)| rest.split_once('\''))
        .map(|(json, _)| json)
        .expect("quoted entry");
    match serde_json::from_str::<Change>(json).expect("a ledger entry") {
        Change::TerminalKeyAdded(added) => {
            assert_eq!(added.terminal_id, "AZ-GYD-T1-3");
            assert_eq!(hex::encode(added.public_key), public);
            assert!(added.valid_until > added.valid_from);
        }
        other => panic!("wrong entry {other:?}"),
    }

    // Again: nothing is replaced, and the same terminal is printed.
    let key_mtime = std::fs::metadata(&key_path).expect("key").mtime_nsec();
    let second = ctl(&["terminal", "init", "--config", config_arg]);
    assert_ok(&second);
    let second_text = stdout(&second);
    assert!(!second_text.contains(": created"), "{second_text}");
    assert_eq!(std::fs::read_to_string(&key_path).expect("key"), key_text);
    assert_eq!(
        std::fs::metadata(&key_path).expect("key").mtime_nsec(),
        key_mtime
    );
    assert_eq!(shown(&second_text), shown(&first_text));
    let show = ctl(&["terminal", "show", "--config", config_arg]);
    assert_ok(&show);
    assert_eq!(stdout(&show), shown(&first_text));

    // The configuration is complete now.
    let check = Command::new(DAEMON)
        .args(["--check-config", config_arg, "--devices-dir"])
        .arg(repo("devices"))
        .output()
        .expect("run checkpointd");
    assert_ok(&check);
}

fn parses(shell: &str, arguments: &[&str], script: &Path) {
    let output = Command::new(shell)
        .args(arguments)
        .arg(script)
        .output()
        .unwrap_or_else(|e| panic!("{shell}: {e}: install it (scripts/test does)"));
    assert_ok(&output);
}

#[test]
fn completion_scripts_parse_and_man_pages_are_written() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (binary, arguments) in [(CTL, vec!["completions"]), (DAEMON, vec!["--completions"])] {
        for shell in ["bash", "zsh", "fish"] {
            let output = Command::new(binary)
                .args(&arguments)
                .arg(shell)
                .output()
                .expect("run binary");
            assert_ok(&output);
            let script = dir.path().join(format!("{}.{shell}", arguments[0]));
            std::fs::write(&script, &output.stdout).expect("write script");
            match shell {
                "bash" => parses("bash", &["-n"], &script),
                "zsh" => parses("zsh", &["-n"], &script),
                _ => parses("fish", &["--no-execute"], &script),
            }
        }
    }
    let bash = stdout(&ctl(&["completions", "bash"]));
    assert!(
        bash.contains("terminal") && bash.contains("--config"),
        "{bash}"
    );

    let man = dir.path().join("man");
    assert_ok(&ctl(&["man", "--out", man.to_str().expect("utf-8")]));
    let output = Command::new(DAEMON)
        .arg("--man")
        .arg(&man)
        .output()
        .expect("run checkpointd");
    assert_ok(&output);
    for page in [
        "checkpointctl.1",
        "checkpointctl-terminal-init.1",
        "checkpointd.1",
    ] {
        let text = std::fs::read_to_string(man.join(page)).expect(page);
        assert!(
            text.starts_with(".ie") || text.contains(".TH"),
            "{page}: {text}"
        );
    }
    let init = std::fs::read_to_string(man.join("checkpointctl-terminal-init.1")).expect("page");
    assert!(init.contains("configuration file"), "{init}");
}

/// `feed export` draws its progress bar on a terminal (a pseudo-terminal from script(1)) and
/// nothing when standard error is a pipe; the exported lines are the same either way.
#[test]
fn feed_export_shows_progress_only_on_a_terminal() {
    let nats = common::nats::NatsServer::start();
    let url = nats.url();
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("terminal");
    let data_arg = data.to_str().expect("utf-8");
    assert_ok(
        &feed_helper::command(&["record", data_arg, "300", "1"])
            .output()
            .expect("record"),
    );
    assert_ok(
        &feed_helper::command(&["relay", data_arg, &url, "drained"])
            .output()
            .expect("relay"),
    );
    let keys = data.join("terminal.pub");
    let export = format!(
        "{CTL} feed export --nats {url} --since 2000-01-01 --keys {}",
        keys.display()
    );

    let piped = ctl(&[
        "feed",
        "export",
        "--nats",
        &url,
        "--since",
        "2000-01-01",
        "--keys",
        keys.to_str().expect("utf-8"),
    ]);
    assert_ok(&piped);
    assert_eq!(stdout(&piped).lines().count(), 300);
    assert!(
        piped.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&piped.stderr)
    );

    let lines = dir.path().join("export.jsonl");
    let on_terminal = Command::new("script")
        .args(["-q", "-e", "-c"])
        .arg(format!("{export} > {}", lines.display()))
        .arg("/dev/null")
        .output()
        .expect("script(1) from util-linux");
    assert_ok(&on_terminal);
    let drawn = stdout(&on_terminal);
    assert!(
        drawn.contains("exporting") && drawn.contains("messages"),
        "{drawn:?}"
    );
    let exported = std::fs::read_to_string(&lines).expect("exported lines");
    assert_eq!(exported.lines().count(), 300);
}

/// The recorder and relay processes: this test binary, started again (`feed_helper::command`).
#[test]
#[ignore = "a helper process the tests start, not a test"]
fn feed_helper() {
    feed_helper::run_from_env();
}
