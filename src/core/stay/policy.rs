//! Stay policy: which rules apply to a nationality (loaded from `stay-rules.toml`), combined with
//! the traveller's grounds of stay into one assessment.

use std::collections::BTreeSet;

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use super::days::{Day, date_of, day_number};
use super::presence::{Intervals, Timeline, span_days};
use super::{
    Counted, Movement, StayFigures, StayFlag, StayRule, StayRuleError, StayRuleKind,
    evaluate_counted,
};

/// Most rules one policy file may hold.
pub const POLICY_RULES_MAX: usize = 256;

/// Why a stay-rules file was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StayPolicyError {
    #[error("stay rules are not valid TOML: {0}")]
    Toml(String),
    #[error("stay rules hold {got} rules, at most {max} are allowed")]
    TooManyRules { got: usize, max: usize },
    #[error("rule {rule:?}: unknown kind {kind:?} (expected rolling, calendar_year or per_stay)")]
    UnknownKind { rule: String, kind: String },
    #[error("rule {rule:?}: kind rolling needs window_days")]
    WindowMissing { rule: String },
    #[error("rule {rule:?}: window_days is only allowed for kind rolling")]
    WindowNotAllowed { rule: String },
    #[error("rule {rule:?}: {source}")]
    InvalidRule { rule: String, source: StayRuleError },
    #[error("rule {rule:?}: nationalities is empty")]
    NoNationalities { rule: String },
    #[error("{place}: nationality {code:?} is not a three-letter ICAO 9303 code")]
    BadNationality { place: String, code: String },
    #[error("rule name {rule:?} is used twice")]
    DuplicateRuleName { rule: String },
    #[error("rule name must not be empty")]
    EmptyRuleName,
    #[error("rule {rule:?}: source is empty; every rule must cite its legal source")]
    NoSource { rule: String },
    #[error("rule {rule:?}: effective_until {until} is before effective_from {from}")]
    EmptyEffectiveRange {
        rule: String,
        from: Date,
        until: Date,
    },
    #[error("{field} must be between 1 and {max}, got {got}")]
    OutOfRange { field: String, got: u32, max: u32 },
    #[error("residence_abroad: {0}")]
    ResidenceAbroad(StayRuleError),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    rule: Vec<RawRule>,
    registration: RawRegistration,
    residence_abroad: RawResidenceAbroad,
    e_visa: RawEVisa,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: String,
    source: String,
    kind: String,
    limit_days: u32,
    window_days: Option<u32>,
    nationalities: Vec<String>,
    effective_from: Option<Date>,
    effective_until: Option<Date>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegistration {
    stay_days_without_registration: u32,
    deadline_days: u32,
    #[serde(default)]
    exception: Vec<RawRegistrationException>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegistrationException {
    nationalities: Vec<String>,
    stay_days_without_registration: u32,
    deadline_days: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawResidenceAbroad {
    limit_days: u32,
    window_days: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEVisa {
    single_entry_stay_days: u32,
    multiple_entry_stay_days: u32,
}

/// One configured rule with the nationalities it applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRule {
    pub name: String,
    /// Legal source cited in explanations.
    pub source: String,
    pub rule: StayRule,
    pub nationalities: BTreeSet<String>,
    pub effective_from: Option<Date>,
    pub effective_until: Option<Date>,
}

impl PolicyRule {
    fn applies(&self, nationality: &str, check_date: Date) -> bool {
        self.nationalities.contains(nationality)
            && self.effective_from.is_none_or(|from| from <= check_date)
            && self.effective_until.is_none_or(|until| check_date <= until)
    }
}

/// Place-of-stay registration duty for one group of nationalities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistrationDuty {
    /// Stays of at most this many days need no registration.
    pub stay_days_without_registration: u32,
    /// Registration is due within this many days of arrival, the arrival day being day 1.
    pub deadline_days: u32,
}

/// The validated stay policy of a deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StayPolicy {
    rules: Vec<PolicyRule>,
    registration: RegistrationDuty,
    registration_exceptions: Vec<(BTreeSet<String>, RegistrationDuty)>,
    residence_abroad: StayRule,
    e_visa_single_entry_stay_days: u32,
    e_visa_multiple_entry_stay_days: u32,
}

