//! Lane decisions: admit, refer to an officer or refuse, with stable reason codes.
//!
//! `decide` is a pure function of what the lane knows about one traveller — the facts drawn from
//! the documents, the ledger, the movement history and the stay engine — plus the lane's direction
//! and mode. The caller gathers those facts (`runtime`); this module only weighs them, so every
//! rule here is table-tested without a device, a store or a clock.
//!
//! Outcomes are ordered: a reason that refuses outweighs one that refers, which outweighs a note.
//! A kiosk never refuses on its own: anything that is not a clear admit is referred to an officer.

use std::fmt::Write as _;

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use super::document::DocumentKey;

/// Which way a traveller crosses: at a lane, in a stay's movements, in the configuration. The
/// one direction type of the core (`core::stay` uses it too).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Into the territory.
    Entry,
    /// Out of the territory.
    Exit,
}

/// Who acts on the verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LaneMode {
    /// An officer sees the verdict and confirms or overrides it.
    Officer,
    /// An unattended kiosk: it admits only a clear case and refers everything else.
    Kiosk,
}

/// What the verdict tells the lane to do; the one verdict type of the core, recorded as is in
/// the crossing event (`core::event::Verdict` names it there).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The traveller may cross.
    Admit,
    /// An officer must look at this traveller before anything is recorded.
    Refer,
    /// The traveller may not cross (entry refused).
    Refuse,
}

/// How the reading of the machine-readable zone went.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum MrzStatus {
    /// Every check digit verified and every field is well formed.
    Valid,
    /// Valid only after check-digit-guided OCR repair: a person must compare with the document.
    Repaired {
        /// How many characters were repaired.
        n_repairs: usize,
    },
    /// The zone failed validation.
    Invalid {
        /// The fields that failed (`document_number`, `composite`, …).
        fields: Vec<String>,
    },
}

/// Expiry of the presented document as the MRZ states it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "date")]
pub enum DocumentExpiry {
    /// Valid up to and including this date.
    On(Date),
    /// A lifetime document (e.g. an Azerbaijani ID card printed with `<<<<<<`).
    Never,
    /// The expiry could not be read or its century is ambiguous.
    Unknown,
}

/// The traveller's main document, as the decision needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocumentFacts {
    /// Identity of the document.
    pub key: DocumentKey,
    /// Nationality code from the MRZ.
    pub nationality: String,
    /// Result of MRZ validation.
    pub mrz: MrzStatus,
    /// Document expiry.
    pub expiry: DocumentExpiry,
}

/// An alert held in the ledger against the document or its holder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum AlertFacts {
    /// Entry ban until (and including) a date, or without end.
    EntryBan {
        /// Last day of the ban; `None` for an open-ended ban.
        until: Option<Date>,
    },
    /// Document reported lost.
    Lost,
    /// Document reported stolen.
    Stolen,
    /// Document invalidated by its issuer.
    Invalidated,
}

/// What kind of permission a permit card grants, for grounds of stay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PermitKind {
    /// Temporary residence permit.
    TemporaryResidence,
    /// Permanent residence permit.
    PermanentResidence,
    /// Work permit (paired with temporary residence).
    WorkPermit,
    /// Refugee status.
    RefugeeStatus,
    /// Single-entry e-visa.
    EvisaSingle,
    /// Multiple-entry e-visa.
    EvisaMultiple,
    /// Approved stay extension.
    StayExtension,
    /// Registration at a place of stay.
    Registration,
}

impl PermitKind {
    /// Whether this kind of permit is by itself a ground to enter and stay.
    pub fn is_ground_of_stay(self) -> bool {
        !matches!(self, Self::Registration | Self::StayExtension)
    }
}

/// A permit card presented with the passport (or found in the ledger for it), already verified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermitFacts {
    /// Permit type.
    pub kind: PermitKind,
    /// Verification result: `None` when valid, else the permit layer's stable reason code.
    pub rejection: Option<String>,
    /// Whether the holder binding matched the presented passport.
    pub holder_matches: bool,
    /// For a single-entry e-visa: whether it was already used for an entry.
    pub already_used: bool,
}

/// Figures from the stay engine at the check date.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StayFacts {
    /// Days counted so far under the binding rule.
    pub days_used: u32,
    /// Days left under the binding rule.
    pub days_remaining: u32,
    /// Days over the limit.
    pub overstay_days: u32,
    /// Last date the traveller may stay; `None` when the limit is already exceeded or there is none.
    pub latest_legal_exit: Option<Date>,
    /// Whether any limit applies at all (a residence permit removes it).
    pub limited: bool,
    /// The rule that bound, for the explanation.
    pub binding_rule: Option<String>,
    /// Registration at the place of stay is overdue since this date.
    pub registration_overdue_since: Option<Date>,
    /// A residence-permit holder was abroad too long (permit liable to cancellation).
    pub resident_abroad_too_long: bool,
}

