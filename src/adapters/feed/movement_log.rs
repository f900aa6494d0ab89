//! Where the movement index keeps its lists: each document's whole movement list is appended to a
//! segment file whenever it changes, and an in-memory directory maps the holder digest to the
//! latest copy, so a lookup is one binary search and one positioned read.
//!
//! Why not sled trees: with 10,000,000 movements sled's page table and loosely bounded cache held
//! the process at 715 MiB, lookups took 144 µs at p99 and building took 779 s (`benches/feed.rs`).
//! Here the process holds 16 bytes per document; the lists stay in the kernel's page cache.
//! A copy superseded by a later one is garbage: segments that hold little that is live are copied
//! forward and deleted, and pruning rewrites the lists that hold expired movements.
//!
//! How much of the files counts is said only by the checkpointed [`LogState`] (the caller keeps it
//! in sled): writes go past it, the files are synced, and only then is the state stored. Opening
//! deletes and cuts whatever lies past it, so a crash leaves the index at its last checkpoint, and
//! the stream cursor in the same state re-reads what was lost.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use super::FeedError;
use super::movement_list;
use crate::ports::upstream::MovementRecord;

/// A segment is closed once it holds this many bytes; the next list goes to a new one.
const SEGMENT_BYTES: u64 = 64 << 20;
/// `magic 1 | list bytes u32 BE | crc32 u32 BE | holder 32 | oldest 8 | newest 8`, then the list.
/// The CRC covers everything after itself; oldest and newest are the time keys of the list's
/// first and last movement.
const HEADER_BYTES: usize = 1 + 4 + 4 + 32 + 8 + 8;
const MAGIC: u8 = 0xB7;
/// Directory shards, chosen by the first two bytes of the holder digest (uniform: a SHA-256).
const SHARDS: usize = 1 << 16;
/// A closed segment with less than `1 / GC_LIVE_FRACTION` of its bytes live is copied forward.
const GC_LIVE_FRACTION: u64 = 4;
/// Bytes read at a time when a segment is scanned (rebuild, prune, copy forward).
const SCAN_BUFFER_BYTES: usize = 1 << 20;
/// Bytes of [`LogState`] as stored.
pub(super) const STATE_BYTES: usize = 8 + 8 + 4 + 8 + 8;

fn io(doing: &str, path: &Path, error: std::io::Error) -> FeedError {
    FeedError::Files(format!("{doing} {}: {error}", path.display()))
}

fn corrupt(what: String, why: impl Into<String>) -> FeedError {
    FeedError::Corrupt {
        what,
        why: why.into(),
    }
}

/// Where one copy of a list is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Location {
    segment: u32,
    offset: u32,
    len: u32,
}

/// A directory entry: bytes 2..6 of the holder digest (bytes 0..2 chose the shard) and where the
/// latest copy of that holder's list is. Two holders sharing 48 bits is possible across millions
/// of documents, so a match is confirmed against the full digest in the copy itself.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    tag: [u8; 4],
    at: Location,
}

fn shard_and_tag(holder: &[u8; 32]) -> (usize, [u8; 4]) {
    let shard = usize::from(u16::from_be_bytes([holder[0], holder[1]]));
    (shard, [holder[2], holder[3], holder[4], holder[5]])
}

/// Holder digest → latest copy, in sorted shards: a read searches one small shard.
struct Directory {
    shards: Box<[RwLock<Vec<Entry>>]>,
}

impl Directory {
    fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::new(Vec::new())).collect(),
        }
    }

    /// Copies that may be this holder's (usually one).
    fn candidates(&self, holder: &[u8; 32]) -> Vec<Location> {
        let (shard, tag) = shard_and_tag(holder);
        let entries = self.shards[shard].read().unwrap_or_else(|p| p.into_inner());
        let start = entries.partition_point(|e| e.tag < tag);
        entries[start..]
            .iter()
            .take_while(|e| e.tag == tag)
            .map(|e| e.at)
            .collect()
    }

    /// Moves a holder's entry from `old` to `new` (either may be absent).
    fn replace(&self, holder: &[u8; 32], old: Option<Location>, new: Option<Location>) {
        let (shard, tag) = shard_and_tag(holder);
        let mut entries = self.shards[shard]
            .write()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(at) = old
            && let Ok(position) = entries.binary_search(&Entry { tag, at })
        {
            entries.remove(position);
        }
        if let Some(at) = new {
            let entry = Entry { tag, at };
            let position = entries.partition_point(|e| *e < entry);
            if entries.len() == entries.capacity() {
                // Grow by an eighth rather than doubling: 65,536 half-empty shards would cost
                // the process as much as the entries themselves.
                let more = entries.len() / 8 + 4;
                entries.reserve_exact(more);
            }
            entries.insert(position, entry);
        }
    }

    /// Whether `at` is the live copy of some holder with this digest's tag.
    fn is_live(&self, holder: &[u8; 32], at: Location) -> bool {
        let (shard, tag) = shard_and_tag(holder);
        let entries = self.shards[shard].read().unwrap_or_else(|p| p.into_inner());
        entries.binary_search(&Entry { tag, at }).is_ok()
    }

    fn holders(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }
}

