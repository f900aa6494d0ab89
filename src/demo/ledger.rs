//! The demo's keys and its permit ledger as central would publish it: an issuer key, this
//! terminal's key, three permits, a revocation, two alerts, two officers and the passports'
//! CSCA, signed by both offline roots and applied to the terminal's replica as replication does.

use ed25519_dalek::SigningKey;
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};

use super::cast::{Cast, Issuer, PublishedCards};
use super::chips::DemoPki;
use super::desk::Accounts;
use crate::adapters::ledger::SledLedger;
use crate::core::ledger::permit_check::{Bp1Verification, index_of};
use crate::core::ledger::{
    AlertKind, AlertRaised, Change, Checkpoint, CscaCertificate, IssuerKeyAdded, PermitIssued,
    PermitRevoked, RootKey, RootSet, SignedCheckpoint, TerminalKeyAdded, extend, verify_batch,
};
use crate::core::permit::PermitType;
use crate::ports::ledger::LedgerStore;

/// Every key the demo makes at start.
pub struct Keys {
    /// Two offline roots; a checkpoint needs both.
    pub roots: [SigningKey; 2],
    pub issuer: Issuer,
    /// Signs a card under the real issuer's key id: only the signature tells.
    pub forger: Issuer,
    pub terminal: SigningKey,
}

impl Keys {
    /// Fresh keys.
    pub fn generate(rng: &mut (impl rand::CryptoRng + rand::RngCore)) -> Self {
        let roots = [SigningKey::generate(rng), SigningKey::generate(rng)];
        let issuer = Issuer::generate(rng);
        let terminal = SigningKey::generate(rng);
        let forger = Issuer {
            key: SigningKey::generate(rng),
            kid: issuer.kid,
        };
        Self {
            roots,
            issuer,
            forger,
            terminal,
        }
    }
}

/// What goes into the ledger besides the keys.
pub struct Published<'a> {
    pub cast: &'a Cast,
    pub cards: PublishedCards,
    pub accounts: &'a Accounts,
    pub pki: &'a DemoPki,
    /// This terminal's id (`<checkpoint>-<lane>`).
    pub terminal_id: String,
}

fn hours(now: Timestamp, hours: i64) -> Timestamp {
    now.checked_add(SignedDuration::from_hours(hours))
        .unwrap_or(now)
}

fn changes(
    keys: &Keys,
    published: Published<'_>,
    now: Timestamp,
    today: Date,
) -> Result<Vec<Change>, String> {
    let Published {
        cast,
        cards,
        accounts,
        pki,
        terminal_id,
    } = published;
    let index_of = |text: &str| index_of(text).map_err(|e| e.to_string());
    let permit = |bp1: String| -> Result<Change, String> {
        Ok(Change::PermitIssued(PermitIssued {
            index: index_of(&bp1)?,
            bp1,
        }))
    };
    let entry_ban_until = today
        .checked_add(jiff::Span::new().days(400))
        .unwrap_or(today);
    let mut rng = rand::rngs::OsRng;
    Ok(vec![
        Change::IssuerKeyAdded(IssuerKeyAdded {
            kid: keys.issuer.kid,
            public_key: keys.issuer.key.verifying_key().to_bytes(),
            sign_from: hours(now, -24 * 365),
            sign_until: hours(now, 24 * 365),
            verify_until: hours(now, 24 * 365 * 6),
            permit_types: PermitType::ALL.to_vec(),
        }),
        Change::TerminalKeyAdded(TerminalKeyAdded {
            terminal_id,
            public_key: keys.terminal.verifying_key().to_bytes(),
            valid_from: hours(now, -24 * 400),
            valid_until: hours(now, 24 * 365 * 3),
        }),
        permit(cards.resident)?,
        permit(cards.evisa)?,
        permit(cards.revoked)?,
        Change::PermitRevoked(PermitRevoked {
            cti: cards.revoked_cti,
            reason: "employment ended".into(),
        }),
        Change::Alert(AlertRaised {
            holder: cast.banned.holder().0,
            alert: AlertKind::EntryBan {
                until: entry_ban_until,
            },
            note: "unpaid overstay fine".into(),
        }),
        Change::Alert(AlertRaised {
            holder: cast.lost.holder().0,
            alert: AlertKind::Lost,
            note: "reported lost in Tbilisi".into(),
        }),
        accounts.officer.enrolment(&mut rng, today)?,
        accounts.supervisor.enrolment(&mut rng, today)?,
        Change::CscaAdded(CscaCertificate {
            certificate: pki.csca_der()?,
        }),
    ])
}

/// Signs the ledger with both roots and applies it to `replica`, verified as a terminal does.
pub fn publish(
    replica: &SledLedger,
    keys: &Keys,
    published: Published<'_>,
    now: Timestamp,
    today: Date,
) -> Result<(), String> {
    let changes = changes(keys, published, now, today)?;
    let n_changes = changes.len();
    let (encoded, head) = extend(0, [0; 32], changes, now);
    let checkpoint = Checkpoint {
        size: n_changes as u64,
        root: head,
        time: now,
    };
    let signed = SignedCheckpoint::sign(&checkpoint, &keys.roots).encode();
    let roots = RootSet::new(
        keys.roots
            .iter()
            .filter_map(|key| RootKey::from_bytes(&key.verifying_key().to_bytes()).ok())
            .collect(),
        2,
    )
    .map_err(|e| e.to_string())?;
    let verified = roots
        .verify(&SignedCheckpoint::decode(&signed).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    let batch = verify_batch(
        &replica.cursor().map_err(|e| e.to_string())?,
        encoded,
        verified,
    )
    .map_err(|e| e.to_string())?;
    replica
        .apply(&batch, &signed, &Bp1Verification)
        .map_err(|e| e.to_string())?;
    println!(
        "  ledger: {n_changes} entries applied under a 2-of-2 root checkpoint (issuer key, terminal key, 3 permits, 1 revocation, 2 alerts, 2 officers, 1 CSCA)"
    );
    Ok(())
}
