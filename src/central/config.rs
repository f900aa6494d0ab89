//! `checkpoint-central`'s TOML configuration: one path from text to a validated
//! [`CentralConfig`], every problem reported as `file:line:column: message`.

use std::io::Read;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::config::{ApiToken, CONFIG_BYTES_MAX, ConfigError, Problem, Problems};
use crate::core::ledger::{RootKey, RootSet};
use crate::core::stay::StayPolicy;

/// Where the unit expects the configuration.
pub const CENTRAL_CONFIG_PATH_DEFAULT: &str = "/etc/checkpoint-central/central.toml";
/// Accepted range of events per ingestion batch (one PostgreSQL transaction each).
const BATCH_MAX_RANGE: std::ops::RangeInclusive<u64> = 1..=10_000;
/// Shortest operator token: shorter ones can be guessed.
const TOKEN_CHARS_MIN: usize = 16;
/// Largest secret file read; anything longer is not a token or password.
const SECRET_FILE_BYTES_MAX: u64 = 4096;
/// Accepted range of the ledger replica's page cache.
const CACHE_CAPACITY_BYTES_RANGE: std::ops::RangeInclusive<u64> = (1 << 20)..=(16 << 30);

/// A validated central configuration.
#[derive(Debug, Clone)]
pub struct CentralConfig {
    /// State directory: the ledger replica lives in `<data_dir>/ledger`.
    pub data_dir: PathBuf,
    /// The JetStream side.
    pub nats: NatsSettings,
    /// The movement record.
    pub postgres: PostgresSettings,
    /// Central's own ledger replica (terminal keys, permits as grounds of stay).
    pub ledger: LedgerSettings,
    /// The reports API and the central-ops page.
    pub http: HttpSettings,
    /// The stay rules the terminals run, used by the overstayers report.
    pub stay: StayPolicy,
}

/// Where events come from.
#[derive(Debug, Clone)]
pub struct NatsSettings {
    /// Seed URLs of central's servers (`nats://…` or `tls://…`), comma-separated.
    pub url: String,
    /// TLS with the servers' CA pinned (and a client certificate), if configured.
    pub tls: Option<crate::config::UpstreamTls>,
    /// NATS credentials (`.creds` or NKey seed), if the servers require them.
    pub credentials_file: Option<PathBuf>,
    /// The events stream (`EVENTS`).
    pub stream: String,
    /// Durable consumer name; also the key of the stored position.
    pub durable: String,
    /// Events per batch.
    pub batch_max: usize,
}

impl NatsSettings {
    /// How the service reaches the servers: the one connect path of central's tools.
    pub fn link(&self) -> crate::adapters::nats::CentralLink {
        crate::adapters::nats::CentralLink {
            tls: self.tls.clone(),
            credentials_file: self.credentials_file.clone(),
            ..crate::adapters::nats::CentralLink::plain(&self.url)
        }
    }
}

/// How to reach PostgreSQL.
#[derive(Clone)]
pub struct PostgresSettings {
    /// Host name, loopback address or Unix socket directory.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Role.
    pub user: String,
    /// Database.
    pub dbname: String,
    /// Password read from an owner-only file, if one is named.
    pub password: Option<String>,
}

impl std::fmt::Debug for PostgresSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("dbname", &self.dbname)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .finish()
    }
}

impl PostgresSettings {
    /// The client configuration.
    pub fn client_config(&self) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
        config
            .host(&self.host)
            .port(self.port)
            .user(&self.user)
            .dbname(&self.dbname)
            .application_name("checkpoint-central")
            // No JIT compilation: it cost each ingested batch tens of milliseconds of LLVM
            // work (about as much CPU as PostgreSQL's own part of the batch), and the reports
            // read by index or scan one narrow table, where compiling does not pay either.
            .options("-c jit=off")
            .connect_timeout(std::time::Duration::from_secs(5));
        if let Some(password) = &self.password {
            config.password(password);
        }
        config
    }
}

/// Central's ledger replica.
#[derive(Debug, Clone)]
pub struct LedgerSettings {
    /// The pinned roots and threshold: checkpoints are verified like a terminal's.
    pub roots: RootSet,
    /// Page cache of the replica.
    pub cache_capacity_bytes: u64,
}

