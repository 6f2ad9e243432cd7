//! Runtimes on a simulated network, in virtual time: the real transport over simulated
//! connections, with seeded delays, drops, partitions and crashes.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use common::{send_ping, within, Recorder, Seen};
use libprocess::simnet::{Faults, SimNet};
use libprocess::{Config, Context, Network, Runtime, PID, UPID};
use tokio::sync::mpsc::UnboundedReceiver;

fn ip(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, n))
}

fn addr(n: u8) -> SocketAddr {
    SocketAddr::new(ip(n), 5050)
}

/// A node at 10.0.0.`n`:5050 on `net`, with a recorder `r` (echoing pings when `echo`).
async fn node(
    net: &SimNet,
    n: u8,
    echo: bool,
    send_timeout: Option<Duration>,
) -> (Runtime, PID<Recorder>, UnboundedReceiver<Seen>) {
    let rt = Runtime::bind(Config {
        ip: ip(n),
        port: 5050,
        send_timeout,
        connect_timeout: Duration::from_secs(2),
        network: Network::Sim(net.clone()),
        ..Config::default()
    })
    .await
    .expect("bind on the simulated network");
    let (r, rx) = Recorder::new(echo);
    let pid = rt.spawn("r", r).unwrap();
    (rt, pid, rx)
}

/// Runs `f` on a one-thread runtime in virtual time (as a simulation does).
fn simulate<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap()
        .block_on(f)
}

async fn link(from: &PID<Recorder>, to: &UPID) {
    let to = to.clone();
    from.dispatch(move |_, ctx: &mut Context<Recorder>| ctx.link(&to))
        .await
        .unwrap();
}

async fn next(rx: &mut UnboundedReceiver<Seen>) -> Seen {
    within("an event", rx.recv()).await.unwrap()
}

fn slow() -> Faults {
    Faults {
        delay: (Duration::from_millis(1), Duration::from_millis(50)),
        drop_rate: 0.0,
    }
}

#[test]
fn messages_cross_in_order_per_connection_after_the_drawn_delays() {
    simulate(async {
        let net = SimNet::new(1, slow());
        let (_a, pa, mut ra) = node(&net, 1, false, None).await;
        let (_b, pb, mut rb) = node(&net, 2, true, None).await;
        let start = tokio::time::Instant::now();
        for seq in 0..100 {
            send_ping(&pa, pb.upid(), seq).await;
        }
        for seq in 0..100 {
            assert_eq!(next(&mut rb).await, Seen::Ping(pa.upid().clone(), seq));
        }
        for seq in 0..100 {
            assert_eq!(next(&mut ra).await, Seen::Pong(pb.upid().clone(), seq));
        }
        // A connect, a ping and a pong each took at least the least delay, in virtual time.
        assert!(start.elapsed() >= Duration::from_millis(3));
        assert!(net.log_lines() > 0);
    });
}

/// Two senders to one collector: the order it hears them in, and the network's log hash.
fn interleaving(seed: u64) -> (Vec<(u8, u64)>, u64) {
    simulate(async move {
        let net = SimNet::new(seed, slow());
        let (_c, pc, mut rc) = node(&net, 1, false, None).await;
        let (_a, pa, _ra) = node(&net, 2, false, None).await;
        let (_b, pb, _rb) = node(&net, 3, false, None).await;
        for seq in 0..20 {
            send_ping(&pa, pc.upid(), seq).await;
            send_ping(&pb, pc.upid(), seq).await;
        }
        let mut heard = Vec::new();
        for _ in 0..40 {
            match next(&mut rc).await {
                Seen::Ping(from, seq) => heard.push((u8::from(from != *pa.upid()), seq)),
                other => panic!("unexpected {other:?}"),
            }
        }
        (heard, net.log_hash())
    })
}

#[test]
fn the_same_seed_gives_the_same_run_and_other_seeds_reorder_across_connections() {
    let (order, hash) = interleaving(7);
    assert_eq!(
        interleaving(7),
        (order.clone(), hash),
        "a seed replays exactly"
    );
    // Each sender's messages keep their order...
    for who in [0, 1] {
        let seqs: Vec<u64> = order.iter().filter(|o| o.0 == who).map(|o| o.1).collect();
        assert_eq!(seqs, (0..20).collect::<Vec<_>>());
    }
    // ...while other seeds interleave the two connections differently.
    let others: Vec<(Vec<(u8, u64)>, u64)> = (8..12).map(interleaving).collect();
    assert!(
        others.iter().all(|(_, h)| *h != hash),
        "other seeds, other logs"
    );
    assert!(
        others.iter().any(|(o, _)| *o != order),
        "some seed interleaves the senders differently"
    );
}

