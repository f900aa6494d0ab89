//! Scanner transports: serial ports (plain framing or Zebra SSI), USB HID (POS and keyboard
//! wedge) and image spool directories, read in blocking threads, each device under a supervisor
//! that reconnects with backoff and re-runs the init sequence, reporting scans and state changes
//! on one channel.
//!
//! Architecture invariant: only this module opens serial ports, USB devices and spool
//! directories; it moves bytes into `core::frame` (images into `qr_image`) and sends the results
//! on a channel, and decides nothing about documents.

pub mod chip_reader;
pub mod decode_worker;
pub mod image_spool;
mod link_report;
pub mod profile;
pub mod serial;
pub mod spool;
pub mod usb;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::mpsc;

pub use profile::{
    DeviceProfile, ProfileError, Programming, Transport, parse_profile, parse_programming,
};

use crate::core::frame::pipeline::{DevicePipeline, PipelineOutput};
use crate::ports::clock::Clock;
use crate::ports::scanner::{DeviceEvent, ScanEvent};
use link_report::LinkReport;

/// Why a device is down.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    /// The device could not be opened (absent, no permission, profile mismatch).
    #[error("cannot open {path}: {why}")]
    Open { path: String, why: String },
    /// The device went away or failed while reading or writing.
    #[error("device lost: {0}")]
    Gone(String),
    /// The init sequence was not accepted.
    #[error("init sequence failed: {0}")]
    Init(String),
}

/// An open device: a source of byte chunks (serial) or reports (HID), and a sink for replies.
pub trait Session {
    /// Waits briefly for input: `Ok(None)` when nothing came within the poll interval.
    fn read(&mut self) -> Result<Option<&[u8]>, DeviceError>;
    /// Writes bytes to the device.
    fn write(&mut self, bytes: &[u8]) -> Result<(), DeviceError>;
    /// Puts bytes back to be returned by the next read: what followed an init reply in the
    /// same chunk (a scan sent right after the reply must not be lost).
    fn unread(&mut self, bytes: &[u8]);
}

/// One configured device.
#[derive(Debug, Clone)]
pub struct DeviceSpec {
    /// The name used in events and logs.
    pub name: String,
    /// Its profile.
    pub profile: DeviceProfile,
    /// Its init sequence, loaded from `firmware-config/scanners/<profile.init>.toml`.
    pub programming: Option<Programming>,
    /// A serial path replacing the profile's (e.g. `/dev/ttyS1` for a second swipe reader), or
    /// the spool directory of an image-spool device.
    pub path: Option<String>,
    /// Longest frame or symbol kept, in bytes (`[limits] scan_frame_bytes_max`).
    pub frame_bytes_max: usize,
}

impl DeviceSpec {
    /// The serial path to open.
    pub fn serial_path(&self) -> Option<&str> {
        self.path
            .as_deref()
            .or(self.profile.serial.as_ref().map(|s| s.path.as_str()))
    }
}

/// Reconnect delays: doubling from `initial` up to `max`, reset once the device is up.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// First delay after a failure.
    pub initial: Duration,
    /// Longest delay.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(200),
            max: Duration::from_secs(5),
        }
    }
}

/// A running device thread.
pub struct DeviceTask {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl DeviceTask {
    /// Runs `body` on a thread named `name`; `body` gets the flag that [`Self::stop`] raises.
    pub(crate) fn start(
        name: String,
        body: impl FnOnce(Arc<AtomicBool>) + Send + 'static,
    ) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name(name)
            .spawn(move || body(thread_stop))?;
        Ok(Self { stop, thread })
    }

    /// Asks the device thread to stop, and waits for it (at most one poll interval plus backoff step).
    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        if self.thread.join().is_err() {
            tracing::error!("device thread panicked");
        }
    }
}

/// Starts a device in its own thread, so that a stuck or failing reader never stalls another
/// reader or the async runtime. Events go to `events`; the thread ends when stopped or when the
/// receiver is dropped.
pub fn spawn(
    spec: DeviceSpec,
    clock: Arc<dyn Clock>,
    backoff: Backoff,
    events: mpsc::Sender<DeviceEvent>,
) -> std::io::Result<DeviceTask> {
    if spec.profile.transport == Transport::ImageSpool {
        let device = image_spool::SpoolDevice::from_spec(&spec)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
        return image_spool::spawn(device, clock, backoff, events);
    }
    DeviceTask::start(format!("device-{}", spec.name), move |stop| {
        Supervisor {
            spec,
            clock,
            backoff,
            events,
            stop,
        }
        .run()
    })
}

/// An open, initialised device.
pub struct OpenedDevice {
    /// The transport session.
    pub session: Box<dyn Session>,
    /// The device's input pipeline.
    pub pipeline: DevicePipeline,
    /// What each init step sent and got back (printed by `devices probe`).
    pub init_replies: Vec<serial::StepReport>,
}

