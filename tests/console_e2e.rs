//! The officer console and the kiosk screen end to end in headless Chromium
//! (`tests/e2e/console_languages.mjs`, driven by playwright-core). Central publishes an officer,
//! a supervisor and a lost-passport alert in the ledger; the officer signs in (a wrong PIN first)
//! and gets the console in their language; one traveller per language, each verdict worded in
//! that language, confirmed with the keyboard shortcut and recorded; a reload restores the
//! traveller; the lost passport blocks the screen until acknowledged, is referred and decided by
//! second line; a refusal is overridden with the supervisor's sign-in; axe-core finds no serious or
//! critical violation; the screen locks when the officer is idle past the session's time; the
//! kiosk screen asks a refused traveller to see an officer in the three
//! languages; stopping the daemon greys the screen, disables the buttons and shows the
//! not-connected banner.
//! `CONSOLE_SCREENSHOTS=docs/screenshots cargo test --test console_e2e` refreshes the screenshots
//! in the docs.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use checkpointd::adapters::ledger::Central;
use checkpointd::core::document::HolderDigest;
use checkpointd::core::ledger::{
    AlertKind, AlertRaised, Change, OfficerEnrolled, TerminalKeyAdded,
};
use checkpointd::core::mrz::{Td3Fields, compose_td3};
use checkpointd::core::officer::{Language, Role, make_verifier};
use common::nats::NatsServer;
use common::terminal::{Setup, TERMINAL_ID, TOKEN, Terminal, root_key, td3, terminal_key};
use jiff::{SignedDuration, Timestamp};

/// The officer the browser signs in as, their PIN, and the supervisor who co-signs overrides.
const OFFICER: (&str, &str) = ("B-1042", "48151623");
const SUPERVISOR: (&str, &str) = ("S-7", "42424242");
/// The lost passport's number (Georgian, so visa-free: only the alert refers it).
const LOST_NUMBER: &str = "13AB45670";

/// Bound on the whole browser run (three languages, reload, kiosk, daemon stopped).
const BROWSER_WAIT: Duration = Duration::from_secs(90);

fn node_modules() -> PathBuf {
    std::env::var_os("PLAYWRIGHT_NODE_MODULES").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/node/node_modules"),
        PathBuf::from,
    )
}

fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// Why the browser test cannot run here, if it cannot.
fn missing_tool() -> Option<String> {
    let node = Command::new("node").arg("--version").output();
    if !node.is_ok_and(|output| output.status.success()) {
        return Some("node is not installed".into());
    }
    if !chromium().exists() {
        return Some(format!("{} is missing", chromium().display()));
    }
    for module in ["playwright-core", "axe-core"] {
        if !node_modules().join(module).exists() {
            return Some(format!(
                "{module} is missing in {}",
                node_modules().display()
            ));
        }
    }
    None
}

/// The travellers the browser asks for by name.
fn traveller(name: &str) -> [String; 2] {
    match name {
        "adult" => td3("GEO", "BERIDZE", "NINO", "13AB45678", "GEO"),
        // Sixteen on the test's date: the console must flag a minor.
        "minor" => compose_td3(&Td3Fields {
            state: "GEO",
            surname: "BERIDZE",
            given: "ANA",
            number: "13AB45679",
            nationality: "GEO",
            birth: "100301",
            sex: 'F',
            expiry: "300101",
        }),
        "lost" => td3("GEO", "KAPANADZE", "LEVAN", LOST_NUMBER, "GEO"),
        // No grounds of stay: referred at a kiosk, refused at an officer's lane.
        "unknown" => td3("NZL", "SMITH", "JOHN", "LA1234567", "NZL"),
        "unknown2" => td3("NZL", "BROWN", "KATE", "LA7654321", "NZL"),
        // Matches the person alert published in Cyrillic (МАМЕДОВ ЭЛЬЧИН): the officer compares.
        "namesake" => compose_td3(&Td3Fields {
            state: "GEO",
            surname: "MAMEDOV",
            given: "ELCHIN",
            number: "14CD55667",
            nationality: "GEO",
            birth: "850312",
            sex: 'M',
            expiry: "300101",
        }),
        other => panic!("the browser asked for an unknown traveller {other:?}"),
    }
}

fn enrolled(id: &str, secret: &str, role: Role, language: Language, now: Timestamp) -> Change {
    let today = now.to_zoned(jiff::tz::TimeZone::UTC).date();
    Change::OfficerEnrolled(OfficerEnrolled {
        officer_id: id.into(),
        role,
        verifier: make_verifier(secret.as_bytes(), &[5; 16]).expect("verifier"),
        valid_from: today - jiff::Span::new().days(2),
        valid_until: today + jiff::Span::new().days(365),
        language,
    })
}

