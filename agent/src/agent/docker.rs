//! The Docker containerizer (`--containerizers=docker,mesos`): a command task whose container
//! is of type DOCKER gets the docker executor (Mesos's `mesos-docker-executor`) instead of the
//! command executor. The executor runs on the host in a container of the Mesos containerizer's
//! without an image (so its sandbox, checkpoint and recovery are every executor's), and runs
//! the task with `docker run` as `mesos-<container id>`.
//!
//! The agent checks at start that the daemon answers, keeps an ended task's docker container
//! for `--docker_remove_delay` before removing it, and after recovery removes the daemon's
//! `mesos-*` containers it did not recover (`--docker_kill_orphans`).

use std::collections::HashSet;

use mesos_api::protocol::container::{ContainerInfo, ContainerType};
use mesos_api::protocol::task::TaskInfo;
use mesos_api::ContainerID;
use mesos_containerizer::docker::{self, Docker};

use super::Agent;
use crate::error::AgentError;
use crate::flags::AgentFlags;

/// Whether a task's container is a docker one.
pub(super) fn is_docker(c: Option<&ContainerInfo>) -> bool {
    c.is_some_and(|c| c.kind == ContainerType::Docker)
}

/// The docker CLI of `--docker` on `--docker_socket`.
pub(super) fn client(flags: &AgentFlags) -> Docker {
    Docker::new(&flags.docker, &flags.docker_socket)
}

/// At start, with the Docker containerizer on: the daemon must answer.
pub(super) fn check_daemon(flags: &AgentFlags) -> Result<(), AgentError> {
    if !flags.docker_enabled() {
        return Ok(());
    }
    let version = client(flags).check().map_err(|e| {
        AgentError::Program(format!(
            "--containerizers names docker, but the Docker daemon at '{}' does not answer: {e}",
            flags.docker_socket
        ))
    })?;
    tracing::info!(version, socket = %flags.docker_socket, "Docker containerizer on");
    Ok(())
}

impl Agent {
    /// The docker executor's flags (Mesos's) for a task in the agent's container `cid`, after
    /// checking the task's docker settings as the executor will (so a task that cannot run
    /// fails at once, with the reason).
    pub(super) fn docker_executor_args(
        &self,
        cid: &ContainerID,
        sandbox: &std::path::Path,
        task: &TaskInfo,
    ) -> Result<Vec<String>, AgentError> {
        let name = docker::container_name(&cid.value);
        let (Some(container), Some(command)) = (&task.container, &task.command) else {
            return Err(AgentError::Launch(
                "a docker task needs its container and its command".into(),
            ));
        };
        docker::run_args(
            container,
            command,
            &name,
            sandbox,
            &task.resources,
            self.flags.containerizer.cgroups_enable_cfs,
        )
        .map_err(|e| AgentError::Launch(format!("Failed to create docker run options: {e}")))?;
        let f = &self.flags;
        let mut args = vec![
            format!("--docker={}", f.docker),
            format!("--docker_socket={}", f.docker_socket),
            format!("--container={name}"),
            format!("--sandbox_directory={}", sandbox.display()),
            format!("--mapped_directory={}", docker::MAPPED_SANDBOX),
            format!(
                "--cgroups_enable_cfs={}",
                f.containerizer.cgroups_enable_cfs
            ),
        ];
        if !f.docker_stop_timeout.is_zero() {
            args.push(format!(
                "--stop_timeout={}secs",
                f.docker_stop_timeout.as_secs_f64()
            ));
        }
        Ok(args)
    }
}

/// A docker executor's container ended: its docker container is killed if it still runs (the
/// executor died with it running), and removed after `--docker_remove_delay`.
pub(super) fn container_ended(flags: &AgentFlags, cid: &ContainerID) {
    let docker = client(flags);
    let name = docker::container_name(&cid.value);
    let delay = flags.docker_remove_delay;
    tokio::spawn(async move {
        if let Ok(Some(c)) = docker.inspect(&name).await {
            if c.running {
                tracing::info!(container = %name, "killing the docker container its executor left");
                let _ = docker.kill(&name).await;
            }
        }
        tokio::time::sleep(delay).await;
        if let Err(e) = docker.remove(&name).await {
            tracing::warn!(container = %name, "cannot remove the docker container: {e}");
        }
    });
}

impl Agent {
    /// After recovery: the daemon's `mesos-*` containers whose agent container was not
    /// recovered are removed (`--docker_kill_orphans`).
    pub(super) fn docker_remove_orphans(&self, recovered: &[String]) {
        if !self.flags.docker_enabled() || !self.flags.docker_kill_orphans {
            return;
        }
        let docker = client(&self.flags);
        let keep: HashSet<String> = recovered.iter().cloned().collect();
        tokio::spawn(async move {
            let names = match docker.agent_containers().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!("cannot list the docker containers: {e}");
                    return;
                }
            };
            for name in names {
                if docker::container_id_of(&name).is_some_and(|id| !keep.contains(id)) {
                    tracing::info!(container = %name, "removing an orphaned docker container");
                    if let Err(e) = docker.remove(&name).await {
                        tracing::warn!(container = %name, "cannot remove it: {e}");
                    }
                }
            }
        });
    }
}
