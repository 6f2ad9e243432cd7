//! Agent recovery with the real binaries: SIGKILL a `mesos-agent` while tasks run, start it
//! again, and check what the framework sees (isolation with cgroups and a pid namespace when
//! the tests run as root, as in CI).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{processes, processes_end};
use libprocess::{Runtime, PID, UPID};
use mesos_api::protocol::framework::FrameworkInfo;
use mesos_api::protocol::offer::{Launch, OfferOperation, OperationType};
use mesos_api::protocol::task::{
    ExecutorInfo, Reason, TaskGroupInfo, TaskInfo, TaskState, TaskStatus,
};
use mesos_api::{AgentID, ExecutorID, Resources};
use mesos_scheduler::SchedulerProcess;
use testkit::{command_task, free_port, next, walk, Eventually, Links, Proc, Recorder, Seen};
use tokio::sync::mpsc;

const LIMIT: Duration = Duration::from_secs(60);

/// The command for the binary at `path`, its output discarded (see `testkit::command`).
fn bin(path: &str) -> Command {
    let mut c = testkit::command(path);
    c.stderr(Stdio::null()).stdout(Stdio::null());
    c
}

struct Setup {
    master_port: u16,
    agent_port: u16,
    work: PathBuf,
    cgroups_root: String,
    _master: Proc,
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.work);
        // The agent was SIGKILLed: whatever it left under its cgroups root goes.
        for h in ["cpu", "cpuacct", "memory", "pids", "freezer"] {
            let root = Path::new("/sys/fs/cgroup").join(h).join(&self.cgroups_root);
            for c in std::fs::read_dir(&root).into_iter().flatten().flatten() {
                if c.path().is_dir() {
                    let procs =
                        std::fs::read_to_string(c.path().join("cgroup.procs")).unwrap_or_default();
                    for p in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                        let _ = nix::sys::signal::kill(
                            nix::unistd::Pid::from_raw(p),
                            nix::sys::signal::Signal::SIGKILL,
                        );
                    }
                    for _ in 0..100 {
                        if std::fs::remove_dir(c.path()).is_ok() {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(10));
                    }
                }
            }
            let _ = std::fs::remove_dir(&root);
        }
    }
}

fn setup(master_flags: &[&str]) -> Setup {
    let master_port = free_port();
    let mut m = bin(env!("CARGO_BIN_EXE_mesos-master"));
    m.arg(format!("--port={master_port}"))
        .arg("--allocation_interval=50ms")
        .args(master_flags);
    Setup {
        master_port,
        agent_port: free_port(),
        work: std::env::temp_dir().join(format!("mesos-recovery-{}", mesos_api::ids::new_uuid())),
        cgroups_root: format!("mesos-recovery-{}", mesos_api::ids::new_uuid()),
        _master: Proc::spawn(&mut m),
    }
}

fn root() -> bool {
    nix::unistd::geteuid().is_root()
}

impl Setup {
    /// A `mesos-agent` on a fixed port (its executors find it again there after a restart).
    fn agent(&self, extra: &[&str]) -> Proc {
        let mut c = bin(env!("CARGO_BIN_EXE_mesos-agent"));
        c.arg(format!("--master=127.0.0.1:{}", self.master_port))
            .arg(format!("--port={}", self.agent_port))
            .arg(format!("--work_dir={}", self.work.display()))
            .arg("--resources=cpus:4;mem:1024;disk:1024")
            .arg("--registration_backoff_factor=100ms")
            .args(extra);
        if extra.iter().any(|a| a.starts_with("--isolation=")) {
            // The test chose.
        } else if root() {
            c.arg("--isolation=cgroups/cpu,cgroups/mem,namespaces/pid")
                .arg(format!("--cgroups_root={}", self.cgroups_root));
        } else {
            println!("not root: the agent runs with the posix launcher and no cgroups");
            c.arg("--launcher=posix");
        }
        Proc::spawn(&mut c)
    }

