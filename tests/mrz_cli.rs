//! `checkpointctl mrz` against its contract: the real binary, stdin in, JSON and exit status out.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

const TD3: &str =
    "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10\n";
const TD1: &str = "I<UTOD231458907<<<<<<<<<<<<<<<\n7408122F1204159UTO<<<<<<<<<<<6\nERIKSSON<<ANNA<MARIA<<<<<<<<<<\n";

fn run(args: &[&str], stdin: &str) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_checkpointctl"))
        .arg("mrz")
        .args(args)
        .args(["--reference-date", "2026-11-23"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("checkpointctl starts");
    // A usage error exits before reading stdin, so a broken pipe here is expected, not a failure.
    let _ = child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin.as_bytes());
    let output = child.wait_with_output().expect("checkpointctl ends");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).expect("stdout is UTF-8"),
    )
}

fn run_json(args: &[&str], stdin: &str) -> (i32, Value) {
    let (code, stdout) = run(args, stdin);
    (
        code,
        serde_json::from_str(&stdout).expect("stdout is one JSON object"),
    )
}

#[test]
fn td3_specimen_prints_the_contract_object() {
    let (code, value) = run_json(
        &["--json"],
        &format!("\n  {}\n\n", TD3.replace('\n', "  \n")),
    );
    assert_eq!(code, 0);
    assert_eq!(
        value,
        json!({
            "valid": true, "format": "TD3", "document_code": "P", "issuing_state": "UTO",
            "surname": "ERIKSSON", "given_names": "ANNA MARIA", "document_number": "L898902C3",
            "nationality": "UTO", "birth_date": "740812", "sex": "F", "expiry_date": "120415",
            "optional_data": "ZE184226B", "invalid_fields": [], "warnings": [], "repairs": []
        })
    );
}

#[test]
fn td1_has_a_second_optional_field() {
    let (code, value) = run_json(&["--json"], TD1);
    assert_eq!(code, 0);
    assert_eq!(value["format"], "TD1");
    assert_eq!(value["document_number"], "D23145890");
    assert_eq!(value["optional_data"], "");
    assert_eq!(value["optional_data_2"], "");
}

#[test]
fn long_number_is_reassembled() {
    let (code, value) = run_json(
        &["--json"],
        "I<UTOD23145890<7349<<<<<<<<<<<\n3407127M9507122UTO<<<<<<<<<<<2\nSTEVENSON<<PETER<JOHN<<<<<<<<<\n",
    );
    assert_eq!(code, 0);
    assert_eq!(value["document_number"], "D23145890734");
    assert_eq!(value["given_names"], "PETER JOHN");
}

#[test]
fn invalid_fields_use_the_contract_names() {
    let (code, value) = run_json(
        &["--json"],
        "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C37UTO7408122F1204159ZE184226B<<<<<10\n",
    );
    assert_eq!(code, 1);
    assert_eq!(value["valid"], false);
    assert_eq!(
        value["invalid_fields"],
        json!(["document_number", "composite"])
    );
}

#[test]
fn structural_faults_are_reported_alone() {
    for (stdin, field) in [
        ("", "line_count"),
        ("\n\n  \n", "line_count"),
        ("P<UTO\n", "line_count"),
        (
            "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C3\n",
            "line_length",
        ),
        (&TD3.replace("ERIKSSON", "eriksson"), "charset"),
    ] {
        let (code, value) = run_json(&["--json"], stdin);
        assert_eq!(code, 1, "{stdin:?}");
        assert_eq!(value["valid"], false, "{stdin:?}");
        assert_eq!(value["invalid_fields"], json!([field]), "{stdin:?}");
    }
}

#[test]
fn tolerant_accepts_scanner_input_and_says_so() {
    let scanned = TD3.to_lowercase().replace('\n', "\r\n");
    let (code, _) = run_json(&["--json"], &scanned);
    assert_eq!(code, 1);
    let (code, value) = run_json(&["--json", "--tolerant"], &scanned);
    assert_eq!(code, 0);
    assert_eq!(value["document_number"], "L898902C3");
    let warnings = value["warnings"].as_array().expect("warnings is an array");
    assert!(warnings.contains(&json!("normalised_lowercase")));
}

#[test]
fn jsonl_prints_one_object_per_document() {
    let invalid = TD3.replace("C36UTO", "C37UTO");
    let (code, stdout) = run(&["--jsonl"], &format!("{TD3}\n{TD1}\n\n\n{invalid}"));
    assert_eq!(code, 1);
    let values: Vec<Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is a JSON object"))
        .collect();
    let formats: Vec<_> = values.iter().map(|v| v["format"].clone()).collect();
    assert_eq!(formats, [json!("TD3"), json!("TD1"), json!("TD3")]);
    let valid: Vec<_> = values.iter().map(|v| v["valid"].clone()).collect();
    assert_eq!(valid, [json!(true), json!(true), json!(false)]);
    let (code, stdout) = run(&["--jsonl"], &format!("{TD3}\n{TD1}"));
    assert_eq!((code, stdout.lines().count()), (0, 2));
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(run(&[], TD3).0, 2);
    assert_eq!(run(&["--json", "--jsonl"], TD3).0, 2);
    assert_eq!(run(&["--json", "--bogus"], TD3).0, 2);
}
