//! Process semantics within one runtime: lifecycle, dispatch, defer, delay, settle, handlers,
//! delegate, links, terminate, filters.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use libprocess::filter::MessageMatch;
use libprocess::{Context, Error, Process, Runtime, UPID};

struct Lifecycle {
    init: Arc<AtomicUsize>,
    fin: Arc<AtomicUsize>,
}

impl Process for Lifecycle {
    fn initialize(&mut self, _: &mut Context<Self>) {
        self.init.fetch_add(1, Ordering::SeqCst);
    }
    fn finalize(&mut self, _: &mut Context<Self>) {
        self.fin.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_calls_initialize_and_finalize_once_each() {
    let rt = Runtime::local().await.unwrap();
    let (init, fin) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let pid = rt
        .spawn(
            "life",
            Lifecycle {
                init: init.clone(),
                fin: fin.clone(),
            },
        )
        .unwrap();
    assert_eq!(pid.upid().id(), "life");
    assert_eq!(pid.upid().addr(), rt.address());
    assert!(pid.upid().is_valid());
    rt.settle().await;
    assert_eq!(init.load(Ordering::SeqCst), 1);
    assert_eq!(fin.load(Ordering::SeqCst), 0);
    pid.terminate(true);
    pid.terminate(true);
    within("wait", pid.wait()).await;
    assert_eq!(init.load(Ordering::SeqCst), 1);
    assert_eq!(fin.load(Ordering::SeqCst), 1);
    assert!(!rt.exists("life"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_ends_processes_without_finalize_and_a_shutdown_with_it() {
    for crash in [true, false] {
        let rt = Runtime::local().await.unwrap();
        let (init, fin) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let pid = rt
            .spawn(
                "life",
                Lifecycle {
                    init: init.clone(),
                    fin: fin.clone(),
                },
            )
            .unwrap();
        rt.settle().await;
        if crash {
            within("crash", rt.crash()).await;
        } else {
            within("shutdown", rt.shutdown()).await;
        }
        within("wait", pid.wait()).await;
        assert!(!rt.exists("life"));
        assert_eq!(init.load(Ordering::SeqCst), 1);
        assert_eq!(
            fin.load(Ordering::SeqCst),
            usize::from(!crash),
            "crash: {crash}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawning_a_taken_id_is_an_error() {
    let rt = Runtime::local().await.unwrap();
    let (r1, _rx1) = Recorder::new(false);
    let (r2, _rx2) = Recorder::new(false);
    rt.spawn("same", r1).unwrap();
    match rt.spawn("same", r2) {
        Err(Error::DuplicateId(id)) => assert_eq!(id, "same"),
        other => panic!("expected DuplicateId, got {other:?}"),
    }
}

struct Counter {
    n: u64,
}
impl Process for Counter {}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_returns_a_value_and_a_future() {
    let rt = Runtime::local().await.unwrap();
    let pid = rt.spawn("counter", Counter { n: 0 }).unwrap();
    let v = within(
        "dispatch",
        pid.dispatch(|c: &mut Counter, _| {
            c.n += 5;
            c.n
        }),
    )
    .await
    .unwrap();
    assert_eq!(v, 5);

    // A dispatch whose result is itself a future, completed by a later dispatch.
    let (tx, rx) = tokio::sync::oneshot::channel::<u64>();
    let fut = within("dispatch", pid.dispatch(move |_, _| rx))
        .await
        .unwrap();
    let p2 = pid.clone();
    within(
        "dispatch",
        p2.dispatch(move |c: &mut Counter, _| tx.send(c.n * 2).unwrap()),
    )
    .await
    .unwrap();
    assert_eq!(within("inner future", fut).await.unwrap(), 10);

    // After termination a dispatch reports Dropped rather than hanging.
    pid.terminate(true);
    pid.wait().await;
    let r = pid.dispatch(|c: &mut Counter, _| c.n).await;
    assert!(matches!(r, Err(Error::Dropped(_))), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defer_runs_the_callback_on_the_process() {
    let rt = Runtime::local().await.unwrap();
    let pid = rt.spawn("deferrer", Counter { n: 1 }).unwrap();
    let cb = within(
        "dispatch",
        pid.dispatch(|_, ctx: &mut Context<Counter>| {
            ctx.defer(|c: &mut Counter, _, add: u64| c.n += add)
        }),
    )
    .await
    .unwrap();
    // Called from another thread entirely.
    std::thread::spawn(move || cb(41)).join().unwrap();
    rt.settle().await;
    assert_eq!(pid.dispatch(|c: &mut Counter, _| c.n).await.unwrap(), 42);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installed_handler_receives_a_post() {
    let rt = Runtime::local().await.unwrap();
    let (r, mut rx) = Recorder::new(false);
    let pid = rt.spawn("rec", r).unwrap();
    rt.post(
        pid.upid(),
        Ping {
            seq: 7,
            payload: "x".into(),
        },
    );
    match within("ping", rx.recv()).await.unwrap() {
        Seen::Ping(from, 7) => assert_eq!(from, UPID::none()),
        other => panic!("unexpected {other:?}"),
    }
}

struct Delegator {
    to: UPID,
}
impl Process for Delegator {
    fn initialize(&mut self, ctx: &mut Context<Self>) {
        ctx.delegate("example.Ping", self.to.clone());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delegate_forwards_messages_keeping_the_sender() {
    let rt = Runtime::local().await.unwrap();
    let (r, mut rx) = Recorder::new(false);
    let target = rt.spawn("target", r).unwrap();
    let d = rt
        .spawn(
            "front",
            Delegator {
                to: target.upid().clone(),
            },
        )
        .unwrap();
    let sender: UPID = format!("sender@{}", rt.address()).parse().unwrap();
    rt.send(
        &sender,
        d.upid(),
        Ping {
            seq: 3,
            payload: String::new(),
        },
    );
    assert_eq!(
        within("ping", rx.recv()).await.unwrap(),
        Seen::Ping(sender, 3)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delay_fires_on_advance_with_the_clock_paused() {
    let rt = Runtime::local().await.unwrap();
    rt.clock().pause();
    let pid = rt.spawn("delayed", Counter { n: 0 }).unwrap();
    pid.delay(Duration::from_secs(30), |c: &mut Counter, _| c.n = 1);
    let cancelled = pid.delay(Duration::from_secs(10), |c: &mut Counter, _| c.n = 99);
    assert!(rt.clock().cancel(cancelled));
    rt.settle().await;
    rt.clock().advance(Duration::from_secs(29));
    rt.settle().await;
    assert_eq!(pid.dispatch(|c: &mut Counter, _| c.n).await.unwrap(), 0);
    rt.clock().advance(Duration::from_secs(1));
    rt.settle().await;
    assert_eq!(pid.dispatch(|c: &mut Counter, _| c.n).await.unwrap(), 1);
    rt.clock().resume();
}

struct Chain {
    log: Arc<Mutex<Vec<&'static str>>>,
}
impl Process for Chain {
    fn initialize(&mut self, ctx: &mut Context<Self>) {
        self.log.lock().unwrap().push("initialize");
        // delay(0) -> dispatch -> spawn -> terminate: settle must wait through all of it.
        ctx.delay(Duration::ZERO, |p: &mut Chain, ctx| {
            p.log.lock().unwrap().push("delay(0)");
            ctx.pid().dispatch_nowait(|p: &mut Chain, ctx| {
                p.log.lock().unwrap().push("dispatch");
                let child = Chain2 { log: p.log.clone() };
                let id = ctx.runtime().unique_id("child");
                ctx.runtime().spawn(&id, child).unwrap();
            });
        });
    }
}
struct Chain2 {
    log: Arc<Mutex<Vec<&'static str>>>,
}
impl Process for Chain2 {
    fn initialize(&mut self, ctx: &mut Context<Self>) {
        self.log.lock().unwrap().push("spawn");
        ctx.terminate_self();
    }
    fn finalize(&mut self, _: &mut Context<Self>) {
        std::thread::sleep(Duration::from_millis(20));
        self.log.lock().unwrap().push("terminate");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settle_waits_through_delay_zero_then_dispatch_then_spawn_then_terminate() {
    let rt = Runtime::local().await.unwrap();
    rt.clock().pause();
    let log = Arc::new(Mutex::new(Vec::new()));
    rt.spawn("chain", Chain { log: log.clone() }).unwrap();
    within("settle", rt.settle()).await;
    assert_eq!(
        *log.lock().unwrap(),
        vec!["initialize", "delay(0)", "dispatch", "spawn", "terminate"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_link_then_terminate_gives_exited() {
    let rt = Runtime::local().await.unwrap();
    let (r, mut rx) = Recorder::new(false);
    let watcher = rt.spawn("watcher", r).unwrap();
    let target = rt.spawn("target", Counter { n: 0 }).unwrap();
    let t = target.upid().clone();
    watcher
        .dispatch(move |_, ctx: &mut Context<Recorder>| ctx.link(&t))
        .await
        .unwrap();
    target.terminate(true);
    assert_eq!(
        within("exited", rx.recv()).await.unwrap(),
        Seen::Exited(target.upid().clone())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlink_stops_the_exited_notice() {
    let rt = Runtime::local().await.unwrap();
    let (r, mut rx) = Recorder::new(false);
    let watcher = rt.spawn("watcher", r).unwrap();
    let target = rt.spawn("target", Counter { n: 0 }).unwrap();
    let t = target.upid().clone();
    watcher
        .dispatch(move |_, ctx: &mut Context<Recorder>| {
            ctx.link(&t);
            ctx.unlink(&t);
        })
        .await
        .unwrap();
    target.terminate(true);
    target.wait().await;
    rt.settle().await;
    assert!(rx.try_recv().is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_to_an_unknown_id_gives_exited_at_once() {
    let rt = Runtime::local().await.unwrap();
    let (r, mut rx) = Recorder::new(false);
    let watcher = rt.spawn("watcher", r).unwrap();
    let ghost: UPID = format!("ghost@{}", rt.address()).parse().unwrap();
    let g = ghost.clone();
    watcher
        .dispatch(move |_, ctx: &mut Context<Recorder>| ctx.link(&g))
        .await
        .unwrap();
    assert_eq!(
        within("exited", rx.recv()).await.unwrap(),
        Seen::Exited(ghost)
    );
}

struct Slow {
    seen: Arc<AtomicUsize>,
}
impl Process for Slow {
    fn initialize(&mut self, ctx: &mut Context<Self>) {
        ctx.install(|p: &mut Slow, _, _, _m: Ping| {
            p.seen.fetch_add(1, Ordering::SeqCst);
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminate_jumps_ahead_of_queued_events_unless_not_injected() {
    let rt = Runtime::local().await.unwrap();
    for (inject, expect_all) in [(true, false), (false, true)] {
        let seen = Arc::new(AtomicUsize::new(0));
        let id = rt.unique_id("slow");
        let pid = rt.spawn(&id, Slow { seen: seen.clone() }).unwrap();
        // Hold the process busy so the pings queue up behind this dispatch.
        // Wait until that dispatch is running: an injected terminate posted
        // before it starts would jump ahead of it too.
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
        pid.dispatch_nowait(move |_, _| {
            let _ = started_tx.send(());
            let _ = go_rx.recv_timeout(Duration::from_secs(5));
        });
        within("busy", started_rx).await.unwrap();
        for seq in 0..100 {
            rt.post(
                pid.upid(),
                Ping {
                    seq,
                    payload: String::new(),
                },
            );
        }
        assert!(pid.queue_len() >= 100);
        pid.terminate(inject);
        go_tx.send(()).unwrap();
        within("wait", pid.wait()).await;
        let n = seen.load(Ordering::SeqCst);
        if expect_all {
            assert_eq!(n, 100, "a plain terminate runs after queued events");
        } else {
            assert_eq!(n, 0, "an injected terminate jumps the queue");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_message_names_and_undecodable_bodies_are_dropped_and_counted() {
    let rt = Runtime::local().await.unwrap();
    let (r, mut rx) = Recorder::new(false);
    let pid = rt.spawn("rec", r).unwrap();
    #[derive(serde::Serialize, serde::Deserialize)]
    struct Nobody;
    impl libprocess::Message for Nobody {
        const NAME: &'static str = "no.such.Handler";
    }
    rt.post(pid.upid(), Nobody);
    // Same name as Ping, but a body that does not decode as one.
    #[derive(serde::Serialize, serde::Deserialize)]
    struct NotAPing(u8);
    impl libprocess::Message for NotAPing {
        const NAME: &'static str = "example.Ping";
    }
    rt.post(pid.upid(), NotAPing(200));
    rt.post(
        pid.upid(),
        Ping {
            seq: 1,
            payload: String::new(),
        },
    );
    assert!(matches!(
        within("ping", rx.recv()).await.unwrap(),
        Seen::Ping(_, 1)
    ));
    let m = rt.metrics();
    assert_eq!(
        m.value("libprocess/messages_dropped_unknown_name"),
        Some(1.0)
    );
    assert_eq!(
        m.value("libprocess/messages_dropped_undecodable"),
        Some(1.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_terminates_only_its_process() {
    struct Bomb;
    impl Process for Bomb {
        fn initialize(&mut self, ctx: &mut Context<Self>) {
            ctx.install(|_: &mut Bomb, _, _, _m: Ping| panic!("boom"));
        }
    }
    let rt = Runtime::local().await.unwrap();
    let (r, mut rx) = Recorder::new(true);
    let rec = rt.spawn("rec", r).unwrap();
    let bomb = rt.spawn("bomb", Bomb).unwrap();
    let b = bomb.upid().clone();
    rec.dispatch(move |_, ctx: &mut Context<Recorder>| ctx.link(&b))
        .await
        .unwrap();
    rt.post(
        bomb.upid(),
        Ping {
            seq: 0,
            payload: String::new(),
        },
    );
    assert_eq!(
        within("exited", rx.recv()).await.unwrap(),
        Seen::Exited(bomb.upid().clone())
    );
    rt.post(
        rec.upid(),
        Ping {
            seq: 9,
            payload: String::new(),
        },
    );
    assert!(matches!(
        within("ping", rx.recv()).await.unwrap(),
        Seen::Ping(_, 9)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_drop_and_observe_named_messages_and_dispatches() {
    let rt = Runtime::local().await.unwrap();
    let (r, mut rx) = Recorder::new(false);
    let pid = rt.spawn("rec", r).unwrap();
    let dropped = rt.drop_message(MessageMatch::name("example.Ping").to(pid.upid()));
    let observed = rt.future_message(MessageMatch::name("example.Pong"));
    rt.post(
        pid.upid(),
        Ping {
            seq: 1,
            payload: "dropped".into(),
        },
    );
    rt.post(
        pid.upid(),
        Ping {
            seq: 2,
            payload: "kept".into(),
        },
    );
    rt.post(pid.upid(), Pong { seq: 3 });
    let d = within("drop", dropped).await.unwrap();
    assert_eq!(d.decode::<Ping>().unwrap().seq, 1);
    assert_eq!(
        within("observe", observed)
            .await
            .unwrap()
            .decode::<Pong>()
            .unwrap()
            .seq,
        3
    );
    assert!(matches!(rx.recv().await.unwrap(), Seen::Ping(_, 2)));
    assert!(matches!(rx.recv().await.unwrap(), Seen::Pong(_, 3)));

    let all = rt.drop_messages(MessageMatch::name("example.Pong"));
    rt.post(pid.upid(), Pong { seq: 4 });
    rt.post(pid.upid(), Pong { seq: 5 });
    rt.settle().await;
    assert!(rx.try_recv().is_err());
    rt.remove_filter(all);
    rt.post(pid.upid(), Pong { seq: 6 });
    assert!(matches!(
        within("pong", rx.recv()).await.unwrap(),
        Seen::Pong(_, 6)
    ));

    let seen = rt.future_dispatch(pid.upid(), "mark");
    let gone = rt.drop_dispatch(pid.upid(), "skip");
    let r1 = pid.dispatch_labeled("skip_me", |_, _| 1);
    let r2 = pid.dispatch_labeled("mark_me", |_, _| 2);
    within("future dispatch", seen).await.unwrap();
    within("drop dispatch", gone).await.unwrap();
    assert!(r1.await.is_err());
    assert_eq!(r2.await.unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_length_is_visible_as_a_metric() {
    let rt = Runtime::local().await.unwrap();
    let pid = rt.spawn("busy", Counter { n: 0 }).unwrap();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    pid.dispatch_nowait(move |_, _| {
        let _ = go_rx.recv_timeout(Duration::from_secs(5));
    });
    for _ in 0..10 {
        pid.dispatch_nowait(|c: &mut Counter, _| c.n += 1);
    }
    let v = rt
        .metrics()
        .value("__processes__/busy/event_queue_length")
        .unwrap();
    assert!(v >= 10.0, "{v}");
    assert_eq!(rt.queue_len(pid.upid()), Some(v as usize));
    go_tx.send(()).unwrap();
    rt.settle().await;
    assert_eq!(rt.queue_len(pid.upid()), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_events_are_counted_by_kind() {
    let rt = Runtime::local().await.unwrap();
    let pid = rt.spawn("kinds", Counter { n: 0 }).unwrap();
    let probe = pid.queue_probe();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
    pid.dispatch_nowait(move |_, _| {
        let _ = started_tx.send(());
        let _ = go_rx.recv_timeout(Duration::from_secs(5));
    });
    started_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    // The blocked dispatch is being handled: not counted.
    for _ in 0..10 {
        pid.dispatch_nowait(|c: &mut Counter, _| c.n += 1);
    }
    for seq in 0..3 {
        rt.post(pid.upid(), Pong { seq });
    }
    let want = libprocess::QueueCounts {
        messages: 3,
        dispatches: 10,
        http_requests: 0,
    };
    assert_eq!(pid.queue_counts(), want);
    assert_eq!(probe(), Some(want));
    go_tx.send(()).unwrap();
    rt.settle().await;
    assert_eq!(pid.queue_counts(), libprocess::QueueCounts::default());
    pid.terminate(true);
    pid.wait().await;
    assert_eq!(probe(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_linkers_links_do_not_reach_a_new_process_with_its_id() {
    let rt = Runtime::local().await.unwrap();
    let target = rt.spawn("target", Counter { n: 0 }).unwrap();
    let (r, _rx_old) = Recorder::new(false);
    let old = rt.spawn("watcher", r).unwrap();
    let t = target.upid().clone();
    old.dispatch(move |_, ctx: &mut Context<Recorder>| ctx.link(&t))
        .await
        .unwrap();
    old.terminate(true);
    old.wait().await;
    // A new process takes the id; it never linked to the target.
    let (r, mut rx_new) = Recorder::new(false);
    rt.spawn("watcher", r).unwrap();
    target.terminate(true);
    target.wait().await;
    rt.settle().await;
    assert!(
        rx_new.try_recv().is_err(),
        "no exited for a link the new process never made"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_to_an_invalid_upid_are_dropped_and_counted() {
    let rt = Runtime::local().await.unwrap();
    rt.post(
        &UPID::none(),
        Ping {
            seq: 1,
            payload: String::new(),
        },
    );
    let port0: UPID = "x@127.0.0.1:0".parse().unwrap();
    rt.post(
        &port0,
        Ping {
            seq: 2,
            payload: String::new(),
        },
    );
    assert_eq!(
        rt.metrics()
            .value("libprocess/messages_dropped_invalid_upid"),
        Some(2.0)
    );
    assert_eq!(rt.outgoing_connections(), 0, "no connection attempt");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminate_by_a_remote_upid_leaves_a_local_process_with_the_same_id() {
    let rt = Runtime::local().await.unwrap();
    let pid = rt.spawn("same", Counter { n: 0 }).unwrap();
    let remote: UPID = "same@127.0.0.2:5050".parse().unwrap();
    rt.terminate(&remote, true);
    rt.settle().await;
    assert!(rt.exists("same"));
    assert_eq!(pid.dispatch(|c: &mut Counter, _| c.n).await.unwrap(), 0);
}
