//! The agent process: registers with the master, launches executors in sandboxes, routes tasks,
//! kills and shutdowns to them over the v1 executor API, and forwards their status updates
//! through the status update manager.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use libprocess::{Context, HttpRequest, HttpResponse, Process, RemoteConnection, Reply, UPID};
use mesos_api::messages::{
    AgentRegistered, AgentReregistered, CheckpointResources, KillTask, PingAgent, PongAgent,
    RegisterAgent, ReregisterAgent, RunTask, RunTaskGroup, ShutdownExecutor, ShutdownFramework,
    StatusUpdate, StatusUpdateAcknowledgement, Task, WireMessage,
};
use mesos_api::protocol::executor::{self as exec_api, CallType};
use mesos_api::protocol::framework::{AgentInfo, FrameworkInfo};
use mesos_api::protocol::task::{
    CommandInfo, ExecutorInfo, ExecutorType, KillPolicy, Reason, Source, TaskGroupInfo, TaskInfo,
    TaskState, TaskStatus,
};
use mesos_api::{ids, AgentID, Attributes, ContainerID, ExecutorID, FrameworkID, TaskID};
use tokio::sync::mpsc::UnboundedSender;

use crate::flags::AgentFlags;
use mesos_containerizer::{
    Container, ContainerConfig, Containerizer, Event as ContainerEvent, ImageUse, Limits,
    Termination,
};
use std::sync::Arc;

#[path = "operator.rs"]
mod operator;
#[path = "recovery.rs"]
mod recovery;
use crate::sum::{Acked, StatusUpdateManager};

/// The version this agent reports.
pub const VERSION: &str = "1.11.0";

/// The longest registration retry interval (Mesos: 1 min).
const MAX_REGISTRATION_BACKOFF: Duration = Duration::from_secs(60);

fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The master's UPID from `--master` (`host:port` or `master@host:port`).
pub fn master_upid(flag: &str) -> Result<UPID, String> {
    if flag.starts_with("zk://") || flag.starts_with("file://") {
        return Err(format!(
            "--master={flag}: ZooKeeper and file detection are not supported yet; give host:port"
        ));
    }
    let (id, hostport) = flag.split_once('@').unwrap_or(("master", flag));
    use std::net::ToSocketAddrs;
    let addr = hostport
        .to_socket_addrs()
        .map_err(|e| format!("--master={flag}: cannot resolve '{hostport}': {e}"))?
        .find(|a| a.is_ipv4())
        .ok_or_else(|| format!("--master={flag}: '{hostport}' has no IPv4 address"))?;
    Ok(UPID::new(id, addr))
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum ExecKind {
    Command,
    Default,
    Custom,
}

impl ExecKind {
    /// The built-in executor's program and multi-call mode.
    fn program_name(self) -> (&'static str, &'static str) {
        match self {
            ExecKind::Command => ("mesos-executor", "command"),
            _ => ("mesos-default-executor", "default"),
        }
    }
}

enum Queued {
    Task(Box<TaskInfo>),
    Group(TaskGroupInfo),
}

struct Executor {
    info: ExecutorInfo,
    kind: ExecKind,
    container_id: ContainerID,
    directory: PathBuf,
    pid: Option<i32>,
    /// The container's actor.
    container: Option<Container>,
    /// The container's limits (the executor's resources and its tasks').
    limits: Limits,
    stream: Option<UnboundedSender<Bytes>>,
    queued: Vec<Queued>,
    /// Every task not yet terminal-and-acknowledged, with its latest state.
    tasks: HashMap<TaskID, Task>,
    /// Set on shutdown: remaining tasks end KILLED rather than FAILED.
    shutting_down: bool,
    /// Why the container could not be launched, once known.
    launch_failure: Option<String>,
}

struct Framework {
    info: FrameworkInfo,
    executors: HashMap<ExecutorID, Executor>,
}

/// See the module docs.
pub struct Agent {
    flags: AgentFlags,
    info: AgentInfo,
    master: Option<UPID>,
    registered: bool,
    backoff: Duration,
    frameworks: HashMap<FrameworkID, Framework>,
    /// Frameworks the master shut down: their streams go once their executors are gone.
    removing: std::collections::HashSet<FrameworkID>,
    updates: StatusUpdateManager,
    /// Dynamic reservations and persistent volumes, as the master last told us.
    checkpointed: mesos_api::Resources,
    /// Nested containers launched through the operator API.
    nested: operator::NestedContainers,
    /// This agent's PID (for work finishing off the process).
    self_pid: Option<libprocess::PID<Agent>>,
    /// Runs every executor in a container.
    containerizer: Arc<Containerizer>,
    /// Checkpoint directories of tasks with updates not yet acknowledged.
    task_dirs: HashMap<(FrameworkID, TaskID), PathBuf>,
    /// The runtime this agent lives in (for nested containers' actors).
    runtime: Option<libprocess::Runtime>,
}

impl Agent {
    /// An agent with these flags and resources (spawn it under an id like `slave(1)`).
    pub fn new(
        flags: AgentFlags,
        resources: mesos_api::Resources,
        attributes: Attributes,
    ) -> Result<Agent, String> {
        let master = if flags.master.is_empty() {
            None
        } else {
            Some(master_upid(&flags.master)?)
        };
        let mut cz_flags = flags.containerizer.clone();
        if cz_flags.init.is_none() {
            cz_flags.init = init_program(flags.launcher_dir.as_deref());
        }
        let containerizer = Containerizer::new(cz_flags)
            .map_err(|e| format!("cannot start the containerizer: {e}"))?;
        Ok(Agent {
            containerizer,
            task_dirs: HashMap::new(),
            runtime: None,
            info: AgentInfo {
                hostname: flags.hostname.clone().unwrap_or_default(),
                port: 5051,
                resources,
                attributes,
                id: None,
            },
            backoff: flags.registration_backoff_factor,
            flags,
            master,
            registered: false,
            frameworks: HashMap::new(),
            removing: Default::default(),
            updates: StatusUpdateManager::default(),
            checkpointed: Default::default(),
            nested: Default::default(),
            self_pid: None,
        })
    }

    /// This agent's id, once registered.
    pub fn id(&self) -> Option<&AgentID> {
        self.info.id.as_ref()
    }

    /// Whether the master has (re)registered this agent.
    pub fn registered(&self) -> bool {
        self.registered
    }

    /// Running executors.
    pub fn executor_count(&self) -> usize {
        self.frameworks.values().map(|f| f.executors.len()).sum()
    }

    /// Dynamic reservations and persistent volumes held for the master.
    pub fn checkpointed_resources(&self) -> &mesos_api::Resources {
        &self.checkpointed
    }

    /// Status updates not yet acknowledged.
    pub fn pending_updates(&self) -> usize {
        self.updates.pending()
    }

    // ---- registration ------------------------------------------------------------------

    fn try_register(&mut self, ctx: &mut Context<Self>) {
        if self.registered {
            return;
        }
        let Some(master) = self.master.clone() else {
            return;
        };
        ctx.link_with(&master, RemoteConnection::Reconnect);
        match &self.info.id {
            None => ctx.send_named(
                &master,
                RegisterAgent::NAME,
                RegisterAgent {
                    agent: self.info.clone(),
                    version: VERSION.into(),
                    capabilities: vec!["MULTI_ROLE".into(), "TASK_KILLING_STATE".into()],
                    checkpointed_resources: Default::default(),
                },
            ),
            Some(_) => {
                let mut tasks = Vec::new();
                let mut executor_infos = Vec::new();
                let mut frameworks = Vec::new();
                for f in self.frameworks.values() {
                    frameworks.push(f.info.clone());
                    for e in f.executors.values() {
                        executor_infos.push(e.info.clone());
                        tasks.extend(e.tasks.values().cloned());
                    }
                }
                ctx.send_named(
                    &master,
                    ReregisterAgent::NAME,
                    ReregisterAgent {
                        agent: self.info.clone(),
                        version: VERSION.into(),
                        capabilities: vec!["MULTI_ROLE".into(), "TASK_KILLING_STATE".into()],
                        checkpointed_resources: self.checkpointed.clone(),
                        executor_infos,
                        tasks,
                        frameworks,
                    },
                )
            }
        }
        let d = self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_REGISTRATION_BACKOFF);
        ctx.delay(d, |a: &mut Agent, c| a.try_register(c));
    }

    fn on_registered(&mut self, ctx: &mut Context<Self>, from: UPID, id: AgentID) {
        if Some(&from) != self.master.as_ref() {
            return;
        }
        if self.info.id.as_ref().is_some_and(|old| old != &id) {
            tracing::warn!(old = ?self.info.id, new = %id, "master gave a new agent id");
        }
        tracing::info!(agent = %id, "registered with the master");
        self.info.id = Some(id);
        self.registered = true;
        self.checkpoint_agent();
        self.backoff = self.flags.registration_backoff_factor;
        for u in self.updates.heads() {
            self.forward(ctx, u);
        }
    }

    // ---- tasks -------------------------------------------------------------------------

    fn command_executor_info(&self, fid: &FrameworkID, task: &TaskInfo) -> ExecutorInfo {
        let cmd = task
            .command
            .as_ref()
            .and_then(|c| c.value.clone())
            .unwrap_or_default();
        ExecutorInfo {
            kind: Some(ExecutorType::Custom),
            executor_id: ExecutorID::new(task.task_id.value.clone()),
            framework_id: Some(fid.clone()),
            command: Some(CommandInfo::shell("mesos-executor")),
            resources: Default::default(),
            name: Some(format!(
                "Command Executor (Task: {}) (Command: sh -c '{}')",
                task.task_id, cmd
            )),
            data: None,
            shutdown_grace_period: None,
            labels: None,
            container: None,
        }
    }

    fn run_task(&mut self, ctx: &mut Context<Self>, from: UPID, m: RunTask) {
        if Some(&from) != self.master.as_ref() {
            tracing::warn!(%from, "RunTask not from the master; ignoring");
            return;
        }
        let Some(fid) = m.framework.id.clone() else {
            return;
        };
        let (info, kind) = match &m.task.executor {
            Some(e) => (e.clone(), ExecKind::Custom),
            None => (self.command_executor_info(&fid, &m.task), ExecKind::Command),
        };
        let task = self.new_task(&fid, &info.executor_id, &m.task);
        self.queue(
            ctx,
            m.framework,
            info,
            kind,
            vec![task],
            Queued::Task(Box::new(m.task)),
        );
    }

    fn run_task_group(&mut self, ctx: &mut Context<Self>, from: UPID, m: RunTaskGroup) {
        if Some(&from) != self.master.as_ref() {
            return;
        }
        let Some(fid) = m.framework.id.clone() else {
            return;
        };
        let tasks = m
            .task_group
            .tasks
            .iter()
            .map(|t| self.new_task(&fid, &m.executor.executor_id, t))
            .collect();
        self.queue(
            ctx,
            m.framework,
            m.executor,
            ExecKind::Default,
            tasks,
            Queued::Group(m.task_group),
        );
    }

    fn new_task(&self, fid: &FrameworkID, eid: &ExecutorID, t: &TaskInfo) -> Task {
        Task {
            name: t.name.clone(),
            task_id: t.task_id.clone(),
            framework_id: fid.clone(),
            executor_id: Some(eid.clone()),
            agent_id: self.info.id.clone().unwrap_or_else(|| AgentID::new("")),
            state: TaskState::Staging,
            resources: t.resources.clone(),
            statuses: Vec::new(),
            status_update_state: None,
            status_update_uuid: None,
            labels: t.labels.clone(),
        }
    }

    fn queue(
        &mut self,
        ctx: &mut Context<Self>,
        framework: FrameworkInfo,
        info: ExecutorInfo,
        kind: ExecKind,
        tasks: Vec<Task>,
        item: Queued,
    ) {
        let Some(fid) = framework.id.clone() else {
            return;
        };
        let eid = info.executor_id.clone();
        let f = self
            .frameworks
            .entry(fid.clone())
            .or_insert_with(|| Framework {
                info: framework.clone(),
                executors: HashMap::new(),
            });
        f.info = framework;
        if !f.executors.contains_key(&eid) {
            let task_infos: Vec<&TaskInfo> = match &item {
                Queued::Task(t) => vec![t.as_ref()],
                Queued::Group(g) => g.tasks.iter().collect(),
            };
            match self.launch_executor(ctx, &fid, info, kind, &task_infos) {
                Ok(e) => {
                    self.frameworks
                        .get_mut(&fid)
                        .expect("inserted above")
                        .executors
                        .insert(eid.clone(), e);
                }
                Err(why) => {
                    tracing::warn!(framework = %fid, executor = %eid, "{why}");
                    for t in tasks {
                        let s = self.agent_status(
                            &t.task_id,
                            &eid,
                            TaskState::Failed,
                            Reason::ExecutorTerminated,
                            &why,
                        );
                        self.handle_update(ctx, &fid, Some(eid.clone()), s);
                    }
                    return;
                }
            }
        }
        let e = self
            .frameworks
            .get_mut(&fid)
            .and_then(|f| f.executors.get_mut(&eid))
            .expect("present");
        let launched: Vec<Task> = tasks.clone();
        for t in tasks {
            e.tasks.insert(t.task_id.clone(), t);
        }
        self.checkpoint_launch(&fid, &eid, &launched);
        let e = self
            .frameworks
            .get_mut(&fid)
            .and_then(|f| f.executors.get_mut(&eid))
            .expect("present");
        match &e.stream {
            Some(tx) => {
                let _ = tx.send(launch_record(&item));
            }
            None => e.queued.push(item),
        }
    }

    fn executor_program(&self, kind: ExecKind) -> Result<(PathBuf, Option<&'static str>), String> {
        program_in_launcher_dir(self.flags.launcher_dir.as_deref(), kind.program_name())
    }

    fn launch_executor(
        &mut self,
        ctx: &mut Context<Self>,
        fid: &FrameworkID,
        info: ExecutorInfo,
        kind: ExecKind,
        tasks: &[&TaskInfo],
    ) -> Result<Executor, String> {
        let agent_id = self
            .info
            .id
            .clone()
            .ok_or_else(|| "agent is not registered".to_string())?;
        let container_id = ContainerID::new(ids::new_uuid());
        let runs = self
            .flags
            .work_dir
            .join("slaves")
            .join(&agent_id.value)
            .join("frameworks")
            .join(&fid.value)
            .join("executors")
            .join(&info.executor_id.value)
            .join("runs");
        let directory = runs.join(&container_id.value);
        std::fs::create_dir_all(&directory)
            .map_err(|e| format!("cannot create sandbox '{}': {e}", directory.display()))?;
        let latest = runs.join("latest");
        let _ = std::fs::remove_file(&latest);
        let _ = std::os::unix::fs::symlink(&container_id.value, &latest);

        let mut env: Vec<(String, String)> = Vec::new();
        let mut uris = Vec::new();
        let mut user = None;
        let (program, args) = match kind {
            ExecKind::Custom => {
                let c = info
                    .command
                    .clone()
                    .ok_or_else(|| format!("executor '{}' has no command", info.executor_id))?;
                env.extend(c.env_pairs());
                uris = c.uris.clone();
                user = c.user.clone();
                let (program, args) = c.argv();
                (PathBuf::from(program), args)
            }
            _ => {
                let (program, mode) = self.executor_program(kind)?;
                if let Some(m) = mode {
                    env.push((crate::executor::MODE_ENV.into(), m.into()));
                }
                if kind == ExecKind::Command {
                    if let Some(c) = tasks.first().and_then(|t| t.command.as_ref()) {
                        uris = c.uris.clone();
                        user = c.user.clone();
                    }
                }
                (program, Vec::new())
            }
        };
        let upid = ctx.self_upid();
        let addr = upid.addr();
        let grace = self.flags.executor_shutdown_grace_period;
        let checkpoint = self.frameworks.get(fid).is_some_and(|f| f.info.checkpoint);
        let d = directory.display().to_string();
        for (k, v) in [
            ("MESOS_FRAMEWORK_ID", fid.value.clone()),
            ("MESOS_EXECUTOR_ID", info.executor_id.value.clone()),
            ("MESOS_AGENT_ID", agent_id.value.clone()),
            ("MESOS_SLAVE_ID", agent_id.value.clone()),
            ("MESOS_CONTAINER_ID", container_id.value.clone()),
            ("MESOS_DIRECTORY", d.clone()),
            ("MESOS_SANDBOX", d),
            ("MESOS_AGENT_ENDPOINT", addr.to_string()),
            ("MESOS_SLAVE_PID", upid.to_string()),
            (
                "MESOS_CHECKPOINT",
                if checkpoint { "1" } else { "0" }.into(),
            ),
            ("MESOS_HTTP_COMMAND_EXECUTOR", "1".into()),
            (
                "MESOS_RECOVERY_TIMEOUT",
                format!("{}secs", self.flags.recovery_timeout.as_secs_f64()),
            ),
            (
                "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD",
                format!("{}secs", grace.as_secs_f64()),
            ),
        ] {
            env.push((k.into(), v));
        }
        // The container holds the executor's resources and its tasks'.
        let mut total = info.resources.clone();
        for t in tasks {
            total.add_all(&t.resources);
        }
        let limits = limits_of(&total);
        let (container_info, image_use) = match kind {
            ExecKind::Command => (
                tasks.first().and_then(|t| t.container.clone()),
                ImageUse::ForTask,
            ),
            _ => (info.container.clone(), ImageUse::Enter),
        };
        let config = ContainerConfig {
            id: container_id.clone(),
            parent: None,
            program,
            args,
            env,
            sandbox: directory.clone(),
            limits: limits.clone(),
            container_info,
            image_use,
            uris,
            user,
        };
        let (f, e, c) = (fid.clone(), info.executor_id.clone(), container_id.clone());
        let me = ctx.pid().clone();
        let events = Box::new(move |ev: ContainerEvent| {
            let (f, e, c) = (f.clone(), e.clone(), c.clone());
            me.dispatch_nowait(move |a: &mut Agent, ctx| a.container_event(ctx, &f, &e, &c, ev));
        });
        let container = self
            .containerizer
            .launch(ctx.runtime(), config, events)
            .map_err(|e| format!("cannot start executor '{}': {e}", info.executor_id))?;
        tracing::info!(framework = %fid, executor = %info.executor_id, container = %container_id, dir = %directory.display(), "launching executor");
        let (f, e, c) = (fid.clone(), info.executor_id.clone(), container_id.clone());
        ctx.delay(
            self.flags.executor_registration_timeout,
            move |a: &mut Agent, _| a.registration_timeout(&f, &e, &c),
        );
        Ok(Executor {
            info,
            kind,
            container_id,
            directory,
            pid: None,
            container: Some(container),
            limits,
            stream: None,
            queued: Vec::new(),
            tasks: HashMap::new(),
            shutting_down: false,
            launch_failure: None,
        })
    }

    fn container_event(
        &mut self,
        ctx: &mut Context<Self>,
        fid: &FrameworkID,
        eid: &ExecutorID,
        cid: &ContainerID,
        ev: ContainerEvent,
    ) {
        match ev {
            ContainerEvent::Launched { pid } => {
                if let Some(e) = self
                    .executor_mut(fid, eid)
                    .filter(|e| &e.container_id == cid)
                {
                    e.pid = Some(pid);
                    tracing::info!(framework = %fid, executor = %eid, pid, "executor launched");
                    self.checkpoint_pid(fid, eid, pid);
                }
            }
            ContainerEvent::Failed(why) => {
                tracing::warn!(framework = %fid, executor = %eid, "container launch failed: {why}");
                if let Some(e) = self
                    .executor_mut(fid, eid)
                    .filter(|e| &e.container_id == cid)
                {
                    e.launch_failure = Some(why);
                }
            }
            ContainerEvent::Terminated(t) => self.executor_exited(ctx, fid, eid, cid, t),
        }
    }

    /// Kills an executor's container.
    fn destroy_container(e: &Executor) {
        if let Some(c) = &e.container {
            c.pid.dispatch_nowait(|c, ctx| c.destroy(ctx));
        }
    }

    fn registration_timeout(&mut self, fid: &FrameworkID, eid: &ExecutorID, cid: &ContainerID) {
        let Some(e) = self.executor_mut(fid, eid) else {
            return;
        };
        if &e.container_id != cid || e.stream.is_some() {
            return;
        }
        tracing::warn!(framework = %fid, executor = %eid, "executor did not subscribe in time; killing it");
        Self::destroy_container(e);
    }

    fn executor_mut(&mut self, fid: &FrameworkID, eid: &ExecutorID) -> Option<&mut Executor> {
        self.frameworks
            .get_mut(fid)
            .and_then(|f| f.executors.get_mut(eid))
    }

    fn executor_exited(
        &mut self,
        ctx: &mut Context<Self>,
        fid: &FrameworkID,
        eid: &ExecutorID,
        cid: &ContainerID,
        t: Termination,
    ) {
        let Some(f) = self.frameworks.get_mut(fid) else {
            return;
        };
        if f.executors.get(eid).is_none_or(|e| &e.container_id != cid) {
            return;
        }
        let e = f.executors.remove(eid).expect("checked");
        if f.executors.is_empty() {
            self.frameworks.remove(fid);
        }
        self.forget_nested_of(&cid.value);
        let how = t.message.clone();
        tracing::info!(framework = %fid, executor = %eid, "executor {how}");
        let (state, reason, message) = match (&t.limitation, &e.launch_failure) {
            (Some(l), _) => (TaskState::Failed, l.reason, l.message.clone()),
            (None, Some(why)) => (
                TaskState::Failed,
                Reason::ContainerLaunchFailed,
                format!("Failed to launch container: {why}"),
            ),
            (None, None) if e.shutting_down => (
                TaskState::Killed,
                Reason::ExecutorTerminated,
                format!("Executor {how}"),
            ),
            (None, None) => (
                TaskState::Failed,
                Reason::ExecutorTerminated,
                format!("Executor {how}"),
            ),
        };
        let mut open: Vec<&Task> = e
            .tasks
            .values()
            .filter(|t| !t.state.is_terminal())
            .collect();
        open.sort_by(|a, b| a.task_id.cmp(&b.task_id));
        let ids: Vec<TaskID> = open.iter().map(|t| t.task_id.clone()).collect();
        for t in ids {
            let s = self.agent_status(&t, eid, state, reason, &message);
            self.handle_update(ctx, fid, Some(eid.clone()), s);
        }
        if !self.frameworks.contains_key(fid) && self.removing.remove(fid) {
            self.updates.remove_framework(fid);
        }
        self.checkpoint_executor_gone(fid, eid, cid);
    }

    fn agent_status(
        &self,
        task: &TaskID,
        eid: &ExecutorID,
        state: TaskState,
        reason: Reason,
        message: &str,
    ) -> TaskStatus {
        let mut s = TaskStatus::new(task.clone(), state);
        s.source = Some(Source::Agent);
        s.reason = Some(reason);
        s.message = Some(message.to_string());
        s.executor_id = Some(eid.clone());
        s.uuid = Some(ids::new_uuid_bytes());
        s
    }

    fn kill_task(&mut self, ctx: &mut Context<Self>, from: UPID, k: KillTask) {
        if Some(&from) != self.master.as_ref() {
            return;
        }
        let found = self.frameworks.get_mut(&k.framework_id).and_then(|f| {
            f.executors
                .values_mut()
                .find(|e| e.tasks.contains_key(&k.task_id))
        });
        let Some(e) = found else {
            // Unknown here: the master learns it is gone.
            let s = self.agent_status(
                &k.task_id,
                &ExecutorID::new(k.task_id.value.clone()),
                TaskState::Lost,
                Reason::ExecutorUnregistered,
                "Cannot find the task's executor",
            );
            self.handle_update(ctx, &k.framework_id, None, s);
            return;
        };
        let eid = e.info.executor_id.clone();
        // Not yet handed to the executor: it (with the rest of its group) never starts.
        let ids = |q: &Queued| -> Vec<TaskID> {
            match q {
                Queued::Task(t) => vec![t.task_id.clone()],
                Queued::Group(g) => g.tasks.iter().map(|t| t.task_id.clone()).collect(),
            }
        };
        if let Some(i) = e.queued.iter().position(|q| ids(q).contains(&k.task_id)) {
            let killed = ids(&e.queued.remove(i));
            for t in killed {
                let s = self.agent_status(
                    &t,
                    &eid,
                    TaskState::Killed,
                    Reason::TaskKilledDuringLaunch,
                    "Killed before delivery to the executor",
                );
                self.handle_update(ctx, &k.framework_id, Some(eid.clone()), s);
            }
            return;
        }
        if let Some(tx) = &e.stream {
            let ev = exec_api::Event {
                kill: Some(exec_api::Kill {
                    task_id: k.task_id,
                    kill_policy: k.kill_policy,
                }),
                ..exec_api::Event::new(exec_api::EventType::Kill)
            };
            let _ = tx.send(event_record(&ev));
        }
    }

    fn shutdown_executor(&mut self, ctx: &mut Context<Self>, fid: &FrameworkID, eid: &ExecutorID) {
        let grace = self.flags.executor_shutdown_grace_period;
        let Some(e) = self.executor_mut(fid, eid) else {
            return;
        };
        e.shutting_down = true;
        match &e.stream {
            Some(tx) => {
                let _ = tx.send(event_record(&exec_api::Event::new(
                    exec_api::EventType::Shutdown,
                )));
                let (f, x, c) = (fid.clone(), eid.clone(), e.container_id.clone());
                ctx.delay(grace, move |a: &mut Agent, _| {
                    if let Some(e) = a.executor_mut(&f, &x) {
                        if e.container_id == c {
                            Self::destroy_container(e);
                        }
                    }
                });
            }
            None => Self::destroy_container(e),
        }
    }

    fn shutdown_framework(&mut self, ctx: &mut Context<Self>, from: UPID, fid: FrameworkID) {
        if Some(&from) != self.master.as_ref() {
            return;
        }
        self.removing.insert(fid.clone());
        let eids: Vec<ExecutorID> = self
            .frameworks
            .get(&fid)
            .map(|f| f.executors.keys().cloned().collect())
            .unwrap_or_default();
        for e in eids {
            self.shutdown_executor(ctx, &fid, &e);
        }
    }

    // ---- status updates ----------------------------------------------------------------

    /// Records an update against its task and queues it for the master.
    fn handle_update(
        &mut self,
        ctx: &mut Context<Self>,
        fid: &FrameworkID,
        eid: Option<ExecutorID>,
        mut status: TaskStatus,
    ) {
        status.agent_id = self.info.id.clone();
        if status.timestamp.is_none() {
            status.timestamp = Some(now_secs());
        }
        let mut latest = Some(status.state);
        if let Some(t) = eid
            .as_ref()
            .and_then(|e| self.executor_mut(fid, e))
            .and_then(|e| e.tasks.get_mut(&status.task_id))
        {
            t.state = status.state;
            t.statuses.push(status.clone());
            latest = Some(t.state);
        }
        let u = StatusUpdate {
            framework_id: fid.clone(),
            executor_id: eid,
            agent_id: self.info.id.clone().unwrap_or_else(|| AgentID::new("")),
            timestamp: status.timestamp.unwrap_or_default(),
            status,
            latest_state: latest,
        };
        self.checkpoint_update(&u);
        if let Some(head) = self.updates.push(u) {
            self.forward(ctx, head);
        }
    }

    fn forward(&mut self, ctx: &mut Context<Self>, mut u: StatusUpdate) {
        let (fid, tid) = (u.framework_id.clone(), u.status.task_id.clone());
        // The master learns the task's newest state even while an older update is in flight.
        if let Some(t) = u
            .executor_id
            .clone()
            .and_then(|e| self.executor_mut(&fid, &e))
            .and_then(|e| e.tasks.get(&tid))
        {
            u.latest_state = Some(t.state);
        }
        let uuid = u.status.uuid.clone();
        if self.registered {
            if let Some(m) = &self.master {
                ctx.send_named(m, StatusUpdate::NAME, u);
            }
        }
        let d = self.updates.next_backoff(&fid, &tid);
        ctx.delay(d, move |a: &mut Agent, ctx| {
            let head = a.updates.head(&fid, &tid).cloned();
            if let Some(h) = head.filter(|h| h.status.uuid == uuid) {
                tracing::debug!(task = %tid, "retrying status update");
                a.forward(ctx, h);
            }
        });
    }

    fn acknowledgement(
        &mut self,
        ctx: &mut Context<Self>,
        from: UPID,
        m: StatusUpdateAcknowledgement,
    ) {
        if Some(&from) != self.master.as_ref() {
            return;
        }
        let acked_state = self
            .updates
            .head(&m.framework_id, &m.task_id)
            .filter(|h| h.status.uuid.as_deref() == Some(&m.uuid[..]))
            .map(|h| (h.status.state, h.executor_id.clone()));
        if let Some((state, _)) = &acked_state {
            self.checkpoint_ack(&m.framework_id, &m.task_id, &m.uuid, state.is_terminal());
        }
        match self.updates.ack(&m.framework_id, &m.task_id, &m.uuid) {
            Acked::Ignored => {
                tracing::debug!(task = %m.task_id, "duplicate or unknown acknowledgement ignored")
            }
            Acked::Next(next) => {
                if let Some(n) = next {
                    self.forward(ctx, *n);
                }
                // A terminal update acknowledged: the task is done here.
                if let Some((state, Some(eid))) = acked_state {
                    if state.is_terminal() {
                        if let Some(e) = self.executor_mut(&m.framework_id, &eid) {
                            e.tasks.remove(&m.task_id);
                        }
                    }
                }
            }
        }
    }

    // ---- the executor API --------------------------------------------------------------

    fn executor_api(&mut self, ctx: &mut Context<Self>, req: HttpRequest) -> Reply {
        if req.method.as_str() != "POST" {
            return HttpResponse::text(405, "Expecting a POST request").into();
        }
        let ct = req.header("content-type").unwrap_or("");
        if !ct.starts_with("application/json") {
            return HttpResponse::text(
                415,
                format!("Expecting 'Content-Type' of application/json (got '{ct}')"),
            )
            .into();
        }
        let call: exec_api::Call = match serde_json::from_slice::<serde_json::Value>(&req.body)
            .map_err(|e| e.to_string())
            .and_then(|v| mesos_api::protocol::from_json(&v).map_err(|e| e.to_string()))
        {
            Ok(c) => c,
            Err(e) => {
                return HttpResponse::bad_request(format!("Failed to parse the call: {e}")).into()
            }
        };
        let (fid, eid) = (call.framework_id.clone(), call.executor_id.clone());
        if self.executor_mut(&fid, &eid).is_none() {
            return HttpResponse::bad_request(format!(
                "Executor '{eid}' of framework '{fid}' is not known to this agent"
            ))
            .into();
        }
        match call.kind.unwrap_or(CallType::Unknown) {
            CallType::Subscribe => {
                let resp = self.executor_subscribe(&fid, &eid);
                // A resubscribing executor resends what the agent may not have received.
                let resent = call
                    .subscribe
                    .map(|s| s.unacknowledged_updates)
                    .unwrap_or_default();
                for u in resent {
                    let mut st = u.status;
                    let Some(uuid) = st.uuid.clone() else {
                        continue;
                    };
                    let tid = st.task_id.clone();
                    let seen = self.executor_mut(&fid, &eid).is_some_and(|e| {
                        e.tasks.get(&st.task_id).is_none_or(|t| {
                            t.statuses.iter().any(|x| x.uuid.as_ref() == Some(&uuid))
                        })
                    });
                    if !seen {
                        st.source = Some(Source::Executor);
                        st.executor_id = Some(eid.clone());
                        self.handle_update(ctx, &fid, Some(eid.clone()), st);
                        tracing::info!(task = %tid, "took a status update resent by a resubscribing executor");
                    }
                    if let Some(tx) = self.executor_mut(&fid, &eid).and_then(|e| e.stream.clone()) {
                        let ev = exec_api::Event {
                            acknowledged: Some(exec_api::Acknowledged { task_id: tid, uuid }),
                            ..exec_api::Event::new(exec_api::EventType::Acknowledged)
                        };
                        let _ = tx.send(event_record(&ev));
                    }
                }
                resp.into()
            }
            CallType::Update => {
                let Some(u) = call.update else {
                    return HttpResponse::bad_request("Expecting 'update' to be present").into();
                };
                let mut s = u.status;
                let Some(uuid) = s.uuid.clone() else {
                    return HttpResponse::bad_request("Expecting 'uuid' to be present").into();
                };
                let known = self
                    .executor_mut(&fid, &eid)
                    .is_some_and(|e| e.tasks.contains_key(&s.task_id));
                if !known {
                    return HttpResponse::bad_request(format!(
                        "Task '{}' is not known to executor '{eid}'",
                        s.task_id
                    ))
                    .into();
                }
                s.source = Some(Source::Executor);
                s.executor_id = Some(eid.clone());
                // A task the kernel's OOM killer ended failed for its container's memory limit.
                if s.state == TaskState::Failed {
                    if let Some(e) = self.executor_mut(&fid, &eid) {
                        let (cid, limits) = (e.container_id.value.clone(), e.limits.clone());
                        if let Some(l) = self.containerizer.memory_limitation(&cid, &limits) {
                            s.reason = Some(l.reason);
                            s.message = Some(l.message);
                        }
                    }
                }
                let tid = s.task_id.clone();
                self.handle_update(ctx, &fid, Some(eid.clone()), s);
                // The agent holds the update now: the executor may forget it.
                if let Some(tx) = self.executor_mut(&fid, &eid).and_then(|e| e.stream.clone()) {
                    let ev = exec_api::Event {
                        acknowledged: Some(exec_api::Acknowledged { task_id: tid, uuid }),
                        ..exec_api::Event::new(exec_api::EventType::Acknowledged)
                    };
                    let _ = tx.send(event_record(&ev));
                }
                HttpResponse::empty(202).into()
            }
            CallType::Heartbeat => HttpResponse::empty(202).into(),
            CallType::Message => HttpResponse::text(
                501,
                "MESSAGE from executors is not supported by this agent yet",
            )
            .into(),
            CallType::Unknown => HttpResponse::bad_request("Expecting 'type' to be present").into(),
        }
    }

    fn executor_subscribe(&mut self, fid: &FrameworkID, eid: &ExecutorID) -> HttpResponse {
        let framework_info = self.frameworks[fid].info.clone();
        let agent_info = self.info.clone();
        let e = self.executor_mut(fid, eid).expect("checked by caller");
        let (resp, tx) = HttpResponse::stream("application/json");
        let ev = exec_api::Event {
            subscribed: Some(exec_api::Subscribed {
                executor_info: e.info.clone(),
                framework_info,
                agent_info,
                container_id: Some(e.container_id.clone()),
            }),
            ..exec_api::Event::new(exec_api::EventType::Subscribed)
        };
        let _ = tx.send(event_record(&ev));
        for q in e.queued.drain(..) {
            let _ = tx.send(launch_record(&q));
        }
        if e.shutting_down {
            let _ = tx.send(event_record(&exec_api::Event::new(
                exec_api::EventType::Shutdown,
            )));
        }
        e.stream = Some(tx);
        tracing::debug!(framework = %fid, executor = %eid, kind = ?e.kind, dir = %e.directory.display(), "executor subscribed");
        resp
    }
}

