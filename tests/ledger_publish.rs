//! Central's ledger writing as operators run it, against a real nats-server: a publication a
//! terminal would refuse is refused with the reason and nothing is published; checkpoints are
//! prepared, signed offline by separate root keys and published at k of n; `init` reruns.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use checkpointd::adapters::ledger::Central;
use checkpointd::core::ledger::{AlertLifted, Change};
use common::nats::NatsServer;
use serde_json::Value;

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_checkpointctl"))
        .args(args)
        .output()
        .expect("run checkpointctl")
}

fn ctl(args: &[&str]) -> Value {
    let out = run(args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "checkpointctl {args:?} failed: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("checkpointctl {args:?} printed {stdout}: {e}"))
}

/// Runs a command that must fail with exit 1; returns its standard error.
fn refused(args: &[&str]) -> String {
    let out = run(args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "checkpointctl {args:?}: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A central: keys from `init`, its publisher replica, a work directory.
struct Site {
    _work: tempfile::TempDir,
    dir: PathBuf,
    url: String,
}

impl Site {
    fn init(server: &NatsServer) -> Self {
        let work = tempfile::tempdir().expect("tempdir");
        let site = Self {
            dir: work.path().to_owned(),
            _work: work,
            url: server.url(),
        };
        let init = ctl(&[
            "ledger",
            "init",
            "--central",
            &site.path("central"),
            "--roots-dir",
            &site.path("roots"),
            "--nats",
            &site.url,
        ]);
        assert_eq!(init["checkpoint_size"], 1, "{init}");
        site
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_str().expect("utf-8").to_owned()
    }

    fn publish_args(&self, file: &str) -> Vec<String> {
        ["ledger", "publish", "--nats", &self.url, "--data"]
            .iter()
            .map(|s| s.to_string())
            .chain([self.path("replica"), "--entries".into(), file.into()])
            .collect()
    }

    /// Publishes JSON lines; `Ok(head_seq)` or `Err(standard error)` of a refusal.
    fn publish(&self, lines: &[String]) -> Result<u64, String> {
        let file = self.path("entries.jsonl");
        std::fs::write(&file, lines.join("\n")).expect("write entries");
        let args = self.publish_args(&file);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(&args);
        if out.status.success() {
            let v: Value = serde_json::from_slice(&out.stdout).expect("json");
            return Ok(v["head_seq"].as_u64().expect("head_seq"));
        }
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }

    /// Prepares a checkpoint, signs it with roots `signers` and publishes it at threshold 2.
    fn checkpoint(&self, signers: &[u32]) -> Value {
        let file = self.path("checkpoint.bin");
        let _ = std::fs::remove_file(&file);
        ctl(&[
            "ledger",
            "checkpoint",
            "--nats",
            &self.url,
            "--data",
            &self.path("replica"),
            "--prepare",
            &file,
        ]);
        for n in signers {
            ctl(&[
                "ledger",
                "sign",
                "--root",
                &self.path(&format!("roots/root-{n}.key")),
                &file,
            ]);
        }
        ctl(&[
            "ledger",
            "checkpoint",
            "--nats",
            &self.url,
            "--publish",
            &file,
            "--roots",
            &self.path("central/roots.pub"),
            "--data",
            &self.path("replica"),
        ])
    }

    /// A permit card signed with central's issuer key (or `key`), as a BP1 file; returns its path.
    fn card(&self, key: &str, name: &str) -> String {
        std::fs::write(
            self.path("body.toml"),
            "type = \"work_permit\"\nfrom = \"2026-01-01\"\nuntil = \"2027-12-31\"\nemployer = \"Caspian Drilling LLC\"\n[holder]\nstate = \"UTO\"\ndoc = \"L898902C3\"\ndob = \"1974-08-12\"\nnat = \"UTO\"\nname = \"ERIKSSON ANNA MARIA\"\n",
        )
        .expect("write body");
        let out = run(&[
            "permit",
            "issue",
            "--key",
            key,
            "--body",
            &self.path("body.toml"),
        ]);
        assert!(out.status.success(), "{out:?}");
        let file = self.path(name);
        std::fs::write(&file, &out.stdout).expect("write card");
        file
    }
}

fn line(kind: &str, body: &str) -> String {
    format!(r#"{{"kind":"{kind}","body":{body}}}"#)
}

fn assert_refused(result: Result<u64, String>, change: &str, why: &str) {
    let message = result.expect_err("refused");
    assert!(
        message.contains(change)
            && message.contains("would be refused by terminals")
            && message.contains(why)
            && message.contains("nothing published"),
        "expected {change}: {why}, got {message}"
    );
}

#[test]
fn publish_refuses_every_entry_a_terminal_would_refuse() {
    let server = NatsServer::start();
    let site = Site::init(&server);
    let key = hex::encode([7u8; 32]);
    let ok_alert = line(
        "alert",
        r#"{"document":"GEO:GE7777777","alert":{"type":"stolen"},"note":"n"}"#,
    );
    assert_eq!(site.publish(std::slice::from_ref(&ok_alert)), Ok(2));
    // Lifting it twice: the first lift is only in the stream (not checkpointed) and counts.
    let lift = |id: u64| line("alert_lifted", &format!(r#"{{"alert_id":{id}}}"#));
    assert_eq!(site.publish(&[lift(2)]), Ok(3));
    assert_refused(
        site.publish(&[lift(2)]),
        "change 1 (alert_lifted)",
        "alert 2 is unknown or already lifted",
    );
    assert_refused(
        site.publish(&[lift(999)]),
        "alert_lifted",
        "alert 999 is unknown",
    );
    // One bad change refuses the whole publication, even after good ones.
    assert_refused(
        site.publish(&[ok_alert.clone(), lift(999)]),
        "change 2 (alert_lifted)",
        "alert 999",
    );

    let issuer: Value = {
        let cards = site.card(&site.path("central/issuer-1.key"), "card.bp1");
        let out = run(&[
            "ledger",
            "publish",
            "--nats",
            &site.url,
            "--data",
            &site.path("replica"),
            "--bp1",
            &cards,
        ]);
        assert!(out.status.success(), "{out:?}");
        serde_json::from_slice(&out.stdout).expect("json")
    };
    assert_eq!(issuer["head_seq"], 4);
    site.checkpoint(&[1, 2]);
    let found = ctl(&[
        "ledger",
        "lookup",
        "--data",
        &site.path("replica"),
        "--document",
        "UTO:L898902C3",
    ]);
    let cti = found["permits"][0]["cti"].as_str().expect("cti").to_owned();
    let card = site.card(&site.path("central/issuer-1.key"), "card2.bp1");
    let out = run(&[
        "ledger",
        "publish",
        "--nats",
        &site.url,
        "--data",
        &site.path("replica"),
        "--bp1",
        &card,
    ]);
    assert!(out.status.success(), "a second card (its own cti): {out:?}");
    let rogue_key = site.path("rogue.key");
    assert!(
        run(&["permit", "keygen", "--out", &rogue_key])
            .status
            .success()
    );
    let rogue = site.card(&rogue_key, "rogue.bp1");
    let why = refused(&[
        "ledger",
        "publish",
        "--nats",
        &site.url,
        "--data",
        &site.path("replica"),
        "--bp1",
        &rogue,
    ]);
    assert!(
        why.contains("(permit_issued) would be refused by terminals"),
        "{why}"
    );
    let why = refused(&[
        "ledger",
        "publish",
        "--nats",
        &site.url,
        "--data",
        &site.path("replica"),
        "--bp1",
        &card,
    ]);
    assert!(why.contains("was already issued"), "{why}");

    let revoke = |cti: &str| {
        line(
            "permit_revoked",
            &format!(r#"{{"cti":"{cti}","reason":"stolen"}}"#),
        )
    };
    assert_refused(
        site.publish(&[revoke(&"ab".repeat(16))]),
        "permit_revoked",
        "is not in the ledger",
    );
    assert_eq!(site.publish(&[revoke(&cti)]), Ok(6));
    assert_refused(
        site.publish(&[revoke(&cti)]),
        "permit_revoked",
        "is already revoked",
    );

    // Issuer keys.
    assert_refused(
        site.publish(&[line(
            "issuer_key_retired",
            &format!(r#"{{"kid":"{}","public_key":"{key}"}}"#, "01".repeat(8)),
        )]),
        "issuer_key_retired",
        "unknown or already retired",
    );
    assert_refused(
        site.publish(&[line(
            "issuer_key_added",
            &format!(r#"{{"kid":"{}","public_key":"{}","sign_from":"2027-01-01T00:00:00Z","sign_until":"2026-01-01T00:00:00Z","verify_until":"2028-01-01T00:00:00Z","permit_types":["work_permit"]}}"#, "02".repeat(8), hex::encode(ed25519_dalek::SigningKey::from_bytes(&[3; 32]).verifying_key().to_bytes())),
        )]),
        "issuer_key_added",
        "windows are out of order",
    );

    // Terminal keys.
    let terminal_key = |kind: &str, from: &str, until: &str| {
        line(
            kind,
            &format!(
                r#"{{"terminal_id":"GYD-1","public_key":"{}","valid_from":"{from}","valid_until":"{until}"}}"#,
                hex::encode(
                    ed25519_dalek::SigningKey::from_bytes(&[5; 32])
                        .verifying_key()
                        .to_bytes()
                )
            ),
        )
    };
    let added = terminal_key(
        "terminal_key_added",
        "2026-01-01T00:00:00Z",
        "2030-01-01T00:00:00Z",
    );
    assert_refused(
        site.publish(&[terminal_key(
            "terminal_key_added",
            "2030-01-01T00:00:00Z",
            "2026-01-01T00:00:00Z",
        )]),
        "terminal_key_added",
        "terminal key validity starts after it ends",
    );
    assert_refused(
        site.publish(&[added.clone(), added.clone()]),
        "change 2 (terminal_key_added)",
        "already exists",
    );
    let retired = line(
        "terminal_key_retired",
        &format!(r#"{{"terminal_id":"GYD-2","public_key":"{key}"}}"#),
    );
    assert_refused(
        site.publish(&[retired]),
        "terminal_key_retired",
        "unknown or already retired",
    );

    assert_refused(
        site.publish(&[line("registration", r#"{"document":"GEO:GE7777777","valid_from":"2026-03-01","valid_until":"2026-02-01","place":"Baku"}"#)]),
        "registration",
        "registration starts after it ends",
    );
    // Nothing refused reached the stream: the next good publication follows entry 6.
    assert_eq!(site.publish(&[added]), Ok(7));
}

#[test]
fn checkpoints_are_signed_offline_and_published_at_k_of_n() {
    let server = NatsServer::start();
    let site = Site::init(&server);
    let alert = line(
        "alert",
        r#"{"document":"GEO:GE7777777","alert":{"type":"lost"},"note":"n"}"#,
    );
    assert_eq!(site.publish(&[alert]), Ok(2));
    let file = site.path("cp.bin");
    let prepared = ctl(&[
        "ledger",
        "checkpoint",
        "--nats",
        &site.url,
        "--data",
        &site.path("replica"),
        "--prepare",
        &file,
    ]);
    assert_eq!(prepared["size"], 2);
    let publish = [
        "ledger",
        "checkpoint",
        "--nats",
        &site.url,
        "--publish",
        &file,
        "--roots",
        &site.path("central/roots.pub"),
    ];
    let why = refused(&publish);
    assert!(
        why.contains("0 valid root signatures, 2 required") && why.contains("nothing published"),
        "{why}"
    );
    // Signing needs no broker: the server is not involved in `sign` at all.
    let signed = ctl(&[
        "ledger",
        "sign",
        "--root",
        &site.path("roots/root-1.key"),
        &file,
    ]);
    assert_eq!(signed["signatures"], 1);
    assert_eq!(signed["size"], 2);
    let why = refused(&[
        "ledger",
        "sign",
        "--root",
        &site.path("roots/root-1.key"),
        &file,
    ]);
    assert!(why.contains("has already signed"), "{why}");
    let why = refused(&publish);
    assert!(why.contains("1 valid root signatures, 2 required"), "{why}");
    let loose = site.path("roots/root-3.key");
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let why = refused(&["ledger", "sign", "--root", &loose, &file]);
    assert!(why.contains("owner-only"), "{why}");
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    ctl(&[
        "ledger",
        "sign",
        "--root",
        &site.path("roots/root-2.key"),
        &file,
    ]);
    assert_eq!(ctl(&publish)["size"], 2);

    // A terminal follows.
    let roots = site.path("central/roots.pub");
    let terminal = site.path("terminal");
    let replicate = || {
        run(&[
            "ledger",
            "replicate",
            "--data",
            &terminal,
            "--nats",
            &site.url,
            "--roots",
            &roots,
        ])
    };
    assert!(replicate().status.success());

    // An entry terminals refuse reached the stream anyway (an older tool), with a good one after
    // it, under a checkpoint signed the old way: the terminal stops at it.
    let bypass = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let root_key = |n: u32| {
        let hex_seed =
            std::fs::read_to_string(site.path(&format!("roots/root-{n}.key"))).expect("root");
        let seed: [u8; 32] = hex::decode(hex_seed.trim())
            .expect("hex")
            .try_into()
            .expect("32 bytes");
        ed25519_dalek::SigningKey::from_bytes(&seed)
    };
    bypass.block_on(async {
        let central = Central::connect(&site.url).await.expect("connect");
        let good = serde_json::from_str(&line(
            "alert",
            &format!(
                r#"{{"holder":"{}","alert":{{"type":"lost"}},"note":"after"}}"#,
                "11".repeat(32)
            ),
        ))
        .expect("change");
        central
            .append(
                vec![Change::AlertLifted(AlertLifted { alert_id: 999 }), good],
                jiff::Timestamp::now(),
            )
            .await
            .expect("append");
        central
            .checkpoint(&[root_key(1), root_key(2)], jiff::Timestamp::now())
            .await
            .expect("old checkpoint");
    });
    let stopped = replicate();
    assert_eq!(stopped.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&stopped.stdout).contains("alert 999 is unknown"),
        "{stopped:?}"
    );

    // Central can neither prepare a checkpoint nor publish past it.
    let other = site.path("cp2.bin");
    let why = refused(&[
        "ledger",
        "checkpoint",
        "--nats",
        &site.url,
        "--data",
        &site.path("replica"),
        "--prepare",
        &other,
    ]);
    assert!(
        why.contains("entry 3, already in the stream, is refused by terminals"),
        "{why}"
    );
    assert!(
        !Path::new(&other).exists(),
        "no checkpoint file was written"
    );
    let why = site
        .publish(&[line(
            "alert",
            r#"{"document":"GEO:GE1","alert":{"type":"lost"},"note":"n"}"#,
        )])
        .expect_err("refused");
    assert!(why.contains("docs/ledger.md"), "{why}");

    // The documented recovery: rewind, publish the dropped changes that were good, checkpoint.
    let dropped = site.path("dropped.jsonl");
    let rewound = ctl(&[
        "ledger",
        "rewind",
        "--nats",
        &site.url,
        "--data",
        &site.path("replica"),
        "--backup",
        &site.path("rewind.backup"),
        "--dropped",
        &dropped,
    ]);
    assert_eq!(
        (
            rewound["refused_entry"].as_u64(),
            rewound["dropped"].as_u64()
        ),
        (Some(3), Some(2)),
        "{rewound}"
    );
    assert!(!Path::new(&site.path("rewind.backup")).exists());
    let text = std::fs::read_to_string(&dropped).expect("dropped file");
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].contains("alert_lifted") && lines[1].contains("after"),
        "{text}"
    );
    assert_eq!(site.publish(&[lines[1].to_owned()]), Ok(3));
    assert_eq!(site.checkpoint(&[2, 3])["size"], 3);
    let resumed = replicate();
    assert!(resumed.status.success(), "{resumed:?}");
    let v: Value = serde_json::from_slice(&resumed.stdout).expect("json");
    assert_eq!(v["applied_seq"], 3, "{v}");

    // A rewind killed after deleting the stream: the rerun finds its backup and rebuilds it.
    let backup = site.path("crashed.backup");
    bypass.block_on(async {
        let central = Central::connect(&site.url).await.expect("connect");
        let mut kept = Vec::new();
        for seq in 1..=3 {
            kept.push(central.entry_at(seq).await.expect("read").expect("entry"));
        }
        let mut bytes = Vec::new();
        let value = ciborium::Value::Array(vec![
            ciborium::Value::Integer(1.into()),
            ciborium::Value::Array(kept.into_iter().map(ciborium::Value::Bytes).collect()),
        ]);
        ciborium::into_writer(&value, &mut bytes).expect("cbor");
        std::fs::write(&backup, bytes).expect("backup");
        let js = async_nats::jetstream::new(async_nats::connect(&site.url).await.expect("nats"));
        js.delete_stream("LEDGER")
            .await
            .expect("delete the entry stream");
    });
    let rerun = ctl(&[
        "ledger",
        "rewind",
        "--nats",
        &site.url,
        "--data",
        &site.path("replica"),
        "--backup",
        &backup,
        "--dropped",
        &site.path("unused.jsonl"),
    ]);
    assert_eq!(
        (rerun["resumed"].as_bool(), rerun["kept_through"].as_u64()),
        (Some(true), Some(3)),
        "{rerun}"
    );
    assert!(!Path::new(&backup).exists());
    assert_eq!(
        site.publish(std::slice::from_ref(&lines[1].to_owned())),
        Ok(4)
    );
}

#[test]
fn init_reruns_after_a_failure_and_keeps_its_keys() {
    let server = NatsServer::start();
    let work = tempfile::tempdir().expect("tempdir");
    let path = |name: &str| work.path().join(name).to_str().expect("utf-8").to_owned();
    let init = |url: &str| {
        run(&[
            "ledger",
            "init",
            "--central",
            &path("central"),
            "--roots-dir",
            &path("roots"),
            "--nats",
            url,
        ])
    };
    // Central unreachable: the keys are made, nothing is published.
    assert_eq!(init("nats://127.0.0.1:1").status.code(), Some(1));
    let root = std::fs::read_to_string(path("roots/root-1.key")).expect("root written");
    let issuer = std::fs::read_to_string(path("central/issuer-1.key")).expect("issuer written");
    for (file, mode) in [
        ("roots", 0o700),
        ("roots/root-1.key", 0o600),
        ("roots/root-3.key", 0o600),
        ("central/issuer-1.key", 0o600),
    ] {
        let got = std::fs::metadata(path(file))
            .expect("stat")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(got, mode, "{file}");
    }
    assert!(
        !Path::new(&path("central/root-1.key")).exists(),
        "roots are kept apart"
    );
    for _ in 0..2 {
        let out = init(&server.url());
        assert!(out.status.success(), "{out:?}");
        let v: Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(
            (v["head_seq"].as_u64(), v["checkpoint_size"].as_u64()),
            (Some(1), Some(1)),
            "{v}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(path("roots/root-1.key")).expect("root"),
        root
    );
    assert_eq!(
        std::fs::read_to_string(path("central/issuer-1.key")).expect("issuer"),
        issuer
    );
    // Other roots than the public file names: refused, nothing overwritten.
    std::fs::remove_file(path("roots/root-2.key")).expect("remove");
    let out = init(&server.url());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nothing overwritten"),
        "{out:?}"
    );
}
