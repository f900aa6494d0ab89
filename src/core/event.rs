//! Crossing events: the signed, hash-chained record of an entry, exit or refused entry.
//! Encoding (CBOR in a COSE_Sign1 signed with the terminal's Ed25519 key), verification, and the
//! central audit that dedupes on (terminal, seq), checks the chain and reports gaps.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use coset::{
    CborSerializable, CoseSign1, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable, iana,
};
use ed25519_dalek::{Signature, Signer};
/// The key types of this module's API, re-exported so callers need not name ed25519-dalek.
pub use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::document::HolderDigest;
use super::privacy::DocumentNumber;

/// Largest signed event accepted from the wire; a real event is well under 1 KiB.
pub const EVENT_BYTES_MAX: usize = 16 * 1024;
/// Most reason codes one event may carry.
pub const REASON_CODES_MAX: usize = 32;
/// Longest free-text field (checkpoint, lane, officer id, codes) in bytes.
pub const FIELD_BYTES_MAX: usize = 64;
/// Longest terminal id; it becomes a NATS subject token and part of `Nats-Msg-Id`.
pub const TERMINAL_ID_BYTES_MAX: usize = 64;
/// Version of the event payload layout (field `v`).
pub const EVENT_FORMAT_VERSION: u8 = 1;
/// `prev_hash` of a terminal's first event (seq 1).
pub const GENESIS_HASH: EventHash = EventHash([0; 32]);

/// Why an event could not be built, encoded or decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EventError {
    /// A terminal id must be 1–64 characters from `A-Z a-z 0-9 _ -`.
    #[error("terminal id {0:?} is invalid: use 1-64 characters from A-Z a-z 0-9 _ -")]
    TerminalId(String),
    /// A text field is longer than [`FIELD_BYTES_MAX`] or contains a control character.
    #[error("field {field} is invalid: at most {FIELD_BYTES_MAX} bytes, no control characters")]
    Field {
        /// The offending field.
        field: &'static str,
    },
    /// More than [`REASON_CODES_MAX`] reason codes.
    #[error("too many reason codes: {0} (max {REASON_CODES_MAX})")]
    TooManyReasonCodes(usize),
    /// The payload could not be CBOR-encoded.
    #[error("event encoding failed: {0}")]
    Encode(String),
}

/// A terminal's stable identifier; also a NATS subject token.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TerminalId(String);

impl TerminalId {
    /// Validates a terminal id.
    pub fn new(id: impl Into<String>) -> Result<Self, EventError> {
        let id = id.into();
        let valid_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
        if id.is_empty() || id.len() > TERMINAL_ID_BYTES_MAX || !id.chars().all(valid_char) {
            return Err(EventError::TerminalId(id));
        }
        Ok(Self(id))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TerminalId {
    type Error = EventError;
    fn try_from(id: String) -> Result<Self, EventError> {
        Self::new(id)
    }
}

impl From<TerminalId> for String {
    fn from(id: TerminalId) -> String {
        id.0
    }
}

impl fmt::Display for TerminalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TerminalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TerminalId({})", self.0)
    }
}

/// SHA-256 of a signed event's bytes: the link of the per-terminal chain.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EventHash(pub [u8; 32]);

impl EventHash {
    /// The hash of signed event bytes.
    pub fn of(signed: &[u8]) -> Self {
        Self(Sha256::digest(signed).into())
    }
}

impl TryFrom<String> for EventHash {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(&text, &mut bytes).map_err(|e| format!("event hash: {e}"))?;
        Ok(Self(bytes))
    }
}

impl From<EventHash> for String {
    fn from(hash: EventHash) -> String {
        hex::encode(hash.0)
    }
}

impl fmt::Display for EventHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for EventHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventHash({})", hex::encode(&self.0[..8]))
    }
}

/// What a crossing record is: a movement (entry or exit, see [`CrossingKind::crossed`] for the
/// one [`Direction`](super::decision::Direction)) or a presentation that moved no one (a refused
/// entry, a referral). On the wire it is the event's `direction` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CrossingKind {
    /// Admitted into the country.
    Entry,
    /// Left the country.
    Exit,
    /// Presented for entry and refused: counts for statistics, not for stay days.
    RefusedEntry,
    /// Referred to second line by the officer (the final decision follows as its own event, which
    /// names this one): not a movement.
    Referred,
}

impl CrossingKind {
    /// The border crossing this record is, if any: an entry or an exit; a refused entry or a
    /// referral is no movement.
    pub fn crossed(self) -> Option<super::decision::Direction> {
        match self {
            Self::Entry => Some(super::decision::Direction::Entry),
            Self::Exit => Some(super::decision::Direction::Exit),
            Self::RefusedEntry | Self::Referred => None,
        }
    }
}

/// The lane decision as recorded: the decision's own [`Outcome`](super::decision::Outcome)
/// (same wire names, `admit`, `refer`, `refuse`), named as the event's readers know it.
pub use super::decision::Outcome as Verdict;

/// Longest officer id accepted (characters, all ASCII).
pub const OFFICER_ID_CHARS_MAX: usize = 32;

/// Why an officer id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OfficerIdError {
    /// Empty or only spaces.
    #[error("officer id is required")]
    Empty,
    /// Longer than [`OFFICER_ID_CHARS_MAX`].
    #[error("officer id is {0} bytes long (at most {OFFICER_ID_CHARS_MAX} characters)")]
    TooLong(usize),
    /// A character outside `A-Z a-z 0-9 . _ -`.
    #[error(
        "officer id has character {character} at position {position}: only ASCII letters, digits, '.', '_' and '-' are allowed"
    )]
    Character {
        /// The offending character, escaped (`\u{200b}`), so an invisible one shows.
        character: String,
        /// Its position (in characters, from 1).
        position: usize,
    },
}

