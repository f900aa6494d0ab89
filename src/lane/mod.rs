//! The lane: turns one traveller session's scans into a verdict, and a confirmed verdict into a
//! crossing record.
//!
//! `assess` gathers the facts — MRZ report, permits (presented and held in the ledger), alerts,
//! movement history, stay rules — and hands them to the pure `core::decision::decide`.
//! It reads the ledger and the movement index through their ports and never writes anything;
//! recording happens only in `crossing_for`'s caller, after a confirmation.

pub mod chip;
pub mod commands;
pub mod driver;
pub mod watchlist;

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use serde_json::{Value, json};

use crate::core::chip_evidence::ChipEvidence;
use crate::core::decision::{
    self, AlertFacts, DecisionInput, DocumentExpiry, DocumentFacts, LaneMode, MrzStatus,
    PermitFacts, PermitKind, StayFacts, Verdict,
};
use crate::core::document::HolderDigest;
use crate::core::event::{self, Crossing, Operator, Traveller};
use crate::core::ledger::Alert;
use crate::core::ledger::entry::AlertKind;
use crate::core::ledger::permit_check::trust_key;
use crate::core::mrz::{self, MrzDate, MrzReport, ParseOptions, Sex};
use crate::core::officer_view::movements::{Here, PastCrossing};
use crate::core::officer_view::{
    AlertNotice, OfficerView, PermitFactsShown, ViewInput, officer_view,
};
use crate::core::permit::trust::{IssuerKey, TrustList};
use crate::core::permit::{self, PermitType, PermitVerdict, RevocationCheck};
use crate::core::permit::{BirthDate, HolderFacts};
use crate::core::session::TravellerSession;
use crate::core::stay::policy::{
    EVisaEntries, GroundKind, GroundOfStay, StayAssessment, StayBasis, StayPolicy,
};
use crate::core::stay::{self, Movement};
use crate::ports::ledger::{LedgerStoreError, LedgerView, ReplicationState};
use crate::ports::upstream::{MovementHistory, MovementRecord};

/// What the lane is configured to be.
#[derive(Clone, Debug)]
pub struct LaneSettings {
    /// Checkpoint id stamped on records.
    pub checkpoint: String,
    /// Lane or booth.
    pub lane: String,
    /// Entry or exit lane.
    pub direction: decision::Direction,
    /// Officer or kiosk.
    pub mode: LaneMode,
    /// The checkpoint's time zone: days are counted in it.
    pub time_zone: jiff::tz::TimeZone,
    /// A ledger whose latest checkpoint is older than this makes decisions `ledger_stale`.
    pub ledger_stale_after: SignedDuration,
    /// Clock-skew allowance for permit validity times.
    pub permit_clock_skew: SignedDuration,
    /// A wall clock further behind an earlier reading than this is untrusted; a smaller step
    /// back is a correction (`[lane] clock_backwards_tolerance_ms`).
    pub clock_backwards_tolerance: SignedDuration,
    /// Person alerts scoring at or above this refer the traveller (`[lane] watchlist_threshold`).
    pub watchlist_threshold: f64,
}

/// A permit as verified for this traveller, for the screen and the record.
#[derive(Clone, Debug, Serialize)]
pub struct PermitView {
    /// Permit type (stable string), when it could be decoded.
    pub kind: Option<PermitType>,
    /// Permit id (hex), when verified.
    pub cti: Option<String>,
    /// `None` when valid, else the stable rejection code.
    pub rejection: Option<String>,
    /// The sentence explaining a rejection.
    pub message: Option<String>,
    /// Whether its holder binding matches the passport.
    pub holder_matches: bool,
    /// Presented as a card at this lane (true) or found in the ledger (false).
    pub presented: bool,
    /// Valid-from and valid-until dates, when verified.
    pub valid_from: Option<Date>,
    /// Last valid day.
    pub valid_until: Option<Date>,
    /// Employer (work permits), when decoded.
    pub employer: Option<String>,
    /// Address region (registrations), when decoded.
    pub region: Option<String>,
    /// Issuing authority (the CWT issuer), when decoded.
    pub issuer: Option<String>,
}

