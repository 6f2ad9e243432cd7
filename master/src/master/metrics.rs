//! The master's entries in `/metrics/snapshot` (Mesos's names). Counters move at events;
//! gauges derived from the master's state are recomputed at most every
//! [`REFRESH`] after a change, so a busy master pays for one recount per interval.

use std::time::{Duration, Instant};

use libprocess::{Context, Counter, Gauge, Metrics, QueueCounts, PID};
use mesos_api::protocol::scheduler::{CallType, EventType};
use mesos_api::protocol::task::TaskState;
use mesos_api::FrameworkID;

use super::Master;
use crate::state::FwCounter;

/// Shortest delay between a change and the gauges showing it. Recomputing walks every agent
/// and task, so on a large cluster the delay grows to 20 times the last recomputation's cost
/// (the gauges then take at most ~5% of the master's time).
pub(crate) const REFRESH: Duration = Duration::from_millis(50);

const GAUGES: &[&str] = &[
    "master/slaves_active",
    "master/slaves_connected",
    "master/slaves_disconnected",
    "master/slaves_inactive",
    "master/frameworks_active",
    "master/frameworks_connected",
    "master/frameworks_disconnected",
    "master/frameworks_inactive",
    "master/outstanding_offers",
    "master/tasks_staging",
    "master/tasks_starting",
    "master/tasks_running",
    "master/tasks_killing",
    "master/tasks_unreachable",
    "master/cpus_total",
    "master/cpus_used",
    "master/cpus_percent",
    "master/mem_total",
    "master/mem_used",
    "master/mem_percent",
    "master/disk_total",
    "master/disk_used",
    "master/disk_percent",
    "master/gpus_total",
    "master/gpus_used",
    "master/gpus_percent",
    // Ours (the web UI's overview): offered and reserved, per resource.
    "master/cpus_offered",
    "master/mem_offered",
    "master/disk_offered",
    "master/gpus_offered",
    "master/cpus_reserved",
    "master/mem_reserved",
    "master/disk_reserved",
    "master/gpus_reserved",
];

/// Counters of tasks reaching a terminal state.
const TERMINAL: &[(TaskState, &str)] = &[
    (TaskState::Finished, "master/tasks_finished"),
    (TaskState::Failed, "master/tasks_failed"),
    (TaskState::Killed, "master/tasks_killed"),
    (TaskState::Lost, "master/tasks_lost"),
    (TaskState::Error, "master/tasks_error"),
    (TaskState::Dropped, "master/tasks_dropped"),
    (TaskState::Gone, "master/tasks_gone"),
    (TaskState::GoneByOperator, "master/tasks_gone_by_operator"),
];

pub(crate) struct MasterMetrics {
    /// The registry, for the per-framework metrics (named by framework).
    registry: Metrics,
    gauges: Vec<Gauge>,
    terminal: Vec<Counter>,
    pub(crate) slave_registrations: Counter,
    pub(crate) slave_reregistrations: Counter,
    /// Authentications refused (wrong credentials, timed out, unknown mechanism).
    pub(crate) authentication_failures: Counter,
    /// Registrations and subscriptions refused because their sender did not authenticate.
    pub(crate) unauthenticated_refusals: Counter,
    /// Reregistrations of a connected agent from another address, refused.
    pub(crate) slave_reregistrations_refused: Counter,
    pub(crate) slave_registrations_refused: Counter,
    pub(crate) messages_framework_to_executor: Counter,
    pub(crate) valid_framework_to_executor_messages: Counter,
    pub(crate) invalid_framework_to_executor_messages: Counter,
    pub(crate) messages_executor_to_framework: Counter,
    pub(crate) valid_executor_to_framework_messages: Counter,
    pub(crate) invalid_executor_to_framework_messages: Counter,
    pub(crate) messages_exited_executor: Counter,
    pub(crate) slave_removals: Counter,
    pub(crate) slave_removals_unhealthy: Counter,
    pub(crate) valid_status_updates: Counter,
    pub(crate) invalid_status_updates: Counter,
    pub(crate) valid_status_update_acknowledgements: Counter,
    pub(crate) invalid_status_update_acknowledgements: Counter,
    pub(crate) messages_register_slave: Counter,
    pub(crate) messages_reregister_slave: Counter,
    pub(crate) messages_authenticate: Counter,
    pub(crate) messages_status_update: Counter,
    pub(crate) messages_reregister_framework: Counter,
    pub(crate) messages_resource_request: Counter,
    pub(crate) messages_reconcile_operations: Counter,
    pub(crate) messages_operation_status_update_acknowledgement: Counter,
    pub(crate) messages_launch_tasks: Counter,
    pub(crate) messages_decline_offers: Counter,
    pub(crate) messages_kill_task: Counter,
    pub(crate) messages_status_update_acknowledgement: Counter,
    pub(crate) messages_reconcile_tasks: Counter,
    pub(crate) messages_revive_offers: Counter,
    pub(crate) messages_suppress_offers: Counter,
    pub(crate) messages_register_framework: Counter,
    pub(crate) messages_unregister_framework: Counter,
    /// 1 while this master leads.
    pub(crate) elected: Gauge,
    /// Agents not reregistered in time after a failover.
    pub(crate) recovery_slave_removals: Counter,
    /// Messages dropped because this master does not lead (or has not recovered).
    pub(crate) dropped_messages: Counter,
    pub(crate) refresh_pending: bool,
    /// How long the last recomputation took.
    refresh_cost: Duration,
}

