//! Writes the seed corpora under `fuzz/corpus/<target>/` with the project's own encoders and
//! signers (fixed keys the fuzz targets trust), so every target starts from valid input.
//! Run: `scripts/fuzz --seed` (or `cargo run --manifest-path fuzz/seeds/Cargo.toml -- fuzz/corpus`).

use std::fs;
use std::path::{Path, PathBuf};

/// The tests' own chip PKI (CSCA, document signer, EF.SOD, CRL, master list).
#[path = "../../../tests/chip_pki/mod.rs"]
mod chip_pki;

use checkpointd::adapters::ledger::Snapshot;
use checkpointd::core::event::{
    self, ClockState, Crossing, CrossingEvent, Direction, EventHash, Grounds, Operator,
    StayFigures, TerminalId, Traveller, Verdict,
};
use checkpointd::core::frame::serial::{ETX, STX};
use checkpointd::core::frame::ssi::{self, SsiPacket};
use checkpointd::core::ledger::permit_check::index_of;
use checkpointd::core::ledger::{
    AlertKind, AlertLifted, AlertRaised, Change, Checkpoint, IssuerKeyAdded, PermitIssued,
    PermitRevoked, Registration, SignedCheckpoint, StayExtension, TerminalKeyAdded, extend,
};
use checkpointd::core::permit::{
    PermitBody, PermitClaims, PermitHolder, PermitType, key_id, sign_permit,
};
use checkpointd::core::privacy::{DocumentNumber, PersonName};
use image::{ImageFormat, Luma};
use jiff::Timestamp;

/// Issuer key of the BP1 seeds (the `bp1` target trusts it).
const ISSUER_SEED: [u8; 32] = [1; 32];
/// Root key of the checkpoint seeds (the ledger targets pin it).
const ROOT_SEED: [u8; 32] = [9; 32];
/// Terminal key of the event seeds (the `crossing_event` target knows it as `T1`).
const TERMINAL_SEED: [u8; 32] = [7; 32];

const TD3: &str = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\n\
                   L898902C36UTO7408122F1204159ZE184226B<<<<<10";
const TD1: &str = "I<UTOD231458907<<<<<<<<<<<<<<<\n\
                   7408122F1204159UTO<<<<<<<<<<<6\n\
                   ERIKSSON<<ANNA<MARIA<<<<<<<<<<";
const TD2: &str = "I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<\n\
                   D231458907UTO7408122F1204159<<<<<<<6";
const MRV_A: &str = "V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\n\
                     L8988901C4XXX4009078F96121096ZE184226B<<<<<<";
const FRENCH_ID: &str = "IDFRADOUEL<<<<<<<<<<<<<<<<<<<<932013\n\
                         0506932020438CHRISTIANE<<NI2906209F3";

fn at(text: &str) -> Timestamp {
    text.parse().expect("a literal timestamp")
}

fn date(text: &str) -> jiff::civil::Date {
    text.parse().expect("a literal date")
}

struct Out {
    root: PathBuf,
}

impl Out {
    fn write(&self, target: &str, name: &str, bytes: impl AsRef<[u8]>) {
        let dir = self.root.join(target);
        fs::create_dir_all(&dir).expect("create the corpus directory");
        fs::write(dir.join(name), bytes).expect("write a seed");
    }

    fn copy(&self, target: &str, from: &Path) {
        let name = from.file_name().expect("a file name");
        let bytes = fs::read(from).unwrap_or_else(|e| panic!("read {}: {e}", from.display()));
        self.write(target, &name.to_string_lossy(), bytes);
    }
}

fn permit_body(permit_type: PermitType) -> PermitBody {
    PermitBody {
        permit_type,
        holder: PermitHolder {
            issuing_state: "UTO".into(),
            document_number: DocumentNumber::new("L898902C3"),
            birth_date: date("1974-08-12"),
            nationality: "UTO".into(),
            name: PersonName::new("ERIKSSON ANNA MARIA"),
        },
        valid_from: date("2026-01-01"),
        valid_until: date("2027-06-30"),
        employer: (permit_type == PermitType::WorkPermit).then(|| "Caspian Build LLC".into()),
        entries: None,
        region: None,
    }
}

