//! The shipped profiles, programming sequences and udev rules: all valid and consistent.

use std::path::Path;

use checkpointd::adapters::devices::profile::{
    Transport, parse_profile, parse_programming, udev_rules,
};

const RULES: &str = "systemd/70-checkpointd-scanners.rules";

fn profiles() -> Vec<checkpointd::adapters::devices::DeviceProfile> {
    let mut files: Vec<_> = std::fs::read_dir("devices")
        .expect("devices/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|file| (file, std::fs::read_to_string(file).expect("readable")))
        // The kiosk gate's relay profile sits beside the scanners; it is an output, not a scanner.
        .filter(|(_, text)| checkpointd::adapters::gate::GateProfile::from_toml(text).is_err())
        .map(|(file, text)| {
            let profile =
                parse_profile(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            assert_eq!(
                Some(profile.name.as_str()),
                file.file_stem().and_then(|s| s.to_str()),
                "name = file stem"
            );
            profile
        })
        .collect()
}

#[test]
fn every_profile_is_valid_and_its_init_sequence_exists() {
    for profile in profiles() {
        if let Some(init) = &profile.init {
            let file = Path::new("firmware-config/scanners").join(format!("{init}.toml"));
            let text = std::fs::read_to_string(&file)
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            parse_programming(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        }
    }
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