/// One copy of a holder's list, as read back.
struct Copy {
    holder: [u8; 32],
    oldest: u64,
    newest: u64,
    list: Vec<u8>,
}

fn time_key_u64(key: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&key[..8]);
    u64::from_be_bytes(bytes)
}

/// The bytes of one copy of `list` for `holder`.
fn encode_copy(holder: &[u8; 32], list: &[u8]) -> Result<Vec<u8>, FeedError> {
    let (oldest, newest) = movement_list::time_bounds(list)
        .map_err(|e| corrupt("new movement list".into(), e.to_string()))?;
    let len = u32::try_from(list.len())
        .map_err(|_| corrupt("new movement list".into(), "longer than 4 GiB"))?;
    let mut out = Vec::with_capacity(HEADER_BYTES + list.len());
    out.push(MAGIC);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(holder);
    out.extend_from_slice(&oldest);
    out.extend_from_slice(&newest);
    out.extend_from_slice(list);
    let crc = crc32fast::hash(&out[9..]);
    out[5..9].copy_from_slice(&crc.to_be_bytes());
    Ok(out)
}

/// The list bytes a header announces (after checking the magic).
fn announced_len(header: &[u8; HEADER_BYTES], what: &dyn Fn() -> String) -> Result<u32, FeedError> {
    if header[0] != MAGIC {
        return Err(corrupt(what(), format!("magic byte {:#04x}", header[0])));
    }
    Ok(u32::from_be_bytes([
        header[1], header[2], header[3], header[4],
    ]))
}

/// A copy from its header and list bytes, checked.
fn decode_copy(
    header: &[u8; HEADER_BYTES],
    list: Vec<u8>,
    what: &dyn Fn() -> String,
) -> Result<Copy, FeedError> {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&header[9..]);
    hasher.update(&list);
    let crc = u32::from_be_bytes([header[5], header[6], header[7], header[8]]);
    if hasher.finalize() != crc {
        return Err(corrupt(what(), "checksum does not match"));
    }
    let mut holder = [0u8; 32];
    holder.copy_from_slice(&header[9..41]);
    Ok(Copy {
        holder,
        oldest: time_key_u64(&header[41..49]),
        newest: time_key_u64(&header[49..57]),
        list,
    })
}

/// What the index has made durable: the stream cursor, this terminal's last own event indexed,
/// how far the files count, and the pruning horizon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct LogState {
    /// Last `EVENTS` stream sequence applied.
    pub cursor: u64,
    /// Last of this terminal's own events indexed by the outbox.
    pub own_seq: u64,
    /// Segment being written.
    pub head: u32,
    /// Bytes of the head segment that count.
    pub head_len: u64,
    /// Movements before this second are pruned (and never returned).
    pub pruned_before: i64,
}

impl Default for LogState {
    fn default() -> Self {
        Self {
            cursor: 0,
            own_seq: 0,
            head: 0,
            head_len: 0,
            pruned_before: i64::MIN,
        }
    }
}

impl LogState {
    pub(super) fn encode(&self) -> [u8; STATE_BYTES] {
        let mut out = [0u8; STATE_BYTES];
        out[..8].copy_from_slice(&self.cursor.to_be_bytes());
        out[8..16].copy_from_slice(&self.own_seq.to_be_bytes());
        out[16..20].copy_from_slice(&self.head.to_be_bytes());
        out[20..28].copy_from_slice(&self.head_len.to_be_bytes());
        out[28..].copy_from_slice(&self.pruned_before.to_be_bytes());
        out
    }

    pub(super) fn decode(bytes: &[u8]) -> Result<Self, FeedError> {
        let bytes: &[u8; STATE_BYTES] = bytes.try_into().map_err(|_| {
            corrupt(
                "meta.movement_index".into(),
                format!("{} bytes, want {STATE_BYTES}", bytes.len()),
            )
        })?;
        let u64_at = |at: usize| u64::from_be_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        Ok(Self {
            cursor: u64_at(0),
            own_seq: u64_at(8),
            head: u32::from_be_bytes(bytes[16..20].try_into().expect("4 bytes")),
            head_len: u64_at(20),
            pruned_before: u64_at(28) as i64,
        })
    }
}

struct Segment {
    path: PathBuf,
    file: File,
    /// Bytes written (for the head: also those not yet checkpointed).
    len: AtomicU64,
    /// Bytes of live copies.
    live: AtomicU64,
    /// Lowest oldest-movement time key of the copies written here (conservative: not raised
    /// when copies die, only when a prune has looked).
    oldest: AtomicU64,
}

