//! Applying entries to the replica state, as pure functions over the [`LedgerState`] trait.
//!
//! The adapter implements `LedgerState` over its storage transaction; [`MemoryState`] implements
//! it over maps and is the model the store is tested against. The rules of the CSCA trust kinds
//! are `csca`'s.

pub mod csca;

use std::cell::RefCell;
use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use super::entry::{
    AlertKind, AlertRaised, Change, Cti, Entry, IssuerKeyAdded, IssuerKeyRetired, Kid,
    OfficerEnrolled, OfficerRevoked, PermitIndex, PermitIssued, PersonAlertLifted,
    PersonAlertRaised, Registration, StayExtension, TerminalKeyAdded, TerminalKeyRetired,
};
use csca::{CrlRecord, CscaRecord};

/// A permit as the replica keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermitRecord {
    pub index: PermitIndex,
    pub bp1: String,
    /// Seq of the entry that issued it.
    pub seq: u64,
}

impl PermitRecord {
    /// What a lookup by holder answers: the index fields, without the signed text.
    pub fn held(&self) -> HeldPermit {
        HeldPermit {
            index: self.index.clone(),
            seq: self.seq,
        }
    }
}

/// A permit a document holds, as the lookup by holder answers it: the index fields and the seq
/// of the issuing entry, where its signed BP1 text is read on use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldPermit {
    pub index: PermitIndex,
    /// Seq of the entry that issued it.
    pub seq: u64,
}

/// An issuer key of the trust list; retired keys are kept with their retirement time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuerKey {
    pub key: IssuerKeyAdded,
    pub retired_at: Option<Timestamp>,
}

/// A terminal's event-signing key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalKey {
    pub key: TerminalKeyAdded,
    pub retired_at: Option<Timestamp>,
}

/// A raised, not yet lifted alert; `id` is the seq of the entry that raised it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub id: u64,
    pub raised_at: Timestamp,
    pub alert: AlertRaised,
}

impl Alert {
    /// Whether the alert still applies on `day` (an entry ban ends after its `until` date).
    pub fn is_active_on(&self, day: Date) -> bool {
        match self.alert.alert {
            AlertKind::EntryBan { until } => day <= until,
            AlertKind::Lost | AlertKind::Stolen | AlertKind::Invalidated => true,
        }
    }
}

/// An officer account as the replica keeps it: the latest enrolment and any revocation after it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfficerRecord {
    pub enrolled: OfficerEnrolled,
    /// Seq of the enrolling entry.
    pub seq: u64,
    /// When the account was revoked (the revoking entry's time), if it was.
    pub revoked_at: Option<Timestamp>,
}

impl OfficerRecord {
    /// Whether the officer may sign in on `day` (the checkpoint's civil date).
    pub fn may_sign_in_on(&self, day: Date) -> bool {
        self.revoked_at.is_none()
            && self.enrolled.valid_from <= day
            && day <= self.enrolled.valid_until
    }
}

/// Where a person alert stands, as the ledger's rules need it: the entry that raised it and the
/// one that lifted it. The alert itself stays in its entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonAlertState {
    /// Seq of the `person_alert` entry.
    pub seq: u64,
    /// Seq of the `person_alert_lifted` entry, once lifted.
    pub lifted: Option<u64>,
}

/// A person alert with its state: what a hit shows the officer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonAlertRecord {
    pub state: PersonAlertState,
    pub alert: PersonAlertRaised,
}

/// What an entry did to the person alerts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PersonAlertChange {
    Raised(PersonAlertRaised),
    /// The id of the alert lifted.
    Lifted(String),
}

/// The person-alert changes of a run of applied entries: each with its entry's seq, in order,
/// and the last seq the run covered (the next read starts after it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PersonAlertChanges {
    pub through: u64,
    pub changes: Vec<(u64, PersonAlertChange)>,
}

impl PersonAlertChanges {
    /// Adds what `change` did, if it touched a person alert.
    pub fn note(&mut self, seq: u64, change: Change) {
        match change {
            Change::PersonAlert(alert) => {
                self.changes.push((seq, PersonAlertChange::Raised(alert)))
            }
            Change::PersonAlertLifted(lifted) => self
                .changes
                .push((seq, PersonAlertChange::Lifted(lifted.alert_id))),
            _ => {}
        }
    }
}