#[test]
fn a_partition_longer_than_the_send_timeout_gives_exited_and_a_heal_reconnects() {
    simulate(async {
        let net = SimNet::new(3, Faults::default());
        let timeout = Some(Duration::from_secs(5));
        let (_a, pa, mut ra) = node(&net, 1, false, timeout).await;
        let (_b, pb, mut rb) = node(&net, 2, false, timeout).await;
        link(&pa, pb.upid()).await;
        send_ping(&pa, pb.upid(), 0).await;
        assert_eq!(next(&mut rb).await, Seen::Ping(pa.upid().clone(), 0));
        net.partition(&[ip(1)], &[ip(2)]);
        let cut_at = tokio::time::Instant::now();
        send_ping(&pa, pb.upid(), 1).await;
        assert_eq!(next(&mut ra).await, Seen::Exited(pb.upid().clone()));
        assert!(
            cut_at.elapsed() >= Duration::from_secs(5),
            "not before the send timeout"
        );
        net.heal();
        send_ping(&pa, pb.upid(), 2).await;
        // The held ping died with its connection; the next one rides a new connection.
        assert_eq!(next(&mut rb).await, Seen::Ping(pa.upid().clone(), 2));
    });
}

#[test]
fn a_partition_healed_in_time_delivers_what_it_held_and_a_one_way_cut_holds_one_way() {
    simulate(async {
        let net = SimNet::new(4, Faults::default());
        let timeout = Some(Duration::from_secs(5));
        let (_a, pa, mut ra) = node(&net, 1, false, timeout).await;
        let (_b, pb, mut rb) = node(&net, 2, false, timeout).await;
        link(&pa, pb.upid()).await;
        send_ping(&pa, pb.upid(), 0).await;
        send_ping(&pb, pa.upid(), 0).await;
        assert_eq!(next(&mut rb).await, Seen::Ping(pa.upid().clone(), 0));
        assert_eq!(next(&mut ra).await, Seen::Ping(pb.upid().clone(), 0));
        // One way: a's pings wait, b's arrive.
        net.cut(ip(1), ip(2));
        send_ping(&pa, pb.upid(), 1).await;
        send_ping(&pb, pa.upid(), 1).await;
        assert_eq!(next(&mut ra).await, Seen::Ping(pb.upid().clone(), 1));
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(rb.try_recv().is_err(), "held across the cut");
        net.heal();
        assert_eq!(next(&mut rb).await, Seen::Ping(pa.upid().clone(), 1));
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert!(
            ra.try_recv().is_err(),
            "healed before the timeout: no exited"
        );
    });
}

#[test]
fn a_crashed_node_is_exited_for_its_peers_and_its_restart_is_reached_at_the_same_address() {
    simulate(async {
        let net = SimNet::new(5, Faults::default());
        let (_a, pa, mut ra) = node(&net, 1, false, None).await;
        let (b, pb, _rb) = node(&net, 2, false, None).await;
        link(&pa, pb.upid()).await;
        send_ping(&pa, pb.upid(), 0).await;
        net.crash(addr(2));
        b.shutdown().await;
        assert_eq!(next(&mut ra).await, Seen::Exited(pb.upid().clone()));
        let (_b2, pb2, mut rb2) = node(&net, 2, false, None).await;
        assert_eq!(pb2.upid(), pb.upid(), "the same address and id");
        send_ping(&pa, pb.upid(), 1).await;
        assert_eq!(next(&mut rb2).await, Seen::Ping(pa.upid().clone(), 1));
    });
}

#[test]
fn a_dropped_write_breaks_its_connection_and_links_see_exited() {
    simulate(async {
        let net = SimNet::new(6, Faults::default());
        let (_a, pa, mut ra) = node(&net, 1, false, None).await;
        let (_b, pb, mut rb) = node(&net, 2, false, None).await;
        link(&pa, pb.upid()).await;
        send_ping(&pa, pb.upid(), 0).await;
        assert_eq!(next(&mut rb).await, Seen::Ping(pa.upid().clone(), 0));
        net.set_faults(Faults {
            drop_rate: 1.0,
            ..Faults::default()
        });
        send_ping(&pa, pb.upid(), 1).await;
        assert_eq!(next(&mut ra).await, Seen::Exited(pb.upid().clone()));
        assert!(net.log_tail(5).iter().any(|l| l.contains("drop #")));
    });
}

#[test]
fn nothing_listening_refuses_and_links_see_exited() {
    simulate(async {
        let net = SimNet::new(7, Faults::default());
        let (_a, pa, mut ra) = node(&net, 1, false, None).await;
        let nobody = UPID::new("r".to_string(), addr(9));
        link(&pa, &nobody).await;
        assert_eq!(next(&mut ra).await, Seen::Exited(nobody));
    });
}

#[test]
fn a_node_shut_down_without_a_crash_refuses_and_links_see_exited() {
    simulate(async {
        let net = SimNet::new(8, Faults::default());
        let (_a, pa, mut ra) = node(&net, 1, false, None).await;
        let (b, pb, _rb) = node(&net, 2, false, None).await;
        b.shutdown().await;
        link(&pa, pb.upid()).await;
        assert_eq!(next(&mut ra).await, Seen::Exited(pb.upid().clone()));
        assert!(net.log_tail(3).iter().any(|l| l.contains("refused")));
    });
}
