//! Serial stream framing: CR, CRLF or STX…ETX terminated frames, bounded, with ACK/NAK replies.

use serde::{Deserialize, Serialize};

use super::{FRAME_BYTES_MAX, FrameError, garbled};

/// Start of text.
pub const STX: u8 = 0x02;
/// End of text.
pub const ETX: u8 = 0x03;
/// Positive acknowledgement (the host's reply to a good frame in ACK/NAK mode).
pub const ACK: u8 = 0x06;
/// Negative acknowledgement: asks the scanner to resend.
pub const NAK: u8 = 0x15;
const CR: u8 = b'\r';
const LF: u8 = b'\n';

/// How frames are delimited on a serial line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Framing {
    /// Each frame ends with CR; a LF right after it is ignored.
    Cr,
    /// Each frame ends with CR LF (a bare LF also ends it; a CR inside is kept as a line break).
    Crlf,
    /// Each frame is `STX data ETX`; bytes outside are garbage.
    StxEtx,
}

/// One result of feeding bytes to a [`SerialFramer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SerialEvent {
    /// A complete frame, terminators removed.
    Frame(Vec<u8>),
    /// Input that could not be framed.
    Problem(FrameError),
}

impl SerialEvent {
    /// The byte the host sends back in ACK/NAK mode: ACK a frame, NAK a garbled or cut one.
    pub fn handshake_reply(&self) -> Option<u8> {
        match self {
            Self::Frame(_) => Some(ACK),
            Self::Problem(FrameError::Garbage { .. }) => None,
            Self::Problem(_) => Some(NAK),
        }
    }
}

/// A byte-at-a-time framer: any split of the input stream yields the same events.
#[derive(Debug, Clone)]
pub struct SerialFramer {
    framing: Framing,
    frame: Vec<u8>,
    /// Inside STX…ETX (StxEtx framing only).
    in_frame: bool,
    /// Bytes being dropped because the current frame went over the limit.
    overflow: usize,
    /// Garbage bytes seen since the last report.
    garbage: usize,
    /// The previous byte ended a frame with CR (so a following LF is part of the terminator).
    after_cr: bool,
    /// Longest frame kept, in bytes.
    limit: usize,
}

impl SerialFramer {
    /// A framer for one device.
    pub fn new(framing: Framing) -> Self {
        Self {
            framing,
            frame: Vec::new(),
            in_frame: false,
            overflow: 0,
            garbage: 0,
            after_cr: false,
            limit: FRAME_BYTES_MAX,
        }
    }

