//! One container, one actor. [`ContainerProcess`] runs the isolator lifecycle for its
//! container: prepare (cgroup and limits, fetch, provision, volumes), isolate (the process
//! joins its cgroups before exec), watch (OOM kills and disk use become limitations), update,
//! usage, cleanup (kill everything left, remove cgroups, rootfs and checkpoint), and recover
//! (adopt a checkpointed process after an agent restart, waiting on it through a pidfd).
//! It reports to its owner through one callback: launched or failed, then the termination.

use std::os::fd::{FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use libprocess::{Context, Process};
use mesos_api::protocol::container::{ContainerInfo, VolumeMode, VolumeSourceType};
use mesos_api::protocol::task::{CommandUri, Reason};
use mesos_api::ContainerID;
use serde::Serialize;

use crate::cgroups::{Cgroup, Controller};
use crate::containerizer::{checkpoint_dir, Containerizer};
use crate::error::{Error, Result};
use crate::flags::{Isolator, LauncherKind};
use crate::launch::{self, BindMount, Isolation, Plan, Rootfs};

/// Where an image's rootfs is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageUse {
    /// The container's own process runs in it.
    Enter,
    /// The container's process (the command executor) runs on the host and starts its task
    /// in it: the rootfs path is passed in [`TASK_ROOTFS_ENV`].
    ForTask,
}

/// The environment variable that tells the command executor its task's rootfs.
pub const TASK_ROOTFS_ENV: &str = "MESOS_RS_TASK_ROOTFS";

/// Resource limits for a container.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Limits {
    /// `cpus`.
    pub cpus: Option<f64>,
    /// `mem`, bytes.
    pub mem_bytes: Option<u64>,
    /// `disk`, bytes.
    pub disk_bytes: Option<u64>,
    /// `gpus`.
    pub gpus: usize,
}

/// What to run and how.
#[derive(Clone, Debug)]
pub struct ContainerConfig {
    /// The container's id.
    pub id: ContainerID,
    /// The parent (nested containers share its cgroups).
    pub parent: Option<ContainerID>,
    /// The program.
    pub program: PathBuf,
    /// Its arguments (argv[1..]).
    pub args: Vec<String>,
    /// Its environment (added to the agent's).
    pub env: Vec<(String, String)>,
    /// The sandbox (created by the owner); the working directory.
    pub sandbox: PathBuf,
    /// Resource limits.
    pub limits: Limits,
    /// Volumes, image and rlimits.
    pub container_info: Option<ContainerInfo>,
    /// How an image is used.
    pub image_use: ImageUse,
    /// URIs to fetch into the sandbox first.
    pub uris: Vec<CommandUri>,
    /// The user (for the fetcher cache).
    pub user: Option<String>,
}

/// Why a container was stopped by its isolators.
#[derive(Clone, Debug, PartialEq)]
pub struct Limitation {
    /// REASON_CONTAINER_LIMITATION_MEMORY or _DISK.
    pub reason: Reason,
    /// What happened.
    pub message: String,
}

/// How a container ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Termination {
    /// The raw wait status of its first process, when known (not after a recovery).
    pub status: Option<i32>,
    /// A description.
    pub message: String,
    /// Set when an isolator stopped it.
    pub limitation: Option<Limitation>,
}

/// What a container reports to its owner.
#[derive(Clone, Debug)]
pub enum Event {
    /// Its first process runs with this pid.
    Launched {
        /// The pid.
        pid: i32,
    },
    /// It could not be launched (a [`Event::Terminated`] follows).
    Failed(String),
    /// It is gone and cleaned up; always the last event.
    Terminated(Termination),
}

/// Mesos's `ResourceStatistics` for one container (absent values are not known).
#[derive(Clone, Debug, Default, Serialize)]
pub struct ResourceStatistics {
    /// Seconds since the epoch.
    pub timestamp: f64,
    /// Processes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub processes: Option<u64>,
    /// User CPU seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus_user_time_secs: Option<f64>,
    /// System CPU seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus_system_time_secs: Option<f64>,
    /// The cpus limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus_limit: Option<f64>,
    /// CFS periods.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus_nr_periods: Option<u64>,
    /// Throttled periods.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus_nr_throttled: Option<u64>,
    /// Throttled seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus_throttled_time_secs: Option<f64>,
    /// Memory in use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_total_bytes: Option<u64>,
    /// Anonymous memory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_rss_bytes: Option<u64>,
    /// Page cache.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_cache_bytes: Option<u64>,
    /// The memory limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_limit_bytes: Option<u64>,
    /// Highest use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_max_bytes: Option<u64>,
    /// The disk limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk_limit_bytes: Option<u64>,
    /// Disk used by the sandbox.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk_used_bytes: Option<u64>,
}

