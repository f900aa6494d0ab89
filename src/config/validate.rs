//! From text to [`Config`]: serde for shape and types, then checks of meaning and of the files
//! the configuration names. Problems are collected, never returned one at a time.

use std::collections::BTreeSet;
use std::io::Read;
use std::net::SocketAddr;
use std::num::{NonZeroU64, NonZeroUsize};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use ed25519_dalek::{SigningKey, VerifyingKey};
use toml::Spanned;

use super::raw::{
    RawApi, RawCheckpoint, RawConfig, RawDevice, RawGate, RawKeys, RawLane, RawLedger, RawLimits,
    RawRetention, RawUpstream,
};
use super::{
    Api, ApiToken, Checkpoint, Config, ConfigError, Connection, Device, Gate, GateProfile, HttpApi,
    Keys, Lane, Ledger, Limits, LoadOptions, Mode, Problem, Problems, Retention, TerminalKey,
    Upstream, WatchlistThreshold,
};

/// Serde stops at the first problem; after each one the offending line is blanked and the text
/// read again, at most this many times, so one file reports many problems.
#[path = "transport.rs"]
mod transport;

const SERDE_PASSES_MAX: usize = 64;
/// Longest checkpoint id: it is stamped on every crossing record.
const CHECKPOINT_ID_CHARS_MAX: usize = 32;
/// Accepted range of scanner frame sizes: an MRZ is 90 bytes, a permit QR payload a few KiB.
const SCAN_FRAME_BYTES_RANGE: std::ops::RangeInclusive<u64> = 16..=65_536;
/// Accepted range of the graceful-stop bound; the unit's TimeoutStopSec must stay above it.
const SHUTDOWN_GRACE_MS_RANGE: std::ops::RangeInclusive<u64> = 100..=20_000;
/// Accepted range of the ledger flush interval.
/// Accepted range of the ledger page cache.
const CACHE_CAPACITY_BYTES_RANGE: std::ops::RangeInclusive<u64> = (1 << 20)..=(16 << 30);
/// Accepted range of the traveller-session window: a few seconds between a passport and a
/// permit card, at most a slow officer's pause.
/// Officer session idle timeout, seconds.
const SESSION_IDLE_TIMEOUT_S_RANGE: std::ops::RangeInclusive<u64> = 30..=28_800;
/// Officer session idle timeout when `[api]` does not set it.
const SESSION_IDLE_TIMEOUT_S_DEFAULT: u64 = 600;
/// Window of failed sign-ins and lock-out length, seconds.
const SIGN_IN_LOCKOUT_S_RANGE: std::ops::RangeInclusive<u64> = 1..=86_400;
/// The sign-in lock-out window when `[api]` does not set it (15 minutes).
const SIGN_IN_LOCKOUT_S_DEFAULT: u64 = 900;
const SESSION_WINDOW_MS_RANGE: std::ops::RangeInclusive<u64> = 1_000..=600_000;
/// Accepted range of the ledger staleness limit: a minute to 30 days.
const LEDGER_STALE_AFTER_S_RANGE: std::ops::RangeInclusive<u64> = 60..=2_592_000;
/// Accepted range of the backwards clock step tolerated before the clock is flagged.
const CLOCK_BACKWARDS_TOLERANCE_MS_RANGE: std::ops::RangeInclusive<u64> = 0..=60_000;
/// Accepted range of the JetStream duplicate window: at least an hour, at most 30 days.
const DUPLICATE_WINDOW_HOURS_RANGE: std::ops::RangeInclusive<u64> = 1..=720;
/// Accepted range of the heartbeat interval.
const HEARTBEAT_EVERY_S_RANGE: std::ops::RangeInclusive<u64> = 1..=3_600;
/// The longest stay window a rule may count over: a calendar-year rule reaches back up to 366
/// days (a rolling 90/180 rule only 180), so movements must be kept at least that long.
pub(super) const STAY_WINDOW_DAYS_LONGEST: u64 = 366;
/// Accepted range of the prune interval, seconds, and its default.
const PRUNE_EVERY_S_RANGE: std::ops::RangeInclusive<u64> = 1..=86_400;
const PRUNE_EVERY_S_DEFAULT: u64 = 3_600;
/// Accepted range of movement retention: the longest stay window to ten years.
const MOVEMENT_DAYS_RANGE: std::ops::RangeInclusive<u64> = STAY_WINDOW_DAYS_LONGEST..=3_653;
/// Shortest API token: shorter ones can be guessed.
const API_TOKEN_CHARS_MIN: usize = 16;
/// Largest key or token file read; anything longer is not one.
const SECRET_FILE_BYTES_MAX: u64 = 4096;
/// Hex characters of an Ed25519 public key or secret seed (32 bytes).
const KEY_HEX_CHARS: usize = 64;

/// Parses and validates configuration `text` read from `path`. Relative paths in it are resolved
/// against `path`'s directory, and the files it names are checked to exist and be readable.
pub fn parse(text: &str, path: &Path, options: &LoadOptions) -> Result<Config, ConfigError> {
    let mut report = Report::new(text);
    let config =
        read_raw(text, &mut report).and_then(|raw| validate(raw, path, options, &mut report));
    match config {
        Some(config) if report.problems.is_empty() => Ok(config),
        _ => Err(ConfigError::Invalid(report.into_problems(path))),
    }
}

/// Problems by byte offset, plus the keys already reported by serde (so a key blanked for a wrong
/// type is not reported again as missing).
pub(super) struct Report<'t> {
    text: &'t str,
    problems: Vec<(usize, String)>,
    blanked_keys: BTreeSet<String>,
}

impl<'t> Report<'t> {
    fn new(text: &'t str) -> Self {
        Self {
            text,
            problems: Vec::new(),
            blanked_keys: BTreeSet::new(),
        }
    }

    pub(super) fn at(&mut self, offset: usize, message: impl Into<String>) {
        self.problems.push((offset, message.into()));
    }

