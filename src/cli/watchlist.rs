//! `checkpointctl watchlist screen`: travellers (JSON lines on stdin) screened against a file of
//! person alerts (JSON lines), one JSON line out per traveller in input order.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::{Map, Value, json};

use crate::core::watchlist::{
    self, AlertKind, AlertName, BirthDate, PersonAlert, Sex, Traveller, Watchlist, WatchlistBuilder,
};

/// Exit status: a write to stdout failed.
const EXIT_FAILURE: u8 = 1;
/// Exit status: bad arguments or bad input (clap uses 2 for usage errors too).
const EXIT_BAD_INPUT: u8 = 2;

/// Longest input line read, so a file without newlines cannot exhaust memory.
pub const LINE_BYTES_MAX: usize = 64 * 1024;

/// Arguments of `checkpointctl watchlist`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Screen travellers (JSON lines on stdin) against person alerts; one line out per traveller.
    Screen {
        /// Person alerts, one JSON object per line (the `ledger publish` format).
        #[arg(long, value_name = "FILE")]
        alerts: PathBuf,
        /// Report alerts scoring at or above T, in [0, 1] (default: the configured 0.72).
        #[arg(long, value_name = "T")]
        threshold: Option<f64>,
        /// Print JSON lines (`{"id", "matches": [{"alert_id", "score", "matched"}]}`).
        #[arg(long)]
        json: bool,
        /// Skip entry bans that ended before this day (YYYY-MM-DD); without it every alert counts.
        #[arg(long, value_name = "DATE")]
        on: Option<jiff::civil::Date>,
    },
}

/// A refused input line: where, which field, why.
#[derive(Debug, thiserror::Error)]
#[error("{source_name} line {line}: {field}: {why}")]
pub struct LineError {
    source_name: String,
    line: usize,
    field: String,
    why: String,
}

fn bad(field: &str, why: impl Into<String>) -> (String, String) {
    (field.to_owned(), why.into())
}

