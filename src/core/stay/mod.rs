//! Stay-limit engine: how many days a traveller has used and may still stay under per-stay,
//! calendar-year and rolling-window rules, combined per nationality by [`StayPolicy`].
//!
//! # Counting convention
//!
//! The engine is a pure function of (rule, movements, grounds of stay, check date); it never
//! reads a clock or a store.
//!
//! - A day is a calendar date in the checkpoint's configured time zone (Asia/Baku for
//!   Azerbaijan), never UTC. **The caller converts instants to civil dates** in that zone before
//!   calling in, for example with [`civil_date_in`]; nothing here sees a time zone.
//! - A date on which the traveller was in the territory at any moment counts as one day: the
//!   entry date and the exit date both count, entry and exit on one date is 1 day, and a date
//!   never counts twice (exit and re-entry on one date is 1 day).
//! - Movements after the check date are ignored. Movements are sorted by date, keeping the given
//!   order within a date.
//! - An entry while already inside (missing exit): presence is continuous from the first
//!   unmatched entry, flagged [`StayFlag::MissingExit`]. An exit while outside (missing entry):
//!   only the exit date counts, flagged [`StayFlag::MissingEntry`].
//! - `rolling` counts presence days in `[d − window + 1, d]`; `calendar_year` counts days in
//!   `[1 January of d's year, d]`; `per_stay` is the position of `d` in the stay containing it
//!   (entry day = 1; a stay runs from an entry to the next exit; an exit and re-entry on one date
//!   starts a new stay).
//!
//! At check date C:
//! - `days_used` is the count at C from the history (C counts only if the traveller is present on
//!   C; for `per_stay`, 0 when not in a stay on C);
//! - `days_remaining` = max(0, limit − used) and `overstay_days` = max(0, used − limit);
//! - `latest_legal_exit` assumes presence on every day from C on (an exit on C is treated as
//!   staying, a traveller outside on C is assumed to enter on C) and is the last date D ≥ C such
//!   that the count stays within the limit on every day of [C, D], or `None` when the count on C
//!   already exceeds the limit.
//!
//! Under a rolling window `latest_legal_exit` can lie far beyond C + `days_remaining`, because
//! older days leave the window as the stay goes on.

mod days;
pub mod policy;
mod presence;

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use days::{Day, date_of, day_number, first_of_next_year, first_of_year};
use presence::{Intervals, Timeline, span_days};

pub use policy::{
    EVisaEntries, GroundKind, GroundOfStay, PolicyRule, RegistrationDuty, RegistrationStatus,
    ResidenceAbroad, RuleAssessment, StayAssessment, StayBasis, StayPolicy, StayPolicyError,
};

/// Largest `limit_days` of any rule (10 years); keeps day arithmetic far from overflow.
pub const STAY_LIMIT_DAYS_MAX: u32 = 3_660;
/// Largest `window_days` of a rolling rule (10 years).
pub const ROLLING_WINDOW_DAYS_MAX: u32 = 3_660;
/// Largest `limit_days` of a calendar-year rule: a longer limit could never be reached.
pub const CALENDAR_YEAR_LIMIT_DAYS_MAX: u32 = 365;

/// Which way a traveller crossed the border: the core's one direction type.
pub use super::decision::Direction;

/// One recorded border crossing, dated in the checkpoint's local calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Movement {
    pub date: Date,
    #[serde(rename = "dir")]
    pub direction: Direction,
}

/// How days are counted against a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StayRuleKind {
    /// At most `limit` days in any `window_days`-day period looking back from each day of stay.
    Rolling { window_days: u32 },
    /// At most `limit` days between 1 January and each day of stay.
    CalendarYear,
    /// At most `limit` days in one stay, entry day included.
    PerStay,
}

/// A validated stay rule: a counting kind and its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawStayRule")]
pub struct StayRule {
    kind: StayRuleKind,
    limit_days: u32,
}

/// Why a stay rule was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StayRuleError {
    #[error("limit_days must be between 1 and {max}, got {got}")]
    LimitOutOfRange { got: u32, max: u32 },
    #[error("window_days must be between 2 and {max}, got {got}")]
    WindowOutOfRange { got: u32, max: u32 },
    #[error("limit_days ({limit_days}) must be less than window_days ({window_days})")]
    LimitNotBelowWindow { limit_days: u32, window_days: u32 },
}

