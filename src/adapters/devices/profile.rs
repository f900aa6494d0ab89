//! Device profiles (`devices/*.toml`) and scanner programming sequences
//! (`firmware-config/scanners/*.toml`): parsed from text here, read from disk by the callers.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Deserialize;

use crate::core::frame::descriptor::ReportDescriptor;
use crate::core::frame::hid_pos::HidPosLayout;
use crate::core::frame::pipeline::{DevicePipeline, InputKind, ScanContent};
use crate::core::frame::serial::Framing;

/// Group that owns scanner device nodes (udev rules and the service's supplementary group).
pub const DEVICE_GROUP: &str = "checkpointd-scanners";
/// Directory of stable symlinks created by the udev rules: `/dev/checkpointd/<profile>`.
pub const SYMLINK_DIR: &str = "/dev/checkpointd";
const MRZ_LINE_TIMEOUT_DEFAULT_MS: u64 = 300;
const MRZ_LINE_TIMEOUT_MAX_MS: u64 = 10_000;
const BAUD_RATES: &[u32] = &[1200, 2400, 4800, 9600, 19_200, 38_400, 57_600, 115_200];
/// Spool poll interval when the profile sets none.
const SPOOL_POLL_DEFAULT_MS: u64 = 250;
/// Settle time when the profile sets none: the vendor software may write an image in place.
const SPOOL_SETTLE_DEFAULT_MS: u64 = 500;
/// Bounds of both spool durations: never a busy loop, never a reader that looks dead.
const SPOOL_MS_RANGE: std::ops::RangeInclusive<u64> = 10..=10_000;

/// Why a profile or programming sequence was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    /// Not valid TOML, or a field of the wrong type, or an unknown field.
    #[error("profile syntax: {0}")]
    Syntax(String),
    /// A field whose value is not allowed.
    #[error("profile field `{field}`: {why}")]
    Invalid { field: &'static str, why: String },
}

fn invalid(field: &'static str, why: impl Into<String>) -> ProfileError {
    ProfileError::Invalid {
        field,
        why: why.into(),
    }
}

/// How the device is connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    /// RS-232 or USB CDC-ACM byte stream with CR/CRLF/STX-ETX framing.
    Serial,
    /// Zebra SSI packets over RS-232 or CDC-ACM.
    ZebraSsi,
    /// USB HID POS scanner read through libusb.
    HidPos,
    /// USB HID boot keyboard wedge read through libusb.
    HidKeyboard,
    /// A spool directory into which a full-page reader's vendor software writes images.
    ImageSpool,
}

impl Transport {
    /// The name used in profiles.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Serial => "serial",
            Self::ZebraSsi => "zebra-ssi",
            Self::HidPos => "hid-pos",
            Self::HidKeyboard => "hid-keyboard",
            Self::ImageSpool => "image-spool",
        }
    }
}

/// One USB identity of the device; the product id changes with the interface mode.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsbId {
    /// USB vendor id.
    pub vendor: u16,
    /// USB product id in this mode.
    pub product: u16,
    /// The mode this product id belongs to (`cdc`, `hid-pos`, `keyboard`, …).
    pub mode: String,
}

/// Parity setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Parity {
    /// No parity bit.
    None,
    /// Even parity.
    Even,
    /// Odd parity.
    Odd,
}

/// Flow control setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Flow {
    /// None.
    None,
    /// XON/XOFF.
    Software,
    /// RTS/CTS.
    Hardware,
}

/// Serial line settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SerialSettings {
    /// Device path; USB serial profiles use the udev symlink `/dev/checkpointd/<profile>`.
    pub path: String,
    /// Baud rate (ignored by CDC-ACM, but checked).
    pub baud: u32,
    /// Data bits, 7 or 8.
    #[serde(default = "default_data_bits")]
    pub data_bits: u8,
    /// Parity.
    #[serde(default = "default_parity")]
    pub parity: Parity,
    /// Stop bits, 1 or 2.
    #[serde(default = "default_stop_bits")]
    pub stop_bits: u8,
    /// Flow control.
    #[serde(default = "default_flow")]
    pub flow: Flow,
}

