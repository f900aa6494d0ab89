//! PACE (Doc 9303-11 section 4.4, BSI TR-03110-2): ECDH with generic or integrated mapping,
//! finite-field DH with generic mapping, password from the MRZ information or the CAN, session keys for 3DES or AES. The terminal side runs over a
//! [`Link`]; the chip side ([`ChipPace`]) serves the simulator.

use der::asn1::ObjectIdentifier;
use rand::RngCore;

use super::apdu::Command;
use super::card_access::{Mapping, PaceInfo};
use super::crypto::{Cipher, KeyPurpose, kdf, sha1};
use super::ec::Curve;
use super::integrated_mapping;
use super::link::Link;
use super::pace_domain::PaceDomain;
use super::sm::SecureMessaging;
use super::{ChipError, tlv};

/// The password PACE starts from.
#[derive(Clone, PartialEq, Eq)]
pub enum Password {
    /// The MRZ information (document number, birth and expiry dates with check digits).
    Mrz(String),
    /// The card access number printed on the document.
    Can(String),
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Both are personal data: the kind only.
        f.write_str(match self {
            Self::Mrz(_) => "Password::Mrz(..)",
            Self::Can(_) => "Password::Can(..)",
        })
    }
}

impl Password {
    /// The password reference of MSE:Set AT (1 MRZ, 2 CAN).
    fn reference(&self) -> u8 {
        match self {
            Self::Mrz(_) => 1,
            Self::Can(_) => 2,
        }
    }

    /// K_pi = KDF(f(pi), 3): f is SHA-1 of the MRZ information, or the CAN itself.
    pub fn key(&self, cipher: Cipher) -> Vec<u8> {
        match self {
            Self::Mrz(information) => {
                kdf(cipher, &sha1(information.as_bytes()), KeyPurpose::Password)
            }
            Self::Can(can) => kdf(cipher, can.as_bytes(), KeyPurpose::Password),
        }
    }
}

/// The domain parameters of a PACEInfo this reader can run, or why not.
pub fn supported_domain(info: &PaceInfo) -> Result<PaceDomain, ChipError> {
    PaceDomain::of(info)
}

/// The authentication token input: public key template 7F49 { 06 OID, 86 point } for ECDH,
/// 7F49 { 06 OID, 84 public value } for DH.
fn token_input(domain: PaceDomain, protocol: &ObjectIdentifier, public: &[u8]) -> Vec<u8> {
    let mut inner = tlv::encode(&[0x06], protocol.as_bytes());
    inner.extend(tlv::encode(&[domain.public_key_tag()], public));
    tlv::encode(&[0x7F, 0x49], &inner)
}

/// Session keys from the shared secret K; SSC starts at zero.
fn session(cipher: Cipher, secret: &[u8]) -> (SecureMessaging, Vec<u8>) {
    let ks_mac = kdf(cipher, secret, KeyPurpose::Mac);
    let sm = SecureMessaging::new(
        cipher,
        kdf(cipher, secret, KeyPurpose::Enc),
        ks_mac.clone(),
        vec![0; cipher.block_size()],
    );
    (sm, ks_mac)
}

fn general_authenticate(
    link: &mut Link<'_>,
    tag: u8,
    value: &[u8],
    last: bool,
    step: &'static str,
    answer_tag: u8,
) -> Result<Vec<u8>, ChipError> {
    let cla = if last { 0x00 } else { 0x10 };
    let data = tlv::encode(&[0x7C], &tlv::encode(&[tag], value));
    // DH in a 2048-bit group needs extended length both ways (the answer is as long).
    let le = if data.len() > 255 { 65536 } else { 256 };
    let command = Command::new(cla, 0x86, 0, 0).with_data(data).with_le(le);
    let answer = link.exchange_ok(&command, step)?;
    tlv::dynamic_auth_value(&answer, answer_tag, step)
}

