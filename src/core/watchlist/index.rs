//! The screening list in memory: every alert's prepared names packed into one text arena, and a
//! blocking index from consonant skeletons to alerts, so one traveller is compared only with the
//! alerts that share two name words with them.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use super::compare::{NAME_TOKENS_MAX, Scratch};
use super::normalise::{self, PreparedName, Role, Word};
use super::person::{AlertKind, BirthDate, PersonAlert, Sex, Traveller};
use super::score::{self, AlertFacts, AlertNameView, Assessment, TravellerFacts};

/// Up to this many alerts every traveller is compared with every alert: blocking pays only on
/// longer lists, and a short list is screened without the index's (small) loss of recall.
pub const EXHAUSTIVE_ALERTS_MAX: usize = 4096;

/// Names kept per alert (aliases beyond are ignored: the bound keeps one alert's cost fixed).
pub const ALERT_NAMES_MAX: usize = 16;

/// A nationality code, `<`-padded to three bytes (`D<<`).
pub type Nationality = [u8; 3];

/// One prepared word: its MRZ form and key follow each other in the arena.
#[derive(Debug, Clone, Copy)]
struct WordRecord {
    start: u32,
    mrz_len: u8,
    key_len: u8,
    abjad: bool,
    role: Role,
}

#[derive(Debug, Clone, Copy)]
struct NameRecord {
    first_word: u32,
    words: u8,
    grammatical_sex: Option<Sex>,
}

#[derive(Debug, Clone, Copy)]
struct AlertRecord {
    id_start: u32,
    id_len: u16,
    names: u16,
    first_name: u32,
    first_nationality: u32,
    nationalities: u8,
    sex: Option<Sex>,
    kind: AlertKind,
    birth_date: Option<BirthDate>,
    until: Option<jiff::civil::Date>,
    /// Lifted after the list was built: kept in place (positions never move), never a hit.
    lifted: bool,
}

/// A screening hit: which alert, how strongly and on what.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// Position of the alert in insertion order.
    pub position: usize,
    pub assessment: Assessment,
}

/// Person alerts prepared for screening.
#[derive(Debug, Default)]
pub struct Watchlist {
    text: String,
    words: Vec<WordRecord>,
    names: Vec<NameRecord>,
    alerts: Vec<AlertRecord>,
    nationalities: Vec<Nationality>,
    /// Skeleton hash → alerts with a name word of that skeleton, each alert once, as
    /// [`posting`]s in ascending order: by birth year, then position.
    postings: HashMap<u64, Vec<u64>>,
    /// The same for alerts whose every name is one word (two shared words cannot be asked).
    single_word: HashMap<u64, Vec<u64>>,
}

/// A posting: the alert's birth year (0 when unknown) above its position, so one list holds the
/// alerts of a year range contiguously and an alert has the same posting in every list.
fn posting(year: Option<i16>, position: u32) -> u64 {
    let year = year.map_or(0, |y| u64::from(y.max(1) as u16));
    (year << 32) | u64::from(position)
}

/// Postings of alerts born in `years` (inclusive), and of alerts with no birth date.
fn year_ranges(list: &[u64], years: (i16, i16)) -> [&[u64]; 2] {
    let unknown = list.partition_point(|&p| p < posting(Some(1), 0));
    let from = list.partition_point(|&p| p < posting(Some(years.0), 0));
    let to = list.partition_point(|&p| p < posting(Some(years.1.saturating_add(1)), 0));
    [&list[..unknown], &list[from.max(unknown)..to.max(unknown)]]
}

/// The postings to search: within the years around the traveller's and of unknown years, or
/// all of them (as the first of the two).
fn narrow(list: &[u64], years: Option<(i16, i16)>) -> [&[u64]; 2] {
    match years {
        Some(years) => year_ranges(list, years),
        None => [list, &[]],
    }
}

/// Builds a [`Watchlist`] alert by alert; [`WatchlistBuilder::finish`] orders the index.
#[derive(Debug, Default)]
pub struct WatchlistBuilder {
    list: Watchlist,
}

impl WatchlistBuilder {
    /// An empty builder.
    pub fn new() -> WatchlistBuilder {
        WatchlistBuilder::default()
    }

    /// Prepares and stores one alert; returns its position (insertion order).
    pub fn insert(&mut self, alert: &PersonAlert) -> Result<usize, WatchlistError> {
        self.list.insert(alert, false)
    }

