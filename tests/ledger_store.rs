//! The sled replica against the in-memory model: random histories applied in checkpointed
//! batches with restarts, and every kind of bad batch rejected with the store unchanged.

use checkpointd::adapters::ledger::{CACHE_CAPACITY_DEFAULT, SledLedger};
use checkpointd::core::document::HolderDigest;
use checkpointd::core::ledger::state::{IndexConsistency, MemoryState, apply_entry};
use checkpointd::core::ledger::{
    AlertKind, AlertLifted, AlertRaised, Change, Checkpoint, CheckpointError, Cursor, Entry,
    PermitIndex, PermitIssued, PermitRevoked, PermitType, Registration, RootKey, RootSet,
    SignedCheckpoint, StayExtension, entry_hash, extend, verify_batch,
};
use checkpointd::ports::ledger::{LedgerStore, LedgerStoreError, LedgerView};
use ed25519_dalek::SigningKey;
use jiff::Timestamp;
use proptest::prelude::*;

const HOLDERS: u8 = 4;

fn time() -> Timestamp {
    "2026-05-01T10:00:00Z".parse().expect("test time")
}

fn day(s: &str) -> jiff::civil::Date {
    s.parse().expect("test date")
}

fn holder(n: u8) -> [u8; 32] {
    HolderDigest::of("UTO", &format!("X{n:07}")).0
}

fn root(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn roots(seeds: &[u8], k: usize) -> RootSet {
    let keys = seeds
        .iter()
        .map(|s| RootKey::from_bytes(&root(*s).verifying_key().to_bytes()).expect("root"))
        .collect();
    RootSet::new(keys, k).expect("roots")
}

fn permit(cti: u8, h: u8) -> Change {
    Change::PermitIssued(PermitIssued {
        bp1: format!("BP1:{cti:02X}"),
        index: PermitIndex {
            cti: [cti; 16],
            holder: holder(h),
            permit_type: PermitType::TemporaryResidence,
            valid_from: day("2026-01-01"),
            valid_until: day("2027-01-01"),
        },
    })
}

/// Abstract operations; turned into valid changes against the model so batches never reject.
#[derive(Clone, Debug)]
enum Op {
    Issue(u8),
    Revoke(u8),
    Alert(u8, bool),
    Lift(u8),
    Extend(u8),
    Register(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..HOLDERS).prop_map(Op::Issue),
        any::<u8>().prop_map(Op::Revoke),
        ((0..HOLDERS), any::<bool>()).prop_map(|(h, b)| Op::Alert(h, b)),
        any::<u8>().prop_map(Op::Lift),
        (0..HOLDERS).prop_map(Op::Extend),
        (0..HOLDERS).prop_map(Op::Register),
    ]
}

fn to_change(op: &Op, model: &MemoryState, next_cti: &mut u8) -> Option<Change> {
    Some(match op {
        Op::Issue(h) => {
            *next_cti = next_cti.checked_add(1)?;
            permit(*next_cti, *h)
        }
        Op::Revoke(n) => {
            let cti = *model
                .permits
                .keys()
                .nth(usize::from(*n) % model.permits.len().max(1))?;
            Change::PermitRevoked(PermitRevoked {
                cti,
                reason: "test".into(),
            })
        }
        Op::Alert(h, ban) => Change::Alert(AlertRaised {
            holder: holder(*h),
            alert: if *ban {
                AlertKind::EntryBan {
                    until: day("2026-06-01"),
                }
            } else {
                AlertKind::Stolen
            },
            note: String::new(),
        }),
        Op::Lift(n) => {
            let id = *model
                .alerts
                .keys()
                .nth(usize::from(*n) % model.alerts.len().max(1))?;
            Change::AlertLifted(AlertLifted { alert_id: id })
        }
        Op::Extend(h) => Change::StayExtension(StayExtension {
            holder: holder(*h),
            until: day("2026-09-01"),
            reference: "E".into(),
        }),
        Op::Register(h) => Change::Registration(Registration {
            holder: holder(*h),
            valid_from: day("2026-05-01"),
            valid_until: day("2026-05-20"),
            place: "P".into(),
        }),
    })
}

fn sign(size: u64, root_hash: [u8; 32], seeds: &[u8]) -> (Checkpoint, Vec<u8>) {
    let checkpoint = Checkpoint {
        size,
        root: root_hash,
        time: time(),
    };
    let keys: Vec<_> = seeds.iter().map(|s| root(*s)).collect();
    (
        checkpoint,
        SignedCheckpoint::sign(&checkpoint, &keys).encode(),
    )
}

