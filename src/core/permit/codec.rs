//! BP1 text to COSE_Sign1 and back: prefix, Base45, bounded zlib, COSE parse, claims decode.

use std::io::Read;

use coset::cwt::{ClaimName, ClaimsSet, Timestamp as CwtTimestamp};
use coset::{
    CborSerializable, CoseSign1, RegisteredLabelWithPrivate, TaggedCborSerializable, iana,
};

use super::body::{BodyError, PermitBody, PermitClaims};

/// The context identifier every BP1 text starts with.
pub const BP1_PREFIX: &str = "BP1:";
/// Longest BP1 text accepted: the alphanumeric capacity of a version 40 QR code.
pub const BP1_TEXT_CHARS_MAX: usize = 4296;
/// Largest COSE_Sign1 accepted, after inflating; inflating stops here.
pub const COSE_BYTES_MAX: usize = 8192;
/// Private claim holding the permit body.
pub const BODY_CLAIM: i64 = -65537;
/// Length of the kid in the protected header.
pub const KID_BYTES: usize = 8;
/// CBOR initial byte of tag 18 (COSE_Sign1).
const COSE_SIGN1_TAG_BYTE: u8 = 0xd2;
/// First byte of a zlib stream with a 32 KiB window (every standard compression level).
const ZLIB_FIRST_BYTE: u8 = 0x78;

/// Why a BP1 text could not be decoded. Each variant maps to one rejection code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PermitDecodeError {
    /// The text does not start with `BP1:`.
    #[error("text does not start with {BP1_PREFIX}")]
    Prefix,
    /// The text is longer than a QR code can hold.
    #[error("text has {chars} characters, more than {BP1_TEXT_CHARS_MAX}")]
    TextTooLong {
        /// Characters given.
        chars: usize,
    },
    /// The Base45 part has a character outside the alphabet, a lone trailing character or a
    /// triple above 0xFFFF.
    #[error("base45 is invalid (bad character, lone trailing character or triple above 0xffff)")]
    Base45,
    /// The zlib stream is corrupt.
    #[error("zlib stream is corrupt: {0}")]
    Inflate(String),
    /// Inflating would exceed the cap: a decompression bomb or an oversized payload.
    #[error("inflated payload exceeds {COSE_BYTES_MAX} bytes")]
    InflateTooLarge,
    /// The bytes are not a COSE_Sign1 message.
    #[error("not a cose_sign1 message: {0}")]
    Cose(String),
    /// The payload is detached (nil).
    #[error("cose_sign1 payload is missing")]
    PayloadMissing,
    /// The algorithm is not Ed25519.
    #[error("algorithm must be ed25519 (-19) or eddsa (-8) in the protected header, got {0}")]
    Algorithm(String),
    /// The kid is only in the unprotected header.
    #[error("kid is in the unprotected header; it must be protected")]
    KidNotProtected,
    /// No kid of 8 bytes in the protected header.
    #[error("protected header has no 8-byte kid (got {len} bytes)")]
    KidMissing {
        /// Length of the kid found (0 when absent).
        len: usize,
    },
    /// The payload is not a CWT claims set with the required claims.
    #[error("claims: {0}")]
    Claims(String),
    /// The body claim breaks the body rules.
    #[error("body: {0}")]
    Body(#[from] BodyError),
}

/// A COSE_Sign1 that passed the structural checks, not yet verified.
#[derive(Clone, Debug)]
pub(crate) struct Envelope {
    pub(crate) sign1: CoseSign1,
    pub(crate) kid: [u8; KID_BYTES],
    pub(crate) payload: Vec<u8>,
}

/// A permit decoded without checking its signature: for display and for the ledger, which
/// verifies permits itself. Never act on it without [`super::verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodedPermit {
    /// Key id from the protected header.
    pub kid: [u8; KID_BYTES],
    /// The CWT claims.
    pub claims: PermitClaims,
    /// The permit body.
    pub body: PermitBody,
}

/// Decodes a BP1 text down to its claims and body without verifying the signature.
pub fn decode_unverified(text: &str) -> Result<DecodedPermit, PermitDecodeError> {
    let envelope = decode_envelope(text)?;
    let (claims, body) = decode_claims(&envelope.payload)?;
    Ok(DecodedPermit {
        kid: envelope.kid,
        claims,
        body,
    })
}

pub(crate) fn decode_envelope(text: &str) -> Result<Envelope, PermitDecodeError> {
    let chars = text.chars().count();
    if chars > BP1_TEXT_CHARS_MAX {
        return Err(PermitDecodeError::TextTooLong { chars });
    }
    let base45_text = text
        .strip_prefix(BP1_PREFIX)
        .ok_or(PermitDecodeError::Prefix)?;
    let raw = base45::decode(base45_text).map_err(|_| PermitDecodeError::Base45)?;
    let cose = inflate_bounded(raw)?;
    parse_sign1(&cose)
}

