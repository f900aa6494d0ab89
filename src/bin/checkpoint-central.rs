//! `checkpoint-central`: the national movement record (JetStream → PostgreSQL) and its reports.

use std::path::PathBuf;
use std::process::ExitCode;

use checkpointd::central::{self, config};
use checkpointd::config::ConfigError;
use checkpointd::exit::Exit;
use checkpointd::logging::LogFormat;
use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "checkpoint-central",
    version,
    about = "Central operations: the national movement record and its reports"
)]
struct Cli {
    /// The configuration file.
    #[arg(long, value_name = "PATH", default_value = config::CENTRAL_CONFIG_PATH_DEFAULT)]
    config: PathBuf,
    /// Validate this configuration file, list every problem, and exit (0 valid, 78 invalid).
    #[arg(long, value_name = "PATH")]
    check_config: Option<PathBuf>,
    /// Log output: journald under systemd and text on a terminal by default.
    #[arg(long, value_enum, default_value_t = LogFormat::Auto)]
    log_format: LogFormat,
}

fn load(path: &std::path::Path) -> Result<config::CentralConfig, Exit> {
    config::load(path).map_err(|error| {
        match &error {
            ConfigError::Invalid(problems) => {
                eprintln!("{problems}");
                eprintln!(
                    "{}: invalid: {} problem(s)",
                    path.display(),
                    problems.problems.len()
                );
            }
            other => eprintln!("{other}"),
        }
        Exit::Config
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(path) = cli.check_config {
        return match load(&path) {
            Ok(config) => {
                println!(
                    "{}: valid (consumer {} on {}, reports on {})",
                    path.display(),
                    config.nats.durable,
                    config.nats.stream,
                    config.http.listen
                );
                Exit::Success.into()
            }
            Err(exit) => exit.into(),
        };
    }
    if let Err(error) = checkpointd::logging::init(cli.log_format) {
        eprintln!("checkpoint-central: logging: {error}");
        return Exit::Failure.into();
    }
    match load(&cli.config) {
        Ok(config) => central::run(config).into(),
        Err(exit) => exit.into(),
    }
}
