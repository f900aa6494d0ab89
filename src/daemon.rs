//! Process lifecycle around the runtime: start-up, signals (TERM, INT, HUP), reload, shutdown.
//!
//! Architecture Invariant: the daemon never starts half-configured. Start-up validates the whole
//! configuration first and exits with [`Exit::Config`] on any problem, before anything is opened.

use std::path::PathBuf;
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use std::sync::Arc;

use crate::adapters::notify::Notifier;
use crate::adapters::system_clock::SystemClock;
use crate::config::{self, ConfigError, LoadOptions};
use crate::exit::Exit;
use crate::logging::{self, LogFormat};
use crate::ports::clock::Clock;
use crate::runtime::{INPUTS_MAX, Input, Runtime, Stopped};
use crate::terminal::{self, Terminal};

/// Worker threads of the tokio runtime: the loop, device readers and upstream are I/O bound.
const WORKER_THREADS: usize = 2;

/// What the daemon is started with.
#[derive(Debug, Clone)]
pub struct Options {
    /// The configuration file.
    pub config_path: PathBuf,
    /// Options not in the file (devices directory override).
    pub load_options: LoadOptions,
    /// Log output.
    pub log_format: LogFormat,
}

/// Why the daemon stopped other than by request.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// Logging could not be set up.
    #[error(transparent)]
    Logging(#[from] logging::LoggingError),
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The tokio runtime or a signal handler could not be created.
    #[error("cannot start: {0}")]
    Start(std::io::Error),
    /// The runtime task panicked or ended without being asked to.
    #[error("the runtime ended unexpectedly: {0}")]
    RuntimeEnded(String),
    /// The stores, devices or API could not be opened.
    #[error("cannot open the terminal: {0}")]
    Terminal(#[from] terminal::TerminalError),
    /// The graceful stop took longer than its bound.
    #[error("graceful stop did not finish within {0:?}")]
    StopOverran(Duration),
}

impl DaemonError {
    /// The documented exit code for this failure.
    pub fn exit(&self) -> Exit {
        match self {
            DaemonError::Config(_) => Exit::Config,
            DaemonError::Terminal(error) if error.is_configuration() => Exit::Config,
            DaemonError::Logging(_)
            | DaemonError::Start(_)
            | DaemonError::RuntimeEnded(_)
            | DaemonError::Terminal(_)
            | DaemonError::StopOverran(_) => Exit::Failure,
        }
    }
}

/// Runs the daemon until SIGTERM/SIGINT and returns how the process should exit.
pub fn run(options: Options) -> Exit {
    if let Err(error) = logging::init(options.log_format) {
        eprintln!("checkpointd: {error}");
        return Exit::Failure;
    }
    match start(options) {
        Ok(()) => {
            tracing::info!(message = "stopped");
            Exit::Success
        }
        Err(error) => {
            for line in error.to_string().lines() {
                tracing::error!(message = "checkpointd failed", error = %line);
            }
            error.exit()
        }
    }
}

fn start(options: Options) -> Result<(), DaemonError> {
    let notifier = Notifier::from_env();
    let config = config::load(&options.config_path, &options.load_options).inspect_err(|_| {
        notifier.status("configuration invalid: see the log; not starting");
    })?;
    let tokio_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .enable_all()
        .build()
        .map_err(DaemonError::Start)?;
    tokio_runtime.block_on(async move {
        let (inputs, receiver) = mpsc::channel(INPUTS_MAX);
        let clock: Arc<dyn Clock> = Arc::new(SystemClock::default());
        let terminal = Terminal::open(&config, clock)
            .await
            .inspect_err(|_| notifier.status("cannot open the terminal's stores or devices"))?;
        let runtime = Runtime::new(config, options.load_options, notifier, terminal);
        serve(runtime, inputs, receiver).await
    })
}

/// Turns signals into runtime inputs, then bounds the graceful stop.
async fn serve(
    runtime: Runtime,
    inputs: mpsc::Sender<Input>,
    receiver: mpsc::Receiver<Input>,
) -> Result<(), DaemonError> {
    let mut terminate = signal(SignalKind::terminate()).map_err(DaemonError::Start)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(DaemonError::Start)?;
    let mut hangup = signal(SignalKind::hangup()).map_err(DaemonError::Start)?;
    let shutdown_grace = runtime.config().limits.shutdown_grace;
    let mut task = tokio::spawn(runtime.run(receiver));
    loop {
        let input = tokio::select! {
            _ = terminate.recv() => Input::Shutdown,
            _ = interrupt.recv() => Input::Shutdown,
            _ = hangup.recv() => Input::Reload,
            ended = &mut task => {
                return Err(DaemonError::RuntimeEnded(match ended {
                    Ok(stopped) => format!("{stopped:?}"),
                    Err(error) => error.to_string(),
                }));
            }
        };
        tracing::info!(message = "signal received", input = ?input);
        let stop = matches!(input, Input::Shutdown);
        if inputs.send(input).await.is_err() {
            // The loop has ended; awaiting the task below reports why.
            break;
        }
        if stop {
            break;
        }
    }
    match tokio::time::timeout(shutdown_grace, task).await {
        Ok(Ok(Stopped::Requested)) => Ok(()),
        Ok(Ok(other)) => Err(DaemonError::RuntimeEnded(format!("{other:?}"))),
        Ok(Err(error)) => Err(DaemonError::RuntimeEnded(error.to_string())),
        Err(_) => Err(DaemonError::StopOverran(shutdown_grace)),
    }
}
