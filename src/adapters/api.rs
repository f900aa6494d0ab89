//! The local API for the officer console and the kiosk screen: JSON over a group-restricted Unix
//! socket and, optionally, loopback HTTP with a bearer token; a live server-sent-event stream of
//! scans and verdicts; the console page itself.
//!
//! Architecture invariant: the API decides nothing. It forwards commands to the lane through a
//! bounded channel and relays what the lane publishes; every request is authorised first.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::Router;
use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::IncomingStream;
use futures::Stream;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

/// Capacity of the live event stream; a console that falls this far behind is told it lagged.
pub const API_STREAM_EVENTS_MAX: usize = 256;
/// Capacity of the command channel to the lane.
pub const API_COMMANDS_MAX: usize = 32;
/// How long a request waits for the lane to answer a command.
pub const API_COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

/// The console page, served at `/`.
const CONSOLE_HTML: &str = include_str!("console.html");

/// What an officer (or the kiosk screen) asks the lane to do.
#[derive(Debug)]
pub enum ApiCommand {
    /// Confirm the verdict of a traveller session, or override it.
    Confirm {
        /// The request body.
        request: ConfirmRequest,
        /// Where the lane answers.
        reply: oneshot::Sender<Result<Value, ApiRefusal>>,
    },
    /// Close the current traveller session and start a new one.
    NewTraveller {
        /// Where the lane answers.
        reply: oneshot::Sender<Result<Value, ApiRefusal>>,
    },
    /// Stay figures for a document and nationality, for planning with a traveller.
    StayLookup {
        /// The request.
        request: StayLookupRequest,
        /// Where the lane answers.
        reply: oneshot::Sender<Result<Value, ApiRefusal>>,
    },
}

/// Body of `POST /api/v1/confirm`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ConfirmRequest {
    /// The traveller session the officer saw.
    pub session: u64,
    /// `admit` or `refuse`.
    pub decision: OfficerDecision,
    /// Required when the decision goes against the verdict.
    #[serde(default)]
    pub override_reason: Option<String>,
    /// Officer identifier (badge number).
    pub officer: String,
}

/// The officer's confirmation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OfficerDecision {
    /// Let the traveller cross and record it.
    Admit,
    /// Refuse the traveller and record the refusal.
    Refuse,
}

/// Query of `GET /api/v1/stay`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct StayLookupRequest {
    /// Issuing state of the document.
    pub issuing_state: String,
    /// The document number.
    pub document_number: String,
    /// Nationality (selects the stay rules).
    pub nationality: String,
    /// The date to evaluate at (`YYYY-MM-DD`); today when absent.
    #[serde(default)]
    pub on: Option<String>,
}

/// Why the lane refused a command: an HTTP status and a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRefusal {
    /// HTTP status to answer with.
    pub status: u16,
    /// What went wrong.
    pub message: String,
}

/// Who may use the API.
#[derive(Debug, Clone)]
pub struct ApiAccess {
    /// Bearer token required on loopback HTTP.
    pub token: Option<String>,
    /// Group whose members may use the Unix socket (besides the daemon's own user and root).
    pub socket_gid: Option<u32>,
}

/// The shared state behind every handler.
#[derive(Clone)]
pub struct ApiState {
    events: broadcast::Sender<Value>,
    commands: mpsc::Sender<ApiCommand>,
    status: watch::Receiver<Value>,
    access: ApiAccess,
    /// Routes served without authorisation (`/healthz`, `/metrics`: no personal data).
    open_routes: Router,
}

impl ApiState {
    /// Builds the state from the lane's channels.
    pub fn new(
        events: broadcast::Sender<Value>,
        commands: mpsc::Sender<ApiCommand>,
        status: watch::Receiver<Value>,
        access: ApiAccess,
    ) -> Self {
        Self {
            events,
            commands,
            status,
            access,
            open_routes: Router::new(),
        }
    }

    /// Adds routes that need no token or group (`adapters::health::routes`).
    pub fn with_open_routes(mut self, routes: Router) -> Self {
        self.open_routes = routes;
        self
    }
}

