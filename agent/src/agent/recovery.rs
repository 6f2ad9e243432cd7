//! Checkpointing and recovery, in Mesos's layout under `<work_dir>/meta`:
//!
//! ```text
//! meta/boot_id
//! meta/slaves/latest                                   the agent id
//! meta/slaves/<agent>/frameworks/<fw>/framework.info
//! meta/slaves/<agent>/frameworks/<fw>/executors/<ex>/executor.info
//! .../executors/<ex>/runs/<container>/pids/forked.pid
//! .../executors/<ex>/runs/<container>/tasks/<task>/task.info
//! .../executors/<ex>/runs/<container>/tasks/<task>/task.updates   one JSON record per line
//! ```
//!
//! Only checkpointing frameworks are written. After a restart on the same boot the agent
//! keeps its id, adopts the containers whose processes live (their executors resubscribe),
//! requeues the status updates not yet acknowledged, and reregisters. Tasks whose executor died
//! meanwhile fail; the live nested containers of adopted ones are adopted with them (the
//! containerizer's checkpoint names them `<parent>.<child>`); containers nobody checkpointed
//! are destroyed; a new boot id (a reboot), or `--recover=cleanup`, starts a new agent.

use libprocess::util::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use libprocess::Context;
use mesos_api::messages::{StatusUpdate, Task};
use mesos_api::protocol::framework::FrameworkInfo;
use mesos_api::protocol::task::ExecutorInfo;
use mesos_api::{AgentID, ContainerID, ExecutorID, FrameworkID, TaskID};
use mesos_containerizer::{
    ContainerConfig, Event as ContainerEvent, ImageUse, Limits, Termination,
};
use serde::{Deserialize, Serialize};

use super::state::{ExecKind, Executor, Framework};
use super::Agent;
use crate::flags::Recover;
use crate::paths;

/// How long a recovered executor has to resubscribe (Mesos's
/// `--executor_reregistration_timeout` is 2 s; ours allows for a loaded machine).
const EXECUTOR_REREGISTRATION_TIMEOUT: Duration = Duration::from_secs(5);

/// `executor.info`: the executor and how its container was made.
#[derive(Serialize, Deserialize)]
pub(crate) struct ExecutorRecord {
    info: ExecutorInfo,
    kind: String,
    container_id: ContainerID,
    directory: PathBuf,
    cpus: Option<f64>,
    mem_bytes: Option<u64>,
    disk_bytes: Option<u64>,
}

/// One line of `task.updates`.
#[derive(Serialize, Deserialize)]
enum UpdateRecord {
    Update(Box<StatusUpdate>),
    Ack(String),
}

pub(super) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Writes `bytes` to `path` through a temporary file and a rename, so a failed write (a full
/// disk) leaves the old content, never a torn one.
pub(super) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let r = path
        .parent()
        .map(std::fs::create_dir_all)
        .transpose()
        .and_then(|_| {
            let tmp = path.with_extension("tmp");
            let w = std::fs::write(&tmp, bytes).and_then(|_| std::fs::rename(&tmp, path));
            if w.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            w
        });
    r.map_err(|e| format!("cannot checkpoint '{}': {e}", path.display()))
}

fn write_json<T: Serialize>(path: &Path, v: &T) -> Result<(), String> {
    write_atomic(path, &serde_json::to_vec(v).unwrap_or_default())
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Option<T> {
    let b = std::fs::read(path).ok()?;
    match serde_json::from_slice(&b) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!("ignoring a bad checkpoint '{}': {e}", path.display());
            None
        }
    }
}

/// The directories in `p`, by name (recovery then goes in the same order on every file
/// system, which a deterministic simulation needs).
fn dirs(p: &Path) -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(p)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
                .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// This boot's id.
fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn kind_name(k: ExecKind) -> &'static str {
    match k {
        ExecKind::Command => "command",
        ExecKind::Default => "default",
        ExecKind::Custom => "custom",
        ExecKind::Docker => "docker",
    }
}

impl Agent {
    fn agent_meta(&self) -> Option<PathBuf> {
        let id = self.info.id.as_ref()?;
        Some(paths::agent_meta_dir(&self.flags.work_dir, id))
    }

