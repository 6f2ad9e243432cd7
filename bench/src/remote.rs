//! Remote workloads over loopback between two runtimes, each beside its raw-TCP baseline: the same
//! frames written by a plain buffered writer and parsed and decoded by a plain reader.

use std::time::{Duration, Instant};

use bytes::BytesMut;
use libprocess::transport::wire;
use libprocess::Runtime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::local::Ping;

/// Messages per second from a producer on `a` to a process on `b`, over loopback.
pub async fn runtime_throughput(a: &Runtime, b: &Runtime, n: u64) -> f64 {
    crate::local::throughput(a, b, n).await
}

fn encode_frame(out: &mut Vec<u8>, seq: u64) {
    let s = wire::begin_frame(out, "sink(1)", "producer", "bench.Ping");
    libprocess::codec::encode_into(&Ping::new(seq), out).expect("encode");
    wire::finish_frame(out, s);
}

/// The baseline: the same frames through a plain buffered writer and a plain reader.
pub async fn tcp_throughput(n: u64) -> f64 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let reader = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.expect("accept");
        let mut buf = BytesMut::with_capacity(256 << 10);
        let (mut count, mut sum) = (0u64, 0u64);
        while count < n {
            if s.read_buf(&mut buf).await.expect("read") == 0 {
                break;
            }
            while let Some(len) = wire::frame_len(&buf, 1 << 20).expect("frame") {
                if buf.len() < len {
                    break;
                }
                let f = wire::parse_frame(buf.split_to(len).freeze()).expect("parse");
                let p: Ping = libprocess::codec::decode(&f.body()).expect("decode");
                count += 1;
                sum = sum.wrapping_add(p.seq);
            }
            if buf.capacity() - buf.len() < 4096 {
                buf.reserve(256 << 10);
            }
        }
        (count, sum)
    });
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.set_nodelay(true).expect("nodelay");
    let start = Instant::now();
    let mut out = Vec::with_capacity(128 << 10);
    for seq in 0..n {
        encode_frame(&mut out, seq);
        if out.len() >= 64 << 10 {
            s.write_all(&out).await.expect("write");
            out.clear();
        }
    }
    s.write_all(&out).await.expect("write");
    let (count, _) = reader.await.expect("reader");
    assert_eq!(count, n);
    n as f64 / start.elapsed().as_secs_f64()
}

/// The baseline ping-pong: one ~100-byte frame each way on a raw TCP connection.
pub async fn tcp_pingpong(n: u64) -> Vec<Duration> {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut frame = Vec::new();
    encode_frame(&mut frame, 0);
    let len = frame.len();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.expect("accept");
        s.set_nodelay(true).expect("nodelay");
        let mut b = vec![0u8; len];
        while s.read_exact(&mut b).await.is_ok() {
            if s.write_all(&b).await.is_err() {
                break;
            }
        }
    });
    // The client runs as a task on the workers too, like the runtime's processes.
    tokio::spawn(async move {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.set_nodelay(true).expect("nodelay");
        let mut b = vec![0u8; len];
        let mut samples = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let t = Instant::now();
            s.write_all(&frame).await.expect("write");
            s.read_exact(&mut b).await.expect("read");
            samples.push(t.elapsed());
        }
        samples
    })
    .await
    .expect("pingpong client")
}
