#![no_main]
//! Arbitrary bytes as a ledger entry and as a signed checkpoint: never a panic, and a decoded
//! entry survives re-encoding.

use checkpointd::core::ledger::{Entry, SignedCheckpoint};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(entry) = Entry::decode(data) {
        let again = Entry::decode(&entry.encode());
        assert_eq!(again.as_ref(), Ok(&entry));
    }
    let _ = SignedCheckpoint::decode(data);
});
