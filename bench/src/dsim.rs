//! The deterministic whole-cluster simulation behind the `sim` binary: the real master (with its
//! allocator) and frameworks written with the real scheduler SDK, with agents, all as nodes on
//! one simulated network ([`libprocess::simnet`]), on one thread, in virtual time. Every random
//! choice (network delays and drops, faults, task lengths) comes from the seed, so a seed
//! replays its run: the network's event log hashes the same.
//!
//! The agents are the real agent ([`mesos_agent::Agent::simulated`]), each on a simulated
//! machine ([`mesos_containerizer::sim::SimHost`]) with its work dir in a directory of the run:
//! its containers are simulated, its executors run inside the simulation and speak the v1
//! executor API to it over the simulated network. With [`AgentKind::StandIn`] they are the
//! scale simulator's protocol-level stand-ins instead ([`crate::sim::agent::SimAgent`]), which
//! run tasks as timers (two to three and a half times faster).
//!
//! A run: the cluster starts; frameworks keep tasks running (most end after a drawn time,
//! FINISHED or FAILED; some run past the end); during the first 70% of the run the fault profile
//! acts; then every fault heals, frameworks stop launching, reconcile, and the cluster settles.
//! The master's and the allocator's books are audited every 5 simulated seconds, each
//! framework checks the order of every task's updates as they come, and at the end master,
//! agents and frameworks must agree on every task.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use libprocess::rng::Rng;
use libprocess::simnet::{Faults, SimNet};
use libprocess::{Config, Network, Runtime, PID, UPID};
use mesos_agent::{Agent, AgentFlags};
use mesos_api::protocol::framework::FrameworkInfo;
use mesos_api::protocol::offer::{Filters, Offer};
use mesos_api::protocol::task::{ExecutorInfo, TaskGroupInfo, TaskInfo, TaskState, TaskStatus};
use mesos_api::{AgentID, ExecutorID, FrameworkID, Resources, TaskID};
use mesos_containerizer::sim::{run_for, SimHost};
use mesos_master::{Master, MasterFlags};
use mesos_scheduler::{Driver, Scheduler, SchedulerProcess};

use crate::sim::agent::SimAgent;
use crate::sim::stats::Stats;

/// What the simulation does to the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// Delays only.
    Quiet,
    /// Now and then a write breaks its connection (links see `exited`; peers reconnect).
    Drops,
    /// Agents cut off from the master for less than the total ping timeout.
    ShortPartitions,
    /// Agents cut off from the master for longer than the total ping timeout.
    LongPartitions,
    /// Framework nodes crash and come back, failing over to their framework id.
    FrameworkFailover,
    /// Agent processes crash and restart on their work dirs, recovering their executors; one
    /// restart in four is the machine's (its executors die with it).
    AgentRestart,
    /// The master crashes and restarts at its address, recovering its registry (kept in its
    /// work dir, `--registry=replicated_log`); agents reregister, frameworks resubscribe.
    MasterFailover,
}

impl Profile {
    /// Every profile.
    pub const ALL: [Profile; 7] = [
        Profile::Quiet,
        Profile::Drops,
        Profile::ShortPartitions,
        Profile::LongPartitions,
        Profile::FrameworkFailover,
        Profile::AgentRestart,
        Profile::MasterFailover,
    ];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Quiet => "quiet",
            Profile::Drops => "drops",
            Profile::ShortPartitions => "short-partitions",
            Profile::LongPartitions => "long-partitions",
            Profile::FrameworkFailover => "framework-failover",
            Profile::AgentRestart => "agent-restart",
            Profile::MasterFailover => "master-failover",
        }
    }

    /// The profile of that name.
    pub fn parse(s: &str) -> Result<Profile, String> {
        Profile::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Profile::ALL.iter().map(|p| p.name()).collect();
                format!("unknown fault profile '{s}' (one of: {})", names.join(", "))
            })
    }
}

/// Which agent the cluster runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentKind {
    /// The real agent, with simulated containers.
    Real,
    /// The scale simulator's protocol-level stand-in.
    StandIn,
}

impl AgentKind {
    /// The kind of that name (`real`, `stand-in`).
    pub fn parse(s: &str) -> Result<AgentKind, String> {
        match s {
            "real" => Ok(AgentKind::Real),
            "stand-in" => Ok(AgentKind::StandIn),
            _ => Err(format!("unknown agent kind '{s}' (real or stand-in)")),
        }
    }
}

/// One run's settings.
#[derive(Clone, Debug)]
pub struct Options {
    /// Every random choice comes from it.
    pub seed: u64,
    /// Agents (4 cpus, 4 GiB each).
    pub agents: usize,
    /// Which agent they are.
    pub agent_kind: AgentKind,
    /// Frameworks.
    pub frameworks: usize,
    /// The fault profile.
    pub profile: Profile,
    /// Simulated time in all.
    pub duration: Duration,
    /// Tasks each framework keeps running.
    pub tasks: usize,
    /// Keep the whole event log (its last 10,000 lines) in the outcome, not only the end of it
    /// when something broke.
    pub keep_log: bool,
    /// The master's `--role_sorter` (`drf` or `random`).
    pub role_sorter: String,
    /// The master's `--framework_sorter` (`drf` or `random`).
    pub framework_sorter: String,
    /// Another allocation policy for the master (`Master::with_allocator`), made anew for
    /// each master (a restarted one too); the sorter flags then do nothing.
    pub allocator: Option<fn() -> Box<dyn mesos_allocator::Allocator>>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            seed: 1,
            agents: 20,
            agent_kind: AgentKind::Real,
            frameworks: 3,
            profile: Profile::Quiet,
            duration: Duration::from_secs(600),
            tasks: 20,
            keep_log: false,
            role_sorter: "drf".into(),
            framework_sorter: "drf".into(),
            allocator: None,
        }
    }
}

