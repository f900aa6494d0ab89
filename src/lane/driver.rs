//! The lane driver: the runtime's handler for scans and officer commands. It keeps the current
//! traveller session, publishes scans and verdicts to the API stream, records confirmed crossings
//! (durably, before saying "recorded") and, at a kiosk, opens the gate only after that.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use tokio::sync::{broadcast, watch};

use super::commands::{LaneCommand, OfficerDecision, Refusal, RefusalKind, SignedIn};
use super::watchlist::{CATCH_UP_ENTRIES_PER_TICK, LaneWatchlist};
use super::{Assessment, LaneSettings, assess};
use crate::core::decision::{LaneMode, Outcome};
use crate::core::event::{
    AlertAcknowledged, CrossingKind, EventHash, OfficerOverride, Operator, ReferralNote,
    SecondLine, WatchlistDecision, WatchlistReview,
};
use crate::core::officer::Role;
use crate::core::session::{SessionChange, SessionScan, SessionTracker};
use crate::core::stay::policy::StayPolicy;
use crate::ports::clock::Clock;
use crate::ports::gate::Gate;
use crate::ports::ledger::{LedgerView, ReplicationState};
use crate::ports::scanner::{DeviceEvent, DeviceState, Link, ScanKind};
use crate::ports::telemetry::LaneMeter;
use crate::ports::upstream::{
    ConfirmationKey, CrossingRecorder, KeptConfirmation, MovementHistory,
};

/// What the lane's adapters are.
#[derive(Clone)]
pub struct LaneParts {
    /// The ledger replica.
    pub ledger: Arc<dyn LedgerView + Send + Sync>,
    /// The movement history of all terminals.
    pub movements: Arc<dyn MovementHistory>,
    /// The durable crossing recorder (the outbox).
    pub recorder: Arc<dyn CrossingRecorder>,
    /// How many crossings wait for central.
    pub outbox_depth: Arc<dyn Fn() -> usize + Send + Sync>,
    /// The latest wall time recorded by this terminal (any lane, before any restart).
    pub clock_high_water: Arc<dyn Fn() -> Option<Timestamp> + Send + Sync>,
    /// Stay rules.
    pub policy: Arc<StayPolicy>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// The kiosk gate, if any.
    pub gate: Option<Arc<Mutex<dyn Gate>>>,
    /// How the replica follows central (the replicator's task updates it).
    pub replication: watch::Receiver<ReplicationState>,
}

/// The lane's state between inputs.
pub struct LaneDriver {
    settings: LaneSettings,
    parts: LaneParts,
    tracker: SessionTracker,
    current: Option<Assessment>,
    events: broadcast::Sender<Value>,
    status: watch::Sender<Value>,
    devices: BTreeMap<String, DeviceState>,
    gate_ok: bool,
    clock_trusted: bool,
    last_wall_time: Option<Timestamp>,
    n_recorded: u64,
    meter: Option<Arc<dyn LaneMeter>>,
    /// Changed settings that only a restart applies (shown in the status until then).
    restart_required: Vec<String>,
    /// The acknowledged required action, by the traveller session it was given for.
    acknowledged: Option<(u64, AlertAcknowledged)>,
    /// A referred traveller waiting for the second line's decision.
    parked: Option<Parked>,
    /// The replica's person alerts, screened for every traveller.
    watchlist: LaneWatchlist,
    /// The lane's chip reader, if it has one.
    chip: Option<super::chip::ChipLane>,
    /// The chip evidence of the current session (a permit scanned later does not read again).
    chip_evidence: Option<(u64, crate::core::chip_evidence::ChipEvidence)>,
}

/// A referred traveller, parked for second line with the referral event's seq and hash.
#[derive(Clone)]
struct Parked {
    assessment: Assessment,
    seq: u64,
    hash: EventHash,
    acknowledged: Option<AlertAcknowledged>,
}

/// What the booth adds to a record (all absent for a plain confirmation or a kiosk).
#[derive(Default)]
struct BoothRecord {
    officer_override: Option<OfficerOverride>,
    referral: Option<ReferralNote>,
    second_line: Option<SecondLine>,
    alert_acknowledged: Option<AlertAcknowledged>,
    /// The officer's review of a person-alert hit.
    watchlist: Option<WatchlistReview>,
    /// Recorded as a referral (direction `referred`), not a crossing.
    referred: bool,
}

/// The action the verdict requires before anything is recorded: `raise_alert` (hold the
/// document, call the duty supervisor), or none.
fn required_action(assessment: &Assessment) -> Option<&'static str> {
    assessment.verdict.raise_alert.then_some("raise_alert")
}

