//! `[checkpoint]`: the checkpoint's id, name, kind, lane, time zone, mode and direction.

use toml::Spanned;

use super::diagnostics::{Report, non_empty};
use crate::config::Checkpoint;
use crate::config::raw::RawCheckpoint;

/// Longest checkpoint id: it is stamped on every crossing record.
pub(super) const CHECKPOINT_ID_CHARS_MAX: usize = 32;

pub(super) fn checkpoint(
    table: &Spanned<RawCheckpoint>,
    report: &mut Report<'_>,
) -> Option<Checkpoint> {
    let at = table.span().start;
    let raw = table.get_ref();
    let name = "checkpoint";
    let id = report
        .required(&raw.id, at, name, "id", "a string such as \"AZ-GYD-T1\"")
        .and_then(|value| {
            let id = non_empty(value, "checkpoint id", report)?;
            let well_formed = id.chars().count() <= CHECKPOINT_ID_CHARS_MAX
                && id
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-');
            if !well_formed {
                report.at(
                    value.span().start,
                    format!(
                        "checkpoint id `{id}`: expected at most {CHECKPOINT_ID_CHARS_MAX} \
                         characters A-Z, 0-9 or `-`"
                    ),
                );
                return None;
            }
            Some(id)
        });
    let display_name = report
        .required(&raw.name, at, name, "name", "a string")
        .and_then(|value| non_empty(value, "checkpoint name", report));
    let kind = report
        .required(
            &raw.kind,
            at,
            name,
            "kind",
            "\"airport\", \"land\" or \"sea\"",
        )
        .map(|value| *value.get_ref());
    let lane = report
        .required(&raw.lane, at, name, "lane", "a string such as \"3\"")
        .and_then(|value| non_empty(value, "lane", report));
    let mode = report
        .required(&raw.mode, at, name, "mode", "\"officer\" or \"kiosk\"")
        .map(|value| *value.get_ref());
    let direction = report
        .required(
            &raw.direction,
            at,
            name,
            "direction",
            "\"entry\" or \"exit\"",
        )
        .map(|value| *value.get_ref());
    let time_zone = report
        .required(
            &raw.time_zone,
            at,
            name,
            "time_zone",
            "an IANA time zone such as \"Asia/Baku\"",
        )
        .and_then(|value| match jiff::tz::TimeZone::get(value.get_ref()) {
            Ok(zone) => Some(zone),
            Err(error) => {
                report.at(
                    value.span().start,
                    format!(
                        "unknown time zone `{}`: expected an IANA name such as \"Asia/Baku\" ({error})",
                        value.get_ref()
                    ),
                );
                None
            }
        });
    Some(Checkpoint {
        id: id?,
        name: display_name?,
        kind: kind?,
        lane: lane?,
        time_zone: time_zone?,
        mode: mode?,
        direction: direction?,
    })
}
