//! `checkpointd demo`: the whole terminal on embedded defaults in a temporary directory.
//!
//! It generates root, issuer and terminal keys, builds and applies a signed ledger (permits, an
//! e-visa, a revocation, an entry ban, a lost-document alert), wires two simulated scanners
//! through real pseudo-terminals and the real device adapters, and replays a dozen travellers
//! through an arrivals lane and a departures lane of one terminal — the same lane, decision and
//! recording code the daemon runs. The demo plays the officer. The console page is served on
//! loopback while it runs; with `--nats URL` the crossings are streamed to JetStream.

use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use ed25519_dalek::SigningKey;
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp, ToSpan};
use serde_json::Value;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::adapters::api::{
    self, AlertAckRequest, ApiAccess, ApiCommand, ApiState, CoSigned, ConfirmRequest,
    OfficerDecision,
};
use crate::adapters::booth::{Booth, BoothSettings, SignedIn};
use crate::adapters::chip_sim::SimulatedField;
use crate::adapters::devices::{self, Backoff, DeviceSpec, parse_profile};
use crate::adapters::feed::{Outbox, OutboxConfig, RelayConfig, run_relay};
use crate::adapters::ledger::SledLedger;
use crate::core::chip::reader::ReadSettings;
use crate::core::decision::{Direction, LaneMode, Outcome};
use crate::core::document::HolderDigest;
use crate::core::event::TerminalId;
use crate::core::ledger::permit_check::{Bp1Verification, index_of};
use crate::core::ledger::{
    AlertKind, AlertRaised, Change, Checkpoint, CscaCertificate, IssuerKeyAdded, OfficerEnrolled,
    PermitIssued, PermitRevoked, RootKey, RootSet, SignedCheckpoint, TerminalKeyAdded, extend,
    verify_batch,
};
use crate::core::mrz::{Td3Fields, compose_td3};
use crate::core::officer::{Language, Role};
use crate::core::permit::{self, PermitBody, PermitClaims, PermitHolder, PermitType};
use crate::core::privacy::{DocumentNumber, PersonName};
use crate::core::stay::policy::StayPolicy;
use crate::exit::Exit;
use crate::lane::LaneSettings;
use crate::lane::chip::ChipLane;
use crate::lane::driver::{LaneDriver, LaneParts};
use crate::ports::chip::DocumentChipReader;
use crate::ports::clock::Clock;
use crate::ports::ledger::LedgerStore;
use crate::ports::scanner::DeviceEvent;

/// The stay rules shipped in `firmware-config/`, embedded so the demo runs from anywhere.
const STAY_RULES: &str = include_str!("../firmware-config/stay-rules.toml");
const MRZ_READER_PROFILE: &str = include_str!("../devices/generic-mrz-rs232.toml");
const QR_IMAGER_PROFILE: &str = include_str!("../devices/honeywell-2d-cdc.toml");
const TERMINAL_ID: &str = "AZ-DEMO-1";
/// How long the demo waits for a scan to come back from a device thread.
const SCAN_WAIT: Duration = Duration::from_secs(5);

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
    origin: std::time::Instant,
}

impl Clock for DemoClock {
    fn now(&self) -> Timestamp {
        let offset = SignedDuration::from_secs(self.offset_s.load(Ordering::Relaxed));
        Timestamp::now()
            .checked_add(offset)
            .unwrap_or_else(|_| Timestamp::now())
    }

    fn monotonic(&self) -> Duration {
        self.origin.elapsed()
    }
}

mod chips;

