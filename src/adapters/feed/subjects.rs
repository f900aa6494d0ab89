//! The NATS subjects of the feed: where a terminal's events and heartbeats are published.

use super::{EVENT_SUBJECT_PREFIX, HEARTBEAT_SUBJECT_PREFIX};
use crate::core::event::TerminalId;

fn subject_token(text: &str) -> String {
    let token: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if token.is_empty() { "_".into() } else { token }
}

/// `events.<checkpoint>.<terminal>`; characters that are not subject-safe become `_`.
pub fn event_subject(checkpoint: &str, terminal: &TerminalId) -> String {
    format!(
        "{EVENT_SUBJECT_PREFIX}.{}.{terminal}",
        subject_token(checkpoint)
    )
}

/// `heartbeats.<terminal>`.
pub fn heartbeat_subject(terminal: &TerminalId) -> String {
    format!("{HEARTBEAT_SUBJECT_PREFIX}.{terminal}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_token_safe() {
        let terminal = TerminalId::new("T1").expect("valid");
        assert_eq!(event_subject("GYD", &terminal), "events.GYD.T1");
        assert_eq!(event_subject("a.b *>", &terminal), "events.a_b___.T1");
        assert_eq!(event_subject("", &terminal), "events._.T1");
        assert_eq!(heartbeat_subject(&terminal), "heartbeats.T1");
    }
}
