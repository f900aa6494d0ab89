//! Conformance table: Doc 9303 specimens and one row per failure mode. Every check digit in these
//! rows was computed (weights 7-3-1) when the row was written; the valid rows prove it again.

use jiff::civil::{Date, date};

use super::*;

const REFERENCE: Date = date(2026, 11, 23);

fn options(mode: Mode) -> ParseOptions {
    ParseOptions {
        mode,
        reference_date: REFERENCE,
        french_national_id: false,
    }
}

fn strict(lines: &[&str]) -> MrzReport {
    parse(&lines.join("\n"), &options(Mode::Strict))
}

fn warning_codes(report: &MrzReport) -> Vec<&'static str> {
    report.warnings.iter().map(Warning::code).collect()
}

fn invalid_names(report: &MrzReport) -> Vec<&'static str> {
    report
        .invalid_fields()
        .into_iter()
        .map(InvalidField::as_str)
        .collect()
}

const TD3: [&str; 2] = [
    "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
    "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
];
const TD1: [&str; 3] = [
    "I<UTOD231458907<<<<<<<<<<<<<<<",
    "7408122F1204159UTO<<<<<<<<<<<6",
    "ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
];
const TD2: [&str; 2] = [
    "I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<",
    "D231458907UTO7408122F1204159<<<<<<<6",
];
const MRV_A: [&str; 2] = [
    "V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
    "L8988901C4XXX4009078F96121096ZE184226B<<<<<<",
];
const MRV_B: [&str; 2] = [
    "V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<",
    "L8988901C4XXX4009078F9612109<<<<<<<<",
];

/// (row name, lines, valid, invalid_fields, warning codes, format)
type Row = (
    &'static str,
    &'static [&'static str],
    bool,
    &'static [&'static str],
    &'static [&'static str],
    Option<Format>,
);

