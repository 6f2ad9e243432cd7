//! mesos-allocator: who gets offered what.
//!
//! [`HierarchicalAllocator`] is a pure core (no I/O, no clock: time is passed in) implementing
//! Mesos's hierarchical DRF with quota, weights, reservations, filters and suppression, behind the
//! [`Allocator`] trait so a researcher can plug in a policy of their own. [`AllocatorProcess`]
//! is the thin actor around any [`Allocator`]: requests for allocation add agents to a candidate
//! set and enqueue one run if none is pending; a periodic run every allocation interval.

pub mod constraints;
mod hierarchical;
mod operation;
mod process;
mod quota;

pub mod sorter;
mod types;

pub use constraints::OfferConstraintsFilter;
pub use hierarchical::HierarchicalAllocator;
pub use libprocess::rng::Rng;
pub use operation::Operation;
pub use process::{quantile, AllocatorProcess, OfferCallback, Run, RunTimes, RUN_WINDOW};
pub use sorter::SorterKind;
pub use types::{AgentSpec, Allocation, AllocatorError, FrameworkSpec, Options, Quota};

use std::time::Duration;

use mesos_api::{AgentID, FrameworkID, Resources};

/// An allocation policy. Every call is made by one owner (the allocator actor), so
/// implementations need no locking. `now` is the time since an arbitrary origin.
pub trait Allocator: Send {
    /// A framework subscribed; `used` is what it already holds (after a master failover).
    fn add_framework(
        &mut self,
        id: &FrameworkID,
        spec: FrameworkSpec,
        used: &[(AgentID, Resources)],
        active: bool,
    );
    /// The framework's roles, capabilities or suppressed roles changed.
    fn update_framework(&mut self, id: &FrameworkID, spec: FrameworkSpec);
    /// The framework is gone: everything it held returns to its agents.
    fn remove_framework(&mut self, id: &FrameworkID);
    /// The framework (re)connected: it is offered again.
    fn activate_framework(&mut self, id: &FrameworkID);
    /// The framework disconnected: no offers until it is activated.
    fn deactivate_framework(&mut self, id: &FrameworkID);
    /// An agent registered with what its frameworks already use.
    fn add_agent(&mut self, id: &AgentID, spec: AgentSpec, used: &[(FrameworkID, Resources)]);
    /// The agent's total changed. If it shrinks below what is allocated there, the allocations
    /// stay until recovered and nothing more is offered on the agent meanwhile.
    fn update_agent(&mut self, id: &AgentID, total: Resources);
    /// The agent is gone.
    fn remove_agent(&mut self, id: &AgentID);
    /// Offer the agent (again) / stop offering it (maintenance, draining).
    fn activate_agent(&mut self, id: &AgentID);
    /// See [`Allocator::activate_agent`].
    fn deactivate_agent(&mut self, id: &AgentID);
    /// Resources come back (declined, rescinded, task ended); `refuse` installs a filter.
    fn recover_resources(
        &mut self,
        framework: &FrameworkID,
        agent: &AgentID,
        resources: &Resources,
        refuse: Option<Duration>,
        now: Duration,
    );
    /// Applies RESERVE / UNRESERVE / CREATE / DESTROY to resources the framework was offered;
    /// returns the converted resources (still allocated to the framework).
    fn update_allocation(
        &mut self,
        framework: &FrameworkID,
        agent: &AgentID,
        offered: &Resources,
        ops: &[Operation],
    ) -> Result<Resources, AllocatorError>;
    /// Applies operations to an agent's unallocated resources (operator API).
    fn update_available(
        &mut self,
        agent: &AgentID,
        ops: &[Operation],
    ) -> Result<(), AllocatorError>;
    /// Stops offers to the framework for these roles (all its roles if empty).
    fn suppress_offers(&mut self, framework: &FrameworkID, roles: &[String]);
    /// Resumes offers for these roles (all if empty) and clears the framework's filters.
    fn revive_offers(&mut self, framework: &FrameworkID, roles: &[String]);
    /// Sets (or with an empty quota, clears) a role's quota.
    fn update_quota(&mut self, role: &str, quota: Quota);
    /// Sets role weights.
    fn update_weights(&mut self, weights: &[(String, f64)]);
    /// One allocation cycle over `candidates` (all agents if `None`).
    fn allocate(&mut self, now: Duration, candidates: Option<&[AgentID]>) -> Vec<Allocation>;
    /// What must always hold of the allocator's books, checked now (simulations call it
    /// between events): one line per violation. A policy without a check returns none.
    fn audit(&self) -> Vec<String> {
        Vec::new()
    }
}