    async fn framework(
        &self,
        checkpoint: bool,
    ) -> (
        Runtime,
        PID<SchedulerProcess<Recorder>>,
        mpsc::UnboundedReceiver<Seen>,
    ) {
        let rt = Runtime::local().await.unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        let master = UPID::new(
            "master",
            format!("127.0.0.1:{}", self.master_port).parse().unwrap(),
        );
        let mut info = FrameworkInfo::new("recovery", "root");
        info.checkpoint = checkpoint;
        info.failover_timeout = 60.0;
        let pid = mesos_scheduler::start(&rt, master, info, Recorder(tx)).unwrap();
        (rt, pid, rx)
    }
}

/// A task of half a cpu and 64 MB running `cmd`.
fn task(id: &str, agent: &AgentID, cmd: &str) -> TaskInfo {
    command_task(id, agent, cmd, "cpus:0.5;mem:64")
}

/// Launches `tasks` (id, command) on the first offer; waits until all are RUNNING.
async fn launch(
    pid: &PID<SchedulerProcess<Recorder>>,
    rx: &mut mpsc::UnboundedReceiver<Seen>,
    tasks: &[(&str, &str)],
) -> AgentID {
    let offer = loop {
        if let Seen::Offers(mut o) = next(rx, LIMIT).await {
            break o.remove(0);
        }
    };
    let infos: Vec<TaskInfo> = tasks
        .iter()
        .map(|(id, c)| task(id, &offer.agent_id, c))
        .collect();
    let oid = offer.id.clone();
    pid.dispatch(move |p: &mut SchedulerProcess<Recorder>, _| p.driver().launch(&oid, infos, None))
        .await
        .unwrap();
    let mut running = 0;
    while running < tasks.len() {
        if let Seen::Update(s) = next(rx, LIMIT).await {
            match s.state {
                TaskState::Running => running += 1,
                TaskState::Starting | TaskState::Staging => {}
                other => panic!("task {} went {other}: {:?}", s.task_id, s.message),
            }
        }
    }
    offer.agent_id
}

/// The terminal update of each of `ids`.
async fn terminal_states(rx: &mut mpsc::UnboundedReceiver<Seen>, ids: &[&str]) -> Vec<TaskStatus> {
    let mut out: Vec<TaskStatus> = Vec::new();
    while out.len() < ids.len() {
        if let Seen::Update(s) = next(rx, LIMIT).await {
            if s.state.is_terminal() && ids.contains(&s.task_id.value.as_str()) {
                out.push(s);
            }
        }
    }
    out.sort_by(|a, b| a.task_id.value.cmp(&b.task_id.value));
    out
}