/// Checks an officer (badge) id: 1 to [`OFFICER_ID_CHARS_MAX`] characters from
/// `A-Z a-z 0-9 . _ -`. Plain ASCII only, so no zero-width, bidirectional or full-width character
/// can make one id look like another's in a record or a log.
pub fn check_officer_id(id: &str) -> Result<(), OfficerIdError> {
    if id.is_empty() {
        return Err(OfficerIdError::Empty);
    }
    if id.len() > OFFICER_ID_CHARS_MAX {
        return Err(OfficerIdError::TooLong(id.len()));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    match id.chars().enumerate().find(|(_, c)| !allowed(*c)) {
        Some((index, character)) => Err(OfficerIdError::Character {
            character: character.escape_default().to_string(),
            position: index + 1,
        }),
        None => Ok(()),
    }
}

/// Who confirmed the crossing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Operator {
    /// A border officer, by service id.
    Officer(String),
    /// An unattended kiosk, by kiosk id.
    Kiosk(String),
}

/// The minimum personal data central needs: no names, no images.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Traveller {
    /// Document code (`P`, `ID`, …).
    pub document_type: String,
    /// Issuing state (`AZE`, `D`).
    pub issuing_state: String,
    /// Nationality code.
    pub nationality: String,
    /// Birth date as read from the MRZ (`YYMMDD`, unknown parts as `<`).
    pub birth_date: String,
    /// `M`, `F` or `<`.
    pub sex: String,
    /// The document number (masked in logs).
    pub document_number: DocumentNumber,
}

impl Traveller {
    /// The movement-index key of this traveller's document.
    pub fn holder_digest(&self) -> HolderDigest {
        HolderDigest::of(&self.issuing_state, self.document_number.expose())
    }
}

/// What the crossing was granted on.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grounds {
    /// The permit's CWT id (hex), if a permit card was presented.
    pub permit_cti: Option<String>,
    /// The e-visa reference used, if any.
    pub evisa: Option<String>,
}

/// Stay figures at the time of the decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StayFigures {
    /// Days used in the current window.
    pub days_used: u32,
    /// Last day the traveller may leave legally.
    pub latest_legal_exit: Option<jiff::civil::Date>,
    /// Days overstayed (0 if none).
    pub overstay_days: u32,
}

/// What the decision layer hands over to be recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Crossing {
    /// Checkpoint code (airport, land border post).
    pub checkpoint: String,
    /// Lane or booth.
    pub lane: String,
    /// Entry, exit or refused entry.
    pub direction: CrossingKind,
    /// Whose document.
    pub traveller: Traveller,
    /// Permit / e-visa grounds.
    pub grounds: Grounds,
    /// Admit, refer or refuse.
    pub verdict: Verdict,
    /// Stable reason codes from the decision layer.
    pub reason_codes: Vec<String>,
    /// Officer or kiosk.
    pub operator: Operator,
    /// Age of the ledger replica at decision time, in seconds (None: no ledger yet).
    pub ledger_age_s: Option<u64>,
    /// Stay figures, when computed.
    pub stay: Option<StayFigures>,
    /// Seconds since the clock was last synchronised (None: unknown).
    pub clock_sync_age_s: Option<u64>,
    /// An admission against a refusal or a referral, co-signed by a supervisor (four eyes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub officer_override: Option<OfficerOverride>,
    /// The officer's note when the traveller was referred to second line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referral: Option<ReferralNote>,
    /// The second line's final decision on a referral recorded before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub second_line: Option<SecondLine>,
    /// The officer acknowledged the alert's required action before anything was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_acknowledged: Option<AlertAcknowledged>,
    /// The person-alert hit the officer reviewed for this crossing, and the decision (absent
    /// when the traveller matched no alert), so central can review false positives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watchlist: Option<WatchlistReview>,
    /// The document chip's passive-authentication result and its signer (absent when no chip
    /// was read); never the chip's personal data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chip: Option<ChipRecord>,
}

/// Longest officer-written text (override and second-line explanations, referral notes), bytes.
pub const TEXT_BYTES_MAX: usize = 2048;

/// An override: the reason (a code from a fixed list and the officer's text) and both officers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfficerOverride {
    /// The reason code (`core::officer::OVERRIDE_REASONS`).
    pub reason_code: String,
    /// The officer's explanation.
    pub text: String,
    /// The signed-in officer who admitted.
    pub officer_id: String,
    /// The supervisor who co-signed on the same screen.
    pub supervisor_id: String,
}

/// A referral to second line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferralNote {
    /// The referring officer's note.
    pub note: String,
}

/// The second line's decision, naming the referral event it closes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecondLine {
    /// `seq` of the referral event (same terminal).
    pub referral_seq: u64,
    /// Hash of the referral event's signed bytes.
    pub referral_hash: EventHash,
    /// The reason code (`core::officer::OVERRIDE_REASONS`).
    pub reason_code: String,
    /// The second-line officer's explanation.
    pub text: String,
}

/// An alert's required action, acknowledged by the signed-in officer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertAcknowledged {
    /// The action acknowledged (`raise_alert`: hold the document, call the duty supervisor).
    pub action: String,
    /// Who acknowledged it.
    pub officer_id: String,
    /// When.
    pub at: jiff::Timestamp,
}

/// An officer's review of a person-alert hit: which alert, how strongly it matched, and whether
/// the officer confirmed the traveller is that person or dismissed the hit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchlistReview {
    pub alert_id: String,
    pub score: AlertScore,
    pub decision: WatchlistDecision,
}

/// A watchlist score in [0, 1], compared by its bits (a recorded score is a value, not a
/// measurement to compare loosely).
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AlertScore(pub f64);

