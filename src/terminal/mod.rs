//! The assembled terminal: opens the stores, starts the devices, the local API and the upstream
//! tasks (ledger replication, crossing relay, movement index, heartbeats) from a validated
//! `Config`, builds the lane the runtime drives, and on reload applies what changed —
//! restarting the component that owns a setting, or naming the settings only a restart applies.
//! Everything here is wiring; the work is elsewhere.

mod lane;
mod parts;
mod reload;
mod upstream;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

use crate::adapters::api::{self, ApiAccess, ApiState};
use crate::adapters::booth::{Booth, BoothSettings};
use crate::adapters::devices::{self, Backoff, DeviceTask};
use crate::adapters::feed::Outbox;
use crate::adapters::health::{self, Probe};
use crate::adapters::ledger::SledLedger;
use crate::adapters::metrics::Telemetry;
use crate::config::{Config, Direction};
use crate::core::stay::policy::StayPolicy;
use crate::lane::commands::LaneCommand;
use crate::lane::driver::LaneDriver;
use crate::lane::watchlist::LaneWatchlist;
use crate::ports::chip::DocumentChipReader;
use crate::ports::clock::Clock;
use crate::ports::ledger::ReplicationState;
use crate::ports::scanner::DeviceEvent;

pub use lane::{LaneSources, chip_lane, facing, lane_driver, lane_parts, open_ledger, open_outbox};
pub use parts::{
    PERMIT_CLOCK_SKEW, check_files, device_specs, lane_settings, scanners_dir, session_window,
    stay_policy, terminal_id,
};
pub use reload::Reloaded;
pub use upstream::{LEDGER_POLL, root_set};

/// Device events queued before a reader waits.
pub const DEVICE_EVENTS_MAX: usize = 64;

/// Why the terminal could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum TerminalError {
    /// A store could not be opened.
    #[error("{what}: {message}")]
    Store {
        /// Which store.
        what: &'static str,
        /// Why.
        message: String,
    },
    /// A file named by the configuration could not be used.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// The local API could not listen.
    #[error(transparent)]
    Api(#[from] api::ApiError),
    /// The connection to central could not be set up (credentials).
    #[error("upstream: {0}")]
    Upstream(String),
}

impl TerminalError {
    /// True when the configuration's files are at fault (exit 78), not the machine's state.
    pub fn is_configuration(&self) -> bool {
        matches!(
            self,
            TerminalError::File { .. } | TerminalError::Upstream(_)
        )
    }
}

/// What arrives from the terminal's components for the runtime loop.
#[derive(Debug)]
pub enum Arrival {
    /// A scanner delivered a scan, changed state, or dropped bad input.
    Device(DeviceEvent),
    /// The officer console or kiosk screen asked for something.
    Api(LaneCommand),
}

/// A group of tasks started together and stopped together.
struct Component {
    tasks: Vec<JoinHandle<()>>,
    stop: watch::Sender<bool>,
}

impl Component {
    fn new() -> (Self, watch::Receiver<bool>) {
        let (stop, receiver) = watch::channel(false);
        (
            Self {
                tasks: Vec::new(),
                stop,
            },
            receiver,
        )
    }

