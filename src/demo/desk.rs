//! The demo's booth: the officer accounts it enrols, the two scanners on pseudo-terminals it
//! presents documents to, the terminal's two lanes, and the scripted officer who deals with
//! each verdict.

use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::time::Duration;

use jiff::ToSpan;
use jiff::civil::Date;
use tokio::sync::oneshot;

use super::cast::Traveller;
use crate::core::decision::{Direction, Outcome};
use crate::core::ledger::{Change, OfficerEnrolled};
use crate::core::officer::{Language, Role};
use crate::lane::commands::{
    AlertAckRequest, CoSigned, ConfirmRequest, LaneCommand, OfficerDecision, SignedIn,
};
use crate::lane::driver::{LaneDriver, LaneReport};
use crate::ports::scanner::{DeviceEvent, Link};
use crate::terminal::{Arrival, Terminal};

/// How long the demo waits for a scan to come back from a device thread.
const SCAN_WAIT: Duration = Duration::from_secs(5);

/// An officer account the demo enrols in its ledger and prints the sign-in of.
pub struct DemoAccount {
    pub label: &'static str,
    pub id: &'static str,
    role: Role,
    /// A fresh random 8-digit PIN.
    pub secret: String,
}

impl DemoAccount {
    fn new(
        rng: &mut impl rand::RngCore,
        label: &'static str,
        id: &'static str,
        role: Role,
    ) -> Self {
        let secret = format!("{:08}", rng.next_u32() % 100_000_000);
        Self {
            label,
            id,
            role,
            secret,
        }
    }

    /// The account as signed in at the demo's scripted booth (no cookie: the demo drives the
    /// lane directly).
    pub fn signed_in(&self) -> SignedIn {
        SignedIn {
            officer_id: self.id.into(),
            role: self.role,
            language: Language::Az,
            idle_timeout_s: 600,
        }
    }

    /// The `officer_enrolled` entry of the account, valid from `today` for a year.
    pub fn enrolment(&self, rng: &mut impl rand::RngCore, today: Date) -> Result<Change, String> {
        let mut salt = [0u8; 16];
        rng.fill_bytes(&mut salt);
        Ok(Change::OfficerEnrolled(OfficerEnrolled {
            officer_id: self.id.into(),
            role: self.role,
            verifier: crate::core::officer::make_verifier(self.secret.as_bytes(), &salt)?,
            valid_from: today,
            valid_until: today.checked_add(1.year()).map_err(|e| e.to_string())?,
            language: Language::Az,
        }))
    }
}

/// The officer and the supervisor.
pub struct Accounts {
    pub officer: DemoAccount,
    pub supervisor: DemoAccount,
}

impl Accounts {
    /// Both accounts with fresh secrets.
    pub fn new(rng: &mut impl rand::RngCore) -> Self {
        Self {
            officer: DemoAccount::new(rng, "the officer", "DEMO-OFFICER", Role::Officer),
            supervisor: DemoAccount::new(
                rng,
                "the supervisor",
                "DEMO-SUPERVISOR",
                Role::Supervisor,
            ),
        }
    }
}

/// A pseudo-terminal whose slave a device adapter opens as a serial port.
pub struct Pty {
    master: File,
    pub path: String,
    _slave: OwnedFd,
}

impl Pty {
    fn open() -> Result<Self, String> {
        let pair = nix::pty::openpty(None, None).map_err(|e| format!("openpty: {e}"))?;
        let path = nix::unistd::ttyname(&pair.slave).map_err(|e| format!("ttyname: {e}"))?;
        Ok(Self {
            master: File::from(pair.master),
            path: path.to_string_lossy().into_owned(),
            _slave: pair.slave,
        })
    }

    fn send(&mut self, text: &str) -> Result<(), String> {
        self.master
            .write_all(text.as_bytes())
            .map_err(|e| format!("pty write: {e}"))
    }
}

/// The two simulated scanners: an MRZ reader and a QR imager.
pub struct Scanners {
    pub mrz: Pty,
    pub qr: Pty,
}

