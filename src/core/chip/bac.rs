//! Basic Access Control (Doc 9303-11 section 4.3): keys from the MRZ information, mutual
//! authentication with GET CHALLENGE and EXTERNAL AUTHENTICATE, and the session keys.
//! Both sides are here; the chip side serves the simulator.

use rand::RngCore;

use super::ChipError;
use super::apdu::Command;
use super::crypto::{Cipher, KeyPurpose, kdf, sha1};
use super::link::Link;
use super::sm::SecureMessaging;

/// K_Enc and K_MAC derived from the MRZ information.
#[derive(Clone, PartialEq, Eq)]
pub struct BacKeys {
    /// The encryption key.
    pub k_enc: Vec<u8>,
    /// The MAC key.
    pub k_mac: Vec<u8>,
}

impl std::fmt::Debug for BacKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BacKeys { .. }")
    }
}

impl BacKeys {
    /// From the MRZ information (document number with check digit, birth date with check digit,
    /// expiry date with check digit): K_seed = SHA-1's first 16 bytes.
    pub fn from_mrz_information(mrz_information: &str) -> Self {
        let seed = &sha1(mrz_information.as_bytes())[..16];
        Self {
            k_enc: kdf(Cipher::Tdes, seed, KeyPurpose::Enc),
            k_mac: kdf(Cipher::Tdes, seed, KeyPurpose::Mac),
        }
    }
}

/// The terminal's random material for one mutual authentication.
#[derive(Clone)]
pub struct TerminalNonces {
    /// RND.IFD.
    pub rnd_ifd: [u8; 8],
    /// K.IFD.
    pub k_ifd: [u8; 16],
}

impl TerminalNonces {
    /// Fresh nonces.
    pub fn random(rng: &mut dyn RngCore) -> Self {
        let mut nonces = Self {
            rnd_ifd: [0; 8],
            k_ifd: [0; 16],
        };
        rng.fill_bytes(&mut nonces.rnd_ifd);
        rng.fill_bytes(&mut nonces.k_ifd);
        nonces
    }
}

/// The EXTERNAL AUTHENTICATE data E_IFD ‖ M_IFD.
pub fn terminal_cryptogram(
    keys: &BacKeys,
    rnd_ic: &[u8],
    nonces: &TerminalNonces,
) -> Result<Vec<u8>, ChipError> {
    let s = [&nonces.rnd_ifd[..], rnd_ic, &nonces.k_ifd[..]].concat();
    let mut data = Cipher::Tdes.cbc_encrypt(&keys.k_enc, &[0; 8], &s)?;
    let mac = Cipher::Tdes.mac(&keys.k_mac, &data)?;
    data.extend_from_slice(&mac);
    Ok(data)
}

/// Checks the chip's E_IC ‖ M_IC and derives the session.
pub fn finish(
    keys: &BacKeys,
    rnd_ic: &[u8],
    nonces: &TerminalNonces,
    answer: &[u8],
) -> Result<SecureMessaging, ChipError> {
    let refused = ChipError::ChipNotAuthenticated { protocol: "BAC" };
    if answer.len() != 40 {
        return Err(ChipError::Malformed {
            step: "BAC",
            what: format!("EXTERNAL AUTHENTICATE answer of {} bytes", answer.len()),
        });
    }
    let (e_ic, m_ic) = answer.split_at(32);
    if Cipher::Tdes.mac(&keys.k_mac, e_ic)?[..] != *m_ic {
        return Err(refused);
    }
    let r = Cipher::Tdes.cbc_decrypt(&keys.k_enc, &[0; 8], e_ic)?;
    if r[..8] != *rnd_ic || r[8..16] != nonces.rnd_ifd {
        return Err(refused);
    }
    let seed: Vec<u8> = r[16..]
        .iter()
        .zip(&nonces.k_ifd)
        .map(|(a, b)| a ^ b)
        .collect();
    let ssc = [&rnd_ic[4..8], &nonces.rnd_ifd[4..8]].concat();
    Ok(SecureMessaging::new(
        Cipher::Tdes,
        kdf(Cipher::Tdes, &seed, KeyPurpose::Enc),
        kdf(Cipher::Tdes, &seed, KeyPurpose::Mac),
        ssc,
    ))
}

/// Runs BAC over the link and starts secure messaging.
pub fn authenticate(
    link: &mut Link<'_>,
    keys: &BacKeys,
    rng: &mut dyn RngCore,
) -> Result<(), ChipError> {
    let rnd_ic = link.exchange_ok(
        &Command::new(0x00, 0x84, 0, 0).with_le(8),
        "BAC GET CHALLENGE",
    )?;
    if rnd_ic.len() != 8 {
        return Err(ChipError::Malformed {
            step: "BAC GET CHALLENGE",
            what: format!("challenge of {} bytes", rnd_ic.len()),
        });
    }
    let nonces = TerminalNonces::random(rng);
    let data = terminal_cryptogram(keys, &rnd_ic, &nonces)?;
    let answer = link.exchange(&Command::new(0x00, 0x82, 0, 0).with_data(data).with_le(40))?;
    if !answer.is_ok() {
        // 6300 (and 6982 on some chips) is a wrong MRZ: the chip did not recognise us.
        return Err(ChipError::Status {
            step: "BAC EXTERNAL AUTHENTICATE",
            sw: answer.sw,
        });
    }
    let sm = finish(keys, &rnd_ic, &nonces, &answer.data)?;
    link.start_secure_messaging(sm);
    Ok(())
}

