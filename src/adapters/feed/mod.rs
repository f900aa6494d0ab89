//! The crossing-record outbox (sled), the JetStream relay to central, and the movement index.
