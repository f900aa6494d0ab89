//! The connection to central's NATS servers: one set of connect options built from a
//! [`CentralLink`] (every seed URL of the cluster, TLS with central's CA pinned and an optional
//! client certificate, credentials), used by the terminal (from its `[upstream]` table) and by
//! central's own tools (from their `--nats`, `--ca-file`, … arguments) alike.

use std::path::PathBuf;
use std::time::Duration;

use crate::config::{Upstream, UpstreamTls};

/// How long a request (JetStream API call) may wait for its answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the client waits on a silent server before it pings: any message from the server
/// resets the wait, and three unanswered intervals (6 s of silence) drop the connection for
/// another seed. A server that stops answering (a machine lost, a cut link; a killed process
/// closes the socket at once) is left in seconds, not the library's three minutes, while a slow
/// WAN link at a land crossing (round trips of a second or more) is not taken for a dead one;
/// a lost node's stream leaders take 4-9 s to be replaced anyway.
pub const PING_INTERVAL: Duration = Duration::from_secs(2);

/// How long one connection attempt (TCP, TLS, the server's INFO) may take before the client
/// tries the next server: a seed that is down must not hold a reconnect for the library's 5 s.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(2);

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

/// How central's servers are reached: seed URLs, TLS, credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CentralLink {
    /// Seed URLs (`nats://` or `tls://`): the client tries them in turn and learns the rest of
    /// the cluster from the server it reaches.
    pub urls: Vec<String>,
    /// TLS with central's CA pinned; `None`: plain NATS (a lab or a loopback broker).
    pub tls: Option<UpstreamTls>,
    /// NATS credentials file (`.creds` or NKey seed), if central requires one.
    pub credentials_file: Option<PathBuf>,
}

impl CentralLink {
    /// Plain NATS to `seeds`: one URL or several separated by commas.
    pub fn plain(seeds: &str) -> Self {
        Self {
            urls: seeds.split(',').map(|url| url.trim().to_string()).collect(),
            tls: None,
            credentials_file: None,
        }
    }

    /// The link of the terminal's `[upstream]` table.
    pub fn of(upstream: &Upstream) -> Self {
        Self {
            urls: upstream.urls.clone(),
            tls: upstream.tls.clone(),
            credentials_file: upstream.credentials_file.clone(),
        }
    }
}

/// What central's adapters accept as a link: a [`CentralLink`], or plain seed URLs as text.
pub trait IntoCentralLink {
    /// The link.
    fn into_link(self) -> CentralLink;
}

impl IntoCentralLink for &CentralLink {
    fn into_link(self) -> CentralLink {
        self.clone()
    }
}

impl IntoCentralLink for &str {
    fn into_link(self) -> CentralLink {
        CentralLink::plain(self)
    }
}

impl IntoCentralLink for &String {
    fn into_link(self) -> CentralLink {
        CentralLink::plain(self)
    }
}

/// The terminal's connect options: [`link_options`] of its `[upstream]`, retrying the first
/// connection in the background (a terminal starts while central is unreachable).
pub fn connect_options(upstream: &Upstream) -> Result<async_nats::ConnectOptions, NatsError> {
    Ok(link_options(&CentralLink::of(upstream))?.retry_on_initial_connect())
}

/// The connect options for central: request timeout, failure detection, TLS and the configured
/// credentials. The one place where NATS options for central are decided.
pub fn link_options(link: &CentralLink) -> Result<async_nats::ConnectOptions, NatsError> {
    let options = transport_options(
        async_nats::ConnectOptions::new()
            .request_timeout(Some(REQUEST_TIMEOUT))
            .ping_interval(PING_INTERVAL)
            .connection_timeout(CONNECTION_TIMEOUT),
        link.tls.as_ref(),
    );
    let Some(path) = &link.credentials_file else {
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

/// `options` with the transport `tls`: with TLS configured, TLS is required on every
/// connection (also to servers the cluster announces later) and a server certificate must chain
/// to the pinned CA; the system's roots are not consulted (async-nats loads them only when no
/// CA file is given).
pub fn transport_options(
    options: async_nats::ConnectOptions,
    tls: Option<&UpstreamTls>,
) -> async_nats::ConnectOptions {
    let Some(tls) = tls else {
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
    let options = connect_options(upstream)?;
    connect_with(options, &upstream.urls).await
}

/// Connects to central with [`link_options`] through the first reachable seed URL, for
/// central's tools: no server reachable, a certificate not chaining to the pinned CA or refused
/// credentials is an error at once.
pub async fn connect_link(link: impl IntoCentralLink) -> Result<async_nats::Client, NatsError> {
    let link = link.into_link();
    connect_with(link_options(&link)?, &link.urls).await
}

async fn connect_with(
    options: async_nats::ConnectOptions,
    urls: &[String],
) -> Result<async_nats::Client, NatsError> {
    options.connect(urls).await.map_err(|e| NatsError::Connect {
        url: urls.join(","),
        why: e.to_string(),
    })
}
