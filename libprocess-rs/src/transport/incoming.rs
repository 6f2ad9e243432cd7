//! Accepting connections: the first bytes tell a TLS client (a handshake record) from a plain
//! one, and then, in clear or inside TLS, a binary peer (handshake magic) from an HTTP client. Binary connections are read frame by frame; anything malformed closes only that
//! connection, with a log line and a metric.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};

use super::wire::{self, WireError};
use super::Transport;
use crate::mailbox::Mailbox;
use crate::message::{Body, MessageEvent, Name};
use crate::simnet::SimStream;
use crate::upid::UPID;
use crate::util::FxBuild;

/// How long a new connection may take to send its first bytes / its handshake.
const SNIFF_TIMEOUT: Duration = Duration::from_secs(10);
/// Per-connection caches stay below this many entries.
const CACHE_LIMIT: usize = 1024;

/// Where a node's connections come from: its TCP socket, or its address on a simulated network.
pub(crate) enum Listener {
    Tcp(TcpListener),
    Sim(tokio::sync::mpsc::UnboundedReceiver<(SimStream, SocketAddr)>),
}

/// An accepted connection.
enum Accepted {
    Tcp(TcpStream),
    Sim(SimStream),
}

impl Listener {
    /// The next connection, with its peer's address and whether it comes from this node's own
    /// IP; `None` once a simulated network stops sending any.
    async fn accept(&mut self) -> Option<std::io::Result<(Accepted, SocketAddr, bool)>> {
        match self {
            Listener::Tcp(l) => Some(l.accept().await.map(|(s, peer)| {
                let local = s.local_addr().is_ok_and(|l| l.ip() == peer.ip());
                (Accepted::Tcp(s), peer, local)
            })),
            Listener::Sim(rx) => {
                let (s, peer) = rx.recv().await?;
                let local = s.local_addr().ip() == peer.ip();
                Some(Ok((Accepted::Sim(s), peer, local)))
            }
        }
    }
}

pub(crate) async fn accept_loop(t: Arc<Transport>, mut listener: Listener) {
    while let Some(next) = listener.accept().await {
        match next {
            Ok((s, peer, local)) => {
                // Connections from the node's own address (an agent's executors, local tools)
                // are capped only in all.
                let Some(admitted) = t.limits.admit(peer.ip(), local) else {
                    t.m.connections_refused.inc();
                    tracing::warn!(%peer, "refusing a connection: too many open");
                    drop(s);
                    continue;
                };
                t.m.connections_accepted.inc();
                let id = t
                    .next_conn
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let t2 = t.clone();
                let task = t.pm.handle.spawn(async move {
                    let _admitted = admitted;
                    handle(&t2, s, peer).await;
                    t2.incoming.remove(&id);
                });
                t.incoming.insert(id, task.abort_handle());
                if task.is_finished() {
                    t.incoming.remove(&id);
                }
            }
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// The first bytes of a new connection (within the sniff timeout); `None` when there are none.
async fn first_bytes<S: AsyncRead + Unpin>(s: &mut S) -> Option<BytesMut> {
    let mut buf = BytesMut::with_capacity(64 << 10);
    match tokio::time::timeout(SNIFF_TIMEOUT, s.read_buf(&mut buf)).await {
        Ok(Ok(n)) if n > 0 => Some(buf),
        _ => None,
    }
}

async fn handle(t: &Transport, s: Accepted, peer: SocketAddr) {
    match s {
        Accepted::Tcp(s) => {
            t.tune(&s);
            handle_stream(t, s, peer).await
        }
        Accepted::Sim(s) => handle_stream(t, s, peer).await,
    }
}

async fn handle_stream<S>(t: &Transport, mut s: S, peer: SocketAddr)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Some(buf) = first_bytes(&mut s).await else {
        return;
    };
    match &t.tls {
        Some(tls) if buf[0] == crate::tls::HANDSHAKE_RECORD => {
            let rewound = crate::stream::Rewind::new(buf.freeze(), s);
            let accepted = tokio::time::timeout(SNIFF_TIMEOUT, tls.acceptor().accept(rewound));
            let mut s = match accepted.await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    t.m.tls_handshakes_failed.inc();
                    tracing::warn!(%peer, "closing connection: TLS handshake failed: {e}");
                    return;
                }
                Err(_) => {
                    t.m.tls_handshakes_failed.inc();
                    tracing::warn!(%peer, "closing connection: TLS handshake timed out");
                    return;
                }
            };
            t.m.tls_connections_accepted.inc();
            let Some(buf) = first_bytes(&mut s).await else {
                return;
            };
            serve(t, s, buf, peer).await
        }
        Some(tls) if !tls.downgrade() => {
            t.m.plain_connections_refused.inc();
            tracing::warn!(%peer, "closing connection: it does not speak TLS (no downgrade)");
        }
        _ => serve(t, s, buf, peer).await,
    }
}

