//! `checkpointctl permit`: issuer key generation, permit signing and verification (BP1).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ed25519_dalek::SigningKey;
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use crate::core::permit::trust::IssuerKeyJson;
use crate::core::permit::{
    IssuerKey, PermitBody, PermitClaims, PermitType, PermitVerdict, RevocationList, TrustList,
    generate_permit_id, key_id, sign_permit, verify,
};

/// Exit code of an invalid permit.
const EXIT_INVALID: u8 = 1;
/// Exit code of a usage or input-file problem.
const EXIT_USAGE: u8 = 2;
/// Largest input file read (trust list, revocation list, body, key, stdin text).
const INPUT_BYTES_MAX: u64 = 16 * 1024 * 1024;
/// QR module size in pixels for `--png`.
const PNG_MODULE_PIXELS: u32 = 8;

/// Arguments of `checkpointctl permit`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands of `checkpointctl permit`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Generate an issuer key pair: writes the private key file (mode 0600) and prints a
    /// one-entry trust list (JSON) for the public key.
    Keygen(KeygenArgs),
    /// Sign a permit body (TOML or JSON file) and print its BP1 text.
    Issue(IssueArgs),
    /// Verify a BP1 text against a trust list; exit 0 valid, 1 invalid, 2 usage.
    Verify(VerifyArgs),
}

/// Arguments of `permit keygen`.
#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    /// Private key file to create (64 hex digits: the Ed25519 seed). Never overwritten.
    #[arg(long)]
    pub out: PathBuf,
    /// Start of the signing period (RFC 3339); default now.
    #[arg(long)]
    pub sign_from: Option<Timestamp>,
    /// End of the signing period (RFC 3339); default sign_from + 365 days.
    #[arg(long)]
    pub sign_until: Option<Timestamp>,
    /// End of the verification period (RFC 3339); default sign_until + 5 years.
    #[arg(long)]
    pub verify_until: Option<Timestamp>,
    /// Permit types the key may sign (repeatable); default every type.
    #[arg(long, value_parser = parse_permit_type)]
    pub permitted: Vec<PermitType>,
}

/// Arguments of `permit issue`.
#[derive(Debug, clap::Args)]
pub struct IssueArgs {
    /// Private key file written by `permit keygen`.
    #[arg(long)]
    pub key: PathBuf,
    /// Permit body: a `.toml` file, or JSON otherwise (fields in docs/bp1.md §5).
    #[arg(long)]
    pub body: PathBuf,
    /// Issuer (claim 1 `iss`).
    #[arg(long, default_value = "central")]
    pub iss: String,
    /// Permit id, 32 hex digits (claim 7 `cti`); default random.
    #[arg(long)]
    pub cti: Option<String>,
    /// Issued at (RFC 3339); default now.
    #[arg(long)]
    pub iat: Option<Timestamp>,
    /// Not before (RFC 3339); default the body's `from` day at 00:00:00 UTC.
    #[arg(long)]
    pub nbf: Option<Timestamp>,
    /// Expires (RFC 3339); default the body's `until` day at 23:59:59 UTC.
    #[arg(long)]
    pub exp: Option<Timestamp>,
    /// Also write the QR code as a PNG image here.
    #[arg(long)]
    pub png: Option<PathBuf>,
}

/// Arguments of `permit verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Trust-list JSON file (docs/bp1.md §7).
    #[arg(long)]
    pub trust: PathBuf,
    /// Revoked permit ids: one 32-hex-digit cti per line (`#` comments) or a JSON array.
    #[arg(long)]
    pub revoked: Option<PathBuf>,
    /// Verify as of this instant (RFC 3339); default now.
    #[arg(long)]
    pub at: Option<Timestamp>,
    /// Clock-skew allowance in seconds for nbf, exp and iat.
    #[arg(long, default_value_t = 300)]
    pub skew_seconds: i64,
    /// Print the verdict as JSON.
    #[arg(long)]
    pub json: bool,
    /// The BP1 text, or `-` to read it from stdin.
    pub text: String,
}

fn parse_permit_type(text: &str) -> Result<PermitType, String> {
    PermitType::ALL
        .into_iter()
        .find(|permit_type| permit_type.code() == text)
        .ok_or_else(|| {
            let codes: Vec<&str> = PermitType::ALL.iter().map(|t| t.code()).collect();
            format!(
                "unknown permit type {text:?}; expected one of {}",
                codes.join(", ")
            )
        })
}