    fn missing(&mut self, offset: usize, table: &str, key: &str, expected: &str) {
        if self.blanked_keys.contains(key) {
            return;
        }
        let dotted = if table.is_empty() {
            key.to_string()
        } else {
            format!("{table}.{key}")
        };
        self.at(
            offset,
            format!("missing key `{dotted}`: expected {expected}"),
        );
    }

    /// The value of a required key, or a "missing" problem at the table.
    pub(super) fn required<'v, T>(
        &mut self,
        value: &'v Option<Spanned<T>>,
        table_offset: usize,
        table: &str,
        key: &str,
        expected: &str,
    ) -> Option<&'v Spanned<T>> {
        if value.is_none() {
            self.missing(table_offset, table, key, expected);
        }
        value.as_ref()
    }

    fn into_problems(mut self, path: &Path) -> Problems {
        self.problems.sort_by_key(|(offset, _)| *offset);
        let problems = self
            .problems
            .iter()
            .map(|(offset, message)| {
                let (line, column) = line_column(self.text, *offset);
                Problem {
                    line,
                    column,
                    message: message.clone(),
                }
            })
            .collect();
        Problems {
            path: path.to_path_buf(),
            problems,
        }
    }
}

/// 1-based line and column (in characters) of a byte offset; offsets past the end or inside a
/// character are moved back to the nearest character start.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |index| index + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Syntax first: after a syntax error the typed reading would only add noise (every key of a
/// broken table "missing"), so it runs only on text that parses.
fn read_raw(text: &str, report: &mut Report<'_>) -> Option<RawConfig> {
    let n_problems = report.problems.len();
    let mut syntax_checked = text.to_string();
    read_with_recovery::<toml::Table>(&mut syntax_checked, report);
    if report.problems.len() > n_problems {
        return None;
    }
    read_with_recovery::<RawConfig>(&mut text.to_string(), report)
}

/// Reads `working` as `T`; after each error, reports it, blanks its line and tries again.
fn read_with_recovery<T: serde::de::DeserializeOwned>(
    working: &mut String,
    report: &mut Report<'_>,
) -> Option<T> {
    for _ in 0..SERDE_PASSES_MAX {
        match toml::from_str::<T>(working) {
            Ok(value) => return Some(value),
            Err(error) => {
                let message = error.message().trim().replace('\n', " ");
                let Some(span) = error.span() else {
                    report.at(0, message);
                    return None;
                };
                report.at(span.start, message);
                match blank_culprit(working, span.start) {
                    Some(key) => {
                        report.blanked_keys.insert(key);
                    }
                    None => return None,
                }
            }
        }
    }
    None
}

/// Blanks the line holding `offset` (a whole table if it is a table header) so the next pass
/// reads past it, keeping byte offsets. Returns the blanked key, or `None` when the line cannot
/// be blanked safely (a multi-line value, or nothing left to blank).
fn blank_culprit(working: &mut String, offset: usize) -> Option<String> {
    if offset > working.len() || !working.is_char_boundary(offset) {
        return None;
    }
    let line_start = working[..offset].rfind('\n').map_or(0, |index| index + 1);
    let line_end = working[offset..]
        .find('\n')
        .map_or(working.len(), |index| offset + index);
    let line = &working[line_start..line_end];
    let trimmed = line.trim();
    let (key, end) = if trimmed.starts_with('[') {
        // A bad table header: its keys would otherwise land in the previous table.
        let key = trimmed
            .trim_matches(|c| c == '[' || c == ']')
            .trim()
            .to_string();
        let section_end = next_header_start(working, line_end);
        (key, section_end)
    } else if let Some((key, value)) = line.split_once('=') {
        let balanced = value.matches('[').count() == value.matches(']').count()
            && value.matches('{').count() == value.matches('}').count()
            && !value.contains("\"\"\"")
            && !value.contains("'''");
        if !balanced {
            return None;
        }
        (key.trim().trim_matches('"').to_string(), line_end)
    } else {
        return None;
    };
    if working[line_start..end].trim().is_empty() {
        return None;
    }
    let blank: String = working[line_start..end]
        .chars()
        .map(|c| {
            if c == '\n' {
                "\n".to_string()
            } else {
                " ".repeat(c.len_utf8())
            }
        })
        .collect();
    working.replace_range(line_start..end, &blank);
    Some(key)
}

/// Byte offset of the start of the next line (after `from`) that opens a table, or the end.
fn next_header_start(text: &str, from: usize) -> usize {
    let mut position = from;
    for line in text[from..].split_inclusive('\n') {
        if position > from && line.trim_start().starts_with('[') {
            return position;
        }
        position += line.len();
    }
    text.len()
}

fn validate(
    raw: RawConfig,
    path: &Path,
    options: &LoadOptions,
    report: &mut Report<'_>,
) -> Option<Config> {
    let config_dir = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));

    let checkpoint = required_table(
        &raw.checkpoint,
        "checkpoint",
        "a [checkpoint] table",
        report,
        checkpoint,
    );
    let data_dir = report
        .required(&raw.data_dir, 0, "", "data_dir", "a directory path")
        .and_then(|value| path_value(value, config_dir, report));
    let rules_file = report
        .required(&raw.rules_file, 0, "", "rules_file", "a file path")
        .and_then(|value| rules_file(value, config_dir, report));
    let devices_dir = match (&options.devices_dir, &raw.devices_dir) {
        (Some(dir), _) => Some(dir.clone()),
        (None, Some(value)) => path_value(value, config_dir, report),
        // The same default as `checkpointctl devices` (`/etc/checkpointd/devices`).
        (None, None) => Some(config_dir.join("devices")),
    };
    let devices = devices_dir
        .as_deref()
        .map(|dir| devices(&raw.devices, dir, report));
    let chip_reader = super::chip::chip_reader(&raw.devices, report);
    let ledger = required_table(&raw.ledger, "ledger", "a [ledger] table", report, ledger);
    let upstream = required_table(
        &raw.upstream,
        "upstream",
        "an [upstream] table",
        report,
        |table, report| upstream(table, config_dir, report),
    );
    let keys = required_table(
        &raw.keys,
        "keys",
        "a [keys] table",
        report,
        |table, report| keys(table, config_dir, report),
    );
    let limits = required_table(&raw.limits, "limits", "a [limits] table", report, limits);
    let lane = required_table(&raw.lane, "lane", "a [lane] table", report, lane);
    let api = required_table(
        &raw.api,
        "api",
        "an [api] table",
        report,
        |table, report| api(table, config_dir, report),
    );
    let gate = gate_for_mode(&raw, devices_dir.as_deref(), report);
    let retention = required_table(
        &raw.retention,
        "retention",
        "a [retention] table",
        report,
        retention,
    );
    Some(Config {
        source: path.to_path_buf(),
        checkpoint: checkpoint?,
        data_dir: data_dir?,
        devices_dir: devices_dir?,
        devices: devices??,
        ledger: ledger?,
        upstream: upstream?,
        keys: keys?,
        rules_file: rules_file?,
        limits: limits?,
        lane: lane?,
        api: api?,
        gate: gate?,
        retention: retention?,
        chip_reader: chip_reader?,
    })
}

