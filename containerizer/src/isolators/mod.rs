//! The isolators: Mesos's `Isolator` interface (`include/mesos/slave/isolator.hpp`) in ours.
//! The containerizer builds the enabled ones once from `--isolation`, in order, and each
//! container's actor runs its lifecycle through them:
//!
//! - **prepare**, before the launch: set up what the container needs (a cgroup and its limits,
//!   a rootfs, devices) and contribute to its [`LaunchInfo`] (what the launcher does between
//!   fork and exec: cgroups to join, namespaces, rlimits, mounts; and the environment);
//! - **isolate**, after the spawn, with the container's OS pid;
//! - **watch**, while it runs: a check every so often that may find a [`Limitation`] (an OOM
//!   kill for cgroups/mem, the disk quota for disk/du), which stops the container;
//! - **update**, new limits; **usage**, its part of the [`ResourceStatistics`];
//! - **cleanup**, after the container's processes are gone;
//! - **recover**, adopting a container after an agent restart.
//!
//! What an isolator knows of one container lives in the container's [`IsolatorState`], which
//! its actor owns and hands to every call; the isolators themselves are shared by all
//! containers. Every method but `name` has a default that does nothing.

pub mod cgroups;
pub mod cni;
pub mod devices;
pub mod disk_du;
pub mod filesystem;
pub mod gpu;
pub mod linux;
pub mod namespaces;
pub mod ports;
pub mod rlimits;
pub mod volumes;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::cgroups::Cgroup;
use crate::config::{ContainerConfig, Limitation, Limits, ResourceStatistics};
use crate::error::Result;
use crate::launch::Isolation;

/// One isolator (see the module docs).
pub trait Isolator: Send + Sync {
    /// Its name (Mesos's, as in `--isolation`).
    fn name(&self) -> &'static str;

    /// Before the launch (blocking): sets up what the container needs, records it in `state`
    /// (before anything that may fail, so that cleanup finds it) and adds to `launch`.
    fn prepare(
        &self,
        _config: &ContainerConfig,
        _state: &mut IsolatorState,
        _launch: &mut LaunchInfo,
    ) -> Result<()> {
        Ok(())
    }

    /// After the spawn (blocking), with the OS pid of the container's first process; an error
    /// fails the launch.
    fn isolate(
        &self,
        _config: &ContainerConfig,
        _state: &IsolatorState,
        _os_pid: i32,
    ) -> Result<()> {
        Ok(())
    }

    /// Whether, and how often, [`Isolator::check`] runs while the container runs.
    fn watch(&self, _config: &ContainerConfig, _state: &IsolatorState) -> Option<Watch> {
        None
    }

    /// A look for a limitation (on the container's actor: what is slow goes in
    /// [`Check::Later`]). Also asked once more when the container ends, when a
    /// [`Check::Now`] answer still counts.
    fn check(&self, _config: &ContainerConfig, _state: &IsolatorState) -> Check {
        Check::Now(None)
    }

    /// New limits (`config` still holds the old ones).
    fn update(
        &self,
        _config: &ContainerConfig,
        _state: &IsolatorState,
        _limits: &Limits,
    ) -> Result<()> {
        Ok(())
    }

    /// Adds what it measures to `stats`.
    fn usage(&self, _state: &IsolatorState, _stats: &mut ResourceStatistics) {}

    /// After the container's processes are gone (blocking): removes what prepare made.
    fn cleanup(&self, _config: &ContainerConfig, _state: &IsolatorState) -> Result<()> {
        Ok(())
    }

    /// Finds what it holds for a container that survived an agent restart.
    fn recover(&self, _config: &ContainerConfig, _state: &mut IsolatorState) {}

    /// Removes what it holds for a container no one recovered after an agent restart (it
    /// ended, or its executor was not adopted), knowing only its id.
    fn cleanup_orphan(&self, _id: &str) -> Result<()> {
        Ok(())
    }
}

/// What the isolators know of one container; its actor owns it.
#[derive(Clone, Debug, Default)]
pub struct IsolatorState {
    /// Its cgroup (a nested container's is its parent's).
    pub cgroup: Option<Cgroup>,
    /// Whether the cgroup is its own: made by prepare, removed by cleanup.
    pub owns_cgroup: bool,
    /// Whether it has a provisioned rootfs.
    pub rootfs: bool,
    /// Its sandbox's disk use, as disk/du last measured it.
    pub disk_used: Option<u64>,
    /// The OS pid of its first process, once it runs.
    pub pid: Option<i32>,
    /// The unallocated ports network/ports last saw it listen on (logged once per change).
    pub stray_ports: Vec<u16>,
}

/// What the isolators contribute to a launch (Mesos's `ContainerLaunchInfo`).
#[derive(Debug, Default)]
pub struct LaunchInfo {
    /// What the launcher applies between fork and exec.
    pub isolation: Isolation,
    /// The container's environment (the config's, then what isolators add).
    pub env: Vec<(String, String)>,
    /// The program and arguments to run instead of the config's (docker/runtime: an image's
    /// entrypoint and command).
    pub command: Option<(std::path::PathBuf, Vec<String>)>,
}

/// How often an isolator checks a running container.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Watch {
    /// The first check, this long after the container runs (zero: at once)…
    pub first: Duration,
    /// …and the next ones, this far apart.
    pub every: Duration,
}

/// The answer of [`Isolator::check`].
pub enum Check {
    /// Known now.
    Now(Option<Limitation>),
    /// Measured in the background; the verdict then runs on the container's actor.
    Later(Pin<Box<dyn Future<Output = Verdict> + Send>>),
}

/// Applies a measurement to the container (its current config and state); a limitation if one
/// was found.
pub type Verdict =
    Box<dyn FnOnce(&ContainerConfig, &mut IsolatorState) -> Option<Limitation> + Send>;