const ROWS: &[Row] = &[
    ("td3 specimen", &TD3, true, &[], &[], Some(Format::Td3)),
    ("td1 specimen", &TD1, true, &[], &[], Some(Format::Td1)),
    ("td2 specimen", &TD2, true, &[], &[], Some(Format::Td2)),
    ("mrv-a specimen", &MRV_A, true, &[], &[], Some(Format::MrvA)),
    ("mrv-b specimen", &MRV_B, true, &[], &[], Some(Format::MrvB)),
    (
        "emergency travel document PU",
        &[
            "PUUTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
            "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
        ],
        true,
        &[],
        &[],
        Some(Format::Td3),
    ),
    (
        "germany D<< and empty personal number",
        &[
            "P<D<<MUSTERMANN<<ERIKA<<<<<<<<<<<<<<<<<<<<<<",
            "C01X00T478D<<6408125F2702283<<<<<<<<<<<<<<04",
        ],
        true,
        &[],
        &[],
        Some(Format::Td3),
    ),
    (
        "document number check refuted",
        &[TD3[0], "L898902C37UTO7408122F1204159ZE184226B<<<<<10"],
        false,
        &["document_number", "composite"],
        &[],
        Some(Format::Td3),
    ),
    (
        "birth date check refuted",
        &[TD3[0], "L898902C36UTO7408123F1204159ZE184226B<<<<<10"],
        false,
        &["birth_date", "composite"],
        &[],
        Some(Format::Td3),
    ),
    (
        "expiry check refuted",
        &[TD3[0], "L898902C36UTO7408122F1204158ZE184226B<<<<<10"],
        false,
        &["expiry_date", "composite"],
        &[],
        Some(Format::Td3),
    ),
    (
        "personal number check refuted",
        &[TD3[0], "L898902C36UTO7408122F1204159ZE184226B<<<<<20"],
        false,
        &["personal_number", "composite"],
        &[],
        Some(Format::Td3),
    ),
    (
        "composite refuted alone",
        &[TD3[0], "L898902C36UTO7408122F1204159ZE184226B<<<<<11"],
        false,
        &["composite"],
        &[],
        Some(Format::Td3),
    ),
    (
        "personal number check < with an empty field",
        &[TD3[0], "L898902C36UTO7408122F1204159<<<<<<<<<<<<<<<8"],
        true,
        &[],
        &[],
        Some(Format::Td3),
    ),
    (
        "personal number check < with a filled field",
        &[TD3[0], "L898902C36UTO7408122F1204159ZE184226B<<<<<<9"],
        false,
        &["personal_number"],
        &[],
        Some(Format::Td3),
    ),
    (
        "month 13 with a correct check digit",
        &[TD3[0], "L898902C36UTO7413014F1204159ZE184226B<<<<<10"],
        false,
        &["birth_date"],
        &[],
        Some(Format::Td3),
    ),
    (
        "29 february of a common year with a correct check digit",
        &[TD3[0], "L898902C36UTO0102292F1204159ZE184226B<<<<<18"],
        false,
        &["birth_date"],
        &[],
        Some(Format::Td3),
    ),
    (
        "unknown birth month and day",
        &[TD3[0], "L898902C36UTO74<<<<1F1204159ZE184226B<<<<<18"],
        true,
        &[],
        &[],
        Some(Format::Td3),
    ),
    (
        "birth century ambiguous",
        &[TD3[0], "L898902C36UTO2601010F3104150ZE184226B<<<<<18"],
        true,
        &[],
        &["birth_date_century_ambiguous"],
        Some(Format::Td3),
    ),
    (
        "sex X",
        &[TD3[0], "L898902C36UTO7408122X1204159ZE184226B<<<<<10"],
        true,
        &[],
        &["sex_x_nonconformant"],
        Some(Format::Td3),
    ),
    (
        "sex unspecified",
        &[TD3[0], "L898902C36UTO7408122<1204159ZE184226B<<<<<10"],
        true,
        &[],
        &[],
        Some(Format::Td3),
    ),
    (
        "sex Z",
        &[TD3[0], "L898902C36UTO7408122Z1204159ZE184226B<<<<<10"],
        false,
        &["sex"],
        &[],
        Some(Format::Td3),
    ),
    (
        "unknown state code is a warning",
        &[
            "P<ZZZERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
            "L898902C36ZZZ7408122F1204159ZE184226B<<<<<10",
        ],
        true,
        &[],
        &["unknown_state_code", "unknown_state_code"],
        Some(Format::Td3),
    ),
    (
        "stateless XXA",
        &[
            "P<XXAERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
            "L898902C36XXA7408122F1204159ZE184226B<<<<<10",
        ],
        true,
        &[],
        &[],
        Some(Format::Td3),
    ),
    (
        "empty primary identifier",
        &["P<UTO<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<<<<<<<<<", TD3[1]],
        true,
        &[],
        &[],
        Some(Format::Td3),
    ),
    (
        "full name field",
        &["P<UTOABCDEFGHIJKLMNOPQRSTUVWXYZ<<ABCDEFGHIJK", TD3[1]],
        true,
        &[],
        &["name_possibly_truncated"],
        Some(Format::Td3),
    ),
    (
        "td1 long number",
        &[
            "I<UTOD12345678<908<<<<<<<<<<<<",
            "7408122F3204153UTO<<<<<<<<<<<4",
            "SMITH<<JOHN<<<<<<<<<<<<<<<<<<<",
        ],
        true,
        &[],
        &[],
        Some(Format::Td1),
    ),
    (
        "td1 long number, check digit over the <",
        &[
            "I<UTOD12345678<902<<<<<<<<<<<<",
            "7408122F3204153UTO<<<<<<<<<<<2",
            "SMITH<<JOHN<<<<<<<<<<<<<<<<<<<",
        ],
        true,
        &[],
        &["long_number_check_digit_variant"],
        Some(Format::Td1),
    ),
    (
        "td1 long number refuted",
        &[
            "I<UTOD12345678<905<<<<<<<<<<<<",
            "7408122F3204153UTO<<<<<<<<<<<3",
            "SMITH<<JOHN<<<<<<<<<<<<<<<<<<<",
        ],
        false,
        &["document_number"],
        &[],
        Some(Format::Td1),
    ),
    (
        "td1 long number without continuation",
        &[
            "I<UTOD12345678<<<<<<<<<<<<<<<<",
            "7408122F3204153UTO<<<<<<<<<<<1",
            "SMITH<<JOHN<<<<<<<<<<<<<<<<<<<",
        ],
        false,
        &["document_number"],
        &[],
        Some(Format::Td1),
    ),
    (
        "td2 long number",
        &[
            "I<UTOSMITH<<JOHN<<<<<<<<<<<<<<<<<<<<",
            "D12345678<UTO7408122F3204153908<<<<2",
        ],
        true,
        &[],
        &[],
        Some(Format::Td2),
    ),
    (
        "azerbaijani passport with FIN",
        &[
            "P<AZEMAMMADOV<<ELVIN<<<<<<<<<<<<<<<<<<<<<<<<",
            "C012345672AZE9001158M31052055HR2QN7<<<<<<<74",
        ],
        true,
        &[],
        &[],
        Some(Format::Td3),
    ),
    (
        "azerbaijani FIN with the letter O",
        &[
            "P<AZEMAMMADOV<<ELVIN<<<<<<<<<<<<<<<<<<<<<<<<",
            "C012345672AZE9001158M31052055HR2QO7<<<<<<<86",
        ],
        true,
        &[],
        &["fin_malformed"],
        Some(Format::Td3),
    ),
    (
        "azerbaijani lifetime card, no expiry",
        &[
            "IAAZEAA123456785HR2QN7<<<<<<<<",
            "9001158M<<<<<<0AZE<<<<<<<<<<<9",
            "MAMMADOV<<ELVIN<<<<<<<<<<<<<<<",
        ],
        true,
        &[],
        &["no_expiry_date"],
        Some(Format::Td1),
    ),
    (
        "azerbaijani older two-line card",
        &[
            "IDAZEMAMMADOV<<ELVIN<<<<<<<<<<<<<<<<",
            "AZ12345673AZE9001158M24052075HR2QN77",
        ],
        true,
        &[],
        &[],
        Some(Format::Td2),
    ),
    (
        "french card recognised by its check digits without the national layout",
        &[
            "IDFRADOUEL<<<<<<<<<<<<<<<<<<<<932013",
            "0506932020438CHRISTIANE<<NI2906209F3",
        ],
        true,
        &[],
        &["french_id_detected", "name_possibly_truncated"],
        Some(Format::FrenchId),
    ),
    (
        "IDFRA zone whose french check digits fail stays td2",
        &[
            "IDFRADOUEL<<<<<<<<<<<<<<<<<<<<932013",
            "0506932020438CHRISTIANE<<NI2906209F4",
        ],
        false,
        &[
            "document_number",
            "birth_date",
            "sex",
            "expiry_date",
            "composite",
        ],
        &["unknown_state_code", "name_possibly_truncated"],
        Some(Format::Td2),
    ),
    (
        "document number of fillers only",
        &[TD3[0], "<<<<<<<<<0UTO7408122F1204159ZE184226B<<<<<12"],
        false,
        &["document_number"],
        &[],
        Some(Format::Td3),
    ),
    (
        "sex unspecified",
        &[TD3[0], "L898902C36UTO7408122<1204159ZE184226B<<<<<10"],
        true,
        &[],
        &[],
        Some(Format::Td3),
    ),
    ("no lines", &[], false, &["line_count"], &[], None),
    ("one line", &[TD3[0]], false, &["line_count"], &[], None),
    (
        "four lines",
        &[TD1[0], TD1[1], TD1[2], TD1[2]],
        false,
        &["line_count"],
        &[],
        None,
    ),
    (
        "short second line",
        &[TD3[0], "L898902C36UTO7408122F1204159ZE184226B<<<<<1"],
        false,
        &["line_length"],
        &[],
        None,
    ),
    (
        "lower case in strict mode",
        &[TD3[0], "l898902C36UTO7408122F1204159ZE184226B<<<<<10"],
        false,
        &["charset"],
        &[],
        None,
    ),
];

