//! The runtime: the one event loop that wires scanners, the ledger, the outbox and the API to
//! the core. Everything that makes it act arrives as an [`Input`]; the loop also pings the
//! systemd watchdog, so a wedged loop stops pinging and gets the service restarted.
//!
//! Architecture Invariant: the loop never blocks on a device or the network; adapters run in
//! their own tasks and send inputs. Only the loop touches the running [`Config`].

use std::future::pending;

use tokio::sync::mpsc;
use tokio::time::{Interval, MissedTickBehavior};

use crate::adapters::api::ApiCommand;
use crate::adapters::notify::Notifier;
use crate::config::{self, Config, LoadOptions};
use crate::ports::scanner::DeviceEvent;
use crate::terminal::Terminal;

/// Inputs queued for the loop at most; senders wait when it is full.
pub const INPUTS_MAX: usize = 64;

/// Everything that can make the runtime act. Closed on purpose: reading this enum tells what
/// the terminal reacts to.
#[derive(Debug)]
pub enum Input {
    /// SIGHUP: re-read the configuration file through the same validation as start-up.
    Reload,
    /// SIGTERM or SIGINT: stop gracefully.
    Shutdown,
    /// A scanner delivered a scan, changed state, or dropped bad input.
    Device(DeviceEvent),
    /// The officer console or kiosk screen asked for something.
    Api(ApiCommand),
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
    terminal: Option<Terminal>,
}

/// How often the lane refreshes its status and probes a faulted gate.
pub const LANE_TICK: std::time::Duration = std::time::Duration::from_secs(1);

impl Runtime {
    /// Wires a runtime around a validated configuration.
    pub fn new(config: Config, load_options: LoadOptions, notifier: Notifier) -> Self {
        Self {
            config,
            load_options,
            notifier,
            terminal: None,
        }
    }

    /// Attaches the assembled terminal (stores, devices, lane) the loop drives.
    pub fn with_terminal(mut self, terminal: Terminal) -> Self {
        self.terminal = Some(terminal);
        self
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
                _ = lane_tick.tick() => {
                    if let Some(terminal) = self.terminal.as_mut() {
                        terminal.lane.tick().await;
                    }
                }
                input = inputs.recv() => match input {
                    Some(Input::Reload) => self.reload(),
                    Some(Input::Shutdown) => break Stopped::Requested,
                    Some(Input::Device(event)) => {
                        if let Some(terminal) = self.terminal.as_mut() {
                            terminal.lane.on_device(event).await;
                        }
                    }
                    Some(Input::Api(command)) => match self.terminal.as_mut() {
                        Some(terminal) => terminal.lane.on_api(command).await,
                        None => drop(command),
                    },
                    None => break Stopped::InputsClosed,
                },
            }
        };
        tracing::info!(message = "stopping", reason = ?stopped);
        self.notifier.stopping("stopping");
        if let Some(terminal) = self.terminal.take() {
            terminal.shutdown().await;
        }
        stopped
    }

    fn running_status(&self) -> String {
        let checkpoint = &self.config.checkpoint;
        format!(
            "running: checkpoint {} lane {}, {} device(s) configured, config {}",
            checkpoint.id,
            checkpoint.lane,
            self.config.devices.len(),
            self.config.source.display()
        )
    }

    /// Re-reads the configuration; a bad one is logged and the running one kept. The file is
    /// small and local, so reading it inside the loop stalls it for well under a watchdog period.
    fn reload(&mut self) {
        self.notifier.reloading();
        match config::load(&self.config.source, &self.load_options) {
            Ok(config) => {
                let changed = config != self.config;
                self.config = config;
                tracing::info!(message = "configuration reloaded", changed);
                self.notifier.ready(&self.running_status());
            }
            Err(error) => {
                for line in error.to_string().lines() {
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