fn default_data_bits() -> u8 {
    8
}
fn default_parity() -> Parity {
    Parity::None
}
fn default_stop_bits() -> u8 {
    1
}
fn default_flow() -> Flow {
    Flow::None
}

/// Framing settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FramingSettings {
    /// Frame terminator (serial transports only).
    #[serde(default = "default_terminator")]
    pub terminator: Framing,
    /// Frames start with an AIM symbology identifier.
    #[serde(default)]
    pub aim: bool,
    /// The host answers every frame with ACK or NAK.
    #[serde(default)]
    pub ack_nak: bool,
}

fn default_terminator() -> Framing {
    Framing::Cr
}

/// Keyboard settings of a keyboard-wedge profile.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyboardSettings {
    /// Must be `us`: the decoder uses a fixed US table.
    pub layout: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpool {
    path: String,
    #[serde(default)]
    poll_interval_ms: Option<u64>,
    #[serde(default)]
    settle_ms: Option<u64>,
}

/// Where and how an image-spool device is watched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolSettings {
    /// The spool root (`incoming/`, `processing/`, `done/`, `failed/` below it).
    pub path: String,
    /// How often `incoming/` is looked at when it was empty.
    pub poll_interval: Duration,
    /// How long an image must be left unmodified before it is claimed.
    pub settle: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    name: String,
    description: String,
    transport: Transport,
    content: ScanContent,
    #[serde(default)]
    init: Option<String>,
    #[serde(default)]
    mrz_line_timeout_ms: Option<u64>,
    #[serde(default)]
    usb: Vec<UsbId>,
    #[serde(default)]
    serial: Option<SerialSettings>,
    #[serde(default)]
    spool: Option<RawSpool>,
    #[serde(default)]
    framing: Option<FramingSettings>,
    #[serde(default)]
    keyboard: Option<KeyboardSettings>,
}

/// A validated device profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceProfile {
    /// Profile name, equal to its file stem.
    pub name: String,
    /// Model and mode, for people.
    pub description: String,
    /// How it is connected.
    pub transport: Transport,
    /// What its frames carry.
    pub content: ScanContent,
    /// Name of the programming sequence in `firmware-config/scanners/`, if any.
    pub init: Option<String>,
    /// Inter-line timeout for MRZ assembly.
    pub mrz_line_timeout: Duration,
    /// USB identities (every mode the model may be in).
    pub usb: Vec<UsbId>,
    /// Serial settings (serial and SSI transports).
    pub serial: Option<SerialSettings>,
    /// Spool settings (image-spool transport).
    pub spool: Option<SpoolSettings>,
    /// Framing (an image spool has none: the defaults, unused).
    pub framing: FramingSettings,
}

impl DeviceProfile {
    /// The input pipeline for a device of this profile; a HID POS layout comes from the
    /// device's report descriptor when it sent one.
    pub fn pipeline(&self, descriptor: Option<&ReportDescriptor>) -> DevicePipeline {
        let input = match self.transport {
            Transport::Serial => InputKind::Serial {
                framing: self.framing.terminator,
                ack_nak: self.framing.ack_nak,
            },
            Transport::ZebraSsi => InputKind::Ssi,
            Transport::HidPos => InputKind::HidPos(
                descriptor
                    .map(HidPosLayout::from_descriptor)
                    .unwrap_or_default(),
            ),
            Transport::HidKeyboard => InputKind::Keyboard,
            // Images are decoded whole, never framed; the pipeline is not used for them.
            Transport::ImageSpool => InputKind::Serial {
                framing: self.framing.terminator,
                ack_nak: false,
            },
        };
        DevicePipeline::new(input, self.framing.aim, self.content, self.mrz_line_timeout)
    }
}

