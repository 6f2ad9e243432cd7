//! mesos-containerizer: runs executors and nested containers in isolated containers.
//!
//! - [`Containerizer`]: checks `--launcher` and `--isolation` against the machine once
//!   (cgroup v1 or v2, root, GPUs) and builds the enabled isolators, then launches each
//!   container as its own actor ([`ContainerProcess`]) and recovers checkpointed ones after an
//!   agent restart.
//! - [`container`]: the per-container actor, which runs the isolator lifecycle (prepare,
//!   isolate, watch, update, usage, cleanup, recover) through the isolators.
//! - [`isolators`]: the [`Isolator`] trait and one module per isolator (cgroups, gpu,
//!   namespaces, rlimits, filesystem and volumes, disk/du).
//! - [`usage`]: a container's [`ResourceStatistics`], and a session's usage.
//! - [`launch`]: the posix and linux launchers (session, namespaces, mounts, pivot_root,
//!   rlimits), done between fork and exec.
//! - [`cgroups`]: cgroups v1 and v2.
//! - [`fetcher`]: fetches `CommandInfo.uris` into a sandbox (paths, `file://`, `http://`),
//!   extracts archives and keeps a per-user LRU cache.
//! - [`provisioner`]: turns a local Docker image (a `docker save` archive or an OCI layout
//!   under `--docker_registry`) into a root filesystem through a layer store.
//! - [`gpu`]: gpu/nvidia device discovery and the devices allow-list.
//! - [`docker`]: the Docker containerizer's client of the Docker daemon (the `docker` CLI)
//!   and Mesos's `docker run` arguments for a task of type DOCKER.
//! - `testimage` (feature `test-util`): tiny local images (the host's `/bin/sh`) for tests and
//!   demos.
//! - [`flags`]: the flags and the isolator names.

pub mod cgroups;
mod config;
pub mod container;
mod containerizer;
pub mod docker;
pub mod error;
pub mod fetcher;
pub mod flags;
pub mod gpu;
pub mod init;
pub mod isolators;
pub mod launch;
pub mod logger;
mod paths;
pub mod provisioner;
pub mod sim;
#[cfg(feature = "test-util")]
pub mod testimage;
pub mod tty;
pub mod usage;

pub use config::{
    ContainerConfig, ContainerStdio, Event, ImageUse, Limitation, Limits, PersistentVolume,
    ResourceStatistics, Termination, TASK_DEVICES_ENV, TASK_IMAGE_CONFIG_ENV, TASK_ROOTFS_ENV,
    TASK_USER_ENV,
};
pub use container::ContainerProcess;
pub use containerizer::{Container, Containerizer};
pub use error::{Error, Result};
pub use flags::{parse_isolation, ContainerizerFlags, IsolatorName, LauncherKind};
pub use isolators::Isolator;
pub use usage::{session_usage, SessionUsage};
