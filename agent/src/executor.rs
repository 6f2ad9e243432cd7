//! The command executor and the default executor: one engine speaking the v1 executor HTTP API
//! to the agent. It subscribes, starts each launched task, reports STARTING / RUNNING and the
//! terminal state with the exit status, and kills with SIGTERM, then SIGKILL after the grace
//! period.
//!
//! As the command executor it runs the one task of a LAUNCH as its child, in its own process
//! group. As the default executor it runs the tasks of a LAUNCH_GROUP as Mesos's does: each in a
//! nested container of the executor's own, through the agent's operator API
//! (LAUNCH_NESTED_CONTAINER, then WAIT_NESTED_CONTAINER for its exit status and
//! KILL_NESTED_CONTAINER to kill it). A task's sandbox is its container's,
//! `containers/<container id>/`, with `tasks/<task id>` linked to it; when one task of a group
//! fails or is killed the rest of the group is killed.
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
use mesos_api::protocol::task::CommandInfo;
use mesos_api::protocol::task::{KillPolicy, Reason, Source, TaskInfo, TaskState, TaskStatus};
use mesos_api::{ids, ExecutorID, FrameworkID, TaskID};
use nix::sys::signal::Signal;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::{health, httpc};

/// The environment variable that makes a multi-call binary run as an executor
/// (`command` or `default`).
pub const MODE_ENV: &str = mesos_containerizer::init::MULTICALL_ENV;

static MULTICALL: AtomicBool = AtomicBool::new(false);

/// Whether this binary can run as an executor (see [`run_if_requested`]).
pub fn multicall() -> bool {
    MULTICALL.load(Ordering::Relaxed)
}

/// Call first in `main` of a binary that embeds an agent: the agent may then start executors
/// (and nested containers' init) by re-running this binary, and when this process is one of
/// those it runs it and exits.
pub fn run_if_requested() {
    MULTICALL.store(true, Ordering::Relaxed);
    match std::env::var(MODE_ENV) {
        // The init of a nested container.
        Ok(m) if m == mesos_containerizer::init::MULTICALL_MODE => std::process::exit(
            mesos_containerizer::init::main(std::env::args_os().skip(1).collect()),
        ),
        Ok(mode) => std::process::exit(main(&mode)),
        Err(_) => {}
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

#[derive(Clone)]
struct Conn {
    endpoint: String,
    /// The executor API.
    path: String,
    /// The agent's operator API (nested containers).
    operator: String,
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
            operator: format!("/{id}/api/v1"),
            framework_id: FrameworkID::new(env("MESOS_FRAMEWORK_ID")?),
            executor_id: ExecutorID::new(env("MESOS_EXECUTOR_ID")?),
        })
    }

    fn call(&self, kind: CallType) -> Call {
        Call::new(kind, self.executor_id.clone(), self.framework_id.clone())
    }

    /// One operator API call: the response's payload (`<kind>` of the answer, `null` for an
    /// empty 200), or why not. `Err(None)` means the agent could not be reached.
    async fn operator_call(&self, call: Value) -> Result<Value, Option<String>> {
        let body = serde_json::to_vec(&call).unwrap_or_default();
        let r = httpc::request(&self.endpoint, "POST", &self.operator, JSON_HEADERS, &body)
            .await
            .map_err(|_| None)?;
        if r.head.status != 200 {
            return Err(Some(format!(
                "{} ({})",
                String::from_utf8_lossy(&r.body).trim(),
                r.head.status
            )));
        }
        if r.body.is_empty() {
            return Ok(Value::Null);
        }
        let v: Value = serde_json::from_slice(&r.body)
            .map_err(|e| Some(format!("a bad answer from the agent: {e}")))?;
        let kind = call["type"]
            .as_str()
            .unwrap_or_default()
            .to_ascii_lowercase();
        Ok(v[kind.as_str()].clone())
    }
}

/// A nested container's `ContainerID` in its v1 JSON form.
fn nested_id(parent: &str, id: &str) -> Value {
    json!({"value": id, "parent": {"value": parent}})
}

fn json_body(c: &Call) -> Vec<u8> {
    serde_json::to_vec(&mesos_api::protocol::to_json(c)).unwrap_or_default()
}

const JSON_HEADERS: &[(&str, &str)] = &[
    ("Content-Type", "application/json"),
    ("Accept", "application/json"),
];

/// How a task's process ended.
enum Ended {
    Status(std::process::ExitStatus),
    /// Ended, with no exit status to tell (a container the agent recovered).
    Unknown,
    Error(String),
}

enum Input {
    Event(Box<Event>),
    Disconnected(String),
    Exited(TaskID, Ended),
    /// The agent answered a LAUNCH_NESTED_CONTAINER.
    NestedLaunched(TaskID, Result<(), String>),
    /// A WAIT_NESTED_CONTAINER lost the agent: wait again once resubscribed.
    WaitLost(TaskID),
    Escalate(TaskID),
    /// Try subscribing again after losing the agent.
    Resubscribe,
    Health(health::HealthReport),
}

