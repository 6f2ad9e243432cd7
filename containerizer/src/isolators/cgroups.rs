//! cgroups/cpu, cgroups/mem and cgroups/pids. As Mesos's cgroups isolator, one cgroup per
//! top-level container holds every controller in use ([`CgroupsIsolator`], on whenever a
//! cgroups isolator is); each subsystem then sets its limits in it: cpu shares and a CFS quota
//! ([`CgroupsCpu`]), a memory limit whose OOM kills are limitations ([`CgroupsMem`]), a process
//! count limit ([`CgroupsPids`]). Nested containers join their parent's cgroup.

use std::time::Duration;

use mesos_api::protocol::task::Reason;

use super::{Check, Isolator, IsolatorState, LaunchInfo, Watch};
use crate::cgroups::{Cgroup, Cgroups, Controller};
use crate::config::{ContainerConfig, Limitation, Limits, ResourceStatistics};
use crate::error::Result;

/// The smallest memory limit (Mesos: 32 MB).
const MIN_MEMORY: u64 = 32 << 20;
/// How often OOM kills are looked for.
const OOM_WATCH_INTERVAL: Duration = Duration::from_millis(250);
/// How long removing a cgroup may take (its processes are killed first).
const DESTROY_TIMEOUT: Duration = Duration::from_secs(30);

/// The container's cgroup: made (or, for a nested container, its parent's joined) in prepare,
/// its statistics in usage, removed in cleanup.
pub struct CgroupsIsolator {
    cgroups: Cgroups,
    controllers: Vec<Controller>,
}

impl CgroupsIsolator {
    /// Over the cgroups found at start, with the controllers in use.
    pub fn new(cgroups: Cgroups, controllers: Vec<Controller>) -> CgroupsIsolator {
        CgroupsIsolator {
            cgroups,
            controllers,
        }
    }
}

impl Isolator for CgroupsIsolator {
    fn name(&self) -> &'static str {
        "cgroups"
    }

    fn prepare(
        &self,
        config: &ContainerConfig,
        state: &mut IsolatorState,
        launch: &mut LaunchInfo,
    ) -> Result<()> {
        let cg = match &config.parent {
            // Nested containers share their parent's cgroups (Mesos's default).
            Some(p) => self.cgroups.open(&p.value, &self.controllers),
            None => {
                let id = &config.id.value;
                state.cgroup = Some(self.cgroups.open(id, &self.controllers));
                state.owns_cgroup = true;
                self.cgroups.create(id, &self.controllers)?
            }
        };
        launch.isolation.cgroup_procs = cg.procs_files();
        state.cgroup = Some(cg);
        Ok(())
    }

    fn usage(&self, state: &IsolatorState, s: &mut ResourceStatistics) {
        let Some(cg) = &state.cgroup else { return };
        let c = cg.stats();
        s.cpus_user_time_secs = c.cpus_user_time_secs;
        s.cpus_system_time_secs = c.cpus_system_time_secs;
        s.cpus_nr_periods = c.cpus_nr_periods;
        s.cpus_nr_throttled = c.cpus_nr_throttled;
        s.cpus_throttled_time_secs = c.cpus_throttled_time_secs;
        s.mem_total_bytes = c.mem_total_bytes;
        s.mem_rss_bytes = c.mem_rss_bytes;
        s.mem_cache_bytes = c.mem_cache_bytes;
        s.mem_max_bytes = c.mem_max_bytes;
        if let Some(l) = c.mem_limit_bytes.filter(|l| *l < (1 << 60)) {
            s.mem_limit_bytes = Some(l);
        }
        s.processes = c.processes;
    }

    fn cleanup(&self, _config: &ContainerConfig, state: &IsolatorState) -> Result<()> {
        match (&state.cgroup, state.owns_cgroup) {
            (Some(cg), true) => cg.destroy(DESTROY_TIMEOUT),
            _ => Ok(()),
        }
    }

    fn recover(&self, config: &ContainerConfig, state: &mut IsolatorState) {
        let id = config.parent.as_ref().unwrap_or(&config.id);
        state.cgroup = Some(self.cgroups.open(&id.value, &self.controllers));
        state.owns_cgroup = config.parent.is_none();
    }
}

