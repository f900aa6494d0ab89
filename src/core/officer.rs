//! Officers at the booth: roles, console languages, Argon2id secret verifiers, and the pure rules
//! of signing in (failure counting and lock-out, idle expiry, what each role may do).
//!
//! Time is always an argument; the sessions themselves live in `adapters::booth`.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordVerifier};
use serde::{Deserialize, Serialize};

/// Longest verifier (PHC string) a ledger entry may carry.
pub const VERIFIER_CHARS_MAX: usize = 256;
/// Largest Argon2 memory cost (KiB) a verifier may ask for: a terminal verifies on the spot.
pub const VERIFIER_MEMORY_KIB_MAX: u32 = 256 * 1024;
/// Largest Argon2 time cost a verifier may ask for.
pub const VERIFIER_TIME_COST_MAX: u32 = 16;
/// Largest Argon2 parallelism a verifier may ask for.
pub const VERIFIER_LANES_MAX: u32 = 8;
/// Failed sign-ins for one officer id that lock it out.
pub const FAILURES_BEFORE_LOCKOUT: usize = 5;
/// The window the failures are counted in, and how long the lock-out lasts.
pub const LOCKOUT_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Failed sign-ins from one peer within the window that lock that peer out (any officer ids).
pub const PEER_FAILURES_BEFORE_LOCKOUT: usize = 20;
/// Officer ids (and peers) whose failures are tracked at once; the oldest are forgotten first.
pub const TRACKED_NAMES_MAX: usize = 4096;

/// What an officer may do at the booth.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A border officer: processes travellers.
    Officer,
    /// A duty supervisor: also co-signs overrides (four eyes).
    Supervisor,
}

/// The languages of the console.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    /// Azerbaijani.
    Az,
    /// Russian.
    Ru,
    /// English.
    En,
}

/// What a signed-in officer asks to do; [`permits`] says which role may.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Confirm the verdict (admit an admit, refuse anything).
    Confirm,
    /// Close the traveller in front of the booth.
    NewTraveller,
    /// Refer the traveller to second line.
    Refer,
    /// Record the second line's final decision on a referral.
    SecondLine,
    /// Acknowledge an alert's required action.
    AcknowledgeAlert,
    /// Co-sign an override: admit against a refusal or a referral (the second pair of eyes).
    CoSignOverride,
}

/// Whether `role` may perform `action`.
pub fn permits(role: Role, action: Action) -> bool {
    match action {
        Action::CoSignOverride => role == Role::Supervisor,
        Action::Confirm
        | Action::NewTraveller
        | Action::Refer
        | Action::SecondLine
        | Action::AcknowledgeAlert => true,
    }
}

/// The role an action needs at least (for the `needs` of a 403 answer).
pub fn needed_role(action: Action) -> Role {
    if permits(Role::Officer, action) {
        Role::Officer
    } else {
        Role::Supervisor
    }
}

/// Why a verifier string is not acceptable in the ledger.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifierError {
    /// Longer than [`VERIFIER_CHARS_MAX`].
    #[error("verifier is {0} characters long (at most {VERIFIER_CHARS_MAX})")]
    TooLong(usize),
    /// Not a PHC string.
    #[error("verifier is not a PHC string: {0}")]
    NotPhc(String),
    /// Another algorithm than Argon2id.
    #[error("verifier algorithm is {0}: only argon2id is accepted")]
    Algorithm(String),
    /// Cost parameters missing or beyond what a terminal verifies on the spot.
    #[error("verifier parameter {0}")]
    Parameter(String),
    /// No salt or no hash.
    #[error("verifier has no {0}")]
    Missing(&'static str),
}

/// Checks that `verifier` is an Argon2id PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`)
/// with costs a terminal can verify.
pub fn check_verifier(verifier: &str) -> Result<(), VerifierError> {
    let chars = verifier.chars().count();
    if chars > VERIFIER_CHARS_MAX {
        return Err(VerifierError::TooLong(chars));
    }
    let hash = PasswordHash::new(verifier).map_err(|e| VerifierError::NotPhc(e.to_string()))?;
    if hash.algorithm.as_str() != "argon2id" {
        return Err(VerifierError::Algorithm(hash.algorithm.as_str().into()));
    }
    let params = argon2::Params::try_from(&hash)
        .map_err(|e| VerifierError::Parameter(format!("is invalid: {e}")))?;
    let limits = [
        ("m", params.m_cost(), VERIFIER_MEMORY_KIB_MAX),
        ("t", params.t_cost(), VERIFIER_TIME_COST_MAX),
        ("p", params.p_cost(), VERIFIER_LANES_MAX),
    ];
    for (name, value, max) in limits {
        if value > max {
            return Err(VerifierError::Parameter(format!(
                "{name}={value} is more than {max}"
            )));
        }
    }
    if hash.salt.is_none() {
        return Err(VerifierError::Missing("salt"));
    }
    if hash.hash.is_none() {
        return Err(VerifierError::Missing("hash"));
    }
    Ok(())
}

