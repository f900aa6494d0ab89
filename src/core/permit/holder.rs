//! Holder binding: does a verified permit belong to the travel document presented with it?

use jiff::civil::Date;

use super::body::PermitHolder;
use crate::core::privacy::DocumentNumber;

/// A date of birth as read from the travel document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BirthDate {
    /// A full civil date (from a chip or an already resolved MRZ date).
    Civil(Date),
    /// The six MRZ characters `YYMMDD`; `<` marks an unknown digit and matches anything.
    Mrz(String),
}

/// What the travel document presented with the permit says about its holder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HolderFacts {
    /// Issuing state; MRZ fillers (`<`) are ignored.
    pub issuing_state: String,
    /// Document number; MRZ fillers are ignored.
    pub document_number: DocumentNumber,
    /// Date of birth.
    pub birth_date: BirthDate,
    /// Nationality; MRZ fillers are ignored.
    pub nationality: String,
}

/// The first field, in the order below, on which permit and travel document disagree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HolderMismatch {
    /// Issuing states differ.
    #[error("the permit was issued for a document of another issuing state")]
    IssuingState,
    /// Document numbers differ.
    #[error("the permit was issued for another document number")]
    DocumentNumber,
    /// Birth dates differ.
    #[error("the permit holder's date of birth differs from the document's")]
    BirthDate,
    /// Nationalities differ.
    #[error("the permit holder's nationality differs from the document's")]
    Nationality,
}

impl HolderMismatch {
    /// Stable machine code.
    pub fn code(self) -> &'static str {
        match self {
            HolderMismatch::IssuingState => "holder_issuing_state",
            HolderMismatch::DocumentNumber => "holder_document_number",
            HolderMismatch::BirthDate => "holder_birth_date",
            HolderMismatch::Nationality => "holder_nationality",
        }
    }
}

pub(crate) fn check_holder(
    permit: &PermitHolder,
    facts: &HolderFacts,
) -> Result<(), HolderMismatch> {
    if strip_fillers(&permit.issuing_state) != strip_fillers(&facts.issuing_state) {
        return Err(HolderMismatch::IssuingState);
    }
    if strip_fillers(permit.document_number.expose())
        != strip_fillers(facts.document_number.expose())
    {
        return Err(HolderMismatch::DocumentNumber);
    }
    if !birth_date_matches(permit.birth_date, &facts.birth_date) {
        return Err(HolderMismatch::BirthDate);
    }
    if strip_fillers(&permit.nationality) != strip_fillers(&facts.nationality) {
        return Err(HolderMismatch::Nationality);
    }
    Ok(())
}

fn strip_fillers(text: &str) -> String {
    text.chars()
        .filter(|&c| c != '<')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

fn birth_date_matches(permit: Date, presented: &BirthDate) -> bool {
    match presented {
        BirthDate::Civil(date) => *date == permit,
        BirthDate::Mrz(yymmdd) => {
            let expected = permit.strftime("%y%m%d").to_string();
            yymmdd.chars().count() == 6
                && yymmdd
                    .chars()
                    .zip(expected.chars())
                    .all(|(got, want)| got == '<' || got == want)
        }
    }
}
