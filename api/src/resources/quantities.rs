//! Scalar totals by name (`cpus:4;mem:1024`), what sorting, quota and headroom work with: no
//! roles, no ranges, just numbers.

use std::fmt;
use std::sync::Arc;

use super::{Resources, Scalar, Value};

/// Scalar quantities by name, sorted by name; zero entries are dropped.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ResourceQuantities(Vec<(Arc<str>, Scalar)>);

impl ResourceQuantities {
    /// None.
    pub fn new() -> ResourceQuantities {
        ResourceQuantities::default()
    }

    /// The sums of every scalar resource, by name, over all reservations.
    pub fn from_resources(r: &Resources) -> ResourceQuantities {
        let mut q = ResourceQuantities::new();
        for x in r.iter() {
            if let Value::Scalar(s) = x.value {
                q.add_one(&x.name, s);
            }
        }
        q
    }

    /// From `(name, value)` pairs.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, f64)>) -> ResourceQuantities {
        let mut q = ResourceQuantities::new();
        for (n, v) in pairs {
            q.add_one(n, Scalar::from_f64(v));
        }
        q
    }

    /// The entries.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Scalar)> {
        self.0.iter().map(|(n, s)| (&**n, *s))
    }

    /// True if every entry is zero.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// One entry's value (zero if absent).
    pub fn get(&self, name: &str) -> Scalar {
        match self.0.binary_search_by(|(n, _)| (**n).cmp(name)) {
            Ok(i) => self.0[i].1,
            Err(_) => Scalar::ZERO,
        }
    }

    /// Sets one entry (zero removes it).
    pub fn set(&mut self, name: &str, v: Scalar) {
        match self.0.binary_search_by(|(n, _)| (**n).cmp(name)) {
            Ok(i) if v.0 == 0 => {
                self.0.remove(i);
            }
            Ok(i) => self.0[i].1 = v,
            Err(_) if v.0 == 0 => {}
            Err(i) => self.0.insert(i, (Arc::from(name), v)),
        }
    }

    /// Adds to one entry.
    pub fn add_one(&mut self, name: &str, v: Scalar) {
        let cur = self.get(name);
        self.set(name, Scalar(cur.0.saturating_add(v.0)));
    }

    /// Adds every entry of `o`.
    pub fn add(&mut self, o: &ResourceQuantities) {
        for (n, v) in &o.0 {
            self.add_one(n, *v);
        }
    }

    /// Subtracts every entry of `o`, flooring at zero.
    pub fn subtract(&mut self, o: &ResourceQuantities) {
        for (n, v) in &o.0 {
            let cur = self.get(n);
            self.set(n, Scalar((cur.0 - v.0).max(0)));
        }
    }

    /// Whether every entry of `o` is at most ours.
    pub fn contains(&self, o: &ResourceQuantities) -> bool {
        o.0.iter().all(|(n, v)| self.get(n).0 >= v.0)
    }

    /// Names present.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(n, _)| &**n)
    }
}

impl fmt::Display for ResourceQuantities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (n, v)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(";")?;
            }
            write!(f, "{n}:{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_subtract_contains() {
        let mut a = ResourceQuantities::from_pairs([("cpus", 2.0), ("mem", 100.0)]);
        let b = ResourceQuantities::from_pairs([("cpus", 1.5), ("gpus", 1.0)]);
        a.add(&b);
        assert_eq!(a.get("cpus"), Scalar(3500));
        assert_eq!(a.get("gpus"), Scalar(1000));
        assert!(a.contains(&b));
        a.subtract(&ResourceQuantities::from_pairs([("gpus", 5.0)]));
        assert_eq!(a.get("gpus"), Scalar::ZERO);
        assert_eq!(a.to_string(), "cpus:3.5;mem:100");
    }
}
