//! Reading a simulated chip in process through the card-channel port: PACE and BAC, the BAC
//! fallback switch, adaptive READ BINARY, active and chip authentication, PACE-CAM checked
//! against a signed EF.CardSecurity, and the misbehaviours a reader must survive.

mod chip_pki;

use checkpointd::adapters::chip_sim::{
    ChipProfile, Faults, SimulatedChip, pace_info, pace_info_cam, pace_info_dh,
    pace_info_integrated, sample_files,
};
use checkpointd::core::chip::ChipError;
use checkpointd::core::chip::card_access::Mapping;
use checkpointd::core::chip::crypto::Cipher;
use checkpointd::core::chip::lds::LdsFile;
use checkpointd::core::chip::pace::Password;
use checkpointd::core::chip::reader::{Access, ReadSettings, read_chip};
use checkpointd::ports::chip::ChannelError;

const MRZ_INFORMATION: &str = "L898902C<369080619406236";
const DG1: &str =
    "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<L898902C36UTO7408122F1204159ZE184226B<<<<<10";

fn profile(dg2_len: usize) -> ChipProfile {
    ChipProfile::new(
        MRZ_INFORMATION,
        sample_files(DG1, dg2_len, vec![0x77, 0x03, 1, 2, 3]),
    )
}

fn read(
    profile: ChipProfile,
    password: &Password,
    settings: &ReadSettings,
) -> Result<checkpointd::core::chip::reader::ChipRead, ChipError> {
    let mut chip = SimulatedChip::new(profile.clone());
    read_chip(&mut chip, password, settings, &mut rand::thread_rng())
}

fn mrz() -> Password {
    Password::Mrz(MRZ_INFORMATION.into())
}

#[test]
fn pace_is_used_when_offered_and_every_file_arrives_intact() {
    let profile = profile(20_000);
    let read = read(profile.clone(), &mrz(), &ReadSettings::default()).expect("read");
    assert_eq!(read.access, Access::Pace(Mapping::Generic));
    for (file, bytes) in &profile.files {
        assert_eq!(read.file(*file), Some(bytes.as_slice()), "{}", file.name());
    }
    let card_access = read.card_access.as_ref().map_or(0, Vec::len);
    let total: usize = profile.files.values().map(Vec::len).sum();
    assert_eq!(read.bytes_read, total + card_access, "every byte read once");
}

#[test]
fn every_pace_cipher_and_both_curves_work_with_mrz_and_can() {
    for (cipher, curve) in [
        (Cipher::Tdes, 13),
        (Cipher::Aes128, 12),
        (Cipher::Aes192, 13),
        (Cipher::Aes256, 12),
    ] {
        let mut profile = profile(300);
        profile.pace = Some(pace_info(cipher, curve));
        profile.can = Some("123456".into());
        let read = read(profile.clone(), &mrz(), &ReadSettings::default()).expect("read with MRZ");
        assert_eq!(read.access, Access::Pace(Mapping::Generic), "{cipher:?}");
        let read = read_can(profile, "123456").expect("read with CAN");
        assert_eq!(
            read.file(LdsFile::Dg(1)).map(<[u8]>::len),
            Some(DG1.len() + 5)
        );
    }
}

#[test]
fn integrated_mapping_works_with_every_cipher_on_both_curves_and_a_wrong_can_fails() {
    for (cipher, curve) in [
        (Cipher::Tdes, 12),
        (Cipher::Aes128, 13),
        (Cipher::Aes192, 12),
        (Cipher::Aes256, 13),
    ] {
        let mut profile = profile(300);
        profile.pace = Some(pace_info_integrated(cipher, curve));
        profile.can = Some("123456".into());
        let read = read(profile.clone(), &mrz(), &ReadSettings::default()).expect("read with MRZ");
        assert_eq!(read.access, Access::Pace(Mapping::Integrated), "{cipher:?}");
        for (file, bytes) in &profile.files {
            assert_eq!(read.file(*file), Some(bytes.as_slice()), "{}", file.name());
        }
        let read = read_can(profile.clone(), "123456").expect("read with CAN");
        assert_eq!(read.access, Access::Pace(Mapping::Integrated), "{cipher:?}");
        let error = read_can(profile, "654321").expect_err("wrong CAN");
        assert!(
            matches!(error, ChipError::Status { sw: 0x6300, .. }),
            "{cipher:?}: {error}"
        );
    }
}