/// The Argon2id verifier (PHC string) of `secret` with `salt` (16 random bytes the caller draws)
/// and the `argon2` crate's default costs (19 MiB, 2 passes, 1 lane).
pub fn make_verifier(secret: &[u8], salt: &[u8; 16]) -> Result<String, String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt = SaltString::encode_b64(salt).map_err(|e| format!("salt: {e}"))?;
    argon2::Argon2::default()
        .hash_password(secret, &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| format!("argon2id: {e}"))
}

/// Whether `secret` matches `verifier` (Argon2id, constant-time comparison by the `argon2`
/// crate). A verifier that does not parse matches nothing.
pub fn secret_matches(verifier: &str, secret: &[u8]) -> bool {
    if check_verifier(verifier).is_err() {
        return false;
    }
    match PasswordHash::new(verifier) {
        Ok(hash) => argon2::Argon2::default()
            .verify_password(secret, &hash)
            .is_ok(),
        Err(_) => false,
    }
}

/// Counts failed sign-ins per name (an officer id, or a peer) in a sliding window.
#[derive(Debug)]
pub struct FailureCounter {
    limit: usize,
    window: Duration,
    /// Monotonic readings of each name's failures in the window, oldest first.
    failures: HashMap<String, VecDeque<Duration>>,
    /// Names in the order they were first tracked, to forget the oldest past the bound.
    order: VecDeque<String>,
}

impl FailureCounter {
    /// `limit` failures within `window` lock a name out until the oldest of them leaves it.
    pub fn new(limit: usize, window: Duration) -> Self {
        Self {
            limit,
            window,
            failures: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// How long `name` is still locked out at `now`, a monotonic reading (`None`: it may try).
    pub fn locked_for(&mut self, name: &str, now: Duration) -> Option<Duration> {
        let window = self.window;
        let failures = self.failures.get_mut(name)?;
        expire(failures, now, window);
        if failures.len() < self.limit {
            return None;
        }
        let ends = failures.front()?.saturating_add(window);
        Some(ends.saturating_sub(now).max(Duration::from_secs(1)))
    }

    /// Counts a failure of `name` at `now`.
    pub fn fail(&mut self, name: &str, now: Duration) {
        if !self.failures.contains_key(name) {
            while self.order.len() >= TRACKED_NAMES_MAX {
                if let Some(oldest) = self.order.pop_front() {
                    self.failures.remove(&oldest);
                }
            }
            self.order.push_back(name.to_string());
        }
        let failures = self.failures.entry(name.to_string()).or_default();
        expire(failures, now, self.window);
        failures.push_back(now);
        while failures.len() > self.limit {
            failures.pop_front();
        }
    }

    /// Forgets the failures of `name` (a successful sign-in).
    pub fn clear(&mut self, name: &str) {
        self.failures.remove(name);
        self.order.retain(|tracked| tracked != name);
    }
}

fn expire(failures: &mut VecDeque<Duration>, now: Duration, window: Duration) {
    while let Some(first) = failures.front() {
        if now.saturating_sub(*first) >= window {
            failures.pop_front();
        } else {
            break;
        }
    }
}

/// Whether a session last used at `last_used` has expired at `now` under `idle_timeout`
/// (monotonic readings).
pub fn idle_expired(last_used: Duration, now: Duration, idle_timeout: Duration) -> bool {
    now.saturating_sub(last_used) >= idle_timeout
}

/// The override reasons an officer chooses from (codes stable, in this order).
pub const OVERRIDE_REASONS: [&str; 5] = [
    "humanitarian",
    "document_error_confirmed",
    "second_line_cleared",
    "diplomatic",
    "other",
];
/// Shortest override or second-line explanation, in characters (trimmed).
pub const OVERRIDE_TEXT_CHARS_MIN: usize = 10;
/// Longest override or second-line explanation, in characters.
pub const OVERRIDE_TEXT_CHARS_MAX: usize = 500;

/// Why an override or second-line reason is refused; names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReasonError {
    /// The code is not in [`OVERRIDE_REASONS`].
    #[error("reason_code {0:?} is not one of the override reasons")]
    UnknownCode(String),
    /// Text too short or too long.
    #[error(
        "text is {0} characters: between {OVERRIDE_TEXT_CHARS_MIN} and {OVERRIDE_TEXT_CHARS_MAX} are required"
    )]
    TextLength(usize),
    /// Text with a control character other than a line break.
    #[error("text has a control character at position {0}")]
    TextControl(usize),
}

