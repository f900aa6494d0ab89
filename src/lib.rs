//! checkpointd: the software of a border-checkpoint terminal.
//!
//! # Layout
//!
//! Data flows one way: device → frame → document → verification → decision → record → feed.
//!
//! - [`core`]: the pure core. Document parsing (MRZ, permit payloads, chip files), signature and
//!   trust checks (permits, passive authentication), chip access protocols, person-alert matching,
//!   stay rules, health rules, decisions and the crossing-event model. No I/O, no clock, no async
//!   runtime: time is always passed in.
//! - [`ports`]: traits named by role (clock, scanner, chip card, gate, ledger store, upstream,
//!   telemetry) that the runtime depends on, so adapters can be swapped (real hardware, sled,
//!   NATS, or simulation).
//! - [`adapters`]: the thin edge that talks to the world: serial and USB scanners, image spool,
//!   PC/SC chip readers (and a software chip), the chip face made showable (JPEG 2000 to PNG),
//!   sled, NATS JetStream (one set of connect options), health and metrics, the system clock,
//!   systemd.
//! - [`central`]: `checkpoint-central`, central's ingestion of the crossing feed into PostgreSQL
//!   and its reports.
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
