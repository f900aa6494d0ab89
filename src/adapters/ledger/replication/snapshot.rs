//! Central's ledger snapshot: every entry up to a signed checkpoint, written as one CBOR
//! document and read back entry by entry (`SnapshotReader`), so a bootstrap never holds it whole.

use super::*;

/// A snapshot: every entry up to a signed checkpoint. It is trusted through that checkpoint.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Snapshot {
    #[serde(with = "serde_bytes_vec")]
    pub checkpoint: Vec<u8>,
    pub entries: Vec<ciborium::Value>,
}

pub(super) mod serde_bytes_vec {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(b)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        ciborium::Value::deserialize(d)?
            .into_bytes()
            .map_err(|_| serde::de::Error::custom("expected a byte string"))
    }
}

impl Snapshot {
    /// Builds a snapshot from a replica's applied state.
    pub fn from_store(store: &dyn LedgerStore) -> Result<Option<Self>, LedgerStoreError> {
        let cursor = store.cursor()?;
        let Some(checkpoint) = store.signed_checkpoint()? else {
            return Ok(None);
        };
        let entries = store
            .entries(1, cursor.seq)?
            .into_iter()
            .map(ciborium::Value::Bytes)
            .collect();
        Ok(Some(Self {
            checkpoint,
            entries,
        }))
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        ciborium::into_writer(self, &mut out).expect("writing cbor into a Vec cannot fail");
        out
    }

    /// Decodes a whole snapshot in memory (tools and tests; a terminal reads one with
    /// [`SnapshotReader`], entry by entry).
    pub fn decode(bytes: &[u8]) -> Result<Self, ReplicationError> {
        let mut reader = SnapshotReader::new(bytes)?;
        let mut entries = Vec::new();
        while let Some(entry) = reader.next_entry()? {
            entries.push(ciborium::Value::Bytes(entry));
        }
        Ok(Self {
            checkpoint: reader.checkpoint,
            entries,
        })
    }
}

/// Reads a snapshot as it arrives: the signed checkpoint first (it must precede the entries, as
/// [`Snapshot::encode`] writes it), then one entry at a time, so that bootstrapping a million
/// permits never holds them all.
pub struct SnapshotReader<R: std::io::Read> {
    decoder: ciborium_ll::Decoder<R>,
    /// The signed checkpoint the snapshot ends at.
    pub checkpoint: Vec<u8>,
    /// Entries not read yet.
    remaining: u64,
    read: u64,
}

pub(super) fn snapshot_error(why: impl std::fmt::Display) -> ReplicationError {
    ReplicationError::Snapshot(why.to_string())
}

impl<R: std::io::Read> SnapshotReader<R> {
    /// Reads the snapshot's head: `{"checkpoint": bytes, "entries": [` with a definite length.
    pub fn new(reader: R) -> Result<Self, ReplicationError> {
        let mut decoder = ciborium_ll::Decoder::from(reader);
        match pull(&mut decoder)? {
            ciborium_ll::Header::Map(Some(2)) => {}
            other => {
                return Err(snapshot_error(format!(
                    "expected a map of two fields, found {other:?}"
                )));
            }
        }
        expect_key(&mut decoder, "checkpoint")?;
        let checkpoint = read_bytes(&mut decoder, CHECKPOINT_BYTES_MAX, "checkpoint")?;
        expect_key(&mut decoder, "entries")?;
        let remaining = match pull(&mut decoder)? {
            ciborium_ll::Header::Array(Some(n)) => u64::try_from(n).map_err(snapshot_error)?,
            other => {
                return Err(snapshot_error(format!(
                    "entries: expected an array of definite length, found {other:?}"
                )));
            }
        };
        Ok(Self {
            decoder,
            checkpoint,
            remaining,
            read: 0,
        })
    }

    /// Entries the snapshot holds (read or not).
    pub fn len(&self) -> u64 {
        self.read + self.remaining
    }

    /// Whether the snapshot holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The next entry's exact bytes, or `None` after the last.
    pub fn next_entry(&mut self) -> Result<Option<Vec<u8>>, ReplicationError> {
        if self.remaining == 0 {
            return Ok(None);
        }
        let what = format!("entry {}", self.read + 1);
        let entry = read_bytes(&mut self.decoder, ANY_ENTRY_BYTES_MAX, &what)?;
        self.remaining -= 1;
        self.read += 1;
        Ok(Some(entry))
    }
}

pub(super) fn pull<R: std::io::Read>(
    decoder: &mut ciborium_ll::Decoder<R>,
) -> Result<ciborium_ll::Header, ReplicationError> {
    let offset = decoder.offset();
    decoder.pull().map_err(|e| match e {
        ciborium_ll::Error::Io(io) => snapshot_error(format!("read at byte {offset}: {io}")),
        ciborium_ll::Error::Syntax(at) => snapshot_error(format!("not CBOR at byte {at}")),
    })
}

pub(super) fn read_exact<R: std::io::Read>(
    decoder: &mut ciborium_ll::Decoder<R>,
    len: usize,
    cap: usize,
    what: &str,
) -> Result<Vec<u8>, ReplicationError> {
    if len > cap {
        return Err(snapshot_error(format!(
            "{what} is {len} bytes, more than {cap}"
        )));
    }
    let offset = decoder.offset();
    let mut out = vec![0; len];
    ciborium_io::Read::read_exact(decoder, &mut out)
        .map_err(|e| snapshot_error(format!("{what} cut short at byte {offset}: {e}")))?;
    Ok(out)
}

pub(super) fn read_bytes<R: std::io::Read>(
    decoder: &mut ciborium_ll::Decoder<R>,
    cap: usize,
    what: &str,
) -> Result<Vec<u8>, ReplicationError> {
    match pull(decoder)? {
        ciborium_ll::Header::Bytes(Some(len)) => read_exact(decoder, len, cap, what),
        other => Err(snapshot_error(format!(
            "{what}: expected a byte string of definite length, found {other:?}"
        ))),
    }
}

pub(super) fn expect_key<R: std::io::Read>(
    decoder: &mut ciborium_ll::Decoder<R>,
    key: &str,
) -> Result<(), ReplicationError> {
    let found = match pull(decoder)? {
        ciborium_ll::Header::Text(Some(len)) => read_exact(decoder, len, key.len(), "field name")
            .map(|name| String::from_utf8_lossy(&name).into_owned()),
        other => Err(snapshot_error(format!(
            "expected field {key:?}, found {other:?}"
        ))),
    }?;
    if found == key {
        Ok(())
    } else {
        Err(snapshot_error(format!(
            "expected field {key:?}, found {found:?}"
        )))
    }
}
