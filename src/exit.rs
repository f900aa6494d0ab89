//! Documented process exit codes, shared by both binaries and the systemd unit.
