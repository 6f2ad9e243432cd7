//! Agents: registration, reregistration, health pings, unreachability.

use std::collections::BTreeMap;

use libprocess::util::HashSet;

use libprocess::{Context, RemoteConnection, UPID};
use mesos_allocator::{AgentSpec, AllocatorProcess};
use mesos_api::messages::{
    AgentRegistered, AgentReregistered, CheckpointResources, DrainAgent, ExecutorToFramework,
    ExitedExecutor, PingAgent, RegisterAgent, ReregisterAgent, ShutdownAgent, ShutdownFramework,
    UnreportedTask, WireMessage,
};
use mesos_api::protocol::framework::{AgentInfo, FrameworkCapabilityType};
use mesos_api::protocol::scheduler::{Event, EventType, Failure};
use mesos_api::protocol::task::{Reason, TaskState};
use mesos_api::{AgentID, FrameworkID, OfferID, Resources, TaskID};

use super::*;
use crate::state::{AgentRec, DrainInfo, FrameworkRec};

impl Master {
    pub(super) fn register_agent(&mut self, ctx: &mut Context<Self>, from: UPID, m: RegisterAgent) {
        if !self.authenticated_enough(&from, self.flags.authenticate_agents, "registration")
            || !self.may_register_agent(&from)
        {
            return;
        }
        if let Some(id) = self.agent_by_pid.get(&from).cloned() {
            if self.agents.get(&id).is_some_and(|a| a.disconnected) {
                // A new agent at the address of one whose connection broke (it restarted
                // without recovering): the old one is gone, with its tasks.
                tracing::info!(agent = %id, %from, "removing the old disconnected agent: a new agent registered at its address");
                self.remove_agent(ctx, &id, Removal::Unreachable);
                self.metrics_changed(ctx);
            } else {
                // A retried registration: answer again.
                let reply = AgentRegistered {
                    agent_id: id,
                    total_ping_timeout_secs: self.total_ping_timeout_secs(),
                };
                Self::send(ctx, &from, reply);
                return;
            }
        }
        if self.admitting.contains(&from) {
            // A retry while its admission is being stored: the answer follows the store.
            return;
        }
        if self.connection_full(ctx, &from)
            || !self.domain_allows(&from, &m.agent, "registration")
            || self.machine_down(ctx, &from, &m.agent, false)
        {
            return;
        }
        if let Some(m) = &self.metrics {
            m.slave_registrations.inc();
        }
        let id = AgentID::new(format!("{}-S{}", self.id, self.next_agent));
        self.next_agent += 1;
        let mut info = m.agent;
        info.id = Some(id.clone());
        self.admitting.insert(from.clone());
        let (checkpointed, version) = (m.checkpointed_resources, m.version);
        // Acknowledged only once its admission is stored (Mesos's rule).
        self.registry_then(
            ctx,
            crate::registry::Operation::AdmitAgent(info.clone()),
            move |master: &mut Master, c| {
                master.admitting.remove(&from);
                master.admit_agent(c, from, id, info, checkpointed, version);
                master.metrics_changed(c);
            },
        );
    }

    /// `register_agents` for the principal `from` authenticated as (none: the subject ANY);
    /// a refusal is logged and counted, and the agent keeps retrying.
    fn may_register_agent(&self, from: &UPID) -> bool {
        let principal = self.authenticated.get(from).map(String::as_str);
        if self.authorized("register_agents", principal, None) {
            return true;
        }
        tracing::warn!(%from, principal, "refusing an agent registration: not authorized to register agents");
        if let Some(m) = &self.metrics {
            m.slave_registrations_refused.inc();
        }
        false
    }

    /// Whether an agent's domain lets it (re)register, as Mesos decides: an agent with a domain
    /// needs a master with one (which can then tell whether it is remote), and with
    /// `--require_agent_domain` every agent needs one. A refusal is logged and counted; the
    /// agent is not shut down, so that its tasks run on while it is restarted with a domain.
    fn domain_allows(&self, from: &UPID, agent: &AgentInfo, what: &str) -> bool {
        let why = match (&agent.domain, &self.flags.domain_info) {
            (Some(_), None) => "the agent has a domain but this master has none (--domain)",
            (None, Some(_)) if self.flags.require_agent_domain => {
                "the agent has no domain and this master requires one (--require_agent_domain)"
            }
            _ => return true,
        };
        tracing::warn!(%from, "ignoring an agent {what}: {why}");
        if let Some(m) = &self.metrics {
            if what == "registration" {
                m.slave_registrations_refused.inc();
            } else {
                m.slave_reregistrations_refused.inc();
            }
        }
        false
    }