impl ReasonError {
    /// The request field at fault.
    pub fn field(&self) -> &'static str {
        match self {
            Self::UnknownCode(_) => "reason_code",
            Self::TextLength(_) | Self::TextControl(_) => "text",
        }
    }
}

/// Checks a reason code and its explanation.
pub fn check_reason(code: &str, text: &str) -> Result<(), ReasonError> {
    if !OVERRIDE_REASONS.contains(&code) {
        return Err(ReasonError::UnknownCode(code.chars().take(64).collect()));
    }
    let chars = text.trim().chars().count();
    if !(OVERRIDE_TEXT_CHARS_MIN..=OVERRIDE_TEXT_CHARS_MAX).contains(&chars) {
        return Err(ReasonError::TextLength(chars));
    }
    match text
        .chars()
        .position(|c| c.is_control() && c != '\n' && c != '\r')
    {
        Some(at) => Err(ReasonError::TextControl(at + 1)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64) -> Duration {
        Duration::from_secs(1_000 + seconds)
    }

    #[test]
    fn five_failures_lock_out_for_the_rest_of_the_window() {
        let mut counter = FailureCounter::new(5, Duration::from_secs(900));
        for s in 0..4 {
            counter.fail("O-1", at(s * 10));
            assert_eq!(counter.locked_for("O-1", at(s * 10)), None);
        }
        counter.fail("O-1", at(40));
        assert_eq!(
            counter.locked_for("O-1", at(100)),
            Some(Duration::from_secs(800))
        );
        assert_eq!(counter.locked_for("O-2", at(100)), None);
        assert_eq!(counter.locked_for("O-1", at(900)), None, "oldest left");
        counter.clear("O-1");
        assert_eq!(counter.locked_for("O-1", at(100)), None);
    }

    #[test]
    fn roles_and_idle_expiry() {
        assert!(permits(Role::Officer, Action::Confirm));
        assert!(!permits(Role::Officer, Action::CoSignOverride));
        assert!(permits(Role::Supervisor, Action::CoSignOverride));
        assert_eq!(needed_role(Action::CoSignOverride), Role::Supervisor);
        let idle = Duration::from_secs(600);
        assert!(!idle_expired(at(0), at(599), idle));
        assert!(idle_expired(at(0), at(600), idle));
    }

    #[test]
    fn reasons_name_their_field() {
        assert_eq!(check_reason("humanitarian", "medical emergency"), Ok(()));
        assert_eq!(
            check_reason("x", "medical emergency").map_err(|e| e.field()),
            Err("reason_code")
        );
        assert_eq!(
            check_reason("other", " short    ").map_err(|e| e.field()),
            Err("text")
        );
    }

    #[test]
    fn verifiers_must_be_argon2id_within_limits() {
        let ok =
            "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$Hxm1mpSMKAu3/8QhqKI2SgamTAqO2jvAGrjm1ZBsXfA";
        assert_eq!(check_verifier(ok), Ok(()));
        assert!(matches!(
            check_verifier(&ok.replace("argon2id", "argon2i")),
            Err(VerifierError::Algorithm(_))
        ));
        assert!(matches!(
            check_verifier(&ok.replace("m=8", "m=9999999")),
            Err(VerifierError::Parameter(_))
        ));
        assert!(matches!(
            check_verifier("1234"),
            Err(VerifierError::NotPhc(_))
        ));
        assert!(!secret_matches("garbage", b"1234"));
        let made = make_verifier(b"2468-1357", &[9; 16]).expect("verifier");
        assert_eq!(check_verifier(&made), Ok(()));
        assert!(
            made.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{made}"
        );
        assert!(secret_matches(&made, b"2468-1357"));
        assert!(!secret_matches(&made, b"2468-1358"));
    }
}
