//! Elliptic-curve arithmetic of PACE and chip authentication on the standardised domain
//! parameters this reader supports, over uncompressed SEC1 point encodings (RustCrypto curves).

use bp256::elliptic_curve::group::Group;
use bp256::elliptic_curve::sec1::{FromSec1Point, ModulusSize, ToSec1Point};
use bp256::elliptic_curve::{CurveArithmetic, FieldBytesSize, PrimeField};
use rand::RngCore;

use super::ChipError;

/// A standardised domain-parameter set (BSI TR-03110-3 table 4 numbering).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    /// NIST P-256 (secp256r1), parameter ID 12.
    NistP256,
    /// brainpoolP256r1, parameter ID 13.
    BrainpoolP256r1,
}

impl Curve {
    /// The curve of a standardised domain-parameter ID, if supported.
    pub fn from_parameter_id(id: u32) -> Option<Self> {
        match id {
            12 => Some(Self::NistP256),
            13 => Some(Self::BrainpoolP256r1),
            _ => None,
        }
    }

    /// Its standardised ID.
    pub fn parameter_id(self) -> u32 {
        match self {
            Self::NistP256 => 12,
            Self::BrainpoolP256r1 => 13,
        }
    }

    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::NistP256 => "P-256",
            Self::BrainpoolP256r1 => "brainpoolP256r1",
        }
    }

    /// The byte length of a coordinate (and of a private key).
    pub fn field_size(self) -> usize {
        32
    }

    /// A random private key in [1, n-1].
    pub fn random_private_key(self, rng: &mut dyn RngCore) -> Vec<u8> {
        loop {
            let mut key = vec![0; self.field_size()];
            rng.fill_bytes(&mut key);
            if self.mul_generator(&key).is_ok() {
                return key;
            }
        }
    }

    /// `k·G` for the curve's standard generator.
    pub fn mul_generator(self, scalar: &[u8]) -> Result<Vec<u8>, ChipError> {
        match self {
            Self::NistP256 => mul_generator::<p256::NistP256>(scalar),
            Self::BrainpoolP256r1 => mul_generator::<bp256::BrainpoolP256r1>(scalar),
        }
    }

    /// `k·P` for a point given in uncompressed encoding; refuses points off the curve and the
    /// point at infinity as the result.
    pub fn mul(self, point: &[u8], scalar: &[u8]) -> Result<Vec<u8>, ChipError> {
        match self {
            Self::NistP256 => mul::<p256::NistP256>(point, scalar),
            Self::BrainpoolP256r1 => mul::<bp256::BrainpoolP256r1>(point, scalar),
        }
    }

    /// Its OpenSSL name (for the field arithmetic of PACE integrated mapping).
    pub fn openssl_nid(self) -> openssl::nid::Nid {
        match self {
            Self::NistP256 => openssl::nid::Nid::X9_62_PRIME256V1,
            Self::BrainpoolP256r1 => openssl::nid::Nid::BRAINPOOL_P256R1,
        }
    }

    /// Checks an uncompressed encoding is a point on the curve.
    pub fn validate(self, encoded: &[u8]) -> Result<(), ChipError> {
        match self {
            Self::NistP256 => point::<p256::NistP256>(encoded).map(|_| ()),
            Self::BrainpoolP256r1 => point::<bp256::BrainpoolP256r1>(encoded).map(|_| ()),
        }
    }

    /// PACE generic mapping: `G' = s·G + H`.
    pub fn map_generator(self, nonce: &[u8], shared: &[u8]) -> Result<Vec<u8>, ChipError> {
        match self {
            Self::NistP256 => map_generator::<p256::NistP256>(nonce, shared),
            Self::BrainpoolP256r1 => map_generator::<bp256::BrainpoolP256r1>(nonce, shared),
        }
    }
}

/// The x coordinate of an uncompressed point (the ECDH shared secret).
pub fn x_coordinate(point: &[u8]) -> Result<&[u8], ChipError> {
    match point.split_first() {
        Some((0x04, xy)) if xy.len() % 2 == 0 => Ok(&xy[..xy.len() / 2]),
        _ => Err(ChipError::Crypto {
            why: "point is not an uncompressed encoding",
        }),
    }
}

fn scalar<C: CurveArithmetic>(bytes: &[u8]) -> Result<C::Scalar, ChipError> {
    let mut repr = <C::Scalar as PrimeField>::Repr::default();
    let slot: &mut [u8] = repr.as_mut();
    let size = slot.len();
    if bytes.len() > size {
        return Err(ChipError::Crypto {
            why: "scalar longer than the group order",
        });
    }
    slot[size - bytes.len()..].copy_from_slice(bytes);
    let value: Option<C::Scalar> = <C::Scalar as PrimeField>::from_repr(repr).into();
    match value {
        Some(v) if !bool::from(bp256::elliptic_curve::Field::is_zero(&v)) => Ok(v),
        _ => Err(ChipError::Crypto {
            why: "scalar is zero or not below the group order",
        }),
    }
}

fn point<C>(bytes: &[u8]) -> Result<C::ProjectivePoint, ChipError>
where
    C: CurveArithmetic,
    C::AffinePoint: FromSec1Point<C>,
    FieldBytesSize<C>: ModulusSize,
{
    if bytes.first() != Some(&0x04) {
        return Err(ChipError::Crypto {
            why: "point is not an uncompressed encoding",
        });
    }
    let affine = C::AffinePoint::from_sec1_bytes(bytes).map_err(|_| ChipError::Crypto {
        why: "point is not on the curve",
    })?;
    Ok(affine.into())
}

fn encode<C>(point: C::ProjectivePoint) -> Result<Vec<u8>, ChipError>
where
    C: CurveArithmetic,
    C::AffinePoint: ToSec1Point<C>,
    FieldBytesSize<C>: ModulusSize,
{
    if bool::from(point.is_identity()) {
        return Err(ChipError::Crypto {
            why: "result is the point at infinity",
        });
    }
    let affine: C::AffinePoint = point.into();
    Ok(affine.to_sec1_point(false).as_bytes().to_vec())
}

fn mul_generator<C>(k: &[u8]) -> Result<Vec<u8>, ChipError>
where
    C: CurveArithmetic,
    C::AffinePoint: ToSec1Point<C>,
    FieldBytesSize<C>: ModulusSize,
{
    encode::<C>(C::ProjectivePoint::generator() * scalar::<C>(k)?)
}

fn mul<C>(p: &[u8], k: &[u8]) -> Result<Vec<u8>, ChipError>
where
    C: CurveArithmetic,
    C::AffinePoint: FromSec1Point<C> + ToSec1Point<C>,
    FieldBytesSize<C>: ModulusSize,
{
    encode::<C>(point::<C>(p)? * scalar::<C>(k)?)
}

fn map_generator<C>(s: &[u8], h: &[u8]) -> Result<Vec<u8>, ChipError>
where
    C: CurveArithmetic,
    C::AffinePoint: FromSec1Point<C> + ToSec1Point<C>,
    FieldBytesSize<C>: ModulusSize,
{
    encode::<C>(C::ProjectivePoint::generator() * scalar::<C>(s)? + point::<C>(h)?)
}
