//! The containerizer: checks the flags against the machine once and builds the enabled
//! isolators from `--isolation`, then launches each container as its own actor
//! ([`crate::container::ContainerProcess`]) and recovers them after an agent restart. It owns
//! what containers share: the isolators, the cgroups found at start, the fetcher, the
//! provisioner and the GPU devices.

use std::sync::Arc;

use libprocess::{Runtime, PID};
use mesos_api::ContainerID;

use crate::cgroups::{Cgroups, Controller, Version};
use crate::config::{ContainerConfig, Event, Limitation, Limits, ResourceStatistics};
use crate::container::{ContainerProcess, Recovered, Shared};
use crate::error::{Error, Result};
use crate::fetcher::{Fetcher, FetcherConfig};
use crate::flags::{ContainerizerFlags, IsolatorName, LauncherKind};
use crate::gpu::Gpus;
use crate::isolators::cgroups::{
    oom_limitation, CgroupsCpu, CgroupsIsolator, CgroupsMem, CgroupsPids,
};
use crate::isolators::disk_du::DiskDu;
use crate::isolators::filesystem::Filesystem;
use crate::isolators::gpu::GpuNvidia;
use crate::isolators::namespaces::NamespacesPid;
use crate::isolators::rlimits::PosixRlimits;
use crate::isolators::volumes::Volumes;
use crate::isolators::{Isolator, IsolatorState};
use crate::paths;
use crate::provisioner::{Backend, Provisioner, ProvisionerConfig};
use crate::sim::{SimContainer, SimHost};

/// What every container of an agent shares.
pub struct Containerizer {
    shared: Arc<Shared>,
    cgroups: Option<Cgroups>,
    controllers: Vec<Controller>,
    /// The fetcher.
    pub fetcher: Arc<Fetcher>,
    /// The provisioner.
    pub provisioner: Arc<Provisioner>,
    /// GPUs (gpu/nvidia).
    pub gpus: Arc<Gpus>,
    /// Set for the simulated containerizer: the simulated machine its containers run on.
    sim: Option<SimHost>,
}

/// A running container as the agent holds it.
#[derive(Clone)]
pub struct Container {
    /// Its id.
    pub id: ContainerID,
    actor: Actor,
}

#[derive(Clone)]
enum Actor {
    Real(PID<ContainerProcess>),
    Sim(PID<SimContainer>),
}

impl Container {
    /// Kills the container and cleans up; its termination follows as an event.
    pub fn destroy(&self) {
        match &self.actor {
            Actor::Real(p) => p.dispatch_nowait(|c, ctx| c.destroy(ctx)),
            Actor::Sim(p) => p.dispatch_nowait(|c, ctx| c.destroy(ctx)),
        };
    }

    /// The actor of a container on this machine (none for a simulated one).
    pub fn process(&self) -> Option<&PID<ContainerProcess>> {
        match &self.actor {
            Actor::Real(p) => Some(p),
            Actor::Sim(_) => None,
        }
    }
}

