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
/// Most verbose level any dependency may log at, whatever [`LOG_FILTER_ENV`] says: below it
/// async-nats, hyper and friends log payloads (crossing events carry document numbers).
pub const DEPENDENCY_LEVEL_MAX: tracing::Level = tracing::Level::INFO;
/// Characters of free text (a client's path, a file name, a decoder's message) a log line keeps.
pub const FREE_TEXT_CHARS_MAX: usize = 200;

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
        tracing_subscriber::registry()
            .with(filter())
            .with(dependency_cap())
            .with(journald),
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
        LogFormat::Json => Box::new(
            builder
                .json()
                .flatten_event(true)
                .finish()
                .with(dependency_cap()),
        ),
        LogFormat::Auto | LogFormat::Text | LogFormat::Journald => Box::new(
            builder
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .finish()
                .with(dependency_cap()),
        ),
    }
}

/// Lets this crate log at any level the filter allows, and every other crate at most at
/// [`DEPENDENCY_LEVEL_MAX`].
fn dependency_cap<S: Subscriber>() -> impl tracing_subscriber::Layer<S> {
    tracing_subscriber::filter::filter_fn(|metadata| {
        metadata.target().starts_with("checkpointd") || *metadata.level() <= DEPENDENCY_LEVEL_MAX
    })
}

/// Free text from outside (a request path, a file name, an error message quoting input) as a log
/// field: control characters, newlines and escape bytes escaped, at most
/// [`FREE_TEXT_CHARS_MAX`] characters, so it can neither forge a line nor fill the journal.
#[derive(Clone, Copy)]
pub struct Escaped<'a>(&'a str);

impl<'a> Escaped<'a> {
    /// Wraps `text` for logging.
    pub fn new(text: &'a str) -> Self {
        Self(text)
    }
}

impl std::fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut chars = self.0.chars();
        for c in chars.by_ref().take(FREE_TEXT_CHARS_MAX) {
            if c.is_control() || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}') {
                write!(f, "{}", c.escape_default())?;
            } else {
                write!(f, "{c}")?;
            }
        }
        let rest = chars.as_str().len();
        if rest > 0 {
            write!(f, "…({rest} more bytes)")?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for Escaped<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "\"{self}\"")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_text_is_escaped_and_bounded() {
        let forged = "x.png\n2026-01-01 INFO crossing recorded \u{1b}[31m\u{202e}";
        let shown = Escaped::new(forged).to_string();
        assert!(!shown.chars().any(char::is_control), "{shown}");
        assert!(shown.contains("\\n") && shown.contains("\\u{1b}") && shown.contains("\\u{202e}"));
        let long = "a".repeat(2_000_000);
        let shown = Escaped::new(&long).to_string();
        assert!(shown.len() < FREE_TEXT_CHARS_MAX + 40, "{}", shown.len());
        assert!(shown.ends_with(&format!(
            "…({} more bytes)",
            2_000_000 - FREE_TEXT_CHARS_MAX
        )));
    }
}
