//! The scale simulator: simulated agents and frameworks in child OS processes, talking to the
//! real master over the binary transport on loopback.
//!
//! A scenario binary hosts the master (with its allocator actor) in its own process and starts
//! itself again as children: `<exe> __sim agents k=v ...` hosts simulated agents on one or more
//! runtimes (each runtime is one connection to the master), `<exe> __sim frameworks k=v ...`
//! hosts simulated frameworks, `<exe> __sim master k=v ...` hosts one master (the high
//! availability scenario runs three, contending through ZooKeeper). Agents and frameworks find
//! their master at a fixed address or through ZooKeeper ([`MasterAt`]; one ZooKeeper session
//! per agent process). Children print their counters on stdout every 50 ms
//! (`stats registered=.. subscribed=.. offers=.. launched=.. running=.. finished=.. failed=..`)
//! and exit when their stdin closes, so they never outlive the scenario.

pub mod agent;
pub mod framework;
pub mod stats;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use libprocess::{Runtime, PID, UPID};
use mesos_api::Resources;
use tokio::io::{AsyncBufReadExt, BufReader};

use self::agent::SimAgent;
use self::framework::{Plan, Policy, SimFramework};
pub use self::stats::{now_secs, Counts, Stats};

/// The first argument that makes a scenario binary a simulator child.
pub const CHILD_ARG: &str = "__sim";

/// Where simulated agents and frameworks find the master.
#[derive(Clone, Debug)]
pub enum MasterAt {
    /// This one.
    Fixed(UPID),
    /// The leader of this ZooKeeper group (`zk://host:port/path`), with this session timeout.
    ZooKeeper {
        /// The group's URL.
        url: String,
        /// The ZooKeeper session timeout.
        session: Duration,
    },
}

impl MasterAt {
    fn args(&self) -> Vec<String> {
        match self {
            MasterAt::Fixed(m) => vec![format!("master={m}")],
            MasterAt::ZooKeeper { url, session } => vec![
                format!("zk={url}"),
                format!("session_ms={}", session.as_millis()),
            ],
        }
    }

    fn parse(m: &BTreeMap<&str, &str>) -> Result<MasterAt, String> {
        if let Some(url) = m.get("zk") {
            return Ok(MasterAt::ZooKeeper {
                url: url.to_string(),
                session: Duration::from_millis(get(m, "session_ms")?),
            });
        }
        let master: UPID = get::<String>(m, "master")?
            .parse()
            .map_err(|e| format!("master: {e}"))?;
        Ok(MasterAt::Fixed(master))
    }
}

/// How to host one master in a child process.
#[derive(Clone, Debug)]
pub struct MasterSpec {
    /// Its port.
    pub port: u16,
    /// `--zk`.
    pub zk: String,
    /// `--zk_session_timeout`.
    pub session: Duration,
    /// `--registry`.
    pub registry: String,
    /// `--allocation_interval`.
    pub allocation_interval: Duration,
    /// `--max_completed_tasks_per_framework`.
    pub max_completed_tasks: usize,
}

/// Raises the open-files limit to its hard maximum; returns the soft limit now in force.
pub fn raise_nofile() -> u64 {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) => {
            if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
                hard
            } else {
                soft
            }
        }
        Err(_) => 1024,
    }
}

/// The resident set size of this process, in bytes (from /proc/self/statm).
pub fn rss_bytes() -> u64 {
    let page = 4096;
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |p| p * page)
}

/// Bytes the C allocator has handed out and not yet taken back (glibc's `mallinfo2`: chunks in
/// use in every arena plus mmapped blocks): the live heap, without the freed memory that the
/// allocator keeps for reuse and RSS still counts. 0 where glibc is not the allocator.
#[allow(unsafe_code)]
pub fn heap_in_use_bytes() -> u64 {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallinfo2 takes no arguments and only reads the allocator's statistics.
        let m = unsafe { nix::libc::mallinfo2() };
        (m.uordblks + m.hblkhd) as u64
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        0
    }
}

