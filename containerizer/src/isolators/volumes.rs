//! volume/host_path and volume/sandbox_path: a container's volumes as bind mounts, applied by
//! the filesystem isolator (which knows whether they go into an image's rootfs).

use std::path::PathBuf;

use mesos_api::protocol::container::{SandboxPathType, Volume, VolumeMode, VolumeSourceType};

use crate::config::ContainerConfig;
use crate::error::{Error, Result};
use crate::launch::{self, BindMount};

/// Which volume sources are allowed.
#[derive(Clone, Copy, Debug)]
pub struct Volumes {
    /// `HOST_PATH` volumes (volume/host_path, or filesystem/linux).
    pub host_path: bool,
    /// `SANDBOX_PATH` volumes (volume/sandbox_path).
    pub sandbox_path: bool,
}

impl Volumes {
    /// A volume as a bind mount: host paths as given, sandbox paths under the sandbox (made if
    /// missing); a relative container path is under the sandbox (`in_rootfs`: the sandbox as
    /// an image's rootfs sees it).
    pub fn bind_mount(
        &self,
        config: &ContainerConfig,
        v: &Volume,
        in_rootfs: bool,
    ) -> Result<BindMount> {
        let source = match (&v.source, &v.host_path) {
            (Some(s), _) if s.kind == VolumeSourceType::HostPath => {
                if !self.host_path {
                    return Err(Error::Unsupported(
                        "HOST_PATH volumes need volume/host_path in --isolation".into(),
                    ));
                }
                let p = s
                    .host_path
                    .as_ref()
                    .ok_or_else(|| Error::Invalid("HOST_PATH volume without 'host_path'".into()))?;
                PathBuf::from(&p.path)
            }
            (Some(s), _) if s.kind == VolumeSourceType::SandboxPath => {
                if !self.sandbox_path {
                    return Err(Error::Unsupported(
                        "SANDBOX_PATH volumes need volume/sandbox_path in --isolation".into(),
                    ));
                }
                let p = s.sandbox_path.as_ref().ok_or_else(|| {
                    Error::Invalid("SANDBOX_PATH volume without 'sandbox_path'".into())
                })?;
                if p.path.starts_with('/') || p.path.split('/').any(|c| c == "..") {
                    return Err(Error::Invalid(format!(
                        "sandbox path '{}' must be relative and stay in the sandbox",
                        p.path
                    )));
                }
                let base = match p.kind {
                    Some(SandboxPathType::Parent) => config
                        .sandbox
                        .parent()
                        .and_then(|x| x.parent())
                        .map(PathBuf::from)
                        .unwrap_or_else(|| config.sandbox.clone()),
                    _ => config.sandbox.clone(),
                };
                let src = base.join(&p.path);
                std::fs::create_dir_all(&src).map_err(|e| Error::io("cannot create", &src, e))?;
                src
            }
            (Some(s), _) => {
                return Err(Error::Unsupported(format!(
                    "volume source {} is not supported",
                    s.kind
                )))
            }
            (None, Some(h)) => PathBuf::from(h),
            (None, None) => return Err(Error::Invalid("volume without a source".into())),
        };
        let target = if v.container_path.starts_with('/') {
            PathBuf::from(&v.container_path)
        } else if in_rootfs {
            PathBuf::from(launch::SANDBOX_IN_ROOTFS).join(&v.container_path)
        } else {
            config.sandbox.join(&v.container_path)
        };
        if !in_rootfs && v.container_path.starts_with('/') && !target.exists() {
            return Err(Error::Invalid(format!(
                "container path '{}' does not exist on the host (needed without an image)",
                v.container_path
            )));
        }
        Ok(BindMount {
            source,
            target,
            readonly: v.mode == VolumeMode::Ro,
        })
    }
}
