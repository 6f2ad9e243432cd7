//! `containers`: launch and destroy containers on one agent, with real isolation.
//!
//! The real master, one real agent (cgroups/cpu, cgroups/mem and namespaces/pid with the
//! linux launcher), and a framework on the Rust SDK run in this OS process; each task is a
//! command task (`sleep`) whose command executor is a real process in its own container, so
//! every container is a cgroup in each hierarchy, a pid namespace and two processes.
//!
//! - `launch_s`: from the first LAUNCH until every task is TASK_RUNNING.
//! - `destroy_s`: from the framework's teardown until every container is destroyed (no
//!   executors left, no cgroups left under the agent's cgroups root).
//! - `agent_rss_kib_per_container`: this process's RSS growth over the launch, per container
//!   (the agent's records dominate; the master's task records are included).
//!
//! Mesos published 30.7 s to launch 1,000 containers and about 20 s to destroy them.
//!
//! ```text
//! containers [--quick] [--json] [--containers=N] [--isolation=LIST]
//! ```
//! Needs root (cgroups and namespaces); `--isolation=posix/cpu,posix/mem` runs without.

use std::time::{Duration, Instant};

use libprocess::Runtime;
use mesos_agent::{Agent, AgentFlags};
use mesos_api::protocol::framework::FrameworkInfo;
use mesos_api::protocol::offer::{Filters, Offer};
use mesos_api::protocol::scheduler::Failure;
use mesos_api::protocol::task::{CommandInfo, TaskInfo, TaskState, TaskStatus};
use mesos_api::{Attributes, FrameworkID, OfferID, Resources, TaskID};
use mesos_master::{Master, MasterFlags};
use mesos_scheduler::{Driver, Scheduler, SchedulerProcess};
use serde_json::json;
use tokio::sync::mpsc;

libprocess::flags! {
    /// `containers`'s flags.
    struct Args {
        /// At most 50 containers, for a smoke test
        quick: bool = "false";
        /// Print one JSON object last
        json: bool = "false";
        /// Containers to launch and destroy
        containers: usize = "1000";
        /// The agent's isolators (posix/cpu,posix/mem runs without root)
        isolation: String = "cgroups/cpu,cgroups/mem,namespaces/pid";
    }
}

fn parse() -> Result<Args, String> {
    let f = mesos_bench::load_flags("containers", Args::FLAGS, std::env::args().skip(1), 2);
    let mut a = Args::from_flags(&f)?;
    if a.quick {
        a.containers = a.containers.min(50);
    }
    Ok(a)
}

enum Seen {
    Offers(Vec<Offer>),
    Update(Box<TaskStatus>),
}

struct Rec(mpsc::UnboundedSender<Seen>);

impl Scheduler for Rec {
    fn subscribed(&mut self, _: &mut Driver, _: &FrameworkID) {}
    fn offers(&mut self, _: &mut Driver, offers: Vec<Offer>) {
        let _ = self.0.send(Seen::Offers(offers));
    }
    fn update(&mut self, _: &mut Driver, s: &TaskStatus) {
        let _ = self.0.send(Seen::Update(Box::new(s.clone())));
    }
    fn rescind(&mut self, _: &mut Driver, _: &OfferID) {}
    fn failure(&mut self, _: &mut Driver, _: &Failure) {}
    fn error(&mut self, _: &mut Driver, m: &str) {
        eprintln!("framework error: {m}");
    }
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    mesos_agent::executor::run_if_requested();
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("containers: {e}");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    match rt.block_on(run(&args)) {
        Ok(()) => {}
        Err(e) => {
            eprintln!("containers: {e}");
            std::process::exit(1);
        }
    }
}

