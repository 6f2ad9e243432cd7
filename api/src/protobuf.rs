//! `application/x-protobuf`: Mesos's v1 messages in their binary form, with Mesos's field numbers.
//!
//! There is one set of types. Each already has its v1 JSON form (as stout reads and writes it);
//! a protobuf body is transcoded to and from that JSON against Mesos's v1 schema, compiled into
//! the binary as a descriptor set (`api/proto/mesos-v1.pb`, names, numbers and types only; see
//! `api/proto/regenerate.sh`). Decoding a call: bytes, then a dynamic message, then its JSON
//! (proto field names, enums by name, 64-bit integers as numbers), then the type's serde form.
//! Encoding an event or response runs the other way; fields our JSON carries beyond the schema
//! are left out, as a Mesos client could not read them.

use std::sync::OnceLock;

use prost::Message as _;
use prost_reflect::{
    DescriptorPool, DeserializeOptions, DynamicMessage, MessageDescriptor, SerializeOptions,
};

static DESCRIPTOR_SET: &[u8] = include_bytes!("../proto/mesos-v1.pb");

/// The scheduler API's call.
pub const SCHEDULER_CALL: &str = "mesos.v1.scheduler.Call";
/// The scheduler API's event.
pub const SCHEDULER_EVENT: &str = "mesos.v1.scheduler.Event";
/// The executor API's call.
pub const EXECUTOR_CALL: &str = "mesos.v1.executor.Call";
/// The executor API's event.
pub const EXECUTOR_EVENT: &str = "mesos.v1.executor.Event";
/// The master's operator API call.
pub const MASTER_CALL: &str = "mesos.v1.master.Call";
/// The master's operator API response.
pub const MASTER_RESPONSE: &str = "mesos.v1.master.Response";
/// The master's operator API event (the `SUBSCRIBE` stream).
pub const MASTER_EVENT: &str = "mesos.v1.master.Event";
/// The agent's operator API call.
pub const AGENT_CALL: &str = "mesos.v1.agent.Call";
/// The agent's operator API response.
pub const AGENT_RESPONSE: &str = "mesos.v1.agent.Response";
/// A nested container session's output record (`LAUNCH_NESTED_CONTAINER_SESSION`).
pub const AGENT_PROCESS_IO: &str = "mesos.v1.agent.ProcessIO";

/// Mesos's v1 schema (every message of the scheduler, executor, master and agent APIs).
pub fn schema() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        // The set is part of the binary and checked by the tests: it cannot fail to decode.
        DescriptorPool::decode(DESCRIPTOR_SET).expect("the built-in v1 descriptor set decodes")
    })
}

/// The descriptor of a v1 message by its full name (`mesos.v1.TaskStatus`).
pub fn message(name: &str) -> Result<MessageDescriptor, String> {
    schema()
        .get_message_by_name(name)
        .ok_or_else(|| format!("'{name}' is not a message of the v1 schema"))
}

/// Encodes the JSON form of a `name` message into protobuf bytes. Fields the schema does not
/// declare are left out; a field of the wrong shape is an error.
pub fn encode(name: &str, json: &serde_json::Value) -> Result<Vec<u8>, String> {
    let desc = message(name)?;
    let options = DeserializeOptions::new().deny_unknown_fields(false);
    let msg = DynamicMessage::deserialize_with_options(desc, json, &options)
        .map_err(|e| format!("cannot write {name} as protobuf: {e}"))?;
    Ok(msg.encode_to_vec())
}

/// Decodes protobuf bytes of a `name` message into its JSON form (proto field names, enums by
/// name, 64-bit integers as numbers, bytes as base64; unset fields absent).
pub fn decode(name: &str, bytes: &[u8]) -> Result<serde_json::Value, String> {
    let desc = message(name)?;
    let msg = DynamicMessage::decode(desc, bytes).map_err(|e| e.to_string())?;
    let options = SerializeOptions::new()
        .stringify_64_bit_integers(false)
        .use_proto_field_name(true)
        .skip_default_fields(true);
    msg.serialize_with_options(serde_json::value::Serializer, &options)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_schema_holds_every_api_message() {
        for name in [
            SCHEDULER_CALL,
            SCHEDULER_EVENT,
            EXECUTOR_CALL,
            EXECUTOR_EVENT,
            MASTER_CALL,
            MASTER_RESPONSE,
            MASTER_EVENT,
            AGENT_CALL,
            AGENT_RESPONSE,
            AGENT_PROCESS_IO,
        ] {
            assert!(message(name).is_ok(), "{name}");
        }
        assert!(message("mesos.v1.Nope").is_err());
    }

    #[test]
    fn field_numbers_are_mesos_s() {
        let status = message("mesos.v1.TaskStatus").unwrap();
        for (field, number) in [("task_id", 1), ("state", 2), ("uuid", 11), ("agent_id", 5)] {
            assert_eq!(status.get_field_by_name(field).unwrap().number(), number);
        }
    }

    #[test]
    fn json_round_trips_through_protobuf() {
        let call = json!({
            "framework_id": {"value": "f-1"},
            "type": "ACKNOWLEDGE",
            "acknowledge": {
                "agent_id": {"value": "a-1"},
                "task_id": {"value": "t-1"},
                "uuid": "AAECAw=="
            },
            "not_in_the_schema": 7
        });
        let bytes = encode(SCHEDULER_CALL, &call).unwrap();
        let back = decode(SCHEDULER_CALL, &bytes).unwrap();
        let mut want = call.clone();
        want.as_object_mut().unwrap().remove("not_in_the_schema");
        assert_eq!(back, want);
    }

    #[test]
    fn sixty_four_bit_numbers_stay_numbers() {
        let ev = json!({"type": "HEARTBEAT"});
        assert_eq!(
            decode(SCHEDULER_EVENT, &encode(SCHEDULER_EVENT, &ev).unwrap()).unwrap(),
            ev
        );
        let t = json!({"nanoseconds": 1_700_000_000_000_000_000i64});
        assert_eq!(
            decode(
                "mesos.v1.TimeInfo",
                &encode("mesos.v1.TimeInfo", &t).unwrap()
            )
            .unwrap(),
            t
        );
    }

    #[test]
    fn garbage_and_wrong_shapes_are_errors() {
        assert!(decode(SCHEDULER_CALL, &[0xff, 0xff, 0xff]).is_err());
        // An enum name the schema lacks is left out, as an unknown field is.
        let unknown = encode(SCHEDULER_CALL, &json!({"type": "NO_SUCH_CALL"})).unwrap();
        assert_eq!(decode(SCHEDULER_CALL, &unknown).unwrap(), json!({}));
        assert!(encode(SCHEDULER_CALL, &json!({"framework_id": "not an object"})).is_err());
    }
}