fn event_record(ev: &exec_api::Event) -> Bytes {
    let body = serde_json::to_vec(&mesos_api::protocol::to_json(ev)).unwrap_or_default();
    Bytes::from(crate::httpc::record(&body))
}

fn launch_record(q: &Queued) -> Bytes {
    let ev = match q {
        Queued::Task(t) => exec_api::Event {
            launch: Some(exec_api::Launch {
                task: TaskInfo::clone(t),
            }),
            ..exec_api::Event::new(exec_api::EventType::Launch)
        },
        Queued::Group(g) => exec_api::Event {
            launch_group: Some(exec_api::LaunchGroup {
                task_group: g.clone(),
            }),
            ..exec_api::Event::new(exec_api::EventType::LaunchGroup)
        },
    };
    event_record(&ev)
}

/// Signals a process group (the executor and everything it started).
/// A helper program: `name` in the launcher dir (`--launcher_dir`, else this binary's
/// directory), else this binary when it can run as that helper (the multi-call mode to set).
fn program_in_launcher_dir(
    launcher_dir: Option<&Path>,
    (name, mode): (&str, &'static str),
) -> Result<(PathBuf, Option<&'static str>), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
    let dir = match launcher_dir {
        Some(d) => d.to_path_buf(),
        None => exe.parent().map(PathBuf::from).unwrap_or_default(),
    };
    let p = dir.join(name);
    if p.is_file() {
        return Ok((p, None));
    }
    if crate::executor::multicall() {
        return Ok((exe, Some(mode)));
    }
    Err(format!(
        "no '{name}' in the launcher dir '{}' (set --launcher_dir)",
        dir.display()
    ))
}

/// The status-keeping init of nested containers, where there is one.
fn init_program(launcher_dir: Option<&Path>) -> Option<mesos_containerizer::init::InitProgram> {
    use mesos_containerizer::init;
    match program_in_launcher_dir(launcher_dir, ("mesos-container-init", init::MULTICALL_MODE)) {
        Ok((program, mode)) => Some(init::InitProgram {
            program,
            env: mode
                .map(|m| vec![(init::MULTICALL_ENV.to_string(), m.to_string())])
                .unwrap_or_default(),
        }),
        Err(e) => {
            tracing::warn!("nested containers run without their init (exit statuses are lost in an agent restart): {e}");
            None
        }
    }
}

pub(crate) fn kill_group(pid: Option<i32>, sig: nix::sys::signal::Signal) {
    if let Some(p) = pid.filter(|p| *p > 0) {
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(p), sig);
    }
}

