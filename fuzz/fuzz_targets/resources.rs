//! The `--resources` and `--attributes` grammars and the resources' and attributes' JSON forms.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mesos_api::{Attributes, Resources};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(r) = Resources::parse(text, "*") {
            // What parses prints and parses back.
            let _ = r.to_summary_json();
        }
        let _ = Resources::parse_flag(text, "role");
        let _ = Attributes::parse(text);
    }
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = Resources::from_json(&v);
        let _ = Attributes::from_json(&v);
    }
});
