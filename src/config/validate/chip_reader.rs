//! The lane's chip reader in `[[devices]]`: a device with `pcsc = "<part of the reader's name>"`
//! is a PC/SC contactless reader, not a scanner; at most one per lane.

use std::collections::BTreeSet;

use toml::Spanned;

use super::diagnostics::Report;
use crate::config::ChipReader;
use crate::config::raw::RawDevice;

/// The chip reader among the devices (`None`: the lane reads no chips), or `None` outside when
/// one is invalid; every problem is reported either way.
pub(super) fn chip_reader(
    raw: &[Spanned<RawDevice>],
    report: &mut Report<'_>,
) -> Option<Option<ChipReader>> {
    let mut found: Option<ChipReader> = None;
    let mut valid = true;
    for table in raw.iter().filter(|table| table.get_ref().pcsc.is_some()) {
        match reader(table, report) {
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
                format!("`{key}` is a setting of a chip reader (a device with `pcsc`)"),
            );
            ok = false;
        }
    }
    ok
}

fn reader(table: &Spanned<RawDevice>, report: &mut Report<'_>) -> Option<ChipReader> {
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
    let pattern = raw
        .pcsc
        .as_ref()
        .and_then(|value| non_empty(value, "pcsc reader pattern", report));
    let mut others = BTreeSet::new();
    for (key, value) in [
        ("profile", raw.profile.as_ref()),
        ("port", raw.port.as_ref()),
        ("usb", raw.usb.as_ref()),
        ("spool", raw.spool.as_ref()),
    ] {
        if let Some(value) = value {
            report.at(
                value.span().start,
                format!("`{key}` is a scanner setting: a pcsc chip reader takes `pcsc`, `refuse_bac_fallback` and `extended_length`"),
            );
            others.insert(key);
        }
    }
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
    let extended_length = raw
        .extended_length
        .as_ref()
        .is_some_and(|value| *value.get_ref());
    if !others.is_empty() {
        return None;
    }
    Some(ChipReader {
        name: name?,
        pattern: pattern?,
        refuse_bac_fallback: refuse_bac_fallback?,
        extended_length,
    })
}

fn non_empty(value: &Spanned<String>, what: &str, report: &mut Report<'_>) -> Option<String> {
    let text = value.get_ref().trim();
    if text.is_empty() {
        report.at(value.span().start, format!("{what} is empty"));
        return None;
    }
    Some(text.to_string())
}