/// Central publishes the terminal's key, the two officers and the lost-passport alert under a
/// fresh checkpoint signed by the pinned root.
fn publish_ledger(url: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let central = Central::connect(url).await.expect("central connects");
        central.provision(1).await.expect("provision streams");
        let now = Timestamp::now();
        let changes = vec![
            Change::TerminalKeyAdded(TerminalKeyAdded {
                terminal_id: TERMINAL_ID.into(),
                public_key: terminal_key().verifying_key().to_bytes(),
                valid_from: now - SignedDuration::from_hours(24),
                valid_until: now + SignedDuration::from_hours(24 * 365),
            }),
            // The session's language (Russian) is the page's after sign-in.
            enrolled(OFFICER.0, OFFICER.1, Role::Officer, Language::Ru, now),
            enrolled(
                SUPERVISOR.0,
                SUPERVISOR.1,
                Role::Supervisor,
                Language::En,
                now,
            ),
            Change::Alert(AlertRaised {
                holder: HolderDigest::of("GEO", LOST_NUMBER).0,
                alert: AlertKind::Lost,
                note: "reported lost in Tbilisi, police ref 77/2026".into(),
            }),
            Change::PersonAlert(
                serde_json::from_str(
                    r#"{"alert_id":"PA-E2E-1","names":[{"surname":"Мамедов","given_names":"Эльчин"}],
                       "birth_date":"1985-03-12","nationalities":["GEO"],"sex":"M","kind":"wanted",
                       "action":"hold the traveller and call the duty officer","note":"warrant 5/2026"}"#,
                )
                .expect("person alert"),
            ),
        ];
        central.append(changes, now).await.expect("append");
        central
            .checkpoint(&[root_key()], now)
            .await
            .expect("checkpoint");
    });
}

#[test]
fn console_in_three_languages_kiosk_and_lost_daemon() {
    if let Some(reason) = missing_tool() {
        panic!("{reason}: run ./scripts/test once to install it");
    }
    let nats = NatsServer::start();
    let url = nats.url();
    let mut terminal = Terminal::start(&Setup {
        nats_url: &url,
        mode: "officer",
        direction: "entry",
        gate_port: None,
    });
    publish_ledger(&url);
    terminal.wait_status("the scanner and the officers", |status| {
        status["devices"]
            .as_array()
            .is_some_and(|devices| devices.iter().any(|device| device["state"] == "up"))
            && status["ledger"]["applied_seq"].as_u64() >= Some(4)
    });
    // Into the test's directory, so a test run leaves the worktree clean.
    let shots = std::env::var_os("CONSOLE_SCREENSHOTS").map_or_else(
        || terminal.dir.path().to_path_buf(),
        |path| Path::new(env!("CARGO_MANIFEST_DIR")).join(path),
    );
    std::fs::create_dir_all(&shots).expect("screenshot directory");
    let mut browser = Command::new("node")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/console_languages.mjs"))
        .arg(format!("http://{}", terminal.http))
        .arg(TOKEN)
        .arg(&shots)
        .env("OFFICER_ID", OFFICER.0)
        .env("OFFICER_SECRET", OFFICER.1)
        .env("SUPERVISOR_ID", SUPERVISOR.0)
        .env("SUPERVISOR_SECRET", SUPERVISOR.1)
        .env("PLAYWRIGHT_NODE_MODULES", node_modules())
        .env("CHROMIUM", chromium())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start node");
    let mut answer = browser.stdin.take().expect("piped stdin");
    let stdout = browser.stdout.take().expect("piped stdout");
    let (lines, output) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + BROWSER_WAIT;
    let mut said = Vec::new();
    let mut recorded_before_stop = None;
    while let Ok(line) = output.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        if let Some(name) = line.strip_prefix("scan ") {
            terminal.scan(&traveller(name));
            writeln!(answer, "go").expect("answer the browser");
        } else if line == "stop" {
            recorded_before_stop = Some(terminal.request("GET", "/api/v1/status", None).1);
            terminal.stop();
            writeln!(answer, "go").expect("answer the browser");
        }
        println!("{line}");
        said.push(line);
    }
    let status = loop {
        if let Some(status) = browser.try_wait().expect("wait for node") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = browser.kill();
            let _ = browser.wait();
            panic!("browser run did not finish; said {said:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut errors = String::new();
    if let Some(mut stderr) = browser.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut stderr, &mut errors);
    }
    assert!(
        status.success(),
        "node failed: {said:?}\n{errors}\nlog:\n{}",
        terminal.log()
    );
    let said_with = |needle: &str| said.iter().any(|line| line.contains(needle));
    assert!(said_with("Sign-in failed"), "{said:?}");
    assert!(
        said_with("\"language\":\"ru\"}"),
        "session language: {said:?}"
    );
    // Each language recorded its traveller; the third was the first one again, warned about.
    for language in ["az", "ru", "en"] {
        assert!(
            said_with(&format!("{{\"language\":\"{language}\",\"recorded\"")),
            "{language}: {said:?}"
        );
    }
    assert!(said_with("grounds_visa_free"), "{said:?}");
    assert!(
        said_with("НЕСОВЕРШЕННОЛЕТНИЙ"),
        "minor flag in Russian: {said:?}"
    );
    assert!(
        said_with("Already recorded at this lane 0 minutes ago"),
        "{said:?}"
    );
    assert!(said_with("Previous entry on"), "{said:?}");
    assert!(said_with("restored "), "{said:?}");
    assert!(said_with("police ref 77/2026"), "alert note: {said:?}");
    assert!(said_with("\"second_line\":"), "{said:?}");
    assert!(said_with("\"override\":\"✔"), "{said:?}");
    assert!(said_with("idle lock"), "{said:?}");
    assert!(said_with("Please see an officer."), "{said:?}");
    assert!(said_with("\"offline\":"), "{said:?}");
    let status = recorded_before_stop.expect("the browser asked for the stop");
    println!("status before the stop: {status}");
    // Three confirmations, the referral and its second-line decision, the override, the
    // namesake admitted after the officer dismissed the person-alert hit.
    assert_eq!(status["recorded"], 7, "{status}");
    assert!(said_with("\"dismissed\":\"✔"), "{said:?}");
    assert_eq!(
        status["current"]["verdict"]["outcome"], "refuse",
        "{status}"
    );
    for shot in [
        "console-az",
        "console-ru",
        "console-en",
        "kiosk",
        "console-offline",
        "console-watchlist",
    ] {
        assert!(shots.join(format!("{shot}.png")).exists(), "{shot}");
    }
}