    /// Whether an agent is in a region other than the master's (offered only to REGION_AWARE
    /// frameworks); an agent without a domain is in the master's.
    pub(super) fn remote(&self, agent: &AgentInfo) -> bool {
        let mine = self.flags.domain_info.as_ref().and_then(|d| d.region());
        let theirs = agent.domain.as_ref().and_then(|d| d.region());
        matches!((mine, theirs), (Some(m), Some(t)) if m != t)
    }

    /// Whether `from`'s node already holds as many agents as one connection may register
    /// (`--max_agents_per_connection`); if so the registration is refused and counted. Agents
    /// in the master's own process (`mesos-local`, in-process clusters) are not limited.
    fn connection_full(&self, ctx: &Context<Self>, from: &UPID) -> bool {
        let cap = self.flags.max_agents_per_connection;
        let node = from.addr();
        if cap == 0 || node == ctx.self_upid().addr() {
            return false;
        }
        let admitting = self.admitting.iter().filter(|p| p.addr() == node).count();
        if self.agent_by_pid.at(node) + admitting < cap {
            return false;
        }
        tracing::warn!(%from, cap, "refusing an agent registration: its connection holds as many agents as one may (--max_agents_per_connection)");
        if let Some(m) = &self.metrics {
            m.slave_registrations_refused.inc();
        }
        true
    }

    fn admit_agent(
        &mut self,
        ctx: &mut Context<Self>,
        from: UPID,
        id: AgentID,
        info: mesos_api::protocol::framework::AgentInfo,
        checkpointed: Resources,
        version: String,
    ) {
        tracing::info!(agent = %id, %from, hostname = %info.hostname, "registered agent");
        let spec = AgentSpec {
            hostname: info.hostname.clone(),
            total: agent_total(&info.resources, &checkpointed),
            attributes: info.attributes.clone(),
            remote: self.remote(&info),
        };
        self.agents.insert(
            id.clone(),
            AgentRec {
                pid: from.clone(),
                info,
                missed_pings: 0,
                checkpointed,
                registered_time: super::now_secs(),
                version,
                deactivated: false,
                disconnected: false,
                drain: None,
            },
        );
        self.agent_by_pid.insert(from.clone(), id.clone());
        self.agent_added(&id);
        ctx.link(&from);
        let aid = id.clone();
        self.allocator()
            .dispatch_nowait(move |a: &mut AllocatorProcess, c| a.add_agent(c, aid, spec, &[]));
        let reply = AgentRegistered {
            agent_id: id,
            total_ping_timeout_secs: self.total_ping_timeout_secs(),
        };
        Self::send(ctx, &from, reply);
    }