/// Kind of a permit or record that bears on how long a traveller may stay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum GroundKind {
    TemporaryResidence,
    PermanentResidence,
    /// Issued together with a temporary residence permit, so it exempts the same way.
    WorkPermit,
    RefugeeStatus,
    /// `used`: a single-entry e-visa already consumed by an entry before the stay assessed.
    EVisa {
        entries: EVisaEntries,
        used: bool,
    },
    /// An approved extension: the traveller may stay until `until`.
    StayExtension {
        until: Date,
    },
    /// A place-of-stay registration filed on `registered_on`.
    PlaceOfStayRegistration {
        registered_on: Date,
    },
}

impl GroundKind {
    /// Grounds under which there is no stay limit and whose days do not count toward visa-free
    /// limits.
    pub fn is_residence(&self) -> bool {
        matches!(
            self,
            GroundKind::TemporaryResidence
                | GroundKind::PermanentResidence
                | GroundKind::WorkPermit
                | GroundKind::RefugeeStatus
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EVisaEntries {
    Single,
    Multiple,
}

/// A permit as the stay engine needs it; the decision layer converts ledger permits into this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroundOfStay {
    #[serde(flatten)]
    pub kind: GroundKind,
    pub valid_from: Date,
    pub valid_until: Date,
}

impl GroundOfStay {
    fn valid_on(&self, date: Date) -> bool {
        self.valid_from <= date && date <= self.valid_until
    }
}

/// On what ground the traveller is (or would be) in the territory on the check date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "basis")]
pub enum StayBasis {
    /// A residence ground valid on the check date: no stay limit while it is valid.
    Residence {
        ground: GroundKind,
        valid_until: Date,
    },
    /// Visa-free rules for the nationality.
    VisaFree,
    /// An e-visa valid on the day of entry.
    EVisa {
        entries: EVisaEntries,
        valid_until: Date,
    },
    /// No configured rule, permit or visa allows a stay.
    NoGround,
}

/// One rule's figures inside an assessment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleAssessment {
    pub name: String,
    pub source: String,
    pub figures: StayFigures,
}

/// Place-of-stay registration state of the stay on the check date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RegistrationStatus {
    pub arrival: Date,
    /// Last day on which registration is on time.
    pub due_by: Date,
    /// The stay has lasted longer than the stay allowed without registration.
    pub required: bool,
    pub registered_on: Option<Date>,
    /// First day of missing registration, when it is missing and late.
    pub overdue_since: Option<Date>,
}

/// A residence-permit holder's absence in the look-back window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ResidenceAbroad {
    pub days_abroad: u32,
    pub window_first: Date,
    /// More days abroad than allowed: the permit is liable to cancellation.
    pub flagged: bool,
}

/// Everything the decision layer needs about a traveller's stay on a check date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StayAssessment {
    pub nationality: String,
    pub check_date: Date,
    pub basis: StayBasis,
    /// Every rule that applies, each evaluated on its own.
    pub rules: Vec<RuleAssessment>,
    /// The rule that gives the strictest answer.
    pub binding_rule: Option<String>,
    pub days_used: u32,
    pub days_remaining: u32,
    pub overstay_days: u32,
    pub latest_legal_exit: Option<Date>,
    pub flags: Vec<StayFlag>,
    pub registration: Option<RegistrationStatus>,
    pub residence_abroad: Option<ResidenceAbroad>,
    pub explanation: String,
}

