//! The officers' sessions at the booth, held in the daemon's memory: sign-in against the ledger's
//! officer accounts (Argon2id), the session cookie, idle expiry, lock-out after failed sign-ins,
//! and the supervisor's on-the-spot sign-in that co-signs an override.
//!
//! A restart signs everyone out: sessions are never written anywhere.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use rand::RngCore;

use crate::core::ledger::OfficerRecord;
use crate::core::officer::{
    FAILURES_BEFORE_LOCKOUT, FailureCounter, Language, PEER_FAILURES_BEFORE_LOCKOUT, idle_expired,
    make_verifier, secret_matches,
};
use crate::ports::clock::Clock;
use crate::ports::ledger::LedgerView;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "checkpoint_session";
/// Sessions held at once; signing in past it ends the least recently used session.
pub const SESSIONS_MAX: usize = 256;
/// Longest secret accepted in a sign-in, in bytes (longer ones fail like a wrong secret).
pub const SECRET_BYTES_MAX: usize = 1024;

/// How sessions behave (from `[api]`).
#[derive(Clone, Copy, Debug)]
pub struct BoothSettings {
    /// A session ends after this long without a request.
    pub idle_timeout: Duration,
    /// Failed sign-ins are counted over this window; a lock-out lasts until the oldest leaves it.
    pub lockout_window: Duration,
}

pub use crate::lane::commands::SignedIn;

/// Why a sign-in did not succeed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignInRefused {
    /// Wrong secret, unknown, revoked or expired officer: one answer for all.
    Failed,
    /// Too many failures for this officer id or from this peer; retry after this long.
    LockedOut(Duration),
}

struct Session {
    officer_id: String,
    language: Language,
    /// Monotonic reading of the session's last request.
    last_used: Duration,
}

struct Sessions {
    by_token: HashMap<String, Session>,
    officers: FailureCounter,
    peers: FailureCounter,
}

/// The booth's officers: sign-in, sessions and lock-out.
pub struct Booth {
    ledger: Arc<dyn LedgerView + Send + Sync>,
    clock: Arc<dyn Clock>,
    time_zone: TimeZone,
    settings: BoothSettings,
    state: Mutex<Sessions>,
    /// Verified against when the officer id is unknown, so that the answer takes as long.
    decoy: OnceLock<String>,
}

impl Booth {
    /// Sessions over the officer accounts of `ledger`; validity dates are judged in `time_zone`.
    pub fn new(
        ledger: Arc<dyn LedgerView + Send + Sync>,
        clock: Arc<dyn Clock>,
        time_zone: TimeZone,
        settings: BoothSettings,
    ) -> Self {
        Self {
            ledger,
            clock,
            time_zone,
            settings,
            state: Mutex::new(Sessions {
                by_token: HashMap::new(),
                officers: FailureCounter::new(FAILURES_BEFORE_LOCKOUT, settings.lockout_window),
                peers: FailureCounter::new(PEER_FAILURES_BEFORE_LOCKOUT, settings.lockout_window),
            }),
            decoy: OnceLock::new(),
        }
    }

