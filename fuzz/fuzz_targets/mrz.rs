//! Fuzz target: the MRZ parser must never panic, in either mode, on any bytes.

#![no_main]

use checkpointd::core::mrz::{self, Mode, ParseOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Parsed rather than built so the fuzz crate needs no direct jiff dependency.
    let reference_date = "2026-11-23".parse().expect("a literal ISO date parses");
    let text = String::from_utf8_lossy(data);
    for mode in [Mode::Strict, Mode::Tolerant] {
        let options = ParseOptions {
            mode,
            reference_date,
            french_national_id: data.first().is_some_and(|b| b & 1 == 1),
        };
        let report = mrz::parse(&text, &options);
        let _ = (
            report.is_valid(),
            report.document_key(),
            report.mrz_information(),
        );
    }
});
