//! Active authentication (Doc 9303-11 section 6.1): the chip signs a terminal challenge with
//! the private key whose public half DG15 holds; a copied chip cannot. ECDSA signatures come
//! as plain r‖s, RSA ones with ISO/IEC 9796-2 message recovery. OpenSSL does the arithmetic
//! (it covers every curve and RSA size DG15 may name); the 9796-2 message layout is protocol.

use openssl::bn::BigNum;
use openssl::ecdsa::EcdsaSig;
use openssl::hash::{MessageDigest, hash};
use openssl::pkey::{Id, PKey, Private, Public};
use openssl::rsa::Padding;
use rand::RngCore;

use super::ChipError;
use super::apdu::Command;
use super::lds::{self, LdsFile};
use super::link::Link;

/// A challenge and the chip's answer, verified later against DG15 (once passive
/// authentication has bound DG15 to the document).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The 8-byte challenge sent.
    pub challenge: [u8; 8],
    /// The chip's signature (empty when the chip refused INTERNAL AUTHENTICATE).
    pub signature: Vec<u8>,
}

/// Sends INTERNAL AUTHENTICATE with a fresh challenge.
pub fn challenge_chip(link: &mut Link<'_>, rng: &mut dyn RngCore) -> Result<Attempt, ChipError> {
    let mut challenge = [0; 8];
    rng.fill_bytes(&mut challenge);
    let command = Command::new(0x00, 0x88, 0x00, 0x00)
        .with_data(challenge.to_vec())
        .with_le(256);
    let answer = link.exchange(&command)?;
    let signature = if answer.is_ok() {
        answer.data
    } else {
        Vec::new()
    };
    Ok(Attempt {
        challenge,
        signature,
    })
}

/// The public key DG15 holds (its SubjectPublicKeyInfo inside tag 6F).
pub fn dg15_key(dg15: &[u8]) -> Result<PKey<Public>, ChipError> {
    let bad = |why: String| ChipError::Malformed {
        step: "DG15",
        what: why,
    };
    let header = lds::header_len(dg15, LdsFile::Dg(15))?;
    let total = lds::announced_len(dg15, LdsFile::Dg(15))?;
    let spki = dg15
        .get(header..total)
        .ok_or_else(|| bad("shorter than its header says".into()))?;
    PKey::public_key_from_der(spki).map_err(|e| bad(format!("SubjectPublicKeyInfo: {e}")))
}

/// Whether the signature answers the challenge under DG15's key.
pub fn verify(dg15: &[u8], attempt: &Attempt) -> Result<bool, ChipError> {
    if attempt.signature.is_empty() {
        return Ok(false);
    }
    let key = dg15_key(dg15)?;
    match key.id() {
        Id::EC => verify_ecdsa(&key, attempt),
        Id::RSA => verify_rsa(&key, attempt),
        other => Err(ChipError::Malformed {
            step: "DG15",
            what: format!("key type {other:?}"),
        }),
    }
}

