//! Every applied permit by holder and by cti, in memory: the lookup each traveller costs answers
//! from here, and so does the cti check every permit issue makes on apply.
//!
//! Why not sled trees: over a million permits, a random sled read pages a leaf in from disk (p99
//! tens to hundreds of µs), and sled holds page-table state for every leaf and leaves many read
//! leaves resident past its cache capacity. Packed here, a permit takes 49 bytes by holder and 16
//! by cti (1,000,000 permits: about 65 MB) and a lookup is one shard's binary search. The
//! directory is rebuilt from the replica's permit file when the replica is opened and grows only
//! when a run's cursor has been made durable.

use std::sync::RwLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use jiff::civil::Date;

use crate::core::document::HolderDigest;
use crate::core::ledger::{Cti, HeldPermit, PermitIndex, PermitType};

/// Shards, chosen by the first two bytes of the holder digest (uniform: it is a SHA-256) or of
/// the cti (random).
const SHARDS: usize = 1 << 16;
/// Bytes of the holder digest kept. Two documents sharing 128 bits of SHA-256 is not a risk worth
/// 16 more bytes per permit; and a permit is bound to the travel document again (its signed
/// holder fields against the MRZ) when it is used.
const HOLDER_BYTES: usize = 16;
/// A permit record, in memory and in the replica's permit file: holder prefix 16 | seq 8 BE |
/// cti 16 | valid_from 4 | valid_until 4 | permit type 1, so that the bytes sort by holder, then
/// oldest first.
pub const RECORD_BYTES: usize = HOLDER_BYTES + 16 + 8 + 4 + 4 + 1;

/// One permit, packed.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Packed([u8; RECORD_BYTES]);

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

fn unpack_date(bytes: [u8; 4]) -> Result<Date, String> {
    let year = i16::from_be_bytes([bytes[0], bytes[1]]);
    let month = i8::try_from(bytes[2]).map_err(|_| format!("month {}", bytes[2]))?;
    let day = i8::try_from(bytes[3]).map_err(|_| format!("day {}", bytes[3]))?;
    Date::new(year, month, day).map_err(|e| e.to_string())
}

fn type_code(permit_type: PermitType) -> u8 {
    let position = PermitType::ALL
        .iter()
        .position(|t| *t == permit_type)
        .expect("PermitType::ALL lists every permit type");
    u8::try_from(position).expect("fewer than 256 permit types")
}

fn field<const N: usize>(bytes: &[u8; RECORD_BYTES], from: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes[from..from + N]);
    out
}

impl Packed {
    fn new(permit: &HeldPermit) -> Self {
        let index = &permit.index;
        let mut out = [0u8; RECORD_BYTES];
        out[..16].copy_from_slice(&index.holder[..HOLDER_BYTES]);
        out[16..24].copy_from_slice(&permit.seq.to_be_bytes());
        out[24..40].copy_from_slice(&index.cti);
        out[40..44].copy_from_slice(&pack_date(index.valid_from));
        out[44..48].copy_from_slice(&pack_date(index.valid_until));
        out[48] = type_code(index.permit_type);
        Self(out)
    }

    /// A record read back from the permit file: checked, since it came from disk.
    fn from_record(record: [u8; RECORD_BYTES]) -> Result<Self, String> {
        unpack_date(field(&record, 40)).map_err(|e| format!("valid_from: {e}"))?;
        unpack_date(field(&record, 44)).map_err(|e| format!("valid_until: {e}"))?;
        if usize::from(record[48]) >= PermitType::ALL.len() {
            return Err(format!("permit type code {}", record[48]));
        }
        Ok(Self(record))
    }

    fn seq(&self) -> u64 {
        u64::from_be_bytes(field(&self.0, 16))
    }

    fn cti(&self) -> Cti {
        field(&self.0, 24)
    }

    /// The permit, for the holder whose digest matched this prefix.
    fn unpack(&self, holder: &HolderDigest) -> HeldPermit {
        // Only `Packed::new` and `Packed::from_record` make these bytes, from valid fields.
        let date = |from| unpack_date(field(&self.0, from)).expect("packed from a valid date");
        HeldPermit {
            index: PermitIndex {
                cti: self.cti(),
                holder: holder.0,
                permit_type: PermitType::ALL[usize::from(self.0[48])],
                valid_from: date(40),
                valid_until: date(44),
            },
            seq: self.seq(),
        }
    }
}

