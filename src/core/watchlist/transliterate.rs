//! Text in any script to the MRZ character set (`A`–`Z`, words separated by one space), by the
//! transliteration tables of ICAO Doc 9303 part 3, section 6.
//!
//! The tables are the primary rule: Latin letters with diacritics, Cyrillic (Russian, Ukrainian,
//! Belarusian, Serbian, Macedonian), Azerbaijani Latin (`ə` is written `A` in Azerbaijani MRZs),
//! Georgian, and Arabic/Persian consonants. A character no table knows goes through `deunicode`
//! as a fallback (Greek, Armenian, …), and whatever is still not `A`–`Z` separates words.

/// Longest input name text accepted, in bytes: far beyond any real name, and it bounds the work a
/// hostile line can cause.
pub const NAME_TEXT_BYTES_MAX: usize = 512;

/// The MRZ rendering of one character under Doc 9303 part 3, or `None` when the tables do not
/// cover it. German umlauts take the table's first option (`Ä` → `AE`); the single-letter option
/// other systems use (`A`) is folded together with it by the phonetic key.
fn icao_letter(c: char) -> Option<&'static str> {
    latin(c)
        .or_else(|| cyrillic(c))
        .or_else(|| georgian(c))
        .or_else(|| arabic(c))
}

fn latin(c: char) -> Option<&'static str> {
    Some(match c {
        'A'..='Z' => ASCII_UPPER[(c as usize) - ('A' as usize)],
        'a'..='z' => ASCII_UPPER[(c as usize) - ('a' as usize)],
        'Á' | 'á' | 'À' | 'à' | 'Â' | 'â' | 'Ã' | 'ã' | 'Ă' | 'ă' | 'Ā' | 'ā' | 'Ą' | 'ą' => {
            "A"
        }
        'Ä' | 'ä' | 'Æ' | 'æ' => "AE",
        'Å' | 'å' => "AA",
        'Ə' | 'ə' | 'Ǝ' | 'ǝ' => "A",
        'Ć' | 'ć' | 'Ĉ' | 'ĉ' | 'Č' | 'č' | 'Ċ' | 'ċ' | 'Ç' | 'ç' => "C",
        'Ď' | 'ď' | 'Đ' | 'đ' | 'Ð' | 'ð' => "D",
        'É' | 'é' | 'È' | 'è' | 'Ê' | 'ê' | 'Ë' | 'ë' | 'Ě' | 'ě' | 'Ė' | 'ė' | 'Ē' | 'ē' | 'Ę'
        | 'ę' | 'Ĕ' | 'ĕ' => "E",
        'Ĝ' | 'ĝ' | 'Ğ' | 'ğ' | 'Ġ' | 'ġ' | 'Ģ' | 'ģ' => "G",
        'Ĥ' | 'ĥ' | 'Ħ' | 'ħ' => "H",
        'Í' | 'í' | 'Ì' | 'ì' | 'Î' | 'î' | 'Ï' | 'ï' | 'Ĩ' | 'ĩ' | 'İ' | 'ı' | 'Ī' | 'ī' | 'Į'
        | 'į' | 'Ĭ' | 'ĭ' => "I",
        'Ĳ' | 'ĳ' => "IJ",
        'Ĵ' | 'ĵ' => "J",
        'Ķ' | 'ķ' => "K",
        'Ĺ' | 'ĺ' | 'Ľ' | 'ľ' | 'Ļ' | 'ļ' | 'Ł' | 'ł' | 'Ŀ' | 'ŀ' => "L",
        'Ń' | 'ń' | 'Ñ' | 'ñ' | 'Ň' | 'ň' | 'Ņ' | 'ņ' | 'Ŋ' | 'ŋ' => "N",
        'Ó' | 'ó' | 'Ò' | 'ò' | 'Ô' | 'ô' | 'Õ' | 'õ' | 'Ő' | 'ő' | 'Ō' | 'ō' | 'Ŏ' | 'ŏ' => {
            "O"
        }
        'Ö' | 'ö' | 'Ø' | 'ø' | 'Œ' | 'œ' => "OE",
        'Ŕ' | 'ŕ' | 'Ř' | 'ř' | 'Ŗ' | 'ŗ' => "R",
        'Ś' | 'ś' | 'Ŝ' | 'ŝ' | 'Š' | 'š' | 'Ş' | 'ş' | 'Ș' | 'ș' => "S",
        'ß' | 'ẞ' => "SS",
        'Ť' | 'ť' | 'Ţ' | 'ţ' | 'Ț' | 'ț' | 'Ŧ' | 'ŧ' => "T",
        'Þ' | 'þ' => "TH",
        'Ú' | 'ú' | 'Ù' | 'ù' | 'Û' | 'û' | 'Ũ' | 'ũ' | 'Ŭ' | 'ŭ' | 'Ű' | 'ű' | 'Ů' | 'ů' | 'Ū'
        | 'ū' | 'Ų' | 'ų' => "U",
        'Ü' | 'ü' => "UE",
        'Ŵ' | 'ŵ' => "W",
        'Ý' | 'ý' | 'Ŷ' | 'ŷ' | 'Ÿ' | 'ÿ' => "Y",
        'Ź' | 'ź' | 'Ž' | 'ž' | 'Ż' | 'ż' => "Z",
        _ => return None,
    })
}

