//! Secure messaging (Doc 9303-11 section 9.8): wrapping command APDUs into DO'87'/'97'/'8E' and
//! unwrapping responses' DO'87'/'99'/'8E', for 3DES (retail MAC) and AES (CMAC), with the send
//! sequence counter. A response whose MAC does not verify ends the session for good.

use super::apdu::{Command, Response};
use super::crypto::{Cipher, aes_encrypt_block, pad, unpad};
use super::{ChipError, tlv};

/// The keys and counter of one secure-messaging session.
#[derive(Clone)]
pub struct SecureMessaging {
    cipher: Cipher,
    ks_enc: Vec<u8>,
    ks_mac: Vec<u8>,
    ssc: Vec<u8>,
    ended: bool,
}

impl std::fmt::Debug for SecureMessaging {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Session keys stay out of logs.
        f.debug_struct("SecureMessaging")
            .field("cipher", &self.cipher)
            .finish_non_exhaustive()
    }
}

/// Which side of the session this is: the reader increments the SSC before each command and
/// before each response, the chip the same, so both sides hold the same state.
impl SecureMessaging {
    /// A session with its keys and initial SSC (BAC: from the nonces; PACE: zero).
    pub fn new(cipher: Cipher, ks_enc: Vec<u8>, ks_mac: Vec<u8>, ssc: Vec<u8>) -> Self {
        Self {
            cipher,
            ks_enc,
            ks_mac,
            ssc,
            ended: false,
        }
    }

    /// The cipher in use.
    pub fn cipher(&self) -> Cipher {
        self.cipher
    }

    /// The current send sequence counter (for tests and the simulator).
    pub fn ssc(&self) -> &[u8] {
        &self.ssc
    }

    fn next_ssc(&mut self) {
        for byte in self.ssc.iter_mut().rev() {
            let (next, carry) = byte.overflowing_add(1);
            *byte = next;
            if !carry {
                break;
            }
        }
    }

    fn iv(&self) -> Result<Vec<u8>, ChipError> {
        match self.cipher {
            Cipher::Tdes => Ok(vec![0; 8]),
            aes => aes_encrypt_block(aes, &self.ks_enc, &self.ssc),
        }
    }

    fn mac(&self, message: &[u8]) -> Result<[u8; 8], ChipError> {
        let mut input = self.ssc.clone();
        input.extend_from_slice(message);
        self.cipher
            .mac_padded(&self.ks_mac, &pad(&input, self.cipher.block_size()))
    }

    fn encrypt(&self, plain: &[u8]) -> Result<Vec<u8>, ChipError> {
        let padded = pad(plain, self.cipher.block_size());
        self.cipher.cbc_encrypt(&self.ks_enc, &self.iv()?, &padded)
    }

    fn decrypt(&self, cryptogram: &[u8]) -> Result<Vec<u8>, ChipError> {
        let plain = self
            .cipher
            .cbc_decrypt(&self.ks_enc, &self.iv()?, cryptogram)?;
        Ok(unpad(&plain)?.to_vec())
    }

    /// Wraps a plain command (reader side).
    pub fn protect(&mut self, command: &Command) -> Result<Command, ChipError> {
        if self.ended {
            return Err(ChipError::SessionEnded);
        }
        self.next_ssc();
        let cla = command.cla | 0x0C;
        let mut body = Vec::new();
        if !command.data.is_empty() && command.ins % 2 == 1 {
            // Odd INS (READ BINARY B1): BER-TLV data go in DO'85', without padding indicator.
            body.extend(tlv::encode(&[0x85], &self.encrypt(&command.data)?));
        } else if !command.data.is_empty() {
            let mut value = vec![0x01];
            value.extend(self.encrypt(&command.data)?);
            body.extend(tlv::encode(&[0x87], &value));
        }
        if let Some(le) = command.le {
            body.extend(tlv::encode(&[0x97], &le_bytes(le, command.is_extended())));
        }
        let header = [cla, command.ins, command.p1, command.p2];
        let mut mac_input = pad(&header, self.cipher.block_size());
        mac_input.extend_from_slice(&body);
        let mac = self.mac(&mac_input)?;
        body.extend(tlv::encode(&[0x8E], &mac));
        let extended = command.is_extended();
        let le = if extended { 65_536 } else { 256 };
        Ok(Command {
            cla,
            ins: command.ins,
            p1: command.p1,
            p2: command.p2,
            data: body,
            le: Some(le),
        })
    }