/// Errors starting the API listeners.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The socket or port could not be bound.
    #[error("cannot listen on {place}: {source}")]
    Bind {
        /// The socket path or address.
        place: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The socket's permissions could not be set.
    #[error("cannot set permissions of {path}: {source}")]
    Permissions {
        /// The socket path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Peer of a request: the Unix credentials, or none for loopback HTTP.
#[derive(Debug, Clone, Copy)]
pub enum Peer {
    /// A Unix-socket client with its credentials.
    Unix {
        /// Client user id.
        uid: u32,
        /// Client primary group id.
        gid: u32,
    },
    /// A loopback TCP client: authorised by token.
    Tcp,
}

impl Connected<IncomingStream<'_, UnixListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, UnixListener>) -> Self {
        match stream.io().peer_cred() {
            Ok(credentials) => Peer::Unix {
                uid: credentials.uid(),
                gid: credentials.gid(),
            },
            // Without credentials the peer is treated as a stranger: uid/gid that match nothing.
            Err(_) => Peer::Unix {
                uid: u32::MAX,
                gid: u32::MAX,
            },
        }
    }
}

impl Connected<IncomingStream<'_, TcpListener>> for Peer {
    fn connect_info(_stream: IncomingStream<'_, TcpListener>) -> Self {
        Peer::Tcp
    }
}

/// The router with every route, authorisation applied.
pub fn router(state: ApiState) -> Router {
    let open_routes = state.open_routes.clone();
    Router::new()
        .route("/", get(console))
        .route("/api/v1/status", get(status))
        .route("/api/v1/stream", get(stream))
        .route("/api/v1/confirm", post(confirm))
        .route("/api/v1/new-traveller", post(new_traveller))
        .route("/api/v1/stay", get(stay))
        .layer(middleware::from_fn_with_state(state.clone(), authorise))
        .with_state(state)
        .merge(open_routes)
}

/// Serves the API on a Unix socket, mode 0660, until `shutdown` resolves.
pub async fn serve_unix(
    path: &Path,
    state: ApiState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ApiError> {
    // A socket left by a killed daemon would make bind fail; it is ours to remove.
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path).map_err(|source| ApiError::Bind {
        place: path.display().to_string(),
        source,
    })?;
    set_socket_mode(path)?;
    let service = router(state).into_make_service_with_connect_info::<Peer>();
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|source| ApiError::Bind {
            place: path.display().to_string(),
            source,
        })
}

fn set_socket_mode(path: &Path) -> Result<(), ApiError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(|source| {
        ApiError::Permissions {
            path: path.to_path_buf(),
            source,
        }
    })
}

/// Binds loopback HTTP. Returns the listener so the caller learns the port before serving.
pub async fn bind_http(address: &str) -> Result<TcpListener, ApiError> {
    let listener = TcpListener::bind(address)
        .await
        .map_err(|source| ApiError::Bind {
            place: address.to_string(),
            source,
        })?;
    let local = listener.local_addr().map_err(|source| ApiError::Bind {
        place: address.to_string(),
        source,
    })?;
    if !local.ip().is_loopback() {
        return Err(ApiError::Bind {
            place: address.to_string(),
            source: std::io::Error::other("the HTTP API listens on loopback addresses only"),
        });
    }
    Ok(listener)
}

/// Serves the API on a bound loopback listener until `shutdown` resolves.
pub async fn serve_http(
    listener: TcpListener,
    state: ApiState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ApiError> {
    let place = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let service = router(state).into_make_service_with_connect_info::<Peer>();
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|source| ApiError::Bind { place, source })
}

async fn authorise(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    request: Request,
    next: Next,
) -> Response {
    let allowed = match peer {
        Peer::Unix { uid, gid } => {
            let own_uid = nix::unistd::getuid().as_raw();
            uid == 0 || uid == own_uid || state.access.socket_gid == Some(gid)
        }
        Peer::Tcp => token_matches(&state.access, request.headers(), request.uri().query()),
    };
    if !allowed {
        tracing::warn!(message = "api request refused", ?peer, path = %request.uri().path());
        return refusal(
            StatusCode::FORBIDDEN,
            "not authorised: wrong group or token",
        );
    }
    next.run(request).await
}

