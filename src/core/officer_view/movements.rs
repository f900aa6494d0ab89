//! The traveller's recent movements as the officer reads them, and the warnings they raise:
//! a previous entry with no exit, and the same document already recorded at this lane.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::person::time_text;
use crate::core::decision;
use crate::core::event::CrossingKind;

/// How many movements the screen lists, newest first.
pub const RECENT_MOVEMENTS_MAX: usize = 5;
/// A record of this document at this lane younger than this is shown as a warning.
pub const REPEAT_WINDOW: SignedDuration = SignedDuration::from_hours(1);

/// One recorded crossing of the document (from the movement index), as plain facts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PastCrossing {
    /// When it was recorded.
    pub at: Timestamp,
    /// Entry, exit or refused entry.
    pub direction: CrossingKind,
    /// Checkpoint id.
    pub checkpoint: String,
    /// Recording terminal (`<checkpoint>-<lane>`).
    pub terminal: String,
}

/// One movement on the screen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MovementLine {
    /// `DD.MM.YYYY HH:MM` in the checkpoint's zone.
    pub at: String,
    /// Entry, exit or refused entry.
    pub direction: CrossingKind,
    /// Where.
    pub checkpoint: String,
    /// Recorded by this lane's terminal.
    pub this_lane: bool,
}

/// What the movements warn the officer of.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum MovementWarning {
    /// Arriving, but the last movement was an entry: the exit was never recorded.
    PreviousEntryHasNoExit {
        /// When that entry was recorded.
        since: String,
    },
    /// Leaving, but the last movement was an exit: the entry was never recorded.
    PreviousExitHasNoEntry {
        /// When that exit was recorded.
        since: String,
    },
    /// This lane recorded the document minutes ago.
    AlreadyRecordedHere {
        /// Whole minutes since.
        minutes: i64,
    },
}

/// Where the lane stands, for reading the history.
#[derive(Clone, Copy, Debug)]
pub struct Here<'a> {
    /// This lane's terminal id.
    pub terminal: &'a str,
    /// Entry or exit lane.
    pub direction: decision::Direction,
    /// Now.
    pub now: Timestamp,
    /// The checkpoint's zone.
    pub time_zone: &'a TimeZone,
}