fn segment_path(dir: &Path, number: u32) -> PathBuf {
    dir.join(format!("seg-{number:08x}.log"))
}

fn segment_number(name: &str) -> Option<u32> {
    let hex = name.strip_prefix("seg-")?.strip_suffix(".log")?;
    (hex.len() == 8).then_some(())?;
    u32::from_str_radix(hex, 16).ok()
}

fn open_segment(dir: &Path, number: u32, create: bool) -> Result<Segment, FeedError> {
    let path = segment_path(dir, number);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(create)
        .truncate(false)
        .open(&path)
        .map_err(|e| io("opening", &path, e))?;
    let len = file
        .metadata()
        .map_err(|e| io("reading the size of", &path, e))?
        .len();
    Ok(Segment {
        path,
        file,
        len: AtomicU64::new(len),
        live: AtomicU64::new(0),
        oldest: AtomicU64::new(u64::MAX),
    })
}

/// Reads every copy of a segment's first `len` bytes in order.
fn scan(
    segment: &Segment,
    number: u32,
    len: u64,
    mut each: impl FnMut(Location, Copy) -> Result<(), FeedError>,
) -> Result<(), FeedError> {
    let file = File::open(&segment.path).map_err(|e| io("opening", &segment.path, e))?;
    let mut reader = BufReader::with_capacity(SCAN_BUFFER_BYTES, file.take(len));
    let mut offset = 0u64;
    while offset < len {
        let what = || format!("{} at byte {offset}", segment.path.display());
        let mut header = [0u8; HEADER_BYTES];
        reader
            .read_exact(&mut header)
            .map_err(|e| corrupt(what(), format!("header cut short: {e}")))?;
        let list_len = announced_len(&header, &what)?;
        let mut list = vec![0u8; list_len as usize];
        reader
            .read_exact(&mut list)
            .map_err(|e| corrupt(what(), format!("list cut short: {e}")))?;
        let copy = decode_copy(&header, list, &what)?;
        let at = Location {
            segment: number,
            offset: u32::try_from(offset).map_err(|_| corrupt(what(), "past 4 GiB"))?,
            len: HEADER_BYTES as u32 + list_len,
        };
        each(at, copy)?;
        offset += u64::from(at.len);
    }
    Ok(())
}

/// The writer's side: the state as applied (ahead of the checkpoint) and segments written since.
struct Writer {
    state: LogState,
    dirty: Vec<u32>,
    /// A segment file was created since the last checkpoint (the directory needs a sync).
    created: bool,
}

/// Lists written in one go: their bytes, then the directory moves once they are in the file.
struct Batch {
    start: u64,
    bytes: Vec<u8>,
    /// Holder → its change.
    moves: HashMap<[u8; 32], Move>,
}

/// The movement lists on disk and their directory. Shared by every clone of the index.
pub(super) struct MovementLog {
    dir: PathBuf,
    /// [`SEGMENT_BYTES`], smaller in tests.
    segment_bytes: u64,
    directory: Directory,
    segments: RwLock<BTreeMap<u32, Arc<Segment>>>,
    writer: Mutex<Writer>,
    pruned_before: AtomicI64,
    /// Bytes written since the last checkpoint.
    unflushed: AtomicU64,
}

impl MovementLog {
    /// Opens the segments in `dir` as of `state`: later segments deleted, the head cut to the
    /// state's length, the directory rebuilt by reading every copy.
    pub(super) fn open(dir: &Path, state: LogState) -> Result<Self, FeedError> {
        Self::open_sized(dir, state, SEGMENT_BYTES)
    }

