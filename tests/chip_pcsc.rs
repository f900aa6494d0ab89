//! End to end through the real PC/SC stack with no hardware: a private pcscd (in its own mount
//! namespace, so its socket is a temporary file) with vsmartcard's vpcd driver, the software
//! chip on vpcd's socket, and `checkpointctl chip read` as the client. Needs root (the mount
//! namespace) and Debian's `pcscd` and `vsmartcard-vpcd`, which `scripts/test` installs.

mod chip_pki;
mod pcsc_stack;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use checkpointd::adapters::chip_sim::{
    ChipProfile, Faults, card_security_content, dg14_for, ef_com, pace_info, pace_info_cam,
    pace_info_dh, pace_info_integrated,
};
use checkpointd::core::chip::crypto::Cipher;
use checkpointd::core::chip::lds::LdsFile;
use chip_pki::{CertSpec, Hash, KeyKind, SignedSpec, Style, Y2020, YEAR};
use pcsc_stack::{SLOT0, Stack, require_tools, serve, slot_listeners, start_pcscd};
use serde_json::Value;

/// The MRZ information of the specimen zone: number L898902C3 (6), born 740812 (2), expires 120415 (9).
const MRZ_INFORMATION: &str = "L898902C3674081221204159";

/// The stack with `chip` in both of vpcd's slots.
fn start(chip: ChipProfile) -> Stack {
    pcsc_stack::start(chip.clone(), chip)
}

/// `checkpointctl chip read` against the stack, killed if it runs over 30 s (a wedge).
fn chip_read(stack: &Stack, extra: &[&str]) -> (i32, Value, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_checkpointctl"));
    command
        .args(["chip", "read", "--reader", SLOT0, "--json"])
        .args(extra);
    let (code, stdout, stderr) = pcsc_stack::run_client(stack, &mut command);
    let json = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (code, json, stderr)
}

/// A chip holding the specimen DG1, a 20 KB DG2, DG14 and DG15 with their chip- and
/// active-authentication keys and an EF.SOD signed by a test DSC; returns
/// it with the CSCA's PEM path and the MRZ file in `root`.
fn document(root: &Path, dg1_zone: &str) -> (ChipProfile, String, String) {
    let csca_key = chip_pki::key(KeyKind::P256, 0);
    let csca = chip_pki::certificate(&CertSpec::csca("UT", 1), &csca_key, None);
    let dsc_key = chip_pki::key(KeyKind::Brainpool256, 1);
    let dsc = chip_pki::certificate(
        &CertSpec::dsc("UT", 0x2A),
        &dsc_key,
        Some((&csca, &csca_key)),
    );
    let dg1 = chip_pki::dg1(chip_pki::SPECIMEN_TD3);
    let dg2 = chip_pki::data_group(0x75, 20_000, 0x11);
    let spec = SignedSpec::new(Hash::Sha256, Style::Ecdsa, Some(Y2020 + 5 * YEAR));
    let aa_key = chip_pki::key(KeyKind::P256, 5);
    let dg15 =
        checkpointd::core::chip::tlv::encode(&[0x6F], &aa_key.public_key_to_der().expect("SPKI"));
    let ca_key = chip_pki::key(KeyKind::Brainpool256, 7);
    let dg14 = dg14_for(&ca_key, Cipher::Aes128);
    let sod = chip_pki::sod(
        &[(1, &dg1), (2, &dg2), (14, &dg14), (15, &dg15)],
        &dsc,
        &dsc_key,
        &spec,
    );
    let mut files = std::collections::BTreeMap::from([
        (LdsFile::Dg(1), chip_pki::dg1(dg1_zone)),
        (LdsFile::Dg(2), dg2),
        (LdsFile::Dg(14), dg14),
        (LdsFile::Dg(15), dg15),
        (LdsFile::Sod, sod),
    ]);
    files.insert(LdsFile::Com, ef_com(&files));
    let csca_path = root.join("csca.pem");
    std::fs::write(&csca_path, csca.to_pem().expect("PEM")).expect("CSCA file");
    let mrz_path = root.join("mrz.txt");
    std::fs::write(&mrz_path, format!("{}\n", chip_pki::SPECIMEN_TD3)).expect("MRZ file");
    let path = |p: PathBuf| p.to_str().expect("UTF-8").to_owned();
    let mut profile = ChipProfile::new(MRZ_INFORMATION, files);
    profile.aa_key = Some(aa_key);
    profile.ca_key = Some(ca_key);
    (profile, path(csca_path), path(mrz_path))
}

