//! Table tests of `core::stay::evaluate`: the counting convention bullet by bullet, and the
//! worked examples of the EU short-stay calculator's user manual.
//!
//! Worked examples: Swiss State Secretariat for Migration (SEM), "Aufenthaltsrechner",
//! Beispiel 1, 2, 4, 5 and 6 (sem.admin.ch/sem/de/home/themen/einreise/aufenthaltsrechner/
//! bsp-1.html … bsp-6.html, last changed 01.12.2014). Example 3's table is garbled in the source.

use checkpointd::core::stay::{
    Direction, Movement, StayFigures, StayFlag, StayRule, StayRuleKind, evaluate,
};
use jiff::civil::Date;

fn date(text: &str) -> Date {
    text.parse().expect("test dates are valid")
}

/// "+2014-08-15 -2014-09-30": `+` is an entry, `-` an exit.
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

fn rolling() -> StayRule {
    StayRule::new(StayRuleKind::Rolling { window_days: 180 }, 90).expect("valid rule")
}

fn calendar_year() -> StayRule {
    StayRule::new(StayRuleKind::CalendarYear, 90).expect("valid rule")
}

fn per_stay() -> StayRule {
    StayRule::new(StayRuleKind::PerStay, 90).expect("valid rule")
}

struct Case {
    name: &'static str,
    rule: StayRule,
    history: &'static str,
    check: &'static str,
    used: u32,
    remaining: u32,
    overstay: u32,
    latest: Option<&'static str>,
    flags: &'static [StayFlag],
}

fn check_cases(cases: &[Case]) {
    for case in cases {
        let figures: StayFigures = evaluate(&case.rule, &movements(case.history), date(case.check));
        let got = (
            figures.days_used,
            figures.days_remaining,
            figures.overstay_days,
            figures.latest_legal_exit,
            figures.flags.as_slice(),
        );
        let expected = (
            case.used,
            case.remaining,
            case.overstay,
            case.latest.map(date),
            case.flags,
        );
        assert_eq!(got, expected, "case {}: {}", case.name, figures.explanation);
        assert!(!figures.explanation.is_empty(), "case {}", case.name);
    }
}

#[test]
fn eu_calculator_worked_examples() {
    check_cases(&[
        // Beispiel 1 (planning): in 15.08.–30.09.2014 (47 days), re-entry 01.01.2015 allows
        // "bis zu 90 Tage", i.e. until 31.03.2015.
        Case {
            name: "SEM 1",
            rule: rolling(),
            history: "+2014-08-15 -2014-09-30",
            check: "2015-01-01",
            used: 47,
            remaining: 43,
            overstay: 0,
            latest: Some("2015-03-31"),
            flags: &[],
        },
        // Beispiel 2 (control at exit 30.11.2014): legal, "noch bis zum 13.12.2014 möglich".
        Case {
            name: "SEM 2",
            rule: rolling(),
            history: "+2014-08-15 -2014-09-30 +2014-11-01 -2014-11-30",
            check: "2014-11-30",
            used: 77,
            remaining: 13,
            overstay: 0,
            latest: Some("2014-12-13"),
            flags: &[],
        },
        // Beispiel 4 (control at exit 30.01.2014): the June/July stay is outside the period;
        // "hätte noch bis am 31.03.2014 legal … bleiben können".
        Case {
            name: "SEM 4",
            rule: rolling(),
            history: "+2013-06-01 -2013-07-13 +2013-08-15 -2013-09-30 +2014-01-01 -2014-01-30",
            check: "2014-01-30",
            used: 77,
            remaining: 13,
            overstay: 0,
            latest: Some("2014-03-31"),
            flags: &[],
        },
        // Beispiel 5 (control at exit 09.06.2014): "Overstay" of 9 days.
        Case {
            name: "SEM 5 control",
            rule: rolling(),
            history: "+2013-09-01 -2013-09-30 +2014-02-21 -2014-04-20 +2014-05-01 -2014-06-09",
            check: "2014-06-09",
            used: 99,
            remaining: 0,
            overstay: 9,
            latest: None,
            flags: &[],
        },
        // Beispiel 5 (planning, period from 04.03.2014): re-entry on 30.08.2014 "für einen
        // Aufenthalt von zu 50 Tagen möglich": 30.08.–18.10.2014. Only 2 days remain, yet the
        // stay may last 50 days because older days leave the window.
        Case {
            name: "SEM 5 planning",
            rule: rolling(),
            history: "+2013-09-01 -2013-09-30 +2014-02-21 -2014-04-20 +2014-05-01 -2014-06-09",
            check: "2014-08-30",
            used: 88,
            remaining: 2,
            overstay: 0,
            latest: Some("2014-10-18"),
            flags: &[],
        },
        // Beispiel 6 (control at exit 01.03.2014): 164 days in the period 03.09.2013–01.03.2014,
        // an "Overstay" of 74 days. The first stay's entry stamp is garbled in the source; it
        // ended 09.08.2013, before the period, so any entry date gives the same result.
        Case {
            name: "SEM 6",
            rule: rolling(),
            history: "+2013-05-15 -2013-08-09 +2013-09-19 -2014-03-01",
            check: "2014-03-01",
            used: 164,
            remaining: 0,
            overstay: 74,
            latest: None,
            flags: &[],
        },
        Case {
            name: "SEM 6, other first entry",
            rule: rolling(),
            history: "+2013-07-01 -2013-08-09 +2013-09-19 -2014-03-01",
            check: "2014-03-01",
            used: 164,
            remaining: 0,
            overstay: 74,
            latest: None,
            flags: &[],
        },
    ]);
}

