//! Typed values of the MRZ fields: names, dates, sex, the Azerbaijani FIN.

use jiff::civil::Date;
use serde::Serialize;

use crate::core::privacy::PersonName;

/// Age above which a birth date printed with two digits is read in the later century without
/// asking: a holder reading as over 100 years old is far less likely than a newborn.
pub const BIRTH_AGE_YEARS_UNAMBIGUOUS: i16 = 100;
/// An expiry date is read in the century that puts it within this many years of the reference date.
pub const EXPIRY_YEARS_FROM_REFERENCE_MAX: i16 = 50;

/// The fillers stripped from both ends, `<` inside read as a space.
pub(crate) fn strip_fillers(raw: &str) -> &str {
    raw.trim_end_matches('<')
}

/// Holder's name: the primary identifier (surname) and the secondary identifier (given names).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HolderName {
    /// Text before the first `<<`, `<` read as a space.
    pub surname: PersonName,
    /// Text after the first `<<`, each run of `<` read as one space.
    pub given_names: PersonName,
    /// The name field is full to its last character: the issuer may have cut the name.
    pub possibly_truncated: bool,
}

/// Splits a combined name field on its first `<<`.
pub(crate) fn combined_name(field: &str) -> HolderName {
    let possibly_truncated = !field.ends_with('<');
    let trimmed = strip_fillers(field);
    let (surname, given_names) = match trimmed.split_once("<<") {
        Some((surname, given_names)) => (surname, given_names),
        None => (trimmed, ""),
    };
    HolderName {
        surname: PersonName::new(surname.replace('<', " ")),
        given_names: PersonName::new(collapse_fillers(given_names)),
        possibly_truncated,
    }
}

/// The French card's separate surname and given-name fields.
pub(crate) fn split_name(surname_field: &str, given_field: &str) -> HolderName {
    HolderName {
        surname: PersonName::new(collapse_fillers(surname_field)),
        given_names: PersonName::new(collapse_fillers(given_field)),
        possibly_truncated: !given_field.ends_with('<') || !surname_field.ends_with('<'),
    }
}

/// Each run of `<` read as one space, fillers at both ends dropped.
fn collapse_fillers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for part in text.split('<').filter(|part| !part.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(part);
    }
    out
}

/// The sex field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    /// `M`.
    Male,
    /// `F`.
    Female,
    /// `<`: unspecified.
    Unspecified,
    /// `X`: accepted by many issuers, not in Doc 9303 as written.
    X,
    /// Anything else.
    Invalid(char),
}

impl Sex {
    pub(crate) fn from_byte(byte: u8) -> Self {
        match byte {
            b'M' => Self::Male,
            b'F' => Self::Female,
            b'<' => Self::Unspecified,
            b'X' => Self::X,
            other => Self::Invalid(char::from(other)),
        }
    }
}

/// Why a date field is not a date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DateFault {
    /// A character other than a digit (or `<` where unknown parts are allowed).
    NotDigits,
    /// A part half digits, half fillers, or unknown parts where none are allowed.
    BadUnknownPart,
    /// Month 13, day 32, 29 February of a common year…: no calendar has it.
    Impossible,
}

/// A date as the MRZ prints it (two-digit year), typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MrzDate {
    /// A calendar date, century resolved against the reference date.
    Known {
        /// The date.
        date: Date,
    },
    /// Both centuries are plausible for a birth date; the MRZ cannot tell which.
    AmbiguousCentury {
        /// The reading in the earlier century.
        earlier: Date,
        /// The reading in the later century.
        later: Date,
    },
    /// Some parts printed `<` (unknown); the others as printed.
    Partial {
        /// Two-digit year, if printed.
        year: Option<u8>,
        /// Month, if printed.
        month: Option<u8>,
        /// Day, if printed.
        day: Option<u8>,
    },
    /// `<<<<<<` expiry with check digit 0: a document without expiry (Azerbaijani lifetime card).
    NoExpiry,
    /// Not a date.
    Invalid {
        /// Why.
        fault: DateFault,
    },
}

impl MrzDate {
    /// Whether the date is acceptable as a field value (the check digit is judged apart).
    pub fn is_valid(self) -> bool {
        !matches!(self, Self::Invalid { .. })
    }
}

