//! Person-alert matching (`core::watchlist`): tables of pairs that must and must not match,
//! properties (a name matches itself through every table; word order never changes the score),
//! and the precision/recall floor on the labelled set in tests/fixtures/watchlist/.

use checkpointd::core::watchlist::{
    self, AlertKind, AlertName, BirthDate, DEFAULT_THRESHOLD, PersonAlert, Sex, Traveller,
    WatchlistBuilder, transliterate,
};
use proptest::prelude::*;
use serde_json::Value;

fn alert(names: &[(&str, &str)], birth: Option<&str>, sex: Option<Sex>) -> PersonAlert {
    PersonAlert {
        alert_id: "A1".to_owned(),
        names: names
            .iter()
            .map(|(surname, given)| AlertName {
                surname: (*surname).to_owned(),
                given_names: (*given).to_owned(),
            })
            .collect(),
        birth_date: birth.map(|b| b.parse().expect("test birth date")),
        nationalities: vec!["AZE".to_owned()],
        sex,
        kind: AlertKind::EntryBan,
        until: None,
    }
}

fn traveller(surname: &str, given: &str, birth: Option<&str>, sex: Option<Sex>) -> Traveller {
    Traveller {
        surname: surname.to_owned(),
        given_names: given.to_owned(),
        birth_date: birth.map(|b| b.parse().expect("test birth date")),
        nationality: Some("AZE".to_owned()),
        sex,
    }
}

fn score(traveller: &Traveller, alert: &PersonAlert) -> f64 {
    let mut list = WatchlistBuilder::new();
    list.insert(alert).expect("stored");
    let list = list.finish();
    let facts = watchlist::prepare_traveller(traveller);
    list.screen(&facts, 0.0, None)
        .first()
        .map_or(0.0, |hit| hit.assessment.score)
}

/// (traveller surname, given names, birth date) against (alert surname, given names, birth
/// date): one person under two transliterations.
const MUST_MATCH: &[(&str, &str, &str, &str, &str, &str)] = &[
    (
        "MAMMADOV",
        "ELCHIN",
        "1980-05-07",
        "Məmmədov",
        "Elçin",
        "1980-05-07",
    ),
    (
        "MAMEDOV",
        "ELCHIN",
        "1980-05-07",
        "Məmmədov",
        "Elçin Ramiz oğlu",
        "1980-05-07",
    ),
    (
        "MAMADOV",
        "ELCIN",
        "1980-05-07",
        "Мамедов",
        "Эльчин",
        "1980",
    ),
    (
        "HUSEYNOV",
        "RASHAD",
        "1975-02-11",
        "Гусейнов",
        "Рашад",
        "1975-02-11",
    ),
    (
        "GUSEINOV",
        "RASHAD",
        "1975-02-11",
        "Hüseynov",
        "Rəşad",
        "1975-11-02",
    ),
    (
        "GUSEYNOV",
        "RASAD",
        "1975-02-11",
        "Hüseynov",
        "Rəşad",
        "1975-02",
    ),
    (
        "ALIEV",
        "IUSIF",
        "1969-09-09",
        "Əliyev",
        "Yusif",
        "1969-09-09",
    ),
    ("ALIYEV", "JUSIF", "1969-09-09", "Алиев", "Юсиф", "1970"),
    (
        "ABDULLAYEV",
        "KHAIAL",
        "1991-01-30",
        "Abdullayev",
        "Xəyal",
        "1991-01-30",
    ),
    (
        "ABDULLAEV",
        "XAYAL",
        "1991-01-30",
        "Абдуллаев",
        "Хаял",
        "1991-01-30",
    ),
    (
        "DZHAFAROV",
        "DZHAVID",
        "1988-04-04",
        "Cəfərov",
        "Cavid",
        "1988-04-04",
    ),
    (
        "QULIYEV",
        "VUQAR",
        "1983-12-01",
        "Гулиев",
        "Вугар",
        "1983-12-01",
    ),
    (
        "MIRONOV",
        "ALEKSANDR",
        "1990-03-15",
        "Миронов",
        "Александр Сергеевич",
        "1990-03-15",
    ),
    (
        "SHCHERBAKOV",
        "IURII",
        "1966-06-06",
        "Щербаков",
        "Юрий",
        "1966-06-06",
    ),
    (
        "SHERBAKOV",
        "YURIY",
        "1966-06-06",
        "Щербаков",
        "Юрий",
        "1966-06-06",
    ),
    (
        "ZHUKOFF",
        "EVGENII",
        "1972-07-01",
        "Жуков",
        "Евгений",
        "1972-07-01",
    ),
    (
        "TSVETKOVA",
        "IULIIA",
        "1985-10-10",
        "Цветкова",
        "Юлия",
        "1985-10-10",
    ),
    (
        "BERIDZE",
        "GIORGI",
        "1979-08-19",
        "ბერიძე",
        "გიორგი",
        "1979-08-19",
    ),
    (
        "DZHAPARIDZE",
        "TAMAR",
        "1993-05-05",
        "ჯაფარიძე",
        "თამარ",
        "1993-05-05",
    ),
    (
        "KHARAISHVILI",
        "LEVAN",
        "1960-01-01",
        "ხარაიშვილი",
        "ლევან",
        "1960",
    ),
    (
        "HUSSEIN",
        "MUHAMMAD",
        "1977-03-03",
        "حسين",
        "محمد",
        "1977-03-03",
    ),
    (
        "AL HUSSEINI",
        "ABDULLAH",
        "2002-05-04",
        "الحسيني",
        "عبد الله",
        "2002-05-04",
    ),
    (
        "MOUSAVI",
        "MAHMOUD",
        "1961-11-11",
        "موسوي",
        "محمود",
        "1961-11-11",
    ),
    (
        "REZAEI",
        "FATEMEH",
        "1984-02-02",
        "رضائي",
        "فاطمه",
        "1984-02-02",
    ),
    (
        "MUELLER",
        "JUERGEN",
        "1950-12-24",
        "Müller",
        "Jürgen",
        "1950-12-24",
    ),
    (
        "MULLER",
        "JURGEN",
        "1950-12-24",
        "Müller",
        "Jürgen",
        "1950-12-24",
    ),
    // Surname and given names swapped in the list.
    (
        "NOVRUZOV",
        "ANAR",
        "1987-07-07",
        "Anar",
        "Novruzov",
        "1987-07-07",
    ),
    // Cut at the TD3 field's end (39 characters): AYSEL lost its last letter.
    (
        "ABDURAHMANOVA",
        "GULNARA RASHIDOVNA AYSE",
        "1995-09-09",
        "Абдурахманова",
        "Гульнара Рашидовна Айсель",
        "1995-09-09",
    ),
];

