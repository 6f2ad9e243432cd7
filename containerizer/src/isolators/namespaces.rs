//! namespaces/pid: a top-level container's processes in their own pid namespace (its first
//! process is pid 1 and `/proc` is its own); nested containers stay in their parent's.
//! namespaces/ipc: see [`NamespacesIpc`].

use std::path::{Path, PathBuf};

use super::{Isolator, IsolatorState, LaunchInfo};
use crate::config::ContainerConfig;
use crate::error::{Error, Result};

/// The namespaces/pid isolator (needs the linux launcher).
pub struct NamespacesPid;

impl Isolator for NamespacesPid {
    fn name(&self) -> &'static str {
        "namespaces/pid"
    }

    fn prepare(
        &self,
        config: &ContainerConfig,
        _state: &mut IsolatorState,
        launch: &mut LaunchInfo,
    ) -> Result<()> {
        launch.isolation.pid_namespace = config.parent.is_none();
        Ok(())
    }
}

/// namespaces/ipc (Mesos's isolator of that name): by `LinuxInfo.ipc_mode`, a container has
/// an IPC namespace and `/dev/shm` of its own (`PRIVATE`), or shares its parent's
/// (`SHARE_PARENT`: a top-level container's parent is the agent, refused with
/// `--disallow_sharing_agent_ipc_namespace`). Unset, a top-level container gets its own
/// namespace (and its own `/dev/shm` when it has an image) and a nested one shares its
/// parent's. An own `/dev/shm` is a tmpfs of `shm_size` MB (PRIVATE only), else
/// `--default_container_shm_size`, under `<work_dir>/isolators/namespaces/ipc/<id>/shm`,
/// where the namespace is also kept (`ns`, bind mounted) for nested containers to join.
pub struct NamespacesIpc {
    /// `<work_dir>/isolators/namespaces/ipc`.
    pub root: PathBuf,
    /// `--default_container_shm_size`, bytes.
    pub default_shm_size: Option<u64>,
    /// `--disallow_sharing_agent_ipc_namespace`.
    pub disallow_sharing_agent: bool,
}

impl NamespacesIpc {
    /// The isolator keeping its files under `<work_dir>/isolators/namespaces/ipc`.
    pub fn new(work_dir: &Path, default_shm_size: Option<u64>, disallow: bool) -> NamespacesIpc {
        NamespacesIpc {
            root: work_dir.join("isolators/namespaces/ipc"),
            default_shm_size,
            disallow_sharing_agent: disallow,
        }
    }

    /// Unmounts and removes what a container had (its namespace file, its /dev/shm).
    fn remove(&self, id: &str) -> Result<()> {
        let dir = self.root.join(id);
        if !dir.exists() {
            return Ok(());
        }
        for m in ["ns", "shm"] {
            let _ = nix::mount::umount2(&dir.join(m), nix::mount::MntFlags::MNT_DETACH);
        }
        std::fs::remove_dir_all(&dir).map_err(|e| Error::io("cannot remove", &dir, e))
    }
}

impl Isolator for NamespacesIpc {
    fn name(&self) -> &'static str {
        "namespaces/ipc"
    }

    fn prepare(
        &self,
        config: &ContainerConfig,
        _state: &mut IsolatorState,
        launch: &mut LaunchInfo,
    ) -> Result<()> {
        let linux = config
            .container_info
            .as_ref()
            .and_then(|c| c.linux_info.as_ref());
        let mode = linux.and_then(|l| l.ipc_mode.as_deref());
        let shm_size = linux.and_then(|l| l.shm_size);
        let private = match mode {
            None => config.parent.is_none(),
            Some("PRIVATE") => true,
            Some("SHARE_PARENT") => false,
            Some(other) => {
                return Err(Error::Invalid(format!(
                    "unknown ipc_mode '{other}' (PRIVATE or SHARE_PARENT)"
                )))
            }
        };
        if shm_size.is_some() && mode != Some("PRIVATE") {
            return Err(Error::Invalid(
                "'shm_size' is only for a container with ipc_mode PRIVATE".into(),
            ));
        }
        if !private {
            match &config.parent {
                // The parent's namespace and /dev/shm, where it has its own.
                Some(parent) => {
                    let pdir = self.root.join(&parent.value);
                    if pdir.join("ns").exists() {
                        launch.isolation.join_ipc = Some(pdir.join("ns"));
                    }
                    if pdir.join("shm").exists() {
                        launch.isolation.shm = Some(pdir.join("shm"));
                    }
                }
                None if self.disallow_sharing_agent => {
                    return Err(Error::Invalid(
                        "sharing the agent's IPC namespace and /dev/shm (ipc_mode SHARE_PARENT) \
                         is disallowed on this agent (--disallow_sharing_agent_ipc_namespace)"
                            .into(),
                    ))
                }
                None => {}
            }
            return Ok(());
        }
        let dir = self.root.join(&config.id.value);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
        let ns = dir.join("ns");
        std::fs::File::create(&ns).map_err(|e| Error::io("cannot create", &ns, e))?;
        launch.isolation.ipc_namespace = true;
        // An own /dev/shm when asked for, or (unset) with an image of its own.
        if mode == Some("PRIVATE") || launch.isolation.rootfs.is_some() {
            let shm = dir.join("shm");
            std::fs::create_dir_all(&shm).map_err(|e| Error::io("cannot create", &shm, e))?;
            let size = shm_size
                .map(|mb| u64::from(mb) << 20)
                .or(self.default_shm_size);
            let mut opts = "mode=1777".to_string();
            if let Some(b) = size {
                opts.push_str(&format!(",size={b}"));
            }
            nix::mount::mount(
                Some("tmpfs"),
                &shm,
                Some("tmpfs"),
                nix::mount::MsFlags::MS_NOSUID | nix::mount::MsFlags::MS_NODEV,
                Some(opts.as_str()),
            )
            .map_err(|e| Error::io("cannot mount a tmpfs on", &shm, e.into()))?;
            launch.isolation.shm = Some(shm);
        }
        Ok(())
    }

    fn isolate(&self, config: &ContainerConfig, _state: &IsolatorState, os_pid: i32) -> Result<()> {
        // Its namespace, kept on a file for nested containers to join.
        let ns = self.root.join(&config.id.value).join("ns");
        let own = PathBuf::from(format!("/proc/{os_pid}/ns/ipc"));
        if !ns.exists() {
            return Ok(());
        }
        match nix::mount::mount(
            Some(&own),
            &ns,
            None::<&str>,
            nix::mount::MsFlags::MS_BIND,
            None::<&str>,
        ) {
            Ok(()) => Ok(()),
            // One that already ended has no namespace for nested containers to join.
            Err(_) if std::fs::metadata(&own).is_err() => Ok(()),
            Err(e) => Err(Error::io("cannot keep the IPC namespace on", &ns, e.into())),
        }
    }

    fn cleanup(&self, config: &ContainerConfig, _state: &IsolatorState) -> Result<()> {
        self.remove(&config.id.value)
    }

    fn cleanup_orphan(&self, id: &str) -> Result<()> {
        self.remove(id)
    }
}
