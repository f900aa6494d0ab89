//! `checkpointctl ledger`: central tools (init, publish, checkpoint, snapshot) and the terminal's
//! replica tools (status, verify, lookup, and the hidden `replicate` the daemon's tests drive).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Subcommand;
use ed25519_dalek::SigningKey;
use jiff::Timestamp;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::adapters::ledger::{
    Backoff, CACHE_CAPACITY_DEFAULT, Central, Replicator, SledLedger, Snapshot,
};
use crate::cli::progress::Progress;
use crate::core::document::HolderDigest;
use crate::core::ledger::entry::PersonAlertRaised;
use crate::core::ledger::permit_check::{Bp1Verification, index_of};
use crate::core::ledger::state::{
    Alert, IndexConsistency, IssuerKey as LedgerIssuerKey, IssuerTrust, LedgerState, MemoryState,
    PermitCheck, PermitRecord, PersonAlertState, TerminalKey, apply_entry,
};
use crate::core::ledger::{
    ChainCheck, Change, CrlRecord, CscaRecord, Cti, Cursor, IssuerKeyAdded, Kid, PermitIssued,
    PermitType, Registration, RootKey, RootSet, SignedCheckpoint, StayExtension,
};
use crate::ports::ledger::{LedgerStore, LedgerView};

mod csca;

/// Arguments of `checkpointctl ledger`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

/// The ledger subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Central: create root keys and an issuer key in DIR, provision the streams, publish the
    /// issuer key and a first checkpoint.
    Init {
        /// Directory for central's keys: root secrets, `roots.pub`, the issuer key (created).
        #[arg(long)]
        central: PathBuf,
        /// Central's NATS server (JetStream), e.g. `nats://127.0.0.1:4222`.
        #[arg(long)]
        nats: String,
        /// Number of root keys to create.
        #[arg(long, default_value_t = 3)]
        roots: usize,
        /// Replicas of `LEDGER`, the checkpoint stream and the snapshot bucket (3 on a
        /// three-node cluster).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=5))]
        replicas: u8,
    },
    /// Central: append entries read as JSON lines (`{"kind":…,"body":{…}}`) from FILE ("-": stdin)
    /// and permits from BP1 files (one or more `BP1:` texts per file, one per line).
    Publish {
        /// Central's NATS server (JetStream).
        #[arg(long)]
        nats: String,
        /// JSON lines of ledger changes to append (`-`: standard input).
        #[arg(long, required_unless_present = "bp1")]
        entries: Option<PathBuf>,
        /// A file of BP1 texts (as `checkpointctl permit issue` writes them); repeatable.
        #[arg(long)]
        bp1: Vec<PathBuf>,
        /// Central's replica: every BP1 permit is first checked against its issuer keys, and
        /// every CSCA change against its CSCAs and CRLs, as a terminal will check it on apply;
        /// nothing is published if one fails.
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Central: sign the current head with the root keys in DIR and publish the checkpoint.
    Checkpoint {
        /// Directory holding the root secret keys (as `init` wrote it).
        #[arg(long)]
        central: PathBuf,
        /// Central's NATS server (JetStream).
        #[arg(long)]
        nats: String,
        /// Sign with only the first N root keys (default: all).
        #[arg(long)]
        signers: Option<usize>,
    },
    /// Central: publish a snapshot of the replica at DATA; with --trim, drop the entries it
    /// covers from the stream.
    Snapshot {
        /// Central's replica directory to take the snapshot from.
        #[arg(long)]
        data: PathBuf,
        /// Central's NATS server (JetStream).
        #[arg(long)]
        nats: String,
        /// Drop the stream entries the snapshot covers.
        #[arg(long)]
        trim: bool,
    },
    /// Terminal: the replica's cursor and age, as JSON.
    Status {
        /// The replica directory (the terminal's `<data_dir>/ledger`).
        #[arg(long)]
        data: PathBuf,
        /// Age limit in seconds past which the replica counts as stale.
        #[arg(long, default_value_t = 86_400)]
        max_age_secs: i64,
    },
    /// Terminal: recompute the hash chain and the checkpoint of the replica.
    Verify {
        /// The replica directory (the terminal's `<data_dir>/ledger`).
        #[arg(long)]
        data: PathBuf,
        #[command(flatten)]
        roots: RootArgs,
    },
    /// Terminal: look up by document (`STATE:NUMBER`) or permit id (hex cti).
    Lookup {
        /// The replica directory (the terminal's `<data_dir>/ledger`).
        #[arg(long)]
        data: PathBuf,
        /// The travel document as `ISSUING_STATE:NUMBER` (e.g. `AZE:C01234567`).
        #[arg(long, conflicts_with = "cti", required_unless_present = "cti")]
        document: Option<String>,
        /// The permit id (CWT `cti`), in hex.
        #[arg(long)]
        cti: Option<String>,
        /// Day alerts are judged on (default: today, UTC).
        #[arg(long)]
        on: Option<jiff::civil::Date>,
    },
    /// Terminal: replicate from central into the replica at DATA.
    #[command(hide = true)]
    Replicate {
        /// The replica directory to write.
        #[arg(long)]
        data: PathBuf,
        /// Central's NATS server (JetStream).
        #[arg(long)]
        nats: String,
        #[command(flatten)]
        roots: RootArgs,
        /// Keep following instead of one round.
        #[arg(long)]
        follow: bool,
        /// Milliseconds between rounds when following.
        #[arg(long, default_value_t = 500)]
        interval_ms: u64,
    },
}

