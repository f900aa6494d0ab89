//! `checkpointctl devices`: list profiles and what is plugged in, probe a device with its init
//! sequence, listen to a device and print its frames masked.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::adapters::devices::chip_reader::ChipReaderProfile;
use crate::adapters::devices::image_spool::SpoolDevice;
use crate::adapters::devices::profile::{
    DeviceProfile, Transport, parse_profile, parse_programming,
};
use crate::adapters::devices::spool::Spool;
use crate::adapters::devices::{self, Backoff, DeviceSpec, Programming};
use crate::adapters::pcsc_reader::{PcscReader, ReaderError};
use crate::adapters::system_clock::SystemClock;
use crate::ports::scanner::{DeviceEvent, Link, ScanEvent, ScanKind};

/// Arguments of `checkpointctl devices`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory of device profiles.
    #[arg(long, global = true, default_value = "/etc/checkpointd/devices")]
    pub profiles: PathBuf,
    /// Directory of scanner programming sequences.
    #[arg(
        long,
        global = true,
        default_value = "/etc/checkpointd/firmware-config/scanners"
    )]
    pub firmware_config: PathBuf,
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// `devices` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List the profiles, whether a matching device is present, and its serial path or USB ids.
    List,
    /// Open a device, run its init sequence and print each reply.
    Probe {
        /// Profile name (file stem in the profiles directory).
        profile: String,
        /// Serial path replacing the profile's.
        #[arg(long)]
        path: Option<String>,
    },
    /// Print scans, problems and state changes of a device as they arrive (scans masked).
    Listen {
        /// Profile name of the device.
        device: String,
        /// Serial path replacing the profile's.
        #[arg(long)]
        path: Option<String>,
        /// Exit after this many scans.
        #[arg(long)]
        count: Option<usize>,
        /// Exit after this many seconds.
        #[arg(long)]
        seconds: Option<u64>,
    },
}

/// Runs the subcommand.
pub fn run(args: Args) -> ExitCode {
    let result = match args.command {
        Command::List => list(&args.profiles),
        Command::Probe { profile, path } => {
            load_spec(&args.profiles, &args.firmware_config, &profile, path).and_then(probe)
        }
        Command::Listen {
            device,
            path,
            count,
            seconds,
        } => load_spec(&args.profiles, &args.firmware_config, &device, path)
            .and_then(|spec| listen(spec, count, seconds.map(Duration::from_secs))),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("checkpointctl devices: {message}");
            ExitCode::from(1)
        }
    }
}

