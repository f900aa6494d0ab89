//! Tracing setup: journald under systemd, readable text on a terminal, JSON on request.
//!
//! Architecture Invariant: nothing here sees personal data in clear. Document numbers and names
//! reach logs only as `core::privacy` newtypes, whose `Display` and `Debug` mask them.

use std::os::fd::AsFd;

use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;

/// Environment variable holding a tracing filter (`info`, `checkpointd=debug`, …).
pub const LOG_FILTER_ENV: &str = "CHECKPOINTD_LOG";
/// Filter used when [`LOG_FILTER_ENV`] is unset or invalid.
pub const LOG_FILTER_DEFAULT: &str = "info";

/// Where and how log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// journald when stderr is connected to the journal (`JOURNAL_STREAM`), text otherwise.
    #[default]
    Auto,
    /// Human-readable lines on stderr.
    Text,
    /// One JSON object per line on stderr.
    Json,
    /// Structured records sent to journald's socket.
    Journald,
}

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    /// journald was asked for and its socket cannot be reached.
    #[error("cannot connect to journald: {0}")]
    Journald(std::io::Error),
    /// A global subscriber was installed already.
    #[error("a global tracing subscriber is already installed")]
    AlreadyInstalled,
}

/// Installs the global subscriber and returns the format actually used.
pub fn init(format: LogFormat) -> Result<LogFormat, LoggingError> {
    let (format, subscriber) = match format {
        LogFormat::Journald => (LogFormat::Journald, journald()?),
        // stderr goes to the journal anyway: text there beats not starting at all.
        LogFormat::Auto if stderr_is_journal() => match journald() {
            Ok(subscriber) => (LogFormat::Journald, subscriber),
            Err(_) => (
                LogFormat::Text,
                subscriber(LogFormat::Text, std::io::stderr),
            ),
        },
        LogFormat::Auto => (
            LogFormat::Text,
            subscriber(LogFormat::Text, std::io::stderr),
        ),
        LogFormat::Text | LogFormat::Json => (format, subscriber(format, std::io::stderr)),
    };
    tracing::subscriber::set_global_default(subscriber)
        .map_err(|_| LoggingError::AlreadyInstalled)?;
    Ok(format)
}

fn journald() -> Result<Box<dyn Subscriber + Send + Sync>, LoggingError> {
    let journald = tracing_journald::layer().map_err(LoggingError::Journald)?;
    Ok(Box::new(
        tracing_subscriber::registry().with(filter()).with(journald),
    ))
}

/// A text or JSON subscriber writing to `writer`; the daemon passes stderr, tests a buffer.
/// `Auto` and `Journald` are treated as text.
pub fn subscriber<W>(format: LogFormat, writer: W) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(writer);
    match format {
        LogFormat::Json => Box::new(builder.json().flatten_event(true).finish()),
        LogFormat::Auto | LogFormat::Text | LogFormat::Journald => Box::new(
            builder
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .finish(),
        ),
    }
}

fn filter() -> EnvFilter {
    EnvFilter::try_from_env(LOG_FILTER_ENV).unwrap_or_else(|_| EnvFilter::new(LOG_FILTER_DEFAULT))
}

/// systemd sets `JOURNAL_STREAM=dev:inode` of the stream it connected; it is ours only if stderr
/// is still that stream (a child with redirected stderr inherits the variable).
fn stderr_is_journal() -> bool {
    let Some(value) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((device, inode)) = value.to_str().and_then(|text| text.split_once(':')) else {
        return false;
    };
    let (Ok(device), Ok(inode)) = (device.parse::<u64>(), inode.parse::<u64>()) else {
        return false;
    };
    match nix::sys::stat::fstat(std::io::stderr().as_fd()) {
        Ok(stat) => stat.st_dev == device && stat.st_ino == inode,
        Err(_) => false,
    }
}
