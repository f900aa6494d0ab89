//! The relay: publishes outbox rows in sequence order to JetStream with `Nats-Msg-Id =
//! <terminal>:<seq>`, a bounded number of acks in flight, and removes a row only on its PubAck.
//! Also the heartbeat publisher.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, message::PublishMessage, stream};
use futures::StreamExt;
use futures::stream::FuturesOrdered;

pub use super::backoff::backoff_delay;
use super::outbox::Outbox;
use super::subjects::heartbeat_subject;
use super::{EVENT_SUBJECT_PREFIX, FeedError, STREAM_NAME};
use crate::core::event::{TerminalId, message_id};
use crate::ports::telemetry::RelayMeter;

/// How the relay publishes.
#[derive(Clone, Debug)]
pub struct RelayConfig {
    /// Stream name (`EVENTS`).
    pub stream: String,
    /// JetStream duplicate window; must cover the longest outage (hours, not the 2-min default).
    pub duplicate_window: Duration,
    /// Publishes awaiting their PubAck at once.
    pub acks_in_flight_max: usize,
    /// Rows read from the outbox per round.
    pub rows_per_round: usize,
    /// First retry delay after a failure.
    pub backoff_min: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
    /// How long an idle relay waits before looking at the outbox again.
    pub idle_poll: Duration,
    /// Replicas of the stream when the relay creates it (3 on a three-node cluster).
    pub replicas: usize,
    /// How long a round with publishes unanswered may go without any ack, and the stream check
    /// without its answer, before the round fails and is retried (same message ids, so nothing
    /// is stored twice). A stream leader killed with acks in flight never answers them, nor a
    /// stream check sent while the stream has no leader; the client's 10-second request timeout
    /// would hold every crossing behind them that long after the new leader is elected. Silence
    /// is measured, not each ack's age, so a slow link whose acks keep coming is not taken for
    /// a dead one; it must stay above the link's worst round trip, or every round would fail
    /// and be sent again. A lost connection does not wait for it (see [`FeedSink::connection`]).
    pub ack_timeout: Duration,
    /// Longest retry delay in the first `failover_window` of an outage: a stream that lost its
    /// leader takes new publishes again the moment the cluster has elected another (nats-server
    /// waits 4-9 s before it campaigns), and the crossings waiting should go then, not a
    /// backoff of seconds later.
    pub failover_retry_max: Duration,
    /// How long an outage is taken for a failover (retries every `failover_retry_max` at most)
    /// before the retries back off to `backoff_max` (central is down, not electing).
    pub failover_window: Duration,
}

impl RelayConfig {
    /// Defaults with a duplicate window of `hours`.
    pub fn with_duplicate_window_hours(hours: u32) -> Self {
        Self {
            stream: STREAM_NAME.into(),
            duplicate_window: Duration::from_secs(u64::from(hours) * 3600),
            acks_in_flight_max: 256,
            rows_per_round: 2048,
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(30),
            idle_poll: Duration::from_secs(1),
            replicas: 1,
            ack_timeout: Duration::from_secs(3),
            failover_retry_max: Duration::from_millis(250),
            failover_window: Duration::from_secs(30),
        }
    }
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self::with_duplicate_window_hours(72)
    }
}

/// Creates the `EVENTS` stream if missing (file storage, `events.>`, the configured duplicate
/// window and replica count).
pub async fn ensure_stream(js: &jetstream::Context, config: &RelayConfig) -> Result<(), FeedError> {
    js.get_or_create_stream(stream::Config {
        name: config.stream.clone(),
        subjects: vec![format!("{EVENT_SUBJECT_PREFIX}.>")],
        duplicate_window: config.duplicate_window,
        storage: stream::StorageType::File,
        num_replicas: config.replicas,
        ..stream::Config::default()
    })
    .await
    .map_err(|e| FeedError::nats("create stream", e))?;
    Ok(())
}

/// What central's stream answered for one stored publish.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SinkAck {
    /// The stream already held this message id (an earlier copy was stored).
    pub duplicate: bool,
    /// Where the stream holds it.
    pub stream_seq: u64,
}

