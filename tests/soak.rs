//! Multi-process soak (issue #10): one real nats-server, four real `checkpointd` processes (two
//! airports, two land crossings; entry lanes and exit lanes) with PTY scanners fed by a traffic
//! generator, central issuing and revoking permits meanwhile, and faults on a seeded schedule
//! (kill -9 of terminals, kill -9 of the broker, the broker frozen, scanner PTYs unplugged), and
//! hostile inputs on their own seeded schedule (noise images in each terminal's image spool,
//! floods of idle connections on the API, garbage on the scanners).
//! At the end the reference central consumer (`checkpointctl feed export/audit`) must hold exactly
//! the crossings the terminals acknowledged, every chain verified, every replica at central's
//! head, stay days at exit counted from the entry recorded by another terminal, and each
//! terminal's file descriptors and threads bounded.
//!
//! Short by default (part of the normal suite); `SOAK_SECS=N` runs N seconds of traffic,
//! `SOAK_SEED=S` replays a fault schedule and traffic mix, `SOAK_REPORT=path` writes the report
//! as markdown (`scripts/soak`). `SOAK_CLUSTER=1` runs central as a three-node JetStream cluster
//! (streams with three replicas, terminals given every seed URL) and adds kill -9 + restart of
//! single nodes, the leaders of `EVENTS` and `LEDGER` among them, to the schedule; the broker
//! faults then hit every node (a whole-cluster restart, the whole cluster frozen).

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use checkpointd::adapters::feed::{Outbox, OutboxConfig, RelayConfig, run_relay};
use checkpointd::adapters::ledger::Central;
use checkpointd::adapters::nats::connect_link;
use checkpointd::cli::feed::synthetic_crossing;
use checkpointd::core::document::HolderDigest;
use checkpointd::core::event::{CrossingKind, TerminalId, Traveller as EventTraveller};
use checkpointd::core::ledger::permit_check::index_of;
use checkpointd::core::ledger::{
    AlertKind, AlertRaised, Change, IssuerKeyAdded, PermitIssued, PermitRevoked, TerminalKeyAdded,
};
use checkpointd::core::mrz::{Td3Fields, compose_td3};
use checkpointd::core::officer::{Language, Role};
use checkpointd::core::permit::{self, PermitBody, PermitClaims, PermitHolder, PermitType};
use checkpointd::core::privacy::{DocumentNumber, PersonName};
use checkpointd::ports::clock::Clock;
use common::nats::{Broker, NatsCluster, NatsServer, stream_leader, upstream_lines};
use common::terminal::{
    EventStream, LaneConfig, OFFICER_ID, OFFICER_SECRET, Pty, SUPERVISOR_ID, SUPERVISOR_SECRET,
    TOKEN, free_port, spawn_daemon, try_http, write_firmware,
};
use ed25519_dalek::SigningKey;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

/// Traffic seconds in the default (short) mode.
const SHORT_SECS: u64 = 35;
/// The checkpoints' time zone (stay days are civil days there).
const TIME_ZONE: &str = "Asia/Baku";
/// How long a lane waits for a verdict before giving the traveller up.
const VERDICT_WAIT: Duration = Duration::from_secs(8);
/// How long a terminal may take to come back (API and scanner up) after a fault.
const RECOVERY_WAIT: Duration = Duration::from_secs(30);
/// How long the outboxes and replicas may take to catch up once traffic stops.
const DRAIN_WAIT: Duration = Duration::from_secs(90);
/// Growth allowed over the run (after warm-up) before it counts as a leak.
const FD_SLACK: i64 = 12;
const THREAD_SLACK: i64 = 8;
/// Travellers already inside from an earlier year's visit, recorded by the archive terminal.
const OVERSTAYERS: usize = 6;
const OVERSTAY_ENTRY_DAYS_AGO: i64 = 120;

/// libfaketime (Debian's `libfaketime`): when present every terminal runs under it with an offset
/// file the clock faults rewrite; the daemon has no time offset or simulated clock of its own.
const FAKETIME_LIB: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";
/// How far the clock fault moves a terminal's wall clock forward before setting it back.
const CLOCK_JUMP_HOURS: i64 = 3;

const ROOT_SEED: [u8; 32] = [36; 32];
const ISSUER_SEED: [u8; 32] = [37; 32];
const FORGER_SEED: [u8; 32] = [38; 32];
const ARCHIVE_SEED: [u8; 32] = [35; 32];
const ARCHIVE_CHECKPOINT: &str = "AZ-ARCH";
const ARCHIVE_ID: &str = "AZ-ARCH-1";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Way {
    Entry,
    Exit,
}

struct Site {
    checkpoint: &'static str,
    kind: &'static str,
    lane: &'static str,
    way: Way,
    seed: [u8; 32],
}

impl Site {
    fn terminal_id(&self) -> String {
        format!("{}-{}", self.checkpoint, self.lane)
    }
    fn key(&self) -> SigningKey {
        SigningKey::from_bytes(&self.seed)
    }
}

/// Two airports and two land crossings; travellers enter at one and leave by another.
const SITES: [Site; 4] = [
    Site {
        checkpoint: "AZ-GYD",
        kind: "airport",
        lane: "A1",
        way: Way::Entry,
        seed: [31; 32],
    },
    Site {
        checkpoint: "AZ-NAJ",
        kind: "airport",
        lane: "D1",
        way: Way::Exit,
        seed: [32; 32],
    },
    Site {
        checkpoint: "AZ-AST",
        kind: "land",
        lane: "1",
        way: Way::Entry,
        seed: [33; 32],
    },
    Site {
        checkpoint: "AZ-KRM",
        kind: "land",
        lane: "2",
        way: Way::Exit,
        seed: [34; 32],
    },
];

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn baku() -> TimeZone {
    TimeZone::get(TIME_ZONE).expect("time zone")
}

fn today() -> Date {
    Timestamp::now().to_zoned(baku()).date()
}

/// libfaketime is required, not optional: a soak that quietly left out its clock jumps would
/// pass without testing them.
fn faketime_available() -> bool {
    assert!(
        Path::new(FAKETIME_LIB).exists(),
        "libfaketime is not installed ({FAKETIME_LIB}): run ./scripts/test once, or \
         apt-get install libfaketime"
    );
    true
}

