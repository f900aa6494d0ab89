//! `checkpointctl qr decode`: the JSON contract and the exit statuses, run as a real process.

mod qr_synth;

use std::path::Path;
use std::process::{Command, Output};

use qr_synth::{Scene, render, symbol};
use qrcode::EcLevel;
use serde_json::{Value, json};

fn checkpointctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_checkpointctl"))
        .args(args)
        .output()
        .expect("checkpointctl runs")
}

fn write_code(dir: &Path, name: &str, payload: &[u8]) -> String {
    let path = dir.join(name);
    render(&symbol(payload, EcLevel::M), &Scene::default())
        .save(&path)
        .expect("the temp dir is writable");
    path.display().to_string()
}

fn json_of(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).expect("stdout is one JSON document")
}

#[test]
fn all_decoded_prints_codes_and_exits_0() {
    let dir = tempfile::tempdir().expect("temp dir");
    let a = write_code(dir.path(), "a.png", b"BP1:ABC");
    let b = write_code(dir.path(), "b.bmp", "Žluťoučký kůň".as_bytes());
    let output = checkpointctl(&["qr", "decode", "--json", &a, &b]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(
        json_of(&output),
        json!([
            {"file": a, "codes": ["BP1:ABC"], "error": null},
            {"file": b, "codes": ["Žluťoučký kůň"], "error": null},
        ])
    );
}

#[test]
fn any_failure_is_reported_per_file_and_exits_1() {
    let dir = tempfile::tempdir().expect("temp dir");
    let good = write_code(dir.path(), "good.png", b"OK");
    let blank = dir.path().join("blank.png");
    image::GrayImage::from_pixel(80, 80, image::Luma([255]))
        .save(&blank)
        .expect("the temp dir is writable");
    let blank = blank.display().to_string();
    let not_image = dir.path().join("notes.txt");
    std::fs::write(&not_image, "not an image").expect("the temp dir is writable");
    let not_image = not_image.display().to_string();
    let missing = dir.path().join("missing.png").display().to_string();

    let output = checkpointctl(&[
        "qr", "decode", "--json", &good, &blank, &not_image, &missing,
    ]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let reports = json_of(&output);
    let reports = reports.as_array().expect("an array");
    assert_eq!(reports.len(), 4);
    assert_eq!(
        reports[0],
        json!({"file": good, "codes": ["OK"], "error": null})
    );
    for (report, file) in reports[1..].iter().zip([&blank, &not_image, &missing]) {
        assert_eq!(report["file"], json!(file));
        assert_eq!(report["codes"], json!([]));
        let error = report["error"].as_str().expect("an error message");
        assert!(!error.is_empty());
        let keys: Vec<&String> = report.as_object().expect("an object").keys().collect();
        assert_eq!(keys, ["codes", "error", "file"]);
    }
    assert!(
        reports[1]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("no qr code found")
    );
    assert!(
        reports[2]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("unreadable image")
    );
    assert!(
        reports[3]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("cannot open file")
    );
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(
        checkpointctl(&["qr", "decode", "--json"]).status.code(),
        Some(2)
    );
    assert_eq!(
        checkpointctl(&["qr", "decode", "--bogus", "x.png"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(checkpointctl(&["qr"]).status.code(), Some(2));
}

#[test]
fn plain_output_lists_file_and_text() {
    let dir = tempfile::tempdir().expect("temp dir");
    let a = write_code(dir.path(), "a.png", b"HELLO");
    let output = checkpointctl(&["qr", "decode", &a]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("{a}: HELLO\n")
    );
}
