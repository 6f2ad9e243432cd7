//! The `--acls` parser and the local authorizer over what it accepts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mesos_api::acls::{Acls, Authorizer, LocalAuthorizer, ENFORCED};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = mesos_api::auth::parse_credentials(text);
    if let Ok(acls) = Acls::parse(text) {
        let a = LocalAuthorizer::new(acls);
        for (action, _) in ENFORCED {
            for p in [None, Some("ops")] {
                let _ = a.authorized(action, p, Some("root"));
                let _ = a.authorized(action, p, None);
            }
        }
    }
});
