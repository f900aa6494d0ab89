use std::collections::BTreeMap;

use der::Decode;
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;

use super::*;
use crate::core::lds::DataGroup;

use crate::core::lds::chip_pki::{self, CertSpec, Hash, KeyKind, SignedSpec, Style, Y2020, YEAR};

/// 2026-01-01, the default check date of these tests.
fn check_date() -> jiff::civil::Date {
    jiff::civil::date(2026, 1, 1)
}

struct Pki {
    csca: X509,
    csca_key: PKey<Private>,
    dsc: X509,
    dsc_key: PKey<Private>,
}

fn pki_with(csca_kind: KeyKind, dsc_kind: KeyKind, csca: CertSpec, dsc: CertSpec) -> Pki {
    let csca_key = chip_pki::key(csca_kind, 0);
    let csca = chip_pki::certificate(&csca, &csca_key, None);
    let dsc_key = chip_pki::key(dsc_kind, 1);
    let dsc = chip_pki::certificate(&dsc, &dsc_key, Some((&csca, &csca_key)));
    Pki {
        csca,
        csca_key,
        dsc,
        dsc_key,
    }
}

fn pki(csca_kind: KeyKind, dsc_kind: KeyKind) -> Pki {
    pki_with(
        csca_kind,
        dsc_kind,
        CertSpec::csca("UT", 1),
        CertSpec::dsc("UT", 2),
    )
}

fn cert(certificate: &X509) -> x509_cert::Certificate {
    x509_cert::Certificate::from_der(&certificate.to_der().expect("DER")).expect("certificate")
}

fn trusting(certificates: &[&X509]) -> TrustStore {
    let mut trust = TrustStore::new();
    for certificate in certificates {
        trust.add_csca(cert(certificate)).expect("CSCA");
    }
    trust
}

/// A signed document: EF.SOD, DG1 (the specimen) and a DG2.
struct Document {
    sod: Vec<u8>,
    groups: Vec<(DataGroup, Vec<u8>)>,
}

fn document(pki: &Pki, spec: &SignedSpec) -> Document {
    let dg1 = chip_pki::dg1(chip_pki::SPECIMEN_TD3);
    let dg2 = chip_pki::data_group(0x75, 2000, 0x5A);
    let sod = chip_pki::sod(&[(1, &dg1), (2, &dg2)], &pki.dsc, &pki.dsc_key, spec);
    Document {
        sod,
        groups: vec![(DataGroup::DG1, dg1), (group(2), dg2)],
    }
}

fn group(number: u8) -> DataGroup {
    DataGroup::new(number).expect("data group")
}

fn signing_time() -> Option<i64> {
    Some(Y2020 + 5 * YEAR)
}

fn check(document: &Document, trust: &TrustStore, printed_mrz: Option<&str>) -> PaReport {
    let files = ChipFiles {
        sod: Some(&document.sod),
        data_groups: document
            .groups
            .iter()
            .map(|(group, bytes)| (*group, bytes.as_slice()))
            .collect::<BTreeMap<_, _>>(),
    };
    let options = VerifyOptions {
        check_date: check_date(),
        printed_mrz,
    };
    verify(&files, trust, &options)
}

fn codes(report: &PaReport) -> Vec<&'static str> {
    report.errors.iter().map(|error| error.code()).collect()
}

#[test]
fn every_signature_algorithm_and_curve_verifies() {
    let cases = [
        (KeyKind::Rsa2048, Style::Pkcs1, Hash::Sha256),
        (KeyKind::Rsa2048, Style::Pss, Hash::Sha256),
        (KeyKind::Rsa2048, Style::Pss, Hash::Sha512),
        (KeyKind::P256, Style::Ecdsa, Hash::Sha256),
        (KeyKind::P384, Style::Ecdsa, Hash::Sha384),
        (KeyKind::P521, Style::Ecdsa, Hash::Sha512),
        (KeyKind::Brainpool256, Style::Ecdsa, Hash::Sha256),
        (KeyKind::Brainpool384, Style::Ecdsa, Hash::Sha384),
        (KeyKind::Brainpool512, Style::Ecdsa, Hash::Sha512),
        (KeyKind::Brainpool256, Style::EcdsaPlain, Hash::Sha256),
        (KeyKind::P256, Style::Ecdsa, Hash::Sha1),
        (KeyKind::P256, Style::Ecdsa, Hash::Sha224),
    ];
    for (kind, style, hash) in cases {
        let pki = pki(KeyKind::Brainpool384, kind);
        let document = document(&pki, &SignedSpec::new(hash, style, signing_time()));
        let report = check(&document, &trusting(&[&pki.csca]), None);
        assert_eq!(
            codes(&report),
            Vec::<&str>::new(),
            "{kind:?} {style:?} {hash:?}"
        );
        assert_eq!(report.data_groups[&DataGroup::DG1], DataGroupStatus::Valid);
        assert_eq!(report.data_groups[&group(2)], DataGroupStatus::Valid);
    }
}

