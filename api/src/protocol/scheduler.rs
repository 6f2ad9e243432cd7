//! The v1 scheduler API: `Call` (framework to master) and `Event` (master to framework). HTTP
//! frameworks send and receive them as JSON; frameworks on the binary transport as the messages
//! [`Call::NAME`] and [`Event::NAME`].

use serde::{Deserialize, Serialize};

use super::enums::proto_enum;
use super::framework::{FrameworkInfo, MasterInfo};
use super::offer::{Filters, Offer, OfferOperation};
use super::task::{KillPolicy, TaskStatus};
use crate::ids::{AgentID, ExecutorID, FrameworkID, OfferID, TaskID};

proto_enum!(
    /// Call types.
    CallType {
        Unknown = 0 => "UNKNOWN",
        Subscribe = 1 => "SUBSCRIBE",
        Teardown = 2 => "TEARDOWN",
        Accept = 3 => "ACCEPT",
        Decline = 4 => "DECLINE",
        AcceptInverseOffers = 13 => "ACCEPT_INVERSE_OFFERS",
        DeclineInverseOffers = 14 => "DECLINE_INVERSE_OFFERS",
        Revive = 5 => "REVIVE",
        Kill = 6 => "KILL",
        Shutdown = 7 => "SHUTDOWN",
        Acknowledge = 8 => "ACKNOWLEDGE",
        AcknowledgeOperationStatus = 15 => "ACKNOWLEDGE_OPERATION_STATUS",
        Reconcile = 9 => "RECONCILE",
        ReconcileOperations = 16 => "RECONCILE_OPERATIONS",
        Message = 10 => "MESSAGE",
        Request = 11 => "REQUEST",
        Suppress = 12 => "SUPPRESS",
        UpdateFramework = 17 => "UPDATE_FRAMEWORK",
    } fallback Unknown
);

proto_enum!(
    /// Event types.
    EventType {
        Unknown = 0 => "UNKNOWN",
        Subscribed = 1 => "SUBSCRIBED",
        Offers = 2 => "OFFERS",
        InverseOffers = 9 => "INVERSE_OFFERS",
        Rescind = 3 => "RESCIND",
        RescindInverseOffer = 10 => "RESCIND_INVERSE_OFFER",
        Update = 4 => "UPDATE",
        UpdateOperationStatus = 11 => "UPDATE_OPERATION_STATUS",
        Message = 5 => "MESSAGE",
        Failure = 6 => "FAILURE",
        Error = 7 => "ERROR",
        Heartbeat = 8 => "HEARTBEAT",
    } fallback Unknown
);

/// SUBSCRIBE / UPDATE_FRAMEWORK.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Subscribe {
    /// The framework.
    pub framework_info: FrameworkInfo,
    /// Roles to subscribe suppressed.
    #[serde(default)]
    pub suppressed_roles: Vec<String>,
    /// Which agents the framework is offered, per role (unset: no constraints).
    #[serde(default)]
    pub offer_constraints: Option<OfferConstraints>,
}

/// A framework's offer constraints (Mesos 1.11): per role, groups of attribute constraints. An
/// agent is offered to the framework in a role with constraints only if it satisfies every
/// constraint of at least one of the role's groups.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OfferConstraints {
    /// By role.
    #[serde(default)]
    pub role_constraints: std::collections::BTreeMap<String, RoleConstraints>,
}

/// A role's constraint groups (any one must hold).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RoleConstraints {
    /// The groups.
    #[serde(default)]
    pub groups: Vec<ConstraintGroup>,
}

/// Constraints that must all hold.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ConstraintGroup {
    /// The constraints.
    #[serde(default)]
    pub attribute_constraints: Vec<AttributeConstraint>,
}

/// A predicate on one (pseudo)attribute of an agent.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AttributeConstraint {
    /// Which (pseudo)attribute.
    #[serde(default)]
    pub selector: Option<Selector>,
    /// What must hold of it.
    #[serde(default)]
    pub predicate: Option<Predicate>,
}

proto_enum!(
    /// A property of an agent that is not one of its attributes.
    PseudoattributeType {
        Unknown = 0 => "UNKNOWN",
        Hostname = 1 => "HOSTNAME",
        Region = 2 => "REGION",
        Zone = 3 => "ZONE",
    } fallback Unknown
);

/// Which (pseudo)attribute a constraint reads (exactly one of the two).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Selector {
    /// A pseudoattribute.
    #[serde(default)]
    pub pseudoattribute_type: Option<PseudoattributeType>,
    /// The first agent attribute of this name.
    #[serde(default)]
    pub attribute_name: Option<String>,
}

/// A predicate with no argument (`exists`, `not_exists`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NoArgument {}

/// A text to compare with.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TextValue {
    /// The text.
    #[serde(default)]
    pub value: String,
}

/// A regular expression (RE2 syntax) to match the whole text.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TextRegex {
    /// The expression.
    #[serde(default)]
    pub regex: String,
}

