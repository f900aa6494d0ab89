//! Byte-stream framing for scanners: serial framers, HID report decoding, MRZ line assembly and
//! scanner programming packets, all pure (bytes and time values in, frames out).
//!
//! Architecture invariant: no I/O and no clock reads here; adapters feed bytes and pass the time.

pub mod aim;
pub mod descriptor;
pub mod hid_pos;
pub mod honeywell;
pub mod keyboard;
pub mod mrz_lines;
pub mod pipeline;
pub mod serial;
pub mod ssi;

pub use aim::{AimId, Symbology};
pub use pipeline::{DevicePipeline, PipelineOutput, ScanContent};

/// Upper bound of one frame (one symbol or one MRZ document) in bytes; longer input is dropped.
/// A QR code holds at most 2,953 bytes, a PDF417 about 1,850; 4 KiB leaves room for prefixes.
pub const FRAME_BYTES_MAX: usize = 4096;

/// A problem found in the input of one device: reported, never fatal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A frame grew past the limit without a terminator (a stuck scanner, or wrong framing).
    #[error("frame longer than {limit} bytes without a terminator: {dropped} bytes dropped")]
    Overlong { limit: usize, dropped: usize },
    /// Bytes outside a frame (before STX, or non-printable noise).
    #[error("{bytes} bytes of garbage outside a frame dropped")]
    Garbage { bytes: usize },
    /// Mostly non-printable frame content: typically a baud rate or parity mismatch.
    #[error("garbled input ({bad} of {total} bytes not printable), check line settings")]
    Garbled { bad: usize, total: usize },
    /// An MRZ document that did not complete (missing lines, or a line of the wrong width).
    #[error("partial MRZ document discarded: {reason}")]
    PartialMrz { reason: String },
    /// A frame cut short, typically by a disconnect.
    #[error("frame cut after {bytes} bytes (device went away mid-frame)")]
    Cut { bytes: usize },
    /// A HID report that does not follow the expected layout.
    #[error("bad HID report: {reason}")]
    BadReport { reason: String },
    /// A key that the fixed US table cannot decode (scanner keyboard country not set to US?).
    #[error(
        "key usage 0x{usage:02x} not in the US keyboard table: set the scanner's keyboard country to US"
    )]
    UnknownKey { usage: u8 },
    /// A Zebra SSI packet with a bad length or checksum.
    #[error("bad SSI packet: {reason}")]
    BadSsiPacket { reason: String },
}

/// Share of non-printable bytes above which a frame counts as garbled.
const GARBLED_SHARE_PERCENT: usize = 25;

/// True when a frame is mostly bytes that no scanner sends as data: the sign of a line-settings
/// mismatch (wrong baud rate or parity turns ASCII into high-bit noise).
pub fn garbled(frame: &[u8]) -> Option<FrameError> {
    // GS (0x1d), RS (0x1e) and EOT (0x04) are legitimate in GS1 and ISO 15434 payloads.
    let bad = frame
        .iter()
        .filter(|&&b| !(0x20..0x7f).contains(&b) && !matches!(b, 0x04 | 0x09 | 0x1d | 0x1e))
        .count();
    (!frame.is_empty() && bad * 100 > frame.len() * GARBLED_SHARE_PERCENT).then_some(
        FrameError::Garbled {
            bad,
            total: frame.len(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbled_detects_high_bit_noise_but_accepts_text() {
        assert_eq!(garbled(b"P<UTOERIKSSON<<ANNA"), None);
        assert_eq!(garbled(b"]C1\x1d0101234"), None);
        assert!(matches!(
            garbled(&[0xf0, 0x8e, 0xfe, b'A', 0x80]),
            Some(FrameError::Garbled { bad: 4, total: 5 })
        ));
        assert_eq!(garbled(b""), None);
    }
}
