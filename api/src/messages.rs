//! Internal messages between master and agents on the binary transport (after Mesos's
//! `messages.proto`). Each has a wire name ([`WireMessage::NAME`]); components send them with
//! the runtime's named sends, so this crate needs no runtime.

use serde::{Deserialize, Serialize};

use crate::ids::{AgentID, ExecutorID, FrameworkID, TaskID};
use crate::protocol::framework::{AgentInfo, FrameworkInfo};
use crate::protocol::task::{
    ExecutorInfo, KillPolicy, Labels, TaskGroupInfo, TaskInfo, TaskState, TaskStatus,
};
use crate::resources::Resources;

/// A message with a name on the wire.
pub trait WireMessage: Serialize + for<'de> Deserialize<'de> + Send + 'static {
    /// The name it is sent and installed under.
    const NAME: &'static str;
}

macro_rules! wire {
    ($t:ident => $n:literal) => {
        impl WireMessage for $t {
            const NAME: &'static str = $n;
        }
    };
}

/// A task as the master and agents track it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// Name.
    pub name: String,
    /// Id.
    pub task_id: TaskID,
    /// Framework.
    pub framework_id: FrameworkID,
    /// Executor (absent for command tasks until known).
    #[serde(default)]
    pub executor_id: Option<ExecutorID>,
    /// Agent.
    pub agent_id: AgentID,
    /// Latest state.
    pub state: TaskState,
    /// Resources (allocated form).
    #[serde(default)]
    pub resources: Resources,
    /// Every status seen, oldest first.
    #[serde(default)]
    pub statuses: Vec<TaskStatus>,
    /// State of the update being delivered (may lag `state`).
    #[serde(default)]
    pub status_update_state: Option<TaskState>,
    /// Its uuid.
    #[serde(default, with = "crate::serde_util::opt_bytes")]
    pub status_update_uuid: Option<Vec<u8>>,
    /// Labels.
    #[serde(default)]
    pub labels: Option<Labels>,
    /// The user it runs as, when its command names one (else its framework's).
    #[serde(default)]
    pub user: Option<String>,
    /// What else its TaskInfo set, shown in state (boxed: most tasks set none of it).
    #[serde(default)]
    pub details: Option<Box<TaskDetails>>,
}

impl Task {
    /// Records a status update as Mesos's master does: an update that repeats the latest state
    /// replaces it, and the update's `data` is not kept (it may be large: MESOS-1746). The list
    /// grows by one at a time: a task holds only a few statuses, and a vector's first growth
    /// would reserve room for four (about a kilobyte per task at scale).
    pub fn record_status(&mut self, mut status: TaskStatus) {
        status.data = None;
        if self
            .statuses
            .last()
            .is_some_and(|s| s.state == status.state)
        {
            self.statuses.pop();
        }
        self.statuses.reserve_exact(1);
        self.statuses.push(status);
    }
}

/// The parts of a TaskInfo the state endpoints show beside a task, when set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskDetails {
    /// Its container.
    #[serde(default)]
    pub container: Option<crate::protocol::container::ContainerInfo>,
    /// Its service-discovery names.
    #[serde(default)]
    pub discovery: Option<crate::protocol::task::DiscoveryInfo>,
    /// Its health check.
    #[serde(default)]
    pub health_check: Option<crate::protocol::container::HealthCheck>,
    /// Its kill policy.
    #[serde(default)]
    pub kill_policy: Option<crate::protocol::task::KillPolicy>,
    /// Its maximum completion time.
    #[serde(default)]
    pub max_completion_time: Option<crate::protocol::task::DurationInfo>,
}

impl TaskDetails {
    /// The details `t` sets, if any.
    pub fn of(t: &crate::protocol::task::TaskInfo) -> Option<Box<TaskDetails>> {
        let d = TaskDetails {
            container: t.container.clone(),
            discovery: t.discovery.clone(),
            health_check: t.health_check.clone(),
            kill_policy: t.kill_policy.clone(),
            max_completion_time: t.max_completion_time,
        };
        (d != TaskDetails::default()).then(|| Box::new(d))
    }
}

/// Agent -> master: first registration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RegisterAgent {
    /// The agent.
    pub agent: AgentInfo,
    /// Its version.
    pub version: String,
    /// Capability names.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// Checkpointed dynamic reservations and volumes.
    #[serde(default)]
    pub checkpointed_resources: Resources,
}
wire!(RegisterAgent => "mesos.internal.RegisterSlaveMessage");

