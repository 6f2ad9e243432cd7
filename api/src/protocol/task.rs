//! Tasks, executors, commands and task status: Mesos's `TaskInfo`, `TaskGroupInfo`,
//! `ExecutorInfo`, `CommandInfo`, `KillPolicy`, `TaskState`, `TaskStatus` (with its sources and
//! reasons), `Labels`.

use serde::{Deserialize, Serialize};

pub use super::command::{CommandInfo, CommandUri, Environment, Variable, VariableType};
use super::container::{ContainerInfo, HealthCheck, NetworkInfo};
use super::enums::proto_enum;
use crate::ids::{AgentID, ExecutorID, FrameworkID, TaskID};
use crate::resources::Resources;

proto_enum!(
    /// A task's state. Terminal: FINISHED, FAILED, KILLED, ERROR, DROPPED, GONE, GONE_BY_OPERATOR
    /// (and LOST, "not always terminal").
    TaskState {
        Staging = 6 => "TASK_STAGING",
        Starting = 0 => "TASK_STARTING",
        Running = 1 => "TASK_RUNNING",
        Killing = 8 => "TASK_KILLING",
        Finished = 2 => "TASK_FINISHED",
        Failed = 3 => "TASK_FAILED",
        Killed = 4 => "TASK_KILLED",
        Error = 7 => "TASK_ERROR",
        Lost = 5 => "TASK_LOST",
        Dropped = 9 => "TASK_DROPPED",
        Unreachable = 10 => "TASK_UNREACHABLE",
        Gone = 11 => "TASK_GONE",
        GoneByOperator = 12 => "TASK_GONE_BY_OPERATOR",
        Unknown = 13 => "TASK_UNKNOWN",
    }
);

impl TaskState {
    /// Whether no further state follows (LOST counts as terminal, as Mesos's `isTerminalState`).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::Finished
                | TaskState::Failed
                | TaskState::Killed
                | TaskState::Error
                | TaskState::Lost
                | TaskState::Dropped
                | TaskState::Gone
                | TaskState::GoneByOperator
        )
    }
}

proto_enum!(
    /// Who generated a status update.
    Source {
        Master = 0 => "SOURCE_MASTER",
        Agent = 1 => "SOURCE_AGENT",
        Executor = 2 => "SOURCE_EXECUTOR",
    }
);

proto_enum!(
    /// Why a status update happened.
    Reason {
        CommandExecutorFailed = 0 => "REASON_COMMAND_EXECUTOR_FAILED",
        ContainerLaunchFailed = 21 => "REASON_CONTAINER_LAUNCH_FAILED",
        ContainerLimitation = 19 => "REASON_CONTAINER_LIMITATION",
        ContainerLimitationDisk = 20 => "REASON_CONTAINER_LIMITATION_DISK",
        ContainerLimitationMemory = 8 => "REASON_CONTAINER_LIMITATION_MEMORY",
        ContainerPreempted = 17 => "REASON_CONTAINER_PREEMPTED",
        ContainerUpdateFailed = 22 => "REASON_CONTAINER_UPDATE_FAILED",
        MaxCompletionTimeReached = 33 => "REASON_MAX_COMPLETION_TIME_REACHED",
        ExecutorRegistrationTimeout = 23 => "REASON_EXECUTOR_REGISTRATION_TIMEOUT",
        ExecutorReregistrationTimeout = 24 => "REASON_EXECUTOR_REREGISTRATION_TIMEOUT",
        ExecutorTerminated = 1 => "REASON_EXECUTOR_TERMINATED",
        ExecutorUnregistered = 2 => "REASON_EXECUTOR_UNREGISTERED",
        FrameworkRemoved = 3 => "REASON_FRAMEWORK_REMOVED",
        GcError = 4 => "REASON_GC_ERROR",
        InvalidFrameworkid = 5 => "REASON_INVALID_FRAMEWORKID",
        InvalidOffers = 6 => "REASON_INVALID_OFFERS",
        IoSwitchboardExited = 27 => "REASON_IO_SWITCHBOARD_EXITED",
        MasterDisconnected = 7 => "REASON_MASTER_DISCONNECTED",
        Reconciliation = 9 => "REASON_RECONCILIATION",
        ResourcesUnknown = 18 => "REASON_RESOURCES_UNKNOWN",
        AgentDisconnected = 10 => "REASON_AGENT_DISCONNECTED",
        AgentDraining = 34 => "REASON_AGENT_DRAINING",
        AgentRemoved = 11 => "REASON_AGENT_REMOVED",
        AgentRemovedByOperator = 31 => "REASON_AGENT_REMOVED_BY_OPERATOR",
        AgentReregistered = 32 => "REASON_AGENT_REREGISTERED",
        AgentRestarted = 12 => "REASON_AGENT_RESTARTED",
        AgentUnknown = 13 => "REASON_AGENT_UNKNOWN",
        TaskKilledDuringLaunch = 30 => "REASON_TASK_KILLED_DURING_LAUNCH",
        TaskCheckStatusUpdated = 28 => "REASON_TASK_CHECK_STATUS_UPDATED",
        TaskHealthCheckStatusUpdated = 29 => "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED",
        TaskGroupInvalid = 25 => "REASON_TASK_GROUP_INVALID",
        TaskGroupUnauthorized = 26 => "REASON_TASK_GROUP_UNAUTHORIZED",
        TaskInvalid = 14 => "REASON_TASK_INVALID",
        TaskUnauthorized = 15 => "REASON_TASK_UNAUTHORIZED",
        TaskUnknown = 16 => "REASON_TASK_UNKNOWN",
    }
);

