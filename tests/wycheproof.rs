//! Project Wycheproof's Ed25519 vectors through the permit verification path: each group's key
//! loaded into a `TrustList` (which refuses invalid and weak points), each signature parsed with
//! `Signature::from_slice` (wrong lengths fail) and checked with `verify_strict` under the trust
//! list's key, exactly as `core::permit::verify` does. The file has no "acceptable" results.

use checkpointd::core::permit::{IssuerKey, TrustList, key_id};
use ed25519_dalek::{Signature, VerifyingKey};

const VECTORS: &str = include_str!("fixtures/wycheproof/ed25519_test.vectors");
/// `numberOfTests` in the source file.
const TESTS: usize = 151;

fn hex_field(text: &str) -> Vec<u8> {
    if text == "-" {
        Vec::new()
    } else {
        hex::decode(text).expect("hex field")
    }
}

fn trust_list(public_key: [u8; 32]) -> Option<TrustList> {
    let point = VerifyingKey::from_bytes(&public_key).ok()?;
    let at = |text: &str| text.parse::<jiff::Timestamp>().expect("timestamp");
    TrustList::new(vec![IssuerKey {
        kid: key_id(&point),
        public_key,
        sign_from: at("2020-01-01T00:00:00Z"),
        sign_until: at("2030-01-01T00:00:00Z"),
        verify_until: at("2040-01-01T00:00:00Z"),
        permitted: Vec::new(),
    }])
    .ok()
}

/// Whether the permit path accepts `signature` over `message` under the listed key.
fn accepted(trust: Option<&TrustList>, message: &[u8], signature: &[u8]) -> bool {
    let Some(trust) = trust else {
        // A key the trust list refuses verifies nothing.
        return false;
    };
    let Ok(signature) = Signature::from_slice(signature) else {
        return false;
    };
    trust
        .keys()
        .iter()
        .any(|key| key.verifying_key.verify_strict(message, &signature).is_ok())
}

#[test]
fn every_wycheproof_ed25519_vector_gets_its_expected_result() {
    let mut trust: Option<TrustList> = None;
    let mut seen = Vec::new();
    let mut valid = 0;
    let mut disagreements = Vec::new();
    for line in VECTORS.lines().filter(|line| !line.is_empty()) {
        let fields: Vec<&str> = line.split(' ').collect();
        if let ["pk", key] = fields.as_slice() {
            let key: [u8; 32] = hex_field(key).try_into().expect("32-byte key");
            trust = trust_list(key);
            continue;
        }
        let [id, flag, result, message, signature] = fields.as_slice() else {
            panic!("malformed line: {line}");
        };
        let id: u32 = id.parse().expect("tcId");
        let expected = match *result {
            "valid" => true,
            "invalid" => false,
            other => panic!("tcId {id}: result {other} is not handled"),
        };
        valid += usize::from(expected);
        seen.push(id);
        let got = accepted(trust.as_ref(), &hex_field(message), &hex_field(signature));
        if got != expected {
            disagreements.push(format!("tcId {id} ({flag}): expected {result}, got {got}"));
        }
    }
    assert!(disagreements.is_empty(), "{disagreements:#?}");
    assert_eq!(
        seen,
        (1..=151).collect::<Vec<u32>>(),
        "every test, in order"
    );
    assert_eq!(seen.len(), TESTS);
    assert_eq!(valid, 88, "valid vectors in the file");
}
