//! DG14 (Doc 9303-11 sections 6.2 and 9.2): the SecurityInfos of chip authentication, that is
//! which CA protocol the chip runs (ChipAuthenticationInfo) and its static key agreement key
//! (ChipAuthenticationPublicKeyInfo). Read with `der`, one level at a time.

use der::asn1::{AnyRef, ObjectIdentifier};
use der::{Encode, Reader, SliceReader, Tag, Tagged};

use super::ChipError;
use super::card_access::security_infos;
use super::crypto::Cipher;
use super::lds::{self, LdsFile};

/// Largest DG14 accepted: a few SecurityInfos with one or two public keys take under 2 KB.
pub const DG14_BYTES_MAX: usize = 16 * 1024;

/// id-PK (BSI TR-03110-3 A.1.1.2): 0.4.0.127.0.7.2.2.1; `.1` DH, `.2` ECDH.
const ID_PK: &str = "0.4.0.127.0.7.2.2.1";
/// id-CA: 0.4.0.127.0.7.2.2.3; `.1` DH, `.2` ECDH, then the cipher arc.
const ID_CA: &str = "0.4.0.127.0.7.2.2.3";

/// The key agreement of a chip-authentication key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAgreement {
    /// Diffie-Hellman over a finite field.
    Dh,
    /// Diffie-Hellman over an elliptic curve.
    Ecdh,
}

/// One ChipAuthenticationInfo: the protocol a chip runs with one of its keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChipAuthInfo {
    /// The protocol OID (sent in MSE:Set AT).
    pub protocol: ObjectIdentifier,
    /// DH or ECDH.
    pub agreement: KeyAgreement,
    /// The cipher of the secure messaging that follows.
    pub cipher: Cipher,
    /// The protocol version (1 or 2).
    pub version: u32,
    /// The key it is for, when the chip has several.
    pub key_id: Option<u32>,
}

/// One ChipAuthenticationPublicKeyInfo: the chip's static public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChipAuthPublicKey {
    /// DH or ECDH.
    pub agreement: KeyAgreement,
    /// The SubjectPublicKeyInfo, DER as DG14 holds it (domain parameters often explicit).
    pub spki: Vec<u8>,
    /// Its key identifier, when the chip has several.
    pub key_id: Option<u32>,
}

/// What DG14 says about chip authentication (other SecurityInfos are skipped).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dg14 {
    pub protocols: Vec<ChipAuthInfo>,
    pub keys: Vec<ChipAuthPublicKey>,
}

impl Dg14 {
    /// Reads DG14's file bytes (outer tag 6E included).
    pub fn parse(bytes: &[u8]) -> Result<Self, ChipError> {
        let bad = |what: String| ChipError::Malformed { step: "DG14", what };
        if bytes.len() > DG14_BYTES_MAX {
            return Err(bad(format!(
                "{} bytes, more than the {DG14_BYTES_MAX} accepted",
                bytes.len()
            )));
        }
        if bytes.first() != Some(&LdsFile::Dg(14).outer_tag()) {
            return Err(bad("outer tag is not 6E".into()));
        }
        let header = lds::header_len(bytes, LdsFile::Dg(14))?;
        let total = lds::announced_len(bytes, LdsFile::Dg(14))?;
        if total != bytes.len() {
            return Err(bad(format!(
                "announces {total} bytes but holds {}",
                bytes.len()
            )));
        }
        Self::from_security_infos(&bytes[header..], "DG14")
    }

    /// Reads the chip-authentication SecurityInfos of EF.CardSecurity's signed content (a DER
    /// SET OF SecurityInfo, PACEInfos and others skipped), once its signature is verified.
    pub fn from_card_security(content: &[u8]) -> Result<Self, ChipError> {
        if content.len() > DG14_BYTES_MAX {
            return Err(ChipError::Malformed {
                step: "EF.CardSecurity",
                what: format!(
                    "SecurityInfos of {} bytes, more than the {DG14_BYTES_MAX} accepted",
                    content.len()
                ),
            });
        }
        Self::from_security_infos(content, "EF.CardSecurity")
    }

