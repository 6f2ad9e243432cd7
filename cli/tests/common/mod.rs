//! What the fault and partition tests share: a framework on the test's runtime, launching a
//! task on the first offer, waiting for a task's next state, reconciling, and finding (and
//! waiting out) a task's processes by a tag in their command line.

#![allow(dead_code)]

pub mod secure;

use std::net::IpAddr;
use std::time::Duration;

use libprocess::{Config, Runtime, PID, UPID};
use mesos_api::protocol::framework::{FrameworkCapability, FrameworkCapabilityType, FrameworkInfo};
use mesos_api::protocol::offer::Offer;
use mesos_api::protocol::task::{Reason, TaskInfo, TaskState, TaskStatus};
use mesos_api::{AgentID, FrameworkID, TaskID};
use mesos_scheduler::SchedulerProcess;
use testkit::{command_task, next, Eventually, Recorder, Seen};
use tokio::sync::mpsc;

/// The longest any one step may take.
pub const LIMIT: Duration = Duration::from_secs(60);

/// A framework of the test (the Rust SDK on the test's own runtime).
pub struct Framework {
    pub rt: Runtime,
    pub pid: PID<SchedulerProcess<Recorder>>,
    pub rx: mpsc::UnboundedReceiver<Seen>,
}

/// Starts a framework named `name` against the master at `master` (`ip:port`), its runtime
/// listening on `ip`; partition-aware and checkpointing as asked.
pub async fn framework(
    ip: IpAddr,
    master: &str,
    name: &str,
    partition_aware: bool,
    checkpoint: bool,
    failover_timeout: f64,
) -> Framework {
    let mut info = FrameworkInfo::new(name, "root");
    info.checkpoint = checkpoint;
    info.failover_timeout = failover_timeout;
    if partition_aware {
        info.capabilities.push(FrameworkCapability {
            kind: Some(FrameworkCapabilityType::PartitionAware),
        });
    }
    framework_with(ip, master, info).await
}

/// Starts a framework of `info` against the master at `master` (`ip:port`), its runtime
/// listening on `ip`.
pub async fn framework_with(ip: IpAddr, master: &str, info: FrameworkInfo) -> Framework {
    let rt = Runtime::bind(Config {
        ip,
        ..Config::default()
    })
    .await
    .unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    let master = UPID::new("master", master.parse().unwrap());
    let pid = mesos_scheduler::start(&rt, master, info, Recorder(tx)).unwrap();
    Framework { rt, pid, rx }
}

impl Framework {
    /// Launches one task (id, shell command) of half a cpu and 32 MB on the first offer and
    /// waits until it is RUNNING; returns its agent.
    pub async fn launch(&mut self, id: &str, cmd: &str) -> AgentID {
        let s = self.try_launch(id, cmd, None).await;
        assert_eq!(s.state, TaskState::Running, "task {id}: {s:?}");
        s.agent_id.expect("the task's agent")
    }

    /// Launches one task as [`Framework::launch`] does, its command run as `user` if given,
    /// and hands back its first state past STAGING and STARTING (the next offer is tried when
    /// the first was rescinded meanwhile).
    pub async fn try_launch(&mut self, id: &str, cmd: &str, user: Option<&str>) -> TaskStatus {
        loop {
            let mut task = command_task(id, &AgentID::new(""), cmd, "cpus:0.5;mem:32");
            if let Some(c) = task.command.as_mut() {
                c.user = user.map(str::to_string);
            }
            self.launch_task(task).await;
            let s = self
                .state_of(id, |s| s != TaskState::Staging && s != TaskState::Starting)
                .await;
            if s.reason == Some(Reason::InvalidOffers) {
                // The offer was rescinded meanwhile (--offer_timeout): the next one.
                continue;
            }
            return s;
        }
    }

