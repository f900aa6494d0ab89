//! USB HID scanners through umockdev, against the vendored libusb in `checkpointctl`.
//!
//! Replays: `checkpointctl devices listen` runs under `umockdev-run` with a hand-written device
//! description and an ioctl replay (inside `timeout`, since a mismatched replay can make libusb
//! spin). Keyboard wedge (1209:0001 at 001/005): a TD1 MRZ (`kbd-mrz`) and a BP1 permit text
//! typed with Shift for capitals and `:` (`kbd-qr`). HID POS (1209:0003 at 001/007): a QR over
//! two 64-byte reports (`hidpos-qr`) and a TD3 passport MRZ without AIM id over two reports, the
//! first with the "more follow" bit (`hidpos-mrz`).

use std::path::Path;
use std::process::Command;

const CTL: &str = env!("CARGO_BIN_EXE_checkpointctl");
const FIXTURES: &str = "tests/fixtures/usb";

fn umockdev_run() -> bool {
    let found = Command::new("umockdev-run")
        .arg("--version")
        .output()
        .is_ok();
    if !found {
        eprintln!("SKIPPED: umockdev-run is not installed (scripts/test installs it)");
    }
    found
}

fn listen(fixture: &str, node: &str, profiles: &Path, profile: &str) -> String {
    listen_replay(fixture, fixture, node, profiles, profile)
}

/// `listen --count 1` under umockdev-run: device description `device`, ioctl replay `replay`.
fn listen_replay(device: &str, replay: &str, node: &str, profiles: &Path, profile: &str) -> String {
    let dir = Path::new(FIXTURES);
    let output = Command::new("timeout")
        .args(["30", "umockdev-run", "-d"])
        .arg(dir.join(format!("{device}.umockdev")))
        .arg("-i")
        .arg(format!(
            "{node}={}",
            dir.join(format!("{replay}.ioctl")).display()
        ))
        .arg("--")
        .arg(CTL)
        .args(["devices", "--profiles"])
        .arg(profiles)
        .args(["listen", profile, "--count", "1", "--seconds", "20"])
        .output()
        .expect("timeout and umockdev-run run");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn keyboard_wedge_delivers_a_td1_mrz_masked() {
    if !umockdev_run() {
        return;
    }
    let stdout = listen(
        "kbd-mrz",
        "/dev/bus/usb/001/005",
        Path::new("devices"),
        "generic-keyboard-wedge",
    );
    assert!(
        stdout.contains("state generic-keyboard-wedge up"),
        "{stdout}"
    );
    assert!(
        stdout.contains("scan generic-keyboard-wedge mrz Td1 I<UTO"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("ERIKSSON"),
        "listen must mask the MRZ: {stdout}"
    );
    assert!(
        !stdout.contains("D231458907"),
        "listen must mask the MRZ: {stdout}"
    );
}

/// The shipped Access-IS HID POS profile, renamed `test-hidpos`, for the fixture's 1209:0003.
fn hid_pos_profiles() -> tempfile::TempDir {
    let profiles = tempfile::tempdir().expect("tempdir");
    let profile = std::fs::read_to_string("devices/access-is-hidpos.toml")
        .expect("shipped")
        .replace("name = \"access-is-hidpos\"", "name = \"test-hidpos\"")
        .replace("vendor = 0x0db5", "vendor = 0x1209")
        .replace("product = 0x013b", "product = 0x0003");
    std::fs::write(profiles.path().join("test-hidpos.toml"), profile).expect("write");
    profiles
}

#[test]
fn hid_pos_scanner_assembles_a_two_report_qr() {
    if !umockdev_run() {
        return;
    }
    let profiles = hid_pos_profiles();
    let stdout = listen(
        "hidpos-qr",
        "/dev/bus/usb/001/007",
        profiles.path(),
        "test-hidpos",
    );
    assert!(
        stdout.contains("scan test-hidpos qr 82 bytes HC1:…"),
        "{stdout}"
    );
}

#[test]
fn hid_pos_scanner_delivers_a_td3_mrz_over_two_reports_masked() {
    if !umockdev_run() {
        return;
    }
    let profiles = hid_pos_profiles();
    let stdout = listen_replay(
        "hidpos-qr",
        "hidpos-mrz",
        "/dev/bus/usb/001/007",
        profiles.path(),
        "test-hidpos",
    );
    assert!(stdout.contains("state test-hidpos up"), "{stdout}");
    assert!(
        stdout.contains("scan test-hidpos mrz Td3 P<UTO… (2 lines hidden)"),
        "{stdout}"
    );
    for secret in ["ERIKSSON", "ANNA", "L898902C3", "7408122"] {
        assert!(
            !stdout.contains(secret),
            "listen must mask the MRZ: {stdout}"
        );
    }
}

#[test]
fn keyboard_wedge_types_a_bp1_permit_text_masked() {
    if !umockdev_run() {
        return;
    }
    let stdout = listen_replay(
        "kbd-mrz",
        "kbd-qr",
        "/dev/bus/usb/001/005",
        Path::new("devices"),
        "generic-keyboard-wedge",
    );
    // 79 characters typed: capitals and `:` `$` `%` need Shift on the US table; a wrong table
    // would show `bp1;` here.
    assert!(
        stdout.contains("scan generic-keyboard-wedge unknown 79 bytes BP1:…"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("BW33BM"),
        "listen must show only the prefix: {stdout}"
    );
}
