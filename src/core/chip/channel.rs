//! One logical channel to a card, as the chip protocols drive it: send a command APDU, get the
//! response APDU. Defined here, in the core that drives it; `ports::chip` re-exports it for the
//! adapters that implement it (PC/SC, the simulator).

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
