//! `hostile [--quick] [--json]`: what large requests do to a master's memory. A master in a
//! child process takes N connections at once that each send one large binary frame, and N HTTP
//! requests that each declare (and send) a large body; its resident memory is read before, at
//! its peak, and once they have closed. The same attack runs against a baseline master with the
//! old settings (64 MiB bodies buffered whole, no memory budget, glibc's default allocator
//! thresholds) beside one with ours (4 MiB bodies, a 128 MiB budget for what is in flight,
//! large buffers returned to the system).
//! With `--json` the last line of stdout is one JSON object of the figures.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use libprocess::transport::wire;
use libprocess::{Config, Runtime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

libprocess::flags! {
    /// `hostile`'s flags.
    struct HostileFlags {
        /// Smaller runs, for a smoke test
        quick: bool = "false";
        /// Print one JSON object of the figures last
        json: bool = "false";
        /// (Internal) run the victim master on this port
        victim_port: Option<u16>;
        /// (Internal) the victim uses the baseline settings
        baseline: bool = "false";
    }
}

/// Resident memory and its peak (`VmRSS`, `VmHWM`) of process `pid`, in MiB.
fn rss(pid: u32) -> (f64, f64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |k: &str| {
        s.lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

async fn victim(port: u16, baseline: bool) -> ! {
    let config = if baseline {
        Config {
            port,
            max_request_body: 64 << 20,
            memory_budget: usize::MAX,
            ..Config::default()
        }
    } else {
        mesos_cli::return_large_buffers();
        Config {
            port,
            ..Config::default()
        }
    };
    let rt = Runtime::bind(config).await.expect("bind");
    rt.spawn(
        "master",
        mesos_master::Master::new(mesos_master::MasterFlags::default()),
    )
    .expect("master");
    loop {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

/// One connection that sends a frame of `size` bytes to the master (an unknown message: it is
/// dropped once whole).
async fn big_frame(addr: SocketAddr, size: usize) {
    let Ok(mut s) = TcpStream::connect(addr).await else {
        return;
    };
    let me = s.local_addr().expect("local address");
    let mut head = wire::handshake(SocketAddr::new(me.ip(), 1));
    let mut out = Vec::new();
    let start = wire::begin_frame(&mut out, "master", "attacker", "hostile.Blob");
    out.resize(size, b'x');
    wire::finish_frame(&mut out, start);
    head.extend_from_slice(&out);
    let _ = tokio::time::timeout(Duration::from_secs(60), s.write_all(&head)).await;
    let _ = s.shutdown().await;
}

/// One HTTP request that declares and sends a body of `size` bytes.
async fn big_body(addr: SocketAddr, size: usize) {
    let Ok(mut s) = TcpStream::connect(addr).await else {
        return;
    };
    let head = format!(
        "POST /master/api/v1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
    );
    let body = vec![b' '; size];
    let send = async {
        s.write_all(head.as_bytes()).await?;
        s.write_all(&body).await
    };
    let _ = tokio::time::timeout(Duration::from_secs(60), send).await;
    let mut b = [0u8; 512];
    let _ = tokio::time::timeout(Duration::from_secs(30), s.read(&mut b)).await;
}

/// (idle, peak, after) RSS in MiB of a victim with these settings under the attack.
async fn run(baseline: bool, n: usize, size: usize) -> (f64, f64, f64, f64) {
    let port = testkit::free_port();
    let exe = std::env::current_exe().expect("own path");
    let mut args = vec![format!("--victim_port={port}")];
    if baseline {
        args.push("--baseline".into());
    }
    let mut child = tokio::process::Command::new(exe)
        .args(&args)
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the victim");
    let pid = child.id().expect("victim pid");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let up = Instant::now();
    while TcpStream::connect(addr).await.is_err() {
        assert!(
            up.elapsed() < Duration::from_secs(30),
            "victim did not start"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle = rss(pid).0;
    let began = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..n {
        tasks.push(tokio::spawn(big_frame(addr, size)));
        tasks.push(tokio::spawn(big_body(addr, size)));
    }
    for t in tasks {
        let _ = t.await;
    }
    let took = began.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (after, peak) = rss(pid);
    let _ = child.kill().await;
    (idle, peak, after, took)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let f = HostileFlags::from_flags(&mesos_bench::load_flags(
        "hostile",
        HostileFlags::FLAGS,
        std::env::args().skip(1),
        2,
    ))
    .unwrap_or_else(|e| {
        eprintln!("hostile: {e}");
        std::process::exit(2)
    });
    if let Some(port) = f.victim_port {
        victim(port, f.baseline).await;
    }
    let (n, size) = if f.quick {
        (3, 20 << 20)
    } else {
        (10, 60 << 20)
    };
    println!(
        "{n} connections each sending a {} MiB frame and {n} each sending a {} MiB HTTP body, at once",
        size >> 20,
        size >> 20
    );
    let mut out = serde_json::Map::new();
    for (name, baseline) in [("baseline", true), ("ours", false)] {
        let (idle, peak, after, took) = run(baseline, n, size).await;
        println!(
            "{name:>8}: RSS idle {idle:.0} MiB, peak {peak:.0} MiB, after {after:.0} MiB (attack took {took:.1} s)"
        );
        out.insert(
            name.into(),
            serde_json::json!({"idle_mib": idle, "peak_mib": peak, "after_mib": after, "seconds": took}),
        );
    }
    let b = &out["baseline"];
    let o = &out["ours"];
    let ratio = |k: &str| o[k].as_f64().unwrap_or(0.0) / b[k].as_f64().unwrap_or(1.0).max(1.0);
    println!(
        "ours / baseline: peak {:.2}x, after {:.2}x",
        ratio("peak_mib"),
        ratio("after_mib")
    );
    if f.json {
        println!("{}", serde_json::Value::Object(out));
    }
}
