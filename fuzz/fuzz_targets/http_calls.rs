//! The v1 APIs' call decoding: scheduler and executor calls, and operator calls, from a
//! request body as it arrives.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mesos_api::http::{decode_call, operator_call};
use mesos_api::protocol::{executor, scheduler};

fuzz_target!(|data: &[u8]| {
    let _ = decode_call::<scheduler::Call>(data);
    let _ = decode_call::<executor::Call>(data);
    let _ = operator_call(
        "POST",
        Some("application/json"),
        Some("application/json"),
        data,
    );
});
