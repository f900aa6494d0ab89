use super::apply::*;
use super::open::REPLICA_FILES;
use super::*;
use crate::core::ledger::state::IndexConsistency;
use crate::core::ledger::{
    AlertKind, AlertLifted, AlertRaised, ChainError, Change, Checkpoint, PermitIndex, PermitIssued,
    PermitRevoked, PermitType, extend, verify_batch,
};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};

fn person_alert(id: &str) -> Change {
    let line = format!(
        r#"{{"alert_id":"{id}","names":[{{"surname":"MAMMADOV","given_names":"ELCHIN"}}],"birth_date":"1985","nationalities":["AZE"],"sex":"M","kind":"wanted","action":"hold","note":"n"}}"#
    );
    Change::PersonAlert(serde_json::from_str(&line).expect("alert line"))
}

fn lift(id: &str) -> Change {
    Change::PersonAlertLifted(crate::core::ledger::entry::PersonAlertLifted {
        alert_id: id.into(),
    })
}

#[test]
fn person_alerts_are_kept_by_id_and_read_in_full_on_a_hit() {
    let (_dir, store, first) = with_permit_1();
    let second = batch(
        &first.next,
        vec![person_alert("PA-1"), person_alert("PA-2"), lift("PA-1")],
    );
    store
        .apply(&second, b"cp2", &IndexConsistency)
        .expect("apply");
    let record = store.person_alert("PA-1").expect("read").expect("kept");
    assert_eq!(
        record.state,
        PersonAlertState {
            seq: 2,
            lifted: Some(4)
        }
    );
    assert_eq!(record.alert.action, "hold");
    assert_eq!(store.person_alert("PA-9").expect("read"), None);
    let changes = store.person_alert_changes(0, u64::MAX).expect("changes");
    assert_eq!(changes.through, 4);
    let seqs: Vec<u64> = changes.changes.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, [2, 3, 4]);
    let bounded = store.person_alert_changes(2, 1).expect("bounded");
    assert_eq!((bounded.through, bounded.changes.len()), (3, 1));
    // A lift of a lifted alert is refused, and the replica is left as it was.
    let third = batch(&second.next, vec![lift("PA-1")]);
    let refused = store.apply(&third, b"cp3", &IndexConsistency);
    assert!(
        matches!(
            refused,
            Err(LedgerStoreError::Rejected {
                seq: 5,
                rejection: crate::core::ledger::Rejection::PersonAlertAlreadyLifted { .. }
            })
        ),
        "{refused:?}"
    );
    assert_eq!(store.applied_seq().expect("seq"), Some(4));
}

#[test]
fn the_replica_is_owner_only_and_an_open_one_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ledger");
    let store = SledLedger::open(&path, CACHE_CAPACITY_DEFAULT).expect("open");
    drop(store);
    let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
    let chmod = |p: &Path, mode| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod")
    };
    assert_eq!(mode(&path), 0o700);
    let files: Vec<_> = REPLICA_FILES.iter().map(|name| path.join(name)).collect();
    for file in &files {
        assert_eq!(mode(file), 0o600, "{}", file.display());
    }
    // A readable file behind a closed directory is out of reach: it opens, and is closed.
    chmod(&files[0], 0o644);
    drop(SledLedger::open(&path, CACHE_CAPACITY_DEFAULT).expect("reachable by none"));
    assert_eq!(mode(&files[0]), 0o600);
    for (dir_mode, file_mode) in [(0o755, 0o644), (0o711, 0o640)] {
        chmod(&path, dir_mode);
        chmod(&files[0], file_mode);
        let refused = match SledLedger::open_or_set_aside(&path, CACHE_CAPACITY_DEFAULT) {
            Ok(_) => panic!("an exposed replica opened"),
            Err(e) => e,
        };
        assert!(
            matches!(&refused, LedgerStoreError::Exposed { mode, .. } if *mode == file_mode),
            "{refused:?}"
        );
        assert!(refused.to_string().contains("chmod"), "{refused}");
    }
    chmod(&files[0], 0o600);
    drop(SledLedger::open(&path, CACHE_CAPACITY_DEFAULT).expect("owner-only files open"));
}

