//! `checkpointctl chip read`: opens a chip through a PC/SC reader (PACE with the MRZ or the
//! CAN, BAC as fallback), reads its files, runs passive authentication over them, and prints
//! the `chip verify` object with how the chip was read.
//!
//! Personal data (DG1's MRZ) is printed in clear: this is the operator's tool output, not a log.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{
    EXIT_INVALID, EXIT_VALID, MRZ_FILE_BYTES_MAX, VerifyArgs, VerifyJson, load_trust, read_limited,
};
use crate::adapters::pcsc_reader::PcscReader;
use crate::adapters::system_clock::SystemClock;
use crate::core::chip::active_auth;
use crate::core::chip::chip_auth::ChipAuthentication;
use crate::core::chip::lds::LdsFile;
use crate::core::chip::pace::Password;
use crate::core::chip::reader::{Access, ChipRead, ReadSettings, read_chip};
use crate::core::chip_evidence;
use crate::core::lds::DataGroup;
use crate::core::mrz::{self, Mode, ParseOptions};
use crate::core::passive_auth::{self, VerifyOptions};
use crate::ports::clock::Clock;

/// How long `chip read` waits for a card in the field.
const CARD_WAIT: Duration = Duration::from_secs(5);

/// Arguments of `checkpointctl chip read`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("password").required(true).args(["mrz", "can"])))]
pub struct ReadArgs {
    /// The reader: the first PC/SC reader whose name contains this (case-insensitive).
    #[arg(long, value_name = "PATTERN")]
    pub reader: String,
    /// The printed MRZ (text, 2 or 3 lines): the access key, and compared with DG1.
    #[arg(long, value_name = "FILE")]
    pub mrz: Option<PathBuf>,
    /// The card access number printed on the document (PACE only).
    #[arg(long, value_name = "DIGITS", value_parser = parse_can)]
    pub can: Option<String>,
    /// Trust the CSCAs of this master list (its signature must verify); repeatable.
    #[arg(long, value_name = "FILE")]
    pub masterlist: Vec<PathBuf>,
    /// Trust this CSCA certificate (PEM or DER); repeatable.
    #[arg(long, value_name = "CERT")]
    pub csca: Vec<PathBuf>,
    /// Take this CRL into account (PEM or DER); repeatable.
    #[arg(long, value_name = "FILE")]
    pub crl: Vec<PathBuf>,
    /// Write the files read (`EF.SOD`, `DG1`, …, raw with their outer tag) into this directory.
    #[arg(long, value_name = "DIR")]
    pub save: Option<PathBuf>,
    /// Refuse BAC when the chip offers PACE (a silent downgrade is a security hole).
    #[arg(long)]
    pub refuse_bac_fallback: bool,
    /// The reader carries extended-length APDUs (used only when the chip's EF.ATR/INFO allows them).
    #[arg(long)]
    pub extended_length: bool,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

fn parse_can(text: &str) -> Result<String, String> {
    if (6..=10).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit()) {
        Ok(text.to_owned())
    } else {
        Err("a CAN is 6 to 10 digits".into())
    }
}

/// Runs `chip read`: `Ok(exit code)`, or `Err` for usage and environment problems.
pub fn run(args: &ReadArgs) -> Result<u8, String> {
    let trust_args = VerifyArgs {
        dir: PathBuf::new(),
        json: args.json,
        masterlist: args.masterlist.clone(),
        csca: args.csca.clone(),
        crl: args.crl.clone(),
        at: None,
        mrz: args.mrz.clone(),
    };
    let trust = load_trust(&trust_args)?;
    let printed_mrz = match &args.mrz {
        Some(path) => {
            Some(String::from_utf8_lossy(&read_limited(path, MRZ_FILE_BYTES_MAX)?).into_owned())
        }
        None => None,
    };
    let password = match (&printed_mrz, &args.can) {
        (_, Some(can)) => Password::Can(can.clone()),
        (Some(text), None) => Password::Mrz(mrz_information(text)?),
        (None, None) => return Err("give --mrz FILE or --can DIGITS".into()),
    };
    let reader = PcscReader::open(&args.reader).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let settings = ReadSettings {
        refuse_bac_fallback: args.refuse_bac_fallback,
        ..ReadSettings::default()
    };
    let read = reader
        .wait_for_card(CARD_WAIT, args.extended_length)
        .map_err(Into::into)
        .and_then(|mut card| read_chip(&mut card, &password, &settings, &mut rand::thread_rng()));
    let read = match read {
        Ok(read) => read,
        Err(error) => {
            eprintln!("checkpointctl chip read: chip unreadable: {error}");
            return Ok(EXIT_INVALID);
        }
    };
    let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    if let Some(dir) = &args.save {
        save(dir, &read)?;
    }
    report(args, &read, &trust, printed_mrz.as_deref(), elapsed_ms)
}