impl StayPolicy {
    /// Reads and validates a stay-rules file.
    pub fn from_toml(text: &str) -> Result<StayPolicy, StayPolicyError> {
        let raw: RawPolicy =
            toml::from_str(text).map_err(|error| StayPolicyError::Toml(error.to_string()))?;
        if raw.rule.len() > POLICY_RULES_MAX {
            return Err(StayPolicyError::TooManyRules {
                got: raw.rule.len(),
                max: POLICY_RULES_MAX,
            });
        }
        let mut rules = Vec::with_capacity(raw.rule.len());
        for raw_rule in raw.rule {
            let rule = policy_rule(raw_rule)?;
            if rules
                .iter()
                .any(|known: &PolicyRule| known.name == rule.name)
            {
                return Err(StayPolicyError::DuplicateRuleName { rule: rule.name });
            }
            rules.push(rule);
        }
        let registration = registration_duty(
            "registration",
            raw.registration.stay_days_without_registration,
            raw.registration.deadline_days,
        )?;
        let mut registration_exceptions = Vec::new();
        for exception in raw.registration.exception {
            let place = "registration.exception";
            let duty = registration_duty(
                place,
                exception.stay_days_without_registration,
                exception.deadline_days,
            )?;
            registration_exceptions.push((nationalities(place, exception.nationalities)?, duty));
        }
        let residence_abroad = StayRule::new(
            StayRuleKind::Rolling {
                window_days: raw.residence_abroad.window_days,
            },
            raw.residence_abroad.limit_days,
        )
        .map_err(StayPolicyError::ResidenceAbroad)?;
        Ok(StayPolicy {
            rules,
            registration,
            registration_exceptions,
            residence_abroad,
            e_visa_single_entry_stay_days: days_in_range(
                "e_visa.single_entry_stay_days",
                raw.e_visa.single_entry_stay_days,
            )?,
            e_visa_multiple_entry_stay_days: days_in_range(
                "e_visa.multiple_entry_stay_days",
                raw.e_visa.multiple_entry_stay_days,
            )?,
        })
    }

    pub fn rules(&self) -> &[PolicyRule] {
        &self.rules
    }

    /// The registration duty for a nationality.
    pub fn registration_duty(&self, nationality: &str) -> RegistrationDuty {
        self.registration_exceptions
            .iter()
            .find(|(codes, _)| codes.contains(nationality))
            .map_or(self.registration, |(_, duty)| *duty)
    }

    /// Combines every rule that applies to `nationality` with the traveller's grounds of stay.
    ///
    /// The stricter answer wins: the earliest `latest_legal_exit` (none at all is strictest),
    /// then the larger overstay. Days under a residence ground do not count toward any rule.
    pub fn assess(
        &self,
        nationality: &str,
        movements: &[Movement],
        grounds: &[GroundOfStay],
        check_date: Date,
    ) -> StayAssessment {
        let check = day_number(check_date);
        let timeline = Timeline::read(movements, check);
        let exempt = Intervals::from_unsorted(
            grounds
                .iter()
                .filter(|ground| ground.kind.is_residence())
                .map(|ground| {
                    (
                        day_number(ground.valid_from),
                        day_number(ground.valid_until),
                    )
                })
                .collect(),
        );
        let counted = Counted::new(&timeline, &exempt);
        let arrival = date_of(timeline.stay_on_check().unwrap_or(check));

        let mut rules: Vec<RuleAssessment> = self
            .rules
            .iter()
            .filter(|rule| rule.applies(nationality, check_date))
            .map(|rule| RuleAssessment {
                name: rule.name.clone(),
                source: rule.source.clone(),
                figures: evaluate_counted(&rule.rule, &counted),
            })
            .collect();

        let residence = grounds
            .iter()
            .filter(|ground| ground.kind.is_residence() && ground.valid_on(check_date))
            .max_by_key(|ground| ground.valid_until);
        let e_visa = if rules.is_empty() {
            self.e_visa_assessment(grounds, arrival, &counted)
        } else {
            None
        };
        let basis = match (residence, &e_visa) {
            (Some(ground), _) => StayBasis::Residence {
                ground: ground.kind,
                valid_until: ground.valid_until,
            },
            (None, _) if !rules.is_empty() => StayBasis::VisaFree,
            (None, Some((entries, valid_until, _))) => StayBasis::EVisa {
                entries: *entries,
                valid_until: *valid_until,
            },
            (None, None) => StayBasis::NoGround,
        };
        if let Some((_, _, rule_assessment)) = e_visa {
            rules.push(rule_assessment);
        }

        let mut assessment = combine(nationality, check_date, basis, rules, counted.flags());
        if let Some(ground) = residence {
            apply_residence(&mut assessment, ground.valid_until);
        }
        apply_extension(&mut assessment, grounds, check_date);
        if residence.is_none() {
            assessment.registration =
                self.registration_status(nationality, &timeline, grounds, check);
        }
        if let Some(ground) = residence {
            assessment.residence_abroad = Some(self.residence_abroad(&timeline, ground, check));
        }
        assessment.explanation = explain(&assessment);
        assessment
    }

