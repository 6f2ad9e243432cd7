//! Offers: from allocations, rescinds, DECLINE, ACCEPT and launching tasks.

use std::collections::BTreeMap;

use libprocess::util::HashSet;

use libprocess::Context;
use mesos_allocator::{Allocation, AllocatorProcess, Operation};
use mesos_api::messages::{
    CheckpointResources, KillTask, RunTask, RunTaskGroup, Task, TaskDetails,
};
use mesos_api::protocol::framework::FrameworkInfo;
use mesos_api::protocol::offer::{AllocationInfo, Offer, OfferOperation, OperationType, Url};
use mesos_api::protocol::scheduler::{Accept, Decline, Event, EventType, Kill, Offers, Rescind};
use mesos_api::protocol::task::{ExecutorInfo, Reason, TaskGroupInfo, TaskInfo, TaskState};
use mesos_api::{AgentID, ExecutorID, FrameworkID, OfferID, Resources, TaskID};

use super::*;
use crate::state::FwCounter;
use crate::state::OfferRec;
use crate::validation;

impl Master {
    pub(super) fn offer(&mut self, ctx: &mut Context<Self>, allocations: Vec<Allocation>) {
        let mut batches: BTreeMap<FrameworkID, Vec<Offer>> = BTreeMap::new();
        for a in allocations {
            let usable = self
                .frameworks
                .get(&a.framework_id)
                .is_some_and(|f| f.connected)
                && self.agents.contains_key(&a.agent_id);
            if !usable {
                let (f, ag, r) = (a.framework_id, a.agent_id, a.resources);
                self.allocator()
                    .dispatch_nowait(move |p: &mut AllocatorProcess, c| {
                        p.recover_resources(c, f, ag, &r, None)
                    });
                continue;
            }
            let id = OfferID::new(format!("{}-O{}", self.id, self.next_offer));
            self.next_offer += 1;
            let Some(agent) = self.agents.get(&a.agent_id) else {
                continue;
            };
            // The framework's executors already on the agent (Mesos fills these in), from the
            // tasks held for the agent: an offer must not cost a walk over all the framework's
            // tasks.
            let framework = self.frameworks.get(&a.framework_id);
            let mut executor_ids: Vec<ExecutorID> = self
                .tasks_by_agent
                .get(&a.agent_id)
                .into_iter()
                .flatten()
                .filter(|(fid, _)| *fid == a.framework_id)
                .filter_map(|(_, tid)| framework?.tasks.get(tid))
                .filter(|t| t.agent_id == a.agent_id)
                .filter_map(|t| t.executor_id.clone())
                .collect();
            executor_ids.sort();
            executor_ids.dedup();
            let offer = Offer {
                id: id.clone(),
                framework_id: a.framework_id.clone(),
                agent_id: a.agent_id.clone(),
                hostname: agent.info.hostname.clone(),
                resources: a.resources.clone(),
                attributes: agent.info.attributes.clone(),
                executor_ids,
                unavailability: self.agent_unavailability(agent),
                allocation_info: Some(AllocationInfo {
                    role: Some(a.role.clone()),
                }),
                url: Some(agent_url(&agent.pid, &agent.info.hostname)),
                domain: agent.info.domain.clone(),
            };
            self.offers.insert(
                id.clone(),
                OfferRec {
                    framework_id: a.framework_id.clone(),
                    agent_id: a.agent_id.clone(),
                    resources: a.resources,
                },
            );
            if let Some(f) = self.frameworks.get_mut(&a.framework_id) {
                f.offers.insert(id.clone());
            }
            if let Some(t) = self.flags.offer_timeout {
                let oid = id.clone();
                ctx.delay(t, move |m: &mut Master, c| m.rescind(c, &oid, true));
            }
            batches.entry(a.framework_id).or_default().push(offer);
        }
        for (fid, offers) in batches {
            self.framework_count(&fid, FwCounter::OffersSent, offers.len() as u64);
            let ev = Event {
                offers: Some(Offers { offers }),
                ..Event::new(EventType::Offers)
            };
            self.send_event(ctx, &fid, ev);
        }
    }

