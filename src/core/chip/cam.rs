//! PACE with chip authentication mapping, PACE-CAM (Doc 9303-11 section 4.4.3.5, BSI
//! TR-03110-2 section 3.4.2): after generic mapping and the tokens, the chip sends
//! CA_IC = SK_IC^-1 · SK_Map,IC mod n encrypted under KS_Enc (DO'8A'), and the terminal checks
//! PK_Map,IC = CA_IC · PK_IC with the chip's static key PK_IC from EF.CardSecurity: only a chip
//! holding SK_IC can answer. The check counts once passive authentication has verified
//! EF.CardSecurity (the caller's part). Both sides are here; the chip side serves the
//! simulator. The curve arithmetic is OpenSSL's, on any curve a key in EF.CardSecurity names.

use openssl::bn::{BigNum, BigNumContext};
use openssl::ec::{EcPoint, PointConversionForm};
use openssl::pkey::{Id, PKey, PKeyRef, Private};

use super::ChipError;
use super::crypto::{Cipher, aes_encrypt_block, pad, unpad};
use super::dg14::{ChipAuthPublicKey, KeyAgreement};

/// What the terminal took from a PACE-CAM run, to be checked against EF.CardSecurity's key
/// once passive authentication has verified that file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The chip's mapping public key PK_Map,IC (generic mapping's DO'82'), uncompressed.
    pub chip_map_public: Vec<u8>,
    /// CA_IC as decrypted from DO'8A', or why it could not be (absent, not decrypting).
    pub chip_data: Result<Vec<u8>, String>,
}

/// IV = E(KS_Enc, -1): the all-ones block encrypted (Doc 9303-11 4.4.3.5.1); AES only.
fn iv(cipher: Cipher, ks_enc: &[u8]) -> Result<Vec<u8>, ChipError> {
    if cipher == Cipher::Tdes {
        return Err(ChipError::PaceUnsupported {
            what: "CAM mapping with 3DES (Doc 9303 defines CAM for AES only)".into(),
        });
    }
    aes_encrypt_block(cipher, ks_enc, &[0xFF; 16])
}

/// The chip's side: A_IC = E(KS_Enc, CA_IC), padded (ISO/IEC 9797-1 method 2), AES-CBC.
pub fn encrypt(cipher: Cipher, ks_enc: &[u8], chip_data: &[u8]) -> Result<Vec<u8>, ChipError> {
    cipher.cbc_encrypt(ks_enc, &iv(cipher, ks_enc)?, &pad(chip_data, 16))
}

/// The terminal's side: CA_IC from A_IC.
pub fn decrypt(cipher: Cipher, ks_enc: &[u8], encrypted: &[u8]) -> Result<Vec<u8>, ChipError> {
    let plain = cipher.cbc_decrypt(ks_enc, &iv(cipher, ks_enc)?, encrypted)?;
    unpad(&plain).map(<[u8]>::to_vec)
}

/// The chip's side: CA_IC = SK_IC^-1 · SK_Map,IC mod n, as wide as n.
pub fn chip_data(static_key: &PKeyRef<Private>, map_private: &[u8]) -> Result<Vec<u8>, ChipError> {
    let failed = |_| ChipError::Crypto {
        why: "CAM: chip authentication data arithmetic failed",
    };
    let ec = static_key.ec_key().map_err(|_| ChipError::Crypto {
        why: "CAM: the chip's static key is not an EC key",
    })?;
    let mut ctx = BigNumContext::new().map_err(failed)?;
    let mut order = BigNum::new().map_err(failed)?;
    ec.group().order(&mut order, &mut ctx).map_err(failed)?;
    let mut inverse = BigNum::new().map_err(failed)?;
    inverse
        .mod_inverse(ec.private_key(), &order, &mut ctx)
        .map_err(failed)?;
    let map = BigNum::from_slice(map_private).map_err(failed)?;
    let mut product = BigNum::new().map_err(failed)?;
    product
        .mod_mul(&inverse, &map, &order, &mut ctx)
        .map_err(failed)?;
    product.to_vec_padded(order.num_bytes()).map_err(failed)
}

