//! Chip authentication (Doc 9303-11 section 6.2): an ephemeral-static key agreement with the
//! key DG14 holds, after which secure messaging restarts under keys only the holder of DG14's
//! private key can derive; a copied chip cannot answer under them. ECDH on any curve OpenSSL
//! reads from DG14 (explicit domain parameters included), or finite-field DH with DG14's
//! domain parameters (X9.42 `dhpublicnumber`); the ephemeral key comes from the caller's
//! randomness. The chip side serves the simulator.

use openssl::bn::{BigNum, BigNumContext};
use openssl::derive::Deriver;
use openssl::ec::{EcGroupRef, EcKey, EcPoint, PointConversionForm};
use openssl::pkey::{Id, PKey, Private, Public};
use rand::RngCore;

use super::apdu::Command;
use super::crypto::{Cipher, KeyPurpose, kdf};
use super::dg14::{ChipAuthInfo, Dg14, KeyAgreement};
use super::dh;
use super::link::Link;
use super::sm::SecureMessaging;
use super::{ChipError, tlv};

/// How chip authentication went, as the reader saw it; it counts only once passive
/// authentication has vouched for DG14 (else a clone brings its own DG14 and key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChipAuthentication {
    /// The session was re-keyed and the chip answered under the new keys.
    Verified,
    /// The chip refused a step or did not answer under the new keys: why.
    Failed(String),
    /// DG14 offers chip authentication this reader cannot run (no evidence either way): why.
    Unsupported(String),
}

impl ChipAuthentication {
    /// `valid`, `failed` or `not_supported`, before passive authentication is considered.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Verified => "valid",
            Self::Failed(_) => "failed",
            Self::Unsupported(_) => "not_supported",
        }
    }
}

/// Runs chip authentication with DG14's key; `None` when DG14 offers none. Channel errors end
/// the read; everything else the chip does is the outcome.
pub fn authenticate(
    link: &mut Link<'_>,
    dg14: &[u8],
    rng: &mut dyn RngCore,
) -> Result<Option<ChipAuthentication>, ChipError> {
    let choice = Dg14::parse(dg14)
        .and_then(|parsed| Ok(parsed.choice()?.map(|(info, key)| (info, key.spki.clone()))));
    let (info, spki) = match choice {
        Ok(Some(choice)) => choice,
        Ok(None) => return Ok(None),
        Err(error) => return Ok(Some(ChipAuthentication::Unsupported(error.to_string()))),
    };
    let agreement = match ephemeral_agreement(&info, &spki, rng) {
        Ok(agreement) => agreement,
        Err(why) => return Ok(Some(ChipAuthentication::Unsupported(why))),
    };
    match key_agreement(link, &info, &agreement.public)? {
        Ok(()) => {}
        Err(why) => return Ok(Some(ChipAuthentication::Failed(why))),
    }
    link.start_secure_messaging(session(info.cipher, &agreement.shared));
    confirm(link)
}

/// The terminal's ephemeral public key and the shared secret with the chip's static key.
struct Agreement {
    public: Vec<u8>,
    shared: Vec<u8>,
}

fn ephemeral_agreement(
    info: &ChipAuthInfo,
    spki: &[u8],
    rng: &mut dyn RngCore,
) -> Result<Agreement, String> {
    let chip_key = PKey::public_key_from_der(spki)
        .map_err(|e| format!("DG14 public key does not read: {e}"))?;
    if info.agreement == KeyAgreement::Dh {
        return dh_agreement(&chip_key, rng);
    }
    if chip_key.id() != Id::EC {
        return Err(format!("DG14 ECDH key is of type {:?}", chip_key.id()));
    }
    let chip_ec = chip_key.ec_key().map_err(|e| e.to_string())?;
    let own = ephemeral_key(chip_ec.group(), rng).map_err(|e| e.to_string())?;
    let shared = derive(&own, &chip_key).map_err(|e| e.to_string())?;
    let mut ctx = BigNumContext::new().map_err(|e| e.to_string())?;
    let ec = own.ec_key().map_err(|e| e.to_string())?;
    let public = ec
        .public_key()
        .to_bytes(ec.group(), PointConversionForm::UNCOMPRESSED, &mut ctx)
        .map_err(|e| e.to_string())?;
    Ok(Agreement { public, shared })
}

