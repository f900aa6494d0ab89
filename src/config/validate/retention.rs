//! `[retention]`: how long movements are kept (never shorter than the longest stay window) and
//! how often they are pruned.

use std::num::NonZeroU64;
use std::time::Duration;

use toml::Spanned;

use super::diagnostics::{Report, in_range};
use super::ledger::CACHE_CAPACITY_BYTES_RANGE;
use crate::config::Retention;
use crate::config::raw::RawRetention;

/// The longest stay window a rule may count over: a calendar-year rule reaches back up to 366
/// days (a rolling 90/180 rule only 180), so movements must be kept at least that long.
pub(super) const STAY_WINDOW_DAYS_LONGEST: u64 = 366;

/// Accepted range of the prune interval, seconds, and its default.
pub(super) const PRUNE_EVERY_S_RANGE: std::ops::RangeInclusive<u64> = 1..=86_400;

pub(super) const PRUNE_EVERY_S_DEFAULT: u64 = 3_600;

/// Accepted range of movement retention: the longest stay window to ten years.
pub(super) const MOVEMENT_DAYS_RANGE: std::ops::RangeInclusive<u64> =
    STAY_WINDOW_DAYS_LONGEST..=3_653;

pub(super) fn retention(
    table: &Spanned<RawRetention>,
    report: &mut Report<'_>,
) -> Option<Retention> {
    let at = table.span().start;
    let raw = table.get_ref();
    let movement_days = report
        .required(
            &raw.movement_days,
            at,
            "retention",
            "movement_days",
            "days of movement history kept",
        )
        .and_then(|value| {
            let days = *value.get_ref();
            if MOVEMENT_DAYS_RANGE.contains(&days) {
                u32::try_from(days).ok()
            } else {
                report.at(
                    value.span().start,
                    format!(
                        "movement_days {days} is out of range: expected {} (the longest stay \
                         window, a calendar year) to {}",
                        MOVEMENT_DAYS_RANGE.start(),
                        MOVEMENT_DAYS_RANGE.end()
                    ),
                );
                None
            }
        });
    // Optional: hourly by default; the retention soak prunes every few seconds.
    let prune_every = match &raw.prune_every_s {
        Some(value) => {
            in_range(value, &PRUNE_EVERY_S_RANGE, "prune_every_s", report).map(Duration::from_secs)
        }
        None => Some(Duration::from_secs(PRUNE_EVERY_S_DEFAULT)),
    };
    let cache_capacity_bytes = match &raw.cache_capacity_bytes {
        Some(value) => in_range(
            value,
            &CACHE_CAPACITY_BYTES_RANGE,
            "cache_capacity_bytes",
            report,
        )
        .and_then(NonZeroU64::new),
        None => NonZeroU64::new(crate::adapters::feed::CACHE_CAPACITY_BYTES_DEFAULT),
    };
    Some(Retention {
        movement_days: movement_days?,
        prune_every: prune_every?,
        cache_capacity_bytes: cache_capacity_bytes?,
    })
}
