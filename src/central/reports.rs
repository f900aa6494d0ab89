//! The reports central ops read from the movement record: who is present, who has overstayed
//! (the terminals' stay rules, ledger permits as grounds), a document's history, traffic,
//! terminal health and feed anomalies. Each returns JSON; none logs personal data.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::TryStreamExt;
use jiff::civil::Date;
use serde::Serialize;
use serde_json::{Value, json};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Row};

use crate::adapters::ledger::SledLedger;
use crate::core::document::HolderDigest;
use crate::core::ledger::PermitType;
use crate::core::stay::policy::{EVisaEntries, GroundKind, GroundOfStay, StayPolicy};
use crate::core::stay::{self, Movement};
use crate::ports::ledger::{LedgerStore, LedgerView};

/// Anomalies listed at most per request.
pub const ANOMALIES_LIMIT_MAX: i64 = 10_000;
/// Longest traffic range, days.
pub const TRAFFIC_DAYS_MAX: i64 = 366;

/// Failures of a report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The record could not be read.
    #[error("postgresql: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// The ledger replica could not be read.
    #[error("ledger replica: {0}")]
    Ledger(String),
    /// The record holds something this version did not write.
    #[error("record: {0}")]
    Record(String),
    /// A parameter is out of range.
    #[error("{0}")]
    Parameter(String),
}

/// One report request, as the CLI and the HTTP API name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Report {
    /// Present in the country at the end of `date`, by nationality.
    Present { date: Date },
    /// Present and over their stay limit on `date`.
    Overstayers { date: Date },
    /// Every movement of one document.
    History { holder: HolderDigest },
    /// Crossings per checkpoint, day and hour in `from..=to`.
    Traffic { from: Date, to: Date },
    /// Terminals: last heartbeat, outbox, ledger, last event.
    Health,
    /// The latest rejected events and chain findings, plus sequence gaps.
    Anomalies { limit: i64 },
}

impl Report {
    /// The report's name (`present`, `overstayers`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Present { .. } => "present",
            Self::Overstayers { .. } => "overstayers",
            Self::History { .. } => "history",
            Self::Traffic { .. } => "traffic",
            Self::Health => "health",
            Self::Anomalies { .. } => "anomalies",
        }
    }
}

/// What the reports read besides the record.
pub struct ReportContext {
    /// Central's ledger replica: permits, extensions and registrations as grounds of stay.
    pub ledger: SledLedger,
    /// The terminals' stay rules.
    pub stay: StayPolicy,
}

/// Runs one report.
pub async fn run(
    client: &Client,
    context: &Arc<ReportContext>,
    report: &Report,
) -> Result<Value, ReportError> {
    match report {
        Report::Present { date } => present(client, *date).await,
        Report::Overstayers { date } => overstayers(client, context, *date).await,
        Report::History { holder } => history(client, holder).await,
        Report::Traffic { from, to } => traffic(client, *from, *to).await,
        Report::Health => health(client, context).await,
        Report::Anomalies { limit } => anomalies(client, *limit).await,
    }
}

/// Each document's last crossing (entry or exit; refused entries and referrals do not move
/// anyone, an entry admitted against the verdict does) up to `$1`, as the terminals count it.
const LAST_MOVEMENT: &str = "SELECT DISTINCT ON (holder) holder, direction, nationality, \
     issuing_state, document_type, document_number, local_date FROM movements \
     WHERE local_date <= $1 AND direction IN ('entry', 'exit') \
     ORDER BY holder, recorded_at DESC, seq DESC";

async fn present(client: &Client, date: Date) -> Result<Value, ReportError> {
    let rows = client
        .query(
            &format!(
                "SELECT nationality, count(*) FROM ({LAST_MOVEMENT}) last \
                 WHERE direction = 'entry' GROUP BY nationality ORDER BY nationality"
            ),
            &[&date],
        )
        .await?;
    let by_nationality: Vec<Value> = rows
        .iter()
        .map(|row| json!({"nationality": row.get::<_, String>(0), "present": row.get::<_, i64>(1)}))
        .collect();
    let total: i64 = rows.iter().map(|row| row.get::<_, i64>(1)).sum();
    Ok(json!({"report": "present", "date": date, "total": total, "by_nationality": by_nationality}))
}

