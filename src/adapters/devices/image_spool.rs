//! The image-spool device: watches a full-page reader's spool directory, decodes the QR codes in
//! each image with the `qr_image` decoder chain, and sends each code as the scan a QR scanner
//! would have sent.
//!
//! Delivery is at-least-once: an image is completed (moved to `done/`) only after all its scans
//! were queued to the daemon, and an image a stop or crash left in `processing/` is decoded again
//! at start-up. A lost permit card would be silent; a repeated one is harmless — within a session
//! the decision layer drops a scan equal to the previous one, and a scan alone records no
//! crossing. (Scans already queued when the process dies are lost like any reader's.)
//!
//! Each image is decoded in a worker process (`decode_worker`) killed at the per-image budget or
//! when the daemon stops, so a hostile image costs at most its budget and never holds shutdown;
//! an image that times out, cannot be read or crashes its worker goes to `failed/` with the
//! reason and is never decoded again. Images are claimed from one sorted listing per batch.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;

use super::decode_worker::{DecodeWorker, Decoded};
use super::link_report::LinkReport;
use super::spool::{Claimed, Spool};
use super::{Backoff, DeviceError, DeviceSpec, DeviceTask};
use crate::adapters::qr_image::DecodeLimits;
use crate::logging::Escaped;
use crate::ports::clock::Clock;
use crate::ports::scanner::{DeviceEvent, ScanEvent, ScanKind, Symbology};

/// Pause between two images of a pile, so that decoding a backlog never monopolises a core
/// another reader's thread or the decision loop needs.
const BACKLOG_PAUSE: Duration = Duration::from_millis(5);

/// Wait before retrying a scan the daemon's full queue did not take.
const FULL_QUEUE_PAUSE: Duration = Duration::from_millis(10);

/// How the spool device is set up.
#[derive(Debug, Clone)]
pub struct SpoolDevice {
    /// The configured device name.
    pub name: String,
    /// The spool root.
    pub root: PathBuf,
    /// How often an empty `incoming/` is looked at again.
    pub poll_interval: Duration,
    /// How long an image must be unmodified before it is claimed.
    pub settle: Duration,
    /// Work bounds for one image; its `time_budget` is a hard wall-clock limit.
    pub limits: DecodeLimits,
    /// The program images are decoded in.
    pub worker: DecodeWorker,
}

impl SpoolDevice {
    /// The spool device of a spec whose profile has the image-spool transport; the spec's path
    /// (from the terminal configuration) replaces the profile's spool directory.
    pub fn from_spec(spec: &DeviceSpec) -> Result<Self, DeviceError> {
        let Some(settings) = spec.profile.spool.as_ref() else {
            return Err(DeviceError::Open {
                path: spec.name.clone(),
                why: "profile has no spool settings".into(),
            });
        };
        Ok(Self {
            name: spec.name.clone(),
            root: PathBuf::from(spec.path.as_deref().unwrap_or(&settings.path)),
            poll_interval: settings.poll_interval,
            settle: settings.settle,
            limits: DecodeLimits::default(),
            worker: DecodeWorker::locate().map_err(|e| DeviceError::Open {
                path: spec.name.clone(),
                why: e.to_string(),
            })?,
        })
    }
}

/// Starts the spool device in its own thread (decoding is CPU-bound and must stay off the async
/// runtime); events go to `events` like any reader's.
pub fn spawn(
    device: SpoolDevice,
    clock: Arc<dyn Clock>,
    backoff: Backoff,
    events: mpsc::Sender<DeviceEvent>,
) -> std::io::Result<DeviceTask> {
    DeviceTask::start(format!("spool-{}", device.name), move |stop| {
        Runner {
            device,
            clock,
            backoff,
            events,
            stop,
        }
        .run()
    })
}

/// What became of one claimed image.
enum Outcome {
    /// Its scans were sent and it was moved to `done/`.
    Done,
    /// It was moved to `failed/` with this reason.
    Failed(String),
    /// The daemon stopped (or stopped listening): the image stays in `processing/` for the next
    /// start.
    Closed,
}

struct Runner {
    device: SpoolDevice,
    clock: Arc<dyn Clock>,
    backoff: Backoff,
    events: mpsc::Sender<DeviceEvent>,
    stop: Arc<AtomicBool>,
}