/// Central's event stream as the relay sees it: a publish with a message id, answered later by
/// an ack. [`JetStreamSink`] is the real one; the deterministic simulation supplies one that
/// drops connections, loses messages and acks, and stores duplicates as JetStream does.
pub trait FeedSink: Send + Sync {
    /// The future of one publish's ack.
    type Ack: Future<Output = Result<SinkAck, FeedError>> + Send;
    /// Makes sure the stream exists (once per connection).
    fn prepare(&self) -> impl Future<Output = Result<(), FeedError>> + Send;
    /// Sends one message; the ack follows. An error here means the connection is gone.
    fn send(
        &self,
        subject: String,
        message_id: String,
        payload: Vec<u8>,
    ) -> impl Future<Output = Result<Self::Ack, FeedError>> + Send;
    /// Which connection the sink is on: a value that changes when the connection is lost (and
    /// again when another is made). Acks of publishes sent on an earlier connection never
    /// come, so a round waiting for them fails at once rather than after `ack_timeout`.
    fn connection(&self) -> Option<u64> {
        Some(0)
    }
}

/// The `EVENTS` stream on JetStream.
pub struct JetStreamSink {
    client: async_nats::Client,
    js: jetstream::Context,
    config: RelayConfig,
}

impl JetStreamSink {
    pub fn new(client: async_nats::Client, config: RelayConfig) -> Self {
        Self {
            js: jetstream::new(client.clone()),
            client,
            config,
        }
    }
}

impl FeedSink for JetStreamSink {
    type Ack = std::pin::Pin<Box<dyn Future<Output = Result<SinkAck, FeedError>> + Send>>;

    async fn prepare(&self) -> Result<(), FeedError> {
        let wait = self.config.ack_timeout;
        tokio::time::timeout(wait, ensure_stream(&self.js, &self.config))
            .await
            .map_err(|_| FeedError::nats("stream check", format!("no answer within {wait:?}")))?
    }

    async fn send(
        &self,
        subject: String,
        message_id: String,
        payload: Vec<u8>,
    ) -> Result<Self::Ack, FeedError> {
        let publish = PublishMessage::build()
            .payload(payload.into())
            .message_id(message_id);
        let ack = self
            .js
            .send_publish(subject, publish)
            .await
            .map_err(|e| FeedError::nats("publish", e))?;
        Ok(Box::pin(async move {
            let ack = ack.await.map_err(|e| FeedError::nats("pub ack", e))?;
            Ok(SinkAck {
                duplicate: ack.duplicate,
                stream_seq: ack.sequence,
            })
        }))
    }

    /// The number of connections made so far, `None` while there is none.
    fn connection(&self) -> Option<u64> {
        (self.client.connection_state() == async_nats::connection::State::Connected).then(|| {
            self.client
                .statistics()
                .connects
                .load(std::sync::atomic::Ordering::Relaxed)
        })
    }
}

/// Relays the outbox to JetStream until `shutdown`, retrying with backoff and jitter.
pub async fn run_relay(
    outbox: Outbox,
    client: async_nats::Client,
    config: RelayConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), FeedError> {
    run_relay_metered(outbox, client, config, None, shutdown).await
}

/// [`run_relay`], reporting each round's acknowledgements and failures to `meter`.
pub async fn run_relay_metered(
    outbox: Outbox,
    client: async_nats::Client,
    config: RelayConfig,
    meter: Option<Arc<dyn RelayMeter>>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), FeedError> {
    let sink = JetStreamSink::new(client, config.clone());
    tokio::pin!(shutdown);
    let mut outage: Option<Outage> = None;
    let mut stream_ready = false;
    loop {
        let round = relay_round(&outbox, &sink, &config, &mut stream_ready);
        let wait = tokio::select! {
            () = &mut shutdown => break,
            result = round => match result {
                Ok(acknowledged) => {
                    if let Some(outage) = outage.take() {
                        tracing::info!(after = ?outage.since.elapsed(), failed_rounds = outage.failures, depth = outbox.depth(), "relay publishing again");
                    }
                    if let Some(meter) = &meter {
                        meter.relayed(acknowledged);
                    }
                    if acknowledged > 0 {
                        continue;
                    }
                    None
                }
                Err(error) => {
                    if let Some(meter) = &meter {
                        meter.relay_failed();
                    }
                    let outage = outage.get_or_insert_with(Outage::new);
                    outage.failures = outage.failures.saturating_add(1);
                    // While the outage may be a failover, the stream existed a moment ago and a
                    // check would only wait for the leader the publishes wait for; past that,
                    // check it again (central's cluster may have been rebuilt without it).
                    stream_ready = stream_ready && outage.may_be_failover(&config);
                    let delay = outage.retry_delay(&config);
                    if outage.failures == 1 {
                        tracing::warn!(%error, depth = outbox.depth(), ?delay, "relay round failed; retrying");
                    } else {
                        tracing::debug!(%error, failures = outage.failures, outage = ?outage.since.elapsed(), ?delay, "relay round failed again");
                    }
                    Some(delay)
                }
            },
        };
        match wait {
            Some(delay) => tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(delay) => {}
            },
            None => tokio::select! {
                () = &mut shutdown => break,
                () = outbox.appended() => {}
                () = tokio::time::sleep(config.idle_poll) => {}
            },
        }
    }
    outbox.flush_async().await
}