impl Scanners {
    /// Two fresh pseudo-terminals.
    pub fn open() -> Result<Self, String> {
        Ok(Self {
            mrz: Pty::open()?,
            qr: Pty::open()?,
        })
    }

    /// Presents a traveller's documents: the passport's zone, then each card.
    pub async fn present(&mut self, traveller: &Traveller) -> Result<(), String> {
        self.mrz
            .send(&format!("{}\r{}\r", traveller.mrz[0], traveller.mrz[1]))?;
        for card in &traveller.cards {
            // A moment between documents, as a person takes the card out.
            tokio::time::sleep(Duration::from_millis(50)).await;
            self.qr.send(&format!("]Q1{card}\r"))?;
        }
        Ok(())
    }
}

/// The demo's terminal: its own lane at arrivals, and a second lane facing departures.
pub struct Lanes {
    pub terminal: Terminal,
    pub departures: LaneDriver,
}

impl Lanes {
    /// The lane facing `direction`.
    pub fn facing(&mut self, direction: Direction) -> &mut LaneDriver {
        match direction {
            Direction::Entry => &mut self.terminal.lane,
            Direction::Exit => &mut self.departures,
        }
    }

    /// The next device event or console command, within the scan wait.
    async fn next(&mut self, waiting_for: &str) -> Result<Arrival, String> {
        tokio::select! {
            arrival = self.terminal.next_arrival() => arrival.ok_or_else(|| "the terminal's inputs closed".to_string()),
            () = tokio::time::sleep(SCAN_WAIT) => Err(format!("no scan arrived for {waiting_for}")),
        }
    }

    /// Waits until both scanners' ports are open: scans written before would be cooked by the
    /// tty's default line discipline.
    pub async fn wait_for_scanners(&mut self) -> Result<(), String> {
        let mut n_up = 0;
        while n_up < 2 {
            let arrival = self
                .next("the scanners")
                .await
                .map_err(|_| "the scanners did not come up".to_string())?;
            match arrival {
                Arrival::Device(event) => {
                    if let DeviceEvent::State(state) = &event
                        && state.link == Link::Up
                    {
                        n_up += 1;
                    }
                    self.terminal.lane.on_device(event.clone()).await;
                    self.departures.on_device(event).await;
                }
                Arrival::Api(command) => self.terminal.lane.on_api(command).await,
            }
        }
        Ok(())
    }
}

/// How the demo plays the officer: who is signed in, and whether to print admits.
#[derive(Clone, Copy)]
pub struct Desk<'a> {
    pub quiet: bool,
    pub officer: &'a SignedIn,
    /// The supervisor who co-signs letting a referred traveller leave.
    pub supervisor: &'a str,
}

/// Scans one traveller's documents at the lane facing `direction`, waits for the verdict, and
/// plays the officer.
pub async fn process(
    lanes: &mut Lanes,
    direction: Direction,
    traveller: &Traveller,
    scanners: &mut Scanners,
    desk: Desk<'_>,
) -> Result<Outcome, String> {
    let (closed_tx, _closed_rx) = oneshot::channel();
    lanes
        .facing(direction)
        .on_api(LaneCommand::NewTraveller { reply: closed_tx })
        .await;
    scanners.present(traveller).await?;
    let report = verdict(lanes, direction, traveller).await?;
    let lane = lanes.facing(direction);
    let recorded = match decide(&report) {
        Some(decision) => confirm(lane, &report, decision, desk).await,
        None => String::from("not recorded (second line)"),
    };
    print_line(&report, traveller, desk.quiet, &recorded);
    Ok(report.assessment.verdict.outcome)
}

/// Feeds the lane until every document of `traveller` was scanned; the last verdict.
async fn verdict(
    lanes: &mut Lanes,
    direction: Direction,
    traveller: &Traveller,
) -> Result<LaneReport, String> {
    let n_scans = 1 + traveller.cards.len();
    let mut report = None;
    let mut n_seen = 0;
    while n_seen < n_scans {
        let event = match lanes.next(traveller.label).await? {
            Arrival::Device(event) => event,
            Arrival::Api(command) => {
                lanes.facing(direction).on_api(command).await;
                continue;
            }
        };
        if matches!(event, DeviceEvent::Scan(_)) {
            n_seen += 1;
        }
        if let Some(new) = lanes.facing(direction).on_device(event).await {
            report = Some(new);
        }
    }
    report.ok_or_else(|| format!("no verdict for {}", traveller.label))
}

