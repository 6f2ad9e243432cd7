//! The allocator actor: bursts share one run, offers leave in one batch, periodic runs follow the
//! (paused) clock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use libprocess::Runtime;
use mesos_allocator::{
    AgentSpec, Allocation, AllocatorProcess, FrameworkSpec, HierarchicalAllocator, Options,
};
use mesos_api::{AgentID, FrameworkID, Resources};

type Batches = Arc<Mutex<Vec<Vec<Allocation>>>>;

async fn start(rt: &Runtime) -> (libprocess::PID<AllocatorProcess>, Batches) {
    let batches: Batches = Arc::new(Mutex::new(Vec::new()));
    let b = batches.clone();
    let p = AllocatorProcess::new(
        Box::new(HierarchicalAllocator::new(Options::default())),
        Duration::from_secs(1),
        Box::new(move |offers| b.lock().unwrap().push(offers)),
    );
    (rt.spawn("allocator", p).unwrap(), batches)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_agents_shares_one_run_and_one_batch() {
    let rt = Runtime::local().await.unwrap();
    rt.clock().pause();
    let (pid, batches) = start(&rt).await;
    pid.dispatch(|p: &mut AllocatorProcess, _| {
        p.allocator_mut().add_framework(
            &FrameworkID::new("f"),
            FrameworkSpec::with_roles(["r"]),
            &[],
            true,
        )
    })
    .await
    .unwrap();
    // Hold the actor busy so the 100 registrations queue up behind this dispatch.
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    pid.dispatch_nowait(move |_, _| {
        let _ = go_rx.recv_timeout(Duration::from_secs(5));
    });
    for i in 0..100 {
        pid.dispatch_nowait(move |p: &mut AllocatorProcess, ctx| {
            let spec = AgentSpec {
                attributes: Default::default(),
                hostname: format!("h{i}"),
                total: Resources::parse("cpus:1;mem:128", "*").unwrap(),
                remote: false,
            };
            p.add_agent(ctx, AgentID::new(format!("a{i}")), spec, &[]);
        });
    }
    go_tx.send(()).unwrap();
    rt.settle().await;
    let runs = pid
        .dispatch(|p: &mut AllocatorProcess, _| p.runs())
        .await
        .unwrap();
    assert_eq!(runs, 1, "one run for the whole burst");
    let b = batches.lock().unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].len(), 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn periodic_runs_follow_the_allocation_interval() {
    let rt = Runtime::local().await.unwrap();
    rt.clock().pause();
    let (pid, _batches) = start(&rt).await;
    rt.settle().await;
    let runs = || async {
        pid.dispatch(|p: &mut AllocatorProcess, _| p.runs())
            .await
            .unwrap()
    };
    assert_eq!(runs().await, 0);
    for expect in 1..=3 {
        rt.clock().advance(Duration::from_secs(1));
        rt.settle().await;
        assert_eq!(runs().await, expect);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declined_resources_come_back_after_the_filter_on_the_actor_clock() {
    let rt = Runtime::local().await.unwrap();
    rt.clock().pause();
    let (pid, batches) = start(&rt).await;
    pid.dispatch(|p: &mut AllocatorProcess, ctx| {
        p.add_framework(ctx, FrameworkID::new("f"), FrameworkSpec::with_roles(["r"]));
        let spec = AgentSpec {
            attributes: Default::default(),
            hostname: "h".into(),
            total: Resources::parse("cpus:1;mem:128", "*").unwrap(),
            remote: false,
        };
        p.add_agent(ctx, AgentID::new("a"), spec, &[]);
    })
    .await
    .unwrap();
    rt.settle().await;
    let offer = batches.lock().unwrap().concat().pop().expect("an offer");
    pid.dispatch(move |p: &mut AllocatorProcess, ctx| {
        p.recover_resources(
            ctx,
            offer.framework_id,
            offer.agent_id,
            &offer.resources,
            Some(Duration::from_secs(5)),
        )
    })
    .await
    .unwrap();
    let count = || batches.lock().unwrap().concat().len();
    for _ in 0..4 {
        rt.clock().advance(Duration::from_secs(1));
        rt.settle().await;
    }
    assert_eq!(count(), 1, "filtered for 5 s");
    rt.clock().advance(Duration::from_secs(1));
    rt.settle().await;
    assert_eq!(count(), 2, "offered again once the filter expired");
}
