//! filesystem/posix and filesystem/linux (Mesos's filesystem isolators; one of them is always
//! on). filesystem/posix: the sandbox on the host's filesystem, with volumes bind mounted under
//! the linux launcher. filesystem/linux adds images: a container with a Docker image gets a
//! rootfs from the provisioner, entered through a mount namespace and pivot_root (or, for a
//! command executor, handed to it to start its task in), with the sandbox and the volumes
//! mounted into it; cleanup removes the rootfs.

use std::sync::Arc;

use super::volumes::Volumes;
use super::{Isolator, IsolatorState, LaunchInfo};
use crate::config::{
    ContainerConfig, ImageUse, PersistentVolume, TASK_IMAGE_CONFIG_ENV, TASK_ROOTFS_ENV,
};
use crate::error::{Error, Result};
use crate::launch::{self, BindMount, Rootfs};
use crate::provisioner::Provisioner;

/// The filesystem isolator.
pub struct Filesystem {
    provisioner: Arc<Provisioner>,
    /// The linux launcher (mount namespaces) is in use.
    linux_launcher: bool,
    /// filesystem/linux is on (images).
    linux: bool,
    volumes: Volumes,
}

impl Filesystem {
    /// `linux_launcher`: `--launcher=linux`; `linux`: filesystem/linux in `--isolation`.
    pub fn new(
        provisioner: Arc<Provisioner>,
        linux_launcher: bool,
        linux: bool,
        volumes: Volumes,
    ) -> Filesystem {
        Filesystem {
            provisioner,
            linux_launcher,
            linux,
            volumes,
        }
    }
}

impl Isolator for Filesystem {
    fn name(&self) -> &'static str {
        if self.linux {
            "filesystem/linux"
        } else {
            "filesystem/posix"
        }
    }

    fn prepare(
        &self,
        config: &ContainerConfig,
        state: &mut IsolatorState,
        launch: &mut LaunchInfo,
    ) -> Result<()> {
        // filesystem/linux bind mounts persistent volumes into the container's mount namespace;
        // filesystem/posix links them into the sandbox.
        let bind_volumes = self.linux && self.linux_launcher;
        if !bind_volumes {
            link_persistent_volumes(config)?;
        }
        let Some(ci) = &config.container_info else {
            if bind_volumes {
                launch.isolation.mounts = persistent_mounts(config, false)?;
            }
            return Ok(());
        };
        let env = &mut launch.env;
        let mut image_rootfs = None;
        if let Some(image) = ci.mesos.as_ref().and_then(|m| m.image.as_ref()) {
            let name = image
                .docker
                .as_ref()
                .map(|d| d.name.clone())
                .ok_or_else(|| Error::Unsupported("only DOCKER images are supported".into()))?;
            if !self.linux_launcher || !self.linux {
                return Err(Error::Unsupported(format!(
                    "image '{name}' needs --launcher=linux and --isolation with filesystem/linux"
                )));
            }
            state.rootfs = true;
            let p = self.provisioner.provision(
                &config.id.value,
                &name,
                image.cached.unwrap_or(true),
            )?;
            // docker/runtime: the image's environment under the container's own.
            for (k, v) in &p.config.env {
                if !env.iter().any(|(x, _)| x == k) {
                    env.push((k.clone(), v.clone()));
                }
            }
            image_rootfs = Some((p.rootfs, p.config));
        }
        let mut mounts = Vec::new();
        for v in &ci.volumes {
            mounts.push(self.volumes.bind_mount(config, v, image_rootfs.is_some())?);
        }
        let entered = image_rootfs.is_some() && config.image_use == ImageUse::Enter;
        if bind_volumes {
            mounts.extend(persistent_mounts(config, entered)?);
        }
        let iso = &mut launch.isolation;
        match (image_rootfs, config.image_use) {
            (Some((r, image)), ImageUse::Enter) => {
                // docker/runtime: a container given no program runs the image's command.
                if config.program.as_os_str().is_empty() {
                    let cmd = mesos_api::protocol::command::CommandInfo {
                        shell: false,
                        value: None,
                        arguments: config.args.clone(),
                        ..mesos_api::protocol::command::CommandInfo::shell("")
                    };
                    let c = image
                        .launch_command(&cmd)
                        .map_err(|e| {
                            Error::Invalid(format!("Failed to determine the launch command: {e}"))
                        })?
                        .expect("a command without a value is the image's");
                    let (program, args) = c.argv();
                    launch.command = Some((program.into(), args));
                }
                iso.rootfs = Some(Rootfs {
                    path: r,
                    sandbox: config.sandbox.clone(),
                    working_dir: image.working_dir.clone(),
                });
                iso.mounts = mounts;
                env.retain(|(k, _)| k != "MESOS_SANDBOX");
                env.push(("MESOS_SANDBOX".into(), launch::SANDBOX_IN_ROOTFS.into()));
            }
            (Some((r, image)), ImageUse::ForTask) => {
                env.push((TASK_ROOTFS_ENV.into(), r.display().to_string()));
                let json = serde_json::to_string(&image).map_err(|e| {
                    Error::Invalid(format!("cannot pass on the image's config: {e}"))
                })?;
                env.push((TASK_IMAGE_CONFIG_ENV.into(), json));
                // The executor mounts the volumes into the task's rootfs itself; persistent
                // volumes go into its sandbox, which the task's rootfs holds.
                if bind_volumes {
                    iso.mounts = persistent_mounts(config, false)?;
                }
            }
            (None, _) => {
                if !mounts.is_empty() && !self.linux_launcher {
                    return Err(Error::Unsupported(
                        "volumes need --launcher=linux and filesystem/linux".into(),
                    ));
                }
                iso.mounts = mounts;
            }
        }
        Ok(())
    }

    fn cleanup(&self, config: &ContainerConfig, state: &IsolatorState) -> Result<()> {
        if state.rootfs {
            self.provisioner.destroy(&config.id.value)?;
        }
        Ok(())
    }

    fn recover(&self, config: &ContainerConfig, state: &mut IsolatorState) {
        state.rootfs = self.provisioner.containers().contains(&config.id.value);
    }
}