/// The `[gate]` table, which kiosk mode requires and officer mode forbids; `Some(None)` for an
/// officer terminal without one.
fn gate_for_mode(
    raw: &RawConfig,
    devices_dir: Option<&Path>,
    report: &mut Report<'_>,
) -> Option<Option<Gate>> {
    let mode = raw
        .checkpoint
        .as_ref()
        .and_then(|table| table.get_ref().mode.as_ref());
    match (mode, &raw.gate) {
        (Some(mode), None) if *mode.get_ref() == Mode::Kiosk => {
            report.at(
                mode.span().start,
                "mode = \"kiosk\" needs a [gate] table (profile and port of the gate it opens)",
            );
            None
        }
        (Some(mode), Some(table)) if *mode.get_ref() == Mode::Officer => {
            report.at(
                table.span().start,
                "[gate] is for kiosk mode only: remove it or set checkpoint.mode = \"kiosk\"",
            );
            None
        }
        (Some(_), Some(table)) => devices_dir
            .and_then(|dir| gate(table, dir, report))
            .map(Some),
        // Without a valid mode the missing or wrong mode is the problem already reported.
        (_, _) => Some(None),
    }
}

/// The stay rules file: readable and valid, because the rules decide refusals and a terminal
/// must not start with rules it cannot read.
fn rules_file(
    value: &Spanned<String>,
    config_dir: &Path,
    report: &mut Report<'_>,
) -> Option<PathBuf> {
    let path = readable_file(value, config_dir, "rules file", report)?;
    let text = super::read_named_file(&path).unwrap_or_default();
    match crate::core::stay::policy::StayPolicy::from_toml(&text) {
        Ok(_) => Some(path),
        Err(error) => {
            let why = error.to_string().replace('\n', " ");
            report.at(
                value.span().start,
                format!("rules file {} is invalid: {why}", path.display()),
            );
            None
        }
    }
}