/// Set when launched from a checkpoint.
pub(crate) struct Recovered {
    pub pid: i32,
}

enum State {
    Preparing,
    Running,
    Destroying,
    Done,
}

/// The actor of one container (see the module docs).
pub struct ContainerProcess {
    shared: Arc<Containerizer>,
    config: ContainerConfig,
    events: Box<dyn Fn(Event) + Send>,
    recovered: Option<Recovered>,
    state: State,
    pid: Option<i32>,
    cgroup: Option<Cgroup>,
    /// The container's own cgroup (not its parent's): removed on cleanup.
    owns_cgroup: bool,
    destroy_requested: bool,
    limitation: Option<Limitation>,
    disk_used: Option<u64>,
    rootfs: bool,
    launch_error: Option<String>,
}

fn name(id: &ContainerID) -> String {
    id.value.clone()
}

impl ContainerProcess {
    pub(crate) fn new(
        shared: Arc<Containerizer>,
        config: ContainerConfig,
        events: Box<dyn Fn(Event) + Send>,
        recovered: Option<Recovered>,
    ) -> ContainerProcess {
        ContainerProcess {
            shared,
            config,
            events,
            recovered,
            state: State::Preparing,
            pid: None,
            cgroup: None,
            owns_cgroup: false,
            destroy_requested: false,
            limitation: None,
            disk_used: None,
            rootfs: false,
            launch_error: None,
        }
    }

    /// The container's first process, once running.
    pub fn pid(&self) -> Option<i32> {
        self.pid
    }

    /// Kills the container and cleans up; the termination follows as an event.
    pub fn destroy(&mut self, ctx: &mut Context<Self>) {
        match self.state {
            State::Preparing => self.destroy_requested = true,
            State::Running => {
                self.state = State::Destroying;
                self.kill(ctx);
            }
            State::Destroying | State::Done => {}
        }
    }

    /// New limits (cgroups/cpu and cgroups/mem).
    pub fn update(&mut self, limits: Limits) -> Result<()> {
        if let (Some(cg), true) = (&self.cgroup, self.owns_cgroup) {
            if let Some(c) = limits.cpus {
                cg.set_cpus(c, self.shared.flags.cgroups_enable_cfs)?;
            }
            if let Some(m) = limits.mem_bytes {
                cg.set_memory(m.max(MIN_MEMORY))?;
            }
        }
        self.config.limits = limits;
        Ok(())
    }

    /// Usage now.
    pub fn usage(&self) -> ResourceStatistics {
        usage_of(
            &self.shared,
            self.cgroup.as_ref(),
            self.pid,
            &self.config.limits,
            self.disk_used,
        )
    }

    fn emit(&self, e: Event) {
        (self.events)(e)
    }

    fn check_oom(&mut self) -> bool {
        if self.limitation.is_some() {
            return true;
        }
        self.limitation = self
            .cgroup
            .as_ref()
            .and_then(|c| oom_limitation(c, &self.config.limits));
        self.limitation.is_some()
    }

    fn watch(&mut self, ctx: &mut Context<Self>) {
        if !matches!(self.state, State::Running) {
            return;
        }
        if self.owns_cgroup && self.check_oom() {
            tracing::info!(container = %self.config.id, "memory limit reached; destroying");
            self.destroy(ctx);
            return;
        }
        ctx.delay(WATCH_INTERVAL, |c: &mut Self, ctx| c.watch(ctx));
    }

