//! Name against name: word similarity on phonetic keys and skeletons, and the order-free pairing
//! of a traveller's words with an alert's.

use super::normalise::{PreparedName, Role, Word, skeleton_into};

/// Words compared per name; a longer name's extra words are ignored (bounds the pairing work).
pub const NAME_TOKENS_MAX: usize = 8;

/// A pair of words below this similarity is no evidence at all (`ELNUR` / `ELMIR`).
const TOKEN_SIMILARITY_MIN: f64 = 0.76;

/// Weight of a word one name has and the other lacks (a middle name, a patronymic): a little
/// doubt, not a mismatch.
const UNPAIRED_WEIGHT: f64 = 0.1;

/// A name of one word on either side proves little: its score is capped here.
const SINGLE_WORD_CAP: f64 = 0.8;

/// How one traveller word met one alert word.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WordPair {
    /// Index into the traveller's tokens.
    pub traveller: usize,
    /// Index into the alert name's tokens.
    pub alert: usize,
    pub similarity: f64,
}

/// The outcome of comparing two names.
#[derive(Debug, Clone, PartialEq)]
pub struct NameComparison {
    /// In [0, 1]: paired similarity over the shorter name's words, lightly lowered per extra word.
    pub score: f64,
    pub pairs: Vec<WordPair>,
}

/// Scratch buffers reused across comparisons (skeletons are built per word pair).
#[derive(Debug, Default)]
pub struct Scratch {
    left: Vec<u8>,
    right: Vec<u8>,
    similarities: Vec<(f64, usize, usize)>,
}

/// How alike two words are, in [0, 1]. `cut` says the traveller's word may have been truncated
/// at the MRZ field's end, so a prefix of the alert's word counts.
pub fn word_similarity(
    traveller: Word<'_>,
    alert: Word<'_>,
    cut: bool,
    scratch: &mut Scratch,
) -> f64 {
    if traveller.mrz == alert.mrz || abjad_spelling(traveller.mrz, alert) {
        return 1.0;
    }
    if traveller.key == alert.key {
        return 0.96;
    }
    if cut && traveller.mrz.len() >= 2 && alert.mrz.starts_with(traveller.mrz) {
        return 0.95;
    }
    let mut best = normalised_levenshtein(traveller.key.as_bytes(), alert.key.as_bytes());
    let abjad = traveller.abjad || alert.abjad;
    skeleton_into(traveller.key, abjad, &mut scratch.left);
    skeleton_into(alert.key, abjad, &mut scratch.right);
    if abjad {
        // Arabic script writes no short vowels: the consonants are the whole comparison.
        if scratch.left.len() >= 2 && scratch.right.len() >= 2 {
            let skeleton = normalised_levenshtein(&scratch.left, &scratch.right);
            best = best.max(0.93 * skeleton);
        }
    } else if scratch.left.len() >= 3 && scratch.left == scratch.right {
        // Same consonants, vowels spelled differently (MAMMADOV / MAMEDOV).
        best = best.max(0.88);
    }
    best
}

/// The traveller's word is the ICAO transliteration of an Arabic-script alert word, whose `و`
/// and `ی` the alert side reads as the vowels `U` and `I` after the first letter (`PW` is `پو`).
fn abjad_spelling(traveller: &str, alert: Word<'_>) -> bool {
    alert.abjad
        && traveller.len() == alert.mrz.len()
        && traveller
            .bytes()
            .zip(alert.mrz.bytes())
            .enumerate()
            .all(|(i, pair)| match pair {
                (t, a) if t == a => true,
                (b'W', b'U') | (b'Y', b'I') => i > 0,
                _ => false,
            })
}

/// A father's name (`ORXAN FARID OGLU`) never stands for the other name's own given name
/// (`FARID`): that is the son.
fn fathers_name_for_own(left: Role, right: Role) -> bool {
    matches!(
        (left, right),
        (Role::Patronymic, Role::FirstGiven) | (Role::FirstGiven, Role::Patronymic)
    )
}

