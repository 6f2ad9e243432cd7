//! The command executor and the default executor: one engine speaking the v1 executor HTTP API
//! to the agent. It subscribes, runs each launched task as a child in its own process group,
//! reports STARTING / RUNNING and the terminal state with the exit status, and kills with
//! SIGTERM to the group, then SIGKILL after the grace period.
//!
//! As the command executor it runs the one task of a LAUNCH; as the default executor it runs the
//! tasks of a LAUNCH_GROUP, each in `tasks/<task id>/` of the sandbox with its own stdout and
//! stderr, and when one of them fails or is killed the rest of the group is killed.
//!
//! A task with a health check gets a [`health::Checker`] once RUNNING: each change of its
//! health goes out as TASK_RUNNING with `healthy` (REASON_TASK_HEALTH_CHECK_STATUS_UPDATED), and
//! after too many failures in a row the task is killed like a KILL, ending TASK_KILLED with
//! `healthy = false`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mesos_api::protocol::executor::{Call, CallType, CallUpdate, Event, EventType, Subscribe};
use mesos_api::protocol::framework::{FrameworkCapabilityType, FrameworkInfo};
use mesos_api::protocol::task::{KillPolicy, Reason, Source, TaskInfo, TaskState, TaskStatus};
use mesos_api::{ids, ExecutorID, FrameworkID, TaskID};
use nix::sys::signal::Signal;
use tokio::sync::mpsc;

use crate::{health, httpc};

/// The environment variable that makes a multi-call binary run as an executor
/// (`command` or `default`).
pub const MODE_ENV: &str = "MESOS_RS_EXECUTOR";

static MULTICALL: AtomicBool = AtomicBool::new(false);

/// Whether this binary can run as an executor (see [`run_if_requested`]).
pub fn multicall() -> bool {
    MULTICALL.load(Ordering::Relaxed)
}

/// Call first in `main` of a binary that embeds an agent: the agent may then start executors by
/// re-running this binary, and when this process is such an executor it runs it and exits.
pub fn run_if_requested() {
    MULTICALL.store(true, Ordering::Relaxed);
    if let Ok(mode) = std::env::var(MODE_ENV) {
        std::process::exit(main(&mode));
    }
}

/// Runs an executor from the environment the agent set; returns the process exit code.
pub fn main(mode: &str) -> i32 {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("executor: cannot start a runtime: {e}");
            return 1;
        }
    };
    match rt.block_on(run(mode)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("executor: {e}");
            1
        }
    }
}

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("expecting '{name}' in the environment"))
}

struct Conn {
    endpoint: String,
    path: String,
    framework_id: FrameworkID,
    executor_id: ExecutorID,
}

impl Conn {
    fn from_env() -> Result<Conn, String> {
        let endpoint = env("MESOS_AGENT_ENDPOINT")?;
        // `slave(1)@ip:port` names the agent process that serves the executor API.
        let id = std::env::var("MESOS_SLAVE_PID")
            .ok()
            .and_then(|p| p.split('@').next().map(str::to_string))
            .unwrap_or_else(|| "slave(1)".into());
        Ok(Conn {
            endpoint,
            path: format!("/{id}/api/v1/executor"),
            framework_id: FrameworkID::new(env("MESOS_FRAMEWORK_ID")?),
            executor_id: ExecutorID::new(env("MESOS_EXECUTOR_ID")?),
        })
    }

    fn call(&self, kind: CallType) -> Call {
        Call::new(kind, self.executor_id.clone(), self.framework_id.clone())
    }
}

fn json_body(c: &Call) -> Vec<u8> {
    serde_json::to_vec(&mesos_api::protocol::to_json(c)).unwrap_or_default()
}

const JSON_HEADERS: &[(&str, &str)] = &[
    ("Content-Type", "application/json"),
    ("Accept", "application/json"),
];