impl Containerizer {
    /// Checks the flags against this machine: cgroups isolators need cgroups (v1 or v2,
    /// detected); namespaces and filesystem/linux need the linux launcher and root. Then
    /// builds the enabled isolators.
    pub fn new(flags: ContainerizerFlags) -> Result<Arc<Containerizer>> {
        let wants_cgroups = flags.isolation.iter().any(|i| i.is_cgroups());
        let root = nix::unistd::geteuid().is_root();
        for i in [
            IsolatorName::NamespacesPid,
            IsolatorName::NamespacesIpc,
            IsolatorName::LinuxDevices,
            IsolatorName::FilesystemLinux,
            IsolatorName::NetworkCni,
        ] {
            if flags.has(i) && flags.launcher != LauncherKind::Linux {
                return Err(Error::Unsupported(format!(
                    "--isolation={} needs --launcher=linux",
                    i.name()
                )));
            }
        }
        if flags.has(IsolatorName::NamespacesIpc) && !flags.has(IsolatorName::FilesystemLinux) {
            return Err(Error::Unsupported(
                "--isolation=namespaces/ipc needs filesystem/linux (as in Mesos)".into(),
            ));
        }
        if flags.launcher == LauncherKind::Linux && !root {
            return Err(Error::Unsupported(
                "--launcher=linux needs root (use --launcher=posix)".into(),
            ));
        }
        let mut cgroups = None;
        let mut controllers = Vec::new();
        if wants_cgroups {
            if !root {
                return Err(Error::Unsupported("the cgroups isolators need root".into()));
            }
            let cg = Cgroups::detect(&flags.cgroups_hierarchy, &flags.cgroups_root)
                .map_err(Error::Unsupported)?;
            let want = [
                (IsolatorName::CgroupsCpu, Controller::Cpu),
                (IsolatorName::CgroupsCpu, Controller::Cpuacct),
                (IsolatorName::CgroupsMem, Controller::Memory),
                (IsolatorName::CgroupsPids, Controller::Pids),
                (IsolatorName::CgroupsDevices, Controller::Devices),
            ];
            for (i, c) in want {
                if flags.has(i) {
                    if c == Controller::Devices && cg.version() == Version::V2 {
                        return Err(Error::Unsupported(
                            "--isolation=cgroups/devices needs the cgroup v1 devices controller \
                             (cgroup v2 controls devices by eBPF programs, which this agent does \
                             not load)"
                                .into(),
                        ));
                    }
                    if !cg.has(c) {
                        return Err(Error::Unsupported(format!(
                            "--isolation={}: the {} controller is not available in cgroup {:?}",
                            i.name(),
                            c.name(),
                            cg.version()
                        )));
                    }
                    if !controllers.contains(&c) {
                        controllers.push(c);
                    }
                }
            }
            if flags.launcher == LauncherKind::Linux && cg.has(Controller::Freezer) {
                controllers.push(Controller::Freezer);
            }
            tracing::info!(version = ?cg.version(), ?controllers, "using cgroups");
            cgroups = Some(cg);
        }
        let backend = Backend::parse(&flags.image_provisioner_backend)?;
        let url = flags
            .docker_registry
            .as_deref()
            .and_then(|p| p.to_str())
            .filter(|s| s.starts_with("http://") || s.starts_with("https://"));
        let remote = match url {
            Some(url) => Some(
                crate::provisioner::registry::Remote::new(url, flags.docker_config.as_deref())
                    .map_err(|e| Error::Invalid(format!("Flag '--docker_registry': {e}")))?,
            ),
            None if flags.docker_config.is_some() => {
                return Err(Error::Invalid(
                    "Flag '--docker_config': credentials are for a registry given as \
                     --docker_registry=http(s)://host:port"
                        .into(),
                ))
            }
            None => None,
        };
        let provisioner = Arc::new(Provisioner::new(ProvisionerConfig {
            docker_registry: flags.docker_registry.clone().filter(|_| remote.is_none()),
            remote,
            store_dir: flags
                .docker_store_dir
                .clone()
                .unwrap_or_else(|| flags.work_dir.join("store").join("docker")),
            rootfs_dir: flags.work_dir.join("provisioner"),
            backend,
        })?);
        let fetcher = Arc::new(Fetcher::new(FetcherConfig {
            cache_dir: flags.fetcher_cache_dir.clone(),
            cache_size: flags.fetcher_cache_size,
        }));
        let gpus = Arc::new(if flags.has(IsolatorName::GpuNvidia) {
            Gpus::discover(flags.nvidia_gpu_devices.as_deref())
        } else {
            Gpus::none("gpu/nvidia is not in --isolation")
        });
        let allowed_devices = flags
            .allowed_devices
            .as_deref()
            .map(crate::isolators::devices::parse_allowed_devices)
            .transpose()
            .map_err(Error::Invalid)?;
        if allowed_devices.is_some()
            && !flags.has(IsolatorName::CgroupsDevices)
            && !flags.has(IsolatorName::LinuxDevices)
        {
            return Err(Error::Invalid(
                "--allowed_devices is for --isolation with cgroups/devices or linux/devices".into(),
            ));
        }
        let allowed_devices = allowed_devices.unwrap_or_default();
        let mut isolators = isolators(
            &flags,
            &cgroups,
            &controllers,
            &provisioner,
            &gpus,
            &allowed_devices,
        );
        let caps = |name: &str, v: &Option<String>| {
            v.as_deref()
                .map(|t| crate::isolators::linux::parse_flag(name, t))
                .transpose()
                .map_err(Error::Invalid)
        };
        let effective = caps("effective_capabilities", &flags.effective_capabilities)?;
        let bounding = caps("bounding_capabilities", &flags.bounding_capabilities)?;
        if flags.has(IsolatorName::LinuxCapabilities) {
            isolators.push(Box::new(crate::isolators::linux::LinuxCapabilities {
                effective,
                bounding,
            }));
        } else if effective.is_some() || bounding.is_some() {
            return Err(Error::Invalid(
                "--effective_capabilities and --bounding_capabilities are for \
                 --isolation=linux/capabilities"
                    .into(),
            ));
        }
        if flags.has(IsolatorName::NetworkCni) {
            let (Some(configs), Some(plugins)) = (
                &flags.network_cni_config_dir,
                &flags.network_cni_plugins_dir,
            ) else {
                return Err(Error::Invalid(
                    "--isolation=network/cni needs --network_cni_config_dir and \
                     --network_cni_plugins_dir"
                        .into(),
                ));
            };
            isolators.push(Box::new(crate::isolators::cni::Cni::new(
                configs.clone(),
                plugins,
                &flags.work_dir,
            )?));
        } else if flags.network_cni_config_dir.is_some() || flags.network_cni_plugins_dir.is_some()
        {
            return Err(Error::Invalid(
                "--network_cni_config_dir and --network_cni_plugins_dir are for \
                 --isolation=network/cni"
                    .into(),
            ));
        }
        tracing::debug!(
            isolators = ?isolators.iter().map(|i| i.name()).collect::<Vec<_>>(),
            "isolators"
        );
        Ok(Arc::new(Containerizer {
            shared: Arc::new(Shared {
                flags,
                isolators,
                fetcher: fetcher.clone(),
            }),
            cgroups,
            controllers,
            fetcher,
            provisioner,
            gpus,
            sim: None,
        }))
    }