/// The pinned root keys.
#[derive(Debug, clap::Args)]
pub struct RootArgs {
    /// File with one hex root public key per line (`roots.pub` written by `init`).
    #[arg(long)]
    pub roots: PathBuf,
    /// How many distinct roots must sign a checkpoint.
    #[arg(long, default_value_t = 2)]
    pub threshold: usize,
}

/// Runs the subcommand.
pub fn run(args: Args) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the async runtime: {e}")),
    };
    match runtime.block_on(dispatch(args.command)) {
        Ok(code) => code,
        // A failure at run time (central unreachable, a file unreadable): 1, not the usage 2.
        Err(message) => fail(&message),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("checkpointctl ledger: {message}");
    crate::exit::Exit::Failure.into()
}

fn print(value: serde_json::Value) {
    println!("{value}");
}

async fn dispatch(command: Command) -> Result<ExitCode, String> {
    let now = Timestamp::now();
    match command {
        Command::Init {
            central,
            nats,
            roots,
            replicas,
        } => init(&central, &nats, roots, usize::from(replicas), now).await,
        Command::Publish {
            nats,
            entries,
            bp1,
            data,
        } => {
            let mut changes = Vec::new();
            if let Some(entries) = entries {
                changes.extend(read_entries(&entries)?);
            }
            for file in &bp1 {
                changes.extend(read_bp1(file)?);
            }
            let replica = data.as_deref().map(open).transpose()?;
            if let Some(store) = &replica {
                precheck_permits(store, &changes, now)?;
            }
            precheck_person_alerts(replica.as_ref().map(|s| s as &dyn LedgerView), &changes)?;
            let trust = replica
                .as_ref()
                .map(|store| store.csca_trust())
                .transpose()
                .map_err(|e| e.to_string())?;
            csca::precheck(&changes, trust.as_ref(), now)?;
            let central = Central::connect(&nats).await.map_err(|e| e.to_string())?;
            let (seq, hash) = central
                .append(changes, now)
                .await
                .map_err(|e| e.to_string())?;
            print(json!({"head_seq": seq, "head_hash": hex::encode(hash)}));
            Ok(ExitCode::SUCCESS)
        }
        Command::Checkpoint {
            central,
            nats,
            signers,
        } => {
            let mut keys = load_root_signers(&central)?;
            if let Some(n) = signers {
                keys.truncate(n);
            }
            let central = Central::connect(&nats).await.map_err(|e| e.to_string())?;
            let checkpoint = central
                .checkpoint(&keys, now)
                .await
                .map_err(|e| e.to_string())?;
            print(
                json!({"size": checkpoint.size, "root": hex::encode(checkpoint.root), "time": checkpoint.time.to_string()}),
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Snapshot { data, nats, trim } => {
            let store = open(&data)?;
            let snapshot = Snapshot::from_store(&store)
                .map_err(|e| e.to_string())?
                .ok_or("the replica has no checkpoint yet")?;
            let size = store.cursor().map_err(|e| e.to_string())?.seq;
            let central = Central::connect(&nats).await.map_err(|e| e.to_string())?;
            let bytes = central
                .put_snapshot(&snapshot)
                .await
                .map_err(|e| e.to_string())?;
            if trim {
                central.trim(size + 1).await.map_err(|e| e.to_string())?;
            }
            print(json!({"size": size, "bytes": bytes, "trimmed": trim}));
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { data, max_age_secs } => {
            let store = open_existing(&data)?;
            let cursor = store.cursor().map_err(|e| e.to_string())?;
            let age = cursor
                .checkpoint
                .map(|c| now.as_second() - c.time.as_second());
            print(json!({
                "applied_seq": cursor.seq,
                "applied_hash": hex::encode(cursor.hash),
                "permits": store.permit_count(),
                "checkpoint_size": cursor.checkpoint.map(|c| c.size),
                "checkpoint_time": cursor.checkpoint.map(|c| c.time.to_string()),
                "age_seconds": age,
                "stale": age.is_none_or(|a| a > max_age_secs),
            }));
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify { data, roots } => {
            let roots = load_roots(&roots)?;
            let store = open_existing(&data)?;
            let progress = Progress::new("verifying", "entries", 0, false);
            match verify_replica_with_progress(&store, &roots, &progress) {
                Ok(seq) => {
                    print(json!({"ok": true, "applied_seq": seq}));
                    Ok(ExitCode::SUCCESS)
                }
                Err(reason) => {
                    print(json!({"ok": false, "error": reason}));
                    Ok(ExitCode::from(1))
                }
            }
        }
        Command::Lookup {
            data,
            document,
            cti,
            on,
        } => {
            let store = open_existing(&data)?;
            let day = on.unwrap_or_else(|| now.to_zoned(jiff::tz::TimeZone::UTC).date());
            lookup(&store, document.as_deref(), cti.as_deref(), day)
        }
        Command::Replicate {
            data,
            nats,
            roots,
            follow,
            interval_ms,
        } => {
            let roots = load_roots(&roots)?;
            let store = open(&data)?;
            // A bootstrap from a snapshot is the long part: a bar on a terminal, nothing elsewhere.
            let progress = Progress::new("bootstrapping", "entries", 0, false);
            let bar = progress.clone();
            let replicator = Replicator::connect(&nats, store, roots, Arc::new(IndexConsistency))
                .await
                .map_err(|e| e.to_string())?
                .with_snapshot_dir(&data)
                .with_bootstrap_progress(Arc::new(move |done, total| {
                    bar.set_total(total);
                    bar.set_position(done);
                }));
            if follow {
                let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
                let error = replicator
                    .follow(Duration::from_millis(interval_ms), backoff)
                    .await;
                progress.finish();
                print(json!({"ok": false, "error": error.to_string()}));
                return Ok(ExitCode::from(1));
            }
            let round = replicator.sync_once().await;
            progress.finish();
            match round {
                Ok(outcome) => {
                    let seq = replicator.store().cursor().map_err(|e| e.to_string())?.seq;
                    print(
                        json!({"ok": true, "outcome": format!("{outcome:?}"), "applied_seq": seq}),
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    print(json!({"ok": false, "fatal": e.is_fatal(), "error": e.to_string()}));
                    Ok(ExitCode::from(1))
                }
            }
        }
    }
}

fn open(data: &Path) -> Result<SledLedger, String> {
    SledLedger::open(data, CACHE_CAPACITY_DEFAULT)
        .map_err(|e| format!("opening {}: {e}", data.display()))
}

/// Opens a replica that exists for reading (`status`, `verify`, `lookup`): a directory that holds
/// none is refused rather than made into a new empty one, and a replica a running daemon holds
/// is named as such.
fn open_existing(data: &Path) -> Result<SledLedger, String> {
    // sled keeps its configuration in `conf` beside its log: a replica has one.
    if !data.join("conf").is_file() {
        return Err(format!(
            "{} holds no ledger replica (a terminal's is <data_dir>/ledger); nothing was created",
            data.display()
        ));
    }
    SledLedger::open(data, CACHE_CAPACITY_DEFAULT).map_err(|e| {
        if e.to_string().contains("could not acquire lock") {
            format!(
                "{} is held by a running checkpointd: read its replica's state from the daemon \
                 (GET /api/v1/status, `ledger`) instead",
                data.display()
            )
        } else {
            format!("opening {}: {e}", data.display())
        }
    })
}

/// Recomputes the whole chain from entry 1 and checks it against the stored, re-verified
/// checkpoint and the cursor; replays the state to catch entries that would be refused.
fn read_entries(path: &Path) -> Result<Vec<Change>, String> {
    let text = if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).map_err(|e| format!("reading stdin: {e}"))?
    } else {
        std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?
    };
    let mut changes = Vec::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let at = |e: String| format!("{} line {}: {e}", path.display(), n + 1);
        let mut value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| at(e.to_string()))?;
        if is_person_alert_line(&value) {
            let alert: PersonAlertRaised =
                serde_json::from_value(value).map_err(|e| at(format!("person alert: {e}")))?;
            changes.push(Change::PersonAlert(alert));
            continue;
        }
        let base = path.parent().unwrap_or(Path::new("."));
        holder_from_document(&mut value, base).map_err(at)?;
        csca::body_from_file(&mut value, base).map_err(at)?;
        let change: Change = serde_json::from_value(value).map_err(|e| at(e.to_string()))?;
        // What a terminal would refuse on decode is refused before it is published.
        change.check_fields().map_err(|e| at(e.to_string()))?;
        changes.push(change);
    }
    Ok(changes)
}

/// A person alert line as `watchlist screen --alerts` reads it (`alert_id`, `names`, … and
/// optionally `action`, `note`), rather than a `{"kind", "body"}` change.
fn is_person_alert_line(value: &serde_json::Value) -> bool {
    value.get("body").is_none() && value.get("alert_id").is_some() && value.get("names").is_some()
}

/// Entries about a holder (alerts, registrations, extensions) may name the document instead of
/// its digest: `"document": "GEO:GE7777777"` or `"mrz_file": "path"` (relative to the entries
/// file) in the body; the tool computes `holder` as the terminals do.
fn holder_from_document(value: &mut serde_json::Value, base: &Path) -> Result<(), String> {
    let Some(body) = value
        .get_mut("body")
        .and_then(serde_json::Value::as_object_mut)
    else {
        return Ok(());
    };
    let document = body.remove("document");
    let mrz_file = body.remove("mrz_file");
    let digest = match (document, mrz_file) {
        (None, None) => return Ok(()),
        (Some(_), Some(_)) => return Err("name the document or the MRZ file, not both".into()),
        (Some(document), None) => {
            let text = document
                .as_str()
                .ok_or("`document` must be a string STATE:NUMBER")?;
            crate::cli::central::document_holder(text)?
        }
        (None, Some(file)) => {
            let file = file.as_str().ok_or("`mrz_file` must be a path")?;
            crate::cli::central::mrz_holder(&base.join(file))?
        }
    };
    if body.contains_key("holder") {
        return Err("`holder` and a document both given: name one".into());
    }
    body.insert("holder".into(), json!(hex::encode(digest.0)));
    Ok(())
}

/// `permit_issued` changes from a file of BP1 texts; the index fields are read from each payload.
fn read_bp1(path: &Path) -> Result<Vec<Change>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let mut changes = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let bp1 = line.trim();
        if bp1.is_empty() {
            continue;
        }
        let index = index_of(bp1).map_err(|e| format!("{} line {}: {e}", path.display(), n + 1))?;
        changes.push(Change::PermitIssued(PermitIssued {
            bp1: bp1.to_owned(),
            index,
        }));
    }
    if changes.is_empty() {
        return Err(format!("{}: no BP1 text in the file", path.display()));
    }
    Ok(changes)
}