impl PartialEq for AlertScore {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl Eq for AlertScore {}

/// What the officer decided about a person-alert hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WatchlistDecision {
    /// The traveller is the person sought: refused or held as the alert says.
    Confirmed,
    /// Not the person sought: the crossing goes on as the rest of the verdict says.
    Dismissed,
}

/// What a crossing event may say about the document's chip: the passive-authentication result
/// and the document signer's country and serial number (nothing of the holder).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChipRecord {
    /// `valid` or `invalid`.
    pub passive_authentication: String,
    /// The document signer's country, as its certificate writes it.
    pub dsc_country: Option<String>,
    /// The document signer certificate's serial number, upper-case hex.
    pub dsc_serial: Option<String>,
}

impl Crossing {
    /// Checks the bounds on free-text fields.
    pub fn validate(&self) -> Result<(), EventError> {
        if self.reason_codes.len() > REASON_CODES_MAX {
            return Err(EventError::TooManyReasonCodes(self.reason_codes.len()));
        }
        let operator_id = match &self.operator {
            Operator::Officer(id) | Operator::Kiosk(id) => id,
        };
        let t = &self.traveller;
        let fields: [(&'static str, &str); 10] = [
            ("checkpoint", &self.checkpoint),
            ("lane", &self.lane),
            ("operator", operator_id),
            ("document_type", &t.document_type),
            ("issuing_state", &t.issuing_state),
            ("nationality", &t.nationality),
            ("birth_date", &t.birth_date),
            ("sex", &t.sex),
            ("document_number", t.document_number.expose()),
            ("evisa", self.grounds.evisa.as_deref().unwrap_or("")),
        ];
        let codes = self
            .reason_codes
            .iter()
            .map(|c| ("reason_codes", c.as_str()));
        let chip = self.chip.iter().flat_map(|chip| {
            [
                (
                    "chip.passive_authentication",
                    chip.passive_authentication.as_str(),
                ),
                (
                    "chip.dsc_country",
                    chip.dsc_country.as_deref().unwrap_or(""),
                ),
                ("chip.dsc_serial", chip.dsc_serial.as_deref().unwrap_or("")),
            ]
        });
        let review = self
            .watchlist
            .iter()
            .map(|review| ("watchlist.alert_id", review.alert_id.as_str()));
        if let Some(review) = &self.watchlist
            && !(0.0..=1.0).contains(&review.score.0)
        {
            return Err(EventError::Field {
                field: "watchlist.score",
            });
        }
        for (field, value) in fields
            .into_iter()
            .chain(codes)
            .chain(review)
            .chain(chip)
            .chain(self.booth_fields())
        {
            if value.len() > FIELD_BYTES_MAX || value.chars().any(char::is_control) {
                return Err(EventError::Field { field });
            }
        }
        let texts = [
            (
                "officer_override.text",
                self.officer_override.as_ref().map(|o| &o.text),
            ),
            ("referral.note", self.referral.as_ref().map(|r| &r.note)),
            (
                "second_line.text",
                self.second_line.as_ref().map(|s| &s.text),
            ),
        ];
        for (field, text) in texts {
            let text = text.map_or("", String::as_str);
            let control = |c: char| c.is_control() && c != '\n' && c != '\r';
            if text.len() > TEXT_BYTES_MAX || text.chars().any(control) {
                return Err(EventError::Field { field });
            }
        }
        Ok(())
    }
}

impl Crossing {
    /// The short fields of the optional booth records (ids and codes), for [`Self::validate`].
    fn booth_fields(&self) -> Vec<(&'static str, &str)> {
        let mut fields = Vec::new();
        if let Some(o) = &self.officer_override {
            fields.push(("officer_override.reason_code", o.reason_code.as_str()));
            fields.push(("officer_override.officer_id", o.officer_id.as_str()));
            fields.push(("officer_override.supervisor_id", o.supervisor_id.as_str()));
        }
        if let Some(s) = &self.second_line {
            fields.push(("second_line.reason_code", s.reason_code.as_str()));
        }
        if let Some(a) = &self.alert_acknowledged {
            fields.push(("alert_acknowledged.action", a.action.as_str()));
            fields.push(("alert_acknowledged.officer_id", a.officer_id.as_str()));
        }
        fields
    }
}

/// The clock as the terminal saw it when recording.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockState {
    /// Seconds since the last time synchronisation (None: unknown).
    pub last_sync_age_s: Option<u64>,
    /// Monotonic time of the terminal process, in nanoseconds.
    pub monotonic_ns: u64,
    /// Set when the wall clock read earlier than the persisted high-water mark: how far, in ms.
    /// The recorded `wall_time` is then the clock's (untrusted) reading.
    pub behind_high_water_ms: Option<u64>,
}

/// The outcome of comparing a wall-clock reading to the persisted high-water mark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockGuard {
    /// The high-water mark to persist next.
    pub high_water: jiff::Timestamp,
    /// How far the reading is behind the previous mark, if it is.
    pub behind_ms: Option<u64>,
    /// The reading is further behind than the tolerance: the clock was set back, not merely
    /// corrected by a small step (`[lane] clock_backwards_tolerance_ms`).
    pub suspect: bool,
}

/// Compares a wall-clock reading to the previous high-water mark: a clock that went backwards
/// further than `tolerance` is flagged, and the mark never moves back.
pub fn guard_clock(
    now: jiff::Timestamp,
    high_water: Option<jiff::Timestamp>,
    tolerance: std::time::Duration,
) -> ClockGuard {
    match high_water {
        Some(mark) if now < mark => {
            let behind = mark.duration_since(now).unsigned_abs();
            ClockGuard {
                high_water: mark,
                behind_ms: Some(u64::try_from(behind.as_millis()).unwrap_or(u64::MAX)),
                suspect: behind > tolerance,
            }
        }
        _ => ClockGuard {
            high_water: now,
            behind_ms: None,
            suspect: false,
        },
    }
}