/// Inflates only when the data starts like a zlib stream, never past [`COSE_BYTES_MAX`].
pub(crate) fn inflate_bounded(raw: Vec<u8>) -> Result<Vec<u8>, PermitDecodeError> {
    if raw.first() != Some(&ZLIB_FIRST_BYTE) {
        if raw.len() > COSE_BYTES_MAX {
            return Err(PermitDecodeError::InflateTooLarge);
        }
        return Ok(raw);
    }
    let mut out = Vec::new();
    // One byte over the cap tells "exactly at the cap" from "would have been more".
    let cap = u64::try_from(COSE_BYTES_MAX + 1).expect("the cap fits in u64");
    flate2::read::ZlibDecoder::new(raw.as_slice())
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|err| PermitDecodeError::Inflate(err.to_string()))?;
    if out.len() > COSE_BYTES_MAX {
        return Err(PermitDecodeError::InflateTooLarge);
    }
    Ok(out)
}

fn parse_sign1(cose: &[u8]) -> Result<Envelope, PermitDecodeError> {
    let parsed = if cose.first() == Some(&COSE_SIGN1_TAG_BYTE) {
        CoseSign1::from_tagged_slice(cose)
    } else {
        CoseSign1::from_slice(cose)
    };
    let sign1 = parsed.map_err(|err| PermitDecodeError::Cose(err.to_string()))?;
    let alg = &sign1.protected.header.alg;
    let alg_ok = matches!(
        alg,
        Some(RegisteredLabelWithPrivate::Assigned(
            iana::Algorithm::Ed25519 | iana::Algorithm::EdDSA
        ))
    );
    if !alg_ok {
        return Err(PermitDecodeError::Algorithm(format!("{alg:?}")));
    }
    let protected_kid = &sign1.protected.header.key_id;
    if protected_kid.is_empty() && !sign1.unprotected.key_id.is_empty() {
        return Err(PermitDecodeError::KidNotProtected);
    }
    let kid: [u8; KID_BYTES] =
        protected_kid
            .as_slice()
            .try_into()
            .map_err(|_| PermitDecodeError::KidMissing {
                len: protected_kid.len(),
            })?;
    let payload = sign1
        .payload
        .clone()
        .ok_or(PermitDecodeError::PayloadMissing)?;
    Ok(Envelope {
        sign1,
        kid,
        payload,
    })
}

/// Decodes the CWT claims set and the body claim.
pub(crate) fn decode_claims(
    payload: &[u8],
) -> Result<(PermitClaims, PermitBody), PermitDecodeError> {
    let claims = ClaimsSet::from_slice(payload)
        .map_err(|err| PermitDecodeError::Claims(format!("not a cwt claims set: {err}")))?;
    let issuer = claims
        .issuer
        .ok_or_else(|| claim_error("iss (1) is missing"))?;
    let issued_at = timestamp(claims.issued_at, "iat (6)")?;
    let not_before = timestamp(claims.not_before, "nbf (5)")?;
    let expires_at = timestamp(claims.expiration_time, "exp (4)")?;
    let permit_id: [u8; 16] = claims
        .cwt_id
        .ok_or_else(|| claim_error("cti (7) is missing"))?
        .try_into()
        .map_err(|bytes: Vec<u8>| {
            PermitDecodeError::Claims(format!("cti (7) must be 16 bytes, got {}", bytes.len()))
        })?;
    if expires_at < not_before {
        return Err(claim_error("exp (4) is before nbf (5)"));
    }
    let mut body_value = None;
    for (name, value) in claims.rest {
        match name {
            ClaimName::PrivateUse(BODY_CLAIM) if body_value.is_none() => body_value = Some(value),
            ClaimName::PrivateUse(BODY_CLAIM) => {
                return Err(claim_error("body claim -65537 appears twice"));
            }
            // Unknown claims are ignored, as RFC 8392 §3 requires of CWT recipients.
            _ => {}
        }
    }
    let body: PermitBody = body_value
        .ok_or_else(|| claim_error("body claim -65537 is missing"))?
        .deserialized()
        .map_err(|err| PermitDecodeError::Claims(format!("body claim -65537: {err}")))?;
    body.validate()?;
    Ok((
        PermitClaims {
            issuer,
            issued_at,
            not_before,
            expires_at,
            permit_id,
        },
        body,
    ))
}

fn claim_error(message: &str) -> PermitDecodeError {
    PermitDecodeError::Claims(message.to_owned())
}

fn timestamp(
    value: Option<CwtTimestamp>,
    name: &'static str,
) -> Result<jiff::Timestamp, PermitDecodeError> {
    match value {
        Some(CwtTimestamp::WholeSeconds(seconds)) => jiff::Timestamp::from_second(seconds)
            .map_err(|_| PermitDecodeError::Claims(format!("{name} is out of range"))),
        Some(CwtTimestamp::FractionalSeconds(_)) => Err(PermitDecodeError::Claims(format!(
            "{name} must be whole seconds"
        ))),
        None => Err(PermitDecodeError::Claims(format!("{name} is missing"))),
    }
}