/// Serves a connection (in clear or inside TLS) as its first bytes say: binary or HTTP.
async fn serve<S>(t: &Transport, s: S, buf: BytesMut, peer: SocketAddr)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    if buf[0] == wire::MAGIC[0] {
        binary(t, s, buf, peer).await
    } else {
        crate::http_server::serve(t.pm.clone(), t.limits.clone(), buf.freeze(), s, peer).await
    }
}

/// Caches that make the per-frame work a few comparisons in the common case: the last target,
/// sender and name seen on this connection, and small maps of the rest.
struct Caches {
    peer: SocketAddr,
    to: Vec<u8>,
    to_box: Option<Arc<dyn Mailbox>>,
    last_from: (Vec<u8>, UPID),
    last_name: (Vec<u8>, Option<Arc<str>>),
    from: HashMap<Vec<u8>, UPID, FxBuild>,
    names: HashMap<Vec<u8>, Arc<str>, FxBuild>,
}

async fn binary<S: AsyncRead + Unpin>(
    t: &Transport,
    mut s: S,
    mut buf: BytesMut,
    peer: SocketAddr,
) {
    let m = &t.m;
    let advertised = loop {
        match wire::parse_handshake(&buf) {
            Ok(Some((addr, n))) => {
                let _ = buf.split_to(n);
                break addr;
            }
            Ok(None) => match tokio::time::timeout(SNIFF_TIMEOUT, s.read_buf(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => continue,
                _ => {
                    m.handshakes_malformed.inc();
                    tracing::warn!(%peer, "closing connection: incomplete handshake");
                    return;
                }
            },
            Err(e) => {
                m.handshakes_malformed.inc();
                tracing::warn!(%peer, "closing connection: {e}");
                return;
            }
        }
    };
    if advertised.ip() != peer.ip() && !t.accept_unmatched_ip {
        m.handshakes_refused.inc();
        tracing::warn!(%peer, %advertised, "closing connection: the handshake advertises another IP than the connection's");
        return;
    }
    let mut c = Caches {
        peer: advertised,
        to: Vec::new(),
        to_box: None,
        last_from: (Vec::new(), UPID::none()),
        last_name: (Vec::new(), None),
        from: HashMap::default(),
        names: HashMap::default(),
    };
    let max = t.max_frame;
    // The budget share of the large frame being read, and since when a partial frame waits.
    let mut permit: Option<tokio::sync::OwnedSemaphorePermit> = None;
    let mut pending_since: Option<tokio::time::Instant> = None;
    loop {
        let mut received = 0u64;
        loop {
            match wire::frame_len(&buf, max) {
                Err(e) => {
                    m.frames_oversized.inc();
                    m.messages_received.add(received);
                    tracing::warn!(%peer, "closing connection: {e}");
                    return;
                }
                Ok(None) => break,
                Ok(Some(n)) if buf.len() < n => {
                    // A large frame waits for its share of the memory budget before it is
                    // read on (back-pressure); one that cannot get it closes its connection.
                    if n > crate::limits::SMALL && permit.is_none() {
                        permit = t.limits.reserve(n).await;
                        if permit.is_none() {
                            m.frames_over_budget.inc();
                            m.messages_received.add(received);
                            tracing::warn!(%peer, bytes = n, "closing connection: no memory for its frame in time");
                            return;
                        }
                    }
                    // Grow towards a large frame gradually: a length prefix alone does not get
                    // to reserve its whole size.
                    buf.reserve((n - buf.len()).min(1 << 20));
                    break;
                }
                Ok(Some(n)) => {
                    permit = None;
                    pending_since = None;
                    let raw = buf.split_to(n).freeze();
                    let r = wire::parse_frame(raw).and_then(|f| deliver(t, &mut c, f));
                    if let Err(e) = r {
                        m.frames_malformed.inc();
                        m.messages_received.add(received);
                        tracing::warn!(%peer, "closing connection: {e}");
                        return;
                    }
                    received += 1;
                }
            }
        }
        m.messages_received.add(received);
        if buf.is_empty() && buf.capacity() > 1 << 20 {
            // Let a large frame's memory go with it, not with the connection.
            buf = BytesMut::with_capacity(64 << 10);
        }
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(64 << 10);
        }
        let read = if buf.is_empty() {
            s.read_buf(&mut buf).await
        } else {
            // A started frame must arrive within the read timeout.
            let since = *pending_since.get_or_insert_with(tokio::time::Instant::now);
            let deadline = since + t.limits.read_timeout;
            match tokio::time::timeout_at(deadline, s.read_buf(&mut buf)).await {
                Ok(r) => r,
                Err(_) => {
                    m.frames_timed_out.inc();
                    tracing::warn!(%peer, bytes = buf.len(), "closing connection: a frame did not arrive in time");
                    return;
                }
            }
        };
        match read {
            Ok(0) => {
                if !buf.is_empty() {
                    m.frames_truncated.inc();
                    tracing::warn!(%peer, bytes = buf.len(), "connection closed mid-frame");
                }
                return;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::debug!(%peer, "connection read error: {e}");
                return;
            }
        }
    }
}

