//! Offer operations that change what resources are (not how much): RESERVE, UNRESERVE, CREATE and
//! DESTROY, each a conversion of some resources into others of the same quantity.

use mesos_api::resources::{Scalar, Value};
use mesos_api::{Resource, Resources};

use crate::types::AllocatorError;

/// An operation on resources.
#[derive(Clone, Debug, PartialEq)]
pub enum Operation {
    /// Push a reservation onto each resource (the resources as they will be).
    Reserve(Resources),
    /// Pop the innermost reservation of each resource (the resources as they are).
    Unreserve(Resources),
    /// Turn reserved disk into persistent volumes (the volumes).
    Create(Resources),
    /// Turn persistent volumes back into reserved disk (the volumes).
    Destroy(Resources),
    /// Grow a persistent volume by disk of its reservation (the volume, the addition).
    GrowVolume(Resource, Resource),
    /// Shrink a persistent volume, its freed disk staying reserved (the volume, by how much).
    ShrinkVolume(Resource, Scalar),
}

/// A volume that may be resized: a persistent volume of scalar disk, not shared.
fn resizable(v: &Resource) -> Result<Scalar, AllocatorError> {
    match &v.value {
        Value::Scalar(s) if v.is_persistent_volume() && !v.shared && &*v.name == "disk" => Ok(*s),
        _ => Err(AllocatorError::InvalidOperation(format!(
            "'{v}' is not a persistent volume that can be resized (a disk volume, not shared)"
        ))),
    }
}

impl Operation {
    /// `(consumed, produced)`.
    pub fn conversion(&self) -> Result<(Resources, Resources), AllocatorError> {
        let bad = |why: String| Err(AllocatorError::InvalidOperation(why));
        match self {
            Operation::Reserve(res) => {
                let mut from = Resources::new();
                for r in res.iter() {
                    if r.reservations.is_empty() {
                        return bad(format!("RESERVE of '{r}' carries no reservation"));
                    }
                    let mut x: Resource = r.clone();
                    x.reservations.pop();
                    from.add(&x);
                }
                Ok((from, res.clone()))
            }
            Operation::Unreserve(res) => {
                let mut to = Resources::new();
                for r in res.iter() {
                    if r.reservations.is_empty() {
                        return bad(format!("UNRESERVE of unreserved '{r}'"));
                    }
                    if r.is_persistent_volume() {
                        return bad(format!("UNRESERVE of persistent volume '{r}'"));
                    }
                    let mut x = r.clone();
                    x.reservations.pop();
                    to.add(&x);
                }
                Ok((res.clone(), to))
            }
            Operation::Create(vols) => {
                let mut from = Resources::new();
                for v in vols.iter() {
                    if !v.is_persistent_volume() || v.reservations.is_empty() {
                        return bad(format!(
                            "CREATE of '{v}': needs reserved disk with persistence"
                        ));
                    }
                    let mut x = v.clone();
                    x.disk = None;
                    x.shared = false;
                    from.add(&x);
                }
                Ok((from, vols.clone()))
            }
            Operation::Destroy(vols) => {
                let mut to = Resources::new();
                for v in vols.iter() {
                    if !v.is_persistent_volume() {
                        return bad(format!("DESTROY of '{v}': not a persistent volume"));
                    }
                    let mut x = v.clone();
                    x.disk = None;
                    x.shared = false;
                    to.add(&x);
                }
                Ok((vols.clone(), to))
            }
            Operation::GrowVolume(volume, addition) => {
                let size = resizable(volume)?;
                let more = match &addition.value {
                    Value::Scalar(s) if s.0 > 0 => *s,
                    _ => {
                        return bad(format!(
                            "GROW_VOLUME: addition '{addition}' must be more disk"
                        ))
                    }
                };
                let plain = addition
                    .disk
                    .as_ref()
                    .is_none_or(|d| d.persistence.is_none());
                if &*addition.name != "disk"
                    || !plain
                    || addition.shared
                    || addition.reservations != volume.reservations
                {
                    return bad(format!(
                        "GROW_VOLUME: addition '{addition}' must be disk of the volume's reservation, without persistence"
                    ));
                }
                let mut grown = volume.clone();
                grown.value = Value::Scalar(Scalar(size.0 + more.0));
                let mut from = Resources::new();
                from.add(volume);
                from.add(addition);
                Ok((from, Resources::from(vec![grown])))
            }
            Operation::ShrinkVolume(volume, by) => {
                let size = resizable(volume)?;
                if by.0 <= 0 || by.0 >= size.0 {
                    return bad(format!(
                        "SHRINK_VOLUME: 'subtract' must be more than 0 and less than the volume's {size}"
                    ));
                }
                let mut shrunk = volume.clone();
                shrunk.value = Value::Scalar(Scalar(size.0 - by.0));
                let mut freed = volume.clone();
                freed.disk = None;
                freed.value = Value::Scalar(*by);
                Ok((
                    Resources::from(vec![volume.clone()]),
                    Resources::from(vec![shrunk, freed]),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(value: f64, volume: bool) -> Resource {
        let mut r = serde_json::json!({"name": "disk", "type": "SCALAR", "scalar": {"value": value},
            "reservations": [{"type": "DYNAMIC", "role": "r"}]});
        if volume {
            r["disk"] = serde_json::json!({"persistence": {"id": "v"},
                "volume": {"container_path": "d", "mode": "RW"}});
        }
        Resource::from_json(&r).unwrap()
    }

    #[test]
    fn volumes_grow_by_reserved_disk_and_shrink_into_it() {
        let (from, to) = Operation::GrowVolume(disk(10.0, true), disk(5.0, false))
            .conversion()
            .unwrap();
        assert_eq!(from.to_string(), "disk(r)[v]:10; disk(r):5");
        assert_eq!(to.to_string(), "disk(r)[v]:15");
        let (from, to) = Operation::ShrinkVolume(disk(10.0, true), Scalar::from_f64(4.0))
            .conversion()
            .unwrap();
        assert_eq!(from.to_string(), "disk(r)[v]:10");
        assert_eq!(to.to_string(), "disk(r)[v]:6; disk(r):4");
        // Not by the whole volume, not by nothing, not with another volume, not a plain disk.
        for bad in [
            Operation::ShrinkVolume(disk(10.0, true), Scalar::from_f64(10.0)),
            Operation::ShrinkVolume(disk(10.0, true), Scalar::from_f64(0.0)),
            Operation::GrowVolume(disk(10.0, true), disk(5.0, true)),
            Operation::GrowVolume(disk(10.0, false), disk(5.0, false)),
        ] {
            assert!(bad.conversion().is_err(), "{bad:?}");
        }
    }
}