    fn checkpoints(&self, fid: &FrameworkID) -> bool {
        self.frameworks.get(fid).is_some_and(|f| f.info.checkpoint)
    }

    fn executor_meta(&self, fid: &FrameworkID, eid: &ExecutorID) -> Option<PathBuf> {
        Some(paths::executor_dir(&self.agent_meta()?, fid, eid))
    }

    fn task_meta(&self, fid: &FrameworkID, eid: &ExecutorID, tid: &TaskID) -> Option<PathBuf> {
        let e = self.frameworks.get(fid)?.executors.get(eid)?;
        Some(paths::task_dir(
            &paths::run_dir(&self.executor_meta(fid, eid)?, &e.container_id),
            tid,
        ))
    }

    /// A checkpoint could not be written: said loudly (an error in the log and the
    /// `slave/checkpoint_failures` counter); the caller decides what the work it was for
    /// becomes.
    pub(super) fn checkpoint_failed(&self, why: &str) {
        tracing::error!("{why}");
        if let Some(c) = &self.checkpoint_failures {
            c.inc();
        }
    }

    /// Records the agent's id once registered.
    pub(super) fn checkpoint_agent(&self) {
        if let Some(id) = &self.info.id {
            let p = paths::latest_agent_path(&self.flags.work_dir);
            let _ = std::fs::create_dir_all(paths::agent_meta_dir(&self.flags.work_dir, id));
            if let Err(e) = write_atomic(&p, id.value.as_bytes()) {
                self.checkpoint_failed(&e);
            }
            // Its info, against which a restart checks what may not change (the domain).
            let info = serde_json::to_vec(&self.info).unwrap_or_default();
            if let Err(e) = write_atomic(&paths::agent_info_path(&self.flags.work_dir, id), &info) {
                self.checkpoint_failed(&e);
            }
        }
    }

    /// Records a framework, an executor and its tasks when it is launched. An error means
    /// the launch could not be made durable (the caller fails the tasks: an agent restart
    /// would not find them).
    pub(super) fn checkpoint_launch(
        &mut self,
        fid: &FrameworkID,
        eid: &ExecutorID,
        tasks: &[Task],
    ) -> Result<(), String> {
        if !self.checkpoints(fid) {
            return Ok(());
        }
        let Some(em) = self.executor_meta(fid, eid) else {
            return Ok(());
        };
        let Some(e) = self.frameworks.get(fid).and_then(|f| f.executors.get(eid)) else {
            return Ok(());
        };
        if let Some(f) = self.frameworks.get(fid) {
            let fp = em
                .parent()
                .and_then(Path::parent)
                .map(paths::framework_info_path);
            if let Some(fp) = fp.filter(|p| !p.exists()) {
                write_json(&fp, &f.info)?;
            }
        }
        let ep = paths::executor_info_path(&em);
        if !ep.exists() {
            write_json(
                &ep,
                &ExecutorRecord {
                    info: e.info.clone(),
                    kind: kind_name(e.kind).into(),
                    container_id: e.container_id.clone(),
                    directory: e.directory.clone(),
                    cpus: e.limits.cpus,
                    mem_bytes: e.limits.mem_bytes,
                    disk_bytes: e.limits.disk_bytes,
                },
            )?;
        }
        for t in tasks {
            if let Some(tp) = self.task_meta(fid, eid, &t.task_id) {
                write_json(&paths::task_info_path(&tp), t)?;
                self.task_dirs.insert((fid.clone(), t.task_id.clone()), tp);
            }
        }
        Ok(())
    }

    /// Records the pid of an executor's container (an error: a restarted agent could not
    /// adopt it).
    pub(super) fn checkpoint_pid(
        &self,
        fid: &FrameworkID,
        eid: &ExecutorID,
        os_pid: i32,
    ) -> Result<(), String> {
        if !self.checkpoints(fid) {
            return Ok(());
        }
        let Some(e) = self.frameworks.get(fid).and_then(|f| f.executors.get(eid)) else {
            return Ok(());
        };
        match self.executor_meta(fid, eid) {
            Some(em) => {
                let p = paths::forked_pid_path(&paths::run_dir(&em, &e.container_id));
                write_json(&p, &os_pid)
            }
            None => Ok(()),
        }
    }

