//! Person-alert screening figures: build time and memory per alert for a generated list, and
//! the time to screen one traveller against it (p50/p99/p99.9/max), half of the travellers being
//! on the list under another spelling and half not.
//!
//! `cargo bench --bench watchlist` (1,000,000 alerts; `WATCHLIST_BENCH_ALERTS=N` for another size).

use std::time::{Duration, Instant};

use checkpointd::core::watchlist::{
    self, AlertKind, AlertName, BirthDate, DEFAULT_THRESHOLD, PersonAlert, Traveller,
    WatchlistBuilder,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const TRAVELLERS: usize = 20_000;
const SURNAME_POOL: usize = 60_000;
const GIVEN_POOL: usize = 4_000;

const ONSETS: [&str; 20] = [
    "B", "D", "F", "G", "H", "K", "KH", "L", "M", "N", "R", "S", "SH", "T", "V", "Z", "ZH", "CH",
    "Q", "J",
];
const VOWELS: [&str; 6] = ["A", "E", "I", "O", "U", "Y"];
const SURNAME_ENDS: [&str; 8] = ["OV", "EV", "LI", "DZE", "SHVILI", "YAN", "ENKO", "ZADE"];

fn syllables(rng: &mut StdRng, n: usize) -> String {
    (0..n)
        .map(|_| {
            format!(
                "{}{}",
                ONSETS[rng.gen_range(0..20)],
                VOWELS[rng.gen_range(0..6)]
            )
        })
        .collect()
}

/// A Latin word written in Cyrillic, as a Russian-language list would hold it.
fn cyrillic(latin: &str) -> String {
    let mut out = String::new();
    let mut rest = latin;
    while let Some(c) = rest.chars().next() {
        let (cyr, len) = match rest {
            r if r.starts_with("KH") => ("Х", 2),
            r if r.starts_with("SH") => ("Ш", 2),
            r if r.starts_with("ZH") => ("Ж", 2),
            r if r.starts_with("CH") => ("Ч", 2),
            _ => (
                match c {
                    'A' => "А",
                    'B' => "Б",
                    'D' => "Д",
                    'E' => "Е",
                    'F' => "Ф",
                    'G' | 'Q' => "Г",
                    'H' => "Х",
                    'I' => "И",
                    'J' => "ДЖ",
                    'K' => "К",
                    'L' => "Л",
                    'M' => "М",
                    'N' => "Н",
                    'O' => "О",
                    'R' => "Р",
                    'S' => "С",
                    'T' => "Т",
                    'U' => "У",
                    'V' => "В",
                    'Y' => "Ы",
                    'Z' => "З",
                    _ => "",
                },
                1,
            ),
        };
        out.push_str(cyr);
        rest = &rest[len..];
    }
    out
}

/// Zipf-like draws (weight 1/rank): a few surnames are very common, as MAMMADOV is.
struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    fn new(n: usize) -> Zipf {
        let mut total = 0.0;
        let cumulative = (1..=n)
            .map(|rank| {
                total += 1.0 / rank as f64;
                total
            })
            .collect();
        Zipf { cumulative }
    }

    fn draw(&self, rng: &mut StdRng) -> usize {
        let total = *self.cumulative.last().expect("non-empty");
        let x = rng.r#gen::<f64>() * total;
        self.cumulative.partition_point(|&c| c < x)
    }
}

fn percentiles(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    println!(
        "{label}: p50 {:?} p99 {:?} p99.9 {:?} max {:?}",
        pct(0.50),
        pct(0.99),
        pct(0.999),
        pct(1.0)
    );
}

fn main() {
    let count: usize = std::env::var("WATCHLIST_BENCH_ALERTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let mut rng = StdRng::seed_from_u64(23);
    let surnames: Vec<String> = (0..SURNAME_POOL)
        .map(|_| {
            let n = rng.gen_range(1..3);
            format!(
                "{}{}",
                syllables(&mut rng, n),
                SURNAME_ENDS[rng.gen_range(0..8)]
            )
        })
        .collect();
    let given: Vec<String> = (0..GIVEN_POOL)
        .map(|_| {
            let n = rng.gen_range(2..4);
            syllables(&mut rng, n)
        })
        .collect();
    let (surname_zipf, given_zipf) = (Zipf::new(SURNAME_POOL), Zipf::new(GIVEN_POOL));
    let mut people: Vec<(usize, usize, BirthDate)> = Vec::with_capacity(count);
    let mut alerts = Vec::with_capacity(count);
    for i in 0..count {
        let (s, g) = (surname_zipf.draw(&mut rng), given_zipf.draw(&mut rng));
        let birth = BirthDate {
            year: rng.gen_range(1940..2010),
            month: Some(rng.gen_range(1..13)),
            day: Some(rng.gen_range(1..29)),
        };
        people.push((s, g, birth));
        let (surname, given_names) = if i % 3 == 0 {
            (cyrillic(&surnames[s]), cyrillic(&given[g]))
        } else {
            (surnames[s].clone(), given[g].clone())
        };
        alerts.push(PersonAlert {
            alert_id: format!("SIS-{i:08}"),
            names: vec![AlertName {
                surname,
                given_names,
            }],
            birth_date: if i % 10 == 0 {
                Some(BirthDate {
                    month: None,
                    day: None,
                    ..birth
                })
            } else {
                Some(birth)
            },
            nationalities: vec!["AZE".to_owned()],
            sex: None,
            kind: AlertKind::EntryBan,
            until: None,
        });
    }
    let started = Instant::now();
    let mut builder = WatchlistBuilder::new();
    for alert in &alerts {
        builder.insert(alert).expect("stored");
    }
    let list = builder.finish();
    let built = started.elapsed();
    drop(alerts);
    println!(
        "{count} alerts prepared and indexed in {built:?} ({:.0} alerts/s); {} bytes held, {:.1} bytes/alert",
        count as f64 / built.as_secs_f64(),
        list.memory_bytes(),
        list.memory_bytes() as f64 / count as f64
    );
    let mut samples = Vec::with_capacity(TRAVELLERS);
    let mut hits = 0usize;
    for i in 0..TRAVELLERS {
        let (surname, given_names, birth) = if i % 2 == 0 {
            // On the list: its Latin spelling, whichever script the alert was written in.
            let (s, g, birth) = people[rng.gen_range(0..count)];
            (surnames[s].clone(), given[g].clone(), birth)
        } else {
            let (s, g) = (surname_zipf.draw(&mut rng), given_zipf.draw(&mut rng));
            let birth = BirthDate {
                year: rng.gen_range(1940..2010),
                month: Some(rng.gen_range(1..13)),
                day: Some(rng.gen_range(1..29)),
            };
            (surnames[s].clone(), given[g].clone(), birth)
        };
        let traveller = Traveller {
            surname,
            given_names,
            birth_date: Some(birth),
            nationality: Some("AZE".to_owned()),
            sex: Some(watchlist::Sex::Male),
        };
        let started = Instant::now();
        let facts = watchlist::prepare_traveller(&traveller);
        let found = list.screen(&facts, DEFAULT_THRESHOLD, None);
        samples.push(started.elapsed());
        hits += usize::from(!found.is_empty());
    }
    println!(
        "{TRAVELLERS} travellers screened, {hits} with at least one hit (half are on the list)"
    );
    percentiles("screen one traveller (prepare + block + score)", samples);
}
