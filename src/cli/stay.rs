//! `checkpointctl stay`: stay-limit figures, as JSON, for one rule (`--rule FILE`) or for a
//! nationality under the configured policy (`--nationality … --history … --on …`).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use jiff::civil::Date;
use serde::Deserialize;

use crate::core::stay::{self, GroundOfStay, Movement, StayAssessment, StayPolicy, StayRule};

/// The stay rules shipped with the software, used when `--rules` is not given.
pub const SHIPPED_STAY_RULES: &str = include_str!("../../firmware-config/stay-rules.toml");

/// Largest input file read, so a wrong path (a device, a huge log) cannot exhaust memory.
pub const STAY_INPUT_BYTES_MAX: u64 = 16 * 1024 * 1024;

/// Exit code for bad input (unreadable file, malformed JSON, invalid rule or date).
const EXIT_BAD_INPUT: u8 = 2;

/// Arguments of `checkpointctl stay`.
#[derive(Debug, clap::Args)]
#[command(group(
    clap::ArgGroup::new("mode").required(true).args(["rule", "nationality"])
))]
pub struct Args {
    /// Evaluate one rule: read {"rule", "movements", "check_date"} from FILE ("-" for stdin)
    /// and print the figures as JSON.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["nationality", "history", "on", "rules"])]
    pub rule: Option<String>,
    /// ICAO 9303 nationality code of the traveller, e.g. RUS.
    #[arg(long, value_name = "CODE", requires_all = ["history", "on"])]
    pub nationality: Option<String>,
    /// Movement history: a JSON array of {"date", "dir"}, or {"movements": [...],
    /// "grounds": [...]} ("-" for stdin).
    #[arg(long, value_name = "FILE")]
    pub history: Option<String>,
    /// Check date, YYYY-MM-DD (a civil date in the checkpoint's time zone).
    #[arg(long, value_name = "DATE")]
    pub on: Option<String>,
    /// Stay rules file; the shipped firmware-config/stay-rules.toml when omitted.
    #[arg(long, value_name = "PATH")]
    pub rules: Option<PathBuf>,
}

/// Input of `--rule`, exactly the documented contract.
#[derive(Debug, Deserialize)]
struct RuleRequest {
    rule: StayRule,
    movements: Vec<Movement>,
    check_date: Date,
}

/// Input of `--history`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum History {
    Movements(Vec<Movement>),
    WithGrounds {
        movements: Vec<Movement>,
        #[serde(default)]
        grounds: Vec<GroundOfStay>,
    },
}

/// Why the command could not run.
#[derive(Debug, thiserror::Error)]
enum StayCliError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is larger than {max} bytes")]
    TooLarge { path: String, max: u64 },
    #[error("invalid input in {path}: {source}")]
    Json {
        path: String,
        source: serde_json::Error,
    },
    #[error("invalid --on date {text:?}: {source}")]
    Date { text: String, source: jiff::Error },
    #[error("invalid stay rules in {path}: {source}")]
    Policy {
        path: String,
        source: stay::StayPolicyError,
    },
    #[error("cannot write output: {0}")]
    Output(serde_json::Error),
}