/// What the document's chip showed, as the lane weighed it (`core::chip_evidence`); absent when
/// the lane has no chip reader.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ChipFacts {
    /// Passive authentication verified, DG1 equals the printed MRZ, and active authentication
    /// (when the chip has DG15) verified.
    Authentic,
    /// The chip's data is not what its issuing state signed (the PA error codes).
    PassiveAuthFailed {
        /// The passive-authentication error codes.
        errors: Vec<String>,
    },
    /// Passive authentication vouched for DG15 but the chip does not hold its key.
    CloneSuspected,
    /// The chip's DG1 is not the printed MRZ.
    Dg1Differs,
    /// The document signer chains to no CSCA the ledger holds, or a certificate has expired.
    CscaUnknown {
        /// The passive-authentication error codes.
        errors: Vec<String>,
    },
    /// A chip answered but could not be read (access control, secure messaging, lost field).
    Unreadable {
        /// Why, in one sentence.
        why: String,
    },
    /// The document should hold a chip but none answered in the field.
    Missing,
    /// No chip answered, and the document is not one that must hold one.
    NoChip,
}

/// Everything `decide` weighs for one traveller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecisionInput {
    /// The lane's direction.
    pub direction: Direction,
    /// Officer or kiosk.
    pub mode: LaneMode,
    /// The check date in the checkpoint's time zone.
    pub today: Date,
    /// The main document.
    pub document: DocumentFacts,
    /// Alerts against the document or holder (only active ones).
    pub alerts: Vec<AlertFacts>,
    /// Permits presented or held in the ledger for this holder.
    pub permits: Vec<PermitFacts>,
    /// Whether the nationality is on the visa-free list.
    pub visa_free: bool,
    /// Stay figures; `None` when the stay engine could not run (e.g. unreadable document).
    pub stay: Option<StayFacts>,
    /// The ledger's latest verified checkpoint is older than the configured limit.
    pub ledger_stale: bool,
    /// The clock jumped backwards or has not been synchronised recently.
    pub clock_untrusted: bool,
    /// Person alerts the traveller's name, birth date, nationality and sex match at or above
    /// the configured threshold (a fuzzy match: never a refusal by itself).
    pub watchlist_hits: usize,
    /// What the document's chip showed; `None` when the lane has no chip reader.
    pub chip: Option<ChipFacts>,
}

/// A stable reason code: part of the API and of the event feed, never renamed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    /// The MRZ failed validation.
    MrzInvalid,
    /// The MRZ was valid only after OCR repair.
    MrzRepaired,
    /// The document has expired (entry).
    DocumentExpired,
    /// The document has expired, noted at exit.
    DocumentExpiredAtExit,
    /// The document's expiry could not be established.
    DocumentExpiryUnknown,
    /// An entry ban is in force.
    EntryBan,
    /// The document is reported lost.
    DocumentLost,
    /// The document is reported stolen.
    DocumentStolen,
    /// The document was invalidated by its issuer.
    DocumentInvalidated,
    /// A presented permit card failed verification (forged, revoked, expired …).
    PermitInvalid,
    /// A permit's holder binding does not match the passport.
    PermitHolderMismatch,
    /// A single-entry e-visa was already used.
    EvisaAlreadyUsed,
    /// Entry on a valid residence, work or refugee permit.
    GroundsPermit,
    /// Entry on a valid e-visa.
    GroundsEvisa,
    /// Entry as a national of a visa-free country.
    GroundsVisaFree,
    /// No ground of stay: no permit, no e-visa, not visa-free.
    NoGroundsOfStay,
    /// At entry: no day of stay is left under the stay rules.
    StayLimitReached,
    /// At entry: the traveller may stay until the date given.
    MayStayUntil,
    /// At exit: the traveller overstayed.
    Overstay,
    /// At exit: registration at the place of stay is overdue.
    RegistrationOverdue,
    /// A residence-permit holder was abroad more than allowed.
    ResidentAbroadTooLong,
    /// The ledger replica is older than allowed.
    LedgerStale,
    /// The terminal clock is not trusted.
    ClockUntrusted,
    /// The traveller may be the person of a person alert: an officer compares and confirms or
    /// dismisses the hit.
    WatchlistPossibleMatch,
    /// The chip verified: passive and active authentication, DG1 equals the printed MRZ.
    ChipAuthentic,
    /// The chip's passive authentication failed.
    ChipPassiveAuthFailed,
    /// The chip failed active authentication: a cloned chip is suspected.
    ChipCloneSuspected,
    /// The chip's DG1 differs from the printed MRZ.
    ChipDg1Differs,
    /// The chip's signer chains to no known CSCA, or a certificate has expired.
    ChipCscaUnknown,
    /// A chip answered but could not be read.
    ChipUnreadable,
    /// The document should hold a chip but none answered.
    ChipMissing,
    /// The document holds no chip.
    NoChip,
}

