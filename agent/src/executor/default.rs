//! The default executor's way: each task of a LAUNCH_GROUP runs in a nested container of the
//! executor's own, through the agent's operator API (LAUNCH_NESTED_CONTAINER, then
//! WAIT_NESTED_CONTAINER for its exit status).

use mesos_api::protocol::task::{CommandInfo, KillPolicy, TaskInfo, TaskState};
use mesos_api::{ids, TaskID};
use nix::sys::signal::Signal;
use serde_json::json;

use super::conn::nested_id;
use super::{Ended, Engine, Input, Place, Running};

impl Engine {
    /// The default executor's way: the task runs in a nested container of the executor's,
    /// launched by the agent; RUNNING follows once the agent launched it.
    pub(super) fn launch_nested(
        &mut self,
        task: TaskInfo,
        group: Option<usize>,
        cmd: &CommandInfo,
        parent: &str,
    ) {
        let tid = task.task_id.clone();
        let id = ids::new_uuid();
        let mut launch = json!({
            "container_id": nested_id(parent, &id),
            "command": mesos_api::protocol::to_json(cmd),
        });
        if let Some(c) = &task.container {
            launch["container"] = mesos_api::protocol::to_json(c);
        }
        let call = json!({"type": "LAUNCH_NESTED_CONTAINER", "launch_nested_container": launch});
        self.tasks.insert(
            tid.clone(),
            Running::new(
                Place::Nested {
                    id,
                    launched: false,
                },
                group,
            ),
        );
        self.infos.insert(tid.clone(), task);
        let conn = self.conn.clone();
        let tx = self.input.clone();
        tokio::spawn(async move {
            let r = conn
                .operator_call(call)
                .await
                .map(|_| ())
                .map_err(|e| e.unwrap_or_else(|| "the agent could not be reached".into()));
            let _ = tx.send(Input::NestedLaunched(tid, r));
        });
    }

    pub(super) fn nested_launched(&mut self, tid: TaskID, r: Result<(), String>) {
        let Some(run) = self.tasks.get_mut(&tid) else {
            return;
        };
        let Place::Nested { id, launched } = &mut run.place else {
            return;
        };
        if let Err(why) = r {
            let group = run.group;
            self.tasks.remove(&tid);
            self.status(
                &tid,
                TaskState::Failed,
                Some(format!("Failed to launch the task's container: {why}")),
            );
            self.kill_group_of(group);
            return;
        }
        *launched = true;
        let id = id.clone();
        let killing = run.killing;
        // As Mesos's default executor does, `tasks/<task id>` leads to the task's sandbox.
        let tasks = self.sandbox.join("tasks");
        let _ = std::fs::create_dir_all(&tasks);
        let _ = std::os::unix::fs::symlink(
            self.sandbox.join("containers").join(&id),
            tasks.join(&tid.value),
        );
        self.wait_nested(tid.clone());
        if killing {
            // A kill came while the agent was launching it: its grace period starts now.
            self.signal(&tid, Signal::SIGTERM);
            let grace =
                KillPolicy::grace_of(self.infos.get(&tid).and_then(|t| t.kill_policy.as_ref()));
            let tx = self.input.clone();
            tokio::spawn(async move {
                tokio::time::sleep(grace).await;
                let _ = tx.send(Input::Escalate(tid));
            });
            return;
        }
        self.status(&tid, TaskState::Running, None);
        self.watch(&tid);
    }

    /// Waits (WAIT_NESTED_CONTAINER) for a task's nested container to end.
    pub(super) fn wait_nested(&mut self, tid: TaskID) {
        let (Some(parent), Some(Place::Nested { id, .. })) = (
            self.container.as_deref(),
            self.tasks.get(&tid).map(|r| &r.place),
        ) else {
            return;
        };
        let call = json!({"type": "WAIT_NESTED_CONTAINER",
            "wait_nested_container": {"container_id": nested_id(parent, id)}});
        let conn = self.conn.clone();
        let tx = self.input.clone();
        tokio::spawn(async move {
            let input = match conn.operator_call(call).await {
                Ok(w) => match w["exit_status"].as_i64() {
                    Some(raw) => {
                        use std::os::unix::process::ExitStatusExt;
                        Input::Exited(
                            tid,
                            Ended::Status(std::process::ExitStatus::from_raw(raw as i32)),
                        )
                    }
                    None => Input::Exited(tid, Ended::Unknown),
                },
                Err(None) => Input::WaitLost(tid),
                Err(Some(why)) => {
                    eprintln!("executor: waiting for the container of task {tid}: {why}");
                    Input::Exited(
                        tid,
                        Ended::Error("Unable to retrieve command's termination information".into()),
                    )
                }
            };
            let _ = tx.send(input);
        });
    }
}