/// A table the configuration must have, read by `read`, or reported missing as `what`.
fn required_table<T, R>(
    table: &Option<Spanned<T>>,
    name: &str,
    what: &str,
    report: &mut Report<'_>,
    read: impl FnOnce(&Spanned<T>, &mut Report<'_>) -> Option<R>,
) -> Option<R> {
    match table {
        Some(table) => read(table, report),
        None => {
            report.missing(0, "", name, what);
            None
        }
    }
}

fn non_empty(value: &Spanned<String>, what: &str, report: &mut Report<'_>) -> Option<String> {
    let text = value.get_ref().trim();
    if text.is_empty() {
        report.at(value.span().start, format!("{what} is empty"));
        return None;
    }
    Some(text.to_string())
}

fn checkpoint(table: &Spanned<RawCheckpoint>, report: &mut Report<'_>) -> Option<Checkpoint> {
    let at = table.span().start;
    let raw = table.get_ref();
    let name = "checkpoint";
    let id = report
        .required(&raw.id, at, name, "id", "a string such as \"AZ-GYD-T1\"")
        .and_then(|value| {
            let id = non_empty(value, "checkpoint id", report)?;
            let well_formed = id.chars().count() <= CHECKPOINT_ID_CHARS_MAX
                && id
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-');
            if !well_formed {
                report.at(
                    value.span().start,
                    format!(
                        "checkpoint id `{id}`: expected at most {CHECKPOINT_ID_CHARS_MAX} \
                         characters A-Z, 0-9 or `-`"
                    ),
                );
                return None;
            }
            Some(id)
        });
    let display_name = report
        .required(&raw.name, at, name, "name", "a string")
        .and_then(|value| non_empty(value, "checkpoint name", report));
    let kind = report
        .required(
            &raw.kind,
            at,
            name,
            "kind",
            "\"airport\", \"land\" or \"sea\"",
        )
        .map(|value| *value.get_ref());
    let lane = report
        .required(&raw.lane, at, name, "lane", "a string such as \"3\"")
        .and_then(|value| non_empty(value, "lane", report));
    let mode = report
        .required(&raw.mode, at, name, "mode", "\"officer\" or \"kiosk\"")
        .map(|value| *value.get_ref());
    let direction = report
        .required(
            &raw.direction,
            at,
            name,
            "direction",
            "\"entry\" or \"exit\"",
        )
        .map(|value| *value.get_ref());
    let time_zone = report
        .required(
            &raw.time_zone,
            at,
            name,
            "time_zone",
            "an IANA time zone such as \"Asia/Baku\"",
        )
        .and_then(|value| match jiff::tz::TimeZone::get(value.get_ref()) {
            Ok(zone) => Some(zone),
            Err(error) => {
                report.at(
                    value.span().start,
                    format!(
                        "unknown time zone `{}`: expected an IANA name such as \"Asia/Baku\" ({error})",
                        value.get_ref()
                    ),
                );
                None
            }
        });
    Some(Checkpoint {
        id: id?,
        name: display_name?,
        kind: kind?,
        lane: lane?,
        time_zone: time_zone?,
        mode: mode?,
        direction: direction?,
    })
}

/// `value` as a path, relative ones resolved against the configuration's directory.
fn path_value(
    value: &Spanned<String>,
    config_dir: &Path,
    report: &mut Report<'_>,
) -> Option<PathBuf> {
    let text = non_empty(value, "path", report)?;
    let path = Path::new(&text);
    Some(if path.is_absolute() {
        path.to_path_buf()
    } else {
        config_dir.join(path)
    })
}

/// Checks that the file exists and can be opened for reading.
fn check_readable(path: &Path) -> Result<(), String> {
    super::open_regular_file(path)
        .map(drop)
        .map_err(|error| error.to_string())
}

fn readable_file(
    value: &Spanned<String>,
    config_dir: &Path,
    what: &str,
    report: &mut Report<'_>,
) -> Option<PathBuf> {
    let path = path_value(value, config_dir, report)?;
    match check_readable(&path) {
        Ok(()) => Some(path),
        Err(why) => {
            report.at(
                value.span().start,
                format!("{what} {} is not readable: {why}", path.display()),
            );
            None
        }
    }
}

/// All devices, or `None` if any is invalid (every problem is reported either way).
fn devices(
    raw: &[Spanned<RawDevice>],
    devices_dir: &Path,
    report: &mut Report<'_>,
) -> Option<Vec<Device>> {
    let mut names = BTreeSet::new();
    let mut devices = Vec::with_capacity(raw.len());
    let mut all_valid = true;
    // Chip readers (`pcsc`) are read by `config::chip`.
    for table in raw.iter().filter(|table| table.get_ref().pcsc.is_none()) {
        if !super::chip::scanner_keys_ok(table, report) {
            all_valid = false;
            continue;
        }
        match device(table, devices_dir, &mut names, report) {
            Some(device) => devices.push(device),
            None => all_valid = false,
        }
    }
    all_valid.then_some(devices)
}

fn device(
    table: &Spanned<RawDevice>,
    devices_dir: &Path,
    names: &mut BTreeSet<String>,
    report: &mut Report<'_>,
) -> Option<Device> {
    let at = table.span().start;
    let raw = table.get_ref();
    let name = report
        .required(
            &raw.name,
            at,
            "devices",
            "name",
            "a string such as \"mrz-swipe\"",
        )
        .and_then(|value| {
            let name = non_empty(value, "device name", report)?;
            if !names.insert(name.clone()) {
                report.at(
                    value.span().start,
                    format!("device name `{name}` is used twice"),
                );
                return None;
            }
            Some(name)
        });
    let profile_path = report
        .required(
            &raw.profile,
            at,
            "devices",
            "profile",
            "a profile file name in the devices directory",
        )
        .and_then(|value| profile(value, devices_dir, report));
    let connection = match (&raw.port, &raw.usb, &raw.spool) {
        (Some(port), None, None) => device_port(port, report).map(Connection::Port),
        (None, Some(usb), None) => usb_ids(usb, report),
        (None, None, Some(spool)) => spool_dir(spool, report).map(Connection::Spool),
        (None, None, None) => {
            report.at(
                at,
                "device has neither `port` nor `usb` nor `spool`: expected \"/dev/…\", \"vvvv:pppp\" or a spool directory",
            );
            None
        }
        (port, usb, spool) => {
            let second = [port, usb, spool]
                .into_iter()
                .flatten()
                .nth(1)
                .map_or(at, |value| value.span().start);
            report.at(
                second,
                "device has more than one of `port`, `usb` and `spool`: expected exactly one",
            );
            None
        }
    };
    Some(Device {
        name: name?,
        profile_path: profile_path?,
        connection: connection?,
    })
}

/// An image spool: an absolute directory path (created by the daemon when missing).
fn spool_dir(value: &Spanned<String>, report: &mut Report<'_>) -> Option<PathBuf> {
    let text = non_empty(value, "spool", report)?;
    if Path::new(&text).is_absolute() {
        Some(PathBuf::from(text))
    } else {
        report.at(
            value.span().start,
            format!(
                "spool `{text}`: expected an absolute directory such as \"/var/spool/checkpointd/fullpage\""
            ),
        );
        None
    }
}

/// A serial port: an absolute device path.
fn device_port(value: &Spanned<String>, report: &mut Report<'_>) -> Option<PathBuf> {
    let text = non_empty(value, "port", report)?;
    if Path::new(&text).is_absolute() {
        Some(PathBuf::from(text))
    } else {
        report.at(
            value.span().start,
            format!("port `{text}`: expected an absolute device path such as \"/dev/ttyACM0\""),
        );
        None
    }
}

fn profile(
    value: &Spanned<String>,
    devices_dir: &Path,
    report: &mut Report<'_>,
) -> Option<PathBuf> {
    let name = non_empty(value, "profile", report)?;
    let plain = Path::new(&name)
        .components()
        .all(|component| matches!(component, Component::Normal(_)));
    if !plain {
        report.at(
            value.span().start,
            format!("profile `{name}`: expected a file name inside the devices directory"),
        );
        return None;
    }
    let path = devices_dir.join(&name);
    match check_readable(&path) {
        Ok(()) => Some(path),
        Err(why) => {
            report.at(
                value.span().start,
                format!(
                    "device profile `{name}` not found in {}: {why}",
                    devices_dir.display()
                ),
            );
            None
        }
    }
}

fn usb_ids(value: &Spanned<String>, report: &mut Report<'_>) -> Option<Connection> {
    let parsed = value
        .get_ref()
        .split_once(':')
        .and_then(|(vendor, product)| {
            let hex4 = |text: &str| {
                (text.len() == 4)
                    .then(|| u16::from_str_radix(text, 16).ok())
                    .flatten()
            };
            Some((hex4(vendor)?, hex4(product)?))
        });
    match parsed {
        Some((vendor_id, product_id)) => Some(Connection::Usb {
            vendor_id,
            product_id,
        }),
        None => {
            report.at(
                value.span().start,
                format!(
                    "usb `{}`: expected vendor and product ids as four hex digits each, \"0c2e:0720\"",
                    value.get_ref()
                ),
            );
            None
        }
    }
}

fn in_range(
    value: &Spanned<u64>,
    range: &std::ops::RangeInclusive<u64>,
    what: &str,
    report: &mut Report<'_>,
) -> Option<u64> {
    let number = *value.get_ref();
    if range.contains(&number) {
        Some(number)
    } else {
        report.at(
            value.span().start,
            format!(
                "{what} {number} is out of range: expected {} to {}",
                range.start(),
                range.end()
            ),
        );
        None
    }
}

fn ledger(table: &Spanned<RawLedger>, report: &mut Report<'_>) -> Option<Ledger> {
    let at = table.span().start;
    let raw = table.get_ref();
    let cache_capacity_bytes = report
        .required(
            &raw.cache_capacity_bytes,
            at,
            "ledger",
            "cache_capacity_bytes",
            "bytes",
        )
        .and_then(|value| {
            in_range(
                value,
                &CACHE_CAPACITY_BYTES_RANGE,
                "cache_capacity_bytes",
                report,
            )
        })
        .and_then(NonZeroU64::new);
    Some(Ledger {
        cache_capacity_bytes: cache_capacity_bytes?,
    })
}

fn stream_name(value: &Spanned<String>, report: &mut Report<'_>) -> Option<String> {
    let name = non_empty(value, "stream name", report)?;
    if name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        Some(name)
    } else {
        report.at(
            value.span().start,
            format!("stream name `{name}`: expected letters, digits, `_` or `-` only"),
        );
        None
    }
}

