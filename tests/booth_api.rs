//! The officer booth on the real daemon's HTTP API: sign-in against officer accounts published
//! in the ledger, the session cookie, lock-out and its end, roles, the four-eyes override (read
//! back from the signed event in `EVENTS`), referral and second line, alert acknowledgement.
//! Needs `nats-server` (installed by scripts/test).

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use checkpointd::adapters::ledger::Central;
use checkpointd::core::document::HolderDigest;
use checkpointd::core::event::{CrossingEvent, TerminalId, Verification};
use checkpointd::core::ledger::{AlertKind, AlertRaised, Change, OfficerRevoked, TerminalKeyAdded};
use checkpointd::core::officer::{Language, Role};
use common::nats::NatsServer;
use common::terminal::{
    OFFICER_ID, OFFICER_SECRET, SUPERVISOR_ID, SUPERVISOR_SECRET, Setup, TERMINAL_ID, Terminal,
    WAIT, officer_enrolments, root_key, td3, terminal_key,
};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

/// An officer enrolled, then revoked.
const REVOKED_ID: &str = "T-REVOKED";
/// The failed sign-ins a window allows before the lock-out.
const FAILURES: usize = 5;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn banned() -> [String; 2] {
    td3("GEO", "BANNED", "BORIS", "GB1111111", "GEO")
}

fn lost() -> [String; 2] {
    td3("GEO", "LOSTDOC", "LANA", "GL2222222", "GEO")
}

fn holder(mrz: &[String; 2]) -> [u8; 32] {
    let number = mrz[1][..9].trim_end_matches('<');
    HolderDigest::of("GEO", number).0
}

/// Central publishes the terminal's key, the test officers (one of them revoked), an entry
/// ban and a lost-document alert, with a fresh checkpoint.
fn publish_ledger(url: &str) {
    runtime().block_on(async {
        let central = Central::connect(url).await.expect("central connects");
        central.provision(1).await.expect("provision streams");
        let now = Timestamp::now();
        let mut changes = vec![Change::TerminalKeyAdded(TerminalKeyAdded {
            terminal_id: TERMINAL_ID.into(),
            public_key: terminal_key().verifying_key().to_bytes(),
            valid_from: now - SignedDuration::from_hours(24),
            valid_until: now + SignedDuration::from_hours(24 * 365),
        })];
        changes.extend(officer_enrolments());
        let today = now.to_zoned(jiff::tz::TimeZone::UTC).date();
        changes.push(
            checkpointd::cli::officer::enrolment(
                REVOKED_ID,
                Role::Supervisor,
                b"revoked-pin-9999",
                today.yesterday().expect("yesterday"),
                today.tomorrow().expect("tomorrow"),
                Language::En,
            )
            .expect("enrolment"),
        );
        changes.push(Change::OfficerRevoked(OfficerRevoked {
            officer_id: REVOKED_ID.into(),
            reason: "left the service".into(),
        }));
        changes.push(Change::Alert(AlertRaised {
            holder: holder(&banned()),
            alert: AlertKind::EntryBan {
                until: today.tomorrow().expect("tomorrow"),
            },
            note: "court order 12/2026".into(),
        }));
        changes.push(Change::Alert(AlertRaised {
            holder: holder(&lost()),
            alert: AlertKind::Lost,
            note: "reported lost".into(),
        }));
        central.append(changes, now).await.expect("append");
        central
            .checkpoint(&[root_key()], now)
            .await
            .expect("checkpoint");
    });
}

/// A terminal on a fresh ledger with a short lock-out window; the officer is not signed in.
fn start(url: &str) -> Terminal {
    publish_ledger(url);
    let terminal = Terminal::start_edited(
        &Setup {
            nats_url: url,
            mode: "officer",
            direction: "entry",
            gate_port: None,
        },
        |_, text| text.replace("[api]\n", "[api]\nsign_in_lockout_s = 3\n"),
    );
    terminal.wait_status("scanner up and ledger replicated", |status| {
        status["ledger"]["applied_seq"].as_u64() >= Some(7)
            && status["devices"]
                .as_array()
                .is_some_and(|devices| devices.iter().any(|d| d["state"] == "up"))
    });
    terminal
}