/// A verdict published, with what was recorded for it (kiosk) — for callers that drive the
/// lane directly, such as the demo.
#[derive(Clone, Debug)]
pub struct LaneReport {
    /// The assessment.
    pub assessment: Assessment,
    /// The sequence of the crossing recorded for it (kiosk admit only).
    pub recorded_seq: Option<u64>,
}

impl LaneDriver {
    /// A lane with no traveller yet.
    pub fn new(
        settings: LaneSettings,
        parts: LaneParts,
        session_window: SignedDuration,
        events: broadcast::Sender<Value>,
        status: watch::Sender<Value>,
    ) -> Self {
        let gate_ok = parts.gate.is_none();
        let driver = Self {
            settings,
            parts,
            tracker: SessionTracker::new(session_window),
            current: None,
            events,
            status,
            devices: BTreeMap::new(),
            gate_ok,
            clock_trusted: true,
            last_wall_time: None,
            n_recorded: 0,
            meter: None,
            restart_required: Vec::new(),
            acknowledged: None,
            parked: None,
            watchlist: LaneWatchlist::default(),
            chip: None,
            chip_evidence: None,
        };
        driver.publish_status();
        driver
    }

    /// Reports scans, verdicts, records, device links and the clock to `meter`.
    pub fn with_meter(mut self, meter: Arc<dyn LaneMeter>) -> Self {
        meter.clock_trusted(self.clock_trusted);
        self.meter = Some(meter);
        self
    }

    /// Screens travellers against `watchlist` (built from the replica by the caller, off the
    /// loop); without it the lane builds its list from the replica on its first scan or tick.
    pub fn with_watchlist(mut self, watchlist: LaneWatchlist) -> Self {
        self.watchlist = watchlist;
        self.publish_status();
        self
    }

    /// Brings the watchlist up to the replica, reading at most `max` entries; true when it
    /// covers everything applied. A replica that cannot be read is logged and reported.
    fn follow_watchlist(&mut self, max: u64) -> Result<bool, super::LaneError> {
        let before = self.watchlist.len();
        let caught_up = self
            .watchlist
            .catch_up(self.parts.ledger.as_ref(), max)
            .map_err(|error| super::LaneError::Ledger(error.to_string()))?;
        if self.watchlist.len() != before {
            tracing::info!(
                message = "watchlist follows the ledger",
                alerts = self.watchlist.len(),
                applied_seq = self.watchlist.applied()
            );
        }
        Ok(caught_up)
    }

    /// Reads the chip of every passport and ID card scanned at this lane with `chip` (`None`:
    /// the lane reads no chips).
    pub fn with_chip_lane(mut self, chip: Option<super::chip::ChipLane>) -> Self {
        self.chip = chip;
        self
    }

    /// Replaces the chip reader (a reloaded configuration); the next document is read with it.
    pub fn set_chip_lane(&mut self, chip: Option<super::chip::ChipLane>) {
        self.chip = chip;
        self.chip_evidence = None;
    }

    /// Applies settings changed by a reload (lane, direction, mode, time zone, timing): the
    /// traveller in progress is dropped, the next scan starts a session under the new settings.
    pub fn reconfigure(&mut self, settings: LaneSettings, session_window: SignedDuration) {
        self.settings = settings;
        self.tracker = SessionTracker::new(session_window);
        self.current = None;
        self.publish_status();
    }

    /// Replaces the stay rules (a reloaded rules file).
    pub fn set_policy(&mut self, policy: Arc<StayPolicy>) {
        self.parts.policy = policy;
    }

    /// Records the changed settings that wait for a restart, shown in the status.
    pub fn set_restart_required(&mut self, keys: Vec<String>) {
        self.restart_required = keys;
        self.publish_status();
    }

    /// The current assessment, if a traveller is being processed.
    pub fn current(&self) -> Option<&Assessment> {
        self.current.as_ref()
    }

    /// Handles what a device reported; returns the new verdict if one was made.
    pub async fn on_device(&mut self, event: DeviceEvent) -> Option<LaneReport> {
        match event {
            DeviceEvent::Scan(scan) => {
                if let Some(meter) = &self.meter {
                    let kind = match scan.kind {
                        ScanKind::Mrz(_) => "mrz",
                        ScanKind::Symbol => "symbol",
                    };
                    meter.scanned(&scan.device, kind);
                }
                let session_scan = match &scan.kind {
                    ScanKind::Mrz(lines) => SessionScan::Mrz {
                        line_width: lines.expose().first().map_or(0, String::len),
                        text: lines.expose().join("\n"),
                    },
                    ScanKind::Symbol => match String::from_utf8(scan.payload.clone()) {
                        Ok(text) => SessionScan::Qr {
                            text: text.trim().to_string(),
                        },
                        Err(_) => {
                            tracing::warn!(message = "binary symbol ignored", device = %scan.device);
                            return None;
                        }
                    },
                };
                self.on_scan(&scan.device, session_scan).await
            }
            DeviceEvent::State(state) => {
                tracing::info!(message = "device state", device = %state.device, link = ?state.link,
                    last_error = ?state.last_error);
                if let Some(meter) = &self.meter {
                    meter.device_state(&state);
                }
                self.devices.insert(state.device.clone(), state);
                self.publish_status();
                None
            }
            DeviceEvent::Problem { device, problem } => {
                tracing::warn!(message = "device input dropped", %device, %problem);
                let _ = self.events.send(json!({
                    "type": "scan_problem", "device": device, "problem": problem.to_string(),
                }));
                None
            }
        }
    }

