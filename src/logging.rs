//! Tracing setup: journald under systemd, readable text on a terminal, JSON on request.
