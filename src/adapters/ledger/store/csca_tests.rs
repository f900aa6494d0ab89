use super::*;
use crate::core::lds::chip_pki::{self, CertSpec, KeyKind, Y2020};
use crate::core::ledger::state::IndexConsistency;
use crate::core::ledger::{Checkpoint, CscaCertificate, CscaCrl, extend, verify_batch};

fn batch(cursor: &Cursor, changes: Vec<Change>) -> VerifiedBatch {
    let time: Timestamp = "2026-05-01T00:00:00Z".parse().expect("ts");
    let (encoded, head) = extend(cursor.seq, cursor.hash, changes, time);
    let checkpoint = Checkpoint {
        size: cursor.seq + encoded.len() as u64,
        root: head,
        time,
    };
    verify_batch(cursor, encoded, checkpoint).expect("chain")
}

#[test]
fn cscas_and_crls_are_kept_visible_at_the_cursor_and_survive_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = chip_pki::key(KeyKind::P256, 30);
    let csca = chip_pki::certificate(&CertSpec::csca("AA", 30), &key, None);
    let der = csca.to_der().expect("DER");
    let crl = chip_pki::crl(&csca, &key, &[9], Y2020 + 10);
    {
        let store = SledLedger::open(dir.path(), CACHE_CAPACITY_DEFAULT).expect("open");
        let first = batch(
            &Cursor::EMPTY,
            vec![
                Change::CscaAdded(CscaCertificate {
                    certificate: der.clone(),
                }),
                Change::CscaCrl(CscaCrl { crl: crl.clone() }),
            ],
        );
        store
            .apply(&first, b"cp1", &IndexConsistency)
            .expect("apply");
        // A refused batch (the CSCA again) leaves the trust as it was.
        let cursor = store.cursor().expect("cursor");
        let again = batch(
            &cursor,
            vec![Change::CscaAdded(CscaCertificate {
                certificate: der.clone(),
            })],
        );
        assert!(store.apply(&again, b"cp2", &IndexConsistency).is_err());
    }
    let store = SledLedger::open(dir.path(), CACHE_CAPACITY_DEFAULT).expect("reopen");
    let trust = store.csca_trust().expect("trust");
    assert_eq!(trust.cscas.len(), 1);
    assert_eq!(trust.cscas[0].certificate, der);
    assert_eq!(trust.cscas[0].added_seq, 1);
    assert_eq!(trust.crls.len(), 1);
    assert_eq!(trust.crls[0].crl, crl);
    let (trusted, unreadable) = trust.trust_store();
    assert_eq!((trusted.csca_count(), unreadable), (1, 0));
}
