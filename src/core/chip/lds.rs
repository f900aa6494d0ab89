//! The LDS files a reader selects by file identifier, their names as `chip verify` reads them,
//! and the outer TLV header that announces a file's length.

use super::ChipError;

/// One elementary file of the eMRTD application (or EF.CardAccess and EF.CardSecurity of the
/// master file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LdsFile {
    /// EF.CardAccess (master file, 011C).
    CardAccess,
    /// EF.COM (011E): the LDS version and the list of data groups.
    Com,
    /// EF.SOD (011D): the document security object.
    Sod,
    /// Data group 1 to 16 (0101 to 0110).
    Dg(u8),
    /// EF.CardSecurity (master file, 011D): SignedData over the chip's SecurityInfos, read
    /// under PACE for chip authentication mapping.
    CardSecurity,
}

impl LdsFile {
    /// The file identifier.
    pub fn fid(self) -> u16 {
        match self {
            Self::CardAccess => 0x011C,
            Self::Com => 0x011E,
            Self::Sod => 0x011D,
            Self::Dg(n) => 0x0100 | u16::from(n),
            Self::CardSecurity => 0x011D,
        }
    }

    /// The file's name as saved and as `chip verify` reads it: `EF.COM`, `EF.SOD`, `DG1`, ...
    pub fn name(self) -> String {
        match self {
            Self::CardAccess => "EF.CardAccess".into(),
            Self::Com => "EF.COM".into(),
            Self::Sod => "EF.SOD".into(),
            Self::Dg(n) => format!("DG{n}"),
            Self::CardSecurity => "EF.CardSecurity".into(),
        }
    }

    /// The data group an EF.COM tag names (61 = DG1, 75 = DG2, ...).
    pub fn from_com_tag(tag: u8) -> Option<Self> {
        let n = match tag {
            0x61 => 1,
            0x75 => 2,
            0x63 => 3,
            0x76 => 4,
            0x65..=0x70 => tag - 0x60,
            _ => return None,
        };
        Some(Self::Dg(n))
    }

    /// The outer tag of the file's content.
    pub fn outer_tag(self) -> u8 {
        match self {
            Self::CardAccess => 0x31,
            Self::Com => 0x60,
            Self::Sod => 0x77,
            Self::Dg(1) => 0x61,
            Self::Dg(2) => 0x75,
            Self::Dg(3) => 0x63,
            Self::Dg(4) => 0x76,
            Self::Dg(n) => 0x60 + n,
            // A DER ContentInfo, not wrapped in an application tag.
            Self::CardSecurity => 0x30,
        }
    }
}

/// How many leading bytes hold the header: tag and the first length byte decide it.
pub fn header_len(first: &[u8], file: LdsFile) -> Result<usize, ChipError> {
    let bad = |why| ChipError::FileHeader {
        file: file.name(),
        why,
    };
    let [tag, len0, ..] = *first else {
        return Err(bad("fewer than two bytes"));
    };
    if tag & 0x1F == 0x1F {
        return Err(bad("multi-byte tag"));
    }
    match len0 {
        0..=0x7F => Ok(2),
        0x81..=0x84 => Ok(2 + usize::from(len0 & 0x7F)),
        _ => Err(bad("indefinite or over-long length form")),
    }
}

/// The total file length (header plus value) announced by a complete header.
pub fn announced_len(header: &[u8], file: LdsFile) -> Result<usize, ChipError> {
    let header_len = header_len(header, file)?;
    if header.len() < header_len {
        return Err(ChipError::FileHeader {
            file: file.name(),
            why: "header cut short",
        });
    }
    let value_len = match header[1] {
        short @ 0..=0x7F => usize::from(short),
        _ => header[2..header_len]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b)),
    };
    Ok(header_len + value_len)
}

/// The data groups EF.COM lists (its tag list, DO'5C').
pub fn com_data_groups(com: &[u8]) -> Result<Vec<LdsFile>, ChipError> {
    use iso7816_tlv::ber::{Tlv, Value};
    let bad = |why| ChipError::FileHeader {
        file: "EF.COM".into(),
        why,
    };
    // EF.COM is a few dozen bytes; the bound also bounds the TLV parser's nesting.
    if com.len() > 1024 || com.first() != Some(&0x60) {
        return Err(bad("not an EF.COM template"));
    }
    let tlv = Tlv::from_bytes(com).map_err(|_| bad("not one BER-TLV object"))?;
    let Value::Constructed(children) = tlv.value() else {
        return Err(bad("template not constructed"));
    };
    let list = children
        .iter()
        .find(|c| c.tag().to_bytes() == [0x5C])
        .ok_or(bad("no tag list 5C"))?;
    let Value::Primitive(tags) = list.value() else {
        return Err(bad("tag list constructed"));
    };
    Ok(tags
        .iter()
        .filter_map(|&t| LdsFile::from_com_tag(t))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_and_names() {
        assert_eq!(LdsFile::Dg(2).fid(), 0x0102);
        assert_eq!(LdsFile::Dg(15).outer_tag(), 0x6F);
        assert_eq!(LdsFile::from_com_tag(0x6E), Some(LdsFile::Dg(14)));
        assert_eq!(LdsFile::from_com_tag(0x75), Some(LdsFile::Dg(2)));
        assert_eq!(LdsFile::Sod.name(), "EF.SOD");
        assert_eq!(LdsFile::CardSecurity.name(), "EF.CardSecurity");
        assert_eq!(
            LdsFile::CardSecurity.fid(),
            LdsFile::Sod.fid(),
            "011D, in the MF"
        );
    }

    #[test]
    fn announced_lengths() {
        assert_eq!(
            announced_len(&[0x60, 0x14, 0x5F, 0x01], LdsFile::Com).expect("len"),
            22
        );
        assert_eq!(
            announced_len(&[0x75, 0x82, 0x4E, 0x20], LdsFile::Dg(2)).expect("len"),
            20_004
        );
        assert_eq!(
            announced_len(&[0x77, 0x84, 0x01, 0, 0, 0], LdsFile::Sod).expect("len"),
            16_777_222
        );
        assert!(announced_len(&[0x77, 0x80], LdsFile::Sod).is_err());
        assert!(announced_len(&[0x77, 0x82, 0x01], LdsFile::Sod).is_err());
    }

    #[test]
    fn doc9303_appendix_d_ef_com_lists_dg1_and_dg2() {
        let com = hex::decode("60145F0104303130365F36063034303030305C026175").expect("hex");
        assert_eq!(
            com_data_groups(&com).expect("parse"),
            vec![LdsFile::Dg(1), LdsFile::Dg(2)]
        );
        assert!(com_data_groups(&com[..10]).is_err());
    }
}
