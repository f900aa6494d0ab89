//! Ledger figures: a bootstrap from a snapshot in a fresh process, as a terminal's replicator
//! does it (checkpoint signatures, hash chain, every permit's BP1 issuer signature; chunk by
//! chunk), with its time, rate and peak RSS; lookup latency by holder alone and while a batch is
//! applied; the RSS of a process that opens the replica as the daemon does; disk bytes per permit.
//!
//! `LEDGER_BENCH_PERMITS=1000000 cargo bench --bench ledger_apply` (default 200,000).
//!
//! `LEDGER_BENCH_PERSON_ALERTS=1000000 cargo bench --bench ledger_apply` instead bootstraps a
//! snapshot of that many person alerts the same way (issue #23: the ledger's bootstrap rate must
//! hold), then builds the lane's watchlist from the replica (time, RSS) and follows 10,000 more
//! alerts as they replicate (time per alert).

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use checkpointd::adapters::ledger::{
    CACHE_CAPACITY_DEFAULT, LedgerSource, ReplicationError, ReplicationOutcome, Replicator,
    SledLedger, Snapshot, SnapshotReader,
};
use checkpointd::core::ledger::Change;
use checkpointd::core::ledger::entry::{
    OriginalName, PersonAlertKind, PersonAlertName, PersonAlertRaised, PersonSex,
};
use checkpointd::core::ledger::permit_check::Bp1Verification;
use checkpointd::core::ledger::{RootSet, SignedCheckpoint, verify_batch};
use checkpointd::lane::watchlist::LaneWatchlist;
use checkpointd::ports::ledger::{LedgerStore, LedgerView};
use rand::{Rng, SeedableRng};

#[path = "support/central.rs"]
mod central;
use central::{Central, holder};

/// Entries per checkpoint, as central would publish them during a bootstrap.
const BATCH: u32 = 20_000;
const LOOKUPS: usize = 100_000;

/// Verifies the checkpoint and chain and applies with the BP1 check, as a terminal does.
fn apply(store: &SledLedger, roots: &RootSet, encoded: Vec<Vec<u8>>, signed: &[u8]) {
    let checkpoint = roots
        .verify(&SignedCheckpoint::decode(signed).expect("decode"))
        .expect("verify");
    let batch = verify_batch(&store.cursor().expect("cursor"), encoded, checkpoint).expect("chain");
    store
        .apply(&batch, signed, &Bp1Verification)
        .expect("apply");
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn percentiles(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    println!(
        "{label}: p50 {:?} p99 {:?} p99.9 {:?} max {:?}",
        pct(0.50),
        pct(0.99),
        pct(0.999),
        pct(1.0)
    );
}

fn lookups(store: &SledLedger, total: u32, seed: u64) -> Vec<Duration> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut samples = Vec::with_capacity(LOOKUPS);
    for _ in 0..LOOKUPS {
        let digest = holder(rng.gen_range(0..total));
        let started = Instant::now();
        let found = store.permits_by_holder(&digest).expect("lookup");
        samples.push(started.elapsed());
        assert_eq!(found.len(), 1);
    }
    samples
}

/// A permit's use after its lookup: the signed text read from the replica (the lane then verifies
/// it, 50-60 µs of signature check).
fn text_reads(store: &SledLedger, total: u32, seed: u64) -> Vec<Duration> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut samples = Vec::with_capacity(LOOKUPS / 10);
    for _ in 0..LOOKUPS / 10 {
        let digest = holder(rng.gen_range(0..total));
        let found = store.permits_by_holder(&digest).expect("lookup");
        let started = Instant::now();
        let text = store.permit_text(found[0].seq).expect("read");
        samples.push(started.elapsed());
        assert!(text.is_some());
    }
    samples
}

