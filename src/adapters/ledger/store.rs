//! The replica in sled: one tree per entity, fixed-width big-endian keys, versioned CBOR values,
//! and every batch applied in one transaction together with the cursor, then flushed.

use std::path::Path;

use jiff::Timestamp;
use jiff::civil::Date;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::{Transactional, Tree};

use crate::core::document::HolderDigest;
use crate::core::ledger::state::{
    Alert, ApplyFailure, IssuerKey, LedgerState, PermitCheck, PermitRecord, TerminalKey,
    apply_entry,
};
use crate::core::ledger::{Cti, Cursor, Kid, Registration, StayExtension, VerifiedBatch};
use crate::ports::ledger::{LedgerStore, LedgerStoreError, LedgerView};

/// Default page cache; sled's own default (1 GiB) would dwarf a terminal's memory budget.
pub const CACHE_CAPACITY_DEFAULT: u64 = 64 * 1024 * 1024;
/// First byte of every stored value; bump when a record's shape changes.
const VALUE_VERSION: u8 = 1;
const META_APPLIED: &[u8] = b"applied";
const META_CHECKPOINT: &[u8] = b"checkpoint";

// Tree positions inside `SledLedger::trees` (and inside the transaction view).
const ENTRIES: usize = 0;
const PERMITS: usize = 1;
const PERMITS_BY_HOLDER: usize = 2;
const REVOKED: usize = 3;
const ISSUER_KEYS: usize = 4;
const TERMINAL_KEYS: usize = 5;
const ALERTS: usize = 6;
const ALERTS_BY_HOLDER: usize = 7;
const EXTENSIONS: usize = 8;
const REGISTRATIONS: usize = 9;
const META: usize = 10;
const TREE_NAMES: [&str; 11] = [
    "entries",
    "permits",
    "permits_by_holder",
    "revoked",
    "issuer_keys",
    "terminal_keys",
    "alerts",
    "alerts_by_holder",
    "extensions",
    "registrations",
    "meta",
];

/// The terminal's ledger replica.
#[derive(Clone)]
pub struct SledLedger {
    db: sled::Db,
    trees: Vec<Tree>,
}

fn backend(e: impl std::fmt::Display) -> LedgerStoreError {
    LedgerStoreError::Backend(e.to_string())
}

fn encode_value<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = vec![VALUE_VERSION];
    ciborium::into_writer(value, &mut out).expect("writing cbor into a Vec cannot fail");
    out
}

fn decode_value<T: DeserializeOwned>(
    what: &'static str,
    bytes: &[u8],
) -> Result<T, LedgerStoreError> {
    match bytes.split_first() {
        Some((&VALUE_VERSION, rest)) => {
            ciborium::from_reader(rest).map_err(|e| LedgerStoreError::Corrupt {
                what,
                reason: e.to_string(),
            })
        }
        Some((v, _)) => Err(LedgerStoreError::Corrupt {
            what,
            reason: format!("unknown value version {v}"),
        }),
        None => Err(LedgerStoreError::Corrupt {
            what,
            reason: "empty value".into(),
        }),
    }
}

fn holder_key(holder: &[u8; 32], tail: &[u8]) -> Vec<u8> {
    [holder.as_slice(), tail].concat()
}

impl SledLedger {
    /// Opens (or creates) the replica at `path`. Open once per process and share the handle.
    pub fn open(path: &Path, cache_capacity: u64) -> Result<Self, LedgerStoreError> {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(cache_capacity)
            .mode(sled::Mode::LowSpace)
            .open()
            .map_err(backend)?;
        let trees = TREE_NAMES
            .iter()
            .map(|name| db.open_tree(name))
            .collect::<Result<Vec<_>, _>>()
            .map_err(backend)?;
        Ok(Self { db, trees })
    }

    /// Bytes sled uses on disk.
    pub fn size_on_disk(&self) -> Result<u64, LedgerStoreError> {
        self.db.size_on_disk().map_err(backend)
    }

    fn scan_holder<T: DeserializeOwned>(
        &self,
        tree: usize,
        holder: &HolderDigest,
        what: &'static str,
    ) -> Result<Vec<T>, LedgerStoreError> {
        self.trees[tree]
            .scan_prefix(holder.0)
            .map(|kv| {
                let (_, v) = kv.map_err(backend)?;
                decode_value(what, &v)
            })
            .collect()
    }
}

