//! A person's name as comparable tokens: MRZ form, phonetic key and consonant skeleton, with the
//! patronymic words set aside and the sex the name's grammar tells.
//!
//! The phonetic key folds together what different transliteration systems write for one letter
//! (KH/H/X/G/Q, ZH/J/DZH, TS/C/CH, SHCH/SCH/SH/S, YA/IA, YU/IU/JU, YE/IE/E, -OFF/-OV, umlauts as
//! OE/O and UE/U, doubled letters; AE stays, it is the Russian -AEV), so two systems' spellings of one name meet at one key or one edit apart.

use super::person::Sex;
use super::transliterate::{self, NAME_TEXT_BYTES_MAX};

/// Width of the name field of a TD1 card, TD2 card and TD3 passport: a name exactly that long
/// (with its `<<` separator) may have been cut by the issuing state.
const MRZ_NAME_FIELDS: [usize; 3] = [30, 31, 39];

/// Patronymic words of Turkic names; present or not in the other system's spelling, and telling
/// the sex: `OGLU` son of, `QIZI` daughter of.
const PATRONYMIC_MALE: [&str; 8] = [
    "OGLU", "OGLY", "OGHLU", "OGHLY", "OGLI", "UGLI", "ULY", "UULU",
];
const PATRONYMIC_FEMALE: [&str; 7] = ["QIZI", "KIZI", "GIZI", "KYZY", "QYZY", "KIZY", "GYZY"];

/// Arabic name prefixes that some spellings write apart (`ABDUL RAHMAN`) and others together
/// (`ABDULRAHMAN`): joined to the next word on both sides.
const JOINED_PREFIXES: [&str; 8] = [
    "ABD", "ABDUL", "ABDEL", "ABDOL", "ABDOUL", "AL", "EL", "ABU",
];

/// What a word is in its name: the person's own given name must not be taken for a father's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Surname,
    /// The first word of the given names: the person's own name.
    FirstGiven,
    OtherGiven,
    /// A father's name: before `OGLU`/`QIZI`, or an East Slavic `-OVICH`/`-OVNA`.
    Patronymic,
}

/// One name word, ready to compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The word in MRZ characters (`A`–`Z`).
    pub mrz: String,
    /// The phonetic key (see the module docs).
    pub key: String,
    /// Written in Arabic script: no short vowels, compared by skeleton.
    pub abjad: bool,
    pub role: Role,
}

impl Token {
    /// Builds a token from one MRZ word.
    pub fn new(mrz: String, abjad: bool, role: Role) -> Token {
        let key = phonetic_key(&mrz);
        Token {
            mrz,
            key,
            abjad,
            role,
        }
    }

    /// The token borrowed, as the comparison reads it.
    pub fn word(&self) -> Word<'_> {
        Word {
            mrz: &self.mrz,
            key: &self.key,
            abjad: self.abjad,
            role: self.role,
        }
    }
}

/// A name word as the comparison reads it, borrowed from a [`Token`] or from the compact
/// alert store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Word<'a> {
    pub mrz: &'a str,
    pub key: &'a str,
    pub abjad: bool,
    pub role: Role,
}

/// A name ready to compare: its tokens (surname words first) and what it says about the sex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedName {
    /// Every word of the surname and given names, patronymic particles removed.
    pub tokens: Vec<Token>,
    /// How many of `tokens` come from the surname.
    pub surname_tokens: usize,
    /// The sex the name's grammar tells (`-OVA`, `QIZI`, `-OVNA`), if it tells one.
    pub grammatical_sex: Option<Sex>,
    /// The name filled an MRZ name field exactly: its last word may be cut.
    pub possibly_truncated: bool,
}

impl PreparedName {
    /// The words borrowed, as the comparison reads them.
    pub fn words(&self) -> Vec<Word<'_>> {
        self.tokens.iter().map(Token::word).collect()
    }
}