fn alive(pid: i32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_and_restarted_agent_keeps_checkpointed_tasks_which_then_finish() {
    let s = setup(&[]);
    let mut agent = s.agent(&[]);
    let (_rt, pid, mut rx) = s.framework(true).await;
    // One task finishes while the agent is down (its executor holds the update and resends
    // it), the other after the agent is back.
    let aid = launch(
        &pid,
        &mut rx,
        &[
            ("early", "sleep 1.5 && echo early-done"),
            ("late", "sleep 7.77 && echo late-done"),
        ],
    )
    .await;
    let before = processes("sleep 7.77");
    assert!(!before.is_empty(), "the late task's process was not found");
    agent.kill().unwrap(); // SIGKILL
    agent.wait().unwrap();
    // The agent stays down while the early task ends (a quiet period: the late one must not).
    tokio::time::sleep(Duration::from_secs(3)).await;
    // The task survived the agent.
    assert!(
        before.iter().any(|p| alive(*p)),
        "the task died with the agent"
    );
    let _agent = s.agent(&[]);
    let done = terminal_states(&mut rx, &["early", "late"]).await;
    for st in &done {
        assert_eq!(st.state, TaskState::Finished, "{st:?}");
        // The agent came back with the same id.
        assert_eq!(st.agent_id.as_ref(), Some(&aid));
    }
    // Each task's stdout has its line: they ran to the end.
    let sandboxes = walk(&s.work.join("slaves"), Links::Skip);
    for word in ["early-done", "late-done"] {
        assert!(
            sandboxes.iter().any(|p| p.ends_with("stdout")
                && std::fs::read_to_string(p)
                    .unwrap_or_default()
                    .contains(word)),
            "no '{word}' in any sandbox"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_of_a_framework_that_does_not_checkpoint_are_lost_when_the_agent_restarts() {
    let s = setup(&[]);
    let mut agent = s.agent(&[]);
    let (_rt, pid, mut rx) = s.framework(false).await;
    launch(&pid, &mut rx, &[("volatile", "sleep 60.61")]).await;
    agent.kill().unwrap();
    agent.wait().unwrap();
    let _agent = s.agent(&[]);
    let st = terminal_states(&mut rx, &["volatile"]).await.remove(0);
    assert_eq!(st.state, TaskState::Lost, "{st:?}");
    // The master asked the agent about it (Mesos's reconciliation at reregistration).
    assert_eq!(st.reason, Some(Reason::Reconciliation), "{st:?}");
    // Its processes are gone (they do not outlive the restart).
    processes_end(Duration::from_secs(10), "sleep 60.61").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_boot_id_or_recover_cleanup_makes_a_new_agent_and_kills_old_containers() {
    for how in ["boot_id", "cleanup"] {
        // Short pings: the old agent is declared gone quickly.
        let s = setup(&["--agent_ping_timeout=200ms", "--max_agent_ping_timeouts=3"]);
        let mut agent = s.agent(&[]);
        let (_rt, pid, mut rx) = s.framework(true).await;
        let tag = format!("sleep 61.{}", how.len());
        let old = launch(&pid, &mut rx, &[("old", &tag)]).await;
        agent.kill().unwrap();
        agent.wait().unwrap();
        let extra: &[&str] = if how == "boot_id" {
            // As after a reboot.
            std::fs::write(s.work.join("meta").join("boot_id"), "another-boot").unwrap();
            &[]
        } else {
            &["--recover=cleanup"]
        };
        let _agent = s.agent(extra);
        // The old container is destroyed (it does not survive).
        processes_end(Duration::from_secs(15), &tag).await;
        // The task is lost with the old agent, and a new agent id is offered.
        let mut lost = false;
        let mut new_agent = None;
        while !lost || new_agent.is_none() {
            match next(&mut rx, LIMIT).await {
                Seen::Update(st) if st.task_id.value == "old" => {
                    assert!(st.state.is_terminal(), "{how}: {st:?}");
                    assert_eq!(st.state, TaskState::Lost, "{how}: {st:?}");
                    lost = true;
                }
                Seen::Offers(os) => {
                    for o in os {
                        if o.agent_id != old {
                            new_agent = Some(o.agent_id);
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

/// The agent's GET_CONTAINERS answer, once it serves it.
async fn agent_containers(port: u16) -> serde_json::Value {
    let addr = format!("127.0.0.1:{port}");
    Eventually::new(LIMIT, "the agent to answer GET_CONTAINERS")
        .every(Duration::from_millis(100))
        .until_async(|| async {
            let r = mesos_agent::httpc::request(
                &addr,
                "POST",
                "/slave(1)/api/v1",
                &[
                    ("Content-Type", "application/json"),
                    ("Accept", "application/json"),
                ],
                br#"{"type":"GET_CONTAINERS"}"#,
            )
            .await;
            match r {
                Ok(r) if r.head.status == 200 => Ok(serde_json::from_slice(&r.body).unwrap()),
                Ok(r) => Err(format!("status {}", r.head.status)),
                Err(e) => Err(e.to_string()),
            }
        })
        .await
}

/// The nested containers (those with a parent) GET_CONTAINERS lists.
fn nested_count(v: &serde_json::Value) -> usize {
    v["get_containers"]["containers"]
        .as_array()
        .map_or(0, |cs| {
            cs.iter()
                .filter(|c| !c["container_id"]["parent"].is_null())
                .count()
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_group_keeps_its_nested_containers_across_an_agent_restart() {
    let s = setup(&[]);
    let mut agent = s.agent(&[]);
    let (_rt, pid, mut rx) = s.framework(true).await;
    let offer = loop {
        if let Seen::Offers(mut o) = next(&mut rx, LIMIT).await {
            break o.remove(0);
        }
    };
    let executor = ExecutorInfo::default_executor(
        ExecutorID::new("pod"),
        Resources::parse("cpus:0.1;mem:32", "*").unwrap(),
    );
    let tasks = vec![
        task("pod-a", &offer.agent_id, "sleep 61.71"),
        task("pod-b", &offer.agent_id, "sleep 61.72"),
        // Ends after the agent is killed: the restarted agent reports how.
        task("pod-c", &offer.agent_id, "sleep 6; exit 3"),
    ];
    let oid = offer.id.clone();
    pid.dispatch(move |p: &mut SchedulerProcess<Recorder>, _| {
        p.driver()
            .launch_group(&oid, executor, TaskGroupInfo { tasks }, None)
    })
    .await
    .unwrap();
    let mut running = 0;
    while running < 3 {
        if let Seen::Update(st) = next(&mut rx, LIMIT).await {
            assert!(!st.state.is_terminal(), "{st:?}");
            running += usize::from(st.state == TaskState::Running);
        }
    }
    assert_eq!(nested_count(&agent_containers(s.agent_port).await), 3);
    let before = processes("sleep 61.7");
    // Each task's shell and its sleep.
    assert!(before.len() >= 2, "the tasks' processes were not found");
    agent.kill().unwrap(); // SIGKILL
    agent.wait().unwrap();
    let _agent = s.agent(&[]);
    // The new agent adopted the nested containers, and the tasks live on.
    Eventually::new(LIMIT, "the nested containers to be recovered")
        .every(Duration::from_millis(100))
        .until_async(|| async {
            match nested_count(&agent_containers(s.agent_port).await) {
                n if n >= 2 => Ok(()),
                n => Err(format!("{n} nested containers")),
            }
        })
        .await;
    assert!(
        before.iter().all(|p| alive(*p)),
        "a task died in the restart"
    );
    // pod-c's exit status crossed the restart (its init kept it), and its failure killed the
    // rest of the group through the recovered containers.
    let done = terminal_states(&mut rx, &["pod-a", "pod-b", "pod-c"]).await;
    assert_eq!(done[2].state, TaskState::Failed, "{:?}", done[2]);
    assert_eq!(
        done[2].message.as_deref(),
        Some("Command exited with status 3"),
        "{:?}",
        done[2]
    );
    for st in &done[..2] {
        assert_eq!(st.state, TaskState::Killed, "{st:?}");
    }
    Eventually::new(Duration::from_secs(10), "the tasks' processes to end")
        .every(Duration::from_millis(100))
        .until_async(|| {
            let left: Vec<i32> = before.iter().copied().filter(|p| alive(*p)).collect();
            std::future::ready(if left.is_empty() {
                Ok(())
            } else {
                Err(format!("live on: {left:?}"))
            })
        })
        .await;
}

/// A JSON resource of 64 MB of disk reserved for `vol`, as a persistent volume `v1` at `data`
/// when `volume`.
fn disk_json(volume: bool) -> serde_json::Value {
    let mut r = serde_json::json!({"name": "disk", "type": "SCALAR", "scalar": {"value": 64},
        "reservations": [{"type": "DYNAMIC", "role": "vol"}]});
    if volume {
        r["disk"] = serde_json::json!({"persistence": {"id": "v1"},
            "volume": {"container_path": "data", "mode": "RW"}});
    }
    r
}

fn resources(v: serde_json::Value) -> Resources {
    Resources::from_json(&serde_json::json!([v])).unwrap()
}

fn operation(kind: &str, field: &str, key: &str, r: &Resources) -> OfferOperation {
    let r = r.to_json(mesos_api::resources::ResourceFormat::Refined);
    serde_json::from_value(serde_json::json!({"type": kind, field: {key: r}})).unwrap()
}

fn has_volume(o: &mesos_api::protocol::offer::Offer) -> bool {
    o.resources.persistent_volumes().iter().any(|r| {
        r.disk
            .as_ref()
            .and_then(|d| d.persistence.as_ref())
            .is_some_and(|p| p.id == "v1")
    })
}

/// Runs `task` (with the volume in its resources) on the first offer holding the volume, with
/// `ops` before it; its terminal update.
async fn on_volume(
    pid: &PID<SchedulerProcess<Recorder>>,
    rx: &mut mpsc::UnboundedReceiver<Seen>,
    ops: Vec<OfferOperation>,
    task: Option<&dyn Fn(&AgentID) -> TaskInfo>,
    wanted: impl Fn(&mesos_api::protocol::offer::Offer) -> bool,
) -> Option<TaskStatus> {
    // An offer may be rescinded before the accept arrives (a restarted agent's old link
    // breaking late disconnects it for a moment): the task is then LOST with
    // REASON_INVALID_OFFERS, and a framework tries the next offer, as this does.
    for _ in 0..3 {
        let offer = loop {
            if let Seen::Offers(offers) = next(rx, LIMIT).await {
                let (mut hit, rest): (Vec<_>, Vec<_>) = offers.into_iter().partition(|o| wanted(o));
                // What is not used goes back, to come again (with the volume, once there).
                let extra = hit.len().saturating_sub(1);
                let back: Vec<_> = rest
                    .into_iter()
                    .chain(hit.drain(1.min(hit.len())..).take(extra))
                    .map(|o| o.id)
                    .collect();
                if !back.is_empty() {
                    pid.dispatch(move |p: &mut SchedulerProcess<Recorder>, _| {
                        p.driver().decline(back, None)
                    })
                    .await
                    .unwrap();
                }
                if !hit.is_empty() {
                    break hit.remove(0);
                }
            }
        };
        let task = task.map(|make| make(&offer.agent_id));
        let mut ops = ops.clone();
        let id = task.as_ref().map(|t| t.task_id.value.clone());
        if let Some(t) = task {
            ops.push(OfferOperation {
                launch: Some(Launch {
                    task_infos: vec![t],
                }),
                ..OfferOperation::new(OperationType::Launch)
            });
        }
        let oid = offer.id.clone();
        pid.dispatch(move |p: &mut SchedulerProcess<Recorder>, _| {
            p.driver().accept(vec![oid], ops, None)
        })
        .await
        .unwrap();
        let id = id?;
        let s = terminal_states(rx, &[id.as_str()]).await.remove(0);
        if s.state == TaskState::Lost && s.reason == Some(Reason::InvalidOffers) {
            continue;
        }
        return Some(s);
    }
    panic!("three offers in a row were no longer valid when accepted");
}

async fn agent_registered(port: u16) {
    testkit::eventually_async(LIMIT, "the restarted agent registered", || async move {
        let r = mesos_agent::httpc::request(
            &format!("127.0.0.1:{port}"),
            "GET",
            "/metrics/snapshot",
            &[],
            b"",
        )
        .await
        .map_err(|e| e.to_string())?;
        let v: serde_json::Value = serde_json::from_slice(&r.body).map_err(|e| e.to_string())?;
        match v["slave/registered"].as_f64() {
            Some(1.0) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
}

/// A framework reserves disk, creates a persistent volume and writes a file into it from a
/// task; the agent is SIGKILLed and restarted; a second task on the re-offered volume reads
/// the file; DESTROY removes the volume's directory, and the operator API creates and destroys
/// it again. `isolation`: the agent's (filesystem/linux bind mounts the volume, the default
/// filesystem/posix links it).
async fn a_persistent_volume_outlives_its_task_and_the_agent(isolation: Option<&str>) {
    let s = setup(&[]);
    let flag = isolation.map(|i| format!("--isolation={i}"));
    let extra: Vec<&str> = flag.iter().map(String::as_str).collect();
    let mut agent = s.agent(&extra);
    let rt = Runtime::local().await.unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let master = UPID::new(
        "master",
        format!("127.0.0.1:{}", s.master_port).parse().unwrap(),
    );
    let mut info = FrameworkInfo::new("volumes", "root");
    info.checkpoint = true;
    info.failover_timeout = 60.0;
    info.role = Some("vol".into());
    let pid = mesos_scheduler::start(&rt, master, info, Recorder(tx)).unwrap();
    let volume = resources(disk_json(true));
    let writer = |id: &str, agent: &AgentID, cmd: &str| {
        let mut t = task(id, agent, cmd);
        t.resources.add_all(&volume);
        t
    };
    // Reserve, create and write, on the first offer.
    let first = loop {
        if let Seen::Offers(mut o) = next(&mut rx, LIMIT).await {
            break o.remove(0);
        }
    };
    let aid = first.agent_id.clone();
    let ops = vec![
        operation(
            "RESERVE",
            "reserve",
            "resources",
            &resources(disk_json(false)),
        ),
        operation("CREATE", "create", "volumes", &volume),
        OfferOperation {
            launch: Some(Launch {
                task_infos: vec![writer(
                    "writer",
                    &aid,
                    "echo persisted > data/file && ls -la . >&2",
                )],
            }),
            ..OfferOperation::new(OperationType::Launch)
        },
    ];
    let oid = first.id.clone();
    pid.dispatch(move |p: &mut SchedulerProcess<Recorder>, _| {
        p.driver().accept(vec![oid], ops, None)
    })
    .await
    .unwrap();
    let done = terminal_states(&mut rx, &["writer"]).await.remove(0);
    assert_eq!(done.state, TaskState::Finished, "{done:?}");
    let dir = s.work.join("volumes/roles/vol/v1");
    assert_eq!(
        std::fs::read_to_string(dir.join("file")).unwrap(),
        "persisted\n"
    );
    let checkpoint = s.work.join("meta/resources/resources.info");
    assert!(std::fs::read_to_string(&checkpoint)
        .unwrap()
        .contains("\"v1\""));

    // The agent dies and comes back; the volume is offered again and holds the file.
    agent.kill().unwrap();
    agent.wait().unwrap();
    let mut agent = s.agent(&extra);
    agent_registered(s.agent_port).await;
    let reader = |a: &AgentID| {
        writer(
            "reader",
            a,
            "test \"$(cat data/file)\" = persisted && echo again >> data/file",
        )
    };
    let read = on_volume(&pid, &mut rx, vec![], Some(&reader), has_volume)
        .await
        .unwrap();
    assert_eq!(read.state, TaskState::Finished, "{read:?}");
    assert_eq!(
        std::fs::read_to_string(dir.join("file")).unwrap(),
        "persisted\nagain\n"
    );
    // Where the task saw it: filesystem/posix links the volume into the sandbox;
    // filesystem/linux mounts it in the container's own mount namespace (the host sees the
    // empty mount point).
    let points = named(&s.work.join("slaves"), "data");
    assert!(!points.is_empty(), "no 'data' in any sandbox");
    for p in &points {
        let link = std::fs::symlink_metadata(p)
            .unwrap()
            .file_type()
            .is_symlink();
        assert_eq!(link, isolation.is_none(), "{}", p.display());
    }

    // A new agent on the same work directory (its old checkpoint discarded) registers with the
    // checkpointed resources: the volume comes back with it, data and all.
    agent.kill().unwrap();
    agent.wait().unwrap();
    // Once the master saw its connection break (else the new agent, at the same address,
    // would be taken for the old one retrying its registration).
    testkit::eventually_async(LIMIT, "the killed agent inactive", || async {
        let r = mesos_agent::httpc::request(
            &format!("127.0.0.1:{}", s.master_port),
            "GET",
            "/master/slaves",
            &[],
            b"",
        )
        .await
        .map_err(|e| e.to_string())?;
        let v: serde_json::Value = serde_json::from_slice(&r.body).map_err(|e| e.to_string())?;
        match v["slaves"][0]["active"].as_bool() {
            Some(false) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let mut again = extra.clone();
    again.push("--recover=cleanup");
    let _agent = s.agent(&again);
    let reader2 = |a: &AgentID| writer("reader2", a, "grep -q again data/file");
    let read = on_volume(&pid, &mut rx, vec![], Some(&reader2), |o| {
        has_volume(o) && o.agent_id != aid
    })
    .await
    .unwrap();
    assert_eq!(read.state, TaskState::Finished, "{read:?}");
    let aid = read.agent_id.clone().unwrap();

    let call = |kind: &str, field: &str| {
        serde_json::json!({"type": kind, field: {"agent_id": {"value": aid.value},
            "volumes": [disk_json(true)]}})
    };
    let operator = |body: serde_json::Value| async move {
        let r = mesos_agent::httpc::request(
            &format!("127.0.0.1:{}", s.master_port),
            "POST",
            "/api/v1",
            &[("Content-Type", "application/json")],
            body.to_string().as_bytes(),
        )
        .await
        .unwrap();
        (r.head.status, String::from_utf8_lossy(&r.body).to_string())
    };
    // A volume a task uses cannot be destroyed: the operator hears 409.
    let hold = OfferOperation {
        launch: Some(Launch {
            task_infos: vec![writer("holder", &aid, "sleep 600")],
        }),
        ..OfferOperation::new(OperationType::Launch)
    };
    on_volume(&pid, &mut rx, vec![hold], None, has_volume).await;
    loop {
        if let Seen::Update(u) = next(&mut rx, LIMIT).await {
            assert!(!u.state.is_terminal(), "{u:?}");
            if u.state == TaskState::Running {
                break;
            }
        }
    }
    let (st, body) = operator(call("DESTROY_VOLUMES", "destroy_volumes")).await;
    assert_eq!(st, 409, "a volume in use: {body}");
    let holder_agent = aid.clone();
    pid.dispatch(move |p: &mut SchedulerProcess<Recorder>, _| {
        p.driver()
            .kill(mesos_api::TaskID::new("holder"), Some(holder_agent), None)
    })
    .await
    .unwrap();
    let held = terminal_states(&mut rx, &["holder"]).await.remove(0);
    assert_eq!(held.state, TaskState::Killed, "{held:?}");

    // DESTROY removes the directory (and the checkpoint forgets it).
    let destroy = operation("DESTROY", "destroy", "volumes", &volume);
    on_volume(&pid, &mut rx, vec![destroy], None, has_volume).await;
    testkit::eventually(LIMIT, "the volume's directory removed", || {
        if dir.exists() {
            Err("still there")
        } else {
            Ok(())
        }
    });
    assert!(!std::fs::read_to_string(&checkpoint)
        .unwrap()
        .contains("\"v1\""));

    // The operator API: CREATE_VOLUMES on the reserved disk (held in the framework's offer,
    // which is rescinded for it), DESTROY_VOLUMES after.
    let (st, body) = operator(call("CREATE_VOLUMES", "create_volumes")).await;
    assert_eq!(st, 202, "{body}");
    testkit::eventually(LIMIT, "the volume's directory made", || {
        if dir.is_dir() {
            Ok(())
        } else {
            Err("missing")
        }
    });
    let (st, body) = operator(call("CREATE_VOLUMES", "create_volumes")).await;
    assert_eq!(st, 400, "an id in use: {body}");
    assert!(body.contains("already in use"), "{body}");
    // Resized: shrunk by 16 (freed as reserved disk), then grown back with it; the agent's
    // checkpoint follows, and the volume keeps its directory.
    std::fs::write(dir.join("kept"), "yes").unwrap();
    let volume_size = || {
        let text = std::fs::read(&checkpoint).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&text).unwrap();
        let r = Resources::from_json(&v).unwrap();
        r.persistent_volumes().to_string()
    };
    let (st, body) = operator(
        serde_json::json!({"type": "SHRINK_VOLUME", "shrink_volume": {
        "agent_id": {"value": aid.value}, "volume": disk_json(true), "subtract": {"value": 16}}}),
    )
    .await;
    assert_eq!(st, 202, "{body}");
    testkit::eventually(
        LIMIT,
        "the shrunk volume checkpointed",
        || match volume_size() {
            s if s == "disk(vol)[v1]:48" => Ok(()),
            s => Err(s),
        },
    );
    let mut shrunk = disk_json(true);
    shrunk["scalar"]["value"] = serde_json::json!(48);
    let mut addition = disk_json(false);
    addition["scalar"]["value"] = serde_json::json!(16);
    let (st, body) = operator(serde_json::json!({"type": "GROW_VOLUME", "grow_volume": {
        "agent_id": {"value": aid.value}, "volume": shrunk, "addition": addition}}))
    .await;
    assert_eq!(st, 202, "{body}");
    testkit::eventually(
        LIMIT,
        "the grown volume checkpointed",
        || match volume_size() {
            s if s == "disk(vol)[v1]:64" => Ok(()),
            s => Err(s),
        },
    );
    assert_eq!(std::fs::read_to_string(dir.join("kept")).unwrap(), "yes");
    let (st, body) = operator(call("DESTROY_VOLUMES", "destroy_volumes")).await;
    assert_eq!(st, 202, "{body}");
    testkit::eventually(LIMIT, "the volume's directory removed again", || {
        if dir.exists() {
            Err("still there")
        } else {
            Ok(())
        }
    });
    drop(rt);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persistent_volume_linked_by_filesystem_posix_outlives_its_task_and_the_agent() {
    a_persistent_volume_outlives_its_task_and_the_agent(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persistent_volume_mounted_by_filesystem_linux_outlives_its_task_and_the_agent() {
    if !root() {
        println!("skipped: filesystem/linux needs root");
        return;
    }
    a_persistent_volume_outlives_its_task_and_the_agent(Some("filesystem/linux")).await;
}

/// Every path under `root` named `name` (links not followed).
fn named(root: &Path, name: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if e.file_name() == name {
                out.push(p.clone());
            }
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                todo.push(p);
            }
        }
    }
    out
}

/// A sandbox scheduled for garbage collection before the agent was killed is scheduled again
/// when it restarts as a new agent (`--gc_delay` after it was last changed) and removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ended_sandbox_is_collected_after_an_agent_restart() {
    let s = setup(&[]);
    // No disk watch within the test: only the delay removes it.
    let gc = ["--gc_delay=4secs", "--disk_watch_interval=1hrs"];
    let mut agent = s.agent(&gc);
    let (_rt, pid, mut rx) = s.framework(true).await;
    let offer = loop {
        if let Seen::Offers(mut o) = next(&mut rx, LIMIT).await {
            break o.remove(0);
        }
    };
    let t = task("brief", &offer.agent_id, "echo brief-done");
    let oid = offer.id.clone();
    pid.dispatch(move |p: &mut SchedulerProcess<Recorder>, _| {
        p.driver().launch(&oid, vec![t], None)
    })
    .await
    .unwrap();
    let done = terminal_states(&mut rx, &["brief"]).await.remove(0);
    assert_eq!(done.state, TaskState::Finished, "{done:?}");
    let sandboxes = || {
        named(&s.work.join("slaves"), "stdout")
            .into_iter()
            .filter(|p| {
                std::fs::read_to_string(p)
                    .unwrap_or_default()
                    .contains("brief-done")
            })
            .count()
    };
    assert_eq!(sandboxes(), 1);
    // Killed before its 4 s are up, the schedule in memory lost with it, and started as a new
    // agent: nothing recovers the old agent's sandboxes but the rescheduling.
    agent.kill().unwrap();
    agent.wait().unwrap();
    let mut fresh = gc.to_vec();
    fresh.push("--recover=cleanup");
    let _agent = s.agent(&fresh);
    testkit::eventually(LIMIT, "the old sandbox collected", || match sandboxes() {
        0 => Ok(()),
        n => Err(format!("{n} left")),
    });
}