enum Input {
    Event(Box<Event>),
    Disconnected(String),
    Exited(TaskID, std::io::Result<std::process::ExitStatus>),
    Escalate(TaskID),
    /// Try subscribing again after losing the agent.
    Resubscribe,
    Health(health::HealthReport),
}

struct Running {
    pid: Option<i32>,
    /// Set once a kill started (the end state is then KILLED).
    killing: bool,
    group: Option<usize>,
    /// Its health checker, stopped when the task ends (dropped with this).
    checker: Option<health::Checker>,
    /// Why its health check had it killed.
    unhealthy: Option<String>,
}

struct Engine {
    conn: Conn,
    sandbox: PathBuf,
    framework: Option<FrameworkInfo>,
    tasks: HashMap<TaskID, Running>,
    infos: HashMap<TaskID, TaskInfo>,
    groups: Vec<Vec<TaskID>>,
    /// Updates sent and not yet acknowledged, in order (resent when resubscribing).
    unacked: Vec<TaskStatus>,
    launched: usize,
    shutting_down: bool,
    updates: mpsc::UnboundedSender<TaskStatus>,
    input: mpsc::UnboundedSender<Input>,
}

/// Subscribes to the agent and forwards its events (then a disconnection) to `tx`.
async fn subscribe(
    conn: &Conn,
    payload: Subscribe,
    tx: mpsc::UnboundedSender<Input>,
) -> Result<(), String> {
    let mut sub = conn.call(CallType::Subscribe);
    sub.subscribe = Some(payload);
    let (head, mut body) = httpc::stream(
        &conn.endpoint,
        "POST",
        &conn.path,
        JSON_HEADERS,
        &json_body(&sub),
    )
    .await
    .map_err(|e| format!("cannot subscribe to the agent at {}: {e}", conn.endpoint))?;
    if head.status != 200 {
        let text = String::from_utf8_lossy(&body.read_all().await.unwrap_or_default()).into_owned();
        return Err(format!("subscription refused ({}): {text}", head.status));
    }
    tokio::spawn(async move {
        loop {
            match body.next_record().await {
                Ok(Some(rec)) => match serde_json::from_slice::<serde_json::Value>(&rec)
                    .map_err(|e| e.to_string())
                    .and_then(|v| {
                        mesos_api::protocol::from_json::<Event>(&v).map_err(|e| e.to_string())
                    }) {
                    Ok(ev) => {
                        let _ = tx.send(Input::Event(Box::new(ev)));
                    }
                    Err(e) => eprintln!("executor: ignoring a bad event: {e}"),
                },
                Ok(None) => {
                    let _ = tx.send(Input::Disconnected("the agent closed the stream".into()));
                    return;
                }
                Err(e) => {
                    let _ = tx.send(Input::Disconnected(e.to_string()));
                    return;
                }
            }
        }
    });
    Ok(())
}

/// A duration in stout's form (`900secs`, `15mins`), as the agent passes it.
fn parse_secs(s: &str) -> Option<Duration> {
    let units = [
        ("ns", 1e-9),
        ("us", 1e-6),
        ("ms", 1e-3),
        ("secs", 1.0),
        ("mins", 60.0),
        ("hrs", 3600.0),
    ];
    units.iter().find_map(|(u, m)| {
        s.strip_suffix(u)
            .and_then(|n| n.parse::<f64>().ok())
            .map(|n| Duration::from_secs_f64(n * m))
    })
}