    /// Handles one scan: groups it into the traveller session and re-decides.
    pub async fn on_scan(&mut self, device: &str, scan: SessionScan) -> Option<LaneReport> {
        let taken = std::time::Instant::now();
        let now = self.now();
        let kind = match scan {
            SessionScan::Mrz { .. } => "mrz",
            SessionScan::Qr { .. } => "qr",
        };
        let change = self.tracker.accept(scan, now);
        let session_id = self.tracker.current().map(|session| session.id);
        let _ = self.events.send(json!({
            "type": "scan", "device": device, "kind": kind, "session": session_id,
            "change": format!("{change:?}").to_lowercase(),
        }));
        if matches!(change, SessionChange::Repeated | SessionChange::Full) {
            return None;
        }
        if change == SessionChange::Started {
            self.current = None;
        }
        let session = self.tracker.current()?.clone();
        // Never screen against a list behind the replica: whatever has applied counts.
        if let Err(error) = self.follow_watchlist(u64::MAX) {
            tracing::error!(message = "cannot read the person alerts", %error);
            let _ = self
                .events
                .send(json!({"type": "error", "message": error.to_string()}));
            return None;
        }
        let assessment = match assess(
            &session,
            &self.settings,
            self.parts.ledger.as_ref(),
            &self.parts.replication.borrow(),
            self.parts.movements.as_ref(),
            &self.parts.policy,
            now,
            self.clock_trusted,
            &self.watchlist,
        ) {
            Ok(assessment) => assessment,
            Err(super::LaneError::NoDocument) => return None,
            Err(error) => {
                tracing::error!(message = "cannot assess traveller", %error);
                let _ = self
                    .events
                    .send(json!({"type": "error", "message": error.to_string()}));
                return None;
            }
        };
        let mut assessment = self.with_chip(assessment).await;
        if self.settings.mode == LaneMode::Kiosk && !self.gate_ok {
            // A gate that does not answer keeps the kiosk referring until it recovers.
            assessment.verdict.outcome = assessment.verdict.outcome.max(Outcome::Refer);
            assessment
                .verdict
                .explanation
                .push_str("gate_fault: the gate does not answer\n");
        }
        tracing::info!(message = "verdict", session = assessment.session,
            outcome = ?assessment.verdict.outcome, reasons = ?assessment.verdict.codes(),
            document = ?assessment.report.document_key().map(|key| key.number),
            watchlist_hits = assessment.watchlist.len());
        let _ = self.events.send(assessment.screen_json());
        if let Some(meter) = &self.meter {
            meter.decided(&assessment.verdict, taken.elapsed());
        }
        self.current = Some(assessment.clone());
        // The status names the traveller and any required action (a reloaded console reads it).
        self.publish_status();
        let mut recorded_seq = None;
        if self.settings.mode == LaneMode::Kiosk && assessment.verdict.outcome == Outcome::Admit {
            recorded_seq = self.kiosk_admit().await;
        }
        Some(LaneReport {
            assessment,
            recorded_seq,
        })
    }

    /// Adds the chip's evidence when the lane has a reader: read once per session.
    async fn with_chip(&mut self, assessment: Assessment) -> Assessment {
        let Some(chip) = self.chip.as_mut() else {
            return assessment;
        };
        let evidence = match &self.chip_evidence {
            Some((session, evidence)) if *session == assessment.session => Some(evidence.clone()),
            _ => {
                let today = assessment.input.today;
                let read = chip
                    .read_and_weigh(&assessment.report, self.parts.ledger.as_ref(), today)
                    .await;
                let name = chip.name().to_owned();
                if let Some((_, link)) = &read {
                    self.chip_reader_state(name, link.clone());
                }
                let read = read.map(|(evidence, _)| evidence);
                if let Some(evidence) = &read {
                    self.chip_evidence = Some((assessment.session, evidence.clone()));
                    let _ = self.events.send(json!({
                        "type": "chip", "session": assessment.session,
                        "result": super::chip::facts_code(&evidence.facts),
                        "access": evidence.access,
                    }));
                }
                read
            }
        };
        match evidence {
            Some(evidence) => assessment.with_chip(evidence),
            None => assessment,
        }
    }

