//! What the officer console and the kiosk screen ask the lane to do, the officer who asks, and
//! why the lane refuses: the lane's command port. The local API parses requests into these and
//! answers each refusal with the HTTP status of its kind; the lane knows no HTTP.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::core::officer::{Language, Role};

/// A signed-in officer, as the API and the lane see them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SignedIn {
    /// The officer's service id.
    pub officer_id: String,
    /// Their role.
    pub role: Role,
    /// The console language chosen.
    pub language: Language,
    /// The idle timeout in seconds.
    pub idle_timeout_s: u64,
}

/// What an officer (or the kiosk screen) asks the lane to do.
#[derive(Debug)]
pub enum LaneCommand {
    /// Confirm the verdict of a traveller session, or override it.
    Confirm {
        /// The request body.
        request: ConfirmRequest,
        /// Where the lane answers.
        reply: oneshot::Sender<Result<Value, Refusal>>,
    },
    /// Close the current traveller session and start a new one.
    NewTraveller {
        /// Where the lane answers.
        reply: oneshot::Sender<Result<Value, Refusal>>,
    },
    /// Stay figures for a document and nationality, for planning with a traveller.
    StayLookup {
        /// The request.
        request: StayLookupRequest,
        /// Where the lane answers.
        reply: oneshot::Sender<Result<Value, Refusal>>,
    },
    /// Refer the current traveller to second line (recorded) and park them there.
    Refer {
        /// The referring officer.
        officer: SignedIn,
        /// The request body.
        request: ReferRequest,
        /// Where the lane answers.
        reply: oneshot::Sender<Result<Value, Refusal>>,
    },
    /// Record the second line's final decision on the parked referral.
    SecondLine {
        /// The second-line officer.
        officer: SignedIn,
        /// The request body (reason already checked).
        request: SecondLineRequest,
        /// Where the lane answers.
        reply: oneshot::Sender<Result<Value, Refusal>>,
    },
    /// Acknowledge the current verdict's required action.
    AcknowledgeAlert {
        /// The acknowledging officer.
        officer: SignedIn,
        /// The request body.
        request: AlertAckRequest,
        /// Where the lane answers.
        reply: oneshot::Sender<Result<Value, Refusal>>,
    },
    /// The traveller being processed: their verdict event, or `null`.
    Current {
        /// Where the lane answers.
        reply: oneshot::Sender<Result<Value, Refusal>>,
    },
    /// The face of the traveller being processed, from a chip whose DG2 passive
    /// authentication vouched for (officers only).
    Face {
        /// Where the lane answers.
        reply: oneshot::Sender<Option<crate::core::lds::dg2::FaceImage>>,
    },
}

/// Body of `POST /api/v1/refer`.
#[derive(Debug, Clone, Deserialize)]
pub struct ReferRequest {
    /// The officer's note for second line.
    pub note: String,
}

/// Body of `POST /api/v1/second-line`.
#[derive(Debug, Clone, Deserialize)]
pub struct SecondLineRequest {
    /// `admit` or `refuse`.
    pub decision: OfficerDecision,
    /// A code from `GET /api/v1/override-reasons`.
    pub reason_code: String,
    /// The explanation (at least 10 characters).
    pub text: String,
}

/// Body of `POST /api/v1/alert-ack`.
#[derive(Debug, Clone, Deserialize)]
pub struct AlertAckRequest {
    /// The required action acknowledged (as the verdict names it).
    pub action: String,
}

/// The `override` of a confirmation: reason, and the supervisor's sign-in on the same screen.
#[derive(Clone, Deserialize)]
pub struct OverrideRequest {
    /// A code from `GET /api/v1/override-reasons`.
    pub reason_code: String,
    /// The explanation (at least 10 characters).
    pub text: String,
    /// The co-signing supervisor.
    pub supervisor_id: String,
    /// The supervisor's PIN or password (verified, then dropped).
    pub supervisor_secret: String,
}

impl std::fmt::Debug for OverrideRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OverrideRequest")
            .field("reason_code", &self.reason_code)
            .field("text_chars", &self.text.chars().count())
            .field("supervisor_id", &self.supervisor_id)
            .finish_non_exhaustive()
    }
}

/// An override whose supervisor signed in on the spot, as the lane receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoSigned {
    /// The reason code.
    pub reason_code: String,
    /// The explanation.
    pub text: String,
    /// The supervisor who co-signed.
    pub supervisor_id: String,
}

/// Body of `POST /api/v1/confirm`.
#[derive(Debug, Clone, Deserialize)]
pub struct ConfirmRequest {
    /// The traveller session the officer saw.
    pub session: u64,
    /// `admit` or `refuse`.
    pub decision: OfficerDecision,
    /// Required to admit against a refusal or a referral: reason and supervisor.
    #[serde(default, rename = "override")]
    pub override_request: Option<OverrideRequest>,
    /// The officer's review of a person-alert hit (required when the traveller matched one).
    #[serde(default)]
    pub watchlist: Option<WatchlistReviewRequest>,
    /// The `Idempotency-Key` header: a retry with the same key gets the first answer.
    #[serde(skip)]
    pub idempotency_key: Option<String>,
    /// The signed-in officer who confirms (from the session cookie, never the body).
    #[serde(skip)]
    pub officer: Option<SignedIn>,
    /// The override once its supervisor was verified (the secret is gone by then).
    #[serde(skip)]
    pub cosigned: Option<CoSigned>,
}

/// `{"alert_id", "decision": "confirmed" | "dismissed"}`: which hit the officer reviewed and
/// what they found.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WatchlistReviewRequest {
    /// One of the hits the verdict listed.
    pub alert_id: String,
    /// Whether the traveller is the person sought.
    pub decision: crate::core::event::WatchlistDecision,
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

/// What kind of refusal it is; the API answers each kind with its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// The request names something the lane cannot take (a field's value).
    Invalid,
    /// No officer is signed in for a command that needs one.
    NotSignedIn,
    /// The officer's role may not do this.
    Forbidden,
    /// The lane is not in a state to do it (no traveller, another session, a pending alert).
    Conflict,
    /// A store could not be read or written: try again.
    Unavailable,
}

/// Why the lane refused a command: its kind and a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// What kind of refusal.
    pub kind: RefusalKind,
    /// What went wrong.
    pub message: String,
    /// The whole JSON answer where the contract fixes one (`{"error": "forbidden", …}`);
    /// `None`: `{"error": message}`.
    pub body: Option<Value>,
}

impl Refusal {
    /// A refusal answered `{"error": message}`.
    pub fn new(kind: RefusalKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            body: None,
        }
    }

    /// A refusal with a fixed JSON answer; `body["error"]` is also its message.
    pub fn coded(kind: RefusalKind, body: Value) -> Self {
        let message = body
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("refused")
            .to_string();
        Self {
            kind,
            message,
            body: Some(body),
        }
    }

    /// `{"error": "forbidden", "needs": role}`.
    pub fn forbidden(needs: Role) -> Self {
        Self::coded(
            RefusalKind::Forbidden,
            json!({ "error": "forbidden", "needs": needs }),
        )
    }
}