/// The child process: opens the replica with the daemon's cache size, looks up as a lane does,
/// and reports its own peak RSS.
fn probe(dir: &str, total: u32) {
    let cache = std::env::var("LEDGER_BENCH_CACHE_MIB")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(CACHE_CAPACITY_DEFAULT, |mib| mib << 20);
    let started = Instant::now();
    let store = SledLedger::open(dir.as_ref(), cache).expect("open");
    println!(
        "open (directory rebuilt from the replica): {:.2?}",
        started.elapsed()
    );
    let before = status_kib("VmRSS:");
    let samples = lookups(&store, total, 7);
    percentiles("lookup by holder, alone (fresh process)", samples);
    percentiles(
        "signed text read for a permit's use (fresh process)",
        text_reads(&store, total, 8),
    );
    println!(
        "rss of a process holding the replica ({} permits): {} KiB after open, {} KiB peak after {LOOKUPS} lookups (cache_capacity {} MiB)",
        store.permit_count(),
        before,
        status_kib("VmHWM:"),
        cache >> 20
    );
}

/// The snapshot central would have put in its object store, read from a file; the stream holds
/// nothing below the snapshot's end, so the replicator bootstraps.
struct SnapshotFile {
    path: std::path::PathBuf,
    checkpoint: Vec<u8>,
    size: u64,
}

impl LedgerSource for SnapshotFile {
    async fn latest_checkpoint(&self) -> Result<Option<Vec<u8>>, ReplicationError> {
        Ok(Some(self.checkpoint.clone()))
    }
    async fn first_seq(&self) -> Result<u64, ReplicationError> {
        Ok(self.size + 1)
    }
    async fn entries(&self, from: u64, to: u64) -> Result<Vec<Vec<u8>>, ReplicationError> {
        Err(ReplicationError::Missing { from, to })
    }
    async fn snapshot_into(&self, into: &std::path::Path) -> Result<u64, ReplicationError> {
        std::fs::copy(&self.path, into).map_err(|e| ReplicationError::Nats(e.to_string()))
    }
}

/// The child process that bootstraps: a fresh terminal replica, the real replicator.
fn bootstrap(snapshot: &str, replica: &str, total: u32) {
    // Only the snapshot's head is read here: the replicator reads the rest.
    let head = SnapshotReader::new(std::io::BufReader::new(
        std::fs::File::open(snapshot).expect("snapshot"),
    ))
    .expect("snapshot head");
    let size = head.len();
    let source = SnapshotFile {
        path: snapshot.into(),
        checkpoint: head.checkpoint,
        size,
    };
    let store = SledLedger::open(replica.as_ref(), CACHE_CAPACITY_DEFAULT).expect("open");
    let replicator = Replicator::new(
        source,
        store,
        Central::default().roots(),
        Arc::new(Bp1Verification),
    )
    .with_snapshot_dir(std::path::Path::new(replica).parent().expect("a parent"));
    let before = status_kib("VmRSS:");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let started = Instant::now();
    let outcome = runtime.block_on(replicator.sync_once()).expect("bootstrap");
    let took = started.elapsed();
    assert_eq!(outcome, ReplicationOutcome::Bootstrapped { to: size });
    let kind = std::env::var("LEDGER_BENCH_KIND").unwrap_or_else(|_| "permits".into());
    println!(
        "bootstrap from a snapshot of {total} {kind} ({size} entries; snapshot read, decoded, \
         verified and applied in chunks, fresh process): {took:.2?} = {:.0} entries/s; \
         RSS {} MiB before, {} MiB peak",
        size as f64 / took.as_secs_f64(),
        before >> 10,
        status_kib("VmHWM:") >> 10
    );
    if std::env::var_os("LEDGER_BENCH_KIND").is_some() {
        drop(replicator);
        drop(runtime);
        watchlist_from(replica);
    }
}

/// Person alerts of generated people: Latin names, a third with a Cyrillic original.
fn person_alerts(from: u32, n: u32) -> Vec<Change> {
    const SYLLABLES: [&str; 24] = [
        "MA", "ME", "DO", "VA", "LI", "YE", "RA", "SHI", "KHA", "NA", "ZA", "GU", "SE", "IN", "AL",
        "EL", "CHI", "RU", "TA", "BE", "KO", "VI", "DZE", "OV",
    ];
    let mut rng = rand::rngs::StdRng::seed_from_u64(u64::from(from) + 23);
    let mut word = |len: usize| -> String {
        (0..len)
            .map(|_| SYLLABLES[rng.gen_range(0..SYLLABLES.len())])
            .collect()
    };
    (from..from + n)
        .map(|i| {
            let (surname, given_names) = (word(3), word(2));
            let original = (i % 3 == 0).then(|| OriginalName {
                surname: format!("{}ов", surname.to_lowercase()),
                given_names: given_names.to_lowercase(),
            });
            Change::PersonAlert(PersonAlertRaised {
                alert_id: format!("PA-{i:08}"),
                names: vec![PersonAlertName {
                    surname,
                    given_names,
                    original,
                }],
                birth_date: Some(format!("{}-0{}-1{}", 1940 + i % 70, 1 + i % 9, i % 10)),
                nationalities: vec!["AZE".into()],
                sex: Some(PersonSex::Male),
                kind: PersonAlertKind::EntryBan,
                until: Some(jiff::civil::date(2031, 1, 1)),
                action: "refuse entry".into(),
                note: String::new(),
            })
        })
        .collect()
}

