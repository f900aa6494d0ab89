//! `checkpointd`: the checkpoint terminal daemon.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use checkpointd::config::{self, CONFIG_PATH_DEFAULT, LoadOptions};
use checkpointd::daemon;
use checkpointd::exit::Exit;
use checkpointd::logging::LogFormat;
use clap::{Parser, Subcommand};

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
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show what the terminal does, on embedded defaults, without hardware or network.
    Demo,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let load_options = LoadOptions {
        devices_dir: cli.devices_dir,
    };
    if let Some(path) = cli.check_config {
        return checkpointd::cli::config::check(&path, &load_options).into();
    }
    match cli.command {
        Some(Command::Demo) => demo().into(),
        None => daemon::run(daemon::Options {
            config_path: cli.config,
            load_options,
            log_format: cli.log_format,
        })
        .into(),
    }
}

/// The shipped configuration, embedded so the demo runs from any directory of a checkout.
const SHIPPED_CONFIG: &str = include_str!("../../firmware-config/checkpoint.toml");

fn demo() -> Exit {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("firmware-config/checkpoint.toml");
    match config::parse(SHIPPED_CONFIG, &path, &LoadOptions::default()) {
        Ok(config) => {
            let checkpoint = &config.checkpoint;
            println!("checkpointd demo: the shipped configuration is valid.");
            println!(
                "  checkpoint {} ({:?}, {:?} mode), lane {}: {}",
                checkpoint.id, checkpoint.kind, checkpoint.mode, checkpoint.lane, checkpoint.name
            );
            println!(
                "  time zone {}",
                checkpoint.time_zone.iana_name().unwrap_or("(unnamed)")
            );
            for device in &config.devices {
                println!(
                    "  device {}: profile {}, {:?}",
                    device.name,
                    device.profile_path.display(),
                    device.connection
                );
            }
            println!("The scan → verdict → record walkthrough is not yet available in this build.");
            Exit::Success
        }
        Err(error) => {
            eprintln!("checkpointd demo: the shipped configuration is invalid:\n{error}");
            Exit::Config
        }
    }
}
