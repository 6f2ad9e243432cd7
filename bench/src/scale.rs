//! The scale scenarios, shared by the `scale` and `report` binaries. Each runs the real master
//! (with its allocator actor) in this process and the simulated agents and frameworks in child
//! processes ([`crate::sim`]), and prints Mesos's published figure beside ours.
//!
//! ```text
//! scale <offer-storm|launch-storm|failover|state|memory> [--quick] [--json] [--agents=N] ...
//! ```
//! The flags are [`ScaleFlags`] (`scale <scenario> --help` lists them).

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use libprocess::flags::FlagsError;
use libprocess::{Runtime, PID};
use mesos_master::{Master, MasterFlags};
use serde_json::{json, Value};

use crate::sim::framework::Policy;
use crate::sim::{self, AgentSpec, FrameworkSpec, MasterAt, Sim};

/// Mesos's agent in its allocator benchmarks.
pub const AGENT_RESOURCES: &str = "cpus:24;mem:4096;disk:4096;ports:[31000-32000]";

/// A scenario's settings (each scenario reads the ones it needs).
#[derive(Clone, Debug)]
pub struct Opts {
    /// Small sizes, under a minute in all.
    pub quick: bool,
    /// Print one JSON object last.
    pub json: bool,
    /// Simulated agents.
    pub agents: usize,
    /// Framework counts (the offer storm runs each).
    pub frameworks: Vec<usize>,
    /// Tasks in all (launch storm, failover, memory); running tasks (state).
    pub tasks: usize,
    /// Completed tasks (state).
    pub completed: usize,
    /// OS processes hosting agents.
    pub agent_processes: usize,
    /// Runtimes (master connections) per agent process.
    pub agent_runtimes: usize,
    /// OS processes hosting frameworks.
    pub framework_processes: usize,
    /// The master's `--allocation_interval`.
    pub allocation_interval: Duration,
    /// How long the offer storm is measured.
    pub window: Duration,
    /// Tasks a framework puts on one offer at most.
    pub tasks_per_offer: usize,
    /// Agents' registration backoff factor.
    pub backoff: Duration,
    /// Failover: three masters contending through a real ZooKeeper, the registry in it.
    pub ha: bool,
    /// Failover with `ha`: the masters', agents' and frameworks' ZooKeeper session timeout.
    pub zk_session_timeout: Duration,
}

impl Opts {
    fn defaults(scenario: &str) -> Opts {
        let mut o = Opts {
            quick: false,
            json: false,
            agents: 30_000,
            frameworks: vec![100, 1_000],
            tasks: 50_000,
            completed: 0,
            agent_processes: 2,
            agent_runtimes: 4,
            framework_processes: 1,
            allocation_interval: Duration::from_millis(100),
            window: Duration::from_secs(5),
            tasks_per_offer: 1,
            backoff: Duration::from_secs(1),
            ha: false,
            zk_session_timeout: Duration::from_secs(10),
        };
        match scenario {
            "launch-storm" => o.frameworks = vec![10],
            "failover" | "memory" => {
                o.agents = 40_000;
                o.tasks = 400_000;
                o.frameworks = vec![5];
                o.tasks_per_offer = 10;
            }
            "state" => {
                o.agents = 20_000;
                o.tasks = 200_000;
                o.completed = 200_000;
                o.frameworks = vec![10];
                o.tasks_per_offer = 20;
            }
            "webui" => {
                o.agents = 10_000;
                o.tasks = 50_000;
                o.completed = 50_000;
                o.frameworks = vec![10];
                o.tasks_per_offer = 20;
            }
            _ => {}
        }
        o
    }

    fn quick(&mut self, scenario: &str) {
        self.quick = true;
        self.window = Duration::from_secs(2);
        match scenario {
            "offer-storm" => {
                self.agents = self.agents.min(2_000);
                self.frameworks = vec![10, 50];
            }
            "launch-storm" => {
                self.agents = self.agents.min(2_000);
                self.tasks = self.tasks.min(5_000);
                self.frameworks = vec![5];
            }
            "failover" | "memory" => {
                self.agents = self.agents.min(2_000);
                self.tasks = self.tasks.min(20_000);
            }
            "state" => {
                self.agents = self.agents.min(1_000);
                self.tasks = self.tasks.min(10_000);
                self.completed = self.completed.min(10_000);
            }
            "webui" => {
                self.agents = self.agents.min(500);
                self.tasks = self.tasks.min(2_500);
                self.completed = self.completed.min(2_500);
            }
            _ => {}
        }
    }
}

/// The scenarios' names.
pub const SCENARIOS: &[&str] = &[
    "offer-storm",
    "launch-storm",
    "failover",
    "state",
    "memory",
    "webui",
];

/// `Usage: {PROGRAM} [options]` in `--help`.
const PROGRAM: &str = "scale <offer-storm|launch-storm|failover|state|memory|webui>";