/// A present traveller over the limit.
#[derive(Serialize)]
struct Overstayer<'a> {
    /// Orders overstayers with the same overstay (by digest); not shown.
    #[serde(skip)]
    holder: &'a [u8],
    issuing_state: &'a str,
    document_type: &'a str,
    document_number: &'a str,
    nationality: &'a str,
    entered: Date,
    days_used: u32,
    overstay_days: u32,
    latest_legal_exit: Option<Date>,
    binding_rule: Option<String>,
}

/// One document present on the report's date: its crossings up to that date, the last an entry.
/// The document's fields are read in place from the row (allocated once, in the JSON, and only
/// for an overstayer).
struct Present<'a> {
    holder: &'a [u8],
    nationality: &'a str,
    issuing_state: &'a str,
    document_type: &'a str,
    document_number: &'a str,
    movements: Vec<Movement>,
}

/// Documents that may be present on `$1`: first crossing on or before it, and either a latest
/// crossing that is an entry or crossings after it (then the stay on the date is read from the
/// crossings up to it).
const MAY_BE_PRESENT: &str = "SELECT holder, nationality, issuing_state, document_type, \
     document_number, dates, entries FROM stays WHERE dates[1] <= $1 \
     AND (entries[cardinality(entries)] OR dates[cardinality(dates)] > $1)";

/// Documents read from `stays` per assessment task: large enough that a task's start-up is
/// noise, small enough that the tasks keep every core busy while PostgreSQL is still sending.
const ASSESS_CHUNK: usize = 4_096;

async fn overstayers(
    client: &Client,
    context: &Arc<ReportContext>,
    date: Date,
) -> Result<Value, ReportError> {
    // One row per document from `stays` (kept at ingest), not every movement of the record.
    // Rows are decoded and assessed on the blocking pool chunk by chunk while the next ones are
    // still arriving, at most one task per core (plus the one being filled) at a time.
    let rows = client
        .query_typed_raw(MAY_BE_PRESENT, [(&date as &(dyn ToSql + Sync), Type::DATE)])
        .await?;
    futures::pin_mut!(rows);
    let in_flight_max = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let mut running = std::collections::VecDeque::new();
    let mut assessed = Assessed::default();
    let mut chunk = Vec::with_capacity(ASSESS_CHUNK);
    loop {
        let row = rows.try_next().await?;
        let end = row.is_none();
        chunk.extend(row);
        if chunk.len() == ASSESS_CHUNK || (end && !chunk.is_empty()) {
            if running.len() >= in_flight_max
                && let Some(oldest) = running.pop_front()
            {
                assessed.add(joined(oldest).await?);
            }
            let rows = std::mem::replace(&mut chunk, Vec::with_capacity(ASSESS_CHUNK));
            let context = Arc::clone(context);
            running.push_back(tokio::task::spawn_blocking(move || {
                assess_rows(&context, &rows, date)
            }));
        }
        if end {
            break;
        }
    }
    while let Some(task) = running.pop_front() {
        assessed.add(joined(task).await?);
    }
    let Assessed { present, mut found } = assessed;
    found.sort_by(|a, b| {
        b.overstay_days
            .cmp(&a.overstay_days)
            .then_with(|| a.holder.cmp(&b.holder))
    });
    let listed: Vec<Value> = found.into_iter().map(|found| found.json).collect();
    // The list is moved in: `json!` would serialise it into a second, deep copy (every
    // overstayer's object again, the largest cost of the report after the assessment).
    let mut report = json!({
        "report": "overstayers",
        "date": date,
        "present_assessed": present,
    });
    if let Some(fields) = report.as_object_mut() {
        fields.insert("overstayers".into(), Value::Array(listed));
    }
    Ok(report)
}

/// What the assessment tasks found: documents present on the date, and the overstayers.
#[derive(Default)]
struct Assessed {
    present: u64,
    found: Vec<Found>,
}

/// An overstayer as listed (turned into JSON by the task that found it), with its sort keys.
struct Found {
    overstay_days: u32,
    holder: Vec<u8>,
    json: Value,
}

impl Assessed {
    fn add(&mut self, part: Assessed) {
        self.present += part.present;
        self.found.extend(part.found);
    }
}

