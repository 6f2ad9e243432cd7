//! Frameworks: calls, subscription and failover, teardown, kill, reconciliation.

use std::collections::BTreeMap;

use libprocess::util::HashSet;
use std::time::Duration;

use libprocess::{Context, UPID};
use mesos_allocator::{AllocatorProcess, FrameworkSpec, OfferConstraintsFilter};
use mesos_api::messages::{FrameworkToExecutor, ShutdownExecutor, ShutdownFramework};
use mesos_api::protocol::framework::FrameworkInfo;
use mesos_api::protocol::scheduler::{Call, CallType, Event, EventType, Subscribe, Subscribed};
use mesos_api::{AgentID, FrameworkID, OfferID};

use super::proxy::Conn;
use super::*;
use crate::state::FrameworkRec;
use crate::validation;

impl Master {
    /// A call from a binary-transport scheduler (errors go back as ERROR events).
    pub(super) fn call(&mut self, ctx: &mut Context<Self>, from: UPID, call: Call) {
        self.count_call(&call);
        if let Err(e) = validation::scheduler_call(&call) {
            ctx.send_named(&from, Event::NAME, Event::error(e));
            return;
        }
        let Some(fid) = call.framework_id.clone() else {
            if let Some(s) = call.subscribe {
                self.subscribe(ctx, Conn::Pid(from), s);
            }
            return;
        };
        if call.kind == Some(CallType::Subscribe) {
            if let Some(s) = call.subscribe {
                self.subscribe(ctx, Conn::Pid(from), s);
            }
            return;
        }
        match self.frameworks.get(&fid) {
            None => {
                ctx.send_named(
                    &from,
                    Event::NAME,
                    Event::error(format!("framework '{fid}' is not subscribed")),
                );
            }
            Some(f) if f.pid.as_ref() != Some(&from) || !f.connected => {
                ctx.send_named(
                    &from,
                    Event::NAME,
                    Event::error(format!("framework '{fid}' is not connected from {from}")),
                );
            }
            Some(_) => self.framework_call(ctx, &fid, call),
        }
    }

    /// A scheduler call received (Mesos's `master/messages_*`, named after the v0 messages
    /// the calls replaced), counted before it is validated.
    pub(super) fn count_call(&self, call: &Call) {
        let Some(m) = &self.metrics else {
            return;
        };
        let c = match call.kind.unwrap_or(CallType::Unknown) {
            CallType::Subscribe => {
                let again = call
                    .subscribe
                    .as_ref()
                    .is_some_and(|s| s.framework_info.id.is_some());
                if again {
                    &m.messages_reregister_framework
                } else {
                    &m.messages_register_framework
                }
            }
            CallType::Accept => &m.messages_launch_tasks,
            CallType::Decline => &m.messages_decline_offers,
            CallType::Kill => &m.messages_kill_task,
            CallType::Acknowledge => &m.messages_status_update_acknowledgement,
            CallType::AcknowledgeOperationStatus => {
                &m.messages_operation_status_update_acknowledgement
            }
            CallType::Reconcile => &m.messages_reconcile_tasks,
            CallType::ReconcileOperations => &m.messages_reconcile_operations,
            CallType::Revive => &m.messages_revive_offers,
            CallType::Suppress => &m.messages_suppress_offers,
            CallType::Teardown => &m.messages_unregister_framework,
            CallType::Message => &m.messages_framework_to_executor,
            CallType::Request => &m.messages_resource_request,
            _ => return,
        };
        c.inc();
    }

