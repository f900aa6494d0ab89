//! From raw text to MRZ lines: blank lines and surrounding spaces dropped, then, in tolerant mode
//! only, the scanner variants (lower case, `«` or spaces for `<`, CR line ends, missing or extra
//! trailing fillers, one unbroken line) rewritten, each rewrite recorded.

use serde::Serialize;

use super::layout::{LINES_MAX, TD1_LINE_WIDTH, TD2_LINE_WIDTH, TD3_LINE_WIDTH};

/// One kind of rewrite the tolerant mode made to the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Normalisation {
    /// Carriage returns were taken as line ends.
    LineEndings,
    /// Lower-case letters were upper-cased.
    Lowercase {
        /// Line, from 1.
        line: u8,
    },
    /// `«` was read as the filler `<`.
    GuillemetFiller {
        /// Line, from 1.
        line: u8,
    },
    /// Spaces inside a line were read as fillers.
    SpaceFiller {
        /// Line, from 1.
        line: u8,
    },
    /// Trailing fillers missing from a short line were added.
    TrailingFillersAdded {
        /// Line, from 1.
        line: u8,
        /// How many.
        count: u8,
    },
    /// Fillers beyond the line width were removed.
    ExcessFillersRemoved {
        /// Line, from 1.
        line: u8,
        /// How many.
        count: u8,
    },
    /// One unbroken line of a whole MRZ's length was cut into lines.
    LinesSplit,
}

impl Normalisation {
    /// The machine code reported among the warnings.
    pub const fn code(self) -> &'static str {
        match self {
            Self::LineEndings => "normalised_line_endings",
            Self::Lowercase { .. } => "normalised_lowercase",
            Self::GuillemetFiller { .. } => "normalised_guillemet_filler",
            Self::SpaceFiller { .. } => "normalised_space_filler",
            Self::TrailingFillersAdded { .. } => "normalised_trailing_fillers_added",
            Self::ExcessFillersRemoved { .. } => "normalised_excess_fillers_removed",
            Self::LinesSplit => "normalised_lines_split",
        }
    }
}

fn line_number(index: usize) -> u8 {
    u8::try_from(index + 1).unwrap_or(u8::MAX)
}

/// Non-blank lines with surrounding white space removed, as the strict mode sees them.
pub(crate) fn strict_lines(text: &str) -> Vec<&str> {
    text.split('\n')
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect()
}

/// The tolerant reading: lines plus what was rewritten to get them.
pub(crate) fn tolerant_lines(text: &str, normalisations: &mut Vec<Normalisation>) -> Vec<String> {
    if text.contains('\r') {
        normalisations.push(Normalisation::LineEndings);
    }
    let mut lines: Vec<String> = Vec::with_capacity(LINES_MAX);
    for raw_line in text.split(['\n', '\r']) {
        let raw_line = raw_line.trim();
        if raw_line.is_empty() {
            continue;
        }
        let line_index = lines.len();
        let mut line = String::with_capacity(raw_line.len());
        let (mut lowercase, mut guillemet, mut space) = (false, false, false);
        for c in raw_line.chars() {
            line.push(match c {
                'a'..='z' => {
                    lowercase = true;
                    c.to_ascii_uppercase()
                }
                '«' => {
                    guillemet = true;
                    '<'
                }
                ' ' | '\t' => {
                    space = true;
                    '<'
                }
                _ => c,
            });
        }
        let line_no = line_number(line_index);
        if lowercase {
            normalisations.push(Normalisation::Lowercase { line: line_no });
        }
        if guillemet {
            normalisations.push(Normalisation::GuillemetFiller { line: line_no });
        }
        if space {
            normalisations.push(Normalisation::SpaceFiller { line: line_no });
        }
        lines.push(line);
    }
    if let [single] = lines.as_slice() {
        let width = match single.len() {
            90 => Some(TD1_LINE_WIDTH),
            72 => Some(TD2_LINE_WIDTH),
            88 => Some(TD3_LINE_WIDTH),
            _ => None,
        };
        if let Some(width) = width.filter(|_| single.is_ascii()) {
            let split = single
                .as_bytes()
                .chunks(width)
                .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
                .collect();
            lines = split;
            normalisations.push(Normalisation::LinesSplit);
        }
    }
    let target_width = match lines.len() {
        3 => Some(TD1_LINE_WIDTH),
        2 => {
            let widest = lines.iter().map(|line| line.chars().count()).max();
            Some(if widest.unwrap_or(0) <= TD2_LINE_WIDTH {
                TD2_LINE_WIDTH
            } else {
                TD3_LINE_WIDTH
            })
        }
        _ => None,
    };
    if let Some(width) = target_width {
        for (index, line) in lines.iter_mut().enumerate() {
            fit_width(line, width, line_number(index), normalisations);
        }
    }
    lines
}

/// Pads a short line with fillers, or drops fillers beyond the width; anything else is left for
/// the line-length check to report.
fn fit_width(
    line: &mut String,
    width: usize,
    line_no: u8,
    normalisations: &mut Vec<Normalisation>,
) {
    let n_chars = line.chars().count();
    let count = |n: usize| u8::try_from(n).unwrap_or(u8::MAX);
    if n_chars < width {
        let missing = width - n_chars;
        line.extend(std::iter::repeat_n('<', missing));
        normalisations.push(Normalisation::TrailingFillersAdded {
            line: line_no,
            count: count(missing),
        });
    } else if n_chars > width
        && line.is_ascii()
        && line
            .as_bytes()
            .get(width..)
            .is_some_and(|excess| excess.iter().all(|&b| b == b'<'))
    {
        let excess = n_chars - width;
        line.truncate(width);
        normalisations.push(Normalisation::ExcessFillersRemoved {
            line: line_no,
            count: count(excess),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_drops_blank_lines_and_surrounding_spaces_only() {
        assert_eq!(strict_lines("\n  AB<C \r\n\n D\n"), vec!["AB<C", "D"]);
        assert_eq!(strict_lines("A B"), vec!["A B"]);
    }

    #[test]
    fn tolerant_rewrites_are_recorded() {
        let mut normalisations = Vec::new();
        let lines = tolerant_lines("p<uto«x y\r\nL8", &mut normalisations);
        assert_eq!(lines[0], format!("P<UTO<X<Y{}", "<".repeat(27)));
        assert_eq!(lines[1].len(), 36);
        let codes: Vec<_> = normalisations.iter().map(|n| n.code()).collect();
        assert_eq!(
            codes,
            [
                "normalised_line_endings",
                "normalised_lowercase",
                "normalised_guillemet_filler",
                "normalised_space_filler",
                "normalised_trailing_fillers_added",
                "normalised_trailing_fillers_added",
            ]
        );
    }

    #[test]
    fn tolerant_splits_one_unbroken_line() {
        let mut normalisations = Vec::new();
        let lines = tolerant_lines(&"<".repeat(88), &mut normalisations);
        assert_eq!(lines.len(), 2);
        assert_eq!(normalisations, [Normalisation::LinesSplit]);
    }
}