    fn watch_disk(&mut self, ctx: &mut Context<Self>) {
        if !matches!(self.state, State::Running) {
            return;
        }
        let sandbox = self.config.sandbox.clone();
        ctx.spawn_then(
            async move {
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
            },
            |c: &mut Self, ctx, used| {
                if let Some(u) = used {
                    c.disk_used = Some(u);
                    let quota = c.config.limits.disk_bytes;
                    if c.shared.flags.enforce_container_disk_quota
                        && quota.is_some_and(|q| u > q)
                        && c.limitation.is_none()
                    {
                        c.limitation = Some(Limitation {
                            reason: Reason::ContainerLimitationDisk,
                            message: format!(
                                "Disk usage ({}KB) exceeds quota ({}KB)",
                                u / 1024,
                                quota.unwrap_or(0) / 1024
                            ),
                        });
                        tracing::info!(container = %c.config.id, "disk quota exceeded; destroying");
                        c.destroy(ctx);
                        return;
                    }
                }
                let d = c.shared.flags.container_disk_watch_interval;
                ctx.delay(d, |c: &mut Self, ctx| c.watch_disk(ctx));
            },
        );
    }

    fn kill(&mut self, ctx: &mut Context<Self>) {
        if let Some(p) = self.pid {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(p),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        if let (Some(cg), true) = (self.cgroup.clone(), self.owns_cgroup) {
            ctx.spawn_then(
                tokio::task::spawn_blocking(move || cg.destroy(Duration::from_secs(30))),
                |c: &mut Self, _, r| {
                    if let Ok(Err(e)) = r {
                        tracing::warn!(container = %c.config.id, "destroying the cgroup: {e}");
                    }
                },
            );
        }
    }

    fn exited(&mut self, ctx: &mut Context<Self>, status: Option<i32>) {
        if matches!(self.state, State::Done) {
            return;
        }
        self.check_oom();
        self.state = State::Done;
        // Not our child (recovered): what its init kept, if it had one.
        let status = status.or_else(|| {
            crate::init::read_status(&checkpoint_dir(
                &self.shared.flags.work_dir,
                &name(&self.config.id),
            ))
        });
        let message = match (self.launch_error.take(), status) {
            (Some(e), _) => e,
            (None, Some(s)) => describe(s),
            (None, None) => "Container terminated".into(),
        };
        let cg = self.cgroup.clone().filter(|_| self.owns_cgroup);
        let shared = self.shared.clone();
        let id = name(&self.config.id);
        let rootfs = self.rootfs;
        let gpus = self.config.limits.gpus > 0;
        ctx.spawn_then(
            tokio::task::spawn_blocking(move || {
                if let Some(cg) = cg {
                    if let Err(e) = cg.destroy(Duration::from_secs(30)) {
                        tracing::warn!(container = %id, "cleanup: {e}");
                    }
                }
                if rootfs {
                    if let Err(e) = shared.provisioner.destroy(&id) {
                        tracing::warn!(container = %id, "cleanup of the rootfs: {e}");
                    }
                }
                if gpus {
                    shared.gpus.release(&id);
                }
                let _ = std::fs::remove_dir_all(checkpoint_dir(&shared.flags.work_dir, &id));
            }),
            move |c: &mut Self, ctx, _| {
                let t = Termination {
                    status,
                    message,
                    limitation: c.limitation.clone(),
                };
                tracing::debug!(container = %c.config.id, ?t, "container terminated");
                c.emit(Event::Terminated(t));
                ctx.terminate_self();
            },
        );
    }

    fn running(&mut self, ctx: &mut Context<Self>, pid: i32) {
        self.pid = Some(pid);
        self.state = State::Running;
        if self.destroy_requested {
            self.destroy(ctx);
            return;
        }
        if self.owns_cgroup
            && self
                .cgroup
                .as_ref()
                .is_some_and(|c| c.has(Controller::Memory))
        {
            ctx.delay(WATCH_INTERVAL, |c: &mut Self, ctx| c.watch(ctx));
        }
        if self.shared.flags.has(Isolator::DiskDu) {
            self.watch_disk(ctx);
        }
    }
}

/// The smallest memory limit (Mesos: 32 MB).
const MIN_MEMORY: u64 = 32 << 20;
/// How often OOM kills are looked for.
const WATCH_INTERVAL: Duration = Duration::from_millis(250);

/// "exited with status 1", "terminated by signal 9".
pub fn describe(raw: i32) -> String {
    use nix::libc::{WEXITSTATUS, WIFEXITED, WIFSIGNALED, WTERMSIG};
    if WIFEXITED(raw) {
        format!("exited with status {}", WEXITSTATUS(raw))
    } else if WIFSIGNALED(raw) {
        format!("terminated by signal {}", WTERMSIG(raw))
    } else {
        format!("ended with wait status {raw}")
    }
}

/// The memory limitation of a cgroup whose OOM killer has struck.
pub(crate) fn oom_limitation(cg: &Cgroup, limits: &Limits) -> Option<Limitation> {
    if !cg.has(Controller::Memory) || cg.oom_kills() == 0 {
        return None;
    }
    let st = cg.stats();
    let mb = |b: Option<u64>| b.map(|b| b / (1 << 20)).unwrap_or(0);
    Some(Limitation {
        reason: Reason::ContainerLimitationMemory,
        message: format!(
            "Memory limit exceeded: Requested: {}MB Maximum Used: {}MB",
            mb(limits.mem_bytes),
            mb(st.mem_max_bytes.or(st.mem_total_bytes))
        ),
    })
}

/// Usage of a container from its cgroup and, for posix/cpu and posix/mem (or without
/// cgroups), from the processes of its session.
pub(crate) fn usage_of(
    shared: &Containerizer,
    cgroup: Option<&Cgroup>,
    pid: Option<i32>,
    limits: &Limits,
    disk_used: Option<u64>,
) -> ResourceStatistics {
    let mut s = ResourceStatistics {
        timestamp: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0),
        cpus_limit: limits.cpus,
        mem_limit_bytes: limits.mem_bytes,
        disk_limit_bytes: limits.disk_bytes,
        disk_used_bytes: disk_used,
        ..Default::default()
    };
    if let Some(cg) = cgroup {
        let c = cg.stats();
        s.cpus_user_time_secs = c.cpus_user_time_secs;
        s.cpus_system_time_secs = c.cpus_system_time_secs;
        s.cpus_nr_periods = c.cpus_nr_periods;
        s.cpus_nr_throttled = c.cpus_nr_throttled;
        s.cpus_throttled_time_secs = c.cpus_throttled_time_secs;
        s.mem_total_bytes = c.mem_total_bytes;
        s.mem_rss_bytes = c.mem_rss_bytes;
        s.mem_cache_bytes = c.mem_cache_bytes;
        s.mem_max_bytes = c.mem_max_bytes;
        if let Some(l) = c.mem_limit_bytes.filter(|l| *l < (1 << 60)) {
            s.mem_limit_bytes = Some(l);
        }
        s.processes = c.processes;
    }
    let posix = shared.flags.has(Isolator::PosixCpu) || shared.flags.has(Isolator::PosixMem);
    if let (Some(pid), true) = (pid, posix || cgroup.is_none()) {
        let (user, sys, rss, n) = session_usage(pid);
        if s.cpus_user_time_secs.is_none() {
            s.cpus_user_time_secs = Some(user);
            s.cpus_system_time_secs = Some(sys);
        }
        if s.mem_rss_bytes.is_none() {
            s.mem_rss_bytes = Some(rss);
            s.mem_total_bytes = Some(rss);
        }
        if s.processes.is_none() {
            s.processes = Some(n);
        }
    }
    s
}

