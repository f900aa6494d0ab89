//! Apply-time verification of `permit_issued` entries: the BP1 payload must verify against the
//! ledger's own issuer keys, and the entry's index fields must say what the signed payload says.

use std::cell::RefCell;

use jiff::{SignedDuration, Timestamp};

use super::entry::PermitIndex;
use super::state::{IndexConsistency, IssuerKey, IssuerTrust, PermitCheck};
use crate::core::document::HolderDigest;
use crate::core::permit::{
    self, NoRevocations, PermitVerdict, TrustList, decode_envelope, verify_envelope,
};

/// Verifies the permit's signature and key periods, then its index fields.
///
/// The signature is checked as of the permit's own `nbf` or `iat`, whichever is later: the ledger
/// vouches for authenticity,
/// while whether a permit is valid *today* is asked again at the lane, on use.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bp1Verification;

thread_local! {
    /// The trust list built for the last kid's keys on this thread: a batch's permits share a
    /// handful of issuer keys, and building one decompresses and checks every point.
    static TRUST_LISTS: RefCell<Option<(Vec<IssuerKey>, TrustList)>> = const { RefCell::new(None) };
}

/// The trust list for `keys`, built once per distinct key set on this thread.
fn trust_list_for(keys: Vec<IssuerKey>) -> Result<TrustList, String> {
    TRUST_LISTS.with_borrow_mut(|cached| {
        if let Some((cached_keys, list)) = cached.as_ref()
            && *cached_keys == keys
        {
            return Ok(list.clone());
        }
        let list = TrustList::new(keys.iter().map(trust_key).collect())
            .map_err(|error| format!("issuer keys for this kid: {error}"))?;
        *cached = Some((keys, list.clone()));
        Ok(list)
    })
}

impl PermitCheck for Bp1Verification {
    fn check(
        &self,
        bp1: &str,
        index: &PermitIndex,
        at: Timestamp,
        trust: &dyn IssuerTrust,
    ) -> Result<(), String> {
        IndexConsistency.check(bp1, index, at, trust)?;
        // Decoded once: its kid picks the keys, then it is verified as decoded.
        let envelope = decode_envelope(bp1).map_err(|error| format!("bp1: {error}"))?;
        let trust_list = trust_list_for(trust.keys_for(&envelope.kid))?;
        // A card is often signed after the first day it is valid (nbf): judged at nbf alone, its
        // iat would be "in the future". Whichever is later is when it had to be good.
        match verify_envelope(
            envelope,
            &trust_list,
            &NoRevocations,
            |claims| claims.not_before.max(claims.issued_at),
            SignedDuration::ZERO,
        ) {
            PermitVerdict::Valid(verified) => {
                let body = &verified.body;
                let holder = HolderDigest::of(
                    &body.holder.issuing_state,
                    body.holder.document_number.expose(),
                );
                let consistent = index.cti == verified.claims.permit_id
                    && index.holder == holder.0
                    && index.permit_type == body.permit_type
                    && index.valid_from == body.valid_from
                    && index.valid_until == body.valid_until;
                if consistent {
                    Ok(())
                } else {
                    Err("index fields differ from the signed permit".into())
                }
            }
            PermitVerdict::Invalid { message, .. } => {
                Err(format!("bp1 does not verify: {message}"))
            }
        }
    }
}

/// The permit layer's view of an issuer key held in the ledger. A retired key stops verifying
/// from its retirement.
pub fn trust_key(key: &IssuerKey) -> permit::IssuerKey {
    permit::IssuerKey {
        kid: key.key.kid,
        public_key: key.key.public_key,
        sign_from: key.key.sign_from,
        sign_until: key.key.sign_until,
        verify_until: key
            .retired_at
            .map_or(key.key.verify_until, |at| at.min(key.key.verify_until)),
        permitted: key.key.permit_types.clone(),
    }
}

/// The index fields of a permit, read from its (not yet verified) payload: what central puts
/// into a `permit_issued` entry.
pub fn index_of(bp1: &str) -> Result<PermitIndex, permit::PermitDecodeError> {
    let decoded = permit::decode_unverified(bp1)?;
    Ok(PermitIndex {
        cti: decoded.claims.permit_id,
        holder: HolderDigest::of(
            &decoded.body.holder.issuing_state,
            decoded.body.holder.document_number.expose(),
        )
        .0,
        permit_type: decoded.body.permit_type,
        valid_from: decoded.body.valid_from,
        valid_until: decoded.body.valid_until,
    })
}