/// Pairs of different people.
const MUST_NOT_MATCH: &[(&str, &str, &str, &str, &str, &str)] = &[
    // Same common surname and given name, another full birth date.
    (
        "MAMMADOV",
        "ELCHIN",
        "1980-05-07",
        "Məmmədov",
        "Elçin",
        "1984-10-21",
    ),
    (
        "ALIYEV",
        "RASHAD",
        "1975-02-11",
        "Əliyev",
        "Rəşad",
        "1975-03-12",
    ),
    // Matching name, birth date decades apart.
    (
        "HUSEYNOV",
        "ANAR",
        "1990-06-01",
        "Hüseynov",
        "Anar",
        "1955-06-01",
    ),
    ("ALIEV", "YUSIF", "1950", "Əliyev", "Yusif", "1988-01-01"),
    // Same surname, another given name, same birth date.
    (
        "MAMMADOV",
        "RASHAD",
        "1980-05-07",
        "Məmmədov",
        "Elçin",
        "1980-05-07",
    ),
    (
        "ALIYEV",
        "ELNUR",
        "1980-05-07",
        "Əliyev",
        "Elmir",
        "1980-05-07",
    ),
    // The gendered forms: brother and sister.
    (
        "MIRONOV",
        "ALEKSANDR",
        "1990-03-15",
        "МИРОНОВА",
        "АЛЕКСАНДРА",
        "1990-03-15",
    ),
    (
        "ALIYEV",
        "RAMIZ",
        "1980-05-07",
        "Əliyeva",
        "Ramiz qızı",
        "1980-05-07",
    ),
    (
        "KOVALCHUK",
        "YEVGENIYA",
        "1976-02-06",
        "Ковальчук",
        "Евгений",
        "1976-02-06",
    ),
    // The son carries his father's name as a patronymic.
    (
        "SUKUROV",
        "ORXAN FARID OGLU",
        "1966-10-28",
        "Şükürov",
        "Fərid",
        "1966",
    ),
    // Unrelated people.
    (
        "BERIDZE",
        "NINO",
        "1979-08-19",
        "Məmmədov",
        "Elçin",
        "1979-08-19",
    ),
];

#[test]
fn transliteration_variants_of_one_person_match() {
    let mut failures = Vec::new();
    for &(ts, tg, tb, as_, ag, ab) in MUST_MATCH {
        let s = score(
            &traveller(ts, tg, Some(tb), None),
            &alert(&[(as_, ag)], Some(ab), None),
        );
        if s < DEFAULT_THRESHOLD {
            failures.push(format!("{ts} {tg} vs {as_} {ag}: {s:.3}"));
        }
    }
    assert!(failures.is_empty(), "missed: {failures:#?}");
}