fn bp1(permit_type: PermitType, permit_id: u8) -> String {
    let key = event::SigningKey::from_bytes(&ISSUER_SEED);
    let claims = PermitClaims {
        issuer: "UTO-MIGRATION".into(),
        issued_at: at("2025-12-01T00:00:00Z"),
        not_before: at("2026-01-01T00:00:00Z"),
        expires_at: at("2027-06-30T23:59:59Z"),
        permit_id: [permit_id; 16],
    };
    sign_permit(
        &permit_body(permit_type),
        &claims,
        &key,
        key_id(&key.verifying_key()),
    )
}

fn crossing_event(seq: u64, prev_hash: EventHash) -> CrossingEvent {
    CrossingEvent {
        v: event::EVENT_FORMAT_VERSION,
        event_id: format!("{seq:032x}"),
        terminal: TerminalId::new("T1").expect("a valid terminal id"),
        seq,
        prev_hash,
        wall_time: at("2026-11-23T08:00:00Z"),
        time_zone: "Asia/Baku".into(),
        utc_offset_s: 4 * 3600,
        clock: ClockState {
            last_sync_age_s: Some(5),
            monotonic_ns: seq,
            behind_high_water_ms: None,
        },
        crossing: Crossing {
            checkpoint: "GYD".into(),
            lane: "3".into(),
            direction: if seq % 2 == 1 {
                Direction::Entry
            } else {
                Direction::Exit
            },
            traveller: Traveller {
                document_type: "P".into(),
                issuing_state: "UTO".into(),
                nationality: "UTO".into(),
                birth_date: "740812".into(),
                sex: "F".into(),
                document_number: DocumentNumber::new("L898902C3"),
            },
            grounds: Grounds {
                permit_cti: (seq == 2).then(|| "07".repeat(16)),
                evisa: None,
            },
            verdict: Verdict::Admit,
            reason_codes: vec!["VISA_FREE".into()],
            operator: Operator::Officer("O-17".into()),
            ledger_age_s: Some(60),
            stay: Some(StayFigures {
                days_used: 3,
                latest_legal_exit: Some(date("2026-12-01")),
                overstay_days: 0,
            }),
            clock_sync_age_s: Some(5),
            officer_override: None,
            referral: None,
            second_line: None,
            alert_acknowledged: None,
            watchlist: None,
        },
    }
}

/// The changes of a small ledger: keys, a permit, its revocation, stay facts and an alert.
fn ledger_changes() -> Vec<Change> {
    let issuer = event::SigningKey::from_bytes(&ISSUER_SEED).verifying_key();
    let terminal = event::SigningKey::from_bytes(&TERMINAL_SEED).verifying_key();
    let work = bp1(PermitType::WorkPermit, 7);
    let index = index_of(&work).expect("the seed permit decodes");
    let holder = index.holder;
    vec![
        Change::IssuerKeyAdded(IssuerKeyAdded {
            kid: key_id(&issuer),
            public_key: issuer.to_bytes(),
            sign_from: at("2025-01-01T00:00:00Z"),
            sign_until: at("2027-01-01T00:00:00Z"),
            verify_until: at("2032-01-01T00:00:00Z"),
            permit_types: Vec::new(),
        }),
        Change::TerminalKeyAdded(TerminalKeyAdded {
            terminal_id: "T1".into(),
            public_key: terminal.to_bytes(),
            valid_from: at("2026-01-01T00:00:00Z"),
            valid_until: at("2028-01-01T00:00:00Z"),
        }),
        Change::PermitIssued(PermitIssued { bp1: work, index }),
        Change::StayExtension(StayExtension {
            holder,
            until: date("2026-12-31"),
            reference: "EXT-2026-0042".into(),
        }),
        Change::Registration(Registration {
            holder,
            valid_from: date("2026-02-01"),
            valid_until: date("2026-08-01"),
            place: "Baku, Nizami 12".into(),
        }),
        Change::Alert(AlertRaised {
            holder,
            alert: AlertKind::EntryBan {
                until: date("2027-01-01"),
            },
            note: "court order 17/2026".into(),
        }),
        Change::AlertLifted(AlertLifted { alert_id: 6 }),
        Change::PermitRevoked(PermitRevoked {
            cti: [7; 16],
            reason: "holder request".into(),
        }),
    ]
}