    /// The simulated containerizer ([`crate::sim`]): no isolator and nothing of this machine
    /// is used; each container's executor runs inside the simulation, on `host`.
    pub fn simulated(flags: ContainerizerFlags, host: SimHost) -> Result<Arc<Containerizer>> {
        let provisioner = Arc::new(Provisioner::new(ProvisionerConfig {
            docker_registry: None,
            remote: None,
            store_dir: flags.work_dir.join("store").join("docker"),
            rootfs_dir: flags.work_dir.join("provisioner"),
            backend: Backend::parse(&flags.image_provisioner_backend)?,
        })?);
        let fetcher = Arc::new(Fetcher::new(FetcherConfig {
            cache_dir: flags.fetcher_cache_dir.clone(),
            cache_size: flags.fetcher_cache_size,
        }));
        Ok(Arc::new(Containerizer {
            shared: Arc::new(Shared {
                flags,
                isolators: Vec::new(),
                fetcher: fetcher.clone(),
            }),
            cgroups: None,
            controllers: Vec::new(),
            fetcher,
            provisioner,
            gpus: Arc::new(Gpus::none("a simulated machine has no GPUs")),
            sim: Some(host),
        }))
    }

    /// The flags.
    pub fn flags(&self) -> &ContainerizerFlags {
        &self.shared.flags
    }

    /// The cgroups in use, if a cgroups isolator is on.
    pub fn cgroups(&self) -> Option<&Cgroups> {
        self.cgroups.as_ref()
    }

