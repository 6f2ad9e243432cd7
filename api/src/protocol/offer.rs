//! Offers, offer operations and filters.

use serde::{Deserialize, Serialize};

use super::enums::proto_enum;
use super::task::{ExecutorInfo, TaskGroupInfo, TaskInfo};
use crate::ids::{AgentID, ExecutorID, FrameworkID, OfferID};
use crate::resources::attributes::Attributes;
use crate::resources::Resources;

/// A point in time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeInfo {
    /// Nanoseconds since the epoch.
    pub nanoseconds: i64,
}

/// A maintenance window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Unavailability {
    /// When it starts.
    pub start: TimeInfo,
    /// How long.
    #[serde(default)]
    pub duration: Option<super::task::DurationInfo>,
}

/// The role an offer is for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AllocationInfo {
    /// The role.
    #[serde(default)]
    pub role: Option<String>,
}

/// Resources offered to a framework on one agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Offer {
    /// `<masterUUID>-O<n>`.
    pub id: OfferID,
    /// To whom.
    pub framework_id: FrameworkID,
    /// Where.
    pub agent_id: AgentID,
    /// The agent's hostname.
    pub hostname: String,
    /// What.
    #[serde(default)]
    pub resources: Resources,
    /// The agent's attributes.
    #[serde(default)]
    pub attributes: Attributes,
    /// Executors of this framework already on the agent.
    #[serde(default)]
    pub executor_ids: Vec<ExecutorID>,
    /// Set when the agent is scheduled for maintenance.
    #[serde(default)]
    pub unavailability: Option<Unavailability>,
    /// The role (MULTI_ROLE frameworks).
    #[serde(default)]
    pub allocation_info: Option<AllocationInfo>,
    /// Where the agent's HTTP endpoints are (`http`, its address, `/slave(1)`).
    #[serde(default)]
    pub url: Option<Url>,
    /// Its agent's fault domain.
    #[serde(default)]
    pub domain: Option<crate::protocol::framework::DomainInfo>,
}

/// An inverse offer: the master asks a framework to give back its resources on an agent
/// before a maintenance window (no resources: all of them).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InverseOffer {
    /// `<masterUUID>-O<n>`, from the same sequence as offers.
    pub id: OfferID,
    /// The agent's HTTP endpoints.
    #[serde(default)]
    pub url: Option<Url>,
    /// To whom.
    pub framework_id: FrameworkID,
    /// Which agent.
    #[serde(default)]
    pub agent_id: Option<AgentID>,
    /// When the agent's machine is unavailable.
    pub unavailability: Unavailability,
    /// The resources asked back (empty: all the framework holds there).
    #[serde(default)]
    pub resources: Resources,
}

/// A URL as Mesos's `URL` message writes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Url {
    /// `http` or `https`.
    pub scheme: String,
    /// Host and port.
    pub address: super::framework::Address,
    /// The path (`/slave(1)`).
    #[serde(default)]
    pub path: Option<String>,
    /// Query parameters (an agent's URL has none).
    #[serde(default)]
    pub query: Vec<super::container::Parameter>,
    /// The fragment (an agent's URL has none).
    #[serde(default)]
    pub fragment: Option<String>,
}

fn refuse_default() -> f64 {
    5.0
}

/// How long to keep resources away after declining them.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Filters {
    /// Seconds (default 5).
    #[serde(default = "refuse_default")]
    pub refuse_seconds: f64,
}

impl Default for Filters {
    fn default() -> Filters {
        Filters {
            refuse_seconds: refuse_default(),
        }
    }
}

proto_enum!(
    /// Offer operation types.
    OperationType {
        Unknown = 0 => "UNKNOWN",
        Launch = 1 => "LAUNCH",
        LaunchGroup = 6 => "LAUNCH_GROUP",
        Reserve = 2 => "RESERVE",
        Unreserve = 3 => "UNRESERVE",
        Create = 4 => "CREATE",
        Destroy = 5 => "DESTROY",
        GrowVolume = 11 => "GROW_VOLUME",
        ShrinkVolume = 12 => "SHRINK_VOLUME",
        CreateDisk = 13 => "CREATE_DISK",
        DestroyDisk = 14 => "DESTROY_DISK",
    } fallback Unknown
);

/// LAUNCH.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Launch {
    /// The tasks.
    #[serde(default)]
    pub task_infos: Vec<TaskInfo>,
}

