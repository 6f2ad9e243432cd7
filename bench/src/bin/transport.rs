//! `transport [--quick] [--json] [--profile=local|remote|mpsc] [--tls]`: the runtime's
//! throughput and latency, local and over loopback, each measured beside its raw baseline in the
//! same run, plus the codec comparison. With `--tls`: remote throughput and ping-pong between two
//! runtimes on mutual TLS beside two in clear, interleaved in the same run.
//! The local workloads also run on two other actor frameworks in the same run ([`peers`]:
//! actix and ractor), with `local_ratio_vs_<peer>` (ours / theirs, higher is better) and
//! `pingpong_ratio_vs_<peer>` (ours / theirs, lower is better), and ours once more on a
//! single-threaded scheduler as actix runs (`local_one_thread_ratio_vs_actix`).
//! With `--json` the last line of stdout is one JSON object of the named figures.

use std::time::Duration;

use libprocess::Runtime;
use mesos_bench::{best_rate, codec_mix, local, median, peers, remote};

libprocess::flags! {
    /// `transport`'s flags.
    struct TransportFlags {
        /// Smaller runs, for a smoke test
        quick: bool = "false";
        /// Print one JSON object of the named figures last
        json: bool = "false";
        /// Run one workload of ours alone for a while, for perf: local, remote or mpsc
        profile: Option<String>;
        /// Compare remote messaging over TLS (certificates made at run time) with plain TCP
        tls: bool = "false";
    }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let f = TransportFlags::from_flags(&mesos_bench::load_flags(
        "transport",
        TransportFlags::FLAGS,
        std::env::args().skip(1),
        2,
    ))
    .unwrap_or_else(|e| {
        eprintln!("transport: {e}");
        std::process::exit(2)
    });
    let (quick, json, only) = (f.quick, f.json, f.profile);
    if f.tls {
        return tls_vs_plain(quick, json).await;
    }
    if let Some(what) = only {
        // Runs one workload of ours alone for a while, for perf.
        let a = Runtime::local().await.expect("runtime a");
        let b = Runtime::local().await.expect("runtime b");
        for _ in 0..10 {
            let r = match what.as_str() {
                "local" => local::runtime_throughput(&a, 2_000_000).await,
                "remote" => remote::runtime_throughput(&a, &b, 2_000_000).await,
                "mpsc" => local::mpsc_throughput(2_000_000).await,
                other => {
                    eprintln!("transport: unknown --profile workload '{other}'");
                    std::process::exit(2);
                }
            };
            println!("{what}: {r:.0} msgs/s");
        }
        return;
    }
    let (n_local, n_remote, n_pp, rounds) = if quick {
        (1_000_000, 1_000_000, 5_000, 3)
    } else {
        (5_000_000, 5_000_000, 50_000, 5)
    };
    let a = Runtime::local().await.expect("runtime a");
    let b = Runtime::local().await.expect("runtime b");

    // Interleave ours, the baseline and the peers so all see the same machine load.
    let (mut ours, mut base, mut ax, mut ra) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut one = Vec::new();
    for _ in 0..rounds {
        ours.push(local::runtime_throughput(&a, n_local).await);
        base.push(local::mpsc_throughput(n_local).await);
        ax.push(
            tokio::task::spawn_blocking(move || peers::actix_throughput(n_local))
                .await
                .expect("actix"),
        );
        ra.push(peers::ractor_throughput(n_local).await);
        one.push(
            tokio::task::spawn_blocking(move || single_thread_throughput(n_local))
                .await
                .expect("one thread"),
        );
    }
    let one_thread_rate = best_rate(one);
    let (local_rate, mpsc_rate) = (best_rate(ours), best_rate(base));
    let (actix_rate, ractor_rate) = (best_rate(ax), best_rate(ra));

    let (mut lp, mut mp, mut axp, mut rap) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let k = n_pp / rounds as u64;
        lp.extend(local::runtime_pingpong(&a, &a, k).await);
        mp.extend(local::mpsc_pingpong(k).await);
        axp.extend(
            tokio::task::spawn_blocking(move || peers::actix_pingpong(k))
                .await
                .expect("actix"),
        );
        rap.extend(peers::ractor_pingpong(k).await);
    }
    let (local_pp, mpsc_pp) = (median(&mut lp), median(&mut mp));
    let (actix_pp, ractor_pp) = (median(&mut axp), median(&mut rap));

    let (mut ours, mut base) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        ours.push(remote::runtime_throughput(&a, &b, n_remote).await);
        base.push(remote::tcp_throughput(n_remote).await);
    }
    let (remote_rate, tcp_rate) = (best_rate(ours), best_rate(base));

    let (mut rp, mut tp) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        rp.extend(local::runtime_pingpong(&a, &b, n_pp / rounds as u64).await);
        tp.extend(remote::tcp_pingpong(n_pp / rounds as u64).await);
    }
    let (remote_pp, tcp_pp) = (median(&mut rp), median(&mut tp));

    let codecs = codec_mix::measure_all(quick);

    println!(
        "{:<44} {:>14} {:>14} {:>8}",
        "workload", "libprocess-rs", "baseline", "ratio"
    );
    println!(
        "{:<44} {:>14.0} {:>14.0} {:>8.2}",
        "local send, msgs/s (vs tokio mpsc)",
        local_rate,
        mpsc_rate,
        local_rate / mpsc_rate
    );
    println!(
        "{:<44} {:>14.2} {:>14.2} {:>8.2}",
        "local ping-pong p50, us (vs mpsc)",
        us(local_pp),
        us(mpsc_pp),
        us(local_pp) / us(mpsc_pp)
    );
    println!(
        "{:<44} {:>14.0} {:>14.0} {:>8.2}",
        "remote send, msgs/s (vs raw framed TCP)",
        remote_rate,
        tcp_rate,
        remote_rate / tcp_rate
    );
    println!(
        "{:<44} {:>14.2} {:>14.2} {:>8.2}",
        "remote ping-pong p50, us (vs raw TCP)",
        us(remote_pp),
        us(tcp_pp),
        us(remote_pp) / us(tcp_pp)
    );
    for (name, rate, pp) in [
        ("actix", actix_rate, actix_pp),
        ("ractor", ractor_rate, ractor_pp),
    ] {
        println!(
            "{:<44} {:>14.0} {:>14.0} {:>8.2}",
            format!("local send, msgs/s (vs {name})"),
            local_rate,
            rate,
            local_rate / rate
        );
        println!(
            "{:<44} {:>14.2} {:>14.2} {:>8.2}",
            format!("local ping-pong p50, us (vs {name})"),
            us(local_pp),
            us(pp),
            us(local_pp) / us(pp)
        );
    }
    println!(
        "{:<44} {:>14.0} {:>14.0} {:>8.2}",
        "local send on one thread, msgs/s (vs actix)",
        one_thread_rate,
        actix_rate,
        one_thread_rate / actix_rate
    );
    println!();
    println!(
        "{:<10} {:<16} {:>10} {:>16}",
        "codec", "message", "bytes", "enc+dec ns"
    );
    for f in &codecs {
        println!(
            "{:<10} {:<16} {:>10} {:>16.0}",
            f.codec.name(),
            f.message,
            f.bytes,
            f.round_trip.as_secs_f64() * 1e9
        );
    }
    if json {
        let mut obj = serde_json::json!({
            "quick": quick,
            "local_msgs_per_s": local_rate.round(),
            "mpsc_msgs_per_s": mpsc_rate.round(),
            "local_ratio_vs_mpsc": local_rate / mpsc_rate,
            "local_pingpong_p50_us": us(local_pp),
            "mpsc_pingpong_p50_us": us(mpsc_pp),
            "remote_msgs_per_s": remote_rate.round(),
            "tcp_msgs_per_s": tcp_rate.round(),
            "remote_ratio_vs_tcp": remote_rate / tcp_rate,
            "remote_pingpong_p50_us": us(remote_pp),
            "tcp_pingpong_p50_us": us(tcp_pp),
            "local_one_thread_msgs_per_s": one_thread_rate.round(),
            "local_one_thread_ratio_vs_actix": one_thread_rate / actix_rate,
            "actix_msgs_per_s": actix_rate.round(),
            "ractor_msgs_per_s": ractor_rate.round(),
            "local_ratio_vs_actix": local_rate / actix_rate,
            "local_ratio_vs_ractor": local_rate / ractor_rate,
            "actix_pingpong_p50_us": us(actix_pp),
            "ractor_pingpong_p50_us": us(ractor_pp),
            "pingpong_ratio_vs_actix": us(local_pp) / us(actix_pp),
            "pingpong_ratio_vs_ractor": us(local_pp) / us(ractor_pp),
        });
        for f in &codecs {
            obj[format!("codec_{}_{}_bytes", f.codec.name(), f.message)] = f.bytes.into();
            obj[format!("codec_{}_{}_ns", f.codec.name(), f.message)] =
                (f.round_trip.as_secs_f64() * 1e9).round().into();
        }
        println!("{obj}");
    }
}

