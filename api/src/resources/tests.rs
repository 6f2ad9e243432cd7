//! Resources tests, after Mesos's ResourcesTest: parsing, arithmetic invariants, JSON forms.

use proptest::prelude::*;
use serde_json::json;

use super::*;

fn r(text: &str) -> Resources {
    Resources::parse(text, "*").unwrap()
}

#[test]
fn parses_the_reference_grammar() {
    let res = Resources::parse(
        "cpus:24;mem:24576;disk:409600;ports:[21000-24000,30000-34000];bugs(debug_role):{a,b,c}",
        "*",
    )
    .unwrap();
    assert_eq!(res.cpus(), 24.0);
    assert_eq!(res.mem(), 24576.0);
    assert_eq!(res.ranges("ports").count(), 3001 + 4001);
    let bugs = res.iter().find(|x| &*x.name == "bugs").unwrap();
    assert_eq!(bugs.role(), "debug_role");
    assert_eq!(bugs.reservations[0].kind, ReservationType::Static);
    assert_eq!(
        bugs.value,
        Value::Set(["a", "b", "c"].iter().map(|s| s.to_string()).collect())
    );
}

#[test]
fn scalars_are_fixed_point_with_three_decimals() {
    let a = r("cpus:0.1");
    let b = r("cpus:0.2");
    assert_eq!(a.plus(&b).scalar("cpus"), Scalar(300));
    assert_eq!(r("cpus:0.0004").scalar("cpus"), Scalar::ZERO);
    assert_eq!(r("cpus:1.2345").scalar("cpus"), Scalar(1235));
    assert_eq!(Scalar(1500).to_string(), "1.5");
    assert_eq!(Scalar(2000).to_string(), "2");
}

#[test]
fn default_role_reserves_statically() {
    let res = Resources::parse("cpus:2;mem(*):10", "eng").unwrap();
    let cpus = res.iter().find(|x| &*x.name == "cpus").unwrap();
    assert_eq!(cpus.role(), "eng");
    let mem = res.iter().find(|x| &*x.name == "mem").unwrap();
    assert!(mem.is_unreserved());
}

#[test]
fn duplicate_names_merge() {
    assert_eq!(r("cpus:1;cpus:2").scalar("cpus"), Scalar(3000));
    assert_eq!(
        r("ports:[1-2];ports:[3-4]").ranges("ports"),
        Ranges::new([(1, 4)])
    );
}

#[test]
fn parse_errors_name_the_token_and_position() {
    let e = Resources::parse("cpus:2;mem:lots", "*")
        .unwrap_err()
        .to_string();
    assert!(e.contains("position 11") && e.contains("'lots'"), "{e}");
    let e = Resources::parse("cpus:2; gpus", "*")
        .unwrap_err()
        .to_string();
    assert!(e.contains("position 8") && e.contains("'gpus'"), "{e}");
    let e = Resources::parse("cpus(/bad):2", "*")
        .unwrap_err()
        .to_string();
    assert!(e.contains("'/bad'"), "{e}");
    assert!(Resources::parse("ports:[5-1]", "*").is_err());
    assert!(Resources::parse("cpus:-1", "*").is_err());
    assert!(Resources::parse("cpus:nan", "*").is_err());
    assert!(Resources::parse("(r):1", "*").is_err());
    assert!(Resources::parse("cpus(r:1", "*").is_err());
}

#[test]
fn json_array_form_and_file_indirection() {
    let text = r#"[{"name":"cpus","type":"SCALAR","scalar":{"value":4}},
                   {"name":"mem","type":"SCALAR","scalar":{"value":512},"role":"eng"}]"#;
    let res = Resources::parse(text, "*").unwrap();
    assert_eq!(res.cpus(), 4.0);
    assert_eq!(res.reserved_to("eng").mem(), 512.0);
    let path = std::env::temp_dir().join(format!("mesos-api-res-{}", std::process::id()));
    std::fs::write(&path, "cpus:3;mem:64").unwrap();
    let from_file = Resources::parse_flag(&format!("file://{}", path.display()), "*").unwrap();
    assert_eq!(from_file.cpus(), 3.0);
    std::fs::remove_file(&path).unwrap();
    assert!(Resources::parse_flag("file:///no/such/file", "*").is_err());
}

