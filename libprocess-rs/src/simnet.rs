//! A simulated network: the nodes (runtimes) of one OS process reach each other through it
//! instead of TCP, and every byte between them passes a seeded fault model. A runtime joins it
//! with [`crate::Config::network`]; the transport above (handshake, frames, one connection per
//! peer, links and their `exited`) runs unchanged, over [`SimStream`]s instead of sockets.
//!
//! What it models, each from the one seeded generator:
//! - **Delay.** Every write on a connection arrives after a delay drawn uniformly from
//!   [`Faults::delay`]; a connection keeps its order (as TCP does), different connections do
//!   not, so messages between different pairs of nodes reorder.
//! - **Drops.** With probability [`Faults::drop_rate`] a write breaks its connection instead:
//!   both ends see it reset, which is how a real broken link looks (links see `exited`). A
//!   node's connections to its own IP (loopback: an executor and its agent) never drop.
//! - **Partitions**, one-way or both ways ([`SimNet::cut`], [`SimNet::partition`]): bytes
//!   written across a cut are held, as TCP retransmits them, and arrive when it heals; held longer
//!   than the sender's send timeout (`Config::send_timeout`), the connection breaks. A connect
//!   across a cut does not complete (the transport's connect timeout ends it).
//! - **Crashes** ([`SimNet::crash`]): the node's connections are reset and its address refuses
//!   connections until a node binds it again (a restart, with the same address).
//!
//! Time is tokio's: in a current-thread runtime started paused, the simulation runs in virtual
//! time and, with nothing else random reachable, the same seed gives the same event log
//! ([`SimNet::log_hash`]).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::future::Future as _;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context as TaskCx, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{mpsc, Notify};
use tokio::time::{Instant, Sleep};

use crate::rng::Rng;

/// The lines of the event log kept for reading (the hash covers every line).
const LOG_KEEP: usize = 10_000;

/// The fault model applied to every write.
#[derive(Clone, Debug, PartialEq)]
pub struct Faults {
    /// Each write arrives after a delay drawn uniformly from this range.
    pub delay: (Duration, Duration),
    /// The chance, per write, that the write breaks its connection instead.
    pub drop_rate: f64,
}

impl Default for Faults {
    /// A quiet network: 100 µs to 1 ms of delay, no drops.
    fn default() -> Faults {
        Faults {
            delay: (Duration::from_micros(100), Duration::from_millis(1)),
            drop_rate: 0.0,
        }
    }
}

/// A handle to a simulated network; clones share it.
#[derive(Clone)]
pub struct SimNet {
    inner: Arc<Net>,
}

impl std::fmt::Debug for SimNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SimNet")
    }
}

struct Net {
    st: Mutex<NetState>,
    /// Woken when a cut heals or a node starts listening (connects waiting on them retry).
    changed: Notify,
}

struct Node {
    /// Where accepted connections go.
    accept: mpsc::UnboundedSender<(SimStream, SocketAddr)>,
    /// Its send timeout: bytes it wrote held longer than this break their connection.
    send_timeout: Option<Duration>,
}

struct NetState {
    rng: Rng,
    faults: Faults,
    start: Instant,
    nodes: BTreeMap<SocketAddr, Node>,
    /// One-way cuts: (from, to) by IP.
    cuts: BTreeSet<(IpAddr, IpAddr)>,
    conns: BTreeMap<u64, ConnRec>,
    next_conn: u64,
    next_port: u16,
    log: VecDeque<String>,
    hash: u64,
    lines: u64,
    dropped: u64,
}

/// A connection as the network knows it: its two ends' addresses and the shared state.
struct ConnRec {
    ends: [SocketAddr; 2],
    conn: Weak<Conn>,
}

/// One connection: a pipe each way, and whether it was reset.
struct Conn {
    id: u64,
    net: Weak<Net>,
    st: Mutex<ConnState>,
}

struct ConnState {
    /// `pipes[i]` carries what end `i` writes.
    pipes: [Pipe; 2],
    reset: bool,
}

#[derive(Default)]
struct Pipe {
    queue: VecDeque<Chunk>,
    /// No later chunk may arrive before this (the connection keeps its order).
    last_at: Option<Instant>,
    /// The writer shut down or went away (an end-of-stream chunk is queued).
    shut: bool,
    /// The reader, waiting for a chunk.
    waker: Option<Waker>,
}

