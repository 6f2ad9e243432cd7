//! The binary transport: one listening socket per runtime (shared with HTTP, told apart by the
//! first bytes), one persistent outgoing connection per remote node carrying every message to it,
//! and remote links whose `exited` fires when that connection breaks or cannot be made.
//!
//! It delivers what arrives (and `exited` notices) through the process manager; the runtime
//! owns both and routes remote sends here. The transport never imports the runtime.

pub mod wire;

mod incoming;
mod outgoing;

use crate::util::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dashmap::DashMap;

use crate::mailbox::{Incoming, RemoteConnection};
use crate::manager::ProcessManager;
use crate::metrics::{Counter, Metrics};
use crate::upid::UPID;

pub(crate) use incoming::{accept_loop, Listener};
use outgoing::Conn;

/// The transport's counters (names under `libprocess/transport/`).
pub(crate) struct TransportMetrics {
    pub(crate) connections_accepted: Counter,
    pub(crate) connections_outgoing: Counter,
    pub(crate) connect_failures: Counter,
    pub(crate) handshakes_malformed: Counter,
    pub(crate) frames_oversized: Counter,
    pub(crate) frames_truncated: Counter,
    pub(crate) frames_malformed: Counter,
    pub(crate) messages_received: Counter,
    pub(crate) bytes_sent: Counter,
    pub(crate) messages_dropped_unsent: Counter,
    pub(crate) frames_forged_sender: Counter,
    pub(crate) handshakes_refused: Counter,
    pub(crate) connections_refused: Counter,
    pub(crate) frames_timed_out: Counter,
    pub(crate) frames_over_budget: Counter,
    pub(crate) tls_connections_accepted: Counter,
    pub(crate) tls_handshakes_failed: Counter,
    pub(crate) plain_connections_refused: Counter,
}

impl TransportMetrics {
    fn new(m: &Metrics) -> TransportMetrics {
        let c = |n: &str| m.counter(&format!("libprocess/transport/{n}"));
        TransportMetrics {
            connections_accepted: c("connections_accepted"),
            connections_outgoing: c("connections_outgoing"),
            connect_failures: c("connect_failures"),
            handshakes_malformed: c("handshakes_malformed"),
            frames_oversized: c("frames_oversized"),
            frames_truncated: c("frames_truncated"),
            frames_malformed: c("frames_malformed"),
            messages_received: c("messages_received"),
            bytes_sent: c("bytes_sent"),
            messages_dropped_unsent: c("messages_dropped_unsent"),
            frames_forged_sender: c("frames_forged_sender"),
            handshakes_refused: c("handshakes_refused"),
            connections_refused: c("connections_refused"),
            frames_timed_out: c("frames_timed_out"),
            frames_over_budget: c("frames_over_budget"),
            tls_connections_accepted: c("tls_connections_accepted"),
            tls_handshakes_failed: c("tls_handshakes_failed"),
            plain_connections_refused: c("plain_connections_refused"),
        }
    }
}

/// Links to processes on one remote node: target -> local linkers.
/// Per target on a node, its linkers (a set: thousands of processes may link to one target).
type NodeLinks = HashMap<UPID, HashSet<UPID>>;

/// The socket manager.
pub(crate) struct Transport {
    /// Where what arrives is delivered.
    pub(crate) pm: Arc<ProcessManager>,
    conns: DashMap<SocketAddr, Arc<Conn>, crate::util::FxBuild>,
    /// Tasks serving accepted connections, so shutdown can close them (Fx: closed in the same
    /// order run after run, as a simulation needs).
    pub(crate) incoming: DashMap<u64, tokio::task::AbortHandle, crate::util::FxBuild>,
    pub(crate) next_conn: std::sync::atomic::AtomicU64,
    links: Mutex<HashMap<SocketAddr, NodeLinks>>,
    pub(crate) max_frame: usize,
    pub(crate) connect_timeout: Duration,
    /// TCP_USER_TIMEOUT for every connection, when set.
    send_timeout: Option<Duration>,
    /// Whether a handshake may advertise an IP other than the one it connects from.
    pub(crate) accept_unmatched_ip: bool,
    /// Connection caps, read timeouts and the memory budget.
    pub(crate) limits: Arc<crate::limits::Limits>,
    /// TLS, both ways, when enabled.
    pub(crate) tls: Option<Arc<crate::tls::Tls>>,
    /// The simulated network the node is on, instead of TCP.
    pub(crate) net: Option<crate::simnet::SimNet>,
    pub(crate) m: TransportMetrics,
}

/// Encodes a body onto the end of a frame under construction.
pub(crate) type EncodeFn<'a> =
    &'a mut dyn FnMut(&mut Vec<u8>) -> Result<(), crate::codec::CodecError>;

/// A transport's settings (from the runtime's `Config`).
pub(crate) struct Options {
    pub(crate) max_frame: usize,
    pub(crate) connect_timeout: Duration,
    pub(crate) send_timeout: Option<Duration>,
    pub(crate) accept_unmatched_ip: bool,
    pub(crate) tls: Option<Arc<crate::tls::Tls>>,
    pub(crate) net: Option<crate::simnet::SimNet>,
}