/// A chip offering only PACE with finite-field DH generic mapping (and extended length, which
/// RFC 5114's 2048-bit groups need).
fn dh_profile(cipher: Cipher, parameter_id: u32) -> ChipProfile {
    let mut profile = profile(300);
    profile.pace = Some(pace_info_dh(cipher, parameter_id));
    profile.bac = false;
    profile.extended_length = true;
    profile.can = Some("123456".into());
    profile
}

#[test]
fn dh_generic_mapping_reads_the_chip_with_mrz_and_can() {
    for (cipher, parameter_id) in [
        (Cipher::Tdes, 2),
        (Cipher::Aes128, 2),
        (Cipher::Tdes, 0),
        (Cipher::Aes128, 0),
    ] {
        let profile = dh_profile(cipher, parameter_id);
        for password in [mrz(), Password::Can("123456".into())] {
            let read = read(profile.clone(), &password, &ReadSettings::default())
                .unwrap_or_else(|e| panic!("{cipher:?} over {parameter_id}: {e}"));
            // What `chip read --json` prints as "access" and "pace_mapping".
            assert_eq!(read.access, Access::Pace(Mapping::Generic));
            assert_eq!(
                (read.access.code(), Mapping::Generic.code()),
                ("PACE", "GM")
            );
            for (file, bytes) in &profile.files {
                assert_eq!(read.file(*file), Some(bytes.as_slice()), "{}", file.name());
            }
        }
    }
}

#[test]
fn a_wrong_password_fails_dh_generic_mapping_as_it_fails_ecdh() {
    let wrong_mrz = Password::Mrz("L898902C<369080619406237".into());
    let wrong_can = Password::Can("654321".into());
    for parameter_id in [0, 2] {
        let dh = dh_profile(Cipher::Aes128, parameter_id);
        let mut ecdh = dh.clone();
        ecdh.pace = Some(pace_info(Cipher::Aes128, 13));
        for password in [&wrong_mrz, &wrong_can] {
            let settings = ReadSettings {
                refuse_bac_fallback: true,
                ..ReadSettings::default()
            };
            let dh_error = read(dh.clone(), password, &settings).expect_err("wrong password");
            let ecdh_error = read(ecdh.clone(), password, &settings).expect_err("ECDH");
            assert_eq!(dh_error, ecdh_error);
            assert!(dh_error.to_string().contains("6300"), "{dh_error}");
            let dh_error = read(dh.clone(), password, &ReadSettings::default()).expect_err("DH");
            let ecdh_error =
                read(ecdh.clone(), password, &ReadSettings::default()).expect_err("ECDH");
            assert_eq!(dh_error, ecdh_error);
        }
    }
}

/// A reader that carries extended-length APDUs, in front of a chip that may not take them.
struct ExtendedReader(SimulatedChip);

impl checkpointd::ports::chip::CardChannel for ExtendedReader {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, ChannelError> {
        self.0.transmit(command)
    }

    fn extended_length(&self) -> bool {
        true
    }
}

#[test]
fn a_2048_bit_dh_chip_without_extended_length_refuses_the_mapping() {
    let mut profile = dh_profile(Cipher::Aes128, 2);
    profile.extended_length = false;
    let settings = ReadSettings {
        refuse_bac_fallback: true,
        ..ReadSettings::default()
    };
    // A short-only reader: the 264-byte mapping command is refused before it is sent, and
    // the error says why (Doc 9303-10 3.6.4 requires extended length; 3.6.5 keeps command
    // chaining for linking GENERAL AUTHENTICATE steps).
    let error = read(profile.clone(), &mrz(), &settings).expect_err("no extended length");
    let ChipError::BacFallbackRefused { pace } = &error else {
        panic!("{error}");
    };
    assert!(
        pace.starts_with("PACE mapping: 264 bytes of command data need an extended-length APDU")
            && pace.contains("command chaining"),
        "{pace}"
    );
    // A reader that carries it, a chip that refuses it with 6700.
    let mut reader = ExtendedReader(SimulatedChip::new(profile));
    let error = read_chip(&mut reader, &mrz(), &settings, &mut rand::thread_rng())
        .expect_err("the chip refuses extended length");
    assert_eq!(
        error,
        ChipError::BacFallbackRefused {
            pace: ChipError::ExtendedLengthRefused {
                step: "PACE mapping"
            }
            .to_string()
        }
    );
}

