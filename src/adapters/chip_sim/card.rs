//! The simulated chip's command processing: selection, access conditions, BAC, PACE (PACE-CAM
//! included), secure messaging and the requested faults.

use rand::RngCore;
use rand::rngs::OsRng;

use super::{ChipProfile, Faults};
use crate::core::chip::active_auth;
use crate::core::chip::apdu::{Command, Response, parse_command};
use crate::core::chip::atr_info::{self, AtrInfo};
use crate::core::chip::bac::{self, BacKeys};
use crate::core::chip::card_access::{self, Mapping, PaceInfo};
use crate::core::chip::chip_auth;
use crate::core::chip::crypto::Cipher;
use crate::core::chip::dg14::Dg14;
use crate::core::chip::lds::LdsFile;
use crate::core::chip::pace::{ChipPace, Password};
use crate::core::chip::reader::EMRTD_AID;
use crate::core::chip::sm::SecureMessaging;
use crate::core::chip::tlv;
use crate::ports::chip::{CardChannel, ChannelError};

/// A simulated eMRTD chip (test and demo double).
pub struct SimulatedChip {
    profile: ChipProfile,
    card_access: Option<Vec<u8>>,
    app_selected: bool,
    current: Option<LdsFile>,
    /// EF.ATR/INFO (of the master file) is the current file.
    atr_info_selected: bool,
    sm: Option<SecureMessaging>,
    challenge: Option<[u8; 8]>,
    pace: Option<(ChipPace, Password)>,
    /// The cipher of a chip authentication set up by MSE:Set AT, awaiting its key.
    ca_pending: Option<Cipher>,
    protected_responses: usize,
    removed: bool,
    rng: Box<dyn RngCore + Send>,
}

impl SimulatedChip {
    /// A chip in the field, freshly powered.
    pub fn new(profile: ChipProfile) -> Self {
        let card_access = profile.pace.as_ref().map(|info| {
            let offered: Vec<_> = std::iter::once(info)
                .chain(&profile.more_pace)
                .cloned()
                .collect();
            card_access::encode(&offered)
        });
        Self {
            profile,
            card_access,
            app_selected: false,
            current: None,
            atr_info_selected: false,
            sm: None,
            challenge: None,
            pace: None,
            ca_pending: None,
            protected_responses: 0,
            removed: false,
            rng: Box::new(OsRng),
        }
    }

    /// Power cycle: back to the master file, no session (a removed card stays removed).
    pub fn reset(&mut self) {
        self.app_selected = false;
        self.current = None;
        self.atr_info_selected = false;
        self.sm = None;
        self.challenge = None;
        self.pace = None;
        self.ca_pending = None;
    }

    /// Whether the chip has "left the field" (after a lost-field fault).
    pub fn is_removed(&self) -> bool {
        self.removed
    }

    /// The ATR of a contactless ISO 14443-4 card as PC/SC readers synthesise it.
    pub fn atr(&self) -> Vec<u8> {
        vec![0x3B, 0x80, 0x80, 0x01, 0x01]
    }

    /// Answers one APDU; `Err(CardRemoved)` once the card has left the field.
    pub fn process(&mut self, raw: &[u8]) -> Result<Vec<u8>, ChannelError> {
        if self.removed {
            return Err(ChannelError::CardRemoved);
        }
        let Ok(command) = parse_command(raw) else {
            return Ok(status(0x6700));
        };
        if command.cla & 0x0C == 0x0C {
            return self.process_protected(&command);
        }
        // A plain command ends any secure-messaging session, as on real chips.
        self.sm = None;
        let (response, next_sm) = self.handle(&command)?;
        if let Some(sm) = next_sm {
            self.sm = Some(sm);
        }
        Ok(response.encode())
    }

