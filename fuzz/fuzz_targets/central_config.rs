//! Arbitrary text as a `checkpoint-central` configuration: parsing and validation never panic,
//! and a refusal always carries at least one problem with a position inside the text.

#![no_main]

use std::path::Path;

use checkpointd::central::config;
use checkpointd::config::ConfigError;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("/nonexistent/firmware-config/central.toml");
    if let Err(ConfigError::Invalid(problems)) = config::parse(text, path) {
        assert!(!problems.problems.is_empty());
        let n_lines = text.matches('\n').count() + 1;
        for problem in &problems.problems {
            assert!(problem.line >= 1 && problem.line <= n_lines);
            assert!(problem.column >= 1);
        }
    }
});