#[test]
fn a_short_reader_prefers_a_pace_info_it_can_run_over_a_2048_bit_dh_one() {
    let mut profile = dh_profile(Cipher::Aes128, 2);
    profile.more_pace = vec![pace_info_dh(Cipher::Aes128, 0)];
    profile.extended_length = false;
    let read = read(profile.clone(), &mrz(), &ReadSettings::default()).expect("1024-bit group");
    assert_eq!(read.access, Access::Pace(Mapping::Generic));
    assert_eq!(
        read.file(LdsFile::Dg(1)),
        profile.files.get(&LdsFile::Dg(1)).map(Vec::as_slice)
    );
}

fn read_can(
    profile: ChipProfile,
    can: &str,
) -> Result<checkpointd::core::chip::reader::ChipRead, ChipError> {
    read(
        profile,
        &Password::Can(can.into()),
        &ReadSettings::default(),
    )
}

#[test]
fn a_chip_without_pace_is_read_with_bac() {
    let mut profile = profile(1000);
    profile.pace = None;
    let read = read(profile, &mrz(), &ReadSettings::default()).expect("read");
    assert_eq!(read.access, Access::Bac);
    assert!(read.card_access.is_none());
}

#[test]
fn falling_back_to_bac_happens_only_when_allowed() {
    // A wrong CAN makes PACE fail: with the MRZ BAC would work, with a CAN nothing can.
    let mut profile = profile(100);
    profile.can = Some("111111".into());
    let error = read_can(profile.clone(), "999999").expect_err("wrong CAN");
    assert!(
        matches!(
            error,
            ChipError::ChipNotAuthenticated { protocol: "PACE" } | ChipError::Status { .. }
        ),
        "{error}"
    );

    // A chip that advertises PACE but fails it (MSE:Set AT answers 6A80), then BAC.
    let mut failing = profile;
    failing.faults = Faults {
        fail_pace: true,
        ..Faults::default()
    };
    let refused = ReadSettings {
        refuse_bac_fallback: true,
        ..ReadSettings::default()
    };
    let error = read(failing.clone(), &mrz(), &refused).expect_err("refused");
    assert!(
        matches!(error, ChipError::BacFallbackRefused { .. }),
        "{error}"
    );
    let read = read(failing, &mrz(), &ReadSettings::default()).expect("BAC");
    assert_eq!(read.access, Access::Bac);
}

#[test]
fn a_wrong_mrz_is_refused() {
    let mut profile = profile(100);
    profile.pace = None;
    let error = read(
        profile,
        &Password::Mrz("L898902C<369080619406237".into()),
        &ReadSettings::default(),
    )
    .expect_err("wrong MRZ");
    assert_eq!(
        error,
        ChipError::Status {
            step: "BAC EXTERNAL AUTHENTICATE",
            sw: 0x6300
        }
    );
}

#[test]
fn a_response_with_a_wrong_mac_ends_the_read() {
    let mut profile = profile(5000);
    profile.faults = Faults {
        wrong_mac_at_response: Some(6),
        ..Faults::default()
    };
    assert_eq!(
        read(profile, &mrz(), &ReadSettings::default()).expect_err("wrong MAC"),
        ChipError::ResponseMacInvalid
    );
}

#[test]
fn losing_the_field_mid_dg2_is_an_error() {
    let mut profile = profile(20_000);
    profile.faults = Faults {
        lose_field_in: Some(LdsFile::Dg(2)),
        ..Faults::default()
    };
    let error = read(profile, &mrz(), &ReadSettings::default()).expect_err("lost field");
    assert_eq!(error, ChipError::Channel(ChannelError::CardRemoved));
}

