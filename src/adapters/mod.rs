//! Adapters: the thin edge that talks to the world, one module per technology.
//!
//! Architecture invariant: adapters move bytes and call the core; they make no decisions.
//! Only `ledger` names sled, only `feed` and `ledger::replication` speak NATS,
//! only `devices` opens serial ports and USB devices, only `system_clock` reads the clock.

pub mod api;
pub mod devices;
pub mod feed;
pub mod gate;
pub mod ledger;
pub mod notify;
pub mod qr_image;
pub mod system_clock;
