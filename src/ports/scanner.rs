//! The scanner port: what the device side hands the runtime — scans and device state changes,
//! on one channel, each tagged with the configured device name.

use std::fmt;

pub use crate::core::frame::pipeline::{Scan, ScanKind};
pub use crate::core::frame::{FrameError, Symbology};

/// A scan read by one device, ready for the decision loop.
#[derive(Clone, PartialEq, Eq)]
pub struct ScanEvent {
    /// The configured device name.
    pub device: String,
    /// The symbology, when the device reported one.
    pub symbology: Option<Symbology>,
    /// Symbol data, or the MRZ lines joined by `\n`.
    pub payload: Vec<u8>,
    /// Symbol or MRZ (with the assembled lines).
    pub kind: ScanKind,
}

impl fmt::Debug for ScanEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The payload may be personal data: its size only.
        f.debug_struct("ScanEvent")
            .field("device", &self.device)
            .field("symbology", &self.symbology)
            .field("payload_len", &self.payload.len())
            .field("kind", &self.kind)
            .finish()
    }
}

/// Whether a device is usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Open and initialised.
    Up,
    /// Absent, failed to open, or its init sequence failed; retried with backoff.
    Down,
}

/// A device's state, sent whenever it changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceState {
    /// The configured device name.
    pub device: String,
    /// Up or down.
    pub link: Link,
    /// When the link last changed.
    pub since: jiff::Timestamp,
    /// The last error, kept after recovery so a technician can see what happened.
    pub last_error: Option<String>,
}

/// Everything the device side reports to the runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceEvent {
    /// A complete scan.
    Scan(ScanEvent),
    /// A link change.
    State(DeviceState),
    /// Input that was dropped (garbled, partial, over-long); the device keeps running.
    Problem {
        /// The configured device name.
        device: String,
        /// What was wrong.
        problem: FrameError,
    },
}