#[test]
fn a_genuine_chip_reads_with_pace_and_verifies_and_saves_its_files() {
    let root = tempfile::tempdir().expect("temp dir");
    let (profile, csca, mrz) = document(root.path(), chip_pki::SPECIMEN_TD3);
    let stack = start(profile.clone());
    let save = root.path().join("saved");
    let save = save.to_str().expect("UTF-8");
    let (code, json, stderr) = chip_read(&stack, &["--mrz", &mrz, "--csca", &csca, "--save", save]);
    assert_eq!(code, 0, "{json} {stderr}");
    assert_eq!(json["access"], "PACE");
    assert_eq!(json["pace_mapping"], "GM");
    assert_eq!(json["passive_authentication"], "valid", "{json}");
    assert_eq!(json["data_groups"]["DG1"], "valid");
    assert_eq!(json["data_groups"]["DG2"], "valid");
    assert_eq!(json["chip_authentication"], "valid");
    assert_eq!(json["data_groups"]["DG14"], "valid");
    assert_eq!(json["active_authentication"], "valid");
    assert_eq!(json["data_groups"]["DG15"], "valid");
    assert!(json["apdus"].as_u64().is_some_and(|n| n > 90), "{json}");
    assert!(
        json["bytes_read"].as_u64().is_some_and(|n| n > 20_000),
        "{json}"
    );
    assert!(json["elapsed_ms"].is_u64());
    for file in [LdsFile::Sod, LdsFile::Dg(1), LdsFile::Dg(2)] {
        let saved = std::fs::read(Path::new(save).join(file.name())).expect("saved file");
        assert_eq!(Some(&saved), profile.files.get(&file), "{}", file.name());
    }
    // The saved directory is what `chip verify` reads.
    let verified = Command::new(env!("CARGO_BIN_EXE_checkpointctl"))
        .args(["chip", "verify", save, "--json", "--csca", &csca])
        .output()
        .expect("verify runs");
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stdout)
    );
}

const VICC_HINT: &str =
    "install Debian's python3-virtualsmartcard and python3-pycryptodome (scripts/test does)";

/// Debian's vicc ePass emulator (an independent implementation of BAC and secure messaging)
/// on slot 0, holding the files in `files`, through the launcher that works around its
/// Python 3 bugs; a simulated chip on slot 1.
fn start_vicc(files: &Path, spare: ChipProfile) -> Stack {
    require_tools();
    let launcher = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vicc/epass.py");
    assert!(
        Path::new("/usr/lib/python3/site-packages/virtualsmartcard/virtualsmartcard").exists(),
        "vicc's module is missing: {VICC_HINT}"
    );
    let (slot0, slot1) = slot_listeners();
    let port = slot0.local_addr().expect("addr").port();
    // The launcher binds slot 0's port itself (on 127.0.0.1), before pcscd starts.
    drop(slot0);
    serve(slot1, spare);
    let mut card = Command::new("/usr/bin/python3")
        .arg(launcher)
        .arg(port.to_string())
        .arg(files)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start vicc ({e}): {VICC_HINT}"));
    let mut line = String::new();
    let stdout = card.stdout.take().expect("vicc stdout");
    let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line);
    if line.trim() != "listening" {
        let _ = card.kill();
        let _ = card.wait();
        panic!("vicc did not start (its error is above): {VICC_HINT}");
    }
    start_pcscd(port, Some(card))
}

