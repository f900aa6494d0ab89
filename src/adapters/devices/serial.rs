//! Serial transport (RS-232, USB serial, CDC-ACM) through `serialport`, read in a blocking thread,
//! and the start-up programming of serial scanners (Honeywell menu commands, Zebra SSI).

use std::io::{self, Read, Write};
use std::time::Duration;

use serialport::{DataBits, FlowControl, StopBits, TTYPort};

use super::profile::{Expect, Flow, Parity, Programming, ProgrammingProtocol, SerialSettings};
use super::{DeviceError, Session};
use crate::core::frame::honeywell::{MenuReplyReader, menu_command};
use crate::core::frame::ssi::{self, SsiDecoder, SsiPacket};

/// How long one read waits before the loop checks for shutdown and MRZ timeouts.
pub const READ_POLL: Duration = Duration::from_millis(20);
const READ_CHUNK_BYTES: usize = 512;

/// Opens a serial port with the profile's line settings.
pub fn open(path: &str, settings: &SerialSettings) -> Result<TTYPort, DeviceError> {
    let builder = serialport::new(path, settings.baud)
        .data_bits(if settings.data_bits == 7 {
            DataBits::Seven
        } else {
            DataBits::Eight
        })
        .parity(match settings.parity {
            Parity::None => serialport::Parity::None,
            Parity::Even => serialport::Parity::Even,
            Parity::Odd => serialport::Parity::Odd,
        })
        .stop_bits(if settings.stop_bits == 2 {
            StopBits::Two
        } else {
            StopBits::One
        })
        .flow_control(match settings.flow {
            Flow::None => FlowControl::None,
            Flow::Software => FlowControl::Software,
            Flow::Hardware => FlowControl::Hardware,
        })
        .timeout(READ_POLL);
    builder.open_native().map_err(|e| DeviceError::Open {
        path: path.to_owned(),
        why: e.to_string(),
    })
}

/// A serial port as a [`Session`].
pub struct SerialSession {
    port: TTYPort,
    buf: Vec<u8>,
    /// Bytes put back by [`Session::unread`], returned before the port is read again.
    unread: Vec<u8>,
}

impl SerialSession {
    /// Wraps an open port.
    pub fn new(port: TTYPort) -> Self {
        Self {
            port,
            buf: vec![0; READ_CHUNK_BYTES],
            unread: Vec::new(),
        }
    }
}

impl Session for SerialSession {
    fn read(&mut self) -> Result<Option<&[u8]>, DeviceError> {
        if !self.unread.is_empty() {
            self.buf = std::mem::take(&mut self.unread);
            return Ok(Some(&self.buf));
        }
        self.buf.resize(READ_CHUNK_BYTES, 0);
        match self.port.read(&mut self.buf) {
            Ok(0) => Err(DeviceError::Gone("end of stream".into())),
            Ok(n) => Ok(self.buf.get(..n)),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut
                        | io::ErrorKind::WouldBlock
                        | io::ErrorKind::Interrupted
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(DeviceError::Gone(e.to_string())),
        }
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), DeviceError> {
        self.port
            .write_all(bytes)
            .and_then(|()| self.port.flush())
            .map_err(|e| DeviceError::Gone(format!("write: {e}")))
    }

    fn unread(&mut self, bytes: &[u8]) {
        self.unread.extend_from_slice(bytes);
    }
}

/// The outcome of one programming step, printed by `devices probe`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepReport {
    /// The step's note.
    pub note: String,
    /// Bytes sent.
    pub sent: Vec<u8>,
    /// Reply, rendered for people (`None`: no reply expected or none came).
    pub reply: Option<String>,
    /// Whether the reply met the expectation.
    pub ok: bool,
}

/// Runs a programming sequence; stops at the first step whose reply is not as expected.
pub fn program(
    session: &mut dyn Session,
    programming: &Programming,
) -> Result<Vec<StepReport>, DeviceError> {
    let mut reports = Vec::new();
    for step in &programming.steps {
        let sent = match (programming.protocol, &step.menu, step.opcode) {
            (ProgrammingProtocol::HoneywellMenu, Some(menu), _) => menu_command(menu),
            (ProgrammingProtocol::ZebraSsi, _, Some(opcode)) => {
                SsiPacket::host(opcode, step.data.clone())
                    .encode()
                    .map_err(|e| DeviceError::Init(e.to_string()))?
            }
            _ => {
                return Err(DeviceError::Init(format!(
                    "step `{}` does not match its protocol",
                    step.note
                )));
            }
        };
        session.write(&sent)?;
        let (reply, ok) = match step.expect {
            Expect::Nothing => (None, true),
            Expect::Ack | Expect::Reply => {
                let reply = await_reply(session, programming, programming.reply_timeout)?;
                match reply {
                    None => (None, false),
                    Some((text, acked)) => (Some(text), acked || step.expect == Expect::Reply),
                }
            }
        };
        let failed = !ok;
        reports.push(StepReport {
            note: step.note.clone(),
            sent,
            reply,
            ok,
        });
        if failed {
            let last = reports
                .last()
                .map(|r| r.reply.clone().unwrap_or_else(|| "no reply".into()));
            return Err(DeviceError::Init(format!(
                "step `{}` not accepted: {}",
                step.note,
                last.unwrap_or_default()
            )));
        }
    }
    Ok(reports)
}

/// Reads until a complete reply of the sequence's protocol arrives: `(rendered, accepted)`.
fn await_reply(
    session: &mut dyn Session,
    programming: &Programming,
    timeout: Duration,
) -> Result<Option<(String, bool)>, DeviceError> {
    let mut menu = MenuReplyReader::new();
    let mut ssi_decoder = SsiDecoder::new();
    // Counted in poll intervals rather than read from a clock: each read waits at most one.
    let mut waited = Duration::ZERO;
    while waited < timeout {
        waited += READ_POLL;
        let Some(bytes) = session.read()? else {
            continue;
        };
        let bytes = bytes.to_vec();
        match programming.protocol {
            ProgrammingProtocol::HoneywellMenu => {
                if let Some((reply, used)) = menu.push(&bytes) {
                    session.unread(bytes.get(used..).unwrap_or_default());
                    let text = reply
                        .entries
                        .iter()
                        .map(|e| format!("{} {:?}", e.text, e.status))
                        .collect::<Vec<_>>()
                        .join(", ");
                    return Ok(Some((text, reply.accepted())));
                }
            }
            ProgrammingProtocol::ZebraSsi => {
                // Byte by byte, so that what follows the reply is left for the pipeline.
                let mut reply = None;
                for (index, byte) in bytes.iter().enumerate() {
                    let mut packets = Vec::new();
                    ssi_decoder.push(std::slice::from_ref(byte), &mut packets);
                    if let Some(packet) = packets
                        .into_iter()
                        .flatten()
                        .find(|p| p.source == ssi::SOURCE_DECODER)
                    {
                        reply = Some(packet);
                        session.unread(bytes.get(index + 1..).unwrap_or_default());
                        break;
                    }
                }
                if let Some(packet) = reply {
                    let name = match packet.opcode {
                        ssi::OP_CMD_ACK => "CMD_ACK".to_owned(),
                        ssi::OP_CMD_NAK => format!("CMD_NAK cause {:?}", packet.data.first()),
                        other => format!("opcode 0x{other:02x} {}", hex::encode(&packet.data)),
                    };
                    return Ok(Some((name, packet.opcode == ssi::OP_CMD_ACK)));
                }
            }
        }
    }
    Ok(None)
}
