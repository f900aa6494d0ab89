//! `checkpointd demo`: the whole terminal on embedded defaults in a temporary directory.
//!
//! It generates root, issuer and terminal keys, writes the terminal's configuration, key, token,
//! stay rules and device profiles into its directory and opens the terminal from them through
//! the daemon's own assembly (`Terminal::open_with`: stores, devices on two pseudo-terminals,
//! the console on loopback, and with `--nats URL` the upstream tasks streaming crossings to
//! JetStream), applies a signed ledger (permits, an e-visa, a revocation, an entry ban, a
//! lost-document alert, officers, a CSCA) to its replica, and replays a dozen travellers through
//! the terminal's arrivals lane and a departures lane beside it. The demo plays the officer.

mod cast;
mod chips;
mod console;
mod desk;
mod firmware;
mod ledger;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};

use crate::adapters::chip_sim::SimulatedField;
use crate::adapters::feed::Outbox;
use crate::adapters::system_clock::SystemClock;
use crate::core::decision::{Direction, Outcome};
use crate::exit::Exit;
use crate::ports::chip::DocumentChipReader;
use crate::ports::clock::Clock;
use crate::terminal::{Injected, Terminal};
use cast::{Cast, Traveller};
use desk::{Accounts, Desk, Lanes, Scanners};

/// Options of `checkpointd demo`.
#[derive(Debug, Clone, Default)]
pub struct DemoOptions {
    /// Stream crossings to this NATS server.
    pub nats_url: Option<String>,
    /// Keep the console page up this long after the last traveller.
    pub linger: Duration,
    /// Loopback address for the console (`127.0.0.1:0` picks a free port).
    pub http: Option<String>,
}

/// A clock the demo moves through time, so history can be recorded on past dates.
struct DemoClock {
    offset_s: AtomicI64,
    /// The system's clock the demo's time is shifted from (the one clock adapter).
    system: SystemClock,
}

impl Clock for DemoClock {
    fn now(&self) -> Timestamp {
        let offset = SignedDuration::from_secs(self.offset_s.load(Ordering::Relaxed));
        let now = self.system.now();
        now.checked_add(offset).unwrap_or(now)
    }

    fn monotonic(&self) -> Duration {
        self.system.monotonic()
    }
}

/// Runs the demo; returns how the process should exit.
pub fn run(options: DemoOptions) -> Exit {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("demo: cannot start the async runtime: {error}");
            return Exit::Failure;
        }
    };
    match runtime.block_on(demo(options)) {
        Ok(()) => Exit::Success,
        Err(error) => {
            eprintln!("demo failed: {error}");
            Exit::Failure
        }
    }
}

/// The demo's booth once its terminal is open: the lanes, the scanners and the chip field in
/// front of them, and the clock the demo moves.
struct Booth {
    lanes: Lanes,
    scanners: Scanners,
    clock: Arc<DemoClock>,
    field: SimulatedField,
    pki: chips::DemoPki,
    today: Date,
    /// The console's bearer token.
    token: String,
}