/// The demo's officer console in headless Chromium, traveller by traveller: the genuine chip's
/// JPEG face and the cloned chip's JPEG 2000 face (sent as PNG) are shown at their size, and a
/// chip whose DG1 was altered shows none (its DG2 is not vouched for by a valid signature).
#[test]
fn demo_console_shows_each_chip_face() {
    if let Some(reason) = missing_tool() {
        panic!("{reason}: run ./scripts/test once to install it");
    }
    let mut demo = Command::new(env!("CARGO_BIN_EXE_checkpointd"))
        .args(["demo", "--linger", "90"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the demo");
    let stdout = demo.stdout.take().expect("piped stdout");
    let (lines, output) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    let (mut url, mut officer) = (None, None);
    while url.is_none() {
        let line = output
            .recv_timeout(Duration::from_secs(120))
            .expect("the demo prints its console");
        if let Some(rest) = line
            .trim()
            .strip_prefix("sign in as the officer: officer id ")
        {
            let (id, secret) = rest.split_once("  secret ").expect("id and secret");
            officer = Some((id.to_owned(), secret.to_owned()));
        }
        if line.starts_with("console stays up for") {
            url = line
                .split_whitespace()
                .find(|w| w.starts_with("http://"))
                .map(str::to_owned);
        }
    }
    let (id, secret) = officer.expect("the officer's account was printed");
    let shots = tempfile::tempdir().expect("screenshot directory");
    let walked = Command::new("node")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/demo_faces.mjs"))
        .args([url.as_deref().unwrap_or_default(), &id, &secret])
        .arg(shots.path())
        .arg("11")
        .env("PLAYWRIGHT_NODE_MODULES", node_modules())
        .env("CHROMIUM", chromium())
        .output()
        .expect("run node");
    let _ = demo.kill();
    let _ = demo.wait();
    let said = String::from_utf8_lossy(&walked.stdout);
    assert!(
        walked.status.success(),
        "node failed:\n{said}\n{}",
        String::from_utf8_lossy(&walked.stderr)
    );
    let travellers: Vec<serde_json::Value> = said
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON line per traveller"))
        .collect();
    let shown_as = |chip_format: &str| {
        travellers
            .iter()
            .find(|t| t["face"]["media_type"] == chip_format)
            .map(|t| &t["shown"])
    };
    let jpeg = shown_as("image/jpeg").expect("a traveller with a JPEG face");
    assert_eq!(
        (&jpeg["type"], &jpeg["width"], &jpeg["height"]),
        (&"image/jpeg".into(), &120.into(), &160.into()),
        "{said}"
    );
    let jpeg2000 = shown_as("image/jp2").expect("the cloned chip's JPEG 2000 face");
    assert_eq!(
        (&jpeg2000["type"], &jpeg2000["width"], &jpeg2000["height"]),
        (&"image/png".into(), &120.into(), &160.into()),
        "{said}"
    );
    // Faces only with a signature that vouches for them: some arrivals show none.
    assert!(
        travellers
            .iter()
            .any(|t| t["face"].is_null() && t["box_visible"] == false),
        "{said}"
    );
    for shot in ["face-jpeg", "face-jpeg2000"] {
        assert!(shots.path().join(format!("{shot}.png")).exists(), "{shot}");
    }
}