/// Why a (well-formed, correctly chained) entry cannot be applied to the current state.
/// Central should never publish one; a replica that meets one stops replicating.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Rejection {
    #[error("permit {cti} was already issued")]
    DuplicatePermit { cti: String },
    #[error("permit {cti} failed its check: {reason}")]
    PermitCheck { cti: String, reason: String },
    #[error("issuer key {kid} is not a valid ed25519 key or is weak")]
    BadIssuerKey { kid: String },
    #[error("issuer key {kid} windows are out of order")]
    IssuerKeyWindows { kid: String },
    #[error("issuer key {kid} with that public key already exists")]
    DuplicateIssuerKey { kid: String },
    #[error("issuer key {kid} with that public key is unknown or already retired")]
    UnknownIssuerKey { kid: String },
    #[error("terminal key of {terminal} with that public key already exists")]
    DuplicateTerminalKey { terminal: String },
    #[error("terminal key of {terminal} with that public key is unknown or already retired")]
    UnknownTerminalKey { terminal: String },
    #[error("{field} starts after it ends")]
    DateOrder { field: &'static str },
    #[error("alert {id} is unknown or already lifted")]
    UnknownAlert { id: u64 },
    #[error("officer {officer} is not enrolled or already revoked")]
    UnknownOfficer { officer: String },
    #[error("person alert {id:?} was already raised (entry {seq})")]
    DuplicatePersonAlert { id: String, seq: u64 },
    #[error("person alert {id:?} is unknown")]
    UnknownPersonAlert { id: String },
    #[error("person alert {id:?} was already lifted (entry {lifted})")]
    PersonAlertAlreadyLifted { id: String, lifted: u64 },
    #[error("csca {what} does not read: {reason}")]
    CscaUnreadable { what: &'static str, reason: String },
    #[error("csca master list refused: {reason}")]
    MasterListSignature { reason: String },
    #[error("csca {subject} is already held")]
    DuplicateCsca { subject: String },
    #[error("csca {subject} with that certificate is unknown or already retired")]
    UnknownCsca { subject: String },
    #[error("crl of {issuer} is not signed by a held, not retired csca of that name")]
    CrlIssuerUnknown { issuer: String },
    #[error("crl of {issuer} is older than the one held")]
    CrlOlder { issuer: String },
}

/// An apply failure: the entry is refused, or the store failed underneath.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ApplyFailure<E> {
    #[error("entry {seq} rejected: {rejection}")]
    Rejected { seq: u64, rejection: Rejection },
    #[error("store failed: {0}")]
    Store(E),
}

/// Read access to the trust list while a permit is being checked.
pub trait IssuerTrust {
    /// Every key (active or retired) with this kid.
    fn keys_for(&self, kid: &Kid) -> Vec<IssuerKey>;
}

/// Apply-time check of a permit-issued entry. The BP1 signature check of `core::permit` plugs in
/// here; [`IndexConsistency`] is the default.
pub trait PermitCheck: Sync {
    /// `Err(reason)` refuses the entry.
    fn check(
        &self,
        bp1: &str,
        index: &PermitIndex,
        at: Timestamp,
        trust: &dyn IssuerTrust,
    ) -> Result<(), String>;
}

/// Checks that a permit's index fields are consistent on their own: a `BP1:` text, a non-zero
/// cti and holder, and `valid_from <= valid_until`. It does not decode or verify the BP1 text.
#[derive(Clone, Copy, Debug, Default)]
pub struct IndexConsistency;

impl PermitCheck for IndexConsistency {
    fn check(
        &self,
        bp1: &str,
        index: &PermitIndex,
        _at: Timestamp,
        _trust: &dyn IssuerTrust,
    ) -> Result<(), String> {
        if !bp1.starts_with("BP1:") || bp1.len() <= "BP1:".len() {
            return Err("bp1 text does not start with BP1: followed by a payload".into());
        }
        if index.cti == [0; 16] {
            return Err("cti is all zeroes".into());
        }
        if index.holder == [0; 32] {
            return Err("holder digest is all zeroes".into());
        }
        if index.valid_from > index.valid_until {
            return Err("valid_from is after valid_until".into());
        }
        Ok(())
    }
}

