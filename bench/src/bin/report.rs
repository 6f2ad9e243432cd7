//! `report`: runs the scale scenarios at full size and writes `bench/REPORT.md` with the tables
//! and SVG plots (the allocation run with every agent available, the offers per second and the
//! longest allocation run of the offer storm against agents for several framework counts, master
//! failover time against agents) and the master's CPU cost per 1,000 offers, launches and status
//! updates.
//!
//! ```text
//! cargo run --release -p mesos-bench --bin report [-- --quick] [--out=DIR]
//! ```
//! Each point runs in a fresh child process (`report __scale <scenario> --agents=N ... --json`),
//! so one point's memory or threads never touch the next. `--quick` runs a small grid (for a
//! smoke test) and writes to a temporary directory unless `--out` is given.

use std::path::{Path, PathBuf};
use std::process::Command;

use plotters::prelude::*;
use serde_json::Value;

libprocess::flags! {
    /// `report`'s flags.
    struct ReportFlags {
        /// A small grid, for a smoke test
        quick: bool = "false";
        /// Where to write REPORT.md and report/*.svg (default: bench/, or a temporary
        /// directory with --quick)
        out: Option<PathBuf>;
    }
}

struct Grid {
    agents: Vec<usize>,
    frameworks: Vec<usize>,
    failover_agents: Vec<usize>,
    /// High availability: (agents, tasks) of the failover with ZooKeeper, and the agents of
    /// the registry recovery point (one task each).
    ha: (usize, usize, usize),
    window: u64,
    launch: (usize, usize),
    state: (usize, usize, usize),
}

fn grid(quick: bool) -> Grid {
    if quick {
        Grid {
            agents: vec![500, 1_000],
            frameworks: vec![10, 50],
            failover_agents: vec![500, 1_000],
            ha: (1_000, 5_000, 2_000),
            window: 1,
            launch: (1_000, 2_000),
            state: (500, 2_000, 2_000),
        }
    } else {
        Grid {
            agents: vec![1_000, 5_000, 10_000, 20_000, 30_000, 50_000],
            frameworks: vec![10, 100, 1_000],
            failover_agents: vec![1_000, 5_000, 10_000, 20_000, 40_000],
            ha: (40_000, 400_000, 50_000),
            window: 3,
            launch: (30_000, 50_000),
            state: (20_000, 200_000, 200_000),
        }
    }
}

/// Runs one scenario in a child process; its JSON result.
fn point(args: &[String]) -> Result<Value, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    eprintln!("report: scale {}", args.join(" "));
    let out = Command::new(exe)
        .arg("__scale")
        .args(args)
        .arg("--json")
        .output()
        .map_err(|e| format!("cannot run a scenario: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "scale {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let last = text.lines().last().unwrap_or("");
    serde_json::from_str(last).map_err(|e| format!("scale {}: bad JSON: {e}", args.join(" ")))
}

fn s(x: impl ToString) -> String {
    x.to_string()
}

fn num(v: &Value, k: &str) -> f64 {
    v[k].as_f64().unwrap_or(0.0)
}

/// One line per framework count: (label, [(agents, y)]).
type Series = Vec<(String, Vec<(f64, f64)>)>;

fn plot(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &Series,
) -> Result<(), String> {
    let xmax = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|q| q.0))
        .fold(1.0, f64::max);
    let ymax = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|q| q.1))
        .fold(1e-9, f64::max)
        * 1.15;
    let root = SVGBackend::new(path, (760, 440)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..xmax * 1.05, 0.0..ymax)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .draw()
        .map_err(|e| e.to_string())?;
    let colors = [BLUE, RED, GREEN, MAGENTA, CYAN, BLACK];
    for (i, (label, pts)) in series.iter().enumerate() {
        let c = colors[i % colors.len()];
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c));
        chart
            .draw_series(pts.iter().map(|&p| Circle::new(p, 3, c.filled())))
            .map_err(|e| e.to_string())?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

