#![no_main]
//! Arbitrary bytes as a ledger snapshot, the way a terminal bootstraps from central: decode the
//! snapshot and its signed checkpoint, check the root signatures, verify the hash chain and apply
//! the entries with the BP1 check. Never a panic.

use std::sync::OnceLock;

use checkpointd::adapters::ledger::Snapshot;
use checkpointd::core::event::SigningKey;
use checkpointd::core::ledger::permit_check::Bp1Verification;
use checkpointd::core::ledger::{
    Checkpoint, Cursor, MemoryState, RootKey, RootSet, SignedCheckpoint, apply_entry, entry_hash,
    verify_batch,
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
    let Ok(snapshot) = Snapshot::decode(data) else {
        return;
    };
    let verified = SignedCheckpoint::decode(&snapshot.checkpoint)
        .ok()
        .and_then(|signed| roots().verify(&signed).ok());
    let Ok(encoded) = snapshot
        .entries
        .into_iter()
        .map(|value| value.into_bytes())
        .collect::<Result<Vec<_>, _>>()
    else {
        return;
    };
    // Past a forged signature the chain check still runs, against the checkpoint the entries
    // themselves imply, so mutated chains reach the entry decoder and the state.
    let checkpoint = verified.unwrap_or_else(|| Checkpoint {
        size: encoded.len() as u64,
        root: encoded.last().map_or([0; 32], |last| entry_hash(last)),
        time: jiff::Timestamp::UNIX_EPOCH,
    });
    let Ok(batch) = verify_batch(&Cursor::EMPTY, encoded, checkpoint) else {
        return;
    };
    let mut state = MemoryState::default();
    for (entry, _) in &batch.entries {
        if apply_entry(&mut state, entry, &Bp1Verification).is_err() {
            return;
        }
    }
});
