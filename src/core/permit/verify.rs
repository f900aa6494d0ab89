//! The verification pipeline and its verdict values.

use std::collections::HashSet;

use ed25519_dalek::Signature;
use jiff::{SignedDuration, Timestamp};

use super::body::{PermitBody, PermitClaims};
use super::codec::{Envelope, PermitDecodeError, decode_claims, decode_envelope};
use super::holder::{HolderFacts, HolderMismatch, check_holder};
use super::trust::{IssuerKey, TrustList};

/// Answers whether a permit id (CWT `cti`) has been revoked.
pub trait RevocationCheck {
    /// True when the permit with this id is revoked.
    fn is_revoked(&self, cti: &[u8; 16]) -> bool;
}

/// Revokes nothing: for tools run without revocation data.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoRevocations;

impl RevocationCheck for NoRevocations {
    fn is_revoked(&self, _cti: &[u8; 16]) -> bool {
        false
    }
}

/// An in-memory set of revoked permit ids.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RevocationList(pub HashSet<[u8; 16]>);

impl RevocationCheck for RevocationList {
    fn is_revoked(&self, cti: &[u8; 16]) -> bool {
        self.0.contains(cti)
    }
}

/// Why a permit is invalid. `code()` is stable and machine-readable; never reuse a code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PermitRejection {
    /// No `BP1:` prefix.
    Prefix,
    /// Text longer than a QR code can hold.
    TextTooLong,
    /// Invalid Base45.
    Base45,
    /// Corrupt zlib stream.
    Inflate,
    /// Inflating would exceed the cap (decompression bomb).
    InflateTooLarge,
    /// Not a well-formed COSE_Sign1 (or a detached payload).
    CoseMalformed,
    /// Algorithm other than Ed25519.
    Algorithm,
    /// Kid only in the unprotected header.
    KidNotProtected,
    /// No 8-byte kid in the protected header.
    KidMissing,
    /// No trusted key has this kid.
    KidUnknown,
    /// No key with this kid verifies the signature.
    Signature,
    /// Signed, but the claims are missing or malformed.
    ClaimsMalformed,
    /// Signed, but the body breaks the body rules.
    BodyInvalid,
    /// `iat` is later than now plus the skew.
    IssuedInFuture,
    /// `nbf` is later than now plus the skew.
    NotYetValid,
    /// `exp` is earlier than now minus the skew.
    Expired,
    /// `iat` outside the signing period of every key that verified the signature.
    SignedOutsideKeyPeriod,
    /// `exp` after the verification period of the key.
    ExpiresAfterKey,
    /// The key may not sign this permit type.
    TypeNotPermitted,
    /// The permit id is revoked.
    Revoked,
}

impl PermitRejection {
    /// Every reason, in pipeline order.
    pub const ALL: [PermitRejection; 20] = [
        PermitRejection::Prefix,
        PermitRejection::TextTooLong,
        PermitRejection::Base45,
        PermitRejection::Inflate,
        PermitRejection::InflateTooLarge,
        PermitRejection::CoseMalformed,
        PermitRejection::Algorithm,
        PermitRejection::KidNotProtected,
        PermitRejection::KidMissing,
        PermitRejection::KidUnknown,
        PermitRejection::Signature,
        PermitRejection::ClaimsMalformed,
        PermitRejection::BodyInvalid,
        PermitRejection::IssuedInFuture,
        PermitRejection::NotYetValid,
        PermitRejection::Expired,
        PermitRejection::SignedOutsideKeyPeriod,
        PermitRejection::ExpiresAfterKey,
        PermitRejection::TypeNotPermitted,
        PermitRejection::Revoked,
    ];