impl ReasonCode {
    /// The code as a stable snake_case string (`mrz_invalid`, `entry_ban`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MrzInvalid => "mrz_invalid",
            Self::MrzRepaired => "mrz_repaired",
            Self::DocumentExpired => "document_expired",
            Self::DocumentExpiredAtExit => "document_expired_at_exit",
            Self::DocumentExpiryUnknown => "document_expiry_unknown",
            Self::EntryBan => "entry_ban",
            Self::DocumentLost => "document_lost",
            Self::DocumentStolen => "document_stolen",
            Self::DocumentInvalidated => "document_invalidated",
            Self::PermitInvalid => "permit_invalid",
            Self::PermitHolderMismatch => "permit_holder_mismatch",
            Self::EvisaAlreadyUsed => "evisa_already_used",
            Self::GroundsPermit => "grounds_permit",
            Self::GroundsEvisa => "grounds_evisa",
            Self::GroundsVisaFree => "grounds_visa_free",
            Self::NoGroundsOfStay => "no_grounds_of_stay",
            Self::StayLimitReached => "stay_limit_reached",
            Self::MayStayUntil => "may_stay_until",
            Self::Overstay => "overstay",
            Self::RegistrationOverdue => "registration_overdue",
            Self::ResidentAbroadTooLong => "resident_abroad_too_long",
            Self::LedgerStale => "ledger_stale",
            Self::ClockUntrusted => "clock_untrusted",
            Self::WatchlistPossibleMatch => "watchlist_possible_match",
            Self::ChipAuthentic => "chip_authentic",
            Self::ChipPassiveAuthFailed => "chip_passive_auth_failed",
            Self::ChipCloneSuspected => "chip_clone_suspected",
            Self::ChipDg1Differs => "chip_dg1_differs",
            Self::ChipCscaUnknown => "chip_csca_unknown",
            Self::ChipUnreadable => "chip_unreadable",
            Self::ChipMissing => "chip_missing",
            Self::NoChip => "no_chip",
        }
    }
}

/// One reason behind a verdict: a stable code, the outcome it calls for, and a sentence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    /// Stable machine code.
    pub code: ReasonCode,
    /// What this reason alone calls for (`Admit` for a note that changes nothing).
    pub outcome: Outcome,
    /// A sentence for the officer.
    pub message: String,
}

/// The grounds on which the traveller enters or stays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "permit")]
pub enum Grounds {
    /// A valid permit of this kind.
    Permit(PermitKind),
    /// A valid e-visa.
    Evisa(PermitKind),
    /// Visa-free nationality.
    VisaFree,
}

/// The decision for one traveller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// What the lane should do.
    pub outcome: Outcome,
    /// Every reason, in the order the rules were weighed.
    pub reasons: Vec<Reason>,
    /// Grounds of stay found (entry) or held (exit).
    pub grounds: Option<Grounds>,
    /// A lost, stolen or invalidated document was presented: raise an alert event.
    pub raise_alert: bool,
    /// The explanation for the officer: one line per reason.
    pub explanation: String,
}

impl Verdict {
    /// The reason codes, in order.
    pub fn codes(&self) -> Vec<ReasonCode> {
        self.reasons.iter().map(|reason| reason.code).collect()
    }
}

/// Weighs the facts about one traveller and returns the verdict.
pub fn decide(input: &DecisionInput) -> Verdict {
    let mut reasons = Vec::new();
    let mut raise_alert = false;
    document_reasons(input, &mut reasons);
    chip_reason(input, &mut reasons);
    for alert in &input.alerts {
        raise_alert |= alert_reason(input, *alert, &mut reasons);
    }
    let grounds = grounds_reasons(input, &mut reasons);
    stay_reasons(input, grounds, &mut reasons);
    watchlist_reason(input, &mut reasons);
    terminal_reasons(input, &mut reasons);

    let strongest = reasons
        .iter()
        .map(|reason| reason.outcome)
        .max()
        .unwrap_or(Outcome::Admit);
    let outcome = match (input.mode, strongest) {
        // A kiosk cannot refuse a person: an officer does that.
        (LaneMode::Kiosk, Outcome::Refuse) => Outcome::Refer,
        // Exit is never refused by the terminal; an officer handles whatever blocks it.
        (_, Outcome::Refuse) if input.direction == Direction::Exit => Outcome::Refer,
        (_, outcome) => outcome,
    };
    let mut explanation = String::new();
    for reason in &reasons {
        let _ = writeln!(explanation, "{}: {}", reason.code.as_str(), reason.message);
    }
    Verdict {
        outcome,
        reasons,
        grounds,
        raise_alert,
        explanation,
    }
}