/// The cross-check against an independent chip: vicc's ePass opens BAC and answers in its
/// own secure messaging; our reader reads EF.COM, EF.SOD, DG1 and a 20 KB DG2 from it, and
/// the files verify.
#[test]
fn vicc_an_independent_epass_reads_with_bac_and_its_files_verify() {
    let root = tempfile::tempdir().expect("temp dir");
    let (profile, csca, mrz) = document(root.path(), chip_pki::SPECIMEN_TD3);
    let files = root.path().join("vicc");
    std::fs::create_dir(&files).expect("files dir");
    // vicc's ePass has no DG14/DG15 (no CA or AA): EF.SOD lists DG1 and DG2 only, signed by
    // the document's DSC under the same CSCA (test keys are one per kind and slot).
    let dsc_key = chip_pki::key(KeyKind::Brainpool256, 1);
    let csca_key = chip_pki::key(KeyKind::P256, 0);
    let csca_cert = chip_pki::certificate(&CertSpec::csca("UT", 1), &csca_key, None);
    let dsc = chip_pki::certificate(
        &CertSpec::dsc("UT", 0x2A),
        &dsc_key,
        Some((&csca_cert, &csca_key)),
    );
    let dg1 = chip_pki::dg1(chip_pki::SPECIMEN_TD3);
    let dg2 = chip_pki::data_group(0x75, 20_000, 0x11);
    let spec = SignedSpec::new(Hash::Sha256, Style::Ecdsa, Some(Y2020 + 5 * YEAR));
    let sod = chip_pki::sod(&[(1, &dg1), (2, &dg2)], &dsc, &dsc_key, &spec);
    let mut lds = std::collections::BTreeMap::from([
        (LdsFile::Dg(1), dg1),
        (LdsFile::Dg(2), dg2),
        (LdsFile::Sod, sod),
    ]);
    lds.insert(LdsFile::Com, ef_com(&lds));
    for (file, bytes) in &lds {
        std::fs::write(files.join(file.name()), bytes).expect("vicc file");
    }
    let stack = start_vicc(&files, profile);
    let save = root.path().join("saved");
    let save = save.to_str().expect("UTF-8");
    let (code, json, stderr) = chip_read(&stack, &["--mrz", &mrz, "--csca", &csca, "--save", save]);
    assert_eq!(code, 0, "{json} {stderr}");
    assert_eq!(json["access"], "BAC");
    assert_eq!(json["pace_mapping"], Value::Null);
    assert_eq!(json["passive_authentication"], "valid", "{json}");
    assert_eq!(json["data_groups"]["DG1"], "valid");
    assert_eq!(json["data_groups"]["DG2"], "valid");
    assert_eq!(
        json["dg1_mrz"]["document_number"], "L898902C3",
        "{}",
        json["dg1_mrz"]
    );
    assert_eq!(json["chip_authentication"], "not_supported");
    assert_eq!(json["active_authentication"], "not_supported");
    for (file, bytes) in &lds {
        let saved = std::fs::read(Path::new(save).join(file.name())).expect("saved file");
        assert_eq!(&saved, bytes, "{}", file.name());
    }
}

/// A chip whose EF.CardAccess offers PACE with integrated mapping (ECDH, AES-256, P-256).
#[test]
fn a_chip_offering_integrated_mapping_reads_with_pace_im() {
    let root = tempfile::tempdir().expect("temp dir");
    let (mut profile, csca, mrz) = document(root.path(), chip_pki::SPECIMEN_TD3);
    profile.pace = Some(pace_info_integrated(Cipher::Aes256, 12));
    let stack = start(profile);
    let (code, json, stderr) = chip_read(&stack, &["--mrz", &mrz, "--csca", &csca]);
    assert_eq!(code, 0, "{json} {stderr}");
    assert_eq!(json["access"], "PACE");
    assert_eq!(json["pace_mapping"], "IM");
    assert_eq!(json["passive_authentication"], "valid", "{json}");
    assert_eq!(json["data_groups"]["DG1"], "valid");
    assert_eq!(json["chip_authentication"], "valid");
    assert_eq!(json["active_authentication"], "valid");
}

