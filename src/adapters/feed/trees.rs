//! The outbox database's trees and the big-endian sequence numbers its keys and values hold,
//! shared by the outbox, its chain head and the movement index that live in it.

use super::FeedError;

/// The trees of `<data>/outbox`.
pub(super) struct Trees {
    pub(super) events: sled::Tree,
    pub(super) outbox: sled::Tree,
    pub(super) meta: sled::Tree,
    /// Other terminals' events whose key the ledger does not hold yet, by stream sequence.
    pub(super) movements_parked: sled::Tree,
    /// Idempotency key of an officer's confirmation → its `KeptConfirmation` (JSON).
    pub(super) idempotency: sled::Tree,
}

impl Trees {
    pub(super) fn open(db: &sled::Db) -> Result<Self, FeedError> {
        Ok(Self {
            events: db.open_tree("events")?,
            outbox: db.open_tree("outbox")?,
            meta: db.open_tree("meta")?,
            movements_parked: db.open_tree("movements_parked")?,
            idempotency: db.open_tree("idempotency")?,
        })
    }
}

/// An 8-byte big-endian number read from a key or value; `what` names it in the error.
pub(super) fn decode_u64(bytes: &[u8], what: &str) -> Result<u64, FeedError> {
    let array: [u8; 8] = bytes.try_into().map_err(|_| FeedError::Corrupt {
        what: what.into(),
        why: format!("{} bytes, want 8", bytes.len()),
    })?;
    Ok(u64::from_be_bytes(array))
}
