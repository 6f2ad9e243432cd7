//! Tasks and their executors: RunTask / RunTaskGroup queue work for an executor (launching its
//! container in a new sandbox when it has none), KillTask and the shutdowns reach it through
//! its event stream, and the container's end fails or kills what it left unfinished.

use libprocess::util::HashMap;
use std::path::PathBuf;

use libprocess::{Context, UPID};
use mesos_api::messages::{
    DrainAgent, ExitedExecutor, KillTask, RunTask, RunTaskGroup, Task, TaskDetails, WireMessage,
};
use mesos_api::protocol::executor as exec_api;
use mesos_api::protocol::framework::FrameworkInfo;
use mesos_api::protocol::task::{
    CommandInfo, ExecutorInfo, ExecutorType, Reason, Source, TaskInfo, TaskState, TaskStatus,
};
use mesos_api::{ids, AgentID, ContainerID, ExecutorID, FrameworkID, TaskID};
use mesos_containerizer::{
    ContainerConfig, Event as ContainerEvent, ImageUse, Limits, Termination,
};

use super::executor_api::launch_event;
use super::state::{
    push_bounded, CompletedExecutor, ExecKind, Executor, Framework, Queued,
    MAX_COMPLETED_EXECUTORS_PER_FRAMEWORK, MAX_COMPLETED_FRAMEWORKS,
};
use super::Agent;
use crate::error::AgentError;
use crate::{paths, programs};

