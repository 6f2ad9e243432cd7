//! Checks on what frameworks ask for, each failure with a message a framework author can act on.

use std::collections::HashSet;

use mesos_api::protocol::task::{ExecutorInfo, ExecutorType, TaskInfo};
use mesos_api::{AgentID, Resources, TaskID};

/// Why a task cannot be launched (becomes TASK_ERROR with REASON_TASK_INVALID).
pub(crate) fn task_error(
    task: &TaskInfo,
    agent: &AgentID,
    active: &HashSet<TaskID>,
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
    if active.contains(&task.task_id) || launching.contains(&task.task_id) {
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
    active: &HashSet<TaskID>,
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
