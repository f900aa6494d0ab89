use jiff::civil::date;
use jiff::tz::TimeZone;

use super::*;
use crate::core::decision::{self, DocumentFacts, LaneMode, PermitFacts, PermitKind, StayFacts};
use crate::core::document::DocumentKey;
use crate::core::privacy::DocumentNumber;

fn facts(direction: Direction) -> DecisionInput {
    DecisionInput {
        direction,
        mode: LaneMode::Officer,
        today: date(2026, 12, 7),
        document: DocumentFacts {
            key: DocumentKey {
                issuing_state: "GEO".into(),
                document_code: "P".into(),
                number: DocumentNumber::new("13AB45678"),
            },
            nationality: "GEO".into(),
            mrz: MrzStatus::Valid,
            expiry: DocumentExpiry::On(date(2032, 5, 29)),
        },
        alerts: vec![],
        permits: vec![],
        visa_free: true,
        stay: Some(StayFacts {
            days_used: 1,
            days_remaining: 89,
            overstay_days: 0,
            latest_legal_exit: Some(date(2027, 3, 6)),
            limited: true,
            binding_rule: Some("90 days per stay".into()),
            registration_overdue_since: None,
            resident_abroad_too_long: false,
        }),
        ledger_stale: false,
        clock_untrusted: false,
        watchlist_hits: 0,
        chip: None,
    }
}

fn work_permit(until: jiff::civil::Date) -> PermitFactsShown {
    PermitFactsShown {
        kind: Some("work_permit".into()),
        valid_from: Some(date(2026, 5, 21)),
        valid_until: Some(until),
        employer: Some("Caspian Drilling LLC".into()),
        issuer: Some("AZ-DMX".into()),
        presented: true,
        holder_matches: true,
        ..PermitFactsShown::default()
    }
}

fn view(
    decision: &DecisionInput,
    permits: &[PermitFactsShown],
    alerts: &[AlertNotice],
) -> OfficerView {
    let zone = TimeZone::get("Asia/Baku").expect("zone");
    let verdict = decision::decide(decision);
    officer_view(&ViewInput {
        here: Here {
            terminal: "GYD-1",
            direction: decision.direction,
            now: "2026-12-07T10:00:00Z".parse().expect("instant"),
            time_zone: &zone,
        },
        birth_date: Some(date(2010, 3, 1)),
        decision,
        verdict: &verdict,
        history: &[],
        permits,
        alerts,
    })
}

#[test]
fn stay_figures_never_contradict_the_verdict() {
    let ban = |mut input: DecisionInput| {
        input.alerts = vec![AlertFacts::EntryBan {
            until: Some(date(2027, 1, 1)),
        }];
        input
    };
    let permit_holder = |mut input: DecisionInput| {
        input.visa_free = false;
        input.permits = vec![PermitFacts {
            kind: PermitKind::WorkPermit,
            rejection: None,
            holder_matches: true,
            already_used: false,
        }];
        if let Some(stay) = &mut input.stay {
            stay.limited = false;
            stay.days_remaining = 0;
            stay.latest_legal_exit = Some(date(2027, 5, 21));
        }
        input
    };
    let permits = [work_permit(date(2027, 5, 21))];
    #[rustfmt::skip]
    let rows: Vec<(&str, DecisionInput, &[PermitFactsShown], StayLine)> = vec![
        ("visa-free admit", facts(Direction::Entry), &[], StayLine {
            days_used: Some(1), days_remaining: Some(89), may_stay_until: Some("06.03.2027".into()),
            rule: Some("90 days per stay".into()), ..StayLine::default() }),
        // The banned traveller was shown "may stay until 2027-03-06".
        ("refused ban", ban(facts(Direction::Entry)), &[], StayLine {
            days_used: Some(1), rule: Some("90 days per stay".into()), ..StayLine::default() }),
        // The permit holder saw "days remaining 0" beside "may stay until".
        ("permit holder", permit_holder(facts(Direction::Entry)), &permits, StayLine {
            permit_until: Some("21.05.2027".into()), ..StayLine::default() }),
        ("no stay figures", DecisionInput { stay: None, ..facts(Direction::Entry) }, &[], StayLine::default()),
    ];
    for (name, input, permits, expected) in rows {
        let shown = view(&input, permits, &[]);
        assert_eq!(shown.stay, expected, "{name}");
        let codes: Vec<_> = shown.reasons.iter().map(|r| r.code).collect();
        if decision::decide(&input).outcome == Outcome::Refuse {
            assert!(
                !codes.contains(&ReasonCode::MayStayUntil),
                "{name}: {codes:?}"
            );
        }
    }
}