    /// The chip reader's link in the status, as the last read found it.
    fn chip_reader_state(&mut self, device: String, link: Result<(), String>) {
        let now = self.parts.clock.now();
        let previous = self.devices.get(&device);
        let up = link.is_ok();
        let since = match previous {
            Some(state) if (state.link == Link::Up) == up => state.since,
            _ => now,
        };
        let last_error = match link {
            Ok(()) => previous.and_then(|state| state.last_error.clone()),
            Err(error) => Some(error),
        };
        let state = DeviceState {
            device: device.clone(),
            link: if up { Link::Up } else { Link::Down },
            since,
            last_error,
        };
        if previous != Some(&state) {
            tracing::info!(message = "device state", device = %state.device, link = ?state.link,
                last_error = ?state.last_error);
            self.devices.insert(device, state);
            self.publish_status();
        }
    }

    /// Kiosk: check the gate, record durably, then open the gate.
    async fn kiosk_admit(&mut self) -> Option<u64> {
        if let Some(gate) = self.parts.gate.clone() {
            let ping = tokio::task::spawn_blocking(move || lock(&gate).ping()).await;
            if !matches!(ping, Ok(Ok(()))) {
                self.set_gate(false, "gate did not answer before admitting: referred");
                return None;
            }
        }
        let lane = self.settings.lane.clone();
        let kiosk = Operator::Kiosk(lane);
        let seq = match self
            .record_by(true, kiosk, &[], None, BoothRecord::default())
            .await
        {
            Ok(answer) => answer.get("seq").and_then(Value::as_u64),
            Err(refusal) => {
                tracing::error!(message = "kiosk could not record", error = %refusal.message);
                return None;
            }
        };
        if let Some(gate) = self.parts.gate.clone() {
            let opened = tokio::task::spawn_blocking(move || lock(&gate).open()).await;
            match opened {
                Ok(Ok(())) => {
                    let _ = self
                        .events
                        .send(json!({"type": "gate", "state": "open", "seq": seq}));
                }
                Ok(Err(error)) => self.set_gate(false, &format!("gate did not open: {error}")),
                Err(error) => self.set_gate(false, &format!("gate task failed: {error}")),
            }
        }
        seq
    }

    fn set_gate(&mut self, ok: bool, detail: &str) {
        if self.gate_ok != ok {
            tracing::warn!(message = "gate state", ok, detail);
        }
        self.gate_ok = ok;
        let state = if ok { "closed" } else { "fault" };
        let _ = self
            .events
            .send(json!({"type": "gate", "state": state, "detail": detail}));
        self.publish_status();
    }

    /// Periodic work: follow the replica's person alerts, probe a faulted gate, refresh the
    /// status.
    pub async fn tick(&mut self) {
        if let Err(error) = self.follow_watchlist(CATCH_UP_ENTRIES_PER_TICK) {
            tracing::error!(message = "cannot read the person alerts", %error);
        }
        if !self.gate_ok
            && let Some(gate) = self.parts.gate.clone()
        {
            let ping = tokio::task::spawn_blocking(move || lock(&gate).ping()).await;
            if matches!(ping, Ok(Ok(()))) {
                self.set_gate(true, "gate answers again");
            }
        }
        self.publish_status();
    }

    /// Handles a command from the API.
    pub async fn on_api(&mut self, command: LaneCommand) {
        match command {
            LaneCommand::Confirm { request, reply } => {
                let answer = self.confirm(&request).await;
                let _ = reply.send(answer);
            }
            LaneCommand::NewTraveller { reply } => {
                let answer = self.new_traveller();
                let _ = reply.send(answer);
            }
            LaneCommand::StayLookup { request, reply } => {
                let _ = reply.send(self.stay_lookup(&request));
            }
            LaneCommand::Refer {
                officer,
                request,
                reply,
            } => {
                let answer = self.refer(&officer, &request.note).await;
                let _ = reply.send(answer);
            }
            LaneCommand::SecondLine {
                officer,
                request,
                reply,
            } => {
                let answer = self.second_line(&officer, &request).await;
                let _ = reply.send(answer);
            }
            LaneCommand::AcknowledgeAlert {
                officer,
                request,
                reply,
            } => {
                let answer = self.acknowledge(&officer, &request.action);
                let _ = reply.send(answer);
            }
            LaneCommand::Current { reply } => {
                let current = self.current.as_ref().map(Assessment::screen_json);
                let _ = reply.send(Ok(current.unwrap_or(Value::Null)));
            }
            LaneCommand::Face { reply } => {
                let face = self
                    .current
                    .as_ref()
                    .and_then(|current| current.chip.as_ref())
                    .and_then(|chip| chip.face.clone());
                let _ = reply.send(face);
            }
        }
    }