impl MasterMetrics {
    pub(crate) fn new(m: &Metrics) -> MasterMetrics {
        let started = Instant::now();
        m.gauge_fn("master/uptime_secs", move || {
            started.elapsed().as_secs_f64()
        });
        MasterMetrics {
            registry: m.clone(),
            gauges: GAUGES.iter().map(|n| m.gauge(n)).collect(),
            terminal: TERMINAL.iter().map(|(_, n)| m.counter(n)).collect(),
            slave_registrations: m.counter("master/slave_registrations"),
            slave_reregistrations: m.counter("master/slave_reregistrations"),
            slave_reregistrations_refused: m.counter("master/slave_reregistrations_refused"),
            slave_registrations_refused: m.counter("master/slave_registrations_refused"),
            messages_framework_to_executor: m.counter("master/messages_framework_to_executor"),
            valid_framework_to_executor_messages: m
                .counter("master/valid_framework_to_executor_messages"),
            invalid_framework_to_executor_messages: m
                .counter("master/invalid_framework_to_executor_messages"),
            messages_executor_to_framework: m.counter("master/messages_executor_to_framework"),
            valid_executor_to_framework_messages: m
                .counter("master/valid_executor_to_framework_messages"),
            invalid_executor_to_framework_messages: m
                .counter("master/invalid_executor_to_framework_messages"),
            messages_exited_executor: m.counter("master/messages_exited_executor"),
            authentication_failures: m.counter("master/authentication_failures"),
            unauthenticated_refusals: m.counter("master/unauthenticated_refusals"),
            slave_removals: m.counter("master/slave_removals"),
            slave_removals_unhealthy: m.counter("master/slave_removals/reason_unhealthy"),
            valid_status_updates: m.counter("master/valid_status_updates"),
            invalid_status_updates: m.counter("master/invalid_status_updates"),
            valid_status_update_acknowledgements: m
                .counter("master/valid_status_update_acknowledgements"),
            invalid_status_update_acknowledgements: m
                .counter("master/invalid_status_update_acknowledgements"),
            messages_register_slave: m.counter("master/messages_register_slave"),
            messages_reregister_slave: m.counter("master/messages_reregister_slave"),
            messages_authenticate: m.counter("master/messages_authenticate"),
            messages_status_update: m.counter("master/messages_status_update"),
            messages_reregister_framework: m.counter("master/messages_reregister_framework"),
            messages_resource_request: m.counter("master/messages_resource_request"),
            messages_reconcile_operations: m.counter("master/messages_reconcile_operations"),
            messages_operation_status_update_acknowledgement: m
                .counter("master/messages_operation_status_update_acknowledgement"),
            messages_launch_tasks: m.counter("master/messages_launch_tasks"),
            messages_decline_offers: m.counter("master/messages_decline_offers"),
            messages_kill_task: m.counter("master/messages_kill_task"),
            messages_status_update_acknowledgement: m
                .counter("master/messages_status_update_acknowledgement"),
            messages_reconcile_tasks: m.counter("master/messages_reconcile_tasks"),
            messages_revive_offers: m.counter("master/messages_revive_offers"),
            messages_suppress_offers: m.counter("master/messages_suppress_offers"),
            messages_register_framework: m.counter("master/messages_register_framework"),
            messages_unregister_framework: m.counter("master/messages_unregister_framework"),
            elected: m.gauge("master/elected"),
            dropped_messages: m.counter("master/dropped_messages"),
            recovery_slave_removals: m.counter("master/recovery_slave_removals"),
            refresh_pending: false,
            refresh_cost: Duration::ZERO,
        }
    }