/// Master -> agent: registered, with its id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentRegistered {
    /// The new id.
    pub agent_id: AgentID,
    /// Seconds without a ping after which the agent takes the master for lost and registers
    /// again (Mesos's `connection.total_ping_timeout_seconds`: `agent_ping_timeout` times
    /// `max_agent_ping_timeouts`).
    pub total_ping_timeout_secs: f64,
}
wire!(AgentRegistered => "mesos.internal.SlaveRegisteredMessage");

/// Agent -> master: reregistration with everything it runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReregisterAgent {
    /// The agent (with its id).
    pub agent: AgentInfo,
    /// Its version.
    pub version: String,
    /// Capability names.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// Checkpointed dynamic reservations and volumes.
    #[serde(default)]
    pub checkpointed_resources: Resources,
    /// Executors running.
    #[serde(default)]
    pub executor_infos: Vec<ExecutorInfo>,
    /// Tasks known.
    #[serde(default)]
    pub tasks: Vec<Task>,
    /// Their frameworks.
    #[serde(default)]
    pub frameworks: Vec<FrameworkInfo>,
}
wire!(ReregisterAgent => "mesos.internal.ReregisterSlaveMessage");

/// Master -> agent: reregistered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentReregistered {
    /// Its id.
    pub agent_id: AgentID,
    /// As in [`AgentRegistered`].
    pub total_ping_timeout_secs: f64,
    /// Live tasks the master holds for the agent that its reregistration did not report
    /// (Mesos's `reconciliations`): a launch was lost, or raced the reregistration. The agent
    /// answers for each one it does not know with a terminal update (LOST, DROPPED for a
    /// partition-aware framework), and for one it knows with nothing: its updates follow.
    #[serde(default)]
    pub reconcile: Vec<UnreportedTask>,
}

/// A task the master asks a reregistered agent about (see [`AgentReregistered::reconcile`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UnreportedTask {
    /// Its framework.
    pub framework_id: FrameworkID,
    /// The task.
    pub task_id: TaskID,
    /// Whether the framework is partition-aware (DROPPED rather than LOST).
    pub partition_aware: bool,
}
wire!(AgentReregistered => "mesos.internal.SlaveReregisteredMessage");

/// Master -> agent: health check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PingAgent {
    /// Whether the master considers the agent connected.
    pub connected: bool,
}
wire!(PingAgent => "mesos.internal.PingSlaveMessage");

/// Master -> agent: shut down (the agent was marked gone, or a gone agent tried to come back):
/// the agent kills every executor, forgets its id and exits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShutdownAgent {
    /// Why.
    pub message: String,
}
wire!(ShutdownAgent => "mesos.internal.ShutdownMessage");

/// Master -> agent: drain (DRAIN_AGENT): kill every task, each with its kill policy's grace
/// period capped at `max_grace_period_ns`, and take no new ones.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DrainAgent {
    /// The longest grace period a task's kill gets (none: its own).
    pub max_grace_period_ns: Option<i64>,
    /// Whether the agent is marked gone once drained.
    pub mark_gone: bool,
}
wire!(DrainAgent => "mesos.internal.DrainSlaveMessage");

/// Agent or scheduler -> master: authenticate with `mechanism` (CRAM-MD5) before
/// (re)registering; the master answers with a challenge.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Authenticate {
    /// The SASL mechanism.
    pub mechanism: String,
}
wire!(Authenticate => "mesos.internal.AuthenticateMessage");

/// One SASL step: master -> client, the challenge; client -> master, the response.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuthenticationStep {
    /// The step's bytes.
    pub data: Vec<u8>,
}
wire!(AuthenticationStep => "mesos.internal.AuthenticationStepMessage");

/// Master -> client: authenticated (as the principal of its response).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuthenticationCompleted {}
wire!(AuthenticationCompleted => "mesos.internal.AuthenticationCompletedMessage");

/// Master -> client: the master refused the authentication.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuthenticationFailed {
    /// Why.
    pub error: String,
}
wire!(AuthenticationFailed => "mesos.internal.AuthenticationFailedMessage");

/// Agent -> master: answer to a ping.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PongAgent {}
wire!(PongAgent => "mesos.internal.PongSlaveMessage");

/// Master -> agent: launch a task (command executor or custom executor).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunTask {
    /// The framework.
    pub framework: FrameworkInfo,
    /// The task.
    pub task: TaskInfo,
}
wire!(RunTask => "mesos.internal.RunTaskMessage");