/// The full assessment of one traveller session.
#[derive(Clone, Debug)]
pub struct Assessment {
    /// The session this assessment is for.
    pub session: u64,
    /// The MRZ report of the main document.
    pub report: MrzReport,
    /// Holder digest, when the document number verified.
    pub holder: Option<HolderDigest>,
    /// Permits considered.
    pub permits: Vec<PermitView>,
    /// The stay engine's assessment, when it could run.
    pub stay: Option<StayAssessment>,
    /// The facts the decision weighed.
    pub input: DecisionInput,
    /// The verdict.
    pub verdict: Verdict,
    /// Ledger age in seconds at decision time.
    pub ledger_age_s: Option<u64>,
    /// What the officer's screen shows (`core::officer_view`).
    pub view: OfficerView,
    /// Person alerts the traveller matched at or above the threshold, highest first.
    pub watchlist: Vec<watchlist::WatchlistHit>,
    /// What the document's chip showed, when the lane has a chip reader.
    pub chip: Option<ChipEvidence>,
}

/// Why an assessment could not be made at all (as opposed to a refusal).
#[derive(Debug, thiserror::Error)]
pub enum LaneError {
    /// The session holds no MRZ yet (only a permit card was scanned).
    #[error("no travel document scanned yet")]
    NoDocument,
    /// The ledger replica could not be read.
    #[error("ledger replica: {0}")]
    Ledger(String),
    /// The movement index could not be read.
    #[error("movement history: {0}")]
    Movements(String),
}

struct LedgerRevocations<'a>(&'a dyn LedgerView);

impl RevocationCheck for LedgerRevocations<'_> {
    fn is_revoked(&self, cti: &[u8; 16]) -> bool {
        // A replica that cannot answer must not make a revoked permit look valid.
        self.0.is_revoked(cti).unwrap_or(true)
    }
}

/// How current the replica is: the age of its latest checkpoint, and whether decisions must
/// carry `ledger_stale` — the checkpoint is older than the limit, or replication stopped longer
/// ago than the limit (a stopped replica will not learn of revocations however recent its
/// last checkpoint was).
pub fn ledger_freshness(
    checkpoint_time: Option<Timestamp>,
    replication: &ReplicationState,
    now: Timestamp,
    limit: SignedDuration,
) -> (Option<SignedDuration>, bool) {
    let age = checkpoint_time.map(|time| now.duration_since(time));
    let stopped_too_long = match replication {
        ReplicationState::Stopped { since, .. } => now.duration_since(*since) > limit,
        ReplicationState::Connecting { .. }
        | ReplicationState::Running
        | ReplicationState::Bootstrapping { .. } => false,
    };
    (age, stopped_too_long || age.is_none_or(|age| age > limit))
}

/// Assesses the traveller of `session` at `now`.
#[allow(clippy::too_many_arguments)]
pub fn assess(
    session: &TravellerSession,
    settings: &LaneSettings,
    ledger: &dyn LedgerView,
    replication: &ReplicationState,
    movements: &dyn MovementHistory,
    policy: &StayPolicy,
    now: Timestamp,
    clock_trusted: bool,
    person_alerts: &watchlist::LaneWatchlist,
) -> Result<Assessment, LaneError> {
    let text = session.main_mrz().ok_or(LaneError::NoDocument)?;
    let today = stay::civil_date_in(now, &settings.time_zone);
    let options = ParseOptions {
        mode: mrz::Mode::Tolerant,
        reference_date: today,
        french_national_id: false,
    };
    let report = mrz::parse(text, &options);
    let key = report.document_key();
    let holder = key.as_ref().map(|key| key.holder_digest());

    let checkpoint_time = ledger.checkpoint_time().map_err(ledger_error)?;
    let (ledger_age, ledger_stale) = ledger_freshness(
        checkpoint_time,
        replication,
        now,
        settings.ledger_stale_after,
    );
    let (history, alerts) = match &holder {
        Some(holder) => (
            movements
                .movements(holder)
                .map_err(|error| LaneError::Movements(error.to_string()))?,
            ledger.active_alerts(holder, today).map_err(ledger_error)?,
        ),
        None => (Vec::new(), Vec::new()),
    };
    let stay_movements = stay_movements(&history, &settings.time_zone);
    let hits = person_alert_hits(&report, person_alerts, settings, today, ledger)?;
    let holder_facts = holder_facts(&report);
    let traveller = PresentedBy {
        session,
        holder: holder.as_ref(),
        facts: holder_facts.as_ref(),
        movements: &stay_movements,
    };
    let (permits, grounds) = permits_and_grounds(&traveller, ledger, now, settings)?;

    let nationality = nationality_of(holder_facts.as_ref());
    let stay = report
        .document
        .as_ref()
        .map(|_| policy.assess(&nationality, &stay_movements, &grounds, today));
    let visa_free = is_visa_free(policy, &nationality);
    let mut input = DecisionInput {
        direction: settings.direction,
        mode: settings.mode,
        today,
        document: document_facts(&report, key.as_ref(), &nationality),
        alerts: alerts
            .iter()
            .map(|alert| alert_facts(&alert.alert.alert))
            .collect(),
        permits: permit_facts(&permits),
        visa_free,
        stay: stay.as_ref().map(stay_facts),
        ledger_stale,
        clock_untrusted: !clock_trusted,
        watchlist_hits: hits.len(),
        chip: None,
    };
    mark_used_evisas(&mut input, &permits, &stay_movements);
    let verdict = decision::decide(&input);
    let view = screen_of(
        &Screened {
            report: &report,
            input: &input,
            verdict: &verdict,
            history: &history,
            permits: &permits,
            alerts: &alerts,
        },
        settings,
        now,
    );
    Ok(Assessment {
        session: session.id,
        report,
        holder,
        permits,
        stay,
        input,
        verdict,
        ledger_age_s: ledger_age.map(|age| u64::try_from(age.as_secs()).unwrap_or(0)),
        view,
        watchlist: hits,
        chip: None,
    })
}

