//! The command executor's way: the one task of a LAUNCH runs as this process's child, in its
//! own process group (inside the task's image when it has one).

use std::path::PathBuf;

use mesos_api::protocol::task::{CommandInfo, TaskInfo, TaskState};
use nix::sys::signal::Signal;

use super::{Ended, Engine, Input, Place, Running};
use crate::os::{command, kill_group};

impl Engine {
    /// The command executor's way: the task is this process's child.
    pub(super) fn launch_child(&mut self, task: TaskInfo, group: Option<usize>, cmd: &CommandInfo) {
        let tid = task.task_id.clone();
        // A command task with an image runs in the rootfs the agent provisioned for it, with
        // the image's command, environment and working directory (docker/runtime).
        let rootfs = std::env::var(mesos_containerizer::TASK_ROOTFS_ENV).ok();
        let image: mesos_containerizer::provisioner::ImageConfig =
            match std::env::var(mesos_containerizer::TASK_IMAGE_CONFIG_ENV) {
                Ok(json) => serde_json::from_str(&json).unwrap_or_default(),
                Err(_) => Default::default(),
            };
        let composed = match rootfs.as_ref().map(|_| image.launch_command(cmd)) {
            Some(Err(e)) => {
                self.status(
                    &tid,
                    TaskState::Failed,
                    Some(format!("Failed to determine the launch command: {e}")),
                );
                return;
            }
            Some(Ok(c)) => c,
            None => None,
        };
        let cmd = composed.as_ref().unwrap_or(cmd);
        let value = cmd.value.clone().unwrap_or_default();
        let mut c = command(cmd);
        c.process_group(0).current_dir(&self.sandbox);
        if nix::unistd::isatty(0).unwrap_or(false) {
            // The container has a terminal (tty_info): the task reads it, as the terminal's
            // foreground process group.
            mesos_containerizer::tty::foreground_on_terminal(c.as_std_mut());
        } else {
            c.stdin(std::process::Stdio::null());
        }
        if let Some(rootfs) = rootfs {
            if let Err(e) = self.enter_rootfs(&mut c, &task, rootfs.into(), &image) {
                self.status(
                    &tid,
                    TaskState::Failed,
                    Some(format!("cannot prepare the task's image: {e}")),
                );
                return;
            }
        }
        match c.spawn() {
            Ok(mut child) => {
                let pid = child.id().map(|p| p as i32);
                self.tasks
                    .insert(tid.clone(), Running::new(Place::Child(pid), group));
                self.infos.insert(tid.clone(), task);
                let tx = self.input.clone();
                let t = tid.clone();
                tokio::spawn(async move {
                    let ended = match child.wait().await {
                        Ok(st) => Ended::Status(st),
                        Err(e) => Ended::Error(format!("Failed to wait for the command: {e}")),
                    };
                    let _ = tx.send(Input::Exited(t, ended));
                });
                self.status(&tid, TaskState::Running, None);
                self.watch(&tid);
            }
            Err(e) => self.status(
                &tid,
                TaskState::Failed,
                Some(format!("Failed to launch '{value}': {e}")),
            ),
        }
    }

    /// SIGKILLs the tasks that are this process's children.
    pub(super) fn kill_children(&self) {
        for r in self.tasks.values() {
            match r.place {
                Place::Child(pid) => kill_group(pid, Signal::SIGKILL),
                Place::Docker(pid) => {
                    self.docker_kill_now();
                    kill_group(pid, Signal::SIGKILL);
                }
                Place::Nested { .. } => {}
            }
        }
    }

    /// Runs the task in an image's rootfs: its own mount namespace, the sandbox at
    /// /mnt/mesos/sandbox, its volumes mounted inside, then pivot_root.
    pub(super) fn enter_rootfs(
        &self,
        c: &mut tokio::process::Command,
        task: &TaskInfo,
        rootfs: PathBuf,
        image: &mesos_containerizer::provisioner::ImageConfig,
    ) -> Result<(), String> {
        use mesos_containerizer::launch::{self, BindMount, Isolation, Plan, Rootfs};
        let mut mounts = Vec::new();
        for v in task.container.iter().flat_map(|c| c.volumes.iter()) {
            let source = v
                .source
                .as_ref()
                .and_then(|s| s.host_path.as_ref().map(|h| PathBuf::from(&h.path)))
                .or_else(|| v.host_path.as_ref().map(PathBuf::from))
                .or_else(|| {
                    v.source
                        .as_ref()
                        .and_then(|s| s.sandbox_path.as_ref())
                        .map(|p| self.sandbox.join(&p.path))
                })
                .ok_or_else(|| format!("volume '{}' has no source", v.container_path))?;
            let target = if v.container_path.starts_with('/') {
                PathBuf::from(&v.container_path)
            } else {
                PathBuf::from(launch::SANDBOX_IN_ROOTFS).join(&v.container_path)
            };
            mounts.push(BindMount {
                source,
                target,
                readonly: v.mode == mesos_api::protocol::container::VolumeMode::Ro,
            });
        }
        let run_as = match std::env::var(mesos_containerizer::TASK_USER_ENV) {
            Ok(u) => Some(launch::RunAs::lookup(&u).map_err(|e| e.to_string())?),
            Err(_) => None,
        };
        // linux/devices: the task's own /dev, with the nodes the agent named.
        let devices = std::env::var(mesos_containerizer::TASK_DEVICES_ENV)
            .ok()
            .map(|v| {
                v.split(':')
                    .filter(|p| !p.is_empty())
                    .map(PathBuf::from)
                    .collect()
            });
        let iso = Isolation {
            run_as,
            devices,
            mounts,
            rootfs: Some(Rootfs {
                path: rootfs,
                sandbox: self.sandbox.clone(),
                working_dir: image.working_dir.clone(),
            }),
            ..Isolation::default()
        };
        let plan = Plan::new(&iso).map_err(|e| e.to_string())?;
        // The image's PATH (in this process's environment already, with the rest of the
        // image's), else a usual one.
        let path = image
            .env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.as_str())
            .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        c.env("MESOS_SANDBOX", launch::SANDBOX_IN_ROOTFS)
            .env("PATH", path);
        launch::apply_in_group(c, plan);
        Ok(())
    }
}
