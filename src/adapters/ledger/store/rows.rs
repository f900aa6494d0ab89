//! How the replica stores values: the trees, versioned CBOR values, rows holding the value
//! before and after a batch stamped with its run, and the cursor record.

use super::*;

/// First byte of every stored value; bump when a record's shape changes.
pub(super) const VALUE_VERSION: u8 = 4;
/// Length marker of an absent side of a row.
pub(super) const ABSENT: u32 = u32::MAX;
pub(super) const META_APPLIED: &[u8] = b"applied";
/// Which set of trees and values the replica holds; a replica of another layout is cleared on
/// open and replicated again (it is only a copy of central's ledger).
pub(super) const META_LAYOUT: &[u8] = b"layout";
pub(super) const LAYOUT: &[u8] = b"4";
/// Trees of earlier layouts, dropped with them (entries and permits moved to files in layout 4).
pub(super) const RETIRED_TREES: [&str; 3] = ["permits_by_holder", "entries", "permits"];

// Tree positions inside `SledLedger::trees`.
pub(super) const REVOKED: usize = 0;
pub(super) const ISSUER_KEYS: usize = 1;
pub(super) const TERMINAL_KEYS: usize = 2;
pub(super) const ALERTS: usize = 3;
pub(super) const ALERTS_BY_HOLDER: usize = 4;
pub(super) const EXTENSIONS: usize = 5;
pub(super) const REGISTRATIONS: usize = 6;
pub(super) const META: usize = 7;
pub(super) const OFFICERS: usize = 8;
pub(super) const PERSON_ALERTS: usize = 9;
// The CSCA trees came after `meta`; an older replica opens them empty (it applied no csca entry).
pub(super) const CSCAS: usize = 10;
pub(super) const CRLS: usize = 11;
pub(super) const TREE_NAMES: [&str; 12] = [
    "revoked",
    "issuer_keys",
    "terminal_keys",
    "alerts",
    "alerts_by_holder",
    "extensions",
    "registrations",
    "meta",
    "officers",
    "person_alerts",
    "cscas",
    "crls",
];

/// The cursor and the signed checkpoint it was applied under, as readers see them.
#[derive(Clone, Debug)]
pub(super) struct Applied {
    pub(super) cursor: Cursor,
    /// Permit records in the permit file that the cursor covers.
    pub(super) permits: u64,
    pub(super) signed_checkpoint: Option<Vec<u8>>,
}

pub(super) fn backend(e: impl std::fmt::Display) -> LedgerStoreError {
    LedgerStoreError::Backend(e.to_string())
}

pub(super) fn corrupt(what: &'static str, reason: impl Into<String>) -> LedgerStoreError {
    LedgerStoreError::Corrupt {
        what,
        reason: reason.into(),
    }
}

pub(super) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(value, &mut out).expect("writing cbor into a Vec cannot fail");
    out
}

pub(super) fn decode<T: DeserializeOwned>(
    what: &'static str,
    bytes: &[u8],
) -> Result<T, LedgerStoreError> {
    ciborium::from_reader(bytes).map_err(|e| corrupt(what, e.to_string()))
}

/// A stored row: `now` is what readers at or after `seq` see, `before` what earlier readers see.
/// Both sides are CBOR; `None` means "no such record". `run` names the apply run that wrote it,
/// so that a long run reads back its own rows (and not those a crashed run left behind).
pub(super) struct Row<'a> {
    pub(super) seq: u64,
    pub(super) run: u64,
    pub(super) now: Option<&'a [u8]>,
    pub(super) before: Option<&'a [u8]>,
}

impl<'a> Row<'a> {
    /// `version | seq u64 BE | run u64 BE | now_len u32 BE | now | before_len u32 BE | before`.
    pub(super) fn encode(stamp: &RunStamp, now: Option<&[u8]>, before: Option<&[u8]>) -> Vec<u8> {
        let side_len = |s: Option<&[u8]>| s.map_or(0, <[u8]>::len);
        let mut out = Vec::with_capacity(25 + side_len(now) + side_len(before));
        out.push(VALUE_VERSION);
        out.extend_from_slice(&stamp.last.to_be_bytes());
        out.extend_from_slice(&stamp.run.to_be_bytes());
        for side in [now, before] {
            match side {
                Some(bytes) => {
                    let len = u32::try_from(bytes.len()).expect("a ledger record is under 4 GiB");
                    out.extend_from_slice(&len.to_be_bytes());
                    out.extend_from_slice(bytes);
                }
                None => out.extend_from_slice(&ABSENT.to_be_bytes()),
            }
        }
        out
    }