    fn e_visa_assessment(
        &self,
        grounds: &[GroundOfStay],
        arrival: Date,
        counted: &Counted<'_>,
    ) -> Option<(EVisaEntries, Date, RuleAssessment)> {
        let ground = grounds.iter().find(|ground| match ground.kind {
            GroundKind::EVisa { entries, used } => {
                ground.valid_on(arrival) && (entries == EVisaEntries::Multiple || !used)
            }
            _ => false,
        })?;
        let GroundKind::EVisa { entries, .. } = ground.kind else {
            return None;
        };
        let stay_days = match entries {
            EVisaEntries::Single => self.e_visa_single_entry_stay_days,
            EVisaEntries::Multiple => self.e_visa_multiple_entry_stay_days,
        };
        let rule = StayRule::new(StayRuleKind::PerStay, stay_days).ok()?;
        let mut figures = evaluate_counted(&rule, counted);
        // The visa's validity caps the stay whatever days remain.
        figures.latest_legal_exit = figures
            .latest_legal_exit
            .filter(|_| date_of(counted.check()) <= ground.valid_until)
            .map(|latest| latest.min(ground.valid_until));
        let check_date = date_of(counted.check());
        if check_date > ground.valid_until && counted.timeline.stay_on_check().is_some() {
            let past_validity =
                span_days(day_number(ground.valid_until) + 1, day_number(check_date));
            figures.overstay_days = figures.overstay_days.max(past_validity);
        }
        let name = match entries {
            EVisaEntries::Single => "e-visa (single entry)",
            EVisaEntries::Multiple => "e-visa (multiple entry)",
        };
        figures
            .explanation
            .push_str(&format!("; e-visa valid until {}", ground.valid_until));
        Some((
            entries,
            ground.valid_until,
            RuleAssessment {
                name: name.to_owned(),
                source: "Migration Code of Azerbaijan, Art. 38.1 (e-visa)".to_owned(),
                figures,
            },
        ))
    }

    fn registration_status(
        &self,
        nationality: &str,
        timeline: &Timeline,
        grounds: &[GroundOfStay],
        check: Day,
    ) -> Option<RegistrationStatus> {
        let arrival = timeline.stay_on_check()?;
        let duty = self.registration_duty(nationality);
        let days_in_stay = span_days(arrival, check);
        let due_by = arrival + day_offset(duty.deadline_days) - 1;
        let registered_on = grounds
            .iter()
            .filter_map(|ground| match ground.kind {
                GroundKind::PlaceOfStayRegistration { registered_on } => Some(registered_on),
                _ => None,
            })
            .filter(|registered_on| (arrival..=check).contains(&day_number(*registered_on)))
            .min();
        let required = days_in_stay > duty.stay_days_without_registration;
        let overdue_since =
            (required && registered_on.is_none() && check > due_by).then(|| date_of(due_by + 1));
        Some(RegistrationStatus {
            arrival: date_of(arrival),
            due_by: date_of(due_by),
            required,
            registered_on,
            overdue_since,
        })
    }

    fn residence_abroad(
        &self,
        timeline: &Timeline,
        ground: &GroundOfStay,
        check: Day,
    ) -> ResidenceAbroad {
        let window_days = match self.residence_abroad.kind() {
            StayRuleKind::Rolling { window_days } => window_days,
            StayRuleKind::CalendarYear | StayRuleKind::PerStay => 0,
        };
        // Absence counts only from the permit's first use: before it was issued, or before the
        // holder first came in on it, nobody was away from a residence they held. A first
        // arrival on a new permit is an arrival, not a return from abroad.
        let window_first = check - day_offset(window_days) + 1;
        let first_use = timeline
            .stays
            .iter()
            .find(|(_, end)| *end >= day_number(ground.valid_from))
            .map(|(start, _)| (*start).max(day_number(ground.valid_from)));
        let Some(first_use) = first_use.filter(|day| *day <= check) else {
            return ResidenceAbroad {
                days_abroad: 0,
                window_first: date_of(window_first.max(day_number(ground.valid_from))),
                flagged: false,
            };
        };
        let first = window_first.max(first_use);
        let present = timeline.presence().count(first, check);
        let days_abroad = span_days(first, check).saturating_sub(present);
        ResidenceAbroad {
            days_abroad,
            window_first: date_of(first),
            flagged: days_abroad > self.residence_abroad.limit_days(),
        }
    }
}

