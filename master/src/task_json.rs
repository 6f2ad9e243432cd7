//! A task in the classic endpoints' form (`/master/state`, `/master/tasks`), written straight
//! from the master's record without a JSON tree.

use mesos_api::messages::Task;
use mesos_api::protocol::to_json;
use mesos_api::Summary;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;

/// A task in the classic form, serialized straight from the master's records.
#[derive(Serialize)]
pub(crate) struct TaskView<'a> {
    id: &'a str,
    name: &'a str,
    framework_id: &'a str,
    executor_id: &'a str,
    slave_id: &'a str,
    state: &'static str,
    resources: Summary<'a>,
    role: &'a str,
    statuses: Statuses<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    labels: Option<Value>,
    /// `container`, `discovery`, `health_check`, `kill_policy`, `max_completion_time`, when set.
    #[serde(flatten)]
    details: Option<Value>,
}

#[derive(Serialize)]
struct StatusView<'a> {
    state: &'static str,
    timestamp: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    healthy: Option<bool>,
    /// The container and its addresses (where service discovery reads a task's IP, as in
    /// Mesos's state).
    #[serde(skip_serializing_if = "Option::is_none")]
    container_status: Option<&'a mesos_api::protocol::task::ContainerStatus>,
}

/// A task's statuses, written as they are read.
struct Statuses<'a>(&'a [mesos_api::protocol::task::TaskStatus]);

impl Serialize for Statuses<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|st| StatusView {
            state: st.state.as_str(),
            timestamp: st.timestamp.unwrap_or(0.0),
            healthy: st.healthy,
            container_status: st.container_status.as_deref(),
        }))
    }
}

/// A task in the classic form.
pub(crate) fn task<'a>(t: &'a Task, role: &'a str) -> TaskView<'a> {
    TaskView {
        id: &t.task_id.value,
        name: &t.name,
        framework_id: &t.framework_id.value,
        executor_id: t
            .executor_id
            .as_ref()
            .map(|e| e.value.as_str())
            .unwrap_or(""),
        slave_id: &t.agent_id.value,
        state: t.state.as_str(),
        resources: Summary(&t.resources),
        role,
        statuses: Statuses(&t.statuses),
        labels: t.labels.as_ref().map(|l| to_json(&l.labels)),
        details: t.details.as_ref().map(|d| to_json(&**d)),
    }
}

/// A task's classic form, written once (a completed task never changes again).
pub(crate) fn task_json(t: &Task, role: &str) -> Box<RawValue> {
    let text = serde_json::to_string(&task(t, role)).unwrap_or_else(|_| "{}".into());
    RawValue::from_string(text).unwrap_or_else(|_| RawValue::NULL.to_owned())
}
