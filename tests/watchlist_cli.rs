//! `checkpointctl watchlist screen` against its contract: the real binary, an alerts file, JSON
//! lines in on stdin, one JSON line out per traveller, exit status and errors.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

const ALERTS: &str = r#"{"alert_id": "ban-1", "names": [{"surname": "Məmmədov", "given_names": "Elçin Ramiz oğlu"}], "birth_date": "1980-05-07", "nationalities": ["AZE"], "sex": "M", "kind": "entry_ban", "until": "2029-01-01", "note": "deported 2024", "action": "refuse"}
{"alert_id": "wanted-7", "names": [{"surname": "Мамедов", "given_names": "Эльчин"}, {"surname": "Mamedov", "given_names": "Elchin"}], "birth_date": "1980", "nationalities": [], "sex": null, "kind": "wanted"}

{"alert_id": "sister", "names": [{"surname": "Миронова", "given_names": "Александра"}], "birth_date": "1990-03-15", "nationalities": ["RUS"], "sex": "F", "kind": "missing_person"}
{"alert_id": "ka-1", "names": [{"surname": "ჯაფარიძე", "given_names": "გიორგი"}], "birth_date": "1979-08", "nationalities": ["GEO"], "sex": null, "kind": "deported"}
"#;

fn run(args: &[&str], alerts: &str, stdin: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("alerts.jsonl");
    std::fs::write(&path, alerts).expect("alerts written");
    let mut child = Command::new(env!("CARGO_BIN_EXE_checkpointctl"))
        .args(["watchlist", "screen", "--alerts"])
        .arg(&path)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("checkpointctl starts");
    // A refused alerts file exits before reading stdin: a broken pipe here is expected.
    let _ = child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin.as_bytes());
    let output = child.wait_with_output().expect("checkpointctl ends");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    )
}

fn lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is JSON"))
        .collect()
}

fn traveller(
    id: &str,
    surname: &str,
    given: &str,
    birth: Value,
    nationality: &str,
    sex: &str,
) -> String {
    json!({"id": id, "surname": surname, "given_names": given, "birth_date": birth,
           "nationality": nationality, "sex": sex, "document_number": "ignored"})
    .to_string()
}

#[test]
fn one_line_per_traveller_in_order_with_every_alert_sorted() {
    let input = [
        traveller("t1", "MAMEDOV", "ELCHIN", json!("1980-05-07"), "RUS", "M"),
        traveller("t2", "BERIDZE", "NINO", json!("1979-08-19"), "GEO", "F"),
        traveller(
            "t3",
            "MIRONOV",
            "ALEKSANDR",
            json!("1990-03-15"),
            "RUS",
            "M",
        ),
        traveller("t4", "DZHAPARIDZE", "GIORGI", json!("1979"), "GEO", "<"),
        traveller("t5", "MAMMADOV", "ELCHIN", Value::Null, "AZE", "<"),
    ]
    .join("\n");
    let (code, stdout, stderr) = run(&["--json"], ALERTS, &input);
    assert_eq!(code, 0, "{stderr}");
    let out = lines(&stdout);
    let ids: Vec<&str> = out.iter().map(|l| l["id"].as_str().expect("id")).collect();
    assert_eq!(ids, ["t1", "t2", "t3", "t4", "t5"]);
    let alert_ids = |line: &Value| -> Vec<String> {
        line["matches"]
            .as_array()
            .expect("matches")
            .iter()
            .map(|m| m["alert_id"].as_str().expect("alert_id").to_owned())
            .collect()
    };
    // One person on the list twice: both alerts, highest score first.
    assert_eq!(alert_ids(&out[0]).len(), 2, "{}", out[0]);
    assert!(alert_ids(&out[0]).contains(&"ban-1".to_owned()));
    assert!(alert_ids(&out[0]).contains(&"wanted-7".to_owned()));
    let scores: Vec<f64> = out[0]["matches"]
        .as_array()
        .expect("matches")
        .iter()
        .map(|m| m["score"].as_f64().expect("score is a number"))
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    assert!(scores.iter().all(|s| (0.0..=1.0).contains(s)));
    let matched = out[0]["matches"][0]["matched"].as_array().expect("matched");
    assert!(matched.iter().all(Value::is_string) && !matched.is_empty());
    assert_eq!(alert_ids(&out[1]), Vec::<String>::new());
    // MIRONOV ALEKSANDR is not МИРОНОВА АЛЕКСАНДРА.
    assert_eq!(alert_ids(&out[2]), Vec::<String>::new());
    assert_eq!(alert_ids(&out[3]), ["ka-1"]);
    assert_eq!(alert_ids(&out[4]), ["ban-1", "wanted-7"]);
}