/// Prepares a surname and given names written in any script. `from_mrz` marks a traveller's name
/// read from a document, whose last word may have been cut at the field's end.
pub fn prepare(surname: &str, given_names: &str, from_mrz: bool) -> PreparedName {
    let surname_words = words(surname);
    let given_words = words(given_names);
    let possibly_truncated = from_mrz && filled_mrz_field(&surname_words, &given_words);
    let mut sex = None;
    let mut tokens = Vec::new();
    let surname_abjad = surname.chars().any(transliterate::is_abjad);
    for word in join_prefixes(surname_words) {
        note_sex(&mut sex, form_sex(&word));
        if let Some(particle) = particle_sex(&word) {
            note_sex(&mut sex, Some(particle));
            continue;
        }
        let mrz = abjad_vowels(word, surname_abjad);
        tokens.push(Token::new(mrz, surname_abjad, Role::Surname));
    }
    let surname_tokens = tokens.len();
    let given_abjad = given_names.chars().any(transliterate::is_abjad);
    let given_words = join_prefixes(given_words);
    let mut own_name_seen = false;
    for (i, word) in given_words.iter().enumerate() {
        if let Some(particle) = particle_sex(word) {
            note_sex(&mut sex, Some(particle));
            continue;
        }
        note_sex(&mut sex, form_sex(word));
        let patronymic = patronymic_sex(word).is_some()
            || given_words
                .get(i + 1)
                .is_some_and(|next| particle_sex(next).is_some());
        note_sex(&mut sex, patronymic_sex(word));
        let role = if patronymic && own_name_seen {
            Role::Patronymic
        } else if !own_name_seen {
            own_name_seen = true;
            Role::FirstGiven
        } else {
            Role::OtherGiven
        };
        let mrz = abjad_vowels(word.clone(), given_abjad);
        tokens.push(Token::new(mrz, given_abjad, role));
    }
    PreparedName {
        tokens,
        surname_tokens,
        grammatical_sex: sex.flatten(),
        possibly_truncated,
    }
}

