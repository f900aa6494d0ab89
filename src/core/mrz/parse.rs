//! The parse: structure, format by shape, repair (tolerant), then each field read and judged.

use super::check_digit::{CheckOutcome, check_digit};
use super::fields::{self, MrzDate, Sex, strip_fillers};
use super::layout::{Format, Layout, NameLayout, Position, Range, TD2_LINE_WIDTH, TD3_LINE_WIDTH};
use super::normalise::{self, Normalisation};
use super::repair;
use super::report::{
    CheckResult, CheckedField, DateField, DocumentNumberField, MrzDocument, MrzFault, MrzReport,
    StateField, TextField, Warning,
};
use super::states::is_known_state_code;
use super::zone::Zone;
use super::{Mode, ParseOptions};
use crate::core::privacy::DocumentNumber;

/// Parses one MRZ. Never fails: every problem is in the report.
pub fn parse(text: &str, options: &ParseOptions) -> MrzReport {
    let mut report = MrzReport::default();
    match options.mode {
        Mode::Strict => parse_lines(&normalise::strict_lines(text), options, &mut report),
        Mode::Tolerant => {
            let lines = normalise::tolerant_lines(text, &mut report.normalisations);
            parse_lines(&lines, options, &mut report);
        }
    }
    report
}

fn parse_lines<S: AsRef<str>>(lines: &[S], options: &ParseOptions, report: &mut MrzReport) {
    let normalisations: Vec<Normalisation> = report.normalisations.clone();
    report
        .warnings
        .extend(normalisations.into_iter().map(Warning::Normalised));
    if let Err(faults) = check_structure(lines) {
        report.errors = faults;
        return;
    }
    let mut zone = Zone::new(lines);
    let (format, reason) = detect_format(&zone, lines.len(), line_width(lines), options);
    report.format = Some(format);
    report.format_reason = Some(reason);
    if reason == REASON_FRENCH_DETECTED {
        report.warnings.push(Warning::FrenchIdDetected);
    }
    if options.mode == Mode::Tolerant {
        let outcome = repair::repair(&mut zone, format, format.layout());
        if outcome.ambiguous {
            report.warnings.push(Warning::RepairAmbiguous);
        }
        if !outcome.repairs.is_empty() {
            report.warnings.push(Warning::OcrRepaired);
        }
        report.repairs = outcome.repairs;
    }
    report.document = Some(read_fields(&zone, format, options, report));
}

fn line_width<S: AsRef<str>>(lines: &[S]) -> usize {
    lines.first().map_or(0, |line| line.as_ref().len())
}

/// Line count, then line widths, then characters; the first kind of fault found is reported alone.
fn check_structure<S: AsRef<str>>(lines: &[S]) -> Result<(), Vec<MrzFault>> {
    let expected_width = match lines.len() {
        3 => super::layout::TD1_LINE_WIDTH,
        2 => {
            let widths = lines.iter().map(|line| line.as_ref().chars().count());
            // The line whose width is one of the 2-line widths sets the shape; else the nearer one.
            widths
                .clone()
                .find(|width| *width == TD2_LINE_WIDTH || *width == TD3_LINE_WIDTH)
                .unwrap_or_else(|| {
                    let first = widths.clone().next().unwrap_or(0);
                    if first <= (TD2_LINE_WIDTH + TD3_LINE_WIDTH) / 2 {
                        TD2_LINE_WIDTH
                    } else {
                        TD3_LINE_WIDTH
                    }
                })
        }
        got => return Err(vec![MrzFault::LineCount { got }]),
    };
    let length_faults: Vec<MrzFault> = lines
        .iter()
        .enumerate()
        .filter_map(|(index, line)| {
            let got = line.as_ref().chars().count();
            (got != expected_width).then_some(MrzFault::LineLength {
                line: index + 1,
                expected: expected_width,
                got,
            })
        })
        .collect();
    if !length_faults.is_empty() {
        return Err(length_faults);
    }
    let charset_faults: Vec<MrzFault> = lines
        .iter()
        .enumerate()
        .flat_map(|(index, line)| {
            line.as_ref()
                .chars()
                .enumerate()
                .filter(|(_, c)| !matches!(c, 'A'..='Z' | '0'..='9' | '<'))
                .map(move |(column, found)| MrzFault::BadCharacter {
                    line: index + 1,
                    column: column + 1,
                    found,
                })
        })
        .collect();
    if charset_faults.is_empty() {
        Ok(())
    } else {
        Err(charset_faults)
    }
}

const REASON_TD1: &str = "3 lines of 30 characters: TD1";
const REASON_TD2: &str = "2 lines of 36 characters, document code not V: TD2";
const REASON_TD2_NOT_FRENCH: &str = "2 lines of 36 characters starting IDFRA, read as TD2 because \
     the French national layout is not enabled and the French card's check digits do not all \
     verify where TD2's fail";
