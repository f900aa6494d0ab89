//! Serial scanners through real pseudo-terminals: framing at 9600 and 115200 baud, byte-at-a-time
//! delivery, garbage, ACK/NAK, cut frames, replug (socat), and scripted Honeywell/Zebra init peers.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use checkpointd::adapters::devices::{
    self, Backoff, DeviceSpec, DeviceTask, parse_profile, parse_programming,
};
use checkpointd::adapters::system_clock::SystemClock;
use checkpointd::core::frame::ssi::{self, SsiDecoder, SsiPacket};
use checkpointd::core::frame::{FrameError, Symbology};
use checkpointd::ports::scanner::{DeviceEvent, Link, ScanKind};
use tokio::sync::mpsc;

const TD3: [&str; 2] = [
    "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
    "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
];
const WAIT: Duration = Duration::from_secs(10);

fn fast_backoff() -> Backoff {
    Backoff {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(200),
    }
}

/// A PTY pair: the test writes to `master` as the scanner; the adapter opens `path`.
/// The slave handle is kept open by the test so that reading the master never sees EIO while
/// the adapter is between sessions.
fn pty() -> (File, String, OwnedFd) {
    let pair = nix::pty::openpty(None, None).expect("openpty");
    let path = nix::unistd::ttyname(&pair.slave).expect("ttyname");
    (
        File::from(pair.master),
        path.to_string_lossy().into_owned(),
        pair.slave,
    )
}

fn profile_text(name: &str) -> String {
    std::fs::read_to_string(format!("devices/{name}.toml")).expect("shipped profile")
}

fn start(profile: &str, path: &str, init: bool) -> (DeviceTask, mpsc::Receiver<DeviceEvent>) {
    let profile = parse_profile(profile).expect("valid profile");
    let programming = match (&profile.init, init) {
        (Some(name), true) => Some(
            parse_programming(
                &std::fs::read_to_string(format!("firmware-config/scanners/{name}.toml"))
                    .expect("exists"),
            )
            .expect("valid"),
        ),
        _ => None,
    };
    let spec = DeviceSpec {
        name: "desk".into(),
        profile,
        programming,
        path: Some(path.into()),
        frame_bytes_max: checkpointd::core::frame::FRAME_BYTES_MAX,
    };
    let (tx, rx) = mpsc::channel(64);
    let task =
        devices::spawn(spec, Arc::new(SystemClock::default()), fast_backoff(), tx).expect("thread");
    (task, rx)
}

fn next(rx: &mut mpsc::Receiver<DeviceEvent>) -> DeviceEvent {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        match rx.try_recv() {
            Ok(event) => return event,
            Err(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(2))
            }
            Err(e) => panic!("no device event within {WAIT:?}: {e}"),
        }
    }
}

fn until<T>(
    rx: &mut mpsc::Receiver<DeviceEvent>,
    mut pick: impl FnMut(&DeviceEvent) -> Option<T>,
) -> T {
    loop {
        let event = next(rx);
        if let Some(found) = pick(&event) {
            return found;
        }
    }
}

fn wait_up(rx: &mut mpsc::Receiver<DeviceEvent>) {
    until(rx, |e| {
        matches!(e, DeviceEvent::State(s) if s.link == Link::Up).then_some(())
    });
}

fn scan(rx: &mut mpsc::Receiver<DeviceEvent>) -> checkpointd::ports::scanner::ScanEvent {
    until(rx, |e| match e {
        DeviceEvent::Scan(s) => Some(s.clone()),
        _ => None,
    })
}

