//! Movement-history snapshots: central writes every document's movement list as of an `EVENTS`
//! sequence, signed with its snapshot key, into the `<stream>_SNAPSHOTS` object store; a new
//! terminal verifies the latest one, loads it, and reads the stream only past that sequence.
//!
//! File: a tagged COSE_Sign1 (Ed25519, content type [`CONTENT_TYPE`], payload the CBOR
//! [`SnapshotHeader`]), then the body: a CBOR sequence of `[holder digest (bstr 32), movement
//! list (bstr)]`, one per document, whose length and SHA-256 the header states. Every movement
//! names its event (terminal, seq), which stays individually verifiable in `EVENTS` and at central.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use coset::{CborSerializable, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable, iana};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::movement_list;
use super::{FeedError, MovementIndex};
use crate::core::event::key_id;

/// The only format this version writes and reads.
pub const SNAPSHOT_FORMAT: u32 = 1;
/// The COSE content type naming what the key signed (the key signs nothing else).
pub const CONTENT_TYPE: &str = "application/vnd.checkpointd.movement-snapshot+cbor";
/// Object holding the latest snapshot in the bucket.
pub const SNAPSHOT_OBJECT: &str = "latest";
/// Largest snapshot read (10,000,000 movements take about 650 MB).
pub const SNAPSHOT_BYTES_MAX: u64 = 8 << 30;
/// Largest signed head (the COSE_Sign1 with the header).
const HEAD_BYTES_MAX: u64 = 64 << 10;
/// Largest list of one document (a list this long is hundreds of crossings a day for a year).
const LIST_BYTES_MAX: usize = 4 << 20;
/// Lists handed to the index at a time while loading.
const LOAD_CHUNK_LISTS: usize = 4_096;
/// Bytes read or written at a time.
const BUFFER_BYTES: usize = 1 << 20;

/// The bucket of `stream`'s snapshots.
pub fn snapshot_bucket(stream: &str) -> String {
    format!("{stream}_SNAPSHOTS")
}

/// What a snapshot says about itself; signed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotHeader {
    /// [`SNAPSHOT_FORMAT`].
    pub format: u32,
    /// The stream the lists were built from (`EVENTS`).
    pub stream: String,
    /// The lists hold every verified event of the stream up to this sequence: a terminal reads
    /// from the next one.
    pub stream_seq: u64,
    /// When central took it (RFC 3339).
    pub taken_at: String,
    /// Lists in the body.
    pub documents: u64,
    /// Movements in the lists.
    pub movements: u64,
    /// Bytes of the body.
    pub body_bytes: u64,
    /// SHA-256 of the body, hex.
    pub body_sha256: String,
}

/// Why a snapshot was not written or not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The signed head is not a well-formed COSE_Sign1 with a header.
    #[error("movement snapshot head: {0}")]
    Head(String),
    /// The signature does not verify with the pinned snapshot key.
    #[error("movement snapshot signature: {0}")]
    Signature(String),
    /// The body is not what the signed header states.
    #[error("movement snapshot body: {0}")]
    Body(String),
    /// The snapshot is of another stream or format.
    #[error("movement snapshot does not apply: {0}")]
    Mismatch(String),
    /// Reading or writing a file failed.
    #[error("movement snapshot file {path}: {why}")]
    File {
        /// Which file.
        path: String,
        /// What went wrong.
        why: String,
    },
    /// Talking to NATS failed.
    #[error("movement snapshot {op}: {why}")]
    Nats {
        /// What was being done.
        op: &'static str,
        /// The client's error.
        why: String,
    },
    /// The index refused the lists or could not store them.
    #[error("movement snapshot load: {0}")]
    Index(#[from] FeedError),
}

fn file_error(path: &Path, why: impl std::fmt::Display) -> SnapshotError {
    SnapshotError::File {
        path: path.display().to_string(),
        why: why.to_string(),
    }
}

fn nats(op: &'static str, why: impl std::fmt::Display) -> SnapshotError {
    SnapshotError::Nats {
        op,
        why: why.to_string(),
    }
}

/// Counts and hashes what passes through.
struct Tally<W> {
    inner: W,
    bytes: u64,
    sha: Sha256,
}

