//! systemd notify protocol: READY, STATUS, WATCHDOG and STOPPING.
