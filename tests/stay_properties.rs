//! Property tests of the stay engine against a brute-force, day-by-day oracle built on jiff's own
//! date arithmetic.

use std::collections::BTreeSet;

use checkpointd::core::stay::{
    Direction, GroundKind, GroundOfStay, Movement, StayPolicy, StayRule, StayRuleKind, evaluate,
};
use jiff::ToSpan;
use jiff::civil::Date;
use proptest::prelude::*;

fn plus(date: Date, days: i64) -> Date {
    date.checked_add(days.days())
        .expect("test dates stay in range")
}

/// Presence dates and stays by the convention, one date at a time.
struct Oracle {
    present: BTreeSet<Date>,
    /// Stays as (start, end), in order.
    stays: Vec<(Date, Date)>,
    check: Date,
    /// Days under a residence permit: never counted.
    exempt: BTreeSet<Date>,
}

impl Oracle {
    fn new(movements: &[Movement], check: Date, exempt: BTreeSet<Date>) -> Self {
        let mut sorted: Vec<Movement> = movements
            .iter()
            .copied()
            .filter(|movement| movement.date <= check)
            .collect();
        sorted.sort_by_key(|movement| movement.date);
        let mut stays = Vec::new();
        let mut inside: Option<Date> = None;
        for movement in sorted {
            match (movement.direction, inside) {
                (Direction::Entry, None) => inside = Some(movement.date),
                (Direction::Entry, Some(_)) => {}
                (Direction::Exit, Some(start)) => {
                    stays.push((start, movement.date));
                    inside = None;
                }
                (Direction::Exit, None) => {
                    if stays
                        .last()
                        .is_none_or(|(_, end): &(Date, Date)| *end != movement.date)
                    {
                        stays.push((movement.date, movement.date));
                    }
                }
            }
        }
        if let Some(start) = inside {
            stays.push((start, check));
        }
        let mut present = BTreeSet::new();
        for (start, end) in &stays {
            let mut day = *start;
            while day <= *end {
                if !exempt.contains(&day) {
                    present.insert(day);
                }
                day = plus(day, 1);
            }
        }
        Oracle {
            present,
            stays,
            check,
            exempt,
        }
    }

    fn stay_start_on_check(&self) -> Option<Date> {
        self.stays
            .last()
            .filter(|(_, end)| *end == self.check)
            .map(|(start, _)| *start)
    }

    fn count(present: &BTreeSet<Date>, first: Date, last: Date) -> u32 {
        u32::try_from(present.range(first..=last).count()).expect("small")
    }

    fn count_on(&self, present: &BTreeSet<Date>, rule: &StayRule, day: Date, stay: Date) -> u32 {
        match rule.kind() {
            StayRuleKind::Rolling { window_days } => {
                Self::count(present, plus(day, 1 - i64::from(window_days)), day)
            }
            StayRuleKind::CalendarYear => {
                Self::count(present, Date::new(day.year(), 1, 1).expect("valid"), day)
            }
            StayRuleKind::PerStay => Self::count(present, stay, day),
        }
    }

    fn days_used(&self, rule: &StayRule) -> u32 {
        match rule.kind() {
            StayRuleKind::PerStay => self
                .stay_start_on_check()
                .map_or(0, |start| Self::count(&self.present, start, self.check)),
            _ => self.count_on(&self.present, rule, self.check, self.check),
        }
    }

    fn latest_legal_exit(&self, rule: &StayRule) -> Option<Date> {
        let stay = self.stay_start_on_check().unwrap_or(self.check);
        let mut projected = self.present.clone();
        let mut latest = None;
        let mut day = self.check;
        // Every accepted rule is exceeded within 8 years of continuous presence.
        for _ in 0..(366 * 8 + 400 + self.exempt.len()) {
            if !self.exempt.contains(&day) {
                projected.insert(day);
            }
            if self.count_on(&projected, rule, day, stay) > rule.limit_days() {
                return latest;
            }
            latest = Some(day);
            day = plus(day, 1);
        }
        panic!("rule never exceeded: {rule:?}");
    }
}

fn rule_strategy() -> impl Strategy<Value = StayRule> {
    prop_oneof![
        (1u32..120, 0u32..200).prop_map(|(limit, extra)| {
            StayRule::new(
                StayRuleKind::Rolling {
                    window_days: limit + 1 + extra,
                },
                limit,
            )
            .expect("valid")
        }),
        (1u32..=365)
            .prop_map(|limit| StayRule::new(StayRuleKind::CalendarYear, limit).expect("valid")),
        (1u32..200).prop_map(|limit| StayRule::new(StayRuleKind::PerStay, limit).expect("valid")),
    ]
}

