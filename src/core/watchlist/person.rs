//! The two sides of a screening: a person alert from the list and a traveller as the MRZ gives
//! them, with the partial birth dates both may carry.

use std::fmt;
use std::str::FromStr;

/// A person's sex as a list or a document states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sex {
    Male,
    Female,
}

impl Sex {
    /// `M` or `F`.
    pub fn code(self) -> &'static str {
        match self {
            Sex::Male => "M",
            Sex::Female => "F",
        }
    }
}

/// A birth date as complete as the source knows it: a year, maybe a month, maybe a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BirthDate {
    pub year: i16,
    pub month: Option<i8>,
    pub day: Option<i8>,
}

/// Why a birth date text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a birth date of the form YYYY-MM-DD, YYYY-MM or YYYY{why}")]
pub struct BirthDateError {
    text: String,
    why: &'static str,
}

impl FromStr for BirthDate {
    type Err = BirthDateError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = |why| BirthDateError {
            text: text.chars().take(40).collect(),
            why,
        };
        let parts: Vec<&str> = text.split('-').collect();
        let number = |part: &str, digits: usize| -> Result<i16, BirthDateError> {
            if part.len() != digits || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(error(""));
            }
            part.parse().map_err(|_| error(""))
        };
        let year = number(parts[0], 4)?;
        if !(1800..=2999).contains(&year) {
            return Err(error(" (year out of range 1800-2999)"));
        }
        let month = match parts.get(1) {
            Some(part) => Some(number(part, 2)?),
            None => None,
        };
        let day = match parts.get(2) {
            Some(part) => Some(number(part, 2)?),
            None => None,
        };
        if parts.len() > 3 {
            return Err(error(""));
        }
        if let Some(month) = month {
            let real = jiff::civil::Date::new(year, month as i8, day.unwrap_or(1) as i8);
            if real.is_err() {
                return Err(error(" (no such day or month)"));
            }
        }
        Ok(BirthDate {
            year,
            month: month.map(|m| m as i8),
            day: day.map(|d| d as i8),
        })
    }
}

impl fmt::Display for BirthDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}", self.year)?;
        if let Some(month) = self.month {
            write!(f, "-{month:02}")?;
        }
        if let Some(day) = self.day {
            write!(f, "-{day:02}")?;
        }
        Ok(())
    }
}

/// What the alert asks for: the list it comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertKind {
    EntryBan,
    Wanted,
    Deported,
    MissingPerson,
    Other,
}

impl AlertKind {
    /// The contract's spelling.
    pub fn code(self) -> &'static str {
        match self {
            AlertKind::EntryBan => "entry_ban",
            AlertKind::Wanted => "wanted",
            AlertKind::Deported => "deported",
            AlertKind::MissingPerson => "missing_person",
            AlertKind::Other => "other",
        }
    }

    /// Parses the contract's spelling.
    pub fn from_code(code: &str) -> Option<AlertKind> {
        Some(match code {
            "entry_ban" => AlertKind::EntryBan,
            "wanted" => AlertKind::Wanted,
            "deported" => AlertKind::Deported,
            "missing_person" => AlertKind::MissingPerson,
            "other" => AlertKind::Other,
            _ => return None,
        })
    }
}

/// One of an alert's names, in any script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertName {
    pub surname: String,
    pub given_names: String,
}

/// A person alert: who is sought (names, birth date, nationalities, sex) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonAlert {
    pub alert_id: String,
    pub names: Vec<AlertName>,
    pub birth_date: Option<BirthDate>,
    /// ICAO 9303 three-letter codes.
    pub nationalities: Vec<String>,
    pub sex: Option<Sex>,
    pub kind: AlertKind,
    /// Last day an entry ban applies.
    pub until: Option<jiff::civil::Date>,
}

/// A traveller as the document's MRZ gives them (names in MRZ characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Traveller {
    pub surname: String,
    pub given_names: String,
    pub birth_date: Option<BirthDate>,
    pub nationality: Option<String>,
    pub sex: Option<Sex>,
}

#[cfg(test)]
mod tests {
    use super::BirthDate;

    #[test]
    fn birth_dates_full_partial_and_refused() {
        for text in ["1985-03-12", "1985-03", "1985"] {
            let date: BirthDate = text.parse().expect(text);
            assert_eq!(date.to_string(), text);
        }
        for text in [
            "1985-13-01",
            "1985-02-30",
            "85",
            "1985-3-1",
            "",
            "1985-03-12-01",
            "abcd",
        ] {
            assert!(text.parse::<BirthDate>().is_err(), "{text}");
        }
    }
}
