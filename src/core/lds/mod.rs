//! What an eMRTD chip holds (ICAO Doc 9303 part 10): EF.SOD, DG1 and the data-group files, and
//! EF.CardSecurity (part 11), read from their raw bytes. Pure and total: any input gives a value
//! or an error naming the file and the reason, never a panic.

mod card_security;
mod dg1;
pub mod dg2;
mod error;
mod signed_data;
mod sod;
pub mod x509;

pub use card_security::{CARD_SECURITY_BYTES_MAX, CardSecurity, SECURITY_OBJECT};
pub use dg1::{DG1_BYTES_MAX, Dg1};
pub use error::LdsError;
pub use signed_data::{SignedAttributes, SignedContent, Signer, SignerId};
pub use sod::{
    DataGroupHash, LDS_SECURITY_OBJECT, LdsSecurityObject, LdsVersionInfo, SOD_BYTES_MAX, Sod,
};

/// Largest data-group file hashed: a DG2 with a high-resolution face stays well below it.
pub const DATA_GROUP_BYTES_MAX: usize = 4 * 1024 * 1024;

/// A data group, DG1 to DG16.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DataGroup(u8);

impl DataGroup {
    /// DG1: the MRZ.
    pub const DG1: Self = Self(1);

    /// The data group numbered `number`, when it is 1 to 16.
    pub const fn new(number: u8) -> Option<Self> {
        if number >= 1 && number <= 16 {
            Some(Self(number))
        } else {
            None
        }
    }

    /// Its number, 1 to 16.
    pub const fn number(self) -> u8 {
        self.0
    }

    /// The file name a chip read is saved under (`DG1` … `DG16`).
    pub fn file_name(self) -> String {
        format!("DG{}", self.0)
    }

    /// The data group a saved file name denotes (`DG1` … `DG16`, nothing else).
    pub fn from_file_name(name: &str) -> Option<Self> {
        let digits = name.strip_prefix("DG")?;
        if digits.starts_with('0') || digits.len() > 2 {
            return None;
        }
        digits.parse::<u8>().ok().and_then(Self::new)
    }
}

impl std::fmt::Display for DataGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DG{}", self.0)
    }
}

/// The test PKI of `tests/chip_pki`, for the unit tests of this module, of `core::passive_auth`
/// and of `core::ledger::csca` (the core imports no adapter, not even in tests; the demo has its
/// own copy through `adapters::chip_sim::test_pki`).
#[cfg(test)]
#[path = "../../../tests/chip_pki/mod.rs"]
#[allow(clippy::duplicate_mod)] // A second copy, in test builds only: the core imports no adapter.
pub(crate) mod chip_pki;
#[cfg(test)]
mod tests;