/// Parses and validates one profile (what the config validator calls for `devices/*.toml`).
pub fn parse_profile(text: &str) -> Result<DeviceProfile, ProfileError> {
    let raw: RawProfile =
        toml::from_str(text).map_err(|e| ProfileError::Syntax(e.message().to_owned()))?;
    if raw.name.is_empty()
        || !raw
            .name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(invalid(
            "name",
            "must be lowercase letters, digits and dashes",
        ));
    }
    let timeout_ms = raw
        .mrz_line_timeout_ms
        .unwrap_or(MRZ_LINE_TIMEOUT_DEFAULT_MS);
    if timeout_ms == 0 || timeout_ms > MRZ_LINE_TIMEOUT_MAX_MS {
        return Err(invalid(
            "mrz_line_timeout_ms",
            format!("must be 1..={MRZ_LINE_TIMEOUT_MAX_MS}"),
        ));
    }
    let mut seen = BTreeSet::new();
    for id in &raw.usb {
        if !seen.insert((id.vendor, id.product)) {
            return Err(invalid(
                "usb",
                format!("{:04x}:{:04x} listed twice", id.vendor, id.product),
            ));
        }
    }
    check_transport(&raw)?;
    let spool = spool_settings(&raw)?;
    let framing = match (raw.transport, raw.framing) {
        (Transport::ImageSpool, None) => FramingSettings {
            terminator: default_terminator(),
            aim: false,
            ack_nak: false,
        },
        (Transport::ImageSpool, Some(_)) => {
            return Err(invalid("framing", "an image spool has no framing"));
        }
        (_, Some(framing)) => framing,
        (_, None) => return Err(invalid("framing", "required by a scanner transport")),
    };
    if raw.transport == Transport::ZebraSsi && framing.aim {
        return Err(invalid(
            "framing.aim",
            "SSI carries the symbology in DECODE_DATA, not an AIM id",
        ));
    }
    if let Some(init) = &raw.init
        && (init.is_empty() || init.contains('/') || init.contains(".."))
    {
        return Err(invalid(
            "init",
            "must be a file stem under firmware-config/scanners",
        ));
    }
    Ok(DeviceProfile {
        name: raw.name,
        description: raw.description,
        transport: raw.transport,
        content: raw.content,
        init: raw.init,
        mrz_line_timeout: Duration::from_millis(timeout_ms),
        usb: raw.usb,
        serial: raw.serial,
        spool,
        framing,
    })
}

/// What the transport requires and forbids: serial settings for a serial one (a USB serial
/// device through its udev symlink), USB ids and no serial settings for a HID one, the US
/// keyboard layout for a keyboard wedge only.
fn check_transport(raw: &RawProfile) -> Result<(), ProfileError> {
    match raw.transport {
        Transport::Serial | Transport::ZebraSsi => {
            let serial = raw
                .serial
                .as_ref()
                .ok_or_else(|| invalid("serial", "required by a serial transport"))?;
            if !serial.path.starts_with("/dev/") {
                return Err(invalid("serial.path", "must be a /dev path"));
            }
            if !BAUD_RATES.contains(&serial.baud) {
                return Err(invalid(
                    "serial.baud",
                    format!("{} is not one of {BAUD_RATES:?}", serial.baud),
                ));
            }
            if !matches!(serial.data_bits, 7 | 8) {
                return Err(invalid("serial.data_bits", "must be 7 or 8"));
            }
            if !matches!(serial.stop_bits, 1 | 2) {
                return Err(invalid("serial.stop_bits", "must be 1 or 2"));
            }
            if !raw.usb.is_empty() && serial.path != format!("{SYMLINK_DIR}/{}", raw.name) {
                return Err(invalid(
                    "serial.path",
                    format!(
                        "a USB serial device must use the udev symlink {SYMLINK_DIR}/{}",
                        raw.name
                    ),
                ));
            }
        }
        Transport::ImageSpool => {}
        Transport::HidPos | Transport::HidKeyboard => {
            if raw.usb.is_empty() {
                return Err(invalid(
                    "usb",
                    "a USB HID transport needs at least one vendor/product id",
                ));
            }
            if raw.serial.is_some() {
                return Err(invalid("serial", "not allowed for a USB HID transport"));
            }
        }
    }
    match (raw.transport, &raw.keyboard) {
        (Transport::HidKeyboard, Some(k)) if k.layout == "us" => {}
        (Transport::HidKeyboard, _) => {
            return Err(invalid(
                "keyboard.layout",
                "must be \"us\" (set the scanner's keyboard country to US)",
            ));
        }
        (_, Some(_)) => return Err(invalid("keyboard", "only for the hid-keyboard transport")),
        (_, None) => {}
    }
    Ok(())
}