#[test]
fn arithmetic_respects_reservations() {
    let total = Resources::parse("cpus:8;cpus(eng):4;mem:1024", "*").unwrap();
    assert_eq!(total.scalar("cpus"), Scalar(12_000));
    let take = Resources::parse("cpus(eng):1", "*").unwrap();
    let left = total.minus(&take);
    assert_eq!(left.reserved_to("eng").scalar("cpus"), Scalar(3000));
    assert_eq!(left.unreserved().scalar("cpus"), Scalar(8000));
    assert!(!left.contains(&Resources::parse("cpus(eng):4", "*").unwrap()));
    assert!(total.contains(&Resources::parse("cpus(eng):4", "*").unwrap()));
    assert!(!total.contains(&Resources::parse("cpus(ops):1", "*").unwrap()));
    assert_eq!(total.flatten().scalar("cpus"), Scalar(12_000));
    assert_eq!(total.flatten().len(), 2);
}

#[test]
fn reservations_are_allocatable_to_their_subtree() {
    let res = Resources::parse("cpus(eng):4;mem:10", "*").unwrap();
    assert_eq!(res.allocatable_to("eng/backend").cpus(), 4.0);
    assert_eq!(res.allocatable_to("eng").cpus(), 4.0);
    assert_eq!(res.allocatable_to("ops").cpus(), 0.0);
    assert_eq!(res.allocatable_to("ops").mem(), 10.0);
}

#[test]
fn persistent_volumes_do_not_merge_and_subtract_only_whole() {
    let mut vol = Resource::scalar("disk", 10.0).reserved(Reservation::dynamic_for("eng", None));
    vol.disk = Some(Box::new(DiskInfo {
        persistence: Some(Persistence {
            id: "v1".into(),
            principal: None,
        }),
        volume: Some(Volume {
            container_path: "data".into(),
            host_path: None,
            mode: VolumeMode::Rw,
        }),
    }));
    let mut res = Resources::new();
    res.add(&vol);
    res.add(&vol);
    assert_eq!(res.len(), 2);
    let mut half = vol.clone();
    half.value = Value::Scalar(Scalar(5000));
    let before = res.clone();
    res.subtract(&half);
    assert_eq!(res, before, "a volume is not split");
    res.subtract(&vol);
    assert_eq!(res.len(), 1);
}

#[test]
fn legacy_and_refined_json_forms() {
    let mut res = Resources::parse("cpus:4;ports:[31000-32000];mem(eng):10", "*").unwrap();
    res.add(
        &Resource::scalar("disk", 5.0).reserved(Reservation::dynamic_for("ops", Some("alice"))),
    );
    let legacy = res.to_json(ResourceFormat::Legacy);
    assert_eq!(
        legacy[0],
        json!({"name":"cpus","type":"SCALAR","scalar":{"value":4},"role":"*"})
    );
    assert_eq!(
        legacy[1],
        json!({"name":"ports","type":"RANGES","ranges":{"range":[{"begin":31000,"end":32000}]},"role":"*"})
    );
    assert_eq!(legacy[2]["role"], "eng");
    assert!(legacy[2].get("reservation").is_none());
    assert_eq!(legacy[3]["reservation"], json!({"principal":"alice"}));
    let refined = res.to_json(ResourceFormat::Refined);
    assert_eq!(
        refined[2]["reservations"],
        json!([{"type":"STATIC","role":"eng"}])
    );
    assert_eq!(
        refined[3]["reservations"],
        json!([{"type":"DYNAMIC","role":"ops","principal":"alice"}])
    );
    assert!(refined[0].get("reservations").is_none());
    // Both forms read back to the same resources.
    assert_eq!(Resources::from_json(&legacy).unwrap(), res);
    assert_eq!(Resources::from_json(&refined).unwrap(), res);
    let alloc = res.allocate("eng");
    assert_eq!(
        alloc.to_json(ResourceFormat::Legacy)[0]["allocation_info"],
        json!({"role":"eng"})
    );
    assert_eq!(alloc.unallocate(), res);
}