/// Refuses the whole publication if a person alert or lift would be refused by the terminals: a
/// field a terminal refuses, an id raised twice, a lift of an id never raised or already lifted
/// (in this publication, or in central's replica when `--data` names it).
fn precheck_person_alerts(
    replica: Option<&dyn LedgerView>,
    changes: &[Change],
) -> Result<(), String> {
    let mut known: HashMap<&str, bool> = HashMap::new();
    let refuse = |n: usize, why: String| Err(format!("change {}: {why}; nothing published", n + 1));
    for (n, change) in changes.iter().enumerate() {
        let id = match change {
            Change::PersonAlert(a) => a.alert_id.as_str(),
            Change::PersonAlertLifted(l) => l.alert_id.as_str(),
            _ => continue,
        };
        if let Err(e) = change.check_fields() {
            return refuse(n, e.to_string());
        }
        let lifted = match known.get(id) {
            Some(lifted) => Some(*lifted),
            None => match replica {
                Some(view) => view
                    .person_alert(id)
                    .map_err(|e| e.to_string())?
                    .map(|record| record.state.lifted.is_some()),
                None => None,
            },
        };
        match (change, lifted) {
            (Change::PersonAlert(_), Some(_)) => {
                return refuse(n, format!("person alert {id:?} was already raised"));
            }
            (Change::PersonAlertLifted(_), None) if replica.is_some() => {
                return refuse(n, format!("person alert {id:?} is unknown"));
            }
            (Change::PersonAlertLifted(_), Some(true)) => {
                return refuse(n, format!("person alert {id:?} was already lifted"));
            }
            _ => {}
        }
        known.insert(id, matches!(change, Change::PersonAlertLifted(_)));
    }
    Ok(())
}

