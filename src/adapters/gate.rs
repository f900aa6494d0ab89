//! The kiosk gate: an output device (a relay on a serial line) that opens only for a crossing
//! that is already durably recorded, and whose silence keeps the kiosk referring.
//!
//! Protocol (the profile's strings): the terminal sends `open_command` and expects `open_reply`
//! within `reply_timeout`; `ping_command`/`ping_reply` probe a gate that stopped answering.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Deserialize;

/// Longest reply line the gate may send before it counts as garbage.
pub const GATE_REPLY_BYTES_MAX: usize = 64;

/// The gate's profile (`devices/gate-serial-relay.toml`, table `[gate]`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct GateProfile {
    /// Model name, for the technician.
    pub model: String,
    /// Line speed.
    pub baud_rate: u32,
    /// Sent to open the gate for one traveller (escape `\r` as in TOML strings).
    pub open_command: String,
    /// Expected answer to `open_command`.
    pub open_reply: String,
    /// Sent to probe the gate.
    pub ping_command: String,
    /// Expected answer to `ping_command`.
    pub ping_reply: String,
    /// How long to wait for a reply.
    pub reply_timeout_ms: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GateProfileFile {
    gate: GateProfile,
}

/// Errors of the gate: each one keeps the kiosk in "refer".
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GateError {
    /// The profile file is not a valid gate profile.
    #[error("gate profile: {0}")]
    Profile(String),
    /// The serial port could not be opened or written.
    #[error("gate port {port}: {message}")]
    Port {
        /// The port path.
        port: String,
        /// What failed.
        message: String,
    },
    /// The gate did not answer within the timeout.
    #[error("gate did not answer within {timeout_ms} ms")]
    NoAnswer {
        /// The timeout.
        timeout_ms: u64,
    },
    /// The gate answered something else.
    #[error("gate answered {got:?}, expected {expected:?}")]
    WrongAnswer {
        /// What was expected.
        expected: String,
        /// What arrived (lossy text).
        got: String,
    },
}

impl GateProfile {
    /// Parses a gate profile from TOML text.
    pub fn from_toml(text: &str) -> Result<Self, GateError> {
        toml::from_str::<GateProfileFile>(text)
            .map(|file| file.gate)
            .map_err(|error| GateError::Profile(error.to_string()))
    }
}

/// A gate relay on a serial port. Blocking: run it on a blocking thread.
pub struct SerialGate {
    port_path: PathBuf,
    profile: GateProfile,
    port: Option<Box<dyn serialport::SerialPort>>,
}

impl SerialGate {
    /// A gate on `port_path`; the port is opened on first use and reopened after a failure.
    pub fn new(port_path: PathBuf, profile: GateProfile) -> Self {
        Self {
            port_path,
            profile,
            port: None,
        }
    }

    /// Opens the gate for one recorded crossing and waits for the relay's confirmation.
    pub fn open(&mut self) -> Result<(), GateError> {
        let command = self.profile.open_command.clone();
        let reply = self.profile.open_reply.clone();
        self.exchange(&command, &reply)
    }

    /// Probes the gate; `Ok` means it answers as its profile says.
    pub fn ping(&mut self) -> Result<(), GateError> {
        let command = self.profile.ping_command.clone();
        let reply = self.profile.ping_reply.clone();
        self.exchange(&command, &reply)
    }

    fn port_error(&self, message: impl ToString) -> GateError {
        GateError::Port {
            port: self.port_path.display().to_string(),
            message: message.to_string(),
        }
    }

    fn exchange(&mut self, command: &str, expected: &str) -> Result<(), GateError> {
        let result = self.try_exchange(command, expected);
        if matches!(result, Err(GateError::Port { .. })) {
            // The port may have gone away (unplugged relay): reopen on the next attempt.
            self.port = None;
        }
        result
    }

    fn try_exchange(&mut self, command: &str, expected: &str) -> Result<(), GateError> {
        let timeout = Duration::from_millis(self.profile.reply_timeout_ms);
        if self.port.is_none() {
            let port = serialport::new(self.port_path.to_string_lossy(), self.profile.baud_rate)
                .timeout(timeout)
                .open()
                .map_err(|error| self.port_error(error))?;
            self.port = Some(port);
        }
        let port_path = self.port_path.display().to_string();
        let Some(port) = self.port.as_mut() else {
            return Err(GateError::Port {
                port: port_path,
                message: "not open".into(),
            });
        };
        // Stale bytes (a late answer to an earlier command) must not confirm this one.
        let _ = port.clear(serialport::ClearBuffer::Input);
        port.write_all(command.as_bytes())
            .and_then(|()| port.flush())
            .map_err(|error| GateError::Port {
                port: port_path.clone(),
                message: error.to_string(),
            })?;
        let deadline = Instant::now() + timeout;
        let mut received = Vec::new();
        let mut buffer = [0u8; GATE_REPLY_BYTES_MAX];
        while Instant::now() < deadline && received.len() < GATE_REPLY_BYTES_MAX {
            match port.read(&mut buffer) {
                Ok(0) => std::thread::sleep(Duration::from_millis(5)),
                Ok(n_read) => {
                    received.extend_from_slice(&buffer[..n_read]);
                    if received.len() >= expected.len() {
                        break;
                    }
                }
                Err(error) if error.kind() == std::io::ErrorKind::TimedOut => break,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                Err(error) => {
                    return Err(GateError::Port {
                        port: port_path,
                        message: error.to_string(),
                    });
                }
            }
        }
        if received.is_empty() {
            return Err(GateError::NoAnswer {
                timeout_ms: self.profile.reply_timeout_ms,
            });
        }
        if received.starts_with(expected.as_bytes()) {
            Ok(())
        } else {
            Err(GateError::WrongAnswer {
                expected: expected.to_string(),
                got: String::from_utf8_lossy(&received).into_owned(),
            })
        }
    }
}

impl crate::ports::gate::Gate for SerialGate {
    fn ping(&mut self) -> Result<(), String> {
        SerialGate::ping(self).map_err(|error| error.to_string())
    }

    fn open(&mut self) -> Result<(), String> {
        SerialGate::open(self).map_err(|error| error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_parses_and_rejects_unknown_keys() {
        let text = "[gate]\nmodel = \"relay\"\nbaud_rate = 9600\nopen_command = \"OPEN\\r\"\n\
                    open_reply = \"OK\\r\"\nping_command = \"PING\\r\"\nping_reply = \"PONG\\r\"\n\
                    reply_timeout_ms = 300\n";
        let profile = GateProfile::from_toml(text).expect("valid profile");
        assert_eq!(profile.open_command, "OPEN\r");
        let broken = text.replace("model", "modle");
        assert!(matches!(
            GateProfile::from_toml(&broken),
            Err(GateError::Profile(_))
        ));
    }
}
