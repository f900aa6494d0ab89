//! How problems are reported: every one collected with its place (`file:line:column`), serde
//! read again past each problem so one file reports many, and the checks every table shares
//! (a required table, a non-empty string, a number in range).

use std::collections::BTreeSet;
use std::path::Path;

use toml::Spanned;

use crate::config::raw::RawConfig;
use crate::config::{Problem, Problems};

/// Serde stops at the first problem; after each one the offending line is blanked and the text
/// read again, at most this many times, so one file reports many problems.
pub(super) const SERDE_PASSES_MAX: usize = 64;

/// Problems by byte offset, plus the keys already reported by serde (so a key blanked for a wrong
/// type is not reported again as missing).
pub(super) struct Report<'t> {
    text: &'t str,
    pub(super) problems: Vec<(usize, String)>,
    blanked_keys: BTreeSet<String>,
}

impl<'t> Report<'t> {
    pub(super) fn new(text: &'t str) -> Self {
        Self {
            text,
            problems: Vec::new(),
            blanked_keys: BTreeSet::new(),
        }
    }

    pub(super) fn at(&mut self, offset: usize, message: impl Into<String>) {
        self.problems.push((offset, message.into()));
    }

    fn missing(&mut self, offset: usize, table: &str, key: &str, expected: &str) {
        if self.blanked_keys.contains(key) {
            return;
        }
        let dotted = if table.is_empty() {
            key.to_string()
        } else {
            format!("{table}.{key}")
        };
        self.at(
            offset,
            format!("missing key `{dotted}`: expected {expected}"),
        );
    }

    /// The value of a required key, or a "missing" problem at the table.
    pub(super) fn required<'v, T>(
        &mut self,
        value: &'v Option<Spanned<T>>,
        table_offset: usize,
        table: &str,
        key: &str,
        expected: &str,
    ) -> Option<&'v Spanned<T>> {
        if value.is_none() {
            self.missing(table_offset, table, key, expected);
        }
        value.as_ref()
    }

    pub(super) fn into_problems(mut self, path: &Path) -> Problems {
        self.problems.sort_by_key(|(offset, _)| *offset);
        let problems = self
            .problems
            .iter()
            .map(|(offset, message)| {
                let (line, column) = line_column(self.text, *offset);
                Problem {
                    line,
                    column,
                    message: message.clone(),
                }
            })
            .collect();
        Problems {
            path: path.to_path_buf(),
            problems,
        }
    }
}

/// 1-based line and column (in characters) of a byte offset; offsets past the end or inside a
/// character are moved back to the nearest character start.
pub(super) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |index| index + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Syntax first: after a syntax error the typed reading would only add noise (every key of a
/// broken table "missing"), so it runs only on text that parses.
pub(super) fn read_raw(text: &str, report: &mut Report<'_>) -> Option<RawConfig> {
    let n_problems = report.problems.len();
    let mut syntax_checked = text.to_string();
    read_with_recovery::<toml::Table>(&mut syntax_checked, report);
    if report.problems.len() > n_problems {
        return None;
    }
    read_with_recovery::<RawConfig>(&mut text.to_string(), report)
}

/// Reads `working` as `T`; after each error, reports it, blanks its line and tries again.
pub(super) fn read_with_recovery<T: serde::de::DeserializeOwned>(
    working: &mut String,
    report: &mut Report<'_>,
) -> Option<T> {
    for _ in 0..SERDE_PASSES_MAX {
        match toml::from_str::<T>(working) {
            Ok(value) => return Some(value),
            Err(error) => {
                let message = error.message().trim().replace('\n', " ");
                let Some(span) = error.span() else {
                    report.at(0, message);
                    return None;
                };
                report.at(span.start, message);
                match blank_culprit(working, span.start) {
                    Some(key) => {
                        report.blanked_keys.insert(key);
                    }
                    None => return None,
                }
            }
        }
    }
    None
}

/// Blanks the line holding `offset` (a whole table if it is a table header) so the next pass
/// reads past it, keeping byte offsets. Returns the blanked key, or `None` when the line cannot
/// be blanked safely (a multi-line value, or nothing left to blank).
pub(super) fn blank_culprit(working: &mut String, offset: usize) -> Option<String> {
    if offset > working.len() || !working.is_char_boundary(offset) {
        return None;
    }
    let line_start = working[..offset].rfind('\n').map_or(0, |index| index + 1);
    let line_end = working[offset..]
        .find('\n')
        .map_or(working.len(), |index| offset + index);
    let line = &working[line_start..line_end];
    let trimmed = line.trim();
    let (key, end) = if trimmed.starts_with('[') {
        // A bad table header: its keys would otherwise land in the previous table.
        let key = trimmed
            .trim_matches(|c| c == '[' || c == ']')
            .trim()
            .to_string();
        let section_end = next_header_start(working, line_end);
        (key, section_end)
    } else if let Some((key, value)) = line.split_once('=') {
        let balanced = value.matches('[').count() == value.matches(']').count()
            && value.matches('{').count() == value.matches('}').count()
            && !value.contains("\"\"\"")
            && !value.contains("'''");
        if !balanced {
            return None;
        }
        (key.trim().trim_matches('"').to_string(), line_end)
    } else {
        return None;
    };
    if working[line_start..end].trim().is_empty() {
        return None;
    }
    let blank: String = working[line_start..end]
        .chars()
        .map(|c| {
            if c == '\n' {
                "\n".to_string()
            } else {
                " ".repeat(c.len_utf8())
            }
        })
        .collect();
    working.replace_range(line_start..end, &blank);
    Some(key)
}

/// Byte offset of the start of the next line (after `from`) that opens a table, or the end.
pub(super) fn next_header_start(text: &str, from: usize) -> usize {
    let mut position = from;
    for line in text[from..].split_inclusive('\n') {
        if position > from && line.trim_start().starts_with('[') {
            return position;
        }
        position += line.len();
    }
    text.len()
}

/// A table the configuration must have, read by `read`, or reported missing as `what`.
pub(super) fn required_table<T, R>(
    table: &Option<Spanned<T>>,
    name: &str,
    what: &str,
    report: &mut Report<'_>,
    read: impl FnOnce(&Spanned<T>, &mut Report<'_>) -> Option<R>,
) -> Option<R> {
    match table {
        Some(table) => read(table, report),
        None => {
            report.missing(0, "", name, what);
            None
        }
    }
}

pub(super) fn non_empty(
    value: &Spanned<String>,
    what: &str,
    report: &mut Report<'_>,
) -> Option<String> {
    let text = value.get_ref().trim();
    if text.is_empty() {
        report.at(value.span().start, format!("{what} is empty"));
        return None;
    }
    Some(text.to_string())
}

pub(super) fn in_range(
    value: &Spanned<u64>,
    range: &std::ops::RangeInclusive<u64>,
    what: &str,
    report: &mut Report<'_>,
) -> Option<u64> {
    let number = *value.get_ref();
    if range.contains(&number) {
        Some(number)
    } else {
        report.at(
            value.span().start,
            format!(
                "{what} {number} is out of range: expected {} to {}",
                range.start(),
                range.end()
            ),
        );
        None
    }
}