/// One two-character part: `Some(n)` digits, `None` all fillers, `Err` anything else.
fn date_part(pair: &[u8]) -> Result<Option<u8>, DateFault> {
    match pair {
        [a @ b'0'..=b'9', b @ b'0'..=b'9'] => Ok(Some((a - b'0') * 10 + (b - b'0'))),
        [b'<', b'<'] => Ok(None),
        [a, b] if (a.is_ascii_digit() || *a == b'<') && (b.is_ascii_digit() || *b == b'<') => {
            Err(DateFault::BadUnknownPart)
        }
        _ => Err(DateFault::NotDigits),
    }
}

type DateParts = (Option<u8>, Option<u8>, Option<u8>);

fn date_parts(raw: &[u8]) -> Result<DateParts, DateFault> {
    match raw {
        [y0, y1, m0, m1, d0, d1] => Ok((
            date_part(&[*y0, *y1])?,
            date_part(&[*m0, *m1])?,
            date_part(&[*d0, *d1])?,
        )),
        _ => Err(DateFault::NotDigits),
    }
}

fn calendar_date(year: i16, month: u8, day: u8) -> Option<Date> {
    let month = i8::try_from(month).ok()?;
    let day = i8::try_from(day).ok()?;
    Date::new(year, month, day).ok()
}

/// A birth date: unknown parts allowed, never after the reference date, century ambiguous when
/// both readings give a holder under [`BIRTH_AGE_YEARS_UNAMBIGUOUS`].
pub(crate) fn birth_date(raw: &[u8], reference: Date) -> MrzDate {
    let (year, month, day) = match date_parts(raw) {
        Ok(parts) => parts,
        Err(fault) => return MrzDate::Invalid { fault },
    };
    if month.is_some_and(|m| !(1..=12).contains(&m)) || day.is_some_and(|d| !(1..=31).contains(&d))
    {
        return MrzDate::Invalid {
            fault: DateFault::Impossible,
        };
    }
    let (Some(year), Some(month), Some(day)) = (year, month, day) else {
        return MrzDate::Partial { year, month, day };
    };
    let year = i16::from(year);
    let earlier = calendar_date(1900 + year, month, day).filter(|date| *date <= reference);
    let later = calendar_date(2000 + year, month, day).filter(|date| *date <= reference);
    match (earlier, later) {
        (Some(earlier), Some(later)) => {
            if reference.year() - earlier.year() > BIRTH_AGE_YEARS_UNAMBIGUOUS {
                MrzDate::Known { date: later }
            } else {
                MrzDate::AmbiguousCentury { earlier, later }
            }
        }
        (Some(date), None) | (None, Some(date)) => MrzDate::Known { date },
        (None, None) => MrzDate::Invalid {
            fault: DateFault::Impossible,
        },
    }
}

/// An expiry date: fully printed, or `<<<<<<` for no expiry; century within
/// [`EXPIRY_YEARS_FROM_REFERENCE_MAX`] of the reference date.
pub(crate) fn expiry_date(raw: &[u8], reference: Date) -> MrzDate {
    if raw == b"<<<<<<" {
        return MrzDate::NoExpiry;
    }
    let (year, month, day) = match date_parts(raw) {
        Ok((Some(year), Some(month), Some(day))) => (year, month, day),
        Ok(_) => {
            return MrzDate::Invalid {
                fault: DateFault::BadUnknownPart,
            };
        }
        Err(fault) => return MrzDate::Invalid { fault },
    };
    let century_start = (reference.year() - EXPIRY_YEARS_FROM_REFERENCE_MAX).div_euclid(100) * 100;
    let mut full_year = century_start + i16::from(year);
    if full_year < reference.year() - EXPIRY_YEARS_FROM_REFERENCE_MAX {
        full_year += 100;
    }
    match calendar_date(full_year, month, day) {
        Some(date) => MrzDate::Known { date },
        None => MrzDate::Invalid {
            fault: DateFault::Impossible,
        },
    }
}

/// Characters in an Azerbaijani personal identification code.
pub const FIN_CHARS: usize = 7;