/// Movements from 2013 on: gaps of 0..60 days, mostly alternating directions, sometimes not.
fn history_strategy() -> impl Strategy<Value = (Vec<Movement>, Date)> {
    (
        0i64..2000,
        prop::collection::vec((0i64..60, any::<bool>(), 0u8..10), 0..40),
        0i64..400,
    )
        .prop_map(|(start_offset, steps, check_after)| {
            let mut day = plus(Date::constant(2013, 1, 1), start_offset);
            let mut inside = false;
            let mut movements = Vec::new();
            for (gap, keep_order, noise) in steps {
                day = plus(day, gap);
                // One step in ten breaks alternation, to exercise the missing-record flags.
                let entry = if noise == 0 { keep_order } else { !inside };
                movements.push(Movement {
                    date: day,
                    direction: if entry {
                        Direction::Entry
                    } else {
                        Direction::Exit
                    },
                });
                inside = entry;
            }
            let check = plus(Date::constant(2013, 1, 1), start_offset + check_after * 5);
            (movements, check)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn figures_match_brute_force((movements, check) in history_strategy(), rule in rule_strategy()) {
        let figures = evaluate(&rule, &movements, check);
        let oracle = Oracle::new(&movements, check, BTreeSet::new());
        let used = oracle.days_used(&rule);
        prop_assert_eq!(figures.days_used, used);
        prop_assert_eq!(figures.days_remaining, rule.limit_days().saturating_sub(used));
        prop_assert_eq!(figures.overstay_days, used.saturating_sub(rule.limit_days()));
        prop_assert_eq!(figures.latest_legal_exit, oracle.latest_legal_exit(&rule));
    }

    #[test]
    fn latest_legal_exit_ignores_future_movements(
        (movements, check) in history_strategy(),
        rule in rule_strategy(),
        later in 1i64..400,
        entry in any::<bool>(),
    ) {
        let before = evaluate(&rule, &movements, check);
        let mut extended = movements.clone();
        extended.push(Movement {
            date: plus(check, later),
            direction: if entry { Direction::Entry } else { Direction::Exit },
        });
        let after = evaluate(&rule, &extended, check);
        prop_assert_eq!(before, after);
    }

    #[test]
    fn days_used_never_decreases_as_a_stay_goes_on(
        (movements, check) in history_strategy(),
        limit in 1u32..120,
        extra in 0u32..200,
        length in 1i64..300,
    ) {
        // A stay entered after the whole recorded history, then continued day by day.
        let entry_day = movements.iter().map(|movement| movement.date).max().map_or(check, |last| plus(last, 1).max(check));
        let mut history = movements.clone();
        history.push(Movement { date: entry_day, direction: Direction::Entry });
        let rolling = StayRule::new(StayRuleKind::Rolling { window_days: limit + 1 + extra }, limit).expect("valid");
        let per_stay = StayRule::new(StayRuleKind::PerStay, limit).expect("valid");
        let calendar_year = StayRule::new(StayRuleKind::CalendarYear, limit.min(365)).expect("valid");
        let mut previous = (0, 0, 0);
        for offset in 0..length {
            let day = plus(entry_day, offset);
            let used = (
                evaluate(&rolling, &history, day).days_used,
                evaluate(&per_stay, &history, day).days_used,
                evaluate(&calendar_year, &history, day).days_used,
            );
            prop_assert!(used.0 >= previous.0, "rolling fell on {}", day);
            prop_assert!(used.1 >= previous.1, "per stay fell on {}", day);
            // The calendar-year count restarts on 1 January, and only then.
            if day.month() == 1 && day.day() == 1 {
                prop_assert_eq!(used.2, 1);
            } else {
                prop_assert!(used.2 >= previous.2, "calendar year fell on {}", day);
            }
            previous = used;
        }
    }

    #[test]
    fn residence_days_are_not_counted(
        (movements, check) in history_strategy(),
        rule in rule_strategy(),
        permits in prop::collection::vec((-400i64..400, 0i64..500), 0..3),
    ) {
        let grounds: Vec<GroundOfStay> = permits
            .iter()
            .map(|(start, length)| GroundOfStay {
                kind: GroundKind::TemporaryResidence,
                valid_from: plus(check, *start),
                valid_until: plus(check, start + length),
            })
            .collect();
        let mut exempt = BTreeSet::new();
        for ground in &grounds {
            let mut day = ground.valid_from;
            while day <= ground.valid_until {
                exempt.insert(day);
                day = plus(day, 1);
            }
        }
        let policy = StayPolicy::from_toml(&policy_text(&rule)).expect("valid policy");
        let assessment = policy.assess("TST", &movements, &grounds, check);
        let figures = &assessment.rules[0].figures;
        let oracle = Oracle::new(&movements, check, exempt);
        prop_assert_eq!(figures.days_used, oracle.days_used(&rule));
        prop_assert_eq!(figures.latest_legal_exit, oracle.latest_legal_exit(&rule));
    }
}

/// A policy holding only `rule`, for nationality TST.
fn policy_text(rule: &StayRule) -> String {
    let kind = match rule.kind() {
        StayRuleKind::Rolling { window_days } => {
            format!("kind = \"rolling\"\nwindow_days = {window_days}")
        }
        StayRuleKind::CalendarYear => "kind = \"calendar_year\"".to_owned(),
        StayRuleKind::PerStay => "kind = \"per_stay\"".to_owned(),
    };
    format!(
        "[[rule]]\nname = \"test\"\nsource = \"test\"\n{kind}\nlimit_days = {}\n\
         nationalities = [\"TST\"]\n\
         [registration]\nstay_days_without_registration = 15\ndeadline_days = 15\n\
         [residence_abroad]\nlimit_days = 90\nwindow_days = 180\n\
         [e_visa]\nsingle_entry_stay_days = 30\nmultiple_entry_stay_days = 90\n",
        rule.limit_days()
    )
}
