//! Person alerts (entry bans, wanted and missing persons) matched against travellers by name,
//! birth date, nationality and sex, across scripts and transliteration systems.
//!
//! `transliterate` brings any script to MRZ characters by ICAO Doc 9303 part 3; `normalise` makes
//! comparable words (phonetic keys, skeletons, patronymic particles, grammatical sex); `compare`
//! pairs a traveller's words with an alert's regardless of order; `score` weighs the name with
//! the birth date, nationality and sex; `index` holds a list compactly and blocks candidates.
//! Pure: no I/O, no clock (the day entry bans are judged on is an argument).

pub mod compare;
pub mod index;
pub mod normalise;
pub mod person;
pub mod score;
pub mod transliterate;

pub use index::{
    Hit, Watchlist, WatchlistBuilder, WatchlistError, nationality_code, prepare_traveller,
};
pub use person::{AlertKind, AlertName, BirthDate, BirthDateError, PersonAlert, Sex, Traveller};
pub use score::{Assessment, DEFAULT_THRESHOLD, TravellerFacts};