    /// Takes an offer back (RESCIND to the framework if `tell`) and returns its resources.
    pub(super) fn rescind(&mut self, ctx: &mut Context<Self>, id: &OfferID, tell: bool) {
        let Some(o) = self.take_back(ctx, id, tell) else {
            return;
        };
        self.allocator()
            .dispatch_nowait(move |p: &mut AllocatorProcess, c| {
                p.recover_resources(c, o.framework_id, o.agent_id, &o.resources, None)
            });
    }

    /// Takes an offer back from its framework (RESCIND if `tell`); its resources are the
    /// caller's to return to the allocator.
    pub(super) fn take_back(
        &mut self,
        ctx: &mut Context<Self>,
        id: &OfferID,
        tell: bool,
    ) -> Option<OfferRec> {
        let o = self.offers.remove(id)?;
        if let Some(f) = self.frameworks.get_mut(&o.framework_id) {
            f.offers.remove(id);
        }
        self.framework_count(&o.framework_id, FwCounter::OffersRescinded, 1);
        if tell {
            let ev = Event {
                rescind: Some(Rescind {
                    offer_id: id.clone(),
                }),
                ..Event::new(EventType::Rescind)
            };
            self.send_event(ctx, &o.framework_id, ev);
        }
        Some(o)
    }

    pub(super) fn decline(&mut self, ctx: &mut Context<Self>, fid: &FrameworkID, d: Decline) {
        let refuse = refuse_of(d.filters);
        for id in d.offer_ids {
            let Some(o) = self.take_offer(fid, &id) else {
                continue;
            };
            self.framework_count(fid, FwCounter::OffersDeclined, 1);
            self.allocator()
                .dispatch_nowait(move |p: &mut AllocatorProcess, c| {
                    p.recover_resources(c, o.framework_id, o.agent_id, &o.resources, refuse)
                });
        }
        let _ = ctx;
    }

    /// Removes and returns an offer if it belongs to the framework.
    pub(super) fn take_offer(&mut self, fid: &FrameworkID, id: &OfferID) -> Option<OfferRec> {
        if self.offers.get(id).is_none_or(|o| &o.framework_id != fid) {
            return None;
        }
        let o = self.offers.remove(id)?;
        if let Some(f) = self.frameworks.get_mut(fid) {
            f.offers.remove(id);
        }
        Some(o)
    }