#[test]
fn conformance_table() {
    for (name, lines, valid, invalid, warnings, format) in ROWS {
        let report = strict(lines);
        assert_eq!(report.is_valid(), *valid, "{name}: {:?}", report.errors);
        assert_eq!(invalid_names(&report), *invalid, "{name}");
        assert_eq!(warning_codes(&report), *warnings, "{name}");
        if !invalid.contains(&"charset") {
            assert_eq!(report.format, *format, "{name}");
        }
    }
}

#[test]
fn td3_specimen_fields() {
    let report = strict(&TD3);
    let document = report.document.as_ref().expect("specimen parses");
    assert_eq!(document.document_code.value, "P");
    assert_eq!(document.issuing_state.value, "UTO");
    assert_eq!(document.name.surname.expose(), "ERIKSSON");
    assert_eq!(document.name.given_names.expose(), "ANNA MARIA");
    assert_eq!(document.document_number.number.expose(), "L898902C3");
    assert_eq!(
        document.birth_date.value,
        MrzDate::Known {
            date: date(1974, 8, 12)
        }
    );
    assert_eq!(
        document.expiry_date.as_ref().map(|field| field.value),
        Some(MrzDate::Known {
            date: date(2012, 4, 15)
        })
    );
    assert_eq!(document.sex, Sex::Female);
    assert_eq!(
        document
            .optional_data
            .as_ref()
            .map(|field| field.value.as_str()),
        Some("ZE184226B")
    );
    assert_eq!(
        document.document_number.position,
        Position {
            line: 2,
            start: 1,
            end: 9
        }
    );
    assert_eq!(report.checks.len(), 5);
    assert!(
        report
            .checks
            .iter()
            .all(|check| check.outcome == CheckOutcome::Verified)
    );
    assert_eq!(
        report.mrz_information().as_deref(),
        Some("L898902C3674081221204159")
    );
    let key = report.document_key().expect("number verified");
    assert_eq!(
        (
            key.issuing_state.as_str(),
            key.document_code.as_str(),
            key.number.expose()
        ),
        ("UTO", "P", "L898902C3")
    );
}

