//! CMS SignedData (RFC 5652) as eMRTDs and master lists use it: one signer, the content
//! encapsulated, the signer's certificate carried alongside.

use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier};
use der::asn1::{ObjectIdentifier, OctetString};
use der::{Decode, Encode};
use x509_cert::Certificate;
use x509_cert::attr::Attribute;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Time;

use super::LdsError;

/// id-signedData.
const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
/// The contentType signed attribute.
const ATTR_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
/// The messageDigest signed attribute.
const ATTR_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
/// The signingTime signed attribute.
const ATTR_SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");
/// Certificates carried in one SignedData: a document signer, sometimes its CSCA or a link
/// certificate; more is not an eMRTD or master-list signature.
pub const SIGNED_DATA_CERTIFICATES_MAX: usize = 8;

/// How the signer names its certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignerId {
    /// The certificate's issuer and serial number.
    IssuerSerial {
        /// Issuer.
        issuer: Name,
        /// Serial number.
        serial: SerialNumber,
    },
    /// The certificate's subject key identifier.
    KeyId(Vec<u8>),
}

/// The signed attributes, as signed and as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedAttributes {
    /// Their DER encoding as a SET: the bytes the signature covers.
    pub der: Vec<u8>,
    /// The contentType attribute.
    pub content_type: Option<ObjectIdentifier>,
    /// The messageDigest attribute: the hash of the encapsulated content.
    pub message_digest: Option<Vec<u8>>,
    /// The signingTime attribute.
    pub signing_time: Option<jiff::Timestamp>,
}

/// The one signer of a SignedData.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signer {
    /// Which certificate signed.
    pub id: SignerId,
    /// The digest algorithm.
    pub digest_algorithm: x509_cert::spki::AlgorithmIdentifierOwned,
    /// The signature algorithm.
    pub signature_algorithm: x509_cert::spki::AlgorithmIdentifierOwned,
    /// The signature.
    pub signature: Vec<u8>,
    /// The signed attributes; without them the signature covers the content itself.
    pub signed_attributes: Option<SignedAttributes>,
}

impl Signer {
    /// The bytes the signature covers.
    pub fn signed_bytes<'a>(&'a self, content: &'a [u8]) -> &'a [u8] {
        self.signed_attributes
            .as_ref()
            .map_or(content, |attributes| attributes.der.as_slice())
    }

    /// Whether `certificate` is the one this signer names.
    pub fn names(&self, certificate: &Certificate) -> bool {
        let tbs = &certificate.tbs_certificate;
        match &self.id {
            SignerId::IssuerSerial { issuer, serial } => {
                tbs.issuer == *issuer && tbs.serial_number == *serial
            }
            SignerId::KeyId(id) => super::x509::subject_key_id(certificate)
                .is_some_and(|key_id| key_id == id.as_slice()),
        }
    }
}

/// A SignedData read: its content, the certificates it carries and its signer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedContent {
    /// eContentType.
    pub content_type: ObjectIdentifier,
    /// The encapsulated content's octets.
    pub content: Vec<u8>,
    /// The certificates carried.
    pub certificates: Vec<Certificate>,
    /// The one signer.
    pub signer: Signer,
}

