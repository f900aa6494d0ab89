//! ISO/IEC 7816-4 command and response APDUs, short and extended length.

use super::ChipError;

/// The largest response data a short Le asks for (Le = 00).
pub const SHORT_LE_MAX: usize = 256;
/// The largest response data an extended Le asks for (Le = 0000).
pub const EXTENDED_LE_MAX: usize = 65_536;

/// A command APDU before encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// Class byte (bit 0x0C set once secure messaging wraps it).
    pub cla: u8,
    /// Instruction.
    pub ins: u8,
    /// Parameter 1.
    pub p1: u8,
    /// Parameter 2.
    pub p2: u8,
    /// Command data (Lc is its length).
    pub data: Vec<u8>,
    /// Expected response length; `Some(256)` or `Some(65536)` encode as 00 / 0000.
    pub le: Option<usize>,
}

impl Command {
    /// A command without data.
    pub fn new(cla: u8, ins: u8, p1: u8, p2: u8) -> Self {
        Self {
            cla,
            ins,
            p1,
            p2,
            data: Vec::new(),
            le: None,
        }
    }

    /// The same command with data.
    pub fn with_data(mut self, data: Vec<u8>) -> Self {
        self.data = data;
        self
    }

    /// The same command with an expected length.
    pub fn with_le(mut self, le: usize) -> Self {
        self.le = Some(le);
        self
    }

    /// Whether the command needs the extended-length encoding.
    pub fn is_extended(&self) -> bool {
        self.data.len() > 255 || self.le.is_some_and(|le| le > SHORT_LE_MAX)
    }

    /// Encodes the APDU (cases 1 to 4, short or extended as the sizes require).
    pub fn encode(&self) -> Result<Vec<u8>, ChipError> {
        if self.data.len() > 65_535 {
            return Err(ChipError::CommandTooLong {
                bytes: self.data.len(),
            });
        }
        if let Some(le) = self.le
            && (le == 0 || le > EXTENDED_LE_MAX)
        {
            return Err(ChipError::BadExpectedLength { le });
        }
        let extended = self.is_extended();
        let mut out = Vec::with_capacity(self.data.len() + 9);
        out.extend_from_slice(&[self.cla, self.ins, self.p1, self.p2]);
        if !self.data.is_empty() {
            if extended {
                out.push(0);
                out.extend_from_slice(&len16(self.data.len()));
            } else {
                out.push(len8(self.data.len()));
            }
            out.extend_from_slice(&self.data);
        }
        if let Some(le) = self.le {
            if extended {
                if self.data.is_empty() {
                    out.push(0);
                }
                out.extend_from_slice(&len16(le));
            } else {
                out.push(len8(le));
            }
        }
        Ok(out)
    }
}

/// A length of 1..=256 as one byte (256 encodes as 00).
fn len8(n: usize) -> u8 {
    u8::try_from(n % 256).unwrap_or(0)
}

/// A length of 1..=65536 as two bytes (65536 encodes as 0000).
fn len16(n: usize) -> [u8; 2] {
    u16::try_from(n % 65_536).unwrap_or(0).to_be_bytes()
}

/// A response APDU: data and status word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Response data.
    pub data: Vec<u8>,
    /// SW1 SW2.
    pub sw: u16,
}

impl Response {
    /// Splits raw response bytes into data and status word.
    pub fn parse(raw: &[u8]) -> Result<Self, ChipError> {
        let split = raw
            .len()
            .checked_sub(2)
            .ok_or(ChipError::ResponseTooShort { bytes: raw.len() })?;
        let (data, sw) = raw.split_at(split);
        Ok(Self {
            data: data.to_vec(),
            sw: u16::from_be_bytes([sw[0], sw[1]]),
        })
    }

    /// Encodes the response (data then SW).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.data.len() + 2);
        out.extend_from_slice(&self.data);
        out.extend_from_slice(&self.sw.to_be_bytes());
        out
    }

    /// Whether SW is 9000.
    pub fn is_ok(&self) -> bool {
        self.sw == 0x9000
    }
}

