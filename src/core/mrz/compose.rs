//! Composing a TD3 (passport) zone with every check digit computed: for the demo, simulations
//! and tests that need realistic scans, never for reading documents.

use super::check_digit;

/// Holder fields of a passport; dates as printed (`YYMMDD`).
#[derive(Clone, Copy, Debug)]
pub struct Td3Fields<'a> {
    /// Issuing state (`GEO`).
    pub state: &'a str,
    /// Primary identifier.
    pub surname: &'a str,
    /// Secondary identifier; spaces become `<`.
    pub given: &'a str,
    /// Document number, at most 9 characters.
    pub number: &'a str,
    /// Nationality.
    pub nationality: &'a str,
    /// Birth date `YYMMDD`.
    pub birth: &'a str,
    /// `M`, `F`, `<` or `X`.
    pub sex: char,
    /// Expiry date `YYMMDD`.
    pub expiry: &'a str,
}

/// The two 44-character lines of a TD3 zone with an empty personal number.
pub fn compose_td3(fields: &Td3Fields<'_>) -> [String; 2] {
    let Td3Fields {
        state,
        surname,
        given,
        number,
        nationality,
        birth,
        sex,
        expiry,
    } = *fields;
    let name = format!("{surname}<<{}", given.replace(' ', "<"));
    let line1: String = format!("P<{state}{name:<<39}").chars().take(44).collect();
    let number_field = format!("{number:<<9}");
    let personal = "<".repeat(14);
    let digit = |text: &str| char::from(b'0' + check_digit(text.as_bytes()));
    let part1 = format!("{number_field}{}", digit(&number_field));
    let part2 = format!("{birth}{}", digit(birth));
    let part3 = format!("{expiry}{}{personal}{}", digit(expiry), digit(&personal));
    let composite = digit(&format!("{part1}{part2}{part3}"));
    let line2 = format!("{part1}{nationality}{part2}{sex}{part3}{composite}");
    [line1, line2]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::mrz::{Mode, ParseOptions, parse};

    #[test]
    fn composed_zone_reproduces_the_icao_specimen_and_parses_valid() {
        let lines = compose_td3(&Td3Fields {
            state: "UTO",
            surname: "ERIKSSON",
            given: "ANNA MARIA",
            number: "L898902C3",
            nationality: "UTO",
            birth: "740812",
            sex: 'F',
            expiry: "120415",
        });
        assert_eq!(lines[0], "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<");
        assert_eq!(&lines[1][..28], "L898902C36UTO7408122F1204159");
        let options = ParseOptions {
            mode: Mode::Strict,
            reference_date: jiff::civil::date(2010, 1, 1),
            french_national_id: false,
        };
        assert!(parse(&lines.join("\n"), &options).is_valid());
    }
}
