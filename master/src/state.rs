//! What the master knows: agents, frameworks (with their tasks) and outstanding offers.

use std::collections::{BTreeMap, HashSet};

use libprocess::UPID;
use mesos_api::messages::Task;
use mesos_api::protocol::framework::{AgentInfo, FrameworkInfo};
use mesos_api::{AgentID, FrameworkID, OfferID, Resources, TaskID};

/// A registered agent.
pub(crate) struct AgentRec {
    pub(crate) pid: UPID,
    pub(crate) info: AgentInfo,
    /// Pings sent without a pong since.
    pub(crate) missed_pings: u32,
    /// Dynamic reservations and persistent volumes (unallocated form).
    pub(crate) checkpointed: Resources,
}

/// A subscribed (or recovered) framework.
pub(crate) struct FrameworkRec {
    pub(crate) info: FrameworkInfo,
    /// Where its events go (binary-transport frameworks).
    pub(crate) pid: Option<UPID>,
    /// Its framework-proxy actor (sends its events).
    pub(crate) proxy: Option<libprocess::PID<crate::master::FrameworkProxy>>,
    pub(crate) connected: bool,
    pub(crate) offers: HashSet<OfferID>,
    pub(crate) tasks: BTreeMap<TaskID, Task>,
    /// Terminal tasks, kept until their last update is acknowledged.
    pub(crate) completed: Vec<Task>,
    /// Bumped on each (re)subscription, so a stale failover timer does nothing.
    pub(crate) generation: u64,
}

impl FrameworkRec {
    pub(crate) fn partition_aware(&self) -> bool {
        self.info
            .has_capability(mesos_api::protocol::framework::FrameworkCapabilityType::PartitionAware)
    }
}

/// An outstanding offer.
pub(crate) struct OfferRec {
    pub(crate) framework_id: FrameworkID,
    pub(crate) agent_id: AgentID,
    /// Allocated form (with the role).
    pub(crate) resources: Resources,
}