/// Runs PACE with the given PACEInfo and starts secure messaging.
pub fn authenticate(
    link: &mut Link<'_>,
    info: &PaceInfo,
    password: &Password,
    ambiguous: bool,
    rng: &mut dyn RngCore,
) -> Result<(), ChipError> {
    let domain = supported_domain(info)?;
    let mut set_at = tlv::encode(&[0x80], info.protocol.as_bytes());
    set_at.extend(tlv::encode(&[0x83], &[password.reference()]));
    if ambiguous {
        // With several PACEInfos the chip needs to be told which domain parameters.
        set_at.extend(tlv::encode(
            &[0x84],
            &[u8::try_from(domain.parameter_id()).unwrap_or(0)],
        ));
    }
    link.exchange_ok(
        &Command::new(0x00, 0x22, 0xC1, 0xA4).with_data(set_at),
        "PACE MSE:Set AT",
    )?;

    let command = Command::new(0x10, 0x86, 0, 0)
        .with_data(vec![0x7C, 0x00])
        .with_le(256);
    let answer = link.exchange_ok(&command, "PACE encrypted nonce")?;
    let encrypted = tlv::dynamic_auth_value(&answer, 0x80, "PACE encrypted nonce")?;
    let k_pi = password.key(info.cipher);
    let nonce = info
        .cipher
        .cbc_decrypt(&k_pi, &vec![0; info.cipher.block_size()], &encrypted)?;

    let generator = map_nonce(link, info, domain, &nonce, rng)?;

    let ephemeral = domain.random_private_key(rng)?;
    let own_public = domain.mul(&generator, &ephemeral)?;
    let chip_public =
        general_authenticate(link, 0x83, &own_public, false, "PACE key agreement", 0x84)?;
    if chip_public == own_public {
        return Err(ChipError::ChipNotAuthenticated { protocol: "PACE" });
    }
    let shared = domain.mul(&chip_public, &ephemeral)?;
    let (sm, ks_mac) = session(info.cipher, domain.secret(&shared)?);

    let token = info
        .cipher
        .mac(&ks_mac, &token_input(domain, &info.protocol, &chip_public))?;
    let chip_token =
        general_authenticate(link, 0x85, &token, true, "PACE mutual authentication", 0x86)?;
    let expected = info
        .cipher
        .mac(&ks_mac, &token_input(domain, &info.protocol, &own_public))?;
    if chip_token != expected {
        return Err(ChipError::ChipNotAuthenticated { protocol: "PACE" });
    }
    link.start_secure_messaging(sm);
    Ok(())
}

/// Step 2, the mapping: the generator both sides use from here on.
fn map_nonce(
    link: &mut Link<'_>,
    info: &PaceInfo,
    domain: PaceDomain,
    nonce: &[u8],
    rng: &mut dyn RngCore,
) -> Result<Vec<u8>, ChipError> {
    if info.mapping == Mapping::Integrated {
        let curve = integrated_curve(domain)?;
        // The terminal's nonce t goes in clear; the chip answers an empty DO'82'.
        let mut t = vec![0; integrated_mapping::terminal_nonce_len(info.cipher)];
        rng.fill_bytes(&mut t);
        let answer = general_authenticate(link, 0x81, &t, false, "PACE mapping", 0x82)?;
        if !answer.is_empty() {
            return Err(ChipError::Malformed {
                step: "PACE mapping",
                what: "DO'82' of integrated mapping is not empty".into(),
            });
        }
        return integrated_mapping::map_generator(curve, info.cipher, nonce, &t);
    }
    let map_key = domain.random_private_key(rng)?;
    let chip_map = general_authenticate(
        link,
        0x81,
        &domain.mul_generator(&map_key)?,
        false,
        "PACE mapping",
        0x82,
    )?;
    domain.map_generator(nonce, &domain.mul(&chip_map, &map_key)?)
}

/// The curve of an integrated-mapping run (DH integrated mapping is not implemented).
fn integrated_curve(domain: PaceDomain) -> Result<Curve, ChipError> {
    match domain {
        PaceDomain::Ec(curve) => Ok(curve),
        PaceDomain::Dh(_) => Err(ChipError::PaceUnsupported {
            what: "IM mapping over DH".into(),
        }),
    }
}

/// The chip's side of one PACE run (ECDH generic or integrated mapping, DH generic mapping),
/// step by step.
pub struct ChipPace {
    info: PaceInfo,
    domain: PaceDomain,
    nonce: Vec<u8>,
    map_key: Vec<u8>,
    ephemeral: Vec<u8>,
    generator: Option<Vec<u8>>,
    terminal_public: Option<Vec<u8>>,
    own_public: Option<Vec<u8>>,
}

impl ChipPace {
    /// A run for the PACEInfo, with fresh nonce and keys.
    pub fn new(info: PaceInfo, rng: &mut dyn RngCore) -> Result<Self, ChipError> {
        let domain = supported_domain(&info)?;
        let nonce_len = match info.mapping {
            Mapping::Integrated => integrated_mapping::chip_nonce_len(info.cipher),
            _ => info.cipher.block_size(),
        };
        let mut nonce = vec![0; nonce_len];
        rng.fill_bytes(&mut nonce);
        let map_key = domain.random_private_key(rng)?;
        let ephemeral = domain.random_private_key(rng)?;
        Ok(Self {
            info,
            domain,
            nonce,
            map_key,
            ephemeral,
            generator: None,
            terminal_public: None,
            own_public: None,
        })
    }