#[test]
fn end_of_file_6282_and_failing_long_reads_are_followed() {
    let mut profile = profile(3000);
    profile.extended_length = true;
    profile.atr_info = Some(0xFFFF);
    profile.faults = Faults {
        end_of_file_6282: true,
        fail_long_reads: true,
        ..Faults::default()
    };
    let read = read(profile.clone(), &mrz(), &ReadSettings::default()).expect("read");
    assert_eq!(
        read.file(LdsFile::Dg(2)),
        profile.files.get(&LdsFile::Dg(2)).map(Vec::as_slice)
    );
}

/// A reader that cannot send extended-length APDUs, in front of a chip that can.
struct ShortReader(SimulatedChip);

impl checkpointd::ports::chip::CardChannel for ShortReader {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, ChannelError> {
        self.0.transmit(command)
    }
}

#[test]
fn extended_length_is_used_only_where_the_reader_and_ef_atr_info_allow_it() {
    let short = read(profile(20_000), &mrz(), &ReadSettings::default()).expect("short");
    let mut extended = profile(20_000);
    extended.extended_length = true;
    extended.atr_info = Some(0xFFFF);
    let long = read(extended.clone(), &mrz(), &ReadSettings::default()).expect("extended");
    assert_eq!(
        long.file(LdsFile::Dg(2)),
        extended.files.get(&LdsFile::Dg(2)).map(Vec::as_slice)
    );
    assert!(
        long.apdus * 4 < short.apdus,
        "{} vs {}",
        long.apdus,
        short.apdus
    );

    // EF.ATR/INFO's longest response bounds the reads (a longer one the chip refuses).
    let mut bounded = extended.clone();
    bounded.atr_info = Some(1024);
    let medium = read(bounded.clone(), &mrz(), &ReadSettings::default()).expect("bounded");
    assert_eq!(
        medium.file(LdsFile::Dg(2)),
        bounded.files.get(&LdsFile::Dg(2)).map(Vec::as_slice)
    );
    assert!(
        long.apdus < medium.apdus && medium.apdus * 2 < short.apdus,
        "{} / {} / {}",
        long.apdus,
        medium.apdus,
        short.apdus
    );

    // A chip that takes extended APDUs but does not say so in EF.ATR/INFO is read short: the
    // same APDUs as a short-only chip.
    let mut silent = extended.clone();
    silent.atr_info = None;
    let unadvertised = read(silent, &mrz(), &ReadSettings::default()).expect("silent");
    assert_eq!(unadvertised.apdus, short.apdus);
    let mut short_only = extended.clone();
    short_only.atr_info = Some(256);
    let advertised_short = read(short_only, &mrz(), &ReadSettings::default()).expect("256");
    // One APDU more: the READ BINARY of EF.ATR/INFO (its SELECT is tried on every chip).
    assert_eq!(advertised_short.apdus, short.apdus + 1);

    // A reader without extended length reads short even from a chip that advertises it.
    let mut reader = ShortReader(SimulatedChip::new(extended.clone()));
    let through_short_reader = read_chip(
        &mut reader,
        &mrz(),
        &ReadSettings::default(),
        &mut rand::thread_rng(),
    )
    .expect("short reader");
    assert_eq!(through_short_reader.apdus, short.apdus + 1);
}

#[test]
fn a_huge_announced_length_is_refused_before_reading() {
    let mut profile = profile(1000);
    profile.faults = Faults {
        huge_length_in: Some(LdsFile::Dg(2)),
        ..Faults::default()
    };
    let error = read(profile, &mrz(), &ReadSettings::default()).expect_err("huge");
    assert!(
        matches!(error, ChipError::FileTooLarge { announced, .. } if announced > 16_000_000),
        "{error}"
    );
}