/// What must hold of the selected (pseudo)attribute (exactly one is set). The text predicates
/// hold for any attribute that is not TEXT, as in Mesos (the scheduler filters those itself).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Predicate {
    /// It exists.
    #[serde(default)]
    pub exists: Option<NoArgument>,
    /// It does not exist.
    #[serde(default)]
    pub not_exists: Option<NoArgument>,
    /// It exists and is this text.
    #[serde(default)]
    pub text_equals: Option<TextValue>,
    /// It does not exist or is another text.
    #[serde(default)]
    pub text_not_equals: Option<TextValue>,
    /// It exists and the regex matches all of it.
    #[serde(default)]
    pub text_matches: Option<TextRegex>,
    /// It does not exist or the regex does not match all of it.
    #[serde(default)]
    pub text_not_matches: Option<TextRegex>,
}

/// ACCEPT.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Accept {
    /// Offers used (all from one agent).
    #[serde(default)]
    pub offer_ids: Vec<OfferID>,
    /// What to do with them.
    #[serde(default)]
    pub operations: Vec<OfferOperation>,
    /// Filter for what is left (default refuse 5 s even when absent).
    #[serde(default)]
    pub filters: Option<Filters>,
}

/// DECLINE.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Decline {
    /// The offers.
    #[serde(default)]
    pub offer_ids: Vec<OfferID>,
    /// The filter (default refuse 5 s).
    #[serde(default)]
    pub filters: Option<Filters>,
}

/// ACKNOWLEDGE_OPERATION_STATUS.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AcknowledgeOperationStatus {
    /// The agent.
    #[serde(default)]
    pub agent_id: Option<AgentID>,
    /// The status's uuid.
    #[serde(with = "crate::serde_util::bytes")]
    pub uuid: Vec<u8>,
    /// The operation.
    pub operation_id: crate::ids::OperationID,
}

/// One operation of RECONCILE_OPERATIONS.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReconcileOperation {
    /// The operation.
    pub operation_id: crate::ids::OperationID,
    /// Its agent, if known.
    #[serde(default)]
    pub agent_id: Option<AgentID>,
}

/// RECONCILE_OPERATIONS (none: every operation the master knows of the framework's).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReconcileOperations {
    /// The operations.
    #[serde(default)]
    pub operations: Vec<ReconcileOperation>,
}

/// UPDATE_OPERATION_STATUS.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UpdateOperationStatus {
    /// The status.
    pub status: super::offer::OperationStatus,
}

/// ACCEPT_INVERSE_OFFERS / DECLINE_INVERSE_OFFERS.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InverseOfferReply {
    /// The inverse offers answered.
    #[serde(default)]
    pub inverse_offer_ids: Vec<OfferID>,
    /// How long not to be asked again about the agent (default 5 s).
    #[serde(default)]
    pub filters: Option<Filters>,
}

/// REVIVE / SUPPRESS (no roles: all of the framework's roles).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Roles {
    /// The roles.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// KILL.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Kill {
    /// The task.
    pub task_id: TaskID,
    /// Its agent, if known.
    #[serde(default)]
    pub agent_id: Option<AgentID>,
    /// May shorten the grace period.
    #[serde(default)]
    pub kill_policy: Option<KillPolicy>,
}

/// SHUTDOWN (an executor).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Shutdown {
    /// The executor.
    pub executor_id: ExecutorID,
    /// Its agent.
    pub agent_id: AgentID,
}

/// ACKNOWLEDGE.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Acknowledge {
    /// The agent.
    pub agent_id: AgentID,
    /// The task.
    pub task_id: TaskID,
    /// The update's uuid (16 bytes).
    #[serde(with = "crate::serde_util::bytes")]
    pub uuid: Vec<u8>,
}

/// One task to reconcile.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReconcileTask {
    /// The task.
    pub task_id: TaskID,
    /// Its agent, if known.
    #[serde(default)]
    pub agent_id: Option<AgentID>,
}

/// RECONCILE (no tasks: implicit reconciliation).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Reconcile {
    /// The tasks.
    #[serde(default)]
    pub tasks: Vec<ReconcileTask>,
}

/// MESSAGE (framework to executor, or executor to framework as an event).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FrameworkMessage {
    /// The agent.
    pub agent_id: AgentID,
    /// The executor.
    pub executor_id: ExecutorID,
    /// The payload.
    #[serde(with = "crate::serde_util::bytes")]
    pub data: Vec<u8>,
}

