//! Image spool directory of a full-page reader's vendor software: each image is claimed by an
//! atomic rename (`incoming/` → `processing/`), and moved to `done/` or `failed/` only after the
//! consumer has taken it, so a crash never loses an image; `recover` re-queues what a crash left
//! in `processing/`, and the file name is the idempotency key that makes a replay harmless.
//! A half-written image is never claimed: only image extensions are looked at (a vendor that
//! writes `scan.png.part` then renames is safe at once) and only once unmodified for the settle
//! time (a vendor that writes in place is safe once it has stopped writing).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Extensions the vendor software writes; anything else (temporary files) is left alone.
const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "bmp", "webp"];
/// Default settle time: an image is claimed only once its modification time is this old.
pub const SETTLE: Duration = Duration::from_millis(200);
/// Largest image accepted; bigger files go to `failed/`.
pub const IMAGE_BYTES_MAX: u64 = 32 * 1024 * 1024;

/// A spool directory with its four sub-directories.
#[derive(Debug, Clone)]
pub struct Spool {
    incoming: PathBuf,
    processing: PathBuf,
    done: PathBuf,
    failed: PathBuf,
    settle: Duration,
}

/// An image claimed for processing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    /// Its path under `processing/`.
    pub path: PathBuf,
    /// Its file name: the idempotency key of the scan it yields.
    pub name: String,
}

impl Spool {
    /// Opens (and creates) the spool under `root`.
    pub fn open(root: &Path) -> io::Result<Self> {
        let spool = Self {
            incoming: root.join("incoming"),
            processing: root.join("processing"),
            done: root.join("done"),
            failed: root.join("failed"),
            settle: SETTLE,
        };
        for dir in [
            &spool.incoming,
            &spool.processing,
            &spool.done,
            &spool.failed,
        ] {
            fs::create_dir_all(dir)?;
        }
        Ok(spool)
    }

    /// The same spool with another settle time.
    pub fn with_settle(self, settle: Duration) -> Self {
        Self { settle, ..self }
    }

    /// Moves images a crash left in `processing/` back to `incoming/`; returns how many.
    pub fn recover(&self) -> io::Result<usize> {
        let mut moved = 0;
        for entry in fs::read_dir(&self.processing)? {
            let entry = entry?;
            fs::rename(entry.path(), self.incoming.join(entry.file_name()))?;
            moved += 1;
        }
        sync_dir(&self.incoming)?;
        Ok(moved)
    }

    /// Claims the oldest settled image (by name, which vendors number in order), if any.
    pub fn claim(&self, now: SystemTime) -> io::Result<Option<Claimed>> {
        for name in self.settled(now)? {
            if let Some(claimed) = self.claim_named(&name)? {
                return Ok(Some(claimed));
            }
        }
        Ok(None)
    }

    /// The settled images in `incoming/`, in name order: one listing serves a whole batch of
    /// claims. An entry that vanishes or cannot be inspected while listed (a `.part` renamed
    /// meanwhile) is skipped: it is that file's problem, not the spool's.
    pub fn settled(&self, now: SystemTime) -> io::Result<Vec<String>> {
        let mut candidates = Vec::new();
        for entry in fs::read_dir(&self.incoming)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let is_image = Path::new(&name)
                .extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| IMAGE_EXTENSIONS.contains(&x.to_ascii_lowercase().as_str()));
            if !is_image || name.starts_with('.') {
                continue;
            }
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            let settled = meta
                .modified()
                .is_ok_and(|m| now.duration_since(m).is_ok_and(|age| age >= self.settle));
            if meta.is_file() && settled {
                candidates.push(name);
            }
        }
        candidates.sort();
        Ok(candidates)
    }

    /// Claims the image `name` from `incoming/`; `None` when it is no longer there (another
    /// claimer won the race, or the vendor took it back).
    pub fn claim_named(&self, name: &str) -> io::Result<Option<Claimed>> {
        let path = self.processing.join(name);
        match fs::rename(self.incoming.join(name), &path) {
            Ok(()) => {
                sync_dir(&self.processing)?;
                Ok(Some(Claimed {
                    path,
                    name: name.to_string(),
                }))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The image's bytes, bounded by [`IMAGE_BYTES_MAX`].
    pub fn read(&self, claimed: &Claimed) -> io::Result<Vec<u8>> {
        self.check_size(claimed)?;
        fs::read(&claimed.path)
    }

    /// Refuses an image larger than [`IMAGE_BYTES_MAX`] (`InvalidData`) before anything reads it.
    pub fn check_size(&self, claimed: &Claimed) -> io::Result<()> {
        let len = fs::metadata(&claimed.path)?.len();
        if len > IMAGE_BYTES_MAX {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("image of {len} bytes exceeds {IMAGE_BYTES_MAX}"),
            ));
        }
        Ok(())
    }

    /// The scan from this image was taken by the consumer: move it to `done/`.
    pub fn complete(&self, claimed: Claimed) -> io::Result<()> {
        fs::rename(&claimed.path, self.done.join(&claimed.name))?;
        sync_dir(&self.done)
    }

    /// The image yielded nothing usable: move it to `failed/` for a technician, with the reason
    /// beside it in `<name>.reason` (written first, so a crash never leaves an unexplained image).
    pub fn reject(&self, claimed: Claimed, reason: &str) -> io::Result<()> {
        let reason_path = self.failed.join(format!("{}.reason", claimed.name));
        fs::write(&reason_path, format!("{reason}\n"))?;
        if let Err(e) = fs::rename(&claimed.path, self.failed.join(&claimed.name)) {
            // Removed from `processing/` by someone else: the reason still says what happened.
            if claimed.path.exists() {
                return Err(e);
            }
        }
        sync_dir(&self.failed)
    }

    /// Images waiting in `incoming/` and left in `processing/` (for `devices probe`).
    pub fn counts(&self) -> io::Result<(usize, usize)> {
        Ok((
            fs::read_dir(&self.incoming)?.count(),
            fs::read_dir(&self.processing)?.count(),
        ))
    }
}