fn time() -> Timestamp {
    "2026-05-01T00:00:00Z".parse().expect("ts")
}

fn permit(n: u8) -> Change {
    Change::PermitIssued(PermitIssued {
        bp1: format!("BP1:{n}"),
        index: PermitIndex {
            cti: [n; 16],
            holder: [n; 32],
            permit_type: PermitType::WorkPermit,
            valid_from: "2026-01-01".parse().expect("date"),
            valid_until: "2027-01-01".parse().expect("date"),
        },
    })
}

fn batch(cursor: &Cursor, changes: Vec<Change>) -> VerifiedBatch {
    let (encoded, head) = extend(cursor.seq, cursor.hash, changes, time());
    let size = cursor.seq + encoded.len() as u64;
    let checkpoint = Checkpoint {
        size,
        root: head,
        time: time(),
    };
    verify_batch(cursor, encoded, checkpoint).expect("chain")
}

/// A replica holding permit 1, applied under checkpoint `cp1`.
fn with_permit_1() -> (tempfile::TempDir, SledLedger, VerifiedBatch) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SledLedger::open(dir.path(), CACHE_CAPACITY_DEFAULT).expect("open");
    let first = batch(&Cursor::EMPTY, vec![permit(1)]);
    store
        .apply(&first, b"cp1", &IndexConsistency)
        .expect("apply");
    (dir, store, first)
}

/// Encoded entries after `cursor` and the checkpoint that covers them.
fn encoded(cursor: &Cursor, changes: Vec<Change>) -> (Vec<Vec<u8>>, Checkpoint) {
    let (encoded, head) = extend(cursor.seq, cursor.hash, changes, time());
    let checkpoint = Checkpoint {
        size: cursor.seq + encoded.len() as u64,
        root: head,
        time: time(),
    };
    (encoded, checkpoint)
}

fn revoke(n: u8) -> Change {
    Change::PermitRevoked(PermitRevoked {
        cti: [n; 16],
        reason: "x".into(),
    })
}

fn raise(n: u8) -> Change {
    Change::Alert(AlertRaised {
        holder: [n; 32],
        alert: AlertKind::Lost,
        note: "reported".into(),
    })
}

/// What a reader sees of holders 1..=9.
fn seen(store: &SledLedger) -> Vec<String> {
    let today = "2026-06-01".parse().expect("date");
    (1..=9u8)
        .map(|n| {
            let h = HolderDigest([n; 32]);
            format!(
                "{n}: permits {:?} revoked {} alerts {:?}",
                store.permits_by_holder(&h).expect("permits"),
                store.is_revoked(&[n; 16]).expect("revoked"),
                store.active_alerts(&h, today).expect("alerts"),
            )
        })
        .collect()
}

/// A run applied in chunks, whose later chunks depend on earlier ones (a revocation, an
/// alert lifted, a duplicate), ends exactly where the same entries applied at once end.
#[test]
fn a_run_in_chunks_ends_where_one_batch_ends() {
    let changes = vec![
        permit(1),
        permit(2),
        raise(1),
        permit(3),
        revoke(1),
        Change::AlertLifted(AlertLifted { alert_id: 3 }),
        raise(2),
        permit(4),
    ];
    let whole = tempfile::tempdir().expect("tempdir");
    let whole = SledLedger::open(whole.path(), CACHE_CAPACITY_DEFAULT).expect("open");
    let one = batch(&Cursor::EMPTY, changes.clone());
    whole
        .apply(&one, b"cp", &IndexConsistency)
        .expect("one batch");

    for split in [vec![1, 1, 1, 1, 1, 1, 1, 1], vec![3, 2, 3], vec![5, 3]] {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SledLedger::open(dir.path(), CACHE_CAPACITY_DEFAULT).expect("open");
        let (encoded, checkpoint) = encoded(&Cursor::EMPTY, changes.clone());
        let mut run = store.begin_run(checkpoint, b"cp".to_vec()).expect("begin");
        let mut rest = encoded.into_iter();
        for n in &split {
            run.push(rest.by_ref().take(*n).collect(), &IndexConsistency)
                .expect("chunk");
            assert_eq!(store.cursor().expect("cursor"), Cursor::EMPTY, "unseen yet");
            assert!(seen(&store).iter().all(|s| s.contains("permits []")));
        }
        assert_eq!(run.finish().expect("finish"), one.next);
        assert_eq!(seen(&store), seen(&whole), "split {split:?}");
        assert_eq!(
            store.entries(1, u64::MAX).expect("entries"),
            whole.entries(1, u64::MAX).expect("entries")
        );
        drop(store);
        let store = SledLedger::open(dir.path(), CACHE_CAPACITY_DEFAULT).expect("reopen");
        assert_eq!(seen(&store), seen(&whole), "after reopen");
    }
}