/// A key/value label.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Label {
    /// The key.
    pub key: String,
    /// The value.
    #[serde(default)]
    pub value: Option<String>,
}

/// Labels (`{"labels":[{"key":..,"value":..}]}`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Labels {
    /// The labels.
    #[serde(default)]
    pub labels: Vec<Label>,
}

/// A duration in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DurationInfo {
    /// Nanoseconds.
    pub nanoseconds: i64,
}

impl DurationInfo {
    /// From a std duration.
    pub fn from_duration(d: std::time::Duration) -> DurationInfo {
        DurationInfo {
            nanoseconds: d.as_nanos().min(i64::MAX as u128) as i64,
        }
    }

    /// As a std duration (negative as zero).
    pub fn as_duration(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.nanoseconds.max(0) as u64)
    }
}

/// How a task is killed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KillPolicy {
    /// Time between SIGTERM and SIGKILL (default 3 s at the executor).
    #[serde(default)]
    pub grace_period: Option<DurationInfo>,
}

impl KillPolicy {
    /// The grace period when a kill policy gives none (Mesos's executors: 3 s).
    pub const DEFAULT_GRACE_PERIOD: std::time::Duration = std::time::Duration::from_secs(3);

    /// The grace period of an optional kill policy, [`Self::DEFAULT_GRACE_PERIOD`] when it
    /// gives none.
    pub fn grace_of(policy: Option<&KillPolicy>) -> std::time::Duration {
        policy
            .and_then(|p| p.grace_period.as_ref())
            .map(|d| d.as_duration())
            .unwrap_or(Self::DEFAULT_GRACE_PERIOD)
    }
}

proto_enum!(
    /// Which executor.
    ExecutorType {
        Unknown = 0 => "UNKNOWN",
        Default = 1 => "DEFAULT",
        Custom = 2 => "CUSTOM",
    } fallback Unknown
);

/// An executor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExecutorInfo {
    /// DEFAULT (task groups) or CUSTOM.
    #[serde(rename = "type", default)]
    pub kind: Option<ExecutorType>,
    /// Its id.
    pub executor_id: ExecutorID,
    /// Its framework.
    #[serde(default)]
    pub framework_id: Option<FrameworkID>,
    /// How to start it (CUSTOM).
    #[serde(default)]
    pub command: Option<CommandInfo>,
    /// Its own resources.
    #[serde(default)]
    pub resources: Resources,
    /// A name.
    #[serde(default)]
    pub name: Option<String>,
    /// Opaque data.
    #[serde(default, with = "crate::serde_util::opt_bytes")]
    pub data: Option<Vec<u8>>,
    /// How long it gets to shut down.
    #[serde(default)]
    pub shutdown_grace_period: Option<DurationInfo>,
    /// Labels.
    #[serde(default)]
    pub labels: Option<Labels>,
    /// Its container (image, volumes, rlimits).
    #[serde(default)]
    pub container: Option<ContainerInfo>,
}