/// The holder's nationality as the MRZ gives it; empty when the MRZ gives none.
fn nationality_of(facts: Option<&HolderFacts>) -> String {
    facts
        .map(|facts| facts.nationality.clone())
        .unwrap_or_default()
}

/// Whether a stay rule lets holders of `nationality` in without a visa.
fn is_visa_free(policy: &StayPolicy, nationality: &str) -> bool {
    policy
        .rules()
        .iter()
        .any(|rule| rule.nationalities.iter().any(|n| n == nationality))
}

/// The person alerts the traveller's MRZ may match (none without a readable name).
fn person_alert_hits(
    report: &MrzReport,
    person_alerts: &watchlist::LaneWatchlist,
    settings: &LaneSettings,
    today: Date,
    ledger: &dyn LedgerView,
) -> Result<Vec<watchlist::WatchlistHit>, LaneError> {
    match watchlist::traveller_of(report) {
        Some(traveller) => person_alerts
            .screen(&traveller, settings.watchlist_threshold, today, ledger)
            .map_err(ledger_error),
        None => Ok(Vec::new()),
    }
}

/// What `assess` found and decided, for the officer's screen.
struct Screened<'a> {
    report: &'a MrzReport,
    input: &'a DecisionInput,
    verdict: &'a Verdict,
    history: &'a [MovementRecord],
    permits: &'a [PermitView],
    alerts: &'a [Alert],
}

/// The officer's screen for an assessment made at this lane at `now`.
fn screen_of(screened: &Screened<'_>, settings: &LaneSettings, now: Timestamp) -> OfficerView {
    let terminal = format!("{}-{}", settings.checkpoint, settings.lane);
    officer_view(&ViewInput {
        here: Here {
            terminal: &terminal,
            direction: settings.direction,
            now,
            time_zone: &settings.time_zone,
        },
        birth_date: known_birth_date(screened.report),
        decision: screened.input,
        verdict: screened.verdict,
        history: &past_crossings(screened.history),
        permits: &screened
            .permits
            .iter()
            .map(permit_shown)
            .collect::<Vec<_>>(),
        alerts: &screened
            .alerts
            .iter()
            .map(|alert| AlertNotice {
                facts: alert_facts(&alert.alert.alert),
                note: alert.alert.note.clone(),
            })
            .collect::<Vec<_>>(),
    })
}

/// The birth date when the MRZ states it unambiguously.
fn known_birth_date(report: &MrzReport) -> Option<Date> {
    match &report.document.as_ref()?.birth_date.value {
        MrzDate::Known { date } => Some(*date),
        _ => None,
    }
}

/// The movement index's records as the screen model reads them.
fn past_crossings(history: &[MovementRecord]) -> Vec<PastCrossing> {
    history
        .iter()
        .map(|record| PastCrossing {
            at: record.at,
            direction: record.direction,
            checkpoint: record.checkpoint.clone(),
            terminal: record.terminal.as_str().to_string(),
        })
        .collect()
}

