//! Ledger figures: apply rate with full verification, lookup latency by holder while a batch is
//! being applied, RSS, and disk bytes per permit.
//!
//! `LEDGER_BENCH_PERMITS=1000000 cargo bench --bench ledger_apply` (default 200,000).

use std::sync::Arc;
use std::time::{Duration, Instant};

use checkpointd::adapters::ledger::SledLedger;
use checkpointd::core::document::HolderDigest;
use checkpointd::core::ledger::state::IndexConsistency;
use checkpointd::core::ledger::{
    Change, Checkpoint, PermitIndex, PermitIssued, PermitType, RootKey, RootSet, SignedCheckpoint,
    extend, verify_batch,
};
use checkpointd::ports::ledger::{LedgerStore, LedgerView};
use ed25519_dalek::SigningKey;

/// Pads each BP1 text to a realistic length (about 320 characters).
const BP1_FILLER: &str = "6BFOXN*TS0BI$ZD-PHQ7I9AD66V5B22CH9M9ESI9XBHXK-%69LQOGI.*V76GCV4*XUA2P-FHT-HNTI4L6N$Q%UG/YL WO*Z7ON15 BM0VM.JQ$F4W17PG4.VAS5EG4V*BRL0K-RDY5RWOOH6PO9:TUQJAJG9-*NIRICVELZUZM9EN9-O9:PICIG805CZKHKB-43.E3KD3OAJ6*K6ZCY73JC3KD3ZQTNN:6.-8P6IV:1EJ1+H8Y36FV8UE+XNZRT9N1";

/// Entries per checkpoint, as central would publish them during a bootstrap.
const BATCH: u32 = 20_000;

fn permits(from: u32, n: u32) -> Vec<Change> {
    (from..from + n)
        .map(|i| {
            let mut cti = [0u8; 16];
            cti[..4].copy_from_slice(&i.to_be_bytes());
            cti[15] = 1;
            Change::PermitIssued(PermitIssued {
                bp1: format!("BP1:{i:08X}{BP1_FILLER}"),
                index: PermitIndex {
                    cti,
                    holder: HolderDigest::of("UTO", &format!("N{i}")).0,
                    permit_type: PermitType::WorkPermit,
                    valid_from: "2026-01-01".parse().expect("date"),
                    valid_until: "2027-01-01".parse().expect("date"),
                },
            })
        })
        .collect()
}

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

struct Feed {
    root_keys: Vec<SigningKey>,
    roots: RootSet,
    seq: u64,
    head: [u8; 32],
}

impl Feed {
    /// Builds the next checkpointed batch (central's work, not timed).
    fn next(&mut self, from: u32, n: u32) -> (Vec<Vec<u8>>, Vec<u8>) {
        let (encoded, head) = extend(
            self.seq,
            self.head,
            permits(from, n),
            "2026-05-01T00:00:00Z".parse().expect("ts"),
        );
        self.seq += encoded.len() as u64;
        self.head = head;
        let checkpoint = Checkpoint {
            size: self.seq,
            root: head,
            time: "2026-05-01T00:00:00Z".parse().expect("ts"),
        };
        (
            encoded,
            SignedCheckpoint::sign(&checkpoint, &self.root_keys[..2]).encode(),
        )
    }
}

/// Verifies the checkpoint and chain and applies, as a terminal does.
fn apply(store: &SledLedger, roots: &RootSet, encoded: Vec<Vec<u8>>, signed: &[u8]) {
    let checkpoint = roots
        .verify(&SignedCheckpoint::decode(signed).expect("decode"))
        .expect("verify");
    let batch = verify_batch(&store.cursor().expect("cursor"), encoded, checkpoint).expect("chain");
    store
        .apply(&batch, signed, &IndexConsistency)
        .expect("apply");
}

fn main() {
    let total: u32 = std::env::var("LEDGER_BENCH_PERMITS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
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
    let mut feed = Feed {
        root_keys,
        roots: roots.clone(),
        seq: 0,
        head: [0; 32],
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(SledLedger::open(dir.path(), 64 * 1024 * 1024).expect("open"));

    let mut applying = Duration::ZERO;
    let mut done = 0;
    while done < total {
        let n = BATCH.min(total - done);
        let (encoded, signed) = feed.next(done, n);
        let started = Instant::now();
        apply(&store, &feed.roots, encoded, &signed);
        applying += started.elapsed();
        done += n;
    }
    let rate = f64::from(total) / applying.as_secs_f64();
    println!("apply: {total} permits in {applying:.2?} of verify+apply = {rate:.0} entries/s");

    // Lookups while another batch is being verified and applied.
    let (encoded, signed) = feed.next(total, BATCH);
    let writer = {
        let store = Arc::clone(&store);
        let roots = feed.roots.clone();
        std::thread::spawn(move || apply(&store, &roots, encoded, &signed))
    };
    let mut samples = Vec::with_capacity(100_000);
    let mut x: u32 = 12345;
    for _ in 0..100_000 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let holder = HolderDigest::of("UTO", &format!("N{}", x % total));
        let started = Instant::now();
        let found = store.permits_by_holder(&holder).expect("lookup");
        samples.push(started.elapsed());
        assert_eq!(found.len(), 1);
    }
    writer.join().expect("writer");
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    println!(
        "lookup by holder ({total} permits, during apply): p50 {:?} p99 {:?} max {:?}",
        pct(0.50),
        pct(0.99),
        pct(1.0)
    );
    store
        .as_ref()
        .clone()
        .size_on_disk()
        .map(|b| {
            println!(
                "disk: {b} bytes = {:.0} bytes/permit",
                b as f64 / f64::from(total + BATCH)
            );
        })
        .expect("size");
    println!(
        "rss: {} KiB now, {} KiB peak (includes the benchmark's own batches)",
        rss_kib("VmRSS:"),
        rss_kib("VmHWM:")
    );
}
