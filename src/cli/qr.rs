//! `checkpointctl qr`: decode QR codes from image files, for technicians and scripts.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;

use crate::adapters::qr_image::{self, DecodeLimits};

/// Arguments of `checkpointctl qr`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Decode every QR code in each image (PNG, JPEG, WebP, BMP).
    ///
    /// Exit status: 0 when every image gave at least one code, 1 otherwise, 2 on usage errors.
    Decode(DecodeArgs),
}

#[derive(Debug, clap::Args)]
struct DecodeArgs {
    /// Print one JSON array: `[{"file": …, "codes": ["text", …], "error": null|"…"}]`.
    #[arg(long)]
    json: bool,
    /// Image files to decode.
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<PathBuf>,
}

/// The outcome for one image file, in the `--json` shape.
#[derive(Debug, Serialize)]
struct FileReport {
    file: String,
    /// Payloads as text: UTF-8 when valid, otherwise each byte as its Latin-1 character (lossless).
    codes: Vec<String>,
    error: Option<String>,
}

/// Runs the subcommand.
pub fn run(args: Args) -> ExitCode {
    match args.command {
        Command::Decode(decode) => run_decode(&decode),
    }
}

fn run_decode(args: &DecodeArgs) -> ExitCode {
    let limits = DecodeLimits::default();
    let reports: Vec<FileReport> = args
        .images
        .iter()
        .map(|path| decode_file(path, &limits))
        .collect();
    let all_decoded = reports
        .iter()
        .all(|report| report.error.is_none() && !report.codes.is_empty());
    let printed = if args.json {
        print_json(&reports)
    } else {
        print_text(&reports)
    };
    if let Err(error) = printed {
        eprintln!("checkpointctl qr decode: cannot write output: {error}");
        return ExitCode::FAILURE;
    }
    if all_decoded {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn decode_file(path: &PathBuf, limits: &DecodeLimits) -> FileReport {
    let file = path.display().to_string();
    let result = read_bounded(path, limits.file_bytes_max).and_then(|bytes| {
        qr_image::decode_image_bytes_with(&bytes, limits).map_err(|e| e.to_string())
    });
    match result {
        Ok(codes) => FileReport {
            file,
            codes: codes.iter().map(|code| payload_text(code)).collect(),
            error: None,
        },
        Err(error) => FileReport {
            file,
            codes: Vec::new(),
            error: Some(error),
        },
    }
}

/// Reads at most one byte past the limit, so an oversized file is refused without being slurped.
fn read_bounded(path: &PathBuf, max: usize) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|error| format!("cannot open file: {error}"))?;
    let cap = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    let mut bytes = Vec::new();
    file.take(cap)
        .read_to_end(&mut bytes)
        .map_err(|error| format!("cannot read file: {error}"))?;
    Ok(bytes)
}

/// UTF-8 text as is; any other bytes as Latin-1 characters, so no byte is lost or replaced.
fn payload_text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => bytes.iter().map(|&byte| char::from(byte)).collect(),
    }
}

fn print_json(reports: &[FileReport]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, reports)?;
    writeln!(out)
}

fn print_text(reports: &[FileReport]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    for report in reports {
        match &report.error {
            Some(error) => writeln!(out, "{}: error: {error}", report.file)?,
            None => {
                for code in &report.codes {
                    writeln!(out, "{}: {}", report.file, code.escape_debug())?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_text_is_lossless() {
        assert_eq!(payload_text(b"BP1:ABC"), "BP1:ABC");
        assert_eq!(payload_text("čř".as_bytes()), "čř");
        assert_eq!(payload_text(&[0xff, 0x00, 0x41]), "\u{ff}\u{0}A");
    }
}