/// Runs the subcommand.
pub fn run(args: Args) -> ExitCode {
    let outcome = match args.command {
        Command::Keygen(args) => keygen(args),
        Command::Issue(args) => issue(args),
        Command::Verify(args) => verify_command(args),
    };
    match outcome {
        Ok(code) => code,
        Err(message) => {
            eprintln!("checkpointctl permit: {message}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn keygen(args: KeygenArgs) -> Result<ExitCode, String> {
    let signing_key = SigningKey::generate(&mut rand::rngs::OsRng);
    let verifying_key = signing_key.verifying_key();
    let sign_from = args.sign_from.unwrap_or_else(Timestamp::now);
    let sign_until = match args.sign_until {
        Some(at) => at,
        None => add_hours(sign_from, 365 * 24)?,
    };
    let verify_until = match args.verify_until {
        Some(at) => at,
        None => add_hours(sign_until, 5 * 365 * 24)?,
    };
    let entry = IssuerKey {
        kid: key_id(&verifying_key),
        public_key: verifying_key.to_bytes(),
        sign_from,
        sign_until,
        verify_until,
        permitted: args.permitted,
    };
    // Loading it checks the periods the same way a terminal will.
    TrustList::new(vec![entry.clone()]).map_err(|err| err.to_string())?;
    write_private_key(&args.out, &signing_key)?;
    let trust = vec![IssuerKeyJson::from_issuer_key(&entry)];
    let text = serde_json::to_string_pretty(&trust).map_err(|err| err.to_string())?;
    println!("{text}");
    Ok(ExitCode::SUCCESS)
}

fn add_hours(at: Timestamp, hours: i64) -> Result<Timestamp, String> {
    at.checked_add(SignedDuration::from_hours(hours))
        .map_err(|err| format!("period end out of range: {err}"))
}

#[cfg(unix)]
fn create_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn create_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

fn write_private_key(path: &Path, signing_key: &SigningKey) -> Result<(), String> {
    let mut file = create_private_file(path)
        .map_err(|err| format!("cannot create key file {}: {err}", path.display()))?;
    writeln!(file, "{}", hex::encode(signing_key.to_bytes()))
        .and_then(|()| file.sync_all())
        .map_err(|err| format!("cannot write key file {}: {err}", path.display()))
}

fn read_input(path: &Path) -> Result<String, String> {
    let file = std::fs::File::open(path)
        .map_err(|err| format!("cannot open {}: {err}", path.display()))?;
    let mut text = String::new();
    file.take(INPUT_BYTES_MAX)
        .read_to_string(&mut text)
        .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    Ok(text)
}

fn read_signing_key(path: &Path) -> Result<SigningKey, String> {
    let text = read_input(path)?;
    let seed: [u8; 32] = hex::decode(text.trim())
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| format!("{}: key file must hold 64 hex digits", path.display()))?;
    Ok(SigningKey::from_bytes(&seed))
}

fn issue(args: IssueArgs) -> Result<ExitCode, String> {
    let signing_key = read_signing_key(&args.key)?;
    let body_text = read_input(&args.body)?;
    let is_toml = args
        .body
        .extension()
        .is_some_and(|extension| extension.eq_ignore_ascii_case("toml"));
    let body: PermitBody = if is_toml {
        toml::from_str(&body_text).map_err(|err| format!("{}: {err}", args.body.display()))?
    } else {
        serde_json::from_str(&body_text).map_err(|err| format!("{}: {err}", args.body.display()))?
    };
    body.validate()
        .map_err(|err| format!("{}: {err}", args.body.display()))?;
    let permit_id = match &args.cti {
        Some(text) => hex::decode(text)
            .ok()
            .and_then(|bytes| <[u8; 16]>::try_from(bytes).ok())
            .ok_or("--cti must be 32 hex digits")?,
        None => generate_permit_id(&mut rand::rngs::OsRng),
    };
    let not_before = match args.nbf {
        Some(at) => at,
        None => day_start_utc(body.valid_from)?,
    };
    let expires_at = match args.exp {
        Some(at) => at,
        None => day_end_utc(body.valid_until)?,
    };
    if expires_at < not_before {
        return Err("exp is before nbf".into());
    }
    let claims = PermitClaims {
        issuer: args.iss,
        issued_at: args.iat.unwrap_or_else(Timestamp::now),
        not_before,
        expires_at,
        permit_id,
    };
    let kid = key_id(&signing_key.verifying_key());
    let text = sign_permit(&body, &claims, &signing_key, kid);
    if let Some(path) = &args.png {
        write_png(&text, path)?;
    }
    println!("{text}");
    Ok(ExitCode::SUCCESS)
}

fn day_start_utc(date: jiff::civil::Date) -> Result<Timestamp, String> {
    date.to_zoned(jiff::tz::TimeZone::UTC)
        .map(|zoned| zoned.timestamp())
        .map_err(|err| format!("date {date} out of range: {err}"))
}

fn day_end_utc(date: jiff::civil::Date) -> Result<Timestamp, String> {
    date.at(23, 59, 59, 0)
        .to_zoned(jiff::tz::TimeZone::UTC)
        .map(|zoned| zoned.timestamp())
        .map_err(|err| format!("date {date} out of range: {err}"))
}

fn write_png(text: &str, path: &Path) -> Result<(), String> {
    // ECC level Q, as HC1 uses: survives a worn card.
    let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::Q)
        .map_err(|err| format!("cannot build a QR code: {err}"))?;
    let image = code
        .render::<image::Luma<u8>>()
        .module_dimensions(PNG_MODULE_PIXELS, PNG_MODULE_PIXELS)
        .build();
    image
        .save_with_format(path, image::ImageFormat::Png)
        .map_err(|err| format!("cannot write {}: {err}", path.display()))
}

fn read_revocations(path: &Path) -> Result<RevocationList, String> {
    let text = read_input(path)?;
    let entries: Vec<String> = if text.trim_start().starts_with('[') {
        serde_json::from_str(&text).map_err(|err| format!("{}: {err}", path.display()))?
    } else {
        text.lines()
            .map(|line| line.split('#').next().unwrap_or("").trim().to_owned())
            .filter(|line| !line.is_empty())
            .collect()
    };
    let mut list = RevocationList::default();
    for entry in entries {
        let cti: [u8; 16] = hex::decode(&entry)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| format!("{}: {entry:?} is not 32 hex digits", path.display()))?;
        list.0.insert(cti);
    }
    Ok(list)
}

