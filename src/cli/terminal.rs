//! `checkpointctl terminal init|show`: sets a terminal up from its configuration file — the
//! signing key (owner-only, owned by the service user), the API token and the console group when
//! missing, never overwriting a secret — and prints the terminal id, its public key and the
//! `checkpointctl ledger publish` line that makes central accept its crossing records.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ed25519_dalek::SigningKey;
use rand::Rng;
use rand::rngs::OsRng;
use serde::Deserialize;

use crate::exit::Exit;

/// The user the packaged unit runs the daemon as (systemd/checkpointd.sysusers).
pub const SERVICE_USER: &str = "checkpointd";
/// Characters of a generated API token: letters and digits, so it needs no escaping in a URL
/// (`?token=`), a header or a shell.
pub const TOKEN_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/// Characters of a generated token: about 256 bits.
pub const TOKEN_CHARS: usize = 43;
/// How long the published terminal key is valid, from the key file's creation.
pub const KEY_VALIDITY_DAYS: i64 = 5 * 365 + 1;

/// `checkpointctl terminal`.
#[derive(Debug, Parser)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the terminal key, the API token and the console group the configuration names,
    /// where missing (never overwriting one), then print what `show` prints.
    Init {
        /// The terminal configuration file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Print the terminal id, its public key and the ledger publication line; creates nothing.
    Show {
        /// The terminal configuration file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
}

/// The few settings set-up needs, read without validating the rest (the secrets it creates are
/// what full validation would miss).
#[derive(Debug, Deserialize)]
struct SetupView {
    checkpoint: CheckpointView,
    keys: KeysView,
    #[serde(default)]
    api: Option<ApiView>,
    upstream: UpstreamView,
}

#[derive(Debug, Deserialize)]
struct CheckpointView {
    id: String,
    lane: String,
}

#[derive(Debug, Deserialize)]
struct KeysView {
    terminal_key: PathBuf,
}

#[derive(Debug, Deserialize)]
struct ApiView {
    #[serde(default)]
    group: Option<String>,
    #[serde(default)]
    token_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
struct UpstreamView {
    nats_url: String,
}

/// What was created or found, for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Made {
    Created,
    Kept,
}

impl Made {
    fn word(self) -> &'static str {
        match self {
            Made::Created => "created",
            Made::Kept => "kept (exists)",
        }
    }
}

/// Runs `checkpointctl terminal`.
pub fn run(args: Args) -> ExitCode {
    let result = match args.command {
        Command::Init { config } => init(&config),
        Command::Show { config } => show(&config).map(|text| print!("{text}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("checkpointctl terminal: {message}");
            Exit::Config.into()
        }
    }
}

fn read_view(config: &Path) -> Result<(SetupView, PathBuf), String> {
    let text = std::fs::read_to_string(config)
        .map_err(|e| format!("{}: cannot read: {e}", config.display()))?;
    let view: SetupView =
        toml::from_str(&text).map_err(|e| format!("{}: {e}", config.display()))?;
    let dir = config
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    Ok((view, dir))
}

fn resolve(dir: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        dir.join(path)
    }
}

fn init(config: &Path) -> Result<(), String> {
    let (view, dir) = read_view(config)?;
    let owner = service_user()?;
    let key_path = resolve(&dir, &view.keys.terminal_key);
    let seed: [u8; 32] = OsRng.r#gen();
    let key = write_secret(&key_path, &format!("{}\n", hex::encode(seed)), owner)?;
    println!("terminal key {}: {}", key_path.display(), key.word());
    if let Some(api) = &view.api {
        if let Some(token_file) = &api.token_file {
            let token_path = resolve(&dir, token_file);
            let made = write_secret(&token_path, &format!("{}\n", new_token()), owner)?;
            println!("api token {}: {}", token_path.display(), made.word());
        }
        if let Some(group) = &api.group {
            println!("console group {group}: {}", ensure_group(group)?.word());
        }
    }
    print!("{}", show(config)?);
    Ok(())
}