fn normalised_levenshtein(a: &[u8], b: &[u8]) -> f64 {
    let longest = a.len().max(b.len());
    if longest == 0 {
        return 1.0;
    }
    // Keys and skeletons are ASCII (MRZ letters), so they are always valid UTF-8.
    let distance = strsim::levenshtein(
        std::str::from_utf8(a).unwrap_or_default(),
        std::str::from_utf8(b).unwrap_or_default(),
    );
    1.0 - distance as f64 / longest as f64
}

/// Compares a traveller's name with one of an alert's names, without regard to word order.
pub fn compare_names(
    traveller: &PreparedName,
    alert: &[Word<'_>],
    scratch: &mut Scratch,
) -> NameComparison {
    let left = &traveller.tokens[..traveller.tokens.len().min(NAME_TOKENS_MAX)];
    let right = &alert[..alert.len().min(NAME_TOKENS_MAX)];
    if left.is_empty() || right.is_empty() {
        return NameComparison {
            score: 0.0,
            pairs: Vec::new(),
        };
    }
    let mut similarities = std::mem::take(&mut scratch.similarities);
    similarities.clear();
    for (i, word) in left.iter().enumerate() {
        let cut = traveller.possibly_truncated && i + 1 == traveller.tokens.len();
        for (j, other) in right.iter().enumerate() {
            if fathers_name_for_own(word.role, other.role) {
                continue;
            }
            let similarity = word_similarity(word.word(), *other, cut, scratch);
            if similarity >= TOKEN_SIMILARITY_MIN {
                similarities.push((similarity, i, j));
            }
        }
    }
    // Greedy pairing, best first; ties are broken by the words' text, not their positions, so
    // the order of the words never changes the outcome.
    similarities.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then_with(|| left[a.1].mrz.cmp(&left[b.1].mrz))
            .then_with(|| right[a.2].mrz.cmp(right[b.2].mrz))
    });
    let (mut used_left, mut used_right) = (0u32, 0u32);
    let mut pairs = Vec::new();
    for &(similarity, i, j) in &similarities {
        if used_left & (1 << i) == 0 && used_right & (1 << j) == 0 {
            used_left |= 1 << i;
            used_right |= 1 << j;
            pairs.push(WordPair {
                traveller: i,
                alert: j,
                similarity,
            });
        }
    }
    scratch.similarities = similarities;
    let (merged_left, merged_right) = if pairs.is_empty() {
        (0, 0)
    } else {
        join_split_words(
            traveller,
            left,
            right,
            (used_left, used_right),
            &mut pairs,
            scratch,
        )
    };
    // A cut last word that matched nothing is the stub of a word the field had no room for
    // (`AYSEL` cut to `A`): it counts as absent, not as a mismatch.
    let last = left.len() - 1;
    let stub = traveller.possibly_truncated
        && left.len() > 1
        && last + 1 == traveller.tokens.len()
        && merged_left == 0
        && !pairs.iter().any(|p| p.traveller == last);
    let left_len = left.len() - usize::from(stub) - merged_left;
    let right_len = right.len() - merged_right;
    let shorter = left_len.min(right_len);
    let unpaired = left_len.max(right_len) - shorter;
    let total: f64 = pairs.iter().map(|p| p.similarity).sum();
    let mut score = total / (shorter as f64 + UNPAIRED_WEIGHT * unpaired as f64);
    if shorter == 1 {
        score = score.min(SINGLE_WORD_CAP);
    }
    NameComparison {
        score: score.clamp(0.0, 1.0),
        pairs,
    }
}

