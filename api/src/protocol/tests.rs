//! The protocol types against the JSON shapes of Mesos's v1 scheduler API (the reference's
//! minimal exchange), and round trips through both codecs.

use serde_json::json;

use super::framework::*;
use super::offer::*;
use super::task::*;
use super::{from_json, to_json};

fn binary_round_trip<T>(v: &T)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let b = postcard::to_stdvec(v).unwrap();
    assert_eq!(&postcard::from_bytes::<T>(&b).unwrap(), v);
}

#[test]
fn subscribe_framework_info_reads_and_writes_defaults() {
    let fi: FrameworkInfo =
        from_json(&json!({"user":"root","name":"t","failover_timeout":100,"extra":"ignored"}))
            .unwrap();
    assert_eq!(fi.failover_timeout, 100.0);
    assert!(!fi.checkpoint);
    assert_eq!(fi.effective_roles(), vec!["*".to_string()]);
    let j = to_json(&fi);
    assert_eq!(
        j,
        json!({"user":"root","name":"t","failover_timeout":100.0,"checkpoint":false})
    );
    binary_round_trip(&fi);

    let multi: FrameworkInfo = from_json(&json!({"user":"u","name":"n","roles":["a","b"],
        "capabilities":[{"type":"MULTI_ROLE"},{"type":"SOMETHING_NEW"}]}))
    .unwrap();
    assert!(multi.has_capability(FrameworkCapabilityType::MultiRole));
    assert_eq!(
        multi.capabilities[1].kind,
        Some(FrameworkCapabilityType::Unknown)
    );
    assert_eq!(
        multi.effective_roles(),
        vec!["a".to_string(), "b".to_string()]
    );
    assert!(from_json::<FrameworkInfo>(&json!({"name":"no user"})).is_err());
}

#[test]
fn offers_event_offer_round_trips_exactly() {
    let offer = json!({"id":{"value":"M-O0"},"framework_id":{"value":"M-0000"},"agent_id":{"value":"M-S0"},
        "hostname":"a1","resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":4},"role":"*"},
        {"name":"ports","type":"RANGES","ranges":{"range":[{"begin":31000,"end":32000}]},"role":"*"}],
        "attributes":[{"name":"rack","type":"TEXT","text":{"value":"r1"}}]});
    let o: Offer = from_json(&offer).unwrap();
    assert_eq!(o.resources.cpus(), 4.0);
    assert_eq!(to_json(&o), offer);
    binary_round_trip(&o);
}

#[test]
fn accept_launch_operation_reads_the_reference_form() {
    let op = json!({"type":"LAUNCH","launch":{"task_infos":[{"name":"t1","task_id":{"value":"t1"},
        "agent_id":{"value":"M-S0"},"resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":1},"role":"*"}],
        "command":{"shell":true,"value":"echo hi"}}]}});
    let o: OfferOperation = from_json(&op).unwrap();
    assert_eq!(o.kind, Some(OperationType::Launch));
    let t = &o.launch.as_ref().unwrap().task_infos[0];
    assert_eq!(
        t.command.as_ref().unwrap().value.as_deref(),
        Some("echo hi")
    );
    assert_eq!(to_json(&o), op);
    binary_round_trip(&o);
    // `shell` defaults to true and is always written.
    let c: CommandInfo = from_json(&json!({"value":"ls"})).unwrap();
    assert!(c.shell);
    assert_eq!(to_json(&c), json!({"shell":true,"value":"ls"}));
}

#[test]
fn update_status_carries_a_base64_uuid() {
    let st = json!({"task_id":{"value":"t1"},"state":"TASK_RUNNING","source":"SOURCE_EXECUTOR",
        "agent_id":{"value":"M-S0"},"executor_id":{"value":"t1"},"timestamp":1724430000.1,
        "uuid":"AAECAwQFBgcICQoLDA0ODw=="});
    let s: TaskStatus = from_json(&st).unwrap();
    assert_eq!(s.state, TaskState::Running);
    assert_eq!(s.source, Some(Source::Executor));
    assert_eq!(s.uuid.as_deref(), Some(&(0u8..16).collect::<Vec<_>>()[..]));
    assert_eq!(to_json(&s), st);
    binary_round_trip(&s);
    assert!(
        from_json::<TaskStatus>(&json!({"task_id":{"value":"t"},"state":"TASK_BOGUS"})).is_err()
    );
    assert!(from_json::<TaskStatus>(
        &json!({"task_id":{"value":"t"},"state":"TASK_LOST","uuid":"!!"})
    )
    .is_err());
}

#[test]
fn filters_default_to_five_seconds() {
    let f: Filters = from_json(&json!({})).unwrap();
    assert_eq!(f.refuse_seconds, 5.0);
    assert_eq!(to_json(&f), json!({"refuse_seconds":5.0}));
}