#[test]
fn an_rsa_csca_signs_an_ecdsa_document_signer() {
    let pki = pki(KeyKind::Rsa2048, KeyKind::P256);
    let document = document(
        &pki,
        &SignedSpec::new(Hash::Sha256, Style::Ecdsa, signing_time()),
    );
    let report = check(
        &document,
        &trusting(&[&pki.csca]),
        Some(chip_pki::SPECIMEN_TD3),
    );
    assert!(report.is_valid(), "{:?}", report.details);
    let signer = report.signer.expect("signer");
    assert_eq!(signer.subject, "CN=Document Signer UT 2,C=UT");
    assert_eq!(signer.issuer, "CN=CSCA UT,C=UT");
    assert_eq!(signer.serial, "02");
    assert_eq!(signer.country.as_deref(), Some("UT"));
    let mrz = report.dg1_mrz.expect("DG1 MRZ");
    assert_eq!(mrz.document.expect("fields").issuing_state.value, "UTO");
}

#[test]
fn each_failure_has_its_code() {
    let pki = pki(KeyKind::P256, KeyKind::P256);
    let spec = SignedSpec::new(Hash::Sha256, Style::Ecdsa, signing_time());
    let trust = trusting(&[&pki.csca]);

    let mut corrupt = spec.clone();
    corrupt.corrupt_signature = true;
    let report = check(&document(&pki, &corrupt), &trust, None);
    assert_eq!(codes(&report), ["sod_signature_invalid"]);

    let mut digest = spec.clone();
    digest.wrong_message_digest = true;
    let report = check(&document(&pki, &digest), &trust, None);
    assert_eq!(codes(&report), ["sod_signature_invalid"]);

    let report = check(&document(&pki, &spec), &TrustStore::new(), None);
    assert_eq!(codes(&report), ["dsc_not_trusted"]);

    let mut altered = document(&pki, &spec);
    altered.groups[0].1 = chip_pki::dg1(&chip_pki::SPECIMEN_TD3.replace("ANNA", "ANNE"));
    let report = check(&altered, &trust, None);
    assert_eq!(codes(&report), ["dg_hash_mismatch"]);
    assert_eq!(
        report.data_groups[&DataGroup::DG1],
        DataGroupStatus::HashMismatch
    );

    let mut missing = document(&pki, &spec);
    missing.groups.remove(0);
    missing
        .groups
        .push((group(14), chip_pki::data_group(0x6E, 10, 1)));
    let report = check(&missing, &trust, None);
    assert_eq!(codes(&report), ["dg_missing"]);
    assert_eq!(report.data_groups[&group(14)], DataGroupStatus::NotInSod);
    assert!(report.dg1_mrz.is_none());

    let printed = chip_pki::SPECIMEN_TD3.replace("L898902C3", "L898902C4");
    let report = check(&document(&pki, &spec), &trust, Some(&printed));
    assert_eq!(codes(&report), ["mrz_mismatch"]);

    let mut malformed = document(&pki, &spec);
    malformed.sod.truncate(100);
    let report = check(&malformed, &trust, None);
    assert_eq!(codes(&report), ["sod_malformed"]);
    assert!(report.dg1_mrz.is_some(), "DG1 is still shown");
}