    /// A validated, authenticated call of a subscribed framework (not SUBSCRIBE).
    pub(crate) fn framework_call(
        &mut self,
        ctx: &mut Context<Self>,
        fid: &FrameworkID,
        call: Call,
    ) {
        let fid = fid.clone();
        self.framework_call_counted(&fid, call.kind.unwrap_or(CallType::Unknown));
        match call.kind.unwrap_or(CallType::Unknown) {
            CallType::Teardown => self.remove_framework(ctx, &fid, false),
            CallType::Shutdown => {
                let Some(s) = call.shutdown else { return };
                match self.agents.get(&s.agent_id) {
                    Some(a) => Self::send(
                        ctx,
                        &a.pid,
                        ShutdownExecutor {
                            framework_id: fid.clone(),
                            executor_id: s.executor_id,
                        },
                    ),
                    None => self.send_event(
                        ctx,
                        &fid,
                        Event::error(format!(
                            "SHUTDOWN: agent '{}' is not registered",
                            s.agent_id
                        )),
                    ),
                }
            }
            CallType::Accept => {
                if let Some(a) = call.accept {
                    self.accept(ctx, &fid, a);
                }
            }
            CallType::Decline => {
                if let Some(d) = call.decline {
                    self.decline(ctx, &fid, d);
                }
            }
            CallType::Revive => {
                let roles = call.revive.map(|r| r.roles).unwrap_or_default();
                self.allocator()
                    .dispatch_nowait(move |p: &mut AllocatorProcess, c| {
                        p.revive_offers(c, fid, &roles)
                    });
            }
            CallType::Suppress => {
                let roles = call.suppress.map(|r| r.roles).unwrap_or_default();
                self.allocator()
                    .dispatch_nowait(move |p: &mut AllocatorProcess, _| {
                        p.allocator_mut().suppress_offers(&fid, &roles)
                    });
            }
            CallType::Kill => {
                if let Some(k) = call.kill {
                    self.kill(ctx, &fid, k);
                }
            }
            CallType::Acknowledge => {
                if let Some(a) = call.acknowledge {
                    self.acknowledge(ctx, &fid, a.agent_id, a.task_id, a.uuid);
                }
            }
            CallType::Reconcile => self.reconcile(ctx, &fid, call.reconcile.unwrap_or_default()),
            CallType::UpdateFramework => {
                if let Some(u) = call.update_framework {
                    self.update_framework(ctx, &fid, u);
                }
            }
            CallType::Message => {
                let Some(m) = call.message else { return };
                match self.agents.get(&m.agent_id) {
                    Some(a) => {
                        self.count(|mm| &mm.valid_framework_to_executor_messages);
                        Self::send(
                            ctx,
                            &a.pid,
                            FrameworkToExecutor {
                                agent_id: m.agent_id,
                                framework_id: fid.clone(),
                                executor_id: m.executor_id,
                                data: m.data,
                            },
                        )
                    }
                    None => {
                        self.count(|mm| &mm.invalid_framework_to_executor_messages);
                        tracing::warn!(framework = %fid, agent = %m.agent_id, "dropping a framework message: its agent is not registered");
                    }
                }
            }
            CallType::AcknowledgeOperationStatus => {
                if let Some(a) = call.acknowledge_operation_status {
                    self.acknowledge_operation(ctx, &fid, a);
                }
            }
            CallType::ReconcileOperations => {
                let r = call.reconcile_operations.unwrap_or_default();
                self.reconcile_operations(ctx, &fid, r);
            }
            CallType::AcceptInverseOffers | CallType::DeclineInverseOffers => {
                let accept = call.kind == Some(CallType::AcceptInverseOffers);
                let reply = if accept {
                    call.accept_inverse_offers
                } else {
                    call.decline_inverse_offers
                };
                if let Some(r) = reply {
                    self.inverse_offer_reply(&fid, r, accept);
                }
            }
            // Resource requests are advisory in Mesos; the allocator does not use them.
            CallType::Request => {}
            other => {
                self.send_event(
                    ctx,
                    &fid,
                    Event::error(format!("call {other} is not supported yet")),
                );
            }
        }
    }

    pub(super) fn allocator_spec(
        info: &FrameworkInfo,
        suppressed: Vec<String>,
        offer_constraints: Option<OfferConstraintsFilter>,
    ) -> FrameworkSpec {
        FrameworkSpec {
            roles: info.effective_roles().into_iter().collect(),
            gpu_resources: info.has_capability(
                mesos_api::protocol::framework::FrameworkCapabilityType::GpuResources,
            ),
            region_aware: info.has_capability(
                mesos_api::protocol::framework::FrameworkCapabilityType::RegionAware,
            ),
            suppressed_roles: suppressed.into_iter().collect(),
            offer_constraints,
        }
    }

    /// A SUBSCRIBE's or UPDATE_FRAMEWORK's offer constraints, checked and compiled for the
    /// framework's roles (None when it sets none); the error says why they are invalid.
    pub(crate) fn offer_constraints(
        &self,
        s: &Subscribe,
    ) -> Result<Option<OfferConstraintsFilter>, String> {
        let Some(c) = &s.offer_constraints else {
            return Ok(None);
        };
        let roles = s.framework_info.effective_roles().into_iter().collect();
        let max_mem =
            usize::try_from(self.flags.offer_constraints_re2_max_mem.0).unwrap_or(usize::MAX);
        OfferConstraintsFilter::new(c, &roles, max_mem)
            .map(Some)
            .map_err(|e| format!("Offer constraints are not valid: {e}"))
    }

