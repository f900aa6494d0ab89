//! The parse result: fields with raw text and position, checks, warnings, faults and repairs.

use serde::Serialize;

use super::check_digit::CheckOutcome;
use super::fields::{Fin, HolderName, MrzDate, Sex};
use super::layout::{Format, Position};
use super::normalise::Normalisation;
use super::repair::Repair;
use crate::core::document::DocumentKey;
use crate::core::privacy::DocumentNumber;

/// A field protected by a check digit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckedField {
    /// Document number (for long numbers, the check digit in the optional data).
    DocumentNumber,
    /// Date of birth.
    BirthDate,
    /// Date of expiry.
    ExpiryDate,
    /// TD3 personal number.
    PersonalNumber,
    /// The composite check digit over several fields.
    Composite,
}

impl CheckedField {
    /// The field's name in `invalid_fields`.
    pub const fn invalid_field(self) -> InvalidField {
        match self {
            Self::DocumentNumber => InvalidField::DocumentNumber,
            Self::BirthDate => InvalidField::BirthDate,
            Self::ExpiryDate => InvalidField::ExpiryDate,
            Self::PersonalNumber => InvalidField::PersonalNumber,
            Self::Composite => InvalidField::Composite,
        }
    }
}

/// The names of `invalid_fields` in the CLI contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InvalidField {
    /// Not 2 or 3 lines.
    LineCount,
    /// A line of the wrong width.
    LineLength,
    /// A character outside `A-Z 0-9 <`.
    Charset,
    /// Document number.
    DocumentNumber,
    /// Date of birth.
    BirthDate,
    /// Date of expiry.
    ExpiryDate,
    /// TD3 personal number.
    PersonalNumber,
    /// Composite check digit.
    Composite,
    /// Sex.
    Sex,
}

impl InvalidField {
    /// The contract's spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::LineCount => "line_count",
            Self::LineLength => "line_length",
            Self::Charset => "charset",
            Self::DocumentNumber => "document_number",
            Self::BirthDate => "birth_date",
            Self::ExpiryDate => "expiry_date",
            Self::PersonalNumber => "personal_number",
            Self::Composite => "composite",
            Self::Sex => "sex",
        }
    }
}

/// Why the document is not valid. Structural faults come alone: when the shape is wrong,
/// no field is read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MrzFault {
    /// Not 2 or 3 non-blank lines.
    #[error("an mrz has 2 or 3 lines, got {got}")]
    LineCount {
        /// Lines found.
        got: usize,
    },
    /// A line of the wrong width for the zone's shape.
    #[error("line {line} has {got} characters, expected {expected}")]
    LineLength {
        /// Line, from 1.
        line: usize,
        /// Width of the shape.
        expected: usize,
        /// Characters found.
        got: usize,
    },
    /// A character outside `A-Z 0-9 <`.
    #[error("line {line} column {column}: {found:?} is not one of A-Z, 0-9, <")]
    BadCharacter {
        /// Line, from 1.
        line: usize,
        /// Column, from 1.
        column: usize,
        /// The character.
        found: char,
    },
    /// A check digit that does not match its field.
    #[error(
        "{field:?} check digit at line {line} column {column}: expected {expected}, found {found:?}"
    )]
    CheckDigit {
        /// The field.
        field: CheckedField,
        /// Line, from 1.
        line: u8,
        /// Column, from 1.
        column: u8,
        /// The computed digit.
        expected: u8,
        /// The printed character.
        found: char,
    },
    /// A long document number whose continuation in the optional data is missing.
    #[error(
        "document number fills its field and has no check digit, but the optional data does not continue it"
    )]
    LongNumberWithoutContinuation,
    /// A document number made only of fillers: no document has none.
    #[error("document number is only fillers")]
    DocumentNumberEmpty,
    /// A date field that is not a date.
    #[error("{field:?} is not a valid date: {fault:?}")]
    Date {
        /// Birth or expiry.
        field: CheckedField,
        /// Why.
        fault: super::fields::DateFault,
    },
    /// Sex other than `M`, `F`, `X`, `<`.
    #[error("sex {found:?} is not M, F, X or <")]
    Sex {
        /// The printed character.
        found: char,
    },
}

