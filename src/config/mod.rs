//! The terminal configuration: TOML read into raw serde types, validated into a typed [`Config`].
//! Every problem (syntax, unknown key, wrong type, missing profile, bad time zone, unreadable or
//! badly protected key file, unknown group, bad public key) is collected and reported at once with
//! `file:line:column`; startup and reload share this path.

pub mod credentials;
mod raw;
mod validate;
pub(crate) use validate::pem_file;

use std::fmt;
use std::net::SocketAddr;
use std::num::{NonZeroU64, NonZeroUsize};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ed25519_dalek::{SigningKey, VerifyingKey};

pub use crate::adapters::gate::GateProfile;
pub use crate::core::decision::Direction;
pub use validate::parse;

/// Where the daemon looks for its configuration when none is given.
pub const CONFIG_PATH_DEFAULT: &str = "/etc/checkpointd/checkpoint.toml";

/// Bytes of configuration text read at most; a longer file is refused, not parsed.
pub const CONFIG_BYTES_MAX: u64 = 1024 * 1024;

/// A validated terminal configuration. Every path in it is absolute or relative to the working
/// directory (already resolved against the configuration file's directory).
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file this configuration was read from.
    pub source: PathBuf,
    /// Who and where this terminal is.
    pub checkpoint: Checkpoint,
    /// Where stores (ledger replica, outbox) keep their files.
    pub data_dir: PathBuf,
    /// The directory holding device profiles.
    pub devices_dir: PathBuf,
    /// Scanners attached to this terminal; none is valid (a terminal without readers yet).
    pub devices: Vec<Device>,
    /// Options of the local ledger replica, all explicit.
    pub ledger: Ledger,
    /// Central NATS JetStream connection.
    pub upstream: Upstream,
    /// Trust anchors of the ledger and this terminal's signing key.
    pub keys: Keys,
    /// The stay-rules file.
    pub rules_file: PathBuf,
    /// Bounds on buffers, queues and shutdown.
    pub limits: Limits,
    /// Timing of the lane: traveller sessions, ledger staleness, clock checks.
    pub lane: Lane,
    /// The local API for the officer console and the kiosk screen.
    pub api: Api,
    /// The kiosk's gate; present exactly when `checkpoint.mode` is [`Mode::Kiosk`].
    pub gate: Option<Gate>,
    /// How long local history is kept.
    pub retention: Retention,
    /// The lane's chip reader (a `[[devices]]` entry with `pcsc`), if it reads chips.
    pub chip_reader: Option<ChipReader>,
}

/// A PC/SC contactless reader for passport and ID-card chips.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChipReader {
    /// Name used in logs and status lines.
    pub name: String,
    /// Part of the reader's PC/SC name (case-insensitive), e.g. `OMNIKEY 5022`.
    pub pattern: String,
    /// Refuse BAC for a document that offers PACE when PACE fails (no silent downgrade).
    pub refuse_bac_fallback: bool,
    /// The reader takes extended-length APDUs (`false` when absent).
    pub extended_length: bool,
}

/// The checkpoint identity of this terminal.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// Stable identifier, stamped on every crossing record (e.g. `AZ-GYD-T1`).
    pub id: String,
    /// Human-readable name.
    pub name: String,
    /// Airport, land or sea border.
    pub kind: CheckpointKind,
    /// The lane or booth this terminal serves.
    pub lane: String,
    /// Local civil time of the checkpoint; stay limits count calendar days in it.
    pub time_zone: jiff::tz::TimeZone,
    /// Whether an officer attends the terminal.
    pub mode: Mode,
    /// Which way travellers cross at this lane.
    pub direction: Direction,
}

/// Kind of border crossing point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckpointKind {
    /// An international airport.
    Airport,
    /// A road or rail land border.
    Land,
    /// A seaport.
    Sea,
}

/// Who acts on a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// An officer sees every verdict and decides.
    Officer,
    /// An unattended kiosk: anything but a clean admission is referred to an officer.
    Kiosk,
}

/// A scanner attached to the terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Name used in logs and status lines.
    pub name: String,
    /// The profile file describing the scanner's protocol (in the devices directory).
    pub profile_path: PathBuf,
    /// How to reach it.
    pub connection: Connection,
}

/// How a scanner is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    /// A serial port (RS-232, USB-serial adapter or CDC-ACM), e.g. `/dev/ttyACM0`.
    Port(PathBuf),
    /// A USB device by vendor and product id.
    Usb {
        /// USB vendor id.
        vendor_id: u16,
        /// USB product id.
        product_id: u16,
    },
    /// The spool directory a full-page reader's vendor software writes images into.
    Spool(PathBuf),
}