const REASON_FRENCH_DETECTED: &str = "2 lines of 36 characters starting IDFRA whose check digits \
     all verify in the pre-2021 French identity card layout (12-character number, check digit at \
     line 2 column 13) and not in TD2's: read as the French card without the national layout \
     enabled";
const REASON_FRENCH: &str = "2 lines of 36 characters starting IDFRA with the French national \
     layout enabled: pre-2021 French identity card (12-character number at line 2 columns 1-12, \
     check digit at column 13), not TD2 (9-character number, check digit at column 10)";
const REASON_MRVB: &str = "2 lines of 36 characters, document code V: MRV-B visa";
const REASON_TD3: &str = "2 lines of 44 characters, document code not V: TD3";
const REASON_MRVA: &str = "2 lines of 44 characters, document code V: MRV-A visa";

/// The shape decides; within one shape, a visa (`V`) has a different second line.
fn detect_format(
    zone: &Zone,
    n_lines: usize,
    width: usize,
    options: &ParseOptions,
) -> (Format, &'static str) {
    let code = zone.bytes(Range {
        line: 0,
        start: 0,
        end: 5,
    });
    let is_visa = code.first() == Some(&b'V');
    match (n_lines, width) {
        (3, _) => (Format::Td1, REASON_TD1),
        (_, TD3_LINE_WIDTH) if is_visa => (Format::MrvA, REASON_MRVA),
        (_, TD3_LINE_WIDTH) => (Format::Td3, REASON_TD3),
        _ if is_visa => (Format::MrvB, REASON_MRVB),
        _ if code == b"IDFRA" && options.french_national_id => (Format::FrenchId, REASON_FRENCH),
        _ if code == b"IDFRA"
            && checks_verify(zone, Format::FrenchId)
            && !checks_verify(zone, Format::Td2) =>
        {
            (Format::FrenchId, REASON_FRENCH_DETECTED)
        }
        _ if code == b"IDFRA" => (Format::Td2, REASON_TD2_NOT_FRENCH),
        _ => (Format::Td2, REASON_TD2),
    }
}

/// Whether every check digit of `format`'s layout verifies over `zone`: the evidence that tells
/// the French card from TD2 when the national layout is not enabled.
fn checks_verify(zone: &Zone, format: Format) -> bool {
    let layout = format.layout();
    let verifies = |value: u8, check: Range| {
        CheckOutcome::compare(value, zone.byte(check)) == CheckOutcome::Verified
    };
    let number = verifies(check_digit(zone.bytes(layout.number)), layout.number_check);
    let birth = verifies(check_digit(zone.bytes(layout.birth)), layout.birth_check);
    let expiry = layout
        .expiry
        .is_none_or(|(expiry, check)| verifies(check_digit(zone.bytes(expiry)), check));
    let composite = layout
        .composite
        .is_none_or(|(check, covered)| verifies(zone.check_digit_over(covered), check));
    number && birth && expiry && composite
}

fn text_field(zone: &Zone, range: Range) -> TextField {
    let raw = zone.text(range);
    TextField {
        value: strip_fillers(raw).to_owned(),
        raw: raw.to_owned(),
        position: range.into(),
    }
}

fn record_check(
    report: &mut MrzReport,
    field: CheckedField,
    at: Range,
    outcome: CheckOutcome,
) -> CheckOutcome {
    let position = Position::from(at);
    report.checks.push(CheckResult {
        field,
        position,
        outcome,
    });
    if let CheckOutcome::Refuted { expected, found } = outcome {
        report.errors.push(MrzFault::CheckDigit {
            field,
            line: position.line,
            column: position.start,
            expected,
            found,
        });
    }
    outcome
}