/// Where a terminal's chain of events stands between two records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainHead {
    /// The sequence the next event gets (1 for the first).
    pub next_seq: u64,
    /// The hash of the last event's signed bytes ([`GENESIS_HASH`] before the first).
    pub last_hash: EventHash,
    /// The latest wall time recorded; the clock is judged against it.
    pub clock_high_water: Option<jiff::Timestamp>,
}

/// What the terminal read when it recorded a crossing: its clocks, a fresh event id, its zone.
#[derive(Clone, Debug)]
pub struct Stamp<'a> {
    /// The wall clock.
    pub now: jiff::Timestamp,
    /// The monotonic clock, nanoseconds.
    pub monotonic_ns: u64,
    /// A random id for this event (hex).
    pub event_id: String,
    /// The checkpoint's time zone.
    pub time_zone: &'a jiff::tz::TimeZone,
    /// How far back the wall clock may step before the event is marked suspect.
    pub clock_tolerance: std::time::Duration,
}

/// One crossing chained to the terminal's previous event and signed.
#[derive(Clone, Debug)]
pub struct Chained {
    /// The event.
    pub event: CrossingEvent,
    /// Its COSE_Sign1 bytes.
    pub signed: Vec<u8>,
    /// The hash of those bytes (the next event's `prev_hash`).
    pub hash: EventHash,
    /// The wall clock was further behind the high-water mark than the tolerance.
    pub clock_suspect: bool,
}

/// Chains `crossing` to `head` — next sequence, previous hash, the clock judged against the
/// high-water mark — signs it, and moves `head` past it.
pub fn chain(
    head: &mut ChainHead,
    terminal: &TerminalId,
    crossing: Crossing,
    stamp: &Stamp<'_>,
    key: &SigningKey,
) -> Result<Chained, EventError> {
    let guard = guard_clock(stamp.now, head.clock_high_water, stamp.clock_tolerance);
    let event = CrossingEvent {
        v: EVENT_FORMAT_VERSION,
        event_id: stamp.event_id.clone(),
        terminal: terminal.clone(),
        seq: head.next_seq,
        prev_hash: head.last_hash,
        wall_time: stamp.now,
        time_zone: stamp.time_zone.iana_name().unwrap_or("UTC").to_string(),
        utc_offset_s: stamp.time_zone.to_offset(stamp.now).seconds(),
        clock: ClockState {
            last_sync_age_s: crossing.clock_sync_age_s,
            monotonic_ns: stamp.monotonic_ns,
            behind_high_water_ms: guard.behind_ms,
        },
        crossing,
    };
    let signed = sign(&event, key)?;
    let hash = EventHash::of(&signed);
    head.next_seq += 1;
    head.last_hash = hash;
    head.clock_high_water = Some(guard.high_water);
    Ok(Chained {
        event,
        signed,
        hash,
        clock_suspect: guard.suspect,
    })
}

impl ChainHead {
    /// The head after `event` (whose signed bytes hash to `hash`), when `event` is the next link
    /// of this chain; `None` when its sequence or previous hash says it belongs elsewhere.
    /// Rebuilds a head from events already written, as `chain` moved it when it wrote them.
    pub fn followed_by(&self, event: &CrossingEvent, hash: EventHash) -> Option<ChainHead> {
        if event.seq != self.next_seq || event.prev_hash != self.last_hash {
            return None;
        }
        let high_water = match self.clock_high_water {
            Some(mark) if mark > event.wall_time => mark,
            _ => event.wall_time,
        };
        Some(ChainHead {
            next_seq: self.next_seq + 1,
            last_hash: hash,
            clock_high_water: Some(high_water),
        })
    }
}

/// The signed content of one crossing record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrossingEvent {
    /// Payload layout version ([`EVENT_FORMAT_VERSION`]).
    pub v: u8,
    /// Random 128-bit event id (hex).
    pub event_id: String,
    /// The recording terminal.
    pub terminal: TerminalId,
    /// Per-terminal gapless sequence, starting at 1.
    pub seq: u64,
    /// Hash of the terminal's previous signed event ([`GENESIS_HASH`] for seq 1).
    pub prev_hash: EventHash,
    /// Wall-clock time of recording (UTC instant).
    pub wall_time: jiff::Timestamp,
    /// The terminal's IANA time zone.
    pub time_zone: String,
    /// UTC offset in force at `wall_time`, in seconds.
    pub utc_offset_s: i32,
    /// Clock health at recording time.
    pub clock: ClockState,
    /// The crossing itself.
    pub crossing: Crossing,
}

impl CrossingEvent {
    /// `Nats-Msg-Id` of this event: `<terminal>:<seq>`.
    pub fn message_id(&self) -> String {
        message_id(&self.terminal, self.seq)
    }
}

/// `Nats-Msg-Id` for an event: `<terminal>:<seq>`.
pub fn message_id(terminal: &TerminalId, seq: u64) -> String {
    format!("{terminal}:{seq}")
}

/// First 8 bytes of SHA-256 of the raw public key: the COSE `kid` of a terminal key.
pub fn key_id(key: &VerifyingKey) -> [u8; 8] {
    let digest = Sha256::digest(key.as_bytes());
    let mut kid = [0u8; 8];
    kid.copy_from_slice(&digest[..8]);
    kid
}