/// CPU seconds (user and system) this process has used so far: the master's, in a scenario
/// (the agents and frameworks run in child processes; this one only counts their reports).
pub fn cpu_seconds() -> f64 {
    use nix::sys::resource::{getrusage, UsageWho};
    getrusage(UsageWho::RUSAGE_SELF).map_or(0.0, |u| {
        let (a, b) = (u.user_time(), u.system_time());
        (a.tv_sec() + b.tv_sec()) as f64 + (a.tv_usec() + b.tv_usec()) as f64 / 1e6
    })
}

/// Memory the kernel says is available, in bytes.
pub fn mem_available() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemAvailable:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(u64::MAX, |kib| kib * 1024)
}

/// Refuses sizes this machine cannot host, with a message saying which limit is in the way.
/// Estimates: ~6 KiB per agent and ~3 KiB per task across the master and the simulators, and
/// one open file per connection plus slack.
pub fn check_capacity(agents: usize, tasks: usize, connections: usize) -> Result<(), String> {
    let need = agents as u64 * 6 * 1024 + tasks as u64 * 3 * 1024;
    let avail = mem_available();
    if need > avail / 10 * 9 {
        return Err(format!(
            "{agents} agents and {tasks} tasks need about {} MiB but only {} MiB is available; \
             choose a smaller size",
            need >> 20,
            avail >> 20
        ));
    }
    let files = raise_nofile();
    if connections as u64 + 256 > files {
        return Err(format!(
            "{connections} connections need more open files than the limit of {files} \
             (raise the hard limit with `ulimit -Hn`) or use fewer --agent-runtimes"
        ));
    }
    Ok(())
}

// ---- the child side ---------------------------------------------------------------------------

/// If this process was started as a simulator child, runs it and exits; else returns.
/// Call first thing in a scenario binary's `main`.
pub fn child_main_if_requested() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) != Some(CHILD_ARG) {
        return;
    }
    let code = match child(&args[2..]) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("simulator child: {e}");
            2
        }
    };
    std::process::exit(code);
}

fn kv(args: &[String]) -> Result<BTreeMap<&str, &str>, String> {
    args.iter()
        .map(|a| {
            a.split_once('=')
                .ok_or_else(|| format!("argument '{a}' is not key=value"))
        })
        .collect()
}

fn get<T: std::str::FromStr>(m: &BTreeMap<&str, &str>, k: &str) -> Result<T, String> {
    let v = m.get(k).ok_or_else(|| format!("missing {k}="))?;
    v.parse().map_err(|_| format!("{k}: '{v}' is not valid"))
}

