//! The offer cycle through the real master and allocator actors, with in-process stand-ins for
//! an agent and a scheduler talking the wire messages (virtual time where filters and health
//! checks need it).

use std::time::Duration;

use libprocess::{Context, Process, Runtime, PID, UPID};
use mesos_api::messages::*;
use mesos_api::protocol::framework::{
    AgentInfo, FrameworkCapability, FrameworkCapabilityType, FrameworkInfo,
};
use mesos_api::protocol::offer::{Filters, Launch, Offer, OfferOperation, OperationType};
use mesos_api::protocol::scheduler::*;
use mesos_api::protocol::task::{Reason, Source, TaskInfo, TaskState, TaskStatus};
use mesos_api::{AgentID, FrameworkID, OfferID, Resources, TaskID};
use mesos_master::{Master, MasterFlags};
use testkit::within;
use tokio::sync::mpsc;

const LIMIT: Duration = Duration::from_secs(10);

/// Everything the stand-in agent receives.
#[derive(Debug)]
enum AgentSaw {
    Registered(AgentRegistered),
    Run(Box<RunTask>),
    Kill(#[allow(dead_code)] KillTask),
    Ack(StatusUpdateAcknowledgement),
    Reregistered(AgentReregistered),
    Shutdown(ShutdownFramework),
    Ping,
}

struct FakeAgent {
    tx: mpsc::UnboundedSender<AgentSaw>,
    answer_pings: bool,
}

impl Process for FakeAgent {
    fn initialize(&mut self, ctx: &mut Context<Self>) {
        ctx.install_named(
            AgentRegistered::NAME,
            |a: &mut FakeAgent, _, _, m: AgentRegistered| {
                let _ = a.tx.send(AgentSaw::Registered(m));
            },
        );
        ctx.install_named(
            AgentReregistered::NAME,
            |a: &mut FakeAgent, _, _, m: AgentReregistered| {
                let _ = a.tx.send(AgentSaw::Reregistered(m));
            },
        );
        ctx.install_named(
            ShutdownFramework::NAME,
            |a: &mut FakeAgent, _, _, m: ShutdownFramework| {
                let _ = a.tx.send(AgentSaw::Shutdown(m));
            },
        );
        ctx.install_named(RunTask::NAME, |a: &mut FakeAgent, _, _, m: RunTask| {
            let _ = a.tx.send(AgentSaw::Run(Box::new(m)));
        });
        ctx.install_named(KillTask::NAME, |a: &mut FakeAgent, _, _, m: KillTask| {
            let _ = a.tx.send(AgentSaw::Kill(m));
        });
        ctx.install_named(
            StatusUpdateAcknowledgement::NAME,
            |a: &mut FakeAgent, _, _, m: StatusUpdateAcknowledgement| {
                let _ = a.tx.send(AgentSaw::Ack(m));
            },
        );
        ctx.install_named(
            PingAgent::NAME,
            |a: &mut FakeAgent, ctx, from, _: PingAgent| {
                let _ = a.tx.send(AgentSaw::Ping);
                if a.answer_pings {
                    ctx.send_named(&from, PongAgent::NAME, PongAgent {});
                }
            },
        );
    }
}

struct FakeScheduler {
    tx: mpsc::UnboundedSender<Event>,
}

impl Process for FakeScheduler {
    fn initialize(&mut self, ctx: &mut Context<Self>) {
        ctx.install_named(Event::NAME, |s: &mut FakeScheduler, _, _, e: Event| {
            let _ = s.tx.send(e);
        });
    }
}

struct Cluster {
    rt: Runtime,
    master: PID<Master>,
    agent: PID<FakeAgent>,
    agent_rx: mpsc::UnboundedReceiver<AgentSaw>,
    agent_id: AgentID,
}

/// The stand-in agent's first registration.
fn registration() -> RegisterAgent {
    RegisterAgent {
        agent: AgentInfo {
            hostname: "agent1".into(),
            port: 5051,
            resources: Resources::parse("cpus:2;mem:1024", "*").unwrap(),
            attributes: mesos_api::Attributes::parse("rack:r1").unwrap(),
            id: None,
            domain: None,
        },
        version: "1.11.0".into(),
        capabilities: vec![],
        checkpointed_resources: Resources::new(),
    }
}

async fn cluster(answer_pings: bool) -> Cluster {
    let rt = Runtime::local().await.unwrap();
    rt.clock().pause();
    let master = rt
        .spawn("master", Master::new(MasterFlags::default()))
        .unwrap();
    let (tx, mut agent_rx) = mpsc::unbounded_channel();
    let agent = rt
        .spawn("slave(1)", FakeAgent { tx, answer_pings })
        .unwrap();
    let m = master.upid().clone();
    agent
        .dispatch(move |_, ctx: &mut Context<FakeAgent>| {
            ctx.send_named(&m, RegisterAgent::NAME, registration());
        })
        .await
        .unwrap();
    let agent_id = match within(LIMIT, "registration", agent_rx.recv())
        .await
        .unwrap()
    {
        AgentSaw::Registered(r) => r.agent_id,
        other => panic!("expected registration, got {other:?}"),
    };
    Cluster {
        rt,
        master,
        agent,
        agent_rx,
        agent_id,
    }
}

struct Sched {
    pid: PID<FakeScheduler>,
    rx: mpsc::UnboundedReceiver<Event>,
    master: UPID,
    id: Option<FrameworkID>,
}

impl Sched {
    async fn start(c: &Cluster, name: &str, capabilities: &[FrameworkCapabilityType]) -> Sched {
        let (tx, rx) = mpsc::unbounded_channel();
        let id = c.rt.unique_id(name);
        let pid = c.rt.spawn(&id, FakeScheduler { tx }).unwrap();
        let mut s = Sched {
            pid,
            rx,
            master: c.master.upid().clone(),
            id: None,
        };
        let info = FrameworkInfo {
            user: "root".into(),
            name: name.into(),
            id: None,
            failover_timeout: 0.0,
            checkpoint: false,
            role: None,
            roles: vec![],
            hostname: None,
            principal: None,
            webui_url: None,
            capabilities: capabilities
                .iter()
                .map(|c| FrameworkCapability { kind: Some(*c) })
                .collect(),
            labels: None,
        };
        let mut call = Call::new(CallType::Subscribe, None);
        call.subscribe = Some(Subscribe {
            framework_info: info,
            suppressed_roles: vec![],
            offer_constraints: None,
        });
        // Retried as drivers do: a master drops calls until it has recovered its registry.
        let start = std::time::Instant::now();
        let ev = loop {
            s.call(call.clone()).await;
            match tokio::time::timeout(Duration::from_millis(500), s.rx.recv()).await {
                Ok(Some(ev)) => break ev,
                _ => assert!(start.elapsed() < LIMIT, "no SUBSCRIBED within {LIMIT:?}"),
            }
        };
        assert_eq!(ev.kind, Some(EventType::Subscribed), "{ev:?}");
        s.id = Some(ev.subscribed.unwrap().framework_id);
        s
    }