    /// The stable snake_case code.
    pub fn code(self) -> &'static str {
        match self {
            PermitRejection::Prefix => "prefix",
            PermitRejection::TextTooLong => "text_too_long",
            PermitRejection::Base45 => "base45_invalid",
            PermitRejection::Inflate => "inflate_failed",
            PermitRejection::InflateTooLarge => "inflate_too_large",
            PermitRejection::CoseMalformed => "cose_malformed",
            PermitRejection::Algorithm => "algorithm_unsupported",
            PermitRejection::KidNotProtected => "kid_not_protected",
            PermitRejection::KidMissing => "kid_missing",
            PermitRejection::KidUnknown => "kid_unknown",
            PermitRejection::Signature => "signature_invalid",
            PermitRejection::ClaimsMalformed => "claims_malformed",
            PermitRejection::BodyInvalid => "body_invalid",
            PermitRejection::IssuedInFuture => "issued_in_future",
            PermitRejection::NotYetValid => "not_yet_valid",
            PermitRejection::Expired => "expired",
            PermitRejection::SignedOutsideKeyPeriod => "signed_outside_key_period",
            PermitRejection::ExpiresAfterKey => "expires_after_key",
            PermitRejection::TypeNotPermitted => "type_not_permitted",
            PermitRejection::Revoked => "revoked",
        }
    }

    /// A sentence for the officer, without personal data.
    pub fn sentence(self) -> &'static str {
        match self {
            PermitRejection::Prefix => "This is not a permit code (it does not start with BP1:).",
            PermitRejection::TextTooLong => "The code holds more data than any permit card can.",
            PermitRejection::Base45 => "The code is damaged or incomplete (invalid Base45).",
            PermitRejection::Inflate => "The code is damaged (its compressed data is corrupt).",
            PermitRejection::InflateTooLarge => {
                "The code expands to more data than any permit may hold and was not read."
            }
            PermitRejection::CoseMalformed => "The code's signed envelope is malformed.",
            PermitRejection::Algorithm => {
                "The permit is signed with an algorithm that is not accepted."
            }
            PermitRejection::KidNotProtected => {
                "The permit's key identifier is not covered by its signature."
            }
            PermitRejection::KidMissing => "The permit does not name its signing key.",
            PermitRejection::KidUnknown => {
                "The permit was signed by a key this terminal does not trust."
            }
            PermitRejection::Signature => {
                "The signature does not match: the permit was altered or forged."
            }
            PermitRejection::ClaimsMalformed => {
                "The permit is signed but its dates or identifier are malformed."
            }
            PermitRejection::BodyInvalid => {
                "The permit is signed but its contents break the permit rules."
            }
            PermitRejection::IssuedInFuture => "The permit claims to be issued in the future.",
            PermitRejection::NotYetValid => "The permit is not valid yet.",
            PermitRejection::Expired => "The permit has expired.",
            PermitRejection::SignedOutsideKeyPeriod => {
                "The permit was signed outside its key's signing period."
            }
            PermitRejection::ExpiresAfterKey => {
                "The permit outlives the validity of its signing key."
            }
            PermitRejection::TypeNotPermitted => {
                "The signing key may not issue this type of permit."
            }
            PermitRejection::Revoked => "The permit has been revoked.",
        }
    }
}

impl From<&PermitDecodeError> for PermitRejection {
    fn from(error: &PermitDecodeError) -> Self {
        match error {
            PermitDecodeError::Prefix => PermitRejection::Prefix,
            PermitDecodeError::TextTooLong { .. } => PermitRejection::TextTooLong,
            PermitDecodeError::Base45 => PermitRejection::Base45,
            PermitDecodeError::Inflate(_) => PermitRejection::Inflate,
            PermitDecodeError::InflateTooLarge => PermitRejection::InflateTooLarge,
            PermitDecodeError::Cose(_) | PermitDecodeError::PayloadMissing => {
                PermitRejection::CoseMalformed
            }
            PermitDecodeError::Algorithm(_) => PermitRejection::Algorithm,
            PermitDecodeError::KidNotProtected => PermitRejection::KidNotProtected,
            PermitDecodeError::KidMissing { .. } => PermitRejection::KidMissing,
            PermitDecodeError::Claims(_) => PermitRejection::ClaimsMalformed,
            PermitDecodeError::Body(_) => PermitRejection::BodyInvalid,
        }
    }
}

/// A permit whose signature, dates, key scope and revocation status all check out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedPermit {
    /// Kid of the key that verified it.
    pub kid: [u8; 8],
    /// The trust-list entry that verified it.
    pub issuer_key: IssuerKey,
    /// The CWT claims.
    pub claims: PermitClaims,
    /// The permit body.
    pub body: PermitBody,
}

impl VerifiedPermit {
    /// Checks that the permit belongs to the travel document presented with it.
    pub fn check_holder(&self, holder: &HolderFacts) -> Result<(), HolderMismatch> {
        check_holder(&self.body.holder, holder)
    }
}

/// The outcome of verifying a permit: a value, never an `Err`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PermitVerdict {
    /// Valid.
    Valid(Box<VerifiedPermit>),
    /// Invalid, with a stable reason and a sentence saying exactly what failed.
    Invalid {
        /// Stable reason.
        reason: PermitRejection,
        /// Human sentence (the reason's sentence plus detail).
        message: String,
    },
}

impl PermitVerdict {
    fn invalid(reason: PermitRejection, detail: impl std::fmt::Display) -> Self {
        PermitVerdict::Invalid {
            reason,
            message: format!("{} ({detail})", reason.sentence()),
        }
    }

    /// The stable code: `valid` or the rejection code.
    pub fn code(&self) -> &'static str {
        match self {
            PermitVerdict::Valid(_) => "valid",
            PermitVerdict::Invalid { reason, .. } => reason.code(),
        }
    }
}

