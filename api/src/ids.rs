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

type UuidSource = Box<dyn FnMut() -> u64>;

thread_local! {
    /// Where this thread's UUIDs come from instead of the OS (a simulation's seed).
    static UUID_SOURCE: std::cell::RefCell<Option<UuidSource>> = const { std::cell::RefCell::new(None) };
}

/// Makes the UUIDs made on this thread come from `next` (64 random bits a call) instead of the
/// OS: a deterministic simulation runs on one thread and draws them from its seed. `None`
/// restores the OS. The master's id, offer and framework ids and status update uuids all come
/// from [`new_uuid`] and [`new_uuid_bytes`].
pub fn set_uuid_source(next: Option<Box<dyn FnMut() -> u64>>) {
    UUID_SOURCE.with(|s| *s.borrow_mut() = next);
}

/// A random UUID (version 4) as its 16 bytes (the form of a status update's `uuid`).
pub fn new_uuid_bytes() -> Vec<u8> {
    use std::io::Read;
    let mut b = [0u8; 16];
    let seeded = UUID_SOURCE.with(|s| {
        let mut s = s.borrow_mut();
        let next = s.as_mut()?;
        b[..8].copy_from_slice(&next().to_le_bytes());
        b[8..].copy_from_slice(&next().to_le_bytes());
        Some(())
    });
    let ok = seeded.is_some()
        || std::fs::File::open("/dev/urandom")
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
    fn a_uuid_source_makes_this_threads_uuids_and_none_gives_the_os_back() {
        let mut n = 0u64;
        super::set_uuid_source(Some(Box::new(move || {
            n += 1;
            n
        })));
        let (a, b) = (super::new_uuid(), super::new_uuid());
        super::set_uuid_source(None);
        assert_eq!(a, "01000000-0000-4000-8200-000000000000");
        assert_eq!(b, "03000000-0000-4000-8400-000000000000");
        // Other threads were never affected, and this one is back on the OS.
        let other = std::thread::spawn(super::new_uuid).join().unwrap();
        assert_ne!(other, a);
        assert_ne!(super::new_uuid(), a);
    }

    #[test]
    fn uuids_are_v4_and_distinct() {
        let a = super::new_uuid();
        let b = super::new_uuid();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
    }
}
