//! `checkpointctl chip`: eMRTD chip files. `masterlist` reads a CSCA master list and checks its
//! signature; `verify` runs passive authentication over files saved from a chip.
//!
//! Personal data (DG1's MRZ) is printed in clear: this is the operator's tool output, not a log.

mod read;

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Serialize;
use serde::ser::SerializeMap;

use crate::adapters::system_clock::SystemClock;
use crate::cli::mrz::JsonReport;
use crate::core::lds::{DATA_GROUP_BYTES_MAX, DataGroup, SOD_BYTES_MAX};
use crate::core::passive_auth::{
    self, ChipFiles, DataGroupStatus, MASTER_LIST_BYTES_MAX, MasterList, PaReport, SignerSummary,
    TrustStore, VerifyOptions,
};
use crate::ports::clock::Clock;

/// Arguments of `checkpointctl chip`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The `chip` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Read a CSCA master list (CMS-signed CscaMasterList) and check its signature.
    Masterlist(MasterlistArgs),
    /// Passive authentication of the files read from a chip (EF.SOD, DG1, DG2…).
    Verify(VerifyArgs),
    /// Read a chip through a PC/SC reader (PACE or BAC), then passive authentication.
    Read(read::ReadArgs),
}

/// Arguments of `checkpointctl chip masterlist`.
#[derive(Debug, clap::Args)]
pub struct MasterlistArgs {
    /// The master list (DER, as BSI and the ICAO PKD publish it).
    pub file: PathBuf,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `checkpointctl chip verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Directory holding the files as read from the chip: `EF.SOD`, `DG1`, `DG2`…
    pub dir: PathBuf,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Trust the CSCAs of this master list (its signature must verify); repeatable.
    #[arg(long, value_name = "FILE")]
    pub masterlist: Vec<PathBuf>,
    /// Trust this CSCA certificate (PEM or DER); repeatable.
    #[arg(long, value_name = "CERT")]
    pub csca: Vec<PathBuf>,
    /// Take this CRL into account (PEM or DER); repeatable.
    #[arg(long, value_name = "FILE")]
    pub crl: Vec<PathBuf>,
    /// Check certificate validity on this day (default: today, UTC).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub at: Option<jiff::civil::Date>,
    /// The printed MRZ (text, 2 or 3 lines) to compare with DG1.
    #[arg(long, value_name = "FILE")]
    pub mrz: Option<PathBuf>,
}

/// Exit status: valid.
pub(super) const EXIT_VALID: u8 = 0;
/// Exit status: invalid (passive authentication failed, or the master list's signature).
pub(super) const EXIT_INVALID: u8 = 1;
/// Exit status: usage or I/O problem (clap uses 2 for usage errors too).
const EXIT_USAGE: u8 = 2;

/// Runs the subcommand.
pub fn run(args: Args) -> ExitCode {
    let outcome = match args.command {
        Command::Masterlist(args) => run_masterlist(&args),
        Command::Verify(args) => run_verify(&args),
        Command::Read(args) => read::run(&args),
    };
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(message) => {
            eprintln!("checkpointctl chip: {message}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// `chip masterlist`.
fn run_masterlist(args: &MasterlistArgs) -> Result<u8, String> {
    let bytes = read_limited(&args.file, MASTER_LIST_BYTES_MAX)?;
    let list = passive_auth::read_master_list(&bytes);
    let mut out = io::stdout().lock();
    let written = if args.json {
        serde_json::to_writer(&mut out, &MasterListJson::from(&list))
            .map_err(io::Error::from)
            .and_then(|()| out.write_all(b"\n"))
    } else {
        write_masterlist_text(&mut out, &list)
    };
    written.map_err(|error| format!("cannot write stdout: {error}"))?;
    Ok(if list.signature_valid {
        EXIT_VALID
    } else {
        EXIT_INVALID
    })
}

/// `chip verify`.
fn run_verify(args: &VerifyArgs) -> Result<u8, String> {
    let trust = load_trust(args)?;
    let files = read_chip_dir(&args.dir)?;
    let printed_mrz = match &args.mrz {
        Some(path) => {
            Some(String::from_utf8_lossy(&read_limited(path, MRZ_FILE_BYTES_MAX)?).into_owned())
        }
        None => None,
    };
    let check_date = args.at.unwrap_or_else(|| {
        SystemClock::default()
            .now()
            .to_zoned(jiff::tz::TimeZone::UTC)
            .date()
    });
    let chip_files = ChipFiles {
        sod: files.sod.as_deref(),
        data_groups: files
            .data_groups
            .iter()
            .map(|(group, bytes)| (*group, bytes.as_slice()))
            .collect(),
    };
    let options = VerifyOptions {
        check_date,
        printed_mrz: printed_mrz.as_deref(),
    };
    let report = passive_auth::verify(&chip_files, &trust, &options);
    for detail in &report.details {
        eprintln!("checkpointctl chip verify: {detail}");
    }
    let mut out = io::stdout().lock();
    let written = if args.json {
        serde_json::to_writer(&mut out, &VerifyJson::from(&report))
            .map_err(io::Error::from)
            .and_then(|()| out.write_all(b"\n"))
    } else {
        write_verify_text(&mut out, &report)
    };
    written.map_err(|error| format!("cannot write stdout: {error}"))?;
    Ok(if report.is_valid() {
        EXIT_VALID
    } else {
        EXIT_INVALID
    })
}

/// Largest printed-MRZ file read (three lines of 30 with line ends and some slack).
pub(super) const MRZ_FILE_BYTES_MAX: usize = 4096;

/// The CSCAs and CRLs the arguments name.
pub(super) fn load_trust(args: &VerifyArgs) -> Result<TrustStore, String> {
    let mut trust = TrustStore::new();
    for path in &args.masterlist {
        let list = passive_auth::read_master_list(&read_limited(path, MASTER_LIST_BYTES_MAX)?);
        if !list.signature_valid {
            return Err(format!(
                "{}: master list signature not valid: {}",
                path.display(),
                list.errors.join("; ")
            ));
        }
        for certificate in list.certificates {
            trust
                .add_csca(certificate)
                .map_err(|error| format!("{}: {error}", path.display()))?;
        }
    }
    for path in &args.csca {
        let certificates =
            passive_auth::read_certificates(&read_limited(path, TRUST_FILE_BYTES_MAX)?)
                .map_err(|error| format!("{}: {error}", path.display()))?;
        for certificate in certificates {
            trust
                .add_csca(certificate)
                .map_err(|error| format!("{}: {error}", path.display()))?;
        }
    }
    for path in &args.crl {
        let crl = passive_auth::read_crl(&read_limited(path, TRUST_FILE_BYTES_MAX)?)
            .map_err(|error| format!("{}: {error}", path.display()))?;
        trust.add_crl(crl);
    }
    Ok(trust)
}

/// Largest single certificate or CRL file read (a CSCA's CRL stays far below).
const TRUST_FILE_BYTES_MAX: usize = 16 * 1024 * 1024;

/// The files of a chip directory.
struct ChipDir {
    sod: Option<Vec<u8>>,
    data_groups: Vec<(DataGroup, Vec<u8>)>,
}

/// Reads `EF.SOD` and `DG1`…`DG16` from `dir`; other files are ignored.
fn read_chip_dir(dir: &Path) -> Result<ChipDir, String> {
    let entries = std::fs::read_dir(dir).map_err(|error| format!("{}: {error}", dir.display()))?;
    let mut read = ChipDir {
        sod: None,
        data_groups: Vec::new(),
    };
    for entry in entries {
        let entry = entry.map_err(|error| format!("{}: {error}", dir.display()))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name == "EF.SOD" {
            read.sod = Some(read_limited(&entry.path(), SOD_BYTES_MAX)?);
        } else if let Some(group) = DataGroup::from_file_name(name) {
            read.data_groups
                .push((group, read_limited(&entry.path(), DATA_GROUP_BYTES_MAX)?));
        }
    }
    Ok(read)
}

/// A file's bytes, refusing more than `max`.
pub(super) fn read_limited(path: &Path, max: usize) -> Result<Vec<u8>, String> {
    let file = File::open(path).map_err(|error| format!("{}: {error}", path.display()))?;
    let mut bytes = Vec::new();
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    file.take(limit)
        .read_to_end(&mut bytes)
        .map_err(|error| format!("{}: {error}", path.display()))?;
    if bytes.len() > max {
        return Err(format!("{}: more than {max} bytes", path.display()));
    }
    Ok(bytes)
}

/// The contract's `chip masterlist` object.
#[derive(Serialize)]
struct MasterListJson<'a> {
    signature_valid: bool,
    signer: Option<MasterListSignerJson<'a>>,
    certificates: usize,
    countries: &'a [String],
    errors: &'a [String],
}

#[derive(Serialize)]
struct MasterListSignerJson<'a> {
    subject: &'a str,
    country: Option<&'a str>,
}

impl<'a> From<&'a MasterList> for MasterListJson<'a> {
    fn from(list: &'a MasterList) -> Self {
        Self {
            signature_valid: list.signature_valid,
            signer: list.signer.as_ref().map(|signer| MasterListSignerJson {
                subject: &signer.subject,
                country: signer.country.as_deref(),
            }),
            certificates: list.distinct_certificates,
            countries: &list.countries,
            errors: &list.errors,
        }
    }
}

/// The contract's `chip verify` object.
#[derive(Serialize)]
pub(super) struct VerifyJson<'a> {
    passive_authentication: &'static str,
    errors: Vec<&'static str>,
    data_groups: DataGroupsJson<'a>,
    signer: Option<SignerJson<'a>>,
    dg1_mrz: Option<JsonReport<'a>>,
}

#[derive(Serialize)]
struct SignerJson<'a> {
    subject: &'a str,
    issuer: &'a str,
    serial: &'a str,
    country: Option<&'a str>,
}

impl<'a> From<&'a SignerSummary> for SignerJson<'a> {
    fn from(signer: &'a SignerSummary) -> Self {
        Self {
            subject: &signer.subject,
            issuer: &signer.issuer,
            serial: &signer.serial,
            country: signer.country.as_deref(),
        }
    }
}

/// The data groups in their numeric order (DG2 before DG11).
struct DataGroupsJson<'a>(&'a std::collections::BTreeMap<DataGroup, DataGroupStatus>);

impl Serialize for DataGroupsJson<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (group, status) in self.0 {
            map.serialize_entry(&group.to_string(), status.as_str())?;
        }
        map.end()
    }
}

impl<'a> From<&'a PaReport> for VerifyJson<'a> {
    fn from(report: &'a PaReport) -> Self {
        Self {
            passive_authentication: if report.is_valid() {
                "valid"
            } else {
                "invalid"
            },
            errors: report.errors.iter().map(|error| error.code()).collect(),
            data_groups: DataGroupsJson(&report.data_groups),
            signer: report.signer.as_ref().map(SignerJson::from),
            dg1_mrz: report.dg1_mrz.as_ref().map(JsonReport::from),
        }
    }
}

/// The readable form of a master list.
fn write_masterlist_text(out: &mut impl Write, list: &MasterList) -> io::Result<()> {
    let verdict = if list.signature_valid {
        "valid"
    } else {
        "NOT valid"
    };
    writeln!(out, "signature: {verdict}")?;
    if let Some(signer) = &list.signer {
        let country = signer.country.as_deref().unwrap_or("-");
        writeln!(out, "signer: {} ({country})", signer.subject)?;
    }
    writeln!(out, "certificates: {}", list.distinct_certificates)?;
    writeln!(out, "countries: {}", list.countries.join(" "))?;
    for error in &list.errors {
        writeln!(out, "error: {error}")?;
    }
    Ok(())
}

/// The readable form of a passive-authentication report.
fn write_verify_text(out: &mut impl Write, report: &PaReport) -> io::Result<()> {
    let verdict = if report.is_valid() {
        "valid"
    } else {
        "INVALID"
    };
    writeln!(out, "passive authentication: {verdict}")?;
    for error in &report.errors {
        writeln!(out, "error: {}", error.code())?;
    }
    for (group, status) in &report.data_groups {
        writeln!(out, "{group}: {}", status.as_str())?;
    }
    if let Some(signer) = &report.signer {
        writeln!(out, "signer: {}", signer.subject)?;
        writeln!(out, "  issuer: {}", signer.issuer)?;
        writeln!(out, "  serial: {}", signer.serial)?;
        if let Some(country) = &signer.country {
            writeln!(out, "  country: {country}")?;
        }
    }
    if let Some(mrz) = &report.dg1_mrz {
        let verdict = if mrz.is_valid() { "valid" } else { "invalid" };
        writeln!(out, "DG1 MRZ: {verdict}")?;
    }
    Ok(())
}
