//! `ledger publish` lines of the CSCA kinds: the body may name a file (`{"file": "…"}`, relative
//! to the entries file) that the tool reads into the entry, and every CSCA change is checked
//! before anything is published, as terminals will check it on apply.

use std::path::Path;

use der::Encode;
use jiff::Timestamp;
use serde_json::Value;

use crate::core::ledger::state::{ApplyFailure, MemoryState, Rejection, apply_entry};
use crate::core::ledger::{ANY_ENTRY_BYTES_MAX, Change, Entry, IndexConsistency};
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

/// Refuses a publication whose CSCA changes a terminal would refuse for what needs no state:
/// the master list's signature, that certificates and CRLs read, the size. What depends on the
/// CSCAs and CRLs already held is judged by `ledger_central::publish` against central's replica
/// and the stream past it.
pub fn precheck(changes: &[Change], now: Timestamp) -> Result<(), String> {
    let mut state = MemoryState::default();
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
                if !needs_state {
                    return Err(refused(rejection.to_string()));
                }
            }
            Err(ApplyFailure::Store(never)) => match never {},
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::lds::chip_pki::{self, CertSpec, Hash, KeyKind, SignedSpec, Style, Y2020};

    fn change(line: &str, base: &Path) -> Result<Change, String> {
        let mut value: Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
        body_from_file(&mut value, base)?;
        serde_json::from_value(value).map_err(|e| e.to_string())
    }

    #[test]
    fn csca_lines_name_files_and_are_checked_before_publishing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let key = chip_pki::key(KeyKind::P256, 50);
        let csca = chip_pki::certificate(&CertSpec::csca("AA", 50), &key, None);
        std::fs::write(dir.path().join("csca.pem"), csca.to_pem().expect("PEM")).expect("write");
        let crl = chip_pki::crl(&csca, &key, &[3], Y2020 + 10);
        std::fs::write(dir.path().join("aa.crl"), &crl).expect("write");
        let signer_key = chip_pki::key(KeyKind::P256, 51);
        let signer =
            chip_pki::certificate(&CertSpec::dsc("AA", 51), &signer_key, Some((&csca, &key)));
        let der = csca.to_der().expect("DER");
        let spec = SignedSpec::new(Hash::Sha256, Style::Ecdsa, Some(Y2020));
        let list = chip_pki::master_list(std::slice::from_ref(&der), &signer, &signer_key, &spec);
        std::fs::write(dir.path().join("ml.der"), &list).expect("write");
        let mut forged_spec = spec.clone();
        forged_spec.corrupt_signature = true;
        let forged = chip_pki::master_list(
            std::slice::from_ref(&der),
            &signer,
            &signer_key,
            &forged_spec,
        );
        std::fs::write(dir.path().join("forged.der"), &forged).expect("write");

        let added = change(
            r#"{"kind":"csca_added","body":{"file":"csca.pem"}}"#,
            dir.path(),
        )
        .expect("csca_added");
        assert_eq!(
            added,
            Change::CscaAdded(crate::core::ledger::CscaCertificate {
                certificate: der.clone()
            })
        );
        let crl_change = change(
            r#"{"kind":"csca_crl","body":{"file":"aa.crl"}}"#,
            dir.path(),
        )
        .expect("crl");
        let list_change = change(
            r#"{"kind":"csca_master_list","body":{"file":"ml.der"}}"#,
            dir.path(),
        )
        .expect("list");
        let now: Timestamp = "2026-01-01T00:00:00Z".parse().expect("time");
        precheck(&[list_change.clone(), crl_change.clone()], now).expect("valid publication");
        precheck(&[added, crl_change], now).expect("csca then its crl");

        let forged = change(
            r#"{"kind":"csca_master_list","body":{"file":"forged.der"}}"#,
            dir.path(),
        )
        .expect("parses");
        let refused = precheck(&[forged], now).expect_err("forged list");
        assert!(refused.contains("nothing published"), "{refused}");
        let missing = change(
            r#"{"kind":"csca_added","body":{"file":"absent.pem"}}"#,
            dir.path(),
        );
        assert!(missing.is_err_and(|e| e.contains("absent.pem")));
    }
}
