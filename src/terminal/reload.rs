//! Reload: applies a new configuration to the running terminal. Lane settings, stay rules and
//! limits change in place; devices, the API listeners and the upstream connection are restarted
//! when a setting they own changed; what the stores were opened with (identity, data directory,
//! caches, signing key, gate) waits for a restart and is reported as `restart required: <keys>`.

use std::sync::Arc;

use super::{
    Terminal, TerminalError, device_specs, lane_settings, session_window, start_api, start_devices,
    start_upstream, stay_policy, stop_devices,
};
use crate::config::Config;

/// What a reload did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reloaded {
    /// Keys applied in place.
    pub applied: Vec<&'static str>,
    /// Components restarted (`devices`, `api`, `upstream`).
    pub restarted: Vec<&'static str>,
    /// Changed keys that only a restart of the daemon applies.
    pub restart_required: Vec<&'static str>,
}

impl Reloaded {
    /// One line for the log and systemd's STATUS=.
    pub fn summary(&self) -> String {
        let list = |keys: &[&str]| {
            if keys.is_empty() {
                "none".to_string()
            } else {
                keys.join(", ")
            }
        };
        let mut text = format!(
            "applied: {}; restarted: {}",
            list(&self.applied),
            list(&self.restarted)
        );
        if !self.restart_required.is_empty() {
            text.push_str(&format!(
                "; restart required: {}",
                self.restart_required.join(", ")
            ));
        }
        text
    }
}

/// Keys whose values the stores or the process were started with, compared with `started`.
fn restart_required(started: &Config, new: &Config) -> Vec<&'static str> {
    let checks: [(&'static str, bool); 9] = [
        ("checkpoint.id", started.checkpoint.id != new.checkpoint.id),
        (
            "checkpoint.lane",
            started.checkpoint.lane != new.checkpoint.lane,
        ),
        (
            "checkpoint.time_zone",
            started.checkpoint.time_zone != new.checkpoint.time_zone,
        ),
        ("data_dir", started.data_dir != new.data_dir),
        ("ledger", started.ledger != new.ledger),
        (
            "retention.cache_capacity_bytes",
            started.retention.cache_capacity_bytes != new.retention.cache_capacity_bytes,
        ),
        (
            "keys.terminal_key",
            started.keys.terminal_key_path != new.keys.terminal_key_path
                || started.keys.terminal_key.verifying_key()
                    != new.keys.terminal_key.verifying_key(),
        ),
        ("gate", started.gate != new.gate),
        (
            // The daemon bounds its stop with the value it started with.
            "limits.shutdown_grace_ms",
            started.limits.shutdown_grace != new.limits.shutdown_grace,
        ),
    ];
    checks
        .into_iter()
        .filter_map(|(key, changed)| changed.then_some(key))
        .collect()
}

/// Keys the lane applies in place.
fn live_changes(old: &Config, new: &Config) -> Vec<&'static str> {
    let checks: [(&'static str, bool); 8] = [
        (
            "devices (pcsc chip reader)",
            old.chip_reader != new.chip_reader,
        ),
        (
            "checkpoint.direction",
            old.checkpoint.direction != new.checkpoint.direction,
        ),
        (
            "checkpoint.mode",
            old.checkpoint.mode != new.checkpoint.mode,
        ),
        (
            "checkpoint.name",
            old.checkpoint.name != new.checkpoint.name,
        ),
        (
            "checkpoint.kind",
            old.checkpoint.kind != new.checkpoint.kind,
        ),
        ("lane", old.lane != new.lane),
        ("rules_file", old.rules_file != new.rules_file),
        (
            "limits.outbox_events_max",
            old.limits.outbox_events_max != new.limits.outbox_events_max,
        ),
    ];
    checks
        .into_iter()
        .filter_map(|(key, changed)| changed.then_some(key))
        .collect()
}

fn devices_changed(old: &Config, new: &Config) -> bool {
    old.devices != new.devices
        || old.devices_dir != new.devices_dir
        || old.limits.scan_frame_bytes_max != new.limits.scan_frame_bytes_max
}

fn upstream_changed(old: &Config, new: &Config) -> bool {
    old.upstream != new.upstream
        || old.keys.ledger_roots != new.keys.ledger_roots
        || old.keys.ledger_root_threshold != new.keys.ledger_root_threshold
        || old.retention.movement_days != new.retention.movement_days
        || old.retention.prune_every != new.retention.prune_every
        || old.data_dir != new.data_dir
}

impl Terminal {
    /// Applies `new` as far as it can be applied while running. The files it names are parsed
    /// first: a profile or rules file that does not parse refuses the reload and changes nothing.
    /// A component that cannot restart on the new settings (an address in use) is started
    /// again on the running ones, and the reload is refused.
    pub async fn reload(&mut self, new: Config) -> Result<Reloaded, TerminalError> {
        let policy = stay_policy(&new)?;
        let specs = device_specs(&new)?;
        let mut reloaded = Reloaded {
            applied: live_changes(&self.current, &new),
            restarted: Vec::new(),
            restart_required: restart_required(&self.started, &new),
        };
        if self.current.api != new.api {
            self.restart_api(&new).await?;
            reloaded.restarted.push("api");
        }
        if devices_changed(&self.current, &new) {
            stop_devices(std::mem::take(&mut self.devices)).await;
            self.devices = start_devices(specs, &self.core)?;
            reloaded.restarted.push("devices");
        }
        if upstream_changed(&self.current, &new) {
            let old =
                std::mem::replace(&mut self.upstream, start_upstream(&new, &self.core).await?);
            old.stop().await;
            reloaded.restarted.push("upstream");
        }
        self.core
            .outbox
            .set_rows_max(new.limits.outbox_events_max.get());
        self.core
            .outbox
            .set_clock_backwards_tolerance(new.lane.clock_backwards_tolerance);
        self.lane.set_policy(Arc::new(policy));
        if self.current.chip_reader != new.chip_reader {
            self.lane
                .set_chip_lane(super::chip_lane(&new, self.core.chip_reader.as_ref()));
        }
        self.lane
            .reconfigure(lane_settings(&self.effective(&new)), session_window(&new));
        self.lane.set_restart_required(
            reloaded
                .restart_required
                .iter()
                .map(|key| key.to_string())
                .collect(),
        );
        self.current = new;
        Ok(reloaded)
    }

    /// `new` with the keys that wait for a restart kept at their running values, so the lane
    /// never shows an identity its records do not carry.
    fn effective(&self, new: &Config) -> Config {
        let mut effective = new.clone();
        effective.checkpoint.id = self.started.checkpoint.id.clone();
        effective.checkpoint.lane = self.started.checkpoint.lane.clone();
        effective.checkpoint.time_zone = self.started.checkpoint.time_zone.clone();
        effective
    }

    async fn restart_api(&mut self, new: &Config) -> Result<(), TerminalError> {
        // The old listeners go first: the new ones may bind the same socket or port.
        let old = std::mem::replace(&mut self.api, super::Component::new().0);
        old.stop().await;
        match start_api(new, &self.core).await {
            Ok((api, address)) => {
                self.api = api;
                self.http_address = address;
                Ok(())
            }
            Err(error) => {
                (self.api, self.http_address) = start_api(&self.current, &self.core).await?;
                Err(error)
            }
        }
    }
}