    fn process_protected(&mut self, command: &Command) -> Result<Vec<u8>, ChannelError> {
        let Some(sm) = self.sm.as_mut() else {
            return Ok(status(0x6988));
        };
        let inner = match sm.unprotect_command(command) {
            Ok(Some(inner)) => inner,
            _ => {
                self.sm = None;
                return Ok(status(0x6988));
            }
        };
        let (response, next_sm) = self.handle(&inner)?;
        let Some(sm) = self.sm.as_mut() else {
            return Ok(status(0x6988));
        };
        let mut wire = sm
            .protect_response(&response)
            .map_err(|e| ChannelError::Transport(e.to_string()))?;
        if let Some(next) = next_sm {
            // Chip authentication: its answer goes under the old keys, then the new ones rule.
            self.sm = Some(next);
        }
        self.protected_responses += 1;
        if self.profile.faults.wrong_mac_at_response == Some(self.protected_responses) {
            // The MAC is the 8 bytes before the status word.
            let at = wire.len() - 3;
            wire[at] ^= 0x55;
        }
        Ok(wire)
    }

    /// One command in the clear; returns the answer and, after a successful access control,
    /// the session that starts once the answer is sent.
    fn handle(
        &mut self,
        command: &Command,
    ) -> Result<(Response, Option<SecureMessaging>), ChannelError> {
        let answer = match command.ins {
            0xA4 => self.select(command),
            0xB0 => return self.read_binary(command).map(|r| (r, None)),
            0xB1 => return self.read_binary_odd(command).map(|r| (r, None)),
            0x84 => self.get_challenge(),
            0x82 => return Ok(self.external_authenticate(command)),
            0x22 if (command.p1, command.p2) == (0x41, 0xA6) => return Ok(self.ca_set_kat(command)),
            0x22 if command.p1 == 0x41 => self.ca_set_at(command),
            0x22 => self.set_at(command),
            0x86 if self.ca_pending.is_some() => return Ok(self.ca_general_authenticate(command)),
            0x86 => return Ok(self.general_authenticate(command)),
            0x88 => self.internal_authenticate(command),
            _ => status_only(0x6D00),
        };
        Ok((answer, None))
    }

    fn select(&mut self, command: &Command) -> Response {
        self.atr_info_selected = false;
        match (command.p1, command.data.as_slice()) {
            (0x04, aid) if aid == EMRTD_AID => {
                self.app_selected = true;
                self.current = None;
                status_only(0x9000)
            }
            (0x04, _) => status_only(0x6A82),
            (0x00 | 0x02, &[hi, lo]) => {
                let fid = u16::from_be_bytes([hi, lo]);
                if fid == atr_info::FID && !self.app_selected && self.profile.atr_info.is_some() {
                    self.current = None;
                    self.atr_info_selected = true;
                    return status_only(0x9000);
                }
                let found = if self.app_selected {
                    self.profile.files.keys().copied().find(|f| f.fid() == fid)
                } else if fid == LdsFile::CardSecurity.fid() {
                    self.profile
                        .card_security
                        .is_some()
                        .then_some(LdsFile::CardSecurity)
                } else {
                    (fid == LdsFile::CardAccess.fid() && self.card_access.is_some())
                        .then_some(LdsFile::CardAccess)
                };
                match found {
                    Some(file) => {
                        self.current = Some(file);
                        status_only(0x9000)
                    }
                    None => status_only(0x6A82),
                }
            }
            _ => status_only(0x6A86),
        }
    }

    fn file_bytes(&self, file: LdsFile) -> Option<Vec<u8>> {
        let mut bytes = match file {
            LdsFile::CardAccess => self.card_access.clone()?,
            LdsFile::CardSecurity => self.profile.card_security.clone()?,
            other => self.profile.files.get(&other)?.clone(),
        };
        if self.profile.faults.huge_length_in == Some(file) && bytes.len() >= 2 {
            // Header 84 01000000: 16 MiB announced.
            bytes.splice(
                1..crate::core::chip::lds::header_len(&bytes, file).unwrap_or(2),
                [0x84, 0x01, 0, 0, 0],
            );
        }
        Some(bytes)
    }

