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

/// Files an alert's position under its id's hash (a taken hash goes to `clashes`).
fn note_id(by_id: &mut HashMap<u64, u32>, clashes: &mut Vec<u32>, id: &str, position: u32) {
    match by_id.entry(id_hash(id)) {
        std::collections::hash_map::Entry::Occupied(_) => clashes.push(position),
        std::collections::hash_map::Entry::Vacant(slot) => {
            slot.insert(position);
        }
    }
}

impl LaneWatchlist {
    /// Builds the list from every person alert the replica holds (lifted ones marked), reading
    /// the entries [`CATCH_UP_ENTRIES_PER_TICK`] at a time and ordering the index once at the
    /// end, so neither the entries nor growing posting lists pile up in memory.
    pub fn build(ledger: &dyn LedgerView) -> Result<Self, LedgerStoreError> {
        let mut builder = WatchlistBuilder::new();
        let mut by_id: HashMap<u64, u32> = HashMap::new();
        let mut clashes = Vec::new();
        let mut lifted = Vec::new();
        let mut applied = 0;
        loop {
            let changes = ledger.person_alert_changes(applied, CATCH_UP_ENTRIES_PER_TICK)?;
            for (seq, change) in changes.changes {
                match change {
                    PersonAlertChange::Raised(alert) => {
                        let alert = alert.to_watchlist();
                        let position =
                            builder
                                .insert(&alert)
                                .map_err(|e| LedgerStoreError::Corrupt {
                                    what: "person alert",
                                    reason: format!("entry {seq}: {e}"),
                                })? as u32;
                        note_id(&mut by_id, &mut clashes, &alert.alert_id, position);
                    }
                    PersonAlertChange::Lifted(id) => lifted.push(id),
                }
            }
            if changes.through == applied {
                break;
            }
            applied = changes.through;
        }
        by_id.shrink_to_fit();
        let mut list = Self {
            list: builder.finish(),
            by_id,
            clashes,
            applied,
        };
        for id in lifted {
            if let Some(position) = list.position(&id) {
                list.list.lift(position);
            }
        }
        Ok(list)
    }

    /// Bytes the list holds: the screening index and the id map.
    pub fn memory_bytes(&self) -> usize {
        self.list.memory_bytes()
            + self.by_id.capacity() * (std::mem::size_of::<(u64, u32)>() + 1)
            + self.clashes.capacity() * std::mem::size_of::<u32>()
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
        note_id(
            &mut self.by_id,
            &mut self.clashes,
            &alert.alert_id,
            position,
        );
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::ledger::entry::PersonAlertRaised;
    use crate::core::ledger::state::{MemoryState, PersonAlertRecord, PersonAlertState};

    const ALERT: &str = r#"{"alert_id":"PA-1","names":[{"surname":"Гусейнов","given_names":"Юсиф","original":{"surname":"Hüseynov","given_names":"Yusif"}}],"birth_date":"1979","nationalities":["AZE"],"sex":"M","kind":"wanted","action":"hold","note":"n"}"#;

    fn replica(alerts: &[(&str, u64, Option<u64>)]) -> MemoryState {
        let mut state = MemoryState::default();
        for (id, seq, lifted) in alerts {
            let mut alert: PersonAlertRaised = serde_json::from_str(ALERT).expect("alert");
            alert.alert_id = (*id).into();
            let record = PersonAlertRecord {
                state: PersonAlertState {
                    seq: *seq,
                    lifted: *lifted,
                },
                alert,
            };
            state.person_alerts.insert((*id).into(), record);
        }
        state
    }

    fn traveller() -> Traveller {
        Traveller {
            surname: "GUSEINOV".into(),
            given_names: "IUSIF".into(),
            birth_date: Some(BirthDate {
                year: 1979,
                month: Some(4),
                day: Some(2),
            }),
            nationality: Some("AZE".into()),
            sex: Some(Sex::Male),
        }
    }

    #[test]
    fn follows_raises_and_lifts_and_never_shows_names_in_debug() {
        let today = jiff::civil::date(2026, 6, 1);
        let mut state = replica(&[("PA-1", 1, None), ("PA-2", 2, Some(3))]);
        let mut list = LaneWatchlist::build(&state).expect("build");
        assert_eq!((list.len(), list.applied()), (2, 3));
        let hits = list
            .screen(&traveller(), 0.72, today, &state)
            .expect("screen");
        let ids: Vec<&str> = hits.iter().map(|h| h.alert_id.as_str()).collect();
        assert_eq!(ids, ["PA-1"], "a lifted alert is no hit");
        assert_eq!(
            hits[0].alert.as_ref().map(|r| r.alert.action.as_str()),
            Some("hold")
        );
        let shown = format!("{hits:?} {:?}", hits[0].alert);
        for name in [
            "Гусейнов",
            "Hüseynov",
            "GUSEINOV",
            "HUSEYNOV",
            "Юсиф",
            "YUSIF",
            "IUSIF",
        ] {
            assert!(!shown.contains(name), "{name} in {shown}");
        }
        // PA-1 lifted later: the next catch-up reads only what came after.
        state
            .person_alerts
            .get_mut("PA-1")
            .expect("held")
            .state
            .lifted = Some(4);
        assert!(list.catch_up(&state, 10).expect("catch up"));
        assert_eq!(list.applied(), 4);
        assert!(
            list.screen(&traveller(), 0.72, today, &state)
                .expect("screen")
                .is_empty()
        );
    }
}
