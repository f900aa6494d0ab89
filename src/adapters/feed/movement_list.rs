//! One list per document: all its retained movements, in order, so a lookup is one read and no
//! per-movement decoding of CBOR (`movement_log` stores the lists).
//!
//! Value: `version (1) | element*`, element: `len u16 BE | id (24) | at ns i128 BE (16) |
//! direction u8 | terminal len u16 BE | terminal | checkpoint len u16 BE | checkpoint`, where
//! `id = time key (8) | terminal digest (8) | seq u64 BE (8)` orders the list and names an element.

use crate::core::event::{CrossingKind, TerminalId};
use crate::ports::upstream::MovementRecord;

const LIST_VERSION: u8 = 1;
/// Bytes of an element's id.
pub(super) const ID_BYTES: usize = 24;

/// Why a stored list cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("movement list corrupt at byte {at}: {why}")]
pub struct ListError {
    /// Offset in the value.
    pub at: usize,
    /// What was wrong.
    pub why: &'static str,
}

fn direction_byte(direction: CrossingKind) -> u8 {
    match direction {
        CrossingKind::Entry => 0,
        CrossingKind::Exit => 1,
        CrossingKind::RefusedEntry => 2,
        CrossingKind::Referred => 3,
    }
}

/// The element for `record` under `id`.
pub(super) fn element(id: [u8; ID_BYTES], record: &MovementRecord) -> Vec<u8> {
    let terminal = record.terminal.as_str().as_bytes();
    let checkpoint = record.checkpoint.as_bytes();
    // Terminal ids and checkpoint codes are short; a longer one is cut rather than corrupting
    // the list.
    let terminal = &terminal[..terminal.len().min(usize::from(u16::MAX))];
    let checkpoint = &checkpoint[..checkpoint.len().min(usize::from(u16::MAX))];
    let mut body = Vec::with_capacity(ID_BYTES + 21 + terminal.len() + checkpoint.len());
    body.extend_from_slice(&id);
    body.extend_from_slice(&record.at.as_nanosecond().to_be_bytes());
    body.push(direction_byte(record.direction));
    for text in [terminal, checkpoint] {
        body.extend_from_slice(&(text.len() as u16).to_be_bytes());
        body.extend_from_slice(text);
    }
    let mut out = Vec::with_capacity(body.len() + 2);
    out.extend_from_slice(&(body.len() as u16).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// The elements of a stored list, each without its length prefix, with their offsets.
fn elements(list: &[u8]) -> Result<Vec<(usize, &[u8])>, ListError> {
    let Some((&version, mut rest)) = list.split_first() else {
        return Err(ListError {
            at: 0,
            why: "empty value",
        });
    };
    if version != LIST_VERSION {
        return Err(ListError {
            at: 0,
            why: "unknown list version",
        });
    }
    let mut at = 1;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let Some((len, tail)) = rest.split_first_chunk::<2>() else {
            return Err(ListError {
                at,
                why: "element length cut short",
            });
        };
        let len = usize::from(u16::from_be_bytes(*len));
        if len < ID_BYTES || tail.len() < len {
            return Err(ListError {
                at,
                why: "element longer than the value or shorter than its id",
            });
        }
        let (body, tail) = tail.split_at(len);
        out.push((at, body));
        at += 2 + len;
        rest = tail;
    }
    Ok(out)
}

/// `list` with `element` inserted in order; `None` when an element with its id is already
/// there (re-applying an event is harmless).
pub(super) fn insert(list: Option<&[u8]>, element: &[u8]) -> Result<Option<Vec<u8>>, ListError> {
    let id = element.get(2..2 + ID_BYTES).ok_or(ListError {
        at: 0,
        why: "new element shorter than its id",
    })?;
    let Some(list) = list else {
        let mut out = vec![LIST_VERSION];
        out.extend_from_slice(element);
        return Ok(Some(out));
    };
    let mut position = list.len();
    for (at, body) in elements(list)? {
        match body[..ID_BYTES].cmp(id) {
            std::cmp::Ordering::Less => {}
            std::cmp::Ordering::Equal => return Ok(None),
            std::cmp::Ordering::Greater => {
                position = at;
                break;
            }
        }
    }
    let mut out = Vec::with_capacity(list.len() + element.len());
    out.extend_from_slice(&list[..position]);
    out.extend_from_slice(element);
    out.extend_from_slice(&list[position..]);
    Ok(Some(out))
}

/// The movements of a stored list, in order.
pub(super) fn decode(list: &[u8]) -> Result<Vec<MovementRecord>, ListError> {
    let parts = elements(list)?;
    let mut out = Vec::with_capacity(parts.len());
    for (at, body) in parts {
        let bad = |why| ListError { at, why };
        let seq = u64::from_be_bytes(body[16..ID_BYTES].try_into().expect("8 bytes"));
        let rest = &body[ID_BYTES..];
        let (nanos, rest) = rest
            .split_first_chunk::<16>()
            .ok_or(bad("time cut short"))?;
        let at_time = jiff::Timestamp::from_nanosecond(i128::from_be_bytes(*nanos))
            .map_err(|_| bad("time out of range"))?;
        let (&direction, rest) = rest.split_first().ok_or(bad("direction missing"))?;
        let direction = match direction {
            0 => CrossingKind::Entry,
            1 => CrossingKind::Exit,
            2 => CrossingKind::RefusedEntry,
            3 => CrossingKind::Referred,
            _ => return Err(bad("unknown direction")),
        };
        let (terminal, rest) = text(rest).ok_or(bad("terminal cut short"))?;
        let (checkpoint, rest) = text(rest).ok_or(bad("checkpoint cut short"))?;
        if !rest.is_empty() {
            return Err(bad("trailing bytes in element"));
        }
        out.push(MovementRecord {
            at: at_time,
            direction,
            checkpoint: checkpoint.to_owned(),
            terminal: TerminalId::new(terminal).map_err(|_| bad("invalid terminal id"))?,
            seq,
        });
    }
    Ok(out)
}

/// Checks a list that came from elsewhere (a snapshot) as thoroughly as a lookup would read it:
/// every element decodes, and ids strictly increase (the order `insert` relies on). Returns how
/// many movements it holds.
pub(super) fn check(list: &[u8]) -> Result<usize, ListError> {
    let movements = decode(list)?.len();
    if movements == 0 {
        return Err(ListError {
            at: 1,
            why: "list without movements",
        });
    }
    let parts = elements(list)?;
    for pair in parts.windows(2) {
        if pair[0].1[..ID_BYTES] >= pair[1].1[..ID_BYTES] {
            return Err(ListError {
                at: pair[1].0,
                why: "element out of order or repeated",
            });
        }
    }
    Ok(movements)
}

/// `into` with every element of `from` inserted (those already there are kept once).
pub(super) fn merge(into: &[u8], from: &[u8]) -> Result<Vec<u8>, ListError> {
    let mut out = into.to_vec();
    for (at, body) in elements(from)? {
        let element = &from[at..at + 2 + body.len()];
        if let Some(list) = insert(Some(&out), element)? {
            out = list;
        }
    }
    Ok(out)
}

/// The time keys (first 8 bytes of the id) of a list's first and last movement.
pub(super) fn time_bounds(list: &[u8]) -> Result<([u8; 8], [u8; 8]), ListError> {
    let parts = elements(list)?;
    let (Some((_, first)), Some((_, last))) = (parts.first(), parts.last()) else {
        return Err(ListError {
            at: 1,
            why: "list without movements",
        });
    };
    let key = |body: &[u8]| {
        let mut out = [0u8; 8];
        out.copy_from_slice(&body[..8]);
        out
    };
    Ok((key(first), key(last)))
}

/// Splits off the movements whose time key is below `time_key`: the list of those left (`None`
/// when none is) and the movements split off. Elements are in id order, and ids begin with the
/// time key, so those split off are a prefix.
pub(super) fn split_before(
    list: &[u8],
    time_key: [u8; 8],
) -> Result<(Option<Vec<u8>>, Vec<MovementRecord>), ListError> {
    let parts = elements(list)?;
    let cut = parts
        .iter()
        .find(|(_, body)| body[..8] >= time_key[..])
        .map_or(list.len(), |(at, _)| *at);
    let mut gone = vec![LIST_VERSION];
    gone.extend_from_slice(&list[1..cut]);
    let gone = decode(&gone)?;
    if cut == list.len() {
        return Ok((None, gone));
    }
    let mut rest = vec![LIST_VERSION];
    rest.extend_from_slice(&list[cut..]);
    Ok((Some(rest), gone))
}

fn text(bytes: &[u8]) -> Option<(&str, &[u8])> {
    let (len, rest) = bytes.split_first_chunk::<2>()?;
    let len = usize::from(u16::from_be_bytes(*len));
    if rest.len() < len {
        return None;
    }
    let (text, rest) = rest.split_at(len);
    Some((std::str::from_utf8(text).ok()?, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: u64, second: i64) -> ([u8; ID_BYTES], Vec<u8>) {
        let mut id = [0u8; ID_BYTES];
        id[..8].copy_from_slice(&second.to_be_bytes());
        id[16..].copy_from_slice(&seq.to_be_bytes());
        let record = MovementRecord {
            at: jiff::Timestamp::from_second(second).expect("in range"),
            direction: if seq.is_multiple_of(2) {
                CrossingKind::Entry
            } else {
                CrossingKind::Exit
            },
            checkpoint: "GYD".into(),
            terminal: TerminalId::new("AZ-GYD-A1").expect("valid"),
            seq,
        };
        (id, element(id, &record))
    }

    #[test]
    fn insert_keeps_order_ignores_repeats_and_split_before_cuts_a_prefix() {
        let (_, third) = record(3, 300);
        let (_, first) = record(1, 100);
        let (id2, second) = record(2, 200);
        let list = insert(None, &third).expect("insert").expect("new");
        let list = insert(Some(&list), &first).expect("insert").expect("new");
        let list = insert(Some(&list), &second).expect("insert").expect("new");
        assert_eq!(insert(Some(&list), &second).expect("insert"), None);
        let seqs: Vec<u64> = decode(&list)
            .expect("decode")
            .iter()
            .map(|m| m.seq)
            .collect();
        assert_eq!(seqs, [1, 2, 3]);
        let (oldest, newest) = time_bounds(&list).expect("bounds");
        assert_eq!(
            (oldest, newest),
            (100i64.to_be_bytes(), 300i64.to_be_bytes())
        );
        let (rest, gone) = split_before(&list, id2[..8].try_into().expect("8")).expect("split");
        assert_eq!(gone.iter().map(|m| m.seq).collect::<Vec<_>>(), [1]);
        let rest = rest.expect("two left");
        assert_eq!(decode(&rest).expect("decode").len(), 2);
        let (rest, gone) = split_before(&rest, 400i64.to_be_bytes()).expect("split");
        assert_eq!((rest, gone.len()), (None, 2));
        let (rest, gone) = split_before(&list, 0i64.to_be_bytes()).expect("split");
        assert_eq!((rest.as_deref(), gone.len()), (Some(list.as_slice()), 0));
    }

    #[test]
    fn check_refuses_disorder_and_merge_keeps_each_movement_once() {
        let (_, a) = record(1, 100);
        let (_, b) = record(2, 200);
        let (_, c) = record(3, 300);
        let ab = insert(Some(&insert(None, &a).expect("a").expect("new")), &b)
            .expect("b")
            .expect("new");
        assert_eq!(check(&ab), Ok(2));
        let mut disordered = vec![LIST_VERSION];
        disordered.extend_from_slice(&b);
        disordered.extend_from_slice(&a);
        assert_eq!(
            check(&disordered).map_err(|e| e.why),
            Err("element out of order or repeated")
        );
        assert!(check(&[LIST_VERSION]).is_err(), "an empty list");
        let bc = insert(Some(&insert(None, &b).expect("b").expect("new")), &c)
            .expect("c")
            .expect("new");
        let merged = merge(&ab, &bc).expect("merge");
        let seqs: Vec<u64> = decode(&merged)
            .expect("decode")
            .iter()
            .map(|m| m.seq)
            .collect();
        assert_eq!(seqs, [1, 2, 3]);
    }

    #[test]
    fn every_truncation_of_a_list_is_an_error_not_a_panic() {
        let (_, a) = record(1, 100);
        let (_, b) = record(2, 200);
        let list = insert(None, &a).expect("insert").expect("new");
        let list = insert(Some(&list), &b).expect("insert").expect("new");
        for cut in 0..list.len() {
            let truncated = &list[..cut];
            if cut == 1 || cut == 1 + a.len() {
                // Whole elements: a shorter but well-formed list.
                assert!(decode(truncated).is_ok(), "cut at {cut}");
            } else {
                assert!(decode(truncated).is_err(), "cut at {cut}");
            }
        }
    }
}