/// A fresh API token of [`TOKEN_CHARS`] characters from [`TOKEN_ALPHABET`].
pub fn new_token() -> String {
    let mut rng = OsRng;
    (0..TOKEN_CHARS)
        .map(|_| char::from(TOKEN_ALPHABET[rng.gen_range(0..TOKEN_ALPHABET.len())]))
        .collect()
}

/// The service user's ids when it exists and we may give files to it (root).
fn service_user() -> Result<Option<(u32, u32)>, String> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    let user = nix::unistd::User::from_name(SERVICE_USER)
        .map_err(|e| format!("cannot look up user {SERVICE_USER}: {e}"))?;
    Ok(user.map(|user| (user.uid.as_raw(), user.gid.as_raw())))
}

/// Creates `path` holding `text`, mode 0600, owned by `owner`; an existing file is kept as is.
fn write_secret(path: &Path, text: &str, owner: Option<(u32, u32)>) -> Result<Made, String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("{}: cannot create: {e}", parent.display()))?;
    }
    // create_new: a secret that exists (even one created a moment ago by another run) is never
    // replaced.
    let mut file = match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(Made::Kept),
        Err(e) => return Err(format!("{}: cannot create: {e}", path.display())),
    };
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("{}: cannot write: {e}", path.display()))?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(path, Some(uid), Some(gid))
            .map_err(|e| format!("{}: cannot give it to {SERVICE_USER}: {e}", path.display()))?;
    }
    Ok(Made::Created)
}

fn ensure_group(group: &str) -> Result<Made, String> {
    let found = nix::unistd::Group::from_name(group)
        .map_err(|e| format!("cannot look up group {group}: {e}"))?;
    if found.is_some() {
        return Ok(Made::Kept);
    }
    let status = std::process::Command::new("groupadd")
        .args(["--system", group])
        .status()
        .map_err(|e| format!("group {group} is missing and groupadd could not run: {e}"))?;
    if !status.success() {
        return Err(format!(
            "group {group} is missing and `groupadd --system {group}` failed ({status}): run as root"
        ));
    }
    Ok(Made::Created)
}

/// The terminal id, public key and ledger publication line, from the configuration's key.
fn show(config: &Path) -> Result<String, String> {
    let (view, dir) = read_view(config)?;
    let terminal_id = format!("{}-{}", view.checkpoint.id, view.checkpoint.lane);
    let key_path = resolve(&dir, &view.keys.terminal_key);
    let text = std::fs::read_to_string(&key_path).map_err(|e| {
        format!(
            "terminal key {}: {e} (`checkpointctl terminal init` creates it)",
            key_path.display()
        )
    })?;
    let seed = text.strip_suffix('\n').unwrap_or(&text);
    let seed: [u8; 32] = hex::decode(seed)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| {
            format!(
                "terminal key {}: not 64 hex digits and an optional newline",
                key_path.display()
            )
        })?;
    let public = hex::encode(SigningKey::from_bytes(&seed).verifying_key().to_bytes());
    let created = std::fs::metadata(&key_path)
        .map_err(|e| format!("{}: {e}", key_path.display()))?
        .mtime();
    let valid_from = jiff::Timestamp::from_second(created)
        .map_err(|e| format!("{}: modification time: {e}", key_path.display()))?;
    let valid_until = valid_from
        .checked_add(jiff::SignedDuration::from_hours(24 * KEY_VALIDITY_DAYS))
        .map_err(|e| format!("key validity: {e}"))?;
    let entry = serde_json::json!({
        "kind": "terminal_key_added",
        "body": {
            "terminal_id": terminal_id,
            "public_key": public,
            "valid_from": valid_from,
            "valid_until": valid_until,
        }
    });
    Ok(format!(
        "terminal id: {terminal_id}\npublic key: {public}\npublish on central:\n  echo '{entry}' | \
         checkpointctl ledger publish --nats {} --data /var/lib/checkpoint-central/publisher --entries -\n",
        view.upstream.nats_url
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_need_no_escaping_and_differ() {
        let a = new_token();
        assert_eq!(a.len(), TOKEN_CHARS);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(a, new_token());
    }
}