/// The chip side of EXTERNAL AUTHENTICATE: `None` when the terminal's cryptogram does not
/// verify (the chip answers 6300), otherwise E_IC ‖ M_IC and the chip's session.
pub fn chip_answer(
    keys: &BacKeys,
    rnd_ic: &[u8; 8],
    k_ic: &[u8; 16],
    command_data: &[u8],
) -> Result<Option<(Vec<u8>, SecureMessaging)>, ChipError> {
    if command_data.len() != 40 {
        return Ok(None);
    }
    let (e_ifd, m_ifd) = command_data.split_at(32);
    if Cipher::Tdes.mac(&keys.k_mac, e_ifd)?[..] != *m_ifd {
        return Ok(None);
    }
    let s = Cipher::Tdes.cbc_decrypt(&keys.k_enc, &[0; 8], e_ifd)?;
    if s[8..16] != rnd_ic[..] {
        return Ok(None);
    }
    let rnd_ifd = &s[..8];
    let r = [rnd_ic, rnd_ifd, &k_ic[..]].concat();
    let mut answer = Cipher::Tdes.cbc_encrypt(&keys.k_enc, &[0; 8], &r)?;
    let mac = Cipher::Tdes.mac(&keys.k_mac, &answer)?;
    answer.extend_from_slice(&mac);
    let seed: Vec<u8> = s[16..].iter().zip(k_ic).map(|(a, b)| a ^ b).collect();
    let ssc = [&rnd_ic[4..8], &rnd_ifd[4..8]].concat();
    let sm = SecureMessaging::new(
        Cipher::Tdes,
        kdf(Cipher::Tdes, &seed, KeyPurpose::Enc),
        kdf(Cipher::Tdes, &seed, KeyPurpose::Mac),
        ssc,
    );
    Ok(Some((answer, sm)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s).expect("hex")
    }

    fn appendix_d() -> (BacKeys, Vec<u8>, TerminalNonces) {
        let keys = BacKeys::from_mrz_information("L898902C<369080619406236");
        let nonces = TerminalNonces {
            rnd_ifd: hex("781723860C06C226").try_into().expect("8"),
            k_ifd: hex("0B795240CB7049B01C19B33E32804F0B")
                .try_into()
                .expect("16"),
        };
        (keys, hex("4608F91988702212"), nonces)
    }

    #[test]
    fn doc9303_appendix_d_keys_from_the_mrz() {
        let (keys, ..) = appendix_d();
        assert_eq!(keys.k_enc, hex("AB94FDECF2674FDFB9B391F85D7F76F2"));
        assert_eq!(keys.k_mac, hex("7962D9ECE03D1ACD4C76089DCE131543"));
    }

    #[test]
    fn doc9303_appendix_d_mutual_authentication_and_session_keys() {
        let (keys, rnd_ic, nonces) = appendix_d();
        let cryptogram = terminal_cryptogram(&keys, &rnd_ic, &nonces).expect("cryptogram");
        assert_eq!(
            cryptogram,
            hex("72C29C2371CC9BDB65B779B8E8D37B29ECC154AA56A8799FAE2F498F76ED92F25F1448EEA8AD90A7")
        );
        let answer =
            hex("46B9342A41396CD7386BF5803104D7CEDC122B9132139BAF2EEDC94EE178534F2F2D235D074D7449");
        let sm = finish(&keys, &rnd_ic, &nonces, &answer).expect("chip authenticated");
        assert_eq!(sm.ssc(), hex("887022120C06C226"));
        // KS_Enc and KS_MAC show in the protected SELECT of Appendix D.4.
        let mut sm = sm;
        let select = Command::new(0x00, 0xA4, 0x02, 0x0C).with_data(vec![0x01, 0x1E]);
        let wire = sm
            .protect(&select)
            .expect("protect")
            .encode()
            .expect("encode");
        assert_eq!(
            wire,
            hex("0CA4020C158709016375432908C044F68E08BF8B92D635FF24F800")
        );
        // The chip side computes the same answer from the same nonces.
        let k_ic: [u8; 16] = hex("0B4F80323EB3191CB04970CB4052790B")
            .try_into()
            .expect("16");
        let rnd_ic8: [u8; 8] = rnd_ic.clone().try_into().expect("8");
        let (chip, _) = chip_answer(&keys, &rnd_ic8, &k_ic, &cryptogram)
            .expect("ok")
            .expect("verified");
        assert_eq!(chip, answer);
    }

    #[test]
    fn a_chip_answer_with_a_wrong_mac_is_refused() {
        let (keys, rnd_ic, nonces) = appendix_d();
        let mut answer =
            hex("46B9342A41396CD7386BF5803104D7CEDC122B9132139BAF2EEDC94EE178534F2F2D235D074D7449");
        answer[39] ^= 1;
        assert_eq!(
            finish(&keys, &rnd_ic, &nonces, &answer).map(|_| ()),
            Err(ChipError::ChipNotAuthenticated { protocol: "BAC" })
        );
        assert!(finish(&keys, &rnd_ic, &nonces, &answer[..10]).is_err());
    }
}