fn push(reasons: &mut Vec<Reason>, code: ReasonCode, outcome: Outcome, message: String) {
    reasons.push(Reason {
        code,
        outcome,
        message,
    });
}

fn document_reasons(input: &DecisionInput, reasons: &mut Vec<Reason>) {
    match &input.document.mrz {
        MrzStatus::Valid => {}
        MrzStatus::Repaired { n_repairs } => push(
            reasons,
            ReasonCode::MrzRepaired,
            Outcome::Refer,
            format!(
                "MRZ read only after repairing {n_repairs} character(s): compare with the document"
            ),
        ),
        MrzStatus::Invalid { fields } => push(
            reasons,
            ReasonCode::MrzInvalid,
            Outcome::Refer,
            format!(
                "MRZ failed validation ({}): rescan or check by hand",
                fields.join(", ")
            ),
        ),
    }
    match (input.document.expiry, input.direction) {
        (DocumentExpiry::On(expiry), Direction::Entry) if expiry < input.today => push(
            reasons,
            ReasonCode::DocumentExpired,
            Outcome::Refuse,
            format!("document expired on {expiry}"),
        ),
        (DocumentExpiry::On(expiry), Direction::Exit) if expiry < input.today => push(
            reasons,
            ReasonCode::DocumentExpiredAtExit,
            Outcome::Admit,
            format!("document expired on {expiry}; exit allowed, flagged"),
        ),
        (DocumentExpiry::Unknown, _) if input.document.mrz == MrzStatus::Valid => push(
            reasons,
            ReasonCode::DocumentExpiryUnknown,
            Outcome::Refer,
            "document expiry could not be established".to_string(),
        ),
        _ => {}
    }
}

/// The chip's reason. A kiosk refers whatever is not `chip_authentic`.
fn chip_reason(input: &DecisionInput, reasons: &mut Vec<Reason>) {
    let Some(chip) = &input.chip else { return };
    let (code, outcome, message) = match chip {
        ChipFacts::Authentic => (
            ReasonCode::ChipAuthentic,
            Outcome::Admit,
            "chip authentic: signed by its issuing state, matches the printed MRZ".to_string(),
        ),
        ChipFacts::PassiveAuthFailed { errors } => (
            ReasonCode::ChipPassiveAuthFailed,
            Outcome::Refuse,
            format!(
                "chip data is not what its issuing state signed ({}): forged or altered",
                errors.join(", ")
            ),
        ),
        ChipFacts::CloneSuspected => (
            ReasonCode::ChipCloneSuspected,
            Outcome::Refuse,
            "chip failed active authentication: cloned chip suspected".to_string(),
        ),
        ChipFacts::Dg1Differs => (
            ReasonCode::ChipDg1Differs,
            Outcome::Refuse,
            "the chip's MRZ differs from the printed MRZ: altered document".to_string(),
        ),
        ChipFacts::CscaUnknown { errors } => (
            ReasonCode::ChipCscaUnknown,
            Outcome::Refer,
            format!(
                "chip signer not trusted ({}): CSCA unknown or expired, check the document by hand",
                errors.join(", ")
            ),
        ),
        ChipFacts::Unreadable { why } => (
            ReasonCode::ChipUnreadable,
            Outcome::Refer,
            format!("chip could not be read ({why}): damaged or swapped chip?"),
        ),
        ChipFacts::Missing => (
            ReasonCode::ChipMissing,
            Outcome::Refer,
            "no chip answered although the document should hold one: damaged or swapped chip?"
                .to_string(),
        ),
        ChipFacts::NoChip => (
            ReasonCode::NoChip,
            Outcome::Admit,
            "the document holds no chip".to_string(),
        ),
    };
    let outcome = match (input.mode, code) {
        (LaneMode::Kiosk, ReasonCode::ChipAuthentic) => outcome,
        (LaneMode::Kiosk, _) => outcome.max(Outcome::Refer),
        (LaneMode::Officer, _) => outcome,
    };
    push(reasons, code, outcome, message);
}

/// Adds the reason for one alert; returns whether an alert event must be raised.
fn alert_reason(input: &DecisionInput, alert: AlertFacts, reasons: &mut Vec<Reason>) -> bool {
    match alert {
        AlertFacts::EntryBan { until } => {
            let in_force = until.is_none_or(|until| input.today <= until);
            if in_force && input.direction == Direction::Entry {
                let message = match until {
                    Some(until) => format!("entry ban in force until {until}"),
                    None => "entry ban in force without end date".to_string(),
                };
                push(reasons, ReasonCode::EntryBan, Outcome::Refuse, message);
            }
            false
        }
        AlertFacts::Lost => {
            let message = "document reported lost: hold the document, alert raised".to_string();
            push(reasons, ReasonCode::DocumentLost, Outcome::Refer, message);
            true
        }
        AlertFacts::Stolen => {
            let message = "document reported stolen: hold the document, alert raised".to_string();
            push(reasons, ReasonCode::DocumentStolen, Outcome::Refer, message);
            true
        }
        AlertFacts::Invalidated => {
            let message = "document invalidated by its issuer: alert raised".to_string();
            push(
                reasons,
                ReasonCode::DocumentInvalidated,
                Outcome::Refer,
                message,
            );
            true
        }
    }
}

