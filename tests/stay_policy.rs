//! `StayPolicy`: the shipped Azerbaijan rules combined per nationality, grounds of stay,
//! registration deadlines and the residence-permit absence flag.

use checkpointd::cli::stay::SHIPPED_STAY_RULES;
use checkpointd::core::stay::{
    Direction, EVisaEntries, GroundKind, GroundOfStay, Movement, StayAssessment, StayBasis,
    StayPolicy, StayPolicyError,
};
use jiff::civil::Date;

fn date(text: &str) -> Date {
    text.parse().expect("test dates are valid")
}

fn movements(spec: &str) -> Vec<Movement> {
    spec.split_whitespace()
        .map(|token| {
            let (direction, rest) = match token.split_at(1) {
                ("+", rest) => (Direction::Entry, rest),
                ("-", rest) => (Direction::Exit, rest),
                _ => panic!("bad token {token}"),
            };
            Movement {
                date: date(rest),
                direction,
            }
        })
        .collect()
}

fn policy() -> StayPolicy {
    StayPolicy::from_toml(SHIPPED_STAY_RULES).expect("shipped rules are valid")
}

fn ground(kind: GroundKind, from: &str, until: &str) -> GroundOfStay {
    GroundOfStay {
        kind,
        valid_from: date(from),
        valid_until: date(until),
    }
}

fn assess(nationality: &str, history: &str, grounds: &[GroundOfStay], on: &str) -> StayAssessment {
    policy().assess(nationality, &movements(history), grounds, date(on))
}

#[test]
fn shipped_rules_load() {
    let policy = policy();
    assert_eq!(policy.rules().len(), 3);
    assert_eq!(policy.registration_duty("KAZ").deadline_days, 30);
    assert_eq!(policy.registration_duty("GEO").deadline_days, 15);
    assert!(policy.rules().iter().all(|rule| !rule.source.is_empty()));
}

#[test]
fn russian_stay_across_new_year_is_bound_by_the_per_stay_rule() {
    let assessment = assess("RUS", "+2025-11-01", &[], "2026-01-15");
    assert_eq!(assessment.basis, StayBasis::VisaFree);
    assert_eq!(assessment.rules.len(), 2);
    assert_eq!(
        assessment.binding_rule.as_deref(),
        Some("visa-free-90-per-stay")
    );
    assert_eq!(assessment.days_used, 76);
    assert_eq!(assessment.days_remaining, 14);
    assert_eq!(assessment.latest_legal_exit, Some(date("2026-01-29")));
    let calendar = &assessment.rules[1];
    assert_eq!(calendar.name, "rus-90-per-calendar-year");
    assert_eq!(calendar.figures.days_used, 15);
    assert!(
        assessment
            .explanation
            .contains("binding: visa-free-90-per-stay")
    );
}

#[test]
fn russian_short_stays_are_bound_by_the_calendar_year() {
    let assessment = assess(
        "RUS",
        "+2025-01-01 -2025-01-20 +2025-03-01 -2025-03-20 +2025-05-01 -2025-05-20 \
         +2025-07-01 -2025-07-20 +2025-10-01",
        &[],
        "2025-10-01",
    );
    assert_eq!(
        assessment.binding_rule.as_deref(),
        Some("rus-90-per-calendar-year")
    );
    assert_eq!(assessment.days_used, 81);
    assert_eq!(assessment.days_remaining, 9);
    assert_eq!(assessment.latest_legal_exit, Some(date("2025-10-10")));
    assert!(assessment.explanation.contains("Decision No. 561"));
}

#[test]
fn calendar_year_rule_starts_in_2025() {
    let assessment = assess("RUS", "+2024-05-01", &[], "2024-06-01");
    assert_eq!(assessment.rules.len(), 1);
    assert_eq!(
        assessment.binding_rule.as_deref(),
        Some("visa-free-90-per-stay")
    );
}

#[test]
fn other_nationalities() {
    let georgian = assess("GEO", "+2025-01-01", &[], "2025-01-10");
    assert_eq!(georgian.rules.len(), 1);
    assert_eq!(georgian.latest_legal_exit, Some(date("2025-03-31")));

    let qatari = assess("QAT", "+2025-01-01", &[], "2025-01-10");
    assert_eq!(qatari.latest_legal_exit, Some(date("2025-01-30")));

    let no_ground = assess("USA", "+2025-01-01", &[], "2025-01-10");
    assert_eq!(no_ground.basis, StayBasis::NoGround);
    assert_eq!(no_ground.latest_legal_exit, None);
    assert!(no_ground.explanation.contains("no ground of stay"));
}

