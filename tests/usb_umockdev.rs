//! USB HID scanners through umockdev, against the vendored libusb in `checkpointctl`.
//!
//! Replays: `checkpointctl devices listen` runs under `umockdev-run` with a hand-written device
//! description and an ioctl replay (inside `timeout`, since a mismatched replay can make libusb
//! spin). Keyboard wedge (1209:0001 at 001/005): a TD1 MRZ (`kbd-mrz`) and a BP1 permit text
//! typed with Shift for capitals and `:` (`kbd-qr`). HID POS (1209:0003 at 001/007): a QR over
//! two 64-byte reports (`hidpos-qr`) and a TD3 passport MRZ without AIM id over two reports, the
//! first with the "more follow" bit (`hidpos-mrz`).
//!
//! Unplug and replug: `tests/usb/replug.py` builds the umockdev testbed itself, answers the
//! usbdevfs ioctls as the kernel does (reports fed once each; on unplug the URB in flight comes
//! back with -ESHUTDOWN, later ioctls fail with ENODEV, the device leaves sysfs and /dev), and
//! plugs the device in again while `listen` runs; the tests read its transcript.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

const CTL: &str = env!("CARGO_BIN_EXE_checkpointctl");
const FIXTURES: &str = "tests/fixtures/usb";

/// umockdev-run is required: a missing tool fails the test with the install hint.
fn require_umockdev_run() {
    let found = Command::new("umockdev-run")
        .arg("--version")
        .output()
        .is_ok();
    assert!(
        found,
        "umockdev-run is not installed: run ./scripts/test once, or apt-get install umockdev"
    );
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
    require_umockdev_run();
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
    require_umockdev_run();
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
    require_umockdev_run();
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
    require_umockdev_run();
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

/// The replug driver's Python bindings are required, as umockdev-run is.
fn require_replug_driver() {
    let found = Command::new("/usr/bin/python3")
        .args([
            "-c",
            "import gi; gi.require_version('UMockdev', '1.0'); from gi.repository import UMockdev",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "python3-gi and gir1.2-umockdev-1.0 are not installed: run ./scripts/test once, or \
         apt-get install python3-gi gir1.2-umockdev-1.0"
    );
}

/// One line of `listen`'s output, as the driver's transcript shows it.
struct Line {
    text: String,
}

impl Line {
    fn is_scan(&self) -> bool {
        self.text.starts_with("scan ")
    }

    fn is_state(&self, link: &str) -> bool {
        self.text.starts_with("state ") && self.text.split(' ').nth(2) == Some(link)
    }

    /// The `since` of a state line.
    fn since(&self) -> jiff::Timestamp {
        let at = self.text.find(" since ").expect("state line") + " since ".len();
        let rest = self.text.get(at..).unwrap_or_default();
        rest.split(' ')
            .next()
            .unwrap_or_default()
            .parse()
            .expect("RFC 3339 time")
    }
}

/// Runs `tests/usb/replug.py` with `steps` around `checkpointctl devices listen profile`; returns
/// the program's output lines and the whole transcript.
fn replug(
    device: &str,
    steps: &[&str],
    profiles: &Path,
    profile: &str,
    count: usize,
) -> (Vec<Line>, String) {
    let fixture = |name: &str| format!("{FIXTURES}/{name}");
    let steps: Vec<String> = steps
        .iter()
        .map(|step| match step.strip_prefix("plug=") {
            Some(replay) => format!("plug={}", fixture(replay)),
            None => (*step).to_owned(),
        })
        .collect();
    let output = Command::new("timeout")
        .args(["60", "/usr/bin/python3", "tests/usb/replug.py", "--device"])
        .arg(fixture(&format!("{device}.umockdev")))
        .arg("--hub")
        .arg(fixture("root-hub.umockdev"))
        .args(&steps)
        .args(["--", CTL, "devices", "--profiles"])
        .arg(profiles)
        .args(["listen", profile, "--count", &count.to_string()])
        .args(["--seconds", "40"])
        .output()
        .expect("timeout and python3 run");
    let transcript = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{transcript}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!transcript.contains("panicked"), "{transcript}");
    let lines = transcript
        .lines()
        .filter_map(|line| line.split_once(" out: "))
        .map(|(_, text)| Line {
            text: text.to_owned(),
        })
        .collect();
    (lines, transcript)
}

#[test]
fn keyboard_wedge_unplugged_and_replugged_reconnects_with_backoff_without_duplicate_scans() {
    require_umockdev_run();
    require_replug_driver();
    let (lines, transcript) = replug(
        "kbd-mrz",
        &[
            "plug=kbd-mrz.ioctl",
            "start",
            "wait=^scan ",
            "unplug",
            "wait=no such USB device",
            "plug=kbd-qr.ioctl",
            "wait=^state \\S+ up",
            "wait=^scan ",
            "exit",
        ],
        Path::new("devices"),
        "generic-keyboard-wedge",
        2,
    );
    let kinds: Vec<&str> = lines
        .iter()
        .map(|line| match line {
            l if l.is_state("up") => "up",
            l if l.is_state("down") => "down",
            l if l.is_scan() && l.text.contains(" mrz Td1 ") => "mrz",
            l if l.is_scan() && l.text.contains(" 79 bytes BP1:") => "bp1",
            _ => "other",
        })
        .collect();
    // One scan before the unplug, one after the replug: none lost, none repeated, nothing cut.
    assert_eq!(
        kinds,
        ["up", "mrz", "down", "down", "up", "bp1"],
        "{transcript}"
    );
    let lost = &lines[2];
    let absent = &lines[3];
    let back = &lines[4];
    assert!(
        lost.text
            .ends_with("last error: device lost: interrupt read: No such device (it may have been disconnected)"),
        "{transcript}"
    );
    assert!(
        absent
            .text
            .ends_with("last error: cannot open 1209:0001: no such USB device"),
        "{transcript}"
    );
    // The outage's second report (a new reason) keeps the time the device went down.
    assert_eq!(lost.since(), absent.since(), "{transcript}");
    // Backoff: a failed open after 200 ms, the next attempt 400 ms later found the device.
    let outage = back.since().duration_since(lost.since());
    assert!(
        outage >= jiff::SignedDuration::try_from(Duration::from_millis(590)).expect("small"),
        "reconnected after {outage:#}: {transcript}"
    );
    assert!(!transcript.contains("ERIKSSON"), "{transcript}");
}

#[test]
fn hid_pos_symbol_cut_by_a_power_cycle_is_reported_dropped_and_the_next_read_whole() {
    require_umockdev_run();
    require_replug_driver();
    let profiles = hid_pos_profiles();
    let (lines, transcript) = replug(
        "hidpos-qr",
        &[
            // Only the first report of the TD3 (data length 56, "more follow" set) arrives.
            "plug=hidpos-mrz.ioctl:1",
            "start",
            "delivered",
            "unplug",
            "wait=no such USB device",
            // Back after a power cycle: a new address on the same bus, the whole symbol.
            "plug=hidpos-mrz.ioctl@12",
            "wait=^state \\S+ up",
            "wait=^scan ",
            "exit",
        ],
        profiles.path(),
        "test-hidpos",
        1,
    );
    let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
    let cut = texts
        .iter()
        .position(|t| {
            *t == "problem test-hidpos frame cut after 56 bytes (device went away mid-frame)"
        })
        .unwrap_or_else(|| panic!("no cut reported: {transcript}"));
    let down = texts
        .iter()
        .position(|t| t.starts_with("state test-hidpos down"))
        .unwrap_or_else(|| panic!("no down state: {transcript}"));
    assert!(
        cut < down,
        "the cut is reported with the loss: {transcript}"
    );
    let scans: Vec<&&str> = texts.iter().filter(|t| t.starts_with("scan ")).collect();
    assert_eq!(
        scans,
        [&"scan test-hidpos mrz Td3 P<UTO… (2 lines hidden)"],
        "{transcript}"
    );
    let up_again = texts
        .iter()
        .rposition(|t| t.starts_with("state test-hidpos up"))
        .unwrap_or_else(|| panic!("not up again: {transcript}"));
    assert!(down < up_again, "{transcript}");
    assert!(
        transcript.contains("plugged at /dev/bus/usb/001/012"),
        "{transcript}"
    );
    for secret in ["ERIKSSON", "L898902C3"] {
        assert!(!transcript.contains(secret), "{transcript}");
    }
}
