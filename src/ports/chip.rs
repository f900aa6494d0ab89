//! The chip port: how the chip reader reaches a contactless document (a PC/SC reader, the
//! software simulator in process, or a scripted card in tests).

use std::fmt;

/// Why an exchange with the card failed below the APDU level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelError {
    /// The card left the field (or the link to it broke) during the exchange.
    CardRemoved,
    /// No card is in the field.
    NoCard,
    /// The reader itself went away.
    ReaderGone,
    /// The exchange did not finish in time.
    Timeout,
    /// Anything else the transport reported, with its own words.
    Transport(String),
}

impl fmt::Display for ChannelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CardRemoved => f.write_str("the card left the field"),
            Self::NoCard => f.write_str("no card in the field"),
            Self::ReaderGone => f.write_str("the reader was unplugged"),
            Self::Timeout => f.write_str("the card did not answer in time"),
            Self::Transport(why) => write!(f, "transport error: {why}"),
        }
    }
}

impl std::error::Error for ChannelError {}

/// One logical channel to a card: sends a command APDU, returns the response APDU
/// (data followed by SW1 SW2).
pub trait CardChannel {
    /// Exchanges one APDU.
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, ChannelError>;

    /// Whether the reader and card accept extended-length APDUs (command data over 255 bytes or
    /// responses over 256). Readers that cannot say answer `false`.
    fn extended_length(&self) -> bool {
        false
    }
}

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
