//! The reports API and the central-ops page, on loopback, behind the operator token:
//! `GET /api/v1/reports/<name>` returns the report as JSON; `/` serves `central.html`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use jiff::civil::Date;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;

use super::reports::{self, Report, ReportContext, ReportError};
use crate::config::ApiToken;
use crate::core::document::HolderDigest;

/// The central-ops page: plain HTML and JavaScript, no build step.
const CENTRAL_HTML: &str = include_str!("central.html");
/// Anomalies listed when the request names no limit.
const ANOMALIES_LIMIT_DEFAULT: i64 = 200;

/// What the handlers share.
#[derive(Clone)]
pub struct HttpState {
    /// The record (one connection; tokio-postgres pipelines concurrent queries on it).
    pub client: Arc<tokio_postgres::Client>,
    /// Ledger replica and stay rules.
    pub context: Arc<ReportContext>,
    /// SHA-256 of the operator token: compared digest to digest.
    pub token_digest: [u8; 32],
}

impl HttpState {
    /// State for `client`, `context` and the operator `token`.
    pub fn new(
        client: Arc<tokio_postgres::Client>,
        context: Arc<ReportContext>,
        token: &ApiToken,
    ) -> Self {
        Self {
            client,
            context,
            token_digest: Sha256::digest(token.expose().as_bytes()).into(),
        }
    }
}

/// The routes.
pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/api/v1/reports/{name}", get(report))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authorise,
        ))
        .route("/", get(page))
        .with_state(state)
}

/// Serves until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    state: HttpState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn page() -> Html<&'static str> {
    Html(CENTRAL_HTML)
}

async fn authorise(State(state): State<HttpState>, request: Request, next: Next) -> Response {
    if !token_matches(&state.token_digest, request.headers()) {
        tracing::warn!(message = "report request refused: no or wrong operator token", path = %request.uri().path());
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(
                json!({"error": "not authorised: send Authorization: Bearer <operator token>"}),
            ),
        )
            .into_response();
    }
    next.run(request).await
}

fn token_matches(expected: &[u8; 32], headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .is_some_and(|given| {
            let digest: [u8; 32] = Sha256::digest(given.as_bytes()).into();
            digest == *expected
        })
}

/// Reads a report request from its name and query parameters.
pub fn parse_report(name: &str, params: &HashMap<String, String>) -> Result<Report, String> {
    let date = |key: &str| -> Result<Date, String> {
        let text = params
            .get(key)
            .ok_or_else(|| format!("{name}: parameter `{key}` (YYYY-MM-DD) is required"))?;
        text.parse()
            .map_err(|e| format!("{name}: parameter `{key}`: {e}"))
    };
    match name {
        "present" => Ok(Report::Present {
            date: date("date")?,
        }),
        "overstayers" => Ok(Report::Overstayers {
            date: date("date")?,
        }),
        "traffic" => Ok(Report::Traffic {
            from: date("from")?,
            to: date("to")?,
        }),
        "health" => Ok(Report::Health),
        "anomalies" => {
            let limit = match params.get("limit") {
                Some(text) => text
                    .parse()
                    .map_err(|e| format!("anomalies: parameter `limit`: {e}"))?,
                None => ANOMALIES_LIMIT_DEFAULT,
            };
            Ok(Report::Anomalies { limit })
        }
        "history" => {
            let text = params.get("holder").ok_or_else(|| {
                "history: parameter `holder` (hex SHA-256 of `STATE:NUMBER`) is required"
                    .to_string()
            })?;
            let mut digest = [0u8; 32];
            hex::decode_to_slice(text, &mut digest)
                .map_err(|e| format!("history: parameter `holder`: {e}"))?;
            Ok(Report::History {
                holder: HolderDigest(digest),
            })
        }
        other => Err(format!(
            "unknown report `{other}`: present, overstayers, history, traffic, health, anomalies"
        )),
    }
}

async fn report(
    State(state): State<HttpState>,
    Path(name): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let request = match parse_report(&name, &params) {
        Ok(request) => request,
        Err(message) => {
            tracing::info!(message = "report refused", report = %name.chars().take(32).collect::<String>(), status = 400);
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({"error": message})),
            )
                .into_response();
        }
    };
    let started = Instant::now();
    let result = reports::run(&state.client, &state.context, &request).await;
    let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    // The report's name and timing only: parameters may name a document.
    match result {
        Ok(value) => {
            tracing::info!(
                message = "report served",
                report = request.name(),
                elapsed_ms
            );
            axum::Json(value).into_response()
        }
        Err(error) => {
            let status = match error {
                ReportError::Parameter(_) => StatusCode::BAD_REQUEST,
                _ => StatusCode::SERVICE_UNAVAILABLE,
            };
            tracing::warn!(message = "report failed", report = request.name(), elapsed_ms, %error);
            (status, axum::Json(json!({"error": error.to_string()}))).into_response()
        }
    }
}