    pub(super) fn reregister_agent(
        &mut self,
        ctx: &mut Context<Self>,
        from: UPID,
        m: ReregisterAgent,
    ) {
        if !self.authenticated_enough(&from, self.flags.authenticate_agents, "reregistration")
            || !self.may_register_agent(&from)
        {
            return;
        }
        let Some(id) = m.agent.id.clone() else {
            tracing::warn!(%from, "reregistration without an agent id; ignoring");
            return;
        };
        if let Some(a) = self
            .agents
            .get(&id)
            .filter(|a| a.pid != from && !a.disconnected)
        {
            // A live agent's address is not replaced on another connection's word: the agent
            // itself reregisters over its own connection (same address), and one that moved is
            // readmitted once its old connection broke or it was marked unreachable.
            tracing::warn!(%from, agent = %id, at = %a.pid, "refusing a reregistration of a connected agent from another address");
            if let Some(mm) = &self.metrics {
                mm.slave_reregistrations_refused.inc();
            }
            return;
        }
        let moves = !matches!(self.agents.get(&id), Some(a) if a.pid == from);
        if moves && self.connection_full(ctx, &from) {
            return;
        }
        if !self.domain_allows(&from, &m.agent, "reregistration")
            || self.machine_down(ctx, &from, &m.agent, true)
        {
            return;
        }
        if self.gone.contains(&id) {
            tracing::warn!(%from, agent = %id, "agent was marked gone; refusing its reregistration and telling it to shut down");
            Self::send(
                ctx,
                &from,
                ShutdownAgent {
                    message: "Agent has been marked gone".into(),
                },
            );
            return;
        }
        if let Some(mm) = &self.metrics {
            mm.slave_reregistrations.inc();
        }
        let was_unreachable = self.unreachable.remove(&id);
        let reported: HashSet<(FrameworkID, TaskID)> = m
            .tasks
            .iter()
            .map(|t| (t.framework_id.clone(), t.task_id.clone()))
            .collect();
        // Frameworks whose tasks on this agent must end: removed ones (torn down while the
        // agent was away), and, when the agent comes back from unreachable, those that are not
        // partition-aware (they were told TASK_LOST and may have run the work elsewhere).
        let shut: HashSet<FrameworkID> = m
            .frameworks
            .iter()
            .filter_map(|fi| fi.id.as_ref().map(|id| (id, fi)))
            .filter(|(fid, fi)| {
                self.removed.contains(*fid)
                    || (was_unreachable
                        && !fi.has_capability(FrameworkCapabilityType::PartitionAware))
            })
            .map(|(fid, _)| fid.clone())
            .collect();
        for fid in &shut {
            tracing::info!(agent = %id, framework = %fid, "shutting down the framework's executors on the reregistering agent (removed, or not partition-aware and told its tasks were lost)");
            Self::send(
                ctx,
                &from,
                ShutdownFramework {
                    framework_id: fid.clone(),
                },
            );
        }
        if let Some(old) = self.agents.get_mut(&id) {
            // Known agent, new connection.
            tracing::info!(agent = %id, %from, "known agent reregistered");
            self.agent_by_pid.remove(&old.pid);
            old.pid = from.clone();
            old.missed_pings = 0;
            // Back from a disconnection: offered again (unless an operator deactivated it or
            // it drains, which keep it out).
            let reactivate = std::mem::replace(&mut old.disconnected, false)
                && !old.deactivated
                && old.drain.is_none();
            self.agent_by_pid.insert(from.clone(), id.clone());
            let drain = old.drain.clone().filter(|d| !d.drained);
            if old.checkpointed != m.checkpointed_resources {
                // The master's record wins, as in Mesos: the agent missed a change.
                tracing::info!(agent = %id, "the agent's checkpointed resources differ from the master's; sending the master's");
                let resources = old.checkpointed.clone();
                Self::send(ctx, &from, CheckpointResources { resources });
            }
            ctx.link_with(&from, RemoteConnection::Reconnect);
            self.reregistered(ctx, &from, &id, &reported);
            if reactivate {
                self.activate_in_allocator(&id);
            }
            // A drain it may have missed while its connection was down.
            if let Some(d) = drain {
                Self::send_drain(ctx, &from, &d);
            }
            self.check_drained(ctx, &id);
            return;
        }
        tracing::info!(agent = %id, %from, was_unreachable, tasks = m.tasks.len(), "agent reregistered");
        // Unknown to this master (after a failover, or unreachable): admit it with its tasks.
        // One the recovered registry holds needs no write; any other is readmitted.
        let recovered = self.recovered_agents.remove(&id);
        if recovered.is_none() {
            self.registry_note(crate::registry::Operation::ReadmitAgent(m.agent.clone()));
        }
        // A drain from before it was unreachable (or ordered while it was) goes on.
        let drain = recovered
            .as_ref()
            .and_then(|a| a.drain.clone())
            .or_else(|| self.unreachable_drains.remove(&id));
        let deactivated = recovered.is_some_and(|a| a.deactivated) || drain.is_some();
        let mut used: BTreeMap<FrameworkID, Resources> = BTreeMap::new();
        for fi in &m.frameworks {
            if let Some(fid) = fi.id.as_ref().filter(|f| !shut.contains(*f)) {
                if !self.frameworks.contains_key(fid) {
                    // Known to the allocator (inactive until it resubscribes), so its tasks'
                    // resources count as its own.
                    let spec = Self::allocator_spec(fi, Vec::new(), None);
                    let f2 = fid.clone();
                    self.allocator()
                        .dispatch_nowait(move |p: &mut AllocatorProcess, _| {
                            let a = p.allocator_mut();
                            a.add_framework(&f2, spec, &[], false);
                        });
                    self.failover_timer(ctx, fid.clone(), 0, fi.failover_timeout);
                }
                self.frameworks
                    .entry(fid.clone())
                    .or_insert_with(|| FrameworkRec {
                        info: fi.clone(),
                        pid: None,
                        stream_id: None,
                        proxy: None,
                        connected: false,
                        offers: HashSet::default(),
                        tasks: BTreeMap::new(),
                        completed: Default::default(),
                        generation: 0,
                        registered_time: super::now_secs(),
                        offer_constraints: None,
                        counters: Default::default(),
                    });
            }
        }
        let mut back = Vec::new();
        for t in m.tasks {
            if shut.contains(&t.framework_id) {
                continue;
            }
            if !t.state.is_terminal() {
                used.entry(t.framework_id.clone())
                    .or_default()
                    .add_all(&t.resources);
            }
            if let Some(f) = self.frameworks.get_mut(&t.framework_id) {
                self.tasks_by_agent
                    .entry(id.clone())
                    .or_default()
                    .insert((t.framework_id.clone(), t.task_id.clone()));
                if was_unreachable && !t.state.is_terminal() {
                    // Told UNREACHABLE: the framework now hears where its task stands (a
                    // task that ended meanwhile is told by the agent's own update, which
                    // follows, reliably).
                    back.push((t.framework_id.clone(), t.task_id.clone(), t.state));
                }
                f.tasks.insert(t.task_id.clone(), Box::new(t));
            }
        }
        for (fid, tid, state) in back {
            let why = "Unreachable agent re-reregistered";
            self.master_update(
                ctx,
                &fid,
                master_status(&tid, Some(&id), state, Reason::AgentReregistered, why),
            );
        }
        let spec = AgentSpec {
            hostname: m.agent.hostname.clone(),
            total: agent_total(&m.agent.resources, &m.checkpointed_resources),
            attributes: m.agent.attributes.clone(),
            remote: self.remote(&m.agent),
        };
        self.agents.insert(
            id.clone(),
            AgentRec {
                pid: from.clone(),
                info: m.agent,
                missed_pings: 0,
                checkpointed: m.checkpointed_resources.clone(),
                registered_time: super::now_secs(),
                version: m.version.clone(),
                deactivated,
                disconnected: false,
                drain: drain.clone(),
            },
        );
        self.agent_by_pid.insert(from.clone(), id.clone());
        self.agent_added(&id);
        ctx.link_with(&from, RemoteConnection::Reconnect);
        let used: Vec<(FrameworkID, Resources)> = used.into_iter().collect();
        let aid = id.clone();
        self.allocator()
            .dispatch_nowait(move |a: &mut AllocatorProcess, c| {
                a.add_agent(c, aid.clone(), spec, &used);
                if deactivated {
                    a.allocator_mut().deactivate_agent(&aid);
                }
            });
        // Tasks of partition-aware frameworks held as UNREACHABLE that the agent no longer
        // runs are gone: the agent answers so (DROPPED) when asked.
        self.reregistered(ctx, &from, &id, &reported);
        // A draining agent (after a failover) is told again, as Mesos does.
        if let Some(d) = drain.filter(|d| !d.drained) {
            Self::send_drain(ctx, &from, &d);
            self.check_drained(ctx, &id);
        }
    }