#[test]
fn overstay_at_exit_is_shown() {
    let mut input = facts(Direction::Exit);
    if let Some(stay) = &mut input.stay {
        stay.days_remaining = 0;
        stay.overstay_days = 4;
        stay.latest_legal_exit = None;
    }
    let shown = view(&input, &[], &[]);
    assert_eq!(shown.stay.overstay_days, Some(4));
    assert_eq!(shown.stay.may_stay_until, None);
    let overstay = shown
        .reasons
        .iter()
        .find(|r| r.code == ReasonCode::Overstay)
        .expect("overstay");
    assert_eq!(
        overstay.params.get("overstay").map(String::as_str),
        Some("4")
    );
}

#[test]
fn alerts_show_kind_end_note_and_required_action() {
    #[rustfmt::skip]
    let rows = [
        (Direction::Entry, AlertFacts::EntryBan { until: Some(date(2027, 1, 1)) }, "entry_ban", Some("01.01.2027"), RequiredAction::RefuseEntry),
        (Direction::Exit, AlertFacts::EntryBan { until: None }, "entry_ban", None, RequiredAction::None),
        (Direction::Entry, AlertFacts::Lost, "lost", None, RequiredAction::HoldDocument),
        (Direction::Exit, AlertFacts::Stolen, "stolen", None, RequiredAction::HoldDocumentCallSupervisor),
        (Direction::Entry, AlertFacts::Invalidated, "invalidated", None, RequiredAction::HoldDocument),
    ];
    for (direction, alert, kind, until, action) in rows {
        let mut input = facts(direction);
        input.alerts = vec![alert];
        let notices = [AlertNotice {
            facts: alert,
            note: "court order 12/2026".into(),
        }];
        let shown = view(&input, &[], &notices);
        assert_eq!(
            shown.alerts,
            vec![AlertLine {
                kind,
                until: until.map(String::from),
                note: "court order 12/2026".into(),
                required_action: action
            }],
            "{alert:?}"
        );
    }
}

#[test]
fn permit_details_and_reason_parameters() {
    let rejected = PermitFactsShown {
        kind: Some("temporary_residence".into()),
        rejection: Some("expired".into()),
        message: Some("permit expired on 2026-11-30".into()),
        presented: true,
        ..PermitFactsShown::default()
    };
    let mut input = facts(Direction::Entry);
    input.permits = vec![PermitFacts {
        kind: PermitKind::TemporaryResidence,
        rejection: Some("expired".into()),
        holder_matches: false,
        already_used: false,
    }];
    let shown = view(&input, &[rejected, work_permit(date(2027, 5, 21))], &[]);
    assert_eq!(
        shown.permits[0].message.as_deref(),
        Some("permit expired on 2026-11-30")
    );
    assert_eq!(shown.permits[1].valid_from.as_deref(), Some("21.05.2026"));
    assert_eq!(
        shown.permits[1].employer.as_deref(),
        Some("Caspian Drilling LLC")
    );
    assert_eq!(shown.permits[1].issuer.as_deref(), Some("AZ-DMX"));
    let invalid = shown
        .reasons
        .iter()
        .find(|r| r.code == ReasonCode::PermitInvalid)
        .expect("reason");
    assert_eq!(invalid.params["message"], "permit expired on 2026-11-30");
    let birth = shown.birth.expect("birth");
    assert_eq!(
        (birth.date.as_str(), birth.age, birth.minor),
        ("01.03.2010", 16, true)
    );
    assert_eq!(shown.expiry.date.as_deref(), Some("29.05.2032"));
}

#[test]
fn a_verdict_reached_again_on_the_chip_replaces_reasons_and_stay() {
    let before = facts(Direction::Entry);
    let mut shown = view(&before, &[], &[]);
    assert!(shown.stay.may_stay_until.is_some());
    let mut after = before.clone();
    after.chip = Some(decision::ChipFacts::CloneSuspected);
    let verdict = decision::decide(&after);
    assert_eq!(verdict.outcome, decision::Outcome::Refuse);
    follow_verdict(
        &mut shown,
        &Judged {
            decision: &after,
            verdict: &verdict,
            permits: &[],
        },
    );
    let codes: Vec<_> = shown.reasons.iter().map(|r| r.code).collect();
    assert!(codes.contains(&ReasonCode::ChipCloneSuspected), "{codes:?}");
    assert!(!codes.contains(&ReasonCode::MayStayUntil), "{codes:?}");
    assert_eq!(shown.stay.may_stay_until, None);
}
