//! The v1 APIs' call decoding: scheduler and executor calls, and operator calls, from a
//! request body as it arrives, in JSON and in protobuf.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mesos_api::http::{decode_call, operator_call, Encoding};
use mesos_api::protobuf::{AGENT_CALL, EXECUTOR_CALL, MASTER_CALL, SCHEDULER_CALL};
use mesos_api::protocol::{executor, scheduler};

fuzz_target!(|data: &[u8]| {
    for e in [Encoding::Json, Encoding::Protobuf] {
        let _ = decode_call::<scheduler::Call>(e, SCHEDULER_CALL, data);
        let _ = decode_call::<executor::Call>(e, EXECUTOR_CALL, data);
        for call in [MASTER_CALL, AGENT_CALL] {
            let _ = operator_call(
                "POST",
                Some(e.media_type()),
                Some("application/json"),
                data,
                call,
            );
        }
    }
});