/// One traveller of the demo.
struct Traveller {
    label: &'static str,
    mrz: [String; 2],
    cards: Vec<String>,
    /// The passport's chip, placed on the arrivals lane's reader when the MRZ is scanned.
    chip: chips::ChipKind,
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

fn yymmdd(date: Date) -> String {
    format!(
        "{:02}{:02}{:02}",
        date.year() % 100,
        date.month(),
        date.day()
    )
}

struct Issuer {
    key: SigningKey,
    kid: [u8; 8],
}

impl Issuer {
    fn card(
        &self,
        permit_type: PermitType,
        holder: &Traveller,
        birth: Date,
        from: Date,
        until: Date,
        now: Timestamp,
    ) -> (String, [u8; 16]) {
        let line2 = &holder.mrz[1];
        let number: String = line2
            .chars()
            .take(9)
            .collect::<String>()
            .trim_end_matches('<')
            .to_string();
        let state: String = holder.mrz[0].chars().skip(2).take(3).collect();
        let nationality: String = line2.chars().skip(10).take(3).collect();
        let body = PermitBody {
            permit_type,
            holder: PermitHolder {
                issuing_state: state,
                document_number: DocumentNumber::new(number),
                birth_date: birth,
                nationality,
                name: PersonName::new(holder.label),
            },
            valid_from: from,
            valid_until: until,
            employer: (permit_type == PermitType::WorkPermit)
                .then(|| "Caspian Drilling LLC".to_string()),
            entries: matches!(permit_type, PermitType::EvisaSingle).then_some(1),
            region: None,
        };
        let mut cti = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut cti);
        // Signed on the first day of validity, so history on past dates sees a valid card.
        let start = from
            .to_zoned(jiff::tz::TimeZone::UTC)
            .map(|z| z.timestamp())
            .unwrap_or(now);
        let claims = PermitClaims {
            issuer: "AZ-SMS".into(),
            issued_at: start,
            not_before: start,
            expires_at: until
                .to_zoned(jiff::tz::TimeZone::UTC)
                .map(|z| z.timestamp())
                .unwrap_or(now)
                .checked_add(SignedDuration::from_hours(24))
                .unwrap_or(now),
            permit_id: cti,
        };
        (
            permit::sign_permit(&body, &claims, &self.key, self.kid),
            cti,
        )
    }
}

fn holder_of(traveller: &Traveller) -> HolderDigest {
    let state: String = traveller.mrz[0].chars().skip(2).take(3).collect();
    let number: String = traveller.mrz[1].chars().take(9).collect();
    HolderDigest::of(&state, number.trim_end_matches('<'))
}

struct Pty {
    master: File,
    path: String,
    _slave: OwnedFd,
}

fn pty() -> Result<Pty, String> {
    let pair = nix::pty::openpty(None, None).map_err(|e| format!("openpty: {e}"))?;
    let path = nix::unistd::ttyname(&pair.slave).map_err(|e| format!("ttyname: {e}"))?;
    Ok(Pty {
        master: File::from(pair.master),
        path: path.to_string_lossy().into_owned(),
        _slave: pair.slave,
    })
}

