//! `[upstream]`: central's URLs and TLS (`transport`), the credentials file (parsed as the
//! terminal parses it), the stream names, the duplicate window and the heartbeat period.

use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use super::diagnostics::{Report, in_range, non_empty};
use super::files::readable_file;
use crate::config::Upstream;
use crate::config::raw::RawUpstream;

/// Accepted range of the JetStream duplicate window: at least an hour, at most 30 days.
pub(super) const DUPLICATE_WINDOW_HOURS_RANGE: std::ops::RangeInclusive<u64> = 1..=720;

/// Accepted range of the heartbeat interval.
pub(super) const HEARTBEAT_EVERY_S_RANGE: std::ops::RangeInclusive<u64> = 1..=3_600;

pub(super) fn stream_name(value: &Spanned<String>, report: &mut Report<'_>) -> Option<String> {
    let name = non_empty(value, "stream name", report)?;
    if name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        Some(name)
    } else {
        report.at(
            value.span().start,
            format!("stream name `{name}`: expected letters, digits, `_` or `-` only"),
        );
        None
    }
}

pub(super) fn upstream(
    table: &Spanned<RawUpstream>,
    config_dir: &Path,
    report: &mut Report<'_>,
) -> Option<Upstream> {
    let at = table.span().start;
    let raw = table.get_ref();
    let transport = super::transport::transport(raw, at, config_dir, report);
    let credentials_file = match &raw.credentials_file {
        None => Some(None),
        Some(value) => {
            readable_file(value, config_dir, "credentials file", report).and_then(|path| {
                match crate::config::credentials::read_credentials(&path) {
                    Ok(_) => Some(Some(path)),
                    Err(why) => {
                        report.at(
                            value.span().start,
                            format!("credentials file {} {why}", path.display()),
                        );
                        None
                    }
                }
            })
        }
    };
    let events_stream = report
        .required(
            &raw.events_stream,
            at,
            "upstream",
            "events_stream",
            "a stream name",
        )
        .and_then(|value| stream_name(value, report));
    let ledger_stream = report
        .required(
            &raw.ledger_stream,
            at,
            "upstream",
            "ledger_stream",
            "a stream name",
        )
        .and_then(|value| stream_name(value, report));
    let duplicate_window = report
        .required(
            &raw.duplicate_window_hours,
            at,
            "upstream",
            "duplicate_window_hours",
            "hours, at least the longest outage to ride out",
        )
        .and_then(|value| {
            in_range(
                value,
                &DUPLICATE_WINDOW_HOURS_RANGE,
                "duplicate_window_hours",
                report,
            )
        })
        .map(|hours| Duration::from_secs(hours * 3_600));
    let heartbeat_every = report
        .required(
            &raw.heartbeat_every_s,
            at,
            "upstream",
            "heartbeat_every_s",
            "seconds",
        )
        .and_then(|value| in_range(value, &HEARTBEAT_EVERY_S_RANGE, "heartbeat_every_s", report))
        .map(Duration::from_secs);
    let transport = transport?;
    Some(Upstream {
        nats_url: transport.urls[0].clone(),
        urls: transport.urls,
        tls: transport.tls,
        stream_replicas: transport.stream_replicas,
        credentials_file: credentials_file?,
        events_stream: events_stream?,
        ledger_stream: ledger_stream?,
        duplicate_window: duplicate_window?,
        heartbeat_every: heartbeat_every?,
    })
}
