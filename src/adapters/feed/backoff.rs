//! The retry delay of the feed's loops (the relay's publishing, the index's consumer).

use std::time::Duration;

use rand::Rng;

/// Exponential backoff with full jitter: uniform in [min, min(max, min·2^failures)].
pub fn backoff_delay(failures: u32, min: Duration, max: Duration) -> Duration {
    let ceiling = min
        .saturating_mul(1u32 << failures.min(16))
        .min(max)
        .max(min);
    rand::thread_rng().gen_range(min..=ceiling)
}
