//! The containerizer's flags (Mesos's names and defaults) and the parsed `--isolation` list.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};

/// How a container's first process is started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LauncherKind {
    /// fork/exec into its own session and process group.
    Posix,
    /// As posix, plus new pid and mount namespaces where an isolator asks for them, and
    /// destruction through the freezer cgroup.
    Linux,
}

impl LauncherKind {
    /// From `--launcher`.
    pub fn parse(s: &str) -> Result<LauncherKind> {
        match s {
            "posix" => Ok(LauncherKind::Posix),
            "linux" => Ok(LauncherKind::Linux),
            _ => Err(Error::Invalid(format!(
                "--launcher={s}: expecting 'linux' or 'posix'"
            ))),
        }
    }

    /// Mesos's default: linux when root, else posix.
    pub fn default_for_user() -> LauncherKind {
        if nix::unistd::geteuid().is_root() {
            LauncherKind::Linux
        } else {
            LauncherKind::Posix
        }
    }

    /// The flag's value.
    pub fn as_str(self) -> &'static str {
        match self {
            LauncherKind::Posix => "posix",
            LauncherKind::Linux => "linux",
        }
    }
}

/// One isolator, by Mesos's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IsolatorName {
    /// `posix/cpu`: CPU usage of the process tree.
    PosixCpu,
    /// `posix/mem`: memory usage of the process tree.
    PosixMem,
    /// `posix/rlimits`: `ContainerInfo.rlimit_info` applied with setrlimit.
    PosixRlimits,
    /// `filesystem/posix`: the sandbox only (always on).
    FilesystemPosix,
    /// `filesystem/linux`: a mount namespace, volumes and images.
    FilesystemLinux,
    /// `cgroups/cpu`: cpu shares and a CFS quota from `cpus`.
    CgroupsCpu,
    /// `cgroups/mem`: a memory limit from `mem`; an OOM kill is a limitation.
    CgroupsMem,
    /// `cgroups/pids`: a process count limit (`--cgroups_pids_max`) and usage.
    CgroupsPids,
    /// `namespaces/pid`: the container's processes in their own pid namespace.
    NamespacesPid,
    /// `disk/du`: periodic sandbox usage; a limitation past `disk` with
    /// `--enforce_container_disk_quota`.
    DiskDu,
    /// `volume/host_path`: host path volumes.
    VolumeHostPath,
    /// `volume/sandbox_path`: sandbox path volumes.
    VolumeSandboxPath,
    /// `gpu/nvidia`: NVIDIA devices and the devices cgroup allow-list.
    GpuNvidia,
}

impl IsolatorName {
    /// Mesos's name.
    pub fn name(self) -> &'static str {
        match self {
            IsolatorName::PosixCpu => "posix/cpu",
            IsolatorName::PosixMem => "posix/mem",
            IsolatorName::PosixRlimits => "posix/rlimits",
            IsolatorName::FilesystemPosix => "filesystem/posix",
            IsolatorName::FilesystemLinux => "filesystem/linux",
            IsolatorName::CgroupsCpu => "cgroups/cpu",
            IsolatorName::CgroupsMem => "cgroups/mem",
            IsolatorName::CgroupsPids => "cgroups/pids",
            IsolatorName::NamespacesPid => "namespaces/pid",
            IsolatorName::DiskDu => "disk/du",
            IsolatorName::VolumeHostPath => "volume/host_path",
            IsolatorName::VolumeSandboxPath => "volume/sandbox_path",
            IsolatorName::GpuNvidia => "gpu/nvidia",
        }
    }

    /// Whether it needs cgroups.
    pub fn is_cgroups(self) -> bool {
        matches!(
            self,
            IsolatorName::CgroupsCpu | IsolatorName::CgroupsMem | IsolatorName::CgroupsPids
        )
    }
}

