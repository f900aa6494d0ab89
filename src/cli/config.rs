//! `checkpointctl check-config PATH`: validates a terminal configuration and lists every problem.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::config::{self, ConfigError, LoadOptions};
use crate::exit::Exit;

/// Arguments of `checkpointctl check-config`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The configuration file to check.
    pub path: PathBuf,
    /// Directory of device profiles (default: `devices_dir` from the file, else `devices/`
    /// next to the file's directory).
    #[arg(long, value_name = "DIR")]
    pub devices_dir: Option<PathBuf>,
}

/// Runs the subcommand.
pub fn run(args: Args) -> ExitCode {
    let options = LoadOptions {
        devices_dir: args.devices_dir,
    };
    check(&args.path, &options).into()
}

/// Validates `path` and parses every file start-up parses (device profiles, scanner programming,
/// stay rules, credentials): a summary on stdout and [`Exit::Success`], or every problem on
/// stderr as `file:line:column: message` (or `file: message`) and [`Exit::Config`]. Shared by
/// `checkpointd --check-config`, so a file that passes starts.
pub fn check(path: &Path, options: &LoadOptions) -> Exit {
    match config::load(path, options) {
        Ok(config) => {
            if let Err(error) = crate::terminal::check_files(&config) {
                eprintln!("{error}");
                eprintln!(
                    "{}: invalid: a file it names does not parse",
                    path.display()
                );
                return Exit::Config;
            }
            println!(
                "{}: valid (checkpoint {}, lane {}, {} device(s))",
                path.display(),
                config.checkpoint.id,
                config.checkpoint.lane,
                config.devices.len()
            );
            println!(
                "watchlist threshold: {}",
                config.lane.watchlist_threshold.value()
            );
            Exit::Success
        }
        Err(ConfigError::Invalid(problems)) => {
            eprintln!("{problems}");
            eprintln!(
                "{}: invalid: {} problem(s)",
                path.display(),
                problems.problems.len()
            );
            Exit::Config
        }
        Err(error) => {
            eprintln!("{error}");
            Exit::Config
        }
    }
}
