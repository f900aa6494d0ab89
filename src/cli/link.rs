//! The arguments by which central's tools (`feed`, `ledger` publish, checkpoint, …) reach
//! central's NATS servers: seed URLs, TLS with central's CA pinned, a client certificate and
//! credentials, checked like the terminal's `[upstream]` and turned into one [`CentralLink`].

use std::path::PathBuf;

use crate::adapters::nats::{CentralLink, read_credentials};
use crate::config::{ClientCertificate, UpstreamTls, pem_file};

/// How to reach central's NATS servers.
#[derive(Debug, Clone, clap::Args)]
pub struct LinkArgs {
    /// Central's NATS seed URLs (`nats://host:port` or `tls://host:port`), comma-separated or
    /// repeated: the servers of central's cluster.
    #[arg(
        long = "nats",
        value_delimiter = ',',
        default_value = "nats://127.0.0.1:4222"
    )]
    nats: Vec<String>,
    /// Central's CA certificate (PEM): TLS is required and the servers' certificates must chain
    /// to it (no system roots). Needed by `tls://` URLs.
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS, with `--client-key`.
    #[arg(long, requires = "client_key")]
    client_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM, owner-only).
    #[arg(long, requires = "client_cert")]
    client_key: Option<PathBuf>,
    /// NATS credentials (owner-only): a `.creds` file (nsc) or an NKey user seed.
    #[arg(long)]
    credentials: Option<PathBuf>,
}

impl LinkArgs {
    /// The link, every argument checked: URL schemes, PEM files (the key owner-only), the
    /// credentials file; the error names the argument and says why.
    pub fn link(&self) -> Result<CentralLink, String> {
        for url in &self.nats {
            let host = url
                .strip_prefix("nats://")
                .or_else(|| url.strip_prefix("tls://"));
            if !host.is_some_and(|host| !host.is_empty() && !host.contains(char::is_whitespace)) {
                return Err(format!(
                    "--nats `{url}`: expected \"nats://host:port\" or \"tls://host:port\""
                ));
            }
        }
        let tls = self.tls()?;
        if tls.is_none()
            && let Some(url) = self.nats.iter().find(|url| url.starts_with("tls://"))
        {
            return Err(format!(
                "--nats {url}: a tls:// URL needs --ca-file, central's CA certificate (PEM)"
            ));
        }
        if let Some(path) = &self.credentials {
            read_credentials(path)
                .map_err(|why| format!("--credentials {}: {why}", path.display()))?;
        }
        Ok(CentralLink {
            urls: self.nats.clone(),
            tls,
            credentials_file: self.credentials.clone(),
        })
    }

    fn tls(&self) -> Result<Option<UpstreamTls>, String> {
        let pem = |argument: &str, path: &PathBuf, label: &str, owner_only: bool| {
            pem_file(path, label, owner_only)
                .map_err(|why| format!("{argument} {} {why}", path.display()))
        };
        let Some(ca_file) = &self.ca_file else {
            return match &self.client_cert {
                Some(_) => Err(
                    "--client-cert needs TLS: give --ca-file, central's CA certificate \
                                (PEM)"
                        .into(),
                ),
                None => Ok(None),
            };
        };
        pem("--ca-file", ca_file, "CERTIFICATE", false)?;
        let client_certificate = match (&self.client_cert, &self.client_key) {
            (Some(certificate_file), Some(key_file)) => {
                pem("--client-cert", certificate_file, "CERTIFICATE", false)?;
                pem("--client-key", key_file, "PRIVATE KEY", true)?;
                Some(ClientCertificate {
                    certificate_file: certificate_file.clone(),
                    key_file: key_file.clone(),
                })
            }
            _ => None,
        };
        Ok(Some(UpstreamTls {
            ca_file: ca_file.clone(),
            client_certificate,
        }))
    }
}
