//! The shipped profiles (scanners, the kiosk gate, contactless chip readers), programming
//! sequences and udev rules: all load, apply and agree.

use std::path::Path;

use checkpointd::adapters::devices::DeviceProfile;
use checkpointd::adapters::devices::chip_reader::{
    ChipReaderProfile, ChipReaderSettings, NoReaderName,
};
use checkpointd::adapters::devices::profile::{
    Transport, parse_profile, parse_programming, udev_rules,
};
use checkpointd::adapters::gate::GateProfile;

const RULES: &str = "systemd/70-checkpointd-scanners.rules";

/// What a file in `devices/` is, told by its tables: a chip reader (`[chip_reader]`), the
/// kiosk's gate (`[gate]`), else a scanner.
enum Kind {
    Scanner(DeviceProfile),
    Gate(GateProfile),
    ChipReader(ChipReaderProfile),
}

fn fail<T>(file: &Path, error: &dyn std::fmt::Display) -> T {
    panic!("{}: {error}", file.display())
}

/// Every shipped profile, loaded as its kind (a file that does not load fails the test).
fn all() -> Vec<(String, Kind)> {
    let mut files: Vec<_> = std::fs::read_dir("devices")
        .expect("devices/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|file| {
            let text = std::fs::read_to_string(file).expect("readable");
            let stem = file.file_stem().and_then(|s| s.to_str()).expect("stem");
            let tables: toml::Table = toml::from_str(&text).unwrap_or_else(|e| fail(file, &e));
            let kind = if ChipReaderProfile::is_chip_reader_profile(&text) {
                Kind::ChipReader(
                    ChipReaderProfile::from_toml(&text).unwrap_or_else(|e| fail(file, &e)),
                )
            } else if tables.contains_key("gate") {
                Kind::Gate(GateProfile::from_toml(&text).unwrap_or_else(|e| fail(file, &e)))
            } else {
                let profile = parse_profile(&text).unwrap_or_else(|e| fail(file, &e));
                assert_eq!(profile.name, stem, "name = file stem");
                Kind::Scanner(profile)
            };
            (stem.to_owned(), kind)
        })
        .collect()
}

fn profiles() -> Vec<DeviceProfile> {
    all()
        .into_iter()
        .filter_map(|(_, kind)| match kind {
            Kind::Scanner(profile) => Some(profile),
            _ => None,
        })
        .collect()
}

#[test]
fn every_profile_loads_and_applies() {
    let all = all();
    for (name, kind) in &all {
        match kind {
            Kind::Scanner(profile) => {
                if let Some(init) = &profile.init {
                    let file = Path::new("firmware-config/scanners").join(format!("{init}.toml"));
                    let text = std::fs::read_to_string(&file)
                        .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
                    parse_programming(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
                }
                // The pipeline a device of this profile feeds its frames through.
                let _ = profile.pipeline(None);
            }
            Kind::Gate(gate) => assert!(gate.reply_timeout_ms > 0, "{name}"),
            // What a `[[devices]]` entry naming the profile gets, alone and with its own keys.
            Kind::ChipReader(profile) => {
                match (
                    &profile.reader,
                    ChipReaderSettings::resolve(Some(profile), None, None),
                ) {
                    (Some(reader), Ok(settings)) => {
                        assert_eq!(&settings.pattern, reader, "{name}");
                        assert_eq!(settings.extended_length, profile.extended_length, "{name}");
                    }
                    (None, Err(NoReaderName)) => {}
                    (reader, settings) => panic!("{name}: {reader:?} gave {settings:?}"),
                }
                let own = ChipReaderSettings::resolve(Some(profile), Some("Reader"), Some(false))
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(own.pattern, "Reader", "{name}");
                assert!(!own.extended_length, "{name}");
            }
        }
    }
    assert!(all.iter().any(|(_, kind)| matches!(kind, Kind::Gate(_))));
}

#[test]
fn the_contactless_chip_readers_are_shipped() {
    let all = all();
    let chip = |name: &str| {
        all.iter().find_map(|(stem, kind)| match kind {
            Kind::ChipReader(profile) if stem == name => Some(profile),
            _ => None,
        })
    };
    for name in [
        "pcsc-generic-contactless",
        "acs-acr1252u",
        "identiv-utrust-3700f",
        "hid-omnikey-5022",
        "hid-omnikey-5422",
        "fullpage-chip-reader",
    ] {
        assert!(chip(name).is_some(), "{name}");
    }
    // Unknown readers keep to short APDUs; the 5422's pattern leaves its contact slot out.
    assert!(
        !chip("pcsc-generic-contactless")
            .expect("generic")
            .extended_length
    );
    assert!(
        !chip("fullpage-chip-reader")
            .expect("fullpage")
            .extended_length
    );
    let omnikey = chip("hid-omnikey-5422").expect("5422");
    assert_eq!(omnikey.reader.as_deref(), Some("OMNIKEY 5422CL"));
}

#[test]
fn the_required_models_and_modes_are_shipped() {
    let all = profiles();
    let has = |name: &str, transport: Transport| {
        all.iter()
            .any(|p| p.name == name && p.transport == transport)
    };
    assert!(has("honeywell-2d-cdc", Transport::Serial));
    assert!(has("honeywell-2d-hidpos", Transport::HidPos));
    assert!(has("zebra-ssi", Transport::ZebraSsi));
    assert!(has("access-is-cdc", Transport::Serial));
    assert!(has("access-is-hidpos", Transport::HidPos));
    assert!(has("access-is-keyboard", Transport::HidKeyboard));
    assert!(has("generic-mrz-rs232", Transport::Serial));
    assert!(has("generic-keyboard-wedge", Transport::HidKeyboard));
}

#[test]
fn udev_rules_match_the_profiles() {
    let generated = udev_rules(&profiles());
    if std::env::var_os("UPDATE_UDEV_RULES").is_some() {
        std::fs::write(RULES, &generated).expect("writable");
    }
    let shipped = std::fs::read_to_string(RULES).expect("rules shipped");
    assert_eq!(
        shipped, generated,
        "run UPDATE_UDEV_RULES=1 cargo test --test devices_profiles"
    );
    for profile in profiles() {
        for id in &profile.usb {
            let ids = format!(
                "ATTRS{{idVendor}}==\"{:04x}\", ATTRS{{idProduct}}==\"{:04x}\"",
                id.vendor, id.product
            );
            assert!(shipped.contains(&ids), "{} {ids}", profile.name);
        }
    }
    assert!(shipped.contains("GROUP=\"checkpointd-scanners\""));
    assert!(shipped.contains("ENV{ID_MM_DEVICE_IGNORE}=\"1\""));
}
