//! The containerizer's flags (Mesos's names and defaults) and the parsed `--isolation` list.

use std::path::PathBuf;
use std::time::Duration;

use libprocess::flags::check::positive;

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

/// Declares [`IsolatorName`] from one table of variants and Mesos's names: the enum,
/// [`IsolatorName::ALL`] and [`IsolatorName::name`] (which `--isolation` parses by).
macro_rules! isolators {
    ($( $(#[doc = $doc:literal])* $variant:ident = $name:literal, )*) => {
        /// One isolator, by Mesos's name.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum IsolatorName {
            $( $(#[doc = $doc])* $variant, )*
        }

        impl IsolatorName {
            /// Every isolator, in order.
            pub const ALL: &'static [IsolatorName] = &[$(IsolatorName::$variant),*];

            /// Mesos's name.
            pub fn name(self) -> &'static str {
                match self {
                    $( IsolatorName::$variant => $name, )*
                }
            }
        }
    };
}

isolators! {
    /// `posix/cpu`: CPU usage of the process tree.
    PosixCpu = "posix/cpu",
    /// `posix/mem`: memory usage of the process tree.
    PosixMem = "posix/mem",
    /// `posix/rlimits`: `ContainerInfo.rlimit_info` applied with setrlimit.
    PosixRlimits = "posix/rlimits",
    /// `filesystem/posix`: the sandbox only (always on).
    FilesystemPosix = "filesystem/posix",
    /// `filesystem/linux`: a mount namespace, volumes and images.
    FilesystemLinux = "filesystem/linux",
    /// `cgroups/cpu`: cpu shares and a CFS quota from `cpus`.
    CgroupsCpu = "cgroups/cpu",
    /// `cgroups/mem`: a memory limit from `mem`; an OOM kill is a limitation.
    CgroupsMem = "cgroups/mem",
    /// `cgroups/pids`: a process count limit (`--cgroups_pids_max`) and usage.
    CgroupsPids = "cgroups/pids",
    /// `cgroups/devices`: the devices a container may use (Mesos's defaults and
    /// `--allowed_devices`), by the v1 devices controller.
    CgroupsDevices = "cgroups/devices",
    /// `linux/devices`: a container with an image gets a `/dev` of its own holding the
    /// standard nodes and the `--allowed_devices` ones.
    LinuxDevices = "linux/devices",
    /// `namespaces/pid`: the container's processes in their own pid namespace.
    NamespacesPid = "namespaces/pid",
    /// `namespaces/ipc`: an IPC namespace and /dev/shm of the container's own, or its
    /// parent's (`LinuxInfo.ipc_mode`, `shm_size`).
    NamespacesIpc = "namespaces/ipc",
    /// `disk/du`: periodic sandbox usage; a limitation past `disk` with
    /// `--enforce_container_disk_quota`.
    DiskDu = "disk/du",
    /// `volume/host_path`: host path volumes.
    VolumeHostPath = "volume/host_path",
    /// `volume/sandbox_path`: sandbox path volumes.
    VolumeSandboxPath = "volume/sandbox_path",
    /// `gpu/nvidia`: NVIDIA devices and the devices cgroup allow-list.
    GpuNvidia = "gpu/nvidia",
    /// `network/cni`: containers on CNI networks (their own network and UTS namespaces).
    NetworkCni = "network/cni",
    /// `network/ports`: containers listening on ports they were not given.
    NetworkPorts = "network/ports",
    /// `linux/capabilities`: the capabilities a container keeps.
    LinuxCapabilities = "linux/capabilities",
    /// `linux/nnp`: no new privileges.
    LinuxNnp = "linux/nnp",
}

impl IsolatorName {
    /// The isolator of this Mesos name (not the names standing for others: see
    /// [`parse_isolation`]).
    pub fn from_name(name: &str) -> Option<IsolatorName> {
        IsolatorName::ALL.iter().copied().find(|i| i.name() == name)
    }

    /// Whether it needs cgroups.
    pub fn is_cgroups(self) -> bool {
        matches!(
            self,
            IsolatorName::CgroupsCpu
                | IsolatorName::CgroupsMem
                | IsolatorName::CgroupsPids
                | IsolatorName::CgroupsDevices
        )
    }
}

/// Parses `--isolation` (comma separated): each isolator by its name ([`IsolatorName::name`]),
/// and the names that stand for others: `cgroups/all` for every cgroups isolator,
/// `linux/rlimits` for `posix/rlimits`, `docker/runtime` for none (filesystem/linux always
/// applies an image's Entrypoint, Cmd, Env and WorkingDir: Mesos refuses images without
/// docker/runtime). `filesystem/posix` is always on.
pub fn parse_isolation(s: &str) -> Result<Vec<IsolatorName>> {
    let mut out = vec![IsolatorName::FilesystemPosix];
    let mut add = |i: IsolatorName| {
        if !out.contains(&i) {
            out.push(i);
        }
    };
    for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        match name {
            "linux/rlimits" => add(IsolatorName::PosixRlimits),
            "cgroups/all" => [
                IsolatorName::CgroupsCpu,
                IsolatorName::CgroupsMem,
                IsolatorName::CgroupsPids,
            ]
            .into_iter()
            .for_each(&mut add),
            "docker/runtime" => {}
            other => add(IsolatorName::from_name(other).ok_or_else(|| {
                Error::Invalid(format!(
                    "--isolation: unknown or unsupported isolator '{other}'"
                ))
            })?),
        }
    }
    out.sort();
    Ok(out)
}

libprocess::flags! {
    /// Flags of the containerizer (part of `mesos-agent`'s flags), declared once: the agent's
    /// `--help` and its `MESOS_*` environment come from this table.
    #[derive(Clone, Debug)]
    pub struct ContainerizerFlags {
        /// Where sandboxes and checkpoints live (the containerizer keeps `containers/`, `provisioner/` and `store/` here)
        pub work_dir: PathBuf;
        /// How containers start: linux (namespaces; the default as root) or posix
        pub launcher: LauncherKind => { LauncherKind::default_for_user() };
        /// Isolators: posix/cpu, posix/mem, posix/rlimits, cgroups/cpu, cgroups/mem, cgroups/pids, cgroups/devices, cgroups/all, namespaces/pid, namespaces/ipc, linux/devices, filesystem/linux, volume/host_path, volume/sandbox_path, disk/du, gpu/nvidia, network/cni, network/ports, linux/capabilities, linux/nnp
        pub isolation: Vec<IsolatorName> = "posix/cpu,posix/mem", parse isolation_flag, show show_isolation;
        /// Where cgroups are mounted (v1 per-controller mounts or the v2 unified hierarchy, detected)
        pub cgroups_hierarchy: PathBuf = "/sys/fs/cgroup";
        /// The cgroup under which containers get theirs
        pub cgroups_root: String = "mesos", check cgroup_name;
        /// Limit CPU with a CFS quota from cpus (cgroups/cpu; ours defaults to true, see docs/containerizer.md)
        pub cgroups_enable_cfs: bool = "true";
        /// The most processes a container may have (cgroups/pids)
        pub cgroups_pids_max: Option<u64>;
        /// Fail a task whose sandbox outgrows its disk (disk/du)
        pub enforce_container_disk_quota: bool = "false";
        /// How often disk/du measures sandboxes
        pub container_disk_watch_interval: Duration = "15secs", check positive;
        /// Where images come from: a registry, http(s)://host[:port] (Docker Registry HTTP API v2), or a local directory of repo:tag.tar (docker save) archives and OCI layouts
        pub docker_registry: Option<PathBuf>;
        /// Credentials for the registry: Docker's config.json ({"auths": {"host:port": {"auth": base64(user:password)}}}), inline or a file (file:// optional)
        pub docker_config: Option<String>;
        /// The image layer store (default <work_dir>/store/docker)
        pub docker_store_dir: Option<PathBuf>;
        /// How image rootfses are made: copy or overlay
        pub image_provisioner_backend: String = "copy", check backend;
        /// The fetcher's cache (default <work_dir>/fetch)
        pub fetcher_cache_dir: PathBuf => { work_dir.join("fetch") };
        /// The fetcher cache's size
        pub fetcher_cache_size: u64 = "2GB", parse bytes, show show_bytes;
        /// GPUs (by minor number) the agent manages, e.g. '0,1' (gpu/nvidia; all found if unset)
        pub nvidia_gpu_devices: Option<Vec<u32>>;
        /// Run each container as its user (the command's, else the framework's), which must exist on the agent; needs root. false: everything runs as the agent's user
        pub switch_user: bool = "true";
        /// linux/capabilities: the capabilities a container has when it asks for none, as CapabilityInfo JSON ({"capabilities": ["NET_RAW"]}), inline or a file
        pub effective_capabilities: Option<String>;
        /// linux/capabilities: the bounding set of containers (and the most they may ask for), as CapabilityInfo JSON
        pub bounding_capabilities: Option<String>;
        /// network/ports: how often containers' listening ports are checked
        pub container_ports_watch_interval: Duration = "30secs", check positive;
        /// network/ports: kill a container listening on a port it was not given (false: log it)
        pub enforce_container_ports: bool = "false";
        /// network/ports: only ports inside the agent's own ports resource count
        pub check_agent_port_range_only: bool = "false";
        /// cgroups/devices and linux/devices: devices containers may use besides the standard ones, as Mesos's JSON ({"allowed_devices": [{"device": {"path": "/dev/fuse"}, "access": {"read": true, "write": true, "mknod": false}}]}), inline or a file
        pub allowed_devices: Option<String>;
        /// namespaces/ipc: the size of a container's own /dev/shm when it gives no shm_size (unset: the kernel's default, half the RAM)
        pub default_container_shm_size: Option<libprocess::flags::Bytes>;
        /// namespaces/ipc: refuse top-level containers asking to share the agent's IPC namespace and /dev/shm (ipc_mode SHARE_PARENT)
        pub disallow_sharing_agent_ipc_namespace: bool = "false";
        /// network/cni: the directory of CNI network configurations (.conf, .conflist)
        pub network_cni_config_dir: Option<PathBuf>;
        /// network/cni: where the CNI plugins are (colon separated directories)
        pub network_cni_plugins_dir: Option<String>;
        /// Where containers' stdout and stderr go: unset, the sandbox files; org_apache_mesos_LogrotateContainerLogger (or logrotate), rotated by size with the system's logrotate, configured by --modules
        pub container_logger: Option<String>;
        /// Modules, as Mesos's JSON (inline or file://path); only org_apache_mesos_LogrotateContainerLogger is known (built in: no library is loaded) with max_stdout_size, logrotate_stdout_options, max_stderr_size, logrotate_stderr_options, logrotate_path, environment_variable_prefix, launcher_dir
        pub modules: Option<String>;
    }
    extra |_f| {
        /// The container logger `--container_logger` and `--modules` describe.
        pub logger: crate::logger::ContainerLogger =
            crate::logger::from_flags(container_logger.as_deref(), modules.as_deref())?,
        /// The agent's `ports` ranges (for `--check_agent_port_range_only`), set by the agent.
        pub agent_ports: Vec<(u64, u64)> = Vec::new(),
        /// The helper that rotates a container's output (with the logrotate logger), when
        /// the agent has one (see [`crate::logger`]).
        pub logger_program: Option<crate::init::InitProgram> = None,
        /// The status-keeping init nested containers without an image start under, when the
        /// agent has one (see [`crate::init`]); without it their exit status is lost in an
        /// agent restart.
        pub init: Option<crate::init::InitProgram> = None,
    }
}

impl libprocess::flags::FlagValue for LauncherKind {
    fn parse_flag(text: &str) -> std::result::Result<Self, String> {
        match text {
            "posix" => Ok(LauncherKind::Posix),
            "linux" => Ok(LauncherKind::Linux),
            _ => Err(format!("expecting 'linux' or 'posix', got '{text}'")),
        }
    }
    fn show(&self) -> String {
        self.as_str().to_string()
    }
}

/// One isolator by its name (a list of them is `--isolation`, read by [`parse_isolation`],
/// which also expands `cgroups/all`).
impl libprocess::flags::FlagValue for IsolatorName {
    fn parse_flag(text: &str) -> std::result::Result<Self, String> {
        IsolatorName::from_name(text)
            .ok_or_else(|| format!("unknown or unsupported isolator '{text}'"))
    }
    fn show(&self) -> String {
        self.name().to_string()
    }
}

fn isolation_flag(text: &str) -> std::result::Result<Vec<IsolatorName>, String> {
    parse_isolation(text).map_err(|e| match e {
        Error::Invalid(m) => m,
        other => other.to_string(),
    })
}

/// `--isolation` as given: without `filesystem/posix`, which is always on.
fn show_isolation(v: &[IsolatorName]) -> String {
    v.iter()
        .filter(|i| **i != IsolatorName::FilesystemPosix)
        .map(|i| i.name())
        .collect::<Vec<_>>()
        .join(",")
}

fn show_bytes(v: &u64) -> String {
    libprocess::flags::show_bytes(*v)
}

fn bytes(text: &str) -> std::result::Result<u64, String> {
    libprocess::flags::parse_bytes(text).ok_or_else(|| format!("'{text}' is not a size like 2GB"))
}

fn cgroup_name(name: &str, v: &str) -> std::result::Result<(), String> {
    if v.is_empty() || v.split('/').any(|p| p == "..") {
        return Err(format!("Flag '--{name}': '{v}' is not a cgroup name"));
    }
    Ok(())
}

fn backend(name: &str, v: &str) -> std::result::Result<(), String> {
    if v != "copy" && v != "overlay" {
        return Err(format!(
            "Flag '--{name}': expecting 'copy' or 'overlay', got '{v}'"
        ));
    }
    Ok(())
}

impl ContainerizerFlags {
    /// Mesos's defaults under `work_dir`, with `--isolation=posix/cpu,posix/mem`.
    pub fn new(work_dir: impl Into<PathBuf>) -> ContainerizerFlags {
        let w: PathBuf = work_dir.into();
        ContainerizerFlags::from_defaults(&[("work_dir", &w.to_string_lossy())])
            .expect("the containerizer's defaults parse")
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
    fn every_isolator_parses_by_its_name() {
        for i in IsolatorName::ALL {
            assert!(parse_isolation(i.name()).unwrap().contains(i), "{i:?}");
            assert_eq!(IsolatorName::from_name(i.name()), Some(*i));
        }
    }

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
        assert_eq!(
            parse_isolation("linux/rlimits,filesystem/posix,docker/runtime").unwrap(),
            [IsolatorName::PosixRlimits, IsolatorName::FilesystemPosix]
        );
        assert!(LauncherKind::parse("lxc")
            .unwrap_err()
            .to_string()
            .contains("--launcher"));
    }
}