    /// Step 1: the nonce encrypted under K_pi of the chip's password.
    pub fn encrypted_nonce(&self, password: &Password) -> Result<Vec<u8>, ChipError> {
        let cipher = self.info.cipher;
        cipher.cbc_encrypt(
            &password.key(cipher),
            &vec![0; cipher.block_size()],
            &self.nonce,
        )
    }

    /// Step 2: maps the generator from the terminal's mapping data, and answers the chip's
    /// (its mapping key for generic mapping; nothing for integrated mapping, whose data is the
    /// terminal's nonce t).
    pub fn map(&mut self, terminal_map: &[u8]) -> Result<Vec<u8>, ChipError> {
        if self.info.mapping == Mapping::Integrated {
            let generator = integrated_mapping::map_generator(
                integrated_curve(self.domain)?,
                self.info.cipher,
                &self.nonce,
                terminal_map,
            )?;
            self.generator = Some(generator);
            return Ok(Vec::new());
        }
        let shared = self.domain.mul(terminal_map, &self.map_key)?;
        self.generator = Some(self.domain.map_generator(&self.nonce, &shared)?);
        self.domain.mul_generator(&self.map_key)
    }

    /// Step 3: the chip's ephemeral key on the mapped generator.
    pub fn agree(&mut self, terminal_public: &[u8]) -> Result<Vec<u8>, ChipError> {
        let generator = self.generator.as_ref().ok_or(ChipError::Crypto {
            why: "PACE steps out of order",
        })?;
        let own = self.domain.mul(generator, &self.ephemeral)?;
        self.terminal_public = Some(terminal_public.to_vec());
        self.own_public = Some(own.clone());
        Ok(own)
    }

    /// Step 4: checks the terminal's token; `None` when it does not verify (wrong password).
    pub fn confirm(
        &self,
        terminal_token: &[u8],
    ) -> Result<Option<(Vec<u8>, SecureMessaging)>, ChipError> {
        let (Some(terminal), Some(own)) = (&self.terminal_public, &self.own_public) else {
            return Err(ChipError::Crypto {
                why: "PACE steps out of order",
            });
        };
        let shared = self.domain.mul(terminal, &self.ephemeral)?;
        let (sm, ks_mac) = session(self.info.cipher, self.domain.secret(&shared)?);
        let expected = self
            .info
            .cipher
            .mac(&ks_mac, &token_input(self.domain, &self.info.protocol, own))?;
        if expected[..] != *terminal_token {
            return Ok(None);
        }
        let token = self.info.cipher.mac(
            &ks_mac,
            &token_input(self.domain, &self.info.protocol, terminal),
        )?;
        Ok(Some((token.to_vec(), sm)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::chip::card_access;
    use crate::core::chip::channel::{CardChannel, ChannelError};
    use crate::core::chip::dh::DhGroup;
    use crate::core::chip::ec::x_coordinate;

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s).expect("hex")
    }

    /// A card that answers a fixed script and checks each command against it.
    struct ScriptedCard(Vec<(Vec<u8>, Vec<u8>)>);

    impl CardChannel for ScriptedCard {
        fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, ChannelError> {
            let (expected, answer) = self.0.remove(0);
            assert_eq!(hex::encode_upper(command), hex::encode_upper(expected));
            Ok(answer)
        }
    }

    /// Hands out fixed bytes as "random" ones: the worked example's private keys.
    struct FixedBytes(Vec<u8>);

    impl RngCore for FixedBytes {
        fn next_u32(&mut self) -> u32 {
            0
        }
        fn next_u64(&mut self) -> u64 {
            0
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            let taken: Vec<u8> = self.0.drain(..dest.len()).collect();
            dest.copy_from_slice(&taken);
        }
        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
            self.fill_bytes(dest);
            Ok(())
        }
    }

    const TERMINAL_MAP_KEY: &str =
        "7F4EF07B9EA82FD78AD689B38D0BC78CF21F249D953BC46F4C6E19259C010F99";
    const TERMINAL_EPHEMERAL_KEY: &str =
        "A73FB703AC1436A18E0CFA5ABB3F7BEC7A070E7A6788486BEE230C4A22762595";