/// What a run found.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// The seed.
    pub seed: u64,
    /// Simulated seconds.
    pub simulated_s: f64,
    /// Wall-clock seconds.
    pub wall_s: f64,
    /// The hash of the network's event log (equal for equal runs).
    pub log_hash: u64,
    /// Lines in the event log.
    pub log_lines: u64,
    /// Tasks launched.
    pub launched: u64,
    /// Status updates frameworks received.
    pub updates: u64,
    /// Tasks whose framework heard them end, by their last state's name.
    pub ended: BTreeMap<&'static str, u64>,
    /// Faults injected.
    pub faults: u64,
    /// Executors that restarted agents recovered (adopted) from their machines.
    pub executors_adopted: u64,
    /// Broken invariants, each with the simulated second it was seen at.
    pub violations: Vec<String>,
    /// The end of the event log (when something broke).
    pub log_tail: Vec<String>,
    /// When something broke: the length of the shortest suffix of the event log that shows
    /// it (from the first line naming a task a violation names; 0 when none does)...
    pub suffix_lines: usize,
    /// ... and that suffix's lines about those tasks and the faults.
    pub story: Vec<String>,
    /// What an experiment on the allocation policy reads.
    pub research: Research,
}

/// The allocation policy's figures over a run, sampled every 5 simulated seconds.
#[derive(Clone, Debug, Default)]
pub struct Research {
    /// Each sample: the simulated second, and each framework's dominant share (the larger of
    /// its cpus and mem, offered and used, over the registered agents' total), frameworks in
    /// order (`fw0`, `fw1`, ...).
    pub shares: Vec<(f64, Vec<f64>)>,
    /// Each sample: the simulated second, and the share of the cluster's cpus and of its mem
    /// that live tasks use.
    pub utilisation: Vec<(f64, f64, f64)>,
    /// Each wait of a framework from wanting resources (fewer tasks than its target) to a
    /// launch, in simulated seconds.
    pub offer_waits: Vec<f64>,
    /// Samples from this second on are the steady state (after the start, before draining).
    pub steady_from: f64,
    /// ... up to this second.
    pub steady_to: f64,
}

impl Research {
    fn steady(&self, t: f64) -> bool {
        t >= self.steady_from && t < self.steady_to
    }

    /// Jain's fairness index of the frameworks' dominant shares, averaged over the steady
    /// samples: 1 when every framework holds the same dominant share, 1/n when one holds
    /// everything.
    pub fn fairness(&self) -> f64 {
        let idx: Vec<f64> = self
            .shares
            .iter()
            .filter(|(t, s)| self.steady(*t) && s.iter().any(|x| *x > 0.0))
            .map(|(_, s)| {
                let sum: f64 = s.iter().sum();
                let sq: f64 = s.iter().map(|x| x * x).sum();
                sum * sum / (s.len() as f64 * sq)
            })
            .collect();
        mean(&idx)
    }

    /// The mean share of the cluster's cpus and of its mem in use, over the steady samples.
    pub fn utilisation_mean(&self) -> (f64, f64) {
        let steady: Vec<&(f64, f64, f64)> = self
            .utilisation
            .iter()
            .filter(|u| self.steady(u.0))
            .collect();
        let cpus: Vec<f64> = steady.iter().map(|u| u.1).collect();
        let mem: Vec<f64> = steady.iter().map(|u| u.2).collect();
        (mean(&cpus), mean(&mem))
    }

    /// The median, 99th percentile and longest of the frameworks' waits for resources.
    pub fn offer_wait_quantiles(&self) -> (f64, f64, f64) {
        let mut w = self.offer_waits.clone();
        w.sort_by(f64::total_cmp);
        let q = |p: f64| {
            if w.is_empty() {
                0.0
            } else {
                w[((w.len() - 1) as f64 * p).round() as usize]
            }
        };
        (q(0.5), q(0.99), w.last().copied().unwrap_or(0.0))
    }
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// A framework's dominant share of `total`: the larger of its cpus and mem shares.
fn dominant_share(held: &Resources, total: &Resources) -> f64 {
    let share = |x: f64, of: f64| if of > 0.0 { x / of } else { 0.0 };
    share(held.cpus(), total.cpus()).max(share(held.mem(), total.mem()))
}

/// Runs one simulation on a fresh one-thread runtime in virtual time.
pub fn run(o: &Options) -> Outcome {
    let started = std::time::Instant::now();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime");
    let mut out = rt.block_on(simulate(o));
    out.wall_s = started.elapsed().as_secs_f64();
    out
}

const MASTER_IP: [u8; 4] = [10, 0, 0, 1];

fn agent_ip(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 1, (i / 250) as u8, (i % 250 + 1) as u8))
}

fn framework_ip(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 2, (i / 250) as u8, (i % 250 + 1) as u8))
}

async fn node(net: &SimNet, ip: IpAddr, port: u16) -> Runtime {
    Runtime::bind(Config {
        ip,
        port,
        // A node notices a peer cut off while it writes to it within the total ping timeout.
        send_timeout: Some(Duration::from_secs(75)),
        connect_timeout: Duration::from_secs(5),
        network: Network::Sim(net.clone()),
        ..Config::default()
    })
    .await
    .expect("a node binds on the simulated network")
}

fn faults(p: Profile) -> Faults {
    Faults {
        delay: (Duration::from_micros(200), Duration::from_millis(20)),
        drop_rate: if p == Profile::Drops { 0.002 } else { 0.0 },
    }
}

/// A framework's record of its tasks, kept outside its node (it survives a crash, as a
/// framework's own store does).
#[derive(Default)]
struct Book {
    id: Option<FrameworkID>,
    /// Each task launched: its agent and the states heard, in order.
    tasks: BTreeMap<TaskID, (AgentID, Vec<TaskState>)>,
    launched: u64,
    updates: u64,
    violations: Vec<String>,
    /// Since when it has wanted resources (fewer live tasks than its target) without an offer
    /// it could launch on.
    wanting_since: Option<f64>,
    /// Each wait, from wanting resources to a launch (simulated seconds).
    waits: Vec<f64>,
}

