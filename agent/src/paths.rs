//! Every path the agent keeps under `--work_dir`, in Mesos's layout (its `src/slave/paths.hpp`).
//! The sandboxes and the checkpoint (`meta/`) share one shape below the agent:
//!
//! ```text
//! slaves/<agent>/frameworks/<fw>/executors/<ex>/runs/<container>       the executor's sandbox
//! slaves/<agent>/frameworks/<fw>/executors/<ex>/runs/latest            link to the newest run
//! <sandbox>/containers/<child>[/containers/<grandchild>...]            nested containers' sandboxes
//! <sandbox>/tasks/<task>                                               link to a group task's sandbox
//!
//! meta/boot_id
//! meta/slaves/latest                                                   the agent id
//! meta/slaves/<agent>/frameworks/<fw>/framework.info
//! meta/slaves/<agent>/frameworks/<fw>/executors/<ex>/executor.info
//! .../executors/<ex>/runs/<container>/pids/forked.pid
//! .../executors/<ex>/runs/<container>/tasks/<task>/task.info
//! .../executors/<ex>/runs/<container>/tasks/<task>/task.updates       one JSON record per line
//! ```
//!
//! Functions named `*_dir` give a folder and `*_path` a file; each takes the folder it lives
//! in, so the checkpoint and the sandboxes use the same functions below the agent's folder.

use std::path::{Path, PathBuf};

use mesos_api::{AgentID, ContainerID, ExecutorID, FrameworkID, TaskID};

/// `<work_dir>/meta`: the checkpoint.
pub fn meta_dir(work_dir: &Path) -> PathBuf {
    work_dir.join("meta")
}

/// `meta/boot_id`: the boot this checkpoint was written in.
pub fn boot_id_path(work_dir: &Path) -> PathBuf {
    meta_dir(work_dir).join("boot_id")
}

/// `meta/resources/resources.info`: the checkpointed resources (dynamic reservations and
/// persistent volumes, as the master last sent them), kept across agent ids and reboots.
pub fn resources_info_path(work_dir: &Path) -> PathBuf {
    meta_dir(work_dir).join("resources").join("resources.info")
}

/// `volumes/roles/<role>/<persistence id>`: a persistent volume's directory.
pub fn persistent_volume_path(work_dir: &Path, role: &str, id: &str) -> PathBuf {
    work_dir.join("volumes").join("roles").join(role).join(id)
}

/// `meta/slaves`: every agent's checkpoint.
pub fn agents_meta_dir(work_dir: &Path) -> PathBuf {
    meta_dir(work_dir).join("slaves")
}

/// `meta/slaves/latest`: the id of the agent that checkpointed last.
pub fn latest_agent_path(work_dir: &Path) -> PathBuf {
    agents_meta_dir(work_dir).join("latest")
}

/// `meta/slaves/<agent>/slave.info`: the agent's info as it registered.
pub fn agent_info_path(work_dir: &Path, agent: &AgentID) -> PathBuf {
    agent_meta_dir(work_dir, agent).join("slave.info")
}

/// `meta/slaves/<agent>`: one agent's checkpoint.
pub fn agent_meta_dir(work_dir: &Path, agent: &AgentID) -> PathBuf {
    agents_meta_dir(work_dir).join(&agent.value)
}

/// `slaves/<agent>`: the root of one agent's sandboxes.
pub fn agent_sandboxes_dir(work_dir: &Path, agent: &AgentID) -> PathBuf {
    work_dir.join("slaves").join(&agent.value)
}

/// `<agent dir>/frameworks`.
pub fn frameworks_dir(agent_dir: &Path) -> PathBuf {
    agent_dir.join("frameworks")
}

/// `<agent dir>/frameworks/<fw>`.
pub fn framework_dir(agent_dir: &Path, framework: &FrameworkID) -> PathBuf {
    frameworks_dir(agent_dir).join(&framework.value)
}

/// `<framework dir>/framework.info`.
pub fn framework_info_path(framework_dir: &Path) -> PathBuf {
    framework_dir.join("framework.info")
}

/// `<framework dir>/executors`.
pub fn executors_dir(framework_dir: &Path) -> PathBuf {
    framework_dir.join("executors")
}

