//! mesos-agent: the agent process and its executors.
//!
//! - [`Agent`]: registers with the master (with backoff, reregistering after a lost
//!   connection), launches an executor per `(framework, executor)` in Mesos's sandbox layout
//!   (`work_dir/slaves/<agent>/frameworks/<fw>/executors/<ex>/runs/<container>`, with
//!   `runs/latest`, `stdout` and `stderr`), serves the v1 executor API at
//!   `/<agent id>/api/v1/executor`, and forwards status updates through the
//!   [`sum::StatusUpdateManager`].
//! - [`executor`]: the command executor (`mesos-executor`) and the default executor for task
//!   groups (`mesos-default-executor`).
//! - [`resources`]: detected resources and `--resources`.

mod agent;
pub mod executor;
pub mod flags;
pub mod health;
pub mod httpc;
pub mod resources;
pub mod sum;

pub use agent::{grace_of, master_upid, Agent, VERSION};
pub use flags::AgentFlags;

/// Paths Mesos serves without the agent's id prefix, with the agent route each maps to: a
/// `mesos-agent` serves them; in `mesos-local` the master keeps the ones it also serves.
pub const UNPREFIXED_ROUTES: &[(&str, &str)] = &[
    ("/api/v1/executor", "api/v1/executor"),
    ("/api/v1", "api/v1"),
    ("/state", "state"),
    ("/state.json", "state.json"),
    ("/files/browse", "files/browse"),
    ("/files/read", "files/read"),
    ("/monitor/statistics", "monitor/statistics"),
    ("/health", "health"),
];
