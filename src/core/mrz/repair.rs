//! Check-digit-guided repair of OCR confusions (O/0, I/1, B/8, S/5, Z/2, G/6), tolerant mode only.
//!
//! A repair is kept only when every check digit it touches then verifies and exactly one
//! combination of candidate repairs does so; otherwise the read is left as it was.

use serde::Serialize;

use super::check_digit::check_digit;
use super::layout::{Format, Layout, Range};
use super::states::is_known_state_code;
use super::zone::Zone;

/// Candidate combinations tried at most, so a hostile input cannot make the search explode.
pub const REPAIR_CANDIDATES_MAX: usize = 4096;

/// The letter/digit pairs OCR engines confuse in the MRZ font.
const CONFUSIONS: [(u8, u8); 6] = [
    (b'O', b'0'),
    (b'I', b'1'),
    (b'B', b'8'),
    (b'S', b'5'),
    (b'Z', b'2'),
    (b'G', b'6'),
];

fn letter_to_digit(byte: u8) -> Option<u8> {
    CONFUSIONS
        .iter()
        .find(|(letter, _)| *letter == byte)
        .map(|(_, digit)| *digit)
}

fn digit_to_letter(byte: u8) -> Option<u8> {
    CONFUSIONS
        .iter()
        .find(|(_, digit)| *digit == byte)
        .map(|(letter, _)| *letter)
}

fn counterpart(byte: u8) -> Option<u8> {
    letter_to_digit(byte).or_else(|| digit_to_letter(byte))
}

/// The field a repaired character belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RepairedField {
    /// Document number or its check digit.
    DocumentNumber,
    /// Birth date or its check digit.
    BirthDate,
    /// Expiry date or its check digit.
    ExpiryDate,
    /// TD3 personal number or its check digit.
    PersonalNumber,
    /// The composite check digit.
    Composite,
    /// Issuing state code.
    IssuingState,
    /// Nationality code.
    Nationality,
}

/// One character changed by the repair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Repair {
    /// The field.
    pub field: RepairedField,
    /// Line, from 1.
    pub line: u8,
    /// Column, from 1.
    pub column: u8,
    /// What was read.
    pub from: char,
    /// What it was repaired to.
    pub to: char,
}

/// What the repair did.
#[derive(Debug, Default)]
pub(crate) struct RepairOutcome {
    pub repairs: Vec<Repair>,
    /// Several repairs would satisfy the check digits: none was applied.
    pub ambiguous: bool,
}

type Change = (usize, usize, u8);

/// A check-digit-protected field and the changes that make its check digit verify.
struct Group {
    field: RepairedField,
    /// Alternatives; each a list of changes. One empty list means "leave as read".
    candidates: Vec<Vec<Change>>,
}

/// Per-character alternatives: digits only (dates, check digits) or letters and digits.
fn alternatives(byte: u8, numeric: bool) -> Option<Vec<u8>> {
    if numeric {
        match byte {
            b'0'..=b'9' | b'<' => Some(vec![byte]),
            _ => letter_to_digit(byte).map(|digit| vec![digit]),
        }
    } else {
        Some(match counterpart(byte) {
            Some(other) => vec![byte, other],
            None => vec![byte],
        })
    }
}

fn field_group(
    zone: &Zone,
    field: RepairedField,
    value: Range,
    check: Range,
    numeric: bool,
) -> Option<Group> {
    let value_bytes = zone.bytes(value);
    let check_byte = zone.byte(check);
    let needs_repair = check_byte != b'0' + check_digit(value_bytes)
        || (numeric && value_bytes.iter().any(u8::is_ascii_uppercase));
    if !needs_repair {
        return Some(Group {
            field,
            candidates: vec![Vec::new()],
        });
    }
    let mut slots: Vec<(usize, usize, Vec<u8>)> = Vec::with_capacity(value.end - value.start + 1);
    for (offset, &byte) in value_bytes.iter().enumerate() {
        slots.push((
            value.line,
            value.start + offset,
            alternatives(byte, numeric)?,
        ));
    }
    slots.push((check.line, check.start, alternatives(check_byte, true)?));
    let n_combinations = slots
        .iter()
        .try_fold(1usize, |product, slot| product.checked_mul(slot.2.len()))
        .filter(|n| *n <= REPAIR_CANDIDATES_MAX)?;
    let mut candidates = Vec::new();
    let mut value_buffer = Vec::with_capacity(value_bytes.len());
    for mut index in 0..n_combinations {
        value_buffer.clear();
        let mut changes = Vec::new();
        let mut check_candidate = check_byte;
        for (slot_index, (line, column, options)) in slots.iter().enumerate() {
            let choice = options.get(index % options.len()).copied().unwrap_or(b'<');
            index /= options.len();
            if slot_index + 1 == slots.len() {
                check_candidate = choice;
            } else {
                value_buffer.push(choice);
            }
            if choice
                != zone.byte(Range {
                    line: *line,
                    start: *column,
                    end: column + 1,
                })
            {
                changes.push((*line, *column, choice));
            }
        }
        if !changes.is_empty() && check_candidate == b'0' + check_digit(&value_buffer) {
            candidates.push(changes);
        }
    }
    if candidates.is_empty() {
        // Not repairable: left as read, the validation will say why.
        candidates.push(Vec::new());
    }
    Some(Group { field, candidates })
}

