use super::*;

use chip_pki::{CertSpec, Hash, KeyKind, SignedSpec, Style};

#[test]
fn dg1_gives_the_zone_with_its_line_breaks() {
    let dg1 = Dg1::parse(&chip_pki::dg1(chip_pki::SPECIMEN_TD3)).expect("DG1");
    assert_eq!(dg1.zone(), chip_pki::SPECIMEN_TD3);
    let td1 = "I<UTOD231458907<<<<<<<<<<<<<<<\n7408122F1204159UTO<<<<<<<<<<<6\nERIKSSON<<ANNA<MARIA<<<<<<<<<<";
    assert_eq!(Dg1::parse(&chip_pki::dg1(td1)).expect("TD1").zone(), td1);
}

#[test]
fn dg1_refuses_what_is_not_dg1() {
    let good = chip_pki::dg1(chip_pki::SPECIMEN_TD3);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (Vec::new(), "DG1:"),
        (good[..good.len() - 1].to_vec(), "DG1:"),
        ([&[0x62], &good[1..]].concat(), "outer tag 62"),
        (chip_pki::dg1("P<UTO"), "MRZ of 5 characters"),
        (vec![0x61, 0x03, 0x5F, 0x20, 0x00], "no MRZ data element"),
        (vec![0x61; DG1_BYTES_MAX + 1], "more than the 256 accepted"),
    ];
    for (bytes, expected) in cases {
        let error = Dg1::parse(&bytes).expect_err("refused").to_string();
        assert!(error.contains(expected), "{error} should say {expected}");
    }
    let mut unprintable = good.clone();
    unprintable[10] = 0x07;
    let error = Dg1::parse(&unprintable).expect_err("refused").to_string();
    assert!(error.contains("character 5 is not printable"), "{error}");
}

#[test]
fn data_group_file_names() {
    assert_eq!(DataGroup::from_file_name("DG1"), Some(DataGroup::DG1));
    assert_eq!(
        DataGroup::from_file_name("DG16").map(DataGroup::number),
        Some(16)
    );
    for name in [
        "DG0", "DG17", "DG01", "dg1", "DG", "DG1.bin", "EF.SOD", "DG123",
    ] {
        assert_eq!(DataGroup::from_file_name(name), None, "{name}");
    }
    assert_eq!(
        DataGroup::new(2).map(DataGroup::file_name).as_deref(),
        Some("DG2")
    );
}

/// An EF.SOD over DG1 and a DG2, signed by a P-256 document signer.
fn sample_sod() -> Vec<u8> {
    let csca_key = chip_pki::key(KeyKind::P256, 0);
    let csca = chip_pki::certificate(&CertSpec::csca("UT", 1), &csca_key, None);
    let dsc_key = chip_pki::key(KeyKind::P256, 1);
    let dsc = chip_pki::certificate(&CertSpec::dsc("UT", 2), &dsc_key, Some((&csca, &csca_key)));
    let dg1 = chip_pki::dg1(chip_pki::SPECIMEN_TD3);
    let dg2 = chip_pki::data_group(0x75, 300, 0xAB);
    let spec = SignedSpec::new(
        Hash::Sha256,
        Style::Ecdsa,
        Some(chip_pki::Y2020 + 5 * chip_pki::YEAR),
    );
    chip_pki::sod(&[(1, &dg1), (2, &dg2)], &dsc, &dsc_key, &spec)
}

#[test]
fn sod_gives_hashes_signer_and_signed_attributes() {
    let sod = Sod::parse(&sample_sod()).expect("EF.SOD");
    assert_eq!(sod.data_group_hashes.len(), 2);
    let dg1 = chip_pki::dg1(chip_pki::SPECIMEN_TD3);
    assert_eq!(
        sod.data_group_hashes[&DataGroup::DG1],
        Hash::Sha256.digest(&dg1)
    );
    assert_eq!(sod.hash_algorithm.oid, Hash::Sha256.oid());
    let attributes = sod
        .signed
        .signer
        .signed_attributes
        .as_ref()
        .expect("signed attributes");
    assert_eq!(attributes.content_type, Some(LDS_SECURITY_OBJECT));
    assert_eq!(
        attributes.message_digest.as_deref(),
        Some(Hash::Sha256.digest(&sod.signed.content).as_slice())
    );
    let signing_time = attributes.signing_time.expect("signing time");
    assert_eq!(
        signing_time.as_second(),
        chip_pki::Y2020 + 5 * chip_pki::YEAR
    );
    let signer = sod
        .signed
        .signer_certificate()
        .expect("signer certificate carried");
    assert_eq!(
        x509::country(&signer.tbs_certificate.subject).as_deref(),
        Some("UT")
    );
    assert_eq!(x509::serial_hex(signer), "02");
}

#[test]
fn sod_refuses_damage_at_every_length_without_panicking() {
    let sod = sample_sod();
    for length in 0..sod.len() {
        assert!(
            Sod::parse(&sod[..length]).is_err(),
            "prefix of {length} bytes"
        );
    }
    let mut wrong_tag = sod.clone();
    wrong_tag[0] = 0x30;
    let error = Sod::parse(&wrong_tag).expect_err("refused").to_string();
    assert!(error.contains("outer tag 30, expected 77"), "{error}");
    for index in (0..sod.len()).step_by(7) {
        let mut damaged = sod.clone();
        damaged[index] ^= 0xFF;
        let _ = Sod::parse(&damaged);
    }
    let error = Sod::parse(&vec![0x77; SOD_BYTES_MAX + 1]).expect_err("refused");
    assert!(matches!(error, LdsError::TooLarge { .. }));
}