/// The reports API.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Loopback address.
    pub listen: SocketAddr,
    /// The operator token (bearer), read from an owner-only file.
    pub token: ApiToken,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    data_dir: Option<Spanned<String>>,
    nats: Option<Spanned<RawNats>>,
    postgres: Option<Spanned<RawPostgres>>,
    ledger: Option<Spanned<RawLedger>>,
    http: Option<Spanned<RawHttp>>,
    stay: Option<Spanned<RawStay>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNats {
    url: Option<Spanned<String>>,
    ca_file: Option<Spanned<String>>,
    client_cert_file: Option<Spanned<String>>,
    client_key_file: Option<Spanned<String>>,
    credentials_file: Option<Spanned<String>>,
    stream: Option<Spanned<String>>,
    durable: Option<Spanned<String>>,
    batch_max: Option<Spanned<u64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPostgres {
    host: Option<Spanned<String>>,
    port: Option<Spanned<u16>>,
    user: Option<Spanned<String>>,
    dbname: Option<Spanned<String>>,
    password_file: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLedger {
    roots: Option<Spanned<Vec<Spanned<String>>>>,
    root_threshold: Option<Spanned<u64>>,
    cache_capacity_bytes: Option<Spanned<u64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    listen: Option<Spanned<String>>,
    token_file: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStay {
    rules: Option<Spanned<String>>,
}

/// Reads and validates the configuration at `path`.
pub fn load(path: &Path) -> Result<CentralConfig, ConfigError> {
    let read_error = |source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let mut text = String::new();
    file.take(CONFIG_BYTES_MAX + 1)
        .read_to_string(&mut text)
        .map_err(read_error)?;
    if text.len() as u64 > CONFIG_BYTES_MAX {
        return Err(ConfigError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    parse(&text, path)
}

/// Validates configuration `text` read from `path`; relative paths resolve against its directory.
pub fn parse(text: &str, path: &Path) -> Result<CentralConfig, ConfigError> {
    let mut checks = Checks {
        text,
        base: path.parent().unwrap_or(Path::new(".")).to_path_buf(),
        problems: Vec::new(),
    };
    let config = match toml::from_str::<Raw>(text) {
        Ok(raw) => checks.config(raw),
        Err(error) => {
            let offset = error.span().map_or(0, |span| span.start);
            checks.at(offset, error.message().to_string());
            None
        }
    };
    match config {
        Some(config) if checks.problems.is_empty() => Ok(config),
        _ => Err(ConfigError::Invalid(checks.into_problems(path))),
    }
}

struct Checks<'t> {
    text: &'t str,
    base: PathBuf,
    problems: Vec<(usize, String)>,
}

impl Checks<'_> {
    fn at(&mut self, offset: usize, message: impl Into<String>) {
        self.problems.push((offset, message.into()));
    }

    fn into_problems(mut self, path: &Path) -> Problems {
        self.problems.sort_by_key(|(offset, _)| *offset);
        let problems = self
            .problems
            .iter()
            .map(|(offset, message)| {
                let before = &self.text[..(*offset).min(self.text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                Problem {
                    line,
                    column,
                    message: message.clone(),
                }
            })
            .collect();
        Problems {
            path: path.to_path_buf(),
            problems,
        }
    }

    /// A required value, or a "missing" problem at `offset` (its table).
    fn required<T>(
        &mut self,
        value: Option<Spanned<T>>,
        offset: usize,
        key: &str,
        expected: &str,
    ) -> Option<Spanned<T>> {
        if value.is_none() {
            self.at(offset, format!("missing key `{key}`: expected {expected}"));
        }
        value
    }

    fn resolve(&self, path: &str) -> PathBuf {
        self.base.join(path)
    }

    fn config(&mut self, raw: Raw) -> Option<CentralConfig> {
        let data_dir = self.required(raw.data_dir, 0, "data_dir", "the state directory");
        let nats = self
            .required(raw.nats, 0, "nats", "a [nats] table")
            .and_then(|n| self.nats(n));
        let postgres = self
            .required(raw.postgres, 0, "postgres", "a [postgres] table")
            .and_then(|p| self.postgres(p));
        let ledger = self
            .required(raw.ledger, 0, "ledger", "a [ledger] table")
            .and_then(|l| self.ledger(l));
        let http = self
            .required(raw.http, 0, "http", "an [http] table")
            .and_then(|h| self.http(h));
        let stay = self
            .required(raw.stay, 0, "stay", "a [stay] table")
            .and_then(|s| self.stay(s));
        Some(CentralConfig {
            data_dir: self.resolve(data_dir?.get_ref()),
            nats: nats?,
            postgres: postgres?,
            ledger: ledger?,
            http: http?,
            stay: stay?,
        })
    }

    fn nats(&mut self, table: Spanned<RawNats>) -> Option<NatsSettings> {
        let at = table.span().start;
        let raw = table.into_inner();
        let url = self.required(raw.url.clone(), at, "nats.url", "a `nats://host:port` URL");
        if let Some(url) = &url
            && !url.get_ref().split(',').all(|seed| {
                let seed = seed.trim();
                seed.starts_with("nats://") || seed.starts_with("tls://")
            })
        {
            self.at(
                url.span().start,
                "nats.url: every seed URL must start with nats:// or tls://",
            );
        }
        let tls = self.nats_tls(&raw, url.as_ref());
        let credentials_file = raw.credentials_file.as_ref().and_then(|file| {
            let path = self.resolve(file.get_ref());
            match crate::adapters::nats::read_credentials(&path) {
                Ok(_) => Some(path),
                Err(why) => {
                    self.at(
                        file.span().start,
                        format!("nats.credentials_file {} {why}", path.display()),
                    );
                    None
                }
            }
        });
        let stream = raw.stream.map_or_else(
            || crate::adapters::feed::STREAM_NAME.to_string(),
            Spanned::into_inner,
        );
        let durable = self.required(raw.durable, at, "nats.durable", "a consumer name");
        if let Some(durable) = &durable {
            let name = durable.get_ref();
            let valid = !name.is_empty()
                && name.len() <= 64
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !valid {
                self.at(
                    durable.span().start,
                    "nats.durable must be 1-64 letters, digits, `-` or `_`",
                );
            }
        }
        let batch_max = self.required(raw.batch_max, at, "nats.batch_max", "events per batch");
        if let Some(batch) = &batch_max
            && !BATCH_MAX_RANGE.contains(batch.get_ref())
        {
            self.at(
                batch.span().start,
                format!("nats.batch_max must be in {BATCH_MAX_RANGE:?}"),
            );
        }
        if raw.credentials_file.is_some() && credentials_file.is_none() {
            return None;
        }
        Some(NatsSettings {
            url: url?.into_inner(),
            tls: tls?,
            credentials_file,
            stream,
            durable: durable?.into_inner(),
            batch_max: usize::try_from(*batch_max?.get_ref()).ok()?,
        })
    }

    fn postgres(&mut self, table: Spanned<RawPostgres>) -> Option<PostgresSettings> {
        let at = table.span().start;
        let raw = table.into_inner();
        let host = self.required(
            raw.host,
            at,
            "postgres.host",
            "a loopback address or a socket directory",
        );
        if let Some(host) = &host {
            let value = host.get_ref();
            let loopback = value
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
                || value == "localhost";
            if !loopback && !value.starts_with('/') {
                self.at(
                    host.span().start,
                    "postgres.host must be a loopback address or an absolute socket directory (the connection is not encrypted)",
                );
            }
        }
        let port = raw.port.map_or(5432, Spanned::into_inner);
        let user = self.required(raw.user, at, "postgres.user", "a role name");
        let dbname = self.required(raw.dbname, at, "postgres.dbname", "a database name");
        let password = match raw.password_file {
            Some(file) => Some(self.secret(&file, "postgres.password_file", 1)?),
            None => None,
        };
        Some(PostgresSettings {
            host: host?.into_inner(),
            port,
            user: user?.into_inner(),
            dbname: dbname?.into_inner(),
            password,
        })
    }

    fn ledger(&mut self, table: Spanned<RawLedger>) -> Option<LedgerSettings> {
        let at = table.span().start;
        let raw = table.into_inner();
        let roots = self.required(raw.roots, at, "ledger.roots", "hex Ed25519 root keys")?;
        let mut keys = Vec::new();
        for root in roots.get_ref() {
            let mut bytes = [0u8; 32];
            let decoded = hex::decode_to_slice(root.get_ref(), &mut bytes)
                .map_err(|e| e.to_string())
                .and_then(|()| RootKey::from_bytes(&bytes).map_err(|e| e.to_string()));
            match decoded {
                Ok(key) => keys.push(key),
                Err(why) => self.at(root.span().start, format!("ledger root key: {why}")),
            }
        }
        let threshold = self.required(
            raw.root_threshold,
            at,
            "ledger.root_threshold",
            "how many roots must sign a checkpoint",
        )?;
        let count = keys.len();
        let roots = match RootSet::new(keys, usize::try_from(*threshold.get_ref()).ok()?) {
            Ok(set) => Some(set),
            Err(error) => {
                self.at(
                    threshold.span().start,
                    format!("ledger.root_threshold with {count} root(s): {error}"),
                );
                None
            }
        };
        let cache = raw
            .cache_capacity_bytes
            .map_or(64 << 20, Spanned::into_inner);
        if !CACHE_CAPACITY_BYTES_RANGE.contains(&cache) {
            self.at(
                at,
                format!("ledger.cache_capacity_bytes must be in {CACHE_CAPACITY_BYTES_RANGE:?}"),
            );
        }
        Some(LedgerSettings {
            roots: roots?,
            cache_capacity_bytes: cache,
        })
    }

    fn http(&mut self, table: Spanned<RawHttp>) -> Option<HttpSettings> {
        let at = table.span().start;
        let raw = table.into_inner();
        let listen = self.required(raw.listen, at, "http.listen", "a loopback address:port")?;
        let address = match listen.get_ref().parse::<SocketAddr>() {
            Ok(address) if address.ip().is_loopback() => Some(address),
            Ok(_) => {
                self.at(
                    listen.span().start,
                    "http.listen must be a loopback address (the API has no TLS)",
                );
                None
            }
            Err(error) => {
                self.at(listen.span().start, format!("http.listen: {error}"));
                None
            }
        };
        let file = self.required(
            raw.token_file,
            at,
            "http.token_file",
            "an owner-only file holding the operator token",
        )?;
        let token = self.secret(&file, "http.token_file", TOKEN_CHARS_MIN);
        Some(HttpSettings {
            listen: address?,
            token: ApiToken::new(token?),
        })
    }

    fn stay(&mut self, table: Spanned<RawStay>) -> Option<StayPolicy> {
        let at = table.span().start;
        let raw = table.into_inner();
        let rules = self.required(raw.rules, at, "stay.rules", "the stay-rules file")?;
        let path = self.resolve(rules.get_ref());
        let policy = std::fs::read_to_string(&path)
            .map_err(|e| format!("stay.rules {}: {e}", path.display()))
            .and_then(|text| {
                StayPolicy::from_toml(&text)
                    .map_err(|e| format!("stay.rules {}: {e}", path.display()))
            });
        match policy {
            Ok(policy) => Some(policy),
            Err(why) => {
                self.at(rules.span().start, why);
                None
            }
        }
    }

    /// `[nats]` TLS: `ca_file` pins the servers' CA (needed by `tls://` seeds); the client
    /// certificate and its owner-only key go together. `None`: a problem was reported.
    fn nats_tls(
        &mut self,
        raw: &RawNats,
        url: Option<&Spanned<String>>,
    ) -> Option<Option<crate::config::UpstreamTls>> {
        let pem = |checks: &mut Self, value: &Spanned<String>, key: &str, label, owner_only| {
            let path = checks.resolve(value.get_ref());
            match crate::config::pem_file(&path, label, owner_only) {
                Ok(()) => Some(path),
                Err(why) => {
                    checks.at(
                        value.span().start,
                        format!("{key} {} {why}", path.display()),
                    );
                    None
                }
            }
        };
        let Some(ca) = &raw.ca_file else {
            if let Some(url) = url.filter(|url| url.get_ref().contains("tls://")) {
                self.at(
                    url.span().start,
                    "nats.url: a tls:// seed needs nats.ca_file, the servers' CA certificate (PEM)",
                );
                return None;
            }
            if let Some(cert) = raw
                .client_cert_file
                .as_ref()
                .or(raw.client_key_file.as_ref())
            {
                self.at(
                    cert.span().start,
                    "a client certificate needs TLS: set nats.ca_file",
                );
                return None;
            }
            return Some(None);
        };
        let ca_file = pem(self, ca, "nats.ca_file", "CERTIFICATE", false);
        let client_certificate = match (&raw.client_cert_file, &raw.client_key_file) {
            (None, None) => Some(None),
            (Some(cert), Some(key)) => {
                let cert = pem(self, cert, "nats.client_cert_file", "CERTIFICATE", false);
                let key = pem(self, key, "nats.client_key_file", "PRIVATE KEY", true);
                cert.zip(key).map(|(certificate_file, key_file)| {
                    Some(crate::config::ClientCertificate {
                        certificate_file,
                        key_file,
                    })
                })
            }
            (Some(one), None) | (None, Some(one)) => {
                self.at(
                    one.span().start,
                    "nats.client_cert_file and nats.client_key_file go together",
                );
                None
            }
        };
        Some(Some(crate::config::UpstreamTls {
            ca_file: ca_file?,
            client_certificate: client_certificate?,
        }))
    }

    /// Reads a one-line secret from an owner-only file of at least `chars_min` characters.
    fn secret(&mut self, file: &Spanned<String>, key: &str, chars_min: usize) -> Option<String> {
        let at = file.span().start;
        let path = self.resolve(file.get_ref());
        let read = std::fs::metadata(&path).and_then(|meta| {
            let mut text = String::new();
            std::fs::File::open(&path)?
                .take(SECRET_FILE_BYTES_MAX)
                .read_to_string(&mut text)?;
            Ok((meta.permissions().mode(), text))
        });
        match read {
            Err(error) => {
                self.at(at, format!("{key} {}: {error}", path.display()));
                None
            }
            Ok((mode, _)) if mode & 0o077 != 0 => {
                self.at(
                    at,
                    format!(
                        "{key} {} is readable by group or others (mode {:o}); chmod 600 it",
                        path.display(),
                        mode & 0o777
                    ),
                );
                None
            }
            Ok((_, text)) => {
                let secret = text.trim().to_string();
                if secret.chars().count() < chars_min || secret.contains(char::is_whitespace) {
                    self.at(
                        at,
                        format!(
                            "{key} {}: want one line of at least {chars_min} non-blank characters",
                            path.display()
                        ),
                    );
                    return None;
                }
                Some(secret)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        match parse(text, Path::new("/nonexistent/central.toml")) {
            Ok(_) => Vec::new(),
            Err(ConfigError::Invalid(p)) => p
                .problems
                .iter()
                .map(|p| format!("{}:{}: {}", p.line, p.column, p.message))
                .collect(),
            Err(other) => vec![other.to_string()],
        }
    }

    #[test]
    fn unknown_key_is_placed() {
        let found = problems("data_dir = \"/x\"\nbogus = 1\n");
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("2:1: unknown field `bogus`"),
            "{found:?}"
        );
    }

    #[test]
    fn every_meaning_problem_is_listed() {
        let text = "data_dir = \"/x\"\n[nats]\nurl = \"http://a\"\ndurable = \"c d\"\nbatch_max = 0\n\
                    [postgres]\nhost = \"10.0.0.1\"\nuser = \"u\"\ndbname = \"d\"\n\
                    [ledger]\nroots = [\"zz\"]\nroot_threshold = 1\n\
                    [http]\nlisten = \"0.0.0.0:80\"\ntoken_file = \"nope\"\n[stay]\nrules = \"nope.toml\"\n";
        let found = problems(text);
        let lines: Vec<&str> = found
            .iter()
            .map(|p| p.split(':').next().unwrap_or(""))
            .collect();
        assert_eq!(
            lines,
            ["3", "4", "5", "7", "11", "12", "14", "15", "17"],
            "{found:#?}"
        );
    }

    #[test]
    fn nats_tls_keys_are_checked() {
        let nats = |keys: &str| {
            problems(&format!(
                "data_dir = \"/x\"\n[nats]\n{keys}\ndurable = \"c\"\nbatch_max = 10\n"
            ))
            .into_iter()
            .filter(|p| p.contains("nats."))
            .collect::<Vec<_>>()
        };
        let seeds = nats("url = \"tls://127.0.0.1:1,tls://127.0.0.1:2\"");
        assert_eq!(seeds.len(), 1, "{seeds:?}");
        assert!(seeds[0].contains("needs nats.ca_file"), "{seeds:?}");
        let bad_seed = nats("url = \"nats://127.0.0.1:1,http://b\"");
        assert!(bad_seed[0].contains("every seed URL"), "{bad_seed:?}");
        let missing = nats(
            "url = \"tls://127.0.0.1:1\"\nca_file = \"/nonexistent/ca.pem\"\n\
             client_cert_file = \"/nonexistent/c.pem\"\ncredentials_file = \"/nonexistent/n.nk\"",
        );
        assert!(
            missing
                .iter()
                .any(|p| p.contains("nats.ca_file /nonexistent/ca.pem cannot be read")),
            "{missing:?}"
        );
        assert!(
            missing.iter().any(|p| p.contains("go together")),
            "{missing:?}"
        );
        assert!(
            missing.iter().any(|p| p.contains("nats.credentials_file")),
            "{missing:?}"
        );
    }
}
