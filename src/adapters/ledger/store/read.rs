//! Reading the replica at the applied cursor: each row's visible side, the files up to the
//! cursor, and the `LedgerView` the lane and the booth ask.

use super::*;

/// Entries read at a time when the lane's watchlist catches up.
pub(super) const PERSON_ALERT_READ_CHUNK: u64 = 4096;

impl SledLedger {
    /// The applied permit issue of this cti, if any: the directory names candidate entries by
    /// the cti's first bytes and the entry itself settles it.
    pub(super) fn issued(
        &self,
        cti: &Cti,
    ) -> Result<Option<(u64, PermitIssued)>, LedgerStoreError> {
        for seq in self.directory.seqs_of_cti(cti) {
            if let Some(p) = self.permit_issue(seq)?
                && p.index.cti == *cti
            {
                return Ok(Some((seq, p)));
            }
        }
        Ok(None)
    }

    /// The permit issue entry `seq` holds (`None` for another kind of entry). The caller knows
    /// `seq` is applied.
    pub(super) fn permit_issue(&self, seq: u64) -> Result<Option<PermitIssued>, LedgerStoreError> {
        let bytes = self.files.read_entry(seq)?;
        match Entry::decode(&bytes) {
            Ok(Entry {
                change: Change::PermitIssued(p),
                ..
            }) => Ok(Some(p)),
            Ok(_) => Ok(None),
            Err(e) => Err(corrupt("entry", format!("entry {seq}: {e}"))),
        }
    }