/// The `[spool]` table: required by, and only allowed for, the image-spool transport.
fn spool_settings(raw: &RawProfile) -> Result<Option<SpoolSettings>, ProfileError> {
    let spool = match (raw.transport, &raw.spool) {
        (Transport::ImageSpool, Some(spool)) => spool,
        (Transport::ImageSpool, None) => {
            return Err(invalid("spool", "required by the image-spool transport"));
        }
        (_, Some(_)) => return Err(invalid("spool", "only for the image-spool transport")),
        (_, None) => return Ok(None),
    };
    if !raw.usb.is_empty() || raw.serial.is_some() || raw.keyboard.is_some() || raw.init.is_some() {
        return Err(invalid(
            "spool",
            "an image spool has no usb, serial, keyboard or init settings",
        ));
    }
    if raw.content == ScanContent::Mrz {
        return Err(invalid(
            "content",
            "an image spool yields qr codes: `symbol` or `auto`",
        ));
    }
    if !spool.path.starts_with('/') {
        return Err(invalid("spool.path", "must be an absolute directory path"));
    }
    let millis = |value: Option<u64>, default: u64, field: &'static str| {
        let ms = value.unwrap_or(default);
        if SPOOL_MS_RANGE.contains(&ms) {
            Ok(Duration::from_millis(ms))
        } else {
            Err(invalid(
                field,
                format!(
                    "must be {}..={} ms",
                    SPOOL_MS_RANGE.start(),
                    SPOOL_MS_RANGE.end()
                ),
            ))
        }
    };
    Ok(Some(SpoolSettings {
        path: spool.path.clone(),
        poll_interval: millis(
            spool.poll_interval_ms,
            SPOOL_POLL_DEFAULT_MS,
            "spool.poll_interval_ms",
        )?,
        settle: millis(spool.settle_ms, SPOOL_SETTLE_DEFAULT_MS, "spool.settle_ms")?,
    }))
}

/// The protocol a programming sequence speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProgrammingProtocol {
    /// Honeywell `SYN M CR` menu commands.
    HoneywellMenu,
    /// Zebra SSI packets.
    ZebraSsi,
}

/// What a step's reply must be for the sequence to go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Expect {
    /// Every tag acknowledged (Honeywell ACK, SSI CMD_ACK).
    Ack,
    /// Any complete reply (queries whose answer is only printed).
    Reply,
    /// No reply expected (trigger commands).
    Nothing,
}

/// One programming step.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgrammingStep {
    /// What the step does, for people.
    pub note: String,
    /// Honeywell menu body with its storage character, e.g. `232BAD?.`.
    #[serde(default)]
    pub menu: Option<String>,
    /// SSI opcode.
    #[serde(default)]
    pub opcode: Option<u8>,
    /// SSI data bytes.
    #[serde(default)]
    pub data: Vec<u8>,
    /// Expected reply.
    pub expect: Expect,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProgramming {
    description: String,
    protocol: ProgrammingProtocol,
    reply_timeout_ms: u64,
    step: Vec<ProgrammingStep>,
}

/// A validated programming sequence, run at start-up and after every reconnect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Programming {
    /// What it sets up.
    pub description: String,
    /// Its protocol.
    pub protocol: ProgrammingProtocol,
    /// How long to wait for each reply.
    pub reply_timeout: Duration,
    /// The steps, in order.
    pub steps: Vec<ProgrammingStep>,
}

