//! Behaviours of Mesos's HierarchicalAllocatorTest, on the pure core with time passed in.

use std::time::Duration;

use mesos_allocator::{
    AgentSpec, Allocation, Allocator, FrameworkSpec, HierarchicalAllocator, Operation, Options,
    Quota,
};
use mesos_api::{AgentID, FrameworkID, Reservation, ResourceQuantities, Resources};

fn res(t: &str) -> Resources {
    Resources::parse(t, "*").unwrap()
}

fn agent(a: &mut HierarchicalAllocator, id: &str, total: &str) {
    a.add_agent(
        &AgentID::new(id),
        AgentSpec {
            attributes: Default::default(),
            hostname: id.into(),
            total: res(total),
            remote: false,
        },
        &[],
    );
}

fn framework(a: &mut HierarchicalAllocator, id: &str, roles: &[&str]) {
    a.add_framework(
        &FrameworkID::new(id),
        FrameworkSpec::with_roles(roles.iter().copied()),
        &[],
        true,
    );
}

fn alloc() -> HierarchicalAllocator {
    HierarchicalAllocator::new(Options::default())
}

/// Offers of one cycle as (framework, agent, role, resources without allocation info).
fn run(a: &mut HierarchicalAllocator, now: Duration) -> Vec<(String, String, String, Resources)> {
    let mut v: Vec<_> = a
        .allocate(now, None)
        .into_iter()
        .map(
            |Allocation {
                 framework_id,
                 agent_id,
                 role,
                 resources,
             }| {
                (
                    framework_id.value,
                    agent_id.value,
                    role,
                    resources.unallocate(),
                )
            },
        )
        .collect();
    v.sort_by(|x, y| (&x.0, &x.1).cmp(&(&y.0, &y.1)));
    v
}

fn decline_all(
    a: &mut HierarchicalAllocator,
    offers: &[(String, String, String, Resources)],
    refuse: Option<Duration>,
    now: Duration,
) {
    for (f, ag, role, r) in offers {
        a.recover_resources(
            &FrameworkID::new(f),
            &AgentID::new(ag),
            &r.allocate(role),
            refuse,
            now,
        );
    }
}

const T0: Duration = Duration::ZERO;

#[test]
fn unreserved_drf_offers_each_agent_to_the_lowest_share() {
    let mut a = alloc();
    framework(&mut a, "f1", &["role1"]);
    agent(&mut a, "a1", "cpus:2;mem:1024");
    let o = run(&mut a, T0);
    assert_eq!(o.len(), 1);
    assert_eq!((o[0].0.as_str(), o[0].1.as_str()), ("f1", "a1"));
    assert_eq!(o[0].3, res("cpus:2;mem:1024"));

    // role2 has share 0: it gets the next agent.
    framework(&mut a, "f2", &["role2"]);
    agent(&mut a, "a2", "cpus:1;mem:512");
    let o = run(&mut a, T0);
    assert_eq!(
        o,
        vec![(
            "f2".into(),
            "a2".into(),
            "role2".into(),
            res("cpus:1;mem:512")
        )]
    );

    // A second framework in role2: role2 (cpus 1/3, mem 1/3) is below role1 (2/3): role2's
    // framework with nothing yet (f3) gets the new agent.
    framework(&mut a, "f3", &["role2"]);
    agent(&mut a, "a3", "cpus:3;mem:2048");
    let o = run(&mut a, T0);
    assert_eq!(o.len(), 1);
    assert_eq!((o[0].0.as_str(), o[0].2.as_str()), ("f3", "role2"));
}

#[test]
fn reserved_drf_offers_reservations_only_to_their_role() {
    let mut a = alloc();
    framework(&mut a, "f1", &["role1"]);
    framework(&mut a, "f2", &["role2"]);
    agent(&mut a, "a1", "cpus(role1):2;mem(role1):1024");
    let o = run(&mut a, T0);
    assert_eq!(o.len(), 1);
    assert_eq!(o[0].0, "f1");
    assert_eq!(
        o[0].3,
        Resources::parse("cpus(role1):2;mem(role1):1024", "*").unwrap()
    );

    // Unreserved goes by fair share: role2 has nothing.
    agent(&mut a, "a2", "cpus:1;mem:512");
    let o = run(&mut a, T0);
    assert_eq!(
        o,
        vec![(
            "f2".into(),
            "a2".into(),
            "role2".into(),
            res("cpus:1;mem:512")
        )]
    );

    // A sub-role may use its ancestor's reservation.
    framework(&mut a, "f3", &["role1/sub"]);
    agent(&mut a, "a3", "cpus(role1):1;mem(role1):256");
    let o = run(&mut a, T0);
    assert_eq!(o.len(), 1);
    assert!(o[0].0 == "f1" || o[0].0 == "f3");
    assert_ne!(o[0].0, "f2");
}