    pub(super) fn applied(&self) -> Applied {
        // A poisoned lock only means a writer panicked after a complete assignment.
        match self.applied.read() {
            Ok(a) => a.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The CBOR under `key` as the run sees it (its own staged value, else the value visible at
    /// the cursor it started from), and as readers see it until the run ends.
    pub(super) fn run_sides(
        &self,
        tree: usize,
        key: &[u8],
        stamp: &RunStamp,
        what: &'static str,
    ) -> Result<RowSides, LedgerStoreError> {
        let Some(v) = self.trees[tree].get(key).map_err(backend)? else {
            return Ok(RowSides::default());
        };
        let row = Row::decode(what, &v)?;
        let visible = row.at(stamp.applied).map(<[u8]>::to_vec);
        let current = if row.seq == stamp.last && row.run == stamp.run {
            row.now.map(<[u8]>::to_vec)
        } else {
            visible.clone()
        };
        Ok(RowSides { current, visible })
    }

    pub(super) fn visible<T: DeserializeOwned>(
        &self,
        tree: usize,
        key: &[u8],
        what: &'static str,
    ) -> Result<Option<T>, LedgerStoreError> {
        let applied = self.applied_seq.load(Ordering::Acquire);
        match self.trees[tree].get(key).map_err(backend)? {
            Some(v) => Row::decode(what, &v)?
                .at(applied)
                .map(|bytes| decode(what, bytes))
                .transpose(),
            None => Ok(None),
        }
    }

    /// Every value of `tree` visible at the cursor.
    pub(super) fn scan_all<T: DeserializeOwned>(
        &self,
        tree: usize,
        what: &'static str,
    ) -> Result<Vec<T>, LedgerStoreError> {
        let applied = self.applied_seq.load(Ordering::Acquire);
        let mut out = Vec::new();
        for kv in self.trees[tree].iter() {
            let (_, v) = kv.map_err(backend)?;
            if let Some(bytes) = Row::decode(what, &v)?.at(applied) {
                out.push(decode(what, bytes)?);
            }
        }
        Ok(out)
    }

    pub(super) fn scan_holder<T: DeserializeOwned>(
        &self,
        tree: usize,
        holder: &HolderDigest,
        what: &'static str,
    ) -> Result<Vec<T>, LedgerStoreError> {
        let applied = self.applied_seq.load(Ordering::Acquire);
        let mut out = Vec::new();
        for kv in self.trees[tree].scan_prefix(holder.0) {
            let (_, v) = kv.map_err(backend)?;
            if let Some(bytes) = Row::decode(what, &v)?.at(applied) {
                out.push(decode(what, bytes)?);
            }
        }
        Ok(out)
    }
}

impl SledLedger {
    /// The applied CSCAs (retired ones included) whose subject name hashes to `subject`.
    pub fn cscas_named(&self, subject: &[u8; 32]) -> Result<Vec<CscaRecord>, LedgerStoreError> {
        Ok(self.visible(CSCAS, subject, "cscas")?.unwrap_or_default())
    }

    /// The applied CRL of the issuer name hashing to `issuer`.
    pub fn crl_of(&self, issuer: &[u8; 32]) -> Result<Option<CrlRecord>, LedgerStoreError> {
        self.visible(CRLS, issuer, "crl")
    }

    /// The alert raised by entry `id`, while it is not lifted (as applied up to the cursor).
    pub fn alert_by_id(&self, id: u64) -> Result<Option<Alert>, LedgerStoreError> {
        self.visible(ALERTS, &id.to_be_bytes(), "alert")
    }
}

impl LedgerView for SledLedger {
    fn permits_by_holder(
        &self,
        holder: &HolderDigest,
    ) -> Result<Vec<HeldPermit>, LedgerStoreError> {
        Ok(self.directory.permits_of(holder))
    }
    fn permit_text(&self, seq: u64) -> Result<Option<String>, LedgerStoreError> {
        // Entries past the cursor may be left over from a batch cut off by a crash.
        if seq == 0 || seq > self.applied_seq.load(Ordering::Acquire) {
            return Ok(None);
        }
        Ok(self.permit_issue(seq)?.map(|p| p.bp1))
    }
    fn permit(&self, cti: &[u8; 16]) -> Result<Option<PermitRecord>, LedgerStoreError> {
        Ok(self.issued(cti)?.map(|(seq, p)| PermitRecord {
            index: p.index,
            bp1: p.bp1,
            seq,
        }))
    }
    fn is_revoked(&self, cti: &[u8; 16]) -> Result<bool, LedgerStoreError> {
        Ok(self.visible::<u64>(REVOKED, cti, "revocation")?.is_some())
    }
    fn active_alerts(
        &self,
        holder: &HolderDigest,
        day: Date,
    ) -> Result<Vec<Alert>, LedgerStoreError> {
        let alerts: Vec<Alert> = self.scan_holder(ALERTS_BY_HOLDER, holder, "alert")?;
        Ok(alerts.into_iter().filter(|a| a.is_active_on(day)).collect())
    }
    fn stay_extensions(
        &self,
        holder: &HolderDigest,
    ) -> Result<Vec<StayExtension>, LedgerStoreError> {
        self.scan_holder(EXTENSIONS, holder, "stay extension")
    }
    fn registrations(&self, holder: &HolderDigest) -> Result<Vec<Registration>, LedgerStoreError> {
        self.scan_holder(REGISTRATIONS, holder, "registration")
    }
    fn issuer_keys(&self, kid: &Kid) -> Result<Vec<IssuerKey>, LedgerStoreError> {
        Ok(self
            .visible(ISSUER_KEYS, kid, "issuer keys")?
            .unwrap_or_default())
    }
    fn terminal_keys(&self, terminal_id: &str) -> Result<Vec<TerminalKey>, LedgerStoreError> {
        Ok(self
            .visible(TERMINAL_KEYS, terminal_id.as_bytes(), "terminal keys")?
            .unwrap_or_default())
    }
    fn officer(&self, officer_id: &str) -> Result<Option<OfficerRecord>, LedgerStoreError> {
        self.visible(OFFICERS, officer_id.as_bytes(), "officer")
    }
    fn checkpoint_time(&self) -> Result<Option<Timestamp>, LedgerStoreError> {
        Ok(self.applied().cursor.checkpoint.map(|c| c.time))
    }
    fn csca_trust(&self) -> Result<CscaTrust, LedgerStoreError> {
        let mut trust = CscaTrust {
            cscas: self
                .scan_all::<Vec<CscaRecord>>(CSCAS, "cscas")?
                .into_iter()
                .flatten()
                .collect(),
            crls: self.scan_all(CRLS, "crl")?,
        };
        trust.cscas.sort_by_key(|r| r.added_seq);
        Ok(trust)
    }
    fn applied_seq(&self) -> Result<Option<u64>, LedgerStoreError> {
        Ok(Some(self.applied_seq.load(Ordering::Acquire)))
    }
    fn person_alert_changes(
        &self,
        after: u64,
        max: u64,
    ) -> Result<PersonAlertChanges, LedgerStoreError> {
        let applied = self.applied_seq.load(Ordering::Acquire);
        let to = applied.min(after.saturating_add(max));
        let mut changes = PersonAlertChanges {
            through: to.max(after),
            changes: Vec::new(),
        };
        // In chunks, so a catch-up over a million entries never holds them all at once.
        let mut from = after + 1;
        while from <= to {
            let last = to.min(from + PERSON_ALERT_READ_CHUNK - 1);
            for (seq, bytes) in (from..=last).zip(self.files.read_entries(from, last)?) {
                let entry = Entry::decode(&bytes)
                    .map_err(|e| corrupt("entry", format!("entry {seq}: {e}")))?;
                changes.note(seq, entry.change);
            }
            from = last + 1;
        }
        Ok(changes)
    }
    fn person_alert(&self, id: &str) -> Result<Option<PersonAlertRecord>, LedgerStoreError> {
        let Some(state) =
            self.visible::<PersonAlertState>(PERSON_ALERTS, id.as_bytes(), "person alert")?
        else {
            return Ok(None);
        };
        let bytes = self.files.read_entry(state.seq)?;
        match Entry::decode(&bytes) {
            Ok(Entry {
                change: Change::PersonAlert(alert),
                ..
            }) if alert.alert_id == id => Ok(Some(PersonAlertRecord { state, alert })),
            Ok(_) => Err(corrupt(
                "person alert",
                format!("entry {} does not raise person alert {id:?}", state.seq),
            )),
            Err(e) => Err(corrupt("entry", format!("entry {}: {e}", state.seq))),
        }
    }
}