/// [`plot`] on a logarithmic y axis, with reference points (e.g. Mesos's published figures)
/// drawn as crosses.
fn plot_log(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &Series,
    reference: &[(&str, f64, f64)],
) -> Result<(), String> {
    let all_y = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|q| q.1))
        .chain(reference.iter().map(|r| r.2));
    let (ymin, ymax) = all_y.fold((f64::MAX, 1e-9_f64), |(lo, hi), y| (lo.min(y), hi.max(y)));
    let xmax = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|q| q.0))
        .chain(reference.iter().map(|r| r.1))
        .fold(1.0, f64::max);
    let root = SVGBackend::new(path, (760, 440)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(
            0.0..xmax * 1.05,
            ((ymin * 0.5).max(1e-3)..ymax * 2.0).log_scale(),
        )
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .draw()
        .map_err(|e| e.to_string())?;
    let colors = [BLUE, RED, GREEN, MAGENTA, CYAN, BLACK];
    for (i, (label, pts)) in series.iter().enumerate() {
        let c = colors[i % colors.len()];
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(label.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c));
        chart
            .draw_series(pts.iter().map(|&p| Circle::new(p, 3, c.filled())))
            .map_err(|e| e.to_string())?;
    }
    for (label, x, y) in reference {
        chart
            .draw_series(std::iter::once(Cross::new(
                (*x, *y),
                6,
                BLACK.stroke_width(2),
            )))
            .map_err(|e| e.to_string())?
            .label(label.to_string())
            .legend(|(x, y)| Cross::new((x + 9, y), 5, BLACK.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

/// Mesos's published allocation-cycle figures: (what, agents, ms).
const MESOS_CYCLES: [(&str, f64, f64); 2] = [
    (
        "Mesos 1.x, 1,000 frameworks (10k agents: 1.06 s)",
        10_000.0,
        1_060.0,
    ),
    (
        "Mesos 1.x, 2,000 frameworks (20k agents: ~3.8 s)",
        20_000.0,
        3_800.0,
    ),
];

fn run(quick: bool, out: &Path) -> Result<(), String> {
    std::fs::create_dir_all(out.join("report")).map_err(|e| e.to_string())?;
    let g = grid(quick);
    let started = std::time::Instant::now();

    // Offer storm over the grid.
    let mut storm = Vec::new();
    for &f in &g.frameworks {
        for &a in &g.agents {
            let v = point(&[
                s("offer-storm"),
                format!("--agents={a}"),
                format!("--frameworks={f}"),
                format!("--window-secs={}", g.window),
            ])?;
            storm.push((a, f, v["runs"][0].clone()));
        }
    }
    let series = |key: &str| -> Series {
        g.frameworks
            .iter()
            .map(|&f| {
                (
                    format!("{f} frameworks"),
                    storm
                        .iter()
                        .filter(|(_, ff, _)| *ff == f)
                        .map(|(a, _, v)| (*a as f64, num(v, key)))
                        .collect(),
                )
            })
            .collect()
    };
    // The allocation cycle with every agent available to every framework: round 0 of the
    // allocator benchmark (DeclineOffers), in this process, per point.
    let mut round0 = Vec::new();
    for &f in &g.frameworks {
        for &a in &g.agents {
            eprintln!("report: allocator decline-offers --agents={a} --frameworks={f}");
            let d = mesos_bench::alloc_shapes::decline_offers(a, f, 1, 0.0);
            round0.push((
                a,
                f,
                d.round0.as_secs_f64() * 1e3,
                d.bare_pass.as_secs_f64() * 1e3,
            ));
        }
    }
    let round0_series: Series = g
        .frameworks
        .iter()
        .map(|&f| {
            (
                format!("{f} frameworks"),
                round0
                    .iter()
                    .filter(|r| r.1 == f)
                    .map(|r| (r.0 as f64, r.2))
                    .collect(),
            )
        })
        .collect();
    plot_log(
        &out.join("report/alloc_cycle.svg"),
        "Allocation run with every agent available (round 0) vs agents",
        "agents",
        "ms (log)",
        &round0_series,
        &MESOS_CYCLES,
    )?;
    plot(
        &out.join("report/alloc_longest.svg"),
        "Longest allocation run during the offer storm vs agents",
        "agents",
        "ms",
        &series("alloc_cycle_max_ms"),
    )?;
    plot(
        &out.join("report/offers_per_s.svg"),
        "Offers per second to frameworks (end to end) vs agents",
        "agents",
        "offers/s",
        &series("offers_per_s"),
    )?;

    // Failover over agents, 10 tasks per agent over 5 frameworks.
    let mut fo = Vec::new();
    for &a in &g.failover_agents {
        let v = point(&[
            s("failover"),
            format!("--agents={a}"),
            format!("--tasks={}", a * 10),
        ])?;
        fo.push((a, v));
    }
    plot(
        &out.join("report/failover.svg"),
        "Master failover: all agents reregistered and frameworks resubscribed",
        "agents (10 tasks each)",
        "seconds",
        &vec![(
            "failover".to_string(),
            fo.iter()
                .map(|(a, v)| (*a as f64, num(v, "failover_s")))
                .collect(),
        )],
    )?;

    // High availability: three masters and a ZooKeeper; and the registry read at its size.
    // (The smoke test waits out a shorter ZooKeeper session.)
    let ha_point = |agents: usize, tasks: usize| {
        let mut args = vec![
            s("failover"),
            s("--ha"),
            format!("--agents={agents}"),
            format!("--tasks={tasks}"),
        ];
        if quick {
            args.push(s("--zk-session-timeout-secs=3"));
        }
        point(&args)
    };
    let ha = ha_point(g.ha.0, g.ha.1)?;
    let ha_big = ha_point(g.ha.2, g.ha.2)?;

    let launch = point(&[
        s("launch-storm"),
        format!("--agents={}", g.launch.0),
        format!("--tasks={}", g.launch.1),
    ])?;
    let state = point(&[
        s("state"),
        format!("--agents={}", g.state.0),
        format!("--tasks={}", g.state.1),
        format!("--completed={}", g.state.2),
    ])?;

    // The report.
    let big = fo.last().map(|(_, v)| v.clone()).unwrap_or(Value::Null);
    let storm_at = |a: usize, f: usize| {
        storm
            .iter()
            .find(|(aa, ff, _)| *aa == a && *ff == f)
            .map(|(_, _, v)| v.clone())
    };
    let top_agents = *g
        .agents
        .iter()
        .filter(|&&a| a <= 30_000)
        .max()
        .unwrap_or(&0);
    let mut md = String::new();
    md.push_str("# Scale report\n\n");
    md.push_str(&format!(
        "Made by `cargo run --release -p mesos-bench --bin report{}` on the shared 2-core \
         development machine in {:.0} s. The master (with its allocator actor) runs in one OS \
         process; simulated agents (2 processes x 4 runtimes) and frameworks (1 process) run in \
         others and speak the binary transport over loopback. Allocation interval 100 ms; agents \
         `{}`. Each point is a fresh process; `scale <scenario> --help` lists the knobs.\n\n",
        if quick { " -- --quick" } else { "" },
        started.elapsed().as_secs_f64(),
        mesos_bench::scale::AGENT_RESOURCES
    ));
    md.push_str("## Headline\n\n| scenario | ours | Mesos / reference | target | met |\n|---|---|---|---|---|\n");
    for &f in &g.frameworks {
        if let Some(v) = storm_at(top_agents, f) {
            md.push_str(&format!(
                "| offer storm, {top_agents} agents x {f} frameworks | {:.0} offers/s, longest run {:.1} ms, {:.1} µs master CPU per offer | cycle 1.06 s at 10k x 1k | >= 150,000 offers/s, longest run <= 100 ms | {} |\n",
                num(&v, "offers_per_s"),
                num(&v, "alloc_cycle_max_ms"),
                num(&v, "master_cpu_us_per_offer"),
                yes(num(&v, "offers_per_s") >= 150_000.0 && num(&v, "alloc_cycle_max_ms") <= 100.0)
            ));
        }
    }
    md.push_str(&format!(
        "| launch storm, {} tasks / 10 frameworks / {} agents | {:.2} s ({:.0} tasks/s) | Verizon 50k in 100 s; Nomad ~3,750/s | <= 5 s | {} |\n",
        launch["tasks"], launch["agents"], num(&launch, "launch_s"), num(&launch, "tasks_per_s"),
        yes(num(&launch, "launch_s") <= 5.0)
    ));
    md.push_str(&format!(
        "| master failover, {} agents / {} tasks | {:.2} s | ~19 s (Mesos 1.5) | <= 5 s | {} |\n",
        big["agents"],
        big["tasks"],
        num(&big, "failover_s"),
        yes(num(&big, "failover_s") <= 5.0)
    ));
    let session = num(&ha, "zk_session_timeout_s");
    md.push_str(&format!(
        "| HA failover (3 masters, ZooKeeper, leader SIGKILLed), {} agents / {} tasks | {:.2} s (elected after {:.2} s) | ~19 s (Mesos 1.5) | <= session timeout ({session:.0} s) + 5 s | {} |\n",
        ha["agents"],
        ha["tasks"],
        num(&ha, "failover_s"),
        num(&ha, "election_s"),
        yes(num(&ha, "failover_s") <= session + 5.0)
    ));
    md.push_str(&format!(
        "| registry admission, {} agents at once (ZooKeeper) | {:.2} s | - | <= 5 s | {} |\n",
        ha["agents"],
        num(&ha, "registry_admit_s"),
        yes(num(&ha, "registry_admit_s") <= 5.0)
    ));
    md.push_str(&format!(
        "| registry recovery, {} agents ({:.1} MiB) | {:.0} ms | - | <= 1000 ms | {} |\n",
        ha_big["agents"],
        num(&ha_big, "registry_size_bytes") / 1048576.0,
        num(&ha_big, "registry_recover_ms"),
        yes(num(&ha_big, "registry_recover_ms") <= 1000.0)
    ));
    md.push_str(&format!(
        "| `/master/state`, {} agents, {} running + {} completed | {:.0} ms ({:.0} MB) | ~3.1 s | <= 500 ms | {} |\n",
        state["agents"], state["running_tasks"], state["completed_tasks"], num(&state, "state_ms"),
        num(&state, "state_bytes") / 1e6, yes(num(&state, "state_ms") <= 500.0)
    ));
    md.push_str(&format!(
        "| master RSS, {} agents / {} tasks | {:.0} MiB ({:.0} B/agent, {:.0} B/task) | - | <= 2 KiB per task | {} |\n\n",
        big["agents"], big["tasks"], num(&big, "rss_bytes") / 1048576.0,
        num(&big, "rss_bytes_per_agent"), num(&big, "rss_bytes_per_task"),
        yes(num(&big, "rss_bytes_per_task") <= 2048.0)
    ));
    md.push_str(
        "## Allocation cycle\n\nHow the cost of one allocation run grows with the cluster: the \
        first round of the allocator benchmark (DeclineOffers: every agent available to every \
        framework, each agent offered once; `allocator --shape=decline-offers --agents=A \
        --frameworks=F`), in the allocator alone, one point per run, on a log scale with Mesos's \
        published cycle times as crosses. The bare pass is the same walk over the agents with \
        nothing to decide, measured in the same run.\n\n",
    );
    md.push_str("![allocation cycle](report/alloc_cycle.svg)\n\n| agents | frameworks | round 0 (ms) | bare pass (ms) |\n|---|---|---|---|\n");
    for (a, f, r0, bare) in &round0 {
        md.push_str(&format!("| {a} | {f} | {r0:.1} | {bare:.2} |\n"));
    }
    md.push_str(
        "\n## Offer storm\n\nEvery framework declines every offer with a year-long refuse filter; \
        offers/s counts offers received by the frameworks over the window (or until every agent is \
        filtered for every framework). The longest run is the slowest full allocation run \
        (`allocator/mesos/allocation_run_ms`) in the window: the first ones, when nearly every \
        agent is available at once. The median run is shown in the table only: most runs in the \
        window find nearly every agent already filtered, so it says little about the cluster's \
        size. Master CPU per offer is this process's CPU time over the window divided by the \
        offers (an upper bound: the quiet end of the window counts too).\n\n",
    );
    md.push_str("![offers per second](report/offers_per_s.svg)\n\n![longest allocation run](report/alloc_longest.svg)\n\n");
    md.push_str("| agents | frameworks | offers/s | master CPU per offer (µs) | longest run (ms) | median run (ms) | full runs |\n|---|---|---|---|---|---|---|\n");
    for (a, f, v) in &storm {
        md.push_str(&format!(
            "| {a} | {f} | {:.0} | {:.1} | {:.1} | {:.1} | {} |\n",
            num(v, "offers_per_s"),
            num(v, "master_cpu_us_per_offer"),
            num(v, "alloc_cycle_max_ms"),
            num(v, "alloc_cycle_ms"),
            v["alloc_full_runs"]
        ));
    }
    md.push_str(
        "\n## Master CPU cost\n\nTo size a master: the master's CPU seconds (user + system, \
        from `getrusage`) per 1,000 of each kind of work, measured in the runs above. Offers: the \
        offer storm at the largest cluster, each framework count. Launches: the launch storm \
        (offer, accept, launch, the agent's RUNNING update and its acknowledgement). Status \
        updates: a second wave of as many tasks on the same cluster, each finishing right after \
        RUNNING; its extra CPU per task over the first wave is one status update more (FINISHED, \
        its acknowledgement, the task moved to the completed list).\n\n| work | master CPU s per 1,000 | from |\n|---|---|---|\n",
    );
    for &f in &g.frameworks {
        if let Some(v) = storm_at(top_agents, f) {
            md.push_str(&format!(
                "| offers ({top_agents} agents, {f} frameworks) | {:.3} | offer storm |\n",
                num(&v, "master_cpu_us_per_offer") / 1000.0
            ));
        }
    }
    md.push_str(&format!(
        "| task launches (with their RUNNING update) | {:.3} | launch storm, {} tasks |\n",
        num(&launch, "master_cpu_s_per_1000_launches"),
        launch["tasks"]
    ));
    md.push_str(&format!(
        "| status updates | {:.3} | launch storm, second wave |\n",
        num(&launch, "master_cpu_s_per_1000_status_updates")
    ));
    md.push_str("\n## Master failover\n\nAgents register, 5 frameworks launch 10 tasks per agent and see them RUNNING; \
        the master is stopped and a new one (empty) starts on the same port; the time is until every agent \
        has reregistered with its tasks and every framework has resubscribed. Agents wait a random time \
        below their 1 s registration backoff factor (as Mesos agents do) and the SDK resubscribes after 1 s.\n\n");
    md.push_str("![failover](report/failover.svg)\n\n| agents | tasks | failover (s) | master RSS (MiB) | B/agent | B/task |\n|---|---|---|---|---|---|\n");
    for (a, v) in &fo {
        md.push_str(&format!(
            "| {a} | {} | {:.2} | {:.0} | {:.0} | {:.0} |\n",
            v["tasks"],
            num(v, "failover_s"),
            num(v, "rss_bytes") / 1048576.0,
            num(v, "rss_bytes_per_agent"),
            num(v, "rss_bytes_per_task")
        ));
    }
    md.push_str(
        "\n## High availability\n\nThree masters (child processes) contend through a real ZooKeeper \
        (Debian's `zookeeper`, 1 GiB heap) with `--registry=replicated_log`, so the registry lives in \
        ZooKeeper; agents (one ZooKeeper session per agent process) and frameworks find the leader \
        there. The agents register through the registry (admission), the frameworks launch 10 tasks \
        per agent, then the leader is SIGKILLed: election is the time until another master says it is \
        elected (its ZooKeeper session must expire first: `--zk_session_timeout`), failover until \
        every agent has reregistered and every framework resubscribed with every task, and recovery \
        is the new leader's read of the registry (`registrar/state_fetch_ms`: snapshot and log read \
        and decoded).\n\n| agents | tasks | session timeout (s) | admission (s) | registry stores | election (s) | failover (s) | after election (s) | registry (MiB) | recovery (ms) |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for v in [&ha, &ha_big] {
        md.push_str(&format!(
            "| {} | {} | {:.0} | {:.2} | {} | {:.2} | {:.2} | {:.2} | {:.1} | {:.0} |\n",
            v["agents"],
            v["tasks"],
            num(v, "zk_session_timeout_s"),
            num(v, "registry_admit_s"),
            v["registry_stores"],
            num(v, "election_s"),
            num(v, "failover_s"),
            num(v, "failover_after_election_s"),
            num(v, "registry_size_bytes") / 1048576.0,
            num(v, "registry_recover_ms"),
        ));
    }
    md.push_str("\n## Commands\n\n```text\n");
    md.push_str("cargo run --release -p mesos-bench --bin scale -- offer-storm --agents=A --frameworks=F --window-secs=3 --json\n");
    md.push_str("cargo run --release -p mesos-bench --bin scale -- failover --agents=A --tasks=10A --json\n");
    md.push_str("cargo run --release -p mesos-bench --bin scale -- failover --ha --json    # 3 masters + ZooKeeper, 40k agents, 400k tasks\n");
    md.push_str("cargo run --release -p mesos-bench --bin scale -- failover --ha --agents=50000 --tasks=50000 --json\n");
    md.push_str("cargo run --release -p mesos-bench --bin scale -- launch-storm --json      # 30k agents, 50k tasks, 10 frameworks\n");
    md.push_str("cargo run --release -p mesos-bench --bin scale -- state --json             # 20k agents, 200k + 200k tasks\n");
    md.push_str("cargo run --release -p mesos-bench --bin scale -- memory --json            # 40k agents, 400k tasks\n```\n");
    std::fs::write(out.join("REPORT.md"), md).map_err(|e| e.to_string())?;
    println!("wrote {}", out.join("REPORT.md").display());
    Ok(())
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn main() {
    mesos_bench::sim::child_main_if_requested();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("__scale") {
        std::process::exit(mesos_bench::scale::main_with(&args[1..]));
    }
    let f = mesos_bench::load_flags("report", ReportFlags::FLAGS, args, 1);
    let f = ReportFlags::from_flags(&f).unwrap_or_else(|e| {
        eprintln!("report: {e}");
        std::process::exit(1)
    });
    let quick = f.quick;
    let out = match f.out {
        Some(p) => p,
        None if quick => std::env::temp_dir().join("mesos-rs-report-quick"),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")),
    };
    if let Err(e) = run(quick, &out) {
        eprintln!("report: {e}");
        std::process::exit(1);
    }
}
