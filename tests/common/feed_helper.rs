//! The feed's test helpers that must run as a process of their own (to be killed mid-write,
//! or to relay while a test watches): recording synthetic crossings and relaying an outbox.
//! They live with the tests, not in the operator binaries: a test binary runs them in a child
//! of itself, started with [`command`], whose `feed_helper` test calls [`run_from_env`].

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use checkpointd::adapters::feed::{Outbox, OutboxConfig, RelayConfig, run_relay};
use checkpointd::adapters::system_clock::SystemClock;
use checkpointd::cli::feed::synthetic_crossing;
use checkpointd::core::event::TerminalId;
use ed25519_dalek::SigningKey;

/// The environment variable carrying the helper's arguments (separated by `\x1f`).
const HELPER_ARGS: &str = "CHECKPOINT_FEED_HELPER";

/// The test binary itself, started to run the helper with `arguments`: `record DATA COUNT
/// THREADS` prints `recorded <seq>` after each flushed crossing; `relay DATA URL` relays the
/// outbox to NATS until killed, `relay DATA URL drained` until it is empty.
pub fn command(arguments: &[&str]) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("the test binary"));
    command
        .args([
            "feed_helper",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HELPER_ARGS, arguments.join("\x1f"));
    command
}

/// Runs the helper the environment names (in the child [`command`] started).
pub fn run_from_env() {
    let arguments = std::env::var(HELPER_ARGS).expect("run through feed_helper::command");
    let arguments: Vec<&str> = arguments.split('\x1f').collect();
    match arguments.as_slice() {
        ["record", data, count, threads] => record(
            Path::new(data),
            count.parse().expect("count"),
            threads.parse().expect("threads"),
        ),
        ["relay", data, url, rest @ ..] => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(relay(Path::new(data), url, rest == ["drained"])),
        other => panic!("unknown feed helper {other:?}"),
    }
}

/// Loads `<data>/terminal.key` (hex seed) and `<data>/terminal.id` (`T1`), creating both on
/// first use, and writes `<data>/terminal.pub` (`<id> <hex public key>`, the keys-file format).
pub fn terminal_identity(data: &Path) -> (TerminalId, SigningKey) {
    std::fs::create_dir_all(data).expect("data directory");
    let key_path = data.join("terminal.key");
    let id_path = data.join("terminal.id");
    if !key_path.exists() {
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        write_synced(&id_path, b"T1");
        write_synced(&key_path, hex::encode(key.to_bytes()).as_bytes());
    }
    let id = std::fs::read_to_string(&id_path).expect("terminal.id");
    let terminal = TerminalId::new(id.trim()).expect("terminal id");
    let seed = std::fs::read_to_string(&key_path).expect("terminal.key");
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(seed.trim(), &mut bytes).expect("hex seed");
    let key = SigningKey::from_bytes(&bytes);
    let public = format!(
        "{terminal} {}\n",
        hex::encode(key.verifying_key().as_bytes())
    );
    write_synced(&data.join("terminal.pub"), public.as_bytes());
    (terminal, key)
}

fn write_synced(path: &Path, bytes: &[u8]) {
    let tmp: PathBuf = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp).expect("create");
    file.write_all(bytes).expect("write");
    file.sync_all().expect("sync");
    std::fs::rename(&tmp, path).expect("rename");
}

/// The outbox of a terminal data directory.
pub fn open_outbox(data: &Path) -> Outbox {
    let (terminal, key) = terminal_identity(data);
    Outbox::open(
        &data.join("outbox"),
        OutboxConfig {
            terminal,
            time_zone: jiff::tz::TimeZone::UTC,
        },
        key,
        Arc::new(SystemClock::default()),
    )
    .expect("open the outbox")
}

/// Records `count` synthetic crossings from `threads` threads (group commit).
fn record(data: &Path, count: u64, threads: u64) {
    let outbox = open_outbox(data);
    let threads = threads.max(1);
    let workers: Vec<_> = (0..threads)
        .map(|worker| {
            let outbox = outbox.clone();
            std::thread::spawn(move || {
                let mut n = worker;
                while n < count {
                    let recorded = outbox.record(synthetic_crossing(n, "GYD")).expect("record");
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "recorded {}", recorded.seq).expect("stdout");
                    out.flush().expect("stdout");
                    n += threads;
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("recorder thread");
    }
}

async fn relay(data: &Path, url: &str, until_drained: bool) {
    let outbox = open_outbox(data);
    let client = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connect(url)
        .await
        .expect("connect");
    let watched = outbox.clone();
    let shutdown = async move {
        if until_drained {
            while watched.depth() > 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        } else {
            std::future::pending::<()>().await;
        }
    };
    run_relay(
        outbox,
        client,
        RelayConfig::with_duplicate_window_hours(72),
        shutdown,
    )
    .await
    .expect("relay");
}
