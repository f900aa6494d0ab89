#![no_main]
//! What a sign-in brings from outside: the `Cookie` header the session token is read from, and a
//! verifier or an override reason as text. Never a panic; a token read is a substring of the
//! header; a verifier that passes the ledger's check parses as Argon2id.

use checkpointd::adapters::booth::session_token;
use checkpointd::core::officer::{check_reason, check_verifier};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(token) = session_token(data) {
        let header = std::str::from_utf8(data).expect("a token is only read from UTF-8");
        assert!(header.contains(token));
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if check_verifier(text).is_ok() {
            assert!(text.starts_with("$argon2id$"));
        }
        let (code, rest) = text.split_once(' ').unwrap_or((text, ""));
        if check_reason(code, rest).is_ok() {
            assert!(rest.trim().chars().count() >= 10);
        }
    }
});