#[test]
fn different_people_do_not_match() {
    let mut failures = Vec::new();
    for &(ts, tg, tb, as_, ag, ab) in MUST_NOT_MATCH {
        let s = score(
            &traveller(ts, tg, Some(tb), None),
            &alert(&[(as_, ag)], Some(ab), None),
        );
        if s >= DEFAULT_THRESHOLD {
            failures.push(format!("{ts} {tg} {tb} vs {as_} {ag} {ab}: {s:.3}"));
        }
    }
    assert!(failures.is_empty(), "matched: {failures:#?}");
}

#[test]
fn stated_sex_contradicting_is_strong_evidence() {
    let name = alert(
        &[("Məmmədov", "Elçin")],
        Some("1980-05-07"),
        Some(Sex::Male),
    );
    let same = score(
        &traveller("MAMMADOV", "ELCHIN", Some("1980-05-07"), Some(Sex::Male)),
        &name,
    );
    let other = score(
        &traveller("MAMMADOV", "ELCHIN", Some("1980-05-07"), Some(Sex::Female)),
        &name,
    );
    assert!(
        same >= DEFAULT_THRESHOLD && other < DEFAULT_THRESHOLD,
        "{same} {other}"
    );
}

#[test]
fn matched_parts_name_what_agreed() {
    let mut list = WatchlistBuilder::new();
    list.insert(&alert(&[("Мамедов", "Эльчин")], Some("1980-07-05"), None))
        .expect("stored");
    let list = list.finish();
    let facts = watchlist::prepare_traveller(&traveller(
        "MAMMADOV",
        "ELCHIN",
        Some("1980-05-07"),
        Some(Sex::Male),
    ));
    let hits = list.screen(&facts, DEFAULT_THRESHOLD, None);
    assert_eq!(hits.len(), 1);
    let matched = &hits[0].assessment.matched;
    assert!(
        matched.contains(&"name:MAMMADOV~MAMEDOV".to_owned()),
        "{matched:?}"
    );
    assert!(
        matched.contains(&"name:ELCHIN~ELCHIN".to_owned())
            || matched.contains(&"name:ELCHIN".to_owned()),
        "{matched:?}"
    );
    assert!(
        matched.contains(&"birth_date:day_month_swapped".to_owned()),
        "{matched:?}"
    );
    assert!(
        matched.contains(&"nationality:AZE".to_owned()),
        "{matched:?}"
    );
    assert!(matched.contains(&"sex:M".to_owned()), "{matched:?}");
}

/// Letters of the scripts the tables cover, as words are drawn from them.
fn script_word() -> impl Strategy<Value = String> {
    prop_oneof![
        "[абвгдеёжзийклмнопрстуфхцчшщъыьэюяіїєґў]{2,10}",
        "[აბგდევზთიკლმნოპჟრსტუფქღყშჩცძწჭხჯჰ]{2,10}",
        "[a-zəşçğıöü]{2,10}",
        "[ابتثجحخدذرزسشصضطظعغفقكلمنهويپچژگ]{2,8}",
    ]
}