fn verify_command(args: VerifyArgs) -> Result<ExitCode, String> {
    let trust_text = read_input(&args.trust)?;
    let trust = TrustList::from_json(&trust_text)
        .map_err(|err| format!("{}: {err}", args.trust.display()))?;
    let revocations = match &args.revoked {
        Some(path) => read_revocations(path)?,
        None => RevocationList::default(),
    };
    let text = if args.text == "-" {
        let mut text = String::new();
        std::io::stdin()
            .take(INPUT_BYTES_MAX)
            .read_to_string(&mut text)
            .map_err(|err| format!("cannot read stdin: {err}"))?;
        text
    } else {
        args.text
    };
    let now = args.at.unwrap_or_else(Timestamp::now);
    let skew = SignedDuration::from_secs(args.skew_seconds.max(0));
    let verdict = verify(text.trim(), &trust, &revocations, now, skew);
    if args.json {
        println!("{}", verdict_json(&verdict));
    } else {
        println!("{}", verdict_text(&verdict));
    }
    Ok(match verdict {
        PermitVerdict::Valid(_) => ExitCode::SUCCESS,
        PermitVerdict::Invalid { .. } => ExitCode::from(EXIT_INVALID),
    })
}

fn verdict_json(verdict: &PermitVerdict) -> serde_json::Value {
    match verdict {
        PermitVerdict::Valid(permit) => json!({
            "valid": true,
            "code": verdict.code(),
            "message": "The permit is valid.",
            "permit": {
                "kid": hex::encode(permit.kid),
                "cti": hex::encode(permit.claims.permit_id),
                "iss": permit.claims.issuer,
                "iat": permit.claims.issued_at.to_string(),
                "nbf": permit.claims.not_before.to_string(),
                "exp": permit.claims.expires_at.to_string(),
                "body": permit.body,
            },
        }),
        PermitVerdict::Invalid { message, .. } => json!({
            "valid": false,
            "code": verdict.code(),
            "message": message,
            "permit": null,
        }),
    }
}

fn verdict_text(verdict: &PermitVerdict) -> String {
    match verdict {
        PermitVerdict::Valid(permit) => {
            let body = &permit.body;
            format!(
                "VALID {} for {} document {} (holder {}), {} to {}, permit id {}, kid {}",
                body.permit_type.code(),
                body.holder.issuing_state,
                body.holder.document_number,
                body.holder.name,
                body.valid_from,
                body.valid_until,
                hex::encode(permit.claims.permit_id),
                hex::encode(permit.kid),
            )
        }
        PermitVerdict::Invalid { reason, message } => {
            format!("INVALID {}: {message}", reason.code())
        }
    }
}
