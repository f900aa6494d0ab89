//! The running terminal's ledger replica on the API, for `checkpointctl ledger
//! status|lookup|verify` while the daemon holds the replica's lock: `GET /api/v1/ledger/status`,
//! `/lookup` and `/verify` answer exactly what the tool prints from a replica it opens
//! (`adapters::ledger::report`, `adapters::ledger::verify`). The daemon advertises its socket in the replica's directory
//! (`api.socket`), so the tool finds it from `--data` alone.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::adapters::ledger::report::{self, LookupKey};
use crate::adapters::ledger::verify::verify_replica;
use crate::core::ledger::{RootKey, RootSet};
use crate::ports::clock::Clock;
use crate::ports::ledger::{LedgerStore, LedgerStoreError};

/// The file in the replica's directory that names the socket of the daemon holding it.
pub const SOCKET_ADVERT: &str = "api.socket";
/// The response header naming the replica that answered (its canonical directory), so the tool
/// never takes another terminal's answer for the replica it was given.
pub const REPLICA_HEADER: &str = "x-checkpointd-replica";

/// Default of `max_age_secs` (what `ledger status` defaults to).
const MAX_AGE_SECS_DEFAULT: i64 = 86_400;

/// What the ledger routes read.
#[derive(Clone)]
pub struct ReplicaRoutes {
    /// The daemon's replica.
    pub ledger: Arc<dyn LedgerStore + Send + Sync>,
    /// The clock the replica's age is measured with.
    pub clock: Arc<dyn Clock>,
    /// The replica's directory (canonical), sent in [`REPLICA_HEADER`].
    pub directory: PathBuf,
}

/// How often a verification is run again when replication moved the replica under it.
const VERIFY_ATTEMPTS: usize = 3;

/// `GET /api/v1/ledger/status`, `/lookup` and `/verify`; authorised like every API route.
pub fn routes(replica: ReplicaRoutes) -> Router {
    Router::new()
        .route("/api/v1/ledger/status", get(status))
        .route("/api/v1/ledger/lookup", get(lookup))
        .route("/api/v1/ledger/verify", get(verify))
        .with_state(replica)
}

/// Writes `socket` (made absolute) into `<replica>/api.socket`, replacing what a predecessor
/// left, so `checkpointctl ledger` finds the daemon that holds the replica.
pub fn advertise(replica: &Path, socket: &Path) -> std::io::Result<()> {
    let socket = std::path::absolute(socket)?;
    let advert = replica.join(SOCKET_ADVERT);
    let staged = replica.join(format!("{SOCKET_ADVERT}.new"));
    std::fs::write(&staged, format!("{}\n", socket.display()))?;
    std::fs::rename(staged, advert)
}

/// The socket the daemon holding the replica at `replica` advertised; `None` when none did.
pub fn advertised(replica: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(replica.join(SOCKET_ADVERT)).ok()?;
    let path = text.trim();
    (!path.is_empty()).then(|| PathBuf::from(path))
}

#[derive(Debug, Deserialize)]
struct StatusQuery {
    max_age_secs: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct LookupQuery {
    document: Option<String>,
    cti: Option<String>,
    on: Option<jiff::civil::Date>,
}

#[derive(Debug, Deserialize)]
struct VerifyQuery {
    /// The root public keys the checkpoint must be signed by, hex, comma-separated.
    roots: String,
    threshold: usize,
}

type Rejected<Q> = Result<Query<Q>, axum::extract::rejection::QueryRejection>;

async fn status(State(replica): State<ReplicaRoutes>, query: Rejected<StatusQuery>) -> Response {
    let max_age = match query {
        Ok(Query(q)) => q.max_age_secs.unwrap_or(MAX_AGE_SECS_DEFAULT),
        Err(rejection) => return bad_request(&rejection.body_text()),
    };
    let now = replica.clock.now();
    let directory = replica.directory.clone();
    let read =
        tokio::task::spawn_blocking(move || report::status(replica.ledger.as_ref(), now, max_age))
            .await;
    answer(&directory, read)
}

async fn lookup(State(replica): State<ReplicaRoutes>, query: Rejected<LookupQuery>) -> Response {
    let query = match query {
        Ok(Query(q)) => q,
        Err(rejection) => return bad_request(&rejection.body_text()),
    };
    let key = match LookupKey::parse(query.document.as_deref(), query.cti.as_deref()) {
        Ok(key) => key,
        Err(message) => return bad_request(&message),
    };
    let day = query
        .on
        .unwrap_or_else(|| replica.clock.now().to_zoned(jiff::tz::TimeZone::UTC).date());
    let directory = replica.directory.clone();
    let read =
        tokio::task::spawn_blocking(move || report::lookup(replica.ledger.as_ref(), &key, day))
            .await;
    answer(&directory, read)
}

/// `ledger verify` on the daemon's replica, against the roots the tool was given. The chain is
/// recomputed on the blocking pool while lanes keep deciding; when replication applied a batch
/// meanwhile (the cursor moved), the verdict could mix two states and the run is repeated.
async fn verify(State(replica): State<ReplicaRoutes>, query: Rejected<VerifyQuery>) -> Response {
    let roots = match query {
        Ok(Query(q)) => match root_set(&q.roots, q.threshold) {
            Ok(roots) => roots,
            Err(message) => return bad_request(&message),
        },
        Err(rejection) => return bad_request(&rejection.body_text()),
    };
    let directory = replica.directory.clone();
    let verified = tokio::task::spawn_blocking(move || {
        let store = replica.ledger.as_ref();
        for _ in 0..VERIFY_ATTEMPTS {
            let before = store.cursor()?;
            let verdict = verify_replica(store, &roots);
            if store.cursor()? == before {
                return Ok(Some(match verdict {
                    Ok(seq) => json!({"ok": true, "applied_seq": seq}),
                    Err(reason) => json!({"ok": false, "error": reason}),
                }));
            }
        }
        Ok(None)
    })
    .await;
    match verified {
        Ok(Ok(None)) => failure(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!(
                "replication applied batches during each of {VERIFY_ATTEMPTS} verifications: \
                 try again"
            ),
        ),
        Ok(Ok(Some(value))) => answer(&directory, Ok(Ok(value))),
        Ok(Err(error)) => answer(&directory, Ok(Err(error))),
        Err(error) => answer(&directory, Err(error)),
    }
}

/// The root set of `roots` (hex public keys, comma-separated) with `threshold`.
fn root_set(roots: &str, threshold: usize) -> Result<RootSet, String> {
    let mut keys = Vec::new();
    for text in roots.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let raw = hex::decode(text).map_err(|e| format!("root key {text:?}: {e}"))?;
        let bytes: [u8; 32] = raw
            .as_slice()
            .try_into()
            .map_err(|_| format!("root key {text:?} is not 32 bytes"))?;
        keys.push(RootKey::from_bytes(&bytes).map_err(|e| e.to_string())?);
    }
    RootSet::new(keys, threshold).map_err(|e| e.to_string())
}

fn answer(
    directory: &Path,
    read: Result<Result<Value, LedgerStoreError>, tokio::task::JoinError>,
) -> Response {
    match read {
        Ok(Ok(value)) => (
            [(REPLICA_HEADER, directory.display().to_string())],
            axum::Json(value),
        )
            .into_response(),
        Ok(Err(error)) => failure(StatusCode::INTERNAL_SERVER_ERROR, &error.to_string()),
        Err(error) => failure(StatusCode::INTERNAL_SERVER_ERROR, &error.to_string()),
    }
}

fn bad_request(message: &str) -> Response {
    failure(StatusCode::BAD_REQUEST, message)
}

fn failure(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}
