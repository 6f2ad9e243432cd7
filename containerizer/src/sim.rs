//! The simulated containerizer of the deterministic simulation (the bench crate's `sim`): the
//! agent's containerizer with no machine under it. A container's first process is an executor
//! that runs inside the simulation, as a task of its own on the simulation's one thread, and
//! speaks the v1 executor API to its agent over HTTP on the simulated network, as a real
//! executor does. So the agent's executor API, status update manager, checkpoints and recovery
//! run unchanged; only the processes are made up.
//!
//! The executor runs each task it is given (LAUNCH, or each task of a LAUNCH_GROUP): TASK_RUNNING
//! at once, then, when the task's `data` is `sim:run:<ms>:<STATE>` ([`run_for`]; the workload
//! draws it from the seed), that state after that many milliseconds of virtual time. A task
//! without one runs until it is killed. KILL ends a task TASK_KILLED, SHUTDOWN ends them all;
//! once every task it ran has ended and the agent took every update, the executor exits 0, as
//! the command executor does; a task of a group that fails or is killed takes the rest of its
//! group with it, as the default executor's do. It keeps each update until the agent's ACKNOWLEDGED and, when
//! its agent goes away, subscribes again every second (resending them) for the
//! `MESOS_RECOVERY_TIMEOUT` a checkpointing framework's executor waits, and exits at once when
//! its framework does not checkpoint.
//!
//! Executors belong to the simulated machine ([`SimHost`]), not to the agent process: an agent
//! that crashes and restarts on its work dir finds them running and adopts them, as a real
//! agent adopts executor processes; the machine's own crash ([`SimHost::crash`]) ends them all.
//! Their "OS pids" are numbers past Linux's largest pid, so no signal sent to one reaches a
//! real process.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use libprocess::http_client;
use libprocess::simnet::SimNet;
use libprocess::{Context, Process};
use mesos_api::protocol::executor::{Call, CallType, CallUpdate, Event, EventType, Subscribe};
use mesos_api::protocol::task::{Source, TaskInfo, TaskState, TaskStatus};
use mesos_api::{ids, ExecutorID, FrameworkID, TaskID};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::config::{ContainerConfig, Event as ContainerEvent, Termination};
use crate::paths;

/// Linux's largest pid (`PID_MAX_LIMIT`): made-up pids start past it.
const PID_MAX_LIMIT: i32 = 1 << 22;

/// The raw wait status of a process killed by SIGKILL.
const KILLED: i32 = 9;

/// How often a disconnected executor tries to subscribe again.
const RESUBSCRIBE: Duration = Duration::from_secs(1);

/// A task's `data` that makes a simulated executor end it in `end` after `ms` milliseconds.
pub fn run_for(ms: u64, end: TaskState) -> Vec<u8> {
    format!("sim:run:{ms}:{}", end.as_str()).into_bytes()
}