async fn demo(options: DemoOptions) -> Result<(), String> {
    let dir = tempfile::Builder::new()
        .prefix("checkpointd-demo-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    let time_zone = jiff::tz::TimeZone::get("Asia/Baku").map_err(|e| e.to_string())?;
    let clock = Arc::new(DemoClock {
        offset_s: AtomicI64::new(0),
        system: SystemClock::default(),
    });
    let now = clock.now();
    let today = now.to_zoned(time_zone).date();
    let mut rng = rand::rngs::OsRng;
    let accounts = Accounts::new(&mut rng);
    let keys = ledger::Keys::generate(&mut rng);
    let mut cast = Cast::new(today);
    let cards = cast.issue_cards(&keys.issuer, &keys.forger, today, now);
    // The passports' issuing state: its CSCA reaches the terminal through the ledger.
    let pki = chips::DemoPki::new()?;
    let field = SimulatedField::default();
    let scanners = Scanners::open()?;
    let (terminal, token) =
        open_terminal(dir.path(), &options, &keys, &scanners, &clock, &field).await?;
    let terminal_id = format!("{}-{}", terminal.identity().0, terminal.identity().1);
    println!("checkpointd demo — terminal {terminal_id}, Asia/Baku, today {today}");
    println!("  working directory {}", dir.path().display());
    let published = ledger::Published {
        cast: &cast,
        cards,
        accounts: &accounts,
        pki: &pki,
        terminal_id,
    };
    ledger::publish(terminal.ledger(), &keys, published, now, today)?;
    let departures = terminal
        .lane_facing(Direction::Exit)
        .map_err(|e| e.to_string())?;
    print_console(&terminal, &token, &accounts, &options)?;
    let mut booth = Booth {
        lanes: Lanes {
            terminal,
            departures,
        },
        scanners,
        clock,
        field,
        pki,
        today,
        token,
    };
    booth.lanes.wait_for_scanners().await?;
    println!(
        "  scanners: MRZ reader on {}, QR imager on {}\n",
        booth.scanners.mrz.path, booth.scanners.qr.path
    );
    replay(&mut booth, &cast, &accounts, &options).await?;
    finish(booth.lanes.terminal, options.nats_url.as_deref()).await;
    Ok(())
}

/// Writes the terminal's files into `dir` and opens it through the daemon's assembly, with the
/// demo's clock, its simulated chip field, and central only with `--nats`; also the console
/// token.
async fn open_terminal(
    dir: &std::path::Path,
    options: &DemoOptions,
    keys: &ledger::Keys,
    scanners: &Scanners,
    clock: &Arc<DemoClock>,
    field: &SimulatedField,
) -> Result<(Terminal, String), String> {
    let mut token_bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut token_bytes);
    let token = hex::encode(token_bytes);
    let config = firmware::write_and_load(
        dir,
        &firmware::Firmware {
            terminal_key: &keys.terminal,
            roots: &keys.roots,
            mrz_port: &scanners.mrz.path,
            qr_port: &scanners.qr.path,
            http: options.http.as_deref().unwrap_or("127.0.0.1:0"),
            nats_url: options.nats_url.as_deref(),
            token: &token,
        },
    )?;
    let clock: Arc<dyn Clock> = clock.clone();
    let reader: Arc<std::sync::Mutex<dyn DocumentChipReader>> =
        Arc::new(std::sync::Mutex::new(field.clone()));
    let injected = Injected {
        clock,
        chip_reader: Some(reader),
        upstream: options.nats_url.is_some(),
    };
    let terminal = Terminal::open_with(&config, injected)
        .await
        .map_err(|e| e.to_string())?;
    Ok((terminal, token))
}

/// The console's address and the accounts to sign in with; the feed, when there is one.
fn print_console(
    terminal: &Terminal,
    token: &str,
    accounts: &Accounts,
    options: &DemoOptions,
) -> Result<(), String> {
    let address = terminal
        .http_address()
        .ok_or("the console listener is not bound")?;
    println!("  console: http://{address}/?token={token}");
    for account in [&accounts.officer, &accounts.supervisor] {
        println!(
            "  sign in as {}: officer id {}  secret {}",
            account.label, account.id, account.secret
        );
    }
    if let Some(url) = &options.nats_url {
        println!("  feed: streaming crossings to {url} (stream EVENTS)");
    }
    Ok(())
}

/// The history, today's travellers, the summary, and the console rounds while the demo lingers.
async fn replay(
    booth: &mut Booth,
    cast: &Cast,
    accounts: &Accounts,
    options: &DemoOptions,
) -> Result<(), String> {
    let officer = accounts.officer.signed_in();
    let desk = |quiet| Desk {
        quiet,
        officer: &officer,
        supervisor: accounts.supervisor.id,
    };
    history(booth, cast, desk(true)).await?;
    let today_list = today_list(cast);
    println!("\ntoday:");
    let mut tally = [0usize; 3];
    for (traveller, direction) in today_list {
        let outcome = visit(booth, traveller, direction, desk(false)).await?;
        tally[outcome as usize] += 1;
    }
    let outbox = booth.lanes.terminal.outbox();
    println!(
        "\nsummary: {} admitted, {} referred to an officer, {} refused; {} crossings recorded, {} waiting for central",
        tally[0],
        tally[1],
        tally[2],
        recorded(outbox),
        outbox.depth()
    );
    if !options.linger.is_zero() {
        linger(booth, &today_list, options.linger).await?;
    }
    Ok(())
}

