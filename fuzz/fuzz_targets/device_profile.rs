#![no_main]
//! Arbitrary text as a scanner profile (`devices/*.toml`), a programming sequence, a gate
//! profile and a chip-reader profile: each parses or returns an error, never panics; a valid
//! profile builds its pipeline, a valid chip-reader profile resolves an entry's settings.

use checkpointd::adapters::devices::chip_reader::{ChipReaderProfile, ChipReaderSettings};
use checkpointd::adapters::devices::{parse_profile, parse_programming};
use checkpointd::adapters::gate::GateProfile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(profile) = parse_profile(text) {
        let _ = profile.pipeline(None);
    }
    let _ = parse_programming(text);
    let _ = GateProfile::from_toml(text);
    let _ = ChipReaderProfile::is_chip_reader_profile(text);
    if let Ok(profile) = ChipReaderProfile::from_toml(text) {
        let _ = ChipReaderSettings::resolve(Some(&profile), None, None);
    }
});