#[test]
fn certificate_dates_keys_and_crls() {
    let spec = SignedSpec::new(Hash::Sha256, Style::Ecdsa, signing_time());
    let mut expired = CertSpec::dsc("UT", 3);
    expired.not_after = Y2020 + 5 * YEAR + 86_400;
    let old_dsc = pki_with(
        KeyKind::P256,
        KeyKind::P256,
        CertSpec::csca("UT", 1),
        expired,
    );
    let report = check(
        &document(&old_dsc, &spec),
        &trusting(&[&old_dsc.csca]),
        None,
    );
    assert_eq!(codes(&report), ["dsc_expired"]);

    let mut old_csca = CertSpec::csca("UT", 4);
    old_csca.not_before = Y2020 - 10 * YEAR;
    old_csca.not_after = Y2020 + 5 * YEAR + 86_400;
    let ended = pki_with(
        KeyKind::P256,
        KeyKind::P256,
        old_csca,
        CertSpec::dsc("UT", 5),
    );
    let report = check(&document(&ended, &spec), &trusting(&[&ended.csca]), None);
    assert_eq!(codes(&report), ["csca_expired"]);

    let mut encipherment = CertSpec::dsc("UT", 6);
    encipherment.wrong_key_usage = true;
    let no_signing = pki_with(
        KeyKind::P256,
        KeyKind::P256,
        CertSpec::csca("UT", 1),
        encipherment,
    );
    let report = check(
        &document(&no_signing, &spec),
        &trusting(&[&no_signing.csca]),
        None,
    );
    assert_eq!(codes(&report), ["dsc_not_trusted"]);

    let pki = pki(KeyKind::P256, KeyKind::P256);
    let document = document(&pki, &spec);
    let mut trust = trusting(&[&pki.csca]);
    let other_key = chip_pki::key(KeyKind::P256, 9);
    let forged = chip_pki::crl(&pki.csca, &other_key, &[2], Y2020 + 6 * YEAR);
    trust.add_crl(read_crl(&forged).expect("CRL"));
    let unrelated = chip_pki::crl(&pki.csca, &pki.csca_key, &[77], Y2020 + 6 * YEAR);
    trust.add_crl(read_crl(&unrelated).expect("CRL"));
    assert!(
        check(&document, &trust, None).is_valid(),
        "a forged CRL is no evidence"
    );
    let revoking = chip_pki::crl(&pki.csca, &pki.csca_key, &[7, 2], Y2020 + 6 * YEAR);
    trust.add_crl(read_crl(&revoking).expect("CRL"));
    assert_eq!(codes(&check(&document, &trust, None)), ["dsc_revoked"]);
}

#[test]
fn the_check_date_is_a_whole_day() {
    let pki = pki(KeyKind::P256, KeyKind::P256);
    let document = document(&pki, &SignedSpec::new(Hash::Sha256, Style::Ecdsa, None));
    let trust = trusting(&[&pki.csca]);
    let on = |date| {
        let files = ChipFiles {
            sod: Some(&document.sod),
            data_groups: BTreeMap::new(),
        };
        let options = VerifyOptions {
            check_date: date,
            printed_mrz: None,
        };
        verify(&files, &trust, &options).errors
    };
    // The document signer runs from 2023-12-31 to 2033-12-28, both at 00:00 UTC (365-day years
    // from 2020): a day it touches is a day it is valid on.
    assert_eq!(on(jiff::civil::date(2033, 12, 28)), [PaError::DgMissing]);
    assert_eq!(
        on(jiff::civil::date(2033, 12, 29)),
        [PaError::DscExpired, PaError::DgMissing]
    );
    assert_eq!(on(jiff::civil::date(2023, 12, 31)), [PaError::DgMissing]);
    assert_eq!(
        on(jiff::civil::date(2023, 12, 30)),
        [PaError::DscExpired, PaError::DgMissing]
    );
}

#[test]
fn unknown_algorithms_are_unsupported() {
    let pki = pki(KeyKind::P256, KeyKind::P256);
    let mut spec = SignedSpec::new(Hash::Sha256, Style::Ecdsa, signing_time());
    spec.signature_algorithm = Some(x509_cert::spki::AlgorithmIdentifierOwned {
        oid: der::asn1::ObjectIdentifier::new_unwrap("1.2.840.10040.4.3"),
        parameters: None,
    });
    let report = check(&document(&pki, &spec), &trusting(&[&pki.csca]), None);
    assert_eq!(codes(&report), ["unsupported_algorithm"]);
}