/// A persistent volume's path in the sandbox: relative, never out of it.
fn in_sandbox(v: &PersistentVolume) -> Result<&str> {
    let p = v.container_path.as_str();
    if p.is_empty() || p.starts_with('/') || p.split('/').any(|c| c == "..") {
        return Err(Error::Invalid(format!(
            "persistent volume path '{p}' must be relative and stay in the sandbox"
        )));
    }
    Ok(p)
}

/// filesystem/linux: bind mounts of the persistent volumes at their paths in the sandbox (as
/// the rootfs sees it when the container enters an image).
fn persistent_mounts(config: &ContainerConfig, in_rootfs: bool) -> Result<Vec<BindMount>> {
    let mut out = Vec::new();
    for v in &config.persistent_volumes {
        let p = in_sandbox(v)?;
        std::fs::create_dir_all(&v.source).map_err(|e| Error::io("cannot create", &v.source, e))?;
        let target = if in_rootfs {
            std::path::PathBuf::from(launch::SANDBOX_IN_ROOTFS).join(p)
        } else {
            config.sandbox.join(p)
        };
        out.push(BindMount {
            source: v.source.clone(),
            target,
            readonly: v.readonly,
        });
    }
    Ok(out)
}

/// filesystem/posix: each persistent volume linked at its path in the sandbox (a link already
/// there, from before an agent restart, is kept).
fn link_persistent_volumes(config: &ContainerConfig) -> Result<()> {
    for v in &config.persistent_volumes {
        let link = config.sandbox.join(in_sandbox(v)?);
        std::fs::create_dir_all(&v.source).map_err(|e| Error::io("cannot create", &v.source, e))?;
        if std::fs::read_link(&link).is_ok_and(|t| t == v.source) {
            continue;
        }
        if let Some(parent) = link.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io("cannot create", parent, e))?;
        }
        std::os::unix::fs::symlink(&v.source, &link)
            .map_err(|e| Error::io("cannot link the persistent volume at", &link, e))?;
    }
    Ok(())
}
