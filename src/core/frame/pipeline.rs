//! One device's input path, bytes or reports in and scans out: framing, AIM routing, MRZ
//! assembly and the handshake replies owed to the scanner. Pure: the caller passes the time.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::aim::{Symbology, split_aim};
use super::hid_pos::{HidPosAssembler, HidPosLayout};
use super::keyboard::{BootKeyboardDecoder, KeyboardOutput};
use super::mrz_lines::{MrzAssembler, MrzFormat, MrzLines, MrzOutput};
use super::serial::{Framing, SerialEvent, SerialFramer};
use super::ssi::{self, SsiDecoder, SsiPacket};
use super::{FRAME_BYTES_MAX, FrameError};

/// What a device's frames carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScanContent {
    /// Bar codes (QR permit cards and others).
    Symbol,
    /// MRZ lines from an OCR reader.
    Mrz,
    /// Both: MRZ-shaped text without a symbology identifier is MRZ, the rest symbols.
    Auto,
}

/// How bytes or reports reach the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// A serial byte stream with the given framing; `ack_nak` answers each frame.
    Serial { framing: Framing, ack_nak: bool },
    /// A Zebra SSI byte stream (each DECODE_DATA is acknowledged).
    Ssi,
    /// HID POS input reports.
    HidPos(HidPosLayout),
    /// Boot keyboard reports.
    Keyboard,
}

/// A complete scan.
#[derive(Clone, PartialEq, Eq)]
pub struct Scan {
    /// From the AIM identifier (or the SSI barcode type), when known.
    pub symbology: Option<Symbology>,
    /// The symbol's data, or the MRZ lines joined by `\n`.
    pub payload: Vec<u8>,
    /// Symbol or MRZ.
    pub kind: ScanKind,
}

impl fmt::Debug for Scan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The payload may be personal data: show its size only.
        f.debug_struct("Scan")
            .field("symbology", &self.symbology)
            .field("payload_len", &self.payload.len())
            .field("kind", &self.kind)
            .finish()
    }
}

/// What was scanned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanKind {
    /// A bar code.
    Symbol,
    /// A machine-readable zone, assembled and masked in `Debug`.
    Mrz(MrzLines),
}

/// One output of the pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PipelineOutput {
    /// A scan for the decision loop.
    Scan(Scan),
    /// Bytes to write back to the device now (ACK/NAK).
    Reply(Vec<u8>),
    /// A reported problem; the device keeps running.
    Problem(FrameError),
}

#[derive(Debug, Clone)]
enum Decoder {
    Serial {
        framer: SerialFramer,
        ack_nak: bool,
    },
    Ssi {
        decoder: SsiDecoder,
        symbol: Vec<u8>,
        symbology: Option<Symbology>,
    },
    HidPos(HidPosAssembler),
    Keyboard(BootKeyboardDecoder),
}

/// The input path of one device.
#[derive(Debug, Clone)]
pub struct DevicePipeline {
    decoder: Decoder,
    aim: bool,
    content: ScanContent,
    mrz: MrzAssembler,
    /// Longest frame or symbol kept, in bytes.
    frame_bytes_max: usize,
}

impl DevicePipeline {
    /// A pipeline; `aim` says whether frames start with an AIM identifier to strip and route by.
    pub fn new(
        input: InputKind,
        aim: bool,
        content: ScanContent,
        mrz_line_timeout: Duration,
    ) -> Self {
        let decoder = match input {
            InputKind::Serial { framing, ack_nak } => Decoder::Serial {
                framer: SerialFramer::new(framing),
                ack_nak,
            },
            InputKind::Ssi => Decoder::Ssi {
                decoder: SsiDecoder::new(),
                symbol: Vec::new(),
                symbology: None,
            },
            InputKind::HidPos(layout) => Decoder::HidPos(HidPosAssembler::new(layout)),
            InputKind::Keyboard => Decoder::Keyboard(BootKeyboardDecoder::new()),
        };
        Self {
            decoder,
            aim,
            content,
            mrz: MrzAssembler::new(mrz_line_timeout),
            frame_bytes_max: FRAME_BYTES_MAX,
        }
    }