impl StayRule {
    /// Checks the limit against the kind; every accepted rule can be exceeded by a long enough
    /// stay, so `latest_legal_exit` is always a finite date.
    pub fn new(kind: StayRuleKind, limit_days: u32) -> Result<Self, StayRuleError> {
        let limit_max = match kind {
            StayRuleKind::CalendarYear => CALENDAR_YEAR_LIMIT_DAYS_MAX,
            StayRuleKind::Rolling { .. } | StayRuleKind::PerStay => STAY_LIMIT_DAYS_MAX,
        };
        if !(1..=limit_max).contains(&limit_days) {
            return Err(StayRuleError::LimitOutOfRange {
                got: limit_days,
                max: limit_max,
            });
        }
        if let StayRuleKind::Rolling { window_days } = kind {
            if !(2..=ROLLING_WINDOW_DAYS_MAX).contains(&window_days) {
                return Err(StayRuleError::WindowOutOfRange {
                    got: window_days,
                    max: ROLLING_WINDOW_DAYS_MAX,
                });
            }
            if limit_days >= window_days {
                return Err(StayRuleError::LimitNotBelowWindow {
                    limit_days,
                    window_days,
                });
            }
        }
        Ok(StayRule { kind, limit_days })
    }

    pub fn kind(&self) -> StayRuleKind {
        self.kind
    }

    pub fn limit_days(&self) -> u32 {
        self.limit_days
    }

    /// Short human-readable name, e.g. "90 days in any 180".
    pub fn describe(&self) -> String {
        match self.kind {
            StayRuleKind::Rolling { window_days } => {
                format!("{} days in any {window_days}-day period", self.limit_days)
            }
            StayRuleKind::CalendarYear => format!("{} days per calendar year", self.limit_days),
            StayRuleKind::PerStay => format!("{} days per stay", self.limit_days),
        }
    }
}

/// The rule as written in JSON or TOML, before validation.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum RawStayRule {
    Rolling { limit_days: u32, window_days: u32 },
    CalendarYear { limit_days: u32 },
    PerStay { limit_days: u32 },
}

impl TryFrom<RawStayRule> for StayRule {
    type Error = StayRuleError;

    fn try_from(raw: RawStayRule) -> Result<Self, Self::Error> {
        match raw {
            RawStayRule::Rolling {
                limit_days,
                window_days,
            } => StayRule::new(StayRuleKind::Rolling { window_days }, limit_days),
            RawStayRule::CalendarYear { limit_days } => {
                StayRule::new(StayRuleKind::CalendarYear, limit_days)
            }
            RawStayRule::PerStay { limit_days } => StayRule::new(StayRuleKind::PerStay, limit_days),
        }
    }
}

/// A data-quality problem found in the movement history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StayFlag {
    /// An entry was recorded while the traveller was already inside.
    MissingExit,
    /// An exit was recorded while the traveller was outside.
    MissingEntry,
}

/// The figures of one rule at a check date (the `checkpointctl stay --json` output).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StayFigures {
    pub days_used: u32,
    pub days_remaining: u32,
    pub overstay_days: u32,
    /// Last date the traveller may still be present; `None` when already over the limit.
    pub latest_legal_exit: Option<Date>,
    pub flags: Vec<StayFlag>,
    pub explanation: String,
}

/// The civil date of an instant in the checkpoint's time zone: the only correct way to turn a
/// crossing's timestamp into the day the engine counts.
pub fn civil_date_in(timestamp: jiff::Timestamp, time_zone: &jiff::tz::TimeZone) -> Date {
    timestamp.to_zoned(time_zone.clone()).date()
}

/// Evaluates one rule over a movement history at `check_date`.
pub fn evaluate(rule: &StayRule, movements: &[Movement], check_date: Date) -> StayFigures {
    let check = day_number(check_date);
    let timeline = Timeline::read(movements, check);
    let no_exemptions = Intervals::default();
    let counted = Counted::new(&timeline, &no_exemptions);
    evaluate_counted(rule, &counted)
}

