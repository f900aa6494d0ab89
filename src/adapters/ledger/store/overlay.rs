//! The visible state plus what a batch has staged, as the core's ledger state rules see it
//! while an apply run checks each entry (nothing written until the whole chunk passes).

use super::*;

/// A key's value as an apply run sees it and as readers see it.
#[derive(Default)]
pub(super) struct RowSides {
    pub(super) current: Option<Vec<u8>>,
    pub(super) visible: Option<Vec<u8>>,
}

/// A row the batch being applied will write: the new value and the one visible before it.
pub(super) struct PendingRow {
    pub(super) now: Option<Vec<u8>>,
    pub(super) before: Option<Vec<u8>>,
}

/// A batch's rows by (tree, key), in the order they are written.
pub(super) type PendingRows = BTreeMap<(usize, Vec<u8>), PendingRow>;

/// `LedgerState` over the store as the run has left it plus the rows of the chunk being checked;
/// nothing of the chunk reaches sled until every entry of it has been accepted.
pub(super) struct Overlay<'a> {
    pub(super) store: &'a SledLedger,
    pub(super) stamp: RunStamp,
    /// Ordered by tree and key so that the write phase inserts in key order.
    pub(super) rows: PendingRows,
    /// Issuer keys as the run has left them, decoded once: every permit check reads them.
    pub(super) issuer_keys: RefCell<HashMap<Kid, Vec<IssuerKey>>>,
    /// The chunk's permits, for the directory once the run is published.
    pub(super) permits: Vec<HeldPermit>,
    /// Ctis issued by earlier chunks of the run.
    pub(super) run_ctis: &'a HashSet<Cti>,
    /// Ctis issued by this chunk.
    pub(super) chunk_ctis: HashSet<Cti>,
}

impl Overlay<'_> {
    pub(super) fn get<T: DeserializeOwned>(
        &self,
        tree: usize,
        key: &[u8],
        what: &'static str,
    ) -> Result<Option<T>, LedgerStoreError> {
        let raw = match self.rows.get(&(tree, key.to_vec())) {
            Some(row) => row.now.clone(),
            None => self.store.run_sides(tree, key, &self.stamp, what)?.current,
        };
        raw.map(|bytes| decode(what, &bytes)).transpose()
    }

    /// Sets a row that may already hold a visible value (which readers keep seeing until the
    /// cursor moves).
    pub(super) fn put<T: Serialize>(
        &mut self,
        tree: usize,
        key: Vec<u8>,
        value: Option<&T>,
        what: &'static str,
    ) -> Result<(), LedgerStoreError> {
        let now = value.map(encode);
        match self.rows.get_mut(&(tree, key.clone())) {
            Some(row) => row.now = now,
            None => {
                let before = self.store.run_sides(tree, &key, &self.stamp, what)?.visible;
                self.rows.insert((tree, key), PendingRow { now, before });
            }
        }
        Ok(())
    }

    /// Sets a row that has no value: its key is new in this run (a new cti, a seq past the
    /// cursor), so there is nothing to read first.
    pub(super) fn put_new<T: Serialize>(&mut self, tree: usize, key: Vec<u8>, value: &T) {
        let now = Some(encode(value));
        match self.rows.get_mut(&(tree, key.clone())) {
            Some(row) => row.now = now,
            None => {
                self.rows
                    .insert((tree, key), PendingRow { now, before: None });
            }
        }
    }
}