impl Book {
    fn live(&self) -> usize {
        self.tasks
            .values()
            .filter(|(_, s)| !s.last().is_some_and(|s| s.is_terminal()))
            .count()
    }
}

/// Each task's resources: even frameworks' tasks are CPU-heavy, odd ones' memory-heavy, so
/// that their dominant resources differ (as DRF's are meant to be compared).
const TASKS: [&str; 2] = ["cpus:0.5;mem:256", "cpus:0.25;mem:768"];

/// A task group's default executor's own resources.
fn group_executor_resources() -> Resources {
    Resources::parse("cpus:0.1;mem:32", "*").expect("executor resources")
}

/// A framework that keeps `target` tasks running.
struct Load {
    name: String,
    book: Arc<Mutex<Book>>,
    rng: Rng,
    target: usize,
    /// Whether it launches task groups too.
    groups: bool,
    /// Its tasks' resources (one of [`TASKS`]).
    task: &'static str,
    draining: Arc<AtomicBool>,
    net: SimNet,
    /// Set when the SDK stopped on an ERROR: its supervisor restarts it.
    errored: Arc<AtomicBool>,
}

fn lock(b: &Mutex<Book>) -> std::sync::MutexGuard<'_, Book> {
    b.lock().unwrap_or_else(|e| e.into_inner())
}

impl Load {
    fn live(&self) -> usize {
        lock(&self.book).live()
    }

    fn task(&mut self, n: u64, o: &Offer) -> TaskInfo {
        // Most tasks end after a while (one in ten failing); one in five runs past the end.
        let roll = self.rng.below(10);
        let data = if roll < 2 {
            run_for(3_600_000, TaskState::Finished)
        } else {
            let ms = 2_000 + self.rng.below(58_000) as u64;
            let end = if roll == 2 {
                TaskState::Failed
            } else {
                TaskState::Finished
            };
            run_for(ms, end)
        };
        let id = format!("{}-t{n}", self.name);
        let mut t = testkit::command_task(&id, &o.agent_id, "true", self.task);
        t.data = Some(data);
        t
    }
}

impl Scheduler for Load {
    fn subscribed(&mut self, _: &mut Driver, id: &FrameworkID) {
        let now = self.net.now_secs();
        {
            let mut b = lock(&self.book);
            b.id = Some(id.clone());
            if b.live() < self.target && !self.draining.load(Ordering::Relaxed) {
                b.wanting_since.get_or_insert(now);
            }
        }
        self.net
            .record(&format!("framework {} subscribed as {id}", self.name));
    }

    fn offers(&mut self, d: &mut Driver, offers: Vec<Offer>) {
        let refuse = Some(Filters {
            refuse_seconds: 5.0,
        });
        let mut declined = Vec::new();
        let now = self.net.now_secs();
        let mut launched = false;
        for o in offers {
            let free = o.resources.unallocate();
            let one = Resources::parse(self.task, "*").expect("task resources");
            if self.draining.load(Ordering::Relaxed)
                || self.live() >= self.target
                || !free.contains(&one)
            {
                declined.push(o.id);
                continue;
            }
            // One launch in five is a task group of two under a default executor, when it fits.
            let mut pair = one.clone();
            pair.add_all(&one);
            pair.add_all(&group_executor_resources());
            let group = self.groups
                && self.target - self.live() >= 2
                && free.contains(&pair)
                && self.rng.below(5) == 0;
            let n = lock(&self.book).launched;
            let tasks: Vec<TaskInfo> = if group {
                vec![self.task(n, &o), self.task(n + 1, &o)]
            } else {
                vec![self.task(n, &o)]
            };
            {
                let mut b = lock(&self.book);
                for t in &tasks {
                    b.launched += 1;
                    b.tasks
                        .insert(t.task_id.clone(), (o.agent_id.clone(), Vec::new()));
                }
            }
            for t in &tasks {
                self.net.record(&format!(
                    "launch {} on {} ({}){}",
                    t.task_id,
                    o.agent_id,
                    String::from_utf8_lossy(t.data.as_deref().unwrap_or_default()),
                    if group { " in a group" } else { "" }
                ));
            }
            if group {
                let executor = ExecutorInfo::default_executor(
                    ExecutorID::new(format!("{}-g{n}", self.name)),
                    group_executor_resources(),
                );
                d.launch_group(&o.id, executor, TaskGroupInfo { tasks }, refuse);
            } else {
                d.launch(&o.id, tasks, refuse);
            }
            launched = true;
        }
        {
            let mut b = lock(&self.book);
            if launched {
                if let Some(w) = b.wanting_since.take() {
                    b.waits.push(now - w);
                }
            }
            if b.live() < self.target && !self.draining.load(Ordering::Relaxed) {
                b.wanting_since.get_or_insert(now);
            }
        }
        if !declined.is_empty() {
            d.decline(declined, refuse);
        }
    }

    fn error(&mut self, _: &mut Driver, message: &str) {
        // A driver-based framework whose link from the master broke hears "disconnected" when
        // it next calls (Mesos's FrameworkErrorMessage) and stops; its supervisor restarts it.
        self.net
            .record(&format!("framework {} error: {message}", self.name));
        self.errored.store(true, Ordering::Relaxed);
    }