/// Asks for the keys of kid 9 and passes when there are some; counts its calls.
#[derive(Default)]
struct NeedsKey(std::sync::atomic::AtomicUsize);

impl PermitCheck for NeedsKey {
    fn check(
        &self,
        _bp1: &str,
        _index: &PermitIndex,
        _at: Timestamp,
        trust: &dyn IssuerTrust,
    ) -> Result<(), String> {
        self.0.fetch_add(1, Ordering::Relaxed);
        if trust.keys_for(&[9; 8]).is_empty() {
            Err("no key".into())
        } else {
            Ok(())
        }
    }
}

/// A bootstrap adds its issuer key in the same run as the permits it signs: the checks made
/// ahead on every core must see it from the next chunk on, or every permit would be checked a
/// second time, in order, on one core.
#[test]
fn a_run_checks_each_permit_once_after_the_chunk_that_adds_its_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SledLedger::open(dir.path(), CACHE_CAPACITY_DEFAULT).expect("open");
    let key = Change::IssuerKeyAdded(crate::core::ledger::IssuerKeyAdded {
        kid: [9; 8],
        public_key: ed25519_dalek::SigningKey::from_bytes(&[9; 32])
            .verifying_key()
            .to_bytes(),
        sign_from: time(),
        sign_until: time(),
        verify_until: time(),
        permit_types: vec![PermitType::WorkPermit],
    });
    let mut changes = vec![key, permit(1)];
    changes.extend((2..=7).map(permit));
    let (encoded, checkpoint) = encoded(&Cursor::EMPTY, changes);
    let check = NeedsKey::default();
    let mut run = store.begin_run(checkpoint, b"cp".to_vec()).expect("begin");
    run.push(encoded[..2].to_vec(), &check)
        .expect("key and permit 1");
    // Permit 1 was checked ahead without the key (not staged yet), then again in order.
    assert_eq!(check.0.load(Ordering::Relaxed), 2);
    run.push(encoded[2..5].to_vec(), &check)
        .expect("permits 2-4");
    run.push(encoded[5..].to_vec(), &check)
        .expect("permits 5-7");
    run.finish().expect("finish");
    assert_eq!(
        check.0.load(Ordering::Relaxed),
        2 + 6,
        "one check per later permit"
    );
    assert_eq!(store.permit_count(), 7);
}

