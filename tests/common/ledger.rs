//! Ledger fixtures: a pinned root set and generated permit entries.

use checkpointd::core::document::HolderDigest;
use checkpointd::core::ledger::{Change, PermitIndex, PermitIssued, PermitType, RootKey, RootSet};
use ed25519_dalek::SigningKey;

/// Three fixed root keys and the 2-of-3 set that pins them.
pub fn roots() -> (Vec<SigningKey>, RootSet) {
    let keys: Vec<_> = (1..=3u8)
        .map(|s| SigningKey::from_bytes(&[s; 32]))
        .collect();
    let pinned = keys
        .iter()
        .map(|k| RootKey::from_bytes(&k.verifying_key().to_bytes()).expect("root"))
        .collect();
    (keys, RootSet::new(pinned, 2).expect("root set"))
}

/// `n` distinct work-permit issues numbered from `from`.
pub fn permits(from: u32, n: u32) -> Vec<Change> {
    (from..from + n)
        .map(|i| {
            let mut cti = [0u8; 16];
            cti[..4].copy_from_slice(&i.to_be_bytes());
            cti[15] = 1;
            Change::PermitIssued(PermitIssued {
                bp1: format!("BP1:{i:08X}"),
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