    fn new_traveller(&mut self) -> Result<Value, Refusal> {
        self.check_alert_acknowledged()?;
        let closed = self.tracker.close().map(|session| session.id);
        self.current = None;
        self.publish_status();
        Ok(json!({ "closed": closed }))
    }

    async fn confirm(
        &mut self,
        request: &super::commands::ConfirmRequest,
    ) -> Result<Value, Refusal> {
        let Some(officer) = request.officer.clone() else {
            return Err(Refusal::coded(
                RefusalKind::NotSignedIn,
                json!({ "error": "not_signed_in" }),
            ));
        };
        if let Some(key) = &request.idempotency_key
            && let Some(kept) = self.kept(key).await?
        {
            // A retry of a confirmation already recorded: its first answer, nothing new.
            return Ok(recorded_answer(&self.settings.time_zone, &kept));
        }
        let Some(current) = &self.current else {
            return Err(Refusal::new(
                RefusalKind::Conflict,
                "no traveller to confirm",
            ));
        };
        if current.session != request.session {
            return Err(Refusal::new(
                RefusalKind::Conflict,
                "that traveller session is no longer current",
            ));
        }
        self.check_alert_acknowledged()?;
        let admit = request.decision == OfficerDecision::Admit;
        let review = watchlist_review(current, request)?;
        let against_verdict = admit && !admissible_without_override(current, review.as_ref());
        let officer_override = match (&request.cosigned, against_verdict) {
            (Some(cosigned), true) => Some(OfficerOverride {
                reason_code: cosigned.reason_code.clone(),
                text: cosigned.text.clone(),
                officer_id: officer.officer_id.clone(),
                supervisor_id: cosigned.supervisor_id.clone(),
            }),
            // Four eyes: admitting against a refusal or a referral needs a supervisor.
            (None, true) => return Err(Refusal::forbidden(Role::Supervisor)),
            (Some(_), false) => {
                return Err(Refusal::coded(
                    RefusalKind::Invalid,
                    json!({ "error": "invalid_field", "field": "override",
                        "message": "an override is only for admitting against a refusal or a referral" }),
                ));
            }
            (None, false) => None,
        };
        let extra: &[&str] = if officer_override.is_some() {
            &["officer_override"]
        } else {
            &[]
        };
        let booth = BoothRecord {
            officer_override,
            watchlist: review.clone(),
            ..BoothRecord::default()
        };
        let answer = self
            .record_by(
                admit,
                Operator::Officer(officer.officer_id.clone()),
                extra,
                request.idempotency_key.clone(),
                booth,
            )
            .await?;
        if let Some(cosigned) = &request.cosigned {
            // The explanation is free text (it may hold personal data): the signed record is
            // its place, the log only says how long it was.
            tracing::warn!(message = "officer override recorded", officer = %officer.officer_id,
                supervisor = %cosigned.supervisor_id, reason_code = %cosigned.reason_code,
                text_chars = cosigned.text.chars().count());
        }
        if let Some(review) = &review {
            // The alert id and the decision, never the names: central reviews the hit from
            // the signed record.
            tracing::info!(message = "watchlist hit reviewed", alert_id = %review.alert_id,
                score = review.score.0, decision = ?review.decision);
        }
        self.tracker.close();
        self.current = None;
        self.publish_status();
        Ok(answer)
    }

    /// Records a referral of the current traveller and parks them for second line.
    async fn refer(&mut self, officer: &SignedIn, note: &str) -> Result<Value, Refusal> {
        if let Some(parked) = &self.parked {
            return Err(Refusal::coded(
                RefusalKind::Conflict,
                json!({ "error": "referral_pending", "referral_seq": parked.seq,
                    "message": "a referred traveller waits for the second line's decision" }),
            ));
        }
        if self.current.is_none() {
            return Err(Refusal::new(RefusalKind::Conflict, "no traveller to refer"));
        }
        self.check_alert_acknowledged()?;
        let booth = BoothRecord {
            referral: Some(ReferralNote {
                note: note.to_string(),
            }),
            referred: true,
            ..BoothRecord::default()
        };
        let operator = Operator::Officer(officer.officer_id.clone());
        let answer = self.record_by(false, operator, &[], None, booth).await?;
        let (Some(seq), Some(hash)) = (
            answer.get("seq").and_then(Value::as_u64),
            answer
                .get("event_id")
                .and_then(Value::as_str)
                .and_then(|hex| EventHash::try_from(hex.to_string()).ok()),
        ) else {
            return Err(Refusal::new(
                RefusalKind::Unavailable,
                "referral recorded without a sequence",
            ));
        };
        let acknowledged = self.acknowledgement().cloned();
        if let Some(assessment) = self.current.take() {
            self.parked = Some(Parked {
                assessment,
                seq,
                hash,
                acknowledged,
            });
        }
        self.tracker.close();
        self.publish_status();
        Ok(answer)
    }

