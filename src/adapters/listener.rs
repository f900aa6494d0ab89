//! Connection discipline of the local API's listeners (Unix socket and loopback HTTP): a cap on
//! open connections, header-read and idle timeouts, and a per-peer limit on refused requests, so
//! idle or hostile clients cannot exhaust the daemon's descriptors or flood its log.
//!
//! When the cap is reached, a new connection takes the place of the oldest one that has not yet
//! sent a request (an idle or slowly-sent one); only when every open connection is serving a
//! request is the new one closed at once. So a flood of idle connections never shuts out the
//! console, and the descriptors in use stay below the cap.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;
use tower_service::Service;

/// Open connections per listener; with two listeners and the daemon's other files this stays
/// well below the unit's `LimitNOFILE=1024` (see `docs/api.md`, "Limits").
pub const CONNECTIONS_MAX: usize = 128;
/// Time a client has to send a request's headers, from connecting or from the end of its
/// previous response: it bounds both slowly-sent headers and idle keep-alive connections.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Refused requests a peer may make in a burst before it is answered `429` without a log line.
pub const REFUSALS_BURST: u32 = 10;
/// Refused requests per second a peer regains.
pub const REFUSALS_PER_SECOND: u32 = 2;
/// At most one WARN per peer in this period; the next one says how many it stands for.
pub const REFUSAL_LOG_PERIOD: Duration = Duration::from_secs(10);
/// Peers remembered by the refusal limiter; beyond it the quiet ones are forgotten.
const PEERS_REMEMBERED_MAX: usize = 1024;
/// Pause after a failed `accept` (out of descriptors), so the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);
/// How long a stopping listener lets requests in flight finish.
const SHUTDOWN_DRAIN: Duration = Duration::from_secs(1);

/// A listener the API accepts connections from, with what identifies the peer.
pub trait Incoming: Send + 'static {
    /// The connection.
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// The peer's identity for authorisation (attached to each request as `ConnectInfo`).
    type Peer: Clone + Send + Sync + 'static;
    /// The next connection.
    fn accept(&self) -> impl Future<Output = std::io::Result<(Self::Io, Self::Peer)>> + Send;
}

struct Slot {
    /// Set once the connection has sent a complete request head: it is no longer evictable (an
    /// unauthorised request is answered with `Connection: close`, so only clients that may use
    /// the API keep such a slot, until their idle timeout).
    busy: Arc<AtomicBool>,
    evict: CancellationToken,
}

/// The open connections of one listener, oldest first.
#[derive(Default)]
struct Slots {
    next: u64,
    open: BTreeMap<u64, Slot>,
}

impl Slots {
    /// Makes room for one more connection: `false` when every open one is busy.
    fn make_room(&mut self) -> bool {
        if self.open.len() < CONNECTIONS_MAX {
            return true;
        }
        let idle = self
            .open
            .iter()
            .find(|(_, slot)| !slot.busy.load(Ordering::Relaxed))
            .map(|(id, _)| *id);
        match idle.and_then(|id| self.open.remove(&id)) {
            Some(slot) => {
                slot.evict.cancel();
                true
            }
            None => false,
        }
    }
}

