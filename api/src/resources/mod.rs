//! Resources: named scalars (fixed point, 3 decimals), ranges and sets, each carrying its
//! reservation stack (static, dynamic, refined), optional disk info (persistent volumes), and
//! revocable / shared / allocation-role markers; and [`Resources`], a collection with Mesos's
//! arithmetic (add merges what is addable, subtract what is subtractable, contains).

pub mod attributes;
mod json;
mod parse;
mod quantities;
mod ranges;
mod wire;

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

pub use json::{Full, ResourceFormat, Summary};
pub use quantities::ResourceQuantities;
pub use ranges::Ranges;

use crate::roles::{self, DEFAULT_ROLE};

/// A scalar in fixed point: thousandths, as Mesos rounds scalars to 3 decimal places.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Scalar(pub i64);

impl Scalar {
    /// Zero.
    pub const ZERO: Scalar = Scalar(0);

    /// The largest scalar accepted from input (10^12: an exabyte of memory in MB), far inside
    /// what thousandths in an `i64` hold, so sums of many never overflow.
    pub const MAX_VALUE: f64 = 1e12;

    /// Rounds a float to the nearest thousandth.
    pub fn from_f64(v: f64) -> Scalar {
        Scalar((v * 1000.0).round() as i64)
    }

    /// [`Scalar::from_f64`] of a value read from input: `None` unless finite and within
    /// [`Scalar::MAX_VALUE`] either way.
    pub fn checked_from_f64(v: f64) -> Option<Scalar> {
        (v.is_finite() && v.abs() <= Self::MAX_VALUE).then(|| Scalar::from_f64(v))
    }

    /// The value as a float.
    pub fn as_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }

    /// The value in thousandths.
    pub fn millis(self) -> i64 {
        self.0
    }
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 % 1000 == 0 {
            write!(f, "{}", self.0 / 1000)
        } else {
            let s = format!("{:.3}", self.as_f64());
            f.write_str(s.trim_end_matches('0'))
        }
    }
}

/// A resource's value.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Value {
    /// `cpus:4`.
    Scalar(Scalar),
    /// `ports:[31000-32000]`.
    Ranges(Ranges),
    /// `bugs:{a,b}`.
    Set(BTreeSet<String>),
}

impl Value {
    fn same_kind(&self, other: &Value) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }

    fn is_empty(&self) -> bool {
        match self {
            Value::Scalar(s) => s.0 == 0,
            Value::Ranges(r) => r.is_empty(),
            Value::Set(s) => s.is_empty(),
        }
    }

    fn add(&mut self, other: &Value) {
        match (self, other) {
            (Value::Scalar(a), Value::Scalar(b)) => a.0 = a.0.saturating_add(b.0),
            (Value::Ranges(a), Value::Ranges(b)) => a.add(b),
            (Value::Set(a), Value::Set(b)) => a.extend(b.iter().cloned()),
            _ => {}
        }
    }

    fn subtract(&mut self, other: &Value) {
        match (self, other) {
            (Value::Scalar(a), Value::Scalar(b)) => a.0 = a.0.saturating_sub(b.0),
            (Value::Ranges(a), Value::Ranges(b)) => a.subtract(b),
            (Value::Set(a), Value::Set(b)) => a.retain(|x| !b.contains(x)),
            _ => {}
        }
    }

    fn contains(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Scalar(a), Value::Scalar(b)) => a.0 >= b.0,
            (Value::Ranges(a), Value::Ranges(b)) => a.contains(b),
            (Value::Set(a), Value::Set(b)) => b.is_subset(a),
            _ => false,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Scalar(s) => write!(f, "{s}"),
            Value::Ranges(r) => write!(f, "{r}"),
            Value::Set(s) => {
                let items: Vec<&str> = s.iter().map(String::as_str).collect();
                write!(f, "{{{}}}", items.join(","))
            }
        }
    }
}