/// Refuses the whole publication if a permit would be refused by the terminals (a refused entry
/// stops every terminal's replication): each BP1 must verify against the replica's issuer keys.
fn precheck_permits(store: &SledLedger, changes: &[Change], now: Timestamp) -> Result<(), String> {
    struct ReplicaTrust<'a>(&'a SledLedger);
    impl IssuerTrust for ReplicaTrust<'_> {
        fn keys_for(&self, kid: &Kid) -> Vec<LedgerIssuerKey> {
            self.0.issuer_keys(kid).unwrap_or_default()
        }
    }
    let mut publishing = HashSet::new();
    for (n, change) in changes.iter().enumerate() {
        if let Change::PermitIssued(p) = change {
            // Terminals refuse the second issue of a cti and stop replicating there.
            if !publishing.insert(p.index.cti) {
                return Err(format!(
                    "permit {} (change {}) is issued twice in this publication; nothing published",
                    hex::encode(p.index.cti),
                    n + 1
                ));
            }
            if store
                .permit(&p.index.cti)
                .map_err(|e| e.to_string())?
                .is_some()
            {
                return Err(format!(
                    "permit {} (change {}) is already in the ledger",
                    hex::encode(p.index.cti),
                    n + 1
                ));
            }
            Bp1Verification
                .check(&p.bp1, &p.index, now, &ReplicaTrust(store))
                .map_err(|reason| {
                    format!(
                        "permit {} (change {}) would be refused by terminals: {reason}; nothing published",
                        hex::encode(p.index.cti),
                        n + 1
                    )
                })?;
        }
    }
    Ok(())
}