fn hid_pos_report(aim: &[u8; 3], data: &[u8], more: bool) -> Vec<u8> {
    let mut report = vec![0u8; 64];
    report[0] = 0x02;
    report[1] = u8::try_from(data.len()).expect("seed data fits one report");
    report[2..5].copy_from_slice(aim);
    report[5..5 + data.len()].copy_from_slice(data);
    report[63] = u8::from(more);
    report
}

/// Boot keyboard reports typing `text` (upper case, digits, `<`) then Enter, key-up between keys.
fn keyboard_reports(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for byte in text.bytes().chain(std::iter::once(b'\n')) {
        let (modifier, usage) = match byte {
            b'A'..=b'Z' => (0x02, 0x04 + (byte - b'A')),
            b'1'..=b'9' => (0x00, 0x1e + (byte - b'1')),
            b'0' => (0x00, 0x27),
            b'<' => (0x02, 0x36),
            b'\n' => (0x00, 0x28),
            _ => continue,
        };
        out.extend_from_slice(&[modifier, 0, usage, 0, 0, 0, 0, 0]);
        out.extend_from_slice(&[0; 8]);
    }
    out
}

/// `DevicePipeline` seed: set-up byte (input kind, AIM, content), pace byte, then the stream.
fn pipeline_seed(setup: u8, pace: u8, stream: &[u8]) -> Vec<u8> {
    [&[setup, pace][..], stream].concat()
}

fn qr_png(text: &str, module_px: u32) -> Vec<u8> {
    let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::Q)
        .expect("the seed text fits a QR code");
    let image = code
        .render::<Luma<u8>>()
        .module_dimensions(module_px, module_px)
        .build();
    let mut bytes = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut bytes, ImageFormat::Png)
        .expect("encode a PNG in memory");
    bytes.into_inner()
}