    /// UPDATE_FRAMEWORK: new roles, capabilities and the like, without a new connection.
    fn update_framework(&mut self, ctx: &mut Context<Self>, fid: &FrameworkID, u: Subscribe) {
        // An HTTP framework's call was checked before it was accepted; a binary-transport
        // framework hears why here.
        let constraints = match self.offer_constraints(&u) {
            Ok(c) => c,
            Err(why) => {
                let why = format!("'UpdateFramework' call is not valid: {why}");
                self.send_event(ctx, fid, Event::error(why));
                return;
            }
        };
        let Some(f) = self.frameworks.get_mut(fid) else {
            return;
        };
        let mut info = u.framework_info;
        info.id = Some(fid.clone());
        let spec = Self::allocator_spec(&info, u.suppressed_roles, constraints);
        let renamed = (f.info.name != info.name).then(|| f.info.name.clone());
        f.info = info;
        f.offer_constraints = u.offer_constraints;
        if let Some(old) = renamed {
            // Its metrics are named by its name: the old ones go.
            self.forget_framework_metrics(&old, fid);
        }
        let f2 = fid.clone();
        self.allocator()
            .dispatch_nowait(move |p: &mut AllocatorProcess, c| {
                p.allocator_mut().update_framework(&f2, spec);
                p.request_allocation(c, None);
            });
    }

    /// Sends a refusal on a connection that did not become a framework's (an HTTP stream is
    /// closed after it).
    fn refuse(&self, ctx: &Context<Self>, conn: Conn, message: &str) {
        conn.send(ctx.runtime(), ctx.self_upid(), Event::error(message));
    }

    /// SUBSCRIBE (validated): a new framework, or a known one reconnecting or failing over.
    pub(crate) fn subscribe(&mut self, ctx: &mut Context<Self>, conn: Conn, s: Subscribe) {
        let mut info = s.framework_info;
        if let Conn::Pid(pid) = &conn {
            if !self.authenticated_enough(pid, self.flags.authenticate_frameworks, "subscription") {
                let why = format!("Framework at {pid} is not authenticated");
                self.refuse(ctx, conn, &why);
                return;
            }
            if let Some(p) = self.principal_of(pid) {
                match &info.principal {
                    Some(fp) if fp != p => {
                        let why = format!(
                            "Framework principal '{fp}' does not match authenticated principal '{p}'"
                        );
                        self.refuse(ctx, conn, &why);
                        return;
                    }
                    Some(_) => {}
                    None => info.principal = Some(p.to_string()),
                }
            }
        }
        if info.id.as_ref().is_some_and(|id| self.removed.contains(id)) {
            self.refuse(ctx, conn, "Framework has been removed");
            return;
        }
        let principal = info.principal.as_deref();
        if let Some(role) = info
            .effective_roles()
            .into_iter()
            .find(|r| !self.authorized("register_frameworks", principal, Some(r)))
        {
            let who = principal.map_or("A framework without a principal".to_string(), |p| {
                format!("Framework principal '{p}'")
            });
            let why = format!("{who} is not authorized to register with role '{role}'");
            tracing::info!(framework = %info.name, "refused: {why}");
            self.refuse(ctx, conn, &why);
            return;
        }
        let fid = match &info.id {
            Some(id) => id.clone(),
            None => {
                let id = FrameworkID::new(format!("{}-{:04}", self.id, self.next_framework));
                self.next_framework += 1;
                id
            }
        };
        info.id = Some(fid.clone());
        let constraints = match self.offer_constraints(&Subscribe {
            framework_info: info.clone(),
            suppressed_roles: Vec::new(),
            offer_constraints: s.offer_constraints.clone(),
        }) {
            Ok(c) => c,
            Err(why) => {
                self.refuse(ctx, conn, &why);
                return;
            }
        };
        let spec = Self::allocator_spec(&info, s.suppressed_roles, constraints);
        let pid = conn.pid().cloned();
        let stream_id = conn.stream_id().map(str::to_string);
        let added = !self.frameworks.contains_key(&fid);
        if let Some(f) = self.frameworks.get_mut(&fid) {
            // Failover (or reconnection): the newer subscription wins.
            let old = std::mem::replace(&mut f.pid, pid.clone());
            f.stream_id = stream_id;
            let renamed = (f.info.name != info.name).then(|| f.info.name.clone());
            f.info = info;
            f.offer_constraints = s.offer_constraints;
            f.connected = true;
            f.generation += 1;
            if let Some(old) = old.filter(|o| Some(o) != pid.as_ref()) {
                ctx.unlink(&old);
            }
            if let Some(old) = renamed {
                self.forget_framework_metrics(&old, &fid);
            }
            let f2 = fid.clone();
            self.allocator()
                .dispatch_nowait(move |p: &mut AllocatorProcess, c| {
                    p.allocator_mut().update_framework(&f2, spec);
                    p.allocator_mut().activate_framework(&f2);
                    p.request_allocation(c, None);
                });
        } else {
            self.frameworks.insert(
                fid.clone(),
                FrameworkRec {
                    info,
                    pid: pid.clone(),
                    stream_id,
                    proxy: None,
                    connected: true,
                    offers: HashSet::default(),
                    tasks: BTreeMap::new(),
                    completed: Default::default(),
                    generation: 1,
                    offer_constraints: s.offer_constraints,
                    registered_time: now_secs(),
                    counters: Default::default(),
                },
            );
            let f2 = fid.clone();
            self.allocator()
                .dispatch_nowait(move |p: &mut AllocatorProcess, c| p.add_framework(c, f2, spec));
        }
        if let Some(p) = &pid {
            ctx.link(p);
        }
        if !self.ensure_proxy(ctx, &fid, conn) {
            return;
        }
        let ev = Event {
            subscribed: Some(Subscribed {
                framework_id: fid.clone(),
                heartbeat_interval_seconds: Some(self.flags.heartbeat_interval.as_secs_f64()),
                master_info: self.info.clone(),
            }),
            ..Event::new(EventType::Subscribed)
        };
        self.send_event(ctx, &fid, ev);
        self.framework_changed(&fid, added);
    }