    async fn call(&self, call: Call) {
        let m = self.master.clone();
        self.pid
            .dispatch(move |_, ctx: &mut Context<FakeScheduler>| {
                ctx.send_named(&m, Call::NAME, call)
            })
            .await
            .unwrap();
    }

    fn new_call(&self, kind: CallType) -> Call {
        Call::new(kind, self.id.clone())
    }

    async fn next(&mut self, what: &str) -> Event {
        within(LIMIT, what, self.rx.recv()).await.unwrap()
    }

    async fn offers(&mut self) -> Vec<Offer> {
        loop {
            let e = self.next("OFFERS").await;
            if e.kind == Some(EventType::Offers) {
                return e.offers.unwrap().offers;
            }
        }
    }

    async fn update(&mut self) -> TaskStatus {
        loop {
            let e = self.next("UPDATE").await;
            if e.kind == Some(EventType::Update) {
                return e.update.unwrap().status;
            }
        }
    }

    async fn launch(&self, offer: &OfferID, task: TaskInfo, refuse: Option<f64>) {
        let mut call = self.new_call(CallType::Accept);
        call.accept = Some(Accept {
            offer_ids: vec![offer.clone()],
            operations: vec![OfferOperation {
                launch: Some(Launch {
                    task_infos: vec![task],
                }),
                ..OfferOperation::new(OperationType::Launch)
            }],
            filters: refuse.map(|r| Filters { refuse_seconds: r }),
        });
        self.call(call).await;
    }
}

fn task(id: &str, agent: &AgentID, res: &str) -> TaskInfo {
    testkit::command_task(id, agent, "echo hi", res)
}

async fn agent_next(c: &mut Cluster) -> AgentSaw {
    loop {
        match within(LIMIT, "agent message", c.agent_rx.recv())
            .await
            .unwrap()
        {
            AgentSaw::Ping => continue,
            other => return other,
        }
    }
}

async fn agent_update(c: &Cluster, fid: &FrameworkID, task: &str, state: TaskState, uuid: u8) {
    let m = c.master.upid().clone();
    let mut status = TaskStatus::new(TaskID::new(task), state);
    status.source = Some(Source::Executor);
    status.uuid = Some(vec![uuid; 16]);
    let u = StatusUpdate {
        framework_id: fid.clone(),
        executor_id: None,
        agent_id: c.agent_id.clone(),
        status,
        timestamp: 1.0,
        latest_state: None,
    };
    c.agent
        .dispatch(move |_, ctx: &mut Context<FakeAgent>| ctx.send_named(&m, StatusUpdate::NAME, u))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_agent_is_offered_to_a_subscribed_framework() {
    let c = cluster(true).await;
    let master_id = c
        .master
        .dispatch(|m: &mut Master, _| m.id().to_string())
        .await
        .unwrap();
    assert_eq!(c.agent_id.value, format!("{master_id}-S0"));
    let mut s = Sched::start(&c, "fw", &[]).await;
    assert_eq!(s.id.as_ref().unwrap().value, format!("{master_id}-0000"));
    let offers = s.offers().await;
    assert_eq!(offers.len(), 1);
    let o = &offers[0];
    assert_eq!(o.id.value, format!("{master_id}-O0"));
    assert_eq!(o.agent_id, c.agent_id);
    assert_eq!(o.hostname, "agent1");
    assert_eq!(o.resources.cpus(), 2.0);
    assert_eq!(o.resources.mem(), 1024.0);
    assert_eq!(o.attributes.0.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_launched_task_reaches_the_agent_and_updates_and_acks_flow_both_ways() {
    let mut c = cluster(true).await;
    let mut s = Sched::start(&c, "fw", &[]).await;
    let fid = s.id.clone().unwrap();
    let o = s.offers().await.remove(0);
    s.launch(&o.id, task("t1", &c.agent_id, "cpus:1;mem:128"), None)
        .await;
    match agent_next(&mut c).await {
        AgentSaw::Run(r) => {
            assert_eq!(r.task.task_id.value, "t1");
            assert_eq!(r.framework.id.as_ref(), Some(&fid));
        }
        other => panic!("expected RunTask, got {other:?}"),
    }
    agent_update(&c, &fid, "t1", TaskState::Running, 7).await;
    let st = s.update().await;
    assert_eq!(st.state, TaskState::Running);
    assert_eq!(st.uuid, Some(vec![7; 16]));
    assert_eq!(st.agent_id.as_ref(), Some(&c.agent_id));
    let mut ack = s.new_call(CallType::Acknowledge);
    ack.acknowledge = Some(Acknowledge {
        agent_id: c.agent_id.clone(),
        task_id: TaskID::new("t1"),
        uuid: vec![7; 16],
    });
    s.call(ack).await;
    match agent_next(&mut c).await {
        AgentSaw::Ack(a) => assert_eq!((a.task_id.value.as_str(), a.uuid), ("t1", vec![7; 16])),
        other => panic!("expected an acknowledgement, got {other:?}"),
    }
    let tasks = c
        .master
        .dispatch(move |m: &mut Master, _| m.tasks_of(&fid))
        .await
        .unwrap();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].state, TaskState::Running);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn launching_on_an_unknown_offer_is_lost_with_invalid_offers() {
    let c = cluster(true).await;
    let mut s = Sched::start(&c, "fw", &[]).await;
    let _ = s.offers().await;
    s.launch(
        &OfferID::new("no-such-offer"),
        task("t1", &c.agent_id, "cpus:1"),
        None,
    )
    .await;
    let st = s.update().await;
    assert_eq!(
        (st.state, st.reason, st.source),
        (
            TaskState::Lost,
            Some(Reason::InvalidOffers),
            Some(Source::Master)
        )
    );
    assert!(
        st.uuid.is_none(),
        "master-generated updates are not acknowledged"
    );

    // A partition-aware framework gets DROPPED instead.
    let mut pa = Sched::start(&c, "pa", &[FrameworkCapabilityType::PartitionAware]).await;
    pa.launch(
        &OfferID::new("gone"),
        task("t2", &c.agent_id, "cpus:1"),
        None,
    )
    .await;
    assert_eq!(pa.update().await.state, TaskState::Dropped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_task_is_an_error_and_its_resources_are_offered_again() {
    let c = cluster(true).await;
    let mut s = Sched::start(&c, "fw", &[]).await;
    let o = s.offers().await.remove(0);
    s.launch(&o.id, task("big", &c.agent_id, "cpus:64"), Some(0.0))
        .await;
    let st = s.update().await;
    assert_eq!(
        (st.state, st.reason),
        (TaskState::Error, Some(Reason::TaskInvalid))
    );
    assert!(st.message.unwrap().contains("not in the offered"));
    c.rt.clock().advance(Duration::from_secs(1));
    let again = s.offers().await;
    assert_eq!(again[0].resources.cpus(), 2.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decline_with_a_filter_holds_the_resources_until_it_expires() {
    let c = cluster(true).await;
    let mut s = Sched::start(&c, "fw", &[]).await;
    let o = s.offers().await.remove(0);
    let mut d = s.new_call(CallType::Decline);
    d.decline = Some(Decline {
        offer_ids: vec![o.id],
        filters: Some(Filters {
            refuse_seconds: 10.0,
        }),
    });
    s.call(d).await;
    // Let the decline reach the allocator before time moves.
    c.rt.settle().await;
    for _ in 0..9 {
        c.rt.clock().advance(Duration::from_secs(1));
        c.rt.settle().await;
    }
    assert!(s.rx.try_recv().is_err(), "filtered for 10 s");
    c.rt.clock().advance(Duration::from_secs(1));
    assert_eq!(s.offers().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_an_unknown_task_is_lost_from_the_master() {
    let c = cluster(true).await;
    let mut s = Sched::start(&c, "fw", &[]).await;
    let mut k = s.new_call(CallType::Kill);
    k.kill = Some(Kill {
        task_id: TaskID::new("nope"),
        agent_id: None,
        kill_policy: None,
    });
    s.call(k).await;
    let st = s.update().await;
    assert_eq!(
        (st.state, st.source),
        (TaskState::Lost, Some(Source::Master))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_reports_known_tasks_and_unknown_ones() {
    let mut c = cluster(true).await;
    let mut s = Sched::start(&c, "fw", &[]).await;
    let fid = s.id.clone().unwrap();
    let o = s.offers().await.remove(0);
    s.launch(&o.id, task("t1", &c.agent_id, "cpus:1;mem:64"), None)
        .await;
    let _ = agent_next(&mut c).await;
    agent_update(&c, &fid, "t1", TaskState::Running, 1).await;
    assert_eq!(s.update().await.state, TaskState::Running);
    // Implicit: every non-terminal task.
    s.call(s.new_call(CallType::Reconcile)).await;
    let st = s.update().await;
    assert_eq!(
        (st.task_id.value.as_str(), st.state, st.reason),
        ("t1", TaskState::Running, Some(Reason::Reconciliation))
    );
    assert!(st.uuid.is_none());
    // Explicit: an unknown task on a registered agent.
    let mut r = s.new_call(CallType::Reconcile);
    r.reconcile = Some(Reconcile {
        tasks: vec![ReconcileTask {
            task_id: TaskID::new("ghost"),
            agent_id: Some(c.agent_id.clone()),
        }],
    });
    s.call(r).await;
    let st = s.update().await;
    assert_eq!(
        (st.task_id.value.as_str(), st.state),
        ("ghost", TaskState::Lost)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_subscription_fails_the_old_one_over() {
    let c = cluster(true).await;
    let mut first = Sched::start(&c, "fw", &[]).await;
    let fid = first.id.clone().unwrap();
    let (tx, mut rx2) = mpsc::unbounded_channel();
    let second = c.rt.spawn("second", FakeScheduler { tx }).unwrap();
    let m = c.master.upid().clone();
    let mut call = Call::new(CallType::Subscribe, Some(fid.clone()));
    let info = framework_info_with_id(&fid);
    call.subscribe = Some(Subscribe {
        framework_info: info,
        suppressed_roles: vec![],
        offer_constraints: None,
    });
    second
        .dispatch(move |_, ctx: &mut Context<FakeScheduler>| ctx.send_named(&m, Call::NAME, call))
        .await
        .unwrap();
    let ev = within(LIMIT, "SUBSCRIBED", rx2.recv()).await.unwrap();
    assert_eq!(
        ev.subscribed.unwrap().framework_id,
        fid,
        "the same id is kept"
    );
    loop {
        let e = first.next("ERROR").await;
        if e.kind == Some(EventType::Error) {
            assert_eq!(e.error.unwrap().message, "Framework failed over");
            break;
        }
    }
}

fn framework_info_with_id(fid: &FrameworkID) -> FrameworkInfo {
    FrameworkInfo {
        user: "root".into(),
        name: "fw".into(),
        id: Some(fid.clone()),
        failover_timeout: 0.0,
        checkpoint: false,
        role: None,
        roles: vec![],
        hostname: None,
        principal: None,
        webui_url: None,
        capabilities: vec![],
        labels: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_that_stops_answering_pings_is_unreachable_and_frameworks_hear_failure() {
    let mut c = cluster(false).await;
    let mut s = Sched::start(&c, "fw", &[]).await;
    let fid = s.id.clone().unwrap();
    let o = s.offers().await.remove(0);
    s.launch(&o.id, task("t1", &c.agent_id, "cpus:1;mem:64"), None)
        .await;
    let _ = agent_next(&mut c).await;
    // Five missed pings, then removal at the next check.
    for _ in 0..6 {
        c.rt.clock().advance(Duration::from_secs(15));
        c.rt.settle().await;
    }
    let mut saw_lost = false;
    let mut saw_failure = false;
    while !(saw_lost && saw_failure) {
        let e = s.next("FAILURE and LOST").await;
        match e.kind {
            Some(EventType::Update) => {
                let st = e.update.unwrap().status;
                assert_eq!(
                    (st.task_id.value.as_str(), st.state),
                    ("t1", TaskState::Lost)
                );
                saw_lost = true;
            }
            Some(EventType::Failure) => {
                assert_eq!(e.failure.unwrap().agent_id.as_ref(), Some(&c.agent_id));
                saw_failure = true;
            }
            _ => {}
        }
    }
    let n = c
        .master
        .dispatch(|m: &mut Master, _| m.agent_count())
        .await
        .unwrap();
    assert_eq!(n, 0);
    let _ = fid;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tasks_and_an_unknown_framework_get_clear_errors_and_the_master_keeps_serving() {
    let c = cluster(true).await;
    let mut s = Sched::start(&c, "fw", &[]).await;
    let o = s.offers().await.remove(0);
    // One ACCEPT: a valid task, a task reusing its id, and a task with no resources.
    let ok = task("same", &c.agent_id, "cpus:1;mem:64");
    let dup = task("same", &c.agent_id, "cpus:0.5");
    let empty = task("empty", &c.agent_id, "cpus:1");
    let empty = TaskInfo {
        resources: Resources::new(),
        ..empty
    };
    let mut call = s.new_call(CallType::Accept);
    call.accept = Some(Accept {
        offer_ids: vec![o.id.clone()],
        operations: vec![OfferOperation {
            launch: Some(Launch {
                task_infos: vec![ok, dup, empty],
            }),
            ..OfferOperation::new(OperationType::Launch)
        }],
        filters: Some(Filters {
            refuse_seconds: 0.0,
        }),
    });
    s.call(call).await;
    let mut errors = Vec::new();
    while errors.len() < 2 {
        let st = s.update().await;
        assert_eq!(st.state, TaskState::Error, "{st:?}");
        assert_eq!(st.reason, Some(Reason::TaskInvalid));
        errors.push((st.task_id.value, st.message.unwrap_or_default()));
    }
    errors.sort();
    assert_eq!(errors[0].0, "empty");
    assert!(errors[0].1.contains("uses no resources"), "{errors:?}");
    assert_eq!(errors[1].0, "same");
    assert!(errors[1].1.contains("already in use"), "{errors:?}");
    // The valid one reached the agent.
    let mut c = c;
    loop {
        if let AgentSaw::Run(r) = agent_next(&mut c).await {
            assert_eq!(r.task.task_id.value, "same");
            assert_eq!(r.task.resources.cpus(), 1.0);
            break;
        }
    }
    // A call naming a framework the master does not know: ERROR to its sender.
    let mut stranger = Sched::start(&c, "stranger", &[]).await;
    let mut bogus = Call::new(
        CallType::Decline,
        Some(FrameworkID::new("no-such-framework")),
    );
    bogus.decline = Some(Decline::default());
    stranger.call(bogus).await;
    let mut offered = None;
    loop {
        let e = stranger.next("ERROR").await;
        if e.kind == Some(EventType::Offers) {
            offered = e.offers.map(|o| o.offers);
        }
        if e.kind == Some(EventType::Error) {
            assert!(e.error.unwrap().message.contains("no-such-framework"));
            break;
        }
    }
    // Still serving: what the first framework left goes to the (lower-share) second one.
    let again = match offered {
        Some(o) => o,
        None => {
            c.rt.clock().advance(Duration::from_secs(1));
            stranger.offers().await
        }
    };
    assert_eq!(again[0].resources.cpus(), 1.0);
}

/// After a restart from a durable registry, explicit reconciliation of an unknown task on an
/// agent that has not reregistered yet gets no answer (the framework retries, as with Mesos);
/// once `--agent_reregister_timeout` has passed the agent is unreachable and the same question
/// is answered (LOST for a framework that is not partition-aware, UNREACHABLE for one that is).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_waits_for_agents_of_the_recovered_registry() {
    let work = std::env::temp_dir().join(format!("master-reg-{}", mesos_api::ids::new_uuid()));
    let flags = || MasterFlags {
        registry: "replicated_log".into(),
        work_dir: Some(work.clone()),
        agent_reregister_timeout: Duration::from_secs(2),
        ..MasterFlags::default()
    };
    // A first master admits the agent (stored in <work_dir>/registry.json), then stops.
    let rt = Runtime::local().await.unwrap();
    let first = rt.spawn("master", Master::new(flags())).unwrap();
    let (tx, mut agent_rx) = mpsc::unbounded_channel();
    let agent = rt
        .spawn(
            "slave(1)",
            FakeAgent {
                tx,
                answer_pings: true,
            },
        )
        .unwrap();
    // Sent once, at once: the master is still recovering its (empty) registry and keeps the
    // registration until it has (Mesos would drop it and wait for the agent to retry).
    let m = first.upid().clone();
    agent
        .dispatch(move |_, ctx: &mut Context<FakeAgent>| {
            ctx.send_named(&m, RegisterAgent::NAME, registration());
        })
        .await
        .unwrap();
    let agent_id = match within(LIMIT, "registration", agent_rx.recv()).await {
        Some(AgentSaw::Registered(r)) => r.agent_id,
        other => panic!("expected registration, got {other:?}"),
    };
    assert_eq!(
        rt.metrics().value("master/dropped_messages"),
        Some(0.0),
        "the registration was not dropped"
    );
    first.terminate(true);
    first.wait().await;

    // The restarted master knows the agent only from its registry.
    let master = rt.spawn("master2", Master::new(flags())).unwrap();
    let c = Cluster {
        rt,
        master,
        agent,
        agent_rx,
        agent_id: agent_id.clone(),
    };
    let mut plain = Sched::start(&c, "plain", &[]).await;
    let mut aware = Sched::start(&c, "aware", &[FrameworkCapabilityType::PartitionAware]).await;
    let ask = |s: &Sched, agent: Option<&AgentID>| {
        let mut r = s.new_call(CallType::Reconcile);
        r.reconcile = Some(Reconcile {
            tasks: vec![ReconcileTask {
                task_id: TaskID::new("t"),
                agent_id: agent.cloned(),
            }],
        });
        r
    };
    for s in [&plain, &aware] {
        s.call(ask(s, Some(&agent_id))).await;
        s.call(ask(s, None)).await;
    }
    // No answer while the agent may still come back.
    for s in [&mut plain, &mut aware] {
        let early = tokio::time::timeout(Duration::from_millis(500), async {
            loop {
                match s.rx.recv().await {
                    Some(e) if e.kind == Some(EventType::Update) => return e,
                    Some(_) => continue,
                    None => std::future::pending().await,
                }
            }
        })
        .await;
        assert!(early.is_err(), "answered during recovery: {early:?}");
    }
    // After --agent_reregister_timeout: the agent is unreachable and the answers come.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for (s, want) in [
        (&mut plain, TaskState::Lost),
        (&mut aware, TaskState::Unreachable),
    ] {
        for agent in [Some(&agent_id), None] {
            s.call(ask(s, agent)).await;
            let st = s.update().await;
            let expected = match (agent, want) {
                // With no agent named, the task is simply unknown.
                (None, TaskState::Unreachable) => TaskState::Unknown,
                _ => want,
            };
            assert_eq!(
                (st.task_id.value.as_str(), st.state),
                ("t", expected),
                "{st:?}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&work);
}

/// After a master failover the new master learns of a framework from a reregistering agent;
/// if the framework never resubscribes it is removed (its tasks shut down) once its
/// `failover_timeout` has passed, counted from the failover; one that resubscribes in time
/// keeps its tasks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_framework_that_does_not_come_back_after_a_failover_is_removed_after_its_failover_timeout(
) {
    let rt = Runtime::local().await.unwrap();
    rt.clock().pause();
    let master = rt
        .spawn("master", Master::new(MasterFlags::default()))
        .unwrap();
    let (tx, agent_rx) = mpsc::unbounded_channel();
    let agent = rt
        .spawn(
            "slave(1)",
            FakeAgent {
                tx,
                answer_pings: true,
            },
        )
        .unwrap();
    let agent_id = AgentID::new("old-master-S0");
    let gone = FrameworkID::new("gone-fw");
    let back = FrameworkID::new("back-fw");
    let mut infos = Vec::new();
    let mut tasks = Vec::new();
    for (fid, timeout) in [(&gone, 30.0), (&back, 30.0)] {
        let mut info = framework_info_with_id(fid);
        info.failover_timeout = timeout;
        infos.push(info);
        tasks.push(mesos_api::messages::Task {
            name: "t".into(),
            task_id: TaskID::new(format!("{}-task", fid.value)),
            framework_id: fid.clone(),
            executor_id: None,
            agent_id: agent_id.clone(),
            state: TaskState::Running,
            resources: Resources::parse("cpus:1;mem:64", "*").unwrap(),
            statuses: vec![],
            status_update_state: None,
            status_update_uuid: None,
            labels: None,
            user: None,
            details: None,
        });
    }
    let m = master.upid().clone();
    let info = AgentInfo {
        hostname: "agent1".into(),
        port: 5051,
        resources: Resources::parse("cpus:2;mem:1024", "*").unwrap(),
        attributes: Default::default(),
        id: Some(agent_id.clone()),
        domain: None,
    };
    agent
        .dispatch(move |_, ctx: &mut Context<FakeAgent>| {
            let rereg = ReregisterAgent {
                agent: info,
                version: "1.11.0".into(),
                capabilities: vec![],
                checkpointed_resources: Resources::new(),
                executor_infos: vec![],
                tasks,
                frameworks: infos,
            };
            ctx.send_named(&m, ReregisterAgent::NAME, rereg);
        })
        .await
        .unwrap();
    let mut c = Cluster {
        rt,
        master,
        agent,
        agent_rx,
        agent_id,
    };
    match agent_next(&mut c).await {
        AgentSaw::Reregistered(r) => assert_eq!(r.agent_id, c.agent_id),
        other => panic!("expected reregistration, got {other:?}"),
    }
    // One framework comes back (with its id) before the timeout and keeps its task.
    let (tx, mut rx) = mpsc::unbounded_channel();
    let spid = c.rt.spawn("back-scheduler", FakeScheduler { tx }).unwrap();
    let mut call = Call::new(CallType::Subscribe, Some(back.clone()));
    call.subscribe = Some(Subscribe {
        framework_info: framework_info_with_id(&back),
        suppressed_roles: vec![],
        offer_constraints: None,
    });
    let mpid = c.master.upid().clone();
    spid.dispatch(move |_, ctx: &mut Context<FakeScheduler>| {
        ctx.send_named(&mpid, Call::NAME, call)
    })
    .await
    .unwrap();
    let ev = within(LIMIT, "SUBSCRIBED", rx.recv()).await.unwrap();
    assert_eq!(ev.kind, Some(EventType::Subscribed), "{ev:?}");
    // Nothing is shut down before the failover timeout ...
    c.rt.clock().advance(Duration::from_secs(29));
    tokio::time::sleep(Duration::from_millis(200)).await;
    while let Ok(saw) = c.agent_rx.try_recv() {
        assert!(
            !matches!(saw, AgentSaw::Shutdown(_)),
            "shut down early: {saw:?}"
        );
    }
    // ... and only the framework that did not come back is after it.
    c.rt.clock().advance(Duration::from_secs(2));
    match agent_next(&mut c).await {
        AgentSaw::Shutdown(s) => assert_eq!(s.framework_id, gone),
        other => panic!("expected the framework shut down, got {other:?}"),
    }
    c.rt.clock().advance(Duration::from_secs(60));
    tokio::time::sleep(Duration::from_millis(200)).await;
    while let Ok(saw) = c.agent_rx.try_recv() {
        assert!(
            !matches!(saw, AgentSaw::Shutdown(_)),
            "the framework that came back was shut down: {saw:?}"
        );
    }
}

/// Registers `n` stand-in agents from one runtime (one connection) with a master started with
/// `cap` agents per connection; returns how many were registered and the refusals counted.
async fn register_from_one_connection(n: usize, cap: usize) -> (usize, f64) {
    let master_rt = Runtime::local().await.unwrap();
    let master = master_rt
        .spawn(
            "master",
            Master::new(MasterFlags {
                max_agents_per_connection: cap,
                ..MasterFlags::default()
            }),
        )
        .unwrap();
    let agents_rt = Runtime::local().await.unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    for i in 1..=n {
        let a = agents_rt
            .spawn(
                &format!("slave({i})"),
                FakeAgent {
                    tx: tx.clone(),
                    answer_pings: true,
                },
            )
            .unwrap();
        let m = master.upid().clone();
        a.dispatch(move |_, ctx: &mut Context<FakeAgent>| {
            let mut r = registration();
            r.agent.hostname = format!("agent{i}");
            ctx.send_named(&m, RegisterAgent::NAME, r);
        })
        .await
        .unwrap();
    }
    let mut registered = 0;
    while let Ok(Some(saw)) = tokio::time::timeout(Duration::from_secs(2), rx.recv()).await {
        if matches!(saw, AgentSaw::Registered(_)) {
            registered += 1;
        }
    }
    let refused = master_rt.metrics().snapshot_json()["master/slave_registrations_refused"]
        .as_f64()
        .unwrap_or(-1.0);
    (registered, refused)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_connection_registers_as_many_agents_as_allowed() {
    // The default: one agent per connection; the others are refused and counted.
    assert_eq!(register_from_one_connection(5, 1).await, (1, 4.0));
    assert_eq!(register_from_one_connection(5, 3).await, (3, 2.0));
    // 0: no limit (simulators register thousands over a few connections).
    assert_eq!(register_from_one_connection(5, 0).await, (5, 0.0));
}