fn shard_of(key: &[u8]) -> usize {
    usize::from(u16::from_be_bytes([key[0], key[1]]))
}

/// Sorted arrays in 65,536 shards chosen by the first two bytes of each item (a uniform hash or
/// random id): an insert rewrites one small shard, a read searches one.
struct Shards<T> {
    shards: Box<[RwLock<Box<[T]>>]>,
    len: AtomicUsize,
}

impl<T: Copy + Ord + AsRef<[u8]>> Default for Shards<T> {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::new(Box::default())).collect(),
            len: AtomicUsize::new(0),
        }
    }
}

impl<T: Copy + Ord + AsRef<[u8]>> Shards<T> {
    /// Adds items (again: harmless). A reader waits at most for one small shard's merge.
    fn insert(&self, mut items: Vec<T>) {
        items.sort_unstable();
        let mut rest = items.as_slice();
        while let Some(first) = rest.first() {
            let shard = shard_of(first.as_ref());
            let n = rest.partition_point(|p| shard_of(p.as_ref()) == shard);
            let (mine, tail) = rest.split_at(n);
            rest = tail;
            // Merged under the write lock (a shard holds a few dozen items at most), so two
            // writers could never lose each other's items.
            let mut slot = self.shards[shard]
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let mut merged = Vec::with_capacity(slot.len() + mine.len());
            merged.extend_from_slice(&slot);
            merged.extend_from_slice(mine);
            merged.sort_unstable();
            merged.dedup();
            let before = slot.len();
            *slot = merged.into_boxed_slice();
            let added = slot.len() - before;
            drop(slot);
            self.len.fetch_add(added, Ordering::Relaxed);
        }
    }

    /// The items whose bytes start with `prefix` (at least two bytes long), in order.
    fn starting_with(&self, prefix: &[u8]) -> Vec<T> {
        // A writer only ever assigns a whole new shard, so a poisoned lock holds a complete one.
        let shard = self.shards[shard_of(prefix)]
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let start = shard.partition_point(|p| &p.as_ref()[..prefix.len()] < prefix);
        shard[start..]
            .iter()
            .take_while(|p| p.as_ref().starts_with(prefix))
            .copied()
            .collect()
    }

    fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }
}

impl AsRef<[u8]> for Packed {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// A permit by cti: the cti's first 8 bytes and the seq of its entry. Two ctis (random 128-bit
/// ids) sharing 64 bits are told apart by the entry, read on a match.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct CtiSeq([u8; 16]);

impl AsRef<[u8]> for CtiSeq {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

const CTI_BYTES: usize = 8;

impl CtiSeq {
    fn new(cti: &Cti, seq: u64) -> Self {
        let mut out = [0u8; 16];
        out[..CTI_BYTES].copy_from_slice(&cti[..CTI_BYTES]);
        out[CTI_BYTES..].copy_from_slice(&seq.to_be_bytes());
        Self(out)
    }

    fn seq(&self) -> u64 {
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&self.0[CTI_BYTES..]);
        u64::from_be_bytes(seq)
    }
}

/// Permits of a run not yet published, as the directory will hold them.
#[derive(Default)]
pub struct PendingPermits(Vec<Packed>);

impl PendingPermits {
    pub fn add(&mut self, permits: &[HeldPermit]) {
        self.0.extend(permits.iter().map(Packed::new));
    }

    /// The permits, as records of the replica's permit file.
    pub fn records(&self) -> impl Iterator<Item = [u8; RECORD_BYTES]> + '_ {
        self.0.iter().map(|p| p.0)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn extend(&mut self, other: PendingPermits) {
        self.0.extend(other.0);
    }
}

/// The applied permits by holder and by cti.
#[derive(Default)]
pub struct PermitDirectory {
    by_holder: Shards<Packed>,
    by_cti: Shards<CtiSeq>,
}

impl PermitDirectory {
    /// Adds applied permits (again: harmless).
    #[cfg(test)]
    fn insert(&self, permits: &[HeldPermit]) {
        let mut pending = PendingPermits::default();
        pending.add(permits);
        self.insert_pending(pending);
    }