async fn run(mode: &str) -> Result<(), String> {
    let conn = Conn::from_env()?;
    let sandbox = PathBuf::from(env("MESOS_SANDBOX").or_else(|_| env("MESOS_DIRECTORY"))?);
    // A checkpointing framework's executor outlives an agent restart: it resubscribes.
    let checkpoint = std::env::var("MESOS_CHECKPOINT").is_ok_and(|v| v == "1");
    let recovery_timeout = std::env::var("MESOS_RECOVERY_TIMEOUT")
        .ok()
        .and_then(|v| parse_secs(&v))
        .unwrap_or(Duration::from_secs(15 * 60));
    let (in_tx, mut in_rx) = mpsc::unbounded_channel();
    subscribe(&conn, Subscribe::default(), in_tx.clone()).await?;
    // Updates go out one at a time, in order.
    let (up_tx, mut up_rx) = mpsc::unbounded_channel::<TaskStatus>();
    let uconn = Conn::from_env()?;
    tokio::spawn(async move {
        while let Some(status) = up_rx.recv().await {
            let mut c = uconn.call(CallType::Update);
            c.update = Some(CallUpdate { status });
            let body = json_body(&c);
            for attempt in 0..5u32 {
                match httpc::request(&uconn.endpoint, "POST", &uconn.path, JSON_HEADERS, &body)
                    .await
                {
                    Ok(r) if r.head.status == 202 => break,
                    Ok(r) => {
                        eprintln!(
                            "executor: update refused ({}): {}",
                            r.head.status,
                            String::from_utf8_lossy(&r.body)
                        );
                        break;
                    }
                    Err(e) => {
                        eprintln!("executor: cannot send an update (attempt {attempt}): {e}");
                        tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                    }
                }
            }
        }
    });
    let mut engine = Engine {
        conn,
        sandbox,
        framework: None,
        tasks: HashMap::new(),
        infos: HashMap::new(),
        groups: Vec::new(),
        unacked: Vec::new(),
        launched: 0,
        shutting_down: false,
        updates: up_tx,
        input: in_tx.clone(),
    };
    let _ = mode;
    let mut lost_at: Option<std::time::Instant> = None;
    while let Some(i) = in_rx.recv().await {
        match i {
            Input::Event(ev) => engine.event(*ev),
            Input::Exited(tid, st) => engine.exited(tid, st),
            Input::Health(report) => engine.health(report),
            Input::Escalate(tid) => {
                if let Some(r) = engine.tasks.get(&tid) {
                    kill(r.pid, Signal::SIGKILL);
                }
            }
            Input::Disconnected(why) if checkpoint && !engine.shutting_down => {
                eprintln!("executor: lost the agent ({why}); waiting up to {recovery_timeout:?} for it to come back");
                lost_at.get_or_insert_with(std::time::Instant::now);
                let tx = in_tx.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let _ = tx.send(Input::Resubscribe);
                });
            }
            Input::Resubscribe => {
                let since = lost_at.map(|t| t.elapsed()).unwrap_or_default();
                if since > recovery_timeout {
                    for r in engine.tasks.values() {
                        kill(r.pid, Signal::SIGKILL);
                    }
                    return Err(format!(
                        "the agent did not come back within the recovery timeout ({recovery_timeout:?})"
                    ));
                }
                let payload = Subscribe {
                    unacknowledged_tasks: engine
                        .infos
                        .iter()
                        .filter(|(t, _)| engine.tasks.contains_key(*t))
                        .map(|(_, i)| i.clone())
                        .collect(),
                    unacknowledged_updates: engine
                        .unacked
                        .iter()
                        .map(|s| CallUpdate { status: s.clone() })
                        .collect(),
                };
                match subscribe(&engine.conn, payload, in_tx.clone()).await {
                    Ok(()) => {
                        eprintln!("executor: resubscribed to the agent after {since:?}");
                        lost_at = None;
                    }
                    Err(_) => {
                        let tx = in_tx.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            let _ = tx.send(Input::Resubscribe);
                        });
                    }
                }
            }
            Input::Disconnected(why) => {
                for r in engine.tasks.values() {
                    kill(r.pid, Signal::SIGKILL);
                }
                return Err(format!("lost the agent: {why}"));
            }
        }
        if engine.done() {
            return Ok(());
        }
    }
    Ok(())
}

