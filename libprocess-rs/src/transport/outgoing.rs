//! One persistent outgoing connection per remote node. Senders append whole frames to a shared
//! buffer under a short lock; one writer task swaps the buffer out and writes it in one go, so
//! frames queued while a write is in flight coalesce into the next large write. A reader half
//! watches for the peer closing, which (like a failed write or connect) fires `exited` for links.
//! The connection is TCP (or TLS over it), or one on a simulated network ([`crate::simnet`]).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;

use super::{wire, EncodeFn, Transport};
use crate::stream::Stream;
use crate::upid::UPID;

/// Buffers above this size are not kept for reuse after a write.
const KEEP_BUFFER: usize = 4 << 20;
/// A peer that stops reading cannot make us buffer more than this; later sends are dropped
/// (counted in `messages_dropped_unsent`) until the buffer drains.
const MAX_PENDING: usize = 256 << 20;

struct State {
    buf: Vec<u8>,
    frames: u64,
    closed: bool,
    superseded: bool,
    writer_idle: bool,
}

pub(crate) struct Conn {
    pub(crate) addr: SocketAddr,
    st: Mutex<State>,
    wake: Notify,
}

pub(crate) enum Push {
    Queued,
    Closed,
    Rejected(String),
}

impl Conn {
    pub(crate) fn new(addr: SocketAddr) -> Conn {
        Conn {
            addr,
            st: Mutex::new(State {
                buf: Vec::with_capacity(64 << 10),
                frames: 0,
                closed: false,
                superseded: false,
                writer_idle: false,
            }),
            wake: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.st.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends one frame. The sender's address is written as a bare id when it is this node's
    /// advertised address (the peer learned it from the handshake).
    pub(crate) fn push(
        &self,
        to_id: &str,
        from: &UPID,
        own: SocketAddr,
        name: &str,
        max_frame: usize,
        encode: EncodeFn<'_>,
    ) -> Push {
        let full;
        let from_str: &str = if from.id().is_empty() {
            ""
        } else if from.addr() == own {
            from.id()
        } else {
            full = from.to_string();
            &full
        };
        if [to_id, from_str, name]
            .iter()
            .any(|f| f.len() > u16::MAX as usize)
        {
            return Push::Rejected("a header field is longer than 65535 bytes".into());
        }
        let mut st = self.lock();
        if st.closed {
            return Push::Closed;
        }
        if st.buf.len() > MAX_PENDING {
            return Push::Rejected(format!(
                "{} bytes are already waiting for {}",
                st.buf.len(),
                self.addr
            ));
        }
        let start = wire::begin_frame(&mut st.buf, to_id, from_str, name);
        if let Err(e) = encode(&mut st.buf) {
            st.buf.truncate(start);
            return Push::Rejected(format!("cannot encode body: {e}"));
        }
        if st.buf.len() - start - 4 > max_frame {
            let n = st.buf.len() - start - 4;
            st.buf.truncate(start);
            return Push::Rejected(format!("frame of {n} bytes exceeds the limit {max_frame}"));
        }
        wire::finish_frame(&mut st.buf, start);
        st.frames += 1;
        let wake = std::mem::take(&mut st.writer_idle);
        drop(st);
        if wake {
            self.wake.notify_one();
        }
        Push::Queued
    }

    /// Marks the connection closed; returns the number of frames dropped, or `None` if it was
    /// already closed or superseded (no exited notices are due).
    pub(crate) fn close(&self) -> Option<u64> {
        let mut st = self.lock();
        if st.closed {
            return None;
        }
        st.closed = true;
        st.buf = Vec::new();
        let dropped = std::mem::take(&mut st.frames);
        drop(st);
        self.wake.notify_one();
        Some(dropped)
    }

    /// Retires this connection in favour of a new one; returns its unsent frames.
    pub(crate) fn supersede(&self) -> Vec<u8> {
        let mut st = self.lock();
        st.closed = true;
        st.superseded = true;
        st.frames = 0;
        let pending = std::mem::take(&mut st.buf);
        drop(st);
        self.wake.notify_one();
        pending
    }

    /// Puts frames from a superseded connection in front of this one's.
    pub(crate) fn prepend(&self, mut pending: Vec<u8>) {
        if pending.is_empty() {
            return;
        }
        let mut st = self.lock();
        pending.extend_from_slice(&st.buf);
        st.buf = pending;
        let wake = std::mem::take(&mut st.writer_idle);
        drop(st);
        if wake {
            self.wake.notify_one();
        }
    }
}

/// The connection's life: connect (TLS when enabled), handshake, then write coalesced buffers
/// until closed.
pub(crate) async fn run(t: Arc<Transport>, conn: Arc<Conn>) {
    let connect = async {
        match &t.net {
            Some(net) => net.connect(t.pm.addr, conn.addr).await.map(Stream::Sim),
            None => crate::tls::connect_node(t.tls.as_deref(), conn.addr, |s| t.tune(s)).await,
        }
    };
    let stream = match tokio::time::timeout(t.connect_timeout, connect).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            t.m.connect_failures.inc();
            t.failed(&conn, &format!("connect failed: {e}"));
            return;
        }
        Err(_) => {
            t.m.connect_failures.inc();
            t.failed(&conn, "connect timed out");
            return;
        }
    };
    match stream {
        Stream::Plain(s) => {
            let (rd, wr) = s.into_split();
            drive(t, conn, rd, wr).await
        }
        other => {
            let (rd, wr) = tokio::io::split(other);
            drive(t, conn, rd, wr).await
        }
    }
}

async fn drive<R, W>(t: Arc<Transport>, conn: Arc<Conn>, mut rd: R, mut wr: W)
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin,
{
    let watcher = {
        let (t, conn) = (t.clone(), conn.clone());
        t.pm.handle.clone().spawn(async move {
            // Peers never write on our outgoing connection; EOF or an error means it is gone.
            let mut b = [0u8; 512];
            let why = loop {
                match rd.read(&mut b).await {
                    Ok(0) => break "closed by peer".to_string(),
                    Ok(_) => continue,
                    Err(e) => break format!("read error: {e}"),
                }
            };
            t.failed(&conn, &why);
        })
    };
    let hs = wire::handshake(t.pm.addr);
    if let Err(e) = write_out(&mut wr, &hs).await {
        t.failed(&conn, &format!("handshake write failed: {e}"));
        watcher.abort();
        return;
    }
    let mut spare: Vec<u8> = Vec::with_capacity(64 << 10);
    loop {
        let woken = conn.wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let data = {
            let mut st = conn.lock();
            if st.closed {
                break;
            }
            if st.buf.is_empty() {
                st.writer_idle = true;
                None
            } else {
                st.frames = 0;
                Some(std::mem::replace(&mut st.buf, std::mem::take(&mut spare)))
            }
        };
        match data {
            None => woken.await,
            Some(d) => {
                if let Err(e) = write_out(&mut wr, &d).await {
                    t.failed(&conn, &format!("write failed: {e}"));
                    break;
                }
                t.m.bytes_sent.add(d.len() as u64);
                if d.capacity() <= KEEP_BUFFER {
                    spare = d;
                    spare.clear();
                }
            }
        }
    }
    watcher.abort();
}

/// Writes all of `d` and flushes it (TLS holds records back until flushed; TCP's flush is
/// free).
async fn write_out<W: AsyncWrite + Unpin>(wr: &mut W, d: &[u8]) -> std::io::Result<()> {
    wr.write_all(d).await?;
    wr.flush().await
}