    /// Launches `task` on the first offer, on the offer's agent; returns the offer.
    pub async fn launch_task(&mut self, mut task: TaskInfo) -> Offer {
        let offer = loop {
            if let Seen::Offers(mut o) = next(&mut self.rx, LIMIT).await {
                break o.remove(0);
            }
        };
        task.agent_id = offer.agent_id.clone();
        let oid = offer.id.clone();
        self.pid
            .dispatch(move |p: &mut SchedulerProcess<Recorder>, _| {
                p.driver().launch(&oid, vec![task], None)
            })
            .await
            .unwrap();
        offer
    }

    /// The next update of task `id` whose state satisfies `wanted` (other updates of it and
    /// other events are skipped).
    pub async fn state_of(&mut self, id: &str, wanted: impl Fn(TaskState) -> bool) -> TaskStatus {
        loop {
            if let Seen::Update(s) = next(&mut self.rx, LIMIT).await {
                if s.task_id.value == id && wanted(s.state) {
                    return s;
                }
            }
        }
    }

    /// The next callback that satisfies `wanted` (`what` names it if none comes); others are
    /// skipped.
    pub async fn seen(&mut self, what: &str, wanted: impl Fn(&Seen) -> bool) -> Seen {
        testkit::within(LIMIT, what, async {
            loop {
                let s = next(&mut self.rx, LIMIT).await;
                if wanted(&s) {
                    return s;
                }
            }
        })
        .await
    }

    /// The framework's id (once subscribed).
    pub async fn id(&self) -> Option<FrameworkID> {
        self.pid
            .dispatch(|p: &mut SchedulerProcess<Recorder>, _| p.driver().framework_id().cloned())
            .await
            .unwrap()
    }

    /// Every update of task `id` seen within `quiet` (none expected, say).
    pub async fn updates_within(&mut self, id: &str, quiet: Duration) -> Vec<TaskStatus> {
        let mut out = Vec::new();
        let end = tokio::time::Instant::now() + quiet;
        while let Ok(Some(seen)) = tokio::time::timeout_at(end, self.rx.recv()).await {
            if let Seen::Update(s) = seen {
                if s.task_id.value == id {
                    out.push(s);
                }
            }
        }
        out
    }

    /// Explicit reconciliation of task `id`: the master's answer (other updates of the task,
    /// such as an agent's, are skipped).
    pub async fn reconcile(&mut self, id: &str) -> TaskStatus {
        let tid = TaskID::new(id);
        self.pid
            .dispatch(move |p: &mut SchedulerProcess<Recorder>, _| {
                p.driver().reconcile(vec![(tid, None)])
            })
            .await
            .unwrap();
        loop {
            let s = self.state_of(id, |_| true).await;
            if s.reason == Some(Reason::Reconciliation) {
                return s;
            }
        }
    }
}

/// Pids of the processes whose command line contains `tag`.
pub fn processes(tag: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(cmd) = std::fs::read_to_string(e.path().join("cmdline")) {
            if p != me && cmd.replace('\0', " ").contains(tag) {
                v.push(p);
            }
        }
    }
    v
}

/// Waits up to `limit` until no process's command line contains `tag`.
pub async fn processes_end(limit: Duration, tag: &str) {
    Eventually::new(limit, format!("the processes of '{tag}' to end"))
        .every(Duration::from_millis(100))
        .until_async(|| {
            let left = processes(tag);
            std::future::ready(if left.is_empty() {
                Ok(())
            } else {
                Err(format!("still running: {left:?}"))
            })
        })
        .await;
}

/// SIGKILLs whatever still runs with `tag` (a test's cleanup).
pub fn kill_all(tag: &str) {
    for p in processes(tag) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(p),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// The parent pid of `pid`.
pub fn ppid(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// The first address of a status's container (`container_status.network_infos`).
pub fn address(s: &TaskStatus) -> Option<String> {
    s.container_status
        .as_ref()
        .and_then(|c| c.network_infos.first())
        .and_then(|n| n.ip_addresses.first())
        .and_then(|a| a.ip_address.clone())
}
