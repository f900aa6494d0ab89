//! Person alerts at the lane (issue #23): a traveller matching a person alert of the ledger is
//! referred (`watchlist_possible_match`), the officer sees the alert and confirms or dismisses
//! the hit, and the signed crossing event carries the alert id, score and decision. Real parts:
//! the sled replica, the outbox (signing, chaining), the lane driver.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use checkpointd::adapters::api::{
    ApiCommand, ConfirmRequest, OfficerDecision, WatchlistReviewRequest,
};
use checkpointd::adapters::booth::SignedIn;
use checkpointd::adapters::feed::{Outbox, OutboxConfig};
use checkpointd::adapters::ledger::{CACHE_CAPACITY_DEFAULT, SledLedger};
use checkpointd::core::decision::{Direction, LaneMode, Outcome, ReasonCode};
use checkpointd::core::event::{
    self, CrossingEvent, TerminalId, Verification, WatchlistDecision, WatchlistReview,
};
use checkpointd::core::ledger::entry::{PersonAlertLifted, PersonAlertRaised};
use checkpointd::core::ledger::state::IndexConsistency;
use checkpointd::core::ledger::{Change, Checkpoint, extend, verify_batch};
use checkpointd::core::mrz::{Td3Fields, compose_td3};
use checkpointd::core::officer::{Language, Role};
use checkpointd::core::session::SessionScan;
use checkpointd::core::stay::policy::StayPolicy;
use checkpointd::lane::LaneSettings;
use checkpointd::lane::commands::RefusalKind;
use checkpointd::lane::driver::{LaneDriver, LaneParts, LaneReport};
use checkpointd::lane::watchlist::LaneWatchlist;
use checkpointd::ports::clock::Clock;
use checkpointd::ports::ledger::{LedgerStore, ReplicationState};
use ed25519_dalek::SigningKey;
use jiff::{SignedDuration, Timestamp};
use serde_json::Value;
use tokio::sync::{broadcast, oneshot, watch};

const STAY_RULES: &str = include_str!("../firmware-config/stay-rules.toml");
const TERMINAL_KEY: [u8; 32] = [7; 32];

/// The alert as central publishes it: a line of `ledger publish --entries` (and of
/// `watchlist screen --alerts`), in the person's own script.
const ALERT: &str = r#"{"alert_id":"PA-2026-0042","names":[{"surname":"Məmmədov","given_names":"Elçin Rəşid oğlu","original":{"surname":"Мамедов","given_names":"Эльчин"}}],"birth_date":"1985-03-12","nationalities":["AZE","RUS"],"sex":"M","kind":"entry_ban","until":"2031-01-01","action":"refuse entry, inform the duty officer","note":"deported 2026-02"}"#;

struct FixedClock(Timestamp);

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        self.0
    }
    fn monotonic(&self) -> Duration {
        Duration::ZERO
    }
}

fn now() -> Timestamp {
    "2026-06-01T08:00:00Z".parse().expect("time")
}

/// Applies `changes` to the replica as replication does (chain checked, one checkpoint).
fn publish(store: &SledLedger, changes: Vec<Change>) {
    let cursor = store.cursor().expect("cursor");
    let (encoded, root) = extend(cursor.seq, cursor.hash, changes, now());
    let checkpoint = Checkpoint {
        size: cursor.seq + encoded.len() as u64,
        root,
        time: now(),
    };
    let batch = verify_batch(&cursor, encoded, checkpoint).expect("chain");
    store
        .apply(&batch, b"checkpoint", &IndexConsistency)
        .expect("apply");
}

fn passport(surname: &str, given: &str, number: &str) -> SessionScan {
    passport_born(surname, given, number, "850312")
}

fn passport_born(surname: &str, given: &str, number: &str, birth: &str) -> SessionScan {
    let [line1, line2] = compose_td3(&Td3Fields {
        state: "RUS",
        surname,
        given,
        number,
        nationality: "RUS",
        birth,
        sex: 'M',
        expiry: "310101",
    });
    SessionScan::Mrz {
        line_width: 44,
        text: format!("{line1}\n{line2}"),
    }
}

struct Lane {
    driver: LaneDriver,
    outbox: Outbox,
    /// The replica the lane reads, where replication applies.
    ledger: Arc<SledLedger>,
    _dir: tempfile::TempDir,
}