fn permit_shown(view: &PermitView) -> PermitFactsShown {
    PermitFactsShown {
        // The stable snake_case name serde gives it (`work_permit`).
        kind: view
            .kind
            .and_then(|kind| serde_json::to_value(kind).ok())
            .and_then(|value| value.as_str().map(str::to_string)),
        valid_from: view.valid_from,
        valid_until: view.valid_until,
        employer: view.employer.clone(),
        region: view.region.clone(),
        issuer: view.issuer.clone(),
        rejection: view.rejection.clone(),
        message: view.message.clone(),
        presented: view.presented,
        holder_matches: view.holder_matches,
    }
}

fn ledger_error(error: LedgerStoreError) -> LaneError {
    LaneError::Ledger(error.to_string())
}

/// Recorded crossings as stay movements, on civil dates in the checkpoint's zone (a refused
/// entry is no movement).
fn stay_movements(history: &[MovementRecord], time_zone: &jiff::tz::TimeZone) -> Vec<Movement> {
    history
        .iter()
        .filter_map(|record| {
            let direction = record.direction.crossed()?;
            Some(Movement {
                date: stay::civil_date_in(record.at, time_zone),
                direction,
            })
        })
        .collect()
}

fn alert_facts(alert: &AlertKind) -> AlertFacts {
    match alert {
        AlertKind::EntryBan { until } => AlertFacts::EntryBan {
            until: Some(*until),
        },
        AlertKind::Lost => AlertFacts::Lost,
        AlertKind::Stolen => AlertFacts::Stolen,
        AlertKind::Invalidated => AlertFacts::Invalidated,
    }
}

/// What a permit must match: the document's issuing state, number, birth date, nationality.
fn holder_facts(report: &MrzReport) -> Option<HolderFacts> {
    report.document.as_ref().map(|document| HolderFacts {
        issuing_state: document.issuing_state.value.clone(),
        document_number: document.document_number.number.clone(),
        birth_date: BirthDate::Mrz(document.birth_date.raw.clone()),
        nationality: document
            .nationality
            .as_ref()
            .map(|n| n.value.clone())
            .unwrap_or_default(),
    })
}

/// The traveller as the permit checks see them.
struct PresentedBy<'a> {
    session: &'a TravellerSession,
    holder: Option<&'a HolderDigest>,
    facts: Option<&'a HolderFacts>,
    movements: &'a [Movement],
}

/// Every permit presented or held in the ledger, verified, and the grounds of stay they and the
/// ledger's extensions and registrations give.
fn permits_and_grounds(
    traveller: &PresentedBy<'_>,
    ledger: &dyn LedgerView,
    now: Timestamp,
    settings: &LaneSettings,
) -> Result<(Vec<PermitView>, Vec<GroundOfStay>), LaneError> {
    let revocations = LedgerRevocations(ledger);
    let check = |text: &str, presented: bool| {
        check_permit(
            text,
            presented,
            ledger,
            &revocations,
            traveller.facts,
            traveller.movements,
            now,
            settings,
        )
    };
    let mut permits = Vec::new();
    let mut grounds = Vec::new();
    let mut presented_ctis = Vec::new();
    for text in traveller.session.qr_texts() {
        let (view, ground) = check(text, true)?;
        if let Some(cti) = &view.cti {
            presented_ctis.push(cti.clone());
        }
        permits.push(view);
        grounds.extend(ground);
    }
    let Some(holder) = traveller.holder else {
        return Ok((permits, grounds));
    };
    for held in ledger.permits_by_holder(holder).map_err(ledger_error)? {
        if presented_ctis.contains(&hex::encode(held.index.cti)) {
            continue;
        }
        // The signed text is read only for a permit about to be used, and verified again.
        let bp1 = ledger
            .permit_text(held.seq)
            .map_err(ledger_error)?
            .ok_or_else(|| {
                ledger_error(LedgerStoreError::Corrupt {
                    what: "permit",
                    reason: format!("entry {} issues no permit", held.seq),
                })
            })?;
        let (view, ground) = check(&bp1, false)?;
        // A permit in the ledger that is no longer valid is simply no ground; it is not
        // a forgery the officer must hear about.
        if view.rejection.is_none() && view.holder_matches {
            permits.push(view);
            grounds.extend(ground);
        }
    }
    grounds.extend(ledger_grounds(ledger, holder).map_err(ledger_error)?);
    Ok((permits, grounds))
}

