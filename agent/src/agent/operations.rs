//! Operation feedback on the agent (Mesos's operation status update manager, for the agent's
//! own resources): an operation the master sends with `ApplyOperationMessage` is applied (its
//! checkpointed resources written, volumes made or removed), then its OPERATION_FINISHED status
//! is sent to the master and retried with backoff (10 s doubling to 10 min, as task updates)
//! until the framework's acknowledgement comes back. Unacknowledged statuses are checkpointed in
//! `meta/slaves/<agent>/operations.json` and sent again after a restart.

use std::collections::BTreeMap;
use std::time::Duration;

use libprocess::{Context, UPID};
use mesos_api::messages::{
    AcknowledgeOperationStatusMsg, ApplyOperation, UpdateOperationStatusMsg, WireMessage,
};
use mesos_api::protocol::offer::{OfferOperation, OperationState, OperationStatus, Uuid};
use mesos_api::FrameworkID;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::recovery::hex;
use super::Agent;
use crate::paths;
use crate::status_update_manager::{INITIAL_BACKOFF, MAX_BACKOFF};

/// An operation whose status the framework has not acknowledged yet.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct PendingOperation {
    framework_id: FrameworkID,
    info: OfferOperation,
    status: OperationStatus,
    #[serde(skip, default = "initial")]
    backoff: Duration,
}

fn initial() -> Duration {
    INITIAL_BACKOFF
}

/// The pending operations, by the master's uuid of each (hex, so that the checkpoint is JSON
/// with string keys).
pub(super) type PendingOperations = BTreeMap<String, PendingOperation>;

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .filter_map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

impl Agent {
    fn operations_path(&self) -> Option<std::path::PathBuf> {
        let id = self.info.id.as_ref()?;
        Some(paths::agent_meta_dir(&self.flags.work_dir, id).join("operations.json"))
    }

    fn checkpoint_operations(&self) {
        let Some(p) = self.operations_path() else {
            return;
        };
        let bytes = serde_json::to_vec(&self.operations).unwrap_or_default();
        if let Err(e) = super::recovery::write_atomic(&p, &bytes) {
            self.checkpoint_failed(&e);
        }
    }

    /// ApplyOperationMessage: the resources checkpointed first, then OPERATION_FINISHED sent.
    pub(super) fn apply_operation(
        &mut self,
        ctx: &mut Context<Self>,
        from: UPID,
        m: ApplyOperation,
    ) {
        if Some(&from) != self.master.as_ref() {
            tracing::warn!(%from, "ignoring an operation from a process that is not the master");
            return;
        }
        self.checkpoint_resources(m.resources);
        let status = OperationStatus {
            operation_id: m.info.id.clone(),
            state: OperationState::Finished,
            message: None,
            converted_resources: Default::default(),
            uuid: Some(Uuid {
                value: mesos_api::ids::new_uuid_bytes(),
            }),
            agent_id: self.info.id.clone(),
        };
        let key = hex(&m.operation_uuid);
        tracing::info!(framework = %m.framework_id, operation = ?m.info.id, "applied an operation");
        self.operations.insert(
            key.clone(),
            PendingOperation {
                framework_id: m.framework_id,
                info: m.info,
                status,
                backoff: INITIAL_BACKOFF,
            },
        );
        self.checkpoint_operations();
        self.send_operation_status(ctx, &key);
    }

    /// Sends an operation's status to the master and schedules its retry.
    fn send_operation_status(&mut self, ctx: &mut Context<Self>, key: &str) {
        let master = self.master.clone();
        let Some(p) = self.operations.get_mut(key) else {
            return;
        };
        if let Some(master) = master.filter(|_| self.registered) {
            ctx.send_named(
                &master,
                UpdateOperationStatusMsg::NAME,
                UpdateOperationStatusMsg {
                    framework_id: p.framework_id.clone(),
                    operation_uuid: unhex(key),
                    status: p.status.clone(),
                },
            );
        }
        let d = p.backoff;
        p.backoff = (p.backoff * 2).min(MAX_BACKOFF);
        let (k, status) = (key.to_string(), p.status.uuid.clone());
        ctx.delay(d, move |a: &mut Agent, c| {
            // Only while that status is still unacknowledged.
            if a.operations
                .get(&k)
                .is_some_and(|p| p.status.uuid == status)
            {
                tracing::debug!(operation = %k, "retrying an operation status");
                a.send_operation_status(c, &k);
            }
        });
    }

    /// The framework acknowledged a status: the operation is done with.
    pub(super) fn acknowledge_operation(&mut self, from: UPID, m: AcknowledgeOperationStatusMsg) {
        if Some(&from) != self.master.as_ref() {
            return;
        }
        let key = hex(&m.operation_uuid);
        let matches = self
            .operations
            .get(&key)
            .is_some_and(|p| p.status.uuid.as_ref().map(|u| &u.value) == Some(&m.status_uuid));
        if matches {
            self.operations.remove(&key);
            self.checkpoint_operations();
        } else {
            tracing::warn!(operation = %key, "ignoring an acknowledgement of an unknown operation status");
        }
    }

    /// After a restart: the unacknowledged statuses of before, sent again.
    pub(super) fn recover_operations(&mut self, ctx: &mut Context<Self>) {
        let Some(p) = self.operations_path() else {
            return;
        };
        let Ok(bytes) = std::fs::read(&p) else {
            return;
        };
        match serde_json::from_slice::<PendingOperations>(&bytes) {
            Ok(ops) => {
                self.operations = ops;
                let keys: Vec<String> = self.operations.keys().cloned().collect();
                for k in keys {
                    ctx.delay(INITIAL_BACKOFF, move |a: &mut Agent, c| {
                        a.send_operation_status(c, &k)
                    });
                }
            }
            Err(e) => self.checkpoint_failed(&format!(
                "cannot read the operations checkpoint '{}': {e}",
                p.display()
            )),
        }
    }

    /// GET_OPERATIONS: the operations whose status is not acknowledged yet.
    pub(super) fn v1_operations(&self) -> Value {
        let ops: Vec<Value> = self
            .operations
            .iter()
            .map(|(k, p)| {
                json!({
                    "framework_id": {"value": p.framework_id.value},
                    "agent_id": self.info.id.as_ref().map(|i| json!({"value": i.value})),
                    "info": mesos_api::protocol::to_json(&p.info),
                    "latest_status": mesos_api::protocol::to_json(&p.status),
                    "statuses": [mesos_api::protocol::to_json(&p.status)],
                    "uuid": {"value": mesos_api::serde_util::base64_encode(&unhex(k))},
                })
            })
            .collect();
        json!({"operations": ops})
    }
}