/// Verifies a BP1 text, in the order of `docs/bp1.md` §6.
pub fn verify(
    text: &str,
    trust: &TrustList,
    revocations: &dyn RevocationCheck,
    now: Timestamp,
    skew: SignedDuration,
) -> PermitVerdict {
    match decode_envelope(text) {
        Ok(envelope) => verify_envelope(envelope, trust, revocations, |_| now, skew),
        Err(error) => PermitVerdict::invalid(PermitRejection::from(&error), error),
    }
}

/// [`verify`] from the signature check on, for a caller that decoded the envelope to read its
/// kid. The time the claims are judged at may come from the claims themselves (known only once
/// the signature verified): the ledger checks a permit as of its own `nbf` or `iat`.
pub(crate) fn verify_envelope(
    envelope: Envelope,
    trust: &TrustList,
    revocations: &dyn RevocationCheck,
    judged_at: impl FnOnce(&PermitClaims) -> Timestamp,
    skew: SignedDuration,
) -> PermitVerdict {
    let kid_hex = hex::encode(envelope.kid);
    let mut candidates = trust.candidates(&envelope.kid).peekable();
    if candidates.peek().is_none() {
        return PermitVerdict::invalid(PermitRejection::KidUnknown, format_args!("kid {kid_hex}"));
    }
    // Signatures of the wrong length verify under no key.
    let Ok(signature) = Signature::from_slice(&envelope.sign1.signature) else {
        return PermitVerdict::invalid(
            PermitRejection::Signature,
            format_args!(
                "signature is {} bytes, not 64",
                envelope.sign1.signature.len()
            ),
        );
    };
    // tbs_data uses the protected header bytes as received (coset keeps `original_data`).
    let signed_bytes = envelope.sign1.tbs_data(b"");
    let verifying: Vec<&IssuerKey> = candidates
        .filter(|key| {
            key.verifying_key
                .verify_strict(&signed_bytes, &signature)
                .is_ok()
        })
        .map(|key| &key.entry)
        .collect();
    if verifying.is_empty() {
        return PermitVerdict::invalid(
            PermitRejection::Signature,
            format_args!("no key with kid {kid_hex} verifies it"),
        );
    }
    let (claims, body) = match decode_claims(&envelope.payload) {
        Ok(decoded) => decoded,
        Err(error) => return PermitVerdict::invalid(PermitRejection::from(&error), error),
    };
    if let Some(refused) = outside_validity(&claims, judged_at(&claims), skew) {
        return refused;
    }
    let in_period: Vec<&IssuerKey> = verifying
        .into_iter()
        .filter(|key| key.sign_from <= claims.issued_at && claims.issued_at <= key.sign_until)
        .collect();
    if in_period.is_empty() {
        return PermitVerdict::invalid(
            PermitRejection::SignedOutsideKeyPeriod,
            format_args!("iat {}, kid {kid_hex}", claims.issued_at),
        );
    }
    let in_verify_period: Vec<&IssuerKey> = in_period
        .into_iter()
        .filter(|key| claims.expires_at <= key.verify_until)
        .collect();
    if in_verify_period.is_empty() {
        return PermitVerdict::invalid(
            PermitRejection::ExpiresAfterKey,
            format_args!("exp {}, kid {kid_hex}", claims.expires_at),
        );
    }
    let Some(issuer_key) = in_verify_period
        .into_iter()
        .find(|key| key.permits(body.permit_type))
    else {
        return PermitVerdict::invalid(
            PermitRejection::TypeNotPermitted,
            format_args!("type {}, kid {kid_hex}", body.permit_type.code()),
        );
    };
    if revocations.is_revoked(&claims.permit_id) {
        return PermitVerdict::invalid(
            PermitRejection::Revoked,
            format_args!("permit id {}", hex::encode(claims.permit_id)),
        );
    }
    PermitVerdict::Valid(Box::new(VerifiedPermit {
        kid: envelope.kid,
        issuer_key: issuer_key.clone(),
        claims,
        body,
    }))
}

/// The refusal when the claims are not valid at `now` (give or take `skew`): issued in the
/// future, not yet valid, or expired.
fn outside_validity(
    claims: &PermitClaims,
    now: Timestamp,
    skew: SignedDuration,
) -> Option<PermitVerdict> {
    let late = add(now, skew);
    let early = add(now, -skew);
    if claims.issued_at > late {
        return Some(PermitVerdict::invalid(
            PermitRejection::IssuedInFuture,
            format_args!("iat {}", claims.issued_at),
        ));
    }
    if claims.not_before > late {
        return Some(PermitVerdict::invalid(
            PermitRejection::NotYetValid,
            format_args!("valid from {}", claims.not_before),
        ));
    }
    (claims.expires_at < early).then(|| {
        PermitVerdict::invalid(
            PermitRejection::Expired,
            format_args!("expired {}", claims.expires_at),
        )
    })
}

/// `at + by`, clamped to the representable range.
fn add(at: Timestamp, by: SignedDuration) -> Timestamp {
    at.checked_add(by).unwrap_or(if by.is_negative() {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}
