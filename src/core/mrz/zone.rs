//! The validated character grid of one MRZ: fixed-size, no allocation, only `A-Z 0-9 <`.

use super::check_digit::CheckDigitSum;
use super::layout::{LINES_MAX, Range, TD3_LINE_WIDTH};

/// Lines of a shape-checked, charset-checked MRZ.
#[derive(Clone)]
pub(crate) struct Zone {
    lines: [[u8; TD3_LINE_WIDTH]; LINES_MAX],
}

impl Zone {
    /// Copies lines already checked for count, width (≤ 44) and charset (ASCII).
    pub fn new<S: AsRef<str>>(lines: &[S]) -> Self {
        let mut zone = Self {
            lines: [[b'<'; TD3_LINE_WIDTH]; LINES_MAX],
        };
        for (target, line) in zone.lines.iter_mut().zip(lines) {
            let bytes = line.as_ref().as_bytes();
            let n_bytes = bytes.len().min(TD3_LINE_WIDTH);
            target[..n_bytes].copy_from_slice(&bytes[..n_bytes]);
        }
        zone
    }

    pub fn bytes(&self, range: Range) -> &[u8] {
        self.lines
            .get(range.line)
            .and_then(|line| line.get(range.start..range.end))
            .unwrap_or(&[])
    }

    pub fn text(&self, range: Range) -> &str {
        std::str::from_utf8(self.bytes(range)).expect("the zone holds only checked ASCII")
    }

    /// The single character at `range.start`.
    pub fn byte(&self, range: Range) -> u8 {
        self.bytes(range).first().copied().unwrap_or(b'<')
    }

    pub fn set(&mut self, line: usize, column: usize, byte: u8) {
        if let Some(slot) = self
            .lines
            .get_mut(line)
            .and_then(|line| line.get_mut(column))
        {
            *slot = byte;
        }
    }

    /// The check digit over several ranges, the weights running on across them.
    pub fn check_digit_over(&self, ranges: &[Range]) -> u8 {
        let mut sum = CheckDigitSum::default();
        for &range in ranges {
            sum.push(self.bytes(range));
        }
        sum.digit()
    }
}
