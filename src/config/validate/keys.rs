//! `[keys]`: the pinned ledger roots and threshold, the terminal's secret key file, and central's
//! movement-snapshot key.

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use ed25519_dalek::{SigningKey, VerifyingKey};
use toml::Spanned;

use super::diagnostics::Report;
use super::files::{owner_only, path_value, read_small_file};
use crate::config::raw::RawKeys;
use crate::config::{Keys, TerminalKey};

/// Hex characters of an Ed25519 public key or secret seed (32 bytes).
pub(super) const KEY_HEX_CHARS: usize = 64;

pub(super) fn keys(
    table: &Spanned<RawKeys>,
    config_dir: &Path,
    report: &mut Report<'_>,
) -> Option<Keys> {
    let at = table.span().start;
    let raw = table.get_ref();
    let ledger_roots = report
        .required(
            &raw.ledger_roots,
            at,
            "keys",
            "ledger_roots",
            "a list of Ed25519 public keys, 64 hex characters each",
        )
        .and_then(|list| ledger_roots(list, report));
    let threshold = report
        .required(
            &raw.ledger_root_threshold,
            at,
            "keys",
            "ledger_root_threshold",
            "how many roots must sign a ledger checkpoint",
        )
        .and_then(|value| {
            let n_roots = raw
                .ledger_roots
                .as_ref()
                .map_or(0, |list| list.get_ref().len());
            let threshold = usize::try_from(*value.get_ref())
                .ok()
                .and_then(NonZeroUsize::new)
                .filter(|k| k.get() <= n_roots);
            if threshold.is_none() {
                report.at(
                    value.span().start,
                    format!(
                        "ledger_root_threshold {} is out of range: expected 1 to the number of \
                         ledger_roots ({n_roots})",
                        value.get_ref()
                    ),
                );
            }
            threshold
        });
    let terminal_key = report
        .required(
            &raw.terminal_key,
            at,
            "keys",
            "terminal_key",
            "the path of the terminal's Ed25519 secret key file",
        )
        .and_then(|value| terminal_key(value, config_dir, report));
    let movement_snapshot_key = match &raw.movement_snapshot_key {
        None => Some(None),
        Some(value) => movement_snapshot_key(value, report).map(Some),
    };
    let (terminal_key_path, terminal_key) = terminal_key?;
    Some(Keys {
        ledger_roots: ledger_roots?,
        ledger_root_threshold: threshold?,
        terminal_key_path,
        terminal_key,
        movement_snapshot_key: movement_snapshot_key?,
    })
}

/// Central's movement-snapshot public key: hex Ed25519, on the curve, not weak.
pub(super) fn movement_snapshot_key(
    value: &Spanned<String>,
    report: &mut Report<'_>,
) -> Option<VerifyingKey> {
    let text = value.get_ref().trim();
    let parsed = key_bytes(text).and_then(|bytes| {
        let key = VerifyingKey::from_bytes(&bytes)
            .map_err(|_| "not a point on the Ed25519 curve".to_string())?;
        if key.is_weak() {
            return Err("a weak (small-order) key".to_string());
        }
        Ok(key)
    });
    match parsed {
        Ok(key) => Some(key),
        Err(why) => {
            report.at(
                value.span().start,
                format!("movement_snapshot_key `{text}`: {why}"),
            );
            None
        }
    }
}

/// 32 bytes from exactly [`KEY_HEX_CHARS`] hex characters.
pub(super) fn key_bytes(text: &str) -> Result<[u8; 32], String> {
    if text.len() != KEY_HEX_CHARS {
        return Err(format!(
            "expected {KEY_HEX_CHARS} hex characters, found {}",
            text.chars().count()
        ));
    }
    let mut bytes = [0_u8; 32];
    hex::decode_to_slice(text, &mut bytes).map_err(|error| format!("not hex: {error}"))?;
    Ok(bytes)
}

pub(super) fn ledger_roots(
    list: &Spanned<Vec<Spanned<String>>>,
    report: &mut Report<'_>,
) -> Option<Vec<VerifyingKey>> {
    if list.get_ref().is_empty() {
        report.at(
            list.span().start,
            "ledger_roots is empty: expected at least one Ed25519 public key",
        );
        return None;
    }
    let mut roots: Vec<VerifyingKey> = Vec::with_capacity(list.get_ref().len());
    let mut all_valid = true;
    for value in list.get_ref() {
        let text = value.get_ref().trim();
        let parsed = key_bytes(text).and_then(|bytes| {
            let key = VerifyingKey::from_bytes(&bytes)
                .map_err(|_| "not a point on the Ed25519 curve".to_string())?;
            if key.is_weak() {
                return Err("a weak (small-order) key".to_string());
            }
            if roots.contains(&key) {
                return Err("listed twice: each root counts once toward the threshold".to_string());
            }
            Ok(key)
        });
        match parsed {
            Ok(key) => roots.push(key),
            Err(why) => {
                all_valid = false;
                report.at(value.span().start, format!("ledger root `{text}`: {why}"));
            }
        }
    }
    all_valid.then_some(roots)
}

/// The terminal's signing key: a file of 64 hex characters (the secret seed) and an optional
/// newline, readable by its owner only.
pub(super) fn terminal_key(
    value: &Spanned<String>,
    config_dir: &Path,
    report: &mut Report<'_>,
) -> Option<(PathBuf, TerminalKey)> {
    let path = path_value(value, config_dir, report)?;
    let checked = read_small_file(&path).and_then(|(metadata, text)| {
        owner_only(&metadata)?;
        let seed = text.strip_suffix('\n').unwrap_or(&text);
        let bytes = key_bytes(seed).map_err(|why| {
            format!("is not an Ed25519 secret seed ({why}, and an optional newline)")
        })?;
        Ok(TerminalKey::new(SigningKey::from_bytes(&bytes)))
    });
    match checked {
        Ok(key) => Some((path, key)),
        Err(why) => {
            report.at(
                value.span().start,
                format!("terminal key {} {why}", path.display()),
            );
            None
        }
    }
}