fn main() {
    let root = std::env::args()
        .nth(1)
        .map_or_else(|| PathBuf::from("fuzz/corpus"), PathBuf::from);
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Out { root };

    // MRZ text as the OCR reader delivers it (LF or CR line ends).
    for (name, text) in [
        ("td3", TD3),
        ("td1", TD1),
        ("td2", TD2),
        ("mrv-a", MRV_A),
        ("fr-id", FRENCH_ID),
    ] {
        out.write("mrz", name, text);
    }
    out.write("mrz", "td3-cr", format!("{}\r", TD3.replace('\n', "\r")));

    // Byte streams: CR-framed MRZ with AIM-prefixed QR, STX/ETX frames, SSI decode data.
    let bp1_short = bp1(PermitType::EvisaSingle, 3);
    let cr_stream = format!("{}\r]Q1{bp1_short}\r", TD3.replace('\n', "\r"));
    let stx_stream = [
        &[STX][..],
        b"]Q1HELLO",
        &[ETX],
        &[STX],
        TD1.replace('\n', "\r").as_bytes(),
        &[ETX],
    ]
    .concat();
    let ssi_stream = {
        let mut packet = SsiPacket::host(ssi::OP_DECODE_DATA, [&[0x1b][..], b"HELLO-SSI"].concat());
        packet.source = ssi::SOURCE_DECODER;
        let mut first = packet.clone();
        first.status = ssi::STATUS_CONTINUATION;
        [
            first.encode().expect("fits"),
            packet.encode().expect("fits"),
        ]
        .concat()
    };
    let menu_reply = b"\x16M\r232BAD5\x06;AIMENA1\x06.".to_vec();
    out.write(
        "serial_framer",
        "cr-mrz-qr",
        [&[17][..], cr_stream.as_bytes()].concat(),
    );
    out.write(
        "serial_framer",
        "stx-etx",
        [&[5][..], &stx_stream[..]].concat(),
    );
    out.write("serial_framer", "ssi", [&[3][..], &ssi_stream[..]].concat());
    out.write(
        "serial_framer",
        "crlf",
        [&[9][..], b"]C1ABC123\r\n]Q1XYZ\r\n".as_slice()].concat(),
    );
    out.write(
        "serial_framer",
        "menu-reply",
        [&[4][..], &menu_reply[..]].concat(),
    );

    // Pipeline set-up byte: low 3 bits input kind (0 CR, 1 CRLF, 2 STX/ETX, 3 SSI, 4 HID POS,
    // 5 keyboard), 0x08 ACK/NAK, 0x10 AIM, bits 5.. content (0 symbol, 1 MRZ, 2 auto).
    let auto = 2 << 5;
    let mrz = 1 << 5;
    out.write(
        "device_pipeline",
        "serial-cr-auto",
        pipeline_seed(auto | 0x10 | 0x08, 63, cr_stream.as_bytes()),
    );
    out.write(
        "device_pipeline",
        "serial-cr-mrz-lines-late",
        pipeline_seed(mrz, 0xc0 | 44, TD3.replace('\n', "\r").as_bytes()),
    );
    out.write(
        "device_pipeline",
        "serial-stx",
        pipeline_seed(2 | auto | 0x10, 7, &stx_stream),
    );
    out.write(
        "device_pipeline",
        "ssi",
        pipeline_seed(3 | auto, 15, &ssi_stream),
    );
    let hid = [
        hid_pos_report(b"]Q1", b"BP1:PART-ONE-", true),
        hid_pos_report(b"]Q1", b"PART-TWO", false),
    ]
    .concat();
    out.write(
        "device_pipeline",
        "hid-pos",
        pipeline_seed(4 | auto, 63, &hid),
    );
    out.write(
        "device_pipeline",
        "keyboard-td3",
        pipeline_seed(5 | auto, 7, &keyboard_reports(TD3)),
    );

    // HID: a HID POS descriptor plus reports, and keyboard reports.
    let pos_descriptor: &[u8] = &[
        0x05, 0x8c, 0x09, 0x02, 0xa1, 0x01, 0x09, 0x12, 0xa1, 0x02, 0x85, 0x02, 0x15, 0x00, 0x26,
        0xff, 0x00, 0x75, 0x08, 0x95, 0x3f, 0x09, 0xfe, 0x81, 0x02, 0xc0, 0xc0,
    ];
    let boot_keyboard: &[u8] = &[
        0x05, 0x01, 0x09, 0x06, 0xa1, 0x01, 0x05, 0x07, 0x19, 0xe0, 0x29, 0xe7, 0x15, 0x00, 0x25,
        0x01, 0x75, 0x01, 0x95, 0x08, 0x81, 0x02, 0x95, 0x01, 0x75, 0x08, 0x81, 0x01, 0x95, 0x05,
        0x75, 0x01, 0x05, 0x08, 0x19, 0x01, 0x29, 0x05, 0x91, 0x02, 0x95, 0x01, 0x75, 0x03, 0x91,
        0x01, 0x95, 0x06, 0x75, 0x08, 0x15, 0x00, 0x25, 0x65, 0x05, 0x07, 0x19, 0x00, 0x29, 0x65,
        0x81, 0x00, 0xc0,
    ];
    out.write("hid_report", "pos-descriptor", pos_descriptor);
    out.write("hid_report", "boot-keyboard-descriptor", boot_keyboard);
    out.write("hid_report", "pos-reports", &hid);
    out.write(
        "hid_report",
        "keyboard-reports",
        keyboard_reports("L898902C36UTO"),
    );

    // BP1: signed by the issuer the target trusts.
    out.write("bp1", "work-permit", bp1(PermitType::WorkPermit, 7));
    out.write("bp1", "evisa", &bp1_short);

    // QR images: the BP1 text and a short text, as small PNGs; one BMP.
    out.write("qr_image", "bp1.png", qr_png(&bp1_short, 2));
    out.write("qr_image", "hello.png", qr_png("HELLO", 3));
    {
        let code = qrcode::QrCode::new(b"BMP").expect("fits");
        let image = code.render::<Luma<u8>>().module_dimensions(2, 2).build();
        let mut bytes = std::io::Cursor::new(Vec::new());
        image
            .write_to(&mut bytes, ImageFormat::Bmp)
            .expect("encode a BMP in memory");
        out.write("qr_image", "bmp.bmp", bytes.into_inner());
    }
    // The spool's worker path reads the same pictures.
    out.write("spool_image", "bp1.png", qr_png(&bp1_short, 2));
    out.write("spool_image", "hello.png", qr_png("HELLO", 3));

    // Ledger: each entry alone, a signed checkpoint, and a snapshot of the whole chain.
    let root_key = event::SigningKey::from_bytes(&ROOT_SEED);
    let (entries, head) = extend(0, [0; 32], ledger_changes(), at("2026-11-01T00:00:00Z"));
    for (n, bytes) in entries.iter().enumerate() {
        out.write("ledger_entry", &format!("entry-{:02}", n + 1), bytes);
    }
    let checkpoint = Checkpoint {
        size: entries.len() as u64,
        root: head,
        time: at("2026-11-01T00:00:01Z"),
    };
    let signed = SignedCheckpoint::sign(&checkpoint, std::slice::from_ref(&root_key));
    out.write("ledger_entry", "checkpoint", signed.encode());
    let snapshot = Snapshot {
        checkpoint: signed.encode(),
        entries: entries
            .iter()
            .cloned()
            .map(checkpointd_value_bytes)
            .collect(),
    };
    out.write("ledger_snapshot", "snapshot", snapshot.encode());
    let first_two = extend(
        0,
        [0; 32],
        ledger_changes().into_iter().take(3).collect(),
        at("2026-11-01T00:00:00Z"),
    );
    let small = SignedCheckpoint::sign(
        &Checkpoint {
            size: 3,
            root: first_two.1,
            time: at("2026-11-01T00:00:01Z"),
        },
        std::slice::from_ref(&root_key),
    );
    let snapshot = Snapshot {
        checkpoint: small.encode(),
        entries: first_two
            .0
            .into_iter()
            .map(checkpointd_value_bytes)
            .collect(),
    };
    out.write("ledger_snapshot", "snapshot-3", snapshot.encode());

    // Crossing events: a chain of two signed by T1's key.
    let terminal_key = event::SigningKey::from_bytes(&TERMINAL_SEED);
    let first = event::sign(&crossing_event(1, event::GENESIS_HASH), &terminal_key).expect("sign");
    let second =
        event::sign(&crossing_event(2, EventHash::of(&first)), &terminal_key).expect("sign");
    out.write("crossing_event", "event-1", &first);
    out.write("crossing_event", "event-2", &second);

    check_seeds(&snapshot_bytes(&out), &first);
    chip_seeds(&out);

    // Configuration files as shipped.
    out.copy("config", &repo.join("firmware-config/checkpoint.toml"));
    out.copy(
        "stay_rules_toml",
        &repo.join("firmware-config/stay-rules.toml"),
    );
    for entry in fs::read_dir(repo.join("devices")).expect("devices/") {
        let path = entry.expect("a directory entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            out.copy("device_profile", &path);
        }
    }
    for entry in
        fs::read_dir(repo.join("firmware-config/scanners")).expect("firmware-config/scanners/")
    {
        let path = entry.expect("a directory entry").path();
        out.write(
            "device_profile",
            &format!(
                "programming-{}",
                path.file_name().expect("name").to_string_lossy()
            ),
            fs::read(&path).expect("read"),
        );
    }
}

