//! The terminal configuration: TOML read into raw serde types, validated into a typed [`Config`].
//! Every problem (syntax, unknown key, wrong type, missing profile, bad time zone, unreadable file)
//! is collected and reported at once with `file:line:column`; startup and reload share this path.

mod raw;
mod validate;

use std::fmt;
use std::num::{NonZeroU64, NonZeroUsize};
use std::path::{Path, PathBuf};
use std::time::Duration;

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
    /// Trust anchors.
    pub keys: Keys,
    /// The stay-rules file.
    pub rules_file: PathBuf,
    /// Bounds on buffers, queues and shutdown.
    pub limits: Limits,
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
}

/// Options of the local sled ledger replica; sled's defaults are never relied on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ledger {
    /// Page cache size in bytes.
    pub cache_capacity_bytes: NonZeroU64,
    /// Background flush interval.
    pub flush_every: Duration,
}

/// The central NATS JetStream connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// `nats://` or `tls://` URL.
    pub nats_url: String,
    /// NATS credentials file, if central requires one.
    pub credentials_file: Option<PathBuf>,
    /// Stream crossing events are published to.
    pub events_stream: String,
    /// Stream the permit ledger is replicated from.
    pub ledger_stream: String,
}

/// Key files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    /// Ed25519 public keys (PEM) of permit-card issuers; at least one.
    pub permit_issuers: Vec<PathBuf>,
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

/// Reads and validates the configuration at `path`.
pub fn load(path: &Path, options: &LoadOptions) -> Result<Config, ConfigError> {
    use std::io::Read;
    let read_error = |source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
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
