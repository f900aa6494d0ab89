//! `checkpointd`: the checkpoint terminal daemon.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!("checkpointd: the daemon is being built; see the foundation issue");
    ExitCode::from(2)
}
