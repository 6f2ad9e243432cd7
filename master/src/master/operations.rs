//! Operation feedback, as Mesos gives it for operations on an agent's own resources: an offer
//! operation (RESERVE, UNRESERVE, CREATE, DESTROY) with an `id` is recorded PENDING and sent to
//! its agent (`ApplyOperationMessage`); the agent applies and checkpoints it and reports
//! OPERATION_FINISHED, retrying until the framework acknowledges it
//! (ACKNOWLEDGE_OPERATION_STATUS, passed on to the agent). A terminal status acknowledged, the
//! master forgets the operation. RECONCILE_OPERATIONS answers with the latest status of each
//! operation asked about (or all of the framework's), OPERATION_UNKNOWN (or UNREACHABLE, GONE)
//! for the ones it does not know. An operation with an id the master refuses gets
//! OPERATION_ERROR at once (no uuid: nothing to acknowledge).

use libprocess::util::HashMap;

use libprocess::{Context, UPID};
use mesos_api::messages::{
    AcknowledgeOperationStatusMsg, ApplyOperation, UpdateOperationStatusMsg,
};
use mesos_api::protocol::offer::{OfferOperation, OperationState, OperationStatus};
use mesos_api::protocol::scheduler::{
    AcknowledgeOperationStatus, Event, EventType, ReconcileOperations, UpdateOperationStatus,
};
use mesos_api::{AgentID, FrameworkID, OperationID};
use serde_json::{json, Value};

use super::Master;

/// An operation the master follows.
pub(crate) struct OperationRec {
    framework_id: FrameworkID,
    agent_id: AgentID,
    info: OfferOperation,
    latest: OperationStatus,
    statuses: Vec<OperationStatus>,
}

/// The operations with feedback, by the master's uuid for each, and by framework and id.
#[derive(Default)]
pub(crate) struct Operations {
    by_uuid: HashMap<Vec<u8>, OperationRec>,
    by_id: HashMap<(FrameworkID, OperationID), Vec<u8>>,
}

fn status(
    id: Option<OperationID>,
    state: OperationState,
    agent: Option<&AgentID>,
    message: Option<&str>,
) -> OperationStatus {
    OperationStatus {
        operation_id: id,
        state,
        message: message.map(str::to_string),
        converted_resources: Default::default(),
        uuid: None,
        agent_id: agent.cloned(),
    }
}

impl Master {
    fn operation_event(&self, ctx: &Context<Self>, fid: &FrameworkID, s: OperationStatus) {
        let ev = Event {
            update_operation_status: Some(UpdateOperationStatus { status: s }),
            ..Event::new(EventType::UpdateOperationStatus)
        };
        self.send_event(ctx, fid, ev);
    }

    /// An operation with an id that is refused: OPERATION_ERROR with why.
    pub(super) fn operation_refused(
        &self,
        ctx: &Context<Self>,
        fid: &FrameworkID,
        agent: &AgentID,
        op: &OfferOperation,
        why: &str,
    ) {
        if let Some(id) = &op.id {
            let s = status(
                Some(id.clone()),
                OperationState::Error,
                Some(agent),
                Some(why),
            );
            self.operation_event(ctx, fid, s);
        }
    }

    /// An applied operation with an id: followed (PENDING) and sent to its agent with the
    /// agent's new checkpointed resources.
    pub(super) fn track_operation(
        &mut self,
        ctx: &mut Context<Self>,
        fid: &FrameworkID,
        agent_id: &AgentID,
        info: OfferOperation,
    ) {
        let Some(id) = info.id.clone() else {
            return;
        };
        let Some(agent) = self.agents.get(agent_id) else {
            return;
        };
        let uuid = mesos_api::ids::new_uuid_bytes();
        Self::send(
            ctx,
            &agent.pid,
            ApplyOperation {
                framework_id: fid.clone(),
                info: info.clone(),
                operation_uuid: uuid.clone(),
                resources: agent.checkpointed.clone(),
            },
        );
        let pending = status(
            Some(id.clone()),
            OperationState::Pending,
            Some(agent_id),
            None,
        );
        // An id used again replaces the operation it named.
        if let Some(old) = self
            .operations
            .by_id
            .insert((fid.clone(), id), uuid.clone())
        {
            self.operations.by_uuid.remove(&old);
        }
        self.operations.by_uuid.insert(
            uuid,
            OperationRec {
                framework_id: fid.clone(),
                agent_id: agent_id.clone(),
                info,
                latest: pending,
                statuses: Vec::new(),
            },
        );
    }

