//! The local API for the officer console and the kiosk screen: JSON over a group-restricted Unix
//! socket and, optionally, loopback HTTP with a bearer token; a live server-sent-event stream of
//! scans and verdicts; the console page itself.
//!
//! Architecture invariant: the API decides nothing. It forwards commands to the lane through a
//! bounded channel and relays what the lane publishes; every request is authorised first.

use std::convert::Infallible;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post, put};
use futures::Stream;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{Semaphore, broadcast, mpsc, oneshot, watch};

use crate::adapters::booth::{self, Booth, SignInRefused, SignedIn};
use crate::adapters::catalogue;
use crate::adapters::face_image;
use crate::adapters::listener::{self, Incoming, RefusalLimiter};
use crate::core::lds::dg2::FaceImage;
use crate::core::officer::{self, Action, Language, Role};

pub mod ledger;

/// Capacity of the live event stream; a console that falls this far behind is told it lagged.
pub const API_STREAM_EVENTS_MAX: usize = 256;
/// Capacity of the command channel to the lane.
pub const API_COMMANDS_MAX: usize = 32;
/// How long a request waits for the lane to answer a command.
pub const API_COMMAND_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest `Idempotency-Key` accepted (visible ASCII characters).
pub const IDEMPOTENCY_KEY_CHARS_MAX: usize = 128;
/// Event streams open at once (both listeners together); one more is answered `503`.
pub const API_STREAMS_MAX: usize = 16;

// The commands and refusals are the lane's (`lane::commands`); the API carries them and answers
// each refusal with its HTTP status (`status_of`).
pub use crate::lane::commands::{
    AlertAckRequest, CoSigned, ConfirmRequest, LaneCommand as ApiCommand, OfficerDecision,
    OverrideRequest, ReferRequest, Refusal as ApiRefusal, RefusalKind, SecondLineRequest,
    StayLookupRequest, WatchlistReviewRequest,
};

