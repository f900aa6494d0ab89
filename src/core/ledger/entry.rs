//! Ledger entries and their CBOR wire form `{seq, prev, time, kind, body}` (see docs/ledger.md).

use ciborium::Value;
use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::core::document::HolderDigest;

/// Largest encoded entry accepted; a permit's BP1 text is well under 1 KiB.
pub const ENTRY_BYTES_MAX: usize = 16 * 1024;
/// Longest BP1 text a permit-issued entry may carry.
pub const BP1_CHARS_MAX: usize = 4096;
/// Longest free-text note (alerts, extensions, registrations).
pub const NOTE_CHARS_MAX: usize = 512;

/// SHA-256 of an entry's exact encoded bytes; `h(seq)` commits to the whole history via `prev`.
pub type Hash = [u8; 32];
/// Permit id (CWT claim 7), the revocation key.
pub type Cti = [u8; 16];
/// Issuer key id: the first 8 bytes of the RFC 9679 COSE_Key thumbprint.
pub type Kid = [u8; 8];

/// Hash of an entry's encoded bytes as received (never re-encoded).
pub fn entry_hash(encoded: &[u8]) -> Hash {
    Sha256::digest(encoded).into()
}

/// Why bytes are not a well-formed entry.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EntryError {
    #[error("entry is {0} bytes, more than the {ENTRY_BYTES_MAX}-byte limit")]
    TooLarge(usize),
    #[error("entry is not valid cbor: {0}")]
    Cbor(String),
    #[error("entry kind {0:?} is unknown")]
    UnknownKind(String),
    #[error("entry body for kind {kind} is malformed: {reason}")]
    Body { kind: &'static str, reason: String },
    #[error("entry field {field} is invalid: {reason}")]
    Field { field: &'static str, reason: String },
}

/// The permit types a ledger knows: the permit layer's own enum, by its stable wire names.
pub use crate::core::permit::PermitType;

/// The index fields of a permit, carried next to its BP1 text so lookups never decode BP1.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermitIndex {
    #[serde(with = "super::bytes")]
    pub cti: Cti,
    #[serde(with = "super::bytes")]
    pub holder: [u8; 32],
    pub permit_type: PermitType,
    pub valid_from: Date,
    pub valid_until: Date,
}

impl PermitIndex {
    /// The holder as the shared index type.
    pub fn holder_digest(&self) -> HolderDigest {
        HolderDigest(self.holder)
    }
}

/// `permit_issued`: the signed BP1 text and its index fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermitIssued {
    pub bp1: String,
    pub index: PermitIndex,
}

/// `permit_revoked`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermitRevoked {
    #[serde(with = "super::bytes")]
    pub cti: Cti,
    pub reason: String,
}

/// `issuer_key_added`: one key of the permit-card trust list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuerKeyAdded {
    #[serde(with = "super::bytes")]
    pub kid: Kid,
    #[serde(with = "super::bytes")]
    pub public_key: [u8; 32],
    pub sign_from: Timestamp,
    pub sign_until: Timestamp,
    pub verify_until: Timestamp,
    pub permit_types: Vec<PermitType>,
}

/// `issuer_key_retired`: the key stops verifying from the entry's time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuerKeyRetired {
    #[serde(with = "super::bytes")]
    pub kid: Kid,
    #[serde(with = "super::bytes")]
    pub public_key: [u8; 32],
}

/// `terminal_key_added`: a terminal's event-signing key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalKeyAdded {
    pub terminal_id: String,
    #[serde(with = "super::bytes")]
    pub public_key: [u8; 32],
    pub valid_from: Timestamp,
    pub valid_until: Timestamp,
}

/// `terminal_key_retired`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalKeyRetired {
    pub terminal_id: String,
    #[serde(with = "super::bytes")]
    pub public_key: [u8; 32],
}

/// `stay_extension`: the holder may stay until `until`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StayExtension {
    #[serde(with = "super::bytes")]
    pub holder: [u8; 32],
    pub until: Date,
    pub reference: String,
}

