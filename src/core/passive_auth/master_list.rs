//! CSCA master lists (ICAO Doc 9303-12 §9; the BSI and ICAO PKD format): a SignedData whose
//! content is `CscaMasterList ::= SEQUENCE { version, certList SET OF Certificate }`.

use std::collections::{BTreeSet, HashSet};

use der::asn1::ObjectIdentifier;
use der::{Decode, Encode, Header, Reader, SliceReader, Tag};
use x509_cert::Certificate;

use super::algorithm::{HashAlgorithm, SignatureScheme, Unsupported};
use super::document::SignerSummary;
use super::trust::TrustStore;
use crate::core::lds::{LdsError, SignedContent, x509};

/// id-icao-cscaMasterList.
pub const CSCA_MASTER_LIST: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.23.136.1.1.2");
/// Largest master list read (Germany's is under 1 MB, the ICAO PKD's a few MB).
pub const MASTER_LIST_BYTES_MAX: usize = 32 * 1024 * 1024;
/// Most certificates read from one list (the ICAO PKD's holds well under 2,000).
pub const MASTER_LIST_CERTIFICATES_MAX: usize = 20_000;
const FILE: &str = "master list";

/// A master list read and its signature checked.
#[derive(Clone, Debug, Default)]
pub struct MasterList {
    /// The signer's signature verifies over the list, and the signer's certificate, when a
    /// listed CSCA of its issuer's name exists, verifies under one of them.
    pub signature_valid: bool,
    /// The master-list signer, when its certificate is carried.
    pub signer: Option<SignerSummary>,
    /// The distinct certificates listed that read as X.509.
    pub certificates: Vec<Certificate>,
    /// Distinct certificates listed (by their bytes), readable or not.
    pub distinct_certificates: usize,
    /// The countries of the listed certificates, as written, sorted, each once.
    pub countries: Vec<String>,
    /// What is wrong, one sentence each.
    pub errors: Vec<String>,
}

/// Reads a master list (DER ContentInfo) and checks its signature. Never fails: problems are in
/// `errors`, and a list that does not read has no certificates and an invalid signature.
pub fn read_master_list(bytes: &[u8]) -> MasterList {
    let mut list = MasterList::default();
    if bytes.len() > MASTER_LIST_BYTES_MAX {
        let error = LdsError::TooLarge {
            file: FILE,
            len: bytes.len(),
            max: MASTER_LIST_BYTES_MAX,
        };
        list.errors.push(error.to_string());
        return list;
    }
    let signed = match SignedContent::parse(bytes, FILE, CSCA_MASTER_LIST) {
        Ok(signed) => signed,
        Err(error) => {
            list.errors.push(error.to_string());
            return list;
        }
    };
    match listed_certificates(&signed.content) {
        Ok(raw) => take_certificates(&raw, &mut list),
        Err(error) => list.errors.push(error.to_string()),
    }
    match check_signature(&signed, &list) {
        Ok(Ok(())) => list.signature_valid = true,
        Ok(Err(reason)) => list.errors.push(reason),
        Err(error) => list.errors.push(error.to_string()),
    }
    list.signer = signed.signer_certificate().map(|certificate| {
        let tbs = &certificate.tbs_certificate;
        SignerSummary {
            subject: tbs.subject.to_string(),
            issuer: tbs.issuer.to_string(),
            serial: x509::serial_hex(certificate),
            country: x509::country(&tbs.subject).or_else(|| x509::country(&tbs.issuer)),
        }
    });
    list
}

/// Each certificate's DER in the certList, duplicates included.
fn listed_certificates(content: &[u8]) -> Result<Vec<&[u8]>, LdsError> {
    let encoding = |e: der::Error| LdsError::encoding(FILE, format!("CscaMasterList: {e}"));
    let mut reader = SliceReader::new(content).map_err(encoding)?;
    let raw = reader
        .sequence(|reader| {
            let _version = u8::decode(reader)?;
            let header = Header::decode(reader)?;
            if header.tag != Tag::Set {
                return Err(header.tag.unexpected_error(Some(Tag::Set)));
            }
            reader.read_nested(header.length, |reader| {
                let mut raw = Vec::new();
                while !reader.is_finished() {
                    if raw.len() == MASTER_LIST_CERTIFICATES_MAX {
                        return Err(reader.error(der::ErrorKind::Overlength));
                    }
                    raw.push(reader.tlv_bytes()?);
                }
                Ok(raw)
            })
        })
        .map_err(encoding)?;
    reader.finish(raw).map_err(encoding)
}

/// The distinct certificates, their count and countries.
fn take_certificates(raw: &[&[u8]], list: &mut MasterList) {
    let mut seen = HashSet::new();
    let mut countries = BTreeSet::new();
    for (index, der) in raw.iter().enumerate() {
        if !seen.insert(*der) {
            continue;
        }
        match Certificate::from_der(der) {
            Ok(certificate) => {
                if let Some(country) = x509::country(&certificate.tbs_certificate.subject) {
                    countries.insert(country);
                }
                list.certificates.push(certificate);
            }
            Err(error) => list
                .errors
                .push(format!("certificate {index} does not read: {error}")),
        }
    }
    list.distinct_certificates = seen.len();
    list.countries = countries.into_iter().collect();
}

/// `Ok(Ok(()))` when the signature verifies, `Ok(Err(why))` when it does not.
fn check_signature(
    signed: &SignedContent,
    list: &MasterList,
) -> Result<Result<(), String>, Unsupported> {
    let Some(certificate) = signed.signer_certificate() else {
        return Ok(Err("the signer's certificate is not carried".into()));
    };
    let signer = &signed.signer;
    if let Some(attributes) = &signer.signed_attributes {
        let digest =
            HashAlgorithm::from_oid(&signer.digest_algorithm.oid)?.digest(&signed.content)?;
        if attributes.message_digest.as_deref() != Some(digest.as_slice()) {
            return Ok(Err("the signed messageDigest is not the list's hash".into()));
        }
    }
    let scheme = SignatureScheme::from_algorithms(
        &signer.signature_algorithm,
        Some(&signer.digest_algorithm),
    )?;
    let key = certificate
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| Unsupported(format!("public key re-encoding: {e}")))?;
    if !scheme.verify(
        &key,
        signer.signed_bytes(&signed.content),
        &signer.signature,
    )? {
        return Ok(Err("the signer's signature does not verify".into()));
    }
    signer_issued_by_listed_csca(certificate, list)
}

/// When the list holds CSCAs named as the signer's issuer, one of them must have signed it.
fn signer_issued_by_listed_csca(
    certificate: &Certificate,
    list: &MasterList,
) -> Result<Result<(), String>, Unsupported> {
    let issuer = &certificate.tbs_certificate.issuer;
    let mut named = TrustStore::new();
    for csca in list
        .certificates
        .iter()
        .filter(|csca| csca.tbs_certificate.subject == *issuer)
    {
        named
            .add_csca(csca.clone())
            .map_err(|e| Unsupported(format!("certificate re-encoding: {e}")))?;
    }
    if named.csca_count() == 0 || named.issuer_of(certificate)?.is_some() {
        Ok(Ok(()))
    } else {
        Ok(Err(
            "no listed CSCA of the signer's issuer signed its certificate".into(),
        ))
    }
}