/// The HTTP status a lane refusal is answered with.
fn status_of(kind: RefusalKind) -> StatusCode {
    match kind {
        RefusalKind::Invalid => StatusCode::BAD_REQUEST,
        RefusalKind::NotSignedIn => StatusCode::UNAUTHORIZED,
        RefusalKind::Forbidden => StatusCode::FORBIDDEN,
        RefusalKind::Conflict => StatusCode::CONFLICT,
        RefusalKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
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
    /// Further routes behind the same authorisation (`ledger::routes`).
    guarded_routes: Router,
    streams: Arc<Semaphore>,
    refusals: Arc<RefusalLimiter>,
    booth: Arc<Booth>,
}

impl ApiState {
    /// Builds the state from the lane's channels and the officers' sessions.
    pub fn new(
        events: broadcast::Sender<Value>,
        commands: mpsc::Sender<ApiCommand>,
        status: watch::Receiver<Value>,
        access: ApiAccess,
        booth: Arc<Booth>,
    ) -> Self {
        Self {
            events,
            commands,
            status,
            access,
            open_routes: Router::new(),
            guarded_routes: Router::new(),
            streams: Arc::new(Semaphore::new(API_STREAMS_MAX)),
            refusals: Arc::default(),
            booth,
        }
    }

    /// Adds routes that need no token or group (`adapters::health::routes`).
    pub fn with_open_routes(mut self, routes: Router) -> Self {
        self.open_routes = routes;
        self
    }

    /// Adds routes served behind the same authorisation as the rest (`ledger::routes`).
    pub fn with_guarded_routes(mut self, routes: Router) -> Self {
        self.guarded_routes = routes;
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
    /// The socket's permissions or group could not be set.
    #[error("cannot set permissions of {path}: {source}")]
    Permissions {
        /// The socket path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Peer of a request: the Unix credentials, or the loopback address for HTTP.
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
    Tcp(IpAddr),
}

impl Peer {
    /// The key the refusal limiter counts this peer under.
    fn key(&self) -> String {
        match self {
            Peer::Unix { uid, .. } => format!("uid {uid}"),
            Peer::Tcp(address) => address.to_string(),
        }
    }
}

/// The Unix socket as a source of connections with peer credentials.
struct UnixIncoming(UnixListener);

impl Incoming for UnixIncoming {
    type Io = tokio::net::UnixStream;
    type Peer = Peer;
    async fn accept(&self) -> std::io::Result<(Self::Io, Peer)> {
        let (stream, _) = self.0.accept().await?;
        let peer = match stream.peer_cred() {
            Ok(credentials) => Peer::Unix {
                uid: credentials.uid(),
                gid: credentials.gid(),
            },
            // Without credentials the peer is treated as a stranger: uid/gid that match nothing.
            Err(_) => Peer::Unix {
                uid: u32::MAX,
                gid: u32::MAX,
            },
        };
        Ok((stream, peer))
    }
}

/// The loopback HTTP listener as a source of connections.
struct TcpIncoming(TcpListener);

impl Incoming for TcpIncoming {
    type Io = tokio::net::TcpStream;
    type Peer = Peer;
    async fn accept(&self) -> std::io::Result<(Self::Io, Peer)> {
        let (stream, address) = self.0.accept().await?;
        Ok((stream, Peer::Tcp(address.ip())))
    }
}

/// The router with every route, authorisation applied.
pub fn router(state: ApiState) -> Router {
    let open_routes = state.open_routes.clone();
    Router::new()
        .route("/", get(console))
        .route("/kiosk", get(kiosk))
        .route("/api/v1/status", get(status))
        .route("/api/v1/stream", get(stream))
        .route("/api/v1/confirm", post(confirm))
        .route("/api/v1/new-traveller", post(new_traveller))
        .route("/api/v1/stay", get(stay))
        .route(
            "/api/v1/session",
            get(session_get).post(session_post).delete(session_delete),
        )
        .route("/api/v1/session/language", put(session_language))
        .route("/api/v1/override-reasons", get(override_reasons))
        .route("/api/v1/refer", post(refer))
        .route("/api/v1/second-line", post(second_line))
        .route("/api/v1/alert-ack", post(alert_ack))
        .route("/api/v1/face", get(face))
        .with_state(state.clone())
        .merge(state.guarded_routes.clone())
        .layer(middleware::from_fn_with_state(state, authorise))
        .merge(open_routes)
}

/// Binds the API's Unix socket, mode 0660 and owned by `group` (the console's group), so that
/// a failure to set either is a start-up failure rather than a socket nobody may use.
pub fn bind_unix(path: &Path, group: Option<u32>) -> Result<UnixListener, ApiError> {
    // A socket left by a killed daemon would make bind fail; it is ours to remove.
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path).map_err(|source| ApiError::Bind {
        place: path.display().to_string(),
        source,
    })?;
    set_socket_mode(path, group)?;
    Ok(listener)
}

/// Serves the API on a bound Unix socket until `shutdown` resolves.
pub async fn serve_unix(
    listener: UnixListener,
    state: ApiState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ApiError> {
    listener::serve(UnixIncoming(listener), router(state), shutdown).await;
    Ok(())
}

fn set_socket_mode(path: &Path, group: Option<u32>) -> Result<(), ApiError> {
    use std::os::unix::fs::PermissionsExt;
    let failed = |source: std::io::Error| ApiError::Permissions {
        path: path.to_path_buf(),
        source,
    };
    if let Some(gid) = group {
        nix::unistd::chown(path, None, Some(nix::unistd::Gid::from_raw(gid)))
            .map_err(|errno| failed(errno.into()))?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(failed)
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
    listener::serve(TcpIncoming(listener), router(state), shutdown).await;
    Ok(())
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
            uid == 0
                || uid == own_uid
                || in_group(gid, state.access.socket_gid, || groups_of(uid, gid))
        }
        Peer::Tcp(_) => token_matches(&state.access, request.headers(), request.uri().query()),
    };
    if allowed {
        return next.run(request).await;
    }
    let refused = state.refusals.refuse(&peer.key(), Instant::now());
    if let Some(suppressed) = refused.log {
        // The path is the client's text: escaped and bounded before it reaches the log.
        tracing::warn!(message = "api request refused", ?peer,
            path = %crate::logging::Escaped::new(request.uri().path()), suppressed);
    }
    let mut answer = if refused.too_many {
        refusal(
            StatusCode::TOO_MANY_REQUESTS,
            "too many refused requests: slow down",
        )
    } else {
        refusal(
            StatusCode::FORBIDDEN,
            "not authorised: wrong group or token",
        )
    };
    // A refused client gets no kept-alive connection to hold.
    answer.headers_mut().insert(
        header::CONNECTION,
        header::HeaderValue::from_static("close"),
    );
    answer
}

/// Whether a socket peer belongs to the API group, by its primary group `gid` or as a
/// supplementary member (`supplementary` is asked only when the primary group does not match).
fn in_group(gid: u32, group: Option<u32>, supplementary: impl FnOnce() -> Vec<u32>) -> bool {
    match group {
        Some(group) => gid == group || supplementary().contains(&group),
        None => false,
    }
}

/// A user's groups in the account database (`getgrouplist`); none when the user is unknown.
fn groups_of(uid: u32, gid: u32) -> Vec<u32> {
    let Ok(Some(user)) = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) else {
        return Vec::new();
    };
    let Ok(name) = std::ffi::CString::new(user.name) else {
        return Vec::new();
    };
    nix::unistd::getgrouplist(&name, nix::unistd::Gid::from_raw(gid))
        .map(|groups| groups.iter().map(|group| group.as_raw()).collect())
        .unwrap_or_default()
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
    let from_header = from_header.map(|given| given.as_bytes().to_vec());
    let from_query = query.and_then(|query| {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix("token="))
            .map(query_value)
    });
    [from_header, from_query]
        .into_iter()
        .flatten()
        .any(|given| constant_time_eq(&given, expected.as_bytes()))
}