/// What [`run_for`] wrote, if `data` is that.
pub fn parse_run(data: &[u8]) -> Option<(Duration, TaskState)> {
    let s = std::str::from_utf8(data).ok()?.strip_prefix("sim:run:")?;
    let (ms, state) = s.split_once(':')?;
    let state = TaskState::from_name(state)?;
    Some((Duration::from_millis(ms.parse().ok()?), state))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One simulated machine: the network it is on, its IP, and the executors running on it. Clone
/// it for each agent process started on the machine.
#[derive(Clone)]
pub struct SimHost {
    net: SimNet,
    ip: IpAddr,
    st: Arc<Mutex<HostState>>,
}

#[derive(Default)]
struct HostState {
    /// The last pid handed out (past [`PID_MAX_LIMIT`]).
    last_pid: i32,
    /// Running executors, by container id.
    running: BTreeMap<String, Running>,
    /// Executors a restarted agent adopted.
    adopted: u64,
}

struct Running {
    os_pid: i32,
    /// Its raw wait status once it ended.
    exit: watch::Sender<Option<i32>>,
    task: tokio::task::AbortHandle,
}

impl SimHost {
    /// The machine at `ip` on `net`.
    pub fn new(net: SimNet, ip: IpAddr) -> SimHost {
        SimHost {
            net,
            ip,
            st: Arc::default(),
        }
    }

    /// Executors running on the machine.
    pub fn running(&self) -> usize {
        lock(&self.st).running.len()
    }

    /// Executors that agents restarted on this machine adopted (recovered) so far.
    pub fn adopted(&self) -> u64 {
        lock(&self.st).adopted
    }

    /// The machine goes down: every executor on it ends (killed), as its processes do.
    pub fn crash(&self) {
        let ids: Vec<String> = lock(&self.st).running.keys().cloned().collect();
        for id in ids {
            self.kill(&id);
        }
    }

    /// Starts a container's executor: its pid and a watch that holds its wait status once it
    /// ends.
    pub(crate) fn start(
        &self,
        config: &ContainerConfig,
    ) -> Result<(i32, watch::Receiver<Option<i32>>), String> {
        let env = ExecutorEnv::of(config)?;
        let mut st = lock(&self.st);
        st.last_pid = st.last_pid.max(PID_MAX_LIMIT) + 1;
        let os_pid = st.last_pid;
        let (exit, rx) = watch::channel(None);
        let id = config.id.value.clone();
        let host = self.clone();
        let me = id.clone();
        let task = tokio::spawn(async move {
            let status = Executor::new(host.clone(), env).run().await;
            host.exited(&me, os_pid, status);
        })
        .abort_handle();
        st.running.insert(id, Running { os_pid, exit, task });
        Ok((os_pid, rx))
    }

    /// The watch of the executor of container `id` with pid `os_pid`, if it still runs.
    pub(crate) fn adopt(&self, id: &str, os_pid: i32) -> Option<watch::Receiver<Option<i32>>> {
        let st = lock(&self.st);
        st.running
            .get(id)
            .filter(|r| r.os_pid == os_pid)
            .map(|r| r.exit.subscribe())
    }

    /// Kills the executor of container `id` (SIGKILL), if it runs.
    pub(crate) fn kill(&self, id: &str) {
        let r = lock(&self.st).running.remove(id);
        if let Some(r) = r {
            r.task.abort();
            r.exit.send_replace(Some(KILLED));
        }
    }

    fn exited(&self, id: &str, os_pid: i32, status: i32) {
        let mut st = lock(&self.st);
        if st.running.get(id).is_some_and(|r| r.os_pid == os_pid) {
            if let Some(r) = st.running.remove(id) {
                drop(st);
                r.exit.send_replace(Some(status));
            }
        }
    }
}

/// What an executor reads from the environment the agent gives it.
struct ExecutorEnv {
    agent: SocketAddr,
    /// The executor API's path (`/slave(1)/api/v1/executor`).
    path: String,
    framework_id: FrameworkID,
    executor_id: ExecutorID,
    checkpoint: bool,
    recovery_timeout: Duration,
}

impl ExecutorEnv {
    fn of(config: &ContainerConfig) -> Result<ExecutorEnv, String> {
        let get = |k: &str| {
            config
                .env
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .ok_or_else(|| format!("the executor's environment has no {k}"))
        };
        let endpoint = get("MESOS_AGENT_ENDPOINT")?;
        let agent = endpoint
            .parse()
            .map_err(|_| format!("MESOS_AGENT_ENDPOINT '{endpoint}' is not ip:port"))?;
        let pid = get("MESOS_SLAVE_PID")?;
        let process = pid.split('@').next().unwrap_or("slave(1)");
        let timeout = get("MESOS_RECOVERY_TIMEOUT").unwrap_or_default();
        Ok(ExecutorEnv {
            agent,
            path: format!("/{process}/api/v1/executor"),
            framework_id: FrameworkID::new(get("MESOS_FRAMEWORK_ID")?),
            executor_id: ExecutorID::new(get("MESOS_EXECUTOR_ID")?),
            checkpoint: get("MESOS_CHECKPOINT").is_ok_and(|v| v == "1"),
            recovery_timeout: timeout
                .strip_suffix("secs")
                .and_then(|s| s.parse::<f64>().ok())
                .and_then(|s| Duration::try_from_secs_f64(s).ok())
                .unwrap_or(Duration::from_secs(900)),
        })
    }
}

/// A task the executor runs.
struct Run {
    info: TaskInfo,
    state: TaskState,
    /// When it ends on its own, and how.
    ends: Option<(Instant, TaskState)>,
    /// The LAUNCH_GROUP it came in, numbered.
    group: Option<u32>,
}

/// The simulated executor (see the module docs).
struct Executor {
    host: SimHost,
    env: ExecutorEnv,
    tasks: BTreeMap<TaskID, Run>,
    /// Updates the agent has not acknowledged, oldest first.
    unacked: Vec<TaskStatus>,
    shutting_down: bool,
    groups: u32,
}

const JSON: [(&str, &str); 2] = [
    ("Content-Type", "application/json"),
    ("Accept", "application/json"),
];

impl Executor {
    fn new(host: SimHost, env: ExecutorEnv) -> Executor {
        Executor {
            host,
            env,
            tasks: BTreeMap::new(),
            unacked: Vec::new(),
            shutting_down: false,
            groups: 0,
        }
    }

    /// Runs until it exits; its raw wait status.
    async fn run(mut self) -> i32 {
        let mut lost_at: Option<Instant> = None;
        loop {
            if self.done() {
                return 0;
            }
            if let Some((head, body)) = self.subscribe().await {
                if head.status == 200 {
                    if let Some(status) = self.serve(body, &mut lost_at).await {
                        return status;
                    }
                } else {
                    tracing::warn!(executor = %self.env.executor_id, status = head.status, "subscription refused");
                }
            }
            // Disconnected: a checkpointing framework's executor waits for its agent to
            // come back; any other ends.
            if !self.env.checkpoint {
                return 1 << 8;
            }
            let since = *lost_at.get_or_insert_with(Instant::now);
            if since.elapsed() >= self.env.recovery_timeout {
                tracing::warn!(executor = %self.env.executor_id, "the agent did not come back within the recovery timeout; exiting");
                return 1 << 8;
            }
            tokio::time::sleep(RESUBSCRIBE).await;
        }
    }

    /// One request to the agent over a new connection.
    async fn post(&self, call: &Call) -> Option<(http_client::Head, http_client::Body)> {
        let body = serde_json::to_vec(&mesos_api::protocol::to_json(call)).ok()?;
        let from = SocketAddr::new(self.host.ip, 0);
        let io = self.host.net.connect(from, self.env.agent).await.ok()?;
        let host = self.env.agent.to_string();
        let length = body.len().to_string();
        let mut headers = vec![("Host", host.as_str()), ("Content-Length", length.as_str())];
        headers.extend(JSON);
        http_client::send(io, "POST", &self.env.path, &headers, &body)
            .await
            .ok()
    }

    fn call(&self, kind: CallType) -> Call {
        Call::new(
            kind,
            self.env.executor_id.clone(),
            self.env.framework_id.clone(),
        )
    }

    async fn subscribe(&self) -> Option<(http_client::Head, http_client::Body)> {
        let mut c = self.call(CallType::Subscribe);
        let pending: Vec<&TaskID> = self.unacked.iter().map(|s| &s.task_id).collect();
        c.subscribe = Some(Subscribe {
            unacknowledged_tasks: self
                .tasks
                .iter()
                .filter(|(id, _)| pending.contains(id))
                .map(|(_, r)| r.info.clone())
                .collect(),
            unacknowledged_updates: self
                .unacked
                .iter()
                .map(|s| CallUpdate { status: s.clone() })
                .collect(),
        });
        self.post(&c).await
    }

    /// Reads the event stream and runs the tasks until the stream ends (`None`) or the
    /// executor is done (its exit status). An event from the agent ends the wait for it
    /// (`lost_at`).
    async fn serve(
        &mut self,
        mut body: http_client::Body,
        lost_at: &mut Option<Instant>,
    ) -> Option<i32> {
        loop {
            if self.done() {
                return Some(0);
            }
            let next = self
                .tasks
                .values()
                .filter_map(|r| r.ends)
                .min_by_key(|e| e.0);
            // In a fixed order (tokio's select! draws its order from an unseeded generator).
            tokio::select! {
                biased;
                rec = body.next_record() => match rec {
                    Ok(Some(rec)) => {
                        *lost_at = None;
                        let ev = serde_json::from_slice::<serde_json::Value>(&rec)
                            .ok()
                            .and_then(|v| mesos_api::protocol::from_json::<Event>(&v).ok());
                        match ev {
                            Some(ev) => self.event(ev).await,
                            None => tracing::warn!(executor = %self.env.executor_id, "ignoring a bad event"),
                        }
                    }
                    _ => return None,
                },
                _ = tokio::time::sleep_until(next.map_or_else(Instant::now, |e| e.0)), if next.is_some() => {
                    let now = Instant::now();
                    let due: Vec<(TaskID, TaskState)> = self
                        .tasks
                        .iter()
                        .filter_map(|(id, r)| r.ends.filter(|e| e.0 <= now).map(|e| (id.clone(), e.1)))
                        .collect();
                    for (id, state) in due {
                        self.end(&id, state).await;
                    }
                }
            }
        }
    }

    /// Every task it ran has ended and the agent holds every update (or it was told to shut
    /// down and did).
    fn done(&self) -> bool {
        (self.shutting_down || !self.tasks.is_empty())
            && self.tasks.values().all(|r| r.state.is_terminal())
            && self.unacked.is_empty()
    }

    async fn event(&mut self, ev: Event) {
        match ev.kind {
            Some(EventType::Launch) => {
                if let Some(l) = ev.launch {
                    self.launch(l.task, None).await;
                }
            }
            Some(EventType::LaunchGroup) => {
                self.groups += 1;
                let g = self.groups;
                for t in ev
                    .launch_group
                    .map(|g| g.task_group.tasks)
                    .unwrap_or_default()
                {
                    self.launch(t, Some(g)).await;
                }
            }
            Some(EventType::Kill) => {
                if let Some(k) = ev.kill {
                    self.end(&k.task_id, TaskState::Killed).await;
                }
            }
            Some(EventType::Acknowledged) => {
                if let Some(a) = ev.acknowledged {
                    self.unacked.retain(|s| s.uuid.as_ref() != Some(&a.uuid));
                }
            }
            Some(EventType::Shutdown) => {
                self.shutting_down = true;
                let live: Vec<TaskID> = self
                    .tasks
                    .iter()
                    .filter(|(_, r)| !r.state.is_terminal())
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in live {
                    self.end(&id, TaskState::Killed).await;
                }
            }
            Some(EventType::Error) => {
                let why = ev.error.map(|e| e.message).unwrap_or_default();
                tracing::warn!(executor = %self.env.executor_id, "the agent sent an error: {why}");
            }
            _ => {}
        }
    }

    async fn launch(&mut self, task: TaskInfo, group: Option<u32>) {
        if self.tasks.contains_key(&task.task_id) || self.shutting_down {
            return;
        }
        let ends = task
            .data
            .as_deref()
            .and_then(parse_run)
            .and_then(|(after, state)| Some((Instant::now().checked_add(after)?, state)));
        let id = task.task_id.clone();
        self.tasks.insert(
            id.clone(),
            Run {
                info: task,
                state: TaskState::Staging,
                ends,
                group,
            },
        );
        self.update(&id, TaskState::Running).await;
    }

    /// A task ends in `state` (if it has not ended already). As the default executor does,
    /// a task of a group that fails or is killed takes the rest of its group with it (KILLED).
    async fn end(&mut self, id: &TaskID, state: TaskState) {
        let Some(group) = self
            .tasks
            .get(id)
            .filter(|r| !r.state.is_terminal())
            .map(|r| r.group)
        else {
            return;
        };
        self.update(id, state).await;
        if let (Some(g), TaskState::Failed | TaskState::Killed) = (group, state) {
            let rest: Vec<TaskID> = self
                .tasks
                .iter()
                .filter(|(_, r)| r.group == Some(g) && !r.state.is_terminal())
                .map(|(id, _)| id.clone())
                .collect();
            for id in rest {
                self.update(&id, TaskState::Killed).await;
            }
        }
    }

    /// Sends a task's new state to the agent (kept until acknowledged).
    async fn update(&mut self, id: &TaskID, state: TaskState) {
        let Some(r) = self.tasks.get_mut(id) else {
            return;
        };
        r.state = state;
        if state.is_terminal() {
            r.ends = None;
        }
        let mut s = TaskStatus::new(id.clone(), state);
        s.source = Some(Source::Executor);
        s.executor_id = Some(self.env.executor_id.clone());
        s.uuid = Some(ids::new_uuid_bytes());
        self.unacked.push(s.clone());
        let mut c = self.call(CallType::Update);
        c.update = Some(CallUpdate { status: s });
        // Refused or lost: it goes again with the next subscription.
        if let Some((head, mut body)) = self.post(&c).await {
            let _ = body.read_all().await;
            if head.status != 202 {
                tracing::warn!(executor = %self.env.executor_id, task = %id, status = head.status, "update refused");
            }
        }
    }
}

/// The actor of one simulated container: it starts (or adopts) its executor on the machine
/// and reports, as a real container's actor does, its launch and its termination.
pub struct SimContainer {
    host: SimHost,
    config: ContainerConfig,
    work_dir: PathBuf,
    events: Box<dyn Fn(ContainerEvent) + Send>,
    recovered: Option<i32>,
    done: bool,
}

impl SimContainer {
    pub(crate) fn new(
        host: SimHost,
        config: ContainerConfig,
        work_dir: PathBuf,
        events: Box<dyn Fn(ContainerEvent) + Send>,
        recovered: Option<i32>,
    ) -> SimContainer {
        SimContainer {
            host,
            config,
            work_dir,
            events,
            recovered,
            done: false,
        }
    }

    /// Kills the executor; the termination follows as an event.
    pub fn destroy(&mut self, _ctx: &mut Context<Self>) {
        self.host.kill(&self.config.id.value);
    }

    fn wait(&mut self, ctx: &mut Context<Self>, mut exit: watch::Receiver<Option<i32>>) {
        ctx.spawn_then(
            async move {
                loop {
                    if let Some(s) = *exit.borrow_and_update() {
                        return Some(s);
                    }
                    if exit.changed().await.is_err() {
                        return None;
                    }
                }
            },
            |c: &mut Self, ctx, status| c.exited(ctx, status),
        );
    }

    fn exited(&mut self, ctx: &mut Context<Self>, status: Option<i32>) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let _ =
            std::fs::remove_dir_all(paths::checkpoint_dir(&self.work_dir, &self.config.id.value));
        let message = status.map_or_else(
            || "Container terminated".to_string(),
            crate::container::describe,
        );
        (self.events)(ContainerEvent::Terminated(Termination {
            status,
            message,
            limitation: None,
        }));
        ctx.terminate_self();
    }
}

impl Process for SimContainer {
    fn initialize(&mut self, ctx: &mut Context<Self>) {
        let id = self.config.id.value.clone();
        if let Some(os_pid) = self.recovered {
            match self.host.adopt(&id, os_pid) {
                Some(exit) => {
                    lock(&self.host.st).adopted += 1;
                    self.wait(ctx, exit)
                }
                None => self.exited(ctx, None),
            }
            return;
        }
        let started = self.host.start(&self.config).and_then(|(os_pid, exit)| {
            paths::write_os_pid(&self.work_dir, &id, os_pid)
                .map_err(|e| format!("cannot checkpoint the pid: {e}"))?;
            Ok((os_pid, exit))
        });
        match started {
            Ok((os_pid, exit)) => {
                (self.events)(ContainerEvent::Launched { os_pid });
                self.wait(ctx, exit);
            }
            Err(why) => {
                self.host.kill(&id);
                (self.events)(ContainerEvent::Failed(why));
                self.exited(ctx, None);
            }
        }
    }
}