fn grounds_reasons(input: &DecisionInput, reasons: &mut Vec<Reason>) -> Option<Grounds> {
    let mut grounds = None;
    for permit in &input.permits {
        if let Some(rejection) = &permit.rejection {
            push(
                reasons,
                ReasonCode::PermitInvalid,
                Outcome::Refer,
                format!("permit card rejected: {rejection}"),
            );
            continue;
        }
        if !permit.holder_matches {
            push(
                reasons,
                ReasonCode::PermitHolderMismatch,
                Outcome::Refer,
                "permit card belongs to another document or holder".to_string(),
            );
            continue;
        }
        let is_evisa = matches!(
            permit.kind,
            PermitKind::EvisaSingle | PermitKind::EvisaMultiple
        );
        if is_evisa && permit.already_used && input.direction == Direction::Entry {
            push(
                reasons,
                ReasonCode::EvisaAlreadyUsed,
                Outcome::Refer,
                "single-entry e-visa already used".to_string(),
            );
            continue;
        }
        if !permit.kind.is_ground_of_stay() {
            continue;
        }
        let candidate = if is_evisa {
            Grounds::Evisa(permit.kind)
        } else {
            Grounds::Permit(permit.kind)
        };
        // A residence permit outranks an e-visa: it lifts the stay limit.
        if grounds.is_none() || matches!(grounds, Some(Grounds::Evisa(_))) && !is_evisa {
            grounds = Some(candidate);
        }
    }
    if grounds.is_none() && input.visa_free {
        grounds = Some(Grounds::VisaFree);
    }
    match grounds {
        Some(Grounds::Permit(kind)) => push(
            reasons,
            ReasonCode::GroundsPermit,
            Outcome::Admit,
            format!("valid permit: {}", permit_kind_label(kind)),
        ),
        Some(Grounds::Evisa(kind)) => push(
            reasons,
            ReasonCode::GroundsEvisa,
            Outcome::Admit,
            format!("valid {}", permit_kind_label(kind)),
        ),
        Some(Grounds::VisaFree) => push(
            reasons,
            ReasonCode::GroundsVisaFree,
            Outcome::Admit,
            format!("visa-free nationality {}", input.document.nationality),
        ),
        None if input.direction == Direction::Entry => push(
            reasons,
            ReasonCode::NoGroundsOfStay,
            Outcome::Refuse,
            "no permit, no valid e-visa and not a visa-free nationality".to_string(),
        ),
        None => {}
    }
    grounds
}

fn permit_kind_label(kind: PermitKind) -> &'static str {
    match kind {
        PermitKind::TemporaryResidence => "temporary residence permit",
        PermitKind::PermanentResidence => "permanent residence permit",
        PermitKind::WorkPermit => "work permit",
        PermitKind::RefugeeStatus => "refugee status",
        PermitKind::EvisaSingle => "single-entry e-visa",
        PermitKind::EvisaMultiple => "multiple-entry e-visa",
        PermitKind::StayExtension => "stay extension",
        PermitKind::Registration => "place-of-stay registration",
    }
}

fn stay_reasons(input: &DecisionInput, grounds: Option<Grounds>, reasons: &mut Vec<Reason>) {
    let Some(stay) = &input.stay else { return };
    let rule = stay.binding_rule.as_deref().unwrap_or("stay rule");
    if stay.resident_abroad_too_long {
        push(
            reasons,
            ReasonCode::ResidentAbroadTooLong,
            Outcome::Refer,
            "residence-permit holder abroad more than 90 days in 180: permit liable to cancellation"
                .to_string(),
        );
    }
    match input.direction {
        Direction::Entry if stay.limited && grounds.is_some() => match stay.latest_legal_exit {
            Some(until) if stay.days_remaining > 0 || until >= input.today => push(
                reasons,
                ReasonCode::MayStayUntil,
                Outcome::Admit,
                format!(
                    "may stay until {until} ({rule}; {} day(s) used)",
                    stay.days_used
                ),
            ),
            _ => push(
                reasons,
                ReasonCode::StayLimitReached,
                Outcome::Refuse,
                format!(
                    "no day of stay left ({rule}; {} day(s) used)",
                    stay.days_used
                ),
            ),
        },
        Direction::Entry => {}
        Direction::Exit => {
            if stay.overstay_days > 0 {
                push(
                    reasons,
                    ReasonCode::Overstay,
                    Outcome::Refer,
                    format!("overstayed by {} day(s) ({rule})", stay.overstay_days),
                );
            }
            if let Some(since) = stay.registration_overdue_since {
                push(
                    reasons,
                    ReasonCode::RegistrationOverdue,
                    Outcome::Refer,
                    format!("registration at the place of stay overdue since {since}"),
                );
            }
        }
    }
}