/// A query value percent-decoded, with `+` kept as itself: a token never holds a space, and a
/// base64 token pasted into a URL by hand keeps its `+` (`%2B` decodes to the same byte).
fn query_value(raw: &str) -> Vec<u8> {
    percent_encoding::percent_decode_str(raw).collect()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn refusal(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "error": message }))).into_response()
}

/// The chip's face of the traveller in front of the booth, for a signed-in officer only (the
/// kiosk's screen never asks for it), never cached by the browser.
async fn face(State(state): State<ApiState>, headers: HeaderMap) -> Response {
    if session_of(&state, &headers).is_none() {
        return not_signed_in();
    }
    let (reply, answer) = oneshot::channel();
    if state.commands.try_send(ApiCommand::Face { reply }).is_err() {
        return refusal(StatusCode::SERVICE_UNAVAILABLE, "lane busy: try again");
    }
    match tokio::time::timeout(API_COMMAND_TIMEOUT, answer).await {
        Ok(Ok(Some(face))) => showable_face(face).await,
        Ok(Ok(None)) => refusal(
            StatusCode::NOT_FOUND,
            "no face from a verified chip for the traveller in front of the booth",
        ),
        Ok(Err(_)) => refusal(StatusCode::SERVICE_UNAVAILABLE, "lane stopped"),
        Err(_) => refusal(
            StatusCode::GATEWAY_TIMEOUT,
            "the lane did not answer in time",
        ),
    }
}