#[test]
fn e_visas() {
    let single = ground(
        GroundKind::EVisa {
            entries: EVisaEntries::Single,
            used: false,
        },
        "2025-01-01",
        "2025-03-31",
    );
    // 30 days from 20 March would end 18 April; the visa's validity ends first.
    let capped = assess("USA", "+2025-03-20", &[single], "2025-03-25");
    assert!(matches!(capped.basis, StayBasis::EVisa { .. }));
    assert_eq!(capped.latest_legal_exit, Some(date("2025-03-31")));
    assert_eq!(capped.days_used, 6);

    let within = assess("USA", "+2025-01-10", &[single], "2025-01-20");
    assert_eq!(within.latest_legal_exit, Some(date("2025-02-08")));
    let over = assess("USA", "+2025-01-10", &[single], "2025-02-12");
    assert_eq!(over.overstay_days, 4);
    assert_eq!(over.latest_legal_exit, None);

    let used = GroundOfStay {
        kind: GroundKind::EVisa {
            entries: EVisaEntries::Single,
            used: true,
        },
        ..single
    };
    assert_eq!(
        assess("USA", "", &[used], "2025-02-01").basis,
        StayBasis::NoGround
    );

    let multiple = ground(
        GroundKind::EVisa {
            entries: EVisaEntries::Multiple,
            used: true,
        },
        "2025-01-01",
        "2025-12-31",
    );
    let assessment = assess("USA", "+2025-02-01", &[multiple], "2025-02-10");
    assert_eq!(assessment.latest_legal_exit, Some(date("2025-05-01")));
}

#[test]
fn residence_permit_days_do_not_count() {
    // Permit ending mid-stay: only the days before and after it count.
    let permit = ground(GroundKind::TemporaryResidence, "2025-01-01", "2025-06-30");
    let assessment = assess("RUS", "+2024-12-01", &[permit], "2025-08-01");
    assert_eq!(assessment.basis, StayBasis::VisaFree);
    assert_eq!(assessment.rules[0].figures.days_used, 31 + 32);
    assert_eq!(assessment.rules[1].figures.days_used, 32);
    assert_eq!(assessment.latest_legal_exit, Some(date("2025-08-28")));

    // Permit starting mid-stay: no limit while it lasts, counting resumes after it.
    let permit = ground(GroundKind::TemporaryResidence, "2025-03-01", "2026-02-28");
    let assessment = assess("GEO", "+2025-01-01", &[permit], "2025-03-15");
    assert!(matches!(assessment.basis, StayBasis::Residence { .. }));
    assert_eq!(assessment.overstay_days, 0);
    assert_eq!(assessment.latest_legal_exit, Some(date("2026-03-31")));
    assert_eq!(assessment.registration, None);

    // A resident of a country without visa-free rules may stay until the permit ends.
    let permanent = ground(GroundKind::PermanentResidence, "2024-01-01", "2028-12-31");
    let assessment = assess("USA", "+2025-01-01", &[permanent], "2025-06-01");
    assert_eq!(assessment.latest_legal_exit, Some(date("2028-12-31")));
}

#[test]
fn registration_deadlines() {
    let on_time = assess("GEO", "+2025-03-01", &[], "2025-03-15");
    let registration = on_time.registration.expect("in a stay");
    assert!(!registration.required);
    assert_eq!(registration.due_by, date("2025-03-15"));
    assert_eq!(registration.overdue_since, None);

    let overdue = assess("GEO", "+2025-03-01", &[], "2025-03-16");
    let registration = overdue.registration.expect("in a stay");
    assert!(registration.required);
    assert_eq!(registration.overdue_since, Some(date("2025-03-16")));
    assert!(
        overdue
            .explanation
            .contains("registration overdue since 2025-03-16")
    );

    let filed = ground(
        GroundKind::PlaceOfStayRegistration {
            registered_on: date("2025-03-10"),
        },
        "2025-03-10",
        "2025-05-29",
    );
    let registered = assess("GEO", "+2025-03-01", &[filed], "2025-04-01");
    let registration = registered.registration.expect("in a stay");
    assert_eq!(registration.registered_on, Some(date("2025-03-10")));
    assert_eq!(registration.overdue_since, None);

    let kazakh = assess("KAZ", "+2025-03-01", &[], "2025-03-30");
    let registration = kazakh.registration.expect("in a stay");
    assert_eq!(registration.due_by, date("2025-03-30"));
    assert_eq!(registration.overdue_since, None);
    let kazakh_late = assess("KAZ", "+2025-03-01", &[], "2025-03-31");
    assert_eq!(
        kazakh_late
            .registration
            .and_then(|status| status.overdue_since),
        Some(date("2025-03-31"))
    );

    // Checked at exit: the exit date is still a day of the stay.
    let at_exit = assess("GEO", "+2025-03-01 -2025-03-20", &[], "2025-03-20");
    assert_eq!(
        at_exit.registration.and_then(|status| status.overdue_since),
        Some(date("2025-03-16"))
    );
    assert_eq!(
        assess("GEO", "+2025-03-01 -2025-03-20", &[], "2025-03-21").registration,
        None
    );
}

