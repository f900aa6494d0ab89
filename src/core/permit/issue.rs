//! Signing permits: body and claims to BP1 text, for the issuer CLI and test fixtures.

use std::io::Write;

use coset::cwt::{ClaimsSetBuilder, Timestamp as CwtTimestamp};
use coset::{CborSerializable, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable, iana};
use ed25519_dalek::{Signer, SigningKey};
use rand::RngCore;

use super::body::{PermitBody, PermitClaims};
use super::codec::{BODY_CLAIM, BP1_PREFIX};

/// A fresh random 16-byte permit id (CWT `cti`).
pub fn generate_permit_id(rng: &mut impl RngCore) -> [u8; 16] {
    let mut id = [0u8; 16];
    rng.fill_bytes(&mut id);
    id
}

/// Signs a permit and returns its BP1 text. The COSE_Sign1 is tagged (18) and zlib-compressed
/// only when that makes it shorter. The body is not validated here: callers run
/// [`PermitBody::validate`] first (verifiers reject invalid bodies).
pub fn sign_permit(
    body: &PermitBody,
    claims: &PermitClaims,
    signing_key: &SigningKey,
    kid: [u8; 8],
) -> String {
    let body_value = ciborium::Value::serialized(body)
        .expect("a permit body is strings, dates and integers, which always serialise");
    let claims_set = ClaimsSetBuilder::new()
        .issuer(claims.issuer.clone())
        .expiration_time(CwtTimestamp::WholeSeconds(claims.expires_at.as_second()))
        .not_before(CwtTimestamp::WholeSeconds(claims.not_before.as_second()))
        .issued_at(CwtTimestamp::WholeSeconds(claims.issued_at.as_second()))
        .cwt_id(claims.permit_id.to_vec())
        .private_claim(BODY_CLAIM, body_value)
        .build();
    let payload = claims_set
        .to_vec()
        .expect("a claims set of plain values always encodes");
    let protected = HeaderBuilder::new()
        .algorithm(iana::Algorithm::Ed25519)
        .key_id(kid.to_vec())
        .build();
    let cose = CoseSign1Builder::new()
        .protected(protected)
        .payload(payload)
        .create_signature(b"", |data| signing_key.sign(data).to_bytes().to_vec())
        .build()
        .to_tagged_vec()
        .expect("a cose_sign1 of byte strings always encodes");
    let compressed = zlib(&cose);
    let bytes = if compressed.len() < cose.len() {
        compressed
    } else {
        cose
    };
    format!("{BP1_PREFIX}{}", base45::encode(bytes))
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    encoder
        .write_all(data)
        .expect("writing to a Vec cannot fail");
    encoder.finish().expect("writing to a Vec cannot fail")
}