    fn read_binary(&mut self, command: &Command) -> Result<Response, ChannelError> {
        let offset = usize::from(u16::from_be_bytes([command.p1 & 0x7F, command.p2]));
        self.read_binary_at(command.le.unwrap_or(256), offset)
    }

    fn read_binary_at(&mut self, le: usize, offset: usize) -> Result<Response, ChannelError> {
        if let (true, Some(max_response)) = (self.atr_info_selected, self.profile.atr_info) {
            // Readable in plain, like EF.CardAccess.
            let bytes = AtrInfo::encode(max_response);
            let start = offset.min(bytes.len());
            let end = bytes.len().min(offset.saturating_add(le));
            return Ok(Response {
                data: bytes[start..end].to_vec(),
                sw: if end - start < le { 0x6282 } else { 0x9000 },
            });
        }
        let Some(file) = self.current else {
            return Ok(status_only(0x6986));
        };
        if file != LdsFile::CardAccess && self.sm.is_none() {
            return Ok(status_only(0x6982));
        }
        let faults: &Faults = &self.profile.faults;
        if offset > 0 && faults.lose_field_in == Some(file) {
            self.removed = true;
            self.sm = None;
            return Err(ChannelError::CardRemoved);
        }
        if faults.fail_long_reads && le > 223 {
            return Ok(status_only(0x6700));
        }
        let over_advertised = self.profile.atr_info.is_some_and(|max| le > max);
        if le > 256 && (!self.profile.extended_length || over_advertised) {
            return Ok(status_only(0x6700));
        }
        let end_6282 = faults.end_of_file_6282;
        let Some(bytes) = self.file_bytes(file) else {
            return Ok(status_only(0x6A82));
        };
        if offset > bytes.len() {
            return Ok(status_only(0x6B00));
        }
        let end = bytes.len().min(offset + le);
        let sw = if end - offset < le && end_6282 {
            0x6282
        } else {
            0x9000
        };
        Ok(Response {
            data: bytes[offset..end].to_vec(),
            sw,
        })
    }

    fn internal_authenticate(&mut self, command: &Command) -> Response {
        let Some(key) = self.profile.aa_key.clone() else {
            return status_only(0x6D00);
        };
        if self.sm.is_none() {
            return status_only(0x6982);
        }
        match active_auth::sign(&key, &command.data, &mut *self.rng) {
            Ok(signature) => Response {
                data: signature,
                sw: 0x9000,
            },
            Err(_) => status_only(0x6F00),
        }
    }

    /// READ BINARY B1: the offset in DO'54', the answer in DO'53'.
    fn read_binary_odd(&mut self, command: &Command) -> Result<Response, ChannelError> {
        let Ok(objects) = tlv::primitives(&command.data, &[0x54], "READ BINARY B1") else {
            return Ok(status_only(0x6A80));
        };
        let Some((_, offset)) = objects.first().filter(|(_, v)| (1..=3).contains(&v.len())) else {
            return Ok(status_only(0x6A80));
        };
        let offset = offset
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        let le = command.le.unwrap_or(256).saturating_sub(4).max(1);
        let answer = self.read_binary_at(le, offset)?;
        if answer.data.is_empty() {
            return Ok(answer);
        }
        Ok(Response {
            data: tlv::encode(&[0x53], &answer.data),
            sw: answer.sw,
        })
    }

    fn get_challenge(&mut self) -> Response {
        if !self.profile.bac {
            return status_only(0x6D00);
        }
        let mut challenge = [0; 8];
        self.rng.fill_bytes(&mut challenge);
        self.challenge = Some(challenge);
        Response {
            data: challenge.to_vec(),
            sw: 0x9000,
        }
    }

    fn external_authenticate(&mut self, command: &Command) -> (Response, Option<SecureMessaging>) {
        let Some(challenge) = self.challenge.take() else {
            return (status_only(0x6985), None);
        };
        let keys = BacKeys::from_mrz_information(&self.profile.mrz_information);
        let mut k_ic = [0; 16];
        self.rng.fill_bytes(&mut k_ic);
        match bac::chip_answer(&keys, &challenge, &k_ic, &command.data) {
            Ok(Some((answer, sm))) => (
                Response {
                    data: answer,
                    sw: 0x9000,
                },
                Some(sm),
            ),
            _ => (status_only(0x6300), None),
        }
    }

