//! Checkpoints `{size, root, time}` signed k-of-n by offline root keys.
//!
//! Rule (as C2SP signed-note): signatures by keys outside the pinned set are ignored, a signature
//! by a pinned key that fails verification rejects the checkpoint, and at least `threshold`
//! distinct pinned keys must have signed.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::entry::Hash;

/// Largest encoded signed checkpoint accepted.
pub const CHECKPOINT_BYTES_MAX: usize = 8 * 1024;
/// Most signatures one checkpoint may carry.
pub const SIGNATURES_MAX: usize = 16;
/// Domain separation: a checkpoint signature can never be mistaken for any other signature.
const SIGNING_CONTEXT: &[u8] = b"checkpointd ledger checkpoint v1\n";

/// What a checkpoint asserts: the ledger has `size` entries and `h(size) == root`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub size: u64,
    #[serde(with = "super::bytes")]
    pub root: Hash,
    pub time: Timestamp,
}

/// One root signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootSignature {
    #[serde(with = "super::bytes")]
    pub key: [u8; 32],
    #[serde(with = "super::bytes")]
    pub sig: [u8; 64],
}

/// The signed form: the checkpoint's exact CBOR bytes plus signatures over them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedCheckpoint {
    /// CBOR of [`Checkpoint`], kept as received so verification never re-encodes.
    #[serde(with = "serde_body")]
    pub body: Vec<u8>,
    pub signatures: Vec<RootSignature>,
}

mod serde_body {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(b)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        ciborium::Value::deserialize(d)?
            .into_bytes()
            .map_err(|_| serde::de::Error::custom("checkpoint body is not a byte string"))
    }
}

/// Why a checkpoint is not accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CheckpointError {
    #[error("checkpoint is {0} bytes, more than the {CHECKPOINT_BYTES_MAX}-byte limit")]
    TooLarge(usize),
    #[error("checkpoint carries {0} signatures, more than {SIGNATURES_MAX}")]
    TooManySignatures(usize),
    #[error("checkpoint is not valid cbor: {0}")]
    Cbor(String),
    #[error("signature by pinned root {key} does not verify")]
    BadSignature { key: String },
    #[error("checkpoint has {have} valid root signatures, {need} required")]
    NotEnoughSignatures { have: usize, need: usize },
    #[error("root key {0} is weak (small order) and cannot be pinned")]
    WeakRoot(String),
    #[error("root key {0} is not a valid ed25519 point")]
    InvalidRoot(String),
    #[error("threshold {threshold} is impossible with {roots} pinned roots")]
    Threshold { threshold: usize, roots: usize },
    #[error("root {0} has already signed this checkpoint")]
    AlreadySigned(String),
}

/// A pinned root key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootKey(VerifyingKey);

impl RootKey {
    /// Parses and vets a root public key.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, CheckpointError> {
        let key = VerifyingKey::from_bytes(bytes)
            .map_err(|_| CheckpointError::InvalidRoot(hex::encode(bytes)))?;
        if key.is_weak() {
            return Err(CheckpointError::WeakRoot(hex::encode(bytes)));
        }
        Ok(Self(key))
    }

    /// The raw public key.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }
}

/// The pinned roots and how many of them must sign.
#[derive(Clone, Debug)]
pub struct RootSet {
    roots: Vec<RootKey>,
    threshold: usize,
}

impl RootSet {
    /// A root set; `threshold` must be between 1 and the number of distinct roots.
    pub fn new(mut roots: Vec<RootKey>, threshold: usize) -> Result<Self, CheckpointError> {
        roots.sort_by_key(RootKey::to_bytes);
        roots.dedup();
        if threshold == 0 || threshold > roots.len() {
            return Err(CheckpointError::Threshold {
                threshold,
                roots: roots.len(),
            });
        }
        Ok(Self { roots, threshold })
    }

    /// Verifies signatures and decodes the checkpoint.
    pub fn verify(&self, signed: &SignedCheckpoint) -> Result<Checkpoint, CheckpointError> {
        if signed.signatures.len() > SIGNATURES_MAX {
            return Err(CheckpointError::TooManySignatures(signed.signatures.len()));
        }
        let message = signing_message(&signed.body);
        let mut good: Vec<[u8; 32]> = Vec::new();
        for signature in &signed.signatures {
            let Some(root) = self.roots.iter().find(|r| r.to_bytes() == signature.key) else {
                continue;
            };
            root.0
                .verify_strict(&message, &Signature::from_bytes(&signature.sig))
                .map_err(|_| CheckpointError::BadSignature {
                    key: hex::encode(signature.key),
                })?;
            if !good.contains(&signature.key) {
                good.push(signature.key);
            }
        }
        if good.len() < self.threshold {
            return Err(CheckpointError::NotEnoughSignatures {
                have: good.len(),
                need: self.threshold,
            });
        }
        ciborium::from_reader(signed.body.as_slice())
            .map_err(|e| CheckpointError::Cbor(e.to_string()))
    }
}

fn signing_message(body: &[u8]) -> Vec<u8> {
    [SIGNING_CONTEXT, body].concat()
}

impl SignedCheckpoint {
    /// Signs a checkpoint with each of `keys` (central's offline roots).
    pub fn sign(checkpoint: &Checkpoint, keys: &[SigningKey]) -> Self {
        let mut body = Vec::new();
        ciborium::into_writer(checkpoint, &mut body).expect("writing cbor into a Vec cannot fail");
        let message = signing_message(&body);
        let signatures = keys
            .iter()
            .map(|k| RootSignature {
                key: k.verifying_key().to_bytes(),
                sig: k.sign(&message).to_bytes(),
            })
            .collect();
        Self { body, signatures }
    }

