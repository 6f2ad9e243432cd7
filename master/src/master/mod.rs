//! The master process.

use libprocess::util::{HashMap, HashSet};
use std::time::Duration;

use libprocess::{Context, Process, PID, UPID};
use mesos_allocator::{Allocation, AllocatorProcess, HierarchicalAllocator, Options, RunTimes};
use mesos_api::messages::{
    Authenticate, AuthenticationStep, ExecutorToFramework, ExitedExecutor, PongAgent,
    RegisterAgent, ReregisterAgent, StatusUpdate, Task, UpdateOperationStatusMsg, WireMessage,
};
use mesos_api::protocol::framework::{ipv4_as_mesos_u32, Address, MasterInfo};
use mesos_api::protocol::offer::Filters;
use mesos_api::protocol::scheduler::{Call, CallType, Event, EventType, Update};
use mesos_api::protocol::task::{Reason, Source, TaskState, TaskStatus};
use mesos_api::{ids, AgentID, FrameworkID, OfferID, Resources, TaskID};

use crate::flags::MasterFlags;
use crate::state::{AgentRec, FrameworkRec, OfferRec};

mod agent_pids;
mod agents;
mod api;
mod authn;
mod authz;
mod frameworks;
mod leadership;
mod maintenance;
mod metrics;
mod offers;
pub(crate) mod operations;
pub(crate) mod proxy;
mod recovery;

pub(crate) use proxy::FrameworkProxy;
mod updates;

/// The version this master reports.
pub use mesos_api::MESOS_VERSION as VERSION;

/// An operator API SUBSCRIBE stream and the principal that opened it (what it may see).
pub(crate) struct Subscriber {
    tx: tokio::sync::mpsc::UnboundedSender<bytes::Bytes>,
    principal: Option<String>,
    encoding: mesos_api::http::Encoding,
}

/// See the crate docs.
pub struct Master {
    flags: MasterFlags,
    /// Challenges sent, by client, with their sequence number (`--authenticate_*`).
    authenticating: HashMap<UPID, (Vec<u8>, u64)>,
    auth_seq: u64,
    /// Principals clients proved, by UPID.
    authenticated: HashMap<UPID, String>,
    /// The local authorizer of `--acls` (none: everything is allowed).
    authorizer: Option<std::sync::Arc<dyn mesos_api::acls::Authorizer>>,
    id: String,
    info: Option<MasterInfo>,
    allocator: Option<PID<AllocatorProcess>>,
    /// The allocation policy given with [`Master::with_allocator`], until the allocator starts.
    /// (In a mutex only so the master stays `Sync`: state readers share it across threads.)
    allocator_policy: std::sync::Mutex<Option<Box<dyn mesos_allocator::Allocator>>>,
    run_times: RunTimes,
    agents: HashMap<AgentID, AgentRec>,
    agent_by_pid: agent_pids::AgentPids,
    frameworks: HashMap<FrameworkID, FrameworkRec>,
    /// Frameworks torn down or failed over past their timeout: they may not come back.
    removed: HashSet<FrameworkID>,
    /// Agents declared unreachable (until they reregister).
    unreachable: HashSet<AgentID>,
    /// The drains of unreachable agents (applied again when they reregister).
    unreachable_drains: HashMap<AgentID, crate::state::DrainInfo>,
    /// Agents marked gone by an operator: never readmitted.
    gone: HashSet<AgentID>,
    /// Removed frameworks, newest last (the newest `--max_completed_frameworks`).
    completed_frameworks: std::collections::VecDeque<FrameworkRec>,
    /// When this master started and was elected (seconds since the epoch).
    start_time: f64,
    /// Operator API subscribers (v1 SUBSCRIBE streams).
    subscribers: Vec<Subscriber>,
    /// Role weights set by operators.
    weights: std::collections::BTreeMap<String, f64>,
    /// Role quotas set by operators: (guarantees, limits).
    quotas: std::collections::BTreeMap<
        String,
        (mesos_api::ResourceQuantities, mesos_api::ResourceQuantities),
    >,
    metrics: Option<metrics::MasterMetrics>,
    /// Whether it leads, and who does.
    leadership: leadership::Leadership,
    /// Whether the web UI's process serves the UI or redirects (kept by leadership changes).
    webui_gate: std::sync::Arc<std::sync::Mutex<api::webui::Gate>>,
    /// Stores the registry (once recovered).
    registrar: Option<crate::registry::Registrar>,
    /// Agents in the recovered registry that have not reregistered yet.
    recovered_agents: HashMap<AgentID, crate::registry::AdmittedAgent>,
    /// The tasks held for each agent (frameworks' task maps are the truth; an entry whose task
    /// has left them is skipped and pruned where read).
    tasks_by_agent: HashMap<AgentID, HashSet<(FrameworkID, TaskID)>>,
    /// This master's PID (for registry writes finishing later).
    self_pid: Option<PID<Master>>,
    /// Agents whose admission is being stored (their retries are not answered twice).
    admitting: HashSet<UPID>,
    offers: HashMap<OfferID, OfferRec>,
    next_agent: u64,
    next_framework: u64,
    next_offer: u64,
    /// The maintenance schedule and the DOWN machines (from the registry).
    maintenance: crate::maintenance::Maintenance,
    /// Inverse offers and the answers to them.
    inverse: maintenance::InverseOffers,
    /// Offer operations with feedback.
    operations: operations::Operations,
}

