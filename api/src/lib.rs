//! mesos-api: the vocabulary every component shares. Ids, [`Resources`] (scalars in fixed point,
//! ranges, sets; roles and the reservation stack; persistent-volume disk info), their arithmetic,
//! the `--resources` / `--attributes` grammars, role-name rules, and the Mesos v1 JSON forms.

pub mod acls;
pub mod auth;
mod error;
pub mod files;
pub mod http;
pub mod ids;
pub mod messages;
pub mod protobuf;
pub mod protocol;
pub mod resources;
pub mod roles;
pub mod serde_util;
pub mod wallclock;

/// The Mesos release whose APIs this implementation speaks (reported as `version` by the
/// master and agents, in their registration and `/version`).
pub const MESOS_VERSION: &str = "1.11.0";

pub use error::{ApiError, Result};
pub use ids::{AgentID, ContainerID, ExecutorID, FrameworkID, OfferID, OperationID, TaskID};
pub use resources::attributes::{Attribute, Attributes};
pub use resources::{
    DiskInfo, Full, Persistence, Ranges, Reservation, ReservationType, Resource, ResourceFormat,
    ResourceQuantities, Resources, Scalar, Summary, Value, Volume, VolumeMode,
};