    /// Mesos's `event_queue_*` gauges of a process's queue: `<prefix>event_queue_messages`,
    /// `_dispatches` and `_http_requests`.
    pub(crate) fn event_queue_gauges<P: libprocess::Process>(
        m: &Metrics,
        prefix: &str,
        pid: &PID<P>,
    ) {
        let probe = std::sync::Arc::new(pid.queue_probe());
        type Pick = fn(QueueCounts) -> usize;
        let kinds: [(&str, Pick); 3] = [
            ("messages", |c| c.messages),
            ("dispatches", |c| c.dispatches),
            ("http_requests", |c| c.http_requests),
        ];
        for (kind, pick) in kinds {
            let probe = probe.clone();
            m.gauge_fn(&format!("{prefix}event_queue_{kind}"), move || {
                probe().map_or(0.0, |c| pick(c) as f64)
            });
        }
    }

    /// A task reached `state` (counted once per task, when it becomes terminal).
    pub(crate) fn terminal(&self, state: TaskState) {
        if let Some(i) = TERMINAL.iter().position(|(s, _)| *s == state) {
            self.terminal[i].inc();
        }
    }
}

/// The prefix of a framework's metrics: `master/frameworks/<name, percent-encoded>/<id>/`, as
/// Mesos names them.
fn framework_prefix(name: &str, id: &FrameworkID) -> String {
    let mut out = String::from("master/frameworks/");
    percent_encode(name, &mut out);
    out.push('/');
    // A framework may choose its id at SUBSCRIBE: encoded too.
    percent_encode(&id.value, &mut out);
    out.push('/');
    out
}