    /// Adds permits read back from the replica's permit file (records `first..`, of a replica
    /// applied up to entry `applied`); a record that does not decode, or names an entry the
    /// cursor does not cover, is reported with its position.
    pub fn insert_records(
        &self,
        first: u64,
        applied: u64,
        records: &[[u8; RECORD_BYTES]],
    ) -> Result<(), String> {
        let mut packed = Vec::with_capacity(records.len());
        for (n, record) in (first..).zip(records) {
            let p = Packed::from_record(*record).map_err(|e| format!("record {n}: {e}"))?;
            if p.seq() == 0 || p.seq() > applied {
                return Err(format!(
                    "record {n} names entry {}, the cursor is at {applied}",
                    p.seq()
                ));
            }
            packed.push(p);
        }
        self.insert_pending(PendingPermits(packed));
        Ok(())
    }

    /// Adds a published run's permits.
    pub fn insert_pending(&self, pending: PendingPermits) {
        let by_cti = pending
            .0
            .iter()
            .map(|p| CtiSeq::new(&p.cti(), p.seq()))
            .collect();
        self.by_cti.insert(by_cti);
        self.by_holder.insert(pending.0);
    }

    /// The permits of this holder, oldest first.
    pub fn permits_of(&self, holder: &HolderDigest) -> Vec<HeldPermit> {
        self.by_holder
            .starting_with(&holder.0[..HOLDER_BYTES])
            .iter()
            .map(|p| p.unpack(holder))
            .collect()
    }

    /// Seqs of the entries that may have issued this cti (its first 8 bytes match): almost
    /// always none or one.
    pub fn seqs_of_cti(&self, cti: &Cti) -> Vec<u64> {
        self.by_cti
            .starting_with(&cti[..CTI_BYTES])
            .iter()
            .map(CtiSeq::seq)
            .collect()
    }

    /// Permits held.
    pub fn count(&self) -> usize {
        self.by_holder.len()
    }
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
        let directory = PermitDirectory::default();
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
    fn ctis_find_their_entries_and_records_round_trip_through_the_file_form() {
        let directory = PermitDirectory::default();
        let a = held(1, 1, 10, PermitType::WorkPermit);
        let mut b = held(2, 1, 11, PermitType::RefugeeStatus);
        b.index.cti[15] = 0xee; // shares a's first 8 cti bytes: both are candidates
        let records: Vec<[u8; RECORD_BYTES]> = [&a, &b].iter().map(|p| Packed::new(p).0).collect();
        directory
            .insert_records(0, 11, &records)
            .expect("valid records");
        assert_eq!(directory.seqs_of_cti(&a.index.cti), [10, 11]);
        assert!(directory.seqs_of_cti(&[3; 16]).is_empty());
        assert_eq!(directory.permits_of(&HolderDigest(b.index.holder)), [b]);
        assert_eq!(directory.count(), 2);
    }

    #[test]
    fn a_bad_record_is_reported_with_its_position() {
        let directory = PermitDirectory::default();
        let good = Packed::new(&held(1, 1, 5, PermitType::WorkPermit)).0;
        let mut bad_type = good;
        bad_type[48] = 200;
        let mut bad_date = good;
        bad_date[43] = 32; // 31 days at most
        for (record, want) in [
            (bad_type, "record 8: permit type code 200"),
            (bad_date, "record 8: valid_from"),
            (good, "record 7 names entry 5, the cursor is at 4"),
        ] {
            let applied = if record == good { 4 } else { 5 };
            let err = directory
                .insert_records(7, applied, &[good, record])
                .map(|()| String::new())
                .unwrap_or_else(|e| e);
            assert!(err.starts_with(want), "{err}");
        }
    }

    #[test]
    fn neighbours_in_one_shard_are_told_apart() {
        let directory = PermitDirectory::default();
        let mut a = held(1, 1, 1, PermitType::WorkPermit);
        let mut b = held(1, 2, 2, PermitType::WorkPermit);
        a.index.holder[15] = 0x10;
        b.index.holder[15] = 0x11;
        directory.insert(&[b.clone(), a.clone()]);
        assert_eq!(directory.permits_of(&HolderDigest(a.index.holder)), [a]);
        assert_eq!(directory.permits_of(&HolderDigest(b.index.holder)), [b]);
    }
}