const ASCII_UPPER: [&str; 26] = [
    "A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L", "M", "N", "O", "P", "Q", "R", "S",
    "T", "U", "V", "W", "X", "Y", "Z",
];

/// Doc 9303 part 3's Cyrillic table (Russian, Ukrainian, Belarusian, Serbian, Macedonian letters).
fn cyrillic(c: char) -> Option<&'static str> {
    let lower = match c {
        'А'..='Я' => char::from_u32(c as u32 + 0x20)?,
        'Ѐ'..='Џ' => char::from_u32(c as u32 + 0x50)?,
        'Ґ' => 'ґ',
        _ => c,
    };
    Some(match lower {
        'а' => "A",
        'б' => "B",
        'в' => "V",
        'г' | 'ґ' | 'ѓ' => "G",
        'д' | 'ђ' => "D",
        'е' | 'ё' | 'ѐ' | 'э' => "E",
        'є' => "IE",
        'ж' => "ZH",
        'з' => "Z",
        'ѕ' | 'џ' => "DZ",
        'и' | 'і' | 'ї' | 'й' | 'ѝ' => "I",
        'ј' => "J",
        'к' | 'ќ' => "K",
        'л' => "L",
        'љ' => "LJ",
        'м' => "M",
        'н' => "N",
        'њ' => "NJ",
        'о' => "O",
        'п' => "P",
        'р' => "R",
        'с' => "S",
        'т' => "T",
        'ћ' => "C",
        'у' | 'ў' => "U",
        'ф' => "F",
        'х' => "KH",
        'ц' => "TS",
        'ч' => "CH",
        'ш' => "SH",
        'щ' => "SHCH",
        'ъ' => "IE",
        'ы' => "Y",
        'ь' | 'ʼ' => "",
        'ю' => "IU",
        'я' => "IA",
        _ => return None,
    })
}

/// Georgian (Mkhedruli) by the national system Doc 9303 part 3 follows.
fn georgian(c: char) -> Option<&'static str> {
    Some(match c {
        'ა' => "A",
        'ბ' => "B",
        'გ' => "G",
        'დ' => "D",
        'ე' => "E",
        'ვ' => "V",
        'ზ' => "Z",
        'თ' => "T",
        'ი' => "I",
        'კ' => "K",
        'ლ' => "L",
        'მ' => "M",
        'ნ' => "N",
        'ო' => "O",
        'პ' => "P",
        'ჟ' => "ZH",
        'რ' => "R",
        'ს' => "S",
        'ტ' => "T",
        'უ' => "U",
        'ფ' => "P",
        'ქ' => "K",
        'ღ' => "GH",
        'ყ' => "Q",
        'შ' => "SH",
        'ჩ' => "CH",
        'ც' => "TS",
        'ძ' => "DZ",
        'წ' => "TS",
        'ჭ' => "CH",
        'ხ' => "KH",
        'ჯ' => "J",
        'ჰ' => "H",
        _ => return None,
    })
}