/// `LedgerState` over the open transaction; store errors abort it.
struct TxState<'a> {
    t: &'a [TransactionalTree],
}

type TxError = ConflictableTransactionError<LedgerStoreError>;

fn tx_get<T: DeserializeOwned>(
    tree: &TransactionalTree,
    key: &[u8],
    what: &'static str,
) -> Result<Option<T>, TxError> {
    match tree.get(key)? {
        Some(v) => Ok(Some(
            decode_value(what, &v).map_err(ConflictableTransactionError::Abort)?,
        )),
        None => Ok(None),
    }
}

impl LedgerState for TxState<'_> {
    type Error = TxError;
    fn permit(&self, cti: &Cti) -> Result<Option<PermitRecord>, TxError> {
        tx_get(&self.t[PERMITS], cti, "permit")
    }
    fn insert_permit(&mut self, permit: &PermitRecord) -> Result<(), TxError> {
        self.t[PERMITS].insert(&permit.index.cti[..], encode_value(permit))?;
        self.t[PERMITS_BY_HOLDER].insert(
            holder_key(&permit.index.holder, &permit.index.cti),
            encode_value(&permit.index.cti),
        )?;
        Ok(())
    }
    fn revoke(&mut self, cti: &Cti, seq: u64) -> Result<(), TxError> {
        self.t[REVOKED].insert(&cti[..], &seq.to_be_bytes())?;
        Ok(())
    }
    fn issuer_keys(&self, kid: &Kid) -> Result<Vec<IssuerKey>, TxError> {
        Ok(tx_get(&self.t[ISSUER_KEYS], kid, "issuer keys")?.unwrap_or_default())
    }
    fn set_issuer_keys(&mut self, kid: &Kid, keys: &[IssuerKey]) -> Result<(), TxError> {
        self.t[ISSUER_KEYS].insert(&kid[..], encode_value(&keys))?;
        Ok(())
    }
    fn terminal_keys(&self, terminal: &str) -> Result<Vec<TerminalKey>, TxError> {
        Ok(
            tx_get(&self.t[TERMINAL_KEYS], terminal.as_bytes(), "terminal keys")?
                .unwrap_or_default(),
        )
    }
    fn set_terminal_keys(&mut self, terminal: &str, keys: &[TerminalKey]) -> Result<(), TxError> {
        self.t[TERMINAL_KEYS].insert(terminal.as_bytes(), encode_value(&keys))?;
        Ok(())
    }
    fn alert(&self, id: u64) -> Result<Option<Alert>, TxError> {
        tx_get(&self.t[ALERTS], &id.to_be_bytes(), "alert")
    }
    fn insert_alert(&mut self, alert: &Alert) -> Result<(), TxError> {
        self.t[ALERTS].insert(&alert.id.to_be_bytes(), encode_value(alert))?;
        self.t[ALERTS_BY_HOLDER].insert(
            holder_key(&alert.alert.holder, &alert.id.to_be_bytes()),
            encode_value(alert),
        )?;
        Ok(())
    }
    fn remove_alert(&mut self, alert: &Alert) -> Result<(), TxError> {
        self.t[ALERTS].remove(&alert.id.to_be_bytes())?;
        self.t[ALERTS_BY_HOLDER]
            .remove(holder_key(&alert.alert.holder, &alert.id.to_be_bytes()))?;
        Ok(())
    }
    fn insert_extension(&mut self, seq: u64, extension: &StayExtension) -> Result<(), TxError> {
        self.t[EXTENSIONS].insert(
            holder_key(&extension.holder, &seq.to_be_bytes()),
            encode_value(extension),
        )?;
        Ok(())
    }
    fn insert_registration(
        &mut self,
        seq: u64,
        registration: &Registration,
    ) -> Result<(), TxError> {
        self.t[REGISTRATIONS].insert(
            holder_key(&registration.holder, &seq.to_be_bytes()),
            encode_value(registration),
        )?;
        Ok(())
    }
}