fn lane(mode: LaneMode, threshold: f64, changes: Vec<Change>) -> Lane {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = Arc::new(
        SledLedger::open(&dir.path().join("ledger"), CACHE_CAPACITY_DEFAULT).expect("open"),
    );
    publish(&ledger, changes);
    let clock: Arc<dyn Clock> = Arc::new(FixedClock(now()));
    let outbox = Outbox::open(
        &dir.path().join("outbox"),
        OutboxConfig {
            terminal: TerminalId::new("AZ-GYD-A1").expect("id"),
            time_zone: jiff::tz::TimeZone::get("Asia/Baku").expect("tz"),
        },
        SigningKey::from_bytes(&TERMINAL_KEY),
        Arc::clone(&clock),
    )
    .expect("outbox");
    let depth = outbox.clone();
    let parts = LaneParts {
        ledger: ledger.clone(),
        movements: Arc::new(outbox.movement_index()),
        recorder: Arc::new(outbox.clone()),
        outbox_depth: Arc::new(move || depth.depth()),
        clock_high_water: Arc::new(|| None),
        policy: Arc::new(StayPolicy::from_toml(STAY_RULES).expect("rules")),
        clock,
        gate: None,
        replication: watch::channel(ReplicationState::Running).1,
    };
    let settings = LaneSettings {
        checkpoint: "AZ-GYD".into(),
        lane: "A1".into(),
        direction: Direction::Entry,
        mode,
        time_zone: jiff::tz::TimeZone::get("Asia/Baku").expect("tz"),
        ledger_stale_after: SignedDuration::from_hours(24),
        permit_clock_skew: SignedDuration::from_mins(5),
        clock_backwards_tolerance: SignedDuration::from_secs(2),
        watchlist_threshold: threshold,
    };
    let watchlist = LaneWatchlist::build(ledger.as_ref()).expect("watchlist");
    let driver = LaneDriver::new(
        settings,
        parts,
        SignedDuration::from_secs(30),
        broadcast::channel(256).0,
        watch::channel(Value::Null).0,
    )
    .with_watchlist(watchlist);
    Lane {
        driver,
        outbox,
        ledger,
        _dir: dir,
    }
}

fn alert() -> Change {
    Change::PersonAlert(serde_json::from_str::<PersonAlertRaised>(ALERT).expect("alert line"))
}

async fn confirm(
    driver: &mut LaneDriver,
    session: u64,
    decision: OfficerDecision,
    review: Option<(&str, WatchlistDecision)>,
) -> Result<Value, (RefusalKind, String)> {
    let (reply, answer) = oneshot::channel();
    let request = ConfirmRequest {
        session,
        decision,
        override_request: None,
        idempotency_key: None,
        officer: Some(SignedIn {
            officer_id: "B-1042".into(),
            role: Role::Officer,
            language: Language::En,
            idle_timeout_s: 600,
        }),
        cosigned: None,
        watchlist: review.map(|(alert_id, decision)| WatchlistReviewRequest {
            alert_id: alert_id.into(),
            decision,
        }),
    };
    driver.on_api(ApiCommand::Confirm { request, reply }).await;
    answer
        .await
        .expect("answered")
        .map_err(|refusal| (refusal.kind, refusal.message))
}

/// The signed event of `seq`, verified against the terminal's key.
fn signed_event(outbox: &Outbox, seq: u64) -> CrossingEvent {
    let bytes = outbox.event(seq).expect("read").expect("stored");
    let mut keys = HashMap::new();
    keys.insert(
        TerminalId::new("AZ-GYD-A1").expect("id"),
        SigningKey::from_bytes(&TERMINAL_KEY).verifying_key(),
    );
    match event::verify(&bytes, &keys) {
        Verification::Valid(event, _) => *event,
        Verification::Rejected(why) => panic!("event {seq} does not verify: {why:?}"),
    }
}

async fn scan(driver: &mut LaneDriver, document: SessionScan) -> LaneReport {
    driver
        .on_api(ApiCommand::NewTraveller {
            reply: oneshot::channel().0,
        })
        .await;
    driver.on_scan("desk", document).await.expect("a verdict")
}