/// `registration`: place-of-stay registration for a period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    #[serde(with = "super::bytes")]
    pub holder: [u8; 32],
    pub valid_from: Date,
    pub valid_until: Date,
    pub place: String,
}

/// What an alert says about a document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AlertKind {
    /// Entry ban until (and including) `until`.
    EntryBan {
        until: Date,
    },
    Lost,
    Stolen,
    Invalidated,
}

/// `alert`: its id is the seq of the entry that raised it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertRaised {
    #[serde(with = "super::bytes")]
    pub holder: [u8; 32],
    pub alert: AlertKind,
    pub note: String,
}

/// `alert_lifted`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertLifted {
    pub alert_id: u64,
}

/// `officer_enrolled`: an officer account (or its new verifier, role or language: a later
/// enrolment of the same id replaces the earlier one).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfficerEnrolled {
    pub officer_id: String,
    pub role: crate::core::officer::Role,
    /// Argon2id PHC string of the officer's PIN or password; never the secret itself.
    pub verifier: String,
    pub valid_from: Date,
    pub valid_until: Date,
    pub language: crate::core::officer::Language,
}

/// `officer_revoked`: the officer may no longer sign in from the entry's time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfficerRevoked {
    pub officer_id: String,
    pub reason: String,
}

/// Longest person-alert id.
pub const PERSON_ALERT_ID_CHARS_MAX: usize = 64;
/// Longest surname or given names of a person alert's name.
pub const PERSON_NAME_CHARS_MAX: usize = 128;
/// Names a person alert may carry (the watchlist screens this many).
pub const PERSON_ALERT_NAMES_MAX: usize = crate::core::watchlist::index::ALERT_NAMES_MAX;
/// Nationalities a person alert may list.
pub const PERSON_ALERT_NATIONALITIES_MAX: usize = 8;

/// A name as written in its own script (Azerbaijani Latin, Cyrillic, Georgian, Arabic/Persian).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OriginalName {
    pub surname: String,
    pub given_names: String,
}

/// One of a person alert's names: in Latin or any script, optionally with the original spelling.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonAlertName {
    pub surname: String,
    #[serde(default)]
    pub given_names: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<OriginalName>,
}

impl std::fmt::Debug for OriginalName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OriginalName(***)")
    }
}

impl std::fmt::Debug for PersonAlertName {
    /// Names are personal data: never in `Debug` (logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PersonAlertName(***)")
    }
}

/// A person's sex as a person alert states it (`null`: unknown).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PersonSex {
    #[serde(rename = "M")]
    Male,
    #[serde(rename = "F")]
    Female,
}

/// What a person alert is (the issue's contract spelling).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonAlertKind {
    /// Entry ban, until `until` (inclusive) when given.
    EntryBan,
    Wanted,
    Deported,
    MissingPerson,
    Other,
}

/// `person_alert`: a person sought by name, birth date, nationality and sex, whatever document
/// they carry. The body is the alert line of `watchlist screen --alerts` plus `action` and
/// `note`, so one file serves both.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonAlertRaised {
    /// Central's id for the alert (unique over the ledger's life).
    pub alert_id: String,
    pub names: Vec<PersonAlertName>,
    /// `YYYY-MM-DD`, `YYYY-MM` or `YYYY`; `None`: unknown.
    #[serde(default)]
    pub birth_date: Option<String>,
    /// ICAO 9303 three-letter codes.
    #[serde(default)]
    pub nationalities: Vec<String>,
    #[serde(default)]
    pub sex: Option<PersonSex>,
    pub kind: PersonAlertKind,
    /// Last day of an entry ban (entry bans only; absent: no end date).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Date>,
    /// What the officer must do on a confirmed hit.
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub note: String,
}