    /// The same pipeline keeping frames and symbols of at most `limit` bytes (the terminal's
    /// `[limits] scan_frame_bytes_max`); longer input is dropped and reported as `Overlong`.
    pub fn with_frame_bytes_max(mut self, limit: usize) -> Self {
        self.frame_bytes_max = limit;
        self.decoder = match self.decoder {
            Decoder::Serial { framer, ack_nak } => Decoder::Serial {
                framer: framer.with_limit(limit),
                ack_nak,
            },
            Decoder::HidPos(assembler) => Decoder::HidPos(assembler.with_limit(limit)),
            Decoder::Keyboard(decoder) => Decoder::Keyboard(decoder.with_limit(limit)),
            ssi @ Decoder::Ssi { .. } => ssi,
        };
        self
    }

    /// When [`DevicePipeline::poll`] must next be called (a partial MRZ is pending).
    pub fn deadline(&self) -> Option<Duration> {
        self.mrz.deadline()
    }

    /// Expires a partial MRZ document whose next line is late.
    pub fn poll(&mut self, now: Duration, out: &mut Vec<PipelineOutput>) {
        let mut mrz_out = Vec::new();
        self.mrz.poll(now, &mut mrz_out);
        emit_mrz(mrz_out, out);
    }

    /// The device went away: partial frames and documents are dropped and reported.
    pub fn disconnected(&mut self, out: &mut Vec<PipelineOutput>) {
        let cut = match &mut self.decoder {
            Decoder::Serial { framer, .. } => framer.reset(),
            Decoder::Ssi {
                decoder, symbol, ..
            } => {
                let partial = std::mem::take(symbol).len();
                decoder
                    .reset()
                    .or((partial > 0).then_some(FrameError::Cut { bytes: partial }))
            }
            Decoder::HidPos(assembler) => assembler.reset(),
            Decoder::Keyboard(decoder) => decoder.reset(),
        };
        out.extend(cut.map(PipelineOutput::Problem));
        let mut mrz_out = Vec::new();
        self.mrz.abort(&mut mrz_out);
        emit_mrz(mrz_out, out);
    }

    /// Feeds a chunk of a byte stream (serial and SSI inputs).
    pub fn push_bytes(&mut self, bytes: &[u8], now: Duration, out: &mut Vec<PipelineOutput>) {
        let mut frames: Vec<(Option<Symbology>, Vec<u8>)> = Vec::new();
        match &mut self.decoder {
            Decoder::Serial { framer, ack_nak } => {
                let mut events = Vec::new();
                framer.push(bytes, &mut events);
                for event in events {
                    if *ack_nak {
                        out.extend(
                            event
                                .handshake_reply()
                                .map(|b| PipelineOutput::Reply(vec![b])),
                        );
                    }
                    match event {
                        SerialEvent::Frame(frame) => frames.push((None, frame)),
                        SerialEvent::Problem(problem) => out.push(PipelineOutput::Problem(problem)),
                    }
                }
            }
            Decoder::Ssi {
                decoder,
                symbol,
                symbology,
            } => {
                let mut packets = Vec::new();
                decoder.push(bytes, &mut packets);
                for packet in packets {
                    match packet {
                        Ok(packet) if packet.opcode == ssi::OP_DECODE_DATA => {
                            out.push(ssi_reply(ssi::OP_CMD_ACK, vec![]));
                            let (code, data) = packet
                                .data
                                .split_first()
                                .map_or((0, &[][..]), |(c, d)| (*c, d));
                            if symbol.is_empty() {
                                *symbology = ssi::symbology_of(code);
                            }
                            if symbol.len() + data.len() <= self.frame_bytes_max {
                                symbol.extend_from_slice(data);
                            }
                            if !packet.continued() {
                                frames.push((symbology.take(), std::mem::take(symbol)));
                            }
                        }
                        // Replies to the init sequence are read by the programming step, not here.
                        Ok(_) => {}
                        Err(problem) => {
                            // Cause 1: checksum failure, asks for a resend.
                            out.push(ssi_reply(ssi::OP_CMD_NAK, vec![0x01]));
                            out.push(PipelineOutput::Problem(problem));
                        }
                    }
                }
            }
            Decoder::HidPos(_) | Decoder::Keyboard(_) => {
                out.push(PipelineOutput::Problem(FrameError::BadReport {
                    reason: "byte stream fed to a HID report input".into(),
                }));
            }
        }
        for (symbology, frame) in frames {
            self.route(symbology, &frame, now, out);
        }
    }

