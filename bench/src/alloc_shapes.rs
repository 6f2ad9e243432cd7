//! Mesos's allocator benchmark shapes, run on the pure allocator core, each beside a bare pass
//! that touches the same agents' resources once (the physical floor for a cycle).

use std::time::{Duration, Instant};

use mesos_allocator::{
    AgentSpec, Allocation, Allocator, FrameworkSpec, HierarchicalAllocator, Options, Quota,
};
use mesos_api::{AgentID, FrameworkID, ResourceQuantities, Resources};

/// Mesos's agent in the DeclineOffers benchmark.
pub const AGENT: &str = "cpus:24;mem:4096;disk:4096;ports:[31000-32000]";
/// What each agent already runs (16 cpus), allocated round-robin to the frameworks.
pub const USED: &str = "cpus:16;mem:1024;disk:1024;ports:[31000-31500]";

/// Milliseconds of a duration.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Resident set size of this process, in bytes.
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|x| x.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// One pass over the agents' resources: clone each and total its scalars.
pub fn bare_pass(agents: &[Resources]) -> Duration {
    let t = Instant::now();
    let mut total = 0i64;
    for r in agents {
        let c = std::hint::black_box(r.clone());
        for x in c.iter() {
            if let Some(s) = x.scalar_value() {
                total += s.millis();
            }
        }
    }
    std::hint::black_box(total);
    t.elapsed()
}

/// The figures of one DeclineOffers (or SuppressOffers) run.
#[derive(Debug, Clone)]
pub struct DeclineFigures {
    /// Agents in the cluster.
    pub agents: usize,
    /// Frameworks subscribed.
    pub frameworks: usize,
    /// Time to add every agent.
    pub add_agents: Duration,
    /// The first allocation round (everything offered).
    pub round0: Duration,
    /// The median of the later rounds.
    pub rounds_median: Duration,
    /// Offers made in the first round.
    pub offers_round0: usize,
    /// One allocation pass with nothing to offer.
    pub bare_pass: Duration,
    /// Resident memory per agent, in bytes.
    pub rss_per_agent: f64,
}

fn fw_id(i: usize) -> FrameworkID {
    FrameworkID::new(format!("framework-{i:05}"))
}

fn agent_id(i: usize) -> AgentID {
    AgentID::new(format!("agent-{i:06}"))
}

/// DeclineOffers: every offer is declined with a long refuse filter; `suppress` is the share of
/// frameworks (0.0..=1.0) that suppress after round 0 (SuppressOffers shapes).
pub fn decline_offers(
    agents: usize,
    frameworks: usize,
    rounds: usize,
    suppress: f64,
) -> DeclineFigures {
    let rss0 = rss_bytes();
    let mut a = HierarchicalAllocator::new(Options::default());
    for f in 0..frameworks {
        a.add_framework(&fw_id(f), FrameworkSpec::with_roles(["*"]), &[], true);
    }
    let total = Resources::parse(AGENT, "*").expect("agent");
    let used = Resources::parse(USED, "*").expect("used");
    let specs: Vec<AgentSpec> = (0..agents)
        .map(|_| AgentSpec {
            attributes: Default::default(),
            hostname: String::new(),
            total: total.clone(),
            remote: false,
        })
        .collect();
    let t = Instant::now();
    for (i, spec) in specs.into_iter().enumerate() {
        a.add_agent(&agent_id(i), spec, &[(fw_id(i % frameworks), used.clone())]);
    }
    let add_agents = t.elapsed();
    let rss_per_agent = rss_bytes().saturating_sub(rss0) as f64 / agents as f64;
    let mut now = Duration::ZERO;
    let refuse = Some(Duration::from_secs(365 * 24 * 3600));
    let mut times = Vec::new();
    let mut offers_round0 = 0;
    for round in 0..=rounds {
        let t = Instant::now();
        let offers = a.allocate(now, None);
        times.push(t.elapsed());
        if round == 0 {
            offers_round0 = offers.len();
            let n = (frameworks as f64 * suppress).round() as usize;
            for f in 0..n {
                a.suppress_offers(&fw_id(f), &[]);
            }
        }
        decline(&mut a, offers, refuse, now);
        now += Duration::from_secs(1);
    }
    let mut rest: Vec<Duration> = times[1..].to_vec();
    let agents_res: Vec<Resources> = (0..agents)
        .map(|i| a.available(&agent_id(i)).cloned().unwrap_or_default())
        .collect();
    let bare = (0..3)
        .map(|_| bare_pass(&agents_res))
        .min()
        .unwrap_or_default();
    DeclineFigures {
        agents,
        frameworks,
        add_agents,
        round0: times[0],
        rounds_median: crate::median(&mut rest),
        offers_round0,
        bare_pass: bare,
        rss_per_agent,
    }
}

fn decline(
    a: &mut HierarchicalAllocator,
    offers: Vec<Allocation>,
    refuse: Option<Duration>,
    now: Duration,
) {
    for o in offers {
        a.recover_resources(&o.framework_id, &o.agent_id, &o.resources, refuse, now);
    }
}

