//! `[gate]`: the kiosk's gate profile and port; a gate only in kiosk mode, and always there.

use std::path::Path;

use toml::Spanned;

use super::devices::{device_port, profile};
use super::diagnostics::Report;
use super::files::read_small_file;
use crate::config::raw::{RawConfig, RawGate};
use crate::config::{Gate, GateProfile, Mode};

/// The `[gate]` table, which kiosk mode requires and officer mode forbids; `Some(None)` for an
/// officer terminal without one.
pub(super) fn gate_for_mode(
    raw: &RawConfig,
    devices_dir: Option<&Path>,
    report: &mut Report<'_>,
) -> Option<Option<Gate>> {
    let mode = raw
        .checkpoint
        .as_ref()
        .and_then(|table| table.get_ref().mode.as_ref());
    match (mode, &raw.gate) {
        (Some(mode), None) if *mode.get_ref() == Mode::Kiosk => {
            report.at(
                mode.span().start,
                "mode = \"kiosk\" needs a [gate] table (profile and port of the gate it opens)",
            );
            None
        }
        (Some(mode), Some(table)) if *mode.get_ref() == Mode::Officer => {
            report.at(
                table.span().start,
                "[gate] is for kiosk mode only: remove it or set checkpoint.mode = \"kiosk\"",
            );
            None
        }
        (Some(_), Some(table)) => devices_dir
            .and_then(|dir| gate(table, dir, report))
            .map(Some),
        // Without a valid mode the missing or wrong mode is the problem already reported.
        (_, _) => Some(None),
    }
}

pub(super) fn gate(
    table: &Spanned<RawGate>,
    devices_dir: &Path,
    report: &mut Report<'_>,
) -> Option<Gate> {
    let at = table.span().start;
    let raw = table.get_ref();
    let profile = report
        .required(
            &raw.profile,
            at,
            "gate",
            "profile",
            "a gate profile file name in the devices directory",
        )
        .and_then(|value| {
            let path = profile(value, devices_dir, report)?;
            let parsed = read_small_file(&path)
                .and_then(|(_, text)| GateProfile::from_toml(&text).map_err(|e| e.to_string()));
            match parsed {
                Ok(parsed) => Some((path, parsed)),
                Err(why) => {
                    report.at(
                        value.span().start,
                        format!("gate profile {} is not valid: {why}", path.display()),
                    );
                    None
                }
            }
        });
    let port = report
        .required(
            &raw.port,
            at,
            "gate",
            "port",
            "the serial port of the gate, e.g. \"/dev/ttyUSB0\"",
        )
        .and_then(|value| device_port(value, report));
    let (profile_path, profile) = profile?;
    Some(Gate {
        profile_path,
        profile,
        port: port?,
    })
}
