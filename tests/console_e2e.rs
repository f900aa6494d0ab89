//! The officer console page end to end in headless Chromium (`tests/e2e/console.mjs`, driven by
//! playwright-core): a scan on the PTY scanner shows a verdict on the page, the officer clicks
//! "Confirm admit", the page says "Recorded" and the crossing is in the outbox. The screenshot
//! in the docs comes from `CONSOLE_SCREENSHOT=docs/console.png cargo test --test console_e2e`.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::nats::NatsServer;
use common::terminal::{Setup, TOKEN, Terminal, td3};

/// Bound on the whole browser run (launch, verdict, click, screenshot).
const BROWSER_WAIT: Duration = Duration::from_secs(25);

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
    if !node_modules().join("playwright-core").exists() {
        return Some(format!(
            "playwright-core is missing in {}",
            node_modules().display()
        ));
    }
    None
}

#[test]
fn console_shows_verdict_and_records_confirmation() {
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
    terminal.wait_status("the scanner to be up", |status| {
        status["devices"]
            .as_array()
            .is_some_and(|devices| devices.iter().any(|device| device["state"] == "up"))
    });
    let page = format!("http://{}/?token={TOKEN}", terminal.http);
    // Into the test's directory, so a test run leaves the worktree clean; set
    // CONSOLE_SCREENSHOT=docs/console.png to refresh the screenshot in the docs.
    let screenshot = std::env::var_os("CONSOLE_SCREENSHOT").map_or_else(
        || terminal.dir.path().join("console.png"),
        |path| Path::new(env!("CARGO_MANIFEST_DIR")).join(path),
    );
    let mut browser = Command::new("node")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/console.mjs"))
        .arg(&page)
        .arg(&screenshot)
        .env("PLAYWRIGHT_NODE_MODULES", node_modules())
        .env("CHROMIUM", chromium())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start node");
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
    let mut scanned = false;
    while let Ok(line) = output.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        if line == "connected" && !scanned {
            terminal.scan(&td3("GEO", "BERIDZE", "NINO", "13AB45678", "GEO"));
            scanned = true;
        }
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
    assert!(scanned, "the page never connected: {said:?}");
    assert!(
        said.iter().any(|line| line.contains("grounds_visa_free")),
        "{said:?}"
    );
    assert!(
        said.iter()
            .any(|line| line.contains("\"recorded\":\"Recorded")),
        "{said:?}"
    );
    let status = terminal.wait_status("the crossing to be recorded", |status| {
        status["recorded"] == 1
    });
    assert_eq!(status["recorded"], 1, "{status}");
    assert!(screenshot.exists());
}
