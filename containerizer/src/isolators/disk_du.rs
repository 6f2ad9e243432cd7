//! disk/du: measures the sandbox with `du` every `--container_disk_watch_interval`; with
//! `--enforce_container_disk_quota`, use past the container's `disk` is a limitation.

use std::path::PathBuf;
use std::time::Duration;

use mesos_api::protocol::task::Reason;

use super::{Check, Isolator, IsolatorState, Verdict, Watch};
use crate::config::{ContainerConfig, Limitation, ResourceStatistics};

/// The disk/du isolator.
pub struct DiskDu {
    /// `--container_disk_watch_interval`.
    pub interval: Duration,
    /// `--enforce_container_disk_quota`.
    pub enforce_quota: bool,
}

impl Isolator for DiskDu {
    fn name(&self) -> &'static str {
        "disk/du"
    }

    fn watch(&self, _: &ContainerConfig, _: &IsolatorState) -> Option<Watch> {
        Some(Watch {
            first: Duration::ZERO,
            every: self.interval,
        })
    }

    fn check(&self, config: &ContainerConfig, _: &IsolatorState) -> Check {
        let sandbox = config.sandbox.clone();
        let enforce = self.enforce_quota;
        Check::Later(Box::pin(async move {
            let used = du(sandbox).await;
            Box::new(move |config: &ContainerConfig, state: &mut IsolatorState| {
                let used = used?;
                state.disk_used = Some(used);
                let quota = config.limits.disk_bytes.filter(|q| enforce && used > *q)?;
                Some(Limitation {
                    reason: Reason::ContainerLimitationDisk,
                    message: format!(
                        "Disk usage ({}KB) exceeds quota ({}KB)",
                        used / 1024,
                        quota / 1024
                    ),
                })
            }) as Verdict
        }))
    }

    fn usage(&self, state: &IsolatorState, stats: &mut ResourceStatistics) {
        stats.disk_used_bytes = state.disk_used;
    }
}

/// `du -k -s <sandbox>`, in bytes.
async fn du(sandbox: PathBuf) -> Option<u64> {
    let out = tokio::process::Command::new("du")
        .arg("-k")
        .arg("-s")
        .arg(&sandbox)
        .output()
        .await
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()?
        .parse::<u64>()
        .ok()
        .map(|k| k * 1024)
}