    #[test]
    fn doc9303_appendix_g1_password_and_nonce() {
        let password = Password::Mrz("T22000129364081251010318".into());
        assert_eq!(
            password.key(Cipher::Aes128),
            hex("89DED1B26624EC1E634C1989302849DD")
        );
        let nonce = Cipher::Aes128
            .cbc_decrypt(
                &password.key(Cipher::Aes128),
                &[0; 16],
                &hex("95A3A016522EE98D01E76CB6B98B42C3"),
            )
            .expect("decrypt");
        assert_eq!(nonce, hex("3F00C4D39D153F2B2A214A078D899B22"));
    }

    #[test]
    fn doc9303_appendix_g1_generic_mapping() {
        let curve = Curve::BrainpoolP256r1;
        let shared = hex(
            "0460332EF2450B5D247EF6D3868397D398852ED6E8CAF6FFEEF6BF85CA57057FD50840CA7415BAF3E43BD414D35AA4608B93A2CAF3A4E3EA4E82C9C13D03EB7181",
        );
        let mapped = curve
            .map_generator(&hex("3F00C4D39D153F2B2A214A078D899B22"), &shared)
            .expect("map");
        assert_eq!(
            mapped,
            hex(
                "048CED63C91426D4F0EB1435E7CB1D74A46723A0AF21C89634F65A9AE87A9265E28C879506743F8611AC33645C5B985C80B5F09A0B83407C1B6A4D857AE76FE522"
            )
        );
    }

    #[test]
    fn doc9303_appendix_g1_full_exchange() {
        let info = card_access::parse(&hex("31143012060A04007F0007020204020202010202010D"))
            .expect("card access")
            .remove(0);
        let mut card = ScriptedCard(vec![
            (hex("0022C1A40F800A04007F00070202040202830101"), hex("9000")),
            (
                hex("10860000027C0000"),
                hex("7C12801095A3A016522EE98D01E76CB6B98B42C39000"),
            ),
            (
                hex(
                    "10860000457C438141047ACF3EFC982EC45565A4B155129EFBC74650DCBFA6362D896FC70262E0C2CC5E544552DCB6725218799115B55C9BAA6D9F6BC3A9618E70C25AF71777A9C4922D00",
                ),
                hex(
                    "7C43824104824FBA91C9CBE26BEF53A0EBE7342A3BF178CEA9F45DE0B70AA601651FBA3F5730D8C879AAA9C9F73991E61B58F4D52EB87A0A0C709A49DC63719363CCD13C549000",
                ),
            ),
            (
                hex(
                    "10860000457C438341042DB7A64C0355044EC9DF190514C625CBA2CEA48754887122F3A5EF0D5EDD301C3556F3B3B186DF10B857B58F6A7EB80F20BA5DC7BE1D43D9BF850149FBB3646200",
                ),
                hex(
                    "7C438441049E880F842905B8B3181F7AF7CAA9F0EFB743847F44A306D2D28C1D9EC65DF6DB7764B22277A2EDDC3C265A9F018F9CB852E111B768B326904B59A0193776F0949000",
                ),
            ),
            (
                hex("008600000C7C0A8508C2B0BD78D94BA86600"),
                hex("7C0A86083ABB9674BCE93C089000"),
            ),
        ]);
        let mut rng = FixedBytes([hex(TERMINAL_MAP_KEY), hex(TERMINAL_EPHEMERAL_KEY)].concat());
        let password = Password::Mrz("T22000129364081251010318".into());
        let mut link = Link::new(&mut card);
        authenticate(&mut link, &info, &password, false, &mut rng).expect("PACE");
        let sm = link.secure_messaging().expect("secure messaging started");
        assert_eq!(sm.cipher(), Cipher::Aes128);
        assert_eq!(sm.ssc(), [0; 16]);
        assert!(card.0.is_empty());
    }