/// Arabic and Persian letters: the consonants of Doc 9303 part 3's Arabic table. Short vowels
/// are not written in the script, so long-vowel letters (`ا و ي`) give `A W Y`, and hamza is
/// dropped and ain written `A` as passport offices do; the comparison reads
/// Arabic-script names by their consonant skeleton.
fn arabic(c: char) -> Option<&'static str> {
    Some(match c {
        'ا' | 'آ' | 'أ' | 'إ' | 'ٱ' | 'ى' => "A",
        'ب' => "B",
        'ت' => "T",
        'ث' => "TH",
        'ج' => "J",
        'ح' | 'ه' | 'ۀ' | 'ھ' => "H",
        'خ' => "KH",
        'د' => "D",
        'ذ' => "DH",
        'ر' => "R",
        'ز' => "Z",
        'س' | 'ص' => "S",
        'ش' => "SH",
        'ض' => "D",
        'ط' => "T",
        'ظ' => "Z",
        'غ' => "GH",
        'ف' => "F",
        'ق' => "Q",
        'ك' | 'ک' => "K",
        'ل' => "L",
        'م' => "M",
        'ن' => "N",
        'و' | 'ؤ' => "W",
        'ي' | 'ی' | 'ئ' => "Y",
        // Ain carries a vowel in every Latin spelling (ABD, OMAR, JAAFAR); taa marbuta reads -A.
        'ة' | 'ع' => "A",
        'پ' => "P",
        'چ' => "CH",
        'ژ' => "ZH",
        'گ' => "G",
        // Hamza, tatweel and the short-vowel marks (harakat, shadda, sukun) are not written.
        'ء' | 'ـ' | '\u{064B}'..='\u{0652}' | '\u{0670}' => "",
        _ => return None,
    })
}

/// True for a letter of the Arabic block, whose names carry no short vowels.
pub fn is_abjad(c: char) -> bool {
    matches!(c, '\u{0600}'..='\u{06FF}' | '\u{0750}'..='\u{077F}' | '\u{FB50}'..='\u{FDFF}' | '\u{FE70}'..='\u{FEFF}')
}

/// Appends the MRZ rendering of `c` to `out`: a table entry, the `deunicode` fallback filtered to
/// `A`–`Z`, or a word break (a space) for anything else.
pub fn push_mrz(c: char, out: &mut String) {
    if let Some(text) = icao_letter(c) {
        out.push_str(text);
        return;
    }
    if c.is_alphabetic()
        && let Some(text) = deunicode::deunicode_char(c)
    {
        let letters: String = text
            .chars()
            .filter(char::is_ascii_alphabetic)
            .map(|l| l.to_ascii_uppercase())
            .collect();
        if !letters.is_empty() {
            out.push_str(&letters);
            return;
        }
    }
    // Combining marks (a decomposed `é`) vanish; everything else separates words.
    if !matches!(c, '\u{0300}'..='\u{036F}') {
        out.push(' ');
    }
}

/// `text` in MRZ characters, words separated by single spaces, no leading or trailing space.
/// MRZ fillers (`<`), hyphens, apostrophes and digits separate words.
pub fn to_mrz(text: &str) -> String {
    let mut raw = String::with_capacity(text.len());
    for c in text.chars() {
        push_mrz(c, &mut raw);
    }
    raw.split(' ')
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::to_mrz;

    #[test]
    fn icao_tables() {
        let table = [
            ("Məmmədov Elçin", "MAMMADOV ELCIN"),
            ("Hüseynov Şəhriyar", "HUESEYNOV SAHRIYAR"),
            ("Ağayev Ilqar", "AGAYEV ILQAR"),
            ("Мамедов Эльчин", "MAMEDOV ELCHIN"),
            ("Щукина Юлия", "SHCHUKINA IULIIA"),
            ("Гусейнов Хаял", "GUSEINOV KHAIAL"),
            ("Шевченко Євгенія", "SHEVCHENKO IEVGENIIA"),
            ("Лукашэнка Аляксандр", "LUKASHENKA ALIAKSANDR"),
            ("გიორგი ბერიძე", "GIORGI BERIDZE"),
            ("ჯაფარიძე", "JAPARIDZE"),
            ("محمد حسين", "MHMD HSYN"),
            ("عبد الله", "ABD ALLH"),
            ("Müller-Lüdenscheidt", "MUELLER LUEDENSCHEIDT"),
            ("O'Neill", "O NEILL"),
            ("ERIKSSON<<ANNA<MARIA", "ERIKSSON ANNA MARIA"),
            ("  ", ""),
        ];
        for (text, mrz) in table {
            assert_eq!(to_mrz(text), mrz, "{text}");
        }
    }

    #[test]
    fn fallback_for_other_scripts_stays_in_the_charset() {
        let out = to_mrz("Παπαδόπουλος Γιώργος");
        assert!(!out.is_empty());
        assert!(
            out.chars().all(|c| c.is_ascii_uppercase() || c == ' '),
            "{out}"
        );
    }
}