/// Static reservations come from the agent's `--resources`; dynamic ones from RESERVE.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ReservationType {
    /// `cpus(role):4` on the agent.
    Static,
    /// Made by an operator or framework (RESERVE).
    Dynamic,
}

/// One level of a resource's reservation stack.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Reservation {
    /// Static or dynamic.
    pub kind: ReservationType,
    /// The role reserved for.
    pub role: String,
    /// Who reserved it (dynamic).
    pub principal: Option<String>,
    /// Labels, as key/value pairs.
    pub labels: Vec<(String, String)>,
}

impl Reservation {
    /// A static reservation for a role.
    pub fn static_for(role: &str) -> Reservation {
        Reservation {
            kind: ReservationType::Static,
            role: role.to_string(),
            principal: None,
            labels: Vec::new(),
        }
    }

    /// A dynamic reservation for a role by a principal.
    pub fn dynamic_for(role: &str, principal: Option<&str>) -> Reservation {
        Reservation {
            kind: ReservationType::Dynamic,
            role: role.to_string(),
            principal: principal.map(str::to_string),
            labels: Vec::new(),
        }
    }
}

/// A persistent volume's identity.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Persistence {
    /// The volume id.
    pub id: String,
    /// Who created it.
    pub principal: Option<String>,
}

/// Read-write or read-only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum VolumeMode {
    /// `RW`.
    Rw,
    /// `RO`.
    Ro,
}

/// Where a volume is mounted in the container.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Volume {
    /// The path inside the container.
    pub container_path: String,
    /// The path on the host, if given.
    pub host_path: Option<String>,
    /// The mode.
    pub mode: VolumeMode,
}

/// Disk-specific information (persistent volumes).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct DiskInfo {
    /// Set for a persistent volume.
    pub persistence: Option<Persistence>,
    /// Its mount.
    pub volume: Option<Volume>,
}

/// A resource name as an `Arc`: the common names (`cpus`, `mem`, `disk`, `ports`, `gpus`) are
/// one shared allocation each, so that resources compare their names by pointer and a task's
/// resources do not each carry a copy of the name.
pub fn resource_name(name: &str) -> Arc<str> {
    static COMMON: std::sync::OnceLock<[Arc<str>; 5]> = std::sync::OnceLock::new();
    let common = COMMON.get_or_init(|| ["cpus", "mem", "disk", "ports", "gpus"].map(Arc::from));
    let i = match name {
        "cpus" => 0,
        "mem" => 1,
        "disk" => 2,
        "ports" => 3,
        "gpus" => 4,
        _ => return Arc::from(name),
    };
    common[i].clone()
}

/// One resource: a name, a value, and what it is reserved or allocated for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Resource {
    /// `cpus`, `mem`, `disk`, `ports`, `gpus`, or any custom name.
    pub name: Arc<str>,
    /// The value.
    pub value: Value,
    /// The reservation stack, outermost (first reserved) first; empty when unreserved.
    pub reservations: Vec<Reservation>,
    /// Disk info (persistent volumes); boxed, as most resources have none.
    pub disk: Option<Box<DiskInfo>>,
    /// Revocable resources may be taken back.
    pub revocable: bool,
    /// Shared resources (shared persistent volumes) may be used by several tasks.
    pub shared: bool,
    /// The role the resource is allocated to (multi-role frameworks).
    pub allocation_role: Option<Arc<str>>,
}

impl Resource {
    /// An unreserved scalar.
    pub fn scalar(name: &str, v: f64) -> Resource {
        Resource::new(name, Value::Scalar(Scalar::from_f64(v)))
    }

    /// Unreserved ranges.
    pub fn ranges(name: &str, r: impl IntoIterator<Item = (u64, u64)>) -> Resource {
        Resource::new(name, Value::Ranges(Ranges::new(r)))
    }