/// Parses and validates a programming sequence.
pub fn parse_programming(text: &str) -> Result<Programming, ProfileError> {
    let raw: RawProgramming =
        toml::from_str(text).map_err(|e| ProfileError::Syntax(e.message().to_owned()))?;
    if raw.reply_timeout_ms == 0 || raw.reply_timeout_ms > 10_000 {
        return Err(invalid("reply_timeout_ms", "must be 1..=10000"));
    }
    for step in &raw.step {
        match (raw.protocol, &step.menu, step.opcode) {
            (ProgrammingProtocol::HoneywellMenu, Some(menu), None) if step.data.is_empty() => {
                if !menu.ends_with(['.', '!']) {
                    return Err(invalid(
                        "step.menu",
                        format!("`{menu}` must end with a storage character . or !"),
                    ));
                }
            }
            (ProgrammingProtocol::ZebraSsi, None, Some(_)) => {
                if step.data.len() > crate::core::frame::ssi::DATA_BYTES_MAX {
                    return Err(invalid("step.data", "longer than one SSI packet"));
                }
            }
            _ => {
                return Err(invalid(
                    "step",
                    format!(
                        "`{}`: menu for honeywell-menu, opcode/data for zebra-ssi",
                        step.note
                    ),
                ));
            }
        }
    }
    Ok(Programming {
        description: raw.description,
        protocol: raw.protocol,
        reply_timeout: Duration::from_millis(raw.reply_timeout_ms),
        steps: raw.step,
    })
}

