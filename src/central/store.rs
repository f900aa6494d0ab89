//! The national movement record in PostgreSQL: versioned migrations (refinery), one transaction
//! per ingested batch that also moves the consumer's stored stream position, and heartbeats.

use std::collections::HashMap;

use tokio_postgres::{Client, NoTls};

use super::config::PostgresSettings;

refinery::embed_migrations!("migrations/central");

/// Failures of the movement record.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// PostgreSQL answered with an error or the connection failed.
    #[error("postgresql: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// A migration failed.
    #[error("schema migration: {0}")]
    Migration(String),
    /// A batch holds more crossings than PostgreSQL's array subscripts (`int4`) can address.
    #[error("a batch of {0} crossings is more than one statement can take")]
    BatchTooLarge(usize),
    /// The stored position is not the one the batch continues from (another writer under the
    /// same name, or a commit the database lost): the batch must be read again from there.
    #[error("stored position is {stored}, the batch continues from {after}")]
    PositionMoved {
        /// What the table holds.
        stored: u64,
        /// The position the batch was pulled after.
        after: u64,
    },
}

/// One movement as stored.
#[derive(Clone, Debug)]
pub struct MovementRow {
    pub terminal: String,
    pub seq: i64,
    pub event_hash: Vec<u8>,
    pub prev_hash: Vec<u8>,
    pub stream_seq: i64,
    pub recorded_at: jiff::Timestamp,
    pub local_date: jiff::civil::Date,
    pub utc_offset_s: i32,
    pub checkpoint: String,
    pub lane: String,
    pub direction: &'static str,
    pub verdict: &'static str,
    pub holder: Vec<u8>,
    pub issuing_state: String,
    pub document_type: String,
    pub document_number: String,
    pub nationality: String,
    pub birth_date: String,
    pub sex: String,
    pub permit_cti: Option<String>,
    pub evisa: Option<String>,
}

/// One rejected event or chain finding.
#[derive(Clone, Debug)]
pub struct AnomalyRow {
    pub stream_seq: i64,
    pub terminal: Option<String>,
    pub seq: Option<i64>,
    /// Stable code: a rejection reason (`bad_signature`, `unknown_terminal`, …), `replayed`,
    /// `conflict` or `chain_break`.
    pub kind: String,
    pub detail: String,
    pub payload: Vec<u8>,
}

/// What one batch writes, atomically.
#[derive(Debug, Default)]
pub struct Batch {
    pub movements: Vec<MovementRow>,
    pub anomalies: Vec<AnomalyRow>,
    /// The stored position the batch continues from, and the last stream sequence it covers.
    pub after_stream_seq: u64,
    pub last_stream_seq: u64,
}

/// A terminal's latest heartbeat.
#[derive(Clone, Debug)]
pub struct HeartbeatRow {
    pub terminal: String,
    pub heartbeat_at: Option<jiff::Timestamp>,
    pub outbox_depth: i64,
    pub ledger_age_s: Option<i64>,
    pub clock_suspect: bool,
    pub devices_up: Vec<String>,
}

/// Opens a connection (its driver runs on its own task) without touching the schema.
pub async fn connect(settings: &PostgresSettings) -> Result<Client, StoreError> {
    let (client, connection) = settings.client_config().connect(NoTls).await?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::warn!(message = "postgresql connection ended", %error);
        }
    });
    Ok(client)
}

/// Brings the schema to the version this build expects.
pub async fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let report = migrations::runner()
        .run_async(client)
        .await
        .map_err(|e| StoreError::Migration(e.to_string()))?;
    for migration in report.applied_migrations() {
        tracing::info!(message = "schema migration applied", migration = %migration);
    }
    Ok(())
}

/// The ingestion side of the record: the stored position and the batch writer.
pub struct MovementStore {
    client: Client,
    consumer: String,
    /// Each terminal's highest recorded seq and its event hash (`None`: nothing recorded), as
    /// committed through this connection: an event after it is new and its predecessor is known
    /// without asking the record. Emptied on any failure (a new connection starts empty), so a
    /// stale entry can at worst make a commit fail on the primary key, never admit a double.
    heads: HashMap<String, Option<(i64, Vec<u8>)>>,
    /// The batch statements, prepared once per connection (see [`Statements`]).
    statements: Option<Statements>,
}

/// The statements every batch runs, prepared once per connection: PostgreSQL plans each once,
/// not once per batch (planning the `stays` fold took longer than some batches' COPY).
#[derive(Clone)]
struct Statements {
    locked_position: tokio_postgres::Statement,
    store_position: tokio_postgres::Statement,
    record_stays: tokio_postgres::Statement,
    known_hashes: tokio_postgres::Statement,
}