/// The face as the browser can show it (a JPEG 2000 is decoded on the blocking pool and sent as
/// PNG); a face that cannot be decoded is 422 with the reason, which names no person.
async fn showable_face(face: FaceImage) -> Response {
    match tokio::task::spawn_blocking(move || face_image::for_browser(face)).await {
        Ok(Ok(shown)) => (
            [
                (header::CONTENT_TYPE, shown.media_type),
                (header::CACHE_CONTROL, "no-store"),
            ],
            shown.data,
        )
            .into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "chip face not shown to the officer");
            refusal(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string())
        }
        Err(_) => refusal(StatusCode::INTERNAL_SERVER_ERROR, "face conversion failed"),
    }
}

async fn console() -> Html<&'static str> {
    Html(catalogue::CONSOLE_PAGE.as_str())
}

async fn kiosk() -> Html<&'static str> {
    Html(catalogue::KIOSK_PAGE.as_str())
}

/// The lane's status with the traveller in front of the officer (`current`: the verdict event
/// the stream sent for them, or `null`), so a reloaded console restores the screen. The status
/// watch itself never holds the traveller: it also goes to central in heartbeats.
async fn status(State(state): State<ApiState>) -> axum::Json<Value> {
    let mut status = state.status.borrow().clone();
    let current = ask_value(&state, |reply| ApiCommand::Current { reply }).await;
    if let Value::Object(fields) = &mut status {
        match current {
            Ok(current) => {
                fields.insert("current".into(), current);
            }
            Err(refused) => {
                fields.insert("current".into(), Value::Null);
                fields.insert("current_error".into(), Value::String(refused.message));
            }
        }
    }
    axum::Json(status)
}

async fn stream(State(state): State<ApiState>) -> Response {
    match Arc::clone(&state.streams).try_acquire_owned() {
        Ok(permit) => event_stream(&state, permit).into_response(),
        Err(_) => refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many event streams open: close one and retry",
        ),
    }
}

