//! The formats of Doc 9303 parts 4–7 (and the opt-in pre-2021 French identity card) and where
//! each field sits in them.

use serde::Serialize;

/// Characters per line of a TD1 card (3 lines).
pub const TD1_LINE_WIDTH: usize = 30;
/// Characters per line of a TD2 card or MRV-B visa (2 lines).
pub const TD2_LINE_WIDTH: usize = 36;
/// Characters per line of a TD3 passport or MRV-A visa (2 lines).
pub const TD3_LINE_WIDTH: usize = 44;
/// Every line width a scanner's line assembler may meet, narrowest first.
pub const LINE_WIDTHS: [usize; 3] = [TD1_LINE_WIDTH, TD2_LINE_WIDTH, TD3_LINE_WIDTH];
/// The most lines any format has.
pub const LINES_MAX: usize = 3;

/// A machine-readable-zone format, told by shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Format {
    /// Identity card, 3 × 30.
    #[serde(rename = "TD1")]
    Td1,
    /// Identity card or other official travel document, 2 × 36.
    #[serde(rename = "TD2")]
    Td2,
    /// Passport, 2 × 44.
    #[serde(rename = "TD3")]
    Td3,
    /// Full-size visa, 2 × 44.
    #[serde(rename = "MRVA")]
    MrvA,
    /// Small visa, 2 × 36.
    #[serde(rename = "MRVB")]
    MrvB,
    /// The French national identity card issued until 2021, 2 × 36 (opt-in national layout).
    #[serde(rename = "FRENCH_ID")]
    FrenchId,
}

impl Format {
    /// The number of lines.
    pub const fn line_count(self) -> usize {
        match self {
            Self::Td1 => 3,
            Self::Td2 | Self::Td3 | Self::MrvA | Self::MrvB | Self::FrenchId => 2,
        }
    }

    /// The characters per line.
    pub const fn line_width(self) -> usize {
        match self {
            Self::Td1 => TD1_LINE_WIDTH,
            Self::Td2 | Self::MrvB | Self::FrenchId => TD2_LINE_WIDTH,
            Self::Td3 | Self::MrvA => TD3_LINE_WIDTH,
        }
    }

    /// The name used in reports and the CLI's JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Td1 => "TD1",
            Self::Td2 => "TD2",
            Self::Td3 => "TD3",
            Self::MrvA => "MRVA",
            Self::MrvB => "MRVB",
            Self::FrenchId => "FRENCH_ID",
        }
    }

    /// Whether this is a visa (no composite check digit, no long document numbers).
    pub const fn is_visa(self) -> bool {
        matches!(self, Self::MrvA | Self::MrvB)
    }

    pub(crate) fn layout(self) -> &'static Layout {
        match self {
            Self::Td1 => &TD1,
            Self::Td2 => &TD2,
            Self::Td3 => &TD3,
            Self::MrvA => &MRV_A,
            Self::MrvB => &MRV_B,
            Self::FrenchId => &FRENCH_ID,
        }
    }
}

/// A field's place: line index and byte range, all 0-based, end exclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Range {
    pub line: usize,
    pub start: usize,
    pub end: usize,
}

const fn range(line: usize, start: usize, end: usize) -> Range {
    Range { line, start, end }
}

/// A field's position as Doc 9303 numbers it: line and columns from 1, end inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Position {
    /// Line, from 1.
    pub line: u8,
    /// First column, from 1.
    pub start: u8,
    /// Last column, from 1, inclusive.
    pub end: u8,
}

impl From<Range> for Position {
    fn from(range: Range) -> Self {
        let to_u8 =
            |value: usize| u8::try_from(value).expect("MRZ lines are at most 44 characters");
        Self {
            line: to_u8(range.line + 1),
            start: to_u8(range.start + 1),
            end: to_u8(range.end),
        }
    }
}

/// Where the holder's name is.
pub(crate) enum NameLayout {
    /// Primary and secondary identifiers in one field, separated by `<<`.
    Combined(Range),
    /// Surname and given names in separate fields (French identity card).
    Split { surname: Range, given_names: Range },
}

