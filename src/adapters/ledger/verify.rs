//! `ledger verify`'s check of a whole replica: the chain recomputed from entry 1 against the
//! checkpoint it was applied under, every entry's rules applied again, and the lookup by holder
//! compared with the permits the chain issued. Run by the tool on a replica it opened, and by the
//! daemon for the tool when the daemon holds the replica (`adapters::api::ledger`).

use std::collections::{HashMap, HashSet};

use crate::core::document::HolderDigest;
use crate::core::ledger::entry::PersonAlertRaised;
use crate::core::ledger::state::{
    Alert, IndexConsistency, IssuerKey as LedgerIssuerKey, LedgerState, MemoryState, PermitRecord,
    PersonAlertState, TerminalKey, apply_entry,
};
use crate::core::ledger::{
    ChainCheck, Change, CrlRecord, CscaRecord, Cti, Cursor, Kid, Registration, RootSet,
    SignedCheckpoint, StayExtension,
};
use crate::ports::ledger::LedgerStore;

/// Entries read and checked at a time by [`verify_replica`]: memory stays flat however long the
/// ledger is.
const VERIFY_CHUNK: u64 = 20_000;

/// Recomputes the replica's chain from entry 1 to its cursor against the checkpoint it was applied
/// under (signed by the pinned roots), applies every entry's rules again, and checks that the
/// lookup by holder answers every permit the chain issued, as issued, and no other. Returns the
/// cursor's seq.
pub fn verify_replica(store: &dyn LedgerStore, roots: &RootSet) -> Result<u64, String> {
    verify_replica_with_progress(store, roots, &mut |_, _| {})
}