    fn set_at(&mut self, command: &Command) -> Response {
        if self.profile.faults.fail_pace {
            return status_only(0x6A80);
        }
        let Ok(objects) = tlv::primitives(&command.data, &[0x80, 0x83, 0x84], "MSE:Set AT") else {
            return status_only(0x6A80);
        };
        let find = |tag| {
            objects
                .iter()
                .find(|(t, _)| *t == tag)
                .map(|(_, v)| v.as_slice())
        };
        let offered = self.profile.pace.iter().chain(&self.profile.more_pace);
        // The protocol, and the domain parameters (DO'84') when EF.CardAccess offers several.
        let chosen = |info: &&PaceInfo| {
            find(0x80) == Some(info.protocol.as_bytes())
                && find(0x84).is_none_or(|id| {
                    info.parameter_id
                        .is_some_and(|own| u32::from(id.first().copied().unwrap_or(0)) == own)
                })
        };
        let Some(info) = offered.clone().find(chosen).cloned() else {
            return status_only(0x6A80);
        };
        let password = match find(0x83) {
            Some([1]) => Password::Mrz(self.profile.mrz_information.clone()),
            Some([2]) => match &self.profile.can {
                Some(can) => Password::Can(can.clone()),
                None => return status_only(0x6A88),
            },
            _ => return status_only(0x6A80),
        };
        match ChipPace::new(info, &mut *self.rng) {
            Ok(run) => {
                self.pace = Some((run, password));
                status_only(0x9000)
            }
            Err(_) => status_only(0x6A80),
        }
    }

    /// The CA protocols DG14 offers, if the chip holds DG14 and a CA key (`None` otherwise).
    fn ca_offer(&self) -> Option<Dg14> {
        self.profile.ca_key.as_ref()?;
        let dg14 = self.profile.files.get(&LdsFile::Dg(14))?;
        Dg14::parse(dg14).ok()
    }

    /// CA version 1 with 3DES: MSE:Set KAT carries the terminal's key in DO'91'.
    fn ca_set_kat(&mut self, command: &Command) -> (Response, Option<SecureMessaging>) {
        if self.sm.is_none() || self.ca_offer().is_none() {
            return (status_only(0x6982), None);
        }
        let Ok(objects) = tlv::primitives(&command.data, &[0x91, 0x84], "MSE:Set KAT") else {
            return (status_only(0x6A80), None);
        };
        let Some((_, public)) = objects.iter().find(|(tag, _)| *tag == 0x91) else {
            return (status_only(0x6A80), None);
        };
        self.ca_session(Cipher::Tdes, public)
    }

    /// CA with MSE:Set AT: the protocol must be one DG14 offers.
    fn ca_set_at(&mut self, command: &Command) -> Response {
        let Some(offer) = self.ca_offer().filter(|_| self.sm.is_some()) else {
            return status_only(0x6982);
        };
        let Ok(objects) = tlv::primitives(&command.data, &[0x80, 0x84], "MSE:Set AT") else {
            return status_only(0x6A80);
        };
        let protocol = objects.iter().find(|(tag, _)| *tag == 0x80);
        let offered = offer
            .protocols
            .iter()
            .find(|info| protocol.is_some_and(|(_, oid)| oid == info.protocol.as_bytes()));
        match offered {
            Some(info) => {
                self.ca_pending = Some(info.cipher);
                status_only(0x9000)
            }
            None => status_only(0x6A80),
        }
    }