/// A run refused in its second chunk, or dropped unfinished, or whose entries do not reach
/// its checkpoint's root, leaves nothing a reader sees; the next run is not misled by the
/// rows it left.
#[test]
fn a_run_that_does_not_finish_leaves_nothing_seen() {
    let (_dir, store, first) = with_permit_1();
    let before = seen(&store);

    let changes = vec![permit(2), raise(2), permit(3), revoke(1)];
    let (good, checkpoint) = encoded(&first.next, changes.clone());

    // Refused: the second chunk issues cti 2 again.
    let (dup, dup_checkpoint) = encoded(&first.next, vec![permit(2), raise(2), permit(2)]);
    let mut run = store
        .begin_run(dup_checkpoint, b"x".to_vec())
        .expect("begin");
    run.push(dup[..2].to_vec(), &IndexConsistency)
        .expect("first chunk");
    let refused = run.push(dup[2..].to_vec(), &IndexConsistency);
    assert!(
        matches!(refused, Err(LedgerStoreError::Rejected { seq: 4, .. })),
        "{refused:?}"
    );
    drop(run);
    assert_eq!(seen(&store), before);

    // Dropped after a chunk, as a crash would.
    let mut run = store.begin_run(checkpoint, b"x".to_vec()).expect("begin");
    run.push(good[..3].to_vec(), &IndexConsistency)
        .expect("chunk");
    drop(run);
    assert_eq!(seen(&store), before);

    // Entries that do not hash to the checkpoint's root.
    let forged = Checkpoint {
        root: [7; 32],
        ..checkpoint
    };
    let mut run = store.begin_run(forged, b"x".to_vec()).expect("begin");
    run.push(good.clone(), &IndexConsistency).expect("chunk");
    assert!(matches!(
        run.finish(),
        Err(LedgerStoreError::Chain(ChainError::RootMismatch { .. }))
    ));
    assert_eq!(seen(&store), before);
    assert_eq!(store.cursor().expect("cursor"), first.next);

    // The honest run after all of that.
    let mut run = store.begin_run(checkpoint, b"cp2".to_vec()).expect("begin");
    run.push(good[..1].to_vec(), &IndexConsistency)
        .expect("chunk");
    run.push(good[1..].to_vec(), &IndexConsistency)
        .expect("chunk");
    run.finish().expect("finish");
    let whole = tempfile::tempdir().expect("tempdir");
    let whole = SledLedger::open(whole.path(), CACHE_CAPACITY_DEFAULT).expect("open");
    whole
        .apply(&first, b"cp1", &IndexConsistency)
        .expect("apply");
    whole
        .apply(&batch(&first.next, changes), b"cp2", &IndexConsistency)
        .expect("apply");
    assert_eq!(seen(&store), seen(&whole));
    assert_eq!(
        store.entries(1, 9).expect("entries"),
        whole.entries(1, 9).expect("entries")
    );
}

/// A refused run that staged more permit records than the next run writes leaves records
/// past the published ones, with seqs the cursor covers: the cursor's permit count, not the
/// seqs, says which records are applied, across a restart too.
#[test]
fn records_a_refused_run_left_are_not_read_back() {
    let (dir, store, first) = with_permit_1();
    let (refused, checkpoint) = encoded(
        &first.next,
        vec![permit(2), permit(3), permit(4), permit(2)],
    );
    let mut run = store.begin_run(checkpoint, b"x".to_vec()).expect("begin");
    run.push(refused[..3].to_vec(), &IndexConsistency)
        .expect("three permits staged");
    assert!(run.push(refused[3..].to_vec(), &IndexConsistency).is_err());
    drop(run);

    // The published run: an alert (entry 2) and permit 5 (entry 3), so the refused run's
    // record of permit 3 (entry 3) sits after permit 5's, at a seq the cursor covers.
    let next = batch(&first.next, vec![raise(1), permit(5)]);
    store
        .apply(&next, b"cp2", &IndexConsistency)
        .expect("apply");
    let want = seen(&store);
    assert_eq!(store.permit_count(), 2);
    drop(store);
    let store = SledLedger::open(dir.path(), CACHE_CAPACITY_DEFAULT).expect("reopen");
    assert_eq!(store.permit_count(), 2);
    assert_eq!(seen(&store), want);
    assert!(store.permit(&[3; 16]).expect("lookup").is_none());
    assert_eq!(
        store.permit(&[5; 16]).expect("lookup").map(|p| p.seq),
        Some(3)
    );
}