    /// Records the second line's decision on the parked referral, naming the referral event.
    async fn second_line(
        &mut self,
        officer: &SignedIn,
        request: &super::commands::SecondLineRequest,
    ) -> Result<Value, Refusal> {
        let Some(parked) = self.parked.clone() else {
            return Err(Refusal::coded(
                RefusalKind::Conflict,
                json!({ "error": "no_referral", "message": "no referred traveller waits" }),
            ));
        };
        let admit = request.decision == OfficerDecision::Admit;
        if admit && parked.assessment.verdict.outcome == Outcome::Refuse {
            // A refusal is admitted only with a supervisor's override, never by referring it.
            return Err(Refusal::forbidden(Role::Supervisor));
        }
        let booth = BoothRecord {
            alert_acknowledged: parked.acknowledged.clone(),
            second_line: Some(SecondLine {
                referral_seq: parked.seq,
                referral_hash: parked.hash,
                reason_code: request.reason_code.clone(),
                text: request.text.clone(),
            }),
            ..BoothRecord::default()
        };
        // The decision is about the parked traveller, whoever stands at the booth now.
        let in_front = self.current.replace(parked.assessment.clone());
        let operator = Operator::Officer(officer.officer_id.clone());
        let recorded = self.record_by(admit, operator, &[], None, booth).await;
        self.current = in_front;
        let answer = recorded?;
        self.parked = None;
        self.publish_status();
        Ok(answer)
    }

    /// Acknowledges the current verdict's required action.
    fn acknowledge(&mut self, officer: &SignedIn, action: &str) -> Result<Value, Refusal> {
        let Some(current) = &self.current else {
            return Err(Refusal::new(
                RefusalKind::Conflict,
                "no traveller in front of the booth",
            ));
        };
        let Some(required) = required_action(current) else {
            return Err(Refusal::new(
                RefusalKind::Conflict,
                "the verdict requires no action",
            ));
        };
        if action != required {
            return Err(Refusal::coded(
                RefusalKind::Invalid,
                json!({ "error": "invalid_field", "field": "action",
                    "message": format!("the required action is {required}") }),
            ));
        }
        let acknowledged = AlertAcknowledged {
            action: required.to_string(),
            officer_id: officer.officer_id.clone(),
            at: self.parts.clock.now(),
        };
        let session = current.session;
        tracing::info!(message = "alert acknowledged", session, officer = %officer.officer_id);
        let answer = json!({ "type": "alert_ack", "session": session,
            "required_action": required, "acknowledged": true,
            "officer_id": acknowledged.officer_id, "at": acknowledged.at });
        self.acknowledged = Some((session, acknowledged));
        let _ = self.events.send(answer.clone());
        self.publish_status();
        Ok(answer)
    }

    /// The acknowledgement of the current traveller's required action, if one was given.
    fn acknowledgement(&self) -> Option<&AlertAcknowledged> {
        let current = self.current.as_ref()?;
        match &self.acknowledged {
            Some((session, ack)) if *session == current.session => Some(ack),
            _ => None,
        }
    }

    /// Refuses (409) while the current verdict's required action is not acknowledged.
    fn check_alert_acknowledged(&self) -> Result<(), Refusal> {
        let Some(required) = self.current.as_ref().and_then(required_action) else {
            return Ok(());
        };
        if self.acknowledgement().is_some() {
            return Ok(());
        }
        Err(Refusal::coded(
            RefusalKind::Conflict,
            json!({ "error": "alert_not_acknowledged", "required_action": required }),
        ))
    }

    /// The confirmation kept under an idempotency key, if any.
    async fn kept(&self, key: &str) -> Result<Option<KeptConfirmation>, Refusal> {
        let recorder = Arc::clone(&self.parts.recorder);
        let key = key.to_string();
        match tokio::task::spawn_blocking(move || recorder.kept(&key)).await {
            Ok(Ok(kept)) => Ok(kept),
            Ok(Err(error)) => Err(Refusal {
                kind: RefusalKind::Unavailable,
                message: format!("idempotency key not readable: {error}"),
                body: None,
            }),
            Err(error) => Err(Refusal {
                kind: RefusalKind::Unavailable,
                message: format!("idempotency key not readable: {error}"),
                body: None,
            }),
        }
    }