/// Repairs `zone` in place when one combination of confusion swaps makes every check verify.
pub(crate) fn repair(zone: &mut Zone, format: Format, layout: &Layout) -> RepairOutcome {
    let mut outcome = RepairOutcome::default();
    let mut groups = Vec::with_capacity(5);
    let number_check = zone.byte(layout.number_check);
    if number_check != b'<' || format.is_visa() || layout.number_continuation.is_none() {
        groups.extend(field_group(
            zone,
            RepairedField::DocumentNumber,
            layout.number,
            layout.number_check,
            false,
        ));
    }
    groups.extend(field_group(
        zone,
        RepairedField::BirthDate,
        layout.birth,
        layout.birth_check,
        true,
    ));
    if let Some((expiry, check)) = layout.expiry
        && zone.bytes(expiry) != b"<<<<<<"
    {
        groups.extend(field_group(
            zone,
            RepairedField::ExpiryDate,
            expiry,
            check,
            true,
        ));
    }
    if let (Some(optional), Some(check)) = (layout.optional, layout.optional_check)
        && zone.byte(check) != b'<'
    {
        groups.extend(field_group(
            zone,
            RepairedField::PersonalNumber,
            optional,
            check,
            false,
        ));
    }
    let composite_change = layout.composite.and_then(|(check, _)| {
        let byte = zone.byte(check);
        letter_to_digit(byte).map(|digit| (check.line, check.start, digit))
    });

    let n_combinations = groups
        .iter()
        .try_fold(1usize, |product, group| {
            product.checked_mul(group.candidates.len())
        })
        .filter(|n| *n <= REPAIR_CANDIDATES_MAX)
        .unwrap_or(0);
    let mut survivors: Vec<Vec<(RepairedField, Change)>> = Vec::new();
    for mut index in 0..n_combinations {
        let mut trial = zone.clone();
        let mut changes = Vec::new();
        for group in &groups {
            let choice = group.candidates.get(index % group.candidates.len());
            index /= group.candidates.len().max(1);
            for &change in choice.into_iter().flatten() {
                changes.push((group.field, change));
            }
        }
        if let Some(change) = composite_change {
            changes.push((RepairedField::Composite, change));
        }
        for &(_, (line, column, byte)) in &changes {
            trial.set(line, column, byte);
        }
        let composite_ok = layout.composite.is_none_or(|(check, covered)| {
            trial.byte(check) == b'0' + trial.check_digit_over(covered)
        });
        if composite_ok {
            survivors.push(changes);
        }
    }
    match survivors.as_slice() {
        [only] => apply(zone, only, &mut outcome.repairs),
        [] => {}
        _ => outcome.ambiguous = true,
    }
    repair_state_code(
        zone,
        layout.issuing_state,
        RepairedField::IssuingState,
        &mut outcome,
    );
    if let Some(nationality) = layout.nationality {
        repair_state_code(zone, nationality, RepairedField::Nationality, &mut outcome);
    }
    outcome
}

fn apply(zone: &mut Zone, changes: &[(RepairedField, Change)], repairs: &mut Vec<Repair>) {
    for &(field, (line, column, byte)) in changes {
        let from = zone.byte(Range {
            line,
            start: column,
            end: column + 1,
        });
        zone.set(line, column, byte);
        repairs.push(Repair {
            field,
            line: u8::try_from(line + 1).unwrap_or(u8::MAX),
            column: u8::try_from(column + 1).unwrap_or(u8::MAX),
            from: char::from(from),
            to: char::from(byte),
        });
    }
}

/// State codes hold letters only: a digit there is read as its look-alike letter when that
/// yields a known code (no check digit covers these fields, the code list is the guard).
fn repair_state_code(
    zone: &mut Zone,
    range: Range,
    field: RepairedField,
    outcome: &mut RepairOutcome,
) {
    let code = zone.bytes(range);
    if !code.iter().any(u8::is_ascii_digit) {
        return;
    }
    let repaired: Vec<u8> = code
        .iter()
        .map(|&byte| digit_to_letter(byte).unwrap_or(byte))
        .collect();
    let repaired_text = std::str::from_utf8(&repaired)
        .unwrap_or("")
        .trim_end_matches('<');
    if !is_known_state_code(repaired_text) {
        return;
    }
    let changes: Vec<(RepairedField, Change)> = code
        .iter()
        .zip(&repaired)
        .enumerate()
        .filter(|(_, (before, after))| before != after)
        .map(|(offset, (_, &after))| (field, (range.line, range.start + offset, after)))
        .collect();
    apply(zone, &changes, &mut outcome.repairs);
}