fn with_baud(text: &str, baud: u32) -> String {
    let mut out = String::new();
    for line in text.lines() {
        if line.starts_with("baud = ") {
            out.push_str(&format!("baud = {baud}\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[test]
fn mrz_swipe_reader_line_by_line_byte_at_a_time_at_9600_and_115200() {
    for baud in [9600, 115_200] {
        let (mut master, path, _slave) = pty();
        let (task, mut rx) = start(
            &with_baud(&profile_text("generic-mrz-rs232"), baud),
            &path,
            false,
        );
        wait_up(&mut rx);
        for line in TD3 {
            for byte in line.bytes().chain(*b"\r\n") {
                master.write_all(&[byte]).expect("write");
            }
        }
        let event = scan(&mut rx);
        match &event.kind {
            ScanKind::Mrz(lines) => assert_eq!(lines.expose(), TD3),
            ScanKind::Symbol => panic!("expected an MRZ"),
        }
        assert_eq!(event.payload, TD3.join("\n").into_bytes());
        assert!(!format!("{event:?}").contains("ERIKSSON"));
        task.stop();
    }
}

#[test]
fn stx_etx_qr_with_aim_and_garbage_and_crlf_framing() {
    let base = profile_text("honeywell-2d-cdc");
    let cases = [
        (
            "terminator = \"stx-etx\"",
            b"noise\x02]Q1HC1:PERMIT\x03".to_vec(),
        ),
        ("terminator = \"crlf\"", b"]Q1HC1:PERMIT\r\n".to_vec()),
        ("terminator = \"cr\"", b"]Q1HC1:PERMIT\r".to_vec()),
    ];
    for (framing, wire) in cases {
        let (mut master, path, _slave) = pty();
        let text = base.replace("terminator = \"cr\"", framing);
        let (task, mut rx) = start(&text, &path, false);
        wait_up(&mut rx);
        master.write_all(&wire).expect("write");
        let event = scan(&mut rx);
        assert_eq!(event.symbology, Some(Symbology::Qr), "{framing}");
        assert_eq!(event.payload, b"HC1:PERMIT", "{framing}");
        task.stop();
    }
}

#[test]
fn wrong_line_settings_are_reported_as_garbled_and_the_device_keeps_running() {
    let (mut master, path, _slave) = pty();
    let (task, mut rx) = start(&profile_text("generic-mrz-rs232"), &path, false);
    wait_up(&mut rx);
    master
        .write_all(&[0xf8, 0x80, 0xfe, 0x9e, 0xe6, b'\r'])
        .expect("write");
    let problem = until(&mut rx, |e| match e {
        DeviceEvent::Problem { problem, .. } => Some(problem.clone()),
        _ => None,
    });
    assert!(matches!(problem, FrameError::Garbled { .. }));
    assert!(problem.to_string().contains("check line settings"));
    master
        .write_all(format!("{}\r{}\r", TD3[0], TD3[1]).as_bytes())
        .expect("write");
    assert!(matches!(scan(&mut rx).kind, ScanKind::Mrz(_)));
    task.stop();
}

#[test]
fn ack_nak_handshake_answers_each_frame() {
    let (mut master, path, _slave) = pty();
    let text = profile_text("generic-mrz-rs232").replace("ack_nak = false", "ack_nak = true");
    let (task, mut rx) = start(&text, &path, false);
    wait_up(&mut rx);
    master
        .write_all(format!("{}\r", TD3[0]).as_bytes())
        .expect("write");
    let mut reply = [0u8; 1];
    master.read_exact(&mut reply).expect("ack");
    assert_eq!(reply, [0x06]);
    master.write_all(&[0xff, 0xfe, 0xfd, b'\r']).expect("write");
    master.read_exact(&mut reply).expect("nak");
    assert_eq!(reply, [0x15]);
    task.stop();
}

#[test]
fn peer_closing_mid_frame_reports_the_cut_and_the_device_goes_down() {
    let (mut master, path, _slave) = pty();
    let (task, mut rx) = start(&profile_text("generic-mrz-rs232"), &path, false);
    wait_up(&mut rx);
    master
        .write_all(format!("{}\rL898902C3", TD3[0]).as_bytes())
        .expect("write");
    std::thread::sleep(Duration::from_millis(100));
    drop(master);
    let mut cut = false;
    let mut partial = false;
    until(&mut rx, |e| match e {
        DeviceEvent::Problem {
            problem: FrameError::Cut { .. },
            ..
        } => {
            cut = true;
            None
        }
        DeviceEvent::Problem {
            problem: FrameError::PartialMrz { .. },
            ..
        } => {
            partial = true;
            None
        }
        DeviceEvent::Scan(_) => panic!("a cut document must not be delivered"),
        DeviceEvent::State(s) if s.link == Link::Down => Some(()),
        _ => None,
    });
    assert!(cut && partial, "cut {cut} partial {partial}");
    task.stop();
}

/// A named PTY pair from socat: `dir/dev` for the adapter, `dir/peer` for the scanner side.
fn socat(dir: &Path) -> Child {
    let child = Command::new("socat")
        .arg(format!("pty,raw,echo=0,link={}", dir.join("dev").display()))
        .arg(format!(
            "pty,raw,echo=0,link={}",
            dir.join("peer").display()
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("socat is installed by scripts/test.sh");
    for _ in 0..200 {
        if dir.join("peer").exists() && dir.join("dev").exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child
}

#[test]
fn replug_reconnects_and_each_scan_arrives_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut first = socat(dir.path());
    let dev = dir.path().join("dev").to_string_lossy().into_owned();
    let (task, mut rx) = start(&profile_text("generic-mrz-rs232"), &dev, false);
    wait_up(&mut rx);
    let mut peer = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join("peer"))
        .expect("peer");
    peer.write_all(format!("{}\r{}\r", TD3[0], TD3[1]).as_bytes())
        .expect("write");
    assert!(matches!(scan(&mut rx).kind, ScanKind::Mrz(_)));
    // Unplug: the PTYs vanish; the device must go down, then come back when replugged.
    first.kill().expect("kill socat");
    first.wait().expect("reap socat");
    drop(peer);
    until(&mut rx, |e| {
        matches!(e, DeviceEvent::State(s) if s.link == Link::Down).then_some(())
    });
    let _ = std::fs::remove_file(dir.path().join("dev"));
    let _ = std::fs::remove_file(dir.path().join("peer"));
    let mut second = socat(dir.path());
    wait_up(&mut rx);
    let mut peer = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join("peer"))
        .expect("peer");
    peer.write_all(format!("{}\r{}\r", TD3[0], TD3[1]).as_bytes())
        .expect("write");
    assert!(matches!(scan(&mut rx).kind, ScanKind::Mrz(_)));
    std::thread::sleep(Duration::from_millis(200));
    while let Ok(event) = rx.try_recv() {
        assert!(
            !matches!(event, DeviceEvent::Scan(_)),
            "duplicate scan: {event:?}"
        );
    }
    task.stop();
    second.kill().expect("kill socat");
    second.wait().expect("reap socat");
}

#[test]
fn honeywell_init_sequence_answered_by_a_scripted_peer() {
    let (master, path, _slave) = pty();
    let mut reader = master.try_clone().expect("clone");
    let mut writer = master;
    // The scanner: echo each menu command with ACK before its storage character.
    let peer = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut buf = [0u8; 256];
        let mut pending = Vec::new();
        while seen.len() < 4 {
            let n = reader.read(&mut buf).expect("read");
            pending.extend_from_slice(&buf[..n]);
            while let Some(end) = pending.iter().position(|&b| b == b'.' || b == b'!') {
                let command: Vec<u8> = pending.drain(..=end).collect();
                let body = command
                    .strip_prefix(b"\x16M\r")
                    .expect("menu prefix")
                    .to_vec();
                let (storage, tags) = body.split_last().expect("storage char");
                let mut reply = tags.to_vec();
                reply.push(0x06);
                reply.push(*storage);
                writer.write_all(&reply).expect("reply");
                seen.push(String::from_utf8_lossy(tags).into_owned());
            }
        }
        writer.write_all(b"]Q1HC1:AFTERINIT\r").expect("scan");
        (seen, writer)
    });
    let (task, mut rx) = start(&profile_text("honeywell-2d-cdc"), &path, true);
    wait_up(&mut rx);
    let event = scan(&mut rx);
    assert_eq!(event.payload, b"HC1:AFTERINIT");
    let (seen, _writer) = peer.join().expect("peer");
    assert_eq!(seen, ["REVINF", "SUFBK2990D", "PREBK2995C80", "TRGMOD0"]);
    task.stop();
}

#[test]
fn honeywell_nak_keeps_the_device_down_with_the_reason() {
    let (master, path, _slave) = pty();
    let mut reader = master.try_clone().expect("clone");
    let mut writer = master;
    std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            if buf[..n].ends_with(b".") || buf[..n].ends_with(b"!") {
                let _ = writer.write_all(b"XX\x15.");
            }
        }
    });
    let (task, mut rx) = start(&profile_text("honeywell-2d-cdc"), &path, true);
    let error = until(&mut rx, |e| match e {
        DeviceEvent::State(s) if s.link == Link::Down => s.last_error.clone(),
        DeviceEvent::State(s) if s.link == Link::Up => {
            panic!("a NAKed init must not bring the device up")
        }
        _ => None,
    });
    assert!(error.contains("init sequence failed"), "{error}");
    task.stop();
}