async fn joined(
    task: tokio::task::JoinHandle<Result<Assessed, ReportError>>,
) -> Result<Assessed, ReportError> {
    task.await
        .map_err(|e| ReportError::Record(format!("an assessment task failed: {e}")))?
}

/// Decodes and assesses one chunk of `stays` rows.
fn assess_rows(context: &ReportContext, rows: &[Row], date: Date) -> Result<Assessed, ReportError> {
    let mut assessed = Assessed::default();
    for row in rows {
        let Some(document) = present_on(row, date) else {
            continue;
        };
        assessed.present += 1;
        if let Some(overstayer) = assess(context, &document, date)? {
            let json = serde_json::to_value(&overstayer)
                .map_err(|e| ReportError::Record(format!("an overstayer as JSON: {e}")))?;
            assessed.found.push(Found {
                overstay_days: overstayer.overstay_days,
                holder: overstayer.holder.to_vec(),
                json,
            });
        }
    }
    Ok(assessed)
}

/// The document's crossings up to `date` when the last of them is an entry.
fn present_on(row: &Row, date: Date) -> Option<Present<'_>> {
    let dates: Vec<Date> = row.get(5);
    let entries: Vec<bool> = row.get(6);
    let movements: Vec<Movement> = dates
        .into_iter()
        .zip(entries)
        .filter(|(day, _)| *day <= date)
        .map(|(day, entry)| Movement {
            date: day,
            direction: if entry {
                stay::Direction::Entry
            } else {
                stay::Direction::Exit
            },
        })
        .collect();
    if movements.last()?.direction != stay::Direction::Entry {
        return None;
    }
    Some(Present {
        holder: row.get(0),
        nationality: row.get(1),
        issuing_state: row.get(2),
        document_type: row.get(3),
        document_number: row.get(4),
        movements,
    })
}

/// One present document's stay on `date`: an overstayer, or `None`.
fn assess<'a>(
    context: &ReportContext,
    document: &Present<'a>,
    date: Date,
) -> Result<Option<Overstayer<'a>>, ReportError> {
    let holder = document.holder;
    let digest = HolderDigest(holder.try_into().map_err(|_| {
        ReportError::Record(format!("a stored holder digest is {} bytes", holder.len()))
    })?);
    let movements = &document.movements;
    let grounds = grounds_of_stay(&context.ledger, &digest, movements)?;
    let assessment = context
        .stay
        .assess(document.nationality, movements, &grounds, date);
    if assessment.overstay_days == 0 {
        return Ok(None);
    }
    Ok(Some(Overstayer {
        holder,
        issuing_state: document.issuing_state,
        document_type: document.document_type,
        document_number: document.document_number,
        nationality: document.nationality,
        entered: movements.last().map_or(date, |m| m.date),
        days_used: assessment.days_used,
        overstay_days: assessment.overstay_days,
        latest_legal_exit: assessment.latest_legal_exit,
        binding_rule: assessment.binding_rule,
    }))
}

/// The grounds of stay central's ledger holds for a document, as the terminals derive them:
/// permits not revoked, stay extensions, place-of-stay registrations.
fn grounds_of_stay(
    ledger: &SledLedger,
    holder: &HolderDigest,
    movements: &[Movement],
) -> Result<Vec<GroundOfStay>, ReportError> {
    let ledger_error =
        |e: crate::ports::ledger::LedgerStoreError| ReportError::Ledger(e.to_string());
    let mut grounds = Vec::new();
    for held in ledger.permits_by_holder(holder).map_err(ledger_error)? {
        if ledger.is_revoked(&held.index.cti).map_err(ledger_error)? {
            continue;
        }
        let index = &held.index;
        let kind = match index.permit_type {
            PermitType::TemporaryResidence => GroundKind::TemporaryResidence,
            PermitType::PermanentResidence => GroundKind::PermanentResidence,
            PermitType::WorkPermit => GroundKind::WorkPermit,
            PermitType::RefugeeStatus => GroundKind::RefugeeStatus,
            PermitType::EvisaSingle | PermitType::EvisaMultiple => {
                let single = index.permit_type == PermitType::EvisaSingle;
                let used = single
                    && movements.iter().any(|m| {
                        m.direction == stay::Direction::Entry
                            && index.valid_from <= m.date
                            && m.date <= index.valid_until
                    });
                let entries = if single {
                    EVisaEntries::Single
                } else {
                    EVisaEntries::Multiple
                };
                GroundKind::EVisa { entries, used }
            }
            PermitType::StayExtension => GroundKind::StayExtension {
                until: index.valid_until,
            },
            PermitType::Registration => GroundKind::PlaceOfStayRegistration {
                registered_on: index.valid_from,
            },
        };
        grounds.push(GroundOfStay {
            kind,
            valid_from: index.valid_from,
            valid_until: index.valid_until,
        });
    }
    grounds.extend(crate::lane::ledger_grounds(ledger, holder).map_err(ledger_error)?);
    Ok(grounds)
}