/// The event stream; `permit` holds its place among [`API_STREAMS_MAX`] until it ends.
fn event_stream(
    state: &ApiState,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> Sse<impl Stream<Item = Result<Event, Infallible>> + use<>> {
    let receiver = state.events.subscribe();
    let initial = state.status.borrow().clone();
    let first = futures::stream::once(async move {
        Ok(Event::default().event("status").data(initial.to_string()))
    });
    let rest = futures::stream::unfold((receiver, permit), |(mut receiver, permit)| async move {
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
        Some((Ok(event), (receiver, permit)))
    });
    Sse::new(futures::StreamExt::chain(first, rest)).keep_alive(KeepAlive::default())
}

async fn ask(
    state: &ApiState,
    command: impl FnOnce(oneshot::Sender<Result<Value, ApiRefusal>>) -> ApiCommand,
) -> Response {
    match ask_value(state, command).await {
        Ok(value) => axum::Json(value).into_response(),
        Err(refused) => match refused.body {
            Some(body) => (refused.status, axum::Json(body)).into_response(),
            None => refusal(refused.status, &refused.message),
        },
    }
}

/// Why the lane did not answer a command with a value.
struct NotAnswered {
    status: StatusCode,
    message: String,
    /// The lane's own JSON body for the refusal, when it gave one.
    body: Option<Value>,
}

/// Sends a command to the lane and waits (bounded) for its answer.
async fn ask_value(
    state: &ApiState,
    command: impl FnOnce(oneshot::Sender<Result<Value, ApiRefusal>>) -> ApiCommand,
) -> Result<Value, NotAnswered> {
    let failed = |status, message: &str| NotAnswered {
        status,
        message: message.to_string(),
        body: None,
    };
    let (reply, answer) = oneshot::channel();
    if state.commands.try_send(command(reply)).is_err() {
        return Err(failed(
            StatusCode::SERVICE_UNAVAILABLE,
            "lane busy: try again",
        ));
    }
    match tokio::time::timeout(API_COMMAND_TIMEOUT, answer).await {
        Ok(Ok(Ok(value))) => Ok(value),
        Ok(Ok(Err(refused))) => Err(NotAnswered {
            status: status_of(refused.kind),
            message: refused.message,
            body: refused.body,
        }),
        Ok(Err(_)) => Err(failed(StatusCode::SERVICE_UNAVAILABLE, "lane stopped")),
        Err(_) => Err(failed(
            StatusCode::GATEWAY_TIMEOUT,
            "lane did not answer in time",
        )),
    }
}

async fn confirm(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    headers: HeaderMap,
    body: Result<axum::Json<ConfirmRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let officer = match officer_for(&state, &headers, Action::Confirm) {
        Ok(officer) => officer,
        Err(answer) => return *answer,
    };
    let key = match idempotency_key(&headers) {
        Ok(key) => key,
        Err(why) => return refusal(StatusCode::BAD_REQUEST, &why),
    };
    let mut request = match body {
        Ok(axum::Json(request)) => request,
        Err(rejection) => return refusal(StatusCode::BAD_REQUEST, &rejection.body_text()),
    };
    if let Some(wanted) = request.override_request.take() {
        match co_sign(&state, &officer, wanted, &peer).await {
            Ok(cosigned) => request.cosigned = Some(cosigned),
            Err(answer) => return answer,
        }
    }
    request.idempotency_key = key;
    request.officer = Some(officer);
    ask(&state, |reply| ApiCommand::Confirm { request, reply }).await
}

/// Checks an override's reason and verifies its supervisor on the spot (four eyes): another
/// officer than the one signed in, with the supervisor role, whose secret verifies now.
async fn co_sign(
    state: &ApiState,
    officer: &SignedIn,
    wanted: OverrideRequest,
    peer: &Peer,
) -> Result<CoSigned, Response> {
    if let Err(error) = officer::check_reason(&wanted.reason_code, &wanted.text) {
        return Err(invalid_field(
            &format!("override.{}", error.field()),
            &error,
        ));
    }
    if wanted.supervisor_id == officer.officer_id {
        return Err(answer(ApiRefusal::forbidden(Role::Supervisor)));
    }
    let booth = Arc::clone(&state.booth);
    let supervisor_id = wanted.supervisor_id.clone();
    let peer = peer.key();
    let verified = tokio::task::spawn_blocking(move || {
        booth.verify(&supervisor_id, wanted.supervisor_secret.as_bytes(), &peer)
    })
    .await;
    match verified {
        Ok(Ok(record)) if officer::permits(record.enrolled.role, Action::CoSignOverride) => {
            Ok(CoSigned {
                reason_code: wanted.reason_code,
                text: wanted.text,
                supervisor_id: record.enrolled.officer_id,
            })
        }
        Ok(Ok(_)) | Ok(Err(SignInRefused::Failed)) => {
            Err(answer(ApiRefusal::forbidden(Role::Supervisor)))
        }
        Ok(Err(SignInRefused::LockedOut(wait))) => Err(locked_out(wait)),
        Err(_) => Err(refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "supervisor could not be verified: try again",
        )),
    }
}

/// The signed-in officer of the request, if their role may do `action`; otherwise the answer
/// (`401 not_signed_in`, `403 forbidden`).
fn officer_for(
    state: &ApiState,
    headers: &HeaderMap,
    action: Action,
) -> Result<SignedIn, Box<Response>> {
    let Some(officer) = session_of(state, headers).map(|(_, officer)| officer) else {
        return Err(Box::new(not_signed_in()));
    };
    if !officer::permits(officer.role, action) {
        let needs = officer::needed_role(action);
        return Err(Box::new(answer(ApiRefusal::forbidden(needs))));
    }
    Ok(officer)
}

/// The session token of the request's cookie and its officer, if the session is open.
fn session_of(state: &ApiState, headers: &HeaderMap) -> Option<(String, SignedIn)> {
    let token = headers
        .get_all(header::COOKIE)
        .iter()
        .find_map(|value| booth::session_token(value.as_bytes()))?
        .to_string();
    let officer = state.booth.current(&token)?;
    Some((token, officer))
}