    /// Spawns the framework's proxy, or points it at the new connection.
    fn ensure_proxy(&mut self, ctx: &mut Context<Self>, fid: &FrameworkID, conn: Conn) -> bool {
        let Some(f) = self.frameworks.get_mut(fid) else {
            return false;
        };
        match &f.proxy {
            Some(p) => {
                p.dispatch_nowait(move |p: &mut FrameworkProxy, c| p.retarget(c, conn));
                true
            }
            None => {
                let id = ctx.runtime().unique_id("framework");
                let proxy = FrameworkProxy::new(
                    ctx.pid().clone(),
                    fid.clone(),
                    conn,
                    self.flags.heartbeat_interval,
                );
                match ctx.runtime().spawn(&id, proxy) {
                    Ok(p) => {
                        f.proxy = Some(p);
                        true
                    }
                    Err(e) => {
                        tracing::error!(framework = %fid, "cannot start its proxy: {e}");
                        f.connected = false;
                        false
                    }
                }
            }
        }
    }

    /// An HTTP framework's stream closed (if it is still its current one).
    pub(crate) fn http_disconnected(
        &mut self,
        ctx: &mut Context<Self>,
        fid: FrameworkID,
        stream: &str,
    ) {
        let current = self
            .frameworks
            .get(&fid)
            .is_some_and(|f| f.connected && f.stream_id.as_deref() == Some(stream));
        if current {
            self.framework_disconnected(ctx, fid);
        }
    }