impl LedgerState for Overlay<'_> {
    type Error = LedgerStoreError;
    fn has_permit(&self, cti: &Cti) -> Result<bool, LedgerStoreError> {
        if self.chunk_ctis.contains(cti) || self.run_ctis.contains(cti) {
            return Ok(true);
        }
        // The directory holds exactly the permits visible when the run began.
        Ok(self.store.issued(cti)?.is_some())
    }
    fn insert_permit(&mut self, permit: &PermitRecord) -> Result<(), LedgerStoreError> {
        // The signed text stays in its entry only: it is read when the permit is used.
        self.chunk_ctis.insert(permit.index.cti);
        self.permits.push(permit.held());
        Ok(())
    }
    fn revoke(&mut self, cti: &Cti, seq: u64) -> Result<(), LedgerStoreError> {
        self.put(REVOKED, cti.to_vec(), Some(&seq), "revocation")
    }
    fn issuer_keys(&self, kid: &Kid) -> Result<Vec<IssuerKey>, LedgerStoreError> {
        if let Some(keys) = self.issuer_keys.borrow().get(kid) {
            return Ok(keys.clone());
        }
        let keys: Vec<IssuerKey> = self
            .get(ISSUER_KEYS, kid, "issuer keys")?
            .unwrap_or_default();
        self.issuer_keys.borrow_mut().insert(*kid, keys.clone());
        Ok(keys)
    }
    fn set_issuer_keys(&mut self, kid: &Kid, keys: &[IssuerKey]) -> Result<(), LedgerStoreError> {
        self.issuer_keys.borrow_mut().insert(*kid, keys.to_vec());
        self.put(ISSUER_KEYS, kid.to_vec(), Some(&keys), "issuer keys")
    }
    fn terminal_keys(&self, terminal: &str) -> Result<Vec<TerminalKey>, LedgerStoreError> {
        Ok(self
            .get(TERMINAL_KEYS, terminal.as_bytes(), "terminal keys")?
            .unwrap_or_default())
    }
    fn set_terminal_keys(
        &mut self,
        terminal: &str,
        keys: &[TerminalKey],
    ) -> Result<(), LedgerStoreError> {
        self.put(
            TERMINAL_KEYS,
            terminal.as_bytes().to_vec(),
            Some(&keys),
            "terminal keys",
        )
    }
    fn alert(&self, id: u64) -> Result<Option<Alert>, LedgerStoreError> {
        self.get(ALERTS, &id.to_be_bytes(), "alert")
    }
    fn insert_alert(&mut self, alert: &Alert) -> Result<(), LedgerStoreError> {
        // An alert's id is the seq of the entry raising it: past the cursor, so new.
        self.put_new(ALERTS, alert.id.to_be_bytes().to_vec(), alert);
        self.put_new(
            ALERTS_BY_HOLDER,
            holder_key(&alert.alert.holder, &alert.id.to_be_bytes()),
            alert,
        );
        Ok(())
    }
    fn remove_alert(&mut self, alert: &Alert) -> Result<(), LedgerStoreError> {
        self.put::<Alert>(ALERTS, alert.id.to_be_bytes().to_vec(), None, "alert")?;
        self.put::<Alert>(
            ALERTS_BY_HOLDER,
            holder_key(&alert.alert.holder, &alert.id.to_be_bytes()),
            None,
            "alert",
        )
    }
    fn insert_extension(
        &mut self,
        seq: u64,
        extension: &StayExtension,
    ) -> Result<(), LedgerStoreError> {
        self.put_new(
            EXTENSIONS,
            holder_key(&extension.holder, &seq.to_be_bytes()),
            extension,
        );
        Ok(())
    }
    fn insert_registration(
        &mut self,
        seq: u64,
        registration: &Registration,
    ) -> Result<(), LedgerStoreError> {
        self.put_new(
            REGISTRATIONS,
            holder_key(&registration.holder, &seq.to_be_bytes()),
            registration,
        );
        Ok(())
    }
    fn officer(&self, officer_id: &str) -> Result<Option<OfficerRecord>, LedgerStoreError> {
        self.get(OFFICERS, officer_id.as_bytes(), "officer")
    }
    fn set_officer(&mut self, officer: &OfficerRecord) -> Result<(), LedgerStoreError> {
        let key = officer.enrolled.officer_id.as_bytes().to_vec();
        self.put(OFFICERS, key, Some(officer), "officer")
    }
    fn person_alert(&self, id: &str) -> Result<Option<PersonAlertState>, LedgerStoreError> {
        self.get(PERSON_ALERTS, id.as_bytes(), "person alert")
    }
    fn insert_person_alert(
        &mut self,
        seq: u64,
        alert: &PersonAlertRaised,
    ) -> Result<(), LedgerStoreError> {
        // Only where the alert was raised: its names stay in the entry, read on a hit.
        let state = PersonAlertState { seq, lifted: None };
        self.put(
            PERSON_ALERTS,
            alert.alert_id.as_bytes().to_vec(),
            Some(&state),
            "person alert",
        )
    }
    fn lift_person_alert(
        &mut self,
        id: &str,
        state: &PersonAlertState,
    ) -> Result<(), LedgerStoreError> {
        self.put(
            PERSON_ALERTS,
            id.as_bytes().to_vec(),
            Some(state),
            "person alert",
        )
    }
    fn cscas_named(&self, subject: &[u8; 32]) -> Result<Vec<CscaRecord>, LedgerStoreError> {
        Ok(self.get(CSCAS, subject, "cscas")?.unwrap_or_default())
    }
    fn set_cscas_named(
        &mut self,
        subject: &[u8; 32],
        records: &[CscaRecord],
    ) -> Result<(), LedgerStoreError> {
        self.put(CSCAS, subject.to_vec(), Some(&records), "cscas")
    }
    fn crl_of(&self, issuer: &[u8; 32]) -> Result<Option<CrlRecord>, LedgerStoreError> {
        self.get(CRLS, issuer, "crl")
    }
    fn set_crl(&mut self, issuer: &[u8; 32], record: &CrlRecord) -> Result<(), LedgerStoreError> {
        self.put(CRLS, issuer.to_vec(), Some(record), "crl")
    }
}