/// Entries read and checked at a time by [`verify_replica`]: memory stays flat however long the
/// ledger is.
const VERIFY_CHUNK: u64 = 20_000;

/// Recomputes the replica's chain from entry 1 to its cursor against the checkpoint it was applied
/// under (signed by the pinned roots), applies every entry's rules again, and checks that the
/// lookup by holder answers every permit the chain issued, as issued, and no other. Returns the
/// cursor's seq.
pub fn verify_replica(store: &dyn LedgerStore, roots: &RootSet) -> Result<u64, String> {
    verify_replica_with_progress(store, roots, &Progress::hidden())
}

/// [`verify_replica`], showing the entries checked of the cursor's on `progress`.
pub fn verify_replica_with_progress(
    store: &dyn LedgerStore,
    roots: &RootSet,
    progress: &Progress,
) -> Result<u64, String> {
    let cursor = store.cursor().map_err(|e| e.to_string())?;
    let Some(raw) = store.signed_checkpoint().map_err(|e| e.to_string())? else {
        return if cursor == Cursor::EMPTY {
            Ok(0)
        } else {
            Err("cursor set but no checkpoint stored".into())
        };
    };
    let signed = SignedCheckpoint::decode(&raw).map_err(|e| e.to_string())?;
    let checkpoint = roots.verify(&signed).map_err(|e| e.to_string())?;
    let mut chain = ChainCheck::new(&Cursor::EMPTY, checkpoint).map_err(|e| e.to_string())?;
    let mut rules = RuleCheck::default();
    let mut issued = 0usize;
    progress.set_total(cursor.seq);
    while chain.seq() < cursor.seq {
        progress.set_position(chain.seq());
        let from = chain.seq() + 1;
        let entries = store
            .entries(from, from.saturating_add(VERIFY_CHUNK - 1))
            .map_err(|e| e.to_string())?;
        if entries.is_empty() {
            return Err(format!(
                "the replica holds no entry {from}, its cursor is at {}",
                cursor.seq
            ));
        }
        for bytes in &entries {
            let entry = chain.push(bytes).map_err(|e| e.to_string())?;
            apply_entry(&mut rules, &entry, &IndexConsistency).map_err(|e| e.to_string())?;
            if let Change::PermitIssued(p) = &entry.change {
                issued += 1;
                let held = store
                    .permits_by_holder(&HolderDigest(p.index.holder))
                    .map_err(|e| e.to_string())?;
                if !held
                    .iter()
                    .any(|h| h.seq == entry.seq && h.index == p.index)
                {
                    return Err(format!(
                        "entry {}: permit {} is not answered by the lookup by holder as issued",
                        entry.seq,
                        hex::encode(p.index.cti)
                    ));
                }
            }
        }
    }
    progress.finish();
    let next = chain.finish().map_err(|e| e.to_string())?;
    let answered = store.permit_count();
    if answered != issued {
        return Err(format!(
            "the replica answers lookups with {answered} permits, the chain issued {issued}"
        ));
    }
    if next != cursor {
        return Err(format!(
            "cursor {} does not match the recomputed chain",
            cursor.seq
        ));
    }
    Ok(cursor.seq)
}

/// The ledger's rules over a replayed chain, holding of each permit only its cti (a million
/// signed texts need not be in memory to check that no cti is issued twice).
#[derive(Default)]
struct RuleCheck {
    permits: HashSet<Cti>,
    /// Person alerts by id, without their names (only the rules' state).
    person_alerts: HashMap<String, PersonAlertState>,
    rest: MemoryState,
}

