//! Adapters: the thin edge that talks to the world, one module per technology.
//!
//! Architecture invariant: adapters move bytes and call the core; they make no decisions.
//! Only `ledger` and `feed` name sled, only `feed`, `ledger::replication` and `nats` (the
//! connect options) speak NATS,
//! only `devices` opens serial ports and USB devices, only `system_clock` reads the clock.

pub mod api;
pub mod booth;
pub mod catalogue;
pub mod chip_sim;
pub mod devices;
pub mod face_image;
pub mod feed;
pub mod gate;
pub mod health;
pub mod ledger;
pub mod listener;
pub mod metrics;
pub mod nats;
pub mod notify;
pub mod pcsc_reader;
pub mod qr_image;
pub mod system_clock;

/// How long [`open_sled`] waits for a database's lock.
const SLED_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Opens a sled database, waiting briefly for its file lock: sled 0.34's background writer threads
/// can hold a just-dropped database's lock for a few milliseconds, so a process reopening it at
/// once (a restart of the store in the same process) would otherwise fail with `WouldBlock`.
/// Another process holding the lock still fails the open, after the wait.
pub(crate) fn open_sled(config: &sled::Config) -> sled::Result<sled::Db> {
    let step = std::time::Duration::from_millis(10);
    let mut waited = std::time::Duration::ZERO;
    loop {
        match config.open() {
            // sled reports the lock's WouldBlock as an `Other` error carrying this text.
            Err(sled::Error::Io(e))
                if e.to_string().starts_with("could not acquire lock")
                    && waited < SLED_LOCK_WAIT =>
            {
                std::thread::sleep(step);
                waited += step;
            }
            opened => return opened,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_released_moments_later_opens() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = sled::Config::new().path(dir.path());
        let held = open_sled(&config).expect("first open");
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(100));
            drop(held);
        });
        let again = open_sled(&config).expect("opens once the other handle is gone");
        releaser.join().expect("releaser");
        drop(again);
    }
}