/// The replica state as `apply_entry` reads and writes it.
pub trait LedgerState {
    type Error;
    /// Whether a permit with this cti has been issued (revoked or not).
    fn has_permit(&self, cti: &Cti) -> Result<bool, Self::Error>;
    /// Stores the permit and indexes it by holder.
    fn insert_permit(&mut self, permit: &PermitRecord) -> Result<(), Self::Error>;
    fn revoke(&mut self, cti: &Cti, seq: u64) -> Result<(), Self::Error>;
    fn issuer_keys(&self, kid: &Kid) -> Result<Vec<IssuerKey>, Self::Error>;
    fn set_issuer_keys(&mut self, kid: &Kid, keys: &[IssuerKey]) -> Result<(), Self::Error>;
    fn terminal_keys(&self, terminal: &str) -> Result<Vec<TerminalKey>, Self::Error>;
    fn set_terminal_keys(
        &mut self,
        terminal: &str,
        keys: &[TerminalKey],
    ) -> Result<(), Self::Error>;
    fn alert(&self, id: u64) -> Result<Option<Alert>, Self::Error>;
    /// Stores the alert and indexes it by holder.
    fn insert_alert(&mut self, alert: &Alert) -> Result<(), Self::Error>;
    /// Removes the alert and its holder index.
    fn remove_alert(&mut self, alert: &Alert) -> Result<(), Self::Error>;
    fn insert_extension(&mut self, seq: u64, extension: &StayExtension) -> Result<(), Self::Error>;
    fn insert_registration(
        &mut self,
        seq: u64,
        registration: &Registration,
    ) -> Result<(), Self::Error>;
    fn officer(&self, officer_id: &str) -> Result<Option<OfficerRecord>, Self::Error>;
    fn set_officer(&mut self, officer: &OfficerRecord) -> Result<(), Self::Error>;
    /// The person alert with this id, lifted or not.
    fn person_alert(&self, id: &str) -> Result<Option<PersonAlertState>, Self::Error>;
    /// Stores a person alert raised by entry `seq`.
    fn insert_person_alert(
        &mut self,
        seq: u64,
        alert: &PersonAlertRaised,
    ) -> Result<(), Self::Error>;
    /// Marks a person alert lifted (`state.lifted` is set).
    fn lift_person_alert(&mut self, id: &str, state: &PersonAlertState) -> Result<(), Self::Error>;
    /// The CSCAs (retired ones included) whose subject name hashes to `subject`.
    fn cscas_named(&self, subject: &[u8; 32]) -> Result<Vec<CscaRecord>, Self::Error>;
    fn set_cscas_named(
        &mut self,
        subject: &[u8; 32],
        records: &[CscaRecord],
    ) -> Result<(), Self::Error>;
    /// The CRL held for the issuer name hashing to `issuer`.
    fn crl_of(&self, issuer: &[u8; 32]) -> Result<Option<CrlRecord>, Self::Error>;
    fn set_crl(&mut self, issuer: &[u8; 32], record: &CrlRecord) -> Result<(), Self::Error>;
}

struct TrustView<'a, S: LedgerState> {
    state: &'a S,
    failure: RefCell<Option<S::Error>>,
}

impl<S: LedgerState> IssuerTrust for TrustView<'_, S> {
    fn keys_for(&self, kid: &Kid) -> Vec<IssuerKey> {
        match self.state.issuer_keys(kid) {
            Ok(keys) => keys,
            Err(e) => {
                self.failure.borrow_mut().get_or_insert(e);
                Vec::new()
            }
        }
    }
}