impl ExecutorInfo {
    /// A DEFAULT executor (the one that runs task groups) with its own `resources`.
    pub fn default_executor(executor_id: ExecutorID, resources: Resources) -> ExecutorInfo {
        ExecutorInfo {
            kind: Some(ExecutorType::Default),
            executor_id,
            framework_id: None,
            command: None,
            resources,
            name: None,
            data: None,
            shutdown_grace_period: None,
            labels: None,
            container: None,
        }
    }
}

/// A task to launch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskInfo {
    /// A name.
    pub name: String,
    /// Its id (unique within the framework).
    pub task_id: TaskID,
    /// Where it runs.
    pub agent_id: AgentID,
    /// What it uses.
    #[serde(default)]
    pub resources: Resources,
    /// A custom executor (else the command executor runs `command`).
    #[serde(default)]
    pub executor: Option<ExecutorInfo>,
    /// The command (command executor).
    #[serde(default)]
    pub command: Option<CommandInfo>,
    /// How to kill it.
    #[serde(default)]
    pub kill_policy: Option<KillPolicy>,
    /// Opaque data for the executor.
    #[serde(default, with = "crate::serde_util::opt_bytes")]
    pub data: Option<Vec<u8>>,
    /// Labels.
    #[serde(default)]
    pub labels: Option<Labels>,
    /// Its container (image, volumes, rlimits).
    #[serde(default)]
    pub container: Option<ContainerInfo>,
    /// Its health check.
    #[serde(default)]
    pub health_check: Option<HealthCheck>,
    /// A check whose results go out as `check_status` (not supported yet: refused).
    #[serde(default)]
    pub check: Option<CheckInfo>,
    /// How service discovery names it (kept and shown; nothing here acts on it).
    #[serde(default)]
    pub discovery: Option<DiscoveryInfo>,
    /// Resource limits above its requests (not supported yet: refused).
    #[serde(default)]
    pub limits: Option<std::collections::BTreeMap<String, ScalarValue>>,
    /// Once RUNNING this long, the task is killed and fails
    /// (REASON_MAX_COMPLETION_TIME_REACHED).
    #[serde(default)]
    pub max_completion_time: Option<DurationInfo>,
}

/// A scalar as Mesos's `Value.Scalar` writes it (a SHRINK_VOLUME's `subtract`, a task's
/// `limits`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScalarValue {
    /// The value (`inf` is not representable in JSON; a limit left out is unlimited in Mesos).
    pub value: f64,
}

/// A task check (Mesos's `CheckInfo`): COMMAND, HTTP or TCP, with its timing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckInfo {
    /// COMMAND, HTTP or TCP.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// The command check's command (`{"command": CommandInfo}`).
    #[serde(default)]
    pub command: Option<CheckCommand>,
    /// The HTTP check (`{"port", "path"}`).
    #[serde(default)]
    pub http: Option<HttpCheck>,
    /// The TCP check (`{"port"}`).
    #[serde(default)]
    pub tcp: Option<TcpCheck>,
    /// Seconds before the first check.
    #[serde(default)]
    pub delay_seconds: Option<f64>,
    /// Seconds between checks.
    #[serde(default)]
    pub interval_seconds: Option<f64>,
    /// Seconds a check may take.
    #[serde(default)]
    pub timeout_seconds: Option<f64>,
}

/// A command check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckCommand {
    /// The command.
    pub command: CommandInfo,
}

/// An HTTP check.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HttpCheck {
    /// The port.
    pub port: u32,
    /// The path.
    #[serde(default)]
    pub path: Option<String>,
}

/// A TCP check.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TcpCheck {
    /// The port.
    pub port: u32,
}