/// Master -> agent: launch a task group under one executor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunTaskGroup {
    /// The framework.
    pub framework: FrameworkInfo,
    /// The (DEFAULT) executor.
    pub executor: ExecutorInfo,
    /// The tasks.
    pub task_group: TaskGroupInfo,
}
wire!(RunTaskGroup => "mesos.internal.RunTaskGroupMessage");

/// Master -> agent: kill a task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KillTask {
    /// The framework.
    pub framework_id: FrameworkID,
    /// The task.
    pub task_id: TaskID,
    /// May shorten the grace period.
    #[serde(default)]
    pub kill_policy: Option<KillPolicy>,
}
wire!(KillTask => "mesos.internal.KillTaskMessage");

/// Master -> agent: shut an executor down.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShutdownExecutor {
    /// The framework.
    pub framework_id: FrameworkID,
    /// The executor.
    pub executor_id: ExecutorID,
}
wire!(ShutdownExecutor => "mesos.internal.ShutdownExecutorMessage");

/// Master -> agent: a framework is gone; kill its tasks and executors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShutdownFramework {
    /// The framework.
    pub framework_id: FrameworkID,
}
wire!(ShutdownFramework => "mesos.internal.ShutdownFrameworkMessage");

/// Master -> agent: a framework's MESSAGE for one of its executors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FrameworkToExecutor {
    /// The agent.
    pub agent_id: AgentID,
    /// The framework.
    pub framework_id: FrameworkID,
    /// The executor.
    pub executor_id: ExecutorID,
    /// The payload.
    pub data: Vec<u8>,
}
wire!(FrameworkToExecutor => "mesos.internal.FrameworkToExecutorMessage");

/// Agent -> master: an executor's MESSAGE for its framework.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExecutorToFramework {
    /// The agent.
    pub agent_id: AgentID,
    /// The framework.
    pub framework_id: FrameworkID,
    /// The executor.
    pub executor_id: ExecutorID,
    /// The payload.
    pub data: Vec<u8>,
}
wire!(ExecutorToFramework => "mesos.internal.ExecutorToFrameworkMessage");

/// Agent -> master: an executor ended (the framework hears a FAILURE event).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExitedExecutor {
    /// The agent.
    pub agent_id: AgentID,
    /// The framework.
    pub framework_id: FrameworkID,
    /// The executor.
    pub executor_id: ExecutorID,
    /// Its wait status, when known.
    pub status: Option<i32>,
}
wire!(ExitedExecutor => "mesos.internal.ExitedExecutorMessage");

/// Master -> agent: the agent's dynamic reservations and persistent volumes after an offer
/// operation (the agent reports them when it reregisters).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointResources {
    /// Every checkpointed resource of the agent.
    pub resources: Resources,
}
wire!(CheckpointResources => "mesos.internal.CheckpointResourcesMessage");

/// Master -> agent: apply an offer operation whose framework asked for feedback; `resources`
/// are the agent's checkpointed resources with it applied. The agent checkpoints them and
/// answers with [`UpdateOperationStatusMsg`], retried until acknowledged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApplyOperation {
    /// The framework.
    pub framework_id: FrameworkID,
    /// The operation.
    pub info: crate::protocol::offer::OfferOperation,
    /// The master's uuid for it.
    #[serde(with = "crate::serde_util::bytes")]
    pub operation_uuid: Vec<u8>,
    /// The agent's checkpointed resources after it.
    pub resources: Resources,
}
wire!(ApplyOperation => "mesos.internal.ApplyOperationMessage");

/// Agent -> master: an operation's status (retried until acknowledged).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UpdateOperationStatusMsg {
    /// The framework.
    pub framework_id: FrameworkID,
    /// The master's uuid of the operation.
    #[serde(with = "crate::serde_util::bytes")]
    pub operation_uuid: Vec<u8>,
    /// The status (with its own uuid).
    pub status: crate::protocol::offer::OperationStatus,
}
wire!(UpdateOperationStatusMsg => "mesos.internal.UpdateOperationStatusMessage");

/// Master -> agent: the framework acknowledged an operation's status.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AcknowledgeOperationStatusMsg {
    /// The operation's uuid.
    #[serde(with = "crate::serde_util::bytes")]
    pub operation_uuid: Vec<u8>,
    /// The status's uuid.
    #[serde(with = "crate::serde_util::bytes")]
    pub status_uuid: Vec<u8>,
}
wire!(AcknowledgeOperationStatusMsg => "mesos.internal.AcknowledgeOperationStatusMessage");

