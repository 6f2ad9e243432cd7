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
//! - `pull_s`: a cold pull of an image of `--pull_layers` layers of `--pull_layer_mb` MB
//!   (random, so incompressible) from a local registry (Debian's `docker-registry`), every blob
//!   downloaded and checked against its digest, beside `skopeo_pull_s`, `skopeo copy` of the
//!   same image to a directory (the same work), run alternately, best of two each;
//!   `pull_ratio_vs_skopeo` is ours over skopeo's (lower is better). Skipped, saying so, when
//!   `docker-registry` or `skopeo` is missing.
//!
//! With `--cni` every container joins a CNI bridge network (`network/cni` added to the
//! isolators; `bridge` and `host-local` from `/usr/lib/cni`, a /16 of its own), so `launch_s`
//! and `destroy_s` include CNI ADD and DEL; run it beside a run without to get the cost of
//! networking per container.
//!
//! ```text
//! containers [--quick] [--json] [--containers=N] [--isolation=LIST] [--pull_layers=N] [--pull_layer_mb=N] [--cni]
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
        /// Layers of the pulled image (0: no pull)
        pull_layers: usize = "5";
        /// MB per layer of the pulled image
        pull_layer_mb: usize = "20";
        /// Put every container on a CNI bridge network (network/cni with the standard plugins in /usr/lib/cni; needs root)
        cni: bool = "false";
    }
}

