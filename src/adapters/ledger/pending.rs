//! Central's view of the ledger past its replica: the replica's applied state plus, in memory,
//! what later entries change. The publisher runs the core's rules over it so that nothing is
//! published or signed that a terminal would refuse.

use std::collections::HashSet;

use crate::core::ledger::entry::PersonAlertRaised;
use crate::core::ledger::state::{
    Alert, IssuerKey, LedgerState, MemoryState, OfficerRecord, PermitRecord, PersonAlertRecord,
    PersonAlertState, TerminalKey,
};
use crate::core::ledger::{Cti, Kid, Registration, StayExtension};
use crate::ports::ledger::{LedgerStoreError, LedgerView};

use super::SledLedger;

/// [`LedgerState`] over a replica that stays untouched: every change is kept in memory.
pub struct PendingState<'a> {
    replica: &'a SledLedger,
    changes: MemoryState,
    /// Alerts of the replica lifted by a pending entry.
    lifted: HashSet<u64>,
}

impl<'a> PendingState<'a> {
    /// The replica's state as applied; nothing pending yet.
    pub fn over(replica: &'a SledLedger) -> Self {
        Self {
            replica,
            changes: MemoryState::default(),
            lifted: HashSet::new(),
        }
    }

    /// Whether the permit is revoked, by the replica or a pending entry.
    pub fn is_revoked(&self, cti: &Cti) -> Result<bool, LedgerStoreError> {
        Ok(self.changes.revoked.contains_key(cti) || self.replica.is_revoked(cti)?)
    }
}

impl LedgerState for PendingState<'_> {
    type Error = LedgerStoreError;
    fn has_permit(&self, cti: &Cti) -> Result<bool, Self::Error> {
        Ok(self.changes.permits.contains_key(cti) || self.replica.permit(cti)?.is_some())
    }
    fn insert_permit(&mut self, permit: &PermitRecord) -> Result<(), Self::Error> {
        self.changes
            .permits
            .insert(permit.index.cti, permit.clone());
        Ok(())
    }
    fn revoke(&mut self, cti: &Cti, seq: u64) -> Result<(), Self::Error> {
        self.changes.revoked.insert(*cti, seq);
        Ok(())
    }
    fn issuer_keys(&self, kid: &Kid) -> Result<Vec<IssuerKey>, Self::Error> {
        match self.changes.issuer_keys.get(kid) {
            Some(keys) => Ok(keys.clone()),
            None => self.replica.issuer_keys(kid),
        }
    }
    fn set_issuer_keys(&mut self, kid: &Kid, keys: &[IssuerKey]) -> Result<(), Self::Error> {
        self.changes.issuer_keys.insert(*kid, keys.to_vec());
        Ok(())
    }
    fn terminal_keys(&self, terminal: &str) -> Result<Vec<TerminalKey>, Self::Error> {
        match self.changes.terminal_keys.get(terminal) {
            Some(keys) => Ok(keys.clone()),
            None => self.replica.terminal_keys(terminal),
        }
    }
    fn set_terminal_keys(
        &mut self,
        terminal: &str,
        keys: &[TerminalKey],
    ) -> Result<(), Self::Error> {
        self.changes
            .terminal_keys
            .insert(terminal.to_owned(), keys.to_vec());
        Ok(())
    }
    fn alert(&self, id: u64) -> Result<Option<Alert>, Self::Error> {
        if let Some(alert) = self.changes.alerts.get(&id) {
            return Ok(Some(alert.clone()));
        }
        if self.lifted.contains(&id) {
            return Ok(None);
        }
        self.replica.alert_by_id(id)
    }
    fn insert_alert(&mut self, alert: &Alert) -> Result<(), Self::Error> {
        self.changes.alerts.insert(alert.id, alert.clone());
        Ok(())
    }
    fn remove_alert(&mut self, alert: &Alert) -> Result<(), Self::Error> {
        if self.changes.alerts.remove(&alert.id).is_none() {
            self.lifted.insert(alert.id);
        }
        Ok(())
    }
    fn insert_extension(&mut self, seq: u64, extension: &StayExtension) -> Result<(), Self::Error> {
        self.changes.extensions.insert(seq, extension.clone());
        Ok(())
    }
    fn insert_registration(
        &mut self,
        seq: u64,
        registration: &Registration,
    ) -> Result<(), Self::Error> {
        self.changes.registrations.insert(seq, registration.clone());
        Ok(())
    }
    fn officer(&self, officer_id: &str) -> Result<Option<OfficerRecord>, Self::Error> {
        match self.changes.officers.get(officer_id) {
            Some(officer) => Ok(Some(officer.clone())),
            None => LedgerView::officer(self.replica, officer_id),
        }
    }
    fn set_officer(&mut self, officer: &OfficerRecord) -> Result<(), Self::Error> {
        self.changes
            .officers
            .insert(officer.enrolled.officer_id.clone(), officer.clone());
        Ok(())
    }
    fn person_alert(&self, id: &str) -> Result<Option<PersonAlertState>, Self::Error> {
        match self.changes.person_alerts.get(id) {
            Some(record) => Ok(Some(record.state)),
            None => Ok(LedgerView::person_alert(self.replica, id)?.map(|record| record.state)),
        }
    }
    fn insert_person_alert(
        &mut self,
        seq: u64,
        alert: &PersonAlertRaised,
    ) -> Result<(), Self::Error> {
        let Ok(()) = self.changes.insert_person_alert(seq, alert);
        Ok(())
    }
    fn lift_person_alert(&mut self, id: &str, state: &PersonAlertState) -> Result<(), Self::Error> {
        if !self.changes.person_alerts.contains_key(id) {
            // Raised in the replica: only the state is needed for the rules.
            let Some(record) = LedgerView::person_alert(self.replica, id)? else {
                return Ok(());
            };
            let record = PersonAlertRecord {
                state: *state,
                alert: record.alert,
            };
            self.changes.person_alerts.insert(id.to_owned(), record);
            return Ok(());
        }
        let Ok(()) = self.changes.lift_person_alert(id, state);
        Ok(())
    }
}