impl PersonAlertRaised {
    /// The alert as the watchlist screens it: every name, and each original spelling as a
    /// name of its own.
    pub fn to_watchlist(&self) -> crate::core::watchlist::PersonAlert {
        use crate::core::watchlist::{AlertKind, AlertName, PersonAlert, Sex};
        let mut names = Vec::with_capacity(self.names.len());
        for name in &self.names {
            names.push(AlertName {
                surname: name.surname.clone(),
                given_names: name.given_names.clone(),
            });
            if let Some(original) = &name.original {
                names.push(AlertName {
                    surname: original.surname.clone(),
                    given_names: original.given_names.clone(),
                });
            }
        }
        PersonAlert {
            alert_id: self.alert_id.clone(),
            names,
            birth_date: self
                .birth_date
                .as_deref()
                .and_then(|text| text.parse().ok()),
            nationalities: self.nationalities.clone(),
            sex: self.sex.map(|sex| match sex {
                PersonSex::Male => Sex::Male,
                PersonSex::Female => Sex::Female,
            }),
            kind: match self.kind {
                PersonAlertKind::EntryBan => AlertKind::EntryBan,
                PersonAlertKind::Wanted => AlertKind::Wanted,
                PersonAlertKind::Deported => AlertKind::Deported,
                PersonAlertKind::MissingPerson => AlertKind::MissingPerson,
                PersonAlertKind::Other => AlertKind::Other,
            },
            until: self.until,
        }
    }

    /// Field checks: id, names, birth date, nationalities, `until` only on entry bans.
    fn check(&self) -> Result<(), EntryError> {
        let field = |field: &'static str, reason: String| EntryError::Field { field, reason };
        let id_chars = self.alert_id.chars().count();
        if id_chars == 0 || id_chars > PERSON_ALERT_ID_CHARS_MAX {
            return Err(field(
                "alert_id",
                format!("must be 1 to {PERSON_ALERT_ID_CHARS_MAX} characters"),
            ));
        }
        if self.alert_id.chars().any(char::is_control) {
            return Err(field("alert_id", "holds a control character".into()));
        }
        if self.names.is_empty() || self.names.len() > PERSON_ALERT_NAMES_MAX {
            return Err(field(
                "names",
                format!("must hold 1 to {PERSON_ALERT_NAMES_MAX} names"),
            ));
        }
        for (n, name) in self.names.iter().enumerate() {
            let original = name.original.iter();
            let parts = [
                (&name.surname, "surname"),
                (&name.given_names, "given_names"),
            ]
            .into_iter()
            .chain(original.flat_map(|o| {
                [
                    (&o.surname, "original surname"),
                    (&o.given_names, "original given_names"),
                ]
            }));
            for (text, part) in parts {
                if text.chars().count() > PERSON_NAME_CHARS_MAX
                    || text.chars().any(char::is_control)
                {
                    return Err(field(
                        "names",
                        format!(
                            "name {}: {part} is longer than {PERSON_NAME_CHARS_MAX} characters or holds a control character",
                            n + 1
                        ),
                    ));
                }
            }
            if name.surname.trim().is_empty() && name.given_names.trim().is_empty() {
                return Err(field("names", format!("name {} is empty", n + 1)));
            }
        }
        if let Some(text) = &self.birth_date {
            text.parse::<crate::core::watchlist::BirthDate>()
                .map_err(|e| field("birth_date", e.to_string()))?;
        }
        if self.nationalities.len() > PERSON_ALERT_NATIONALITIES_MAX {
            return Err(field(
                "nationalities",
                format!("more than {PERSON_ALERT_NATIONALITIES_MAX}"),
            ));
        }
        for code in &self.nationalities {
            if crate::core::watchlist::nationality_code(code).is_none() {
                return Err(field(
                    "nationalities",
                    format!(
                        "{:?} is not a 1-3 letter country code",
                        code.chars().take(8).collect::<String>()
                    ),
                ));
            }
        }
        if self.until.is_some() && self.kind != PersonAlertKind::EntryBan {
            return Err(field("until", "only an entry ban has an end date".into()));
        }
        Ok(())
    }
}

/// `person_alert_lifted`: the person alert with this id no longer applies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonAlertLifted {
    pub alert_id: String,
}