#[test]
fn threshold_selects_and_defaults() {
    let input = traveller("t1", "MAMEDOV", "ELCHIN", json!("1980-05-07"), "RUS", "M");
    let (code, stdout, _) = run(&["--json", "--threshold", "0.99"], ALERTS, &input);
    assert_eq!(code, 0);
    let strict = lines(&stdout);
    let (_, stdout, _) = run(&["--json", "--threshold", "0"], ALERTS, &input);
    let everything = lines(&stdout);
    let (_, stdout, _) = run(&["--json"], ALERTS, &input);
    let default = lines(&stdout);
    let count = |l: &Vec<Value>| l[0]["matches"].as_array().expect("matches").len();
    assert!(count(&strict) < count(&default), "{strict:?} {default:?}");
    assert!(count(&default) <= count(&everything));
    for bad in ["1.5", "-0.1", "NaN"] {
        let (code, _, stderr) = run(&["--json", "--threshold", bad], ALERTS, &input);
        assert_eq!(code, 2, "--threshold {bad}: {stderr}");
    }
}

#[test]
fn bad_traveller_lines_name_the_line_and_field() {
    let good = traveller("t1", "MAMEDOV", "ELCHIN", json!("1980-05-07"), "RUS", "M");
    let cases = [
        (
            traveller("t2", "X", "Y", json!("1980-13-01"), "AZE", "M"),
            "line 2: birth_date",
        ),
        (
            r#"{"id": "t2", "given_names": "Y"}"#.to_owned(),
            "line 2: surname: missing",
        ),
        (
            r#"{"id": 7, "surname": "X"}"#.to_owned(),
            "line 2: id: expected a string",
        ),
        (
            traveller("t2", "X", "Y", Value::Null, "AZE", "Q"),
            "line 2: sex",
        ),
        (
            traveller("t2", "X", "Y", Value::Null, "AZERB", "M"),
            "line 2: nationality",
        ),
        ("{not json".to_owned(), "line 2: invalid JSON"),
        ("[1, 2]".to_owned(), "line 2: not a JSON object"),
    ];
    for (line, wanted) in cases {
        let (code, stdout, stderr) = run(&["--json"], ALERTS, &format!("{good}\n{line}\n{good}\n"));
        assert_eq!(code, 2, "{line}");
        assert!(stderr.contains(wanted), "{line}: {stderr}");
        assert_eq!(
            lines(&stdout).len(),
            1,
            "the line before the bad one is answered"
        );
    }
}

#[test]
fn bad_alert_lines_name_the_line_and_field() {
    let input = traveller("t1", "MAMEDOV", "ELCHIN", json!("1980-05-07"), "RUS", "M");
    let cases = [
        (
            r#"{"alert_id": "a", "names": [], "kind": "wanted"}"#,
            "line 1: names: empty",
        ),
        (
            r#"{"alert_id": "a", "names": [{"given_names": "X"}], "kind": "wanted"}"#,
            "line 1: names[0].surname: missing",
        ),
        (
            r#"{"alert_id": "a", "names": [{"surname": "X"}], "kind": "banned"}"#,
            "line 1: kind",
        ),
        (
            r#"{"alert_id": "a", "names": [{"surname": "X"}], "kind": "wanted", "birth_date": "80"}"#,
            "line 1: birth_date",
        ),
        (
            r#"{"alert_id": "a", "names": [{"surname": "X"}], "kind": "wanted", "nationalities": ["azerbaijan"]}"#,
            "line 1: nationalities[0]",
        ),
        (
            r#"{"alert_id": "a", "names": [{"surname": "X"}], "kind": "entry_ban", "until": "soon"}"#,
            "line 1: until",
        ),
        (
            r#"{"alert_id": "a", "names": [{"surname": "123"}], "kind": "wanted"}"#,
            "line 1: names[0]: no letters",
        ),
    ];
    for (alert, wanted) in cases {
        let (code, stdout, stderr) = run(&["--json"], alert, &input);
        assert_eq!(code, 2, "{alert}");
        assert!(stderr.contains(wanted), "{alert}: {stderr}");
        assert!(stdout.is_empty());
    }
    let output = Command::new(env!("CARGO_BIN_EXE_checkpointctl"))
        .args([
            "watchlist",
            "screen",
            "--json",
            "--alerts",
            "/nonexistent/alerts.jsonl",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("checkpointctl runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/nonexistent/alerts.jsonl"), "{stderr}");
}

#[test]
fn entry_bans_ended_before_the_given_day_are_skipped() {
    let input = traveller("t1", "MAMMADOV", "ELCHIN", json!("1980-05-07"), "AZE", "M");
    let (_, stdout, _) = run(&["--json", "--on", "2030-01-01"], ALERTS, &input);
    let out = lines(&stdout);
    let ids: Vec<&str> = out[0]["matches"]
        .as_array()
        .expect("matches")
        .iter()
        .map(|m| m["alert_id"].as_str().expect("alert_id"))
        .collect();
    assert_eq!(ids, ["wanted-7"]);
}
