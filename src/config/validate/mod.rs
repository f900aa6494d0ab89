//! From text to [`Config`]: serde for shape and types, then checks of meaning and of the files
//! the configuration names. Problems are collected, never returned one at a time.
//! `diagnostics` reports them, `files` reads what the configuration names, and each table has
//! its module (`checkpoint`, `devices` with `chip_reader`, `ledger`, `upstream` with
//! `transport`, `keys`, `lane`, `api`, `gate`, `retention`, `limits`).

mod api;
mod checkpoint;
mod chip_reader;
mod devices;
mod diagnostics;
mod files;
mod gate;
mod keys;
mod lane;
mod ledger;
mod limits;
mod retention;
mod transport;
pub(crate) use transport::pem_file;
mod upstream;

use std::path::Path;

use crate::config::raw::RawConfig;
use crate::config::{Config, ConfigError, LoadOptions};
use api::api;
use checkpoint::checkpoint;
use devices::devices;
use diagnostics::{Report, read_raw, required_table};
use files::{path_value, rules_file};
use gate::gate_for_mode;
use keys::keys;
use lane::lane;
use ledger::ledger;
use limits::limits;
use retention::retention;
use upstream::upstream;

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
    let chip_reader = chip_reader::chip_reader(&raw.devices, devices_dir.as_deref(), report);
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

#[cfg(test)]
mod tests {
    use super::diagnostics::{blank_culprit, line_column};
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