/// EF.SOD (ECDSA and RSA-PSS), a master list, a CSCA and a CRL for `chip_sod`; DG1 of each
/// chip-bearing format for `chip_dg`. Keys are made afresh: the targets trust none.
fn chip_seeds(out: &Out) {
    use chip_pki::{CertSpec, Hash, KeyKind, SignedSpec, Style};
    let dg1 = chip_pki::dg1(TD3);
    for (name, kind, style) in [
        ("sod-brainpool", KeyKind::Brainpool256, Style::Ecdsa),
        ("sod-rsa-pss", KeyKind::Rsa2048, Style::Pss),
    ] {
        let csca_key = chip_pki::key(kind, 0);
        let csca = chip_pki::certificate(&CertSpec::csca("UT", 1), &csca_key, None);
        let dsc_key = chip_pki::key(kind, 1);
        let dsc =
            chip_pki::certificate(&CertSpec::dsc("UT", 2), &dsc_key, Some((&csca, &csca_key)));
        let spec = SignedSpec::new(
            Hash::Sha256,
            style,
            Some(chip_pki::Y2020 + 5 * chip_pki::YEAR),
        );
        out.write(
            "chip_sod",
            name,
            chip_pki::sod(&[(1, &dg1)], &dsc, &dsc_key, &spec),
        );
        if kind == KeyKind::Brainpool256 {
            let list = chip_pki::master_list(&[csca.to_der().expect("DER")], &dsc, &dsc_key, &spec);
            out.write("chip_sod", "master-list", list);
            out.write("chip_sod", "csca.pem", csca.to_pem().expect("PEM"));
            let crl = chip_pki::crl(&csca, &csca_key, &[2], chip_pki::Y2020);
            out.write("chip_sod", "crl", crl);
            // EF.CardSecurity of a PACE-CAM chip: its CA key and PACEInfos, signed by the DSC.
            use checkpointd::adapters::chip_sim::{card_security_content, pace_info_cam};
            use checkpointd::core::chip::crypto::Cipher;
            let chip_key = chip_pki::key(KeyKind::Brainpool256, 7);
            let pace = [pace_info_cam(Cipher::Aes128, 13)];
            let content = card_security_content(&chip_key, Cipher::Aes128, &pace);
            let card_security =
                chip_pki::signed_data("0.4.0.127.0.7.3.2.1", &content, &dsc, &dsc_key, &spec);
            out.write("chip_sod", "card-security", card_security);
        }
    }
    for (name, zone) in [("dg1-td3", TD3), ("dg1-td1", TD1), ("dg1-td2", TD2)] {
        out.write("chip_dg", name, chip_pki::dg1(zone));
    }
}

