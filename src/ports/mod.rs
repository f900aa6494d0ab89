//! Ports: the traits the runtime depends on, named by role.
//!
//! Adapters implement them for real hardware and services; the simulation implements them
//! deterministically from a seed. Architecture invariant: a port names no technology
//! (no sled, NATS, serial or USB types in its signatures).

pub mod chip;
pub mod clock;
pub mod gate;
pub mod ledger;
pub mod scanner;
pub mod telemetry;
pub mod upstream;
