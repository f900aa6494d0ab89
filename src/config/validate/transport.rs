//! The `[upstream]` keys that say how central is reached: seed URLs, TLS with central's CA
//! pinned and an optional client certificate, and the replica count of streams created here.

use std::path::{Path, PathBuf};

use toml::Spanned;

use super::diagnostics::Report;
use super::files::path_value;
use crate::config::credentials::read_small_text;
use crate::config::raw::RawUpstream;
use crate::config::{ClientCertificate, UpstreamTls};

/// Most seed URLs (a cluster is 3 or 5 servers; the client learns the others from them).
const URLS_MAX: usize = 16;
/// Largest certificate file read (a CA bundle of a few certificates).
const CERTIFICATE_BYTES_MAX: u64 = 64 * 1024;
/// JetStream replicas: 1 (one server) to 5 (the most a stream may have).
const STREAM_REPLICAS_RANGE: std::ops::RangeInclusive<u64> = 1..=5;

/// How central is reached, as validated.
pub(super) struct Transport {
    pub urls: Vec<String>,
    pub tls: Option<UpstreamTls>,
    pub stream_replicas: usize,
}

/// A `nats://host:port` or `tls://host:port` URL.
fn nats_url(value: &Spanned<String>, key: &str, report: &mut Report<'_>) -> Option<String> {
    let url = value.get_ref();
    let host = url
        .strip_prefix("nats://")
        .or_else(|| url.strip_prefix("tls://"));
    match host {
        Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => Some(url.clone()),
        _ => {
            report.at(
                value.span().start,
                format!("{key} `{url}`: expected \"nats://host:port\" or \"tls://host:port\""),
            );
            None
        }
    }
}

/// The seed URLs: `nats_url` (one) or `urls` (a list), exactly one of them.
fn urls(raw: &RawUpstream, at: usize, report: &mut Report<'_>) -> Option<Vec<String>> {
    match (&raw.nats_url, &raw.urls) {
        (Some(url), None) => nats_url(url, "nats_url", report).map(|url| vec![url]),
        (None, Some(list)) => {
            if list.get_ref().is_empty() || list.get_ref().len() > URLS_MAX {
                report.at(
                    list.span().start,
                    format!("urls: expected 1 to {URLS_MAX} seed URLs of central's servers"),
                );
                return None;
            }
            let urls: Vec<Option<String>> = list
                .get_ref()
                .iter()
                .map(|url| nats_url(url, "urls", report))
                .collect();
            urls.into_iter().collect()
        }
        (Some(url), Some(_)) => {
            report.at(
                url.span().start,
                "nats_url and urls both given: list every seed URL in urls",
            );
            None
        }
        (None, None) => {
            report.at(
                at,
                "[upstream] needs urls = [\"tls://host:4222\", ...] (or a single nats_url)",
            );
            None
        }
    }
}

/// Reads a PEM file of at most [`CERTIFICATE_BYTES_MAX`] bytes holding a block labelled `label`
/// (owner-only when `owner_only`); the error says what is wrong with it.
pub(crate) fn pem_file(path: &Path, label: &str, owner_only: bool) -> Result<(), String> {
    let text = read_small_text(path, CERTIFICATE_BYTES_MAX, owner_only)?;
    let begin = format!("-----BEGIN {label}-----");
    let found = text
        .lines()
        .any(|line| line.starts_with("-----BEGIN ") && line.ends_with(&format!("{label}-----")));
    if found {
        Ok(())
    } else {
        Err(format!("holds no PEM block `{begin}`"))
    }
}

fn pem_value(
    value: &Spanned<String>,
    config_dir: &Path,
    (key, label, owner_only): (&str, &str, bool),
    report: &mut Report<'_>,
) -> Option<PathBuf> {
    let path = path_value(value, config_dir, report)?;
    match pem_file(&path, label, owner_only) {
        Ok(()) => Some(path),
        Err(why) => {
            report.at(
                value.span().start,
                format!("{key} {} {why}", path.display()),
            );
            None
        }
    }
}

/// TLS settings: `ca_file` pins central's CA; `client_cert_file` and `client_key_file` (both or
/// neither) add a client certificate. `tls://` URLs need `ca_file`.
fn tls(
    raw: &RawUpstream,
    urls: &[String],
    config_dir: &Path,
    report: &mut Report<'_>,
) -> Option<Option<UpstreamTls>> {
    let Some(ca) = &raw.ca_file else {
        if let Some(url) = urls.iter().find(|url| url.starts_with("tls://")) {
            let at = (raw.urls.as_ref().map(|v| v.span().start))
                .or(raw.nats_url.as_ref().map(|v| v.span().start));
            report.at(
                at.unwrap_or_default(),
                format!("{url}: a tls:// URL needs ca_file, central's CA certificate (PEM)"),
            );
            return None;
        }
        for value in [&raw.client_cert_file, &raw.client_key_file]
            .into_iter()
            .flatten()
        {
            report.at(
                value.span().start,
                "a client certificate needs TLS: set ca_file, central's CA certificate (PEM)",
            );
        }
        return (raw.client_cert_file.is_none() && raw.client_key_file.is_none()).then_some(None);
    };
    let ca_file = pem_value(ca, config_dir, ("ca_file", "CERTIFICATE", false), report);
    let client_certificate = match (&raw.client_cert_file, &raw.client_key_file) {
        (None, None) => Some(None),
        (Some(cert), Some(key)) => {
            let cert = pem_value(
                cert,
                config_dir,
                ("client_cert_file", "CERTIFICATE", false),
                report,
            );
            let key = pem_value(
                key,
                config_dir,
                ("client_key_file", "PRIVATE KEY", true),
                report,
            );
            cert.zip(key).map(|(certificate_file, key_file)| {
                Some(ClientCertificate {
                    certificate_file,
                    key_file,
                })
            })
        }
        (Some(one), None) | (None, Some(one)) => {
            report.at(
                one.span().start,
                "client_cert_file and client_key_file go together: give both or neither",
            );
            None
        }
    };
    Some(Some(UpstreamTls {
        ca_file: ca_file?,
        client_certificate: client_certificate?,
    }))
}

/// Seed URLs, TLS and the stream replica count of the `[upstream]` table at `at`.
pub(super) fn transport(
    raw: &RawUpstream,
    at: usize,
    config_dir: &Path,
    report: &mut Report<'_>,
) -> Option<Transport> {
    let urls = urls(raw, at, report);
    let tls = tls(raw, urls.as_deref().unwrap_or_default(), config_dir, report);
    let stream_replicas = match &raw.stream_replicas {
        Some(value) => {
            super::diagnostics::in_range(value, &STREAM_REPLICAS_RANGE, "stream_replicas", report)
        }
        None => Some(1),
    };
    Some(Transport {
        urls: urls?,
        tls: tls?,
        stream_replicas: usize::try_from(stream_replicas?).ok()?,
    })
}