/// One side writes as two words what the other writes as one (`ALI REZA` / `ALIREZA`,
/// `MOHAMMAD ALI` / `MOHAMMADALI`): each unpaired word is tried against every ordered join of two
/// unpaired words of the other side (both orders, so word order still does not matter). Returns
/// how many words on each side were absorbed into a join.
fn join_split_words(
    traveller: &PreparedName,
    left: &[super::normalise::Token],
    right: &[Word<'_>],
    (mut used_left, mut used_right): (u32, u32),
    pairs: &mut Vec<WordPair>,
    scratch: &mut Scratch,
) -> (usize, usize) {
    let free =
        |used: u32, n: usize| -> Vec<usize> { (0..n).filter(|i| used & (1 << i) == 0).collect() };
    let (mut merged_left, mut merged_right) = (0, 0);
    // A traveller word against two alert words.
    for i in free(used_left, left.len()) {
        let cut = traveller.possibly_truncated && i + 1 == traveller.tokens.len();
        let spare = free(used_right, right.len());
        if let Some((similarity, a, b)) =
            best_join(left[i].word(), cut, &spare, |k| right[k], scratch)
        {
            used_left |= 1 << i;
            used_right |= (1 << a) | (1 << b);
            merged_right += 1;
            pairs.push(WordPair {
                traveller: i,
                alert: a,
                similarity,
            });
        }
    }
    // An alert word against two traveller words.
    for j in free(used_right, right.len()) {
        let spare = free(used_left, left.len());
        if let Some((similarity, a, b)) =
            best_join(right[j], false, &spare, |k| left[k].word(), scratch)
        {
            used_left |= (1 << a) | (1 << b);
            merged_left += 1;
            pairs.push(WordPair {
                traveller: a,
                alert: j,
                similarity,
            });
        }
    }
    (merged_left, merged_right)
}

/// The best join of two of `spare` (in either order) matching `word`, if any reaches the minimum.
fn best_join<'w>(
    word: Word<'_>,
    cut: bool,
    spare: &[usize],
    get: impl Fn(usize) -> Word<'w>,
    scratch: &mut Scratch,
) -> Option<(f64, usize, usize)> {
    let mut best: Option<(f64, usize, usize)> = None;
    for &a in spare {
        for &b in spare {
            if a == b {
                continue;
            }
            let (first, second) = (get(a), get(b));
            let mrz = format!("{}{}", first.mrz, second.mrz);
            let key = super::normalise::phonetic_key(&mrz);
            let joined = Word {
                mrz: &mrz,
                key: &key,
                abjad: first.abjad || second.abjad,
                role: first.role,
            };
            let similarity = word_similarity(word, joined, cut, scratch);
            if similarity >= TOKEN_SIMILARITY_MIN && best.is_none_or(|(s, ..)| similarity > s) {
                best = Some((similarity, a, b));
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::super::normalise::prepare;
    use super::*;

    fn score(a: (&str, &str), b: (&str, &str)) -> f64 {
        let mut scratch = Scratch::default();
        let alert = prepare(b.0, b.1, false);
        compare_names(&prepare(a.0, a.1, true), &alert.words(), &mut scratch).score
    }

    #[test]
    fn order_free_and_middle_names_optional() {
        let same = score(("MAMMADOV", "ELCHIN"), ("Məmmədov", "Elçin"));
        assert!(same > 0.9, "{same}");
        let swapped = score(("ELCHIN", "MAMMADOV"), ("Məmmədov", "Elçin"));
        assert!((swapped - same).abs() < 1e-9);
        let middle = score(("MAMMADOV", "ELCHIN"), ("Məmmədov", "Elçin Ramiz oğlu"));
        assert!(middle > 0.85, "{middle}");
    }

    #[test]
    fn a_stub_cut_at_the_field_end_is_absent() {
        let surname = "ABDURAHMANOVA";
        let given = "GULNARA XAYALA RASHIDA A";
        assert_eq!(surname.len() + 2 + given.len(), 39);
        let s = score((surname, given), (surname, "GULNARA XAYALA RASHIDA AYSEL"));
        assert!(s > 0.9, "{s}");
    }

    #[test]
    fn different_given_name_is_half_a_match_at_most() {
        let other = score(("MAMMADOV", "RASHAD"), ("Məmmədov", "Elçin"));
        assert!(other <= 0.5, "{other}");
    }

    #[test]
    fn a_name_written_as_one_word_or_two() {
        let s = score(("MOHAMMADI", "ALIREZA"), ("محمدی", "علی رضا"));
        assert!(s > 0.85, "{s}");
        let s = score(("MOHAMMADI", "ALI REZA"), ("محمدی", "علیرضا"));
        assert!(s > 0.85, "{s}");
    }

    #[test]
    fn arabic_script_by_skeleton() {
        let s = score(("HUSSEIN", "MAHMOUD"), ("حسين", "محمود"));
        assert!(s > 0.85, "{s}");
    }
}