impl MrzFault {
    /// The `invalid_fields` name this fault makes invalid.
    pub const fn invalid_field(&self) -> InvalidField {
        match self {
            Self::LineCount { .. } => InvalidField::LineCount,
            Self::LineLength { .. } => InvalidField::LineLength,
            Self::BadCharacter { .. } => InvalidField::Charset,
            Self::CheckDigit { field, .. } | Self::Date { field, .. } => field.invalid_field(),
            Self::LongNumberWithoutContinuation | Self::DocumentNumberEmpty => {
                InvalidField::DocumentNumber
            }
            Self::Sex { .. } => InvalidField::Sex,
        }
    }
}

/// A state-code field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StateField {
    /// Issuing state or organisation.
    IssuingState,
    /// Holder's nationality.
    Nationality,
}

/// Something the officer or the decision layer should know that does not invalidate the document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "warning", rename_all = "snake_case")]
pub enum Warning {
    /// The name field is full: the issuer may have truncated the name.
    NamePossiblyTruncated,
    /// A long document number's check digit was computed over the `<` in position 15 (TD1) or 10 (TD2).
    LongNumberCheckDigitVariant,
    /// Sex `X`: widely issued, not in Doc 9303 as written.
    SexXNonconformant,
    /// Expiry `<<<<<<` with check digit 0: the document does not expire.
    NoExpiryDate,
    /// A state code not in Doc 9303 part 3.
    UnknownStateCode {
        /// Which field.
        field: StateField,
        /// The code, fillers stripped.
        code: String,
    },
    /// The birth date's century could be either; see [`MrzDate::AmbiguousCentury`].
    BirthDateCenturyAmbiguous,
    /// The document code's first letter does not belong to the zone's shape.
    UnexpectedDocumentCode,
    /// The Azerbaijani FIN is not seven of `A-Z 0-9` without `O`.
    FinMalformed,
    /// Characters were repaired; see the repairs.
    OcrRepaired,
    /// Several repairs would satisfy the check digits, so none was applied.
    RepairAmbiguous,
    /// The tolerant mode rewrote the input.
    Normalised(Normalisation),
    /// An `IDFRA` 2 × 36 zone read as the pre-2021 French card without the national layout
    /// enabled, because its check digits verify there and not as TD2 (see `format_reason`).
    FrenchIdDetected,
}

impl Warning {
    /// The machine code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NamePossiblyTruncated => "name_possibly_truncated",
            Self::LongNumberCheckDigitVariant => "long_number_check_digit_variant",
            Self::SexXNonconformant => "sex_x_nonconformant",
            Self::NoExpiryDate => "no_expiry_date",
            Self::UnknownStateCode { .. } => "unknown_state_code",
            Self::BirthDateCenturyAmbiguous => "birth_date_century_ambiguous",
            Self::UnexpectedDocumentCode => "unexpected_document_code",
            Self::FinMalformed => "fin_malformed",
            Self::OcrRepaired => "ocr_repaired",
            Self::RepairAmbiguous => "repair_ambiguous",
            Self::Normalised(normalisation) => normalisation.code(),
            Self::FrenchIdDetected => "french_id_detected",
        }
    }
}

/// One check digit's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    /// The protected field.
    pub field: CheckedField,
    /// Where the check digit is.
    pub position: Position,
    /// The verdict.
    pub outcome: CheckOutcome,
}

/// A plain text field: raw as printed, value with trailing fillers stripped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextField {
    /// Trailing fillers stripped.
    pub value: String,
    /// As printed.
    pub raw: String,
    /// Where.
    pub position: Position,
}

/// A date field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DateField {
    /// The typed date.
    pub value: MrzDate,
    /// As printed (`YYMMDD`, possibly with `<`).
    pub raw: String,
    /// Where.
    pub position: Position,
}

/// The document number, reassembled when long.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocumentNumberField {
    /// The full number, fillers stripped.
    pub number: DocumentNumber,
    /// Where the first nine characters are.
    pub position: Position,
    /// For a long number, where its continuation and check digit are in the optional data.
    pub continuation: Option<Position>,
    /// The check digit's verdict.
    pub check: CheckOutcome,
    /// The check digit printed for the number (used for the BAC/PACE MRZ information).
    pub(crate) check_char: u8,
}

