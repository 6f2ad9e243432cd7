//! Checks on what frameworks ask for, each failure with a message a framework author can act on.

use libprocess::util::HashSet;

use mesos_api::protocol::task::{ExecutorInfo, ExecutorType, TaskInfo};
use mesos_api::{AgentID, Resources, TaskID};

/// Why a task cannot be launched (becomes TASK_ERROR with REASON_TASK_INVALID).
pub(crate) fn task_error(
    task: &TaskInfo,
    agent: &AgentID,
    active: &dyn Fn(&TaskID) -> bool,
    launching: &HashSet<TaskID>,
    remaining: &Resources,
) -> Option<String> {
    if task.task_id.value.is_empty() {
        return Some("task id is empty".into());
    }
    if task.task_id.value.contains('/') || task.task_id.value.chars().any(char::is_control) {
        return Some(format!(
            "task id '{}' contains '/' or control characters",
            task.task_id
        ));
    }
    if active(&task.task_id) || launching.contains(&task.task_id) {
        return Some(format!("task id '{}' is already in use", task.task_id));
    }
    if &task.agent_id != agent {
        return Some(format!(
            "task '{}' names agent '{}' but the offers are for agent '{}'",
            task.task_id, task.agent_id, agent
        ));
    }
    match (&task.command, &task.executor) {
        (None, None) => {
            return Some(format!(
                "task '{}' has neither command nor executor",
                task.task_id
            ))
        }
        (Some(_), Some(_)) => {
            return Some(format!(
                "task '{}' has both command and executor",
                task.task_id
            ))
        }
        _ => {}
    }
    // Set and not honoured would be worse than refused.
    if task.check.is_some() {
        return Some(format!(
            "task '{}': 'check' (checks reported as check_status) is not supported yet; \
             'health_check' is",
            task.task_id
        ));
    }
    if task.limits.as_ref().is_some_and(|l| !l.is_empty()) {
        return Some(format!(
            "task '{}': 'limits' is not supported yet: a task's resources are its limits",
            task.task_id
        ));
    }
    if task.max_completion_time.is_some_and(|d| d.nanoseconds < 0) {
        return Some(format!(
            "task '{}': 'max_completion_time' must not be negative",
            task.task_id
        ));
    }
    let mut wanted = task.resources.clone();
    if let Some(e) = &task.executor {
        wanted.add_all(&e.resources);
    }
    if wanted.is_empty() {
        return Some(format!("task '{}' uses no resources", task.task_id));
    }
    if let Err(e) = wanted.validate() {
        return Some(format!("task '{}': {e}", task.task_id));
    }
    if !remaining.contains(&wanted) {
        return Some(format!(
            "task '{}' uses resources '{}' that are not in the offered '{}'",
            task.task_id, wanted, remaining
        ));
    }
    None
}

/// Why a task group cannot be launched (every task then gets TASK_ERROR with
/// REASON_TASK_GROUP_INVALID).
pub(crate) fn group_error(
    executor: &ExecutorInfo,
    tasks: &[TaskInfo],
    agent: &AgentID,
    active: &dyn Fn(&TaskID) -> bool,
    launching: &HashSet<TaskID>,
    remaining: &Resources,
) -> Option<String> {
    if tasks.is_empty() {
        return Some("the task group is empty".into());
    }
    if executor.kind != Some(ExecutorType::Default) {
        return Some(format!(
            "executor '{}' of a task group must be of type DEFAULT",
            executor.executor_id
        ));
    }
    let mut seen = launching.clone();
    let mut left = remaining.clone();
    if !left.contains(&executor.resources) {
        return Some(format!(
            "executor '{}' uses resources '{}' that are not in the offered '{}'",
            executor.executor_id, executor.resources, remaining
        ));
    }
    left.subtract_all(&executor.resources);
    for t in tasks {
        if t.executor.is_some() {
            return Some(format!(
                "task '{}' of a task group must not name an executor",
                t.task_id
            ));
        }
        if let Some(why) = task_error(t, agent, active, &seen, &left) {
            return Some(why);
        }
        seen.insert(t.task_id.clone());
        left.subtract_all(&t.resources);
    }
    None
}

