//! Traveller sessions: grouping the scans of one lane into one traveller's documents.
//!
//! A session starts with the first scan after the previous traveller and collects the passport's
//! MRZ plus any permit-card or e-visa QR and ID card presented within the window. A second main
//! document, a scan after the window, or the officer's "new traveller" closes it. Time is passed in.

use jiff::{SignedDuration, Timestamp};

/// Documents one session may hold before further scans are refused as a stuck scanner.
pub const SESSION_SCANS_MAX: usize = 8;

/// One scan as the session sees it: already framed and classified by the device layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionScan {
    /// A machine-readable zone (text lines joined by `\n`) and its line width.
    Mrz {
        /// The MRZ text.
        text: String,
        /// Width of its lines (44 for a passport, 30/36 for cards).
        line_width: usize,
    },
    /// A QR payload (a permit card or an e-visa).
    Qr {
        /// The payload text.
        text: String,
    },
}

impl SessionScan {
    /// Whether this scan is a main travel document (a passport-size MRZ).
    fn is_main_document(&self) -> bool {
        matches!(self, Self::Mrz { line_width: 44, .. })
    }
}

/// What a scan did to the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionChange {
    /// The scan started a new session (the previous one, if any, is closed).
    Started,
    /// The scan joined the current session.
    Joined,
    /// The same document was scanned twice in a row: ignored.
    Repeated,
    /// The session holds too many scans; the scan is dropped (a stuck or looping scanner).
    Full,
}

/// The documents presented by one traveller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TravellerSession {
    /// Lane-local session number (what the officer confirms).
    pub id: u64,
    /// When the first scan arrived.
    pub started_at: Timestamp,
    /// When the latest scan arrived.
    pub last_scan_at: Timestamp,
    /// The scans in arrival order.
    pub scans: Vec<SessionScan>,
}

impl TravellerSession {
    /// The main document's MRZ, else the first MRZ of any size.
    pub fn main_mrz(&self) -> Option<&str> {
        let main = self.scans.iter().find(|scan| scan.is_main_document());
        main.or_else(|| {
            self.scans
                .iter()
                .find(|scan| matches!(scan, SessionScan::Mrz { .. }))
        })
        .and_then(|scan| match scan {
            SessionScan::Mrz { text, .. } => Some(text.as_str()),
            SessionScan::Qr { .. } => None,
        })
    }

    /// The QR payloads presented.
    pub fn qr_texts(&self) -> impl Iterator<Item = &str> {
        self.scans.iter().filter_map(|scan| match scan {
            SessionScan::Qr { text } => Some(text.as_str()),
            SessionScan::Mrz { .. } => None,
        })
    }
}

/// The lane's current session and the rule for grouping.
#[derive(Clone, Debug)]
pub struct SessionTracker {
    window: SignedDuration,
    next_id: u64,
    current: Option<TravellerSession>,
}

impl SessionTracker {
    /// A tracker that groups scans arriving within `window` of the previous scan.
    pub fn new(window: SignedDuration) -> Self {
        Self {
            window,
            next_id: 1,
            current: None,
        }
    }

    /// The session being built, if any.
    pub fn current(&self) -> Option<&TravellerSession> {
        self.current.as_ref()
    }

    /// Closes the current session (the officer pressed "new traveller" or confirmed).
    pub fn close(&mut self) -> Option<TravellerSession> {
        self.current.take()
    }

    /// Adds a scan that arrived at `now`.
    pub fn accept(&mut self, scan: SessionScan, now: Timestamp) -> SessionChange {
        if let Some(session) = self.current.as_mut() {
            let within_window = now.duration_since(session.last_scan_at) <= self.window;
            let second_main =
                scan.is_main_document() && session.scans.iter().any(SessionScan::is_main_document);
            if session.scans.last() == Some(&scan) && within_window {
                session.last_scan_at = now;
                return SessionChange::Repeated;
            }
            if within_window && !second_main {
                if session.scans.len() >= SESSION_SCANS_MAX {
                    return SessionChange::Full;
                }
                session.scans.push(scan);
                session.last_scan_at = now;
                return SessionChange::Joined;
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        self.current = Some(TravellerSession {
            id,
            started_at: now,
            last_scan_at: now,
            scans: vec![scan],
        });
        SessionChange::Started
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).expect("in range")
    }

    fn passport(n: u8) -> SessionScan {
        SessionScan::Mrz {
            text: format!("P<UTO{n}"),
            line_width: 44,
        }
    }

    fn permit(text: &str) -> SessionScan {
        SessionScan::Qr { text: text.into() }
    }

    #[test]
    fn passport_then_permit_is_one_traveller() {
        let mut tracker = SessionTracker::new(SignedDuration::from_secs(30));
        assert_eq!(tracker.accept(passport(1), at(0)), SessionChange::Started);
        assert_eq!(
            tracker.accept(permit("BP1:A"), at(10)),
            SessionChange::Joined
        );
        let session = tracker.current().expect("a session");
        assert_eq!(session.id, 1);
        assert_eq!(session.main_mrz(), Some("P<UTO1"));
        assert_eq!(session.qr_texts().collect::<Vec<_>>(), vec!["BP1:A"]);
    }

    #[test]
    fn second_passport_or_late_scan_starts_a_new_traveller() {
        let mut tracker = SessionTracker::new(SignedDuration::from_secs(30));
        tracker.accept(passport(1), at(0));
        assert_eq!(tracker.accept(passport(2), at(5)), SessionChange::Started);
        assert_eq!(tracker.current().map(|s| s.id), Some(2));
        assert_eq!(
            tracker.accept(permit("BP1:B"), at(100)),
            SessionChange::Started
        );
        assert_eq!(tracker.current().map(|s| s.id), Some(3));
    }

    #[test]
    fn a_double_scan_is_ignored_and_a_stuck_scanner_is_bounded() {
        let mut tracker = SessionTracker::new(SignedDuration::from_secs(30));
        tracker.accept(passport(1), at(0));
        assert_eq!(tracker.accept(passport(1), at(1)), SessionChange::Repeated);
        for n in 0..SESSION_SCANS_MAX - 1 {
            assert_eq!(
                tracker.accept(permit(&n.to_string()), at(2)),
                SessionChange::Joined
            );
        }
        assert_eq!(
            tracker.accept(permit("one too many"), at(3)),
            SessionChange::Full
        );
    }

    #[test]
    fn new_traveller_closes_the_session() {
        let mut tracker = SessionTracker::new(SignedDuration::from_secs(30));
        tracker.accept(passport(1), at(0));
        assert_eq!(tracker.close().map(|s| s.id), Some(1));
        assert!(tracker.current().is_none());
        assert_eq!(
            tracker.accept(permit("BP1:C"), at(1)),
            SessionChange::Started
        );
    }
}
