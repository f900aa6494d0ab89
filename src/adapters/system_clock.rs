//! The real clock. Architecture invariant: the only place in the crate that reads the system time.

use std::time::{Duration, Instant};

use crate::ports::clock::Clock;

/// The operating system's wall clock plus a monotonic clock started at construction.
#[derive(Debug)]
pub struct SystemClock {
    origin: Instant,
}

impl Default for SystemClock {
    fn default() -> Self {
        Self {
            origin: Instant::now(),
        }
    }
}

impl Clock for SystemClock {
    fn now(&self) -> jiff::Timestamp {
        jiff::Timestamp::now()
    }

    fn monotonic(&self) -> Duration {
        self.origin.elapsed()
    }
}
