//! TLS to central with its CA pinned: a real nats-server requiring TLS and client certificates
//! (certificates made by the test with the openssl CLI). A terminal that pins another CA, or
//! brings no client certificate, is refused; one with the right CA and certificate relays a
//! crossing into `EVENTS`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use checkpointd::adapters::feed::{Outbox, OutboxConfig, RelayConfig, run_relay};
use checkpointd::adapters::nats::transport_options;
use checkpointd::cli::feed::synthetic_crossing;
use checkpointd::config::{ClientCertificate, Upstream, UpstreamTls};
use checkpointd::core::event::TerminalId;
use common::nats::NatsServer;
use ed25519_dalek::SigningKey;

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run openssl (apt-get install openssl)");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A CA (`<name>-ca.pem`) and, signed by it, a certificate `<name>-<leaf>.pem` with its key for
/// each leaf, the server's naming 127.0.0.1.
fn certificates(dir: &Path, name: &str, leaves: &[(&str, &str)]) {
    let ca = format!("{name}-ca");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &format!("{ca}.key"),
            "-out",
            &format!("{ca}.pem"),
            "-days",
            "2",
            "-subj",
            &format!("/CN={ca}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    for (leaf, extensions) in leaves {
        let stem = format!("{name}-{leaf}");
        std::fs::write(dir.join(format!("{stem}.ext")), extensions).expect("write extensions");
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                &format!("{stem}.key"),
                "-out",
                &format!("{stem}.csr"),
                "-subj",
                &format!("/CN={stem}"),
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{stem}.csr"),
                "-CA",
                &format!("{ca}.pem"),
                "-CAkey",
                &format!("{ca}.key"),
                "-CAcreateserial",
                "-out",
                &format!("{stem}.pem"),
                "-days",
                "2",
                "-extfile",
                &format!("{stem}.ext"),
            ],
        );
    }
}

const SERVER_EXT: &str = "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n";
const CLIENT_EXT: &str = "extendedKeyUsage=clientAuth\n";

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
    transport_options(options, upstream)
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
    let server = NatsServer::start_with_config(&format!(
        "tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n  ca_file: \"{}\"\n  verify: true\n  timeout: 5\n}}\n",
        path("central-server.pem").display(),
        path("central-server.key").display(),
        path("central-ca.pem").display(),
    ));
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