    /// The enabled isolators' names, in the order they prepare a container.
    pub fn isolators(&self) -> Vec<&'static str> {
        self.shared.isolators.iter().map(|i| i.name()).collect()
    }

    /// Launches a container: its actor prepares the isolators, fetches, provisions and starts
    /// the process, then reports through `events` (launched or failed, limitations, and the
    /// termination, always last).
    pub fn launch(
        self: &Arc<Self>,
        rt: &Runtime,
        config: ContainerConfig,
        events: Box<dyn Fn(Event) + Send>,
    ) -> Result<Container> {
        self.spawn(rt, config, events, None)
    }

    /// Adopts a container that survived an agent restart: `os_pid` is its first process,
    /// read from the checkpoint. When the process is gone already, the actor reports
    /// termination at once.
    pub fn recover(
        self: &Arc<Self>,
        rt: &Runtime,
        config: ContainerConfig,
        os_pid: i32,
        events: Box<dyn Fn(Event) + Send>,
    ) -> Result<Container> {
        self.spawn(rt, config, events, Some(Recovered { os_pid }))
    }

    /// Whether the first process (`os_pid`) of container `id` still runs.
    pub fn is_running(&self, id: &str, os_pid: i32) -> bool {
        match &self.sim {
            Some(host) => host.adopt(id, os_pid).is_some(),
            None => nix::sys::signal::kill(nix::unistd::Pid::from_raw(os_pid), None).is_ok(),
        }
    }

    /// A container's usage, read now (cgroups, or its session's processes). `id` names its
    /// own cgroup; a nested container reports its parent's.
    pub fn usage(&self, id: &str, os_pid: Option<i32>, limits: &Limits) -> ResourceStatistics {
        if self.sim.is_some() {
            return ResourceStatistics::default();
        }
        let cg = self.cgroups.as_ref().map(|c| c.open(id, &self.controllers));
        let state = IsolatorState {
            cgroup: cg.filter(|c| c.unique_dirs().iter().any(|d| d.exists())),
            ..Default::default()
        };
        self.shared.usage(&state, os_pid, limits)
    }

    /// A container's CNI networks and addresses (empty: it is on the host's network).
    pub fn network_infos(&self, id: &str) -> Vec<mesos_api::protocol::container::NetworkInfo> {
        if !self.shared.flags.has(IsolatorName::NetworkCni) {
            return Vec::new();
        }
        crate::isolators::cni::network_infos(&self.shared.flags.work_dir, id)
    }

    /// The memory limitation of a container whose processes the OOM killer struck, if any.
    pub fn memory_limitation(&self, id: &str, limits: &Limits) -> Option<Limitation> {
        let cg = self.cgroups.as_ref()?.open(id, &self.controllers);
        oom_limitation(&cg, limits)
    }

    fn spawn(
        self: &Arc<Self>,
        rt: &Runtime,
        config: ContainerConfig,
        events: Box<dyn Fn(Event) + Send>,
        recovered: Option<Recovered>,
    ) -> Result<Container> {
        let id = config.id.clone();
        let name = format!("container({})", id.value);
        let actor = match &self.sim {
            Some(host) => {
                let work_dir = self.shared.flags.work_dir.clone();
                let p = SimContainer::new(
                    host.clone(),
                    config,
                    work_dir,
                    events,
                    recovered.map(|r| r.os_pid),
                );
                Actor::Sim(
                    rt.spawn(&name, p)
                        .map_err(|e| Error::Launch(e.to_string()))?,
                )
            }
            None => {
                let p = ContainerProcess::new(self.shared.clone(), config, events, recovered);
                Actor::Real(
                    rt.spawn(&name, p)
                        .map_err(|e| Error::Launch(e.to_string()))?,
                )
            }
        };
        Ok(Container { id, actor })
    }

    /// Containers this containerizer checkpointed (launched and not yet destroyed), with
    /// the OS pids of their first processes.
    pub fn checkpointed(&self) -> Vec<(String, Option<i32>)> {
        let mut out = Vec::new();
        if let Ok(rd) = std::fs::read_dir(paths::containers_dir(&self.shared.flags.work_dir)) {
            for e in rd.flatten() {
                let id = e.file_name().to_string_lossy().into_owned();
                out.push((id, paths::read_os_pid(&e.path())));
            }
        }
        out.sort();
        out
    }

    /// Destroys orphans ([`Containerizer::destroy_orphan`]) on a thread of their own (it
    /// blocks); a simulated containerizer's at once, in the simulation's order.
    pub fn destroy_orphans(self: &Arc<Self>, orphans: Vec<(String, Option<i32>)>) {
        if orphans.is_empty() {
            return;
        }
        let cz = self.clone();
        let run = move || {
            for (id, pid) in orphans {
                cz.destroy_orphan(&id, pid);
            }
        };
        if self.sim.is_some() {
            run();
        } else {
            std::thread::spawn(run);
        }
    }

    /// Destroys what is left of a container no one recovered: its processes, cgroups,
    /// rootfs and checkpoint (Mesos's orphan cleanup). Blocking.
    pub fn destroy_orphan(&self, id: &str, os_pid: Option<i32>) {
        tracing::info!(container = id, "destroying an orphan container");
        if let Some(host) = &self.sim {
            host.kill(id);
            let _ = std::fs::remove_dir_all(paths::checkpoint_dir(&self.shared.flags.work_dir, id));
            return;
        }
        if let Some(p) = os_pid.filter(|p| *p > 1) {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(p),
                nix::sys::signal::Signal::SIGKILL,
            );
            crate::launch::kill_session(p);
        }
        for i in &self.shared.isolators {
            if let Err(e) = i.cleanup_orphan(id) {
                tracing::warn!(container = id, isolator = i.name(), "orphan: {e}");
            }
        }
        if let Some(cg) = &self.cgroups {
            let c = cg.open(id, &self.controllers);
            if let Err(e) = c.destroy(std::time::Duration::from_secs(10)) {
                tracing::warn!(container = id, "orphan cgroup: {e}");
            }
        }
        let _ = self.provisioner.destroy(id);
        let _ = std::fs::remove_dir_all(paths::checkpoint_dir(&self.shared.flags.work_dir, id));
    }
}