    async fn record_by(
        &mut self,
        admitted: bool,
        operator: Operator,
        extra_codes: &[&str],
        key: Option<String>,
        booth: BoothRecord,
    ) -> Result<Value, Refusal> {
        let Some(current) = &self.current else {
            return Err(Refusal {
                kind: RefusalKind::Conflict,
                message: "no traveller to record".into(),
                body: None,
            });
        };
        let Some(mut crossing) = current.crossing_for(
            &self.settings,
            admitted,
            operator,
            extra_codes,
            booth.watchlist,
        ) else {
            return Err(Refusal {
                kind: RefusalKind::Conflict,
                message: "the document could not be identified: nothing can be recorded".into(),
                body: None,
            });
        };
        let session = current.session;
        let referred = booth.referred;
        crossing.alert_acknowledged = booth
            .alert_acknowledged
            .or_else(|| self.acknowledgement().cloned());
        crossing.officer_override = booth.officer_override;
        crossing.referral = booth.referral;
        crossing.second_line = booth.second_line;
        if referred {
            crossing.direction = CrossingKind::Referred;
        }
        let direction = crossing.direction;
        let recorder = Arc::clone(&self.parts.recorder);
        let recorded = tokio::task::spawn_blocking(move || match key {
            Some(key) => recorder.record_keyed(
                crossing,
                ConfirmationKey {
                    key,
                    session,
                    admitted,
                },
            ),
            None => recorder.record(crossing),
        })
        .await;
        let recorded = match recorded {
            Ok(Ok(recorded)) => recorded,
            Ok(Err(error)) => return Err(not_recorded(error)),
            Err(error) => return Err(not_recorded(error)),
        };
        if recorded.clock_suspect {
            self.clock_trusted = false;
        }
        self.n_recorded += 1;
        if let Some(meter) = &self.meter {
            meter.recorded(admitted);
        }
        let mut answer = recorded_answer(
            &self.settings.time_zone,
            &KeptConfirmation {
                session,
                seq: recorded.seq,
                event_hash: recorded.event_hash,
                wall_time: recorded.wall_time,
                direction,
                admitted,
            },
        );
        if referred {
            answer["outcome"] = json!("referred");
        }
        tracing::info!(
            message = "crossing recorded",
            session,
            seq = recorded.seq,
            ?direction
        );
        let _ = self.events.send(answer.clone());
        self.publish_status();
        Ok(answer)
    }

    fn stay_lookup(
        &mut self,
        request: &super::commands::StayLookupRequest,
    ) -> Result<Value, Refusal> {
        let bad = |message: String| Refusal {
            kind: RefusalKind::Invalid,
            message,
            body: None,
        };
        let today = crate::core::stay::civil_date_in(self.now(), &self.settings.time_zone);
        let on = match &request.on {
            Some(text) => text
                .parse()
                .map_err(|e| bad(format!("on: not a date: {e}")))?,
            None => today,
        };
        let holder = crate::core::document::HolderDigest::of(
            &request.issuing_state,
            &request.document_number,
        );
        let movements = self
            .parts
            .movements
            .movements(&holder)
            .map_err(|e| Refusal {
                kind: RefusalKind::Unavailable,
                message: e.to_string(),
                body: None,
            })?;
        let movements: Vec<_> = movements
            .iter()
            .filter_map(|record| {
                let direction = record.direction.crossed()?;
                let date = crate::core::stay::civil_date_in(record.at, &self.settings.time_zone);
                Some(crate::core::stay::Movement { date, direction })
            })
            .collect();
        let assessment = self
            .parts
            .policy
            .assess(&request.nationality, &movements, &[], on);
        serde_json::to_value(&assessment).map_err(|e| bad(e.to_string()))
    }

    fn now(&mut self) -> Timestamp {
        let now = self.parts.clock.now();
        // Compare with this lane's readings and with what the terminal already recorded (another
        // lane, or before a restart): a clock behind either has been set back.
        let recorded = (self.parts.clock_high_water)();
        let latest = self.last_wall_time.max(recorded);
        if let Some(latest) = latest
            && latest.duration_since(now) > self.settings.clock_backwards_tolerance
        {
            if self.clock_trusted {
                tracing::warn!(message = "clock is behind an earlier reading", %latest, %now);
            }
            self.clock_trusted = false;
        }
        self.last_wall_time = Some(latest.map_or(now, |latest| latest.max(now)));
        now
    }