/// The document's chip offering PACE-CAM (after GM) with EF.CardSecurity signed by the
/// document's signer over its chip-authentication key (`corrupt`: the signature broken).
fn with_cam(profile: &mut ChipProfile, corrupt: bool) {
    let csca_key = chip_pki::key(KeyKind::P256, 0);
    let csca = chip_pki::certificate(&CertSpec::csca("UT", 1), &csca_key, None);
    let dsc_key = chip_pki::key(KeyKind::Brainpool256, 1);
    let dsc = chip_pki::certificate(
        &CertSpec::dsc("UT", 0x2A),
        &dsc_key,
        Some((&csca, &csca_key)),
    );
    let chip_key = chip_pki::key(KeyKind::Brainpool256, 7);
    let (gm, cam) = (
        pace_info(Cipher::Aes128, 13),
        pace_info_cam(Cipher::Aes128, 13),
    );
    let content = card_security_content(&chip_key, Cipher::Aes128, &[gm.clone(), cam.clone()]);
    let mut spec = SignedSpec::new(Hash::Sha256, Style::Ecdsa, Some(Y2020 + 5 * YEAR));
    spec.corrupt_signature = corrupt;
    profile.card_security = Some(chip_pki::signed_data(
        "0.4.0.127.0.7.3.2.1",
        &content,
        &dsc,
        &dsc_key,
        &spec,
    ));
    profile.pace = Some(gm);
    profile.more_pace = vec![cam];
}

/// PACE-CAM through pcscd and vpcd: the genuine chip proves its key (`chip_authentication`
/// from CAM), a clone with another key fails, and a CardSecurity whose signature does not
/// verify makes even the genuine chip's CAM not count; `--save` keeps EF.CardSecurity.
#[test]
fn pace_cam_reads_a_genuine_chip_and_a_clone_fails_it_through_pcsc() {
    let root = tempfile::tempdir().expect("temp dir");
    let (mut profile, csca, mrz) = document(root.path(), chip_pki::SPECIMEN_TD3);
    let dg2 = chip_pki::data_group(0x75, 500, 0x11);
    replace_files(&mut profile, vec![(LdsFile::Dg(2), dg2)]);
    with_cam(&mut profile, false);
    let stack = start(profile.clone());
    let save = root.path().join("saved");
    let save = save.to_str().expect("UTF-8");
    let (code, json, stderr) = chip_read(&stack, &["--mrz", &mrz, "--csca", &csca, "--save", save]);
    assert_eq!(code, 0, "{json} {stderr}");
    assert_eq!(json["access"], "PACE");
    assert_eq!(json["pace_mapping"], "CAM");
    assert_eq!(json["passive_authentication"], "valid", "{json}");
    assert_eq!(json["chip_authentication"], "valid", "{stderr}");
    assert_eq!(json["active_authentication"], "valid");
    let saved = std::fs::read(Path::new(save).join("EF.CardSecurity")).expect("saved");
    assert_eq!(Some(saved), profile.card_security);
    drop(stack);

    let mut clone = profile.clone();
    clone.ca_key = Some(chip_pki::key(KeyKind::Brainpool256, 8));
    let stack = start(clone);
    let (code, json, stderr) = chip_read(&stack, &["--mrz", &mrz, "--csca", &csca]);
    assert_eq!(code, 1, "{json} {stderr}");
    assert_eq!(json["pace_mapping"], "CAM");
    assert_eq!(json["passive_authentication"], "valid");
    assert_eq!(json["chip_authentication"], "failed");
    assert!(stderr.contains("PK_Map,IC"), "{stderr}");
    drop(stack);

    with_cam(&mut profile, true);
    let stack = start(profile);
    let (code, json, stderr) = chip_read(&stack, &["--mrz", &mrz, "--csca", &csca]);
    assert_eq!(code, 1, "{json} {stderr}");
    assert_eq!(json["passive_authentication"], "valid");
    assert_eq!(json["chip_authentication"], "failed");
    assert!(stderr.contains("sod_signature_invalid"), "{stderr}");
}