/// Applies one entry (already chain-verified) to the state.
pub fn apply_entry<S: LedgerState>(
    state: &mut S,
    entry: &Entry,
    check: &dyn PermitCheck,
) -> Result<(), ApplyFailure<S::Error>> {
    let seq = entry.seq;
    match &entry.change {
        Change::PermitIssued(p) => apply_permit_issued(state, entry, p, check),
        Change::PermitRevoked(r) => state.revoke(&r.cti, seq).map_err(ApplyFailure::Store),
        Change::IssuerKeyAdded(k) => apply_issuer_key_added(state, seq, k),
        Change::IssuerKeyRetired(r) => apply_issuer_key_retired(state, entry, r),
        Change::TerminalKeyAdded(t) => apply_terminal_key_added(state, seq, t),
        Change::TerminalKeyRetired(r) => apply_terminal_key_retired(state, entry, r),
        Change::StayExtension(s) => state.insert_extension(seq, s).map_err(ApplyFailure::Store),
        Change::Registration(r) => {
            if r.valid_from > r.valid_until {
                return Err(rejected(
                    seq,
                    Rejection::DateOrder {
                        field: "registration",
                    },
                ));
            }
            state
                .insert_registration(seq, r)
                .map_err(ApplyFailure::Store)
        }
        Change::Alert(a) => {
            let alert = Alert {
                id: seq,
                raised_at: entry.time,
                alert: a.clone(),
            };
            state.insert_alert(&alert).map_err(ApplyFailure::Store)
        }
        Change::AlertLifted(l) => {
            let Some(alert) = state.alert(l.alert_id).map_err(ApplyFailure::Store)? else {
                return Err(rejected(seq, Rejection::UnknownAlert { id: l.alert_id }));
            };
            state.remove_alert(&alert).map_err(ApplyFailure::Store)
        }
        Change::OfficerEnrolled(o) => apply_officer_enrolled(state, seq, o),
        Change::OfficerRevoked(r) => apply_officer_revoked(state, entry, r),
        Change::PersonAlert(a) => apply_person_alert(state, seq, a),
        Change::PersonAlertLifted(l) => apply_person_alert_lifted(state, seq, l),
        Change::CscaMasterList(m) => csca::apply_master_list(state, seq, &m.master_list),
        Change::CscaAdded(c) => csca::apply_added(state, seq, &c.certificate),
        Change::CscaRetired(c) => csca::apply_retired(state, seq, entry.time, &c.certificate),
        Change::CscaCrl(c) => csca::apply_crl(state, seq, &c.crl),
    }
}

fn rejected<E>(seq: u64, rejection: Rejection) -> ApplyFailure<E> {
    ApplyFailure::Rejected { seq, rejection }
}

fn apply_permit_issued<S: LedgerState>(
    state: &mut S,
    entry: &Entry,
    p: &PermitIssued,
    check: &dyn PermitCheck,
) -> Result<(), ApplyFailure<S::Error>> {
    let seq = entry.seq;
    let cti = hex::encode(p.index.cti);
    if state
        .has_permit(&p.index.cti)
        .map_err(ApplyFailure::Store)?
    {
        return Err(rejected(seq, Rejection::DuplicatePermit { cti }));
    }
    let trust = TrustView {
        state: &*state,
        failure: RefCell::new(None),
    };
    let verdict = check.check(&p.bp1, &p.index, entry.time, &trust);
    if let Some(e) = trust.failure.into_inner() {
        return Err(ApplyFailure::Store(e));
    }
    verdict.map_err(|reason| rejected(seq, Rejection::PermitCheck { cti, reason }))?;
    let record = PermitRecord {
        index: p.index.clone(),
        bp1: p.bp1.clone(),
        seq,
    };
    state.insert_permit(&record).map_err(ApplyFailure::Store)
}

fn apply_issuer_key_added<S: LedgerState>(
    state: &mut S,
    seq: u64,
    k: &IssuerKeyAdded,
) -> Result<(), ApplyFailure<S::Error>> {
    let kid = hex::encode(k.kid);
    let weak = ed25519_dalek::VerifyingKey::from_bytes(&k.public_key)
        .map(|v| v.is_weak())
        .unwrap_or(true);
    if weak {
        return Err(rejected(seq, Rejection::BadIssuerKey { kid }));
    }
    if !(k.sign_from <= k.sign_until && k.sign_until <= k.verify_until) {
        return Err(rejected(seq, Rejection::IssuerKeyWindows { kid }));
    }
    let mut keys = state.issuer_keys(&k.kid).map_err(ApplyFailure::Store)?;
    if keys.iter().any(|e| e.key.public_key == k.public_key) {
        return Err(rejected(seq, Rejection::DuplicateIssuerKey { kid }));
    }
    keys.push(IssuerKey {
        key: k.clone(),
        retired_at: None,
    });
    state
        .set_issuer_keys(&k.kid, &keys)
        .map_err(ApplyFailure::Store)
}

