//! One container, one actor. [`ContainerProcess`] runs the isolator lifecycle for its
//! container through the enabled isolators ([`crate::isolators`]): prepare (each isolator in
//! turn, then the fetcher and the launch), isolate, watch (a limitation an isolator finds, such
//! as an OOM kill or the disk quota, stops the container), update, usage, cleanup (after every
//! process is killed: each isolator, then the checkpoint), and recover (adopt a checkpointed
//! process after an agent restart, waiting on it through a pidfd).
//! It reports to its owner through one callback: launched or failed, then the termination.

use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

use libprocess::{Context, Process};

use crate::config::{ContainerConfig, Event, Limitation, Limits, ResourceStatistics, Termination};
use crate::error::{Error, Result};
use crate::fetcher::Fetcher;
use crate::flags::{ContainerizerFlags, IsolatorName};
use crate::isolators::{Check, Isolator, IsolatorState, LaunchInfo};
use crate::launch::{self, Isolation, Plan};
use crate::paths;
use crate::usage::usage_of;
/// Containers whose destruction went wrong (a cgroup that would not go, an isolator's cleanup
/// that failed): Mesos's `containerizer/mesos/container_destroy_errors`.
pub(crate) const DESTROY_ERRORS: &str = "containerizer/mesos/container_destroy_errors";

/// What every container's actor shares: the flags, the enabled isolators (in the order they
/// prepare) and the fetcher.
pub(crate) struct Shared {
    pub flags: ContainerizerFlags,
    pub isolators: Vec<Box<dyn Isolator>>,
    pub fetcher: Arc<Fetcher>,
}

impl Shared {
    /// A container's usage (see [`usage_of`]).
    pub fn usage(
        &self,
        state: &IsolatorState,
        os_pid: Option<i32>,
        limits: &Limits,
    ) -> ResourceStatistics {
        let posix =
            self.flags.has(IsolatorName::PosixCpu) || self.flags.has(IsolatorName::PosixMem);
        usage_of(&self.isolators, posix, state, os_pid, limits)
    }
}

/// Set when launched from a checkpoint.
pub(crate) struct Recovered {
    pub os_pid: i32,
}

enum Phase {
    Preparing,
    Running,
    Destroying,
    Done,
}

/// The actor of one container (see the module docs).
pub struct ContainerProcess {
    shared: Arc<Shared>,
    config: ContainerConfig,
    events: Box<dyn Fn(Event) + Send>,
    recovered: Option<Recovered>,
    phase: Phase,
    os_pid: Option<i32>,
    /// What the isolators know of it.
    isolated: IsolatorState,
    destroy_requested: bool,
    limitation: Option<Limitation>,
    launch_error: Option<String>,
}

/// How long killing the processes of a container's cgroup may take.
const KILL_TIMEOUT: Duration = Duration::from_secs(30);

impl ContainerProcess {
    pub(crate) fn new(
        shared: Arc<Shared>,
        config: ContainerConfig,
        events: Box<dyn Fn(Event) + Send>,
        recovered: Option<Recovered>,
    ) -> ContainerProcess {
        ContainerProcess {
            shared,
            config,
            events,
            recovered,
            phase: Phase::Preparing,
            os_pid: None,
            isolated: IsolatorState::default(),
            destroy_requested: false,
            limitation: None,
            launch_error: None,
        }
    }

    /// The OS pid of the container's first process, once running.
    pub fn os_pid(&self) -> Option<i32> {
        self.os_pid
    }

    /// Kills the container and cleans up; the termination follows as an event.
    pub fn destroy(&mut self, ctx: &mut Context<Self>) {
        match self.phase {
            Phase::Preparing => self.destroy_requested = true,
            Phase::Running => {
                self.phase = Phase::Destroying;
                self.kill(ctx);
            }
            Phase::Destroying | Phase::Done => {}
        }
    }

    /// New limits (cgroups/cpu and cgroups/mem).
    pub fn update(&mut self, limits: Limits) -> Result<()> {
        for i in &self.shared.isolators {
            i.update(&self.config, &self.isolated, &limits)?;
        }
        self.config.limits = limits;
        Ok(())
    }

    /// Usage now.
    pub fn usage(&self) -> ResourceStatistics {
        self.shared
            .usage(&self.isolated, self.os_pid, &self.config.limits)
    }

    fn emit(&self, e: Event) {
        (self.events)(e)
    }

    /// Isolator `i` looks for a limitation.
    fn watch(&mut self, ctx: &mut Context<Self>, i: usize) {
        if !matches!(self.phase, Phase::Running) {
            return;
        }
        match self.shared.isolators[i].check(&self.config, &self.isolated) {
            Check::Now(l) => self.watched(ctx, i, l),
            Check::Later(f) => ctx.spawn_then(f, move |c: &mut Self, ctx, verdict| {
                let l = verdict(&c.config, &mut c.isolated);
                c.watched(ctx, i, l)
            }),
        }
    }

