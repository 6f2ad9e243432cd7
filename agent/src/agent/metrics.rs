//! The agent's entries in `/metrics/snapshot` (Mesos's `slave/*` names). Counters move at
//! events; the gauges derived from the agent's state are recomputed [`REFRESH`] after a change
//! (one recount for a burst of changes). Several agents in one process (`mesos-local`) share one
//! registry: only the first keeps these names, as only one agent per process answers for them.

use std::time::{Duration, Instant};

use libprocess::{Context, Counter, Gauge, Metrics};
use mesos_api::protocol::task::TaskState;

use super::Agent;

/// Delay between a change and the gauges showing it.
const REFRESH: Duration = Duration::from_millis(50);

const GAUGES: &[&str] = &[
    "slave/registered",
    "slave/frameworks_active",
    "slave/tasks_staging",
    "slave/tasks_starting",
    "slave/tasks_running",
    "slave/tasks_killing",
    "slave/executors_registering",
    "slave/executors_running",
    "slave/executors_terminating",
    "slave/cpus_total",
    "slave/cpus_used",
    "slave/cpus_percent",
    "slave/mem_total",
    "slave/mem_used",
    "slave/mem_percent",
    "slave/disk_total",
    "slave/disk_used",
    "slave/disk_percent",
    "slave/gpus_total",
    "slave/gpus_used",
    "slave/gpus_percent",
];

/// Counters of tasks reaching a terminal state here.
const TERMINAL: &[(TaskState, &str)] = &[
    (TaskState::Finished, "slave/tasks_finished"),
    (TaskState::Failed, "slave/tasks_failed"),
    (TaskState::Killed, "slave/tasks_killed"),
    (TaskState::Lost, "slave/tasks_lost"),
    (TaskState::Error, "slave/tasks_error"),
    (TaskState::Dropped, "slave/tasks_dropped"),
    (TaskState::Gone, "slave/tasks_gone"),
];

pub(crate) struct AgentMetrics {
    gauges: Vec<Gauge>,
    terminal: Vec<Counter>,
    /// Status updates taken (from executors, or made by the agent).
    pub(crate) valid_status_updates: Counter,
    /// Status updates refused (an unknown task or executor).
    pub(crate) invalid_status_updates: Counter,
    /// Framework messages handed to a subscribed executor.
    pub(crate) valid_framework_messages: Counter,
    /// Framework messages dropped (no such executor, or not subscribed).
    pub(crate) invalid_framework_messages: Counter,
    /// Executor containers that could not be launched.
    pub(crate) container_launch_errors: Counter,
    /// Executors whose container ended.
    pub(crate) executors_terminated: Counter,
    /// Checkpointed executors or containers that could not be recovered after a restart.
    pub(crate) recovery_errors: Counter,
    /// Seconds the last recovery took.
    pub(crate) recovery_time_secs: Gauge,
    refresh_pending: bool,
}

impl AgentMetrics {
    /// The agent's metrics in `m`; None when another agent of this process has them.
    pub(crate) fn new(m: &Metrics) -> Option<AgentMetrics> {
        if m.value("slave/uptime_secs").is_some() {
            return None;
        }
        let started = Instant::now();
        m.gauge_fn("slave/uptime_secs", move || started.elapsed().as_secs_f64());
        // Executors are never preempted here (no revocable resources): a counter that stays 0.
        m.counter("slave/executors_preempted");
        // Counted by the containers themselves, shown from the start.
        m.counter("containerizer/mesos/container_destroy_errors");
        Some(AgentMetrics {
            gauges: GAUGES.iter().map(|n| m.gauge(n)).collect(),
            terminal: TERMINAL.iter().map(|(_, n)| m.counter(n)).collect(),
            valid_status_updates: m.counter("slave/valid_status_updates"),
            invalid_status_updates: m.counter("slave/invalid_status_updates"),
            valid_framework_messages: m.counter("slave/valid_framework_messages"),
            invalid_framework_messages: m.counter("slave/invalid_framework_messages"),
            container_launch_errors: m.counter("slave/container_launch_errors"),
            executors_terminated: m.counter("slave/executors_terminated"),
            recovery_errors: m.counter("slave/recovery_errors"),
            recovery_time_secs: m.gauge("slave/recovery_time_secs"),
            refresh_pending: false,
        })
    }

    /// A task reached `state` (counted once per task, when it becomes terminal).
    pub(crate) fn terminal(&self, state: TaskState) {
        if let Some(i) = TERMINAL.iter().position(|(s, _)| *s == state) {
            self.terminal[i].inc();
        }
    }
}

impl Agent {
    /// Runs `f` on the agent's metrics, if it keeps them.
    pub(super) fn count(&self, f: impl FnOnce(&AgentMetrics)) {
        if let Some(m) = &self.metrics {
            f(m);
        }
    }

    /// Marks the gauges stale; they are recomputed after [`REFRESH`].
    pub(super) fn metrics_changed(&mut self, ctx: &mut Context<Self>) {
        let Some(m) = self.metrics.as_mut() else {
            return;
        };
        if !m.refresh_pending {
            m.refresh_pending = true;
            ctx.delay(REFRESH, |a: &mut Agent, _| a.refresh_metrics());
        }
    }

    fn refresh_metrics(&mut self) {
        let Some(m) = self.metrics.as_mut() else {
            return;
        };
        m.refresh_pending = false;
        let mut v = [0.0f64; 21];
        v[0] = if self.registered { 1.0 } else { 0.0 };
        v[1] = self.frameworks.len() as f64;
        let mut used = mesos_api::Resources::new();
        for f in self.frameworks.values() {
            for e in f.executors.values() {
                if e.shutting_down {
                    v[8] += 1.0;
                } else if e.stream.is_some() {
                    v[7] += 1.0;
                } else {
                    v[6] += 1.0;
                }
                used.add_all(&e.info.resources);
                for t in e.tasks.values() {
                    match t.state {
                        TaskState::Staging => v[2] += 1.0,
                        TaskState::Starting => v[3] += 1.0,
                        TaskState::Running => v[4] += 1.0,
                        TaskState::Killing => v[5] += 1.0,
                        _ => {}
                    }
                    if !t.state.is_terminal() {
                        used.add_all(&t.resources);
                    }
                }
            }
        }
        let total = &self.info.resources;
        for (i, name) in ["cpus", "mem", "disk", "gpus"].iter().enumerate() {
            let t = total.scalar(name).as_f64();
            let u = used.scalar(name).as_f64();
            v[9 + 3 * i] = t;
            v[10 + 3 * i] = u;
            v[11 + 3 * i] = if t > 0.0 { u / t } else { 0.0 };
        }
        for (g, x) in m.gauges.iter().zip(v) {
            g.set(x);
        }
    }
}