fn apply_issuer_key_retired<S: LedgerState>(
    state: &mut S,
    entry: &Entry,
    r: &IssuerKeyRetired,
) -> Result<(), ApplyFailure<S::Error>> {
    let mut keys = state.issuer_keys(&r.kid).map_err(ApplyFailure::Store)?;
    let Some(key) = keys
        .iter_mut()
        .find(|e| e.key.public_key == r.public_key && e.retired_at.is_none())
    else {
        return Err(rejected(
            entry.seq,
            Rejection::UnknownIssuerKey {
                kid: hex::encode(r.kid),
            },
        ));
    };
    key.retired_at = Some(entry.time);
    state
        .set_issuer_keys(&r.kid, &keys)
        .map_err(ApplyFailure::Store)
}

fn apply_terminal_key_added<S: LedgerState>(
    state: &mut S,
    seq: u64,
    t: &TerminalKeyAdded,
) -> Result<(), ApplyFailure<S::Error>> {
    if t.valid_from > t.valid_until {
        return Err(rejected(
            seq,
            Rejection::DateOrder {
                field: "terminal key validity",
            },
        ));
    }
    let mut keys = state
        .terminal_keys(&t.terminal_id)
        .map_err(ApplyFailure::Store)?;
    if keys.iter().any(|e| e.key.public_key == t.public_key) {
        return Err(rejected(
            seq,
            Rejection::DuplicateTerminalKey {
                terminal: t.terminal_id.clone(),
            },
        ));
    }
    keys.push(TerminalKey {
        key: t.clone(),
        retired_at: None,
    });
    state
        .set_terminal_keys(&t.terminal_id, &keys)
        .map_err(ApplyFailure::Store)
}

fn apply_terminal_key_retired<S: LedgerState>(
    state: &mut S,
    entry: &Entry,
    r: &TerminalKeyRetired,
) -> Result<(), ApplyFailure<S::Error>> {
    let mut keys = state
        .terminal_keys(&r.terminal_id)
        .map_err(ApplyFailure::Store)?;
    let Some(key) = keys
        .iter_mut()
        .find(|e| e.key.public_key == r.public_key && e.retired_at.is_none())
    else {
        return Err(rejected(
            entry.seq,
            Rejection::UnknownTerminalKey {
                terminal: r.terminal_id.clone(),
            },
        ));
    };
    key.retired_at = Some(entry.time);
    state
        .set_terminal_keys(&r.terminal_id, &keys)
        .map_err(ApplyFailure::Store)
}

fn apply_officer_enrolled<S: LedgerState>(
    state: &mut S,
    seq: u64,
    o: &OfficerEnrolled,
) -> Result<(), ApplyFailure<S::Error>> {
    if o.valid_from > o.valid_until {
        return Err(rejected(
            seq,
            Rejection::DateOrder {
                field: "officer validity",
            },
        ));
    }
    let record = OfficerRecord {
        enrolled: o.clone(),
        seq,
        revoked_at: None,
    };
    state.set_officer(&record).map_err(ApplyFailure::Store)
}

fn apply_officer_revoked<S: LedgerState>(
    state: &mut S,
    entry: &Entry,
    r: &OfficerRevoked,
) -> Result<(), ApplyFailure<S::Error>> {
    let known = state.officer(&r.officer_id).map_err(ApplyFailure::Store)?;
    let Some(mut record) = known.filter(|o| o.revoked_at.is_none()) else {
        return Err(rejected(
            entry.seq,
            Rejection::UnknownOfficer {
                officer: r.officer_id.clone(),
            },
        ));
    };
    record.revoked_at = Some(entry.time);
    state.set_officer(&record).map_err(ApplyFailure::Store)
}

fn apply_person_alert<S: LedgerState>(
    state: &mut S,
    seq: u64,
    a: &PersonAlertRaised,
) -> Result<(), ApplyFailure<S::Error>> {
    if let Some(known) = state
        .person_alert(&a.alert_id)
        .map_err(ApplyFailure::Store)?
    {
        return Err(rejected(
            seq,
            Rejection::DuplicatePersonAlert {
                id: a.alert_id.clone(),
                seq: known.seq,
            },
        ));
    }
    state
        .insert_person_alert(seq, a)
        .map_err(ApplyFailure::Store)
}