libprocess::flags! {
    /// `scale`'s flags (after the scenario). A size not given takes the scenario's default, or
    /// its `--quick` size; one given wins over both.
    #[derive(Clone, Debug)]
    pub struct ScaleFlags {
        /// Small sizes, under a minute in all
        pub quick: bool = "false";
        /// Print one JSON object last
        pub json: bool = "false";
        /// Simulated agents (default: the scenario's)
        pub agents: Option<usize>;
        /// Framework counts, N[,N...]; the offer storm runs each (default: the scenario's)
        pub frameworks: Option<Vec<usize>>;
        /// Tasks in all (launch storm, failover, memory); running tasks (state)
        pub tasks: Option<usize>;
        /// Completed tasks (state)
        pub completed: Option<usize>;
        /// OS processes hosting agents (default: 2)
        pub agent_processes: Option<usize>;
        /// Runtimes (master connections) per agent process (default: 4)
        pub agent_runtimes: Option<usize>;
        /// OS processes hosting frameworks (default: 1)
        pub framework_processes: Option<usize>;
        /// The master's allocation interval in ms (default: 100)
        pub allocation_interval_ms: Option<u64>;
        /// How long the offer storm is measured, in seconds (default: 5; 2 with --quick)
        pub window_secs: Option<u64>;
        /// Tasks a framework puts on one offer at most (default: the scenario's)
        pub tasks_per_offer: Option<usize>;
        /// Agents' registration backoff factor in ms (default: 1000)
        pub backoff_ms: Option<u64>;
        /// Failover only: three masters (child processes) contend through a real ZooKeeper (Debian's zookeeper package) with the registry in it; agents and frameworks find the leader there; the leader is SIGKILLed
        pub ha: bool = "false";
        /// With --ha: the ZooKeeper session timeout of masters, agents and frameworks, in seconds (default: 10, Mesos's)
        pub zk_session_timeout_secs: Option<u64>;
    }
}

/// Parses a scenario's command line (after the binary's name): the scenario, then flags in
/// stout's form (`--agents=N`; `-` and `_` in names are the same). Not read from `MESOS_*`.
pub fn parse(args: &[String]) -> Result<(String, Opts), FlagsError> {
    let usage = || libprocess::flags::usage(PROGRAM, ScaleFlags::FLAGS);
    let scenario = match args.first().map(String::as_str) {
        None => {
            return Err(FlagsError::Bad(format!(
                "missing the scenario ({})",
                SCENARIOS.join(", ")
            )))
        }
        Some("--help" | "-h") => return Err(FlagsError::Help(usage())),
        Some(s) => s.to_string(),
    };
    if !SCENARIOS.contains(&scenario.as_str()) {
        return Err(FlagsError::Bad(format!(
            "unknown scenario '{scenario}' ({})",
            SCENARIOS.join(", ")
        )));
    }
    let loaded = libprocess::flags::load(PROGRAM, ScaleFlags::FLAGS, args[1..].to_vec(), |_| None)?;
    let f = ScaleFlags::from_flags(&loaded).map_err(FlagsError::Bad)?;
    let mut o = Opts::defaults(&scenario);
    // Flags given explicitly win over --quick's sizes, so apply --quick first.
    if f.quick {
        o.quick(&scenario);
    }
    o.json = f.json;
    o.agents = f.agents.unwrap_or(o.agents);
    o.frameworks = f.frameworks.unwrap_or(o.frameworks);
    o.tasks = f.tasks.unwrap_or(o.tasks);
    o.completed = f.completed.unwrap_or(o.completed);
    o.agent_processes = f.agent_processes.unwrap_or(o.agent_processes);
    o.agent_runtimes = f.agent_runtimes.unwrap_or(o.agent_runtimes);
    o.framework_processes = f.framework_processes.unwrap_or(o.framework_processes);
    if let Some(ms) = f.allocation_interval_ms {
        o.allocation_interval = Duration::from_millis(ms);
    }
    if let Some(s) = f.window_secs {
        o.window = Duration::from_secs(s);
    }
    o.tasks_per_offer = f.tasks_per_offer.unwrap_or(o.tasks_per_offer);
    if let Some(ms) = f.backoff_ms {
        o.backoff = Duration::from_millis(ms);
    }
    o.ha = f.ha;
    if let Some(secs) = f.zk_session_timeout_secs {
        o.zk_session_timeout = Duration::from_secs(secs);
    }
    let bad = |m: &str| Err(FlagsError::Bad(m.to_string()));
    if o.ha && scenario != "failover" {
        return bad("--ha applies to the failover scenario only");
    }
    if f.zk_session_timeout_secs.is_some() && !o.ha {
        return bad("--zk-session-timeout-secs needs --ha");
    }
    if o.zk_session_timeout.is_zero() {
        return bad("--zk-session-timeout-secs must be positive");
    }
    if o.agents == 0 || o.frameworks.is_empty() || o.frameworks.contains(&0) {
        return bad("--agents and --frameworks must be at least 1");
    }
    if o.allocation_interval.is_zero() {
        return bad("--allocation-interval-ms must be positive");
    }
    if o.agent_processes == 0 || o.agent_runtimes == 0 || o.framework_processes == 0 {
        return bad("process and runtime counts must be at least 1");
    }
    Ok((scenario, o))
}

/// The master under test, in this process.
pub struct Host {
    rt: Runtime,
    /// The master.
    pub master: PID<Master>,
    port: u16,
    flags: MasterFlags,
}