async fn demo(options: DemoOptions) -> Result<(), String> {
    let dir = tempfile::Builder::new()
        .prefix("checkpointd-demo-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    let time_zone = jiff::tz::TimeZone::get("Asia/Baku").map_err(|e| e.to_string())?;
    let clock = Arc::new(DemoClock {
        offset_s: AtomicI64::new(0),
        origin: std::time::Instant::now(),
    });
    let real_now = Timestamp::now();
    let today = real_now.to_zoned(time_zone.clone()).date();
    let mut rng = rand::rngs::OsRng;
    let officer = DemoAccount::new(&mut rng, "the officer", "DEMO-OFFICER", Role::Officer);
    let supervisor = DemoAccount::new(
        &mut rng,
        "the supervisor",
        "DEMO-SUPERVISOR",
        Role::Supervisor,
    );
    println!("checkpointd demo — terminal {TERMINAL_ID}, Asia/Baku, today {today}");
    println!("  working directory {}", dir.path().display());

    // Keys: two offline roots (2 of 2), one permit issuer, this terminal.
    let root_keys = [
        SigningKey::generate(&mut rng),
        SigningKey::generate(&mut rng),
    ];
    let issuer = {
        let key = SigningKey::generate(&mut rng);
        let kid = permit::key_id(&key.verifying_key());
        Issuer { key, kid }
    };
    let terminal_key = SigningKey::generate(&mut rng);
    let forger = {
        let key = SigningKey::generate(&mut rng);
        let kid = issuer.kid; // the forger copies the real kid: only the signature tells
        Issuer { key, kid }
    };

    let date = |days: i64| today.checked_add(days.days()).unwrap_or(today);
    let td = |label, state, surname, given, number, nat, birth: Date, sex| Traveller {
        label,
        mrz: compose_td3(&Td3Fields {
            state,
            surname,
            given,
            number,
            nationality: nat,
            birth: &yymmdd(birth),
            sex,
            expiry: &yymmdd(date(2000)),
        }),
        cards: vec![],
        chip: chips::ChipKind::Genuine,
    };
    // The cast. Birth dates are plain; numbers are made up.
    let georgian = td(
        "visa-free traveller (GEO)",
        "GEO",
        "BERIDZE",
        "NINO",
        "13AB45678",
        "GEO",
        Date::constant(1990, 4, 12),
        'F',
    );
    let russian = td(
        "Russian citizen near the calendar-year limit",
        "RUS",
        "IVANOV",
        "PAVEL",
        "753412986",
        "RUS",
        Date::constant(1984, 9, 2),
        'M',
    );
    let mut resident = td(
        "temporary-residence permit holder (IND)",
        "IND",
        "SHARMA",
        "RAVI",
        "Z1234567",
        "IND",
        Date::constant(1987, 1, 30),
        'M',
    );
    let mut evisa = td(
        "e-visa holder (IND)",
        "IND",
        "KAPOOR",
        "ANITA",
        "Z7654321",
        "IND",
        Date::constant(1995, 6, 18),
        'F',
    );
    let mut forged = td(
        "forged permit card (IND)",
        "IND",
        "GUPTA",
        "VIKRAM",
        "Z5550001",
        "IND",
        Date::constant(1979, 11, 5),
        'M',
    );
    let mut revoked = td(
        "revoked work permit (IND)",
        "IND",
        "MEHTA",
        "ARJUN",
        "Z5550002",
        "IND",
        Date::constant(1983, 3, 21),
        'M',
    );
    let banned = td(
        "traveller under an entry ban (GEO)",
        "GEO",
        "KAPANADZE",
        "LEVAN",
        "15CD98765",
        "GEO",
        Date::constant(1975, 8, 8),
        'M',
    );
    let lost = td(
        "passport reported lost (GEO)",
        "GEO",
        "GELASHVILI",
        "TAMAR",
        "16EF11223",
        "GEO",
        Date::constant(1992, 12, 1),
        'F',
    );
    let overstayer = td(
        "overstayer leaving (UKR)",
        "UKR",
        "KOVALENKO",
        "OLEH",
        "FA123456",
        "UKR",
        Date::constant(1988, 5, 14),
        'M',
    );
    let kazakh = td(
        "Kazakh citizen leaving unregistered (KAZ)",
        "KAZ",
        "NURLANOV",
        "ASKAR",
        "N12345678",
        "KAZ",
        Date::constant(1991, 2, 27),
        'M',
    );
    let mut damaged = td(
        "damaged MRZ (GEO)",
        "GEO",
        "TSERETELI",
        "ANA",
        "17GH44556",
        "GEO",
        Date::constant(1999, 7, 7),
        'F',
    );
    // A scratched check digit: the composite no longer verifies.
    damaged.mrz[1].replace_range(
        43..44,
        if damaged.mrz[1].ends_with('0') {
            "1"
        } else {
            "0"
        },
    );
    let mut altered_chip = td(
        "chip with an altered DG1 (GEO)",
        "GEO",
        "ABASHIDZE",
        "GIORGI",
        "18JK55667",
        "GEO",
        Date::constant(1986, 10, 3),
        'M',
    );
    altered_chip.chip = chips::ChipKind::AlteredDg1;
    let mut cloned_chip = td(
        "cloned chip (GEO)",
        "GEO",
        "LOMIDZE",
        "ELENE",
        "19LM66778",
        "GEO",
        Date::constant(1993, 1, 19),
        'F',
    );
    cloned_chip.chip = chips::ChipKind::Cloned;
    // The passports' issuing state: its CSCA reaches the terminal through the ledger.
    let pki = chips::DemoPki::new()?;

    let now = real_now;
    let (resident_card, _) = issuer.card(
        PermitType::TemporaryResidence,
        &resident,
        Date::constant(1987, 1, 30),
        date(-200),
        date(165),
        now,
    );
    let (evisa_card, _) = issuer.card(
        PermitType::EvisaSingle,
        &evisa,
        Date::constant(1995, 6, 18),
        date(-3),
        date(87),
        now,
    );
    let (forged_card, _) = forger.card(
        PermitType::TemporaryResidence,
        &forged,
        Date::constant(1979, 11, 5),
        date(-30),
        date(335),
        now,
    );
    let (revoked_card, revoked_cti) = issuer.card(
        PermitType::WorkPermit,
        &revoked,
        Date::constant(1983, 3, 21),
        date(-100),
        date(265),
        now,
    );
    resident.cards.push(resident_card.clone());
    evisa.cards.push(evisa_card.clone());
    forged.cards.push(forged_card);
    revoked.cards.push(revoked_card.clone());

    // The ledger, as central would publish it, verified and applied as a terminal does.
    let ledger = Arc::new(
        SledLedger::open(&dir.path().join("ledger"), 32 * 1024 * 1024)
            .map_err(|e| e.to_string())?,
    );
    let index_of = |text: &str| index_of(text).map_err(|e| e.to_string());
    let changes = vec![
        Change::IssuerKeyAdded(IssuerKeyAdded {
            kid: issuer.kid,
            public_key: issuer.key.verifying_key().to_bytes(),
            sign_from: now
                .checked_sub(SignedDuration::from_hours(24 * 365))
                .unwrap_or(now),
            sign_until: now
                .checked_add(SignedDuration::from_hours(24 * 365))
                .unwrap_or(now),
            verify_until: now
                .checked_add(SignedDuration::from_hours(24 * 365 * 6))
                .unwrap_or(now),
            permit_types: PermitType::ALL.to_vec(),
        }),
        Change::TerminalKeyAdded(TerminalKeyAdded {
            terminal_id: TERMINAL_ID.into(),
            public_key: terminal_key.verifying_key().to_bytes(),
            valid_from: now
                .checked_sub(SignedDuration::from_hours(24 * 400))
                .unwrap_or(now),
            valid_until: now
                .checked_add(SignedDuration::from_hours(24 * 365 * 3))
                .unwrap_or(now),
        }),
        Change::PermitIssued(PermitIssued {
            index: index_of(&resident_card)?,
            bp1: resident_card,
        }),
        Change::PermitIssued(PermitIssued {
            index: index_of(&evisa_card)?,
            bp1: evisa_card,
        }),
        Change::PermitIssued(PermitIssued {
            index: index_of(&revoked_card)?,
            bp1: revoked_card,
        }),
        Change::PermitRevoked(PermitRevoked {
            cti: revoked_cti,
            reason: "employment ended".into(),
        }),
        Change::Alert(AlertRaised {
            holder: holder_of(&banned).0,
            alert: AlertKind::EntryBan { until: date(400) },
            note: "unpaid overstay fine".into(),
        }),
        Change::Alert(AlertRaised {
            holder: holder_of(&lost).0,
            alert: AlertKind::Lost,
            note: "reported lost in Tbilisi".into(),
        }),
        officer_enrolment(&mut rng, &officer, today)?,
        officer_enrolment(&mut rng, &supervisor, today)?,
        Change::CscaAdded(CscaCertificate {
            certificate: pki.csca_der()?,
        }),
    ];
    let n_changes = changes.len();
    let (encoded, head) = extend(0, [0; 32], changes, now);
    let checkpoint = Checkpoint {
        size: n_changes as u64,
        root: head,
        time: now,
    };
    let signed = SignedCheckpoint::sign(&checkpoint, &root_keys).encode();
    let roots = RootSet::new(
        root_keys
            .iter()
            .filter_map(|key| RootKey::from_bytes(&key.verifying_key().to_bytes()).ok())
            .collect(),
        2,
    )
    .map_err(|e| e.to_string())?;
    let verified = roots
        .verify(&SignedCheckpoint::decode(&signed).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    let batch = verify_batch(
        &ledger.cursor().map_err(|e| e.to_string())?,
        encoded,
        verified,
    )
    .map_err(|e| e.to_string())?;
    ledger
        .apply(&batch, &signed, &Bp1Verification)
        .map_err(|e| e.to_string())?;
    println!(
        "  ledger: {n_changes} entries applied under a 2-of-2 root checkpoint (issuer key, terminal key, 3 permits, 1 revocation, 2 alerts, 2 officers, 1 CSCA)"
    );

    let outbox = Outbox::open(
        &dir.path().join("outbox"),
        OutboxConfig {
            terminal: TerminalId::new(TERMINAL_ID).map_err(|e| e.to_string())?,
            time_zone: time_zone.clone(),
        },
        terminal_key,
        clock.clone(),
    )
    .map_err(|e| e.to_string())?;
    let policy = Arc::new(StayPolicy::from_toml(STAY_RULES).map_err(|e| e.to_string())?);
    let depth_outbox = outbox.clone();
    let parts = LaneParts {
        ledger: ledger.clone(),
        movements: Arc::new(outbox.movement_index()),
        recorder: Arc::new(outbox.clone()),
        outbox_depth: Arc::new(move || depth_outbox.depth()),
        clock_high_water: {
            let outbox = outbox.clone();
            Arc::new(move || outbox.clock_high_water().ok().flatten())
        },
        policy,
        clock: clock.clone(),
        gate: None,
        replication: tokio::sync::watch::channel(crate::ports::ledger::ReplicationState::Running).1,
    };
    let settings = |lane: &str, direction| LaneSettings {
        checkpoint: "AZ-DEMO".into(),
        lane: lane.into(),
        direction,
        mode: LaneMode::Officer,
        time_zone: time_zone.clone(),
        ledger_stale_after: SignedDuration::from_hours(24),
        permit_clock_skew: SignedDuration::from_mins(5),
        clock_backwards_tolerance: SignedDuration::from_secs(2),
        watchlist_threshold: crate::core::watchlist::DEFAULT_THRESHOLD,
    };
    let (events, _) = broadcast::channel(api::API_STREAM_EVENTS_MAX);
    let (status_arrivals, status_view) = watch::channel(Value::Null);
    let (status_departures, _) = watch::channel(Value::Null);
    let window = SignedDuration::from_secs(30);
    // The arrivals lane reads passport chips: simulated in process behind the reader port.
    let field = SimulatedField::default();
    let reader: Arc<std::sync::Mutex<dyn DocumentChipReader>> =
        Arc::new(std::sync::Mutex::new(field.clone()));
    let chip_settings = ReadSettings {
        refuse_bac_fallback: true,
        ..ReadSettings::default()
    };
    let mut arrivals = LaneDriver::new(
        settings("arrivals", Direction::Entry),
        parts.clone(),
        window,
        events.clone(),
        status_arrivals,
    )
    .with_chip_lane(Some(ChipLane::new("chip-reader", reader, chip_settings)));
    let mut departures = LaneDriver::new(
        settings("departures", Direction::Exit),
        parts,
        window,
        events.clone(),
        status_departures,
    );

    // The console on loopback.
    let (commands, mut command_inbox) = mpsc::channel(api::API_COMMANDS_MAX);
    let mut token_bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rng, &mut token_bytes);
    let token = hex::encode(token_bytes);
    let (stop_api, api_stopped) = oneshot::channel::<()>();
    let listener = api::bind_http(options.http.as_deref().unwrap_or("127.0.0.1:0"))
        .await
        .map_err(|e| e.to_string())?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let booth = Booth::new(
        ledger.clone(),
        clock.clone(),
        time_zone.clone(),
        BoothSettings {
            idle_timeout: std::time::Duration::from_secs(600),
            lockout_window: crate::core::officer::LOCKOUT_WINDOW,
        },
    );
    let api_state = ApiState::new(
        events.clone(),
        commands,
        status_view,
        ApiAccess {
            token: Some(token.clone()),
            socket_gid: None,
        },
        Arc::new(booth),
    );
    let api_task = tokio::spawn(api::serve_http(listener, api_state, async {
        let _ = api_stopped.await;
    }));
    println!("  console: http://{address}/?token={token}");
    for account in [&officer, &supervisor] {
        println!(
            "  sign in as {}: officer id {}  secret {}",
            account.label, account.id, account.secret
        );
    }

    // Optional feed to central.
    let (stop_relay, relay_stopped) = oneshot::channel::<()>();
    let relay_task = match &options.nats_url {
        Some(url) => {
            let client = async_nats::connect(url.as_str())
                .await
                .map_err(|e| format!("nats {url}: {e}"))?;
            println!("  feed: streaming crossings to {url} (stream EVENTS)");
            Some(tokio::spawn(run_relay(
                outbox.clone(),
                client,
                RelayConfig::with_duplicate_window_hours(72),
                async {
                    let _ = relay_stopped.await;
                },
            )))
        }
        None => None,
    };

    // Two scanners on real pseudo-terminals, read by the real device adapters.
    let mut mrz_pty = pty()?;
    let mut qr_pty = pty()?;
    let (device_events, mut device_inbox) = mpsc::channel(64);
    let mut tasks = Vec::new();
    for (name, profile, path) in [
        ("mrz-reader", MRZ_READER_PROFILE, &mrz_pty.path),
        ("qr-imager", QR_IMAGER_PROFILE, &qr_pty.path),
    ] {
        let spec = DeviceSpec {
            name: name.into(),
            profile: parse_profile(profile).map_err(|e| e.to_string())?,
            programming: None,
            path: Some(path.clone()),
            frame_bytes_max: crate::core::frame::FRAME_BYTES_MAX,
        };
        tasks.push(
            devices::spawn(
                spec,
                clock.clone(),
                Backoff::default(),
                device_events.clone(),
            )
            .map_err(|e| e.to_string())?,
        );
    }
    // Scans written before a reader has opened its port would be cooked by the tty's default
    // line discipline: wait until both readers are up.
    let mut n_up = 0;
    while n_up < 2 {
        let event = tokio::time::timeout(SCAN_WAIT, device_inbox.recv())
            .await
            .map_err(|_| "the scanners did not come up".to_string())?
            .ok_or("device channel closed")?;
        if let DeviceEvent::State(state) = &event
            && state.link == crate::ports::scanner::Link::Up
        {
            n_up += 1;
        }
        arrivals.on_device(event.clone()).await;
        departures.on_device(event).await;
    }
    println!(
        "  scanners: MRZ reader on {}, QR imager on {}\n",
        mrz_pty.path, qr_pty.path
    );

    // History: earlier arrivals, recorded on their own dates (oldest first, so the clock only moves forward).
    let history: [(i64, &Traveller, Direction); 6] = [
        (-266, &russian, Direction::Entry), // 2026-03-02 when today is 2026-11-23
        (-190, &resident, Direction::Entry),
        (-185, &russian, Direction::Exit),
        (-100, &overstayer, Direction::Entry),
        (-40, &kazakh, Direction::Entry),
        (-12, &resident, Direction::Exit),
    ];
    let desk = officer.signed_in();
    println!("history (recorded on past dates):");
    for (days, traveller, direction) in history {
        clock.offset_s.store(days * 86_400, Ordering::Relaxed);
        let lane = if direction == Direction::Entry {
            &mut arrivals
        } else {
            &mut departures
        };
        field.place(Some(chip_of(&pki, traveller, today)?));
        process(
            lane,
            traveller,
            &mut mrz_pty,
            &mut qr_pty,
            &mut device_inbox,
            &mut command_inbox,
            Desk {
                quiet: true,
                officer: &desk,
                supervisor: supervisor.id,
            },
        )
        .await?;
    }
    clock.offset_s.store(0, Ordering::Relaxed);
    let today_list: [(&Traveller, Direction); 13] = [
        (&georgian, Direction::Entry),
        (&russian, Direction::Entry),
        (&resident, Direction::Entry),
        (&evisa, Direction::Entry),
        (&forged, Direction::Entry),
        (&revoked, Direction::Entry),
        (&banned, Direction::Entry),
        (&lost, Direction::Entry),
        (&damaged, Direction::Entry),
        (&altered_chip, Direction::Entry),
        (&cloned_chip, Direction::Entry),
        (&overstayer, Direction::Exit),
        (&kazakh, Direction::Exit),
    ];
    println!("\ntoday:");
    let mut tally = [0usize; 3];
    for (traveller, direction) in today_list {
        let lane = if direction == Direction::Entry {
            &mut arrivals
        } else {
            &mut departures
        };
        field.place(Some(chip_of(&pki, traveller, today)?));
        let outcome = process(
            lane,
            traveller,
            &mut mrz_pty,
            &mut qr_pty,
            &mut device_inbox,
            &mut command_inbox,
            Desk {
                quiet: false,
                officer: &desk,
                supervisor: supervisor.id,
            },
        )
        .await?;
        tally[outcome as usize] += 1;
    }
    println!(
        "\nsummary: {} admitted, {} referred to an officer, {} refused; {} crossings recorded, {} waiting for central",
        tally[0],
        tally[1],
        tally[2],
        arrivals_recorded(&outbox),
        outbox.depth()
    );
    if !options.linger.is_zero() {
        println!(
            "console stays up for {:?}: http://{address}/?token={token}\n  today's arrivals come to it one at a time: the next when the officer has dealt with the one in front",
            options.linger
        );
        let entries: Vec<&Traveller> = today_list
            .iter()
            .filter(|(_, direction)| *direction == Direction::Entry)
            .map(|(traveller, _)| *traveller)
            .collect();
        let counter = Counter {
            field: &field,
            pki: &pki,
            today,
            travellers: &entries,
        };
        let scanners = Scanners {
            mrz_pty: &mut mrz_pty,
            qr_pty: &mut qr_pty,
            device_inbox: &mut device_inbox,
            command_inbox: &mut command_inbox,
        };
        console_rounds(&mut arrivals, counter, scanners, options.linger).await?;
    }
    if let Some(task) = relay_task {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while outbox.depth() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        println!(
            "feed: {} crossings still waiting for central",
            outbox.depth()
        );
        let _ = stop_relay.send(());
        let _ = task.await;
    }
    let _ = stop_api.send(());
    let _ = api_task.await;
    drop(device_inbox);
    for task in tasks {
        task.stop();
    }
    let _ = outbox.flush_async().await;
    Ok(())
}

/// The arrivals the console is shown while the demo lingers, with their chips.
struct Counter<'a> {
    field: &'a SimulatedField,
    pki: &'a chips::DemoPki,
    today: Date,
    travellers: &'a [&'a Traveller],
}

