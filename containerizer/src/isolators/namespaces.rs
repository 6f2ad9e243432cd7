//! namespaces/pid: a top-level container's processes in their own pid namespace (its first
//! process is pid 1 and `/proc` is its own); nested containers stay in their parent's.

use super::{Isolator, IsolatorState, LaunchInfo};
use crate::config::ContainerConfig;
use crate::error::Result;

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
