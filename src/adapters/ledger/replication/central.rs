//! Central's side: the streams and the snapshot bucket provisioned, entries appended with the
//! expected last sequence, checkpoints, snapshots and trims.

use super::*;
use crate::adapters::nats::IntoCentralLink;

/// Creates the streams and the snapshot bucket if missing (file storage, limits retention,
/// `replicas` copies each: 3 on a three-node cluster).
pub async fn provision(js: &jetstream::Context, replicas: usize) -> Result<(), ReplicationError> {
    for (name, subject) in [
        (ENTRY_STREAM, ENTRY_SUBJECT),
        (CHECKPOINT_STREAM, CHECKPOINT_SUBJECT),
    ] {
        js.get_or_create_stream(stream::Config {
            name: name.into(),
            subjects: vec![subject.into()],
            storage: stream::StorageType::File,
            retention: stream::RetentionPolicy::Limits,
            num_replicas: replicas,
            ..Default::default()
        })
        .await
        .map_err(nats)?;
    }
    if js.get_object_store(SNAPSHOT_BUCKET).await.is_err() {
        js.create_object_store(jetstream::object_store::Config {
            bucket: SNAPSHOT_BUCKET.into(),
            storage: stream::StorageType::File,
            num_replicas: replicas,
            ..Default::default()
        })
        .await
        .map_err(nats)?;
    }
    Ok(())
}

/// Connects to central through `link` (seed URLs of central's cluster: the client learns the
/// others and moves to another when one is lost; TLS and credentials as configured).
pub(super) async fn connect(
    link: impl IntoCentralLink,
) -> Result<jetstream::Context, ReplicationError> {
    let client = crate::adapters::nats::connect_link(link)
        .await
        .map_err(nats)?;
    Ok(jetstream::new(client))
}

/// Central's writer. There is one per ledger; the expected-last-sequence header makes a second
/// writer fail instead of forking the stream.
pub struct Central {
    js: jetstream::Context,
}

impl Central {
    pub async fn connect(link: impl IntoCentralLink) -> Result<Self, ReplicationError> {
        Ok(Self {
            js: connect(link).await?,
        })
    }

    /// Creates the streams and bucket with `replicas` copies each (see [`provision`]).
    pub async fn provision(&self, replicas: usize) -> Result<(), ReplicationError> {
        provision(&self.js, replicas).await
    }

    /// The last entry's seq and hash (`(0, zeroes)` for an empty ledger).
    pub async fn head(&self) -> Result<(u64, Hash), ReplicationError> {
        let mut stream = self.js.get_stream(ENTRY_STREAM).await.map_err(nats)?;
        let last = stream.info().await.map_err(nats)?.state.last_sequence;
        if last == 0 {
            return Ok((0, [0; 32]));
        }
        let message = stream.get_raw_message(last).await.map_err(nats)?;
        let entry =
            Entry::decode(&message.payload).map_err(|e| ReplicationError::Head(e.to_string()))?;
        if entry.seq != last {
            return Err(ReplicationError::Head(format!(
                "stream seq {last} holds entry {}",
                entry.seq
            )));
        }
        Ok((last, entry_hash(&message.payload)))
    }

    /// Appends entries after the head; returns the new head.
    pub async fn append(
        &self,
        changes: Vec<Change>,
        time: Timestamp,
    ) -> Result<(u64, Hash), ReplicationError> {
        let head = self.head().await?;
        self.append_after(head, changes, time).await
    }

    /// Appends entries after `head`, the head the caller checked them against: if another
    /// writer appended since, the server refuses the first one and nothing is appended.
    pub async fn append_after(
        &self,
        head: (u64, Hash),
        changes: Vec<Change>,
        time: Timestamp,
    ) -> Result<(u64, Hash), ReplicationError> {
        let (mut seq, mut hash) = head;
        let mut pending = Vec::with_capacity(PUBLISH_WINDOW);
        for change in changes {
            let entry = Entry {
                seq: seq + 1,
                prev: hash,
                time,
                change,
            };
            let bytes = entry.encode();
            hash = entry_hash(&bytes);
            let publish = jetstream::message::PublishMessage::build()
                .payload(bytes.into())
                .expected_last_sequence(seq);
            let ack = self
                .js
                .send_publish(ENTRY_SUBJECT, publish)
                .await
                .map_err(nats)?;
            seq += 1;
            pending.push((seq, ack));
            if pending.len() >= PUBLISH_WINDOW {
                await_acks(&mut pending).await?;
            }
        }
        await_acks(&mut pending).await?;
        Ok((seq, hash))
    }

    /// Signs the current head with the given roots and publishes the checkpoint.
    pub async fn checkpoint(
        &self,
        roots: &[SigningKey],
        time: Timestamp,
    ) -> Result<Checkpoint, ReplicationError> {
        let (size, root) = self.head().await?;
        let checkpoint = Checkpoint { size, root, time };
        self.publish_checkpoint(&SignedCheckpoint::sign(&checkpoint, roots))
            .await?;
        Ok(checkpoint)
    }

    /// Entry `seq`'s bytes as the stream holds them (`None` when the stream no longer or not
    /// yet holds it).
    pub async fn entry_at(&self, seq: u64) -> Result<Option<Vec<u8>>, ReplicationError> {
        let stream = self.js.get_stream(ENTRY_STREAM).await.map_err(nats)?;
        match stream.get_raw_message(seq).await {
            Ok(message) => Ok(Some(message.payload.to_vec())),
            Err(e) if e.kind() == stream::RawMessageErrorKind::NoMessageFound => Ok(None),
            Err(e) => Err(nats(e)),
        }
    }

