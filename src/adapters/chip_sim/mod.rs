//! A software eMRTD chip: a test and demo double, never used on a real lane.
//!
//! [`SimulatedChip`] answers APDUs like a passport chip (EF.CardAccess, EF.CardSecurity, the
//! eMRTD application with its files, BAC, PACE including PACE-CAM, secure messaging, active and
//! chip authentication) and misbehaves on request (a wrong response MAC, the card leaving the
//! field in the middle of a file, 6282 at end of file, a huge announced length, failing long
//! reads, altered PACE-CAM data). In process it is a [`crate::ports::chip::CardChannel`];
//! [`vpcd`] serves it on the socket of vsmartcard's virtual reader so the real PC/SC stack
//! (pcscd) sees it as a card.

mod card;
pub mod vpcd;

/// The tests' PKI (`tests/chip_pki`: CSCA → document signer → EF.SOD, CRLs, master lists),
/// which the demo signs its simulated chips with; the unit tests of `core::lds` and
/// `core::passive_auth` use it from here.
#[path = "../../../tests/chip_pki/mod.rs"]
pub mod test_pki;

pub use card::SimulatedChip;

use std::sync::{Arc, Mutex};

use crate::core::chip::ChipError;
use crate::core::chip::pace::Password;
use crate::core::chip::reader::{ChipRead, ReadSettings, read_chip};
use crate::ports::chip::{ChannelError, DocumentChipReader};

use std::collections::BTreeMap;

use der::asn1::ObjectIdentifier;

use crate::core::chip::card_access::{Mapping, PaceInfo};
use crate::core::chip::crypto::Cipher;
use crate::core::chip::lds::LdsFile;

/// What the simulated chip holds and how it behaves.
#[derive(Debug, Clone)]
pub struct ChipProfile {
    /// The MRZ information its BAC and PACE-MRZ keys come from.
    pub mrz_information: String,
    /// Its card access number, if PACE with a CAN is possible.
    pub can: Option<String>,
    /// The PACEInfo it offers in EF.CardAccess (none: no EF.CardAccess, BAC only).
    pub pace: Option<PaceInfo>,
    /// Whether it still answers BAC.
    pub bac: bool,
    /// The files of the eMRTD application, raw with their outer tag.
    pub files: BTreeMap<LdsFile, Vec<u8>>,
    /// Whether it accepts extended-length APDUs.
    pub extended_length: bool,
    /// EF.ATR/INFO advertising this longest response in DO'7F66' (none: no EF.ATR/INFO, so
    /// a reader keeps to short reads); longer reads are refused with 6700.
    pub atr_info: Option<usize>,
    /// The active-authentication private key (its public half belongs in DG15; a clone has
    /// DG15 copied but another key, or none).
    pub aa_key: Option<openssl::pkey::PKey<openssl::pkey::Private>>,
    /// The chip-authentication private key (its public half belongs in DG14; a clone has
    /// DG14 copied but another key, or none).
    pub ca_key: Option<openssl::pkey::PKey<openssl::pkey::Private>>,
    /// Misbehaviour on request.
    pub faults: Faults,
    /// More PACEInfos EF.CardAccess offers after [`ChipProfile::pace`] (MSE:Set AT takes any).
    pub more_pace: Vec<PaceInfo>,
    /// EF.CardSecurity of the master file, readable under PACE (a SignedData over the
    /// SecurityInfos of [`card_security_content`]); PACE-CAM's chip key is [`ChipProfile::ca_key`].
    pub card_security: Option<Vec<u8>>,
}

/// Ways the simulated chip misbehaves, each off by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    /// The MAC of this protected response (counting from 1) is corrupted.
    pub wrong_mac_at_response: Option<usize>,
    /// The card leaves the field at the first READ BINARY past offset 0 of this file.
    pub lose_field_in: Option<LdsFile>,
    /// Reads reaching past the end answer the remaining bytes with 6282.
    pub end_of_file_6282: bool,
    /// This file's header announces 16 MiB.
    pub huge_length_in: Option<LdsFile>,
    /// PACE is advertised but MSE:Set AT fails with 6A80.
    pub fail_pace: bool,
    /// READ BINARY with Le over 223 fails with 6700 (chips that cannot send long answers).
    pub fail_long_reads: bool,
    /// PACE-CAM's encrypted chip authentication data is altered (a wrong CA_IC).
    pub wrong_cam_data: bool,
}

impl ChipProfile {
    /// A chip with the given MRZ information and files that offers PACE (ECDH generic mapping
    /// on brainpoolP256r1, AES-128) and BAC.
    pub fn new(mrz_information: &str, files: BTreeMap<LdsFile, Vec<u8>>) -> Self {
        Self {
            mrz_information: mrz_information.to_owned(),
            can: None,
            pace: Some(pace_info(Cipher::Aes128, 13)),
            bac: true,
            files,
            extended_length: false,
            atr_info: None,
            aa_key: None,
            ca_key: None,
            faults: Faults::default(),
            more_pace: Vec::new(),
            card_security: None,
        }
    }
}

