//! gpu/nvidia: whole GPUs for containers that ask for `gpus`, and (cgroup v1) a devices cgroup
//! that lets a container see only its own GPUs and the control devices. Device discovery and
//! the allocation table are in [`crate::gpu`].

use std::path::PathBuf;
use std::sync::Arc;

use super::{Isolator, IsolatorState, LaunchInfo};
use crate::config::ContainerConfig;
use crate::error::{Error, Result};
use crate::gpu::Gpus;

/// The gpu/nvidia isolator.
pub struct GpuNvidia {
    gpus: Arc<Gpus>,
    /// `<cgroups_hierarchy>/devices`.
    devices: PathBuf,
    /// `--cgroups_root`.
    cgroups_root: String,
}

impl GpuNvidia {
    /// Over the GPUs found at start.
    pub fn new(gpus: Arc<Gpus>, cgroups_hierarchy: PathBuf, cgroups_root: String) -> GpuNvidia {
        GpuNvidia {
            gpus,
            devices: cgroups_hierarchy.join("devices"),
            cgroups_root,
        }
    }
}

impl Isolator for GpuNvidia {
    fn name(&self) -> &'static str {
        "gpu/nvidia"
    }

    fn prepare(
        &self,
        config: &ContainerConfig,
        _state: &mut IsolatorState,
        launch: &mut LaunchInfo,
    ) -> Result<()> {
        if config.limits.gpus == 0 {
            return Ok(());
        }
        let id = &config.id.value;
        let mine = self.gpus.allocate(id, config.limits.gpus)?;
        if self.devices.join("cgroup.procs").exists() {
            let dir = self.devices.join(&self.cgroups_root).join(id);
            std::fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
            let (deny, allow) = self.gpus.device_rules(&mine);
            for d in deny {
                let _ = std::fs::write(dir.join("devices.deny"), d);
            }
            for a in allow {
                let _ = std::fs::write(dir.join("devices.allow"), a);
            }
            launch.isolation.cgroup_procs.push(dir.join("cgroup.procs"));
        }
        Ok(())
    }

    fn cleanup(&self, config: &ContainerConfig, _state: &IsolatorState) -> Result<()> {
        if config.limits.gpus > 0 {
            self.gpus.release(&config.id.value);
        }
        Ok(())
    }
}