struct Chunk {
    /// When it arrives; `None` while held by a cut.
    at: Option<Instant>,
    /// When it was written (for the send timeout of held chunks).
    written: Instant,
    /// `None`: the end of the stream.
    data: Option<Bytes>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl SimNet {
    /// A network whose every random choice comes from `seed`.
    pub fn new(seed: u64, faults: Faults) -> SimNet {
        SimNet {
            inner: Arc::new(Net {
                st: Mutex::new(NetState {
                    rng: Rng::new(seed),
                    faults,
                    start: Instant::now(),
                    nodes: BTreeMap::new(),
                    cuts: BTreeSet::new(),
                    conns: BTreeMap::new(),
                    next_conn: 1,
                    next_port: 40_000,
                    log: VecDeque::new(),
                    hash: 0xcbf2_9ce4_8422_2325,
                    lines: 0,
                    dropped: 0,
                }),
                changed: Notify::new(),
            }),
        }
    }

    fn st(&self) -> MutexGuard<'_, NetState> {
        lock(&self.inner.st)
    }

    /// Changes the fault model for later writes.
    pub fn set_faults(&self, faults: Faults) {
        let mut st = self.st();
        st.event(format_args!("faults {faults:?}"));
        st.faults = faults;
    }

    /// Draws from the network's generator (for simulations that want one seed for everything).
    pub fn next_u64(&self) -> u64 {
        self.st().rng.next_u64()
    }

    /// Seconds since the network started (virtual time in a simulation).
    pub fn now_secs(&self) -> f64 {
        self.st().start.elapsed().as_secs_f64()
    }

    /// Adds a line to the event log (the simulation's own events beside the network's).
    pub fn record(&self, what: &str) {
        self.st().event(format_args!("{what}"));
    }

    /// The hash of every line logged so far (FNV-1a): equal for equal runs.
    pub fn log_hash(&self) -> u64 {
        self.st().hash
    }

    /// The newest `n` lines of the event log (at most the last 10,000 are kept).
    pub fn log_tail(&self, n: usize) -> Vec<String> {
        let st = self.st();
        let skip = st.log.len().saturating_sub(n);
        st.log.iter().skip(skip).cloned().collect()
    }

    /// Writes that broke their connection (the fault model's drops) so far.
    pub fn dropped(&self) -> u64 {
        self.st().dropped
    }

    /// Lines logged so far.
    pub fn log_lines(&self) -> u64 {
        self.st().lines
    }

