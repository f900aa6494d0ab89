//! The permit body (private CWT claim -65537) and the CWT claims around it.

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::core::privacy::{DocumentNumber, PersonName};

/// Longest free-text field (employer, address region, display name) accepted in a body.
pub const BODY_TEXT_CHARS_MAX: usize = 200;
/// Longest document number accepted in a holder binding.
pub const DOCUMENT_NUMBER_CHARS_MAX: usize = 40;

/// The kind of permit. Serialised as the stable snake_case strings listed in `docs/bp1.md`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PermitType {
    /// Temporary residence permit.
    TemporaryResidence,
    /// Permanent residence permit.
    PermanentResidence,
    /// Work permit (names the employer).
    WorkPermit,
    /// Refugee-status document.
    RefugeeStatus,
    /// E-visa valid for one entry.
    EvisaSingle,
    /// E-visa valid for several entries.
    EvisaMultiple,
    /// Extension of an authorised stay.
    StayExtension,
    /// Registration at a place of stay (names the address region).
    Registration,
}

impl PermitType {
    /// Every permit type, in a fixed order.
    pub const ALL: [PermitType; 8] = [
        PermitType::TemporaryResidence,
        PermitType::PermanentResidence,
        PermitType::WorkPermit,
        PermitType::RefugeeStatus,
        PermitType::EvisaSingle,
        PermitType::EvisaMultiple,
        PermitType::StayExtension,
        PermitType::Registration,
    ];

    /// The stable snake_case name (`work_permit`).
    pub fn code(self) -> &'static str {
        match self {
            PermitType::TemporaryResidence => "temporary_residence",
            PermitType::PermanentResidence => "permanent_residence",
            PermitType::WorkPermit => "work_permit",
            PermitType::RefugeeStatus => "refugee_status",
            PermitType::EvisaSingle => "evisa_single",
            PermitType::EvisaMultiple => "evisa_multiple",
            PermitType::StayExtension => "stay_extension",
            PermitType::Registration => "registration",
        }
    }

    /// Parses a stable name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|permit_type| permit_type.code() == name)
    }
}

/// Whom the permit belongs to: the travel document it must be presented with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermitHolder {
    /// Issuing state of the travel document, MRZ code without fillers (`UTO`, `D`).
    #[serde(rename = "state")]
    pub issuing_state: String,
    /// Travel-document number, MRZ characters without fillers.
    #[serde(rename = "doc")]
    pub document_number: DocumentNumber,
    /// Date of birth.
    #[serde(rename = "dob")]
    pub birth_date: Date,
    /// Nationality, MRZ code without fillers.
    #[serde(rename = "nat")]
    pub nationality: String,
    /// Name for display to the officer only; never used for matching.
    pub name: PersonName,
}

/// The permit itself, carried in private claim -65537.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermitBody {
    /// Kind of permit.
    #[serde(rename = "type")]
    pub permit_type: PermitType,
    /// Holder binding.
    pub holder: PermitHolder,
    /// First day the permit is valid (civil date at the issuing authority).
    #[serde(rename = "from")]
    pub valid_from: Date,
    /// Last day the permit is valid, inclusive.
    #[serde(rename = "until")]
    pub valid_until: Date,
    /// Employer, required for `work_permit` and forbidden otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employer: Option<String>,
    /// Entries allowed: `evisa_single` 1 (or absent); `evisa_multiple` ≥ 2, absent = unlimited;
    /// forbidden for other types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entries: Option<u32>,
    /// Address region, required for `registration` and forbidden otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// Why a permit body breaks the BP1 rules.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// A country code is not 1–3 letters A–Z.
    #[error("{field} must be 1 to 3 letters A-Z, got {len} characters")]
    CountryCode {
        /// `holder.state` or `holder.nat`.
        field: &'static str,
        /// Its length in characters.
        len: usize,
    },
    /// The document number is empty, too long or has characters outside A–Z, 0–9.
    #[error("holder.doc must be 1 to {DOCUMENT_NUMBER_CHARS_MAX} characters A-Z or 0-9")]
    DocumentNumber,
    /// A text field is empty or too long.
    #[error("{field} must be 1 to {BODY_TEXT_CHARS_MAX} characters")]
    Text {
        /// The field name.
        field: &'static str,
    },
    /// `until` is before `from`.
    #[error("until ({until}) is before from ({from})")]
    ValidityReversed {
        /// First valid day.
        from: Date,
        /// Last valid day.
        until: Date,
    },
    /// A type-specific field is missing.
    #[error("{field} is required for permit type {permit_type}")]
    Missing {
        /// The missing field.
        field: &'static str,
        /// The permit type's code.
        permit_type: &'static str,
    },
    /// A type-specific field is present on a type that does not take it.
    #[error("{field} is not allowed for permit type {permit_type}")]
    NotAllowed {
        /// The offending field.
        field: &'static str,
        /// The permit type's code.
        permit_type: &'static str,
    },
    /// `entries` does not fit the e-visa type.
    #[error("entries {entries} does not fit permit type {permit_type}")]
    Entries {
        /// The value given.
        entries: u32,
        /// The permit type's code.
        permit_type: &'static str,
    },
}