/// A call from a framework.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Call {
    /// Required except for SUBSCRIBE.
    #[serde(default)]
    pub framework_id: Option<FrameworkID>,
    /// Which call.
    #[serde(rename = "type", default)]
    pub kind: Option<CallType>,
    /// SUBSCRIBE.
    #[serde(default)]
    pub subscribe: Option<Subscribe>,
    /// ACCEPT.
    #[serde(default)]
    pub accept: Option<Accept>,
    /// DECLINE.
    #[serde(default)]
    pub decline: Option<Decline>,
    /// REVIVE.
    #[serde(default)]
    pub revive: Option<Roles>,
    /// KILL.
    #[serde(default)]
    pub kill: Option<Kill>,
    /// SHUTDOWN.
    #[serde(default)]
    pub shutdown: Option<Shutdown>,
    /// ACKNOWLEDGE.
    #[serde(default)]
    pub acknowledge: Option<Acknowledge>,
    /// RECONCILE.
    #[serde(default)]
    pub reconcile: Option<Reconcile>,
    /// MESSAGE.
    #[serde(default)]
    pub message: Option<FrameworkMessage>,
    /// SUPPRESS.
    #[serde(default)]
    pub suppress: Option<Roles>,
    /// UPDATE_FRAMEWORK.
    #[serde(default)]
    pub update_framework: Option<Subscribe>,
    /// ACCEPT_INVERSE_OFFERS.
    #[serde(default)]
    pub accept_inverse_offers: Option<InverseOfferReply>,
    /// DECLINE_INVERSE_OFFERS.
    #[serde(default)]
    pub decline_inverse_offers: Option<InverseOfferReply>,
    /// ACKNOWLEDGE_OPERATION_STATUS.
    #[serde(default)]
    pub acknowledge_operation_status: Option<AcknowledgeOperationStatus>,
    /// RECONCILE_OPERATIONS.
    #[serde(default)]
    pub reconcile_operations: Option<ReconcileOperations>,
}

impl Call {
    /// The message name on the binary transport.
    pub const NAME: &'static str = "mesos.v1.scheduler.Call";

    /// A call of a type with no payload yet.
    pub fn new(kind: CallType, framework_id: Option<FrameworkID>) -> Call {
        Call {
            framework_id,
            kind: Some(kind),
            subscribe: None,
            accept: None,
            decline: None,
            revive: None,
            kill: None,
            shutdown: None,
            acknowledge: None,
            reconcile: None,
            message: None,
            suppress: None,
            update_framework: None,
            accept_inverse_offers: None,
            decline_inverse_offers: None,
            acknowledge_operation_status: None,
            reconcile_operations: None,
        }
    }
}

/// SUBSCRIBED.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Subscribed {
    /// The framework's id.
    pub framework_id: FrameworkID,
    /// Heartbeat period.
    #[serde(default)]
    pub heartbeat_interval_seconds: Option<f64>,
    /// The master.
    #[serde(default)]
    pub master_info: Option<MasterInfo>,
}

/// OFFERS.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Offers {
    /// The offers.
    #[serde(default)]
    pub offers: Vec<Offer>,
}

/// RESCIND.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rescind {
    /// The offer taken back.
    pub offer_id: OfferID,
}

/// INVERSE_OFFERS.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InverseOffers {
    /// The inverse offers.
    #[serde(default)]
    pub inverse_offers: Vec<super::offer::InverseOffer>,
}

/// RESCIND_INVERSE_OFFER.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RescindInverseOffer {
    /// The inverse offer taken back.
    pub inverse_offer_id: OfferID,
}

/// UPDATE.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Update {
    /// The status.
    pub status: TaskStatus,
}

/// FAILURE (an agent or an executor is gone).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// The agent.
    #[serde(default)]
    pub agent_id: Option<AgentID>,
    /// The executor, for an executor failure.
    #[serde(default)]
    pub executor_id: Option<ExecutorID>,
    /// The executor's exit status.
    #[serde(default)]
    pub status: Option<i32>,
}

/// ERROR.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorEvent {
    /// What went wrong.
    pub message: String,
}

/// An event for a framework.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Which event.
    #[serde(rename = "type", default)]
    pub kind: Option<EventType>,
    /// SUBSCRIBED.
    #[serde(default)]
    pub subscribed: Option<Subscribed>,
    /// OFFERS.
    #[serde(default)]
    pub offers: Option<Offers>,
    /// RESCIND.
    #[serde(default)]
    pub rescind: Option<Rescind>,
    /// UPDATE.
    #[serde(default)]
    pub update: Option<Update>,
    /// MESSAGE.
    #[serde(default)]
    pub message: Option<FrameworkMessage>,
    /// FAILURE.
    #[serde(default)]
    pub failure: Option<Failure>,
    /// ERROR.
    #[serde(default)]
    pub error: Option<ErrorEvent>,
    /// INVERSE_OFFERS.
    #[serde(default)]
    pub inverse_offers: Option<InverseOffers>,
    /// RESCIND_INVERSE_OFFER.
    #[serde(default)]
    pub rescind_inverse_offer: Option<RescindInverseOffer>,
    /// UPDATE_OPERATION_STATUS.
    #[serde(default)]
    pub update_operation_status: Option<UpdateOperationStatus>,
}

impl Event {
    /// The message name on the binary transport.
    pub const NAME: &'static str = "mesos.v1.scheduler.Event";

    /// An event of a type with no payload yet.
    pub fn new(kind: EventType) -> Event {
        Event {
            kind: Some(kind),
            subscribed: None,
            offers: None,
            rescind: None,
            update: None,
            message: None,
            failure: None,
            error: None,
            inverse_offers: None,
            rescind_inverse_offer: None,
            update_operation_status: None,
        }
    }

    /// ERROR with a message.
    pub fn error(message: impl Into<String>) -> Event {
        Event {
            error: Some(ErrorEvent {
                message: message.into(),
            }),
            ..Event::new(EventType::Error)
        }
    }
}
