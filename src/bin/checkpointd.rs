//! `checkpointd`: the checkpoint terminal daemon.

use std::path::PathBuf;
use std::process::ExitCode;

use checkpointd::config::{CONFIG_PATH_DEFAULT, LoadOptions};
use checkpointd::daemon;
use checkpointd::demo::DemoOptions;
use checkpointd::logging::LogFormat;
use clap::{CommandFactory, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "checkpointd",
    version,
    about = "Border checkpoint terminal daemon"
)]
struct Cli {
    /// The configuration file.
    #[arg(long, value_name = "PATH", default_value = CONFIG_PATH_DEFAULT)]
    config: PathBuf,
    /// Validate this configuration file, list every problem, and exit (0 valid, 78 invalid).
    #[arg(long, value_name = "PATH")]
    check_config: Option<PathBuf>,
    /// Directory of device profiles (default: `devices_dir` from the file, else `devices/`
    /// next to the configuration file's directory).
    #[arg(long, value_name = "DIR")]
    devices_dir: Option<PathBuf>,
    /// Log output: journald under systemd and text on a terminal by default.
    #[arg(long, value_enum, default_value_t = LogFormat::Auto)]
    log_format: LogFormat,
    /// Print the shell completion script for checkpointd and exit (packaging).
    #[arg(long, value_enum, value_name = "SHELL", hide = true)]
    completions: Option<checkpointd::cli::docs::Shell>,
    /// Write the man page checkpointd.1 (and one per subcommand) into DIR and exit (packaging).
    #[arg(long, value_name = "DIR", hide = true)]
    man: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole terminal on embedded defaults in a temporary directory: keys, a signed
    /// ledger, scanners on pseudo-terminals, a dozen travellers, the console on loopback.
    Demo {
        /// Stream the recorded crossings to this NATS server (JetStream stream EVENTS).
        #[arg(long, value_name = "URL")]
        nats: Option<String>,
        /// Keep the console page up this many seconds after the last traveller.
        #[arg(long, value_name = "SECONDS", default_value_t = 0)]
        linger: u64,
        /// Loopback address of the console page.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
        http: String,
    },
    /// Internal: decode one spooled image in a worker process the daemon can kill at the budget.
    #[command(name = "decode-image-worker", hide = true)]
    DecodeImageWorker {
        /// The image file.
        path: PathBuf,
        /// The per-image budget, after which the worker stops trying (the daemon kills it then).
        #[arg(long, value_name = "MS")]
        time_budget_ms: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let load_options = LoadOptions {
        devices_dir: cli.devices_dir,
    };
    if let Some(shell) = cli.completions {
        checkpointd::cli::docs::write_completions(shell, Cli::command(), &mut std::io::stdout());
        return ExitCode::SUCCESS;
    }
    if let Some(dir) = cli.man {
        return match checkpointd::cli::docs::write_man_pages(Cli::command(), &dir) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("checkpointd --man: {}: {error}", dir.display());
                ExitCode::FAILURE
            }
        };
    }
    if let Some(path) = cli.check_config {
        return checkpointd::cli::config::check(&path, &load_options).into();
    }
    match cli.command {
        Some(Command::Demo { nats, linger, http }) => checkpointd::demo::run(DemoOptions {
            nats_url: nats,
            linger: std::time::Duration::from_secs(linger),
            http: Some(http),
        })
        .into(),
        Some(Command::DecodeImageWorker {
            path,
            time_budget_ms,
        }) => decode_image_worker(&path, time_budget_ms),
        None => daemon::run(daemon::Options {
            config_path: cli.config,
            load_options,
            log_format: cli.log_format,
        })
        .into(),
    }
}

/// The decode worker: codes on stdout as hex lines, or the reason on stderr and exit status
/// `EXIT_NO_CODES`.
fn decode_image_worker(path: &std::path::Path, time_budget_ms: u64) -> ExitCode {
    use checkpointd::adapters::devices::decode_worker::{self, EXIT_NO_CODES};
    let limits = checkpointd::adapters::qr_image::DecodeLimits {
        time_budget: std::time::Duration::from_millis(time_budget_ms),
        ..Default::default()
    };
    match decode_worker::run_worker(path, &limits, &mut std::io::stdout().lock()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            eprintln!("{reason}");
            ExitCode::from(u8::try_from(EXIT_NO_CODES).unwrap_or(1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_argument_has_help_text() {
        Cli::command().debug_assert();
        let missing = checkpointd::cli::docs::undocumented_arguments(&Cli::command());
        assert!(missing.is_empty(), "arguments without help: {missing:?}");
    }
}