    pub(super) fn accept(&mut self, ctx: &mut Context<Self>, fid: &FrameworkID, a: Accept) {
        let refuse = refuse_of(a.filters);
        // Every offer must be outstanding, this framework's, and on one agent.
        let mut problem: Option<String> = None;
        let mut agent: Option<AgentID> = None;
        let mut seen = HashSet::default();
        for id in &a.offer_ids {
            if !seen.insert(id.clone()) {
                problem = Some(format!("offer '{id}' appears twice"));
                break;
            }
            match self.offers.get(id) {
                None => problem = Some(format!("offer '{id}' is no longer valid")),
                Some(o) if &o.framework_id != fid => {
                    problem = Some(format!("offer '{id}' is not for this framework"))
                }
                Some(o) => {
                    if agent.get_or_insert_with(|| o.agent_id.clone()) != &o.agent_id {
                        problem = Some("offers span more than one agent".into());
                    }
                }
            }
            if problem.is_some() {
                break;
            }
        }
        if a.offer_ids.is_empty() {
            problem = Some("no offers".into());
        }
        let mut offered = Resources::new();
        let mut role = String::from("*");
        let valid = problem.is_none();
        // Valid or not, the framework's offers named here are used up.
        for id in &a.offer_ids {
            if let Some(o) = self.take_offer(fid, id) {
                if let Some(r) = o.resources.allocation_roles().into_iter().next() {
                    role = r.to_string();
                }
                offered.add_all(&o.resources);
                if valid {
                    self.framework_count(fid, FwCounter::OffersAccepted, 1);
                }
            }
        }
        let agent_id = agent.unwrap_or_else(|| AgentID::new(""));
        if !valid {
            let why = problem.unwrap_or_default();
            let pa = self
                .frameworks
                .get(fid)
                .is_some_and(|f| f.partition_aware());
            let state = if pa {
                TaskState::Dropped
            } else {
                TaskState::Lost
            };
            for op in &a.operations {
                for t in op.launch.iter().flat_map(|l| l.task_infos.iter()) {
                    self.master_update(
                        ctx,
                        fid,
                        master_status(
                            &t.task_id,
                            Some(&t.agent_id),
                            state,
                            Reason::InvalidOffers,
                            &why,
                        ),
                    );
                }
            }
            if !offered.is_empty() {
                let (f, r) = (fid.clone(), offered);
                self.allocator()
                    .dispatch_nowait(move |p: &mut AllocatorProcess, c| {
                        p.recover_resources(c, f, agent_id, &r, None)
                    });
            }
            return;
        }
        let mut remaining = offered.clone();
        let mut launching = HashSet::default();
        let mut applied: Vec<Operation> = Vec::new();
        let mut feedback: Vec<OfferOperation> = Vec::new();
        for op in a.operations {
            match op.kind {
                Some(OperationType::Launch) => {
                    for mut t in op.launch.map(|l| l.task_infos).unwrap_or_default() {
                        allocate_if_bare(&mut t.resources, &role);
                        if let Some(e) = t.executor.as_mut() {
                            allocate_if_bare(&mut e.resources, &role);
                        }
                        let tasks = self.frameworks.get(fid).map(|f| &f.tasks);
                        let active = |id: &TaskID| tasks.is_some_and(|t| t.contains_key(id));
                        if let Some(why) =
                            validation::task_error(&t, &agent_id, &active, &launching, &remaining)
                        {
                            self.task_error(ctx, fid, &t, &agent_id, Reason::TaskInvalid, &why);
                            continue;
                        }
                        if let Some(why) = self.run_as_refused(fid, &t) {
                            let r = Reason::TaskUnauthorized;
                            self.task_error(ctx, fid, &t, &agent_id, r, &why);
                            continue;
                        }
                        let mut used = t.resources.clone();
                        if let Some(e) = &t.executor {
                            used.add_all(&e.resources);
                        }
                        remaining.subtract_all(&used);
                        launching.insert(t.task_id.clone());
                        self.launch(ctx, fid, &agent_id, t, used);
                    }
                }
                Some(OperationType::LaunchGroup) => match op.launch_group {
                    Some(lg) => {
                        let mut tasks: Vec<TaskInfo> = lg.task_group.tasks;
                        let mut executor = lg.executor;
                        executor.framework_id = Some(fid.clone());
                        allocate_if_bare(&mut executor.resources, &role);
                        for t in tasks.iter_mut() {
                            allocate_if_bare(&mut t.resources, &role);
                        }
                        let known = self.frameworks.get(fid).map(|f| &f.tasks);
                        let active = |id: &TaskID| known.is_some_and(|t| t.contains_key(id));
                        let why = validation::group_error(
                            &executor, &tasks, &agent_id, &active, &launching, &remaining,
                        );
                        if let Some(why) = why {
                            for t in &tasks {
                                let r = Reason::TaskGroupInvalid;
                                self.task_error(ctx, fid, t, &agent_id, r, &why);
                            }
                            continue;
                        }
                        if let Some(why) = tasks.iter().find_map(|t| self.run_as_refused(fid, t)) {
                            for t in &tasks {
                                let r = Reason::TaskGroupUnauthorized;
                                self.task_error(ctx, fid, t, &agent_id, r, &why);
                            }
                            continue;
                        }
                        let mut used = executor.resources.clone();
                        for t in &tasks {
                            used.add_all(&t.resources);
                            launching.insert(t.task_id.clone());
                        }
                        remaining.subtract_all(&used);
                        self.launch_group(ctx, fid, &agent_id, executor, tasks);
                    }
                    None => self.send_event(
                        ctx,
                        fid,
                        Event::error("LAUNCH_GROUP without 'launch_group'"),
                    ),
                },
                Some(
                    kind @ (OperationType::Reserve
                    | OperationType::Unreserve
                    | OperationType::Create
                    | OperationType::Destroy
                    | OperationType::GrowVolume
                    | OperationType::ShrinkVolume),
                ) => {
                    let info = op.clone();
                    let r = |o: Option<mesos_api::protocol::offer::ReservationOp>| {
                        o.map(|x| x.resources).unwrap_or_default()
                    };
                    let v = |o: Option<mesos_api::protocol::offer::VolumeOp>| {
                        o.map(|x| x.volumes).unwrap_or_default()
                    };
                    let operation = match kind {
                        OperationType::Reserve => Operation::Reserve(r(op.reserve)),
                        OperationType::Unreserve => Operation::Unreserve(r(op.unreserve)),
                        OperationType::Create => Operation::Create(v(op.create)),
                        OperationType::GrowVolume => match op.grow_volume {
                            Some(g) => Operation::GrowVolume(g.volume, g.addition),
                            None => {
                                let why = "GROW_VOLUME without 'grow_volume'";
                                self.operation_refused(ctx, fid, &agent_id, &info, why);
                                continue;
                            }
                        },
                        OperationType::ShrinkVolume => match op.shrink_volume {
                            Some(s) => Operation::ShrinkVolume(
                                s.volume,
                                mesos_api::resources::Scalar::from_f64(s.subtract.value),
                            ),
                            None => {
                                let why = "SHRINK_VOLUME without 'shrink_volume'";
                                self.operation_refused(ctx, fid, &agent_id, &info, why);
                                continue;
                            }
                        },
                        _ => Operation::Destroy(v(op.destroy)),
                    };
                    let principal = self
                        .frameworks
                        .get(fid)
                        .and_then(|f| f.info.principal.clone());
                    let allowed = match &operation {
                        Operation::Reserve(res) | Operation::Unreserve(res) => {
                            let reserve = matches!(operation, Operation::Reserve(_));
                            self.authorize_reservation(principal.as_deref(), res, reserve)
                        }
                        Operation::Create(vols) | Operation::Destroy(vols) => {
                            let create = matches!(operation, Operation::Create(_));
                            self.check_volumes(principal.as_deref(), &agent_id, vols, create)
                        }
                        Operation::GrowVolume(v, _) | Operation::ShrinkVolume(v, _) => {
                            self.authorize_resize(principal.as_deref(), v)
                        }
                    };
                    if let Err(e) = allowed {
                        tracing::warn!(framework = %fid, "dropping {}: {}", kind.as_str(), e.message);
                        self.operation_refused(ctx, fid, &agent_id, &info, &e.message);
                        continue;
                    }
                    match operation.conversion() {
                        Ok((from, to)) => {
                            let (from, to) = (
                                from.unallocate().allocate(&role),
                                to.unallocate().allocate(&role),
                            );
                            if from.is_empty() || !remaining.contains(&from) {
                                tracing::warn!(framework = %fid, "dropping {}: '{}' is not in the offered '{}'", kind.as_str(), from, remaining);
                                let why = format!("'{from}' is not in the offered resources");
                                self.operation_refused(ctx, fid, &agent_id, &info, &why);
                                continue;
                            }
                            remaining.subtract_all(&from);
                            remaining.add_all(&to);
                            applied.push(operation);
                            feedback.push(info);
                        }
                        Err(e) => {
                            tracing::warn!(framework = %fid, "dropping {}: {e}", kind.as_str());
                            self.operation_refused(ctx, fid, &agent_id, &info, &e.to_string());
                        }
                    }
                }
                other => {
                    let name = other.map_or("UNKNOWN", OperationType::as_str);
                    self.send_event(
                        ctx,
                        fid,
                        Event::error(format!("operation {name} is not supported yet")),
                    );
                }
            }
        }
        if !applied.is_empty() {
            self.apply_operations(ctx, fid, &agent_id, offered, applied);
        }
        for info in feedback {
            self.track_operation(ctx, fid, &agent_id, info);
        }
        if !remaining.is_empty() {
            let f = fid.clone();
            self.allocator()
                .dispatch_nowait(move |p: &mut AllocatorProcess, c| {
                    p.recover_resources(c, f, agent_id, &remaining, refuse)
                });
        }
    }