/// The fields of one format.
pub(crate) struct Layout {
    pub document_code: Range,
    pub issuing_state: Range,
    pub name: NameLayout,
    pub number: Range,
    pub number_check: Range,
    /// Long numbers continue in this optional-data field (TD1, TD2).
    pub number_continuation: Option<Range>,
    pub nationality: Option<Range>,
    pub birth: Range,
    pub birth_check: Range,
    pub sex: Range,
    pub expiry: Option<(Range, Range)>,
    pub optional: Option<Range>,
    /// The TD3 personal-number check digit.
    pub optional_check: Option<Range>,
    pub optional_2: Option<Range>,
    pub composite: Option<(Range, &'static [Range])>,
}

static TD1: Layout = Layout {
    document_code: range(0, 0, 2),
    issuing_state: range(0, 2, 5),
    name: NameLayout::Combined(range(2, 0, 30)),
    number: range(0, 5, 14),
    number_check: range(0, 14, 15),
    number_continuation: Some(range(0, 15, 30)),
    nationality: Some(range(1, 15, 18)),
    birth: range(1, 0, 6),
    birth_check: range(1, 6, 7),
    sex: range(1, 7, 8),
    expiry: Some((range(1, 8, 14), range(1, 14, 15))),
    optional: Some(range(0, 15, 30)),
    optional_check: None,
    optional_2: Some(range(1, 18, 29)),
    composite: Some((
        range(1, 29, 30),
        &[
            range(0, 5, 30),
            range(1, 0, 7),
            range(1, 8, 15),
            range(1, 18, 29),
        ],
    )),
};

static TD2: Layout = Layout {
    document_code: range(0, 0, 2),
    issuing_state: range(0, 2, 5),
    name: NameLayout::Combined(range(0, 5, 36)),
    number: range(1, 0, 9),
    number_check: range(1, 9, 10),
    number_continuation: Some(range(1, 28, 35)),
    nationality: Some(range(1, 10, 13)),
    birth: range(1, 13, 19),
    birth_check: range(1, 19, 20),
    sex: range(1, 20, 21),
    expiry: Some((range(1, 21, 27), range(1, 27, 28))),
    optional: Some(range(1, 28, 35)),
    optional_check: None,
    optional_2: None,
    composite: Some((
        range(1, 35, 36),
        &[range(1, 0, 10), range(1, 13, 20), range(1, 21, 35)],
    )),
};

static TD3: Layout = Layout {
    document_code: range(0, 0, 2),
    issuing_state: range(0, 2, 5),
    name: NameLayout::Combined(range(0, 5, 44)),
    number: range(1, 0, 9),
    number_check: range(1, 9, 10),
    number_continuation: None,
    nationality: Some(range(1, 10, 13)),
    birth: range(1, 13, 19),
    birth_check: range(1, 19, 20),
    sex: range(1, 20, 21),
    expiry: Some((range(1, 21, 27), range(1, 27, 28))),
    optional: Some(range(1, 28, 42)),
    optional_check: Some(range(1, 42, 43)),
    optional_2: None,
    composite: Some((
        range(1, 43, 44),
        &[range(1, 0, 10), range(1, 13, 20), range(1, 21, 43)],
    )),
};

static MRV_A: Layout = Layout {
    document_code: range(0, 0, 2),
    issuing_state: range(0, 2, 5),
    name: NameLayout::Combined(range(0, 5, 44)),
    number: range(1, 0, 9),
    number_check: range(1, 9, 10),
    number_continuation: None,
    nationality: Some(range(1, 10, 13)),
    birth: range(1, 13, 19),
    birth_check: range(1, 19, 20),
    sex: range(1, 20, 21),
    expiry: Some((range(1, 21, 27), range(1, 27, 28))),
    optional: Some(range(1, 28, 44)),
    optional_check: None,
    optional_2: None,
    composite: None,
};

static MRV_B: Layout = Layout {
    document_code: range(0, 0, 2),
    issuing_state: range(0, 2, 5),
    name: NameLayout::Combined(range(0, 5, 36)),
    number: range(1, 0, 9),
    number_check: range(1, 9, 10),
    number_continuation: None,
    nationality: Some(range(1, 10, 13)),
    birth: range(1, 13, 19),
    birth_check: range(1, 19, 20),
    sex: range(1, 20, 21),
    expiry: Some((range(1, 21, 27), range(1, 27, 28))),
    optional: Some(range(1, 28, 36)),
    optional_check: None,
    optional_2: None,
    composite: None,
};

/// Line 1: `IDFRA`, surname (25), issuing office (6). Line 2: card number (12: year, month,
/// department, sequence), check, given names (14), birth date, check, sex, composite over
/// all of line 1 and line 2 up to the sex.
static FRENCH_ID: Layout = Layout {
    document_code: range(0, 0, 2),
    issuing_state: range(0, 2, 5),
    name: NameLayout::Split {
        surname: range(0, 5, 30),
        given_names: range(1, 13, 27),
    },
    number: range(1, 0, 12),
    number_check: range(1, 12, 13),
    number_continuation: None,
    nationality: None,
    birth: range(1, 27, 33),
    birth_check: range(1, 33, 34),
    sex: range(1, 34, 35),
    expiry: None,
    optional: Some(range(0, 30, 36)),
    optional_check: None,
    optional_2: None,
    composite: Some((range(1, 35, 36), &[range(0, 0, 36), range(1, 0, 35)])),
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_fits_its_line() {
        for format in [
            Format::Td1,
            Format::Td2,
            Format::Td3,
            Format::MrvA,
            Format::MrvB,
            Format::FrenchId,
        ] {
            let layout = format.layout();
            let mut ranges = vec![
                layout.document_code,
                layout.issuing_state,
                layout.number,
                layout.number_check,
                layout.birth,
                layout.birth_check,
                layout.sex,
            ];
            ranges.extend(layout.nationality);
            ranges.extend(layout.optional);
            ranges.extend(layout.optional_2);
            ranges.extend(layout.optional_check);
            ranges.extend(layout.number_continuation);
            if let Some((expiry, check)) = layout.expiry {
                ranges.extend([expiry, check]);
            }
            if let Some((check, covered)) = layout.composite {
                ranges.push(check);
                ranges.extend(covered.iter().copied());
            }
            match layout.name {
                NameLayout::Combined(name) => ranges.push(name),
                NameLayout::Split {
                    surname,
                    given_names,
                } => ranges.extend([surname, given_names]),
            }
            for field in ranges {
                assert!(field.line < format.line_count(), "{format:?} {field:?}");
                assert!(field.start < field.end, "{format:?} {field:?}");
                assert!(field.end <= format.line_width(), "{format:?} {field:?}");
            }
        }
    }
}
