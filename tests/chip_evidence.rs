//! What a chip read means for the traveller (`core::chip_evidence::weigh`), over reads of the
//! simulated chip: authentic, DG1 differing from the printed page, CSCA unknown, clones (active
//! and chip authentication), no chip, a removed card. An integration test: the core's own unit
//! tests use no adapter, and this one reads the chip simulator.

mod chip_pki;

use std::collections::BTreeMap;

use checkpointd::adapters::chip_sim::{ChipProfile, SimulatedChip, dg14_for, ef_com};
use checkpointd::core::chip::ChipError;
use checkpointd::core::chip::channel::ChannelError;
use checkpointd::core::chip::crypto::Cipher;
use checkpointd::core::chip::lds::LdsFile;
use checkpointd::core::chip::reader::{ChipRead, ReadSettings, read_chip};
use checkpointd::core::chip_evidence::{expects_chip, weigh};
use checkpointd::core::decision::ChipFacts;
use checkpointd::core::mrz::{Mode, MrzReport, ParseOptions};
use checkpointd::core::passive_auth::TrustStore;
use chip_pki::{CertSpec, Hash, KeyKind, SPECIMEN_TD3, SignedSpec, Style, Y2020, YEAR};

const MRZ_INFORMATION: &str = "L898902C3674081221204159";

fn printed(zone: &str) -> MrzReport {
    checkpointd::core::mrz::parse(
        zone,
        &ParseOptions {
            mode: Mode::Tolerant,
            reference_date: jiff::civil::date(2010, 1, 1),
            french_national_id: false,
        },
    )
}

/// A chip signed by a test DSC, with DG15; the trust store holding its CSCA.
fn chip(clone: bool) -> (ChipProfile, TrustStore) {
    chip_with(clone, false)
}

/// As [`chip`], with DG14 and its chip-authentication key too (another key if `ca_clone`).
fn chip_with(clone: bool, ca_clone: bool) -> (ChipProfile, TrustStore) {
    let csca_key = chip_pki::key(KeyKind::P256, 40);
    let csca = chip_pki::certificate(&CertSpec::csca("UT", 40), &csca_key, None);
    let dsc_key = chip_pki::key(KeyKind::P256, 41);
    let dsc = chip_pki::certificate(&CertSpec::dsc("UT", 41), &dsc_key, Some((&csca, &csca_key)));
    let dg1 = chip_pki::dg1(SPECIMEN_TD3);
    let aa_key = chip_pki::key(KeyKind::P256, 42);
    let dg15 =
        checkpointd::core::chip::tlv::encode(&[0x6F], &aa_key.public_key_to_der().expect("SPKI"));
    let spec = SignedSpec::new(Hash::Sha256, Style::Ecdsa, Some(Y2020 + 5 * YEAR));
    let dg2 = checkpointd::core::lds::dg2::encode_19794(
        checkpointd::core::lds::dg2::ImageFormat::Jpeg,
        (2, 2),
        &[0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3, 4],
    );
    let ca_key = chip_pki::key(KeyKind::Brainpool256, 44);
    let dg14 = dg14_for(&ca_key, Cipher::Aes128);
    let sod = chip_pki::sod(
        &[(1, &dg1), (2, &dg2), (14, &dg14), (15, &dg15)],
        &dsc,
        &dsc_key,
        &spec,
    );
    let mut files = BTreeMap::from([
        (LdsFile::Dg(1), dg1),
        (LdsFile::Dg(2), dg2),
        (LdsFile::Dg(14), dg14),
        (LdsFile::Dg(15), dg15),
        (LdsFile::Sod, sod),
    ]);
    files.insert(LdsFile::Com, ef_com(&files));
    let mut profile = ChipProfile::new(MRZ_INFORMATION, files);
    profile.ca_key = Some(if ca_clone {
        chip_pki::key(KeyKind::Brainpool256, 45)
    } else {
        ca_key
    });
    profile.aa_key = Some(if clone {
        chip_pki::key(KeyKind::P256, 43)
    } else {
        aa_key
    });
    let mut trust = TrustStore::new();
    let der = csca.to_der().expect("DER");
    trust
        .add_csca(<x509_cert::Certificate as der::Decode>::from_der(&der).expect("CSCA"))
        .expect("CSCA");
    (profile, trust)
}

fn read(profile: ChipProfile) -> Result<ChipRead, ChipError> {
    let mut chip = SimulatedChip::new(profile);
    let password = checkpointd::core::chip::pace::Password::Mrz(MRZ_INFORMATION.into());
    read_chip(
        &mut chip,
        &password,
        &ReadSettings::default(),
        &mut rand::thread_rng(),
    )
}

#[test]
fn each_outcome_of_a_chip_read_is_weighed() {
    let today = jiff::civil::date(2026, 6, 1);
    let specimen = printed(SPECIMEN_TD3);
    let (genuine, trust) = chip(false);
    let evidence = weigh(&read(genuine.clone()), &specimen, &trust, today);
    assert_eq!(evidence.facts, ChipFacts::Authentic);
    assert_eq!(evidence.access, Some("PACE"));
    let face = evidence.face.as_ref().expect("the vouched DG2's face");
    assert_eq!(face.data, [0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3, 4]);
    assert!(
        !format!("{evidence:?}").contains("216"),
        "no image bytes in Debug"
    );
    let record = evidence.record.expect("record");
    assert_eq!(record.passive_authentication, "valid");
    assert_eq!(record.dsc_country.as_deref(), Some("UT"));
    assert_eq!(record.dsc_serial.as_deref(), Some("29"));

    // A genuine chip in a document whose printed page was altered.
    let forged_page = printed(&SPECIMEN_TD3.replace("ERIKSSON", "ERIKSSEN"));
    let evidence = weigh(&read(genuine.clone()), &forged_page, &trust, today);
    assert_eq!(evidence.facts, ChipFacts::Dg1Differs);

    // No CSCA known: referred, never admitted on the chip, and no face shown.
    let evidence = weigh(&read(genuine.clone()), &specimen, &TrustStore::new(), today);
    assert_eq!(evidence.face, None);
    assert!(
        matches!(evidence.facts, ChipFacts::CscaUnknown { ref errors } if errors == &["dsc_not_trusted"])
    );

    let (clone, trust) = chip(true);
    let evidence = weigh(&read(clone), &specimen, &trust, today);
    assert_eq!(evidence.facts, ChipFacts::CloneSuspected);
    // A clone whose AA key was extracted still fails chip authentication.
    let (clone, trust) = chip_with(false, true);
    let evidence = weigh(&read(clone), &specimen, &trust, today);
    assert_eq!(evidence.facts, ChipFacts::CloneSuspected);

    let no_card = Err(ChipError::Channel(ChannelError::NoCard));
    assert_eq!(
        weigh(&no_card, &specimen, &trust, today).facts,
        ChipFacts::Missing
    );
    let td1 = printed(
        "I<UTOD231458907<<<<<<<<<<<<<<<\n7408122F1204159UTO<<<<<<<<<<<6\nERIKSSON<<ANNA<MARIA<<<<<<<<<<",
    );
    assert!(!expects_chip(&td1));
    assert_eq!(
        weigh(&no_card, &td1, &trust, today).facts,
        ChipFacts::NoChip
    );
    let removed = Err(ChipError::Channel(ChannelError::CardRemoved));
    assert!(matches!(
        weigh(&removed, &specimen, &trust, today).facts,
        ChipFacts::Unreadable { .. }
    ));
}
