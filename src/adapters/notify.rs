//! systemd notify protocol: READY, STATUS, RELOADING, WATCHDOG and STOPPING.
//!
//! Architecture Invariant: notification failures are logged, never fatal; without
//! `NOTIFY_SOCKET` (not under systemd) every call is a no-op.

use std::time::Duration;

use sd_notify::NotifyState;

/// Sends state changes to the service manager.
#[derive(Debug, Clone)]
pub struct Notifier {
    watchdog_timeout: Option<Duration>,
}

impl Notifier {
    /// Reads `WATCHDOG_USEC`/`WATCHDOG_PID` from the environment.
    pub fn from_env() -> Self {
        Self {
            // WATCHDOG_USEC=0 would make a zero period, which no timer can tick at.
            watchdog_timeout: sd_notify::watchdog_enabled().filter(|timeout| !timeout.is_zero()),
        }
    }

    /// How often the main loop must ping: half the service manager's watchdog timeout, as
    /// sd_watchdog_enabled(3) recommends; `None` when no watchdog is armed.
    pub fn watchdog_period(&self) -> Option<Duration> {
        self.watchdog_timeout.map(|timeout| timeout / 2)
    }

    /// Start-up (or a reload) is finished.
    pub fn ready(&self, status: &str) {
        send(&[NotifyState::Ready, NotifyState::Status(&one_line(status))]);
    }

    /// A free-form status line, shown by `systemctl status`.
    pub fn status(&self, status: &str) {
        send(&[NotifyState::Status(&one_line(status))]);
    }

    /// A reload has begun; [`Notifier::ready`] ends it.
    pub fn reloading(&self) {
        match NotifyState::monotonic_usec_now() {
            Ok(now) => send(&[NotifyState::Reloading, now]),
            // systemd 253+ refuses RELOADING=1 without MONOTONIC_USEC; better to say nothing.
            Err(error) => tracing::warn!(message = "cannot read the monotonic clock", %error),
        }
    }

    /// The main loop is alive.
    pub fn watchdog(&self) {
        send(&[NotifyState::Watchdog]);
    }

    /// A graceful stop has begun.
    pub fn stopping(&self, status: &str) {
        send(&[
            NotifyState::Stopping,
            NotifyState::Status(&one_line(status)),
        ]);
    }
}

/// The protocol is newline-separated: a status with a newline would forge another assignment.
fn one_line(status: &str) -> String {
    status.replace(['\n', '\r'], " ")
}

fn send(states: &[NotifyState<'_>]) {
    if let Err(error) = sd_notify::notify(states) {
        tracing::warn!(message = "cannot notify the service manager", %error);
    }
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn status_cannot_inject_assignments() {
        assert_eq!(one_line("ok\nREADY=1"), "ok READY=1");
    }
}
