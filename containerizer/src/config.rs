//! What a container is asked to be ([`ContainerConfig`], [`Limits`]) and what it reports
//! ([`Event`], [`Termination`], [`Limitation`], [`ResourceStatistics`]).

use std::path::PathBuf;

use mesos_api::protocol::container::ContainerInfo;
use mesos_api::protocol::task::{CommandUri, Reason};
use mesos_api::ContainerID;
use serde::Serialize;

/// Where an image's rootfs is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageUse {
    /// The container's own process runs in it.
    Enter,
    /// The container's process (the command executor) runs on the host and starts its task
    /// in it: the rootfs path is passed in [`TASK_ROOTFS_ENV`].
    ForTask,
}

/// The environment variable that tells the command executor its task's rootfs.
pub const TASK_ROOTFS_ENV: &str = "MESOS_RS_TASK_ROOTFS";

/// The environment variable that gives the command executor its task's image config (JSON of
/// [`crate::provisioner::ImageConfig`]), for docker/runtime: the task's command, environment
/// and working directory as the image says.
pub const TASK_IMAGE_CONFIG_ENV: &str = "MESOS_RS_TASK_IMAGE_CONFIG";

/// The environment variable that gives the command executor the device nodes of its task's
/// own `/dev` (linux/devices), colon separated.
pub const TASK_DEVICES_ENV: &str = "MESOS_RS_TASK_DEVICES";

/// The environment variable that tells the command executor (which stays root to enter its
/// task's rootfs) the user its task runs as.
pub const TASK_USER_ENV: &str = "MESOS_RS_TASK_USER";

/// Resource limits for a container.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Limits {
    /// `cpus`.
    pub cpus: Option<f64>,
    /// `mem`, bytes.
    pub mem_bytes: Option<u64>,
    /// `disk`, bytes.
    pub disk_bytes: Option<u64>,
    /// `gpus`.
    pub gpus: usize,
    /// `ports`, as ranges (`None`: not known, as after an agent restart: not enforced).
    pub ports: Option<Vec<(u64, u64)>>,
}

/// What to run and how.
#[derive(Clone, Debug)]
pub struct ContainerConfig {
    /// The container's id.
    pub id: ContainerID,
    /// The parent (nested containers share its cgroups).
    pub parent: Option<ContainerID>,
    /// The program.
    pub program: PathBuf,
    /// Its arguments (argv[1..]).
    pub args: Vec<String>,
    /// Its environment (added to the agent's).
    pub env: Vec<(String, String)>,
    /// The sandbox (created by the owner); the working directory.
    pub sandbox: PathBuf,
    /// Resource limits.
    pub limits: Limits,
    /// Volumes, image and rlimits.
    pub container_info: Option<ContainerInfo>,
    /// How an image is used.
    pub image_use: ImageUse,
    /// URIs to fetch into the sandbox first.
    pub uris: Vec<CommandUri>,
    /// The user (for the fetcher cache).
    pub user: Option<String>,
    /// The container's standard input, output and error when its owner holds the other ends
    /// (an attachable container); `None`: no input, output to the sandbox's `stdout` and
    /// `stderr` files.
    pub stdio: Option<std::sync::Arc<ContainerStdio>>,
    /// The persistent volumes in its resources.
    pub persistent_volumes: Vec<PersistentVolume>,
}

/// A persistent volume a container uses: its directory on the host (the agent's
/// `volumes/roles/<role>/<id>`) and where the container sees it, relative to its sandbox.
/// filesystem/linux bind mounts it there, filesystem/posix links it, as Mesos does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersistentVolume {
    /// The volume's directory on the host.
    pub source: PathBuf,
    /// Its path in the sandbox.
    pub container_path: String,
    /// Read-only.
    pub readonly: bool,
}

/// The container's ends of the pipes its owner talks to it through: its standard input,
/// output and error. The launch takes them, so that once the container's processes are gone
/// nothing else holds them and the owner reads the end of the output.
#[derive(Debug)]
pub struct ContainerStdio {
    ends: std::sync::Mutex<Option<[std::os::fd::OwnedFd; 3]>>,
    tty: bool,
}

impl ContainerStdio {
    /// The container's standard input, output and error.
    pub fn new(
        stdin: std::os::fd::OwnedFd,
        stdout: std::os::fd::OwnedFd,
        stderr: std::os::fd::OwnedFd,
    ) -> ContainerStdio {
        ContainerStdio {
            ends: std::sync::Mutex::new(Some([stdin, stdout, stderr])),
            tty: false,
        }
    }

    /// A terminal's side (see [`crate::tty::open`]) as the container's controlling terminal
    /// and its three standard streams.
    pub fn terminal(side: std::os::fd::OwnedFd) -> std::io::Result<ContainerStdio> {
        let (i, o) = (side.try_clone()?, side.try_clone()?);
        Ok(ContainerStdio {
            ends: std::sync::Mutex::new(Some([i, o, side])),
            tty: true,
        })
    }

    /// Whether they are a terminal.
    pub fn is_tty(&self) -> bool {
        self.tty
    }

    /// Takes the ends (the first call only).
    pub fn take(&self) -> Option<[std::os::fd::OwnedFd; 3]> {
        self.ends.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

/// Why a container was stopped by its isolators.
#[derive(Clone, Debug, PartialEq)]
pub struct Limitation {
    /// REASON_CONTAINER_LIMITATION_MEMORY or _DISK.
    pub reason: Reason,
    /// What happened.
    pub message: String,
}

/// How a container ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Termination {
    /// The raw wait status of its first process, when known (not after a recovery).
    pub status: Option<i32>,
    /// A description.
    pub message: String,
    /// Set when an isolator stopped it.
    pub limitation: Option<Limitation>,
}

/// What a container reports to its owner.
#[derive(Clone, Debug)]
pub enum Event {
    /// Its first process runs with this OS pid.
    Launched {
        /// The OS pid.
        os_pid: i32,
    },
    /// It could not be launched (a [`Event::Terminated`] follows).
    Failed(String),
    /// It is gone and cleaned up; always the last event.
    Terminated(Termination),
}

/// Mesos's `ResourceStatistics` for one container (absent values are not known).
#[derive(Clone, Debug, Default, Serialize)]
pub struct ResourceStatistics {
    /// Seconds since the epoch.
    pub timestamp: f64,
    /// Processes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub processes: Option<u64>,
    /// User CPU seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus_user_time_secs: Option<f64>,
    /// System CPU seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus_system_time_secs: Option<f64>,
    /// The cpus limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus_limit: Option<f64>,
    /// CFS periods.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus_nr_periods: Option<u64>,
    /// Throttled periods.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus_nr_throttled: Option<u64>,
    /// Throttled seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus_throttled_time_secs: Option<f64>,
    /// Memory in use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_total_bytes: Option<u64>,
    /// Anonymous memory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_rss_bytes: Option<u64>,
    /// Page cache.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_cache_bytes: Option<u64>,
    /// The memory limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_limit_bytes: Option<u64>,
    /// Highest use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_max_bytes: Option<u64>,
    /// The disk limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk_limit_bytes: Option<u64>,
    /// Disk used by the sandbox.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk_used_bytes: Option<u64>,
}