/// A name match is not proof: it refers, in either direction and at any lane, and only an
/// officer's confirmation turns it into a refusal.
fn watchlist_reason(input: &DecisionInput, reasons: &mut Vec<Reason>) {
    if input.watchlist_hits > 0 {
        push(
            reasons,
            ReasonCode::WatchlistPossibleMatch,
            Outcome::Refer,
            format!(
                "possible match with {} person alert(s): compare the traveller with the alert and confirm or dismiss the hit",
                input.watchlist_hits
            ),
        );
    }
}

fn terminal_reasons(input: &DecisionInput, reasons: &mut Vec<Reason>) {
    // An officer can judge with a stale ledger or a doubtful clock; a kiosk must not.
    let outcome = match input.mode {
        LaneMode::Officer => Outcome::Admit,
        LaneMode::Kiosk => Outcome::Refer,
    };
    if input.ledger_stale {
        let message = "permit ledger is older than allowed: permits and alerts may be out of date";
        push(
            reasons,
            ReasonCode::LedgerStale,
            outcome,
            message.to_string(),
        );
    }
    if input.clock_untrusted {
        let message = "terminal clock is not trusted: dates and stay counts may be wrong";
        push(
            reasons,
            ReasonCode::ClockUntrusted,
            outcome,
            message.to_string(),
        );
    }
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;
    use crate::core::privacy::DocumentNumber;

    fn base(direction: Direction) -> DecisionInput {
        DecisionInput {
            direction,
            mode: LaneMode::Officer,
            today: date(2026, 11, 23),
            document: DocumentFacts {
                key: DocumentKey {
                    issuing_state: "GEO".into(),
                    document_code: "P".into(),
                    number: DocumentNumber::new("12AB34567"),
                },
                nationality: "GEO".into(),
                mrz: MrzStatus::Valid,
                expiry: DocumentExpiry::On(date(2030, 1, 1)),
            },
            alerts: vec![],
            permits: vec![],
            visa_free: true,
            stay: Some(StayFacts {
                days_used: 1,
                days_remaining: 89,
                overstay_days: 0,
                latest_legal_exit: Some(date(2027, 2, 20)),
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

    #[test]
    fn a_watchlist_hit_refers_and_never_refuses_by_itself() {
        for direction in [Direction::Entry, Direction::Exit] {
            for mode in [LaneMode::Officer, LaneMode::Kiosk] {
                let mut input = base(direction);
                input.mode = mode;
                input.watchlist_hits = 2;
                let verdict = decide(&input);
                assert_eq!(verdict.outcome, Outcome::Refer, "{direction:?} {mode:?}");
                assert!(
                    verdict
                        .codes()
                        .contains(&ReasonCode::WatchlistPossibleMatch),
                    "{:?}",
                    verdict.codes()
                );
            }
        }
        assert_eq!(decide(&base(Direction::Entry)).outcome, Outcome::Admit);
    }

    fn permit(kind: PermitKind) -> PermitFacts {
        PermitFacts {
            kind,
            rejection: None,
            holder_matches: true,
            already_used: false,
        }
    }

    /// One row: a name, how to change the base input, the expected outcome and reason codes.
    type Row = (
        &'static str,
        Direction,
        fn(&mut DecisionInput),
        Outcome,
        &'static [ReasonCode],
    );

    #[test]
    fn chip_table() {
        use ChipFacts as C;
        use Outcome::*;
        use ReasonCode as R;
        let errors = || vec!["dg_hash_mismatch".to_string()];
        let rows = [
            (C::Authentic, LaneMode::Officer, Admit, R::ChipAuthentic),
            (C::Authentic, LaneMode::Kiosk, Admit, R::ChipAuthentic),
            (
                C::PassiveAuthFailed { errors: errors() },
                LaneMode::Officer,
                Refuse,
                R::ChipPassiveAuthFailed,
            ),
            (
                C::PassiveAuthFailed { errors: errors() },
                LaneMode::Kiosk,
                Refer,
                R::ChipPassiveAuthFailed,
            ),
            (
                C::CloneSuspected,
                LaneMode::Officer,
                Refuse,
                R::ChipCloneSuspected,
            ),
            (C::Dg1Differs, LaneMode::Officer, Refuse, R::ChipDg1Differs),
            (
                C::CscaUnknown { errors: errors() },
                LaneMode::Officer,
                Refer,
                R::ChipCscaUnknown,
            ),
            (
                C::Unreadable { why: "x".into() },
                LaneMode::Officer,
                Refer,
                R::ChipUnreadable,
            ),
            (C::Missing, LaneMode::Officer, Refer, R::ChipMissing),
            (C::NoChip, LaneMode::Officer, Admit, R::NoChip),
            (C::NoChip, LaneMode::Kiosk, Refer, R::NoChip),
        ];
        for (chip, mode, outcome, code) in rows {
            let mut input = base(Direction::Entry);
            input.mode = mode;
            input.chip = Some(chip.clone());
            let verdict = decide(&input);
            assert_eq!(verdict.outcome, outcome, "{chip:?} {mode:?}");
            assert_eq!(verdict.reasons[0].code, code, "{chip:?}");
        }
        // Exit is never refused by the terminal, whatever the chip.
        let mut exit = base(Direction::Exit);
        exit.chip = Some(C::CloneSuspected);
        assert_eq!(decide(&exit).outcome, Refer);
        let codes = [
            (R::ChipAuthentic, "chip_authentic"),
            (R::ChipPassiveAuthFailed, "chip_passive_auth_failed"),
            (R::ChipCloneSuspected, "chip_clone_suspected"),
            (R::ChipDg1Differs, "chip_dg1_differs"),
            (R::ChipCscaUnknown, "chip_csca_unknown"),
            (R::ChipUnreadable, "chip_unreadable"),
            (R::ChipMissing, "chip_missing"),
            (R::NoChip, "no_chip"),
        ];
        for (code, text) in codes {
            assert_eq!(code.as_str(), text);
            assert_eq!(serde_json::to_value(code).expect("json"), text);
        }
    }

    #[test]
    fn decision_table() {
        use Outcome::*;
        use ReasonCode as R;
        #[rustfmt::skip]
        let rows: &[Row] = &[
            ("visa-free entry", Direction::Entry, |_| {}, Admit, &[R::GroundsVisaFree, R::MayStayUntil]),
            ("visa-free exit", Direction::Exit, |_| {}, Admit, &[R::GroundsVisaFree]),
            ("invalid mrz", Direction::Entry, |i| i.document.mrz = MrzStatus::Invalid { fields: vec!["composite".into()] }, Refer, &[R::MrzInvalid, R::GroundsVisaFree, R::MayStayUntil]),
            ("repaired mrz", Direction::Entry, |i| i.document.mrz = MrzStatus::Repaired { n_repairs: 1 }, Refer, &[R::MrzRepaired, R::GroundsVisaFree, R::MayStayUntil]),
            ("expired at entry", Direction::Entry, |i| i.document.expiry = DocumentExpiry::On(date(2026, 11, 22)), Refuse, &[R::DocumentExpired, R::GroundsVisaFree, R::MayStayUntil]),
            ("expires today: still valid", Direction::Entry, |i| i.document.expiry = DocumentExpiry::On(date(2026, 11, 23)), Admit, &[R::GroundsVisaFree, R::MayStayUntil]),
            ("expired at exit", Direction::Exit, |i| i.document.expiry = DocumentExpiry::On(date(2026, 1, 1)), Admit, &[R::DocumentExpiredAtExit, R::GroundsVisaFree]),
            ("lifetime id", Direction::Entry, |i| i.document.expiry = DocumentExpiry::Never, Admit, &[R::GroundsVisaFree, R::MayStayUntil]),
            ("entry ban", Direction::Entry, |i| i.alerts = vec![AlertFacts::EntryBan { until: Some(date(2027, 1, 1)) }], Refuse, &[R::EntryBan, R::GroundsVisaFree, R::MayStayUntil]),
            ("ban ended yesterday", Direction::Entry, |i| i.alerts = vec![AlertFacts::EntryBan { until: Some(date(2026, 11, 22)) }], Admit, &[R::GroundsVisaFree, R::MayStayUntil]),
            ("ban does not stop exit", Direction::Exit, |i| i.alerts = vec![AlertFacts::EntryBan { until: None }], Admit, &[R::GroundsVisaFree]),
            ("stolen document", Direction::Entry, |i| i.alerts = vec![AlertFacts::Stolen], Refer, &[R::DocumentStolen, R::GroundsVisaFree, R::MayStayUntil]),
            ("no grounds", Direction::Entry, |i| i.visa_free = false, Refuse, &[R::NoGroundsOfStay]),
            ("residence permit", Direction::Entry, |i| { i.visa_free = false; i.permits = vec![permit(PermitKind::TemporaryResidence)]; if let Some(s) = i.stay.as_mut() { s.limited = false; } }, Admit, &[R::GroundsPermit]),
            ("forged permit, visa-free", Direction::Entry, |i| i.permits = vec![PermitFacts { rejection: Some("bad_signature".into()), ..permit(PermitKind::WorkPermit) }], Refer, &[R::PermitInvalid, R::GroundsVisaFree, R::MayStayUntil]),
            ("someone else's permit", Direction::Entry, |i| { i.visa_free = false; i.permits = vec![PermitFacts { holder_matches: false, ..permit(PermitKind::TemporaryResidence) }]; }, Refuse, &[R::PermitHolderMismatch, R::NoGroundsOfStay]),
            ("e-visa", Direction::Entry, |i| { i.visa_free = false; i.permits = vec![permit(PermitKind::EvisaSingle)]; }, Admit, &[R::GroundsEvisa, R::MayStayUntil]),
            ("used single e-visa", Direction::Entry, |i| { i.visa_free = false; i.permits = vec![PermitFacts { already_used: true, ..permit(PermitKind::EvisaSingle) }]; }, Refuse, &[R::EvisaAlreadyUsed, R::NoGroundsOfStay]),
            ("stay limit reached", Direction::Entry, |i| { let s = i.stay.as_mut().expect("base has stay"); s.days_remaining = 0; s.latest_legal_exit = None; s.days_used = 90; }, Refuse, &[R::GroundsVisaFree, R::StayLimitReached]),
            ("overstayer leaving", Direction::Exit, |i| { let s = i.stay.as_mut().expect("base has stay"); s.overstay_days = 12; }, Refer, &[R::GroundsVisaFree, R::Overstay]),
            ("registration overdue at exit", Direction::Exit, |i| i.stay.as_mut().expect("base has stay").registration_overdue_since = Some(date(2026, 10, 1)), Refer, &[R::GroundsVisaFree, R::RegistrationOverdue]),
            ("stale ledger, officer", Direction::Entry, |i| i.ledger_stale = true, Admit, &[R::GroundsVisaFree, R::MayStayUntil, R::LedgerStale]),
            ("stale ledger, kiosk", Direction::Entry, |i| { i.ledger_stale = true; i.mode = LaneMode::Kiosk; }, Refer, &[R::GroundsVisaFree, R::MayStayUntil, R::LedgerStale]),
            ("untrusted clock, kiosk", Direction::Exit, |i| { i.clock_untrusted = true; i.mode = LaneMode::Kiosk; }, Refer, &[R::GroundsVisaFree, R::ClockUntrusted]),
            ("kiosk never refuses", Direction::Entry, |i| { i.visa_free = false; i.mode = LaneMode::Kiosk; }, Refer, &[R::NoGroundsOfStay]),
            ("resident abroad too long", Direction::Entry, |i| { i.permits = vec![permit(PermitKind::PermanentResidence)]; let s = i.stay.as_mut().expect("base has stay"); s.limited = false; s.resident_abroad_too_long = true; }, Refer, &[R::GroundsPermit, R::ResidentAbroadTooLong]),
        ];
        for (name, direction, change, outcome, codes) in rows {
            let mut input = base(*direction);
            change(&mut input);
            let verdict = decide(&input);
            assert_eq!(verdict.outcome, *outcome, "{name}: {}", verdict.explanation);
            assert_eq!(verdict.codes(), codes.to_vec(), "{name}");
        }
    }

    #[test]
    fn lost_or_stolen_documents_raise_an_alert_event() {
        let mut input = base(Direction::Exit);
        input.alerts = vec![AlertFacts::Lost];
        assert!(decide(&input).raise_alert);
        input.alerts = vec![AlertFacts::EntryBan { until: None }];
        assert!(!decide(&input).raise_alert);
    }

    #[test]
    fn residence_permit_outranks_evisa() {
        let mut input = base(Direction::Entry);
        input.permits = vec![
            permit(PermitKind::EvisaMultiple),
            permit(PermitKind::PermanentResidence),
        ];
        assert_eq!(
            decide(&input).grounds,
            Some(Grounds::Permit(PermitKind::PermanentResidence))
        );
    }

    #[test]
    fn explanation_names_every_reason() {
        let mut input = base(Direction::Entry);
        input.alerts = vec![AlertFacts::EntryBan {
            until: Some(date(2027, 5, 1)),
        }];
        let verdict = decide(&input);
        assert!(
            verdict
                .explanation
                .contains("entry_ban: entry ban in force until 2027-05-01")
        );
        assert!(
            verdict
                .explanation
                .contains("may_stay_until: may stay until 2027-02-20")
        );
    }

    #[test]
    fn reason_codes_serialise_as_their_stable_strings() {
        for code in [
            ReasonCode::MrzInvalid,
            ReasonCode::EvisaAlreadyUsed,
            ReasonCode::LedgerStale,
        ] {
            let json = serde_json::to_string(&code).expect("a unit enum serialises");
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }
}
