//! Personal data newtypes whose `Display` and `Debug` mask them, so logs cannot leak them.
//!
//! Architecture invariant: a document number or a name is never held in a plain `String` past the
//! parser that produced it. Code that really needs the clear text (matching, signing an event,
//! the officer's screen) calls `expose()`, which is easy to grep for.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Characters of a document number left visible at the end when masked.
const DOCUMENT_NUMBER_VISIBLE_CHARS: usize = 2;

/// A travel-document number (passport, ID card, permit card). Masked as `*******67`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DocumentNumber(String);

impl DocumentNumber {
    /// Wraps a document number.
    pub fn new(number: impl Into<String>) -> Self {
        Self(number.into())
    }

    /// The clear text. Use only where the number itself is needed, never for logging.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The masked form used in logs: all but the last two characters replaced by `*`.
    pub fn masked(&self) -> String {
        let n_chars = self.0.chars().count();
        // Short numbers are hidden whole: two visible characters of a three-character number say too much.
        let n_hidden = if n_chars <= DOCUMENT_NUMBER_VISIBLE_CHARS {
            n_chars
        } else {
            n_chars - DOCUMENT_NUMBER_VISIBLE_CHARS
        };
        self.0
            .chars()
            .enumerate()
            .map(|(index, c)| if index < n_hidden { '*' } else { c })
            .collect()
    }
}

impl fmt::Display for DocumentNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Debug for DocumentNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocumentNumber({})", self.masked())
    }
}

/// A person's name (surname or given names). Masked as its initial and length: `E.(8)`.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct PersonName(String);

impl PersonName {
    /// Wraps a name.
    pub fn new(name: impl Into<String>) -> Self {
        Self(name.into())
    }

    /// The clear text. Use only for display to the officer or for matching, never for logging.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The masked form used in logs.
    pub fn masked(&self) -> String {
        match self.0.chars().next() {
            None => String::new(),
            Some(initial) => format!("{initial}.({})", self.0.chars().count()),
        }
    }
}

impl fmt::Display for PersonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Debug for PersonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PersonName({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_number_is_masked_in_display_and_debug() {
        let number = DocumentNumber::new("L898902C3");
        assert_eq!(number.to_string(), "*******C3");
        assert_eq!(format!("{number:?}"), "DocumentNumber(*******C3)");
        assert_eq!(number.expose(), "L898902C3");
    }

    #[test]
    fn short_numbers_are_fully_masked() {
        assert_eq!(DocumentNumber::new("AB").to_string(), "**");
        assert_eq!(DocumentNumber::new("").to_string(), "");
    }

    #[test]
    fn names_show_initial_and_length_only() {
        let name = PersonName::new("ERIKSSON");
        assert_eq!(name.to_string(), "E.(8)");
        assert!(!format!("{name:?}").contains("ERIKSSON"));
    }
}
