//! What the replica tells a technician, as JSON: its cursor and age (`status`) and what it holds
//! about one document or permit (`lookup`). `checkpointctl ledger status|lookup` prints it from a
//! replica it opened, and the running daemon serves the same from its own
//! (`GET /api/v1/ledger/status|lookup`), so both answers are one function's.

use jiff::Timestamp;
use jiff::civil::Date;
use serde_json::{Value, json};

use crate::core::document::HolderDigest;
use crate::core::ledger::HeldPermit;
use crate::ports::ledger::{LedgerStore, LedgerStoreError, LedgerView};

/// What `lookup` looks for: a travel document or a permit id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupKey {
    /// `ISSUING_STATE:NUMBER`, as the holder digest is computed from it.
    Document {
        /// The issuing state.
        state: String,
        /// The document number.
        number: String,
    },
    /// The permit id (CWT `cti`).
    Cti([u8; 16]),
}

impl LookupKey {
    /// Reads `--document STATE:NUMBER` or `--cti HEX` (exactly one of them).
    pub fn parse(document: Option<&str>, cti: Option<&str>) -> Result<Self, String> {
        match (document, cti) {
            (Some(_), Some(_)) => Err("give --document or --cti, not both".into()),
            (None, Some(cti)) => {
                let raw = hex::decode(cti).map_err(|e| format!("--cti: {e}"))?;
                let cti: [u8; 16] = raw
                    .as_slice()
                    .try_into()
                    .map_err(|_| "--cti must be 16 bytes (32 hex digits)")?;
                Ok(Self::Cti(cti))
            }
            (Some(document), None) => {
                let (state, number) = document
                    .split_once(':')
                    .ok_or("--document must be STATE:NUMBER")?;
                Ok(Self::Document {
                    state: state.to_owned(),
                    number: number.to_owned(),
                })
            }
            (None, None) => Err("give --document or --cti".into()),
        }
    }
}

/// The replica's cursor, permit count and checkpoint, aged at `now`; `stale` past
/// `max_age_secs` (or before the first checkpoint).
pub fn status(
    store: &dyn LedgerStore,
    now: Timestamp,
    max_age_secs: i64,
) -> Result<Value, LedgerStoreError> {
    let cursor = store.cursor()?;
    let age = cursor
        .checkpoint
        .map(|c| now.as_second() - c.time.as_second());
    Ok(json!({
        "applied_seq": cursor.seq,
        "applied_hash": hex::encode(cursor.hash),
        "permits": store.permit_count(),
        "checkpoint_size": cursor.checkpoint.map(|c| c.size),
        "checkpoint_time": cursor.checkpoint.map(|c| c.time.to_string()),
        "age_seconds": age,
        "stale": age.is_none_or(|a| a > max_age_secs),
    }))
}

/// What the replica holds about `key`: the permit and whether it is revoked, or a holder's
/// permits, alerts in force on `day`, stay extensions and registrations.
pub fn lookup(
    store: &dyn LedgerView,
    key: &LookupKey,
    day: Date,
) -> Result<Value, LedgerStoreError> {
    let (state, number) = match key {
        LookupKey::Cti(cti) => {
            let permit = store.permit(cti)?;
            return Ok(json!({
                "cti": hex::encode(cti),
                "found": permit.is_some(),
                "revoked": store.is_revoked(cti)?,
                "permit": permit.map(|p| permit_json(&p.held())),
            }));
        }
        LookupKey::Document { state, number } => (state, number),
    };
    let holder = HolderDigest::of(state, number);
    let mut permits = Vec::new();
    for p in &store.permits_by_holder(&holder)? {
        let mut v = permit_json(p);
        v["revoked"] = json!(store.is_revoked(&p.index.cti)?);
        permits.push(v);
    }
    let alerts = store.active_alerts(&holder, day)?;
    let extensions = store.stay_extensions(&holder)?;
    let registrations = store.registrations(&holder)?;
    Ok(json!({
        "holder": hex::encode(holder.0),
        "permits": permits,
        "alerts": alerts.iter().map(|a| json!({"id": a.id, "alert": a.alert.alert, "note": a.alert.note})).collect::<Vec<_>>(),
        "stay_extensions": extensions.iter().map(|e| json!({"until": e.until, "reference": e.reference})).collect::<Vec<_>>(),
        "registrations": registrations.iter().map(|r| json!({"valid_from": r.valid_from, "valid_until": r.valid_until, "place": r.place})).collect::<Vec<_>>(),
    }))
}

fn permit_json(p: &HeldPermit) -> Value {
    json!({
        "cti": hex::encode(p.index.cti),
        "permit_type": p.index.permit_type.code(),
        "valid_from": p.index.valid_from,
        "valid_until": p.index.valid_until,
        "seq": p.seq,
    })
}
