//! Two nodes talking: messages and links across runtimes and OS processes, the one-port rule
//! (binary and HTTP together), and bad input that closes only its own connection.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use libprocess::transport::wire;
use libprocess::{Config, Context, HttpResponse, Process, RemoteConnection, Reply, Runtime, UPID};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A `libprocess-peer serve` child, killed on drop.
struct Peer {
    child: Child,
    echo: UPID,
}

impl Peer {
    fn start() -> Peer {
        let mut child = Command::new(env!("CARGO_BIN_EXE_libprocess-peer"))
            .arg("serve")
            .stdout(Stdio::piped())
            .spawn()
            .expect("start libprocess-peer");
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let echo = line
            .trim()
            .strip_prefix("UPID ")
            .expect("UPID line")
            .parse()
            .unwrap();
        Peer { child, echo }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn link(pid: &libprocess::PID<Recorder>, to: &UPID, mode: RemoteConnection) {
    let to = to.clone();
    pid.dispatch(move |_, ctx: &mut Context<Recorder>| ctx.link_with(&to, mode))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_between_two_runtimes_in_two_os_processes() {
    let peer = Peer::start();
    let rt = Runtime::local().await.unwrap();
    let (r, mut rx) = Recorder::new(false);
    let me = rt.spawn("client", r).unwrap();
    for seq in 0..100 {
        send_ping(&me, &peer.echo, seq).await;
    }
    for seq in 0..100 {
        // Replies arrive in order, from the echo's UPID, over the peer's own connection to us.
        assert_eq!(
            within("pong", rx.recv()).await.unwrap(),
            Seen::Pong(peer.echo.clone(), seq)
        );
    }
    assert_eq!(rt.outgoing_connections(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_link_then_sigkill_of_the_other_os_process_gives_exited() {
    let mut peer = Peer::start();
    let rt = Runtime::local().await.unwrap();
    let (r, mut rx) = Recorder::new(false);
    let me = rt.spawn("client", r).unwrap();
    link(&me, &peer.echo, RemoteConnection::Reuse).await;
    send_ping(&me, &peer.echo, 1).await;
    assert!(matches!(
        within("pong", rx.recv()).await.unwrap(),
        Seen::Pong(_, 1)
    ));
    peer.child.kill().unwrap(); // SIGKILL
    assert_eq!(
        within("exited", rx.recv()).await.unwrap(),
        Seen::Exited(peer.echo.clone())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_link_to_a_node_that_is_not_listening_gives_exited() {
    let rt = Runtime::local().await.unwrap();
    let (r, mut rx) = Recorder::new(false);
    let me = rt.spawn("client", r).unwrap();
    // A port that was just free: bind, note it, release it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nobody: UPID = format!("nobody@127.0.0.1:{port}").parse().unwrap();
    link(&me, &nobody, RemoteConnection::Reuse).await;
    assert_eq!(
        within("exited", rx.recv()).await.unwrap(),
        Seen::Exited(nobody)
    );
    assert!(
        rt.metrics()
            .value("libprocess/transport/connect_failures")
            .unwrap()
            >= 1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relink_after_reconnect_keeps_all_linkers() {
    let mut peer = Peer::start();
    let rt = Runtime::local().await.unwrap();
    let (r1, mut rx1) = Recorder::new(false);
    let (r2, mut rx2) = Recorder::new(false);
    let l1 = rt.spawn("linker1", r1).unwrap();
    let l2 = rt.spawn("linker2", r2).unwrap();
    link(&l1, &peer.echo, RemoteConnection::Reuse).await;
    link(&l2, &peer.echo, RemoteConnection::Reuse).await;
    send_ping(&l1, &peer.echo, 1).await;
    assert!(matches!(
        within("pong", rx1.recv()).await.unwrap(),
        Seen::Pong(_, 1)
    ));
    // Replace the connection: neither linker hears a spurious exited, messages still flow.
    link(&l2, &peer.echo, RemoteConnection::Reconnect).await;
    send_ping(&l2, &peer.echo, 2).await;
    assert!(matches!(
        within("pong", rx2.recv()).await.unwrap(),
        Seen::Pong(_, 2)
    ));
    assert!(
        rx1.try_recv().is_err(),
        "no exited for the retired connection"
    );
    assert!(
        rt.metrics()
            .value("libprocess/transport/connections_outgoing")
            .unwrap()
            >= 2.0
    );
    // The new connection breaking reaches both linkers.
    peer.child.kill().unwrap();
    assert_eq!(
        within("exited 1", rx1.recv()).await.unwrap(),
        Seen::Exited(peer.echo.clone())
    );
    assert_eq!(
        within("exited 2", rx2.recv()).await.unwrap(),
        Seen::Exited(peer.echo.clone())
    );
}

/// Reads a binary handshake off a raw accepted connection; returns the bytes after it.
async fn read_handshake(s: &mut TcpStream) -> Vec<u8> {
    let mut buf = Vec::new();
    loop {
        let mut b = [0u8; 64];
        let n = within("handshake", s.read(&mut b)).await.unwrap();
        assert!(n > 0, "closed before handshake");
        buf.extend_from_slice(&b[..n]);
        if let Some((_, len)) = wire::parse_handshake(&buf).unwrap() {
            return buf.split_off(len);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_closed_stale_connection_gives_exited_and_the_next_send_reconnects() {
    let fake = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target: UPID = format!("stale@{}", fake.local_addr().unwrap())
        .parse()
        .unwrap();
    let rt = Runtime::local().await.unwrap();
    let (r, mut rx) = Recorder::new(false);
    let me = rt.spawn("client", r).unwrap();
    link(&me, &target, RemoteConnection::Reuse).await;
    let (mut first, _) = within("accept", fake.accept()).await.unwrap();
    read_handshake(&mut first).await;
    // The peer half-closes: it will send nothing more, and the connection is stale for us.
    first.shutdown().await.unwrap();
    send_ping(&me, &target, 1).await;
    assert_eq!(
        within("exited", rx.recv()).await.unwrap(),
        Seen::Exited(target.clone())
    );
    // The next send does not vanish into the stale socket: it opens a new connection.
    send_ping(&me, &target, 2).await;
    let (mut second, _) = within("second accept", fake.accept()).await.unwrap();
    let mut rest = read_handshake(&mut second).await;
    // Ping 1 may have raced the close and ride the new connection too; ping 2 must arrive.
    let mut seqs = Vec::new();
    while !seqs.contains(&2) {
        match wire::frame_len(&rest, 1 << 20).unwrap() {
            Some(n) if rest.len() >= n => {
                let f = wire::parse_frame(bytes::Bytes::copy_from_slice(&rest[..n])).unwrap();
                assert_eq!(f.name(), b"example.Ping");
                seqs.push(postcard::from_bytes::<Ping>(&f.body()).unwrap().seq);
                rest.drain(..n);
            }
            _ => {
                let mut b = [0u8; 256];
                let n = within("frame", second.read(&mut b)).await.unwrap();
                assert!(n > 0, "closed before a frame arrived");
                rest.extend_from_slice(&b[..n]);
            }
        }
    }
    assert!(seqs == [2] || seqs == [1, 2], "{seqs:?}");
}

struct Web {
    pings: u64,
}

impl Process for Web {
    fn initialize(&mut self, ctx: &mut Context<Self>) {
        ctx.install(|w: &mut Web, _, _, _m: Ping| w.pings += 1);
        ctx.route("hello", |_, _, req| {
            Reply::from(HttpResponse::text(200, format!("hello {}", req.query)))
        });
        ctx.route("pings", |w: &mut Web, _, _| {
            HttpResponse::text(200, w.pings.to_string()).into()
        });
        ctx.route("later", |_, _, _| {
            Reply::Later(Box::pin(async {
                tokio::time::sleep(Duration::from_millis(10)).await;
                HttpResponse::text(202, "done")
            }))
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_route_answers_200_and_an_unknown_one_404() {
    let rt = Runtime::local().await.unwrap();
    let web = rt.spawn("web", Web { pings: 0 }).unwrap();
    let a = rt.address();
    assert_eq!(
        http_get(a, "/web/hello?x=1").await,
        (200, "hello x=1".into())
    );
    assert_eq!(http_get(a, "/web/later").await, (202, "done".into()));
    assert_eq!(http_get(a, "/web/nope").await.0, 404);
    assert_eq!(http_get(a, "/nobody/hello").await.0, 404);
    assert_eq!(http_get(a, "/").await.0, 404);
    rt.add_http_alias("/hi", "web", "hello");
    assert_eq!(http_get(a, "/hi").await.0, 200);
    // A request is an event in order with the process's messages.
    for seq in 0..50 {
        rt.post(
            web.upid(),
            Ping {
                seq,
                payload: String::new(),
            },
        );
    }
    assert_eq!(http_get(a, "/web/pings").await, (200, "50".into()));
    let (status, body) = http_get(a, "/metrics/snapshot").await;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(v["libprocess/processes"].as_f64().unwrap() >= 2.0, "{body}");
    assert!(
        v.get("__processes__/web/event_queue_length").is_some(),
        "{body}"
    );
}

/// A node with a small frame limit, a recorder on it, and a raw binary connection helper.
async fn small_node() -> (
    Runtime,
    libprocess::PID<Recorder>,
    tokio::sync::mpsc::UnboundedReceiver<Seen>,
) {
    let rt = Runtime::bind(Config {
        max_frame_bytes: 1024,
        ..Config::default()
    })
    .await
    .unwrap();
    let (r, rx) = Recorder::new(true);
    let pid = rt.spawn("rec", r).unwrap();
    (rt, pid, rx)
}

async fn raw_binary(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&wire::handshake("127.0.0.1:1".parse().unwrap()))
        .await
        .unwrap();
    s
}

fn frame(to: &str, from: &str, name: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let s = wire::begin_frame(&mut out, to, from, name);
    out.extend_from_slice(body);
    wire::finish_frame(&mut out, s);
    out
}

/// True if the server closed the connection (EOF or reset) within the limit.
async fn closed_by_server(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 16];
    matches!(within("close", s.read(&mut b)).await, Ok(0) | Err(_))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversized_frames_close_only_their_connection() {
    let (rt, rec, mut rx) = small_node().await;
    let a = rt.address();
    let m = rt.metrics().clone();
    let ping = postcard::to_stdvec(&Ping {
        seq: 1,
        payload: "ok".into(),
    })
    .unwrap();

    // A healthy binary peer keeps working throughout.
    let other = Runtime::local().await.unwrap();
    let (r, mut peer_rx) = Recorder::new(false);
    let good = other.spawn("good", r).unwrap();
    send_ping(&good, rec.upid(), 0).await;
    assert!(matches!(
        within("pong", peer_rx.recv()).await.unwrap(),
        Seen::Pong(_, 0)
    ));
    assert!(matches!(rx.recv().await.unwrap(), Seen::Ping(_, 0)));

    // Bad handshake: wrong version.
    let mut s = TcpStream::connect(a).await.unwrap();
    let mut h = wire::handshake("127.0.0.1:1".parse().unwrap());
    h[4] = 99;
    s.write_all(&h).await.unwrap();
    assert!(closed_by_server(&mut s).await);

    // Oversized frame.
    let mut s = raw_binary(a).await;
    s.write_all(&(1u32 << 20).to_le_bytes()).await.unwrap();
    assert!(closed_by_server(&mut s).await);

    // Malformed header (field longer than the frame).
    let mut s = raw_binary(a).await;
    let mut bad = 6u32.to_le_bytes().to_vec();
    bad.extend_from_slice(&[200, 0, b'a', b'b', 0, 0]);
    s.write_all(&bad).await.unwrap();
    assert!(closed_by_server(&mut s).await);

    // Unknown target and undecodable body: the message is dropped, the connection stays.
    let mut s = raw_binary(a).await;
    s.write_all(&frame("ghost", "x", "example.Ping", &ping))
        .await
        .unwrap();
    s.write_all(&frame("rec", "x", "example.Ping", &[0xff, 0xff, 0xff]))
        .await
        .unwrap();
    s.write_all(&frame("rec", "", "example.Ping", &ping))
        .await
        .unwrap();
    assert!(matches!(
        within("ping", rx.recv()).await.unwrap(),
        Seen::Ping(_, 1)
    ));

    // Truncated frame: the peer goes away mid-frame.
    let mut t = raw_binary(a).await;
    let f = frame("rec", "", "example.Ping", &ping);
    t.write_all(&f[..f.len() - 2]).await.unwrap();
    drop(t);

    send_ping(&good, rec.upid(), 2).await;
    assert!(matches!(
        within("pong", peer_rx.recv()).await.unwrap(),
        Seen::Pong(_, 2)
    ));
    assert!(matches!(rx.recv().await.unwrap(), Seen::Ping(_, 2)));
    let wait_metric = |name: &'static str| {
        let m = m.clone();
        async move {
            while m.value(name).unwrap_or(0.0) < 1.0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    within(
        "truncated",
        wait_metric("libprocess/transport/frames_truncated"),
    )
    .await;
    assert_eq!(
        m.value("libprocess/transport/handshakes_malformed"),
        Some(1.0)
    );
    assert_eq!(m.value("libprocess/transport/frames_oversized"), Some(1.0));
    assert_eq!(m.value("libprocess/transport/frames_malformed"), Some(1.0));
    assert_eq!(m.value("libprocess/messages_dropped_no_process"), Some(1.0));
    assert_eq!(
        m.value("libprocess/messages_dropped_undecodable"),
        Some(1.0)
    );
    // The raw connection that sent bad messages is still open and usable.
    s.write_all(&frame(
        "rec",
        "",
        "example.Ping",
        &postcard::to_stdvec(&Ping {
            seq: 3,
            payload: String::new(),
        })
        .unwrap(),
    ))
    .await
    .unwrap();
    assert!(matches!(
        within("ping", rx.recv()).await.unwrap(),
        Seen::Ping(_, 3)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_client_and_a_binary_peer_share_the_port_at_once() {
    let rt = Runtime::local().await.unwrap();
    let web = rt.spawn("web", Web { pings: 0 }).unwrap();
    let other = Runtime::local().await.unwrap();
    let (r, _rx) = Recorder::new(false);
    let sender = other.spawn("sender", r).unwrap();
    let target = web.upid().clone();
    let blast = tokio::spawn(async move {
        for seq in 0..2000 {
            send_ping(&sender, &target, seq).await;
        }
    });
    // Keep-alive: several requests on one connection while frames arrive on the same port.
    let mut s = TcpStream::connect(rt.address()).await.unwrap();
    for i in 0..20 {
        let req = format!("GET /web/hello?n={i} HTTP/1.1\r\nHost: x\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let expect = format!("hello n={i}");
        let mut got = Vec::new();
        while !String::from_utf8_lossy(&got).ends_with(&expect) {
            let mut b = [0u8; 1024];
            let n = within("keep-alive response", s.read(&mut b)).await.unwrap();
            assert!(n > 0);
            got.extend_from_slice(&b[..n]);
        }
        assert!(String::from_utf8_lossy(&got).starts_with("HTTP/1.1 200"));
    }
    within("blast", blast).await.unwrap();
    let pings = || async { http_get(rt.address(), "/web/pings").await.1 };
    within("all pings", async {
        while pings().await != "2000" {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutting_a_runtime_down_closes_its_connections_and_peers_see_exited() {
    let a = Runtime::local().await.unwrap();
    let (r, _rx_a) = Recorder::new(true);
    let echo = a.spawn("echo", r).unwrap();
    let b = Runtime::local().await.unwrap();
    let (r, mut rx) = Recorder::new(false);
    let me = b.spawn("client", r).unwrap();
    link(&me, echo.upid(), RemoteConnection::Reuse).await;
    send_ping(&me, echo.upid(), 1).await;
    assert!(matches!(
        within("pong", rx.recv()).await.unwrap(),
        Seen::Pong(_, 1)
    ));
    within("shutdown", a.shutdown()).await;
    assert_eq!(
        within("exited", rx.recv()).await.unwrap(),
        Seen::Exited(echo.upid().clone())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_speaks_only_for_the_address_it_connects_from() {
    let (rt, _rec, mut rx) = small_node().await;
    let a = rt.address();
    let m = rt.metrics().clone();
    let ping = |seq| {
        postcard::to_stdvec(&Ping {
            seq,
            payload: String::new(),
        })
        .unwrap()
    };
    // raw_binary advertises 127.0.0.1:1, the IP it connects from.
    let mut s = raw_binary(a).await;
    // Claiming to be another node (the master, say): dropped and counted.
    s.write_all(&frame(
        "rec",
        "master@127.0.0.1:5050",
        "example.Ping",
        &ping(1),
    ))
    .await
    .unwrap();
    // Its own node, in full or by id alone: delivered.
    s.write_all(&frame("rec", "me@127.0.0.1:1", "example.Ping", &ping(2)))
        .await
        .unwrap();
    s.write_all(&frame("rec", "me", "example.Ping", &ping(3)))
        .await
        .unwrap();
    for want in [2, 3] {
        match within("ping", rx.recv()).await.unwrap() {
            Seen::Ping(from, seq) => {
                assert_eq!(seq, want);
                assert_eq!(from.to_string(), "me@127.0.0.1:1");
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        m.value("libprocess/transport/frames_forged_sender"),
        Some(1.0)
    );
    // A handshake that advertises another IP than the connection's is refused.
    let mut s = TcpStream::connect(a).await.unwrap();
    s.write_all(&wire::handshake("10.1.2.3:5050".parse().unwrap()))
        .await
        .unwrap();
    s.write_all(&frame("rec", "me", "example.Ping", &ping(4)))
        .await
        .unwrap();
    assert!(closed_by_server(&mut s).await);
    assert_eq!(
        m.value("libprocess/transport/handshakes_refused"),
        Some(1.0)
    );
    assert!(
        rx.try_recv().is_err(),
        "nothing from the refused connection"
    );
}

/// A node with tight limits: 64 KiB bodies, 300 ms to finish one, a 1 MiB budget, 4
/// connections per IP.
async fn tight_node() -> (Runtime, libprocess::PID<Recorder>) {
    let rt = Runtime::bind(Config {
        max_request_body: 64 << 10,
        read_timeout: Duration::from_millis(300),
        memory_budget: 1 << 20,
        max_connections_per_ip: 4,
        ..Config::default()
    })
    .await
    .unwrap();
    let (r, _rx) = Recorder::new(false);
    let pid = rt.spawn("rec", r).unwrap();
    (rt, pid)
}

/// Reads an HTTP response's status line off `s`.
async fn status_of(s: &mut TcpStream) -> String {
    let mut b = vec![0u8; 256];
    // A reset (a refused connection) reads as no status.
    let n = within("a response", s.read(&mut b)).await.unwrap_or(0);
    String::from_utf8_lossy(&b[..n])
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_stalled_or_too_many_requests_are_bounded() {
    let (rt, _rec) = tight_node().await;
    let a = rt.address();
    let m = rt.metrics().clone();
    // A body declared larger than the limit: 413 before any of it is read.
    let mut s = TcpStream::connect(a).await.unwrap();
    s.write_all(b"POST /rec/x HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n")
        .await
        .unwrap();
    assert!(status_of(&mut s).await.contains(" 413 "));
    // A chunked body that grows past it: 413.
    let mut s = TcpStream::connect(a).await.unwrap();
    s.write_all(b"POST /rec/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        .await
        .unwrap();
    let chunk = format!("{:x}\r\n{}\r\n", 40 << 10, "a".repeat(40 << 10));
    for _ in 0..3 {
        // The server may answer and close before it has read everything: a write may fail.
        let _ = s.write_all(chunk.as_bytes()).await;
    }
    // Its 413 may be lost to the reset that closing with unread data causes: counted either
    // way.
    testkit_wait(|| m.value("libprocess/http/bodies_too_large").unwrap_or(0.0) >= 2.0).await;
    // A body that stalls: 408 after the read timeout.
    let mut s = TcpStream::connect(a).await.unwrap();
    s.write_all(b"POST /rec/x HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc")
        .await
        .unwrap();
    assert!(status_of(&mut s).await.contains(" 408 "));
    assert_eq!(m.value("libprocess/http/bodies_timed_out"), Some(1.0));
    // A binary frame that stalls: its connection closes after the read timeout.
    let mut s = raw_binary(a).await;
    s.write_all(&frame("rec", "me", "example.Ping", &[0u8; 10])[..8])
        .await
        .unwrap();
    assert!(closed_by_server(&mut s).await);
    assert_eq!(m.value("libprocess/transport/frames_timed_out"), Some(1.0));
    // A frame larger than the whole memory budget (but under the frame limit) is refused.
    let mut s = raw_binary(a).await;
    s.write_all(&((2u32 << 20) + 16).to_le_bytes())
        .await
        .unwrap();
    s.write_all(&[0u8; 4096]).await.unwrap();
    assert!(closed_by_server(&mut s).await);
    assert_eq!(
        m.value("libprocess/transport/frames_over_budget"),
        Some(1.0)
    );
    // Connections per IP are capped: the fifth open one is closed at once. They come from
    // another address than the node's own (whose connections count only in all).
    let from_other = || async move {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        sock.connect(a).await.unwrap()
    };
    let mut open = Vec::new();
    for _ in 0..4 {
        open.push(from_other().await);
    }
    testkit_wait(|| {
        m.value("libprocess/transport/connections_accepted")
            .unwrap_or(0.0)
            >= 9.0
    })
    .await;
    let mut fifth = from_other().await;
    assert!(closed_by_server(&mut fifth).await);
    assert_eq!(
        m.value("libprocess/transport/connections_refused"),
        Some(1.0)
    );
    // The node's own address is not capped per address.
    let mut own = Vec::new();
    for _ in 0..5 {
        own.push(TcpStream::connect(a).await.unwrap());
    }
    let mut s = TcpStream::connect(a).await.unwrap();
    s.write_all(b"GET /rec/none HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert!(status_of(&mut s).await.contains(" 404 "));
    drop(own);
    drop(open);
    // Room again once they close.
    let mut again = Ok(from_other().await);
    for _ in 0..50 {
        let mut s = again.unwrap();
        s.write_all(b"GET /rec/none HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let line = status_of(&mut s).await;
        if line.contains(" 404 ") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        again = Ok::<_, std::io::Error>(from_other().await);
    }
    panic!("no connection admitted after the others closed");
}

async fn testkit_wait(mut cond: impl FnMut() -> bool) {
    within("a condition", async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}
