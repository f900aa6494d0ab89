//! TLS to central with its CA pinned: a real nats-server requiring TLS and client certificates
//! (certificates made by the test with the openssl CLI). A terminal that pins another CA, or
//! brings no client certificate, is refused; one with the right CA and certificate relays a
//! crossing into `EVENTS`.

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use checkpointd::adapters::feed::{Outbox, OutboxConfig, RelayConfig, run_relay};
use checkpointd::adapters::nats::transport_options;
use checkpointd::cli::feed::synthetic_crossing;
use checkpointd::config::{ClientCertificate, Upstream, UpstreamTls};
use checkpointd::core::event::TerminalId;
use common::nats::NatsServer;
use common::tls::{CLIENT_EXT, SERVER_EXT, certificates, nats_server_config};
use ed25519_dalek::SigningKey;

fn upstream(url: &str, ca_file: PathBuf, client: Option<(PathBuf, PathBuf)>) -> Upstream {
    Upstream {
        nats_url: url.into(),
        urls: vec![url.into()],
        tls: Some(UpstreamTls {
            ca_file,
            client_certificate: client.map(|(certificate_file, key_file)| ClientCertificate {
                certificate_file,
                key_file,
            }),
        }),
        stream_replicas: 1,
        credentials_file: None,
        events_stream: "EVENTS".into(),
        ledger_stream: "LEDGER".into(),
        duplicate_window: Duration::from_secs(3600),
        heartbeat_every: Duration::from_secs(30),
    }
}

/// Connects once with the terminal's transport options and no retry, so a refusal surfaces.
async fn connect_with(
    options: async_nats::ConnectOptions,
    upstream: &Upstream,
) -> Result<async_nats::Client, async_nats::ConnectError> {
    transport_options(options, upstream.tls.as_ref())
        .connect(upstream.urls.as_slice())
        .await
}

async fn refused(upstream: &Upstream, why: &str) {
    let attempt = tokio::time::timeout(
        Duration::from_secs(10),
        connect_with(async_nats::ConnectOptions::new(), upstream),
    )
    .await
    .expect("a refusal comes fast");
    assert!(attempt.is_err(), "{why}: connected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_is_reached_only_through_the_pinned_ca_and_a_client_certificate() {
    let certs = tempfile::tempdir().expect("tempdir");
    let dir = certs.path();
    certificates(
        dir,
        "central",
        &[("server", SERVER_EXT), ("terminal", CLIENT_EXT)],
    );
    certificates(dir, "stranger", &[("terminal", CLIENT_EXT)]);
    let path = |name: &str| dir.join(name);
    let server = NatsServer::start_with_config(&nats_server_config(dir, "central", None));
    let url = format!("tls://127.0.0.1:{}", server.port);
    let terminal = Some((path("central-terminal.pem"), path("central-terminal.key")));

    // Central's certificate does not chain to the CA this terminal pins.
    refused(
        &upstream(&url, path("stranger-ca.pem"), terminal.clone()),
        "wrong CA",
    )
    .await;
    // Mutual TLS: no client certificate, or one from another CA.
    refused(
        &upstream(&url, path("central-ca.pem"), None),
        "no client certificate",
    )
    .await;
    let stranger = Some((path("stranger-terminal.pem"), path("stranger-terminal.key")));
    refused(
        &upstream(&url, path("central-ca.pem"), stranger),
        "foreign client certificate",
    )
    .await;

    let pinned = upstream(&url, path("central-ca.pem"), terminal);
    let client = connect_with(async_nats::ConnectOptions::new(), &pinned)
        .await
        .expect("the pinned CA and the terminal's certificate are accepted");
    let data = tempfile::tempdir().expect("tempdir");
    let outbox = Outbox::open(
        data.path(),
        OutboxConfig {
            terminal: TerminalId::new("TLS1").expect("valid id"),
            time_zone: jiff::tz::TimeZone::UTC,
        },
        SigningKey::from_bytes(&[4; 32]),
        Arc::new(checkpointd::adapters::system_clock::SystemClock::default()),
    )
    .expect("open outbox");
    for n in 0..3 {
        outbox.record(synthetic_crossing(n, "GYD")).expect("record");
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let relay = tokio::spawn(run_relay(
        outbox.clone(),
        client.clone(),
        RelayConfig {
            idle_poll: Duration::from_millis(50),
            ..RelayConfig::default()
        },
        async {
            let _ = stopped.await;
        },
    ));
    let deadline = Instant::now() + Duration::from_secs(20);
    while outbox.depth() > 0 {
        assert!(Instant::now() < deadline, "relay over TLS did not drain");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop.send(());
    relay.await.expect("join").expect("relay stops cleanly");
    let js = async_nats::jetstream::new(client);
    let mut events = js.get_stream("EVENTS").await.expect("EVENTS exists");
    assert_eq!(events.info().await.expect("info").state.messages, 3);
}