    /// Feeds one HID input report (HID POS and keyboard inputs).
    pub fn push_report(&mut self, report: &[u8], now: Duration, out: &mut Vec<PipelineOutput>) {
        match &mut self.decoder {
            Decoder::HidPos(assembler) => match assembler.push_report(report) {
                None => {}
                Some(Err(problem)) => out.push(PipelineOutput::Problem(problem)),
                Some(Ok(symbol)) => {
                    let symbology = symbol.aim.map(|a| a.symbology());
                    self.route_content(symbology, &symbol.data, now, out);
                }
            },
            Decoder::Keyboard(decoder) => {
                let mut lines = Vec::new();
                decoder.push_report(report, &mut lines);
                for line in lines {
                    match line {
                        KeyboardOutput::Line(line) => self.route(None, &line, now, out),
                        KeyboardOutput::Problem(problem) => {
                            out.push(PipelineOutput::Problem(problem))
                        }
                    }
                }
            }
            Decoder::Serial { .. } | Decoder::Ssi { .. } => {
                out.push(PipelineOutput::Problem(FrameError::BadReport {
                    reason: "HID report fed to a byte-stream input".into(),
                }));
            }
        }
    }

    fn route(
        &mut self,
        symbology: Option<Symbology>,
        frame: &[u8],
        now: Duration,
        out: &mut Vec<PipelineOutput>,
    ) {
        if symbology.is_none() && self.aim {
            let (aim, rest) = split_aim(frame);
            return self.route_content(aim.map(|a| a.symbology()), rest, now, out);
        }
        self.route_content(symbology, frame, now, out);
    }

    fn route_content(
        &mut self,
        symbology: Option<Symbology>,
        data: &[u8],
        now: Duration,
        out: &mut Vec<PipelineOutput>,
    ) {
        let mrz = match self.content {
            ScanContent::Mrz => true,
            ScanContent::Symbol => false,
            ScanContent::Auto => {
                symbology.is_none() && (self.mrz.deadline().is_some() || looks_like_mrz(data))
            }
        };
        if mrz {
            let mut mrz_out = Vec::new();
            self.mrz.push_frame(data, now, &mut mrz_out);
            emit_mrz(mrz_out, out);
        } else {
            out.push(PipelineOutput::Scan(Scan {
                symbology,
                payload: data.to_vec(),
                kind: ScanKind::Symbol,
            }));
        }
    }
}

fn looks_like_mrz(data: &[u8]) -> bool {
    data.split(|&b| b == b'\r' || b == b'\n')
        .map(<[u8]>::trim_ascii)
        .filter(|line| !line.is_empty())
        .all(|line| {
            let width_ok =
                MrzFormat::from_width(line.len()).is_some() || matches!(line.len(), 72 | 88 | 90);
            width_ok
                && line
                    .iter()
                    .all(|&b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'<')
        })
        && !data.trim_ascii().is_empty()
}

fn ssi_reply(opcode: u8, data: Vec<u8>) -> PipelineOutput {
    match SsiPacket::host(opcode, data).encode() {
        Ok(bytes) => PipelineOutput::Reply(bytes),
        Err(problem) => PipelineOutput::Problem(problem),
    }
}

