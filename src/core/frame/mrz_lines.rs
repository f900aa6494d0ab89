//! MRZ line assembly: a reader sends the 2 or 3 lines as one frame or line by line; lines are
//! grouped by their width (TD1 3×30, TD2 2×36, TD3 2×44) within an inter-line timeout.

use std::fmt;
use std::time::Duration;

use super::FrameError;

/// The ICAO 9303 MRZ layouts, by line width and count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MrzFormat {
    /// ID card: 3 lines of 30.
    Td1,
    /// 2 lines of 36 (TD2 cards and MRV-B visas).
    Td2,
    /// Passport: 2 lines of 44.
    Td3,
}

impl MrzFormat {
    /// The format whose lines are `width` characters long.
    pub fn from_width(width: usize) -> Option<Self> {
        match width {
            30 => Some(Self::Td1),
            36 => Some(Self::Td2),
            44 => Some(Self::Td3),
            _ => None,
        }
    }

    /// Characters per line.
    pub fn width(self) -> usize {
        match self {
            Self::Td1 => 30,
            Self::Td2 => 36,
            Self::Td3 => 44,
        }
    }

    /// Lines per document.
    pub fn line_count(self) -> usize {
        match self {
            Self::Td1 => 3,
            _ => 2,
        }
    }
}

/// The lines of one MRZ, in clear text; `Debug` shows only the format, never the content.
#[derive(Clone, PartialEq, Eq)]
pub struct MrzLines {
    format: MrzFormat,
    lines: Vec<String>,
}

impl MrzLines {
    /// The layout.
    pub fn format(&self) -> MrzFormat {
        self.format
    }

    /// The clear lines, for the MRZ parser only; never log them.
    pub fn expose(&self) -> &[String] {
        &self.lines
    }

    /// A log-safe form: the document code and issuing state, the rest hidden.
    pub fn masked(&self) -> String {
        let head: String = self
            .lines
            .first()
            .map(|line| line.chars().take(5).collect())
            .unwrap_or_default();
        format!(
            "{:?} {head}… ({} lines hidden)",
            self.format,
            self.lines.len()
        )
    }
}

impl fmt::Debug for MrzLines {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MrzLines({})", self.masked())
    }
}

/// Result of feeding the assembler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MrzOutput {
    /// A complete document.
    Document(MrzLines),
    /// Input discarded (partial document, unknown width).
    Problem(FrameError),
}

/// Groups MRZ lines into documents. Time is a monotonic offset passed in by the caller.
#[derive(Debug, Clone)]
pub struct MrzAssembler {
    timeout: Duration,
    format: Option<MrzFormat>,
    lines: Vec<String>,
    last_line_at: Duration,
}

impl MrzAssembler {
    /// An assembler that discards a partial document when the next line is later than `timeout`.
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            format: None,
            lines: Vec::new(),
            last_line_at: Duration::ZERO,
        }
    }

    /// When a partial document expires, if one is pending.
    pub fn deadline(&self) -> Option<Duration> {
        (!self.lines.is_empty()).then(|| self.last_line_at + self.timeout)
    }

    /// Discards a partial document whose inter-line timeout has passed.
    pub fn poll(&mut self, now: Duration, out: &mut Vec<MrzOutput>) {
        if self.deadline().is_some_and(|deadline| now > deadline) {
            self.discard("next line not received within the inter-line timeout", out);
        }
    }

    /// Discards a partial document unconditionally (the device went away).
    pub fn abort(&mut self, out: &mut Vec<MrzOutput>) {
        if !self.lines.is_empty() {
            self.discard("device disconnected", out);
        }
    }

    /// Feeds one frame: one line, several lines separated by CR/LF, or lines run together.
    pub fn push_frame(&mut self, frame: &[u8], now: Duration, out: &mut Vec<MrzOutput>) {
        self.poll(now, out);
        for line in frame.split(|&b| b == b'\r' || b == b'\n') {
            let line = line.trim_ascii();
            if line.is_empty() {
                continue;
            }
            match run_together_width(line.len()) {
                Some(width) => {
                    for chunk in line.chunks(width) {
                        self.push_line(chunk, now, out);
                    }
                }
                None => self.push_line(line, now, out),
            }
        }
    }

    fn push_line(&mut self, line: &[u8], now: Duration, out: &mut Vec<MrzOutput>) {
        let Some(format) = MrzFormat::from_width(line.len()) else {
            out.push(MrzOutput::Problem(FrameError::PartialMrz {
                reason: format!(
                    "line of {} characters is not an MRZ width (30, 36, 44)",
                    line.len()
                ),
            }));
            return;
        };
        if let Some(position) = line.iter().position(|&b| !is_mrz_char(b)) {
            out.push(MrzOutput::Problem(FrameError::PartialMrz {
                reason: format!("character at position {position} is not an MRZ character"),
            }));
            return;
        }
        if self.format.is_some_and(|pending| pending != format) {
            self.discard("line width changed within a document", out);
        }
        self.format = Some(format);
        // Checked by is_mrz_char: plain ASCII.
        self.lines
            .push(line.iter().map(|&b| char::from(b)).collect());
        self.last_line_at = now;
        if self.lines.len() == format.line_count() {
            out.push(MrzOutput::Document(MrzLines {
                format,
                lines: std::mem::take(&mut self.lines),
            }));
            self.format = None;
        }
    }

    fn discard(&mut self, why: &str, out: &mut Vec<MrzOutput>) {
        let format = self.format.map(|f| format!("{f:?}")).unwrap_or_default();
        out.push(MrzOutput::Problem(FrameError::PartialMrz {
            reason: format!("{format} {} line(s) received, {why}", self.lines.len()),
        }));
        self.lines.clear();
        self.format = None;
    }
}