    /// Starts listening at `addr` (port 0: one is picked). Fails if a node listens there.
    pub(crate) fn listen(
        &self,
        addr: SocketAddr,
        send_timeout: Option<Duration>,
    ) -> io::Result<(SocketAddr, mpsc::UnboundedReceiver<(SimStream, SocketAddr)>)> {
        let mut st = self.st();
        let mut addr = addr;
        if addr.port() == 0 {
            loop {
                st.next_port = st.next_port.checked_add(1).unwrap_or(40_001);
                addr.set_port(st.next_port);
                if !st.nodes.contains_key(&addr) {
                    break;
                }
            }
        }
        if st.nodes.get(&addr).is_some_and(|n| !n.accept.is_closed()) {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("{addr} is in use on the simulated network"),
            ));
        }
        let (tx, rx) = mpsc::unbounded_channel();
        st.nodes.insert(
            addr,
            Node {
                accept: tx,
                send_timeout,
            },
        );
        st.event(format_args!("listen {addr}"));
        drop(st);
        self.inner.changed.notify_waiters();
        Ok((addr, rx))
    }

    /// Opens a connection from the node at `from` to the one at `to` (the transport's
    /// connections, and a simulation's own clients of a node's HTTP endpoints: any port of
    /// `from`'s IP will do, since cuts and crashes go by the listening address and the IP).
    pub async fn connect(&self, from: SocketAddr, to: SocketAddr) -> io::Result<SimStream> {
        loop {
            let changed = self.inner.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let delay = {
                let mut st = self.st();
                if st.is_cut(from.ip(), to.ip()) || st.is_cut(to.ip(), from.ip()) {
                    None
                } else {
                    Some(st.draw_delay())
                }
            };
            let Some(delay) = delay else {
                // The handshake is lost while the cut lasts; try again when something heals.
                changed.await;
                continue;
            };
            tokio::time::sleep(delay).await;
            let mut st = self.st();
            if st.is_cut(from.ip(), to.ip()) || st.is_cut(to.ip(), from.ip()) {
                continue;
            }
            let Some(node) = st.nodes.get(&to).filter(|n| !n.accept.is_closed()) else {
                st.event(format_args!("refused {from} -> {to}"));
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionRefused,
                    format!("nothing listens at {to} on the simulated network"),
                ));
            };
            let accept = node.accept.clone();
            let id = st.next_conn;
            st.next_conn += 1;
            let conn = Arc::new(Conn {
                id,
                net: Arc::downgrade(&self.inner),
                st: Mutex::new(ConnState {
                    pipes: [Pipe::default(), Pipe::default()],
                    reset: false,
                }),
            });
            st.conns.insert(
                id,
                ConnRec {
                    ends: [from, to],
                    conn: Arc::downgrade(&conn),
                },
            );
            // The connecting end's address as the acceptor sees it: its IP, a fresh port.
            st.next_port = st.next_port.checked_add(1).unwrap_or(40_001);
            let peer = SocketAddr::new(from.ip(), st.next_port);
            st.event(format_args!("connect #{id} {from} -> {to}"));
            let server = SimStream::new(conn.clone(), 1, to, peer);
            if let Err(unsent) = accept.send((server, peer)) {
                st.conns.remove(&id);
                // The unsent end's drop takes the network's lock: release it first.
                drop(st);
                drop(unsent);
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionRefused,
                    format!("{to} stopped listening"),
                ));
            }
            return Ok(SimStream::new(conn, 0, from, to));
        }
    }

    /// Bytes from `from` to `to` (by IP) stop arriving until [`SimNet::heal`].
    pub fn cut(&self, from: IpAddr, to: IpAddr) {
        let mut st = self.st();
        if st.cuts.insert((from, to)) {
            st.event(format_args!("cut {from} -> {to}"));
        }
    }

    /// Cuts every pair between the two sets, both ways.
    pub fn partition(&self, a: &[IpAddr], b: &[IpAddr]) {
        for &x in a {
            for &y in b {
                self.cut(x, y);
                self.cut(y, x);
            }
        }
    }

    /// Ends every cut: held bytes arrive (each after a fresh delay, in order).
    pub fn heal(&self) {
        let mut st = self.st();
        if st.cuts.is_empty() {
            return;
        }
        st.cuts.clear();
        st.event(format_args!("heal"));
        st.conns.retain(|_, c| c.conn.strong_count() > 0);
        let live: Vec<Arc<Conn>> = st.conns.values().filter_map(|c| c.conn.upgrade()).collect();
        let mut wakers = Vec::new();
        for conn in live {
            let mut cs = lock(&conn.st);
            for pipe in cs.pipes.iter_mut() {
                let mut any = false;
                for i in 0..pipe.queue.len() {
                    if pipe.queue[i].at.is_none() {
                        let at = st.arrival(pipe.last_at);
                        pipe.queue[i].at = Some(at);
                        pipe.last_at = Some(at);
                        any = true;
                    }
                }
                if any {
                    wakers.extend(pipe.waker.take());
                }
            }
        }
        drop(st);
        for w in wakers {
            w.wake();
        }
        self.inner.changed.notify_waiters();
    }

    /// The node at `addr` crashed: its connections are reset and nothing listens there until a
    /// node binds the address again.
    pub fn crash(&self, addr: SocketAddr) {
        let mut st = self.st();
        st.nodes.remove(&addr);
        st.event(format_args!("crash {addr}"));
        let hit: Vec<Arc<Conn>> = st
            .conns
            .values()
            .filter(|c| c.ends.contains(&addr))
            .filter_map(|c| c.conn.upgrade())
            .collect();
        drop(st);
        for c in hit {
            c.reset("crash");
        }
    }

    /// Breaks every connection between the nodes at `a` and `b` (either direction).
    pub fn break_connections(&self, a: SocketAddr, b: SocketAddr) {
        let hit: Vec<Arc<Conn>> = self
            .st()
            .conns
            .values()
            .filter(|c| c.ends == [a, b] || c.ends == [b, a])
            .filter_map(|c| c.conn.upgrade())
            .collect();
        for c in hit {
            c.reset("broken");
        }
    }

    /// Open connections (both ends not yet gone).
    pub fn connections(&self) -> usize {
        let mut st = self.st();
        st.conns.retain(|_, c| c.conn.strong_count() > 0);
        st.conns.len()
    }
}