/// Local sends with our runtime on a single-threaded tokio scheduler of its own, as actix runs
/// its actors: producer and process share one thread, with no wake-ups across cores.
fn single_thread_throughput(n: u64) -> f64 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("current-thread runtime");
    rt.block_on(async move {
        let r = Runtime::local().await.expect("runtime");
        let rate = local::runtime_throughput(&r, n).await;
        r.shutdown().await;
        rate
    })
}

/// Remote send throughput and ping-pong between two TLS runtimes beside two plain ones.
async fn tls_vs_plain(quick: bool, json: bool) {
    let (n, n_pp, rounds) = if quick {
        (300_000, 3_000, 3)
    } else {
        (3_000_000, 30_000, 5)
    };
    let dir = std::env::temp_dir().join(format!("bench-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("certificate dir");
    let certs = libprocess::tls::test_certs::TestCerts::create(&dir);
    let tls = libprocess::tls::Tls::new(&certs.settings()).expect("TLS set-up");
    let secure = || {
        Runtime::bind(libprocess::Config {
            tls: Some(tls.clone()),
            ..libprocess::Config::default()
        })
    };
    let (ta, tb) = (
        secure().await.expect("tls a"),
        secure().await.expect("tls b"),
    );
    let (pa, pb) = (
        Runtime::local().await.expect("plain a"),
        Runtime::local().await.expect("plain b"),
    );
    let (mut t, mut p) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        t.push(remote::runtime_throughput(&ta, &tb, n).await);
        p.push(remote::runtime_throughput(&pa, &pb, n).await);
    }
    let (tls_rate, plain_rate) = (best_rate(t), best_rate(p));
    let (mut t, mut p) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        t.extend(local::runtime_pingpong(&ta, &tb, n_pp / rounds as u64).await);
        p.extend(local::runtime_pingpong(&pa, &pb, n_pp / rounds as u64).await);
    }
    let (tls_pp, plain_pp) = (median(&mut t), median(&mut p));
    let _ = std::fs::remove_dir_all(&dir);
    let accepted = |rt: &Runtime| {
        rt.metrics().snapshot_json()["libprocess/transport/tls_connections_accepted"]
            .as_u64()
            .unwrap_or(0)
    };
    assert!(
        accepted(&ta) >= 1 && accepted(&tb) >= 1 && accepted(&pb) == 0,
        "the TLS runtimes did not talk TLS"
    );
    println!(
        "{:<44} {:>14} {:>14} {:>8}",
        "workload", "TLS", "plain TCP", "ratio"
    );
    println!(
        "{:<44} {:>14.0} {:>14.0} {:>8.2}",
        "remote send, msgs/s",
        tls_rate,
        plain_rate,
        tls_rate / plain_rate
    );
    println!(
        "{:<44} {:>14.2} {:>14.2} {:>8.2}",
        "remote ping-pong p50, us",
        us(tls_pp),
        us(plain_pp),
        us(tls_pp) / us(plain_pp)
    );
    if json {
        println!(
            "{}",
            serde_json::json!({
                "quick": quick,
                "tls_msgs_per_s": tls_rate.round(),
                "plain_msgs_per_s": plain_rate.round(),
                "tls_ratio_vs_plain": tls_rate / plain_rate,
                "tls_pingpong_p50_us": us(tls_pp),
                "plain_pingpong_p50_us": us(plain_pp),
                "tls_pingpong_ratio_vs_plain": us(tls_pp) / us(plain_pp),
            })
        );
    }
}
