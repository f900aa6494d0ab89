//! EF.CardSecurity (Doc 9303-11 section 9.2, BSI TR-03110-3 A.1.2): a SignedData over the
//! chip's SecurityInfos (content type id-SecurityObject), signed by a document signer like
//! EF.SOD. It carries the chip-authentication public key PACE-CAM is checked against.

use der::asn1::ObjectIdentifier;

use super::{LdsError, SignedContent};

/// Largest EF.CardSecurity accepted: a few SecurityInfos and one or two certificates.
pub const CARD_SECURITY_BYTES_MAX: usize = 64 * 1024;
/// id-SecurityObject (bsi-de 3.2.1): the eContentType of EF.CardSecurity.
pub const SECURITY_OBJECT: ObjectIdentifier = ObjectIdentifier::new_unwrap("0.4.0.127.0.7.3.2.1");
const FILE: &str = "EF.CardSecurity";

/// EF.CardSecurity read: the signature envelope and the SecurityInfos it signs (DER, as
/// signed; read by `core::chip::dg14::Dg14::from_card_security` once the signature holds).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardSecurity {
    /// The SignedData: content (the SecurityInfos), carried certificates, signer.
    pub signed: SignedContent,
}

impl CardSecurity {
    /// Reads EF.CardSecurity from the file's bytes (a DER ContentInfo).
    pub fn parse(bytes: &[u8]) -> Result<Self, LdsError> {
        if bytes.len() > CARD_SECURITY_BYTES_MAX {
            return Err(LdsError::TooLarge {
                file: FILE,
                len: bytes.len(),
                max: CARD_SECURITY_BYTES_MAX,
            });
        }
        let signed = SignedContent::parse(bytes, FILE, SECURITY_OBJECT)?;
        if signed.content.first() != Some(&0x31) {
            return Err(LdsError::content(
                FILE,
                "the signed content is not a SET OF SecurityInfo",
            ));
        }
        Ok(Self { signed })
    }
}