/// The fields of a zone whose shape and characters are right.
#[derive(Clone, Debug)]
pub struct MrzDocument {
    /// `P`, `PO`, `I`, `ID`, `V`…, fillers stripped.
    pub document_code: TextField,
    /// Issuing state or organisation.
    pub issuing_state: TextField,
    /// Nationality (absent on the French card).
    pub nationality: Option<TextField>,
    /// Holder's name.
    pub name: HolderName,
    /// Where the name is (the surname field for the French card).
    pub name_position: Position,
    /// Document number.
    pub document_number: DocumentNumberField,
    /// Date of birth.
    pub birth_date: DateField,
    /// Date of expiry (absent on the French card).
    pub expiry_date: Option<DateField>,
    /// Sex.
    pub sex: Sex,
    /// Where the sex is.
    pub sex_position: Position,
    /// Optional data (TD3: the personal number; TD1: line 1's field, after any long-number
    /// continuation; French card: the issuing office).
    pub optional_data: Option<TextField>,
    /// TD1 line 2's optional data.
    pub optional_data_2: Option<TextField>,
    /// The Azerbaijani personal identification code, for AZE documents that carry it.
    pub fin: Option<Fin>,
}

/// Everything known about one read.
#[derive(Clone, Debug, Default)]
pub struct MrzReport {
    /// The format, when the shape is one of them.
    pub format: Option<Format>,
    /// Why this format was chosen (states the French-card versus TD2 choice).
    pub format_reason: Option<&'static str>,
    /// The fields, when the structure is right.
    pub document: Option<MrzDocument>,
    /// Every check digit's verdict.
    pub checks: Vec<CheckResult>,
    /// Things to know that do not invalidate.
    pub warnings: Vec<Warning>,
    /// Faults; empty when valid.
    pub errors: Vec<MrzFault>,
    /// OCR repairs applied (tolerant mode).
    pub repairs: Vec<Repair>,
    /// Input rewrites (tolerant mode).
    pub normalisations: Vec<Normalisation>,
}

impl MrzReport {
    /// Valid: right structure, every check acceptable, every field well-formed. A repaired read
    /// can be valid; the decision layer must still look at [`MrzReport::is_repaired`].
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty() && self.document.is_some()
    }

    /// Whether OCR repairs were applied: such a read goes to an officer, never straight through.
    pub fn is_repaired(&self) -> bool {
        !self.repairs.is_empty()
    }

    /// The `invalid_fields` names, each once, in the order the faults were found.
    pub fn invalid_fields(&self) -> Vec<InvalidField> {
        let mut fields: Vec<InvalidField> = Vec::with_capacity(self.errors.len());
        for fault in &self.errors {
            let field = fault.invalid_field();
            if !fields.contains(&field) {
                fields.push(field);
            }
        }
        fields
    }

    /// Issuing state + document code + full number, when the number's check digit verifies.
    pub fn document_key(&self) -> Option<DocumentKey> {
        let document = self.document.as_ref()?;
        let number = &document.document_number;
        if number.check != CheckOutcome::Verified || number.number.expose().is_empty() {
            return None;
        }
        Some(DocumentKey {
            issuing_state: document.issuing_state.value.clone(),
            document_code: document.document_code.value.clone(),
            number: number.number.clone(),
        })
    }

    /// The MRZ information a chip reader derives the BAC/PACE keys from: document number
    /// (at least 9 characters, `<`-padded) and its check digit, birth date and its check digit,
    /// expiry date and its check digit. Only for documents with chips (TD1, TD2, TD3) whose three
    /// checks verify.
    pub fn mrz_information(&self) -> Option<String> {
        let document = self.document.as_ref()?;
        if !matches!(self.format?, Format::Td1 | Format::Td2 | Format::Td3) {
            return None;
        }
        let verified = |field| {
            self.checks
                .iter()
                .any(|check| check.field == field && check.outcome == CheckOutcome::Verified)
        };
        if !(verified(CheckedField::DocumentNumber)
            && verified(CheckedField::BirthDate)
            && verified(CheckedField::ExpiryDate))
        {
            return None;
        }
        let expiry = document.expiry_date.as_ref()?;
        let number = document.document_number.number.expose();
        let mut information = String::with_capacity(24 + number.len());
        information.push_str(number);
        for _ in number.len()..9 {
            information.push('<');
        }
        information.push(char::from(document.document_number.check_char));
        information.push_str(&document.birth_date.raw);
        information.push(char::from(
            b'0' + super::check_digit(document.birth_date.raw.as_bytes()),
        ));
        information.push_str(&expiry.raw);
        information.push(char::from(b'0' + super::check_digit(expiry.raw.as_bytes())));
        Some(information)
    }
}
