//! The symmetric primitives of secure messaging, BAC and PACE, taken from RustCrypto crates.
//! Only the compositions Doc 9303 defines are written here: ISO 9797-1 padding, the retail MAC
//! (ISO 9797-1 MAC algorithm 3) and the key derivation function of part 11, section 9.7.1.

use aes::{Aes128, Aes192, Aes256};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockCipherEncrypt, BlockModeDecrypt, BlockModeEncrypt, KeyInit, KeyIvInit};
use cmac::Mac;
use des::{Des, TdesEde2};
use sha1::Digest as _;

use super::ChipError;

/// AES-CMAC truncated to the 8 bytes Doc 9303 uses.
macro_rules! cmac8 {
    ($aes:ty, $key:expr, $data:expr) => {{
        let mut mac =
            <cmac::Cmac<$aes> as KeyInit>::new_from_slice($key).map_err(|_| ChipError::Crypto {
                why: "CMAC key of the wrong length",
            })?;
        mac.update($data);
        let full = mac.finalize().into_bytes();
        let mut out = [0; 8];
        out.copy_from_slice(&full[..8]);
        Ok(out)
    }};
}

/// The block cipher a session uses: 2-key 3DES (BAC, PACE-3DES) or AES (PACE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cipher {
    /// 2-key triple DES in CBC mode with the retail MAC.
    Tdes,
    /// AES-128 in CBC mode with CMAC.
    Aes128,
    /// AES-192 in CBC mode with CMAC.
    Aes192,
    /// AES-256 in CBC mode with CMAC.
    Aes256,
}

impl Cipher {
    /// The block size in bytes (also the SSC's size).
    pub fn block_size(self) -> usize {
        match self {
            Self::Tdes => 8,
            _ => 16,
        }
    }

    /// The key length in bytes.
    pub fn key_size(self) -> usize {
        match self {
            Self::Tdes | Self::Aes128 => 16,
            Self::Aes192 => 24,
            Self::Aes256 => 32,
        }
    }

    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Tdes => "3DES",
            Self::Aes128 => "AES-128",
            Self::Aes192 => "AES-192",
            Self::Aes256 => "AES-256",
        }
    }

    /// CBC-encrypts whole blocks.
    pub fn cbc_encrypt(self, key: &[u8], iv: &[u8], data: &[u8]) -> Result<Vec<u8>, ChipError> {
        self.check_blocks(data)?;
        let bad = |_| ChipError::Crypto {
            why: "key or IV of the wrong length",
        };
        Ok(match self {
            Self::Tdes => cbc::Encryptor::<TdesEde2>::new_from_slices(key, iv)
                .map_err(bad)?
                .encrypt_padded_vec::<NoPadding>(data),
            Self::Aes128 => cbc::Encryptor::<Aes128>::new_from_slices(key, iv)
                .map_err(bad)?
                .encrypt_padded_vec::<NoPadding>(data),
            Self::Aes192 => cbc::Encryptor::<Aes192>::new_from_slices(key, iv)
                .map_err(bad)?
                .encrypt_padded_vec::<NoPadding>(data),
            Self::Aes256 => cbc::Encryptor::<Aes256>::new_from_slices(key, iv)
                .map_err(bad)?
                .encrypt_padded_vec::<NoPadding>(data),
        })
    }

    /// CBC-decrypts whole blocks.
    pub fn cbc_decrypt(self, key: &[u8], iv: &[u8], data: &[u8]) -> Result<Vec<u8>, ChipError> {
        self.check_blocks(data)?;
        let bad = |_| ChipError::Crypto {
            why: "key or IV of the wrong length",
        };
        let out = match self {
            Self::Tdes => cbc::Decryptor::<TdesEde2>::new_from_slices(key, iv)
                .map_err(bad)?
                .decrypt_padded_vec::<NoPadding>(data),
            Self::Aes128 => cbc::Decryptor::<Aes128>::new_from_slices(key, iv)
                .map_err(bad)?
                .decrypt_padded_vec::<NoPadding>(data),
            Self::Aes192 => cbc::Decryptor::<Aes192>::new_from_slices(key, iv)
                .map_err(bad)?
                .decrypt_padded_vec::<NoPadding>(data),
            Self::Aes256 => cbc::Decryptor::<Aes256>::new_from_slices(key, iv)
                .map_err(bad)?
                .decrypt_padded_vec::<NoPadding>(data),
        };
        out.map_err(|_| ChipError::Crypto {
            why: "ciphertext is not whole blocks",
        })
    }

    /// The 8-byte MAC of BAC's mutual authentication and of PACE's tokens: the retail MAC over
    /// the padded data for 3DES, CMAC (of the data as it is) truncated to 8 bytes for AES.
    pub fn mac(self, key: &[u8], data: &[u8]) -> Result<[u8; 8], ChipError> {
        match self {
            Self::Tdes => retail_mac(key, &pad(data, 8)),
            _ => self.mac_padded(key, data),
        }
    }

    /// The 8-byte MAC of secure messaging, whose input the caller has padded for both ciphers.
    pub fn mac_padded(self, key: &[u8], data: &[u8]) -> Result<[u8; 8], ChipError> {
        match self {
            Self::Tdes => retail_mac(key, data),
            Self::Aes128 => cmac8!(Aes128, key, data),
            Self::Aes192 => cmac8!(Aes192, key, data),
            Self::Aes256 => cmac8!(Aes256, key, data),
        }
    }

    fn check_blocks(self, data: &[u8]) -> Result<(), ChipError> {
        if data.len().is_multiple_of(self.block_size()) {
            Ok(())
        } else {
            Err(ChipError::Crypto {
                why: "data is not a whole number of cipher blocks",
            })
        }
    }
}