impl Runner {
    fn run(self) {
        let mut delay = self.backoff.initial;
        let mut link = LinkReport::new(self.device.name.clone(), self.events.clone());
        while !self.stopped() {
            let outcome = match self.open() {
                Ok(spool) => {
                    delay = self.backoff.initial;
                    let since = self.clock.now();
                    if !link.up(since) {
                        return;
                    }
                    tracing::info!(device = %self.device.name, "image spool up");
                    self.watch(&spool, since, &mut link)
                }
                Err(e) => Err(e),
            };
            match outcome {
                Ok(()) => return,
                Err(e) if !link.down(e.to_string(), || self.clock.now()) => return,
                Err(_) => {}
            }
            self.sleep(delay);
            delay = (delay * 2).min(self.backoff.max);
        }
    }

    /// Opens the spool and re-queues what a crash left in `processing/`.
    fn open(&self) -> Result<Spool, DeviceError> {
        let fail = |e: std::io::Error| DeviceError::Open {
            path: self.device.root.display().to_string(),
            why: e.to_string(),
        };
        let spool = Spool::open(&self.device.root)
            .map_err(fail)?
            .with_settle(self.device.settle);
        let recovered = spool.recover().map_err(fail)?;
        if recovered > 0 {
            tracing::warn!(device = %self.device.name, images = recovered,
                "images left in processing by an earlier run are decoded again");
        }
        Ok(spool)
    }

    /// Claims and handles images until stopped (`Ok`) or the directory fails (`Err`).
    fn watch(
        &self,
        spool: &Spool,
        up_since: jiff::Timestamp,
        link: &mut LinkReport,
    ) -> Result<(), DeviceError> {
        let gone = |e: std::io::Error| DeviceError::Gone(format!("spool directory: {e}"));
        let mut batch = VecDeque::new();
        while !self.stopped() {
            if batch.is_empty() {
                // Time only through the clock port (the system clock in the daemon, against
                // which the kernel stamps the images' mtimes).
                let now = SystemTime::from(self.clock.now());
                batch = spool.settled(now).map_err(gone)?.into();
            }
            let Some(name) = batch.pop_front() else {
                self.sleep(self.device.poll_interval);
                continue;
            };
            let Some(claimed) = spool.claim_named(&name).map_err(gone)? else {
                continue;
            };
            match self.handle(spool, claimed).map_err(gone)? {
                Outcome::Done => {}
                Outcome::Failed(reason) => {
                    // The link stays up; the state carries the reason for a technician.
                    if !link.up_with_error(up_since, reason) {
                        return Ok(());
                    }
                }
                Outcome::Closed => return Ok(()),
            }
            self.sleep(BACKLOG_PAUSE);
        }
        Ok(())
    }

    /// Decodes one claimed image. `Err` only when the spool itself fails (the image cannot be
    /// moved, no worker can be started); anything wrong with the image sends it to `failed/`.
    fn handle(&self, spool: &Spool, claimed: Claimed) -> std::io::Result<Outcome> {
        let decoded = match spool.check_size(&claimed) {
            Ok(()) => self
                .device
                .worker
                .decode(&claimed.path, &self.device.limits, &self.stop)?,
            Err(e) => Decoded::Failed(format!("cannot read image: {e}")),
        };
        match decoded {
            Decoded::Stopped => Ok(Outcome::Closed),
            Decoded::Codes(codes) => {
                for payload in codes {
                    let event = DeviceEvent::Scan(ScanEvent {
                        device: self.device.name.clone(),
                        symbology: Some(Symbology::Qr),
                        payload,
                        kind: ScanKind::Symbol,
                    });
                    if !self.deliver(event) {
                        return Ok(Outcome::Closed);
                    }
                }
                spool.complete(claimed)?;
                Ok(Outcome::Done)
            }
            Decoded::Failed(why) => {
                let reason = format!("image {}: {why}", claimed.name);
                tracing::warn!(device = %self.device.name, reason = %Escaped::new(&reason),
                    "image moved to failed/");
                spool.reject(claimed, &reason)?;
                Ok(Outcome::Failed(reason))
            }
        }
    }

    /// Queues a scan for the daemon, waiting while the queue is full but not past a stop (a
    /// stopping daemon may no longer drain it): `false` when it was not queued.
    fn deliver(&self, event: DeviceEvent) -> bool {
        let mut event = event;
        loop {
            match self.events.try_send(event) {
                Ok(()) => return true,
                Err(mpsc::error::TrySendError::Closed(_)) => return false,
                Err(mpsc::error::TrySendError::Full(back)) => {
                    if self.stop.load(Ordering::Relaxed) {
                        return false;
                    }
                    event = back;
                    std::thread::sleep(FULL_QUEUE_PAUSE);
                }
            }
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || self.events.is_closed()
    }

    fn sleep(&self, total: Duration) {
        let step = Duration::from_millis(20).min(total);
        let mut slept = Duration::ZERO;
        while slept < total && !self.stopped() {
            std::thread::sleep(step);
            slept += step;
        }
    }
}