#[test]
fn enum_names_and_numbers_match_the_protos() {
    assert_eq!(TaskState::Staging.number(), 6);
    assert_eq!(TaskState::from_number(1), Some(TaskState::Running));
    assert_eq!(TaskState::GoneByOperator.as_str(), "TASK_GONE_BY_OPERATOR");
    assert_eq!(Reason::InvalidOffers.number(), 6);
    assert_eq!(Reason::Reconciliation.as_str(), "REASON_RECONCILIATION");
    assert_eq!(Reason::ALL.len(), 35);
    assert!(TaskState::Lost.is_terminal() && !TaskState::Unreachable.is_terminal());
    for s in TaskState::ALL {
        assert_eq!(TaskState::from_name(s.as_str()), Some(*s));
    }
}

#[test]
fn agent_and_master_info_defaults() {
    let a: AgentInfo = from_json(&json!({"hostname":"h"})).unwrap();
    assert_eq!(a.port, 5051);
    binary_round_trip(&a);
    let m = MasterInfo {
        id: "M".into(),
        ip: ipv4_as_mesos_u32("127.0.0.1".parse().unwrap()),
        port: 5050,
        pid: Some("master@127.0.0.1:5050".into()),
        hostname: Some("h".into()),
        version: Some("1.11.0".into()),
        address: Some(Address {
            hostname: Some("h".into()),
            ip: Some("127.0.0.1".into()),
            port: 5050,
        }),
        domain: None,
    };
    assert_eq!(m.ip, 16777343, "the reference's example value");
    assert_eq!(
        to_json(&m)["address"],
        json!({"hostname":"h","ip":"127.0.0.1","port":5050})
    );
    binary_round_trip(&m);
}

#[test]
fn scheduler_calls_and_events_use_the_proto_shapes() {
    use super::scheduler::*;
    // The doc errors the reference lists: OFFERS nests `offers`, ERROR is `error.message`,
    // REVIVE is `{"roles":[...]}`.
    let call: Call = from_json(
        &json!({"framework_id":{"value":"M-0000"},"type":"REVIVE","revive":{"roles":["a"]}}),
    )
    .unwrap();
    assert_eq!(call.kind, Some(CallType::Revive));
    assert_eq!(call.revive.as_ref().unwrap().roles, vec!["a".to_string()]);
    let ack: Call = from_json(
        &json!({"framework_id":{"value":"F"},"type":"ACKNOWLEDGE","acknowledge":{
        "agent_id":{"value":"S"},"task_id":{"value":"t"},"uuid":"AAECAwQFBgcICQoLDA0ODw=="}}),
    )
    .unwrap();
    assert_eq!(ack.acknowledge.as_ref().unwrap().uuid.len(), 16);
    binary_round_trip(&ack);
    let e = Event::error("Framework failed over");
    assert_eq!(
        to_json(&e),
        json!({"type":"ERROR","error":{"message":"Framework failed over"}})
    );
    let offers = Event {
        offers: Some(Offers::default()),
        ..Event::new(EventType::Offers)
    };
    assert_eq!(to_json(&offers), json!({"type":"OFFERS","offers":{}}));
    binary_round_trip(&offers);
    let sub: Call = from_json(&json!({"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"root","name":"t","failover_timeout":100}}})).unwrap();
    assert_eq!(
        sub.subscribe.unwrap().framework_info.failover_timeout,
        100.0
    );
}

/// Calls as clients send them, with most fields set (each must decode).
fn full_calls() -> Vec<(&'static str, serde_json::Value)> {
    let task = json!({
        "name": "t", "task_id": {"value": "t1"}, "agent_id": {"value": "a1"},
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}, "role": "*"},
            {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 31000, "end": 31001}]}}
        ],
        "command": {"value": "echo hi", "shell": true, "user": "nobody",
                    "uris": [{"value": "http://x/y.tgz", "extract": true, "executable": false, "cache": false}],
                    "environment": {"variables": [{"name": "A", "type": "VALUE", "value": "b"}]}},
        "labels": {"labels": [{"key": "k", "value": "v"}]},
        "kill_policy": {"grace_period": {"nanoseconds": 1000000000}}
    });
    vec![
        (
            "scheduler",
            json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": {
                "user": "root", "name": "full", "failover_timeout": 10.0, "checkpoint": true,
                "roles": ["a", "b"], "hostname": "h", "principal": "p", "webui_url": "http://u",
                "capabilities": [{"type": "MULTI_ROLE"}, {"type": "PARTITION_AWARE"}],
                "labels": {"labels": [{"key": "k", "value": "v"}]}},
                "suppressed_roles": ["b"]}}),
        ),
        (
            "scheduler",
            json!({"type": "ACCEPT", "framework_id": {"value": "f"}, "accept": {
                "offer_ids": [{"value": "o1"}],
                "operations": [{"type": "LAUNCH", "launch": {"task_infos": [task]}}],
                "filters": {"refuse_seconds": 5.0}}}),
        ),
        (
            "scheduler",
            json!({"type": "KILL", "framework_id": {"value": "f"}, "kill": {
                "task_id": {"value": "t1"}, "agent_id": {"value": "a1"}}}),
        ),
        (
            "scheduler",
            json!({"type": "RECONCILE", "framework_id": {"value": "f"}, "reconcile": {
                "tasks": [{"task_id": {"value": "t1"}, "agent_id": {"value": "a1"}}]}}),
        ),
        (
            "scheduler",
            json!({"type": "ACKNOWLEDGE", "framework_id": {"value": "f"}, "acknowledge": {
                "agent_id": {"value": "a1"}, "task_id": {"value": "t1"}, "uuid": "AAECAwQFBgcICQoLDA0ODw=="}}),
        ),
        (
            "executor",
            json!({"type": "UPDATE", "framework_id": {"value": "f"}, "executor_id": {"value": "e"},
                "update": {"status": {"task_id": {"value": "t1"}, "state": "TASK_RUNNING",
                    "source": "SOURCE_EXECUTOR", "message": "m", "data": "aGk=",
                    "uuid": "AAECAwQFBgcICQoLDA0ODw==", "healthy": true, "timestamp": 1.5}}}),
        ),
    ]
}