    /// Tells the agent at `pid` to drain as `d` says.
    fn send_drain(ctx: &mut Context<Self>, pid: &UPID, d: &DrainInfo) {
        Self::send(
            ctx,
            pid,
            DrainAgent {
                max_grace_period_ns: d.max_grace_period_ns,
                mark_gone: d.mark_gone,
            },
        );
    }

    /// DRAIN_AGENT: the agent gets no more offers (its outstanding ones are rescinded), kills
    /// its tasks (each kill's grace period capped at `max_grace_period_ns`) and, once it has
    /// none left, is DRAINED, or marked gone with `mark_gone`. Kept in the registry.
    pub(crate) fn drain_agent(
        &mut self,
        ctx: &mut Context<Self>,
        id: &AgentID,
        max_grace_period_ns: Option<i64>,
        mark_gone: bool,
    ) {
        let info = DrainInfo {
            drained: false,
            max_grace_period_ns,
            mark_gone,
        };
        self.registry_note(crate::registry::Operation::Drain(
            id.clone(),
            Some(info.clone()),
        ));
        let Some(a) = self.agents.get_mut(id) else {
            if self.unreachable.contains(id) {
                tracing::info!(agent = %id, "the unreachable agent will drain when it comes back");
                self.unreachable_drains.insert(id.clone(), info);
            }
            return;
        };
        a.drain = Some(info.clone());
        a.deactivated = true;
        let pid = a.pid.clone();
        tracing::info!(agent = %id, "draining the agent");
        self.registry_note(crate::registry::Operation::Deactivate(id.clone(), true));
        self.deactivate_in_allocator(ctx, id);
        Self::send_drain(ctx, &pid, &info);
        self.agent_updated(id);
        self.check_drained(ctx, id);
    }