    /// Replaces the entry stream by its entries `first..` as given (`kept`, the ones to keep, in
    /// order from `first`): the stream is deleted and made again starting at `first`, unless an
    /// interrupted earlier call left it holding a prefix of `kept`, which is then completed.
    /// Checkpoints stating an entry that is no longer kept are deleted. The one way to take a
    /// refused entry out of the ledger (docs/ledger.md, "A refused entry in the stream").
    pub async fn rewrite_entries(
        &self,
        first: u64,
        kept: &[Vec<u8>],
    ) -> Result<(), ReplicationError> {
        let keep_through = first + kept.len() as u64 - 1;
        let checkpoints = self.js.get_stream(CHECKPOINT_STREAM).await.map_err(nats)?;
        let replicas = checkpoints.cached_info().config.num_replicas;
        let mut last = match self.js.get_stream(ENTRY_STREAM).await {
            Ok(mut stream) => stream.info().await.map_err(nats)?.state.last_sequence,
            Err(_) => 0,
        };
        if last > keep_through || last == 0 {
            // The tail to drop is still there (or the stream is gone): make it again.
            let _ = self.js.delete_stream(ENTRY_STREAM).await;
            self.js
                .create_stream(stream::Config {
                    name: ENTRY_STREAM.into(),
                    subjects: vec![ENTRY_SUBJECT.into()],
                    storage: stream::StorageType::File,
                    retention: stream::RetentionPolicy::Limits,
                    num_replicas: replicas,
                    first_sequence: (first > 1).then_some(first),
                    ..Default::default()
                })
                .await
                .map_err(nats)?;
            last = first - 1;
        }
        let mut pending = Vec::with_capacity(PUBLISH_WINDOW);
        for (seq, bytes) in (first..).zip(kept).skip_while(|(seq, _)| *seq <= last) {
            let publish = jetstream::message::PublishMessage::build()
                .payload(bytes.clone().into())
                .expected_last_sequence(seq - 1);
            let ack = self
                .js
                .send_publish(ENTRY_SUBJECT, publish)
                .await
                .map_err(nats)?;
            pending.push((seq, ack));
            if pending.len() >= PUBLISH_WINDOW {
                await_acks(&mut pending).await?;
            }
        }
        await_acks(&mut pending).await?;
        self.drop_checkpoints_past(keep_through).await
    }

    /// Deletes the newest checkpoints while they state more than `size` entries.
    pub(super) async fn drop_checkpoints_past(&self, size: u64) -> Result<(), ReplicationError> {
        let stream = self.js.get_stream(CHECKPOINT_STREAM).await.map_err(nats)?;
        loop {
            let message = match stream
                .get_last_raw_message_by_subject(CHECKPOINT_SUBJECT)
                .await
            {
                Ok(message) => message,
                Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => {
                    return Ok(());
                }
                Err(e) => return Err(nats(e)),
            };
            let stated = SignedCheckpoint::decode(&message.payload)?.unverified()?;
            if stated.size <= size {
                return Ok(());
            }
            stream
                .delete_message(message.sequence)
                .await
                .map_err(nats)?;
        }
    }

    /// Publishes an already signed checkpoint as it is.
    pub async fn publish_checkpoint(
        &self,
        signed: &SignedCheckpoint,
    ) -> Result<(), ReplicationError> {
        self.js
            .publish(CHECKPOINT_SUBJECT, signed.encode().into())
            .await
            .map_err(nats)?
            .await
            .map_err(nats)?;
        Ok(())
    }

    /// Stores a snapshot as the latest one.
    pub async fn put_snapshot(&self, snapshot: &Snapshot) -> Result<u64, ReplicationError> {
        let bucket = self
            .js
            .get_object_store(SNAPSHOT_BUCKET)
            .await
            .map_err(nats)?;
        let bytes = snapshot.encode();
        let mut reader = bytes.as_slice();
        bucket
            .put(SNAPSHOT_OBJECT, &mut reader)
            .await
            .map_err(nats)?;
        Ok(bytes.len() as u64)
    }

    /// Drops entries below `keep_from` from the stream (retention), as central does once a
    /// snapshot covers them. The head entry is always kept: it is how central knows the hash to
    /// chain the next entry to.
    pub async fn trim(&self, keep_from: u64) -> Result<(), ReplicationError> {
        let mut stream = self.js.get_stream(ENTRY_STREAM).await.map_err(nats)?;
        let last = stream.info().await.map_err(nats)?.state.last_sequence;
        stream
            .purge()
            .sequence(keep_from.min(last))
            .await
            .map_err(nats)?;
        Ok(())
    }
}

pub(super) async fn await_acks(
    pending: &mut Vec<(u64, jetstream::context::PublishAckFuture)>,
) -> Result<(), ReplicationError> {
    for (seq, ack) in pending.drain(..) {
        let ack = ack.await.map_err(nats)?;
        if ack.sequence != seq {
            return Err(ReplicationError::Nats(format!(
                "entry {seq} stored at stream sequence {}",
                ack.sequence
            )));
        }
    }
    Ok(())
}
