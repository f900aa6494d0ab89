//! USB HID scanners through umockdev ioctl replays: `checkpointctl devices listen` runs under
//! `umockdev-run` (inside `timeout`, since a mismatched replay can make libusb spin).

use std::path::Path;
use std::process::Command;

const CTL: &str = env!("CARGO_BIN_EXE_checkpointctl");

fn umockdev_run() -> bool {
    let found = Command::new("umockdev-run")
        .arg("--version")
        .output()
        .is_ok();
    if !found {
        eprintln!("SKIPPED: umockdev-run is not installed (scripts/test.sh installs it)");
    }
    found
}

fn listen(fixture: &str, node: &str, profiles: &Path, profile: &str) -> String {
    let dir = Path::new("tests/fixtures/usb");
    let output = Command::new("timeout")
        .args(["30", "umockdev-run", "-d"])
        .arg(dir.join(format!("{fixture}.umockdev")))
        .arg("-i")
        .arg(format!(
            "{node}={}",
            dir.join(format!("{fixture}.ioctl")).display()
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

#[test]
fn hid_pos_scanner_assembles_a_two_report_qr() {
    if !umockdev_run() {
        return;
    }
    let profiles = tempfile::tempdir().expect("tempdir");
    let profile = std::fs::read_to_string("devices/access-is-hidpos.toml")
        .expect("shipped")
        .replace("name = \"access-is-hidpos\"", "name = \"test-hidpos\"")
        .replace("vendor = 0x0db5", "vendor = 0x1209")
        .replace("product = 0x013b", "product = 0x0003");
    std::fs::write(profiles.path().join("test-hidpos.toml"), profile).expect("write");
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
