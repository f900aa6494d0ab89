//! AIM symbology identifiers (`]` + code character + modifier), used to route by symbology.

use serde::{Deserialize, Serialize};

/// The symbology a symbol was read from, from its AIM identifier's code character.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Symbology {
    /// `]Q`: QR Code (permit cards).
    Qr,
    /// `]L`: PDF417 and MicroPDF417.
    Pdf417,
    /// `]d`: Data Matrix.
    DataMatrix,
    /// `]z`: Aztec.
    Aztec,
    /// `]C`: Code 128.
    Code128,
    /// `]E`: EAN/UPC.
    EanUpc,
    /// `]A`: Code 39.
    Code39,
    /// `]I`: Interleaved 2 of 5.
    Itf,
    /// `]e`: GS1 DataBar.
    DataBar,
    /// Any other AIM code character.
    Other(char),
}

impl Symbology {
    /// The symbology of an AIM code character.
    pub fn from_code(code: u8) -> Self {
        match code {
            b'Q' => Self::Qr,
            b'L' => Self::Pdf417,
            b'd' => Self::DataMatrix,
            b'z' => Self::Aztec,
            b'C' => Self::Code128,
            b'E' => Self::EanUpc,
            b'A' => Self::Code39,
            b'I' => Self::Itf,
            b'e' => Self::DataBar,
            other => Self::Other(char::from(other)),
        }
    }
}

/// A parsed AIM identifier: `]` followed by a code character and a modifier character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AimId {
    /// The code character (`Q` for QR).
    pub code: u8,
    /// The modifier character (`1` in `]Q1`).
    pub modifier: u8,
}

impl AimId {
    /// Length of an AIM identifier on the wire.
    pub const LEN: usize = 3;

    /// Parses the three bytes `]cm`, if they are one.
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        match bytes {
            [b']', code, modifier, ..]
                if code.is_ascii_alphabetic() && modifier.is_ascii_alphanumeric() =>
            {
                Some(Self {
                    code: *code,
                    modifier: *modifier,
                })
            }
            _ => None,
        }
    }

    /// The symbology this identifier names.
    pub fn symbology(self) -> Symbology {
        Symbology::from_code(self.code)
    }
}

/// Splits a leading AIM identifier off a frame: `(Some(id), rest)` or `(None, frame)`.
pub fn split_aim(frame: &[u8]) -> (Option<AimId>, &[u8]) {
    match AimId::parse(frame) {
        Some(id) => (Some(id), frame.get(AimId::LEN..).unwrap_or_default()),
        None => (None, frame),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aim_ids_table() {
        let cases: &[(&[u8], Option<Symbology>, &[u8])] = &[
            (b"]Q1hello", Some(Symbology::Qr), b"hello"),
            (b"]L2abc", Some(Symbology::Pdf417), b"abc"),
            (b"]d2", Some(Symbology::DataMatrix), b""),
            (b"]C0x", Some(Symbology::Code128), b"x"),
            (b"]X9x", Some(Symbology::Other('X')), b"x"),
            (b"]Q", None, b"]Q"),
            (b"P<UTO", None, b"P<UTO"),
            (b"]1Qx", None, b"]1Qx"),
        ];
        for (input, symbology, rest) in cases {
            let (id, tail) = split_aim(input);
            assert_eq!(id.map(AimId::symbology), *symbology, "{input:?}");
            assert_eq!(tail, *rest, "{input:?}");
        }
    }
}