#[test]
fn offer_filter_holds_until_it_expires() {
    let mut a = alloc();
    framework(&mut a, "f1", &["role1"]);
    agent(&mut a, "a1", "cpus:2;mem:1024");
    let o = run(&mut a, T0);
    assert_eq!(o.len(), 1);
    decline_all(&mut a, &o, Some(Duration::from_secs(86400)), T0);
    assert!(run(&mut a, Duration::from_secs(1)).is_empty(), "filtered");
    assert!(
        run(&mut a, Duration::from_secs(86399)).is_empty(),
        "still filtered"
    );
    assert_eq!(run(&mut a, Duration::from_secs(86400)).len(), 1, "expired");
}

#[test]
fn a_filter_smaller_than_the_interval_lasts_one_interval() {
    let mut a = alloc();
    framework(&mut a, "f1", &["role1"]);
    agent(&mut a, "a1", "cpus:2;mem:1024");
    let o = run(&mut a, T0);
    decline_all(&mut a, &o, Some(Duration::from_millis(100)), T0);
    assert!(run(&mut a, Duration::from_millis(500)).is_empty());
    assert_eq!(run(&mut a, Duration::from_secs(1)).len(), 1);
}

#[test]
fn a_filter_covers_only_what_was_refused() {
    let mut a = alloc();
    framework(&mut a, "f1", &["role1"]);
    agent(&mut a, "a1", "cpus:2;mem:1024");
    let o = run(&mut a, T0);
    // Refuse only part; the offer of everything is not contained in the refusal.
    let part = res("cpus:1;mem:512");
    a.recover_resources(
        &FrameworkID::new("f1"),
        &AgentID::new("a1"),
        &o[0].3.allocate("role1"),
        None,
        T0,
    );
    a.recover_resources(
        &FrameworkID::new("f1"),
        &AgentID::new("a1"),
        &part.allocate("role1"),
        Some(Duration::from_secs(60)),
        T0,
    );
    assert_eq!(run(&mut a, Duration::from_secs(1)).len(), 1);
}

fn quota(guarantees: &[(&str, f64)], limits: &[(&str, f64)]) -> Quota {
    Quota {
        guarantees: ResourceQuantities::from_pairs(guarantees.iter().copied()),
        limits: ResourceQuantities::from_pairs(limits.iter().copied()),
    }
}

#[test]
fn quota_provides_guarantee() {
    let mut a = alloc();
    a.update_quota("quota-role", quota(&[("cpus", 2.0), ("mem", 1024.0)], &[]));
    // The other role's framework arrives first and has share 0 too.
    framework(&mut a, "other", &["other-role"]);
    framework(&mut a, "qf", &["quota-role"]);
    agent(&mut a, "a1", "cpus:1;mem:512");
    agent(&mut a, "a2", "cpus:1;mem:512");
    let o = run(&mut a, T0);
    let to_quota: Vec<_> = o.iter().filter(|x| x.0 == "qf").collect();
    assert_eq!(
        to_quota.len(),
        2,
        "stage 1 serves the unmet guarantee first: {o:?}"
    );
    assert_eq!(a.role_allocation("quota-role").get("cpus").as_f64(), 2.0);
}

#[test]
fn quota_absent_framework_keeps_headroom() {
    let mut a = alloc();
    a.update_quota("quota-role", quota(&[("cpus", 2.0), ("mem", 1024.0)], &[]));
    framework(&mut a, "f", &["no-quota"]);
    agent(&mut a, "a1", "cpus:2;mem:1024");
    agent(&mut a, "a2", "cpus:1;mem:512");
    let o = run(&mut a, T0);
    let got: Resources = o.iter().fold(Resources::new(), |acc, x| acc.plus(&x.3));
    assert_eq!(got.cpus(), 1.0, "{o:?}");
    assert_eq!(got.mem(), 512.0, "{o:?}");
}

