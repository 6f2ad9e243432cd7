//! Status updates from agents and acknowledgements from frameworks.

use libprocess::{Context, UPID};
use mesos_allocator::AllocatorProcess;
use mesos_api::messages::{StatusUpdate, StatusUpdateAcknowledgement};
use mesos_api::protocol::scheduler::{Event, EventType, Reconcile, Update};
use mesos_api::protocol::task::{Reason, TaskState};
use mesos_api::{AgentID, FrameworkID, TaskID};

use super::*;

impl Master {
    pub(super) fn status_update(&mut self, ctx: &mut Context<Self>, from: UPID, u: StatusUpdate) {
        if self.agent_by_pid.get(&from) != Some(&u.agent_id) {
            if let Some(m) = &self.metrics {
                m.invalid_status_updates.inc();
            }
            tracing::warn!(%from, "status update from an unregistered agent; dropped");
            return;
        }
        let Some(f) = self.frameworks.get_mut(&u.framework_id) else {
            tracing::debug!(framework = %u.framework_id, "status update for an unknown framework");
            return;
        };
        if let Some(m) = &self.metrics {
            m.valid_status_updates.inc();
        }
        let latest = u.latest_state.unwrap_or(u.status.state);
        let mut freed = None;
        if let Some(t) = f.tasks.get_mut(&u.status.task_id) {
            let was_terminal = t.state.is_terminal();
            t.state = latest;
            t.status_update_state = Some(u.status.state);
            t.status_update_uuid = u.status.uuid.clone();
            if t.executor_id.is_none() {
                t.executor_id = u.executor_id.clone();
            }
            t.record_status(u.status.clone());
            if latest.is_terminal() && !was_terminal {
                freed = Some(t.resources.clone());
                if let Some(m) = &self.metrics {
                    m.terminal(latest);
                }
            }
        }
        // A live task that the master itself gave up (LOST, UNREACHABLE, DROPPED or GONE in
        // its completed list), on a registered agent: a launch that reached the agent after
        // the master had declared the task lost (held in a partition while the agent was
        // marked unreachable, then delivered after the agent reregistered). The framework was
        // told it is gone: it is killed. (Mesos forwards such updates and leaves the task
        // running; its TODO in `Master::statusUpdate`.) A task the master does not know at all
        // (after a failover) or that ended on its agent (a late resent update) is left alone.
        let given_up = |s: TaskState| {
            matches!(
                s,
                TaskState::Lost
                    | TaskState::Unreachable
                    | TaskState::Dropped
                    | TaskState::Gone
                    | TaskState::GoneByOperator
            )
        };
        let zombie = !latest.is_terminal()
            && !f.tasks.contains_key(&u.status.task_id)
            && f.completed
                .iter()
                .rev()
                .find(|c| c.task.task_id == u.status.task_id)
                .is_some_and(|c| given_up(c.task.state));
        if zombie {
            tracing::warn!(framework = %u.framework_id, task = %u.status.task_id, agent = %u.agent_id,
                "an agent runs a task unknown to the master; killing it");
            Self::send(
                ctx,
                &from,
                mesos_api::messages::KillTask {
                    framework_id: u.framework_id.clone(),
                    task_id: u.status.task_id.clone(),
                    kill_policy: None,
                },
            );
        }
        if freed.is_some() {
            self.framework_task_ended(&u.framework_id, latest);
        }
        if let Some(r) = freed {
            let (fw, ag) = (u.framework_id.clone(), u.agent_id.clone());
            self.allocator()
                .dispatch_nowait(move |p: &mut AllocatorProcess, c| {
                    p.recover_resources(c, fw, ag, &r, None)
                });
        }
        let mut status = u.status;
        status.agent_id.get_or_insert(u.agent_id.clone());
        self.task_updated(&u.framework_id, &status, latest);
        let ev = Event {
            update: Some(Update { status }),
            ..Event::new(EventType::Update)
        };
        self.send_event(ctx, &u.framework_id, ev);
    }

    /// After a task left an agent (acknowledged terminal, or removed): a draining agent may be
    /// drained now.
    fn task_left(&mut self, ctx: &mut Context<Self>, agent: &AgentID) {
        if self.agents.get(agent).is_some_and(|a| a.drain.is_some()) {
            self.check_drained(ctx, agent);
        }
    }

