//! The `checkpointctl` subcommands, one module per area. Each exposes `Args` (clap) and
//! `run(Args) -> ExitCode`; the binary only dispatches.

pub mod central;
pub mod config;
pub mod devices;
pub mod feed;
pub mod ledger;
pub mod mrz;
pub mod permit;
pub mod qr;
pub mod stay;