    fn open_sized(dir: &Path, state: LogState, segment_bytes: u64) -> Result<Self, FeedError> {
        std::fs::create_dir_all(dir).map_err(|e| io("creating", dir, e))?;
        let mut numbers = Vec::new();
        for item in std::fs::read_dir(dir).map_err(|e| io("listing", dir, e))? {
            let item = item.map_err(|e| io("listing", dir, e))?;
            if let Some(number) = item.file_name().to_str().and_then(segment_number) {
                numbers.push(number);
            }
        }
        numbers.sort_unstable();
        let mut segments = BTreeMap::new();
        for number in numbers {
            let path = segment_path(dir, number);
            if number > state.head {
                std::fs::remove_file(&path).map_err(|e| io("removing", &path, e))?;
                continue;
            }
            segments.insert(number, Arc::new(open_segment(dir, number, false)?));
        }
        let head = match segments.get(&state.head) {
            Some(head) => Arc::clone(head),
            None if state.head_len == 0 => {
                let head = Arc::new(open_segment(dir, state.head, true)?);
                segments.insert(state.head, Arc::clone(&head));
                head
            }
            None => {
                return Err(corrupt(
                    segment_path(dir, state.head).display().to_string(),
                    "the head segment is missing",
                ));
            }
        };
        if head.len.load(Ordering::Relaxed) < state.head_len {
            return Err(corrupt(
                head.path.display().to_string(),
                format!(
                    "{} bytes, the checkpoint counts {}",
                    head.len.load(Ordering::Relaxed),
                    state.head_len
                ),
            ));
        }
        head.file
            .set_len(state.head_len)
            .map_err(|e| io("cutting", &head.path, e))?;
        head.len.store(state.head_len, Ordering::Relaxed);
        let log = Self {
            dir: dir.to_path_buf(),
            segment_bytes,
            directory: Directory::new(),
            segments: RwLock::new(segments),
            writer: Mutex::new(Writer {
                state,
                dirty: Vec::new(),
                created: false,
            }),
            pruned_before: AtomicI64::new(state.pruned_before),
            unflushed: AtomicU64::new(0),
        };
        log.rebuild()?;
        Ok(log)
    }

    /// Reads every copy, oldest segment first: the last copy of a holder is its list.
    fn rebuild(&self) -> Result<(), FeedError> {
        let horizon = self.horizon_key();
        for (&number, segment) in self.segments_snapshot().iter() {
            let len = segment.len.load(Ordering::Relaxed);
            scan(segment, number, len, |at, copy| {
                segment.oldest.fetch_min(copy.oldest, Ordering::Relaxed);
                let previous = self.find(&copy.holder)?.map(|(old, _)| old);
                // A list all past the pruning horizon is as good as gone.
                let now = (copy.newest >= horizon).then_some(at);
                self.move_entry(&copy.holder, previous, now);
                Ok(())
            })?;
        }
        Ok(())
    }

    fn segments_snapshot(&self) -> BTreeMap<u32, Arc<Segment>> {
        self.segments
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn segment(&self, number: u32) -> Result<Arc<Segment>, FeedError> {
        self.segments
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&number)
            .cloned()
            .ok_or_else(|| {
                corrupt(
                    format!("segment {number:08x}"),
                    "listed in the directory but gone",
                )
            })
    }

    fn horizon_key(&self) -> u64 {
        let seconds = self.pruned_before.load(Ordering::Relaxed);
        (seconds as u64) ^ (1 << 63)
    }

    /// Moves the directory entry and the segments' live counts.
    fn move_entry(&self, holder: &[u8; 32], old: Option<Location>, new: Option<Location>) {
        if old == new {
            return;
        }
        let segments = self.segments.read().unwrap_or_else(|p| p.into_inner());
        if let Some(old) = old
            && let Some(segment) = segments.get(&old.segment)
        {
            let _ = segment
                .live
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |live| {
                    Some(live.saturating_sub(u64::from(old.len)))
                });
        }
        if let Some(new) = new
            && let Some(segment) = segments.get(&new.segment)
        {
            segment
                .live
                .fetch_add(u64::from(new.len), Ordering::Relaxed);
        }
        drop(segments);
        self.directory.replace(holder, old, new);
    }

    fn read_copy(&self, at: Location) -> Result<Copy, FeedError> {
        let segment = self.segment(at.segment)?;
        let what = || format!("{} at byte {}", segment.path.display(), at.offset);
        let mut bytes = vec![0u8; at.len as usize];
        segment
            .file
            .read_exact_at(&mut bytes, u64::from(at.offset))
            .map_err(|e| corrupt(what(), format!("reading {} bytes: {e}", at.len)))?;
        let list = bytes.split_off(HEADER_BYTES);
        let header: &[u8; HEADER_BYTES] = bytes.as_slice().try_into().expect("split at the header");
        if announced_len(header, &what)? as usize != list.len() {
            return Err(corrupt(what(), "length differs from the directory's"));
        }
        decode_copy(header, list, &what)
    }

    /// The holder's live copy and list, if it has one.
    fn find(&self, holder: &[u8; 32]) -> Result<Option<(Location, Vec<u8>)>, FeedError> {
        for at in self.directory.candidates(holder) {
            let copy = self.read_copy(at)?;
            if copy.holder == *holder {
                return Ok(Some((at, copy.list)));
            }
        }
        Ok(None)
    }

    /// The holder's retained movements, oldest first.
    pub(super) fn lookup(&self, holder: &[u8; 32]) -> Result<Vec<MovementRecord>, FeedError> {
        let Some((at, list)) = self.find(holder)? else {
            return Ok(Vec::new());
        };
        let horizon = self.pruned_before.load(Ordering::Relaxed);
        let mut movements = movement_list::decode(&list).map_err(|e| {
            corrupt(
                format!("segment {:08x} at byte {}", at.segment, at.offset),
                e.to_string(),
            )
        })?;
        movements.retain(|m| m.at.as_second() >= horizon);
        Ok(movements)
    }

    /// The state as applied (ahead of the checkpoint until [`Self::checkpoint`]).
    pub(super) fn state(&self) -> LogState {
        self.writer.lock().unwrap_or_else(|p| p.into_inner()).state
    }

    /// Bytes written since the last checkpoint.
    pub(super) fn unflushed_bytes(&self) -> u64 {
        self.unflushed.load(Ordering::Relaxed)
    }

    /// Documents with a list.
    pub(super) fn holders(&self) -> usize {
        self.directory.holders()
    }
}