/// Files cut shorter than the cursor needs, or a permit record gone bad, make the open fail
/// with the file and the reason; nothing panics.
#[test]
fn a_damaged_file_is_reported_on_open() {
    for (file, damage, want) in [
        (ENTRIES_FILE, Damage::Cut(1), "entries.log"),
        (ENDS_FILE, Damage::Cut(1), "entries.end"),
        (PERMITS_FILE, Damage::Cut(1), "permits.rec"),
        (PERMITS_FILE, Damage::Byte(48, 0xff), "permit type code 255"),
        (PERMITS_FILE, Damage::Byte(23, 0x09), "names entry 9"),
    ] {
        let (dir, store, _) = with_permit_1();
        drop(store);
        let path = dir.path().join(file);
        let mut bytes = std::fs::read(&path).expect("read");
        match damage {
            Damage::Cut(n) => bytes.truncate(bytes.len() - n),
            Damage::Byte(at, value) => bytes[at] = value,
        }
        std::fs::write(&path, bytes).expect("write");
        match SledLedger::open(dir.path(), CACHE_CAPACITY_DEFAULT) {
            Err(e @ LedgerStoreError::Corrupt { .. }) => {
                assert!(e.to_string().contains(want), "{file}: {e}");
            }
            Err(e) => panic!("{file}: not reported as corrupt: {e}"),
            Ok(_) => panic!("{file}: damage not noticed"),
        }
    }
}

/// A corrupt replica is moved aside and an empty one opens in its place; an intact one opens
/// as it is.
#[test]
fn a_corrupt_replica_is_set_aside_and_replicated_again() {
    let (dir, store, first) = with_permit_1();
    drop(store);
    let path = dir.path().join("replica");
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&path)
        .expect("dir");
    for name in std::fs::read_dir(dir.path()).expect("list").flatten() {
        if name.file_name() != "replica" {
            std::fs::rename(name.path(), path.join(name.file_name())).expect("move");
        }
    }
    let (store, aside) =
        SledLedger::open_or_set_aside(&path, CACHE_CAPACITY_DEFAULT).expect("intact");
    assert!(aside.is_none());
    assert_eq!(store.cursor().expect("cursor"), first.next);
    drop(store);

    let ends = path.join(super::super::files::ENDS_FILE);
    let len = std::fs::metadata(&ends).expect("meta").len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&ends)
        .and_then(|f| f.set_len(len - 1))
        .expect("cut");
    let (store, aside) =
        SledLedger::open_or_set_aside(&path, CACHE_CAPACITY_DEFAULT).expect("set aside");
    let (aside, why) = aside.expect("corruption reported");
    assert_eq!(aside, dir.path().join("replica.corrupt"));
    assert!(why.to_string().contains("entries.end"), "{why}");
    assert!(
        aside.join(super::super::files::ENDS_FILE).exists(),
        "kept for diagnosis"
    );
    assert_eq!(store.cursor().expect("cursor"), Cursor::EMPTY);
    store
        .apply(&first, b"cp1", &IndexConsistency)
        .expect("replicated again");
    assert_eq!(store.permit_count(), 1);
}

/// One writer at a time: a second run or batch is refused while a run is open, and a run
/// whose chunk failed cannot be finished (its chain moved past entries never staged).
#[test]
fn one_writer_at_a_time_and_a_failed_run_never_finishes() {
    let (_dir, store, first) = with_permit_1();
    let (good, checkpoint) = encoded(&first.next, vec![permit(2), raise(2)]);
    let mut run = store.begin_run(checkpoint, b"cp2".to_vec()).expect("begin");
    assert!(matches!(
        store.begin_run(checkpoint, b"cp2".to_vec()),
        Err(LedgerStoreError::Busy)
    ));
    assert!(matches!(
        store.apply(
            &batch(&first.next, vec![permit(3)]),
            b"x",
            &IndexConsistency
        ),
        Err(LedgerStoreError::Busy)
    ));
    run.push(good.clone(), &IndexConsistency).expect("chunk");
    run.finish().expect("finish");
    assert_eq!(store.permit_count(), 2);

    let (refused, checkpoint) = encoded(
        &store.cursor().expect("cursor"),
        vec![permit(4), permit(1), permit(5)],
    );
    let mut run = store.begin_run(checkpoint, b"x".to_vec()).expect("begin");
    assert!(matches!(
        run.push(refused[..2].to_vec(), &IndexConsistency),
        Err(LedgerStoreError::Rejected { .. })
    ));
    assert!(matches!(
        run.push(refused[2..].to_vec(), &IndexConsistency),
        Err(LedgerStoreError::RunFailed)
    ));
    assert!(matches!(run.finish(), Err(LedgerStoreError::RunFailed)));
    assert_eq!(store.permit_count(), 2);
    assert!(store.permit(&[4; 16]).expect("lookup").is_none());
    // The writer is free again once the run is gone.
    store
        .apply(
            &batch(&store.cursor().expect("cursor"), vec![permit(6)]),
            b"cp3",
            &IndexConsistency,
        )
        .expect("next writer");
}