    pub(super) fn launch(
        &mut self,
        ctx: &mut Context<Self>,
        fid: &FrameworkID,
        agent_id: &AgentID,
        t: mesos_api::protocol::task::TaskInfo,
        used: Resources,
    ) {
        let Some(agent) = self.agents.get(agent_id) else {
            return;
        };
        let Some(f) = self.frameworks.get_mut(fid) else {
            return;
        };
        let task = Task {
            name: t.name.clone(),
            task_id: t.task_id.clone(),
            framework_id: fid.clone(),
            executor_id: t.executor.as_ref().map(|e| e.executor_id.clone()),
            agent_id: agent_id.clone(),
            state: TaskState::Staging,
            resources: used,
            statuses: Vec::new(),
            status_update_state: None,
            status_update_uuid: None,
            labels: t.labels.clone(),
            user: t.command.as_ref().and_then(|c| c.user.clone()),
            details: TaskDetails::of(&t),
        };
        f.tasks.insert(t.task_id.clone(), Box::new(task));
        self.tasks_by_agent
            .entry(agent_id.clone())
            .or_default()
            .insert((fid.clone(), t.task_id.clone()));
        let framework: FrameworkInfo = f.info.clone();
        let tid = t.task_id.clone();
        Self::send(ctx, &agent.pid, RunTask { framework, task: t });
        self.task_added(fid, &tid);
    }

