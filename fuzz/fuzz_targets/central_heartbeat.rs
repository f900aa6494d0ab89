//! Arbitrary bytes as a heartbeat on an arbitrary subject, as `checkpoint-central` reads them:
//! never a panic, and an accepted heartbeat names the terminal of its subject.

#![no_main]

use checkpointd::central::ingest::heartbeat_row;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (subject, payload) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (String::from_utf8_lossy(&data[..at]).into_owned(), &data[at + 1..]),
        None => ("heartbeats.T1".to_string(), data),
    };
    if let Ok(row) = heartbeat_row(&subject, payload) {
        assert_eq!(subject, format!("heartbeats.{}", row.terminal));
        assert!(row.outbox_depth >= 0);
    }
});