fn upstream(
    table: &Spanned<RawUpstream>,
    config_dir: &Path,
    report: &mut Report<'_>,
) -> Option<Upstream> {
    let at = table.span().start;
    let raw = table.get_ref();
    let transport = transport::transport(raw, at, config_dir, report);
    let credentials_file = match &raw.credentials_file {
        None => Some(None),
        Some(value) => {
            readable_file(value, config_dir, "credentials file", report).and_then(|path| {
                match super::credentials::read_credentials(&path) {
                    Ok(_) => Some(Some(path)),
                    Err(why) => {
                        report.at(
                            value.span().start,
                            format!("credentials file {} {why}", path.display()),
                        );
                        None
                    }
                }
            })
        }
    };
    let events_stream = report
        .required(
            &raw.events_stream,
            at,
            "upstream",
            "events_stream",
            "a stream name",
        )
        .and_then(|value| stream_name(value, report));
    let ledger_stream = report
        .required(
            &raw.ledger_stream,
            at,
            "upstream",
            "ledger_stream",
            "a stream name",
        )
        .and_then(|value| stream_name(value, report));
    let duplicate_window = report
        .required(
            &raw.duplicate_window_hours,
            at,
            "upstream",
            "duplicate_window_hours",
            "hours, at least the longest outage to ride out",
        )
        .and_then(|value| {
            in_range(
                value,
                &DUPLICATE_WINDOW_HOURS_RANGE,
                "duplicate_window_hours",
                report,
            )
        })
        .map(|hours| Duration::from_secs(hours * 3_600));
    let heartbeat_every = report
        .required(
            &raw.heartbeat_every_s,
            at,
            "upstream",
            "heartbeat_every_s",
            "seconds",
        )
        .and_then(|value| in_range(value, &HEARTBEAT_EVERY_S_RANGE, "heartbeat_every_s", report))
        .map(Duration::from_secs);
    let transport = transport?;
    Some(Upstream {
        nats_url: transport.urls[0].clone(),
        urls: transport.urls,
        tls: transport.tls,
        stream_replicas: transport.stream_replicas,
        credentials_file: credentials_file?,
        events_stream: events_stream?,
        ledger_stream: ledger_stream?,
        duplicate_window: duplicate_window?,
        heartbeat_every: heartbeat_every?,
    })
}

fn keys(table: &Spanned<RawKeys>, config_dir: &Path, report: &mut Report<'_>) -> Option<Keys> {
    let at = table.span().start;
    let raw = table.get_ref();
    let ledger_roots = report
        .required(
            &raw.ledger_roots,
            at,
            "keys",
            "ledger_roots",
            "a list of Ed25519 public keys, 64 hex characters each",
        )
        .and_then(|list| ledger_roots(list, report));
    let threshold = report
        .required(
            &raw.ledger_root_threshold,
            at,
            "keys",
            "ledger_root_threshold",
            "how many roots must sign a ledger checkpoint",
        )
        .and_then(|value| {
            let n_roots = raw
                .ledger_roots
                .as_ref()
                .map_or(0, |list| list.get_ref().len());
            let threshold = usize::try_from(*value.get_ref())
                .ok()
                .and_then(NonZeroUsize::new)
                .filter(|k| k.get() <= n_roots);
            if threshold.is_none() {
                report.at(
                    value.span().start,
                    format!(
                        "ledger_root_threshold {} is out of range: expected 1 to the number of \
                         ledger_roots ({n_roots})",
                        value.get_ref()
                    ),
                );
            }
            threshold
        });
    let terminal_key = report
        .required(
            &raw.terminal_key,
            at,
            "keys",
            "terminal_key",
            "the path of the terminal's Ed25519 secret key file",
        )
        .and_then(|value| terminal_key(value, config_dir, report));
    let movement_snapshot_key = match &raw.movement_snapshot_key {
        None => Some(None),
        Some(value) => movement_snapshot_key(value, report).map(Some),
    };
    let (terminal_key_path, terminal_key) = terminal_key?;
    Some(Keys {
        ledger_roots: ledger_roots?,
        ledger_root_threshold: threshold?,
        terminal_key_path,
        terminal_key,
        movement_snapshot_key: movement_snapshot_key?,
    })
}

