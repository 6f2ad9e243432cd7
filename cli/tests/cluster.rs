//! End to end on loopback: the real master and allocator, real agents, the Rust scheduler SDK,
//! and the command and default executors as real OS processes.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use libprocess::PID;
use mesos_agent::{Agent, AgentFlags};
use mesos_api::protocol::framework::{FrameworkCapability, FrameworkCapabilityType, FrameworkInfo};
use mesos_api::protocol::offer::{Filters, Offer};
use mesos_api::protocol::task::{
    CommandInfo, DurationInfo, ExecutorInfo, KillPolicy, Reason, Source, TaskGroupInfo, TaskInfo,
    TaskState, TaskStatus,
};
use mesos_api::{ExecutorID, FrameworkID, OfferID, Resources, TaskID};
use mesos_master::{Master, MasterFlags};
use mesos_scheduler::{Driver, SchedulerProcess};
use testkit::{
    cluster, cluster_tweaked, cluster_with, command_task, eventually, eventually_async, next,
    Cluster, Eventually, Recorder, Seen,
};
use tokio::sync::mpsc;

const LIMIT: Duration = Duration::from_secs(30);

fn launcher_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_mesos-executor"))
        .parent()
        .unwrap()
        .to_path_buf()
}

struct Fw {
    pid: PID<SchedulerProcess<Recorder>>,
    rx: mpsc::UnboundedReceiver<Seen>,
    id: FrameworkID,
}

async fn framework(c: &Cluster, info: FrameworkInfo) -> Fw {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let pid = mesos_scheduler::start(&c.rt, c.master.upid().clone(), info, Recorder(tx)).unwrap();
    let id = match next(&mut rx, LIMIT).await {
        Seen::Subscribed(id) => id,
        other => panic!("expected SUBSCRIBED, got {other:?}"),
    };
    Fw { pid, rx, id }
}

fn info(name: &str) -> FrameworkInfo {
    let mut i = FrameworkInfo::new(name, "root");
    i.capabilities = vec![FrameworkCapability {
        kind: Some(FrameworkCapabilityType::MultiRole),
    }];
    i.roles = vec!["*".into()];
    i
}

async fn offers(fw: &mut Fw) -> Vec<Offer> {
    loop {
        if let Seen::Offers(o) = next(&mut fw.rx, LIMIT).await {
            return o;
        }
    }
}

/// The next event `pick` takes (within [`LIMIT`] in all), declining (to be offered again at
/// once) any offer that comes first: an offer skipped and left unanswered would hold its
/// agent's resources from every later round. Bounded as a whole, since declined offers keep
/// coming back and would otherwise keep the wait alive.
async fn next_matching<T>(fw: &mut Fw, pick: impl Fn(Seen) -> Option<T>) -> T {
    let wait = async {
        loop {
            match next(&mut fw.rx, LIMIT).await {
                Seen::Offers(os) => {
                    let ids: Vec<OfferID> = os.into_iter().map(|o| o.id).collect();
                    let filters = Filters {
                        refuse_seconds: 0.0,
                    };
                    drive(fw, move |d| d.decline(ids, Some(filters))).await;
                }
                other => {
                    if let Some(t) = pick(other) {
                        return t;
                    }
                }
            }
        }
    };
    tokio::time::timeout(LIMIT, wait)
        .await
        .unwrap_or_else(|_| panic!("nothing awaited came within {LIMIT:?}"))
}

/// The next status update (see [`next_matching`]).
async fn next_update(fw: &mut Fw) -> TaskStatus {
    next_matching(fw, |s| match s {
        Seen::Update(u) => Some(u),
        _ => None,
    })
    .await
}

/// Updates for `task` until a terminal one; returns every state seen.
async fn states_until_terminal(fw: &mut Fw, task: &str) -> Vec<TaskStatus> {
    let mut out = Vec::new();
    loop {
        let s = next_update(fw).await;
        if s.task_id.value == task {
            let done = s.state.is_terminal();
            out.push(s);
            if done {
                return out;
            }
        }
    }
}

async fn wait_state(fw: &mut Fw, task: &str, state: TaskState) -> TaskStatus {
    loop {
        let s = next_update(fw).await;
        if s.task_id.value == task {
            if s.state == state {
                return s;
            }
            assert!(
                !s.state.is_terminal(),
                "task {task} ended {:?}: {:?}",
                s.state,
                s.message
            );
        }
    }
}

/// Waits for the first agent to have no executors left; panics naming `what` if it keeps one.
async fn no_executors_left(c: &Cluster, what: &str) {
    eventually_async(LIMIT, what, || {
        let n = c.agents[0].dispatch(|a: &mut Agent, _| a.executor_count());
        async move {
            match n.await.unwrap() {
                0 => Ok(()),
                n => Err(format!("{n} executors")),
            }
        }
    })
    .await;
}

async fn launch(fw: &Fw, offer: &OfferID, tasks: Vec<TaskInfo>) {
    let o = offer.clone();
    fw.pid
        .dispatch(move |p: &mut SchedulerProcess<Recorder>, _| {
            p.driver().launch(
                &o,
                tasks,
                Some(Filters {
                    refuse_seconds: 0.0,
                }),
            )
        })
        .await
        .unwrap();
}

