//! The terminal logs in to a central broker in operator (JWT) mode with a `.creds` file as `nsc`
//! writes it: a nats-server trusting a test operator, with the account preloaded, refuses a
//! client without credentials while the real `checkpointd` publishes its heartbeats and creates
//! its stream.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Instant;

use common::nats::NatsServer;
use common::terminal::{Setup, TERMINAL_ID, Terminal, WAIT};
use futures::StreamExt;
use nats_io_jwt::{Account, KeyPair, Operator, OperatorLimits, Token, User};

/// The operator's, the accounts' and the user's JWTs, and the user's seed.
struct Identities {
    operator_jwt: String,
    /// JetStream needs a system account.
    system_public: String,
    system_jwt: String,
    account_public: String,
    account_jwt: String,
    user_jwt: String,
    user_seed: String,
}

fn identities() -> Identities {
    let operator = KeyPair::new_operator();
    let system = KeyPair::new_account();
    let account = KeyPair::new_account();
    let user = KeyPair::new_user();
    let operator_claims: Operator = Operator::builder()
        .system_account(Some(system.public_key().into()))
        .try_into()
        .expect("operator claims");
    let system_claims: Account = Account::builder().try_into().expect("system claims");
    // The claims' own defaults (-1: no limit) for connections, data and JetStream, so that the
    // terminal can connect twice and make its stream; the builder alone would leave them unset.
    let unlimited: OperatorLimits = serde_json::from_str("{}").expect("default limits");
    let account_claims: Account = Account::builder()
        .limits(Some(unlimited))
        .try_into()
        .expect("account claims");
    let user_claims: User = User::builder()
        .bearer_token(false)
        .try_into()
        .expect("user claims");
    Identities {
        operator_jwt: Token::new(operator.public_key())
            .name("central")
            .claims(operator_claims)
            .sign(&operator),
        system_public: system.public_key(),
        system_jwt: Token::new(system.public_key())
            .name("SYS")
            .claims(system_claims)
            .sign(&operator),
        account_public: account.public_key(),
        account_jwt: Token::new(account.public_key())
            .name("checkpoints")
            .claims(account_claims)
            .sign(&operator),
        user_jwt: Token::new(user.public_key())
            .name(TERMINAL_ID)
            .claims(user_claims)
            .sign(&account),
        user_seed: user.seed().expect("user seed"),
    }
}

/// A `.creds` file's text in the layout `nsc generate creds` writes.
fn creds(jwt: &str, seed: &str) -> String {
    format!(
        "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
         ************************* IMPORTANT *************************\n\
         NKEY Seed printed below can be used to sign and prove identity.\n\
         NKEYs are sensitive and should be treated as secrets.\n\n\
         -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n\n\
         *************************************************************\n"
    )
}

/// Writes a secret owner-only, as the daemon requires.
fn write_secret(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write the creds file");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
}

#[test]
fn a_creds_file_logs_in_to_a_broker_in_operator_mode() {
    let ids = identities();
    let conf = format!(
        "operator: \"{}\"\nsystem_account: {}\nresolver: MEMORY\n\
         resolver_preload: {{\n  {}: \"{}\"\n  {}: \"{}\"\n}}\n",
        ids.operator_jwt,
        ids.system_public,
        ids.system_public,
        ids.system_jwt,
        ids.account_public,
        ids.account_jwt
    );
    let nats = NatsServer::start_with_config(&conf);
    let url = nats.url();
    let creds = creds(&ids.user_jwt, &ids.user_seed);
    let terminal = Terminal::start_edited(
        &Setup {
            nats_url: &url,
            mode: "officer",
            direction: "entry",
            gate_port: None,
        },
        |dir, text| {
            write_secret(&dir.join("keys/nats.creds"), &creds);
            text.replace(
                "heartbeat_every_s = 30",
                "heartbeat_every_s = 1\ncredentials_file = \"keys/nats.creds\"",
            )
        },
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        assert!(
            async_nats::connect(url.as_str()).await.is_err(),
            "the broker must refuse a client without credentials"
        );
        let watcher = async_nats::ConnectOptions::with_credentials(&creds)
            .expect("the creds parse")
            .connect(url.as_str())
            .await
            .expect("the test's client logs in with the same creds");
        let mut beats = watcher
            .subscribe(format!("heartbeats.{TERMINAL_ID}"))
            .await
            .expect("subscribe");
        let beat = tokio::time::timeout(WAIT, beats.next())
            .await
            .unwrap_or_else(|_| panic!("no heartbeat within {WAIT:?}:\n{}", terminal.log()))
            .expect("subscription open");
        let beat: serde_json::Value = serde_json::from_slice(&beat.payload).expect("JSON");
        assert_eq!(beat["terminal"], TERMINAL_ID, "{beat}");

        let js = async_nats::jetstream::new(watcher);
        let deadline = Instant::now() + WAIT;
        while js.get_stream("EVENTS").await.is_err() {
            assert!(
                Instant::now() < deadline,
                "the terminal never made its stream through the creds login:\n{}",
                terminal.log()
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    });
}