fn parse() -> Result<Args, String> {
    let f = mesos_bench::load_flags("containers", Args::FLAGS, std::env::args().skip(1), 2);
    let mut a = Args::from_flags(&f)?;
    if a.quick {
        a.containers = a.containers.min(50);
        a.pull_layer_mb = a.pull_layer_mb.min(2);
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

/// Whether `program` is on the PATH.
fn have(program: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The pull figures (`pull_s`, `skopeo_pull_s`), or why there are none.
fn pull_bench(args: &Args) -> Result<serde_json::Value, String> {
    if args.pull_layers == 0 {
        return Err("--pull_layers=0".into());
    }
    if !have("docker-registry") || !have("skopeo") {
        return Err("no docker-registry or skopeo (apt-get install docker-registry skopeo)".into());
    }
    let dir = std::env::temp_dir().join(format!("mesos-pull-bench-{}", std::process::id()));
    let result = pull_in(args, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn pull_in(args: &Args, dir: &std::path::Path) -> Result<serde_json::Value, String> {
    let port = testkit::free_port();
    let addr = format!("127.0.0.1:{port}");
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let config = dir.join("registry.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
             http:\n  addr: {addr}\n",
            dir.join("data").display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let mut registry = testkit::Proc::spawn(
        std::process::Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null()),
    );
    registry.await_listening(&addr, Duration::from_secs(30));
    let archive = mesos_containerizer::testimage::write_layered_image(
        &dir.join("archives"),
        "bench/big:1",
        args.pull_layers,
        args.pull_layer_mb << 20,
    )
    .map_err(|e| e.to_string())?;
    let plain = dir.join("push.tar");
    std::fs::rename(&archive, &plain).map_err(|e| e.to_string())?;
    let skopeo = |from: String, to: String| -> Result<(), String> {
        let out = std::process::Command::new("skopeo")
            .args([
                "copy",
                "--quiet",
                "--src-tls-verify=false",
                "--dest-tls-verify=false",
            ])
            .arg(from)
            .arg(to)
            .output()
            .map_err(|e| format!("skopeo: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!("skopeo: {}", String::from_utf8_lossy(&out.stderr)))
        }
    };
    skopeo(
        format!("docker-archive:{}", plain.display()),
        format!("docker://{addr}/bench/big:1"),
    )?;
    let remote =
        mesos_containerizer::provisioner::registry::Remote::new(&format!("http://{addr}"), None)?;
    let (mut ours, mut theirs, mut bytes) = (f64::MAX, f64::MAX, 0);
    for round in 0..2 {
        let into = dir.join(format!("ours{round}"));
        let t = Instant::now();
        bytes =
            mesos_containerizer::provisioner::registry::pull_blobs(&remote, "bench/big:1", &into)?;
        ours = ours.min(t.elapsed().as_secs_f64());
        let _ = std::fs::remove_dir_all(&into);
        let to = dir.join(format!("skopeo{round}"));
        let t = Instant::now();
        skopeo(
            format!("docker://{addr}/bench/big:1"),
            format!("dir:{}", to.display()),
        )?;
        theirs = theirs.min(t.elapsed().as_secs_f64());
        let _ = std::fs::remove_dir_all(&to);
    }
    Ok(json!({
        "pull_layers": args.pull_layers,
        "pull_mb": bytes as f64 / (1 << 20) as f64,
        "pull_s": ours,
        "skopeo_pull_s": theirs,
        "pull_ratio_vs_skopeo": ours / theirs,
    }))
}

async fn run(args: &Args) -> Result<(), String> {
    let pull = tokio::task::block_in_place(|| pull_bench(args));
    match &pull {
        Ok(p) => println!(
            "pull: {:.0} MB in {} layers: ours {:.2} s, skopeo {:.2} s ({:.2}x)",
            p["pull_mb"].as_f64().unwrap_or(0.0),
            p["pull_layers"],
            p["pull_s"].as_f64().unwrap_or(0.0),
            p["skopeo_pull_s"].as_f64().unwrap_or(0.0),
            p["pull_ratio_vs_skopeo"].as_f64().unwrap_or(0.0),
        ),
        Err(why) => println!("pull: skipped ({why})"),
    }
    let n = args.containers;
    // Enough descriptors for a thousand executors' connections.
    let _ =
        nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, 65536, 65536);
    // With --cni: a bridge with an address of the host's (the agent listens there: executors
    // in the containers' namespaces talk to it), and a network on it.
    let cni_dir = std::env::temp_dir().join(format!("mesos-containers-cni-{}", std::process::id()));
    let bridge = format!("mb{}", std::process::id() % 100_000);
    let rt = if args.cni {
        let gateway = "10.232.0.1";
        for a in [
            vec!["link", "add", "name", bridge.as_str(), "type", "bridge"],
            vec!["addr", "add", "10.232.0.1/16", "dev", bridge.as_str()],
            vec!["link", "set", bridge.as_str(), "up"],
        ] {
            let st = std::process::Command::new("ip")
                .args(&a)
                .status()
                .map_err(|e| format!("ip: {e}"))?;
            if !st.success() {
                return Err(format!("ip {a:?} failed"));
            }
        }
        std::fs::create_dir_all(cni_dir.join("conf")).map_err(|e| e.to_string())?;
        let conf = json!({
            "cniVersion": "0.4.0", "name": "bench", "type": "bridge", "bridge": bridge,
            "isGateway": true, "ipMasq": false,
            "ipam": {"type": "host-local", "subnet": "10.232.0.0/16",
                     "dataDir": cni_dir.join("ipam").display().to_string()}});
        std::fs::write(cni_dir.join("conf/bench.conf"), conf.to_string())
            .map_err(|e| e.to_string())?;
        Runtime::bind(libprocess::Config {
            ip: gateway.parse().map_err(|e| format!("{e}"))?,
            ..libprocess::Config::default()
        })
        .await
        .map_err(|e| e.to_string())?
    } else {
        Runtime::local().await.map_err(|e| e.to_string())?
    };
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
    // Every container's network is set up before its executor can subscribe: at a thousand,
    // the last ones wait longer than the default minute.
    f.executor_registration_timeout = Duration::from_secs(600);
    f.containerizer.isolation =
        mesos_containerizer::parse_isolation(&args.isolation).map_err(|e| e.to_string())?;
    if args.cni {
        f.containerizer.isolation =
            mesos_containerizer::parse_isolation(&format!("{},network/cni", args.isolation))
                .map_err(|e| e.to_string())?;
        f.containerizer.network_cni_config_dir = Some(cni_dir.join("conf"));
        f.containerizer.network_cni_plugins_dir = Some("/usr/lib/cni".into());
    }
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
    // A launch that fails still tears everything down (containers, their networks, cgroups)
    // before the error is told.
    let launched_ok: Result<(), String> = async {
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
                                container: args.cni.then(|| {
                                    let mut c =
                                        mesos_api::protocol::container::ContainerInfo::mesos();
                                    c.network_infos =
                                        vec![mesos_api::protocol::container::NetworkInfo {
                                            name: Some("bench".into()),
                                            ..Default::default()
                                        }];
                                    c
                                }),
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
                    other => {
                        return Err(format!("task {} went {other}: {:?}", s.task_id, s.message))
                    }
                },
            }
        }
        Ok(())
    }
    .await;
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
    if args.cni {
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &bridge])
            .status();
        let _ = std::fs::remove_dir_all(&cni_dir);
    }
    launched_ok?;
    println!(
        "containers: {n}, isolation {}{}",
        args.isolation,
        if args.cni { ",network/cni" } else { "" }
    );
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
                "cni": args.cni,
                "launch_s": launch_s,
                "destroy_s": destroy_s,
                "agent_rss_kib_per_container": per,
                "pull": pull.as_ref().ok(),
            })
        );
    }
    Ok(())
}