/// How service discovery names a task (Mesos's `DiscoveryInfo`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DiscoveryInfo {
    /// FRAMEWORK, CLUSTER or EXTERNAL.
    #[serde(default)]
    pub visibility: Option<String>,
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// Its environment (prod, test, ...).
    #[serde(default)]
    pub environment: Option<String>,
    /// Its location.
    #[serde(default)]
    pub location: Option<String>,
    /// Its version.
    #[serde(default)]
    pub version: Option<String>,
    /// Its ports.
    #[serde(default)]
    pub ports: Option<DiscoveryPorts>,
    /// Labels.
    #[serde(default)]
    pub labels: Option<Labels>,
}

/// The ports of a `DiscoveryInfo`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DiscoveryPorts {
    /// The ports.
    #[serde(default)]
    pub ports: Vec<DiscoveryPort>,
}

/// One port a task serves on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DiscoveryPort {
    /// The number.
    pub number: u32,
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// tcp or udp.
    #[serde(default)]
    pub protocol: Option<String>,
    /// FRAMEWORK, CLUSTER or EXTERNAL.
    #[serde(default)]
    pub visibility: Option<String>,
    /// Labels.
    #[serde(default)]
    pub labels: Option<Labels>,
}

/// Tasks launched together under one executor.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskGroupInfo {
    /// The tasks.
    #[serde(default)]
    pub tasks: Vec<TaskInfo>,
}

/// A task's status, as updates carry it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskStatus {
    /// The task.
    pub task_id: TaskID,
    /// Its state.
    pub state: TaskState,
    /// A human-readable message.
    #[serde(default)]
    pub message: Option<String>,
    /// Who generated the update.
    #[serde(default)]
    pub source: Option<Source>,
    /// Why.
    #[serde(default)]
    pub reason: Option<Reason>,
    /// Opaque data.
    #[serde(default, with = "crate::serde_util::opt_bytes")]
    pub data: Option<Vec<u8>>,
    /// The agent.
    #[serde(default)]
    pub agent_id: Option<AgentID>,
    /// The executor.
    #[serde(default)]
    pub executor_id: Option<ExecutorID>,
    /// Seconds since the epoch.
    #[serde(default)]
    pub timestamp: Option<f64>,
    /// Set (16 bytes) only on updates that will be retried until acknowledged.
    #[serde(default, with = "crate::serde_util::opt_bytes")]
    pub uuid: Option<Vec<u8>>,
    /// Health-check result.
    #[serde(default)]
    pub healthy: Option<bool>,
    /// Labels.
    #[serde(default)]
    pub labels: Option<Labels>,
    /// The task's container, as its agent sees it (boxed: most statuses in memory have none).
    #[serde(default)]
    pub container_status: Option<Box<ContainerStatus>>,
    /// When the task's agent became unreachable (TASK_UNREACHABLE).
    #[serde(default)]
    pub unreachable_time: Option<super::offer::TimeInfo>,
    /// The resource whose limit the task's container broke (a memory or disk limitation).
    #[serde(default)]
    pub limitation: Option<TaskResourceLimitation>,
}

/// The resources a container went over (Mesos's `TaskResourceLimitation`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskResourceLimitation {
    /// Which, with the limit.
    #[serde(default)]
    pub resources: Resources,
}

/// A container's status (Mesos's `ContainerStatus`): its id, its executor's pid and its
/// addresses.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerStatus {
    /// The container.
    #[serde(default)]
    pub container_id: Option<crate::ids::ContainerID>,
    /// Its networks and their addresses (the agent's, for host networking).
    #[serde(default)]
    pub network_infos: Vec<NetworkInfo>,
    /// The OS pid of the executor.
    #[serde(default)]
    pub executor_pid: Option<u32>,
}

impl TaskStatus {
    /// A status with just a task and a state.
    pub fn new(task_id: TaskID, state: TaskState) -> TaskStatus {
        TaskStatus {
            task_id,
            state,
            message: None,
            source: None,
            reason: None,
            data: None,
            agent_id: None,
            executor_id: None,
            timestamp: None,
            uuid: None,
            healthy: None,
            labels: None,
            container_status: None,
            unreachable_time: None,
            limitation: None,
        }
    }
}
