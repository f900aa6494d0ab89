//! The lane's chip reader in `[[devices]]`: a device with `pcsc = "<part of the reader's name>"`,
//! or whose `profile` is a chip-reader profile (`[chip_reader]` in `devices/`), is a PC/SC
//! contactless reader, not a scanner; at most one per lane. Its own keys override the profile's.

use std::path::{Component, Path};

use toml::Spanned;

use super::diagnostics::Report;
use super::files::read_small_file;
use crate::adapters::devices::chip_reader::{ChipReaderProfile, ChipReaderSettings};
use crate::config::ChipReader;
use crate::config::raw::RawDevice;

/// Whether this `[[devices]]` entry is a chip reader: it has `pcsc`, or its profile is a
/// chip-reader profile (an unreadable profile leaves it a scanner, whose check reports it).
pub(super) fn is_chip_reader(table: &Spanned<RawDevice>, devices_dir: Option<&Path>) -> bool {
    let raw = table.get_ref();
    raw.pcsc.is_some()
        || raw
            .profile
            .as_ref()
            .map(|name| Path::new(name.get_ref().trim()))
            // Only a file inside the devices directory is looked at (`profile` refuses others).
            .filter(|name| {
                name.components()
                    .all(|part| matches!(part, Component::Normal(_)))
            })
            .zip(devices_dir)
            .and_then(|(name, dir)| read_small_file(&dir.join(name)).ok())
            .is_some_and(|(_, text)| ChipReaderProfile::is_chip_reader_profile(&text))
}

/// The chip reader among the devices (`None`: the lane reads no chips), or `None` outside when
/// one is invalid; every problem is reported either way.
pub(super) fn chip_reader(
    raw: &[Spanned<RawDevice>],
    devices_dir: Option<&Path>,
    report: &mut Report<'_>,
) -> Option<Option<ChipReader>> {
    let mut found: Option<ChipReader> = None;
    let mut valid = true;
    for table in raw
        .iter()
        .filter(|table| is_chip_reader(table, devices_dir))
    {
        match reader(table, devices_dir, report) {
            Some(reader) if found.is_some() => {
                report.at(
                    table.span().start,
                    format!(
                        "device `{}`: a lane has at most one pcsc chip reader",
                        reader.name
                    ),
                );
                valid = false;
            }
            Some(reader) => found = Some(reader),
            None => valid = false,
        }
    }
    valid.then_some(found)
}

/// The settings only a chip reader takes, refused on a scanner.
pub(super) fn scanner_keys_ok(table: &Spanned<RawDevice>, report: &mut Report<'_>) -> bool {
    let raw = table.get_ref();
    let mut ok = true;
    for (key, value) in [
        ("refuse_bac_fallback", raw.refuse_bac_fallback.as_ref()),
        ("extended_length", raw.extended_length.as_ref()),
    ] {
        if let Some(value) = value {
            report.at(
                value.span().start,
                format!("`{key}` is a setting of a chip reader (a device with `pcsc` or a chip-reader profile)"),
            );
            ok = false;
        }
    }
    ok
}

fn reader(
    table: &Spanned<RawDevice>,
    devices_dir: Option<&Path>,
    report: &mut Report<'_>,
) -> Option<ChipReader> {
    let at = table.span().start;
    let raw = table.get_ref();
    let name = report
        .required(
            &raw.name,
            at,
            "devices",
            "name",
            "a string such as \"chip\"",
        )
        .and_then(|value| non_empty(value, "device name", report));
    let settings = settings(table, devices_dir, report);
    let scanner_settings = scanner_settings(raw, report);
    // Safety-relevant: no silent default either way.
    let refuse_bac_fallback = report
        .required(
            &raw.refuse_bac_fallback,
            at,
            "devices",
            "refuse_bac_fallback",
            "true (refuse BAC for documents that offer PACE) or false",
        )
        .map(|value| *value.get_ref());
    if scanner_settings {
        return None;
    }
    let settings = settings?;
    Some(ChipReader {
        name: name?,
        pattern: settings.pattern,
        refuse_bac_fallback: refuse_bac_fallback?,
        extended_length: settings.extended_length,
    })
}

/// The reader's name and extended-length switch: the entry's own keys over its profile's.
fn settings(
    table: &Spanned<RawDevice>,
    devices_dir: Option<&Path>,
    report: &mut Report<'_>,
) -> Option<ChipReaderSettings> {
    let raw = table.get_ref();
    let profile = match (&raw.profile, devices_dir) {
        (Some(value), Some(dir)) => Some(profile(value, dir, report)?),
        // Without a devices directory the problem with it is reported already.
        (Some(_), None) => return None,
        (None, _) => None,
    };
    let pattern = match &raw.pcsc {
        // An empty `pcsc` is wrong even where a profile names the reader.
        Some(value) => Some(non_empty(value, "pcsc reader pattern", report)?),
        None => None,
    };
    let resolved = ChipReaderSettings::resolve(
        profile.as_ref(),
        pattern.as_deref(),
        raw.extended_length.as_ref().map(|value| *value.get_ref()),
    );
    resolved
        .map_err(|why| report.at(table.span().start, why.to_string()))
        .ok()
}

/// Reports the scanner settings a chip reader does not take; true when there was one.
fn scanner_settings(raw: &RawDevice, report: &mut Report<'_>) -> bool {
    let mut found = false;
    for (key, value) in [
        ("port", raw.port.as_ref()),
        ("usb", raw.usb.as_ref()),
        ("spool", raw.spool.as_ref()),
    ] {
        if let Some(value) = value {
            report.at(
                value.span().start,
                format!("`{key}` is a scanner setting: a pcsc chip reader takes `pcsc`, `profile`, `refuse_bac_fallback` and `extended_length`"),
            );
            found = true;
        }
    }
    found
}

/// The chip-reader profile the entry names, read from the devices directory.
fn profile(
    value: &Spanned<String>,
    devices_dir: &Path,
    report: &mut Report<'_>,
) -> Option<ChipReaderProfile> {
    let path = super::devices::profile(value, devices_dir, report)?;
    let parsed = read_small_file(&path)
        .and_then(|(_, text)| ChipReaderProfile::from_toml(&text).map_err(|e| e.to_string()));
    match parsed {
        Ok(profile) => Some(profile),
        Err(why) => {
            report.at(
                value.span().start,
                format!("chip reader profile {} is not valid: {why}", path.display()),
            );
            None
        }
    }
}

fn non_empty(value: &Spanned<String>, what: &str, report: &mut Report<'_>) -> Option<String> {
    let text = value.get_ref().trim();
    if text.is_empty() {
        report.at(value.span().start, format!("{what} is empty"));
        return None;
    }
    Some(text.to_string())
}