/// The line width of a whole MRZ sent without separators (90 = 3×30, 72 = 2×36, 88 = 2×44).
fn run_together_width(len: usize) -> Option<usize> {
    match len {
        90 => Some(30),
        72 => Some(36),
        88 => Some(44),
        _ => None,
    }
}

fn is_mrz_char(b: u8) -> bool {
    b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'<'
}

#[cfg(test)]
mod tests {
    use super::*;

    const TD3: [&str; 2] = [
        "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
        "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
    ];
    const TD1: [&str; 3] = [
        "I<UTOD231458907<<<<<<<<<<<<<<<",
        "7408122F1204159UTO<<<<<<<<<<<6",
        "ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
    ];
    const SECOND: Duration = Duration::from_secs(1);

    fn assemble(frames: &[(&str, u64)]) -> Vec<MrzOutput> {
        let mut assembler = MrzAssembler::new(Duration::from_millis(500));
        let mut out = Vec::new();
        for (frame, at_ms) in frames {
            assembler.push_frame(frame.as_bytes(), Duration::from_millis(*at_ms), &mut out);
        }
        out
    }

    fn document(out: &[MrzOutput]) -> Option<&MrzLines> {
        out.iter().find_map(|o| match o {
            MrzOutput::Document(lines) => Some(lines),
            MrzOutput::Problem(_) => None,
        })
    }

    #[test]
    fn td3_line_by_line_one_frame_and_run_together() {
        let joined_cr = format!("{}\r{}", TD3[0], TD3[1]);
        let run_together = format!("{}{}", TD3[0], TD3[1]);
        for frames in [
            vec![(TD3[0], 0), (TD3[1], 100)],
            vec![(joined_cr.as_str(), 0)],
            vec![(run_together.as_str(), 0)],
        ] {
            let out = assemble(&frames);
            assert_eq!(out.len(), 1, "{out:?}");
            let lines = document(&out).expect("a document");
            assert_eq!(lines.format(), MrzFormat::Td3);
            assert_eq!(lines.expose(), TD3);
        }
    }

    #[test]
    fn td1_three_lines() {
        let out = assemble(&[(TD1[0], 0), (TD1[1], 10), (TD1[2], 20)]);
        assert_eq!(document(&out).map(MrzLines::format), Some(MrzFormat::Td1));
    }

    #[test]
    fn late_line_discards_the_partial_document() {
        let out = assemble(&[(TD3[0], 0), (TD3[1], 900)]);
        assert!(matches!(
            &out[0],
            MrzOutput::Problem(FrameError::PartialMrz { .. })
        ));
        assert!(document(&out).is_none());
        let mut assembler = MrzAssembler::new(SECOND);
        let mut out = Vec::new();
        assembler.push_frame(TD1[0].as_bytes(), Duration::ZERO, &mut out);
        assert_eq!(assembler.deadline(), Some(SECOND));
        assembler.poll(SECOND * 2, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(assembler.deadline(), None);
    }

    #[test]
    fn width_change_and_bad_lines_are_reported() {
        let out = assemble(&[(TD1[0], 0), (TD3[0], 10), (TD3[1], 20)]);
        assert!(matches!(&out[0], MrzOutput::Problem(_)));
        assert_eq!(document(&out).map(MrzLines::format), Some(MrzFormat::Td3));
        let out = assemble(&[("SHORT", 0)]);
        assert!(matches!(&out[0], MrzOutput::Problem(_)));
        let out = assemble(&[("p<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", 0)]);
        assert!(matches!(&out[0], MrzOutput::Problem(_)));
    }

    #[test]
    fn debug_never_shows_the_lines() {
        let out = assemble(&[(TD3[0], 0), (TD3[1], 1)]);
        let shown = format!("{out:?}");
        assert!(!shown.contains("ERIKSSON"), "{shown}");
        assert!(!shown.contains("L898902C3"), "{shown}");
    }
}
