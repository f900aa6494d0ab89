//! Fuzz target: EF.SOD, EF.CardSecurity (and the SecurityInfos it signs), CSCA master lists,
//! certificate and CRL files, and passive authentication over an arbitrary EF.SOD or
//! EF.CardSecurity, must never panic.

#![no_main]

use std::collections::BTreeMap;

use checkpointd::core::chip::dg14::Dg14;
use checkpointd::core::lds::{CardSecurity, Sod};
use checkpointd::core::passive_auth::{
    ChipFiles, TrustStore, VerifyOptions, read_certificates, read_crl, read_master_list, verify,
    verify_card_security,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(sod) = Sod::parse(data) {
        let _ = sod.signed.signer_certificate();
    }
    if let Ok(card_security) = CardSecurity::parse(data) {
        let _ = card_security.signed.signer_certificate();
        // The SecurityInfos are read only after the signature holds; read them anyway here.
        let _ = Dg14::from_card_security(&card_security.signed.content);
    }
    let _ = Dg14::from_card_security(data);
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
    if let Ok(content) = verify_card_security(data, &trust, options.check_date) {
        let _ = Dg14::from_card_security(&content);
    }
});