/// Central's movement-snapshot public key: hex Ed25519, on the curve, not weak.
fn movement_snapshot_key(value: &Spanned<String>, report: &mut Report<'_>) -> Option<VerifyingKey> {
    let text = value.get_ref().trim();
    let parsed = key_bytes(text).and_then(|bytes| {
        let key = VerifyingKey::from_bytes(&bytes)
            .map_err(|_| "not a point on the Ed25519 curve".to_string())?;
        if key.is_weak() {
            return Err("a weak (small-order) key".to_string());
        }
        Ok(key)
    });
    match parsed {
        Ok(key) => Some(key),
        Err(why) => {
            report.at(
                value.span().start,
                format!("movement_snapshot_key `{text}`: {why}"),
            );
            None
        }
    }
}

/// 32 bytes from exactly [`KEY_HEX_CHARS`] hex characters.
fn key_bytes(text: &str) -> Result<[u8; 32], String> {
    if text.len() != KEY_HEX_CHARS {
        return Err(format!(
            "expected {KEY_HEX_CHARS} hex characters, found {}",
            text.chars().count()
        ));
    }
    let mut bytes = [0_u8; 32];
    hex::decode_to_slice(text, &mut bytes).map_err(|error| format!("not hex: {error}"))?;
    Ok(bytes)
}

fn ledger_roots(
    list: &Spanned<Vec<Spanned<String>>>,
    report: &mut Report<'_>,
) -> Option<Vec<VerifyingKey>> {
    if list.get_ref().is_empty() {
        report.at(
            list.span().start,
            "ledger_roots is empty: expected at least one Ed25519 public key",
        );
        return None;
    }
    let mut roots: Vec<VerifyingKey> = Vec::with_capacity(list.get_ref().len());
    let mut all_valid = true;
    for value in list.get_ref() {
        let text = value.get_ref().trim();
        let parsed = key_bytes(text).and_then(|bytes| {
            let key = VerifyingKey::from_bytes(&bytes)
                .map_err(|_| "not a point on the Ed25519 curve".to_string())?;
            if key.is_weak() {
                return Err("a weak (small-order) key".to_string());
            }
            if roots.contains(&key) {
                return Err("listed twice: each root counts once toward the threshold".to_string());
            }
            Ok(key)
        });
        match parsed {
            Ok(key) => roots.push(key),
            Err(why) => {
                all_valid = false;
                report.at(value.span().start, format!("ledger root `{text}`: {why}"));
            }
        }
    }
    all_valid.then_some(roots)
}

/// Reads at most [`SECRET_FILE_BYTES_MAX`] bytes of a regular file.
fn read_small_file(path: &Path) -> Result<(std::fs::Metadata, String), String> {
    let unreadable = |error: std::io::Error| format!("is not readable: {error}");
    let file = super::open_regular_file(path).map_err(unreadable)?;
    let metadata = file.metadata().map_err(unreadable)?;
    let mut text = String::new();
    file.take(SECRET_FILE_BYTES_MAX + 1)
        .read_to_string(&mut text)
        .map_err(unreadable)?;
    if text.len() as u64 > SECRET_FILE_BYTES_MAX {
        return Err(format!("is longer than {SECRET_FILE_BYTES_MAX} bytes"));
    }
    Ok((metadata, text))
}

/// Secrets (the terminal key, the API token) are readable by their owner only.
fn owner_only(metadata: &std::fs::Metadata) -> Result<(), String> {
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "is readable by group or others (mode {mode:04o}): expected owner-only access \
             such as 0600 (chmod 600)"
        ));
    }
    Ok(())
}

/// The terminal's signing key: a file of 64 hex characters (the secret seed) and an optional
/// newline, readable by its owner only.
fn terminal_key(
    value: &Spanned<String>,
    config_dir: &Path,
    report: &mut Report<'_>,
) -> Option<(PathBuf, TerminalKey)> {
    let path = path_value(value, config_dir, report)?;
    let checked = read_small_file(&path).and_then(|(metadata, text)| {
        owner_only(&metadata)?;
        let seed = text.strip_suffix('\n').unwrap_or(&text);
        let bytes = key_bytes(seed).map_err(|why| {
            format!("is not an Ed25519 secret seed ({why}, and an optional newline)")
        })?;
        Ok(TerminalKey::new(SigningKey::from_bytes(&bytes)))
    });
    match checked {
        Ok(key) => Some((path, key)),
        Err(why) => {
            report.at(
                value.span().start,
                format!("terminal key {} {why}", path.display()),
            );
            None
        }
    }
}

fn lane(table: &Spanned<RawLane>, report: &mut Report<'_>) -> Option<Lane> {
    let at = table.span().start;
    let raw = table.get_ref();
    let session_window = report
        .required(
            &raw.session_window_ms,
            at,
            "lane",
            "session_window_ms",
            "milliseconds within which scans belong to one traveller",
        )
        .and_then(|value| in_range(value, &SESSION_WINDOW_MS_RANGE, "session_window_ms", report))
        .map(Duration::from_millis);
    let ledger_stale_after = report
        .required(
            &raw.ledger_stale_after_s,
            at,
            "lane",
            "ledger_stale_after_s",
            "seconds of ledger age after which decisions carry ledger_stale",
        )
        .and_then(|value| {
            in_range(
                value,
                &LEDGER_STALE_AFTER_S_RANGE,
                "ledger_stale_after_s",
                report,
            )
        })
        .map(Duration::from_secs);
    let clock_backwards_tolerance = report
        .required(
            &raw.clock_backwards_tolerance_ms,
            at,
            "lane",
            "clock_backwards_tolerance_ms",
            "milliseconds",
        )
        .and_then(|value| {
            in_range(
                value,
                &CLOCK_BACKWARDS_TOLERANCE_MS_RANGE,
                "clock_backwards_tolerance_ms",
                report,
            )
        })
        .map(Duration::from_millis);
    let watchlist_threshold = match &raw.watchlist_threshold {
        None => Some(WatchlistThreshold::default()),
        Some(value) => {
            let threshold = WatchlistThreshold::new(*value.get_ref());
            if threshold.is_none() {
                let range = WatchlistThreshold::RANGE;
                report.at(
                    value.span().start,
                    format!(
                        "watchlist_threshold {} is out of range: expected {} to {}",
                        value.get_ref(),
                        range.start(),
                        range.end()
                    ),
                );
            }
            threshold
        }
    };
    Some(Lane {
        session_window: session_window?,
        ledger_stale_after: ledger_stale_after?,
        clock_backwards_tolerance: clock_backwards_tolerance?,
        watchlist_threshold: watchlist_threshold?,
    })
}

