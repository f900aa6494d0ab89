//! checkpointd: the software of a border-checkpoint terminal.
//!
//! # Layout
//!
//! Data flows one way: device → frame → document → verification → decision → record → feed.
//!
//! - [`core`]: the pure core. Document parsing (MRZ, permit payloads), signature and trust checks,
//!   stay rules, decisions and the crossing-event model. No I/O, no clock, no async runtime:
//!   time is always passed in.
//! - [`ports`]: traits named by role (clock, scanner, ledger store, upstream) that the runtime
//!   depends on, so adapters can be swapped (real hardware, sled, NATS, or simulation).
//! - [`adapters`]: the thin edge that talks to the world: serial and USB scanners, image spool,
//!   sled, NATS JetStream (one set of connect options), the system clock, systemd.
//! - [`config`]: the terminal configuration, read from TOML and validated into types.
//! - [`terminal`]: assembles a terminal from a `Config` (stores, devices, API, upstream, lane)
//!   and applies a reloaded one; `--check-config` parses the configuration's files through it.
//! - [`runtime`]: the one event loop that drives the terminal's lane.
//! - [`daemon`]: process lifecycle (signals, reload, systemd notify) around the runtime.
//! - [`logging`]: tracing setup (journald, text, JSON).
//! - [`lane`]: one lane's assessment of a traveller and its driver (scans, confirmations, status).
//! - [`demo`]: `checkpointd demo`, the terminal on embedded defaults.
//! - [`cli`]: the `checkpointctl` subcommands; the binaries in `src/bin` only parse arguments.
//! - [`exit`]: documented process exit codes.

pub mod adapters;
pub mod central;
pub mod cli;
pub mod config;
pub mod core;
pub mod daemon;
pub mod demo;
pub mod exit;
pub mod lane;
pub mod logging;
pub mod ports;
pub mod runtime;
pub mod terminal;
