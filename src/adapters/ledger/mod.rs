//! The sled-backed permit ledger replica and its replication from central over JetStream.