/// Encodes and signs an event: COSE_Sign1 (tag 18), protected `{alg: Ed25519 (-19), kid}`,
/// payload = CBOR of the event.
pub fn sign(event: &CrossingEvent, key: &SigningKey) -> Result<Vec<u8>, EventError> {
    event.crossing.validate()?;
    let mut payload = Vec::new();
    ciborium::into_writer(event, &mut payload).map_err(|e| EventError::Encode(e.to_string()))?;
    let protected = HeaderBuilder::new()
        .algorithm(iana::Algorithm::Ed25519)
        .key_id(key_id(&key.verifying_key()).to_vec())
        .build();
    let sign1 = CoseSign1Builder::new()
        .protected(protected)
        .payload(payload)
        .create_signature(&[], |tbs| key.sign(tbs).to_bytes().to_vec())
        .build();
    sign1
        .to_tagged_vec()
        .map_err(|e| EventError::Encode(e.to_string()))
}

/// Where consumers find terminal public keys (published in the ledger).
pub trait TerminalKeys {
    /// The current verifying key of a terminal, if known.
    fn verifying_key(&self, terminal: &TerminalId) -> Option<VerifyingKey>;
}

impl TerminalKeys for HashMap<TerminalId, VerifyingKey> {
    fn verifying_key(&self, terminal: &TerminalId) -> Option<VerifyingKey> {
        self.get(terminal).copied()
    }
}

/// Why a signed event was rejected.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", content = "detail", rename_all = "snake_case")]
pub enum Rejection {
    /// Larger than [`EVENT_BYTES_MAX`].
    TooLarge(usize),
    /// Not a COSE_Sign1 structure.
    NotCose(String),
    /// The protected header does not name Ed25519 (-19 or -8).
    WrongAlgorithm,
    /// No payload.
    NoPayload,
    /// The payload is not a valid event.
    BadPayload(String),
    /// Payload layout version not understood.
    UnknownVersion(u8),
    /// No key published for the terminal.
    UnknownTerminal(String),
    /// The `kid` does not match the terminal's key.
    KeyIdMismatch,
    /// The signature does not verify under the terminal's key.
    BadSignature,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge(n) => write!(f, "event is {n} bytes (max {EVENT_BYTES_MAX})"),
            Self::NotCose(e) => write!(f, "not a COSE_Sign1 message: {e}"),
            Self::WrongAlgorithm => f.write_str("protected header does not name Ed25519"),
            Self::NoPayload => f.write_str("COSE_Sign1 has no payload"),
            Self::BadPayload(e) => write!(f, "payload is not a crossing event: {e}"),
            Self::UnknownVersion(v) => write!(f, "unknown event format version {v}"),
            Self::UnknownTerminal(t) => write!(f, "no key published for terminal {t}"),
            Self::KeyIdMismatch => f.write_str("kid does not match the terminal key"),
            Self::BadSignature => f.write_str("signature does not verify"),
        }
    }
}

/// The result of verifying a signed event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verification {
    /// Signature valid; the decoded event and the hash of the signed bytes.
    Valid(Box<CrossingEvent>, EventHash),
    /// Rejected, with why.
    Rejected(Rejection),
}

/// Verifies a signed event against the terminal keys: size, COSE structure, algorithm, key id,
/// `verify_strict` over the received protected bytes, then the payload.
pub fn verify(signed: &[u8], keys: &dyn TerminalKeys) -> Verification {
    match verify_inner(signed, keys) {
        Ok(event) => Verification::Valid(Box::new(event), EventHash::of(signed)),
        Err(rejection) => Verification::Rejected(rejection),
    }
}

fn verify_inner(signed: &[u8], keys: &dyn TerminalKeys) -> Result<CrossingEvent, Rejection> {
    if signed.len() > EVENT_BYTES_MAX {
        return Err(Rejection::TooLarge(signed.len()));
    }
    let sign1 = CoseSign1::from_tagged_slice(signed)
        .or_else(|_| CoseSign1::from_slice(signed))
        .map_err(|e| Rejection::NotCose(e.to_string()))?;
    let ed25519 = [
        coset::Algorithm::Assigned(iana::Algorithm::Ed25519),
        coset::Algorithm::Assigned(iana::Algorithm::EdDSA),
    ];
    match &sign1.protected.header.alg {
        Some(alg) if ed25519.contains(alg) => {}
        _ => return Err(Rejection::WrongAlgorithm),
    }
    let payload = sign1.payload.as_deref().ok_or(Rejection::NoPayload)?;
    // The payload is decoded before the signature is checked only to learn which terminal key
    // to use; nothing from it is trusted until the signature verifies.
    let event: CrossingEvent =
        ciborium::from_reader(payload).map_err(|e| Rejection::BadPayload(e.to_string()))?;
    if event.v != EVENT_FORMAT_VERSION {
        return Err(Rejection::UnknownVersion(event.v));
    }
    let key = keys
        .verifying_key(&event.terminal)
        .ok_or_else(|| Rejection::UnknownTerminal(event.terminal.to_string()))?;
    if sign1.protected.header.key_id != key_id(&key) {
        return Err(Rejection::KeyIdMismatch);
    }
    sign1.verify_signature(&[], |signature, tbs| {
        let signature = Signature::from_slice(signature).map_err(|_| Rejection::BadSignature)?;
        key.verify_strict(tbs, &signature)
            .map_err(|_| Rejection::BadSignature)
    })?;
    Ok(event)
}

/// What the central audit made of one verified event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// First time this (terminal, seq) is seen.
    New,
    /// Same (terminal, seq) and same bytes as before: counted once.
    Duplicate,
    /// Same (terminal, seq) but different content: the terminal forked its chain.
    Conflict,
}

/// Per-terminal findings of the audit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TerminalReport {
    /// The terminal.
    pub terminal: TerminalId,
    /// Distinct events seen.
    pub events: u64,
    /// Highest sequence seen.
    pub last_seq: u64,
    /// Missing sequence ranges (inclusive), from 1 up to `last_seq`.
    pub gaps: Vec<(u64, u64)>,
    /// Sequences whose `prev_hash` does not match their predecessor's hash.
    pub chain_breaks: Vec<u64>,
    /// Sequences seen with two different contents.
    pub conflicts: Vec<u64>,
}