fn read_profile(path: &Path) -> Result<DeviceProfile, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse_profile(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn load_spec(
    profiles: &Path,
    firmware: &Path,
    name: &str,
    path: Option<String>,
) -> Result<DeviceSpec, String> {
    let file = profiles.join(format!("{name}.toml"));
    if std::fs::read_to_string(&file)
        .is_ok_and(|text| ChipReaderProfile::is_chip_reader_profile(&text))
    {
        return Err(format!(
            "{name} is a chip reader's profile, not a scanner's: try the reader with `checkpointctl chip read --reader PATTERN`"
        ));
    }
    let profile = read_profile(&file)?;
    let programming: Option<Programming> = match &profile.init {
        None => None,
        Some(init) => {
            let file = firmware.join(format!("{init}.toml"));
            let text =
                std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            Some(parse_programming(&text).map_err(|e| format!("{}: {e}", file.display()))?)
        }
    };
    Ok(DeviceSpec {
        name: profile.name.clone(),
        profile,
        programming,
        path,
        frame_bytes_max: crate::core::frame::FRAME_BYTES_MAX,
    })
}

fn list(profiles: &Path) -> Result<ExitCode, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(profiles)
        .map_err(|e| format!("{}: {e}", profiles.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let usb_present = usb_ids_present();
    println!(
        "{:<24} {:<13} {:<8} where",
        "profile", "transport", "present"
    );
    let mut failed = false;
    for file in files {
        let listed = match read_profile(&file) {
            Ok(profile) => {
                list_scanner(&profile, &usb_present);
                Ok(())
            }
            Err(e) => list_other(&file, e),
        };
        if let Err(why) = listed {
            failed = true;
            eprintln!("invalid profile {why}");
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// A scanner's line: present when its serial path, spool directory or USB id is there.
fn list_scanner(profile: &DeviceProfile, usb_present: &[(u16, u16)]) {
    let (present, place) = match (&profile.serial, profile.transport) {
        (Some(serial), Transport::Serial | Transport::ZebraSsi) => {
            (Path::new(&serial.path).exists(), serial.path.clone())
        }
        (_, Transport::ImageSpool) => {
            let dir = profile.spool.as_ref().map_or("", |s| s.path.as_str());
            (Path::new(dir).is_dir(), format!("spool {dir}"))
        }
        _ => {
            let ids: Vec<String> = profile
                .usb
                .iter()
                .map(|id| format!("{:04x}:{:04x}", id.vendor, id.product))
                .collect();
            let present = profile
                .usb
                .iter()
                .any(|id| usb_present.contains(&(id.vendor, id.product)));
            (present, format!("usb {}", ids.join(",")))
        }
    };
    println!(
        "{:<24} {:<13} {:<8} {place}",
        profile.name,
        profile.transport.as_str(),
        if present { "yes" } else { "no" }
    );
}

/// The kiosk gate's relay profile and the chip readers' profiles, which live beside the
/// scanners; `scanner_error` is why the file is not a scanner's, reported when it is neither.
fn list_other(file: &Path, scanner_error: String) -> Result<(), String> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    if let Ok(gate) = crate::adapters::gate::GateProfile::from_toml(&text) {
        println!(
            "{:<24} {:<13} {:<8} {}",
            file_stem(file),
            "gate",
            "-",
            gate.model
        );
        return Ok(());
    }
    if !ChipReaderProfile::is_chip_reader_profile(&text) {
        return Err(scanner_error);
    }
    let profile = ChipReaderProfile::from_toml(&text)
        .map_err(|chip| format!("{}: {chip}", file.display()))?;
    list_chip_reader(file, &profile);
    Ok(())
}

/// A chip reader's line: present when pcscd shows a reader whose name holds the profile's
/// pattern (`-` when the profile leaves the name to the device entry or pcscd is not running).
fn list_chip_reader(file: &Path, profile: &ChipReaderProfile) {
    let present = match &profile.reader {
        None => "-",
        Some(pattern) => match PcscReader::open(pattern) {
            Ok(_) => "yes",
            Err(ReaderError::NoReader { .. }) => "no",
            Err(_) => "-",
        },
    };
    let name = profile.reader.as_deref().map_or_else(
        || "reader name from the device entry".to_owned(),
        |pattern| format!("reader {pattern:?}"),
    );
    let apdus = if profile.extended_length {
        "extended length"
    } else {
        "short APDUs"
    };
    println!(
        "{:<24} {:<13} {present:<8} {name}, {apdus} ({})",
        file_stem(file),
        "pcsc",
        profile.model
    );
}

fn usb_ids_present() -> Vec<(u16, u16)> {
    use rusb::UsbContext;
    let Ok(context) = rusb::Context::new() else {
        return Vec::new();
    };
    let Ok(list) = context.devices() else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|d| d.device_descriptor().ok())
        .map(|d| (d.vendor_id(), d.product_id()))
        .collect()
}

fn probe(spec: DeviceSpec) -> Result<ExitCode, String> {
    if spec.profile.transport == Transport::ImageSpool {
        return probe_spool(&spec);
    }
    let opened = devices::open_session(&spec).map_err(|e| format!("{}: {e}", spec.name))?;
    println!("{}: open", spec.name);
    for step in opened.init_replies {
        println!(
            "{} sent {} reply {}",
            step.note,
            printable(&step.sent),
            step.reply.as_deref().unwrap_or("(none expected)")
        );
    }
    match &spec.profile.init {
        Some(init) => println!("{}: init sequence {init} accepted", spec.name),
        None => println!("{}: profile has no init sequence", spec.name),
    }
    Ok(ExitCode::SUCCESS)
}

/// An image spool has no init sequence: open its directories and count what waits.
fn probe_spool(spec: &DeviceSpec) -> Result<ExitCode, String> {
    let device = SpoolDevice::from_spec(spec).map_err(|e| format!("{}: {e}", spec.name))?;
    let spool = Spool::open(&device.root)
        .and_then(|spool| spool.counts().map(|counts| (spool, counts)))
        .map_err(|e| format!("{}: {}: {e}", spec.name, device.root.display()));
    let (_, (incoming, processing)) = spool?;
    println!("{}: spool {} open", spec.name, device.root.display());
    println!("{incoming} image(s) waiting in incoming/, {processing} left in processing/");
    Ok(ExitCode::SUCCESS)
}

fn listen(
    spec: DeviceSpec,
    count: Option<usize>,
    seconds: Option<Duration>,
) -> Result<ExitCode, String> {
    let (tx, mut rx) = mpsc::channel(64);
    let task = devices::spawn(
        spec,
        Arc::new(SystemClock::default()),
        Backoff::default(),
        tx,
    )
    .map_err(|e| format!("cannot start the device thread: {e}"))?;
    let started = Instant::now();
    let mut scans = 0usize;
    while count.is_none_or(|c| scans < c) && seconds.is_none_or(|s| started.elapsed() < s) {
        match rx.try_recv() {
            Ok(event) => {
                scans += usize::from(matches!(event, DeviceEvent::Scan(_)));
                println!("{}", render(&event));
            }
            Err(mpsc::error::TryRecvError::Empty) => std::thread::sleep(Duration::from_millis(5)),
            Err(mpsc::error::TryRecvError::Disconnected) => break,
        }
    }
    drop(rx);
    task.stop();
    Ok(ExitCode::SUCCESS)
}

/// One line per event; scans never show a full MRZ or payload.
pub fn render(event: &DeviceEvent) -> String {
    match event {
        DeviceEvent::Scan(scan) => render_scan(scan),
        DeviceEvent::State(state) => format!(
            "state {} {} since {}{}",
            state.device,
            if state.link == Link::Up { "up" } else { "down" },
            state.since,
            state
                .last_error
                .as_ref()
                .map(|e| format!(" last error: {e}"))
                .unwrap_or_default()
        ),
        DeviceEvent::Problem { device, problem } => format!("problem {device} {problem}"),
    }
}

fn render_scan(scan: &ScanEvent) -> String {
    match &scan.kind {
        ScanKind::Mrz(lines) => format!("scan {} mrz {}", scan.device, lines.masked()),
        ScanKind::Symbol => {
            let symbology = scan
                .symbology
                .map_or("unknown".to_owned(), |s| format!("{s:?}").to_lowercase());
            // A prefix (e.g. a payload scheme like `HC1:`) helps a technician; the rest may be personal.
            let head: Vec<u8> = scan.payload.iter().take(4).copied().collect();
            format!(
                "scan {} {symbology} {} bytes {}…",
                scan.device,
                scan.payload.len(),
                printable(&head)
            )
        }
    }
}

fn printable(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default()
}