/// A status update in flight from an agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusUpdate {
    /// The framework.
    pub framework_id: FrameworkID,
    /// The executor.
    #[serde(default)]
    pub executor_id: Option<ExecutorID>,
    /// The agent.
    pub agent_id: AgentID,
    /// The status (carries the uuid when it must be acknowledged).
    pub status: TaskStatus,
    /// When it was generated.
    pub timestamp: f64,
    /// The latest state the agent knows for the task (may be ahead of `status`).
    #[serde(default)]
    pub latest_state: Option<TaskState>,
}
wire!(StatusUpdate => "mesos.internal.StatusUpdateMessage");

/// Master -> agent: the framework acknowledged an update.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusUpdateAcknowledgement {
    /// The agent.
    pub agent_id: AgentID,
    /// The framework.
    pub framework_id: FrameworkID,
    /// The task.
    pub task_id: TaskID,
    /// The update's uuid.
    #[serde(with = "crate::serde_util::bytes")]
    pub uuid: Vec<u8>,
}
wire!(StatusUpdateAcknowledgement => "mesos.internal.StatusUpdateAcknowledgementMessage");

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<M: WireMessage + PartialEq + std::fmt::Debug>(m: &M) {
        let b = postcard::to_stdvec(m).unwrap();
        assert_eq!(&postcard::from_bytes::<M>(&b).unwrap(), m);
    }

    #[test]
    fn a_recorded_status_replaces_a_repeated_state_and_drops_its_data() {
        let mut t = Task {
            name: "t".into(),
            task_id: TaskID::new("t"),
            framework_id: FrameworkID::new("F"),
            executor_id: None,
            agent_id: AgentID::new("S"),
            state: TaskState::Staging,
            resources: Resources::new(),
            statuses: Vec::new(),
            status_update_state: None,
            status_update_uuid: None,
            labels: None,
            user: None,
            details: None,
        };
        let status = |state, msg: &str| {
            let mut s = TaskStatus::new(TaskID::new("t"), state);
            s.message = Some(msg.into());
            s.data = Some(vec![7; 1024]);
            s
        };
        t.record_status(status(TaskState::Starting, "starting"));
        t.record_status(status(TaskState::Running, "first"));
        t.record_status(status(TaskState::Running, "healthy"));
        t.record_status(status(TaskState::Finished, "done"));
        let seen: Vec<_> = t
            .statuses
            .iter()
            .map(|s| (s.state, s.message.as_deref().unwrap_or("")))
            .collect();
        assert_eq!(
            seen,
            [
                (TaskState::Starting, "starting"),
                (TaskState::Running, "healthy"),
                (TaskState::Finished, "done"),
            ]
        );
        assert!(t.statuses.iter().all(|s| s.data.is_none()));
        assert_eq!(t.statuses.capacity(), 3, "no room held beyond what is kept");
    }

    #[test]
    fn messages_round_trip_and_have_distinct_names() {
        let agent = AgentInfo {
            hostname: "h".into(),
            port: 5051,
            resources: Resources::parse("cpus:2;mem:128", "*").unwrap(),
            attributes: Default::default(),
            id: None,
            domain: None,
        };
        round_trip(&RegisterAgent {
            agent: agent.clone(),
            version: crate::MESOS_VERSION.into(),
            capabilities: vec!["MULTI_ROLE".into()],
            checkpointed_resources: Resources::new(),
        });
        let mut status = TaskStatus::new(TaskID::new("t"), TaskState::Running);
        status.uuid = Some(vec![1; 16]);
        round_trip(&StatusUpdate {
            framework_id: FrameworkID::new("F"),
            executor_id: None,
            agent_id: AgentID::new("S"),
            status,
            timestamp: 1.5,
            latest_state: Some(TaskState::Running),
        });
        round_trip(&StatusUpdateAcknowledgement {
            agent_id: AgentID::new("S"),
            framework_id: FrameworkID::new("F"),
            task_id: TaskID::new("t"),
            uuid: vec![9; 16],
        });
        let names = [
            RegisterAgent::NAME,
            AgentRegistered::NAME,
            ReregisterAgent::NAME,
            AgentReregistered::NAME,
            PingAgent::NAME,
            PongAgent::NAME,
            ShutdownAgent::NAME,
            RunTask::NAME,
            RunTaskGroup::NAME,
            KillTask::NAME,
            ShutdownExecutor::NAME,
            ShutdownFramework::NAME,
            StatusUpdate::NAME,
            StatusUpdateAcknowledgement::NAME,
            CheckpointResources::NAME,
            ApplyOperation::NAME,
            UpdateOperationStatusMsg::NAME,
            AcknowledgeOperationStatusMsg::NAME,
        ];
        let set: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(set.len(), names.len());
    }
}