impl Agent {
    pub(super) fn command_executor_info(&self, fid: &FrameworkID, task: &TaskInfo) -> ExecutorInfo {
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

    pub(super) fn run_task(&mut self, ctx: &mut Context<Self>, from: UPID, m: RunTask) {
        if Some(&from) != self.master.as_ref() {
            tracing::warn!(%from, "RunTask not from the master; ignoring");
            return;
        }
        let Some(fid) = m.framework.id.clone() else {
            return;
        };
        let (info, kind) = match &m.task.executor {
            Some(e) => (e.clone(), ExecKind::Custom),
            None if self.flags.docker_enabled()
                && super::docker::is_docker(m.task.container.as_ref()) =>
            {
                (self.command_executor_info(&fid, &m.task), ExecKind::Docker)
            }
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

    pub(super) fn run_task_group(&mut self, ctx: &mut Context<Self>, from: UPID, m: RunTaskGroup) {
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

    pub(super) fn new_task(&self, fid: &FrameworkID, eid: &ExecutorID, t: &TaskInfo) -> Task {
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
            user: t.command.as_ref().and_then(|c| c.user.clone()),
            details: TaskDetails::of(t),
        }
    }

    pub(super) fn queue(
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
        let f = self.frameworks.entry(fid.clone()).or_insert_with(|| {
            // A framework back with a new executor takes its completed ones back.
            let done = self
                .completed_frameworks
                .iter()
                .position(|f| f.info.id.as_ref() == Some(&fid));
            let mut f = Framework::new(framework.clone());
            if let Some(i) = done {
                if let Some(old) = self.completed_frameworks.remove(i) {
                    f.completed_executors = old.completed_executors;
                }
            }
            f
        });
        f.info = framework;
        if !f.executors.contains_key(&eid) {
            let task_infos: Vec<&TaskInfo> = match &item {
                Queued::Task(t) => vec![t.as_ref()],
                Queued::Group(g) => g.tasks.iter().collect(),
            };
            match self.launch_executor(ctx, &fid, info, kind, &task_infos) {
                Ok(e) => {
                    if let Some(f) = self.frameworks.get_mut(&fid) {
                        f.executors.insert(eid.clone(), e);
                    }
                }
                Err(e) => {
                    let why = e.to_string();
                    let reason = match e {
                        AgentError::Launch(_) => Reason::ContainerLaunchFailed,
                        _ => Reason::ExecutorTerminated,
                    };
                    tracing::warn!(framework = %fid, executor = %eid, "{why}");
                    for t in tasks {
                        let s =
                            self.agent_status(&t.task_id, &eid, TaskState::Failed, reason, &why);
                        self.handle_update(ctx, &fid, Some(eid.clone()), s);
                    }
                    return;
                }
            }
        }
        let Some(e) = self.executor_mut(&fid, &eid) else {
            return;
        };
        let launched: Vec<Task> = tasks.clone();
        for t in tasks {
            e.tasks.insert(t.task_id.clone(), t);
        }
        if let Err(why) = self.checkpoint_launch(&fid, &eid, &launched) {
            // Not durable: a restarted agent would not know these tasks. They fail now,
            // with the reason, rather than be lost later.
            self.checkpoint_failed(&why);
            let why = format!("the agent could not checkpoint the task: {why}");
            for t in &launched {
                if let Some(e) = self.executor_mut(&fid, &eid) {
                    e.tasks.remove(&t.task_id);
                }
                let s = self.agent_status(
                    &t.task_id,
                    &eid,
                    TaskState::Failed,
                    Reason::ContainerLaunchFailed,
                    &why,
                );
                self.handle_update(ctx, &fid, Some(eid.clone()), s);
            }
            if self
                .executor_mut(&fid, &eid)
                .is_some_and(|e| e.tasks.is_empty())
            {
                self.shutdown_executor(ctx, &fid, &eid);
            }
            return;
        }
        let Some(e) = self.executor_mut(&fid, &eid) else {
            return;
        };
        match &e.stream {
            Some(tx) => {
                tx.send(&launch_event(&item));
            }
            None => e.queued.push(item),
        }
    }

    pub(super) fn executor_program(
        &self,
        kind: ExecKind,
    ) -> Result<(PathBuf, Option<&'static str>), AgentError> {
        programs::helper_program(self.flags.launcher_dir.as_deref(), kind.program_name())
            .map_err(AgentError::Program)
    }

    pub(super) fn launch_executor(
        &mut self,
        ctx: &mut Context<Self>,
        fid: &FrameworkID,
        info: ExecutorInfo,
        kind: ExecKind,
        tasks: &[&TaskInfo],
    ) -> Result<Executor, AgentError> {
        let agent_id = self.info.id.clone().ok_or(AgentError::NotRegistered)?;
        if kind != ExecKind::Docker && !self.flags.mesos_enabled() {
            self.count(|m| m.container_launch_errors.inc());
            return Err(AgentError::Launch(format!(
                "Failed to launch container: only a command task of type DOCKER runs on this \
                 agent (--containerizers={})",
                self.flags.containerizers
            )));
        }
        let container_id = ContainerID::new(ids::new_uuid());
        let executor_dir = paths::executor_dir(
            &paths::agent_sandboxes_dir(&self.flags.work_dir, &agent_id),
            fid,
            &info.executor_id,
        );
        let directory = paths::run_dir(&executor_dir, &container_id);
        // The framework is back: its sandbox directory stays.
        self.gc_unschedule(&paths::framework_dir(
            &paths::agent_sandboxes_dir(&self.flags.work_dir, &agent_id),
            fid,
        ));
        std::fs::create_dir_all(&directory).map_err(|e| {
            AgentError::Launch(format!(
                "cannot create sandbox '{}': {e}",
                directory.display()
            ))
        })?;
        let latest = paths::latest_run_link(&executor_dir);
        let _ = std::fs::remove_file(&latest);
        let _ = std::os::unix::fs::symlink(&container_id.value, &latest);

        let mut env: Vec<(String, String)> = Vec::new();
        let mut uris = Vec::new();
        let mut user = None;
        let docker_args = match (kind, tasks.first()) {
            (ExecKind::Docker, Some(t)) => {
                Some(self.docker_executor_args(&container_id, &directory, t)?)
            }
            _ => None,
        };
        let (program, args) = match kind {
            ExecKind::Custom => {
                let c = info.command.clone().ok_or_else(|| {
                    AgentError::Launch(format!("executor '{}' has no command", info.executor_id))
                })?;
                env.extend(c.env_pairs());
                uris = c.uris.clone();
                user = c.user.clone();
                let (program, args) = c.argv();
                (PathBuf::from(program), args)
            }
            _ => {
                let (program, mode) = self.executor_program(kind)?;
                if let Some(m) = mode {
                    env.push((programs::MODE_ENV.into(), m.into()));
                }
                if kind == ExecKind::Command || kind == ExecKind::Docker {
                    if let Some(c) = tasks.first().and_then(|t| t.command.as_ref()) {
                        uris = c.uris.clone();
                        user = c.user.clone();
                    }
                }

                (program, docker_args.unwrap_or_default())
            }
        };
        // Its command's user, else its framework's (Mesos's rule; the containerizer switches to
        // it with --switch_user).
        let user = user.filter(|u| !u.is_empty()).or_else(|| {
            self.frameworks
                .get(fid)
                .map(|f| f.info.user.clone())
                .filter(|u| !u.is_empty())
        });
        // As in Mesos, the docker executor runs as the agent's user (it needs the daemon's
        // socket); its task runs as its image's user.
        let user = user.filter(|_| kind != ExecKind::Docker);
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
        if let Some(key) = &self.flags.executor_secret {
            // Its token for the executor API (--authenticate_http_executors): it names this
            // executor only.
            let claims = serde_json::json!({
                "fid": fid.value, "eid": info.executor_id.value, "cid": container_id.value,
            });
            env.push((
                "MESOS_EXECUTOR_AUTHENTICATION_TOKEN".into(),
                mesos_api::auth::jwt_sign(key, &claims),
            ));
        }
        // The container holds the executor's resources and its tasks'.
        let mut total = info.resources.clone();
        for t in tasks {
            total.add_all(&t.resources);
        }
        let limits = limits_of(&total);
        let (mut container_info, image_use) = match kind {
            // The docker executor runs on the host; its task's container is docker's.
            ExecKind::Docker => (None, ImageUse::Enter),
            ExecKind::Command => (
                tasks.first().and_then(|t| t.container.clone()),
                ImageUse::ForTask,
            ),
            _ => (info.container.clone(), ImageUse::Enter),
        };
        // A terminal (tty_info): the container's standard streams are a pseudo-terminal whose
        // other side the agent holds, to attach to as to a session (the command executor
        // hands it to its task).
        let tty = container_info
            .as_mut()
            .and_then(|c| c.tty_info.take())
            .map(|t| t.rows_columns());
        // What the containerizer cannot honour fails the launch, never runs without it. A
        // command task's container is the executor's own, checked above.
        let nested = tasks
            .iter()
            .filter(|_| kind != ExecKind::Command && kind != ExecKind::Docker)
            .filter_map(|t| t.container.as_ref());
        for c in container_info.iter().chain(nested) {
            if let Some(why) = c.unsupported() {
                self.count(|m| m.container_launch_errors.inc());
                return Err(AgentError::Launch(format!(
                    "Failed to launch container: {why}"
                )));
            }
        }
        let (io, stdio) = match tty {
            Some(size) => {
                let log = |s| self.container_log(&directory, &env, s);
                let (sb, ends) =
                    super::io::Switchboard::new(&directory, Some(size), log).map_err(|e| {
                        self.count(|m| m.container_launch_errors.inc());
                        AgentError::Launch(format!("cannot open a terminal: {e}"))
                    })?;
                (Some(sb), Some(ends))
            }
            None => (None, None),
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
            user: user.clone(),
            stdio,
            persistent_volumes: self.persistent_volumes(&total),
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
            .map_err(|e| {
                self.count(|m| m.container_launch_errors.inc());
                AgentError::Launch(format!("cannot start executor '{}': {e}", info.executor_id))
            })?;
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
            os_pid: None,
            container: Some(container),
            limits,
            stream: None,
            queued: Vec::new(),
            tasks: HashMap::default(),
            shutting_down: false,
            launch_failure: None,
            user,
            io,
            completed_tasks: Default::default(),
        })
    }

    pub(super) fn container_event(
        &mut self,
        ctx: &mut Context<Self>,
        fid: &FrameworkID,
        eid: &ExecutorID,
        cid: &ContainerID,
        ev: ContainerEvent,
    ) {
        match ev {
            ContainerEvent::Launched { os_pid: pid } => {
                if let Some(e) = self
                    .executor_mut(fid, eid)
                    .filter(|e| &e.container_id == cid)
                {
                    e.os_pid = Some(pid);
                    tracing::info!(framework = %fid, executor = %eid, pid, "executor launched");
                    self.metrics_changed(ctx);
                    if let Err(why) = self.checkpoint_pid(fid, eid, pid) {
                        // A restarted agent could not adopt it: it ends now, its tasks fail
                        // with the reason.
                        self.checkpoint_failed(&why);
                        if let Some(e) = self.executor_mut(fid, eid) {
                            e.launch_failure = Some(format!(
                                "the agent could not checkpoint the executor: {why}"
                            ));
                        }
                        self.shutdown_executor(ctx, fid, eid);
                    }
                }
            }
            ContainerEvent::Failed(why) => {
                tracing::warn!(framework = %fid, executor = %eid, "container launch failed: {why}");
                self.count(|m| m.container_launch_errors.inc());
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
    pub(super) fn destroy_container(e: &Executor) {
        if let Some(c) = &e.container {
            c.destroy();
        }
    }

    pub(super) fn registration_timeout(
        &mut self,
        fid: &FrameworkID,
        eid: &ExecutorID,
        cid: &ContainerID,
    ) {
        let Some(e) = self.executor_mut(fid, eid) else {
            return;
        };
        if &e.container_id != cid || e.stream.is_some() {
            return;
        }
        tracing::warn!(framework = %fid, executor = %eid, "executor did not subscribe in time; killing it");
        Self::destroy_container(e);
    }

    pub(super) fn executor_mut(
        &mut self,
        fid: &FrameworkID,
        eid: &ExecutorID,
    ) -> Option<&mut Executor> {
        self.frameworks
            .get_mut(fid)
            .and_then(|f| f.executors.get_mut(eid))
    }

    pub(super) fn executor_exited(
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
        let Some(e) = f.executors.remove(eid) else {
            return;
        };
        if e.kind == ExecKind::Docker {
            super::docker::container_ended(&self.flags, cid);
        }
        let how = t.message.clone();
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
        // Its tasks still open end now (their updates follow): kept, and counted, as such.
        let mut ended = 0;
        let tasks = e
            .tasks
            .values()
            .map(|t| {
                let mut t = t.clone();
                if !t.state.is_terminal() {
                    t.state = state;
                    ended += 1;
                }
                t
            })
            .collect();
        push_bounded(
            &mut f.completed_executors,
            CompletedExecutor {
                info: e.info.clone(),
                container_id: e.container_id.clone(),
                directory: e.directory.clone(),
                tasks,
                completed_tasks: e.completed_tasks.clone(),
            },
            MAX_COMPLETED_EXECUTORS_PER_FRAMEWORK,
        );
        if f.executors.is_empty() {
            if let Some(done) = self.frameworks.remove(fid) {
                push_bounded(
                    &mut self.completed_frameworks,
                    done,
                    MAX_COMPLETED_FRAMEWORKS,
                );
            }
        }
        self.forget_nested_of(&cid.value);
        self.count(|m| {
            m.executors_terminated.inc();
            for _ in 0..ended {
                m.terminal(state);
            }
        });
        self.metrics_changed(ctx);
        tracing::info!(framework = %fid, executor = %eid, "executor {how}");
        // The framework hears of it as a FAILURE event (Mesos's ExitedExecutorMessage), unless
        // the agent made the executor for a command task (the framework never named it).
        let named = !matches!(e.kind, ExecKind::Command | ExecKind::Docker);
        if let (true, Some(master), Some(agent_id)) = (named, &self.master, &self.info.id) {
            let msg = ExitedExecutor {
                agent_id: agent_id.clone(),
                framework_id: fid.clone(),
                executor_id: eid.clone(),
                status: t.status,
            };
            ctx.send_named(master, ExitedExecutor::NAME, msg);
        }
        let mut open: Vec<&Task> = e
            .tasks
            .values()
            .filter(|t| !t.state.is_terminal())
            .collect();
        open.sort_by(|a, b| a.task_id.cmp(&b.task_id));
        let ids: Vec<TaskID> = open.iter().map(|t| t.task_id.clone()).collect();
        let limitation = limitation_of(reason, &e.limits);
        for t in ids {
            let mut s = self.agent_status(&t, eid, state, reason, &message);
            s.limitation = limitation.clone();
            self.handle_update(ctx, fid, Some(eid.clone()), s);
        }
        if !self.frameworks.contains_key(fid) && self.removing.remove(fid) {
            self.updates.remove_framework(fid);
        }
        self.checkpoint_executor_gone(fid, eid, cid);
        // Its sandbox, and its framework's once it has no executor here, go after --gc_delay.
        self.gc_schedule(ctx, e.directory.clone());
        if !self.frameworks.contains_key(fid) {
            if let Some(aid) = self.info.id.clone() {
                let dir = paths::framework_dir(
                    &paths::agent_sandboxes_dir(&self.flags.work_dir, &aid),
                    fid,
                );
                self.gc_schedule(ctx, dir);
            }
        }
    }

    pub(super) fn agent_status(
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

    /// The master's question after a reregistration: tasks it holds for this agent that the
    /// reregistration did not report. One this agent does not know ends (LOST, DROPPED for a
    /// partition-aware framework), reliably through the status update manager; one it knows
    /// (its launch raced the reregistration) needs no answer: its updates follow.
    pub(super) fn reconcile_with_master(
        &mut self,
        ctx: &mut Context<Self>,
        tasks: Vec<mesos_api::messages::UnreportedTask>,
    ) {
        for r in tasks {
            // A task whose executor ended is still known while its updates wait for their
            // acknowledgement (its terminal update follows).
            let pending = self.updates.head(&r.framework_id, &r.task_id).is_some();
            let known = pending
                || self.frameworks.get(&r.framework_id).is_some_and(|f| {
                    f.executors.values().any(|e| {
                        e.tasks.contains_key(&r.task_id)
                            || e.queued.iter().any(|q| match q {
                                Queued::Task(t) => t.task_id == r.task_id,
                                Queued::Group(g) => g.tasks.iter().any(|t| t.task_id == r.task_id),
                            })
                    })
                });
            if known {
                continue;
            }
            let state = if r.partition_aware {
                TaskState::Dropped
            } else {
                TaskState::Lost
            };
            tracing::warn!(task = %r.task_id, framework = %r.framework_id, "reconciling a task unknown to this agent: {state}");
            let s = self.agent_status(
                &r.task_id,
                &ExecutorID::new(r.task_id.value.clone()),
                state,
                Reason::Reconciliation,
                "Reconciliation: task unknown to the agent",
            );
            self.handle_update(ctx, &r.framework_id, None, s);
        }
    }

    pub(super) fn kill_task(&mut self, ctx: &mut Context<Self>, from: UPID, k: KillTask) {
        if Some(&from) != self.master.as_ref() {
            return;
        }
        let found = self.frameworks.get_mut(&k.framework_id).and_then(|f| {
            f.executors
                .values_mut()
                .find(|e| e.tasks.contains_key(&k.task_id))
        });
        let Some(e) = found else {
            // Ended here, its updates still on their way: they tell the master.
            if self.updates.head(&k.framework_id, &k.task_id).is_some() {
                return;
            }
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
            tx.send(&ev);
        }
    }

    /// DRAIN_AGENT, from the master: every task still open is killed, each kill's grace period
    /// capped at the drain's `max_grace_period` (a task's own shorter one stands).
    pub(super) fn drain(&mut self, ctx: &mut Context<Self>, from: UPID, m: DrainAgent) {
        if Some(&from) != self.master.as_ref() {
            return;
        }
        let policy = m
            .max_grace_period_ns
            .map(|ns| mesos_api::protocol::task::KillPolicy {
                grace_period: Some(mesos_api::protocol::task::DurationInfo { nanoseconds: ns }),
            });
        let open: Vec<(FrameworkID, TaskID)> = self
            .frameworks
            .iter()
            .flat_map(|(fid, f)| {
                f.executors.values().flat_map(move |e| {
                    e.tasks
                        .values()
                        .filter(|t| !t.state.is_terminal())
                        .map(move |t| (fid.clone(), t.task_id.clone()))
                })
            })
            .collect();
        tracing::info!(tasks = open.len(), ?policy, "draining: killing every task");
        for (framework_id, task_id) in open {
            let k = KillTask {
                framework_id,
                task_id,
                kill_policy: policy.clone(),
            };
            self.kill_task(ctx, from.clone(), k);
        }
    }

    pub(super) fn shutdown_executor(
        &mut self,
        ctx: &mut Context<Self>,
        fid: &FrameworkID,
        eid: &ExecutorID,
    ) {
        let grace = self.flags.executor_shutdown_grace_period;
        let Some(e) = self.executor_mut(fid, eid) else {
            return;
        };
        e.shutting_down = true;
        match &e.stream {
            Some(tx) => {
                tx.send(&exec_api::Event::new(exec_api::EventType::Shutdown));
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

    pub(super) fn shutdown_framework(
        &mut self,
        ctx: &mut Context<Self>,
        from: UPID,
        fid: FrameworkID,
    ) {
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
}

/// The resource a container limitation broke, with its limit, for a status's `limitation`.
pub(super) fn limitation_of(
    reason: Reason,
    limits: &Limits,
) -> Option<mesos_api::protocol::task::TaskResourceLimitation> {
    let (name, bytes) = match reason {
        Reason::ContainerLimitationMemory => ("mem", limits.mem_bytes?),
        Reason::ContainerLimitationDisk => ("disk", limits.disk_bytes?),
        _ => return None,
    };
    let mb = bytes as f64 / 1048576.0;
    let resources = mesos_api::Resources::parse(&format!("{name}:{mb}"), "*").ok()?;
    Some(mesos_api::protocol::task::TaskResourceLimitation { resources })
}

/// Container limits from resources (`cpus`, `mem` and `disk` in MB, `gpus`).
pub(super) fn limits_of(r: &mesos_api::Resources) -> Limits {
    let mb = |v: f64| (v > 0.0).then_some((v * 1048576.0) as u64);
    Limits {
        cpus: Some(r.cpus()).filter(|c| *c > 0.0),
        mem_bytes: mb(r.mem()),
        disk_bytes: mb(r.scalar("disk").as_f64()),
        gpus: r.scalar("gpus").as_f64() as usize,
        ports: Some(r.ranges("ports").iter().copied().collect()),
    }
}