    /// An unreserved set.
    pub fn set(name: &str, items: impl IntoIterator<Item = impl Into<String>>) -> Resource {
        Resource::new(
            name,
            Value::Set(items.into_iter().map(Into::into).collect()),
        )
    }

    /// An unreserved resource.
    pub fn new(name: &str, value: Value) -> Resource {
        Resource {
            name: resource_name(name),
            value,
            reservations: Vec::new(),
            disk: None,
            revocable: false,
            shared: false,
            allocation_role: None,
        }
    }

    /// With one more reservation pushed on the stack.
    pub fn reserved(mut self, r: Reservation) -> Resource {
        self.reservations.push(r);
        self
    }

    /// The role of the innermost reservation, or `*` when unreserved.
    pub fn role(&self) -> &str {
        self.reservations.last().map_or(DEFAULT_ROLE, |r| &r.role)
    }

    /// Not reserved to any role.
    pub fn is_unreserved(&self) -> bool {
        self.reservations.is_empty()
    }

    /// Reserved, and to `role` exactly (innermost reservation).
    pub fn is_reserved_to(&self, role: &str) -> bool {
        !self.reservations.is_empty() && self.role() == role
    }

    /// Whether a framework in `role` may be offered this: unreserved, or reserved to `role` or one
    /// of its ancestors (reservations are usable by the whole role subtree).
    pub fn allocatable_to(&self, role: &str) -> bool {
        self.is_unreserved() || roles::is_in_subtree(role, self.role())
    }

    /// A persistent volume.
    pub fn is_persistent_volume(&self) -> bool {
        self.disk.as_ref().is_some_and(|d| d.persistence.is_some())
    }

    /// The scalar value, if scalar.
    pub fn scalar_value(&self) -> Option<Scalar> {
        match self.value {
            Value::Scalar(s) => Some(s),
            _ => None,
        }
    }

    fn same_metadata(&self, o: &Resource) -> bool {
        (Arc::ptr_eq(&self.name, &o.name) || self.name == o.name)
            && self.value.same_kind(&o.value)
            && self.reservations == o.reservations
            && self.disk == o.disk
            && self.revocable == o.revocable
            && self.shared == o.shared
            && match (&self.allocation_role, &o.allocation_role) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b) || a == b,
                (None, None) => true,
                _ => false,
            }
    }

    /// Whether `o` merges into `self` on addition. Two non-shared persistent volumes never merge.
    pub fn addable(&self, o: &Resource) -> bool {
        self.same_metadata(o) && (self.shared || !self.is_persistent_volume())
    }

    /// Whether `o` can be taken out of `self`. A non-shared persistent volume only as a whole.
    pub fn subtractable(&self, o: &Resource) -> bool {
        self.same_metadata(o)
            && (!self.is_persistent_volume() || self.shared || self.value == o.value)
    }

    /// Validity: scalars are finite and not negative; names are not empty; roles are valid.
    pub fn validate(&self) -> crate::Result<()> {
        if self.name.is_empty() {
            return Err(crate::ApiError::Json {
                what: "resource",
                why: "empty resource name".into(),
            });
        }
        if let Value::Scalar(s) = self.value {
            if s.0 < 0 {
                return Err(crate::ApiError::Json {
                    what: "resource",
                    why: format!("negative scalar for '{}'", self.name),
                });
            }
        }
        for r in &self.reservations {
            roles::validate(&r.role)?;
        }
        Ok(())
    }
}

impl fmt::Display for Resource {
    /// Mesos's text form: `cpus(role):4`, with `(allocated: role)` for allocated resources.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name)?;
        if !self.reservations.is_empty() {
            write!(f, "({})", self.role())?;
        }
        if let Some(a) = &self.allocation_role {
            write!(f, "(allocated: {a})")?;
        }
        if let Some(p) = self.disk.as_ref().and_then(|d| d.persistence.as_ref()) {
            write!(f, "[{}]", p.id)?;
        }
        write!(f, ":{}", self.value)
    }
}

