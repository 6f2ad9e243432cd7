//! A metrics registry of counters, gauges and timers, served as flat JSON at
//! `/metrics/snapshot` (name -> number), the shape Mesos operators scrape, and in Prometheus's
//! text exposition format at `/metrics` ([`Metrics::prometheus`]).

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
    /// Every sample ever recorded: how many, and their sum in milliseconds (a Prometheus
    /// summary's `_count` and `_sum`).
    count: u64,
    sum_ms: f64,
}

impl Timing {
    fn new(window: Duration) -> Timing {
        Timing(Arc::new(Mutex::new(TimingState {
            window,
            samples: VecDeque::new(),
            count: 0,
            sum_ms: 0.0,
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
        s.count += 1;
        s.sum_ms += ms;
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

impl Timing {
    /// (count, sum in ms) of every sample ever, and the sorted samples within the window.
    fn summary(&self) -> (u64, f64, Vec<f64>) {
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        s.prune(Instant::now());
        let mut values: Vec<f64> = s.samples.iter().map(|(_, v)| *v).collect();
        values.sort_by(f64::total_cmp);
        (s.count, s.sum_ms, values)
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

    /// Removes every metric whose name starts with `prefix`.
    pub fn remove_prefix(&self, prefix: &str) {
        self.map.retain(|k, _| !k.starts_with(prefix));
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

    /// Every metric in Prometheus's text exposition format (0.0.4), under Prometheus-style
    /// names: `mesos_` and the Mesos name with each character other than a letter, digit or
    /// `_` made `_` (`master/tasks_running` is `mesos_master_tasks_running`). Counters end in
    /// `_total`; gauges are gauges; a timer (milliseconds) is a summary in seconds, `_ms` made
    /// `_seconds`, with the quantiles of the samples in its window and the `_count` and `_sum`
    /// of every sample. Each has a HELP line naming the Mesos metric. Names that collide once
    /// mapped keep the first (by Mesos name).
    pub fn prometheus(&self) -> String {
        use std::fmt::Write;
        let mut metrics: Vec<(String, Metric)> = self
            .map
            .iter()
            .map(|e| (e.key().clone(), e.value().clone()))
            .collect();
        metrics.sort_by(|a, b| a.0.cmp(&b.0));
        let mut seen = std::collections::HashSet::new();
        let mut out = String::with_capacity(metrics.len() * 96);
        for (name, m) in metrics {
            let base = prometheus_name(&name);
            let (family, kind) = match &m {
                Metric::Counter(_) => (format!("{base}_total"), "counter"),
                Metric::Gauge(_) | Metric::Computed(_) => (gauge_family(&base), "gauge"),
                Metric::Timing(_) => {
                    let stem = base.strip_suffix("_ms").unwrap_or(&base);
                    (format!("{stem}_seconds"), "summary")
                }
            };
            if !seen.insert(family.clone()) {
                continue;
            }
            // HELP text escapes `\` and line breaks (a name may carry what a client chose).
            let help = name.replace('\\', "\\\\").replace('\n', "\\n");
            let _ = writeln!(out, "# HELP {family} Mesos metric {help}");
            let _ = writeln!(out, "# TYPE {family} {kind}");
            match &m {
                Metric::Timing(t) => {
                    let (count, sum_ms, values) = t.summary();
                    if !values.is_empty() {
                        for q in ["0.5", "0.9", "0.95", "0.99", "0.999"] {
                            let p = q.parse::<f64>().unwrap_or(0.5);
                            let v = if values.len() == 1 {
                                values[0]
                            } else {
                                percentile(&values, p)
                            };
                            let _ = writeln!(
                                out,
                                "{family}{{quantile=\"{q}\"}} {}",
                                prometheus_number(v / 1000.0)
                            );
                        }
                    }
                    let _ = writeln!(out, "{family}_sum {}", prometheus_number(sum_ms / 1000.0));
                    let _ = writeln!(out, "{family}_count {count}");
                }
                m => {
                    // A gauge in milliseconds is written in seconds (its name says so).
                    let scale = if family.ends_with("_seconds") && base_ms(&name) {
                        1000.0
                    } else {
                        1.0
                    };
                    let _ = writeln!(out, "{family} {}", prometheus_number(read(m) / scale));
                }
            }
        }
        out
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

/// `mesos_` and `name` with every run of characters other than ASCII letters and digits made
/// one `_`, none at the end (`__processes__/allocator(1)/event_queue_length` is
/// `mesos_processes_allocator_1_event_queue_length`).
fn prometheus_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 6);
    out.push_str("mesos_");
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

/// Whether a Mesos metric's name says milliseconds.
fn base_ms(name: &str) -> bool {
    name.ends_with("_ms")
}

/// A gauge's family name, as Prometheus's conventions (and `promtool check metrics`) want it:
/// milliseconds become seconds (`_ms` -> `_seconds`, the value divided by 1000), and a suffix
/// reserved for other kinds is renamed: `_total` (Mesos's capacities, `cpus_total`) becomes
/// `_capacity`, and `_count`, `_sum` and `_bucket` gain `_value`.
fn gauge_family(base: &str) -> String {
    if let Some(stem) = base.strip_suffix("_ms") {
        return format!("{stem}_seconds");
    }
    if let Some(stem) = base.strip_suffix("_total") {
        return format!("{stem}_capacity");
    }
    if ["_count", "_sum", "_bucket"]
        .iter()
        .any(|s| base.ends_with(s))
    {
        return format!("{base}_value");
    }
    base.to_string()
}

/// A sample value as Prometheus writes one (`NaN`, `+Inf`, `-Inf`).
fn prometheus_number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
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
    fn prometheus_text_names_kinds_and_summaries() {
        let m = Metrics::new();
        m.counter("master/messages_kill_task").add(3);
        m.gauge("master/tasks_running").set(2.0);
        m.gauge_fn("master/uptime_secs", || f64::NAN);
        m.gauge("master/cpus_total").set(8.0);
        m.gauge("registrar/state_fetch_ms").set(250.0);
        let t = m.timing("registrar/state_store_ms", Duration::from_secs(60));
        t.record_ms(10.0);
        t.record_ms(30.0);
        let text = m.prometheus();
        for line in [
            "# HELP mesos_master_messages_kill_task_total Mesos metric master/messages_kill_task",
            "# TYPE mesos_master_messages_kill_task_total counter",
            "mesos_master_messages_kill_task_total 3",
            "# TYPE mesos_master_tasks_running gauge",
            "mesos_master_tasks_running 2",
            "mesos_master_uptime_secs NaN",
            "# HELP mesos_master_cpus_capacity Mesos metric master/cpus_total",
            "mesos_master_cpus_capacity 8",
            "mesos_registrar_state_fetch_seconds 0.25",
            "# TYPE mesos_registrar_state_store_seconds summary",
            "mesos_registrar_state_store_seconds{quantile=\"0.5\"} 0.02",
            "mesos_registrar_state_store_seconds_sum 0.04",
            "mesos_registrar_state_store_seconds_count 2",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
        m.gauge("__processes__/allocator(1)/event_queue_length")
            .set(0.0);
        assert!(m
            .prometheus()
            .contains("\nmesos_processes_allocator_1_event_queue_length 0\n"));
        // A name with a line break (a framework's id is the framework's choice) stays one line.
        m.counter("master/frameworks/x/a\nb/calls").inc();
        assert!(m
            .prometheus()
            .contains("# HELP mesos_master_frameworks_x_a_b_calls_total Mesos metric master/frameworks/x/a\\nb/calls\n"));
        // One family per name, even when two Mesos names map to one.
        m.gauge("master/tasks/running").set(1.0);
        let text = m.prometheus();
        assert_eq!(
            text.matches("# TYPE mesos_master_tasks_running gauge")
                .count(),
            1,
            "{text}"
        );
    }

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