/// Finite-field DH through pcscd and vpcd: PACE DH-GM in RFC 5114's 2048-bit group and chip
/// authentication with a 2048-bit DH key, both with extended-length GENERAL AUTHENTICATE
/// (`--extended-length`); without it the reader refuses the mapping with a clear error.
#[test]
fn pace_and_chip_authentication_with_2048_bit_dh_run_through_pcsc_with_extended_length() {
    let root = tempfile::tempdir().expect("temp dir");
    let (mut profile, csca, mrz) = document(root.path(), chip_pki::SPECIMEN_TD3);
    let dh_key = openssl::dh::Dh::get_2048_256()
        .and_then(openssl::dh::Dh::generate_key)
        .and_then(openssl::pkey::PKey::from_dhx)
        .expect("DH key");
    replace_files(
        &mut profile,
        vec![
            (LdsFile::Dg(2), chip_pki::data_group(0x75, 500, 0x11)),
            (LdsFile::Dg(14), dg14_for(&dh_key, Cipher::Aes128)),
        ],
    );
    profile.ca_key = Some(dh_key);
    profile.pace = Some(pace_info_dh(Cipher::Aes128, 2));
    profile.bac = false;
    profile.extended_length = true;
    let stack = start(profile);
    let (code, json, stderr) = chip_read(
        &stack,
        &["--mrz", &mrz, "--csca", &csca, "--extended-length"],
    );
    assert_eq!(code, 0, "{json} {stderr}");
    assert_eq!(json["access"], "PACE");
    assert_eq!(json["pace_mapping"], "GM");
    assert_eq!(json["passive_authentication"], "valid", "{json}");
    assert_eq!(json["data_groups"]["DG14"], "valid");
    assert_eq!(json["chip_authentication"], "valid", "{stderr}");
    assert_eq!(json["active_authentication"], "valid");
    // Without extended length the 2048-bit group cannot run (Doc 9303-10 3.6.4, 3.6.5).
    let (code, json, stderr) = chip_read(
        &stack,
        &["--mrz", &mrz, "--csca", &csca, "--refuse-bac-fallback"],
    );
    assert_eq!((code, &json), (1, &Value::Null), "{stderr}");
    assert!(
        stderr.contains("need an extended-length APDU, which this reader does not carry"),
        "{stderr}"
    );
}

/// Swaps some of the document's data groups and signs EF.SOD again over the new set (a small
/// DG2 keeps a read to a few dozen APDUs, each a vpcd round trip).
fn replace_files(profile: &mut ChipProfile, files: Vec<(LdsFile, Vec<u8>)>) {
    let csca_key = chip_pki::key(KeyKind::P256, 0);
    let csca = chip_pki::certificate(&CertSpec::csca("UT", 1), &csca_key, None);
    let dsc_key = chip_pki::key(KeyKind::Brainpool256, 1);
    let dsc = chip_pki::certificate(
        &CertSpec::dsc("UT", 0x2A),
        &dsc_key,
        Some((&csca, &csca_key)),
    );
    profile.files.extend(files);
    let groups: Vec<(u8, &[u8])> = profile
        .files
        .iter()
        .filter_map(|(file, bytes)| match file {
            LdsFile::Dg(n) => Some((*n, bytes.as_slice())),
            _ => None,
        })
        .collect();
    let spec = SignedSpec::new(Hash::Sha256, Style::Ecdsa, Some(Y2020 + 5 * YEAR));
    let sod = chip_pki::sod(&groups, &dsc, &dsc_key, &spec);
    profile.files.insert(LdsFile::Sod, sod);
}

#[test]
fn a_bac_only_chip_with_an_altered_dg1_reads_with_bac_and_fails_passive_authentication() {
    let root = tempfile::tempdir().expect("temp dir");
    let altered = chip_pki::SPECIMEN_TD3.replace("ERIKSSON", "ERIKSSEN");
    let (mut profile, csca, mrz) = document(root.path(), &altered);
    profile.pace = None;
    let stack = start(profile);
    let (code, json, stderr) = chip_read(&stack, &["--mrz", &mrz, "--csca", &csca]);
    assert_eq!(code, 1, "{json} {stderr}");
    assert_eq!(json["access"], "BAC");
    assert_eq!(json["pace_mapping"], Value::Null);
    assert_eq!(json["passive_authentication"], "invalid");
    assert_eq!(json["data_groups"]["DG1"], "hash_mismatch");
    let errors = json["errors"].to_string();
    assert!(
        errors.contains("dg_hash_mismatch") && errors.contains("mrz_mismatch"),
        "{errors}"
    );
}