fn now_secs() -> f64 {
    mesos_api::wallclock::now_secs()
}

impl Master {
    /// A master whose allocator runs `policy` instead of the hierarchical DRF allocator that
    /// `--role_sorter` and `--framework_sorter` configure: any [`mesos_allocator::Allocator`]
    /// (for experiments comparing allocation policies on the same workload).
    pub fn with_allocator(
        flags: MasterFlags,
        policy: Box<dyn mesos_allocator::Allocator>,
    ) -> Master {
        let mut m = Master::new(flags);
        m.allocator_policy = std::sync::Mutex::new(Some(policy));
        m
    }

    /// A master with these flags (spawn it on a runtime; its id is `master`).
    pub fn new(flags: MasterFlags) -> Master {
        Master {
            authenticating: HashMap::default(),
            auth_seq: 0,
            authenticated: HashMap::default(),
            authorizer: flags.acl_rules.clone().map(|a| {
                std::sync::Arc::new(mesos_api::acls::LocalAuthorizer::new(a))
                    as std::sync::Arc<dyn mesos_api::acls::Authorizer>
            }),
            flags,
            id: ids::new_uuid(),
            info: None,
            allocator: None,
            allocator_policy: Default::default(),
            run_times: RunTimes::default(),
            agents: HashMap::default(),
            agent_by_pid: agent_pids::AgentPids::default(),
            frameworks: HashMap::default(),
            removed: Default::default(),
            unreachable: Default::default(),
            unreachable_drains: Default::default(),
            gone: Default::default(),
            completed_frameworks: Default::default(),
            start_time: now_secs(),
            subscribers: Vec::new(),
            weights: Default::default(),
            quotas: Default::default(),
            metrics: None,
            leadership: Default::default(),
            webui_gate: std::sync::Arc::new(std::sync::Mutex::new(api::webui::Gate::NoLeader)),
            registrar: None,
            recovered_agents: HashMap::default(),
            tasks_by_agent: HashMap::default(),
            admitting: Default::default(),
            self_pid: None,
            offers: HashMap::default(),
            next_agent: 0,
            next_framework: 0,
            next_offer: 0,
            maintenance: Default::default(),
            inverse: Default::default(),
            operations: Default::default(),
        }
    }

    /// This master's UUID.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Registered agents.
    pub fn agent_count(&self) -> usize {
        self.agents.len()
    }

    /// The allocator's recent runs and their times.
    pub fn allocation_runs(&self) -> RunTimes {
        self.run_times.clone()
    }