    /// Alerts stored so far.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// True when no alert is stored yet.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Orders every posting list and releases spare capacity.
    pub fn finish(mut self) -> Watchlist {
        self.list.finish();
        self.list
    }
}

/// Why an alert could not be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WatchlistError {
    #[error("the watchlist holds its limit of {max} alerts")]
    Full { max: usize },
    #[error("alert id longer than {max} bytes")]
    IdTooLong { max: usize },
}

/// Pads a nationality code to three bytes with `<`; `None` unless 1–3 of `A`–`Z` and `<`.
pub fn nationality_code(text: &str) -> Option<Nationality> {
    let bytes = text.as_bytes();
    if bytes.is_empty()
        || bytes.len() > 3
        || !bytes.iter().all(|b| b.is_ascii_uppercase() || *b == b'<')
    {
        return None;
    }
    let mut code = [b'<'; 3];
    code[..bytes.len()].copy_from_slice(bytes);
    Some(code)
}

/// A traveller's facts prepared once for screening against any number of alerts.
pub fn prepare_traveller(traveller: &Traveller) -> TravellerFacts {
    TravellerFacts {
        name: normalise::prepare(&traveller.surname, &traveller.given_names, true),
        birth_date: traveller.birth_date,
        nationality: traveller.nationality.as_deref().and_then(nationality_code),
        sex: traveller.sex,
    }
}

/// The blocking key of a word: its skeleton, read as Latin or against an Arabic-script spelling
/// (the two kinds never share a key). A skeleton of one consonant (ALI → L) blocks too much, so
/// the whole phonetic key stands in for it.
fn blocking_key(key: &str, abjad: bool, skeleton: &mut Vec<u8>) -> u64 {
    normalise::skeleton_into(key, abjad, skeleton);
    let mut hasher = DefaultHasher::new();
    abjad.hash(&mut hasher);
    if skeleton.len() >= 2 {
        skeleton.hash(&mut hasher);
    } else {
        (0xffu8, key).hash(&mut hasher);
    }
    hasher.finish()
}

impl Watchlist {
    /// Number of alerts held.
    pub fn len(&self) -> usize {
        self.alerts.len()
    }

