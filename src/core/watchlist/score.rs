//! One traveller against one alert: the name score weighed with birth date, nationality and sex
//! into a score in [0, 1] with the parts that matched.

use super::compare::{NameComparison, Scratch, compare_names};
use super::normalise::{PreparedName, Word};
use super::person::{BirthDate, Sex};

/// The default screening threshold: a score at or above it is a possible match. Measured on the
/// labelled set in `tests/fixtures/watchlist/` (see README and `benches/watchlist_quality.py`).
pub const DEFAULT_THRESHOLD: f64 = 0.72;

/// Weight of the name in the score; the birth date adds up to the rest.
const NAME_WEIGHT: f64 = 0.8;

/// Below this name score nothing else can lift the pair over any sensible threshold.
const NAME_SCORE_MIN: f64 = 0.45;

/// A full birth date that contradicts the alert's: most likely another person.
const BIRTH_DATE_CONFLICT_FACTOR: f64 = 0.45;

/// Sexes (stated or told by the name's grammar) that contradict: another person.
const SEX_CONFLICT_FACTOR: f64 = 0.5;

/// The highest score a pair whose birth dates conflict can reach: the index may skip alerts
/// born two or more years from the traveller when the threshold is above it.
pub const BIRTH_YEAR_CONFLICT_SCORE_MAX: f64 =
    (NAME_WEIGHT + NATIONALITY_WEIGHT) * BIRTH_DATE_CONFLICT_FACTOR;

/// Nationality is supporting evidence only: people hold several, lists often lack it.
const NATIONALITY_WEIGHT: f64 = 0.04;

/// One of an alert's names as the comparison reads it.
#[derive(Debug, Clone, Default)]
pub struct AlertNameView<'a> {
    pub words: Vec<Word<'a>>,
    pub grammatical_sex: Option<Sex>,
}

impl<'a> AlertNameView<'a> {
    /// A prepared name borrowed.
    pub fn of(name: &'a PreparedName) -> AlertNameView<'a> {
        AlertNameView {
            words: name.words(),
            grammatical_sex: name.grammatical_sex,
        }
    }
}

/// The side of the comparison that comes from the list, prepared once.
#[derive(Debug, Clone)]
pub struct AlertFacts<'a> {
    pub names: &'a [AlertNameView<'a>],
    pub birth_date: Option<BirthDate>,
    pub nationalities: &'a [[u8; 3]],
    pub sex: Option<Sex>,
}

/// The side of the comparison read from the document.
#[derive(Debug, Clone)]
pub struct TravellerFacts {
    pub name: PreparedName,
    pub birth_date: Option<BirthDate>,
    pub nationality: Option<[u8; 3]>,
    pub sex: Option<Sex>,
}

/// How two birth dates relate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BirthDateEvidence {
    Exact,
    DayMonthSwapped,
    SameYearMonth,
    SameYear,
    YearOffByOne,
    Unknown,
    Conflict,
}

impl BirthDateEvidence {
    /// Compares the traveller's birth date with the alert's at the precision both know.
    pub fn of(traveller: Option<BirthDate>, alert: Option<BirthDate>) -> BirthDateEvidence {
        let (Some(t), Some(a)) = (traveller, alert) else {
            return BirthDateEvidence::Unknown;
        };
        match (t.month, t.day, a.month, a.day) {
            (Some(tm), Some(td), Some(am), Some(ad)) if t.year == a.year => {
                if tm == am && td == ad {
                    BirthDateEvidence::Exact
                } else if tm == ad && td == am {
                    BirthDateEvidence::DayMonthSwapped
                } else {
                    BirthDateEvidence::Conflict
                }
            }
            (Some(tm), _, Some(am), _) if t.year == a.year => {
                if tm == am {
                    BirthDateEvidence::SameYearMonth
                } else {
                    BirthDateEvidence::Conflict
                }
            }
            (Some(_), _, Some(_), _) => BirthDateEvidence::Conflict,
            _ if t.year == a.year => BirthDateEvidence::SameYear,
            _ if (t.year - a.year).abs() == 1 => BirthDateEvidence::YearOffByOne,
            _ => BirthDateEvidence::Conflict,
        }
    }

    fn bonus(self) -> f64 {
        match self {
            BirthDateEvidence::Exact => 0.2,
            BirthDateEvidence::DayMonthSwapped => 0.14,
            BirthDateEvidence::SameYearMonth => 0.15,
            BirthDateEvidence::SameYear => 0.12,
            BirthDateEvidence::YearOffByOne => 0.07,
            BirthDateEvidence::Unknown => 0.1,
            BirthDateEvidence::Conflict => 0.0,
        }
    }

    fn label(self) -> Option<&'static str> {
        Some(match self {
            BirthDateEvidence::Exact => "birth_date:exact",
            BirthDateEvidence::DayMonthSwapped => "birth_date:day_month_swapped",
            BirthDateEvidence::SameYearMonth => "birth_date:year_month",
            BirthDateEvidence::SameYear => "birth_date:year",
            BirthDateEvidence::YearOffByOne => "birth_date:year_off_by_one",
            BirthDateEvidence::Unknown | BirthDateEvidence::Conflict => return None,
        })
    }
}