    /// Tasks the master tracks: (active, completed).
    pub fn task_counts(&self) -> (usize, usize) {
        self.frameworks
            .values()
            .chain(self.completed_frameworks.iter())
            .fold((0, 0), |(a, c), f| {
                (a + f.tasks.len(), c + f.completed.len())
            })
    }

    /// Frameworks subscribed and connected.
    pub fn connected_framework_count(&self) -> usize {
        self.frameworks.values().filter(|f| f.connected).count()
    }

    /// Outstanding offers.
    pub fn offer_count(&self) -> usize {
        self.offers.len()
    }

    /// A framework's tasks (active), for tests and state endpoints.
    pub fn tasks_of(&self, framework: &FrameworkID) -> Vec<Task> {
        self.frameworks
            .get(framework)
            .map(|f| f.tasks.values().map(|t| (**t).clone()).collect())
            .unwrap_or_default()
    }

    /// The UPID of a framework's proxy actor, if it has one.
    pub fn proxy_of(&self, framework: &FrameworkID) -> Option<UPID> {
        self.frameworks
            .get(framework)
            .and_then(|f| f.proxy.as_ref())
            .map(|p| p.upid().clone())
    }

    /// What the cluster holds now, as an experiment measures it: the registered agents'
    /// total resources, and each framework's used (its live tasks) and offered resources.
    pub fn usage(&self) -> (Resources, Vec<(FrameworkID, Resources, Resources)>) {
        let mut total = Resources::new();
        for a in self.agents.values() {
            total.add_all(&a.info.resources);
        }
        let frameworks = self
            .frameworks
            .iter()
            .map(|(id, f)| {
                let (used, offered) = api::json::framework_usage(self, f);
                (id.clone(), used, offered)
            })
            .collect();
        (total, frameworks)
    }

    /// The allocator's process (spawned when the master starts).
    pub fn allocator_pid(&self) -> Option<PID<AllocatorProcess>> {
        self.allocator.clone()
    }

    fn allocator(&self) -> &PID<AllocatorProcess> {
        self.allocator
            .as_ref()
            .expect("allocator spawned in initialize")
    }

    fn send_event(&self, ctx: &Context<Self>, framework: &FrameworkID, ev: Event) {
        let Some(f) = self.frameworks.get(framework) else {
            return;
        };
        self.framework_event_counted(framework, ev.kind.unwrap_or(EventType::Unknown));
        match (&f.proxy, &f.pid) {
            (Some(proxy), _) => {
                proxy.dispatch_nowait(move |p: &mut proxy::FrameworkProxy, c| p.deliver(c, ev));
            }
            (None, Some(pid)) => ctx.send_named(pid, Event::NAME, ev),
            (None, None) => {}
        }
    }

    fn send<M: WireMessage>(ctx: &Context<Self>, to: &UPID, m: M) {
        ctx.send_named(to, M::NAME, m);
    }

    /// Sends a status update generated by the master itself (see [`master_status`]).
    fn master_update(&self, ctx: &Context<Self>, framework: &FrameworkID, s: TaskStatus) {
        self.task_updated(framework, &s, s.state);
        let ev = Event {
            update: Some(Update { status: s }),
            ..Event::new(EventType::Update)
        };
        self.send_event(ctx, framework, ev);
    }
}

/// A status the master generates: from SOURCE_MASTER, with no uuid (not to be acknowledged).
fn master_status(
    task_id: &TaskID,
    agent: Option<&AgentID>,
    state: TaskState,
    reason: Reason,
    message: &str,
) -> TaskStatus {
    let mut s = TaskStatus::new(task_id.clone(), state);
    s.source = Some(Source::Master);
    s.reason = Some(reason);
    s.message = Some(message.to_string());
    s.agent_id = agent.cloned();
    s.timestamp = Some(now_secs());
    if state == TaskState::Unreachable {
        s.unreachable_time = Some(mesos_api::protocol::offer::TimeInfo {
            nanoseconds: (now_secs() * 1e9) as i64,
        });
    }
    s
}

