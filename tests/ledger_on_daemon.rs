//! `checkpointctl ledger status|lookup|verify --data DIR` against the replica a running
//! checkpointd holds: the tool asks the daemon over the API socket it advertised in the replica's
//! directory and prints what the replica holds, the same JSON as from the replica once the daemon
//! is stopped (verify: the daemon recomputes the chain against the roots the tool was given).
//! Needs `nats-server` (installed by scripts/test).

mod common;

use std::path::Path;
use std::process::{Command, Output};

use checkpointd::adapters::ledger::Central;
use checkpointd::core::document::HolderDigest;
use checkpointd::core::ledger::{AlertKind, AlertRaised, Change, TerminalKeyAdded};
use common::nats::NatsServer;
use common::terminal::{Setup, TERMINAL_ID, TOKEN, Terminal, root_key, terminal_key, try_http};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

const CTL: &str = env!("CARGO_BIN_EXE_checkpointctl");
const DOCUMENT: &str = "GEO:GB1111111";

/// Central publishes the terminal's key and an entry ban on [`DOCUMENT`], with a checkpoint.
fn publish_ledger(url: &str) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(async {
            let central = Central::connect(url).await.expect("central connects");
            central.provision(1).await.expect("provision streams");
            let now = Timestamp::now();
            let today = now.to_zoned(jiff::tz::TimeZone::UTC).date();
            let changes = vec![
                Change::TerminalKeyAdded(TerminalKeyAdded {
                    terminal_id: TERMINAL_ID.into(),
                    public_key: terminal_key().verifying_key().to_bytes(),
                    valid_from: now - SignedDuration::from_hours(24),
                    valid_until: now + SignedDuration::from_hours(24 * 365),
                }),
                Change::Alert(AlertRaised {
                    holder: HolderDigest::of("GEO", "GB1111111").0,
                    alert: AlertKind::EntryBan {
                        until: today.tomorrow().expect("tomorrow"),
                    },
                    note: "court order 12/2026".into(),
                }),
            ];
            central.append(changes, now).await.expect("append");
            central
                .checkpoint(&[root_key()], now)
                .await
                .expect("checkpoint");
        });
}

fn ctl(arguments: &[&str]) -> Output {
    Command::new(CTL)
        .args(arguments)
        .output()
        .expect("run checkpointctl")
}

fn json(output: &Output) -> Value {
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

/// `ledger status`, `lookup --document`, `lookup --cti` and `verify` against `replica`.
struct Answers {
    status: Value,
    document: Value,
    cti: Value,
    verify: Output,
}

fn ask(replica: &Path, roots: &Path) -> Answers {
    let data = replica.to_str().expect("utf-8 path");
    let roots = roots.to_str().expect("utf-8 path");
    let mut status = json(&ctl(&["ledger", "status", "--data", data]));
    // The age is measured at the moment of asking; everything else is the replica's.
    status
        .as_object_mut()
        .expect("status object")
        .remove("age_seconds");
    Answers {
        status,
        document: json(&ctl(&[
            "ledger",
            "lookup",
            "--data",
            data,
            "--document",
            DOCUMENT,
        ])),
        cti: json(&ctl(&[
            "ledger",
            "lookup",
            "--data",
            data,
            "--cti",
            &"ab".repeat(16),
        ])),
        verify: ctl(&[
            "ledger",
            "verify",
            "--data",
            data,
            "--roots",
            roots,
            "--threshold",
            "1",
        ]),
    }
}

#[test]
fn status_lookup_and_verify_answer_from_the_running_daemon_as_from_the_replica() {
    let nats = NatsServer::start();
    let url = nats.url();
    publish_ledger(&url);
    let mut terminal = Terminal::start(&Setup {
        nats_url: &url,
        mode: "officer",
        direction: "entry",
        gate_port: None,
    });
    terminal.wait_status("the ledger replicated", |status| {
        status["ledger"]["applied_seq"].as_u64() >= Some(2)
    });
    let replica = terminal.dir.path().join("firmware-config/data/ledger");
    let roots = terminal.dir.path().join("roots.pub");
    std::fs::write(
        &roots,
        format!("{}\n", hex::encode(root_key().verifying_key().to_bytes())),
    )
    .expect("roots file");

    // The routes are authorised like every other: no token, no answer on loopback HTTP.
    let (code, _) = try_http(terminal.http, "GET", "/api/v1/ledger/status", None, None)
        .expect("an HTTP answer");
    assert_eq!(code, 403);
    let (code, by_token) = try_http(
        terminal.http,
        "GET",
        "/api/v1/ledger/lookup?cti=00",
        None,
        Some(TOKEN),
    )
    .expect("an HTTP answer");
    assert_eq!(code, 400, "{by_token}");

    let running = ask(&replica, &roots);
    // `--json` is the output switch every subcommand takes; the output is JSON either way.
    let held = ctl(&[
        "ledger",
        "status",
        "--data",
        replica.to_str().expect("utf-8"),
        "--json",
    ]);
    assert!(
        String::from_utf8_lossy(&held.stderr).contains("answered by it"),
        "{held:?}"
    );
    let mut switched = json(&held);
    switched
        .as_object_mut()
        .expect("status object")
        .remove("age_seconds");
    assert_eq!(switched, running.status);
    assert_eq!(running.status["applied_seq"], 2, "{}", running.status);
    assert_eq!(running.status["stale"], false, "{}", running.status);
    let alerts = running.document["alerts"].as_array().expect("alerts");
    assert_eq!(alerts.len(), 1, "{}", running.document);
    assert_eq!(alerts[0]["note"], "court order 12/2026");
    assert_eq!(running.cti["found"], false, "{}", running.cti);
    assert_eq!(
        running.verify.status.code(),
        Some(0),
        "{:?}",
        running.verify
    );
    assert!(
        String::from_utf8_lossy(&running.verify.stderr).contains("answered by it"),
        "{:?}",
        running.verify
    );
    // Roots that did not sign the checkpoint: the daemon's verification fails (exit 1).
    let foreign = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(
        foreign.path(),
        format!(
            "{}\n",
            hex::encode(
                ed25519_dalek::SigningKey::from_bytes(&[7u8; 32])
                    .verifying_key()
                    .to_bytes()
            )
        ),
    )
    .expect("foreign roots");
    let refused = ctl(&[
        "ledger",
        "verify",
        "--data",
        replica.to_str().expect("utf-8"),
        "--roots",
        foreign.path().to_str().expect("utf-8"),
        "--threshold",
        "1",
    ]);
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    let refusal: Value = serde_json::from_slice(&refused.stdout).expect("JSON on stdout");
    assert_eq!(refusal["ok"], false, "{refused:?}");
    assert!(
        refusal["error"]
            .as_str()
            .is_some_and(|e| e.contains("valid root signatures")),
        "{refusal}"
    );

    // A permit id that does not parse is a usage error (2), whoever would have answered.
    let bad = ctl(&[
        "ledger",
        "lookup",
        "--data",
        replica.to_str().expect("utf-8"),
        "--cti",
        "00",
    ]);
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");

    terminal.stop();
    let stopped = ask(&replica, &roots);
    assert_eq!(running.status, stopped.status);
    assert_eq!(running.document, stopped.document);
    assert_eq!(running.cti, stopped.cti);
    let verified = json(&stopped.verify);
    assert_eq!(verified, json!({"ok": true, "applied_seq": 2}));
    assert_eq!(json(&running.verify), verified);
}