/// The state change an entry makes, by kind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "body", rename_all = "snake_case")]
pub enum Change {
    IssuerKeyAdded(IssuerKeyAdded),
    IssuerKeyRetired(IssuerKeyRetired),
    TerminalKeyAdded(TerminalKeyAdded),
    TerminalKeyRetired(TerminalKeyRetired),
    PermitIssued(PermitIssued),
    PermitRevoked(PermitRevoked),
    StayExtension(StayExtension),
    Registration(Registration),
    Alert(AlertRaised),
    AlertLifted(AlertLifted),
    OfficerEnrolled(OfficerEnrolled),
    OfficerRevoked(OfficerRevoked),
    PersonAlert(PersonAlertRaised),
    PersonAlertLifted(PersonAlertLifted),
}

impl Change {
    /// The stable wire name of the kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::IssuerKeyAdded(_) => "issuer_key_added",
            Self::IssuerKeyRetired(_) => "issuer_key_retired",
            Self::TerminalKeyAdded(_) => "terminal_key_added",
            Self::TerminalKeyRetired(_) => "terminal_key_retired",
            Self::PermitIssued(_) => "permit_issued",
            Self::PermitRevoked(_) => "permit_revoked",
            Self::StayExtension(_) => "stay_extension",
            Self::Registration(_) => "registration",
            Self::Alert(_) => "alert",
            Self::AlertLifted(_) => "alert_lifted",
            Self::OfficerEnrolled(_) => "officer_enrolled",
            Self::OfficerRevoked(_) => "officer_revoked",
            Self::PersonAlert(_) => "person_alert",
            Self::PersonAlertLifted(_) => "person_alert_lifted",
        }
    }

    fn body_value(&self) -> Result<Value, ciborium::value::Error> {
        match self {
            Self::IssuerKeyAdded(b) => Value::serialized(b),
            Self::IssuerKeyRetired(b) => Value::serialized(b),
            Self::TerminalKeyAdded(b) => Value::serialized(b),
            Self::TerminalKeyRetired(b) => Value::serialized(b),
            Self::PermitIssued(b) => Value::serialized(b),
            Self::PermitRevoked(b) => Value::serialized(b),
            Self::StayExtension(b) => Value::serialized(b),
            Self::Registration(b) => Value::serialized(b),
            Self::Alert(b) => Value::serialized(b),
            Self::AlertLifted(b) => Value::serialized(b),
            Self::OfficerEnrolled(b) => Value::serialized(b),
            Self::OfficerRevoked(b) => Value::serialized(b),
            Self::PersonAlert(b) => Value::serialized(b),
            Self::PersonAlertLifted(b) => Value::serialized(b),
        }
    }

    fn from_body(kind: &str, value: Value) -> Result<Self, EntryError> {
        fn body<T: serde::de::DeserializeOwned>(
            kind: &'static str,
            body: Value,
        ) -> Result<T, EntryError> {
            body.deserialized().map_err(|e| EntryError::Body {
                kind,
                reason: e.to_string(),
            })
        }
        Ok(match kind {
            "issuer_key_added" => Self::IssuerKeyAdded(body("issuer_key_added", value)?),
            "issuer_key_retired" => Self::IssuerKeyRetired(body("issuer_key_retired", value)?),
            "terminal_key_added" => Self::TerminalKeyAdded(body("terminal_key_added", value)?),
            "terminal_key_retired" => {
                Self::TerminalKeyRetired(body("terminal_key_retired", value)?)
            }
            "permit_issued" => Self::PermitIssued(body("permit_issued", value)?),
            "permit_revoked" => Self::PermitRevoked(body("permit_revoked", value)?),
            "stay_extension" => Self::StayExtension(body("stay_extension", value)?),
            "registration" => Self::Registration(body("registration", value)?),
            "alert" => Self::Alert(body("alert", value)?),
            "alert_lifted" => Self::AlertLifted(body("alert_lifted", value)?),
            "officer_enrolled" => Self::OfficerEnrolled(body("officer_enrolled", value)?),
            "officer_revoked" => Self::OfficerRevoked(body("officer_revoked", value)?),
            "person_alert" => Self::PersonAlert(body("person_alert", value)?),
            "person_alert_lifted" => Self::PersonAlertLifted(body("person_alert_lifted", value)?),
            other => return Err(EntryError::UnknownKind(other.chars().take(64).collect())),
        })
    }

    /// Field-level checks that need no state (lengths, date order).
    pub fn check_fields(&self) -> Result<(), EntryError> {
        let note = |field: &'static str, text: &str| {
            if text.chars().count() > NOTE_CHARS_MAX {
                Err(EntryError::Field {
                    field,
                    reason: format!("longer than {NOTE_CHARS_MAX} characters"),
                })
            } else {
                Ok(())
            }
        };
        match self {
            Self::PermitIssued(p) => {
                if p.bp1.len() > BP1_CHARS_MAX {
                    return Err(EntryError::Field {
                        field: "bp1",
                        reason: format!("longer than {BP1_CHARS_MAX} bytes"),
                    });
                }
                Ok(())
            }
            Self::PermitRevoked(r) => note("reason", &r.reason),
            Self::StayExtension(s) => note("reference", &s.reference),
            Self::Registration(r) => note("place", &r.place),
            Self::Alert(a) => note("note", &a.note),
            Self::TerminalKeyAdded(t) => note("terminal_id", &t.terminal_id),
            Self::TerminalKeyRetired(t) => note("terminal_id", &t.terminal_id),
            Self::IssuerKeyAdded(_) | Self::IssuerKeyRetired(_) | Self::AlertLifted(_) => Ok(()),
            Self::OfficerEnrolled(o) => {
                officer_id(&o.officer_id)?;
                crate::core::officer::check_verifier(&o.verifier).map_err(|e| EntryError::Field {
                    field: "verifier",
                    reason: e.to_string(),
                })
            }
            Self::OfficerRevoked(o) => {
                officer_id(&o.officer_id)?;
                note("reason", &o.reason)
            }
            Self::PersonAlert(a) => {
                a.check()?;
                note("action", &a.action)?;
                note("note", &a.note)
            }
            Self::PersonAlertLifted(l) => {
                let chars = l.alert_id.chars().count();
                if chars == 0 || chars > PERSON_ALERT_ID_CHARS_MAX {
                    return Err(EntryError::Field {
                        field: "alert_id",
                        reason: format!("must be 1 to {PERSON_ALERT_ID_CHARS_MAX} characters"),
                    });
                }
                Ok(())
            }
        }
    }
}