/// The refuse filter of DECLINE / ACCEPT (absent filters mean the default 5 s).
fn refuse_of(f: Option<Filters>) -> Option<Duration> {
    let secs = f.unwrap_or_default().refuse_seconds;
    if secs.is_finite() && secs > 0.0 {
        Some(Duration::from_secs_f64(secs.min(365.0 * 86400.0)))
    } else {
        None
    }
}

impl Process for Master {
    fn initialize(&mut self, ctx: &mut Context<Self>) {
        let upid = ctx.self_upid().clone();
        let addr = upid.addr();
        let ip = match addr.ip() {
            std::net::IpAddr::V4(v4) => ipv4_as_mesos_u32(v4),
            std::net::IpAddr::V6(_) => 0,
        };
        self.info = Some(MasterInfo {
            id: self.id.clone(),
            ip,
            port: addr.port() as u32,
            pid: Some(upid.to_string()),
            hostname: Some(self.flags.hostname.clone()),
            version: Some(VERSION.to_string()),
            address: Some(Address {
                hostname: Some(self.flags.hostname.clone()),
                ip: Some(addr.ip().to_string()),
                port: addr.port() as i32,
            }),
            domain: self.flags.domain_info.clone(),
        });
        self.metrics = Some(metrics::MasterMetrics::new(ctx.runtime().metrics()));
        metrics::MasterMetrics::event_queue_gauges(ctx.runtime().metrics(), "master/", ctx.pid());
        self.self_pid = Some(ctx.pid().clone());
        // The allocator actor hands its offers back to us in batches.
        let me = ctx.pid().clone();
        let offers = Box::new(move |batch: Vec<Allocation>| {
            me.dispatch_nowait(move |m: &mut Master, c| {
                m.offer(c, batch);
                m.metrics_changed(c);
            });
        });
        let policy = self
            .allocator_policy
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .unwrap_or_else(|| {
                // Checked with the flags: drf or random.
                let sorter = |v: &str| v.parse().unwrap_or(mesos_allocator::SorterKind::Drf);
                Box::new(HierarchicalAllocator::new(Options {
                    allocation_interval: self.flags.allocation_interval,
                    role_sorter: sorter(&self.flags.role_sorter),
                    framework_sorter: sorter(&self.flags.framework_sorter),
                    ..Options::default()
                }))
            });
        let alloc = AllocatorProcess::new(policy, self.flags.allocation_interval, offers);
        self.run_times = alloc.run_times();
        let id = ctx.runtime().unique_id("allocator");
        match ctx.runtime().spawn(&id, alloc) {
            Ok(pid) => self.allocator = Some(pid),
            Err(e) => {
                tracing::error!("cannot start the allocator: {e}");
                ctx.terminate_self();
                return;
            }
        }
        ctx.install_named(
            RegisterAgent::NAME,
            |m: &mut Master, c, from, msg: RegisterAgent| {
                m.count(|mm| &mm.messages_register_slave);
                if m.recovering() {
                    let f = from.clone();
                    return m.defer(f, Box::new(move |m, c| m.register_agent(c, from, msg)));
                }
                if !m.leading() {
                    return;
                }
                m.register_agent(c, from, msg);
                m.metrics_changed(c);
            },
        );
        ctx.install_named(
            ReregisterAgent::NAME,
            |m: &mut Master, c, from, msg: ReregisterAgent| {
                m.count(|mm| &mm.messages_reregister_slave);
                if m.recovering() {
                    let f = from.clone();
                    return m.defer(f, Box::new(move |m, c| m.reregister_agent(c, from, msg)));
                }
                if !m.leading() {
                    return;
                }
                m.reregister_agent(c, from, msg);
                m.metrics_changed(c);
            },
        );
        ctx.install_named(
            Authenticate::NAME,
            |m: &mut Master, c, from, msg: Authenticate| {
                m.count(|mm| &mm.messages_authenticate);
                m.authenticate(c, from, msg)
            },
        );
        ctx.install_named(
            AuthenticationStep::NAME,
            |m: &mut Master, c, from, msg: AuthenticationStep| m.authentication_step(c, from, msg),
        );
        ctx.install_named(PongAgent::NAME, |m: &mut Master, _, from, _: PongAgent| {
            if m.leading() {
                m.pong(from)
            }
        });
        ctx.install_named(
            ExecutorToFramework::NAME,
            |m: &mut Master, c, from, msg: ExecutorToFramework| {
                if m.leading() {
                    m.executor_message(c, from, msg);
                }
            },
        );
        ctx.install_named(
            ExitedExecutor::NAME,
            |m: &mut Master, c, from, msg: ExitedExecutor| {
                if m.leading() {
                    m.exited_executor(c, from, msg);
                }
            },
        );
        ctx.install_named(
            StatusUpdate::NAME,
            |m: &mut Master, c, from, u: StatusUpdate| {
                m.count(|mm| &mm.messages_status_update);
                if !m.leading() {
                    return;
                }
                m.status_update(c, from, u);
                m.metrics_changed(c);
            },
        );
        ctx.install_named(
            UpdateOperationStatusMsg::NAME,
            |m: &mut Master, c, from, u: UpdateOperationStatusMsg| {
                if m.leading() {
                    m.operation_status_update(c, &from, u);
                }
            },
        );
        ctx.install_named(Call::NAME, |m: &mut Master, c, from, call: Call| {
            if m.recovering() && call.kind == Some(CallType::Subscribe) {
                let f = from.clone();
                return m.defer(f, Box::new(move |m, c| m.call(c, from, call)));
            }
            if !m.leading() {
                return;
            }
            m.call(c, from, call);
            m.metrics_changed(c);
        });
        self.install_routes(ctx);
        self.start_leadership(ctx);
        self.operator_heartbeat(ctx);
        self.maintenance_tick(ctx);
        let d = self.flags.agent_ping_timeout;
        ctx.delay(d, |m: &mut Master, c| m.ping_agents(c));
    }