/// A list change decided in a batch: the copy it replaces, and its new copy (none: the holder has
/// no movement left).
struct Move {
    old: Option<Location>,
    new: Option<(Location, u64)>,
    list: Vec<u8>,
}

impl MovementLog {
    fn lock_writer(&self) -> std::sync::MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds movements (list elements by holder); an element already in its list, or older than
    /// the pruning horizon, is left out. Moves the cursor and own sequence forward to those given.
    /// Returns how many movements were added.
    pub(super) fn add(
        &self,
        rows: &[([u8; 32], &[u8])],
        cursor: Option<u64>,
        own_seq: Option<u64>,
    ) -> Result<u64, FeedError> {
        let mut writer = self.lock_writer();
        let horizon = self.horizon_key();
        let mut batch = Batch::new(&writer);
        let mut added = 0;
        for (holder, element) in rows {
            let time = element
                .get(2..10)
                .ok_or_else(|| corrupt("new movement".into(), "element shorter than its id"))?;
            if time_key_u64(time) < horizon {
                continue;
            }
            let (old, current) = match batch.moves.get(holder) {
                Some(change) => (change.old, Some(change.list.clone())),
                None => match self.find(holder)? {
                    Some((at, list)) => (Some(at), Some(list)),
                    None => (None, None),
                },
            };
            let Some(list) = movement_list::insert(current.as_deref(), element)
                .map_err(|e| corrupt(format!("list of {}", hex::encode(holder)), e.to_string()))?
            else {
                continue;
            };
            self.place(&mut writer, &mut batch, holder, old, list)?;
            added += 1;
        }
        self.finish(&mut writer, batch)?;
        if let Some(cursor) = cursor {
            writer.state.cursor = writer.state.cursor.max(cursor);
        }
        if let Some(own) = own_seq {
            writer.state.own_seq = writer.state.own_seq.max(own);
        }
        Ok(added)
    }

    /// Adds whole lists (from a snapshot), each checked first, merged with the holder's list
    /// when there is one, without what lies before the pruning horizon; moves the cursor forward
    /// to `cursor`. Returns how many movements the lists held.
    pub(super) fn put_lists(
        &self,
        lists: &[([u8; 32], Vec<u8>)],
        cursor: u64,
    ) -> Result<u64, FeedError> {
        let mut writer = self.lock_writer();
        let horizon = self.horizon_key();
        let mut batch = Batch::new(&writer);
        let mut movements = 0;
        for (holder, list) in lists {
            let what = || format!("snapshot list of {}", hex::encode(holder));
            movements +=
                movement_list::check(list).map_err(|e| corrupt(what(), e.to_string()))? as u64;
            let (Some(list), _) = movement_list::split_before(list, horizon.to_be_bytes())
                .map_err(|e| corrupt(what(), e.to_string()))?
            else {
                continue;
            };
            let (old, current) = match batch.moves.get(holder) {
                Some(change) => (change.old, Some(change.list.clone())),
                None => match self.find(holder)? {
                    Some((at, current)) => (Some(at), Some(current)),
                    None => (None, None),
                },
            };
            let list = match current {
                Some(current) => movement_list::merge(&current, &list)
                    .map_err(|e| corrupt(what(), e.to_string()))?,
                None => list,
            };
            self.place(&mut writer, &mut batch, holder, old, list)?;
        }
        self.finish(&mut writer, batch)?;
        writer.state.cursor = writer.state.cursor.max(cursor);
        Ok(movements)
    }

    /// Calls `each` with every holder's live list, without movements before the pruning
    /// horizon, segment by segment. Writers wait until it returns.
    pub(super) fn for_each_list(
        &self,
        mut each: impl FnMut(&[u8; 32], &[u8]) -> Result<(), FeedError>,
    ) -> Result<(), FeedError> {
        let _writer = self.lock_writer();
        let cutoff = self.horizon_key();
        for (number, segment) in self.segments_snapshot() {
            let len = segment.len.load(Ordering::Relaxed);
            scan(&segment, number, len, |at, copy| {
                if copy.newest < cutoff || !self.directory.is_live(&copy.holder, at) {
                    return Ok(());
                }
                if copy.oldest >= cutoff {
                    return each(&copy.holder, &copy.list);
                }
                let (rest, _) = movement_list::split_before(&copy.list, cutoff.to_be_bytes())
                    .map_err(|e| {
                        corrupt(
                            format!("segment {number:08x} at byte {}", at.offset),
                            e.to_string(),
                        )
                    })?;
                match rest {
                    Some(list) => each(&copy.holder, &list),
                    None => Ok(()),
                }
            })?;
        }
        Ok(())
    }