fn apply_person_alert_lifted<S: LedgerState>(
    state: &mut S,
    seq: u64,
    l: &PersonAlertLifted,
) -> Result<(), ApplyFailure<S::Error>> {
    let id = l.alert_id.clone();
    match state.person_alert(&id).map_err(ApplyFailure::Store)? {
        None => Err(rejected(seq, Rejection::UnknownPersonAlert { id })),
        Some(PersonAlertState {
            lifted: Some(lifted),
            ..
        }) => Err(rejected(
            seq,
            Rejection::PersonAlertAlreadyLifted { id, lifted },
        )),
        Some(known) => state
            .lift_person_alert(
                &id,
                &PersonAlertState {
                    seq: known.seq,
                    lifted: Some(seq),
                },
            )
            .map_err(ApplyFailure::Store),
    }
}

/// The replica state in maps: the model for store tests and the scratch state of `ledger verify`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryState {
    pub permits: BTreeMap<Cti, PermitRecord>,
    pub revoked: BTreeMap<Cti, u64>,
    pub issuer_keys: BTreeMap<Kid, Vec<IssuerKey>>,
    pub terminal_keys: BTreeMap<String, Vec<TerminalKey>>,
    pub alerts: BTreeMap<u64, Alert>,
    pub extensions: BTreeMap<u64, StayExtension>,
    pub registrations: BTreeMap<u64, Registration>,
    pub officers: BTreeMap<String, OfficerRecord>,
    pub person_alerts: BTreeMap<String, PersonAlertRecord>,
    pub cscas: BTreeMap<[u8; 32], Vec<CscaRecord>>,
    pub crls: BTreeMap<[u8; 32], CrlRecord>,
}