impl NetState {
    fn event(&mut self, what: std::fmt::Arguments<'_>) {
        let mut line = String::new();
        let t = self.start.elapsed();
        let _ = write!(line, "{:>12.6} {}", t.as_secs_f64(), what);
        for b in line.bytes().chain(std::iter::once(b'\n')) {
            self.hash ^= u64::from(b);
            self.hash = self.hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.lines += 1;
        if self.log.len() == LOG_KEEP {
            self.log.pop_front();
        }
        self.log.push_back(line);
    }

    fn is_cut(&self, from: IpAddr, to: IpAddr) -> bool {
        !self.cuts.is_empty() && self.cuts.contains(&(from, to))
    }

    fn draw_delay(&mut self) -> Duration {
        let (lo, hi) = self.faults.delay;
        if hi <= lo {
            return lo;
        }
        let span = (hi - lo).as_nanos() as f64;
        lo + Duration::from_nanos((self.rng.next_f64() * span) as u64)
    }

    /// When a chunk written now arrives: after a drawn delay, never before the one ahead of it.
    fn arrival(&mut self, last: Option<Instant>) -> Instant {
        let at = Instant::now() + self.draw_delay();
        last.map_or(at, |l| at.max(l))
    }
}

impl Conn {
    /// Breaks the connection: both ends' reads and writes fail from now on.
    fn reset(&self, why: &str) {
        let wakers: Vec<Waker> = {
            let mut cs = lock(&self.st);
            if cs.reset {
                return;
            }
            cs.reset = true;
            cs.pipes.iter_mut().filter_map(|p| p.waker.take()).collect()
        };
        if let Some(net) = self.net.upgrade() {
            lock(&net.st).event(format_args!("reset #{} ({why})", self.id));
        }
        for w in wakers {
            w.wake();
        }
    }
}

/// One end of a simulated connection.
pub struct SimStream {
    conn: Arc<Conn>,
    /// Which end: it writes `pipes[end]` and reads `pipes[1 - end]`.
    end: usize,
    local: SocketAddr,
    peer: SocketAddr,
    /// Waiting for the next chunk's arrival.
    sleep: Option<Pin<Box<Sleep>>>,
}

impl std::fmt::Debug for SimStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SimStream(#{} {} -> {})",
            self.conn.id, self.local, self.peer
        )
    }
}

impl SimStream {
    fn new(conn: Arc<Conn>, end: usize, local: SocketAddr, peer: SocketAddr) -> SimStream {
        SimStream {
            conn,
            end,
            local,
            peer,
            sleep: None,
        }
    }