#[test]
fn bad_json_is_a_clear_error() {
    for bad in [
        json!({}),
        json!([{"type":"SCALAR","scalar":{"value":1}}]),
        json!([{"name":"x","type":"NOPE"}]),
        json!([{"name":"x","type":"SCALAR"}]),
        json!([{"name":"x","type":"RANGES","ranges":{"range":[{"begin":5,"end":1}]}}]),
    ] {
        assert!(Resources::from_json(&bad).is_err(), "{bad}");
    }
}

fn arb_resources() -> impl Strategy<Value = Resources> {
    let scalar = (0usize..3, 0u32..5000, prop::option::of(0usize..2)).prop_map(|(n, v, role)| {
        let name = ["cpus", "mem", "disk"][n];
        let r = Resource::new(name, Value::Scalar(Scalar(v as i64)));
        match role {
            Some(i) => r.reserved(Reservation::static_for(["eng", "ops"][i])),
            None => r,
        }
    });
    let ports = prop::collection::vec((0u64..100, 0u64..10), 0..4)
        .prop_map(|v| Resource::ranges("ports", v.into_iter().map(|(b, l)| (b, b + l))));
    let set = prop::collection::btree_set("[a-d]", 0..4)
        .prop_map(|s| Resource::new("bugs", Value::Set(s)));
    prop::collection::vec(prop_oneof![scalar, ports, set], 0..8).prop_map(Resources::from)
}

proptest! {
    #[test]
    fn adding_then_subtracting_gives_back_the_original(a in arb_resources(), b in arb_resources()) {
        prop_assert_eq!(a.plus(&b).minus(&b).quantities(), a.quantities());
        prop_assert!(a.plus(&b).contains(&a));
        prop_assert!(a.plus(&b).contains(&b));
    }

    #[test]
    fn a_set_contains_itself_and_its_differences(a in arb_resources(), b in arb_resources()) {
        prop_assert!(a.contains(&a));
        prop_assert!(a.contains(&a.minus(&b)));
        prop_assert!(Resources::new().contains(&Resources::new()));
    }

    #[test]
    fn no_empty_values_are_kept(a in arb_resources(), b in arb_resources()) {
        for x in a.minus(&b).iter() {
            prop_assert!(!x.value.is_empty());
        }
    }

    #[test]
    fn json_round_trips_in_both_forms(a in arb_resources()) {
        prop_assert_eq!(Resources::from_json(&a.to_json(ResourceFormat::Refined)).unwrap(), a.clone());
        prop_assert_eq!(Resources::from_json(&a.to_json(ResourceFormat::Legacy)).unwrap(), a);
    }

    #[test]
    fn text_form_round_trips(a in arb_resources()) {
        let text = a.to_string();
        let back = Resources::parse(&text, "*").unwrap();
        prop_assert_eq!(back, a);
    }
}

/// Found by the `resources` fuzz target: a huge scalar saturated to `i64::MAX` thousandths and
/// adding a second `mem` overflowed (a panic in debug builds). Scalars beyond
/// `Scalar::MAX_VALUE` are refused; sums saturate.
#[test]
fn huge_scalars_are_refused_and_sums_never_overflow() {
    let text = "cpus:4;mem:10207777777777777777777777777777777777;portss:4;mem:1420;ports::0";
    let e = Resources::parse(text, "*").unwrap_err().to_string();
    assert!(e.contains("from 0 to"), "{e}");
    assert!(
        Resources::parse("mem:1000000000000", "*").is_ok(),
        "10^12 is the limit"
    );
    assert!(Resources::parse("mem:1000000000001", "*").is_err());
    let big = serde_json::json!([{"name": "mem", "type": "SCALAR", "scalar": {"value": 1e300}}]);
    assert!(Resources::from_json(&big).is_err());
    let mut r = Resources::new();
    for _ in 0..3 {
        r.add_all(&Resources::from(vec![Resource::new(
            "mem",
            Value::Scalar(Scalar(i64::MAX / 2)),
        )]));
    }
    assert_eq!(r.scalar("mem").millis(), i64::MAX);
}