/// The MRZ words of a name field; input beyond [`NAME_TEXT_BYTES_MAX`] is not read.
fn words(text: &str) -> Vec<String> {
    let mut end = text.len().min(NAME_TEXT_BYTES_MAX);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    transliterate::to_mrz(&text[..end])
        .split(' ')
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Records one sex hint: the first one wins, a contradiction leaves the sex unknown.
fn note_sex(sex: &mut Option<Option<Sex>>, hint: Option<Sex>) {
    let Some(hint) = hint else { return };
    match sex {
        None => *sex = Some(Some(hint)),
        Some(Some(known)) if *known != hint => *sex = Some(None),
        Some(_) => {}
    }
}

fn filled_mrz_field(surname: &[String], given: &[String]) -> bool {
    let surname_len: usize = surname.iter().map(String::len).sum::<usize>() + surname.len();
    let given_len: usize = given.iter().map(String::len).sum::<usize>() + given.len();
    // Words joined by one `<`, surname and given names by `<<`.
    let len = surname_len.saturating_sub(1) + if given.is_empty() { 0 } else { 1 + given_len };
    MRZ_NAME_FIELDS.contains(&len) || len > MRZ_NAME_FIELDS[2]
}

fn join_prefixes(words: Vec<String>) -> Vec<String> {
    let mut joined: Vec<String> = Vec::with_capacity(words.len());
    let mut pending: Option<String> = None;
    let count = words.len();
    for (i, word) in words.into_iter().enumerate() {
        let word = match pending.take() {
            Some(prefix) => prefix + &word,
            None => word,
        };
        if i + 1 < count && JOINED_PREFIXES.contains(&word.as_str()) {
            pending = Some(word);
        } else {
            joined.push(word);
        }
    }
    joined
}

/// In Arabic script `و` and `ي` inside a word are mostly long vowels: written `U` and `I` so the
/// skeleton drops them, as it drops the vowels of a Latin spelling.
fn abjad_vowels(word: String, abjad: bool) -> String {
    if !abjad {
        return word;
    }
    word.char_indices()
        .map(|(i, c)| match c {
            'W' if i > 0 => 'U',
            'Y' if i > 0 => 'I',
            _ => c,
        })
        .collect()
}

fn particle_sex(word: &str) -> Option<Sex> {
    if PATRONYMIC_MALE.contains(&word) {
        Some(Sex::Male)
    } else if PATRONYMIC_FEMALE.contains(&word) {
        Some(Sex::Female)
    } else {
        None
    }
}

/// The sex a Slavic or Azerbaijani-Russian word form tells: surnames (`-OV`/`-OVA`,
/// `-SKI`/`-SKA`, `-INA`) and given names (`-II`/`-IIA`: `YEVGENII`/`YEVGENIIA`). Looked for in
/// every word, since lists swap surname and given names.
fn form_sex(word: &str) -> Option<Sex> {
    const FEMALE: [&str; 11] = [
        "OVA", "EVA", "YEVA", "INA", "YNA", "SKA", "SKAYA", "SKAIA", "CKA", "IIA", "IYA",
    ];
    const MALE: [&str; 11] = [
        "OV", "EV", "SKI", "SKII", "SKIY", "SKY", "OFF", "EFF", "II", "IY", "IJ",
    ];
    if word.len() < 5 || (word.len() < 6 && (word.ends_with("IYA") || word.ends_with('I'))) {
        return None;
    }
    if FEMALE.iter().any(|end| word.ends_with(end)) {
        Some(Sex::Female)
    } else if MALE.iter().any(|end| word.ends_with(end)) {
        Some(Sex::Male)
    } else {
        None
    }
}

/// The sex of an East Slavic patronymic among the given names (`-OVICH`, `-OVNA`).
fn patronymic_sex(word: &str) -> Option<Sex> {
    if word.len() < 7 {
        return None;
    }
    if word.ends_with("VICH") || word.ends_with("VIC") || word.ends_with("ICH") {
        Some(Sex::Male)
    } else if word.ends_with("VNA") || word.ends_with("ICHNA") {
        Some(Sex::Female)
    } else {
        None
    }
}

/// Multi-letter spellings of one sound, longest first; `$` anchors a rule at the word's end.
const CLUSTERS: [(&str, &str); 32] = [
    ("TSCH", "C"),
    ("IJ$", "I"),
    ("YJ$", "I"),
    ("SHCH", "S"),
    ("SHH", "S"),
    ("OFF$", "OV"),
    ("EFF$", "EV"),
    ("SCH", "S"),
    ("TCH", "C"),
    ("DZH", "J"),
    ("DJ", "J"),
    ("ZH", "J"),
    ("SH", "S"),
    ("KH", "H"),
    ("GH", "H"),
    ("CH", "C"),
    ("TS", "C"),
    ("TZ", "C"),
    ("CZ", "C"),
    ("KS", "H"),
    ("PH", "F"),
    ("TH", "T"),
    ("DH", "Z"),
    ("JU", "IU"),
    ("OE", "O"),
    ("UE", "U"),
    ("OU", "U"),
    ("W", "V"),
    ("X", "H"),
    ("Q", "H"),
    ("G", "H"),
    ("Y", "I"),
];

/// Vowels after `I` that iotated spellings (`YA`, `IA`, `JA`) write with a glide.
const IOTATED: [u8; 4] = [b'A', b'E', b'O', b'U'];

const VOWELS: [u8; 5] = [b'A', b'E', b'I', b'O', b'U'];

/// The phonetic key of one MRZ word: clusters folded, doubled letters single, glides dropped.
pub fn phonetic_key(word: &str) -> String {
    let folded = fold_clusters(&short_i(word.as_bytes()));
    let mut single: Vec<u8> = Vec::with_capacity(folded.len());
    for &b in &folded {
        if single.last() != Some(&b) {
            single.push(b);
        }
    }
    let mut key = String::with_capacity(single.len());
    for (i, &b) in single.iter().enumerate() {
        let next = single.get(i + 1).copied();
        let glide = b == b'I' && next.is_some_and(|n| IOTATED.contains(&n));
        if glide {
            continue;
        }
        key.push(char::from(b));
    }
    key
}

/// `J` after a vowel and before a consonant is the short `Й` (ZAJCEV, ZAITSEV). Judged on the
/// word as written, before clusters fold: a `J` that folding makes of `ZH` (FUZHCH) is `Ж`, not
/// `Й`. A final `IJ`/`YJ` is left to the clusters.
fn short_i(word: &[u8]) -> Vec<u8> {
    word.iter()
        .enumerate()
        .map(|(i, &b)| {
            let after_vowel = i > 0 && VOWELS.contains(&word[i - 1]);
            let next = word.get(i + 1);
            let before_consonant = !next.is_some_and(|n| VOWELS.contains(n));
            let final_iy = next.is_none() && i > 0 && matches!(word[i - 1], b'I' | b'Y');
            if b == b'J' && after_vowel && before_consonant && !final_iy {
                b'I'
            } else {
                b
            }
        })
        .collect()
}

fn fold_clusters(word: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(word.len());
    let mut i = 0;
    'outer: while i < word.len() {
        for (pattern, replacement) in CLUSTERS {
            let (pattern, at_end) = match pattern.strip_suffix('$') {
                Some(p) => (p, true),
                None => (pattern, false),
            };
            let rest = &word[i..];
            if rest.starts_with(pattern.as_bytes()) && (!at_end || rest.len() == pattern.len()) {
                out.extend_from_slice(replacement.as_bytes());
                i += pattern.len();
                continue 'outer;
            }
        }
        out.push(word[i]);
        i += 1;
    }
    out
}