    fn from_security_infos(set: &[u8], step: &'static str) -> Result<Self, ChipError> {
        let bad = |what: String| ChipError::Malformed { step, what };
        let mut dg14 = Self::default();
        for (index, element) in security_infos(set).map_err(bad)?.into_iter().enumerate() {
            dg14.add(element)
                .map_err(|why| bad(format!("SecurityInfo {}: {why}", index + 1)))?;
        }
        Ok(dg14)
    }

    fn add(&mut self, element: AnyRef<'_>) -> Result<(), String> {
        let mut reader = SliceReader::new(element.value()).map_err(|e| e.to_string())?;
        let protocol: ObjectIdentifier =
            reader.decode().map_err(|e| format!("protocol OID: {e}"))?;
        if let Some(agreement) = under(&protocol, ID_PK).and_then(agreement_arc) {
            let spki: AnyRef<'_> = reader
                .decode()
                .map_err(|e| format!("chipAuthenticationPublicKey: {e}"))?;
            if spki.tag() != Tag::Sequence {
                return Err("chipAuthenticationPublicKey is not a SEQUENCE".into());
            }
            let spki = spki.to_der().map_err(|e| e.to_string())?;
            let key_id = optional_key_id(&mut reader)?;
            self.keys.push(ChipAuthPublicKey {
                agreement,
                spki,
                key_id,
            });
        } else if let Some(arcs) = under(&protocol, ID_CA).filter(|arcs| arcs.len() != 1) {
            // (One arc after id-CA is a ChipAuthenticationDomainParameterInfo: skipped, the
            // key's own parameters are used.)
            let (agreement, cipher) = ca_arcs(&arcs)?;
            let version: u32 = reader.decode().map_err(|e| format!("version: {e}"))?;
            let key_id = optional_key_id(&mut reader)?;
            self.protocols.push(ChipAuthInfo {
                protocol,
                agreement,
                cipher,
                version,
                key_id,
            });
        }
        Ok(())
    }

    /// The protocol and key to run: the first ChipAuthenticationInfo whose key DG14 holds; a
    /// DG14 with keys but no ChipAuthenticationInfo (early chips) implies CA version 1 with
    /// 3DES. `None` when DG14 holds no chip-authentication key.
    pub fn choice(&self) -> Result<Option<(ChipAuthInfo, &ChipAuthPublicKey)>, ChipError> {
        if self.keys.is_empty() {
            return Ok(None);
        }
        if self.protocols.is_empty() {
            let key = &self.keys[0];
            let implied = ChipAuthInfo {
                protocol: implied_protocol(key.agreement),
                agreement: key.agreement,
                cipher: Cipher::Tdes,
                version: 1,
                key_id: key.key_id,
            };
            return Ok(Some((implied, key)));
        }
        for info in &self.protocols {
            let matching = self
                .keys
                .iter()
                .find(|key| key.agreement == info.agreement && matches_id(info, key, &self.keys));
            if let Some(key) = matching {
                return Ok(Some((info.clone(), key)));
            }
        }
        Err(ChipError::Malformed {
            step: "DG14",
            what: "no ChipAuthenticationPublicKeyInfo matches a ChipAuthenticationInfo".into(),
        })
    }

    /// Encodes chip-authentication SecurityInfos as DG14 (the simulator's and tests' file).
    pub fn encode(&self) -> Vec<u8> {
        use super::tlv::encode as tlv;
        tlv(
            &[LdsFile::Dg(14).outer_tag()],
            &self.encode_security_infos(),
        )
    }

