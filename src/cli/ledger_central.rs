//! Central's ledger writing tools that cannot stop the fleet: every publication and checkpoint is
//! first applied with the terminals' rules to central's replica plus the entries past it, and
//! checkpoints are prepared here, signed by offline roots (`ledger sign`) and published at k of n.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use ed25519_dalek::SigningKey;
use jiff::Timestamp;
use serde_json::json;

use crate::adapters::ledger::pending::PendingState;
use crate::adapters::ledger::{Central, JetStreamSource, LedgerSource, SledLedger};
use crate::adapters::nats::CentralLink;
use crate::core::ledger::permit_check::Bp1Verification;
use crate::core::ledger::state::{ApplyFailure, apply_entry};
use crate::core::ledger::{
    CHECKPOINT_BYTES_MAX, Change, Checkpoint, Entry, Hash, RootSet, SignedCheckpoint, entry_hash,
};
use crate::ports::ledger::LedgerStore;

/// Entries fetched from the stream at a time while replaying what lies past the replica.
const REPLAY_CHUNK: u64 = 20_000;

/// Where the operator reads what to do about an entry already in the stream that terminals
/// refuse.
const RECOVERY: &str = "see docs/ledger.md, \"A refused entry in the stream\"";

/// An entry of the stream that terminals refuse.
pub struct RefusedEntry {
    pub seq: u64,
    pub why: String,
}

/// The ledger as terminals will hold it at `head`: the replica, then every entry of the stream
/// past its cursor, each chain-linked and applied with the terminals' rules.
pub async fn state_at_head<'a>(
    replica: &'a SledLedger,
    source: &JetStreamSource,
    head: (u64, Hash),
) -> Result<PendingState<'a>, String> {
    replay_to_head(replica, source, head)
        .await?
        .map_err(|refused| {
            format!(
                "entry {}, already in the stream, is refused by terminals ({}); nothing can be \
             published or checkpointed after it: {RECOVERY}",
                refused.seq, refused.why
            )
        })
}

/// [`state_at_head`], telling a refused entry apart from a failure to read.
async fn replay_to_head<'a>(
    replica: &'a SledLedger,
    source: &JetStreamSource,
    head: (u64, Hash),
) -> Result<Result<PendingState<'a>, RefusedEntry>, String> {
    let cursor = replica.cursor().map_err(|e| e.to_string())?;
    if head.0 < cursor.seq {
        return Err(format!(
            "the replica is at entry {} but central's stream ends at {}: it is not this ledger's replica",
            cursor.seq, head.0
        ));
    }
    let mut state = PendingState::over(replica);
    let (mut seq, mut hash) = (cursor.seq, cursor.hash);
    while seq < head.0 {
        let to = head.0.min(seq + REPLAY_CHUNK);
        let chunk = source
            .entries(seq + 1, to)
            .await
            .map_err(|e| format!("reading entries {}..={to} past the replica: {e}", seq + 1))?;
        for bytes in &chunk {
            let entry = Entry::decode(bytes).map_err(|e| format!("entry {}: {e}", seq + 1))?;
            if entry.seq != seq + 1 || entry.prev != hash {
                return Err(format!(
                    "entry {} does not extend entry {seq} of the stream",
                    entry.seq
                ));
            }
            match apply_entry(&mut state, &entry, &Bp1Verification) {
                Ok(()) => {}
                Err(ApplyFailure::Rejected { seq, rejection }) => {
                    let why = rejection.to_string();
                    return Ok(Err(RefusedEntry { seq, why }));
                }
                Err(ApplyFailure::Store(e)) => return Err(format!("reading the replica: {e}")),
            }
            (seq, hash) = (entry.seq, entry_hash(bytes));
        }
    }
    if hash != head.1 {
        return Err(format!("entry {seq} differs from central's head"));
    }
    Ok(Ok(state))
}