impl Host {
    /// Binds a runtime (on `port`, 0 for any) and spawns a master with `flags` on it.
    pub async fn start(flags: MasterFlags, port: u16) -> Result<Host, String> {
        let t0 = Instant::now();
        let rt = loop {
            let cfg = libprocess::Config {
                ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
                port,
                ..libprocess::Config::default()
            };
            match Runtime::bind(cfg).await {
                Ok(rt) => break rt,
                // The old master's listener may take a moment to close.
                Err(_) if t0.elapsed() < Duration::from_secs(10) => {
                    tokio::time::sleep(Duration::from_millis(5)).await
                }
                Err(e) => return Err(format!("cannot bind the master's port {port}: {e}")),
            }
        };
        let port = rt.address().port();
        let master = rt
            .spawn("master", Master::new(flags.clone()))
            .map_err(|e| e.to_string())?;
        Ok(Host {
            rt,
            master,
            port,
            flags,
        })
    }

    /// Where simulated agents and frameworks find this master.
    pub fn at(&self) -> MasterAt {
        MasterAt::Fixed(self.master.upid().clone())
    }

    /// The master's address, `127.0.0.1:port`.
    pub fn addr(&self) -> String {
        self.rt.address().to_string()
    }

    /// Stops this master (every connection to it breaks) and starts a new, empty one on the
    /// same port, as a failover to a new leader with no state but the agents' reports.
    pub async fn restart(self) -> Result<Host, String> {
        let (flags, port) = (self.flags.clone(), self.port);
        self.rt.shutdown().await;
        drop(self.master);
        drop(self.rt);
        Host::start(flags, port).await
    }

    /// Stops the master.
    pub async fn stop(self) {
        self.rt.shutdown().await;
    }

    async fn ask<R: Send + Default + 'static>(
        &self,
        f: impl FnOnce(&Master) -> R + Send + 'static,
    ) -> R {
        self.master
            .dispatch(move |m: &mut Master, _| f(m))
            .await
            .unwrap_or_default()
    }
}

fn master_flags(o: &Opts) -> MasterFlags {
    MasterFlags {
        allocation_interval: o.allocation_interval,
        max_completed_tasks_per_framework: o.completed.max(1000),
        // Simulated agents answer pings, but a loaded 2-core machine may answer late.
        agent_ping_timeout: Duration::from_secs(60),
        // Simulated agents share a few runtimes: many register over one connection.
        max_agents_per_connection: 0,
        ..MasterFlags::default()
    }
}

fn agent_spec(o: &Opts) -> AgentSpec {
    AgentSpec {
        agents: o.agents,
        processes: o.agent_processes,
        runtimes: o.agent_runtimes,
        resources: AGENT_RESOURCES.into(),
        backoff: o.backoff,
    }
}

fn connections(o: &Opts) -> usize {
    o.agent_processes * o.agent_runtimes + o.framework_processes
}

/// Starts the master and the agents and waits until every agent is registered.
async fn admit(o: &Opts, tasks: usize) -> Result<(Host, Sim, f64, u64), String> {
    sim::check_capacity(o.agents, tasks, connections(o))?;
    let host = Host::start(master_flags(o), 0).await?;
    let rss0 = sim::rss_bytes();
    let mut s = Sim::new();
    s.spawn_agents(&host.at(), &agent_spec(o))?;
    let n = o.agents;
    let (_, took) = sim::wait_for(
        &s,
        "agents registering",
        n as u64,
        Duration::from_secs(120 + n as u64 / 100),
        || {
            let c = s.totals().registered;
            let h = &host;
            async move {
                let m = h.ask(|m| m.agent_count()).await;
                ((m, c), m as u64)
            }
        },
        |&(m, c)| m == n && c == n as u64,
    )
    .await?;
    Ok((host, s, took.as_secs_f64(), rss0))
}

fn spawn_launchers(
    o: &Opts,
    s: &mut Sim,
    at: &MasterAt,
    frameworks: usize,
    tasks: usize,
    finish_every: usize,
) -> Result<(), String> {
    s.spawn_frameworks(
        at,
        &FrameworkSpec {
            frameworks,
            processes: o.framework_processes,
            roles: frameworks,
            policy: Policy::Launch,
            tasks: tasks.div_ceil(frameworks),
            task: "cpus:0.1;mem:32".into(),
            tasks_per_offer: o.tasks_per_offer,
            finish_every,
            refuse_secs: 5.0,
        },
    )
}

/// Launches `total` tasks from `frameworks` frameworks and waits until all are RUNNING; the
/// seconds from starting the frameworks. Fails if any task ends otherwise.
async fn launch_all(
    o: &Opts,
    s: &mut Sim,
    at: &MasterAt,
    frameworks: usize,
    total: usize,
) -> Result<f64, String> {
    let t0 = Instant::now();
    spawn_launchers(o, s, at, frameworks, total, 0)?;
    let s = &*s;
    let (c, _) = sim::wait_for(
        s,
        "tasks starting",
        total as u64,
        Duration::from_secs(600),
        || {
            let c = s.totals();
            async move { (c, c.running) }
        },
        |c| c.running >= total as u64 || c.failed > 0,
    )
    .await?;
    if c.failed > 0 {
        return Err(format!("{} tasks failed while launching", c.failed));
    }
    Ok(t0.elapsed().as_secs_f64())
}

// ---- offer storm ------------------------------------------------------------------------------

