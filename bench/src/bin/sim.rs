//! `sim`: the whole cluster in one thread, in virtual time, on a simulated network, reproducible
//! from a seed ([`mesos_bench::dsim`]).
//!
//! ```text
//! sim --seed=S [--agents=N] [--agent=real|stand-in] [--frameworks=F] [--faults=PROFILE]
//!     [--duration=SECS] [--json]
//! sim --seeds=A..B [--jobs=J] [...]        many seeds in parallel processes; prints the failing
//! ```
//! Profiles: quiet, drops, short-partitions, long-partitions, framework-failover,
//! agent-restart, master-failover. A run that
//! breaks an invariant prints what broke, the seed, and the end of its event log, and exits 1.

use std::process::{Command, Stdio};
use std::time::Duration;

use std::io::Write as _;

use mesos_bench::dsim::{self, AgentKind, Options, Outcome, Profile};

/// Prints a line; a closed stdout (`sim ... | head`) is not an error worth a panic.
macro_rules! say {
    ($($t:tt)*) => {{
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}
use serde_json::json;

libprocess::flags! {
    /// `sim`'s flags.
    struct Args {
        /// The run's seed (every random choice comes from it)
        seed: u64 = "1";
        /// Run seeds A..B (B excluded), each in its own process; print the failing ones
        seeds: Option<String>;
        /// Processes at once with --seeds
        jobs: usize = "2";
        /// Agents
        agents: usize = "20";
        /// Which agent: real (the agent's own code, with simulated containers) or stand-in
        /// (the scale simulator's protocol-level agent, faster)
        agent: String = "real";
        /// Frameworks
        frameworks: usize = "3";
        /// Tasks each framework keeps running
        tasks: usize = "20";
        /// The fault profile: quiet, drops, short-partitions, long-partitions,
        /// framework-failover, agent-restart, master-failover
        faults: String = "quiet";
        /// Simulated seconds
        duration: u64 = "600";
        /// The master's policy between roles: drf or random
        role_sorter: String = "drf";
        /// The master's policy between the frameworks of a role: drf or random
        framework_sorter: String = "drf";
        /// With --json, also each sample of the frameworks' dominant shares and of the
        /// cluster's utilisation (every 5 simulated seconds)
        series: bool = "false";
        /// Print the event log (its last 10,000 lines) after the run
        log: bool = "false";
        /// Print one JSON object last
        json: bool = "false";
        /// Also log what the master and frameworks log, to stderr, at this level (INFO,
        /// WARNING or ERROR; default: no logs). Their timestamps are the machine's
        logging_level: Option<String>;
    }
}

fn parse() -> Result<(Args, Profile, AgentKind), String> {
    let f = mesos_bench::load_flags("sim", Args::FLAGS, std::env::args().skip(1), 2);
    let a = Args::from_flags(&f)?;
    let p = Profile::parse(&a.faults).map_err(|e| format!("Flag '--faults': {e}"))?;
    let k = AgentKind::parse(&a.agent).map_err(|e| format!("Flag '--agent': {e}"))?;
    if a.duration < 60 {
        return Err("Flag '--duration': at least 60 simulated seconds".into());
    }
    if a.agents == 0 || a.frameworks == 0 || a.jobs == 0 {
        return Err("--agents, --frameworks and --jobs must be at least 1".into());
    }
    if a.agents > 60_000 || a.frameworks > 60_000 {
        return Err("--agents and --frameworks: at most 60000 (one address each)".into());
    }
    for (name, v) in [
        ("role_sorter", &a.role_sorter),
        ("framework_sorter", &a.framework_sorter),
    ] {
        v.parse::<mesos_allocator::SorterKind>()
            .map_err(|e| format!("Flag '--{name}': {e}"))?;
    }
    if k == AgentKind::StandIn && p == Profile::AgentRestart {
        return Err(
            "--faults=agent-restart needs --agent=real (the stand-in has no work dir to recover from)"
                .into(),
        );
    }
    Ok((a, p, k))
}

fn seeds(s: &str) -> Result<std::ops::Range<u64>, String> {
    let bad = || format!("Flag '--seeds': '{s}' is not a range A..B");
    let (a, b) = s.split_once("..").ok_or_else(bad)?;
    let (a, b): (u64, u64) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
    if a >= b {
        return Err(bad());
    }
    Ok(a..b)
}

fn summary(o: &Outcome, p: Profile, a: &Args) -> serde_json::Value {
    let r = &o.research;
    let (cpus, mem) = r.utilisation_mean();
    let (p50, p99, max) = r.offer_wait_quantiles();
    let mut research = json!({
        "role_sorter": a.role_sorter,
        "framework_sorter": a.framework_sorter,
        "steady_s": [r.steady_from, r.steady_to],
        "fairness_jain": r.fairness(),
        "utilisation": {"cpus": cpus, "mem": mem},
        "offer_wait_s": {"p50": p50, "p99": p99, "max": max, "count": r.offer_waits.len()},
    });
    if a.series {
        research["dominant_shares"] = json!(r.shares);
        research["utilisation_series"] = json!(r.utilisation);
    }
    let agent = &a.agent;
    json!({
        "research": research,
        "seed": o.seed,
        "faults": p.name(),
        "agent": agent,
        "simulated_s": o.simulated_s,
        "wall_s": o.wall_s,
        "simulated_s_per_wall_s": o.simulated_s / o.wall_s.max(1e-9),
        "log_hash": format!("{:016x}", o.log_hash),
        "log_lines": o.log_lines,
        "launched": o.launched,
        "updates": o.updates,
        "ended": o.ended,
        "faults_injected": o.faults,
        "executors_adopted": o.executors_adopted,
        "violations": o.violations,
    })
}

fn one(a: &Args, p: Profile, k: AgentKind) -> i32 {
    let o = dsim::run(&Options {
        seed: a.seed,
        agents: a.agents,
        agent_kind: k,
        role_sorter: a.role_sorter.clone(),
        framework_sorter: a.framework_sorter.clone(),
        allocator: None,
        frameworks: a.frameworks,
        profile: p,
        duration: Duration::from_secs(a.duration),
        tasks: a.tasks,
        keep_log: a.log,
    });
    say!(
        "seed {} ({}): {:.0} simulated s in {:.2} s ({:.0}x), {} tasks launched, {} updates, \
         {} faults, log {:016x} ({} lines), {}",
        o.seed,
        p.name(),
        o.simulated_s,
        o.wall_s,
        o.simulated_s / o.wall_s.max(1e-9),
        o.launched,
        o.updates,
        o.faults,
        o.log_hash,
        o.log_lines,
        if o.violations.is_empty() {
            "every invariant held".to_string()
        } else {
            format!("{} violations", o.violations.len())
        }
    );
    let r = &o.research;
    let (cpus, mem) = r.utilisation_mean();
    let (p50, p99, _) = r.offer_wait_quantiles();
    say!(
        "  policy (roles {}, frameworks {}), {:.0}-{:.0} s: fairness (Jain's index of dominant \
         shares) {:.3}, cpus {:.0}% and mem {:.0}% in use, waits for an offer p50 {:.1} s, p99 {:.1} s",
        a.role_sorter,
        a.framework_sorter,
        r.steady_from,
        r.steady_to,
        r.fairness(),
        cpus * 100.0,
        mem * 100.0,
        p50,
        p99
    );
    if a.log {
        for l in &o.log_tail {
            say!("{l}");
        }
    } else if !o.violations.is_empty() {
        for v in o.violations.iter().take(20) {
            say!("  violation: {v}");
        }
        say!("  replay: sim --seed={} --faults={} --agents={} --agent={} --frameworks={} --tasks={} --duration={} --role_sorter={} --framework_sorter={}",
            o.seed, p.name(), a.agents, a.agent, a.frameworks, a.tasks, a.duration, a.role_sorter, a.framework_sorter);
        if o.suffix_lines > 0 {
            say!(
                "  the shortest end of the event log that shows it is its last {} lines (all with --log); \
                 what they say of its tasks and of the faults:",
                o.suffix_lines
            );
            for l in &o.story {
                say!("    {l}");
            }
        }
        say!("  the event log's end:");
        for l in &o.log_tail {
            say!("    {l}");
        }
    }
    if a.json {
        say!("{}", summary(&o, p, a));
    }
    i32::from(!o.violations.is_empty())
}

fn many(a: &Args, p: Profile, range: std::ops::Range<u64>) -> i32 {
    let exe = std::env::current_exe().expect("own path");
    let mut pending: Vec<u64> = range.rev().collect();
    let mut running: Vec<(u64, std::process::Child)> = Vec::new();
    let mut failed = Vec::new();
    let mut done = 0;
    while !pending.is_empty() || !running.is_empty() {
        while running.len() < a.jobs {
            let Some(s) = pending.pop() else { break };
            let child = Command::new(&exe)
                .args([
                    format!("--seed={s}"),
                    format!("--faults={}", p.name()),
                    format!("--agents={}", a.agents),
                    format!("--agent={}", a.agent),
                    format!("--role_sorter={}", a.role_sorter),
                    format!("--framework_sorter={}", a.framework_sorter),
                    format!("--frameworks={}", a.frameworks),
                    format!("--tasks={}", a.tasks),
                    format!("--duration={}", a.duration),
                ])
                .stdout(Stdio::piped())
                .spawn()
                .expect("a child sim");
            running.push((s, child));
        }
        let (s, child) = running.remove(0);
        let out = child.wait_with_output().expect("a child sim ends");
        done += 1;
        if !out.status.success() {
            failed.push(s);
            let _ = std::io::stdout().write_all(&out.stdout);
        }
    }
    say!(
        "{} seeds ({}): {} failed{}",
        done,
        p.name(),
        failed.len(),
        if failed.is_empty() {
            String::new()
        } else {
            format!(": {failed:?}")
        }
    );
    if a.json {
        say!(
            "{}",
            json!({"faults": p.name(), "seeds": done, "failed": failed})
        );
    }
    i32::from(!failed.is_empty())
}

fn main() {
    let (a, p, k) = match parse() {
        Ok(x) => x,
        Err(e) => {
            eprintln!("sim: {e}");
            std::process::exit(2);
        }
    };
    if let Some(level) = &a.logging_level {
        let mut net = mesos_cli::NetworkFlags::from_defaults(&[]).expect("the default flags parse");
        net.logging_level = level.clone();
        if let Err(e) = mesos_cli::init_logging(&net) {
            eprintln!("sim: {e}");
            std::process::exit(2);
        }
    }
    let code = match a.seeds.as_deref().map(seeds) {
        None => one(&a, p, k),
        Some(Ok(r)) => many(&a, p, r),
        Some(Err(e)) => {
            eprintln!("sim: {e}");
            2
        }
    };
    std::process::exit(code);
}