#[test]
fn a_master_list_is_read_and_its_signer_checked() {
    let country_a = pki(KeyKind::Brainpool256, KeyKind::P256);
    let csca_b_key = chip_pki::key(KeyKind::P384, 3);
    let csca_b = chip_pki::certificate(&CertSpec::csca("BB", 11), &csca_b_key, None);
    let signer_key = chip_pki::key(KeyKind::P256, 4);
    let mut signer_spec = CertSpec::dsc("UT", 12);
    signer_spec.common_name = "Master List Signer UT".into();
    let signer = chip_pki::certificate(
        &signer_spec,
        &signer_key,
        Some((&country_a.csca, &country_a.csca_key)),
    );
    let der = |certificate: &X509| certificate.to_der().expect("DER");
    let certificates = [der(&country_a.csca), der(&csca_b), der(&country_a.csca)];
    let spec = SignedSpec::new(Hash::Sha256, Style::Ecdsa, signing_time());
    let list = read_master_list(&chip_pki::master_list(
        &certificates,
        &signer,
        &signer_key,
        &spec,
    ));
    assert!(list.signature_valid, "{:?}", list.errors);
    assert_eq!(list.distinct_certificates, 2);
    assert_eq!(list.countries, ["BB", "UT"]);
    assert!(list.errors.is_empty());
    let signer = list.signer.expect("signer");
    assert_eq!(signer.subject, "CN=Master List Signer UT,C=UT");

    let mut corrupt = spec.clone();
    corrupt.corrupt_signature = true;
    let signer_cert = chip_pki::certificate(
        &signer_spec,
        &signer_key,
        Some((&country_a.csca, &country_a.csca_key)),
    );
    let bad = read_master_list(&chip_pki::master_list(
        &certificates,
        &signer_cert,
        &signer_key,
        &corrupt,
    ));
    assert!(!bad.signature_valid);
    assert_eq!(bad.errors, ["the signer's signature does not verify"]);

    let impostor_key = chip_pki::key(KeyKind::P256, 5);
    let impostor = chip_pki::certificate(
        &signer_spec,
        &impostor_key,
        Some((&country_a.csca, &impostor_key)),
    );
    let forged = read_master_list(&chip_pki::master_list(
        &certificates,
        &impostor,
        &impostor_key,
        &spec,
    ));
    assert!(
        !forged.signature_valid,
        "signer not issued by the listed CSCA"
    );

    let garbage = read_master_list(b"\x30\x03\x02\x01\x00");
    assert!(!garbage.signature_valid);
    assert_eq!(garbage.distinct_certificates, 0);
    assert_eq!(garbage.errors.len(), 1);
}

#[test]
fn certificate_and_crl_files_read_as_pem_or_der() {
    let pki = pki(KeyKind::P256, KeyKind::P256);
    let pem = [
        pki.csca.to_pem().expect("PEM"),
        pki.dsc.to_pem().expect("PEM"),
    ]
    .concat();
    assert_eq!(read_certificates(&pem).expect("PEM").len(), 2);
    assert_eq!(
        read_certificates(&pki.csca.to_der().expect("DER"))
            .expect("DER")
            .len(),
        1
    );
    assert!(read_certificates(b"not a certificate").is_err());
    let crl = chip_pki::crl(&pki.csca, &pki.csca_key, &[2], Y2020);
    let crl_pem = der::pem::encode_string("X509 CRL", der::pem::LineEnding::LF, &crl).expect("PEM");
    assert_eq!(
        read_crl(crl_pem.as_bytes()).expect("PEM CRL"),
        read_crl(&crl).expect("DER CRL")
    );
    let wrong_label =
        der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &crl).expect("PEM");
    assert!(read_crl(wrong_label.as_bytes()).is_err());
}

#[test]
fn ef_card_security_passes_passive_authentication_only_when_signed_and_trusted() {
    let pki = pki(KeyKind::P256, KeyKind::Brainpool256);
    // A SET OF SecurityInfo with one PACEInfo (Doc 9303-11 Appendix G.1's EF.CardAccess).
    let content = hex::decode("31143012060A04007F0007020204020202010202010D").expect("hex");
    let sign = |spec: &SignedSpec| {
        chip_pki::signed_data(
            "0.4.0.127.0.7.3.2.1",
            &content,
            &pki.dsc,
            &pki.dsc_key,
            spec,
        )
    };
    let spec = SignedSpec::new(Hash::Sha256, Style::Ecdsa, signing_time());
    let trust = trusting(&[&pki.csca]);
    assert_eq!(
        verify_card_security(&sign(&spec), &trust, check_date()),
        Ok(content.clone())
    );
    let mut broken = spec.clone();
    broken.corrupt_signature = true;
    let rejected = verify_card_security(&sign(&broken), &trust, check_date()).expect_err("bad");
    assert_eq!(rejected.errors, vec![PaError::SodSignatureInvalid]);
    assert!(
        rejected.details[0].starts_with("EF.CardSecurity:"),
        "{rejected:?}"
    );
    let rejected = verify_card_security(&sign(&spec), &TrustStore::new(), check_date())
        .expect_err("untrusted");
    assert_eq!(rejected.errors, vec![PaError::DscNotTrusted]);
    // EF.SOD is not EF.CardSecurity: another content type.
    let sod = document(&pki, &spec).sod;
    let rejected = verify_card_security(&sod, &trust, check_date()).expect_err("EF.SOD");
    assert_eq!(rejected.errors, vec![PaError::SodMalformed]);
    let ldso = chip_pki::signed_data("2.23.136.1.1.1", &content, &pki.dsc, &pki.dsc_key, &spec);
    let rejected = verify_card_security(&ldso, &trust, check_date()).expect_err("LDS type");
    assert!(
        rejected.details[0].contains("0.4.0.127.0.7.3.2.1"),
        "{rejected:?}"
    );
}