/// The arrivals lane's scanners and inboxes.
struct Scanners<'a> {
    mrz_pty: &'a mut Pty,
    qr_pty: &'a mut Pty,
    device_inbox: &'a mut mpsc::Receiver<DeviceEvent>,
    command_inbox: &'a mut mpsc::Receiver<ApiCommand>,
}

/// While the demo lingers, today's arrivals come to the console one at a time (round and round):
/// the next is scanned once the officer has dealt with the one in front (confirmed, referred or
/// "new traveller"), so everything the console shows can be seen on the demo's travellers.
async fn console_rounds(
    arrivals: &mut LaneDriver,
    counter: Counter<'_>,
    booth: Scanners<'_>,
    linger: Duration,
) -> Result<(), String> {
    let until = tokio::time::Instant::now() + linger;
    let mut next = counter.travellers.iter().cycle();
    let mut waiting = false;
    loop {
        if !waiting
            && !has_traveller(arrivals).await
            && let Some(traveller) = next.next()
        {
            counter
                .field
                .place(Some(chip_of(counter.pki, traveller, counter.today)?));
            scan(traveller, booth.mrz_pty, booth.qr_pty).await?;
            waiting = true;
        }
        tokio::select! {
            Some(event) = booth.device_inbox.recv() => {
                if arrivals.on_device(event).await.is_some() {
                    waiting = false;
                }
            }
            Some(command) = booth.command_inbox.recv() => arrivals.on_api(command).await,
            () = tokio::time::sleep_until(until) => return Ok(()),
        }
    }
}

