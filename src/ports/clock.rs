//! The clock port: the only way the runtime learns the time.

use std::time::Duration;

/// Wall-clock and monotonic time, injected so that the core never reads a clock itself.
pub trait Clock: Send + Sync {
    /// Wall-clock time (UTC instant). May jump backwards or forwards when the system clock is set.
    fn now(&self) -> jiff::Timestamp;

    /// Monotonic time since an arbitrary fixed origin; never goes backwards.
    fn monotonic(&self) -> Duration;
}
