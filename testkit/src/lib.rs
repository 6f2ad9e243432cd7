//! What the workspace's tests share, so that each test file need not carry its own copy:
//!
//! - waiting: [`eventually`], [`eventually_async`] and [`Eventually`] poll a condition until it
//!   holds or a time limit passes; [`within`] bounds one future;
//! - the real binaries as child processes: [`command`] and [`Proc`], which dies with the test;
//! - files and ports: [`walk`] over a sandbox (its symlink handling chosen with [`Links`]) and
//!   [`free_port`];
//! - a real ZooKeeper server: [`ZooKeeper`];
//! - real network partitions in network namespaces: [`netns::Net`];
//! - HTTP calls to the real binaries: [`http::get`], [`http::json`], [`http::operator`];
//! - tasks: [`command_task`], a shell command with resources;
//! - with the `scheduler` feature, the recording scheduler [`Recorder`] and the events it
//!   records, [`Seen`];
//! - with the `cluster` feature, an in-process master and agents: [`Cluster`], [`cluster`],
//!   [`cluster_with`] and [`cluster_tweaked`].

mod files;
pub mod http;
pub mod netns;
mod proc;
mod wait;
mod zookeeper;

#[cfg(feature = "cluster")]
mod cluster;
#[cfg(feature = "scheduler")]
mod scheduler;

pub use files::{free_port, walk, Links};
pub use proc::{command, Proc};
pub use wait::{eventually, eventually_async, within, Eventually, Outcome, POLL};
pub use zookeeper::{ZooKeeper, ZOOKEEPER_JAR};

#[cfg(feature = "cluster")]
pub use cluster::{cluster, cluster_tweaked, cluster_with, Cluster};
#[cfg(feature = "scheduler")]
pub use scheduler::{next, Recorder, Seen};

use mesos_api::protocol::task::{CommandInfo, TaskInfo};
use mesos_api::{AgentID, Resources, TaskID};

/// A task named and identified `id` on `agent` that runs the shell command `cmd` with the
/// resources `res` (in the `cpus:1;mem:64` form, unreserved) under the command executor.
///
/// Panics if `res` does not parse.
pub fn command_task(id: &str, agent: &AgentID, cmd: &str, res: &str) -> TaskInfo {
    TaskInfo {
        name: id.into(),
        task_id: TaskID::new(id),
        agent_id: agent.clone(),
        resources: Resources::parse(res, "*")
            .unwrap_or_else(|e| panic!("bad resources {res:?}: {e}")),
        executor: None,
        command: Some(CommandInfo::shell(cmd)),
        kill_policy: None,
        data: None,
        labels: None,
        container: None,
        health_check: None,
        check: None,
        discovery: None,
        limits: None,
        max_completion_time: None,
    }
}