/// Runs the subcommand.
pub fn run(args: Args) -> ExitCode {
    let outcome = match (&args.rule, &args.nationality) {
        (Some(path), _) => run_rule(path),
        (None, Some(nationality)) => run_policy(nationality, &args),
        // clap's required "mode" group makes this unreachable; answer as bad input anyway.
        (None, None) => Err(StayCliError::Read {
            path: "(none)".to_owned(),
            source: std::io::Error::other("give --rule FILE or --nationality"),
        }),
    };
    match outcome {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("checkpointctl stay: {error}");
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

fn run_rule(path: &str) -> Result<String, StayCliError> {
    let text = read_input(path)?;
    let request: RuleRequest =
        serde_json::from_str(&text).map_err(|source| StayCliError::Json {
            path: path.to_owned(),
            source,
        })?;
    let figures = stay::evaluate(&request.rule, &request.movements, request.check_date);
    serde_json::to_string(&figures).map_err(StayCliError::Output)
}

fn run_policy(nationality: &str, args: &Args) -> Result<String, StayCliError> {
    let history_path = args.history.as_deref().unwrap_or("-");
    let on_text = args.on.as_deref().unwrap_or_default();
    let check_date: Date = on_text.parse().map_err(|source| StayCliError::Date {
        text: on_text.to_owned(),
        source,
    })?;
    let (rules_label, rules_text) = match &args.rules {
        Some(path) => (path.display().to_string(), read_file(path)?),
        None => (
            "shipped stay-rules.toml".to_owned(),
            SHIPPED_STAY_RULES.to_owned(),
        ),
    };
    let policy = StayPolicy::from_toml(&rules_text).map_err(|source| StayCliError::Policy {
        path: rules_label,
        source,
    })?;
    let history_text = read_input(history_path)?;
    let history: History =
        serde_json::from_str(&history_text).map_err(|source| StayCliError::Json {
            path: history_path.to_owned(),
            source,
        })?;
    let (movements, grounds) = match history {
        History::Movements(movements) => (movements, Vec::new()),
        History::WithGrounds { movements, grounds } => (movements, grounds),
    };
    let assessment = policy.assess(nationality, &movements, &grounds, check_date);
    Ok(render(&assessment))
}

fn render(assessment: &StayAssessment) -> String {
    let latest = assessment.latest_legal_exit.map_or_else(
        || "none (limit already exceeded)".to_owned(),
        |date| date.to_string(),
    );
    let mut lines = vec![
        format!(
            "nationality {} on {}",
            assessment.nationality, assessment.check_date
        ),
        format!("days used: {}", assessment.days_used),
        format!("days remaining: {}", assessment.days_remaining),
        format!("overstay days: {}", assessment.overstay_days),
        format!("latest legal exit: {latest}"),
    ];
    if let Some(binding) = &assessment.binding_rule {
        lines.push(format!("binding rule: {binding}"));
    }
    for rule in &assessment.rules {
        lines.push(format!("rule {}: {}", rule.name, rule.figures.explanation));
    }
    if let Some(registration) = assessment.registration
        && let Some(since) = registration.overdue_since
    {
        lines.push(format!("registration overdue since {since}"));
    }
    if let Some(abroad) = assessment.residence_abroad
        && abroad.flagged
    {
        lines.push(format!(
            "residence permit holder abroad {} days since {}",
            abroad.days_abroad, abroad.window_first
        ));
    }
    for flag in &assessment.flags {
        lines.push(format!("flag: {flag:?}"));
    }
    lines.push(format!("explanation: {}", assessment.explanation));
    lines.join("\n")
}

fn read_input(path: &str) -> Result<String, StayCliError> {
    if path == "-" {
        let mut text = String::new();
        std::io::stdin()
            .take(STAY_INPUT_BYTES_MAX + 1)
            .read_to_string(&mut text)
            .map_err(|source| StayCliError::Read {
                path: "stdin".to_owned(),
                source,
            })?;
        check_size("stdin", text.len())?;
        Ok(text)
    } else {
        read_file(Path::new(path))
    }
}

fn read_file(path: &Path) -> Result<String, StayCliError> {
    let label = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| StayCliError::Read {
        path: label.clone(),
        source,
    })?;
    let mut text = String::new();
    file.take(STAY_INPUT_BYTES_MAX + 1)
        .read_to_string(&mut text)
        .map_err(|source| StayCliError::Read {
            path: label.clone(),
            source,
        })?;
    check_size(&label, text.len())?;
    Ok(text)
}

fn check_size(label: &str, len: usize) -> Result<(), StayCliError> {
    if u64::try_from(len).unwrap_or(u64::MAX) > STAY_INPUT_BYTES_MAX {
        return Err(StayCliError::TooLarge {
            path: label.to_owned(),
            max: STAY_INPUT_BYTES_MAX,
        });
    }
    Ok(())
}
