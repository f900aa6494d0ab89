//! Central's side for the ledger benchmarks: real signed work permits, chained entries and
//! checkpoints signed by two of three roots (not timed).

use checkpointd::core::document::HolderDigest;
use checkpointd::core::ledger::permit_check::index_of;
use checkpointd::core::ledger::{
    Change, Checkpoint, IssuerKeyAdded, PermitIssued, PermitType, RootKey, RootSet,
    SignedCheckpoint, extend,
};
use checkpointd::core::permit::{PermitBody, PermitClaims, PermitHolder, key_id, sign_permit};
use checkpointd::core::privacy::{DocumentNumber, PersonName};
use ed25519_dalek::SigningKey;
use jiff::Timestamp;
use rand::{Rng, SeedableRng};

pub fn ts(s: &str) -> Timestamp {
    s.parse().expect("timestamp")
}

pub fn document_number(i: u32) -> String {
    format!("N{i:08}")
}

pub fn holder(i: u32) -> HolderDigest {
    HolderDigest::of("UTO", &document_number(i))
}

pub struct Central {
    root_keys: Vec<SigningKey>,
    issuer: SigningKey,
    seq: u64,
    head: [u8; 32],
    rng: rand::rngs::StdRng,
}

impl Default for Central {
    fn default() -> Self {
        Self {
            root_keys: (1..=3u8)
                .map(|s| SigningKey::from_bytes(&[s; 32]))
                .collect(),
            issuer: SigningKey::from_bytes(&[42; 32]),
            seq: 0,
            head: [0; 32],
            rng: rand::rngs::StdRng::seed_from_u64(1),
        }
    }
}

impl Central {
    /// The roots' public keys, as a terminal's configuration pins them.
    pub fn root_public_keys(&self) -> Vec<[u8; 32]> {
        self.root_keys
            .iter()
            .map(|k| k.verifying_key().to_bytes())
            .collect()
    }

    /// The 2-of-3 root set terminals pin.
    pub fn roots(&self) -> RootSet {
        RootSet::new(
            self.root_public_keys()
                .iter()
                .map(|key| RootKey::from_bytes(key).expect("root"))
                .collect(),
            2,
        )
        .expect("roots")
    }
}

impl Central {
    pub fn issuer_key(&self) -> Change {
        Change::IssuerKeyAdded(IssuerKeyAdded {
            kid: key_id(&self.issuer.verifying_key()),
            public_key: self.issuer.verifying_key().to_bytes(),
            sign_from: ts("2025-01-01T00:00:00Z"),
            sign_until: ts("2028-01-01T00:00:00Z"),
            verify_until: ts("2032-01-01T00:00:00Z"),
            permit_types: PermitType::ALL.to_vec(),
        })
    }

    /// A real signed work permit for holder `i`, with a random cti as central issues them.
    pub fn permit(&mut self, i: u32) -> Change {
        let body = PermitBody {
            permit_type: PermitType::WorkPermit,
            holder: PermitHolder {
                issuing_state: "UTO".into(),
                document_number: DocumentNumber::new(document_number(i)),
                birth_date: "1990-01-01".parse().expect("date"),
                nationality: "UTO".into(),
                name: PersonName::new("ERIKSSON ANNA MARIA"),
            },
            valid_from: "2026-01-01".parse().expect("date"),
            valid_until: "2027-01-01".parse().expect("date"),
            employer: Some("Caspian Drilling LLC".into()),
            entries: None,
            region: None,
        };
        let claims = PermitClaims {
            issuer: "AZ-SMS".into(),
            issued_at: ts("2026-01-01T00:00:00Z"),
            not_before: ts("2026-01-01T00:00:00Z"),
            expires_at: ts("2027-01-02T00:00:00Z"),
            permit_id: self.rng.r#gen(),
        };
        let bp1 = sign_permit(
            &body,
            &claims,
            &self.issuer,
            key_id(&self.issuer.verifying_key()),
        );
        let index = index_of(&bp1).expect("own permit decodes");
        Change::PermitIssued(PermitIssued { bp1, index })
    }

    /// Builds the next checkpointed batch (central's work, not timed).
    pub fn next(&mut self, changes: Vec<Change>) -> (Vec<Vec<u8>>, Vec<u8>) {
        let time = ts("2026-05-01T00:00:00Z");
        let (encoded, head) = extend(self.seq, self.head, changes, time);
        self.seq += encoded.len() as u64;
        self.head = head;
        let checkpoint = Checkpoint {
            size: self.seq,
            root: head,
            time,
        };
        (
            encoded,
            SignedCheckpoint::sign(&checkpoint, &self.root_keys[..2]).encode(),
        )
    }

    pub fn permits(&mut self, from: u32, n: u32) -> (Vec<Vec<u8>>, Vec<u8>) {
        let changes = (from..from + n).map(|i| self.permit(i)).collect();
        self.next(changes)
    }
}
