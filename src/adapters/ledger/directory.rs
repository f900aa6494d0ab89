//! Every applied permit by holder, in memory: the lookup each traveller costs answers from here.
//!
//! Why not a sled tree: over a million permits, a random sled read pages a leaf in from disk
//! (p99 tens to hundreds of µs) and sled's cache would need several times the data in memory to
//! avoid it. Packed here, a permit takes 49 bytes (1,000,000 permits: about 50 MB) and a lookup is
//! one shard's binary search. sled stays the store: the directory is rebuilt from the `permits`
//! tree when the replica is opened and grows only when a batch's cursor has been made durable.

use std::sync::RwLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use jiff::civil::Date;

use crate::core::document::HolderDigest;
use crate::core::ledger::{HeldPermit, PermitIndex, PermitType};

/// Shards, chosen by the first two bytes of the holder digest (uniform: it is a SHA-256).
const SHARDS: usize = 1 << 16;
/// Bytes of the holder digest kept. Two documents sharing 128 bits of SHA-256 is not a risk worth
/// 16 more bytes per permit; and a permit is bound to the travel document again (its signed
/// holder fields against the MRZ) when it is used.
const HOLDER_BYTES: usize = 16;
/// holder prefix 16 | seq 8 BE | cti 16 | valid_from 4 | valid_until 4 | permit type 1, so that
/// the bytes sort by holder, then oldest first.
const PACKED_BYTES: usize = HOLDER_BYTES + 16 + 8 + 4 + 4 + 1;

/// One permit, packed.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Packed([u8; PACKED_BYTES]);

fn pack_date(date: Date) -> [u8; 4] {
    let [y0, y1] = date.year().to_be_bytes();
    // Months and days fit a byte; years are i16 in jiff.
    [
        y0,
        y1,
        date.month().unsigned_abs(),
        date.day().unsigned_abs(),
    ]
}

fn unpack_date(bytes: [u8; 4]) -> Date {
    let year = i16::from_be_bytes([bytes[0], bytes[1]]);
    let month = i8::try_from(bytes[2]).unwrap_or(i8::MAX);
    let day = i8::try_from(bytes[3]).unwrap_or(i8::MAX);
    // Only `pack_date` writes these bytes, from a valid date.
    Date::new(year, month, day).expect("packed from a valid date")
}

fn type_code(permit_type: PermitType) -> u8 {
    let position = PermitType::ALL
        .iter()
        .position(|t| *t == permit_type)
        .expect("PermitType::ALL lists every permit type");
    u8::try_from(position).expect("fewer than 256 permit types")
}

impl Packed {
    fn new(permit: &HeldPermit) -> Self {
        let index = &permit.index;
        let mut out = [0u8; PACKED_BYTES];
        out[..16].copy_from_slice(&index.holder[..HOLDER_BYTES]);
        out[16..24].copy_from_slice(&permit.seq.to_be_bytes());
        out[24..40].copy_from_slice(&index.cti);
        out[40..44].copy_from_slice(&pack_date(index.valid_from));
        out[44..48].copy_from_slice(&pack_date(index.valid_until));
        out[48] = type_code(index.permit_type);
        Self(out)
    }

    fn holder(&self) -> &[u8] {
        &self.0[..HOLDER_BYTES]
    }

    /// The permit, for the holder whose digest matched this prefix.
    fn unpack(&self, holder: &HolderDigest) -> HeldPermit {
        let field = |from: usize| -> [u8; 4] {
            let mut bytes = [0u8; 4];
            bytes.copy_from_slice(&self.0[from..from + 4]);
            bytes
        };
        let mut cti = [0u8; 16];
        cti.copy_from_slice(&self.0[24..40]);
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&self.0[16..24]);
        HeldPermit {
            index: PermitIndex {
                cti,
                holder: holder.0,
                // Only `Packed::new` writes the code, from `PermitType::ALL`.
                permit_type: PermitType::ALL[usize::from(self.0[48])],
                valid_from: unpack_date(field(40)),
                valid_until: unpack_date(field(44)),
            },
            seq: u64::from_be_bytes(seq),
        }
    }
}

fn shard_of(holder: &[u8]) -> usize {
    usize::from(u16::from_be_bytes([holder[0], holder[1]]))
}

/// Permits of a run not yet published, packed as the directory will hold them.
#[derive(Default)]
pub struct PendingPermits(Vec<Packed>);

impl PendingPermits {
    pub fn add(&mut self, permits: &[HeldPermit]) {
        self.0.extend(permits.iter().map(Packed::new));
    }
}