/// id-PACE-ECDH-GM-3DES, -AES-CBC-CMAC-128, -192, -256.
const PACE_ECDH_GM: [ObjectIdentifier; 4] = [
    ObjectIdentifier::new_unwrap("0.4.0.127.0.7.2.2.4.2.1"),
    ObjectIdentifier::new_unwrap("0.4.0.127.0.7.2.2.4.2.2"),
    ObjectIdentifier::new_unwrap("0.4.0.127.0.7.2.2.4.2.3"),
    ObjectIdentifier::new_unwrap("0.4.0.127.0.7.2.2.4.2.4"),
];

/// id-PACE-ECDH-IM-3DES, -AES-CBC-CMAC-128, -192, -256.
const PACE_ECDH_IM: [ObjectIdentifier; 4] = [
    ObjectIdentifier::new_unwrap("0.4.0.127.0.7.2.2.4.4.1"),
    ObjectIdentifier::new_unwrap("0.4.0.127.0.7.2.2.4.4.2"),
    ObjectIdentifier::new_unwrap("0.4.0.127.0.7.2.2.4.4.3"),
    ObjectIdentifier::new_unwrap("0.4.0.127.0.7.2.2.4.4.4"),
];

/// id-PACE-DH-GM-3DES, -AES-CBC-CMAC-128, -192, -256.
const PACE_DH_GM: [ObjectIdentifier; 4] = [
    ObjectIdentifier::new_unwrap("0.4.0.127.0.7.2.2.4.1.1"),
    ObjectIdentifier::new_unwrap("0.4.0.127.0.7.2.2.4.1.2"),
    ObjectIdentifier::new_unwrap("0.4.0.127.0.7.2.2.4.1.3"),
    ObjectIdentifier::new_unwrap("0.4.0.127.0.7.2.2.4.1.4"),
];

/// id-PACE-ECDH-CAM-AES-CBC-CMAC-128, -192, -256 (and arc 1, which Doc 9303 leaves undefined:
/// a 3DES CAM that readers must refuse).
const PACE_ECDH_CAM: [ObjectIdentifier; 4] = [
    ObjectIdentifier::new_unwrap("0.4.0.127.0.7.2.2.4.6.1"),
    ObjectIdentifier::new_unwrap("0.4.0.127.0.7.2.2.4.6.2"),
    ObjectIdentifier::new_unwrap("0.4.0.127.0.7.2.2.4.6.3"),
    ObjectIdentifier::new_unwrap("0.4.0.127.0.7.2.2.4.6.4"),
];

fn cipher_arc(cipher: Cipher) -> usize {
    match cipher {
        Cipher::Tdes => 0,
        Cipher::Aes128 => 1,
        Cipher::Aes192 => 2,
        Cipher::Aes256 => 3,
    }
}

/// A PACEInfo for ECDH generic mapping with this cipher and standardised curve.
pub fn pace_info(cipher: Cipher, parameter_id: u32) -> PaceInfo {
    PaceInfo {
        protocol: PACE_ECDH_GM[cipher_arc(cipher)],
        elliptic: true,
        mapping: Mapping::Generic,
        cipher,
        version: 2,
        parameter_id: Some(parameter_id),
    }
}

/// A PACEInfo for ECDH integrated mapping with this cipher and standardised curve.
pub fn pace_info_integrated(cipher: Cipher, parameter_id: u32) -> PaceInfo {
    PaceInfo {
        protocol: PACE_ECDH_IM[cipher_arc(cipher)],
        mapping: Mapping::Integrated,
        ..pace_info(cipher, parameter_id)
    }
}

/// A PACEInfo for ECDH chip authentication mapping (PACE-CAM) with this cipher and
/// standardised curve; the chip's [`ChipProfile::ca_key`] must be on that curve, and its
/// EF.CardSecurity must hold the key's public half.
pub fn pace_info_cam(cipher: Cipher, parameter_id: u32) -> PaceInfo {
    PaceInfo {
        protocol: PACE_ECDH_CAM[cipher_arc(cipher)],
        mapping: Mapping::ChipAuthentication,
        ..pace_info(cipher, parameter_id)
    }
}

