//! `checkpointctl permit keygen|issue|verify` run as a real process.

use std::path::Path;
use std::process::{Command, Output};

fn ctl(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_checkpointctl"))
        .arg("permit")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("checkpointctl runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("utf-8 stdout")
}

const BODY_TOML: &str = r#"
type = "evisa_multiple"
from = "2026-01-01"
until = "2026-12-31"
entries = 4
[holder]
state = "D"
doc = "C01X00T47"
dob = "1964-08-12"
nat = "D"
name = "MUSTERMANN ERIKA"
"#;

/// Keygen, issue (with PNG) and verify in a fresh directory; returns (dir, BP1 text).
fn issued() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let keygen = ctl(
        &[
            "keygen",
            "--out",
            "issuer.key",
            "--sign-from",
            "2025-01-01T00:00:00Z",
        ],
        dir.path(),
    );
    assert!(keygen.status.success(), "{keygen:?}");
    std::fs::write(dir.path().join("trust.json"), &keygen.stdout).expect("write trust");
    std::fs::write(dir.path().join("body.toml"), BODY_TOML).expect("write body");
    let issue = ctl(
        &[
            "issue",
            "--key",
            "issuer.key",
            "--body",
            "body.toml",
            "--iss",
            "D-BAMF",
            "--iat",
            "2025-12-01T00:00:00Z",
            "--cti",
            "00112233445566778899aabbccddeeff",
            "--png",
            "permit.png",
        ],
        dir.path(),
    );
    assert!(issue.status.success(), "{issue:?}");
    let text = stdout(&issue).trim().to_owned();
    assert!(text.starts_with("BP1:"));
    (dir, text)
}

#[test]
fn keygen_writes_a_private_key_only_the_owner_reads() {
    let (dir, _) = issued();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("issuer.key"))
            .expect("key file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let trust: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("trust.json")).expect("trust"))
            .expect("keygen prints json");
    let entry = &trust[0];
    assert_eq!(entry["kid"].as_str().map(str::len), Some(16));
    assert_eq!(entry["public_key"].as_str().map(str::len), Some(64));
    assert_eq!(entry["sign_from"], "2025-01-01T00:00:00Z");
    // Never overwrites an existing key.
    let again = ctl(&["keygen", "--out", "issuer.key"], dir.path());
    assert_eq!(again.status.code(), Some(2));
}

#[test]
fn verify_prints_verdicts_with_exit_codes() {
    let (dir, text) = issued();
    let valid = ctl(
        &[
            "verify",
            "--trust",
            "trust.json",
            "--at",
            "2026-06-01T00:00:00Z",
            &text,
        ],
        dir.path(),
    );
    assert_eq!(valid.status.code(), Some(0), "{valid:?}");
    assert!(stdout(&valid).starts_with("VALID evisa_multiple"));
    assert!(
        !stdout(&valid).contains("C01X00T47"),
        "document number is masked"
    );

    let json = ctl(
        &[
            "verify",
            "--trust",
            "trust.json",
            "--at",
            "2026-06-01T00:00:00Z",
            "--json",
            &text,
        ],
        dir.path(),
    );
    assert_eq!(json.status.code(), Some(0));
    let verdict: serde_json::Value = serde_json::from_str(&stdout(&json)).expect("json");
    assert_eq!(verdict["valid"], true);
    assert_eq!(verdict["code"], "valid");
    assert_eq!(verdict["permit"]["cti"], "00112233445566778899aabbccddeeff");
    assert_eq!(verdict["permit"]["iss"], "D-BAMF");
    assert_eq!(verdict["permit"]["exp"], "2026-12-31T23:59:59Z");
    assert_eq!(verdict["permit"]["body"]["entries"], 4);
    assert_eq!(verdict["permit"]["body"]["holder"]["doc"], "C01X00T47");

    let expired = ctl(
        &[
            "verify",
            "--trust",
            "trust.json",
            "--at",
            "2027-06-01T00:00:00Z",
            "--json",
            &text,
        ],
        dir.path(),
    );
    assert_eq!(expired.status.code(), Some(1));
    let verdict: serde_json::Value = serde_json::from_str(&stdout(&expired)).expect("json");
    assert_eq!(verdict["valid"], false);
    assert_eq!(verdict["code"], "expired");
    assert_eq!(verdict["permit"], serde_json::Value::Null);

    std::fs::write(
        dir.path().join("revoked.txt"),
        "# revoked today\n00112233445566778899aabbccddeeff\n",
    )
    .expect("write");
    let revoked = ctl(
        &[
            "verify",
            "--trust",
            "trust.json",
            "--revoked",
            "revoked.txt",
            "--at",
            "2026-06-01T00:00:00Z",
            &text,
        ],
        dir.path(),
    );
    assert_eq!(revoked.status.code(), Some(1));
    assert!(stdout(&revoked).starts_with("INVALID revoked:"));
}

#[test]
fn verify_reads_stdin_and_reports_usage_errors() {
    let (dir, text) = issued();
    let mut child = Command::new(env!("CARGO_BIN_EXE_checkpointctl"))
        .args([
            "permit",
            "verify",
            "--trust",
            "trust.json",
            "--at",
            "2026-06-01T00:00:00Z",
            "-",
        ])
        .current_dir(dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        writeln!(stdin, "{text}").expect("write stdin");
    }
    let output = child.wait_with_output().expect("wait");
    assert_eq!(output.status.code(), Some(0), "{output:?}");

    let missing = ctl(&["verify", "--trust", "missing.json", &text], dir.path());
    assert_eq!(missing.status.code(), Some(2));
    let no_text = ctl(&["verify", "--trust", "trust.json"], dir.path());
    assert_eq!(no_text.status.code(), Some(2));
    let garbage = ctl(&["verify", "--trust", "trust.json", "BP1:GGW"], dir.path());
    assert_eq!(garbage.status.code(), Some(1));
    assert!(stdout(&garbage).starts_with("INVALID base45_invalid:"));
}

#[test]
fn issued_png_decodes_back_to_the_text() {
    let (dir, text) = issued();
    let image = image::open(dir.path().join("permit.png"))
        .expect("png")
        .to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(image);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1);
    let (_, content) = grids[0].decode().expect("decodes");
    assert_eq!(content, text);
}

#[test]
fn issue_rejects_an_invalid_body() {
    let (dir, _) = issued();
    std::fs::write(
        dir.path().join("bad.json"),
        r#"{"type":"work_permit","from":"2026-01-01","until":"2026-12-31",
            "holder":{"state":"D","doc":"C01X00T47","dob":"1964-08-12","nat":"D","name":"E"}}"#,
    )
    .expect("write");
    let output = ctl(
        &["issue", "--key", "issuer.key", "--body", "bad.json"],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("employer is required"));
}