/// LargeAndSmallQuota: 3,000 agents `cpus:2;mem:2048;disk:2048`; 2,500 roles with half an agent
/// of quota and 500 with two agents' worth; one framework each. Returns (cycle, bare pass, offers).
pub fn large_and_small_quota(
    agents: usize,
    small_roles: usize,
    large_roles: usize,
) -> (Duration, Duration, usize) {
    let mut a = HierarchicalAllocator::new(Options::default());
    let small = ResourceQuantities::from_pairs([("cpus", 1.0), ("mem", 1024.0), ("disk", 1024.0)]);
    let large = ResourceQuantities::from_pairs([("cpus", 4.0), ("mem", 4096.0), ("disk", 4096.0)]);
    for r in 0..small_roles + large_roles {
        let role = format!("quota-role-{r:05}");
        let g = if r < small_roles {
            small.clone()
        } else {
            large.clone()
        };
        a.update_quota(
            &role,
            Quota {
                guarantees: g,
                limits: ResourceQuantities::new(),
            },
        );
        a.add_framework(
            &FrameworkID::new(format!("fw-{r:05}")),
            FrameworkSpec::with_roles([role.as_str()]),
            &[],
            true,
        );
    }
    let total = Resources::parse("cpus:2;mem:2048;disk:2048", "*").expect("agent");
    for i in 0..agents {
        a.add_agent(
            &agent_id(i),
            AgentSpec {
                attributes: Default::default(),
                hostname: String::new(),
                total: total.clone(),
                remote: false,
            },
            &[],
        );
    }
    let res: Vec<Resources> = vec![total; agents];
    let t = Instant::now();
    let offers = a.allocate(Duration::ZERO, None);
    let cycle = t.elapsed();
    let bare = (0..3).map(|_| bare_pass(&res)).min().unwrap_or_default();
    (cycle, bare, offers.len())
}

/// The multi-framework shape: 80 large agents shared by a Marathon-like framework (many small
/// tasks), Jenkins-like frameworks (medium) and Spark-like frameworks (large). Each accepts part
/// of every offer and declines the rest for 5 s. Returns (median cycle, bare pass).
pub fn multi_framework(rounds: usize) -> (Duration, Duration) {
    let mut a = HierarchicalAllocator::new(Options::default());
    let kinds: Vec<(String, &str, &str)> =
        std::iter::once(("marathon".to_string(), "marathon", "cpus:0.1;mem:128"))
            .chain((0..10).map(|i| (format!("jenkins-{i}"), "jenkins", "cpus:2;mem:2048")))
            .chain((0..5).map(|i| (format!("spark-{i}"), "spark", "cpus:8;mem:16384")))
            .collect();
    for (id, role, _) in &kinds {
        a.add_framework(
            &FrameworkID::new(id.as_str()),
            FrameworkSpec::with_roles([*role]),
            &[],
            true,
        );
    }
    let total = Resources::parse("cpus:64;mem:262144;disk:1048576;ports:[31000-32000]", "*")
        .expect("agent");
    for i in 0..80 {
        a.add_agent(
            &agent_id(i),
            AgentSpec {
                attributes: Default::default(),
                hostname: String::new(),
                total: total.clone(),
                remote: false,
            },
            &[],
        );
    }
    let mut now = Duration::ZERO;
    let mut times = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        let offers = a.allocate(now, None);
        times.push(t.elapsed());
        for o in offers {
            let want = kinds
                .iter()
                .find(|k| k.0 == o.framework_id.value)
                .map(|k| Resources::parse(k.2, "*").expect("task").allocate(&o.role))
                .unwrap_or_default();
            // Keep one task's worth when it fits, give the rest back with a filter.
            let keep = if o.resources.contains(&want) {
                want
            } else {
                Resources::new()
            };
            let rest = o.resources.minus(&keep);
            a.recover_resources(
                &o.framework_id,
                &o.agent_id,
                &rest,
                Some(Duration::from_secs(5)),
                now,
            );
        }
        now += Duration::from_secs(1);
    }
    let res: Vec<Resources> = vec![total; 80];
    let bare = (0..3).map(|_| bare_pass(&res)).min().unwrap_or_default();
    (crate::median(&mut times), bare)
}

/// The sorter: allocations for `agents` agents spread over `clients` clients, then a full sort.
/// Returns (time to add the allocations, time of a full sort from scratch).
pub fn sorter_full_sort(agents: usize, clients: usize) -> (Duration, Duration) {
    use mesos_allocator::sorter::{DrfSorter, Sorter};
    let mut s = DrfSorter::new(false, vec![]);
    let per_agent = [24_000i64, 4_096_000, 4_096_000];
    let total: Vec<i64> = per_agent.iter().map(|x| x * agents as i64).collect();
    s.set_total(&total);
    for c in 0..clients {
        s.add(c as u32, &format!("client-{c:05}"));
        s.activate(c as u32);
    }
    let mut rng = mesos_allocator::Rng::new(42);
    let t = Instant::now();
    for _ in 0..agents {
        let c = rng.below(clients) as u32;
        s.allocated(c, &[1_000 + rng.below(8) as i64 * 1000, 512_000, 512_000]);
    }
    let add = t.elapsed();
    let t = Instant::now();
    let order = s.sort_from_scratch();
    let sort = t.elapsed();
    std::hint::black_box(order);
    (add, sort)
}