    /// Doc 9303-11's worked example of integrated mapping (ECDH, brainpoolP256r1, AES-128, the
    /// CAN 123456), APDU by APDU.
    #[test]
    fn doc9303_integrated_mapping_full_exchange() {
        let info = card_access::parse(&hex("31143012060A04007F0007020204040202010202010D"))
            .expect("card access")
            .remove(0);
        assert_eq!(info.mapping, Mapping::Integrated);
        let terminal_nonce = "5DD4CBFC96F5453B130D890A1CDBAE32";
        let terminal_public = "0489CBA23FFE96AA18D824627C3E934E54A9FD0B87A95D1471DC1C0ABFDCD640D46755DE9B7B778280B6BEBD57439ADFEB0E21FD4ED6DF42578C13418A59B34C37";
        let chip_public = "0467F78E5F7F7686082B293E8D087E056916D0F74BC01A5F8957D0DE45691E51E8932B69A962B52A0985AD2C0A271EE6A13A8ADDDCD1A3A994B9DED257F4D22753";
        let mut card = ScriptedCard(vec![
            (hex("0022C1A40F800A04007F00070202040402830102"), hex("9000")),
            (
                hex("10860000027C0000"),
                hex("7C128010143DC40C08C8E891FBED7DEDB92B64AD9000"),
            ),
            (
                hex(&format!("10860000147C128110{terminal_nonce}00")),
                hex("7C0282009000"),
            ),
            (
                hex(&format!("10860000457C438341{terminal_public}00")),
                hex(&format!("7C438441{chip_public}9000")),
            ),
            (
                hex("008600000C7C0A8508450F02B86F6A090900"),
                hex("7C0A860875D4D96E8D5B03089000"),
            ),
        ]);
        let mut rng = FixedBytes([hex(terminal_nonce), hex(TERMINAL_EPHEMERAL_KEY)].concat());
        let mut link = Link::new(&mut card);
        authenticate(
            &mut link,
            &info,
            &Password::Can("123456".into()),
            false,
            &mut rng,
        )
        .expect("PACE-IM");
        assert!(link.secure_messaging().is_some());
        assert!(card.0.is_empty());
    }

    #[test]
    fn both_sides_agree_with_integrated_mapping_for_every_cipher() {
        let ciphers = [Cipher::Tdes, Cipher::Aes128, Cipher::Aes192, Cipher::Aes256];
        for (arc, cipher) in ciphers.into_iter().enumerate() {
            let info = PaceInfo {
                protocol: ObjectIdentifier::new(&format!("0.4.0.127.0.7.2.2.4.4.{}", arc + 1))
                    .expect("OID"),
                elliptic: true,
                mapping: Mapping::Integrated,
                cipher,
                version: 2,
                parameter_id: Some(12),
            };
            let password = Password::Can("123456".into());
            let mut chip = ChipPace::new(info.clone(), &mut rand::thread_rng()).expect("chip");
            let nonce = chip.encrypted_nonce(&password).expect("nonce");
            let k_pi = password.key(cipher);
            let s = cipher
                .cbc_decrypt(&k_pi, &vec![0; cipher.block_size()], &nonce)
                .expect("decrypt");
            let t = vec![0x5A; integrated_mapping::terminal_nonce_len(cipher)];
            assert_eq!(chip.map(&t).expect("map"), Vec::<u8>::new());
            let generator = integrated_mapping::map_generator(Curve::NistP256, cipher, &s, &t)
                .expect("terminal's generator");
            let key = Curve::NistP256.random_private_key(&mut rand::thread_rng());
            let own = Curve::NistP256.mul(&generator, &key).expect("public");
            let chip_public = chip.agree(&own).expect("agree");
            let shared = Curve::NistP256.mul(&chip_public, &key).expect("shared");
            let (_, ks_mac) = session(cipher, x_coordinate(&shared).expect("x"));
            let domain = PaceDomain::Ec(Curve::NistP256);
            let token = cipher
                .mac(&ks_mac, &token_input(domain, &info.protocol, &chip_public))
                .expect("token");
            assert!(
                chip.confirm(&token).expect("confirm").is_some(),
                "{cipher:?}"
            );
        }
    }

