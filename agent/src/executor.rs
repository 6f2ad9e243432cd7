//! The command executor and the default executor: one engine speaking the v1 executor HTTP API
//! to the agent. It subscribes, runs each launched task as a child in its own process group,
//! reports STARTING / RUNNING and the terminal state with the exit status, and kills with
//! SIGTERM to the group, then SIGKILL after the grace period.
//!
//! As the command executor it runs the one task of a LAUNCH; as the default executor it runs the
//! tasks of a LAUNCH_GROUP, each in `tasks/<task id>/` of the sandbox with its own stdout and
//! stderr, and when one of them fails or is killed the rest of the group is killed.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mesos_api::protocol::executor::{Call, CallType, CallUpdate, Event, EventType, Subscribe};
use mesos_api::protocol::framework::{FrameworkCapabilityType, FrameworkInfo};
use mesos_api::protocol::task::{KillPolicy, Source, TaskInfo, TaskState, TaskStatus};
use mesos_api::{ids, ExecutorID, FrameworkID, TaskID};
use nix::sys::signal::Signal;
use tokio::sync::mpsc;

use crate::httpc;

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
}

struct Running {
    pid: Option<i32>,
    /// Set once a kill started (the end state is then KILLED).
    killing: bool,
    group: Option<usize>,
}

struct Engine {
    conn: Conn,
    sandbox: PathBuf,
    framework: Option<FrameworkInfo>,
    tasks: HashMap<TaskID, Running>,
    infos: HashMap<TaskID, TaskInfo>,
    groups: Vec<Vec<TaskID>>,
    unacked: HashSet<Vec<u8>>,
    launched: usize,
    shutting_down: bool,
    updates: mpsc::UnboundedSender<TaskStatus>,
    input: mpsc::UnboundedSender<Input>,
}

async fn run(mode: &str) -> Result<(), String> {
    let conn = Conn::from_env()?;
    let sandbox = PathBuf::from(env("MESOS_SANDBOX").or_else(|_| env("MESOS_DIRECTORY"))?);
    let mut sub = conn.call(CallType::Subscribe);
    sub.subscribe = Some(Subscribe::default());
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
    let (in_tx, mut in_rx) = mpsc::unbounded_channel();
    let tx = in_tx.clone();
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
        unacked: HashSet::new(),
        launched: 0,
        shutting_down: false,
        updates: up_tx,
        input: in_tx,
    };
    let _ = mode;
    while let Some(i) = in_rx.recv().await {
        match i {
            Input::Event(ev) => engine.event(*ev),
            Input::Exited(tid, st) => engine.exited(tid, st),
            Input::Escalate(tid) => {
                if let Some(r) = engine.tasks.get(&tid) {
                    kill(r.pid, Signal::SIGKILL);
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
        s.source = Some(Source::Executor);
        s.message = message;
        s.executor_id = Some(self.conn.executor_id.clone());
        let uuid = ids::new_uuid_bytes();
        self.unacked.insert(uuid.clone());
        s.uuid = Some(uuid);
        s.timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .map(|d| d.as_secs_f64());
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
                    self.unacked.remove(&a.uuid);
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
        let mut c = if cmd.shell {
            let mut c = tokio::process::Command::new("/bin/sh");
            c.arg("-c").arg(&value);
            c
        } else {
            let mut c = tokio::process::Command::new(&value);
            c.args(cmd.arguments.iter().skip(1));
            c
        };
        if let Some(env) = &cmd.environment {
            for v in &env.variables {
                c.env(&v.name, v.value.clone().unwrap_or_default());
            }
        }
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
        match c.spawn() {
            Ok(mut child) => {
                let pid = child.id().map(|p| p as i32);
                self.tasks.insert(
                    tid.clone(),
                    Running {
                        pid,
                        killing: false,
                        group,
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
            }
            Err(e) => self.status(
                &tid,
                TaskState::Failed,
                Some(format!("Failed to launch '{value}': {e}")),
            ),
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
        self.status(&tid, state, Some(msg));
        if let Some(g) = r.group {
            if state != TaskState::Finished {
                for t in self.groups[g].clone() {
                    self.kill_task(&t, None);
                }
            }
        }
    }
}
