//! What the officer's screen shows about one traveller, computed from plain facts with the
//! check time and the checkpoint's zone passed in: dates, age, expiry status, recent movements
//! and their warnings, permit and alert details, stay figures that agree with the verdict, and
//! each reason's parameters so the console can say it in the officer's language.

pub mod movements;
pub mod person;

use std::collections::BTreeMap;

use jiff::civil::Date;
use serde::Serialize;

use self::movements::{Here, MovementLine, MovementWarning, PastCrossing, movements_view};
use self::person::{BirthView, ExpiryView, birth_view, day_text, expiry_view};
use crate::core::decision::{
    AlertFacts, DecisionInput, Direction, DocumentExpiry, MrzStatus, Outcome, ReasonCode, Verdict,
};

/// A permit as the lane verified it, in plain facts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PermitFactsShown {
    /// Stable permit type (`work_permit`…), when it could be decoded.
    pub kind: Option<String>,
    /// First valid day, when verified.
    pub valid_from: Option<Date>,
    /// Last valid day, when verified.
    pub valid_until: Option<Date>,
    /// Employer (work permits).
    pub employer: Option<String>,
    /// Address region (registrations).
    pub region: Option<String>,
    /// Issuing authority (the CWT issuer).
    pub issuer: Option<String>,
    /// The permit layer's stable rejection code, when rejected.
    pub rejection: Option<String>,
    /// The exact rejection sentence.
    pub message: Option<String>,
    /// Presented as a card (true) or found in the ledger.
    pub presented: bool,
    /// Whether its holder binding matches the passport.
    pub holder_matches: bool,
}

/// A permit on the screen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PermitLine {
    /// Stable permit type.
    pub kind: Option<String>,
    /// `DD.MM.YYYY`.
    pub valid_from: Option<String>,
    /// `DD.MM.YYYY`.
    pub valid_until: Option<String>,
    /// Employer (work permits).
    pub employer: Option<String>,
    /// Address region (registrations).
    pub region: Option<String>,
    /// Issuing authority.
    pub issuer: Option<String>,
    /// Stable rejection code.
    pub rejection: Option<String>,
    /// The exact rejection sentence.
    pub message: Option<String>,
    /// Presented as a card.
    pub presented: bool,
    /// Holder binding matches.
    pub holder_matches: bool,
}

/// A document alert with its ledger note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertNotice {
    /// Its kind (and end, for a ban).
    pub facts: AlertFacts,
    /// Central's note ("court order 12/2026").
    pub note: String,
}

/// What an alert requires of the officer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequiredAction {
    /// Do not admit.
    RefuseEntry,
    /// Keep the document.
    HoldDocument,
    /// Keep the document and call the duty supervisor.
    HoldDocumentCallSupervisor,
    /// Nothing at this lane (a ban does not stop an exit).
    None,
}

/// An alert on the screen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AlertLine {
    /// `entry_ban`, `lost`, `stolen`, `invalidated`.
    pub kind: &'static str,
    /// Last day of a ban (`DD.MM.YYYY`); absent when open-ended or not a ban.
    pub until: Option<String>,
    /// Central's note.
    pub note: String,
    /// What the officer must do.
    pub required_action: RequiredAction,
}

/// The stay figures the screen may show: never a figure the verdict contradicts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StayLine {
    /// Days counted under the binding rule (limited stays only).
    pub days_used: Option<u32>,
    /// Days left (limited stays only, not on a refusal).
    pub days_remaining: Option<u32>,
    /// `DD.MM.YYYY` (limited stays only, not on a refusal).
    pub may_stay_until: Option<String>,
    /// A residence ground's end (`DD.MM.YYYY`) instead of a day count.
    pub permit_until: Option<String>,
    /// Days over the limit.
    pub overstay_days: Option<u32>,
    /// `DD.MM.YYYY`.
    pub registration_overdue_since: Option<String>,
    /// The rule that bound.
    pub rule: Option<String>,
}

/// A reason as the console words it: code, outcome and the values its sentence needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReasonLine {
    /// Stable code; the catalogue key is `reason.<code>`.
    pub code: ReasonCode,
    /// What it calls for.
    pub outcome: Outcome,
    /// Named values for the sentence (`{until}`, `{days}`…).
    pub params: BTreeMap<&'static str, String>,
}

