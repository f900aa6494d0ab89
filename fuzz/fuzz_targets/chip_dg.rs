//! Fuzz target: data-group files (DG1 and its MRZ, any group's hashing) must never panic.

#![no_main]

use checkpointd::core::lds::{DataGroup, Dg1};
use checkpointd::core::mrz::{self, Mode, ParseOptions};
use checkpointd::core::passive_auth::{ChipFiles, TrustStore, VerifyOptions, verify};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let check_date = "2026-01-01".parse().expect("a literal ISO date parses");
    if let Ok(dg1) = Dg1::parse(data) {
        let options = ParseOptions {
            mode: Mode::Strict,
            reference_date: check_date,
            french_national_id: false,
        };
        let _ = mrz::parse(dg1.zone(), &options).is_valid();
    }
    let groups = [DataGroup::DG1, DataGroup::new(2).expect("DG2")];
    let files = ChipFiles {
        sod: None,
        data_groups: groups.into_iter().map(|group| (group, data)).collect(),
    };
    let printed = String::from_utf8_lossy(data);
    let options = VerifyOptions {
        check_date,
        printed_mrz: Some(&printed),
    };
    let _ = verify(&files, &TrustStore::new(), &options).dg1_mrz;
});