    /// The same framer keeping frames of at most `limit` bytes (`[limits] scan_frame_bytes_max`).
    pub fn with_limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// Feeds bytes; appends complete frames and problems to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<SerialEvent>) {
        for &byte in bytes {
            self.push_byte(byte, out);
        }
    }

    /// Bytes of an unfinished frame (reported when the device goes away mid-frame).
    pub fn pending(&self) -> usize {
        self.frame.len() + self.overflow
    }

    /// Drops an unfinished frame, e.g. after a disconnect; reports it when there was one.
    pub fn reset(&mut self) -> Option<FrameError> {
        let pending = self.pending();
        *self = Self::new(self.framing).with_limit(self.limit);
        (pending > 0).then_some(FrameError::Cut { bytes: pending })
    }

    fn push_byte(&mut self, byte: u8, out: &mut Vec<SerialEvent>) {
        match self.framing {
            Framing::Cr => match byte {
                CR => {
                    self.finish(out);
                    self.after_cr = true;
                    return;
                }
                LF if self.after_cr || self.frame.is_empty() => {}
                _ => self.take(byte),
            },
            Framing::Crlf => match byte {
                LF => {
                    if self.frame.last() == Some(&CR) {
                        self.frame.pop();
                    }
                    self.finish(out);
                }
                _ => self.take(byte),
            },
            Framing::StxEtx => match byte {
                STX => {
                    if self.in_frame {
                        // A new STX inside a frame: the previous one was cut.
                        let cut = self.frame.len() + self.overflow;
                        self.frame.clear();
                        self.overflow = 0;
                        out.push(SerialEvent::Problem(FrameError::Garbage { bytes: cut + 1 }));
                    }
                    self.flush_garbage(out);
                    self.in_frame = true;
                }
                ETX if self.in_frame => {
                    self.in_frame = false;
                    self.finish(out);
                }
                _ if self.in_frame => self.take(byte),
                _ => self.garbage += 1,
            },
        }
        self.after_cr = false;
    }

    fn take(&mut self, byte: u8) {
        if self.overflow > 0 || self.frame.len() >= self.limit {
            self.overflow += 1;
        } else {
            self.frame.push(byte);
        }
    }

    fn flush_garbage(&mut self, out: &mut Vec<SerialEvent>) {
        if self.garbage > 0 {
            out.push(SerialEvent::Problem(FrameError::Garbage {
                bytes: self.garbage,
            }));
            self.garbage = 0;
        }
    }

    fn finish(&mut self, out: &mut Vec<SerialEvent>) {
        self.flush_garbage(out);
        let frame = std::mem::take(&mut self.frame);
        if self.overflow > 0 {
            out.push(SerialEvent::Problem(FrameError::Overlong {
                limit: self.limit,
                dropped: frame.len() + self.overflow,
            }));
            self.overflow = 0;
        } else if let Some(problem) = garbled(&frame) {
            out.push(SerialEvent::Problem(problem));
        } else if !frame.is_empty() {
            out.push(SerialEvent::Frame(frame));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frames(framing: Framing, input: &[u8]) -> Vec<SerialEvent> {
        let mut framer = SerialFramer::new(framing);
        let mut out = Vec::new();
        framer.push(input, &mut out);
        out
    }

    fn f(bytes: &[u8]) -> SerialEvent {
        SerialEvent::Frame(bytes.to_vec())
    }

    #[test]
    fn framings_table() {
        let cases: &[(Framing, &[u8], Vec<SerialEvent>)] = &[
            (Framing::Cr, b"AB\rCD\r", vec![f(b"AB"), f(b"CD")]),
            (Framing::Cr, b"AB\r\nCD\r\n", vec![f(b"AB"), f(b"CD")]),
            (Framing::Cr, b"\r\r", vec![]),
            (Framing::Crlf, b"AB\r\nCD\r\n", vec![f(b"AB"), f(b"CD")]),
            (Framing::Crlf, b"L1\rL2\r\n", vec![f(b"L1\rL2")]),
            (
                Framing::StxEtx,
                b"\x02AB\x03\x02CD\x03",
                vec![f(b"AB"), f(b"CD")],
            ),
            (
                Framing::StxEtx,
                b"xy\x02AB\x03",
                vec![
                    SerialEvent::Problem(FrameError::Garbage { bytes: 2 }),
                    f(b"AB"),
                ],
            ),
            (
                Framing::StxEtx,
                b"\x02A\x02B\x03",
                vec![
                    SerialEvent::Problem(FrameError::Garbage { bytes: 2 }),
                    f(b"B"),
                ],
            ),
        ];
        for (framing, input, expected) in cases {
            assert_eq!(&frames(*framing, input), expected, "{framing:?} {input:?}");
        }
    }

    #[test]
    fn overlong_frame_is_dropped_and_the_next_one_survives() {
        let mut input = vec![b'A'; FRAME_BYTES_MAX + 10];
        input.extend_from_slice(b"\rOK\r");
        let out = frames(Framing::Cr, &input);
        assert_eq!(
            out,
            vec![
                SerialEvent::Problem(FrameError::Overlong {
                    limit: FRAME_BYTES_MAX,
                    dropped: FRAME_BYTES_MAX + 10
                }),
                f(b"OK")
            ]
        );
        assert_eq!(out[0].handshake_reply(), Some(NAK));
        assert_eq!(out[1].handshake_reply(), Some(ACK));
    }

    #[test]
    fn wrong_baud_rate_reads_as_garbled() {
        let out = frames(Framing::Cr, &[0xe0, 0xfe, 0x80, 0x9c, b'\r']);
        assert!(matches!(
            out.as_slice(),
            [SerialEvent::Problem(FrameError::Garbled { .. })]
        ));
    }

    #[test]
    fn a_configured_limit_replaces_the_default() {
        let mut framer = SerialFramer::new(Framing::Cr).with_limit(16);
        let mut out = Vec::new();
        framer.push(b"0123456789abcdefXYZ\rshort\r", &mut out);
        assert_eq!(
            out,
            vec![
                SerialEvent::Problem(FrameError::Overlong {
                    limit: 16,
                    dropped: 19
                }),
                SerialEvent::Frame(b"short".to_vec()),
            ]
        );
    }

    #[test]
    fn reset_reports_a_cut_frame() {
        let mut framer = SerialFramer::new(Framing::Cr);
        framer.push(b"P<UTO", &mut Vec::new());
        assert!(framer.reset().is_some());
        assert!(framer.reset().is_none());
    }

    proptest! {
        #[test]
        fn any_split_yields_the_same_events(
            input in proptest::collection::vec(prop_oneof![Just(b'\r'), Just(b'\n'), Just(STX), Just(ETX), any::<u8>(), 0x20u8..0x7f], 0..300),
            cuts in proptest::collection::vec(0usize..300, 0..10),
            framing in prop_oneof![Just(Framing::Cr), Just(Framing::Crlf), Just(Framing::StxEtx)],
        ) {
            let whole = frames(framing, &input);
            let mut framer = SerialFramer::new(framing);
            let mut out = Vec::new();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(input.len())).collect();
            cuts.sort_unstable();
            let mut start = 0;
            for cut in cuts.into_iter().chain(std::iter::once(input.len())) {
                framer.push(&input[start..cut], &mut out);
                start = cut;
            }
            prop_assert_eq!(whole, out);
        }
    }
}