/// The latest movements (newest first) and the warnings; `history` is oldest first.
pub fn movements_view(
    history: &[PastCrossing],
    here: Here<'_>,
) -> (Vec<MovementLine>, Vec<MovementWarning>) {
    let lines = history
        .iter()
        .rev()
        .take(RECENT_MOVEMENTS_MAX)
        .map(|crossing| MovementLine {
            at: time_text(crossing.at, here.time_zone),
            direction: crossing.direction,
            checkpoint: crossing.checkpoint.clone(),
            this_lane: crossing.terminal == here.terminal,
        })
        .collect();
    let mut warnings = Vec::new();
    // A refused entry or a referral is no movement: the traveller did not cross.
    let last_crossed = history
        .iter()
        .rev()
        .find(|crossing| matches!(crossing.direction, CrossingKind::Entry | CrossingKind::Exit));
    match (here.direction, last_crossed) {
        (decision::Direction::Entry, Some(last)) if last.direction == CrossingKind::Entry => {
            warnings.push(MovementWarning::PreviousEntryHasNoExit {
                since: time_text(last.at, here.time_zone),
            });
        }
        (decision::Direction::Exit, Some(last)) if last.direction == CrossingKind::Exit => {
            warnings.push(MovementWarning::PreviousExitHasNoEntry {
                since: time_text(last.at, here.time_zone),
            });
        }
        _ => {}
    }
    let repeat = history.iter().rev().find(|crossing| {
        let age = here.now.duration_since(crossing.at);
        crossing.terminal == here.terminal && !age.is_negative() && age < REPEAT_WINDOW
    });
    if let Some(repeat) = repeat {
        warnings.push(MovementWarning::AlreadyRecordedHere {
            minutes: here.now.duration_since(repeat.at).as_mins(),
        });
    }
    (lines, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().expect("instant")
    }

    fn crossing(when: &str, direction: CrossingKind, terminal: &str) -> PastCrossing {
        PastCrossing {
            at: at(when),
            direction,
            checkpoint: "GYD".into(),
            terminal: terminal.into(),
        }
    }

    #[test]
    fn warnings_from_the_history() {
        use CrossingKind::{Entry as In, Exit as Out, Referred, RefusedEntry as Refused};
        use MovementWarning as W;
        let zone = TimeZone::get("Asia/Baku").expect("zone");
        let now = "2026-12-07T12:00:00Z";
        let since = |text: &str| time_text(at(text), &zone);
        #[rustfmt::skip]
        let rows: Vec<(&str, decision::Direction, Vec<PastCrossing>, Vec<W>)> = vec![
            ("first arrival", decision::Direction::Entry, vec![], vec![]),
            ("entered and left", decision::Direction::Entry,
             vec![crossing("2026-10-01T08:00:00Z", In, "GYD-2"), crossing("2026-10-20T08:00:00Z", Out, "GYD-3")], vec![]),
            ("entry with no exit", decision::Direction::Entry,
             vec![crossing("2026-10-01T08:00:00Z", In, "GYD-2")],
             vec![W::PreviousEntryHasNoExit { since: since("2026-10-01T08:00:00Z") }]),
            // The passport entered twice 20 s apart at the same lane.
            ("twice at this lane", decision::Direction::Entry,
             vec![crossing("2026-12-07T11:59:40Z", In, "GYD-1")],
             vec![W::PreviousEntryHasNoExit { since: since("2026-12-07T11:59:40Z") }, W::AlreadyRecordedHere { minutes: 0 }]),
            ("refused minutes ago here", decision::Direction::Entry,
             vec![crossing("2026-10-20T08:00:00Z", Out, "GYD-3"), crossing("2026-12-07T11:47:00Z", Refused, "GYD-1")],
             vec![W::AlreadyRecordedHere { minutes: 13 }]),
            ("referred, then decided elsewhere", decision::Direction::Entry,
             vec![crossing("2026-10-20T08:00:00Z", Out, "GYD-3"), crossing("2026-12-07T11:30:00Z", Referred, "GYD-1")],
             vec![W::AlreadyRecordedHere { minutes: 30 }]),
            ("an hour ago is no repeat", decision::Direction::Entry,
             vec![crossing("2026-12-07T10:00:00Z", Out, "GYD-1")], vec![]),
            ("recent at another lane", decision::Direction::Entry,
             vec![crossing("2026-12-07T11:50:00Z", Out, "GYD-2")], vec![]),
            ("leaving after an entry", decision::Direction::Exit,
             vec![crossing("2026-12-01T08:00:00Z", In, "GYD-2")], vec![]),
            ("leaving twice", decision::Direction::Exit,
             vec![crossing("2026-12-01T08:00:00Z", Out, "GYD-4")],
             vec![W::PreviousExitHasNoEntry { since: since("2026-12-01T08:00:00Z") }]),
        ];
        for (name, direction, history, expected) in rows {
            let here = Here {
                terminal: "GYD-1",
                direction,
                now: at(now),
                time_zone: &zone,
            };
            let (_, warnings) = movements_view(&history, here);
            assert_eq!(warnings, expected, "{name}");
        }
    }

    #[test]
    fn the_latest_movements_newest_first() {
        let zone = TimeZone::get("Asia/Baku").expect("zone");
        let history: Vec<PastCrossing> = (1..=7)
            .map(|day| {
                crossing(
                    &format!("2026-11-0{day}T08:30:00Z"),
                    CrossingKind::Entry,
                    "GYD-2",
                )
            })
            .collect();
        let here = Here {
            terminal: "GYD-2",
            direction: decision::Direction::Exit,
            now: at("2026-12-07T12:00:00Z"),
            time_zone: &zone,
        };
        let (lines, _) = movements_view(&history, here);
        assert_eq!(lines.len(), RECENT_MOVEMENTS_MAX);
        assert_eq!(lines[0].at, "07.11.2026 12:30");
        assert_eq!(lines[4].at, "03.11.2026 12:30");
        assert!(lines[0].this_lane);
    }
}