/// Runs the subcommand.
pub fn run(args: Args) -> ExitCode {
    let Command::Screen {
        alerts,
        threshold,
        json,
        on,
    } = args.command;
    let threshold = threshold.unwrap_or(watchlist::DEFAULT_THRESHOLD);
    if !(0.0..=1.0).contains(&threshold) {
        eprintln!("checkpointctl watchlist: --threshold {threshold} is outside [0, 1]");
        return ExitCode::from(EXIT_BAD_INPUT);
    }
    let list = match load_alerts(&alerts) {
        Ok(list) => list,
        Err(message) => {
            eprintln!("checkpointctl watchlist: {message}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let stdin = io::stdin();
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let outcome = screen_lines(stdin.lock(), &mut out, &list, threshold, on, json);
    let flushed = out.flush();
    match (outcome, flushed) {
        (Ok(()), Ok(())) => ExitCode::SUCCESS,
        (Err(ScreenError::Input(message)), _) => {
            eprintln!("checkpointctl watchlist: {message}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
        (Err(ScreenError::Output(error)), _) | (Ok(()), Err(error)) => {
            eprintln!("checkpointctl watchlist: cannot write stdout: {error}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

enum ScreenError {
    Input(String),
    Output(io::Error),
}

fn screen_lines(
    input: impl BufRead,
    out: &mut impl Write,
    list: &Watchlist,
    threshold: f64,
    on: Option<jiff::civil::Date>,
    json: bool,
) -> Result<(), ScreenError> {
    let mut lines = JsonLines::new(input, "stdin");
    while let Some((line, object)) = lines.next_object().map_err(ScreenError::Input)? {
        let (id, traveller) = parse_traveller(&object).map_err(|(field, why)| {
            ScreenError::Input(
                LineError {
                    source_name: "stdin".to_owned(),
                    line,
                    field,
                    why,
                }
                .to_string(),
            )
        })?;
        let facts = watchlist::prepare_traveller(&traveller);
        let hits = list.screen(&facts, threshold, on);
        let text = if json {
            let matches: Vec<Value> = hits
                .iter()
                .map(|hit| {
                    json!({
                        "alert_id": list.alert_id(hit.position),
                        "score": (hit.assessment.score * 10_000.0).round() / 10_000.0,
                        "matched": hit.assessment.matched,
                    })
                })
                .collect();
            json!({"id": id, "matches": matches}).to_string()
        } else {
            let mut text = format!("{id}: {} match(es)", hits.len());
            for hit in &hits {
                text.push_str(&format!(
                    "\n  {} {} {:.4} {}",
                    list.alert_id(hit.position),
                    list.kind(hit.position).code(),
                    hit.assessment.score,
                    hit.assessment.matched.join(" ")
                ));
            }
            text
        };
        writeln!(out, "{text}").map_err(ScreenError::Output)?;
    }
    Ok(())
}

/// Reads an alerts file into a watchlist; the first bad line refuses the whole file.
pub fn load_alerts(path: &Path) -> Result<Watchlist, String> {
    let file = File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let name = format!("alerts file {}", path.display());
    let mut lines = JsonLines::new(BufReader::new(file), &name);
    let mut list = WatchlistBuilder::new();
    while let Some((line, object)) = lines.next_object()? {
        let alert = parse_alert(&object).map_err(|(field, why)| {
            LineError {
                source_name: name.clone(),
                line,
                field,
                why,
            }
            .to_string()
        })?;
        list.insert(&alert)
            .map_err(|e| format!("{name} line {line}: {e}"))?;
    }
    Ok(list.finish())
}

/// A JSON object and the line it was read from (1-based).
type NumberedObject = (usize, Map<String, Value>);

/// JSON objects one per line; blank lines are skipped, anything else that is not an object is
/// refused with its line number.
struct JsonLines<R> {
    reader: R,
    name: String,
    line: usize,
    buffer: Vec<u8>,
}

impl<R: BufRead> JsonLines<R> {
    fn new(reader: R, name: &str) -> Self {
        JsonLines {
            reader,
            name: name.to_owned(),
            line: 0,
            buffer: Vec::new(),
        }
    }

    fn next_object(&mut self) -> Result<Option<NumberedObject>, String> {
        loop {
            self.buffer.clear();
            self.line += 1;
            let read = (&mut self.reader)
                .take(LINE_BYTES_MAX as u64 + 1)
                .read_until(b'\n', &mut self.buffer)
                .map_err(|e| format!("cannot read {}: {e}", self.name))?;
            if read == 0 {
                return Ok(None);
            }
            if self.buffer.len() > LINE_BYTES_MAX {
                return Err(format!(
                    "{} line {}: longer than {LINE_BYTES_MAX} bytes",
                    self.name, self.line
                ));
            }
            let text = std::str::from_utf8(&self.buffer).map_err(|e| {
                format!(
                    "{} line {}: not UTF-8 (byte {})",
                    self.name,
                    self.line,
                    e.valid_up_to() + 1
                )
            })?;
            if text.trim().is_empty() {
                continue;
            }
            return match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(object)) => Ok(Some((self.line, object))),
                Ok(_) => Err(format!(
                    "{} line {}: not a JSON object",
                    self.name, self.line
                )),
                Err(e) => Err(format!(
                    "{} line {}: invalid JSON at column {}: {e}",
                    self.name,
                    self.line,
                    e.column()
                )),
            };
        }
    }
}

type FieldResult<T> = Result<T, (String, String)>;

fn required_string(object: &Map<String, Value>, field: &str) -> FieldResult<String> {
    match object.get(field) {
        Some(Value::String(text)) => Ok(text.clone()),
        Some(other) => Err(bad(
            field,
            format!("expected a string, found {}", kind_of(other)),
        )),
        None => Err(bad(field, "missing")),
    }
}

fn optional_string<'a>(
    object: &'a Map<String, Value>,
    field: &str,
) -> FieldResult<Option<&'a str>> {
    match object.get(field) {
        Some(Value::String(text)) => Ok(Some(text)),
        Some(Value::Null) | None => Ok(None),
        Some(other) => Err(bad(
            field,
            format!("expected a string or null, found {}", kind_of(other)),
        )),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn birth_date(object: &Map<String, Value>) -> FieldResult<Option<BirthDate>> {
    optional_string(object, "birth_date")?
        .map(|text| text.parse::<BirthDate>())
        .transpose()
        .map_err(|e| bad("birth_date", e.to_string()))
}

fn sex(object: &Map<String, Value>) -> FieldResult<Option<Sex>> {
    match optional_string(object, "sex")? {
        Some("M") => Ok(Some(Sex::Male)),
        Some("F") => Ok(Some(Sex::Female)),
        Some("<") | None => Ok(None),
        Some(other) => Err(bad(
            "sex",
            format!("{:?} is not \"M\", \"F\", \"<\" or null", clip(other)),
        )),
    }
}

fn clip(text: &str) -> String {
    text.chars().take(40).collect()
}

fn nationality(field: &str, text: &str) -> FieldResult<String> {
    watchlist::nationality_code(text)
        .map(|_| text.to_owned())
        .ok_or_else(|| {
            bad(
                field,
                format!("{:?} is not a 3-letter ICAO 9303 code", clip(text)),
            )
        })
}

fn parse_traveller(object: &Map<String, Value>) -> FieldResult<(String, Traveller)> {
    let id = required_string(object, "id")?;
    let surname = required_string(object, "surname")?;
    let given_names = optional_string(object, "given_names")?.unwrap_or_default();
    let nationality = optional_string(object, "nationality")?
        .map(|text| nationality("nationality", text))
        .transpose()?;
    let traveller = Traveller {
        surname,
        given_names: given_names.to_owned(),
        birth_date: birth_date(object)?,
        nationality,
        sex: sex(object)?,
    };
    Ok((id, traveller))
}

fn parse_alert(object: &Map<String, Value>) -> FieldResult<PersonAlert> {
    let alert_id = required_string(object, "alert_id")?;
    if alert_id.is_empty() {
        return Err(bad("alert_id", "empty"));
    }
    let names = match object.get("names") {
        Some(Value::Array(names)) if !names.is_empty() => names,
        Some(Value::Array(_)) => return Err(bad("names", "empty: an alert needs a name")),
        Some(other) => {
            return Err(bad(
                "names",
                format!("expected an array, found {}", kind_of(other)),
            ));
        }
        None => return Err(bad("names", "missing")),
    };
    let names = names
        .iter()
        .enumerate()
        .map(|(i, name)| parse_alert_name(i, name))
        .collect::<FieldResult<Vec<_>>>()?;
    let nationalities = match object.get("nationalities") {
        Some(Value::Array(codes)) => codes
            .iter()
            .enumerate()
            .map(|(i, code)| {
                let field = format!("nationalities[{i}]");
                match code {
                    Value::String(text) => nationality(&field, text),
                    other => Err(bad(
                        &field,
                        format!("expected a string, found {}", kind_of(other)),
                    )),
                }
            })
            .collect::<FieldResult<Vec<_>>>()?,
        Some(Value::Null) | None => Vec::new(),
        Some(other) => {
            return Err(bad(
                "nationalities",
                format!("expected an array, found {}", kind_of(other)),
            ));
        }
    };
    let kind_text = required_string(object, "kind")?;
    let kind = AlertKind::from_code(&kind_text).ok_or_else(|| {
        bad(
            "kind",
            format!(
                "{:?} is not entry_ban, wanted, deported, missing_person or other",
                clip(&kind_text)
            ),
        )
    })?;
    let until = optional_string(object, "until")?
        .map(|text| {
            text.parse::<jiff::civil::Date>()
                .map_err(|e| bad("until", format!("{:?} is not YYYY-MM-DD: {e}", clip(text))))
        })
        .transpose()?;
    Ok(PersonAlert {
        alert_id,
        names,
        birth_date: birth_date(object)?,
        nationalities,
        sex: sex(object)?,
        kind,
        until,
    })
}

fn parse_alert_name(index: usize, value: &Value) -> FieldResult<AlertName> {
    let Value::Object(name) = value else {
        return Err(bad(
            &format!("names[{index}]"),
            format!("expected an object, found {}", kind_of(value)),
        ));
    };
    let prefixed = |(field, why): (String, String)| (format!("names[{index}].{field}"), why);
    let surname = required_string(name, "surname").map_err(prefixed)?;
    let given_names = optional_string(name, "given_names")
        .map_err(prefixed)?
        .unwrap_or_default()
        .to_owned();
    if watchlist::transliterate::to_mrz(&surname).is_empty()
        && watchlist::transliterate::to_mrz(&given_names).is_empty()
    {
        return Err(bad(
            &format!("names[{index}]"),
            "no letters in surname or given_names",
        ));
    }
    Ok(AlertName {
        surname,
        given_names,
    })
}
