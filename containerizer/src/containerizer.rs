//! The containerizer: checks the flags against the machine once, then launches each container
//! as its own actor ([`crate::container::ContainerProcess`]) and recovers them after an agent
//! restart. It owns what containers share: the cgroups found at start, the fetcher, the
//! provisioner and the GPU devices.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use libprocess::{Runtime, PID};
use mesos_api::ContainerID;

use crate::cgroups::{Cgroups, Controller};
use crate::container::{
    oom_limitation, usage_of, ContainerConfig, ContainerProcess, Event, Limitation, Limits,
    Recovered, ResourceStatistics,
};
use crate::error::{Error, Result};
use crate::fetcher::{Fetcher, FetcherConfig};
use crate::flags::{ContainerizerFlags, Isolator, LauncherKind};
use crate::gpu::Gpus;
use crate::provisioner::{Backend, Provisioner, ProvisionerConfig};

/// What every container of an agent shares.
pub struct Containerizer {
    pub(crate) flags: ContainerizerFlags,
    pub(crate) cgroups: Option<Cgroups>,
    pub(crate) controllers: Vec<Controller>,
    /// The fetcher.
    pub fetcher: Fetcher,
    /// The provisioner.
    pub provisioner: Provisioner,
    /// GPUs (gpu/nvidia).
    pub gpus: Gpus,
}

/// A running container as the agent holds it.
#[derive(Clone)]
pub struct Container {
    /// Its id.
    pub id: ContainerID,
    /// Its actor.
    pub pid: PID<ContainerProcess>,
}

/// Where a container's checkpoint lives.
pub(crate) fn checkpoint_dir(work_dir: &Path, id: &str) -> PathBuf {
    work_dir.join("containers").join(id)
}

impl Containerizer {
    /// Checks the flags against this machine: cgroups isolators need cgroups (v1 or v2,
    /// detected); namespaces and filesystem/linux need the linux launcher and root.
    pub fn new(flags: ContainerizerFlags) -> Result<Arc<Containerizer>> {
        let wants_cgroups = flags.isolation.iter().any(|i| i.is_cgroups());
        let root = nix::unistd::geteuid().is_root();
        for i in [Isolator::NamespacesPid, Isolator::FilesystemLinux] {
            if flags.has(i) && flags.launcher != LauncherKind::Linux {
                return Err(Error::Unsupported(format!(
                    "--isolation={} needs --launcher=linux",
                    i.name()
                )));
            }
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
                (Isolator::CgroupsCpu, Controller::Cpu),
                (Isolator::CgroupsCpu, Controller::Cpuacct),
                (Isolator::CgroupsMem, Controller::Memory),
                (Isolator::CgroupsPids, Controller::Pids),
            ];
            for (i, c) in want {
                if flags.has(i) {
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
        let provisioner = Provisioner::new(ProvisionerConfig {
            docker_registry: flags.docker_registry.clone(),
            store_dir: flags
                .docker_store_dir
                .clone()
                .unwrap_or_else(|| flags.work_dir.join("store").join("docker")),
            rootfs_dir: flags.work_dir.join("provisioner"),
            backend,
        })?;
        let fetcher = Fetcher::new(FetcherConfig {
            cache_dir: flags.fetcher_cache_dir.clone(),
            cache_size: flags.fetcher_cache_size,
        });
        let gpus = if flags.has(Isolator::GpuNvidia) {
            Gpus::discover(flags.nvidia_gpu_devices.as_deref())
        } else {
            Gpus::none("gpu/nvidia is not in --isolation")
        };
        Ok(Arc::new(Containerizer {
            flags,
            cgroups,
            controllers,
            fetcher,
            provisioner,
            gpus,
        }))
    }

    /// The flags.
    pub fn flags(&self) -> &ContainerizerFlags {
        &self.flags
    }

    /// The cgroups in use, if a cgroups isolator is on.
    pub fn cgroups(&self) -> Option<&Cgroups> {
        self.cgroups.as_ref()
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

    /// Adopts a container that survived an agent restart: `pid` is its first process, read
    /// from the checkpoint. When the process is gone already, the actor reports termination
    /// at once.
    pub fn recover(
        self: &Arc<Self>,
        rt: &Runtime,
        config: ContainerConfig,
        pid: i32,
        events: Box<dyn Fn(Event) + Send>,
    ) -> Result<Container> {
        self.spawn(rt, config, events, Some(Recovered { pid }))
    }

    /// A container's usage, read now (cgroups, or its session's processes). `id` names its
    /// own cgroup; a nested container reports its parent's.
    pub fn usage(&self, id: &str, pid: Option<i32>, limits: &Limits) -> ResourceStatistics {
        let cg = self.cgroups.as_ref().map(|c| c.open(id, &self.controllers));
        let cg = cg.filter(|c| c.unique_dirs().iter().any(|d| d.exists()));
        usage_of(self, cg.as_ref(), pid, limits, None)
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
        let p = ContainerProcess::new(self.clone(), config, events, recovered);
        let pid = rt
            .spawn(&format!("container({})", id.value), p)
            .map_err(|e| Error::Launch(e.to_string()))?;
        Ok(Container { id, pid })
    }

    /// Containers this containerizer checkpointed (launched and not yet destroyed).
    pub fn checkpointed(&self) -> Vec<(String, Option<i32>)> {
        let mut out = Vec::new();
        if let Ok(rd) = std::fs::read_dir(self.flags.work_dir.join("containers")) {
            for e in rd.flatten() {
                let id = e.file_name().to_string_lossy().into_owned();
                let pid = std::fs::read_to_string(e.path().join("pid"))
                    .ok()
                    .and_then(|s| s.trim().parse().ok());
                out.push((id, pid));
            }
        }
        out
    }

    /// Destroys what is left of a container no one recovered: its processes, cgroups,
    /// rootfs and checkpoint (Mesos's orphan cleanup). Blocking.
    pub fn destroy_orphan(&self, id: &str, pid: Option<i32>) {
        tracing::info!(container = id, "destroying an orphan container");
        if let Some(p) = pid.filter(|p| *p > 1) {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(p),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        if let Some(cg) = &self.cgroups {
            let c = cg.open(id, &self.controllers);
            if let Err(e) = c.destroy(std::time::Duration::from_secs(10)) {
                tracing::warn!(container = id, "orphan cgroup: {e}");
            }
        }
        let _ = self.provisioner.destroy(id);
        let _ = std::fs::remove_dir_all(checkpoint_dir(&self.flags.work_dir, id));
    }
}
