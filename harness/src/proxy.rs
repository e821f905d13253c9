//! The network fault proxy: a small tokio TCP proxy that cutover runs in front of every broker
//! of a proxied cluster (see [`crate::ClusterSpec::proxied`]), so scenarios can make the
//! network misbehave between clients and brokers.
//!
//! Faults can be set at any time while the proxy runs, per [`Direction`]:
//!
//! - **latency and jitter**: each chunk read is held for `latency ± jitter` (uniform, never
//!   below zero) before it is written on. Bytes of one connection keep their order: a chunk is
//!   delivered at `max(previous chunk's delivery, now + delay)`. Jitter comes from a SplitMix64
//!   stream derived from the proxy's seed, the connection's number and the direction, so the
//!   same seed draws the same delays. A change applies to bytes read after it.
//! - **bandwidth**: a token bucket in bytes per second, shared by all connections of the proxy
//!   in that direction (a link, not a per-connection cap), with a burst of 20 ms worth.
//! - **blackhole**: connections are accepted and stay open, but every byte in that direction
//!   is read and dropped (including bytes queued before the blackhole began). A close (FIN)
//!   still passes.
//!
//! And for the whole proxy: [`Proxy::refuse_new`] (new connections are accepted and reset at
//! once), [`Proxy::reset_connections`] (every open connection is aborted with a TCP RST on
//! both sides) and [`Proxy::clear`] (all faults off).
//!
//! Memory is bounded: each direction of a connection moves chunks of at most
//! [`CHUNK_BYTES`] through a channel of [`QUEUE_CHUNKS`]; when the destination does not read,
//! the proxy stops reading the source (TCP backpressure), nothing is buffered without bound.
//!
//! The proxy stops, closing its listener and aborting every connection, on
//! [`Proxy::shutdown`], [`Proxy::stop`] or drop. It must be started inside a tokio runtime.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::error::{HarnessError, Result};
use crate::rng::SplitMix64;

/// Largest chunk read from one side before it is queued for the other.
pub const CHUNK_BYTES: usize = 32 * 1024;
/// Chunks queued per direction of a connection; with [`CHUNK_BYTES`] at most 1 MiB held.
pub const QUEUE_CHUNKS: usize = 32;
/// How long the proxy tries to reach the upstream for a new connection before resetting it.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The bandwidth bucket holds this much time's worth of bytes.
const BURST: Duration = Duration::from_millis(20);

/// Which way bytes travel through the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the client to the broker (upstream): requests.
    ToBroker,
    /// From the broker to the client: responses.
    ToClient,
    /// Both of the above.
    Both,
}

impl Direction {
    fn indices(self) -> &'static [usize] {
        match self {
            Direction::ToBroker => &[TO_BROKER],
            Direction::ToClient => &[TO_CLIENT],
            Direction::Both => &[TO_BROKER, TO_CLIENT],
        }
    }
}

const TO_BROKER: usize = 0;
const TO_CLIENT: usize = 1;

/// The faults of one direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DirectionFaults {
    /// Added to every chunk's delivery time.
    pub latency: Duration,
    /// Each chunk's delay is drawn uniformly from `latency ± jitter` (never below zero).
    pub jitter: Duration,
    /// Bytes per second, shared by all connections; `None` is unlimited.
    pub bandwidth: Option<u64>,
    /// Drop every byte.
    pub blackhole: bool,
}

/// Every fault currently set on a proxy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Faults {
    pub to_broker: DirectionFaults,
    pub to_client: DirectionFaults,
    /// New connections are accepted and reset at once.
    pub refuse_new: bool,
}

impl Faults {
    /// True when no fault is set.
    pub fn is_clear(&self) -> bool {
        *self == Faults::default()
    }

    fn dir(&self, i: usize) -> &DirectionFaults {
        if i == TO_BROKER {
            &self.to_broker
        } else {
            &self.to_client
        }
    }

    fn dir_mut(&mut self, i: usize) -> &mut DirectionFaults {
        if i == TO_BROKER {
            &mut self.to_broker
        } else {
            &mut self.to_client
        }
    }
}