#[test]
fn quota_limits_are_never_exceeded() {
    let mut a = alloc();
    a.update_quota("limited", quota(&[], &[("cpus", 1.5)]));
    framework(&mut a, "f", &["limited"]);
    agent(&mut a, "a1", "cpus:4;mem:1024");
    agent(&mut a, "a2", "cpus:4;mem:1024");
    run(&mut a, T0);
    run(&mut a, Duration::from_secs(1));
    assert_eq!(a.role_allocation("limited").get("cpus").as_f64(), 1.5);
}

#[test]
fn suppress_stops_offers_and_revive_resumes_them() {
    let mut a = alloc();
    framework(&mut a, "f1", &["role1"]);
    a.suppress_offers(&FrameworkID::new("f1"), &[]);
    agent(&mut a, "a1", "cpus:2;mem:1024");
    assert!(run(&mut a, T0).is_empty());
    a.revive_offers(&FrameworkID::new("f1"), &[]);
    assert_eq!(run(&mut a, T0).len(), 1);
}

#[test]
fn revive_clears_filters() {
    let mut a = alloc();
    framework(&mut a, "f1", &["role1"]);
    agent(&mut a, "a1", "cpus:2;mem:1024");
    let o = run(&mut a, T0);
    decline_all(&mut a, &o, Some(Duration::from_secs(3600)), T0);
    assert!(run(&mut a, Duration::from_secs(1)).is_empty());
    a.revive_offers(&FrameworkID::new("f1"), &[]);
    assert_eq!(run(&mut a, Duration::from_secs(2)).len(), 1);
}

#[test]
fn a_multi_role_framework_is_offered_for_each_role() {
    let mut a = alloc();
    framework(&mut a, "f", &["r1", "r2"]);
    agent(&mut a, "a1", "cpus(r1):1;mem(r1):256;cpus:1;mem:256");
    agent(&mut a, "a2", "cpus(r2):1;mem(r2):256");
    let all = a.allocate(T0, None);
    let roles: std::collections::BTreeSet<_> = all.iter().map(|x| x.role.clone()).collect();
    assert!(roles.contains("r1") && roles.contains("r2"), "{all:?}");
    for x in &all {
        assert!(x
            .resources
            .iter()
            .all(|r| r.allocation_role.as_deref() == Some(x.role.as_str())));
        assert!(x.resources.iter().all(|r| r.allocatable_to(&x.role)));
    }
    // Suppressing one role leaves the other.
    let mut b = alloc();
    framework(&mut b, "f", &["r1", "r2"]);
    b.suppress_offers(&FrameworkID::new("f"), &["r1".into()]);
    agent(&mut b, "a1", "cpus:1;mem:256");
    let o = run(&mut b, T0);
    assert_eq!(o.len(), 1);
    assert_eq!(o[0].2, "r2");
}

#[test]
fn hierarchical_role_weights_decide_between_subtrees() {
    let mut a = alloc();
    a.update_weights(&[("a".into(), 3.0)]);
    framework(&mut a, "fa", &["a/x"]);
    framework(&mut a, "fb", &["b"]);
    for i in 0..8 {
        agent(&mut a, &format!("s{i}"), "cpus:1;mem:128");
    }
    let o = run(&mut a, T0);
    let to_a = o.iter().filter(|x| x.0 == "fa").count();
    let to_b = o.iter().filter(|x| x.0 == "fb").count();
    assert_eq!(to_a + to_b, 8);
    assert_eq!((to_a, to_b), (6, 2), "weight 3 subtree gets 3x: {o:?}");
}

#[test]
fn gpu_agents_go_only_to_gpu_frameworks() {
    let mut a = alloc();
    framework(&mut a, "plain", &["r"]);
    agent(&mut a, "gpu", "cpus:4;mem:1024;gpus:1");
    assert!(run(&mut a, T0).is_empty());
    a.add_framework(
        &FrameworkID::new("gpu-fw"),
        FrameworkSpec {
            gpu_resources: true,
            ..FrameworkSpec::with_roles(["r"])
        },
        &[],
        true,
    );
    let o = run(&mut a, T0);
    assert_eq!(o.len(), 1);
    assert_eq!(o[0].0, "gpu-fw");
    assert_eq!(o[0].3.scalar("gpus").as_f64(), 1.0);
}