/// The whole screen model for one traveller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OfficerView {
    /// Birth date, age, minor flag (when the date is known).
    pub birth: Option<BirthView>,
    /// Expiry date and status.
    pub expiry: ExpiryView,
    /// Latest movements, newest first.
    pub movements: Vec<MovementLine>,
    /// Movement warnings.
    pub warnings: Vec<MovementWarning>,
    /// Permits considered.
    pub permits: Vec<PermitLine>,
    /// Document alerts in force.
    pub alerts: Vec<AlertLine>,
    /// Stay figures consistent with the verdict.
    pub stay: StayLine,
    /// The verdict's reasons to show, with their parameters.
    pub reasons: Vec<ReasonLine>,
}

/// Everything the screen model is computed from.
#[derive(Clone, Copy, Debug)]
pub struct ViewInput<'a> {
    /// Where and when.
    pub here: Here<'a>,
    /// The holder's birth date, when the MRZ gives it unambiguously.
    pub birth_date: Option<Date>,
    /// The facts the decision weighed.
    pub decision: &'a DecisionInput,
    /// The verdict.
    pub verdict: &'a Verdict,
    /// Recorded movements of this document, oldest first.
    pub history: &'a [PastCrossing],
    /// Permits, in the order the lane considered them.
    pub permits: &'a [PermitFactsShown],
    /// Document alerts in force, with notes.
    pub alerts: &'a [AlertNotice],
}

/// Computes the officer's screen model.
pub fn officer_view(input: &ViewInput<'_>) -> OfficerView {
    let today = input.decision.today;
    let (movements, warnings) = movements_view(input.history, input.here);
    let judged = Judged {
        decision: input.decision,
        verdict: input.verdict,
        permits: input.permits,
    };
    OfficerView {
        birth: input.birth_date.map(|birth| birth_view(birth, today)),
        expiry: expiry_view(&input.decision.document.expiry, today),
        movements,
        warnings,
        permits: input.permits.iter().map(permit_line).collect(),
        alerts: input
            .alerts
            .iter()
            .map(|alert| alert_line(alert, input.decision.direction))
            .collect(),
        stay: stay_line(&judged),
        reasons: reason_lines(&judged),
    }
}

/// What the verdict-dependent lines of the screen are computed from.
#[derive(Clone, Copy, Debug)]
pub struct Judged<'a> {
    /// The facts the decision weighed.
    pub decision: &'a DecisionInput,
    /// The verdict.
    pub verdict: &'a Verdict,
    /// Permits, in the order the lane considered them.
    pub permits: &'a [PermitFactsShown],
}

/// The stay figures and reasons for a verdict reached again on later evidence (the chip, read
/// after the document was assessed); the rest of the screen stays as it was.
pub fn follow_verdict(view: &mut OfficerView, judged: &Judged<'_>) {
    view.stay = stay_line(judged);
    view.reasons = reason_lines(judged);
}

fn permit_line(permit: &PermitFactsShown) -> PermitLine {
    PermitLine {
        kind: permit.kind.clone(),
        valid_from: permit.valid_from.map(day_text),
        valid_until: permit.valid_until.map(day_text),
        employer: permit.employer.clone(),
        region: permit.region.clone(),
        issuer: permit.issuer.clone(),
        rejection: permit.rejection.clone(),
        message: permit.message.clone(),
        presented: permit.presented,
        holder_matches: permit.holder_matches,
    }
}

fn alert_line(alert: &AlertNotice, direction: Direction) -> AlertLine {
    let (kind, until, required_action) = match alert.facts {
        AlertFacts::EntryBan { until } => {
            let action = match direction {
                Direction::Entry => RequiredAction::RefuseEntry,
                Direction::Exit => RequiredAction::None,
            };
            ("entry_ban", until.map(day_text), action)
        }
        AlertFacts::Lost => ("lost", None, RequiredAction::HoldDocument),
        AlertFacts::Stolen => ("stolen", None, RequiredAction::HoldDocumentCallSupervisor),
        AlertFacts::Invalidated => ("invalidated", None, RequiredAction::HoldDocument),
    };
    AlertLine {
        kind,
        until,
        note: alert.note.clone(),
        required_action,
    }
}

/// The residence grounds a permit holder stays on: the latest end of a valid, matching
/// residence-type permit.
fn residence_until(permits: &[PermitFactsShown]) -> Option<Date> {
    const RESIDENCE: [&str; 4] = [
        "temporary_residence",
        "permanent_residence",
        "work_permit",
        "refugee_status",
    ];
    permits
        .iter()
        .filter(|permit| permit.rejection.is_none() && permit.holder_matches)
        .filter(|permit| {
            permit
                .kind
                .as_deref()
                .is_some_and(|k| RESIDENCE.contains(&k))
        })
        .filter_map(|permit| permit.valid_until)
        .max()
}

