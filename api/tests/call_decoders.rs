//! The JSON call decoders of the v1 APIs never panic: generated garbage (random bytes, random
//! JSON, valid calls with fields swapped for wrong types) decodes or is refused with a 4xx and
//! a one-line reason.

use mesos_api::http::{decode_call, Encoding};
use mesos_api::protobuf::{EXECUTOR_CALL, SCHEDULER_CALL};
use mesos_api::protocol::{executor, scheduler};
use proptest::prelude::*;
use serde_json::{json, Value};

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[A-Z_]{0,20}".prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("type".to_string()),
                        Just("framework_id".to_string()),
                        Just("value".to_string()),
                        Just("accept".to_string()),
                        Just("offer_ids".to_string()),
                        Just("operations".to_string()),
                        Just("subscribe".to_string()),
                        Just("framework_info".to_string()),
                        Just("acknowledge".to_string()),
                        Just("uuid".to_string()),
                        "[a-z_]{1,10}",
                    ],
                    inner
                ),
                0..5
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn valid_calls() -> Vec<Value> {
    vec![
        json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "u", "name": "n"}}}),
        json!({"type": "ACCEPT", "framework_id": {"value": "f"}, "accept": {
            "offer_ids": [{"value": "o"}], "operations": [{"type": "LAUNCH", "launch": {
                "task_infos": [{"name": "t", "task_id": {"value": "t"}, "agent_id": {"value": "a"},
                "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 1}}],
                "command": {"value": "true"}}]}}], "filters": {"refuse_seconds": 1}}}),
        json!({"type": "ACKNOWLEDGE", "framework_id": {"value": "f"}, "acknowledge": {
            "agent_id": {"value": "a"}, "task_id": {"value": "t"}, "uuid": "AAAAAAAAAAAAAAAAAAAAAA=="}}),
    ]
}

/// Replaces the value at a pseudo-random path of `v` with `with`.
fn mutate(v: &mut Value, mut pick: usize, with: Value) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            let n = m.len();
            let key = m.keys().nth(pick % n).cloned().unwrap();
            pick /= n;
            let child = m.get_mut(&key).unwrap();
            if pick.is_multiple_of(3) {
                *child = with;
            } else {
                mutate(child, pick, with);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            let n = a.len();
            let i = pick % n;
            mutate(&mut a[i], pick / n, with);
        }
        other => *other = with,
    }
}

fn check(body: &[u8]) {
    for r in [Encoding::Json, Encoding::Protobuf]
        .into_iter()
        .flat_map(|e| {
            [
                decode_call::<scheduler::Call>(e, SCHEDULER_CALL, body).err(),
                decode_call::<executor::Call>(e, EXECUTOR_CALL, body).err(),
            ]
        })
        .flatten()
    {
        assert!((400..500).contains(&r.status), "status {}", r.status);
        assert!(
            !r.message.contains('\n'),
            "multi-line reason: {}",
            r.message
        );
        assert!(!r.message.is_empty());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..256)) {
        check(&body);
    }

    #[test]
    fn random_json_never_panics(v in arb_json()) {
        check(&serde_json::to_vec(&v).unwrap());
    }

    #[test]
    fn mutated_calls_never_panic(which in 0usize..3, pick in any::<usize>(), with in arb_json()) {
        let mut v = valid_calls()[which].clone();
        mutate(&mut v, pick, with);
        check(&serde_json::to_vec(&v).unwrap());
    }
}

#[test]
fn valid_calls_decode() {
    for v in valid_calls() {
        let body = serde_json::to_vec(&v).unwrap();
        assert!(
            decode_call::<scheduler::Call>(Encoding::Json, SCHEDULER_CALL, &body).is_ok(),
            "{v}"
        );
        // The same call as protobuf decodes to the same value.
        let pb = mesos_api::protobuf::encode(SCHEDULER_CALL, &v).unwrap();
        assert_eq!(
            decode_call::<scheduler::Call>(Encoding::Protobuf, SCHEDULER_CALL, &pb).unwrap(),
            decode_call::<scheduler::Call>(Encoding::Json, SCHEDULER_CALL, &body).unwrap(),
            "{v}"
        );
    }
}