    /// Puts a holder's new list in the batch, first writing the batch out and opening a new head
    /// segment when the list would not fit the current one.
    fn place(
        &self,
        writer: &mut Writer,
        batch: &mut Batch,
        holder: &[u8; 32],
        old: Option<Location>,
        list: Vec<u8>,
    ) -> Result<(), FeedError> {
        let bytes = encode_copy(holder, &list)?;
        let end = batch.start + batch.bytes.len() as u64;
        if end > 0 && end + bytes.len() as u64 > self.segment_bytes {
            self.write_out(writer, batch)?;
            self.rotate(writer)?;
            batch.start = 0;
        }
        let offset = batch.start + batch.bytes.len() as u64;
        let at = Location {
            segment: writer.state.head,
            offset: u32::try_from(offset)
                .map_err(|_| corrupt("head segment".into(), "past 4 GiB"))?,
            len: u32::try_from(bytes.len())
                .map_err(|_| corrupt("new movement list".into(), "longer than 4 GiB"))?,
        };
        let oldest = time_key_u64(&bytes[41..49]);
        batch.bytes.extend_from_slice(&bytes);
        let old = batch.moves.get(holder).map_or(old, |change| change.old);
        batch.moves.insert(
            *holder,
            Move {
                old,
                new: Some((at, oldest)),
                list,
            },
        );
        Ok(())
    }

    /// Writes the batch's bytes at the end of the head segment.
    fn write_out(&self, writer: &mut Writer, batch: &mut Batch) -> Result<(), FeedError> {
        if batch.bytes.is_empty() {
            return Ok(());
        }
        let head = self.segment(writer.state.head)?;
        head.file
            .write_all_at(&batch.bytes, batch.start)
            .map_err(|e| io("writing", &head.path, e))?;
        let end = batch.start + batch.bytes.len() as u64;
        head.len.store(end, Ordering::Relaxed);
        writer.state.head_len = end;
        if writer.dirty.last() != Some(&writer.state.head) {
            writer.dirty.push(writer.state.head);
        }
        self.unflushed
            .fetch_add(batch.bytes.len() as u64, Ordering::Relaxed);
        batch.start = end;
        batch.bytes.clear();
        Ok(())
    }

    /// Starts the next segment.
    fn rotate(&self, writer: &mut Writer) -> Result<(), FeedError> {
        let next = writer
            .state
            .head
            .checked_add(1)
            .ok_or_else(|| corrupt("segments".into(), "numbers exhausted"))?;
        let segment = open_segment(&self.dir, next, true)?;
        segment
            .file
            .set_len(0)
            .map_err(|e| io("emptying", &segment.path, e))?;
        segment.len.store(0, Ordering::Relaxed);
        self.segments
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(next, Arc::new(segment));
        writer.state.head = next;
        writer.state.head_len = 0;
        writer.dirty.push(next);
        writer.created = true;
        Ok(())
    }

    /// Writes the batch out, then points the directory at the new copies.
    fn finish(&self, writer: &mut Writer, mut batch: Batch) -> Result<(), FeedError> {
        self.write_out(writer, &mut batch)?;
        for (holder, change) in batch.moves {
            if let Some((at, oldest)) = change.new {
                self.segment(at.segment)?
                    .oldest
                    .fetch_min(oldest, Ordering::Relaxed);
            }
            self.move_entry(&holder, change.old, change.new.map(|(at, _)| at));
        }
        Ok(())
    }

