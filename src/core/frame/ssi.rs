//! Zebra SSI packets: `Len | Opcode | Source | Status | Data | Checksum`, where Len counts the
//! bytes before the checksum and the checksum is the 16-bit two's complement of their sum.

use super::FrameError;

/// Host to decoder: start a scan session.
pub const OP_START_SESSION: u8 = 0xe4;
/// Host to decoder: stop a scan session.
pub const OP_STOP_SESSION: u8 = 0xe5;
/// Enable scanning.
pub const OP_SCAN_ENABLE: u8 = 0xe9;
/// Disable scanning.
pub const OP_SCAN_DISABLE: u8 = 0xea;
/// Decoder to host: decoded symbol data.
pub const OP_DECODE_DATA: u8 = 0xf3;
/// Positive acknowledgement.
pub const OP_CMD_ACK: u8 = 0xd0;
/// Negative acknowledgement.
pub const OP_CMD_NAK: u8 = 0xd1;
/// Set parameters.
pub const OP_PARAM_SEND: u8 = 0xc6;
/// Ask for the firmware revision.
pub const OP_REQUEST_REVISION: u8 = 0xa3;
/// Packet sent by the decoder.
pub const SOURCE_DECODER: u8 = 0x00;
/// Packet sent by the host.
pub const SOURCE_HOST: u8 = 0x04;
/// Status bit: this is a retransmission.
pub const STATUS_RETRANSMIT: u8 = 0x01;
/// Status bit: more packets of this message follow.
pub const STATUS_CONTINUATION: u8 = 0x02;
/// Status bit: make parameter changes permanent.
pub const STATUS_PERMANENT: u8 = 0x08;
/// Header bytes counted by Len: Len, Opcode, Source, Status.
const HEADER_LEN: usize = 4;
/// Most data bytes one packet can carry (Len is one byte).
pub const DATA_BYTES_MAX: usize = 255 - HEADER_LEN;

/// One SSI packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsiPacket {
    /// What the packet is.
    pub opcode: u8,
    /// Who sent it ([`SOURCE_HOST`] or [`SOURCE_DECODER`]).
    pub source: u8,
    /// Status bits.
    pub status: u8,
    /// Payload.
    pub data: Vec<u8>,
}

impl SsiPacket {
    /// A host packet.
    pub fn host(opcode: u8, data: Vec<u8>) -> Self {
        Self {
            opcode,
            source: SOURCE_HOST,
            status: 0,
            data,
        }
    }

    /// Encodes the packet with its checksum.
    pub fn encode(&self) -> Result<Vec<u8>, FrameError> {
        let len =
            u8::try_from(HEADER_LEN + self.data.len()).map_err(|_| FrameError::BadSsiPacket {
                reason: format!("{} data bytes, at most {DATA_BYTES_MAX}", self.data.len()),
            })?;
        let mut bytes = vec![len, self.opcode, self.source, self.status];
        bytes.extend_from_slice(&self.data);
        bytes.extend_from_slice(&checksum(&bytes).to_be_bytes());
        Ok(bytes)
    }

    /// True when more packets of the same message follow.
    pub fn continued(&self) -> bool {
        self.status & STATUS_CONTINUATION != 0
    }
}

/// The SSI checksum: two's complement of the 16-bit sum of the bytes.
pub fn checksum(bytes: &[u8]) -> u16 {
    let sum = bytes
        .iter()
        .fold(0u16, |acc, &b| acc.wrapping_add(u16::from(b)));
    sum.wrapping_neg()
}

/// Splits a byte stream into SSI packets, resynchronising after a bad one.
#[derive(Debug, Clone, Default)]
pub struct SsiDecoder {
    buf: Vec<u8>,
}

impl SsiDecoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Drops a partial packet, reporting it.
    pub fn reset(&mut self) -> Option<FrameError> {
        let bytes = std::mem::take(&mut self.buf).len();
        (bytes > 0).then_some(FrameError::Cut { bytes })
    }

    /// Feeds bytes; appends packets and problems to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<Result<SsiPacket, FrameError>>) {
        self.buf.extend_from_slice(bytes);
        loop {
            let Some(&len) = self.buf.first() else { return };
            let len = usize::from(len);
            if len < HEADER_LEN {
                self.skip(
                    format!("length byte {len} below the {HEADER_LEN}-byte header"),
                    out,
                );
                continue;
            }
            let Some(packet) = self.buf.get(..len + 2) else {
                return;
            };
            let (body, sum) = packet.split_at(len);
            let expected = checksum(body);
            let got = u16::from_be_bytes([sum[0], sum[1]]);
            if got != expected {
                self.skip(format!("checksum {got:04x}, expected {expected:04x}"), out);
                continue;
            }
            out.push(Ok(SsiPacket {
                opcode: body[1],
                source: body[2],
                status: body[3],
                data: body[HEADER_LEN..].to_vec(),
            }));
            self.buf.drain(..len + 2);
        }
    }

    fn skip(&mut self, reason: String, out: &mut Vec<Result<SsiPacket, FrameError>>) {
        self.buf.remove(0);
        out.push(Err(FrameError::BadSsiPacket { reason }));
    }
}

/// The symbology of an SSI barcode type code (first byte of DECODE_DATA).
pub fn symbology_of(code: u8) -> Option<super::Symbology> {
    use super::Symbology;
    Some(match code {
        0x01 => Symbology::Code39,
        0x03 => Symbology::Code128,
        0x06 => Symbology::Itf,
        0x0b => Symbology::EanUpc,
        0x11 => Symbology::Pdf417,
        0x1b => Symbology::DataMatrix,
        0x1c => Symbology::Qr,
        0x2d => Symbology::Aztec,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn start_session_matches_the_programmers_guide() {
        let packet = SsiPacket::host(OP_START_SESSION, vec![]);
        assert_eq!(
            packet.encode(),
            Ok(vec![0x04, 0xe4, 0x04, 0x00, 0xff, 0x14])
        );
    }

    #[test]
    fn decoder_resynchronises_after_garbage() {
        let ack = SsiPacket {
            opcode: OP_CMD_ACK,
            source: SOURCE_DECODER,
            status: 0,
            data: vec![],
        };
        let mut wire = vec![0x00, 0x02];
        wire.extend(ack.encode().expect("small"));
        let mut decoder = SsiDecoder::new();
        let mut out = Vec::new();
        decoder.push(&wire, &mut out);
        assert_eq!(out.iter().filter(|r| r.is_err()).count(), 2);
        assert_eq!(out.last(), Some(&Ok(ack)));
    }

    #[test]
    fn oversized_data_is_an_error() {
        assert!(
            SsiPacket::host(OP_PARAM_SEND, vec![0; 252])
                .encode()
                .is_err()
        );
    }

    proptest! {
        #[test]
        fn encode_decode_round_trip_over_any_split(
            data in proptest::collection::vec(any::<u8>(), 0..=DATA_BYTES_MAX),
            status in any::<u8>(),
            cut in 0usize..300,
        ) {
            let packet = SsiPacket { opcode: OP_DECODE_DATA, source: SOURCE_DECODER, status, data };
            let wire = packet.encode().expect("fits");
            let cut = cut.min(wire.len());
            let mut decoder = SsiDecoder::new();
            let mut out = Vec::new();
            decoder.push(&wire[..cut], &mut out);
            decoder.push(&wire[cut..], &mut out);
            prop_assert_eq!(out, vec![Ok(packet)]);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut decoder = SsiDecoder::new();
            let mut out = Vec::new();
            decoder.push(&bytes, &mut out);
        }
    }
}
