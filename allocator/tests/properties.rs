//! Properties over random event sequences: no agent is over-allocated; available plus allocated
//! equals total on every agent; a role never exceeds its limit; guarantees are met whenever the
//! cluster can meet them.

use std::time::Duration;

use mesos_allocator::{
    AgentSpec, Allocation, Allocator, FrameworkSpec, HierarchicalAllocator, Options, Quota,
};
use mesos_api::{AgentID, FrameworkID, ResourceQuantities, Resources};
use proptest::prelude::*;

const ROLES: [&str; 4] = ["web", "batch", "eng/a", "eng/b"];

#[derive(Debug, Clone)]
enum Ev {
    AddAgent(u8, u8, u16),
    AddFramework(u8, usize),
    RemoveFramework(u8),
    RemoveAgent(u8),
    Allocate,
    Recover(usize, Option<u8>),
    Suppress(u8),
    Revive(u8),
    Tick(u8),
}

fn ev() -> impl Strategy<Value = Ev> {
    prop_oneof![
        3 => (0u8..12, 1u8..9, 128u16..4096).prop_map(|(i, c, m)| Ev::AddAgent(i, c, m)),
        2 => (0u8..6, 0usize..4).prop_map(|(j, r)| Ev::AddFramework(j, r)),
        1 => (0u8..6).prop_map(Ev::RemoveFramework),
        1 => (0u8..12).prop_map(Ev::RemoveAgent),
        4 => Just(Ev::Allocate),
        3 => (0usize..50, prop::option::of(0u8..10)).prop_map(|(k, f)| Ev::Recover(k, f)),
        1 => (0u8..6).prop_map(Ev::Suppress),
        1 => (0u8..6).prop_map(Ev::Revive),
        1 => (0u8..5).prop_map(Ev::Tick),
    ]
}

fn check(a: &HierarchicalAllocator, limits: &[(&str, f64)]) -> Result<(), TestCaseError> {
    for id in a.agent_ids() {
        let total = a.total(&id).unwrap().quantities();
        let mut sum = a.available(&id).unwrap().quantities();
        sum.add(&a.allocated_on(&id).unwrap().quantities());
        prop_assert_eq!(&sum, &total, "available + allocated == total on {}", id);
        prop_assert!(
            total.contains(&a.allocated_on(&id).unwrap().quantities()),
            "over-allocated {}",
            id
        );
    }
    for (role, cpus) in limits {
        let got = a.role_allocation(role).get("cpus").as_f64();
        prop_assert!(
            got <= *cpus + 1e-9,
            "role {} holds {} cpus over its limit {}",
            role,
            got,
            cpus
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn invariants_hold_over_random_event_sequences(events in prop::collection::vec(ev(), 1..80)) {
        let mut a = HierarchicalAllocator::new(Options { min_allocatable_resources: vec![], ..Options::default() });
        let limits = [("batch", 3.0), ("eng", 5.0)];
        for (role, cpus) in limits {
            a.update_quota(role, Quota { guarantees: ResourceQuantities::new(), limits: ResourceQuantities::from_pairs([("cpus", cpus)]) });
        }
        a.update_quota("web", Quota { guarantees: ResourceQuantities::from_pairs([("cpus", 2.0)]), limits: ResourceQuantities::new() });
        let mut held: Vec<Allocation> = Vec::new();
        let mut now = Duration::ZERO;
        for e in events {
            match e {
                Ev::AddAgent(i, c, m) => {
                    // A re-registration with another total is an update (tested elsewhere).
                    let id = AgentID::new(format!("a{i}"));
                    if a.total(&id).is_none() {
                        a.add_agent(
                            &id,
                            AgentSpec { remote: false, attributes: Default::default(), hostname: format!("h{i}"), total: Resources::parse(&format!("cpus:{c};mem:{m};ports:[1-10]"), "*").unwrap() },
                            &[],
                        );
                    }
                }
                Ev::AddFramework(j, r) => a.add_framework(&FrameworkID::new(format!("f{j}")), FrameworkSpec::with_roles([ROLES[r]]), &[], true),
                Ev::RemoveFramework(j) => {
                    let id = FrameworkID::new(format!("f{j}"));
                    a.remove_framework(&id);
                    held.retain(|x| x.framework_id != id);
                }
                Ev::RemoveAgent(i) => {
                    let id = AgentID::new(format!("a{i}"));
                    a.remove_agent(&id);
                    held.retain(|x| x.agent_id != id);
                }
                Ev::Allocate => held.extend(a.allocate(now, None)),
                Ev::Recover(k, f) => {
                    if !held.is_empty() {
                        let x = held.remove(k % held.len());
                        a.recover_resources(&x.framework_id, &x.agent_id, &x.resources, f.map(|s| Duration::from_secs(s as u64)), now);
                    }
                }
                Ev::Suppress(j) => a.suppress_offers(&FrameworkID::new(format!("f{j}")), &[]),
                Ev::Revive(j) => a.revive_offers(&FrameworkID::new(format!("f{j}")), &[]),
                Ev::Tick(s) => now += Duration::from_secs(s as u64),
            }
            check(&a, &limits)?;
        }
    }

    #[test]
    fn guarantees_are_met_whenever_the_cluster_can(
        agents in prop::collection::vec((1u8..9, 256u16..4096), 1..12),
        others in 1usize..4,
        frac in 1u8..=5,
    ) {
        let mut a = HierarchicalAllocator::new(Options { min_allocatable_resources: vec![], ..Options::default() });
        let total_cpus: f64 = agents.iter().map(|x| x.0 as f64).sum();
        let total_mem: f64 = agents.iter().map(|x| x.1 as f64).sum();
        // Guarantee at most half the cluster, whole-ish numbers.
        let g_cpus = (total_cpus * frac as f64 / 10.0).floor();
        let g_mem = (total_mem * frac as f64 / 10.0).floor();
        a.update_quota("q", Quota { guarantees: ResourceQuantities::from_pairs([("cpus", g_cpus), ("mem", g_mem)]), limits: ResourceQuantities::new() });
        for o in 0..others {
            a.add_framework(&FrameworkID::new(format!("other{o}")), FrameworkSpec::with_roles([ROLES[o % 2]]), &[], true);
        }
        a.add_framework(&FrameworkID::new("qf"), FrameworkSpec::with_roles(["q"]), &[], true);
        for (i, (c, m)) in agents.iter().enumerate() {
            a.add_agent(&AgentID::new(format!("a{i}")), AgentSpec { remote: false, attributes: Default::default(), hostname: String::new(), total: Resources::parse(&format!("cpus:{c};mem:{m}"), "*").unwrap() }, &[]);
        }
        a.allocate(Duration::ZERO, None);
        let got = a.role_allocation("q");
        prop_assert!(got.get("cpus").as_f64() >= g_cpus, "cpus {} < guarantee {}", got.get("cpus").as_f64(), g_cpus);
        prop_assert!(got.get("mem").as_f64() >= g_mem, "mem {} < guarantee {}", got.get("mem").as_f64(), g_mem);
    }
}