#[test]
fn a_cloned_chip_passes_passive_authentication_but_fails_active_authentication() {
    let root = tempfile::tempdir().expect("temp dir");
    let (mut profile, csca, _) = document(root.path(), chip_pki::SPECIMEN_TD3);
    // The clone copied every file, DG15 included, but not the chip's private key.
    profile.aa_key = Some(chip_pki::key(KeyKind::P256, 6));
    profile.can = Some("123456".into());
    let stack = start(profile);
    let (code, json, stderr) = chip_read(&stack, &["--can", "123456", "--csca", &csca]);
    assert_eq!(code, 1, "{json} {stderr}");
    assert_eq!(json["access"], "PACE", "the CAN opens PACE");
    assert_eq!(json["passive_authentication"], "valid");
    assert_eq!(json["active_authentication"], "failed");
    assert_eq!(
        json["chip_authentication"], "valid",
        "the clone kept the CA key"
    );
    drop(stack);

    // A clone without the chip-authentication key fails CA (its AA key was extracted).
    let (mut profile, csca, mrz) = document(root.path(), chip_pki::SPECIMEN_TD3);
    profile.ca_key = Some(chip_pki::key(KeyKind::Brainpool256, 8));
    let stack = start(profile);
    let (code, json, stderr) = chip_read(&stack, &["--mrz", &mrz, "--csca", &csca]);
    assert_eq!(code, 1, "{json} {stderr}");
    assert_eq!(json["passive_authentication"], "valid");
    assert_eq!(json["active_authentication"], "valid");
    assert_eq!(json["chip_authentication"], "failed", "{stderr}");
}

#[test]
fn a_wrong_mac_and_a_lost_field_fail_cleanly_without_hanging() {
    let root = tempfile::tempdir().expect("temp dir");
    let (mut profile, csca, mrz) = document(root.path(), chip_pki::SPECIMEN_TD3);
    profile.faults = Faults {
        wrong_mac_at_response: Some(5),
        ..Faults::default()
    };
    let stack = start(profile.clone());
    let (code, json, stderr) = chip_read(&stack, &["--mrz", &mrz, "--csca", &csca]);
    assert_eq!((code, &json), (1, &Value::Null), "{stderr}");
    assert!(stderr.contains("MAC does not verify"), "{stderr}");
    drop(stack);

    profile.faults = Faults {
        lose_field_in: Some(LdsFile::Dg(2)),
        ..Faults::default()
    };
    let stack = start(profile);
    let (code, _, stderr) = chip_read(&stack, &["--mrz", &mrz, "--csca", &csca]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("chip unreadable"), "{stderr}");
}

#[test]
fn no_matching_reader_is_a_usage_error() {
    let root = tempfile::tempdir().expect("temp dir");
    let (profile, _, mrz) = document(root.path(), chip_pki::SPECIMEN_TD3);
    let stack = start(profile);
    let output = Command::new(env!("CARGO_BIN_EXE_checkpointctl"))
        .args([
            "chip",
            "read",
            "--reader",
            "No Such Reader",
            "--mrz",
            &mrz,
            "--json",
        ])
        .env("PCSCLITE_CSOCK_NAME", &stack.socket)
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("Virtual PCD 00 00"));
}

