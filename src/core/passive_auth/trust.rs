//! The trust a terminal holds: CSCA certificates (from master lists or single files) and the
//! CRLs their issuers published, and the checks a certificate makes against them.

use std::collections::HashSet;

use der::{Decode, Encode};
use x509_cert::Certificate;
use x509_cert::crl::CertificateList;

use super::algorithm::{SignatureScheme, Unsupported};
use crate::core::lds::x509;

/// A certificate or CRL file that does not read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TrustFileError {
    /// Neither PEM nor DER of the expected structure.
    #[error("not a PEM or DER {kind}: {reason}")]
    Unreadable {
        /// `certificate` or `CRL`.
        kind: &'static str,
        /// The decoder's reason.
        reason: String,
    },
}

/// The certificates of a file: DER (one) or PEM (one or more `CERTIFICATE` blocks).
pub fn read_certificates(bytes: &[u8]) -> Result<Vec<Certificate>, TrustFileError> {
    let unreadable = |reason: String| TrustFileError::Unreadable {
        kind: "certificate",
        reason,
    };
    if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        let certificates =
            Certificate::load_pem_chain(bytes).map_err(|e| unreadable(e.to_string()))?;
        if certificates.is_empty() {
            return Err(unreadable("no certificate in the PEM".into()));
        }
        return Ok(certificates);
    }
    Certificate::from_der(bytes)
        .map(|certificate| vec![certificate])
        .map_err(|e| unreadable(e.to_string()))
}

/// A CRL: DER or PEM (`X509 CRL`).
pub fn read_crl(bytes: &[u8]) -> Result<CertificateList, TrustFileError> {
    let unreadable = |reason: String| TrustFileError::Unreadable {
        kind: "CRL",
        reason,
    };
    if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        let (label, der) = der::pem::decode_vec(bytes).map_err(|e| unreadable(e.to_string()))?;
        if label != "X509 CRL" {
            return Err(unreadable(format!("PEM label {label}, expected X509 CRL")));
        }
        return CertificateList::from_der(&der).map_err(|e| unreadable(e.to_string()));
    }
    CertificateList::from_der(bytes).map_err(|e| unreadable(e.to_string()))
}

/// A trusted CSCA with its key ready for OpenSSL.
#[derive(Clone, Debug)]
pub struct Csca {
    /// The certificate.
    pub certificate: Certificate,
    /// Its SubjectPublicKeyInfo, DER.
    public_key_der: Vec<u8>,
}

/// The CSCAs and CRLs a check relies on.
#[derive(Clone, Debug, Default)]
pub struct TrustStore {
    cscas: Vec<Csca>,
    crls: Vec<CertificateList>,
    /// DER of every CSCA held, so the same one from two sources is held once.
    held: HashSet<Vec<u8>>,
}

impl TrustStore {
    /// An empty store: nothing is trusted.
    pub fn new() -> Self {
        Self::default()
    }

    /// Trusts `certificate` as a CSCA (a second copy is ignored).
    pub fn add_csca(&mut self, certificate: Certificate) -> Result<(), der::Error> {
        let der = certificate.to_der()?;
        if !self.held.insert(der) {
            return Ok(());
        }
        let public_key_der = certificate
            .tbs_certificate
            .subject_public_key_info
            .to_der()?;
        self.cscas.push(Csca {
            certificate,
            public_key_der,
        });
        Ok(())
    }

    /// Takes `crl` into account (its signature is checked when it is used).
    pub fn add_crl(&mut self, crl: CertificateList) {
        self.crls.push(crl);
    }

    /// How many CSCAs are trusted.
    pub fn csca_count(&self) -> usize {
        self.cscas.len()
    }

    /// The CSCA that signed `certificate`: a CA-capable trusted certificate named as its
    /// issuer whose key verifies its signature. `Err` when its signature algorithm is not one
    /// this terminal checks.
    pub fn issuer_of(&self, certificate: &Certificate) -> Result<Option<&Csca>, Unsupported> {
        let scheme = SignatureScheme::from_algorithms(&certificate.signature_algorithm, None)?;
        let signed = certificate
            .tbs_certificate
            .to_der()
            .map_err(|e| Unsupported(format!("certificate re-encoding: {e}")))?;
        let signature = certificate.signature.raw_bytes();
        let mut unsupported = None;
        for csca in self.cscas.iter().filter(|csca| {
            csca.certificate.tbs_certificate.subject == certificate.tbs_certificate.issuer
                && can_sign_certificates(&csca.certificate)
        }) {
            match scheme.verify(&csca.public_key_der, &signed, signature) {
                Ok(true) => return Ok(Some(csca)),
                Ok(false) => {}
                Err(error) => unsupported = Some(error),
            }
        }
        unsupported.map_or(Ok(None), Err)
    }

    /// Whether a CRL that `issuer` signed lists `certificate` as revoked. CRLs of other issuers,
    /// or whose signature does not verify, are not evidence.
    pub fn is_revoked(&self, certificate: &Certificate, issuer: &Csca) -> bool {
        let serial = &certificate.tbs_certificate.serial_number;
        self.crls
            .iter()
            .filter(|crl| crl.tbs_cert_list.issuer == issuer.certificate.tbs_certificate.subject)
            .filter(|crl| crl_signed_by(crl, issuer))
            .any(|crl| {
                crl.tbs_cert_list
                    .revoked_certificates
                    .iter()
                    .flatten()
                    .any(|revoked| revoked.serial_number == *serial)
            })
    }
}

impl TrustStore {
    /// Whether a trusted CSCA named as `crl`'s issuer signed it (the ledger's check on apply).
    pub fn signed_crl(&self, crl: &CertificateList) -> bool {
        self.cscas
            .iter()
            .filter(|csca| csca.certificate.tbs_certificate.subject == crl.tbs_cert_list.issuer)
            .any(|csca| crl_signed_by(crl, csca))
    }
}

/// Whether `crl`'s signature verifies with `issuer`'s key.
fn crl_signed_by(crl: &CertificateList, issuer: &Csca) -> bool {
    let Ok(scheme) = SignatureScheme::from_algorithms(&crl.signature_algorithm, None) else {
        return false;
    };
    let Ok(signed) = crl.tbs_cert_list.to_der() else {
        return false;
    };
    scheme
        .verify(&issuer.public_key_der, &signed, crl.signature.raw_bytes())
        .unwrap_or(false)
}

/// A CSCA may sign certificates: basicConstraints, when present, says CA, and key usage, when
/// present, includes keyCertSign.
fn can_sign_certificates(certificate: &Certificate) -> bool {
    let constraints_allow = x509::basic_constraints_allow_ca(certificate);
    let usage_allows = match x509::key_usage(certificate) {
        Ok(None) => true,
        Ok(Some(usage)) => usage.key_cert_sign(),
        Err(_) => false,
    };
    constraints_allow && usage_allows
}
