//! `checkpointctl`: operator, technician and central-operations tools.

use std::process::ExitCode;

use checkpointd::cli;
use clap::{CommandFactory, Parser, Subcommand};

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
    /// eMRTD chips: master lists and passive authentication.
    Chip(cli::chip::Args),
    /// Person alerts: screen travellers against a list by name, birth date and nationality.
    Watchlist(cli::watchlist::Args),
    /// Set this terminal up: its key, API token and console group; print what to publish.
    Terminal(cli::terminal::Args),
    /// Print the shell completion script for checkpointctl.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: cli::docs::Shell,
    },
    /// Write the man pages of checkpointctl (one per subcommand) into a directory.
    Man {
        /// The directory to write `checkpointctl.1` and `checkpointctl-*.1` into.
        #[arg(long, value_name = "DIR")]
        out: std::path::PathBuf,
    },
    /// Central operations' reports from the running checkpoint-central.
    Central(cli::central::Args),
    /// Officer accounts: print the ledger lines that enrol or revoke an officer.
    Officer(cli::officer::Args),
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
        Command::Chip(args) => cli::chip::run(args),
        Command::Watchlist(args) => cli::watchlist::run(args),
        Command::Terminal(args) => cli::terminal::run(args),
        Command::Officer(args) => cli::officer::run(args),
        Command::Completions { shell } => {
            cli::docs::write_completions(shell, Cli::command(), &mut std::io::stdout());
            ExitCode::SUCCESS
        }
        Command::Man { out } => match cli::docs::write_man_pages(Cli::command(), &out) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("checkpointctl man: {}: {error}", out.display());
                ExitCode::FAILURE
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_argument_has_help_text() {
        Cli::command().debug_assert();
        let missing = cli::docs::undocumented_arguments(&Cli::command());
        assert!(missing.is_empty(), "arguments without help: {missing:?}");
    }
}
