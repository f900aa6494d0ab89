//! The file as serde reads it: every key optional (so one missing key does not hide the others),
//! unknown keys rejected, values kept with their spans for error positions.

use serde::Deserialize;
use toml::Spanned;

use super::{CheckpointKind, Direction, Mode};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub data_dir: Option<Spanned<String>>,
    pub devices_dir: Option<Spanned<String>>,
    pub rules_file: Option<Spanned<String>>,
    pub checkpoint: Option<Spanned<RawCheckpoint>>,
    #[serde(default)]
    pub devices: Vec<Spanned<RawDevice>>,
    pub ledger: Option<Spanned<RawLedger>>,
    pub upstream: Option<Spanned<RawUpstream>>,
    pub keys: Option<Spanned<RawKeys>>,
    pub limits: Option<Spanned<RawLimits>>,
    pub lane: Option<Spanned<RawLane>>,
    pub api: Option<Spanned<RawApi>>,
    pub gate: Option<Spanned<RawGate>>,
    pub retention: Option<Spanned<RawRetention>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCheckpoint {
    pub id: Option<Spanned<String>>,
    pub name: Option<Spanned<String>>,
    pub kind: Option<Spanned<CheckpointKind>>,
    pub lane: Option<Spanned<String>>,
    pub time_zone: Option<Spanned<String>>,
    pub mode: Option<Spanned<Mode>>,
    pub direction: Option<Spanned<Direction>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDevice {
    pub name: Option<Spanned<String>>,
    pub profile: Option<Spanned<String>>,
    pub port: Option<Spanned<String>>,
    pub usb: Option<Spanned<String>>,
    pub spool: Option<Spanned<String>>,
    pub pcsc: Option<Spanned<String>>,
    pub refuse_bac_fallback: Option<Spanned<bool>>,
    pub extended_length: Option<Spanned<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLedger {
    pub cache_capacity_bytes: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawUpstream {
    pub nats_url: Option<Spanned<String>>,
    pub urls: Option<Spanned<Vec<Spanned<String>>>>,
    pub ca_file: Option<Spanned<String>>,
    pub client_cert_file: Option<Spanned<String>>,
    pub client_key_file: Option<Spanned<String>>,
    pub stream_replicas: Option<Spanned<u64>>,
    pub credentials_file: Option<Spanned<String>>,
    pub events_stream: Option<Spanned<String>>,
    pub ledger_stream: Option<Spanned<String>>,
    pub duplicate_window_hours: Option<Spanned<u64>>,
    pub heartbeat_every_s: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawKeys {
    pub ledger_roots: Option<Spanned<Vec<Spanned<String>>>>,
    pub ledger_root_threshold: Option<Spanned<u64>>,
    pub terminal_key: Option<Spanned<String>>,
    pub movement_snapshot_key: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLane {
    pub session_window_ms: Option<Spanned<u64>>,
    pub ledger_stale_after_s: Option<Spanned<u64>>,
    pub clock_backwards_tolerance_ms: Option<Spanned<u64>>,
    pub watchlist_threshold: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawApi {
    pub socket: Option<Spanned<String>>,
    pub group: Option<Spanned<String>>,
    pub http: Option<Spanned<String>>,
    pub token_file: Option<Spanned<String>>,
    pub session_idle_timeout_s: Option<Spanned<u64>>,
    pub sign_in_lockout_s: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGate {
    pub profile: Option<Spanned<String>>,
    pub port: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRetention {
    pub movement_days: Option<Spanned<u64>>,
    pub prune_every_s: Option<Spanned<u64>>,
    pub cache_capacity_bytes: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimits {
    pub scan_frame_bytes_max: Option<Spanned<u64>>,
    pub outbox_events_max: Option<Spanned<u64>>,
    pub shutdown_grace_ms: Option<Spanned<u64>>,
}
