//! The agent's flags (Mesos's names and defaults). The command line and `MESOS_*` environment
//! are read by the `cli` crate; this is the parsed form.

use std::path::PathBuf;
use std::time::Duration;

use mesos_containerizer::ContainerizerFlags;

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
    /// The containerizer's flags (`--launcher`, `--isolation`, cgroups, images, fetcher).
    pub containerizer: ContainerizerFlags,
    /// `--recover`: `reconnect` (adopt the executors that survived a restart) or `cleanup`
    /// (kill them, then register as a new agent).
    pub recover: Recover,
    /// `--recovery_timeout` (15 min): how long an executor waits for a restarted agent.
    pub recovery_timeout: Duration,
}

/// `--recover`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recover {
    /// Reconnect with the executors that survived.
    Reconnect,
    /// Kill them and start afresh.
    Cleanup,
}

impl Recover {
    /// From the flag's value.
    pub fn parse(s: &str) -> Result<Recover, String> {
        match s {
            "reconnect" => Ok(Recover::Reconnect),
            "cleanup" => Ok(Recover::Cleanup),
            _ => Err(format!(
                "Flag '--recover': expecting 'reconnect' or 'cleanup', got '{s}'"
            )),
        }
    }
}

impl AgentFlags {
    /// Flags for an agent of `master` working in `work_dir`, the rest at their defaults.
    pub fn new(master: impl Into<String>, work_dir: impl Into<PathBuf>) -> AgentFlags {
        let work_dir: PathBuf = work_dir.into();
        AgentFlags {
            master: master.into(),
            work_dir: work_dir.clone(),
            resources: None,
            attributes: None,
            hostname: None,
            default_role: "*".into(),
            executor_registration_timeout: Duration::from_secs(60),
            executor_shutdown_grace_period: Duration::from_secs(5),
            registration_backoff_factor: Duration::from_secs(1),
            launcher_dir: None,
            containerizer: {
                let mut c = ContainerizerFlags::new(&work_dir);
                c.fetcher_cache_dir = work_dir.join("fetch");
                c
            },
            recover: Recover::Reconnect,
            recovery_timeout: Duration::from_secs(15 * 60),
        }
    }
}