/// Bootstraps a snapshot of `total` person alerts in a child process, then measures the lane's
/// watchlist built from the replica and following further alerts.
fn person_alert_figures(total: u32) {
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path().join("replica");
    let mut central = Central::default();
    let roots = central.roots();
    let mut entries = Vec::new();
    let mut checkpoint = Vec::new();
    let mut done = 0;
    while done < total {
        let n = BATCH.min(total - done);
        let (encoded, signed) = central.next(person_alerts(done, n));
        entries.extend(encoded);
        checkpoint = signed;
        done += n;
    }
    let snapshot = Snapshot {
        checkpoint,
        entries: entries.into_iter().map(ciborium::Value::Bytes).collect(),
    }
    .encode();
    let snapshot_path = work.path().join("snapshot.cbor");
    std::fs::write(&snapshot_path, &snapshot).expect("write snapshot");
    println!(
        "snapshot: {} MiB for {total} person alerts",
        snapshot.len() >> 20
    );
    drop(snapshot);
    let out = Command::new(std::env::current_exe().expect("own path"))
        .env("LEDGER_BENCH_SNAPSHOT", &snapshot_path)
        .env("LEDGER_BENCH_REPLICA", &dir)
        .env("LEDGER_BENCH_PERMITS", total.to_string())
        .env("LEDGER_BENCH_KIND", "person alerts")
        .output()
        .expect("bootstrap");
    print!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "bootstrap failed");

    let store = SledLedger::open(&dir, CACHE_CAPACITY_DEFAULT).expect("open");
    let mut watchlist = LaneWatchlist::build(&store).expect("build");
    assert_eq!(watchlist.len(), total as usize);
    const MORE: u32 = 10_000;
    let (encoded, signed) = central.next(person_alerts(total, MORE));
    apply(&store, &roots, encoded, &signed);
    let started = Instant::now();
    assert!(watchlist.catch_up(&store, u64::MAX).expect("catch up"));
    let took = started.elapsed();
    println!(
        "watchlist follows {MORE} replicated alerts ({total} held): {took:.2?} = {:.1} µs per alert",
        took.as_secs_f64() * 1e6 / f64::from(MORE)
    );
    let bytes = store.size_on_disk().expect("size");
    println!(
        "disk: {bytes} bytes = {:.0} bytes/person alert",
        bytes as f64 / f64::from(total + MORE)
    );
}

/// In the bootstrap child, after the person alerts applied: the lane's watchlist built from
/// the replica, its time and the RSS it adds.
fn watchlist_from(replica: &str) {
    let store = SledLedger::open(replica.as_ref(), CACHE_CAPACITY_DEFAULT).expect("open");
    let before = status_kib("VmRSS:");
    let started = Instant::now();
    let watchlist = LaneWatchlist::build(&store).expect("build");
    let took = started.elapsed();
    println!(
        "watchlist built from the replica: {} alerts in {took:.2?} ({:.0} alerts/s), {:.0} bytes/alert \
         held; RSS {} MiB before, {} MiB after ({:.0} bytes/alert)",
        watchlist.len(),
        watchlist.len() as f64 / took.as_secs_f64(),
        watchlist.memory_bytes() as f64 / watchlist.len() as f64,
        before >> 10,
        status_kib("VmRSS:") >> 10,
        (status_kib("VmRSS:").saturating_sub(before) * 1024) as f64 / watchlist.len() as f64
    );
}

