//! `[lane]`: session window, ledger staleness, clock tolerance and the watchlist threshold.

use std::time::Duration;

use toml::Spanned;

use super::diagnostics::{Report, in_range};
use crate::config::raw::RawLane;
use crate::config::{Lane, WatchlistThreshold};

pub(super) const SESSION_WINDOW_MS_RANGE: std::ops::RangeInclusive<u64> = 1_000..=600_000;

/// Accepted range of the ledger staleness limit: a minute to 30 days.
pub(super) const LEDGER_STALE_AFTER_S_RANGE: std::ops::RangeInclusive<u64> = 60..=2_592_000;

/// Accepted range of the backwards clock step tolerated before the clock is flagged.
pub(super) const CLOCK_BACKWARDS_TOLERANCE_MS_RANGE: std::ops::RangeInclusive<u64> = 0..=60_000;

pub(super) fn lane(table: &Spanned<RawLane>, report: &mut Report<'_>) -> Option<Lane> {
    let at = table.span().start;
    let raw = table.get_ref();
    let session_window = report
        .required(
            &raw.session_window_ms,
            at,
            "lane",
            "session_window_ms",
            "milliseconds within which scans belong to one traveller",
        )
        .and_then(|value| in_range(value, &SESSION_WINDOW_MS_RANGE, "session_window_ms", report))
        .map(Duration::from_millis);
    let ledger_stale_after = report
        .required(
            &raw.ledger_stale_after_s,
            at,
            "lane",
            "ledger_stale_after_s",
            "seconds of ledger age after which decisions carry ledger_stale",
        )
        .and_then(|value| {
            in_range(
                value,
                &LEDGER_STALE_AFTER_S_RANGE,
                "ledger_stale_after_s",
                report,
            )
        })
        .map(Duration::from_secs);
    let clock_backwards_tolerance = report
        .required(
            &raw.clock_backwards_tolerance_ms,
            at,
            "lane",
            "clock_backwards_tolerance_ms",
            "milliseconds",
        )
        .and_then(|value| {
            in_range(
                value,
                &CLOCK_BACKWARDS_TOLERANCE_MS_RANGE,
                "clock_backwards_tolerance_ms",
                report,
            )
        })
        .map(Duration::from_millis);
    let watchlist_threshold = match &raw.watchlist_threshold {
        None => Some(WatchlistThreshold::default()),
        Some(value) => {
            let threshold = WatchlistThreshold::new(*value.get_ref());
            if threshold.is_none() {
                let range = WatchlistThreshold::RANGE;
                report.at(
                    value.span().start,
                    format!(
                        "watchlist_threshold {} is out of range: expected {} to {}",
                        value.get_ref(),
                        range.start(),
                        range.end()
                    ),
                );
            }
            threshold
        }
    };
    Some(Lane {
        session_window: session_window?,
        ledger_stale_after: ledger_stale_after?,
        clock_backwards_tolerance: clock_backwards_tolerance?,
        watchlist_threshold: watchlist_threshold?,
    })
}