/// Accepts `Authorization: Bearer T`, or `?token=T` (so the console page can be opened by URL and
/// the event stream, which browsers open without headers, can authenticate).
fn token_matches(access: &ApiAccess, headers: &HeaderMap, query: Option<&str>) -> bool {
    let Some(expected) = access.token.as_deref() else {
        return false;
    };
    let from_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    let from_query = query.and_then(|query| {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix("token="))
    });
    [from_header, from_query]
        .into_iter()
        .flatten()
        .any(|given| constant_time_eq(given.as_bytes(), expected.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn refusal(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

async fn console() -> Html<&'static str> {
    Html(CONSOLE_HTML)
}

async fn status(State(state): State<ApiState>) -> axum::Json<Value> {
    axum::Json(state.status.borrow().clone())
}

async fn stream(
    State(state): State<ApiState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let receiver = state.events.subscribe();
    let initial = state.status.borrow().clone();
    let first = futures::stream::once(async move {
        Ok(Event::default().event("status").data(initial.to_string()))
    });
    let rest = futures::stream::unfold(receiver, |mut receiver| async move {
        let event = match receiver.recv().await {
            Ok(value) => {
                let kind = value
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("message");
                Event::default().event(kind).data(value.to_string())
            }
            Err(broadcast::error::RecvError::Lagged(n_missed)) => Event::default()
                .event("lagged")
                .data(json!({ "type": "lagged", "missed": n_missed }).to_string()),
            Err(broadcast::error::RecvError::Closed) => return None,
        };
        Some((Ok(event), receiver))
    });
    Sse::new(futures::StreamExt::chain(first, rest)).keep_alive(KeepAlive::default())
}

async fn ask(
    state: &ApiState,
    command: impl FnOnce(oneshot::Sender<Result<Value, ApiRefusal>>) -> ApiCommand,
) -> Response {
    let (reply, answer) = oneshot::channel();
    if state.commands.try_send(command(reply)).is_err() {
        return refusal(StatusCode::SERVICE_UNAVAILABLE, "lane busy: try again");
    }
    match tokio::time::timeout(API_COMMAND_TIMEOUT, answer).await {
        Ok(Ok(Ok(value))) => axum::Json(value).into_response(),
        Ok(Ok(Err(refused))) => {
            let status = StatusCode::from_u16(refused.status).unwrap_or(StatusCode::CONFLICT);
            refusal(status, &refused.message)
        }
        Ok(Err(_)) => refusal(StatusCode::SERVICE_UNAVAILABLE, "lane stopped"),
        Err(_) => refusal(StatusCode::GATEWAY_TIMEOUT, "lane did not answer in time"),
    }
}

async fn confirm(
    State(state): State<ApiState>,
    body: Result<axum::Json<ConfirmRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    match body {
        Ok(axum::Json(request)) => {
            ask(&state, |reply| ApiCommand::Confirm { request, reply }).await
        }
        Err(rejection) => refusal(StatusCode::BAD_REQUEST, &rejection.body_text()),
    }
}

async fn new_traveller(State(state): State<ApiState>) -> Response {
    ask(&state, |reply| ApiCommand::NewTraveller { reply }).await
}

async fn stay(
    State(state): State<ApiState>,
    query: Result<Query<StayLookupRequest>, axum::extract::rejection::QueryRejection>,
) -> Response {
    match query {
        Ok(Query(request)) => ask(&state, |reply| ApiCommand::StayLookup { request, reply }).await,
        Err(rejection) => refusal(StatusCode::BAD_REQUEST, &rejection.body_text()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_from_header_or_query() {
        let access = ApiAccess {
            token: Some("s3cret".into()),
            socket_gid: None,
        };
        let mut headers = HeaderMap::new();
        assert!(!token_matches(&access, &headers, None));
        assert!(token_matches(&access, &headers, Some("a=1&token=s3cret")));
        assert!(!token_matches(&access, &headers, Some("token=s3cre")));
        headers.insert(
            header::AUTHORIZATION,
            "Bearer s3cret".parse().expect("ascii header"),
        );
        assert!(token_matches(&access, &headers, None));
    }

    #[test]
    fn no_token_configured_means_no_http_access() {
        let access = ApiAccess {
            token: None,
            socket_gid: None,
        };
        assert!(!token_matches(&access, &HeaderMap::new(), Some("token=")));
    }
}