/// Evaluates several rules over one movement history at `check_date`, reading the history once
/// (what a nationality with several rules — per stay and per calendar year — needs).
pub fn evaluate_all(
    rules: &[StayRule],
    movements: &[Movement],
    check_date: Date,
) -> Vec<StayFigures> {
    let check = day_number(check_date);
    let timeline = Timeline::read(movements, check);
    let no_exemptions = Intervals::default();
    let counted = Counted::new(&timeline, &no_exemptions);
    rules
        .iter()
        .map(|rule| evaluate_counted(rule, &counted))
        .collect()
}

/// A timeline with days under exempting grounds (residence permits) taken out.
pub(crate) struct Counted<'timeline> {
    timeline: &'timeline Timeline,
    /// History presence minus exempt days.
    presence: Intervals,
    exempt: &'timeline Intervals,
}

impl<'timeline> Counted<'timeline> {
    pub(crate) fn new(timeline: &'timeline Timeline, exempt: &'timeline Intervals) -> Self {
        Counted {
            timeline,
            presence: timeline.presence().without(exempt),
            exempt,
        }
    }

    fn check(&self) -> Day {
        self.timeline.check
    }

    fn flags(&self) -> Vec<StayFlag> {
        let mut flags = Vec::new();
        if self.timeline.missing_exit {
            flags.push(StayFlag::MissingExit);
        }
        if self.timeline.missing_entry {
            flags.push(StayFlag::MissingEntry);
        }
        flags
    }

    /// Counted days in `[first, last]` assuming presence on every day from the check date on.
    fn projected_count(&self, first: Day, last: Day) -> u32 {
        let check = self.check();
        let before_check = self.presence.count(first, last.min(check - 1));
        let from = first.max(check);
        if last < from {
            return before_check;
        }
        let future = span_days(from, last).saturating_sub(self.exempt.count(from, last));
        before_check.saturating_add(future)
    }

    /// Start of the stay whose days a per-stay rule counts when projecting: the stay on the
    /// check date, or one starting on it.
    fn projected_stay_start(&self) -> Day {
        self.timeline.stay_on_check().unwrap_or(self.check())
    }

    /// The projected count of `rule` on `day`.
    fn projected_count_on(&self, rule: &StayRule, day: Day) -> u32 {
        match rule.kind {
            StayRuleKind::Rolling { window_days } => {
                self.projected_count(window_start(day, window_days), day)
            }
            StayRuleKind::CalendarYear => self.projected_count(first_of_year(day), day),
            StayRuleKind::PerStay => self.projected_count(self.projected_stay_start(), day),
        }
    }

    /// First day in `[from, until]` on which the projected count exceeds the limit, when no
    /// day of that range is exempt, so that each counted day adds one (the count never falls
    /// within the range, except to restart on 1 January for a calendar-year rule). `None` when
    /// the limit holds through `until`; with no `until`, every accepted rule is exceeded.
    fn first_over(&self, rule: &StayRule, from: Day, until: Option<Day>) -> Option<Day> {
        let until = until.unwrap_or(Day::MAX);
        let limit = rule.limit_days;
        let over = match rule.kind {
            StayRuleKind::Rolling { window_days } => {
                // A counted day enters for each day that leaves, and with every day counted the
                // count reaches window_days > limit by from + window − 1.
                let mut low = from;
                let mut high = from.saturating_add(to_day(window_days) - 1).min(until);
                if self.projected_count_on(rule, high) <= limit {
                    return None;
                }
                while low < high {
                    let middle = low + (high - low) / 2;
                    if self.projected_count_on(rule, middle) > limit {
                        high = middle;
                    } else {
                        low = middle + 1;
                    }
                }
                low
            }
            StayRuleKind::CalendarYear => {
                // Within a year the count grows by one a day; it restarts on 1 January. A limit
                // of at most 365 days is exceeded within 8 years (the next leap year at worst).
                let mut day = from;
                let mut found = None;
                for _ in 0..9 {
                    let count = self.projected_count_on(rule, day);
                    if count > limit {
                        found = Some(day);
                        break;
                    }
                    let over = day.saturating_add(to_day(limit - count) + 1);
                    let next_year = first_of_next_year(day);
                    if over < next_year {
                        found = Some(over);
                        break;
                    }
                    if next_year > until {
                        return None;
                    }
                    day = next_year;
                }
                found?
            }
            StayRuleKind::PerStay => {
                let count = self.projected_count_on(rule, from);
                if count > limit {
                    from
                } else {
                    from.saturating_add(to_day(limit - count) + 1)
                }
            }
        };
        (over <= until).then_some(over)
    }

