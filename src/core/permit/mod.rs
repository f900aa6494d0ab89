//! Signed permit cards (`BP1` payloads, spec in `docs/bp1.md`): decode, verify against a trust
//! list, bind to the travel document presented, and sign new ones.

mod body;
mod codec;
mod holder;
mod issue;
pub mod trust;
mod verify;

pub use body::{BodyError, PermitBody, PermitClaims, PermitHolder, PermitType};
pub(crate) use codec::decode_envelope;
pub use codec::{
    BP1_PREFIX, BP1_TEXT_CHARS_MAX, COSE_BYTES_MAX, DecodedPermit, PermitDecodeError,
    decode_unverified,
};
pub use holder::{BirthDate, HolderFacts, HolderMismatch};
pub use issue::{generate_permit_id, sign_permit};
pub use trust::{IssuerKey, TrustList, TrustListError, key_id};
pub(crate) use verify::verify_envelope;
pub use verify::{
    NoRevocations, PermitRejection, PermitVerdict, RevocationCheck, RevocationList, VerifiedPermit,
    verify,
};
