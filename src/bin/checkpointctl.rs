//! `checkpointctl`: operator, technician and central-operations tools.

use std::process::ExitCode;

use checkpointd::cli;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "checkpointctl",
    version,
    about = "Operator and central tools for checkpointd"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate a terminal configuration file and list every problem.
    CheckConfig(cli::config::Args),
    /// Print the version and build information.
    Version,
    /// Parse and validate a machine-readable zone read from stdin.
    Mrz(cli::mrz::Args),
    /// Compute stay limits from a movement history.
    Stay(cli::stay::Args),
    /// Issue and verify signed permit cards (BP1).
    Permit(cli::permit::Args),
    /// Decode QR codes from images.
    Qr(cli::qr::Args),
    /// Central ledger tools and the terminal's ledger replica.
    Ledger(cli::ledger::Args),
    /// The entry/exit event feed: tail, export, verify.
    Feed(cli::feed::Args),
    /// Scanner devices: list, probe, listen.
    Devices(cli::devices::Args),
    /// Central operations' reports from the running checkpoint-central.
    Central(cli::central::Args),
}

fn main() -> ExitCode {
    let command_line = Cli::parse();
    match command_line.command {
        Command::CheckConfig(args) => cli::config::run(args),
        Command::Version => {
            match option_env!("CHECKPOINTD_GIT_COMMIT") {
                Some(commit) => println!("checkpointctl {} ({commit})", env!("CARGO_PKG_VERSION")),
                None => println!("checkpointctl {}", env!("CARGO_PKG_VERSION")),
            }
            ExitCode::SUCCESS
        }
        Command::Mrz(args) => cli::mrz::run(args),
        Command::Stay(args) => cli::stay::run(args),
        Command::Permit(args) => cli::permit::run(args),
        Command::Qr(args) => cli::qr::run(args),
        Command::Ledger(args) => cli::ledger::run(args),
        Command::Feed(args) => cli::feed::run(args),
        Command::Devices(args) => cli::devices::run(args),
        Command::Central(args) => cli::central::run(args),
    }
}