/// Stay extensions and place-of-stay registrations the ledger holds for the holder, as grounds of
/// stay (central's overstayers report derives them the same way).
pub fn ledger_grounds(
    ledger: &dyn LedgerView,
    holder: &HolderDigest,
) -> Result<Vec<GroundOfStay>, LedgerStoreError> {
    let mut grounds = Vec::new();
    for extension in ledger.stay_extensions(holder)? {
        grounds.push(GroundOfStay {
            kind: GroundKind::StayExtension {
                until: extension.until,
            },
            valid_from: Date::MIN,
            valid_until: extension.until,
        });
    }
    for registration in ledger.registrations(holder)? {
        grounds.push(GroundOfStay {
            kind: GroundKind::PlaceOfStayRegistration {
                registered_on: registration.valid_from,
            },
            valid_from: registration.valid_from,
            valid_until: registration.valid_until,
        });
    }
    Ok(grounds)
}

fn document_facts(
    report: &MrzReport,
    key: Option<&crate::core::document::DocumentKey>,
    nationality: &str,
) -> DocumentFacts {
    match (&report.document, key) {
        (Some(document), Some(key)) => DocumentFacts {
            key: key.clone(),
            nationality: nationality.to_string(),
            mrz: mrz_status(report),
            expiry: match document.expiry_date.as_ref().map(|field| &field.value) {
                Some(MrzDate::Known { date }) => DocumentExpiry::On(*date),
                Some(MrzDate::NoExpiry) => DocumentExpiry::Never,
                _ => DocumentExpiry::Unknown,
            },
        },
        _ => DocumentFacts {
            key: crate::core::document::DocumentKey {
                issuing_state: String::new(),
                document_code: String::new(),
                number: crate::core::privacy::DocumentNumber::new(""),
            },
            nationality: nationality.to_string(),
            mrz: mrz_status(report),
            expiry: DocumentExpiry::Unknown,
        },
    }
}

/// The decision's view of the permits: decodable ones first, then undecodable cards (still a
/// rejection the officer must see).
fn permit_facts(permits: &[PermitView]) -> Vec<PermitFacts> {
    permits
        .iter()
        .filter_map(|view| {
            Some(PermitFacts {
                kind: view.kind.map(permit_kind)?,
                rejection: view.rejection.clone(),
                holder_matches: view.holder_matches,
                already_used: false,
            })
        })
        .chain(
            permits
                .iter()
                .filter(|view| view.kind.is_none())
                .map(|view| PermitFacts {
                    kind: PermitKind::Registration,
                    rejection: view.rejection.clone(),
                    holder_matches: false,
                    already_used: false,
                }),
        )
        .collect()
}

/// A single-entry e-visa is used once an entry was recorded within its validity.
fn mark_used_evisas(input: &mut DecisionInput, permits: &[PermitView], movements: &[Movement]) {
    let views = permits.iter().filter(|view| view.kind.is_some());
    for (facts, view) in input.permits.iter_mut().zip(views) {
        if facts.kind != PermitKind::EvisaSingle {
            continue;
        }
        let (Some(from), Some(until)) = (view.valid_from, view.valid_until) else {
            continue;
        };
        facts.already_used = movements.iter().any(|movement| {
            movement.direction == stay::Direction::Entry
                && from <= movement.date
                && movement.date <= until
        });
    }
}