    fn append(&self, path: Option<PathBuf>, rec: &UpdateRecord) {
        let Some(p) = path else {
            return;
        };
        let r = std::fs::create_dir_all(&p).and_then(|_| {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(paths::task_updates_path(&p))?;
            let mut line = serde_json::to_vec(rec).unwrap_or_default();
            line.push(b'\n');
            f.write_all(&line)
        });
        if let Err(e) = r {
            // The update still goes to the master from memory; a restart before it is
            // acknowledged would resend an older state.
            self.checkpoint_failed(&format!(
                "cannot checkpoint a status update in '{}': {e}",
                p.display()
            ));
        }
    }

    /// Records a status update before it is forwarded.
    pub(super) fn checkpoint_update(&self, u: &StatusUpdate) {
        let key = (u.framework_id.clone(), u.status.task_id.clone());
        let p = self.task_dirs.get(&key).cloned();
        self.append(p, &UpdateRecord::Update(Box::new(u.clone())));
    }

    /// Records an acknowledgement; a terminal one ends the task's checkpoint.
    pub(super) fn checkpoint_ack(
        &mut self,
        fid: &FrameworkID,
        tid: &TaskID,
        uuid: &[u8],
        terminal: bool,
    ) {
        let key = (fid.clone(), tid.clone());
        if terminal {
            if let Some(p) = self.task_dirs.remove(&key) {
                let _ = std::fs::remove_dir_all(&p);
                // The executor's record goes with its last task, once the executor is gone.
                let run = p.parent().and_then(Path::parent);
                let edir = run.and_then(Path::parent).and_then(Path::parent);
                if let (Some(run), Some(edir)) = (run, edir) {
                    let eid = edir
                        .file_name()
                        .map(|n| ExecutorID::new(n.to_string_lossy()));
                    let live = eid.is_some_and(|e| {
                        self.frameworks
                            .get(fid)
                            .is_some_and(|f| f.executors.contains_key(&e))
                    });
                    if !live && dirs(&paths::tasks_dir(run)).is_empty() {
                        let _ = std::fs::remove_dir_all(edir);
                    }
                }
            }
        } else {
            let p = self.task_dirs.get(&key).cloned();
            self.append(p, &UpdateRecord::Ack(hex(uuid)));
        }
    }

    /// Forgets an executor that is gone and whose tasks are all acknowledged.
    pub(super) fn checkpoint_executor_gone(
        &self,
        fid: &FrameworkID,
        eid: &ExecutorID,
        cid: &ContainerID,
    ) {
        let Some(em) = self.executor_meta(fid, eid) else {
            return;
        };
        let tasks = paths::tasks_dir(&paths::run_dir(&em, cid));
        if dirs(&tasks).is_empty() {
            let _ = std::fs::remove_dir_all(&em);
        }
    }

