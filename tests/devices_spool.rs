//! The image-spool device end to end: real spool directories, real PNG/JPEG files of generated QR
//! codes, started through `devices::spawn` from the shipped profile like the daemon does.

mod qr_synth;

use std::io::{Cursor, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use checkpointd::adapters::devices::profile::parse_profile;
use checkpointd::adapters::devices::{self, Backoff, DeviceSpec, DeviceTask};
use checkpointd::adapters::system_clock::SystemClock;
use checkpointd::ports::scanner::{DeviceEvent, DeviceState, Link, ScanKind, Symbology};
use image::{DynamicImage, GrayImage, ImageFormat, Luma, imageops};
use qr_synth::{Scene, render, symbol};
use qrcode::EcLevel;
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(20);

fn qr(payload: &[u8]) -> GrayImage {
    render(&symbol(payload, EcLevel::M), &Scene::default())
}

fn encode(image: &GrayImage, format: ImageFormat) -> Vec<u8> {
    let mut bytes = Vec::new();
    DynamicImage::ImageLuma8(image.clone())
        .write_to(&mut Cursor::new(&mut bytes), format)
        .expect("encode");
    bytes
}

/// Two codes side by side on one page.
fn page(left: &[u8], right: &[u8]) -> GrayImage {
    let (left, right) = (qr(left), qr(right));
    let mut page = GrayImage::from_pixel(
        left.width() + right.width(),
        left.height().max(right.height()),
        Luma([255]),
    );
    imageops::overlay(&mut page, &left, 0, 0);
    imageops::overlay(&mut page, &right, i64::from(left.width()), 0);
    page
}

/// The shipped profile with the spool moved to `root` (as `spool = …` in the terminal config
/// does) and a settle time fit for a test.
fn spec(root: &Path, settle: Duration) -> DeviceSpec {
    let text = std::fs::read_to_string("devices/fullpage-image-spool.toml").expect("profile");
    let mut profile = parse_profile(&text).expect("valid profile");
    let spool = profile.spool.as_mut().expect("spool settings");
    spool.settle = settle;
    spool.poll_interval = Duration::from_millis(20);
    DeviceSpec {
        name: "page-reader".into(),
        profile,
        programming: None,
        path: Some(root.display().to_string()),
        frame_bytes_max: checkpointd::core::frame::FRAME_BYTES_MAX,
    }
}

fn start(
    root: &Path,
    settle: Duration,
    capacity: usize,
) -> (DeviceTask, mpsc::Receiver<DeviceEvent>) {
    let (tx, rx) = mpsc::channel(capacity);
    let task = devices::spawn(
        spec(root, settle),
        Arc::new(SystemClock::default()),
        Backoff::default(),
        tx,
    )
    .expect("spawn");
    (task, rx)
}

/// Events until `want` scans arrived; states are returned beside them.
fn scans(rx: &mut mpsc::Receiver<DeviceEvent>, want: usize) -> (Vec<Vec<u8>>, Vec<DeviceState>) {
    let deadline = Instant::now() + WAIT;
    let (mut payloads, mut states) = (Vec::new(), Vec::new());
    while payloads.len() < want {
        assert!(
            Instant::now() < deadline,
            "only {payloads:?} of {want} scans; states {states:?}"
        );
        match rx.try_recv() {
            Ok(DeviceEvent::Scan(scan)) => {
                assert_eq!(scan.device, "page-reader");
                assert_eq!(scan.symbology, Some(Symbology::Qr));
                assert_eq!(scan.kind, ScanKind::Symbol);
                payloads.push(scan.payload);
            }
            Ok(DeviceEvent::State(state)) => states.push(state),
            Ok(other) => panic!("unexpected {other:?}"),
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    (payloads, states)
}

/// Waits until `path` exists.
fn appears(path: &Path) {
    let deadline = Instant::now() + WAIT;
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    names
}

#[test]
fn images_become_qr_scans_in_name_order_and_move_to_done() {
    let root = tempfile::tempdir().expect("tempdir");
    let incoming = root.path().join("incoming");
    std::fs::create_dir_all(&incoming).expect("incoming");
    let card = b"BP1:NOT-A-REAL-PERMIT-0001".to_vec();
    let binary: Vec<u8> = (0..=255).rev().collect();
    std::fs::write(
        incoming.join("0002.jpg"),
        encode(&qr(&binary), ImageFormat::Jpeg),
    )
    .expect("write");
    std::fs::write(
        incoming.join("0001.png"),
        encode(&qr(&card), ImageFormat::Png),
    )
    .expect("write");
    std::fs::write(
        incoming.join("0003.png"),
        encode(&page(b"LEFT", b"RIGHT"), ImageFormat::Png),
    )
    .expect("write");
    // All three settled before the device starts: otherwise 0002 may be ready while 0001 still
    // counts as being written, and order by name only holds among settled files.
    std::thread::sleep(Duration::from_millis(150));
    let (task, mut rx) = start(root.path(), Duration::from_millis(50), 16);
    let (payloads, states) = scans(&mut rx, 4);
    assert_eq!(payloads[0], card, "oldest name first");
    assert_eq!(
        payloads[1], binary,
        "binary payload byte-exact through JPEG"
    );
    let mut last_two = payloads[2..].to_vec();
    last_two.sort();
    assert_eq!(last_two, vec![b"LEFT".to_vec(), b"RIGHT".to_vec()]);
    assert_eq!(states.first().map(|s| s.link), Some(Link::Up));
    appears(&root.path().join("done/0003.png"));
    assert_eq!(
        names(&root.path().join("done")),
        ["0001.png", "0002.jpg", "0003.png"]
    );
    assert!(names(&root.path().join("processing")).is_empty());
    assert!(names(&incoming).is_empty());
    task.stop();
}

#[test]
fn unusable_files_go_to_failed_with_a_reason_and_the_device_stays_up() {
    let root = tempfile::tempdir().expect("tempdir");
    let incoming = root.path().join("incoming");
    std::fs::create_dir_all(&incoming).expect("incoming");
    std::fs::write(
        incoming.join("a-garbage.png"),
        b"\x89PNG\r\n\x1a\nnot an image",
    )
    .expect("w");
    let blank = GrayImage::from_pixel(200, 200, Luma([255]));
    std::fs::write(
        incoming.join("b-blank.png"),
        encode(&blank, ImageFormat::Png),
    )
    .expect("w");
    // Larger than the limit: refused from its size alone (sparse, so cheap to make).
    let huge = std::fs::File::create(incoming.join("c-huge.bmp")).expect("create");
    huge.set_len(33 * 1024 * 1024).expect("sparse file");
    drop(huge);
    std::fs::write(
        incoming.join("d-card.png"),
        encode(&qr(b"AFTER"), ImageFormat::Png),
    )
    .expect("w");
    // Not an image name: a vendor's temporary file, left alone.
    std::fs::write(incoming.join("e-scan.png.part"), b"partial").expect("w");

    let (task, mut rx) = start(root.path(), Duration::from_millis(50), 16);
    let (payloads, states) = scans(&mut rx, 1);
    assert_eq!(payloads, [b"AFTER".to_vec()]);
    let failed = root.path().join("failed");
    assert_eq!(
        names(&failed),
        [
            "a-garbage.png",
            "a-garbage.png.reason",
            "b-blank.png",
            "b-blank.png.reason",
            "c-huge.bmp",
            "c-huge.bmp.reason",
        ]
    );
    let reason = |name: &str| std::fs::read_to_string(failed.join(name)).expect("reason");
    assert!(reason("a-garbage.png.reason").contains("unreadable image"));
    assert!(reason("b-blank.png.reason").contains("no qr code"));
    assert!(reason("c-huge.bmp.reason").contains("exceeds"));
    // Each rejection is reported as the device's last error while it stays up.
    let errors: Vec<&str> = states
        .iter()
        .filter_map(|s| (s.link == Link::Up).then_some(s.last_error.as_deref()?))
        .collect();
    assert_eq!(errors.len(), 3, "{states:?}");
    assert!(errors[0].contains("a-garbage.png"));
    assert!(errors[2].contains("c-huge.bmp"));
    assert_eq!(names(&incoming), ["e-scan.png.part"]);
    task.stop();
}

#[test]
fn an_image_being_written_is_not_read_half_written() {
    let root = tempfile::tempdir().expect("tempdir");
    let incoming = root.path().join("incoming");
    std::fs::create_dir_all(&incoming).expect("incoming");
    let (task, mut rx) = start(root.path(), Duration::from_millis(1000), 16);
    // In place: half the file, a pause shorter than the settle time, then the rest.
    let bytes = encode(&qr(b"WRITTEN IN PLACE"), ImageFormat::Png);
    let (head, tail) = bytes.split_at(bytes.len() / 2);
    let mut file = std::fs::File::create(incoming.join("0001.png")).expect("create");
    file.write_all(head).expect("head");
    file.sync_all().expect("sync");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        names(&root.path().join("processing")).is_empty(),
        "claimed before it settled"
    );
    file.write_all(tail).expect("tail");
    drop(file);
    // Write then rename: the temporary name is never looked at.
    let renamed = encode(&qr(b"WRITTEN THEN RENAMED"), ImageFormat::Png);
    std::fs::write(incoming.join("0002.png.tmp"), &renamed).expect("tmp");
    std::fs::rename(incoming.join("0002.png.tmp"), incoming.join("0002.png")).expect("rename");

    let (payloads, _) = scans(&mut rx, 2);
    assert_eq!(
        payloads,
        [
            b"WRITTEN IN PLACE".to_vec(),
            b"WRITTEN THEN RENAMED".to_vec()
        ]
    );
    assert!(names(&root.path().join("failed")).is_empty());
    task.stop();
}

#[test]
fn a_crash_loses_no_image_and_images_left_in_processing_are_decoded_at_start() {
    let root = tempfile::tempdir().expect("tempdir");
    let incoming = root.path().join("incoming");
    let processing = root.path().join("processing");
    std::fs::create_dir_all(&incoming).expect("incoming");
    std::fs::create_dir_all(&processing).expect("processing");
    // A previous run crashed while decoding this one.
    std::fs::write(
        processing.join("0000.png"),
        encode(&qr(b"CLAIMED BEFORE THE CRASH"), ImageFormat::Png),
    )
    .expect("w");
    for (name, payload) in [
        ("0001.png", "ONE"),
        ("0002.png", "TWO"),
        ("0003.png", "THREE"),
    ] {
        std::fs::write(
            incoming.join(name),
            encode(&qr(payload.as_bytes()), ImageFormat::Png),
        )
        .expect("w");
    }
    // A daemon that stops taking scans mid-way: a one-slot queue, two scans taken, then closed
    // while the runner waits to queue the next one.
    let (task, mut rx) = start(root.path(), Duration::from_millis(50), 1);
    let (mut first_run, _) = scans(&mut rx, 2);
    assert_eq!(
        first_run,
        [b"CLAIMED BEFORE THE CRASH".to_vec(), b"ONE".to_vec()]
    );
    appears(&processing.join("0003.png"));
    rx.close();
    while let Ok(event) = rx.try_recv() {
        if let DeviceEvent::Scan(scan) = event {
            first_run.push(scan.payload);
        }
    }
    task.stop();
    let done_before = names(&root.path().join("done"));
    // Every image in done/ had its scans queued; the one being handed over stays in processing/.
    assert_eq!(done_before, ["0000.png", "0001.png", "0002.png"]);
    assert_eq!(first_run.len(), 3);
    assert_eq!(names(&processing), ["0003.png"]);

    let (task, mut rx) = start(root.path(), Duration::from_millis(50), 16);
    let (second_run, _) = scans(&mut rx, 1);
    assert_eq!(
        second_run,
        [b"THREE".to_vec()],
        "re-queued from processing/"
    );
    appears(&root.path().join("done/0003.png"));
    assert_eq!(
        names(&root.path().join("done")),
        ["0000.png", "0001.png", "0002.png", "0003.png"]
    );
    assert!(names(&processing).is_empty());
    task.stop();
}

#[test]
fn an_unusable_spool_directory_reports_the_device_down() {
    let root = tempfile::tempdir().expect("tempdir");
    // A file where the spool directory should be: it cannot be opened.
    let blocked = root.path().join("not-a-dir");
    std::fs::write(&blocked, b"x").expect("w");
    let (task, mut rx) = start(&blocked, Duration::from_millis(50), 16);
    let deadline = Instant::now() + WAIT;
    let state = loop {
        assert!(Instant::now() < deadline, "no state");
        if let Ok(DeviceEvent::State(state)) = rx.try_recv() {
            break state;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(state.link, Link::Down);
    assert!(
        state
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("not-a-dir")),
        "{state:?}"
    );
    task.stop();
}

/// A `side`² PNG of seeded grey noise: what made rqrr's grid search run for minutes.
fn noise_png(side: u32, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let noise = GrayImage::from_fn(side, side, |_, _| {
        // xorshift64: deterministic, and cheap enough for nine million pixels.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        Luma([(state >> 56) as u8])
    });
    encode(&noise, ImageFormat::Png)
}

#[test]
fn a_noise_image_costs_its_budget_then_goes_to_failed_and_stop_does_not_wait() {
    let root = tempfile::tempdir().expect("tempdir");
    let incoming = root.path().join("incoming");
    std::fs::create_dir_all(&incoming).expect("incoming");
    std::fs::write(incoming.join("0001-noise.png"), noise_png(3000, 24)).expect("w");
    std::fs::write(
        incoming.join("0002-card.png"),
        encode(&qr(b"BEHIND-THE-NOISE"), ImageFormat::Png),
    )
    .expect("w");
    std::thread::sleep(Duration::from_millis(100));

    let started = Instant::now();
    let (task, mut rx) = start(root.path(), Duration::from_millis(50), 16);
    let (payloads, states) = scans(&mut rx, 1);
    let waited = started.elapsed();
    assert_eq!(payloads, [b"BEHIND-THE-NOISE".to_vec()]);
    println!("the card behind a 3000x3000 noise image was scanned after {waited:?}");
    let reason = std::fs::read_to_string(root.path().join("failed/0001-noise.png.reason"))
        .expect("the noise image is in failed/ with its reason");
    assert!(
        reason.contains("budget"),
        "timed out against the budget: {reason}"
    );
    assert!(
        states.iter().all(|state| state.link == Link::Up),
        "{states:?}"
    );

    // A second noise image is being decoded when the device is told to stop: stop kills the
    // worker instead of waiting, and the image stays in processing/ for the next start.
    std::fs::write(incoming.join("0003-noise.png"), noise_png(3000, 25)).expect("w");
    appears(&root.path().join("processing/0003-noise.png"));
    std::thread::sleep(Duration::from_millis(300));
    let stopping = Instant::now();
    task.stop();
    let stop_took = stopping.elapsed();
    println!("stop during a noise decode took {stop_took:?}");
    assert!(
        stop_took < Duration::from_secs(5),
        "stop waited for the decode: {stop_took:?}"
    );
    assert_eq!(names(&root.path().join("processing")), ["0003-noise.png"]);
}

#[test]
fn a_file_that_vanishes_after_listing_is_not_the_device_s_problem() {
    let root = tempfile::tempdir().expect("tempdir");
    let incoming = root.path().join("incoming");
    std::fs::create_dir_all(&incoming).expect("incoming");
    // A long settle time: the churning files are only ever listed, never claimed.
    let (task, mut rx) = start(root.path(), Duration::from_secs(30), 64);
    // Image names that appear and are renamed away while the device lists `incoming/`.
    let until = Instant::now() + Duration::from_millis(1500);
    let mut n = 0u32;
    while Instant::now() < until {
        let image = incoming.join(format!("{n:06}.png"));
        std::fs::write(&image, b"x").expect("write");
        std::fs::rename(&image, incoming.join(format!("{n:06}.png.part"))).expect("rename");
        n += 1;
    }
    let card = incoming.join("9999-card.png");
    std::fs::write(&card, encode(&qr(b"STILL-UP"), ImageFormat::Png)).expect("w");
    // Settled long ago, as far as the spool can tell.
    std::fs::File::options()
        .write(true)
        .open(&card)
        .expect("open card")
        .set_modified(std::time::SystemTime::now() - Duration::from_secs(60))
        .expect("set mtime");
    let (payloads, states) = scans(&mut rx, 1);
    assert_eq!(payloads, [b"STILL-UP".to_vec()]);
    assert!(
        states.iter().all(|state| state.link == Link::Up),
        "{n} renames; {states:?}"
    );
    task.stop();
}