/// The enabled isolators, in the order they prepare a container (as Mesos's containerizer
/// loops over its isolators): the cgroup and its subsystems, devices, namespaces, rlimits,
/// then the filesystem (always on) and disk/du.
fn isolators(
    flags: &ContainerizerFlags,
    cgroups: &Option<Cgroups>,
    controllers: &[Controller],
    provisioner: &Arc<Provisioner>,
    gpus: &Arc<Gpus>,
    allowed_devices: &[crate::isolators::devices::AllowedDevice],
) -> Vec<Box<dyn Isolator>> {
    let mut v: Vec<Box<dyn Isolator>> = Vec::new();
    if let Some(cg) = cgroups {
        v.push(Box::new(CgroupsIsolator::new(
            cg.clone(),
            controllers.to_vec(),
        )));
    }
    if flags.has(IsolatorName::CgroupsCpu) {
        v.push(Box::new(CgroupsCpu {
            enable_cfs: flags.cgroups_enable_cfs,
        }));
    }
    if flags.has(IsolatorName::CgroupsMem) {
        v.push(Box::new(CgroupsMem));
    }
    if flags.has(IsolatorName::CgroupsPids) {
        v.push(Box::new(CgroupsPids {
            max: flags.cgroups_pids_max,
        }));
    }
    // Before gpu/nvidia, which allows its GPUs on top.
    if flags.has(IsolatorName::CgroupsDevices) {
        v.push(Box::new(crate::isolators::devices::CgroupsDevices {
            allowed: allowed_devices.to_vec(),
        }));
    }
    if flags.has(IsolatorName::GpuNvidia) {
        v.push(Box::new(GpuNvidia::new(
            gpus.clone(),
            flags.cgroups_hierarchy.clone(),
            flags.cgroups_root.clone(),
        )));
    }
    if flags.has(IsolatorName::NamespacesPid) {
        v.push(Box::new(NamespacesPid));
    }
    if flags.has(IsolatorName::PosixRlimits) {
        v.push(Box::new(PosixRlimits));
    }
    let linux_fs = flags.has(IsolatorName::FilesystemLinux);
    v.push(Box::new(Filesystem::new(
        provisioner.clone(),
        flags.launcher == LauncherKind::Linux,
        linux_fs,
        Volumes {
            host_path: flags.has(IsolatorName::VolumeHostPath) || linux_fs,
            sandbox_path: flags.has(IsolatorName::VolumeSandboxPath),
        },
    )));
    // After the filesystem: whether the container has an image of its own is known.
    if flags.has(IsolatorName::LinuxDevices) {
        v.push(Box::new(crate::isolators::devices::LinuxDevices {
            allowed: allowed_devices.to_vec(),
        }));
    }
    if flags.has(IsolatorName::NamespacesIpc) {
        v.push(Box::new(crate::isolators::namespaces::NamespacesIpc::new(
            &flags.work_dir,
            flags.default_container_shm_size.map(|b| b.0),
            flags.disallow_sharing_agent_ipc_namespace,
        )));
    }
    if flags.has(IsolatorName::LinuxNnp) {
        v.push(Box::new(crate::isolators::linux::LinuxNnp));
    }
    if flags.has(IsolatorName::NetworkPorts) {
        v.push(Box::new(crate::isolators::ports::NetworkPorts {
            interval: flags.container_ports_watch_interval,
            enforce: flags.enforce_container_ports,
            only_within: flags
                .check_agent_port_range_only
                .then(|| flags.agent_ports.clone()),
        }));
    }
    if flags.has(IsolatorName::DiskDu) {
        v.push(Box::new(DiskDu {
            interval: flags.container_disk_watch_interval,
            enforce_quota: flags.enforce_container_disk_quota,
        }));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flags::parse_isolation;

    #[test]
    fn the_isolators_are_built_once_from_the_isolation_flag_in_prepare_order() {
        let dir = std::env::temp_dir().join(format!("cz-isolators-{}", std::process::id()));
        let mut f = ContainerizerFlags::new(&dir);
        f.launcher = LauncherKind::Posix;
        f.isolation =
            parse_isolation("disk/du,posix/rlimits,posix/cpu,volume/sandbox_path").unwrap();
        let cz = Containerizer::new(f).unwrap();
        assert_eq!(
            cz.isolators(),
            vec!["posix/rlimits", "filesystem/posix", "disk/du"]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