    /// A draining agent with no task left is DRAINED (or marked gone, with `mark_gone`).
    pub(crate) fn check_drained(&mut self, ctx: &mut Context<Self>, id: &AgentID) {
        let Some(d) = self.agents.get(id).and_then(|a| a.drain.clone()) else {
            return;
        };
        if d.drained || self.tasks_by_agent.get(id).is_some_and(|t| !t.is_empty()) {
            return;
        }
        if d.mark_gone {
            tracing::info!(agent = %id, "the agent is drained: marking it gone");
            self.mark_agent_gone(ctx, id);
            return;
        }
        tracing::info!(agent = %id, "the agent is drained");
        let drained = DrainInfo { drained: true, ..d };
        self.registry_note(crate::registry::Operation::Drain(
            id.clone(),
            Some(drained.clone()),
        ));
        if let Some(a) = self.agents.get_mut(id) {
            a.drain = Some(drained);
        }
        self.agent_updated(id);
    }

    /// Puts an agent's resources back in allocation, and allocates.
    pub(crate) fn activate_in_allocator(&self, id: &AgentID) {
        let aid = id.clone();
        self.allocator()
            .dispatch_nowait(move |p: &mut AllocatorProcess, c| {
                p.allocator_mut().activate_agent(&aid);
                p.request_allocation(c, None);
            });
    }

    /// Takes an agent's resources out of allocation and rescinds its outstanding offers.
    pub(crate) fn deactivate_in_allocator(&mut self, ctx: &mut Context<Self>, id: &AgentID) {
        let aid = id.clone();
        self.allocator()
            .dispatch_nowait(move |p: &mut AllocatorProcess, _| {
                p.allocator_mut().deactivate_agent(&aid);
            });
        self.rescind_agent_offers(ctx, id, true);
    }

    /// Rescinds every outstanding offer of an agent's (`tell`: as [`Master::rescind`]).
    pub(crate) fn rescind_agent_offers(
        &mut self,
        ctx: &mut Context<Self>,
        id: &AgentID,
        tell: bool,
    ) {
        let offers: Vec<OfferID> = self
            .offers
            .iter()
            .filter(|(_, o)| &o.agent_id == id)
            .map(|(k, _)| k.clone())
            .collect();
        for o in offers {
            self.rescind(ctx, &o, tell);
        }
    }

    /// Answers a reregistration and settles the tasks the agent did not report (`why`).
    fn reregistered(
        &mut self,
        ctx: &mut Context<Self>,
        from: &UPID,
        id: &AgentID,
        reported: &HashSet<(FrameworkID, TaskID)>,
    ) {
        let reconcile = self.unreported(id, reported);
        for r in &reconcile {
            tracing::info!(task = %r.task_id, agent = %id, "task unknown to the reregistered agent: reconciling with the agent");
        }
        Self::send(
            ctx,
            from,
            AgentReregistered {
                agent_id: id.clone(),
                total_ping_timeout_secs: self.total_ping_timeout_secs(),
                reconcile,
            },
        );
    }