    /// Drops every movement before `horizon` (seconds): from then on no lookup returns one, and
    /// the lists holding them are rewritten without them. Returns the movements dropped.
    pub(super) fn prune(&self, horizon: i64) -> Result<Vec<MovementRecord>, FeedError> {
        let mut writer = self.lock_writer();
        if horizon > writer.state.pruned_before {
            writer.state.pruned_before = horizon;
            self.pruned_before.store(horizon, Ordering::Relaxed);
        }
        let cutoff = self.horizon_key();
        let mut batch = Batch::new(&writer);
        let mut removed = Vec::new();
        for (number, segment) in self.segments_snapshot() {
            if segment.oldest.load(Ordering::Relaxed) >= cutoff {
                continue;
            }
            let mut oldest_left = u64::MAX;
            let len = segment.len.load(Ordering::Relaxed);
            scan(&segment, number, len, |at, copy| {
                if !self.directory.is_live(&copy.holder, at) {
                    return Ok(());
                }
                if copy.oldest >= cutoff {
                    oldest_left = oldest_left.min(copy.oldest);
                    return Ok(());
                }
                let (rest, gone) = movement_list::split_before(&copy.list, cutoff.to_be_bytes())
                    .map_err(|e| {
                        corrupt(
                            format!("segment {number:08x} at byte {}", at.offset),
                            e.to_string(),
                        )
                    })?;
                removed.extend(gone);
                match rest {
                    Some(list) => self.place(&mut writer, &mut batch, &copy.holder, Some(at), list),
                    None => {
                        batch.moves.insert(
                            copy.holder,
                            Move {
                                old: Some(at),
                                new: None,
                                list: Vec::new(),
                            },
                        );
                        Ok(())
                    }
                }
            })?;
            segment.oldest.store(oldest_left, Ordering::Relaxed);
        }
        self.finish(&mut writer, batch)?;
        Ok(removed)
    }

    /// Makes what was written durable: syncs the segments written since the last checkpoint,
    /// then has `persist` store the state (the caller's sled flush). Segments whose copies had all
    /// been superseded before the sync are then deleted, and the closed segment with the least
    /// live data is copied forward when less than a quarter of it is live.
    pub(super) fn checkpoint(
        &self,
        persist: impl FnOnce(&LogState) -> Result<(), FeedError>,
    ) -> Result<(), FeedError> {
        let mut writer = self.lock_writer();
        let written = self.unflushed.load(Ordering::Relaxed);
        let head = writer.state.head;
        let segments = self.segments_snapshot();
        let dead: Vec<u32> = segments
            .iter()
            .filter(|(n, s)| **n != head && s.live.load(Ordering::Relaxed) == 0)
            .map(|(n, _)| *n)
            .collect();
        for number in &writer.dirty {
            if let Some(segment) = segments.get(number) {
                segment
                    .file
                    .sync_data()
                    .map_err(|e| io("syncing", &segment.path, e))?;
            }
        }
        if writer.created {
            File::open(&self.dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| io("syncing", &self.dir, e))?;
        }
        persist(&writer.state)?;
        writer.dirty.clear();
        writer.created = false;
        let _ = self
            .unflushed
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |now| {
                Some(now.saturating_sub(written))
            });
        for number in dead {
            let removed = self
                .segments
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&number);
            if let Some(segment) = removed {
                std::fs::remove_file(&segment.path)
                    .map_err(|e| io("removing", &segment.path, e))?;
            }
        }
        self.copy_forward(&mut writer)
    }

    /// Copies the live lists of the emptiest closed segment to the head, when less than
    /// `1 / GC_LIVE_FRACTION` of it is live; the next checkpoint deletes it.
    fn copy_forward(&self, writer: &mut Writer) -> Result<(), FeedError> {
        let head = writer.state.head;
        let emptiest = self
            .segments_snapshot()
            .into_iter()
            .filter(|(n, s)| {
                *n != head
                    && s.live.load(Ordering::Relaxed) * GC_LIVE_FRACTION
                        < s.len.load(Ordering::Relaxed)
            })
            .min_by_key(|(_, s)| s.live.load(Ordering::Relaxed));
        let Some((number, segment)) = emptiest else {
            return Ok(());
        };
        let mut batch = Batch::new(writer);
        let len = segment.len.load(Ordering::Relaxed);
        scan(&segment, number, len, |at, copy| {
            if self.directory.is_live(&copy.holder, at) {
                self.place(writer, &mut batch, &copy.holder, Some(at), copy.list)?;
            }
            Ok(())
        })?;
        self.finish(writer, batch)
    }

    /// Bytes in the segment files (live and superseded).
    pub(super) fn file_bytes(&self) -> u64 {
        self.segments_snapshot()
            .values()
            .map(|s| s.len.load(Ordering::Relaxed))
            .sum()
    }
}