#[test]
fn day_counting_convention() {
    check_cases(&[
        Case {
            name: "entry and exit on one date is one day",
            rule: per_stay(),
            history: "+2025-03-10 -2025-03-10",
            check: "2025-03-10",
            used: 1,
            remaining: 89,
            overstay: 0,
            latest: Some("2025-06-07"),
            flags: &[],
        },
        Case {
            name: "entry and exit dates both count",
            rule: rolling(),
            history: "+2025-03-10 -2025-03-12",
            check: "2025-03-20",
            used: 3,
            remaining: 87,
            overstay: 0,
            latest: Some("2025-06-14"),
            flags: &[],
        },
        Case {
            name: "exit and re-entry on one date counts once (rolling)",
            rule: rolling(),
            history: "+2025-03-01 -2025-03-10 +2025-03-10 -2025-03-20",
            check: "2025-03-20",
            used: 20,
            remaining: 70,
            overstay: 0,
            latest: Some("2025-05-29"),
            flags: &[],
        },
        Case {
            name: "exit and re-entry on one date starts a new stay (per stay)",
            rule: per_stay(),
            history: "+2025-01-01 -2025-02-01 +2025-02-01",
            check: "2025-02-10",
            used: 10,
            remaining: 80,
            overstay: 0,
            latest: Some("2025-05-01"),
            flags: &[],
        },
        Case {
            name: "exit and re-entry on the check date: day 1 of the new stay",
            rule: per_stay(),
            history: "+2025-01-01 -2025-02-01 +2025-02-01",
            check: "2025-02-01",
            used: 1,
            remaining: 89,
            overstay: 0,
            latest: Some("2025-05-01"),
            flags: &[],
        },
        Case {
            name: "exactly 90 days per stay",
            rule: per_stay(),
            history: "+2025-01-01",
            check: "2025-03-31",
            used: 90,
            remaining: 0,
            overstay: 0,
            latest: Some("2025-03-31"),
            flags: &[],
        },
        Case {
            name: "91 days per stay",
            rule: per_stay(),
            history: "+2025-01-01",
            check: "2025-04-01",
            used: 91,
            remaining: 0,
            overstay: 1,
            latest: None,
            flags: &[],
        },
        Case {
            name: "exactly 90 days in a leap year",
            rule: per_stay(),
            history: "+2024-01-01",
            check: "2024-03-30",
            used: 90,
            remaining: 0,
            overstay: 0,
            latest: Some("2024-03-30"),
            flags: &[],
        },
        Case {
            name: "exactly 90 in 180, then 91",
            rule: rolling(),
            history: "+2025-01-01 -2025-03-31 +2025-05-01",
            check: "2025-05-01",
            used: 91,
            remaining: 0,
            overstay: 1,
            latest: None,
            flags: &[],
        },
        Case {
            name: "exit on the check date: the exit date counts, projection assumes staying",
            rule: per_stay(),
            history: "+2025-01-01 -2025-03-31",
            check: "2025-03-31",
            used: 90,
            remaining: 0,
            overstay: 0,
            latest: Some("2025-03-31"),
            flags: &[],
        },
        Case {
            name: "outside on the check date (per stay): planning an entry on it",
            rule: per_stay(),
            history: "+2025-01-01 -2025-01-10",
            check: "2025-01-20",
            used: 0,
            remaining: 90,
            overstay: 0,
            latest: Some("2025-04-19"),
            flags: &[],
        },
        Case {
            name: "movements after the check date are ignored",
            rule: per_stay(),
            history: "+2025-01-01 -2025-01-05",
            check: "2025-01-03",
            used: 3,
            remaining: 87,
            overstay: 0,
            latest: Some("2025-03-31"),
            flags: &[],
        },
        Case {
            name: "movements out of order are sorted by date",
            rule: rolling(),
            history: "-2025-01-05 +2025-01-01",
            check: "2025-01-10",
            used: 5,
            remaining: 85,
            overstay: 0,
            latest: Some("2025-04-04"),
            flags: &[],
        },
        Case {
            name: "missing exit: presence continuous from the first unmatched entry",
            rule: per_stay(),
            history: "+2025-01-01 +2025-02-01",
            check: "2025-02-10",
            used: 41,
            remaining: 49,
            overstay: 0,
            latest: Some("2025-03-31"),
            flags: &[StayFlag::MissingExit],
        },
        Case {
            name: "missing exit counted under a rolling rule",
            rule: rolling(),
            history: "+2025-01-01 +2025-03-01 -2025-03-10",
            check: "2025-03-10",
            used: 69,
            remaining: 21,
            overstay: 0,
            latest: Some("2025-03-31"),
            flags: &[StayFlag::MissingExit],
        },
        Case {
            name: "missing entry: only the exit date counts",
            rule: rolling(),
            history: "-2025-01-05 +2025-02-01 -2025-02-10",
            check: "2025-02-10",
            used: 11,
            remaining: 79,
            overstay: 0,
            latest: Some("2025-04-30"),
            flags: &[StayFlag::MissingEntry],
        },
        Case {
            name: "missing entry on the check date is a one-day stay",
            rule: per_stay(),
            history: "-2025-01-05",
            check: "2025-01-05",
            used: 1,
            remaining: 89,
            overstay: 0,
            latest: Some("2025-04-04"),
            flags: &[StayFlag::MissingEntry],
        },
        Case {
            name: "a repeated exit on the exit date keeps the stay",
            rule: per_stay(),
            history: "+2025-01-01 -2025-01-20 -2025-01-20",
            check: "2025-01-20",
            used: 20,
            remaining: 70,
            overstay: 0,
            latest: Some("2025-03-31"),
            flags: &[StayFlag::MissingEntry],
        },
        Case {
            name: "both flags",
            rule: per_stay(),
            history: "-2024-12-01 +2025-01-01 +2025-01-05",
            check: "2025-01-10",
            used: 10,
            remaining: 80,
            overstay: 0,
            latest: Some("2025-03-31"),
            flags: &[StayFlag::MissingExit, StayFlag::MissingEntry],
        },
        Case {
            name: "empty history, planning",
            rule: rolling(),
            history: "",
            check: "2025-06-01",
            used: 0,
            remaining: 90,
            overstay: 0,
            latest: Some("2025-08-29"),
            flags: &[],
        },
    ]);
}

