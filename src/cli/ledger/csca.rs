//! `ledger publish` lines of the CSCA kinds: the body may name a file (`{"file": "…"}`, relative
//! to the entries file) that the tool reads into the entry, and every CSCA change is checked
//! before anything is published, as terminals will check it on apply.

use std::path::Path;

use der::Encode;
use jiff::Timestamp;
use serde_json::Value;

use crate::core::ledger::csca::name_key;
use crate::core::ledger::state::{ApplyFailure, MemoryState, Rejection, apply_entry};
use crate::core::ledger::{ANY_ENTRY_BYTES_MAX, Change, CscaTrust, Entry, IndexConsistency};
use crate::core::passive_auth::{read_certificates, read_crl, read_master_list};

/// Replaces `"file"` in the body of a `csca_*` line by the field its kind carries.
pub fn body_from_file(value: &mut Value, base: &Path) -> Result<(), String> {
    let field = match value.get("kind").and_then(Value::as_str) {
        Some("csca_master_list") => "master_list",
        Some("csca_added" | "csca_retired") => "certificate",
        Some("csca_crl") => "crl",
        _ => return Ok(()),
    };
    let Some(body) = value.get_mut("body").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    let Some(file) = body.remove("file") else {
        return Ok(());
    };
    let file = base.join(file.as_str().ok_or("`file` must be a path")?);
    let bytes = std::fs::read(&file).map_err(|e| format!("reading {}: {e}", file.display()))?;
    let at = |e: String| format!("{}: {e}", file.display());
    let der = match field {
        "master_list" => bytes,
        "certificate" => {
            let certificates = read_certificates(&bytes).map_err(|e| at(e.to_string()))?;
            let [certificate] = certificates.as_slice() else {
                return Err(at(format!(
                    "holds {} certificates; name one per line",
                    certificates.len()
                )));
            };
            certificate.to_der().map_err(|e| at(e.to_string()))?
        }
        _ => read_crl(&bytes)
            .and_then(|crl| {
                crl.to_der()
                    .map_err(|e| crate::core::passive_auth::TrustFileError::Unreadable {
                        kind: "CRL",
                        reason: e.to_string(),
                    })
            })
            .map_err(|e| at(e.to_string()))?,
    };
    if body.contains_key(field) {
        return Err(format!("`{field}` and `file` both given: name one"));
    }
    body.insert(field.into(), Value::String(hex::encode(der)));
    Ok(())
}

/// Refuses a publication whose CSCA changes a terminal would refuse (a refused entry stops
/// every terminal's replication). Without the replica (`trust: None`) only what needs no state
/// is checked: the master list's signature, that certificates and CRLs read, the size.
pub fn precheck(
    changes: &[Change],
    trust: Option<&CscaTrust>,
    now: Timestamp,
) -> Result<(), String> {
    let mut state = MemoryState::default();
    if let Some(trust) = trust {
        seed(&mut state, trust)?;
    }
    for (n, change) in changes.iter().enumerate() {
        let entry = Entry {
            seq: n as u64 + 1,
            prev: [0; 32],
            time: now,
            change: change.clone(),
        };
        let refused = |reason: String| {
            format!(
                "{} (change {}) would be refused by terminals: {reason}; nothing published",
                change.kind(),
                n + 1
            )
        };
        match change {
            Change::CscaMasterList(m) => {
                let list = read_master_list(&m.master_list);
                if !list.signature_valid {
                    return Err(refused(list.errors.join("; ")));
                }
            }
            Change::CscaAdded(_) | Change::CscaRetired(_) | Change::CscaCrl(_) => {}
            _ => continue,
        }
        if entry.encode().len() > ANY_ENTRY_BYTES_MAX {
            return Err(refused(format!(
                "larger than {ANY_ENTRY_BYTES_MAX} bytes encoded"
            )));
        }
        match apply_entry(&mut state, &entry, &IndexConsistency) {
            Ok(()) => {}
            Err(ApplyFailure::Rejected { rejection, .. }) => {
                // Without the replica, what was published before is not known.
                let needs_state = matches!(
                    rejection,
                    Rejection::UnknownCsca { .. }
                        | Rejection::CrlIssuerUnknown { .. }
                        | Rejection::CrlOlder { .. }
                );
                if trust.is_some() || !needs_state {
                    return Err(refused(rejection.to_string()));
                }
            }
            Err(ApplyFailure::Store(never)) => match never {},
        }
    }
    Ok(())
}

/// The replica's CSCAs and CRLs as a state the rules run over.
fn seed(state: &mut MemoryState, trust: &CscaTrust) -> Result<(), String> {
    for record in &trust.cscas {
        let certificate = <x509_cert::Certificate as der::Decode>::from_der(&record.certificate)
            .map_err(|e| format!("the replica holds an unreadable csca: {e}"))?;
        let key = name_key(&certificate.tbs_certificate.subject).map_err(|e| e.to_string())?;
        state.cscas.entry(key).or_default().push(record.clone());
    }
    for record in &trust.crls {
        let crl = <x509_cert::crl::CertificateList as der::Decode>::from_der(&record.crl)
            .map_err(|e| format!("the replica holds an unreadable crl: {e}"))?;
        let key = name_key(&crl.tbs_cert_list.issuer).map_err(|e| e.to_string())?;
        state.crls.insert(key, record.clone());
    }
    Ok(())
}
