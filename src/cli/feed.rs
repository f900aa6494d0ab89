//! `checkpointctl feed`: tail, export and audit the `EVENTS` stream as central does, and the
//! movement snapshot central publishes. (The crash tests' recorder and relay processes are the
//! test binaries' own, `tests/common/feed_helper.rs`: test helpers do not ship here.)

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ed25519_dalek::VerifyingKey;
use futures::StreamExt;

use crate::adapters::feed::STREAM_NAME;
use crate::central::ingest::ReplicaTerminalKeys;
use crate::cli::link::LinkArgs;
use crate::cli::progress::Progress;
use crate::core::event::{
    Crossing, CrossingEvent, CrossingKind, FeedAudit, Grounds, Operator, TerminalId, TerminalKeys,
    Traveller, Verdict, Verification, verify,
};
use crate::core::privacy::DocumentNumber;
use crate::exit::Exit;

mod snapshot;

/// Arguments of `checkpointctl feed`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Args)]
#[group(id = "terminal_keys", required = true, args = ["keys", "ledger"])]
struct Source {
    #[command(flatten)]
    central: LinkArgs,
    /// Terminal keys: one `<terminal-id> <hex Ed25519 public key>` per line.
    #[arg(long, conflicts_with = "ledger")]
    keys: Option<PathBuf>,
    /// Central's ledger replica: each terminal's current key as the ledger holds it.
    #[arg(long)]
    ledger: Option<PathBuf>,
    /// Stream name.
    #[arg(long, default_value = STREAM_NAME)]
    stream: String,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Verify and print events (masked) as they arrive; `--follow` keeps waiting for new ones.
    Tail {
        #[command(flatten)]
        source: Source,
        /// Keep running after the current end of the stream.
        #[arg(long)]
        follow: bool,
    },
    /// Print verified, deduplicated events recorded at or after `--since` as JSON lines.
    Export {
        #[command(flatten)]
        source: Source,
        /// RFC 3339 instant (`2026-11-01T00:00:00Z`) or date (`2026-11-01`, UTC midnight); anything
        /// else is a usage error (exit 2).
        #[arg(long, value_parser = parse_since)]
        since: jiff::Timestamp,
    },
    /// Reference central consumer: read the whole stream, dedupe on (terminal, seq), verify
    /// chains and signatures, print the report as JSON; exit 1 if anything is missing or wrong.
    Audit {
        #[command(flatten)]
        source: Source,
    },
    /// Central: bring the movement index in DATA to the end of the stream, then publish a
    /// snapshot of it signed with KEY as the latest in `<stream>_SNAPSHOTS`, from which new
    /// terminals load their movement history; prints what was published as JSON.
    Snapshot {
        #[command(flatten)]
        source: Source,
        /// Central's snapshot index (kept between runs: the next run reads only what is new).
        #[arg(long)]
        data: PathBuf,
        /// The snapshot secret key (hex, owner-only), created when missing; its public half is
        /// written beside it (`.pub`) for the terminals' `[keys] movement_snapshot_key`.
        #[arg(long)]
        key: PathBuf,
        /// Replicas of the snapshot bucket when it is created (3 on a three-node cluster).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=5))]
        replicas: u8,
    },
}

/// Runs the subcommand.
pub fn run(args: Args) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("feed: cannot start runtime: {error}");
            return ExitCode::from(1);
        }
    };
    let result = match args.command {
        Command::Tail { source, follow } => runtime.block_on(tail(source, follow)),
        Command::Export { source, since } => runtime.block_on(export(source, since)),
        Command::Audit { source } => runtime.block_on(audit(source)),
        Command::Snapshot {
            source,
            data,
            key,
            replicas,
        } => runtime.block_on(snapshot::snapshot(source, &data, &key, replicas)),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("feed: {message}");
            ExitCode::from(1)
        }
    }
}

impl Source {
    /// A connection to central through the link the arguments give (TLS, credentials).
    async fn connect(&self) -> Result<async_nats::Client, String> {
        crate::adapters::nats::connect_link(&self.central.link()?)
            .await
            .map_err(|e| e.to_string())
    }
}