    /// True when no alert is held.
    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty()
    }

    /// Adds one alert to a finished list, keeping every posting list in order: what a terminal
    /// does as alerts replicate (one alert costs a sorted insert per name word).
    pub fn add(&mut self, alert: &PersonAlert) -> Result<usize, WatchlistError> {
        self.insert(alert, true)
    }

    /// Marks the alert at `position` lifted: it is never a hit again. Its few bytes stay until
    /// the list is next built.
    pub fn lift(&mut self, position: usize) {
        if let Some(record) = self.alerts.get_mut(position) {
            record.lifted = true;
        }
    }

    /// Whether the alert at `position` was lifted.
    pub fn is_lifted(&self, position: usize) -> bool {
        self.alerts
            .get(position)
            .is_some_and(|record| record.lifted)
    }

    fn insert(&mut self, alert: &PersonAlert, keep_sorted: bool) -> Result<usize, WatchlistError> {
        let position = self.alerts.len();
        if position >= u32::MAX as usize || self.text.len() >= (u32::MAX as usize) / 2 {
            return Err(WatchlistError::Full { max: position });
        }
        let id_len =
            u16::try_from(alert.alert_id.len()).map_err(|_| WatchlistError::IdTooLong {
                max: u16::MAX as usize,
            })?;
        let id_start = self.text.len() as u32;
        self.text.push_str(&alert.alert_id);
        let first_name = self.names.len() as u32;
        let mut keys: Vec<u64> = Vec::new();
        let mut skeleton = Vec::new();
        let mut all_single = true;
        for name in alert.names.iter().take(ALERT_NAMES_MAX) {
            let prepared = normalise::prepare(&name.surname, &name.given_names, false);
            all_single &= prepared.tokens.len() <= 1;
            for token in prepared.tokens.iter().take(NAME_TOKENS_MAX) {
                keys.push(blocking_key(&token.key, token.abjad, &mut skeleton));
            }
            self.push_name(&prepared);
        }
        let first_nationality = self.nationalities.len() as u32;
        let nationalities: Vec<Nationality> = alert
            .nationalities
            .iter()
            .filter_map(|n| nationality_code(n))
            .take(u8::MAX as usize)
            .collect();
        self.nationalities.extend_from_slice(&nationalities);
        self.alerts.push(AlertRecord {
            id_start,
            id_len,
            names: (self.names.len() as u32 - first_name) as u16,
            first_name,
            first_nationality,
            nationalities: nationalities.len() as u8,
            sex: alert.sex,
            kind: alert.kind,
            birth_date: alert.birth_date,
            until: alert.until,
            lifted: false,
        });
        keys.sort_unstable();
        keys.dedup();
        let postings = if all_single {
            &mut self.single_word
        } else {
            &mut self.postings
        };
        let entry = posting(alert.birth_date.map(|b| b.year), position as u32);
        for key in keys {
            let list = postings.entry(key).or_default();
            if keep_sorted {
                list.insert(list.partition_point(|&p| p < entry), entry);
            } else {
                list.push(entry);
            }
        }
        Ok(position)
    }

    fn push_name(&mut self, name: &PreparedName) {
        let first_word = self.words.len() as u32;
        for token in name.tokens.iter().take(NAME_TOKENS_MAX) {
            let start = self.text.len() as u32;
            // MRZ words are capped at NAME_TEXT_BYTES_MAX of input; a longer word is cut, not
            // wrapped, so the record's lengths stay exact.
            let mrz = &token.mrz[..token.mrz.len().min(u8::MAX as usize)];
            let key = &token.key[..token.key.len().min(u8::MAX as usize)];
            self.text.push_str(mrz);
            self.text.push_str(key);
            self.words.push(WordRecord {
                start,
                mrz_len: mrz.len() as u8,
                key_len: key.len() as u8,
                abjad: token.abjad,
                role: token.role,
            });
        }
        self.names.push(NameRecord {
            first_word,
            words: (self.words.len() as u32 - first_word) as u8,
            grammatical_sex: name.grammatical_sex,
        });
    }

    fn finish(&mut self) {
        self.text.shrink_to_fit();
        self.words.shrink_to_fit();
        self.names.shrink_to_fit();
        self.alerts.shrink_to_fit();
        self.nationalities.shrink_to_fit();
        for list in self
            .postings
            .values_mut()
            .chain(self.single_word.values_mut())
        {
            list.sort_unstable();
            list.shrink_to_fit();
        }
        self.postings.shrink_to_fit();
        self.single_word.shrink_to_fit();
    }

    /// Bytes of memory the list holds (capacities, hash tables estimated per slot).
    pub fn memory_bytes(&self) -> usize {
        use std::mem::size_of;
        let postings: usize = self
            .postings
            .values()
            .chain(self.single_word.values())
            .map(|list| list.capacity() * size_of::<u64>())
            .sum();
        let slots = self.postings.capacity() + self.single_word.capacity();
        self.text.capacity()
            + self.words.capacity() * size_of::<WordRecord>()
            + self.names.capacity() * size_of::<NameRecord>()
            + self.alerts.capacity() * size_of::<AlertRecord>()
            + self.nationalities.capacity() * size_of::<Nationality>()
            + postings
            + slots * (size_of::<u64>() + size_of::<Vec<u64>>() + 1)
    }

    /// The id of the alert at `position`.
    pub fn alert_id(&self, position: usize) -> &str {
        let record = &self.alerts[position];
        let start = record.id_start as usize;
        &self.text[start..start + record.id_len as usize]
    }

    /// The kind of the alert at `position`.
    pub fn kind(&self, position: usize) -> AlertKind {
        self.alerts[position].kind
    }

    /// Every alert scoring at or above `threshold`, highest first (ties in insertion order).
    /// With `on`, entry bans whose `until` is before that day are skipped.
    pub fn screen(
        &self,
        traveller: &TravellerFacts,
        threshold: f64,
        on: Option<jiff::civil::Date>,
    ) -> Vec<Hit> {
        let mut scratch = Scratch::default();
        let candidates: Vec<u32> = if self.alerts.len() <= EXHAUSTIVE_ALERTS_MAX {
            (0..self.alerts.len() as u32).collect()
        } else {
            // Birth years two or more apart always conflict, and a conflict cannot score above
            // BIRTH_YEAR_CONFLICT_SCORE_MAX: above it, only the years around the traveller's count.
            let years = traveller
                .birth_date
                .filter(|_| threshold > score::BIRTH_YEAR_CONFLICT_SCORE_MAX)
                .map(|b| (b.year.saturating_sub(1), b.year.saturating_add(1)));
            self.candidates(traveller, years)
        };
        let mut hits = Vec::new();
        for position in candidates {
            let position = position as usize;
            let record = &self.alerts[position];
            if record.lifted {
                continue;
            }
            if let (Some(on), Some(until)) = (on, record.until)
                && until < on
            {
                continue;
            }
            if let Some(assessment) = self.assess(position, traveller, &mut scratch)
                && assessment.score >= threshold
            {
                hits.push(Hit {
                    position,
                    assessment,
                });
            }
        }
        hits.sort_by(|a, b| {
            b.assessment
                .score
                .total_cmp(&a.assessment.score)
                .then(a.position.cmp(&b.position))
        });
        hits
    }

    /// Scores the traveller against the alert at `position`.
    pub fn assess(
        &self,
        position: usize,
        traveller: &TravellerFacts,
        scratch: &mut Scratch,
    ) -> Option<Assessment> {
        let record = &self.alerts[position];
        let names: Vec<AlertNameView<'_>> = (0..record.names as usize)
            .map(|n| self.name_view(record.first_name as usize + n))
            .collect();
        let first = record.first_nationality as usize;
        let facts = AlertFacts {
            names: &names,
            birth_date: record.birth_date,
            nationalities: &self.nationalities[first..first + record.nationalities as usize],
            sex: record.sex,
        };
        score::assess(traveller, &facts, scratch)
    }

    fn name_view(&self, index: usize) -> AlertNameView<'_> {
        let name = &self.names[index];
        let first = name.first_word as usize;
        let words = self.words[first..first + name.words as usize]
            .iter()
            .map(|w| {
                let start = w.start as usize;
                let middle = start + w.mrz_len as usize;
                Word {
                    mrz: &self.text[start..middle],
                    key: &self.text[middle..middle + w.key_len as usize],
                    abjad: w.abjad,
                    role: w.role,
                }
            })
            .collect();
        AlertNameView {
            words,
            grammatical_sex: name.grammatical_sex,
        }
    }

    /// Alerts sharing at least two word skeletons with the traveller (one when the traveller's
    /// name is one word), plus one-word alerts sharing one. Each traveller word is looked up by
    /// its Latin skeleton and by its skeleton read against Arabic script.
    fn candidates(&self, traveller: &TravellerFacts, years: Option<(i16, i16)>) -> Vec<u32> {
        let mut skeleton = Vec::new();
        let words = &traveller.name.tokens[..traveller.name.tokens.len().min(NAME_TOKENS_MAX)];
        let mut keys: Vec<u64> = Vec::with_capacity(words.len() * 2);
        for token in words {
            keys.push(blocking_key(&token.key, token.abjad, &mut skeleton));
            if !token.abjad {
                keys.push(blocking_key(&token.key, true, &mut skeleton));
            }
        }
        keys.sort_unstable();
        keys.dedup();
        let mut found: Vec<u64> = Vec::new();
        for range in 0..2 {
            let mut lists: Vec<&[u64]> = keys
                .iter()
                .filter_map(|k| self.postings.get(k).map(|list| narrow(list, years)[range]))
                .filter(|list| !list.is_empty())
                .collect();
            lists.sort_by_key(|list| list.len());
            if words.len() <= 1 {
                found.extend(lists.iter().flat_map(|l| l.iter().copied()));
            } else {
                for (i, short) in lists.iter().enumerate() {
                    for long in &lists[i + 1..] {
                        intersect_into(short, long, &mut found);
                    }
                }
            }
            for key in &keys {
                if let Some(list) = self.single_word.get(key) {
                    found.extend_from_slice(narrow(list, years)[range]);
                }
            }
        }
        let mut positions: Vec<u32> = found.iter().map(|&p| p as u32).collect();
        positions.sort_unstable();
        positions.dedup();
        positions
    }
}

