//! The ledger-store port: the local replica of the permit ledger, as the runtime sees it.