fn api(table: &Spanned<RawApi>, config_dir: &Path, report: &mut Report<'_>) -> Option<Api> {
    let at = table.span().start;
    let raw = table.get_ref();
    let socket = report
        .required(
            &raw.socket,
            at,
            "api",
            "socket",
            "the path of the Unix socket",
        )
        .and_then(|value| path_value(value, config_dir, report));
    let group = report
        .required(
            &raw.group,
            at,
            "api",
            "group",
            "the name of the group allowed on the socket",
        )
        .and_then(|value| {
            let name = non_empty(value, "group", report)?;
            match nix::unistd::Group::from_name(&name) {
                Ok(Some(group)) => Some((name, group.gid.as_raw())),
                Ok(None) => {
                    report.at(
                        value.span().start,
                        format!("unknown group `{name}`: expected a group of this system"),
                    );
                    None
                }
                Err(error) => {
                    report.at(
                        value.span().start,
                        format!("group `{name}` cannot be looked up: {error}"),
                    );
                    None
                }
            }
        });
    let http = match (&raw.http, &raw.token_file) {
        (None, None) => Some(None),
        (None, Some(token_file)) => {
            report.at(
                token_file.span().start,
                "token_file without http: set http or remove token_file",
            );
            None
        }
        (Some(http), token_file) => {
            let address = loopback_address(http, report);
            let token = match token_file {
                Some(value) => api_token(value, config_dir, report),
                None => {
                    report.at(
                        http.span().start,
                        "http needs token_file: expected the path of a file holding the bearer \
                         token",
                    );
                    None
                }
            };
            let (token_file, token) = token?;
            Some(Some(HttpApi {
                address: address?,
                token_file,
                token,
            }))
        }
    };
    let session_idle_timeout = match &raw.session_idle_timeout_s {
        Some(value) => in_range(
            value,
            &SESSION_IDLE_TIMEOUT_S_RANGE,
            "session_idle_timeout_s",
            report,
        ),
        None => Some(SESSION_IDLE_TIMEOUT_S_DEFAULT),
    };
    let sign_in_lockout = match &raw.sign_in_lockout_s {
        Some(value) => in_range(value, &SIGN_IN_LOCKOUT_S_RANGE, "sign_in_lockout_s", report),
        None => Some(SIGN_IN_LOCKOUT_S_DEFAULT),
    };
    let (group, gid) = group?;
    Some(Api {
        socket: socket?,
        group,
        gid,
        http: http?,
        session_idle_timeout: Duration::from_secs(session_idle_timeout?),
        sign_in_lockout: Duration::from_secs(sign_in_lockout?),
    })
}

fn loopback_address(value: &Spanned<String>, report: &mut Report<'_>) -> Option<SocketAddr> {
    let text = value.get_ref();
    match text.parse::<SocketAddr>() {
        Ok(address) if address.ip().is_loopback() => Some(address),
        Ok(_) => {
            report.at(
                value.span().start,
                format!(
                    "http `{text}` is not a loopback address: expected 127.0.0.1:PORT or [::1]:PORT"
                ),
            );
            None
        }
        Err(_) => {
            report.at(
                value.span().start,
                format!("http `{text}`: expected an address and port such as \"127.0.0.1:8480\""),
            );
            None
        }
    }
}

/// The bearer token: the file's content, trimmed, printable ASCII without spaces.
fn api_token(
    value: &Spanned<String>,
    config_dir: &Path,
    report: &mut Report<'_>,
) -> Option<(PathBuf, ApiToken)> {
    let path = path_value(value, config_dir, report)?;
    let checked = read_small_file(&path).and_then(|(metadata, text)| {
        owner_only(&metadata)?;
        let token = text.trim();
        if !token.chars().all(|c| c.is_ascii_graphic()) {
            return Err("holds spaces or non-ASCII characters inside the token".to_string());
        }
        if token.len() < API_TOKEN_CHARS_MIN {
            return Err(format!(
                "holds a token of {} characters: expected at least {API_TOKEN_CHARS_MIN}",
                token.len()
            ));
        }
        Ok(ApiToken::new(token.to_string()))
    });
    match checked {
        Ok(token) => Some((path, token)),
        Err(why) => {
            report.at(
                value.span().start,
                format!("token file {} {why}", path.display()),
            );
            None
        }
    }
}

fn gate(table: &Spanned<RawGate>, devices_dir: &Path, report: &mut Report<'_>) -> Option<Gate> {
    let at = table.span().start;
    let raw = table.get_ref();
    let profile = report
        .required(
            &raw.profile,
            at,
            "gate",
            "profile",
            "a gate profile file name in the devices directory",
        )
        .and_then(|value| {
            let path = profile(value, devices_dir, report)?;
            let parsed = read_small_file(&path)
                .and_then(|(_, text)| GateProfile::from_toml(&text).map_err(|e| e.to_string()));
            match parsed {
                Ok(parsed) => Some((path, parsed)),
                Err(why) => {
                    report.at(
                        value.span().start,
                        format!("gate profile {} is not valid: {why}", path.display()),
                    );
                    None
                }
            }
        });
    let port = report
        .required(
            &raw.port,
            at,
            "gate",
            "port",
            "the serial port of the gate, e.g. \"/dev/ttyUSB0\"",
        )
        .and_then(|value| device_port(value, report));
    let (profile_path, profile) = profile?;
    Some(Gate {
        profile_path,
        profile,
        port: port?,
    })
}

