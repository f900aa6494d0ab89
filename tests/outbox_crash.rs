//! kill -9 of real recorder and relay processes at seeded random points: after restart central
//! sees every acknowledged crossing exactly once, with an unbroken chain and no gaps.
//! Set `FEED_CRASH_SEED` to replay a run; the seed is printed.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::feed_helper;
use common::nats::NatsServer;
use rand::{Rng, SeedableRng};

const RECORD_KILLS: usize = 4;
const RELAY_KILLS: usize = 4;

fn seed() -> u64 {
    let seed = std::env::var("FEED_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("FEED_CRASH_SEED={seed}");
    seed
}

fn checkpointctl() -> Command {
    Command::new(env!("CARGO_BIN_EXE_checkpointctl"))
}

fn spawn_recorder(
    data: &Path,
    count: u64,
) -> (Child, Arc<Mutex<Vec<u64>>>, std::thread::JoinHandle<()>) {
    let count = count.to_string();
    let mut child = feed_helper::command(&["record", utf8(data), &count, "4"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn recorder");
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let stdout = child.stdout.take().expect("piped stdout");
    let sink = Arc::clone(&acknowledged);
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(seq) = line.strip_prefix("recorded ").and_then(|s| s.parse().ok()) {
                sink.lock().expect("ack list").push(seq);
            }
        }
    });
    (child, acknowledged, reader)
}

fn relay(data: &Path, url: &str, until_drained: bool) -> Command {
    let mut arguments = vec!["relay", utf8(data), url];
    if until_drained {
        arguments.push("drained");
    }
    let mut command = feed_helper::command(&arguments);
    command.stdout(Stdio::null()).stderr(Stdio::null());
    command
}

fn utf8(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// The recorder and relay processes: this test binary, started again (`feed_helper::command`).
#[test]
#[ignore = "a helper process the tests start, not a test"]
fn feed_helper() {
    feed_helper::run_from_env();
}

fn kill9(child: &mut Child) {
    // Child::kill sends SIGKILL on Unix: no cleanup, no flush.
    let _ = child.kill();
    let _ = child.wait();
}

/// Runs the reference consumer; returns its JSON report after asserting it exited cleanly.
fn audit(data: &Path, url: &str) -> serde_json::Value {
    let output = checkpointctl()
        .args(["feed", "audit", "--nats", url, "--keys"])
        .arg(data.join("terminal.pub"))
        .output()
        .expect("run audit");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON report");
    assert!(output.status.success(), "audit not clean: {report}");
    report
}

fn stream_message_count(url: &str) -> u64 {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let js = async_nats::jetstream::new(async_nats::connect(url).await.expect("connect"));
        let mut stream = js.get_stream("EVENTS").await.expect("stream");
        stream.info().await.expect("info").state.messages
    })
}

#[test]
fn kill_during_recording_keeps_every_acknowledged_crossing_once() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed());
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("terminal");
    let mut acknowledged = BTreeSet::new();
    for round in 0..RECORD_KILLS {
        let (mut child, acks, reader) = spawn_recorder(&data, 100_000);
        std::thread::sleep(Duration::from_millis(rng.gen_range(300..1200)));
        kill9(&mut child);
        let _ = reader.join();
        let acks = acks.lock().expect("acks").clone();
        eprintln!("round {round}: {} acknowledged before kill -9", acks.len());
        acknowledged.extend(acks);
    }
    let (mut child, acks, reader) = spawn_recorder(&data, 20);
    assert!(child.wait().expect("recorder").success());
    let _ = reader.join();
    acknowledged.extend(acks.lock().expect("acks").iter().copied());

    let server = NatsServer::start();
    let status = relay(&data, &server.url(), true).status().expect("relay");
    assert!(status.success());

    let report = audit(&data, &server.url());
    let terminal = &report["terminals"][0];
    let last_seq = terminal["last_seq"].as_u64().expect("last_seq");
    let max_acked = *acknowledged
        .iter()
        .max()
        .expect("some crossings acknowledged");
    assert!(
        last_seq >= max_acked,
        "acknowledged seq {max_acked} missing (last {last_seq})"
    );
    // Clean audit: 1..=last_seq all present, chain unbroken; no seq stored twice.
    assert_eq!(report["events"].as_u64(), Some(last_seq));
    assert_eq!(stream_message_count(&server.url()), last_seq);
}

#[test]
fn kill_during_relaying_delivers_every_crossing_exactly_once() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed());
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("terminal");
    let count = 20_000u64;
    let (mut recorder, _acks, reader) = spawn_recorder(&data, count);
    assert!(recorder.wait().expect("recorder").success());
    let _ = reader.join();

    let server = NatsServer::start();
    for round in 0..RELAY_KILLS {
        let mut child = relay(&data, &server.url(), false).spawn().expect("relay");
        std::thread::sleep(Duration::from_millis(rng.gen_range(200..900)));
        kill9(&mut child);
        eprintln!("round {round}: relay killed");
    }
    let status = relay(&data, &server.url(), true).status().expect("relay");
    assert!(status.success());

    let report = audit(&data, &server.url());
    assert_eq!(report["events"].as_u64(), Some(count), "{report}");
    assert_eq!(
        stream_message_count(&server.url()),
        count,
        "a crossing was stored twice"
    );
}