fn child(args: &[String]) -> Result<(), String> {
    let kind = args.first().ok_or("missing the child kind")?.clone();
    let m = kv(&args[1..])?;
    raise_nofile();
    let threads: usize = get(&m, "threads").unwrap_or(2);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    // The parent going away (stdin closed) ends the child.
    std::thread::spawn(|| {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
        std::process::exit(0);
    });
    let stats = Arc::new(Stats::default());
    rt.block_on(async {
        match kind.as_str() {
            "agents" => host_agents(&m, stats.clone()).await?,
            "frameworks" => host_frameworks(&m, stats.clone()).await?,
            "master" => host_master(&m).await?,
            other => return Err(format!("unknown child kind '{other}'")),
        }
        let mut last = String::new();
        loop {
            let l = stats.line();
            if l != last {
                println!("{l}");
                last = l;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
}

async fn runtime() -> Result<Runtime, String> {
    Runtime::bind(libprocess::Config {
        ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        ..libprocess::Config::default()
    })
    .await
    .map_err(|e| format!("cannot bind a runtime: {e}"))
}

async fn host_agents(m: &BTreeMap<&str, &str>, stats: Arc<Stats>) -> Result<(), String> {
    let at = MasterAt::parse(m)?;
    let first: u64 = get(m, "first")?;
    let count: u64 = get(m, "count")?;
    let runtimes: usize = get::<usize>(m, "runtimes")?.max(1);
    let resources = Resources::parse(&get::<String>(m, "resources")?, "*")
        .map_err(|e| format!("resources: {e}"))?;
    let backoff = Duration::from_millis(get(m, "backoff_ms")?);
    let mut rts = Vec::with_capacity(runtimes);
    for _ in 0..runtimes {
        rts.push(runtime().await?);
    }
    let spawn_all = move |master: UPID, detected: bool| -> Result<Vec<PID<SimAgent>>, String> {
        let mut pids = Vec::with_capacity(count as usize);
        for i in 0..count {
            let seq = first + i;
            let mut a = SimAgent::new(
                master.clone(),
                seq,
                resources.clone(),
                backoff,
                stats.clone(),
            );
            if detected {
                a = a.detected();
            }
            let pid = rts[i as usize % runtimes]
                .spawn(&format!("slave({seq})"), a)
                .map_err(|e| e.to_string())?;
            pids.push(pid);
        }
        // The runtimes live as long as the process.
        std::mem::forget(rts);
        Ok(pids)
    };
    match at {
        MasterAt::Fixed(master) => {
            spawn_all(master, false)?;
        }
        MasterAt::ZooKeeper { url, session } => {
            // One session for the whole process: the agents start with the first leader and
            // are told of every later one.
            let url = mesos_detector::ZkUrl::parse(&url).map_err(|e| e.to_string())?;
            let mut spawn_all = Some(spawn_all);
            let mut agents: Vec<PID<SimAgent>> = Vec::new();
            mesos_detector::zk::follow_each(url, session, move |leader| {
                if let Some(l) = leader {
                    if let Some(spawn) = spawn_all.take() {
                        match spawn(l.upid, true) {
                            Ok(pids) => agents = pids,
                            Err(e) => {
                                eprintln!("simulator child: {e}");
                                std::process::exit(2);
                            }
                        }
                    } else {
                        for a in &agents {
                            let m = l.upid.clone();
                            a.dispatch_nowait(move |a: &mut SimAgent, c| a.new_master(c, m));
                        }
                    }
                }
                std::future::ready(true)
            });
        }
    }
    Ok(())
}

async fn host_master(m: &BTreeMap<&str, &str>) -> Result<(), String> {
    let port: u16 = get(m, "port")?;
    let flags = mesos_master::MasterFlags {
        zk: Some(get::<String>(m, "zk")?),
        zk_session_timeout: Duration::from_millis(get(m, "session_ms")?),
        registry: get(m, "registry")?,
        allocation_interval: Duration::from_millis(get(m, "allocation_ms")?),
        max_completed_tasks_per_framework: get(m, "max_completed_tasks")?,
        // Simulated agents answer pings, but a loaded 2-core machine may answer late.
        agent_ping_timeout: Duration::from_secs(60),
        // Simulated agents share a few runtimes: many register over one connection.
        max_agents_per_connection: 0,
        ..mesos_master::MasterFlags::default()
    };
    let rt = Runtime::bind(libprocess::Config {
        ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port,
        ..libprocess::Config::default()
    })
    .await
    .map_err(|e| format!("cannot bind the master's port {port}: {e}"))?;
    rt.spawn("master", mesos_master::Master::new(flags))
        .map_err(|e| e.to_string())?;
    std::mem::forget(rt);
    Ok(())
}

async fn host_frameworks(m: &BTreeMap<&str, &str>, stats: Arc<Stats>) -> Result<(), String> {
    let at = MasterAt::parse(m)?;
    let first: usize = get(m, "first")?;
    let count: usize = get(m, "count")?;
    let roles: usize = get::<usize>(m, "roles")?.max(1);
    let policy = match get::<String>(m, "policy")?.as_str() {
        "decline" => Policy::Decline,
        "launch" => Policy::Launch,
        other => return Err(format!("policy: '{other}' is not decline or launch")),
    };
    let plan = Plan {
        policy,
        tasks: get(m, "tasks")?,
        task: Resources::parse(&get::<String>(m, "task")?, "*")
            .map_err(|e| format!("task: {e}"))?,
        tasks_per_offer: get(m, "per_offer")?,
        finish_every: get(m, "finish_every")?,
        refuse_secs: get(m, "refuse_secs")?,
    };
    let rt = runtime().await?;
    for i in first..first + count {
        let f = SimFramework::new(format!("sim-framework-{i}"), plan.clone(), stats.clone());
        let info = f.info(&format!("role-{}", i % roles));
        match &at {
            MasterAt::Fixed(master) => {
                mesos_scheduler::start(&rt, master.clone(), info, f).map_err(|e| e.to_string())?;
            }
            MasterAt::ZooKeeper { url, session } => {
                let spec = mesos_detector::MasterSpec::parse(url).map_err(|e| e.to_string())?;
                mesos_scheduler::start_detected(&rt, &spec, *session, info, f)
                    .map_err(|e| e.to_string())?;
            }
        }
    }
    std::mem::forget(rt);
    Ok(())
}

// ---- the parent side --------------------------------------------------------------------------

struct ChildRec {
    child: tokio::process::Child,
    counts: Arc<Mutex<Counts>>,
    alive: Arc<AtomicBool>,
    what: String,
}

/// The simulator children of a scenario; dropping it ends them.
#[derive(Default)]
pub struct Sim {
    children: Vec<ChildRec>,
}

/// How to host simulated agents.
#[derive(Clone, Debug)]
pub struct AgentSpec {
    /// How many.
    pub agents: usize,
    /// OS processes hosting them.
    pub processes: usize,
    /// Runtimes (connections to the master) per process.
    pub runtimes: usize,
    /// Each agent's resources.
    pub resources: String,
    /// Registration backoff factor.
    pub backoff: Duration,
}

/// How to host simulated frameworks.
#[derive(Clone, Debug)]
pub struct FrameworkSpec {
    /// How many.
    pub frameworks: usize,
    /// OS processes hosting them.
    pub processes: usize,
    /// Roles they spread over (`role-0`, `role-1`, ...).
    pub roles: usize,
    /// Their policy.
    pub policy: Policy,
    /// Tasks per framework (launch).
    pub tasks: usize,
    /// Each task's resources.
    pub task: String,
    /// Tasks per offer at most.
    pub tasks_per_offer: usize,
    /// Every n-th task finishes at once (0: none).
    pub finish_every: usize,
    /// The refuse filter.
    pub refuse_secs: f64,
}

impl Sim {
    /// No children yet.
    pub fn new() -> Sim {
        Sim::default()
    }

    fn spawn(&mut self, what: String, args: Vec<String>) -> Result<(), String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut child = tokio::process::Command::new(exe)
            .arg(CHILD_ARG)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start a simulator process: {e}"))?;
        let out = child.stdout.take().ok_or("no stdout")?;
        let counts = Arc::new(Mutex::new(Counts::default()));
        let alive = Arc::new(AtomicBool::new(true));
        let (c, a) = (counts.clone(), alive.clone());
        tokio::spawn(async move {
            let mut lines = BufReader::new(out).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                if let Some(n) = Counts::parse(&l) {
                    *c.lock().unwrap_or_else(|e| e.into_inner()) = n;
                }
            }
            a.store(false, Ordering::Relaxed);
        });
        self.children.push(ChildRec {
            child,
            counts,
            alive,
            what,
        });
        Ok(())
    }

    /// Starts `spec.processes` processes hosting `spec.agents` agents in all.
    pub fn spawn_agents(&mut self, master: &MasterAt, spec: &AgentSpec) -> Result<(), String> {
        let p = spec.processes.clamp(1, spec.agents.max(1));
        let mut first = 0;
        for i in 0..p {
            let count = spec.agents / p + usize::from(i < spec.agents % p);
            self.spawn(
                format!("agent host {i}"),
                [
                    vec!["agents".into()],
                    master.args(),
                    vec![
                        format!("first={first}"),
                        format!("count={count}"),
                        format!("runtimes={}", spec.runtimes.max(1)),
                        format!("resources={}", spec.resources),
                        format!("backoff_ms={}", spec.backoff.as_millis()),
                        "threads=1".into(),
                    ],
                ]
                .concat(),
            )?;
            first += count;
        }
        Ok(())
    }

    /// Starts `spec.processes` processes hosting `spec.frameworks` frameworks in all.
    pub fn spawn_frameworks(
        &mut self,
        master: &MasterAt,
        spec: &FrameworkSpec,
    ) -> Result<(), String> {
        let p = spec.processes.clamp(1, spec.frameworks.max(1));
        let mut first = 0;
        for i in 0..p {
            let count = spec.frameworks / p + usize::from(i < spec.frameworks % p);
            let policy = match spec.policy {
                Policy::Decline => "decline",
                Policy::Launch => "launch",
            };
            self.spawn(
                format!("framework host {i}"),
                [
                    vec!["frameworks".into()],
                    master.args(),
                    vec![
                        format!("first={first}"),
                        format!("count={count}"),
                        format!("roles={}", spec.roles),
                        format!("policy={policy}"),
                        format!("tasks={}", spec.tasks),
                        format!("task={}", spec.task),
                        format!("per_offer={}", spec.tasks_per_offer),
                        format!("finish_every={}", spec.finish_every),
                        format!("refuse_secs={}", spec.refuse_secs),
                        "threads=1".into(),
                    ],
                ]
                .concat(),
            )?;
            first += count;
        }
        Ok(())
    }

    /// Starts a child process hosting one master.
    pub fn spawn_master(&mut self, spec: &MasterSpec) -> Result<(), String> {
        self.spawn(
            format!("master on port {}", spec.port),
            vec![
                "master".into(),
                format!("port={}", spec.port),
                format!("zk={}", spec.zk),
                format!("session_ms={}", spec.session.as_millis()),
                format!("registry={}", spec.registry),
                format!("allocation_ms={}", spec.allocation_interval.as_millis()),
                format!("max_completed_tasks={}", spec.max_completed_tasks),
                "threads=2".into(),
            ],
        )
    }

    /// Kills child `i` (in the order started) with SIGKILL, as a machine dies; the others are
    /// not checked for it any more.
    pub async fn kill(&mut self, i: usize) -> Result<(), String> {
        let c = self
            .children
            .get_mut(i)
            .ok_or_else(|| format!("no simulator child {i}"))?;
        c.child.start_kill().map_err(|e| e.to_string())?;
        let _ = c.child.wait().await;
        c.what.push_str(" (killed)");
        Ok(())
    }

    /// The children's counters, summed.
    pub fn totals(&self) -> Counts {
        let mut t = Counts::default();
        for c in &self.children {
            t.add(&c.counts.lock().unwrap_or_else(|e| e.into_inner()));
        }
        t
    }

    /// An error naming a child that has exited, if any has.
    pub fn check_alive(&self) -> Result<(), String> {
        match self
            .children
            .iter()
            .find(|c| !c.alive.load(Ordering::Relaxed) && !c.what.ends_with("(killed)"))
        {
            Some(c) => Err(format!("the simulator's {} exited", c.what)),
            None => Ok(()),
        }
    }

    /// Ends every child.
    pub async fn stop(&mut self) {
        for mut c in self.children.drain(..) {
            let _ = c.child.start_kill();
            let _ = c.child.wait().await;
        }
    }
}

/// Polls `probe` every 10 ms until `done` holds for its value, showing `progress(value)` on a
/// progress bar of `total` (on a terminal). Fails after `timeout` or if a child exits.
pub async fn wait_for<T, P, F, D>(
    sim: &Sim,
    label: &str,
    total: u64,
    timeout: Duration,
    mut probe: P,
    done: D,
) -> Result<(T, Duration), String>
where
    P: FnMut() -> F,
    F: std::future::Future<Output = (T, u64)>,
    D: Fn(&T) -> bool,
{
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg:>24} [{elapsed_precise}] {wide_bar} {pos}/{len}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(label.to_string());
    let t0 = Instant::now();
    loop {
        let (v, pos) = probe().await;
        bar.set_position(pos.min(total));
        if done(&v) {
            bar.finish_and_clear();
            return Ok((v, t0.elapsed()));
        }
        if let Err(e) = sim.check_alive() {
            bar.abandon();
            return Err(e);
        }
        if t0.elapsed() > timeout {
            bar.abandon();
            return Err(format!(
                "{label}: not done after {:.0} s ({pos} of {total})",
                timeout.as_secs_f64()
            ));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_lines_parse_back() {
        let s = Stats::default();
        s.registered.store(3, Ordering::Relaxed);
        s.offers.store(12345, Ordering::Relaxed);
        s.failed.store(1, Ordering::Relaxed);
        let c = Counts::parse(&s.line()).expect("parses");
        assert_eq!(c.registered, 3);
        assert_eq!(c.offers, 12345);
        assert_eq!(c.failed, 1);
        assert_eq!(Counts::parse("garbage"), None);
        assert_eq!(Counts::parse("stats offers=x"), None);
    }
}
