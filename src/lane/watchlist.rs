//! The lane's watchlist: the ledger replica's person alerts prepared for screening
//! (`core::watchlist`), following the replica as entries apply, and the hits a traveller makes.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use jiff::civil::Date;
use serde::Serialize;

use crate::core::ledger::state::{PersonAlertChange, PersonAlertRecord};
use crate::core::mrz::{MrzDate, MrzReport, Sex as MrzSex};
use crate::core::watchlist::{self, BirthDate, Sex, Traveller, Watchlist, WatchlistBuilder};
use crate::ports::ledger::{LedgerStoreError, LedgerView};

/// Entries a tick reads while catching up, so a bootstrap of a million entries never holds the
/// lane's loop for long; a scan always catches up fully before screening.
pub const CATCH_UP_ENTRIES_PER_TICK: u64 = 20_000;

/// The person alerts of the replica up to `applied`, ready for screening.
#[derive(Debug, Default)]
pub struct LaneWatchlist {
    list: Watchlist,
    /// Hash of an alert id → its position; ids whose hash is taken go to `clashes`.
    by_id: HashMap<u64, u32>,
    clashes: Vec<u32>,
    /// The last ledger seq whose person alerts are in the list.
    applied: u64,
}

/// One person alert the traveller matched, with what the officer must see: the alert as
/// central published it (names, birth date, kind, action) and what matched.
#[derive(Clone, Serialize)]
pub struct WatchlistHit {
    pub alert_id: String,
    pub score: f64,
    pub matched: Vec<String>,
    /// The full alert, read from the replica for this hit only.
    pub alert: Option<PersonAlertRecord>,
}

impl std::fmt::Debug for WatchlistHit {
    /// Matched parts and the alert carry names: only the id and score are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchlistHit")
            .field("alert_id", &self.alert_id)
            .field("score", &self.score)
            .finish_non_exhaustive()
    }
}

fn id_hash(id: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    id.hash(&mut hasher);
    hasher.finish()
}

impl LaneWatchlist {
    /// Builds the list from every person alert the replica holds (lifted ones marked).
    pub fn build(ledger: &dyn LedgerView) -> Result<Self, LedgerStoreError> {
        let mut list = Self {
            list: WatchlistBuilder::new().finish(),
            ..Self::default()
        };
        list.catch_up(ledger, u64::MAX)?;
        Ok(list)
    }

    /// Alerts held, lifted ones included.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// True when the replica has raised no person alert.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The last ledger seq the list covers.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// Reads the person alerts raised and lifted past [`Self::applied`], at most `max` entries;
    /// true when the list then covers everything the replica has applied.
    pub fn catch_up(
        &mut self,
        ledger: &dyn LedgerView,
        max: u64,
    ) -> Result<bool, LedgerStoreError> {
        let changes = ledger.person_alert_changes(self.applied, max)?;
        for (seq, change) in changes.changes {
            match change {
                PersonAlertChange::Raised(alert) => self.raise(seq, &alert.to_watchlist())?,
                PersonAlertChange::Lifted(id) => {
                    if let Some(position) = self.position(&id) {
                        self.list.lift(position);
                    }
                }
            }
        }
        self.applied = self.applied.max(changes.through);
        let replica = ledger.applied_seq()?.unwrap_or(self.applied);
        Ok(self.applied >= replica)
    }

    fn raise(&mut self, seq: u64, alert: &watchlist::PersonAlert) -> Result<(), LedgerStoreError> {
        let position = self
            .list
            .add(alert)
            .map_err(|e| LedgerStoreError::Corrupt {
                what: "person alert",
                reason: format!("entry {seq}: {e}"),
            })? as u32;
        let hash = id_hash(&alert.alert_id);
        match self.by_id.entry(hash) {
            std::collections::hash_map::Entry::Occupied(_) => self.clashes.push(position),
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(position);
            }
        }
        Ok(())
    }

    fn position(&self, id: &str) -> Option<usize> {
        let first = self.by_id.get(&id_hash(id)).copied();
        first
            .into_iter()
            .chain(self.clashes.iter().copied())
            .map(|position| position as usize)
            .find(|&position| self.list.alert_id(position) == id)
    }

    /// Every alert not lifted (and, for entry bans, not ended before `today`) that the
    /// traveller matches at or above `threshold`, highest first, each with its full alert.
    pub fn screen(
        &self,
        traveller: &Traveller,
        threshold: f64,
        today: Date,
        ledger: &dyn LedgerView,
    ) -> Result<Vec<WatchlistHit>, LedgerStoreError> {
        if self.list.is_empty() {
            return Ok(Vec::new());
        }
        let facts = watchlist::prepare_traveller(traveller);
        let mut hits = Vec::new();
        for hit in self.list.screen(&facts, threshold, Some(today)) {
            let alert_id = self.list.alert_id(hit.position).to_owned();
            let alert = ledger.person_alert(&alert_id)?;
            hits.push(WatchlistHit {
                score: (hit.assessment.score * 10_000.0).round() / 10_000.0,
                matched: hit.assessment.matched,
                alert,
                alert_id,
            });
        }
        Ok(hits)
    }
}

/// The traveller as the MRZ gives them, for screening; `None` without a readable document.
pub fn traveller_of(report: &MrzReport) -> Option<Traveller> {
    let document = report.document.as_ref()?;
    let birth_date = match &document.birth_date.value {
        MrzDate::Known { date } => Some(BirthDate {
            year: date.year(),
            month: Some(date.month()),
            day: Some(date.day()),
        }),
        _ => None,
    };
    Some(Traveller {
        surname: document.name.surname.expose().to_owned(),
        given_names: document.name.given_names.expose().to_owned(),
        birth_date,
        nationality: document.nationality.as_ref().map(|n| n.value.clone()),
        sex: match document.sex {
            MrzSex::Male => Some(Sex::Male),
            MrzSex::Female => Some(Sex::Female),
            _ => None,
        },
    })
}