/// The applied permits by holder.
pub struct HolderDirectory {
    shards: Box<[RwLock<Box<[Packed]>>]>,
    len: AtomicUsize,
}

impl Default for HolderDirectory {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::new(Box::default())).collect(),
            len: AtomicUsize::new(0),
        }
    }
}

impl HolderDirectory {
    /// Adds applied permits (again: harmless). A reader waits at most for one small shard's merge.
    pub fn insert(&self, permits: &[HeldPermit]) {
        let mut pending = PendingPermits::default();
        pending.add(permits);
        self.insert_pending(pending);
    }

    /// Adds a published run's permits.
    pub fn insert_pending(&self, pending: PendingPermits) {
        let mut packed = pending.0;
        packed.sort_unstable();
        let mut rest = packed.as_slice();
        while let Some(first) = rest.first() {
            let shard = shard_of(first.holder());
            let n = rest.partition_point(|p| shard_of(p.holder()) == shard);
            let (mine, tail) = rest.split_at(n);
            rest = tail;
            // Merged under the write lock (a shard holds a few dozen permits at most), so two
            // writers could never lose each other's permits.
            let mut shard = self.shards[shard]
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let mut merged = Vec::with_capacity(shard.len() + mine.len());
            merged.extend_from_slice(&shard);
            merged.extend_from_slice(mine);
            merged.sort_unstable();
            merged.dedup();
            let before = shard.len();
            *shard = merged.into_boxed_slice();
            let added = shard.len();
            drop(shard);
            self.len.fetch_add(added - before, Ordering::Relaxed);
        }
    }

    /// The permits of this holder, oldest first.
    pub fn permits_of(&self, holder: &HolderDigest) -> Vec<HeldPermit> {
        let prefix = &holder.0[..HOLDER_BYTES];
        let shard = read(&self.shards[shard_of(prefix)]);
        let start = shard.partition_point(|p| p.holder() < prefix);
        shard[start..]
            .iter()
            .take_while(|p| p.holder() == prefix)
            .map(|p| p.unpack(holder))
            .collect()
    }

    /// Permits held.
    pub fn count(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }
}

fn read(slot: &RwLock<Box<[Packed]>>) -> std::sync::RwLockReadGuard<'_, Box<[Packed]>> {
    // A writer only ever assigns a whole new shard, so a poisoned lock holds a complete one.
    slot.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(holder: u8, cti: u8, seq: u64, permit_type: PermitType) -> HeldPermit {
        let mut digest = [holder; 32];
        digest[31] = cti; // past the kept prefix: must not matter
        HeldPermit {
            index: PermitIndex {
                cti: [cti; 16],
                holder: digest,
                permit_type,
                valid_from: "2026-01-31".parse().expect("date"),
                valid_until: "9999-12-31".parse().expect("date"),
            },
            seq,
        }
    }

    #[test]
    fn every_field_round_trips_and_holders_stay_apart() {
        let directory = HolderDirectory::default();
        let mut permits = Vec::new();
        for (i, permit_type) in PermitType::ALL.into_iter().enumerate() {
            let n = u8::try_from(i).expect("few types");
            permits.push(held(7, n, 100 - u64::from(n), permit_type));
            permits.push(held(8, n + 50, u64::from(n), permit_type));
        }
        directory.insert(&permits[..5]);
        directory.insert(&permits[5..]);
        directory.insert(&permits[3..4]); // applied again: stays single
        assert_eq!(directory.count(), permits.len());

        let holder = HolderDigest([7; 32]);
        let mut want: Vec<HeldPermit> = permits
            .iter()
            .filter(|p| p.index.holder[0] == 7)
            .map(|p| HeldPermit {
                index: PermitIndex {
                    holder: holder.0,
                    ..p.index.clone()
                },
                seq: p.seq,
            })
            .collect();
        want.sort_by_key(|p| p.seq);
        assert_eq!(directory.permits_of(&holder), want);
        assert!(directory.permits_of(&HolderDigest([9; 32])).is_empty());
    }

    #[test]
    fn neighbours_in_one_shard_are_told_apart() {
        let directory = HolderDirectory::default();
        let mut a = held(1, 1, 1, PermitType::WorkPermit);
        let mut b = held(1, 2, 2, PermitType::WorkPermit);
        a.index.holder[15] = 0x10;
        b.index.holder[15] = 0x11;
        directory.insert(&[b.clone(), a.clone()]);
        assert_eq!(directory.permits_of(&HolderDigest(a.index.holder)), [a]);
        assert_eq!(directory.permits_of(&HolderDigest(b.index.holder)), [b]);
    }
}