    /// Recovers from the checkpoint (see the module docs). Runs before registering.
    pub(super) fn recover(&mut self, ctx: &mut Context<Self>) {
        let work_dir = self.flags.work_dir.clone();
        let _ = std::fs::create_dir_all(paths::meta_dir(&work_dir));
        self.recover_resources();
        let now = boot_id();
        let before = std::fs::read_to_string(paths::boot_id_path(&work_dir)).ok();
        if before.as_deref().map(str::trim) != Some(now.as_str()) {
            // Atomically: a torn boot id (a full disk) would read as a reboot next time.
            if let Err(e) = write_atomic(&paths::boot_id_path(&work_dir), now.as_bytes()) {
                self.checkpoint_failed(&e);
            }
        }
        let latest = std::fs::read_to_string(paths::latest_agent_path(&work_dir))
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        let mut adopted: Vec<String> = Vec::new();
        let fresh = match (&latest, &before) {
            (None, _) => None,
            (Some(_), Some(b)) if b.trim() != now => Some("the machine rebooted"),
            (Some(_), _) if self.flags.recover == Recover::Cleanup => Some("--recover=cleanup"),
            (Some(_), _) => {
                let id = AgentID::new(latest.clone().unwrap_or_default());
                self.info.id = Some(id.clone());
                adopted = self.recover_frameworks(ctx, &paths::agent_meta_dir(&work_dir, &id));
                self.recover_operations(ctx);
                tracing::info!(agent = %id, executors = adopted.len(), "recovered from the checkpoint");
                None
            }
        };
        if let Some(why) = fresh {
            tracing::info!("starting as a new agent: {why}");
            let _ = std::fs::remove_dir_all(paths::agents_meta_dir(&work_dir));
        }
        if !adopted.is_empty() {
            let rt = ctx.runtime().clone();
            self.recover_nested(&rt, &mut adopted);
        }
        self.docker_remove_orphans(&adopted);
        self.gc_recovered(ctx);
        // Containers nobody recovered go.
        let cz = self.containerizer.clone();
        let orphans: Vec<(String, Option<i32>)> = cz
            .checkpointed()
            .into_iter()
            .filter(|(id, _)| !adopted.contains(id))
            .collect();
        cz.destroy_orphans(orphans);
    }

