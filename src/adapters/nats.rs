//! The terminal's connection to central's NATS servers: one set of connect options built from
//! the `[upstream]` table (every seed URL of the cluster, TLS with central's CA pinned and an
//! optional client certificate, credentials), used by the relay, the index, the heartbeats and
//! the ledger replicator alike.

use std::time::Duration;

use crate::config::Upstream;

/// How long a request (JetStream API call) may wait for its answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

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

// The credentials file is the configuration's to read: `--check-config` parses it as the
// terminal does (`config::credentials`); it is re-exported here for central's tools.
pub use crate::config::credentials::{CREDENTIALS_BYTES_MAX, Credentials, read_credentials};

/// The connect options for central: request timeout, endless reconnects, and the configured
/// credentials. The one place where the terminal's NATS options are decided.
pub fn connect_options(upstream: &Upstream) -> Result<async_nats::ConnectOptions, NatsError> {
    let options = transport_options(
        async_nats::ConnectOptions::new()
            .request_timeout(Some(REQUEST_TIMEOUT))
            .retry_on_initial_connect(),
        upstream,
    );
    let Some(path) = &upstream.credentials_file else {
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

/// `options` with the transport of `upstream`: with TLS configured, TLS is required on every
/// connection (also to servers the cluster announces later) and a server certificate must chain
/// to the pinned CA; the system's roots are not consulted (async-nats loads them only when no
/// CA file is given).
pub fn transport_options(
    options: async_nats::ConnectOptions,
    upstream: &Upstream,
) -> async_nats::ConnectOptions {
    let Some(tls) = &upstream.tls else {
        return options;
    };
    let options = options
        .require_tls(true)
        .add_root_certificates(tls.ca_file.clone());
    match &tls.client_certificate {
        Some(client) => {
            options.add_client_certificate(client.certificate_file.clone(), client.key_file.clone())
        }
        None => options,
    }
}

/// Connects to central with [`connect_options`] through the first reachable seed URL; returns
/// at once and keeps retrying in the background when no server is reachable yet.
pub async fn connect(upstream: &Upstream) -> Result<async_nats::Client, NatsError> {
    connect_options(upstream)?
        .connect(upstream.urls.as_slice())
        .await
        .map_err(|e| NatsError::Connect {
            url: upstream.urls.join(","),
            why: e.to_string(),
        })
}