/// A run of failed rounds: since when, and how many.
struct Outage {
    since: Instant,
    failures: u32,
}

impl Outage {
    fn new() -> Self {
        Self {
            since: Instant::now(),
            failures: 0,
        }
    }

    /// Whether the outage is young enough to be a leader election.
    fn may_be_failover(&self, config: &RelayConfig) -> bool {
        self.since.elapsed() < config.failover_window
    }

    /// The delay before the next round: short while the outage may be a leader election, then
    /// growing to `backoff_max`.
    fn retry_delay(&self, config: &RelayConfig) -> Duration {
        let max = if self.may_be_failover(config) {
            config.failover_retry_max
        } else {
            config.backoff_max
        };
        backoff_delay(self.failures, config.backoff_min, max)
    }
}

/// One relay round: publishes up to `rows_per_round` pending rows in sequence order with at
/// most `acks_in_flight_max` unanswered, removes each row on its ack, and returns how many
/// left the outbox. Any failure ends the round; the rows not acknowledged stay for the next.
/// `stream_ready` is cleared by the caller when the stream is to be checked again.
pub async fn relay_round<K: FeedSink>(
    outbox: &Outbox,
    sink: &K,
    config: &RelayConfig,
    stream_ready: &mut bool,
) -> Result<u64, FeedError> {
    if !*stream_ready {
        sink.prepare().await?;
        *stream_ready = true;
    }
    let rows = outbox.pending(None, config.rows_per_round)?;
    if rows.is_empty() {
        return Ok(0);
    }
    let terminal = outbox.terminal().clone();
    let connection = sink.connection();
    let connected = || sink.connection() == connection;
    let mut in_flight = FuturesOrdered::new();
    let mut acknowledged = 0u64;
    for row in rows {
        let ack = sink
            .send(row.subject, message_id(&terminal, row.seq), row.signed)
            .await?;
        let seq = row.seq;
        in_flight.push_back(async move { (seq, ack.await) });
        if in_flight.len() >= config.acks_in_flight_max {
            acknowledged += settle(
                outbox,
                next_ack(&mut in_flight, config.ack_timeout, connected).await?,
            )?;
        }
    }
    while !in_flight.is_empty() {
        acknowledged += settle(
            outbox,
            next_ack(&mut in_flight, config.ack_timeout, connected).await?,
        )?;
    }
    outbox.flush_async().await?;
    Ok(acknowledged)
}

/// How often a wait for an ack looks whether the connection it was sent on is still there.
const CONNECTION_CHECK: Duration = Duration::from_millis(100);

/// The oldest publish's ack, unless it takes longer than `silence` or the connection the round
/// sent on is lost (`connected` turns false): acks come in publish order, so this bounds the
/// silence between two acks, however many wait behind.
async fn next_ack<F: Future>(
    in_flight: &mut FuturesOrdered<F>,
    silence: Duration,
    connected: impl Fn() -> bool,
) -> Result<Option<F::Output>, FeedError> {
    let deadline = tokio::time::Instant::now() + silence;
    let next = in_flight.next();
    tokio::pin!(next);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return Err(FeedError::nats(
                "pub ack",
                format!("no ack within {silence:?}"),
            ));
        }
        if let Ok(done) = tokio::time::timeout(left.min(CONNECTION_CHECK), &mut next).await {
            return Ok(done);
        }
        if !connected() {
            return Err(FeedError::nats(
                "pub ack",
                "the connection the round was sent on was lost with acks outstanding",
            ));
        }
    }
}

fn settle(
    outbox: &Outbox,
    done: Option<(u64, Result<SinkAck, FeedError>)>,
) -> Result<u64, FeedError> {
    let Some((seq, ack)) = done else {
        return Ok(0);
    };
    // A duplicate ack means an earlier copy is stored: success, the row may go.
    let ack = ack?;
    if ack.duplicate {
        tracing::debug!(
            seq,
            stream_seq = ack.stream_seq,
            "duplicate publish acknowledged"
        );
    }
    outbox.acknowledge(seq)?;
    Ok(1)
}

/// Supplies the terminal's health for its heartbeats: a JSON object (the lane's status:
/// devices, ledger seq, age and replication state, clock, restart-required settings).
pub trait HealthProbe: Send + Sync {
    /// The current health; `type`, `terminal`, `at` and `outbox_depth` are set by the publisher.
    fn health(&self) -> serde_json::Value;
}