    fn finalize(&mut self, _ctx: &mut Context<Self>) {
        if let Some(a) = &self.allocator {
            a.terminate(true);
        }
    }

    fn exited(&mut self, ctx: &mut Context<Self>, pid: &UPID) {
        // A client's authentication lasts as long as its connection.
        self.authenticated.remove(pid);
        self.authenticating.remove(pid);
        // An agent's connection broke: health checks decide (it may come back). Meanwhile, as
        // in Mesos, it is disconnected: nothing is offered on it (a task launched there could
        // race its reregistration), and pings tell it so, so it reregisters.
        if let Some(id) = self.agent_by_pid.get(pid).cloned() {
            let newly = self
                .agents
                .get_mut(&id)
                .is_some_and(|a| !std::mem::replace(&mut a.disconnected, true));
            if newly {
                tracing::info!(agent = %id, "agent disconnected");
                self.deactivate_in_allocator(ctx, &id);
                // One that answers pings but never gets its reregistration through (stuck in
                // recovery, refused) is not held back for ever: after
                // --agent_reregister_timeout it is unreachable, as in Mesos.
                let (aid, at) = (id.clone(), pid.clone());
                ctx.delay(self.flags.agent_reregister_timeout, move |m: &mut Master, c| {
                    if m.agents.get(&aid).is_some_and(|a| a.disconnected && a.pid == at) {
                        tracing::warn!(agent = %aid, "the disconnected agent did not reregister within --agent_reregister_timeout: unreachable");
                        m.agent_unreachable(c, &aid);
                        m.metrics_changed(c);
                    }
                });
            }
            return;
        }
        let fid = self
            .frameworks
            .iter()
            .find(|(_, f)| f.pid.as_ref() == Some(pid) && f.connected)
            .map(|(k, _)| k.clone());
        if let Some(fid) = fid {
            self.framework_disconnected(ctx, fid);
        }
    }
}