/// A process for `cmd`: its argv and its environment.
pub(crate) fn command(cmd: &mesos_api::protocol::task::CommandInfo) -> tokio::process::Command {
    let (program, args) = cmd.argv();
    let mut c = tokio::process::Command::new(program);
    c.args(args).envs(cmd.env_pairs());
    c
}

fn kill(pid: Option<i32>, sig: Signal) {
    crate::agent::kill_group(pid, sig);
}

fn describe(st: &std::process::ExitStatus) -> (bool, String) {
    use std::os::unix::process::ExitStatusExt;
    match (st.code(), st.signal()) {
        (Some(0), _) => (true, "Command exited with status 0".into()),
        (Some(c), _) => (false, format!("Command exited with status {c}")),
        (None, Some(s)) => {
            let name = Signal::try_from(s).map_or_else(|_| s.to_string(), |s| s.to_string());
            (false, format!("Command terminated with signal {name}"))
        }
        _ => (false, "Command terminated".into()),
    }
}

impl Engine {
    fn done(&self) -> bool {
        (self.launched > 0 || self.shutting_down)
            && self.tasks.is_empty()
            && self.unacked.is_empty()
    }

    fn status(&mut self, task: &TaskID, state: TaskState, message: Option<String>) {
        let mut s = TaskStatus::new(task.clone(), state);
        s.message = message;
        self.send(s);
    }

    fn send(&mut self, mut s: TaskStatus) {
        s.source = Some(Source::Executor);
        s.executor_id = Some(self.conn.executor_id.clone());
        s.uuid = Some(ids::new_uuid_bytes());
        s.timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .map(|d| d.as_secs_f64());
        self.unacked.push(s.clone());
        let _ = self.updates.send(s);
    }

    fn event(&mut self, ev: Event) {
        match ev.kind.unwrap_or(EventType::Unknown) {
            EventType::Subscribed => {
                self.framework = ev.subscribed.map(|s| s.framework_info);
            }
            EventType::Launch => {
                if let Some(l) = ev.launch {
                    self.launch(l.task, None);
                }
            }
            EventType::LaunchGroup => {
                if let Some(g) = ev.launch_group {
                    let gi = self.groups.len();
                    self.groups.push(
                        g.task_group
                            .tasks
                            .iter()
                            .map(|t| t.task_id.clone())
                            .collect(),
                    );
                    for t in g.task_group.tasks {
                        self.launch(t, Some(gi));
                    }
                }
            }
            EventType::Kill => {
                if let Some(k) = ev.kill {
                    let group = self.tasks.get(&k.task_id).and_then(|r| r.group);
                    match group {
                        Some(g) => {
                            for t in self.groups[g].clone() {
                                self.kill_task(&t, k.kill_policy.as_ref());
                            }
                        }
                        None => self.kill_task(&k.task_id, k.kill_policy.as_ref()),
                    }
                }
            }
            EventType::Acknowledged => {
                if let Some(a) = ev.acknowledged {
                    self.unacked
                        .retain(|u| u.uuid.as_deref() != Some(&a.uuid[..]));
                }
            }
            EventType::Shutdown => {
                self.shutting_down = true;
                let all: Vec<TaskID> = self.tasks.keys().cloned().collect();
                for t in all {
                    self.kill_task(&t, None);
                }
            }
            EventType::Error => {
                if let Some(e) = ev.error {
                    eprintln!("executor: error from the agent: {}", e.message);
                }
            }
            _ => {}
        }
    }