/// Applies the changes about to be published after `head`, as terminals will apply them; the
/// first that a terminal would refuse (or that would change nothing) refuses the publication.
pub fn check_changes(
    state: &mut PendingState<'_>,
    head: u64,
    changes: &[Change],
    now: Timestamp,
) -> Result<(), String> {
    for (n, change) in changes.iter().enumerate() {
        let refused = |why: String| {
            format!(
                "change {} ({}) would be refused by terminals: {why}; nothing published",
                n + 1,
                change.kind()
            )
        };
        if let Change::PermitRevoked(r) = change {
            // Terminals take a revocation of any cti; one that changes nothing is a typo here.
            let cti = hex::encode(r.cti);
            if !crate::core::ledger::state::LedgerState::has_permit(state, &r.cti)
                .map_err(|e| e.to_string())?
            {
                return Err(refused(format!("permit {cti} is not in the ledger")));
            }
            if state.is_revoked(&r.cti).map_err(|e| e.to_string())? {
                return Err(refused(format!("permit {cti} is already revoked")));
            }
        }
        let entry = Entry {
            seq: head + 1 + n as u64,
            prev: [0; 32],
            time: now,
            change: change.clone(),
        };
        // Terminals check each entry's fields as they decode it, before any rule applies.
        change.check_fields().map_err(|e| refused(e.to_string()))?;
        apply_entry(state, &entry, &Bp1Verification).map_err(|f| match f {
            ApplyFailure::Rejected { rejection, .. } => refused(rejection.to_string()),
            ApplyFailure::Store(e) => format!("reading the replica: {e}"),
        })?;
    }
    Ok(())
}

/// `ledger publish`: checks the changes against the replica and the stream, then appends them
/// after exactly the head they were checked against.
pub async fn publish(
    link: &CentralLink,
    replica: &SledLedger,
    changes: Vec<Change>,
    now: Timestamp,
) -> Result<(u64, Hash), String> {
    let central = Central::connect(link).await.map_err(|e| e.to_string())?;
    let source = JetStreamSource::connect(link)
        .await
        .map_err(|e| e.to_string())?;
    let head = central.head().await.map_err(|e| e.to_string())?;
    let mut state = state_at_head(replica, &source, head).await?;
    check_changes(&mut state, head.0, &changes, now)?;
    central
        .append_after(head, changes, now)
        .await
        .map_err(|e| format!("{e} (nothing was checked against a newer head; run again)"))
}

/// `ledger checkpoint --prepare FILE`: the unsigned checkpoint of central's head, written only
/// when the head applies cleanly from the replica's checkpoint.
pub async fn prepare(
    link: &CentralLink,
    replica: &SledLedger,
    file: &Path,
    now: Timestamp,
) -> Result<Checkpoint, String> {
    let central = Central::connect(link).await.map_err(|e| e.to_string())?;
    let source = JetStreamSource::connect(link)
        .await
        .map_err(|e| e.to_string())?;
    let (size, root) = central.head().await.map_err(|e| e.to_string())?;
    state_at_head(replica, &source, (size, root)).await?;
    let checkpoint = Checkpoint {
        size,
        root,
        time: now,
    };
    let unsigned = SignedCheckpoint::sign(&checkpoint, &[]);
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(file)
        .map_err(|e| format!("creating {}: {e}", file.display()))?;
    out.write_all(&unsigned.encode())
        .and_then(|()| out.sync_all())
        .map_err(|e| format!("writing {}: {e}", file.display()))?;
    Ok(checkpoint)
}

/// Reads a checkpoint file as `prepare` and `sign` write it.
pub fn read_checkpoint_file(file: &Path) -> Result<SignedCheckpoint, String> {
    let bytes = crate::config::open_regular_file(file)
        .and_then(|f| {
            use std::io::Read;
            let mut bytes = Vec::new();
            f.take(CHECKPOINT_BYTES_MAX as u64 + 1)
                .read_to_end(&mut bytes)
                .map(|_| bytes)
        })
        .map_err(|e| format!("reading {}: {e}", file.display()))?;
    SignedCheckpoint::decode(&bytes).map_err(|e| format!("{}: {e}", file.display()))
}

