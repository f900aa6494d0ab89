//! The terminal's connection to central's NATS servers: one set of connect options built from
//! the `[upstream]` table (every seed URL of the cluster, TLS with central's CA pinned and an
//! optional client certificate, credentials), used by the relay, the index, the heartbeats and
//! the ledger replicator alike.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

/// Largest credentials file read (a `.creds` file is about 1 KiB).
pub const CREDENTIALS_BYTES_MAX: u64 = 16 * 1024;
/// How long a request (JetStream API call) may wait for its answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How the terminal reaches central, as `[upstream]` says (`config::Upstream::link`): the seed
/// URLs, TLS and the credentials file. Plain paths, so this adapter needs nothing of `config`.
#[derive(Debug, Clone, Copy)]
pub struct Link<'a> {
    /// Every seed URL, first tried first.
    pub urls: &'a [String],
    /// Central's CA certificate(s), PEM: TLS is required and only this CA is trusted.
    pub ca_file: Option<&'a Path>,
    /// The terminal's certificate chain and private key for mutual TLS.
    pub client_certificate: Option<(&'a Path, &'a Path)>,
    /// NATS credentials file, if central requires one.
    pub credentials_file: Option<&'a Path>,
}

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

/// Why connecting to central failed before any byte was sent.
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    /// The credentials file could not be used.
    #[error("credentials file {path}: {why}")]
    Credentials {
        /// The file.
        path: String,
        /// Why.
        why: String,
    },
    /// The client refused to connect.
    #[error("connecting to {url}: {why}")]
    Connect {
        /// The server.
        url: String,
        /// The client's error.
        why: String,
    },
}

/// Reads and checks a credentials file: owner-only, and either a `.creds` file whose JWT and
/// seed parse, or an NKey user seed. The error says what is wrong, never the secret.
pub fn read_credentials(path: &Path) -> Result<Credentials, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| format!("cannot be read: {e}"))?;
    let metadata = file
        .metadata()
        .map_err(|e| format!("cannot be read: {e}"))?;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "is readable by group or others (mode {mode:04o}): expected owner-only access such \
             as 0600 (chmod 600)"
        ));
    }
    let mut text = String::new();
    file.take(CREDENTIALS_BYTES_MAX + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot be read as text: {e}"))?;
    if text.len() as u64 > CREDENTIALS_BYTES_MAX {
        return Err(format!("is longer than {CREDENTIALS_BYTES_MAX} bytes"));
    }
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

/// The connect options for central: request timeout, endless reconnects, and the configured
/// credentials. The one place where the terminal's NATS options are decided.
pub fn connect_options(link: Link<'_>) -> Result<async_nats::ConnectOptions, NatsError> {
    let options = transport_options(
        async_nats::ConnectOptions::new()
            .request_timeout(Some(REQUEST_TIMEOUT))
            .retry_on_initial_connect(),
        link,
    );
    let Some(path) = link.credentials_file else {
        return Ok(options);
    };
    let credentials_error = |why: String| NatsError::Credentials {
        path: path.display().to_string(),
        why,
    };
    match read_credentials(path).map_err(credentials_error)? {
        Credentials::Creds(text) => options
            .credentials(&text)
            .map_err(|e| credentials_error(e.to_string())),
        Credentials::NkeySeed(seed) => Ok(options.nkey(seed)),
    }
}

/// `options` with the transport of `link`: with TLS configured, TLS is required on every
/// connection (also to servers the cluster announces later) and a server certificate must chain
/// to the pinned CA; the system's roots are not consulted (async-nats loads them only when no
/// CA file is given).
pub fn transport_options(
    options: async_nats::ConnectOptions,
    link: Link<'_>,
) -> async_nats::ConnectOptions {
    let Some(ca_file) = link.ca_file else {
        return options;
    };
    let options = options
        .require_tls(true)
        .add_root_certificates(ca_file.to_path_buf());
    match link.client_certificate {
        Some((certificate, key)) => {
            options.add_client_certificate(certificate.to_path_buf(), key.to_path_buf())
        }
        None => options,
    }
}

/// Connects to central with [`connect_options`] through the first reachable seed URL; returns
/// at once and keeps retrying in the background when no server is reachable yet.
pub async fn connect(link: Link<'_>) -> Result<async_nats::Client, NatsError> {
    connect_options(link)?
        .connect(link.urls)
        .await
        .map_err(|e| NatsError::Connect {
            url: link.urls.join(","),
            why: e.to_string(),
        })
}