/// Options of the local sled ledger replica. There is no flush interval: the ledger flushes
/// every applied batch before its cursor moves, so a periodic flush would add nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ledger {
    /// Page cache size in bytes.
    pub cache_capacity_bytes: NonZeroU64,
}

/// The central NATS JetStream connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// The first seed URL (`nats://` or `tls://`).
    pub nats_url: String,
    /// Every seed URL, `nats_url` first: the client tries them in turn and learns the rest of
    /// central's cluster from the server it reaches.
    pub urls: Vec<String>,
    /// TLS to central with its CA pinned; `None`: plain NATS (a lab or a loopback broker).
    pub tls: Option<UpstreamTls>,
    /// Replicas of the streams the terminal creates when missing (`EVENTS`): 3 on a three-node
    /// cluster.
    pub stream_replicas: usize,
    /// NATS credentials file, if central requires one.
    pub credentials_file: Option<PathBuf>,
    /// Stream crossing events are published to.
    pub events_stream: String,
    /// Stream the permit ledger is replicated from.
    pub ledger_stream: String,
    /// JetStream duplicate window of the events stream: a retry after an outage this long is
    /// still recognised by its `Nats-Msg-Id` (the 2-minute server default is too short).
    pub duplicate_window: Duration,
    /// How often the terminal publishes its health heartbeat.
    pub heartbeat_every: Duration,
}

/// TLS to central: only certificates chaining to `ca_file` are accepted (no system roots).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamTls {
    /// Central's CA certificate(s), PEM.
    pub ca_file: PathBuf,
    /// The terminal's certificate for mutual TLS, when central asks for one.
    pub client_certificate: Option<ClientCertificate>,
}

/// A client certificate and its private key (owner-only), PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    /// The certificate chain.
    pub certificate_file: PathBuf,
    /// The private key.
    pub key_file: PathBuf,
}

/// Trust anchors and the terminal's own key. Permit issuers' keys are not here: they come from
/// the replicated ledger, whose checkpoints these roots sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    /// Pinned offline root public keys of the ledger, distinct; at least one.
    pub ledger_roots: Vec<VerifyingKey>,
    /// How many distinct roots must sign a ledger checkpoint (`1 <= k <= ledger_roots.len()`).
    pub ledger_root_threshold: NonZeroUsize,
    /// The file the terminal key was read from.
    pub terminal_key_path: PathBuf,
    /// The terminal's Ed25519 signing key for its crossing events.
    pub terminal_key: TerminalKey,
    /// Central's movement-snapshot public key: a new terminal loads the movement history from
    /// central's snapshot signed with it; `None`: it reads the whole `EVENTS` stream.
    pub movement_snapshot_key: Option<VerifyingKey>,
}

/// The terminal's Ed25519 signing key. `Debug` shows only the public half.
#[derive(Clone, PartialEq, Eq)]
pub struct TerminalKey(SigningKey);

impl TerminalKey {
    /// Wraps a signing key.
    pub fn new(key: SigningKey) -> Self {
        Self(key)
    }

    /// The secret key, for signing events.
    pub fn signing_key(&self) -> &SigningKey {
        &self.0
    }

    /// The public key, as published in the ledger.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.0.verifying_key()
    }
}

impl fmt::Debug for TerminalKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TerminalKey(public {})",
            hex::encode(self.0.verifying_key().as_bytes())
        )
    }
}

/// Timing of the lane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lane {
    /// Scans within this window of each other belong to one traveller session.
    pub session_window: Duration,
    /// Ledger age (since its latest verified checkpoint) beyond which decisions carry
    /// `ledger_stale`.
    pub ledger_stale_after: Duration,
    /// How far the wall clock may step back (against the persisted high-water mark) before it
    /// is flagged as untrusted.
    pub clock_backwards_tolerance: Duration,
    /// A person alert scoring at or above this refers the traveller (`watchlist_possible_match`).
    pub watchlist_threshold: WatchlistThreshold,
}

/// The watchlist score at or above which a traveller is referred, in
/// [`WatchlistThreshold::RANGE`]; kept in ten-thousandths so configurations compare exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchlistThreshold(u16);

impl WatchlistThreshold {
    /// Accepted values: below 0.5 nearly everyone sharing a common surname would be referred.
    pub const RANGE: std::ops::RangeInclusive<f64> = 0.5..=1.0;

    /// The threshold of `value`, if in [`Self::RANGE`] (rounded to four decimals).
    pub fn new(value: f64) -> Option<Self> {
        Self::RANGE
            .contains(&value)
            .then(|| Self((value * 10_000.0).round() as u16))
    }

    /// The score threshold.
    pub fn value(self) -> f64 {
        f64::from(self.0) / 10_000.0
    }
}