#[test]
fn active_authentication_answers_the_challenge_and_a_clone_cannot() {
    use checkpointd::core::chip::active_auth;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    let key = |nid| {
        PKey::from_ec_key(
            EcKey::generate(&EcGroup::from_curve_name(nid).expect("curve")).expect("key"),
        )
        .expect("pkey")
    };
    let genuine = key(Nid::X9_62_PRIME256V1);
    let dg15 =
        checkpointd::core::chip::tlv::encode(&[0x6F], &genuine.public_key_to_der().expect("SPKI"));
    let mut profile = profile(500);
    profile.files.insert(LdsFile::Dg(15), dg15.clone());
    profile.files.insert(
        LdsFile::Com,
        checkpointd::adapters::chip_sim::ef_com(&profile.files),
    );
    profile.aa_key = Some(genuine);
    let read = read(profile.clone(), &mrz(), &ReadSettings::default()).expect("read");
    let attempt = read.active_authentication.expect("AA attempted");
    assert_eq!(active_auth::verify(&dg15, &attempt), Ok(true));
    profile.aa_key = Some(key(Nid::BRAINPOOL_P256R1));
    let clone = read_chip(
        &mut SimulatedChip::new(profile),
        &mrz(),
        &ReadSettings::default(),
        &mut rand::thread_rng(),
    )
    .expect("read");
    assert_eq!(
        active_auth::verify(&dg15, &clone.active_authentication.expect("AA attempted")),
        Ok(false)
    );
}

#[test]
fn files_over_32_kb_are_read_past_offset_32767_with_read_binary_b1() {
    let profile = profile(45_000);
    let read = read(profile.clone(), &mrz(), &ReadSettings::default()).expect("read");
    assert_eq!(
        read.file(LdsFile::Dg(2)),
        profile.files.get(&LdsFile::Dg(2)).map(Vec::as_slice)
    );
}

/// Chip authentication with finite-field DH (RFC 5114's groups): AES through MSE:Set AT and
/// GENERAL AUTHENTICATE after PACE, 3DES through MSE:Set KAT after BAC; a clone's key fails.
#[test]
fn chip_authentication_with_finite_field_dh_and_a_clone_fails_it() {
    use checkpointd::adapters::chip_sim::{dg14_for, ef_com};
    use checkpointd::core::chip::chip_auth::ChipAuthentication;
    use openssl::dh::Dh;
    use openssl::pkey::PKey;
    let key = |large: bool| {
        let group = if large {
            Dh::get_2048_256()
        } else {
            Dh::get_1024_160()
        };
        PKey::from_dhx(group.expect("group").generate_key().expect("key")).expect("pkey")
    };
    for (cipher, large, pace) in [(Cipher::Aes128, true, true), (Cipher::Tdes, false, false)] {
        let genuine = key(large);
        let mut profile = profile(2000);
        if !pace {
            profile.pace = None;
        }
        profile
            .files
            .insert(LdsFile::Dg(14), dg14_for(&genuine, cipher));
        profile.files.insert(LdsFile::Com, ef_com(&profile.files));
        profile.ca_key = Some(genuine);
        let read = read(profile.clone(), &mrz(), &ReadSettings::default()).expect("read");
        assert_eq!(
            read.chip_authentication,
            Some(ChipAuthentication::Verified),
            "{cipher:?}"
        );
        assert_eq!(
            read.file(LdsFile::Dg(2)),
            profile.files.get(&LdsFile::Dg(2)).map(Vec::as_slice)
        );
        profile.ca_key = Some(key(large));
        let clone = self::read(profile.clone(), &mrz(), &ReadSettings::default()).expect("clone");
        assert!(
            matches!(
                &clone.chip_authentication,
                Some(ChipAuthentication::Failed(_))
            ),
            "{cipher:?}: {:?}",
            clone.chip_authentication
        );
        assert_eq!(
            clone.file(LdsFile::Dg(2)),
            profile.files.get(&LdsFile::Dg(2)).map(Vec::as_slice)
        );
    }
}

