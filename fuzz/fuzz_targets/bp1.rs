//! Fuzzes the BP1 decoder and the verification pipeline (as the lane calls them on a scanned
//! permit card) with arbitrary text.
#![no_main]

use std::sync::OnceLock;

use checkpointd::core::permit::{NoRevocations, TrustList, decode_unverified, verify};
use libfuzzer_sys::fuzz_target;

/// Trusts the key with seed [1; 32] (the test fixtures' issuer), so its kid is known.
const TRUST_JSON: &str = r#"[{"kid":"dd2fb4e18b5e1ce3",
  "public_key":"8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c",
  "sign_from":"2000-01-01T00:00:00Z","sign_until":"2100-01-01T00:00:00Z",
  "verify_until":"2100-01-01T00:00:00Z"}]"#;

fn trust() -> &'static TrustList {
    static TRUST: OnceLock<TrustList> = OnceLock::new();
    TRUST.get_or_init(|| TrustList::from_json(TRUST_JSON).expect("a fixed, valid trust list"))
}

fuzz_target!(|data: &[u8]| {
    // Inside the seed permits' validity, so valid seeds get past the time checks.
    let now: jiff::Timestamp = "2026-11-23T08:00:00Z".parse().expect("a literal timestamp");
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Also reach the decoder behind the prefix check on most inputs.
    let prefixed = format!("BP1:{text}");
    for candidate in [text, prefixed.as_str()] {
        let _ = decode_unverified(candidate);
        let _ = verify(
            candidate,
            trust(),
            &NoRevocations,
            now,
            jiff::SignedDuration::from_secs(300),
        );
    }
});
