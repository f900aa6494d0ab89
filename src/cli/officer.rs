//! `checkpointctl officer`: central's tool for officer accounts; prints the ledger lines
//! (`officer_enrolled`, `officer_revoked`) that `checkpointctl ledger publish` appends.
//!
//! The secret is read from a file or standard input, never from the command line, and only its
//! Argon2id verifier leaves the tool.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use jiff::civil::Date;
use rand::RngCore;

use crate::core::ledger::{Change, OfficerEnrolled, OfficerRevoked};
use crate::core::officer::{Language, Role, make_verifier};

/// Shortest secret (PIN or password) accepted, in characters.
pub const SECRET_CHARS_MIN: usize = 6;
/// Longest secret accepted, in bytes.
pub const SECRET_BYTES_MAX: usize = 1024;

/// Arguments of `checkpointctl officer`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

/// The officer subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print an `officer_enrolled` ledger line for an officer, from a secret read from a file.
    Enroll {
        /// The officer's service id (1-32 characters from A-Z a-z 0-9 . _ -).
        #[arg(long)]
        id: String,
        /// `officer` or `supervisor`.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// File holding the PIN or password (owner-only mode; `-`: standard input). One trailing
        /// line break is not part of the secret.
        #[arg(long)]
        secret_file: PathBuf,
        /// First day the account may sign in (`YYYY-MM-DD`; default today, UTC).
        #[arg(long)]
        from: Option<Date>,
        /// Last day the account may sign in (`YYYY-MM-DD`).
        #[arg(long)]
        until: Date,
        /// Console language: `az`, `ru` or `en`.
        #[arg(long, default_value = "az", value_parser = parse_language)]
        language: Language,
    },
    /// Print an `officer_revoked` ledger line.
    Revoke {
        /// The officer's service id.
        #[arg(long)]
        id: String,
        /// Why (at most 512 characters).
        #[arg(long)]
        reason: String,
    },
}

fn parse_role(text: &str) -> Result<Role, String> {
    serde_json::from_value(serde_json::Value::String(text.into()))
        .map_err(|_| format!("role {text:?}: expected officer or supervisor"))
}

fn parse_language(text: &str) -> Result<Language, String> {
    serde_json::from_value(serde_json::Value::String(text.into()))
        .map_err(|_| format!("language {text:?}: expected az, ru or en"))
}

/// Runs `checkpointctl officer`.
pub fn run(args: Args) -> ExitCode {
    let change = match args.command {
        Command::Enroll {
            id,
            role,
            secret_file,
            from,
            until,
            language,
        } => read_secret(&secret_file).and_then(|secret| {
            let from = from.unwrap_or_else(|| {
                jiff::Timestamp::now()
                    .to_zoned(jiff::tz::TimeZone::UTC)
                    .date()
            });
            enrolment(&id, role, &secret, from, until, language)
        }),
        Command::Revoke { id, reason } => Ok(Change::OfficerRevoked(OfficerRevoked {
            officer_id: id,
            reason,
        })),
    };
    let checked = change.and_then(|change| {
        change.check_fields().map_err(|e| e.to_string())?;
        serde_json::to_string(&change).map_err(|e| e.to_string())
    });
    match checked {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("checkpointctl officer: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The `officer_enrolled` change for `secret`, with a fresh random salt.
pub fn enrolment(
    id: &str,
    role: Role,
    secret: &[u8],
    from: Date,
    until: Date,
    language: Language,
) -> Result<Change, String> {
    if from > until {
        return Err(format!("--from {from} is after --until {until}"));
    }
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    Ok(Change::OfficerEnrolled(OfficerEnrolled {
        officer_id: id.to_string(),
        role,
        verifier: make_verifier(secret, &salt)?,
        valid_from: from,
        valid_until: until,
        language,
    }))
}

/// The secret from `path` (`-`: stdin) without one trailing line break; a file must be a regular
/// file readable by its owner only.
fn read_secret(path: &Path) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    let limit = SECRET_BYTES_MAX as u64 + 2;
    if path.as_os_str() == "-" {
        std::io::stdin()
            .take(limit)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("reading the secret from stdin: {e}"))?;
    } else {
        let shown = path.display();
        let file = crate::config::open_regular_file(path)
            .map_err(|e| format!("--secret-file {shown}: {e}"))?;
        let mode = file
            .metadata()
            .map_err(|e| format!("--secret-file {shown}: {e}"))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(format!(
                "--secret-file {shown} has mode {:o}: make it readable by its owner only (chmod 600)",
                mode & 0o777
            ));
        }
        file.take(limit)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("--secret-file {shown}: {e}"))?;
    }
    if bytes.ends_with(b"\n") {
        bytes.pop();
        if bytes.ends_with(b"\r") {
            bytes.pop();
        }
    }
    if bytes.len() > SECRET_BYTES_MAX {
        return Err(format!(
            "the secret is longer than {SECRET_BYTES_MAX} bytes"
        ));
    }
    let text = std::str::from_utf8(&bytes).map_err(|e| format!("the secret is not UTF-8: {e}"))?;
    if text.chars().count() < SECRET_CHARS_MIN {
        return Err(format!(
            "the secret is shorter than {SECRET_CHARS_MIN} characters"
        ));
    }
    Ok(bytes)
}
