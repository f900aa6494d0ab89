//! The NATS credentials file `[upstream] credentials_file` names: read and checked once, by
//! `--check-config` and by the terminal's connection to central (`adapters::nats`) alike.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Largest credentials file read (a `.creds` file is about 1 KiB).
pub const CREDENTIALS_BYTES_MAX: u64 = 16 * 1024;

/// How the terminal proves who it is to central.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// A `.creds` file as `nsc` writes it: the user JWT and its NKey seed.
    Creds(String),
    /// A bare NKey user seed (`SU…`), for a server that lists the user's public NKey.
    NkeySeed(String),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Credentials::Creds(_) => "Credentials::Creds(..)",
            Credentials::NkeySeed(_) => "Credentials::NkeySeed(..)",
        })
    }
}

/// Reads and checks a credentials file: owner-only, and either a `.creds` file whose JWT and
/// seed parse, or an NKey user seed. The error says what is wrong, never the secret.
pub fn read_credentials(path: &Path) -> Result<Credentials, String> {
    let text = read_small_text(path, CREDENTIALS_BYTES_MAX, true)?;
    if text.contains("-----BEGIN NATS USER JWT-----") {
        async_nats::ConnectOptions::with_credentials(&text)
            .map_err(|e| format!("is not a valid .creds file: {e}"))?;
        return Ok(Credentials::Creds(text));
    }
    let seed = text.trim();
    if !seed.starts_with("SU") {
        return Err(
            "is neither a .creds file (nsc) nor an NKey user seed (a line starting with SU)".into(),
        );
    }
    nkeys::KeyPair::from_seed(seed).map_err(|e| format!("holds no valid NKey seed: {e}"))?;
    Ok(Credentials::NkeySeed(seed.to_string()))
}

/// The text of a small file the configuration names (credentials, certificates, keys), read at
/// most `max` bytes and, when `owner_only`, refused if the group or others may read it; each
/// error says what is wrong with the file, for the caller to prefix with its name.
pub(crate) fn read_small_text(path: &Path, max: u64, owner_only: bool) -> Result<String, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| format!("cannot be read: {e}"))?;
    let metadata = file
        .metadata()
        .map_err(|e| format!("cannot be read: {e}"))?;
    if !metadata.is_file() {
        return Err("is not a regular file".into());
    }
    let mode = metadata.permissions().mode() & 0o777;
    if owner_only && mode & 0o077 != 0 {
        return Err(format!(
            "is readable by group or others (mode {mode:04o}): expected owner-only access such \
             as 0600 (chmod 600)"
        ));
    }
    let mut text = String::new();
    file.take(max + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot be read as text: {e}"))?;
    if text.len() as u64 > max {
        return Err(format!("is longer than {max} bytes"));
    }
    Ok(text)
}
