//! DG1: the MRZ as the chip stores it (tag `61`, the zone's characters in `5F1F`, no line breaks).

use iso7816_tlv::ber::{Tlv, Value};

use super::LdsError;

/// Largest DG1 accepted: a TD1 zone (90 characters) and its tags take under 100 bytes.
pub const DG1_BYTES_MAX: usize = 256;

/// DG1's outer tag.
const DG1_TAG: [u8; 1] = [0x61];
/// The MRZ data element inside DG1.
const MRZ_TAG: [u8; 2] = [0x5F, 0x1F];
/// Characters of a whole zone → characters of one line (TD1, TD2 and French ID, TD3).
const ZONE_LINE_WIDTHS: [(usize, usize); 3] = [(90, 30), (72, 36), (88, 44)];

/// DG1 read: the zone with its line breaks restored, ready for [`crate::core::mrz::parse`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dg1 {
    zone: String,
}

impl Dg1 {
    /// Reads DG1 from the file's bytes (outer tag included).
    pub fn parse(bytes: &[u8]) -> Result<Self, LdsError> {
        const FILE: &str = "DG1";
        if bytes.len() > DG1_BYTES_MAX {
            return Err(LdsError::TooLarge {
                file: FILE,
                len: bytes.len(),
                max: DG1_BYTES_MAX,
            });
        }
        let outer = Tlv::from_bytes(bytes).map_err(|error| LdsError::encoding(FILE, error))?;
        if outer.tag().to_bytes() != DG1_TAG {
            return Err(LdsError::WrongTag {
                file: FILE,
                found: hex::encode_upper(outer.tag().to_bytes()),
                expected: "61",
            });
        }
        let Value::Constructed(elements) = outer.value() else {
            return Err(LdsError::content(FILE, "tag 61 is not constructed"));
        };
        let mrz = elements
            .iter()
            .find(|element| element.tag().to_bytes() == MRZ_TAG)
            .ok_or_else(|| LdsError::content(FILE, "no MRZ data element 5F1F"))?;
        let Value::Primitive(characters) = mrz.value() else {
            return Err(LdsError::content(
                FILE,
                "5F1F is constructed, not the MRZ text",
            ));
        };
        Self::from_zone_bytes(characters)
    }

    /// The zone from its characters without line breaks.
    fn from_zone_bytes(characters: &[u8]) -> Result<Self, LdsError> {
        let width = ZONE_LINE_WIDTHS
            .iter()
            .find(|(zone, _)| *zone == characters.len())
            .map(|(_, line)| *line)
            .ok_or_else(|| {
                LdsError::content(
                    "DG1",
                    format!(
                        "MRZ of {} characters; 90, 72 or 88 expected",
                        characters.len()
                    ),
                )
            })?;
        if let Some(position) = characters.iter().position(|byte| !byte.is_ascii_graphic()) {
            return Err(LdsError::content(
                "DG1",
                format!("MRZ character {position} is not printable ASCII"),
            ));
        }
        let lines: Vec<&[u8]> = characters.chunks(width).collect();
        let zone = lines
            .iter()
            .map(|line| String::from_utf8_lossy(line))
            .collect::<Vec<_>>()
            .join("\n");
        Ok(Self { zone })
    }

    /// The zone, one line per row, as a scanner would give it.
    pub fn zone(&self) -> &str {
        &self.zone
    }
}