/// Whether a traveller stands in front of the officer.
async fn has_traveller(lane: &mut LaneDriver) -> bool {
    let (reply, answer) = oneshot::channel();
    lane.on_api(ApiCommand::Current { reply }).await;
    matches!(answer.await, Ok(Ok(value)) if !value.is_null())
}

/// Presents a traveller's documents to the scanners.
async fn scan(traveller: &Traveller, mrz_pty: &mut Pty, qr_pty: &mut Pty) -> Result<(), String> {
    let mrz = format!("{}\r{}\r", traveller.mrz[0], traveller.mrz[1]);
    mrz_pty
        .master
        .write_all(mrz.as_bytes())
        .map_err(|e| format!("pty write: {e}"))?;
    for card in &traveller.cards {
        // A moment between documents, as a person takes the card out.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let symbol = format!("]Q1{card}\r");
        qr_pty
            .master
            .write_all(symbol.as_bytes())
            .map_err(|e| format!("pty write: {e}"))?;
    }
    Ok(())
}

/// An officer account the demo enrols in its ledger and prints the sign-in of.
struct DemoAccount {
    label: &'static str,
    id: &'static str,
    role: Role,
    /// A fresh random 8-digit PIN.
    secret: String,
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
    fn signed_in(&self) -> SignedIn {
        SignedIn {
            officer_id: self.id.into(),
            role: self.role,
            language: Language::Az,
            idle_timeout_s: 600,
        }
    }
}