impl LedgerState for RuleCheck {
    type Error = std::convert::Infallible;
    fn has_permit(&self, cti: &Cti) -> Result<bool, Self::Error> {
        Ok(self.permits.contains(cti))
    }
    fn insert_permit(&mut self, permit: &PermitRecord) -> Result<(), Self::Error> {
        self.permits.insert(permit.index.cti);
        Ok(())
    }
    fn revoke(&mut self, cti: &Cti, seq: u64) -> Result<(), Self::Error> {
        self.rest.revoke(cti, seq)
    }
    fn issuer_keys(&self, kid: &Kid) -> Result<Vec<LedgerIssuerKey>, Self::Error> {
        LedgerState::issuer_keys(&self.rest, kid)
    }
    fn set_issuer_keys(&mut self, kid: &Kid, keys: &[LedgerIssuerKey]) -> Result<(), Self::Error> {
        self.rest.set_issuer_keys(kid, keys)
    }
    fn terminal_keys(&self, terminal: &str) -> Result<Vec<TerminalKey>, Self::Error> {
        LedgerState::terminal_keys(&self.rest, terminal)
    }
    fn set_terminal_keys(
        &mut self,
        terminal: &str,
        keys: &[TerminalKey],
    ) -> Result<(), Self::Error> {
        self.rest.set_terminal_keys(terminal, keys)
    }
    fn alert(&self, id: u64) -> Result<Option<Alert>, Self::Error> {
        self.rest.alert(id)
    }
    fn insert_alert(&mut self, alert: &Alert) -> Result<(), Self::Error> {
        self.rest.insert_alert(alert)
    }
    fn remove_alert(&mut self, alert: &Alert) -> Result<(), Self::Error> {
        self.rest.remove_alert(alert)
    }
    fn insert_extension(&mut self, seq: u64, extension: &StayExtension) -> Result<(), Self::Error> {
        self.rest.insert_extension(seq, extension)
    }
    fn insert_registration(
        &mut self,
        seq: u64,
        registration: &Registration,
    ) -> Result<(), Self::Error> {
        self.rest.insert_registration(seq, registration)
    }
    fn officer(
        &self,
        officer_id: &str,
    ) -> Result<Option<crate::core::ledger::OfficerRecord>, Self::Error> {
        LedgerState::officer(&self.rest, officer_id)
    }
    fn set_officer(
        &mut self,
        officer: &crate::core::ledger::OfficerRecord,
    ) -> Result<(), Self::Error> {
        self.rest.set_officer(officer)
    }
    fn person_alert(&self, id: &str) -> Result<Option<PersonAlertState>, Self::Error> {
        Ok(self.person_alerts.get(id).copied())
    }
    fn insert_person_alert(
        &mut self,
        seq: u64,
        alert: &PersonAlertRaised,
    ) -> Result<(), Self::Error> {
        let state = PersonAlertState { seq, lifted: None };
        self.person_alerts.insert(alert.alert_id.clone(), state);
        Ok(())
    }
    fn lift_person_alert(&mut self, id: &str, state: &PersonAlertState) -> Result<(), Self::Error> {
        self.person_alerts.insert(id.to_owned(), *state);
        Ok(())
    }
    fn cscas_named(&self, subject: &[u8; 32]) -> Result<Vec<CscaRecord>, Self::Error> {
        self.rest.cscas_named(subject)
    }
    fn set_cscas_named(
        &mut self,
        subject: &[u8; 32],
        records: &[CscaRecord],
    ) -> Result<(), Self::Error> {
        self.rest.set_cscas_named(subject, records)
    }
    fn crl_of(&self, issuer: &[u8; 32]) -> Result<Option<CrlRecord>, Self::Error> {
        self.rest.crl_of(issuer)
    }
    fn set_crl(&mut self, issuer: &[u8; 32], record: &CrlRecord) -> Result<(), Self::Error> {
        self.rest.set_crl(issuer, record)
    }
}

