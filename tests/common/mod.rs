//! Shared support for integration tests: real external processes the tests start themselves.
#![allow(dead_code)]

pub mod central;
pub mod feed_helper;
pub mod ledger;
pub mod nats;
pub mod postgres;
pub mod terminal;
pub mod tls;
