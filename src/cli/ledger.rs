//! `checkpointctl ledger`: central tools (init, publish, checkpoint, snapshot) and the terminal's
//! replica tools (status, verify, lookup, and the hidden `replicate` the daemon's tests drive).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Subcommand;
use ed25519_dalek::SigningKey;
use jiff::Timestamp;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::adapters::ledger::report::{self, LookupKey};
pub use crate::adapters::ledger::verify::verify_replica;
use crate::adapters::ledger::verify::verify_replica_with_progress;
use crate::adapters::ledger::{
    Backoff, CACHE_CAPACITY_DEFAULT, Central, Replicator, SledLedger, Snapshot,
};
use crate::adapters::nats::CentralLink;
use crate::cli::ledger_central;
use crate::cli::link::LinkArgs;
use crate::cli::progress::Progress;
use crate::core::ledger::entry::PersonAlertRaised;
use crate::core::ledger::permit_check::{Bp1Verification, index_of};
use crate::core::ledger::state::IndexConsistency;
use crate::core::ledger::{
    Change, IssuerKeyAdded, PermitIssued, PermitType, RootKey, RootSet, SignedCheckpoint,
};
use crate::ports::ledger::LedgerStore;

mod csca;
mod daemon;

/// Arguments of `checkpointctl ledger`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