#[allow(clippy::too_many_arguments)]
fn check_permit(
    text: &str,
    presented: bool,
    ledger: &dyn LedgerView,
    revocations: &dyn RevocationCheck,
    holder: Option<&HolderFacts>,
    movements: &[Movement],
    now: Timestamp,
    settings: &LaneSettings,
) -> Result<(PermitView, Option<GroundOfStay>), LaneError> {
    let mut view = PermitView {
        kind: None,
        cti: None,
        rejection: None,
        message: None,
        holder_matches: false,
        presented,
        valid_from: None,
        valid_until: None,
        employer: None,
        region: None,
        issuer: None,
    };
    let decoded = match permit::decode_unverified(text) {
        Ok(decoded) => decoded,
        Err(error) => {
            let verdict_code = PermitVerdict::Invalid {
                reason: permit::PermitRejection::from(&error),
                message: error.to_string(),
            };
            view.rejection = Some(verdict_code.code().to_string());
            view.message = Some(error.to_string());
            return Ok((view, None));
        }
    };
    view.kind = Some(decoded.body.permit_type);
    // Shown even when verification fails: the officer compares the card with what it claims.
    view.employer = decoded.body.employer.clone();
    view.region = decoded.body.region.clone();
    view.issuer = Some(decoded.claims.issuer.clone());
    let keys = ledger
        .issuer_keys(&decoded.kid)
        .map_err(|error| LaneError::Ledger(error.to_string()))?;
    let trust_keys: Vec<IssuerKey> = keys.iter().map(trust_key).collect();
    // A weak key in the ledger is refused by TrustList::new; with no usable key the permit's
    // kid is simply unknown.
    let trust = TrustList::new(trust_keys).unwrap_or_else(|_| TrustList::default());
    match permit::verify(text, &trust, revocations, now, settings.permit_clock_skew) {
        PermitVerdict::Valid(verified) => {
            view.cti = Some(hex::encode(verified.claims.permit_id));
            view.valid_from = Some(verified.body.valid_from);
            view.valid_until = Some(verified.body.valid_until);
            view.holder_matches = match holder {
                Some(holder) => verified.check_holder(holder).is_ok(),
                None => false,
            };
            if !view.holder_matches {
                return Ok((view, None));
            }
            let ground = ground_of_stay(&verified.body, movements);
            Ok((view, ground))
        }
        invalid @ PermitVerdict::Invalid { .. } => {
            view.rejection = Some(invalid.code().to_string());
            if let PermitVerdict::Invalid { message, .. } = invalid {
                view.message = Some(message);
            }
            Ok((view, None))
        }
    }
}

fn ground_of_stay(body: &permit::PermitBody, movements: &[Movement]) -> Option<GroundOfStay> {
    let kind = match body.permit_type {
        PermitType::TemporaryResidence => GroundKind::TemporaryResidence,
        PermitType::PermanentResidence => GroundKind::PermanentResidence,
        PermitType::WorkPermit => GroundKind::WorkPermit,
        PermitType::RefugeeStatus => GroundKind::RefugeeStatus,
        PermitType::EvisaSingle | PermitType::EvisaMultiple => {
            let entries = if body.permit_type == PermitType::EvisaSingle {
                EVisaEntries::Single
            } else {
                EVisaEntries::Multiple
            };
            let used = entries == EVisaEntries::Single
                && movements.iter().any(|movement| {
                    movement.direction == stay::Direction::Entry
                        && body.valid_from <= movement.date
                        && movement.date <= body.valid_until
                });
            GroundKind::EVisa { entries, used }
        }
        PermitType::StayExtension => GroundKind::StayExtension {
            until: body.valid_until,
        },
        PermitType::Registration => GroundKind::PlaceOfStayRegistration {
            registered_on: body.valid_from,
        },
    };
    Some(GroundOfStay {
        kind,
        valid_from: body.valid_from,
        valid_until: body.valid_until,
    })
}

fn permit_kind(permit_type: PermitType) -> PermitKind {
    match permit_type {
        PermitType::TemporaryResidence => PermitKind::TemporaryResidence,
        PermitType::PermanentResidence => PermitKind::PermanentResidence,
        PermitType::WorkPermit => PermitKind::WorkPermit,
        PermitType::RefugeeStatus => PermitKind::RefugeeStatus,
        PermitType::EvisaSingle => PermitKind::EvisaSingle,
        PermitType::EvisaMultiple => PermitKind::EvisaMultiple,
        PermitType::StayExtension => PermitKind::StayExtension,
        PermitType::Registration => PermitKind::Registration,
    }
}

fn mrz_status(report: &MrzReport) -> MrzStatus {
    if !report.is_valid() {
        let fields = report
            .invalid_fields()
            .iter()
            .map(|field| field.as_str().to_string())
            .collect();
        MrzStatus::Invalid { fields }
    } else if report.is_repaired() {
        MrzStatus::Repaired {
            n_repairs: report.repairs.len(),
        }
    } else {
        MrzStatus::Valid
    }
}

