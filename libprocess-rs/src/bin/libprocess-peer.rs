//! A small peer for trying the runtime across OS processes (and for the two-process tests).
//!
//! ```text
//! libprocess-peer serve               # prints "UPID echo@127.0.0.1:PORT", answers Ping with Pong
//! libprocess-peer ping <upid> <count> # sends <count> pings from another runtime, waits for pongs
//! libprocess-peer demo                # both ends in one OS process (two runtimes, real sockets)
//! ```

use std::time::{Duration, Instant};

use libprocess::{Context, Message, Process, Runtime, UPID};
use serde::{Deserialize, Serialize};

/// Asks the echo process for a Pong with the same sequence number.
#[derive(Serialize, Deserialize, Debug)]
struct Ping {
    seq: u64,
    payload: String,
}
impl Message for Ping {
    const NAME: &'static str = "example.Ping";
}

/// The echo's answer.
#[derive(Serialize, Deserialize, Debug)]
struct Pong {
    seq: u64,
}
impl Message for Pong {
    const NAME: &'static str = "example.Pong";
}

struct Echo;

impl Process for Echo {
    fn initialize(&mut self, ctx: &mut Context<Self>) {
        ctx.install(|_, ctx, from: UPID, ping: Ping| ctx.send(&from, Pong { seq: ping.seq }));
    }
}

struct Pinger {
    target: UPID,
    count: u64,
    got: u64,
    done: Option<tokio::sync::oneshot::Sender<u64>>,
}

impl Process for Pinger {
    fn initialize(&mut self, ctx: &mut Context<Self>) {
        ctx.link(&self.target.clone());
        ctx.install(|p: &mut Pinger, _, _, _pong: Pong| {
            p.got += 1;
            if p.got == p.count {
                if let Some(d) = p.done.take() {
                    let _ = d.send(p.got);
                }
            }
        });
        for seq in 0..self.count {
            ctx.send(
                &self.target,
                Ping {
                    seq,
                    payload: "hello".into(),
                },
            );
        }
    }

    fn exited(&mut self, _ctx: &mut Context<Self>, pid: &UPID) {
        eprintln!("peer {pid} exited");
        if let Some(d) = self.done.take() {
            let _ = d.send(self.got);
        }
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rt = match Runtime::local().await {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start runtime: {e}");
            std::process::exit(1);
        }
    };
    match args.get(1).map(String::as_str) {
        Some("serve") => {
            let pid = rt.spawn("echo", Echo).expect("fresh runtime");
            println!("UPID {}", pid.upid());
            pid.wait().await;
        }
        Some("demo") => {
            // Two nodes in one OS process, talking over loopback like two machines would.
            let echo = rt.spawn("echo", Echo).expect("fresh runtime");
            let other = Runtime::local().await.expect("second runtime");
            let count = 100_000;
            let (tx, rx) = tokio::sync::oneshot::channel();
            let start = Instant::now();
            other
                .spawn(
                    "pinger",
                    Pinger {
                        target: echo.upid().clone(),
                        count,
                        got: 0,
                        done: Some(tx),
                    },
                )
                .expect("fresh runtime");
            let got = rx.await.unwrap_or(0);
            let secs = start.elapsed().as_secs_f64();
            println!("node A {} <-> node B {}", rt.address(), other.address());
            println!(
                "{got} of {count} ping/pong pairs in {secs:.3}s ({:.0} round trips/s, pipelined)",
                got as f64 / secs
            );
            let snap = rt.metrics().snapshot_json();
            println!(
                "node A metrics: messages_received={} connections_accepted={}",
                snap["libprocess/transport/messages_received"],
                snap["libprocess/transport/connections_accepted"]
            );
            println!("try: curl http://{}/metrics/snapshot", rt.address());
            if got != count {
                std::process::exit(1);
            }
        }
        Some("ping") if args.len() == 4 => {
            let target: UPID = match args[2].parse() {
                Ok(u) => u,
                Err(e) => {
                    eprintln!("bad <upid>: {e}");
                    std::process::exit(2);
                }
            };
            let count: u64 = match args[3].parse() {
                Ok(n) => n,
                Err(_) => {
                    eprintln!("bad <count>: '{}' is not a number", args[3]);
                    std::process::exit(2);
                }
            };
            let (tx, rx) = tokio::sync::oneshot::channel();
            let start = Instant::now();
            let id = rt.unique_id("pinger");
            rt.spawn(
                &id,
                Pinger {
                    target,
                    count,
                    got: 0,
                    done: Some(tx),
                },
            )
            .expect("fresh id");
            match tokio::time::timeout(Duration::from_secs(60), rx).await {
                Ok(Ok(got)) => {
                    println!("{got} pongs in {:?}", start.elapsed());
                    if got != count {
                        std::process::exit(1);
                    }
                }
                _ => {
                    eprintln!("timed out");
                    std::process::exit(1);
                }
            }
        }
        _ => {
            eprintln!("usage: libprocess-peer serve | ping <upid> <count> | demo");
            std::process::exit(2);
        }
    }
}