async fn offer_storm_one(o: &Opts, frameworks: usize) -> Result<Value, String> {
    let (host, mut s, admit_s, _) = admit(o, 0).await?;
    s.spawn_frameworks(
        &host.at(),
        &FrameworkSpec {
            frameworks,
            processes: o.framework_processes,
            roles: frameworks,
            policy: Policy::Decline,
            tasks: 0,
            task: "cpus:1".into(),
            tasks_per_offer: 0,
            finish_every: 0,
            refuse_secs: 365.0 * 86400.0,
        },
    )?;
    sim::wait_for(
        &s,
        "frameworks subscribing",
        frameworks as u64,
        Duration::from_secs(120),
        || {
            let c = s.totals().subscribed;
            let h = &host;
            async move {
                let m = h.ask(|m| m.connected_framework_count()).await;
                (m, c.min(m as u64))
            }
        },
        |&m| m == frameworks,
    )
    .await?;
    let runs = host.ask(|m| m.allocation_runs()).await;
    let seq0 = runs.since(0).last().map_or(0, |r| r.seq);
    let offers0 = s.totals().offers;
    let cpu0 = sim::cpu_seconds();
    let t0 = Instant::now();
    // Measure over the window, or until offers stop (every agent filtered for everyone).
    let (mut last, mut last_t) = (offers0, t0);
    let bar = indicatif::ProgressBar::new(o.window.as_millis() as u64);
    while t0.elapsed() < o.window {
        tokio::time::sleep(Duration::from_millis(20)).await;
        s.check_alive()?;
        let now = s.totals().offers;
        if now != last {
            (last, last_t) = (now, Instant::now());
        } else if last > offers0
            && last_t.elapsed() > (o.allocation_interval * 10).max(Duration::from_secs(2))
        {
            break;
        }
        bar.set_position(t0.elapsed().as_millis() as u64);
    }
    bar.finish_and_clear();
    let cpu = sim::cpu_seconds() - cpu0;
    let secs = last_t.duration_since(t0).as_secs_f64().max(1e-3);
    let offers = last - offers0;
    let window_runs = runs.since(seq0);
    let mut full: Vec<f64> = window_runs
        .iter()
        .filter(|r| r.all_agents)
        .map(|r| r.ms)
        .collect();
    let mut all: Vec<f64> = window_runs.iter().map(|r| r.ms).collect();
    let cycle = mesos_allocator::quantile(&mut full, 0.5);
    let cycle_max = mesos_allocator::quantile(&mut full, 1.0);
    let total_runs = all.len();
    let any_p50 = mesos_allocator::quantile(&mut all, 0.5);
    s.stop().await;
    host.stop().await;
    Ok(json!({
        "agents": o.agents,
        "frameworks": frameworks,
        "admit_s": admit_s,
        "offers": offers,
        "measured_s": secs,
        "offers_per_s": offers as f64 / secs,
        "alloc_cycle_ms": cycle,
        "alloc_cycle_max_ms": cycle_max,
        "alloc_full_runs": full.len(),
        "alloc_runs": total_runs,
        "alloc_any_run_p50_ms": any_p50,
        // Over the whole window (a quiet tail after the last offer counts too): an upper bound.
        "master_cpu_us_per_offer": cpu * 1e6 / offers.max(1) as f64,
    }))
}