#[test]
fn td1_specimen_fields_and_long_number() {
    let report = strict(&TD1);
    assert_eq!(
        report.mrz_information().as_deref(),
        Some("D23145890774081221204159")
    );
    let long = strict(&[
        "I<UTOD23145890<7349<<<<<<<<<<<",
        "3407127M9507122UTO<<<<<<<<<<<2",
        "STEVENSON<<PETER<JOHN<<<<<<<<<",
    ]);
    assert!(long.is_valid(), "{:?}", long.errors);
    let document = long.document.as_ref().expect("parses");
    assert_eq!(document.document_number.number.expose(), "D23145890734");
    assert_eq!(
        document.document_number.continuation,
        Some(Position {
            line: 1,
            start: 16,
            end: 19
        })
    );
    assert_eq!(
        document.optional_data.as_ref().map(|f| f.value.as_str()),
        Some("")
    );
    assert_eq!(
        long.document_key()
            .map(|key| key.number.expose().to_owned()),
        Some("D23145890734".to_owned())
    );
    let with_rest = strict(&[
        "I<UTOD12345678<902<ABC<<<<<<<<",
        "7408122F3204153UTOXYZ<<<<<<<<3",
        "SMITH<<JOHN<<<<<<<<<<<<<<<<<<<",
    ]);
    assert!(with_rest.is_valid(), "{:?}", with_rest.errors);
    let document = with_rest.document.as_ref().expect("parses");
    assert_eq!(
        document.optional_data.as_ref().map(|f| f.value.as_str()),
        Some("ABC")
    );
    assert_eq!(
        document.optional_data_2.as_ref().map(|f| f.value.as_str()),
        Some("XYZ")
    );
}

