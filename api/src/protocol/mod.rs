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
    // In stout's JSON (how Mesos reads calls) a `null` member is an unset field, whatever the
    // field's type; clients that write every field of a message send the unset ones so.
    let stripped;
    let v = if has_null_member(v) {
        let mut c = v.clone();
        strip_nulls(&mut c);
        stripped = c;
        &stripped
    } else {
        v
    };
    T::deserialize(v).map_err(|e| crate::ApiError::Json {
        what: std::any::type_name::<T>()
            .rsplit("::")
            .next()
            .unwrap_or("value"),
        why: e.to_string(),
    })
}

/// Whether some object, at any depth, has a `null` member.
fn has_null_member(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.values().any(|x| x.is_null() || has_null_member(x)),
        Value::Array(a) => a.iter().any(has_null_member),
        _ => false,
    }
}

/// Drops the `null` members of objects, at every depth.
fn strip_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(strip_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// Drops nulls (unset optional fields) and empty arrays (empty repeated fields) from objects.
/// Leaves out, in place, what stout leaves out of a message's JSON (null members and empty
/// lists), as [`to_json`] does: for a value built as JSON already, without copying it.
pub fn prune_json(v: &mut Value) {
    prune(v)
}

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