fn answer(refused: ApiRefusal) -> Response {
    let status = status_of(refused.kind);
    match refused.body {
        Some(body) => (status, axum::Json(body)).into_response(),
        None => refusal(status, &refused.message),
    }
}

fn not_signed_in() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        axum::Json(json!({ "error": "not_signed_in" })),
    )
        .into_response()
}

fn locked_out(wait: Duration) -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, wait.as_secs().max(1).to_string())],
        axum::Json(json!({ "error": "locked_out", "retry_after_s": wait.as_secs().max(1) })),
    )
        .into_response()
}

/// `400` naming the field at fault.
fn invalid_field(field: &str, why: &dyn std::fmt::Display) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({ "error": "invalid_field", "field": field, "message": why.to_string() })),
    )
        .into_response()
}

/// Body of `POST /api/v1/session`.
#[derive(Deserialize)]
struct SignInRequest {
    officer_id: String,
    secret: String,
}

async fn session_post(
    State(state): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    body: Result<axum::Json<SignInRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let request = match body {
        Ok(axum::Json(request)) => request,
        Err(rejection) => return refusal(StatusCode::BAD_REQUEST, &rejection.body_text()),
    };
    let booth = Arc::clone(&state.booth);
    let peer = peer.key();
    let signed = tokio::task::spawn_blocking(move || {
        booth.sign_in(&request.officer_id, request.secret.as_bytes(), &peer)
    })
    .await;
    match signed {
        Ok(Ok((token, officer))) => (
            StatusCode::OK,
            [(header::SET_COOKIE, booth::session_cookie(&token))],
            axum::Json(officer),
        )
            .into_response(),
        Ok(Err(SignInRefused::Failed)) => (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({ "error": "sign_in_failed" })),
        )
            .into_response(),
        Ok(Err(SignInRefused::LockedOut(wait))) => locked_out(wait),
        Err(_) => refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "sign-in failed to run: try again",
        ),
    }
}

async fn session_get(State(state): State<ApiState>, headers: HeaderMap) -> Response {
    match session_of(&state, &headers) {
        Some((_, officer)) => axum::Json(officer).into_response(),
        None => not_signed_in(),
    }
}

async fn session_delete(State(state): State<ApiState>, headers: HeaderMap) -> Response {
    if let Some(token) = headers
        .get_all(header::COOKIE)
        .iter()
        .find_map(|value| booth::session_token(value.as_bytes()))
    {
        state.booth.sign_out(token);
    }
    (
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, booth::cleared_cookie())],
    )
        .into_response()
}

#[derive(Deserialize)]
struct LanguageRequest {
    language: String,
}

async fn session_language(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Result<axum::Json<LanguageRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Some((token, _)) = session_of(&state, &headers) else {
        return not_signed_in();
    };
    let request = match body {
        Ok(axum::Json(request)) => request,
        Err(rejection) => return refusal(StatusCode::BAD_REQUEST, &rejection.body_text()),
    };
    let language: Language = match serde_json::from_value(Value::String(request.language.clone())) {
        Ok(language) => language,
        Err(_) => {
            let why = format!("{:?} is not one of az, ru, en", request.language);
            return invalid_field("language", &why);
        }
    };
    match state.booth.set_language(&token, language) {
        Some(officer) => axum::Json(officer).into_response(),
        None => not_signed_in(),
    }
}

async fn override_reasons() -> axum::Json<Value> {
    let reasons: Vec<Value> = officer::OVERRIDE_REASONS
        .iter()
        .map(|code| json!({ "code": code }))
        .collect();
    axum::Json(json!({ "reasons": reasons }))
}