#[test]
fn offers_below_min_allocatable_are_not_made() {
    let mut a = alloc();
    framework(&mut a, "f", &["r"]);
    agent(&mut a, "tiny", "cpus:0.001;mem:16;disk:100");
    assert!(run(&mut a, T0).is_empty());
    let mut b = HierarchicalAllocator::new(Options {
        min_allocatable_resources: Options::parse_min_allocatable("disk:50").unwrap(),
        ..Options::default()
    });
    framework(&mut b, "f", &["r"]);
    agent(&mut b, "tiny", "cpus:0.001;mem:16;disk:100");
    assert_eq!(run(&mut b, T0).len(), 1);
}

#[test]
fn deactivated_frameworks_and_agents_get_no_offers() {
    let mut a = alloc();
    framework(&mut a, "f", &["r"]);
    a.deactivate_framework(&FrameworkID::new("f"));
    agent(&mut a, "a1", "cpus:1;mem:128");
    assert!(run(&mut a, T0).is_empty());
    a.activate_framework(&FrameworkID::new("f"));
    a.deactivate_agent(&AgentID::new("a1"));
    assert!(run(&mut a, T0).is_empty());
    a.activate_agent(&AgentID::new("a1"));
    assert_eq!(run(&mut a, T0).len(), 1);
}

#[test]
fn removing_a_framework_returns_its_resources() {
    let mut a = alloc();
    framework(&mut a, "f1", &["r"]);
    agent(&mut a, "a1", "cpus:1;mem:128");
    assert_eq!(run(&mut a, T0).len(), 1);
    a.remove_framework(&FrameworkID::new("f1"));
    assert_eq!(
        a.available(&AgentID::new("a1")).unwrap(),
        &res("cpus:1;mem:128")
    );
    framework(&mut a, "f2", &["r"]);
    assert_eq!(run(&mut a, T0)[0].0, "f2");
}

#[test]
fn reserve_and_create_update_the_allocation_and_the_agent_total() {
    let mut a = alloc();
    framework(&mut a, "f", &["eng"]);
    agent(&mut a, "a1", "cpus:2;mem:256;disk:100");
    let o = a.allocate(T0, None);
    let offered = o[0].resources.clone();
    let reserved = Resources::from(vec![mesos_api::Resource::scalar("disk", 100.0)
        .reserved(Reservation::dynamic_for("eng", Some("p")))]);
    let after = a
        .update_allocation(
            &FrameworkID::new("f"),
            &AgentID::new("a1"),
            &offered,
            &[Operation::Reserve(reserved.clone())],
        )
        .unwrap();
    assert_eq!(after.reserved_to("eng").scalar("disk").as_f64(), 100.0);
    assert_eq!(
        a.total(&AgentID::new("a1"))
            .unwrap()
            .reserved_to("eng")
            .scalar("disk")
            .as_f64(),
        100.0
    );
    // Unreserving something not offered is refused.
    let bad = a.update_allocation(
        &FrameworkID::new("f"),
        &AgentID::new("a1"),
        &offered,
        &[Operation::Unreserve(
            Resources::parse("cpus(eng):1", "*").unwrap(),
        )],
    );
    assert!(bad.is_err());
    // Declined: the reserved disk is offered only to eng.
    a.recover_resources(
        &FrameworkID::new("f"),
        &AgentID::new("a1"),
        &after,
        None,
        T0,
    );
    framework(&mut a, "other", &["ops"]);
    for x in a.allocate(T0, None) {
        if x.framework_id.value == "other" {
            assert_eq!(x.resources.scalar("disk").as_f64(), 0.0);
        }
    }
}

#[test]
fn recovering_resources_not_held_changes_nothing() {
    let mut a = alloc();
    framework(&mut a, "f", &["r"]);
    agent(&mut a, "a1", "cpus:1;mem:128");
    let before = a.available(&AgentID::new("a1")).unwrap().clone();
    a.recover_resources(
        &FrameworkID::new("f"),
        &AgentID::new("a1"),
        &res("cpus:5").allocate("r"),
        None,
        T0,
    );
    assert_eq!(a.available(&AgentID::new("a1")).unwrap(), &before);
}

