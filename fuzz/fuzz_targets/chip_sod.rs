//! Fuzz target: EF.SOD, CSCA master lists, certificate and CRL files, and passive authentication
//! over an arbitrary EF.SOD, must never panic.

#![no_main]

use std::collections::BTreeMap;

use checkpointd::core::lds::Sod;
use checkpointd::core::passive_auth::{
    ChipFiles, TrustStore, VerifyOptions, read_certificates, read_crl, read_master_list, verify,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(sod) = Sod::parse(data) {
        let _ = sod.signed.signer_certificate();
    }
    let list = read_master_list(data);
    let mut trust = TrustStore::new();
    for certificate in list.certificates {
        let _ = trust.add_csca(certificate);
    }
    if let Ok(certificates) = read_certificates(data) {
        for certificate in certificates {
            let _ = trust.add_csca(certificate);
        }
    }
    if let Ok(crl) = read_crl(data) {
        trust.add_crl(crl);
    }
    let files = ChipFiles {
        sod: Some(data),
        data_groups: BTreeMap::new(),
    };
    let options = VerifyOptions {
        check_date: "2026-01-01".parse().expect("a literal ISO date parses"),
        printed_mrz: None,
    };
    let report = verify(&files, &trust, &options);
    let _ = (report.is_valid(), report.signer);
});