/// The `officer_enrolled` entry of a demo account, valid from today for a year.
fn officer_enrolment(
    rng: &mut impl rand::RngCore,
    account: &DemoAccount,
    today: Date,
) -> Result<Change, String> {
    let mut salt = [0u8; 16];
    rng.fill_bytes(&mut salt);
    Ok(Change::OfficerEnrolled(OfficerEnrolled {
        officer_id: account.id.into(),
        role: account.role,
        verifier: crate::core::officer::make_verifier(account.secret.as_bytes(), &salt)?,
        valid_from: today,
        valid_until: today.checked_add(1.year()).map_err(|e| e.to_string())?,
        language: Language::Az,
    }))
}

/// The simulated chip of a traveller's passport, opened by its printed MRZ.
fn chip_of(
    pki: &chips::DemoPki,
    traveller: &Traveller,
    today: Date,
) -> Result<crate::adapters::chip_sim::SimulatedChip, String> {
    let text = format!("{}\n{}", traveller.mrz[0], traveller.mrz[1]);
    let options = crate::core::mrz::ParseOptions {
        mode: crate::core::mrz::Mode::Tolerant,
        reference_date: today,
        french_national_id: false,
    };
    let information = crate::core::mrz::parse(&text, &options)
        .mrz_information()
        .ok_or_else(|| format!("{}: no MRZ information for the chip", traveller.label))?;
    pki.chip(&traveller.mrz, &information, traveller.chip)
}