/// Where a task's process runs.
enum Place {
    /// A child of this executor (the command executor), by its process group.
    Child(Option<i32>),
    /// A nested container of the executor's (the default executor), by its id; `launched` once
    /// the agent said so.
    Nested { id: String, launched: bool },
}

struct Running {
    place: Place,
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
    /// The executor's container, parent of the tasks' nested containers (the default executor).
    container: Option<String>,
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
    /// Nested containers whose wait lost the agent, waited for again after resubscribing.
    rewait: Vec<TaskID>,
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
    let container = match mode {
        "default" => Some(env("MESOS_CONTAINER_ID")?),
        _ => None,
    };
    let mut engine = Engine {
        conn,
        sandbox,
        container,
        framework: None,
        tasks: HashMap::new(),
        infos: HashMap::new(),
        groups: Vec::new(),
        unacked: Vec::new(),
        launched: 0,
        shutting_down: false,
        updates: up_tx,
        input: in_tx.clone(),
        rewait: Vec::new(),
    };
    let mut lost_at: Option<std::time::Instant> = None;
    while let Some(i) = in_rx.recv().await {
        match i {
            Input::Event(ev) => engine.event(*ev),
            Input::Exited(tid, ended) => engine.exited(tid, ended),
            Input::NestedLaunched(tid, r) => engine.nested_launched(tid, r),
            Input::WaitLost(tid) => engine.rewait.push(tid),
            Input::Health(report) => engine.health(report),
            Input::Escalate(tid) => engine.signal(&tid, Signal::SIGKILL),
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
                    engine.kill_children();
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
                        for tid in std::mem::take(&mut engine.rewait) {
                            engine.wait_nested(tid);
                        }
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
                // Nested containers go with the executor's container.
                engine.kill_children();
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
pub(crate) fn command(cmd: &CommandInfo) -> tokio::process::Command {
    let (program, args) = cmd.argv();
    let mut c = tokio::process::Command::new(program);
    c.args(args).envs(cmd.env_pairs());
    c
}

fn kill(pid: Option<i32>, sig: Signal) {
    crate::agent::kill_group(pid, sig);
}

/// Whether a task succeeded, and Mesos's message for how its command ended.
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

impl Running {
    fn new(place: Place, group: Option<usize>) -> Running {
        Running {
            place,
            killing: false,
            group,
            checker: None,
            unhealthy: None,
        }
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
        match self.container.clone() {
            Some(parent) => self.launch_nested(task, group, &cmd, &parent),
            None => self.launch_child(task, group, &cmd),
        }
    }

    /// The command executor's way: the task is this process's child.
    fn launch_child(&mut self, task: TaskInfo, group: Option<usize>, cmd: &CommandInfo) {
        let tid = task.task_id.clone();
        let value = cmd.value.clone().unwrap_or_default();
        let mut c = command(cmd);
        c.stdin(std::process::Stdio::null())
            .process_group(0)
            .current_dir(&self.sandbox);
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
                self.tasks
                    .insert(tid.clone(), Running::new(Place::Child(pid), group));
                self.infos.insert(tid.clone(), task);
                let tx = self.input.clone();
                let t = tid.clone();
                tokio::spawn(async move {
                    let ended = match child.wait().await {
                        Ok(st) => Ended::Status(st),
                        Err(e) => Ended::Error(format!("Failed to wait for the command: {e}")),
                    };
                    let _ = tx.send(Input::Exited(t, ended));
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

    /// The default executor's way: the task runs in a nested container of the executor's,
    /// launched by the agent; RUNNING follows once the agent launched it.
    fn launch_nested(
        &mut self,
        task: TaskInfo,
        group: Option<usize>,
        cmd: &CommandInfo,
        parent: &str,
    ) {
        let tid = task.task_id.clone();
        let id = ids::new_uuid();
        let mut launch = json!({
            "container_id": nested_id(parent, &id),
            "command": mesos_api::protocol::to_json(cmd),
        });
        if let Some(c) = &task.container {
            launch["container"] = mesos_api::protocol::to_json(c);
        }
        let call = json!({"type": "LAUNCH_NESTED_CONTAINER", "launch_nested_container": launch});
        self.tasks.insert(
            tid.clone(),
            Running::new(
                Place::Nested {
                    id,
                    launched: false,
                },
                group,
            ),
        );
        self.infos.insert(tid.clone(), task);
        let conn = self.conn.clone();
        let tx = self.input.clone();
        tokio::spawn(async move {
            let r = conn
                .operator_call(call)
                .await
                .map(|_| ())
                .map_err(|e| e.unwrap_or_else(|| "the agent could not be reached".into()));
            let _ = tx.send(Input::NestedLaunched(tid, r));
        });
    }

    fn nested_launched(&mut self, tid: TaskID, r: Result<(), String>) {
        let Some(run) = self.tasks.get_mut(&tid) else {
            return;
        };
        let Place::Nested { id, launched } = &mut run.place else {
            return;
        };
        if let Err(why) = r {
            let group = run.group;
            self.tasks.remove(&tid);
            self.status(
                &tid,
                TaskState::Failed,
                Some(format!("Failed to launch the task's container: {why}")),
            );
            self.kill_group_of(group);
            return;
        }
        *launched = true;
        let id = id.clone();
        let killing = run.killing;
        // As Mesos's default executor does, `tasks/<task id>` leads to the task's sandbox.
        let tasks = self.sandbox.join("tasks");
        let _ = std::fs::create_dir_all(&tasks);
        let _ = std::os::unix::fs::symlink(
            self.sandbox.join("containers").join(&id),
            tasks.join(&tid.value),
        );
        self.wait_nested(tid.clone());
        if killing {
            // A kill came while the agent was launching it: its grace period starts now.
            self.signal(&tid, Signal::SIGTERM);
            let grace =
                crate::agent::grace_of(self.infos.get(&tid).and_then(|t| t.kill_policy.as_ref()));
            let tx = self.input.clone();
            tokio::spawn(async move {
                tokio::time::sleep(grace).await;
                let _ = tx.send(Input::Escalate(tid));
            });
            return;
        }
        self.status(&tid, TaskState::Running, None);
        self.start_health_check(&tid);
    }

    /// Waits (WAIT_NESTED_CONTAINER) for a task's nested container to end.
    fn wait_nested(&mut self, tid: TaskID) {
        let (Some(parent), Some(Place::Nested { id, .. })) = (
            self.container.as_deref(),
            self.tasks.get(&tid).map(|r| &r.place),
        ) else {
            return;
        };
        let call = json!({"type": "WAIT_NESTED_CONTAINER",
            "wait_nested_container": {"container_id": nested_id(parent, id)}});
        let conn = self.conn.clone();
        let tx = self.input.clone();
        tokio::spawn(async move {
            let input = match conn.operator_call(call).await {
                Ok(w) => match w["exit_status"].as_i64() {
                    Some(raw) => {
                        use std::os::unix::process::ExitStatusExt;
                        Input::Exited(
                            tid,
                            Ended::Status(std::process::ExitStatus::from_raw(raw as i32)),
                        )
                    }
                    None => Input::Exited(tid, Ended::Unknown),
                },
                Err(None) => Input::WaitLost(tid),
                Err(Some(why)) => {
                    eprintln!("executor: waiting for the container of task {tid}: {why}");
                    Input::Exited(
                        tid,
                        Ended::Error("Unable to retrieve command's termination information".into()),
                    )
                }
            };
            let _ = tx.send(input);
        });
    }

    /// Sends `sig` to a task: its process group, or its nested container through the agent.
    fn signal(&self, tid: &TaskID, sig: Signal) {
        let Some(r) = self.tasks.get(tid) else {
            return;
        };
        match (&r.place, self.container.as_deref()) {
            (Place::Child(pid), _) => kill(*pid, sig),
            (
                Place::Nested {
                    id, launched: true, ..
                },
                Some(parent),
            ) => {
                let call = json!({"type": "KILL_NESTED_CONTAINER",
                    "kill_nested_container": {"container_id": nested_id(parent, id),
                        "signal": sig as i32}});
                let conn = self.conn.clone();
                tokio::spawn(async move {
                    if let Err(Some(why)) = conn.operator_call(call).await {
                        eprintln!("executor: cannot kill a task's container: {why}");
                    }
                });
            }
            // Not launched yet: the kill goes out once it is.
            _ => {}
        }
    }

    /// SIGKILLs the tasks that are this process's children.
    fn kill_children(&self) {
        for r in self.tasks.values() {
            if let Place::Child(pid) = r.place {
                kill(pid, Signal::SIGKILL);
            }
        }
    }

    /// Kills what is left of a group after one of its tasks failed or was killed.
    fn kill_group_of(&mut self, group: Option<usize>) {
        if let Some(g) = group {
            for t in self.groups[g].clone() {
                self.kill_task(&t, None);
            }
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
        // A KILL's policy may only shorten the task's own grace period.
        let own = crate::agent::grace_of(self.infos.get(tid).and_then(|t| t.kill_policy.as_ref()));
        let grace = match policy.and_then(|p| p.grace_period.as_ref()) {
            Some(d) => d.as_duration().min(own),
            None => own,
        };
        if killing_state {
            self.status(tid, TaskState::Killing, None);
        }
        self.signal(tid, Signal::SIGTERM);
        let tx = self.input.clone();
        let t = tid.clone();
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            let _ = tx.send(Input::Escalate(t));
        });
    }

    fn exited(&mut self, tid: TaskID, ended: Ended) {
        let Some(r) = self.tasks.remove(&tid) else {
            return;
        };
        if let Some(c) = r.checker {
            c.stop();
        }
        if let Place::Child(pid) = r.place {
            // Whatever the task left in its group goes with it.
            kill(pid, Signal::SIGKILL);
        }
        let (ok, msg) = match &ended {
            Ended::Status(s) => describe(s),
            Ended::Unknown => (false, "Command terminated with unknown status".into()),
            Ended::Error(e) => (false, e.clone()),
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
        if state != TaskState::Finished {
            self.kill_group_of(r.group);
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
        let dir = match &r.place {
            Place::Nested { id, .. } => self.sandbox.join("containers").join(id),
            Place::Child(_) => self.sandbox.clone(),
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