fn review_of(event: &CrossingEvent) -> &WatchlistReview {
    event
        .crossing
        .watchlist
        .as_ref()
        .expect("the review is recorded")
}

#[tokio::test]
async fn a_hit_refers_and_the_officer_confirms_or_dismisses_it_in_the_signed_record() {
    let mut lane = lane(LaneMode::Officer, 0.72, vec![alert()]);
    // The passport spells the name as Russian transliteration does, word order as the MRZ has it.
    let report = scan(&mut lane.driver, passport("MAMEDOV", "ELCHIN", "720000001")).await;
    let assessment = &report.assessment;
    assert_eq!(assessment.verdict.outcome, Outcome::Refer);
    assert!(
        assessment
            .verdict
            .codes()
            .contains(&ReasonCode::WatchlistPossibleMatch)
    );
    let hits = assessment.screen_json()["watchlist"].clone();
    let hit = &hits[0];
    assert_eq!(hit["alert_id"], "PA-2026-0042", "{hits}");
    assert_eq!(hit["names"][0]["surname"], "Məmmədov");
    assert_eq!(hit["names"][0]["original"]["surname"], "Мамедов");
    assert_eq!(hit["birth_date"], "1985-03-12");
    assert_eq!(hit["kind"], "entry_ban");
    assert_eq!(hit["until"], "2031-01-01");
    assert_eq!(hit["action"], "refuse entry, inform the duty officer");
    let score = hit["score"].as_f64().expect("score");
    assert!((0.72..=1.0).contains(&score), "{score}");
    let matched: Vec<&str> = hit["matched"]
        .as_array()
        .expect("matched")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        matched.iter().any(|m| m.starts_with("name:")),
        "{matched:?}"
    );
    assert!(matched.contains(&"birth_date:exact"), "{matched:?}");

    // The hit must be reviewed, by one of its ids, and a confirmed hit is not admitted.
    let session = assessment.session;
    let refused = confirm(&mut lane.driver, session, OfficerDecision::Refuse, None).await;
    assert!(
        matches!(&refused, Err((RefusalKind::Invalid, m)) if m.contains("confirm or dismiss")),
        "{refused:?}"
    );
    let wrong = Some(("PA-9", WatchlistDecision::Confirmed));
    let refused = confirm(&mut lane.driver, session, OfficerDecision::Refuse, wrong).await;
    assert!(
        matches!(&refused, Err((RefusalKind::Invalid, m)) if m.contains("not among")),
        "{refused:?}"
    );
    let confirmed = Some(("PA-2026-0042", WatchlistDecision::Confirmed));
    let refused = confirm(&mut lane.driver, session, OfficerDecision::Admit, confirmed).await;
    assert!(
        matches!(&refused, Err((RefusalKind::Invalid, m)) if m.contains("refused or held")),
        "{refused:?}"
    );

    let answer = confirm(
        &mut lane.driver,
        session,
        OfficerDecision::Refuse,
        confirmed,
    )
    .await
    .expect("recorded");
    let seq = answer["seq"].as_u64().expect("seq");
    let recorded = signed_event(&lane.outbox, seq);
    assert_eq!(
        recorded.crossing.direction,
        event::CrossingKind::RefusedEntry
    );
    assert!(
        recorded
            .crossing
            .reason_codes
            .contains(&"watchlist_possible_match".to_owned())
    );
    let review = review_of(&recorded);
    assert_eq!(review.alert_id, "PA-2026-0042");
    assert_eq!(review.decision, WatchlistDecision::Confirmed);
    assert_eq!(review.score.0, score);

    // Another traveller of the same name, dismissed: admitted, the dismissal recorded.
    let report = scan(&mut lane.driver, passport("MAMEDOV", "ELCHIN", "720000002")).await;
    assert_eq!(report.assessment.verdict.outcome, Outcome::Refer);
    let dismissed = Some(("PA-2026-0042", WatchlistDecision::Dismissed));
    let answer = confirm(
        &mut lane.driver,
        report.assessment.session,
        OfficerDecision::Admit,
        dismissed,
    )
    .await
    .expect("recorded");
    let recorded = signed_event(&lane.outbox, answer["seq"].as_u64().expect("seq"));
    assert_eq!(recorded.crossing.direction, event::CrossingKind::Entry);
    assert_eq!(review_of(&recorded).decision, WatchlistDecision::Dismissed);

    // Someone else entirely: no hit, nothing to review, nothing in the record.
    let report = scan(&mut lane.driver, passport("PETROV", "IVAN", "720000003")).await;
    assert!(report.assessment.watchlist.is_empty());
    let answer = confirm(
        &mut lane.driver,
        report.assessment.session,
        OfficerDecision::Admit,
        None,
    )
    .await
    .expect("recorded");
    let recorded = signed_event(&lane.outbox, answer["seq"].as_u64().expect("seq"));
    assert_eq!(recorded.crossing.watchlist, None);
}

