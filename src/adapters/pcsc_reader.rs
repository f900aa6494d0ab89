//! The chip reader over PC/SC: the `pcsc` crate against pcscd. Finds a reader by a name
//! pattern, reports card inserted / removed / reader unplugged as events with a bounded wait,
//! and carries APDUs for [`crate::core::chip`] through the [`CardChannel`] port.
//!
//! Architecture invariant: only this module names PC/SC.

use std::ffi::CString;
use std::time::Duration;

use crate::core::chip::ChipError;
use crate::core::chip::pace::Password;
use crate::core::chip::reader::{ChipRead, ReadSettings, read_chip};
use crate::ports::chip::{CardChannel, ChannelError, DocumentChipReader};

/// Why the reader could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReaderError {
    /// pcscd is not running or refused the context.
    #[error("PC/SC service unavailable ({0}); is pcscd running?")]
    Service(String),
    /// No reader's name contains the pattern.
    #[error("no PC/SC reader matches {pattern:?} (readers: {available})")]
    NoReader { pattern: String, available: String },
    /// A PC/SC call failed.
    #[error("PC/SC {call}: {why}")]
    Call { call: &'static str, why: String },
}

/// What happened at the reader while waiting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReaderEvent {
    /// A card is in the field.
    CardPresent,
    /// The field is empty.
    NoCard,
    /// The reader went away.
    ReaderGone,
    /// Nothing changed within the wait.
    Timeout,
}

/// A PC/SC context bound to one reader.
pub struct PcscReader {
    context: pcsc::Context,
    name: CString,
}

impl PcscReader {
    /// Connects to pcscd and picks the first reader whose name contains `pattern`
    /// (case-insensitive).
    pub fn open(pattern: &str) -> Result<Self, ReaderError> {
        let context = pcsc::Context::establish(pcsc::Scope::User)
            .map_err(|e| ReaderError::Service(e.to_string()))?;
        let readers = match context.list_readers_owned() {
            Ok(readers) => readers,
            Err(pcsc::Error::NoReadersAvailable) => Vec::new(),
            Err(e) => {
                return Err(ReaderError::Call {
                    call: "list readers",
                    why: e.to_string(),
                });
            }
        };
        let wanted = pattern.to_lowercase();
        let name = readers
            .iter()
            .find(|name| name.to_string_lossy().to_lowercase().contains(&wanted))
            .cloned()
            .ok_or_else(|| ReaderError::NoReader {
                pattern: pattern.to_owned(),
                available: readers
                    .iter()
                    .map(|r| r.to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        Ok(Self { context, name })
    }

    /// The reader's full name.
    pub fn name(&self) -> String {
        self.name.to_string_lossy().into_owned()
    }

    /// The reader's state now, or after its next change within `wait`.
    pub fn wait_for_change(
        &self,
        known: Option<&ReaderEvent>,
        wait: Duration,
    ) -> Result<ReaderEvent, ReaderError> {
        let current = match known {
            Some(ReaderEvent::CardPresent) => pcsc::State::PRESENT,
            Some(ReaderEvent::NoCard) => pcsc::State::EMPTY,
            _ => pcsc::State::UNAWARE,
        };
        let mut states = [pcsc::ReaderState::new(self.name.clone(), current)];
        match self.context.get_status_change(wait, &mut states) {
            Ok(()) => {}
            Err(pcsc::Error::Timeout) => return Ok(ReaderEvent::Timeout),
            Err(pcsc::Error::UnknownReader | pcsc::Error::ReaderUnavailable) => {
                return Ok(ReaderEvent::ReaderGone);
            }
            Err(e) => {
                return Err(ReaderError::Call {
                    call: "get status change",
                    why: e.to_string(),
                });
            }
        }
        let state = states[0].event_state();
        Ok(
            if state
                .intersects(pcsc::State::UNKNOWN | pcsc::State::UNAVAILABLE | pcsc::State::IGNORE)
            {
                ReaderEvent::ReaderGone
            } else if state.contains(pcsc::State::PRESENT) && !state.contains(pcsc::State::MUTE) {
                ReaderEvent::CardPresent
            } else {
                ReaderEvent::NoCard
            },
        )
    }

    /// Waits up to `wait` for a card and connects to it.
    pub fn wait_for_card(
        &self,
        wait: Duration,
        extended_length: bool,
    ) -> Result<PcscCard, ChannelError> {
        let step = Duration::from_millis(250);
        let mut waited = Duration::ZERO;
        let mut known = None;
        loop {
            let event = self
                .wait_for_change(known.as_ref(), step)
                .map_err(|e| ChannelError::Transport(e.to_string()))?;
            match event {
                ReaderEvent::CardPresent => return self.connect(extended_length),
                ReaderEvent::ReaderGone => return Err(ChannelError::ReaderGone),
                ReaderEvent::NoCard => known = Some(ReaderEvent::NoCard),
                ReaderEvent::Timeout => {}
            }
            waited += step;
            if waited >= wait {
                return Err(ChannelError::NoCard);
            }
        }
    }

    fn connect(&self, extended_length: bool) -> Result<PcscCard, ChannelError> {
        let card = self
            .context
            .connect(&self.name, pcsc::ShareMode::Exclusive, pcsc::Protocols::ANY)
            .map_err(channel_error)?;
        Ok(PcscCard {
            card,
            extended_length,
        })
    }
}

/// A connected card.
pub struct PcscCard {
    card: pcsc::Card,
    extended_length: bool,
}

impl CardChannel for PcscCard {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, ChannelError> {
        let mut buffer = vec![0; pcsc::MAX_BUFFER_SIZE_EXTENDED];
        let answer = self
            .card
            .transmit(command, &mut buffer)
            .map_err(channel_error)?;
        Ok(answer.to_vec())
    }

    fn extended_length(&self) -> bool {
        self.extended_length
    }
}

fn channel_error(error: pcsc::Error) -> ChannelError {
    match error {
        pcsc::Error::RemovedCard
        | pcsc::Error::ResetCard
        | pcsc::Error::UnpoweredCard
        | pcsc::Error::UnresponsiveCard => ChannelError::CardRemoved,
        pcsc::Error::NoSmartcard => ChannelError::NoCard,
        pcsc::Error::ReaderUnavailable
        | pcsc::Error::UnknownReader
        | pcsc::Error::NoReadersAvailable => ChannelError::ReaderGone,
        pcsc::Error::Timeout => ChannelError::Timeout,
        other => ChannelError::Transport(other.to_string()),
    }
}

/// The lane's chip reader over PC/SC: each read finds the reader afresh (an unplugged and
/// replugged reader is found again), waits a bounded time for a card, and reads it.
pub struct PcscChipReader {
    /// Part of the reader's name (case-insensitive).
    pub pattern: String,
    /// Whether the reader takes extended-length APDUs.
    pub extended_length: bool,
    /// How long a read waits for a card in the field.
    pub card_wait: Duration,
}

impl DocumentChipReader for PcscChipReader {
    fn read(
        &mut self,
        password: &Password,
        settings: &ReadSettings,
    ) -> Result<ChipRead, ChipError> {
        let reader = PcscReader::open(&self.pattern).map_err(|error| match error {
            ReaderError::NoReader { .. } => ChipError::Channel(ChannelError::ReaderGone),
            other => ChipError::Channel(ChannelError::Transport(other.to_string())),
        })?;
        let mut card = reader.wait_for_card(self.card_wait, self.extended_length)?;
        read_chip(&mut card, password, settings, &mut rand::thread_rng())
    }
}