fn emit_mrz(mrz_out: Vec<MrzOutput>, out: &mut Vec<PipelineOutput>) {
    for item in mrz_out {
        out.push(match item {
            MrzOutput::Document(lines) => PipelineOutput::Scan(Scan {
                symbology: None,
                payload: lines.expose().join("\n").into_bytes(),
                kind: ScanKind::Mrz(lines),
            }),
            MrzOutput::Problem(problem) => PipelineOutput::Problem(problem),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::frame::serial::{ACK, NAK};

    const TD3: &str = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\rL898902C36UTO7408122F1204159ZE184226B<<<<<10\r";
    const MS: Duration = Duration::from_millis(1);

    fn scans(out: &[PipelineOutput]) -> Vec<&Scan> {
        out.iter()
            .filter_map(|o| match o {
                PipelineOutput::Scan(scan) => Some(scan),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn serial_mrz_with_ack_nak() {
        let mut pipeline = DevicePipeline::new(
            InputKind::Serial {
                framing: Framing::Cr,
                ack_nak: true,
            },
            false,
            ScanContent::Mrz,
            MS * 500,
        );
        let mut out = Vec::new();
        pipeline.push_bytes(TD3.as_bytes(), MS, &mut out);
        assert_eq!(
            out.iter()
                .filter(|o| **o == PipelineOutput::Reply(vec![ACK]))
                .count(),
            2
        );
        let found = scans(&out);
        assert_eq!(found.len(), 1);
        assert!(matches!(&found[0].kind, ScanKind::Mrz(lines) if lines.format() == MrzFormat::Td3));
        let mut out = Vec::new();
        pipeline.push_bytes(&[0xff, 0xfe, 0x80, b'\r'], MS, &mut out);
        assert!(out.contains(&PipelineOutput::Reply(vec![NAK])));
    }

    #[test]
    fn auto_content_routes_by_aim_and_shape() {
        let mut pipeline = DevicePipeline::new(
            InputKind::Serial {
                framing: Framing::Crlf,
                ack_nak: false,
            },
            true,
            ScanContent::Auto,
            MS * 500,
        );
        let mut out = Vec::new();
        pipeline.push_bytes(b"]Q1HC1:ABC\r\n", MS, &mut out);
        pipeline.push_bytes(TD3.replace('\r', "\r\n").as_bytes(), MS, &mut out);
        let found = scans(&out);
        assert_eq!(found.len(), 2, "{out:?}");
        assert_eq!(found[0].symbology, Some(Symbology::Qr));
        assert_eq!(found[0].payload, b"HC1:ABC");
        assert!(matches!(found[1].kind, ScanKind::Mrz(_)));
    }

    #[test]
    fn ssi_decode_data_is_acked_and_assembled() {
        let mut pipeline = DevicePipeline::new(InputKind::Ssi, false, ScanContent::Symbol, MS);
        let first = SsiPacket {
            opcode: ssi::OP_DECODE_DATA,
            source: 0,
            status: ssi::STATUS_CONTINUATION,
            data: b"\x1cHC1:".to_vec(),
        };
        let last = SsiPacket {
            opcode: ssi::OP_DECODE_DATA,
            source: 0,
            status: 0,
            data: b"\x1cXYZ".to_vec(),
        };
        let mut out = Vec::new();
        for packet in [first, last] {
            pipeline.push_bytes(&packet.encode().expect("small"), MS, &mut out);
        }
        let ack = SsiPacket::host(ssi::OP_CMD_ACK, vec![])
            .encode()
            .expect("small");
        assert_eq!(
            out.iter()
                .filter(|o| **o == PipelineOutput::Reply(ack.clone()))
                .count(),
            2
        );
        let found = scans(&out);
        assert_eq!(found[0].payload, b"HC1:XYZ");
        assert_eq!(found[0].symbology, Some(Symbology::Qr));
    }

    #[test]
    fn disconnect_mid_mrz_reports_and_forgets() {
        let mut pipeline = DevicePipeline::new(
            InputKind::Serial {
                framing: Framing::Cr,
                ack_nak: false,
            },
            false,
            ScanContent::Mrz,
            MS * 500,
        );
        let mut out = Vec::new();
        pipeline.push_bytes(
            b"P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\rL8989",
            MS,
            &mut out,
        );
        pipeline.disconnected(&mut out);
        assert_eq!(
            out.iter()
                .filter(|o| matches!(o, PipelineOutput::Problem(_)))
                .count(),
            2
        );
        assert_eq!(pipeline.deadline(), None);
        let shown = format!("{out:?}");
        assert!(!shown.contains("ERIKSSON"));
    }
}
