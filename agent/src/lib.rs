//! mesos-agent: the agent process and its executors.
//!
//! - [`Agent`]: registers with the master (with backoff, reregistering after a lost
//!   connection), launches an executor per `(framework, executor)` in Mesos's sandbox layout
//!   (see [`paths`]), serves the v1 executor API at `/<agent id>/api/v1/executor`, and forwards
//!   status updates through the [`status_update_manager`].
//! - [`executor`]: the command executor (`mesos-executor`) and the default executor for task
//!   groups (`mesos-default-executor`), separate OS processes the agent starts; their binaries
//!   are in `mesos-cli`.
//! - [`resources`]: detected resources and `--resources`.
//!
//! Module graph (no cycles): `agent` uses `paths`, `programs`, `os`, `httpc` and
//! `status_update_manager`; `executor` uses `programs`, `os` and `httpc`; those are leaves.

mod agent;
pub mod error;
pub mod executor;
pub mod flags;
pub mod httpc;
pub mod os;
pub mod paths;
pub mod programs;
pub mod resources;
pub mod status_update_manager;

pub use agent::{Agent, Stopped};
pub use error::AgentError;
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
    ("/files/download", "files/download"),
    ("/monitor/statistics", "monitor/statistics"),
    ("/health", "health"),
    ("/logging/toggle", "logging/toggle"),
];
