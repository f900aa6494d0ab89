//! Image decoding in a worker process: each spooled image is decoded by a child `checkpointd`
//! (hidden subcommand [`WORKER_SUBCOMMAND`]) that is killed when the per-image budget runs out or
//! the daemon stops, so no decoder loop, however long on a hostile picture, holds the spool, a
//! core past the budget, or shutdown.
//!
//! The worker reads the image itself, prints each code as one line of hex on stdout and exits 0;
//! an image without codes is reported on stderr with exit status [`EXIT_NO_CODES`].

use std::io::{self, BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::adapters::qr_image::{self, DecodeLimits};

/// The hidden `checkpointd` subcommand that runs one decode.
pub const WORKER_SUBCOMMAND: &str = "decode-image-worker";
/// The worker's exit status when the image was read and holds no usable code (`EX_DATAERR`).
pub const EXIT_NO_CODES: i32 = 65;
/// Bytes of codes read from one worker (a page of QR codes is a few KiB).
const WORKER_OUTPUT_BYTES_MAX: u64 = 1024 * 1024;
/// Bytes of a worker's stderr kept as the reason.
const WORKER_REASON_BYTES_MAX: u64 = 1024;
/// How often a running worker is checked for exit, deadline and stop.
const WORKER_POLL: Duration = Duration::from_millis(5);

/// What became of one decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// The codes found, byte-exact.
    Codes(Vec<Vec<u8>>),
    /// The image is unusable (unreadable, no code, over the budget, crashed the worker): why.
    Failed(String),
    /// The daemon is stopping: the worker was killed, the image is untouched.
    Stopped,
}

/// The program run as decode worker.
#[derive(Debug, Clone)]
pub struct DecodeWorker {
    program: PathBuf,
}

impl DecodeWorker {
    /// The `checkpointd` executable: this one when it is `checkpointd`, else `checkpointd` beside
    /// it or one directory up (where cargo places test executables that start devices).
    pub fn locate() -> io::Result<Self> {
        let current = std::env::current_exe()?;
        if current
            .file_name()
            .is_some_and(|name| name == "checkpointd")
        {
            return Ok(Self { program: current });
        }
        current
            .ancestors()
            .skip(1)
            .take(2)
            .map(|dir| dir.join("checkpointd"))
            .find(|candidate| candidate.is_file())
            .map(|program| Self { program })
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!(
                        "no checkpointd executable near {} to decode images with",
                        current.display()
                    ),
                )
            })
    }

    /// Decodes the image at `path` in a worker, killed at `limits.time_budget` (a hard wall-clock
    /// limit from the worker's start) or as soon as `stop` is set. `Err` only when no worker
    /// could be started: that is the device's problem, not the image's.
    pub fn decode(
        &self,
        path: &Path,
        limits: &DecodeLimits,
        stop: &AtomicBool,
    ) -> io::Result<Decoded> {
        let started = Instant::now();
        let mut child = Command::new(&self.program)
            .arg(WORKER_SUBCOMMAND)
            .arg("--time-budget-ms")
            .arg(limits.time_budget.as_millis().to_string())
            .arg(path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take();
        let reader = std::thread::spawn(move || {
            let mut output = Vec::new();
            if let Some(stdout) = stdout {
                let _ = stdout
                    .take(WORKER_OUTPUT_BYTES_MAX)
                    .read_to_end(&mut output);
            }
            output
        });
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if stop.load(Ordering::Relaxed) {
                end(&mut child);
                let _ = reader.join();
                return Ok(Decoded::Stopped);
            }
            if started.elapsed() >= limits.time_budget {
                end(&mut child);
                let _ = reader.join();
                return Ok(Decoded::Failed(format!(
                    "decoding took longer than the budget of {} ms: worker killed",
                    limits.time_budget.as_millis()
                )));
            }
            std::thread::sleep(WORKER_POLL);
        };
        let output = reader.join().unwrap_or_default();
        Ok(outcome(status, &output, &reason_of(&mut child)))
    }
}

/// Kills and reaps a worker.
fn end(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn reason_of(child: &mut Child) -> String {
    let mut reason = Vec::new();
    if let Some(stderr) = child.stderr.take() {
        let _ = stderr
            .take(WORKER_REASON_BYTES_MAX)
            .read_to_end(&mut reason);
    }
    String::from_utf8_lossy(&reason).trim().to_string()
}

fn outcome(status: ExitStatus, output: &[u8], reason: &str) -> Decoded {
    use std::os::unix::process::ExitStatusExt;
    match status.code() {
        Some(0) => match read_answer(output) {
            Ok(codes) => Decoded::Codes(codes),
            Err(why) => Decoded::Failed(format!("decode worker answered badly: {why}")),
        },
        Some(EXIT_NO_CODES) => Decoded::Failed(reason.to_string()),
        Some(code) => Decoded::Failed(format!(
            "decode worker failed (exit status {code}): {}",
            first_line(reason)
        )),
        None => Decoded::Failed(format!(
            "decode worker crashed (signal {}): {}",
            status.signal().unwrap_or_default(),
            first_line(reason)
        )),
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("no message")
}

/// The codes in a worker's answer (one line of hex per code), as the daemon reads them.
pub fn read_answer(output: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    output
        .lines()
        .enumerate()
        .map(|(index, line)| {
            let line = line.map_err(|e| e.to_string())?;
            hex::decode(line.trim()).map_err(|e| format!("line {}: {e}", index + 1))
        })
        .collect()
}

/// The worker's side: decodes the image at `path` within `limits` and writes each code as a
/// line of hex to `out`. `Err` is the reason the image gave no codes.
pub fn run_worker(path: &Path, limits: &DecodeLimits, out: &mut impl Write) -> Result<(), String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read image: {e}"))?;
    let mut bytes = Vec::new();
    let cap = u64::try_from(limits.file_bytes_max).unwrap_or(u64::MAX);
    file.take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read image: {e}"))?;
    answer(&bytes, limits, out)
}

/// Decodes an image file's bytes within `limits` and writes the worker's answer to `out`: each
/// code as a line of hex. `Err` is the reason the image gave no codes.
pub fn answer(bytes: &[u8], limits: &DecodeLimits, out: &mut impl Write) -> Result<(), String> {
    let codes = qr_image::decode_image_bytes_with(bytes, limits).map_err(|e| e.to_string())?;
    for code in codes {
        writeln!(out, "{}", hex::encode(code)).map_err(|e| format!("cannot answer: {e}"))?;
    }
    out.flush().map_err(|e| format!("cannot answer: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_answer_becomes_codes_or_a_reason() {
        use std::os::unix::process::ExitStatusExt;
        let ok = ExitStatus::from_raw(0);
        assert_eq!(
            outcome(ok, b"4250313a\n00ff\n", ""),
            Decoded::Codes(vec![b"BP1:".to_vec(), vec![0, 255]])
        );
        assert!(matches!(outcome(ok, b"zz\n", ""), Decoded::Failed(why) if why.contains("line 1")));
        let no_codes = ExitStatus::from_raw(EXIT_NO_CODES << 8);
        assert_eq!(
            outcome(no_codes, b"", "no qr code found"),
            Decoded::Failed("no qr code found".into())
        );
        let killed = ExitStatus::from_raw(9);
        assert!(
            matches!(outcome(killed, b"", ""), Decoded::Failed(why) if why.contains("crashed (signal 9)"))
        );
    }
}