fn snapshot_bytes(out: &Out) -> Vec<u8> {
    fs::read(out.root.join("ledger_snapshot/snapshot")).expect("the snapshot seed was written")
}

/// The seeds must be valid all the way through, or the targets never reach the deep code.
fn check_seeds(snapshot: &[u8], event_bytes: &[u8]) {
    use checkpointd::core::ledger::permit_check::Bp1Verification;
    use checkpointd::core::ledger::{
        Cursor, MemoryState, RootKey, RootSet, apply_entry, verify_batch,
    };
    use checkpointd::core::permit::{IssuerKey, NoRevocations, PermitVerdict, TrustList, verify};

    let root = event::SigningKey::from_bytes(&ROOT_SEED)
        .verifying_key()
        .to_bytes();
    let roots = RootSet::new(vec![RootKey::from_bytes(&root).expect("root")], 1).expect("roots");
    let snapshot = Snapshot::decode(snapshot).expect("the snapshot seed decodes");
    let signed = SignedCheckpoint::decode(&snapshot.checkpoint).expect("its checkpoint decodes");
    let checkpoint = roots.verify(&signed).expect("its checkpoint verifies");
    let encoded = snapshot
        .entries
        .into_iter()
        .map(|v| v.into_bytes().expect("entries are byte strings"))
        .collect();
    let batch = verify_batch(&Cursor::EMPTY, encoded, checkpoint).expect("the chain verifies");
    let mut state = MemoryState::default();
    for (entry, _) in &batch.entries {
        apply_entry(&mut state, entry, &Bp1Verification).expect("every seed entry applies");
    }

    let issuer = event::SigningKey::from_bytes(&ISSUER_SEED).verifying_key();
    let trust = TrustList::new(vec![IssuerKey {
        kid: key_id(&issuer),
        public_key: issuer.to_bytes(),
        sign_from: at("2000-01-01T00:00:00Z"),
        sign_until: at("2100-01-01T00:00:00Z"),
        verify_until: at("2100-01-01T00:00:00Z"),
        permitted: Vec::new(),
    }])
    .expect("trust list");
    let verdict = verify(
        &bp1(PermitType::WorkPermit, 7),
        &trust,
        &NoRevocations,
        at("2026-11-23T08:00:00Z"),
        jiff::SignedDuration::from_secs(300),
    );
    assert!(
        matches!(verdict, PermitVerdict::Valid(_)),
        "the BP1 seed verifies"
    );

    let terminal = event::SigningKey::from_bytes(&TERMINAL_SEED).verifying_key();
    let keys = std::collections::HashMap::from([(TerminalId::new("T1").expect("id"), terminal)]);
    assert!(
        matches!(
            event::verify(event_bytes, &keys),
            event::Verification::Valid(..)
        ),
        "the event seed verifies"
    );
}

/// A snapshot carries each entry as a CBOR byte string.
fn checkpointd_value_bytes(bytes: Vec<u8>) -> ciborium::Value {
    ciborium::Value::Bytes(bytes)
}
