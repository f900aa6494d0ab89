//! Serves a [`SimulatedChip`] on vsmartcard's vpcd socket, so pcscd's "Virtual PCD" reader
//! sees it as an inserted card. The protocol: each message is a 2-byte big-endian length and
//! its payload; one-byte payloads are control (00 power off, 01 power on, 02 reset, 04 ATR
//! request), anything longer a command APDU answered by the response APDU.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::SimulatedChip;

/// Connects to a listening vpcd (its default mode) and serves the chip there.
pub fn serve(chip: &mut SimulatedChip, vpcd: SocketAddr) -> io::Result<()> {
    let stream = TcpStream::connect_timeout(&vpcd, Duration::from_secs(5))?;
    serve_stream(chip, stream)
}

/// Answers vpcd on an established connection (vpcd's reversed mode connects to a listening
/// card, which keeps every socket on loopback) until vpcd closes it or the simulated card
/// leaves the field (then the socket is closed, which vpcd reports to pcscd as a removed card).
pub fn serve_stream(chip: &mut SimulatedChip, mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    loop {
        // vpcd writes a message's length and its payload in two sends, and Nagle holds the
        // second until the first is acknowledged: a delayed acknowledgement here would cost
        // each APDU about 40 ms. Quick acknowledgement lasts until the next delayed one, so it
        // is asked for again before every message.
        rustix::net::sockopt::set_tcp_quickack(&stream, true)?;
        let mut length = [0u8; 2];
        match stream.read_exact(&mut length) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        }
        let mut message = vec![0; usize::from(u16::from_be_bytes(length))];
        stream.read_exact(&mut message)?;
        let answer = match message.as_slice() {
            [0x00] | [0x01] | [0x02] => {
                chip.reset();
                continue;
            }
            [0x04] => chip.atr(),
            apdu => match chip.process(apdu) {
                Ok(answer) => answer,
                // The card left the field: drop the connection as a pulled card would.
                Err(_) => return Ok(()),
            },
        };
        let length = u16::try_from(answer.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "answer over 65535 bytes"))?;
        stream.write_all(&length.to_be_bytes())?;
        stream.write_all(&answer)?;
    }
}