/// Central's view: the full encoded history and the model state.
struct Central {
    encoded: Vec<Vec<u8>>,
    head: [u8; 32],
    model: MemoryState,
    next_cti: u8,
}

impl Central {
    fn new() -> Self {
        Self {
            encoded: Vec::new(),
            head: [0; 32],
            model: MemoryState::default(),
            next_cti: 0,
        }
    }

    fn append(&mut self, changes: Vec<Change>) -> Vec<Vec<u8>> {
        let (encoded, head) = extend(self.encoded.len() as u64, self.head, changes, time());
        for bytes in &encoded {
            let entry = Entry::decode(bytes).expect("own entry");
            apply_entry(&mut self.model, &entry, &IndexConsistency).expect("valid by construction");
        }
        self.head = head;
        self.encoded.extend(encoded.iter().cloned());
        encoded
    }
}

/// Verifies and applies `encoded` under a checkpoint signed by `seeds`, as a terminal does.
fn apply(
    store: &SledLedger,
    encoded: Vec<Vec<u8>>,
    size: u64,
    root_hash: [u8; 32],
    seeds: &[u8],
) -> Result<(), Refused> {
    let (checkpoint, signed) = sign(size, root_hash, seeds);
    let decoded = SignedCheckpoint::decode(&signed).expect("decode");
    let verified = roots(&[1, 2, 3], 2)
        .verify(&decoded)
        .map_err(Refused::Checkpoint)?;
    assert_eq!(verified, checkpoint);
    let cursor = store.cursor().map_err(Refused::Store)?;
    let batch = verify_batch(&cursor, encoded, verified).map_err(|e| Refused::Store(e.into()))?;
    store
        .apply(&batch, &signed, &IndexConsistency)
        .map_err(Refused::Store)
}

/// Why a batch was not applied: its checkpoint, or the chain and store.
#[derive(Debug)]
enum Refused {
    Checkpoint(CheckpointError),
    Store(LedgerStoreError),
}

/// Tampers with the next batch's entries or with the root its checkpoint signs.
type Tamper = Box<dyn Fn(&mut Vec<Vec<u8>>, &mut [u8; 32])>;

