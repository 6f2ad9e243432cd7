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