/// Summary of an audit run, what central ops needs to trust the numbers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    /// Distinct events accepted.
    pub events: u64,
    /// Copies of already-seen events (dropped).
    pub duplicates: u64,
    /// Messages rejected (bad signature, unknown terminal, …).
    pub rejected: u64,
    /// Per terminal.
    pub terminals: Vec<TerminalReport>,
}

impl AuditReport {
    /// True when nothing is missing, broken, conflicting or rejected.
    pub fn is_clean(&self) -> bool {
        self.rejected == 0
            && self
                .terminals
                .iter()
                .all(|t| t.gaps.is_empty() && t.chain_breaks.is_empty() && t.conflicts.is_empty())
    }
}

#[derive(Default)]
struct TerminalLog {
    /// seq → (hash of this event, its prev_hash).
    links: BTreeMap<u64, (EventHash, EventHash)>,
    conflicts: Vec<u64>,
}

/// The reference central consumer's state: dedupes on (terminal, seq), then checks chains and
/// gaps over everything seen.
#[derive(Default)]
pub struct FeedAudit {
    terminals: BTreeMap<TerminalId, TerminalLog>,
    duplicates: u64,
    rejected: u64,
}

impl FeedAudit {
    /// An empty audit.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts a rejected message.
    pub fn reject(&mut self) {
        self.rejected += 1;
    }

    /// Admits a verified event.
    pub fn admit(&mut self, event: &CrossingEvent, hash: EventHash) -> Admission {
        let log = self.terminals.entry(event.terminal.clone()).or_default();
        match log.links.get(&event.seq) {
            Some((seen, _)) if *seen == hash => {
                self.duplicates += 1;
                Admission::Duplicate
            }
            Some(_) => {
                log.conflicts.push(event.seq);
                Admission::Conflict
            }
            None => {
                log.links.insert(event.seq, (hash, event.prev_hash));
                Admission::New
            }
        }
    }

