//! Agent recovery with the real binaries: SIGKILL a `mesos-agent` while tasks run, start it
//! again, and check what the framework sees (isolation with cgroups and a pid namespace when
//! the tests run as root, as in CI).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use libprocess::{Runtime, PID, UPID};
use mesos_api::protocol::framework::FrameworkInfo;
use mesos_api::protocol::offer::Offer;
use mesos_api::protocol::task::{
    CommandInfo, ExecutorInfo, Reason, TaskGroupInfo, TaskInfo, TaskState, TaskStatus,
};
use mesos_api::{AgentID, ExecutorID, Resources, TaskID};
use mesos_scheduler::{Driver, Scheduler, SchedulerProcess};
use tokio::sync::mpsc;

const LIMIT: Duration = Duration::from_secs(60);

enum Seen {
    Offers(Vec<Offer>),
    Update(TaskStatus),
}

struct Recorder(mpsc::UnboundedSender<Seen>);

impl Scheduler for Recorder {
    fn offers(&mut self, _: &mut Driver, o: Vec<Offer>) {
        let _ = self.0.send(Seen::Offers(o));
    }
    fn update(&mut self, _: &mut Driver, s: &TaskStatus) {
        let _ = self.0.send(Seen::Update(s.clone()));
    }
}

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn bin(path: &str) -> Command {
    let mut c = Command::new(path);
    for (k, _) in std::env::vars() {
        if k.starts_with("MESOS_") {
            c.env_remove(k);
        }
    }
    c.stderr(Stdio::null()).stdout(Stdio::null());
    c
}

struct Setup {
    master_port: u16,
    agent_port: u16,
    work: PathBuf,
    cgroups_root: String,
    _master: Kill,
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
        _master: Kill(m.spawn().unwrap()),
    }
}

fn root() -> bool {
    nix::unistd::geteuid().is_root()
}

impl Setup {
    /// A `mesos-agent` on a fixed port (its executors find it again there after a restart).
    fn agent(&self, extra: &[&str]) -> Kill {
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
        Kill(c.spawn().unwrap())
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

async fn next(rx: &mut mpsc::UnboundedReceiver<Seen>) -> Seen {
    tokio::time::timeout(LIMIT, rx.recv())
        .await
        .expect("timed out waiting for an event")
        .expect("scheduler gone")
}

fn task(id: &str, agent: &AgentID, cmd: &str) -> TaskInfo {
    TaskInfo {
        name: id.into(),
        task_id: TaskID::new(id),
        agent_id: agent.clone(),
        resources: Resources::parse("cpus:0.5;mem:64", "*").unwrap(),
        executor: None,
        command: Some(CommandInfo::shell(cmd)),
        kill_policy: None,
        data: None,
        labels: None,
        container: None,
        health_check: None,
    }
}

/// Launches `tasks` (id, command) on the first offer; waits until all are RUNNING.
async fn launch(
    pid: &PID<SchedulerProcess<Recorder>>,
    rx: &mut mpsc::UnboundedReceiver<Seen>,
    tasks: &[(&str, &str)],
) -> AgentID {
    let offer = loop {
        if let Seen::Offers(mut o) = next(rx).await {
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
        if let Seen::Update(s) = next(rx).await {
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
        if let Seen::Update(s) = next(rx).await {
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

/// Pids of the `sleep` processes a task started (its container's processes).
fn sleepers(tag: &str) -> Vec<i32> {
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmd) = std::fs::read_to_string(e.path().join("cmdline")) {
            if cmd.replace('\0', " ").contains(tag) {
                if let Ok(p) = e.file_name().to_string_lossy().parse() {
                    v.push(p);
                }
            }
        }
    }
    v
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
    let before = sleepers("sleep 7.77");
    assert!(!before.is_empty(), "the late task's process was not found");
    agent.0.kill().unwrap(); // SIGKILL
    agent.0.wait().unwrap();
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
    let sandboxes = walk(&s.work.join("slaves"));
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

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_symlink() {
                continue;
            }
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_of_a_framework_that_does_not_checkpoint_are_lost_when_the_agent_restarts() {
    let s = setup(&[]);
    let mut agent = s.agent(&[]);
    let (_rt, pid, mut rx) = s.framework(false).await;
    launch(&pid, &mut rx, &[("volatile", "sleep 60.61")]).await;
    agent.0.kill().unwrap();
    agent.0.wait().unwrap();
    let _agent = s.agent(&[]);
    let st = terminal_states(&mut rx, &["volatile"]).await.remove(0);
    assert_eq!(st.state, TaskState::Lost, "{st:?}");
    assert_eq!(st.reason, Some(Reason::AgentRestarted), "{st:?}");
    // Its processes are gone.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !sleepers("sleep 60.61").is_empty() {
        assert!(
            Instant::now() < deadline,
            "the task's processes outlived the restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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
        agent.0.kill().unwrap();
        agent.0.wait().unwrap();
        let extra: &[&str] = if how == "boot_id" {
            // As after a reboot.
            std::fs::write(s.work.join("meta").join("boot_id"), "another-boot").unwrap();
            &[]
        } else {
            &["--recover=cleanup"]
        };
        let _agent = s.agent(extra);
        // The old container is destroyed.
        let deadline = Instant::now() + Duration::from_secs(15);
        while !sleepers(&tag).is_empty() {
            assert!(
                Instant::now() < deadline,
                "{how}: the old container survived"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The task is lost with the old agent, and a new agent id is offered.
        let mut lost = false;
        let mut new_agent = None;
        while !lost || new_agent.is_none() {
            match next(&mut rx).await {
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
    let deadline = Instant::now() + LIMIT;
    loop {
        let r = mesos_agent::httpc::request(
            &format!("127.0.0.1:{port}"),
            "POST",
            "/slave(1)/api/v1",
            &[
                ("Content-Type", "application/json"),
                ("Accept", "application/json"),
            ],
            br#"{"type":"GET_CONTAINERS"}"#,
        )
        .await;
        if let Some(r) = r.ok().filter(|r| r.head.status == 200) {
            return serde_json::from_slice(&r.body).unwrap();
        }
        assert!(Instant::now() < deadline, "the agent did not answer");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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
        if let Seen::Offers(mut o) = next(&mut rx).await {
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
        if let Seen::Update(st) = next(&mut rx).await {
            assert!(!st.state.is_terminal(), "{st:?}");
            running += usize::from(st.state == TaskState::Running);
        }
    }
    assert_eq!(nested_count(&agent_containers(s.agent_port).await), 3);
    let before = sleepers("sleep 61.7");
    // Each task's shell and its sleep.
    assert!(before.len() >= 2, "the tasks' processes were not found");
    agent.0.kill().unwrap(); // SIGKILL
    agent.0.wait().unwrap();
    let _agent = s.agent(&[]);
    // The new agent adopted the nested containers, and the tasks live on.
    let deadline = Instant::now() + LIMIT;
    while nested_count(&agent_containers(s.agent_port).await) < 2 {
        assert!(
            Instant::now() < deadline,
            "the nested containers were not recovered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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
    let deadline = Instant::now() + Duration::from_secs(10);
    while before.iter().any(|p| alive(*p)) {
        assert!(Instant::now() < deadline, "the tasks' processes live on");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