impl<W: Write> Write for Tally<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        self.sha.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Counts what is read.
struct Counted<R> {
    inner: R,
    bytes: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Writes the snapshot of `index` as of `stream_seq` (every list it holds) to `out`, signed
/// with `key`. The body goes to `<out>.body` first (its digest is in the signed head, which
/// precedes it). Nothing may write to the index meanwhile. Blocking.
pub fn write_snapshot(
    index: &MovementIndex,
    stream: &str,
    stream_seq: u64,
    taken_at: jiff::Timestamp,
    key: &SigningKey,
    out: &Path,
) -> Result<SnapshotHeader, SnapshotError> {
    let body_path = out.with_extension("body");
    let body = File::create(&body_path).map_err(|e| file_error(&body_path, e))?;
    let mut tally = Tally {
        inner: BufWriter::with_capacity(BUFFER_BYTES, body),
        bytes: 0,
        sha: Sha256::new(),
    };
    let (mut documents, mut movements) = (0u64, 0u64);
    index.for_each_list(|holder, list| {
        let record = ciborium::Value::Array(vec![
            ciborium::Value::Bytes(holder.to_vec()),
            ciborium::Value::Bytes(list.to_vec()),
        ]);
        ciborium::into_writer(&record, &mut tally)
            .map_err(|e| FeedError::Files(format!("writing {}: {e}", body_path.display())))?;
        documents += 1;
        movements += movement_list::check(list)
            .map_err(|e| FeedError::Files(format!("list of {}: {e}", hex::encode(holder))))?
            as u64;
        Ok(())
    })?;
    tally.flush().map_err(|e| file_error(&body_path, e))?;
    let header = SnapshotHeader {
        format: SNAPSHOT_FORMAT,
        stream: stream.to_owned(),
        stream_seq,
        taken_at: taken_at.to_string(),
        documents,
        movements,
        body_bytes: tally.bytes,
        body_sha256: hex::encode(tally.sha.finalize()),
    };
    drop(tally.inner);
    let head = sign_head(&header, key)?;
    let mut file = BufWriter::new(File::create(out).map_err(|e| file_error(out, e))?);
    file.write_all(&head).map_err(|e| file_error(out, e))?;
    let mut body = File::open(&body_path).map_err(|e| file_error(&body_path, e))?;
    std::io::copy(&mut body, &mut file).map_err(|e| file_error(out, e))?;
    file.into_inner()
        .map_err(|e| file_error(out, e.error()))?
        .sync_all()
        .map_err(|e| file_error(out, e))?;
    std::fs::remove_file(&body_path).map_err(|e| file_error(&body_path, e))?;
    Ok(header)
}

fn sign_head(header: &SnapshotHeader, key: &SigningKey) -> Result<Vec<u8>, SnapshotError> {
    let mut payload = Vec::new();
    ciborium::into_writer(header, &mut payload).map_err(|e| SnapshotError::Head(e.to_string()))?;
    let protected = HeaderBuilder::new()
        .algorithm(iana::Algorithm::Ed25519)
        .key_id(key_id(&key.verifying_key()).to_vec())
        .content_type(CONTENT_TYPE.to_owned())
        .build();
    CoseSign1Builder::new()
        .protected(protected)
        .payload(payload)
        .create_signature(&[], |tbs| key.sign(tbs).to_bytes().to_vec())
        .build()
        .to_tagged_vec()
        .map_err(|e| SnapshotError::Head(e.to_string()))
}

/// A snapshot whose signature and body were checked: what its header says and where the body
/// starts in the file.
#[derive(Clone, Debug)]
pub struct VerifiedSnapshot {
    /// The signed header.
    pub header: SnapshotHeader,
    body_offset: u64,
}

/// Checks the snapshot in `path`: the head is signed by `key` over this format and `stream`, and
/// the body has the signed length and SHA-256. Nothing of it is used before that. Blocking.
pub fn verify_snapshot(
    path: &Path,
    key: &VerifyingKey,
    stream: &str,
) -> Result<VerifiedSnapshot, SnapshotError> {
    let file = File::open(path).map_err(|e| file_error(path, e))?;
    let mut reader = Counted {
        inner: BufReader::with_capacity(BUFFER_BYTES, file).take(HEAD_BYTES_MAX),
        bytes: 0,
    };
    // One CBOR item: ciborium reads exactly its bytes, so the count is where the body starts.
    let _: ciborium::Value = ciborium::from_reader(&mut reader).map_err(|e| {
        SnapshotError::Head(format!(
            "not a CBOR item within its first {HEAD_BYTES_MAX} bytes: {e}"
        ))
    })?;
    let body_offset = reader.bytes;
    let mut head = vec![0u8; body_offset as usize];
    let mut file = File::open(path).map_err(|e| file_error(path, e))?;
    file.read_exact(&mut head)
        .map_err(|e| file_error(path, e))?;
    let header = verified_header(&head, key)?;
    if header.format != SNAPSHOT_FORMAT {
        return Err(SnapshotError::Mismatch(format!(
            "format {}, this version reads {SNAPSHOT_FORMAT}",
            header.format
        )));
    }
    if header.stream != stream {
        return Err(SnapshotError::Mismatch(format!(
            "taken of stream `{}`, this terminal reads `{stream}`",
            header.stream
        )));
    }
    let mut sha = Sha256::new();
    let mut body = BufReader::with_capacity(BUFFER_BYTES, file);
    let body_bytes =
        std::io::copy(&mut body, &mut HashWriter(&mut sha)).map_err(|e| file_error(path, e))?;
    if body_bytes != header.body_bytes {
        return Err(SnapshotError::Body(format!(
            "{body_bytes} bytes, the signed header says {}",
            header.body_bytes
        )));
    }
    if hex::encode(sha.finalize()) != header.body_sha256 {
        return Err(SnapshotError::Body(
            "SHA-256 differs from the signed header's: the snapshot was altered".into(),
        ));
    }
    Ok(VerifiedSnapshot {
        header,
        body_offset,
    })
}

struct HashWriter<'a>(&'a mut Sha256);