fn yymmdd(date: Date) -> String {
    format!(
        "{:02}{:02}{:02}",
        date.year() % 100,
        date.month(),
        date.day()
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

// ---------------------------------------------------------------------------------------------
// A terminal process that faults can kill, restart and unplug.

struct Daemon {
    site: &'static Site,
    dir: tempfile::TempDir,
    config: PathBuf,
    http: SocketAddr,
    /// The stable scanner path in the configuration: a symlink to the current PTY.
    link: PathBuf,
    pty: Option<Pty>,
    child: Option<Child>,
    starts: u32,
    /// libfaketime's offset file (`+3h`), when the library is installed.
    clock_file: Option<PathBuf>,
}

impl Daemon {
    fn start(site: &'static Site, nats_url: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix(&format!("soak-{}-", site.checkpoint))
            .tempdir()
            .expect("temp dir");
        let link = dir.path().join("scanner");
        let http = free_port();
        let config = write_firmware(
            dir.path(),
            &LaneConfig {
                nats_url,
                checkpoint: site.checkpoint,
                kind: site.kind,
                lane: site.lane,
                mode: "officer",
                direction: match site.way {
                    Way::Entry => "entry",
                    Way::Exit => "exit",
                },
                scanner_port: &link.display().to_string(),
                // A reader that sends MRZ lines and AIM-prefixed 2D codes on one port.
                scanner_profile: "access-is-cdc.toml",
                gate_port: None,
                terminal_seed: site.seed,
                ledger_root: SigningKey::from_bytes(&ROOT_SEED)
                    .verifying_key()
                    .to_bytes(),
                http,
            },
        );
        // Each terminal also has a full-page reader's image spool, for the hostile images.
        let text = std::fs::read_to_string(&config).expect("config");
        let spool = dir.path().join("spool");
        let text = text.replacen(
            "[ledger]",
            &format!(
                "[[devices]]\nname = \"pages\"\nprofile = \"fullpage-image-spool.toml\"\nspool = \"{}\"\n\n[ledger]",
                spool.display()
            ),
            1,
        );
        // Every seed URL of a cluster, and streams created with a replica per server.
        let text = if nats_url.contains(',') {
            text.replacen(
                &format!("nats_url = \"{nats_url}\""),
                &upstream_lines(nats_url),
                1,
            )
        } else {
            text
        };
        std::fs::write(&config, text).expect("config with spool");
        let clock_file = faketime_available().then(|| dir.path().join("faketime"));
        if let Some(file) = &clock_file {
            std::fs::write(file, "+0h\n").expect("write the clock offset");
        }
        let mut daemon = Self {
            site,
            dir,
            config,
            http,
            link,
            pty: None,
            child: None,
            starts: 0,
            clock_file,
        };
        daemon.plug_scanner();
        daemon.spawn();
        daemon
    }

    fn data_dir(&self) -> PathBuf {
        self.config.with_file_name("data")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("daemon.log")
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<_> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// A new PTY behind the stable symlink (the old one, if any, is closed: unplugged).
    fn plug_scanner(&mut self) {
        self.pty = None;
        let pty = Pty::open();
        let tmp = self.link.with_extension("new");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&pty.path, &tmp).expect("scanner symlink");
        std::fs::rename(&tmp, &self.link).expect("replace scanner symlink");
        self.pty = Some(pty);
    }

    fn spawn(&mut self) {
        let clock_file = self
            .clock_file
            .as_ref()
            .map(|file| file.display().to_string());
        let env: Vec<(&str, &str)> = match &clock_file {
            Some(file) => vec![
                ("LD_PRELOAD", FAKETIME_LIB),
                ("FAKETIME_TIMESTAMP_FILE", file),
                ("FAKETIME_CACHE_DURATION", "1"),
                // Only the wall clock jumps; timers and the monotonic guard keep real time.
                ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
            ],
            None => Vec::new(),
        };
        self.child = Some(spawn_daemon(&self.config, &self.log_path(), &env));
        self.starts += 1;
    }

    fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL: no clean shutdown, no flush beyond what was already durable.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait (SIGKILL after the grace period).
    fn stop(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return true;
        };
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid fits"));
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    fn write_scan(&mut self, bytes: &[u8]) -> bool {
        self.pty
            .as_mut()
            .is_some_and(|pty| pty.master.write_all(bytes).is_ok())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

fn status(http: SocketAddr) -> Option<Value> {
    match try_http(http, "GET", "/api/v1/status", None, Some(TOKEN)) {
        Some((200, body)) => Some(body),
        _ => None,
    }
}

fn scanner_up(status: &Value) -> bool {
    status["devices"]
        .as_array()
        .is_some_and(|devices| devices.iter().any(|device| device["state"] == "up"))
}

/// Whether the terminal's replica has applied central's entries up to `seq` (the status carries
/// the applied seq; inferring it from the ledger's age, as this soak once did, took a checkpoint
/// signed a second before the awaited one for it).
fn replica_covers(status: &Value, seq: u64) -> bool {
    status["ledger"]["applied_seq"]
        .as_u64()
        .is_some_and(|applied| applied >= seq)
}

/// Polls the status until `ready` holds or `wait` passes.
fn wait_for(http: SocketAddr, wait: Duration, ready: impl Fn(&Value) -> bool) -> Option<Value> {
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        if let Some(status) = status(http)
            && ready(&status)
        {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Travellers and what the soak knows about them.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    VisaFree,
    PermitHolder,
    Forged,
    Revoked,
    Overstayer,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Place {
    /// Not yet presented (permit holders wait for their permit to replicate).
    Outside,
    /// Admitted; the entry was recorded by `terminal` on `date`.
    Inside { terminal: String, date: Date },
    /// Claimed by a lane right now.
    Busy,
    /// Done: left, refused, or in doubt after a kill.
    Done,
}

#[derive(Clone, Debug)]
struct Person {
    kind: Kind,
    state: String,
    nationality: String,
    number: String,
    birth: Date,
    mrz: [String; 2],
    card: Option<String>,
    /// The ledger entry (the permit, or its revocation) a lane's replica must hold before this
    /// traveller is presented.
    ready_seq: Option<u64>,
    place: Place,
}

fn person(kind: Kind, state: &str, number: String, birth: Date) -> Person {
    let surname = match kind {
        Kind::VisaFree => "BERIDZE",
        Kind::PermitHolder => "SHARMA",
        Kind::Forged => "GUPTA",
        Kind::Revoked => "MEHTA",
        Kind::Overstayer => "KOVALENKO",
    };
    let mrz = compose_td3(&Td3Fields {
        state,
        surname,
        given: "SOAK",
        number: &number,
        nationality: state,
        birth: &yymmdd(birth),
        sex: 'F',
        expiry: "340101",
    });
    Person {
        kind,
        state: state.into(),
        nationality: state.into(),
        number,
        birth,
        mrz,
        card: None,
        ready_seq: None,
        place: Place::Outside,
    }
}

struct Issuer {
    key: SigningKey,
    kid: [u8; 8],
}

impl Issuer {
    /// A temporary-residence permit card (BP1 text) bound to `holder`, and its id.
    fn card(&self, holder: &Person, cti_seed: u64) -> (String, [u8; 16]) {
        let today = today();
        let from = today.checked_sub(30.days()).expect("date");
        let until = today.checked_add(300.days()).expect("date");
        let body = PermitBody {
            permit_type: PermitType::TemporaryResidence,
            holder: PermitHolder {
                issuing_state: holder.state.clone(),
                document_number: DocumentNumber::new(holder.number.clone()),
                birth_date: holder.birth,
                nationality: holder.nationality.clone(),
                name: PersonName::new("SHARMA SOAK"),
            },
            valid_from: from,
            valid_until: until,
            employer: None,
            entries: None,
            region: None,
        };
        let mut cti = [0u8; 16];
        cti[..8].copy_from_slice(&cti_seed.to_be_bytes());
        cti[15] = 0x5a;
        let start = from.to_zoned(TimeZone::UTC).expect("zoned").timestamp();
        let claims = PermitClaims {
            issuer: "AZ-SMS".into(),
            issued_at: start,
            not_before: start,
            expires_at: until
                .to_zoned(TimeZone::UTC)
                .expect("zoned")
                .timestamp()
                .checked_add(SignedDuration::from_hours(24))
                .expect("time"),
            permit_id: cti,
        };
        (
            permit::sign_permit(&body, &claims, &self.key, self.kid),
            cti,
        )
    }
}

/// One acknowledged crossing: the terminal answered "recorded" with this seq and event hash.
#[derive(Clone, Debug)]
struct Ack {
    terminal: String,
    seq: u64,
    event_hash: String,
    number: String,
    direction: &'static str,
    /// The civil date the terminal recorded the crossing on (its own clock, faults included).
    date: Option<Date>,
}

/// A confirmation sent to a terminal that died before answering: it may or may not be recorded.
#[derive(Clone, Debug)]
struct InDoubt {
    terminal: String,
    number: String,
}

#[derive(Default)]
struct Ledger {
    acks: Vec<Ack>,
    in_doubt: Vec<InDoubt>,
    /// Expectation failures (a forged card admitted, stay days that do not match …).
    violations: Vec<String>,
    /// Exits whose stay days were checked against the entry at another terminal.
    stay_checked: u64,
    abandoned: u64,
    verdicts: BTreeMap<String, u64>,
}

struct World {
    people: Mutex<Vec<Person>>,
    record: Mutex<Ledger>,
    next_number: Mutex<u64>,
    stop: AtomicBool,
    started: Instant,
    /// Idle-connection floods: site and the run's seconds it was held (its samples show the
    /// flood's descriptors, not a leak).
    floods: Mutex<Vec<(usize, f64, f64)>>,
}

impl World {
    fn fresh_number(&self, prefix: &str) -> String {
        let mut next = lock(&self.next_number);
        *next += 1;
        format!("{prefix}{:07}", *next)
    }

    fn violation(&self, text: String) {
        eprintln!("soak: VIOLATION {text}");
        lock(&self.record).violations.push(text);
    }
}

// ---------------------------------------------------------------------------------------------
// One lane: scan, wait for the verdict, play the officer.

enum Outcome {
    Recorded {
        verdict: Value,
        ack: Ack,
    },
    /// The confirmation was sent and nothing answered (terminal killed).
    InDoubt,
    /// Nothing was confirmed (no verdict: terminal or scanner down); nothing recorded.
    Abandoned(String),
    /// The terminal answered the confirmation with an error.
    Refused(String),
}

struct Lane {
    daemon: Arc<Mutex<Daemon>>,
    http: SocketAddr,
    terminal: String,
    way: Way,
    stream: Option<EventStream>,
    /// The officer's `Cookie:` header line, once signed in (a restarted daemon forgets it).
    cookie: Option<String>,
}

/// `POST` with the token and the session's cookie line; `None` when nothing answered.
fn post(http: SocketAddr, path: &str, body: Option<&Value>, cookie: &str) -> Option<(u16, Value)> {
    common::terminal::exchange(http, "POST", path, body, Some(TOKEN), cookie)
        .map(|(code, _, body)| (code, body))
}

impl Lane {
    /// The officer's cookie line, signing in when there is none.
    fn session(&mut self) -> Option<String> {
        if self.cookie.is_none() {
            let body = json!({"officer_id": OFFICER_ID, "secret": OFFICER_SECRET});
            let (code, head, _) = common::terminal::exchange(
                self.http,
                "POST",
                "/api/v1/session",
                Some(&body),
                Some(TOKEN),
                "",
            )?;
            let line = head
                .lines()
                .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))?;
            let pair = line["set-cookie:".len()..].split(';').next()?.trim();
            self.cookie = (code == 200).then(|| format!("Cookie: {pair}\r\n"));
        }
        self.cookie.clone()
    }

    fn recover(&mut self) {
        self.stream = None;
        if wait_for(self.http, RECOVERY_WAIT, scanner_up).is_none() {
            eprintln!(
                "soak: {} did not recover within {RECOVERY_WAIT:?}",
                self.terminal
            );
        }
    }

    fn process(&mut self, person: &Person, world: &World) -> Outcome {
        let Some(cookie) = self.session() else {
            return Outcome::Abandoned("officer not signed in".into());
        };
        if self.stream.is_none() {
            self.stream =
                EventStream::try_open(self.http, &format!("/api/v1/stream?token={TOKEN}"));
        }
        let Some(stream) = self.stream.as_mut() else {
            return Outcome::Abandoned("no event stream".into());
        };
        match post(self.http, "/api/v1/new-traveller", None, &cookie) {
            None => return Outcome::Abandoned("new-traveller unanswered".into()),
            Some((401, _)) => {
                // The daemon restarted and signed the officer out.
                self.cookie = None;
                return Outcome::Abandoned("officer signed out".into());
            }
            Some(_) => {}
        }
        let mrz = format!("{}\r{}\r", person.mrz[0], person.mrz[1]);
        if !lock(&self.daemon).write_scan(mrz.as_bytes()) {
            return Outcome::Abandoned("scanner pty write failed".into());
        }
        if let Some(card) = &person.card {
            std::thread::sleep(Duration::from_millis(60));
            let symbol = format!("]Q1{card}\r");
            if !lock(&self.daemon).write_scan(symbol.as_bytes()) {
                return Outcome::Abandoned("scanner pty write failed".into());
            }
        }
        // A permit in the ledger already shows on the passport's verdict; the card's own
        // verdict comes after its scan event (confirming before it would leave the card to
        // the next traveller's session).
        if person.card.is_some()
            && stream
                .next_matching("scan", VERDICT_WAIT, |scan| scan["kind"] != "mrz")
                .is_none()
        {
            return Outcome::Abandoned("no card scan".into());
        }
        let number = person.number.clone();
        let Some(verdict) = stream.next_matching("verdict", VERDICT_WAIT, |verdict| {
            verdict["document"]["document_number"] == number.as_str()
        }) else {
            return Outcome::Abandoned("no verdict".into());
        };
        let outcome = verdict["verdict"]["outcome"]
            .as_str()
            .unwrap_or("?")
            .to_string();
        *lock(&world.record)
            .verdicts
            .entry(format!("{:?} {:?} {outcome}", self.way, person.kind))
            .or_default() += 1;
        let session = verdict["session"].clone();
        // The officer: admit a clear entry, refuse any other; let every exit through (an
        // overstayer's fine is settled at the booth), with a supervisor's override when it goes
        // against the verdict.
        let request = match (self.way, outcome.as_str()) {
            (_, "admit") => json!({"session": session, "decision": "admit"}),
            (Way::Entry, _) => json!({"session": session, "decision": "refuse"}),
            (Way::Exit, _) => json!({"session": session, "decision": "admit", "override": {
                "reason_code": "other", "text": "exit after settling at the booth",
                "supervisor_id": SUPERVISOR_ID, "supervisor_secret": SUPERVISOR_SECRET}}),
        };
        match post(self.http, "/api/v1/confirm", Some(&request), &cookie) {
            None => Outcome::InDoubt,
            Some((200, answer)) => {
                let direction = match answer["direction"].as_str() {
                    Some("entry") => "entry",
                    Some("exit") => "exit",
                    Some("refused_entry") => "refused_entry",
                    _ => "?",
                };
                Outcome::Recorded {
                    ack: Ack {
                        terminal: self.terminal.clone(),
                        seq: answer["seq"].as_u64().unwrap_or(0),
                        event_hash: answer["event_id"].as_str().unwrap_or("").to_string(),
                        number: person.number.clone(),
                        direction,
                        date: answer["recorded_at"]
                            .as_str()
                            .and_then(|at| at.parse::<jiff::Zoned>().ok())
                            .map(|at| at.date()),
                    },
                    verdict,
                }
            }
            Some((401, _)) => {
                // Signed out by a restart between the verdict and the confirmation.
                self.cookie = None;
                Outcome::Abandoned("officer signed out".into())
            }
            Some((code, answer)) => Outcome::Refused(format!("{code} {answer}")),
        }
    }
}

fn stay_days_used(http: SocketAddr, person: &Person) -> Option<i64> {
    let path = format!(
        "/api/v1/stay?issuing_state={}&document_number={}&nationality={}",
        person.state, person.number, person.nationality
    );
    match try_http(http, "GET", &path, None, Some(TOKEN)) {
        Some((200, body)) => body["days_used"]
            .as_i64()
            .or_else(|| body["stay"]["days_used"].as_i64()),
        _ => None,
    }
}

/// Claims a person matching `pick` for this lane (marks it busy); returns it as it was.
fn claim(
    world: &World,
    rng: &mut StdRng,
    pick: impl Fn(&Person) -> bool,
) -> Option<(usize, Person)> {
    let mut people = lock(&world.people);
    let candidates: Vec<usize> = (0..people.len()).filter(|&i| pick(&people[i])).collect();
    if candidates.is_empty() {
        return None;
    }
    let index = candidates[rng.gen_range(0..candidates.len())];
    let before = people[index].clone();
    people[index].place = Place::Busy;
    Some((index, before))
}

fn entry_worker(world: Arc<World>, mut lane: Lane, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    while !world.stop.load(Ordering::Relaxed) {
        let Some(status) = status(lane.http) else {
            lane.recover();
            continue;
        };
        let roll: f64 = rng.r#gen();
        let ready = |kind: Kind| {
            move |p: &Person| {
                p.kind == kind
                    && p.place == Place::Outside
                    && p.ready_seq.is_some_and(|seq| replica_covers(&status, seq))
            }
        };
        let index = if roll < 0.2 {
            claim(&world, &mut rng, ready(Kind::PermitHolder))
        } else if roll < 0.3 {
            claim(&world, &mut rng, ready(Kind::Revoked))
        } else {
            None
        }
        .map(|(index, _)| index);
        let index = index.unwrap_or_else(|| {
            let forged = rng.gen_bool(0.1);
            let mut fresh = if forged {
                person(
                    Kind::Forged,
                    "IND",
                    world.fresh_number("F"),
                    Date::constant(1979, 11, 5),
                )
            } else {
                let state = ["GEO", "UKR", "TUR"][rng.gen_range(0..3)];
                person(
                    Kind::VisaFree,
                    state,
                    world.fresh_number("V"),
                    Date::constant(1990, 4, 12),
                )
            };
            if forged {
                let forger = Issuer {
                    key: SigningKey::from_bytes(&FORGER_SEED),
                    // The forger copies the real kid: only the signature tells.
                    kid: permit::key_id(&SigningKey::from_bytes(&ISSUER_SEED).verifying_key()),
                };
                fresh.card = Some(forger.card(&fresh, rng.r#gen()).0);
            }
            fresh.place = Place::Busy;
            let mut people = lock(&world.people);
            people.push(fresh);
            people.len() - 1
        });
        let person = lock(&world.people)[index].clone();
        let outcome = lane.process(&person, &world);
        let mut next = Place::Done;
        match outcome {
            Outcome::Recorded { verdict, ack } => {
                let outcome = verdict["verdict"]["outcome"].as_str().unwrap_or("?");
                let expected_admit = matches!(person.kind, Kind::VisaFree | Kind::PermitHolder);
                if expected_admit != (outcome == "admit") {
                    world.violation(format!(
                        "{} {:?} {}: verdict {outcome} at entry: {}",
                        lane.terminal, person.kind, person.number, verdict["verdict"]
                    ));
                }
                if ack.direction == "entry" {
                    // The terminal's own date: a clock fault may reach it a moment before or
                    // after this side learns of it.
                    match ack.date {
                        Some(date) => {
                            next = Place::Inside {
                                terminal: lane.terminal.clone(),
                                date,
                            }
                        }
                        None => world.violation(format!(
                            "{} recorded an entry without a readable recorded_at",
                            lane.terminal
                        )),
                    }
                }
                lock(&world.record).acks.push(ack);
            }
            Outcome::InDoubt => {
                lock(&world.record).in_doubt.push(InDoubt {
                    terminal: lane.terminal.clone(),
                    number: person.number.clone(),
                });
                lane.recover();
            }
            Outcome::Abandoned(why) => {
                eprintln!("soak: {} abandoned {}: {why}", lane.terminal, person.number);
                lock(&world.record).abandoned += 1;
                next = Place::Outside;
                lane.recover();
            }
            Outcome::Refused(why) => {
                world.violation(format!("{} refused a confirmation: {why}", lane.terminal));
                next = Place::Outside;
            }
        }
        lock(&world.people)[index].place = next;
    }
}

fn exit_worker(world: Arc<World>, mut lane: Lane, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    while !world.stop.load(Ordering::Relaxed) {
        let claimed = claim(
            &world,
            &mut rng,
            |p| matches!(&p.place, Place::Inside { terminal, .. } if *terminal != lane.terminal),
        );
        let Some((index, person)) = claimed else {
            std::thread::sleep(Duration::from_millis(200));
            continue;
        };
        let Place::Inside { terminal, date } = person.place.clone() else {
            unreachable!("claimed only inside");
        };
        exit_one(&world, &mut lane, &person, index, &terminal, date);
    }
}

fn exit_one(
    world: &World,
    lane: &mut Lane,
    person: &Person,
    index: usize,
    entry_terminal: &str,
    entry_date: Date,
) {
    let inside = Place::Inside {
        terminal: entry_terminal.to_string(),
        date: entry_date,
    };
    // The entry must have reached this terminal over EVENTS before the exit can count it.
    match stay_days_used(lane.http, person) {
        Some(days) if days >= 1 => {}
        Some(_) => {
            lock(&world.people)[index].place = inside;
            std::thread::sleep(Duration::from_millis(100));
            return;
        }
        None => {
            lock(&world.people)[index].place = inside;
            lane.recover();
            return;
        }
    }
    let outcome = lane.process(person, world);
    let next = match outcome {
        Outcome::Recorded { verdict, ack } => {
            // The day the terminal decided on (its clock may be under a fault); the check is
            // that the entry recorded elsewhere is counted from its own day to this one.
            let exit_date = verdict["date"]
                .as_str()
                .and_then(|date| date.parse::<Date>().ok());
            let expected = exit_date.map(|exit| (exit - entry_date).get_days() as i64 + 1);
            let days_used = verdict["stay"]["days_used"].as_i64();
            let overstay = verdict["stay"]["overstay_days"].as_i64().unwrap_or(0);
            let mut record = lock(&world.record);
            record.stay_checked += 1;
            if expected.is_none() || days_used != expected {
                record.violations.push(format!(
                    "{} exit of {} (entered at {entry_terminal} on {entry_date}) on {exit_date:?}: days_used {days_used:?}, expected {expected:?}; stay {}",
                    lane.terminal, person.number, verdict["stay"]
                ));
            }
            if person.kind == Kind::Overstayer && overstay <= 0 {
                record.violations.push(format!(
                    "{} overstayer {} leaves without overstay days: {}",
                    lane.terminal, person.number, verdict["stay"]
                ));
            }
            if ack.direction != "exit" {
                record.violations.push(format!(
                    "{} exit recorded as {}",
                    lane.terminal, ack.direction
                ));
            }
            record.acks.push(ack);
            Place::Done
        }
        Outcome::InDoubt => {
            lock(&world.record).in_doubt.push(InDoubt {
                terminal: lane.terminal.clone(),
                number: person.number.clone(),
            });
            lane.recover();
            Place::Done
        }
        Outcome::Abandoned(why) => {
            eprintln!("soak: {} abandoned {}: {why}", lane.terminal, person.number);
            lock(&world.record).abandoned += 1;
            lane.recover();
            inside
        }
        Outcome::Refused(why) => {
            world.violation(format!("{} refused a confirmation: {why}", lane.terminal));
            inside
        }
    };
    lock(&world.people)[index].place = next;
}

// ---------------------------------------------------------------------------------------------
// Central: the ledger publisher and the archive of earlier visits.

fn root() -> SigningKey {
    SigningKey::from_bytes(&ROOT_SEED)
}

fn issuer() -> Issuer {
    let key = SigningKey::from_bytes(&ISSUER_SEED);
    let kid = permit::key_id(&key.verifying_key());
    Issuer { key, kid }
}

/// Appends `changes` (if any) and signs a fresh checkpoint over the head; returns the head seq
/// and the checkpoint's time.
fn publish(url: &str, changes: Vec<Change>) -> Result<(u64, Timestamp), String> {
    runtime().block_on(async {
        let work = async {
            let central = Central::connect(url).await.map_err(|e| e.to_string())?;
            let replicas = url.split(',').count();
            central
                .provision(replicas)
                .await
                .map_err(|e| e.to_string())?;
            let now = Timestamp::now();
            let seq = if changes.is_empty() {
                central.head().await.map_err(|e| e.to_string())?.0
            } else {
                central
                    .append(changes, now)
                    .await
                    .map_err(|e| e.to_string())?
                    .0
            };
            central
                .checkpoint(&[root()], now)
                .await
                .map_err(|e| e.to_string())?;
            Ok((seq, now))
        };
        tokio::time::timeout(Duration::from_secs(10), work)
            .await
            .map_err(|_| "central timed out".to_string())?
    })
}

/// Central's streams and bucket created, retried until a new cluster can (a few seconds).
fn provisioned(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    runtime().block_on(async {
        loop {
            let attempt = async {
                let central = Central::connect(url).await.map_err(|e| e.to_string())?;
                let replicas = url.split(',').count();
                central.provision(replicas).await.map_err(|e| e.to_string())
            };
            match tokio::time::timeout(Duration::from_secs(10), attempt).await {
                Ok(Ok(())) => return,
                other => assert!(
                    Instant::now() < deadline,
                    "central's streams not created: {other:?}"
                ),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
}

/// Waits until every terminal's replica holds entry `published` (publishing a harmless entry
/// every 8 s meanwhile) and `ready` holds; returns the terminals that did not get there, with
/// their status and log.
fn wait_replicated(
    daemons: &[Arc<Mutex<Daemon>>],
    url: &str,
    published: u64,
    wait: Duration,
    ready: impl Fn(&Value) -> bool,
) -> Vec<String> {
    let deadline = Instant::now() + wait;
    let mut target = published;
    let mut last_tick = Instant::now();
    loop {
        let mut late = Vec::new();
        for daemon in daemons {
            let http = lock(daemon).http;
            let status = status(http);
            if !status
                .as_ref()
                .is_some_and(|status| replica_covers(status, target) && ready(status))
            {
                let daemon = lock(daemon);
                late.push(format!(
                    "{}: {status:?}\n{}",
                    daemon.site.terminal_id(),
                    daemon.log_tail()
                ));
            }
        }
        if late.is_empty() || Instant::now() >= deadline {
            return late;
        }
        // A terminal that missed a round (it was down) catches up on the next checkpoint; a
        // replica does not take a newer checkpoint over the same entries (its age keeps growing),
        // so each round carries one harmless entry: an alert on a document nobody holds.
        if last_tick.elapsed() > Duration::from_secs(8) {
            let tick = Change::Alert(AlertRaised {
                holder: HolderDigest::of(
                    "XXX",
                    &format!("TICK{}", Timestamp::now().as_millisecond()),
                )
                .0,
                alert: AlertKind::Lost,
                note: "soak: replication tick".into(),
            });
            if let Ok((seq, _)) = publish(url, vec![tick]) {
                target = seq;
            }
            last_tick = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn central_head(url: &str) -> Result<(u64, String), String> {
    runtime().block_on(async {
        let central = Central::connect(url).await.map_err(|e| e.to_string())?;
        let (seq, hash) = central.head().await.map_err(|e| e.to_string())?;
        Ok((seq, hex::encode(hash)))
    })
}

fn permit_issued(card: &str) -> Change {
    Change::PermitIssued(PermitIssued {
        index: index_of(card).expect("own card decodes"),
        bp1: card.to_string(),
    })
}

fn initial_ledger(issuer: &Issuer) -> Vec<Change> {
    let now = Timestamp::now();
    let year = SignedDuration::from_hours(24 * 365);
    let mut changes = vec![Change::IssuerKeyAdded(IssuerKeyAdded {
        kid: issuer.kid,
        public_key: issuer.key.verifying_key().to_bytes(),
        sign_from: now - year,
        sign_until: now + year,
        verify_until: now + year * 5,
        permit_types: PermitType::ALL.to_vec(),
    })];
    let terminals = SITES
        .iter()
        .map(|site| (site.terminal_id(), site.key()))
        .chain([(
            ARCHIVE_ID.to_string(),
            SigningKey::from_bytes(&ARCHIVE_SEED),
        )]);
    let today = now.to_zoned(jiff::tz::TimeZone::UTC).date();
    for (id, role, secret) in [
        (OFFICER_ID, Role::Officer, OFFICER_SECRET),
        (SUPERVISOR_ID, Role::Supervisor, SUPERVISOR_SECRET),
    ] {
        changes.push(
            checkpointd::cli::officer::enrolment(
                id,
                role,
                secret.as_bytes(),
                today.yesterday().expect("yesterday"),
                today.saturating_add(jiff::Span::new().days(60)),
                Language::En,
            )
            .expect("enrolment"),
        );
    }
    for (terminal_id, key) in terminals {
        changes.push(Change::TerminalKeyAdded(TerminalKeyAdded {
            terminal_id,
            public_key: key.verifying_key().to_bytes(),
            valid_from: now - year,
            valid_until: now + year,
        }));
    }
    changes
}

/// New permit holders every round; a permit issued in one round is revoked in the next, and
/// its holder then presents the revoked card.
fn publisher(world: Arc<World>, url: String, every: Duration, tally: Arc<Mutex<Tally>>) {
    let issuer = issuer();
    let mut doomed: Vec<(Person, [u8; 16])> = Vec::new();
    let mut serial = 1_000u64;
    while !world.stop.load(Ordering::Relaxed) {
        let mut fresh = Vec::new();
        let mut changes = Vec::new();
        for _ in 0..2 {
            serial += 1;
            let mut holder = person(
                Kind::PermitHolder,
                "IND",
                world.fresh_number("P"),
                Date::constant(1987, 1, 30),
            );
            let (card, _) = issuer.card(&holder, serial);
            changes.push(permit_issued(&card));
            holder.card = Some(card);
            fresh.push(holder);
        }
        let revoking = std::mem::take(&mut doomed);
        for (_, cti) in &revoking {
            changes.push(Change::PermitRevoked(PermitRevoked {
                cti: *cti,
                reason: "soak: revoked while the holder travels".into(),
            }));
        }
        serial += 1;
        let mut next_doomed = person(
            Kind::Revoked,
            "IND",
            world.fresh_number("R"),
            Date::constant(1983, 3, 21),
        );
        let (card, cti) = issuer.card(&next_doomed, serial);
        changes.push(permit_issued(&card));
        next_doomed.card = Some(card);
        match publish(&url, changes) {
            Ok((published, _)) => {
                let mut tally = lock(&tally);
                tally.permits_issued += 3;
                tally.permits_revoked += revoking.len() as u64;
                drop(tally);
                let mut people = lock(&world.people);
                for mut holder in fresh {
                    holder.ready_seq = Some(published);
                    people.push(holder);
                }
                for (mut holder, _) in revoking {
                    holder.ready_seq = Some(published);
                    people.push(holder);
                }
                doomed.push((next_doomed, cti));
            }
            Err(error) => {
                // Unknown whether it landed: these holders are never presented; the revocations
                // are tried again.
                eprintln!("soak: central publish failed: {error}");
                lock(&tally).publish_failures += 1;
                doomed = revoking;
            }
        }
        sleep_unless_stopped(&world, every);
    }
}

fn sleep_unless_stopped(world: &World, period: Duration) {
    let deadline = Instant::now() + period;
    while Instant::now() < deadline && !world.stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The wall clock `days` in the past: the archive terminal records earlier visits.
struct PastClock {
    days: i64,
    origin: Instant,
}

impl Clock for PastClock {
    fn now(&self) -> Timestamp {
        Timestamp::now() - SignedDuration::from_hours(24 * self.days)
    }
    fn monotonic(&self) -> Duration {
        self.origin.elapsed()
    }
}

/// Records overstayers' entries 120 days ago on an archive terminal and relays them to EVENTS.
fn archive_overstayers(url: &str, world: &World) -> Vec<Ack> {
    let dir = tempfile::tempdir().expect("archive dir");
    let outbox = Outbox::open(
        &dir.path().join("outbox"),
        OutboxConfig {
            terminal: TerminalId::new(ARCHIVE_ID).expect("terminal id"),
            time_zone: baku(),
        },
        SigningKey::from_bytes(&ARCHIVE_SEED),
        Arc::new(PastClock {
            days: OVERSTAY_ENTRY_DAYS_AGO,
            origin: Instant::now(),
        }),
    )
    .expect("archive outbox");
    let entry_date = today()
        .checked_sub(OVERSTAY_ENTRY_DAYS_AGO.days())
        .expect("date");
    let mut acks = Vec::new();
    for n in 0..OVERSTAYERS {
        let mut overstayer = person(
            Kind::Overstayer,
            "UKR",
            world.fresh_number("O"),
            Date::constant(1988, 5, 14),
        );
        let mut crossing = synthetic_crossing(n as u64 * 2, ARCHIVE_CHECKPOINT);
        crossing.lane = "1".into();
        crossing.direction = CrossingKind::Entry;
        crossing.traveller = EventTraveller {
            document_type: "P".into(),
            issuing_state: overstayer.state.clone(),
            nationality: overstayer.nationality.clone(),
            birth_date: yymmdd(overstayer.birth),
            sex: "F".into(),
            document_number: DocumentNumber::new(overstayer.number.clone()),
        };
        let recorded = outbox.record(crossing).expect("archive record");
        acks.push(Ack {
            terminal: ARCHIVE_ID.into(),
            seq: recorded.seq,
            event_hash: recorded.event_hash.to_string(),
            number: overstayer.number.clone(),
            direction: "entry",
            date: Some(entry_date),
        });
        overstayer.place = Place::Inside {
            terminal: ARCHIVE_ID.into(),
            date: entry_date,
        };
        lock(&world.people).push(overstayer);
    }
    runtime().block_on(async {
        let client = connect_link(url).await.expect("archive connects");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let relay = tokio::spawn(run_relay(
            outbox.clone(),
            client,
            RelayConfig {
                replicas: url.split(',').count(),
                ..RelayConfig::with_duplicate_window_hours(72)
            },
            async {
                let _ = stopped.await;
            },
        ));
        let deadline = Instant::now() + Duration::from_secs(20);
        while outbox.depth() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(outbox.depth(), 0, "archive relayed");
        let _ = stop.send(());
        let _ = relay.await;
    });
    acks
}

// ---------------------------------------------------------------------------------------------
// Faults on a seeded schedule.

#[derive(Clone, Copy, Debug)]
enum Fault {
    /// kill -9 of a terminal, restarted on the same data directory after `down_ms`.
    KillTerminal { site: usize, down_ms: u64 },
    /// kill -9 of nats-server, restarted on the same store after `down_ms`.
    KillBroker { down_ms: u64 },
    /// nats-server frozen (SIGSTOP): every terminal is cut off from central for `ms`.
    PauseBroker { ms: u64 },
    /// A scanner's PTY closed (unplugged) and a new one plugged in.
    Unplug { site: usize },
    /// A terminal's wall clock set to `hours` ahead of real time (0: set back).
    ClockJump { site: usize, hours: i64 },
    /// Cluster mode: kill -9 of one node, restarted on its store after `down_ms`.
    KillNode { node: usize, down_ms: u64 },
    /// Cluster mode: kill -9 of the node leading `stream` at that moment, restarted after
    /// `down_ms`.
    KillLeader { stream: &'static str, down_ms: u64 },
}

impl Fault {
    fn kind(&self) -> &'static str {
        match self {
            Fault::KillTerminal { .. } => "terminal kill -9 + restart",
            Fault::KillBroker { .. } => "nats-server kill -9 + restart",
            Fault::PauseBroker { .. } => "broker frozen (terminals cut off)",
            Fault::Unplug { .. } => "scanner PTY closed + reopened",
            Fault::ClockJump { hours: 0, .. } => "terminal clock set back (libfaketime)",
            Fault::ClockJump { .. } => "terminal clock jumps forward (libfaketime)",
            Fault::KillNode { .. } => "cluster node kill -9 + restart",
            Fault::KillLeader {
                stream: "EVENTS", ..
            } => "EVENTS stream leader kill -9 + restart",
            Fault::KillLeader { .. } => "LEDGER stream leader kill -9 + restart",
        }
    }
}

/// A cluster node fault: either stream's leader, or any node.
fn node_fault(pick: u32, rng: &mut StdRng, down_ms: std::ops::Range<u64>) -> Fault {
    let down_ms = rng.gen_range(down_ms);
    match pick {
        0 => Fault::KillLeader {
            stream: "EVENTS",
            down_ms,
        },
        1 => Fault::KillLeader {
            stream: "LEDGER",
            down_ms,
        },
        _ => Fault::KillNode {
            node: rng.gen_range(0..common::nats::CLUSTER_NODES),
            down_ms,
        },
    }
}

fn schedule(rng: &mut StdRng, secs: u64, cluster: bool) -> Vec<(u64, Fault)> {
    let span_ms = secs * 1000;
    let mut faults = Vec::new();
    if secs <= 120 {
        // Short mode: each kind once (two terminal kills: an entry lane and an exit lane; in
        // cluster mode the leaders of EVENTS and LEDGER).
        let node_faults = if cluster {
            vec![
                node_fault(0, rng, 1000..3000),
                node_fault(1, rng, 1000..3000),
            ]
        } else {
            Vec::new()
        };
        let mut kinds = vec![
            Fault::KillTerminal {
                site: [0, 2][rng.gen_range(0..2)],
                down_ms: rng.gen_range(300..1500),
            },
            Fault::KillTerminal {
                site: [1, 3][rng.gen_range(0..2)],
                down_ms: rng.gen_range(300..1500),
            },
            Fault::Unplug {
                site: rng.gen_range(0..4),
            },
            Fault::PauseBroker {
                ms: rng.gen_range(3000..6000),
            },
            Fault::KillBroker {
                down_ms: rng.gen_range(500..2500),
            },
        ];
        kinds.extend(node_faults);
        let slot = span_ms.saturating_sub(10_000) / kinds.len() as u64;
        // The clock fault goes to a terminal no other fault takes down, so that it records
        // while its clock runs ahead.
        let busy: Vec<usize> = kinds
            .iter()
            .filter_map(|fault| match fault {
                Fault::KillTerminal { site, .. } | Fault::Unplug { site } => Some(*site),
                _ => None,
            })
            .collect();
        let free: Vec<usize> = (0..4).filter(|site| !busy.contains(site)).collect();
        let mut at = 4_000;
        while !kinds.is_empty() {
            let fault = kinds.remove(rng.gen_range(0..kinds.len()));
            faults.push((at + rng.gen_range(0..slot.max(1) / 2), fault));
            at += slot;
        }
        if faketime_available() {
            // One terminal's clock runs hours ahead for a third of the run, then is set back.
            let site = free[rng.gen_range(0..free.len())];
            faults.push((
                span_ms / 4,
                Fault::ClockJump {
                    site,
                    hours: CLOCK_JUMP_HOURS,
                },
            ));
            faults.push((span_ms * 7 / 12, Fault::ClockJump { site, hours: 0 }));
            faults.sort_by_key(|(at, _)| *at);
        }
    } else {
        let mut at = 10_000u64;
        // Cluster mode: a third of the faults take one node down.
        let kinds = if cluster { 15 } else { 10 };
        while at + 15_000 < span_ms {
            let fault = match rng.gen_range(0..kinds) {
                0..=3 => Fault::KillTerminal {
                    site: rng.gen_range(0..4),
                    down_ms: rng.gen_range(300..5000),
                },
                4..=5 => Fault::Unplug {
                    site: rng.gen_range(0..4),
                },
                6..=7 => Fault::PauseBroker {
                    ms: rng.gen_range(5_000..60_000),
                },
                8..=9 => Fault::KillBroker {
                    down_ms: rng.gen_range(1000..20_000),
                },
                pick => node_fault(pick % 3, rng, 1000..30_000),
            };
            faults.push((at, fault));
            // The next fault comes after this one has healed, so outages do not chain up.
            let lasts = match fault {
                Fault::PauseBroker { ms } => ms,
                Fault::KillBroker { down_ms }
                | Fault::KillTerminal { down_ms, .. }
                | Fault::KillNode { down_ms, .. }
                | Fault::KillLeader { down_ms, .. } => down_ms,
                Fault::Unplug { .. } | Fault::ClockJump { .. } => 0,
            };
            at += lasts + rng.gen_range(15_000..40_000);
        }
        if faketime_available() {
            let site = rng.gen_range(0..4);
            faults.push((
                span_ms / 5,
                Fault::ClockJump {
                    site,
                    hours: CLOCK_JUMP_HOURS,
                },
            ));
            faults.push((span_ms * 2 / 5, Fault::ClockJump { site, hours: 0 }));
            faults.sort_by_key(|(at, _)| *at);
        }
        // One long cut-off: minutes without the broker.
        if span_ms > 300_000 {
            let at = rng.gen_range(span_ms / 3..span_ms / 2);
            faults.push((at, Fault::PauseBroker { ms: 120_000 }));
            faults.sort_by_key(|(at, _)| *at);
        }
    }
    faults
}

// ---------------------------------------------------------------------------------------------
// Hostile inputs on their own seeded schedule, beside the faults (the run is no longer for them).

/// Idle connections held open on one terminal's API during a flood.
const FLOOD_CONNECTIONS: usize = 1500;
/// How long a flood is held.
const FLOOD_HOLD: Duration = Duration::from_secs(2);
/// Side of the noise images dropped into a spool (what made the decoder run for minutes).
const NOISE_SIDE: u32 = 3000;

#[derive(Clone, Copy, Debug)]
enum Hostile {
    /// A noise image in the terminal's spool: it must land in `failed/`, the lane staying up.
    NoiseImage { site: usize },
    /// Idle connections on the terminal's HTTP API: the status must still answer meanwhile.
    IdleFlood { site: usize },
    /// Junk bytes (short lines, no MRZ characters, no AIM prefix) on the terminal's scanner.
    ScannerGarbage { site: usize },
}

impl Hostile {
    fn kind(&self) -> &'static str {
        match self {
            Hostile::NoiseImage { .. } => "noise image in the spool (3000x3000)",
            Hostile::IdleFlood { .. } => "idle-connection flood on the API (1500)",
            Hostile::ScannerGarbage { .. } => "garbage bytes on a scanner",
        }
    }
}

/// Each hostile kind once in short mode (at a fifth, two fifths and three fifths of the run),
/// then once a minute each in long mode.
fn hostile_schedule(rng: &mut StdRng, secs: u64) -> Vec<(u64, Hostile)> {
    let span_ms = secs * 1000;
    let period_ms = if secs <= 120 { span_ms } else { 60_000 };
    let mut plan = Vec::new();
    for round in 0..(span_ms / period_ms).max(1) {
        let base = round * period_ms;
        for (fifth, make) in [
            (1, Hostile::NoiseImage { site: 0 }),
            (2, Hostile::IdleFlood { site: 0 }),
            (3, Hostile::ScannerGarbage { site: 0 }),
        ] {
            let site = rng.gen_range(0..SITES.len());
            let hostile = match make {
                Hostile::NoiseImage { .. } => Hostile::NoiseImage { site },
                Hostile::IdleFlood { .. } => Hostile::IdleFlood { site },
                Hostile::ScannerGarbage { .. } => Hostile::ScannerGarbage { site },
            };
            plan.push((base + period_ms * fifth / 5, hostile));
        }
    }
    plan
}

fn noise_png(seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let noise = image::GrayImage::from_fn(NOISE_SIDE, NOISE_SIDE, |_, _| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        image::Luma([(state >> 56) as u8])
    });
    let mut bytes = Vec::new();
    image::DynamicImage::ImageLuma8(noise)
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .expect("encode noise");
    bytes
}

/// Short junk lines: control and high bytes only, so no MRZ line, AIM symbol or code can form.
fn scanner_garbage(rng: &mut StdRng) -> Vec<u8> {
    let mut bytes = Vec::new();
    for _ in 0..64 {
        for _ in 0..rng.gen_range(1..25) {
            let byte = if rng.gen_bool(0.5) {
                rng.gen_range(0x80..=0xff)
            } else {
                rng.gen_range(0x00..0x20)
            };
            if byte != b'\r' && byte != b'\n' {
                bytes.push(byte);
            }
        }
        bytes.push(b'\r');
    }
    bytes
}

fn run_hostile(
    world: Arc<World>,
    plan: Vec<(u64, Hostile)>,
    daemons: Vec<Arc<Mutex<Daemon>>>,
    tally: Arc<Mutex<Tally>>,
    seed: u64,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    for (n, (at, hostile)) in plan.into_iter().enumerate() {
        let when = world.started + Duration::from_millis(at);
        while Instant::now() < when && !world.stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(20));
        }
        if world.stop.load(Ordering::Relaxed) {
            return;
        }
        eprintln!(
            "soak: t={:.1}s hostile {hostile:?}",
            world.started.elapsed().as_secs_f64()
        );
        match hostile {
            Hostile::NoiseImage { site } => noise_image(&world, &daemons[site], n, rng.r#gen()),
            Hostile::IdleFlood { site } => {
                let from = world.started.elapsed().as_secs_f64();
                idle_flood(&world, &daemons[site]);
                let to = world.started.elapsed().as_secs_f64();
                // The daemon closes the dropped connections within a moment.
                lock(&world.floods).push((site, from, to + 1.0));
            }
            Hostile::ScannerGarbage { site } => {
                let garbage = scanner_garbage(&mut rng);
                lock(&daemons[site]).write_scan(&garbage);
            }
        }
        *lock(&tally).faults.entry(hostile.kind()).or_default() += 1;
    }
}

fn noise_image(world: &World, daemon: &Mutex<Daemon>, n: usize, seed: u64) {
    let (spool, terminal) = {
        let daemon = lock(daemon);
        (daemon.dir.path().join("spool"), daemon.site.terminal_id())
    };
    let name = format!("noise-{n:03}.png");
    let part = spool.join("incoming").join(format!("{name}.part"));
    std::fs::write(&part, noise_png(seed)).expect("write noise image");
    std::fs::rename(&part, spool.join("incoming").join(&name)).expect("rename noise image");
    // Budget (2 s) + settle + a restart if a kill -9 comes meanwhile.
    let reason = spool.join("failed").join(format!("{name}.reason"));
    let deadline = Instant::now() + RECOVERY_WAIT;
    while !reason.exists() && Instant::now() < deadline && !world.stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
    }
    if !reason.exists() && !world.stop.load(Ordering::Relaxed) {
        world.violation(format!(
            "{terminal}: noise image not in failed/ after {RECOVERY_WAIT:?}"
        ));
    }
}

fn idle_flood(world: &World, daemon: &Mutex<Daemon>) {
    let (http, terminal, starts) = {
        let daemon = lock(daemon);
        (daemon.http, daemon.site.terminal_id(), daemon.starts)
    };
    let mut idle = Vec::with_capacity(FLOOD_CONNECTIONS);
    for _ in 0..FLOOD_CONNECTIONS {
        match std::net::TcpStream::connect_timeout(&http, Duration::from_millis(200)) {
            Ok(stream) => idle.push(stream),
            Err(_) => break,
        }
    }
    let answered = status(http).is_some();
    std::thread::sleep(FLOOD_HOLD);
    let answered_later = status(http).is_some();
    drop(idle);
    // A terminal killed by a fault meanwhile answers nothing either: only one that stayed up counts.
    let stayed_up = {
        let daemon = lock(daemon);
        daemon.child.is_some() && daemon.starts == starts
    };
    if !(answered && answered_later) && stayed_up {
        let up_again = wait_for(http, RECOVERY_WAIT, |_| true).is_some();
        world.violation(format!(
            "{terminal}: status unanswered under {FLOOD_CONNECTIONS} idle connections \
             (first {answered}, after {FLOOD_HOLD:?} {answered_later}, after the flood {up_again})"
        ));
    }
}

struct Tally {
    faults: BTreeMap<&'static str, u64>,
    permits_issued: u64,
    permits_revoked: u64,
    publish_failures: u64,
}

/// The node leading `stream` now (the cluster's answer within 20 s).
fn leader_of(url: &str, stream: &str) -> Option<usize> {
    runtime().block_on(async {
        let client = connect_link(url).await.ok()?;
        let js = async_nats::jetstream::new(client);
        stream_leader(&js, stream, Duration::from_secs(20)).await
    })
}

/// kill -9 of one node, restarted on its store after `down_ms`.
fn kill_node(nats: &Mutex<Broker>, node: usize, down_ms: u64) {
    lock(nats).kill_node(node);
    std::thread::sleep(Duration::from_millis(down_ms));
    lock(nats).restart_node(node);
}

fn run_faults(
    world: Arc<World>,
    plan: Vec<(u64, Fault)>,
    daemons: Vec<Arc<Mutex<Daemon>>>,
    nats: Arc<Mutex<Broker>>,
    tally: Arc<Mutex<Tally>>,
) {
    let url = lock(&nats).seeds();
    for (at, fault) in plan {
        let when = world.started + Duration::from_millis(at);
        while Instant::now() < when && !world.stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(20));
        }
        if world.stop.load(Ordering::Relaxed) {
            return;
        }
        eprintln!(
            "soak: t={:.1}s fault {fault:?}",
            world.started.elapsed().as_secs_f64()
        );
        match fault {
            Fault::KillTerminal { site, down_ms } => {
                lock(&daemons[site]).kill();
                std::thread::sleep(Duration::from_millis(down_ms));
                lock(&daemons[site]).spawn();
                let http = lock(&daemons[site]).http;
                if wait_for(http, RECOVERY_WAIT, scanner_up).is_none() {
                    let daemon = lock(&daemons[site]);
                    world.violation(format!(
                        "{} did not come back after kill -9; log:\n{}",
                        daemon.site.terminal_id(),
                        daemon.log_tail()
                    ));
                }
            }
            Fault::Unplug { site } => {
                lock(&daemons[site]).plug_scanner();
                let http = lock(&daemons[site]).http;
                if wait_for(http, RECOVERY_WAIT, scanner_up).is_none() {
                    world.violation(format!(
                        "{} scanner did not come back after unplugging",
                        SITES[site].terminal_id()
                    ));
                }
            }
            Fault::PauseBroker { ms } => {
                lock(&nats).pause();
                std::thread::sleep(Duration::from_millis(ms));
                lock(&nats).resume();
            }
            Fault::KillBroker { down_ms } => {
                lock(&nats).kill();
                std::thread::sleep(Duration::from_millis(down_ms));
                lock(&nats).restart();
            }
            Fault::KillNode { node, down_ms } => kill_node(&nats, node, down_ms),
            Fault::KillLeader { stream, down_ms } => match leader_of(&url, stream) {
                Some(node) => {
                    eprintln!("soak: {stream} is led by {}", NatsCluster::name(node));
                    kill_node(&nats, node, down_ms);
                }
                None => world.violation(format!("{stream} had no leader to kill")),
            },
            Fault::ClockJump { site, hours } => {
                let file = lock(&daemons[site]).clock_file.clone();
                if let Some(file) = file {
                    std::fs::write(&file, format!("{hours:+}h\n")).expect("write the clock offset");
                    // libfaketime rereads the file within a second.
                    std::thread::sleep(Duration::from_millis(1500));
                }
            }
        }
        *lock(&tally).faults.entry(fault.kind()).or_default() += 1;
    }
}

// ---------------------------------------------------------------------------------------------
// Resource samples.

#[derive(Clone, Debug)]
struct Sample {
    t_s: f64,
    site: usize,
    starts: u32,
    rss_kib: u64,
    fds: u64,
    threads: u64,
    disk_bytes: u64,
    outbox: Option<u64>,
}

fn proc_status_field(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim_start_matches(':').split_whitespace().next())
        .and_then(|value| value.parse().ok())
}

fn dir_bytes(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => dir_bytes(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}

fn sample(world: &World, daemons: &[Arc<Mutex<Daemon>>]) -> Vec<Sample> {
    let mut samples = Vec::new();
    for (site, daemon) in daemons.iter().enumerate() {
        let (pid, starts, data, http) = {
            let daemon = lock(daemon);
            (daemon.pid(), daemon.starts, daemon.data_dir(), daemon.http)
        };
        let Some(pid) = pid else { continue };
        let (Some(rss_kib), Some(threads)) = (
            proc_status_field(pid, "VmRSS"),
            proc_status_field(pid, "Threads"),
        ) else {
            continue;
        };
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |dir| dir.count() as u64);
        samples.push(Sample {
            t_s: world.started.elapsed().as_secs_f64(),
            site,
            starts,
            rss_kib,
            fds,
            threads,
            disk_bytes: dir_bytes(&data),
            outbox: status(http).and_then(|status| status["outbox_depth"].as_u64()),
        });
    }
    samples
}

fn sampler(
    world: Arc<World>,
    daemons: Vec<Arc<Mutex<Daemon>>>,
    every: Duration,
    out: Arc<Mutex<Vec<Sample>>>,
) {
    while !world.stop.load(Ordering::Relaxed) {
        let taken = sample(&world, &daemons);
        lock(&out).extend(taken);
        sleep_unless_stopped(&world, every);
    }
}

// ---------------------------------------------------------------------------------------------
// The run and the checks.

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name)
        .ok()
        .and_then(|value| value.trim().parse().ok())
}

fn checkpointctl(args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_checkpointctl"))
        .args(args)
        .output()
        .expect("run checkpointctl");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// One crossing as central's reference consumer exported it.
#[derive(Debug)]
struct CentralCrossing {
    event_hash: String,
    number: String,
    direction: String,
}

#[test]
fn soak_four_terminals_under_faults_lose_nothing() {
    soak(std::env::var_os("SOAK_CLUSTER").is_some_and(|v| v == "1"));
}

fn soak(cluster: bool) {
    let secs = env_u64("SOAK_SECS").unwrap_or(SHORT_SECS);
    let seed = env_u64("SOAK_SEED").unwrap_or_else(|| rand::thread_rng().r#gen());
    let sample_every =
        Duration::from_secs(env_u64("SOAK_SAMPLE_SECS").unwrap_or((secs / 30).clamp(2, 30)));
    eprintln!(
        "soak: SOAK_SEED={seed} SOAK_SECS={secs} cluster={cluster} (replay with SOAK_SEED={seed})"
    );
    let mut rng = StdRng::seed_from_u64(seed);

    let nats = if cluster {
        Broker::Cluster(NatsCluster::start())
    } else {
        Broker::Server(NatsServer::start())
    };
    let url = nats.seeds();
    let nats = Arc::new(Mutex::new(nats));
    let tally = Arc::new(Mutex::new(Tally {
        faults: BTreeMap::new(),
        permits_issued: 0,
        permits_revoked: 0,
        publish_failures: 0,
    }));

    // Central's ledger first: the issuer, every terminal's key (once a cluster has elected its
    // meta leader and can create streams).
    provisioned(&url);
    let (head, _) = publish(&url, initial_ledger(&issuer())).expect("initial ledger");
    let daemons: Vec<Arc<Mutex<Daemon>>> = SITES
        .iter()
        .map(|site| Arc::new(Mutex::new(Daemon::start(site, &url))))
        .collect();
    let not_ready = wait_replicated(&daemons, &url, head, Duration::from_secs(40), scanner_up);
    assert!(
        not_ready.is_empty(),
        "not ready (scanner up, ledger at {head}): {not_ready:#?}"
    );
    let world = Arc::new(World {
        people: Mutex::new(Vec::new()),
        record: Mutex::new(Ledger::default()),
        next_number: Mutex::new(0),
        stop: AtomicBool::new(false),
        started: Instant::now(),
        floods: Mutex::new(Vec::new()),
    });
    let archive_acks = archive_overstayers(&url, &world);
    lock(&world.record).acks.extend(archive_acks);

    // Traffic, central and faults.
    let plan = schedule(&mut rng, secs, cluster);
    eprintln!("soak: fault schedule {plan:?}");
    // Its own generator, so the faults and traffic of a seed stay what they were.
    let hostile_seed = seed ^ 0x2424_2424;
    let hostile_plan = hostile_schedule(&mut StdRng::seed_from_u64(hostile_seed), secs);
    eprintln!("soak: hostile inputs {hostile_plan:?}");
    let samples = Arc::new(Mutex::new(Vec::new()));
    let mut threads = Vec::new();
    for (index, site) in SITES.iter().enumerate() {
        let lane = Lane {
            daemon: Arc::clone(&daemons[index]),
            http: lock(&daemons[index]).http,
            terminal: site.terminal_id(),
            way: site.way,
            stream: None,
            cookie: None,
        };
        let world = Arc::clone(&world);
        let lane_seed: u64 = rng.r#gen();
        threads.push(std::thread::spawn(move || match site.way {
            Way::Entry => entry_worker(world, lane, lane_seed),
            Way::Exit => exit_worker(world, lane, lane_seed),
        }));
    }
    {
        let (world, url, tally) = (Arc::clone(&world), url.clone(), Arc::clone(&tally));
        let every = Duration::from_secs(if secs <= 120 { 3 } else { 10 });
        threads.push(std::thread::spawn(move || {
            publisher(world, url, every, tally)
        }));
    }
    let faults = {
        let (world, daemons, nats, tally) = (
            Arc::clone(&world),
            daemons.clone(),
            Arc::clone(&nats),
            Arc::clone(&tally),
        );
        let plan = plan.clone();
        std::thread::spawn(move || run_faults(world, plan, daemons, nats, tally))
    };
    {
        let (world, daemons, tally) = (Arc::clone(&world), daemons.clone(), Arc::clone(&tally));
        threads.push(std::thread::spawn(move || {
            run_hostile(world, hostile_plan, daemons, tally, hostile_seed)
        }));
    }
    {
        let (world, daemons, samples) = (Arc::clone(&world), daemons.clone(), Arc::clone(&samples));
        threads.push(std::thread::spawn(move || {
            sampler(world, daemons, sample_every, samples)
        }));
    }
    // A fault in progress finishes before traffic stops, so the drain starts from a healed system.
    let traffic_end = world.started + Duration::from_secs(secs);
    while Instant::now() < traffic_end {
        std::thread::sleep(Duration::from_millis(100));
    }
    world.stop.store(true, Ordering::Relaxed);
    faults.join().expect("fault thread");
    for thread in threads {
        thread.join().expect("soak thread");
    }
    let traffic_secs = world.started.elapsed().as_secs_f64();

    // Drain: outboxes empty, replicas at central's head (a fresh checkpoint first).
    let drain_started = Instant::now();
    let tick = Change::Alert(AlertRaised {
        holder: HolderDigest::of("XXX", "TICK-DRAIN").0,
        alert: AlertKind::Lost,
        note: "soak: drain".into(),
    });
    let (head, _) = publish(&url, vec![tick]).expect("final checkpoint");
    for problem in wait_replicated(&daemons, &url, head, DRAIN_WAIT, |status| {
        status["outbox_depth"] == 0
    }) {
        world.violation(format!(
            "did not drain (outbox empty, ledger at {head}): {problem}"
        ));
    }
    let drain_secs = drain_started.elapsed().as_secs_f64();
    lock(&samples).extend(sample(&world, &daemons));
    let mut clean_stops = 0;
    for daemon in &daemons {
        if lock(daemon).stop() {
            clean_stops += 1;
        }
    }

    // Each replica against central's head.
    let (central_seq, central_hash) = central_head(&url).expect("central head");
    let mut ledger_rows = Vec::new();
    for daemon in &daemons {
        let daemon = lock(daemon);
        let ledger = daemon.data_dir().join("ledger");
        let (ok, out, err) =
            checkpointctl(&["ledger", "status", "--data", &ledger.display().to_string()]);
        let replica: Value = serde_json::from_str(out.trim()).unwrap_or(Value::Null);
        let same = ok
            && replica["applied_seq"].as_u64() == Some(central_seq)
            && replica["applied_hash"].as_str() == Some(central_hash.as_str());
        if !same {
            world.violation(format!(
                "{} replica {out} {err} differs from central's head {central_seq} {central_hash}",
                daemon.site.terminal_id()
            ));
        }
        ledger_rows.push((
            daemon.site.terminal_id(),
            replica["applied_seq"].as_u64(),
            same,
        ));
    }

    // The reference central consumer.
    let keys_dir = tempfile::tempdir().expect("keys dir");
    let keys = keys_dir.path().join("terminal-keys");
    let mut key_lines = String::new();
    for site in &SITES {
        writeln!(
            key_lines,
            "{} {}",
            site.terminal_id(),
            hex::encode(site.key().verifying_key().to_bytes())
        )
        .expect("string");
    }
    writeln!(
        key_lines,
        "{ARCHIVE_ID} {}",
        hex::encode(
            SigningKey::from_bytes(&ARCHIVE_SEED)
                .verifying_key()
                .to_bytes()
        )
    )
    .expect("string");
    std::fs::write(&keys, key_lines).expect("keys file");
    let keys = keys.display().to_string();
    let (audit_ok, audit_out, audit_err) =
        checkpointctl(&["feed", "audit", "--nats", &url, "--keys", &keys]);
    let audit: Value = serde_json::from_str(audit_out.trim()).unwrap_or(Value::Null);
    if !audit_ok {
        world.violation(format!("central audit not clean: {audit_out} {audit_err}"));
    }
    let (export_ok, export_out, export_err) = checkpointctl(&[
        "feed",
        "export",
        "--since",
        "2000-01-01",
        "--nats",
        &url,
        "--keys",
        &keys,
    ]);
    assert!(export_ok, "feed export failed: {export_err}");
    let mut central: HashMap<(String, u64), CentralCrossing> = HashMap::new();
    let ahead = Timestamp::now() + SignedDuration::from_mins(30);
    let mut recorded_ahead = 0u64;
    for line in export_out.lines() {
        let line: Value = serde_json::from_str(line).expect("export line is JSON");
        if line["event"]["wall_time"]
            .as_str()
            .and_then(|time| time.parse::<Timestamp>().ok())
            .is_some_and(|time| time > ahead)
        {
            recorded_ahead += 1;
        }
        let key = (
            line["terminal"].as_str().unwrap_or("").to_string(),
            line["seq"].as_u64().unwrap_or(0),
        );
        let crossing = CentralCrossing {
            event_hash: line["event_hash"].as_str().unwrap_or("").to_string(),
            number: line["event"]["crossing"]["traveller"]["document_number"]
                .as_str()
                .unwrap_or("")
                .to_string(),
            direction: line["event"]["crossing"]["direction"]
                .as_str()
                .unwrap_or("")
                .to_string(),
        };
        if central.insert(key.clone(), crossing).is_some() {
            world.violation(format!("central exported {key:?} twice"));
        }
    }

    // Acknowledged == central (up to confirmations in doubt at a kill -9).
    let record = std::mem::take(&mut *lock(&world.record));
    let mut lost = Vec::new();
    let mut acked_keys = HashSet::new();
    for ack in &record.acks {
        let key = (ack.terminal.clone(), ack.seq);
        match central.get(&key) {
            Some(crossing)
                if crossing.event_hash == ack.event_hash
                    && crossing.number == ack.number
                    && crossing.direction == ack.direction => {}
            other => lost.push(format!("{ack:?} -> central has {other:?}")),
        }
        if !acked_keys.insert(key.clone()) {
            lost.push(format!("acknowledged twice: {key:?}"));
        }
    }
    let mut doubt: Vec<InDoubt> = record.in_doubt.clone();
    let mut recorded_in_doubt = 0;
    let mut unexplained = Vec::new();
    for (key, crossing) in &central {
        if acked_keys.contains(key) {
            continue;
        }
        if let Some(position) = doubt
            .iter()
            .position(|d| d.terminal == key.0 && d.number == crossing.number)
        {
            doubt.remove(position);
            recorded_in_doubt += 1;
        } else {
            unexplained.push(format!("{key:?} {crossing:?}"));
        }
    }
    let mut per_crossing: HashMap<(&str, &str, &str), u64> = HashMap::new();
    for ((terminal, _), crossing) in &central {
        *per_crossing
            .entry((terminal, &crossing.number, &crossing.direction))
            .or_default() += 1;
    }
    let duplicates: Vec<_> = per_crossing.iter().filter(|(_, n)| **n > 1).collect();

    // Resource bounds: per process incarnation, after warm-up, nothing keeps growing.
    let samples = lock(&samples).clone();
    let floods = lock(&world.floods).clone();
    let flooded = |sample: &Sample| {
        floods
            .iter()
            .any(|(site, from, to)| *site == sample.site && (*from..=*to).contains(&sample.t_s))
    };
    let mut resource_problems = Vec::new();
    for (site, lane) in SITES.iter().enumerate() {
        let mut by_start: BTreeMap<u32, Vec<&Sample>> = BTreeMap::new();
        for sample in samples.iter().filter(|s| s.site == site && !flooded(s)) {
            by_start.entry(sample.starts).or_default().push(sample);
        }
        for (start, run) in by_start {
            let (Some(first), Some(last)) = (run.first(), run.last()) else {
                continue;
            };
            let Some(warm) = run.iter().find(|s| s.t_s >= first.t_s + 10.0) else {
                continue;
            };
            if std::ptr::eq(*warm, *last) {
                continue;
            }
            let grew_fds = last.fds as i64 - warm.fds as i64;
            let grew_threads = last.threads as i64 - warm.threads as i64;
            if grew_fds > FD_SLACK || grew_threads > THREAD_SLACK {
                resource_problems.push(format!(
                    "{} (start {start}): fds {} -> {}, threads {} -> {} between t={:.0}s and t={:.0}s",
                    lane.terminal_id(),
                    warm.fds,
                    last.fds,
                    warm.threads,
                    last.threads,
                    warm.t_s,
                    last.t_s
                ));
            }
        }
    }

    // The report.
    let tally = lock(&tally);
    let mut report = String::new();
    let w = &mut report;
    let broker = if cluster {
        "A three-node JetStream cluster (routes on loopback; `EVENTS`, `LEDGER`, the checkpoint stream \
         and the snapshot bucket with 3 replicas; terminals and central's tools given all three seed URLs)"
    } else {
        "One nats-server"
    };
    writeln!(
        w,
        "# Soak report{}\n",
        if cluster { " (three-node cluster)" } else { "" }
    )
    .expect("string");
    writeln!(
        w,
        "Seed `SOAK_SEED={seed}`, {secs} s of traffic ({traffic_secs:.0} s with the last fault), drain {drain_secs:.1} s.\n\
         {broker}, four `checkpointd` terminals (officer lanes confirmed through the API), PTY scanners, \
         central issuing and revoking permits, an archive terminal holding {OVERSTAYERS} entries from {OVERSTAY_ENTRY_DAYS_AGO} days ago.\n"
    )
    .expect("string");
    writeln!(w, "## Crossings\n").expect("string");
    writeln!(
        w,
        "| terminal | acknowledged | recorded while in doubt (kill -9 before the answer) | at central |\n| --- | ---: | ---: | ---: |"
    )
    .expect("string");
    let terminals: Vec<String> = SITES
        .iter()
        .map(Site::terminal_id)
        .chain([ARCHIVE_ID.to_string()])
        .collect();
    for terminal in &terminals {
        let acked = record
            .acks
            .iter()
            .filter(|a| &a.terminal == terminal)
            .count();
        let doubt = record
            .in_doubt
            .iter()
            .filter(|d| &d.terminal == terminal)
            .count();
        let at_central = central.keys().filter(|(t, _)| t == terminal).count();
        writeln!(
            w,
            "| {terminal} | {acked} | {doubt} sent, see below | {at_central} |"
        )
        .expect("string");
    }
    writeln!(
        w,
        "\nTotal: {} acknowledged, {} confirmations in doubt of which {recorded_in_doubt} were recorded, {} at central; \
         {} travellers given up before a confirmation (terminal or scanner down, nothing recorded).\n",
        record.acks.len(),
        record.in_doubt.len(),
        central.len(),
        record.abandoned
    )
    .expect("string");
    writeln!(
        w,
        "Verdicts by lane direction, traveller kind and outcome:\n"
    )
    .expect("string");
    for (key, n) in &record.verdicts {
        writeln!(w, "- {key}: {n}").expect("string");
    }
    writeln!(
        w,
        "\nCentral: {} permits issued, {} revoked during the run ({} publish attempts failed during faults).\n",
        tally.permits_issued, tally.permits_revoked, tally.publish_failures
    )
    .expect("string");
    writeln!(w, "## Faults survived\n\n| fault | count |\n| --- | ---: |").expect("string");
    for (kind, n) in &tally.faults {
        writeln!(w, "| {kind} | {n} |").expect("string");
    }
    writeln!(
        w,
        "\nCrossings recorded while a terminal's clock ran ahead (wall time in the future at central): {recorded_ahead}."
    )
    .expect("string");
    writeln!(w, "\n## Checks\n").expect("string");
    let check = |ok: bool| if ok { "ok" } else { "FAILED" };
    writeln!(
        w,
        "- loss (acknowledged, not at central or different there): **{}** — {}",
        lost.len(),
        check(lost.is_empty())
    )
    .expect("string");
    writeln!(
        w,
        "- at central but never acknowledged nor in doubt: **{}** — {}",
        unexplained.len(),
        check(unexplained.is_empty())
    )
    .expect("string");
    writeln!(
        w,
        "- duplicate crossings at central (same terminal, document, direction): **{}** — {}",
        duplicates.len(),
        check(duplicates.is_empty())
    )
    .expect("string");
    writeln!(
        w,
        "- reference consumer audit: {} events, {} redelivered copies dropped, {} rejected, gaps/chain breaks/conflicts: {} — {}",
        audit["events"],
        audit["duplicates"],
        audit["rejected"],
        audit["terminals"]
            .as_array()
            .map(|terminals| terminals
                .iter()
                .map(|t| t["gaps"].as_array().map_or(0, Vec::len)
                    + t["chain_breaks"].as_array().map_or(0, Vec::len)
                    + t["conflicts"].as_array().map_or(0, Vec::len))
                .sum::<usize>())
            .unwrap_or(usize::MAX),
        check(audit_ok)
    )
    .expect("string");
    for (terminal, seq, same) in &ledger_rows {
        writeln!(
            w,
            "- {terminal} ledger replica at {seq:?}, central head {central_seq} — {}",
            check(*same)
        )
        .expect("string");
    }
    writeln!(
        w,
        "- stay days at exit counted from the entry recorded at another terminal: {} exits checked — {}",
        record.stay_checked,
        check(!record.violations.iter().any(|v| v.contains("days_used")))
    )
    .expect("string");
    writeln!(
        w,
        "- other expectation failures: {}",
        record.violations.len()
    )
    .expect("string");
    writeln!(
        w,
        "- fds/threads growth per process after 10 s warm-up within +{FD_SLACK}/+{THREAD_SLACK}: {}",
        check(resource_problems.is_empty())
    )
    .expect("string");
    writeln!(
        w,
        "- graceful stops at the end: {clean_stops}/{}",
        SITES.len()
    )
    .expect("string");
    writeln!(
        w,
        "\n## Resources (sampled every {} s)\n\nPer terminal: RSS MiB / open fds / threads / data dir MiB / outbox depth; `*` marks a restarted process.\n",
        sample_every.as_secs()
    )
    .expect("string");
    write!(w, "| t (s) |").expect("string");
    for site in &SITES {
        write!(w, " {} |", site.terminal_id()).expect("string");
    }
    writeln!(w, "\n| ---: |{}", " --- |".repeat(SITES.len())).expect("string");
    let mut rows: BTreeMap<u64, Vec<Option<&Sample>>> = BTreeMap::new();
    for sample in &samples {
        let bucket = (sample.t_s / sample_every.as_secs_f64()).round() as u64;
        rows.entry(bucket)
            .or_insert_with(|| vec![None; SITES.len()])[sample.site] = Some(sample);
    }
    for (bucket, row) in &rows {
        write!(w, "| {} |", bucket * sample_every.as_secs()).expect("string");
        for cell in row {
            match cell {
                Some(s) => write!(
                    w,
                    " {:.1} / {} / {} / {:.1} / {}{} |",
                    s.rss_kib as f64 / 1024.0,
                    s.fds,
                    s.threads,
                    s.disk_bytes as f64 / 1_048_576.0,
                    s.outbox.map_or("-".to_string(), |n| n.to_string()),
                    if s.starts > 1 {
                        format!(" *{}", s.starts - 1)
                    } else {
                        String::new()
                    }
                ),
                None => write!(w, " (down) |"),
            }
            .expect("string");
        }
        writeln!(w).expect("string");
    }
    writeln!(
        w,
        "\n## Notes\n\n\
         - Rerun: `scripts/soak [--cluster] --secs N [--seed S]` (docs/soak.md; docs/soak-cluster.md with \
         `--cluster`), or `[SOAK_CLUSTER=1] cargo test --test soak` for the short mode.\n\
         - Cluster mode: the broker faults hit every node (kill -9 of all three and restart: a whole-cluster \
         restart; all three frozen); node faults kill -9 one node (the one leading `EVENTS` or `LEDGER` at that \
         moment, or any) and restart it on its store.\n\
         - A crossing is acknowledged when `POST /api/v1/confirm` answered `200` with its seq and event hash; a \
         confirmation whose answer never came (the terminal was killed) is *in doubt* and may appear at central once.\n\
         - Stay days at exit: the exit lane presents a traveller only once its own stay look-up sees the entry (it came \
         over `EVENTS` from another terminal); the verdict's `days_used` must equal the civil days from that entry.\n\
         - Clock jumps: the daemon's configuration has no time offset or simulated clock, so when Debian's \
         `libfaketime` is installed every terminal runs under it (`LD_PRELOAD`, an offset file, the monotonic clock \
         left alone) and one terminal's wall clock runs 3 h ahead and is then set back; the soak fails without it. \
         The deterministic simulation (tests/sim.rs) covers clock faults in depth.\n\
         - Replication is read from the status's `ledger.applied_seq`; while it waits for the replicas, the soak \
         publishes a harmless entry every 8 s so that a terminal that missed a round has a newer checkpoint to take."
    )
    .expect("string");
    if !record.violations.is_empty() || !lost.is_empty() || !unexplained.is_empty() {
        writeln!(w, "\n## Problems\n").expect("string");
        for line in record
            .violations
            .iter()
            .chain(&lost)
            .chain(&unexplained)
            .chain(&resource_problems)
        {
            writeln!(w, "- {line}").expect("string");
        }
    }
    println!("{report}");
    let problems = !(record.violations.is_empty()
        && lost.is_empty()
        && unexplained.is_empty()
        && duplicates.is_empty()
        && audit_ok
        && resource_problems.is_empty());
    if problems || std::env::var_os("SOAK_KEEP_LOGS").is_some() {
        let keep = std::env::temp_dir().join(format!("soak-{seed}"));
        let _ = std::fs::create_dir_all(&keep);
        for daemon in &daemons {
            let daemon = lock(daemon);
            let _ = std::fs::copy(
                daemon.log_path(),
                keep.join(format!("{}.log", daemon.site.terminal_id())),
            );
        }
        println!("daemon logs kept in {}", keep.display());
    }
    if let Ok(path) = std::env::var("SOAK_REPORT") {
        std::fs::write(&path, &report).expect("write the soak report");
    }

    assert!(
        lost.is_empty(),
        "SOAK_SEED={seed}: acknowledged crossings lost: {lost:#?}"
    );
    assert!(
        unexplained.is_empty(),
        "SOAK_SEED={seed}: unacknowledged crossings at central: {unexplained:#?}"
    );
    assert!(
        duplicates.is_empty(),
        "SOAK_SEED={seed}: duplicate crossings: {duplicates:?}"
    );
    assert!(audit_ok, "SOAK_SEED={seed}: audit {audit_out} {audit_err}");
    assert!(
        ledger_rows.iter().all(|(_, _, same)| *same),
        "SOAK_SEED={seed}: replicas differ from central"
    );
    assert!(
        record.violations.is_empty(),
        "SOAK_SEED={seed}: {:#?}",
        record.violations
    );
    assert!(
        resource_problems.is_empty(),
        "SOAK_SEED={seed}: {resource_problems:#?}"
    );
    assert!(
        record.stay_checked > 0,
        "SOAK_SEED={seed}: no exit was checked"
    );
    if tally.faults.keys().any(|kind| kind.contains("forward")) {
        assert!(
            recorded_ahead > 0,
            "SOAK_SEED={seed}: the clock jump did not reach any event"
        );
    }
    let acked_at_lanes = record
        .acks
        .iter()
        .filter(|a| a.terminal != ARCHIVE_ID)
        .count();
    assert!(
        acked_at_lanes >= 20,
        "SOAK_SEED={seed}: only {acked_at_lanes} crossings"
    );
}