/// `ledger sign --root KEY FILE`: adds one root's signature to the file. Offline: no broker, no
/// replica; the file is replaced whole (written beside it, then renamed).
pub fn sign(key_file: &Path, file: &Path) -> Result<serde_json::Value, String> {
    let key = read_owner_only_key(key_file)?;
    let mut signed = read_checkpoint_file(file)?;
    let checkpoint = signed
        .unverified()
        .map_err(|e| format!("{}: {e}", file.display()))?;
    signed
        .add_signature(&key)
        .map_err(|e| format!("{}: {e}", file.display()))?;
    let partial = file.with_extension("signing");
    std::fs::write(&partial, signed.encode())
        .and_then(|()| std::fs::File::open(&partial)?.sync_all())
        .and_then(|()| std::fs::rename(&partial, file))
        .map_err(|e| format!("writing {}: {e}", file.display()))?;
    Ok(json!({
        "size": checkpoint.size,
        "root": hex::encode(checkpoint.root),
        "time": checkpoint.time.to_string(),
        "signed_by": hex::encode(key.verifying_key().to_bytes()),
        "signatures": signed.signatures.len(),
    }))
}

/// A secret key (a root, the issuer), refused unless only its owner can read it.
pub fn read_owner_only_key(path: &Path) -> Result<SigningKey, String> {
    let mode = std::fs::metadata(path)
        .map_err(|e| format!("reading {}: {e}", path.display()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "{} is readable by others (mode {:o}): a secret key must be owner-only (chmod 600)",
            path.display(),
            mode & 0o777
        ));
    }
    read_signing_key(path)
}

/// The Ed25519 secret key in `path`: one line of 64 hex digits (the 32-byte seed).
fn read_signing_key(path: &Path) -> Result<SigningKey, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let raw = hex::decode(text.trim()).map_err(|e| format!("{}: {e}", path.display()))?;
    let seed: [u8; 32] = raw
        .as_slice()
        .try_into()
        .map_err(|_| format!("{} is not a 32-byte seed", path.display()))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// `ledger checkpoint --publish FILE`: publishes the signed checkpoint once `roots` accepts it
/// (k of n) and it states an entry of the stream as the stream holds it.
pub async fn publish_checkpoint(
    link: &CentralLink,
    roots: &RootSet,
    file: &Path,
) -> Result<Checkpoint, String> {
    let signed = read_checkpoint_file(file)?;
    let checkpoint = roots
        .verify(&signed)
        .map_err(|e| format!("{}: {e}; nothing published", file.display()))?;
    let central = Central::connect(link).await.map_err(|e| e.to_string())?;
    match central
        .entry_at(checkpoint.size)
        .await
        .map_err(|e| e.to_string())?
        .map(|bytes| entry_hash(&bytes))
    {
        Some(hash) if hash == checkpoint.root => {}
        Some(_) => {
            return Err(format!(
                "the checkpoint's root is not entry {}'s hash in central's stream; nothing published",
                checkpoint.size
            ));
        }
        None => {
            return Err(format!(
                "central's stream does not hold entry {}; nothing published",
                checkpoint.size
            ));
        }
    }
    let source = JetStreamSource::connect(link)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(latest) = source
        .latest_checkpoint()
        .await
        .map_err(|e| e.to_string())?
    {
        let latest = SignedCheckpoint::decode(&latest)
            .and_then(|s| s.unverified())
            .map_err(|e| format!("the published checkpoint: {e}"))?;
        if latest.size > checkpoint.size {
            return Err(format!(
                "a checkpoint at {} is already published, past this one at {}; nothing published",
                latest.size, checkpoint.size
            ));
        }
    }
    central
        .publish_checkpoint(&signed)
        .await
        .map_err(|e| e.to_string())?;
    Ok(checkpoint)
}

/// What `ledger rewind` keeps while it rewrites the stream: the first entry the stream held and
/// every entry kept, so that a rerun after a crash finishes from this file.
fn write_backup(file: &Path, first: u64, kept: &[Vec<u8>]) -> Result<(), String> {
    let value = ciborium::Value::Array(vec![
        ciborium::Value::Integer(first.into()),
        ciborium::Value::Array(kept.iter().cloned().map(ciborium::Value::Bytes).collect()),
    ]);
    let mut bytes = Vec::new();
    ciborium::into_writer(&value, &mut bytes).map_err(|e| e.to_string())?;
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
        .map_err(|e| format!("creating {}: {e}", file.display()))?;
    out.write_all(&bytes)
        .and_then(|()| out.sync_all())
        .map_err(|e| format!("writing {}: {e}", file.display()))
}