impl LedgerState for MemoryState {
    type Error = std::convert::Infallible;
    fn has_permit(&self, cti: &Cti) -> Result<bool, Self::Error> {
        Ok(self.permits.contains_key(cti))
    }
    fn insert_permit(&mut self, permit: &PermitRecord) -> Result<(), Self::Error> {
        self.permits.insert(permit.index.cti, permit.clone());
        Ok(())
    }
    fn revoke(&mut self, cti: &Cti, seq: u64) -> Result<(), Self::Error> {
        self.revoked.insert(*cti, seq);
        Ok(())
    }
    fn issuer_keys(&self, kid: &Kid) -> Result<Vec<IssuerKey>, Self::Error> {
        Ok(self.issuer_keys.get(kid).cloned().unwrap_or_default())
    }
    fn set_issuer_keys(&mut self, kid: &Kid, keys: &[IssuerKey]) -> Result<(), Self::Error> {
        self.issuer_keys.insert(*kid, keys.to_vec());
        Ok(())
    }
    fn terminal_keys(&self, terminal: &str) -> Result<Vec<TerminalKey>, Self::Error> {
        Ok(self
            .terminal_keys
            .get(terminal)
            .cloned()
            .unwrap_or_default())
    }
    fn set_terminal_keys(
        &mut self,
        terminal: &str,
        keys: &[TerminalKey],
    ) -> Result<(), Self::Error> {
        self.terminal_keys
            .insert(terminal.to_owned(), keys.to_vec());
        Ok(())
    }
    fn alert(&self, id: u64) -> Result<Option<Alert>, Self::Error> {
        Ok(self.alerts.get(&id).cloned())
    }
    fn insert_alert(&mut self, alert: &Alert) -> Result<(), Self::Error> {
        self.alerts.insert(alert.id, alert.clone());
        Ok(())
    }
    fn remove_alert(&mut self, alert: &Alert) -> Result<(), Self::Error> {
        self.alerts.remove(&alert.id);
        Ok(())
    }
    fn insert_extension(&mut self, seq: u64, extension: &StayExtension) -> Result<(), Self::Error> {
        self.extensions.insert(seq, extension.clone());
        Ok(())
    }
    fn insert_registration(
        &mut self,
        seq: u64,
        registration: &Registration,
    ) -> Result<(), Self::Error> {
        self.registrations.insert(seq, registration.clone());
        Ok(())
    }
    fn officer(&self, officer_id: &str) -> Result<Option<OfficerRecord>, Self::Error> {
        Ok(self.officers.get(officer_id).cloned())
    }
    fn set_officer(&mut self, officer: &OfficerRecord) -> Result<(), Self::Error> {
        self.officers
            .insert(officer.enrolled.officer_id.clone(), officer.clone());
        Ok(())
    }
    fn person_alert(&self, id: &str) -> Result<Option<PersonAlertState>, Self::Error> {
        Ok(self.person_alerts.get(id).map(|record| record.state))
    }
    fn insert_person_alert(
        &mut self,
        seq: u64,
        alert: &PersonAlertRaised,
    ) -> Result<(), Self::Error> {
        let state = PersonAlertState { seq, lifted: None };
        let record = PersonAlertRecord {
            state,
            alert: alert.clone(),
        };
        self.person_alerts.insert(alert.alert_id.clone(), record);
        Ok(())
    }
    fn lift_person_alert(&mut self, id: &str, state: &PersonAlertState) -> Result<(), Self::Error> {
        if let Some(record) = self.person_alerts.get_mut(id) {
            record.state = *state;
        }
        Ok(())
    }
    fn cscas_named(&self, subject: &[u8; 32]) -> Result<Vec<CscaRecord>, Self::Error> {
        Ok(self.cscas.get(subject).cloned().unwrap_or_default())
    }
    fn set_cscas_named(
        &mut self,
        subject: &[u8; 32],
        records: &[CscaRecord],
    ) -> Result<(), Self::Error> {
        self.cscas.insert(*subject, records.to_vec());
        Ok(())
    }
    fn crl_of(&self, issuer: &[u8; 32]) -> Result<Option<CrlRecord>, Self::Error> {
        Ok(self.crls.get(issuer).cloned())
    }
    fn set_crl(&mut self, issuer: &[u8; 32], record: &CrlRecord) -> Result<(), Self::Error> {
        self.crls.insert(*issuer, record.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::ledger::entry::{AlertLifted, PermitIssued, PermitRevoked, PermitType};

    fn at(seq: u64, change: Change) -> Entry {
        Entry {
            seq,
            prev: [0; 32],
            time: "2026-01-01T00:00:00Z".parse().expect("ts"),
            change,
        }
    }

    fn permit(cti: u8) -> Change {
        Change::PermitIssued(PermitIssued {
            bp1: "BP1:XYZ".into(),
            index: PermitIndex {
                cti: [cti; 16],
                holder: [7; 32],
                permit_type: PermitType::WorkPermit,
                valid_from: "2026-01-01".parse().expect("date"),
                valid_until: "2027-01-01".parse().expect("date"),
            },
        })
    }

    #[test]
    fn permits_revocations_and_alerts_apply_in_order() {
        let mut state = MemoryState::default();
        apply_entry(&mut state, &at(1, permit(1)), &IndexConsistency).expect("issue");
        assert_eq!(
            apply_entry(&mut state, &at(2, permit(1)), &IndexConsistency),
            Err(ApplyFailure::Rejected {
                seq: 2,
                rejection: Rejection::DuplicatePermit {
                    cti: hex::encode([1u8; 16])
                }
            })
        );
        let revoke = Change::PermitRevoked(PermitRevoked {
            cti: [1; 16],
            reason: "x".into(),
        });
        apply_entry(&mut state, &at(3, revoke), &IndexConsistency).expect("revoke");
        assert_eq!(state.revoked.get(&[1; 16]), Some(&3));
        let lift = Change::AlertLifted(AlertLifted { alert_id: 3 });
        assert!(matches!(
            apply_entry(&mut state, &at(4, lift), &IndexConsistency),
            Err(ApplyFailure::Rejected {
                rejection: Rejection::UnknownAlert { id: 3 },
                ..
            })
        ));
    }

    #[test]
    fn officers_enrol_and_revoke() {
        use crate::core::ledger::entry::{OfficerEnrolled, OfficerRevoked};
        use crate::core::officer::{Language, Role};
        let mut state = MemoryState::default();
        let day = |s: &str| -> Date { s.parse().expect("date") };
        let enrol = Change::OfficerEnrolled(OfficerEnrolled {
            officer_id: "O-1".into(),
            role: Role::Officer,
            verifier:
                "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$Hxm1mpSMKAu3/8QhqKI2SgamTAqO2jvAGrjm1ZBsXfA"
                    .into(),
            valid_from: day("2026-01-01"),
            valid_until: day("2026-12-31"),
            language: Language::Ru,
        });
        let revoke = Change::OfficerRevoked(OfficerRevoked {
            officer_id: "O-1".into(),
            reason: "left".into(),
        });
        assert!(matches!(
            apply_entry(&mut state, &at(1, revoke.clone()), &IndexConsistency),
            Err(ApplyFailure::Rejected {
                rejection: Rejection::UnknownOfficer { .. },
                ..
            })
        ));
        apply_entry(&mut state, &at(2, enrol), &IndexConsistency).expect("enrol");
        let record = state.officers["O-1"].clone();
        assert!(record.may_sign_in_on(day("2026-06-01")));
        assert!(!record.may_sign_in_on(day("2027-01-01")));
        apply_entry(&mut state, &at(3, revoke.clone()), &IndexConsistency).expect("revoke");
        assert!(!state.officers["O-1"].may_sign_in_on(day("2026-06-01")));
        assert!(apply_entry(&mut state, &at(4, revoke), &IndexConsistency).is_err());
    }

    #[test]
    fn person_alerts_are_raised_once_and_lifted_once() {
        use crate::core::ledger::entry::{PersonAlertLifted, tests::sample_person_alert};
        let mut state = MemoryState::default();
        let raise = Change::PersonAlert(sample_person_alert("PA-7"));
        let lift = || {
            Change::PersonAlertLifted(PersonAlertLifted {
                alert_id: "PA-7".into(),
            })
        };
        let rejection = |state: &mut MemoryState, seq, change| match apply_entry(
            state,
            &at(seq, change),
            &IndexConsistency,
        ) {
            Err(ApplyFailure::Rejected { rejection, .. }) => rejection,
            other => panic!("entry {seq} not refused: {other:?}"),
        };
        assert_eq!(
            rejection(&mut state, 1, lift()),
            Rejection::UnknownPersonAlert { id: "PA-7".into() }
        );
        apply_entry(&mut state, &at(2, raise.clone()), &IndexConsistency).expect("raise");
        assert_eq!(
            rejection(&mut state, 3, raise.clone()),
            Rejection::DuplicatePersonAlert {
                id: "PA-7".into(),
                seq: 2
            }
        );
        apply_entry(&mut state, &at(4, lift()), &IndexConsistency).expect("lift");
        assert_eq!(
            state.person_alerts["PA-7"].state,
            PersonAlertState {
                seq: 2,
                lifted: Some(4)
            }
        );
        let refused = rejection(&mut state, 5, lift());
        assert_eq!(
            refused,
            Rejection::PersonAlertAlreadyLifted {
                id: "PA-7".into(),
                lifted: 4
            }
        );
        assert_eq!(
            refused.to_string(),
            "person alert \"PA-7\" was already lifted (entry 4)"
        );
        // An id once used is never raised again, lifted or not.
        assert!(matches!(
            rejection(&mut state, 6, raise),
            Rejection::DuplicatePersonAlert { seq: 2, .. }
        ));
    }

    #[test]
    fn index_consistency_table() {
        let base = match permit(1) {
            Change::PermitIssued(p) => p,
            _ => unreachable!("permit() builds a permit"),
        };
        let trust = MemoryTrust;
        let ts: Timestamp = "2026-01-01T00:00:00Z".parse().expect("ts");
        let mut backwards = base.index.clone();
        backwards.valid_from = "2028-01-01".parse().expect("date");
        let mut zero_cti = base.index.clone();
        zero_cti.cti = [0; 16];
        let table = [
            ("BP1:XYZ", base.index.clone(), true),
            ("BP2:XYZ", base.index.clone(), false),
            ("BP1:", base.index.clone(), false),
            ("BP1:XYZ", backwards, false),
            ("BP1:XYZ", zero_cti, false),
        ];
        for (bp1, index, ok) in table {
            assert_eq!(
                IndexConsistency.check(bp1, &index, ts, &trust).is_ok(),
                ok,
                "{bp1} {index:?}"
            );
        }
    }

    struct MemoryTrust;
    impl IssuerTrust for MemoryTrust {
        fn keys_for(&self, _kid: &Kid) -> Vec<IssuerKey> {
            Vec::new()
        }
    }
}
