//! `checkpointctl feed snapshot`: central brings its own movement index up to the end of `EVENTS`
//! and publishes a signed snapshot of it, from which new terminals load their movement history.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use ed25519_dalek::SigningKey;

use super::{Source, terminal_keys};
use crate::adapters::feed::{
    Outbox, OutboxConfig, catch_up, publish_snapshot, snapshot_bucket, write_snapshot,
};
use crate::adapters::system_clock::SystemClock;
use crate::core::event::TerminalId;
use crate::ports::clock::Clock;

/// The file the snapshot is written to in the data directory before it is published.
const SNAPSHOT_FILE: &str = "movement-snapshot.cbor";

/// Runs `feed snapshot`: catch up, write, sign, publish; prints what was published as JSON.
pub async fn snapshot(
    source: Source,
    data: &Path,
    key_path: &Path,
    replicas: u8,
) -> Result<ExitCode, String> {
    let key = crate::cli::ledger::existing_or_new_key(key_path)?;
    write_public_half(key_path, &key)?;
    let keys = terminal_keys(&source)?;
    let clock = Arc::new(SystemClock::default());
    // Central's index is a terminal's, in an outbox that never records: the same code builds
    // the lists a terminal would have built from the stream.
    let outbox = Outbox::open(
        &data.join("outbox"),
        OutboxConfig {
            terminal: TerminalId::new("CENTRAL").map_err(|e| e.to_string())?,
            time_zone: jiff::tz::TimeZone::UTC,
        },
        SigningKey::generate(&mut rand::rngs::OsRng),
        clock.clone(),
    )
    .map_err(|e| format!("opening the index in {}: {e}", data.display()))?;
    let index = outbox.movement_index();
    let client = source.connect().await?;
    catch_up(&index, client.clone(), keys.as_ref(), &source.stream)
        .await
        .map_err(|e| format!("reading {}: {e}", source.stream))?;
    let stream_seq = index.complete_through().map_err(|e| e.to_string())?;
    let out = data.join(SNAPSHOT_FILE);
    let (stream, taken_at) = (source.stream.clone(), clock.now());
    let written = {
        let (index, out) = (index.clone(), out.clone());
        tokio::task::spawn_blocking(move || {
            write_snapshot(&index, &stream, stream_seq, taken_at, &key, &out)
        })
        .await
        .map_err(|e| format!("snapshot task: {e}"))?
    };
    let header = written.map_err(|e| e.to_string())?;
    let js = async_nats::jetstream::new(client);
    let bytes = publish_snapshot(&js, &source.stream, usize::from(replicas), &out)
        .await
        .map_err(|e| e.to_string())?;
    std::fs::remove_file(&out).map_err(|e| format!("removing {}: {e}", out.display()))?;
    let report = serde_json::json!({
        "bucket": snapshot_bucket(&source.stream),
        "stream": header.stream,
        "stream_seq": header.stream_seq,
        "documents": header.documents,
        "movements": header.movements,
        "bytes": bytes,
        "body_sha256": header.body_sha256,
        "taken_at": header.taken_at,
    });
    println!("{report}");
    Ok(ExitCode::SUCCESS)
}

/// `<key>.pub`: the hex public key terminals pin as `[keys] movement_snapshot_key`.
fn write_public_half(key_path: &Path, key: &SigningKey) -> Result<(), String> {
    let path = key_path.with_extension("pub");
    std::fs::write(
        &path,
        format!("{}\n", hex::encode(key.verifying_key().as_bytes())),
    )
    .map_err(|e| format!("writing {}: {e}", path.display()))
}