    /// The terminal's steps of DH generic mapping against [`ChipPace`]: both derive the same
    /// session and tokens; another password gives another nonce and no session.
    fn dh_generic_mapping_run(cipher: Cipher, group: DhGroup, terminal: &Password) -> bool {
        let arc = [Cipher::Tdes, Cipher::Aes128, Cipher::Aes192, Cipher::Aes256]
            .iter()
            .position(|c| *c == cipher)
            .map_or(0, |i| i + 1);
        let info = PaceInfo {
            protocol: ObjectIdentifier::new(&format!("0.4.0.127.0.7.2.2.4.1.{arc}")).expect("OID"),
            elliptic: false,
            mapping: Mapping::Generic,
            cipher,
            version: 2,
            parameter_id: Some(group.parameter_id()),
        };
        let domain = supported_domain(&info).expect("DH GM is supported");
        assert_eq!(domain, PaceDomain::Dh(group));
        let rng = &mut rand::thread_rng();
        let mut chip = ChipPace::new(info.clone(), rng).expect("chip");
        let encrypted = chip
            .encrypted_nonce(&Password::Can("123456".into()))
            .expect("nonce");
        let iv = vec![0; cipher.block_size()];
        let s = cipher
            .cbc_decrypt(&terminal.key(cipher), &iv, &encrypted)
            .expect("decrypt");
        let map_key = domain.random_private_key(rng).expect("map key");
        let chip_map = chip
            .map(&domain.mul_generator(&map_key).expect("map public"))
            .expect("chip maps");
        let h = domain.mul(&chip_map, &map_key).expect("H");
        let generator = domain.map_generator(&s, &h).expect("mapped generator");
        let key = domain.random_private_key(rng).expect("ephemeral");
        let own = domain.mul(&generator, &key).expect("public");
        let chip_public = chip.agree(&own).expect("agree");
        let shared = domain.mul(&chip_public, &key).expect("K");
        let width = if group == DhGroup::Modp1024_160 {
            128
        } else {
            256
        };
        assert_eq!(shared.len(), width, "K is as wide as p");
        let (_, ks_mac) = session(cipher, domain.secret(&shared).expect("K"));
        let token = cipher
            .mac(&ks_mac, &token_input(domain, &info.protocol, &chip_public))
            .expect("token");
        let Some((chip_token, _)) = chip.confirm(&token).expect("confirm") else {
            return false;
        };
        let expected = cipher
            .mac(&ks_mac, &token_input(domain, &info.protocol, &own))
            .expect("expected");
        assert_eq!(chip_token, expected.to_vec(), "{cipher:?} {group:?}");
        true
    }

    #[test]
    fn dh_generic_mapping_agrees_on_both_sides_and_a_wrong_password_does_not() {
        let can = Password::Can("123456".into());
        for (cipher, group) in [
            (Cipher::Tdes, DhGroup::Modp2048_256),
            (Cipher::Aes128, DhGroup::Modp1024_160),
            (Cipher::Aes256, DhGroup::Modp2048_224),
        ] {
            assert!(dh_generic_mapping_run(cipher, group, &can), "{cipher:?}");
        }
        let wrong = Password::Can("654321".into());
        assert!(!dh_generic_mapping_run(
            Cipher::Aes128,
            DhGroup::Modp1024_160,
            &wrong
        ));
    }

    #[test]
    fn dh_integrated_mapping_and_unknown_groups_are_unsupported() {
        let info = card_access::parse(&hex("31143012060A04007F0007020204030202010202010D"))
            .expect("card access")
            .remove(0);
        assert_eq!(
            supported_domain(&info),
            Err(ChipError::PaceUnsupported {
                what: "IM mapping over DH".into()
            })
        );
        let info = card_access::parse(&hex("31143012060A04007F00070202040102020102020103"))
            .expect("card access")
            .remove(0);
        assert_eq!(
            supported_domain(&info),
            Err(ChipError::PaceUnsupported {
                what: "domain parameters 3".into()
            })
        );
    }

