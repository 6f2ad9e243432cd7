//! A metrics registry of counters, gauges and timers, served as flat JSON at
//! `/metrics/snapshot` (name -> number), the shape Mesos operators scrape.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// Samples kept by a [`Timing`] at most (Mesos's time series capacity).
pub const TIMING_CAPACITY: usize = 1000;

/// Durations in milliseconds with statistics over a window, as Mesos's `Timer<Milliseconds>`:
/// the snapshot shows the last value under the timer's name and, once it holds two samples,
/// `<name>/count`, `/min`, `/max`, `/p50`, `/p90`, `/p95`, `/p99`, `/p999` and `/p9999` of the
/// samples recorded within the window (at most [`TIMING_CAPACITY`], the newest kept).
#[derive(Clone)]
pub struct Timing(Arc<Mutex<TimingState>>);

struct TimingState {
    window: Duration,
    samples: VecDeque<(Instant, f64)>,
}

impl Timing {
    fn new(window: Duration) -> Timing {
        Timing(Arc::new(Mutex::new(TimingState {
            window,
            samples: VecDeque::new(),
        })))
    }

    /// Records one duration.
    pub fn record(&self, d: Duration) {
        self.record_ms(d.as_secs_f64() * 1000.0);
    }

    /// Records one value in milliseconds.
    pub fn record_ms(&self, ms: f64) {
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        s.samples.push_back((now, ms));
        s.prune(now);
    }

    /// The last value recorded (0 before any).
    pub fn last(&self) -> f64 {
        let s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        s.samples.back().map_or(0.0, |(_, v)| *v)
    }

    /// The statistics entries (`/count`, `/min`, ...) of the samples within the window; empty
    /// with fewer than two, as Mesos's.
    fn statistics(&self, name: &str, out: &mut Vec<(String, f64)>) {
        let mut values: Vec<f64> = {
            let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
            s.prune(Instant::now());
            s.samples.iter().map(|(_, v)| *v).collect()
        };
        if values.len() < 2 {
            return;
        }
        values.sort_by(f64::total_cmp);
        out.push((format!("{name}/count"), values.len() as f64));
        out.push((format!("{name}/max"), values[values.len() - 1]));
        out.push((format!("{name}/min"), values[0]));
        for (suffix, p) in [
            ("p50", 0.5),
            ("p90", 0.9),
            ("p95", 0.95),
            ("p99", 0.99),
            ("p999", 0.999),
            ("p9999", 0.9999),
        ] {
            out.push((format!("{name}/{suffix}"), percentile(&values, p)));
        }
    }
}

impl TimingState {
    fn prune(&mut self, now: Instant) {
        while self
            .samples
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > self.window)
        {
            self.samples.pop_front();
        }
        while self.samples.len() > TIMING_CAPACITY {
            self.samples.pop_front();
        }
    }
}

/// The `p` percentile of sorted `values` (at least two), interpolated linearly as Mesos does.
fn percentile(values: &[f64], p: f64) -> f64 {
    let pos = p * (values.len() - 1) as f64;
    let i = pos.floor() as usize;
    if i + 1 >= values.len() {
        return values[values.len() - 1];
    }
    values[i] + (values[i + 1] - values[i]) * (pos - i as f64)
}

type GaugeFn = Arc<dyn Fn() -> f64 + Send + Sync>;

#[derive(Clone)]
enum Metric {
    Counter(Counter),
    Gauge(Gauge),
    Computed(GaugeFn),
    Timing(Timing),
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

    /// The metric named `name` as `pick` sees it, inserting `make()` if the name is free. A
    /// name taken by another kind of metric gives a detached one (not registered).
    fn get_or_insert<T>(
        &self,
        name: &str,
        make: impl Fn() -> Metric,
        pick: impl Fn(&Metric) -> Option<T>,
    ) -> T {
        if let Some(t) = self.map.get(name).and_then(|m| pick(m.value())) {
            return t;
        }
        let found = pick(
            self.map
                .entry(name.to_string())
                .or_insert_with(&make)
                .value(),
        );
        found.unwrap_or_else(|| pick(&make()).expect("make() is the kind pick takes"))
    }