impl MovementStore {
    /// Wraps a migrated connection for the durable consumer `consumer`.
    pub fn new(client: Client, consumer: &str) -> Self {
        Self {
            client,
            consumer: consumer.to_string(),
            heads: HashMap::new(),
            statements: None,
        }
    }

    /// The batch statements of this connection, prepared on first use. Their plans are generic
    /// (session setting): every one of them touches a few rows per key, by index, whatever the
    /// batch size, while a plan made for a batch's 5,000 keys would merge-join or hash-join
    /// whole tables once `stays` or `movements` are large.
    async fn statements(&mut self) -> Result<Statements, StoreError> {
        if let Some(statements) = &self.statements {
            return Ok(statements.clone());
        }
        self.client
            .batch_execute("SET plan_cache_mode = force_generic_plan")
            .await?;
        let statements = Statements {
            locked_position: self
                .client
                .prepare("SELECT stream_seq FROM consumer_position WHERE consumer = $1 FOR UPDATE")
                .await?,
            store_position: self
                .client
                .prepare(
                    "INSERT INTO consumer_position (consumer, stream_seq) VALUES ($1, $2) \
                     ON CONFLICT (consumer) DO UPDATE SET stream_seq = EXCLUDED.stream_seq",
                )
                .await?,
            record_stays: self.client.prepare(RECORD_STAYS).await?,
            known_hashes: self
                .client
                .prepare(
                    "SELECT m.terminal, m.seq, m.event_hash FROM movements m \
                     JOIN unnest($1::text[], $2::int8[]) AS k(terminal, seq) \
                     ON m.terminal = k.terminal AND m.seq = k.seq",
                )
                .await?,
        };
        self.statements = Some(statements.clone());
        Ok(statements)
    }

    /// The last stream sequence committed (0: none).
    pub async fn position(&self) -> Result<u64, StoreError> {
        let row = self
            .client
            .query_opt(
                "SELECT stream_seq FROM consumer_position WHERE consumer = $1",
                &[&self.consumer],
            )
            .await?;
        Ok(row.map_or(0, |row| u64::try_from(row.get::<_, i64>(0)).unwrap_or(0)))
    }

    /// Event hashes already recorded for these (terminal, seq) keys: from the terminals' heads
    /// where they answer (a key after its terminal's head is not recorded), else from the record.
    pub async fn known_hashes(
        &mut self,
        keys: &[(String, i64)],
    ) -> Result<HashMap<(String, i64), Vec<u8>>, StoreError> {
        self.load_heads(keys).await?;
        let mut known = HashMap::new();
        let mut asked: Vec<&(String, i64)> = Vec::new();
        for key in keys {
            let (terminal, seq) = key;
            match self.heads.get(terminal) {
                Some(Some((head, hash))) if seq == head => {
                    known.insert(key.clone(), hash.clone());
                }
                Some(Some((head, _))) if seq < head && *seq >= 1 => asked.push(key),
                _ => {}
            }
        }
        if asked.is_empty() {
            return Ok(known);
        }
        let (terminals, seqs): (Vec<&str>, Vec<i64>) =
            asked.iter().map(|(t, s)| (t.as_str(), *s)).unzip();
        let statement = self.statements().await?.known_hashes;
        let rows = self.client.query(&statement, &[&terminals, &seqs]).await?;
        known.extend(
            rows.into_iter()
                .map(|row| ((row.get(0), row.get(1)), row.get(2))),
        );
        Ok(known)
    }

    /// Reads the head of every terminal among `keys` not known yet.
    async fn load_heads(&mut self, keys: &[(String, i64)]) -> Result<(), StoreError> {
        let mut missing: Vec<&str> = keys
            .iter()
            .map(|(terminal, _)| terminal.as_str())
            .filter(|terminal| !self.heads.contains_key(*terminal))
            .collect();
        missing.sort_unstable();
        missing.dedup();
        if missing.is_empty() {
            return Ok(());
        }
        let rows = self
            .client
            .query(
                "SELECT t.terminal, h.seq, h.event_hash FROM unnest($1::text[]) AS t(terminal) \
                 LEFT JOIN LATERAL (SELECT seq, event_hash FROM movements m \
                 WHERE m.terminal = t.terminal ORDER BY seq DESC LIMIT 1) h ON true",
                &[&missing],
            )
            .await?;
        for row in rows {
            let head = row
                .get::<_, Option<i64>>(1)
                .zip(row.get::<_, Option<Vec<u8>>>(2));
            self.heads.insert(row.get(0), head);
        }
        Ok(())
    }

