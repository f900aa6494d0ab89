//! Why a chip file could not be read.

/// A chip file that is not what Doc 9303 says it is; each variant names the file and the place.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LdsError {
    /// Larger than the limit for its kind.
    #[error("{file}: {len} bytes, more than the {max} accepted")]
    TooLarge {
        /// `EF.SOD`, `DG1`, `master list`…
        file: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The outer tag is not the file's.
    #[error("{file}: outer tag {found}, expected {expected}")]
    WrongTag {
        /// The file.
        file: &'static str,
        /// The tag found, in hex.
        found: String,
        /// The tag expected, in hex.
        expected: &'static str,
    },
    /// The BER/DER structure does not decode.
    #[error("{file}: {reason}")]
    Encoding {
        /// The file.
        file: &'static str,
        /// What the decoder reported (with the byte position for DER).
        reason: String,
    },
    /// The structure decodes but a value is wrong.
    #[error("{file}: {reason}")]
    Content {
        /// The file.
        file: &'static str,
        /// Which value and why.
        reason: String,
    },
}

impl LdsError {
    /// A decoder error for `file`.
    pub(crate) fn encoding(file: &'static str, error: impl std::fmt::Display) -> Self {
        Self::Encoding {
            file,
            reason: error.to_string(),
        }
    }

    /// A content error for `file`.
    pub(crate) fn content(file: &'static str, reason: impl Into<String>) -> Self {
        Self::Content {
            file,
            reason: reason.into(),
        }
    }
}