impl SignedContent {
    /// Reads a DER ContentInfo holding SignedData whose content type is `expected_type`.
    pub fn parse(
        der_bytes: &[u8],
        file: &'static str,
        expected_type: ObjectIdentifier,
    ) -> Result<Self, LdsError> {
        let info = ContentInfo::from_der(der_bytes).map_err(|e| LdsError::encoding(file, e))?;
        if info.content_type != ID_SIGNED_DATA {
            return Err(LdsError::content(
                file,
                format!("content type {}, not signedData", info.content_type),
            ));
        }
        let signed: SignedData = info
            .content
            .decode_as()
            .map_err(|e| LdsError::encoding(file, e))?;
        let econtent = &signed.encap_content_info;
        if econtent.econtent_type != expected_type {
            return Err(LdsError::content(
                file,
                format!(
                    "encapsulated content type {}, expected {expected_type}",
                    econtent.econtent_type
                ),
            ));
        }
        let content = econtent
            .econtent
            .as_ref()
            .ok_or_else(|| LdsError::content(file, "no encapsulated content"))?
            .decode_as::<OctetString>()
            .map_err(|e| LdsError::encoding(file, e))?
            .into_bytes();
        let certificates = carried_certificates(&signed, file)?;
        let mut signer_infos = signed.signer_infos.0.iter();
        let (Some(info), None) = (signer_infos.next(), signer_infos.next()) else {
            return Err(LdsError::content(file, "not exactly one signerInfo"));
        };
        let signer = Signer {
            id: match &info.sid {
                SignerIdentifier::IssuerAndSerialNumber(id) => SignerId::IssuerSerial {
                    issuer: id.issuer.clone(),
                    serial: id.serial_number.clone(),
                },
                SignerIdentifier::SubjectKeyIdentifier(id) => {
                    SignerId::KeyId(id.0.as_bytes().to_vec())
                }
            },
            digest_algorithm: info.digest_alg.clone(),
            signature_algorithm: info.signature_algorithm.clone(),
            signature: info.signature.as_bytes().to_vec(),
            signed_attributes: info
                .signed_attrs
                .as_ref()
                .map(|attributes| read_signed_attributes(attributes, file))
                .transpose()?,
        };
        Ok(Self {
            content_type: econtent.econtent_type,
            content,
            certificates,
            signer,
        })
    }

    /// The certificate the signer names, when it is carried.
    pub fn signer_certificate(&self) -> Option<&Certificate> {
        self.certificates
            .iter()
            .find(|certificate| self.signer.names(certificate))
    }
}

/// The X.509 certificates in `certificates` (other kinds are refused).
fn carried_certificates(
    signed: &SignedData,
    file: &'static str,
) -> Result<Vec<Certificate>, LdsError> {
    let Some(set) = &signed.certificates else {
        return Ok(Vec::new());
    };
    if set.0.len() > SIGNED_DATA_CERTIFICATES_MAX {
        return Err(LdsError::content(
            file,
            format!(
                "{} certificates carried, at most {SIGNED_DATA_CERTIFICATES_MAX} accepted",
                set.0.len()
            ),
        ));
    }
    set.0
        .iter()
        .map(|choice| match choice {
            CertificateChoices::Certificate(certificate) => Ok(certificate.clone()),
            CertificateChoices::Other(_) => Err(LdsError::content(
                file,
                "a carried certificate is not X.509",
            )),
        })
        .collect()
}

/// The attributes PA needs, and the DER the signature covers.
fn read_signed_attributes(
    attributes: &x509_cert::attr::Attributes,
    file: &'static str,
) -> Result<SignedAttributes, LdsError> {
    let der = attributes
        .to_der()
        .map_err(|e| LdsError::encoding(file, e))?;
    let mut read = SignedAttributes {
        der,
        content_type: None,
        message_digest: None,
        signing_time: None,
    };
    for attribute in attributes.iter() {
        let value = single_value(attribute, file)?;
        if attribute.oid == ATTR_CONTENT_TYPE {
            read.content_type = Some(
                value
                    .decode_as::<ObjectIdentifier>()
                    .map_err(|e| LdsError::encoding(file, e))?,
            );
        } else if attribute.oid == ATTR_MESSAGE_DIGEST {
            let digest = value
                .decode_as::<OctetString>()
                .map_err(|e| LdsError::encoding(file, e))?;
            read.message_digest = Some(digest.into_bytes());
        } else if attribute.oid == ATTR_SIGNING_TIME {
            let encoded = value.to_der().map_err(|e| LdsError::encoding(file, e))?;
            let time = Time::from_der(&encoded).map_err(|e| LdsError::encoding(file, e))?;
            read.signing_time = Some(super::x509::timestamp(time));
        }
    }
    Ok(read)
}

/// The one value of a signed attribute (RFC 5652 §11 allows exactly one for these).
fn single_value<'a>(
    attribute: &'a Attribute,
    file: &'static str,
) -> Result<&'a der::Any, LdsError> {
    let mut values = attribute.values.iter();
    match (values.next(), values.next()) {
        (Some(value), None) => Ok(value),
        _ => Err(LdsError::content(
            file,
            format!(
                "signed attribute {} has not exactly one value",
                attribute.oid
            ),
        )),
    }
}