fn arrivals_recorded(outbox: &Outbox) -> u64 {
    outbox
        .pending(None, usize::MAX)
        .map(|rows| rows.last().map_or(0, |row| row.seq))
        .unwrap_or(0)
}

/// How the demo plays the officer: who is signed in, and whether to print admits.
#[derive(Clone, Copy)]
struct Desk<'a> {
    quiet: bool,
    officer: &'a SignedIn,
    /// The supervisor who co-signs letting a referred traveller leave.
    supervisor: &'a str,
}

/// Scans one traveller's documents, waits for the verdict, and plays the officer.
async fn process(
    lane: &mut LaneDriver,
    traveller: &Traveller,
    mrz_pty: &mut Pty,
    qr_pty: &mut Pty,
    device_inbox: &mut mpsc::Receiver<DeviceEvent>,
    command_inbox: &mut mpsc::Receiver<ApiCommand>,
    desk: Desk<'_>,
) -> Result<Outcome, String> {
    let Desk {
        quiet,
        officer,
        supervisor,
    } = desk;
    let (closed_tx, _closed_rx) = oneshot::channel();
    lane.on_api(ApiCommand::NewTraveller { reply: closed_tx })
        .await;
    scan(traveller, mrz_pty, qr_pty).await?;
    let n_scans = 1 + traveller.cards.len();
    let mut report = None;
    let mut n_seen = 0;
    while n_seen < n_scans {
        let event = tokio::select! {
            event = device_inbox.recv() => event.ok_or("device channel closed")?,
            Some(command) = command_inbox.recv() => { lane.on_api(command).await; continue; }
            () = tokio::time::sleep(SCAN_WAIT) => return Err(format!("no scan arrived for {}", traveller.label)),
        };
        if matches!(event, DeviceEvent::Scan(_)) {
            n_seen += 1;
        }
        if let Some(new) = lane.on_device(event).await {
            report = Some(new);
        }
    }
    let Some(report) = report else {
        return Err(format!("no verdict for {}", traveller.label));
    };
    let verdict = &report.assessment.verdict;
    let session = report.assessment.session;
    // The demo's officer: confirm admits and refusals; for a referral, let an exit through with
    // the supervisor's override (the fine is handled at the booth) and send an entry to second
    // line (nothing recorded).
    let decision = match (verdict.outcome, lane_direction(&report)) {
        (Outcome::Admit, _) | (Outcome::Refer, Direction::Exit) => Some(OfficerDecision::Admit),
        (Outcome::Refuse, _) => Some(OfficerDecision::Refuse),
        (Outcome::Refer, Direction::Entry) => None,
    };
    let mut recorded = String::from("not recorded (second line)");
    if let Some(decision) = decision {
        let (reply, answer) = oneshot::channel();
        if verdict.raise_alert {
            // The demo's officer holds the document and calls the supervisor first.
            let (reply, answer) = oneshot::channel();
            let request = AlertAckRequest {
                action: "raise_alert".into(),
            };
            let officer = officer.clone();
            lane.on_api(ApiCommand::AcknowledgeAlert {
                officer,
                request,
                reply,
            })
            .await;
            let _ = answer.await;
        }
        let request = ConfirmRequest {
            session,
            decision,
            override_request: None,
            idempotency_key: None,
            officer: Some(officer.clone()),
            // Letting a referred traveller leave goes against the verdict: the demo's supervisor
            // co-signs (the scripted desk drives the lane directly, past the API's sign-in).
            cosigned: (verdict.outcome == Outcome::Refer).then(|| CoSigned {
                reason_code: "other".into(),
                text: "fine settled at the booth before departure".into(),
                supervisor_id: supervisor.into(),
            }),
            watchlist: None,
        };
        lane.on_api(ApiCommand::Confirm { request, reply }).await;
        recorded = match answer.await {
            Ok(Ok(value)) => format!(
                "recorded {} #{}",
                value["direction"].as_str().unwrap_or("?"),
                value["seq"]
            ),
            Ok(Err(refusal)) => format!("not recorded: {}", refusal.message),
            Err(_) => "not recorded: lane did not answer".into(),
        };
    }
    if !quiet || verdict.outcome != Outcome::Admit {
        let figures =
            report
                .assessment
                .input
                .stay
                .as_ref()
                .map(|stay| match lane_direction(&report) {
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
            "  {:<8} {:<46} {:<6} [{}] {}; {}",
            format!("{:?}", lane_direction(&report)).to_lowercase(),
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
    } else {
        println!(
            "  {:<8} {:<46} {recorded}",
            format!("{:?}", lane_direction(&report)).to_lowercase(),
            traveller.label
        );
    }
    Ok(verdict.outcome)
}

fn lane_direction(report: &crate::lane::driver::LaneReport) -> Direction {
    report.assessment.input.direction
}
