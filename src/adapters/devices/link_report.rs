//! A device supervisor's reports of its link: up when opened, each outage once (again only when
//! its reason changes), the outage's start kept across its reasons.

use jiff::Timestamp;
use tokio::sync::mpsc;

use crate::ports::scanner::{DeviceEvent, DeviceState, Link};

/// The link state one supervisor last reported, and where it reports to.
pub(super) struct LinkReport {
    device: String,
    events: mpsc::Sender<DeviceEvent>,
    last_error: Option<String>,
    /// When the current outage began: a later report of it (another reason) keeps this time.
    down_since: Option<Timestamp>,
}

impl LinkReport {
    pub(super) fn new(device: String, events: mpsc::Sender<DeviceEvent>) -> LinkReport {
        LinkReport {
            device,
            events,
            last_error: None,
            down_since: None,
        }
    }

    /// The device opened at `since`. False when nobody listens any more.
    pub(super) fn up(&mut self, since: Timestamp) -> bool {
        self.down_since = None;
        self.send(Link::Up, since)
    }

    /// The link is up but something went wrong that a technician should see (`since` is when it
    /// came up). False when nobody listens any more.
    pub(super) fn up_with_error(&mut self, since: Timestamp, error: String) -> bool {
        self.last_error = Some(error);
        self.send(Link::Up, since)
    }

    /// The device could not be opened or failed; `now` is read only when this is a new outage.
    /// False when nobody listens any more.
    pub(super) fn down(&mut self, error: String, now: impl FnOnce() -> Timestamp) -> bool {
        if self.down_since.is_some() && self.last_error.as_deref() == Some(&error) {
            return true;
        }
        tracing::warn!(device = %self.device, error = %error, "device down");
        self.last_error = Some(error);
        let since = *self.down_since.get_or_insert_with(now);
        self.send(Link::Down, since)
    }

    fn send(&self, link: Link, since: Timestamp) -> bool {
        let state = DeviceState {
            device: self.device.clone(),
            link,
            since,
            last_error: self.last_error.clone(),
        };
        self.events.blocking_send(DeviceEvent::State(state)).is_ok()
    }
}
