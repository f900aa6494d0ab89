#![no_main]
//! Arbitrary bytes as a ledger entry and as a signed checkpoint: never a panic, a decoded entry
//! survives re-encoding and applies (or is refused) with the BP1 check, and a checkpoint's
//! signatures are checked against a pinned root.

use std::sync::OnceLock;

use checkpointd::core::event::SigningKey;
use checkpointd::core::ledger::permit_check::Bp1Verification;
use checkpointd::core::ledger::{
    Entry, MemoryState, RootKey, RootSet, SignedCheckpoint, apply_entry,
};
use libfuzzer_sys::fuzz_target;

/// The seed corpus is signed by the root with seed [9; 32].
fn roots() -> &'static RootSet {
    static ROOTS: OnceLock<RootSet> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let key = SigningKey::from_bytes(&[9; 32]).verifying_key().to_bytes();
        RootSet::new(vec![RootKey::from_bytes(&key).expect("a valid key")], 1)
            .expect("one root, threshold one")
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(entry) = Entry::decode(data) {
        let again = Entry::decode(&entry.encode());
        assert_eq!(again.as_ref(), Ok(&entry));
        let _ = apply_entry(&mut MemoryState::default(), &entry, &Bp1Verification);
    }
    if let Ok(signed) = SignedCheckpoint::decode(data) {
        let _ = roots().verify(&signed);
    }
});
