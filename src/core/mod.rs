//! The pure core: plain functions and types, no I/O.
//!
//! Architecture invariant: nothing under `core` imports tokio, sled, serialport, rusb, async-nats,
//! `std::fs`, `std::net` or reads a clock (`SystemTime::now`, `Instant::now`, `jiff::Timestamp::now`).
//! Every function that depends on time takes it as an argument.

pub mod chip;
pub mod decision;
pub mod document;
pub mod event;
pub mod frame;
pub mod health;
pub mod lds;
pub mod ledger;
pub mod mrz;
pub mod officer;
pub mod officer_view;
pub mod passive_auth;
pub mod permit;
pub mod privacy;
pub mod session;
pub mod stay;
pub mod watchlist;
