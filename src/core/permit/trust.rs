//! Issuer keys a terminal trusts, their key ids, and the JSON file form of the list.

use coset::{CborOrdering, CborSerializable, CoseKeyBuilder, iana};
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::body::PermitType;

/// Most keys one trust list may hold; a list is small (a handful of issuing offices).
pub const TRUST_LIST_KEYS_MAX: usize = 4096;

/// One issuer key with its validity periods and scope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuerKey {
    /// First 8 bytes of the RFC 9679 COSE_Key thumbprint of `public_key` (see [`key_id`]).
    pub kid: [u8; 8],
    /// Ed25519 public key.
    pub public_key: [u8; 32],
    /// A permit's `iat` must be at or after this.
    pub sign_from: jiff::Timestamp,
    /// A permit's `iat` must be at or before this.
    pub sign_until: jiff::Timestamp,
    /// A permit's `exp` must be at or before this.
    pub verify_until: jiff::Timestamp,
    /// Permit types this key may sign; empty means every type.
    pub permitted: Vec<PermitType>,
}

impl IssuerKey {
    /// Whether this key may sign a permit of `permit_type`.
    pub fn permits(&self, permit_type: PermitType) -> bool {
        self.permitted.is_empty() || self.permitted.contains(&permit_type)
    }
}

/// Why a trust list cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TrustListError {
    /// The JSON does not have the documented shape.
    #[error("trust list json: {0}")]
    Json(#[from] serde_json::Error),
    /// A hex field does not decode or has the wrong length.
    #[error("key {index}: {field} must be {bytes} bytes of hex")]
    Hex {
        /// Position in the list.
        index: usize,
        /// `kid` or `public_key`.
        field: &'static str,
        /// Expected length.
        bytes: usize,
    },
    /// The public key is not a valid Ed25519 point.
    #[error("key {index}: public key is not a valid ed25519 point")]
    InvalidPoint {
        /// Position in the list.
        index: usize,
    },
    /// The public key has small order: anyone could forge signatures that some verifiers accept.
    #[error("key {index}: public key is weak (small order) and is refused")]
    WeakKey {
        /// Position in the list.
        index: usize,
    },
    /// The kid is not the thumbprint-derived id of the public key.
    #[error("key {index}: kid {given} does not match the key's thumbprint id {expected}")]
    KidMismatch {
        /// Position in the list.
        index: usize,
        /// Kid in the list, hex.
        given: String,
        /// Kid derived from the public key, hex.
        expected: String,
    },
    /// The periods are out of order.
    #[error("key {index}: periods must satisfy sign_from <= sign_until <= verify_until")]
    Periods {
        /// Position in the list.
        index: usize,
    },
    /// `permitted` is present but empty.
    #[error("key {index}: permitted must not be empty; omit it to permit every type")]
    EmptyPermitted {
        /// Position in the list.
        index: usize,
    },
    /// Too many keys.
    #[error("trust list holds {count} keys, more than {TRUST_LIST_KEYS_MAX}")]
    TooManyKeys {
        /// Keys given.
        count: usize,
    },
}

/// A loaded key: its entry and its parsed point.
#[derive(Clone, Debug)]
pub struct TrustedKey {
    /// The entry as given.
    pub entry: IssuerKey,
    /// The parsed, non-weak point.
    pub verifying_key: VerifyingKey,
}

/// Issuer keys checked for weakness and kid consistency; several keys may share a kid.
#[derive(Clone, Debug, Default)]
pub struct TrustList {
    keys: Vec<TrustedKey>,
}

impl TrustList {
    /// Loads keys, refusing weak or invalid points, wrong kids and disordered periods.
    pub fn new(keys: Vec<IssuerKey>) -> Result<Self, TrustListError> {
        if keys.len() > TRUST_LIST_KEYS_MAX {
            return Err(TrustListError::TooManyKeys { count: keys.len() });
        }
        let mut trusted = Vec::with_capacity(keys.len());
        for (index, entry) in keys.into_iter().enumerate() {
            let verifying_key = VerifyingKey::from_bytes(&entry.public_key)
                .map_err(|_| TrustListError::InvalidPoint { index })?;
            if verifying_key.is_weak() {
                return Err(TrustListError::WeakKey { index });
            }
            let expected = key_id(&verifying_key);
            if expected != entry.kid {
                return Err(TrustListError::KidMismatch {
                    index,
                    given: hex::encode(entry.kid),
                    expected: hex::encode(expected),
                });
            }
            if !(entry.sign_from <= entry.sign_until && entry.sign_until <= entry.verify_until) {
                return Err(TrustListError::Periods { index });
            }
            trusted.push(TrustedKey {
                entry,
                verifying_key,
            });
        }
        Ok(Self { keys: trusted })
    }

    /// Parses the JSON file form (`docs/bp1.md` §7) and loads it with [`TrustList::new`].
    pub fn from_json(text: &str) -> Result<Self, TrustListError> {
        let file: Vec<IssuerKeyJson> = serde_json::from_str(text)?;
        let mut keys = Vec::with_capacity(file.len().min(TRUST_LIST_KEYS_MAX));
        for (index, key) in file.into_iter().enumerate() {
            keys.push(key.into_issuer_key(index)?);
        }
        Self::new(keys)
    }