/// The MRZ information (document number, birth and expiry dates with check digits).
fn mrz_information(text: &str) -> Result<String, String> {
    let options = ParseOptions {
        mode: Mode::Strict,
        reference_date: SystemClock::default()
            .now()
            .to_zoned(jiff::tz::TimeZone::UTC)
            .date(),
        french_national_id: false,
    };
    mrz::parse(text, &options).mrz_information().ok_or_else(|| {
        "the --mrz file's document number, birth and expiry dates do not all verify".into()
    })
}

/// Writes each file as `chip verify` reads it (and EF.CardSecurity, which it passes over).
fn save(dir: &Path, read: &ChipRead) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let card_security = read
        .card_security
        .as_ref()
        .map(|bytes| (LdsFile::CardSecurity, bytes.clone()));
    for (file, bytes) in read.files.iter().chain(card_security.as_ref()) {
        let path = dir.join(file.name());
        std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// AA counts only once passive authentication has vouched for DG15: otherwise a clone could
/// bring its own DG15 and key.
fn active_authentication(read: &ChipRead, pa: &passive_auth::PaReport) -> &'static str {
    let (Some(attempt), Some(dg15)) = (&read.active_authentication, read.file(LdsFile::Dg(15)))
    else {
        return "not_supported";
    };
    let vouched = pa.is_valid()
        && DataGroup::from_file_name("DG15")
            .and_then(|group| pa.data_groups.get(&group))
            .is_some_and(|status| *status == passive_auth::DataGroupStatus::Valid);
    let verified = active_auth::verify(dg15, attempt).unwrap_or_else(|error| {
        eprintln!("checkpointctl chip read: active authentication: {error}");
        false
    });
    if vouched && verified {
        "valid"
    } else {
        "failed"
    }
}

/// CA counts only once passive authentication has vouched for DG14 (`chip_evidence`'s rule);
/// after PACE-CAM the result is CAM's, which counts once EF.CardSecurity verifies.
fn chip_authentication(
    read: &ChipRead,
    pa: &passive_auth::PaReport,
    trust: &passive_auth::TrustStore,
    check_date: jiff::civil::Date,
) -> &'static str {
    if let Some(verdict) = chip_evidence::chip_authentication_mapping(read, trust, check_date) {
        return match verdict {
            Ok(()) => "valid",
            Err(why) => {
                eprintln!("checkpointctl chip read: chip authentication mapping: {why}");
                "failed"
            }
        };
    }
    let Some(outcome) = &read.chip_authentication else {
        return "not_supported";
    };
    if let ChipAuthentication::Failed(why) | ChipAuthentication::Unsupported(why) = outcome {
        eprintln!("checkpointctl chip read: chip authentication: {why}");
    }
    if !pa.is_valid() && *outcome == ChipAuthentication::Verified {
        return "failed";
    }
    if chip_evidence::chip_authentication_failed(read, pa) {
        "failed"
    } else {
        outcome.code()
    }
}

/// The contract's `chip read` object: `chip verify`'s plus how the chip was read.
#[derive(Serialize)]
struct ReadJson<'a> {
    #[serde(flatten)]
    verify: VerifyJson<'a>,
    access: &'static str,
    pace_mapping: Option<&'static str>,
    chip_authentication: &'static str,
    active_authentication: &'static str,
    apdus: usize,
    bytes_read: usize,
    elapsed_ms: u64,
}

fn report(
    args: &ReadArgs,
    read: &ChipRead,
    trust: &passive_auth::TrustStore,
    printed_mrz: Option<&str>,
    elapsed_ms: u64,
) -> Result<u8, String> {
    let chip_files = chip_evidence::chip_files(read);
    let check_date = SystemClock::default()
        .now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let pa = passive_auth::verify(
        &chip_files,
        trust,
        &VerifyOptions {
            check_date,
            printed_mrz,
        },
    );
    for detail in &pa.details {
        eprintln!("checkpointctl chip read: {detail}");
    }
    let json = ReadJson {
        verify: VerifyJson::from(&pa),
        access: read.access.code(),
        pace_mapping: match read.access {
            Access::Pace(mapping) => Some(mapping.code()),
            Access::Bac => None,
        },
        chip_authentication: chip_authentication(read, &pa, trust, check_date),
        active_authentication: active_authentication(read, &pa),
        apdus: read.apdus,
        bytes_read: read.bytes_read,
        elapsed_ms,
    };
    let mut out = io::stdout().lock();
    let written = if args.json {
        serde_json::to_writer(&mut out, &json)
            .map_err(io::Error::from)
            .and_then(|()| out.write_all(b"\n"))
    } else {
        writeln!(
            out,
            "access: {} {}\npassive authentication: {}\napdus: {}, bytes read: {}, {} ms",
            json.access,
            json.pace_mapping.unwrap_or(""),
            if pa.is_valid() { "valid" } else { "invalid" },
            json.apdus,
            json.bytes_read,
            json.elapsed_ms
        )
    };
    written.map_err(|error| format!("cannot write stdout: {error}"))?;
    // A chip that fails active authentication is a suspected clone, whatever its files say.
    let clone_suspected =
        json.active_authentication == "failed" || json.chip_authentication == "failed";
    Ok(if pa.is_valid() && !clone_suspected {
        EXIT_VALID
    } else {
        EXIT_INVALID
    })
}