/// The terminal keys events are verified with: the keys file, or the ledger replica's current
/// (not retired) key of each terminal, as `checkpoint-central` verifies.
fn terminal_keys(source: &Source) -> Result<Box<dyn TerminalKeys>, String> {
    match (&source.keys, &source.ledger) {
        (Some(file), _) => Ok(Box::new(read_keys(file)?)),
        (None, Some(replica)) => Ok(Box::new(ReplicaTerminalKeys(
            crate::cli::ledger::open_existing(replica)?,
        ))),
        (None, None) => Err("give --keys FILE or --ledger REPLICA".into()),
    }
}

/// Parses a keys file: `<terminal-id> <hex public key>` per line, `#` comments.
pub fn read_keys(path: &Path) -> Result<HashMap<TerminalId, VerifyingKey>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut keys = HashMap::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let where_ = format!("{}:{}", path.display(), number + 1);
        let (id, key) = line
            .split_once(char::is_whitespace)
            .ok_or_else(|| format!("{where_}: want `<terminal-id> <hex public key>`"))?;
        let terminal = TerminalId::new(id).map_err(|e| format!("{where_}: {e}"))?;
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(key.trim(), &mut bytes)
            .map_err(|e| format!("{where_}: public key: {e}"))?;
        let key =
            VerifyingKey::from_bytes(&bytes).map_err(|e| format!("{where_}: public key: {e}"))?;
        if key.is_weak() {
            return Err(format!("{where_}: weak (small-order) public key refused"));
        }
        keys.insert(terminal, key);
    }
    Ok(keys)
}

/// Reads every message of the stream up to its current end (or forever with `follow`),
/// calling `each` with the stream sequence and payload.
async fn read_stream(
    source: &Source,
    follow: bool,
    progress: &Progress,
    mut each: impl FnMut(u64, &[u8]) -> Result<(), String>,
) -> Result<(), String> {
    use async_nats::jetstream::consumer::pull::OrderedConfig;
    let js = async_nats::jetstream::new(source.connect().await?);
    let mut stream = js
        .get_stream(&source.stream)
        .await
        .map_err(|e| format!("stream {}: {e}", source.stream))?;
    let last = stream
        .info()
        .await
        .map_err(|e| format!("stream info: {e}"))?
        .state
        .last_sequence;
    if last == 0 && !follow {
        return Ok(());
    }
    progress.set_total(last);
    let consumer = stream
        .create_consumer(OrderedConfig::default())
        .await
        .map_err(|e| format!("consumer: {e}"))?;
    let mut messages = consumer
        .messages()
        .await
        .map_err(|e| format!("consume: {e}"))?;
    while let Some(message) = messages.next().await {
        let message = message.map_err(|e| format!("consume: {e}"))?;
        let seq = message
            .info()
            .map_err(|e| format!("message info: {e}"))?
            .stream_sequence;
        each(seq, &message.payload)?;
        progress.set_position(seq);
        if !follow && seq >= last {
            break;
        }
    }
    Ok(())
}

