//! `[limits]`: the scan frame size, the outbox bound and the shutdown grace.

use std::num::{NonZeroU64, NonZeroUsize};
use std::time::Duration;

use toml::Spanned;

use super::diagnostics::{Report, in_range};
use crate::config::Limits;
use crate::config::raw::RawLimits;

/// Accepted range of scanner frame sizes: an MRZ is 90 bytes, a permit QR payload a few KiB.
pub(super) const SCAN_FRAME_BYTES_RANGE: std::ops::RangeInclusive<u64> = 16..=65_536;

/// Accepted range of the graceful-stop bound; the unit's TimeoutStopSec must stay above it.
pub(super) const SHUTDOWN_GRACE_MS_RANGE: std::ops::RangeInclusive<u64> = 100..=20_000;

pub(super) fn limits(table: &Spanned<RawLimits>, report: &mut Report<'_>) -> Option<Limits> {
    let at = table.span().start;
    let raw = table.get_ref();
    let scan_frame_bytes_max = report
        .required(
            &raw.scan_frame_bytes_max,
            at,
            "limits",
            "scan_frame_bytes_max",
            "bytes",
        )
        .and_then(|value| {
            in_range(
                value,
                &SCAN_FRAME_BYTES_RANGE,
                "scan_frame_bytes_max",
                report,
            )
        })
        .and_then(|bytes| usize::try_from(bytes).ok())
        .and_then(NonZeroUsize::new);
    let outbox_events_max = report
        .required(
            &raw.outbox_events_max,
            at,
            "limits",
            "outbox_events_max",
            "a count",
        )
        .and_then(|value| {
            let count = NonZeroU64::new(*value.get_ref());
            if count.is_none() {
                report.at(
                    value.span().start,
                    "outbox_events_max is 0: expected at least 1",
                );
            }
            count
        });
    let shutdown_grace = report
        .required(
            &raw.shutdown_grace_ms,
            at,
            "limits",
            "shutdown_grace_ms",
            "milliseconds",
        )
        .and_then(|value| in_range(value, &SHUTDOWN_GRACE_MS_RANGE, "shutdown_grace_ms", report))
        .map(Duration::from_millis);
    Some(Limits {
        scan_frame_bytes_max: scan_frame_bytes_max?,
        outbox_events_max: outbox_events_max?,
        shutdown_grace: shutdown_grace?,
    })
}
