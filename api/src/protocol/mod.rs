//! The public protocol types (Mesos v1 protos): tasks, executors, status updates, frameworks,
//! offers and offer operations.
//!
//! Each type derives serde once and serves two codecs: the binary codec of the internal transport
//! (every field, in order) and the v1 JSON form, produced by [`to_json`]: stout's rules, i.e.
//! snake_case names, enums by name, `bytes` as base64, unset optional fields and empty repeated
//! fields left out, fields with a proto default always written. [`from_json`] reads the JSON
//! form, ignoring unknown keys and filling defaults.

pub mod command;
pub mod container;
pub(crate) mod enums;
pub mod executor;
pub mod framework;
pub mod offer;
pub mod scheduler;
pub mod task;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// The v1 JSON form of a protocol value.
pub fn to_json<T: Serialize>(v: &T) -> Value {
    let mut j = serde_json::to_value(v).unwrap_or(Value::Null);
    prune(&mut j);
    j
}

/// Reads a protocol value from its v1 JSON form.
pub fn from_json<T: DeserializeOwned>(v: &Value) -> Result<T, crate::ApiError> {
    T::deserialize(v).map_err(|e| crate::ApiError::Json {
        what: std::any::type_name::<T>()
            .rsplit("::")
            .next()
            .unwrap_or("value"),
        why: e.to_string(),
    })
}

/// Drops nulls (unset optional fields) and empty arrays (empty repeated fields) from objects.
fn prune(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !(x.is_null() || x.as_array().is_some_and(|a| a.is_empty())));
            for x in m.values_mut() {
                prune(x);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(prune),
        _ => {}
    }
}

#[cfg(test)]
mod tests;