    fn launch(&mut self, task: TaskInfo, group: Option<usize>) {
        let tid = task.task_id.clone();
        self.launched += 1;
        let Some(cmd) = task.command.clone() else {
            self.status(
                &tid,
                TaskState::Failed,
                Some("Task has no command to run".into()),
            );
            return;
        };
        self.status(&tid, TaskState::Starting, None);
        let value = cmd.value.clone().unwrap_or_default();
        let mut c = command(&cmd);
        c.stdin(std::process::Stdio::null()).process_group(0);
        if group.is_some() {
            // Each task of a group has its own directory, stdout and stderr.
            let dir = self.sandbox.join("tasks").join(&tid.value);
            let files = std::fs::create_dir_all(&dir).and_then(|_| {
                Ok((
                    std::fs::File::create(dir.join("stdout"))?,
                    std::fs::File::create(dir.join("stderr"))?,
                ))
            });
            match files {
                Ok((o, e)) => {
                    c.stdout(o)
                        .stderr(e)
                        .current_dir(&dir)
                        .env("MESOS_SANDBOX", &dir);
                }
                Err(e) => {
                    self.status(
                        &tid,
                        TaskState::Failed,
                        Some(format!("cannot prepare the task's sandbox: {e}")),
                    );
                    return;
                }
            }
        } else {
            c.current_dir(&self.sandbox);
        }
        // A command task with an image runs in the rootfs the agent provisioned for it.
        if let Ok(rootfs) = std::env::var(mesos_containerizer::TASK_ROOTFS_ENV) {
            if let Err(e) = self.enter_rootfs(&mut c, &task, rootfs.into()) {
                self.status(
                    &tid,
                    TaskState::Failed,
                    Some(format!("cannot prepare the task's image: {e}")),
                );
                return;
            }
        }
        match c.spawn() {
            Ok(mut child) => {
                let pid = child.id().map(|p| p as i32);
                self.tasks.insert(
                    tid.clone(),
                    Running {
                        pid,
                        killing: false,
                        group,
                        checker: None,
                        unhealthy: None,
                    },
                );
                self.infos.insert(tid.clone(), task);
                let tx = self.input.clone();
                let t = tid.clone();
                tokio::spawn(async move {
                    let st = child.wait().await;
                    let _ = tx.send(Input::Exited(t, st));
                });
                self.status(&tid, TaskState::Running, None);
                self.start_health_check(&tid);
            }
            Err(e) => self.status(
                &tid,
                TaskState::Failed,
                Some(format!("Failed to launch '{value}': {e}")),
            ),
        }
    }

