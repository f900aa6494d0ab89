//! Ledger figures: apply rate with full verification (checkpoint signatures, hash chain, every
//! permit's BP1 issuer signature), lookup latency by holder alone and while a batch is applied,
//! the RSS of a process that opens the replica as the daemon does, and disk bytes per permit.
//!
//! `LEDGER_BENCH_PERMITS=1000000 cargo bench --bench ledger_apply` (default 200,000).

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use checkpointd::adapters::ledger::{CACHE_CAPACITY_DEFAULT, SledLedger};
use checkpointd::core::document::HolderDigest;
use checkpointd::core::ledger::permit_check::{Bp1Verification, index_of};
use checkpointd::core::ledger::{
    Change, Checkpoint, IssuerKeyAdded, PermitIssued, PermitType, RootKey, RootSet,
    SignedCheckpoint, extend, verify_batch,
};
use checkpointd::core::permit::{PermitBody, PermitClaims, PermitHolder, key_id, sign_permit};
use checkpointd::core::privacy::{DocumentNumber, PersonName};
use checkpointd::ports::ledger::{LedgerStore, LedgerView};
use ed25519_dalek::SigningKey;
use jiff::Timestamp;
use rand::{Rng, SeedableRng};

/// Entries per checkpoint, as central would publish them during a bootstrap.
const BATCH: u32 = 20_000;
const LOOKUPS: usize = 100_000;

fn ts(s: &str) -> Timestamp {
    s.parse().expect("timestamp")
}

fn document_number(i: u32) -> String {
    format!("N{i:08}")
}

fn holder(i: u32) -> HolderDigest {
    HolderDigest::of("UTO", &document_number(i))
}

struct Central {
    root_keys: Vec<SigningKey>,
    issuer: SigningKey,
    seq: u64,
    head: [u8; 32],
    rng: rand::rngs::StdRng,
}

impl Central {
    fn issuer_key(&self) -> Change {
        Change::IssuerKeyAdded(IssuerKeyAdded {
            kid: key_id(&self.issuer.verifying_key()),
            public_key: self.issuer.verifying_key().to_bytes(),
            sign_from: ts("2025-01-01T00:00:00Z"),
            sign_until: ts("2028-01-01T00:00:00Z"),
            verify_until: ts("2032-01-01T00:00:00Z"),
            permit_types: PermitType::ALL.to_vec(),
        })
    }

    /// A real signed work permit for holder `i`, with a random cti as central issues them.
    fn permit(&mut self, i: u32) -> Change {
        let body = PermitBody {
            permit_type: PermitType::WorkPermit,
            holder: PermitHolder {
                issuing_state: "UTO".into(),
                document_number: DocumentNumber::new(document_number(i)),
                birth_date: "1990-01-01".parse().expect("date"),
                nationality: "UTO".into(),
                name: PersonName::new("ERIKSSON ANNA MARIA"),
            },
            valid_from: "2026-01-01".parse().expect("date"),
            valid_until: "2027-01-01".parse().expect("date"),
            employer: Some("Caspian Drilling LLC".into()),
            entries: None,
            region: None,
        };
        let claims = PermitClaims {
            issuer: "AZ-SMS".into(),
            issued_at: ts("2026-01-01T00:00:00Z"),
            not_before: ts("2026-01-01T00:00:00Z"),
            expires_at: ts("2027-01-02T00:00:00Z"),
            permit_id: self.rng.r#gen(),
        };
        let bp1 = sign_permit(
            &body,
            &claims,
            &self.issuer,
            key_id(&self.issuer.verifying_key()),
        );
        let index = index_of(&bp1).expect("own permit decodes");
        Change::PermitIssued(PermitIssued { bp1, index })
    }

    /// Builds the next checkpointed batch (central's work, not timed).
    fn next(&mut self, changes: Vec<Change>) -> (Vec<Vec<u8>>, Vec<u8>) {
        let time = ts("2026-05-01T00:00:00Z");
        let (encoded, head) = extend(self.seq, self.head, changes, time);
        self.seq += encoded.len() as u64;
        self.head = head;
        let checkpoint = Checkpoint {
            size: self.seq,
            root: head,
            time,
        };
        (
            encoded,
            SignedCheckpoint::sign(&checkpoint, &self.root_keys[..2]).encode(),
        )
    }

    fn permits(&mut self, from: u32, n: u32) -> (Vec<Vec<u8>>, Vec<u8>) {
        let changes = (from..from + n).map(|i| self.permit(i)).collect();
        self.next(changes)
    }
}

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

/// The child process: opens the replica with the daemon's cache size, looks up as a lane does,
/// and reports its own peak RSS.
fn probe(dir: &str, total: u32) {
    let store = SledLedger::open(dir.as_ref(), CACHE_CAPACITY_DEFAULT).expect("open");
    let before = status_kib("VmRSS:");
    let samples = lookups(&store, total, 7);
    percentiles("lookup by holder, alone (fresh process)", samples);
    println!(
        "rss of a process holding the replica: {} KiB after open, {} KiB peak after {LOOKUPS} lookups (cache_capacity {} MiB)",
        before,
        status_kib("VmHWM:"),
        CACHE_CAPACITY_DEFAULT >> 20
    );
}

fn main() {
    let total: u32 = std::env::var("LEDGER_BENCH_PERMITS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    if let Ok(dir) = std::env::var("LEDGER_BENCH_PROBE") {
        probe(&dir, total);
        return;
    }
    let root_keys: Vec<_> = (1..=3u8)
        .map(|s| SigningKey::from_bytes(&[s; 32]))
        .collect();
    let roots = RootSet::new(
        root_keys
            .iter()
            .map(|k| RootKey::from_bytes(&k.verifying_key().to_bytes()).expect("root"))
            .collect(),
        2,
    )
    .expect("roots");
    let mut central = Central {
        root_keys,
        issuer: SigningKey::from_bytes(&[42; 32]),
        seq: 0,
        head: [0; 32],
        rng: rand::rngs::StdRng::seed_from_u64(1),
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(SledLedger::open(dir.path(), CACHE_CAPACITY_DEFAULT).expect("open"));
    let key = central.issuer_key();
    let (encoded, signed) = central.next(vec![key]);
    apply(&store, &roots, encoded, &signed);

    let mut applying = Duration::ZERO;
    let mut done = 0;
    while done < total {
        let n = BATCH.min(total - done);
        let (encoded, signed) = central.permits(done, n);
        let started = Instant::now();
        apply(&store, &roots, encoded, &signed);
        applying += started.elapsed();
        done += n;
    }
    let rate = f64::from(total) / applying.as_secs_f64();
    println!(
        "apply with full verification: {total} permits in {applying:.2?} = {rate:.0} entries/s"
    );

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
    println!(
        "rss of this benchmark (it also holds central's batches): {} KiB peak",
        status_kib("VmHWM:")
    );
    drop(store);
    let out = Command::new(std::env::current_exe().expect("own path"))
        .env("LEDGER_BENCH_PROBE", dir.path())
        .env("LEDGER_BENCH_PERMITS", total.to_string())
        .output()
        .expect("probe");
    print!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
}
