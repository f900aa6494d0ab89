//! `checkpointctl central <report>`: asks the running `checkpoint-central` for a report over its
//! loopback HTTP API with the operator token, and prints the JSON.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;

use crate::core::document::HolderDigest;
use crate::core::mrz::{self, Mode, ParseOptions};

/// Arguments of `checkpointctl central`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The report: present, overstayers, history, traffic, health, anomalies.
    report: String,
    /// Day of the `present` and `overstayers` reports (YYYY-MM-DD).
    #[arg(long)]
    date: Option<String>,
    /// First day of the `traffic` report.
    #[arg(long)]
    from: Option<String>,
    /// Last day of the `traffic` report.
    #[arg(long)]
    to: Option<String>,
    /// The document of the `history` report, as `STATE:NUMBER` (`GEO:GE7777777`).
    #[arg(long, conflicts_with = "mrz")]
    document: Option<String>,
    /// The document of the `history` report, as a file holding its machine-readable zone.
    #[arg(long)]
    mrz: Option<PathBuf>,
    /// Most anomalies listed.
    #[arg(long)]
    limit: Option<u32>,
    /// Print the report as one JSON document (the default prints it indented).
    #[arg(long)]
    json: bool,
    /// The service's HTTP API.
    #[arg(long, default_value = "http://127.0.0.1:8480")]
    url: String,
    /// File holding the operator token.
    #[arg(long, default_value = "/etc/checkpoint-central/operator.token")]
    token_file: PathBuf,
}

/// Runs the subcommand: 0 with the report on stdout, 1 if the service refused or failed, 2 for
/// bad arguments.
pub fn run(args: Args) -> ExitCode {
    let query = match query(&args) {
        Ok(query) => query,
        Err(message) => {
            eprintln!("central: {message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("central: cannot start runtime: {error}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(fetch(&args, &query)) {
        Ok(value) => {
            let text = if args.json {
                value.to_string()
            } else {
                serde_json::to_string_pretty(&value).unwrap_or_else(|_| value.to_string())
            };
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("central: {message}");
            ExitCode::from(1)
        }
    }
}

/// The request path and query for the report.
fn query(args: &Args) -> Result<String, String> {
    let mut params = Vec::new();
    for (key, value) in [("date", &args.date), ("from", &args.from), ("to", &args.to)] {
        if let Some(value) = value {
            value
                .parse::<jiff::civil::Date>()
                .map_err(|e| format!("--{key} {value}: {e}"))?;
            params.push(format!("{key}={value}"));
        }
    }
    if let Some(limit) = args.limit {
        params.push(format!("limit={limit}"));
    }
    if args.report == "history" {
        // The document number never travels: the API takes the holder digest.
        params.push(format!("holder={}", hex::encode(holder(args)?.0)));
    }
    if !args
        .report
        .chars()
        .all(|c| c.is_ascii_lowercase() || c == '_')
    {
        return Err(format!("report `{}`: not a report name", args.report));
    }
    Ok(format!(
        "/api/v1/reports/{}?{}",
        args.report,
        params.join("&")
    ))
}

/// The holder digest of `--document` or `--mrz`, computed here as the terminals compute it.
pub fn holder(args: &Args) -> Result<HolderDigest, String> {
    if let Some(document) = &args.document {
        return document_holder(document);
    }
    let path = args
        .mrz
        .as_ref()
        .ok_or("history needs --document STATE:NUMBER or --mrz FILE")?;
    mrz_holder(path)
}

/// `STATE:NUMBER` to the holder digest.
pub fn document_holder(document: &str) -> Result<HolderDigest, String> {
    let (state, number) = document
        .split_once(':')
        .ok_or("--document: want STATE:NUMBER (GEO:GE7777777)")?;
    let valid = |text: &str, max: usize| {
        !text.is_empty()
            && text.len() <= max
            && text
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    };
    if !valid(state, 3) || !valid(number, 30) {
        return Err(
            "--document: the state is 1-3 and the number 1-30 upper-case letters or digits".into(),
        );
    }
    Ok(HolderDigest::of(state, number))
}

/// A file's MRZ to the holder digest (strict reading; the document number's check digit must
/// verify).
pub fn mrz_holder(path: &Path) -> Result<HolderDigest, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let options = ParseOptions {
        mode: Mode::Strict,
        reference_date: jiff::civil::date(2000, 1, 1),
        french_national_id: false,
    };
    let report = mrz::parse(&text, &options);
    let key = report.document_key().ok_or_else(|| {
        format!(
            "{}: no document number with a verified check digit in this MRZ",
            path.display()
        )
    })?;
    Ok(key.holder_digest())
}

async fn fetch(args: &Args, path_and_query: &str) -> Result<serde_json::Value, String> {
    let address: SocketAddr = args
        .url
        .strip_prefix("http://")
        .map(|rest| rest.trim_end_matches('/'))
        .and_then(|rest| rest.parse().ok())
        .ok_or_else(|| format!("--url {}: want http://<loopback address>:<port>", args.url))?;
    if !address.ip().is_loopback() {
        return Err(format!(
            "--url {}: the API is served on loopback only",
            args.url
        ));
    }
    let token = read_token(&args.token_file)?;
    let stream = tokio::net::TcpStream::connect(address)
        .await
        .map_err(|e| format!("connect {address}: {e}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("http: {e}"))?;
    tokio::spawn(connection);
    let request = hyper::Request::get(path_and_query)
        .header(hyper::header::HOST, address.to_string())
        .header(hyper::header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("request: {e}"))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("http: {e}"))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("http body: {e}"))?
        .to_bytes();
    let value: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| format!("answer is not JSON ({status}): {e}"))?;
    if !status.is_success() {
        let message = value
            .get("error")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("no reason given");
        return Err(format!("{status}: {message}"));
    }
    Ok(value)
}

fn read_token(path: &Path) -> Result<String, String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(format!(
            "{}: readable by group or others; chmod 600 it",
            path.display()
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(text.trim().to_string())
}