#[test]
fn residence_permit_holder_abroad_is_flagged() {
    let permit = ground(GroundKind::TemporaryResidence, "2024-01-01", "2026-12-31");
    let abroad = assess(
        "USA",
        "+2024-01-01 -2025-01-01 +2025-04-15",
        &[permit],
        "2025-04-15",
    );
    let status = abroad.residence_abroad.expect("resident");
    assert_eq!(status.days_abroad, 103);
    assert!(status.flagged);
    assert!(abroad.explanation.contains("liable to cancellation"));

    let home = assess(
        "USA",
        "+2024-01-01 -2025-01-01 +2025-02-15",
        &[permit],
        "2025-04-15",
    );
    assert!(!home.residence_abroad.expect("resident").flagged);
}

/// A first arrival on a new work permit is not a return from abroad: absence counts only from
/// the permit's first use (rows: history, check date, days abroad, flagged).
#[test]
fn residence_absence_counts_from_the_permits_first_use() {
    let permit = ground(GroundKind::WorkPermit, "2026-01-10", "2027-01-09");
    let rows: &[(&str, &str, u32, bool)] = &[
        // No history at all: the traveller arriving now has never used the permit.
        ("", "2026-11-20", 0, false),
        // Earlier visa-free visits ended before the permit began: still no use of it.
        ("+2025-03-01 -2025-03-20", "2026-11-20", 0, false),
        // First came in on the permit on 2026-10-01 and never left: nothing abroad.
        ("+2026-10-01", "2026-11-20", 0, false),
        // In on 2026-02-01, out 2026-03-01, back 2026-11-20: away all the 180-day window but today.
        (
            "+2026-02-01 -2026-03-01 +2026-11-20",
            "2026-11-20",
            179,
            true,
        ),
    ];
    for (history, on, days, flagged) in rows {
        let status = assess("IND", history, &[permit], on)
            .residence_abroad
            .expect("permit holder");
        assert_eq!(
            (status.days_abroad, status.flagged),
            (*days, *flagged),
            "history {history:?} on {on}"
        );
    }
}

#[test]
fn extension_moves_the_limit() {
    let extension = ground(
        GroundKind::StayExtension {
            until: date("2025-05-31"),
        },
        "2025-03-25",
        "2025-05-31",
    );
    let extended = assess("GEO", "+2025-01-01", &[extension], "2025-04-15");
    assert_eq!(extended.overstay_days, 0);
    assert_eq!(extended.latest_legal_exit, Some(date("2025-05-31")));
    assert_eq!(
        extended.binding_rule.as_deref(),
        Some("stay extension until 2025-05-31")
    );
    let past = assess("GEO", "+2025-01-01", &[extension], "2025-06-05");
    assert_eq!(past.overstay_days, 5);
}

#[test]
fn rejected_rule_files() {
    let shipped = SHIPPED_STAY_RULES;
    type IsExpected = fn(&StayPolicyError) -> bool;
    let cases: [(&str, String, IsExpected); 7] = [
        (
            "unknown kind",
            shipped.replace("kind = \"per_stay\"", "kind = \"weekly\""),
            |error| matches!(error, StayPolicyError::UnknownKind { .. }),
        ),
        (
            "rolling without window",
            shipped.replace("kind = \"calendar_year\"", "kind = \"rolling\""),
            |error| matches!(error, StayPolicyError::WindowMissing { .. }),
        ),
        (
            "bad nationality",
            shipped.replace("\"QAT\"", "\"qa\""),
            |error| matches!(error, StayPolicyError::BadNationality { .. }),
        ),
        (
            "duplicate name",
            shipped.replace("visa-free-30-per-stay-qatar", "visa-free-90-per-stay"),
            |error| matches!(error, StayPolicyError::DuplicateRuleName { .. }),
        ),
        (
            "unknown field",
            shipped.replace("limit_days = 30", "limit_days = 30\nlimt = 3"),
            |error| matches!(error, StayPolicyError::Toml(_)),
        ),
        (
            "calendar limit too large",
            shipped.replace(
                "kind = \"calendar_year\"\nlimit_days = 90",
                "kind = \"calendar_year\"\nlimit_days = 400",
            ),
            |error| matches!(error, StayPolicyError::InvalidRule { .. }),
        ),
        (
            "missing source",
            shipped.replace(
                "source = \"Cabinet of Ministers Decision No. 561 of 29 Dec 2024\"",
                "source = \"\"",
            ),
            |error| matches!(error, StayPolicyError::NoSource { .. }),
        ),
    ];
    for (name, text, expected) in cases {
        assert_ne!(text, shipped, "case {name} changed nothing");
        let error = StayPolicy::from_toml(&text).expect_err(name);
        assert!(expected(&error), "case {name}: {error}");
        assert!(!error.to_string().is_empty());
    }
}