/// The ledger subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Central: create root keys in ROOTS_DIR and an issuer key in DIR, provision the streams,
    /// publish the issuer key and a first checkpoint. A rerun finishes what a failed run left
    /// undone and keeps every key that exists.
    Init {
        /// Directory for central's keys: `roots.pub` and the issuer key (created).
        #[arg(long)]
        central: PathBuf,
        /// Directory for the root secrets (`root-N.key`, owner-only), to be taken offline.
        #[arg(long)]
        roots_dir: PathBuf,
        #[command(flatten)]
        link: LinkArgs,
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
        #[command(flatten)]
        link: LinkArgs,
        /// JSON lines of ledger changes to append (`-`: standard input).
        #[arg(long, required_unless_present = "bp1")]
        entries: Option<PathBuf>,
        /// A file of BP1 texts (as `checkpointctl permit issue` writes them); repeatable.
        #[arg(long)]
        bp1: Vec<PathBuf>,
        /// Central's own replica: every change is first applied, with the terminals' rules,
        /// to it and the entries published past it (CSCA changes against its CSCAs and CRLs);
        /// nothing is published if one would be refused.
        #[arg(long)]
        data: PathBuf,
    },
    /// Central: `--prepare FILE` writes the unsigned checkpoint of the head (only if the head
    /// applies cleanly from the replica); `--publish FILE` publishes it once k of n roots signed.
    #[command(group(clap::ArgGroup::new("step").required(true).args(["prepare", "publish"])))]
    Checkpoint {
        #[command(flatten)]
        link: LinkArgs,
        /// Write the unsigned checkpoint to FILE (created; for `ledger sign`).
        #[arg(long, requires = "data")]
        prepare: Option<PathBuf>,
        /// Publish the signed checkpoint in FILE.
        #[arg(long, requires = "roots")]
        publish: Option<PathBuf>,
        /// Central's own replica: checked against with `--prepare`, brought up to the new
        /// checkpoint after `--publish`.
        #[arg(long)]
        data: Option<PathBuf>,
        /// File with one hex root public key per line (`roots.pub`), with `--publish`.
        #[arg(long)]
        roots: Option<PathBuf>,
        /// How many distinct roots must have signed, with `--publish`.
        #[arg(long, default_value_t = 2)]
        threshold: usize,
    },
    /// Central: take the first entry terminals refuse, and the entries after it, out of the
    /// stream (docs/ledger.md, "A refused entry in the stream"); a rerun resumes from BACKUP.
    Rewind {
        #[command(flatten)]
        link: LinkArgs,
        /// Central's own replica (where replaying the stream starts).
        #[arg(long)]
        data: PathBuf,
        /// File holding the kept entries while the stream is rewritten (removed when done).
        #[arg(long)]
        backup: PathBuf,
        /// File to write the dropped changes to, as `publish` JSON lines (created).
        #[arg(long)]
        dropped: PathBuf,
    },
    /// Central, offline: add the signature of one root key to a prepared checkpoint file.
    Sign {
        /// The root secret key (`root-N.key`, owner-only).
        #[arg(long)]
        root: PathBuf,
        /// The checkpoint file (`ledger checkpoint --prepare` wrote it).
        file: PathBuf,
    },
    /// Central: publish a snapshot of the replica at DATA; with --trim, drop the entries it
    /// covers from the stream.
    Snapshot {
        /// Central's replica directory to take the snapshot from.
        #[arg(long)]
        data: PathBuf,
        #[command(flatten)]
        link: LinkArgs,
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
        /// Output as JSON: these commands print one JSON document, with or without it (the
        /// switch every subcommand takes).
        #[arg(long)]
        json: bool,
    },
    /// Terminal: recompute the hash chain and the checkpoint of the replica.
    Verify {
        /// The replica directory (the terminal's `<data_dir>/ledger`).
        #[arg(long)]
        data: PathBuf,
        #[command(flatten)]
        roots: RootArgs,
        /// Output as JSON: these commands print one JSON document, with or without it (the
        /// switch every subcommand takes).
        #[arg(long)]
        json: bool,
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
        /// Output as JSON: these commands print one JSON document, with or without it (the
        /// switch every subcommand takes).
        #[arg(long)]
        json: bool,
    },
    /// Terminal: replicate from central into the replica at DATA.
    #[command(hide = true)]
    Replicate {
        /// The replica directory to write.
        #[arg(long)]
        data: PathBuf,
        #[command(flatten)]
        link: LinkArgs,
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
            roots_dir,
            link,
            roots,
            replicas,
        } => {
            let dirs = InitDirs {
                central: &central,
                roots: &roots_dir,
            };
            init(dirs, &link.link()?, roots, usize::from(replicas), now).await
        }
        Command::Publish {
            link,
            entries,
            bp1,
            data,
        } => publish(&link.link()?, entries.as_deref(), &bp1, &data, now).await,
        Command::Checkpoint {
            link,
            prepare,
            publish,
            data,
            roots,
            threshold,
        } => {
            let steps = CheckpointSteps {
                prepare,
                publish,
                data,
                roots,
                threshold,
            };
            checkpoint(&link.link()?, steps, now).await
        }
        Command::Rewind {
            link,
            data,
            backup,
            dropped,
        } => {
            print(ledger_central::rewind(&link.link()?, &open(&data)?, &backup, &dropped).await?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Sign { root, file } => {
            print(ledger_central::sign(&root, &file)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Snapshot { data, link, trim } => snapshot(&data, &link.link()?, trim).await,
        Command::Status {
            data, max_age_secs, ..
        } => status(&data, max_age_secs, now).await,
        Command::Verify { data, roots, .. } => verify(&data, &roots).await,
        Command::Lookup {
            data,
            document,
            cti,
            on,
            ..
        } => {
            let day = on.unwrap_or_else(|| now.to_zoned(jiff::tz::TimeZone::UTC).date());
            lookup(&data, document.as_deref(), cti.as_deref(), day).await
        }
        Command::Replicate {
            data,
            link,
            roots,
            follow,
            interval_ms,
        } => {
            let follow = follow.then(|| Duration::from_millis(interval_ms));
            replicate(&data, &link.link()?, &roots, follow).await
        }
    }
}

async fn publish(
    link: &CentralLink,
    entries: Option<&Path>,
    bp1: &[PathBuf],
    data: &Path,
    now: Timestamp,
) -> Result<ExitCode, String> {
    let mut changes = Vec::new();
    if let Some(entries) = entries {
        changes.extend(read_entries(entries)?);
    }
    for file in bp1 {
        changes.extend(read_bp1(file)?);
    }
    let replica = open(data)?;
    // What needs no state (files, signatures, sizes) first, for a plain error; the rules
    // against the replica and the stream past it run in `publish`.
    csca::precheck(&changes, now)?;
    let (seq, hash) = ledger_central::publish(link, &replica, changes, now).await?;
    print(json!({"head_seq": seq, "head_hash": hex::encode(hash)}));
    Ok(ExitCode::SUCCESS)
}

/// `ledger checkpoint`'s two steps: `--prepare FILE --data DIR` or `--publish FILE --roots FILE`.
struct CheckpointSteps {
    prepare: Option<PathBuf>,
    publish: Option<PathBuf>,
    data: Option<PathBuf>,
    roots: Option<PathBuf>,
    threshold: usize,
}

async fn checkpoint(
    link: &CentralLink,
    steps: CheckpointSteps,
    now: Timestamp,
) -> Result<ExitCode, String> {
    let checkpoint = match (steps.prepare, steps.publish, steps.data, steps.roots) {
        (Some(file), _, Some(data), _) => {
            ledger_central::prepare(link, &open(&data)?, &file, now).await?
        }
        (_, Some(file), data, Some(roots)) => {
            let roots = load_roots(&RootArgs {
                roots,
                threshold: steps.threshold,
            })?;
            let checkpoint = ledger_central::publish_checkpoint(link, &roots, &file).await?;
            if let Some(data) = data {
                sync_replica(link, &data, roots).await?;
            }
            checkpoint
        }
        _ => return Err("give --prepare FILE --data DIR or --publish FILE --roots FILE".into()),
    };
    print(json!({
        "size": checkpoint.size,
        "root": hex::encode(checkpoint.root),
        "time": checkpoint.time.to_string(),
    }));
    Ok(ExitCode::SUCCESS)
}

async fn snapshot(data: &Path, link: &CentralLink, trim: bool) -> Result<ExitCode, String> {
    let store = open(data)?;
    let snapshot = Snapshot::from_store(&store)
        .map_err(|e| e.to_string())?
        .ok_or("the replica has no checkpoint yet")?;
    let size = store.cursor().map_err(|e| e.to_string())?.seq;
    let central = Central::connect(link).await.map_err(|e| e.to_string())?;
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

/// `ledger status`: from the replica, or from the daemon that holds it.
async fn status(data: &Path, max_age_secs: i64, now: Timestamp) -> Result<ExitCode, String> {
    let value = match open_replica(data)? {
        Replica::Opened(store) => {
            report::status(&store, now, max_age_secs).map_err(|e| e.to_string())?
        }
        Replica::Held { socket } => {
            answered_by_daemon(data, &socket);
            daemon::status(data, &socket, max_age_secs).await?
        }
    };
    print(value);
    Ok(ExitCode::SUCCESS)
}

async fn verify(data: &Path, args: &RootArgs) -> Result<ExitCode, String> {
    let roots = load_roots(args)?;
    let store = match open_replica(data)? {
        Replica::Opened(store) => store,
        Replica::Held { socket } => {
            answered_by_daemon(data, &socket);
            let value = daemon::verify(data, &socket, &root_lines(args)?, args.threshold).await?;
            let ok = value["ok"] == true;
            print(value);
            return Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
    };
    let progress = Progress::new("verifying", "entries", 0, false);
    let mut shown = |done: u64, total: u64| {
        progress.set_total(total);
        progress.set_position(done);
    };
    let verified = verify_replica_with_progress(&store, &roots, &mut shown);
    progress.finish();
    match verified {
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

/// One replication round, or following the stream every `follow` until a fatal error.
async fn replicate(
    data: &Path,
    link: &CentralLink,
    roots: &RootArgs,
    follow: Option<Duration>,
) -> Result<ExitCode, String> {
    let roots = load_roots(roots)?;
    let store = open(data)?;
    // A bootstrap from a snapshot is the long part: a bar on a terminal, nothing elsewhere.
    let progress = Progress::new("bootstrapping", "entries", 0, false);
    let bar = progress.clone();
    let replicator = Replicator::connect(link, store, roots, Arc::new(IndexConsistency))
        .await
        .map_err(|e| e.to_string())?
        .with_snapshot_dir(data)
        .with_bootstrap_progress(Arc::new(move |done, total| {
            bar.set_total(total);
            bar.set_position(done);
        }));
    if let Some(interval) = follow {
        let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
        let error = replicator.follow(interval, backoff).await;
        progress.finish();
        print(json!({"ok": false, "error": error.to_string()}));
        return Ok(ExitCode::from(1));
    }
    let round = replicator.sync_once().await;
    progress.finish();
    match round {
        Ok(outcome) => {
            let seq = replicator.store().cursor().map_err(|e| e.to_string())?.seq;
            print(json!({"ok": true, "outcome": format!("{outcome:?}"), "applied_seq": seq}));
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            print(json!({"ok": false, "fatal": e.is_fatal(), "error": e.to_string()}));
            Ok(ExitCode::from(1))
        }
    }
}

/// Brings central's replica up to the latest checkpoint, with the terminals' permit check.
async fn sync_replica(link: &CentralLink, data: &Path, roots: RootSet) -> Result<(), String> {
    let replicator = Replicator::connect(link, open(data)?, roots, Arc::new(Bp1Verification))
        .await
        .map_err(|e| e.to_string())?
        .with_snapshot_dir(data);
    replicator
        .sync_once()
        .await
        .map(drop)
        .map_err(|e| format!("bringing the replica at {} up to date: {e}", data.display()))
}

fn open(data: &Path) -> Result<SledLedger, String> {
    SledLedger::open(data, CACHE_CAPACITY_DEFAULT)
        .map_err(|e| format!("opening {}: {e}", data.display()))
}

/// A replica opened for reading, or the socket of the running daemon that holds it.
enum Replica {
    Opened(SledLedger),
    Held { socket: PathBuf },
}

/// Opens a replica that exists for reading (`status`, `verify`, `lookup`): a directory that holds
/// none is refused rather than made into a new empty one; a replica whose lock a running daemon
/// holds gives the API socket that daemon advertised in the replica's directory.
fn open_replica(data: &Path) -> Result<Replica, String> {
    // sled keeps its configuration in `conf` beside its log: a replica has one.
    if !data.join("conf").is_file() {
        return Err(format!(
            "{} holds no ledger replica (a terminal's is <data_dir>/ledger); nothing was created",
            data.display()
        ));
    }
    match SledLedger::open(data, CACHE_CAPACITY_DEFAULT) {
        Ok(store) => Ok(Replica::Opened(store)),
        Err(e) if e.to_string().contains("could not acquire lock") => {
            match crate::adapters::api::ledger::advertised(data) {
                Some(socket) => Ok(Replica::Held { socket }),
                None => Err(format!(
                    "{} is held by another process that advertised no API socket in it \
                     (a checkpointd older than this tool, or another `checkpointctl`): \
                     read its replica's state from the daemon (GET /api/v1/status, `ledger`) \
                     or stop that process",
                    data.display()
                )),
            }
        }
        Err(e) => Err(format!("opening {}: {e}", data.display())),
    }
}

/// [`open_replica`] for tools that need the replica itself (`feed --ledger`): a replica a
/// running daemon holds is refused with a pointer to the daemon.
pub(crate) fn open_existing(data: &Path) -> Result<SledLedger, String> {
    match open_replica(data)? {
        Replica::Opened(store) => Ok(store),
        Replica::Held { socket } => Err(format!(
            "{} is held by a running checkpointd: ask the daemon (socket {}, \
             `checkpointctl ledger status|lookup --data {}`) or stop it first",
            data.display(),
            socket.display(),
            data.display()
        )),
    }
}

/// Says on standard error that the answer comes from the daemon, not from the files.
fn answered_by_daemon(data: &Path, socket: &Path) {
    eprintln!(
        "checkpointctl ledger: {} is held by a running checkpointd; answered by it (socket {})",
        data.display(),
        socket.display()
    );
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

/// `ledger lookup`: from the replica, or from the daemon that holds it.
async fn lookup(
    data: &Path,
    document: Option<&str>,
    cti: Option<&str>,
    day: jiff::civil::Date,
) -> Result<ExitCode, String> {
    let replica = open_replica(data)?;
    let key = match LookupKey::parse(document, cti) {
        Ok(key) => key,
        // A value that does not parse is a usage error, like clap's own (exit 2).
        Err(message) => {
            eprintln!("checkpointctl ledger lookup: {message}");
            return Ok(crate::exit::Exit::Usage.into());
        }
    };
    let value = match replica {
        Replica::Opened(store) => report::lookup(&store, &key, day).map_err(|e| e.to_string())?,
        Replica::Held { socket } => {
            answered_by_daemon(data, &socket);
            daemon::lookup(data, &socket, document, cti, day).await?
        }
    };
    print(value);
    Ok(ExitCode::SUCCESS)
}

const ROOTS_FILE: &str = "roots.pub";

fn load_roots(args: &RootArgs) -> Result<RootSet, String> {
    let mut keys = Vec::new();
    for line in root_lines(args)? {
        let raw = hex::decode(&line).map_err(|e| format!("root key {line:?}: {e}"))?;
        let bytes: [u8; 32] = raw
            .as_slice()
            .try_into()
            .map_err(|_| format!("root key {line:?} is not 32 bytes"))?;
        keys.push(RootKey::from_bytes(&bytes).map_err(|e| e.to_string())?);
    }
    RootSet::new(keys, args.threshold).map_err(|e| e.to_string())
}

/// The root keys' lines of `--roots` (hex; blank lines and `#` comments left out).
fn root_lines(args: &RootArgs) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(&args.roots)
        .map_err(|e| format!("reading {}: {e}", args.roots.display()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect())
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

/// Where `init` writes: central's public directory and the root secrets' own.
struct InitDirs<'a> {
    central: &'a Path,
    roots: &'a Path,
}

/// Creates what is missing, in order, and keeps what exists: a rerun after a failure at any
/// step finishes the job without overwriting a key.
async fn init(
    dirs: InitDirs<'_>,
    link: &CentralLink,
    n_roots: usize,
    replicas: usize,
    now: Timestamp,
) -> Result<ExitCode, String> {
    if n_roots == 0 {
        return Err("--roots must be at least 1".into());
    }
    let roots = init_roots(dirs.roots, n_roots)?;
    std::fs::create_dir_all(dirs.central)
        .map_err(|e| format!("creating {}: {e}", dirs.central.display()))?;
    let public: String = roots
        .iter()
        .map(|k| hex::encode(k.verifying_key().to_bytes()) + "\n")
        .collect();
    let roots_file = dirs.central.join(ROOTS_FILE);
    match std::fs::read_to_string(&roots_file) {
        Ok(existing) if existing == public => {}
        Ok(_) => {
            return Err(format!(
                "{} names other root keys than {} holds; nothing overwritten",
                roots_file.display(),
                dirs.roots.display()
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::write(&roots_file, &public)
            .map_err(|e| format!("writing {}: {e}", roots_file.display()))?,
        Err(e) => return Err(format!("reading {}: {e}", roots_file.display())),
    }
    let issuer = existing_or_new_key(&dirs.central.join("issuer-1.key"))?;
    let change = issuer_change(&issuer, now)?;
    let central = Central::connect(link).await.map_err(|e| e.to_string())?;
    central
        .provision(replicas)
        .await
        .map_err(|e| e.to_string())?;
    let (mut seq, _) = central.head().await.map_err(|e| e.to_string())?;
    if seq == 0 {
        (seq, _) = central
            .append(vec![change], now)
            .await
            .map_err(|e| e.to_string())?;
    } else if !first_entry_adds(&central, &issuer).await? {
        return Err(format!(
            "central's ledger already holds {seq} entries and its first does not add {}:              it was not made by this init; nothing published",
            dirs.central.join("issuer-1.key").display()
        ));
    }
    let source = crate::adapters::ledger::JetStreamSource::connect(link)
        .await
        .map_err(|e| e.to_string())?;
    let checkpoint_size = match crate::adapters::ledger::LedgerSource::latest_checkpoint(&source)
        .await
        .map_err(|e| e.to_string())?
    {
        Some(raw) => {
            SignedCheckpoint::decode(&raw)
                .and_then(|s| s.unverified())
                .map_err(|e| format!("the published checkpoint: {e}"))?
                .size
        }
        None => {
            central
                .checkpoint(&roots, now)
                .await
                .map_err(|e| e.to_string())?
                .size
        }
    };
    print(json!({
        "roots": roots_file,
        "roots_dir": dirs.roots,
        "issuer_kid": hex::encode(issuer_kid(&issuer.verifying_key().to_bytes())),
        "head_seq": seq,
        "checkpoint_size": checkpoint_size,
    }));
    Ok(ExitCode::SUCCESS)
}

/// The root secrets `root-1.key`..`root-N.key` in their own owner-only directory, each read if it
/// exists and created if not.
fn init_roots(dir: &Path, n_roots: usize) -> Result<Vec<SigningKey>, String> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("creating {}: {e}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| format!("making {} owner-only: {e}", dir.display()))?;
    (1..=n_roots)
        .map(|i| existing_or_new_key(&dir.join(format!("root-{i}.key"))))
        .collect()
}

/// The secret key at `path`, created (owner-only) when there is none.
pub(crate) fn existing_or_new_key(path: &Path) -> Result<SigningKey, String> {
    if path.exists() {
        return crate::cli::ledger_central::read_owner_only_key(path);
    }
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    write_secret(path, &key)?;
    Ok(key)
}

/// The entry publishing central's first issuer key, valid for signing a year from `now`.
fn issuer_change(issuer: &SigningKey, now: Timestamp) -> Result<Change, String> {
    let public_key = issuer.verifying_key().to_bytes();
    let year = jiff::SignedDuration::from_hours(24 * 365);
    // CWT times are whole seconds: a card signed in this very second must fall inside.
    let sign_from = Timestamp::from_second(now.as_second()).map_err(|e| e.to_string())?;
    Ok(Change::IssuerKeyAdded(IssuerKeyAdded {
        kid: issuer_kid(&public_key),
        public_key,
        sign_from,
        sign_until: now.checked_add(year).map_err(|e| e.to_string())?,
        verify_until: now.checked_add(year * 2).map_err(|e| e.to_string())?,
        permit_types: PermitType::ALL.to_vec(),
    }))
}

/// Whether the ledger's first entry adds this issuer key (an earlier run of `init` wrote it).
async fn first_entry_adds(central: &Central, issuer: &SigningKey) -> Result<bool, String> {
    let Some(bytes) = central.entry_at(1).await.map_err(|e| e.to_string())? else {
        return Ok(false);
    };
    let entry = crate::core::ledger::Entry::decode(&bytes).map_err(|e| e.to_string())?;
    Ok(matches!(&entry.change, Change::IssuerKeyAdded(k)
        if k.public_key == issuer.verifying_key().to_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::document::HolderDigest;

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
        let dir = tempfile::tempdir().expect("temp dir");
        let replica =
            SledLedger::open(&dir.path().join("replica"), CACHE_CAPACITY_DEFAULT).expect("open");
        let check = |changes: &[Change]| {
            let mut state = crate::adapters::ledger::pending::PendingState::over(&replica);
            super::super::ledger_central::check_changes(
                &mut state,
                0,
                changes,
                Timestamp::UNIX_EPOCH,
            )
        };
        check(&changes).expect("raise then lift");
        let twice = [changes[0].clone(), changes[0].clone()];
        let refused = check(&twice).expect_err("raised twice");
        assert!(
            refused.contains("change 2") && refused.contains("already raised"),
            "{refused}"
        );
        let lifted_twice = [changes[0].clone(), changes[1].clone(), changes[1].clone()];
        let refused = check(&lifted_twice).expect_err("lifted twice");
        assert!(refused.contains("already lifted"), "{refused}");
        let refused = check(&changes[1..]).expect_err("unknown");
        assert!(refused.contains("unknown"), "{refused}");
        let bad = entries(&line.replace("1985-03-12", "1985-13-12")).expect("parses");
        let refused = check(&bad).expect_err("bad date");
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