#[test]
fn calendar_year_and_year_ends() {
    check_cases(&[
        Case {
            name: "calendar year restarts on 1 January",
            rule: calendar_year(),
            history: "+2024-12-01 -2025-01-10",
            check: "2025-01-10",
            used: 10,
            remaining: 80,
            overstay: 0,
            latest: Some("2025-03-31"),
            flags: &[],
        },
        Case {
            name: "per stay does not restart on 1 January",
            rule: per_stay(),
            history: "+2024-12-01",
            check: "2025-01-10",
            used: 41,
            remaining: 49,
            overstay: 0,
            latest: Some("2025-02-28"),
            flags: &[],
        },
        Case {
            name: "several short stays reach the calendar-year cap",
            rule: calendar_year(),
            history: "+2025-01-01 -2025-01-30 +2025-03-01 -2025-03-30 +2025-05-01",
            check: "2025-05-20",
            used: 80,
            remaining: 10,
            overstay: 0,
            latest: Some("2025-05-30"),
            flags: &[],
        },
        Case {
            name: "calendar year over the limit",
            rule: calendar_year(),
            history: "+2025-01-01 -2025-03-01 +2025-06-01",
            check: "2025-07-01",
            used: 91,
            remaining: 0,
            overstay: 1,
            latest: None,
            flags: &[],
        },
        Case {
            name: "calendar-year limit reached late in December rolls into the next year",
            rule: calendar_year(),
            history: "+2025-01-01 -2025-03-20 +2025-12-25",
            check: "2025-12-25",
            used: 80,
            remaining: 10,
            overstay: 0,
            latest: Some("2026-03-31"),
            flags: &[],
        },
        Case {
            name: "calendar year in a leap year counts 29 February",
            rule: calendar_year(),
            history: "+2024-02-01",
            check: "2024-03-01",
            used: 30,
            remaining: 60,
            overstay: 0,
            latest: Some("2024-04-30"),
            flags: &[],
        },
        Case {
            name: "rolling window crossing the year end and 29 February",
            rule: rolling(),
            history: "+2023-11-01 -2023-12-31 +2024-02-20 -2024-03-05",
            check: "2024-03-05",
            used: 76,
            remaining: 14,
            overstay: 0,
            latest: Some("2024-03-19"),
            flags: &[],
        },
    ]);
}

