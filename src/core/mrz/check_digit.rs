//! Doc 9303 part 3 check digits: weights 7-3-1 repeating, `<` = 0, `0`–`9` as themselves,
//! `A` = 10 … `Z` = 35, sum modulo 10.

use serde::Serialize;

/// The repeating weights of the check-digit algorithm.
const WEIGHTS: [u32; 3] = [7, 3, 1];

/// The numeric value of one MRZ character, or `None` outside `A-Z 0-9 <`.
pub const fn char_value(byte: u8) -> Option<u32> {
    match byte {
        b'0'..=b'9' => Some((byte - b'0') as u32),
        b'A'..=b'Z' => Some((byte - b'A') as u32 + 10),
        b'<' => Some(0),
        _ => None,
    }
}

/// Running check-digit computation over one or more ranges, the weight continuing across ranges
/// (the composite check digit covers several non-contiguous ranges as one string).
#[derive(Clone, Copy, Debug, Default)]
pub struct CheckDigitSum {
    sum: u32,
    n_chars: usize,
}

impl CheckDigitSum {
    /// Adds characters; a character outside the MRZ alphabet counts as 0 (the charset check
    /// reports it separately, before any check digit is looked at).
    pub fn push(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            let weight = WEIGHTS[self.n_chars % WEIGHTS.len()];
            self.sum += char_value(byte).unwrap_or(0) * weight;
            self.n_chars += 1;
        }
    }

    /// The check digit, 0–9.
    pub fn digit(&self) -> u8 {
        u8::try_from(self.sum % 10).expect("a value modulo 10 fits in u8")
    }
}

/// The check digit of one contiguous string.
pub fn check_digit(bytes: &[u8]) -> u8 {
    let mut sum = CheckDigitSum::default();
    sum.push(bytes);
    sum.digit()
}

/// What the check-digit position held, compared with the computed digit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum CheckOutcome {
    /// The printed digit equals the computed one.
    Verified,
    /// The printed character differs from the computed digit.
    Refuted {
        /// The computed digit.
        expected: u8,
        /// What the document carries in the check position.
        found: char,
    },
    /// `<` in the check position where Doc 9303 allows it (an empty TD3 personal number).
    NotPrinted,
}

impl CheckOutcome {
    /// Compares a printed check character with a computed digit; `<` is a refutation here,
    /// the callers that allow "not printed" decide that before calling.
    pub fn compare(expected: u8, printed: u8) -> Self {
        if printed == b'0' + expected {
            Self::Verified
        } else {
            Self::Refuted {
                expected,
                found: char::from(printed),
            }
        }
    }

    /// Whether the check does not speak against the document.
    pub fn is_acceptable(self) -> bool {
        !matches!(self, Self::Refuted { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_9303_examples() {
        // Doc 9303 part 3, 4.9: the worked examples.
        for (input, digit) in [
            ("520727", 3),
            ("AB2134<<<", 5),
            ("L898902C3", 6),
            ("740812", 2),
            ("120415", 9),
            ("ZE184226B<<<<<", 1),
            ("D23145890", 7),
            ("<<<<<<", 0),
        ] {
            assert_eq!(check_digit(input.as_bytes()), digit, "{input}");
        }
    }

    #[test]
    fn weights_continue_across_ranges() {
        let mut split = CheckDigitSum::default();
        split.push(b"L898902C36");
        split.push(b"7408122");
        let mut whole = CheckDigitSum::default();
        whole.push(b"L898902C367408122");
        assert_eq!(split.digit(), whole.digit());
    }

    #[test]
    fn character_values() {
        assert_eq!(char_value(b'<'), Some(0));
        assert_eq!(char_value(b'A'), Some(10));
        assert_eq!(char_value(b'Z'), Some(35));
        assert_eq!(char_value(b'a'), None);
    }
}
