//! The console's message catalogues (`i18n/{az,ru,en}.json`, one key set): embedded in the
//! binary and handed to the console and kiosk pages, which word every string and every reason
//! code from them in the officer's language.

use std::sync::LazyLock;

/// The languages the consoles speak, as session and URL codes; the first is the default.
pub const LANGUAGES: [&str; 3] = ["az", "ru", "en"];

/// Each language's catalogue as JSON text, in the order of [`LANGUAGES`].
const CATALOGUES: [&str; 3] = [
    include_str!("../../i18n/az.json"),
    include_str!("../../i18n/ru.json"),
    include_str!("../../i18n/en.json"),
];

/// Where a page takes the catalogues: `const CATALOGUES = /*CATALOGUES*/null;`.
const SLOT: &str = "/*CATALOGUES*/null";

/// `{"az": {...}, "ru": {...}, "en": {...}}` as JavaScript object text.
fn catalogues_json() -> String {
    let parts: Vec<String> = LANGUAGES
        .iter()
        .zip(CATALOGUES)
        .map(|(language, text)| format!("{language:?}: {text}"))
        .collect();
    format!("{{{}}}", parts.join(",\n"))
}

/// `page` with the catalogues put in its slot.
pub fn with_catalogues(page: &str) -> String {
    page.replacen(SLOT, &catalogues_json(), 1)
}

/// The officer console page, catalogues included.
pub static CONSOLE_PAGE: LazyLock<String> =
    LazyLock::new(|| with_catalogues(include_str!("console.html")));

/// The kiosk's traveller screen, catalogues included.
pub static KIOSK_PAGE: LazyLock<String> =
    LazyLock::new(|| with_catalogues(include_str!("kiosk.html")));

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::core::decision::ReasonCode;

    /// Every reason code; the match makes a new code a compile error here until it is listed
    /// (and so given a sentence in every catalogue).
    fn every_reason_code() -> Vec<ReasonCode> {
        use ReasonCode as R;
        let all = vec![
            R::MrzInvalid,
            R::MrzRepaired,
            R::DocumentExpired,
            R::DocumentExpiredAtExit,
            R::DocumentExpiryUnknown,
            R::EntryBan,
            R::DocumentLost,
            R::DocumentStolen,
            R::DocumentInvalidated,
            R::PermitInvalid,
            R::PermitHolderMismatch,
            R::EvisaAlreadyUsed,
            R::GroundsPermit,
            R::GroundsEvisa,
            R::GroundsVisaFree,
            R::NoGroundsOfStay,
            R::StayLimitReached,
            R::MayStayUntil,
            R::Overstay,
            R::RegistrationOverdue,
            R::ResidentAbroadTooLong,
            R::LedgerStale,
            R::ClockUntrusted,
            R::WatchlistPossibleMatch,
            R::ChipAuthentic,
            R::ChipPassiveAuthFailed,
            R::ChipCloneSuspected,
            R::ChipDg1Differs,
            R::ChipCscaUnknown,
            R::ChipUnreadable,
            R::ChipMissing,
            R::NoChip,
        ];
        for code in &all {
            match code {
                R::MrzInvalid
                | R::MrzRepaired
                | R::DocumentExpired
                | R::DocumentExpiredAtExit
                | R::DocumentExpiryUnknown
                | R::EntryBan
                | R::DocumentLost
                | R::DocumentStolen
                | R::DocumentInvalidated
                | R::PermitInvalid
                | R::PermitHolderMismatch
                | R::EvisaAlreadyUsed
                | R::GroundsPermit
                | R::GroundsEvisa
                | R::GroundsVisaFree
                | R::NoGroundsOfStay
                | R::StayLimitReached
                | R::MayStayUntil
                | R::Overstay
                | R::RegistrationOverdue
                | R::ResidentAbroadTooLong
                | R::LedgerStale
                | R::ClockUntrusted
                | R::WatchlistPossibleMatch
                | R::ChipAuthentic
                | R::ChipPassiveAuthFailed
                | R::ChipCloneSuspected
                | R::ChipDg1Differs
                | R::ChipCscaUnknown
                | R::ChipUnreadable
                | R::ChipMissing
                | R::NoChip => {}
            }
        }
        all
    }

    fn catalogue(language: &str) -> BTreeMap<String, String> {
        let index = LANGUAGES
            .iter()
            .position(|l| *l == language)
            .expect("known language");
        serde_json::from_str(CATALOGUES[index])
            .unwrap_or_else(|e| panic!("i18n/{language}.json: {e}"))
    }

    /// The `{name}` placeholders of a sentence.
    fn placeholders(text: &str) -> BTreeSet<&str> {
        text.split('{')
            .skip(1)
            .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
            .collect()
    }

    #[test]
    fn every_key_is_in_every_catalogue_with_the_same_placeholders() {
        let english = catalogue("en");
        for language in LANGUAGES {
            let other = catalogue(language);
            let missing: Vec<_> = english.keys().filter(|k| !other.contains_key(*k)).collect();
            let extra: Vec<_> = other.keys().filter(|k| !english.contains_key(*k)).collect();
            assert!(missing.is_empty(), "{language} lacks {missing:?}");
            assert!(
                extra.is_empty(),
                "{language} has keys English lacks: {extra:?}"
            );
            for (key, text) in &other {
                assert!(!text.trim().is_empty(), "{language}: {key} is empty");
                assert_eq!(
                    placeholders(text),
                    placeholders(&english[key]),
                    "{language}: {key} names other values than English"
                );
            }
        }
    }

    #[test]
    fn every_reason_code_has_a_sentence_in_every_language() {
        for language in LANGUAGES {
            let entries = catalogue(language);
            for code in every_reason_code() {
                let key = format!("reason.{}", code.as_str());
                assert!(entries.contains_key(&key), "{language} lacks {key}");
            }
        }
    }

    #[test]
    fn every_override_reason_and_required_action_has_a_label() {
        for language in LANGUAGES {
            let entries = catalogue(language);
            for code in crate::core::officer::OVERRIDE_REASONS {
                let key = format!("override_reason.{code}");
                assert!(entries.contains_key(&key), "{language} lacks {key}");
            }
            // The lane's one required action (`required_action` in the status).
            assert!(entries.contains_key("action.raise_alert"), "{language}");
        }
    }

    #[test]
    fn every_crossing_direction_has_a_word() {
        use crate::core::event::CrossingKind as D;
        for direction in [D::Entry, D::Exit, D::RefusedEntry, D::Referred] {
            // A new direction does not compile here until it is listed above.
            match direction {
                D::Entry | D::Exit | D::RefusedEntry | D::Referred => {}
            }
            let name = serde_json::to_value(direction).expect("serialises");
            let key = format!("direction.{}", name.as_str().expect("a string"));
            for language in LANGUAGES {
                assert!(
                    catalogue(language).contains_key(&key),
                    "{language} lacks {key}"
                );
            }
        }
    }

    #[test]
    fn pages_carry_the_catalogues() {
        for page in [&*CONSOLE_PAGE, &*KIOSK_PAGE] {
            assert!(!page.contains(SLOT));
            assert!(page.contains("\"reason.entry_ban\""));
        }
    }
}