#[test]
fn long_history_of_ten_years() {
    // Ten days in, twenty days out, for ten years: under 90/180 at most 60 days per window.
    let start = date("2015-01-01");
    let mut history = Vec::new();
    let mut day = start;
    while day < date("2025-01-01") {
        history.push(Movement {
            date: day,
            direction: Direction::Entry,
        });
        let exit = day
            .checked_add(jiff::Span::new().days(9))
            .expect("in range");
        history.push(Movement {
            date: exit,
            direction: Direction::Exit,
        });
        day = exit
            .checked_add(jiff::Span::new().days(21))
            .expect("in range");
    }
    assert!(history.len() > 240);
    let figures = evaluate(&rolling(), &history, date("2025-01-01"));
    assert!(figures.days_used <= 60, "{figures:?}");
    assert!(figures.flags.is_empty());
    let per_stay_figures = evaluate(&per_stay(), &history, history[history.len() - 1].date);
    assert_eq!(per_stay_figures.days_used, 10);
}

#[test]
fn rules_are_validated() {
    assert!(StayRule::new(StayRuleKind::PerStay, 0).is_err());
    assert!(StayRule::new(StayRuleKind::CalendarYear, 366).is_err());
    assert!(StayRule::new(StayRuleKind::Rolling { window_days: 90 }, 90).is_err());
    assert!(StayRule::new(StayRuleKind::Rolling { window_days: 1 }, 1).is_err());
    assert!(
        StayRule::new(
            StayRuleKind::Rolling {
                window_days: 10_000
            },
            90
        )
        .is_err()
    );
    assert!(StayRule::new(StayRuleKind::CalendarYear, 365).is_ok());
}

#[test]
fn calendar_year_limit_of_365_waits_for_a_leap_year() {
    let rule = StayRule::new(StayRuleKind::CalendarYear, 365).expect("valid rule");
    let figures = evaluate(&rule, &[], date("2025-06-01"));
    // 2025, 2026 and 2027 have 365 days; 366th day of 2028 is 31 December 2028.
    assert_eq!(figures.latest_legal_exit, Some(date("2028-12-30")));
}

#[test]
fn evaluating_rules_together_equals_evaluating_each() {
    use checkpointd::core::stay::{
        Direction, Movement, StayRule, StayRuleKind, evaluate, evaluate_all,
    };
    let date = |text: &str| text.parse::<jiff::civil::Date>().expect("date");
    let movements = [
        Movement {
            date: date("2025-01-10"),
            direction: Direction::Entry,
        },
        Movement {
            date: date("2025-03-01"),
            direction: Direction::Exit,
        },
        Movement {
            date: date("2025-05-01"),
            direction: Direction::Entry,
        },
    ];
    let rules = [
        StayRule::new(StayRuleKind::Rolling { window_days: 180 }, 90).expect("valid"),
        StayRule::new(StayRuleKind::CalendarYear, 90).expect("valid"),
        StayRule::new(StayRuleKind::PerStay, 90).expect("valid"),
    ];
    let check = date("2025-06-15");
    let together = evaluate_all(&rules, &movements, check);
    let each: Vec<_> = rules
        .iter()
        .map(|rule| evaluate(rule, &movements, check))
        .collect();
    assert_eq!(together, each);
}