    /// Encodes them as a SET OF SecurityInfo (EF.CardSecurity's content holds the same).
    pub fn encode_security_infos(&self) -> Vec<u8> {
        use super::card_access::integer;
        use super::tlv::encode as tlv;
        let mut body = Vec::new();
        for info in &self.protocols {
            let mut sequence = tlv(&[0x06], info.protocol.as_bytes());
            sequence.extend(tlv(&[0x02], &integer(info.version)));
            if let Some(id) = info.key_id {
                sequence.extend(tlv(&[0x02], &integer(id)));
            }
            body.extend(tlv(&[0x30], &sequence));
        }
        for key in &self.keys {
            let protocol: ObjectIdentifier = match key.agreement {
                KeyAgreement::Dh => ObjectIdentifier::new_unwrap("0.4.0.127.0.7.2.2.1.1"),
                KeyAgreement::Ecdh => ObjectIdentifier::new_unwrap("0.4.0.127.0.7.2.2.1.2"),
            };
            let mut sequence = tlv(&[0x06], protocol.as_bytes());
            sequence.extend_from_slice(&key.spki);
            if let Some(id) = key.key_id {
                sequence.extend(tlv(&[0x02], &integer(id)));
            }
            body.extend(tlv(&[0x30], &sequence));
        }
        tlv(&[0x31], &body)
    }
}

/// The CA protocol OID for an agreement and cipher (id-CA-ECDH-AES-CBC-CMAC-128, ...).
pub fn ca_protocol(agreement: KeyAgreement, cipher: Cipher) -> ObjectIdentifier {
    let text = format!(
        "{ID_CA}.{}.{}",
        match agreement {
            KeyAgreement::Dh => 1,
            KeyAgreement::Ecdh => 2,
        },
        match cipher {
            Cipher::Tdes => 1,
            Cipher::Aes128 => 2,
            Cipher::Aes192 => 3,
            Cipher::Aes256 => 4,
        }
    );
    ObjectIdentifier::new(&text).unwrap_or(ObjectIdentifier::new_unwrap(ID_CA))
}

fn implied_protocol(agreement: KeyAgreement) -> ObjectIdentifier {
    ca_protocol(agreement, Cipher::Tdes)
}

/// A key matches a protocol by key ID when either names one, else (one key) by agreement.
fn matches_id(info: &ChipAuthInfo, key: &ChipAuthPublicKey, keys: &[ChipAuthPublicKey]) -> bool {
    match (info.key_id, key.key_id) {
        (Some(wanted), Some(id)) => wanted == id,
        (None, _) => true,
        (Some(_), None) => keys.len() == 1,
    }
}

fn optional_key_id(reader: &mut SliceReader<'_>) -> Result<Option<u32>, String> {
    let key_id = if reader.is_finished() {
        None
    } else {
        Some(reader.decode().map_err(|e| format!("keyId: {e}"))?)
    };
    if reader.is_finished() {
        Ok(key_id)
    } else {
        Err("trailing data".into())
    }
}

/// The arcs of `oid` after `prefix`, or `None` when it is not under it.
fn under(oid: &ObjectIdentifier, prefix: &str) -> Option<Vec<u32>> {
    let text = oid.to_string();
    let rest = text.strip_prefix(prefix)?.strip_prefix('.')?;
    rest.split('.').map(|arc| arc.parse().ok()).collect()
}

fn agreement_arc(arcs: Vec<u32>) -> Option<KeyAgreement> {
    match arcs.as_slice() {
        [1] => Some(KeyAgreement::Dh),
        [2] => Some(KeyAgreement::Ecdh),
        _ => None,
    }
}