/// Opens a device of any transport, runs its init sequence, and builds its pipeline.
pub fn open_session(spec: &DeviceSpec) -> Result<OpenedDevice, DeviceError> {
    match spec.profile.transport {
        Transport::Serial | Transport::ZebraSsi => {
            let (Some(path), Some(settings)) = (spec.serial_path(), spec.profile.serial.as_ref())
            else {
                return Err(DeviceError::Open {
                    path: spec.name.clone(),
                    why: "profile has no serial settings".into(),
                });
            };
            let mut session: Box<dyn Session> =
                Box::new(serial::SerialSession::new(serial::open(path, settings)?));
            let steps = match &spec.programming {
                Some(programming) => serial::program(session.as_mut(), programming)?,
                None => Vec::new(),
            };
            Ok(OpenedDevice {
                session,
                pipeline: spec
                    .profile
                    .pipeline(None)
                    .with_frame_bytes_max(spec.frame_bytes_max),
                init_replies: steps,
            })
        }
        Transport::HidPos | Transport::HidKeyboard => {
            let session = usb::open(&spec.profile)?;
            if let Some(descriptor) = &session.descriptor {
                let wants_keyboard = spec.profile.transport == Transport::HidKeyboard;
                if wants_keyboard != descriptor.is_keyboard()
                    && (wants_keyboard || !descriptor.is_pos_scanner())
                {
                    return Err(DeviceError::Open {
                        path: spec.name.clone(),
                        why:
                            "report descriptor does not match the profile's transport (wrong mode?)"
                                .into(),
                    });
                }
            }
            let pipeline = spec
                .profile
                .pipeline(session.descriptor.as_ref())
                .with_frame_bytes_max(spec.frame_bytes_max);
            Ok(OpenedDevice {
                session: Box::new(session),
                pipeline,
                init_replies: Vec::new(),
            })
        }
        Transport::ImageSpool => Err(DeviceError::Open {
            path: spec.name.clone(),
            why: "an image spool is a directory watched by its own runner, not a session".into(),
        }),
    }
}

struct Supervisor {
    spec: DeviceSpec,
    clock: Arc<dyn Clock>,
    backoff: Backoff,
    events: mpsc::Sender<DeviceEvent>,
    stop: Arc<AtomicBool>,
}

impl Supervisor {
    fn run(self) {
        let mut delay = self.backoff.initial;
        let mut link = LinkReport::new(self.spec.name.clone(), self.events.clone());
        while !self.stopped() {
            let outcome = match open_session(&self.spec) {
                Ok(OpenedDevice {
                    mut session,
                    mut pipeline,
                    ..
                }) => {
                    delay = self.backoff.initial;
                    if !link.up(self.clock.now()) {
                        return;
                    }
                    tracing::info!(device = %self.spec.name, "device up");
                    let outcome = self.read_loop(session.as_mut(), &mut pipeline);
                    let mut out = Vec::new();
                    pipeline.disconnected(&mut out);
                    self.emit(out, session.as_mut());
                    outcome
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

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || self.events.is_closed()
    }

    fn sleep(&self, total: Duration) {
        let step = Duration::from_millis(20);
        let mut slept = Duration::ZERO;
        while slept < total && !self.stopped() {
            std::thread::sleep(step);
            slept += step;
        }
    }

    /// Reads until stopped (`Ok`) or the device fails (`Err`).
    fn read_loop(
        &self,
        session: &mut dyn Session,
        pipeline: &mut DevicePipeline,
    ) -> Result<(), DeviceError> {
        let reports = matches!(
            self.spec.profile.transport,
            Transport::HidPos | Transport::HidKeyboard
        );
        let mut out = Vec::new();
        while !self.stopped() {
            let input = session.read()?;
            let now = self.clock.monotonic();
            if let Some(bytes) = input {
                if reports {
                    pipeline.push_report(bytes, now, &mut out);
                } else {
                    pipeline.push_bytes(bytes, now, &mut out);
                }
            }
            pipeline.poll(now, &mut out);
            if !out.is_empty() {
                self.emit(std::mem::take(&mut out), session);
            }
        }
        Ok(())
    }

    fn emit(&self, out: Vec<PipelineOutput>, session: &mut dyn Session) {
        for output in out {
            match output {
                PipelineOutput::Scan(scan) => {
                    let event = DeviceEvent::Scan(ScanEvent {
                        device: self.spec.name.clone(),
                        symbology: scan.symbology,
                        payload: scan.payload,
                        kind: scan.kind,
                    });
                    if self.events.blocking_send(event).is_err() {
                        return;
                    }
                }
                PipelineOutput::Reply(bytes) => {
                    if let Err(e) = session.write(&bytes) {
                        tracing::warn!(device = %self.spec.name, error = %e, "handshake reply not sent");
                    }
                }
                PipelineOutput::Problem(problem) => {
                    tracing::warn!(device = %self.spec.name, %problem, "input dropped");
                    let event = DeviceEvent::Problem {
                        device: self.spec.name.clone(),
                        problem,
                    };
                    if self.events.blocking_send(event).is_err() {
                        return;
                    }
                }
            }
        }
    }
}