fn stay_facts(assessment: &StayAssessment) -> StayFacts {
    StayFacts {
        days_used: assessment.days_used,
        days_remaining: assessment.days_remaining,
        overstay_days: assessment.overstay_days,
        latest_legal_exit: assessment.latest_legal_exit,
        limited: !matches!(assessment.basis, StayBasis::Residence { .. }),
        binding_rule: assessment.binding_rule.clone(),
        registration_overdue_since: assessment.registration.and_then(|r| r.overdue_since),
        resident_abroad_too_long: assessment.residence_abroad.is_some_and(|r| r.flagged),
    }
}

fn sex_letter(sex: Sex) -> String {
    match sex {
        Sex::Male => "M".into(),
        Sex::Female => "F".into(),
        Sex::X => "X".into(),
        Sex::Unspecified | Sex::Invalid(_) => "<".into(),
    }
}

impl Assessment {
    /// Adds the chip's evidence and decides again.
    pub fn with_chip(mut self, evidence: ChipEvidence) -> Self {
        self.input.chip = Some(evidence.facts.clone());
        self.verdict = decision::decide(&self.input);
        self.chip = Some(evidence);
        let shown: Vec<_> = self.permits.iter().map(permit_shown).collect();
        crate::core::officer_view::follow_verdict(
            &mut self.view,
            &crate::core::officer_view::Judged {
                decision: &self.input,
                verdict: &self.verdict,
                permits: &shown,
            },
        );
        self
    }

    /// The officer-screen JSON (`type: verdict`) documented in `docs/api.md`.
    pub fn screen_json(&self) -> Value {
        let document = self.report.document.as_ref().map(|document| {
            json!({
                "format": self.report.format.map(|format| format!("{format:?}").to_uppercase()),
                "document_code": document.document_code.value,
                "issuing_state": document.issuing_state.value,
                "nationality": document.nationality.as_ref().map(|n| n.value.clone()),
                "surname": document.name.surname.expose(),
                "given_names": document.name.given_names.expose(),
                "document_number": document.document_number.number.expose(),
                "birth_date": document.birth_date.raw,
                "sex": sex_letter(document.sex),
                "expiry_date": document.expiry_date.as_ref().map(|field| field.raw.clone()),
            })
        });
        json!({
            "type": "verdict",
            "session": self.session,
            "direction": self.input.direction,
            "date": self.input.today,
            "document": document,
            "permits": self.permits.iter().map(|view| json!({
                "kind": view.kind, "rejection": view.rejection, "message": view.message,
                "holder_matches": view.holder_matches, "presented": view.presented,
                "valid_until": view.valid_until,
            })).collect::<Vec<_>>(),
            "verdict": self.verdict,
            "stay": self.input.stay,
            "stay_explanation": self.stay.as_ref().map(|stay| stay.explanation.clone()),
            "ledger_age_s": self.ledger_age_s,
            "officer_view": self.view,
            "watchlist": self.watchlist_json(),
            "chip": self.chip.as_ref().map(|chip| json!({
                "facts": chip.facts,
                "access": chip.access,
                "record": chip.record,
                // What the face is, not the face: the console fetches it from /api/v1/face.
                "face": chip.face.as_ref().map(|face| json!({
                    "media_type": face.format.media_type(),
                    "width": face.size.map(|(width, _)| width),
                    "height": face.size.map(|(_, height)| height),
                })),
            })),
        })
    }

    /// The person-alert hits as the officer sees them: the alert's names, birth date,
    /// nationalities, sex, kind (with an entry ban's end), required action and note, the score
    /// and what matched.
    pub fn watchlist_json(&self) -> Value {
        Value::Array(
            self.watchlist
                .iter()
                .map(|hit| {
                    let alert = hit.alert.as_ref().map(|record| &record.alert);
                    json!({
                        "alert_id": hit.alert_id,
                        "score": hit.score,
                        "matched": hit.matched,
                        "names": alert.map(|a| a.names.iter().map(|name| json!({
                            "surname": name.surname, "given_names": name.given_names,
                            "original": name.original.as_ref().map(|o| json!({
                                "surname": o.surname, "given_names": o.given_names,
                            })),
                        })).collect::<Vec<_>>()),
                        "birth_date": alert.and_then(|a| a.birth_date.clone()),
                        "nationalities": alert.map(|a| a.nationalities.clone()),
                        "sex": alert.and_then(|a| a.sex),
                        "kind": alert.map(|a| a.kind),
                        "until": alert.and_then(|a| a.until),
                        "action": alert.map(|a| a.action.clone()),
                        "note": alert.map(|a| a.note.clone()),
                    })
                })
                .collect(),
        )
    }

