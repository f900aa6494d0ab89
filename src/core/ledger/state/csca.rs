//! CSCA trust in the ledger: the apply rules of the `csca_*` kinds (a master list's signer
//! verified, single certificates, retirement, CRLs signed by a held CSCA) and the
//! `core::passive_auth::TrustStore` a terminal builds from what the replica holds.

use der::{Decode, Encode};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use x509_cert::Certificate;
use x509_cert::crl::CertificateList;
use x509_cert::name::Name;

use super::{ApplyFailure, LedgerState, Rejection};
use crate::core::lds::x509;
use crate::core::passive_auth::{TrustStore, read_master_list};

/// A CSCA as the replica keeps it: the certificate, the entry that added it (a master list or a
/// single certificate) and, once retired, when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CscaRecord {
    #[serde(with = "crate::core::ledger::byte_string")]
    pub certificate: Vec<u8>,
    pub added_seq: u64,
    pub retired_at: Option<Timestamp>,
}

/// The CRL the replica holds for one issuer: the newest applied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrlRecord {
    #[serde(with = "crate::core::ledger::byte_string")]
    pub crl: Vec<u8>,
    pub seq: u64,
    pub this_update: Timestamp,
}

/// Everything the replica holds for passive authentication.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CscaTrust {
    pub cscas: Vec<CscaRecord>,
    pub crls: Vec<CrlRecord>,
}

impl CscaTrust {
    /// The trust store of the CSCAs not retired and the CRLs held. A record that no longer
    /// reads (it read on apply) is skipped and counted in the second value.
    pub fn trust_store(&self) -> (TrustStore, usize) {
        let mut store = TrustStore::new();
        let mut unreadable = 0;
        for record in self.cscas.iter().filter(|r| r.retired_at.is_none()) {
            let added = Certificate::from_der(&record.certificate)
                .map_err(|_| ())
                .and_then(|c| store.add_csca(c).map_err(|_| ()));
            unreadable += usize::from(added.is_err());
        }
        for record in &self.crls {
            match CertificateList::from_der(&record.crl) {
                Ok(crl) => store.add_crl(crl),
                Err(_) => unreadable += 1,
            }
        }
        (store, unreadable)
    }
}

/// The key CSCAs and CRLs are kept under: SHA-256 of the (subject or issuer) name's DER.
pub fn name_key(name: &Name) -> Result<[u8; 32], der::Error> {
    Ok(Sha256::digest(name.to_der()?).into())
}

fn unreadable<E>(seq: u64, what: &'static str, reason: impl ToString) -> ApplyFailure<E> {
    ApplyFailure::Rejected {
        seq,
        rejection: Rejection::CscaUnreadable {
            what,
            reason: reason.to_string(),
        },
    }
}

fn certificate<E>(seq: u64, der: &[u8]) -> Result<(Certificate, [u8; 32]), ApplyFailure<E>> {
    let certificate = Certificate::from_der(der).map_err(|e| unreadable(seq, "certificate", e))?;
    let key = name_key(&certificate.tbs_certificate.subject)
        .map_err(|e| unreadable(seq, "certificate", e))?;
    Ok((certificate, key))
}

/// `csca_master_list`: the list's signature must verify; each listed certificate not yet held
/// is added (one already held, retired or not, stays as it is: a retirement is final).
pub fn apply_master_list<S: LedgerState>(
    state: &mut S,
    seq: u64,
    bytes: &[u8],
) -> Result<(), ApplyFailure<S::Error>> {
    let list = read_master_list(bytes);
    if !list.signature_valid {
        let reason = if list.errors.is_empty() {
            "the signature does not verify".to_owned()
        } else {
            list.errors.join("; ")
        };
        return Err(ApplyFailure::Rejected {
            seq,
            rejection: Rejection::MasterListSignature { reason },
        });
    }
    for listed in &list.certificates {
        let der = listed
            .to_der()
            .map_err(|e| unreadable(seq, "master list certificate", e))?;
        let key = name_key(&listed.tbs_certificate.subject)
            .map_err(|e| unreadable(seq, "master list certificate", e))?;
        let mut held = state.cscas_named(&key).map_err(ApplyFailure::Store)?;
        if held.iter().any(|r| r.certificate == der) {
            continue;
        }
        held.push(CscaRecord {
            certificate: der,
            added_seq: seq,
            retired_at: None,
        });
        state
            .set_cscas_named(&key, &held)
            .map_err(ApplyFailure::Store)?;
    }
    Ok(())
}

/// `csca_added`: refused when the certificate is already held.
pub fn apply_added<S: LedgerState>(
    state: &mut S,
    seq: u64,
    der: &[u8],
) -> Result<(), ApplyFailure<S::Error>> {
    let (certificate, key) = certificate(seq, der)?;
    let mut held = state.cscas_named(&key).map_err(ApplyFailure::Store)?;
    if held.iter().any(|r| r.certificate == der) {
        return Err(ApplyFailure::Rejected {
            seq,
            rejection: Rejection::DuplicateCsca {
                subject: certificate.tbs_certificate.subject.to_string(),
            },
        });
    }
    held.push(CscaRecord {
        certificate: der.to_vec(),
        added_seq: seq,
        retired_at: None,
    });
    state
        .set_cscas_named(&key, &held)
        .map_err(ApplyFailure::Store)
}

