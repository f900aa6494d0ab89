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
/// Largest encoded entry of the CSCA trust kinds (a whole signed master list rides in one, as
/// its signature covers all of it); under NATS's default 1 MiB message payload. Every other kind
/// keeps [`ENTRY_BYTES_MAX`].
pub const ANY_ENTRY_BYTES_MAX: usize = 960 * 1024;

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
    #[error(
        "entry is {0} bytes, more than the limit ({ENTRY_BYTES_MAX} bytes, {ANY_ENTRY_BYTES_MAX} for the csca kinds)"
    )]
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

/// `csca_master_list`: a CMS-signed CscaMasterList (DER), as Germany's BSI and the ICAO PKD
/// publish it; applied only when its signer's signature verifies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CscaMasterListPublished {
    #[serde(with = "super::byte_string")]
    pub master_list: Vec<u8>,
}

/// `csca_added` / `csca_retired`: one CSCA certificate (DER).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CscaCertificate {
    #[serde(with = "super::byte_string")]
    pub certificate: Vec<u8>,
}

/// `csca_crl`: a CRL (DER) that a trusted CSCA signed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CscaCrl {
    #[serde(with = "super::byte_string")]
    pub crl: Vec<u8>,
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
    CscaMasterList(CscaMasterListPublished),
    CscaAdded(CscaCertificate),
    CscaRetired(CscaCertificate),
    CscaCrl(CscaCrl),
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
            Self::CscaMasterList(_) => "csca_master_list",
            Self::CscaAdded(_) => "csca_added",
            Self::CscaRetired(_) => "csca_retired",
            Self::CscaCrl(_) => "csca_crl",
        }
    }

    /// Whether the kind may use [`ANY_ENTRY_BYTES_MAX`] rather than [`ENTRY_BYTES_MAX`].
    fn is_csca_trust(&self) -> bool {
        matches!(
            self,
            Self::CscaMasterList(_) | Self::CscaAdded(_) | Self::CscaRetired(_) | Self::CscaCrl(_)
        )
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
            Self::CscaMasterList(b) => Value::serialized(b),
            Self::CscaAdded(b) => Value::serialized(b),
            Self::CscaRetired(b) => Value::serialized(b),
            Self::CscaCrl(b) => Value::serialized(b),
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
            "csca_master_list" => Self::CscaMasterList(body("csca_master_list", value)?),
            "csca_added" => Self::CscaAdded(body("csca_added", value)?),
            "csca_retired" => Self::CscaRetired(body("csca_retired", value)?),
            "csca_crl" => Self::CscaCrl(body("csca_crl", value)?),
            other => return Err(EntryError::UnknownKind(other.chars().take(64).collect())),
        })
    }

    /// Field-level checks that need no state (lengths, date order).
    fn check_fields(&self) -> Result<(), EntryError> {
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
            // Certificates, CRLs and master lists are read and checked on apply.
            Self::CscaMasterList(_)
            | Self::CscaAdded(_)
            | Self::CscaRetired(_)
            | Self::CscaCrl(_) => Ok(()),
        }
    }
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
        if encoded.len() > ANY_ENTRY_BYTES_MAX {
            return Err(EntryError::TooLarge(encoded.len()));
        }
        let large = encoded.len() > ENTRY_BYTES_MAX;
        let too_large = || EntryError::TooLarge(encoded.len());
        let wire: Wire = ciborium::from_reader(encoded).map_err(|e| {
            if large {
                too_large()
            } else {
                EntryError::Cbor(e.to_string())
            }
        })?;
        let change = Change::from_body(&wire.kind, wire.body)?;
        if large && !change.is_csca_trust() {
            return Err(too_large());
        }
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
mod tests {
    use super::*;

    fn date(s: &str) -> Date {
        s.parse().expect("test date")
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
            Change::CscaMasterList(CscaMasterListPublished {
                master_list: vec![0x30, 0x03, 0x02, 0x01, 0x00],
            }),
            Change::CscaAdded(CscaCertificate {
                certificate: vec![0x30, 0x00],
            }),
            Change::CscaRetired(CscaCertificate {
                certificate: vec![0x30, 0x00],
            }),
            Change::CscaCrl(CscaCrl {
                crl: vec![0x30, 0x01, 0x00],
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
    fn only_the_csca_kinds_may_be_larger_than_16_kib() {
        let time: Timestamp = "2026-03-04T05:06:07Z".parse().expect("test time");
        let big = |change: Change| {
            Entry {
                seq: 1,
                prev: [0; 32],
                time,
                change,
            }
            .encode()
        };
        let list = big(Change::CscaMasterList(CscaMasterListPublished {
            master_list: vec![7; 100 * 1024],
        }));
        assert!(Entry::decode(&list).is_ok());
        let alert = big(Change::Alert(AlertRaised {
            holder: [1; 32],
            alert: AlertKind::Lost,
            note: "x".repeat(NOTE_CHARS_MAX),
        }));
        assert!(Entry::decode(&alert).is_ok());
        let huge_permit = big(Change::PermitRevoked(PermitRevoked {
            cti: [1; 16],
            reason: "y".repeat(20 * 1024),
        }));
        assert!(matches!(
            Entry::decode(&huge_permit),
            Err(EntryError::TooLarge(_))
        ));
        let over = big(Change::CscaMasterList(CscaMasterListPublished {
            master_list: vec![7; ANY_ENTRY_BYTES_MAX],
        }));
        assert!(matches!(Entry::decode(&over), Err(EntryError::TooLarge(_))));
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
