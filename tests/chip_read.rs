//! Reading a simulated chip in process through the card-channel port: PACE and BAC, the BAC
//! fallback switch, adaptive READ BINARY, active and chip authentication, and the
//! misbehaviours a reader must survive.

use checkpointd::adapters::chip_sim::{
    ChipProfile, Faults, SimulatedChip, pace_info, pace_info_dh, pace_info_integrated, sample_files,
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

#[test]
fn a_2048_bit_dh_chip_without_extended_length_refuses_the_mapping() {
    let mut profile = dh_profile(Cipher::Aes128, 2);
    profile.extended_length = false;
    let settings = ReadSettings {
        refuse_bac_fallback: true,
        ..ReadSettings::default()
    };
    let error = read(profile, &mrz(), &settings).expect_err("no extended length");
    assert_eq!(
        error,
        ChipError::BacFallbackRefused {
            pace: "PACE mapping: chip answered status 6700".into()
        }
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