    /// Unwraps a protected response (reader side). An unprotected error status without data is
    /// passed on as that status (a chip may answer errors so, and carries no data then); a MAC
    /// that does not verify ends the session.
    pub fn unprotect(&mut self, raw: &[u8]) -> Result<Response, ChipError> {
        if self.ended {
            return Err(ChipError::SessionEnded);
        }
        self.next_ssc();
        let response = Response::parse(raw)?;
        if response.data.is_empty() && !response.is_ok() {
            // Chips drop secure messaging after answering an SM error unprotected.
            self.ended = matches!(response.sw, 0x6987 | 0x6988);
            return Ok(response);
        }
        match self.verify_response(&response.data, response.sw) {
            Ok(inner) => Ok(inner),
            Err(e) => {
                self.ended = true;
                Err(e)
            }
        }
    }

    fn verify_response(&self, data: &[u8], outer_sw: u16) -> Result<Response, ChipError> {
        let objects = tlv::primitives(data, &[0x87, 0x99, 0x8E], "secure messaging")
            .map_err(|e| ChipError::SmMalformed { why: e.to_string() })?;
        let find = |tag| objects.iter().find(|(t, _)| *t == tag).map(|(_, v)| v);
        let malformed = |why: &str| ChipError::SmMalformed {
            why: why.to_owned(),
        };
        let mac = find(0x8E).ok_or_else(|| malformed("no DO'8E' (MAC)"))?;
        if objects.last().map(|(t, _)| *t) != Some(0x8E) {
            return Err(malformed("DO'8E' is not last"));
        }
        let mac_end = data.len() - 10;
        let expected = self.mac(&data[..mac_end])?;
        if !constant_time_eq(mac, &expected) {
            return Err(ChipError::ResponseMacInvalid);
        }
        // Doc 9303 chips send DO'99'; some (and vsmartcard's emulator) leave it out of
        // successful answers. The MAC still covers the data; the status is then the outer one.
        let [sw1, sw2] = match find(0x99) {
            Some(status) => <[u8; 2]>::try_from(status.as_slice())
                .map_err(|_| malformed("DO'99' is not two bytes"))?,
            None => outer_sw.to_be_bytes(),
        };
        let plain = match find(0x87) {
            Some(value) => match value.split_first() {
                Some((0x01, cryptogram)) => self.decrypt(cryptogram)?,
                _ => return Err(malformed("DO'87' lacks the padding indicator 01")),
            },
            None => Vec::new(),
        };
        Ok(Response {
            data: plain,
            sw: u16::from_be_bytes([sw1, sw2]),
        })
    }

