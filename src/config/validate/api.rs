//! `[api]`: the Unix socket and its group, the loopback HTTP listener and its token file, the
//! officers' session idle timeout and sign-in lock-out.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::diagnostics::{Report, in_range, non_empty};
use super::files::{owner_only, path_value, read_small_file};
use crate::config::raw::RawApi;
use crate::config::{Api, ApiToken, HttpApi};

/// Accepted range of the traveller-session window: a few seconds between a passport and a
/// permit card, at most a slow officer's pause.
/// Officer session idle timeout, seconds.
pub(super) const SESSION_IDLE_TIMEOUT_S_RANGE: std::ops::RangeInclusive<u64> = 30..=28_800;

/// Officer session idle timeout when `[api]` does not set it.
pub(super) const SESSION_IDLE_TIMEOUT_S_DEFAULT: u64 = 600;

/// Window of failed sign-ins and lock-out length, seconds.
pub(super) const SIGN_IN_LOCKOUT_S_RANGE: std::ops::RangeInclusive<u64> = 1..=86_400;

/// The sign-in lock-out window when `[api]` does not set it (15 minutes).
pub(super) const SIGN_IN_LOCKOUT_S_DEFAULT: u64 = 900;

/// Shortest API token: shorter ones can be guessed.
pub(super) const API_TOKEN_CHARS_MIN: usize = 16;

pub(super) fn api(
    table: &Spanned<RawApi>,
    config_dir: &Path,
    report: &mut Report<'_>,
) -> Option<Api> {
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

pub(super) fn loopback_address(
    value: &Spanned<String>,
    report: &mut Report<'_>,
) -> Option<SocketAddr> {
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
pub(super) fn api_token(
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