    /// The last date within the limit on every day from the check date on, or `None`.
    fn latest_legal_exit(&self, rule: &StayRule) -> Option<Day> {
        let check = self.check();
        if self.projected_count_on(rule, check) > rule.limit_days {
            return None;
        }
        // Exempt days (a permit valid beyond the check date) never raise the count, so the limit
        // can only be crossed on a counted day: search each run of counted days on its own.
        let mut from = check;
        for (exempt_first, exempt_last) in self.exempt.iter() {
            if exempt_last < from {
                continue;
            }
            if exempt_first > from
                && let Some(over) = self.first_over(rule, from, Some(exempt_first - 1))
            {
                return Some(over - 1);
            }
            from = exempt_last.saturating_add(1);
        }
        self.first_over(rule, from, None).map(|over| over - 1)
    }

    /// `days_used` at the check date from the recorded history alone.
    fn days_used(&self, rule: &StayRule) -> u32 {
        let check = self.check();
        match rule.kind {
            StayRuleKind::Rolling { window_days } => {
                self.presence.count(window_start(check, window_days), check)
            }
            StayRuleKind::CalendarYear => self.presence.count(first_of_year(check), check),
            StayRuleKind::PerStay => self
                .timeline
                .stay_on_check()
                .map_or(0, |start| self.presence.count(start, check)),
        }
    }
}

/// First day of the rolling window ending on `day`.
fn window_start(day: Day, window_days: u32) -> Day {
    day - to_day(window_days) + 1
}

/// A validated day count as a day offset; every count here is at most a few thousand.
fn to_day(days: u32) -> Day {
    Day::try_from(days).unwrap_or(Day::MAX / 4)
}

pub(crate) fn evaluate_counted(rule: &StayRule, counted: &Counted<'_>) -> StayFigures {
    let days_used = counted.days_used(rule);
    let limit = rule.limit_days;
    let latest_legal_exit = counted.latest_legal_exit(rule).map(date_of);
    let explanation = explain(rule, counted, days_used, latest_legal_exit);
    StayFigures {
        days_used,
        days_remaining: limit.saturating_sub(days_used),
        overstay_days: days_used.saturating_sub(limit),
        latest_legal_exit,
        flags: counted.flags(),
        explanation,
    }
}

fn explain(
    rule: &StayRule,
    counted: &Counted<'_>,
    days_used: u32,
    latest_legal_exit: Option<Date>,
) -> String {
    let check = counted.check();
    let check_date = date_of(check);
    let limit = rule.limit_days;
    let mut text = match rule.kind {
        StayRuleKind::Rolling { window_days } => format!(
            "{}: {days_used} days present in the window {}..{}",
            rule.describe(),
            date_of(window_start(check, window_days)),
            check_date
        ),
        StayRuleKind::CalendarYear => format!(
            "{}: {days_used} days present in {}..{}",
            rule.describe(),
            date_of(first_of_year(check)),
            check_date
        ),
        StayRuleKind::PerStay => match counted.timeline.stay_on_check() {
            Some(start) => format!(
                "{}: day {days_used} of the stay that began {}",
                rule.describe(),
                date_of(start)
            ),
            None => format!("{}: not in the territory on {check_date}", rule.describe()),
        },
    };
    if days_used > limit {
        text.push_str(&format!("; {} days over the limit", days_used - limit));
    } else {
        text.push_str(&format!("; {} days remaining", limit - days_used));
    }
    match latest_legal_exit {
        Some(date) => text.push_str(&format!("; presence is within the limit until {date}")),
        None => text.push_str(&format!("; the limit is already exceeded on {check_date}")),
    }
    if counted.timeline.missing_exit {
        text.push_str("; an exit record is missing, presence assumed continuous");
    }
    if counted.timeline.missing_entry {
        text.push_str("; an entry record is missing, only the exit date counted");
    }
    text
}
