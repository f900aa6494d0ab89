//! The permit ledger model: entries, hash chain, signed checkpoints, and the state they build.