#[test]
fn azerbaijani_fin_positions() {
    for lines in [
        &[
            "P<AZEMAMMADOV<<ELVIN<<<<<<<<<<<<<<<<<<<<<<<<",
            "C012345672AZE9001158M31052055HR2QN7<<<<<<<74",
        ][..],
        &[
            "IAAZEAA123456785HR2QN7<<<<<<<<",
            "9001158M<<<<<<0AZE<<<<<<<<<<<9",
            "MAMMADOV<<ELVIN<<<<<<<<<<<<<<<",
        ][..],
        &[
            "IDAZEMAMMADOV<<ELVIN<<<<<<<<<<<<<<<<",
            "AZ12345673AZE9001158M24052075HR2QN77",
        ][..],
    ] {
        let report = strict(lines);
        let fin = report.document.as_ref().and_then(|d| d.fin.clone());
        assert_eq!(fin.as_ref().map(Fin::expose), Some("5HR2QN7"), "{lines:?}");
    }
}

#[test]
fn no_expiry_is_typed() {
    let report = strict(&[
        "IAAZEAA123456785HR2QN7<<<<<<<<",
        "9001158M<<<<<<0AZE<<<<<<<<<<<9",
        "MAMMADOV<<ELVIN<<<<<<<<<<<<<<<",
    ]);
    let expiry = report.document.and_then(|d| d.expiry_date).map(|f| f.value);
    assert_eq!(expiry, Some(MrzDate::NoExpiry));
}

#[test]
fn french_card_is_opt_in_with_a_stated_reason() {
    let text = "IDFRADOUEL<<<<<<<<<<<<<<<<<<<<932013\n0506932020438CHRISTIANE<<NI2906209F3";
    let report = parse(
        text,
        &ParseOptions {
            french_national_id: true,
            ..options(Mode::Strict)
        },
    );
    assert_eq!(report.format, Some(Format::FrenchId));
    assert!(
        report
            .format_reason
            .is_some_and(|reason| reason.contains("French"))
    );
    assert!(report.is_valid(), "{:?}", report.errors);
    let document = report.document.as_ref().expect("parses");
    assert_eq!(document.name.surname.expose(), "DOUEL");
    assert_eq!(document.name.given_names.expose(), "CHRISTIANE NI");
    assert_eq!(document.document_number.number.expose(), "050693202043");
    assert_eq!(document.birth_date.raw, "290620");
    assert!(document.expiry_date.is_none() && document.nationality.is_none());
    let detected = parse(text, &options(Mode::Strict));
    assert_eq!(detected.format, Some(Format::FrenchId));
    assert_eq!(
        warning_codes(&detected),
        ["french_id_detected", "name_possibly_truncated"]
    );
    assert!(
        detected
            .format_reason
            .is_some_and(|reason| reason.contains("and not in TD2's"))
    );
    let broken = text.replace("F3", "F4");
    let as_td2 = parse(&broken, &options(Mode::Strict));
    assert!(
        as_td2
            .format_reason
            .is_some_and(|reason| reason.contains("not enabled"))
    );
}

#[test]
fn structural_faults_are_typed() {
    let report = strict(&[TD3[0], "L898902C36UTO7408122F1204159ZE184226B<<<<<1"]);
    assert_eq!(
        report.errors,
        [MrzFault::LineLength {
            line: 2,
            expected: 44,
            got: 43
        }]
    );
    let report = strict(&[TD3[0], "L898902C36UTO7408122F1204159ZE184226B<<<<l10"]);
    assert_eq!(
        report.errors,
        [MrzFault::BadCharacter {
            line: 2,
            column: 42,
            found: 'l'
        }]
    );
    assert!(report.document.is_none());
}