    /// Doc 9303-11's worked example of DH generic mapping (1024-bit MODP group, parameter ID 0,
    /// AES-128, the MRZ password of the ECDH example): both sides' public values, 128 bytes each.
    const DH_TERMINAL_MAP_PUBLIC: [&str; 4] = [
        "23FB3749EA030D2A25B278D2A562047ADE3F01B74F17A15402CB7352CA7D2B3E",
        "B71C343DB13D1DEBCE9A3666DBCFC920B49174A602CB47965CAA73DC702489A4",
        "4D41DB914DE9613DC5E98C94160551C0DF86274B9359BC0490D01B03AD54022D",
        "CB4F57FAD6322497D7A1E28D46710F461AFE710FBBBC5F8BA166F4311975EC6C",
    ];
    const DH_CHIP_MAP_PUBLIC: [&str; 4] = [
        "78879F57225AA8080D52ED0FC890A4B25336F699AA89A2D3A189654AF70729E6",
        "23EA5738B26381E4DA19E004706FACE7B235C2DBF2F38748312F3C98C2DD4882",
        "A41947B324AA1259AC22579DB93F7085655AF30889DBB845D9E6783FE42C9F24",
        "49400306254C8AE8EE9DD812A804C0B66E8CAFC14F84D8258950A91B44126EE6",
    ];
    const DH_SHARED_H: [&str; 4] = [
        "5BABEBEF5B74E5BA94B5C063FDA15F1F1CDE94873EE0A5D3A2FCAB49F258D07F",
        "544F13CB66658C3AFEE9E727389BE3F6CBBBD32128A8C21DD6EEA3CF7091CDDF",
        "B08B8D007D40318DCCA4FFBF51208790FB4BD111E5A968ED6B6F08B26CA87C41",
        "0B3CE0C310CE104EABD16629AA48620C1279270CB0750C0D37C57FFFE302AE7F",
    ];
    const DH_MAPPED_GENERATOR: [&str; 4] = [
        "7C9CBFE98F9FBDDA8D143506FA7D9306F4CB17E3C71707AFF5E1C1A123702496",
        "84D64EE37AF44B8DBD9D45BF6023919CBAA027AB97ACC771666C8E98FF483301",
        "BFA4872DEDE9034EDFACB70814166B7F360676829B826BEA57291B5AD69FBC84",
        "EF1E779032A305803F74341793E869742D401325B37EE8565FFCDEE618342DC5",
    ];
    const DH_TERMINAL_PUBLIC: [&str; 4] = [
        "907D89E2D425A178AA81AF4A7774EC8E388C115CAE67031E85EECE520BD91155",
        "1B9AE4D04369F29A02626C86FBC6747CC7BC352645B6161A2A42D44EDA80A08F",
        "A8D61B76D3A154AD8A5A51786B0BC07147057871A922212C5F67F43173172236",
        "B7747D1671E6D692A3C7D40A0C3C5CE397545D015C175EB5130551EDBC2EE5D4",
    ];
    const DH_CHIP_PUBLIC: [&str; 4] = [
        "075693D9AE941877573E634B6E644F8E60AF17A0076B8B123D9201074D36152B",
        "D8B3A213F53820C42ADC79AB5D0AEEC3AEFB91394DA476BD97B9B14D0A65C1FC",
        "71A0E019CB08AF55E1F729005FBA7E3FA5DC41899238A250767A6D46DB974064",
        "386CD456743585F8E5D90CC8B4004B1F6D866C79CE0584E49687FF61BC29AEA1",
    ];
    const DH_SHARED_K: [&str; 4] = [
        "6BABC7B3A72BCD7EA385E4C62DB2625BD8613B24149E146A629311C4CA6698E3",
        "8B834B6A9E9CD7184BA8834AFF5043D436950C4C1E7832367C10CB8C314D40E5",
        "990B0DF7013E64B4549E2270923D06F08CFF6BD3E977DDE6ABE4C31D55C0FA2E",
        "465E553E77BDF75E3193D3834FC26E8EB1EE2FA1E4FC97C18C3F6CFFFE2607FD",
    ];

    fn joined(parts: [&str; 4]) -> Vec<u8> {
        hex(&parts.concat())
    }

    const DH_TERMINAL_MAP_KEY: &str = "5265030F751F4AD18B08AC565FC7AC952E41618D";
    const DH_TERMINAL_EPHEMERAL_KEY: &str = "89CCD99B0E8D3B1F11E1296DCA68EC53411CF2CA";
    const DH_NONCE: &str = "FA5B7E3E49753A0DB9178B7B9BD898C8";

    #[test]
    fn doc9303_dh_generic_mapping_steps() {
        let group = PaceDomain::Dh(DhGroup::Modp1024_160);
        let password = Password::Mrz("T22000129364081251010318".into());
        let nonce = Cipher::Aes128
            .cbc_decrypt(
                &password.key(Cipher::Aes128),
                &[0; 16],
                &hex("854D8DF5827FA6852D1A4FA701CDDDCA"),
            )
            .expect("decrypt");
        assert_eq!(nonce, hex(DH_NONCE));
        let map_key = hex(DH_TERMINAL_MAP_KEY);
        assert_eq!(
            group.mul_generator(&map_key).expect("T"),
            joined(DH_TERMINAL_MAP_PUBLIC)
        );
        let h = group.mul(&joined(DH_CHIP_MAP_PUBLIC), &map_key).expect("H");
        assert_eq!(h, joined(DH_SHARED_H));
        let mapped = group.map_generator(&nonce, &h).expect("mapped");
        assert_eq!(mapped, joined(DH_MAPPED_GENERATOR));
        let ephemeral = hex(DH_TERMINAL_EPHEMERAL_KEY);
        assert_eq!(
            group.mul(&mapped, &ephemeral).expect("public"),
            joined(DH_TERMINAL_PUBLIC)
        );
        let k = group.mul(&joined(DH_CHIP_PUBLIC), &ephemeral).expect("K");
        assert_eq!(k, joined(DH_SHARED_K));
        let secret = group.secret(&k).expect("secret");
        assert_eq!(
            kdf(Cipher::Aes128, secret, KeyPurpose::Enc),
            hex("2F7F46ADCC9E7E521B45D192FAFA9126")
        );
        assert_eq!(
            kdf(Cipher::Aes128, secret, KeyPurpose::Mac),
            hex("805A1D27D45A5116F73C54469462B7D8")
        );
    }

