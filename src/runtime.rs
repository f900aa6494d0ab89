//! The runtime: the one event loop that wires scanners, the ledger, the outbox and the API to the core.
