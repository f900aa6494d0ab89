//! Boot-protocol keyboard reports (HID 1.11 appendix B) decoded with a fixed US table; the
//! scanner's keyboard country must be set to US (on other layouts `<` is a different key).

use super::{FRAME_BYTES_MAX, FrameError};

/// Length of a boot keyboard input report: modifiers, reserved, six key codes.
pub const BOOT_REPORT_LEN: usize = 8;
const MOD_SHIFT: u8 = 0x02 | 0x20;
const KEY_ROLLOVER: u8 = 0x01;
const KEY_ENTER: u8 = 0x28;
const KEY_KEYPAD_ENTER: u8 = 0x58;

/// The character of a key usage on a US keyboard, unshifted and shifted.
fn us_char(usage: u8, shift: bool) -> Option<u8> {
    const DIGITS: &[u8; 10] = b"1234567890";
    const SHIFTED_DIGITS: &[u8; 10] = b"!@#$%^&*()";
    // Usages 0x2C..=0x38 (0x32 is the non-US # key, absent on US boards).
    const PUNCT: &[u8; 13] = b" -=[]\\\0;'`,./";
    const SHIFTED_PUNCT: &[u8; 13] = b" _+{}|\0:\"~<>?";
    let c = match usage {
        0x04..=0x1d => {
            let letter = b'a' + (usage - 0x04);
            if shift {
                letter.to_ascii_uppercase()
            } else {
                letter
            }
        }
        0x1e..=0x27 => {
            let table = if shift { SHIFTED_DIGITS } else { DIGITS };
            *table.get(usize::from(usage - 0x1e))?
        }
        0x2b => b'\t',
        0x2c..=0x38 => {
            let table = if shift { SHIFTED_PUNCT } else { PUNCT };
            *table.get(usize::from(usage - 0x2c))?
        }
        _ => return None,
    };
    (c != 0).then_some(c)
}

/// Result of decoding one report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyboardOutput {
    /// Text typed up to Enter.
    Line(Vec<u8>),
    /// A report or key that could not be decoded.
    Problem(FrameError),
}

/// Turns press/release reports into lines of text.
#[derive(Debug, Clone)]
pub struct BootKeyboardDecoder {
    pressed: [u8; 6],
    line: Vec<u8>,
    overflow: usize,
    limit: usize,
}

impl Default for BootKeyboardDecoder {
    fn default() -> Self {
        Self {
            pressed: [0; 6],
            line: Vec::new(),
            overflow: 0,
            limit: FRAME_BYTES_MAX,
        }
    }
}

impl BootKeyboardDecoder {
    /// A decoder for one device.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same decoder keeping lines of at most `limit` bytes.
    pub fn with_limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// Drops a partial line (after a disconnect), reporting it.
    pub fn reset(&mut self) -> Option<FrameError> {
        let bytes = self.line.len() + self.overflow;
        *self = Self::new().with_limit(self.limit);
        (bytes > 0).then_some(FrameError::Cut { bytes })
    }

    /// Feeds one 8-byte report.
    pub fn push_report(&mut self, report: &[u8], out: &mut Vec<KeyboardOutput>) {
        let Some(report) = report.get(..BOOT_REPORT_LEN) else {
            out.push(KeyboardOutput::Problem(FrameError::BadReport {
                reason: format!(
                    "keyboard report of {} bytes, expected {BOOT_REPORT_LEN}",
                    report.len()
                ),
            }));
            return;
        };
        let shift = report[0] & MOD_SHIFT != 0;
        let mut keys = [0u8; 6];
        keys.copy_from_slice(&report[2..BOOT_REPORT_LEN]);
        if keys.contains(&KEY_ROLLOVER) {
            out.push(KeyboardOutput::Problem(FrameError::BadReport {
                reason: "keyboard rollover error report".into(),
            }));
            return;
        }
        for &usage in keys.iter().filter(|&&k| k != 0) {
            if self.pressed.contains(&usage) {
                continue;
            }
            self.key_down(usage, shift, out);
        }
        self.pressed = keys;
    }

    fn key_down(&mut self, usage: u8, shift: bool, out: &mut Vec<KeyboardOutput>) {
        if usage == KEY_ENTER || usage == KEY_KEYPAD_ENTER {
            let line = std::mem::take(&mut self.line);
            if std::mem::take(&mut self.overflow) > 0 {
                out.push(KeyboardOutput::Problem(FrameError::Overlong {
                    limit: self.limit,
                    dropped: line.len(),
                }));
            } else if !line.is_empty() {
                out.push(KeyboardOutput::Line(line));
            }
            return;
        }
        match us_char(usage, shift) {
            Some(_) if self.line.len() >= self.limit => self.overflow += 1,
            Some(c) => self.line.push(c),
            None => out.push(KeyboardOutput::Problem(FrameError::UnknownKey { usage })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Press and release reports typing `text` then Enter on a US keyboard.
    fn type_text(text: &str) -> Vec<[u8; 8]> {
        let mut reports = Vec::new();
        for c in text.bytes().chain(std::iter::once(b'\n')) {
            let key = if c == b'\n' {
                (0, KEY_ENTER)
            } else {
                (1u8..=0xff)
                    .flat_map(|u| [(0u8, u), (2u8, u)])
                    .find(|&(m, u)| us_char(u, m != 0) == Some(c))
                    .expect("character typeable on US")
            };
            reports.push([key.0, 0, key.1, 0, 0, 0, 0, 0]);
            reports.push([0; 8]);
        }
        reports
    }

    fn decode(reports: &[[u8; 8]]) -> Vec<KeyboardOutput> {
        let mut decoder = BootKeyboardDecoder::new();
        let mut out = Vec::new();
        for report in reports {
            decoder.push_report(report, &mut out);
        }
        out
    }

    #[test]
    fn umockdev_example_reports_decode_to_p_lt_d() {
        let reports = [
            [0x02, 0, 0x13, 0, 0, 0, 0, 0],
            [0; 8],
            [0x02, 0, 0x36, 0, 0, 0, 0, 0],
            [0; 8],
            [0x02, 0, 0x07, 0, 0, 0, 0, 0],
            [0; 8],
            [0x00, 0, 0x28, 0, 0, 0, 0, 0],
            [0; 8],
        ];
        assert_eq!(
            decode(&reports),
            vec![KeyboardOutput::Line(b"P<D".to_vec())]
        );
    }

    #[test]
    fn repeated_letters_need_a_release_and_non_us_keys_are_reported() {
        assert_eq!(
            decode(&type_text("P<<UTO")),
            vec![KeyboardOutput::Line(b"P<<UTO".to_vec())]
        );
        let out = decode(&[[0, 0, 0x64, 0, 0, 0, 0, 0], [0; 8]]);
        assert_eq!(
            out,
            vec![KeyboardOutput::Problem(FrameError::UnknownKey {
                usage: 0x64
            })]
        );
        let out = decode(&[[0, 0, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01]]);
        assert!(matches!(
            out[0],
            KeyboardOutput::Problem(FrameError::BadReport { .. })
        ));
    }

    proptest! {
        #[test]
        fn any_printable_text_round_trips(text in "[ -~]{1,80}") {
            prop_assert_eq!(decode(&type_text(&text)), vec![KeyboardOutput::Line(text.into_bytes())]);
        }

        #[test]
        fn arbitrary_reports_never_panic(reports in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..10), 0..50)) {
            let mut decoder = BootKeyboardDecoder::new();
            let mut out = Vec::new();
            for report in &reports {
                decoder.push_report(report, &mut out);
            }
        }
    }
}