    fn publish_status(&self) {
        if let Some(meter) = &self.meter {
            meter.clock_trusted(self.clock_trusted);
        }
        let devices: Vec<Value> = self
            .devices
            .values()
            .map(|state| {
                json!({
                    "name": state.device,
                    "state": if state.link == Link::Up { "up" } else { "down" },
                    "since": state.since, "last_error": state.last_error,
                })
            })
            .collect();
        let checkpoint_time = self.parts.ledger.checkpoint_time().ok().flatten();
        let now = self.parts.clock.now();
        let replication = self.parts.replication.borrow().clone();
        let (age, stale) = super::ledger_freshness(
            checkpoint_time,
            &replication,
            now,
            self.settings.ledger_stale_after,
        );
        let status = json!({
            "type": "status",
            "checkpoint": self.settings.checkpoint,
            "lane": self.settings.lane,
            "direction": self.settings.direction,
            "mode": self.settings.mode,
            "devices": devices,
            "ledger": {
                "applied_seq": self.parts.ledger.applied_seq().ok().flatten(),
                "age_seconds": age.map(|age| age.as_secs()),
                "stale": stale,
                "replication": replication.to_string(),
            },
            "outbox_depth": (self.parts.outbox_depth)(),
            "recorded": self.n_recorded,
            "clock": { "trusted": self.clock_trusted },
            "gate": self.parts.gate.as_ref().map(|_| if self.gate_ok { "ok" } else { "fault" }),
            "restart_required": self.restart_required,
            "session": self.current.as_ref().map(|current| current.session),
            "required_action": self.current.as_ref().and_then(required_action),
            "acknowledged": self.acknowledgement().is_some(),
            "referral_pending": self.parked.as_ref().map(|parked| json!({
                "session": parked.assessment.session, "seq": parked.seq,
            })),
            "time_zone": self.settings.time_zone.iana_name(),
            // Counts only: the status also goes to central in heartbeats; a hit's details are
            // in the traveller's verdict.
            "watchlist": {
                "alerts": self.watchlist.len(),
                "applied_seq": self.watchlist.applied(),
                "threshold": self.settings.watchlist_threshold,
            },
        });
        let changed = *self.status.borrow() != status;
        if changed {
            let _ = self.status.send(status.clone());
            let _ = self.events.send(status);
        }
    }
}

/// Whether admitting the traveller goes with the verdict: an ADMIT, or a verdict that refers
/// only for a person-alert hit the officer dismissed (the rest of the verdict then decides).
fn admissible_without_override(current: &Assessment, review: Option<&WatchlistReview>) -> bool {
    let outcome = match review {
        Some(review) if review.decision == WatchlistDecision::Dismissed => {
            let rest = crate::core::decision::DecisionInput {
                watchlist_hits: 0,
                ..current.input.clone()
            };
            crate::core::decision::decide(&rest).outcome
        }
        _ => current.verdict.outcome,
    };
    !matches!(outcome, Outcome::Refuse | Outcome::Refer)
}

/// The officer's review of the traveller's person-alert hit, checked against the assessment: a
/// hit must be confirmed or dismissed, by the id of one of the hits; a confirmed hit is never
/// admitted (the alert says refuse or hold).
fn watchlist_review(
    current: &Assessment,
    request: &super::commands::ConfirmRequest,
) -> Result<Option<WatchlistReview>, Refusal> {
    let bad = |message: String| Refusal::new(RefusalKind::Invalid, message);
    let Some(asked) = &request.watchlist else {
        if current.watchlist.is_empty() {
            return Ok(None);
        }
        return Err(bad(format!(
            "the traveller matches {} person alert(s): confirm or dismiss the hit (`watchlist`: {{\"alert_id\", \"decision\": \"confirmed\" | \"dismissed\"}})",
            current.watchlist.len()
        )));
    };
    let Some(hit) = current
        .watchlist
        .iter()
        .find(|hit| hit.alert_id == asked.alert_id)
    else {
        return Err(bad(format!(
            "watchlist.alert_id: {:?} is not among this traveller's hits",
            asked.alert_id.chars().take(64).collect::<String>()
        )));
    };
    if asked.decision == WatchlistDecision::Confirmed && request.decision == OfficerDecision::Admit
    {
        return Err(bad(
            "a confirmed person-alert hit is refused or held as the alert says: record `refuse`"
                .into(),
        ));
    }
    Ok(Some(WatchlistReview {
        alert_id: hit.alert_id.clone(),
        score: crate::core::event::AlertScore(hit.score),
        decision: asked.decision,
    }))
}

fn lock(gate: &Mutex<dyn Gate>) -> std::sync::MutexGuard<'_, dyn Gate + 'static> {
    // A panic while holding the gate cannot leave it half-written in a way that matters: the
    // next exchange clears the input and resends.
    gate.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The `recorded` answer of a confirmation (the same for its retries).
fn recorded_answer(time_zone: &jiff::tz::TimeZone, kept: &KeptConfirmation) -> Value {
    json!({
        "type": "recorded", "session": kept.session, "seq": kept.seq,
        "direction": kept.direction, "event_id": hex::encode(kept.event_hash.0),
        "outcome": if kept.admitted { "admit" } else { "refuse" },
        "recorded_at": kept.wall_time.to_zoned(time_zone.clone()).to_string(),
    })
}

/// The refusal when the recorder (or its blocking task) failed: nothing was confirmed.
fn not_recorded(error: impl std::fmt::Display) -> Refusal {
    Refusal {
        kind: RefusalKind::Unavailable,
        message: format!("not recorded: {error}"),
        body: None,
    }
}
