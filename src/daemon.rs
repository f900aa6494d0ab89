//! Process lifecycle around the runtime: start-up, signals (TERM, INT, HUP), reload, shutdown.
