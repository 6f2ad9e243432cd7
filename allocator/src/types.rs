//! The allocator's input and output types.

use std::collections::BTreeSet;
use std::time::Duration;

use mesos_api::{AgentID, Attributes, FrameworkID, ResourceQuantities, Resources};

use crate::constraints::OfferConstraintsFilter;

use crate::sorter::SorterKind;

/// What the allocator knows of a framework.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FrameworkSpec {
    /// The roles it subscribes to (one for non-MULTI_ROLE frameworks).
    pub roles: BTreeSet<String>,
    /// GPU_RESOURCES capability: only such frameworks are offered GPU agents.
    pub gpu_resources: bool,
    /// REGION_AWARE capability: only such frameworks are offered agents in regions other
    /// than the master's.
    pub region_aware: bool,
    /// Roles it has suppressed offers for.
    pub suppressed_roles: BTreeSet<String>,
    /// Which agents it is offered, per role (none: every agent).
    pub offer_constraints: Option<OfferConstraintsFilter>,
}

impl FrameworkSpec {
    /// A framework in the given roles.
    pub fn with_roles<'a>(roles: impl IntoIterator<Item = &'a str>) -> FrameworkSpec {
        FrameworkSpec {
            roles: roles.into_iter().map(str::to_string).collect(),
            ..FrameworkSpec::default()
        }
    }
}

/// What the allocator knows of an agent.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentSpec {
    /// The hostname.
    pub hostname: String,
    /// Its total resources (with static and dynamic reservations).
    pub total: Resources,
    /// Its attributes (offer constraints read them).
    pub attributes: Attributes,
    /// In a region other than the master's (offered only to REGION_AWARE frameworks).
    pub remote: bool,
}

/// A role's quota: guarantees (allocated first, kept as headroom) and limits (never exceeded).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Quota {
    /// Guaranteed quantities.
    pub guarantees: ResourceQuantities,
    /// Upper bounds; no bound for a name not listed.
    pub limits: ResourceQuantities,
}

/// Resources offered: to a framework, on an agent, for one of its roles.
#[derive(Clone, Debug, PartialEq)]
pub struct Allocation {
    /// Who.
    pub framework_id: FrameworkID,
    /// Where.
    pub agent_id: AgentID,
    /// For which role.
    pub role: String,
    /// What, marked as allocated to `role`.
    pub resources: Resources,
}

/// The allocator's flags.
#[derive(Clone, Debug)]
pub struct Options {
    /// `--allocation_interval` (default 1 s).
    pub allocation_interval: Duration,
    /// `--min_allocatable_resources`: an offer must hold at least one of these (default
    /// `cpus:0.01|mem:32`).
    pub min_allocatable_resources: Vec<ResourceQuantities>,
    /// `--fair_sharing_excluded_resource_names`.
    pub fair_sharing_excluded_resource_names: Vec<String>,
    /// `--role_sorter`.
    pub role_sorter: SorterKind,
    /// `--framework_sorter`.
    pub framework_sorter: SorterKind,
    /// Seed for the agent visiting order (and the random sorter).
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            allocation_interval: Duration::from_secs(1),
            min_allocatable_resources: vec![
                ResourceQuantities::from_pairs([("cpus", 0.01)]),
                ResourceQuantities::from_pairs([("mem", 32.0)]),
            ],
            fair_sharing_excluded_resource_names: Vec::new(),
            role_sorter: SorterKind::Drf,
            framework_sorter: SorterKind::Drf,
            seed: 0x5eed,
        }
    }
}

impl Options {
    /// Parses `--min_allocatable_resources` (`cpus:0.01|mem:32`; each alternative `a:1;b:2`).
    pub fn parse_min_allocatable(text: &str) -> Result<Vec<ResourceQuantities>, AllocatorError> {
        text.split('|')
            .map(|alt| {
                let r = Resources::parse(alt, "*").map_err(|e| {
                    AllocatorError::InvalidFlag(format!("--min_allocatable_resources: {e}"))
                })?;
                Ok(r.quantities())
            })
            .collect()
    }
}

/// Why an allocator call was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AllocatorError {
    /// The framework is not known.
    #[error("unknown framework '{0}'")]
    UnknownFramework(String),
    /// The agent is not known.
    #[error("unknown agent '{0}'")]
    UnknownAgent(String),
    /// An operation's resources are not held where it says.
    #[error("invalid operation: {0}")]
    InvalidOperation(String),
    /// A flag value did not parse.
    #[error("invalid flag {0}")]
    InvalidFlag(String),
}
