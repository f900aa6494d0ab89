//! Arbitrary text as a person's name (traveller and alert side) and as an alert line:
//! transliteration stays in the MRZ character set, keys stay in `A`–`Z`, screening scores stay in
//! [0, 1], and nothing panics.

#![no_main]

use checkpointd::core::watchlist::{
    self, AlertKind, AlertName, PersonAlert, Traveller, WatchlistBuilder, normalise, transliterate,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (surname, given) = text.split_at(text.char_indices().nth(text.chars().count() / 2).map_or(text.len(), |(i, _)| i));
    let mrz = transliterate::to_mrz(text);
    assert!(mrz.bytes().all(|b| b.is_ascii_uppercase() || b == b' '));
    let prepared = normalise::prepare(surname, given, true);
    for token in &prepared.tokens {
        assert!(!token.mrz.is_empty());
        assert!(token.key.bytes().all(|b| b.is_ascii_uppercase()));
    }
    let mut list = WatchlistBuilder::new();
    let alert = PersonAlert {
        alert_id: "fuzz".to_owned(),
        names: vec![AlertName {
            surname: surname.to_owned(),
            given_names: given.to_owned(),
        }],
        birth_date: None,
        nationalities: Vec::new(),
        sex: None,
        kind: AlertKind::Other,
        until: None,
    };
    if list.insert(&alert).is_err() {
        return;
    }
    let list = list.finish();
    let traveller = watchlist::prepare_traveller(&Traveller {
        surname: mrz.clone(),
        given_names: given.to_owned(),
        birth_date: None,
        nationality: None,
        sex: None,
    });
    for hit in list.screen(&traveller, 0.0, None) {
        assert!((0.0..=1.0).contains(&hit.assessment.score));
    }
});