    /// A limitation stops the container; otherwise isolator `i` looks again later.
    fn watched(&mut self, ctx: &mut Context<Self>, i: usize, found: Option<Limitation>) {
        let shared = self.shared.clone();
        let isolator = &shared.isolators[i];
        if let Some(l) = found {
            if self.limitation.is_none() {
                tracing::info!(
                    container = %self.config.id,
                    isolator = isolator.name(),
                    "{}; destroying",
                    l.message
                );
                self.limitation = Some(l);
            }
            self.destroy(ctx);
            return;
        }
        if !matches!(self.phase, Phase::Running) {
            return;
        }
        if let Some(w) = isolator.watch(&self.config, &self.isolated) {
            ctx.delay(w.every, move |c: &mut Self, ctx| c.watch(ctx, i));
        }
    }

    fn kill(&mut self, ctx: &mut Context<Self>) {
        if let Some(p) = self.os_pid {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(p),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        // The cgroup's processes too (the freezer where there is one).
        let cg = self.isolated.cgroup.clone();
        if let (Some(cg), true) = (cg, self.isolated.owns_cgroup) {
            ctx.spawn_then(
                tokio::task::spawn_blocking(move || cg.destroy(KILL_TIMEOUT)),
                |c: &mut Self, ctx, r| {
                    if let Ok(Err(e)) = r {
                        tracing::warn!(container = %c.config.id, "destroying the cgroup: {e}");
                        ctx.runtime().metrics().counter(DESTROY_ERRORS).inc();
                    }
                },
            );
        }
    }

    fn exited(&mut self, ctx: &mut Context<Self>, status: Option<i32>) {
        if matches!(self.phase, Phase::Done) {
            return;
        }
        // A last look for a limitation (what isolators know at once).
        for i in &self.shared.isolators {
            if let Check::Now(Some(l)) = i.check(&self.config, &self.isolated) {
                self.limitation.get_or_insert(l);
            }
        }
        self.phase = Phase::Done;
        let work_dir = &self.shared.flags.work_dir;
        let checkpoint = paths::checkpoint_dir(work_dir, &self.config.id.value);
        // Not our child (recovered): what its init kept, if it had one.
        let status = status.or_else(|| crate::init::read_status(&checkpoint));
        let message = match (self.launch_error.take(), status) {
            (Some(e), _) => e,
            (None, Some(s)) => describe(s),
            (None, None) => "Container terminated".into(),
        };
        let shared = self.shared.clone();
        let config = self.config.clone();
        let isolated = self.isolated.clone();
        let leader = self.os_pid;
        ctx.spawn_then(
            tokio::task::spawn_blocking(move || {
                // The first process is gone; nothing it started outlives it (an executor
                // killed with -9 leaves its task reparented, still in its session).
                if let Some(sid) = leader {
                    let n = crate::launch::kill_session(sid);
                    if n > 0 {
                        tracing::info!(container = %config.id, processes = n, "killed what the container's first process left running");
                    }
                }
                let mut errors = 0u64;
                for i in &shared.isolators {
                    if let Err(e) = i.cleanup(&config, &isolated) {
                        tracing::warn!(container = %config.id, isolator = i.name(), "cleanup: {e}");
                        errors += 1;
                    }
                }
                let _ = std::fs::remove_dir_all(checkpoint);
                errors
            }),
            move |c: &mut Self, ctx, errors| {
                if let Ok(n @ 1..) = errors {
                    ctx.runtime().metrics().counter(DESTROY_ERRORS).add(n);
                }
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

    fn running(&mut self, ctx: &mut Context<Self>, os_pid: i32) {
        self.os_pid = Some(os_pid);
        self.isolated.pid = Some(os_pid);
        self.phase = Phase::Running;
        if self.destroy_requested {
            self.destroy(ctx);
            return;
        }
        let shared = self.shared.clone();
        for (i, isolator) in shared.isolators.iter().enumerate() {
            match isolator.watch(&self.config, &self.isolated) {
                Some(w) if w.first.is_zero() => self.watch(ctx, i),
                Some(w) => {
                    ctx.delay(w.first, move |c: &mut Self, ctx| c.watch(ctx, i));
                }
                None => {}
            }
        }
    }
}

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

/// Prepared launch: the process and the plan to apply in the child.
struct Prepared {
    spec: launch::SpawnSpec,
    plan: Plan,
}

/// Prepare: each isolator (cgroups and limits, devices, namespaces, rlimits, rootfs and
/// volumes), the fetch, then the launch plan. What the isolators made is in `state` even when
/// this fails, for cleanup.
fn prepare(shared: &Shared, cfg: &ContainerConfig, state: &mut IsolatorState) -> Result<Prepared> {
    let f = &shared.flags;
    let networks = cfg
        .container_info
        .as_ref()
        .is_some_and(|c| !c.network_infos.is_empty());
    let capabilities = cfg
        .container_info
        .as_ref()
        .and_then(|c| c.linux_info.as_ref())
        .is_some_and(|l| {
            l.effective_capabilities.is_some()
                || l.bounding_capabilities.is_some()
                || l.capability_info.is_some()
        });
    if capabilities && !f.has(IsolatorName::LinuxCapabilities) {
        return Err(Error::Unsupported(
            "the container asks for capabilities ('linux_info') and linux/capabilities is not \
             in --isolation"
                .into(),
        ));
    }
    let ipc = cfg
        .container_info
        .as_ref()
        .and_then(|c| c.linux_info.as_ref())
        .is_some_and(|l| l.ipc_mode.is_some() || l.shm_size.is_some());
    if ipc && !f.has(IsolatorName::NamespacesIpc) {
        return Err(Error::Unsupported(
            "the container asks for an IPC mode or a /dev/shm size ('linux_info') and \
             namespaces/ipc is not in --isolation"
                .into(),
        ));
    }
    if networks && !f.has(IsolatorName::NetworkCni) {
        return Err(Error::Unsupported(
            "the container names CNI networks ('network_infos') and network/cni is not in \
             --isolation"
                .into(),
        ));
    }
    if cfg.limits.gpus > 0 && !f.has(IsolatorName::GpuNvidia) {
        return Err(Error::Unsupported(
            "gpu/nvidia is not in --isolation".into(),
        ));
    }
    let mut info = LaunchInfo {
        isolation: Isolation::default(),
        env: cfg.env.clone(),
        command: None,
    };
    for i in &shared.isolators {
        i.prepare(cfg, state, &mut info)?;
    }
    let LaunchInfo {
        isolation: mut iso,
        mut env,
        command,
    } = info;
    let user = run_as(f.switch_user, cfg)?;
    if env.iter().any(|(k, _)| k == crate::TASK_ROOTFS_ENV) {
        // The command executor enters its task's rootfs (which needs root), then becomes the
        // user for the task only.
        if let Some(u) = &user {
            env.push((crate::TASK_USER_ENV.into(), u.name.clone()));
        }
    } else {
        iso.run_as = user.clone();
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
    // The logger reads its per-container settings from the container's own environment.
    let own_env = env.clone();
    full.extend(env);
    let (mut program, mut args) = match command {
        // The image's command runs inside the image: found there, not on the host.
        Some((program, args)) => (program, args),
        None => (launch::resolve(&cfg.program, &full), cfg.args.clone()),
    };
    // A nested container on the host's filesystem runs under the status-keeping init.
    if let (Some(init), Some(_), None) = (&f.init, &cfg.parent, &iso.rootfs) {
        let dir = paths::checkpoint_dir(&f.work_dir, &cfg.id.value);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
        let status = paths::status_file(&f.work_dir, &cfg.id.value);
        args = crate::init::args(&status, &program, &args);
        program = init.program.clone();
        full.extend(init.env.iter().cloned());
    }
    let tty = cfg.stdio.as_ref().is_some_and(|io| io.is_tty());
    if let Some(u) = &user {
        // The sandbox is the user's, as in Mesos (its parents stay the agent's): before the
        // output's files are made, so that a logger running as the user can write there.
        let (uid, gid) = (
            Some(nix::unistd::Uid::from_raw(u.uid)),
            Some(nix::unistd::Gid::from_raw(u.gid)),
        );
        open("stdout")?;
        open("stderr")?;
        for p in [
            cfg.sandbox.clone(),
            cfg.sandbox.join("stdout"),
            cfg.sandbox.join("stderr"),
        ] {
            nix::unistd::chown(&p, uid, gid)
                .map_err(|e| Error::io("cannot give to its user", &p, std::io::Error::from(e)))?;
        }
    }
    let log = |stream: crate::logger::Stream| {
        crate::logger::open_stream(
            &f.logger,
            f.logger_program.as_ref(),
            &cfg.sandbox,
            stream,
            &own_env,
            user.as_ref().map(|u| (u.uid, u.gid)),
        )
        .map_err(|e| Error::io("cannot log to", cfg.sandbox.join(stream.file_name()), e))
    };
    let (stdin, stdout, stderr) = match &cfg.stdio {
        Some(io) => {
            let [i, o, e] = io.take().ok_or_else(|| {
                Error::Invalid("the container's standard streams were used already".into())
            })?;
            // The owner logs the output to the sandbox's files itself; they exist from the
            // start, as for any container.
            open("stdout")?;
            open("stderr")?;
            (
                Some(std::fs::File::from(i)),
                std::fs::File::from(o),
                std::fs::File::from(e),
            )
        }
        None => (
            None,
            log(crate::logger::Stream::Stdout)?,
            log(crate::logger::Stream::Stderr)?,
        ),
    };
    let spec = launch::SpawnSpec {
        program,
        args,
        env: full,
        cwd: cfg.sandbox.clone(),
        stdin,
        stdout,
        stderr,
        tty,
    };
    Ok(Prepared { spec, plan })
}

/// The user a container runs as, with `--switch_user`: its config's (`None`: the agent's own,
/// as is a user the agent already is).
fn run_as(switch_user: bool, cfg: &ContainerConfig) -> Result<Option<launch::RunAs>> {
    let Some(user) = cfg.user.as_deref().filter(|u| switch_user && !u.is_empty()) else {
        return Ok(None);
    };
    let u = launch::RunAs::lookup(user)?;
    let me = nix::unistd::geteuid();
    if u.uid == me.as_raw() {
        return Ok(None);
    }
    if !me.is_root() {
        return Err(Error::Invalid(format!(
            "cannot run as user '{user}': the agent does not run as root (--switch_user=false runs containers as the agent's user)"
        )));
    }
    Ok(Some(u))
}

/// Prepares and starts a container (blocking): its OS pid, checkpointed, and a pidfd.
fn start(
    shared: &Shared,
    cfg: &ContainerConfig,
    state: &mut IsolatorState,
) -> Result<(OwnedFd, i32)> {
    let p = prepare(shared, cfg, state)?;
    let (os_pid, pidfd) = launch::spawn(p.spec, &p.plan)?;
    for i in &shared.isolators {
        if let Err(e) = i.isolate(cfg, state, os_pid) {
            let group = nix::unistd::Pid::from_raw(os_pid);
            let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(group, None);
            return Err(e);
        }
    }
    if let Err(e) = paths::write_os_pid(&shared.flags.work_dir, &cfg.id.value, os_pid) {
        // Unrecorded, a restarted agent could neither adopt nor clean it up: it does not run.
        let group = nix::unistd::Pid::from_raw(os_pid);
        let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(group, None);
        return Err(Error::io(
            "cannot checkpoint the pid of",
            paths::checkpoint_dir(&shared.flags.work_dir, &cfg.id.value),
            e,
        ));
    }
    Ok((pidfd, os_pid))
}

/// Waits for a process that is not our child to end (pidfd readiness).
async fn wait_pid(os_pid: i32) {
    // SAFETY: pidfd_open returns a new descriptor we own, or -1.
    let fd = unsafe { nix::libc::syscall(nix::libc::SYS_pidfd_open, os_pid, 0) };
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
            while nix::sys::signal::kill(nix::unistd::Pid::from_raw(os_pid), None).is_ok() {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

impl Process for ContainerProcess {
    fn initialize(&mut self, ctx: &mut Context<Self>) {
        if let Some(r) = self.recovered.take() {
            for i in &self.shared.isolators {
                i.recover(&self.config, &mut self.isolated);
            }
            let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(r.os_pid), None).is_ok();
            self.running(ctx, r.os_pid);
            if alive {
                ctx.spawn_then(wait_pid(r.os_pid), |c: &mut Self, ctx, ()| {
                    c.exited(ctx, None)
                });
            } else {
                self.exited(ctx, None);
            }
            return;
        }
        let shared = self.shared.clone();
        let cfg = self.config.clone();
        ctx.spawn_then(
            tokio::task::spawn_blocking(move || {
                let mut state = IsolatorState::default();
                let r = start(&shared, &cfg, &mut state);
                (state, r)
            }),
            |c: &mut Self, ctx, r| {
                let (state, r) = r.unwrap_or_else(|e| {
                    // The state went with the panic: find what exists, as after a restart.
                    let mut state = IsolatorState::default();
                    for i in &c.shared.isolators {
                        i.recover(&c.config, &mut state);
                    }
                    (state, Err(Error::Launch(e.to_string())))
                });
                c.isolated = state;
                match r {
                    Ok((pidfd, os_pid)) => {
                        c.emit(Event::Launched { os_pid });
                        c.running(ctx, os_pid);
                        ctx.spawn_then(
                            launch::wait_child(os_pid, pidfd),
                            |c: &mut Self, ctx, st| c.exited(ctx, st),
                        );
                    }
                    Err(e) => {
                        tracing::warn!(container = %c.config.id, "launch failed: {e}");
                        c.emit(Event::Failed(e.to_string()));
                        c.launch_error = Some(e.to_string());
                        // Whatever was prepared goes.
                        c.exited(ctx, None);
                    }
                }
            },
        );
    }
}