/// The sender a frame names: `id` (a process of the connection's node) or `id@ip:port`, which
/// must be that node too (`Ok(None)`: it names another one, the frame is forged).
fn sender(c: &mut Caches, raw: &[u8]) -> Result<Option<UPID>, WireError> {
    if raw.is_empty() {
        return Ok(Some(UPID::none()));
    }
    if c.last_from.0 == raw {
        return Ok(Some(c.last_from.1.clone()));
    }
    let u = match c.from.get(raw) {
        Some(u) => u.clone(),
        None => {
            let s = wire::text(raw)?;
            let u = if s.contains('@') {
                let u = s
                    .parse::<UPID>()
                    .map_err(|_| WireError::Malformed("sender is not a UPID"))?;
                if u.addr() != c.peer {
                    return Ok(None);
                }
                u
            } else {
                UPID::new(s, c.peer)
            };
            if c.from.len() >= CACHE_LIMIT {
                c.from.clear();
            }
            c.from.insert(raw.to_vec(), u.clone());
            u
        }
    };
    c.last_from.0.clear();
    c.last_from.0.extend_from_slice(raw);
    c.last_from.1 = u.clone();
    Ok(Some(u))
}

fn name(c: &mut Caches, raw: &[u8]) -> Result<Arc<str>, WireError> {
    if let (prev, Some(n)) = &c.last_name {
        if prev == raw {
            return Ok(n.clone());
        }
    }
    let n = match c.names.get(raw) {
        Some(n) => n.clone(),
        None => {
            let n: Arc<str> = Arc::from(wire::text(raw)?);
            if c.names.len() >= CACHE_LIMIT {
                c.names.clear();
            }
            c.names.insert(raw.to_vec(), n.clone());
            n
        }
    };
    c.last_name.0.clear();
    c.last_name.0.extend_from_slice(raw);
    c.last_name.1 = Some(n.clone());
    Ok(n)
}

fn deliver(t: &Transport, c: &mut Caches, f: wire::Frame) -> Result<(), WireError> {
    let pm = &*t.pm;
    let Some(from) = sender(c, f.from())? else {
        t.m.frames_forged_sender.inc();
        tracing::warn!(peer = %c.peer, sender = %String::from_utf8_lossy(f.from()), "dropping a frame whose sender is another node");
        return Ok(());
    };
    let name = name(c, f.name())?;
    if c.to_box.is_none() || c.to != f.to_id() {
        c.to.clear();
        c.to.extend_from_slice(f.to_id());
        c.to_box = pm.lookup(wire::text(f.to_id())?);
    }
    let mut ev = MessageEvent {
        name: Name::Shared(name),
        from,
        body: Body::Encoded(f.body()),
    };
    for _ in 0..2 {
        let Some(mb) = c.to_box.as_ref() else {
            break;
        };
        match pm.deliver_message(mb, ev) {
            Ok(()) => return Ok(()),
            Err(back) => {
                // The cached process is gone; a new one may hold the id now.
                ev = back;
                c.to_box = pm.lookup(wire::text(f.to_id())?);
            }
        }
    }
    pm.drop_no_process(wire::text(f.to_id())?, &ev);
    c.to.clear();
    Ok(())
}