    /// Signals the tasks, aborts them, and waits until they are gone (so a listener's port or
    /// socket is free when this returns).
    async fn stop(self) {
        let _ = self.stop.send(true);
        for task in &self.tasks {
            task.abort();
        }
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// The stores and channels every component is built around; they live as long as the process.
struct Core {
    clock: Arc<dyn Clock>,
    ledger: SledLedger,
    outbox: Outbox,
    events: broadcast::Sender<Value>,
    status: watch::Receiver<Value>,
    commands: mpsc::Sender<LaneCommand>,
    device_events: mpsc::Sender<DeviceEvent>,
    replication: Arc<watch::Sender<ReplicationState>>,
    /// Counters and gauges for `/metrics`, fed by the lane, relay, replicator and devices.
    telemetry: Telemetry,
    /// The chip reader device put in place of PC/SC (the demo's simulated field).
    chip_reader: Option<Arc<Mutex<dyn DocumentChipReader>>>,
    /// Whether the upstream tasks run (the demo without `--nats` runs without central).
    upstream: bool,
}

/// The receiving ends of the core's channels, kept by the terminal.
struct Inboxes {
    status: watch::Sender<Value>,
    replication: watch::Receiver<ReplicationState>,
    devices: mpsc::Receiver<DeviceEvent>,
    commands: mpsc::Receiver<LaneCommand>,
}

/// What the terminal is given rather than opening it from the configuration: the daemon gives
/// the system clock only; the demo runs the same assembly with its own clock, a simulated chip
/// field and, without `--nats`, no connection to central.
pub struct Injected {
    /// The clock every component reads.
    pub clock: Arc<dyn Clock>,
    /// The device behind the configured `pcsc` chip reader; `None`: PC/SC.
    pub chip_reader: Option<Arc<Mutex<dyn DocumentChipReader>>>,
    /// Start the upstream tasks (`[upstream]`); `false` keeps the terminal offline.
    pub upstream: bool,
}

impl Injected {
    /// What the daemon injects: the clock, real devices, central.
    pub fn clock(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            chip_reader: None,
            upstream: true,
        }
    }
}

/// The running terminal's parts that outlive start-up.
pub struct Terminal {
    /// The lane the runtime drives.
    pub lane: LaneDriver,
    core: Core,
    /// The configuration the stores were opened with (only a restart changes those).
    started: Config,
    /// The configuration the components run with now.
    current: Config,
    api: Component,
    /// Where the loopback HTTP listener is bound (port 0 resolved).
    http_address: Option<SocketAddr>,
    upstream: Component,
    devices: Vec<DeviceTask>,
    device_inbox: mpsc::Receiver<DeviceEvent>,
    command_inbox: mpsc::Receiver<LaneCommand>,
}

impl std::fmt::Debug for Terminal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Terminal")
            .field("devices", &self.devices.len())
            .finish_non_exhaustive()
    }
}

async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

fn store_error(what: &'static str) -> impl Fn(String) -> TerminalError {
    move |message| TerminalError::Store { what, message }
}

/// Builds the lane's watchlist from the replica's person alerts, on a blocking thread (a million
/// alerts take seconds); the lane follows the replica from there.
async fn build_watchlist(ledger: &SledLedger) -> Result<LaneWatchlist, TerminalError> {
    let ledger = ledger.clone();
    let started = std::time::Instant::now();
    let built = tokio::task::spawn_blocking(move || LaneWatchlist::build(&ledger))
        .await
        .map_err(|e| store_error("watchlist")(e.to_string()))?
        .map_err(|e| store_error("watchlist")(e.to_string()))?;
    tracing::info!(
        message = "watchlist built from the ledger replica",
        alerts = built.len(),
        applied_seq = built.applied(),
        ms = started.elapsed().as_millis() as u64
    );
    Ok(built)
}

/// Opens the stores and makes the channels the components share.
fn open_core(config: &Config, injected: Injected) -> Result<(Core, Inboxes), TerminalError> {
    let ledger = open_ledger(config)?;
    let outbox = open_outbox(config, Arc::clone(&injected.clock))?;
    let (events, _) = broadcast::channel(api::API_STREAM_EVENTS_MAX);
    let (status_sender, status) = watch::channel(Value::Null);
    let (commands, command_inbox) = mpsc::channel(api::API_COMMANDS_MAX);
    let (device_events, device_inbox) = mpsc::channel(DEVICE_EVENTS_MAX);
    let (replication, replication_view) =
        watch::channel(ReplicationState::Connecting { last_error: None });
    let core = Core {
        clock: injected.clock,
        ledger,
        outbox,
        events,
        status,
        commands,
        device_events,
        replication: Arc::new(replication),
        telemetry: Telemetry::new(config.devices.iter().map(|device| device.name.clone())),
        chip_reader: injected.chip_reader,
        upstream: injected.upstream,
    };
    let inboxes = Inboxes {
        status: status_sender,
        replication: replication_view,
        devices: device_inbox,
        commands: command_inbox,
    };
    Ok((core, inboxes))
}

impl Core {
    fn lane_sources(
        &self,
        policy: StayPolicy,
        replication: watch::Receiver<ReplicationState>,
    ) -> LaneSources {
        LaneSources {
            ledger: self.ledger.clone(),
            outbox: self.outbox.clone(),
            clock: Arc::clone(&self.clock),
            policy: Arc::new(policy),
            replication,
        }
    }
}

impl Terminal {
    /// Opens everything the configuration names: stores, API, devices, upstream, lane.
    pub async fn open(config: &Config, clock: Arc<dyn Clock>) -> Result<Self, TerminalError> {
        Self::open_with(config, Injected::clock(clock)).await
    }