async fn tail(source: Source, follow: bool) -> Result<ExitCode, String> {
    let keys = terminal_keys(&source)?;
    let keys = keys.as_ref();
    let mut out = std::io::stdout().lock();
    let (mut valid, mut rejected) = (0u64, 0u64);
    read_stream(
        &source,
        follow,
        &Progress::hidden(),
        |stream_seq, payload| {
            let line = match verify(payload, keys) {
                Verification::Valid(event, hash) => {
                    valid += 1;
                    let c = &event.crossing;
                    format!(
                        "{stream_seq} {}:{} {} {:?} {}/{} {} {} {} {:?} {}",
                        event.terminal,
                        event.seq,
                        event.wall_time,
                        c.direction,
                        c.checkpoint,
                        c.lane,
                        c.traveller.document_type,
                        c.traveller.issuing_state,
                        c.traveller.document_number,
                        c.verdict,
                        &hash.to_string()[..16],
                    )
                }
                Verification::Rejected(rejection) => {
                    rejected += 1;
                    format!("{stream_seq} REJECTED {rejection}")
                }
            };
            writeln!(out, "{line}").map_err(|e| format!("stdout: {e}"))
        },
    )
    .await?;
    if rejected > 0 && valid == 0 {
        // Nothing verified: wrong keys, or a stream of forgeries. Not a success.
        eprintln!("feed: every one of the {rejected} events was rejected");
        return Ok(ExitCode::from(Exit::Failure.code()));
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_since(text: &str) -> Result<jiff::Timestamp, String> {
    if let Ok(ts) = text.parse::<jiff::Timestamp>() {
        return Ok(ts);
    }
    let date: jiff::civil::Date = text
        .parse()
        .map_err(|e| format!("--since {text:?}: want an RFC 3339 instant or a date: {e}"))?;
    date.to_zoned(jiff::tz::TimeZone::UTC)
        .map(|zoned| zoned.timestamp())
        .map_err(|e| format!("--since {text:?}: {e}"))
}

/// One line of `feed export`.
#[derive(serde::Serialize)]
struct ExportLine<'a> {
    stream_seq: u64,
    terminal: &'a TerminalId,
    seq: u64,
    event_hash: String,
    event: &'a CrossingEvent,
}

async fn export(source: Source, since: jiff::Timestamp) -> Result<ExitCode, String> {
    let keys = terminal_keys(&source)?;
    let keys = keys.as_ref();
    let mut audit = FeedAudit::new();
    let mut out = std::io::stdout().lock();
    let progress = Progress::new("exporting", "messages", 0, false);
    read_stream(&source, false, &progress, |stream_seq, payload| {
        match verify(payload, keys) {
            Verification::Valid(event, hash) => {
                let new = audit.admit(&event, hash) == crate::core::event::Admission::New;
                if new && event.wall_time >= since {
                    let line = ExportLine {
                        stream_seq,
                        terminal: &event.terminal,
                        seq: event.seq,
                        event_hash: hash.to_string(),
                        event: &event,
                    };
                    let json = serde_json::to_string(&line).map_err(|e| format!("json: {e}"))?;
                    writeln!(out, "{json}").map_err(|e| format!("stdout: {e}"))?;
                }
            }
            Verification::Rejected(rejection) => {
                audit.reject();
                eprintln!("stream seq {stream_seq}: rejected: {rejection}");
            }
        }
        Ok(())
    })
    .await?;
    progress.finish();
    Ok(ExitCode::SUCCESS)
}

async fn audit(source: Source) -> Result<ExitCode, String> {
    let keys = terminal_keys(&source)?;
    let keys = keys.as_ref();
    let mut audit = FeedAudit::new();
    let progress = Progress::new("auditing", "messages", 0, false);
    read_stream(&source, false, &progress, |stream_seq, payload| {
        match verify(payload, keys) {
            Verification::Valid(event, hash) => {
                audit.admit(&event, hash);
            }
            Verification::Rejected(rejection) => {
                audit.reject();
                eprintln!("stream seq {stream_seq}: rejected: {rejection}");
            }
        }
        Ok(())
    })
    .await?;
    progress.finish();
    let report = audit.report();
    let json = serde_json::to_string(&report).map_err(|e| format!("json: {e}"))?;
    println!("{json}");
    Ok(if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// A synthetic crossing for tests and benchmarks; `n` varies the document.
pub fn synthetic_crossing(n: u64, checkpoint: &str) -> Crossing {
    Crossing {
        checkpoint: checkpoint.into(),
        lane: format!("{}", n % 8),
        direction: if n.is_multiple_of(2) {
            CrossingKind::Entry
        } else {
            CrossingKind::Exit
        },
        traveller: Traveller {
            document_type: "P".into(),
            issuing_state: "UTO".into(),
            nationality: "UTO".into(),
            birth_date: "740812".into(),
            sex: "F".into(),
            document_number: DocumentNumber::new(format!("X{:08}", n / 2)),
        },
        grounds: Grounds::default(),
        verdict: Verdict::Admit,
        reason_codes: vec!["VISA_FREE".into()],
        operator: Operator::Kiosk("K1".into()),
        ledger_age_s: Some(30),
        stay: None,
        clock_sync_age_s: Some(1),
        officer_override: None,
        referral: None,
        second_line: None,
        alert_acknowledged: None,
        watchlist: None,
        chip: None,
    }
}
