//! The `checkpointctl` subcommands, one module per area. Each exposes `Args` (clap) and
//! `run(Args) -> ExitCode`; the binary only dispatches.

pub mod central;
pub mod chip;
pub mod config;
pub mod devices;
pub mod docs;
pub mod feed;
pub mod ledger;
pub mod ledger_central;
pub mod link;
pub mod mrz;
pub mod officer;
pub mod permit;
pub mod progress;
pub mod qr;
pub mod stay;
pub mod terminal;
pub mod watchlist;