    #[test]
    fn doc9303_dh_generic_mapping_full_exchange() {
        let info = card_access::parse(&hex("31143012060A04007F00070202040102020102020100"))
            .expect("card access")
            .remove(0);
        assert_eq!(
            (info.elliptic, info.mapping, info.cipher, info.parameter_id),
            (false, Mapping::Generic, Cipher::Aes128, Some(0))
        );
        let template = |tag: &str, parts: [&str; 4]| format!("7C8183{tag}8180{}", parts.concat());
        let mut card = ScriptedCard(vec![
            (hex("0022C1A40F800A04007F00070202040102830101"), hex("9000")),
            (
                hex("10860000027C0000"),
                hex("7C128010854D8DF5827FA6852D1A4FA701CDDDCA9000"),
            ),
            (
                hex(&format!(
                    "1086000086{}00",
                    template("81", DH_TERMINAL_MAP_PUBLIC)
                )),
                hex(&format!("{}9000", template("82", DH_CHIP_MAP_PUBLIC))),
            ),
            (
                hex(&format!(
                    "1086000086{}00",
                    template("83", DH_TERMINAL_PUBLIC)
                )),
                hex(&format!("{}9000", template("84", DH_CHIP_PUBLIC))),
            ),
            (
                hex("008600000C7C0A8508B46DD9BD4D98381F00"),
                hex("7C0A8608917F37B5C0E6D8D19000"),
            ),
        ]);
        let mut rng =
            FixedBytes([hex(DH_TERMINAL_MAP_KEY), hex(DH_TERMINAL_EPHEMERAL_KEY)].concat());
        let password = Password::Mrz("T22000129364081251010318".into());
        let mut link = Link::new(&mut card);
        authenticate(&mut link, &info, &password, false, &mut rng).expect("PACE DH-GM");
        assert_eq!(
            link.secure_messaging().map(SecureMessaging::cipher),
            Some(Cipher::Aes128)
        );
        assert!(card.0.is_empty());
    }

    #[test]
    fn a_wrong_chip_token_is_refused() {
        let info = card_access::parse(&hex("31143012060A04007F0007020204020202010202010D"))
            .expect("card access")
            .remove(0);
        let mut card = ScriptedCard(vec![
            (hex("0022C1A40F800A04007F00070202040202830101"), hex("9000")),
            (
                hex("10860000027C0000"),
                hex("7C12801095A3A016522EE98D01E76CB6B98B42C39000"),
            ),
            (
                hex(
                    "10860000457C438141047ACF3EFC982EC45565A4B155129EFBC74650DCBFA6362D896FC70262E0C2CC5E544552DCB6725218799115B55C9BAA6D9F6BC3A9618E70C25AF71777A9C4922D00",
                ),
                hex(
                    "7C43824104824FBA91C9CBE26BEF53A0EBE7342A3BF178CEA9F45DE0B70AA601651FBA3F5730D8C879AAA9C9F73991E61B58F4D52EB87A0A0C709A49DC63719363CCD13C549000",
                ),
            ),
            (
                hex(
                    "10860000457C438341042DB7A64C0355044EC9DF190514C625CBA2CEA48754887122F3A5EF0D5EDD301C3556F3B3B186DF10B857B58F6A7EB80F20BA5DC7BE1D43D9BF850149FBB3646200",
                ),
                hex(
                    "7C438441049E880F842905B8B3181F7AF7CAA9F0EFB743847F44A306D2D28C1D9EC65DF6DB7764B22277A2EDDC3C265A9F018F9CB852E111B768B326904B59A0193776F0949000",
                ),
            ),
            (
                hex("008600000C7C0A8508C2B0BD78D94BA86600"),
                hex("7C0A86083ABB9674BCE93C099000"),
            ),
        ]);
        let mut rng = FixedBytes([hex(TERMINAL_MAP_KEY), hex(TERMINAL_EPHEMERAL_KEY)].concat());
        let password = Password::Mrz("T22000129364081251010318".into());
        let mut link = Link::new(&mut card);
        let result = authenticate(&mut link, &info, &password, false, &mut rng);
        assert_eq!(
            result,
            Err(ChipError::ChipNotAuthenticated { protocol: "PACE" })
        );
        assert!(link.secure_messaging().is_none());
    }
}