fn ca_arcs(arcs: &[u32]) -> Result<(KeyAgreement, Cipher), String> {
    let [agreement, cipher] = arcs else {
        return Err(format!("CA protocol with {} arcs after id-CA", arcs.len()));
    };
    let agreement = match agreement {
        1 => KeyAgreement::Dh,
        2 => KeyAgreement::Ecdh,
        other => return Err(format!("unknown CA key agreement arc {other}")),
    };
    let cipher = match cipher {
        1 => Cipher::Tdes,
        2 => Cipher::Aes128,
        3 => Cipher::Aes192,
        4 => Cipher::Aes256,
        other => return Err(format!("unknown CA cipher arc {other}")),
    };
    Ok((agreement, cipher))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s).expect("hex")
    }

    /// A P-256 SubjectPublicKeyInfo (named curve).
    const SPKI: &str = "3059301306072A8648CE3D020106082A8648CE3D03010703420004\
        6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296\
        4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5";

    #[test]
    fn ca_info_and_key_are_read_and_matched_by_key_id() {
        let dg14 = Dg14 {
            protocols: vec![ChipAuthInfo {
                protocol: ca_protocol(KeyAgreement::Ecdh, Cipher::Aes128),
                agreement: KeyAgreement::Ecdh,
                cipher: Cipher::Aes128,
                version: 1,
                key_id: Some(7),
            }],
            keys: vec![
                ChipAuthPublicKey {
                    agreement: KeyAgreement::Ecdh,
                    spki: hex(SPKI),
                    key_id: Some(6),
                },
                ChipAuthPublicKey {
                    agreement: KeyAgreement::Ecdh,
                    spki: hex(SPKI),
                    key_id: Some(7),
                },
            ],
        };
        let bytes = dg14.encode();
        let parsed = Dg14::parse(&bytes).expect("parse");
        assert_eq!(parsed, dg14);
        let (info, key) = parsed.choice().expect("choice").expect("CA offered");
        assert_eq!(info.protocol.to_string(), "0.4.0.127.0.7.2.2.3.2.2");
        assert_eq!(key.key_id, Some(7));
    }

    #[test]
    fn a_key_without_ca_info_implies_ca_version_1_with_3des() {
        // An early DG14: only id-PK-ECDH with its key, and an AA info (skipped).
        let aa = "300B0606678108010105020101";
        let pk = format!("3066060904007F000702020102{SPKI}");
        let set = format!("31{:02X}{aa}{pk}", (aa.len() + pk.len()) / 2);
        let dg14 = hex(&format!("6E{:02X}{set}", set.len() / 2));
        let parsed = Dg14::parse(&dg14).expect("parse");
        assert!(parsed.protocols.is_empty());
        let (info, _) = parsed.choice().expect("choice").expect("CA offered");
        assert_eq!((info.cipher, info.version), (Cipher::Tdes, 1));
        assert_eq!(info.protocol.to_string(), "0.4.0.127.0.7.2.2.3.2.1");
    }

    #[test]
    fn malformed_dg14_says_where() {
        let cases = [
            ("", "outer tag"),
            ("6E03310130", "SecurityInfo"),
            ("6E05310330", "announces"),
            ("6E08310C300A06080400", "not one DER object"),
            // A CA info with an unknown cipher arc 9.
            ("6E133111300F060A04007F00070202030209020101", "cipher arc 9"),
        ];
        for (input, expected) in cases {
            let error = Dg14::parse(&hex(&input.replace(' ', ""))).expect_err(input);
            assert!(error.to_string().contains(expected), "{input}: {error}");
        }
        let too_big = [vec![0x6E, 0x83, 0x01, 0, 0], vec![0; 0x10000]].concat();
        assert!(Dg14::parse(&too_big).is_err());
        let unmatched = Dg14 {
            protocols: vec![ChipAuthInfo {
                protocol: ca_protocol(KeyAgreement::Dh, Cipher::Aes128),
                agreement: KeyAgreement::Dh,
                cipher: Cipher::Aes128,
                version: 1,
                key_id: None,
            }],
            keys: vec![ChipAuthPublicKey {
                agreement: KeyAgreement::Ecdh,
                spki: hex(SPKI),
                key_id: None,
            }],
        };
        assert!(unmatched.choice().is_err());
        assert_eq!(Dg14::default().choice(), Ok(None));
    }
}
