//! Honeywell menu commands (`SYN M CR` + tag/subtag/data + storage) and their echoed replies
//! (ACK, ENQ for an unknown tag, NAK for a bad value), plus the serial trigger commands.

/// Synchronous idle: starts every menu and trigger command.
pub const SYN: u8 = 0x16;
/// Reply status: the tag is unknown.
pub const ENQ: u8 = 0x05;
/// Activates the scanner in serial trigger mode (`SYN T CR`).
pub const TRIGGER_ACTIVATE: [u8; 3] = [SYN, b'T', b'\r'];
/// Deactivates it (`SYN U CR`).
pub const TRIGGER_DEACTIVATE: [u8; 3] = [SYN, b'U', b'\r'];
const MENU_PREFIX: [u8; 3] = [SYN, b'M', b'\r'];
/// A reply longer than this is not a menu reply.
pub const MENU_REPLY_BYTES_MAX: usize = 1024;

/// Encodes a menu command; `body` is tags and data ending in the storage character
/// (`.` non-volatile, `!` volatile), e.g. `232BAD?.`.
pub fn menu_command(body: &str) -> Vec<u8> {
    let mut command = MENU_PREFIX.to_vec();
    command.extend_from_slice(body.as_bytes());
    command
}

/// How the scanner answered one tag of a menu command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MenuStatus {
    /// Accepted.
    Ack,
    /// Unknown tag or subtag.
    Enq,
    /// Value out of range.
    Nak,
}

/// One entry of a reply: the echoed tag (with the current value for queries) and its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuEntry {
    /// The echoed text, e.g. `232BAD5`.
    pub text: String,
    /// The scanner's verdict.
    pub status: MenuStatus,
}

/// A complete menu reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuReply {
    /// One entry per tag or subtag.
    pub entries: Vec<MenuEntry>,
    /// The storage character that ended the reply.
    pub storage: u8,
}

impl MenuReply {
    /// True when every entry was acknowledged.
    pub fn accepted(&self) -> bool {
        !self.entries.is_empty() && self.entries.iter().all(|e| e.status == MenuStatus::Ack)
    }
}

/// Collects reply bytes until the storage character that follows a status byte.
#[derive(Debug, Clone, Default)]
pub struct MenuReplyReader {
    buf: Vec<u8>,
}

impl MenuReplyReader {
    /// An empty reader.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes; returns the reply once complete, with the number of bytes it took from
    /// `bytes` (the rest belongs to what the scanner sends next).
    pub fn push(&mut self, bytes: &[u8]) -> Option<(MenuReply, usize)> {
        for (index, &byte) in bytes.iter().enumerate() {
            let after_status = matches!(self.buf.last(), Some(&(0x06 | ENQ | 0x15)));
            if self.buf.len() >= MENU_REPLY_BYTES_MAX {
                self.buf.clear();
            }
            self.buf.push(byte);
            if after_status && matches!(byte, b'.' | b'!') {
                return Some((parse_menu_reply(&std::mem::take(&mut self.buf)), index + 1));
            }
        }
        None
    }
}

fn parse_menu_reply(reply: &[u8]) -> MenuReply {
    let body = reply.strip_prefix(&MENU_PREFIX[..]).unwrap_or(reply);
    let (storage, body) = body.split_last().map_or((b'.', &[][..]), |(s, b)| (*s, b));
    let mut entries = Vec::new();
    let mut text = Vec::new();
    for &byte in body {
        let status = match byte {
            0x06 => MenuStatus::Ack,
            ENQ => MenuStatus::Enq,
            0x15 => MenuStatus::Nak,
            b',' | b';' if text.is_empty() => continue,
            SYN | b'\r' | b'\n' => continue,
            _ => {
                text.push(byte);
                continue;
            }
        };
        entries.push(MenuEntry {
            text: String::from_utf8_lossy(&std::mem::take(&mut text)).into_owned(),
            status,
        });
    }
    MenuReply { entries, storage }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_encoding() {
        assert_eq!(menu_command("232BAD?."), b"\x16M\r232BAD?.");
    }

    #[test]
    fn replies_table() {
        type Case<'a> = (&'a [u8], &'a [(&'a str, MenuStatus)], bool);
        let cases: &[Case] = &[
            (b"REVINF\x06.", &[("REVINF", MenuStatus::Ack)], true),
            (
                b"\x16M\r232BAD5\x06.",
                &[("232BAD5", MenuStatus::Ack)],
                true,
            ),
            (
                b"AIMENA1\x06;PREBK2\x15!",
                &[("AIMENA1", MenuStatus::Ack), ("PREBK2", MenuStatus::Nak)],
                false,
            ),
            (b"XYZABC1\x05.", &[("XYZABC1", MenuStatus::Enq)], false),
        ];
        for (wire, entries, accepted) in cases {
            let mut reader = MenuReplyReader::new();
            let (head, tail) = wire.split_at(3);
            assert_eq!(reader.push(head), None);
            let (reply, used) = reader.push(tail).expect("complete reply");
            assert_eq!(used, tail.len());
            let got: Vec<(&str, MenuStatus)> = reply
                .entries
                .iter()
                .map(|e| (e.text.as_str(), e.status))
                .collect();
            assert_eq!(got, *entries);
            assert_eq!(reply.accepted(), *accepted);
        }
    }

    #[test]
    fn a_dot_inside_data_does_not_end_the_reply() {
        let mut reader = MenuReplyReader::new();
        assert_eq!(reader.push(b"PRESUF1.2"), None);
        assert!(reader.push(b"\x06.").is_some());
    }
}
