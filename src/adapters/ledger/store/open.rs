//! Opening the replica: an owner-only directory, a layout check that clears an older replica,
//! and a corrupt one set aside.

use super::*;

/// Clears a replica written in another layout (replication fills it again) and marks the layout.
pub(super) fn clear_other_layout(db: &sled::Db) -> Result<(), LedgerStoreError> {
    let meta = db.open_tree(TREE_NAMES[META]).map_err(backend)?;
    let layout = meta.get(META_LAYOUT).map_err(backend)?;
    if layout.as_deref() == Some(LAYOUT) {
        return Ok(());
    }
    if layout.is_some() || meta.get(META_APPLIED).map_err(backend)?.is_some() {
        tracing::warn!(
            layout = %String::from_utf8_lossy(layout.as_deref().unwrap_or(b"2")),
            "ledger replica written in an older layout: cleared, replication rebuilds it"
        );
    }
    // Every tree, even without a cursor: a first catch-up cut off before its cursor moved has
    // left rows of the old layout behind.
    for name in TREE_NAMES.iter().chain(&RETIRED_TREES) {
        db.drop_tree(name).map_err(backend)?;
    }
    db.open_tree(TREE_NAMES[META])
        .map_err(backend)?
        .insert(META_LAYOUT, LAYOUT)
        .map_err(backend)?;
    db.flush().map_err(backend)?;
    Ok(())
}

/// The replica holds person alerts' names: a new replica directory is created owner-only (0700);
/// an existing replica whose files group or others can reach and read (a directory they may
/// enter holding a file they may read) is refused, not repaired behind the operator's back.
pub(super) fn guard_directory(path: &Path) -> Result<(), LedgerStoreError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let mode_of = |meta: &std::fs::Metadata| meta.permissions().mode() & 0o7777;
    let dir_mode = match std::fs::metadata(path) {
        Ok(meta) => mode_of(&meta),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(path)
                .map_err(|e| backend(format!("creating {}: {e}", path.display())));
        }
        Err(e) => return Err(backend(format!("reading {}: {e}", path.display()))),
    };
    if dir_mode & 0o011 == 0 {
        return Ok(());
    }
    for name in REPLICA_FILES {
        let file = path.join(name);
        if let Ok(meta) = std::fs::metadata(&file)
            && meta.is_file()
            && mode_of(&meta) & 0o044 != 0
        {
            return Err(LedgerStoreError::Exposed {
                path: file.display().to_string(),
                mode: mode_of(&meta),
            });
        }
    }
    Ok(())
}

/// The files that hold the replica's data: sled's log and the entry files (whose person alerts
/// carry names).
pub(super) const REPLICA_FILES: [&str; 4] = ["db", ENTRIES_FILE, ENDS_FILE, PERMITS_FILE];

/// Gives the replica's files mode 0600: sled creates its files with the process umask.
pub(super) fn restrict_files(path: &Path) -> Result<(), LedgerStoreError> {
    use std::os::unix::fs::PermissionsExt;
    for name in REPLICA_FILES {
        let file = path.join(name);
        let meta = std::fs::metadata(&file)
            .map_err(|e| backend(format!("reading {}: {e}", file.display())))?;
        if meta.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| backend(format!("restricting {}: {e}", file.display())))?;
        }
    }
    Ok(())
}

impl SledLedger {
    /// Opens (or creates) the replica at `path`. Open once per process and share the handle.
    pub fn open(path: &Path, cache_capacity: u64) -> Result<Self, LedgerStoreError> {
        guard_directory(path)?;
        let db = crate::adapters::open_sled(
            &sled::Config::new()
                .path(path)
                .cache_capacity(cache_capacity)
                .mode(sled::Mode::HighThroughput),
        )
        .map_err(backend)?;
        clear_other_layout(&db)?;
        let trees = TREE_NAMES
            .iter()
            .map(|name| db.open_tree(name))
            .collect::<Result<Vec<_>, _>>()
            .map_err(backend)?;
        let applied = match trees[META].get(META_APPLIED).map_err(backend)? {
            Some(v) => decode_applied(&v)?,
            None => Applied {
                cursor: Cursor::EMPTY,
                permits: 0,
                signed_checkpoint: None,
            },
        };
        let files = AppendFiles::open(path)?;
        restrict_files(path)?;
        // Drops what a run cut off by a crash (or refused) wrote past the cursor.
        files.settle(applied.cursor.seq, applied.permits)?;
        let directory = PermitDirectory::default();
        let mut first = 0;
        files.read_permits(applied.permits, |records| {
            directory
                .insert_records(first, applied.cursor.seq, records)
                .map_err(|reason| corrupt("permit file", reason))?;
            first += records.len() as u64;
            Ok(())
        })?;
        Ok(Self {
            db,
            trees: trees.into(),
            applied_seq: Arc::new(AtomicU64::new(applied.cursor.seq)),
            applied: Arc::new(RwLock::new(applied)),
            directory: Arc::new(directory),
            files: Arc::new(files),
            writing: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Opens the replica at `path`; if it is corrupt, moves it aside to `<path>.corrupt`
    /// (replacing an earlier one) and opens an empty replica in its place, which replication
    /// fills again: the replica is only a copy of central's ledger, and a terminal that would not
    /// start over it is worse than one that refers travellers until it has caught up. Returns
    /// what was set aside and why. Other failures (the disk, a lock another process holds) are
    /// returned as they are.
    pub fn open_or_set_aside(
        path: &Path,
        cache_capacity: u64,
    ) -> Result<(Self, Option<(std::path::PathBuf, LedgerStoreError)>), LedgerStoreError> {
        match Self::open(path, cache_capacity) {
            Err(corruption @ LedgerStoreError::Corrupt { .. }) => {
                let mut aside = path.as_os_str().to_owned();
                aside.push(".corrupt");
                let aside = std::path::PathBuf::from(aside);
                if aside.exists() {
                    std::fs::remove_dir_all(&aside)
                        .map_err(|e| backend(format!("removing {}: {e}", aside.display())))?;
                }
                std::fs::rename(path, &aside).map_err(|e| {
                    backend(format!(
                        "moving {} aside to {}: {e}",
                        path.display(),
                        aside.display()
                    ))
                })?;
                if let Some(parent) = path.parent() {
                    // The move outlives a power cut, or the replica would be set aside again.
                    std::fs::File::open(parent)
                        .and_then(|d| d.sync_all())
                        .map_err(|e| backend(format!("syncing {}: {e}", parent.display())))?;
                }
                let store = Self::open(path, cache_capacity)?;
                Ok((store, Some((aside, corruption))))
            }
            opened => opened.map(|store| (store, None)),
        }
    }

    /// Bytes the replica uses on disk: sled's and the files'.
    pub fn size_on_disk(&self) -> Result<u64, LedgerStoreError> {
        Ok(self.db.size_on_disk().map_err(backend)? + self.files.size()?)
    }
}
