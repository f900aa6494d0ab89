//! `ledger status|lookup|verify` against a replica a running checkpointd holds: the tool asks the daemon
//! over the API socket it advertised in the replica's directory (`adapters::api::ledger`)
//! instead of fighting it for the replica's lock.

use std::path::Path;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

use crate::adapters::api::ledger::{REPLICA_HEADER, SOCKET_ADVERT};

/// `GET /api/v1/ledger/status` of the daemon at `socket`, holding the replica at `data`.
pub async fn status(data: &Path, socket: &Path, max_age_secs: i64) -> Result<Value, String> {
    get(
        data,
        socket,
        &format!("/api/v1/ledger/status?max_age_secs={max_age_secs}"),
    )
    .await
}

/// `GET /api/v1/ledger/verify` of the daemon at `socket`, holding the replica at `data`, against
/// the root public keys `roots` (hex) with `threshold`.
pub async fn verify(
    data: &Path,
    socket: &Path,
    roots: &[String],
    threshold: usize,
) -> Result<Value, String> {
    get(
        data,
        socket,
        &format!(
            "/api/v1/ledger/verify?threshold={threshold}&roots={}",
            roots.join(",")
        ),
    )
    .await
}

/// `GET /api/v1/ledger/lookup` of the daemon at `socket`, holding the replica at `data`, for
/// `document` or `cti` on `day`.
pub async fn lookup(
    data: &Path,
    socket: &Path,
    document: Option<&str>,
    cti: Option<&str>,
    day: jiff::civil::Date,
) -> Result<Value, String> {
    let mut query = format!("on={day}");
    for (name, value) in [("document", document), ("cti", cti)] {
        if let Some(value) = value {
            query.push_str(&format!(
                "&{name}={}",
                utf8_percent_encode(value, NON_ALPHANUMERIC)
            ));
        }
    }
    get(data, socket, &format!("/api/v1/ledger/lookup?{query}")).await
}

/// One request over the Unix socket; a refusal becomes its status and the daemon's reason, and
/// an answer about another replica than `data` (a stale advertisement) is refused.
async fn get(data: &Path, socket: &Path, path_and_query: &str) -> Result<Value, String> {
    let asked = |e: &dyn std::fmt::Display| {
        format!(
            "asking the checkpointd that holds the replica (socket {}): {e}",
            socket.display()
        )
    };
    let stream = tokio::net::UnixStream::connect(socket)
        .await
        .map_err(|e| asked(&e))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| asked(&e))?;
    tokio::spawn(connection);
    let request = hyper::Request::get(path_and_query)
        .header(hyper::header::HOST, "localhost")
        .body(Empty::<Bytes>::new())
        .map_err(|e| asked(&e))?;
    let response = sender.send_request(request).await.map_err(|e| asked(&e))?;
    let status = response.status();
    let answered_for = response
        .headers()
        .get(REPLICA_HEADER)
        .and_then(|value| value.to_str().ok())
        .map(std::path::PathBuf::from);
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| asked(&e))?
        .to_bytes();
    let value: Value = serde_json::from_slice(&body)
        .map_err(|e| asked(&format!("answer is not JSON ({status}): {e}")))?;
    if !status.is_success() {
        let reason = value
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("no reason given");
        return Err(asked(&format!("{status}: {reason}")));
    }
    let wanted = std::fs::canonicalize(data).map_err(|e| asked(&e))?;
    if answered_for.as_deref() != Some(wanted.as_path()) {
        return Err(asked(&format!(
            "it answered for the replica {}, not this one (a stale {SOCKET_ADVERT}?)",
            answered_for.map_or("(not named)".into(), |p| p.display().to_string())
        )));
    }
    Ok(value)
}