/// Finite-field DH with DG14's key: an ephemeral x in [1, q-1] (or [1, p-2] without q), the
/// public g^x (an unsigned integer, fewest octets) and the shared y^x (as wide as p).
fn dh_agreement(chip_key: &PKey<Public>, rng: &mut dyn RngCore) -> Result<Agreement, String> {
    if !matches!(chip_key.id(), Id::DH | Id::DHX) {
        return Err(format!("DG14 DH key is of type {:?}", chip_key.id()));
    }
    let dh = chip_key.dh().map_err(|e| e.to_string())?;
    let fail = |e: openssl::error::ErrorStack| e.to_string();
    let p = dh.prime_p();
    let mut ctx = BigNumContext::new().map_err(fail)?;
    let bound = match dh.prime_q() {
        Some(q) => q.to_owned().map_err(fail)?,
        None => {
            let mut bound = BigNum::new().map_err(fail)?;
            let one = BigNum::from_u32(1).map_err(fail)?;
            bound.checked_sub(p, &one).map_err(fail)?;
            bound
        }
    };
    let x = dh::random_below(&bound, rng).map_err(fail)?;
    let mut public = BigNum::new().map_err(fail)?;
    public
        .mod_exp(dh.generator(), &x, p, &mut ctx)
        .map_err(fail)?;
    let shared = dh::shared(dh.public_key(), &x, p, dh.prime_q(), &mut ctx)
        .map_err(fail)?
        .ok_or("DG14's DH public key is not in the group")?;
    // The ephemeral public value in the fewest octets (Doc 9303-11 9.4.1, 9.4.5).
    Ok(Agreement {
        public: public.to_vec(),
        shared,
    })
}

/// An EC key on `group` whose private scalar in [1, n-1] comes from `rng`.
fn ephemeral_key(
    group: &EcGroupRef,
    rng: &mut dyn RngCore,
) -> Result<PKey<Private>, openssl::error::ErrorStack> {
    let mut ctx = BigNumContext::new()?;
    let mut order = BigNum::new()?;
    group.order(&mut order, &mut ctx)?;
    let scalar = dh::random_below(&order, rng)?;
    let mut public = EcPoint::new(group)?;
    public.mul_generator2(group, &scalar, &mut ctx)?;
    PKey::from_ec_key(EcKey::from_private_components(group, &scalar, &public)?)
}

/// The ECDH shared secret: the x coordinate of the shared point, as wide as the field.
fn derive(own: &PKey<Private>, peer: &PKey<Public>) -> Result<Vec<u8>, openssl::error::ErrorStack> {
    let mut deriver = Deriver::new(own)?;
    deriver.set_peer(peer)?;
    deriver.derive_to_vec()
}

/// Sends the ephemeral public key: MSE:Set KAT for 3DES (version 1, what early chips know),
/// MSE:Set AT and GENERAL AUTHENTICATE otherwise. `Ok(Err(why))` when the chip refuses.
fn key_agreement(
    link: &mut Link<'_>,
    info: &ChipAuthInfo,
    public: &[u8],
) -> Result<Result<(), String>, ChipError> {
    let key_id = info.key_id.map(|id| {
        let bytes = id.to_be_bytes();
        let start = bytes.iter().position(|&b| b != 0).unwrap_or(3);
        tlv::encode(&[0x84], &bytes[start..])
    });
    let refused = |step: &str, sw: u16| Ok(Err(format!("{step}: chip answered {sw:04X}")));
    if info.cipher == Cipher::Tdes {
        let mut data = tlv::encode(&[0x91], public);
        data.extend(key_id.unwrap_or_default());
        let answer = link.exchange(&Command::new(0x00, 0x22, 0x41, 0xA6).with_data(data))?;
        if !answer.is_ok() {
            return refused("CA MSE:Set KAT", answer.sw);
        }
        return Ok(Ok(()));
    }
    let mut data = tlv::encode(&[0x80], info.protocol.as_bytes());
    data.extend(key_id.unwrap_or_default());
    let answer = link.exchange(&Command::new(0x00, 0x22, 0x41, 0xA4).with_data(data))?;
    if !answer.is_ok() {
        return refused("CA MSE:Set AT", answer.sw);
    }
    let data = tlv::encode(&[0x7C], &tlv::encode(&[0x80], public));
    let answer = link.exchange(&Command::new(0x00, 0x86, 0, 0).with_data(data).with_le(256))?;
    if !answer.is_ok() {
        return refused("CA GENERAL AUTHENTICATE", answer.sw);
    }
    Ok(Ok(()))
}

