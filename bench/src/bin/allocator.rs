//! `allocator`: Mesos's allocator benchmark shapes on our allocator core, each row beside Mesos's
//! published figure and a bare pass over the same agents.
//!
//! ```text
//! allocator [--quick] [--json]                       every row, a table (and JSON of all rows)
//! allocator --shape=decline-offers --agents=N --frameworks=M [--reps=K] [--json]
//! allocator --shape=suppress-offers --agents=N --frameworks=M [--suppressed=0.99] [--json]
//! allocator --shape=quota [--json]                   LargeAndSmallQuota
//! allocator --shape=sorter [--json]                  full sort, 50k agents x 1k clients
//! allocator --shape=multi-framework [--json]
//! ```
//! In the full table every DeclineOffers / SuppressOffers row runs in a fresh process (so its
//! memory figure is its own) and reports the best of 3 runs (the machine is shared).

use mesos_bench::alloc_shapes::{self, ms};

libprocess::flags! {
    /// `allocator`'s flags.
    struct Args {
        /// Smaller sizes, for a smoke test
        quick: bool = "false";
        /// Print one JSON object last
        json: bool = "false";
        /// Run one shape: decline-offers, suppress-offers, quota, sorter, multi-framework
        /// (default: every row, a table)
        shape: Option<String>;
        /// Agents (decline-offers, suppress-offers)
        agents: usize = "10000";
        /// Frameworks (decline-offers, suppress-offers)
        frameworks: usize = "1000";
        /// The share of frameworks that suppress, in [0, 1] (suppress-offers)
        suppressed: f64 = "1", check share;
        /// Runs of the shape; the best is reported
        reps: usize = "1";
    }
}

/// `--suppressed` is a share between 0 and 1.
fn share(name: &str, v: &f64) -> Result<(), String> {
    if !(0.0..=1.0).contains(v) {
        return Err(format!(
            "Flag '--{name}': '{v}' is not a share between 0 and 1"
        ));
    }
    Ok(())
}

fn parse() -> Result<Args, String> {
    let f = mesos_bench::load_flags("allocator", Args::FLAGS, std::env::args().skip(1), 2);
    let a = Args::from_flags(&f)?;
    if a.agents == 0 || a.frameworks == 0 || a.reps == 0 {
        return Err("--agents, --frameworks and --reps must be at least 1".into());
    }
    Ok(a)
}

fn header() {
    println!(
        "{:<30} {:>9} {:>9} {:>9} {:>7} {:>8} {:>8} {:>8}  Mesos",
        "shape", "round0ms", "medianms", "addms", "offers", "bare ms", "vs bare", "B/agent",
    );
}

fn decline_row(a: &Args, name: &str, suppress: f64, rounds: usize) -> serde_json::Value {
    // Best of `reps`; memory from the first run of this process.
    let mut f = alloc_shapes::decline_offers(a.agents, a.frameworks, rounds, suppress);
    for _ in 1..a.reps {
        let g = alloc_shapes::decline_offers(a.agents, a.frameworks, rounds, suppress);
        f.round0 = f.round0.min(g.round0);
        f.rounds_median = f.rounds_median.min(g.rounds_median);
        f.add_agents = f.add_agents.min(g.add_agents);
        f.bare_pass = f.bare_pass.min(g.bare_pass);
    }
    let name = format!("{name} {}x{}", a.agents, a.frameworks);
    println!(
        "{:<30} {:>9.2} {:>9.2} {:>9.2} {:>7} {:>8.3} {:>7.1}x {:>8.0}",
        name,
        ms(f.round0),
        ms(f.rounds_median),
        ms(f.add_agents),
        f.offers_round0,
        ms(f.bare_pass),
        f.round0.as_secs_f64() / f.bare_pass.as_secs_f64().max(1e-9),
        f.rss_per_agent,
    );
    serde_json::json!({
        "shape": name, "agents": a.agents, "frameworks": a.frameworks,
        "round0_ms": ms(f.round0), "rounds_median_ms": ms(f.rounds_median), "add_agents_ms": ms(f.add_agents),
        "offers_round0": f.offers_round0, "bare_pass_ms": ms(f.bare_pass),
        "rss_bytes_per_agent": f.rss_per_agent,
    })
}

/// Runs one row in a fresh process of this binary and returns its JSON (printing its row).
fn sub_row(
    a: &Args,
    shape: &str,
    agents: usize,
    frameworks: usize,
    extra: &[&str],
    mesos: &str,
) -> serde_json::Value {
    let exe = std::env::current_exe().expect("own path");
    let reps = if a.quick { 1 } else { 3 };
    let mut cmd = std::process::Command::new(exe);
    cmd.args([
        format!("--shape={shape}"),
        format!("--agents={agents}"),
        format!("--frameworks={frameworks}"),
        format!("--reps={reps}"),
        "--json".to_string(),
    ]);
    if a.quick {
        cmd.arg("--quick");
    }
    cmd.args(extra);
    let out = match cmd.output() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("allocator: cannot run a row: {e}");
            return serde_json::Value::Null;
        }
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    match serde_json::from_str::<serde_json::Value>(lines.last().copied().unwrap_or("")) {
        Ok(mut v) if out.status.success() => {
            println!("{}  {mesos}", lines.get(1).copied().unwrap_or(""));
            v["mesos"] = mesos.into();
            v
        }
        _ => {
            eprintln!(
                "allocator: row {shape} {agents}x{frameworks} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            serde_json::Value::Null
        }
    }
}

