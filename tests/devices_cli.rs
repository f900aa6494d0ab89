//! `checkpointctl devices` against the shipped profiles and a real PTY.

use std::io::{Read, Write};
use std::process::Command;

const CTL: &str = env!("CARGO_BIN_EXE_checkpointctl");

#[test]
fn list_shows_every_shipped_profile_with_its_transport() {
    let output = Command::new(CTL)
        .args(["devices", "--profiles", "devices", "list"])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    for (name, transport) in [
        ("honeywell-2d-cdc", "serial"),
        ("honeywell-2d-hidpos", "hid-pos"),
        ("zebra-ssi", "zebra-ssi"),
        ("access-is-keyboard", "hid-keyboard"),
        ("generic-mrz-rs232", "serial"),
        ("hid-omnikey-5022", "pcsc"),
        ("pcsc-generic-contactless", "pcsc"),
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(name) && l.contains(transport)),
            "{name}: {stdout}"
        );
    }
    assert!(
        stdout.lines().any(|l| l.starts_with("hid-omnikey-5022")
            && l.contains("reader \"OMNIKEY 5022\", extended length")),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("pcsc-generic-contactless")
                && l.contains("reader name from the device entry, short APDUs")),
        "{stdout}"
    );
}

#[test]
fn probe_runs_the_honeywell_init_sequence_and_prints_the_replies() {
    let pair = nix::pty::openpty(None, None).expect("openpty");
    let path = nix::unistd::ttyname(&pair.slave).expect("ttyname");
    let mut master = std::fs::File::from(pair.master);
    let mut writer = master.try_clone().expect("clone");
    let peer = std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        let mut pending = Vec::new();
        let mut answered = 0;
        while answered < 4 {
            let n = master.read(&mut buf).expect("read");
            pending.extend_from_slice(&buf[..n]);
            while let Some(end) = pending.iter().position(|&b| b == b'.' || b == b'!') {
                let command: Vec<u8> = pending.drain(..=end).collect();
                let body = command.strip_prefix(b"\x16M\r").expect("menu prefix");
                let (storage, tags) = body.split_last().expect("storage");
                let mut reply = if tags == b"REVINF" {
                    b"REVINF31205540-123".to_vec()
                } else {
                    tags.to_vec()
                };
                reply.extend([0x06, *storage]);
                writer.write_all(&reply).expect("reply");
                answered += 1;
            }
        }
    });
    let output = Command::new(CTL)
        .args([
            "devices",
            "--profiles",
            "devices",
            "--firmware-config",
            "firmware-config/scanners",
            "probe",
        ])
        .arg("honeywell-2d-cdc")
        .arg("--path")
        .arg(&path)
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    peer.join().expect("peer");
    assert!(stdout.contains("REVINF31205540-123 Ack"), "{stdout}");
    assert!(
        stdout.contains("init sequence honeywell-2d accepted"),
        "{stdout}"
    );
    drop(pair.slave);
}