    /// Signs an officer in; on success the new session's token (256 random bits, hex) and who.
    /// Blocking (Argon2id): call it off the async runtime.
    pub fn sign_in(
        &self,
        officer_id: &str,
        secret: &[u8],
        peer: &str,
    ) -> Result<(String, SignedIn), SignInRefused> {
        let record = self.verify(officer_id, secret, peer)?;
        let mut token_bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut token_bytes);
        let token = hex::encode(token_bytes);
        let now = self.clock.monotonic();
        let mut state = self.lock();
        if state.by_token.len() >= SESSIONS_MAX
            && let Some(oldest) = state
                .by_token
                .iter()
                .min_by_key(|(_, session)| session.last_used)
                .map(|(token, _)| token.clone())
        {
            state.by_token.remove(&oldest);
        }
        state.by_token.insert(
            token.clone(),
            Session {
                officer_id: record.enrolled.officer_id.clone(),
                language: record.enrolled.language,
                last_used: now,
            },
        );
        drop(state);
        tracing::info!(message = "officer signed in", officer = %record.enrolled.officer_id);
        let signed_in = self.signed_in(&record, record.enrolled.language);
        Ok((token, signed_in))
    }

    /// Verifies an officer's secret on the spot (a supervisor co-signing an override) without
    /// opening a session; failures count toward that officer's lock-out. Blocking.
    pub fn verify(
        &self,
        officer_id: &str,
        secret: &[u8],
        peer: &str,
    ) -> Result<OfficerRecord, SignInRefused> {
        let now = self.clock.monotonic();
        {
            let mut state = self.lock();
            let locked = [
                state.officers.locked_for(officer_id, now),
                state.peers.locked_for(peer, now),
            ];
            if let Some(wait) = locked.into_iter().flatten().max() {
                return Err(SignInRefused::LockedOut(wait));
            }
        }
        let record = self.valid_officer(officer_id, self.clock.now());
        let verifier = match &record {
            Some(record) => record.enrolled.verifier.as_str(),
            None => self.decoy(),
        };
        let matches = secret.len() <= SECRET_BYTES_MAX && secret_matches(verifier, secret);
        let mut state = self.lock();
        match record {
            Some(record) if matches => {
                state.officers.clear(officer_id);
                Ok(record)
            }
            _ => {
                state.officers.fail(officer_id, now);
                state.peers.fail(peer, now);
                drop(state);
                tracing::warn!(message = "sign-in failed",
                    officer = %crate::logging::Escaped::new(officer_id), peer);
                Err(SignInRefused::Failed)
            }
        }
    }

    /// The officer of a session token, if the session is open, not idle past the timeout, and
    /// the account still valid; the request counts as activity.
    pub fn current(&self, token: &str) -> Option<SignedIn> {
        let now = self.clock.monotonic();
        let mut state = self.lock();
        let session = state.by_token.get(token)?;
        let officer_id = session.officer_id.clone();
        let language = session.language;
        let expired = idle_expired(session.last_used, now, self.settings.idle_timeout);
        let record = if expired {
            None
        } else {
            self.valid_officer(&officer_id, self.clock.now())
        };
        let Some(record) = record else {
            state.by_token.remove(token);
            return None;
        };
        if let Some(session) = state.by_token.get_mut(token) {
            session.last_used = now;
        }
        Some(self.signed_in(&record, language))
    }

    /// Ends a session (nothing if there is none).
    pub fn sign_out(&self, token: &str) {
        if let Some(session) = self.lock().by_token.remove(token) {
            tracing::info!(message = "officer signed out", officer = %session.officer_id);
        }
    }

    /// Changes a session's console language.
    pub fn set_language(&self, token: &str, language: Language) -> Option<SignedIn> {
        if let Some(session) = self.lock().by_token.get_mut(token) {
            session.language = language;
        }
        self.current(token)
    }

    fn signed_in(&self, record: &OfficerRecord, language: Language) -> SignedIn {
        SignedIn {
            officer_id: record.enrolled.officer_id.clone(),
            role: record.enrolled.role,
            language,
            idle_timeout_s: self.settings.idle_timeout.as_secs(),
        }
    }

    /// The account if it may sign in today; an unreadable ledger lets nobody in.
    fn valid_officer(&self, officer_id: &str, now: Timestamp) -> Option<OfficerRecord> {
        let today = now.to_zoned(self.time_zone.clone()).date();
        match self.ledger.officer(officer_id) {
            Ok(record) => record.filter(|record| record.may_sign_in_on(today)),
            Err(error) => {
                tracing::error!(message = "officer accounts not readable", %error);
                None
            }
        }
    }

    fn decoy(&self) -> &str {
        self.decoy.get_or_init(|| {
            let mut salt = [0u8; 16];
            rand::rngs::OsRng.fill_bytes(&mut salt);
            let mut secret = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut secret);
            make_verifier(&secret, &salt).unwrap_or_default()
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Sessions> {
        // Counters and sessions stay consistent between statements: a panic elsewhere while the
        // lock was held leaves nothing half-written that matters.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The session token in a `Cookie` header value, if any (the first `checkpoint_session=`).
pub fn session_token(cookie_header: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(cookie_header).ok()?;
    text.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        (name == SESSION_COOKIE && !value.is_empty()).then_some(value.trim_matches('"'))
    })
}

/// The `Set-Cookie` value that opens a session.
pub fn session_cookie(token: &str) -> String {
    format!("{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/")
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn cleared_cookie() -> String {
    format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::ledger::{
        Change, Entry, IndexConsistency, MemoryState, OfficerEnrolled, apply_entry,
    };
    use crate::core::officer::Role;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A clock the test moves: the wall clock stays put, the monotonic one advances.
    struct TestClock(AtomicU64);

    impl Clock for TestClock {
        fn now(&self) -> Timestamp {
            "2026-06-01T12:00:00Z".parse().expect("time")
        }
        fn monotonic(&self) -> Duration {
            Duration::from_secs(self.0.load(Ordering::Relaxed))
        }
    }

    fn booth_with(record: &OfficerEnrolled) -> (Booth, Arc<TestClock>) {
        let mut state = MemoryState::default();
        let entry = Entry {
            seq: 1,
            prev: [0; 32],
            time: "2026-05-01T00:00:00Z".parse().expect("time"),
            change: Change::OfficerEnrolled(record.clone()),
        };
        apply_entry(&mut state, &entry, &IndexConsistency).expect("enrol");
        let clock = Arc::new(TestClock(AtomicU64::new(100)));
        let settings = BoothSettings {
            idle_timeout: Duration::from_secs(600),
            lockout_window: Duration::from_secs(900),
        };
        let booth = Booth::new(Arc::new(state), clock.clone(), TimeZone::UTC, settings);
        (booth, clock)
    }

    #[test]
    fn a_session_ends_when_idle_and_lockouts_follow_the_monotonic_clock() {
        let record = OfficerEnrolled {
            officer_id: "O-1".into(),
            role: Role::Officer,
            verifier: make_verifier(b"pin-123456", &[3; 16]).expect("verifier"),
            valid_from: "2026-01-01".parse().expect("date"),
            valid_until: "2026-12-31".parse().expect("date"),
            language: Language::En,
        };
        let (booth, clock) = booth_with(&record);
        let (token, who) = booth.sign_in("O-1", b"pin-123456", "p").expect("signed in");
        assert_eq!(who.idle_timeout_s, 600);
        clock.0.store(100 + 599, Ordering::Relaxed);
        assert!(booth.current(&token).is_some(), "used just in time");
        clock.0.store(100 + 599 + 600, Ordering::Relaxed);
        assert_eq!(booth.current(&token), None, "idle for the timeout");
        for _ in 0..FAILURES_BEFORE_LOCKOUT {
            assert_eq!(
                booth.sign_in("O-1", b"nope", "p").err(),
                Some(SignInRefused::Failed)
            );
        }
        assert!(matches!(
            booth.sign_in("O-1", b"pin-123456", "p"),
            Err(SignInRefused::LockedOut(_))
        ));
        clock.0.fetch_add(900, Ordering::Relaxed);
        assert!(booth.sign_in("O-1", b"pin-123456", "p").is_ok());
    }

    #[test]
    fn the_session_token_is_read_from_the_cookie_header() {
        assert_eq!(
            session_token(b"a=1; checkpoint_session=abc; b=2"),
            Some("abc")
        );
        assert_eq!(session_token(b"checkpoint_session="), None);
        assert_eq!(session_token(b"xcheckpoint_session=abc"), None);
        assert_eq!(session_token(&[0xff, 0xfe]), None);
        assert!(session_cookie("t").contains("HttpOnly; SameSite=Strict; Path=/"));
    }
}