/// `csca_retired`: the certificate stops being trusted from the entry's time; refused when it
/// is not held or already retired.
pub fn apply_retired<S: LedgerState>(
    state: &mut S,
    seq: u64,
    time: Timestamp,
    der: &[u8],
) -> Result<(), ApplyFailure<S::Error>> {
    let (certificate, key) = certificate(seq, der)?;
    let mut held = state.cscas_named(&key).map_err(ApplyFailure::Store)?;
    let Some(record) = held
        .iter_mut()
        .find(|r| r.certificate == der && r.retired_at.is_none())
    else {
        return Err(ApplyFailure::Rejected {
            seq,
            rejection: Rejection::UnknownCsca {
                subject: certificate.tbs_certificate.subject.to_string(),
            },
        });
    };
    record.retired_at = Some(time);
    state
        .set_cscas_named(&key, &held)
        .map_err(ApplyFailure::Store)
}

/// `csca_crl`: a held, not retired CSCA of the CRL's issuer name must have signed it, and it
/// must not be older (thisUpdate) than the CRL held for that issuer, which it replaces.
pub fn apply_crl<S: LedgerState>(
    state: &mut S,
    seq: u64,
    der: &[u8],
) -> Result<(), ApplyFailure<S::Error>> {
    let crl = CertificateList::from_der(der).map_err(|e| unreadable(seq, "CRL", e))?;
    let issuer = &crl.tbs_cert_list.issuer;
    let key = name_key(issuer).map_err(|e| unreadable(seq, "CRL", e))?;
    let reject = |rejection| ApplyFailure::Rejected { seq, rejection };
    let mut named = TrustStore::new();
    for record in state.cscas_named(&key).map_err(ApplyFailure::Store)? {
        if record.retired_at.is_some() {
            continue;
        }
        if let Ok(csca) = Certificate::from_der(&record.certificate) {
            named
                .add_csca(csca)
                .map_err(|e| unreadable(seq, "certificate", e))?;
        }
    }
    if !named.signed_crl(&crl) {
        return Err(reject(Rejection::CrlIssuerUnknown {
            issuer: issuer.to_string(),
        }));
    }
    let this_update = x509::timestamp(crl.tbs_cert_list.this_update);
    if let Some(held) = state.crl_of(&key).map_err(ApplyFailure::Store)?
        && held.this_update > this_update
    {
        return Err(reject(Rejection::CrlOlder {
            issuer: issuer.to_string(),
        }));
    }
    let record = CrlRecord {
        crl: der.to_vec(),
        seq,
        this_update,
    };
    state.set_crl(&key, &record).map_err(ApplyFailure::Store)
}

#[cfg(test)]
mod tests {
    use openssl::pkey::{PKey, Private};
    use openssl::x509::X509;

    use super::*;
    use crate::core::lds::chip_pki::{self, CertSpec, Hash, KeyKind, SignedSpec, Style, Y2020};
    use crate::core::ledger::Entry;
    use crate::core::ledger::entry::{Change, CscaCertificate, CscaCrl, CscaMasterListPublished};
    use crate::core::ledger::state::{IndexConsistency, MemoryState, apply_entry};
    use crate::ports::ledger::LedgerView;

    fn entry(seq: u64, change: Change) -> Entry {
        Entry {
            seq,
            prev: [0; 32],
            time: "2026-01-01T00:00:00Z".parse().expect("ts"),
            change,
        }
    }