/// Session keys from the shared secret; the SSC restarts at zero.
fn session(cipher: Cipher, shared: &[u8]) -> SecureMessaging {
    SecureMessaging::new(
        cipher,
        kdf(cipher, shared, KeyPurpose::Enc),
        kdf(cipher, shared, KeyPurpose::Mac),
        vec![0; cipher.block_size()],
    )
}

/// One protected command under the new keys (SELECT EF.COM): only the genuine chip's answer
/// verifies. A MAC that does not verify ends the session, which is the clone's outcome.
fn confirm(link: &mut Link<'_>) -> Result<Option<ChipAuthentication>, ChipError> {
    let select = Command::new(0x00, 0xA4, 0x02, 0x0C).with_data(vec![0x01, 0x1E]);
    Ok(Some(match link.exchange(&select) {
        Ok(answer) if answer.is_ok() => ChipAuthentication::Verified,
        Ok(answer) => ChipAuthentication::Failed(format!(
            "the chip answered {:04X} under the new keys",
            answer.sw
        )),
        Err(ChipError::Channel(error)) => return Err(ChipError::Channel(error)),
        Err(error) => ChipAuthentication::Failed(format!("under the new keys: {error}")),
    }))
}

/// The chip side (for the simulator): the session that follows a terminal's ephemeral key, or
/// `None` when the key is not a point of the chip key's curve.
pub fn chip_session(
    key: &PKey<Private>,
    cipher: Cipher,
    terminal_public: &[u8],
) -> Option<SecureMessaging> {
    if matches!(key.id(), Id::DH | Id::DHX) {
        let dh = key.dh().ok()?;
        let y = BigNum::from_slice(terminal_public).ok()?;
        let mut ctx = BigNumContext::new().ok()?;
        let shared =
            dh::shared(&y, dh.private_key(), dh.prime_p(), dh.prime_q(), &mut ctx).ok()??;
        return Some(session(cipher, &shared));
    }
    let ec = key.ec_key().ok()?;
    let group = ec.group();
    let mut ctx = BigNumContext::new().ok()?;
    let point = EcPoint::from_bytes(group, terminal_public, &mut ctx).ok()?;
    let peer = PKey::from_ec_key(EcKey::from_public_key(group, &point).ok()?).ok()?;
    let shared = derive(key, &peer).ok()?;
    Some(session(cipher, &shared))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::chip::dg14::{ChipAuthPublicKey, ca_protocol};
    use openssl::ec::EcGroup;
    use openssl::nid::Nid;

    fn key(nid: Nid) -> PKey<Private> {
        let group = EcGroup::from_curve_name(nid).expect("curve");
        PKey::from_ec_key(EcKey::generate(&group).expect("key")).expect("pkey")
    }

    /// A DH key on RFC 5114's 2048-bit group with a 256-bit subgroup (or its 1024-bit one).
    fn dh_key(large: bool) -> PKey<Private> {
        let params = if large {
            openssl::dh::Dh::get_2048_256()
        } else {
            openssl::dh::Dh::get_1024_160()
        };
        let dh = params.expect("group").generate_key().expect("DH key");
        PKey::from_dhx(dh).expect("pkey")
    }

    #[test]
    fn both_sides_derive_the_same_session_and_another_key_does_not() {
        for (nid, cipher) in [
            (Nid::X9_62_PRIME256V1, Cipher::Aes128),
            (Nid::BRAINPOOL_P256R1, Cipher::Tdes),
            (Nid::SECP384R1, Cipher::Aes256),
            (Nid::BRAINPOOL_P512R1, Cipher::Aes192),
        ] {
            round_trip(KeyAgreement::Ecdh, cipher, || key(nid));
        }
    }

    #[test]
    fn finite_field_dh_derives_the_same_session_and_another_key_does_not() {
        round_trip(KeyAgreement::Dh, Cipher::Aes128, || dh_key(true));
        round_trip(KeyAgreement::Dh, Cipher::Tdes, || dh_key(false));
    }

    #[test]
    fn a_dh_public_key_outside_the_group_is_refused() {
        let chip = dh_key(true);
        let p = chip.dh().expect("dh").prime_p().to_vec();
        let mut p_minus_one = p.clone();
        if let Some(last) = p_minus_one.last_mut() {
            *last -= 1;
        }
        for bad in [vec![1], p_minus_one, p, vec![0; 256]] {
            assert!(chip_session(&chip, Cipher::Aes128, &bad).is_none());
        }
    }

    /// The terminal's and the chip's sides of CA with a fresh key from `make`; a clone (another
    /// key from `make`) cannot answer under the terminal's keys.
    fn round_trip(kind: KeyAgreement, cipher: Cipher, make: impl Fn() -> PKey<Private>) {
        let mut rng = rand::thread_rng();
        {
            let chip = make();
            let info = ChipAuthInfo {
                protocol: ca_protocol(kind, cipher),
                agreement: kind,
                cipher,
                version: 1,
                key_id: None,
            };
            let spki = chip.public_key_to_der().expect("SPKI");
            let agreement = ephemeral_agreement(&info, &spki, &mut rng).expect("agreement");
            let terminal = session(cipher, &agreement.shared);
            let genuine = chip_session(&chip, cipher, &agreement.public).expect("chip side");
            // The same keys: a response the chip protects verifies at the terminal.
            let mut reader = terminal.clone();
            let mut answering = genuine;
            let command = Command::new(0x00, 0xB0, 0, 0).with_le(4);
            let wire = reader.protect(&command).expect("protect");
            answering
                .unprotect_command(&wire)
                .expect("unwrap")
                .expect("MAC ok");
            let response = super::super::apdu::Response {
                data: vec![1, 2, 3, 4],
                sw: 0x9000,
            };
            let raw = answering.protect_response(&response).expect("protect");
            assert_eq!(reader.unprotect(&raw), Ok(response.clone()));
            // A clone holds another private key: its answer does not verify.
            let mut reader = terminal;
            let mut clone = chip_session(&make(), cipher, &agreement.public).expect("clone");
            reader.protect(&command).expect("protect");
            clone.unprotect_command(&wire).expect("unwrap");
            let raw = clone.protect_response(&response).expect("protect");
            assert!(reader.unprotect(&raw).is_err(), "{kind:?} {cipher:?}");
        }
    }

    #[test]
    fn a_point_off_the_curve_or_a_key_of_the_wrong_kind_is_refused() {
        let chip = key(Nid::X9_62_PRIME256V1);
        let mut off_curve = vec![0x04];
        off_curve.extend([1; 64]);
        assert!(chip_session(&chip, Cipher::Aes128, &off_curve).is_none());
        let info = ChipAuthInfo {
            protocol: ca_protocol(KeyAgreement::Dh, Cipher::Aes128),
            agreement: KeyAgreement::Dh,
            cipher: Cipher::Aes128,
            version: 1,
            key_id: None,
        };
        let dh = ChipAuthPublicKey {
            agreement: KeyAgreement::Dh,
            spki: chip.public_key_to_der().expect("SPKI"),
            key_id: None,
        };
        let error = ephemeral_agreement(&info, &dh.spki, &mut rand::thread_rng())
            .err()
            .expect("DH refused");
        assert!(error.contains("DH"), "{error}");
        let info = ChipAuthInfo {
            agreement: KeyAgreement::Ecdh,
            ..info
        };
        let error = ephemeral_agreement(&info, &[0x30, 0x03, 2, 1, 1], &mut rand::thread_rng())
            .err()
            .expect("garbage refused");
        assert!(error.contains("does not read"), "{error}");
    }
}
