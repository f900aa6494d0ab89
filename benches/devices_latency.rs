//! Last byte of an MRZ frame written to a PTY → assembled document on the device channel.
//! Criterion gives the mean; the percentile run prints p50/p99/max over 1,000 documents
//! (target p99 ≤ 1 ms). Run: `cargo bench --bench devices_latency`.

use std::fs::File;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use checkpointd::adapters::devices::{self, Backoff, DeviceSpec, parse_profile};
use checkpointd::adapters::system_clock::SystemClock;
use checkpointd::ports::scanner::{DeviceEvent, Link};
use criterion::{Criterion, criterion_group, criterion_main};
use tokio::sync::mpsc;

const TD3: &str =
    "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\rL898902C36UTO7408122F1204159ZE184226B<<<<<10\r";
const SAMPLES: usize = 1000;

struct Rig {
    master: File,
    rx: mpsc::Receiver<DeviceEvent>,
    _slave: std::os::fd::OwnedFd,
    _task: devices::DeviceTask,
}

fn rig() -> Rig {
    let pair = nix::pty::openpty(None, None).expect("openpty");
    let path = nix::unistd::ttyname(&pair.slave).expect("ttyname");
    let text = std::fs::read_to_string("devices/generic-mrz-rs232.toml").expect("profile");
    let profile = parse_profile(&text).expect("valid");
    let spec = DeviceSpec {
        name: "bench".into(),
        profile,
        programming: None,
        path: Some(path.to_string_lossy().into_owned()),
        frame_bytes_max: checkpointd::core::frame::FRAME_BYTES_MAX,
    };
    let (tx, mut rx) = mpsc::channel(64);
    let task = devices::spawn(
        spec,
        Arc::new(SystemClock::default()),
        Backoff::default(),
        tx,
    )
    .expect("thread");
    loop {
        match rx.blocking_recv() {
            Some(DeviceEvent::State(s)) if s.link == Link::Up => break,
            Some(_) => {}
            None => panic!("device thread ended"),
        }
    }
    Rig {
        master: File::from(pair.master),
        rx,
        _slave: pair.slave,
        _task: task,
    }
}

/// One document: all but the last byte, a pause so it is read, then the timed last byte.
fn one(rig: &mut Rig) -> Duration {
    let (head, last) = TD3.as_bytes().split_at(TD3.len() - 1);
    rig.master.write_all(head).expect("write");
    std::thread::sleep(Duration::from_millis(2));
    let start = Instant::now();
    rig.master.write_all(last).expect("write");
    loop {
        match rig.rx.blocking_recv() {
            Some(DeviceEvent::Scan(_)) => return start.elapsed(),
            Some(_) => {}
            None => panic!("device thread ended"),
        }
    }
}

fn percentiles(rig: &mut Rig) {
    let mut samples: Vec<Duration> = (0..SAMPLES).map(|_| one(rig)).collect();
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    println!(
        "pty last byte -> document on channel over {SAMPLES}: p50 {:?} p99 {:?} max {:?}",
        at(0.50),
        at(0.99),
        samples[samples.len() - 1]
    );
}

fn bench(c: &mut Criterion) {
    let mut rig = rig();
    percentiles(&mut rig);
    c.bench_function("pty_last_byte_to_document", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| one(&mut rig)).sum())
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