    /// Seconds without a ping after which an agent takes this master for lost.
    pub(super) fn total_ping_timeout_secs(&self) -> f64 {
        self.flags.total_ping_timeout().as_secs_f64()
    }

    /// The live tasks the master holds for a known agent that its reregistration did not
    /// report. As in Mesos, they are reconciled through the agent rather than taken for lost
    /// here: a launch sent just before the reregistration arrives before the answer to it
    /// (one connection keeps its order), so the agent may well have the task. The agent
    /// answers for the ones it does not know (LOST, DROPPED for partition-aware frameworks).
    fn unreported(
        &mut self,
        id: &AgentID,
        have: &HashSet<(FrameworkID, TaskID)>,
    ) -> Vec<UnreportedTask> {
        let mut missing = Vec::new();
        // Only this agent's tasks (by the index; entries whose task left are pruned).
        let mut held = self.tasks_by_agent.remove(id).unwrap_or_default();
        held.retain(|(fid, tid)| {
            let Some(f) = self.frameworks.get(fid) else {
                return false;
            };
            let Some(t) = f.tasks.get(tid).filter(|t| &t.agent_id == id) else {
                return false;
            };
            if !t.state.is_terminal() && !have.contains(&(fid.clone(), tid.clone())) {
                missing.push(UnreportedTask {
                    framework_id: fid.clone(),
                    task_id: tid.clone(),
                    partition_aware: f.partition_aware(),
                });
            }
            true
        });
        if !held.is_empty() {
            self.tasks_by_agent.insert(id.clone(), held);
        }
        missing.sort_by(|a, b| (&a.framework_id, &a.task_id).cmp(&(&b.framework_id, &b.task_id)));
        missing
    }

    /// An executor's MESSAGE, from its agent: a MESSAGE event for the framework.
    pub(super) fn executor_message(
        &mut self,
        ctx: &mut Context<Self>,
        from: UPID,
        m: ExecutorToFramework,
    ) {
        self.count(|mm| &mm.messages_executor_to_framework);
        let from_its_agent = self.agent_by_pid.get(&from) == Some(&m.agent_id);
        if !from_its_agent || !self.frameworks.contains_key(&m.framework_id) {
            self.count(|mm| &mm.invalid_executor_to_framework_messages);
            tracing::warn!(%from, framework = %m.framework_id, "dropping an executor message: unknown agent or framework");
            return;
        }
        self.count(|mm| &mm.valid_executor_to_framework_messages);
        let ev = Event {
            message: Some(mesos_api::protocol::scheduler::FrameworkMessage {
                agent_id: m.agent_id,
                executor_id: m.executor_id,
                data: m.data,
            }),
            ..Event::new(EventType::Message)
        };
        self.send_event(ctx, &m.framework_id, ev);
    }

    /// An executor ended: a FAILURE event for its framework with its exit status.
    pub(super) fn exited_executor(
        &mut self,
        ctx: &mut Context<Self>,
        from: UPID,
        m: ExitedExecutor,
    ) {
        if self.agent_by_pid.get(&from) != Some(&m.agent_id) {
            return;
        }
        if let Some(mm) = &self.metrics {
            mm.messages_exited_executor.inc();
        }
        if !self.frameworks.contains_key(&m.framework_id) {
            return;
        }
        let ev = Event {
            failure: Some(mesos_api::protocol::scheduler::Failure {
                agent_id: Some(m.agent_id),
                executor_id: Some(m.executor_id),
                status: m.status,
            }),
            ..Event::new(EventType::Failure)
        };
        self.send_event(ctx, &m.framework_id, ev);
    }

    pub(super) fn pong(&mut self, from: UPID) {
        if let Some(a) = self
            .agent_by_pid
            .get(&from)
            .and_then(|id| self.agents.get_mut(id))
        {
            a.missed_pings = 0;
        }
    }