/// `<agent dir>/frameworks/<fw>/executors/<ex>`.
pub fn executor_dir(agent_dir: &Path, framework: &FrameworkID, executor: &ExecutorID) -> PathBuf {
    executors_dir(&framework_dir(agent_dir, framework)).join(&executor.value)
}

/// `<executor dir>/executor.info`.
pub fn executor_info_path(executor_dir: &Path) -> PathBuf {
    executor_dir.join("executor.info")
}

/// `<executor dir>/runs`.
pub fn runs_dir(executor_dir: &Path) -> PathBuf {
    executor_dir.join("runs")
}

/// `<executor dir>/runs/<container>`: a run's sandbox (or its checkpoint).
pub fn run_dir(executor_dir: &Path, container: &ContainerID) -> PathBuf {
    runs_dir(executor_dir).join(&container.value)
}

/// `<executor dir>/runs/latest`: the link to the newest run.
pub fn latest_run_link(executor_dir: &Path) -> PathBuf {
    runs_dir(executor_dir).join("latest")
}

/// `<run dir>/pids/forked.pid`: the executor container's pid.
pub fn forked_pid_path(run_dir: &Path) -> PathBuf {
    run_dir.join("pids").join("forked.pid")
}

/// `<run dir>/tasks`.
pub fn tasks_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("tasks")
}

/// `<run dir>/tasks/<task>`.
pub fn task_dir(run_dir: &Path, task: &TaskID) -> PathBuf {
    tasks_dir(run_dir).join(&task.value)
}

/// `<task dir>/task.info`.
pub fn task_info_path(task_dir: &Path) -> PathBuf {
    task_dir.join("task.info")
}

/// `<task dir>/task.updates`.
pub fn task_updates_path(task_dir: &Path) -> PathBuf {
    task_dir.join("task.updates")
}

/// A standalone container's sandbox (LAUNCH_CONTAINER without a parent):
/// `<work_dir>/sandboxes/<id>` (Mesos's `<work_dir>/containers/<id>` holds the containerizer's
/// checkpoints here).
pub fn standalone_sandbox_dir(work_dir: &Path, id: &str) -> PathBuf {
    work_dir.join("sandboxes").join(id)
}

/// A nested container's sandbox: `containers/<id>` below its parent's, for each level of
/// `chain` (the ids below the top-level container, outermost first).
pub fn nested_sandbox_dir<S: AsRef<str>>(top_sandbox: &Path, chain: &[S]) -> PathBuf {
    let mut dir = top_sandbox.to_path_buf();
    for c in chain {
        dir = dir.join("containers").join(c.as_ref());
    }
    dir
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sandboxes_and_checkpoints_follow_mesos_layout() {
        let w = Path::new("/w");
        let (a, f, e) = (
            AgentID::new("A"),
            FrameworkID::new("F"),
            ExecutorID::new("E"),
        );
        let c = ContainerID::new("C");
        let sandbox = run_dir(&executor_dir(&agent_sandboxes_dir(w, &a), &f, &e), &c);
        assert_eq!(
            sandbox,
            Path::new("/w/slaves/A/frameworks/F/executors/E/runs/C")
        );
        let meta_run = run_dir(&executor_dir(&agent_meta_dir(w, &a), &f, &e), &c);
        assert_eq!(
            task_updates_path(&task_dir(&meta_run, &TaskID::new("T"))),
            Path::new("/w/meta/slaves/A/frameworks/F/executors/E/runs/C/tasks/T/task.updates")
        );
        assert_eq!(
            forked_pid_path(&meta_run),
            Path::new("/w/meta/slaves/A/frameworks/F/executors/E/runs/C/pids/forked.pid")
        );
        assert_eq!(latest_agent_path(w), Path::new("/w/meta/slaves/latest"));
        assert_eq!(standalone_sandbox_dir(w, "c"), Path::new("/w/sandboxes/c"));
        assert_eq!(
            nested_sandbox_dir(Path::new("/s"), &["x", "y"]),
            Path::new("/s/containers/x/containers/y")
        );
    }
}