    fn update(&mut self, _: &mut Driver, s: &TaskStatus) {
        let now = self.net.now_secs();
        self.net
            .record(&format!("update {} {}", s.task_id, s.state.as_str()));
        let mut b = lock(&self.book);
        b.updates += 1;
        let Some((_, seen)) = b.tasks.get_mut(&s.task_id) else {
            let v = format!(
                "{now:.3}s: {} heard {} of task {} it never launched",
                self.name,
                s.state.as_str(),
                s.task_id
            );
            b.violations.push(v);
            return;
        };
        // After an end, only the same end again (an update is delivered at least once). LOST
        // is "not always terminal": a framework that is not partition-aware is told its tasks
        // on an agent that became unreachable are LOST, and may hear from them again when the
        // agent comes back, before the master shuts them down (as in Mesos).
        let wrong = seen
            .last()
            .is_some_and(|last| last.is_terminal() && *last != TaskState::Lost && *last != s.state);
        let before = seen.last().copied();
        seen.push(s.state);
        if s.state.is_terminal() && b.live() < self.target && !self.draining.load(Ordering::Relaxed)
        {
            b.wanting_since.get_or_insert(now);
        }
        if wrong {
            let v = format!(
                "{now:.3}s: task {}: {} after {}",
                s.task_id,
                s.state.as_str(),
                before.map_or("", TaskState::as_str)
            );
            b.violations.push(v);
        }
    }
}

/// A framework's node and what it needs to come back after a crash.
struct FwNode {
    name: String,
    ip: IpAddr,
    rt: Runtime,
    pid: PID<SchedulerProcess<Load>>,
    book: Arc<Mutex<Book>>,
    /// Its generator's state, for the restarted framework.
    seed: u64,
    /// Its SDK stopped on an ERROR.
    errored: Arc<AtomicBool>,
}

/// What every framework node is started with.
struct Frameworks {
    net: SimNet,
    master: UPID,
    /// Tasks each keeps running.
    target: usize,
    /// Whether it launches task groups too (the stand-in agent runs none).
    groups: bool,
    /// Set when the faults end: launch no more.
    draining: Arc<AtomicBool>,
}

async fn start_framework(
    c: &Frameworks,
    name: String,
    ip: IpAddr,
    book: Arc<Mutex<Book>>,
    seed: u64,
) -> FwNode {
    let rt = node(&c.net, ip, 7000).await;
    let errored = Arc::new(AtomicBool::new(false));
    let mut info = FrameworkInfo::new(name.clone(), "root");
    info.failover_timeout = 86_400.0;
    info.checkpoint = true;
    info.id = lock(&book).id.clone();
    let load = Load {
        name: name.clone(),
        book: book.clone(),
        rng: Rng::new(seed),
        target: c.target,
        groups: c.groups,
        task: TASKS[name.trim_start_matches("fw").parse::<usize>().unwrap_or(0) % 2],
        draining: c.draining.clone(),
        net: c.net.clone(),
        errored: errored.clone(),
    };
    let pid = mesos_scheduler::start(&rt, c.master.clone(), info, load).expect("framework starts");
    FwNode {
        name,
        ip,
        rt,
        pid,
        book,
        seed,
        errored,
    }
}

/// Puts the OS's UUIDs and the process's hash key back when a run ends (or panics).
struct FromSeed;

impl Drop for FromSeed {
    fn drop(&mut self) {
        mesos_api::ids::set_uuid_source(None);
        mesos_api::wallclock::set_source(None);
        libprocess::util::SeededHash::set_thread_key(None);
    }
}