/// The consonant skeleton of a phonetic key: vowels dropped, and the consonants that
/// transliterations of one letter still disagree on (`K`/`H` for `Q`, `C`/`J`/`Z` for Azerbaijani
/// `c`) merged. `abjad` reads the key against an Arabic-script spelling, whose letters Latin
/// spellings render several ways: `و` as a vowel or `V`/`W` (MUSAVI, MAHMOUD) so `V` drops, a
/// final `ه`/`ة` is silent (ABDULLA, FATIMA), `ث` is `TH` or `S` (OTHMAN, OSMAN) and `ش` is `SH`
/// or the French `CH`, so `T`, `C` and `S` merge; `ض` is `D` or `Z` (RIDA, REZA), so `D` joins
/// `Z`. Written into `out`, which is cleared first.
pub fn skeleton_into(key: &str, abjad: bool, out: &mut Vec<u8>) {
    out.clear();
    for b in key.bytes() {
        let mapped = match b {
            b'A' | b'E' | b'I' | b'O' | b'U' => continue,
            b'V' if abjad => continue,
            b'T' | b'C' if abjad => b'S',
            b'D' if abjad => b'C',
            b'K' => b'H',
            b'J' | b'Z' => b'C',
            other => other,
        };
        out.push(mapped);
    }
    if abjad && out.len() > 2 && out.last() == Some(&b'H') {
        out.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transliteration_variants_meet_at_one_key() {
        let groups: [&[&str]; 13] = [
            &["MAMMADOV", "MAMADOV"],
            &["HUSEYNOV", "GUSEINOV", "GUSEYNOV", "HUSEINOV", "HUESEYNOV"],
            &["ALIYEV", "ALIEV"],
            &["ABDULLAEV", "ABDULLAYEV", "ABDULAEV"],
            &["YUSIF", "IUSIF", "JUSIF"],
            &["KHALIL", "HALIL", "XALIL"],
            &["ZHUKOV", "ZHUKOFF"],
            &["GRIGORYEV", "GRIGORIEV", "GRIGOREV"],
            &["TSOI", "COI"],
            &["SHCHUKIN", "SCHUKIN", "SHUKIN"],
            &["ALEKSANDR", "ALEXANDR"],
            &["MUELLER", "MULLER"],
            &["ZAJCZEV", "ZAITSEV", "ZAYTSEV"],
        ];
        for group in groups {
            let key = phonetic_key(group[0]);
            for name in group {
                assert_eq!(phonetic_key(name), key, "{name} vs {}", group[0]);
            }
        }
    }

    #[test]
    fn particles_and_grammar_tell_the_sex() {
        let name = prepare("MAMMADOV", "ELCHIN RAMIZ OGLU", true);
        assert_eq!(name.grammatical_sex, Some(Sex::Male));
        assert_eq!(name.tokens.len(), 3);
        let name = prepare("Миронова", "Александра", false);
        assert_eq!(name.grammatical_sex, Some(Sex::Female));
        let name = prepare("ALIYEVA", "AYSEL ILHAM QIZI", true);
        assert_eq!(name.grammatical_sex, Some(Sex::Female));
        let name = prepare("PETROV", "IVAN SERGEEVICH", true);
        assert_eq!(name.grammatical_sex, Some(Sex::Male));
    }

    #[test]
    fn arabic_prefixes_join_and_long_vowels_drop() {
        let name = prepare("عبد الرحمن", "محمود", false);
        assert_eq!(name.tokens.len(), 2);
        let mut skeleton = Vec::new();
        skeleton_into(&name.tokens[1].key, true, &mut skeleton);
        assert_eq!(skeleton, b"MHMC");
        let latin = prepare("ABDUL RAHMAN", "MAHMOUD", true);
        assert_eq!(latin.tokens.len(), 2);
        let mut other = Vec::new();
        skeleton_into(&latin.tokens[1].key, true, &mut other);
        assert_eq!(skeleton, other);
    }

    #[test]
    fn a_name_filling_the_td3_field_may_be_cut() {
        let surname = "ABDURAHMANOVA";
        let given = "GULNARA RASHIDOVNA AYSEL";
        assert_eq!(surname.len() + 2 + given.len(), 39);
        assert!(prepare(surname, given, true).possibly_truncated);
        assert!(!prepare(surname, given, false).possibly_truncated);
        assert!(!prepare("ALIYEV", "ELCHIN", true).possibly_truncated);
    }
}