/// CPU seconds (user, system), RSS bytes and process count of a session (a container's
/// processes when it has no cgroups of its own).
pub fn session_usage(sid: i32) -> (f64, f64, u64, u64) {
    let tick = 100.0;
    let page = 4096u64;
    let (mut u, mut s, mut rss, mut n) = (0.0, 0.0, 0u64, 0u64);
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return (0.0, 0.0, 0, 0);
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the command, which is in parentheses and may hold spaces.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        // f[0] = state (field 3), session = field 6, utime = 14, stime = 15, rss = 24.
        if f.len() < 22 || f[3].parse::<i32>().ok() != Some(sid) {
            continue;
        }
        n += 1;
        u += f[11].parse::<f64>().unwrap_or(0.0) / tick;
        s += f[12].parse::<f64>().unwrap_or(0.0) / tick;
        rss += f[21].parse::<u64>().unwrap_or(0) * page;
    }
    (u, s, rss, n)
}

/// Prepared launch: the process and the plan to apply in the child.
struct Prepared {
    spec: launch::SpawnSpec,
    plan: Plan,
    cgroup: Option<Cgroup>,
    owns_cgroup: bool,
    rootfs: bool,
}

/// Prepare: cgroups and limits, fetch, provision, volumes, the launch plan.
fn prepare(shared: &Containerizer, cfg: &ContainerConfig) -> Result<Prepared> {
    let f = &shared.flags;
    let id = name(&cfg.id);
    let mut iso = Isolation::default();
    let mut cgroup = None;
    let mut owns_cgroup = false;
    if let Some(cgs) = &shared.cgroups {
        match &cfg.parent {
            // Nested containers share their parent's cgroups (Mesos's default).
            Some(p) => {
                let cg = cgs.open(&name(p), &shared.controllers);
                iso.cgroup_procs = cg.procs_files();
                cgroup = Some(cg);
            }
            None => {
                let cg = cgs.create(&id, &shared.controllers)?;
                if f.has(Isolator::CgroupsCpu) {
                    if let Some(c) = cfg.limits.cpus {
                        cg.set_cpus(c, f.cgroups_enable_cfs)?;
                    }
                }
                if f.has(Isolator::CgroupsMem) {
                    if let Some(m) = cfg.limits.mem_bytes {
                        cg.set_memory(m.max(MIN_MEMORY))?;
                    }
                }
                if f.has(Isolator::CgroupsPids) {
                    if let Some(n) = f.cgroups_pids_max {
                        cg.set_pids_max(n)?;
                    }
                }
                iso.cgroup_procs = cg.procs_files();
                cgroup = Some(cg);
                owns_cgroup = true;
            }
        }
    }
    if cfg.limits.gpus > 0 {
        let mine = shared.gpus.allocate(&id, cfg.limits.gpus)?;
        let base = shared.flags.cgroups_hierarchy.join("devices");
        if base.join("cgroup.procs").exists() {
            let dir = base.join(&shared.flags.cgroups_root).join(&id);
            std::fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
            let (deny, allow) = shared.gpus.device_rules(&mine);
            for d in deny {
                let _ = std::fs::write(dir.join("devices.deny"), d);
            }
            for a in allow {
                let _ = std::fs::write(dir.join("devices.allow"), a);
            }
            iso.cgroup_procs.push(dir.join("cgroup.procs"));
        }
    }
    let linux = f.launcher == LauncherKind::Linux;
    // Nested containers stay in their parent's namespaces.
    iso.pid_namespace = linux && f.has(Isolator::NamespacesPid) && cfg.parent.is_none();
    if f.has(Isolator::PosixRlimits) {
        if let Some(r) = cfg
            .container_info
            .as_ref()
            .and_then(|c| c.rlimit_info.as_ref())
        {
            iso.rlimits = launch::rlimits(r)?;
        }
    }
    let mut env = cfg.env.clone();
    let mut rootfs = false;
    if let Some(ci) = &cfg.container_info {
        let mut image_rootfs = None;
        if let Some(image) = ci.mesos.as_ref().and_then(|m| m.image.as_ref()) {
            let name = image
                .docker
                .as_ref()
                .map(|d| d.name.clone())
                .ok_or_else(|| Error::Unsupported("only DOCKER images are supported".into()))?;
            if !linux || !f.has(Isolator::FilesystemLinux) {
                return Err(Error::Unsupported(format!(
                    "image '{name}' needs --launcher=linux and --isolation with filesystem/linux"
                )));
            }
            let p = shared
                .provisioner
                .provision(&id, &name, image.cached.unwrap_or(true))?;
            rootfs = true;
            for (k, v) in &p.config.env {
                if !env.iter().any(|(x, _)| x == k) {
                    env.push((k.clone(), v.clone()));
                }
            }
            image_rootfs = Some(p.rootfs);
        }
        let mut mounts = Vec::new();
        for v in &ci.volumes {
            mounts.push(volume(shared, cfg, v, image_rootfs.is_some())?);
        }
        match (image_rootfs, cfg.image_use) {
            (Some(r), ImageUse::Enter) => {
                iso.rootfs = Some(Rootfs {
                    path: r,
                    sandbox: cfg.sandbox.clone(),
                    working_dir: None,
                });
                iso.mounts = mounts;
                env.retain(|(k, _)| k != "MESOS_SANDBOX");
                env.push(("MESOS_SANDBOX".into(), launch::SANDBOX_IN_ROOTFS.into()));
            }
            (Some(r), ImageUse::ForTask) => {
                env.push((TASK_ROOTFS_ENV.into(), r.display().to_string()));
                // The executor mounts the volumes into the task's rootfs itself.
            }
            (None, _) => {
                if !mounts.is_empty() && !linux {
                    return Err(Error::Unsupported(
                        "volumes need --launcher=linux and filesystem/linux".into(),
                    ));
                }
                iso.mounts = mounts;
            }
        }
    }
    if !cfg.uris.is_empty() {
        let r = shared
            .fetcher
            .fetch(&cfg.uris, &cfg.sandbox, cfg.user.as_deref())?;
        // As Mesos's fetcher, it reports into the sandbox's stderr.
        let line = format!(
            "mesos-fetcher: fetched {} URIs ({} downloaded, {} from the cache, {} extracted)\n",
            cfg.uris.len(),
            r.downloaded,
            r.cache_hits,
            r.extracted
        );
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(cfg.sandbox.join("stderr"))
            .and_then(|mut f| std::io::Write::write_all(&mut f, line.as_bytes()));
    }
    let plan = Plan::new(&iso)?;
    let open = |n: &str| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(cfg.sandbox.join(n))
            .map_err(|e| Error::io("cannot open", cfg.sandbox.join(n), e))
    };
    // The agent's environment, then the container's.
    let mut full: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| !env.iter().any(|(x, _)| x == k))
        .collect();
    full.extend(env);
    let mut program = launch::resolve(&cfg.program, &full);
    let mut args = cfg.args.clone();
    // A nested container on the host's filesystem runs under the status-keeping init.
    if let (Some(init), Some(_), None) = (&f.init, &cfg.parent, &iso.rootfs) {
        let dir = checkpoint_dir(&f.work_dir, &id);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
        args = crate::init::args(&dir.join(crate::init::STATUS_FILE), &program, &args);
        program = init.program.clone();
        full.extend(init.env.iter().cloned());
    }
    let spec = launch::SpawnSpec {
        program,
        args,
        env: full,
        cwd: cfg.sandbox.clone(),
        stdout: open("stdout")?,
        stderr: open("stderr")?,
    };
    Ok(Prepared {
        spec,
        plan,
        cgroup,
        owns_cgroup,
        rootfs,
    })
}