fn read_backup(file: &Path) -> Result<(u64, Vec<Vec<u8>>), String> {
    let bytes = std::fs::read(file).map_err(|e| format!("reading {}: {e}", file.display()))?;
    decode_rewind_backup(&bytes).map_err(|why| format!("{}: {why}", file.display()))
}

/// Reads a rewind backup as `write_backup` writes it: `[first seq, [entry bytes, …]]`; every
/// entry must decode as a ledger entry and the seqs follow each other from `first`.
pub fn decode_rewind_backup(bytes: &[u8]) -> Result<(u64, Vec<Vec<u8>>), String> {
    let bad = |why: &str| format!("not a rewind backup ({why})");
    let value: ciborium::Value = ciborium::from_reader(bytes).map_err(|e| bad(&e.to_string()))?;
    let [first, entries] = value
        .into_array()
        .map_err(|_| bad("not an array"))?
        .try_into()
        .map_err(|_| bad("not two items"))?;
    let first = first
        .as_integer()
        .and_then(|i| u64::try_from(i).ok())
        .filter(|f| *f >= 1)
        .ok_or_else(|| bad("first seq"))?;
    let entries: Vec<Vec<u8>> = entries
        .into_array()
        .map_err(|_| bad("entries"))?
        .into_iter()
        .map(|e| e.into_bytes().map_err(|_| bad("an entry is not bytes")))
        .collect::<Result<_, _>>()?;
    for (seq, bytes) in (first..).zip(&entries) {
        let entry = Entry::decode(bytes).map_err(|e| bad(&format!("entry {seq}: {e}")))?;
        if entry.seq != seq {
            return Err(bad(&format!("entry {seq} holds seq {}", entry.seq)));
        }
    }
    Ok((first, entries))
}

/// `ledger rewind`: takes the first entry terminals refuse, and every entry after it, out of the
/// stream; the dropped changes are written as `publish` JSON lines to `dropped` to be corrected
/// and published again. `backup` holds the kept entries while the stream is rewritten (a rerun
/// resumes from it) and is removed once done.
pub async fn rewind(
    link: &CentralLink,
    replica: &SledLedger,
    backup: &Path,
    dropped: &Path,
) -> Result<serde_json::Value, String> {
    let central = Central::connect(link).await.map_err(|e| e.to_string())?;
    if backup.exists() {
        let (first, kept) = read_backup(backup)?;
        central
            .rewrite_entries(first, &kept)
            .await
            .map_err(|e| e.to_string())?;
        std::fs::remove_file(backup).map_err(|e| format!("removing {}: {e}", backup.display()))?;
        return Ok(json!({"resumed": true, "kept_through": first + kept.len() as u64 - 1}));
    }
    let source = JetStreamSource::connect(link)
        .await
        .map_err(|e| e.to_string())?;
    let head = central.head().await.map_err(|e| e.to_string())?;
    let Err(refused) = replay_to_head(replica, &source, head).await? else {
        return Err("no entry of the stream is refused by terminals; nothing changed".into());
    };
    let first = source.first_seq().await.map_err(|e| e.to_string())?;
    let kept = if refused.seq > first {
        source
            .entries(first, refused.seq - 1)
            .await
            .map_err(|e| e.to_string())?
    } else {
        Vec::new()
    };
    let tail = source
        .entries(refused.seq, head.0)
        .await
        .map_err(|e| e.to_string())?;
    let mut lines = String::new();
    for bytes in &tail {
        let entry = Entry::decode(bytes).map_err(|e| e.to_string())?;
        lines.push_str(&serde_json::to_string(&entry.change).map_err(|e| e.to_string())?);
        lines.push('\n');
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(dropped)
        .and_then(|mut f| f.write_all(lines.as_bytes()).and_then(|()| f.sync_all()))
        .map_err(|e| format!("writing {}: {e}", dropped.display()))?;
    write_backup(backup, first, &kept)?;
    central
        .rewrite_entries(first, &kept)
        .await
        .map_err(|e| e.to_string())?;
    std::fs::remove_file(backup).map_err(|e| format!("removing {}: {e}", backup.display()))?;
    Ok(json!({
        "refused_entry": refused.seq,
        "reason": refused.why,
        "kept_through": refused.seq - 1,
        "dropped": tail.len(),
        "dropped_file": dropped,
    }))
}