/// The lane's chip step (`lane::chip::ChipLane` over `PcscChipReader`, the CSCA from a ledger
/// entry) against a genuine chip, one with an altered DG1 and a clone, each through a private
/// pcscd. pcsc-lite reads its socket's name once per process, so each document is read by this
/// test binary started again (`lane_chip_step_in_own_process`) with the stack's socket.
#[test]
fn the_lane_reads_a_genuine_an_altered_and_a_cloned_chip_through_pcsc() {
    let cases = [
        ("genuine", "chip_authentic"),
        ("altered", "chip_passive_auth_failed"),
        ("cloned", "chip_clone_suspected"),
    ];
    for (case, expected) in cases {
        let root = tempfile::tempdir().expect("temp dir");
        let zone = match case {
            "altered" => chip_pki::SPECIMEN_TD3.replace("ERIKSSON", "ERIKSSEN"),
            _ => chip_pki::SPECIMEN_TD3.to_owned(),
        };
        let (mut profile, csca, _) = document(root.path(), &zone);
        if case == "cloned" {
            profile.aa_key = Some(chip_pki::key(KeyKind::P256, 6));
            profile.ca_key = Some(chip_pki::key(KeyKind::Brainpool256, 8));
        }
        let stack = start(profile);
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                "lane_chip_step_in_own_process",
                "--ignored",
                "--nocapture",
            ])
            .env("PCSCLITE_CSOCK_NAME", &stack.socket)
            .env("CHIP_LANE_CSCA", &csca)
            .env("CHIP_LANE_EXPECT", expected)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("test binary runs");
        let deadline = Instant::now() + Duration::from_secs(30);
        while child.try_wait().expect("wait").is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("{case}: the lane's chip step hung");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let output = child.wait_with_output().expect("output");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("1 passed"),
            "{case}: {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[tokio::test]
#[ignore = "started by the_lane_reads_a_genuine_an_altered_and_a_cloned_chip_through_pcsc"]
async fn lane_chip_step_in_own_process() {
    use std::sync::{Arc, Mutex};

    use checkpointd::adapters::pcsc_reader::PcscChipReader;
    use checkpointd::core::chip::reader::ReadSettings;
    use checkpointd::core::ledger::state::{IndexConsistency, MemoryState, apply_entry};
    use checkpointd::core::ledger::{Change, CscaCertificate, Entry};
    use checkpointd::core::mrz::{self, ParseOptions};
    use checkpointd::lane::chip::{ChipLane, facts_code};

    let csca = std::env::var("CHIP_LANE_CSCA").expect("CHIP_LANE_CSCA set by the outer test");
    let expected =
        std::env::var("CHIP_LANE_EXPECT").expect("CHIP_LANE_EXPECT set by the outer test");
    let pem = std::fs::read(&csca).expect("CSCA file");
    let certificate = openssl::x509::X509::from_pem(&pem)
        .expect("CSCA PEM")
        .to_der()
        .expect("DER");
    // The CSCA reaches the lane through the ledger, as on a terminal.
    let mut ledger = MemoryState::default();
    let entry = Entry {
        seq: 1,
        prev: [0; 32],
        time: "2026-01-01T00:00:00Z".parse().expect("time"),
        change: Change::CscaAdded(CscaCertificate { certificate }),
    };
    apply_entry(&mut ledger, &entry, &IndexConsistency).expect("csca applied");
    let reader = PcscChipReader {
        pattern: "Virtual PCD 00 00".into(),
        extended_length: false,
        card_wait: Duration::from_secs(5),
    };
    let settings = ReadSettings {
        refuse_bac_fallback: true,
        ..ReadSettings::default()
    };
    let mut lane = ChipLane::new("chip", Arc::new(Mutex::new(reader)), settings);
    let today = jiff::civil::date(2026, 6, 1);
    let printed = mrz::parse(
        chip_pki::SPECIMEN_TD3,
        &ParseOptions {
            mode: mrz::Mode::Tolerant,
            reference_date: jiff::civil::date(2010, 1, 1),
            french_national_id: false,
        },
    );
    let evidence = lane
        .evidence(&printed, &ledger, today)
        .await
        .expect("the specimen MRZ gives an access key");
    assert_eq!(facts_code(&evidence.facts), expected, "{evidence:?}");
    assert_eq!(evidence.access, Some("PACE"));
    let record = evidence.record.expect("a chip was read");
    let pa = if expected == "chip_passive_auth_failed" {
        "invalid"
    } else {
        "valid"
    };
    assert_eq!(record.passive_authentication, pa);
    assert_eq!(record.dsc_country.as_deref(), Some("UT"));
    assert_eq!(record.dsc_serial.as_deref(), Some("2A"));
}