    /// [`Terminal::open`] with what `injected` gives in place of what the daemon opens itself.
    pub async fn open_with(config: &Config, injected: Injected) -> Result<Self, TerminalError> {
        let id = terminal_id(config)?;
        tracing::info!(
            message = "terminal identity",
            terminal = %id,
            public_key = %hex::encode(config.keys.terminal_key.verifying_key().to_bytes()),
        );
        let policy = stay_policy(config)?;
        let specs = device_specs(config)?;
        let (core, inboxes) = open_core(config, injected)?;
        let watchlist = build_watchlist(&core.ledger).await?;
        let parts = lane_parts(config, core.lane_sources(policy, inboxes.replication));
        let lane = lane_driver(config, parts, core.events.clone(), inboxes.status)
            .with_meter(Arc::new(core.telemetry.clone()))
            .with_watchlist(watchlist)
            .with_chip_lane(chip_lane(config, core.chip_reader.as_ref()));
        let (api, http_address) = start_api(config, &core).await?;
        let upstream = start_upstream(config, &core).await?;
        let devices = start_devices(specs, &core)?;
        Ok(Self {
            lane,
            core,
            started: config.clone(),
            current: config.clone(),
            api,
            http_address,
            upstream,
            devices,
            device_inbox: inboxes.devices,
            command_inbox: inboxes.commands,
        })
    }

    /// A second lane of this terminal facing `direction` (the demo's departures beside its
    /// arrivals): the same stores, stay rules, clock and event stream, its own status, no chip
    /// reader. Its device events and commands are the caller's to route.
    pub fn lane_facing(&self, direction: Direction) -> Result<LaneDriver, TerminalError> {
        let config = facing(&self.current, direction);
        let policy = stay_policy(&config)?;
        let sources = self
            .core
            .lane_sources(policy, self.core.replication.subscribe());
        let (status, _) = watch::channel(Value::Null);
        Ok(lane_driver(
            &config,
            lane_parts(&config, sources),
            self.core.events.clone(),
            status,
        ))
    }

    /// The checkpoint id and lane the terminal runs as (a reload changes them only after a
    /// restart).
    pub fn identity(&self) -> (&str, &str) {
        (&self.started.checkpoint.id, &self.started.checkpoint.lane)
    }

    /// The ledger replica (the demo applies its own ledger to it, as replication would).
    pub fn ledger(&self) -> &SledLedger {
        &self.core.ledger
    }

    /// The outbox.
    pub fn outbox(&self) -> &Outbox {
        &self.core.outbox
    }

    /// Where the console's loopback HTTP listener is bound, when `[api] http` is set.
    pub fn http_address(&self) -> Option<SocketAddr> {
        self.http_address
    }

    /// The next device event or API command; `None` once neither can arrive any more.
    pub async fn next_arrival(&mut self) -> Option<Arrival> {
        tokio::select! {
            Some(event) = self.device_inbox.recv() => Some(Arrival::Device(event)),
            Some(command) = self.command_inbox.recv() => Some(Arrival::Api(command)),
            else => None,
        }
    }

    /// Stops devices and background tasks and flushes the outbox.
    pub async fn shutdown(self) {
        stop_devices(self.devices).await;
        self.api.stop().await;
        self.upstream.stop().await;
        if let Err(error) = self.core.outbox.flush_async().await {
            tracing::error!(message = "outbox flush at shutdown failed", %error);
        }
    }
}