async fn history(client: &Client, holder: &HolderDigest) -> Result<Value, ReportError> {
    // Parameter types given: one round trip (no separate prepare), along `movements_by_holder`.
    let rows = client
        .query_typed(
            "SELECT recorded_at, local_date, checkpoint, lane, direction, verdict, terminal, seq, \
             nationality, document_type, permit_cti, evisa FROM movements WHERE holder = $1 \
             ORDER BY recorded_at, terminal, seq",
            &[(&holder.0.as_slice(), Type::BYTEA)],
        )
        .await?;
    let movements: Vec<Value> = rows
        .iter()
        .map(|row| {
            json!({
                "recorded_at": row.get::<_, jiff::Timestamp>(0),
                "local_date": row.get::<_, Date>(1),
                "checkpoint": row.get::<_, String>(2),
                "lane": row.get::<_, String>(3),
                "direction": row.get::<_, String>(4),
                "verdict": row.get::<_, String>(5),
                "terminal": row.get::<_, String>(6),
                "seq": row.get::<_, i64>(7),
                "nationality": row.get::<_, String>(8),
                "document_type": row.get::<_, String>(9),
                "permit_cti": row.get::<_, Option<String>>(10),
                "evisa": row.get::<_, Option<String>>(11),
            })
        })
        .collect();
    Ok(json!({"report": "history", "movements": movements}))
}

async fn traffic(client: &Client, from: Date, to: Date) -> Result<Value, ReportError> {
    let days = (to - from).get_days();
    if !(0..TRAFFIC_DAYS_MAX).contains(&i64::from(days)) {
        return Err(ReportError::Parameter(format!(
            "traffic: want 0 to {TRAFFIC_DAYS_MAX} days between from and to, got {days}"
        )));
    }
    let rows = client
        .query(
            "SELECT checkpoint, local_date, \
             extract(hour FROM recorded_at AT TIME ZONE 'UTC' + make_interval(secs => utc_offset_s))::int4, \
             count(*) FILTER (WHERE direction = 'entry'), \
             count(*) FILTER (WHERE direction = 'exit'), \
             count(*) FILTER (WHERE direction = 'refused_entry') \
             FROM movements WHERE local_date BETWEEN $1 AND $2 \
             GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
            &[&from, &to],
        )
        .await?;
    let mut by_day: BTreeMap<(String, Date), [i64; 3]> = BTreeMap::new();
    let hours: Vec<Value> = rows
        .iter()
        .map(|row| {
            let counts = [row.get::<_, i64>(3), row.get(4), row.get(5)];
            let day = by_day.entry((row.get(0), row.get(1))).or_insert([0; 3]);
            for (sum, n) in day.iter_mut().zip(counts) {
                *sum += n;
            }
            json!({
                "checkpoint": row.get::<_, String>(0),
                "date": row.get::<_, Date>(1),
                "hour": row.get::<_, i32>(2),
                "entries": counts[0], "exits": counts[1], "refused": counts[2],
            })
        })
        .collect();
    let days: Vec<Value> = by_day
        .into_iter()
        .map(|((checkpoint, date), [entries, exits, refused])| {
            json!({"checkpoint": checkpoint, "date": date, "entries": entries, "exits": exits, "refused": refused})
        })
        .collect();
    Ok(json!({"report": "traffic", "from": from, "to": to, "by_hour": hours, "by_day": days}))
}