    /// Why the framework may not run task `t` as its user (`run_tasks`: its command's user,
    /// else its executor's, else the framework's), if it may not.
    fn run_as_refused(&self, fid: &FrameworkID, t: &TaskInfo) -> Option<String> {
        let f = self.frameworks.get(fid)?;
        let user = t
            .command
            .as_ref()
            .and_then(|c| c.user.as_deref())
            .or_else(|| {
                t.executor
                    .as_ref()
                    .and_then(|e| e.command.as_ref()?.user.as_deref())
            })
            .unwrap_or(&f.info.user);
        let principal = f.info.principal.as_deref();
        if self.authorized("run_tasks", principal, Some(user)) {
            return None;
        }
        let who = principal.map_or("A framework without a principal".to_string(), |p| {
            format!("Framework principal '{p}'")
        });
        Some(format!(
            "{who} is not authorized to launch tasks as user '{user}'"
        ))
    }

    /// TASK_ERROR from the master for a task that cannot be launched.
    fn task_error(
        &self,
        ctx: &Context<Self>,
        fid: &FrameworkID,
        t: &TaskInfo,
        agent_id: &AgentID,
        reason: Reason,
        why: &str,
    ) {
        let s = master_status(&t.task_id, Some(agent_id), TaskState::Error, reason, why);
        self.master_update(ctx, fid, s);
    }

    /// Applies RESERVE / UNRESERVE / CREATE / DESTROY: the allocator converts the allocation and
    /// the agent's total, and the agent is told its checkpointed resources.
    fn apply_operations(
        &mut self,
        ctx: &mut Context<Self>,
        fid: &FrameworkID,
        agent_id: &AgentID,
        offered: Resources,
        ops: Vec<Operation>,
    ) {
        self.checkpoint_operations(ctx, agent_id, &ops);
        let (f, a) = (fid.clone(), agent_id.clone());
        self.allocator()
            .dispatch_nowait(move |p: &mut AllocatorProcess, _| {
                if let Err(e) = p.allocator_mut().update_allocation(&f, &a, &offered, &ops) {
                    tracing::warn!(framework = %f, "offer operations not applied: {e}");
                }
            });
    }

    /// Records what RESERVE / UNRESERVE / CREATE / DESTROY did to an agent's dynamic
    /// reservations and volumes, and sends the agent its new checkpointed resources.
    pub(crate) fn checkpoint_operations(
        &mut self,
        ctx: &mut Context<Self>,
        agent_id: &AgentID,
        ops: &[Operation],
    ) {
        let Some(agent) = self.agents.get_mut(agent_id) else {
            return;
        };
        for op in ops {
            if let Ok((from, to)) = op.conversion() {
                let reserved = |r: &mesos_api::Resource| !r.reservations.is_empty();
                let from = from.unallocate().filter(reserved);
                if agent.checkpointed.contains(&from) {
                    agent.checkpointed.subtract_all(&from);
                }
                agent
                    .checkpointed
                    .add_all(&to.unallocate().filter(reserved));
            }
        }
        let resources = agent.checkpointed.clone();
        Self::send(ctx, &agent.pid, CheckpointResources { resources });
    }