/// Checks a scheduler call's shape before it is acted on (the HTTP API answers 400 with the
/// message; a binary-transport framework gets an ERROR event).
pub(crate) fn scheduler_call(call: &mesos_api::protocol::scheduler::Call) -> Result<(), String> {
    use mesos_api::protocol::scheduler::CallType as T;
    let kind = call.kind.unwrap_or(T::Unknown);
    let missing = |field: &str| Err(format!("Expecting '{field}' to be present"));
    if kind == T::Unknown {
        return Err("Expecting 'type' to be present and known".into());
    }
    if kind == T::Subscribe {
        let Some(s) = &call.subscribe else {
            return missing("subscribe");
        };
        if call.framework_id.is_some() && call.framework_id != s.framework_info.id {
            return Err(
                "'framework_id' differs from 'subscribe.framework_info.framework_id'".into(),
            );
        }
        return framework_info(&s.framework_info);
    }
    if call.framework_id.is_none() {
        return missing("framework_id");
    }
    match kind {
        T::Accept => match &call.accept {
            None => missing("accept"),
            Some(a) => {
                use mesos_api::protocol::offer::OperationType as O;
                match a
                    .operations
                    .iter()
                    .position(|o| o.kind.unwrap_or(O::Unknown) == O::Unknown)
                {
                    Some(i) => Err(format!(
                        "'accept.operations[{i}].type' is missing or unknown"
                    )),
                    None => Ok(()),
                }
            }
        },
        T::Decline if call.decline.is_none() => missing("decline"),
        T::Kill if call.kill.is_none() => missing("kill"),
        T::AcknowledgeOperationStatus => match &call.acknowledge_operation_status {
            None => missing("acknowledge_operation_status"),
            Some(a) if a.uuid.len() != 16 => Err(format!(
                "'acknowledge_operation_status.uuid' must be 16 bytes, got {}",
                a.uuid.len()
            )),
            Some(_) => Ok(()),
        },
        T::AcceptInverseOffers if call.accept_inverse_offers.is_none() => {
            missing("accept_inverse_offers")
        }
        T::DeclineInverseOffers if call.decline_inverse_offers.is_none() => {
            missing("decline_inverse_offers")
        }
        T::Shutdown if call.shutdown.is_none() => missing("shutdown"),
        T::Message if call.message.is_none() => missing("message"),
        T::Acknowledge => match &call.acknowledge {
            None => missing("acknowledge"),
            Some(a) if a.uuid.len() != 16 => Err(format!(
                "'acknowledge.uuid' must be 16 bytes, got {}",
                a.uuid.len()
            )),
            Some(_) => Ok(()),
        },
        T::UpdateFramework => match &call.update_framework {
            None => missing("update_framework"),
            Some(u) if u.framework_info.id != call.framework_id => {
                Err("'update_framework.framework_info.id' differs from 'framework_id'".into())
            }
            Some(u) => framework_info(&u.framework_info),
        },
        _ => Ok(()),
    }
}

/// The roles a framework names must be valid role names.
fn framework_info(info: &mesos_api::protocol::framework::FrameworkInfo) -> Result<(), String> {
    for r in info.effective_roles() {
        mesos_api::roles::validate(&r).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// A persistent volume's id or a path component: not empty, no `/`, not `.` or `..`, printable
/// (Mesos's rule for ids).
fn safe_id(id: &str) -> bool {
    !id.is_empty()
        && id != "."
        && id != ".."
        && !id.contains('/')
        && !id.chars().any(char::is_control)
}

/// CREATE's volumes, as Mesos checks them: each has a persistence id that is a valid id and is
/// not already used on the agent (`existing`: its checkpointed resources) nor twice here, and
/// a volume whose `container_path` is relative, stays in the sandbox, and is read-write.
pub(crate) fn create_volumes(
    volumes: &mesos_api::Resources,
    existing: &mesos_api::Resources,
) -> Result<(), String> {
    let mut seen: HashSet<String> = existing
        .persistent_volumes()
        .iter()
        .filter_map(|r| r.disk.as_ref()?.persistence.as_ref().map(|p| p.id.clone()))
        .collect();
    for r in volumes.iter() {
        let Some(disk) = r.disk.as_ref() else {
            return Err(format!("'{r}' is not a persistent volume"));
        };
        let Some(p) = &disk.persistence else {
            return Err(format!("'{r}' is not a persistent volume"));
        };
        if r.shared {
            return Err(format!(
                "Persistent volume '{}': shared volumes (SHARED_RESOURCES) are not supported",
                p.id
            ));
        }
        if !safe_id(&p.id) {
            return Err(format!("Invalid persistence ID '{}'", p.id));
        }
        if !seen.insert(p.id.clone()) {
            return Err(format!("Persistence ID '{}' is already in use", p.id));
        }
        let Some(v) = &disk.volume else {
            return Err(format!("Persistent volume '{}' has no 'volume'", p.id));
        };
        let path = &v.container_path;
        if path.is_empty() || path.starts_with('/') || path.split('/').any(|c| c == "..") {
            return Err(format!(
                "Persistent volume '{}': 'container_path' '{path}' must be relative and stay in the sandbox",
                p.id
            ));
        }
        if v.mode != mesos_api::resources::VolumeMode::Rw {
            return Err(format!("Persistent volume '{}' must be read-write", p.id));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use mesos_api::Resources;
    use serde_json::json;

    fn volume(id: &str, path: &str, extra: serde_json::Value) -> Resources {
        let mut r = json!({"name": "disk", "type": "SCALAR", "scalar": {"value": 8},
            "reservations": [{"type": "DYNAMIC", "role": "r"}],
            "disk": {"persistence": {"id": id}, "volume": {"container_path": path, "mode": "RW"}}});
        if let (Some(o), Some(e)) = (r.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        Resources::from_json(&json!([r])).unwrap()
    }

    #[test]
    fn created_volumes_need_a_fresh_safe_id_and_a_relative_path() {
        let none = Resources::new();
        assert_eq!(
            super::create_volumes(&volume("v1", "data", json!({})), &none),
            Ok(())
        );
        let err =
            |v: Resources, existing: &Resources| super::create_volumes(&v, existing).unwrap_err();
        assert!(err(
            volume("v1", "data", json!({})),
            &volume("v1", "x", json!({}))
        )
        .contains("already in use"));
        assert!(err(volume("..", "data", json!({})), &none).contains("Invalid persistence ID"));
        assert!(err(volume("a/b", "data", json!({})), &none).contains("Invalid persistence ID"));
        assert!(err(volume("v1", "/abs", json!({})), &none).contains("must be relative"));
        assert!(err(volume("v1", "../out", json!({})), &none).contains("must be relative"));
        assert!(err(volume("v1", "data", json!({"shared": {}})), &none).contains("shared"));
    }
}