impl Transport {
    pub(crate) fn new(
        pm: Arc<ProcessManager>,
        limits: Arc<crate::limits::Limits>,
        o: Options,
    ) -> Arc<Transport> {
        let m = TransportMetrics::new(&pm.metrics);
        Arc::new(Transport {
            pm,
            conns: DashMap::default(),
            incoming: DashMap::default(),
            next_conn: std::sync::atomic::AtomicU64::new(0),
            links: Mutex::new(HashMap::default()),
            max_frame: o.max_frame,
            connect_timeout: o.connect_timeout,
            send_timeout: o.send_timeout,
            accept_unmatched_ip: o.accept_unmatched_ip,
            limits,
            tls: o.tls,
            net: o.net,
            m,
        })
    }

    /// Sets up a new connection's socket (either way): no Nagle delay, and the send timeout
    /// when one is configured.
    pub(crate) fn tune(&self, s: &tokio::net::TcpStream) {
        let _ = s.set_nodelay(true);
        if let Some(d) = self.send_timeout {
            let ms = u32::try_from(d.as_millis()).unwrap_or(u32::MAX).max(1);
            if let Err(e) =
                nix::sys::socket::setsockopt(s, nix::sys::socket::sockopt::TcpUserTimeout, &ms)
            {
                tracing::warn!("cannot set the send timeout (TCP_USER_TIMEOUT): {e}");
            }
        }
    }

    fn links(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, NodeLinks>> {
        self.links.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The live connection to `addr`, opening one if there is none.
    fn conn(self: &Arc<Self>, addr: SocketAddr) -> Arc<Conn> {
        if let Some(c) = self.conns.get(&addr) {
            return c.clone();
        }
        let (conn, fresh) = match self.conns.entry(addr) {
            dashmap::Entry::Occupied(e) => (e.get().clone(), false),
            dashmap::Entry::Vacant(v) => {
                let c = Arc::new(Conn::new(addr));
                v.insert(c.clone());
                (c, true)
            }
        };
        if fresh {
            self.m.connections_outgoing.inc();
            self.pm
                .handle
                .spawn(outgoing::run(self.clone(), conn.clone()));
        }
        conn
    }

    /// Queues one frame for `to`; a closed connection is replaced (reconnect on the next send).
    pub(crate) fn send(self: &Arc<Self>, to: &UPID, from: &UPID, name: &str, encode: EncodeFn<'_>) {
        let own = self.pm.addr;
        for _ in 0..2 {
            let conn = self.conn(to.addr());
            match conn.push(to.id(), from, own, name, self.max_frame, &mut *encode) {
                outgoing::Push::Queued => return,
                outgoing::Push::Rejected(why) => {
                    tracing::warn!(%to, name, "not sending message: {why}");
                    self.m.messages_dropped_unsent.inc();
                    return;
                }
                outgoing::Push::Closed => {
                    self.conns
                        .remove_if(&to.addr(), |_, c| Arc::ptr_eq(c, &conn));
                }
            }
        }
        self.m.messages_dropped_unsent.inc();
    }

    /// Records a remote link and makes sure a connection exists (or is replaced, with
    /// [`RemoteConnection::Reconnect`]; every link to that node then rides the new one).
    pub(crate) fn link(self: &Arc<Self>, linker: &UPID, target: &UPID, mode: RemoteConnection) {
        {
            let mut links = self.links();
            let l = links
                .entry(target.addr())
                .or_default()
                .entry(target.clone())
                .or_default();
            if !l.contains(linker) {
                l.insert(linker.clone());
            }
        }
        if mode == RemoteConnection::Reconnect {
            if let Some((_, old)) = self.conns.remove(&target.addr()) {
                let pending = old.supersede();
                let fresh = self.conn(target.addr());
                fresh.prepend(pending);
                return;
            }
        }
        self.conn(target.addr());
    }

    /// Removes a remote link.
    pub(crate) fn unlink(&self, linker: &UPID, target: &UPID) {
        let mut links = self.links();
        if let Some(node) = links.get_mut(&target.addr()) {
            if let Some(l) = node.get_mut(target) {
                l.remove(linker);
                if l.is_empty() {
                    node.remove(target);
                }
            }
            if node.is_empty() {
                links.remove(&target.addr());
            }
        }
    }

    /// A connection broke (or never opened): forget it and tell every linker of that node.
    pub(crate) fn failed(&self, conn: &Arc<Conn>, why: &str) {
        let Some(dropped) = conn.close() else {
            return; // Already closed, or superseded by a reconnect: no exited.
        };
        if dropped > 0 {
            self.m.messages_dropped_unsent.add(dropped);
        }
        self.conns
            .remove_if(&conn.addr, |_, c| Arc::ptr_eq(c, conn));
        let node = self.links().remove(&conn.addr);
        tracing::debug!(peer = %conn.addr, dropped, "connection closed: {why}");
        for (target, linkers) in node.unwrap_or_default() {
            for l in linkers {
                self.pm.deliver(&l, Incoming::Exited(target.clone()));
            }
        }
    }

    /// Closes every connection, both ways (runtime shutdown): peers see them close.
    pub(crate) fn shutdown(&self) {
        let ids: Vec<u64> = self.incoming.iter().map(|e| *e.key()).collect();
        for id in ids {
            if let Some((_, h)) = self.incoming.remove(&id) {
                h.abort();
            }
        }
        let conns: Vec<Arc<Conn>> = self.conns.iter().map(|e| e.value().clone()).collect();
        self.conns.clear();
        for c in conns {
            c.close();
        }
    }

    /// Number of open outgoing connections.
    pub(crate) fn outgoing_count(&self) -> usize {
        self.conns.len()
    }
}