/// AES-ECB of one block: the IV of AES secure messaging is E(KS_Enc, SSC).
pub fn aes_encrypt_block(cipher: Cipher, key: &[u8], block: &[u8]) -> Result<Vec<u8>, ChipError> {
    let bad = |_| ChipError::Crypto {
        why: "AES key of the wrong length",
    };
    let mut out = aes::Block::try_from(block).map_err(|_| ChipError::Crypto {
        why: "AES block is not 16 bytes",
    })?;
    match cipher {
        Cipher::Aes128 => Aes128::new_from_slice(key)
            .map_err(bad)?
            .encrypt_block(&mut out),
        Cipher::Aes192 => Aes192::new_from_slice(key)
            .map_err(bad)?
            .encrypt_block(&mut out),
        Cipher::Aes256 => Aes256::new_from_slice(key)
            .map_err(bad)?
            .encrypt_block(&mut out),
        Cipher::Tdes => {
            return Err(ChipError::Crypto {
                why: "ECB IV is for AES only",
            });
        }
    }
    Ok(out.to_vec())
}

/// ISO/IEC 9797-1 padding method 2: 0x80 then zeros up to a whole block.
pub fn pad(data: &[u8], block: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + block);
    out.extend_from_slice(data);
    out.push(0x80);
    while out.len() % block != 0 {
        out.push(0);
    }
    out
}

/// Removes padding method 2; a missing 0x80 is an error (the data was not what was sent).
pub fn unpad(data: &[u8]) -> Result<&[u8], ChipError> {
    let end = data
        .iter()
        .rposition(|&b| b != 0)
        .ok_or(ChipError::BadPadding)?;
    if data[end] == 0x80 {
        Ok(&data[..end])
    } else {
        Err(ChipError::BadPadding)
    }
}