    /// Reads the frameworks, executors and tasks of `agent_dir`; returns the containers
    /// adopted.
    fn recover_frameworks(&mut self, ctx: &mut Context<Self>, agent_dir: &Path) -> Vec<String> {
        let mut adopted = Vec::new();
        let live: HashMap<String, Option<i32>> =
            self.containerizer.checkpointed().into_iter().collect();
        for (fid_s, fdir) in dirs(&paths::frameworks_dir(agent_dir)) {
            let Some(info) = read_json::<FrameworkInfo>(&paths::framework_info_path(&fdir)) else {
                tracing::error!(framework = %fid_s, "no readable framework.info in its checkpoint: its executors cannot be recovered and are destroyed");
                let _ = std::fs::remove_dir_all(&fdir);
                continue;
            };
            let fid = FrameworkID::new(fid_s);
            self.frameworks.insert(fid.clone(), Framework::new(info));
            for (eid_s, edir) in dirs(&paths::executors_dir(&fdir)) {
                let eid = ExecutorID::new(eid_s);
                let Some(rec) = read_json::<ExecutorRecord>(&paths::executor_info_path(&edir))
                else {
                    let _ = std::fs::remove_dir_all(&edir);
                    continue;
                };
                let run = paths::run_dir(&edir, &rec.container_id);
                let os_pid: Option<i32> = read_json(&paths::forked_pid_path(&run));
                let mut tasks = HashMap::default();
                let mut pending: Vec<StatusUpdate> = Vec::new();
                for (_, tdir) in dirs(&paths::tasks_dir(&run)) {
                    let Some(mut task) = read_json::<Task>(&paths::task_info_path(&tdir)) else {
                        continue;
                    };
                    let mut updates: Vec<StatusUpdate> = Vec::new();
                    let text = std::fs::read_to_string(paths::task_updates_path(&tdir))
                        .unwrap_or_default();
                    for line in text.lines() {
                        match serde_json::from_str::<UpdateRecord>(line) {
                            Ok(UpdateRecord::Update(u)) => {
                                task.state = u.status.state;
                                task.statuses.push(u.status.clone());
                                updates.push(*u);
                            }
                            Ok(UpdateRecord::Ack(h)) => updates.retain(|u| {
                                u.status.uuid.as_deref().map(hex).as_deref() != Some(&h[..])
                            }),
                            // A torn last line from the crash.
                            Err(_) => break,
                        }
                    }
                    pending.extend(updates);
                    self.task_dirs
                        .insert((fid.clone(), task.task_id.clone()), tdir.clone());
                    tasks.insert(task.task_id.clone(), task);
                }
                let kind = match rec.kind.as_str() {
                    "command" => ExecKind::Command,
                    "default" => ExecKind::Default,
                    "docker" => ExecKind::Docker,
                    _ => ExecKind::Custom,
                };
                let limits = Limits {
                    cpus: rec.cpus,
                    mem_bytes: rec.mem_bytes,
                    disk_bytes: rec.disk_bytes,
                    gpus: 0,
                    ports: None,
                };
                let cid = rec.container_id.clone();
                let alive = live.contains_key(&cid.value)
                    && os_pid.is_some_and(|p| self.containerizer.is_running(&cid.value, p));
                let mut e = Executor {
                    info: rec.info,
                    kind,
                    container_id: cid.clone(),
                    directory: rec.directory.clone(),
                    os_pid,
                    container: None,
                    limits: limits.clone(),
                    stream: None,
                    queued: Vec::new(),
                    tasks,
                    shutting_down: false,
                    launch_failure: None,
                    user: None,
                    io: None,
                    completed_tasks: Default::default(),
                };
                if alive {
                    let config = ContainerConfig {
                        id: cid.clone(),
                        parent: None,
                        program: PathBuf::new(),
                        args: Vec::new(),
                        env: Vec::new(),
                        sandbox: rec.directory,
                        limits,
                        container_info: None,
                        image_use: ImageUse::Enter,
                        uris: Vec::new(),
                        user: None,
                        stdio: None,
                        persistent_volumes: Vec::new(),
                    };
                    let (f, x, c) = (fid.clone(), eid.clone(), cid.clone());
                    let me = ctx.pid().clone();
                    let events = Box::new(move |ev: ContainerEvent| {
                        let (f, x, c) = (f.clone(), x.clone(), c.clone());
                        me.dispatch_nowait(move |a: &mut Agent, ctx| {
                            a.container_event(ctx, &f, &x, &c, ev)
                        });
                    });
                    match self.containerizer.recover(
                        ctx.runtime(),
                        config,
                        os_pid.unwrap_or(0),
                        events,
                    ) {
                        Ok(c) => {
                            e.container = Some(c);
                            adopted.push(cid.value.clone());
                        }
                        Err(err) => {
                            tracing::warn!(container = %cid, "cannot recover: {err}");
                            self.count(|m| m.recovery_errors.inc());
                        }
                    }
                    let (f, x, c) = (fid.clone(), eid.clone(), cid.clone());
                    ctx.delay(EXECUTOR_REREGISTRATION_TIMEOUT, move |a: &mut Agent, _| {
                        a.registration_timeout(&f, &x, &c)
                    });
                }
                let adopted_now = e.container.is_some();
                if let Some(f) = self.frameworks.get_mut(&fid) {
                    f.executors.insert(eid.clone(), e);
                }
                for u in pending {
                    if let Some(head) = self.updates.push(u) {
                        self.forward(ctx, head);
                    }
                }
                if !adopted_now {
                    // It died while the agent was down: its open tasks fail.
                    let t = Termination {
                        status: None,
                        message: "terminated while the agent was down".into(),
                        limitation: None,
                    };
                    self.executor_exited(ctx, &fid, &eid, &cid, t);
                }
            }
            if self
                .frameworks
                .get(&fid)
                .is_some_and(|f| f.executors.is_empty())
            {
                self.frameworks.remove(&fid);
            }
        }
        adopted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos_api::protocol::task::TaskState;

    #[test]
    fn update_records_round_trip_through_json_lines() {
        let mut s =
            mesos_api::protocol::task::TaskStatus::new(TaskID::new("t"), TaskState::Running);
        s.uuid = Some(vec![1, 2, 255]);
        let u = StatusUpdate {
            framework_id: FrameworkID::new("f"),
            executor_id: Some(ExecutorID::new("e")),
            agent_id: AgentID::new("a"),
            status: s,
            timestamp: 1.5,
            latest_state: Some(TaskState::Running),
        };
        let line = serde_json::to_string(&UpdateRecord::Update(Box::new(u.clone()))).unwrap();
        match serde_json::from_str::<UpdateRecord>(&line).unwrap() {
            UpdateRecord::Update(back) => assert_eq!(*back, u),
            UpdateRecord::Ack(_) => panic!("wrong record"),
        }
        assert_eq!(hex(&[1, 2, 255]), "0102ff");
    }
}
