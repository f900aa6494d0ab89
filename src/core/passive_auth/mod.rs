//! Passive authentication (ICAO Doc 9303-11 §5.1): is what the chip holds what the issuing state
//! signed? The document signer's signature over EF.SOD, its certificate chained to a trusted
//! CSCA (validity, key usage, CRLs), and every data group's hash; EF.CardSecurity's signer the
//! same way. Also CSCA master lists.

mod algorithm;
mod document;
mod master_list;
mod trust;

#[cfg(test)]
mod tests;

pub use algorithm::{HashAlgorithm, SignatureScheme, Unsupported};
pub use document::{
    CardSecurityRejected, ChipFiles, DataGroupStatus, PaError, PaReport, SignerSummary,
    VerifyOptions, verify, verify_card_security,
};
pub use master_list::{
    CSCA_MASTER_LIST, MASTER_LIST_BYTES_MAX, MASTER_LIST_CERTIFICATES_MAX, MasterList,
    read_master_list,
};
pub use trust::{TrustFileError, TrustStore, read_certificates, read_crl};
