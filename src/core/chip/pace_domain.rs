//! The domain parameters of one PACE run, an elliptic curve or a finite-field group, behind
//! the few operations PACE's steps need, so the protocol is written once for ECDH and DH.

use rand::RngCore;

use super::ChipError;
use super::card_access::{Mapping, PaceInfo};
use super::crypto::Cipher;
use super::dh::DhGroup;
use super::ec::{Curve, x_coordinate};

/// ECDH on a standardised curve or DH in a standardised MODP group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaceDomain {
    /// ECDH; group elements are uncompressed points.
    Ec(Curve),
    /// Finite-field DH; group elements are unsigned integers as wide as p.
    Dh(DhGroup),
}

impl PaceDomain {
    /// The domain of a PACEInfo this reader can run, or why not: ECDH with generic,
    /// integrated or chip authentication mapping (AES), DH with generic mapping, standardised
    /// parameters only.
    pub fn of(info: &PaceInfo) -> Result<Self, ChipError> {
        let unsupported = || ChipError::PaceUnsupported {
            what: format!(
                "{} mapping over {}{}",
                info.mapping.code(),
                if info.elliptic { "ECDH" } else { "DH" },
                if info.cipher == Cipher::Tdes {
                    " with 3DES"
                } else {
                    ""
                }
            ),
        };
        let runnable = match info.mapping {
            Mapping::Generic => true,
            Mapping::Integrated => info.elliptic,
            // CAM is generic mapping plus the chip's proof, defined for ECDH with AES only.
            Mapping::ChipAuthentication => info.elliptic && info.cipher != Cipher::Tdes,
        };
        if !runnable {
            return Err(unsupported());
        }
        let id = info
            .parameter_id
            .ok_or_else(|| ChipError::PaceUnsupported {
                what: "proprietary domain parameters".into(),
            })?;
        let domain = if info.elliptic {
            Curve::from_parameter_id(id).map(Self::Ec)
        } else {
            DhGroup::from_parameter_id(id).map(Self::Dh)
        };
        domain.ok_or_else(|| ChipError::PaceUnsupported {
            what: format!("domain parameters {id}"),
        })
    }

    /// Its standardised domain-parameter ID.
    pub fn parameter_id(self) -> u32 {
        match self {
            Self::Ec(curve) => curve.parameter_id(),
            Self::Dh(group) => group.parameter_id(),
        }
    }

    /// A fresh private key (scalar or exponent) from `rng`.
    pub fn random_private_key(self, rng: &mut dyn RngCore) -> Result<Vec<u8>, ChipError> {
        match self {
            Self::Ec(curve) => Ok(curve.random_private_key(rng)),
            Self::Dh(group) => group.random_private_key(rng),
        }
    }

    /// The public key of `key` on the domain's standard generator.
    pub fn mul_generator(self, key: &[u8]) -> Result<Vec<u8>, ChipError> {
        match self {
            Self::Ec(curve) => curve.mul_generator(key),
            Self::Dh(group) => group.mul_generator(key),
        }
    }

    /// `key` applied to a group element (a peer's public key or a mapped generator), which is
    /// validated first.
    pub fn mul(self, element: &[u8], key: &[u8]) -> Result<Vec<u8>, ChipError> {
        match self {
            Self::Ec(curve) => curve.mul(element, key),
            Self::Dh(group) => group.mul(element, key),
        }
    }

    /// Generic mapping: the new generator from the nonce s and the shared element H.
    pub fn map_generator(self, nonce: &[u8], shared: &[u8]) -> Result<Vec<u8>, ChipError> {
        match self {
            Self::Ec(curve) => curve.map_generator(nonce, shared),
            Self::Dh(group) => group.map_generator(nonce, shared),
        }
    }

    /// The shared secret K the session keys come from: the x coordinate of the shared point,
    /// or the whole shared value (as wide as p, leading zeros kept).
    pub fn secret(self, shared: &[u8]) -> Result<&[u8], ChipError> {
        match self {
            Self::Ec(_) => x_coordinate(shared),
            Self::Dh(_) => Ok(shared),
        }
    }

    /// A public key as it goes in a data object (mapping data, ephemeral keys, the tokens'
    /// 7F49): an EC point as it is; a DH value as an unsigned integer in the fewest octets,
    /// leading zero octets dropped (Doc 9303-11 9.4.1, and 9.4.3's note: "DH public key may be
    /// encoded over a number of bytes smaller than the number of bytes of the prime").
    pub fn encode_public(self, element: &[u8]) -> &[u8] {
        match self {
            Self::Ec(_) => element,
            Self::Dh(_) => {
                let start = element
                    .iter()
                    .position(|&b| b != 0)
                    .unwrap_or(element.len().saturating_sub(1));
                &element[start..]
            }
        }
    }

    /// Whether its group elements need extended-length GENERAL AUTHENTICATE APDUs: the
    /// 2048-bit MODP groups' 256-byte values do not fit a short command's 255 bytes.
    pub fn needs_extended_length(self) -> bool {
        matches!(
            self,
            Self::Dh(DhGroup::Modp2048_224 | DhGroup::Modp2048_256)
        )
    }

    /// The tag of the public key inside the authentication token's 7F49 template: 86 for an
    /// EC point, 84 for a DH public value (BSI TR-03110-3 D.3.3 and D.3.4).
    pub fn public_key_tag(self) -> u8 {
        match self {
            Self::Ec(_) => 0x86,
            Self::Dh(_) => 0x84,
        }
    }
}
