//! `checkpointctl mrz`: parse and validate machine-readable zones read from stdin, print JSON.
//!
//! Personal data is printed in clear: this is the operator's tool output, not a log.

use std::io::{self, BufWriter, Read, Write};
use std::process::ExitCode;

use serde::Serialize;

use crate::adapters::system_clock::SystemClock;
use crate::core::mrz::{self, Format, Mode, MrzReport, ParseOptions, Repair, Sex};
use crate::ports::clock::Clock;

/// Arguments of `checkpointctl mrz`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("output").required(true).args(["json", "jsonl"])))]
pub struct Args {
    /// Read one document (2 or 3 lines) and print one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Read documents separated by blank lines and print one JSON object per line.
    #[arg(long)]
    pub jsonl: bool,
    /// Scanner-style input: case, `«`, spaces, CR and missing fillers normalised, OCR confusions
    /// repaired under check-digit control (all reported).
    #[arg(long)]
    pub tolerant: bool,
    /// Read `IDFRA` 2 × 36 zones as the pre-2021 French identity card (without it, such a zone
    /// is still read as the French card when its check digits verify there and not as TD2).
    #[arg(long)]
    pub french_id: bool,
    /// Date against which two-digit years are resolved (default: today, UTC).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub reference_date: Option<jiff::civil::Date>,
}

/// Exit status: every document valid.
const EXIT_VALID: u8 = 0;
/// Exit status: at least one document invalid.
const EXIT_INVALID: u8 = 1;
/// Exit status: usage or I/O problem (clap uses 2 for usage errors too).
const EXIT_USAGE: u8 = 2;

/// Runs the subcommand.
pub fn run(args: Args) -> ExitCode {
    let mut input = Vec::new();
    if let Err(error) = io::stdin().lock().read_to_end(&mut input) {
        eprintln!("checkpointctl mrz: cannot read stdin: {error}");
        return ExitCode::from(EXIT_USAGE);
    }
    let text = String::from_utf8_lossy(&input);
    let options = ParseOptions {
        mode: if args.tolerant {
            Mode::Tolerant
        } else {
            Mode::Strict
        },
        reference_date: args.reference_date.unwrap_or_else(|| {
            SystemClock::default()
                .now()
                .to_zoned(jiff::tz::TimeZone::UTC)
                .date()
        }),
        french_national_id: args.french_id,
    };
    let documents = if args.jsonl {
        split_documents(&text)
    } else {
        vec![text.to_string()]
    };
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut all_valid = true;
    let documents = if documents.is_empty() {
        vec![String::new()]
    } else {
        documents
    };
    for document in &documents {
        let report = mrz::parse(document, &options);
        all_valid &= report.is_valid();
        let written = serde_json::to_writer(&mut out, &JsonReport::from(&report))
            .map_err(io::Error::from)
            .and_then(|()| out.write_all(b"\n"));
        if let Err(error) = written {
            eprintln!("checkpointctl mrz: cannot write stdout: {error}");
            return ExitCode::from(EXIT_USAGE);
        }
    }
    if let Err(error) = out.flush() {
        eprintln!("checkpointctl mrz: cannot write stdout: {error}");
        return ExitCode::from(EXIT_USAGE);
    }
    ExitCode::from(if all_valid { EXIT_VALID } else { EXIT_INVALID })
}

/// Documents separated by one or more blank (or white-space-only) lines.
fn split_documents(text: &str) -> Vec<String> {
    let mut documents = Vec::new();
    let mut current = String::new();
    for line in text.split('\n') {
        if line.trim().is_empty() {
            if !current.is_empty() {
                documents.push(std::mem::take(&mut current));
            }
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    if !current.is_empty() {
        documents.push(current);
    }
    documents
}

/// The contract's JSON object; fields the format does not have are omitted. `chip verify`
/// prints DG1's MRZ as the same object.
#[derive(Serialize)]
pub(crate) struct JsonReport<'a> {
    valid: bool,
    format: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    document_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    issuing_state: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    surname: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    given_names: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    document_number: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nationality: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    birth_date: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sex: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expiry_date: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    optional_data: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    optional_data_2: Option<&'a str>,
    invalid_fields: Vec<&'static str>,
    warnings: Vec<&'static str>,
    repairs: &'a [Repair],
}

impl<'a> From<&'a MrzReport> for JsonReport<'a> {
    fn from(report: &'a MrzReport) -> Self {
        let document = report.document.as_ref();
        Self {
            valid: report.is_valid(),
            format: report.format.map(Format::as_str),
            document_code: document.map(|d| d.document_code.value.as_str()),
            issuing_state: document.map(|d| d.issuing_state.value.as_str()),
            surname: document.map(|d| d.name.surname.expose()),
            given_names: document.map(|d| d.name.given_names.expose()),
            document_number: document.map(|d| d.document_number.number.expose()),
            nationality: document
                .and_then(|d| d.nationality.as_ref())
                .map(|field| field.value.as_str()),
            birth_date: document.map(|d| d.birth_date.raw.as_str()),
            sex: document.map(|d| sex_text(d.sex)),
            expiry_date: document
                .and_then(|d| d.expiry_date.as_ref())
                .map(|field| field.raw.as_str()),
            optional_data: document
                .and_then(|d| d.optional_data.as_ref())
                .map(|field| field.value.as_str()),
            optional_data_2: document
                .and_then(|d| d.optional_data_2.as_ref())
                .map(|field| field.value.as_str()),
            invalid_fields: report
                .invalid_fields()
                .into_iter()
                .map(mrz::InvalidField::as_str)
                .collect(),
            warnings: report.warnings.iter().map(mrz::Warning::code).collect(),
            repairs: &report.repairs,
        }
    }
}

/// The sex as printed. Unlike other fields its filler is kept: `<` is the value "unspecified".
fn sex_text(sex: Sex) -> String {
    match sex {
        Sex::Male => "M".to_owned(),
        Sex::Female => "F".to_owned(),
        Sex::X => "X".to_owned(),
        Sex::Unspecified => "<".to_owned(),
        Sex::Invalid(found) => found.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_split_on_blank_lines() {
        let documents = split_documents("A\nB\n\n  \nC\r\nD\n\n\n");
        assert_eq!(documents, ["A\nB\n", "C\r\nD\n"]);
        assert!(split_documents("\n \n").is_empty());
    }

    #[test]
    fn sex_keeps_its_filler() {
        assert_eq!(sex_text(Sex::Unspecified), "<");
        assert_eq!(sex_text(Sex::Female), "F");
    }
}
