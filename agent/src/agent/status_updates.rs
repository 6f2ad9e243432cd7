//! Status updates: each is recorded against its task, checkpointed, and sent to the master
//! through the task status update manager, which retries the head of each task's stream until
//! the master acknowledges it.

use libprocess::{Context, UPID};
use mesos_api::messages::{StatusUpdate, StatusUpdateAcknowledgement, WireMessage};
use mesos_api::protocol::container::{IpAddress, NetworkInfo};
use mesos_api::protocol::task::{ContainerStatus, TaskStatus};
use mesos_api::{AgentID, ExecutorID, FrameworkID};

use super::{now_secs, Agent};
use crate::status_update_manager::Acked;

impl Agent {
    /// Records an update against its task and queues it for the master.
    pub(super) fn handle_update(
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
        // The task's container, its executor's pid and, with host networking, the agent's IP
        // (Mesos fills these in the same way).
        let exec = eid
            .as_ref()
            .and_then(|e| self.frameworks.get(fid)?.executors.get(e));
        if let (Some(e), Some(cs)) = (exec, status.container_status.as_mut()) {
            // The executor told the addresses (a docker container's): the agent adds whose
            // container it is.
            cs.container_id
                .get_or_insert_with(|| e.container_id.clone());
            if cs.executor_pid.is_none() {
                cs.executor_pid = e.os_pid.and_then(|p| u32::try_from(p).ok());
            }
        }
        if let (Some(e), None) = (exec, &status.container_status) {
            // On CNI networks: its addresses there (network/cni keeps them).
            let mut network_infos = self.containerizer.network_infos(&e.container_id.value);
            if network_infos.is_empty() {
                let ip = ctx.self_upid().addr().ip().to_string();
                network_infos = vec![NetworkInfo {
                    ip_addresses: vec![IpAddress {
                        protocol: None,
                        ip_address: Some(ip),
                    }],
                    ..NetworkInfo::default()
                }];
            }
            status.container_status = Some(Box::new(ContainerStatus {
                container_id: Some(e.container_id.clone()),
                executor_pid: e.os_pid.and_then(|p| u32::try_from(p).ok()),
                network_infos,
            }));
        }
        let mut latest = Some(status.state);
        let mut ended = None;
        if let Some(t) = eid
            .as_ref()
            .and_then(|e| self.executor_mut(fid, e))
            .and_then(|e| e.tasks.get_mut(&status.task_id))
        {
            if status.state.is_terminal() && !t.state.is_terminal() {
                ended = Some(status.state);
            }
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
        self.count(|m| {
            m.valid_status_updates.inc();
            if let Some(s) = ended {
                m.terminal(s);
            }
        });
        self.metrics_changed(ctx);
        if let Some(head) = self.updates.push(u) {
            self.forward(ctx, head);
        }
    }

    pub(super) fn forward(&mut self, ctx: &mut Context<Self>, mut u: StatusUpdate) {
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

    pub(super) fn acknowledgement(
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
                            if let Some(t) = e.tasks.remove(&m.task_id) {
                                super::state::push_bounded(
                                    &mut e.completed_tasks,
                                    t,
                                    super::state::MAX_COMPLETED_TASKS_PER_EXECUTOR,
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}