    /// The counter with this name, created at 0 if absent.
    pub fn counter(&self, name: &str) -> Counter {
        self.get_or_insert(
            name,
            || Metric::Counter(Counter::default()),
            |m| match m {
                Metric::Counter(c) => Some(c.clone()),
                _ => None,
            },
        )
    }

    /// The gauge with this name, created at 0 if absent.
    pub fn gauge(&self, name: &str) -> Gauge {
        self.get_or_insert(
            name,
            || Metric::Gauge(Gauge::default()),
            |m| match m {
                Metric::Gauge(g) => Some(g.clone()),
                _ => None,
            },
        )
    }

    /// The timer with this name (Mesos's timers carry their unit: `..._ms`), created empty
    /// with `window` if absent.
    pub fn timing(&self, name: &str, window: Duration) -> Timing {
        self.get_or_insert(
            name,
            || Metric::Timing(Timing::new(window)),
            |m| match m {
                Metric::Timing(t) => Some(t.clone()),
                _ => None,
            },
        )
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

    /// Every metric's current value (and each timer's statistics), sorted by name.
    pub fn snapshot(&self) -> BTreeMap<String, f64> {
        let metrics: Vec<(String, Metric)> = self
            .map
            .iter()
            .map(|e| (e.key().clone(), e.value().clone()))
            .collect();
        let mut out = Vec::with_capacity(metrics.len());
        for (k, m) in metrics {
            if let Metric::Timing(t) = &m {
                t.statistics(&k, &mut out);
            }
            out.push((k, read(&m)));
        }
        out.into_iter().collect()
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
        Metric::Timing(t) => t.last(),
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

    #[test]
    fn timers_show_the_last_value_and_statistics_once_they_hold_two() {
        let m = Metrics::new();
        let t = m.timing("r/store_ms", Duration::from_secs(3600));
        t.record_ms(5.0);
        let s = m.snapshot_json();
        assert_eq!(s["r/store_ms"], 5);
        assert!(s.get("r/store_ms/count").is_none(), "{s}");
        for v in 1..=9 {
            t.record(Duration::from_millis(v * 10));
        }
        let s = m.snapshot_json();
        assert_eq!(s["r/store_ms"], 90);
        assert_eq!(s["r/store_ms/count"], 10);
        assert_eq!(s["r/store_ms/min"], 5);
        assert_eq!(s["r/store_ms/max"], 90);
        // Sorted 5,10,..,90: position 0.5 * 9 = 4.5 lies between 40 and 50.
        assert_eq!(s["r/store_ms/p50"], 45);
        assert_eq!(s["r/store_ms/p9999"].as_f64().unwrap().round(), 90.0);
        // The same timer by name; the newest TIMING_CAPACITY samples are kept.
        let again = m.timing("r/store_ms", Duration::from_secs(1));
        for _ in 0..TIMING_CAPACITY {
            again.record_ms(1.0);
        }
        let s = m.snapshot_json();
        assert_eq!(s["r/store_ms/count"], TIMING_CAPACITY as i64);
        assert_eq!(s["r/store_ms/max"], 1);
    }

    #[test]
    fn a_timer_forgets_samples_older_than_its_window() {
        let m = Metrics::new();
        let t = m.timing("w_ms", Duration::from_millis(50));
        t.record_ms(1.0);
        t.record_ms(2.0);
        assert_eq!(m.snapshot_json()["w_ms/count"], 2);
        std::thread::sleep(Duration::from_millis(80));
        t.record_ms(3.0);
        let s = m.snapshot_json();
        assert!(s.get("w_ms/count").is_none(), "{s}");
        assert_eq!(s["w_ms"], 3);
    }
}
