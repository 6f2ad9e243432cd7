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
use std::time::Duration;

use mesos_api::protocol::executor::{CallType, CallUpdate, Event, EventType, Subscribe};
use mesos_api::protocol::framework::{FrameworkCapabilityType, FrameworkInfo};
use mesos_api::protocol::task::{KillPolicy, Reason, Source, TaskInfo, TaskState, TaskStatus};
use mesos_api::{ids, TaskID};
use nix::sys::signal::Signal;
use serde_json::json;
use tokio::sync::mpsc;

use crate::httpc;
use crate::os::kill_group;
use crate::programs::{self, MODE_ENV};
use conn::{env, json_body, nested_id, parse_secs, subscribe, Conn};
pub use error::ExecutorError;

mod command;
mod conn;
mod default;
mod docker;
mod error;
pub mod health;

/// Call first in `main` of a binary that embeds an agent: the agent may then start executors
/// (and nested containers' init) by re-running this binary, and when this process is one of
/// those it runs it and exits.
pub fn run_if_requested() {
    programs::set_multicall();
    match std::env::var(MODE_ENV) {
        // The init of a nested container.
        Ok(m) if m == mesos_containerizer::init::MULTICALL_MODE => std::process::exit(
            mesos_containerizer::init::main(std::env::args_os().skip(1).collect()),
        ),
        // The logrotate container logger's helper.
        Ok(m) if m == mesos_containerizer::logger::MULTICALL_MODE => std::process::exit(
            mesos_containerizer::logger::main(std::env::args_os().skip(1).collect()),
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
    /// A task's `max_completion_time` is up.
    Overdue(TaskID),
    /// A docker task's `docker run` started (its pid).
    DockerSpawned(TaskID, Option<i32>),
    /// A docker task's container started (the docker CLI's pid, what `docker inspect` said).
    DockerStarted(
        TaskID,
        Option<i32>,
        Box<mesos_containerizer::docker::Inspected>,
    ),
    /// Try subscribing again after losing the agent.
    Resubscribe,
    Health(health::HealthReport),
}

impl Input {
    /// An event of the agent's stream, or why it ended.
    fn from_stream(r: Result<Box<Event>, String>) -> Input {
        match r {
            Ok(ev) => Input::Event(ev),
            Err(why) => Input::Disconnected(why),
        }
    }
}

/// Where a task's process runs.
enum Place {
    /// A child of this executor (the command executor), by its process group.
    Child(Option<i32>),
    /// A nested container of the executor's (the default executor), by its id; `launched` once
    /// the agent said so.
    Nested { id: String, launched: bool },
    /// A docker container (the docker executor), by the process group of its `docker run`
    /// once the container started.
    Docker(Option<i32>),
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
    /// Set when it was killed for running past its `max_completion_time`.
    overdue: bool,
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
    /// The docker executor's settings (its tasks run in docker containers).
    docker: Option<docker::DockerRun>,
    /// The container status a task's later updates carry (a docker task's addresses).
    networks: HashMap<TaskID, mesos_api::protocol::task::ContainerStatus>,
}

async fn run(mode: &str) -> Result<(), ExecutorError> {
    let conn = Conn::from_env()?;
    let sandbox = PathBuf::from(env("MESOS_SANDBOX").or_else(|_| env("MESOS_DIRECTORY"))?);
    // A checkpointing framework's executor outlives an agent restart: it resubscribes.
    let checkpoint = std::env::var("MESOS_CHECKPOINT").is_ok_and(|v| v == "1");
    let recovery_timeout = std::env::var("MESOS_RECOVERY_TIMEOUT")
        .ok()
        .and_then(|v| parse_secs(&v))
        .unwrap_or(Duration::from_secs(15 * 60));
    let (in_tx, mut in_rx) = mpsc::unbounded_channel();
    subscribe(
        &conn,
        Subscribe::default(),
        in_tx.clone(),
        Input::from_stream,
    )
    .await?;
    // Updates go out one at a time, in order.
    let (up_tx, mut up_rx) = mpsc::unbounded_channel::<TaskStatus>();
    let uconn = Conn::from_env()?;
    tokio::spawn(async move {
        while let Some(status) = up_rx.recv().await {
            let mut c = uconn.call(CallType::Update);
            c.update = Some(CallUpdate { status });
            let body = json_body(&c);
            for attempt in 0..5u32 {
                match httpc::request(
                    &uconn.endpoint,
                    "POST",
                    &uconn.path,
                    &uconn.headers(),
                    &body,
                )
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
    let docker = match mode {
        "docker" => Some(
            docker::DockerRun::from_args(std::env::args().skip(1), sandbox.clone())
                .map_err(ExecutorError::Flags)?,
        ),
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
        docker,
        networks: HashMap::new(),
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
            Input::Overdue(tid) => engine.overdue(&tid),
            Input::DockerStarted(tid, pid, seen) => engine.docker_started(tid, pid, *seen),
            Input::DockerSpawned(tid, pid) => {
                if let Some(r) = engine.tasks.get_mut(&tid) {
                    r.place = Place::Docker(pid);
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
                    engine.kill_children();
                    return Err(ExecutorError::RecoveryTimeout(recovery_timeout));
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
                match subscribe(&engine.conn, payload, in_tx.clone(), Input::from_stream).await {
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
                return Err(ExecutorError::LostAgent(why));
            }
        }
        if engine.done() {
            return Ok(());
        }
    }
    Ok(())
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
            overdue: false,
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
        if s.container_status.is_none() {
            s.container_status = self.networks.get(&s.task_id).cloned().map(Box::new);
        }
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
            None if self.docker.is_some() => self.launch_docker(task, group, &cmd),
            None => self.launch_child(task, group, &cmd),
        }
    }

    /// Sends `sig` to a task: its process group, or its nested container through the agent.
    fn signal(&self, tid: &TaskID, sig: Signal) {
        let Some(r) = self.tasks.get(tid) else {
            return;
        };
        match (&r.place, self.container.as_deref()) {
            (Place::Child(pid), _) => kill_group(*pid, sig),
            // A docker task is stopped by `docker stop` (see `kill_task`); SIGKILL is the
            // escalation.
            (Place::Docker(pid), _) if sig == Signal::SIGKILL => self.docker_kill(*pid),
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

    /// Kills what is left of a group after one of its tasks failed or was killed.
    fn kill_group_of(&mut self, group: Option<usize>) {
        if let Some(g) = group {
            for t in self.groups[g].clone() {
                self.kill_task(&t, None);
            }
        }
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
        // A KILL's policy may only shorten the task's own grace period (a docker task's is
        // --stop_timeout when it has no kill policy, as in Mesos).
        let policy_of_task = self.infos.get(tid).and_then(|t| t.kill_policy.as_ref());
        let own = match (
            policy_of_task,
            self.docker.as_ref().and_then(|d| d.stop_timeout),
        ) {
            (None, Some(stop)) => stop,
            _ => KillPolicy::grace_of(policy_of_task),
        };
        let grace = match policy.and_then(|p| p.grace_period.as_ref()) {
            Some(d) => d.as_duration().min(own),
            None => own,
        };
        if killing_state {
            self.status(tid, TaskState::Killing, None);
        }
        let grace = if self.docker.is_some() {
            // docker stop escalates to SIGKILL itself after the grace period; `docker kill`
            // follows if the daemon was slow to.
            self.docker_stop(grace);
            grace + Duration::from_secs(10)
        } else {
            self.signal(tid, Signal::SIGTERM);
            grace
        };
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
        if let Place::Child(pid) | Place::Docker(pid) = r.place {
            // Whatever the task left in its group goes with it.
            kill_group(pid, Signal::SIGKILL);
        }
        let (ok, msg) = match &ended {
            // Mesos's words for a docker task: the container's exit status.
            Ended::Status(s) if self.docker.is_some() => {
                let (ok, m) = describe(s);
                (ok, m.replacen("Command", "Container", 1))
            }
            Ended::Status(s) => describe(s),
            Ended::Unknown => (false, "Command terminated with unknown status".into()),
            Ended::Error(e) => (false, e.clone()),
        };
        let state = if r.overdue {
            TaskState::Failed
        } else if r.killing {
            TaskState::Killed
        } else if ok {
            TaskState::Finished
        } else {
            TaskState::Failed
        };
        let mut s = TaskStatus::new(tid.clone(), state);
        s.message = Some(msg);
        if r.overdue {
            s.reason = Some(Reason::MaxCompletionTimeReached);
            s.message = Some("Task exceeded its maximum completion time".into());
        }
        if let Some(why) = &r.unhealthy {
            s.healthy = Some(false);
            s.message = Some(format!("{why}; {}", s.message.unwrap_or_default()));
        }
        self.send(s);
        if state != TaskState::Finished {
            self.kill_group_of(r.group);
        }
    }

    /// Starts what watches a task that just became RUNNING: its `max_completion_time` and its
    /// health check.
    fn watch(&mut self, tid: &TaskID) {
        let limit = self
            .infos
            .get(tid)
            .and_then(|t| t.max_completion_time)
            .map(|d| d.as_duration());
        if let Some(limit) = limit {
            let tx = self.input.clone();
            let t = tid.clone();
            tokio::spawn(async move {
                tokio::time::sleep(limit).await;
                let _ = tx.send(Input::Overdue(t));
            });
        }
        self.start_health_check(tid);
    }

    /// A task ran past its `max_completion_time`: it is killed and fails with
    /// REASON_MAX_COMPLETION_TIME_REACHED (Mesos's rule).
    fn overdue(&mut self, tid: &TaskID) {
        let Some(r) = self.tasks.get_mut(tid) else {
            return;
        };
        if r.killing {
            return;
        }
        r.overdue = true;
        self.kill_task(tid, None);
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
            Place::Child(_) | Place::Docker(_) => self.sandbox.clone(),
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
