//! Local (same runtime) workloads: fire-and-forget throughput and ping-pong latency, each with a
//! raw tokio baseline doing the same work (a task that counts what it receives).

use std::time::{Duration, Instant};

use libprocess::{Context, Message, Process, Runtime, UPID};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

/// The ~100-byte message used by every runtime benchmark (encoded: 1-9 bytes of `seq` and
/// 88 bytes of payload; in memory it needs no heap allocation, so the figures show the
/// runtime's own per-message cost rather than the allocator's).
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Ping {
    /// Its sequence number.
    pub seq: u64,
    /// Filler to about 100 bytes.
    pub payload: [u64; 11],
}

impl Message for Ping {
    const NAME: &'static str = "bench.Ping";
}

impl Ping {
    /// A ping whose encoded body is about 100 bytes.
    pub fn new(seq: u64) -> Ping {
        // Each word encodes to 8 bytes as a postcard varint (values in [2^49, 2^56)).
        Ping {
            seq,
            payload: [1 << 50; 11],
        }
    }
}

/// Counts pings; reports when `expect` have arrived.
pub struct Sink {
    /// Pings received.
    pub count: u64,
    /// Sum of their sequence numbers (checked against the sent ones).
    pub sum: u64,
    /// Pings to wait for.
    pub expect: u64,
    /// Told the sum once `expect` arrived.
    pub done: Option<oneshot::Sender<u64>>,
}

impl Process for Sink {
    fn initialize(&mut self, ctx: &mut Context<Self>) {
        ctx.install(|s: &mut Sink, _, _, p: Ping| {
            s.count += 1;
            s.sum = s.sum.wrapping_add(p.seq);
            if s.count == s.expect {
                if let Some(d) = s.done.take() {
                    let _ = d.send(s.sum);
                }
            }
        });
    }
}

/// Messages per second through the runtime: one producer task on `from_rt` sending by UPID to a
/// process on `to_rt` (the same runtime for local delivery, another for the transport).
pub async fn throughput(from_rt: &Runtime, to_rt: &Runtime, n: u64) -> f64 {
    let (tx, rx) = oneshot::channel();
    let id = to_rt.unique_id("sink");
    let sink = to_rt
        .spawn(
            &id,
            Sink {
                count: 0,
                sum: 0,
                expect: n,
                done: Some(tx),
            },
        )
        .expect("spawn sink");
    let to = sink.upid().clone();
    let from: UPID = format!("producer@{}", from_rt.address())
        .parse()
        .expect("upid");
    let rt = from_rt.clone();
    let start = Instant::now();
    tokio::spawn(async move {
        for seq in 0..n {
            rt.send(&from, &to, Ping::new(seq));
            if seq % 4096 == 0 {
                tokio::task::yield_now().await;
            }
        }
    });
    rx.await.expect("sink done");
    let rate = n as f64 / start.elapsed().as_secs_f64();
    sink.terminate(true);
    sink.wait().await;
    rate
}

/// Local delivery: [`throughput`] within one runtime.
pub async fn runtime_throughput(rt: &Runtime, n: u64) -> f64 {
    throughput(rt, rt, n).await
}

/// The baseline: a tokio unbounded mpsc and a task doing the sink's work.
pub async fn mpsc_throughput(n: u64) -> f64 {
    let (tx, mut rx) = mpsc::unbounded_channel::<(UPID, Ping)>();
    let (done_tx, done_rx) = oneshot::channel();
    let from: UPID = "producer@127.0.0.1:1".parse().expect("upid");
    tokio::spawn(async move {
        let (mut count, mut sum) = (0u64, 0u64);
        while let Some((_from, p)) = rx.recv().await {
            count += 1;
            sum = sum.wrapping_add(p.seq);
            if count == n {
                let _ = done_tx.send(sum);
                break;
            }
        }
    });
    let start = Instant::now();
    tokio::spawn(async move {
        for seq in 0..n {
            let _ = tx.send((from.clone(), Ping::new(seq)));
            if seq % 4096 == 0 {
                tokio::task::yield_now().await;
            }
        }
    });
    done_rx.await.expect("baseline done");
    n as f64 / start.elapsed().as_secs_f64()
}

/// Answers pings with pongs (same message type back).
struct Ponger;

impl Process for Ponger {
    fn initialize(&mut self, ctx: &mut Context<Self>) {
        ctx.install(|_, ctx, from: UPID, p: Ping| ctx.send(&from, p));
    }
}

/// Sends the next ping when the previous one comes back; records each round trip.
struct Pinger {
    target: UPID,
    left: u64,
    sent_at: Instant,
    samples: Vec<Duration>,
    done: Option<oneshot::Sender<Vec<Duration>>>,
}

impl Process for Pinger {
    fn initialize(&mut self, ctx: &mut Context<Self>) {
        ctx.install(|p: &mut Pinger, ctx, _, ping: Ping| {
            p.samples.push(p.sent_at.elapsed());
            p.left -= 1;
            if p.left == 0 {
                if let Some(d) = p.done.take() {
                    let _ = d.send(std::mem::take(&mut p.samples));
                }
                return;
            }
            p.sent_at = Instant::now();
            ctx.send(
                &p.target,
                Ping {
                    seq: ping.seq + 1,
                    ..ping
                },
            );
        });
        self.sent_at = Instant::now();
        ctx.send(&self.target, Ping::new(0));
    }
}

/// Round-trip samples between a pinger on `from_rt` and a ponger on `to_rt` (same or another runtime).
pub async fn runtime_pingpong(from_rt: &Runtime, to_rt: &Runtime, n: u64) -> Vec<Duration> {
    let pid = to_rt.unique_id("ponger");
    let ponger = to_rt.spawn(&pid, Ponger).expect("spawn ponger");
    let (tx, rx) = oneshot::channel();
    let id = from_rt.unique_id("pinger");
    let pinger = from_rt
        .spawn(
            &id,
            Pinger {
                target: ponger.upid().clone(),
                left: n,
                sent_at: Instant::now(),
                samples: Vec::with_capacity(n as usize),
                done: Some(tx),
            },
        )
        .expect("spawn pinger");
    let samples = rx.await.expect("pingpong done");
    pinger.terminate(true);
    ponger.terminate(true);
    samples
}

/// The baseline: two tasks bouncing a ping over two mpsc channels (both on the runtime's
/// workers, like the two processes).
pub async fn mpsc_pingpong(n: u64) -> Vec<Duration> {
    tokio::spawn(mpsc_pingpong_task(n))
        .await
        .expect("pingpong task")
}

async fn mpsc_pingpong_task(n: u64) -> Vec<Duration> {
    let (to_b, mut b_rx) = mpsc::unbounded_channel::<Ping>();
    let (to_a, mut a_rx) = mpsc::unbounded_channel::<Ping>();
    tokio::spawn(async move {
        while let Some(p) = b_rx.recv().await {
            if to_a.send(p).is_err() {
                break;
            }
        }
    });
    let mut samples = Vec::with_capacity(n as usize);
    let mut p = Ping::new(0);
    for _ in 0..n {
        let t = Instant::now();
        to_b.send(p).expect("send");
        p = a_rx.recv().await.expect("recv");
        samples.push(t.elapsed());
    }
    samples
}