/// The container's own cgroup, where a subsystem sets limits.
pub(crate) fn own(state: &IsolatorState) -> Option<&Cgroup> {
    state.cgroup.as_ref().filter(|_| state.owns_cgroup)
}

/// cgroups/cpu: cpu shares and, with `--cgroups_enable_cfs`, a CFS quota from `cpus`.
pub struct CgroupsCpu {
    /// `--cgroups_enable_cfs`.
    pub enable_cfs: bool,
}

impl Isolator for CgroupsCpu {
    fn name(&self) -> &'static str {
        "cgroups/cpu"
    }

    fn prepare(
        &self,
        c: &ContainerConfig,
        s: &mut IsolatorState,
        _: &mut LaunchInfo,
    ) -> Result<()> {
        self.update(c, s, &c.limits)
    }

    fn update(&self, _: &ContainerConfig, s: &IsolatorState, limits: &Limits) -> Result<()> {
        match (own(s), limits.cpus) {
            (Some(cg), Some(cpus)) => cg.set_cpus(cpus, self.enable_cfs),
            _ => Ok(()),
        }
    }
}

/// cgroups/mem: a memory limit from `mem` (at least 32 MB); a kill by the OOM killer is a
/// memory limitation.
pub struct CgroupsMem;

impl Isolator for CgroupsMem {
    fn name(&self) -> &'static str {
        "cgroups/mem"
    }

    fn prepare(
        &self,
        c: &ContainerConfig,
        s: &mut IsolatorState,
        _: &mut LaunchInfo,
    ) -> Result<()> {
        self.update(c, s, &c.limits)
    }

    fn update(&self, _: &ContainerConfig, s: &IsolatorState, limits: &Limits) -> Result<()> {
        match (own(s), limits.mem_bytes) {
            (Some(cg), Some(m)) => cg.set_memory(m.max(MIN_MEMORY)),
            _ => Ok(()),
        }
    }

    fn watch(&self, _: &ContainerConfig, s: &IsolatorState) -> Option<Watch> {
        own(s)
            .filter(|cg| cg.has(Controller::Memory))
            .map(|_| Watch {
                first: OOM_WATCH_INTERVAL,
                every: OOM_WATCH_INTERVAL,
            })
    }

    fn check(&self, c: &ContainerConfig, s: &IsolatorState) -> Check {
        Check::Now(
            s.cgroup
                .as_ref()
                .and_then(|cg| oom_limitation(cg, &c.limits)),
        )
    }
}

/// cgroups/pids: at most `--cgroups_pids_max` processes.
pub struct CgroupsPids {
    /// `--cgroups_pids_max`.
    pub max: Option<u64>,
}

impl Isolator for CgroupsPids {
    fn name(&self) -> &'static str {
        "cgroups/pids"
    }

    fn prepare(
        &self,
        _: &ContainerConfig,
        s: &mut IsolatorState,
        _: &mut LaunchInfo,
    ) -> Result<()> {
        match (own(s), self.max) {
            (Some(cg), Some(n)) => cg.set_pids_max(n),
            _ => Ok(()),
        }
    }
}

/// The memory limitation of a cgroup whose OOM killer has struck.
pub(crate) fn oom_limitation(cg: &Cgroup, limits: &Limits) -> Option<Limitation> {
    if !cg.has(Controller::Memory) || cg.oom_kills() == 0 {
        return None;
    }
    let st = cg.stats();
    let mb = |b: Option<u64>| b.map(|b| b / (1 << 20)).unwrap_or(0);
    Some(Limitation {
        reason: Reason::ContainerLimitationMemory,
        message: format!(
            "Memory limit exceeded: Requested: {}MB Maximum Used: {}MB",
            mb(limits.mem_bytes),
            mb(st.mem_max_bytes.or(st.mem_total_bytes))
        ),
    })
}