    /// Removes a framework (it tore itself down, an operator tore it down, or its failover
    /// timeout passed): its tasks end TASK_KILLED with REASON_FRAMEWORK_REMOVED, the agents shut
    /// its executors down and its connection is dropped (an HTTP stream is closed). With `tell`
    /// (an operator's teardown) a connected framework first hears ERROR "Framework has been
    /// removed", the answer a later SUBSCRIBE with its id gets too.
    pub(super) fn remove_framework(
        &mut self,
        ctx: &mut Context<Self>,
        fid: &FrameworkID,
        tell: bool,
    ) {
        if tell && self.frameworks.get(fid).is_some_and(|f| f.connected) {
            self.send_event(ctx, fid, Event::error("Framework has been removed"));
        }
        let Some(f) = self.frameworks.remove(fid) else {
            return;
        };
        tracing::info!(framework = %fid, tasks = f.tasks.len(), "removing the framework");
        self.forget_framework_inverse_offers(fid, true);
        self.forget_framework_metrics(&f.info.name, fid);
        self.removed.insert(fid.clone());
        for o in &f.offers {
            self.offers.remove(o);
        }
        let agents: HashSet<AgentID> = f.tasks.values().map(|t| t.agent_id.clone()).collect();
        for t in f.tasks.values() {
            if let Some(held) = self.tasks_by_agent.get_mut(&t.agent_id) {
                held.remove(&(fid.clone(), t.task_id.clone()));
            }
        }
        for a in &agents {
            if let Some(rec) = self.agents.get(a) {
                Self::send(
                    ctx,
                    &rec.pid,
                    ShutdownFramework {
                        framework_id: fid.clone(),
                    },
                );
            }
        }
        // Its tasks are gone from their agents: a draining one may be drained now.
        for a in &agents {
            self.check_drained(ctx, a);
        }
        if let Some(pid) = &f.pid {
            ctx.unlink(pid);
        }
        if let Some(p) = &f.proxy {
            p.terminate(false);
        }
        let mut f = f;
        f.connected = false;
        f.proxy = None;
        f.offers.clear();
        let keep = self.flags.max_completed_tasks_per_framework;
        for mut t in std::mem::take(&mut f.tasks).into_values() {
            if !t.state.is_terminal() {
                let s = master_status(
                    &t.task_id,
                    Some(&t.agent_id),
                    TaskState::Killed,
                    Reason::FrameworkRemoved,
                    "Framework removed",
                );
                self.task_updated(fid, &s, TaskState::Killed);
                if let Some(m) = &self.metrics {
                    m.terminal(TaskState::Killed);
                }
                t.state = TaskState::Killed;
                t.record_status(s);
            }
            f.complete(t, keep);
        }
        while self.completed_frameworks.len() >= self.flags.max_completed_frameworks.max(1) {
            self.completed_frameworks.pop_front();
        }
        let info = mesos_api::protocol::to_json(&f.info);
        if self.flags.max_completed_frameworks > 0 {
            self.completed_frameworks.push_back(f);
        }
        // Who may hear it is decided on its completed record (with none kept, only subscribers
        // that may see everything do).
        self.operator_event(Some((fid, None)), |_| {
            serde_json::json!({"type": "FRAMEWORK_REMOVED", "framework_removed": {
                "framework_info": info}})
        });
        let f2 = fid.clone();
        self.allocator()
            .dispatch_nowait(move |p: &mut AllocatorProcess, _| {
                p.allocator_mut().remove_framework(&f2)
            });
    }

    pub(super) fn framework_disconnected(&mut self, ctx: &mut Context<Self>, fid: FrameworkID) {
        self.forget_framework_inverse_offers(&fid, false);
        let (generation, timeout, offers) = match self.frameworks.get_mut(&fid) {
            Some(f) => {
                f.connected = false;
                if let Some(p) = &f.proxy {
                    p.dispatch_nowait(|p: &mut FrameworkProxy, _| p.quiet());
                }
                let offers: Vec<OfferID> = f.offers.iter().cloned().collect();
                (f.generation, f.info.failover_timeout, offers)
            }
            None => return,
        };
        for o in offers {
            self.rescind(ctx, &o, false);
        }
        let f2 = fid.clone();
        self.allocator()
            .dispatch_nowait(move |p: &mut AllocatorProcess, _| {
                p.allocator_mut().deactivate_framework(&f2)
            });
        self.failover_timer(ctx, fid, generation, timeout);
    }

    /// Removes the framework `timeout` seconds (its `failover_timeout`) from now unless it
    /// (re)subscribes meanwhile (a new generation). Started when it disconnects, and for a
    /// framework this master learns of from a reregistering agent after a master failover:
    /// its failover timeout counts from the failover.
    pub(super) fn failover_timer(
        &self,
        ctx: &mut Context<Self>,
        fid: FrameworkID,
        generation: u64,
        timeout: f64,
    ) {
        let d = Duration::from_secs_f64(timeout.clamp(0.0, 365.0 * 86400.0));
        ctx.delay(d, move |m: &mut Master, c| {
            let stale = m
                .frameworks
                .get(&fid)
                .is_none_or(|f| f.connected || f.generation != generation);
            if !stale {
                m.remove_framework(c, &fid, false);
            }
        });
    }
}
