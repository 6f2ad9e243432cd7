//! Ids. Each is a string newtype whose v1 JSON form is `{"value": "..."}`.

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub struct $name {
            /// The id text.
            pub value: String,
        }

        impl $name {
            /// Wraps a string.
            pub fn new(value: impl Into<String>) -> $name {
                $name { value: value.into() }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.value)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> $name {
                $name::new(s)
            }
        }
    };
}

id_type!(
    /// A framework: `<masterUUID>-<4-digit sequence>`.
    FrameworkID
);
id_type!(
    /// An agent: `<masterUUID>-S<n>`.
    AgentID
);
id_type!(
    /// An offer: `<masterUUID>-O<n>`.
    OfferID
);
id_type!(
    /// A task, chosen by the framework.
    TaskID
);
id_type!(
    /// An executor, chosen by the framework (the task id for the command executor).
    ExecutorID
);
id_type!(
    /// A container, chosen by the agent (a UUID).
    ContainerID
);
id_type!(
    /// An offer operation, chosen by the framework (operation feedback).
    OperationID
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_use_the_value_object_form() {
        let id = AgentID::new("M-S0");
        assert_eq!(serde_json::to_string(&id).unwrap(), r#"{"value":"M-S0"}"#);
        let back: AgentID = serde_json::from_str(r#"{"value":"M-S0"}"#).unwrap();
        assert_eq!(back, id);
        assert_eq!(id.to_string(), "M-S0");
    }
}

/// A random UUID (version 4) in its text form, from the OS's random source (falling back to
/// a hash of the time and process id where `/dev/urandom` is unreadable).
pub fn new_uuid() -> String {
    let b = new_uuid_bytes();
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A random UUID (version 4) as its 16 bytes (the form of a status update's `uuid`).
pub fn new_uuid_bytes() -> Vec<u8> {
    use std::io::Read;
    let mut b = [0u8; 16];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .is_ok();
    if !ok {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        h.write_u32(std::process::id());
        let x = h.finish().to_le_bytes();
        b[..8].copy_from_slice(&x);
        b[8..].copy_from_slice(&x.map(|v| v.rotate_left(3)));
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    b.to_vec()
}

#[cfg(test)]
mod uuid_tests {
    #[test]
    fn uuids_are_v4_and_distinct() {
        let a = super::new_uuid();
        let b = super::new_uuid();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
    }
}