async fn offer_storm(o: &Opts) -> Result<Value, String> {
    let mut rows = Vec::new();
    for &f in &o.frameworks {
        rows.push(offer_storm_one(o, f).await?);
    }
    println!(
        "offer storm, {} agents ({} agent processes x {} runtimes), allocation interval {} ms",
        o.agents,
        o.agent_processes,
        o.agent_runtimes,
        o.allocation_interval.as_millis()
    );
    println!(
        "{:>11} | {:>12} | {:>15} | {:>15} | Mesos",
        "frameworks", "offers/s", "cycle p50 (ms)", "cycle max (ms)"
    );
    for r in &rows {
        println!(
            "{:>11} | {:>12.0} | {:>15.1} | {:>15.1} | cycle 1.06 s at 10k x 1k, ~3.8 s at 20k x 2k",
            r["frameworks"], f(&r["offers_per_s"]), f(&r["alloc_cycle_ms"]), f(&r["alloc_cycle_max_ms"])
        );
    }
    let first = rows.first().cloned().unwrap_or(Value::Null);
    Ok(json!({
        "scenario": "offer-storm",
        "agents": o.agents,
        "offers_per_s": first["offers_per_s"],
        "alloc_cycle_ms": first["alloc_cycle_ms"],
        "master_cpu_us_per_offer": first["master_cpu_us_per_offer"],
        "runs": rows,
        "mesos_alloc_cycle_ms_10k_x_1k": 1060.0,
    }))
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

// ---- launch storm -----------------------------------------------------------------------------

async fn launch_storm(o: &Opts) -> Result<Value, String> {
    let (host, mut s, admit_s, _) = admit(o, o.tasks).await?;
    let frameworks = o.frameworks[0];
    let total = o.tasks.div_ceil(frameworks) * frameworks;
    let cpu0 = sim::cpu_seconds();
    let launch_s = launch_all(o, &mut s, &host.at(), frameworks, total).await?;
    let cpu1 = sim::cpu_seconds();
    let (active, _) = host.ask(|m| m.task_counts()).await;
    let offers = s.totals().offers;
    // A second wave of as many tasks on the same cluster, each finishing right after RUNNING:
    // its extra cost per task over the first wave is one more status update (FINISHED, its
    // acknowledgement, the task moved to the completed list).
    spawn_launchers(o, &mut s, &host.at(), frameworks, total, 1)?;
    sim::wait_for(
        &s,
        "second wave finishing",
        total as u64,
        Duration::from_secs(600),
        || {
            let c = s.totals();
            async move { (c, c.finished) }
        },
        |c| c.finished >= total as u64 || c.failed > 0,
    )
    .await?;
    let cpu2 = sim::cpu_seconds();
    s.stop().await;
    host.stop().await;
    let per_launch = (cpu1 - cpu0) / total as f64;
    let per_update = ((cpu2 - cpu1) / total as f64 - per_launch).max(0.0);
    println!(
        "launch storm: {total} tasks from {frameworks} frameworks on {} agents RUNNING in {launch_s:.2} s \
         ({:.0} tasks/s)   [Verizon: 50k in 100 s; Nomad: ~3,750/s]",
        o.agents,
        total as f64 / launch_s
    );
    println!(
        "master CPU: {:.3} s per 1,000 launches (each with its RUNNING update), {:.3} s per 1,000 status updates more",
        per_launch * 1000.0,
        per_update * 1000.0
    );
    Ok(json!({
        "scenario": "launch-storm",
        "agents": o.agents,
        "frameworks": frameworks,
        "tasks": total,
        "admit_s": admit_s,
        "launch_s": launch_s,
        "tasks_per_s": total as f64 / launch_s,
        "master_active_tasks": active,
        "offers_first_wave": offers,
        // Master CPU seconds per 1,000: task launches (offer, accept, launch and the RUNNING
        // update with its acknowledgement, as an operator's framework drives them), and one
        // status update more (from the second wave).
        "master_cpu_s_per_1000_launches": per_launch * 1000.0,
        "master_cpu_s_per_1000_status_updates": per_update * 1000.0,
        "verizon_tasks_per_s": 500.0,
        "nomad_tasks_per_s": 3750.0,
    }))
}

// ---- failover and memory ----------------------------------------------------------------------

/// Agents registered, then `tasks` launched and RUNNING: returns the master's RSS figures.
async fn populate(o: &Opts) -> Result<(Host, Sim, Value), String> {
    let (host, mut s, admit_s, rss0) = admit(o, o.tasks).await?;
    let rss_agents = sim::rss_bytes();
    let heap_agents = sim::heap_in_use_bytes();
    let frameworks = o.frameworks[0];
    let total = o.tasks.div_ceil(frameworks) * frameworks;
    let launch_s = launch_all(o, &mut s, &host.at(), frameworks, total).await?;
    // Let the acknowledgements settle before reading the memory.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss = sim::rss_bytes();
    let heap = sim::heap_in_use_bytes();
    let per_agent = rss_agents.saturating_sub(rss0) as f64 / o.agents as f64;
    let per_task = rss.saturating_sub(rss_agents) as f64 / total as f64;
    Ok((
        host,
        s,
        json!({
            "agents": o.agents,
            "frameworks": frameworks,
            "tasks": total,
            "admit_s": admit_s,
            "launch_s": launch_s,
            "rss_bytes": rss,
            "rss_bytes_per_agent": per_agent,
            "rss_bytes_per_task": per_task,
            "heap_bytes": heap,
            "heap_bytes_per_task": heap.saturating_sub(heap_agents) as f64 / total as f64,
        }),
    ))
}

async fn memory(o: &Opts) -> Result<Value, String> {
    let (host, mut s, mut v) = populate(o).await?;
    s.stop().await;
    host.stop().await;
    v["scenario"] = json!("memory");
    println!(
        "master memory, {} agents, {} tasks: RSS {:.0} MiB; {:.0} B per agent, {:.0} B per task \
         (heap in use {:.0} B per task)   [target: at most 4 GiB at 40k agents / 400k tasks]",
        o.agents,
        v["tasks"],
        f(&v["rss_bytes"]) / 1048576.0,
        f(&v["rss_bytes_per_agent"]),
        f(&v["rss_bytes_per_task"]),
        f(&v["heap_bytes_per_task"])
    );
    Ok(v)
}

async fn failover(o: &Opts) -> Result<Value, String> {
    let (host, mut s, mut v) = populate(o).await?;
    let frameworks = o.frameworks[0];
    let total = v["tasks"].as_u64().unwrap_or(0) as usize;
    let t0 = Instant::now();
    let host = host.restart().await?;
    let agents = o.agents;
    sim::wait_for(
        &s,
        "agents reregistering",
        agents as u64,
        Duration::from_secs(300),
        || {
            let h = &host;
            async move {
                let v = h
                    .ask(|m| {
                        (
                            m.agent_count(),
                            m.connected_framework_count(),
                            m.task_counts().0,
                        )
                    })
                    .await;
                (v, v.0 as u64)
            }
        },
        |&(a, f, t)| a == agents && f == frameworks && t >= total,
    )
    .await?;
    let failover_s = t0.elapsed().as_secs_f64();
    s.stop().await;
    host.stop().await;
    println!(
        "master failover: {agents} agents with {total} tasks and {frameworks} frameworks back in \
         {failover_s:.2} s   [Mesos 1.5: ~19 s at 40k agents / 400k tasks]"
    );
    println!(
        "master memory before the failover: RSS {:.0} MiB; {:.0} B per agent, {:.0} B per task",
        f(&v["rss_bytes"]) / 1048576.0,
        f(&v["rss_bytes_per_agent"]),
        f(&v["rss_bytes_per_task"])
    );
    v["scenario"] = json!("failover");
    v["failover_s"] = json!(failover_s);
    v["mesos_failover_s"] = json!(19.0);
    Ok(v)
}

// ---- failover with ZooKeeper -------------------------------------------------------------------

/// `/metrics/snapshot` of the master on `port` (None when it does not answer in a second).
async fn metrics_of(port: u16) -> Option<Value> {
    let addr = format!("127.0.0.1:{port}");
    let r = tokio::time::timeout(
        Duration::from_secs(1),
        mesos_agent::httpc::request(&addr, "GET", "/metrics/snapshot", &[], b""),
    )
    .await
    .ok()?
    .ok()?;
    (r.head.status == 200)
        .then(|| serde_json::from_slice(&r.body).ok())
        .flatten()
}

/// The index of the master (among `ports`, None for killed ones) that says it is elected.
async fn elected_of(ports: &[Option<u16>]) -> Option<usize> {
    for (i, p) in ports.iter().enumerate() {
        if let Some(p) = p {
            if metrics_of(*p)
                .await
                .is_some_and(|m| m["master/elected"] == 1)
            {
                return Some(i);
            }
        }
    }
    None
}

/// Waits (up to `limit`) for one of `ports` to lead.
async fn await_leader(
    masters: &Sim,
    ports: &[Option<u16>],
    limit: Duration,
) -> Result<usize, String> {
    let t0 = Instant::now();
    loop {
        if let Some(i) = elected_of(ports).await {
            return Ok(i);
        }
        masters.check_alive()?;
        if t0.elapsed() > limit {
            return Err(format!("no master elected within {limit:?}"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A metric as a count (0 when absent).
fn count(m: &Value, name: &str) -> usize {
    m[name].as_f64().unwrap_or(0.0) as usize
}

/// Three masters (child processes) contend through a real ZooKeeper with the registry in it;
/// agents (one ZooKeeper session per agent process) and frameworks find the leader there. The
/// agents register through the durable registry (`registry_admit_s`), tasks are launched, then
/// the leader is SIGKILLed: `election_s` runs to a new leader elected (its ZooKeeper session
/// must expire first), `failover_s` to every agent reregistered and every framework
/// resubscribed with every task, and `registry_recover_ms` is the new leader's registry read.
async fn failover_ha(o: &Opts) -> Result<Value, String> {
    if !std::path::Path::new(testkit::ZOOKEEPER_JAR).exists() {
        return Err(format!(
            "--ha needs ZooKeeper: {} is missing (apt-get install zookeeper)",
            testkit::ZOOKEEPER_JAR
        ));
    }
    sim::check_capacity(o.agents, o.tasks, connections(o) + 3)?;
    let zk = testkit::ZooKeeper::start();
    let url = zk.url("/mesos");
    let session = o.zk_session_timeout;
    let mut masters = Sim::new();
    let mut ports: Vec<Option<u16>> = Vec::new();
    for _ in 0..3 {
        let port = testkit::free_port();
        masters.spawn_master(&sim::MasterSpec {
            port,
            zk: url.clone(),
            session,
            registry: "replicated_log".into(),
            allocation_interval: o.allocation_interval,
            max_completed_tasks: o.completed.max(1000),
        })?;
        ports.push(Some(port));
    }
    let leader = await_leader(&masters, &ports, Duration::from_secs(60)).await?;
    let lp = ports[leader].unwrap_or_default();
    let at = MasterAt::ZooKeeper {
        url: url.clone(),
        session,
    };

    // Admission through the registry in ZooKeeper.
    let mut s = Sim::new();
    let t0 = Instant::now();
    s.spawn_agents(&at, &agent_spec(o))?;
    let n = o.agents;
    sim::wait_for(
        &s,
        "agents registering",
        n as u64,
        Duration::from_secs(120 + n as u64 / 100),
        || async {
            let m = metrics_of(lp).await.unwrap_or_default();
            let a = count(&m, "master/slaves_active");
            (a, a as u64)
        },
        |&a| a == n,
    )
    .await?;
    let admit_s = t0.elapsed().as_secs_f64();
    let stored = metrics_of(lp).await.unwrap_or_default();

    let frameworks = o.frameworks[0];
    let total = o.tasks.div_ceil(frameworks) * frameworks;
    let launch_s = launch_all(o, &mut s, &at, frameworks, total).await?;
    // Let the acknowledgements settle.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let killed = Instant::now();
    masters.kill(leader).await?;
    ports[leader] = None;
    let next = await_leader(&masters, &ports, session * 3 + Duration::from_secs(30)).await?;
    let election_s = killed.elapsed().as_secs_f64();
    let np = ports[next].unwrap_or_default();
    let (m, _) = sim::wait_for(
        &s,
        "agents reregistering",
        n as u64,
        Duration::from_secs(300),
        || async {
            let m = metrics_of(np).await.unwrap_or_default();
            let a = count(&m, "master/slaves_active") as u64;
            (m, a)
        },
        |m| {
            count(m, "master/slaves_active") == n
                && count(m, "master/frameworks_connected") == frameworks
                && count(m, "master/tasks_running") >= total
        },
    )
    .await?;
    let failover_s = killed.elapsed().as_secs_f64();
    let recover_ms = m["registrar/state_fetch_ms"].as_f64().unwrap_or(0.0);
    let registry_bytes = m["registrar/registry_size_bytes"].as_f64().unwrap_or(0.0);
    s.stop().await;
    masters.stop().await;
    drop(zk);
    let secs = session.as_secs_f64();
    println!(
        "registry admission: {n} agents registered through the registry in ZooKeeper in \
         {admit_s:.2} s ({} stores, p50 {:.0} ms, max {:.0} ms)   [target: at most 5 s at 40k]",
        count(&stored, "registrar/state_stores"),
        stored["registrar/state_store_ms/p50"]
            .as_f64()
            .unwrap_or(0.0),
        stored["registrar/state_store_ms/max"]
            .as_f64()
            .unwrap_or(0.0),
    );
    println!(
        "HA failover: leader SIGKILLed; a new leader elected in {election_s:.2} s (ZooKeeper \
         session timeout {secs:.0} s); {n} agents, {frameworks} frameworks and {total} tasks back \
         in {failover_s:.2} s   [target: at most {:.0} s; Mesos 1.5: ~19 s at 40k agents]",
        secs + 5.0
    );
    println!(
        "registry recovery: {recover_ms:.0} ms for {n} agents ({:.1} MiB)   [target: at most 1000 ms at 50k]",
        registry_bytes / 1048576.0
    );
    Ok(json!({
        "scenario": "failover",
        "ha": true,
        "agents": n,
        "frameworks": frameworks,
        "tasks": total,
        "zk_session_timeout_s": secs,
        "registry_admit_s": admit_s,
        "registry_stores": count(&stored, "registrar/state_stores"),
        "registry_store_ms_p50": stored["registrar/state_store_ms/p50"],
        "registry_store_ms_max": stored["registrar/state_store_ms/max"],
        "launch_s": launch_s,
        "election_s": election_s,
        "failover_s": failover_s,
        "failover_after_election_s": failover_s - election_s,
        "registry_recover_ms": recover_ms,
        "registry_size_bytes": registry_bytes,
        "mesos_failover_s": 19.0,
    }))
}

// ---- /master/state ----------------------------------------------------------------------------

/// A master with `o.agents` simulated agents and `o.tasks` running plus `o.completed` completed
/// tasks: the host, the simulation, the admission time, and the running and completed counts.
async fn populated(o: &Opts) -> Result<(Host, Sim, f64, usize, usize), String> {
    let total = o.tasks + o.completed;
    let (host, mut s, admit_s, _) = admit(o, total).await?;
    let frameworks = o.frameworks[0];
    // Every other task finishes at once when half are to complete; else none or all.
    let finish_every = match (o.tasks, o.completed) {
        (_, 0) => 0,
        (0, _) => 1,
        (r, c) if r == c => 2,
        (r, c) => (r + c) / c,
    };
    let per = total.div_ceil(frameworks);
    let total = per * frameworks;
    let completed = if finish_every == 0 {
        0
    } else {
        (0..per).filter(|n| n.is_multiple_of(finish_every)).count() * frameworks
    };
    let running = total - completed;
    spawn_launchers(o, &mut s, &host.at(), frameworks, total, finish_every)?;
    sim::wait_for(
        &s,
        "tasks launching",
        total as u64,
        Duration::from_secs(600),
        || {
            let h = &host;
            async move {
                let (a, c) = h.ask(|m| m.task_counts()).await;
                ((a, c), (a.min(running) + c) as u64)
            }
        },
        |&(a, c)| a == running && c == completed,
    )
    .await?;
    Ok((host, s, admit_s, running, completed))
}

async fn state(o: &Opts) -> Result<Value, String> {
    let (host, mut s, admit_s, running, completed) = populated(o).await?;
    let addr = host.addr();
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let r = mesos_agent::httpc::request(&addr, "GET", "/master/state", &[], b"")
            .await
            .map_err(|e| format!("GET /master/state: {e}"))?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
        if r.head.status != 200 {
            return Err(format!("GET /master/state answered {}", r.head.status));
        }
        bytes = r.body.len();
        if o.quick && times.len() == 1 {
            check_state(&r.body, o.agents, running, completed)?;
        }
    }
    let state_ms = mesos_allocator::quantile(&mut times, 0.5);
    s.stop().await;
    host.stop().await;
    println!(
        "/master/state, {} agents, {running} running + {completed} completed tasks: {state_ms:.0} ms \
         ({:.1} MB)   [Mesos: ~3.1 s at 20k agents / 200k + 200k; target 1 s]",
        o.agents,
        bytes as f64 / 1e6
    );
    Ok(json!({
        "scenario": "state",
        "agents": o.agents,
        "running_tasks": running,
        "completed_tasks": completed,
        "admit_s": admit_s,
        "state_ms": state_ms,
        "state_bytes": bytes,
        "mesos_state_ms": 3100.0,
    }))
}

fn check_state(body: &[u8], agents: usize, running: usize, completed: usize) -> Result<(), String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("state is not JSON: {e}"))?;
    let count = |k: &str| -> usize {
        v["frameworks"].as_array().map_or(0, |fs| {
            fs.iter().map(|f| f[k].as_array().map_or(0, Vec::len)).sum()
        })
    };
    let seen = (
        v["slaves"].as_array().map_or(0, Vec::len),
        count("tasks"),
        count("completed_tasks"),
    );
    if seen != (agents, running, completed) {
        return Err(format!(
            "/master/state shows {seen:?} (agents, running, completed), expected {:?}",
            (agents, running, completed)
        ));
    }
    Ok(())
}

// ---- the web UI ------------------------------------------------------------------------------

/// The web UI in Chromium (through chromedriver, driven by `bench/webui.py` with the venv's
/// Selenium; `MESOS_RS_PYTHON` names its python) against a populated master: from navigation to
/// the first full render of the overview and of the tasks page, and from an event (an agent
/// marked gone) to the open page showing it.
async fn webui(o: &Opts) -> Result<Value, String> {
    let python = std::env::var("MESOS_RS_PYTHON").map_err(|_| {
        "MESOS_RS_PYTHON must name a python with Selenium (.ci/pymesos-venv.sh makes one)"
            .to_string()
    })?;
    let (host, mut s, admit_s, running, completed) = populated(o).await?;
    let addr = host.addr();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/webui.py");
    let agents = o.agents.to_string();
    let out = tokio::process::Command::new(&python)
        .args([script, "--master", &addr, "--agents", &agents])
        .output()
        .await
        .map_err(|e| format!("cannot run {script}: {e}"))?;
    s.stop().await;
    host.stop().await;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "{script} failed: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let r: Value = text
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .ok_or_else(|| format!("{script} printed no result: {text}"))?;
    if !o.json {
        if let Some(t) = text.lines().rev().nth(1) {
            println!("where the time goes (ms since navigation): {t}");
        }
    }
    let ms = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
    println!(
        "web UI, {} agents, {running} running + {completed} completed tasks: overview {:.0} ms, \
         tasks page {:.0} ms to the first full render; a live update shows {:.0} ms after its \
         event   [targets: 2000 ms, 2000 ms, 1000 ms]; of which the master's GET_STATE alone \
         {:.0} ms ({:.1} MB), SUBSCRIBE answered at {:.0} ms",
        o.agents,
        ms("overview_ms"),
        ms("tasks_ms"),
        ms("live_update_ms"),
        ms("get_state_ms"),
        ms("state_bytes") / 1e6,
        ms("subscribed_ms"),
    );
    Ok(json!({
        "scenario": "webui",
        "agents": o.agents,
        "running_tasks": running,
        "completed_tasks": completed,
        "admit_s": admit_s,
        "overview_ms": r["overview_ms"],
        "tasks_ms": r["tasks_ms"],
        "live_update_ms": r["live_update_ms"],
        "get_state_ms": r["get_state_ms"],
        "state_bytes": r["state_bytes"],
        "subscribed_ms": r["subscribed_ms"],
        "target_render_ms": 2000.0,
        "target_live_update_ms": 1000.0,
    }))
}

// ---- entry ------------------------------------------------------------------------------------

/// Runs one scenario; the JSON result (also printed last with `--json`).
pub async fn run(scenario: &str, o: &Opts) -> Result<Value, String> {
    match scenario {
        "offer-storm" => offer_storm(o).await,
        "launch-storm" => launch_storm(o).await,
        "failover" if o.ha => failover_ha(o).await,
        "failover" => failover(o).await,
        "state" => state(o).await,
        "memory" => memory(o).await,
        "webui" => webui(o).await,
        other => Err(format!("unknown scenario '{other}'")),
    }
}

/// `scale`'s main: parses, runs, prints; the exit code.
pub fn main_with(args: &[String]) -> i32 {
    let (scenario, o) = match parse(args) {
        Ok(x) => x,
        Err(FlagsError::Help(u)) => {
            print!("{u}");
            return 0;
        }
        Err(FlagsError::Bad(e)) => {
            eprintln!("scale: {e}\n\nSee --help for the flags.");
            return 1;
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("scale: cannot start tokio: {e}");
            return 1;
        }
    };
    match rt.block_on(run(&scenario, &o)) {
        Ok(v) => {
            if o.json {
                println!("{v}");
            }
            0
        }
        Err(e) => {
            eprintln!("scale {scenario}: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn scenario_then_flags_given_flags_win_over_quick() {
        let (s, o) = parse(&args(&[
            "offer-storm",
            "--quick",
            "--agents=300",
            "--frameworks=1,2",
            "--window-secs=1",
            "--json",
        ]))
        .unwrap();
        assert_eq!(s, "offer-storm");
        assert!(o.quick && o.json);
        assert_eq!((o.agents, o.frameworks.clone()), (300, vec![1, 2]));
        assert_eq!(o.window, Duration::from_secs(1));
        let (_, o) = parse(&args(&["state", "--quick"])).unwrap();
        assert_eq!((o.agents, o.tasks, o.completed), (1_000, 10_000, 10_000));
    }

    #[test]
    fn bad_scenarios_and_flags_are_named() {
        let bad = |a: &[&str]| match parse(&args(a)) {
            Err(FlagsError::Bad(e)) => e,
            other => panic!("expected an error, got {other:?}"),
        };
        assert!(bad(&["nope"]).contains("'nope'"));
        assert!(bad(&["failover", "--bogus=1"]).contains("'bogus'"));
        assert!(bad(&["failover", "--agents", "5"]).contains("'agents'"));
        assert!(bad(&["failover", "--agents=0"]).contains("at least 1"));
        assert!(bad(&["failover", "--agents=x"]).contains("--agents"));
        assert!(matches!(
            parse(&args(&["memory", "--help"])),
            Err(FlagsError::Help(u)) if u.contains("--window_secs=VALUE")
        ));
    }
}