async fn simulate(o: &Options) -> Outcome {
    let net = SimNet::new(o.seed, faults(o.profile));
    // Ids and UUIDs (the master's id, offers, frameworks, updates) from the seed too, and the
    // hash maps' order.
    let ids = net.clone();
    mesos_api::ids::set_uuid_source(Some(Box::new(move || ids.next_u64())));
    // The wall clock (update timestamps, registration times) is virtual time too, from a
    // fixed epoch (2026-01-01).
    let clock = net.clone();
    mesos_api::wallclock::set_source(Some(Box::new(move || 1_767_225_600.0 + clock.now_secs())));
    libprocess::util::SeededHash::set_thread_key(Some(o.seed));
    let _seeded = FromSeed;
    let mut out = Outcome {
        seed: o.seed,
        ..Outcome::default()
    };
    let dir = RunDir::new(o.seed);
    let mut master = start_master(o, &net, &dir).await;
    let master_upid = master.pid.upid().clone();
    let stats = Arc::new(Stats::default());
    // The agent names its executor programs; simulated containers run none of them.
    mesos_agent::programs::set_multicall();
    let mut agents = Vec::new();
    for i in 0..o.agents {
        let a = start_agent(o, &net, &master_upid, &dir, &stats, i, None).await;
        agents.push(a);
    }
    let draining = Arc::new(AtomicBool::new(false));
    let fws = Frameworks {
        net: net.clone(),
        master: master_upid.clone(),
        target: o.tasks,
        groups: o.agent_kind == AgentKind::Real,
        draining: draining.clone(),
    };
    let mut frameworks = Vec::new();
    for j in 0..o.frameworks {
        let seed = net.next_u64();
        let book = Arc::new(Mutex::new(Book::default()));
        frameworks.push(start_framework(&fws, format!("fw{j}"), framework_ip(j), book, seed).await);
    }

    let step = Duration::from_secs(5);
    let fault_end = o.duration.mul_f64(0.7);
    let reconcile_at = o.duration.mul_f64(0.85);
    let mut sched = Schedule {
        rng: Rng::new(net.next_u64()),
        heal_at: None,
        restarts: Vec::new(),
        agent_restarts: Vec::new(),
        master_restart: None,
    };
    let mut reconciled = false;
    let mut t = Duration::ZERO;
    while t < o.duration {
        tokio::time::sleep(step).await;
        t += step;
        // Faults, in the window.
        if t < fault_end && t >= Duration::from_secs(10) {
            let nodes = Nodes {
                frameworks: &mut frameworks,
                agents: &mut agents,
                master: &master,
            };
            inject(o, &net, &mut sched, t, nodes, &mut out).await;
        }
        // A framework whose SDK stopped on an ERROR is restarted by its supervisor.
        for (j, f) in frameworks.iter().enumerate() {
            if f.errored.swap(false, Ordering::Relaxed)
                && !sched.restarts.iter().any(|(_, k)| *k == j)
            {
                net.crash(SocketAddr::new(f.ip, 7000));
                f.rt.crash().await;
                sched.restarts.push((t + step, j));
            }
        }
        if sched.heal_at.is_some_and(|h| t >= h) {
            net.heal();
            sched.heal_at = None;
        }
        let due: Vec<usize> = sched
            .restarts
            .iter()
            .filter(|(at, _)| t >= *at)
            .map(|(_, j)| *j)
            .collect();
        sched.restarts.retain(|(at, _)| t < *at);
        if sched.master_restart.is_some_and(|at| t >= at) {
            sched.master_restart = None;
            net.record("restart the master");
            master = start_master(o, &net, &dir).await;
        }
        let due_agents: Vec<usize> = sched
            .agent_restarts
            .iter()
            .filter(|(at, _)| t >= *at)
            .map(|(_, i)| *i)
            .collect();
        sched.agent_restarts.retain(|(at, _)| t < *at);
        for i in due_agents {
            net.record(&format!("restart agent {i}"));
            let host = agents[i].host.clone();
            agents[i] = start_agent(o, &net, &master_upid, &dir, &stats, i, host).await;
        }
        for j in due {
            let f = &frameworks[j];
            let (name, ip, book, seed) = (f.name.clone(), f.ip, f.book.clone(), f.seed);
            net.record(&format!("restart framework {name}"));
            frameworks[j] = start_framework(&fws, name, ip, book, seed ^ t.as_secs()).await;
        }
        if t >= fault_end && !draining.load(Ordering::Relaxed) {
            net.record("faults end");
            net.heal();
            net.set_faults(faults(Profile::Quiet));
            draining.store(true, Ordering::Relaxed);
        }
        if t >= reconcile_at && !reconciled {
            reconciled = true;
            for f in &frameworks {
                let tasks: Vec<(TaskID, Option<AgentID>)> = lock(&f.book)
                    .tasks
                    .iter()
                    .filter(|(_, (_, s))| !s.last().is_some_and(|s| s.is_terminal()))
                    .map(|(id, (a, _))| (id.clone(), Some(a.clone())))
                    .collect();
                let _ = f
                    .pid
                    .dispatch(move |p: &mut SchedulerProcess<Load>, _| p.driver().reconcile(tasks))
                    .await;
            }
        }
        // The books, every step.
        let at = t.as_secs_f64();
        let mut seen = master
            .pid
            .dispatch(|m: &mut Master, _| m.audit())
            .await
            .unwrap_or_default();
        if let Some(alloc) = master
            .pid
            .dispatch(|m: &mut Master, _| m.allocator_pid())
            .await
            .ok()
            .flatten()
        {
            seen.extend(
                alloc
                    .dispatch(|a: &mut mesos_allocator::AllocatorProcess, _| a.allocator().audit())
                    .await
                    .unwrap_or_default(),
            );
        }
        for v in seen {
            out.violations.push(format!("{at:.3}s: {v}"));
        }
        // The policy's figures.
        if let Ok((total, held)) = master.pid.dispatch(|m: &mut Master, _| m.usage()).await {
            let mut shares = vec![0.0; frameworks.len()];
            let mut used = Resources::new();
            for (j, f) in frameworks.iter().enumerate() {
                let id = lock(&f.book).id.clone();
                if let Some((_, u, o)) = held.iter().find(|(fid, _, _)| Some(fid) == id.as_ref()) {
                    let mut all = u.clone();
                    all.add_all(o);
                    shares[j] = dominant_share(&all, &total);
                    used.add_all(u);
                }
            }
            let share = |x: f64, of: f64| if of > 0.0 { x / of } else { 0.0 };
            out.research.shares.push((at, shares));
            out.research.utilisation.push((
                at,
                share(used.cpus(), total.cpus()),
                share(used.mem(), total.mem()),
            ));
        }
    }
    out.research.steady_from = 30.0_f64.min(fault_end.as_secs_f64());
    out.research.steady_to = fault_end.as_secs_f64();

    // The end: master, agents and frameworks agree on every task.
    let mut at_agents: BTreeMap<TaskID, TaskState> = BTreeMap::new();
    for a in &agents {
        let states = match &a.pid {
            AgentPid::Real(pid) => pid.dispatch(|a: &mut Agent, _| a.task_states()).await,
            AgentPid::StandIn(pid) => pid.dispatch(|a: &mut SimAgent, _| a.task_states()).await,
        };
        at_agents.extend(states.unwrap_or_default());
    }
    for f in &frameworks {
        let (fid, tasks, violations, launched, updates) = {
            let b = lock(&f.book);
            (
                b.id.clone(),
                b.tasks.clone(),
                b.violations.clone(),
                b.launched,
                b.updates,
            )
        };
        out.violations.extend(violations);
        out.research
            .offer_waits
            .extend(lock(&f.book).waits.iter().copied());
        out.launched += launched;
        out.updates += updates;
        let at_master: BTreeMap<TaskID, TaskState> = match fid {
            Some(fid) => master
                .pid
                .dispatch(move |m: &mut Master, _| m.tasks_of(&fid))
                .await
                .unwrap_or_default()
                .into_iter()
                .map(|t| (t.task_id, t.state))
                .collect(),
            None => BTreeMap::new(),
        };
        for (id, (_, seen)) in tasks {
            let fw = seen.last().copied();
            if let Some(s) = fw.filter(|s| s.is_terminal()) {
                *out.ended.entry(s.as_str()).or_default() += 1;
            }
            let agent = at_agents.get(&id).copied();
            let m = at_master.get(&id).copied();
            let name = |s: Option<TaskState>| s.map_or("nothing", TaskState::as_str);
            // After the explicit reconciliation every task was heard of; an ended one is live
            // nowhere, a live one is live with that state everywhere.
            let live = |s: Option<TaskState>| s.is_some_and(|s| !s.is_terminal());
            let disagree = match fw {
                Some(s) if s.is_terminal() => live(agent) || live(m),
                Some(s) => agent != Some(s) || m != Some(s),
                None => true,
            };
            if disagree {
                out.violations.push(format!(
                    "end: task {id}: the framework holds {}, its agent {}, the master {}",
                    name(fw),
                    name(agent),
                    name(m)
                ));
            }
        }
    }
    out.faults += net.dropped();
    out.simulated_s = o.duration.as_secs_f64();
    out.log_hash = net.log_hash();
    out.log_lines = net.log_lines();
    if o.keep_log {
        out.log_tail = net.log_tail(usize::MAX);
    } else if !out.violations.is_empty() {
        out.log_tail = net.log_tail(40);
        let (suffix, story) = story(&net.log_tail(usize::MAX), &out.violations);
        out.suffix_lines = suffix;
        out.story = story;
    }
    master.rt.shutdown().await;
    out.executors_adopted = agents
        .iter()
        .filter_map(|a| a.host.as_ref())
        .map(SimHost::adopted)
        .sum();
    for a in agents {
        a.rt.shutdown().await;
        if let Some(h) = a.host {
            h.crash();
        }
    }
    out
}