#[test]
fn zebra_ssi_init_and_decode_data_are_acknowledged() {
    let (master, path, _slave) = pty();
    let mut reader = master.try_clone().expect("clone");
    let mut writer = master;
    let peer = std::thread::spawn(move || {
        let ack = SsiPacket {
            opcode: ssi::OP_CMD_ACK,
            source: ssi::SOURCE_DECODER,
            status: 0,
            data: vec![],
        };
        let mut decoder = SsiDecoder::new();
        let mut host = Vec::new();
        let mut buf = [0u8; 256];
        while host.len() < 3 {
            let n = reader.read(&mut buf).expect("read");
            let mut packets = Vec::new();
            decoder.push(&buf[..n], &mut packets);
            for packet in packets {
                let packet = packet.expect("valid host packet");
                if host.len() < 2 {
                    writer
                        .write_all(&ack.encode().expect("small"))
                        .expect("ack");
                    if host.len() == 1 {
                        let data = SsiPacket {
                            opcode: ssi::OP_DECODE_DATA,
                            source: ssi::SOURCE_DECODER,
                            status: 0,
                            data: b"\x1cHC1:ZEBRA".to_vec(),
                        };
                        writer
                            .write_all(&data.encode().expect("small"))
                            .expect("decode data");
                    }
                }
                host.push(packet.opcode);
            }
        }
        host
    });
    let (task, mut rx) = start(&profile_text("zebra-ssi"), &path, true);
    wait_up(&mut rx);
    let event = scan(&mut rx);
    assert_eq!(event.symbology, Some(Symbology::Qr));
    assert_eq!(event.payload, b"HC1:ZEBRA");
    let host = peer.join().expect("peer");
    assert_eq!(
        host,
        [ssi::OP_PARAM_SEND, ssi::OP_SCAN_ENABLE, ssi::OP_CMD_ACK]
    );
    task.stop();
}