fn main() {
    if let Some(alerts) = std::env::var("LEDGER_BENCH_PERSON_ALERTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|_| std::env::var_os("LEDGER_BENCH_SNAPSHOT").is_none())
    {
        person_alert_figures(alerts);
        return;
    }
    let total: u32 = std::env::var("LEDGER_BENCH_PERMITS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    if let Ok(dir) = std::env::var("LEDGER_BENCH_PROBE") {
        // LEDGER_BENCH_PROBE=DIR alone re-measures a replica left by an earlier run
        // (LEDGER_BENCH_KEEP=DIR keeps it), e.g. with another LEDGER_BENCH_CACHE_MIB.
        probe(&dir, total);
        return;
    }
    if let (Ok(snapshot), Ok(replica)) = (
        std::env::var("LEDGER_BENCH_SNAPSHOT"),
        std::env::var("LEDGER_BENCH_REPLICA"),
    ) {
        bootstrap(&snapshot, &replica, total);
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let dir = match std::env::var_os("LEDGER_BENCH_KEEP") {
        Some(keep) => {
            std::fs::create_dir_all(&keep).expect("keep dir");
            tempfile::TempDir::with_prefix_in("ledger-", &keep)
                .expect("kept dir")
                .keep()
        }
        None => work.path().join("replica"),
    };

    // Central's side, not timed: the issuer key and the permits, then the snapshot.
    let mut central = Central::default();
    let roots = central.roots();
    let (mut entries, _) = central.next(vec![central.issuer_key()]);
    let mut checkpoint = Vec::new();
    let mut done = 0;
    while done < total {
        let n = BATCH.min(total - done);
        let (encoded, signed) = central.permits(done, n);
        entries.extend(encoded);
        checkpoint = signed;
        done += n;
    }
    let snapshot = Snapshot {
        checkpoint,
        entries: entries.into_iter().map(ciborium::Value::Bytes).collect(),
    }
    .encode();
    // LEDGER_BENCH_SNAPSHOT=FILE LEDGER_BENCH_REPLICA=DIR alone re-runs the bootstrap; with
    // LEDGER_BENCH_KEEP the snapshot is kept beside the replica for that.
    let snapshot_path = dir
        .parent()
        .filter(|_| std::env::var_os("LEDGER_BENCH_KEEP").is_some())
        .unwrap_or(work.path())
        .join("snapshot.cbor");
    std::fs::write(&snapshot_path, &snapshot).expect("write snapshot");
    println!("snapshot: {} MiB for {total} permits", snapshot.len() >> 20);
    drop(snapshot);
    let out = Command::new(std::env::current_exe().expect("own path"))
        .env("LEDGER_BENCH_SNAPSHOT", &snapshot_path)
        .env("LEDGER_BENCH_REPLICA", &dir)
        .env("LEDGER_BENCH_PERMITS", total.to_string())
        .output()
        .expect("bootstrap");
    print!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "bootstrap failed");

    let store = Arc::new(SledLedger::open(&dir, CACHE_CAPACITY_DEFAULT).expect("open"));
    percentiles(
        &format!("lookup by holder ({total} permits, alone)"),
        lookups(&store, total, 3),
    );

    // Lookups while another batch is being verified and applied.
    let (encoded, signed) = central.permits(total, BATCH);
    let writer = {
        let store = Arc::clone(&store);
        let roots = roots.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            apply(&store, &roots, encoded, &signed);
            started.elapsed()
        })
    };
    let mut during = Vec::new();
    let mut round = 0;
    while !writer.is_finished() {
        during.extend(lookups(&store, total, 100 + round).into_iter().take(10_000));
        round += 1;
    }
    let batch_time = writer.join().expect("writer");
    percentiles(
        &format!(
            "lookup by holder ({total} permits, while a {BATCH}-entry batch applies in {batch_time:.2?})"
        ),
        during,
    );
    let bytes = store.size_on_disk().expect("size");
    println!(
        "disk: {bytes} bytes = {:.0} bytes/permit",
        bytes as f64 / f64::from(total + BATCH)
    );
    drop(store);
    let out = Command::new(std::env::current_exe().expect("own path"))
        .env("LEDGER_BENCH_PROBE", &dir)
        .env("LEDGER_BENCH_PERMITS", total.to_string())
        .output()
        .expect("probe");
    print!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
}