/// The master's node.
struct MasterNode {
    rt: Runtime,
    pid: PID<Master>,
}

async fn start_master(o: &Options, net: &SimNet, dir: &RunDir) -> MasterNode {
    let rt = node(net, IpAddr::V4(Ipv4Addr::from(MASTER_IP)), 5050).await;
    let mut flags = MasterFlags {
        role_sorter: o.role_sorter.clone(),
        framework_sorter: o.framework_sorter.clone(),
        ..MasterFlags::default()
    };
    if o.profile == Profile::MasterFailover {
        // Durable: a restarted master recovers its agents from the registry.
        flags.registry = "replicated_log".into();
        flags.work_dir = Some(dir.0.join("master"));
    }
    let master = match o.allocator {
        Some(policy) => Master::with_allocator(flags, policy()),
        None => Master::new(flags),
    };
    let pid = rt.spawn("master", master).expect("the master starts");
    MasterNode { rt, pid }
}

/// A directory for the run's agents' (and master's) work dirs, removed when the run ends: in
/// memory (`/dev/shm`) where there is one, since the agents checkpoint (and sync) every task and
/// update, else in the temporary directory.
struct RunDir(PathBuf);

impl RunDir {
    fn new(seed: u64) -> RunDir {
        static RUNS: AtomicU64 = AtomicU64::new(0);
        let n = RUNS.fetch_add(1, Ordering::Relaxed);
        let shm = std::path::Path::new("/dev/shm");
        let base = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let p = base.join(format!("mesos-sim-{}-{seed}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        RunDir(p)
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An agent's process.
enum AgentPid {
    Real(PID<Agent>),
    StandIn(PID<SimAgent>),
}

/// An agent's node: its runtime, its process and, for a real agent, its machine.
struct AgentNode {
    rt: Runtime,
    pid: AgentPid,
    host: Option<SimHost>,
}

async fn start_agent(
    o: &Options,
    net: &SimNet,
    master: &UPID,
    dir: &RunDir,
    stats: &Arc<Stats>,
    i: usize,
    host: Option<SimHost>,
) -> AgentNode {
    let rt = node(net, agent_ip(i), 5051).await;
    let resources = Resources::parse("cpus:4;mem:4096", "*").expect("agent resources");
    match o.agent_kind {
        AgentKind::Real => {
            // A restarted agent finds its machine's executors still running.
            let host = host.unwrap_or_else(|| SimHost::new(net.clone(), agent_ip(i)));
            let flags = AgentFlags::new(master.to_string(), dir.0.join(format!("agent{i}")));
            let a = Agent::simulated(flags, resources, Default::default(), host.clone())
                .expect("a simulated agent");
            let pid = rt.spawn("slave(1)", a).expect("an agent starts");
            AgentNode {
                rt,
                pid: AgentPid::Real(pid),
                host: Some(host),
            }
        }
        AgentKind::StandIn => {
            let a = SimAgent::new(
                master.clone(),
                i as u64,
                resources,
                Duration::from_secs(1),
                stats.clone(),
            )
            .faithful();
            let pid = rt.spawn("slave(1)", a).expect("an agent starts");
            AgentNode {
                rt,
                pid: AgentPid::StandIn(pid),
                host: None,
            }
        }
    }
}

/// The faults under way: the generator that schedules them, when the partition heals, and
/// which crashed frameworks come back when.
struct Schedule {
    rng: Rng,
    heal_at: Option<Duration>,
    restarts: Vec<(Duration, usize)>,
    /// Crashed agents (by index) and when they restart.
    agent_restarts: Vec<(Duration, usize)>,
    /// When the crashed master restarts.
    master_restart: Option<Duration>,
}

/// The shortest suffix of `log` that shows the tasks the violations name (from the first line
/// naming one: its launch, when the log still holds it), as its length and its lines about those
/// tasks and the faults (partitions, heals, crashes, restarts).
fn story(log: &[String], violations: &[String]) -> (usize, Vec<String>) {
    let mut tasks: Vec<&str> = Vec::new();
    for v in violations {
        let mut rest = v.as_str();
        while let Some(i) = rest.find("task ") {
            rest = &rest[i + 5..];
            let id = rest
                .split(|c: char| c == ':' || c.is_whitespace())
                .next()
                .unwrap_or_default();
            if !id.is_empty() && !tasks.contains(&id) {
                tasks.push(id);
            }
        }
    }
    // A line names a task when the id stands alone there (`fw1-t9` is not in `fw1-t99`).
    let names = |line: &str| {
        tasks.iter().any(|t| {
            line.match_indices(t).any(|(i, _)| {
                let after = line[i + t.len()..].chars().next();
                let before = line[..i].chars().next_back();
                !after.is_some_and(|c| c.is_alphanumeric() || c == '-')
                    && !before.is_some_and(|c| c.is_alphanumeric() || c == '-')
            })
        })
    };
    let Some(first) = log.iter().position(|l| names(l)) else {
        return (0, Vec::new());
    };
    const FAULTS: [&str; 7] = [
        " partition ",
        " cut ",
        " heal",
        " crash ",
        " restart ",
        " faults end",
        " drop #",
    ];
    let story = log[first..]
        .iter()
        .filter(|l| names(l) || FAULTS.iter().any(|f| l.contains(f)))
        .cloned()
        .collect();
    (log.len() - first, story)
}

/// The nodes a fault may strike.
struct Nodes<'a> {
    frameworks: &'a mut [FwNode],
    agents: &'a mut [AgentNode],
    master: &'a MasterNode,
}

/// One step of the fault profile.
async fn inject(
    o: &Options,
    net: &SimNet,
    s: &mut Schedule,
    t: Duration,
    nodes: Nodes<'_>,
    out: &mut Outcome,
) {
    let Nodes {
        frameworks,
        agents,
        master,
    } = nodes;
    let Schedule {
        rng,
        heal_at,
        restarts,
        agent_restarts,
        master_restart,
    } = s;
    let master_ip = IpAddr::V4(Ipv4Addr::from(MASTER_IP));
    match o.profile {
        Profile::Quiet | Profile::Drops => {}
        Profile::ShortPartitions | Profile::LongPartitions => {
            if heal_at.is_some() || rng.below(4) != 0 || o.agents == 0 {
                return;
            }
            let n = 1 + rng.below(o.agents.div_ceil(10));
            let cut: Vec<IpAddr> = (0..n).map(|_| agent_ip(rng.below(o.agents))).collect();
            let secs = if o.profile == Profile::ShortPartitions {
                5 + rng.below(40)
            } else {
                90 + rng.below(90)
            };
            net.record(&format!("partition {cut:?} from the master for {secs}s"));
            net.partition(&cut, &[master_ip]);
            *heal_at = Some(t + Duration::from_secs(secs as u64));
            out.faults += 1;
        }
        Profile::FrameworkFailover => {
            if rng.below(6) != 0 || frameworks.is_empty() {
                return;
            }
            let j = rng.below(frameworks.len());
            if restarts.iter().any(|(_, k)| *k == j) {
                return;
            }
            let f = &frameworks[j];
            net.record(&format!("crash framework {}", f.name));
            net.crash(SocketAddr::new(f.ip, 7000));
            f.rt.crash().await;
            restarts.push((t + Duration::from_secs(1 + rng.below(20) as u64), j));
            out.faults += 1;
        }
        Profile::AgentRestart => {
            if rng.below(3) != 0 || agents.is_empty() {
                return;
            }
            let i = rng.below(agents.len());
            if agent_restarts.iter().any(|(_, k)| *k == i) {
                return;
            }
            let a = &agents[i];
            let machine = rng.below(4) == 0;
            net.record(&format!(
                "crash agent {i}{}",
                if machine { " and its machine" } else { "" }
            ));
            net.crash(SocketAddr::new(agent_ip(i), 5051));
            a.rt.crash().await;
            if machine {
                if let Some(h) = &a.host {
                    h.crash();
                }
            }
            agent_restarts.push((t + Duration::from_secs(1 + rng.below(30) as u64), i));
            out.faults += 1;
        }
        Profile::MasterFailover => {
            if master_restart.is_some() || rng.below(10) != 0 {
                return;
            }
            net.record("crash the master");
            net.crash(SocketAddr::new(master_ip, 5050));
            master.rt.crash().await;
            *master_restart = Some(t + Duration::from_secs(1 + rng.below(30) as u64));
            out.faults += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(seed: u64, profile: Profile) -> Options {
        Options {
            seed,
            agents: 6,
            agent_kind: AgentKind::Real,
            frameworks: 2,
            profile,
            duration: Duration::from_secs(240),
            tasks: 6,
            keep_log: true,
            ..Options::default()
        }
    }

    #[test]
    fn a_seed_replays_its_run_and_another_seed_differs() {
        // Partitions; restarted agents recovering from their work dirs; a restarted master
        // recovering its registry from its own.
        for p in [
            Profile::ShortPartitions,
            Profile::AgentRestart,
            Profile::MasterFailover,
        ] {
            let a = run(&small(11, p));
            let b = run(&small(11, p));
            if let Some((x, y)) = a.log_tail.iter().zip(&b.log_tail).find(|(x, y)| x != y) {
                eprintln!("first difference:\n  {x}\n  {y}");
            }
            assert!(a.launched > 0 && a.updates > 0, "work happened: {a:?}");
            assert!(a.faults > 0, "{p:?}: faults happened: {a:?}");
            assert_eq!(
                (a.log_hash, a.log_lines, a.launched, a.updates),
                (b.log_hash, b.log_lines, b.launched, b.updates),
                "{p:?}: the same seed, the same run"
            );
            let c = run(&small(12, p));
            assert_ne!(a.log_hash, c.log_hash, "{p:?}: another seed, another run");
        }
    }

    /// Seeds that found bugs, kept (each failed before its fix). The first three were found
    /// with the workload of the time (every task `cpus:0.5;mem:256`, no task groups), which
    /// has changed since: they now run other interleavings.
    #[test]
    fn found_seeds_hold_every_invariant() {
        let cases = [
            // The master pinged an agent whose link had broken as connected, so the agent never
            // reregistered (33 of seeds 1..81 failed).
            (4, Profile::Drops, AgentKind::StandIn),
            // A task launched just before a known agent's reregistration was declared LOST,
            // then ran: the master now asks the agent about unreported tasks.
            (54, Profile::Drops, AgentKind::StandIn),
            // A disconnected agent was still offered; a task launched there ran on an agent id
            // the master had removed.
            (98, Profile::Drops, AgentKind::StandIn),
            // A launch held in a partition reached the agent after it reregistered and its
            // task was LOST: it ran, unknown to the master. The master now kills such a task.
            (24, Profile::LongPartitions, AgentKind::StandIn),
            // The same with the real agent.
            (59, Profile::LongPartitions, AgentKind::Real),
        ];
        for (seed, profile, agent_kind) in cases {
            let o = run(&Options {
                seed,
                profile,
                agent_kind,
                ..Options::default()
            });
            assert!(
                o.violations.is_empty(),
                "seed {seed} {profile:?}: {:?}",
                o.violations
            );
        }
    }

    /// The real agent runs each task through its simulated executor to the end the workload
    /// drew (most FINISHED, one in ten FAILED), and the master reports them as such.
    #[test]
    fn real_agents_run_tasks_to_their_drawn_end() {
        let o = run(&Options {
            seed: 3,
            ..small(3, Profile::Quiet)
        });
        assert!(o.violations.is_empty(), "{:?}", o.violations);
        let finished = o.ended.get("TASK_FINISHED").copied().unwrap_or(0);
        let failed = o.ended.get("TASK_FAILED").copied().unwrap_or(0);
        // Four in five tasks end within a minute of a 240 s run's launching time.
        assert!(
            finished > o.launched / 3 && failed > 0 && finished > 4 * failed,
            "launched {}, ended {:?}",
            o.launched,
            o.ended
        );
        // RUNNING and the end: two updates for each task that ended.
        assert!(o.updates >= 2 * (finished + failed), "{o:?}");
    }

    /// A restarted agent recovers the executors still running on its machine (and the
    /// cluster still agrees on every task).
    #[test]
    fn restarted_agents_adopt_their_executors() {
        let o = run(&small(1, Profile::AgentRestart));
        assert!(o.violations.is_empty(), "{:?}", o.violations);
        assert!(o.faults > 0 && o.executors_adopted > 0, "{o:?}");
    }

    /// The policy flags reach the allocator, and the figures tell policies apart: on one
    /// contended workload, DRF between frameworks holds their dominant shares more equal than
    /// the random sorter does.
    #[test]
    fn drf_shares_more_fairly_than_random_on_the_same_workload() {
        let with = |sorter: &str| {
            run(&Options {
                frameworks: 4,
                tasks: 30,
                framework_sorter: sorter.into(),
                ..small(1, Profile::Quiet)
            })
        };
        let (drf, random) = (with("drf"), with("random"));
        for o in [&drf, &random] {
            assert!(o.violations.is_empty(), "{:?}", o.violations);
            let (cpus, mem) = o.research.utilisation_mean();
            assert!(
                cpus > 0.5 && cpus <= 1.0 && mem > 0.5 && mem <= 1.0,
                "contended: {cpus} {mem}"
            );
            assert!(!o.research.offer_waits.is_empty());
        }
        let (f, g) = (drf.research.fairness(), random.research.fairness());
        assert!(f > g && f > 0.95, "drf {f}, random {g}");
    }

    #[test]
    fn a_violations_story_is_its_tasks_lines_and_the_faults_from_its_launch_on() {
        let log: Vec<String> = [
            "   1.000000 launch fw1-t9 on a1",
            "   2.000000 launch fw1-t99 on a2",
            "   3.000000 send #4 10.0.0.1:5050 -> 10.1.0.2:5051 300B at 3.01",
            "   4.000000 partition [10.1.0.2] from the master for 100s",
            "   5.000000 update fw1-t99 TASK_RUNNING",
            "   6.000000 update fw1-t9 TASK_LOST",
            "   7.000000 heal",
        ]
        .map(String::from)
        .to_vec();
        let v =
            vec!["end: task fw1-t99: the framework holds TASK_LOST, its agent TASK_RUNNING".into()];
        let (n, lines) = story(&log, &v);
        assert_eq!(n, 6, "from the launch of fw1-t99 on");
        assert_eq!(
            lines,
            [&log[1], &log[3], &log[4], &log[6]]
                .map(String::clone)
                .to_vec()
        );
        assert_eq!(story(&log, &["no task here".into()]), (0, Vec::new()));
    }

    /// A policy given to the simulation is the one its master runs: the hierarchical allocator
    /// with random sorters, given as a policy, replays the run that `--framework_sorter=random`
    /// gives, which differs from DRF's.
    #[test]
    fn a_policy_given_to_the_simulation_runs_in_its_master() {
        fn random() -> Box<dyn mesos_allocator::Allocator> {
            Box::new(mesos_allocator::HierarchicalAllocator::new(
                mesos_allocator::Options {
                    role_sorter: mesos_allocator::SorterKind::Random,
                    framework_sorter: mesos_allocator::SorterKind::Random,
                    ..mesos_allocator::Options::default()
                },
            ))
        }
        let with =
            |sorter: &str, allocator: Option<fn() -> Box<dyn mesos_allocator::Allocator>>| {
                run(&Options {
                    frameworks: 4,
                    tasks: 30,
                    role_sorter: sorter.into(),
                    framework_sorter: sorter.into(),
                    allocator,
                    ..small(2, Profile::Quiet)
                })
            };
        let given = with("drf", Some(random));
        let flagged = with("random", None);
        let drf = with("drf", None);
        assert!(given.violations.is_empty(), "{:?}", given.violations);
        assert_eq!(given.log_hash, flagged.log_hash);
        assert_ne!(given.log_hash, drf.log_hash);
    }

    #[test]
    fn profiles_parse_by_name_and_an_unknown_one_is_refused() {
        for p in Profile::ALL {
            assert_eq!(Profile::parse(p.name()), Ok(p));
        }
        assert!(Profile::parse("nope")
            .unwrap_err()
            .contains("short-partitions"));
    }
}
