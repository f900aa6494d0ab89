//! Arbitrary bytes as a signed crossing event, the way central's consumer takes them:
//! verification must reject or accept, never panic; an accepted event goes through the audit.
#![no_main]

use std::collections::HashMap;

use checkpointd::core::event::{FeedAudit, SigningKey, TerminalId, Verification, verify};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = SigningKey::from_bytes(&[7; 32]).verifying_key();
    let keys = HashMap::from([(TerminalId::new("T1").expect("valid id"), key)]);
    if let Verification::Valid(event, hash) = verify(data, &keys) {
        assert_eq!(event.terminal.as_str(), "T1");
        let mut audit = FeedAudit::new();
        let _ = audit.admit(&event, hash);
        let _ = audit.report();
    }
});