fn read_fields(
    zone: &Zone,
    format: Format,
    options: &ParseOptions,
    report: &mut MrzReport,
) -> MrzDocument {
    let layout = format.layout();
    let document_code = text_field(zone, layout.document_code);
    if !document_code_fits(format, zone.bytes(layout.document_code)) {
        report.warnings.push(Warning::UnexpectedDocumentCode);
    }
    let issuing_state = text_field(zone, layout.issuing_state);
    check_state_code(&issuing_state, StateField::IssuingState, report);
    let nationality = layout.nationality.map(|range| text_field(zone, range));
    if let Some(nationality) = &nationality {
        check_state_code(nationality, StateField::Nationality, report);
    }

    let (name, name_position) = match layout.name {
        NameLayout::Combined(range) => (fields::combined_name(zone.text(range)), range.into()),
        NameLayout::Split {
            surname,
            given_names,
        } => (
            fields::split_name(zone.text(surname), zone.text(given_names)),
            surname.into(),
        ),
    };
    if name.possibly_truncated {
        report.warnings.push(Warning::NamePossiblyTruncated);
    }

    let (document_number, optional_data) = read_document_number(zone, format, report);

    let birth_date = read_birth_date(zone, layout, options, report);

    let sex_range = layout.sex;
    let sex = Sex::from_byte(zone.byte(sex_range));
    match sex {
        Sex::X => report.warnings.push(Warning::SexXNonconformant),
        Sex::Invalid(found) => report.errors.push(MrzFault::Sex { found }),
        Sex::Male | Sex::Female | Sex::Unspecified => {}
    }

    let expiry_date = layout
        .expiry
        .map(|(range, check)| read_expiry_date(zone, range, check, options, report));

    if let (Some(optional), Some(check)) = (layout.optional, layout.optional_check) {
        let value = zone.bytes(optional);
        let printed = zone.byte(check);
        let outcome = if printed == b'<' && value.iter().all(|&b| b == b'<') {
            CheckOutcome::NotPrinted
        } else {
            CheckOutcome::compare(check_digit(value), printed)
        };
        record_check(report, CheckedField::PersonalNumber, check, outcome);
    }

    if let Some((check, covered)) = layout.composite {
        let outcome = CheckOutcome::compare(zone.check_digit_over(covered), zone.byte(check));
        record_check(report, CheckedField::Composite, check, outcome);
    }

    let optional_data_2 = layout.optional_2.map(|range| text_field(zone, range));
    let fin = read_fin(zone, format, &issuing_state.value, report);

    MrzDocument {
        document_code,
        issuing_state,
        nationality,
        name,
        name_position,
        document_number,
        birth_date,
        expiry_date,
        sex,
        sex_position: sex_range.into(),
        optional_data,
        optional_data_2,
        fin,
    }
}

/// The birth date, its check digit recorded, an invalid date an error, a guessed century a
/// warning.
fn read_birth_date(
    zone: &Zone,
    layout: &Layout,
    options: &ParseOptions,
    report: &mut MrzReport,
) -> DateField {
    let range = layout.birth;
    let field = DateField {
        value: fields::birth_date(zone.bytes(range), options.reference_date),
        raw: zone.text(range).to_owned(),
        position: range.into(),
    };
    let expected = check_digit(zone.bytes(range));
    record_check(
        report,
        CheckedField::BirthDate,
        layout.birth_check,
        CheckOutcome::compare(expected, zone.byte(layout.birth_check)),
    );
    match field.value {
        MrzDate::Invalid { fault } => report.errors.push(MrzFault::Date {
            field: CheckedField::BirthDate,
            fault,
        }),
        MrzDate::AmbiguousCentury { .. } => {
            report.warnings.push(Warning::BirthDateCenturyAmbiguous)
        }
        _ => {}
    }
    field
}

/// The expiry date at `range`, its check digit at `check` recorded, an invalid date an error,
/// none printed a warning.
fn read_expiry_date(
    zone: &Zone,
    range: Range,
    check: Range,
    options: &ParseOptions,
    report: &mut MrzReport,
) -> DateField {
    let field = DateField {
        value: fields::expiry_date(zone.bytes(range), options.reference_date),
        raw: zone.text(range).to_owned(),
        position: range.into(),
    };
    let expected = check_digit(zone.bytes(range));
    record_check(
        report,
        CheckedField::ExpiryDate,
        check,
        CheckOutcome::compare(expected, zone.byte(check)),
    );
    match field.value {
        MrzDate::Invalid { fault } => report.errors.push(MrzFault::Date {
            field: CheckedField::ExpiryDate,
            fault,
        }),
        MrzDate::NoExpiry => report.warnings.push(Warning::NoExpiryDate),
        _ => {}
    }
    field
}

/// Doc 9303: TD1 and TD2 codes start A, C or I; passports P; visas V. The French card is `ID`.
fn document_code_fits(format: Format, code: &[u8]) -> bool {
    match (format, code.first()) {
        (Format::Td1 | Format::Td2, Some(b'A' | b'C' | b'I')) => true,
        (Format::Td3, Some(b'P')) => true,
        (Format::MrvA | Format::MrvB, Some(b'V')) => true,
        (Format::FrenchId, _) => code == b"ID",
        _ => false,
    }
}

fn check_state_code(field: &TextField, which: StateField, report: &mut MrzReport) {
    if !is_known_state_code(&field.value) {
        report.warnings.push(Warning::UnknownStateCode {
            field: which,
            code: field.value.clone(),
        });
    }
}

