//! Replication from central to a terminal replica over a real nats-server.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use checkpointd::adapters::ledger::{
    Backoff, CACHE_CAPACITY_DEFAULT, Central, ReplicationOutcome, Replicator, SledLedger, Snapshot,
};
use checkpointd::cli::ledger::verify_replica;
use checkpointd::core::document::HolderDigest;
use checkpointd::core::ledger::state::IndexConsistency;
use checkpointd::ports::ledger::{LedgerStore, LedgerView};
use common::ledger::{permits, roots};
use common::nats::NatsServer;
use jiff::Timestamp;
use serde_json::Value;

async fn central(server: &NatsServer) -> Central {
    let central = Central::connect(&server.url())
        .await
        .expect("connect central");
    central.provision(1).await.expect("provision");
    central
}

async fn replicator(server: &NatsServer, dir: &Path) -> Replicator<SledLedger> {
    let store = SledLedger::open(dir, CACHE_CAPACITY_DEFAULT).expect("open replica");
    Replicator::connect(&server.url(), store, roots().1, Arc::new(IndexConsistency))
        .await
        .expect("connect terminal")
        // A catch-up or bootstrap here spans several chunks, fetched and staged one by one.
        .with_run_chunk_entries(1_500)
}

fn now() -> Timestamp {
    "2026-05-01T10:00:00Z".parse().expect("time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_terminal_catches_up_10000_entries() {
    let server = NatsServer::start();
    let central = central(&server).await;
    let (keys, _) = roots();
    let dir = tempfile::tempdir().expect("tempdir");
    let terminal = replicator(&server, dir.path()).await;
    assert_eq!(
        terminal.sync_once().await.expect("round"),
        ReplicationOutcome::NoCheckpoint
    );
    central.append(permits(0, 10), now()).await.expect("append");
    central
        .checkpoint(&keys[..2], now())
        .await
        .expect("checkpoint");
    assert_eq!(
        terminal.sync_once().await.expect("round"),
        ReplicationOutcome::Applied { from: 1, to: 10 }
    );
    // The terminal is offline while 10,000 more are published under several checkpoints.
    for chunk in 0..4 {
        central
            .append(permits(10 + chunk * 2500, 2500), now())
            .await
            .expect("append");
        central
            .checkpoint(&keys[1..], now())
            .await
            .expect("checkpoint");
    }
    let started = Instant::now();
    assert_eq!(
        terminal.sync_once().await.expect("catch up"),
        ReplicationOutcome::Applied {
            from: 11,
            to: 10_010
        }
    );
    eprintln!("caught up 10,000 entries in {:?}", started.elapsed());
    let store = terminal.store();
    let holder = HolderDigest::of("UTO", "N9999");
    assert_eq!(store.permits_by_holder(&holder).expect("lookup").len(), 1);
    assert_eq!(verify_replica(store, &roots().1), Ok(10_010));
    assert_eq!(
        terminal.sync_once().await.expect("round"),
        ReplicationOutcome::UpToDate { seq: 10_010 }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstraps_from_snapshot_when_the_stream_was_trimmed() {
    let server = NatsServer::start();
    let central = central(&server).await;
    let (keys, pinned) = roots();
    central
        .append(permits(0, 300), now())
        .await
        .expect("append");
    central.checkpoint(&keys, now()).await.expect("checkpoint");
    // Central's own replica makes the snapshot; then the stream drops what it covers.
    let central_dir = tempfile::tempdir().expect("tempdir");
    let central_replica = replicator(&server, central_dir.path()).await;
    central_replica.sync_once().await.expect("central replica");
    let snapshot = Snapshot::from_store(central_replica.store())
        .expect("snapshot")
        .expect("has checkpoint");
    central.put_snapshot(&snapshot).await.expect("put snapshot");
    central.trim(301).await.expect("trim");
    central
        .append(permits(300, 20), now())
        .await
        .expect("append");
    central.checkpoint(&keys, now()).await.expect("checkpoint");

    let dir = tempfile::tempdir().expect("tempdir");
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let terminal = replicator(&server, dir.path())
        .await
        .with_run_chunk_entries(100)
        .with_bootstrap_progress({
            let seen = Arc::clone(&seen);
            Arc::new(move |done, total| seen.lock().expect("progress").push((done, total)))
        });
    assert_eq!(
        terminal.sync_once().await.expect("bootstrap"),
        ReplicationOutcome::Bootstrapped { to: 300 }
    );
    assert_eq!(
        *seen.lock().expect("progress"),
        vec![(100, 300), (200, 300), (300, 300)],
        "the status's bootstrapping n/N"
    );
    assert_eq!(
        terminal.sync_once().await.expect("tail"),
        ReplicationOutcome::Applied { from: 301, to: 320 }
    );
    assert_eq!(verify_replica(terminal.store(), &pinned), Ok(320));

    // The same bootstrap by `checkpointctl ledger replicate` draws its bar on a terminal.
    let cli = tempfile::tempdir().expect("tempdir");
    let roots_file = cli.path().join("roots.pub");
    let hex_keys: Vec<String> = keys
        .iter()
        .map(|key| hex::encode(key.verifying_key().to_bytes()))
        .collect();
    std::fs::write(&roots_file, hex_keys.join("\n")).expect("roots file");
    let command = format!(
        "{} ledger replicate --data {} --nats {} --roots {} --threshold 2",
        env!("CARGO_BIN_EXE_checkpointctl"),
        cli.path().join("replica").display(),
        server.url(),
        roots_file.display()
    );
    let on_terminal = Command::new("script")
        .args(["-q", "-e", "-c"])
        .arg(&command)
        .arg("/dev/null")
        .output()
        .expect("script(1) from util-linux");
    let drawn = String::from_utf8_lossy(&on_terminal.stdout);
    assert!(on_terminal.status.success(), "{drawn}");
    assert!(
        drawn.contains("bootstrapping") && drawn.contains("\"applied_seq\":300"),
        "{drawn:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survives_nats_server_kill_and_restart_while_following() {
    let mut server = NatsServer::start();
    let central_writer = central(&server).await;
    let (keys, pinned) = roots();
    let dir = tempfile::tempdir().expect("tempdir");
    let terminal = Arc::new(replicator(&server, dir.path()).await);
    let follower = {
        let terminal = Arc::clone(&terminal);
        tokio::spawn(async move {
            terminal
                .follow(
                    Duration::from_millis(50),
                    Backoff::new(Duration::from_millis(50), Duration::from_millis(500)),
                )
                .await
        })
    };
    central_writer
        .append(permits(0, 2000), now())
        .await
        .expect("append");
    central_writer
        .checkpoint(&keys, now())
        .await
        .expect("checkpoint");
    tokio::time::sleep(Duration::from_millis(150)).await;
    server.kill();
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.restart();
    let central_writer = central(&server).await;
    central_writer
        .append(permits(2000, 500), now())
        .await
        .expect("append after restart");
    central_writer
        .checkpoint(&keys, now())
        .await
        .expect("checkpoint after restart");
    let deadline = Instant::now() + Duration::from_secs(25);
    while terminal.store().cursor().expect("cursor").seq < 2500 {
        assert!(!follower.is_finished(), "follower stopped");
        assert!(
            Instant::now() < deadline,
            "terminal did not catch up after the restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    follower.abort();
    assert_eq!(verify_replica(terminal.store(), &pinned), Ok(2500));
}

fn ctl(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_checkpointctl"))
        .args(args)
        .output()
        .expect("run checkpointctl");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "checkpointctl {args:?} failed: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("checkpointctl {args:?} printed {stdout}: {e}"))
}

#[test]
fn cli_publish_replicate_lookup_verify() {
    let server = NatsServer::start();
    let url = server.url();
    let central_dir = tempfile::tempdir().expect("tempdir");
    let data = tempfile::tempdir().expect("tempdir");
    let at = |name: &str| {
        central_dir
            .path()
            .join(name)
            .to_str()
            .expect("utf-8")
            .to_owned()
    };
    let d = data.path().to_str().expect("utf-8 path");
    let init = ctl(&[
        "ledger",
        "init",
        "--central",
        &at("central"),
        "--roots-dir",
        &at("roots"),
        "--nats",
        &url,
        "--roots",
        "3",
    ]);
    assert_eq!(init["head_seq"], 1);
    let holder = hex::encode(HolderDigest::of("UTO", "L898902C3").0);
    let lines = [
        format!(
            r#"{{"kind":"alert","body":{{"holder":"{holder}","alert":{{"type":"entry_ban","until":"2099-01-01"}},"note":"n"}}}}"#
        ),
        format!(
            r#"{{"kind":"stay_extension","body":{{"holder":"{holder}","until":"2026-09-01","reference":"EXT-7"}}}}"#
        ),
    ];
    let file = at("entries.jsonl");
    let publish = |text: &str| {
        std::fs::write(&file, text).expect("write entries");
        ctl(&[
            "ledger",
            "publish",
            "--nats",
            &url,
            "--data",
            &at("replica"),
            "--entries",
            &file,
        ])
    };
    assert_eq!(publish(&lines.join("\n"))["head_seq"], 3);
    // Prepared against the replica, signed by two offline roots, published at threshold `k`.
    let checkpoint = |signers: &[&str], k: &str| {
        let cp = at("checkpoint.bin");
        let _ = std::fs::remove_file(&cp);
        ctl(&[
            "ledger",
            "checkpoint",
            "--nats",
            &url,
            "--data",
            &at("replica"),
            "--prepare",
            &cp,
        ]);
        for root in signers {
            ctl(&[
                "ledger",
                "sign",
                "--root",
                &at(&format!("roots/{root}")),
                &cp,
            ]);
        }
        ctl(&[
            "ledger",
            "checkpoint",
            "--nats",
            &url,
            "--publish",
            &cp,
            "--roots",
            &at("central/roots.pub"),
            "--threshold",
            k,
        ])
    };
    checkpoint(&["root-1.key", "root-3.key"], "2");
    let r = at("central/roots.pub");
    let replicated = ctl(&[
        "ledger",
        "replicate",
        "--data",
        d,
        "--nats",
        &url,
        "--roots",
        &r,
        "--threshold",
        "2",
    ]);
    assert_eq!(replicated["applied_seq"], 3, "{replicated}");
    let found = ctl(&[
        "ledger",
        "lookup",
        "--data",
        d,
        "--document",
        "UTO:L898902C3",
        "--on",
        "2026-05-01",
    ]);
    assert_eq!(found["alerts"][0]["alert"]["type"], "entry_ban", "{found}");
    assert_eq!(found["stay_extensions"][0]["reference"], "EXT-7", "{found}");
    let status = ctl(&["ledger", "status", "--data", d]);
    assert_eq!(status["applied_seq"], 3);
    assert_eq!(status["checkpoint_size"], 3);
    assert_eq!(
        ctl(&[
            "ledger",
            "verify",
            "--data",
            d,
            "--roots",
            &r,
            "--threshold",
            "2"
        ])["ok"],
        true
    );
    // A checkpoint central publishes at threshold 1 does not reach the terminals' 2: refused,
    // store unchanged.
    publish(&lines[1]);
    checkpoint(&["root-2.key"], "1");
    let out = Command::new(env!("CARGO_BIN_EXE_checkpointctl"))
        .args([
            "ledger",
            "replicate",
            "--data",
            d,
            "--nats",
            &url,
            "--roots",
            &r,
            "--threshold",
            "2",
        ])
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(ctl(&["ledger", "status", "--data", d])["applied_seq"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_applying_leaves_a_checkpoint_boundary() {
    let server = NatsServer::start();
    let central = central(&server).await;
    let (keys, pinned) = roots();
    let roots_dir = tempfile::tempdir().expect("tempdir");
    let roots_file = roots_dir.path().join("roots.pub");
    let text: String = keys
        .iter()
        .map(|k| hex::encode(k.verifying_key().to_bytes()) + "\n")
        .collect();
    std::fs::write(&roots_file, text).expect("write roots");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut boundaries = vec![0u64];
    let mut published = 0u32;
    for round in 0..8u32 {
        central
            .append(permits(published, 1500), now())
            .await
            .expect("append");
        published += 1500;
        central.checkpoint(&keys, now()).await.expect("checkpoint");
        boundaries.push(u64::from(published));
        let mut child = Command::new(env!("CARGO_BIN_EXE_checkpointctl"))
            .args(["ledger", "replicate", "--data"])
            .arg(dir.path())
            .args(["--nats", &server.url(), "--roots"])
            .arg(&roots_file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn replicate");
        let delay = 20 + u64::from(rand::random::<u16>() % 600) + u64::from(round) * 10;
        tokio::time::sleep(Duration::from_millis(delay)).await;
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .ok();
        child.wait().expect("reap");
        let store =
            SledLedger::open(dir.path(), CACHE_CAPACITY_DEFAULT).expect("reopen after kill");
        let seq = store.cursor().expect("cursor").seq;
        assert!(
            boundaries.contains(&seq),
            "round {round}: cursor {seq} is not a checkpoint boundary {boundaries:?}"
        );
        assert_eq!(verify_replica(&store, &pinned), Ok(seq), "round {round}");
    }
    let store = SledLedger::open(dir.path(), CACHE_CAPACITY_DEFAULT).expect("reopen");
    drop(store);
    let terminal = replicator(&server, dir.path()).await;
    terminal.sync_once().await.expect("final round");
    assert_eq!(
        verify_replica(terminal.store(), &pinned),
        Ok(u64::from(published))
    );
}

/// A ledger with no new entries stays fresh: central's newer checkpoint over the same head is
/// kept, so the terminal's ledger age follows central's signing, not its last entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_checkpoint_over_the_same_head_refreshes_the_ledger_age() {
    let server = NatsServer::start();
    let central = central(&server).await;
    let (keys, _) = roots();
    let dir = tempfile::tempdir().expect("tempdir");
    let terminal = replicator(&server, dir.path()).await;
    central.append(permits(0, 3), now()).await.expect("append");
    central
        .checkpoint(&keys[..2], now())
        .await
        .expect("checkpoint");
    terminal.sync_once().await.expect("round");
    let later: Timestamp = "2026-05-03T10:00:00Z".parse().expect("time");
    central
        .checkpoint(&keys[..2], later)
        .await
        .expect("checkpoint");
    assert_eq!(
        terminal.sync_once().await.expect("round"),
        ReplicationOutcome::UpToDate { seq: 3 }
    );
    let store = terminal.store();
    assert_eq!(store.checkpoint_time().expect("age"), Some(later));
    assert_eq!(store.cursor().expect("cursor").seq, 3);
    let roots = roots().1;
    assert_eq!(
        verify_replica(store, &roots),
        Ok(3),
        "the stored signed checkpoint is the newer one and still verifies"
    );
    // An older re-signing does not move the age back.
    central
        .checkpoint(&keys[..2], now())
        .await
        .expect("checkpoint");
    terminal.sync_once().await.expect("round");
    assert_eq!(store.checkpoint_time().expect("age"), Some(later));
}