impl Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The header of a signed head, once its signature verified with `key`.
pub fn verified_header(head: &[u8], key: &VerifyingKey) -> Result<SnapshotHeader, SnapshotError> {
    let sign1 = coset::CoseSign1::from_tagged_slice(head)
        .or_else(|_| coset::CoseSign1::from_slice(head))
        .map_err(|e| SnapshotError::Head(format!("not a COSE_Sign1: {e}")))?;
    let protected = &sign1.protected.header;
    if protected.alg != Some(coset::Algorithm::Assigned(iana::Algorithm::Ed25519)) {
        return Err(SnapshotError::Signature(
            "not an Ed25519 signature (protected alg)".into(),
        ));
    }
    if protected.content_type != Some(coset::ContentType::Text(CONTENT_TYPE.into())) {
        return Err(SnapshotError::Head(format!(
            "content type is not {CONTENT_TYPE}"
        )));
    }
    if protected.key_id != key_id(key) {
        return Err(SnapshotError::Signature(format!(
            "signed by key id {}, the pinned snapshot key is {}",
            hex::encode(&protected.key_id),
            hex::encode(key_id(key))
        )));
    }
    sign1
        .verify_signature(&[], |signature, tbs| {
            let signature = Signature::from_slice(signature).map_err(|_| "malformed")?;
            key.verify_strict(tbs, &signature)
                .map_err(|_| "does not verify")
        })
        .map_err(|why| {
            SnapshotError::Signature(format!(
                "{why} with the pinned snapshot key: the head was altered or signed by another key"
            ))
        })?;
    let payload = sign1
        .payload
        .as_deref()
        .ok_or_else(|| SnapshotError::Head("no payload".into()))?;
    ciborium::from_reader(payload).map_err(|e| SnapshotError::Head(format!("header: {e}")))
}

/// One document's list in a snapshot: its holder digest and the list bytes.
pub type DocumentList = ([u8; 32], Vec<u8>);

/// Reads the body's lists one at a time.
pub struct BodyReader<R: Read> {
    reader: Counted<R>,
    left: u64,
}

impl<R: Read> BodyReader<R> {
    /// Reads `documents` lists from `reader`.
    pub fn new(reader: R, documents: u64) -> Self {
        Self {
            reader: Counted {
                inner: reader,
                bytes: 0,
            },
            left: documents,
        }
    }