#[test]
fn update_framework_changes_roles_and_suppression() {
    let mut a = alloc();
    framework(&mut a, "f", &["r1"]);
    agent(&mut a, "a1", "cpus(r2):1;mem(r2):128");
    assert!(
        run(&mut a, T0).is_empty(),
        "reserved for r2, f is only in r1"
    );
    let mut spec = FrameworkSpec::with_roles(["r1", "r2"]);
    spec.suppressed_roles.insert("r2".into());
    a.update_framework(&FrameworkID::new("f"), spec.clone());
    assert!(run(&mut a, T0).is_empty(), "r2 is suppressed");
    spec.suppressed_roles.clear();
    a.update_framework(&FrameworkID::new("f"), spec);
    let o = run(&mut a, T0);
    assert_eq!(o.len(), 1);
    assert_eq!(o[0].2, "r2");
}

/// Offer constraints (Mesos 1.11): a framework with constraints in a role is offered only the
/// agents they allow, in that role; in its other roles, and for other frameworks, nothing
/// changes. Updating the framework changes which agents it gets.
#[test]
fn offer_constraints_keep_agents_from_a_framework_in_a_role() {
    let mut a = alloc();
    for (id, attrs) in [("a1", "rack:r1"), ("a2", "rack:r2"), ("a3", "level:3")] {
        a.add_agent(
            &AgentID::new(id),
            AgentSpec {
                hostname: format!("host-{id}"),
                total: res("cpus:1;mem:512"),
                attributes: mesos_api::Attributes::parse(attrs).unwrap(),
                remote: false,
            },
            &[],
        );
    }
    let constraints = |v: serde_json::Value| {
        let c: mesos_api::protocol::scheduler::OfferConstraints =
            mesos_api::protocol::from_json(&v).unwrap();
        let roles = ["web".to_string()].into_iter().collect();
        mesos_allocator::OfferConstraintsFilter::new(&c, &roles, 4096).unwrap()
    };
    // In "web", only rack r1 or a host named host-a3 (where `rack` does not exist).
    let spec = FrameworkSpec {
        offer_constraints: Some(constraints(
            serde_json::json!({"role_constraints": {"web": {
            "groups": [
                {"attribute_constraints": [{"selector": {"attribute_name": "rack"},
                    "predicate": {"text_equals": {"value": "r1"}}}]},
                {"attribute_constraints": [{"selector": {"pseudoattribute_type": "HOSTNAME"},
                    "predicate": {"text_matches": {"regex": "host-a[3-9]"}}}]}]}}}),
        )),
        ..FrameworkSpec::with_roles(["web"])
    };
    a.add_framework(&FrameworkID::new("f"), spec, &[], true);
    let offers = run(&mut a, Duration::ZERO);
    let agents: Vec<&str> = offers.iter().map(|o| o.1.as_str()).collect();
    assert_eq!(agents, ["a1", "a3"], "{offers:?}");
    // Another framework without constraints takes what is left.
    framework(&mut a, "g", &["web"]);
    let second = run(&mut a, Duration::ZERO);
    let g: Vec<_> = second
        .iter()
        .map(|o| (o.0.as_str(), o.1.as_str()))
        .collect();
    assert_eq!(g, [("g", "a2")], "{second:?}");
    // Everything back; g goes; f's constraints become "rack is not r1", which a missing rack
    // satisfies: f is offered a2 and a3, never a1.
    decline_all(&mut a, &offers, None, Duration::ZERO);
    decline_all(&mut a, &second, None, Duration::ZERO);
    a.remove_framework(&FrameworkID::new("g"));
    let spec = FrameworkSpec {
        offer_constraints: Some(constraints(
            serde_json::json!({"role_constraints": {"web": {
            "groups": [{"attribute_constraints": [{"selector": {"attribute_name": "rack"},
                "predicate": {"text_not_equals": {"value": "r1"}}}]}]}}}),
        )),
        ..FrameworkSpec::with_roles(["web"])
    };
    a.update_framework(&FrameworkID::new("f"), spec);
    let agents: Vec<_> = run(&mut a, Duration::ZERO)
        .into_iter()
        .map(|o| o.1)
        .collect();
    assert_eq!(agents, ["a2", "a3"]);
}