    pub(super) fn acknowledge(
        &mut self,
        ctx: &mut Context<Self>,
        fid: &FrameworkID,
        agent_id: AgentID,
        task_id: TaskID,
        uuid: Vec<u8>,
    ) {
        let Some(agent) = self.agents.get(&agent_id) else {
            self.count(|mm| &mm.invalid_status_update_acknowledgements);
            tracing::warn!(framework = %fid, agent = %agent_id, task = %task_id,
                "dropping an acknowledgement: its agent is not registered");
            return;
        };
        self.count(|mm| &mm.valid_status_update_acknowledgements);
        // Once the terminal update is acknowledged the task moves to the completed list.
        let keep = self.flags.max_completed_tasks_per_framework;
        if let Some(f) = self.frameworks.get_mut(fid) {
            let done = f.tasks.get(&task_id).is_some_and(|t| {
                t.status_update_uuid.as_deref() == Some(&uuid[..])
                    && t.status_update_state.is_some_and(|s| s.is_terminal())
            });
            if done {
                if let Some(t) = f.tasks.remove(&task_id) {
                    if let Some(held) = self.tasks_by_agent.get_mut(&t.agent_id) {
                        held.remove(&(fid.clone(), task_id.clone()));
                    }
                    f.complete(t, keep);
                }
            }
        }
        let agent = agent.pid.clone();
        self.task_left(ctx, &agent_id);
        Self::send(
            ctx,
            &agent,
            StatusUpdateAcknowledgement {
                agent_id,
                framework_id: fid.clone(),
                task_id,
                uuid,
            },
        );
    }

    pub(super) fn reconcile(&mut self, ctx: &mut Context<Self>, fid: &FrameworkID, r: Reconcile) {
        let Some(f) = self.frameworks.get(fid) else {
            return;
        };
        let pa = f.partition_aware();
        let mut replies: Vec<(TaskID, Option<AgentID>, TaskState, &'static str)> = Vec::new();
        if r.tasks.is_empty() {
            for t in f.tasks.values().filter(|t| !t.state.is_terminal()) {
                replies.push((
                    t.task_id.clone(),
                    Some(t.agent_id.clone()),
                    t.state,
                    "Reconciliation: latest task status",
                ));
            }
        } else {
            for q in &r.tasks {
                if let Some(t) = f.tasks.get(&q.task_id) {
                    replies.push((
                        t.task_id.clone(),
                        Some(t.agent_id.clone()),
                        t.state,
                        "Reconciliation: latest task status",
                    ));
                } else if let Some((state, msg)) = self.unknown_task_state(pa, q.agent_id.as_ref())
                {
                    replies.push((q.task_id.clone(), q.agent_id.clone(), state, msg));
                } else {
                    tracing::info!(
                        task = %q.task_id,
                        framework = %fid,
                        "dropping reconciliation: its agent (or, with no agent given, some \
                         agent) has not yet reregistered after the master failover"
                    );
                }
            }
        }
        for (t, a, s, msg) in replies {
            self.master_update(
                ctx,
                fid,
                master_status(&t, a.as_ref(), s, Reason::Reconciliation, msg),
            );
        }
    }

    /// What explicit reconciliation answers for a task the master does not know, as Mesos
    /// does: nothing while its agent (or, when none is named, any agent) of the recovered
    /// registry has not reregistered (the framework retries); GONE on a registered agent,
    /// UNREACHABLE on an unreachable one, GONE_BY_OPERATOR on a gone one, UNKNOWN otherwise;
    /// LOST for each of these when the framework is not partition-aware.
    fn unknown_task_state(
        &self,
        partition_aware: bool,
        agent: Option<&AgentID>,
    ) -> Option<(TaskState, &'static str)> {
        let recovering = match agent {
            Some(a) => self.recovered_agents.contains_key(a),
            None => !self.recovered_agents.is_empty(),
        };
        if recovering {
            return None;
        }
        let is = |set: &libprocess::util::HashSet<AgentID>| agent.is_some_and(|a| set.contains(a));
        let (state, msg) = if agent.is_some_and(|a| self.agents.contains_key(a)) {
            (
                TaskState::Gone,
                "Reconciliation: task is unknown to the agent",
            )
        } else if is(&self.unreachable) {
            (
                TaskState::Unreachable,
                "Reconciliation: task is unreachable",
            )
        } else if is(&self.gone) {
            (
                TaskState::GoneByOperator,
                "Reconciliation: agent marked gone by operator",
            )
        } else {
            (TaskState::Unknown, "Reconciliation: task is unknown")
        };
        Some(if partition_aware {
            (state, msg)
        } else {
            (TaskState::Lost, msg)
        })
    }
}