/// A scored comparison: the score and the parts that matched, as short strings
/// (`name:MAMEDOV~MAMMADOV`, `birth_date:exact`, `nationality:AZE`, `sex:M`).
#[derive(Clone, PartialEq)]
pub struct Assessment {
    pub score: f64,
    pub matched: Vec<String>,
}

impl std::fmt::Debug for Assessment {
    /// The matched parts carry names: only the score is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Assessment")
            .field("score", &self.score)
            .finish_non_exhaustive()
    }
}

/// Scores a traveller against an alert; `None` when the names are too far apart to matter.
pub fn assess(
    traveller: &TravellerFacts,
    alert: &AlertFacts<'_>,
    scratch: &mut Scratch,
) -> Option<Assessment> {
    let (best_name, comparison) = best_name(traveller, alert, scratch)?;
    let mut matched = Vec::with_capacity(comparison.pairs.len() + 4);
    for pair in &comparison.pairs {
        let left = traveller.name.tokens[pair.traveller].mrz.as_str();
        let right = best_name.words[pair.alert].mrz;
        matched.push(if left == right {
            format!("name:{left}")
        } else {
            format!("name:{left}~{right}")
        });
    }
    if traveller.name.possibly_truncated {
        matched.push("name_possibly_truncated".to_owned());
    }
    let evidence = BirthDateEvidence::of(traveller.birth_date, alert.birth_date);
    let mut score = NAME_WEIGHT * comparison.score + evidence.bonus();
    matched.extend(evidence.label().map(str::to_owned));
    if evidence == BirthDateEvidence::Conflict {
        score *= BIRTH_DATE_CONFLICT_FACTOR;
    }
    if let Some(nationality) = traveller.nationality
        && !alert.nationalities.is_empty()
    {
        if alert.nationalities.contains(&nationality) {
            score += NATIONALITY_WEIGHT;
            matched.push(format!(
                "nationality:{}",
                String::from_utf8_lossy(&nationality)
            ));
        } else {
            score -= NATIONALITY_WEIGHT;
        }
    }
    let traveller_sex = traveller.sex.or(traveller.name.grammatical_sex);
    let alert_sex = alert.sex.or(best_name.grammatical_sex);
    match (traveller_sex, alert_sex) {
        (Some(t), Some(a)) if t != a => score *= SEX_CONFLICT_FACTOR,
        (Some(t), Some(_)) => matched.push(format!("sex:{}", t.code())),
        _ => {}
    }
    // A stated sex can agree while the grammar of the names disagrees (MIRONOV / MIRONOVA).
    if let (Some(t), Some(a)) = (traveller.name.grammatical_sex, best_name.grammatical_sex)
        && t != a
        && traveller_sex == alert_sex
    {
        score *= SEX_CONFLICT_FACTOR;
    }
    Some(Assessment {
        score: score.clamp(0.0, 1.0),
        matched,
    })
}

fn best_name<'a>(
    traveller: &TravellerFacts,
    alert: &AlertFacts<'a>,
    scratch: &mut Scratch,
) -> Option<(&'a AlertNameView<'a>, NameComparison)> {
    let mut best: Option<(&'a AlertNameView<'a>, NameComparison)> = None;
    for name in alert.names {
        let comparison = compare_names(&traveller.name, &name.words, scratch);
        if best
            .as_ref()
            .is_none_or(|(_, known)| comparison.score > known.score)
        {
            best = Some((name, comparison));
        }
    }
    best.filter(|(_, comparison)| comparison.score >= NAME_SCORE_MIN)
}

#[cfg(test)]
mod tests {
    use super::BirthDateEvidence as E;
    use super::*;

    fn date(text: &str) -> Option<BirthDate> {
        Some(text.parse().expect(text))
    }

    #[test]
    fn birth_date_evidence_table() {
        let table = [
            ("1980-05-07", "1980-05-07", E::Exact),
            ("1980-05-07", "1980-07-05", E::DayMonthSwapped),
            ("1980-05-07", "1980-05-08", E::Conflict),
            ("1980-05-07", "1950-05-07", E::Conflict),
            ("1980-05-07", "1980-05", E::SameYearMonth),
            ("1980-05", "1980-06-01", E::Conflict),
            ("1980-05-07", "1980", E::SameYear),
            ("1980", "1981-02-03", E::YearOffByOne),
            ("1981", "1980", E::YearOffByOne),
            ("1983", "1980", E::Conflict),
            ("1981-02-03", "1980", E::YearOffByOne),
        ];
        for (t, a, want) in table {
            assert_eq!(E::of(date(t), date(a)), want, "{t} vs {a}");
        }
        assert_eq!(E::of(None, date("1980")), E::Unknown);
    }
}
