//! The hash and signature algorithms eMRTDs use, named by their OIDs, checked by OpenSSL.

use der::Decode;
use der::asn1::ObjectIdentifier;
use openssl::bn::BigNum;
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::rsa::Padding;
use openssl::sign::{RsaPssSaltlen, Verifier};
use x509_cert::spki::AlgorithmIdentifierOwned;

/// An algorithm this terminal does not check (or a key it cannot read).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unsupported algorithm: {0}")]
pub struct Unsupported(pub String);

/// The data-group and signature hashes Doc 9303 allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashAlgorithm {
    /// SHA-1.
    Sha1,
    /// SHA-224.
    Sha224,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

/// (OID, hash) of the hash algorithms.
const HASH_OIDS: [(&str, HashAlgorithm); 5] = [
    ("1.3.14.3.2.26", HashAlgorithm::Sha1),
    ("2.16.840.1.101.3.4.2.4", HashAlgorithm::Sha224),
    ("2.16.840.1.101.3.4.2.1", HashAlgorithm::Sha256),
    ("2.16.840.1.101.3.4.2.2", HashAlgorithm::Sha384),
    ("2.16.840.1.101.3.4.2.3", HashAlgorithm::Sha512),
];

impl HashAlgorithm {
    /// The hash an OID names.
    pub fn from_oid(oid: &ObjectIdentifier) -> Result<Self, Unsupported> {
        HASH_OIDS
            .iter()
            .find(|(text, _)| oid.to_string() == *text)
            .map(|(_, hash)| *hash)
            .ok_or_else(|| Unsupported(format!("hash {oid}")))
    }

    /// The OpenSSL digest.
    fn message_digest(self) -> MessageDigest {
        match self {
            Self::Sha1 => MessageDigest::sha1(),
            Self::Sha224 => MessageDigest::sha224(),
            Self::Sha256 => MessageDigest::sha256(),
            Self::Sha384 => MessageDigest::sha384(),
            Self::Sha512 => MessageDigest::sha512(),
        }
    }

    /// The hash of `data`.
    pub fn digest(self, data: &[u8]) -> Result<Vec<u8>, Unsupported> {
        openssl::hash::hash(self.message_digest(), data)
            .map(|digest| digest.to_vec())
            .map_err(|error| Unsupported(format!("OpenSSL digest: {error}")))
    }
}

/// How a signature is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureScheme {
    /// RSA PKCS#1 v1.5.
    RsaPkcs1(HashAlgorithm),
    /// RSASSA-PSS with MGF1.
    RsaPss {
        /// Message hash.
        hash: HashAlgorithm,
        /// MGF1's hash.
        mask_hash: HashAlgorithm,
        /// Salt length in bytes.
        salt_length: u32,
    },
    /// ECDSA, signature DER-encoded (X9.62).
    Ecdsa(HashAlgorithm),
    /// ECDSA, signature as plain r‖s (BSI TR-03111).
    EcdsaPlain(HashAlgorithm),
}

/// RSASSA-PSS-params (RFC 4055); absent fields take the defaults SHA-1, MGF1-SHA-1, 20.
#[derive(Clone, Debug, der::Sequence)]
struct PssParameters {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    hash: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    mask_generation: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    salt_length: Option<u32>,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    trailer_field: Option<u8>,
}

/// id-RSASSA-PSS.
const RSA_PSS: &str = "1.2.840.113549.1.1.10";
/// id-mgf1.
const MGF1: &str = "1.2.840.113549.1.1.8";
/// (OID, scheme) of the signature algorithms that fix their hash.
const SIGNATURE_OIDS: [(&str, SignatureScheme); 15] = [
    (
        "1.2.840.113549.1.1.5",
        SignatureScheme::RsaPkcs1(HashAlgorithm::Sha1),
    ),
    (
        "1.2.840.113549.1.1.14",
        SignatureScheme::RsaPkcs1(HashAlgorithm::Sha224),
    ),
    (
        "1.2.840.113549.1.1.11",
        SignatureScheme::RsaPkcs1(HashAlgorithm::Sha256),
    ),
    (
        "1.2.840.113549.1.1.12",
        SignatureScheme::RsaPkcs1(HashAlgorithm::Sha384),
    ),
    (
        "1.2.840.113549.1.1.13",
        SignatureScheme::RsaPkcs1(HashAlgorithm::Sha512),
    ),
    (
        "1.2.840.10045.4.1",
        SignatureScheme::Ecdsa(HashAlgorithm::Sha1),
    ),
    (
        "1.2.840.10045.4.3.1",
        SignatureScheme::Ecdsa(HashAlgorithm::Sha224),
    ),
    (
        "1.2.840.10045.4.3.2",
        SignatureScheme::Ecdsa(HashAlgorithm::Sha256),
    ),
    (
        "1.2.840.10045.4.3.3",
        SignatureScheme::Ecdsa(HashAlgorithm::Sha384),
    ),
    (
        "1.2.840.10045.4.3.4",
        SignatureScheme::Ecdsa(HashAlgorithm::Sha512),
    ),
    (
        "0.4.0.127.0.7.1.1.4.1.1",
        SignatureScheme::EcdsaPlain(HashAlgorithm::Sha1),
    ),
    (
        "0.4.0.127.0.7.1.1.4.1.2",
        SignatureScheme::EcdsaPlain(HashAlgorithm::Sha224),
    ),
    (
        "0.4.0.127.0.7.1.1.4.1.3",
        SignatureScheme::EcdsaPlain(HashAlgorithm::Sha256),
    ),
    (
        "0.4.0.127.0.7.1.1.4.1.4",
        SignatureScheme::EcdsaPlain(HashAlgorithm::Sha384),
    ),
    (
        "0.4.0.127.0.7.1.1.4.1.5",
        SignatureScheme::EcdsaPlain(HashAlgorithm::Sha512),
    ),
];
/// rsaEncryption and id-ecPublicKey: key OIDs some signers put as the signature algorithm,
/// the hash then coming from the digest algorithm.
const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";

