//! ICAO Doc 9303 machine-readable zones: detect, parse, validate, repair and explain.
//!
//! [`parse`] turns scanned text into an [`MrzReport`]: every field typed and placed, every check
//! digit judged, every warning and fault a value. It never fails and never panics on input.

mod check_digit;
mod compose;
mod fields;
mod layout;
mod normalise;
mod parse;
mod repair;
mod report;
mod states;
mod zone;

#[cfg(test)]
mod tests;

pub use check_digit::{CheckOutcome, check_digit};
pub use compose::{Td3Fields, compose_td3};
pub use fields::{
    BIRTH_AGE_YEARS_UNAMBIGUOUS, DateFault, EXPIRY_YEARS_FROM_REFERENCE_MAX, FIN_CHARS, Fin,
    HolderName, MrzDate, Sex,
};
pub use layout::{
    Format, LINE_WIDTHS, LINES_MAX, Position, TD1_LINE_WIDTH, TD2_LINE_WIDTH, TD3_LINE_WIDTH,
};
pub use normalise::Normalisation;
pub use parse::parse;
pub use repair::{REPAIR_CANDIDATES_MAX, Repair, RepairedField};
pub use report::{
    CheckResult, CheckedField, DateField, DocumentNumberField, InvalidField, MrzDocument, MrzFault,
    MrzReport, StateField, TextField, Warning,
};
pub use states::is_known_state_code;

/// How literally the input is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    /// Doc 9303 as written: only blank lines and surrounding white space are ignored.
    #[default]
    Strict,
    /// Scanner input: case, filler variants, line ends and missing fillers normalised, OCR
    /// confusions repaired under check-digit control; every change recorded.
    Tolerant,
}

/// What the caller decides for one parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseOptions {
    /// Strict or tolerant reading.
    pub mode: Mode,
    /// The day against which two-digit years are resolved (the terminal's local date).
    pub reference_date: jiff::civil::Date,
    /// Read `IDFRA` 2 × 36 zones as the pre-2021 French identity card rather than TD2.
    pub french_national_id: bool,
}