#[test]
fn chip_authentication_rekeys_the_session_and_a_clone_fails_it() {
    use checkpointd::adapters::chip_sim::{dg14_for, ef_com};
    use checkpointd::core::chip::chip_auth::ChipAuthentication;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    let key = |nid| {
        PKey::from_ec_key(
            EcKey::generate(&EcGroup::from_curve_name(nid).expect("curve")).expect("key"),
        )
        .expect("pkey")
    };
    // AES through MSE:Set AT and GENERAL AUTHENTICATE; 3DES through MSE:Set KAT, after BAC.
    for (cipher, nid, pace) in [
        (Cipher::Aes128, Nid::BRAINPOOL_P256R1, true),
        (Cipher::Aes256, Nid::SECP384R1, true),
        (Cipher::Tdes, Nid::X9_62_PRIME256V1, false),
    ] {
        let genuine = key(nid);
        let mut profile = profile(2000);
        if !pace {
            profile.pace = None;
        }
        profile
            .files
            .insert(LdsFile::Dg(14), dg14_for(&genuine, cipher));
        profile.files.insert(LdsFile::Com, ef_com(&profile.files));
        profile.ca_key = Some(genuine);
        let read = read(profile.clone(), &mrz(), &ReadSettings::default()).expect("read");
        assert_eq!(
            read.chip_authentication,
            Some(ChipAuthentication::Verified),
            "{cipher:?}"
        );
        assert_eq!(
            read.file(LdsFile::Dg(2)),
            profile.files.get(&LdsFile::Dg(2)).map(Vec::as_slice)
        );
        // ICAO order: DG14 and chip authentication come before EF.SOD and the other groups,
        // which are then read under chip authentication's keys.
        let order: Vec<LdsFile> = read.files.iter().map(|(file, _)| *file).collect();
        assert_eq!(
            order[..3],
            [LdsFile::Com, LdsFile::Dg(14), LdsFile::Sod],
            "{cipher:?}"
        );

        // A clone copied DG14 but holds another key: its answer under the new keys fails.
        profile.ca_key = Some(key(nid));
        let clone = read_chip(
            &mut SimulatedChip::new(profile.clone()),
            &mrz(),
            &ReadSettings::default(),
            &mut rand::thread_rng(),
        )
        .expect("a clone's files are still read");
        assert!(
            matches!(
                &clone.chip_authentication,
                Some(ChipAuthentication::Failed(_))
            ),
            "{:?}",
            clone.chip_authentication
        );
        // A new session (access control again) reads the other files intact.
        assert_eq!(
            clone.file(LdsFile::Dg(2)),
            profile.files.get(&LdsFile::Dg(2)).map(Vec::as_slice)
        );
        assert_eq!(clone.access, read.access);

        // A chip that refuses chip authentication altogether fails it too.
        profile.ca_key = None;
        let refusing = read_chip(
            &mut SimulatedChip::new(profile),
            &mrz(),
            &ReadSettings::default(),
            &mut rand::thread_rng(),
        )
        .expect("read");
        assert!(
            matches!(&refusing.chip_authentication, Some(ChipAuthentication::Failed(why)) if why.contains("6982")),
            "{:?}",
            refusing.chip_authentication
        );
    }
    // Without DG14 there is nothing to run.
    let plain = read(profile(100), &mrz(), &ReadSettings::default()).expect("read");
    assert_eq!(plain.chip_authentication, None);
}

/// A document with a chip a CSCA vouches for: the specimen DG1, DG2, DG14 and EF.SOD signed by a
/// test document signer, PACE-CAM offered after GM in EF.CardAccess, and EF.CardSecurity (its
/// chip-authentication key, the chip's own) signed by the same signer (`spec` says how).
struct CamDocument {
    profile: ChipProfile,
    trust: checkpointd::core::passive_auth::TrustStore,
    printed: checkpointd::core::mrz::MrzReport,
}