/// Appends the elements of `short` also in `long` (both ascending), galloping through `long`.
fn intersect_into(short: &[u64], long: &[u64], out: &mut Vec<u64>) {
    let mut rest = long;
    for &value in short {
        let at = rest.partition_point(|&x| x < value);
        rest = &rest[at..];
        match rest.first() {
            Some(&x) if x == value => out.push(value),
            Some(_) => {}
            None => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::watchlist::person::AlertName;

    fn alert(id: &str, surname: &str, given: &str, birth: &str) -> PersonAlert {
        PersonAlert {
            alert_id: id.to_owned(),
            names: vec![AlertName {
                surname: surname.to_owned(),
                given_names: given.to_owned(),
            }],
            birth_date: birth.parse().ok(),
            nationalities: vec!["AZE".to_owned()],
            sex: None,
            kind: AlertKind::EntryBan,
            until: None,
        }
    }

    fn traveller(surname: &str, given: &str, birth: &str) -> TravellerFacts {
        prepare_traveller(&Traveller {
            surname: surname.to_owned(),
            given_names: given.to_owned(),
            birth_date: birth.parse().ok(),
            nationality: Some("AZE".to_owned()),
            sex: None,
        })
    }

    #[test]
    fn blocking_finds_what_the_exhaustive_scan_finds() {
        let mut list = WatchlistBuilder::new();
        list.insert(&alert("a1", "Məmmədov", "Elçin", "1980-05-07"))
            .expect("stored");
        for i in 0..EXHAUSTIVE_ALERTS_MAX {
            list.insert(&alert(&format!("f{i}"), "Petrov", "Ivan", "1970"))
                .expect("stored");
        }
        list.insert(&alert("a2", "Мамедов", "Эльчин", "1980-05-07"))
            .expect("stored");
        list.insert(&alert("solo", "Mammadov", "", "1980"))
            .expect("stored");
        let list = list.finish();
        let facts = traveller("MAMEDOV", "ELCHIN", "1980-05-07");
        let hits = list.screen(&facts, 0.7, None);
        let ids: Vec<&str> = hits.iter().map(|h| list.alert_id(h.position)).collect();
        assert_eq!(ids, ["a2", "a1", "solo"]);
        let mut scratch = Scratch::default();
        for hit in &hits {
            let direct = list.assess(hit.position, &facts, &mut scratch);
            assert_eq!(direct.as_ref(), Some(&hit.assessment));
        }
        assert!(list.memory_bytes() > 0);
    }

    #[test]
    fn expired_bans_are_skipped_on_a_date() {
        let mut list = WatchlistBuilder::new();
        let mut expired = alert("old", "Aliyev", "Rashad", "1975");
        expired.until = Some(jiff::civil::date(2020, 1, 1));
        list.insert(&expired).expect("stored");
        let list = list.finish();
        let facts = traveller("ALIYEV", "RASHAD", "1975");
        assert_eq!(list.screen(&facts, 0.5, None).len(), 1);
        let on = Some(jiff::civil::date(2026, 12, 7));
        assert!(list.screen(&facts, 0.5, on).is_empty());
    }

    #[test]
    fn alerts_added_to_a_built_list_and_lifted_screen_as_if_built_so() {
        let fillers = |list: &mut WatchlistBuilder, from: usize| {
            for i in from..from + EXHAUSTIVE_ALERTS_MAX {
                let year = 1950 + (i % 50);
                list.insert(&alert(
                    &format!("f{i}"),
                    "Mamedov",
                    "Ivan",
                    &year.to_string(),
                ))
                .expect("stored");
            }
        };
        let mut built = WatchlistBuilder::new();
        fillers(&mut built, 0);
        let mut grown = built.finish();
        let late = [
            alert("b1", "Məmmədov", "Elçin", "1980-05-07"),
            alert("b2", "Mamedov", "Elchin", "1981"),
            alert("b3", "Guseinov", "Elchin", "1980"),
        ];
        for alert in &late {
            grown.add(alert).expect("added");
        }
        let mut whole = WatchlistBuilder::new();
        fillers(&mut whole, 0);
        for alert in &late {
            whole.insert(alert).expect("stored");
        }
        let whole = whole.finish();
        let facts = traveller("MAMEDOV", "ELCHIN", "1980-05-07");
        let ids = |list: &Watchlist| -> Vec<String> {
            let hits = list.screen(&facts, 0.7, None);
            hits.iter()
                .map(|h| list.alert_id(h.position).to_owned())
                .collect()
        };
        assert_eq!(ids(&grown), ids(&whole));
        assert!(ids(&grown).contains(&"b1".to_owned()), "{:?}", ids(&grown));
        let b1 = (0..grown.len())
            .find(|&p| grown.alert_id(p) == "b1")
            .expect("b1 held");
        grown.lift(b1);
        assert!(grown.is_lifted(b1));
        assert!(!ids(&grown).contains(&"b1".to_owned()));
        assert_eq!(ids(&grown).len() + 1, ids(&whole).len());
    }
}