async fn run(args: &Args) -> Result<(), String> {
    let n = args.containers;
    // Enough descriptors for a thousand executors' connections.
    let _ =
        nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, 65536, 65536);
    let rt = Runtime::local().await.map_err(|e| e.to_string())?;
    let master = rt
        .spawn(
            "master",
            Master::new(MasterFlags {
                allocation_interval: Duration::from_millis(50),
                ..MasterFlags::default()
            }),
        )
        .map_err(|e| e.to_string())?;
    let work = std::env::temp_dir().join(format!("mesos-containers-bench-{}", std::process::id()));
    let mut f = AgentFlags::new(rt.address().to_string(), &work);
    f.resources = Some(format!(
        "cpus:{};mem:{}",
        n as f64 * 0.1 + 1.0,
        n * 32 + 1024
    ));
    f.registration_backoff_factor = Duration::from_millis(50);
    f.executor_shutdown_grace_period = Duration::from_secs(1);
    f.containerizer.isolation =
        mesos_containerizer::parse_isolation(&args.isolation).map_err(|e| e.to_string())?;
    let cgroups_root = format!("mesos-bench-{}", std::process::id());
    f.containerizer.cgroups_root = cgroups_root.clone();
    let resources = mesos_agent::resources::agent_resources(f.resources.as_deref(), "*", &work)
        .map_err(|e| e.to_string())?;
    let agent = rt
        .spawn(
            "slave(1)",
            Agent::new(f, resources, Attributes::default()).map_err(|e| e.to_string())?,
        )
        .map_err(|e| e.to_string())?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let info = FrameworkInfo::new("containers-bench", "root");
    let fw = mesos_scheduler::start(&rt, master.upid().clone(), info, Rec(tx))
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(300);
    let rss_before = rss_kib();
    // Launch every task from the first offers.
    let mut launched = 0usize;
    let mut running = 0usize;
    let mut t0 = None;
    while running < n {
        let seen = tokio::time::timeout_at(deadline.into(), rx.recv())
            .await
            .map_err(|_| format!("only {running} of {n} tasks RUNNING after 300 s"))?
            .ok_or("the framework stopped")?;
        match seen {
            Seen::Offers(offers) => {
                for o in offers {
                    let mut tasks = Vec::new();
                    while launched < n && tasks.len() < n {
                        tasks.push(TaskInfo {
                            name: format!("c{launched}"),
                            task_id: TaskID::new(format!("c{launched}")),
                            agent_id: o.agent_id.clone(),
                            resources: Resources::parse("cpus:0.1;mem:32", "*")
                                .map_err(|e| e.to_string())?,
                            executor: None,
                            command: Some(CommandInfo::shell("sleep 1000")),
                            kill_policy: None,
                            data: None,
                            labels: None,
                            container: None,
                            health_check: None,
                            check: None,
                            discovery: None,
                            limits: None,
                            max_completion_time: None,
                        });
                        launched += 1;
                    }
                    let oid = o.id.clone();
                    t0.get_or_insert_with(Instant::now);
                    fw.dispatch(move |p: &mut SchedulerProcess<Rec>, _| {
                        p.driver().launch(
                            &oid,
                            tasks,
                            Some(Filters {
                                refuse_seconds: 3600.0,
                            }),
                        )
                    })
                    .await
                    .map_err(|e| e.to_string())?;
                }
            }
            Seen::Update(s) => match s.state {
                TaskState::Running => running += 1,
                TaskState::Starting | TaskState::Staging => {}
                other => return Err(format!("task {} went {other}: {:?}", s.task_id, s.message)),
            },
        }
    }
    let launch_s = t0.map(|t| t.elapsed().as_secs_f64()).unwrap_or(0.0);
    let rss_after = rss_kib();
    // Destroy: tear the framework down; every executor's container goes.
    let t1 = Instant::now();
    fw.dispatch(|p: &mut SchedulerProcess<Rec>, _| p.driver().teardown())
        .await
        .map_err(|e| e.to_string())?;
    let cg_dir = std::path::Path::new("/sys/fs/cgroup/memory").join(&cgroups_root);
    loop {
        let left = agent
            .dispatch(|a: &mut Agent, _| a.executor_count())
            .await
            .map_err(|e| e.to_string())?;
        let cgroups_left = std::fs::read_dir(&cg_dir)
            .map(|rd| rd.flatten().filter(|e| e.path().is_dir()).count())
            .unwrap_or(0);
        if left == 0 && cgroups_left == 0 {
            break;
        }
        if Instant::now() > deadline + Duration::from_secs(120) {
            return Err(format!(
                "{left} executors and {cgroups_left} cgroups left after teardown"
            ));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let destroy_s = t1.elapsed().as_secs_f64();
    let per = (rss_after.saturating_sub(rss_before)) as f64 / n as f64;
    agent.terminate(true);
    let _ = std::fs::remove_dir_all(&work);
    for h in ["cpu", "cpuacct", "memory", "freezer", "pids"] {
        let _ = std::fs::remove_dir(
            std::path::Path::new("/sys/fs/cgroup")
                .join(h)
                .join(&cgroups_root),
        );
    }
    println!("containers: {n}, isolation {}", args.isolation);
    println!("| figure | ours | Mesos | target |");
    println!("|---|---|---|---|");
    println!(
        "| launch {n} containers until all RUNNING | {launch_s:.2} s | 30.7 s (1,000) | <= 10 s |"
    );
    println!("| destroy them all | {destroy_s:.2} s | ~20 s (1,000) | <= 5 s |");
    println!("| agent RSS per container | {per:.0} KiB | | |");
    if args.json {
        println!(
            "{}",
            json!({
                "containers": n,
                "isolation": args.isolation,
                "launch_s": launch_s,
                "destroy_s": destroy_s,
                "agent_rss_kib_per_container": per,
            })
        );
    }
    Ok(())
}