/// ISO/IEC 9797-1 MAC algorithm 3 with DES (the "retail MAC"): DES-CBC under Ka over all blocks,
/// then decrypt under Kb and encrypt under Ka. `data` must already be padded.
pub fn retail_mac(key: &[u8], data: &[u8]) -> Result<[u8; 8], ChipError> {
    if key.len() != 16 || data.is_empty() || !data.len().is_multiple_of(8) {
        return Err(ChipError::Crypto {
            why: "retail MAC needs a 16-byte key and whole blocks",
        });
    }
    let bad = |_| ChipError::Crypto {
        why: "DES key of the wrong length",
    };
    let ka = Des::new_from_slice(&key[..8]).map_err(bad)?;
    let kb = Des::new_from_slice(&key[8..]).map_err(bad)?;
    let mut state = cbc::cipher::Block::<Des>::default();
    for chunk in data.chunks_exact(8) {
        for (s, d) in state.iter_mut().zip(chunk) {
            *s ^= d;
        }
        ka.encrypt_block(&mut state);
    }
    cbc::cipher::BlockCipherDecrypt::decrypt_block(&kb, &mut state);
    ka.encrypt_block(&mut state);
    let mut out = [0; 8];
    out.copy_from_slice(&state);
    Ok(out)
}

/// What a derived key is for (the counter of the key derivation function).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPurpose {
    /// Encryption key (counter 1).
    Enc = 1,
    /// MAC key (counter 2).
    Mac = 2,
    /// PACE password key K_pi (counter 3).
    Password = 3,
}

/// Doc 9303-11 section 9.7.1: H(secret ‖ counter) cut to the cipher's key size; SHA-1 for 3DES
/// and AES-128, SHA-256 for AES-192/256; 3DES keys get odd DES parity as the Doc requires
/// (the cipher ignores those bits, the worked examples show them).
pub fn kdf(cipher: Cipher, secret: &[u8], purpose: KeyPurpose) -> Vec<u8> {
    let counter = (purpose as u32).to_be_bytes();
    let digest: Vec<u8> = match cipher {
        Cipher::Tdes | Cipher::Aes128 => sha1::Sha1::new()
            .chain_update(secret)
            .chain_update(counter)
            .finalize()
            .to_vec(),
        Cipher::Aes192 | Cipher::Aes256 => {
            use sha2::Digest as _;
            sha2::Sha256::new()
                .chain_update(secret)
                .chain_update(counter)
                .finalize()
                .to_vec()
        }
    };
    let mut key = digest[..cipher.key_size()].to_vec();
    if cipher == Cipher::Tdes {
        for byte in &mut key {
            *byte = (*byte & 0xFE) | u8::from((*byte >> 1).count_ones() % 2 == 0);
        }
    }
    key
}

/// SHA-1 of a byte string (the BAC key seed and the PACE password from the MRZ).
pub fn sha1(data: &[u8]) -> [u8; 20] {
    sha1::Sha1::digest(data).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s).expect("hex")
    }

    #[test]
    fn padding_round_trips_and_refuses_garbage() {
        assert_eq!(pad(&[1, 2], 8), hex("0102800000000000"));
        assert_eq!(pad(&[0; 8], 8).len(), 16);
        assert_eq!(unpad(&hex("0102800000000000")).expect("unpad"), &[1, 2]);
        assert_eq!(unpad(&hex("0102000000000000")), Err(ChipError::BadPadding));
        assert_eq!(unpad(&[0; 8]), Err(ChipError::BadPadding));
    }

    #[test]
    fn doc9303_appendix_d_key_derivation() {
        let seed = &hex("239AB9CB282DAF66231DC5A4DF6BFBAE");
        assert_eq!(
            kdf(Cipher::Tdes, seed, KeyPurpose::Enc),
            hex("AB94FDECF2674FDFB9B391F85D7F76F2")
        );
        assert_eq!(
            kdf(Cipher::Tdes, seed, KeyPurpose::Mac),
            hex("7962D9ECE03D1ACD4C76089DCE131543")
        );
    }

    #[test]
    fn doc9303_appendix_d_mutual_authentication_mac() {
        // E_IFD and its retail MAC M_IFD under K_MAC.
        let e_ifd = hex("72C29C2371CC9BDB65B779B8E8D37B29ECC154AA56A8799FAE2F498F76ED92F2");
        let k_mac = hex("7962D9ECE03D1ACD4C76089DCE131543");
        let mac = Cipher::Tdes.mac(&k_mac, &e_ifd).expect("mac");
        assert_eq!(mac.to_vec(), hex("5F1448EEA8AD90A7"));
    }
}