fn stay_line(input: &Judged<'_>) -> StayLine {
    let Some(stay) = &input.decision.stay else {
        return StayLine::default();
    };
    let refused = input.verdict.outcome == Outcome::Refuse;
    let overdue = stay.registration_overdue_since.map(day_text);
    if !stay.limited {
        // A residence ground lifts the limit: its end is the figure, not "0 days remaining".
        return StayLine {
            permit_until: residence_until(input.permits).map(day_text),
            registration_overdue_since: overdue,
            ..StayLine::default()
        };
    }
    StayLine {
        days_used: Some(stay.days_used),
        // A refused traveller may not stay at all: no remaining days, no "may stay until".
        days_remaining: (!refused).then_some(stay.days_remaining),
        may_stay_until: if refused {
            None
        } else {
            stay.latest_legal_exit.map(day_text)
        },
        permit_until: None,
        overstay_days: (stay.overstay_days > 0).then_some(stay.overstay_days),
        registration_overdue_since: overdue,
        rule: stay.binding_rule.clone(),
    }
}

fn reason_lines(input: &Judged<'_>) -> Vec<ReasonLine> {
    let refused = input.verdict.outcome == Outcome::Refuse;
    input
        .verdict
        .reasons
        .iter()
        // "May stay until" beside a refusal contradicts it.
        .filter(|reason| !(refused && reason.code == ReasonCode::MayStayUntil))
        .map(|reason| ReasonLine {
            code: reason.code,
            outcome: reason.outcome,
            params: reason_params(reason.code, input),
        })
        .collect()
}

/// The values a reason's sentence names, taken from the facts the decision weighed.
fn reason_params(code: ReasonCode, input: &Judged<'_>) -> BTreeMap<&'static str, String> {
    let facts = input.decision;
    let mut params = BTreeMap::new();
    let stay = facts.stay.as_ref();
    match code {
        ReasonCode::MrzInvalid => {
            if let MrzStatus::Invalid { fields } = &facts.document.mrz {
                params.insert("fields", fields.join(", "));
            }
        }
        ReasonCode::MrzRepaired => {
            if let MrzStatus::Repaired { n_repairs } = facts.document.mrz {
                params.insert("count", n_repairs.to_string());
            }
        }
        ReasonCode::DocumentExpired | ReasonCode::DocumentExpiredAtExit => {
            if let DocumentExpiry::On(date) = facts.document.expiry {
                params.insert("date", day_text(date));
            }
        }
        ReasonCode::EntryBan => {
            let until = facts.alerts.iter().find_map(|alert| match alert {
                AlertFacts::EntryBan { until } => Some(*until),
                _ => None,
            });
            if let Some(Some(until)) = until {
                params.insert("until", day_text(until));
            }
        }
        ReasonCode::PermitInvalid => {
            let rejected = input.permits.iter().find(|p| p.rejection.is_some());
            if let Some(message) = rejected.and_then(|p| p.message.clone()) {
                params.insert("message", message);
            }
        }
        ReasonCode::GroundsPermit | ReasonCode::GroundsEvisa => {
            let grounds = input
                .permits
                .iter()
                .find(|p| p.rejection.is_none() && p.holder_matches);
            if let Some(kind) = grounds.and_then(|p| p.kind.clone()) {
                params.insert("kind", kind);
            }
        }
        ReasonCode::GroundsVisaFree => {
            params.insert("nationality", facts.document.nationality.clone());
        }
        ReasonCode::MayStayUntil | ReasonCode::StayLimitReached | ReasonCode::Overstay => {
            if let Some(stay) = stay {
                params.insert("days_used", stay.days_used.to_string());
                params.insert("days", stay.days_remaining.to_string());
                params.insert("overstay", stay.overstay_days.to_string());
                // The rule's name is configuration text, shown as written.
                if let Some(rule) = &stay.binding_rule {
                    params.insert("rule", rule.clone());
                }
                if let Some(until) = stay.latest_legal_exit {
                    params.insert("until", day_text(until));
                }
            }
        }
        ReasonCode::RegistrationOverdue => {
            if let Some(since) = stay.and_then(|stay| stay.registration_overdue_since) {
                params.insert("since", day_text(since));
            }
        }
        _ => {}
    }
    params
}

#[cfg(test)]
mod tests;
