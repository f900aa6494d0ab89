//! `checkpoint-central`: the national movement record. It keeps its own ledger replica (terminal
//! keys, permits), consumes `EVENTS` into PostgreSQL, records heartbeats and serves the reports.
//!
//! Module map: `config` (TOML, checked like the terminal's), `store` (PostgreSQL: migrations,
//! batches, heartbeats), `ingest` (the durable consumer and heartbeat subscriber), `reports`
//! (the queries), `http` (API and page).

pub mod config;
pub mod http;
pub mod ingest;
pub mod reports;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::adapters::ledger::SledLedger;
use crate::adapters::ledger::replication::{Backoff, Replicator};
use crate::core::ledger::permit_check::Bp1Verification;
use crate::exit::Exit;
use crate::ports::ledger::LedgerStore;
use config::CentralConfig;

/// How often the ledger replica asks for a newer checkpoint.
const LEDGER_POLL: Duration = Duration::from_millis(500);

/// Failures that stop the service.
#[derive(Debug, thiserror::Error)]
pub enum CentralError {
    /// The ledger replica could not be opened.
    #[error("ledger replica: {0}")]
    Ledger(String),
    /// The HTTP listener could not be bound.
    #[error("http {place}: {source}")]
    Http {
        /// The address.
        place: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Ingestion stopped.
    #[error("ingest: {0}")]
    Ingest(#[from] ingest::IngestError),
    /// The record could not be opened.
    #[error("{0}")]
    Store(#[from] store::StoreError),
    /// The runtime could not start.
    #[error("runtime: {0}")]
    Runtime(std::io::Error),
}

/// Runs the service until SIGTERM or SIGINT.
pub fn run(config: CentralConfig) -> Exit {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            tracing::error!(message = "cannot start", error = %CentralError::Runtime(error));
            return Exit::Failure;
        }
    };
    match runtime.block_on(serve(config)) {
        Ok(()) => Exit::Success,
        Err(error) => {
            tracing::error!(message = "checkpoint-central stopped", %error);
            Exit::Failure
        }
    }
}

async fn serve(config: CentralConfig) -> Result<(), CentralError> {
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        let _ = stop.send(true);
    });
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| CentralError::Ledger(format!("{}: {e}", config.data_dir.display())))?;
    let (ledger, set_aside) = SledLedger::open_or_set_aside(
        &config.data_dir.join("ledger"),
        config.ledger.cache_capacity_bytes,
    )
    .map_err(|e| CentralError::Ledger(e.to_string()))?;
    if let Some((aside, why)) = set_aside {
        tracing::error!(message = "ledger replica corrupt: moved aside, replicating again", aside = %aside.display(), error = %why);
    }
    spawn_replication(&config, ledger.clone());
    // Events are verified with the terminal keys of the ledger: before the first checkpoint is
    // applied every event would be rejected as from an unknown terminal.
    while ledger.cursor().map_or(0, |cursor| cursor.seq) == 0 {
        if *stopped.borrow() {
            return Ok(());
        }
        tracing::info!(message = "waiting for the first ledger checkpoint");
        tokio::time::sleep(LEDGER_POLL).await;
    }
    let mut reports_client = store::connect(&config.postgres).await?;
    store::migrate(&mut reports_client).await?;
    let listener = TcpListener::bind(config.http.listen)
        .await
        .map_err(|source| CentralError::Http {
            place: config.http.listen.to_string(),
            source,
        })?;
    let context = Arc::new(reports::ReportContext {
        ledger: ledger.clone(),
        stay: config.stay.clone(),
    });
    let state = http::HttpState::new(Arc::new(reports_client), context, &config.http.token);
    let http_task = tokio::spawn(http::serve(
        listener,
        state,
        stopped_future(stopped.clone()),
    ));
    let beats = {
        let (nats, postgres, stopped) = (
            config.nats.clone(),
            config.postgres.clone(),
            stopped.clone(),
        );
        tokio::spawn(async move {
            ingest::run_heartbeats(&nats, &postgres, stopped_future(stopped)).await
        })
    };
    tracing::info!(message = "checkpoint-central ready", http = %config.http.listen, consumer = %config.nats.durable);
    crate::adapters::notify::Notifier::from_env().ready("ingesting");
    let keys = Arc::new(ingest::ReplicaTerminalKeys(ledger));
    let result = ingest::run_ingest(
        &config.nats,
        &config.postgres,
        keys,
        stopped_future(stopped),
    )
    .await;
    beats.abort();
    let _ = http_task.await;
    result.map_err(CentralError::from)
}

fn spawn_replication(config: &CentralConfig, ledger: SledLedger) {
    let link = config.nats.link();
    let roots = config.ledger.roots.clone();
    let snapshot_dir = config.data_dir.clone();
    tokio::spawn(async move {
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        loop {
            // Central's replica applies entries with the terminals' own rules (BP1 signatures
            // included), so what it holds is what every terminal holds.
            match Replicator::connect(
                &link,
                ledger.clone(),
                roots.clone(),
                Arc::new(Bp1Verification),
            )
            .await
            {
                Ok(replicator) => {
                    let replicator = replicator.with_snapshot_dir(&snapshot_dir);
                    let fatal = replicator.follow(LEDGER_POLL, backoff).await;
                    tracing::error!(message = "ledger replication stopped: replica kept at its last good state", error = %fatal);
                    return;
                }
                Err(error) => {
                    let delay = backoff.next_delay();
                    tracing::warn!(message = "ledger stream unreachable", %error, ?delay);
                    tokio::time::sleep(delay).await;
                }
            }
        }
    });
}

async fn stopped_future(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stopped| *stopped).await;
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => std::future::pending::<()>().await,
    }
}
