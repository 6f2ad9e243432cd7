//! The agent process: registers with the master, launches executors in sandboxes, routes tasks,
//! kills and shutdowns to them over the v1 executor API, and forwards their status updates
//! through the task status update manager.
//!
//! One topic a file: [`registration`] with the master, [`executors`] (tasks, executors and
//! their containers), [`status_updates`], the v1 [`executor_api`], the [`operator`] API and
//! endpoints, and checkpointing and [`recovery`]. The records they share are in [`state`].

mod authz;
mod docker;
mod executor_api;
mod executors;
mod files;
mod gc;
mod io;
mod metrics;
mod operations;
mod operator;
mod recovery;
mod registration;
mod state;
mod status_updates;
mod volumes;

use libprocess::util::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use libprocess::{Context, Process, UPID};
use mesos_api::messages::{
    AcknowledgeOperationStatusMsg, AgentRegistered, AgentReregistered, ApplyOperation,
    CheckpointResources, DrainAgent, FrameworkToExecutor, KillTask, PingAgent, PongAgent, RunTask,
    RunTaskGroup, ShutdownAgent, ShutdownExecutor, ShutdownFramework, StatusUpdateAcknowledgement,
    WireMessage,
};
use mesos_api::protocol::framework::AgentInfo;
use mesos_api::{AgentID, Attributes, FrameworkID, TaskID};
use mesos_containerizer::Containerizer;

use crate::error::AgentError;
use crate::flags::AgentFlags;
use crate::status_update_manager::StatusUpdateManager;
use crate::{paths, programs};
use mesos_detector::{MasterSpec, ZkUrl};
use state::{Framework, NestedContainers};

/// The agent's one mapping from a refused request to its answer: the rejection's status with
/// its reason as a `text/plain` body. The operator and executor APIs and `/files` answer their
/// errors through it.
fn reject(r: mesos_api::http::Rejection) -> libprocess::HttpResponse {
    libprocess::HttpResponse::text(r.status, r.message)
}

fn now_secs() -> f64 {
    mesos_api::wallclock::now_secs()
}

/// Why an agent process ended on its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stopped {
    /// The master told it to shut down (it was marked gone): a normal end.
    ShutDown(String),
    /// The master refused its authentication: it cannot work with this master.
    Refused(String),
}

/// See the module docs.
pub struct Agent {
    flags: AgentFlags,
    info: AgentInfo,
    master: Option<UPID>,
    /// The ZooKeeper group to detect the leading master in (`--master=zk://...`).
    detector: Option<ZkUrl>,
    /// Bumped when the master changes, so an old registration retry chain stops.
    registration_gen: u64,
    registered: bool,
    backoff: Duration,
    /// How long without a ping before the master is taken for lost (from the master, at
    /// registration: its `agent_ping_timeout` x `max_agent_ping_timeouts`).
    ping_timeout: Option<Duration>,
    /// Bumped at each ping, so only the timer armed by the last one fires.
    ping_gen: u64,
    /// `slave/checkpoint_failures`, once the process runs.
    checkpoint_failures: Option<libprocess::Counter>,
    /// The `slave/*` metrics, when this agent keeps them (the first of its process).
    metrics: Option<metrics::AgentMetrics>,
    /// Set once the master told this agent to shut down: the agent stops registering and
    /// its process ends.
    shut_down: Option<String>,
    /// Why the agent process ended, for its binary to report (and exit with).
    stopped: std::sync::Arc<std::sync::Mutex<Option<Stopped>>>,
    /// Authentication with the current master (with `--credential`).
    auth: registration::AuthState,
    frameworks: HashMap<FrameworkID, Framework>,
    /// Frameworks whose last executor ended, newest last (for `/state`).
    completed_frameworks: std::collections::VecDeque<Framework>,
    /// Frameworks the master shut down: their streams go once their executors are gone.
    removing: libprocess::util::HashSet<FrameworkID>,
    updates: StatusUpdateManager,
    /// Dynamic reservations and persistent volumes, as the master last told us.
    checkpointed: mesos_api::Resources,
    /// Operations whose status the framework has not acknowledged.
    operations: operations::PendingOperations,
    /// Nested containers launched through the operator API.
    nested: NestedContainers,
    /// This agent's PID (for work finishing off the process).
    self_pid: Option<libprocess::PID<Agent>>,
    /// Runs every executor in a container.
    containerizer: Arc<Containerizer>,
    /// Checkpoint directories of tasks with updates not yet acknowledged.
    task_dirs: HashMap<(FrameworkID, TaskID), PathBuf>,
    /// The runtime this agent lives in (for nested containers' actors).
    runtime: Option<libprocess::Runtime>,
    /// Sandboxes scheduled for removal.
    gc: gc::Gc,
}