fn retention(table: &Spanned<RawRetention>, report: &mut Report<'_>) -> Option<Retention> {
    let at = table.span().start;
    let raw = table.get_ref();
    let movement_days = report
        .required(
            &raw.movement_days,
            at,
            "retention",
            "movement_days",
            "days of movement history kept",
        )
        .and_then(|value| {
            let days = *value.get_ref();
            if MOVEMENT_DAYS_RANGE.contains(&days) {
                u32::try_from(days).ok()
            } else {
                report.at(
                    value.span().start,
                    format!(
                        "movement_days {days} is out of range: expected {} (the longest stay \
                         window, a calendar year) to {}",
                        MOVEMENT_DAYS_RANGE.start(),
                        MOVEMENT_DAYS_RANGE.end()
                    ),
                );
                None
            }
        });
    // Optional: hourly by default; the retention soak prunes every few seconds.
    let prune_every = match &raw.prune_every_s {
        Some(value) => {
            in_range(value, &PRUNE_EVERY_S_RANGE, "prune_every_s", report).map(Duration::from_secs)
        }
        None => Some(Duration::from_secs(PRUNE_EVERY_S_DEFAULT)),
    };
    let cache_capacity_bytes = match &raw.cache_capacity_bytes {
        Some(value) => in_range(
            value,
            &CACHE_CAPACITY_BYTES_RANGE,
            "cache_capacity_bytes",
            report,
        )
        .and_then(NonZeroU64::new),
        None => NonZeroU64::new(crate::adapters::feed::CACHE_CAPACITY_BYTES_DEFAULT),
    };
    Some(Retention {
        movement_days: movement_days?,
        prune_every: prune_every?,
        cache_capacity_bytes: cache_capacity_bytes?,
    })
}

fn limits(table: &Spanned<RawLimits>, report: &mut Report<'_>) -> Option<Limits> {
    let at = table.span().start;
    let raw = table.get_ref();
    let scan_frame_bytes_max = report
        .required(
            &raw.scan_frame_bytes_max,
            at,
            "limits",
            "scan_frame_bytes_max",
            "bytes",
        )
        .and_then(|value| {
            in_range(
                value,
                &SCAN_FRAME_BYTES_RANGE,
                "scan_frame_bytes_max",
                report,
            )
        })
        .and_then(|bytes| usize::try_from(bytes).ok())
        .and_then(NonZeroUsize::new);
    let outbox_events_max = report
        .required(
            &raw.outbox_events_max,
            at,
            "limits",
            "outbox_events_max",
            "a count",
        )
        .and_then(|value| {
            let count = NonZeroU64::new(*value.get_ref());
            if count.is_none() {
                report.at(
                    value.span().start,
                    "outbox_events_max is 0: expected at least 1",
                );
            }
            count
        });
    let shutdown_grace = report
        .required(
            &raw.shutdown_grace_ms,
            at,
            "limits",
            "shutdown_grace_ms",
            "milliseconds",
        )
        .and_then(|value| in_range(value, &SHUTDOWN_GRACE_MS_RANGE, "shutdown_grace_ms", report))
        .map(Duration::from_millis);
    Some(Limits {
        scan_frame_bytes_max: scan_frame_bytes_max?,
        outbox_events_max: outbox_events_max?,
        shutdown_grace: shutdown_grace?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn line_column_counts_characters_from_one() {
        let text = "a = 1\nnäme = 2\n";
        let table = [
            (0, (1, 1)),
            (4, (1, 5)),
            (6, (2, 1)),
            (9, (2, 3)),
            (99, (3, 1)),
        ];
        for (offset, expected) in table {
            assert_eq!(line_column(text, offset), expected, "offset {offset}");
        }
        // Inside the two-byte 'ä': moved back to its start.
        assert_eq!(line_column(text, 8), (2, 2));
    }

    #[test]
    fn blanking_keeps_offsets_and_returns_the_key() {
        let mut text = "[a]\nx = 1\ny = 2\n".to_string();
        let length = text.len();
        assert_eq!(blank_culprit(&mut text, 8), Some("x".to_string()));
        assert_eq!(text.len(), length);
        assert_eq!(text, "[a]\n     \ny = 2\n");
    }

    #[test]
    fn blanking_a_header_blanks_its_table() {
        let mut text = "[bad]\nx = 1\n[good]\ny = 2\n".to_string();
        assert_eq!(blank_culprit(&mut text, 1), Some("bad".to_string()));
        assert_eq!(text, "     \n     \n[good]\ny = 2\n");
    }

    #[test]
    fn multi_line_values_are_not_blanked() {
        let mut text = "x = [\n1,\n]\n".to_string();
        assert_eq!(blank_culprit(&mut text, 0), None);
        let mut blank = "   \n".to_string();
        assert_eq!(blank_culprit(&mut blank, 1), None);
    }

    proptest! {
        #[test]
        fn any_text_is_refused_or_accepted_without_panic(text in "\\PC{0,200}") {
            let path = Path::new("/nonexistent/firmware-config/checkpoint.toml");
            if let Err(ConfigError::Invalid(problems)) = parse(&text, path, &LoadOptions::default()) {
                prop_assert!(!problems.problems.is_empty());
                let n_lines = text.matches('\n').count() + 1;
                for problem in &problems.problems {
                    prop_assert!(problem.line >= 1 && problem.line <= n_lines);
                    prop_assert!(problem.column >= 1);
                }
            }
        }

        #[test]
        fn toml_shaped_text_never_panics(
            lines in proptest::collection::vec(
                prop_oneof![
                    Just("[checkpoint]".to_string()),
                    Just("[[devices]]".to_string()),
                    Just("[limits]".to_string()),
                    Just("[keys]".to_string()),
                    Just("[api]".to_string()),
                    Just("[gate]".to_string()),
                    Just("mode = \"kiosk\"".to_string()),
                    Just("ledger_roots = [\"00\"]".to_string()),
                    "[a-z_]{1,12} = \"[ -~]{0,12}\"",
                    "[a-z_]{1,12} = [0-9]{1,6}",
                    "[a-z_]{1,12} = \\[\"[a-z]{0,5}\"",
                    Just("id = \"AZ\"\nid = \"AZ\"".to_string()),
                ],
                0..24,
            )
        ) {
            let text = lines.join("\n");
            let path = Path::new("/nonexistent/firmware-config/checkpoint.toml");
            let _ = parse(&text, path, &LoadOptions::default());
        }
    }
}