/// The terminal's check: some ECDH chip-authentication key of EF.CardSecurity gives
/// CA_IC · PK_IC = PK_Map,IC. `Err(why)` otherwise.
pub fn verify(attempt: &Attempt, keys: &[ChipAuthPublicKey]) -> Result<(), String> {
    let chip_data = attempt.chip_data.as_ref().map_err(Clone::clone)?;
    let mut candidates = keys
        .iter()
        .filter(|key| key.agreement == KeyAgreement::Ecdh)
        .peekable();
    if candidates.peek().is_none() {
        return Err("EF.CardSecurity holds no ECDH chip-authentication public key".into());
    }
    // Every key is tried: one that does not read must not hide one that matches.
    let mut unreadable = None;
    for key in candidates {
        match maps_to(&key.spki, chip_data, &attempt.chip_map_public) {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(why) => unreadable = Some(why),
        }
    }
    Err(unreadable.unwrap_or_else(|| {
        "CA_IC · PK_IC is not the chip's mapping key PK_Map,IC: the chip does not hold the \
         private key EF.CardSecurity vouches for"
            .into()
    }))
}

/// Whether `scalar` times the key of `spki` is the point `expected` (uncompressed).
fn maps_to(spki: &[u8], scalar: &[u8], expected: &[u8]) -> Result<bool, String> {
    let key = PKey::public_key_from_der(spki)
        .map_err(|e| format!("EF.CardSecurity's public key does not read: {e}"))?;
    if key.id() != Id::EC {
        return Err(format!(
            "EF.CardSecurity's ECDH key is of type {:?}",
            key.id()
        ));
    }
    let fail = |e: openssl::error::ErrorStack| e.to_string();
    let ec = key.ec_key().map_err(fail)?;
    let group = ec.group();
    let mut ctx = BigNumContext::new().map_err(fail)?;
    let mut order = BigNum::new().map_err(fail)?;
    group.order(&mut order, &mut ctx).map_err(fail)?;
    let scalar = BigNum::from_slice(scalar).map_err(fail)?;
    if scalar.num_bits() == 0 || scalar >= order {
        return Ok(false);
    }
    let mut point = EcPoint::new(group).map_err(fail)?;
    point
        .mul2(group, ec.public_key(), &scalar, &mut ctx)
        .map_err(fail)?;
    if point.is_infinity(group) {
        return Ok(false);
    }
    let encoded = point
        .to_bytes(group, PointConversionForm::UNCOMPRESSED, &mut ctx)
        .map_err(fail)?;
    Ok(encoded == expected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::nid::Nid;

    fn key(nid: Nid) -> PKey<Private> {
        let group = EcGroup::from_curve_name(nid).expect("curve");
        PKey::from_ec_key(EcKey::generate(&group).expect("key")).expect("pkey")
    }

    fn public_key(key: &PKey<Private>) -> ChipAuthPublicKey {
        ChipAuthPublicKey {
            agreement: KeyAgreement::Ecdh,
            spki: key.public_key_to_der().expect("SPKI"),
            key_id: None,
        }
    }

    /// A mapping key pair on the static key's curve: (SK_Map,IC, PK_Map,IC).
    fn mapping(nid: Nid) -> (Vec<u8>, Vec<u8>) {
        let map = key(nid);
        let ec = map.ec_key().expect("ec");
        let mut ctx = BigNumContext::new().expect("ctx");
        let public = ec
            .public_key()
            .to_bytes(ec.group(), PointConversionForm::UNCOMPRESSED, &mut ctx)
            .expect("point");
        (ec.private_key().to_vec(), public)
    }

    #[test]
    fn the_chip_data_maps_the_static_key_to_the_mapping_key_and_another_key_does_not() {
        for nid in [Nid::BRAINPOOL_P256R1, Nid::X9_62_PRIME256V1, Nid::SECP384R1] {
            let chip = key(nid);
            let (map_private, map_public) = mapping(nid);
            let ca_ic = chip_data(&chip, &map_private).expect("CA_IC");
            let attempt = Attempt {
                chip_map_public: map_public.clone(),
                chip_data: Ok(ca_ic.clone()),
            };
            assert_eq!(verify(&attempt, &[public_key(&chip)]), Ok(()), "{nid:?}");
            // Another static key (a clone's) gives another CA_IC.
            let clone = chip_data(&key(nid), &map_private).expect("clone's CA_IC");
            let forged = Attempt {
                chip_data: Ok(clone),
                ..attempt.clone()
            };
            assert!(verify(&forged, &[public_key(&chip)]).is_err());
            // The genuine answer checks against the key EF.CardSecurity lists among others.
            assert_eq!(
                verify(&attempt, &[public_key(&key(nid)), public_key(&chip)]),
                Ok(())
            );
            assert!(verify(&attempt, &[]).is_err());
        }
    }

    #[test]
    fn a_ic_round_trips_with_every_aes_key_and_3des_is_refused() {
        for cipher in [Cipher::Aes128, Cipher::Aes192, Cipher::Aes256] {
            let ks_enc = vec![0x42; cipher.key_size()];
            let ca_ic = vec![0x17; 32];
            let encrypted = encrypt(cipher, &ks_enc, &ca_ic).expect("encrypt");
            assert_eq!(encrypted.len(), 48, "32 bytes and a padding block");
            assert_eq!(decrypt(cipher, &ks_enc, &encrypted), Ok(ca_ic.clone()));
            // The IV is E(KS_Enc, -1), not zero and not the all-ones block itself.
            let zero_iv = cipher
                .cbc_encrypt(&ks_enc, &[0; 16], &pad(&ca_ic, 16))
                .expect("zero IV");
            let ones_iv = cipher
                .cbc_encrypt(&ks_enc, &[0xFF; 16], &pad(&ca_ic, 16))
                .expect("ones IV");
            assert_ne!(encrypted, zero_iv);
            assert_ne!(encrypted, ones_iv);
        }
        assert!(matches!(
            encrypt(Cipher::Tdes, &[0; 16], &[1; 32]),
            Err(ChipError::PaceUnsupported { .. })
        ));
        assert!(decrypt(Cipher::Aes128, &[0; 16], &[0; 15]).is_err());
    }

    #[test]
    fn an_unreadable_chip_data_or_a_zero_scalar_fails() {
        let chip = key(Nid::BRAINPOOL_P256R1);
        let (_, map_public) = mapping(Nid::BRAINPOOL_P256R1);
        let absent = Attempt {
            chip_map_public: map_public.clone(),
            chip_data: Err("no DO'8A'".into()),
        };
        assert_eq!(
            verify(&absent, &[public_key(&chip)]),
            Err("no DO'8A'".into())
        );
        let zero = Attempt {
            chip_map_public: map_public,
            chip_data: Ok(vec![0; 32]),
        };
        assert!(verify(&zero, &[public_key(&chip)]).is_err());
        let garbage = ChipAuthPublicKey {
            spki: vec![0x30, 0x03, 2, 1, 1],
            ..public_key(&chip)
        };
        let error = verify(&zero, std::slice::from_ref(&garbage)).expect_err("garbage key");
        assert!(error.contains("does not read"), "{error}");
        // An unreadable key listed first does not hide the matching one.
        let (map_private, map_public) = mapping(Nid::BRAINPOOL_P256R1);
        let genuine = Attempt {
            chip_map_public: map_public,
            chip_data: Ok(chip_data(&chip, &map_private).expect("CA_IC")),
        };
        assert_eq!(verify(&genuine, &[garbage, public_key(&chip)]), Ok(()));
    }
}