    pub(super) fn ping_agents(&mut self, ctx: &mut Context<Self>) {
        let mut gone = Vec::new();
        for (id, a) in self.agents.iter_mut() {
            if a.missed_pings >= self.flags.max_agent_ping_timeouts {
                gone.push(id.clone());
                continue;
            }
            a.missed_pings += 1;
            // An agent whose link broke hears it (Mesos's `connected`), and reregisters: after a
            // one-way break it may not know, and what the break lost (an acknowledgement, an
            // update) is then sent again.
            let connected = !a.disconnected;
            ctx.send_named(&a.pid, PingAgent::NAME, PingAgent { connected });
        }
        for id in gone {
            if let Some(m) = &self.metrics {
                m.slave_removals.inc();
                m.slave_removals_unhealthy.inc();
            }
            self.agent_unreachable(ctx, &id);
            self.metrics_changed(ctx);
        }
        let d = self.flags.agent_ping_timeout;
        ctx.delay(d, |m: &mut Master, c| m.ping_agents(c));
    }

    /// An agent stopped answering pings: its offers go, its tasks become UNREACHABLE (LOST for
    /// frameworks that are not partition-aware), frameworks hear FAILURE.
    pub(super) fn agent_unreachable(&mut self, ctx: &mut Context<Self>, id: &AgentID) {
        self.remove_agent(ctx, id, Removal::Unreachable);
    }

    /// MARK_AGENT_GONE: the agent is gone for good; its tasks become GONE_BY_OPERATOR (LOST for
    /// frameworks that are not partition-aware) and it may not reregister.
    pub(crate) fn mark_agent_gone(&mut self, ctx: &mut Context<Self>, id: &AgentID) {
        if let Some(a) = self.agents.get(id) {
            // Mesos tells a gone agent to shut down: its executors and tasks are killed.
            Self::send(
                ctx,
                &a.pid,
                ShutdownAgent {
                    message: "Agent has been marked gone".into(),
                },
            );
        }
        self.unreachable.remove(id);
        self.unreachable_drains.remove(id);
        self.gone.insert(id.clone());
        self.recovered_agents.remove(id);
        self.registry_note(crate::registry::Operation::MarkGone(
            id.clone(),
            super::now_secs(),
        ));
        self.remove_agent(ctx, id, Removal::Gone);
        self.metrics_changed(ctx);
    }

    pub(super) fn remove_agent(&mut self, ctx: &mut Context<Self>, id: &AgentID, how: Removal) {
        let Some(a) = self.agents.remove(id) else {
            return;
        };
        let gone = how != Removal::Unreachable;
        self.forget_agent_inverse_offers(ctx, id);
        if how == Removal::Unreachable {
            if let Some(d) = a.drain.clone() {
                self.unreachable_drains.insert(id.clone(), d);
            }
            self.unreachable.insert(id.clone());
            self.registry_note(crate::registry::Operation::MarkUnreachable(
                id.clone(),
                super::now_secs(),
            ));
        }
        self.agent_by_pid.remove(&a.pid);
        ctx.unlink(&a.pid);
        let removed_id = id.clone();
        self.operator_event(None, |_| {
            serde_json::json!({"type": "AGENT_REMOVED", "agent_removed": {"agent_id": {"value": removed_id.value}}})
        });
        self.rescind_agent_offers(ctx, id, false);
        let fids: Vec<FrameworkID> = self.frameworks.keys().cloned().collect();
        for fid in fids {
            let (lost, partition_aware): (Vec<TaskID>, bool) = {
                let Some(f) = self.frameworks.get(&fid) else {
                    continue;
                };
                (
                    f.tasks
                        .values()
                        .filter(|t| &t.agent_id == id)
                        .map(|t| t.task_id.clone())
                        .collect(),
                    f.partition_aware(),
                )
            };
            let (state, reason, why) = match (partition_aware, gone) {
                (true, false) => (
                    TaskState::Unreachable,
                    Reason::AgentRemoved,
                    "agent is unreachable",
                ),
                (true, true) => (
                    TaskState::GoneByOperator,
                    Reason::AgentRemovedByOperator,
                    how.why(),
                ),
                (false, false) => (
                    TaskState::Lost,
                    Reason::AgentRemoved,
                    "agent is unreachable",
                ),
                (false, true) => (TaskState::Lost, Reason::AgentRemovedByOperator, how.why()),
            };
            for t in &lost {
                if let Some(task) = self
                    .frameworks
                    .get_mut(&fid)
                    .and_then(|f| f.tasks.get_mut(t))
                {
                    task.state = state;
                    if let Some(m) = &self.metrics {
                        m.terminal(state);
                    }
                }
                self.master_update(ctx, &fid, master_status(t, Some(id), state, reason, why));
            }
            if !partition_aware || gone {
                let keep = self.flags.max_completed_tasks_per_framework;
                if let Some(f) = self.frameworks.get_mut(&fid) {
                    for t in &lost {
                        if let Some(t) = f.tasks.remove(t) {
                            f.complete(t, keep);
                        }
                        if let Some(held) = self.tasks_by_agent.get_mut(id) {
                            held.remove(&(fid.clone(), t.clone()));
                        }
                    }
                }
            }
            let ev = Event {
                failure: Some(Failure {
                    agent_id: Some(id.clone()),
                    executor_id: None,
                    status: None,
                }),
                ..Event::new(EventType::Failure)
            };
            self.send_event(ctx, &fid, ev);
        }
        let aid = id.clone();
        self.allocator()
            .dispatch_nowait(move |p: &mut AllocatorProcess, _| {
                p.allocator_mut().remove_agent(&aid)
            });
    }
}