fn cam_document(card_security_spec: &chip_pki::SignedSpec) -> CamDocument {
    use checkpointd::adapters::chip_sim::{card_security_content, dg14_for, ef_com};
    use checkpointd::core::lds::SECURITY_OBJECT;
    use chip_pki::{CertSpec, Hash, KeyKind, SignedSpec, Style, Y2020, YEAR};
    use der::Decode as _;
    let csca_key = chip_pki::key(KeyKind::P256, 0);
    let csca = chip_pki::certificate(&CertSpec::csca("UT", 1), &csca_key, None);
    let dsc_key = chip_pki::key(KeyKind::Brainpool256, 1);
    let dsc = chip_pki::certificate(
        &CertSpec::dsc("UT", 0x2A),
        &dsc_key,
        Some((&csca, &csca_key)),
    );
    let chip_key = chip_pki::key(KeyKind::Brainpool256, 7);
    let dg1 = chip_pki::dg1(chip_pki::SPECIMEN_TD3);
    let dg2 = chip_pki::data_group(0x75, 2_000, 0x11);
    let dg14 = dg14_for(&chip_key, Cipher::Aes128);
    let spec = SignedSpec::new(Hash::Sha256, Style::Ecdsa, Some(Y2020 + 5 * YEAR));
    let sod = chip_pki::sod(&[(1, &dg1), (2, &dg2), (14, &dg14)], &dsc, &dsc_key, &spec);
    let mut files = std::collections::BTreeMap::from([
        (LdsFile::Dg(1), dg1),
        (LdsFile::Dg(2), dg2),
        (LdsFile::Dg(14), dg14),
        (LdsFile::Sod, sod),
    ]);
    files.insert(LdsFile::Com, ef_com(&files));
    let mut profile = ChipProfile::new("L898902C3674081221204159", files);
    let (gm, cam) = (
        pace_info(Cipher::Aes128, 13),
        pace_info_cam(Cipher::Aes128, 13),
    );
    let content = card_security_content(&chip_key, Cipher::Aes128, &[gm.clone(), cam.clone()]);
    profile.pace = Some(gm);
    profile.more_pace = vec![cam];
    profile.card_security = Some(chip_pki::signed_data(
        &SECURITY_OBJECT.to_string(),
        &content,
        &dsc,
        &dsc_key,
        card_security_spec,
    ));
    profile.ca_key = Some(chip_key);
    let mut trust = checkpointd::core::passive_auth::TrustStore::new();
    let csca = x509_cert::Certificate::from_der(&csca.to_der().expect("DER")).expect("CSCA");
    trust.add_csca(csca).expect("CSCA taken");
    let printed = checkpointd::core::mrz::parse(
        chip_pki::SPECIMEN_TD3,
        &checkpointd::core::mrz::ParseOptions {
            mode: checkpointd::core::mrz::Mode::Tolerant,
            reference_date: jiff::civil::date(2010, 1, 1),
            french_national_id: false,
        },
    );
    CamDocument {
        profile,
        trust,
        printed,
    }
}

fn cam_spec() -> chip_pki::SignedSpec {
    use chip_pki::{Hash, SignedSpec, Style, Y2020, YEAR};
    SignedSpec::new(Hash::Sha256, Style::Ecdsa, Some(Y2020 + 5 * YEAR))
}

/// The CAM verdict and the decision's chip facts for a read of `document`'s chip.
fn cam_outcome(
    document: &CamDocument,
    profile: ChipProfile,
) -> (
    checkpointd::core::chip::reader::ChipRead,
    Option<Result<(), String>>,
    checkpointd::core::decision::ChipFacts,
) {
    use checkpointd::core::chip_evidence::{chip_authentication_mapping, weigh};
    let today = jiff::civil::date(2026, 6, 1);
    let read = read(profile, &mrz_of_specimen(), &ReadSettings::default()).expect("read");
    let verdict = chip_authentication_mapping(&read, &document.trust, today);
    let facts = weigh(&Ok(read.clone()), &document.printed, &document.trust, today).facts;
    (read, verdict, facts)
}

fn mrz_of_specimen() -> Password {
    Password::Mrz("L898902C3674081221204159".into())
}

#[test]
fn pace_cam_is_preferred_and_proves_the_chip_holds_the_key_ef_card_security_vouches_for() {
    use checkpointd::core::decision::ChipFacts;
    let document = cam_document(&cam_spec());
    let (read, verdict, facts) = cam_outcome(&document, document.profile.clone());
    assert_eq!(read.access, Access::Pace(Mapping::ChipAuthentication));
    assert_eq!(Mapping::ChipAuthentication.code(), "CAM");
    assert_eq!(read.card_security, document.profile.card_security);
    assert_eq!(verdict, Some(Ok(())));
    assert_eq!(facts, ChipFacts::Authentic);
    // PACE-CAM authenticated the chip: chip authentication over DG14 is not run again, yet
    // DG14 and every other file are read.
    assert_eq!(read.chip_authentication, None);
    for (file, bytes) in &document.profile.files {
        assert_eq!(read.file(*file), Some(bytes.as_slice()), "{}", file.name());
    }
}

