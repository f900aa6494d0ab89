//! `checkpointd demo` end to end: the real binary, real PTY scanners, real stores, and with
//! `--nats` a real nats-server receiving every recorded crossing.

mod common;

use std::process::Command;

use common::nats::NatsServer;

const DAEMON: &str = env!("CARGO_BIN_EXE_checkpointd");

fn run_demo(extra: &[&str]) -> String {
    let output = Command::new(DAEMON)
        .arg("demo")
        .args(extra)
        .output()
        .expect("demo runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "demo failed:\n{stdout}\n{stderr}");
    stdout
}

fn line_of<'a>(stdout: &'a str, label: &str) -> &'a str {
    stdout
        .lines()
        .rfind(|line| line.contains(label))
        .unwrap_or_else(|| panic!("no line for {label}:\n{stdout}"))
}

#[test]
fn demo_decides_every_traveller_as_the_rules_say() {
    let stdout = run_demo(&[]);
    let expectations = [
        ("visa-free traveller (GEO)", "ADMIT", "may_stay_until"),
        ("visa-free traveller (GEO)", "ADMIT", "chip_authentic"),
        (
            "Russian citizen near the calendar-year limit",
            "ADMIT",
            "may stay until",
        ),
        (
            "temporary-residence permit holder (IND)",
            "ADMIT",
            "grounds_permit",
        ),
        ("e-visa holder (IND)", "ADMIT", "grounds_evisa"),
        ("forged permit card (IND)", "REFUSE", "permit_invalid"),
        ("revoked work permit (IND)", "REFUSE", "permit_invalid"),
        ("traveller under an entry ban (GEO)", "REFUSE", "entry_ban"),
        ("passport reported lost (GEO)", "REFER", "document_lost"),
        ("damaged MRZ (GEO)", "REFER", "mrz_invalid"),
        (
            "chip with an altered DG1 (GEO)",
            "REFUSE",
            "chip_passive_auth_failed",
        ),
        ("cloned chip (GEO)", "REFUSE", "chip_clone_suspected"),
        ("overstayer leaving (UKR)", "REFER", "overstay 11"),
        (
            "Kazakh citizen leaving unregistered (KAZ)",
            "REFER",
            "registration_overdue",
        ),
    ];
    for (label, outcome, detail) in expectations {
        let line = line_of(&stdout, label);
        assert!(
            line.contains(outcome) && line.contains(detail),
            "{label}: {line}"
        );
    }
    // The Russian citizen has 82 days of this calendar year behind him: 8 days remain.
    assert!(
        line_of(&stdout, "Russian citizen").contains("days used 82"),
        "{stdout}"
    );
    assert!(
        stdout.contains("summary: 4 admitted, 4 referred to an officer, 5 refused"),
        "{stdout}"
    );
    assert!(stdout.contains("17 crossings recorded"), "{stdout}");
}

#[test]
fn demo_streams_every_crossing_to_central() {
    let server = NatsServer::start();
    let stdout = run_demo(&["--nats", &server.url()]);
    assert!(
        stdout.contains("feed: 0 crossings still waiting for central"),
        "{stdout}"
    );
}