/// Parses `--isolation` (comma separated). `cgroups/all` stands for every cgroups isolator;
/// `linux/rlimits` is accepted for `posix/rlimits`; `filesystem/posix` is always on.
pub fn parse_isolation(s: &str) -> Result<Vec<IsolatorName>> {
    let mut out = vec![IsolatorName::FilesystemPosix];
    for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let add: &[IsolatorName] = match name {
            "posix/cpu" => &[IsolatorName::PosixCpu],
            "posix/mem" => &[IsolatorName::PosixMem],
            "posix/rlimits" | "linux/rlimits" => &[IsolatorName::PosixRlimits],
            "filesystem/posix" => &[],
            "filesystem/linux" => &[IsolatorName::FilesystemLinux],
            "cgroups/cpu" => &[IsolatorName::CgroupsCpu],
            "cgroups/mem" => &[IsolatorName::CgroupsMem],
            "cgroups/pids" => &[IsolatorName::CgroupsPids],
            "cgroups/all" => &[
                IsolatorName::CgroupsCpu,
                IsolatorName::CgroupsMem,
                IsolatorName::CgroupsPids,
            ],
            "namespaces/pid" => &[IsolatorName::NamespacesPid],
            "disk/du" => &[IsolatorName::DiskDu],
            "volume/host_path" => &[IsolatorName::VolumeHostPath],
            "volume/sandbox_path" => &[IsolatorName::VolumeSandboxPath],
            "gpu/nvidia" => &[IsolatorName::GpuNvidia],
            "docker/runtime" => &[],
            other => {
                return Err(Error::Invalid(format!(
                    "--isolation: unknown or unsupported isolator '{other}'"
                )))
            }
        };
        for i in add {
            if !out.contains(i) {
                out.push(*i);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Flags of the containerizer (part of `mesos-agent`'s flags).
#[derive(Clone, Debug)]
pub struct ContainerizerFlags {
    /// `--work_dir`: the containerizer keeps `containers/` (its checkpoints), `provisioner/`
    /// and `store/` here.
    pub work_dir: PathBuf,
    /// `--launcher`.
    pub launcher: LauncherKind,
    /// `--isolation`, parsed.
    pub isolation: Vec<IsolatorName>,
    /// `--cgroups_hierarchy` (`/sys/fs/cgroup`).
    pub cgroups_hierarchy: PathBuf,
    /// `--cgroups_root` (`mesos`).
    pub cgroups_root: String,
    /// `--cgroups_enable_cfs`: a CFS quota from `cpus` (ours defaults to true; see the README).
    pub cgroups_enable_cfs: bool,
    /// `--cgroups_pids_max`: the most processes in one container (cgroups/pids; none if unset).
    pub cgroups_pids_max: Option<u64>,
    /// `--enforce_container_disk_quota`.
    pub enforce_container_disk_quota: bool,
    /// `--container_disk_watch_interval` (15 s).
    pub container_disk_watch_interval: Duration,
    /// `--docker_registry`: a directory of local images.
    pub docker_registry: Option<PathBuf>,
    /// `--docker_store_dir` (`<work_dir>/store/docker`).
    pub docker_store_dir: Option<PathBuf>,
    /// `--image_provisioner_backend` (`copy`, or `overlay`).
    pub image_provisioner_backend: String,
    /// `--fetcher_cache_dir` (`/tmp/mesos/fetch`).
    pub fetcher_cache_dir: PathBuf,
    /// `--fetcher_cache_size` (2 GB).
    pub fetcher_cache_size: u64,
    /// `--nvidia_gpu_devices`: which GPUs (by minor number) to manage; all found if unset.
    pub nvidia_gpu_devices: Option<Vec<u32>>,
    /// The status-keeping init nested containers without an image start under, when the agent
    /// has one (see [`crate::init`]); without it their exit status is lost in an agent restart.
    pub init: Option<crate::init::InitProgram>,
}

impl ContainerizerFlags {
    /// Mesos's defaults under `work_dir`, with `--isolation=posix/cpu,posix/mem`.
    pub fn new(work_dir: impl Into<PathBuf>) -> ContainerizerFlags {
        ContainerizerFlags {
            work_dir: work_dir.into(),
            launcher: LauncherKind::default_for_user(),
            isolation: parse_isolation("posix/cpu,posix/mem").expect("valid"),
            cgroups_hierarchy: PathBuf::from("/sys/fs/cgroup"),
            cgroups_root: "mesos".into(),
            cgroups_enable_cfs: true,
            cgroups_pids_max: None,
            enforce_container_disk_quota: false,
            container_disk_watch_interval: Duration::from_secs(15),
            docker_registry: None,
            docker_store_dir: None,
            image_provisioner_backend: "copy".into(),
            fetcher_cache_dir: PathBuf::from("/tmp/mesos/fetch"),
            fetcher_cache_size: 2 << 30,
            nvidia_gpu_devices: None,
            init: None,
        }
    }

    /// Whether an isolator is on.
    pub fn has(&self, i: IsolatorName) -> bool {
        self.isolation.contains(&i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroups_all_expands_and_unknown_isolators_are_named() {
        let v = parse_isolation("cgroups/all,namespaces/pid").unwrap();
        for i in [
            IsolatorName::CgroupsCpu,
            IsolatorName::CgroupsMem,
            IsolatorName::CgroupsPids,
            IsolatorName::NamespacesPid,
            IsolatorName::FilesystemPosix,
        ] {
            assert!(v.contains(&i), "{i:?} missing from {v:?}");
        }
        let e = parse_isolation("posix/cpu,cgroups/bogus").unwrap_err();
        assert!(e.to_string().contains("cgroups/bogus"), "{e}");
        assert!(LauncherKind::parse("lxc")
            .unwrap_err()
            .to_string()
            .contains("--launcher"));
    }
}