    /// Unwraps a protected command (chip side, for the simulator). `Ok(None)` when the MAC does
    /// not verify (the chip answers 6988 and drops the session).
    pub fn unprotect_command(&mut self, command: &Command) -> Result<Option<Command>, ChipError> {
        self.next_ssc();
        let objects = tlv::primitives(
            &command.data,
            &[0x85, 0x87, 0x97, 0x8E],
            "protected command",
        )?;
        let find = |tag| objects.iter().find(|(t, _)| *t == tag).map(|(_, v)| v);
        let Some(mac) = find(0x8E) else {
            return Ok(None);
        };
        let header = [command.cla, command.ins, command.p1, command.p2];
        let mut mac_input = pad(&header, self.cipher.block_size());
        mac_input.extend_from_slice(&command.data[..command.data.len().saturating_sub(10)]);
        if !constant_time_eq(mac, &self.mac(&mac_input)?) {
            return Ok(None);
        }
        let data = match (find(0x87), find(0x85)) {
            (Some(value), _) if value.first() == Some(&0x01) => self.decrypt(&value[1..])?,
            (Some(_), _) => return Ok(None),
            (None, Some(value)) => self.decrypt(value)?,
            (None, None) => Vec::new(),
        };
        let le = find(0x97).map(|le| match le[..] {
            [0] => 256,
            [0, 0] => 65_536,
            [a] => usize::from(a),
            [a, b] => usize::from(u16::from_be_bytes([a, b])),
            _ => 256,
        });
        Ok(Some(Command {
            cla: command.cla & !0x0C,
            ins: command.ins,
            p1: command.p1,
            p2: command.p2,
            data,
            le,
        }))
    }

    /// Wraps a response (chip side, for the simulator).
    pub fn protect_response(&mut self, response: &Response) -> Result<Vec<u8>, ChipError> {
        self.next_ssc();
        let mut body = Vec::new();
        if !response.data.is_empty() {
            let mut value = vec![0x01];
            value.extend(self.encrypt(&response.data)?);
            body.extend(tlv::encode(&[0x87], &value));
        }
        body.extend(tlv::encode(&[0x99], &response.sw.to_be_bytes()));
        let mac = self.mac(&body)?;
        body.extend(tlv::encode(&[0x8E], &mac));
        Ok(Response {
            data: body,
            sw: response.sw,
        }
        .encode())
    }
}

