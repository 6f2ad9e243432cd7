//! `allocator`: Mesos's allocator benchmark shapes on our allocator core, each row beside Mesos's
//! published figure and a bare pass over the same agents.
//!
//! ```text
//! allocator [--quick] [--json]                       every row, a table (and JSON of all rows)
//! allocator --shape decline-offers --agents N --frameworks M [--json]
//! allocator --shape suppress-offers --agents N --frameworks M [--suppressed 0.99] [--json]
//! allocator --shape quota [--json]                   LargeAndSmallQuota
//! allocator --shape sorter [--json]                  full sort, 50k agents x 1k clients
//! allocator --shape multi-framework [--json]
//! ```

use mesos_bench::alloc_shapes::{self, ms};

struct Args {
    quick: bool,
    json: bool,
    shape: Option<String>,
    agents: usize,
    frameworks: usize,
    suppressed: f64,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        quick: false,
        json: false,
        shape: None,
        agents: 10_000,
        frameworks: 1_000,
        suppressed: 1.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        let mut val = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match x.as_str() {
            "--quick" => a.quick = true,
            "--json" => a.json = true,
            "--shape" => a.shape = Some(val("--shape")?),
            "--agents" => {
                a.agents = val("--agents")?
                    .parse()
                    .map_err(|_| "--agents: not a number".to_string())?
            }
            "--frameworks" => {
                a.frameworks = val("--frameworks")?
                    .parse()
                    .map_err(|_| "--frameworks: not a number".to_string())?
            }
            "--suppressed" => {
                a.suppressed = val("--suppressed")?
                    .parse()
                    .map_err(|_| "--suppressed: not a number".to_string())?
            }
            o => return Err(format!("unknown flag '{o}'")),
        }
    }
    if a.agents == 0 || a.frameworks == 0 {
        return Err("--agents and --frameworks must be at least 1".into());
    }
    Ok(a)
}

fn decline_row(
    name: &str,
    agents: usize,
    frameworks: usize,
    suppress: f64,
    mesos: &str,
    rounds: usize,
) -> serde_json::Value {
    let f = alloc_shapes::decline_offers(agents, frameworks, rounds, suppress);
    println!(
        "{:<34} {:>9.2} {:>9.2} {:>9.2} {:>8} {:>9.3} {:>7.1}x {:>9.0}  {}",
        name,
        ms(f.round0),
        ms(f.rounds_median),
        ms(f.add_agents),
        f.offers_round0,
        ms(f.bare_pass),
        f.round0.as_secs_f64() / f.bare_pass.as_secs_f64().max(1e-9),
        f.rss_per_agent,
        mesos
    );
    serde_json::json!({
        "shape": name, "agents": agents, "frameworks": frameworks,
        "round0_ms": ms(f.round0), "rounds_median_ms": ms(f.rounds_median), "add_agents_ms": ms(f.add_agents),
        "offers_round0": f.offers_round0, "bare_pass_ms": ms(f.bare_pass),
        "rss_bytes_per_agent": f.rss_per_agent, "mesos": mesos,
    })
}

fn header() {
    println!(
        "{:<34} {:>9} {:>9} {:>9} {:>8} {:>9} {:>8} {:>9}  Mesos",
        "shape", "round0ms", "medianms", "addms", "offers", "bare ms", "vs bare", "rss/agt",
    );
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
    let out = match a.shape.as_deref() {
        Some("decline-offers") => {
            header();
            decline_row("DeclineOffers", a.agents, a.frameworks, 0.0, "", rounds)
        }
        Some("suppress-offers") => {
            header();
            decline_row(
                "SuppressOffers",
                a.agents,
                a.frameworks,
                a.suppressed,
                "",
                rounds,
            )
        }
        Some("quota") => {
            let (agents, small, large) = if a.quick {
                (300, 250, 50)
            } else {
                (3000, 2500, 500)
            };
            let (cycle, bare, offers) = alloc_shapes::large_and_small_quota(agents, small, large);
            println!(
                "LargeAndSmallQuota {agents} agents, {} roles: cycle {:.2} ms, {offers} offers, bare pass {:.3} ms (Mesos: 15.3 s at 3,000)",
                small + large,
                ms(cycle),
                ms(bare)
            );
            serde_json::json!({"shape": "quota", "agents": agents, "roles": small + large, "cycle_ms": ms(cycle), "bare_pass_ms": ms(bare), "offers": offers})
        }
        Some("sorter") => {
            let (agents, clients) = if a.quick {
                (5_000, 100)
            } else {
                (50_000, 1_000)
            };
            let (add, sort) = alloc_shapes::sorter_full_sort(agents, clients);
            println!("sorter {agents} agents x {clients} clients: add allocations {:.2} ms, full sort {:.3} ms (Mesos: 94 ms to add)", ms(add), ms(sort));
            serde_json::json!({"shape": "sorter", "agents": agents, "clients": clients, "add_ms": ms(add), "sort_ms": ms(sort)})
        }
        Some("multi-framework") => {
            let (cycle, bare) = alloc_shapes::multi_framework(if a.quick { 5 } else { 20 });
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
                &[
                    (1_000, 100, ""),
                    (10_000, 1_000, "1.06 s (1.7), ~1.1 s (1.8)"),
                ]
            } else {
                &[
                    (10_000, 1_000, "1.06 s (1.7), ~1.1 s (1.8)"),
                    (20_000, 2_000, "~3.8 s (1.8)"),
                    (30_000, 3_000, ""),
                    (50_000, 1_000, ""),
                ]
            };
            let mut rows = Vec::new();
            for (ag, fw, mesos) in grid {
                rows.push(decline_row(
                    &format!("DeclineOffers {ag}x{fw}"),
                    *ag,
                    *fw,
                    0.0,
                    mesos,
                    rounds,
                ));
            }
            let (ag, fw) = if a.quick {
                (1_000, 100)
            } else {
                (10_000, 1_000)
            };
            rows.push(decline_row(
                &format!("SuppressOffers {ag}x{fw}"),
                ag,
                fw,
                1.0,
                "",
                rounds,
            ));
            rows.push(decline_row(
                &format!("SuppressOffers99 {ag}x{fw}"),
                ag,
                fw,
                0.99,
                "",
                rounds,
            ));
            let (agents, small, large) = if a.quick {
                (300, 250, 50)
            } else {
                (3000, 2500, 500)
            };
            let (cycle, bare, offers) = alloc_shapes::large_and_small_quota(agents, small, large);
            println!("LargeAndSmallQuota {agents} agents: cycle {:.2} ms, {offers} offers, bare {:.3} ms, {:.1}x (Mesos: 15.3 s)", ms(cycle), ms(bare), cycle.as_secs_f64() / bare.as_secs_f64().max(1e-9));
            rows.push(serde_json::json!({"shape": "quota", "cycle_ms": ms(cycle), "bare_pass_ms": ms(bare)}));
            let (sa, sc) = if a.quick {
                (5_000, 100)
            } else {
                (50_000, 1_000)
            };
            let (add, sort) = alloc_shapes::sorter_full_sort(sa, sc);
            println!("Sorter {sa} agents x {sc} clients: add {:.2} ms, full sort {:.3} ms (Mesos: 94 ms to add)", ms(add), ms(sort));
            rows.push(
                serde_json::json!({"shape": "sorter", "add_ms": ms(add), "sort_ms": ms(sort)}),
            );
            let (cycle, bare) = alloc_shapes::multi_framework(if a.quick { 5 } else { 20 });
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
