//! The master's flags (Mesos's names and defaults).

use std::time::Duration;

/// Flags of `mesos-master`.
#[derive(Clone, Debug)]
pub struct MasterFlags {
    /// `--hostname`.
    pub hostname: String,
    /// `--allocation_interval` (1 s).
    pub allocation_interval: Duration,
    /// `--agent_ping_timeout` (15 s).
    pub agent_ping_timeout: Duration,
    /// `--max_agent_ping_timeouts` (5).
    pub max_agent_ping_timeouts: u32,
    /// `--offer_timeout` (none).
    pub offer_timeout: Option<Duration>,
    /// Heartbeat period announced to frameworks (15 s).
    pub heartbeat_interval: Duration,
    /// `--max_completed_frameworks` (50).
    pub max_completed_frameworks: usize,
    /// `--max_completed_tasks_per_framework` (1000).
    pub max_completed_tasks_per_framework: usize,
}

impl Default for MasterFlags {
    fn default() -> MasterFlags {
        MasterFlags {
            hostname: "localhost".into(),
            allocation_interval: Duration::from_secs(1),
            agent_ping_timeout: Duration::from_secs(15),
            max_agent_ping_timeouts: 5,
            offer_timeout: None,
            heartbeat_interval: Duration::from_secs(15),
            max_completed_frameworks: 50,
            max_completed_tasks_per_framework: 1000,
        }
    }
}
