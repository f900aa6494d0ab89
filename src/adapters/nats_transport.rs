//! How the terminal reaches central's NATS servers: every seed URL of the cluster, and TLS with
//! central's CA pinned (plus a client certificate for mutual TLS). The one place where the
//! `[upstream]` transport settings become connect options; credentials go onto the same options.

use crate::config::Upstream;

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

/// Connects to central through the first reachable seed URL, with `options` plus the transport.
pub async fn connect_with(
    options: async_nats::ConnectOptions,
    upstream: &Upstream,
) -> Result<async_nats::Client, async_nats::ConnectError> {
    transport_options(options, upstream)
        .connect(upstream.urls.as_slice())
        .await
}