    /// This end's address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The other end's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    fn reset_error() -> io::Error {
        io::Error::new(
            io::ErrorKind::ConnectionReset,
            "connection reset (simulated network)",
        )
    }

    /// Queues a chunk (`None`: the end of the stream) as the fault model says.
    fn put(&self, data: Option<Bytes>) -> io::Result<()> {
        let Some(net) = self.conn.net.upgrade() else {
            return Err(Self::reset_error());
        };
        let mut st = lock(&net.st);
        let mut cs = lock(&self.conn.st);
        if cs.reset {
            return Err(Self::reset_error());
        }
        let len = data.as_ref().map_or(0, Bytes::len);
        let (from, to) = (self.local, self.peer);
        let loopback = from.ip() == to.ip();
        if data.is_some()
            && !loopback
            && st.faults.drop_rate > 0.0
            && st.rng.next_f64() < st.faults.drop_rate
        {
            drop(cs);
            st.dropped += 1;
            st.event(format_args!("drop #{} {from} -> {to} {len}B", self.conn.id));
            drop(st);
            self.conn.reset("dropped");
            return Err(Self::reset_error());
        }
        let held = st.is_cut(from.ip(), to.ip());
        let pipe = &mut cs.pipes[self.end];
        let at = if held {
            None
        } else {
            let at = st.arrival(pipe.last_at);
            pipe.last_at = Some(at);
            Some(at)
        };
        if data.is_none() {
            pipe.shut = true;
        }
        pipe.queue.push_back(Chunk {
            at,
            written: Instant::now(),
            data,
        });
        let waker = pipe.waker.take();
        drop(cs);
        let what = if len == 0 { "eof" } else { "send" };
        match at {
            Some(at) => {
                let at = (at - st.start).as_secs_f64();
                st.event(format_args!(
                    "{what} #{} {from} -> {to} {len}B at {at:.6}",
                    self.conn.id
                ))
            }
            None => st.event(format_args!("held #{} {from} -> {to} {len}B", self.conn.id)),
        }
        // Held bytes break the connection once the writer's send timeout passes.
        let timeout = (held && len > 0)
            .then(|| st.nodes.get(&from).and_then(|n| n.send_timeout))
            .flatten();
        drop(st);
        if let (Some(d), Ok(rt)) = (timeout, tokio::runtime::Handle::try_current()) {
            let (conn, end) = (Arc::downgrade(&self.conn), self.end);
            rt.spawn(async move {
                tokio::time::sleep(d).await;
                let Some(conn) = conn.upgrade() else {
                    return;
                };
                let expired = {
                    let cs = lock(&conn.st);
                    cs.pipes[end]
                        .queue
                        .iter()
                        .any(|c| c.at.is_none() && c.written + d <= Instant::now())
                };
                if expired {
                    conn.reset("send timeout");
                }
            });
        }
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }
}

impl AsyncRead for SimStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut TaskCx<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            let wait_until = {
                let mut cs = lock(&this.conn.st);
                if cs.reset {
                    return Poll::Ready(Err(Self::reset_error()));
                }
                let pipe = &mut cs.pipes[1 - this.end];
                let now = Instant::now();
                match pipe.queue.front_mut() {
                    Some(Chunk { at: Some(at), .. }) if *at > now => Some(*at),
                    Some(Chunk {
                        at: Some(_),
                        data: None,
                        ..
                    }) => return Poll::Ready(Ok(())), // End of stream (left queued).
                    Some(Chunk {
                        at: Some(_),
                        data: Some(b),
                        ..
                    }) => {
                        let n = b.len().min(buf.remaining());
                        buf.put_slice(&b.split_to(n));
                        if b.is_empty() {
                            pipe.queue.pop_front();
                        }
                        this.sleep = None;
                        return Poll::Ready(Ok(()));
                    }
                    // Nothing yet, or held by a cut: wait for a write, a heal or a reset.
                    _ => {
                        pipe.waker = Some(cx.waker().clone());
                        return Poll::Pending;
                    }
                }
            };
            let Some(at) = wait_until else {
                continue;
            };
            match &mut this.sleep {
                Some(s) if s.deadline() == at => {}
                _ => this.sleep = Some(Box::pin(tokio::time::sleep_until(at))),
            }
            let sleep = this.sleep.as_mut().expect("set above");
            if sleep.as_mut().poll(cx).is_pending() {
                // A reset must wake us before the chunk's time.
                lock(&this.conn.st).pipes[1 - this.end].waker = Some(cx.waker().clone());
                return Poll::Pending;
            }
        }
    }
}

impl AsyncWrite for SimStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut TaskCx<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if lock(&self.conn.st).pipes[self.end].shut {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "write after shutdown",
            )));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        Poll::Ready(
            self.put(Some(Bytes::copy_from_slice(buf)))
                .map(|()| buf.len()),
        )
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut TaskCx<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut TaskCx<'_>) -> Poll<io::Result<()>> {
        if lock(&self.conn.st).pipes[self.end].shut {
            return Poll::Ready(Ok(()));
        }
        Poll::Ready(self.put(None))
    }
}

impl Drop for SimStream {
    fn drop(&mut self) {
        // The peer reads the end of the stream (after the bytes ahead of it), as after a close.
        let shut = lock(&self.conn.st).pipes[self.end].shut;
        if !shut {
            let _ = self.put(None);
        }
    }
}