/// Why an agent leaves the master.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Removal {
    /// It stopped answering (it may come back).
    Unreachable,
    /// An operator marked it gone (it may never come back).
    Gone,
    /// Its machine was brought down for maintenance (it may register anew once it is up).
    Down,
}

impl Removal {
    /// What its tasks' updates say.
    fn why(self) -> &'static str {
        match self {
            Removal::Unreachable => "agent is unreachable",
            Removal::Gone => "agent was marked gone by an operator",
            Removal::Down => "Operator initiated 'Machine DOWN'",
        }
    }
}

/// An agent's total: its static resources with the checkpointed reservations and volumes carved
/// out of the unreserved pool they came from.
impl Master {
    /// What must always hold of the master's books, checked now (simulations call it between
    /// events): on every agent, what is offered plus what its live tasks use fits in its total,
    /// and no offer names an agent the master does not hold or one that is disconnected. One
    /// line per violation.
    pub fn audit(&self) -> Vec<String> {
        let mut used: HashMap<&AgentID, Resources> = HashMap::default();
        let mut out = Vec::new();
        for (id, o) in &self.offers {
            match self.agents.get(&o.agent_id) {
                None => out.push(format!(
                    "master: offer {id} is on unknown agent {}",
                    o.agent_id
                )),
                Some(a) if a.disconnected => out.push(format!(
                    "master: offer {id} is on disconnected agent {}",
                    o.agent_id
                )),
                Some(_) => {}
            }
            used.entry(&o.agent_id)
                .or_default()
                .add_all(&o.resources.unallocate());
        }
        for f in self.frameworks.values() {
            for t in f.tasks.values().filter(|t| !t.state.is_terminal()) {
                if self.agents.contains_key(&t.agent_id) {
                    used.entry(&t.agent_id)
                        .or_default()
                        .add_all(&t.resources.unallocate());
                }
            }
        }
        for (id, u) in used {
            let Some(a) = self.agents.get(id) else {
                continue;
            };
            let total = agent_total(&a.info.resources, &a.checkpointed);
            if !total.contains(&u) {
                out.push(format!(
                    "master: agent {id}: offered and used {u} exceed its total {total}"
                ));
            }
        }
        out.sort();
        out
    }
}

fn agent_total(statics: &Resources, checkpointed: &Resources) -> Resources {
    let mut base = Resources::new();
    for r in checkpointed.iter() {
        let mut x = r.clone();
        x.reservations.clear();
        x.disk = None;
        x.shared = false;
        base.add(&x);
    }
    if statics.contains(&base) {
        statics.minus(&base).plus(checkpointed)
    } else {
        statics.plus(checkpointed)
    }
}
