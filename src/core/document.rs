//! The stable identity of a travel document, used to match an exit to its entry and to look up
//! permits, alerts and movements.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::privacy::DocumentNumber;

/// Issuing state + document code + full document number, as printed in the MRZ
/// (fillers stripped, long numbers reassembled).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DocumentKey {
    /// Three-letter issuing state or organisation code (`AZE`, `D`, `UNO`).
    pub issuing_state: String,
    /// Document code with fillers stripped (`P`, `PO`, `I`, `ID`, `V`).
    pub document_code: String,
    /// The full document number.
    pub number: DocumentNumber,
}

impl DocumentKey {
    /// Digest used to index permits, alerts and movements without storing the plain number.
    ///
    /// It covers issuing state and number only: a permit's holder binding names those two and not
    /// the document code, and one booklet keeps its number whichever code variant was read.
    pub fn holder_digest(&self) -> HolderDigest {
        HolderDigest::of(&self.issuing_state, self.number.expose())
    }
}

/// SHA-256 of `"<issuing state>:<document number>"`: the index key for everything the terminal
/// knows about one document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct HolderDigest(pub [u8; 32]);

impl HolderDigest {
    /// The digest of an issuing state and a document number.
    pub fn of(issuing_state: &str, document_number: &str) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(issuing_state.as_bytes());
        hasher.update(b":");
        hasher.update(document_number.as_bytes());
        Self(hasher.finalize().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holder_digest_ignores_document_code() {
        let passport = DocumentKey {
            issuing_state: "UTO".into(),
            document_code: "P".into(),
            number: DocumentNumber::new("L898902C3"),
        };
        let other_code = DocumentKey {
            document_code: "PO".into(),
            ..passport.clone()
        };
        assert_eq!(passport.holder_digest(), other_code.holder_digest());
        assert_ne!(passport.holder_digest(), HolderDigest::of("D", "L898902C3"));
    }
}