/// LAUNCH_GROUP.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LaunchGroup {
    /// The (DEFAULT) executor.
    pub executor: ExecutorInfo,
    /// The tasks.
    pub task_group: TaskGroupInfo,
}

/// RESERVE / UNRESERVE (`resources`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReservationOp {
    /// The resources, as they will be (RESERVE) or as they are (UNRESERVE).
    #[serde(default)]
    pub resources: Resources,
}

/// CREATE / DESTROY (`volumes`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VolumeOp {
    /// The volumes.
    #[serde(default)]
    pub volumes: Resources,
}

/// GROW_VOLUME: a persistent volume and the reserved disk it takes in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GrowVolume {
    /// The volume as it is.
    pub volume: crate::Resource,
    /// Disk of the volume's reservation, without persistence.
    pub addition: crate::Resource,
}

/// SHRINK_VOLUME: a persistent volume and how much disk it gives back (as reserved disk).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShrinkVolume {
    /// The volume as it is.
    pub volume: crate::Resource,
    /// How much.
    pub subtract: super::task::ScalarValue,
}

/// One operation on offered resources.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OfferOperation {
    /// Which.
    #[serde(rename = "type", default)]
    pub kind: Option<OperationType>,
    /// Set when the framework wants feedback (UPDATE_OPERATION_STATUS events).
    #[serde(default)]
    pub id: Option<crate::ids::OperationID>,
    /// LAUNCH.
    #[serde(default)]
    pub launch: Option<Launch>,
    /// LAUNCH_GROUP.
    #[serde(default)]
    pub launch_group: Option<LaunchGroup>,
    /// RESERVE.
    #[serde(default)]
    pub reserve: Option<ReservationOp>,
    /// UNRESERVE.
    #[serde(default)]
    pub unreserve: Option<ReservationOp>,
    /// CREATE.
    #[serde(default)]
    pub create: Option<VolumeOp>,
    /// DESTROY.
    #[serde(default)]
    pub destroy: Option<VolumeOp>,
    /// GROW_VOLUME.
    #[serde(default)]
    pub grow_volume: Option<GrowVolume>,
    /// SHRINK_VOLUME.
    #[serde(default)]
    pub shrink_volume: Option<ShrinkVolume>,
}

impl OfferOperation {
    /// An operation of a type with no payload yet.
    pub fn new(kind: OperationType) -> OfferOperation {
        OfferOperation {
            kind: Some(kind),
            id: None,
            launch: None,
            launch_group: None,
            reserve: None,
            unreserve: None,
            create: None,
            destroy: None,
            grow_volume: None,
            shrink_volume: None,
        }
    }
}

proto_enum!(
    /// Where an offer operation stands (Mesos's `OperationState`).
    OperationState {
        Unsupported = 0 => "OPERATION_UNSUPPORTED",
        Pending = 1 => "OPERATION_PENDING",
        Finished = 2 => "OPERATION_FINISHED",
        Failed = 3 => "OPERATION_FAILED",
        Error = 4 => "OPERATION_ERROR",
        Dropped = 5 => "OPERATION_DROPPED",
        Unreachable = 6 => "OPERATION_UNREACHABLE",
        GoneByOperator = 7 => "OPERATION_GONE_BY_OPERATOR",
        Recovering = 8 => "OPERATION_RECOVERING",
        Unknown = 9 => "OPERATION_UNKNOWN",
    }
);

impl OperationState {
    /// Whether nothing follows it.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            OperationState::Finished
                | OperationState::Failed
                | OperationState::Error
                | OperationState::Dropped
                | OperationState::GoneByOperator
        )
    }
}

/// A UUID as Mesos's `UUID` message writes it (`value`: bytes, base64 in JSON).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uuid {
    /// The 16 bytes.
    #[serde(with = "crate::serde_util::bytes")]
    pub value: Vec<u8>,
}

/// An offer operation's status (Mesos's `OperationStatus`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OperationStatus {
    /// The operation (absent for operations without feedback).
    #[serde(default)]
    pub operation_id: Option<crate::ids::OperationID>,
    /// Its state.
    pub state: OperationState,
    /// Why, in words.
    #[serde(default)]
    pub message: Option<String>,
    /// What the operation's resources became.
    #[serde(default)]
    pub converted_resources: Resources,
    /// Set when the status must be acknowledged.
    #[serde(default)]
    pub uuid: Option<Uuid>,
    /// The agent.
    #[serde(default)]
    pub agent_id: Option<AgentID>,
}
