//! What the master knows: agents, frameworks (with their tasks) and outstanding offers.

use std::collections::{BTreeMap, HashSet, VecDeque};

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
    /// When it (re)registered with this master (seconds since the epoch).
    pub(crate) registered_time: f64,
    /// Its version string.
    pub(crate) version: String,
    /// Deactivated by an operator (DEACTIVATE_AGENT): no offers until reactivated.
    pub(crate) deactivated: bool,
}

/// A subscribed (or recovered) framework.
pub(crate) struct FrameworkRec {
    pub(crate) info: FrameworkInfo,
    /// Where its events go (binary-transport frameworks).
    pub(crate) pid: Option<UPID>,
    /// The `Mesos-Stream-Id` of its HTTP subscription (HTTP frameworks).
    pub(crate) stream_id: Option<String>,
    /// Its framework-proxy actor (sends its events).
    pub(crate) proxy: Option<libprocess::PID<crate::master::FrameworkProxy>>,
    pub(crate) connected: bool,
    pub(crate) offers: HashSet<OfferID>,
    pub(crate) tasks: BTreeMap<TaskID, Task>,
    /// Terminal tasks whose last update was acknowledged (the newest
    /// [`MAX_COMPLETED_TASKS`]).
    pub(crate) completed: VecDeque<Task>,
    /// Bumped on each (re)subscription, so a stale failover timer does nothing.
    pub(crate) generation: u64,
    /// When it first subscribed (seconds since the epoch).
    pub(crate) registered_time: f64,
}

/// Completed tasks kept per framework (Mesos's `--max_completed_tasks_per_framework`).
pub(crate) const MAX_COMPLETED_TASKS: usize = 1000;

/// Completed frameworks kept (Mesos's `--max_completed_frameworks`).
pub(crate) const MAX_COMPLETED_FRAMEWORKS: usize = 50;

impl FrameworkRec {
    /// Moves a task to the completed list, dropping the oldest past the limit.
    pub(crate) fn complete(&mut self, t: Task) {
        if self.completed.len() >= MAX_COMPLETED_TASKS {
            self.completed.pop_front();
        }
        self.completed.push_back(t);
    }

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