    /// Every key whose kid equals `kid`.
    pub fn candidates<'a>(&'a self, kid: &'a [u8]) -> impl Iterator<Item = &'a TrustedKey> + 'a {
        self.keys
            .iter()
            .filter(move |key| key.entry.kid.as_slice() == kid)
    }

    /// All loaded keys.
    pub fn keys(&self) -> &[TrustedKey] {
        &self.keys
    }
}

/// One entry of the JSON trust-list file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerKeyJson {
    /// 16 hex digits.
    pub kid: String,
    /// 64 hex digits.
    pub public_key: String,
    /// RFC 3339.
    pub sign_from: jiff::Timestamp,
    /// RFC 3339.
    pub sign_until: jiff::Timestamp,
    /// RFC 3339.
    pub verify_until: jiff::Timestamp,
    /// Absent = every type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permitted: Option<Vec<PermitType>>,
}

impl IssuerKeyJson {
    /// The JSON form of a key entry.
    pub fn from_issuer_key(key: &IssuerKey) -> Self {
        Self {
            kid: hex::encode(key.kid),
            public_key: hex::encode(key.public_key),
            sign_from: key.sign_from,
            sign_until: key.sign_until,
            verify_until: key.verify_until,
            permitted: (!key.permitted.is_empty()).then(|| key.permitted.clone()),
        }
    }

    fn into_issuer_key(self, index: usize) -> Result<IssuerKey, TrustListError> {
        let kid = decode_hex_array::<8>(&self.kid).ok_or(TrustListError::Hex {
            index,
            field: "kid",
            bytes: 8,
        })?;
        let public_key = decode_hex_array::<32>(&self.public_key).ok_or(TrustListError::Hex {
            index,
            field: "public_key",
            bytes: 32,
        })?;
        let permitted = match self.permitted {
            None => Vec::new(),
            Some(types) if types.is_empty() => {
                return Err(TrustListError::EmptyPermitted { index });
            }
            Some(types) => types,
        };
        Ok(IssuerKey {
            kid,
            public_key,
            sign_from: self.sign_from,
            sign_until: self.sign_until,
            verify_until: self.verify_until,
            permitted,
        })
    }
}

fn decode_hex_array<const N: usize>(text: &str) -> Option<[u8; N]> {
    hex::decode(text).ok()?.try_into().ok()
}

/// RFC 9679 COSE_Key thumbprint of an Ed25519 public key: SHA-256 over the deterministic
/// CBOR encoding of `{1: 1 (OKP), -1: 6 (Ed25519), -2: x}`.
pub fn key_thumbprint(public_key: &VerifyingKey) -> [u8; 32] {
    let key = CoseKeyBuilder::new_okp_key()
        .param(
            iana::OkpKeyParameter::Crv as i64,
            ciborium::Value::from(iana::EllipticCurve::Ed25519 as i64),
        )
        .param(
            iana::OkpKeyParameter::X as i64,
            ciborium::Value::Bytes(public_key.as_bytes().to_vec()),
        )
        .build();
    cose_key_thumbprint(key)
}

/// RFC 9679 thumbprint of a COSE_Key that holds only its required parameters.
pub(crate) fn cose_key_thumbprint(mut key: coset::CoseKey) -> [u8; 32] {
    key.canonicalize(CborOrdering::Lexicographic);
    let encoded = key
        .to_vec()
        .expect("a key of integers and byte strings always encodes");
    Sha256::digest(encoded).into()
}

/// The BP1 kid of a key: the first 8 bytes of its RFC 9679 thumbprint.
pub fn key_id(public_key: &VerifyingKey) -> [u8; 8] {
    let thumbprint = key_thumbprint(public_key);
    let mut kid = [0u8; 8];
    kid.copy_from_slice(&thumbprint[..8]);
    kid
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9679 §6 example: an EC2 P-256 key and its thumbprint.
    #[test]
    fn thumbprint_matches_rfc9679_example() {
        let x = hex::decode("65eda5a12577c2bae829437fe338701a10aaa375e1bb5b5de108de439c08551d")
            .expect("hex");
        let y = hex::decode("1e52ed75701163f7f9e40ddf9f341b3dc9ba860af7e0ca7ca7e9eecd0084d19c")
            .expect("hex");
        // Built in a non-canonical order to show canonicalisation fixes the encoding.
        let key = coset::CoseKey {
            kty: coset::KeyType::Assigned(iana::KeyType::EC2),
            params: vec![
                (
                    coset::Label::Int(iana::Ec2KeyParameter::Y as i64),
                    ciborium::Value::Bytes(y),
                ),
                (
                    coset::Label::Int(iana::Ec2KeyParameter::X as i64),
                    ciborium::Value::Bytes(x),
                ),
                (
                    coset::Label::Int(iana::Ec2KeyParameter::Crv as i64),
                    ciborium::Value::from(iana::EllipticCurve::P_256 as i64),
                ),
            ],
            ..Default::default()
        };
        assert_eq!(
            hex::encode(cose_key_thumbprint(key)),
            "496bd8afadf307e5b08c64b0421bf9dc01528a344a43bda88fadd1669da253ec"
        );
    }
}