/// Makes a rename durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn later() -> SystemTime {
        SystemTime::now() + SETTLE * 2
    }

    #[test]
    fn each_image_is_claimed_once_and_completed() {
        let root = tempfile::tempdir().expect("tempdir");
        let spool = Spool::open(root.path()).expect("open");
        fs::write(root.path().join("incoming/0002.png"), b"b").expect("write");
        fs::write(root.path().join("incoming/0001.png"), b"a").expect("write");
        fs::write(root.path().join("incoming/0003.png.part"), b"c").expect("write");
        assert_eq!(
            spool.claim(SystemTime::UNIX_EPOCH).expect("claim"),
            None,
            "not settled yet"
        );
        let first = spool.claim(later()).expect("claim").expect("an image");
        assert_eq!(first.name, "0001.png");
        assert_eq!(spool.read(&first).expect("read"), b"a");
        spool.complete(first).expect("complete");
        let second = spool.claim(later()).expect("claim").expect("an image");
        assert_eq!(second.name, "0002.png");
        spool.reject(second, "no qr code").expect("reject");
        assert_eq!(spool.claim(later()).expect("claim"), None);
        assert!(root.path().join("done/0001.png").exists());
        assert!(root.path().join("failed/0002.png").exists());
        assert_eq!(
            fs::read_to_string(root.path().join("failed/0002.png.reason")).expect("reason"),
            "no qr code\n"
        );
    }

    #[test]
    fn a_batch_is_listed_once_and_vanished_entries_are_skipped() {
        let root = tempfile::tempdir().expect("tempdir");
        let spool = Spool::open(root.path()).expect("open");
        for name in ["3.png", "1.png", "2.png"] {
            fs::write(root.path().join("incoming").join(name), b"x").expect("write");
        }
        let batch = spool.settled(later()).expect("list");
        assert_eq!(batch, ["1.png", "2.png", "3.png"]);
        // The vendor takes one back between the listing and its claim.
        fs::remove_file(root.path().join("incoming/2.png")).expect("remove");
        let claimed: Vec<_> = batch
            .iter()
            .filter_map(|name| spool.claim_named(name).expect("claim"))
            .map(|claimed| claimed.name)
            .collect();
        assert_eq!(claimed, ["1.png", "3.png"]);
    }

    #[test]
    fn a_crash_after_claiming_requeues_the_image() {
        let root = tempfile::tempdir().expect("tempdir");
        let spool = Spool::open(root.path()).expect("open");
        fs::write(root.path().join("incoming/a.jpg"), b"x").expect("write");
        let claimed = spool.claim(later()).expect("claim").expect("an image");
        // Crash: the claim is never completed; a new process recovers it.
        drop(claimed);
        let restarted = Spool::open(root.path()).expect("open");
        assert_eq!(restarted.recover().expect("recover"), 1);
        let again = restarted.claim(later()).expect("claim").expect("requeued");
        assert_eq!(again.name, "a.jpg");
    }
}