/// A volume as a bind mount: host paths as given, sandbox paths under the sandbox; a relative
/// container path is under the sandbox.
fn volume(
    shared: &Containerizer,
    cfg: &ContainerConfig,
    v: &mesos_api::protocol::container::Volume,
    in_rootfs: bool,
) -> Result<BindMount> {
    let f = &shared.flags;
    let source = match (&v.source, &v.host_path) {
        (Some(s), _) if s.kind == VolumeSourceType::HostPath => {
            if !f.has(Isolator::VolumeHostPath) && !f.has(Isolator::FilesystemLinux) {
                return Err(Error::Unsupported(
                    "HOST_PATH volumes need volume/host_path in --isolation".into(),
                ));
            }
            let p = s
                .host_path
                .as_ref()
                .ok_or_else(|| Error::Invalid("HOST_PATH volume without 'host_path'".into()))?;
            PathBuf::from(&p.path)
        }
        (Some(s), _) if s.kind == VolumeSourceType::SandboxPath => {
            if !f.has(Isolator::VolumeSandboxPath) {
                return Err(Error::Unsupported(
                    "SANDBOX_PATH volumes need volume/sandbox_path in --isolation".into(),
                ));
            }
            let p = s.sandbox_path.as_ref().ok_or_else(|| {
                Error::Invalid("SANDBOX_PATH volume without 'sandbox_path'".into())
            })?;
            if p.path.starts_with('/') || p.path.split('/').any(|c| c == "..") {
                return Err(Error::Invalid(format!(
                    "sandbox path '{}' must be relative and stay in the sandbox",
                    p.path
                )));
            }
            let base = match p.kind {
                Some(mesos_api::protocol::container::SandboxPathType::Parent) => cfg
                    .sandbox
                    .parent()
                    .and_then(|x| x.parent())
                    .map(PathBuf::from)
                    .unwrap_or_else(|| cfg.sandbox.clone()),
                _ => cfg.sandbox.clone(),
            };
            let src = base.join(&p.path);
            std::fs::create_dir_all(&src).map_err(|e| Error::io("cannot create", &src, e))?;
            src
        }
        (Some(s), _) => {
            return Err(Error::Unsupported(format!(
                "volume source {} is not supported",
                s.kind
            )))
        }
        (None, Some(h)) => PathBuf::from(h),
        (None, None) => return Err(Error::Invalid("volume without a source".into())),
    };
    let target = if v.container_path.starts_with('/') {
        PathBuf::from(&v.container_path)
    } else if in_rootfs {
        PathBuf::from(launch::SANDBOX_IN_ROOTFS).join(&v.container_path)
    } else {
        cfg.sandbox.join(&v.container_path)
    };
    if !in_rootfs && v.container_path.starts_with('/') && !target.exists() {
        return Err(Error::Invalid(format!(
            "container path '{}' does not exist on the host (needed without an image)",
            v.container_path
        )));
    }
    Ok(BindMount {
        source,
        target,
        readonly: v.mode == VolumeMode::Ro,
    })
}

