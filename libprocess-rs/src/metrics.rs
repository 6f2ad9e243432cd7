//! A metrics registry of counters and gauges, served as flat JSON at `/metrics/snapshot`
//! (name -> number), the shape Mesos operators scrape.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use dashmap::DashMap;

/// A monotonically increasing count.
#[derive(Clone, Default)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down.
#[derive(Clone, Default)]
pub struct Gauge(Arc<AtomicU64>);

impl Gauge {
    /// Sets the value.
    pub fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::Relaxed);
    }
    /// The current value.
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

type GaugeFn = Arc<dyn Fn() -> f64 + Send + Sync>;

#[derive(Clone)]
enum Metric {
    Counter(Counter),
    Gauge(Gauge),
    Computed(GaugeFn),
}

/// The registry. Cloning gives another handle to the same registry.
#[derive(Clone, Default)]
pub struct Metrics {
    map: Arc<DashMap<String, Metric>>,
}

impl Metrics {
    /// A new, empty registry.
    pub fn new() -> Metrics {
        Metrics::default()
    }

    /// The counter with this name, created at 0 if absent.
    pub fn counter(&self, name: &str) -> Counter {
        if let Some(m) = self.map.get(name) {
            if let Metric::Counter(c) = m.value() {
                return c.clone();
            }
        }
        match self
            .map
            .entry(name.to_string())
            .or_insert_with(|| Metric::Counter(Counter::default()))
            .value()
        {
            Metric::Counter(c) => c.clone(),
            _ => Counter::default(),
        }
    }

    /// The gauge with this name, created at 0 if absent.
    pub fn gauge(&self, name: &str) -> Gauge {
        if let Some(m) = self.map.get(name) {
            if let Metric::Gauge(g) = m.value() {
                return g.clone();
            }
        }
        match self
            .map
            .entry(name.to_string())
            .or_insert_with(|| Metric::Gauge(Gauge::default()))
            .value()
        {
            Metric::Gauge(g) => g.clone(),
            _ => Gauge::default(),
        }
    }

    /// A gauge computed when read.
    pub fn gauge_fn(&self, name: &str, f: impl Fn() -> f64 + Send + Sync + 'static) {
        self.map
            .insert(name.to_string(), Metric::Computed(Arc::new(f)));
    }

    /// Removes a metric.
    pub fn remove(&self, name: &str) {
        self.map.remove(name);
    }

    /// The value of one metric.
    pub fn value(&self, name: &str) -> Option<f64> {
        let m = self.map.get(name)?.value().clone();
        Some(read(&m))
    }

    /// Every metric's current value, sorted by name.
    pub fn snapshot(&self) -> BTreeMap<String, f64> {
        let metrics: Vec<(String, Metric)> = self
            .map
            .iter()
            .map(|e| (e.key().clone(), e.value().clone()))
            .collect();
        metrics.into_iter().map(|(k, m)| (k, read(&m))).collect()
    }

    /// The snapshot as the JSON object `/metrics/snapshot` serves.
    pub fn snapshot_json(&self) -> serde_json::Value {
        let map: serde_json::Map<String, serde_json::Value> = self
            .snapshot()
            .into_iter()
            .map(|(k, v)| (k, number(v)))
            .collect();
        serde_json::Value::Object(map)
    }
}

fn read(m: &Metric) -> f64 {
    match m {
        Metric::Counter(c) => c.get() as f64,
        Metric::Gauge(g) => g.get(),
        Metric::Computed(f) => f(),
    }
}

/// Integral values print as integers (`3`, not `3.0`), as Mesos does.
fn number(v: f64) -> serde_json::Value {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        serde_json::Value::from(v as i64)
    } else {
        serde_json::Number::from_f64(v)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_gauges_and_snapshot() {
        let m = Metrics::new();
        m.counter("a/count").inc();
        m.counter("a/count").add(2);
        m.gauge("b/level").set(1.5);
        m.gauge_fn("c/computed", || 7.0);
        let s = m.snapshot_json();
        assert_eq!(s["a/count"], 3);
        assert_eq!(s["b/level"], 1.5);
        assert_eq!(s["c/computed"], 7);
        m.remove("c/computed");
        assert!(m.value("c/computed").is_none());
    }
}