/// The Azerbaijani personal identification code (FIN): seven letters and digits, never the letter
/// `O` (which the issuer excludes so that it cannot be confused with zero).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Fin(String);

impl Fin {
    /// Accepts exactly seven of `A-Z 0-9` without `O`.
    pub fn parse(text: &str) -> Option<Self> {
        let well_formed = text.len() == FIN_CHARS
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b.is_ascii_uppercase() && b != b'O'));
        well_formed.then(|| Self(text.to_owned()))
    }

    /// The clear text: personal data, never for logs.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Fin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fin(*******)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    const REFERENCE: Date = date(2026, 11, 23);

    #[test]
    fn names() {
        for (field, surname, given, truncated) in [
            ("ERIKSSON<<ANNA<MARIA<<<<<", "ERIKSSON", "ANNA MARIA", false),
            ("<<ANNA<<<<", "", "ANNA", false),
            (
                "VAN<DER<BERG<<JAN<<PIET<<<",
                "VAN DER BERG",
                "JAN PIET",
                false,
            ),
            ("ERIKSSON<<<<", "ERIKSSON", "", false),
            (
                "MUSTERMANN<<ERIKA<MARIA<ABC",
                "MUSTERMANN",
                "ERIKA MARIA ABC",
                true,
            ),
            ("SINGLENAME<<<", "SINGLENAME", "", false),
        ] {
            let name = combined_name(field);
            assert_eq!(name.surname.expose(), surname, "{field}");
            assert_eq!(name.given_names.expose(), given, "{field}");
            assert_eq!(name.possibly_truncated, truncated, "{field}");
        }
    }

    #[test]
    fn birth_dates() {
        let known = |y, m, d| MrzDate::Known {
            date: date(y, m, d),
        };
        let impossible = MrzDate::Invalid {
            fault: DateFault::Impossible,
        };
        for (raw, expected) in [
            ("740812", known(1974, 8, 12)),
            ("200101", known(2020, 1, 1)),
            ("300101", known(1930, 1, 1)),
            ("000229", known(2000, 2, 29)),
            ("010229", impossible),
            ("741301", impossible),
            ("740800", impossible),
            ("740431", impossible),
            (
                "260101",
                MrzDate::AmbiguousCentury {
                    earlier: date(1926, 1, 1),
                    later: date(2026, 1, 1),
                },
            ),
            (
                "74<<<<",
                MrzDate::Partial {
                    year: Some(74),
                    month: None,
                    day: None,
                },
            ),
            (
                "<<<<<<",
                MrzDate::Partial {
                    year: None,
                    month: None,
                    day: None,
                },
            ),
            (
                "7408<2",
                MrzDate::Invalid {
                    fault: DateFault::BadUnknownPart,
                },
            ),
            (
                "74O812",
                MrzDate::Invalid {
                    fault: DateFault::NotDigits,
                },
            ),
        ] {
            assert_eq!(birth_date(raw.as_bytes(), REFERENCE), expected, "{raw}");
        }
    }

    #[test]
    fn expiry_dates() {
        for (raw, expected) in [
            (
                "120415",
                MrzDate::Known {
                    date: date(2012, 4, 15),
                },
            ),
            (
                "350101",
                MrzDate::Known {
                    date: date(2035, 1, 1),
                },
            ),
            (
                "800101",
                MrzDate::Known {
                    date: date(1980, 1, 1),
                },
            ),
            ("<<<<<<", MrzDate::NoExpiry),
            (
                "290229",
                MrzDate::Invalid {
                    fault: DateFault::Impossible,
                },
            ),
            (
                "29<<<<",
                MrzDate::Invalid {
                    fault: DateFault::BadUnknownPart,
                },
            ),
        ] {
            assert_eq!(expiry_date(raw.as_bytes(), REFERENCE), expected, "{raw}");
        }
    }

    #[test]
    fn fin_never_holds_the_letter_o() {
        assert!(Fin::parse("5HR2QN7").is_some());
        assert!(Fin::parse("5HR2QO7").is_none());
        assert!(Fin::parse("5HR2QN").is_none());
        assert!(!format!("{:?}", Fin::parse("5HR2QN7")).contains("5HR"));
    }
}
