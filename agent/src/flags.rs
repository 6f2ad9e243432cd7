//! The agent's flags (Mesos's names and defaults). The command line and `MESOS_*` environment
//! are read by the `cli` crate; this is the parsed form.

use std::path::PathBuf;
use std::time::Duration;

/// Flags of `mesos-agent`.
#[derive(Clone, Debug)]
pub struct AgentFlags {
    /// `--master`: `host:port` or `master@host:port`.
    pub master: String,
    /// `--work_dir`: sandboxes live under `<work_dir>/slaves/`.
    pub work_dir: PathBuf,
    /// `--resources`: overrides the detected resources by name.
    pub resources: Option<String>,
    /// `--attributes`.
    pub attributes: Option<String>,
    /// `--hostname` (default: the machine's).
    pub hostname: Option<String>,
    /// `--default_role` for resources without one.
    pub default_role: String,
    /// `--executor_registration_timeout` (1 min).
    pub executor_registration_timeout: Duration,
    /// `--executor_shutdown_grace_period` (5 s).
    pub executor_shutdown_grace_period: Duration,
    /// `--registration_backoff_factor` (1 s): the first retry is within this, then doubling.
    pub registration_backoff_factor: Duration,
    /// `--launcher_dir`: where `mesos-executor` and `mesos-default-executor` are (default: the
    /// directory of the running binary).
    pub launcher_dir: Option<PathBuf>,
    /// `--isolation` (accepted; isolation itself comes with the containerizer).
    pub isolation: String,
}

impl AgentFlags {
    /// Flags for an agent of `master` working in `work_dir`, the rest at their defaults.
    pub fn new(master: impl Into<String>, work_dir: impl Into<PathBuf>) -> AgentFlags {
        AgentFlags {
            master: master.into(),
            work_dir: work_dir.into(),
            resources: None,
            attributes: None,
            hostname: None,
            default_role: "*".into(),
            executor_registration_timeout: Duration::from_secs(60),
            executor_shutdown_grace_period: Duration::from_secs(5),
            registration_backoff_factor: Duration::from_secs(1),
            launcher_dir: None,
            isolation: "posix/cpu,posix/mem".into(),
        }
    }
}