fn lookup(
    store: &SledLedger,
    document: Option<&str>,
    cti: Option<&str>,
    day: jiff::civil::Date,
) -> Result<ExitCode, String> {
    let err = |e: crate::ports::ledger::LedgerStoreError| e.to_string();
    if let Some(cti) = cti {
        let raw = hex::decode(cti).map_err(|e| format!("--cti: {e}"))?;
        let cti: [u8; 16] = raw
            .as_slice()
            .try_into()
            .map_err(|_| "--cti must be 16 bytes (32 hex digits)")?;
        let permit = store.permit(&cti).map_err(err)?;
        print(json!({
            "cti": hex::encode(cti),
            "found": permit.is_some(),
            "revoked": store.is_revoked(&cti).map_err(err)?,
            "permit": permit.map(|p| permit_json(&p.held())),
        }));
        return Ok(ExitCode::SUCCESS);
    }
    let document = document.ok_or("give --document or --cti")?;
    let (state, number) = document
        .split_once(':')
        .ok_or("--document must be STATE:NUMBER")?;
    let holder = HolderDigest::of(state, number);
    let permits = store.permits_by_holder(&holder).map_err(err)?;
    let mut permit_json_list = Vec::new();
    for p in &permits {
        let mut v = permit_json(p);
        v["revoked"] = json!(store.is_revoked(&p.index.cti).map_err(err)?);
        permit_json_list.push(v);
    }
    print(json!({
        "holder": hex::encode(holder.0),
        "permits": permit_json_list,
        "alerts": store.active_alerts(&holder, day).map_err(err)?.iter().map(|a| json!({"id": a.id, "alert": a.alert.alert, "note": a.alert.note})).collect::<Vec<_>>(),
        "stay_extensions": store.stay_extensions(&holder).map_err(err)?.iter().map(|e| json!({"until": e.until, "reference": e.reference})).collect::<Vec<_>>(),
        "registrations": store.registrations(&holder).map_err(err)?.iter().map(|r| json!({"valid_from": r.valid_from, "valid_until": r.valid_until, "place": r.place})).collect::<Vec<_>>(),
    }));
    Ok(ExitCode::SUCCESS)
}

fn permit_json(p: &crate::core::ledger::HeldPermit) -> serde_json::Value {
    json!({
        "cti": hex::encode(p.index.cti),
        "permit_type": p.index.permit_type.code(),
        "valid_from": p.index.valid_from,
        "valid_until": p.index.valid_until,
        "seq": p.seq,
    })
}

const ROOTS_FILE: &str = "roots.pub";

fn load_roots(args: &RootArgs) -> Result<RootSet, String> {
    let text = std::fs::read_to_string(&args.roots)
        .map_err(|e| format!("reading {}: {e}", args.roots.display()))?;
    let mut keys = Vec::new();
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let raw = hex::decode(line).map_err(|e| format!("root key {line:?}: {e}"))?;
        let bytes: [u8; 32] = raw
            .as_slice()
            .try_into()
            .map_err(|_| format!("root key {line:?} is not 32 bytes"))?;
        keys.push(RootKey::from_bytes(&bytes).map_err(|e| e.to_string())?);
    }
    RootSet::new(keys, args.threshold).map_err(|e| e.to_string())
}

fn load_root_signers(central: &Path) -> Result<Vec<SigningKey>, String> {
    let mut paths: Vec<_> = std::fs::read_dir(central)
        .map_err(|e| format!("reading {}: {e}", central.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("root-") && n.ends_with(".key"))
        })
        .collect();
    paths.sort();
    paths.iter().map(|p| read_signing_key(p)).collect()
}

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

fn write_secret(path: &Path, key: &SigningKey) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("creating {}: {e}", path.display()))?;
    writeln!(file, "{}", hex::encode(key.to_bytes()))
        .map_err(|e| format!("writing {}: {e}", path.display()))
}

/// RFC 9679 thumbprint of an Ed25519 OKP key, first 8 bytes: SHA-256 over the deterministic
/// CBOR map `{1: 1, -1: 6, -2: x}`.
pub fn issuer_kid(public_key: &[u8; 32]) -> [u8; 8] {
    let mut map = vec![0xa3, 0x01, 0x01, 0x20, 0x06, 0x21, 0x58, 0x20];
    map.extend_from_slice(public_key);
    let digest = Sha256::digest(&map);
    let mut kid = [0; 8];
    kid.copy_from_slice(&digest[..8]);
    kid
}

