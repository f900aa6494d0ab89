//! The files the configuration names: paths resolved against its directory, readable files,
//! small owner-only secret files, and the stay rules file parsed as the daemon parses it.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::diagnostics::{Report, non_empty};

/// Largest key or token file read; anything longer is not one.
pub(super) const SECRET_FILE_BYTES_MAX: u64 = 4096;

/// `value` as a path, relative ones resolved against the configuration's directory.
pub(super) fn path_value(
    value: &Spanned<String>,
    config_dir: &Path,
    report: &mut Report<'_>,
) -> Option<PathBuf> {
    let text = non_empty(value, "path", report)?;
    let path = Path::new(&text);
    Some(if path.is_absolute() {
        path.to_path_buf()
    } else {
        config_dir.join(path)
    })
}

/// Checks that the file exists and can be opened for reading.
pub(super) fn check_readable(path: &Path) -> Result<(), String> {
    crate::config::open_regular_file(path)
        .map(drop)
        .map_err(|error| error.to_string())
}

pub(super) fn readable_file(
    value: &Spanned<String>,
    config_dir: &Path,
    what: &str,
    report: &mut Report<'_>,
) -> Option<PathBuf> {
    let path = path_value(value, config_dir, report)?;
    match check_readable(&path) {
        Ok(()) => Some(path),
        Err(why) => {
            report.at(
                value.span().start,
                format!("{what} {} is not readable: {why}", path.display()),
            );
            None
        }
    }
}

/// Reads at most [`SECRET_FILE_BYTES_MAX`] bytes of a regular file.
pub(super) fn read_small_file(path: &Path) -> Result<(std::fs::Metadata, String), String> {
    let unreadable = |error: std::io::Error| format!("is not readable: {error}");
    let file = crate::config::open_regular_file(path).map_err(unreadable)?;
    let metadata = file.metadata().map_err(unreadable)?;
    let mut text = String::new();
    file.take(SECRET_FILE_BYTES_MAX + 1)
        .read_to_string(&mut text)
        .map_err(unreadable)?;
    if text.len() as u64 > SECRET_FILE_BYTES_MAX {
        return Err(format!("is longer than {SECRET_FILE_BYTES_MAX} bytes"));
    }
    Ok((metadata, text))
}

/// Secrets (the terminal key, the API token) are readable by their owner only.
pub(super) fn owner_only(metadata: &std::fs::Metadata) -> Result<(), String> {
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "is readable by group or others (mode {mode:04o}): expected owner-only access \
             such as 0600 (chmod 600)"
        ));
    }
    Ok(())
}

/// The stay rules file: readable and valid, because the rules decide refusals and a terminal
/// must not start with rules it cannot read.
pub(super) fn rules_file(
    value: &Spanned<String>,
    config_dir: &Path,
    report: &mut Report<'_>,
) -> Option<PathBuf> {
    let path = readable_file(value, config_dir, "rules file", report)?;
    let text = crate::config::read_named_file(&path).unwrap_or_default();
    match crate::core::stay::policy::StayPolicy::from_toml(&text) {
        Ok(_) => Some(path),
        Err(error) => {
            let why = error.to_string().replace('\n', " ");
            report.at(
                value.span().start,
                format!("rules file {} is invalid: {why}", path.display()),
            );
            None
        }
    }
}