/// One heartbeat: the probe's object with the publisher's fields set.
pub fn heartbeat(
    health: serde_json::Value,
    terminal: &TerminalId,
    at: jiff::Timestamp,
    outbox_depth: usize,
) -> serde_json::Value {
    let mut beat = match health {
        serde_json::Value::Object(map) => map,
        other => serde_json::Map::from_iter([("health".to_string(), other)]),
    };
    beat.insert("type".into(), "heartbeat".into());
    beat.insert("terminal".into(), terminal.to_string().into());
    beat.insert("at".into(), at.to_string().into());
    beat.insert("outbox_depth".into(), outbox_depth.into());
    serde_json::Value::Object(beat)
}

/// Publishes a heartbeat on `heartbeats.<terminal>` every `every` until `shutdown`.
/// Heartbeats are best effort (core NATS): a missed one is itself the signal.
pub async fn run_heartbeats(
    outbox: Outbox,
    client: async_nats::Client,
    probe: Arc<dyn HealthProbe>,
    clock: Arc<dyn crate::ports::clock::Clock>,
    every: Duration,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let subject = heartbeat_subject(outbox.terminal());
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            _ = tick.tick() => {}
        }
        let beat = heartbeat(
            probe.health(),
            outbox.terminal(),
            clock.now(),
            outbox.depth(),
        );
        match serde_json::to_vec(&beat) {
            Ok(body) => {
                if let Err(error) = client.publish(subject.clone(), body.into()).await {
                    tracing::debug!(%error, "heartbeat not sent");
                }
            }
            Err(error) => tracing::error!(%error, "heartbeat not encodable"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_stays_within_bounds_and_grows() {
        let (min, max) = (Duration::from_millis(100), Duration::from_secs(30));
        for failures in 0..40 {
            let delay = backoff_delay(failures, min, max);
            assert!(delay >= min && delay <= max, "{failures}: {delay:?}");
        }
        let ceiling_at_3 = Duration::from_millis(800);
        assert!((0..100).all(|_| backoff_delay(3, min, max) <= ceiling_at_3));
    }

    #[tokio::test]
    async fn a_round_fails_on_silence_not_on_an_acks_age() {
        let silence = Duration::from_millis(100);
        // An ack after `delay`, or never.
        async fn ack(n: u64, delay: Option<Duration>) -> u64 {
            match delay {
                Some(delay) => tokio::time::sleep(delay).await,
                None => std::future::pending().await,
            }
            n
        }
        let mut in_flight = FuturesOrdered::new();
        for n in 1..=3u64 {
            // Each ack comes 40 ms after the one before: the last 120 ms after its publish.
            in_flight.push_back(ack(n, Some(Duration::from_millis(40 * n))));
        }
        for n in 1..=3u64 {
            assert_eq!(
                next_ack(&mut in_flight, silence, || true).await.ok(),
                Some(Some(n))
            );
        }
        in_flight.push_back(ack(0, None));
        assert!(next_ack(&mut in_flight, silence, || true).await.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn a_lost_connection_fails_the_wait_without_the_ack_timeout() {
        let mut in_flight = FuturesOrdered::new();
        in_flight.push_back(std::future::pending::<()>());
        let started = tokio::time::Instant::now();
        let checks = std::cell::Cell::new(0);
        // Connected for the first two checks, then lost.
        let connected = || {
            checks.set(checks.get() + 1);
            checks.get() <= 2
        };
        let waited = next_ack(&mut in_flight, Duration::from_secs(3), connected).await;
        let error = waited.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.contains("connection"), "{error}");
        assert_eq!(started.elapsed(), 3 * CONNECTION_CHECK);
    }

    #[test]
    fn an_outage_retries_quickly_while_it_may_be_an_election_then_backs_off() {
        let config = RelayConfig::default();
        let young = Outage {
            since: Instant::now(),
            failures: 20,
        };
        assert!((0..100).all(|_| young.retry_delay(&config) <= config.failover_retry_max));
        let Some(since) = Instant::now().checked_sub(config.failover_window) else {
            return;
        };
        let old = Outage {
            since,
            failures: 20,
        };
        let delays: Vec<Duration> = (0..100).map(|_| old.retry_delay(&config)).collect();
        assert!(delays.iter().all(|delay| *delay <= config.backoff_max));
        assert!(
            delays
                .iter()
                .any(|delay| *delay > config.failover_retry_max)
        );
    }
}
