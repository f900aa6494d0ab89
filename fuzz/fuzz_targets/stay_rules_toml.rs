//! `StayPolicy::from_toml` on arbitrary text: it returns a rules file or a specific error and
//! never panics.

#![no_main]

use checkpointd::core::stay::StayPolicy;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Err(error) = StayPolicy::from_toml(text)
    {
        assert!(!error.to_string().is_empty());
    }
});
