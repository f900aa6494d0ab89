//! The demo's terminal configuration, written into its temporary directory as an operator would
//! write `/etc/checkpointd/` (configuration, stay rules, device profiles, owner-only key and
//! token), then loaded through the one validation path the daemon uses.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use ed25519_dalek::SigningKey;

use crate::config::{Config, LoadOptions};

/// The stay rules shipped in `firmware-config/`, embedded so the demo runs from anywhere.
const STAY_RULES: &str = include_str!("../../firmware-config/stay-rules.toml");
const MRZ_READER_PROFILE: &str = include_str!("../../devices/generic-mrz-rs232.toml");
const QR_IMAGER_PROFILE: &str = include_str!("../../devices/honeywell-2d-cdc.toml");
/// The profile's start-up programming: the simulated imager answers no menu commands.
const QR_IMAGER_PROGRAMMING: &str = "init = \"honeywell-2d\"\n";

/// The configuration, with `{name}` for each value filled in at run time.
const TEMPLATE: &str = include_str!("checkpoint.toml");

/// The checkpoint and lane: the terminal id is `AZ-DEMO-1`.
pub const CHECKPOINT: &str = "AZ-DEMO";
const LANE: &str = "1";

/// What the demo's configuration names that is made at run time.
pub struct Firmware<'a> {
    /// This terminal's signing key.
    pub terminal_key: &'a SigningKey,
    /// The ledger's offline roots (all of them must sign).
    pub roots: &'a [SigningKey],
    /// The MRZ reader's and the QR imager's serial ports.
    pub mrz_port: &'a str,
    pub qr_port: &'a str,
    /// The console's loopback address.
    pub http: &'a str,
    /// Central's NATS server, when the demo streams crossings.
    pub nats_url: Option<&'a str>,
    /// The console's bearer token.
    pub token: &'a str,
}

fn write_secret(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The group the console socket is given to: the demo user's own.
fn own_group() -> Result<String, String> {
    nix::unistd::Group::from_gid(nix::unistd::getegid())
        .map_err(|e| format!("own group: {e}"))?
        .map(|group| group.name)
        .ok_or_else(|| "own group: no name for the current group id".to_string())
}

/// Writes the files into `dir` and loads the configuration from them.
pub fn write_and_load(dir: &Path, firmware: &Firmware<'_>) -> Result<Config, String> {
    let devices = dir.join("devices");
    std::fs::create_dir_all(&devices).map_err(|e| format!("{}: {e}", devices.display()))?;
    write(&dir.join("stay-rules.toml"), STAY_RULES)?;
    write(&devices.join("generic-mrz-rs232.toml"), MRZ_READER_PROFILE)?;
    let imager = QR_IMAGER_PROFILE.replace(QR_IMAGER_PROGRAMMING, "");
    if imager == QR_IMAGER_PROFILE {
        return Err("the QR imager's profile no longer names its programming".into());
    }
    write(&devices.join("honeywell-2d-cdc.toml"), &imager)?;
    write_secret(
        &dir.join("terminal.key"),
        &format!("{}\n", hex::encode(firmware.terminal_key.to_bytes())),
    )?;
    write_secret(&dir.join("api.token"), &format!("{}\n", firmware.token))?;
    let path = dir.join("checkpoint.toml");
    write(&path, &configuration(firmware)?)?;
    crate::config::load(&path, &LoadOptions::default()).map_err(|e| e.to_string())
}

fn configuration(firmware: &Firmware<'_>) -> Result<String, String> {
    let roots: Vec<String> = firmware
        .roots
        .iter()
        .map(|key| format!("\"{}\"", hex::encode(key.verifying_key().to_bytes())))
        .collect();
    let values = [
        ("{checkpoint}", CHECKPOINT.to_string()),
        ("{lane}", LANE.to_string()),
        ("{mrz_port}", firmware.mrz_port.to_string()),
        ("{qr_port}", firmware.qr_port.to_string()),
        // Without `--nats` the terminal runs offline and never connects to this.
        (
            "{nats_url}",
            firmware
                .nats_url
                .unwrap_or("nats://127.0.0.1:4222")
                .to_string(),
        ),
        ("{roots}", roots.join(", ")),
        ("{threshold}", firmware.roots.len().to_string()),
        (
            "{watchlist}",
            crate::core::watchlist::DEFAULT_THRESHOLD.to_string(),
        ),
        ("{group}", own_group()?),
        ("{http}", firmware.http.to_string()),
        (
            "{lockout}",
            crate::core::officer::LOCKOUT_WINDOW.as_secs().to_string(),
        ),
        ("{frame}", crate::core::frame::FRAME_BYTES_MAX.to_string()),
    ];
    Ok(values
        .iter()
        .fold(TEMPLATE.to_string(), |text, (name, value)| {
            text.replace(name, value)
        }))
}