fn day_offset(days: u32) -> Day {
    Day::try_from(days).unwrap_or(Day::MAX / 4)
}

fn days_in_range(field: &str, got: u32) -> Result<u32, StayPolicyError> {
    if (1..=super::STAY_LIMIT_DAYS_MAX).contains(&got) {
        Ok(got)
    } else {
        Err(StayPolicyError::OutOfRange {
            field: field.to_owned(),
            got,
            max: super::STAY_LIMIT_DAYS_MAX,
        })
    }
}

fn registration_duty(
    place: &str,
    stay_days_without_registration: u32,
    deadline_days: u32,
) -> Result<RegistrationDuty, StayPolicyError> {
    Ok(RegistrationDuty {
        stay_days_without_registration: days_in_range(
            &format!("{place}.stay_days_without_registration"),
            stay_days_without_registration,
        )?,
        deadline_days: days_in_range(&format!("{place}.deadline_days"), deadline_days)?,
    })
}

fn nationalities(place: &str, codes: Vec<String>) -> Result<BTreeSet<String>, StayPolicyError> {
    codes
        .into_iter()
        .map(|code| {
            if code.len() == 3 && code.bytes().all(|byte| byte.is_ascii_uppercase()) {
                Ok(code)
            } else {
                Err(StayPolicyError::BadNationality {
                    place: place.to_owned(),
                    code,
                })
            }
        })
        .collect()
}

fn policy_rule(raw: RawRule) -> Result<PolicyRule, StayPolicyError> {
    if raw.name.trim().is_empty() {
        return Err(StayPolicyError::EmptyRuleName);
    }
    let name = raw.name;
    if raw.source.trim().is_empty() {
        return Err(StayPolicyError::NoSource { rule: name });
    }
    let kind = match (raw.kind.as_str(), raw.window_days) {
        ("rolling", Some(window_days)) => StayRuleKind::Rolling { window_days },
        ("rolling", None) => return Err(StayPolicyError::WindowMissing { rule: name }),
        ("calendar_year" | "per_stay", Some(_)) => {
            return Err(StayPolicyError::WindowNotAllowed { rule: name });
        }
        ("calendar_year", None) => StayRuleKind::CalendarYear,
        ("per_stay", None) => StayRuleKind::PerStay,
        (other, _) => {
            return Err(StayPolicyError::UnknownKind {
                kind: other.to_owned(),
                rule: name,
            });
        }
    };
    let rule =
        StayRule::new(kind, raw.limit_days).map_err(|source| StayPolicyError::InvalidRule {
            rule: name.clone(),
            source,
        })?;
    if raw.nationalities.is_empty() {
        return Err(StayPolicyError::NoNationalities { rule: name });
    }
    let nationalities = nationalities(&format!("rule {name:?}"), raw.nationalities)?;
    if let (Some(from), Some(until)) = (raw.effective_from, raw.effective_until)
        && until < from
    {
        return Err(StayPolicyError::EmptyEffectiveRange {
            rule: name,
            from,
            until,
        });
    }
    Ok(PolicyRule {
        name,
        source: raw.source,
        rule,
        nationalities,
        effective_from: raw.effective_from,
        effective_until: raw.effective_until,
    })
}

/// Strictness order: no legal exit at all first, then the earliest, then the larger overstay.
fn strictness(figures: &StayFigures) -> (Option<Date>, std::cmp::Reverse<u32>) {
    (
        figures.latest_legal_exit,
        std::cmp::Reverse(figures.overstay_days),
    )
}