async fn health(client: &Client, context: &ReportContext) -> Result<Value, ReportError> {
    let rows = client
        .query(
            "WITH events AS (SELECT terminal, max(seq) AS last_seq, count(*) AS events, \
             max(recorded_at) AS last_event_at FROM movements GROUP BY terminal) \
             SELECT coalesce(h.terminal, e.terminal), h.heartbeat_at, h.received_at, \
             h.outbox_depth, h.ledger_age_s, h.clock_suspect, h.devices_up, e.last_seq, \
             e.events, e.last_event_at \
             FROM terminal_health h FULL JOIN events e ON e.terminal = h.terminal ORDER BY 1",
            &[],
        )
        .await?;
    let terminals: Vec<Value> = rows
        .iter()
        .map(|row| {
            let last_seq = row.get::<_, Option<i64>>(7);
            let events = row.get::<_, Option<i64>>(8);
            json!({
                "terminal": row.get::<_, String>(0),
                "last_heartbeat_at": row.get::<_, Option<jiff::Timestamp>>(1),
                "heartbeat_received_at": row.get::<_, Option<jiff::Timestamp>>(2),
                "outbox_depth": row.get::<_, Option<i64>>(3),
                "ledger_age_s": row.get::<_, Option<i64>>(4),
                "clock_suspect": row.get::<_, Option<bool>>(5),
                "devices_up": row.get::<_, Option<Vec<String>>>(6),
                "last_seq": last_seq,
                "events": events,
                "missing_events": last_seq.zip(events).map(|(last, n)| last - n),
                "last_event_at": row.get::<_, Option<jiff::Timestamp>>(9),
            })
        })
        .collect();
    let cursor = context
        .ledger
        .cursor()
        .map_err(|e| ReportError::Ledger(e.to_string()))?;
    let checkpoint_time = context
        .ledger
        .checkpoint_time()
        .map_err(|e| ReportError::Ledger(e.to_string()))?;
    let position = client
        .query(
            "SELECT consumer, stream_seq FROM consumer_position ORDER BY consumer",
            &[],
        )
        .await?
        .iter()
        .map(|row| json!({"consumer": row.get::<_, String>(0), "stream_seq": row.get::<_, i64>(1)}))
        .collect::<Vec<_>>();
    Ok(json!({
        "report": "health",
        "central": {
            "ledger_seq": cursor.seq,
            "ledger_checkpoint_time": checkpoint_time,
            "consumers": position,
        },
        "terminals": terminals,
    }))
}

async fn anomalies(client: &Client, limit: i64) -> Result<Value, ReportError> {
    if !(1..=ANOMALIES_LIMIT_MAX).contains(&limit) {
        return Err(ReportError::Parameter(format!(
            "anomalies: limit must be 1 to {ANOMALIES_LIMIT_MAX}"
        )));
    }
    let rows = client
        .query(
            "SELECT id, found_at, stream_seq, terminal, seq, kind, detail FROM anomalies \
             ORDER BY id DESC LIMIT $1",
            &[&limit],
        )
        .await?;
    let found: Vec<Value> = rows
        .iter()
        .map(|row| {
            json!({
                "id": row.get::<_, i64>(0),
                "found_at": row.get::<_, jiff::Timestamp>(1),
                "stream_seq": row.get::<_, i64>(2),
                "terminal": row.get::<_, Option<String>>(3),
                "seq": row.get::<_, Option<i64>>(4),
                "kind": row.get::<_, String>(5),
                "detail": row.get::<_, String>(6),
            })
        })
        .collect();
    let gaps = client
        .query(
            "SELECT terminal, seq + 1, next - 1 FROM (SELECT terminal, seq, \
             lead(seq) OVER (PARTITION BY terminal ORDER BY seq) AS next FROM movements) s \
             WHERE next > seq + 1 \
             UNION ALL SELECT terminal, 1, min(seq) - 1 FROM movements GROUP BY terminal \
             HAVING min(seq) > 1 ORDER BY 1, 2",
            &[],
        )
        .await?
        .iter()
        .map(|row| json!({"terminal": row.get::<_, String>(0), "from": row.get::<_, i64>(1), "to": row.get::<_, i64>(2)}))
        .collect::<Vec<_>>();
    Ok(json!({"report": "anomalies", "anomalies": found, "gaps": gaps}))
}