async fn refer(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Result<axum::Json<ReferRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let officer = match officer_for(&state, &headers, Action::Refer) {
        Ok(officer) => officer,
        Err(answer) => return *answer,
    };
    let request = match body {
        Ok(axum::Json(request)) => request,
        Err(rejection) => return refusal(StatusCode::BAD_REQUEST, &rejection.body_text()),
    };
    let chars = request.note.chars().count();
    if chars > officer::OVERRIDE_TEXT_CHARS_MAX {
        let why = format!(
            "{chars} characters: at most {}",
            officer::OVERRIDE_TEXT_CHARS_MAX
        );
        return invalid_field("note", &why);
    }
    if let Some(at) = request
        .note
        .chars()
        .position(|c| c.is_control() && c != '\n' && c != '\r')
    {
        return invalid_field("note", &format!("control character at position {}", at + 1));
    }
    ask(&state, |reply| ApiCommand::Refer {
        officer,
        request,
        reply,
    })
    .await
}

async fn second_line(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Result<axum::Json<SecondLineRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let officer = match officer_for(&state, &headers, Action::SecondLine) {
        Ok(officer) => officer,
        Err(answer) => return *answer,
    };
    let request = match body {
        Ok(axum::Json(request)) => request,
        Err(rejection) => return refusal(StatusCode::BAD_REQUEST, &rejection.body_text()),
    };
    if let Err(error) = officer::check_reason(&request.reason_code, &request.text) {
        return invalid_field(error.field(), &error);
    }
    ask(&state, |reply| ApiCommand::SecondLine {
        officer,
        request,
        reply,
    })
    .await
}

async fn alert_ack(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Result<axum::Json<AlertAckRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let officer = match officer_for(&state, &headers, Action::AcknowledgeAlert) {
        Ok(officer) => officer,
        Err(answer) => return *answer,
    };
    let request = match body {
        Ok(axum::Json(request)) => request,
        Err(rejection) => return refusal(StatusCode::BAD_REQUEST, &rejection.body_text()),
    };
    ask(&state, |reply| ApiCommand::AcknowledgeAlert {
        officer,
        request,
        reply,
    })
    .await
}

/// The optional `Idempotency-Key` header: 1 to [`IDEMPOTENCY_KEY_CHARS_MAX`] visible ASCII
/// characters.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, String> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let bytes = value.as_bytes();
    if bytes.is_empty() || bytes.len() > IDEMPOTENCY_KEY_CHARS_MAX {
        return Err(format!(
            "Idempotency-Key is {} bytes long: expected 1 to {IDEMPOTENCY_KEY_CHARS_MAX}",
            bytes.len()
        ));
    }
    match bytes.iter().position(|b| !b.is_ascii_graphic()) {
        Some(at) => Err(format!(
            "Idempotency-Key byte {} is {:#04x}: only visible ASCII characters are allowed",
            at + 1,
            bytes[at]
        )),
        None => Ok(Some(String::from_utf8_lossy(bytes).into_owned())),
    }
}

async fn new_traveller(State(state): State<ApiState>, headers: HeaderMap) -> Response {
    if let Err(answer) = officer_for(&state, &headers, Action::NewTraveller) {
        return *answer;
    }
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
    fn socket_group_membership_counts_primary_and_supplementary_groups() {
        let none = Vec::new;
        assert!(in_group(1001, Some(1001), none));
        assert!(in_group(100, Some(1001), || vec![100, 27, 1001]));
        assert!(!in_group(100, Some(1001), || vec![100, 27]));
        assert!(!in_group(1001, None, || vec![1001]));
        // Root's own groups from the account database: at least its primary group.
        assert!(groups_of(0, 0).contains(&0));
    }

    #[test]
    fn query_token_is_compared_percent_decoded() {
        let access = ApiAccess {
            token: Some("a+b/c=".into()),
            socket_gid: None,
        };
        let headers = HeaderMap::new();
        for query in ["token=a%2Bb%2Fc%3D", "token=a+b/c=", "x=1&token=a%2bb/c%3d"] {
            assert!(token_matches(&access, &headers, Some(query)), "{query}");
        }
        for query in ["token=a%20b%2Fc%3D", "token=a+b/c", "token=a%2"] {
            assert!(!token_matches(&access, &headers, Some(query)), "{query}");
        }
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