/// The document number, reassembled from the optional data when it is long (TD1, TD2: nine
/// characters, `<` in the check position, the rest and the check digit leading the optional data).
fn read_document_number(
    zone: &Zone,
    format: Format,
    report: &mut MrzReport,
) -> (DocumentNumberField, Option<TextField>) {
    let layout = format.layout();
    let head = zone.bytes(layout.number);
    let printed_check = zone.byte(layout.number_check);
    let optional_data = layout.optional.map(|range| text_field(zone, range));
    let long_continuation = layout
        .number_continuation
        .filter(|_| printed_check == b'<' && head.last().is_some_and(|&b| b != b'<'));
    let Some(continuation) = long_continuation else {
        if head.iter().all(|&byte| byte == b'<') {
            report.errors.push(MrzFault::DocumentNumberEmpty);
        }
        let outcome = record_check(
            report,
            CheckedField::DocumentNumber,
            layout.number_check,
            CheckOutcome::compare(check_digit(head), printed_check),
        );
        let field = DocumentNumberField {
            number: DocumentNumber::new(strip_fillers(zone.text(layout.number))),
            position: layout.number.into(),
            continuation: None,
            check: outcome,
            check_char: printed_check,
        };
        return (field, optional_data);
    };

    let tail = zone.bytes(continuation);
    let n_tail = tail.iter().position(|&b| b == b'<').unwrap_or(tail.len());
    let head_text = zone.text(layout.number);
    if n_tail == 0 {
        report.errors.push(MrzFault::LongNumberWithoutContinuation);
        let field = DocumentNumberField {
            number: DocumentNumber::new(head_text),
            position: layout.number.into(),
            continuation: None,
            check: CheckOutcome::Refuted {
                expected: check_digit(head),
                found: '<',
            },
            check_char: b'<',
        };
        return (field, optional_data);
    }
    let extension = zone.text(Range {
        end: continuation.start + n_tail - 1,
        ..continuation
    });
    let check_at = Range {
        start: continuation.start + n_tail - 1,
        end: continuation.start + n_tail,
        ..continuation
    };
    let printed = zone.byte(check_at);
    let full = format!("{head_text}{extension}");
    let outcome = long_number_check(report, head_text, extension, printed);
    record_check(report, CheckedField::DocumentNumber, check_at, outcome);
    let rest = Range {
        start: continuation.start + n_tail,
        ..continuation
    };
    let rest_raw = zone.text(rest);
    let optional_data = Some(TextField {
        value: rest_raw.trim_matches('<').to_owned(),
        raw: rest_raw.to_owned(),
        position: if rest.start < rest.end {
            rest.into()
        } else {
            continuation.into()
        },
    });
    let field = DocumentNumberField {
        number: DocumentNumber::new(full),
        position: layout.number.into(),
        continuation: Some(
            Range {
                end: continuation.start + n_tail,
                ..continuation
            }
            .into(),
        ),
        check: outcome,
        check_char: printed,
    };
    (field, optional_data)
}

/// The check digit of a long document number (`head` and `extension` joined), accepting the
/// issuers' variant computed with the `<` between the parts (with a warning).
fn long_number_check(
    report: &mut MrzReport,
    head: &str,
    extension: &str,
    printed: u8,
) -> CheckOutcome {
    let outcome = CheckOutcome::compare(
        check_digit(format!("{head}{extension}").as_bytes()),
        printed,
    );
    if outcome == CheckOutcome::Verified {
        return outcome;
    }
    let variant = format!("{head}<{extension}");
    if CheckOutcome::compare(check_digit(variant.as_bytes()), printed) == CheckOutcome::Verified {
        report.warnings.push(Warning::LongNumberCheckDigitVariant);
        return CheckOutcome::Verified;
    }
    outcome
}

/// The Azerbaijani FIN: TD3 passport line 2 columns 29–35, the 2018 TD1 card line 1 columns
/// 16–22, the older TD2 card's optional data (line 2 columns 29–35).
fn read_fin(
    zone: &Zone,
    format: Format,
    issuing_state: &str,
    report: &mut MrzReport,
) -> Option<fields::Fin> {
    if issuing_state != "AZE" {
        return None;
    }
    let range = match format {
        Format::Td3 => Range {
            line: 1,
            start: 28,
            end: 35,
        },
        Format::Td1 => Range {
            line: 0,
            start: 15,
            end: 22,
        },
        Format::Td2 => Range {
            line: 1,
            start: 28,
            end: 35,
        },
        Format::MrvA | Format::MrvB | Format::FrenchId => return None,
    };
    let text = zone.text(range);
    if text.bytes().all(|b| b == b'<') {
        return None;
    }
    let fin = fields::Fin::parse(text);
    if fin.is_none() {
        report.warnings.push(Warning::FinMalformed);
    }
    fin
}
