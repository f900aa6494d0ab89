//! The replica's append-only parts, in flat files beside sled: every applied entry's bytes, and
//! one fixed-width record per issued permit, from which the in-memory indexes are rebuilt on open.
//!
//! Why not sled trees: sled 0.34 keeps about 150 bytes of page table per leaf (a leaf holds at
//! most 16 items) and lets up to 256 × 64 leaves stay resident past its cache capacity. Measured
//! with a million entries of 1.8 KB and a 16 MiB cache: 36 MiB right after open, 162 MiB after
//! 50,000 random reads. Here a read is two positioned reads through the kernel's page cache and
//! the process holds none of it. How much of each file is applied is said only by the cursor in
//! sled: a run writes past it, syncs the files, and only then moves the cursor.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::core::ledger::ANY_ENTRY_BYTES_MAX;
use crate::ports::ledger::LedgerStoreError;

/// Entry bytes back to back, in seq order.
pub const ENTRIES_FILE: &str = "entries.log";
/// The end offset (u64 BE) of entry `seq` in [`ENTRIES_FILE`], at `(seq − 1) × 8`.
pub const ENDS_FILE: &str = "entries.end";
/// Permit records of `RECORD` bytes, in the order their entries were applied.
pub const PERMITS_FILE: &str = "permits.rec";

const END_BYTES: u64 = 8;

fn io(file: &'static str, doing: &str, e: std::io::Error) -> LedgerStoreError {
    LedgerStoreError::Backend(format!("{doing} {file}: {e}"))
}

fn short(file: &'static str, reason: String) -> LedgerStoreError {
    LedgerStoreError::Corrupt { what: file, reason }
}

/// `count` items of `width` bytes, as a file length or offset; past u64 is corruption.
fn span(file: &'static str, count: u64, width: u64) -> Result<u64, LedgerStoreError> {
    count
        .checked_mul(width)
        .ok_or_else(|| short(file, format!("{count} items of {width} bytes overflow")))
}

/// Fills `buf` from `offset`; a file that ends first is corrupt (the cursor covers what is read).
fn read_at(
    file: &File,
    name: &'static str,
    buf: &mut [u8],
    offset: u64,
    what: impl FnOnce() -> String,
) -> Result<(), LedgerStoreError> {
    file.read_exact_at(buf, offset).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            short(
                name,
                format!(
                    "{} ({} bytes at {offset}): the file ends first",
                    what(),
                    buf.len()
                ),
            )
        } else {
            io(name, &format!("reading {} in", what()), e)
        }
    })
}

/// The three files; `RECORD` is the size of one permit record.
pub struct AppendFiles<const RECORD: usize> {
    entries: File,
    ends: File,
    permits: File,
}

fn open_file(dir: &Path, name: &'static str) -> Result<File, LedgerStoreError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(dir.join(name))
        .map_err(|e| io(name, "opening", e))
}

fn file_len(file: &File, name: &'static str) -> Result<u64, LedgerStoreError> {
    Ok(file
        .metadata()
        .map_err(|e| io(name, "reading the length of", e))?
        .len())
}

