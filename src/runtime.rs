//! The runtime: the one event loop that drives the assembled terminal. It acts on the process's
//! [`Input`]s (reload, shutdown) and on what the terminal's devices and API deliver
//! ([`Arrival`]); it also pings the systemd watchdog, so a wedged loop stops pinging and gets
//! the service restarted.
//!
//! Architecture Invariant: the loop never blocks on a device or the network; adapters run in
//! their own tasks and send inputs. Only the loop touches the running [`Config`].

use std::future::pending;

use tokio::sync::mpsc;
use tokio::time::{Interval, MissedTickBehavior};

use crate::adapters::notify::Notifier;
use crate::config::{self, Config, LoadOptions};
use crate::terminal::{Arrival, Terminal};

/// Inputs queued for the loop at most; senders wait when it is full.
pub const INPUTS_MAX: usize = 64;

/// What the process asks of the runtime (besides the terminal's own [`Arrival`]s). Closed on
/// purpose: with `Arrival`, reading it tells what the terminal reacts to.
#[derive(Debug)]
pub enum Input {
    /// SIGHUP: re-read the configuration file through the same validation as start-up and
    /// apply it.
    Reload,
    /// SIGTERM or SIGINT: stop gracefully.
    Shutdown,
}

/// How the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// [`Input::Shutdown`] was received.
    Requested,
    /// Every input sender was dropped, so nothing could ever stop the loop again.
    InputsClosed,
}

/// The running terminal: its configuration and the adapters wired to it.
#[derive(Debug)]
pub struct Runtime {
    config: Config,
    load_options: LoadOptions,
    notifier: Notifier,
    terminal: Terminal,
    /// Changed keys waiting for a restart (empty when none), repeated in STATUS=.
    restart_required: Vec<&'static str>,
}

/// How often the lane refreshes its status and probes a faulted gate.
pub const LANE_TICK: std::time::Duration = std::time::Duration::from_secs(1);

impl Runtime {
    /// A runtime driving `terminal`, which was assembled from `config`.
    pub fn new(
        config: Config,
        load_options: LoadOptions,
        notifier: Notifier,
        terminal: Terminal,
    ) -> Self {
        Self {
            config,
            load_options,
            notifier,
            terminal,
            restart_required: Vec::new(),
        }
    }

    /// The running configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Runs until [`Input::Shutdown`] (or until every sender is gone), then says STOPPING.
    pub async fn run(mut self, mut inputs: mpsc::Receiver<Input>) -> Stopped {
        let mut watchdog = self.notifier.watchdog_period().map(|period| {
            let mut interval = tokio::time::interval(period);
            // After a stall, ping once and carry on: a burst of pings would hide the stall.
            interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
            interval
        });
        tracing::info!(
            message = "running",
            checkpoint = %self.config.checkpoint.id,
            lane = %self.config.checkpoint.lane,
            devices = self.config.devices.len(),
            watchdog_period_ms = self.notifier.watchdog_period().map(|period| period.as_millis()),
        );
        self.notifier.ready(&self.running_status());
        let mut lane_tick = tokio::time::interval(LANE_TICK);
        lane_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let stopped = loop {
            tokio::select! {
                () = tick(&mut watchdog) => self.notifier.watchdog(),
                _ = lane_tick.tick() => self.terminal.lane.tick().await,
                arrival = self.terminal.next_arrival() => match arrival {
                    Some(Arrival::Device(event)) => {
                        self.terminal.lane.on_device(event).await;
                    }
                    Some(Arrival::Api(command)) => self.terminal.lane.on_api(command).await,
                    None => break Stopped::InputsClosed,
                },
                input = inputs.recv() => match input {
                    Some(Input::Reload) => self.reload().await,
                    Some(Input::Shutdown) => break Stopped::Requested,
                    None => break Stopped::InputsClosed,
                },
            }
        };
        tracing::info!(message = "stopping", reason = ?stopped);
        self.notifier.stopping("stopping");
        self.terminal.shutdown().await;
        stopped
    }

    fn running_status(&self) -> String {
        let (checkpoint, lane) = self.terminal.identity();
        let mut status = format!(
            "running: checkpoint {checkpoint} lane {lane}, {} device(s) configured, config {}",
            self.config.devices.len(),
            self.config.source.display()
        );
        if !self.restart_required.is_empty() {
            status.push_str(&format!(
                "; restart required: {}",
                self.restart_required.join(", ")
            ));
        }
        status
    }

    /// Re-reads the configuration and applies it to the terminal; a bad one is logged and the
    /// running one kept. The file is small and local, so reading it inside the loop stalls it
    /// for well under a watchdog period.
    async fn reload(&mut self) {
        self.notifier.reloading();
        let applied = match config::load(&self.config.source, &self.load_options) {
            Ok(config) => match self.terminal.reload(config.clone()).await {
                Ok(reloaded) => Ok((config, reloaded)),
                Err(error) => Err(error.to_string()),
            },
            Err(error) => Err(error.to_string()),
        };
        match applied {
            Ok((config, reloaded)) => {
                self.config = config;
                self.restart_required = reloaded.restart_required.clone();
                tracing::info!(message = "configuration reloaded", result = %reloaded.summary());
                if !reloaded.restart_required.is_empty() {
                    let keys = reloaded.restart_required.join(", ");
                    tracing::warn!(message = %format!("restart required: {keys}"));
                }
                self.notifier.ready(&self.running_status());
            }
            Err(error) => {
                for line in error.lines() {
                    tracing::error!(message = "reload refused", problem = %line);
                }
                tracing::warn!(message = "reload failed: keeping the running configuration");
                let status = format!(
                    "reload failed: keeping the running configuration; {}",
                    self.running_status()
                );
                self.notifier.ready(&status);
            }
        }
    }
}

async fn tick(watchdog: &mut Option<Interval>) {
    match watchdog {
        Some(interval) => {
            interval.tick().await;
        }
        None => pending().await,
    }
}