fn combine(
    nationality: &str,
    check_date: Date,
    basis: StayBasis,
    rules: Vec<RuleAssessment>,
    flags: Vec<StayFlag>,
) -> StayAssessment {
    let binding = rules
        .iter()
        .min_by_key(|rule| strictness(&rule.figures))
        .cloned();
    let (days_used, latest_legal_exit) = binding.as_ref().map_or((0, None), |rule| {
        (rule.figures.days_used, rule.figures.latest_legal_exit)
    });
    StayAssessment {
        nationality: nationality.to_owned(),
        check_date,
        basis,
        binding_rule: binding.map(|rule| rule.name),
        days_used,
        days_remaining: rules
            .iter()
            .map(|rule| rule.figures.days_remaining)
            .min()
            .unwrap_or(0),
        overstay_days: rules
            .iter()
            .map(|rule| rule.figures.overstay_days)
            .max()
            .unwrap_or(0),
        latest_legal_exit,
        rules,
        flags,
        registration: None,
        residence_abroad: None,
        explanation: String::new(),
    }
}

/// A valid residence ground lifts the limit while it lasts.
fn apply_residence(assessment: &mut StayAssessment, valid_until: Date) {
    assessment.overstay_days = 0;
    assessment.latest_legal_exit = Some(
        assessment
            .latest_legal_exit
            .map_or(valid_until, |latest| latest.max(valid_until)),
    );
    assessment.binding_rule = None;
}

/// An approved extension moves the limit to its date.
fn apply_extension(assessment: &mut StayAssessment, grounds: &[GroundOfStay], check_date: Date) {
    let Some(until) = grounds
        .iter()
        .filter_map(|ground| match ground.kind {
            GroundKind::StayExtension { until } if ground.valid_from <= check_date => Some(until),
            _ => None,
        })
        .max()
    else {
        return;
    };
    let check = day_number(check_date);
    let until_day = day_number(until);
    if check <= until_day {
        assessment.overstay_days = 0;
        assessment.days_remaining = assessment
            .days_remaining
            .max(span_days(check + 1, until_day));
        assessment.latest_legal_exit = Some(
            assessment
                .latest_legal_exit
                .map_or(until, |latest| latest.max(until)),
        );
        assessment.binding_rule = Some(format!("stay extension until {until}"));
    } else {
        let past_extension = span_days(until_day + 1, check);
        assessment.overstay_days = assessment.overstay_days.min(past_extension);
    }
}

fn explain(assessment: &StayAssessment) -> String {
    let mut parts = Vec::new();
    match assessment.basis {
        StayBasis::Residence {
            ground,
            valid_until,
        } => parts.push(format!(
            "{ground:?} valid until {valid_until}: no stay limit while it is valid"
        )),
        StayBasis::VisaFree => {}
        StayBasis::EVisa {
            entries,
            valid_until,
        } => parts.push(format!(
            "{entries:?}-entry e-visa valid until {valid_until}"
        )),
        StayBasis::NoGround => parts.push(format!(
            "no ground of stay: {} is not visa-free and no valid e-visa or permit is on record",
            assessment.nationality
        )),
    }
    for rule in &assessment.rules {
        parts.push(format!(
            "{} ({}): {}",
            rule.name, rule.source, rule.figures.explanation
        ));
    }
    if let Some(binding) = &assessment.binding_rule {
        let outcome = match assessment.latest_legal_exit {
            Some(date) => format!("may stay until {date}"),
            None => format!("{} days over the limit", assessment.overstay_days),
        };
        parts.push(format!("binding: {binding}, {outcome}"));
    }
    if let Some(registration) = assessment.registration {
        match (registration.overdue_since, registration.registered_on) {
            (Some(since), _) => parts.push(format!("registration overdue since {since}")),
            (None, Some(on)) => parts.push(format!("registered at the place of stay on {on}")),
            (None, None) => parts.push(format!(
                "registration due by {} if the stay lasts longer",
                registration.due_by
            )),
        }
    }
    if let Some(abroad) = assessment.residence_abroad
        && abroad.flagged
    {
        parts.push(format!(
            "residence permit holder abroad {} days since {}: permit liable to cancellation",
            abroad.days_abroad, abroad.window_first
        ));
    }
    parts.join("; ")
}
