//! Property tests of the MRZ parser: it never panics, generated valid zones round-trip, and any
//! single-character change is detected unless no check digit can see it.

use checkpointd::core::mrz::{self, Format, Mode, ParseOptions, check_digit};
use jiff::civil::date;
use proptest::prelude::*;

fn options(mode: Mode) -> ParseOptions {
    ParseOptions {
        mode,
        reference_date: date(2026, 11, 23),
        french_national_id: true,
    }
}

fn pad(text: &str, width: usize) -> String {
    let mut padded: String = text.chars().take(width).collect();
    while padded.len() < width {
        padded.push('<');
    }
    padded
}

fn with_check(field: &str) -> String {
    format!("{field}{}", check_digit(field.as_bytes()))
}

/// Doc 9303 character value modulo 10: two characters with the same residue are invisible to
/// every check digit (weights 7, 3, 1 are prime to 10).
fn residue(c: u8) -> u32 {
    match c {
        b'0'..=b'9' => u32::from(c - b'0'),
        b'A'..=b'Z' => u32::from(c - b'A' + 10) % 10,
        _ => 0,
    }
}

#[derive(Debug, Clone)]
struct Holder {
    number: String,
    surname: String,
    given: String,
    state: &'static str,
    birth: String,
    sex: char,
    expiry: String,
    optional: String,
}

fn mrz_date() -> impl Strategy<Value = String> {
    (0u8..100, 1u8..13, 1u8..29).prop_map(|(y, m, d)| format!("{y:02}{m:02}{d:02}"))
}

fn holder() -> impl Strategy<Value = Holder> {
    (
        "[A-Z0-9]{1,9}",
        "[A-Z]{1,12}",
        "[A-Z]{0,10}",
        prop::sample::select(vec!["UTO", "AZE", "FRA", "XXA", "UNO", "DEU"]),
        mrz_date(),
        prop::sample::select(vec!['M', 'F', '<', 'X']),
        mrz_date(),
        "[A-Z0-9]{0,11}",
    )
        .prop_map(
            |(number, surname, given, state, birth, sex, expiry, optional)| Holder {
                number,
                surname,
                given,
                state,
                birth,
                sex,
                expiry,
                optional,
            },
        )
}

fn name_field(holder: &Holder, width: usize) -> String {
    pad(&format!("{}<<{}", holder.surname, holder.given), width)
}

fn td3(holder: &Holder) -> [String; 2] {
    let line_1 = format!("P<{}{}", holder.state, name_field(holder, 39));
    let mut line_2 = format!(
        "{}{}{}{}{}{}",
        with_check(&pad(&holder.number, 9)),
        holder.state,
        with_check(&holder.birth),
        holder.sex,
        with_check(&holder.expiry),
        with_check(&pad(&holder.optional, 14)),
    );
    let composite: String = [&line_2[0..10], &line_2[13..20], &line_2[21..43]].concat();
    line_2.push_str(&check_digit(composite.as_bytes()).to_string());
    [line_1, line_2]
}

fn td1(holder: &Holder) -> [String; 3] {
    let line_1 = format!(
        "I<{}{}{}",
        holder.state,
        with_check(&pad(&holder.number, 9)),
        pad(&holder.optional, 15)
    );
    let mut line_2 = format!(
        "{}{}{}{}{}",
        with_check(&holder.birth),
        holder.sex,
        with_check(&holder.expiry),
        holder.state,
        pad("", 11),
    );
    let composite: String = [
        &line_1[5..30],
        &line_2[0..7],
        &line_2[8..15],
        &line_2[18..29],
    ]
    .concat();
    line_2.push_str(&check_digit(composite.as_bytes()).to_string());
    [line_1, line_2, name_field(holder, 30)]
}

fn assert_round_trip(report: &mrz::MrzReport, holder: &Holder, format: Format) {
    assert!(report.is_valid(), "{:?}", report.errors);
    assert_eq!(report.format, Some(format));
    let document = report
        .document
        .as_ref()
        .expect("valid reports hold a document");
    assert_eq!(document.document_number.number.expose(), holder.number);
    assert_eq!(document.name.surname.expose(), holder.surname);
    assert_eq!(document.name.given_names.expose(), holder.given);
    assert_eq!(document.issuing_state.value, holder.state);
    assert_eq!(document.birth_date.raw, holder.birth);
    assert_eq!(
        document
            .expiry_date
            .as_ref()
            .map(|field| field.raw.as_str()),
        Some(holder.expiry.as_str())
    );
    let key = report.document_key().expect("verified number gives a key");
    assert_eq!(key.number.expose(), holder.number);
}

/// Positions (line, column, 0-based) a check digit covers.
fn covered(format: Format, line: usize, column: usize) -> bool {
    match format {
        Format::Td3 => line == 1 && !(10..13).contains(&column) && column != 20,
        Format::Td1 => match line {
            0 => column >= 5,
            1 => !(15..18).contains(&column) && column != 7,
            _ => false,
        },
        _ => false,
    }
}

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn never_panics_on_any_text(text in "\\PC{0,200}", tolerant in any::<bool>()) {
        let mode = if tolerant { Mode::Tolerant } else { Mode::Strict };
        let report = mrz::parse(&text, &options(mode));
        let _ = (report.is_valid(), report.document_key(), report.mrz_information());
    }

    #[test]
    fn never_panics_on_mrz_shaped_text(
        lines in prop::collection::vec("[A-Z0-9<«a-z ]{26,48}", 1..4),
        tolerant in any::<bool>(),
    ) {
        let mode = if tolerant { Mode::Tolerant } else { Mode::Strict };
        let report = mrz::parse(&lines.join("\n"), &options(mode));
        let _ = (report.is_valid(), report.document_key(), report.mrz_information());
    }

    #[test]
    fn generated_td3_round_trips(holder in holder()) {
        let lines = td3(&holder);
        assert_round_trip(&mrz::parse(&lines.join("\n"), &options(Mode::Strict)), &holder, Format::Td3);
        assert_round_trip(&mrz::parse(&lines.join("\n"), &options(Mode::Tolerant)), &holder, Format::Td3);
    }

    #[test]
    fn generated_td1_round_trips(holder in holder()) {
        let lines = td1(&holder);
        assert_round_trip(&mrz::parse(&lines.join("\n"), &options(Mode::Strict)), &holder, Format::Td1);
    }

    #[test]
    fn single_character_changes_are_detected_unless_invisible(
        holder in holder(),
        use_td1 in any::<bool>(),
        line_pick in any::<prop::sample::Index>(),
        column_pick in any::<prop::sample::Index>(),
        replacement in prop::sample::select(ALPHABET.to_vec()),
    ) {
        let (format, mut lines): (Format, Vec<Vec<u8>>) = if use_td1 {
            (Format::Td1, td1(&holder).map(String::into_bytes).to_vec())
        } else {
            (Format::Td3, td3(&holder).map(String::into_bytes).to_vec())
        };
        let line = line_pick.index(lines.len());
        let column = column_pick.index(format.line_width());
        let original = lines[line][column];
        prop_assume!(original != replacement);
        lines[line][column] = replacement;
        let text: Vec<String> = lines
            .into_iter()
            .map(|bytes| String::from_utf8(bytes).expect("alphabet is ASCII"))
            .collect();
        let report = mrz::parse(&text.join("\n"), &options(Mode::Strict));
        if covered(format, line, column) && residue(original) != residue(replacement) {
            prop_assert!(!report.is_valid(), "undetected change at {line}:{column} {original} -> {replacement}");
        }
    }
}