fn officer_id(id: &str) -> Result<(), EntryError> {
    crate::core::event::check_officer_id(id).map_err(|e| EntryError::Field {
        field: "officer_id",
        reason: e.to_string(),
    })
}

/// One ledger entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Gapless, starting at 1.
    pub seq: u64,
    /// Hash of entry `seq - 1` (all zeroes for seq 1).
    pub prev: Hash,
    /// When central appended it.
    pub time: Timestamp,
    pub change: Change,
}

#[derive(Serialize, Deserialize)]
struct Wire {
    seq: u64,
    #[serde(with = "super::bytes")]
    prev: Hash,
    time: Timestamp,
    kind: String,
    body: Value,
}

impl Entry {
    /// The CBOR wire form.
    pub fn encode(&self) -> Vec<u8> {
        let wire = Wire {
            seq: self.seq,
            prev: self.prev,
            time: self.time,
            kind: self.change.kind().to_owned(),
            body: self
                .change
                .body_value()
                .expect("entry bodies are plain structs that always serialise to cbor"),
        };
        let mut out = Vec::new();
        ciborium::into_writer(&wire, &mut out).expect("writing cbor into a Vec cannot fail");
        out
    }

    /// Parses and field-checks the CBOR wire form.
    pub fn decode(encoded: &[u8]) -> Result<Self, EntryError> {
        if encoded.len() > ENTRY_BYTES_MAX {
            return Err(EntryError::TooLarge(encoded.len()));
        }
        let wire: Wire =
            ciborium::from_reader(encoded).map_err(|e| EntryError::Cbor(e.to_string()))?;
        let change = Change::from_body(&wire.kind, wire.body)?;
        change.check_fields()?;
        Ok(Self {
            seq: wire.seq,
            prev: wire.prev,
            time: wire.time,
            change,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn date(s: &str) -> Date {
        s.parse().expect("test date")
    }

    pub(crate) fn sample_person_alert(id: &str) -> PersonAlertRaised {
        PersonAlertRaised {
            alert_id: id.into(),
            names: vec![PersonAlertName {
                surname: "MAMMADOV".into(),
                given_names: "ELCHIN".into(),
                original: Some(OriginalName {
                    surname: "Məmmədov".into(),
                    given_names: "Elçin".into(),
                }),
            }],
            birth_date: Some("1985-03".into()),
            nationalities: vec!["AZE".into(), "RUS".into()],
            sex: Some(PersonSex::Male),
            kind: PersonAlertKind::EntryBan,
            until: Some(date("2031-01-01")),
            action: "refuse entry".into(),
            note: "deported 2026".into(),
        }
    }

    #[test]
    fn person_alert_fields_are_checked() {
        let time: Timestamp = "2026-03-04T05:06:07Z".parse().expect("test time");
        let refused = |alert: PersonAlertRaised| {
            let entry = Entry {
                seq: 1,
                prev: [0; 32],
                time,
                change: Change::PersonAlert(alert),
            };
            match Entry::decode(&entry.encode()) {
                Err(EntryError::Field { field, .. }) => field,
                other => panic!("not refused by a field check: {other:?}"),
            }
        };
        let base = sample_person_alert("PA-1");
        let mut a = base.clone();
        a.alert_id = String::new();
        assert_eq!(refused(a), "alert_id");
        let mut a = base.clone();
        a.names.clear();
        assert_eq!(refused(a), "names");
        let mut a = base.clone();
        a.birth_date = Some("1985-13".into());
        assert_eq!(refused(a), "birth_date");
        let mut a = base.clone();
        a.nationalities = vec!["A1Z".into()];
        assert_eq!(refused(a), "nationalities");
        let mut a = base.clone();
        a.kind = PersonAlertKind::Wanted;
        assert_eq!(refused(a), "until");
        let mut a = base.clone();
        a.action = "x".repeat(NOTE_CHARS_MAX + 1);
        assert_eq!(refused(a), "action");
        let mut a = base;
        a.names[0].surname = "A".repeat(PERSON_NAME_CHARS_MAX + 1);
        assert_eq!(refused(a), "names");
    }

    #[test]
    fn a_person_alert_line_of_the_screen_contract_is_an_entry_body() {
        let line = r#"{"alert_id":"A1","names":[{"surname":"Мамедов","given_names":"Эльчин"}],"birth_date":"1985","nationalities":["AZE"],"sex":null,"kind":"wanted","extra":1}"#;
        let alert: PersonAlertRaised = serde_json::from_str(line).expect("alert line");
        assert_eq!(alert.kind, PersonAlertKind::Wanted);
        assert_eq!(alert.action, "");
        assert!(alert.check().is_ok());
        let screened = alert.to_watchlist();
        assert_eq!(screened.names.len(), 1);
        assert_eq!(screened.birth_date.map(|b| b.year), Some(1985));
        assert_eq!(
            sample_person_alert("X").to_watchlist().names.len(),
            2,
            "the original spelling is screened too"
        );
    }

    pub(crate) fn sample_changes() -> Vec<Change> {
        let ts: Timestamp = "2026-01-01T00:00:00Z".parse().expect("test time");
        vec![
            Change::IssuerKeyAdded(IssuerKeyAdded {
                kid: [1; 8],
                public_key: [2; 32],
                sign_from: ts,
                sign_until: ts,
                verify_until: ts,
                permit_types: vec![PermitType::WorkPermit],
            }),
            Change::IssuerKeyRetired(IssuerKeyRetired {
                kid: [1; 8],
                public_key: [2; 32],
            }),
            Change::TerminalKeyAdded(TerminalKeyAdded {
                terminal_id: "T1".into(),
                public_key: [3; 32],
                valid_from: ts,
                valid_until: ts,
            }),
            Change::TerminalKeyRetired(TerminalKeyRetired {
                terminal_id: "T1".into(),
                public_key: [3; 32],
            }),
            Change::PermitIssued(PermitIssued {
                bp1: "BP1:ABC".into(),
                index: PermitIndex {
                    cti: [4; 16],
                    holder: [5; 32],
                    permit_type: PermitType::EvisaSingle,
                    valid_from: date("2026-01-01"),
                    valid_until: date("2026-12-31"),
                },
            }),
            Change::PermitRevoked(PermitRevoked {
                cti: [4; 16],
                reason: "lost".into(),
            }),
            Change::StayExtension(StayExtension {
                holder: [5; 32],
                until: date("2026-06-01"),
                reference: "EXT-1".into(),
            }),
            Change::Registration(Registration {
                holder: [5; 32],
                valid_from: date("2026-01-01"),
                valid_until: date("2026-02-01"),
                place: "BAK-001".into(),
            }),
            Change::Alert(AlertRaised {
                holder: [5; 32],
                alert: AlertKind::EntryBan {
                    until: date("2030-01-01"),
                },
                note: "court order".into(),
            }),
            Change::AlertLifted(AlertLifted { alert_id: 9 }),
            Change::OfficerEnrolled(OfficerEnrolled {
                officer_id: "O-17".into(),
                role: crate::core::officer::Role::Supervisor,
                verifier: "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$Hxm1mpSMKAu3/8QhqKI2SgamTAqO2jvAGrjm1ZBsXfA".into(),
                valid_from: date("2026-01-01"),
                valid_until: date("2026-12-31"),
                language: crate::core::officer::Language::Az,
            }),
            Change::OfficerRevoked(OfficerRevoked {
                officer_id: "O-17".into(),
                reason: "left the service".into(),
            }),
            Change::PersonAlert(sample_person_alert("PA-1")),
            Change::PersonAlertLifted(PersonAlertLifted {
                alert_id: "PA-1".into(),
            }),
        ]
    }

    #[test]
    fn every_kind_round_trips_through_cbor() {
        let time: Timestamp = "2026-03-04T05:06:07Z".parse().expect("test time");
        for (i, change) in sample_changes().into_iter().enumerate() {
            let entry = Entry {
                seq: i as u64 + 1,
                prev: [7; 32],
                time,
                change,
            };
            let bytes = entry.encode();
            assert_eq!(
                Entry::decode(&bytes),
                Ok(entry.clone()),
                "{}",
                entry.change.kind()
            );
        }
    }

    #[test]
    fn every_kind_round_trips_through_json() {
        for change in sample_changes() {
            let text = serde_json::to_string(&change).expect("json");
            assert!(
                text.contains(&format!("\"kind\":\"{}\"", change.kind())),
                "{text}"
            );
            let back: Change = serde_json::from_str(&text).expect("json back");
            assert_eq!(back, change);
        }
    }

    #[test]
    fn rejects_unknown_kind_oversize_and_garbage() {
        let time: Timestamp = "2026-03-04T05:06:07Z".parse().expect("test time");
        let wire = Wire {
            seq: 1,
            prev: [0; 32],
            time,
            kind: "permit_teleported".into(),
            body: Value::Map(vec![]),
        };
        let mut out = Vec::new();
        ciborium::into_writer(&wire, &mut out).expect("cbor");
        assert!(matches!(
            Entry::decode(&out),
            Err(EntryError::UnknownKind(_))
        ));
        assert!(matches!(
            Entry::decode(&vec![0u8; ENTRY_BYTES_MAX + 1]),
            Err(EntryError::TooLarge(_))
        ));
        assert!(matches!(
            Entry::decode(&[0xff, 0x00]),
            Err(EntryError::Cbor(_))
        ));
    }

    #[test]
    fn permit_type_names_are_stable() {
        for t in PermitType::ALL {
            let json = serde_json::to_string(&t).expect("json");
            assert_eq!(json, format!("\"{}\"", t.code()));
            assert_eq!(PermitType::parse(t.code()), Some(t));
        }
    }
}
