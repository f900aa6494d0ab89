//! The chip port: how the chip reader reaches a contactless document (a PC/SC reader, the
//! software simulator in process, or a scripted card in tests).

// One APDU exchange is the core's own abstraction (its chip protocols drive it), defined in
// `core::chip::channel`; adapters implement it from here.
pub use crate::core::chip::channel::{CardChannel, ChannelError};

/// The lane's chip reader: reads the document in the field, opening it with the access
/// password (PC/SC reader on a lane, the simulated field in the demo). A field with no card
/// answers `ChipError::Channel(ChannelError::NoCard)`; every wait is bounded.
pub trait DocumentChipReader: Send {
    /// Reads the chip in the field (access control, LDS files, active authentication).
    fn read(
        &mut self,
        password: &crate::core::chip::pace::Password,
        settings: &crate::core::chip::reader::ReadSettings,
    ) -> Result<crate::core::chip::reader::ChipRead, crate::core::chip::ChipError>;
}