/// The SecurityInfos EF.CardSecurity signs (DER SET): the PACEInfos, and chip authentication
/// with `cipher` for the public half of `key` (the chip's [`ChipProfile::ca_key`]).
pub fn card_security_content(
    key: &openssl::pkey::PKeyRef<openssl::pkey::Private>,
    cipher: Cipher,
    pace: &[PaceInfo],
) -> Vec<u8> {
    use crate::core::chip::card_access::{encode, security_infos};
    use der::Encode;
    let pace = encode(pace);
    let dg14 = dg14_for(key, cipher);
    let ca = crate::core::chip::dg14::Dg14::parse(&dg14)
        .map(|parsed| parsed.encode_security_infos())
        .unwrap_or_default();
    let mut body = Vec::new();
    for set in [&pace, &ca] {
        // Both sets were encoded just above, so their elements read back.
        for element in security_infos(set).unwrap_or_default() {
            body.extend(element.to_der().unwrap_or_default());
        }
    }
    crate::core::chip::tlv::encode(&[0x31], &body)
}

/// A PACEInfo for finite-field DH generic mapping with this cipher and standardised group
/// (0 to 2: RFC 5114's MODP groups). Its 2048-bit groups need extended-length APDUs.
pub fn pace_info_dh(cipher: Cipher, parameter_id: u32) -> PaceInfo {
    PaceInfo {
        protocol: PACE_DH_GM[cipher_arc(cipher)],
        elliptic: false,
        ..pace_info(cipher, parameter_id)
    }
}

/// Sample LDS files for tests and the demo: DG1 holding `dg1_mrz`, DG2 with `dg2_len` bytes
/// of filler face data, the given SOD bytes, and EF.COM listing the data groups.
pub fn sample_files(dg1_mrz: &str, dg2_len: usize, sod: Vec<u8>) -> BTreeMap<LdsFile, Vec<u8>> {
    use crate::core::chip::tlv::encode;
    let dg2_body: Vec<u8> = (0..dg2_len).map(|i| (i % 251) as u8).collect();
    let mut files = BTreeMap::from([
        (
            LdsFile::Dg(1),
            encode(&[0x61], &encode(&[0x5F, 0x1F], dg1_mrz.as_bytes())),
        ),
        (
            LdsFile::Dg(2),
            encode(&[0x75], &encode(&[0x7F, 0x61], &dg2_body)),
        ),
        (LdsFile::Sod, sod),
    ]);
    files.insert(LdsFile::Com, ef_com(&files));
    files
}

/// DG14 offering chip authentication (CA version 1) with `cipher` for the public half of
/// `key`, the chip's [`ChipProfile::ca_key`]: ECDH for an EC key, DH for a DH key.
pub fn dg14_for(key: &openssl::pkey::PKeyRef<openssl::pkey::Private>, cipher: Cipher) -> Vec<u8> {
    use crate::core::chip::dg14::{
        ChipAuthInfo, ChipAuthPublicKey, Dg14, KeyAgreement, ca_protocol,
    };
    use openssl::pkey::Id;
    let agreement = if matches!(key.id(), Id::DH | Id::DHX) {
        KeyAgreement::Dh
    } else {
        KeyAgreement::Ecdh
    };
    Dg14 {
        protocols: vec![ChipAuthInfo {
            protocol: ca_protocol(agreement, cipher),
            agreement,
            cipher,
            version: 1,
            key_id: None,
        }],
        keys: vec![ChipAuthPublicKey {
            agreement,
            // An EC or DH key's SubjectPublicKeyInfo always encodes.
            spki: key.public_key_to_der().unwrap_or_default(),
            key_id: None,
        }],
    }
    .encode()
}

/// EF.COM (LDS 1.7, Unicode 4.0.0) listing the data groups among `files`.
pub fn ef_com(files: &BTreeMap<LdsFile, Vec<u8>>) -> Vec<u8> {
    use crate::core::chip::tlv::encode;
    let tags: Vec<u8> = files
        .keys()
        .filter(|file| matches!(file, LdsFile::Dg(_)))
        .map(|file| file.outer_tag())
        .collect();
    let mut body = encode(&[0x5F, 0x01], b"0107");
    body.extend(encode(&[0x5F, 0x36], b"040000"));
    body.extend(encode(&[0x5C], &tags));
    encode(&[0x60], &body)
}

/// The demo's reader field: the simulated chip of the document on the reader, if any, read
/// through the same port as a PC/SC reader.
#[derive(Clone, Default)]
pub struct SimulatedField {
    chip: Arc<Mutex<Option<SimulatedChip>>>,
}

impl SimulatedField {
    /// Puts a document's chip in the field (replacing any other).
    pub fn place(&self, chip: Option<SimulatedChip>) {
        *self
            .chip
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = chip;
    }
}

impl DocumentChipReader for SimulatedField {
    fn read(
        &mut self,
        password: &Password,
        settings: &ReadSettings,
    ) -> Result<ChipRead, ChipError> {
        let mut chip = self
            .chip
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let chip = chip
            .as_mut()
            .ok_or(ChipError::Channel(ChannelError::NoCard))?;
        chip.reset();
        read_chip(chip, password, settings, &mut rand::thread_rng())
    }
}