    pub(super) fn decode(what: &'static str, bytes: &'a [u8]) -> Result<Self, LedgerStoreError> {
        let Some((&version, rest)) = bytes.split_first() else {
            return Err(corrupt(what, "empty value"));
        };
        if version != VALUE_VERSION {
            return Err(corrupt(what, format!("unknown value version {version}")));
        }
        let (seq, rest) = take::<8>(what, rest)?;
        let (run, rest) = take::<8>(what, rest)?;
        let (now, rest) = side(what, rest)?;
        let (before, rest) = side(what, rest)?;
        if !rest.is_empty() {
            return Err(corrupt(what, format!("{} trailing bytes", rest.len())));
        }
        Ok(Self {
            seq: u64::from_be_bytes(seq),
            run: u64::from_be_bytes(run),
            now,
            before,
        })
    }

    /// The side a reader at cursor `applied` sees.
    pub(super) fn at(&self, applied: u64) -> Option<&'a [u8]> {
        if self.seq <= applied {
            self.now
        } else {
            self.before
        }
    }
}

/// What every row of one apply run is written with, and what the run reads rows against.
#[derive(Clone, Copy, Debug)]
pub(super) struct RunStamp {
    /// The cursor the run started from: readers see each row's side for it until the run ends.
    pub(super) applied: u64,
    /// The run's last entry: readers at or past it see the rows' new side.
    pub(super) last: u64,
    /// Random per run: a row with this stamp was staged by this run.
    pub(super) run: u64,
}

impl RunStamp {
    pub(super) fn new(applied: u64, last: u64) -> Self {
        Self {
            applied,
            last,
            run: rand::random(),
        }
    }
}

pub(super) fn take<'a, const N: usize>(
    what: &'static str,
    bytes: &'a [u8],
) -> Result<([u8; N], &'a [u8]), LedgerStoreError> {
    match bytes.split_first_chunk::<N>() {
        Some((head, rest)) => Ok((*head, rest)),
        None => Err(corrupt(
            what,
            format!("value cut short: {} bytes", bytes.len()),
        )),
    }
}

pub(super) fn side<'a>(
    what: &'static str,
    bytes: &'a [u8],
) -> Result<(Option<&'a [u8]>, &'a [u8]), LedgerStoreError> {
    let (len, rest) = take::<4>(what, bytes)?;
    let len = u32::from_be_bytes(len);
    if len == ABSENT {
        return Ok((None, rest));
    }
    let len = len as usize;
    if rest.len() < len {
        return Err(corrupt(
            what,
            format!("side of {len} bytes but {} left", rest.len()),
        ));
    }
    let (value, rest) = rest.split_at(len);
    Ok((Some(value), rest))
}

pub(super) fn holder_key(holder: &[u8; 32], tail: &[u8]) -> Vec<u8> {
    [holder.as_slice(), tail].concat()
}

/// `version | permits u64 BE | cursor length u32 BE | cursor CBOR | signed checkpoint`.
pub(super) fn encode_applied(cursor: &Cursor, permits: u64, signed_checkpoint: &[u8]) -> Vec<u8> {
    let cursor = encode(cursor);
    let len = u32::try_from(cursor.len()).expect("a cursor is a few dozen bytes");
    let mut out = vec![VALUE_VERSION];
    out.extend_from_slice(&permits.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&cursor);
    out.extend_from_slice(signed_checkpoint);
    out
}

pub(super) fn decode_applied(bytes: &[u8]) -> Result<Applied, LedgerStoreError> {
    const WHAT: &str = "cursor";
    let Some((&version, rest)) = bytes.split_first() else {
        return Err(corrupt(WHAT, "empty value"));
    };
    if version != VALUE_VERSION {
        return Err(corrupt(WHAT, format!("unknown value version {version}")));
    }
    let (permits, rest) = take::<8>(WHAT, rest)?;
    let (Some(cursor), signed) = side(WHAT, rest)? else {
        return Err(corrupt(WHAT, "no cursor"));
    };
    Ok(Applied {
        cursor: decode(WHAT, cursor)?,
        permits: u64::from_be_bytes(permits),
        signed_checkpoint: Some(signed.to_vec()),
    })
}