fn sandbox(c: &Cluster, executor: &str) -> PathBuf {
    // work/a<i>/slaves/<agent>/frameworks/<fw>/executors/<executor>/runs/latest
    for a in std::fs::read_dir(&c.work).unwrap() {
        let slaves = a.unwrap().path().join("slaves");
        for s in std::fs::read_dir(&slaves).into_iter().flatten() {
            let fws = s.unwrap().path().join("frameworks");
            for f in std::fs::read_dir(&fws).into_iter().flatten() {
                let p = f
                    .unwrap()
                    .path()
                    .join("executors")
                    .join(executor)
                    .join("runs")
                    .join("latest");
                if p.exists() {
                    return p;
                }
            }
        }
    }
    panic!("no sandbox for executor {executor}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_runs_to_finished_and_its_stdout_is_in_the_sandbox() {
    let c = cluster(&launcher_dir(), 1, "cpus:2;mem:512").await;
    let mut fw = framework(&c, info("echo")).await;
    let o = offers(&mut fw).await.remove(0);
    let t = command_task(
        "t1",
        &o.agent_id,
        "echo hello from the sandbox; echo oops >&2",
        "cpus:1;mem:64",
    );
    launch(&fw, &o.id, vec![t]).await;
    let states = states_until_terminal(&mut fw, "t1").await;
    let seq: Vec<TaskState> = states.iter().map(|s| s.state).collect();
    assert_eq!(
        seq,
        [TaskState::Starting, TaskState::Running, TaskState::Finished]
    );
    let last = states.last().unwrap();
    assert_eq!(last.source, Some(Source::Executor));
    assert_eq!(last.agent_id.as_ref(), Some(&o.agent_id));
    assert!(last.uuid.is_some());
    let dir = sandbox(&c, "t1");
    let out = std::fs::read_to_string(dir.join("stdout")).unwrap();
    assert!(out.contains("hello from the sandbox"), "stdout: {out:?}");
    let err = std::fs::read_to_string(dir.join("stderr")).unwrap();
    assert!(err.contains("oops"), "stderr: {err:?}");
    // The executor exits once its update is acknowledged; all updates are acknowledged.
    eventually_async(
        LIMIT,
        "the executor to exit with all its updates acknowledged",
        || {
            let left =
                c.agents[0].dispatch(|a: &mut Agent, _| (a.executor_count(), a.pending_updates()));
            async move {
                match left.await.unwrap() {
                    (0, 0) => Ok(()),
                    (execs, pending) => Err(format!("executor or updates left: {execs} {pending}")),
                }
            }
        },
    )
    .await;
    // The master's counters and gauges (refreshed within 50 ms of a change).
    metrics_reach(
        &c,
        &[
            ("master/tasks_finished", 1.0),
            ("master/tasks_running", 0.0),
            ("master/slaves_active", 1.0),
            ("master/frameworks_active", 1.0),
            ("master/cpus_total", 2.0),
            ("master/cpus_used", 0.0),
            ("master/slave_registrations", 1.0),
            ("master/valid_status_updates", 3.0),
            ("master/elected", 1.0),
            // Every message received is counted under its Mesos name.
            ("master/messages_register_slave", 1.0),
            ("master/messages_register_framework", 1.0),
            ("master/messages_reregister_framework", 0.0),
            ("master/messages_launch_tasks", 1.0),
            ("master/messages_status_update", 3.0),
            ("master/messages_status_update_acknowledgement", 3.0),
            ("master/valid_status_update_acknowledgements", 3.0),
            ("master/invalid_status_update_acknowledgements", 0.0),
            // The queues, drained once the cluster is idle.
            ("master/event_queue_messages", 0.0),
            ("master/event_queue_dispatches", 0.0),
            ("master/event_queue_http_requests", 0.0),
            ("allocator/mesos/event_queue_dispatches", 0.0),
        ],
    );
}

/// Waits until each metric has its value (the master refreshes its gauges within 50 ms of a
/// change); panics naming those that do not.
fn metrics_reach(c: &Cluster, want: &[(&str, f64)]) {
    let m = c.rt.metrics();
    eventually(LIMIT, "the master's metrics", || {
        let wrong: Vec<String> = want
            .iter()
            .filter(|(k, v)| m.value(k) != Some(*v))
            .map(|(k, v)| format!("{k} is {:?}, not {v}", m.value(k)))
            .collect();
        if wrong.is_empty() {
            Ok(())
        } else {
            Err(wrong.join(", "))
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_within_the_timeout_keeps_tasks_and_after_it_they_are_killed() {
    let c = cluster(&launcher_dir(), 1, "cpus:2;mem:512").await;
    let mut i = info("failover");
    i.failover_timeout = 1.0;
    let mut fw = framework(&c, i.clone()).await;
    let o = offers(&mut fw).await.remove(0);
    launch(
        &fw,
        &o.id,
        vec![command_task(
            "kept",
            &o.agent_id,
            "sleep 60",
            "cpus:1;mem:64",
        )],
    )
    .await;
    wait_state(&mut fw, "kept", TaskState::Running).await;
    metrics_reach(
        &c,
        &[("master/tasks_running", 1.0), ("master/cpus_used", 1.0)],
    );

    // The scheduler goes away and a new one takes over with the same id, within the timeout.
    fw.pid.terminate(true);
    fw.pid.wait().await;
    i.id = Some(fw.id.clone());
    let mut again = framework(&c, i.clone()).await;
    assert_eq!(again.id, fw.id);
    again
        .pid
        .dispatch(|p: &mut SchedulerProcess<Recorder>, _| p.driver().reconcile(Vec::new()))
        .await
        .unwrap();
    let s = wait_state(&mut again, "kept", TaskState::Running).await;
    assert_eq!(s.reason, Some(Reason::Reconciliation));

    // Now it stays away past the timeout: its task is killed and it may not come back.
    again.pid.terminate(true);
    again.pid.wait().await;
    no_executors_left(&c, "the task to be killed after the failover timeout").await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let _late = mesos_scheduler::start(&c.rt, c.master.upid().clone(), i, Recorder(tx)).unwrap();
    match next(&mut rx, LIMIT).await {
        Seen::Error(m) => assert_eq!(m, "Framework has been removed"),
        other => panic!("expected ERROR, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_command_is_failed_with_its_exit_status() {
    let c = cluster(&launcher_dir(), 1, "cpus:2;mem:512").await;
    let mut fw = framework(&c, info("fail")).await;
    let o = offers(&mut fw).await.remove(0);
    launch(
        &fw,
        &o.id,
        vec![command_task("bad", &o.agent_id, "exit 3", "cpus:1;mem:64")],
    )
    .await;
    let s = states_until_terminal(&mut fw, "bad").await.pop().unwrap();
    assert_eq!(s.state, TaskState::Failed);
    assert_eq!(s.message.as_deref(), Some("Command exited with status 3"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_ends_a_task_killed_and_a_term_ignoring_one_within_the_grace_period() {
    let c = cluster(&launcher_dir(), 1, "cpus:4;mem:512").await;
    let mut fw = framework(&c, info("kill")).await;
    let o = offers(&mut fw).await.remove(0);
    let mut stubborn = command_task(
        "stubborn",
        &o.agent_id,
        "trap '' TERM; touch trapped; sleep 60 & wait; sleep 60",
        "cpus:1;mem:64",
    );
    stubborn.kill_policy = Some(KillPolicy {
        grace_period: Some(DurationInfo::from_duration(Duration::from_millis(500))),
    });
    let polite = command_task("polite", &o.agent_id, "sleep 60", "cpus:1;mem:64");
    launch(&fw, &o.id, vec![stubborn, polite]).await;
    let mut running = 0;
    while running < 2 {
        if let Seen::Update(s) = next(&mut fw.rx, LIMIT).await {
            assert!(!s.state.is_terminal(), "{s:?}");
            if s.state == TaskState::Running {
                running += 1;
            }
        }
    }
    // RUNNING comes as the shell starts: kill only once it ignores SIGTERM.
    eventually(
        LIMIT,
        "the stubborn task to set its trap",
        || match sandbox(&c, "stubborn").join("trapped").exists() {
            true => Ok(()),
            false => Err("no trap yet"),
        },
    );
    for t in ["polite", "stubborn"] {
        let tid = TaskID::new(t);
        fw.pid
            .dispatch(move |p: &mut SchedulerProcess<Recorder>, _| p.driver().kill(tid, None, None))
            .await
            .unwrap();
    }
    let start = Instant::now();
    let mut ended = std::collections::HashMap::new();
    while ended.len() < 2 {
        if let Seen::Update(s) = next(&mut fw.rx, LIMIT).await {
            if s.state.is_terminal() {
                ended.insert(s.task_id.value.clone(), (s.state, start.elapsed()));
            }
        }
    }
    assert_eq!(ended["polite"].0, TaskState::Killed);
    assert_eq!(ended["stubborn"].0, TaskState::Killed);
    // SIGKILL came after its 500 ms grace period, well inside the default 3 s.
    assert!(
        ended["stubborn"].1 >= Duration::from_millis(400),
        "{:?}",
        ended["stubborn"]
    );
    assert!(
        ended["stubborn"].1 < Duration::from_secs(3),
        "{:?}",
        ended["stubborn"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_an_unknown_task_is_lost_from_the_master() {
    let c = cluster(&launcher_dir(), 1, "cpus:1;mem:128").await;
    let mut fw = framework(&c, info("ghost")).await;
    fw.pid
        .dispatch(|p: &mut SchedulerProcess<Recorder>, _| {
            p.driver().kill(TaskID::new("nope"), None, None)
        })
        .await
        .unwrap();
    let s = states_until_terminal(&mut fw, "nope").await.pop().unwrap();
    assert_eq!(s.state, TaskState::Lost);
    assert_eq!(s.source, Some(Source::Master));
    assert_eq!(s.reason, Some(Reason::Reconciliation));
}

/// The agent's GET_CONTAINERS answer.
async fn get_containers(c: &Cluster) -> serde_json::Value {
    let addr = c.rt.address().to_string();
    let id = c.agents[0].upid().id().to_string();
    let r = mesos_agent::httpc::request(
        &addr,
        "POST",
        &format!("/{id}/api/v1"),
        &[
            ("Content-Type", "application/json"),
            ("Accept", "application/json"),
        ],
        br#"{"type":"GET_CONTAINERS"}"#,
    )
    .await
    .unwrap();
    assert_eq!(r.head.status, 200);
    serde_json::from_slice(&r.body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_group_runs_together_and_one_failing_kills_the_group() {
    let c = cluster(&launcher_dir(), 1, "cpus:4;mem:1024").await;
    let mut fw = framework(&c, info("group")).await;
    let o = offers(&mut fw).await.remove(0);
    let executor = ExecutorInfo::default_executor(
        ExecutorID::new("default"),
        Resources::parse("cpus:0.1;mem:32", "*").unwrap(),
    );
    let tasks = vec![
        command_task("g1", &o.agent_id, "sleep 60", "cpus:1;mem:64"),
        command_task("g2", &o.agent_id, "sleep 60", "cpus:1;mem:64"),
        command_task(
            "g3",
            &o.agent_id,
            "sleep 1; echo bye; exit 7",
            "cpus:1;mem:64",
        ),
    ];
    let oid = o.id.clone();
    fw.pid
        .dispatch(move |p: &mut SchedulerProcess<Recorder>, _| {
            p.driver()
                .launch_group(&oid, executor, TaskGroupInfo { tasks }, None)
        })
        .await
        .unwrap();
    let mut running = std::collections::HashSet::new();
    let mut ended = std::collections::HashMap::new();
    let mut nested = None;
    while ended.len() < 3 {
        if let Seen::Update(s) = next(&mut fw.rx, LIMIT).await {
            if s.state == TaskState::Running {
                running.insert(s.task_id.value.clone());
                if running.len() == 3 && ended.is_empty() {
                    nested = Some(get_containers(&c).await);
                }
            }
            if s.state.is_terminal() {
                ended.insert(s.task_id.value.clone(), s);
            }
        }
    }
    assert_eq!(running.len(), 3, "every task of the group ran");
    // Each task ran in a nested container of the executor's, launched through the agent API.
    let v = nested.expect("all three were running at once");
    let containers = v["get_containers"]["containers"].as_array().unwrap();
    let executor = containers
        .iter()
        .find(|c| c["executor_id"]["value"] == "default")
        .unwrap_or_else(|| panic!("no executor container in {v}"));
    let children: Vec<&serde_json::Value> = containers
        .iter()
        .filter(|c| c["container_id"]["parent"] == executor["container_id"])
        .collect();
    assert_eq!(children.len(), 3, "{v}");
    for c in &children {
        // Its usage counts the task's processes, not only the container's init.
        let procs = c["resource_statistics"]["processes"].as_u64().unwrap_or(0);
        assert!(procs >= 2, "{c}");
    }
    let dir = sandbox(&c, "default");
    for t in ["g1", "g2", "g3"] {
        let link = std::fs::read_link(dir.join("tasks").join(t)).unwrap();
        let id = link.file_name().unwrap().to_str().unwrap().to_string();
        assert_eq!(
            std::fs::canonicalize(link.parent().unwrap()).unwrap(),
            std::fs::canonicalize(dir.join("containers")).unwrap()
        );
        assert!(
            children
                .iter()
                .any(|c| c["container_id"]["value"].as_str() == Some(&id)),
            "task {t} is not in one of {children:?}"
        );
    }
    assert_eq!(ended["g3"].state, TaskState::Failed);
    assert_eq!(
        ended["g3"].message.as_deref(),
        Some("Command exited with status 7")
    );
    assert_eq!(ended["g1"].state, TaskState::Killed);
    assert_eq!(ended["g2"].state, TaskState::Killed);
    let out = std::fs::read_to_string(sandbox(&c, "default").join("tasks/g3/stdout")).unwrap();
    assert_eq!(out, "bye\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_frameworks_on_three_agents_share_by_drf() {
    let c = cluster(&launcher_dir(), 3, "cpus:4;mem:4096").await;
    let mut a = framework(&c, info("a")).await;
    let mut b = framework(&c, info("b")).await;
    // Each framework holds what it accepts and takes more as offered: tasks of one cpu that run
    // until killed. DRF alternates offers, so neither gets far ahead.
    let mut held = [0usize, 0usize];
    let mut n = 0;
    let fill = tokio::time::timeout(LIMIT, async {
        while held[0] + held[1] < 12 {
            for (i, fw) in [&mut a, &mut b].into_iter().enumerate() {
                while let Ok(ev) = fw.rx.try_recv() {
                    if let Seen::Offers(os) = ev {
                        for o in os {
                            let cpus = o.resources.cpus() as usize;
                            let tasks: Vec<TaskInfo> = (0..cpus.min(1))
                                .map(|_| {
                                    n += 1;
                                    command_task(
                                        &format!("t{n}"),
                                        &o.agent_id,
                                        "sleep 60",
                                        "cpus:1;mem:128",
                                    )
                                })
                                .collect();
                            held[i] += tasks.len();
                            launch(fw, &o.id, tasks).await;
                        }
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(fill.is_ok(), "cluster not filled: {held:?}");
    assert!(
        held[0].abs_diff(held[1]) <= 2,
        "DRF shares the 12 cpus evenly: {held:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declining_with_refuse_zero_reoffers_the_same_resources() {
    let c = cluster(&launcher_dir(), 1, "cpus:2;mem:256").await;
    let mut fw = framework(&c, info("decliner")).await;
    let o = offers(&mut fw).await.remove(0);
    let ids = vec![o.id.clone()];
    fw.pid
        .dispatch(move |p: &mut SchedulerProcess<Recorder>, _| {
            p.driver().decline(
                ids,
                Some(Filters {
                    refuse_seconds: 0.0,
                }),
            )
        })
        .await
        .unwrap();
    let again = offers(&mut fw).await.remove(0);
    assert_ne!(again.id, o.id);
    assert_eq!(again.resources, o.resources);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tearing_a_framework_down_kills_its_tasks_and_stops_executors() {
    let c = cluster(&launcher_dir(), 1, "cpus:2;mem:256").await;
    let mut fw = framework(&c, info("teardown")).await;
    let o = offers(&mut fw).await.remove(0);
    launch(
        &fw,
        &o.id,
        vec![command_task(
            "long",
            &o.agent_id,
            "sleep 60",
            "cpus:1;mem:64",
        )],
    )
    .await;
    wait_state(&mut fw, "long", TaskState::Running).await;
    // Its events came through its own proxy actor.
    let id = fw.id.clone();
    let proxy = c
        .master
        .dispatch(move |m: &mut Master, _| m.proxy_of(&id))
        .await
        .unwrap()
        .expect("a framework-proxy actor");
    assert!(c.rt.exists(proxy.id()));
    fw.pid
        .dispatch(|p: &mut SchedulerProcess<Recorder>, _| p.driver().teardown())
        .await
        .unwrap();
    no_executors_left(&c, "the executor to stop after teardown").await;
    // The master forgot the framework: its tasks are gone from the master's books.
    let id = fw.id.clone();
    let left = c
        .master
        .dispatch(move |m: &mut Master, _| m.tasks_of(&id).len())
        .await
        .unwrap();
    assert_eq!(left, 0);
    eventually_async(LIMIT, "the proxy to end with its framework", || {
        std::future::ready(!c.rt.exists(proxy.id()))
    })
    .await;
    while let Ok(ev) = fw.rx.try_recv() {
        assert!(!matches!(ev, Seen::Error(_)), "{ev:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_short_tasks_on_three_agents_all_finish() {
    const N: usize = 1000;
    let c = cluster(&launcher_dir(), 3, "cpus:16;mem:16384").await;
    let mut fw = framework(&c, info("many")).await;
    let mut launched = 0usize;
    let mut finished = std::collections::HashSet::new();
    let all = tokio::time::timeout(Duration::from_secs(240), async {
        while finished.len() < N {
            match next(&mut fw.rx, LIMIT).await {
                Seen::Offers(os) => {
                    for o in os {
                        let room = (o.resources.cpus() / 0.5) as usize;
                        let k = room.min(N - launched);
                        let tasks: Vec<TaskInfo> = (0..k)
                            .map(|i| {
                                command_task(
                                    &format!("s{}", launched + i),
                                    &o.agent_id,
                                    "true",
                                    "cpus:0.5;mem:32",
                                )
                            })
                            .collect();
                        launched += k;
                        launch(&fw, &o.id, tasks).await;
                    }
                }
                Seen::Update(s) => {
                    assert!(
                        !matches!(
                            s.state,
                            TaskState::Failed | TaskState::Lost | TaskState::Error
                        ),
                        "{s:?}"
                    );
                    if s.state == TaskState::Finished {
                        assert!(
                            finished.insert(s.task_id.value.clone()),
                            "duplicate FINISHED"
                        );
                    }
                }
                _ => {}
            }
        }
    })
    .await;
    assert!(all.is_ok(), "only {} of {N} finished", finished.len());
    assert_eq!(finished.len(), N);
}

/// No OFFERS arrive for `d`.
async fn quiet_for(fw: &mut Fw, d: Duration) {
    let end = Instant::now() + d;
    while let Ok(Some(ev)) = tokio::time::timeout_at(end.into(), fw.rx.recv()).await {
        assert!(!matches!(ev, Seen::Offers(_)), "unexpected offers: {ev:?}");
    }
}

async fn drive(fw: &Fw, f: impl FnOnce(&mut Driver) + Send + 'static) {
    fw.pid
        .dispatch(move |p: &mut SchedulerProcess<Recorder>, _| f(p.driver()))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_filter_holds_offers_until_revive_and_suppress_stops_them() {
    let c = cluster(&launcher_dir(), 1, "cpus:2;mem:256").await;
    let mut fw = framework(&c, info("reviver")).await;
    let o = offers(&mut fw).await.remove(0);
    let ids = vec![o.id.clone()];
    drive(&fw, move |d| {
        d.decline(
            ids,
            Some(Filters {
                refuse_seconds: 3600.0,
            }),
        )
    })
    .await;
    quiet_for(&mut fw, Duration::from_millis(400)).await;
    drive(&fw, |d| d.revive(Vec::new())).await;
    let again = offers(&mut fw).await.remove(0);
    assert_eq!(again.resources, o.resources);
    // Suppressed: declining with no filter at all still brings nothing back.
    let ids = vec![again.id.clone()];
    drive(&fw, move |d| {
        d.suppress(Vec::new());
        d.decline(
            ids,
            Some(Filters {
                refuse_seconds: 0.0,
            }),
        )
    })
    .await;
    quiet_for(&mut fw, Duration::from_millis(400)).await;
    drive(&fw, |d| d.revive(Vec::new())).await;
    offers(&mut fw).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offer_timeout_rescinds_an_unused_offer_and_offers_it_again() {
    let flags = MasterFlags {
        allocation_interval: Duration::from_millis(50),
        offer_timeout: Some(Duration::from_millis(200)),
        ..MasterFlags::default()
    };
    let c = cluster_with(&launcher_dir(), 1, "cpus:2;mem:256", flags).await;
    let mut fw = framework(&c, info("sitter")).await;
    let o = offers(&mut fw).await.remove(0);
    let rescinded = loop {
        if let Seen::Rescind(id) = next(&mut fw.rx, LIMIT).await {
            break id;
        }
    };
    assert_eq!(rescinded, o.id);
    let again = offers(&mut fw).await.remove(0);
    assert_ne!(again.id, o.id);
    assert_eq!(again.resources, o.resources);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserve_then_unreserve_through_accept() {
    use mesos_api::protocol::offer::{OfferOperation, OperationType, ReservationOp};
    use mesos_api::{Reservation, Resource};
    let c = cluster(&launcher_dir(), 1, "cpus:2;mem:256").await;
    let mut i = info("reserver");
    i.roles = vec!["web".into()];
    let mut fw = framework(&c, i).await;
    let o = offers(&mut fw).await.remove(0);
    let reserved: Resources = {
        let mut r = Resources::new();
        r.add(&Resource::scalar("cpus", 1.0).reserved(Reservation::dynamic_for("web", None)));
        r
    };
    let op = OfferOperation {
        reserve: Some(ReservationOp {
            resources: reserved.clone(),
        }),
        ..OfferOperation::new(OperationType::Reserve)
    };
    let oid = o.id.clone();
    drive(&fw, move |d| {
        d.accept(
            vec![oid],
            vec![op],
            Some(Filters {
                refuse_seconds: 0.0,
            }),
        )
    })
    .await;
    // The next offer carries the reservation, and the agent holds it for reregistration.
    let o2 = offers(&mut fw).await.remove(0);
    assert_eq!(o2.resources.cpus(), 2.0);
    assert_eq!(
        o2.resources.reserved_to("web").cpus(),
        1.0,
        "{}",
        o2.resources
    );
    let held = c.agents[0]
        .dispatch(|a: &mut Agent, _| a.checkpointed_resources().clone())
        .await
        .unwrap();
    assert_eq!(held, reserved);
    // UNRESERVE gives it back to the unreserved pool.
    let op = OfferOperation {
        unreserve: Some(ReservationOp {
            resources: reserved.clone(),
        }),
        ..OfferOperation::new(OperationType::Unreserve)
    };
    let oid = o2.id.clone();
    drive(&fw, move |d| {
        d.accept(
            vec![oid],
            vec![op],
            Some(Filters {
                refuse_seconds: 0.0,
            }),
        )
    })
    .await;
    let o3 = offers(&mut fw).await.remove(0);
    assert_eq!(o3.resources.cpus(), 2.0);
    assert_eq!(
        o3.resources.reserved_to("web").cpus(),
        0.0,
        "{}",
        o3.resources
    );
    let held = c.agents[0]
        .dispatch(|a: &mut Agent, _| a.checkpointed_resources().clone())
        .await
        .unwrap();
    assert!(held.is_empty(), "{held}");
}

/// A COMMAND health check with the given timings, as `mesos-execute --health_check` would send.
fn command_health_check(
    cmd: &str,
    interval: f64,
    consecutive_failures: u32,
) -> mesos_api::protocol::container::HealthCheck {
    use mesos_api::protocol::container::{HealthCheck, HealthCheckType};
    let mut h = HealthCheck::new(HealthCheckType::Command);
    h.command = Some(CommandInfo::shell(cmd));
    h.delay_seconds = 0.0;
    h.interval_seconds = interval;
    h.grace_period_seconds = 0.0;
    h.consecutive_failures = consecutive_failures;
    h.timeout_seconds = 1.0;
    h
}

async fn kill_task(fw: &Fw, task: &str) {
    let tid = TaskID::new(task);
    drive(fw, move |d| d.kill(tid, None, None)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_failing_its_health_check_is_reported_unhealthy_then_killed() {
    let c = cluster(&launcher_dir(), 1, "cpus:2;mem:512").await;
    let mut fw = framework(&c, info("unhealthy")).await;
    let o = offers(&mut fw).await.remove(0);
    let mut t = command_task("sick", &o.agent_id, "sleep 30", "cpus:1;mem:64");
    t.health_check = Some(command_health_check("exit 1", 0.2, 2));
    launch(&fw, &o.id, vec![t]).await;
    let started = Instant::now();
    let states = states_until_terminal(&mut fw, "sick").await;
    let unhealthy = states
        .iter()
        .position(|s| s.state == TaskState::Running && s.healthy == Some(false))
        .unwrap_or_else(|| panic!("no unhealthy TASK_RUNNING: {states:?}"));
    assert_eq!(
        states[unhealthy].reason,
        Some(Reason::TaskHealthCheckStatusUpdated)
    );
    assert!(states.iter().all(|s| s.healthy != Some(true)), "{states:?}");
    let last = states.last().unwrap();
    assert_eq!(last.state, TaskState::Killed, "{last:?}");
    assert_eq!(last.healthy, Some(false));
    let msg = last.message.as_deref().unwrap_or("");
    assert!(msg.contains("health check failed"), "{msg}");
    // Killed after two failed checks, long before `sleep 30` would have ended.
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_passing_its_tcp_health_check_is_reported_healthy() {
    use mesos_api::protocol::container::{HealthCheck, HealthCheckType, TcpCheckInfo};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let c = cluster(&launcher_dir(), 1, "cpus:2;mem:512").await;
    let mut fw = framework(&c, info("healthy")).await;
    let o = offers(&mut fw).await.remove(0);
    let mut t = command_task("fine", &o.agent_id, "sleep 30", "cpus:1;mem:64");
    let mut h = HealthCheck::new(HealthCheckType::Tcp);
    h.tcp = Some(TcpCheckInfo {
        port: listener.local_addr().unwrap().port().into(),
    });
    h.delay_seconds = 0.0;
    h.interval_seconds = 0.2;
    t.health_check = Some(h);
    launch(&fw, &o.id, vec![t]).await;
    let s = loop {
        let s = wait_state(&mut fw, "fine", TaskState::Running).await;
        if s.healthy.is_some() {
            break s;
        }
    };
    assert_eq!(s.healthy, Some(true), "{s:?}");
    assert_eq!(s.reason, Some(Reason::TaskHealthCheckStatusUpdated));
    kill_task(&fw, "fine").await;
    let last = states_until_terminal(&mut fw, "fine").await.pop().unwrap();
    assert_eq!(last.state, TaskState::Killed);
    // Killed by the framework, not by its health check.
    assert_eq!(last.healthy, None, "{last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_group_member_is_health_checked_in_its_own_sandbox() {
    let c = cluster(&launcher_dir(), 1, "cpus:2;mem:512").await;
    let mut fw = framework(&c, info("group-health")).await;
    let o = offers(&mut fw).await.remove(0);
    let executor = ExecutorInfo::default_executor(
        ExecutorID::new("default"),
        Resources::parse("cpus:0.1;mem:32", "*").unwrap(),
    );
    let mut t = command_task(
        "member",
        &o.agent_id,
        "echo member-out; sleep 30",
        "cpus:1;mem:64",
    );
    // Passes only in the task's own sandbox (its nested container's, `tasks/member`).
    let mut check = command_health_check(
        r#"grep -q member-out stdout && test "$MESOS_SANDBOX" = "$(pwd)""#,
        0.2,
        1,
    );
    // The first check may run before the task has written its line: failures before a pass
    // are ignored for 10 s (a check in the wrong sandbox never passes, and fails after that).
    check.grace_period_seconds = 10.0;
    t.health_check = Some(check);
    let oid = o.id.clone();
    drive(&fw, move |d| {
        d.launch_group(&oid, executor, TaskGroupInfo { tasks: vec![t] }, None)
    })
    .await;
    let s = loop {
        let s = wait_state(&mut fw, "member", TaskState::Running).await;
        if s.healthy.is_some() {
            break s;
        }
    };
    assert_eq!(s.healthy, Some(true), "{s:?}");
    kill_task(&fw, "member").await;
    let last = states_until_terminal(&mut fw, "member")
        .await
        .pop()
        .unwrap();
    assert_eq!(last.state, TaskState::Killed);
}

// ---- isolation through the agent (root only) ------------------------------------------------

/// A one-agent cluster with `isolation` on the linux launcher, under its own cgroups root; None
/// (with the reason printed) where the machine cannot.
async fn isolated(isolation: &str, tweak: impl Fn(&mut AgentFlags)) -> Option<Cluster> {
    if !nix::unistd::geteuid().is_root() {
        println!("skipped: isolation needs root");
        return None;
    }
    let root = format!("mesos-agent-test-{}", mesos_api::ids::new_uuid());
    let iso = mesos_containerizer::parse_isolation(isolation).unwrap();
    let probe = mesos_containerizer::cgroups::Cgroups::detect(
        std::path::Path::new("/sys/fs/cgroup"),
        &root,
    );
    if iso.iter().any(|i| i.is_cgroups()) {
        if let Err(e) = probe {
            println!("skipped: {e}");
            return None;
        }
    }
    let flags = MasterFlags {
        allocation_interval: Duration::from_millis(50),
        ..MasterFlags::default()
    };
    Some(
        cluster_tweaked(
            &launcher_dir(),
            1,
            "cpus:2;mem:1024;disk:1024",
            flags,
            |f| {
                f.containerizer.launcher = mesos_containerizer::LauncherKind::Linux;
                f.containerizer.isolation = iso.clone();
                f.containerizer.cgroups_root = root.clone();
                tweak(f);
            },
        )
        .await,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_hog_fails_with_the_memory_reason_and_the_agent_lives_on() {
    let Some(c) = isolated("cgroups/cpu,cgroups/mem,namespaces/pid", |_| {}).await else {
        return;
    };
    let mut fw = framework(&c, info("hog")).await;
    let o = offers(&mut fw).await.remove(0);
    let t = command_task(
        "hog",
        &o.agent_id,
        "head -c 512m /dev/zero | tail",
        "cpus:0.5;mem:64",
    );
    launch(&fw, &o.id, vec![t]).await;
    let states = states_until_terminal(&mut fw, "hog").await;
    let last = states.last().unwrap();
    assert_eq!(last.state, TaskState::Failed, "{last:?}");
    assert_eq!(
        last.reason,
        Some(Reason::ContainerLimitationMemory),
        "{last:?}"
    );
    assert!(
        last.message
            .as_deref()
            .unwrap_or("")
            .contains("Memory limit exceeded"),
        "{last:?}"
    );
    // The limitation names the resource and its limit.
    let limitation = last.limitation.as_ref().expect("a limitation");
    assert_eq!(limitation.resources.mem(), 64.0, "{last:?}");
    // The agent runs the next task as before.
    let o = offers(&mut fw).await.remove(0);
    let t = command_task("after", &o.agent_id, "echo still here", "cpus:0.5;mem:64");
    launch(&fw, &o.id, vec![t]).await;
    let states = states_until_terminal(&mut fw, "after").await;
    assert_eq!(states.last().unwrap().state, TaskState::Finished);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandbox_outgrowing_its_disk_fails_with_the_disk_reason() {
    let Some(c) = isolated("disk/du", |f| {
        f.containerizer.enforce_container_disk_quota = true;
        f.containerizer.container_disk_watch_interval = Duration::from_millis(100);
    })
    .await
    else {
        return;
    };
    let mut fw = framework(&c, info("disk")).await;
    let o = offers(&mut fw).await.remove(0);
    let t = command_task(
        "filler",
        &o.agent_id,
        "dd if=/dev/zero of=big bs=1M count=4 2>/dev/null; sleep 30",
        "cpus:0.5;mem:64;disk:1",
    );
    launch(&fw, &o.id, vec![t]).await;
    let states = states_until_terminal(&mut fw, "filler").await;
    let last = states.last().unwrap();
    assert_eq!(last.state, TaskState::Failed, "{last:?}");
    assert_eq!(
        last.reason,
        Some(Reason::ContainerLimitationDisk),
        "{last:?}"
    );
    assert!(
        last.message
            .as_deref()
            .unwrap_or("")
            .contains("exceeds quota"),
        "{last:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_statistics_and_get_containers_report_cgroup_usage() {
    let Some(c) = isolated("cgroups/cpu,cgroups/mem", |_| {}).await else {
        return;
    };
    let mut fw = framework(&c, info("stats")).await;
    let o = offers(&mut fw).await.remove(0);
    let t = command_task(
        "busy",
        &o.agent_id,
        "while :; do :; done",
        "cpus:0.25;mem:96",
    );
    launch(&fw, &o.id, vec![t]).await;
    wait_state(&mut fw, "busy", TaskState::Running).await;
    let addr = c.rt.address().to_string();
    let id = c.agents[0].upid().id().to_string();
    // Once the busy loop has been throttled and used some CPU.
    let stats = format!("/{id}/monitor/statistics");
    let v = Eventually::new(LIMIT, "the busy task to be throttled")
        .every(Duration::from_millis(100))
        .until_async(|| async {
            let r = mesos_agent::httpc::request(&addr, "GET", &stats, &[], b"")
                .await
                .unwrap();
            let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            let st = &v[0]["statistics"];
            if st["cpus_nr_throttled"].as_u64().unwrap_or(0) > 0
                && st["cpus_user_time_secs"].as_f64().unwrap_or(0.0) > 0.0
            {
                Ok(v)
            } else {
                Err(v)
            }
        })
        .await;
    let st = &v[0]["statistics"];
    assert_eq!(v[0]["executor_id"], "busy", "{v}");
    assert_eq!(st["cpus_limit"], 0.25, "{st}");
    assert_eq!(st["mem_limit_bytes"], 96 * 1048576, "{st}");
    assert!(st["cpus_nr_throttled"].as_u64().unwrap_or(0) > 0, "{st}");
    assert!(
        st["cpus_user_time_secs"].as_f64().unwrap_or(0.0) > 0.0,
        "{st}"
    );
    assert!(st["mem_total_bytes"].as_u64().unwrap_or(0) > 0, "{st}");
    let body = br#"{"type":"GET_CONTAINERS"}"#;
    let r = mesos_agent::httpc::request(
        &addr,
        "POST",
        &format!("/{id}/api/v1"),
        &[
            ("Content-Type", "application/json"),
            ("Accept", "application/json"),
        ],
        body,
    )
    .await
    .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let cs = &v["get_containers"]["containers"][0]["resource_statistics"];
    assert_eq!(cs["cpus_limit"], 0.25, "{v}");
    assert!(cs["cpus_nr_periods"].as_u64().unwrap_or(0) > 0, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_settings_the_agent_cannot_honour_fail_the_task_and_nothing_runs() {
    use mesos_api::protocol::container::{
        ContainerInfo, ContainerType, DockerInfo, NetworkInfo, TtyInfo,
    };
    let c = cluster(&launcher_dir(), 1, "cpus:4;mem:1024").await;
    let mut fw = framework(&c, info("unsupported")).await;
    let marker = c.work.join("ran-on-the-host");
    let docker = ContainerInfo {
        kind: ContainerType::Docker,
        docker: Some(DockerInfo {
            image: "busybox".into(),
            ..DockerInfo::default()
        }),
        ..ContainerInfo::mesos()
    };
    let cni = ContainerInfo {
        network_infos: vec![NetworkInfo {
            name: Some("net1".into()),
            ..NetworkInfo::default()
        }],
        ..ContainerInfo::mesos()
    };
    let tty = ContainerInfo {
        tty_info: Some(TtyInfo::default()),
        ..ContainerInfo::mesos()
    };
    for (id, container, says) in [
        ("docker", docker, "type DOCKER"),
        ("cni", cni, "network_infos"),
        ("tty", tty, "tty_info"),
    ] {
        // An offer with room for the task and its executor (the previous task's executor may
        // still hold its share for a moment after the task failed). Every offer not used is
        // declined, so that none holds resources unanswered.
        let deadline = Instant::now() + LIMIT;
        let o = loop {
            assert!(
                Instant::now() < deadline,
                "{id}: no offer with room for it: resources not given back"
            );
            let mut got = offers(&mut fw).await;
            let chosen = got
                .iter()
                .position(|o| o.resources.cpus() >= 0.6)
                .map(|i| got.remove(i));
            let rest: Vec<OfferID> = got.into_iter().map(|o| o.id).collect();
            if !rest.is_empty() {
                let filters = Filters {
                    refuse_seconds: 0.0,
                };
                drive(&fw, move |d| d.decline(rest, Some(filters))).await;
            }
            if let Some(o) = chosen {
                break o;
            }
        };
        let mut t = command_task(
            id,
            &o.agent_id,
            &format!("touch {}", marker.display()),
            "cpus:0.5;mem:32",
        );
        t.container = Some(container);
        if id == "tty" {
            // A terminal is a command task's or an executor's: a task group's task has none.
            let executor = ExecutorInfo::default_executor(
                ExecutorID::new("default"),
                Resources::parse("cpus:0.1;mem:32", "*").unwrap(),
            );
            let oid = o.id.clone();
            drive(&fw, move |d| {
                d.launch_group(&oid, executor, TaskGroupInfo { tasks: vec![t] }, None)
            })
            .await;
        } else {
            launch(&fw, &o.id, vec![t]).await;
        }
        let states = states_until_terminal(&mut fw, id).await;
        let last = states.last().unwrap();
        assert_eq!(last.state, TaskState::Failed, "{id}: {states:?}");
        assert_eq!(last.reason, Some(Reason::ContainerLaunchFailed), "{id}");
        let msg = last.message.clone().unwrap_or_default();
        assert!(msg.contains(says), "{id}: {msg}");
    }
    assert!(
        !marker.exists(),
        "a task ran on the host without its container"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_fields_are_kept_honoured_or_refused_never_dropped() {
    use mesos_api::protocol::task::{CheckInfo, DiscoveryInfo, ScalarValue};
    let c = cluster(&launcher_dir(), 1, "cpus:4;mem:1024").await;
    let mut fw = framework(&c, info("fields")).await;

    // max_completion_time: killed once RUNNING that long, and FAILED with the reason.
    let o = offers(&mut fw).await.remove(0);
    let mut t = command_task("bounded", &o.agent_id, "sleep 60", "cpus:0.5;mem:32");
    t.max_completion_time = Some(DurationInfo::from_duration(Duration::from_millis(300)));
    t.discovery = Some(DiscoveryInfo {
        visibility: Some("FRAMEWORK".into()),
        name: Some("bounded-svc".into()),
        ..DiscoveryInfo::default()
    });
    launch(&fw, &o.id, vec![t]).await;
    // Shown in the master's state while it runs.
    let addr = c.rt.address().to_string();
    let state = eventually_async(LIMIT, "the task in /master/state", || async {
        let v = testkit::http::json(&addr, "/master/state").await?;
        let t = v["frameworks"][0]["tasks"][0].clone();
        if t.is_null() {
            Err(format!("no task yet: {v}"))
        } else {
            Ok(t)
        }
    })
    .await;
    assert_eq!(state["discovery"]["name"], "bounded-svc", "{state}");
    assert!(
        state["max_completion_time"]["nanoseconds"].is_number(),
        "{state}"
    );
    let states = states_until_terminal(&mut fw, "bounded").await;
    let last = states.last().unwrap();
    assert_eq!(last.state, TaskState::Failed, "{states:?}");
    assert_eq!(last.reason, Some(Reason::MaxCompletionTimeReached));

    // check and limits are not supported yet: refused, saying so.
    let o = offers(&mut fw).await.remove(0);
    let mut checked = command_task("checked", &o.agent_id, "true", "cpus:0.5;mem:32");
    checked.check = Some(CheckInfo {
        kind: Some("COMMAND".into()),
        ..CheckInfo::default()
    });
    let mut limited = command_task("limited", &o.agent_id, "true", "cpus:0.5;mem:32");
    limited.limits = Some([("mem".to_string(), ScalarValue { value: 64.0 })].into());
    launch(&fw, &o.id, vec![checked, limited]).await;
    for (id, says) in [("checked", "'check'"), ("limited", "'limits'")] {
        let s = states_until_terminal(&mut fw, id).await;
        let last = s.last().unwrap();
        assert_eq!(last.state, TaskState::Error, "{id}: {s:?}");
        assert_eq!(last.reason, Some(Reason::TaskInvalid), "{id}");
        let msg = last.message.clone().unwrap_or_default();
        assert!(msg.contains(says), "{id}: {msg}");
    }
}

/// network/ports with `--enforce_container_ports`: a task listening on a port it was not given
/// is killed with REASON_CONTAINER_LIMITATION naming the port; one listening on its own port
/// runs on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_listening_on_a_port_it_was_not_given_is_killed() {
    let flags = MasterFlags {
        allocation_interval: Duration::from_millis(50),
        ..MasterFlags::default()
    };
    let c = cluster_tweaked(
        &launcher_dir(),
        1,
        "cpus:2;mem:512;ports:[31000-31010]",
        flags,
        |f| {
            f.containerizer.launcher = mesos_containerizer::LauncherKind::Posix;
            f.containerizer.isolation =
                mesos_containerizer::parse_isolation("posix/cpu,posix/mem,network/ports").unwrap();
            f.containerizer.enforce_container_ports = true;
            f.containerizer.container_ports_watch_interval = Duration::from_millis(200);
        },
    )
    .await;
    let mut fw = framework(&c, info("ports")).await;
    let o = offers(&mut fw).await.remove(0);
    let listen = |port: u16| {
        format!(
            "exec python3 -c \"import socket,time; s=socket.socket(); \
             s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); \
             s.bind(('127.0.0.1', {port})); s.listen(); time.sleep(60)\""
        )
    };
    let stray_port = testkit::free_port();
    let fair_port = 31004;
    let stray = command_task(
        "stray",
        &o.agent_id,
        &listen(stray_port),
        "cpus:0.5;mem:64;ports:[31001-31001]",
    );
    let fair = command_task(
        "fair",
        &o.agent_id,
        &listen(fair_port),
        "cpus:0.5;mem:64;ports:[31004-31004]",
    );
    launch(&fw, &o.id, vec![stray, fair]).await;
    let end = states_until_terminal(&mut fw, "stray").await.pop().unwrap();
    assert_eq!(end.state, TaskState::Failed, "{end:?}");
    assert_eq!(end.reason, Some(Reason::ContainerLimitation), "{end:?}");
    let msg = end.message.unwrap_or_default();
    assert!(
        msg.contains(&format!(
            "is listening on unallocated port(s): [{stray_port}-{stray_port}]"
        )),
        "{msg}"
    );
    // The fair task outlived a few more checks.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let running = c.agents[0]
        .dispatch(|a: &mut Agent, _| a.executor_count())
        .await
        .unwrap();
    assert_eq!(running, 1, "the fair task's executor is gone");
}

fn domain(region: &str, zone: &str) -> mesos_api::protocol::framework::DomainInfo {
    mesos_api::protocol::framework::DomainInfo::from_flag(&format!(
        r#"{{"fault_domain": {{"region": {{"name": "{region}"}}, "zone": {{"name": "{zone}"}}}}}}"#
    ))
    .unwrap()
}

/// Fault domains: a master in region eu, an agent in eu and one in us. A framework without
/// REGION_AWARE is offered only the agent in the master's region; a REGION_AWARE one is
/// offered the remote agent too, its offer carrying the agent's domain. An agent restarting on
/// its checkpoint with another domain is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_in_another_region_are_offered_only_to_region_aware_frameworks() {
    let flags = MasterFlags {
        allocation_interval: Duration::from_millis(50),
        domain_info: Some(domain("eu", "z1")),
        ..MasterFlags::default()
    };
    let made = std::sync::atomic::AtomicUsize::new(0);
    let c = cluster_tweaked(&launcher_dir(), 2, "cpus:1;mem:256", flags, |f| {
        let i = made.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        f.domain_info = Some(if i == 0 {
            domain("eu", "z2")
        } else {
            domain("us", "z1")
        });
    })
    .await;
    let local = c.agents[0]
        .dispatch(|a: &mut Agent, _| a.id().cloned())
        .await
        .unwrap()
        .unwrap();
    let remote = c.agents[1]
        .dispatch(|a: &mut Agent, _| a.id().cloned())
        .await
        .unwrap()
        .unwrap();
    // Not region aware: only the local agent, for a second of allocations (each offer
    // declined so that it comes back).
    let mut plain = framework(&c, info("plain")).await;
    let until = Instant::now() + Duration::from_secs(1);
    let mut seen = std::collections::BTreeSet::new();
    while Instant::now() < until {
        let got = offers(&mut plain).await;
        for o in &got {
            seen.insert(o.agent_id.clone());
            assert_eq!(
                o.domain.as_ref().and_then(|d| d.region()),
                Some("eu"),
                "{o:?}"
            );
        }
        let ids: Vec<OfferID> = got.into_iter().map(|o| o.id).collect();
        let filters = Filters {
            refuse_seconds: 0.0,
        };
        drive(&plain, move |d| d.decline(ids, Some(filters))).await;
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), [local]);
    // Region aware: the remote agent too, with its domain.
    let mut aware_info = info("aware");
    aware_info.capabilities.push(FrameworkCapability {
        kind: Some(FrameworkCapabilityType::RegionAware),
    });
    let mut aware = framework(&c, aware_info).await;
    let o = loop {
        let mut got = offers(&mut aware).await;
        if let Some(i) = got.iter().position(|o| o.agent_id == remote) {
            break got.remove(i);
        }
    };
    assert_eq!(o.domain, Some(domain("us", "z1")));
    // The remote agent's checkpoint knows its domain: another one is refused at start.
    let mut f = AgentFlags::new(c.rt.address().to_string(), c.work.join("a1"));
    f.domain_info = Some(domain("eu", "z1"));
    let r =
        mesos_agent::resources::agent_resources(Some("cpus:1;mem:256"), "*", &f.work_dir).unwrap();
    let e = Agent::new(f, r, mesos_api::Attributes::default())
        .err()
        .expect("a changed domain is refused");
    let e = e.to_string();
    assert!(
        e.starts_with("Incompatible agent info detected") && e.contains("\"us\""),
        "{e}"
    );
}

/// A master without a domain ignores an agent that has one (it could not tell whether the
/// agent is remote); the agent is not shut down and keeps trying.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_without_a_domain_ignores_agents_with_one() {
    let rt = libprocess::Runtime::local().await.unwrap();
    let master = rt
        .spawn(
            "master",
            Master::new(MasterFlags {
                allocation_interval: Duration::from_millis(50),
                ..MasterFlags::default()
            }),
        )
        .unwrap();
    let work = std::env::temp_dir().join(format!("mesos-domain-{}", mesos_api::ids::new_uuid()));
    let mut f = AgentFlags::new(rt.address().to_string(), &work);
    f.domain_info = Some(domain("eu", "z1"));
    f.registration_backoff_factor = Duration::from_millis(50);
    let r = mesos_agent::resources::agent_resources(Some("cpus:1;mem:64"), "*", &work).unwrap();
    let agent = rt
        .spawn(
            "slave(1)",
            Agent::new(f, r, mesos_api::Attributes::default()).unwrap(),
        )
        .unwrap();
    // Several registration attempts go by.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let n = master
        .dispatch(|m: &mut Master, _| m.agent_count())
        .await
        .unwrap();
    assert_eq!(n, 0, "the master admitted an agent with a domain");
    let stopped = agent
        .dispatch(|a: &mut Agent, _| a.registered())
        .await
        .unwrap();
    assert!(!stopped, "the agent is registered");
    let _ = std::fs::remove_dir_all(&work);
}

/// The sandbox (`runs/<container>`) of the command task `task` under `work`, once it exists.
fn sandbox_of_task(work: &Path, task: &str) -> Option<PathBuf> {
    testkit::walk(work, testkit::Links::Skip)
        .into_iter()
        .find(|p| {
            p.ends_with("stdout")
                && p.to_string_lossy()
                    .contains(&format!("/executors/{task}/runs/"))
        })
        .and_then(|p| p.parent().map(Path::to_path_buf))
}

/// Runs a quick task and a long one on an agent tweaked by `gc`; the quick one's sandbox must
/// be garbage collected while the long one's stays.
async fn quick_sandbox_is_collected(gc: impl Fn(&mut AgentFlags)) {
    let c = cluster_tweaked(
        &launcher_dir(),
        1,
        "cpus:2;mem:256",
        MasterFlags {
            allocation_interval: Duration::from_millis(50),
            ..MasterFlags::default()
        },
        gc,
    )
    .await;
    let mut fw = framework(&c, info("gc")).await;
    let o = offers(&mut fw).await.remove(0);
    let tasks = vec![
        command_task("quick", &o.agent_id, "echo done", "cpus:0.5;mem:32"),
        command_task("long", &o.agent_id, "sleep 60", "cpus:0.5;mem:32"),
    ];
    launch(&fw, &o.id, tasks).await;
    // Quick FINISHED and long RUNNING, in whichever order they come.
    let (mut quick_done, mut long_running) = (false, false);
    while !(quick_done && long_running) {
        let s = next_update(&mut fw).await;
        match (s.task_id.value.as_str(), s.state) {
            ("quick", TaskState::Finished) => quick_done = true,
            ("long", TaskState::Running) => long_running = true,
            (_, st) if st.is_terminal() => panic!("{s:?}"),
            _ => {}
        }
    }
    let quick = sandbox_of_task(&c.work, "quick").expect("the quick task's sandbox");
    let long = sandbox_of_task(&c.work, "long").expect("the long task's sandbox");
    eventually(LIMIT, "the quick task's sandbox to be collected", || {
        if quick.exists() {
            Err(format!("{} is still there", quick.display()))
        } else {
            Ok(())
        }
    });
    assert!(long.exists(), "a running task's sandbox was collected");
    // Counted once the removal returned (just after the directory went).
    eventually(LIMIT, "gc/path_removals_succeeded to count it", || {
        let removed = c.rt.metrics().value("gc/path_removals_succeeded");
        if removed.unwrap_or(0.0) >= 1.0 {
            Ok(())
        } else {
            Err(format!("{removed:?}"))
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ended_executors_sandbox_is_garbage_collected_after_gc_delay() {
    quick_sandbox_is_collected(|f| f.gc_delay = Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_collects_ended_sandboxes_before_gc_delay() {
    // A week's delay, but a headroom of the whole disk: any usage means keeping nothing.
    quick_sandbox_is_collected(|f| {
        f.gc_delay = Duration::from_secs(7 * 86400);
        f.gc_disk_headroom = 1.0;
        f.disk_watch_interval = Duration::from_millis(100);
    })
    .await;
}

/// A master operator call (JSON): the status and the body, parsed when it is JSON.
async fn master_call(c: &Cluster, body: serde_json::Value) -> (u16, serde_json::Value) {
    let r = mesos_agent::httpc::request(
        &c.rt.address().to_string(),
        "POST",
        "/master/api/v1",
        &[
            ("Content-Type", "application/json"),
            ("Accept", "application/json"),
        ],
        body.to_string().as_bytes(),
    )
    .await
    .unwrap();
    let v = serde_json::from_slice(&r.body)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&r.body).into()));
    (r.head.status, v)
}

/// The agent's `drain_info.state` in GET_AGENTS (None: not draining), and how many agents.
async fn drain_state(c: &Cluster) -> (Option<String>, usize) {
    let (st, v) = master_call(c, serde_json::json!({"type": "GET_AGENTS"})).await;
    assert_eq!(st, 200, "{v}");
    let agents = v["get_agents"]["agents"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let state = agents
        .first()
        .and_then(|a| a["drain_info"]["state"].as_str().map(String::from));
    (state, agents.len())
}

/// DRAIN_AGENT: the agent's tasks are killed, one ignoring SIGTERM after the drain's
/// `max_grace_period` rather than its own minute; the agent gets no offers, goes DRAINING then
/// DRAINED; REACTIVATE_AGENT ends the drain; a drain with `mark_gone` ends with the agent gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draining_an_agent_kills_its_tasks_and_ends_drained_or_gone() {
    let c = cluster(&launcher_dir(), 1, "cpus:4;mem:1024").await;
    let mut fw = framework(&c, info("drained")).await;
    let o = offers(&mut fw).await.remove(0);
    let agent_id = o.agent_id.clone();
    let mut stubborn = command_task(
        "stubborn",
        &agent_id,
        "trap '' TERM; while true; do sleep 0.1; done",
        "cpus:0.5;mem:32",
    );
    stubborn.kill_policy = Some(KillPolicy {
        grace_period: Some(DurationInfo::from_duration(Duration::from_secs(60))),
    });
    let polite = command_task("polite", &agent_id, "sleep 60", "cpus:0.5;mem:32");
    launch(&fw, &o.id, vec![stubborn, polite]).await;
    let mut running = 0;
    while running < 2 {
        let s = next_update(&mut fw).await;
        assert!(!s.state.is_terminal(), "{s:?}");
        if s.state == TaskState::Running {
            running += 1;
        }
    }
    let drain = serde_json::json!({"type": "DRAIN_AGENT", "drain_agent": {
        "agent_id": {"value": agent_id.value},
        "max_grace_period": {"nanoseconds": 1_000_000_000i64}}});
    let t0 = Instant::now();
    let (st, body) = master_call(&c, drain.clone()).await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(drain_state(&c).await.0.as_deref(), Some("DRAINING"));
    // An offer made before the drain may still be on its way: it must be rescinded.
    let mut outstanding = std::collections::BTreeSet::new();
    let mut killed = std::collections::BTreeSet::new();
    while killed.len() < 2 {
        match next(&mut fw.rx, LIMIT).await {
            Seen::Update(s) if s.state.is_terminal() => {
                assert_eq!(s.state, TaskState::Killed, "{s:?}");
                killed.insert(s.task_id.value.clone());
            }
            Seen::Offers(o) => outstanding.extend(o.into_iter().map(|o| o.id)),
            Seen::Rescind(id) => {
                outstanding.remove(&id);
            }
            _ => {}
        }
    }
    assert!(
        t0.elapsed() < Duration::from_secs(20),
        "the kill took {:?}: the drain's grace period was not applied",
        t0.elapsed()
    );
    eventually_async(LIMIT, "the agent to be DRAINED", || async {
        match drain_state(&c).await.0 {
            Some(s) if s == "DRAINED" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    // Still no offers for it, and none of before the drain left standing.
    let quiet = tokio::time::timeout(Duration::from_millis(500), async {
        loop {
            match next(&mut fw.rx, LIMIT).await {
                Seen::Offers(o) => return o,
                Seen::Rescind(id) => {
                    outstanding.remove(&id);
                }
                _ => {}
            }
        }
    })
    .await;
    assert!(quiet.is_err(), "a drained agent was offered: {quiet:?}");
    assert!(
        outstanding.is_empty(),
        "offers not rescinded: {outstanding:?}"
    );
    // Unknown agents are refused.
    let (st, _) = master_call(
        &c,
        serde_json::json!({"type": "DRAIN_AGENT", "drain_agent": {"agent_id": {"value": "nope"}}}),
    )
    .await;
    assert_eq!(st, 400);
    // Reactivated: offered again, no longer draining.
    let (st, body) = master_call(
        &c,
        serde_json::json!({"type": "REACTIVATE_AGENT",
            "reactivate_agent": {"agent_id": {"value": agent_id.value}}}),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    let o = offers(&mut fw).await.remove(0);
    assert_eq!(drain_state(&c).await.0, None);
    // Drained and marked gone: the agent leaves the cluster.
    launch(
        &fw,
        &o.id,
        vec![command_task(
            "last",
            &agent_id,
            "sleep 60",
            "cpus:0.5;mem:32",
        )],
    )
    .await;
    wait_state(&mut fw, "last", TaskState::Running).await;
    let mut gone = drain.clone();
    gone["drain_agent"]["mark_gone"] = serde_json::json!(true);
    let (st, body) = master_call(&c, gone).await;
    assert_eq!(st, 200, "{body}");
    let last = states_until_terminal(&mut fw, "last").await.pop().unwrap();
    assert_eq!(last.state, TaskState::Killed, "{last:?}");
    eventually_async(LIMIT, "the drained agent to be gone", || async {
        match drain_state(&c).await.1 {
            0 => Ok(()),
            n => Err(format!("{n} agents")),
        }
    })
    .await;
}

/// The next operation status (see [`next_matching`]).
async fn next_operation_status(fw: &mut Fw) -> mesos_api::protocol::offer::OperationStatus {
    next_matching(fw, |s| match s {
        Seen::OperationStatus(o) => Some(o),
        _ => None,
    })
    .await
}

/// Operation feedback: a RESERVE with an id gets OPERATION_FINISHED from the agent, sent again
/// until the framework acknowledges it (and listed by GET_OPERATIONS on master and agent until
/// then); RECONCILE_OPERATIONS answers with its latest status, and with OPERATION_UNKNOWN once
/// it is acknowledged; an operation the master refuses gets OPERATION_ERROR at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operation_statuses_are_retried_until_acknowledged_and_reconciled() {
    use mesos_api::protocol::offer::{OfferOperation, OperationState};
    use mesos_api::OperationID;
    let c = cluster(&launcher_dir(), 1, "cpus:2;mem:256;disk:256").await;
    let mut i = info("operations");
    i.roles = vec!["ops".into()];
    let mut fw = framework(&c, i).await;
    fw.pid
        .dispatch(|p: &mut SchedulerProcess<Recorder>, _| {
            p.driver().set_implicit_acknowledgements(false)
        })
        .await
        .unwrap();
    let o = offers(&mut fw).await.remove(0);
    let agent = o.agent_id.clone();
    let op = |kind: &str, field: &str, id: &str, value: f64| -> OfferOperation {
        serde_json::from_value(serde_json::json!({"type": kind, "id": {"value": id},
            field: {"resources": [{"name": "disk", "type": "SCALAR", "scalar": {"value": value},
                "reservations": [{"type": "DYNAMIC", "role": "ops"}]}]}}))
        .unwrap()
    };
    // A good RESERVE and an UNRESERVE of what is not offered (refused).
    let ops = vec![
        op("RESERVE", "reserve", "r1", 32.0),
        op("UNRESERVE", "unreserve", "u1", 500.0),
    ];
    let oid = o.id.clone();
    fw.pid
        .dispatch(move |p: &mut SchedulerProcess<Recorder>, _| {
            p.driver().accept(vec![oid], ops, None)
        })
        .await
        .unwrap();
    let mut finished = None;
    let mut refused = None;
    while finished.is_none() || refused.is_none() {
        let s = next_operation_status(&mut fw).await;
        match s.operation_id.as_ref().map(|i| i.value.as_str()) {
            Some("r1") => finished = Some(s),
            Some("u1") => refused = Some(s),
            other => panic!("{other:?}: {s:?}"),
        }
    }
    let (finished, refused) = (finished.unwrap(), refused.unwrap());
    assert_eq!(refused.state, OperationState::Error, "{refused:?}");
    assert!(refused.uuid.is_none(), "{refused:?}");
    assert_eq!(finished.state, OperationState::Finished, "{finished:?}");
    assert_eq!(finished.agent_id.as_ref(), Some(&agent));
    let uuid = finished.uuid.clone().expect("a status to acknowledge");
    // Listed on both sides while unacknowledged.
    let (st, v) = master_call(&c, serde_json::json!({"type": "GET_OPERATIONS"})).await;
    assert_eq!(st, 200, "{v}");
    let listed = &v["get_operations"]["operations"];
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(listed[0]["latest_status"]["state"], "OPERATION_FINISHED");
    assert_eq!(listed[0]["info"]["id"]["value"], "r1");
    let agent_ops = || async {
        let r = mesos_agent::httpc::request(
            &c.rt.address().to_string(),
            "POST",
            &format!("/{}/api/v1", c.agents[0].upid().id()),
            &[("Content-Type", "application/json")],
            br#"{"type": "GET_OPERATIONS"}"#,
        )
        .await
        .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        v["get_operations"]["operations"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(agent_ops().await.len(), 1);
    // Reconciled: the latest status, with nothing to acknowledge.
    let rid = OperationID::new("r1");
    let q = vec![(rid.clone(), Some(agent.clone()))];
    fw.pid
        .dispatch(move |p: &mut SchedulerProcess<Recorder>, _| p.driver().reconcile_operations(q))
        .await
        .unwrap();
    let r = next_operation_status(&mut fw).await;
    assert_eq!(
        (r.state, r.uuid.is_none()),
        (OperationState::Finished, true),
        "{r:?}"
    );
    // Not acknowledged: the agent sends it again (after its first 10 s backoff).
    let again = next_operation_status(&mut fw).await;
    assert_eq!(again.uuid.as_ref(), Some(&uuid), "{again:?}");
    fw.pid
        .dispatch(move |p: &mut SchedulerProcess<Recorder>, _| {
            p.driver().acknowledge_operation_status(&again)
        })
        .await
        .unwrap();
    eventually_async(
        LIMIT,
        "the agent to forget the acknowledged operation",
        || async {
            match agent_ops().await.len() {
                0 => Ok(()),
                n => Err(format!("{n} operations")),
            }
        },
    )
    .await;
    let (_, v) = master_call(&c, serde_json::json!({"type": "GET_OPERATIONS"})).await;
    assert_eq!(
        v["get_operations"]["operations"],
        serde_json::json!([]),
        "{v}"
    );
    let q = vec![(rid, Some(agent.clone()))];
    fw.pid
        .dispatch(move |p: &mut SchedulerProcess<Recorder>, _| p.driver().reconcile_operations(q))
        .await
        .unwrap();
    let r = next_operation_status(&mut fw).await;
    assert_eq!(r.state, OperationState::Unknown, "{r:?}");
    // The reservation itself was applied: the agent checkpointed it.
    let checkpointed = c.agents[0]
        .dispatch(|a: &mut mesos_agent::Agent, _| a.checkpointed_resources().clone())
        .await
        .unwrap();
    assert_eq!(checkpointed.to_string(), "disk(ops):32");
}

/// PRUNE_IMAGES on the agent: an image no container uses leaves the image store, with its
/// layers; an excluded one stays; `gc/images_removed` counts them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_images_removes_unused_images_but_keeps_excluded_ones() {
    if !nix::unistd::geteuid().is_root() {
        println!("skipped: images need root (mount namespaces and pivot_root)");
        return;
    }
    let registry =
        std::env::temp_dir().join(format!("prune-registry-{}", mesos_api::ids::new_uuid()));
    for (name, marker) in [("test/a:1", "a"), ("test/b:1", "b")] {
        mesos_containerizer::testimage::write_shell_image(&registry, name, marker).unwrap();
    }
    let reg = registry.clone();
    let flags = MasterFlags {
        allocation_interval: Duration::from_millis(50),
        ..MasterFlags::default()
    };
    let c = cluster_tweaked(&launcher_dir(), 1, "cpus:2;mem:512", flags, move |f| {
        f.containerizer.launcher = mesos_containerizer::LauncherKind::Linux;
        f.containerizer.isolation =
            mesos_containerizer::parse_isolation("filesystem/linux").unwrap();
        f.containerizer.docker_registry = Some(reg.clone());
    })
    .await;
    let mut fw = framework(&c, info("pruner")).await;
    for image in ["test/a:1", "test/b:1"] {
        let o = offers(&mut fw).await.remove(0);
        let id = image.replace(['/', ':'], "-");
        let mut t = command_task(&id, &o.agent_id, "read m < /etc/marker", "cpus:0.5;mem:64");
        t.container = Some(
            serde_json::from_value(serde_json::json!({"type": "MESOS",
                "mesos": {"image": {"type": "DOCKER", "docker": {"name": image}}}}))
            .unwrap(),
        );
        launch(&fw, &o.id, vec![t]).await;
        let last = states_until_terminal(&mut fw, &id).await.pop().unwrap();
        assert_eq!(last.state, TaskState::Finished, "{last:?}");
    }
    let images = c.work.join("a0/store/docker/images/test");
    let layers = c.work.join("a0/store/docker/layers");
    let layer_count = || std::fs::read_dir(&layers).map(|d| d.count()).unwrap_or(0);
    assert!(images.join("a:1.json").exists() && images.join("b:1.json").exists());
    let before = layer_count();
    assert!(before > 0);
    let prune = serde_json::json!({"type": "PRUNE_IMAGES", "prune_images": {
        "excluded_images": [{"type": "DOCKER", "docker": {"name": "test/b:1"}}]}});
    let r = mesos_agent::httpc::request(
        &c.rt.address().to_string(),
        "POST",
        &format!("/{}/api/v1", c.agents[0].upid().id()),
        &[("Content-Type", "application/json")],
        prune.to_string().as_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(r.head.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(
        !images.join("a:1.json").exists(),
        "the unused image is still there"
    );
    assert!(images.join("b:1.json").exists(), "the excluded image went");
    assert!(layer_count() < before, "no layer went");
    assert_eq!(c.rt.metrics().value("gc/images_removed"), Some(1.0));
    let _ = std::fs::remove_dir_all(&registry);
}