impl PermitBody {
    /// Checks the rules of `docs/bp1.md` §5 that serde cannot express.
    pub fn validate(&self) -> Result<(), BodyError> {
        check_country("holder.state", &self.holder.issuing_state)?;
        check_country("holder.nat", &self.holder.nationality)?;
        let number = self.holder.document_number.expose();
        if number.is_empty()
            || number.chars().count() > DOCUMENT_NUMBER_CHARS_MAX
            || !number
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        {
            return Err(BodyError::DocumentNumber);
        }
        check_text("holder.name", self.holder.name.expose())?;
        if self.valid_until < self.valid_from {
            return Err(BodyError::ValidityReversed {
                from: self.valid_from,
                until: self.valid_until,
            });
        }
        let permit_type = self.permit_type.code();
        match (self.permit_type, &self.employer) {
            (PermitType::WorkPermit, Some(employer)) => check_text("employer", employer)?,
            (PermitType::WorkPermit, None) => {
                return Err(BodyError::Missing {
                    field: "employer",
                    permit_type,
                });
            }
            (_, Some(_)) => {
                return Err(BodyError::NotAllowed {
                    field: "employer",
                    permit_type,
                });
            }
            (_, None) => {}
        }
        match (self.permit_type, &self.region) {
            (PermitType::Registration, Some(region)) => check_text("region", region)?,
            (PermitType::Registration, None) => {
                return Err(BodyError::Missing {
                    field: "region",
                    permit_type,
                });
            }
            (_, Some(_)) => {
                return Err(BodyError::NotAllowed {
                    field: "region",
                    permit_type,
                });
            }
            (_, None) => {}
        }
        match (self.permit_type, self.entries) {
            (PermitType::EvisaSingle, None | Some(1)) => {}
            (PermitType::EvisaMultiple, None) => {}
            (PermitType::EvisaMultiple, Some(entries)) if entries >= 2 => {}
            (PermitType::EvisaSingle | PermitType::EvisaMultiple, Some(entries)) => {
                return Err(BodyError::Entries {
                    entries,
                    permit_type,
                });
            }
            (_, Some(_)) => {
                return Err(BodyError::NotAllowed {
                    field: "entries",
                    permit_type,
                });
            }
            (_, None) => {}
        }
        Ok(())
    }
}

fn check_country(field: &'static str, code: &str) -> Result<(), BodyError> {
    let len = code.chars().count();
    if (1..=3).contains(&len) && code.chars().all(|c| c.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(BodyError::CountryCode { field, len })
    }
}

fn check_text(field: &'static str, text: &str) -> Result<(), BodyError> {
    let len = text.chars().count();
    if len == 0 || len > BODY_TEXT_CHARS_MAX {
        Err(BodyError::Text { field })
    } else {
        Ok(())
    }
}

/// The CWT claims of a permit (`docs/bp1.md` §4), apart from the body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PermitClaims {
    /// Claim 1 `iss`: the issuing authority.
    pub issuer: String,
    /// Claim 6 `iat`: when it was signed.
    pub issued_at: jiff::Timestamp,
    /// Claim 5 `nbf`: not valid before.
    pub not_before: jiff::Timestamp,
    /// Claim 4 `exp`: not valid after.
    pub expires_at: jiff::Timestamp,
    /// Claim 7 `cti`: the permit id, the revocation key.
    pub permit_id: [u8; 16],
}
