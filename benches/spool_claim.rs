//! Claiming a spool backlog: images claimed per second when every claim lists `incoming/` again
//! (`Spool::claim`, what the device did before) and when one sorted listing serves the batch
//! (`Spool::settled` + `Spool::claim_named`, what it does now). Files are empty: this measures
//! the claiming, not the decoding. Run: `cargo bench --bench spool_claim` (or `--profile dev`).

use std::time::{Duration, Instant, SystemTime};

use checkpointd::adapters::devices::spool::Spool;

fn backlog(images: usize) -> (tempfile::TempDir, Spool) {
    let root = tempfile::tempdir().expect("tempdir");
    let spool = Spool::open(root.path())
        .expect("spool")
        .with_settle(Duration::ZERO);
    for n in 0..images {
        std::fs::write(root.path().join(format!("incoming/{n:08}.png")), b"").expect("image");
    }
    (root, spool)
}

/// Images per second claiming `images` one listing per claim.
fn per_claim_listing(images: usize) -> f64 {
    let (_root, spool) = backlog(images);
    let started = Instant::now();
    let mut claimed = 0;
    while spool.claim(SystemTime::now()).expect("claim").is_some() {
        claimed += 1;
    }
    assert_eq!(claimed, images);
    images as f64 / started.elapsed().as_secs_f64()
}

/// Images per second claiming `images` from one sorted listing per batch.
fn batch_listing(images: usize) -> f64 {
    let (_root, spool) = backlog(images);
    let started = Instant::now();
    let mut claimed = 0;
    loop {
        let batch = spool.settled(SystemTime::now()).expect("list");
        if batch.is_empty() {
            break;
        }
        for name in batch {
            if spool.claim_named(&name).expect("claim").is_some() {
                claimed += 1;
            }
        }
    }
    assert_eq!(claimed, images);
    images as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    // `cargo bench` passes `--bench`; there is nothing to select.
    println!("| backlog | one listing per claim | one listing per batch |");
    println!("| ---: | ---: | ---: |");
    for images in [1_000, 5_000, 20_000] {
        let per_claim = if images <= 5_000 {
            format!("{:.0} images/s", per_claim_listing(images))
        } else {
            "(not run: quadratic)".to_string()
        };
        println!(
            "| {images} | {per_claim} | {:.0} images/s |",
            batch_listing(images)
        );
    }
}
