//! `checkpointctl devices`.

use std::process::ExitCode;

/// Arguments of `checkpointctl devices`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Arguments, not yet interpreted.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub rest: Vec<String>,
}

/// Runs the subcommand.
pub fn run(args: Args) -> ExitCode {
    eprintln!(
        "checkpointctl devices: not implemented yet ({:?})",
        args.rest
    );
    ExitCode::from(2)
}