fn birth_date() -> impl Strategy<Value = BirthDate> {
    (1930i16..2010, 1i8..13, 1i8..29).prop_map(|(year, month, day)| BirthDate {
        year,
        month: Some(month),
        day: Some(day),
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// A name written in its script matches its own ICAO transliteration, in MRZ characters.
    #[test]
    fn a_name_matches_itself_through_the_tables(
        surname in script_word(),
        given in prop::collection::vec(script_word(), 1..3),
        birth in birth_date(),
    ) {
        let given = given.join(" ");
        let (mrz_surname, mrz_given) = (transliterate::to_mrz(&surname), transliterate::to_mrz(&given));
        prop_assume!(!mrz_surname.is_empty() && !mrz_given.is_empty());
        let mut list = WatchlistBuilder::new();
        let mut listed = alert(&[(&surname, &given)], None, None);
        listed.birth_date = Some(birth);
        list.insert(&listed).expect("stored");
        let list = list.finish();
        let facts = watchlist::prepare_traveller(&Traveller {
            surname: mrz_surname,
            given_names: mrz_given,
            birth_date: Some(birth),
            nationality: Some("AZE".to_owned()),
            sex: None,
        });
        let hits = list.screen(&facts, 0.0, None);
        prop_assert_eq!(hits.len(), 1);
        prop_assert!(hits[0].assessment.score >= DEFAULT_THRESHOLD, "{}", hits[0].assessment.score);
    }

    /// Swapping surname and given names or shuffling the words never changes the score.
    #[test]
    fn word_order_never_changes_the_score(
        words in prop::collection::vec("[A-Z]{2,6}", 2..5),
        alert_words in prop::collection::vec("[A-Z]{2,6}", 2..5),
        rotate in 1usize..4,
    ) {
        let mut shuffled = words.clone();
        let by = rotate % shuffled.len();
        shuffled.rotate_left(by);
        let listed = alert(&[(&alert_words[0], &alert_words[1..].join(" "))], Some("1980-01-01"), None);
        let original = score(
            &traveller(&words[0], &words[1..].join(" "), Some("1980-01-01"), None),
            &listed,
        );
        let reordered = score(
            &traveller(&shuffled[0], &shuffled[1..].join(" "), Some("1980-01-01"), None),
            &listed,
        );
        prop_assert!((original - reordered).abs() < 1e-9, "{} vs {}", original, reordered);
    }
}

fn fixture(name: &str) -> Vec<Value> {
    let path = format!(
        "{}/tests/fixtures/watchlist/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path)
        .expect("fixture readable")
        .lines()
        .map(|line| serde_json::from_str(line).expect("fixture line is JSON"))
        .collect()
}

fn text(value: &Value, field: &str) -> String {
    value[field].as_str().unwrap_or_default().to_owned()
}

/// The labelled set (benches/watchlist_labelled.py) at the default threshold: recall ≥ 0.98,
/// precision ≥ 0.95, through the blocking index as well as the exhaustive scan.
#[test]
fn labelled_set_precision_and_recall() {
    let alerts = fixture("alerts.jsonl");
    let mut list = WatchlistBuilder::new();
    let mut padded = WatchlistBuilder::new();
    for value in &alerts {
        let names: Vec<(String, String)> = value["names"]
            .as_array()
            .expect("names")
            .iter()
            .map(|n| (text(n, "surname"), text(n, "given_names")))
            .collect();
        let refs: Vec<(&str, &str)> = names
            .iter()
            .map(|(s, g)| (s.as_str(), g.as_str()))
            .collect();
        let sex = match value["sex"].as_str() {
            Some("M") => Some(Sex::Male),
            Some("F") => Some(Sex::Female),
            _ => None,
        };
        let mut entry = alert(&refs, value["birth_date"].as_str(), sex);
        entry.alert_id = text(value, "alert_id");
        entry.nationalities = value["nationalities"]
            .as_array()
            .expect("nationalities")
            .iter()
            .filter_map(|n| n.as_str().map(str::to_owned))
            .collect();
        list.insert(&entry).expect("stored");
        padded.insert(&entry).expect("stored");
    }
    // Enough unrelated alerts that the padded list screens through the blocking index.
    for i in 0..watchlist::index::EXHAUSTIVE_ALERTS_MAX {
        let filler = alert(
            &[(&format!("Filler{}", i % 97), &format!("Person{}", i % 89))],
            Some("1900-01-01"),
            None,
        );
        padded.insert(&filler).expect("stored");
    }
    let travellers: std::collections::HashMap<String, Traveller> = fixture("travellers.jsonl")
        .iter()
        .map(|t| {
            let sex = match t["sex"].as_str() {
                Some("M") => Some(Sex::Male),
                Some("F") => Some(Sex::Female),
                _ => None,
            };
            let mut traveller = traveller(
                &text(t, "surname"),
                &text(t, "given_names"),
                t["birth_date"].as_str(),
                sex,
            );
            traveller.nationality = t["nationality"].as_str().map(str::to_owned);
            (text(t, "id"), traveller)
        })
        .collect();
    let (list, padded) = (list.finish(), padded.finish());
    for (label, screened) in [("exhaustive", &list), ("blocked", &padded)] {
        let (mut tp, mut fp, mut fn_) = (0u32, 0u32, 0u32);
        let mut wrong = Vec::new();
        for pair in fixture("pairs.jsonl") {
            let facts = watchlist::prepare_traveller(&travellers[&text(&pair, "traveller")]);
            let wanted = text(&pair, "alert");
            let hit = screened
                .screen(&facts, DEFAULT_THRESHOLD, None)
                .iter()
                .any(|h| screened.alert_id(h.position) == wanted);
            match (pair["same"].as_bool() == Some(true), hit) {
                (true, true) => tp += 1,
                (true, false) => fn_ += 1,
                (false, true) => fp += 1,
                (false, false) => continue,
            }
            if wrong.len() < 20 && pair["same"].as_bool() != Some(hit) {
                wrong.push(format!(
                    "{} {}",
                    text(&pair, "traveller"),
                    text(&pair, "why")
                ));
            }
        }
        let precision = f64::from(tp) / f64::from(tp + fp);
        let recall = f64::from(tp) / f64::from(tp + fn_);
        assert!(
            precision >= 0.95 && recall >= 0.98,
            "{label}: precision {precision:.4} recall {recall:.4} (tp {tp} fp {fp} fn {fn_}): {wrong:#?}"
        );
    }
}