    /// The next list, `None` after the last; an error names the byte of the body where the
    /// record starts.
    pub fn next_list(&mut self) -> Result<Option<DocumentList>, SnapshotError> {
        if self.left == 0 {
            let mut extra = [0u8; 1];
            return match self.reader.read(&mut extra) {
                Ok(0) => Ok(None),
                Ok(_) => Err(SnapshotError::Body(format!(
                    "bytes after the last list at byte {}",
                    self.reader.bytes - 1
                ))),
                Err(e) => Err(SnapshotError::Body(format!("read: {e}"))),
            };
        }
        let at = self.reader.bytes;
        let bad = |why: String| SnapshotError::Body(format!("record at byte {at}: {why}"));
        let value: ciborium::Value =
            ciborium::from_reader(&mut self.reader).map_err(|e| bad(format!("not CBOR: {e}")))?;
        let ciborium::Value::Array(parts) = value else {
            return Err(bad("not an array".into()));
        };
        let [ciborium::Value::Bytes(holder), ciborium::Value::Bytes(list)] = parts.as_slice()
        else {
            return Err(bad("not [holder bytes, list bytes]".into()));
        };
        let holder: [u8; 32] = holder
            .as_slice()
            .try_into()
            .map_err(|_| bad(format!("holder digest of {} bytes, want 32", holder.len())))?;
        if list.len() > LIST_BYTES_MAX {
            return Err(bad(format!("list of {} bytes", list.len())));
        }
        movement_list::check(list).map_err(|e| bad(e.to_string()))?;
        self.left -= 1;
        Ok(Some((holder, list.clone())))
    }
}

/// Loads a verified snapshot into `index`: its lists merged with any the index holds, then the
/// cursor moved to the snapshot's sequence and the index checkpointed. Returns the movements
/// loaded. Blocking.
pub fn load_snapshot(
    index: &MovementIndex,
    path: &Path,
    snapshot: &VerifiedSnapshot,
) -> Result<u64, SnapshotError> {
    use std::io::Seek;
    let mut file = File::open(path).map_err(|e| file_error(path, e))?;
    file.seek(std::io::SeekFrom::Start(snapshot.body_offset))
        .map_err(|e| file_error(path, e))?;
    let mut body = BodyReader::new(
        BufReader::with_capacity(BUFFER_BYTES, file),
        snapshot.header.documents,
    );
    let mut chunk = Vec::with_capacity(LOAD_CHUNK_LISTS);
    let mut movements = 0;
    while let Some(list) = body.next_list()? {
        chunk.push(list);
        if chunk.len() == LOAD_CHUNK_LISTS {
            movements += index.put_lists(&chunk, 0)?;
            chunk.clear();
        }
    }
    movements += index.put_lists(&chunk, 0)?;
    if movements != snapshot.header.movements {
        return Err(SnapshotError::Body(format!(
            "{movements} movements, the signed header says {}",
            snapshot.header.movements
        )));
    }
    // The cursor moves only once every list is in: a failure before leaves the index to read
    // the stream from the start (what was merged is found again there, once).
    index.put_lists(&[], snapshot.header.stream_seq)?;
    index.checkpoint()?;
    Ok(movements)
}

/// Stores the snapshot file `path` as the latest of `stream`, creating the bucket (with
/// `replicas`) when missing. Returns its size.
pub async fn publish_snapshot(
    js: &async_nats::jetstream::Context,
    stream: &str,
    replicas: usize,
    path: &Path,
) -> Result<u64, SnapshotError> {
    use async_nats::jetstream::{object_store, stream::StorageType};
    let bucket = snapshot_bucket(stream);
    let store = match js.get_object_store(&bucket).await {
        Ok(store) => store,
        Err(_) => js
            .create_object_store(object_store::Config {
                bucket: bucket.clone(),
                storage: StorageType::File,
                num_replicas: replicas,
                ..Default::default()
            })
            .await
            .map_err(|e| nats("create bucket", e))?,
    };
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| file_error(path, e))?;
    let info = store
        .put(SNAPSHOT_OBJECT, &mut file)
        .await
        .map_err(|e| nats("put", e))?;
    Ok(info.size as u64)
}