async fn init(
    central_dir: &Path,
    url: &str,
    n_roots: usize,
    replicas: usize,
    now: Timestamp,
) -> Result<ExitCode, String> {
    if n_roots == 0 {
        return Err("--roots must be at least 1".into());
    }
    std::fs::create_dir_all(central_dir)
        .map_err(|e| format!("creating {}: {e}", central_dir.display()))?;
    let mut rng = rand::rngs::OsRng;
    let mut roots = Vec::new();
    let mut public = String::new();
    for i in 1..=n_roots {
        let key = SigningKey::generate(&mut rng);
        write_secret(&central_dir.join(format!("root-{i}.key")), &key)?;
        public.push_str(&hex::encode(key.verifying_key().to_bytes()));
        public.push('\n');
        roots.push(key);
    }
    std::fs::write(central_dir.join(ROOTS_FILE), &public)
        .map_err(|e| format!("writing {ROOTS_FILE}: {e}"))?;
    let issuer = SigningKey::generate(&mut rng);
    write_secret(&central_dir.join("issuer-1.key"), &issuer)?;
    let public_key = issuer.verifying_key().to_bytes();
    let year = jiff::SignedDuration::from_hours(24 * 365);
    // CWT times are whole seconds: a card signed in this very second must fall inside.
    let sign_from = Timestamp::from_second(now.as_second()).map_err(|e| e.to_string())?;
    let change = Change::IssuerKeyAdded(IssuerKeyAdded {
        kid: issuer_kid(&public_key),
        public_key,
        sign_from,
        sign_until: now.checked_add(year).map_err(|e| e.to_string())?,
        verify_until: now.checked_add(year * 2).map_err(|e| e.to_string())?,
        permit_types: PermitType::ALL.to_vec(),
    });
    let central = Central::connect(url).await.map_err(|e| e.to_string())?;
    central
        .provision(replicas)
        .await
        .map_err(|e| e.to_string())?;
    let (seq, _) = central
        .append(vec![change], now)
        .await
        .map_err(|e| e.to_string())?;
    let checkpoint = central
        .checkpoint(&roots, now)
        .await
        .map_err(|e| e.to_string())?;
    print(json!({
        "roots": central_dir.join(ROOTS_FILE),
        "issuer_kid": hex::encode(issuer_kid(&public_key)),
        "head_seq": seq,
        "checkpoint_size": checkpoint.size,
    }));
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(text: &str) -> Result<Vec<Change>, String> {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("entries.jsonl");
        std::fs::write(&path, text).expect("write entries");
        std::fs::write(
            dir.path().join("passport.mrz"),
            "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10\n",
        )
        .expect("write mrz");
        read_entries(&path)
    }

    #[test]
    fn person_alert_lines_publish_and_bad_ones_are_refused_before_publishing() {
        let line = r#"{"alert_id":"PA-1","names":[{"surname":"Мамедов","given_names":"Эльчин"}],"birth_date":"1985-03-12","nationalities":["AZE"],"sex":"M","kind":"entry_ban","until":"2031-01-01","action":"refuse entry","note":"deported","extra":true}"#;
        let lift = r#"{"kind":"person_alert_lifted","body":{"alert_id":"PA-1"}}"#;
        let changes = entries(&format!("{line}\n{lift}\n")).expect("alert and lift");
        assert!(matches!(&changes[0], Change::PersonAlert(a) if a.action == "refuse entry"));
        precheck_person_alerts(None, &changes).expect("raise then lift");
        let twice = [changes[0].clone(), changes[0].clone()];
        let refused = precheck_person_alerts(None, &twice).expect_err("raised twice");
        assert!(
            refused.contains("change 2") && refused.contains("already raised"),
            "{refused}"
        );
        let lifted_twice = [changes[0].clone(), changes[1].clone(), changes[1].clone()];
        let refused = precheck_person_alerts(None, &lifted_twice).expect_err("lifted twice");
        assert!(refused.contains("already lifted"), "{refused}");
        let replica = MemoryState::default();
        let refused = precheck_person_alerts(Some(&replica), &changes[1..]).expect_err("unknown");
        assert!(refused.contains("unknown"), "{refused}");
        let bad = entries(&line.replace("1985-03-12", "1985-13-12")).expect("parses");
        let refused = precheck_person_alerts(None, &bad).expect_err("bad date");
        assert!(refused.contains("birth_date"), "{refused}");
        let unknown_kind = entries(&line.replace("entry_ban", "banned")).expect_err("kind");
        assert!(
            unknown_kind.contains("line 1") && unknown_kind.contains("person alert"),
            "{unknown_kind}"
        );
    }

    #[test]
    fn alerts_name_the_document_and_the_tool_computes_the_holder() {
        let alert = |who: &str| {
            format!(r#"{{"kind":"alert","body":{{{who},"alert":{{"type":"stolen"}},"note":"n"}}}}"#)
        };
        let by_number = entries(&alert(r#""document":"GEO:GE7777777""#)).expect("by number");
        let by_mrz = entries(&alert(r#""mrz_file":"passport.mrz""#)).expect("by MRZ");
        let holder = |changes: &[Change]| match &changes[0] {
            Change::Alert(raised) => raised.holder,
            other => panic!("not an alert: {other:?}"),
        };
        assert_eq!(holder(&by_number), HolderDigest::of("GEO", "GE7777777").0);
        assert_eq!(holder(&by_mrz), HolderDigest::of("UTO", "L898902C3").0);
        let both = entries(&alert(r#""document":"GEO:GE1","holder":"00""#));
        assert!(both.is_err_and(|e| e.contains("line 1") && e.contains("name one")));
        let lower = entries(&alert(r#""document":"geo:ge1""#));
        assert!(lower.is_err_and(|e| e.contains("upper-case")));
    }
}
