//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use libprocess::{Context, Message, Process, UPID};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// Bounds every wait in the tests.
pub const LIMIT: Duration = Duration::from_secs(10);

pub async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(LIMIT, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Ping {
    pub seq: u64,
    pub payload: String,
}
impl Message for Ping {
    const NAME: &'static str = "example.Ping";
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Pong {
    pub seq: u64,
}
impl Message for Pong {
    const NAME: &'static str = "example.Pong";
}

/// Records what reaches it: pings (with sender), pongs and exited notices.
pub struct Recorder {
    pub tx: mpsc::UnboundedSender<Seen>,
    pub echo: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    Ping(UPID, u64),
    Pong(UPID, u64),
    Exited(UPID),
}

impl Recorder {
    pub fn new(echo: bool) -> (Recorder, mpsc::UnboundedReceiver<Seen>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Recorder { tx, echo }, rx)
    }
}

impl Process for Recorder {
    fn initialize(&mut self, ctx: &mut Context<Self>) {
        ctx.install(|p: &mut Recorder, ctx, from: UPID, m: Ping| {
            let _ = p.tx.send(Seen::Ping(from.clone(), m.seq));
            if p.echo {
                ctx.send(&from, Pong { seq: m.seq });
            }
        });
        ctx.install(|p: &mut Recorder, _, from: UPID, m: Pong| {
            let _ = p.tx.send(Seen::Pong(from, m.seq));
        });
    }
    fn exited(&mut self, _: &mut Context<Self>, pid: &UPID) {
        let _ = self.tx.send(Seen::Exited(pid.clone()));
    }
}

/// Has `pid` send a ping numbered `seq` to `to`.
pub async fn send_ping(pid: &libprocess::PID<Recorder>, to: &UPID, seq: u64) {
    let to = to.clone();
    pid.dispatch(move |_, ctx: &mut Context<Recorder>| {
        ctx.send(
            &to,
            Ping {
                seq,
                payload: "p".into(),
            },
        )
    })
    .await
    .unwrap();
}

/// A minimal HTTP/1.1 GET over a fresh connection; returns (status, body).
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    read_response(&mut s).await
}

/// Reads a whole `Connection: close` response.
pub async fn read_response(s: &mut TcpStream) -> (u16, String) {
    let mut out = Vec::new();
    within("http response", s.read_to_end(&mut out))
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_string())
        .unwrap_or_default();
    (status, body)
}