    /// Records a task group's tasks (the executor's resources ride with the first task) and
    /// sends it to the agent.
    pub(super) fn launch_group(
        &mut self,
        ctx: &mut Context<Self>,
        fid: &FrameworkID,
        agent_id: &AgentID,
        executor: ExecutorInfo,
        tasks: Vec<TaskInfo>,
    ) {
        let Some(agent) = self.agents.get(agent_id) else {
            return;
        };
        let Some(f) = self.frameworks.get_mut(fid) else {
            return;
        };
        for (i, t) in tasks.iter().enumerate() {
            let mut used = t.resources.clone();
            if i == 0 {
                used.add_all(&executor.resources);
            }
            f.tasks.insert(
                t.task_id.clone(),
                Box::new(Task {
                    name: t.name.clone(),
                    task_id: t.task_id.clone(),
                    framework_id: fid.clone(),
                    executor_id: Some(executor.executor_id.clone()),
                    agent_id: agent_id.clone(),
                    state: TaskState::Staging,
                    resources: used,
                    statuses: Vec::new(),
                    status_update_state: None,
                    status_update_uuid: None,
                    labels: t.labels.clone(),
                    user: t.command.as_ref().and_then(|c| c.user.clone()),
                    details: TaskDetails::of(t),
                }),
            );
        }
        let held = self.tasks_by_agent.entry(agent_id.clone()).or_default();
        for t in &tasks {
            held.insert((fid.clone(), t.task_id.clone()));
        }
        let framework = f.info.clone();
        let ids: Vec<TaskID> = tasks.iter().map(|t| t.task_id.clone()).collect();
        Self::send(
            ctx,
            &agent.pid,
            RunTaskGroup {
                framework,
                executor,
                task_group: TaskGroupInfo { tasks },
            },
        );
        for t in &ids {
            self.task_added(fid, t);
        }
    }

    pub(super) fn kill(&mut self, ctx: &mut Context<Self>, fid: &FrameworkID, k: Kill) {
        let task = self
            .frameworks
            .get(fid)
            .and_then(|f| f.tasks.get(&k.task_id))
            .cloned();
        match task.and_then(|t| self.agents.get(&t.agent_id).map(|a| (t, a.pid.clone()))) {
            Some((_, pid)) => Self::send(
                ctx,
                &pid,
                KillTask {
                    framework_id: fid.clone(),
                    task_id: k.task_id,
                    kill_policy: k.kill_policy,
                },
            ),
            None => self.master_update(
                ctx,
                fid,
                master_status(
                    &k.task_id,
                    k.agent_id.as_ref(),
                    TaskState::Lost,
                    Reason::Reconciliation,
                    "Attempted to kill an unknown task",
                ),
            ),
        }
    }
}

/// Non-MULTI_ROLE frameworks send resources without allocation info: they are allocated to the
/// offers' role.
fn allocate_if_bare(r: &mut Resources, role: &str) {
    if r.iter().all(|x| x.allocation_role.is_none()) {
        *r = r.allocate(role);
    }
}

/// Where an agent's HTTP endpoints are, as Mesos puts it in offers: `http` (Mesos writes `http`
/// even with TLS on), the agent's hostname, IP and port, and its process's path.
pub(super) fn agent_url(pid: &libprocess::UPID, hostname: &str) -> Url {
    Url {
        // Agents speak TLS when the cluster does (LIBPROCESS_SSL_ENABLED).
        scheme: if libprocess::tls::enabled_in_env() {
            "https".into()
        } else {
            "http".into()
        },
        address: mesos_api::protocol::framework::Address {
            hostname: Some(hostname.to_string()),
            ip: Some(pid.addr().ip().to_string()),
            port: i32::from(pid.addr().port()),
        },
        path: Some(format!("/{}", pid.id())),
        query: Vec::new(),
        fragment: None,
    }
}