    /// Gaps, chain breaks and counts so far.
    pub fn report(&self) -> AuditReport {
        let mut report = AuditReport {
            duplicates: self.duplicates,
            rejected: self.rejected,
            ..AuditReport::default()
        };
        for (terminal, log) in &self.terminals {
            let mut gaps = Vec::new();
            let mut chain_breaks = Vec::new();
            let mut expected = 1u64;
            let mut previous: Option<(u64, EventHash)> = None;
            for (&seq, &(hash, prev_hash)) in &log.links {
                if seq > expected {
                    gaps.push((expected, seq - 1));
                }
                let link_ok = match previous {
                    Some((prev_seq, prev)) if prev_seq + 1 == seq => prev == prev_hash,
                    // After a gap the link cannot be checked; seq 1 must start from genesis.
                    _ => seq != 1 || prev_hash == GENESIS_HASH,
                };
                if !link_ok {
                    chain_breaks.push(seq);
                }
                previous = Some((seq, hash));
                expected = seq.saturating_add(1);
            }
            let events = log.links.len() as u64;
            report.events += events;
            report.terminals.push(TerminalReport {
                terminal: terminal.clone(),
                events,
                last_seq: previous.map_or(0, |(seq, _)| seq),
                gaps,
                chain_breaks,
                conflicts: log.conflicts.clone(),
            });
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn officer_ids_are_plain_ascii_and_short() {
        for good in [
            "O-17",
            "badge.0042",
            "A_b-9",
            &"x".repeat(OFFICER_ID_CHARS_MAX),
        ] {
            assert_eq!(check_officer_id(good), Ok(()), "{good}");
        }
        assert_eq!(check_officer_id(""), Err(OfficerIdError::Empty));
        assert_eq!(
            check_officer_id(&"7".repeat(10_240)),
            Err(OfficerIdError::TooLong(10_240))
        );
        // Zero-width space, right-to-left override, full-width digit, space, newline.
        for (bad, position) in [
            ("O-1\u{200b}7", 4),
            ("\u{202e}O-17", 1),
            ("O-\u{ff11}7", 3),
            ("O 17", 2),
            ("O-17\n", 5),
        ] {
            assert!(
                matches!(check_officer_id(bad), Err(OfficerIdError::Character { position: p, .. }) if p == position),
                "{bad:?}"
            );
        }
    }
    use proptest::prelude::*;

    fn terminal(id: &str) -> TerminalId {
        TerminalId::new(id).expect("valid test terminal id")
    }

    fn crossing(number: &str) -> Crossing {
        Crossing {
            checkpoint: "GYD".into(),
            lane: "3".into(),
            direction: CrossingKind::Entry,
            traveller: Traveller {
                document_type: "P".into(),
                issuing_state: "UTO".into(),
                nationality: "UTO".into(),
                birth_date: "740812".into(),
                sex: "F".into(),
                document_number: DocumentNumber::new(number),
            },
            grounds: Grounds::default(),
            verdict: Verdict::Admit,
            reason_codes: vec!["VISA_FREE".into()],
            operator: Operator::Officer("O-17".into()),
            ledger_age_s: Some(60),
            stay: Some(StayFigures {
                days_used: 3,
                latest_legal_exit: Some(jiff::civil::date(2026, 12, 1)),
                overstay_days: 0,
            }),
            clock_sync_age_s: Some(5),
            officer_override: None,
            referral: None,
            second_line: None,
            alert_acknowledged: None,
            watchlist: None,
            chip: None,
        }
    }

    fn event(seq: u64, prev_hash: EventHash) -> CrossingEvent {
        CrossingEvent {
            v: EVENT_FORMAT_VERSION,
            event_id: format!("{seq:032x}"),
            terminal: terminal("T1"),
            seq,
            prev_hash,
            wall_time: jiff::Timestamp::from_second(1_790_000_000 + seq as i64).expect("in range"),
            time_zone: "Asia/Baku".into(),
            utc_offset_s: 4 * 3600,
            clock: ClockState {
                last_sync_age_s: Some(5),
                monotonic_ns: seq,
                behind_high_water_ms: None,
            },
            crossing: crossing("L898902C3"),
        }
    }

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn keys_for(id: &str, key: &SigningKey) -> HashMap<TerminalId, VerifyingKey> {
        HashMap::from([(terminal(id), key.verifying_key())])
    }

    #[test]
    fn signed_event_round_trips() {
        let signing = key(7);
        let original = event(1, GENESIS_HASH);
        let signed = sign(&original, &signing).expect("sign");
        match verify(&signed, &keys_for("T1", &signing)) {
            Verification::Valid(decoded, hash) => {
                assert_eq!(*decoded, original);
                assert_eq!(hash, EventHash::of(&signed));
            }
            Verification::Rejected(r) => panic!("rejected: {r}"),
        }
    }

    #[test]
    fn the_chip_record_is_optional_signed_and_bounded() {
        let signing = key(7);
        let plain = sign(&event(1, GENESIS_HASH), &signing).expect("sign");
        // Absent, the field is not encoded at all: events from before it keep their bytes.
        assert!(!plain.windows(4).any(|w| w == b"chip"));
        let mut with_chip = event(2, GENESIS_HASH);
        with_chip.crossing.chip = Some(ChipRecord {
            passive_authentication: "valid".into(),
            dsc_country: Some("AZ".into()),
            dsc_serial: Some("2A".into()),
        });
        let signed = sign(&with_chip, &signing).expect("sign");
        match verify(&signed, &keys_for("T1", &signing)) {
            Verification::Valid(decoded, _) => assert_eq!(*decoded, with_chip),
            Verification::Rejected(r) => panic!("rejected: {r}"),
        }
        let mut long = with_chip.crossing.clone();
        long.chip = Some(ChipRecord {
            passive_authentication: "valid".into(),
            dsc_country: Some("\n".into()),
            dsc_serial: None,
        });
        assert!(matches!(
            long.validate(),
            Err(EventError::Field {
                field: "chip.dsc_country"
            })
        ));
    }

    #[test]
    fn rejections_table() {
        let signing = key(7);
        let signed = sign(&event(1, GENESIS_HASH), &signing).expect("sign");
        let mut flipped = signed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        let unsigned = {
            let mut s = CoseSign1::from_tagged_slice(&signed).expect("parse");
            s.signature.clear();
            s.to_tagged_vec().expect("encode")
        };
        let tampered_payload = {
            let mut s = CoseSign1::from_tagged_slice(&signed).expect("parse");
            let mut e = event(1, GENESIS_HASH);
            e.crossing.direction = CrossingKind::Exit;
            let mut payload = Vec::new();
            ciborium::into_writer(&e, &mut payload).expect("cbor");
            s.payload = Some(payload);
            s.to_tagged_vec().expect("encode")
        };
        type Case = (
            &'static str,
            Vec<u8>,
            HashMap<TerminalId, VerifyingKey>,
            Rejection,
        );
        let cases: Vec<Case> = vec![
            (
                "flipped signature bit",
                flipped,
                keys_for("T1", &signing),
                Rejection::BadSignature,
            ),
            (
                "signature removed",
                unsigned,
                keys_for("T1", &signing),
                Rejection::BadSignature,
            ),
            (
                "payload edited",
                tampered_payload,
                keys_for("T1", &signing),
                Rejection::BadSignature,
            ),
            (
                "unknown terminal",
                signed.clone(),
                keys_for("T2", &signing),
                Rejection::UnknownTerminal("T1".into()),
            ),
            (
                "other key",
                signed.clone(),
                keys_for("T1", &key(8)),
                Rejection::KeyIdMismatch,
            ),
            (
                "too large",
                vec![0; EVENT_BYTES_MAX + 1],
                keys_for("T1", &signing),
                Rejection::TooLarge(EVENT_BYTES_MAX + 1),
            ),
        ];
        for (name, bytes, keys, expected) in cases {
            assert_eq!(
                verify(&bytes, &keys),
                Verification::Rejected(expected),
                "{name}"
            );
        }
        assert!(matches!(
            verify(b"not cbor", &keys_for("T1", &signing)),
            Verification::Rejected(Rejection::NotCose(_))
        ));
    }

    #[test]
    fn terminal_ids_are_subject_safe() {
        for good in ["T1", "gyd-03_a"] {
            assert!(TerminalId::new(good).is_ok(), "{good}");
        }
        for bad in ["", "a.b", "a*", ">", "a b", "ü", &"x".repeat(65)] {
            assert!(TerminalId::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn oversized_fields_are_refused_before_signing() {
        let mut e = event(1, GENESIS_HASH);
        e.crossing.lane = "x".repeat(FIELD_BYTES_MAX + 1);
        assert_eq!(sign(&e, &key(1)), Err(EventError::Field { field: "lane" }));
        let mut e = event(1, GENESIS_HASH);
        e.crossing.reason_codes = vec!["R".into(); REASON_CODES_MAX + 1];
        assert_eq!(
            sign(&e, &key(1)),
            Err(EventError::TooManyReasonCodes(REASON_CODES_MAX + 1))
        );
    }

    #[test]
    fn clock_guard_flags_backward_jumps_and_keeps_the_mark() {
        let t = |s| jiff::Timestamp::from_second(s).expect("in range");
        let tolerance = std::time::Duration::from_secs(2);
        let guard = |high_water, behind_ms, suspect| ClockGuard {
            high_water,
            behind_ms,
            suspect,
        };
        assert_eq!(
            guard_clock(t(100), None, tolerance),
            guard(t(100), None, false)
        );
        assert_eq!(
            guard_clock(t(100), Some(t(90)), tolerance),
            guard(t(100), None, false)
        );
        assert_eq!(
            guard_clock(t(100), Some(t(130)), tolerance),
            guard(t(130), Some(30_000), true)
        );
        // A step back within the tolerance is noted but does not make the clock suspect.
        assert_eq!(
            guard_clock(t(100), Some(t(102)), tolerance),
            guard(t(102), Some(2_000), false)
        );
        assert_eq!(
            guard_clock(t(100), Some(t(102)), std::time::Duration::ZERO),
            guard(t(102), Some(2_000), true)
        );
    }

    #[test]
    fn chaining_links_each_event_to_the_last_and_judges_the_clock() {
        let key = key(1);
        let terminal = TerminalId::new("T1").expect("id");
        let zone = jiff::tz::TimeZone::get("Asia/Baku").expect("zone");
        let t = |s| jiff::Timestamp::from_second(s).expect("in range");
        let stamp = |now| Stamp {
            now,
            monotonic_ns: 0,
            event_id: "00".into(),
            time_zone: &zone,
            clock_tolerance: std::time::Duration::from_secs(2),
        };
        let mut head = ChainHead {
            next_seq: 1,
            last_hash: GENESIS_HASH,
            clock_high_water: None,
        };
        let first = super::chain(
            &mut head,
            &terminal,
            event(1, GENESIS_HASH).crossing,
            &stamp(t(1_800_000_000)),
            &key,
        )
        .expect("chained");
        let second = super::chain(
            &mut head,
            &terminal,
            event(2, GENESIS_HASH).crossing,
            &stamp(t(1_800_000_000 - 1)),
            &key,
        )
        .expect("chained");
        let third = super::chain(
            &mut head,
            &terminal,
            event(3, GENESIS_HASH).crossing,
            &stamp(t(1_800_000_000 - 60)),
            &key,
        )
        .expect("chained");
        assert_eq!(
            (first.event.seq, second.event.seq, third.event.seq),
            (1, 2, 3)
        );
        assert_eq!(first.event.prev_hash, GENESIS_HASH);
        assert_eq!(second.event.prev_hash, first.hash);
        assert_eq!(third.event.prev_hash, second.hash);
        assert!(!first.clock_suspect && !second.clock_suspect && third.clock_suspect);
        assert_eq!(second.event.clock.behind_high_water_ms, Some(1_000));
        assert_eq!(head.next_seq, 4);
        assert_eq!(head.last_hash, third.hash);
        assert_eq!(head.clock_high_water, Some(t(1_800_000_000)));

        let start = ChainHead {
            next_seq: 1,
            last_hash: GENESIS_HASH,
            clock_high_water: None,
        };
        let rebuilt = [&first, &second, &third]
            .iter()
            .try_fold(start, |at, link| at.followed_by(&link.event, link.hash));
        assert_eq!(
            rebuilt,
            Some(head),
            "the head rebuilt from the written events"
        );
        assert_eq!(start.followed_by(&second.event, second.hash), None);
    }

    fn chain(n: u64, signing: &SigningKey) -> Vec<(CrossingEvent, Vec<u8>)> {
        let mut prev = GENESIS_HASH;
        (1..=n)
            .map(|seq| {
                let e = event(seq, prev);
                let signed = sign(&e, signing).expect("sign");
                prev = EventHash::of(&signed);
                (e, signed)
            })
            .collect()
    }

    #[test]
    fn audit_dedupes_and_reports_gaps_and_breaks() {
        let signing = key(3);
        let events = chain(6, &signing);
        let mut audit = FeedAudit::new();
        for index in [0usize, 1, 1, 3, 5] {
            let (e, signed) = &events[index];
            audit.admit(e, EventHash::of(signed));
        }
        let report = audit.report();
        assert_eq!(report.events, 4);
        assert_eq!(report.duplicates, 1);
        assert_eq!(report.terminals[0].gaps, vec![(3, 3), (5, 5)]);
        assert!(report.terminals[0].chain_breaks.is_empty());
        assert!(!report.is_clean());

        let mut forked = events[2].0.clone();
        forked.prev_hash = GENESIS_HASH;
        let forked_signed = sign(&forked, &signing).expect("sign");
        audit.admit(&forked, EventHash::of(&forked_signed));
        audit.admit(&events[2].0, EventHash::of(&events[2].1));
        let report = audit.report();
        // The fork breaks the link into 3 and, from the forked 3, into the genuine 4.
        assert_eq!(report.terminals[0].chain_breaks, vec![3, 4]);
        assert_eq!(report.terminals[0].conflicts, vec![3]);
    }

    proptest! {
        #[test]
        fn audit_is_clean_for_any_delivery_order_with_duplicates(
            order in proptest::collection::vec(0usize..12, 12..40)
        ) {
            let signing = key(5);
            let events = chain(12, &signing);
            let mut audit = FeedAudit::new();
            // Every event at least once, in any order, some repeated.
            for index in order.iter().copied().chain(0..12) {
                let (e, signed) = &events[index];
                audit.admit(e, EventHash::of(signed));
            }
            let report = audit.report();
            prop_assert!(report.is_clean(), "{report:?}");
            prop_assert_eq!(report.events, 12);
            prop_assert_eq!(report.duplicates, order.len() as u64);
        }

        #[test]
        fn verify_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let keys = keys_for("T1", &key(1));
            prop_assert!(matches!(verify(&bytes, &keys), Verification::Rejected(_)));
        }
    }
}