#[tokio::test]
async fn a_lifted_alert_stops_matching_as_soon_as_it_replicates() {
    let mut lane = lane(LaneMode::Officer, 0.72, vec![alert()]);
    let report = scan(&mut lane.driver, passport("MAMEDOV", "ELCHIN", "720000001")).await;
    assert_eq!(report.assessment.watchlist.len(), 1);
    // The lift arrives through replication while the lane runs; the next scan sees it.
    publish(
        &lane.ledger,
        vec![Change::PersonAlertLifted(PersonAlertLifted {
            alert_id: "PA-2026-0042".into(),
        })],
    );
    let report = scan(&mut lane.driver, passport("MAMEDOV", "ELCHIN", "720000001")).await;
    assert!(report.assessment.watchlist.is_empty());
    assert_eq!(report.assessment.verdict.outcome, Outcome::Admit);
}

#[tokio::test]
async fn the_threshold_setting_takes_effect_and_a_kiosk_refers_every_hit() {
    // Day and month swapped: a hit under the default threshold, none at 0.99.
    let swapped = || passport_born("MAMEDOV", "ELCHIN", "720000001", "851203");
    let mut default = lane(LaneMode::Officer, 0.72, vec![alert()]);
    let report = scan(&mut default.driver, swapped()).await;
    let score = report.assessment.watchlist.first().expect("a hit").score;
    assert!(score < 0.99, "{score}");
    let mut strict = lane(LaneMode::Officer, 0.99, vec![alert()]);
    let report = scan(&mut strict.driver, swapped()).await;
    assert!(report.assessment.watchlist.is_empty());
    assert_eq!(report.assessment.verdict.outcome, Outcome::Admit);

    let mut kiosk = lane(LaneMode::Kiosk, 0.72, vec![alert()]);
    let report = scan(
        &mut kiosk.driver,
        passport("MAMEDOV", "ELCHIN", "720000001"),
    )
    .await;
    assert_eq!(report.assessment.verdict.outcome, Outcome::Refer);
    assert_eq!(
        report.recorded_seq, None,
        "a kiosk records nothing on a hit"
    );
    assert_eq!(kiosk.outbox.depth(), 0);
}

#[tokio::test]
async fn document_keyed_alerts_keep_working_beside_person_alerts() {
    use checkpointd::core::document::HolderDigest;
    use checkpointd::core::ledger::{AlertKind, AlertRaised};
    let banned = Change::Alert(AlertRaised {
        holder: HolderDigest::of("RUS", "720000009").0,
        alert: AlertKind::EntryBan {
            until: jiff::civil::date(2030, 1, 1),
        },
        note: "court order".into(),
    });
    let mut lane = lane(LaneMode::Officer, 0.72, vec![alert(), banned]);
    let report = scan(&mut lane.driver, passport("MAMEDOV", "ELCHIN", "720000009")).await;
    let codes = report.assessment.verdict.codes();
    assert_eq!(
        report.assessment.verdict.outcome,
        Outcome::Refuse,
        "{codes:?}"
    );
    assert!(codes.contains(&ReasonCode::EntryBan), "{codes:?}");
    assert!(
        codes.contains(&ReasonCode::WatchlistPossibleMatch),
        "{codes:?}"
    );
    let report = scan(&mut lane.driver, passport("PETROV", "IVAN", "720000009")).await;
    assert_eq!(report.assessment.verdict.outcome, Outcome::Refuse);
    assert!(report.assessment.watchlist.is_empty());
}