/// Counters of a proxy since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ProxyStats {
    /// Bytes written to the upstream (broker).
    pub bytes_to_broker: u64,
    /// Bytes written to clients.
    pub bytes_to_client: u64,
    /// Bytes dropped by a blackhole on the way to the broker.
    pub dropped_to_broker: u64,
    /// Bytes dropped by a blackhole on the way to clients.
    pub dropped_to_client: u64,
    /// Client connections being proxied now.
    pub open_connections: u64,
    /// Client connections accepted and proxied (refused ones not included).
    pub total_connections: u64,
    /// Client connections reset at once because of [`Proxy::refuse_new`].
    pub refused_connections: u64,
}

/// What every task of the proxy watches.
#[derive(Debug, Clone, Default)]
struct Control {
    faults: Faults,
    /// Connections accepted before the current epoch are reset.
    reset_epoch: u64,
    seed: u64,
    stopped: bool,
}

#[derive(Default)]
struct Counters {
    forwarded: [AtomicU64; 2],
    dropped: [AtomicU64; 2],
    open: AtomicU64,
    total: AtomicU64,
    refused: AtomicU64,
}

struct Shared {
    control: watch::Sender<Control>,
    counters: Counters,
    buckets: [Mutex<Bucket>; 2],
}

impl Shared {
    fn control(&self) -> watch::Receiver<Control> {
        self.control.subscribe()
    }