/// The demo's officer: confirm admits and refusals; for a referral, let an exit through with
/// the supervisor's override (the fine is handled at the booth) and send an entry to second
/// line (nothing recorded).
fn decide(report: &LaneReport) -> Option<OfficerDecision> {
    match (report.assessment.verdict.outcome, lane_direction(report)) {
        (Outcome::Admit, _) | (Outcome::Refer, Direction::Exit) => Some(OfficerDecision::Admit),
        (Outcome::Refuse, _) => Some(OfficerDecision::Refuse),
        (Outcome::Refer, Direction::Entry) => None,
    }
}

/// Confirms `decision` at the lane; what was recorded, in words.
async fn confirm(
    lane: &mut LaneDriver,
    report: &LaneReport,
    decision: OfficerDecision,
    desk: Desk<'_>,
) -> String {
    let verdict = &report.assessment.verdict;
    if verdict.raise_alert {
        // The demo's officer holds the document and calls the supervisor first.
        let (reply, answer) = oneshot::channel();
        let request = AlertAckRequest {
            action: "raise_alert".into(),
        };
        let officer = desk.officer.clone();
        lane.on_api(LaneCommand::AcknowledgeAlert {
            officer,
            request,
            reply,
        })
        .await;
        let _ = answer.await;
    }
    let request = ConfirmRequest {
        session: report.assessment.session,
        decision,
        override_request: None,
        idempotency_key: None,
        officer: Some(desk.officer.clone()),
        // Letting a referred traveller leave goes against the verdict: the demo's supervisor
        // co-signs (the scripted desk drives the lane directly, past the API's sign-in).
        cosigned: (verdict.outcome == Outcome::Refer).then(|| CoSigned {
            reason_code: "other".into(),
            text: "fine settled at the booth before departure".into(),
            supervisor_id: desk.supervisor.into(),
        }),
        watchlist: None,
    };
    let (reply, answer) = oneshot::channel();
    lane.on_api(LaneCommand::Confirm { request, reply }).await;
    match answer.await {
        Ok(Ok(value)) => format!(
            "recorded {} #{}",
            value["direction"].as_str().unwrap_or("?"),
            value["seq"]
        ),
        Ok(Err(refusal)) => format!("not recorded: {}", refusal.message),
        Err(_) => "not recorded: lane did not answer".into(),
    }
}

/// One line per traveller: the verdict, its reasons and stay figures (an admit in the history
/// only by name).
fn print_line(report: &LaneReport, traveller: &Traveller, quiet: bool, recorded: &str) {
    let verdict = &report.assessment.verdict;
    let direction = format!("{:?}", lane_direction(report)).to_lowercase();
    if quiet && verdict.outcome == Outcome::Admit {
        println!("  {direction:<8} {:<46} {recorded}", traveller.label);
        return;
    }
    let figures = report
        .assessment
        .input
        .stay
        .as_ref()
        .map(|stay| match lane_direction(report) {
            Direction::Entry => format!(
                "days used {}, may stay until {}",
                stay.days_used,
                stay.latest_legal_exit.map_or("-".into(), |d| d.to_string())
            ),
            Direction::Exit => format!(
                "days used {}, overstay {}",
                stay.days_used, stay.overstay_days
            ),
        });
    println!(
        "  {direction:<8} {:<46} {:<6} [{}] {}; {}",
        traveller.label,
        format!("{:?}", verdict.outcome).to_uppercase(),
        verdict
            .codes()
            .iter()
            .map(|code| code.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        figures.unwrap_or_default(),
        recorded
    );
}

fn lane_direction(report: &LaneReport) -> Direction {
    report.assessment.input.direction
}