/// Appends `text` percent-encoded (all but unreserved characters), as Mesos's `http::encode`.
fn percent_encode(text: &str, out: &mut String) {
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// Task states a framework's `tasks/active/<state>` gauges count.
const ACTIVE: &[TaskState] = &[
    TaskState::Staging,
    TaskState::Starting,
    TaskState::Running,
    TaskState::Killing,
    TaskState::Unreachable,
];

impl Master {
    /// Increments one of the master's counters.
    pub(super) fn count(&self, pick: impl FnOnce(&MasterMetrics) -> &Counter) {
        if let Some(m) = &self.metrics {
            pick(m).inc();
        }
    }

    /// Adds `n` to the framework's counter `<prefix><what>` (with
    /// `--publish_per_framework_metrics`); the handle is kept on the framework.
    pub(super) fn framework_count(&self, fid: &FrameworkID, what: FwCounter, n: u64) {
        let (Some(m), Some(f)) = (&self.metrics, self.frameworks.get(fid)) else {
            return;
        };
        if !self.flags.publish_per_framework_metrics || n == 0 {
            return;
        }
        let mut counters = f.counters.lock().unwrap_or_else(|e| e.into_inner());
        let c = counters.entry(what).or_insert_with(|| {
            let prefix = framework_prefix(&f.info.name, fid);
            m.registry.counter(&format!("{prefix}{}", what.name()))
        });
        c.add(n);
    }

    /// A framework's call (`calls`, `calls/<type>`).
    pub(super) fn framework_call_counted(&self, fid: &FrameworkID, kind: CallType) {
        self.framework_count(fid, FwCounter::Calls, 1);
        self.framework_count(fid, FwCounter::Call(kind), 1);
    }

    /// An event to a framework (`events`, `events/<type>`).
    pub(super) fn framework_event_counted(&self, fid: &FrameworkID, kind: EventType) {
        self.framework_count(fid, FwCounter::Events, 1);
        self.framework_count(fid, FwCounter::Event(kind), 1);
    }

    /// A task of the framework became terminal (`tasks/terminal/<state>`).
    pub(super) fn framework_task_ended(&self, fid: &FrameworkID, state: TaskState) {
        self.framework_count(fid, FwCounter::TaskEnded(state), 1);
    }

    /// Drops a framework's metrics under `name` (removed, or renamed: its handles go too).
    pub(super) fn forget_framework_metrics(&self, name: &str, fid: &FrameworkID) {
        if let Some(f) = self.frameworks.get(fid) {
            f.counters.lock().unwrap_or_else(|e| e.into_inner()).clear();
        }
        if let Some(m) = &self.metrics {
            m.registry.remove_prefix(&framework_prefix(name, fid));
        }
    }

    /// Marks the gauges stale; they are recomputed after [`REFRESH`] (or 20 times the last
    /// recomputation's cost, if longer).
    pub(super) fn metrics_changed(&mut self, ctx: &mut Context<Self>) {
        let Some(m) = self.metrics.as_mut() else {
            return;
        };
        if !m.refresh_pending {
            m.refresh_pending = true;
            let after = REFRESH.max(m.refresh_cost * 20);
            ctx.delay(after, |m: &mut Master, _| m.refresh_metrics());
        }
    }

    pub(super) fn refresh_metrics(&mut self) {
        let Some(m) = self.metrics.as_mut() else {
            return;
        };
        m.refresh_pending = false;
        let started = std::time::Instant::now();
        let mut v = [0.0f64; 34];
        let agents = self.agents.len() as f64;
        v[0] = agents;
        v[1] = agents;
        for f in self.frameworks.values() {
            if f.connected {
                v[4] += 1.0;
                v[5] += 1.0;
            } else {
                v[6] += 1.0;
            }
        }
        v[8] = self.offers.len() as f64;
        let mut used = mesos_api::Resources::new();
        for f in self.frameworks.values() {
            for t in f.tasks.values() {
                match t.state {
                    TaskState::Staging => v[9] += 1.0,
                    TaskState::Starting => v[10] += 1.0,
                    TaskState::Running => v[11] += 1.0,
                    TaskState::Killing => v[12] += 1.0,
                    TaskState::Unreachable => v[13] += 1.0,
                    _ => {}
                }
                if !t.state.is_terminal() {
                    used.add_all(&t.resources);
                }
            }
        }
        let mut total = mesos_api::Resources::new();
        for a in self.agents.values() {
            total.add_all(&a.info.resources);
        }
        let mut offered = mesos_api::Resources::new();
        for o in self.offers.values() {
            offered.add_all(&o.resources);
        }
        let reserved = total.reserved();
        for (i, name) in ["cpus", "mem", "disk", "gpus"].iter().enumerate() {
            let t = total.scalar(name).as_f64();
            let u = used.scalar(name).as_f64();
            v[14 + 3 * i] = t;
            v[15 + 3 * i] = u;
            v[16 + 3 * i] = if t > 0.0 { u / t } else { 0.0 };
            v[26 + i] = offered.scalar(name).as_f64();
            v[30 + i] = reserved.scalar(name).as_f64();
        }
        for (g, x) in m.gauges.iter().zip(v) {
            g.set(x);
        }
        if self.flags.publish_per_framework_metrics {
            for (fid, f) in &self.frameworks {
                let prefix = framework_prefix(&f.info.name, fid);
                let reg = &m.registry;
                reg.gauge(&format!("{prefix}subscribed"))
                    .set(if f.connected { 1.0 } else { 0.0 });
                // One pass over its tasks for every active state.
                let mut n = [0usize; ACTIVE.len()];
                for t in f.tasks.values() {
                    if let Some(i) = ACTIVE.iter().position(|s| *s == t.state) {
                        n[i] += 1;
                    }
                }
                for (s, n) in ACTIVE.iter().zip(n) {
                    let name = format!("{prefix}tasks/active/{}", s.as_str().to_ascii_lowercase());
                    reg.gauge(&name).set(n as f64);
                }
            }
        }
        m.refresh_cost = started.elapsed();
    }
}