/// A parsed command APDU (the chip simulator's side).
pub fn parse_command(raw: &[u8]) -> Result<Command, ChipError> {
    let Some((header, body)) = raw.split_first_chunk::<4>() else {
        return Err(ChipError::CommandMalformed {
            why: "shorter than its 4-byte header",
        });
    };
    let mut command = Command::new(header[0], header[1], header[2], header[3]);
    match body {
        [] => {}
        [le] => command.le = Some(if *le == 0 { 256 } else { usize::from(*le) }),
        [0, rest @ ..] if rest.len() >= 2 => parse_extended_body(&mut command, rest)?,
        [lc, rest @ ..] => {
            let lc = usize::from(*lc);
            match rest.len().checked_sub(lc) {
                Some(0) => command.data = rest.to_vec(),
                Some(1) => {
                    command.data = rest[..lc].to_vec();
                    command.le = Some(if rest[lc] == 0 {
                        256
                    } else {
                        usize::from(rest[lc])
                    });
                }
                _ => {
                    return Err(ChipError::CommandMalformed {
                        why: "Lc does not match the data",
                    });
                }
            }
        }
    }
    Ok(command)
}

fn parse_extended_body(command: &mut Command, rest: &[u8]) -> Result<(), ChipError> {
    let n = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
    let tail = &rest[2..];
    if tail.is_empty() {
        command.le = Some(if n == 0 { EXTENDED_LE_MAX } else { n });
        return Ok(());
    }
    if n == 0 || tail.len() < n {
        return Err(ChipError::CommandMalformed {
            why: "extended Lc does not match the data",
        });
    }
    command.data = tail[..n].to_vec();
    match &tail[n..] {
        [] => {}
        [a, b] => {
            let le = usize::from(u16::from_be_bytes([*a, *b]));
            command.le = Some(if le == 0 { EXTENDED_LE_MAX } else { le });
        }
        _ => {
            return Err(ChipError::CommandMalformed {
                why: "extended Le is not two bytes",
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s).expect("hex")
    }

    #[test]
    fn short_cases_encode_as_iso7816_says() {
        let select = Command::new(0x00, 0xA4, 0x02, 0x0C).with_data(vec![0x01, 0x1E]);
        assert_eq!(select.encode().expect("encode"), hex("00A4020C02011E"));
        let read = Command::new(0x00, 0xB0, 0, 0).with_le(256);
        assert_eq!(read.encode().expect("encode"), hex("00B0000000"));
        let case4 = Command::new(0x00, 0x88, 0, 0)
            .with_data(vec![1, 2])
            .with_le(8);
        assert_eq!(case4.encode().expect("encode"), hex("0088000002010208"));
    }

    #[test]
    fn extended_cases_encode_and_parse_back() {
        let read = Command::new(0x00, 0xB0, 0, 0).with_le(1000);
        let encoded = read.encode().expect("encode");
        assert_eq!(encoded, hex("00B000000003E8"));
        assert_eq!(parse_command(&encoded).expect("parse"), read);
        let write = Command::new(0x00, 0xD6, 0, 0)
            .with_data(vec![7; 300])
            .with_le(65_536);
        let encoded = write.encode().expect("encode");
        assert_eq!(&encoded[4..7], &[0x00, 0x01, 0x2C]);
        assert_eq!(&encoded[encoded.len() - 2..], &[0, 0]);
        assert_eq!(parse_command(&encoded).expect("parse"), write);
    }

    #[test]
    fn short_commands_parse_back() {
        for command in [
            Command::new(0x00, 0x84, 0, 0).with_le(8),
            Command::new(0x0C, 0xA4, 2, 0x0C)
                .with_data(vec![0x87, 1, 2])
                .with_le(256),
            Command::new(0x00, 0x22, 0xC1, 0xA4).with_data(vec![0x80, 0]),
            Command::new(0x00, 0x00, 0, 0),
        ] {
            assert_eq!(
                parse_command(&command.encode().expect("encode")).expect("parse"),
                command
            );
        }
    }

    #[test]
    fn a_response_needs_its_status_word() {
        assert_eq!(
            Response::parse(&[0x90]),
            Err(ChipError::ResponseTooShort { bytes: 1 })
        );
        let response = Response::parse(&hex("01029000")).expect("parse");
        assert!(response.is_ok());
        assert_eq!(response.data, vec![1, 2]);
    }
}
