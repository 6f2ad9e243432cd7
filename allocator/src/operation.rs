//! Offer operations that change what resources are (not how much): RESERVE, UNRESERVE, CREATE and
//! DESTROY, each a conversion of some resources into others of the same quantity.

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
        }
    }
}
