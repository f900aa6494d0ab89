//! Contactless chip-reader profiles (`devices/*.toml` with a `[chip_reader]` table): what
//! differs between PC/SC readers and the chip reader uses — the reader's name and whether it
//! carries extended-length APDUs.

use serde::Deserialize;

/// A PC/SC contactless reader model.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChipReaderProfile {
    /// Model name, for the technician.
    pub model: String,
    /// Part of the name pcscd gives the reader's contactless slot (case-insensitive); absent
    /// when the name differs between installations, so the device entry's `pcsc` gives it.
    #[serde(default)]
    pub reader: Option<String>,
    /// Whether the reader carries extended-length APDUs (responses over 256 bytes); required,
    /// since a wrong `true` breaks every long read on that reader.
    pub extended_length: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChipReaderFile {
    chip_reader: ChipReaderProfile,
}

/// Why a chip-reader profile was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChipReaderProfileError {
    /// Not TOML, no `[chip_reader]` table, or a missing, unknown or mistyped field.
    #[error("chip reader profile syntax: {0}")]
    Syntax(String),
    /// A field that is present but empty.
    #[error("chip reader profile field `{0}` is empty")]
    Empty(&'static str),
}

impl ChipReaderProfile {
    /// Parses and checks a profile from TOML text.
    pub fn from_toml(text: &str) -> Result<Self, ChipReaderProfileError> {
        let file: ChipReaderFile = toml::from_str(text)
            .map_err(|e| ChipReaderProfileError::Syntax(e.message().to_owned()))?;
        let mut profile = file.chip_reader;
        profile.model = profile.model.trim().to_owned();
        if profile.model.is_empty() {
            return Err(ChipReaderProfileError::Empty("chip_reader.model"));
        }
        if let Some(reader) = &mut profile.reader {
            *reader = reader.trim().to_owned();
            if reader.is_empty() {
                return Err(ChipReaderProfileError::Empty("chip_reader.reader"));
            }
        }
        Ok(profile)
    }

    /// Whether `text` is meant as a chip-reader profile (it has a `[chip_reader]` table),
    /// valid or not: such a file names a chip reader in `[[devices]]`, not a scanner.
    pub fn is_chip_reader_profile(text: &str) -> bool {
        toml::from_str::<toml::Table>(text).is_ok_and(|table| table.contains_key("chip_reader"))
    }
}

/// What the chip reader of a `[[devices]]` entry uses: the entry's own keys, else its
/// profile's, else short APDUs only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChipReaderSettings {
    /// Part of the PC/SC reader's name.
    pub pattern: String,
    /// Whether extended-length APDUs may be sent.
    pub extended_length: bool,
}

/// Neither the entry's `pcsc` nor its profile names the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "chip reader has no reader name: set `pcsc` (part of the PC/SC reader's name) or name a profile with `reader`"
)]
pub struct NoReaderName;

impl ChipReaderSettings {
    /// The settings of an entry with an optional profile and its own `pcsc` and
    /// `extended_length` (each overriding the profile's).
    pub fn resolve(
        profile: Option<&ChipReaderProfile>,
        pcsc: Option<&str>,
        extended_length: Option<bool>,
    ) -> Result<Self, NoReaderName> {
        let pattern = pcsc
            .map(str::to_owned)
            .or_else(|| profile.and_then(|p| p.reader.clone()))
            .ok_or(NoReaderName)?;
        Ok(Self {
            pattern,
            extended_length: extended_length
                .or(profile.map(|p| p.extended_length))
                .unwrap_or(false),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROFILE: &str =
        "[chip_reader]\nmodel = \"M\"\nreader = \" OMNIKEY 5022 \"\nextended_length = true\n";

    #[test]
    fn a_profile_parses_and_trims_its_reader_name() {
        let profile = ChipReaderProfile::from_toml(PROFILE).expect("valid");
        assert_eq!(profile.reader.as_deref(), Some("OMNIKEY 5022"));
        assert!(profile.extended_length);
        assert!(ChipReaderProfile::is_chip_reader_profile(PROFILE));
        let generic = ChipReaderProfile::from_toml(
            "[chip_reader]\nmodel = \"any\"\nextended_length = false\n",
        )
        .expect("valid without a reader name");
        assert_eq!(generic.reader, None);
    }

    #[test]
    fn the_entry_s_keys_override_the_profile_s() {
        let profile = ChipReaderProfile::from_toml(PROFILE).expect("valid");
        let resolve = ChipReaderSettings::resolve;
        let from_profile = resolve(Some(&profile), None, None).expect("named");
        assert_eq!(from_profile.pattern, "OMNIKEY 5022");
        assert!(from_profile.extended_length);
        let overridden = resolve(Some(&profile), Some("5422CL"), Some(false)).expect("named");
        assert_eq!(overridden.pattern, "5422CL");
        assert!(!overridden.extended_length);
        let bare = resolve(None, Some("X"), None).expect("named");
        assert!(
            !bare.extended_length,
            "short APDUs unless someone says otherwise"
        );
        let generic = ChipReaderProfile {
            reader: None,
            ..profile
        };
        assert_eq!(resolve(Some(&generic), None, None), Err(NoReaderName));
        assert_eq!(resolve(None, None, Some(true)), Err(NoReaderName));
    }

    #[test]
    fn bad_profiles_name_the_field() {
        let cases = [
            (
                "reader = \" OMNIKEY 5022 \"",
                "reader = \" \"",
                "chip_reader.reader",
            ),
            ("model = \"M\"", "model = \"\"", "chip_reader.model"),
            ("extended_length = true\n", "", "extended_length"),
            (
                "extended_length = true",
                "extended_length = \"yes\"",
                "boolean",
            ),
            (
                "extended_length = true",
                "extended_length = true\nmax = 1",
                "max",
            ),
        ];
        for (from, to, field) in cases {
            let err = ChipReaderProfile::from_toml(&PROFILE.replace(from, to))
                .expect_err(to)
                .to_string();
            assert!(err.contains(field), "{to}: {err}");
        }
        assert!(!ChipReaderProfile::is_chip_reader_profile(
            "[gate]\nmodel = \"x\"\n"
        ));
        assert!(ChipReaderProfile::from_toml("[gate]\nmodel = \"x\"\n").is_err());
    }
}