/// A replica of the older layout whose first catch-up was cut off (rows staged, no cursor)
/// is cleared too: its rows would not decode in this layout.
#[test]
fn an_older_replica_without_a_cursor_is_cleared_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = sled::Config::new().path(dir.path()).open().expect("db");
        db.open_tree(TREE_NAMES[META])
            .expect("meta")
            .insert(META_LAYOUT, b"3")
            .expect("layout");
        db.open_tree(TREE_NAMES[REVOKED])
            .expect("revoked")
            .insert([1; 16], vec![3u8, 0, 0])
            .expect("old row");
        db.flush().expect("flush");
    }
    // Made before replicas were owner-only: the operator closes its directory first.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let store = SledLedger::open(dir.path(), CACHE_CAPACITY_DEFAULT).expect("open");
    assert!(!store.is_revoked(&[1; 16]).expect("no old row left"));
    let first = batch(&Cursor::EMPTY, vec![permit(1), revoke(1)]);
    store
        .apply(&first, b"cp1", &IndexConsistency)
        .expect("replicated");
    assert!(store.is_revoked(&[1; 16]).expect("revoked"));
}

enum Damage {
    Cut(usize),
    Byte(usize, u8),
}

/// Refuses the permit whose text says "bad".
struct RefusesBad;

impl PermitCheck for RefusesBad {
    fn check(
        &self,
        bp1: &str,
        _index: &PermitIndex,
        _at: Timestamp,
        _trust: &dyn IssuerTrust,
    ) -> Result<(), String> {
        if bp1.contains("bad") {
            Err("bad signature".into())
        } else {
            Ok(())
        }
    }
}

/// Two entries of one chunk issue the same cti, the first with a text that fails its check:
/// the run is refused at the first, for its check (the second's passing check made ahead
/// must not stand in for it).
#[test]
fn a_check_made_ahead_replays_only_for_its_own_entry() {
    let (_dir, store, first) = with_permit_1();
    let Change::PermitIssued(good) = permit(2) else {
        unreachable!("permit() issues a permit")
    };
    let bad = Change::PermitIssued(PermitIssued {
        bp1: "BP1:bad".into(),
        ..good.clone()
    });
    let refused = store.apply(
        &batch(&first.next, vec![bad, Change::PermitIssued(good)]),
        b"cp2",
        &RefusesBad,
    );
    assert!(
        matches!(
            refused,
            Err(LedgerStoreError::Rejected {
                seq: 2,
                rejection: crate::core::ledger::Rejection::PermitCheck { .. }
            })
        ),
        "{refused:?}"
    );
}

/// A replica of an earlier layout (a `permits_by_holder` tree, no layout mark) is cleared
/// on open, so replication starts it again from the first entry.
#[test]
fn a_replica_of_an_older_layout_is_cleared_on_open() {
    let (dir, store, first) = with_permit_1();
    store.trees[META].remove(META_LAYOUT).expect("unmark");
    store
        .db
        .open_tree("permits_by_holder")
        .expect("old tree")
        .insert(b"k", b"v")
        .expect("insert");
    store.db.flush().expect("flush");
    drop(store);

    let store = SledLedger::open(dir.path(), CACHE_CAPACITY_DEFAULT).expect("reopen");
    assert_eq!(store.cursor().expect("cursor"), Cursor::EMPTY);
    assert_eq!(store.permit_count(), 0);
    assert!(store.entries(1, u64::MAX).expect("entries").is_empty());
    assert!(
        !store
            .db
            .tree_names()
            .iter()
            .any(|n| n == b"permits_by_holder")
    );
    store
        .apply(&first, b"cp1", &IndexConsistency)
        .expect("replicated again");
    drop(store);
    let store = SledLedger::open(dir.path(), CACHE_CAPACITY_DEFAULT).expect("reopen");
    assert_eq!(store.cursor().expect("cursor"), first.next, "marked: kept");
    assert_eq!(store.permit_count(), 1);
}