#[test]
fn tolerant_mode_normalises_and_records() {
    let text = format!(
        "  {}\r\n{} \r\n",
        TD3[0].to_lowercase().replace("<<<<<<<<<<<<<<<<<<<", ""),
        TD3[1].replace('<', "«")
    );
    let strict_report = parse(&text, &options(Mode::Strict));
    assert!(!strict_report.is_valid());
    let report = parse(&text, &options(Mode::Tolerant));
    assert!(report.is_valid(), "{:?}", report.errors);
    assert_eq!(
        warning_codes(&report),
        [
            "normalised_line_endings",
            "normalised_lowercase",
            "normalised_guillemet_filler",
            "normalised_trailing_fillers_added"
        ]
    );
    assert!(report.repairs.is_empty());
}

#[test]
fn ocr_repairs_are_guided_by_check_digits_and_reported() {
    const GERMAN_LINE_1: &str = "P<D<<MUSTERMANN<<ERIKA<<<<<<<<<<<<<<<<<<<<<<";
    // `0` read as `O` in the number and in the birth date.
    let misread = "C01XO0T478D<<64O8125F2702283<<<<<<<<<<<<<<04";
    let report = parse(
        &format!("{GERMAN_LINE_1}\n{misread}"),
        &options(Mode::Tolerant),
    );
    assert!(report.is_valid(), "{:?}", report.errors);
    assert!(report.is_repaired());
    assert_eq!(
        report.repairs,
        [
            Repair {
                field: RepairedField::DocumentNumber,
                line: 2,
                column: 5,
                from: 'O',
                to: '0'
            },
            Repair {
                field: RepairedField::BirthDate,
                line: 2,
                column: 16,
                from: 'O',
                to: '0'
            },
        ]
    );
    assert!(warning_codes(&report).contains(&"ocr_repaired"));
    assert_eq!(
        report
            .document
            .map(|d| d.document_number.number.expose().to_owned()),
        Some("C01X00T47".to_owned())
    );
    // Strict mode never repairs.
    let strict_report = parse(
        &format!("{GERMAN_LINE_1}\n{misread}"),
        &options(Mode::Strict),
    );
    assert!(!strict_report.is_valid());
    assert!(strict_report.repairs.is_empty());
}

#[test]
fn ambiguous_repairs_are_refused() {
    // L8989O2C3: besides L898902C3, LB9890ZC3 and LB9B902C3 satisfy both the number's and the
    // composite check digits, so no repair is unique.
    let report = parse(
        &format!(
            "{}\n{}",
            TD3[0], "L8989O2C36UTO7408122F1204159ZE184226B<<<<<10"
        ),
        &options(Mode::Tolerant),
    );
    assert!(!report.is_valid());
    assert!(report.repairs.is_empty());
    assert!(warning_codes(&report).contains(&"repair_ambiguous"));
}

#[test]
fn repair_of_state_codes_needs_a_known_result() {
    let report = parse(
        &format!(
            "{}\n{}",
            "P<UT0ERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", TD3[1]
        ),
        &options(Mode::Tolerant),
    );
    assert_eq!(
        report.document.map(|d| d.issuing_state.value),
        Some("UTO".to_owned())
    );
    assert_eq!(report.repairs.len(), 1);
}

#[test]
fn line_widths_for_the_line_assembler() {
    assert_eq!(LINE_WIDTHS, [30, 36, 44]);
    assert_eq!(Format::Td1.line_width() * Format::Td1.line_count(), 90);
    assert_eq!(Format::MrvB.line_width(), 36);
}

#[test]
fn no_document_key_without_a_verified_number() {
    let refuted = strict(&[TD3[0], "L898902C37UTO7408122F1204159ZE184226B<<<<<10"]);
    assert!(refuted.document_key().is_none());
    assert!(refuted.mrz_information().is_none());
    assert!(strict(&[TD3[0]]).document_key().is_none());
    // Visas carry no chip: no BAC/PACE information even when valid.
    assert!(strict(&MRV_A).document_key().is_some());
    assert!(strict(&MRV_A).mrz_information().is_none());
}
