//! Scanner transports: serial ports (plain framing or Zebra SSI) and USB HID (POS and keyboard
//! wedge) read in blocking threads, each device under a supervisor that reconnects with backoff.
//!
//! Architecture invariant: only this module opens serial ports and USB devices; it moves bytes
//! into `core::frame` and sends the results on a channel, and decides nothing about documents.

pub mod profile;

pub use profile::{DeviceProfile, ProfileError, parse_profile};