/// A cti issued before, in an earlier batch or earlier in the same one, is refused and the
/// store stays where it was.
#[test]
fn a_permit_issued_twice_is_refused() {
    let (_dir, store, first) = with_permit_1();
    let again = |changes| batch(&first.next, changes);
    for changes in [vec![permit(2), permit(1)], vec![permit(2), permit(2)]] {
        let refused = store.apply(&again(changes), b"cp2", &IndexConsistency);
        assert!(
            matches!(
                refused,
                Err(LedgerStoreError::Rejected {
                    seq: 3,
                    rejection: crate::core::ledger::Rejection::DuplicatePermit { .. }
                })
            ),
            "{refused:?}"
        );
        assert_eq!(store.cursor().expect("cursor"), first.next);
        assert!(store.permit(&[2; 16]).expect("lookup").is_none());
        assert_eq!(store.permit_count(), 1);
    }
}

#[test]
fn rows_round_trip_and_truncation_is_reported() {
    let stamp = RunStamp {
        applied: 6,
        last: 7,
        run: 9,
    };
    let row = Row::encode(&stamp, Some(b"now"), None);
    let decoded = Row::decode("t", &row).expect("decode");
    assert_eq!((decoded.at(7), decoded.at(6)), (Some(&b"now"[..]), None));
    for cut in 0..row.len() {
        assert!(Row::decode("t", &row[..cut]).is_err(), "cut at {cut}");
    }
    let mut long = row.clone();
    long.push(0);
    assert!(Row::decode("t", &long).is_err());
}

/// A batch staged but never published (the process died before the cursor moved) is
/// invisible after a restart, and applying it again makes it visible exactly once.
#[test]
fn a_staged_batch_is_invisible_until_its_cursor_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SledLedger::open(dir.path(), CACHE_CAPACITY_DEFAULT).expect("open");
    let first = batch(&Cursor::EMPTY, vec![permit(1), permit(2)]);
    store
        .apply(&first, b"cp1", &IndexConsistency)
        .expect("apply");
    let alert = AlertRaised {
        holder: [1; 32],
        alert: AlertKind::Lost,
        note: "reported".into(),
    };
    let second = batch(
        &first.next,
        vec![
            permit(3),
            Change::PermitRevoked(PermitRevoked {
                cti: [1; 16],
                reason: "x".into(),
            }),
            Change::Alert(alert),
            Change::AlertLifted(AlertLifted { alert_id: 5 }),
        ],
    );
    let applied = store.applied();
    let entries_end = store.files.entry_end(first.next.seq).expect("end");
    let mut staging = Staging::new(&applied, second.next.seq, entries_end);
    store
        .stage_chunk(&mut staging, &second.entries, &IndexConsistency)
        .expect("stage");
    drop(store);

    let store = SledLedger::open(dir.path(), CACHE_CAPACITY_DEFAULT).expect("reopen");
    let h = |n: u8| HolderDigest([n; 32]);
    assert_eq!(store.cursor().expect("cursor"), first.next);
    assert_eq!(store.entries(1, u64::MAX).expect("entries").len(), 2);
    assert!(store.permits_by_holder(&h(3)).expect("lookup").is_empty());
    assert_eq!(store.permit(&[3; 16]).expect("lookup"), None);
    assert!(!store.is_revoked(&[1; 16]).expect("revoked"));
    assert_eq!(
        store.signed_checkpoint().expect("cp"),
        Some(b"cp1".to_vec())
    );

    store
        .apply(&second, b"cp2", &IndexConsistency)
        .expect("reapply");
    assert_eq!(store.permits_by_holder(&h(3)).expect("lookup").len(), 1);
    assert!(store.is_revoked(&[1; 16]).expect("revoked"));
    let today = "2026-06-01".parse().expect("date");
    assert!(
        store
            .active_alerts(&h(1), today)
            .expect("alerts")
            .is_empty()
    );
    assert_eq!(store.entries(1, u64::MAX).expect("entries").len(), 6);
}