/// A collection of resources with Mesos's arithmetic. Resources that can merge are kept merged,
/// and empty values (zero scalars, empty ranges or sets) are dropped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    items: Vec<Resource>,
}

impl Resources {
    /// No resources.
    pub fn new() -> Resources {
        Resources::default()
    }

    /// The resources, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = &Resource> {
        self.items.iter()
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Number of distinct (unmergeable) resources.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Adds one resource, merging it into an addable one if any.
    pub fn add(&mut self, r: &Resource) {
        if r.value.is_empty() {
            return;
        }
        match self.items.iter_mut().find(|x| x.addable(r)) {
            Some(x) => x.value.add(&r.value),
            None => self.items.push(r.clone()),
        }
    }

    /// Adds every resource of `other`.
    pub fn add_all(&mut self, other: &Resources) {
        for r in &other.items {
            self.add(r);
        }
    }

    /// Subtracts one resource from the subtractable one holding it (if any); values that become
    /// empty (or negative scalars) are removed.
    pub fn subtract(&mut self, r: &Resource) {
        if let Some(i) = self.items.iter().position(|x| x.subtractable(r)) {
            let x = &mut self.items[i];
            x.value.subtract(&r.value);
            let gone = match &x.value {
                Value::Scalar(s) => s.0 <= 0,
                v => v.is_empty(),
            };
            if gone {
                self.items.remove(i);
            }
        }
    }

    /// Subtracts every resource of `other`.
    pub fn subtract_all(&mut self, other: &Resources) {
        for r in &other.items {
            self.subtract(r);
        }
    }

    /// `self + other`.
    pub fn plus(&self, other: &Resources) -> Resources {
        let mut r = self.clone();
        r.add_all(other);
        r
    }

    /// `self - other`.
    pub fn minus(&self, other: &Resources) -> Resources {
        let mut r = self.clone();
        r.subtract_all(other);
        r
    }

    fn contains_one(&self, r: &Resource) -> bool {
        self.items
            .iter()
            .any(|x| x.subtractable(r) && x.value.contains(&r.value))
    }

    /// Whether every resource of `other` is held here (with the same reservations and metadata).
    pub fn contains(&self, other: &Resources) -> bool {
        let mut left = self.clone();
        for r in &other.items {
            if !left.contains_one(r) {
                return false;
            }
            left.subtract(r);
        }
        true
    }

    /// The resources matching a predicate.
    pub fn filter(&self, pred: impl Fn(&Resource) -> bool) -> Resources {
        Resources {
            items: self.items.iter().filter(|r| pred(r)).cloned().collect(),
        }
    }

    /// Unreserved resources.
    pub fn unreserved(&self) -> Resources {
        self.filter(Resource::is_unreserved)
    }

    /// Resources reserved (innermost) to `role`.
    pub fn reserved_to(&self, role: &str) -> Resources {
        self.filter(|r| r.is_reserved_to(role))
    }

    /// All reserved resources.
    pub fn reserved(&self) -> Resources {
        self.filter(|r| !r.is_unreserved())
    }

    /// What a framework in `role` may be offered: unreserved plus reserved to the role's line.
    pub fn allocatable_to(&self, role: &str) -> Resources {
        self.filter(|r| r.allocatable_to(role))
    }

    /// Revocable resources.
    pub fn revocable(&self) -> Resources {
        self.filter(|r| r.revocable)
    }

    /// Non-revocable resources.
    pub fn non_revocable(&self) -> Resources {
        self.filter(|r| !r.revocable)
    }

    /// Persistent volumes.
    pub fn persistent_volumes(&self) -> Resources {
        self.filter(Resource::is_persistent_volume)
    }

    /// The same resources with every reservation removed (and no allocation role).
    pub fn flatten(&self) -> Resources {
        let mut out = Resources::new();
        for r in &self.items {
            let mut r = r.clone();
            r.reservations.clear();
            r.allocation_role = None;
            out.add(&r);
        }
        out
    }