    /// The crossing to record for this assessment, once confirmed. `None` when the document could
    /// not be read well enough to identify it (nothing can be recorded without a document key).
    pub fn crossing_for(
        &self,
        settings: &LaneSettings,
        admitted: bool,
        operator: Operator,
        extra_codes: &[&str],
        watchlist: Option<event::WatchlistReview>,
    ) -> Option<Crossing> {
        let document = self.report.document.as_ref()?;
        self.report.document_key()?;
        let direction = match (settings.direction, admitted) {
            (decision::Direction::Entry, true) => event::CrossingKind::Entry,
            (decision::Direction::Entry, false) => event::CrossingKind::RefusedEntry,
            (decision::Direction::Exit, _) => event::CrossingKind::Exit,
        };
        let verdict = self.verdict.outcome;
        let permit_cti = self
            .permits
            .iter()
            .find(|view| {
                view.rejection.is_none()
                    && view.holder_matches
                    && view.cti.is_some()
                    && !matches!(
                        view.kind,
                        Some(PermitType::EvisaSingle | PermitType::EvisaMultiple)
                    )
            })
            .and_then(|view| view.cti.clone());
        let evisa = self
            .permits
            .iter()
            .find(|view| {
                view.rejection.is_none()
                    && view.holder_matches
                    && matches!(
                        view.kind,
                        Some(PermitType::EvisaSingle | PermitType::EvisaMultiple)
                    )
            })
            .and_then(|view| view.cti.clone());
        let mut reason_codes: Vec<String> = self
            .verdict
            .reasons
            .iter()
            .map(|reason| reason.code.as_str().to_string())
            .collect();
        reason_codes.extend(extra_codes.iter().map(|code| (*code).to_string()));
        Some(Crossing {
            checkpoint: settings.checkpoint.clone(),
            lane: settings.lane.clone(),
            direction,
            traveller: Traveller {
                document_type: document.document_code.value.clone(),
                issuing_state: document.issuing_state.value.clone(),
                nationality: document
                    .nationality
                    .as_ref()
                    .map(|n| n.value.clone())
                    .unwrap_or_default(),
                birth_date: document.birth_date.raw.clone(),
                sex: sex_letter(document.sex),
                document_number: document.document_number.number.clone(),
            },
            grounds: event::Grounds { permit_cti, evisa },
            verdict,
            reason_codes,
            operator,
            ledger_age_s: self.ledger_age_s,
            stay: self.input.stay.as_ref().map(|stay| event::StayFigures {
                days_used: stay.days_used,
                latest_legal_exit: stay.latest_legal_exit,
                overstay_days: stay.overstay_days,
            }),
            clock_sync_age_s: None,
            officer_override: None,
            referral: None,
            second_line: None,
            alert_acknowledged: None,
            watchlist,
            chip: self.chip.as_ref().and_then(|chip| chip.record.clone()),
        })
    }
}

#[cfg(test)]
mod view_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stopped_replication_makes_the_ledger_stale_after_the_limit() {
        let t = |s| Timestamp::from_second(s).expect("in range");
        let limit = SignedDuration::from_hours(24);
        let day = 86_400;
        let checkpoint = Some(t(10 * day));
        let running = ReplicationState::Running;
        assert_eq!(
            ledger_freshness(checkpoint, &running, t(10 * day + 60), limit),
            (Some(SignedDuration::from_secs(60)), false)
        );
        assert!(ledger_freshness(checkpoint, &running, t(11 * day + 1), limit).1);
        assert!(ledger_freshness(None, &running, t(10 * day), limit).1);
        // Central checkpoints a minute before the replica stopped: fresh within the limit,
        // stale once the replica has been stopped longer than it, whatever the checkpoint's
        // time says (here a checkpoint stamped in the future by a skewed central).
        let stopped = ReplicationState::Stopped {
            reason: "the ledger forked".into(),
            since: t(10 * day),
        };
        let skewed = Some(t(12 * day));
        assert!(!ledger_freshness(skewed, &stopped, t(10 * day + 60), limit).1);
        assert!(ledger_freshness(skewed, &stopped, t(11 * day + 1), limit).1);
        assert!(!ledger_freshness(skewed, &running, t(11 * day + 1), limit).1);
        assert_eq!(stopped.to_string(), "stopped: the ledger forked");
    }
}
