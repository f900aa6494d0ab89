//! Where a terminal reads central's ledger from: the `LedgerSource` port, the stream names,
//! and `JetStreamSource`, the real one.

use super::*;
use crate::adapters::nats::IntoCentralLink;

/// Where a terminal reads central's ledger from. [`JetStreamSource`] is the real one; the
/// deterministic simulation supplies one that drops, stalls and trims on a seeded schedule.
pub trait LedgerSource: Send + Sync {
    /// The latest signed checkpoint as published (`None` before central has published one).
    fn latest_checkpoint(
        &self,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, ReplicationError>> + Send;
    /// The first entry seq the source still holds (entries below it are only in a snapshot).
    fn first_seq(&self) -> impl Future<Output = Result<u64, ReplicationError>> + Send;
    /// Entries `from..=to`, in order; [`ReplicationError::Missing`] when the source lacks some.
    fn entries(
        &self,
        from: u64,
        to: u64,
    ) -> impl Future<Output = Result<Vec<Vec<u8>>, ReplicationError>> + Send;
    /// Writes the latest snapshot into the file `into` (created or truncated), up to
    /// [`SNAPSHOT_BYTES_MAX`] bytes, and returns its length.
    fn snapshot_into(
        &self,
        into: &Path,
    ) -> impl Future<Output = Result<u64, ReplicationError>> + Send;
}

/// The names of central's ledger streams and snapshot bucket as a terminal reads them:
/// `[upstream] ledger_stream` names the entry stream, the others are derived from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerStreams {
    /// The entry stream (`LEDGER`).
    pub entries: String,
    /// The checkpoint stream (`<entries>_CHECKPOINTS`).
    pub checkpoints: String,
    /// The snapshot bucket (`<entries>_SNAPSHOTS`).
    pub snapshots: String,
}

impl LedgerStreams {
    /// The streams of the ledger whose entry stream is `entries`.
    pub fn named(entries: &str) -> Self {
        Self {
            entries: entries.to_string(),
            checkpoints: format!("{entries}_CHECKPOINTS"),
            snapshots: format!("{entries}_SNAPSHOTS"),
        }
    }
}

impl Default for LedgerStreams {
    fn default() -> Self {
        Self::named(ENTRY_STREAM)
    }
}

/// Central's streams and snapshot bucket on JetStream, read with an ordered pull consumer from
/// the terminal's own cursor (no per-terminal state on the server).
pub struct JetStreamSource {
    js: jetstream::Context,
    streams: LedgerStreams,
}

impl JetStreamSource {
    pub async fn connect(link: impl IntoCentralLink) -> Result<Self, ReplicationError> {
        Ok(Self {
            js: connect(link).await?,
            streams: LedgerStreams::default(),
        })
    }

    /// A source reading `streams` over an open connection (the terminal's, with its
    /// credentials).
    pub fn from_client(client: async_nats::Client, streams: LedgerStreams) -> Self {
        Self {
            js: jetstream::new(client),
            streams,
        }
    }
}

impl LedgerSource for JetStreamSource {
    async fn latest_checkpoint(&self) -> Result<Option<Vec<u8>>, ReplicationError> {
        let checkpoint_stream = self
            .js
            .get_stream(&self.streams.checkpoints)
            .await
            .map_err(nats)?;
        match checkpoint_stream
            .get_last_raw_message_by_subject(CHECKPOINT_SUBJECT)
            .await
        {
            Ok(m) => Ok(Some(m.payload.to_vec())),
            Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => Ok(None),
            Err(e) => Err(nats(e)),
        }
    }

    async fn first_seq(&self) -> Result<u64, ReplicationError> {
        let mut entry_stream = self
            .js
            .get_stream(&self.streams.entries)
            .await
            .map_err(nats)?;
        Ok(entry_stream
            .info()
            .await
            .map_err(nats)?
            .state
            .first_sequence)
    }

    async fn entries(&self, from: u64, to: u64) -> Result<Vec<Vec<u8>>, ReplicationError> {
        let stream = self
            .js
            .get_stream(&self.streams.entries)
            .await
            .map_err(nats)?;
        let consumer = stream
            .create_consumer(consumer::pull::OrderedConfig {
                filter_subject: ENTRY_SUBJECT.into(),
                deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                    start_sequence: from,
                },
                ..Default::default()
            })
            .await
            .map_err(nats)?;
        let mut messages = consumer.messages().await.map_err(nats)?;
        let mut out = Vec::with_capacity(usize::try_from(to - from + 1).unwrap_or(0));
        let mut expected = from;
        while expected <= to {
            let message = tokio::time::timeout(FETCH_TIMEOUT, messages.next())
                .await
                .map_err(|_| ReplicationError::Missing { from: expected, to })?
                .ok_or(ReplicationError::Missing { from: expected, to })?
                .map_err(nats)?;
            let stream_seq = message.info().map_err(nats)?.stream_sequence;
            if stream_seq != expected {
                // The stream was trimmed under us; the next round bootstraps.
                return Err(ReplicationError::Missing {
                    from: expected,
                    to: stream_seq.min(to),
                });
            }
            out.push(message.payload.to_vec());
            expected += 1;
        }
        Ok(out)
    }

    async fn snapshot_into(&self, into: &Path) -> Result<u64, ReplicationError> {
        let bucket = self
            .js
            .get_object_store(&self.streams.snapshots)
            .await
            .map_err(nats)?;
        let object = bucket.get(SNAPSHOT_OBJECT).await.map_err(nats)?;
        let mut file = tokio::fs::File::create(into)
            .await
            .map_err(|e| scratch_error(into, e))?;
        tokio::io::copy(&mut object.take(SNAPSHOT_BYTES_MAX), &mut file)
            .await
            .map_err(nats)
    }
}