/// Waits for a process that is not our child to end (pidfd readiness).
async fn wait_pid(pid: i32) {
    // SAFETY: pidfd_open returns a new descriptor we own, or -1.
    let fd = unsafe { nix::libc::syscall(nix::libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return;
    }
    // SAFETY: `fd` is a fresh descriptor owned by nothing else.
    let owned = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    // SAFETY: the descriptor stays open for as long as the AsyncFd owns it.
    match unsafe { tokio::io::unix::AsyncFd::register(owned) } {
        Ok(afd) => {
            let _ = afd.readable().await;
        }
        Err(_) => {
            while nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok() {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

impl Process for ContainerProcess {
    fn initialize(&mut self, ctx: &mut Context<Self>) {
        if let Some(r) = self.recovered.take() {
            if let Some(cgs) = &self.shared.cgroups {
                let id = match &self.config.parent {
                    Some(p) => name(p),
                    None => name(&self.config.id),
                };
                self.cgroup = Some(cgs.open(&id, &self.shared.controllers));
                self.owns_cgroup = self.config.parent.is_none();
            }
            self.rootfs = self
                .shared
                .provisioner
                .containers()
                .contains(&name(&self.config.id));
            let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(r.pid), None).is_ok();
            self.running(ctx, r.pid);
            if alive {
                ctx.spawn_then(wait_pid(r.pid), |c: &mut Self, ctx, ()| c.exited(ctx, None));
            } else {
                self.exited(ctx, None);
            }
            return;
        }
        let shared = self.shared.clone();
        let cfg = self.config.clone();
        ctx.spawn_then(
            tokio::task::spawn_blocking(move || {
                let mut p = prepare(&shared, &cfg)?;
                let (pid, pidfd) = launch::spawn(p.spec, &p.plan)?;
                let dir = checkpoint_dir(&shared.flags.work_dir, &name(&cfg.id));
                let _ = std::fs::create_dir_all(&dir);
                let _ = std::fs::write(dir.join("pid"), pid.to_string());
                Ok::<_, Error>((pidfd, pid, p.cgroup.take(), p.owns_cgroup, p.rootfs))
            }),
            |c: &mut Self, ctx, r| {
                let r = r.unwrap_or_else(|e| Err(Error::Launch(e.to_string())));
                match r {
                    Ok((pidfd, pid, cgroup, owns, rootfs)) => {
                        c.cgroup = cgroup;
                        c.owns_cgroup = owns;
                        c.rootfs = rootfs;
                        c.emit(Event::Launched { pid });
                        c.running(ctx, pid);
                        ctx.spawn_then(launch::wait_child(pid, pidfd), |c: &mut Self, ctx, st| {
                            c.exited(ctx, st)
                        });
                    }
                    Err(e) => {
                        tracing::warn!(container = %c.config.id, "launch failed: {e}");
                        c.emit(Event::Failed(e.to_string()));
                        c.launch_error = Some(e.to_string());
                        // Whatever was prepared goes.
                        let shared = c.shared.clone();
                        let id = name(&c.config.id);
                        if c.config.parent.is_none() {
                            if let Some(cgs) = &shared.cgroups {
                                c.cgroup = Some(cgs.open(&id, &shared.controllers));
                                c.owns_cgroup = true;
                            }
                        }
                        c.rootfs = true;
                        c.exited(ctx, None);
                    }
                }
            },
        );
    }
}