impl Batch {
    fn new(writer: &Writer) -> Self {
        Self {
            start: writer.state.head_len,
            bytes: Vec::new(),
            moves: HashMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::event::{CrossingKind, TerminalId};

    fn holder(n: u8) -> [u8; 32] {
        let mut out = [n; 32];
        // Two holders that share shard and tag: only the full digest tells them apart.
        out[31] = n;
        out[6..].fill(n);
        out[..6].copy_from_slice(&[1, 2, 3, 4, 5, 6]);
        out
    }

    fn element(second: i64, seq: u64) -> Vec<u8> {
        let mut id = [0u8; movement_list::ID_BYTES];
        id[..8].copy_from_slice(&((second as u64) ^ (1 << 63)).to_be_bytes());
        id[16..].copy_from_slice(&seq.to_be_bytes());
        let record = MovementRecord {
            at: jiff::Timestamp::from_second(second).expect("in range"),
            direction: CrossingKind::Entry,
            checkpoint: "GYD".into(),
            terminal: TerminalId::new("T1").expect("valid"),
            seq,
        };
        movement_list::element(id, &record)
    }

    fn add(log: &MovementLog, who: [u8; 32], second: i64, seq: u64) -> u64 {
        let element = element(second, seq);
        log.add(&[(who, element.as_slice())], Some(seq), None)
            .expect("add")
    }

    fn seqs(log: &MovementLog, who: [u8; 32]) -> Vec<u64> {
        log.lookup(&who)
            .expect("lookup")
            .iter()
            .map(|m| m.seq)
            .collect()
    }

    #[test]
    fn lists_survive_a_checkpoint_and_what_follows_it_is_cut_on_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let stored = std::cell::Cell::new(LogState::default());
        {
            let log = MovementLog::open_sized(dir.path(), LogState::default(), 300).expect("open");
            for seq in 1..=6 {
                assert_eq!(add(&log, holder(seq as u8 % 2), 1_000 + seq as i64, seq), 1);
            }
            assert_eq!(add(&log, holder(0), 1_002, 2), 0, "a repeat is not added");
            log.checkpoint(|state| {
                stored.set(*state);
                Ok(())
            })
            .expect("checkpoint");
            assert!(stored.get().head > 0, "small segments rotated");
            add(&log, holder(0), 2_000, 7);
            add(&log, holder(2), 2_000, 8);
            assert_eq!(seqs(&log, holder(0)), [2, 4, 6, 7]);
        }
        // Reopened at the checkpoint: the unsynced tail is gone, colliding holders stay apart.
        let log = MovementLog::open_sized(dir.path(), stored.get(), 300).expect("reopen");
        assert_eq!(seqs(&log, holder(0)), [2, 4, 6]);
        assert_eq!(seqs(&log, holder(1)), [1, 3, 5]);
        assert!(seqs(&log, holder(2)).is_empty());
        assert_eq!(log.state().cursor, 6);
    }

    #[test]
    fn superseded_segments_are_reclaimed_and_pruning_is_kept_across_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let stored = std::cell::Cell::new(LogState::default());
        let persist = |state: &LogState| {
            stored.set(*state);
            Ok(())
        };
        let log = MovementLog::open_sized(dir.path(), LogState::default(), 400).expect("open");
        for seq in 1..=200u64 {
            add(&log, holder((seq % 3) as u8), seq as i64, seq);
            if seq % 10 == 0 {
                log.checkpoint(persist).expect("checkpoint");
            }
        }
        log.checkpoint(persist).expect("checkpoint");
        log.checkpoint(persist).expect("checkpoint");
        let live: u64 = (0..3u8)
            .map(|n| log.find(&holder(n)).expect("find").expect("listed").1.len() as u64)
            .sum();
        assert!(
            log.file_bytes() < 4 * (live + 3 * HEADER_BYTES as u64) + 3 * 400,
            "files {} bytes for {live} live",
            log.file_bytes()
        );
        let gone = log.prune(150).expect("prune");
        assert_eq!(gone.len(), 149);
        assert_eq!(log.prune(150).expect("prune again").len(), 0);
        assert_eq!(
            seqs(&log, holder(0)),
            (150..=200).filter(|s| s % 3 == 0).collect::<Vec<_>>()
        );
        log.checkpoint(persist).expect("checkpoint");
        drop(log);
        let log = MovementLog::open_sized(dir.path(), stored.get(), 400).expect("reopen");
        assert_eq!(
            seqs(&log, holder(1)),
            (150..=200).filter(|s| s % 3 == 1).collect::<Vec<_>>()
        );
        assert_eq!(add(&log, holder(1), 10, 999), 0, "older than the horizon");
        assert_eq!(log.prune(10_000).expect("prune all").len(), 51);
        assert_eq!(log.holders(), 0);
    }

    #[test]
    fn a_damaged_copy_is_reported_with_where_it_is() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = MovementLog::open(dir.path(), LogState::default()).expect("open");
        add(&log, holder(1), 100, 1);
        let stored = std::cell::Cell::new(LogState::default());
        log.checkpoint(|state| {
            stored.set(*state);
            Ok(())
        })
        .expect("checkpoint");
        drop(log);
        let path = segment_path(dir.path(), 0);
        let mut bytes = std::fs::read(&path).expect("read");
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&path, bytes).expect("write");
        let error = MovementLog::open(dir.path(), stored.get())
            .err()
            .expect("damaged");
        assert!(error.to_string().contains("checksum"), "{error}");
        assert!(
            error.to_string().contains("seg-00000000.log at byte 0"),
            "{error}"
        );
    }
}
