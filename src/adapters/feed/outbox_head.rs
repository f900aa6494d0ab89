//! The outbox's chain head in sled, and the repair of a write that stopped half way: the outbox
//! writes key by key (no sled transaction), so `open` finishes what a crash or an I/O error left.

use std::collections::HashMap;

use ed25519_dalek::VerifyingKey;

use super::FeedError;
use super::subjects::event_subject;
use super::trees::{Trees, decode_u64};
use crate::core::event::{ChainHead, EventHash, GENESIS_HASH, TerminalId, Verification, verify};

/// The head in one value, so that it is never seen half written: next sequence (8 bytes, big
/// endian), last hash (32), then the clock's high-water mark in nanoseconds (16) when there is one.
const META_HEAD: &[u8] = b"head";
/// Where earlier versions kept the head, one field per key (read when `head` is absent).
const LEGACY_NEXT_SEQ: &[u8] = b"next_seq";
const LEGACY_LAST_HASH: &[u8] = b"last_hash";
const LEGACY_CLOCK_HIGH_WATER: &[u8] = b"clock_high_water";

/// The head as last written.
pub(super) fn read_head(meta: &sled::Tree) -> Result<ChainHead, FeedError> {
    match meta.get(META_HEAD)? {
        Some(bytes) => decode_head(&bytes),
        None => read_legacy_head(meta),
    }
}

/// Writes `head` as one value (one insert is atomic in sled; three were not without a
/// transaction).
pub(super) fn write_head(meta: &sled::Tree, head: &ChainHead) -> Result<(), FeedError> {
    let mut value = Vec::with_capacity(56);
    value.extend_from_slice(&head.next_seq.to_be_bytes());
    value.extend_from_slice(&head.last_hash.0);
    if let Some(mark) = head.clock_high_water {
        value.extend_from_slice(&mark.as_nanosecond().to_be_bytes());
    }
    meta.insert(META_HEAD, value)?;
    Ok(())
}

fn decode_head(bytes: &[u8]) -> Result<ChainHead, FeedError> {
    let corrupt = |why: String| FeedError::Corrupt {
        what: "meta.head".into(),
        why,
    };
    if bytes.len() != 40 && bytes.len() != 56 {
        return Err(corrupt(format!("{} bytes, want 40 or 56", bytes.len())));
    }
    let (seq, rest) = bytes.split_at(8);
    let (hash, mark) = rest.split_at(32);
    let clock_high_water = if mark.is_empty() {
        None
    } else {
        Some(decode_mark(mark, "meta.head")?)
    };
    Ok(ChainHead {
        next_seq: decode_u64(seq, "meta.head next sequence")?,
        last_hash: EventHash(hash.try_into().map_err(|_| corrupt("hash".into()))?),
        clock_high_water,
    })
}

fn decode_mark(bytes: &[u8], what: &str) -> Result<jiff::Timestamp, FeedError> {
    let nanos = i128::from_be_bytes(bytes.try_into().map_err(|_| FeedError::Corrupt {
        what: what.into(),
        why: format!("clock mark of {} bytes, want 16", bytes.len()),
    })?);
    jiff::Timestamp::from_nanosecond(nanos).map_err(|e| FeedError::Corrupt {
        what: what.into(),
        why: e.to_string(),
    })
}

fn read_legacy_head(meta: &sled::Tree) -> Result<ChainHead, FeedError> {
    let next_seq = match meta.get(LEGACY_NEXT_SEQ)? {
        Some(bytes) => decode_u64(&bytes, "meta.next_seq")?,
        None => 1,
    };
    let last_hash = match meta.get(LEGACY_LAST_HASH)? {
        Some(bytes) => EventHash(bytes.as_ref().try_into().map_err(|_| FeedError::Corrupt {
            what: "meta.last_hash".into(),
            why: format!("{} bytes, want 32", bytes.len()),
        })?),
        None => GENESIS_HASH,
    };
    let clock_high_water = match meta.get(LEGACY_CLOCK_HIGH_WATER)? {
        Some(bytes) => Some(decode_mark(&bytes, "meta.clock_high_water")?),
        None => None,
    };
    Ok(ChainHead {
        next_seq,
        last_hash,
        clock_high_water,
    })
}

/// Finishes a write that stopped after some of its events: every event past `head` that links
/// to it gets its outbox row and moves the head, which is then written and returned. An event past the head that does not link is not this terminal's
/// chain: an error, never silently dropped.
pub(super) fn finish_written(
    trees: &Trees,
    mut head: ChainHead,
    terminal: &TerminalId,
    key: VerifyingKey,
) -> Result<ChainHead, FeedError> {
    let keys = HashMap::from([(terminal.clone(), key)]);
    let start = head;
    for entry in trees.events.range(head.next_seq.to_be_bytes()..) {
        let (seq_bytes, signed) = entry?;
        let seq = decode_u64(&seq_bytes, "events key")?;
        let corrupt = |why: String| FeedError::Corrupt {
            what: format!("events[{seq}]"),
            why,
        };
        let (event, hash) = match verify(&signed, &keys) {
            Verification::Valid(event, hash) => (event, hash),
            Verification::Rejected(rejection) => return Err(corrupt(rejection.to_string())),
        };
        head = head.followed_by(&event, hash).ok_or_else(|| {
            corrupt(format!(
                "written past the head (next sequence {}) but does not follow it",
                head.next_seq
            ))
        })?;
        let subject = event_subject(&event.crossing.checkpoint, &event.terminal);
        trees.outbox.insert(&seq_bytes, subject.as_bytes())?;
    }
    if head != start {
        write_head(&trees.meta, &head)?;
    }
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_kept_by_an_earlier_version_is_read_then_replaced_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = sled::open(dir.path()).expect("sled");
        let meta = db.open_tree("meta").expect("tree");
        assert_eq!(
            read_head(&meta).expect("head"),
            ChainHead {
                next_seq: 1,
                last_hash: GENESIS_HASH,
                clock_high_water: None,
            }
        );
        let mark = jiff::Timestamp::from_second(1_800_000_000).expect("in range");
        meta.insert(LEGACY_NEXT_SEQ, &7u64.to_be_bytes())
            .expect("insert");
        meta.insert(LEGACY_LAST_HASH, &[9u8; 32]).expect("insert");
        meta.insert(LEGACY_CLOCK_HIGH_WATER, &mark.as_nanosecond().to_be_bytes())
            .expect("insert");
        let legacy = read_head(&meta).expect("head");
        assert_eq!(
            legacy,
            ChainHead {
                next_seq: 7,
                last_hash: EventHash([9; 32]),
                clock_high_water: Some(mark),
            }
        );
        let next = ChainHead {
            next_seq: 8,
            ..legacy
        };
        write_head(&meta, &next).expect("write");
        assert_eq!(read_head(&meta).expect("head"), next);
        meta.insert(META_HEAD, &[0u8; 41][..]).expect("insert");
        let error = read_head(&meta).expect_err("a torn head is refused");
        assert!(error.to_string().contains("41 bytes"), "{error}");
    }
}