    /// Writes the batch's movements and anomalies and moves the position, in one transaction.
    pub async fn commit(&mut self, batch: &Batch) -> Result<(), StoreError> {
        if let Err(error) = self.write(batch).await {
            self.heads.clear();
            return Err(error);
        }
        for movement in &batch.movements {
            if let Some(head) = self.heads.get_mut(&movement.terminal)
                && head.as_ref().is_none_or(|(seq, _)| movement.seq > *seq)
            {
                *head = Some((movement.seq, movement.event_hash.clone()));
            }
        }
        Ok(())
    }

    async fn write(&mut self, batch: &Batch) -> Result<(), StoreError> {
        let statements = self.statements().await?;
        let tx = self.client.transaction().await?;
        let stored = tx
            .query_opt(&statements.locked_position, &[&self.consumer])
            .await?
            .map_or(0, |row| u64::try_from(row.get::<_, i64>(0)).unwrap_or(0));
        if stored != batch.after_stream_seq {
            return Err(StoreError::PositionMoved {
                stored,
                after: batch.after_stream_seq,
            });
        }
        insert_movements(&tx, &batch.movements).await?;
        record_stays(&tx, &statements.record_stays, &batch.movements).await?;
        insert_anomalies(&tx, &batch.anomalies).await?;
        let last = i64::try_from(batch.last_stream_seq).unwrap_or(i64::MAX);
        tx.execute(&statements.store_position, &[&self.consumer, &last])
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The columns of `movements` in the order [`insert_movements`] copies them.
const MOVEMENT_COLUMNS: &str = "terminal, seq, event_hash, prev_hash, stream_seq, recorded_at, \
     local_date, utc_offset_s, checkpoint, lane, direction, verdict, holder, issuing_state, \
     document_type, document_number, nationality, birth_date, sex, permit_cti, evisa";

async fn insert_movements(
    tx: &tokio_postgres::Transaction<'_>,
    rows: &[MovementRow],
) -> Result<(), StoreError> {
    use tokio_postgres::binary_copy::BinaryCopyInWriter;
    use tokio_postgres::types::{ToSql, Type};
    if rows.is_empty() {
        return Ok(());
    }
    // COPY in the binary format, inside the batch's transaction: the server parses no text and
    // plans no statement per row, the fastest way PostgreSQL takes rows in.
    let sink = tx
        .copy_in(&format!(
            "COPY movements ({MOVEMENT_COLUMNS}) FROM STDIN (FORMAT binary)"
        ))
        .await?;
    let types = [
        Type::TEXT,
        Type::INT8,
        Type::BYTEA,
        Type::BYTEA,
        Type::INT8,
        Type::TIMESTAMPTZ,
        Type::DATE,
        Type::INT4,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::BYTEA,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
    ];
    let writer = BinaryCopyInWriter::new(sink, &types);
    futures::pin_mut!(writer);
    for r in rows {
        let values: [&(dyn ToSql + Sync); 21] = [
            &r.terminal,
            &r.seq,
            &r.event_hash,
            &r.prev_hash,
            &r.stream_seq,
            &r.recorded_at,
            &r.local_date,
            &r.utc_offset_s,
            &r.checkpoint,
            &r.lane,
            &r.direction,
            &r.verdict,
            &r.holder,
            &r.issuing_state,
            &r.document_type,
            &r.document_number,
            &r.nationality,
            &r.birth_date,
            &r.sex,
            &r.permit_cti,
            &r.evisa,
        ];
        writer.as_mut().write(&values).await?;
    }
    writer.finish().await?;
    Ok(())
}

/// The batch's entries and exits folded into `stays`, one row per document (statement below).
/// They are grouped by document and put in (time, seq) order here, so PostgreSQL only slices
/// each document's part out of the batch's arrays (it sorted and aggregated every column per
/// document before).
async fn record_stays(
    tx: &tokio_postgres::Transaction<'_>,
    statement: &tokio_postgres::Statement,
    rows: &[MovementRow],
) -> Result<(), StoreError> {
    let mut crossings: Vec<(jiff::Timestamp, &MovementRow)> = rows
        .iter()
        .filter(|r| matches!(r.direction, "entry" | "exit"))
        .map(|r| (stored_instant(r.recorded_at), r))
        .collect();
    if crossings.is_empty() {
        return Ok(());
    }
    crossings
        .sort_by(|(at_a, a), (at_b, b)| (&a.holder, at_a, a.seq).cmp(&(&b.holder, at_b, b.seq)));
    let dates: Vec<jiff::civil::Date> = crossings.iter().map(|(_, r)| r.local_date).collect();
    let entries: Vec<bool> = crossings
        .iter()
        .map(|(_, r)| r.direction == "entry")
        .collect();
    let mut documents = StayParts::default();
    let mut start = 0;
    for group in crossings.chunk_by(|(_, a), (_, b)| a.holder == b.holder) {
        documents.push(group, start)?;
        start += group.len();
    }
    let StayParts {
        holders,
        first_ats,
        first_seqs,
        last_ats,
        last_seqs,
        nationalities,
        states,
        types,
        numbers,
        from,
        to,
    } = &documents;
    tx.execute(
        statement,
        &[
            holders,
            first_ats,
            first_seqs,
            last_ats,
            last_seqs,
            nationalities,
            states,
            types,
            numbers,
            from,
            to,
            &dates,
            &entries,
        ],
    )
    .await?;
    Ok(())
}

/// A timestamp as PostgreSQL stores it (`timestamptz` keeps microseconds, rounded half away
/// from zero on the way in): the batch's crossings are ordered here exactly as the record will
/// order them.
fn stored_instant(at: jiff::Timestamp) -> jiff::Timestamp {
    at.round(jiff::Unit::Microsecond).unwrap_or(at)
}

/// Per document of a batch (parallel arrays): its first and latest crossing in (time, seq)
/// order, the document as the latest names it, and where its crossings lie (1-based, inclusive)
/// in the batch's ordered dates and directions.
#[derive(Default)]
struct StayParts<'a> {
    holders: Vec<&'a [u8]>,
    first_ats: Vec<jiff::Timestamp>,
    first_seqs: Vec<i64>,
    last_ats: Vec<jiff::Timestamp>,
    last_seqs: Vec<i64>,
    nationalities: Vec<&'a str>,
    states: Vec<&'a str>,
    types: Vec<&'a str>,
    numbers: Vec<&'a str>,
    from: Vec<i32>,
    to: Vec<i32>,
}

impl<'a> StayParts<'a> {
    /// Adds one document's crossings (in order, non-empty), found at `start` (0-based) in the
    /// batch's ordered crossings.
    fn push(
        &mut self,
        group: &[(jiff::Timestamp, &'a MovementRow)],
        start: usize,
    ) -> Result<(), StoreError> {
        let (Some((first_at, first)), Some((last_at, last))) = (group.first(), group.last()) else {
            return Ok(());
        };
        let position = |index: usize| {
            i32::try_from(index + 1).map_err(|_| StoreError::BatchTooLarge(index + 1))
        };
        self.holders.push(&first.holder);
        self.first_ats.push(*first_at);
        self.first_seqs.push(first.seq);
        self.last_ats.push(*last_at);
        self.last_seqs.push(last.seq);
        self.nationalities.push(&last.nationality);
        self.states.push(&last.issuing_state);
        self.types.push(&last.document_type);
        self.numbers.push(&last.document_number);
        self.from.push(position(start)?);
        self.to.push(position(start + group.len() - 1)?);
        Ok(())
    }
}

/// Folds a batch's documents (parallel arrays from [`StayParts`], then the batch's ordered
/// dates and directions) into `stays`: a document's crossings are appended to the stored ones
/// when they all come after the stored latest, else (two terminals' events arriving out of
/// order) its crossings are read again from `movements`, which already holds the batch.
const RECORD_STAYS: &str = "\
WITH b AS (SELECT * FROM unnest($1::bytea[], $2::timestamptz[], $3::int8[], $4::timestamptz[], \
        $5::int8[], $6::text[], $7::text[], $8::text[], $9::text[], $10::int4[], $11::int4[]) \
        AS b(holder, first_at, first_seq, last_at, last_seq, nationality, issuing_state, \
        document_type, document_number, part_from, part_to)), \
updated AS (UPDATE stays s SET \
        dates = CASE WHEN (b.first_at, b.first_seq) > (s.last_at, s.last_seq) \
            THEN s.dates || ($12::date[])[b.part_from:b.part_to] \
            ELSE (SELECT array_agg(x.local_date ORDER BY x.recorded_at, x.seq) FROM movements x \
                  WHERE x.holder = s.holder AND x.direction IN ('entry', 'exit')) END, \
        entries = CASE WHEN (b.first_at, b.first_seq) > (s.last_at, s.last_seq) \
            THEN s.entries || ($13::bool[])[b.part_from:b.part_to] \
            ELSE (SELECT array_agg(x.direction = 'entry' ORDER BY x.recorded_at, x.seq) FROM movements x \
                  WHERE x.holder = s.holder AND x.direction IN ('entry', 'exit')) END, \
        nationality = CASE WHEN (b.last_at, b.last_seq) > (s.last_at, s.last_seq) \
            THEN b.nationality ELSE s.nationality END, \
        issuing_state = CASE WHEN (b.last_at, b.last_seq) > (s.last_at, s.last_seq) \
            THEN b.issuing_state ELSE s.issuing_state END, \
        document_type = CASE WHEN (b.last_at, b.last_seq) > (s.last_at, s.last_seq) \
            THEN b.document_type ELSE s.document_type END, \
        document_number = CASE WHEN (b.last_at, b.last_seq) > (s.last_at, s.last_seq) \
            THEN b.document_number ELSE s.document_number END, \
        last_seq = CASE WHEN (b.last_at, b.last_seq) > (s.last_at, s.last_seq) \
            THEN b.last_seq ELSE s.last_seq END, \
        last_at = greatest(s.last_at, b.last_at) \
        FROM b WHERE s.holder = b.holder RETURNING s.holder) \
INSERT INTO stays (holder, nationality, issuing_state, document_type, document_number, last_at, \
        last_seq, dates, entries) \
SELECT holder, nationality, issuing_state, document_type, document_number, last_at, last_seq, \
        ($12::date[])[part_from:part_to], ($13::bool[])[part_from:part_to] FROM b \
WHERE holder NOT IN (SELECT holder FROM updated)";

/// Derives `stays` again from `movements` (after rows were loaded into `movements` by other
/// means than ingestion, as the benchmark does).
pub async fn rebuild_stays(client: &Client) -> Result<(), StoreError> {
    client
        .batch_execute(
            "TRUNCATE stays; \
             INSERT INTO stays (holder, nationality, issuing_state, document_type, document_number, \
             last_at, last_seq, dates, entries) \
             SELECT holder, \
             (array_agg(nationality ORDER BY recorded_at DESC, seq DESC))[1], \
             (array_agg(issuing_state ORDER BY recorded_at DESC, seq DESC))[1], \
             (array_agg(document_type ORDER BY recorded_at DESC, seq DESC))[1], \
             (array_agg(document_number ORDER BY recorded_at DESC, seq DESC))[1], \
             max(recorded_at), (array_agg(seq ORDER BY recorded_at DESC, seq DESC))[1], \
             array_agg(local_date ORDER BY recorded_at, seq), \
             array_agg(direction = 'entry' ORDER BY recorded_at, seq) \
             FROM movements WHERE direction IN ('entry', 'exit') GROUP BY holder; \
             ANALYZE stays",
        )
        .await?;
    Ok(())
}

async fn insert_anomalies(
    tx: &tokio_postgres::Transaction<'_>,
    rows: &[AnomalyRow],
) -> Result<(), StoreError> {
    let statement = tx
        .prepare(
            "INSERT INTO anomalies (found_at, stream_seq, terminal, seq, kind, detail, payload) \
             VALUES (now(), $1, $2, $3, $4, $5, $6)",
        )
        .await?;
    for row in rows {
        tx.execute(
            &statement,
            &[
                &row.stream_seq,
                &row.terminal,
                &row.seq,
                &row.kind,
                &row.detail,
                &row.payload,
            ],
        )
        .await?;
    }
    Ok(())
}

/// Records a terminal's latest heartbeat (replacing the previous one).
pub async fn record_heartbeat(client: &Client, beat: &HeartbeatRow) -> Result<(), StoreError> {
    client
        .execute(
            "INSERT INTO terminal_health (terminal, heartbeat_at, received_at, outbox_depth, \
             ledger_age_s, clock_suspect, devices_up) VALUES ($1, $2, now(), $3, $4, $5, $6) \
             ON CONFLICT (terminal) DO UPDATE SET heartbeat_at = EXCLUDED.heartbeat_at, \
             received_at = EXCLUDED.received_at, outbox_depth = EXCLUDED.outbox_depth, \
             ledger_age_s = EXCLUDED.ledger_age_s, clock_suspect = EXCLUDED.clock_suspect, \
             devices_up = EXCLUDED.devices_up",
            &[
                &beat.terminal,
                &beat.heartbeat_at,
                &beat.outbox_depth,
                &beat.ledger_age_s,
                &beat.clock_suspect,
                &beat.devices_up,
            ],
        )
        .await?;
    Ok(())
}