fn assert_same(store: &SledLedger, model: &MemoryState, on: jiff::civil::Date) {
    for h in 0..HOLDERS {
        let holder = HolderDigest(holder(h));
        let mut got = store.permits_by_holder(&holder).expect("permits");
        let mut want = LedgerView::permits_by_holder(model, &holder).expect("model");
        got.sort_by_key(|p| p.index.cti);
        want.sort_by_key(|p| p.index.cti);
        assert_eq!(got, want, "permits of holder {h}");
        for held in &got {
            assert_eq!(
                store.permit_text(held.seq).expect("text"),
                LedgerView::permit_text(model, held.seq).expect("model"),
                "signed text of entry {}",
                held.seq
            );
            assert_eq!(
                store.permit(&held.index.cti).expect("permit"),
                LedgerView::permit(model, &held.index.cti).expect("model")
            );
        }
        assert_eq!(
            store.active_alerts(&holder, on).expect("alerts"),
            LedgerView::active_alerts(model, &holder, on).expect("model")
        );
        assert_eq!(
            store.stay_extensions(&holder).expect("ext"),
            LedgerView::stay_extensions(model, &holder).expect("model")
        );
        assert_eq!(
            store.registrations(&holder).expect("reg"),
            LedgerView::registrations(model, &holder).expect("model")
        );
    }
    for cti in model.permits.keys() {
        assert_eq!(
            store.is_revoked(cti).expect("revoked"),
            model.revoked.contains_key(cti)
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn store_matches_model_across_batches_and_restarts(
        batches in prop::collection::vec((prop::collection::vec(op(), 0..12), any::<bool>()), 1..6),
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut central = Central::new();
        let mut store = SledLedger::open(dir.path(), CACHE_CAPACITY_DEFAULT).expect("open");
        for (ops, restart) in batches {
            let mut changes = Vec::new();
            let mut scratch = central.model.clone();
            let mut next = central.next_cti;
            for op in &ops {
                if let Some(change) = to_change(op, &scratch, &mut next) {
                    let seq = (central.encoded.len() + changes.len() + 1) as u64;
                    let entry = Entry { seq, prev: [0; 32], time: time(), change: change.clone() };
                    if apply_entry(&mut scratch, &entry, &IndexConsistency).is_ok() {
                        changes.push(change);
                    }
                }
            }
            central.next_cti = next;
            let from = central.encoded.len() as u64;
            let encoded = central.append(changes);
            let size = from + encoded.len() as u64;
            if size == from {
                continue;
            }
            apply(&store, encoded, size, central.head, &[1, 3]).expect("apply");
            if restart {
                drop(store);
                store = SledLedger::open(dir.path(), CACHE_CAPACITY_DEFAULT).expect("reopen");
            }
            assert_same(&store, &central.model, day("2026-05-02"));
            assert_same(&store, &central.model, day("2026-07-01"));
            prop_assert_eq!(store.cursor().expect("cursor").seq, size);
        }
    }
}

/// A store with 3 applied entries, and 3 more central entries ready for the next batch.
fn seeded() -> (tempfile::TempDir, SledLedger, Central, Vec<Vec<u8>>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SledLedger::open(dir.path(), CACHE_CAPACITY_DEFAULT).expect("open");
    let mut central = Central::new();
    let first = central.append(vec![permit(1, 0), permit(2, 1), permit(3, 2)]);
    apply(&store, first, 3, central.head, &[1, 2]).expect("first batch");
    let next = central.append(vec![
        permit(4, 0),
        Change::PermitRevoked(PermitRevoked {
            cti: [1; 16],
            reason: "r".into(),
        }),
        permit(5, 3),
    ]);
    (dir, store, central, next)
}

fn snapshot(store: &SledLedger) -> (Cursor, Vec<Vec<u8>>, Option<Vec<u8>>, bool, usize) {
    let h0 = HolderDigest(holder(0));
    (
        store.cursor().expect("cursor"),
        store.entries(1, u64::MAX).expect("entries"),
        store.signed_checkpoint().expect("checkpoint"),
        store.is_revoked(&[1; 16]).expect("revoked"),
        store.permits_by_holder(&h0).expect("permits").len(),
    )
}

#[test]
fn bad_batches_are_rejected_and_leave_the_store_unchanged() {
    let forged = |next: &mut Vec<Vec<u8>>| {
        // A byte flipped inside the BP1 text: still valid CBOR, wrong hash.
        let last = next.len() - 1;
        let pos = next[last]
            .windows(4)
            .position(|w| w == b"BP1:")
            .expect("bp1 in entry")
            + 4;
        next[last][pos] ^= 0x01;
    };
    let cases: Vec<(&str, Tamper)> = vec![
        ("forged entry", Box::new(move |n, _| forged(n))),
        ("reordered entries", Box::new(|n, _| n.swap(0, 1))),
        (
            "duplicated entry",
            Box::new(|n, _| {
                let dup = n[0].clone();
                n.insert(1, dup);
            }),
        ),
        (
            "broken chain",
            Box::new(|n, _| {
                let mut e = Entry::decode(&n[1]).expect("decode");
                e.prev = [0xAA; 32];
                n[1] = e.encode();
            }),
        ),
        (
            "missing entry",
            Box::new(|n, _| {
                n.remove(1);
            }),
        ),
        ("root of another history", Box::new(|_, root| root[0] ^= 1)),
    ];
    for (name, tamper) in cases {
        let (_dir, store, central, mut next) = seeded();
        let before = snapshot(&store);
        let mut root_hash = central.head;
        tamper(&mut next, &mut root_hash);
        let result = apply(&store, next, 6, root_hash, &[1, 2]);
        assert!(result.is_err(), "{name} was accepted");
        assert_eq!(snapshot(&store), before, "{name} changed the store");
    }
}

#[test]
fn checkpoints_from_unknown_or_revoked_roots_are_rejected() {
    // Pinned set is {1, 2, 3} with k = 2; root 4 was never pinned, root 5 was removed (revoked).
    for (name, seeds) in [
        ("unknown root", &[1u8, 4][..]),
        ("revoked root", &[5, 2][..]),
        ("one root", &[3][..]),
    ] {
        let (_dir, store, central, next) = seeded();
        let before = snapshot(&store);
        let result = apply(&store, next, 6, central.head, seeds);
        assert!(
            matches!(
                result,
                Err(Refused::Checkpoint(CheckpointError::NotEnoughSignatures {
                    have: 1,
                    need: 2
                }))
            ),
            "{name}: {result:?}"
        );
        assert_eq!(snapshot(&store), before, "{name} changed the store");
    }
}

#[test]
fn a_rejected_entry_rolls_back_the_whole_batch() {
    let (_dir, store, mut central, _) = seeded();
    let before = snapshot(&store);
    // Entries 4..6 were appended by `seeded`; a duplicate permit makes entry 7 invalid to apply.
    let (encoded, head) = extend(
        3,
        entry_hash(&central.encoded[2]),
        vec![permit(9, 0), permit(9, 1)],
        time(),
    );
    central.encoded.truncate(3);
    let result = apply(&store, encoded, 5, head, &[1, 2]);
    assert!(
        matches!(
            result,
            Err(Refused::Store(LedgerStoreError::Rejected { seq: 5, .. }))
        ),
        "{result:?}"
    );
    assert_eq!(snapshot(&store), before);
}

/// `ledger verify` recomputes the chain from the replica's files and checks the lookup against
/// it: a byte changed in an entry, or a permit record pointing the lookup at another holder, is
/// found and named; the intact replica verifies.
#[test]
fn verify_finds_a_tampered_entry_or_permit_record_on_disk() {
    use checkpointd::cli::ledger::verify_replica;
    let pinned = roots(&[1, 2, 3], 2);
    let (dir, store, _, _) = seeded();
    assert_eq!(verify_replica(&store, &pinned), Ok(3));
    drop(store);
    let pristine: Vec<(String, Vec<u8>)> = ["entries.log", "permits.rec"]
        .iter()
        .map(|f| {
            let bytes = std::fs::read(dir.path().join(f)).expect("read");
            (f.to_string(), bytes)
        })
        .collect();

    for (file, at, want) in [
        // Inside entry 2's BP1 text ("BP1:" is followed by the permit's own bytes).
        ("entries.log", None, "prev"),
        // The second record's holder prefix: the permit of entry 2 moves to another holder.
        ("permits.rec", Some(49), "entry 2: permit"),
        // A record added (a copy of the first for another holder), with the cursor's count.
        (
            "permits.rec",
            Some(usize::MAX),
            "answers lookups with 4 permits, the chain issued 3",
        ),
    ] {
        for (name, bytes) in &pristine {
            std::fs::write(dir.path().join(name), bytes).expect("restore");
        }
        let path = dir.path().join(file);
        let mut bytes = std::fs::read(&path).expect("read");
        if at == Some(usize::MAX) {
            let mut forged = bytes[..49].to_vec();
            forged[0] ^= 0xff;
            forged[24] ^= 0xff;
            bytes.extend_from_slice(&forged);
            std::fs::write(&path, &bytes).expect("append");
            {
                // The store dropped just before may hold sled's lock for a few milliseconds.
                let db = (0..200)
                    .find_map(|_| {
                        sled::open(dir.path())
                            .inspect_err(|_| {
                                std::thread::sleep(std::time::Duration::from_millis(10))
                            })
                            .ok()
                    })
                    .expect("sled");
                let meta = db.open_tree("meta").expect("meta");
                let mut applied = meta.get("applied").expect("get").expect("cursor").to_vec();
                applied[8] += 1; // the permit count's low byte
                meta.insert("applied", applied).expect("count");
                db.flush().expect("flush");
            }
            let store = SledLedger::open(dir.path(), CACHE_CAPACITY_DEFAULT).expect("open");
            let verdict = verify_replica(&store, &pinned);
            assert!(
                verdict.as_ref().is_err_and(|e| e.contains(want)),
                "extra record: {verdict:?}"
            );
            continue;
        }
        let at = at.unwrap_or_else(|| {
            let second = bytes
                .windows(4)
                .enumerate()
                .filter(|(_, w)| *w == b"BP1:")
                .nth(1)
                .expect("entry 2 has a BP1 text")
                .0;
            second + 4
        });
        bytes[at] ^= 0x01;
        std::fs::write(&path, bytes).expect("tamper");
        let store = SledLedger::open(dir.path(), CACHE_CAPACITY_DEFAULT).expect("open");
        let verdict = verify_replica(&store, &pinned);
        assert!(
            verdict.as_ref().is_err_and(|e| e.contains(want)),
            "{file}: {verdict:?}"
        );
    }
}
