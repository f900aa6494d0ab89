//! `[ledger]`: the replica's cache and flush period.

use std::num::NonZeroU64;

use toml::Spanned;

use super::diagnostics::{Report, in_range};
use crate::config::Ledger;
use crate::config::raw::RawLedger;

/// Accepted range of the ledger flush interval.
/// Accepted range of the ledger page cache.
pub(super) const CACHE_CAPACITY_BYTES_RANGE: std::ops::RangeInclusive<u64> = (1 << 20)..=(16 << 30);

pub(super) fn ledger(table: &Spanned<RawLedger>, report: &mut Report<'_>) -> Option<Ledger> {
    let at = table.span().start;
    let raw = table.get_ref();
    let cache_capacity_bytes = report
        .required(
            &raw.cache_capacity_bytes,
            at,
            "ledger",
            "cache_capacity_bytes",
            "bytes",
        )
        .and_then(|value| {
            in_range(
                value,
                &CACHE_CAPACITY_BYTES_RANGE,
                "cache_capacity_bytes",
                report,
            )
        })
        .and_then(NonZeroU64::new);
    Some(Ledger {
        cache_capacity_bytes: cache_capacity_bytes?,
    })
}