impl<const RECORD: usize> AppendFiles<RECORD> {
    /// Opens (or creates) the files in the replica's directory.
    pub fn open(dir: &Path) -> Result<Self, LedgerStoreError> {
        let files = Self {
            entries: open_file(dir, ENTRIES_FILE)?,
            ends: open_file(dir, ENDS_FILE)?,
            permits: open_file(dir, PERMITS_FILE)?,
        };
        // A file just created must still be there after a power cut once the cursor counts on it.
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| LedgerStoreError::Backend(format!("syncing {}: {e}", dir.display())))?;
        Ok(files)
    }

    /// Cuts the files to what the cursor covers (`entries` entries and `permits` permit
    /// records), dropping what a run cut off by a crash or refused left past it. A file shorter
    /// than the cursor needs is corrupt: it was synced before the cursor moved.
    pub fn settle(&self, entries: u64, permits: u64) -> Result<(), LedgerStoreError> {
        let ends_len = span(ENDS_FILE, entries, END_BYTES)?;
        let have = file_len(&self.ends, ENDS_FILE)?;
        if have < ends_len {
            return Err(short(
                ENDS_FILE,
                format!("{have} bytes, the cursor at entry {entries} needs {ends_len}"),
            ));
        }
        let log_len = self.entry_end(entries)?;
        let have = file_len(&self.entries, ENTRIES_FILE)?;
        if have < log_len {
            return Err(short(
                ENTRIES_FILE,
                format!("{have} bytes, the cursor at entry {entries} needs {log_len}"),
            ));
        }
        let records_len = span(PERMITS_FILE, permits, RECORD as u64)?;
        let have = file_len(&self.permits, PERMITS_FILE)?;
        if have < records_len {
            return Err(short(
                PERMITS_FILE,
                format!("{have} bytes, the cursor's {permits} permits need {records_len}"),
            ));
        }
        for (file, name, len) in [
            (&self.ends, ENDS_FILE, ends_len),
            (&self.entries, ENTRIES_FILE, log_len),
            (&self.permits, PERMITS_FILE, records_len),
        ] {
            file.set_len(len).map_err(|e| io(name, "truncating", e))?;
        }
        self.sync()
    }

    /// Where entry `seq` ends in the entry file (0 for seq 0: where entry 1 starts).
    pub fn entry_end(&self, seq: u64) -> Result<u64, LedgerStoreError> {
        if seq == 0 {
            return Ok(0);
        }
        let mut end = [0u8; 8];
        read_at(
            &self.ends,
            ENDS_FILE,
            &mut end,
            span(ENDS_FILE, seq - 1, END_BYTES)?,
            || format!("entry {seq}'s end"),
        )?;
        Ok(u64::from_be_bytes(end))
    }

    /// The bytes of entries `from..=to` (written, and covered by the caller's cursor).
    pub fn read_entries(&self, from: u64, to: u64) -> Result<Vec<Vec<u8>>, LedgerStoreError> {
        if from == 0 || from > to {
            return Ok(Vec::new());
        }
        let count = usize::try_from(to - from + 1)
            .ok()
            .filter(|n| {
                n.checked_add(1)
                    .and_then(|n| n.checked_mul(END_BYTES as usize))
                    .is_some()
            })
            .ok_or_else(|| short(ENDS_FILE, format!("range {from}..={to} too long")))?;
        // The end of entry `from − 1` (where `from` starts) comes in the same read, unless `from`
        // is the first entry.
        let before = usize::from(from > 1);
        let mut ends = vec![0u8; (before + count) * END_BYTES as usize];
        read_at(
            &self.ends,
            ENDS_FILE,
            &mut ends,
            span(ENDS_FILE, from - 1 - before as u64, END_BYTES)?,
            || format!("the ends of entries {from}..={to}"),
        )?;
        let mut ends = ends
            .chunks_exact(END_BYTES as usize)
            .map(|b| u64::from_be_bytes(b.try_into().expect("chunks of 8 bytes")));
        let start = if before == 1 {
            ends.next().unwrap_or(0)
        } else {
            0
        };
        // Every length checked before anything is allocated from them: a damaged end must come
        // out as an error, not as a huge allocation.
        let mut lengths = Vec::with_capacity(count);
        let mut at = start;
        for (seq, end) in (from..).zip(ends) {
            let len = end
                .checked_sub(at)
                .and_then(|n| usize::try_from(n).ok())
                .filter(|n| *n <= ANY_ENTRY_BYTES_MAX)
                .ok_or_else(|| {
                    short(
                        ENDS_FILE,
                        format!(
                            "entry {seq} starts at {at} and ends at {end}: not an entry of at most {ANY_ENTRY_BYTES_MAX} bytes"
                        ),
                    )
                })?;
            lengths.push(len);
            at = end;
        }
        let mut bytes = vec![0u8; lengths.iter().sum()];
        read_at(&self.entries, ENTRIES_FILE, &mut bytes, start, || {
            format!("entries {from}..={to}")
        })?;
        let mut out = Vec::with_capacity(count);
        let mut rest = bytes.as_slice();
        for len in lengths {
            let (entry, tail) = rest.split_at(len);
            out.push(entry.to_vec());
            rest = tail;
        }
        Ok(out)
    }

    /// The bytes of entry `seq`.
    pub fn read_entry(&self, seq: u64) -> Result<Vec<u8>, LedgerStoreError> {
        let mut entries = self.read_entries(seq, seq)?;
        entries
            .pop()
            .ok_or_else(|| short(ENDS_FILE, format!("no entry {seq}")))
    }

    /// Writes entries `first..` starting at byte `start` of the entry file (where entry
    /// `first − 1` ends) and their ends; returns where the last one ends. Not synced.
    pub fn write_entries<'a>(
        &self,
        first: u64,
        start: u64,
        entries: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<u64, LedgerStoreError> {
        let mut bytes = Vec::new();
        let mut ends = Vec::new();
        for entry in entries {
            bytes.extend_from_slice(entry);
            ends.extend_from_slice(&(start + bytes.len() as u64).to_be_bytes());
        }
        if first == 0 {
            return Err(short(ENDS_FILE, "entries start at seq 1".into()));
        }
        self.entries
            .write_all_at(&bytes, start)
            .map_err(|e| io(ENTRIES_FILE, "writing", e))?;
        self.ends
            .write_all_at(&ends, span(ENDS_FILE, first - 1, END_BYTES)?)
            .map_err(|e| io(ENDS_FILE, "writing", e))?;
        Ok(start + bytes.len() as u64)
    }

    /// Writes permit records from record number `at` on. Not synced.
    pub fn write_permits(&self, at: u64, records: &[[u8; RECORD]]) -> Result<(), LedgerStoreError> {
        let bytes = records.concat();
        self.permits
            .write_all_at(&bytes, span(PERMITS_FILE, at, RECORD as u64)?)
            .map_err(|e| io(PERMITS_FILE, "writing", e))
    }

    /// Calls `each` with the first `count` permit records, a chunk at a time, in order.
    pub fn read_permits(
        &self,
        count: u64,
        mut each: impl FnMut(&[[u8; RECORD]]) -> Result<(), LedgerStoreError>,
    ) -> Result<(), LedgerStoreError> {
        const CHUNK: u64 = 16_384;
        let mut buf = Vec::new();
        let mut at = 0;
        while at < count {
            let n = CHUNK.min(count - at);
            buf.resize(n as usize * RECORD, 0);
            read_at(
                &self.permits,
                PERMITS_FILE,
                &mut buf,
                span(PERMITS_FILE, at, RECORD as u64)?,
                || format!("permit records {at}..{}", at + n),
            )?;
            let records: Vec<[u8; RECORD]> = buf
                .chunks_exact(RECORD)
                .map(|r| r.try_into().expect("chunks of RECORD bytes"))
                .collect();
            each(&records)?;
            at += n;
        }
        Ok(())
    }

    /// Bytes on disk, all three files.
    pub fn size(&self) -> Result<u64, LedgerStoreError> {
        Ok(file_len(&self.entries, ENTRIES_FILE)?
            + file_len(&self.ends, ENDS_FILE)?
            + file_len(&self.permits, PERMITS_FILE)?)
    }

    /// Makes everything written durable: called before the cursor moves past it.
    pub fn sync(&self) -> Result<(), LedgerStoreError> {
        for (file, name) in [
            (&self.entries, ENTRIES_FILE),
            (&self.ends, ENDS_FILE),
            (&self.permits, PERMITS_FILE),
        ] {
            file.sync_data().map_err(|e| io(name, "syncing", e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Files = AppendFiles<3>;

    #[test]
    fn entries_read_back_by_seq_and_range() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = Files::open(dir.path()).expect("open");
        let end = files
            .write_entries(1, 0, [b"one".as_slice(), b"", b"three"])
            .expect("write");
        assert_eq!(end, 8);
        let end = files
            .write_entries(4, end, [b"four".as_slice()])
            .expect("write");
        assert_eq!(end, 12);
        assert_eq!(files.read_entry(1).expect("1"), b"one");
        assert_eq!(files.read_entry(2).expect("2"), b"");
        assert_eq!(files.read_entry(4).expect("4"), b"four");
        assert_eq!(
            files.read_entries(2, 4).expect("range"),
            [b"".to_vec(), b"three".to_vec(), b"four".to_vec()]
        );
        assert!(files.read_entries(3, 2).expect("empty").is_empty());
        assert!(files.read_entry(5).is_err(), "past what was written");
    }

    #[test]
    fn settle_cuts_what_the_cursor_does_not_cover_and_refuses_a_short_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = Files::open(dir.path()).expect("open");
        files
            .write_entries(1, 0, [b"aa".as_slice(), b"bbb", b"c"])
            .expect("write");
        files
            .write_permits(0, &[[1, 1, 1], [2, 2, 2]])
            .expect("permits");
        files.settle(2, 1).expect("settle");
        drop(files);

        let files = Files::open(dir.path()).expect("reopen");
        assert_eq!(
            files.read_entries(1, 2).expect("kept"),
            [b"aa".to_vec(), b"bbb".to_vec()]
        );
        assert!(files.read_entry(3).is_err(), "cut");
        let mut seen = Vec::new();
        files
            .read_permits(1, |records| {
                seen.extend_from_slice(records);
                Ok(())
            })
            .expect("read");
        assert_eq!(seen, [[1, 1, 1]]);
        assert_eq!(
            std::fs::metadata(dir.path().join(PERMITS_FILE))
                .expect("meta")
                .len(),
            3
        );

        match files.settle(3, 1) {
            Err(LedgerStoreError::Corrupt { what, reason }) => {
                assert_eq!(what, ENDS_FILE);
                assert!(reason.contains("needs 24"), "{reason}");
            }
            other => panic!("a short ends file must be corrupt, got {other:?}"),
        }
        match files.settle(2, 2) {
            Err(LedgerStoreError::Corrupt { what, .. }) => assert_eq!(what, PERMITS_FILE),
            other => panic!("a short permit file must be corrupt, got {other:?}"),
        }
    }

    /// A damaged end, earlier than the cursor's own (which `settle` checks), is an error naming
    /// the entry when it is read, never a huge allocation or a panic.
    #[test]
    fn a_damaged_end_is_reported_when_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = Files::open(dir.path()).expect("open");
        files
            .write_entries(1, 0, [b"aa".as_slice(), b"bbb", b"c"])
            .expect("write");
        files.settle(3, 0).expect("settle");
        let ends = dir.path().join(ENDS_FILE);
        let pristine = std::fs::read(&ends).expect("read");
        for (at, value) in [(0, 0x80), (0, 0x40), (7, 0x09)] {
            let mut bytes = pristine.clone();
            bytes[at] = value;
            std::fs::write(&ends, &bytes).expect("damage");
            for read in [
                files.read_entries(1, 3).map(|_| ()),
                files.read_entry(2).map(|_| ()),
            ] {
                match read {
                    Err(LedgerStoreError::Corrupt { what, reason }) => {
                        assert_eq!(what, ENDS_FILE);
                        assert!(reason.contains(" and ends at "), "{reason}");
                    }
                    other => panic!("damage at byte {at} not reported: {other:?}"),
                }
            }
        }
        // An end past the entry file.
        let mut bytes = pristine;
        bytes[23] = 0x20;
        std::fs::write(&ends, &bytes).expect("damage");
        match files.read_entry(3) {
            Err(LedgerStoreError::Corrupt { what, reason }) => {
                assert_eq!(what, ENTRIES_FILE);
                assert!(reason.contains("the file ends first"), "{reason}");
            }
            other => panic!("an end past the file not reported: {other:?}"),
        }
    }

    #[test]
    fn a_rewrite_from_an_earlier_end_replaces_what_a_refused_run_left() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = Files::open(dir.path()).expect("open");
        let end = files.write_entries(1, 0, [b"x".as_slice()]).expect("1");
        files
            .write_entries(2, end, [b"refused-run".as_slice(), b"more"])
            .expect("left over");
        files
            .write_entries(2, end, [b"yy".as_slice()])
            .expect("again");
        assert_eq!(
            files.read_entries(1, 2).expect("read"),
            [b"x".to_vec(), b"yy".to_vec()]
        );
    }
}
