//! One exit-code table for both binaries, per subcommand: 0 success, 1 runtime failure, 2 usage
//! (bad arguments), 78 configuration missing or invalid.

mod common;

use std::process::{Command, Output};

use common::nats::NatsServer;

const DAEMON: &str = env!("CARGO_BIN_EXE_checkpointd");
const CTL: &str = env!("CARGO_BIN_EXE_checkpointctl");

fn run(binary: &str, arguments: &[&str]) -> Output {
    Command::new(binary)
        .args(arguments)
        .output()
        .expect("run binary")
}

fn code(binary: &str, arguments: &[&str]) -> Option<i32> {
    run(binary, arguments).status.code()
}

#[test]
fn bad_arguments_are_usage_errors_in_every_subcommand() {
    for subcommand in [
        "check-config",
        "version",
        "mrz",
        "stay",
        "permit",
        "qr",
        "ledger",
        "feed",
        "devices",
    ] {
        assert_eq!(
            code(CTL, &[subcommand, "--no-such-flag"]),
            Some(2),
            "checkpointctl {subcommand}"
        );
    }
    assert_eq!(code(CTL, &["no-such-command"]), Some(2));
    assert_eq!(code(DAEMON, &["--no-such-flag"]), Some(2));
    assert_eq!(code(DAEMON, &["demo", "--no-such-flag"]), Some(2));
    // A value clap parses is a usage error when it does not parse either.
    let keys = tempfile::NamedTempFile::new().expect("keys file");
    let keys = keys.path().to_str().expect("utf-8 path");
    assert_eq!(
        code(
            CTL,
            &["feed", "export", "--keys", keys, "--since", "yesterday"]
        ),
        Some(2)
    );
}

#[test]
fn a_missing_configuration_is_a_configuration_error_for_both_binaries() {
    let missing = "/nonexistent/checkpoint.toml";
    assert_eq!(code(DAEMON, &["--check-config", missing]), Some(78));
    assert_eq!(code(DAEMON, &["--config", missing]), Some(78));
    assert_eq!(code(CTL, &["check-config", missing]), Some(78));
}

#[test]
fn central_unreachable_is_a_runtime_failure() {
    let replica = tempfile::tempdir().expect("replica dir");
    // Nothing listens on port 1 of loopback: the connection is refused at once.
    let output = run(
        CTL,
        &[
            "ledger",
            "publish",
            "--nats",
            "nats://127.0.0.1:1",
            "--entries",
            "/dev/null",
            "--data",
            replica.path().to_str().expect("utf-8"),
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");
}

#[test]
fn feed_tail_fails_when_every_event_is_rejected() {
    let nats = NatsServer::start();
    let url = nats.url();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            let client = async_nats::connect(url.as_str()).await.expect("connect");
            let js = async_nats::jetstream::new(client);
            js.get_or_create_stream(async_nats::jetstream::stream::Config {
                name: "EVENTS".into(),
                subjects: vec!["events.>".into()],
                ..Default::default()
            })
            .await
            .expect("stream");
            js.publish("events.GYD.T1", "not a signed event".into())
                .await
                .expect("publish")
                .await
                .expect("stored");
        });
    let keys = tempfile::NamedTempFile::new().expect("keys file");
    std::fs::write(
        keys.path(),
        format!(
            "T1 {}\n",
            hex::encode(
                ed25519_dalek::SigningKey::from_bytes(&[3; 32])
                    .verifying_key()
                    .to_bytes()
            )
        ),
    )
    .expect("write keys");
    let output = run(
        CTL,
        &[
            "feed",
            "tail",
            "--nats",
            &url,
            "--keys",
            keys.path().to_str().expect("utf-8 path"),
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("REJECTED"));
}

#[test]
fn ledger_reads_never_create_a_replica() {
    let dir = tempfile::tempdir().expect("temp dir");
    let absent = dir.path().join("ledger");
    let roots = dir.path().join("roots.pub");
    std::fs::write(&roots, format!("{}\n", "11".repeat(32))).expect("roots");
    let absent_text = absent.to_str().expect("utf-8 path");
    for arguments in [
        vec!["ledger", "status", "--data", absent_text],
        vec![
            "ledger",
            "verify",
            "--data",
            absent_text,
            "--roots",
            roots.to_str().expect("utf-8 path"),
            "--threshold",
            "1",
        ],
        vec!["ledger", "lookup", "--data", absent_text, "--cti", "00"],
    ] {
        let output = run(CTL, &arguments);
        assert_eq!(output.status.code(), Some(1), "{arguments:?}: {output:?}");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("holds no ledger replica"),
            "{output:?}"
        );
        assert!(
            !absent.exists(),
            "{arguments:?} created {}",
            absent.display()
        );
    }
}
