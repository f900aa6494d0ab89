//! The lane hands the officer view what the ledger and the movement index hold: the alert's
//! note, the document's crossings (this lane told by terminal id), the holder's birth date.

use jiff::tz::TimeZone;
use serde_json::json;

use super::*;
use crate::core::event::TerminalId;
use crate::core::ledger::entry::AlertRaised;
use crate::core::ledger::state::{Alert, MemoryState};
use crate::core::mrz::{Td3Fields, compose_td3};
use crate::core::session::{SessionScan, SessionTracker};
use crate::ports::upstream::UpstreamError;

struct History(Vec<MovementRecord>);

impl MovementHistory for History {
    fn movements(&self, _: &HolderDigest) -> Result<Vec<MovementRecord>, UpstreamError> {
        Ok(self.0.clone())
    }
}

fn at(text: &str) -> Timestamp {
    text.parse().expect("instant")
}

#[test]
fn the_screen_shows_alert_notes_movements_and_the_minor() {
    let settings = LaneSettings {
        checkpoint: "GYD".into(),
        lane: "1".into(),
        direction: decision::Direction::Entry,
        mode: LaneMode::Officer,
        time_zone: TimeZone::get("Asia/Baku").expect("zone"),
        ledger_stale_after: SignedDuration::from_hours(24),
        permit_clock_skew: SignedDuration::from_mins(5),
        clock_backwards_tolerance: SignedDuration::from_secs(2),
        watchlist_threshold: crate::core::watchlist::DEFAULT_THRESHOLD,
    };
    let now = at("2026-12-07T10:00:00Z");
    let mrz = compose_td3(&Td3Fields {
        state: "GEO",
        surname: "BERIDZE",
        given: "ANA",
        number: "13AB45679",
        nationality: "GEO",
        birth: "100301",
        sex: 'F',
        expiry: "270301",
    });
    let mut tracker = SessionTracker::new(SignedDuration::from_secs(30));
    tracker.accept(
        SessionScan::Mrz {
            text: mrz.join("\n"),
            line_width: 44,
        },
        now,
    );
    let session = tracker.current().expect("a session").clone();
    let holder = HolderDigest::of("GEO", "13AB45679");
    let mut ledger = MemoryState::default();
    ledger.alerts.insert(
        7,
        Alert {
            id: 7,
            raised_at: at("2026-12-01T08:00:00Z"),
            alert: AlertRaised {
                holder: holder.0,
                alert: AlertKind::Lost,
                note: "reported lost in Tbilisi".into(),
            },
        },
    );
    let record = |when: &str, direction, terminal: &str, seq| MovementRecord {
        at: at(when),
        direction,
        checkpoint: "GYD".into(),
        terminal: TerminalId::new(terminal).expect("terminal id"),
        seq,
    };
    let history = History(vec![
        record(
            "2026-11-20T08:00:00Z",
            event::CrossingKind::Exit,
            "GYD-2",
            1,
        ),
        record(
            "2026-12-07T09:55:00Z",
            event::CrossingKind::Entry,
            "GYD-1",
            2,
        ),
    ]);
    let policy = StayPolicy::from_toml(include_str!("../../firmware-config/stay-rules.toml"))
        .expect("rules");
    let assessment = assess(
        &session,
        &settings,
        &ledger,
        &ReplicationState::Running,
        &history,
        &policy,
        now,
        true,
        &super::watchlist::LaneWatchlist::default(),
    )
    .expect("assessed");
    let view = &assessment.screen_json()["officer_view"];
    assert_eq!(
        view["birth"],
        json!({"date": "01.03.2010", "age": 16, "minor": true})
    );
    assert_eq!(
        view["expiry"],
        json!({"date": "01.03.2027", "status": "expires_soon"})
    );
    assert_eq!(
        view["alerts"],
        json!([{"kind": "lost", "until": null, "note": "reported lost in Tbilisi",
                "required_action": "hold_document"}])
    );
    assert_eq!(
        view["warnings"],
        json!([{"code": "previous_entry_has_no_exit", "since": "07.12.2026 13:55"},
               {"code": "already_recorded_here", "minutes": 5}])
    );
    assert_eq!(view["movements"][0]["this_lane"], true);
    assert_eq!(view["movements"][1]["this_lane"], false);
    assert_eq!(view["movements"][1]["at"], "20.11.2026 12:00");
    assert_eq!(assessment.verdict.outcome, decision::Outcome::Refer);
}