/// The Unix socket and, if configured, the loopback HTTP listener.
async fn start_api(
    config: &Config,
    core: &Core,
) -> Result<(Component, Option<SocketAddr>), TerminalError> {
    let access = ApiAccess {
        token: config
            .api
            .http
            .as_ref()
            .map(|http| http.token.expose().to_string()),
        socket_gid: Some(config.api.gid),
    };
    let probe = Probe {
        telemetry: core.telemetry.clone(),
        outbox: core.outbox.clone(),
        ledger: Arc::new(core.ledger.clone()),
        terminal_key: config.keys.terminal_key.signing_key().verifying_key(),
        data_dir: config.data_dir.clone(),
        outbox_max: config.limits.outbox_events_max.get(),
        ledger_stale_after: config.lane.ledger_stale_after,
        clock: Arc::clone(&core.clock),
    };
    // Sessions live as long as this listener: a restart, or a reload that changes [api], signs
    // every officer out.
    let booth = Booth::new(
        Arc::new(core.ledger.clone()),
        Arc::clone(&core.clock),
        config.checkpoint.time_zone.clone(),
        BoothSettings {
            idle_timeout: config.api.session_idle_timeout,
            lockout_window: config.api.sign_in_lockout,
        },
    );
    let state = ApiState::new(
        core.events.clone(),
        core.commands.clone(),
        core.status.clone(),
        access,
        Arc::new(booth),
    )
    .with_open_routes(health::routes(probe))
    .with_guarded_routes(api::ledger::routes(api::ledger::ReplicaRoutes {
        ledger: Arc::new(core.ledger.clone()),
        clock: Arc::clone(&core.clock),
        directory: replica_directory(config),
    }));
    if let Some(parent) = config.api.socket.parent() {
        // Under systemd `RuntimeDirectory=` made it; a failure here shows as the bind's error.
        let _ = std::fs::create_dir_all(parent);
    }
    let (mut component, stop) = Component::new();
    // Bind HTTP first: a listener that cannot bind fails the start (or the reload) as a whole.
    let listener = match &config.api.http {
        Some(http) => Some(api::bind_http(&http.address.to_string()).await?),
        None => None,
    };
    // A socket that cannot be bound or given to the console's group is fatal: a terminal whose
    // console cannot connect must not report READY.
    let unix_listener = api::bind_unix(&config.api.socket, Some(config.api.gid))?;
    advertise_socket(config);
    let address = listener.as_ref().map(bound_address).transpose()?;
    let unix_state = state.clone();
    let unix_stop = stopped(stop.clone());
    component.tasks.push(tokio::spawn(async move {
        if let Err(error) = api::serve_unix(unix_listener, unix_state, unix_stop).await {
            tracing::error!(message = "api socket failed", %error);
        }
    }));
    if let Some(listener) = listener {
        let http_stop = stopped(stop);
        component.tasks.push(tokio::spawn(async move {
            if let Err(error) = api::serve_http(listener, state, http_stop).await {
                tracing::error!(message = "api http failed", %error);
            }
        }));
    }
    Ok((component, address))
}

/// The replica's directory as the tool names it after resolving links (`checkpointctl ledger`
/// compares it with the `--data` it was given).
fn replica_directory(config: &Config) -> std::path::PathBuf {
    let replica = config.data_dir.join("ledger");
    std::fs::canonicalize(&replica).unwrap_or(replica)
}

/// Names the API socket in the replica's directory, where `checkpointctl ledger status|lookup`
/// looks when the replica's lock is held. Not fatal: only that tool's answer depends on it.
fn advertise_socket(config: &Config) {
    let replica = config.data_dir.join("ledger");
    if let Err(error) = api::ledger::advertise(&replica, &config.api.socket) {
        tracing::warn!(
            message = "cannot advertise the api socket in the ledger replica's directory",
            %error
        );
    }
}

fn bound_address(listener: &tokio::net::TcpListener) -> Result<SocketAddr, api::ApiError> {
    listener.local_addr().map_err(|source| api::ApiError::Bind {
        place: "loopback http".to_string(),
        source,
    })
}

async fn start_upstream(config: &Config, core: &Core) -> Result<Component, TerminalError> {
    let (mut component, stop) = Component::new();
    if !core.upstream {
        return Ok(component);
    }
    let parts = upstream::UpstreamParts {
        ledger: core.ledger.clone(),
        outbox: core.outbox.clone(),
        clock: Arc::clone(&core.clock),
        replication: Arc::clone(&core.replication),
        status: core.status.clone(),
        telemetry: core.telemetry.clone(),
    };
    component.tasks = upstream::start(config, parts, stop).await?;
    Ok(component)
}

/// Devices: each in its own thread (an image spool's decoding too).
fn start_devices(
    specs: Vec<devices::DeviceSpec>,
    core: &Core,
) -> Result<Vec<DeviceTask>, TerminalError> {
    let mut tasks = Vec::with_capacity(specs.len());
    for spec in specs {
        let name = spec.name.clone();
        let task = devices::spawn(
            spec,
            Arc::clone(&core.clock),
            Backoff::default(),
            core.device_events.clone(),
        )
        .map_err(|e| store_error("device thread")(format!("{name}: {e}")))?;
        tasks.push(task);
    }
    Ok(tasks)
}

async fn stop_devices(devices: Vec<DeviceTask>) {
    for device in devices {
        // Joining a device thread blocks for at most one poll interval.
        let _ = tokio::task::spawn_blocking(move || device.stop()).await;
    }
}