    /// The same resources marked as allocated to `role`.
    pub fn allocate(&self, role: &str) -> Resources {
        self.allocate_shared(&Arc::from(role))
    }

    /// [`Resources::allocate`] with a shared role name (no allocation for the name).
    pub fn allocate_shared(&self, role: &Arc<str>) -> Resources {
        let mut out = Resources {
            items: Vec::with_capacity(self.items.len()),
        };
        for r in &self.items {
            let mut r = r.clone();
            r.allocation_role = Some(role.clone());
            out.add_owned(r);
        }
        out
    }

    /// These resources marked as allocated to `role`, in place (no copies).
    pub fn into_allocated(mut self, role: &Arc<str>) -> Resources {
        let mut merged = false;
        for r in self.items.iter_mut() {
            if r.allocation_role
                .as_ref()
                .is_some_and(|a| !Arc::ptr_eq(a, role) && **a != **role)
            {
                merged = true;
            }
            r.allocation_role = Some(role.clone());
        }
        if merged {
            // Items that differed only by allocation role now merge.
            return self.items.into_iter().collect();
        }
        self
    }

    /// Adds one resource by value (no clone when it does not merge).
    pub fn add_owned(&mut self, r: Resource) {
        if r.value.is_empty() {
            return;
        }
        match self.items.iter_mut().find(|x| x.addable(&r)) {
            Some(x) => x.value.add(&r.value),
            None => self.items.push(r),
        }
    }

    /// The same resources without allocation roles.
    pub fn unallocate(&self) -> Resources {
        let mut out = Resources::new();
        for r in &self.items {
            let mut r = r.clone();
            r.allocation_role = None;
            out.add(&r);
        }
        out
    }

    /// The roles these resources are allocated to.
    pub fn allocation_roles(&self) -> BTreeSet<Arc<str>> {
        self.items
            .iter()
            .filter_map(|r| r.allocation_role.clone())
            .collect()
    }

    /// The total of a scalar resource, over all reservations.
    pub fn scalar(&self, name: &str) -> Scalar {
        Scalar(
            self.items
                .iter()
                .filter(|r| &*r.name == name)
                .filter_map(Resource::scalar_value)
                .map(|s| s.0)
                .sum(),
        )
    }

    /// The union of a ranges resource, over all reservations.
    pub fn ranges(&self, name: &str) -> Ranges {
        let mut out = Ranges::default();
        for r in self.items.iter().filter(|r| &*r.name == name) {
            if let Value::Ranges(x) = &r.value {
                out.add(x);
            }
        }
        out
    }

    /// cpus.
    pub fn cpus(&self) -> f64 {
        self.scalar("cpus").as_f64()
    }

    /// mem (MB).
    pub fn mem(&self) -> f64 {
        self.scalar("mem").as_f64()
    }

    /// The scalar totals by name.
    pub fn quantities(&self) -> ResourceQuantities {
        ResourceQuantities::from_resources(self)
    }

    /// Checks every resource (see [`Resource::validate`]).
    pub fn validate(&self) -> crate::Result<()> {
        self.items.iter().try_for_each(Resource::validate)
    }

    /// Consumes into the vector of resources.
    pub fn into_vec(self) -> Vec<Resource> {
        self.items
    }
}

impl From<Vec<Resource>> for Resources {
    fn from(v: Vec<Resource>) -> Resources {
        let mut out = Resources::new();
        for r in &v {
            out.add(r);
        }
        out
    }
}

impl FromIterator<Resource> for Resources {
    fn from_iter<I: IntoIterator<Item = Resource>>(it: I) -> Resources {
        let mut out = Resources::new();
        for r in it {
            out.add(&r);
        }
        out
    }
}

impl fmt::Display for Resources {
    /// `cpus:4; mem:1024; ports:[31000-32000]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.items.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