fn le_bytes(le: usize, extended: bool) -> Vec<u8> {
    match (extended, le) {
        (false, 256) => vec![0],
        (false, n) => vec![u8::try_from(n).unwrap_or(0)],
        (true, 65_536) => vec![0, 0],
        (true, n) => u16::try_from(n).unwrap_or(0).to_be_bytes().to_vec(),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s).expect("hex")
    }

    /// Doc 9303-11 Appendix D.4: the session after BAC of the worked example.
    fn appendix_d_session() -> SecureMessaging {
        SecureMessaging::new(
            Cipher::Tdes,
            hex("979EC13B1CBFE9DCD01AB0FED307EAE5"),
            hex("F1CB1F1FB5ADF208806B89DC579DC1F8"),
            hex("887022120C06C226"),
        )
    }

    #[test]
    fn doc9303_appendix_d_protected_select_and_reads() {
        let mut sm = appendix_d_session();
        let select = Command::new(0x00, 0xA4, 0x02, 0x0C).with_data(vec![0x01, 0x1E]);
        let protected = sm
            .protect(&select)
            .expect("protect")
            .encode()
            .expect("encode");
        assert_eq!(
            protected,
            hex("0CA4020C158709016375432908C044F68E08BF8B92D635FF24F800")
        );
        let answer = sm
            .unprotect(&hex("990290008E08FA855A5D4C50A8ED9000"))
            .expect("unprotect");
        assert_eq!(
            answer,
            Response {
                data: vec![],
                sw: 0x9000
            }
        );

        let read = Command::new(0x00, 0xB0, 0, 0).with_le(4);
        let protected = sm
            .protect(&read)
            .expect("protect")
            .encode()
            .expect("encode");
        assert_eq!(protected, hex("0CB000000D9701048E08ED6705417E96BA5500"));
        let answer = sm
            .unprotect(&hex(
                "8709019FF0EC34F9922651990290008E08AD55CC17140B2DED9000",
            ))
            .expect("unprotect");
        assert_eq!(answer.data, hex("60145F01"));

        let read = Command::new(0x00, 0xB0, 0, 4).with_le(0x12);
        let protected = sm
            .protect(&read)
            .expect("protect")
            .encode()
            .expect("encode");
        assert_eq!(protected, hex("0CB000040D9701128E082EA28A70F3C7B53500"));
        let answer = sm
            .unprotect(&hex(
                "871901FB9235F4E4037F2327DCC8964F1F9B8C30F42C8E2FFF224A990290008E08C8B2787EAEA07D749000",
            ))
            .expect("unprotect");
        assert_eq!(answer.data, hex("04303130365F36063034303030305C026175"));
    }

    #[test]
    fn a_response_with_a_wrong_mac_ends_the_session() {
        let mut sm = appendix_d_session();
        let select = Command::new(0x00, 0xA4, 0x02, 0x0C).with_data(vec![0x01, 0x1E]);
        sm.protect(&select).expect("protect");
        let forged = hex("990290008E08FA855A5D4C50A8EE9000");
        assert_eq!(sm.unprotect(&forged), Err(ChipError::ResponseMacInvalid));
        assert_eq!(sm.protect(&select), Err(ChipError::SessionEnded));
    }

    #[test]
    fn responses_without_mac_are_refused() {
        for raw in ["8709019FF0EC34F99226519000", "99029000", "0102039000"] {
            let mut sm = appendix_d_session();
            assert!(
                matches!(sm.unprotect(&hex(raw)), Err(ChipError::SmMalformed { .. })),
                "{raw} accepted"
            );
        }
    }

    #[test]
    fn a_mac_over_no_status_object_verifies_only_for_what_it_covers() {
        // Without DO'99' the MAC covers DO'87' alone; the one of Appendix D covers DO'99' too.
        let mut sm = appendix_d_session();
        let select = Command::new(0x00, 0xA4, 0x02, 0x0C).with_data(vec![0x01, 0x1E]);
        sm.protect(&select).expect("protect");
        assert_eq!(
            sm.unprotect(&hex("8E08FA855A5D4C50A8ED9000")),
            Err(ChipError::ResponseMacInvalid)
        );
        let mut chip = appendix_d_session();
        let mut reader = appendix_d_session();
        chip.next_ssc();
        reader.next_ssc();
        let body = tlv::encode(
            &[0x87],
            &[&[0x01][..], &chip.encrypt(&[1, 2, 3]).expect("enc")].concat(),
        );
        chip.next_ssc();
        let mac = chip.mac(&body).expect("mac");
        let wire = [body, tlv::encode(&[0x8E], &mac), vec![0x90, 0x00]].concat();
        assert_eq!(
            reader.unprotect(&wire).expect("unprotect"),
            Response {
                data: vec![1, 2, 3],
                sw: 0x9000
            }
        );
    }

    #[test]
    fn both_sides_agree_for_aes_with_extended_lengths() {
        for cipher in [Cipher::Aes128, Cipher::Aes192, Cipher::Aes256, Cipher::Tdes] {
            let keys = (vec![7; cipher.key_size()], vec![9; cipher.key_size()]);
            let ssc = vec![0; cipher.block_size()];
            let mut reader =
                SecureMessaging::new(cipher, keys.0.clone(), keys.1.clone(), ssc.clone());
            let mut chip = SecureMessaging::new(cipher, keys.0, keys.1, ssc);
            let command = Command::new(0x00, 0xB0, 0, 0)
                .with_data(vec![5; 300])
                .with_le(1000);
            let wire = reader
                .protect(&command)
                .expect("protect")
                .encode()
                .expect("encode");
            let parsed = super::super::apdu::parse_command(&wire).expect("parse");
            let unwrapped = chip
                .unprotect_command(&parsed)
                .expect("unwrap")
                .expect("mac ok");
            assert_eq!(unwrapped, command);
            let answer = Response {
                data: vec![3; 1000],
                sw: 0x9000,
            };
            let wire = chip.protect_response(&answer).expect("protect");
            assert_eq!(reader.unprotect(&wire).expect("unprotect"), answer);
        }
    }
}
