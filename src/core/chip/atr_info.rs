//! EF.ATR/INFO (ISO/IEC 7816-4 section 12.7.1, Doc 9303-10): what the chip says about APDU
//! sizes. A reader uses extended-length READ BINARY only when the chip's extended length
//! information (DO'7F66') allows responses longer than 256 bytes.

use iso7816_tlv::ber::{Tlv, Value};

use super::ChipError;
use super::tlv;

/// Its file identifier in the master file.
pub const FID: u16 = 0x2F01;

/// The largest EF.ATR/INFO read (a few data objects; a longer file is not one).
pub const MAX_BYTES: usize = 256;

/// Bytes a protected READ BINARY answer adds to its plain data: DO'87' header and padding
/// indicator (6), padding (up to 16), DO'99' (4), DO'8E' (10) and the status word (2).
pub const SM_RESPONSE_OVERHEAD: usize = 38;

/// What EF.ATR/INFO says about APDU sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AtrInfo {
    /// The longest response the chip sends, from DO'7F66' (`None` when the file has none).
    pub max_response: Option<usize>,
}

impl AtrInfo {
    /// Whether the chip takes extended-length APDUs: its DO'7F66' allows responses over 256.
    pub fn extended_length(&self) -> bool {
        self.max_response.is_some_and(|max| max > 256)
    }

    /// EF.ATR/INFO for a chip whose responses reach `max_response` bytes (the simulator's):
    /// DO'7F66' with the longest command and response, both `max_response`.
    pub fn encode(max_response: usize) -> Vec<u8> {
        let integer = |value: usize| {
            let bytes = u32::try_from(value).unwrap_or(u32::MAX).to_be_bytes();
            let start = bytes.iter().position(|&b| b != 0).unwrap_or(3);
            // A leading 1 bit would make the INTEGER negative: keep a zero byte then.
            let start = if bytes[start] & 0x80 != 0 && start > 0 {
                start - 1
            } else {
                start
            };
            tlv::encode(&[0x02], &bytes[start..])
        };
        let inner = [integer(max_response), integer(max_response)].concat();
        tlv::encode(&[0x7F, 0x66], &inner)
    }
}

/// Parses EF.ATR/INFO: its top-level data objects in any order (unknown ones skipped, trailing
/// 00/FF padding allowed); DO'7F66' holds INTEGERs, the longest command then the longest
/// response.
pub fn parse(bytes: &[u8]) -> Result<AtrInfo, ChipError> {
    let malformed = |what: String| ChipError::Malformed {
        step: "EF.ATR/INFO",
        what,
    };
    if bytes.len() > MAX_BYTES {
        return Err(malformed(format!(
            "{} bytes, more than {MAX_BYTES}",
            bytes.len()
        )));
    }
    let mut rest = bytes;
    let mut info = AtrInfo { max_response: None };
    while !rest.is_empty() && !rest.iter().all(|&b| b == 0x00 || b == 0xFF) {
        let offset = bytes.len() - rest.len();
        let (parsed, tail) = Tlv::parse(rest);
        let object = parsed.map_err(|e| malformed(format!("data object at byte {offset}: {e}")))?;
        if object.tag().to_bytes() == [0x7F, 0x66] {
            info.max_response = Some(max_response(object.value()).map_err(|why| {
                malformed(format!(
                    "extended length information at byte {offset}: {why}"
                ))
            })?);
        }
        rest = tail;
    }
    Ok(info)
}

/// The second INTEGER of DO'7F66' (the longest response).
fn max_response(value: &Value) -> Result<usize, String> {
    let Value::Constructed(children) = value else {
        return Err("not constructed".into());
    };
    let integers: Vec<&[u8]> = children
        .iter()
        .filter(|child| child.tag().to_bytes() == [0x02])
        .filter_map(|child| match child.value() {
            Value::Primitive(bytes) => Some(bytes.as_slice()),
            Value::Constructed(_) => None,
        })
        .collect();
    let [_, response, ..] = integers.as_slice() else {
        return Err(format!(
            "{} INTEGER(s), the longest command and response need two",
            integers.len()
        ));
    };
    if response.is_empty() || response.len() > 4 || response[0] & 0x80 != 0 {
        return Err(format!(
            "the longest response is not a positive INTEGER of up to 4 bytes ({} bytes)",
            response.len()
        ));
    }
    Ok(response
        .iter()
        .fold(0usize, |acc, &b| (acc << 8) | usize::from(b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).expect("hex")
    }

    #[test]
    fn extended_length_information_gives_the_longest_response() {
        // Card capabilities, then 7F66 { command 0x0800, response 0x1000 }, then padding.
        let info = parse(&hex("47 03 00 00 40 7F66 08 02 02 0800 02 02 1000 0000")).expect("parse");
        assert_eq!(info.max_response, Some(0x1000));
        assert!(info.extended_length());
        assert_eq!(
            parse(&AtrInfo::encode(0xFFFF))
                .expect("own encoding")
                .max_response,
            Some(0xFFFF)
        );
        assert_eq!(
            parse(&AtrInfo::encode(0x80))
                .expect("own encoding")
                .max_response,
            Some(0x80)
        );
    }

    #[test]
    fn without_extended_length_information_reads_stay_short() {
        let info = parse(&hex("47 03 00 00 40")).expect("parse");
        assert_eq!(info.max_response, None);
        assert!(!info.extended_length());
        let short = parse(&hex("7F66 06 02 01 7F 02 01 7F")).expect("parse");
        assert!(!short.extended_length());
        assert!(parse(&[]).is_ok_and(|info| !info.extended_length()));
    }

    #[test]
    fn malformed_files_say_what_and_where() {
        for (bytes, expected) in [
            ("47 05 00", "data object at byte 0"),
            ("47 01 00 7F66 03 02 01 10", "byte 3: 1 INTEGER(s)"),
            ("7F66 06 02 01 10 02 01 80", "not a positive INTEGER"),
            ("7F66 01 00", "byte 0"),
        ] {
            let error = parse(&hex(bytes)).expect_err(bytes).to_string();
            assert!(
                error.contains("EF.ATR/INFO") && error.contains(expected),
                "{bytes}: {error}"
            );
        }
        assert!(parse(&[0x47; 300]).is_err());
    }
}