/// Downloads the latest snapshot of `stream` into `into`; `None` when none was published.
pub async fn download_snapshot(
    js: &async_nats::jetstream::Context,
    stream: &str,
    into: &Path,
) -> Result<Option<u64>, SnapshotError> {
    use async_nats::jetstream::ErrorCode;
    use async_nats::jetstream::context::GetStreamErrorKind;
    use async_nats::jetstream::object_store::GetErrorKind;
    use tokio::io::AsyncReadExt;
    let bucket = snapshot_bucket(stream);
    // No bucket is "none published"; any other failure is an error (the caller retries).
    match js.get_stream(format!("OBJ_{bucket}")).await {
        Ok(_) => {}
        Err(error)
            if matches!(error.kind(), GetStreamErrorKind::JetStream(e)
                if e.error_code() == ErrorCode::STREAM_NOT_FOUND) =>
        {
            return Ok(None);
        }
        Err(error) => return Err(nats("bucket", error)),
    }
    let store = js
        .get_object_store(&bucket)
        .await
        .map_err(|e| nats("bucket", e))?;
    let object = match store.get(SNAPSHOT_OBJECT).await {
        Ok(object) => object,
        Err(error) if error.kind() == GetErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(nats("get", error)),
    };
    let mut file = tokio::fs::File::create(into)
        .await
        .map_err(|e| file_error(into, e))?;
    let bytes = tokio::io::copy(&mut object.take(SNAPSHOT_BYTES_MAX + 1), &mut file)
        .await
        .map_err(|e| nats("download", e))?;
    if bytes > SNAPSHOT_BYTES_MAX {
        return Err(SnapshotError::Body(format!(
            "larger than {SNAPSHOT_BYTES_MAX} bytes"
        )));
    }
    Ok(Some(bytes))
}

/// What a terminal's bootstrap from central's snapshot did.
#[derive(Debug)]
pub enum Bootstrap {
    /// The index has read the stream before: it carries on from its cursor.
    NotNeeded,
    /// Central has published no snapshot: the index reads the stream from the start.
    NoSnapshot,
    /// The snapshot was verified and loaded: the index reads the stream past `stream_seq`.
    Loaded {
        /// The snapshot's stream sequence.
        stream_seq: u64,
        /// Documents loaded.
        documents: u64,
        /// Movements loaded.
        movements: u64,
    },
    /// The snapshot was refused or could not be fetched: the index reads the stream from the
    /// start.
    FellBack(SnapshotError),
}

/// Brings an index that has never read `stream` to central's latest snapshot, verified with the
/// pinned `key`; on any failure the index is left to read the stream from the start. The file is
/// downloaded into `scratch` (the terminal's disk) and removed afterwards.
pub async fn bootstrap_index(
    index: &MovementIndex,
    client: async_nats::Client,
    key: VerifyingKey,
    stream: &str,
    scratch: &Path,
) -> Bootstrap {
    match index.cursor() {
        Ok(0) => {}
        Ok(_) => return Bootstrap::NotNeeded,
        Err(error) => return Bootstrap::FellBack(error.into()),
    }
    let path = scratch.join("movement-snapshot.partial");
    let outcome = fetch_and_load(index, client, key, stream, &path).await;
    if let Err(error) = std::fs::remove_file(&path)
        && error.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(%error, path = %path.display(), "movement snapshot file not removed");
    }
    match &outcome {
        Bootstrap::Loaded {
            stream_seq,
            documents,
            movements,
        } => tracing::info!(
            stream_seq,
            documents,
            movements,
            "movement index loaded from central's snapshot"
        ),
        Bootstrap::FellBack(error) => tracing::error!(
            %error,
            "movement snapshot not used; reading the movement history from the stream"
        ),
        Bootstrap::NoSnapshot => {
            tracing::info!("no movement snapshot published; reading the stream from the start");
        }
        Bootstrap::NotNeeded => {}
    }
    outcome
}

async fn fetch_and_load(
    index: &MovementIndex,
    client: async_nats::Client,
    key: VerifyingKey,
    stream: &str,
    path: &Path,
) -> Bootstrap {
    let js = async_nats::jetstream::new(client);
    match download_snapshot(&js, stream, path).await {
        Ok(Some(_)) => {}
        Ok(None) => return Bootstrap::NoSnapshot,
        Err(error) => return Bootstrap::FellBack(error),
    }
    let (index, path, stream) = (index.clone(), path.to_path_buf(), stream.to_owned());
    let loaded = tokio::task::spawn_blocking(move || {
        let snapshot = verify_snapshot(&path, &key, &stream)?;
        let movements = load_snapshot(&index, &path, &snapshot)?;
        Ok::<_, SnapshotError>((snapshot.header, movements))
    })
    .await;
    match loaded {
        Ok(Ok((header, movements))) => Bootstrap::Loaded {
            stream_seq: header.stream_seq,
            documents: header.documents,
            movements,
        },
        Ok(Err(error)) => Bootstrap::FellBack(error),
        Err(error) => Bootstrap::FellBack(SnapshotError::File {
            path: "movement snapshot".into(),
            why: format!("loading task: {error}"),
        }),
    }
}