/// Earlier arrivals and departures, recorded on their own dates (oldest first, so the clock
/// only moves forward).
async fn history(booth: &mut Booth, cast: &Cast, desk: Desk<'_>) -> Result<(), String> {
    let history: [(i64, &Traveller, Direction); 6] = [
        (-266, &cast.russian, Direction::Entry), // 2026-03-02 when today is 2026-11-23
        (-190, &cast.resident, Direction::Entry),
        (-185, &cast.russian, Direction::Exit),
        (-100, &cast.overstayer, Direction::Entry),
        (-40, &cast.kazakh, Direction::Entry),
        (-12, &cast.resident, Direction::Exit),
    ];
    println!("history (recorded on past dates):");
    for (days, traveller, direction) in history {
        booth.clock.offset_s.store(days * 86_400, Ordering::Relaxed);
        visit(booth, traveller, direction, desk).await?;
    }
    booth.clock.offset_s.store(0, Ordering::Relaxed);
    Ok(())
}

/// Today's travellers, in the order they come.
fn today_list(cast: &Cast) -> [(&Traveller, Direction); 13] {
    [
        (&cast.georgian, Direction::Entry),
        (&cast.russian, Direction::Entry),
        (&cast.resident, Direction::Entry),
        (&cast.evisa, Direction::Entry),
        (&cast.forged, Direction::Entry),
        (&cast.revoked, Direction::Entry),
        (&cast.banned, Direction::Entry),
        (&cast.lost, Direction::Entry),
        (&cast.damaged, Direction::Entry),
        (&cast.altered_chip, Direction::Entry),
        (&cast.cloned_chip, Direction::Entry),
        (&cast.overstayer, Direction::Exit),
        (&cast.kazakh, Direction::Exit),
    ]
}

/// One traveller at the lane facing `direction`, their passport's chip in the field.
async fn visit(
    booth: &mut Booth,
    traveller: &Traveller,
    direction: Direction,
    desk: Desk<'_>,
) -> Result<Outcome, String> {
    booth
        .field
        .place(Some(console::chip_of(&booth.pki, traveller, booth.today)?));
    desk::process(
        &mut booth.lanes,
        direction,
        traveller,
        &mut booth.scanners,
        desk,
    )
    .await
}

/// Keeps the console up for `linger`, today's arrivals coming to it one at a time.
async fn linger(
    booth: &mut Booth,
    today_list: &[(&Traveller, Direction)],
    linger: Duration,
) -> Result<(), String> {
    let address = booth
        .lanes
        .terminal
        .http_address()
        .ok_or("the console listener is not bound")?;
    println!(
        "console stays up for {linger:?}: http://{address}/?token={}\n  today's arrivals come to it one at a time: the next when the officer has dealt with the one in front",
        booth.token
    );
    let entries: Vec<&Traveller> = today_list
        .iter()
        .filter(|(_, direction)| *direction == Direction::Entry)
        .map(|(traveller, _)| *traveller)
        .collect();
    let counter = console::Counter {
        field: &booth.field,
        pki: &booth.pki,
        today: booth.today,
        travellers: &entries,
    };
    console::console_rounds(&mut booth.lanes, counter, &mut booth.scanners, linger).await
}

/// Waits (boundedly) for the feed to drain when there is one, then stops the terminal.
async fn finish(terminal: Terminal, nats_url: Option<&str>) {
    if nats_url.is_some() {
        let outbox = terminal.outbox().clone();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while outbox.depth() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        println!(
            "feed: {} crossings still waiting for central",
            outbox.depth()
        );
    }
    terminal.shutdown().await;
}

/// The outbox's last sequence number: how many crossings this terminal recorded.
fn recorded(outbox: &Outbox) -> u64 {
    outbox
        .pending(None, usize::MAX)
        .map(|rows| rows.last().map_or(0, |row| row.seq))
        .unwrap_or(0)
}
