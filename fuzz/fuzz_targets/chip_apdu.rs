//! Fuzz target: what a chip sends back must never panic the reader. Feeds the bytes to the
//! response-APDU parser, secure-messaging unwrapping (3DES and AES sessions), EF.CardAccess,
//! EF.ATR/INFO and EF.COM parsing, a chip's PACE DH public value, the file-header reader, and a whole `read_chip` against a card that
//! answers every command with the next length-prefixed piece of the input.

#![no_main]

use checkpointd::core::chip::apdu::{Response, parse_command};
use checkpointd::core::chip::crypto::Cipher;
use checkpointd::core::chip::dh::DhGroup;
use checkpointd::core::chip::lds::{self, LdsFile};
use checkpointd::core::chip::pace::Password;
use checkpointd::core::chip::reader::{ReadSettings, read_chip};
use checkpointd::core::chip::sm::SecureMessaging;
use checkpointd::core::chip::{atr_info, card_access, tlv};
use checkpointd::ports::chip::{CardChannel, ChannelError};
use libfuzzer_sys::fuzz_target;
use rand::SeedableRng;

/// A card whose answers are the input cut into pieces of a 1-byte length each.
struct FuzzCard<'a>(&'a [u8]);

impl CardChannel for FuzzCard<'_> {
    fn transmit(&mut self, _command: &[u8]) -> Result<Vec<u8>, ChannelError> {
        let Some((&len, rest)) = self.0.split_first() else { return Err(ChannelError::CardRemoved) };
        let len = usize::from(len).min(rest.len());
        let (answer, rest) = rest.split_at(len);
        self.0 = rest;
        Ok(answer.to_vec())
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = Response::parse(data);
    let _ = parse_command(data);
    for cipher in [Cipher::Tdes, Cipher::Aes128, Cipher::Aes256] {
        let mut sm = SecureMessaging::new(cipher, vec![1; cipher.key_size()], vec![2; cipher.key_size()], vec![0; cipher.block_size()]);
        let _ = sm.unprotect(data);
    }
    let _ = card_access::parse(data);
    let _ = atr_info::parse(data);
    let _ = lds::com_data_groups(data);
    let _ = DhGroup::Modp1024_160.mul(data, &[7]);
    let _ = lds::announced_len(data, LdsFile::Dg(2));
    let _ = tlv::dynamic_auth_value(data, 0x80, "fuzz");
    let _ = tlv::primitives(data, &[0x87, 0x99, 0x8E], "fuzz");
    let mut card = FuzzCard(data);
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let settings = ReadSettings { max_file_bytes: 64 * 1024, ..ReadSettings::default() };
    let _ = read_chip(&mut card, &Password::Mrz("L898902C<369080619406236".into()), &settings, &mut rng);
});