/// Serves `router` on `incoming` until `shutdown` resolves; connections are handled under the
/// limits above.
pub async fn serve<L: Incoming>(
    incoming: L,
    router: Router,
    shutdown_signal: impl Future<Output = ()> + Send,
) {
    tokio::pin!(shutdown_signal);
    let slots = Arc::new(Mutex::new(Slots::default()));
    let shutdown = CancellationToken::new();
    let mut refused_log = LogBudget::default();
    loop {
        let accepted = tokio::select! {
            accepted = incoming.accept() => accepted,
            () = &mut shutdown_signal => break,
        };
        let (io, peer) = match accepted {
            Ok(connection) => connection,
            Err(error) => {
                if let Some(suppressed) = refused_log.allow(Instant::now()) {
                    tracing::warn!(message = "api accept failed", %error, suppressed);
                }
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        let (id, busy, evict) = {
            let mut slots = lock(&slots);
            if !slots.make_room() {
                drop(slots);
                if let Some(suppressed) = refused_log.allow(Instant::now()) {
                    tracing::warn!(
                        message = "api connection refused: every connection is busy",
                        limit = CONNECTIONS_MAX,
                        suppressed
                    );
                }
                continue; // dropping `io` closes it
            }
            let id = slots.next;
            slots.next += 1;
            let slot = Slot {
                busy: Arc::new(AtomicBool::new(false)),
                evict: shutdown.child_token(),
            };
            let handles = (id, Arc::clone(&slot.busy), slot.evict.clone());
            slots.open.insert(id, slot);
            handles
        };
        let router = router.clone();
        let slots = Arc::clone(&slots);
        tokio::spawn(async move {
            connection(io, peer, router, busy, evict).await;
            lock(&slots).open.remove(&id);
        });
    }
    shutdown.cancel();
}

/// Serves one connection until it closes, times out, is evicted or the listener stops.
async fn connection<Io, P>(
    io: Io,
    peer: P,
    router: Router,
    busy: Arc<AtomicBool>,
    evict: CancellationToken,
) where
    Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    P: Clone + Send + Sync + 'static,
{
    let busy_seen = Arc::clone(&busy);
    let service = hyper::service::service_fn(move |request: hyper::Request<_>| {
        busy.store(true, Ordering::Relaxed);
        let mut request = request.map(axum::body::Body::new);
        request.extensions_mut().insert(ConnectInfo(peer.clone()));
        let mut router = router.clone();
        async move { Ok::<_, Infallible>(router.call(request).await.unwrap_or_else(|e| match e {})) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(true);
    let connection = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => return,
        _ = evict.cancelled() => {}
    }
    if !busy_seen.load(Ordering::Relaxed) {
        // Evicted, or stopping, with no request ever made: nothing to finish, and a flood of
        // half-sent headers must not hold descriptors through a drain.
        return;
    }
    // Stopping with a request made: let one in flight end, briefly.
    connection.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(SHUTDOWN_DRAIN, connection).await;
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the table leaves it consistent (inserts and removes are single steps).
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What to do with a refused request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// The peer is over its refusal rate: answer `429` instead of `403`.
    pub too_many: bool,
    /// Log a WARN standing for this many further refusals since the last one; `None`: stay quiet.
    pub log: Option<u64>,
}

/// Per-peer token buckets for refused requests, and a log budget per peer.
#[derive(Default)]
pub struct RefusalLimiter {
    peers: Mutex<HashMap<String, PeerRefusals>>,
}

struct PeerRefusals {
    tokens: f64,
    refilled: Instant,
    log: LogBudget,
}

impl std::fmt::Debug for RefusalLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefusalLimiter").finish_non_exhaustive()
    }
}

impl RefusalLimiter {
    /// Counts one refused request from `peer` at `now`.
    pub fn refuse(&self, peer: &str, now: Instant) -> Refusal {
        let mut peers = lock(&self.peers);
        if peers.len() >= PEERS_REMEMBERED_MAX && !peers.contains_key(peer) {
            // Forget peers whose bucket is full again: they have been quiet for a while.
            let full = f64::from(REFUSALS_BURST);
            peers.retain(|_, p| p.current(now) < full);
            if peers.len() >= PEERS_REMEMBERED_MAX {
                peers.clear();
            }
        }
        let entry = peers.entry(peer.to_string()).or_insert(PeerRefusals {
            tokens: f64::from(REFUSALS_BURST),
            refilled: now,
            log: LogBudget::default(),
        });
        entry.tokens = entry.current(now);
        entry.refilled = now;
        let too_many = entry.tokens < 1.0;
        if !too_many {
            entry.tokens -= 1.0;
        }
        Refusal {
            too_many,
            log: entry.log.allow(now),
        }
    }
}

impl PeerRefusals {
    fn current(&self, now: Instant) -> f64 {
        let regained =
            now.duration_since(self.refilled).as_secs_f64() * f64::from(REFUSALS_PER_SECOND);
        (self.tokens + regained).min(f64::from(REFUSALS_BURST))
    }
}

/// At most one log line per [`REFUSAL_LOG_PERIOD`], counting the ones it stands for.
#[derive(Default)]
struct LogBudget {
    last: Option<Instant>,
    suppressed: u64,
}

impl LogBudget {
    /// `Some(n)`: log now, `n` lines were suppressed since the last one.
    fn allow(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.duration_since(last) < REFUSAL_LOG_PERIOD => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_past_the_burst_are_429_and_logged_once_per_period() {
        let limiter = RefusalLimiter::default();
        let start = Instant::now();
        let answers: Vec<Refusal> = (0..1000)
            .map(|_| limiter.refuse("127.0.0.1", start))
            .collect();
        let forbidden = answers.iter().filter(|a| !a.too_many).count();
        assert_eq!(forbidden, REFUSALS_BURST as usize);
        let logged = answers.iter().filter(|a| a.log.is_some()).count();
        assert_eq!(logged, 1);
        // Another peer has its own bucket.
        assert!(!limiter.refuse("uid 1000", start).too_many);
        // After the log period the next line says how many it stands for, and tokens are back.
        let later = start + REFUSAL_LOG_PERIOD;
        let next = limiter.refuse("127.0.0.1", later);
        assert_eq!(
            next,
            Refusal {
                too_many: false,
                log: Some(999)
            }
        );
    }

    #[test]
    fn the_oldest_idle_connection_makes_room_and_busy_ones_are_kept() {
        let mut slots = Slots::default();
        let root = CancellationToken::new();
        for id in 0..CONNECTIONS_MAX as u64 {
            let busy = Arc::new(AtomicBool::new(id != 3 && id != 7));
            slots.open.insert(
                id,
                Slot {
                    busy,
                    evict: root.child_token(),
                },
            );
        }
        let third = slots.open[&3].evict.clone();
        let seventh = slots.open[&7].evict.clone();
        assert!(slots.make_room());
        assert!(third.is_cancelled() && !seventh.is_cancelled());
        slots.open.insert(
            1000,
            Slot {
                busy: Arc::new(AtomicBool::new(true)),
                evict: root.child_token(),
            },
        );
        assert!(slots.make_room());
        assert!(seventh.is_cancelled());
        slots.open.insert(
            1001,
            Slot {
                busy: Arc::new(AtomicBool::new(true)),
                evict: root.child_token(),
            },
        );
        assert!(
            !slots.make_room(),
            "every connection busy: the new one is refused"
        );
    }
}