impl LedgerView for SledLedger {
    fn permits_by_holder(
        &self,
        holder: &HolderDigest,
    ) -> Result<Vec<PermitRecord>, LedgerStoreError> {
        let ctis: Vec<Cti> = self.scan_holder(PERMITS_BY_HOLDER, holder, "permit index")?;
        let mut out = Vec::with_capacity(ctis.len());
        for cti in ctis {
            match LedgerView::permit(self, &cti)? {
                Some(p) => out.push(p),
                None => {
                    return Err(LedgerStoreError::Corrupt {
                        what: "permit index",
                        reason: format!("indexed permit {} is missing", hex::encode(cti)),
                    });
                }
            }
        }
        Ok(out)
    }
    fn permit(&self, cti: &[u8; 16]) -> Result<Option<PermitRecord>, LedgerStoreError> {
        match self.trees[PERMITS].get(cti).map_err(backend)? {
            Some(v) => decode_value("permit", &v).map(Some),
            None => Ok(None),
        }
    }
    fn is_revoked(&self, cti: &[u8; 16]) -> Result<bool, LedgerStoreError> {
        self.trees[REVOKED].contains_key(cti).map_err(backend)
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
        match self.trees[ISSUER_KEYS].get(kid).map_err(backend)? {
            Some(v) => decode_value("issuer keys", &v),
            None => Ok(Vec::new()),
        }
    }
    fn terminal_keys(&self, terminal_id: &str) -> Result<Vec<TerminalKey>, LedgerStoreError> {
        match self.trees[TERMINAL_KEYS]
            .get(terminal_id.as_bytes())
            .map_err(backend)?
        {
            Some(v) => decode_value("terminal keys", &v),
            None => Ok(Vec::new()),
        }
    }
    fn checkpoint_time(&self) -> Result<Option<Timestamp>, LedgerStoreError> {
        Ok(self.cursor()?.checkpoint.map(|c| c.time))
    }
}

impl LedgerStore for SledLedger {
    fn cursor(&self) -> Result<Cursor, LedgerStoreError> {
        match self.trees[META].get(META_APPLIED).map_err(backend)? {
            Some(v) => decode_value("cursor", &v),
            None => Ok(Cursor::EMPTY),
        }
    }

    fn apply(
        &self,
        batch: &VerifiedBatch,
        signed_checkpoint: &[u8],
        check: &dyn PermitCheck,
    ) -> Result<(), LedgerStoreError> {
        let first = batch
            .entries
            .first()
            .map_or(batch.next.seq, |(e, _)| e.seq - 1);
        let result = self.trees[..].transaction(|t| {
            // The cursor is re-read inside: a concurrent writer makes this batch stale, not wrong.
            let applied: Cursor =
                tx_get(&t[META], META_APPLIED, "cursor")?.unwrap_or(Cursor::EMPTY);
            if applied.seq != first {
                return Err(ConflictableTransactionError::Abort(
                    LedgerStoreError::CursorMoved {
                        expected: first,
                        found: applied.seq,
                    },
                ));
            }
            let mut state = TxState { t };
            for (entry, bytes) in &batch.entries {
                t[ENTRIES].insert(&entry.seq.to_be_bytes(), bytes.as_slice())?;
                apply_entry(&mut state, entry, check).map_err(|f| match f {
                    ApplyFailure::Rejected { seq, rejection } => {
                        ConflictableTransactionError::Abort(LedgerStoreError::Rejected {
                            seq,
                            rejection,
                        })
                    }
                    ApplyFailure::Store(e) => e,
                })?;
            }
            t[META].insert(META_APPLIED, encode_value(&batch.next))?;
            t[META].insert(META_CHECKPOINT, signed_checkpoint)?;
            Ok(())
        });
        match result {
            Ok(()) => {}
            Err(TransactionError::Abort(e)) => return Err(e),
            Err(TransactionError::Storage(e)) => return Err(backend(e)),
        }
        self.db.flush().map_err(backend)?;
        Ok(())
    }

    fn entries(&self, from: u64, to: u64) -> Result<Vec<Vec<u8>>, LedgerStoreError> {
        self.trees[ENTRIES]
            .range(from.to_be_bytes()..=to.to_be_bytes())
            .map(|kv| kv.map(|(_, v)| v.to_vec()).map_err(backend))
            .collect()
    }

    fn signed_checkpoint(&self) -> Result<Option<Vec<u8>>, LedgerStoreError> {
        Ok(self.trees[META]
            .get(META_CHECKPOINT)
            .map_err(backend)?
            .map(|v| v.to_vec()))
    }
}
