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
            .arg("--resources=cpus:4;mem:1024")
            .arg("--registration_backoff_factor=100ms")
            .args(extra);
        if root() {
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
    assert_eq!(st.reason, Some(Reason::AgentRestarted), "{st:?}");
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
