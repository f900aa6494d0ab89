//! One session with a chip: sends commands through the card channel, wrapped in secure
//! messaging once access control has set it up, and counts the APDUs exchanged.

use super::ChipError;
use super::apdu::{Command, Response};
use super::sm::SecureMessaging;
use crate::core::chip::channel::CardChannel;

/// A card channel with its secure-messaging state and counters.
pub struct Link<'a> {
    channel: &'a mut dyn CardChannel,
    sm: Option<SecureMessaging>,
    apdus: usize,
}

impl<'a> Link<'a> {
    /// A fresh link, without secure messaging.
    pub fn new(channel: &'a mut dyn CardChannel) -> Self {
        Self {
            channel,
            sm: None,
            apdus: 0,
        }
    }

    /// Sends one command and returns the (unwrapped) response.
    pub fn exchange(&mut self, command: &Command) -> Result<Response, ChipError> {
        self.apdus += 1;
        match &mut self.sm {
            Some(sm) => {
                let wire = sm.protect(command)?.encode()?;
                let raw = self.channel.transmit(&wire)?;
                sm.unprotect(&raw)
            }
            None => Response::parse(&self.channel.transmit(&command.encode()?)?),
        }
    }

    /// Sends one command and requires 9000.
    pub fn exchange_ok(
        &mut self,
        command: &Command,
        step: &'static str,
    ) -> Result<Vec<u8>, ChipError> {
        let response = self.exchange(command)?;
        if response.is_ok() {
            Ok(response.data)
        } else {
            Err(ChipError::Status {
                step,
                sw: response.sw,
            })
        }
    }

    /// Starts (or restarts, after chip authentication) secure messaging.
    pub fn start_secure_messaging(&mut self, sm: SecureMessaging) {
        self.sm = Some(sm);
    }

    /// Drops secure messaging (a failed PACE leaves the chip in plain mode).
    pub fn stop_secure_messaging(&mut self) {
        self.sm = None;
    }

    /// The cipher of the current secure messaging, if any.
    pub fn secure_messaging(&self) -> Option<&SecureMessaging> {
        self.sm.as_ref()
    }

    /// APDUs exchanged so far.
    pub fn apdus(&self) -> usize {
        self.apdus
    }

    /// Whether the channel carries extended-length APDUs.
    pub fn extended_length(&self) -> bool {
        self.channel.extended_length()
    }
}