/// The udev rules for a set of profiles: group access for every USB mode, stable symlinks,
/// ModemManager kept off serial scanners, libinput off keyboard wedges.
pub fn udev_rules(profiles: &[DeviceProfile]) -> String {
    let mut rules = String::from(
        "# Generated from devices/*.toml (checked by tests/devices_profiles.rs): do not edit by hand.\n\
         # Scanner device nodes for the checkpointd-scanners group; one block per profile and USB mode.\n",
    );
    let g = DEVICE_GROUP;
    // An image spool is a directory, not a device node: no rule.
    for profile in profiles
        .iter()
        .filter(|p| p.transport != Transport::ImageSpool)
    {
        let _ = writeln!(rules, "\n# {}: {}", profile.name, profile.description);
        if profile.usb.is_empty() {
            let _ = writeln!(
                rules,
                "# no USB ids: a fixed serial port, access through the dialout group"
            );
        }
        for id in &profile.usb {
            let m = format!(
                "ATTRS{{idVendor}}==\"{:04x}\", ATTRS{{idProduct}}==\"{:04x}\"",
                id.vendor, id.product
            );
            let _ = writeln!(rules, "# mode {}", id.mode);
            match profile.transport {
                Transport::Serial | Transport::ZebraSsi => {
                    let _ = writeln!(
                        rules,
                        "SUBSYSTEM==\"tty\", {m}, GROUP=\"{g}\", MODE=\"0660\", SYMLINK+=\"checkpointd/{}\", ENV{{ID_MM_DEVICE_IGNORE}}=\"1\"",
                        profile.name
                    );
                }
                Transport::ImageSpool => {}
                Transport::HidPos | Transport::HidKeyboard => {
                    let dev = m.replace("ATTRS", "ATTR");
                    let _ = writeln!(
                        rules,
                        "SUBSYSTEM==\"usb\", ENV{{DEVTYPE}}==\"usb_device\", {dev}, GROUP=\"{g}\", MODE=\"0660\", SYMLINK+=\"checkpointd/{}\"",
                        profile.name
                    );
                    let _ = writeln!(
                        rules,
                        "SUBSYSTEM==\"hidraw\", {m}, GROUP=\"{g}\", MODE=\"0660\""
                    );
                    if profile.transport == Transport::HidKeyboard {
                        let _ = writeln!(
                            rules,
                            "SUBSYSTEM==\"input\", {m}, GROUP=\"{g}\", MODE=\"0660\", ENV{{LIBINPUT_IGNORE_DEVICE}}=\"1\""
                        );
                    }
                }
            }
        }
    }
    rules
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERIAL: &str = r#"
name = "x-cdc"
description = "test"
transport = "serial"
content = "symbol"
[[usb]]
vendor = 0x0c2e
product = 0x0720
mode = "cdc"
[serial]
path = "/dev/checkpointd/x-cdc"
baud = 115200
[framing]
terminator = "crlf"
aim = true
"#;

    #[test]
    fn a_valid_profile_parses() {
        let profile = parse_profile(SERIAL).expect("valid");
        assert_eq!(profile.transport, Transport::Serial);
        assert_eq!(profile.usb[0].product, 0x0720);
        assert_eq!(profile.framing.terminator, Framing::Crlf);
        assert_eq!(profile.serial.as_ref().map(|s| s.data_bits), Some(8));
    }

    #[test]
    fn invalid_profiles_name_the_field() {
        let cases: &[(&str, &str, &str)] = &[
            ("baud = 115200", "baud = 1234", "serial.baud"),
            (
                "path = \"/dev/checkpointd/x-cdc\"",
                "path = \"/dev/ttyACM0\"",
                "serial.path",
            ),
            (
                "transport = \"serial\"",
                "transport = \"hid-keyboard\"",
                "serial",
            ),
            ("name = \"x-cdc\"", "name = \"X CDC\"", "name"),
            ("aim = true", "aim = true\nbogus = 1", "syntax"),
        ];
        for (from, to, field) in cases {
            let text = SERIAL.replace(from, to);
            let err = parse_profile(&text).expect_err(to).to_string();
            assert!(err.contains(field), "{to}: {err}");
        }
    }

    #[test]
    fn keyboard_profiles_require_us_layout() {
        let text = r#"
name = "wedge"
description = "t"
transport = "hid-keyboard"
content = "auto"
[[usb]]
vendor = 1
product = 2
mode = "keyboard"
[framing]
[keyboard]
layout = "de"
"#;
        assert!(
            parse_profile(text)
                .expect_err("de")
                .to_string()
                .contains("keyboard.layout")
        );
        assert!(parse_profile(&text.replace("\"de\"", "\"us\"")).is_ok());
    }

    #[test]
    fn image_spool_profiles_need_a_spool_and_nothing_of_a_scanner() {
        let text = r#"
name = "page"
description = "t"
transport = "image-spool"
content = "symbol"
[spool]
path = "/var/spool/x"
"#;
        let profile = parse_profile(text).expect("valid");
        let spool = profile.spool.expect("spool");
        assert_eq!(
            spool.poll_interval,
            Duration::from_millis(SPOOL_POLL_DEFAULT_MS)
        );
        assert_eq!(spool.settle, Duration::from_millis(SPOOL_SETTLE_DEFAULT_MS));
        assert!(
            udev_rules(&[parse_profile(text).expect("valid")])
                .lines()
                .all(|l| l.starts_with('#'))
        );
        let cases: &[(&str, &str, &str)] = &[
            ("path = \"/var/spool/x\"", "path = \"spool\"", "spool.path"),
            (
                "path = \"/var/spool/x\"",
                "path = \"/x\"\nsettle_ms = 0",
                "spool.settle_ms",
            ),
            (
                "path = \"/var/spool/x\"",
                "path = \"/x\"\npoll_interval_ms = 60000",
                "spool.poll_interval_ms",
            ),
            ("[spool]", "[framing]\n[spool]", "framing"),
            ("content = \"symbol\"", "content = \"mrz\"", "content"),
            (
                "content = \"symbol\"",
                "content = \"symbol\"\ninit = \"x\"",
                "spool",
            ),
        ];
        for (from, to, field) in cases {
            let err = parse_profile(&text.replace(from, to))
                .expect_err(to)
                .to_string();
            assert!(err.contains(field), "{to}: {err}");
        }
        let serial_with_spool = format!("{SERIAL}[spool]\npath = \"/x\"\n");
        assert!(
            parse_profile(&serial_with_spool)
                .expect_err("spool on serial")
                .to_string()
                .contains("only for the image-spool transport")
        );
        let no_spool = text.replace("[spool]\npath = \"/var/spool/x\"\n", "");
        assert!(
            parse_profile(&no_spool)
                .expect_err("no spool")
                .to_string()
                .contains("spool")
        );
    }

    #[test]
    fn programming_steps_match_their_protocol() {
        let text = r#"
description = "t"
protocol = "honeywell-menu"
reply_timeout_ms = 500
[[step]]
note = "query baud"
menu = "232BAD?."
expect = "reply"
"#;
        assert!(parse_programming(text).is_ok());
        assert!(parse_programming(&text.replace("232BAD?.", "232BAD?")).is_err());
        assert!(parse_programming(&text.replace("honeywell-menu", "zebra-ssi")).is_err());
    }
}