/// Scans `mrz` and returns the verdict event for it.
fn verdict_for(terminal: &mut Terminal, mrz: &[String; 2]) -> Value {
    let mut stream = terminal.stream();
    stream.expect("status", |_| true);
    terminal.scan(mrz);
    let number = mrz[1][..9].trim_end_matches('<').to_string();
    stream.expect("verdict", |data| {
        data["document"]["document_number"] == number.as_str()
    })
}

/// The crossing events in `EVENTS`, verified under the terminal's key, by seq.
fn signed_events(url: &str, expected: usize) -> HashMap<u64, CrossingEvent> {
    let keys = HashMap::from([(
        TerminalId::new(TERMINAL_ID).expect("terminal id"),
        terminal_key().verifying_key(),
    )]);
    runtime().block_on(async {
        let client = async_nats::connect(url).await.expect("connect to nats");
        let js = async_nats::jetstream::new(client);
        let deadline = Instant::now() + WAIT;
        loop {
            let mut events = HashMap::new();
            if let Ok(stream) = js.get_stream("EVENTS").await {
                for n in 1..=expected as u64 {
                    let Ok(message) = stream.get_raw_message(n).await else {
                        break;
                    };
                    match checkpointd::core::event::verify(&message.payload, &keys) {
                        Verification::Valid(event, _) => {
                            events.insert(event.seq, *event);
                        }
                        Verification::Rejected(why) => panic!("event {n} rejected: {why}"),
                    }
                }
            }
            if events.len() >= expected || Instant::now() > deadline {
                return events;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

#[test]
fn sign_in_cookie_lockout_roles_and_sign_out() {
    let nats = NatsServer::start();
    let url = nats.url();
    let terminal = start(&url);

    // The token reaches the API, but records nothing without an officer.
    let (code, body) = terminal.request("GET", "/api/v1/session", None);
    assert_eq!((code, &body), (401, &json!({"error": "not_signed_in"})));
    let confirm = json!({"session": 1, "decision": "admit"});
    let (code, body) = terminal.request("POST", "/api/v1/confirm", Some(&confirm));
    assert_eq!((code, &body), (401, &json!({"error": "not_signed_in"})));
    let (code, body) = terminal.request("POST", "/api/v1/new-traveller", None);
    assert_eq!((code, &body), (401, &json!({"error": "not_signed_in"})));
    // The traveller's chip face goes to signed-in officers only.
    let (code, body) = terminal.request("GET", "/api/v1/face", None);
    assert_eq!((code, &body), (401, &json!({"error": "not_signed_in"})));

    // Wrong secret, unknown officer, revoked officer: one answer, no oracle.
    let failed = json!({"error": "sign_in_failed"});
    for (id, secret) in [
        (OFFICER_ID, "wrong-secret"),
        ("T-NOBODY", OFFICER_SECRET),
        (REVOKED_ID, "revoked-pin-9999"),
    ] {
        let (code, _, body) = terminal.sign_in(id, secret);
        assert_eq!((code, &body), (401, &failed), "{id}");
    }

    // Five failures lock the supervisor's id out, even for the right secret; the window ends.
    for _ in 0..FAILURES {
        let (code, _, _) = terminal.sign_in(SUPERVISOR_ID, "guess-1234");
        assert_eq!(code, 401);
    }
    let (code, _, body) = terminal.sign_in(SUPERVISOR_ID, SUPERVISOR_SECRET);
    assert_eq!(code, 429, "{body}");
    assert_eq!(body["error"], "locked_out");
    let retry = body["retry_after_s"].as_u64().expect("retry_after_s");
    assert!((1..=3).contains(&retry), "{body}");
    std::thread::sleep(Duration::from_secs(retry + 1));
    let (code, _, body) = terminal.sign_in(SUPERVISOR_ID, SUPERVISOR_SECRET);
    assert_eq!(code, 200, "lock-out over: {body}");
    assert_eq!(body["role"], "supervisor");

    // The officer: the session object and the cookie's attributes.
    let (code, cookie, body) = terminal.sign_in(OFFICER_ID, OFFICER_SECRET);
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        body,
        json!({"officer_id": OFFICER_ID, "role": "officer", "language": "az",
            "idle_timeout_s": 600})
    );
    let cookie = cookie.expect("Set-Cookie");
    let (pair, attributes) = cookie.split_once("; ").expect("attributes");
    let token = pair
        .strip_prefix("checkpoint_session=")
        .expect("cookie name");
    assert_eq!(token.len(), 64, "256 random bits in hex: {cookie}");
    assert!(token.chars().all(|c| c.is_ascii_hexdigit()), "{cookie}");
    assert_eq!(attributes, "HttpOnly; SameSite=Strict; Path=/");
    let (code, body) = terminal.request("GET", "/api/v1/session", None);
    assert_eq!((code, body["officer_id"].as_str()), (200, Some(OFFICER_ID)));
    // Signed in, but nobody's chip has been read: no face, said so.
    let (code, head, body) = terminal.exchange("GET", "/api/v1/face", None);
    assert_eq!(code, 404, "{head}{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("no face from a verified chip")),
        "{body}"
    );

    // Language, reasons, and an officer alone cannot co-sign (role).
    let (code, body) = terminal.request(
        "PUT",
        "/api/v1/session/language",
        Some(&json!({"language": "ru"})),
    );
    assert_eq!(
        (code, body["language"].as_str()),
        (200, Some("ru")),
        "{body}"
    );
    let (code, body) = terminal.request(
        "PUT",
        "/api/v1/session/language",
        Some(&json!({"language": "fr"})),
    );
    assert_eq!((code, body["field"].as_str()), (400, Some("language")));
    let (code, body) = terminal.request("GET", "/api/v1/override-reasons", None);
    assert_eq!(code, 200);
    assert!(
        body["reasons"]
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r["code"] == "humanitarian")),
        "{body}"
    );

    // Sign-out ends the session.
    let (code, _, _) = terminal.exchange("DELETE", "/api/v1/session", None);
    assert_eq!(code, 204);
    let (code, _) = terminal.request("GET", "/api/v1/session", None);
    assert_eq!(code, 401);
}

#[test]
fn four_eyes_override_referral_second_line_and_alert_ack_are_signed() {
    let nats = NatsServer::start();
    let url = nats.url();
    let mut terminal = start(&url);
    terminal.sign_in_officer();

    // An entry ban: REFUSE. The officer alone may not admit.
    let verdict = verdict_for(&mut terminal, &banned());
    assert_eq!(verdict["verdict"]["outcome"], "refuse", "{verdict}");
    let session = verdict["session"].clone();
    let admit = json!({"session": session, "decision": "admit"});
    let (code, body) = terminal.request("POST", "/api/v1/confirm", Some(&admit));
    assert_eq!(
        (code, &body),
        (403, &json!({"error": "forbidden", "needs": "supervisor"}))
    );
    let with = |reason: &str, text: &str, id: &str, secret: &str| {
        json!({"session": session, "decision": "admit", "override": {
            "reason_code": reason, "text": text, "supervisor_id": id, "supervisor_secret": secret}})
    };
    let text = "court order lifted by phone, ref 44/2026";
    let (code, body) = terminal.request(
        "POST",
        "/api/v1/confirm",
        Some(&with("bribe", text, SUPERVISOR_ID, SUPERVISOR_SECRET)),
    );
    assert_eq!(
        (code, body["field"].as_str()),
        (400, Some("override.reason_code"))
    );
    let (code, body) = terminal.request(
        "POST",
        "/api/v1/confirm",
        Some(&with("humanitarian", "x", SUPERVISOR_ID, SUPERVISOR_SECRET)),
    );
    assert_eq!((code, body["field"].as_str()), (400, Some("override.text")));
    // The officer cannot be their own supervisor, nor is a wrong supervisor secret enough.
    for (id, secret) in [(OFFICER_ID, OFFICER_SECRET), (SUPERVISOR_ID, "not-the-pin")] {
        let (code, body) = terminal.request(
            "POST",
            "/api/v1/confirm",
            Some(&with("humanitarian", text, id, secret)),
        );
        assert_eq!(
            (code, body["needs"].as_str()),
            (403, Some("supervisor")),
            "{id}"
        );
    }
    let (code, body) = terminal.request(
        "POST",
        "/api/v1/confirm",
        Some(&with(
            "humanitarian",
            text,
            SUPERVISOR_ID,
            SUPERVISOR_SECRET,
        )),
    );
    assert_eq!(code, 200, "{body}; log:\n{}", terminal.log());
    let override_seq = body["seq"].as_u64().expect("seq");

    // A lost passport: REFER with a required action; nothing is recorded before it is
    // acknowledged, and a REFER is not admitted with one click.
    let verdict = verdict_for(&mut terminal, &lost());
    assert_eq!(verdict["verdict"]["outcome"], "refer", "{verdict}");
    let status = terminal.wait_status("the required action", |s| {
        s["required_action"] == "raise_alert"
    });
    assert_eq!(status["acknowledged"], false, "{status}");
    let session = verdict["session"].clone();
    let (code, body) = terminal.request(
        "POST",
        "/api/v1/refer",
        Some(&json!({"note": "document held, supervisor called"})),
    );
    assert_eq!(code, 409, "{body}");
    assert_eq!(body["error"], "alert_not_acknowledged");
    let (code, body) = terminal.request(
        "POST",
        "/api/v1/alert-ack",
        Some(&json!({"action": "raise_alert"})),
    );
    assert_eq!(code, 200, "{body}");
    terminal.wait_status("the acknowledgement", |s| s["acknowledged"] == true);
    let (code, body) = terminal.request(
        "POST",
        "/api/v1/confirm",
        Some(&json!({"session": session, "decision": "admit"})),
    );
    assert_eq!((code, body["needs"].as_str()), (403, Some("supervisor")));

    // Referral, then the second line's decision naming it.
    let (code, body) = terminal.request(
        "POST",
        "/api/v1/refer",
        Some(&json!({"note": "document held, supervisor called"})),
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["outcome"], "referred", "{body}");
    let referral_seq = body["seq"].as_u64().expect("seq");
    let referral_id = body["event_id"].as_str().expect("event id").to_string();
    let (code, body) = terminal.request(
        "POST",
        "/api/v1/second-line",
        Some(
            &json!({"decision": "refuse", "reason_code": "document_error_confirmed",
            "text": "holder confirmed the passport as reported lost"}),
        ),
    );
    assert_eq!(code, 200, "{body}");
    let second_seq = body["seq"].as_u64().expect("seq");
    assert_eq!(body["outcome"], "refuse");

    // Read back from central's stream, signatures verified.
    let events = signed_events(&url, 3);
    let recorded = &events[&override_seq].crossing;
    let cosigned = recorded.officer_override.as_ref().expect("override");
    assert_eq!(
        (
            cosigned.reason_code.as_str(),
            cosigned.text.as_str(),
            cosigned.officer_id.as_str(),
            cosigned.supervisor_id.as_str()
        ),
        ("humanitarian", text, OFFICER_ID, SUPERVISOR_ID)
    );
    assert!(
        recorded
            .reason_codes
            .iter()
            .any(|c| c == "officer_override")
    );
    let referral = &events[&referral_seq].crossing;
    assert_eq!(
        referral.direction,
        checkpointd::core::event::CrossingKind::Referred
    );
    assert_eq!(
        referral.referral.as_ref().map(|r| r.note.as_str()),
        Some("document held, supervisor called")
    );
    let ack = referral.alert_acknowledged.as_ref().expect("acknowledged");
    assert_eq!(
        (ack.action.as_str(), ack.officer_id.as_str()),
        ("raise_alert", OFFICER_ID)
    );
    let decided = &events[&second_seq].crossing;
    let second = decided.second_line.as_ref().expect("second line");
    assert_eq!(second.referral_seq, referral_seq);
    assert_eq!(second.referral_hash.to_string(), referral_id);
    assert_eq!(second.reason_code, "document_error_confirmed");
    assert_eq!(
        decided.direction,
        checkpointd::core::event::CrossingKind::RefusedEntry
    );
    assert!(
        matches!(&decided.operator, checkpointd::core::event::Operator::Officer(id) if id == OFFICER_ID)
    );
}