impl Agent {
    /// Where the agent records why it stopped on its own (read it once the process ended).
    pub fn stopped(&self) -> std::sync::Arc<std::sync::Mutex<Option<Stopped>>> {
        self.stopped.clone()
    }

    /// An agent with these flags and resources (spawn it under an id like `slave(1)`).
    pub fn new(
        flags: AgentFlags,
        resources: mesos_api::Resources,
        attributes: Attributes,
    ) -> Result<Agent, AgentError> {
        Agent::build(flags, resources, attributes, None)
    }

    /// An agent of the deterministic simulation: its containers are simulated
    /// ([`mesos_containerizer::sim`]) on `host`, a machine of the simulated network; the rest
    /// (registration, executors' API, status updates, checkpoints in `--work_dir`, recovery)
    /// is the agent's own code.
    pub fn simulated(
        flags: AgentFlags,
        resources: mesos_api::Resources,
        attributes: Attributes,
        host: mesos_containerizer::sim::SimHost,
    ) -> Result<Agent, AgentError> {
        Agent::build(flags, resources, attributes, Some(host))
    }

    fn build(
        flags: AgentFlags,
        resources: mesos_api::Resources,
        attributes: Attributes,
        sim: Option<mesos_containerizer::sim::SimHost>,
    ) -> Result<Agent, AgentError> {
        let (master, detector) = if flags.master.is_empty() {
            (None, None)
        } else {
            match MasterSpec::parse(&flags.master).map_err(|e| AgentError::Master {
                flag: flags.master.clone(),
                why: e.to_string(),
            })? {
                MasterSpec::Fixed(upid) => (Some(upid), None),
                MasterSpec::ZooKeeper(url) => (None, Some(url)),
            }
        };
        let mut flags = flags;
        flags.containerizer.logger_program = logger_program(&flags)?;
        let mut cz_flags = flags.containerizer.clone();
        cz_flags.agent_ports = resources.ranges("ports").iter().copied().collect();
        if cz_flags.init.is_none() {
            cz_flags.init = init_program(flags.launcher_dir.as_deref());
        }
        check_domain(&flags)?;
        let containerizer = match sim {
            Some(host) => Containerizer::simulated(cz_flags, host)?,
            None => Containerizer::new(cz_flags)?,
        };
        docker::check_daemon(&flags)?;
        Ok(Agent {
            containerizer,
            task_dirs: HashMap::default(),
            runtime: None,
            gc: gc::Gc::default(),
            info: AgentInfo {
                hostname: flags.hostname.clone().unwrap_or_default(),
                port: 5051,
                resources,
                attributes,
                id: None,
                domain: flags.domain_info.clone(),
            },
            backoff: flags.registration_backoff_factor,
            flags,
            master,
            detector,
            registration_gen: 0,
            registered: false,
            ping_timeout: None,
            ping_gen: 0,
            shut_down: None,
            stopped: Default::default(),
            auth: Default::default(),
            checkpoint_failures: None,
            metrics: None,
            frameworks: HashMap::default(),
            completed_frameworks: Default::default(),
            removing: Default::default(),
            updates: StatusUpdateManager::default(),
            checkpointed: Default::default(),
            operations: Default::default(),
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

    /// Where an attachable container's `stream` goes (the agent writes it): through the
    /// container logger, as for any container.
    pub(super) fn container_log(
        &self,
        sandbox: &Path,
        env: &[(String, String)],
        stream: mesos_containerizer::logger::Stream,
    ) -> std::io::Result<std::fs::File> {
        let cz = &self.flags.containerizer;
        mesos_containerizer::logger::open_stream(
            &cz.logger,
            cz.logger_program.as_ref(),
            sandbox,
            stream,
            env,
            None,
        )
    }

    /// Running executors.
    pub fn executor_count(&self) -> usize {
        self.frameworks.values().map(|f| f.executors.len()).sum()
    }

    /// Dynamic reservations and persistent volumes held for the master.
    pub fn checkpointed_resources(&self) -> &mesos_api::Resources {
        &self.checkpointed
    }

    /// The tasks of the executors running here, each with its latest state, sorted by id
    /// (a simulation compares them with what the master and the framework hold).
    pub fn task_states(&self) -> Vec<(TaskID, mesos_api::protocol::task::TaskState)> {
        let mut out: Vec<_> = self
            .frameworks
            .values()
            .flat_map(|f| f.executors.values())
            .flat_map(|e| e.tasks.values())
            .map(|t| (t.task_id.clone(), t.state))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Status updates not yet acknowledged.
    pub fn pending_updates(&self) -> usize {
        self.updates.pending()
    }
}

/// The helper that rotates containers' output, with the logrotate container logger (the
/// module's `launcher_dir`, else the agent's).
fn logger_program(
    flags: &AgentFlags,
) -> Result<Option<mesos_containerizer::init::InitProgram>, AgentError> {
    use mesos_containerizer::logger::{self, ContainerLogger};
    let ContainerLogger::Logrotate(l) = &flags.containerizer.logger else {
        return Ok(None);
    };
    let dir = l.launcher_dir.as_deref().or(flags.launcher_dir.as_deref());
    let (program, mode) = programs::helper_program(dir, (logger::PROGRAM, logger::MULTICALL_MODE))
        .map_err(|e| AgentError::Program(format!("the logrotate container logger: {e}")))?;
    Ok(Some(mesos_containerizer::init::InitProgram {
        program,
        env: mode
            .map(|m| vec![(programs::MODE_ENV.to_string(), m.to_string())])
            .unwrap_or_default(),
    }))
}

/// The status-keeping init of nested containers, where there is one.
/// An agent restarting on its checkpoint keeps its domain, as Mesos requires: a different
/// `--domain` (or none where there was one) is refused, naming how to start afresh.
fn check_domain(flags: &AgentFlags) -> Result<(), AgentError> {
    let Some(id) = std::fs::read_to_string(paths::latest_agent_path(&flags.work_dir))
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
    else {
        return Ok(());
    };
    let id = AgentID::new(id);
    let Some(old) = std::fs::read(paths::agent_info_path(&flags.work_dir, &id))
        .ok()
        .and_then(|b| serde_json::from_slice::<AgentInfo>(&b).ok())
    else {
        return Ok(());
    };
    if old.domain == flags.domain_info {
        return Ok(());
    }
    let show = |d: &Option<mesos_api::protocol::framework::DomainInfo>| match d {
        Some(d) => serde_json::to_string(d).unwrap_or_default(),
        None => "none".into(),
    };
    Err(AgentError::Incompatible(format!(
        "the domain was {} and --domain gives {}; to start as a new agent, remove {}",
        show(&old.domain),
        show(&flags.domain_info),
        paths::latest_agent_path(&flags.work_dir).display()
    )))
}

fn init_program(launcher_dir: Option<&Path>) -> Option<mesos_containerizer::init::InitProgram> {
    use mesos_containerizer::init;
    match programs::helper_program(launcher_dir, ("mesos-container-init", init::MULTICALL_MODE)) {
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

impl Process for Agent {
    fn initialize(&mut self, ctx: &mut Context<Self>) {
        let addr = ctx.self_upid().addr();
        self.info.port = addr.port() as i32;
        if self.info.hostname.is_empty() {
            self.info.hostname = addr.ip().to_string();
        }
        ctx.install_named(
            AgentRegistered::NAME,
            |a: &mut Agent, c, from, m: AgentRegistered| {
                a.on_registered(c, from, m.agent_id, m.total_ping_timeout_secs)
            },
        );
        ctx.install_named(
            AgentReregistered::NAME,
            |a: &mut Agent, c, from, m: AgentReregistered| {
                let master = Some(&from) == a.master.as_ref();
                a.on_registered(c, from, m.agent_id, m.total_ping_timeout_secs);
                if master {
                    a.reconcile_with_master(c, m.reconcile);
                }
            },
        );
        ctx.install_named(PingAgent::NAME, |a: &mut Agent, c, from, p: PingAgent| {
            if Some(&from) == a.master.as_ref() {
                c.send_named(&from, PongAgent::NAME, PongAgent {});
                a.pinged(c);
                if !p.connected && a.registered {
                    a.registered = false;
                    a.auth.done = false;
                    a.try_register(c);
                }
            }
        });
        ctx.install_named(
            ShutdownAgent::NAME,
            |a: &mut Agent, c, from, m: ShutdownAgent| a.shutdown_by_master(c, from, m.message),
        );
        ctx.install_named(DrainAgent::NAME, |a: &mut Agent, c, from, m: DrainAgent| {
            a.drain(c, from, m)
        });
        ctx.install_named(
            CheckpointResources::NAME,
            |a: &mut Agent, _, from, m: CheckpointResources| {
                if Some(&from) == a.master.as_ref() {
                    a.checkpoint_resources(m.resources);
                }
            },
        );
        ctx.install_named(
            ApplyOperation::NAME,
            |a: &mut Agent, c, from, m: ApplyOperation| a.apply_operation(c, from, m),
        );
        ctx.install_named(
            AcknowledgeOperationStatusMsg::NAME,
            |a: &mut Agent, _, from, m: AcknowledgeOperationStatusMsg| {
                a.acknowledge_operation(from, m)
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
            FrameworkToExecutor::NAME,
            |a: &mut Agent, _, from, m: FrameworkToExecutor| {
                if Some(&from) == a.master.as_ref() {
                    a.framework_message(m)
                }
            },
        );
        ctx.install_named(
            StatusUpdateAcknowledgement::NAME,
            |a: &mut Agent, c, from, m: StatusUpdateAcknowledgement| a.acknowledgement(c, from, m),
        );
        ctx.route_in(
            mesos_api::auth::AGENT_EXECUTOR,
            "api/v1/executor",
            |a: &mut Agent, c, req| a.executor_api(c, req),
        );
        self.install_authenticators(ctx);
        Self::install_authentication(ctx);
        Self::install_operator_routes(ctx);
        self.self_pid = Some(ctx.pid().clone());
        self.runtime = Some(ctx.runtime().clone());
        self.checkpoint_failures =
            Some(ctx.runtime().metrics().counter("slave/checkpoint_failures"));
        self.metrics = metrics::AgentMetrics::new(ctx.runtime().metrics());
        if self.metrics.is_some() {
            self.gc.with_metrics(ctx.runtime().metrics());
        }
        let recovering = std::time::Instant::now();
        self.recover(ctx);
        self.count(|m| m.recovery_time_secs.set(recovering.elapsed().as_secs_f64()));
        self.metrics_changed(ctx);
        self.try_register(ctx);
        self.start_detection(ctx);
        self.image_gc_watch(ctx);
    }

    fn finalize(&mut self, _ctx: &mut Context<Self>) {
        self.kill_nested();
        // Executors do not outlive an agent that is stopped (a crashed agent leaves them
        // running for recovery).
        for f in self.frameworks.values() {
            for e in f.executors.values() {
                self.containerizer
                    .destroy_orphan(&e.container_id.value, e.os_pid);
            }
        }
    }

    fn exited(&mut self, ctx: &mut Context<Self>, pid: &UPID) {
        if self.detector.is_some() && Some(pid) == self.master.as_ref() {
            // With ZooKeeper the detector says which master to turn to next.
            tracing::warn!(master = %pid, "master disconnected; waiting for a new master to be elected");
            return;
        }
        if Some(pid) == self.master.as_ref() && self.registered {
            tracing::warn!(master = %pid, "lost the master; reregistering");
            self.registered = false;
            self.metrics_changed(ctx);
            self.auth.done = false;
            self.backoff = self.flags.registration_backoff_factor;
            self.try_register(ctx);
        }
    }
}
