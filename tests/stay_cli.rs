//! `checkpointctl stay` as a process: the `--rule` contract and the policy mode.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn checkpointctl(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_checkpointctl"))
        .arg("stay")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("checkpointctl starts");
    let written = child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin.as_bytes());
    // A command that answers without reading its input (a usage error, a rules file it
    // refuses) may close stdin first: its exit status and stderr say why, not this write.
    match written {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other.expect("stdin accepts the input"),
    }
    child.wait_with_output().expect("checkpointctl finishes")
}

fn json_output(output: &Output) -> serde_json::Value {
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("stdout is JSON")
}

#[test]
fn json_contract_from_stdin() {
    // SEM example 2: exit control on 30.11.2014, stay possible until 13.12.2014.
    let input = r#"{"rule": {"kind": "rolling", "limit_days": 90, "window_days": 180},
        "movements": [{"date": "2014-08-15", "dir": "entry"}, {"date": "2014-09-30", "dir": "exit"},
                      {"date": "2014-11-01", "dir": "entry"}, {"date": "2014-11-30", "dir": "exit"}],
        "check_date": "2014-11-30"}"#;
    let output = json_output(&checkpointctl(&["--rule", "-"], input));
    let object = output.as_object().expect("an object");
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "days_remaining",
            "days_used",
            "explanation",
            "flags",
            "latest_legal_exit",
            "overstay_days"
        ]
    );
    assert_eq!(output["days_used"], 77);
    assert_eq!(output["days_remaining"], 13);
    assert_eq!(output["overstay_days"], 0);
    assert_eq!(output["latest_legal_exit"], "2014-12-13");
    assert_eq!(output["flags"], serde_json::json!([]));
    assert!(
        output["explanation"]
            .as_str()
            .is_some_and(|text| !text.is_empty())
    );
}

#[test]
fn json_contract_from_file_with_overstay_and_flags() {
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("request.json");
    std::fs::write(
        &path,
        r#"{"rule": {"kind": "per_stay", "limit_days": 90},
            "movements": [{"date": "2025-01-01", "dir": "entry"}, {"date": "2025-02-01", "dir": "entry"},
                          {"date": "2025-06-01", "dir": "exit"}],
            "check_date": "2025-04-05"}"#,
    )
    .expect("write request");
    let output = json_output(&checkpointctl(
        &["--rule", path.to_str().expect("utf-8")],
        "",
    ));
    assert_eq!(output["days_used"], 95);
    assert_eq!(output["overstay_days"], 5);
    assert_eq!(output["days_remaining"], 0);
    assert_eq!(output["latest_legal_exit"], serde_json::Value::Null);
    assert_eq!(output["flags"], serde_json::json!(["missing_exit"]));
}

#[test]
fn json_calendar_year() {
    let input = r#"{"rule": {"kind": "calendar_year", "limit_days": 90},
        "movements": [{"date": "2024-12-01", "dir": "entry"}, {"date": "2025-01-10", "dir": "exit"}],
        "check_date": "2025-01-10"}"#;
    let output = json_output(&checkpointctl(&["--rule", "-"], input));
    assert_eq!(output["days_used"], 10);
    assert_eq!(output["latest_legal_exit"], "2025-03-31");
}

#[test]
fn bad_input_exits_2_with_a_specific_error() {
    let cases = [
        ("not json", "{", "invalid input"),
        (
            "unknown kind",
            r#"{"rule": {"kind": "weekly", "limit_days": 9}, "movements": [], "check_date": "2025-01-01"}"#,
            "weekly",
        ),
        (
            "bad date",
            r#"{"rule": {"kind": "per_stay", "limit_days": 90}, "movements": [{"date": "2025-02-30", "dir": "entry"}], "check_date": "2025-03-01"}"#,
            "invalid input",
        ),
        (
            "bad direction",
            r#"{"rule": {"kind": "per_stay", "limit_days": 90}, "movements": [{"date": "2025-02-03", "dir": "in"}], "check_date": "2025-03-01"}"#,
            "in",
        ),
        (
            "limit not below window",
            r#"{"rule": {"kind": "rolling", "limit_days": 180, "window_days": 180}, "movements": [], "check_date": "2025-03-01"}"#,
            "less than window_days",
        ),
        (
            "missing check date",
            r#"{"rule": {"kind": "per_stay", "limit_days": 90}, "movements": []}"#,
            "check_date",
        ),
    ];
    for (name, input, needle) in cases {
        let output = checkpointctl(&["--rule", "-"], input);
        assert_eq!(output.status.code(), Some(2), "case {name}");
        assert!(output.stdout.is_empty(), "case {name}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(needle), "case {name}: {stderr}");
    }
    let missing = checkpointctl(&["--rule", "/nonexistent/request.json"], "");
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read"));
}

#[test]
fn policy_mode_explains_the_binding_rule() {
    let directory = tempfile::tempdir().expect("temp dir");
    let history = directory.path().join("history.json");
    std::fs::write(&history, r#"[{"date": "2025-11-01", "dir": "entry"}]"#).expect("write history");
    let output = checkpointctl(
        &[
            "--nationality",
            "RUS",
            "--history",
            history.to_str().expect("utf-8"),
            "--on",
            "2026-01-15",
        ],
        "",
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("binding rule: visa-free-90-per-stay"),
        "{text}"
    );
    assert!(text.contains("latest legal exit: 2026-01-29"), "{text}");
    assert!(
        text.contains("registration overdue since 2025-11-16"),
        "{text}"
    );
}

#[test]
fn policy_mode_with_grounds_and_rules_file() {
    let directory = tempfile::tempdir().expect("temp dir");
    let rules = directory.path().join("rules.toml");
    std::fs::write(
        &rules,
        checkpointd::cli::stay::SHIPPED_STAY_RULES.replace("limit_days = 30", "limit_days = 20"),
    )
    .expect("write rules");
    let history = r#"{"movements": [{"date": "2025-01-01", "dir": "entry"}],
        "grounds": [{"kind": "place_of_stay_registration", "registered_on": "2025-01-05",
                     "valid_from": "2025-01-05", "valid_until": "2025-03-31"}]}"#;
    let output = checkpointctl(
        &[
            "--nationality",
            "QAT",
            "--history",
            "-",
            "--on",
            "2025-01-10",
            "--rules",
            rules.to_str().expect("utf-8"),
        ],
        history,
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("latest legal exit: 2025-01-20"), "{text}");
    assert!(!text.contains("overdue"), "{text}");

    let bad_rules = directory.path().join("bad.toml");
    std::fs::write(&bad_rules, "[[rule]]\nname = 1\n").expect("write rules");
    let output = checkpointctl(
        &[
            "--nationality",
            "QAT",
            "--history",
            "-",
            "--on",
            "2025-01-10",
            "--rules",
            bad_rules.to_str().expect("utf-8"),
        ],
        "[]",
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("invalid stay rules"));

    let bad_date = checkpointctl(
        &[
            "--nationality",
            "QAT",
            "--history",
            "-",
            "--on",
            "15.01.2025",
        ],
        "[]",
    );
    assert_eq!(bad_date.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_date.stderr).contains("invalid --on date"));
}
