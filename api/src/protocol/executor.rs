//! The v1 executor API (`POST /api/v1/executor` on the agent): `Call` (executor to agent) and
//! `Event` (agent to executor), both in their JSON form.

use serde::{Deserialize, Serialize};

use super::enums::proto_enum;
use super::framework::{AgentInfo, FrameworkInfo};
use super::task::{ExecutorInfo, KillPolicy, TaskGroupInfo, TaskInfo, TaskStatus};
use crate::ids::{ContainerID, ExecutorID, FrameworkID, TaskID};

proto_enum!(
    /// Executor call types.
    CallType {
        Unknown = 0 => "UNKNOWN",
        Subscribe = 1 => "SUBSCRIBE",
        Update = 2 => "UPDATE",
        Message = 3 => "MESSAGE",
        Heartbeat = 4 => "HEARTBEAT",
    } fallback Unknown
);

proto_enum!(
    /// Executor event types.
    EventType {
        Unknown = 0 => "UNKNOWN",
        Subscribed = 1 => "SUBSCRIBED",
        Launch = 2 => "LAUNCH",
        LaunchGroup = 8 => "LAUNCH_GROUP",
        Kill = 3 => "KILL",
        Acknowledged = 4 => "ACKNOWLEDGED",
        Message = 5 => "MESSAGE",
        Error = 6 => "ERROR",
        Shutdown = 7 => "SHUTDOWN",
        Heartbeat = 9 => "HEARTBEAT",
    } fallback Unknown
);

/// SUBSCRIBE: what the executor already holds (on resubscription after an agent restart).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Subscribe {
    /// Tasks launched but with no update acknowledged.
    #[serde(default)]
    pub unacknowledged_tasks: Vec<TaskInfo>,
    /// Updates sent but not acknowledged.
    #[serde(default)]
    pub unacknowledged_updates: Vec<CallUpdate>,
}

/// UPDATE: a task's status (with a uuid chosen by the executor).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallUpdate {
    /// The status.
    pub status: TaskStatus,
}

/// MESSAGE (either direction): opaque data for the scheduler / from it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// The payload.
    #[serde(with = "crate::serde_util::bytes")]
    pub data: Vec<u8>,
}

/// A call from an executor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Call {
    /// The executor.
    pub executor_id: ExecutorID,
    /// Its framework.
    pub framework_id: FrameworkID,
    /// Which call.
    #[serde(rename = "type", default)]
    pub kind: Option<CallType>,
    /// SUBSCRIBE.
    #[serde(default)]
    pub subscribe: Option<Subscribe>,
    /// UPDATE.
    #[serde(default)]
    pub update: Option<CallUpdate>,
    /// MESSAGE.
    #[serde(default)]
    pub message: Option<Message>,
}

impl Call {
    /// A call of a type with no payload yet.
    pub fn new(kind: CallType, executor_id: ExecutorID, framework_id: FrameworkID) -> Call {
        Call {
            executor_id,
            framework_id,
            kind: Some(kind),
            subscribe: None,
            update: None,
            message: None,
        }
    }
}

/// SUBSCRIBED.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Subscribed {
    /// The executor.
    pub executor_info: ExecutorInfo,
    /// Its framework.
    pub framework_info: FrameworkInfo,
    /// The agent.
    pub agent_info: AgentInfo,
    /// The executor's container.
    #[serde(default)]
    pub container_id: Option<ContainerID>,
}

/// LAUNCH.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Launch {
    /// The task.
    pub task: TaskInfo,
}

/// LAUNCH_GROUP.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LaunchGroup {
    /// The tasks, launched together.
    pub task_group: TaskGroupInfo,
}

/// KILL.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Kill {
    /// The task.
    pub task_id: TaskID,
    /// May shorten the grace period.
    #[serde(default)]
    pub kill_policy: Option<KillPolicy>,
}

/// ACKNOWLEDGED: the agent holds the update (the executor may forget it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Acknowledged {
    /// The task.
    pub task_id: TaskID,
    /// The update's uuid.
    #[serde(with = "crate::serde_util::bytes")]
    pub uuid: Vec<u8>,
}

/// ERROR.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Error {
    /// What went wrong.
    pub message: String,
}

/// An event for an executor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Which event.
    #[serde(rename = "type", default)]
    pub kind: Option<EventType>,
    /// SUBSCRIBED.
    #[serde(default)]
    pub subscribed: Option<Subscribed>,
    /// LAUNCH.
    #[serde(default)]
    pub launch: Option<Launch>,
    /// LAUNCH_GROUP.
    #[serde(default)]
    pub launch_group: Option<LaunchGroup>,
    /// KILL.
    #[serde(default)]
    pub kill: Option<Kill>,
    /// ACKNOWLEDGED.
    #[serde(default)]
    pub acknowledged: Option<Acknowledged>,
    /// MESSAGE.
    #[serde(default)]
    pub message: Option<Message>,
    /// ERROR.
    #[serde(default)]
    pub error: Option<Error>,
}

impl Event {
    /// An event of a type with no payload yet.
    pub fn new(kind: EventType) -> Event {
        Event {
            kind: Some(kind),
            subscribed: None,
            launch: None,
            launch_group: None,
            kill: None,
            acknowledged: None,
            message: None,
            error: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::task::TaskState;

    #[test]
    fn update_call_json_matches_mesos_form() {
        let mut status = TaskStatus::new(TaskID::new("t1"), TaskState::Running);
        status.uuid = Some(vec![0u8; 16]);
        let mut c = Call::new(
            CallType::Update,
            ExecutorID::new("e"),
            FrameworkID::new("f"),
        );
        c.update = Some(CallUpdate { status });
        let j = crate::protocol::to_json(&c);
        assert_eq!(j["type"], "UPDATE");
        assert_eq!(j["executor_id"]["value"], "e");
        assert_eq!(j["update"]["status"]["state"], "TASK_RUNNING");
        assert_eq!(j["update"]["status"]["uuid"], "AAAAAAAAAAAAAAAAAAAAAA==");
        assert!(j.get("subscribe").is_none());
        let back: Call = crate::protocol::from_json(&j).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn kill_event_reads_with_unknown_fields_and_rejects_a_missing_task() {
        let e: Event =
            serde_json::from_str(r#"{"type":"KILL","kill":{"task_id":{"value":"t"}},"extra":1}"#)
                .unwrap();
        assert_eq!(e.kind, Some(EventType::Kill));
        assert_eq!(e.kill.unwrap().task_id.value, "t");
        assert!(serde_json::from_str::<Event>(r#"{"type":"KILL","kill":{}}"#).is_err());
    }
}
