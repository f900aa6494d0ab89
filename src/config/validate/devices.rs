//! `[[devices]]`: each scanner's profile (parsed as the daemon parses it), port or USB ids,
//! spool directory and programming; the chip reader's entry is `chip_reader`'s.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use toml::Spanned;

use super::diagnostics::{Report, non_empty};
use super::files::check_readable;
use crate::config::raw::RawDevice;
use crate::config::{Connection, Device};

/// All devices, or `None` if any is invalid (every problem is reported either way).
pub(super) fn devices(
    raw: &[Spanned<RawDevice>],
    devices_dir: &Path,
    report: &mut Report<'_>,
) -> Option<Vec<Device>> {
    let mut names = BTreeSet::new();
    let mut devices = Vec::with_capacity(raw.len());
    let mut all_valid = true;
    // Chip readers (`pcsc`, or a chip-reader profile) are read by `chip_reader`.
    for table in raw
        .iter()
        .filter(|table| !super::chip_reader::is_chip_reader(table, Some(devices_dir)))
    {
        if !super::chip_reader::scanner_keys_ok(table, report) {
            all_valid = false;
            continue;
        }
        match device(table, devices_dir, &mut names, report) {
            Some(device) => devices.push(device),
            None => all_valid = false,
        }
    }
    all_valid.then_some(devices)
}

pub(super) fn device(
    table: &Spanned<RawDevice>,
    devices_dir: &Path,
    names: &mut BTreeSet<String>,
    report: &mut Report<'_>,
) -> Option<Device> {
    let at = table.span().start;
    let raw = table.get_ref();
    let name = report
        .required(
            &raw.name,
            at,
            "devices",
            "name",
            "a string such as \"mrz-swipe\"",
        )
        .and_then(|value| {
            let name = non_empty(value, "device name", report)?;
            if !names.insert(name.clone()) {
                report.at(
                    value.span().start,
                    format!("device name `{name}` is used twice"),
                );
                return None;
            }
            Some(name)
        });
    let profile_path = report
        .required(
            &raw.profile,
            at,
            "devices",
            "profile",
            "a profile file name in the devices directory",
        )
        .and_then(|value| profile(value, devices_dir, report));
    let connection = match (&raw.port, &raw.usb, &raw.spool) {
        (Some(port), None, None) => device_port(port, report).map(Connection::Port),
        (None, Some(usb), None) => usb_ids(usb, report),
        (None, None, Some(spool)) => spool_dir(spool, report).map(Connection::Spool),
        (None, None, None) => {
            report.at(
                at,
                "device has neither `port` nor `usb` nor `spool`: expected \"/dev/…\", \"vvvv:pppp\" or a spool directory",
            );
            None
        }
        (port, usb, spool) => {
            let second = [port, usb, spool]
                .into_iter()
                .flatten()
                .nth(1)
                .map_or(at, |value| value.span().start);
            report.at(
                second,
                "device has more than one of `port`, `usb` and `spool`: expected exactly one",
            );
            None
        }
    };
    Some(Device {
        name: name?,
        profile_path: profile_path?,
        connection: connection?,
    })
}

/// An image spool: an absolute directory path (created by the daemon when missing).
pub(super) fn spool_dir(value: &Spanned<String>, report: &mut Report<'_>) -> Option<PathBuf> {
    let text = non_empty(value, "spool", report)?;
    if Path::new(&text).is_absolute() {
        Some(PathBuf::from(text))
    } else {
        report.at(
            value.span().start,
            format!(
                "spool `{text}`: expected an absolute directory such as \"/var/spool/checkpointd/fullpage\""
            ),
        );
        None
    }
}

/// A serial port: an absolute device path.
pub(super) fn device_port(value: &Spanned<String>, report: &mut Report<'_>) -> Option<PathBuf> {
    let text = non_empty(value, "port", report)?;
    if Path::new(&text).is_absolute() {
        Some(PathBuf::from(text))
    } else {
        report.at(
            value.span().start,
            format!("port `{text}`: expected an absolute device path such as \"/dev/ttyACM0\""),
        );
        None
    }
}

pub(super) fn profile(
    value: &Spanned<String>,
    devices_dir: &Path,
    report: &mut Report<'_>,
) -> Option<PathBuf> {
    let name = non_empty(value, "profile", report)?;
    let plain = Path::new(&name)
        .components()
        .all(|component| matches!(component, Component::Normal(_)));
    if !plain {
        report.at(
            value.span().start,
            format!("profile `{name}`: expected a file name inside the devices directory"),
        );
        return None;
    }
    let path = devices_dir.join(&name);
    match check_readable(&path) {
        Ok(()) => Some(path),
        Err(why) => {
            report.at(
                value.span().start,
                format!(
                    "device profile `{name}` not found in {}: {why}",
                    devices_dir.display()
                ),
            );
            None
        }
    }
}

pub(super) fn usb_ids(value: &Spanned<String>, report: &mut Report<'_>) -> Option<Connection> {
    let parsed = value
        .get_ref()
        .split_once(':')
        .and_then(|(vendor, product)| {
            let hex4 = |text: &str| {
                (text.len() == 4)
                    .then(|| u16::from_str_radix(text, 16).ok())
                    .flatten()
            };
            Some((hex4(vendor)?, hex4(product)?))
        });
    match parsed {
        Some((vendor_id, product_id)) => Some(Connection::Usb {
            vendor_id,
            product_id,
        }),
        None => {
            report.at(
                value.span().start,
                format!(
                    "usb `{}`: expected vendor and product ids as four hex digits each, \"0c2e:0720\"",
                    value.get_ref()
                ),
            );
            None
        }
    }
}