/// Decodes `v` as the API's call type; errors compared by their text.
fn decode(api: &str, v: &serde_json::Value) -> Result<String, String> {
    match api {
        "scheduler" => from_json::<super::scheduler::Call>(v).map(|c| format!("{c:?}")),
        _ => from_json::<super::executor::Call>(v).map(|c| format!("{c:?}")),
    }
    .map_err(|e| e.to_string())
}

/// The paths (object keys from the root) of every member of every object in `v`.
fn member_paths(v: &serde_json::Value, at: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    if let serde_json::Value::Object(m) = v {
        for (k, x) in m {
            at.push(k.clone());
            out.push(at.clone());
            member_paths(x, at, out);
            at.pop();
        }
    }
}

fn member_mut<'a>(
    v: &'a mut serde_json::Value,
    path: &[String],
) -> Option<&'a mut serde_json::Value> {
    path.iter().try_fold(v, |v, k| v.get_mut(k))
}

#[test]
fn the_full_calls_decode() {
    for (api, c) in full_calls() {
        assert!(decode(api, &c).is_ok(), "{c}: {:?}", decode(api, &c));
    }
}

proptest::proptest! {
    /// stout's reading: a `null` member is an unset field and unknown members are ignored, so
    /// a call with some fields taken out decodes exactly as the same call with those fields
    /// `null` and with unknown members added anywhere.
    #[test]
    fn nulls_are_unset_fields_and_unknown_members_are_ignored(
        which in 0usize..6,
        picks in proptest::collection::vec(proptest::num::usize::ANY, 0..6),
        extras in proptest::collection::vec(proptest::num::usize::ANY, 0..4),
    ) {
        let (api, call) = full_calls().swap_remove(which);
        let mut paths = Vec::new();
        member_paths(&call, &mut Vec::new(), &mut paths);
        // Never the call's `type`: that one says which call it is.
        paths.retain(|p| p != &["type".to_string()]);
        let (mut removed, mut nulled) = (call.clone(), call.clone());
        for pick in &picks {
            let path = &paths[pick % paths.len()];
            let (parent, key) = path.split_at(path.len() - 1);
            if let Some(serde_json::Value::Object(m)) = member_mut(&mut removed, parent) {
                m.remove(&key[0]);
            }
            if let Some(x) = member_mut(&mut nulled, path) {
                *x = serde_json::Value::Null;
            }
        }
        let with_extras = {
            let mut v = nulled.clone();
            for (i, e) in extras.iter().enumerate() {
                let path = &paths[e % paths.len()];
                let parent = &path[..path.len() - 1];
                if let Some(serde_json::Value::Object(m)) = member_mut(&mut v, parent) {
                    m.insert(format!("unknown_{i}"), json!({"nested": [1, null, "x"]}));
                }
            }
            v
        };
        let expected = decode(api, &removed);
        proptest::prop_assert_eq!(&decode(api, &nulled), &expected, "{}", nulled);
        proptest::prop_assert_eq!(&decode(api, &with_extras), &expected, "{}", with_extras);
    }
}