/// Container limits from resources (`cpus`, `mem` and `disk` in MB, `gpus`).
fn limits_of(r: &mesos_api::Resources) -> Limits {
    let mb = |v: f64| (v > 0.0).then_some((v * 1048576.0) as u64);
    Limits {
        cpus: Some(r.cpus()).filter(|c| *c > 0.0),
        mem_bytes: mb(r.mem()),
        disk_bytes: mb(r.scalar("disk").as_f64()),
        gpus: r.scalar("gpus").as_f64() as usize,
    }
}

/// A kill policy's grace period (Mesos's default 3 s).
pub fn grace_of(p: Option<&KillPolicy>) -> Duration {
    p.and_then(|p| p.grace_period.as_ref())
        .map(|d| d.as_duration())
        .unwrap_or(Duration::from_secs(3))
}

impl Process for Agent {
    fn initialize(&mut self, ctx: &mut Context<Self>) {
        let addr = ctx.self_upid().addr();
        self.info.port = addr.port() as i32;
        if self.info.hostname.is_empty() {
            self.info.hostname = addr.ip().to_string();
        }
        ctx.install_named(
            AgentRegistered::NAME,
            |a: &mut Agent, c, from, m: AgentRegistered| a.on_registered(c, from, m.agent_id),
        );
        ctx.install_named(
            AgentReregistered::NAME,
            |a: &mut Agent, c, from, m: AgentReregistered| a.on_registered(c, from, m.agent_id),
        );
        ctx.install_named(PingAgent::NAME, |a: &mut Agent, c, from, p: PingAgent| {
            if Some(&from) == a.master.as_ref() {
                c.send_named(&from, PongAgent::NAME, PongAgent {});
                if !p.connected && a.registered {
                    a.registered = false;
                    a.try_register(c);
                }
            }
        });
        ctx.install_named(
            CheckpointResources::NAME,
            |a: &mut Agent, _, from, m: CheckpointResources| {
                if Some(&from) == a.master.as_ref() {
                    a.checkpointed = m.resources;
                }
            },
        );
        ctx.install_named(RunTask::NAME, |a: &mut Agent, c, from, m: RunTask| {
            a.run_task(c, from, m)
        });
        ctx.install_named(
            RunTaskGroup::NAME,
            |a: &mut Agent, c, from, m: RunTaskGroup| a.run_task_group(c, from, m),
        );
        ctx.install_named(KillTask::NAME, |a: &mut Agent, c, from, m: KillTask| {
            a.kill_task(c, from, m)
        });
        ctx.install_named(
            ShutdownFramework::NAME,
            |a: &mut Agent, c, from, m: ShutdownFramework| {
                a.shutdown_framework(c, from, m.framework_id)
            },
        );
        ctx.install_named(
            ShutdownExecutor::NAME,
            |a: &mut Agent, c, from, m: ShutdownExecutor| {
                if Some(&from) == a.master.as_ref() {
                    a.shutdown_executor(c, &m.framework_id, &m.executor_id)
                }
            },
        );
        ctx.install_named(
            StatusUpdateAcknowledgement::NAME,
            |a: &mut Agent, c, from, m: StatusUpdateAcknowledgement| a.acknowledgement(c, from, m),
        );
        ctx.route("api/v1/executor", |a: &mut Agent, c, req| {
            a.executor_api(c, req)
        });
        Self::install_operator_routes(ctx);
        self.self_pid = Some(ctx.pid().clone());
        self.runtime = Some(ctx.runtime().clone());
        self.recover(ctx);
        self.try_register(ctx);
    }

    fn finalize(&mut self, _ctx: &mut Context<Self>) {
        self.kill_nested();
        // Executors do not outlive an agent that is stopped (a crashed agent leaves them
        // running for recovery).
        for f in self.frameworks.values() {
            for e in f.executors.values() {
                self.containerizer
                    .destroy_orphan(&e.container_id.value, e.pid);
            }
        }
    }

    fn exited(&mut self, ctx: &mut Context<Self>, pid: &UPID) {
        if Some(pid) == self.master.as_ref() && self.registered {
            tracing::warn!(master = %pid, "lost the master; reregistering");
            self.registered = false;
            self.backoff = self.flags.registration_backoff_factor;
            self.try_register(ctx);
        }
    }
}