    /// Runs the task in an image's rootfs: its own mount namespace, the sandbox at
    /// /mnt/mesos/sandbox, its volumes mounted inside, then pivot_root.
    fn enter_rootfs(
        &self,
        c: &mut tokio::process::Command,
        task: &TaskInfo,
        rootfs: PathBuf,
    ) -> Result<(), String> {
        use mesos_containerizer::launch::{self, BindMount, Isolation, Plan, Rootfs};
        let mut mounts = Vec::new();
        for v in task.container.iter().flat_map(|c| c.volumes.iter()) {
            let source = v
                .source
                .as_ref()
                .and_then(|s| s.host_path.as_ref().map(|h| PathBuf::from(&h.path)))
                .or_else(|| v.host_path.as_ref().map(PathBuf::from))
                .or_else(|| {
                    v.source
                        .as_ref()
                        .and_then(|s| s.sandbox_path.as_ref())
                        .map(|p| self.sandbox.join(&p.path))
                })
                .ok_or_else(|| format!("volume '{}' has no source", v.container_path))?;
            let target = if v.container_path.starts_with('/') {
                PathBuf::from(&v.container_path)
            } else {
                PathBuf::from(launch::SANDBOX_IN_ROOTFS).join(&v.container_path)
            };
            mounts.push(BindMount {
                source,
                target,
                readonly: v.mode == mesos_api::protocol::container::VolumeMode::Ro,
            });
        }
        let iso = Isolation {
            mounts,
            rootfs: Some(Rootfs {
                path: rootfs,
                sandbox: self.sandbox.clone(),
                working_dir: None,
            }),
            ..Isolation::default()
        };
        let plan = Plan::new(&iso).map_err(|e| e.to_string())?;
        c.env("MESOS_SANDBOX", launch::SANDBOX_IN_ROOTFS).env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        );
        launch::apply_in_group(c, plan);
        Ok(())
    }

    fn kill_task(&mut self, tid: &TaskID, policy: Option<&KillPolicy>) {
        let killing_state = self
            .framework
            .as_ref()
            .is_some_and(|f| f.has_capability(FrameworkCapabilityType::TaskKillingState));
        let Some(r) = self.tasks.get_mut(tid) else {
            return;
        };
        if r.killing {
            return;
        }
        r.killing = true;
        let pid = r.pid;
        // A KILL's policy may only shorten the task's own grace period.
        let own = crate::agent::grace_of(self.infos.get(tid).and_then(|t| t.kill_policy.as_ref()));
        let grace = match policy.and_then(|p| p.grace_period.as_ref()) {
            Some(d) => d.as_duration().min(own),
            None => own,
        };
        if killing_state {
            self.status(tid, TaskState::Killing, None);
        }
        kill(pid, Signal::SIGTERM);
        let tx = self.input.clone();
        let t = tid.clone();
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            let _ = tx.send(Input::Escalate(t));
        });
    }

    fn exited(&mut self, tid: TaskID, st: std::io::Result<std::process::ExitStatus>) {
        let Some(r) = self.tasks.remove(&tid) else {
            return;
        };
        if let Some(c) = r.checker {
            c.stop();
        }
        // Whatever the task left in its group goes with it.
        kill(r.pid, Signal::SIGKILL);
        let (ok, msg) = match &st {
            Ok(s) => describe(s),
            Err(e) => (false, format!("Failed to wait for the command: {e}")),
        };
        let state = if r.killing {
            TaskState::Killed
        } else if ok {
            TaskState::Finished
        } else {
            TaskState::Failed
        };
        let mut s = TaskStatus::new(tid.clone(), state);
        s.message = Some(msg);
        if let Some(why) = &r.unhealthy {
            s.healthy = Some(false);
            s.message = Some(format!("{why}; {}", s.message.unwrap_or_default()));
        }
        self.send(s);
        if let Some(g) = r.group {
            if state != TaskState::Finished {
                for t in self.groups[g].clone() {
                    self.kill_task(&t, None);
                }
            }
        }
    }

    /// Starts the health checker of a task that just became RUNNING, if it has a health check.
    fn start_health_check(&mut self, tid: &TaskID) {
        let Some(check) = self.infos.get(tid).and_then(|t| t.health_check.clone()) else {
            return;
        };
        let Some(r) = self.tasks.get_mut(tid) else {
            return;
        };
        let dir = match r.group {
            Some(_) => self.sandbox.join("tasks").join(&tid.value),
            None => self.sandbox.clone(),
        };
        let (tx, mut rx) = mpsc::unbounded_channel();
        match health::Checker::spawn(tid.clone(), check, dir, tx) {
            Ok(c) => r.checker = Some(c),
            Err(e) => {
                // As Mesos does, the task runs on unchecked.
                eprintln!("executor: not health checking task {}: {e}", tid.value);
                return;
            }
        }
        let input = self.input.clone();
        tokio::spawn(async move {
            while let Some(report) = rx.recv().await {
                if input.send(Input::Health(report)).is_err() {
                    return;
                }
            }
        });
    }

    fn health(&mut self, report: health::HealthReport) {
        match report {
            health::HealthReport::Changed { task_id, healthy } => {
                // Nothing more once the task is being killed or has ended.
                if self.tasks.get(&task_id).is_some_and(|r| !r.killing) {
                    let mut s = TaskStatus::new(task_id, TaskState::Running);
                    s.healthy = Some(healthy);
                    s.reason = Some(Reason::TaskHealthCheckStatusUpdated);
                    self.send(s);
                }
            }
            health::HealthReport::Kill { task_id, message } => {
                let Some(r) = self.tasks.get_mut(&task_id) else {
                    return;
                };
                if r.killing {
                    return;
                }
                r.unhealthy = Some(message);
                self.kill_task(&task_id, None);
            }
        }
    }
}