    fn rejection(state: &mut MemoryState, seq: u64, change: Change) -> Rejection {
        match apply_entry(state, &entry(seq, change), &IndexConsistency) {
            Err(ApplyFailure::Rejected { rejection, .. }) => rejection,
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    fn csca(country: &str, slot: u8) -> (X509, PKey<Private>) {
        let key = chip_pki::key(KeyKind::P256, slot);
        (
            chip_pki::certificate(&CertSpec::csca(country, u32::from(slot)), &key, None),
            key,
        )
    }

    fn der(certificate: &X509) -> Vec<u8> {
        certificate.to_der().expect("DER")
    }

    fn master_list(certificates: &[Vec<u8>], corrupt: bool) -> Change {
        let (issuer, issuer_key) = csca("UT", 20);
        let signer_key = chip_pki::key(KeyKind::P256, 21);
        let mut spec = CertSpec::dsc("UT", 22);
        spec.common_name = "Master List Signer UT".into();
        let signer = chip_pki::certificate(&spec, &signer_key, Some((&issuer, &issuer_key)));
        let mut signed = SignedSpec::new(Hash::Sha256, Style::Ecdsa, Some(Y2020));
        signed.corrupt_signature = corrupt;
        let mut listed = certificates.to_vec();
        listed.push(der(&issuer));
        Change::CscaMasterList(CscaMasterListPublished {
            master_list: chip_pki::master_list(&listed, &signer, &signer_key, &signed),
        })
    }

    fn trusted(state: &MemoryState) -> usize {
        let (store, unreadable) = state.csca_trust().expect("trust").trust_store();
        assert_eq!(unreadable, 0);
        store.csca_count()
    }

    #[test]
    fn a_master_list_adds_its_cscas_only_when_its_signer_verifies() {
        let mut state = MemoryState::default();
        let (a, _) = csca("AA", 23);
        let (b, _) = csca("BB", 24);
        let forged = master_list(&[der(&a), der(&b)], true);
        assert!(matches!(
            rejection(&mut state, 1, forged),
            Rejection::MasterListSignature { .. }
        ));
        assert_eq!(trusted(&state), 0);
        let list = master_list(&[der(&a), der(&b)], false);
        apply_entry(&mut state, &entry(2, list.clone()), &IndexConsistency).expect("list");
        assert_eq!(trusted(&state), 3, "two CSCAs and the signer's issuer");
        // The same list again adds nothing and is not refused: lists are republished whole.
        apply_entry(&mut state, &entry(3, list), &IndexConsistency).expect("again");
        assert_eq!(trusted(&state), 3);
        let garbage = Change::CscaMasterList(CscaMasterListPublished {
            master_list: vec![0x30, 0x00],
        });
        assert!(matches!(
            rejection(&mut state, 4, garbage),
            Rejection::MasterListSignature { .. }
        ));
    }

    #[test]
    fn single_cscas_are_added_once_and_retired_for_good() {
        let mut state = MemoryState::default();
        let (a, _) = csca("AA", 25);
        let add = Change::CscaAdded(CscaCertificate {
            certificate: der(&a),
        });
        let retire = Change::CscaRetired(CscaCertificate {
            certificate: der(&a),
        });
        assert!(matches!(
            rejection(&mut state, 1, retire.clone()),
            Rejection::UnknownCsca { .. }
        ));
        apply_entry(&mut state, &entry(2, add.clone()), &IndexConsistency).expect("add");
        assert_eq!(trusted(&state), 1);
        assert!(matches!(
            rejection(&mut state, 3, add),
            Rejection::DuplicateCsca { .. }
        ));
        apply_entry(&mut state, &entry(4, retire.clone()), &IndexConsistency).expect("retire");
        assert_eq!(trusted(&state), 0);
        assert!(matches!(
            rejection(&mut state, 5, retire),
            Rejection::UnknownCsca { .. }
        ));
        // A master list listing a retired CSCA does not bring it back.
        apply_entry(
            &mut state,
            &entry(6, master_list(&[der(&a)], false)),
            &IndexConsistency,
        )
        .expect("list");
        let trust = state.csca_trust().expect("trust");
        let record = trust
            .cscas
            .iter()
            .find(|r| r.certificate == der(&a))
            .expect("held");
        assert!(record.retired_at.is_some());
        let unreadable = Change::CscaAdded(CscaCertificate {
            certificate: vec![0x30, 0x01, 0x00],
        });
        assert!(matches!(
            rejection(&mut state, 7, unreadable),
            Rejection::CscaUnreadable { .. }
        ));
    }

    #[test]
    fn a_crl_needs_its_csca_and_never_goes_back_in_time() {
        let mut state = MemoryState::default();
        let (a, a_key) = csca("AA", 26);
        let (_, other_key) = csca("AA", 27);
        let crl = |key: &PKey<Private>, at: i64| {
            Change::CscaCrl(CscaCrl {
                crl: chip_pki::crl(&a, key, &[7], at),
            })
        };
        assert!(matches!(
            rejection(&mut state, 1, crl(&a_key, Y2020 + 100)),
            Rejection::CrlIssuerUnknown { .. }
        ));
        let add = Change::CscaAdded(CscaCertificate {
            certificate: der(&a),
        });
        apply_entry(&mut state, &entry(2, add), &IndexConsistency).expect("add");
        assert!(matches!(
            rejection(&mut state, 3, crl(&other_key, Y2020 + 100)),
            Rejection::CrlIssuerUnknown { .. }
        ));
        apply_entry(
            &mut state,
            &entry(4, crl(&a_key, Y2020 + 100)),
            &IndexConsistency,
        )
        .expect("crl");
        assert!(matches!(
            rejection(&mut state, 5, crl(&a_key, Y2020 + 50)),
            Rejection::CrlOlder { .. }
        ));
        apply_entry(
            &mut state,
            &entry(6, crl(&a_key, Y2020 + 200)),
            &IndexConsistency,
        )
        .expect("newer crl");
        let trust = state.csca_trust().expect("trust");
        assert_eq!(trust.crls.len(), 1);
        assert_eq!(trust.crls[0].seq, 6);
    }
}