impl Default for WatchlistThreshold {
    /// `core::watchlist::DEFAULT_THRESHOLD` (0.72), where precision and recall were measured.
    fn default() -> Self {
        Self((crate::core::watchlist::DEFAULT_THRESHOLD * 10_000.0).round() as u16)
    }
}

/// The local API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Api {
    /// Path of the Unix socket.
    pub socket: PathBuf,
    /// Name of the group whose members may use the socket.
    pub group: String,
    /// That group's id, resolved when the configuration was validated.
    pub gid: u32,
    /// Loopback HTTP for the console page, if enabled.
    pub http: Option<HttpApi>,
    /// An officer's session ends after this long without a request (default 600 s).
    pub session_idle_timeout: std::time::Duration,
    /// Failed sign-ins are counted over this window, and a locked-out officer waits until the
    /// oldest counted failure leaves it (default 900 s).
    pub sign_in_lockout: std::time::Duration,
}

/// Loopback HTTP access to the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpApi {
    /// A loopback address and port, e.g. `127.0.0.1:8480`.
    pub address: SocketAddr,
    /// The file the token was read from.
    pub token_file: PathBuf,
    /// The bearer token HTTP clients must present.
    pub token: ApiToken,
}

/// The API bearer token (trimmed file content). `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiToken(String);

impl ApiToken {
    /// Wraps a token.
    pub fn new(token: String) -> Self {
        Self(token)
    }

    /// The token in clear, for comparing with what a client presents.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiToken(<{} characters>)", self.0.chars().count())
    }
}

/// The kiosk's gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gate {
    /// The gate profile file (in the devices directory).
    pub profile_path: PathBuf,
    /// The profile, parsed.
    pub profile: GateProfile,
    /// Serial port of the gate controller, e.g. `/dev/ttyUSB0`.
    pub port: PathBuf,
}

/// Retention of local history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    /// Days of movements kept in the local index; at least the longest stay window.
    pub movement_days: u32,
    /// How often movements past retention are pruned (default hourly).
    pub prune_every: Duration,
    /// Page cache of the crossings database (outbox, events, movement index); enough to hold
    /// the retained movements keeps stay look-ups in memory.
    pub cache_capacity_bytes: NonZeroU64,
}

/// Bounds, each with its unit last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest scanner frame accepted before it is dropped as garbage.
    pub scan_frame_bytes_max: NonZeroUsize,
    /// Largest number of crossing events held in the outbox while upstream is unreachable.
    pub outbox_events_max: NonZeroU64,
    /// How long a graceful stop may take before the daemon exits anyway.
    pub shutdown_grace: Duration,
}

/// Options that are not in the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Overrides the devices directory (default: `devices_dir` from the file, else `devices/`
    /// next to the configuration file's directory).
    pub devices_dir: Option<PathBuf>,
}

/// One problem found in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What is wrong and what was expected.
    pub message: String,
}

/// Every problem found in one configuration file, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems {
    /// The file.
    pub path: PathBuf,
    /// The problems, never empty.
    pub problems: Vec<Problem>,
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, problem) in self.problems.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(
                f,
                "{}:{}:{}: {}",
                self.path.display(),
                problem.line,
                problem.column,
                problem.message
            )?;
        }
        Ok(())
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read at all.
    #[error("cannot read configuration {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is larger than [`CONFIG_BYTES_MAX`].
    #[error("configuration {path} is larger than {CONFIG_BYTES_MAX} bytes")]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// The file was read; these problems were found in it.
    #[error("{0}")]
    Invalid(Problems),
}

/// Opens a file the configuration names for reading, without ever blocking: the open is
/// non-blocking (a FIFO or a device answers at once instead of waiting for a writer) and anything
/// but a regular file is refused.
pub fn open_regular_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path)?;
    let kind = file.metadata()?.file_type();
    if kind.is_file() {
        Ok(file)
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("not a regular file ({})", describe_kind(kind)),
        ))
    }
}

fn describe_kind(kind: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_char_device() || kind.is_block_device() {
        "a device"
    } else {
        "not a file"
    }
}

/// Reads a whole file the configuration names, through [`open_regular_file`].
pub fn read_named_file(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    open_regular_file(path)?.read_to_string(&mut text)?;
    Ok(text)
}

/// Reads and validates the configuration at `path`.
pub fn load(path: &Path, options: &LoadOptions) -> Result<Config, ConfigError> {
    use std::io::Read;
    let read_error = |source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = open_regular_file(path).map_err(read_error)?;
    let mut text = String::new();
    // One byte more than the limit tells "exactly at the limit" from "over it".
    file.take(CONFIG_BYTES_MAX + 1)
        .read_to_string(&mut text)
        .map_err(read_error)?;
    if text.len() as u64 > CONFIG_BYTES_MAX {
        return Err(ConfigError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    parse(&text, path, options)
}
