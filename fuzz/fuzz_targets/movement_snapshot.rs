#![no_main]
//! Arbitrary bytes as central's movement snapshot, the way a new terminal reads one: the signed
//! head (COSE_Sign1 and its header) against a pinned key, and the body's lists one at a time with
//! every list checked. Never a panic; every refusal an error.

use checkpointd::adapters::feed::{BodyReader, verified_header};
use checkpointd::core::event::SigningKey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = SigningKey::from_bytes(&[9; 32]).verifying_key();
    let _ = verified_header(data, &key);
    // The body as a terminal reads it after its digest matched: until the end or an error.
    let mut body = BodyReader::new(data, u64::MAX);
    while let Ok(Some((_, list))) = body.next_list() {
        assert!(!list.is_empty());
    }
});