    fn bucket(&self, dir: usize) -> MutexGuard<'_, Bucket> {
        self.buckets[dir]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits until the bandwidth limit of `dir` lets some bytes through; returns how many
    /// (at most `want`, at least 1).
    async fn take_tokens(
        &self,
        dir: usize,
        want: usize,
        ctl: &mut watch::Receiver<Control>,
    ) -> usize {
        loop {
            let Some(rate) = ctl.borrow_and_update().faults.dir(dir).bandwidth else {
                return want;
            };
            let wait = self.bucket(dir).take(rate, want, Instant::now());
            match wait {
                Ok(n) => return n,
                Err(wait) => {
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        changed = ctl.changed() => {
                            if changed.is_err() {
                                return want;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A token bucket: `rate` bytes per second, holding at most [`BURST`] worth.
#[derive(Debug)]
struct Bucket {
    rate: u64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn new() -> Bucket {
        Bucket {
            rate: 0,
            tokens: 0.0,
            last: Instant::now(),
        }
    }

    fn capacity(rate: u64) -> u64 {
        (rate as f64 * BURST.as_secs_f64()).max(1.0) as u64
    }

    /// Takes up to `want` bytes' tokens, or says how long to wait before trying again.
    fn take(
        &mut self,
        rate: u64,
        want: usize,
        now: Instant,
    ) -> std::result::Result<usize, Duration> {
        let rate = rate.max(1);
        let cap = Self::capacity(rate);
        if self.rate != rate {
            // A new limit starts with a full bucket.
            self.rate = rate;
            self.tokens = cap as f64;
            self.last = now;
        }
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate as f64).min(cap as f64);
        self.last = now;
        let piece = want.min(cap as usize).max(1);
        if self.tokens >= piece as f64 {
            self.tokens -= piece as f64;
            Ok(piece)
        } else {
            Err(Duration::from_secs_f64(
                (piece as f64 - self.tokens) / rate as f64,
            ))
        }
    }
}

/// The delay stream of one direction of one connection.
#[derive(Debug)]
struct Jitter {
    seed: u64,
    connection: u64,
    dir: usize,
    rng: SplitMix64,
}

impl Jitter {
    fn new(seed: u64, connection: u64, dir: usize) -> Jitter {
        Jitter {
            seed,
            connection,
            dir,
            rng: Self::stream(seed, connection, dir),
        }
    }

    fn stream(seed: u64, connection: u64, dir: usize) -> SplitMix64 {
        SplitMix64::new(SplitMix64::derive(seed, connection) ^ dir as u64)
    }

    /// `latency ± jitter`, uniform, at least zero. Restarts the stream when the seed changed.
    fn delay(&mut self, faults: &DirectionFaults, seed: u64) -> Duration {
        if seed != self.seed {
            *self = Jitter::new(seed, self.connection, self.dir);
        }
        if faults.jitter.is_zero() {
            return faults.latency;
        }
        let j = faults.jitter.as_nanos().min(u128::from(u64::MAX / 4)) as u64;
        let sample = self.rng.next_u64() % (2 * j + 1);
        let nanos = faults.latency.as_nanos().min(u128::from(u64::MAX / 4)) as u64;
        Duration::from_nanos((nanos + sample).saturating_sub(j))
    }
}

/// A running proxy: listens on [`Proxy::addr`], forwards to [`Proxy::upstream`].
pub struct Proxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    shared: Arc<Shared>,
    accept: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("addr", &self.addr)
            .field("upstream", &self.upstream)
            .field("faults", &self.faults())
            .finish()
    }
}

impl Proxy {
    /// Listens on `listen` (port 0 picks a free one) and forwards every connection to
    /// `upstream`. Jitter seed 0.
    pub async fn start(listen: SocketAddr, upstream: SocketAddr) -> Result<Proxy> {
        Self::start_seeded(listen, upstream, 0).await
    }

    /// [`Proxy::start`] with a jitter seed.
    pub async fn start_seeded(
        listen: SocketAddr,
        upstream: SocketAddr,
        seed: u64,
    ) -> Result<Proxy> {
        let listener = TcpListener::bind(listen).await.map_err(|e| {
            if e.kind() == io::ErrorKind::AddrInUse {
                HarnessError::PortInUse {
                    port: listen.port(),
                    what: format!("wanted by the fault proxy to {upstream}"),
                }
            } else {
                proxy_error(listen, upstream, format!("cannot listen: {e}"))
            }
        })?;
        Self::serve(listener, upstream, seed)
    }

    /// Serves on an already bound std listener (a port reservation handed over without a
    /// window in which another process could take the port).
    pub fn from_std(
        listener: std::net::TcpListener,
        upstream: SocketAddr,
        seed: u64,
    ) -> Result<Proxy> {
        let listen = listener
            .local_addr()
            .map_err(|e| proxy_error_unbound(upstream, format!("listener address: {e}")))?;
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(proxy_error(
                listen,
                upstream,
                "needs a tokio runtime".into(),
            ));
        }
        let listener = listener
            .set_nonblocking(true)
            .and_then(|()| TcpListener::from_std(listener))
            .map_err(|e| proxy_error(listen, upstream, format!("adopting the listener: {e}")))?;
        Self::serve(listener, upstream, seed)
    }

    fn serve(listener: TcpListener, upstream: SocketAddr, seed: u64) -> Result<Proxy> {
        let addr = listener
            .local_addr()
            .map_err(|e| proxy_error_unbound(upstream, format!("listener address: {e}")))?;
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(proxy_error(addr, upstream, "needs a tokio runtime".into()));
        }
        let (control, _) = watch::channel(Control {
            seed,
            ..Control::default()
        });
        let shared = Arc::new(Shared {
            control,
            counters: Counters::default(),
            buckets: [Mutex::new(Bucket::new()), Mutex::new(Bucket::new())],
        });
        let accept = tokio::spawn(accept_loop(listener, upstream, shared.clone()));
        tracing::debug!(%addr, %upstream, "fault proxy listening");
        Ok(Proxy {
            addr,
            upstream,
            shared,
            accept: Mutex::new(Some(accept)),
        })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where connections are forwarded.
    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    /// The faults set now.
    pub fn faults(&self) -> Faults {
        self.shared.control.borrow().faults
    }

    /// Replaces every fault at once.
    pub fn set_faults(&self, faults: Faults) {
        self.shared.control.send_modify(|c| c.faults = faults);
    }

    fn modify(&self, direction: Direction, f: impl Fn(&mut DirectionFaults)) {
        self.shared.control.send_modify(|c| {
            for &i in direction.indices() {
                f(c.faults.dir_mut(i));
            }
        });
    }

    /// Adds `latency ± jitter` to bytes read from now on in `direction`
    /// (`Duration::ZERO` twice removes it).
    pub fn set_latency(&self, direction: Direction, latency: Duration, jitter: Duration) {
        self.modify(direction, |d| {
            d.latency = latency;
            d.jitter = jitter;
        });
    }

    /// Limits `direction` to `bytes_per_sec` (at least 1) shared by all connections;
    /// `None` lifts the limit.
    pub fn set_bandwidth(&self, direction: Direction, bytes_per_sec: Option<u64>) {
        let rate = bytes_per_sec.map(|r| r.max(1));
        self.modify(direction, |d| d.bandwidth = rate);
    }

    /// Drops every byte in `direction` while on; connections stay open.
    pub fn set_blackhole(&self, direction: Direction, on: bool) {
        self.modify(direction, |d| d.blackhole = on);
    }

    /// While on, new connections are accepted and reset at once.
    pub fn refuse_new(&self, on: bool) {
        self.shared
            .control
            .send_modify(|c| c.faults.refuse_new = on);
    }

    /// Aborts every open connection with a TCP RST to the client and to the upstream.
    /// Returns at once; the connections are gone within milliseconds. Later connections are
    /// not affected.
    pub fn reset_connections(&self) {
        self.shared.control.send_modify(|c| c.reset_epoch += 1);
    }

    /// Turns every fault off (latency, bandwidth, blackhole, refusal).
    pub fn clear(&self) {
        self.set_faults(Faults::default());
    }

    /// Restarts every connection's jitter stream from `seed`.
    pub fn set_seed(&self, seed: u64) {
        self.shared.control.send_modify(|c| c.seed = seed);
    }

    /// Bytes and connections so far.
    pub fn stats(&self) -> ProxyStats {
        let c = &self.shared.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ProxyStats {
            bytes_to_broker: get(&c.forwarded[TO_BROKER]),
            bytes_to_client: get(&c.forwarded[TO_CLIENT]),
            dropped_to_broker: get(&c.dropped[TO_BROKER]),
            dropped_to_client: get(&c.dropped[TO_CLIENT]),
            open_connections: get(&c.open),
            total_connections: get(&c.total),
            refused_connections: get(&c.refused),
        }
    }

    /// Tells the listener and every connection to stop (connections are reset). Returns at
    /// once; [`Proxy::shutdown`] also waits.
    pub fn stop(&self) {
        self.shared.control.send_modify(|c| c.stopped = true);
    }

    /// Stops and waits until the listener is closed and every connection is gone (at most
    /// 5 s for the connections).
    pub async fn shutdown(&self) {
        self.stop();
        let accept = self
            .accept
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(accept) = accept {
            let _ = accept.await;
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.shared.counters.open.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop();
        if let Some(accept) = self
            .accept
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
        {
            accept.abort();
        }
    }
}

fn proxy_error(listen: SocketAddr, upstream: SocketAddr, reason: String) -> HarnessError {
    HarnessError::Proxy {
        listen: listen.to_string(),
        upstream: upstream.to_string(),
        reason,
    }
}

fn proxy_error_unbound(upstream: SocketAddr, reason: String) -> HarnessError {
    HarnessError::Proxy {
        listen: "?".into(),
        upstream: upstream.to_string(),
        reason,
    }
}

/// Closes a socket with a TCP RST instead of a FIN.
fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}

/// Decrements the open count however the connection task ends.
struct OpenGuard(Arc<Shared>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.counters.open.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn accept_loop(listener: TcpListener, upstream: SocketAddr, shared: Arc<Shared>) {
    let mut ctl = shared.control();
    let mut next_connection = 0u64;
    loop {
        if ctl.borrow_and_update().stopped {
            break;
        }
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            changed = ctl.changed() => {
                if changed.is_err() {
                    break;
                }
                continue;
            }
        };
        let client = match accepted {
            Ok((client, _)) => client,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::debug!(error = %e, "fault proxy accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let (stopped, refuse, epoch) = {
            let c = ctl.borrow();
            (c.stopped, c.faults.refuse_new, c.reset_epoch)
        };
        if stopped {
            reset(client);
            break;
        }
        if refuse {
            shared.counters.refused.fetch_add(1, Ordering::SeqCst);
            reset(client);
            continue;
        }
        shared.counters.total.fetch_add(1, Ordering::SeqCst);
        shared.counters.open.fetch_add(1, Ordering::SeqCst);
        let id = next_connection;
        next_connection += 1;
        let guard = OpenGuard(shared.clone());
        tokio::spawn(async move {
            connection(client, upstream, &guard.0, id, epoch).await;
            drop(guard);
        });
    }
}

/// Resolves when the connection accepted in `epoch` must be aborted (reset or stop).
async fn aborted(ctl: &mut watch::Receiver<Control>, epoch: u64) {
    loop {
        {
            let c = ctl.borrow_and_update();
            if c.stopped || c.reset_epoch > epoch {
                return;
            }
        }
        if ctl.changed().await.is_err() {
            return;
        }
    }
}

async fn connection(
    mut client: TcpStream,
    upstream: SocketAddr,
    shared: &Shared,
    id: u64,
    epoch: u64,
) {
    let mut ctl = shared.control();
    let _ = client.set_nodelay(true);
    let connect = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(upstream));
    let mut server = tokio::select! {
        connected = connect => match connected {
            Ok(Ok(server)) => server,
            Ok(Err(e)) => {
                tracing::debug!(%upstream, error = %e, "fault proxy: upstream refused, resetting the client");
                reset(client);
                return;
            }
            Err(_) => {
                tracing::debug!(%upstream, "fault proxy: upstream connect timed out, resetting the client");
                reset(client);
                return;
            }
        },
        _ = aborted(&mut ctl, epoch) => {
            reset(client);
            return;
        }
    };
    let _ = server.set_nodelay(true);
    let seed = ctl.borrow().seed;
    let outcome = {
        let (client_read, client_write) = client.split();
        let (server_read, server_write) = server.split();
        let to_broker = pump(client_read, server_write, TO_BROKER, shared, seed, id);
        let to_client = pump(server_read, client_write, TO_CLIENT, shared, seed, id);
        tokio::select! {
            done = async { tokio::try_join!(to_broker, to_client) } => done.map(|_| ()),
            _ = aborted(&mut ctl, epoch) => Err(io::Error::other("aborted")),
        }
    };
    match outcome {
        // Both sides closed their writing half and the close was passed on.
        Ok(()) => {}
        Err(e) => {
            tracing::trace!(connection = id, error = %e, "fault proxy: connection aborted");
            reset(client);
            reset(server);
        }
    }
}

enum Chunk {
    Data { at: Instant, bytes: Vec<u8> },
    Eof,
}

/// Moves one direction of a connection: a reader queues chunks with their delivery time,
/// a writer delivers them under the bandwidth limit.
async fn pump(
    from: ReadHalf<'_>,
    to: WriteHalf<'_>,
    dir: usize,
    shared: &Shared,
    seed: u64,
    connection: u64,
) -> io::Result<()> {
    let (tx, rx) = mpsc::channel(QUEUE_CHUNKS);
    tokio::try_join!(
        read_side(from, tx, dir, shared, Jitter::new(seed, connection, dir)),
        write_side(to, rx, dir, shared),
    )
    .map(|_| ())
}

async fn read_side(
    mut from: ReadHalf<'_>,
    tx: mpsc::Sender<Chunk>,
    dir: usize,
    shared: &Shared,
    mut jitter: Jitter,
) -> io::Result<()> {
    let ctl = shared.control();
    let mut buf = vec![0u8; CHUNK_BYTES];
    let mut last_at = Instant::now();
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            let _ = tx.send(Chunk::Eof).await;
            return Ok(());
        }
        let (faults, seed) = {
            let c = ctl.borrow();
            (*c.faults.dir(dir), c.seed)
        };
        if faults.blackhole {
            shared.counters.dropped[dir].fetch_add(n as u64, Ordering::Relaxed);
            continue;
        }
        let at = (Instant::now() + jitter.delay(&faults, seed)).max(last_at);
        last_at = at;
        let chunk = Chunk::Data {
            at,
            bytes: buf[..n].to_vec(),
        };
        if tx.send(chunk).await.is_err() {
            // The writer has finished; its result decides the connection's fate.
            return Ok(());
        }
    }
}

async fn write_side(
    mut to: WriteHalf<'_>,
    mut rx: mpsc::Receiver<Chunk>,
    dir: usize,
    shared: &Shared,
) -> io::Result<()> {
    let mut ctl = shared.control();
    while let Some(chunk) = rx.recv().await {
        let (at, bytes) = match chunk {
            Chunk::Eof => {
                // The peer may be gone already; the other direction reports that.
                let _ = to.shutdown().await;
                return Ok(());
            }
            Chunk::Data { at, bytes } => (at, bytes),
        };
        tokio::time::sleep_until(at).await;
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            if ctl.borrow().faults.dir(dir).blackhole {
                shared.counters.dropped[dir].fetch_add(rest.len() as u64, Ordering::Relaxed);
                break;
            }
            let n = shared.take_tokens(dir, rest.len(), &mut ctl).await;
            to.write_all(&rest[..n]).await?;
            shared.counters.forwarded[dir].fetch_add(n as u64, Ordering::Relaxed);
            rest = &rest[n..];
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_is_bounded_and_the_same_seed_draws_the_same_delays() {
        let faults = DirectionFaults {
            latency: Duration::from_millis(50),
            jitter: Duration::from_millis(20),
            ..DirectionFaults::default()
        };
        let draw = |seed, connection| {
            let mut j = Jitter::new(seed, connection, TO_BROKER);
            (0..1000)
                .map(|_| j.delay(&faults, seed))
                .collect::<Vec<_>>()
        };
        let a = draw(7, 3);
        assert_eq!(a, draw(7, 3), "same seed, same stream");
        assert_ne!(a, draw(8, 3), "another seed, another stream");
        assert_ne!(a, draw(7, 4), "another connection, another stream");
        let (min, max) = (a.iter().min().unwrap(), a.iter().max().unwrap());
        assert!(*min >= Duration::from_millis(30) && *max <= Duration::from_millis(70));
        assert!(
            *max - *min > Duration::from_millis(30),
            "spread {min:?}..{max:?}"
        );
        // Never below zero when the jitter exceeds the latency.
        let wide = DirectionFaults {
            latency: Duration::from_millis(1),
            jitter: Duration::from_millis(10),
            ..DirectionFaults::default()
        };
        let mut j = Jitter::new(1, 1, TO_CLIENT);
        assert!((0..1000).all(|_| j.delay(&wide, 1) <= Duration::from_millis(11)));
    }

    #[test]
    fn bucket_lets_the_rate_through_after_a_burst() {
        let start = Instant::now();
        let mut b = Bucket::new();
        // 1000 B/s: a 20 B burst, then 1 B per ms.
        assert_eq!(b.take(1000, 500, start), Ok(20));
        let wait = b.take(1000, 500, start).unwrap_err();
        assert_eq!(wait, Duration::from_millis(20));
        assert_eq!(b.take(1000, 500, start + Duration::from_millis(20)), Ok(20));
        // Simulated transfer of 10 000 bytes takes about 10 s.
        let mut now = start;
        let mut sent = 0;
        while sent < 10_000 {
            match b.take(1000, 10_000 - sent, now) {
                Ok(n) => sent += n,
                Err(wait) => now += wait,
            }
        }
        let took = now - start;
        assert!(
            took >= Duration::from_millis(9_900) && took <= Duration::from_millis(10_100),
            "{took:?}"
        );
    }
}