impl SignatureScheme {
    /// The scheme of `algorithm`; `digest` gives the hash when the algorithm names only the key
    /// type (CMS signers may; certificates and CRLs never do, and pass `None`).
    pub fn from_algorithms(
        algorithm: &AlgorithmIdentifierOwned,
        digest: Option<&AlgorithmIdentifierOwned>,
    ) -> Result<Self, Unsupported> {
        let oid = algorithm.oid.to_string();
        if let Some((_, scheme)) = SIGNATURE_OIDS.iter().find(|(text, _)| oid == *text) {
            return Ok(*scheme);
        }
        let digest_hash = || {
            digest
                .map(|digest| HashAlgorithm::from_oid(&digest.oid))
                .unwrap_or_else(|| Err(Unsupported(format!("signature {oid} without a hash"))))
        };
        match oid.as_str() {
            RSA_PSS => pss_scheme(algorithm),
            RSA_ENCRYPTION => Ok(Self::RsaPkcs1(digest_hash()?)),
            EC_PUBLIC_KEY => Ok(Self::Ecdsa(digest_hash()?)),
            _ => Err(Unsupported(format!("signature {oid}"))),
        }
    }

    /// Whether `signature` over `message` verifies with the key in `public_key_der` (a DER
    /// SubjectPublicKeyInfo). A key OpenSSL cannot read is unsupported; a malformed signature
    /// or one made with another key type does not verify.
    pub fn verify(
        self,
        public_key_der: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, Unsupported> {
        let key = PKey::public_key_from_der(public_key_der)
            .map_err(|error| Unsupported(format!("public key: {error}")))?;
        let signature = match self {
            Self::EcdsaPlain(_) => match plain_to_der(signature) {
                Some(der) => der,
                None => return Ok(false),
            },
            _ => signature.to_vec(),
        };
        Ok(self
            .run_verifier(&key, message, &signature)
            .unwrap_or(false))
    }

    /// OpenSSL's verdict; an OpenSSL error (wrong key type, bad encoding) is `Err`.
    fn run_verifier(
        self,
        key: &PKey<openssl::pkey::Public>,
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, openssl::error::ErrorStack> {
        let hash = match self {
            Self::RsaPkcs1(hash) | Self::Ecdsa(hash) | Self::EcdsaPlain(hash) => hash,
            Self::RsaPss { hash, .. } => hash,
        };
        let mut verifier = Verifier::new(hash.message_digest(), key)?;
        if let Self::RsaPss {
            mask_hash,
            salt_length,
            ..
        } = self
        {
            verifier.set_rsa_padding(Padding::PKCS1_PSS)?;
            verifier.set_rsa_mgf1_md(mask_hash.message_digest())?;
            let salt = i32::try_from(salt_length).unwrap_or(i32::MAX);
            verifier.set_rsa_pss_saltlen(RsaPssSaltlen::custom(salt))?;
        }
        verifier.update(message)?;
        verifier.verify(signature)
    }
}

/// The PSS scheme from RSASSA-PSS-params.
fn pss_scheme(algorithm: &AlgorithmIdentifierOwned) -> Result<SignatureScheme, Unsupported> {
    let unsupported = |why: String| Unsupported(format!("RSASSA-PSS parameters: {why}"));
    let parameters = match &algorithm.parameters {
        Some(any) => PssParameters::from_der(
            &der::Encode::to_der(any).map_err(|e| unsupported(e.to_string()))?,
        )
        .map_err(|e| unsupported(e.to_string()))?,
        None => return Err(unsupported("absent".into())),
    };
    let hash = match &parameters.hash {
        Some(hash) => HashAlgorithm::from_oid(&hash.oid)?,
        None => HashAlgorithm::Sha1,
    };
    let mask_hash = match &parameters.mask_generation {
        None => HashAlgorithm::Sha1,
        Some(mgf) if mgf.oid.to_string() == MGF1 => {
            let inner = mgf
                .parameters
                .as_ref()
                .ok_or_else(|| unsupported("MGF1 without a hash".into()))?
                .decode_as::<AlgorithmIdentifierOwned>()
                .map_err(|e| unsupported(e.to_string()))?;
            HashAlgorithm::from_oid(&inner.oid)?
        }
        Some(mgf) => return Err(unsupported(format!("mask generation {}", mgf.oid))),
    };
    if parameters.trailer_field.is_some_and(|trailer| trailer != 1) {
        return Err(unsupported("trailer field other than 1".into()));
    }
    Ok(SignatureScheme::RsaPss {
        hash,
        mask_hash,
        salt_length: parameters.salt_length.unwrap_or(20),
    })
}

/// A plain r‖s ECDSA signature as DER, when it splits into two equal halves.
fn plain_to_der(signature: &[u8]) -> Option<Vec<u8>> {
    if signature.is_empty() || !signature.len().is_multiple_of(2) {
        return None;
    }
    let (r, s) = signature.split_at(signature.len() / 2);
    let r = BigNum::from_slice(r).ok()?;
    let s = BigNum::from_slice(s).ok()?;
    EcdsaSig::from_private_components(r, s).ok()?.to_der().ok()
}