/// [`verify_replica`], telling `progress` the entries checked and the cursor's seq as it goes.
pub fn verify_replica_with_progress(
    store: &dyn LedgerStore,
    roots: &RootSet,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<u64, String> {
    let cursor = store.cursor().map_err(|e| e.to_string())?;
    let Some(raw) = store.signed_checkpoint().map_err(|e| e.to_string())? else {
        return if cursor == Cursor::EMPTY {
            Ok(0)
        } else {
            Err("cursor set but no checkpoint stored".into())
        };
    };
    let signed = SignedCheckpoint::decode(&raw).map_err(|e| e.to_string())?;
    let checkpoint = roots.verify(&signed).map_err(|e| e.to_string())?;
    let mut chain = ChainCheck::new(&Cursor::EMPTY, checkpoint).map_err(|e| e.to_string())?;
    let mut rules = RuleCheck::default();
    let mut issued = 0usize;
    while chain.seq() < cursor.seq {
        progress(chain.seq(), cursor.seq);
        let from = chain.seq() + 1;
        let entries = store
            .entries(from, from.saturating_add(VERIFY_CHUNK - 1))
            .map_err(|e| e.to_string())?;
        if entries.is_empty() {
            return Err(format!(
                "the replica holds no entry {from}, its cursor is at {}",
                cursor.seq
            ));
        }
        for bytes in &entries {
            let entry = chain.push(bytes).map_err(|e| e.to_string())?;
            apply_entry(&mut rules, &entry, &IndexConsistency).map_err(|e| e.to_string())?;
            if let Change::PermitIssued(p) = &entry.change {
                issued += 1;
                let held = store
                    .permits_by_holder(&HolderDigest(p.index.holder))
                    .map_err(|e| e.to_string())?;
                if !held
                    .iter()
                    .any(|h| h.seq == entry.seq && h.index == p.index)
                {
                    return Err(format!(
                        "entry {}: permit {} is not answered by the lookup by holder as issued",
                        entry.seq,
                        hex::encode(p.index.cti)
                    ));
                }
            }
        }
    }
    progress(cursor.seq, cursor.seq);
    let next = chain.finish().map_err(|e| e.to_string())?;
    let answered = store.permit_count();
    if answered != issued {
        return Err(format!(
            "the replica answers lookups with {answered} permits, the chain issued {issued}"
        ));
    }
    if next != cursor {
        return Err(format!(
            "cursor {} does not match the recomputed chain",
            cursor.seq
        ));
    }
    Ok(cursor.seq)
}

/// The ledger's rules over a replayed chain, holding of each permit only its cti (a million
/// signed texts need not be in memory to check that no cti is issued twice).
#[derive(Default)]
struct RuleCheck {
    permits: HashSet<Cti>,
    /// Person alerts by id, without their names (only the rules' state).
    person_alerts: HashMap<String, PersonAlertState>,
    rest: MemoryState,
}

impl LedgerState for RuleCheck {
    type Error = std::convert::Infallible;
    fn has_permit(&self, cti: &Cti) -> Result<bool, Self::Error> {
        Ok(self.permits.contains(cti))
    }
    fn insert_permit(&mut self, permit: &PermitRecord) -> Result<(), Self::Error> {
        self.permits.insert(permit.index.cti);
        Ok(())
    }
    fn revoke(&mut self, cti: &Cti, seq: u64) -> Result<(), Self::Error> {
        self.rest.revoke(cti, seq)
    }
    fn issuer_keys(&self, kid: &Kid) -> Result<Vec<LedgerIssuerKey>, Self::Error> {
        LedgerState::issuer_keys(&self.rest, kid)
    }
    fn set_issuer_keys(&mut self, kid: &Kid, keys: &[LedgerIssuerKey]) -> Result<(), Self::Error> {
        self.rest.set_issuer_keys(kid, keys)
    }
    fn terminal_keys(&self, terminal: &str) -> Result<Vec<TerminalKey>, Self::Error> {
        LedgerState::terminal_keys(&self.rest, terminal)
    }
    fn set_terminal_keys(
        &mut self,
        terminal: &str,
        keys: &[TerminalKey],
    ) -> Result<(), Self::Error> {
        self.rest.set_terminal_keys(terminal, keys)
    }
    fn alert(&self, id: u64) -> Result<Option<Alert>, Self::Error> {
        self.rest.alert(id)
    }
    fn insert_alert(&mut self, alert: &Alert) -> Result<(), Self::Error> {
        self.rest.insert_alert(alert)
    }
    fn remove_alert(&mut self, alert: &Alert) -> Result<(), Self::Error> {
        self.rest.remove_alert(alert)
    }
    fn insert_extension(&mut self, seq: u64, extension: &StayExtension) -> Result<(), Self::Error> {
        self.rest.insert_extension(seq, extension)
    }
    fn insert_registration(
        &mut self,
        seq: u64,
        registration: &Registration,
    ) -> Result<(), Self::Error> {
        self.rest.insert_registration(seq, registration)
    }
    fn officer(
        &self,
        officer_id: &str,
    ) -> Result<Option<crate::core::ledger::OfficerRecord>, Self::Error> {
        LedgerState::officer(&self.rest, officer_id)
    }
    fn set_officer(
        &mut self,
        officer: &crate::core::ledger::OfficerRecord,
    ) -> Result<(), Self::Error> {
        self.rest.set_officer(officer)
    }
    fn person_alert(&self, id: &str) -> Result<Option<PersonAlertState>, Self::Error> {
        Ok(self.person_alerts.get(id).copied())
    }
    fn insert_person_alert(
        &mut self,
        seq: u64,
        alert: &PersonAlertRaised,
    ) -> Result<(), Self::Error> {
        let state = PersonAlertState { seq, lifted: None };
        self.person_alerts.insert(alert.alert_id.clone(), state);
        Ok(())
    }
    fn lift_person_alert(&mut self, id: &str, state: &PersonAlertState) -> Result<(), Self::Error> {
        self.person_alerts.insert(id.to_owned(), *state);
        Ok(())
    }
    fn cscas_named(&self, subject: &[u8; 32]) -> Result<Vec<CscaRecord>, Self::Error> {
        self.rest.cscas_named(subject)
    }
    fn set_cscas_named(
        &mut self,
        subject: &[u8; 32],
        records: &[CscaRecord],
    ) -> Result<(), Self::Error> {
        self.rest.set_cscas_named(subject, records)
    }
    fn crl_of(&self, issuer: &[u8; 32]) -> Result<Option<CrlRecord>, Self::Error> {
        self.rest.crl_of(issuer)
    }
    fn set_crl(&mut self, issuer: &[u8; 32], record: &CrlRecord) -> Result<(), Self::Error> {
        self.rest.set_crl(issuer, record)
    }
}