/// Plain r‖s over the challenge's hash; DG14 may name the hash, so every SHA of Doc 9303 is
/// tried (a forgery under any of them is as hard as under the one named).
fn verify_ecdsa(key: &PKey<Public>, attempt: &Attempt) -> Result<bool, ChipError> {
    let crypto = |_| ChipError::Crypto {
        why: "ECDSA verification failed to run",
    };
    let ec = key.ec_key().map_err(crypto)?;
    let half = attempt.signature.len() / 2;
    if half == 0 || !attempt.signature.len().is_multiple_of(2) {
        return Ok(false);
    }
    let r = BigNum::from_slice(&attempt.signature[..half]).map_err(crypto)?;
    let s = BigNum::from_slice(&attempt.signature[half..]).map_err(crypto)?;
    let signature = EcdsaSig::from_private_components(r, s).map_err(crypto)?;
    for digest in [
        MessageDigest::sha256(),
        MessageDigest::sha1(),
        MessageDigest::sha224(),
        MessageDigest::sha384(),
        MessageDigest::sha512(),
    ] {
        let h = hash(digest, &attempt.challenge).map_err(crypto)?;
        if signature.verify(&h, &ec).unwrap_or(false) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// ISO/IEC 9796-2 scheme 1 with partial recovery: 6A ‖ M1 ‖ H(M1 ‖ challenge) ‖ trailer.
fn verify_rsa(key: &PKey<Public>, attempt: &Attempt) -> Result<bool, ChipError> {
    let crypto = |_| ChipError::Crypto {
        why: "RSA verification failed to run",
    };
    let rsa = key.rsa().map_err(crypto)?;
    let size = usize::try_from(rsa.size()).unwrap_or(0);
    if attempt.signature.len() != size {
        return Ok(false);
    }
    let mut message = vec![0; size];
    let Ok(len) = rsa.public_decrypt(&attempt.signature, &mut message, Padding::NONE) else {
        return Ok(false);
    };
    message.truncate(len);
    let (digest, trailer) = match message.as_slice() {
        [.., 0xBC] => (MessageDigest::sha1(), 1),
        [.., 0x33, 0xCC] => (MessageDigest::sha1(), 2),
        [.., 0x34, 0xCC] => (MessageDigest::sha256(), 2),
        [.., 0x35, 0xCC] => (MessageDigest::sha512(), 2),
        [.., 0x36, 0xCC] => (MessageDigest::sha384(), 2),
        [.., 0x38, 0xCC] => (MessageDigest::sha224(), 2),
        _ => return Ok(false),
    };
    let h_len = digest.size();
    if message.first() != Some(&0x6A) || message.len() < 1 + h_len + trailer {
        return Ok(false);
    }
    let end = message.len() - trailer;
    let (m1, d) = message[1..end].split_at(end - 1 - h_len);
    let expected = hash(digest, &[m1, &attempt.challenge[..]].concat()).map_err(crypto)?;
    Ok(*expected == *d)
}

/// The chip side (for the simulator): signs a challenge with the AA private key.
pub fn sign(
    key: &PKey<Private>,
    challenge: &[u8],
    rng: &mut dyn RngCore,
) -> Result<Vec<u8>, ChipError> {
    let crypto = |_| ChipError::Crypto {
        why: "signing failed",
    };
    match key.id() {
        Id::EC => {
            let ec = key.ec_key().map_err(crypto)?;
            let h = hash(MessageDigest::sha256(), challenge).map_err(crypto)?;
            let signature = EcdsaSig::sign(&h, &ec).map_err(crypto)?;
            let bits = ec.group().degree();
            let width = i32::try_from(bits.div_ceil(8)).unwrap_or(0);
            let r = signature.r().to_vec_padded(width).map_err(crypto)?;
            let s = signature.s().to_vec_padded(width).map_err(crypto)?;
            Ok([r, s].concat())
        }
        Id::RSA => {
            let rsa = key.rsa().map_err(crypto)?;
            let size = usize::try_from(rsa.size()).unwrap_or(0);
            let mut m1 = vec![0; size.saturating_sub(1 + 20 + 1)];
            rng.fill_bytes(&mut m1);
            let digest =
                hash(MessageDigest::sha1(), &[&m1[..], challenge].concat()).map_err(crypto)?;
            let message = [&[0x6A][..], &m1, &digest, &[0xBC]].concat();
            let mut signature = vec![0; size];
            rsa.private_encrypt(&message, &mut signature, Padding::NONE)
                .map_err(crypto)?;
            Ok(signature)
        }
        _ => Err(ChipError::Crypto {
            why: "AA key is neither EC nor RSA",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::nid::Nid;
    use openssl::rsa::Rsa;

    fn dg15(key: &PKey<Private>) -> Vec<u8> {
        super::super::tlv::encode(&[0x6F], &key.public_key_to_der().expect("SPKI"))
    }

    fn keys() -> Vec<PKey<Private>> {
        let ec = |nid| {
            PKey::from_ec_key(
                EcKey::generate(&EcGroup::from_curve_name(nid).expect("curve")).expect("key"),
            )
            .expect("pkey")
        };
        vec![
            ec(Nid::X9_62_PRIME256V1),
            ec(Nid::BRAINPOOL_P256R1),
            PKey::from_rsa(Rsa::generate(1024).expect("RSA")).expect("pkey"),
        ]
    }

    #[test]
    fn a_genuine_chip_verifies_and_a_clone_does_not() {
        let mut rng = rand::thread_rng();
        for key in keys() {
            let challenge = [1, 2, 3, 4, 5, 6, 7, 8];
            let signature = sign(&key, &challenge, &mut rng).expect("sign");
            let attempt = Attempt {
                challenge,
                signature,
            };
            assert_eq!(verify(&dg15(&key), &attempt), Ok(true), "{:?}", key.id());
            // A clone holds the DG15 but not the private key.
            let other = keys().remove(if key.id() == Id::RSA { 2 } else { 0 });
            let forged = Attempt {
                challenge,
                signature: sign(&other, &challenge, &mut rng).expect("sign"),
            };
            assert_eq!(verify(&dg15(&key), &forged), Ok(false));
            let replayed = Attempt {
                challenge: [9; 8],
                signature: attempt.signature.clone(),
            };
            assert_eq!(verify(&dg15(&key), &replayed), Ok(false));
        }
    }

    #[test]
    fn a_malformed_dg15_is_an_error() {
        let attempt = Attempt {
            challenge: [0; 8],
            signature: vec![1; 64],
        };
        assert!(verify(&[0x6F, 0x03, 1, 2, 3], &attempt).is_err());
        assert!(verify(&[0x6F, 0x10, 1], &attempt).is_err());
    }
}
