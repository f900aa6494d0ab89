//! The lane driver: the runtime's handler for scans and officer commands. It keeps the current
//! traveller session, publishes scans and verdicts to the API stream, records confirmed crossings
//! (durably, before saying "recorded") and, at a kiosk, opens the gate only after that.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use tokio::sync::{broadcast, watch};

use super::{Assessment, LaneSettings, assess};
use crate::adapters::api::{ApiCommand, ApiRefusal, OfficerDecision};
use crate::core::decision::{LaneMode, Outcome};
use crate::core::event::Operator;
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
    /// The lane's chip reader, if it has one.
    chip: Option<super::chip::ChipLane>,
    /// The chip evidence of the current session (a permit scanned later does not read again).
    chip_evidence: Option<(u64, crate::core::chip_evidence::ChipEvidence)>,
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
        let assessment = match assess(
            &session,
            &self.settings,
            self.parts.ledger.as_ref(),
            &self.parts.replication.borrow(),
            self.parts.movements.as_ref(),
            &self.parts.policy,
            now,
            self.clock_trusted,
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
            document = ?assessment.report.document_key().map(|key| key.number));
        let _ = self.events.send(assessment.screen_json());
        if let Some(meter) = &self.meter {
            meter.decided(&assessment.verdict, taken.elapsed());
        }
        self.current = Some(assessment.clone());
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
        let seq = match self.record(true, Operator::Kiosk(lane), &[], None).await {
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

    /// Periodic work: probe a faulted gate, refresh the status.
    pub async fn tick(&mut self) {
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
    pub async fn on_api(&mut self, command: ApiCommand) {
        match command {
            ApiCommand::Confirm { request, reply } => {
                let answer = self.confirm(&request).await;
                let _ = reply.send(answer);
            }
            ApiCommand::NewTraveller { reply } => {
                let closed = self.tracker.close().map(|session| session.id);
                self.current = None;
                let _ = reply.send(Ok(json!({ "closed": closed })));
            }
            ApiCommand::StayLookup { request, reply } => {
                let _ = reply.send(self.stay_lookup(&request));
            }
        }
    }

    async fn confirm(
        &mut self,
        request: &crate::adapters::api::ConfirmRequest,
    ) -> Result<Value, ApiRefusal> {
        let conflict = |message: &str| ApiRefusal {
            status: 409,
            message: message.to_string(),
        };
        if let Err(error) = crate::core::event::check_officer_id(&request.officer) {
            return Err(ApiRefusal {
                status: 400,
                message: error.to_string(),
            });
        }
        if let Some(key) = &request.idempotency_key
            && let Some(kept) = self.kept(key).await?
        {
            // A retry of a confirmation already recorded: its first answer, nothing new.
            return Ok(recorded_answer(&self.settings.time_zone, &kept));
        }
        let Some(current) = &self.current else {
            return Err(conflict("no traveller to confirm"));
        };
        if current.session != request.session {
            return Err(conflict("that traveller session is no longer current"));
        }
        let admit = request.decision == OfficerDecision::Admit;
        let against_verdict = admit && current.verdict.outcome == Outcome::Refuse;
        let override_reason = request
            .override_reason
            .as_deref()
            .map(str::trim)
            .unwrap_or("");
        if against_verdict && override_reason.is_empty() {
            return Err(ApiRefusal {
                status: 400,
                message: "admitting against a refusal needs an override reason".into(),
            });
        }
        let extra: &[&str] = if against_verdict {
            &["officer_override"]
        } else {
            &[]
        };
        let answer = self
            .record(
                admit,
                Operator::Officer(request.officer.clone()),
                extra,
                request.idempotency_key.clone(),
            )
            .await?;
        if against_verdict {
            // The reason is free text an officer typed (it may hold personal data): the signed
            // record is its place, the log only says how long it was.
            tracing::warn!(message = "officer override recorded", officer = %request.officer,
                reason_chars = override_reason.chars().count());
        }
        self.tracker.close();
        self.current = None;
        Ok(answer)
    }

    /// The confirmation kept under an idempotency key, if any.
    async fn kept(&self, key: &str) -> Result<Option<KeptConfirmation>, ApiRefusal> {
        let recorder = Arc::clone(&self.parts.recorder);
        let key = key.to_string();
        match tokio::task::spawn_blocking(move || recorder.kept(&key)).await {
            Ok(Ok(kept)) => Ok(kept),
            Ok(Err(error)) => Err(ApiRefusal {
                status: 503,
                message: format!("idempotency key not readable: {error}"),
            }),
            Err(error) => Err(ApiRefusal {
                status: 503,
                message: format!("idempotency key not readable: {error}"),
            }),
        }
    }

    async fn record(
        &mut self,
        admitted: bool,
        operator: Operator,
        extra_codes: &[&str],
        key: Option<String>,
    ) -> Result<Value, ApiRefusal> {
        let Some(current) = &self.current else {
            return Err(ApiRefusal {
                status: 409,
                message: "no traveller to record".into(),
            });
        };
        let Some(crossing) = current.crossing_for(&self.settings, admitted, operator, extra_codes)
        else {
            return Err(ApiRefusal {
                status: 409,
                message: "the document could not be identified: nothing can be recorded".into(),
            });
        };
        let session = current.session;
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
            Ok(Err(error)) => {
                return Err(ApiRefusal {
                    status: 503,
                    message: format!("not recorded: {error}"),
                });
            }
            Err(error) => {
                return Err(ApiRefusal {
                    status: 503,
                    message: format!("not recorded: {error}"),
                });
            }
        };
        if recorded.clock_suspect {
            self.clock_trusted = false;
        }
        self.n_recorded += 1;
        if let Some(meter) = &self.meter {
            meter.recorded(admitted);
        }
        let answer = recorded_answer(
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
        request: &crate::adapters::api::StayLookupRequest,
    ) -> Result<Value, ApiRefusal> {
        let bad = |message: String| ApiRefusal {
            status: 400,
            message,
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
            .map_err(|e| ApiRefusal {
                status: 503,
                message: e.to_string(),
            })?;
        let movements: Vec<_> = movements
            .iter()
            .filter_map(|record| {
                let direction = match record.direction {
                    crate::core::event::Direction::Entry => crate::core::stay::Direction::Entry,
                    crate::core::event::Direction::Exit => crate::core::stay::Direction::Exit,
                    crate::core::event::Direction::RefusedEntry => return None,
                };
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
        });
        let changed = *self.status.borrow() != status;
        if changed {
            let _ = self.status.send(status.clone());
            let _ = self.events.send(status);
        }
    }
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