    /// CA's GENERAL AUTHENTICATE: the terminal's key in 7C/80, an empty 7C back.
    fn ca_general_authenticate(
        &mut self,
        command: &Command,
    ) -> (Response, Option<SecureMessaging>) {
        let Some(cipher) = self.ca_pending.take() else {
            return (status_only(0x6985), None);
        };
        match tlv::dynamic_auth_value(&command.data, 0x80, "CA GENERAL AUTHENTICATE") {
            Ok(public) => {
                let (answer, sm) = self.ca_session(cipher, &public);
                if sm.is_none() {
                    return (answer, None);
                }
                (
                    Response {
                        data: vec![0x7C, 0x00],
                        sw: 0x9000,
                    },
                    sm,
                )
            }
            Err(_) => (status_only(0x6A80), None),
        }
    }

    fn ca_session(
        &self,
        cipher: Cipher,
        terminal_public: &[u8],
    ) -> (Response, Option<SecureMessaging>) {
        let session = self
            .profile
            .ca_key
            .as_ref()
            .and_then(|key| chip_auth::chip_session(key, cipher, terminal_public));
        match session {
            Some(sm) => (status_only(0x9000), Some(sm)),
            None => (status_only(0x6A80), None),
        }
    }

    fn general_authenticate(&mut self, command: &Command) -> (Response, Option<SecureMessaging>) {
        let Some((run, password)) = self.pace.as_mut() else {
            return (status_only(0x6985), None);
        };
        let failed = (status_only(0x6300), None);
        if command.is_extended() && !self.profile.extended_length {
            // DH in a 2048-bit group: a chip without extended length cannot take it.
            return (status_only(0x6700), None);
        }
        // 7C holding one data object (or nothing, for the nonce): its tag says the step,
        // after a one, two or three byte length.
        let tag_at = match command.data.get(1) {
            Some(0x81) => 3,
            Some(0x82) => 4,
            _ => 2,
        };
        let template = match (command.data.first(), command.data.get(tag_at)) {
            (Some(0x7C), None) => Vec::new(),
            (Some(0x7C), Some(&tag)) => {
                match tlv::dynamic_auth_value(&command.data, tag, "GENERAL AUTHENTICATE") {
                    Ok(value) => [vec![tag], value].concat(),
                    Err(_) => return failed,
                }
            }
            _ => return failed,
        };
        let answer = match template.split_first() {
            None => run.encrypted_nonce(password).map(|n| (0x80, n)),
            Some((0x81, key)) => run.map(key).map(|k| (0x82, k)),
            Some((0x83, key)) => run.agree(key).map(|k| (0x84, k)),
            Some((0x85, token)) => match run.confirm(token) {
                Ok(Some((token, sm))) => {
                    let mut body = tlv::encode(&[0x86], &token);
                    if run.mapping() == Mapping::ChipAuthentication {
                        // PACE-CAM: the chip's proof of its static key, DO'8A' (absent when the
                        // chip holds no key, as a clone without one would answer).
                        let proof = self
                            .profile
                            .ca_key
                            .as_ref()
                            .and_then(|key| run.chip_authentication_data(key).ok());
                        if let Some(mut proof) = proof {
                            if self.profile.faults.wrong_cam_data {
                                // A changed first ciphertext block changes CA_IC, padding intact.
                                proof[0] ^= 0x01;
                            }
                            body.extend(tlv::encode(&[0x8A], &proof));
                        }
                    }
                    self.pace = None;
                    let data = tlv::encode(&[0x7C], &body);
                    return (Response { data, sw: 0x9000 }, Some(sm));
                }
                _ => return failed,
            },
            Some(_) => return failed,
        };
        match answer {
            Ok((tag, value)) => {
                let data = tlv::encode(&[0x7C], &tlv::encode(&[tag], &value));
                (Response { data, sw: 0x9000 }, None)
            }
            Err(_) => failed,
        }
    }
}

impl CardChannel for SimulatedChip {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, ChannelError> {
        self.process(command)
    }

    fn extended_length(&self) -> bool {
        self.profile.extended_length
    }
}

fn status_only(sw: u16) -> Response {
    Response {
        data: Vec::new(),
        sw,
    }
}

fn status(sw: u16) -> Vec<u8> {
    sw.to_be_bytes().to_vec()
}