fn main() {
    let a = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("allocator: {e}");
            std::process::exit(2);
        }
    };
    let rounds = if a.quick { 3 } else { 9 };
    let (q_agents, q_small, q_large) = if a.quick {
        (300, 250, 50)
    } else {
        (3000, 2500, 500)
    };
    let (s_agents, s_clients) = if a.quick {
        (5_000, 100)
    } else {
        (50_000, 1_000)
    };
    let mf_rounds = if a.quick { 5 } else { 20 };
    let out = match a.shape.as_deref() {
        Some("decline-offers") => {
            header();
            decline_row(&a, "DeclineOffers", 0.0, rounds)
        }
        Some("suppress-offers") => {
            header();
            let name = if a.suppressed < 1.0 {
                format!("SuppressOffers{:.0}%", a.suppressed * 100.0)
            } else {
                "SuppressOffers".to_string()
            };
            decline_row(&a, &name, a.suppressed, rounds)
        }
        Some("quota") => {
            let (cycle, bare, offers) =
                alloc_shapes::large_and_small_quota(q_agents, q_small, q_large);
            println!(
                "LargeAndSmallQuota {q_agents} agents, {} roles: cycle {:.2} ms, {offers} offers, bare pass {:.3} ms (Mesos: 15.3 s at 3,000)",
                q_small + q_large,
                ms(cycle),
                ms(bare)
            );
            serde_json::json!({"shape": "quota", "agents": q_agents, "roles": q_small + q_large, "cycle_ms": ms(cycle), "bare_pass_ms": ms(bare), "offers": offers})
        }
        Some("sorter") => {
            let (add, sort) = alloc_shapes::sorter_full_sort(s_agents, s_clients);
            println!(
                "sorter {s_agents} agents x {s_clients} clients: add allocations {:.2} ms, full sort {:.3} ms (Mesos: 94 ms to add)",
                ms(add),
                ms(sort)
            );
            serde_json::json!({"shape": "sorter", "agents": s_agents, "clients": s_clients, "add_ms": ms(add), "sort_ms": ms(sort)})
        }
        Some("multi-framework") => {
            let (cycle, bare) = alloc_shapes::multi_framework(mf_rounds);
            println!(
                "multi-framework 80 agents: median cycle {:.3} ms, bare pass {:.4} ms",
                ms(cycle),
                ms(bare)
            );
            serde_json::json!({"shape": "multi-framework", "cycle_ms": ms(cycle), "bare_pass_ms": ms(bare)})
        }
        Some(other) => {
            eprintln!("allocator: unknown --shape '{other}' (decline-offers, suppress-offers, quota, sorter, multi-framework)");
            std::process::exit(2);
        }
        None => {
            header();
            let grid: &[(usize, usize, &str)] = if a.quick {
                &[(1_000, 100, ""), (10_000, 1_000, "1.06 s (1.7)")]
            } else {
                &[
                    (10_000, 1_000, "1.06 s (1.7), ~1.1 s (1.8)"),
                    (20_000, 2_000, "~3.8 s (1.8)"),
                    (30_000, 3_000, "-"),
                    (50_000, 1_000, "-"),
                ]
            };
            let mut rows = Vec::new();
            for (ag, fw, mesos) in grid {
                rows.push(sub_row(&a, "decline-offers", *ag, *fw, &[], mesos));
            }
            let (ag, fw) = if a.quick {
                (1_000, 100)
            } else {
                (10_000, 1_000)
            };
            rows.push(sub_row(&a, "suppress-offers", ag, fw, &[], "-"));
            rows.push(sub_row(
                &a,
                "suppress-offers",
                ag,
                fw,
                &["--suppressed=0.99"],
                "-",
            ));
            let (cycle, bare, offers) =
                alloc_shapes::large_and_small_quota(q_agents, q_small, q_large);
            println!(
                "LargeAndSmallQuota {q_agents} agents: cycle {:.2} ms, {offers} offers, bare {:.3} ms, {:.1}x (Mesos: 15.3 s)",
                ms(cycle),
                ms(bare),
                cycle.as_secs_f64() / bare.as_secs_f64().max(1e-9)
            );
            rows.push(serde_json::json!({"shape": "quota", "cycle_ms": ms(cycle), "bare_pass_ms": ms(bare)}));
            let (add, sort) = alloc_shapes::sorter_full_sort(s_agents, s_clients);
            println!(
                "Sorter {s_agents} agents x {s_clients} clients: add {:.2} ms, full sort {:.3} ms (Mesos: 94 ms to add)",
                ms(add),
                ms(sort)
            );
            rows.push(
                serde_json::json!({"shape": "sorter", "add_ms": ms(add), "sort_ms": ms(sort)}),
            );
            let (cycle, bare) = alloc_shapes::multi_framework(mf_rounds);
            println!(
                "Multi-framework 80 agents: median cycle {:.3} ms, bare {:.4} ms",
                ms(cycle),
                ms(bare)
            );
            rows.push(serde_json::json!({"shape": "multi-framework", "cycle_ms": ms(cycle), "bare_pass_ms": ms(bare)}));
            serde_json::json!({"quick": a.quick, "rows": rows})
        }
    };
    if a.json {
        println!("{out}");
    }
}
