//! posix/rlimits: `ContainerInfo.rlimit_info` applied with setrlimit before exec.

use super::{Isolator, IsolatorState, LaunchInfo};
use crate::config::ContainerConfig;
use crate::error::Result;
use crate::launch;

/// The posix/rlimits isolator.
pub struct PosixRlimits;

impl Isolator for PosixRlimits {
    fn name(&self) -> &'static str {
        "posix/rlimits"
    }

    fn prepare(
        &self,
        config: &ContainerConfig,
        _state: &mut IsolatorState,
        launch: &mut LaunchInfo,
    ) -> Result<()> {
        let info = config.container_info.as_ref();
        if let Some(r) = info.and_then(|c| c.rlimit_info.as_ref()) {
            launch.isolation.rlimits = launch::rlimits(r)?;
        }
        Ok(())
    }
}