    /// Adds one root's signature over the body as it is (an offline root signs a checkpoint
    /// prepared elsewhere); a key that already signed is refused rather than counted twice.
    pub fn add_signature(&mut self, key: &SigningKey) -> Result<(), CheckpointError> {
        let public = key.verifying_key().to_bytes();
        if self.signatures.iter().any(|s| s.key == public) {
            return Err(CheckpointError::AlreadySigned(hex::encode(public)));
        }
        if self.signatures.len() >= SIGNATURES_MAX {
            return Err(CheckpointError::TooManySignatures(
                self.signatures.len() + 1,
            ));
        }
        self.signatures.push(RootSignature {
            key: public,
            sig: key.sign(&signing_message(&self.body)).to_bytes(),
        });
        Ok(())
    }

    /// The checkpoint the body states, before any signature is checked (to show what is
    /// about to be signed or published).
    pub fn unverified(&self) -> Result<Checkpoint, CheckpointError> {
        ciborium::from_reader(self.body.as_slice())
            .map_err(|e| CheckpointError::Cbor(e.to_string()))
    }

    /// CBOR wire form.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        ciborium::into_writer(self, &mut out).expect("writing cbor into a Vec cannot fail");
        out
    }

    /// Parses the CBOR wire form (signatures are not checked here).
    pub fn decode(bytes: &[u8]) -> Result<Self, CheckpointError> {
        if bytes.len() > CHECKPOINT_BYTES_MAX {
            return Err(CheckpointError::TooLarge(bytes.len()));
        }
        ciborium::from_reader(bytes).map_err(|e| CheckpointError::Cbor(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn roots(seeds: &[u8], k: usize) -> RootSet {
        let keys = seeds
            .iter()
            .map(|s| RootKey::from_bytes(&key(*s).verifying_key().to_bytes()).expect("root"))
            .collect();
        RootSet::new(keys, k).expect("root set")
    }

    fn cp() -> Checkpoint {
        Checkpoint {
            size: 7,
            root: [9; 32],
            time: "2026-01-01T00:00:00Z".parse().expect("ts"),
        }
    }

    #[test]
    fn k_of_n_table() {
        // (pinned seeds, threshold, signer seeds, accepted?)
        let table: &[(&[u8], usize, &[u8], bool)] = &[
            (&[1, 2, 3], 2, &[1, 2], true),
            (&[1, 2, 3], 2, &[1], false),
            (&[1, 2, 3], 2, &[1, 1], false),
            (&[1, 2, 3], 2, &[1, 9], false),
            (&[1, 2, 3], 2, &[1, 9, 3], true),
            (&[1, 2, 3], 3, &[3, 2, 1], true),
            (&[2, 3], 1, &[1], false),
        ];
        for (pinned, k, signers, ok) in table {
            let signing: Vec<_> = signers.iter().map(|s| key(*s)).collect();
            let signed = SignedCheckpoint::sign(&cp(), &signing);
            let back = SignedCheckpoint::decode(&signed.encode()).expect("decode");
            let result = roots(pinned, *k).verify(&back);
            assert_eq!(
                result.is_ok(),
                *ok,
                "{pinned:?} k={k} signers={signers:?}: {result:?}"
            );
            if *ok {
                assert_eq!(result, Ok(cp()));
            }
        }
    }

    #[test]
    fn a_failing_known_signature_rejects_even_with_enough_others() {
        let mut signed = SignedCheckpoint::sign(&cp(), &[key(1), key(2), key(3)]);
        signed.signatures[2].sig[0] ^= 1;
        assert!(matches!(
            roots(&[1, 2, 3], 2).verify(&signed),
            Err(CheckpointError::BadSignature { .. })
        ));
    }

    #[test]
    fn a_changed_body_fails() {
        let mut signed = SignedCheckpoint::sign(&cp(), &[key(1), key(2)]);
        let mut other = cp();
        other.size = 8;
        let mut body = Vec::new();
        ciborium::into_writer(&other, &mut body).expect("cbor");
        signed.body = body;
        assert!(roots(&[1, 2], 1).verify(&signed).is_err());
    }

    #[test]
    fn offline_signatures_add_up_to_the_threshold_once_each() {
        let mut signed = SignedCheckpoint::sign(&cp(), &[]);
        assert_eq!(signed.unverified(), Ok(cp()));
        signed.add_signature(&key(1)).expect("first root");
        assert!(matches!(
            roots(&[1, 2, 3], 2).verify(&signed),
            Err(CheckpointError::NotEnoughSignatures { have: 1, need: 2 })
        ));
        assert!(matches!(
            signed.add_signature(&key(1)),
            Err(CheckpointError::AlreadySigned(_))
        ));
        signed.add_signature(&key(3)).expect("second root");
        let back = SignedCheckpoint::decode(&signed.encode()).expect("decode");
        assert_eq!(roots(&[1, 2, 3], 2).verify(&back), Ok(cp()));
    }

    #[test]
    fn impossible_thresholds_are_refused() {
        let one = vec![RootKey::from_bytes(&key(1).verifying_key().to_bytes()).expect("root")];
        assert!(RootSet::new(one.clone(), 0).is_err());
        assert!(RootSet::new(one.clone(), 2).is_err());
        assert!(RootSet::new(vec![one[0].clone(), one[0].clone()], 2).is_err());
    }
}