    /// An agent's operation status: recorded and passed on to the framework.
    pub(super) fn operation_status_update(
        &mut self,
        ctx: &mut Context<Self>,
        from: &UPID,
        m: UpdateOperationStatusMsg,
    ) {
        let Some(rec) = self.operations.by_uuid.get_mut(&m.operation_uuid) else {
            tracing::warn!(%from, framework = %m.framework_id, "ignoring the status of an unknown operation");
            return;
        };
        if self.agents.get(&rec.agent_id).map(|a| &a.pid) != Some(from) {
            tracing::warn!(%from, "ignoring an operation status from a process that is not its agent");
            return;
        }
        if !rec.statuses.iter().any(|s| s.uuid == m.status.uuid) {
            rec.statuses.push(m.status.clone());
        }
        rec.latest = m.status.clone();
        let fid = rec.framework_id.clone();
        self.operation_event(ctx, &fid, m.status);
    }

    /// ACKNOWLEDGE_OPERATION_STATUS: passed on to the agent; a terminal status acknowledged
    /// ends the master's record of the operation.
    pub(super) fn acknowledge_operation(
        &mut self,
        ctx: &mut Context<Self>,
        fid: &FrameworkID,
        a: AcknowledgeOperationStatus,
    ) {
        let key = (fid.clone(), a.operation_id.clone());
        let Some(uuid) = self.operations.by_id.get(&key).cloned() else {
            tracing::warn!(framework = %fid, operation = %a.operation_id, "ignoring an acknowledgement of an unknown operation");
            return;
        };
        let Some(rec) = self.operations.by_uuid.get(&uuid) else {
            return;
        };
        let Some(acked) = rec
            .statuses
            .iter()
            .find(|s| s.uuid.as_ref().map(|u| &u.value) == Some(&a.uuid))
        else {
            tracing::warn!(framework = %fid, operation = %a.operation_id, "ignoring an acknowledgement of an unknown operation status");
            return;
        };
        let terminal = acked.state.is_terminal();
        if let Some(agent) = self.agents.get(&rec.agent_id) {
            Self::send(
                ctx,
                &agent.pid,
                AcknowledgeOperationStatusMsg {
                    operation_uuid: uuid.clone(),
                    status_uuid: a.uuid,
                },
            );
        }
        if terminal {
            self.operations.by_uuid.remove(&uuid);
            self.operations.by_id.remove(&key);
        }
    }

    /// RECONCILE_OPERATIONS: the latest status of each operation (none named: each of the
    /// framework's), without a uuid.
    pub(super) fn reconcile_operations(
        &mut self,
        ctx: &mut Context<Self>,
        fid: &FrameworkID,
        r: ReconcileOperations,
    ) {
        let answers: Vec<OperationStatus> = if r.operations.is_empty() {
            self.operations
                .by_uuid
                .values()
                .filter(|o| &o.framework_id == fid)
                .map(|o| o.latest.clone())
                .collect()
        } else {
            r.operations
                .into_iter()
                .map(|q| {
                    let key = (fid.clone(), q.operation_id.clone());
                    if let Some(o) = self
                        .operations
                        .by_id
                        .get(&key)
                        .and_then(|u| self.operations.by_uuid.get(u))
                    {
                        return o.latest.clone();
                    }
                    let state = match &q.agent_id {
                        Some(a) if self.unreachable.contains(a) => OperationState::Unreachable,
                        Some(a) if self.gone.contains(a) => OperationState::GoneByOperator,
                        _ => OperationState::Unknown,
                    };
                    status(Some(q.operation_id), state, q.agent_id.as_ref(), None)
                })
                .collect()
        };
        for mut s in answers {
            s.uuid = None;
            self.operation_event(ctx, fid, s);
        }
    }

    /// The operations for GET_OPERATIONS, as Mesos's `Operation`.
    pub(crate) fn v1_operations(&self) -> Value {
        let ops: Vec<Value> = self
            .operations
            .by_uuid
            .iter()
            .map(|(uuid, o)| {
                operation_json(
                    &o.framework_id,
                    &o.agent_id,
                    &o.info,
                    &o.latest,
                    &o.statuses,
                    uuid,
                )
            })
            .collect();
        json!({"operations": ops})
    }
}

/// Mesos's v1 `Operation` in JSON (the agent's GET_OPERATIONS uses it too).
pub(crate) fn operation_json(
    fid: &FrameworkID,
    agent: &AgentID,
    info: &OfferOperation,
    latest: &OperationStatus,
    statuses: &[OperationStatus],
    uuid: &[u8],
) -> Value {
    use mesos_api::protocol::to_json;
    json!({
        "framework_id": {"value": fid.value},
        "agent_id": {"value": agent.value},
        "info": to_json(info),
        "latest_status": to_json(latest),
        "statuses": statuses.iter().map(to_json).collect::<Vec<_>>(),
        "uuid": {"value": mesos_api::serde_util::base64_encode(uuid)},
    })
}
