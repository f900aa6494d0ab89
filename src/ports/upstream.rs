//! The upstream port: publishing crossing events to, and reading movements from, central.
