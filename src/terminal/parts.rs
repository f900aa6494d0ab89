//! What a `Config` turns into before anything runs: the device specs (profiles and scanner
//! programming parsed), the stay rules, the lane settings and the terminal's identity. Start-up,
//! reload and `--check-config` all read the configuration's files through these functions, so
//! whatever the check accepts, the daemon can start.

use std::path::Path;

use jiff::SignedDuration;

use super::TerminalError;
use crate::adapters::devices::{DeviceSpec, parse_profile, parse_programming};
use crate::config::{Config, Connection, Mode};
use crate::core::decision::LaneMode;
use crate::core::event::TerminalId;
use crate::core::stay::policy::StayPolicy;
use crate::lane::LaneSettings;

/// Clock-skew allowance for permit `nbf`/`exp`.
pub const PERMIT_CLOCK_SKEW: SignedDuration = SignedDuration::from_mins(5);

fn read(path: &Path) -> Result<String, TerminalError> {
    crate::config::read_named_file(path).map_err(|error| TerminalError::File {
        path: path.display().to_string(),
        message: error.to_string(),
    })
}

/// The directory of scanner programming files: `scanners/` beside the configuration file.
pub fn scanners_dir(config: &Config) -> Option<std::path::PathBuf> {
    config.source.parent().map(|dir| dir.join("scanners"))
}

/// Every configured device with its profile parsed and its programming file (named by the
/// profile's `init`) read and parsed.
pub fn device_specs(config: &Config) -> Result<Vec<DeviceSpec>, TerminalError> {
    let scanners_dir = scanners_dir(config);
    let mut specs = Vec::with_capacity(config.devices.len());
    for device in &config.devices {
        let profile =
            parse_profile(&read(&device.profile_path)?).map_err(|e| TerminalError::File {
                path: device.profile_path.display().to_string(),
                message: e.to_string(),
            })?;
        let programming = match (&profile.init, &scanners_dir) {
            (Some(init), Some(dir)) => {
                let path = dir.join(format!("{init}.toml"));
                Some(
                    parse_programming(&read(&path)?).map_err(|e| TerminalError::File {
                        path: path.display().to_string(),
                        message: e.to_string(),
                    })?,
                )
            }
            _ => None,
        };
        let path = match &device.connection {
            Connection::Port(path) | Connection::Spool(path) => Some(path.display().to_string()),
            Connection::Usb { .. } => None,
        };
        specs.push(DeviceSpec {
            name: device.name.clone(),
            profile,
            programming,
            path,
            frame_bytes_max: config.limits.scan_frame_bytes_max.get(),
        });
    }
    Ok(specs)
}

/// The stay rules the configuration names.
pub fn stay_policy(config: &Config) -> Result<StayPolicy, TerminalError> {
    StayPolicy::from_toml(&read(&config.rules_file)?).map_err(|e| TerminalError::File {
        path: config.rules_file.display().to_string(),
        message: e.to_string(),
    })
}

/// The terminal's id in the feed and the ledger: `<checkpoint id>-<lane>`.
pub fn terminal_id(config: &Config) -> Result<TerminalId, TerminalError> {
    TerminalId::new(format!(
        "{}-{}",
        config.checkpoint.id, config.checkpoint.lane
    ))
    .map_err(|e| TerminalError::Store {
        what: "terminal id",
        message: e.to_string(),
    })
}

/// The lane's settings.
pub fn lane_settings(config: &Config) -> LaneSettings {
    LaneSettings {
        checkpoint: config.checkpoint.id.clone(),
        lane: config.checkpoint.lane.clone(),
        direction: config.checkpoint.direction,
        mode: match config.checkpoint.mode {
            Mode::Officer => LaneMode::Officer,
            Mode::Kiosk => LaneMode::Kiosk,
        },
        time_zone: config.checkpoint.time_zone.clone(),
        ledger_stale_after: signed(config.lane.ledger_stale_after),
        permit_clock_skew: PERMIT_CLOCK_SKEW,
        clock_backwards_tolerance: signed(config.lane.clock_backwards_tolerance),
        watchlist_threshold: config.lane.watchlist_threshold.value(),
    }
}

/// The lane's session window.
pub fn session_window(config: &Config) -> SignedDuration {
    signed(config.lane.session_window)
}

fn signed(duration: std::time::Duration) -> SignedDuration {
    // Validation bounds every duration far below SignedDuration::MAX.
    SignedDuration::try_from(duration).unwrap_or(SignedDuration::MAX)
}

/// Everything in the configuration's files that start-up parses, parsed now: what
/// `--check-config` runs after validation so that a passing file starts.
pub fn check_files(config: &Config) -> Result<(), TerminalError> {
    device_specs(config)?;
    stay_policy(config)?;
    terminal_id(config)?;
    if let Some(path) = &config.upstream.credentials_file {
        crate::config::credentials::read_credentials(path).map_err(|message| {
            TerminalError::File {
                path: path.display().to_string(),
                message,
            }
        })?;
    }
    Ok(())
}