#[test]
fn a_clone_fails_pace_cam_with_another_key_or_a_wrong_ca_ic() {
    use checkpointd::core::decision::ChipFacts;
    let document = cam_document(&cam_spec());
    // A clone copied EF.CardSecurity and every file, but holds another chip key.
    let mut clone = document.profile.clone();
    clone.ca_key = Some(chip_pki::key(chip_pki::KeyKind::Brainpool256, 8));
    let (read, verdict, facts) = cam_outcome(&document, clone);
    assert_eq!(read.access, Access::Pace(Mapping::ChipAuthentication));
    let why = verdict.expect("CAM ran").expect_err("another key");
    assert!(why.contains("PK_Map,IC"), "{why}");
    assert_eq!(facts, ChipFacts::CloneSuspected);
    // The right key but an altered CA_IC.
    let mut altered = document.profile.clone();
    altered.faults.wrong_cam_data = true;
    let (_, verdict, facts) = cam_outcome(&document, altered);
    assert!(matches!(verdict, Some(Err(_))), "{verdict:?}");
    assert_eq!(facts, ChipFacts::CloneSuspected);
    // No key at all: the token verifies but DO'8A' is missing.
    let mut keyless = document.profile.clone();
    keyless.ca_key = None;
    let (_, verdict, facts) = cam_outcome(&document, keyless);
    let why = verdict.expect("CAM ran").expect_err("no DO'8A'");
    assert!(why.contains("8A"), "{why}");
    assert_eq!(facts, ChipFacts::CloneSuspected);
}

#[test]
fn pace_cam_does_not_count_unless_ef_card_security_passes_passive_authentication() {
    use checkpointd::core::decision::ChipFacts;
    // EF.CardSecurity whose signature does not verify: the genuine chip's CAM does not count.
    let mut broken = cam_spec();
    broken.corrupt_signature = true;
    let document = cam_document(&broken);
    let (read, verdict, facts) = cam_outcome(&document, document.profile.clone());
    assert_eq!(read.access, Access::Pace(Mapping::ChipAuthentication));
    let why = verdict.expect("CAM ran").expect_err("not verified");
    assert!(why.contains("sod_signature_invalid"), "{why}");
    assert_eq!(facts, ChipFacts::CloneSuspected);
    // Signed over other content than it carries (messageDigest): the same.
    let mut mismatched = cam_spec();
    mismatched.wrong_message_digest = true;
    let document = cam_document(&mismatched);
    let (_, verdict, _) = cam_outcome(&document, document.profile.clone());
    assert!(matches!(verdict, Some(Err(_))), "{verdict:?}");
    // A chip offering CAM without EF.CardSecurity.
    let document = cam_document(&cam_spec());
    let mut without = document.profile.clone();
    without.card_security = None;
    let (_, verdict, facts) = cam_outcome(&document, without);
    assert_eq!(verdict, Some(Err("EF.CardSecurity was not read".into())));
    assert_eq!(facts, ChipFacts::CloneSuspected);
    // A CSCA the terminal does not hold: EF.SOD's trust fails first, the chip is referred.
    let mut untrusted = cam_document(&cam_spec());
    untrusted.trust = checkpointd::core::passive_auth::TrustStore::new();
    let (_, verdict, facts) = cam_outcome(&untrusted, untrusted.profile.clone());
    assert!(matches!(verdict, Some(Err(why)) if why.contains("dsc_not_trusted")));
    assert!(matches!(facts, ChipFacts::CscaUnknown { .. }), "{facts:?}");
}

#[test]
fn a_3des_cam_pace_info_is_not_run() {
    let mut profile = profile(300);
    profile.pace = Some(pace_info_cam(Cipher::Tdes, 13));
    let settings = ReadSettings {
        refuse_bac_fallback: true,
        ..ReadSettings::default()
    };
    let error = read(profile.clone(), &mrz(), &settings).expect_err("3DES CAM");
    assert!(
        error
            .to_string()
            .contains("CAM mapping over ECDH with 3DES"),
        "{error}"
    );
    let read = read(profile, &mrz(), &ReadSettings::default()).expect("BAC");
    assert_eq!(read.access, Access::Bac);
}
