//! Sandbox garbage collection, as Mesos's agent does it: when an executor's container ends its
//! run's sandbox is scheduled for removal `--gc_delay` later, and when a framework has no
//! executor left its whole sandbox directory is (taken off the schedule if the framework comes
//! back with a new executor). Every `--disk_watch_interval` the agent looks at the work
//! directory's disk: at usage `u` a sandbox is kept only
//! `gc_delay x max(0, 1 - gc_disk_headroom - u)`, so sandboxes go sooner as the disk fills.
//! Removals run off the agent's actor; `gc/path_removals_{pending,succeeded,failed}` count them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use libprocess::{Context, Counter, Gauge, Metrics};

use super::Agent;

/// What is scheduled, and the counters.
#[derive(Default)]
pub(crate) struct Gc {
    /// Each path and when it is due.
    due: BTreeMap<PathBuf, Instant>,
    metrics: Option<GcMetrics>,
    watching: bool,
}

struct GcMetrics {
    pending: Gauge,
    succeeded: Counter,
    failed: Counter,
}

/// How long a sandbox is kept at disk usage `usage` (a fraction): Mesos's formula.
pub(crate) fn age_at(gc_delay: Duration, headroom: f64, usage: f64) -> Duration {
    gc_delay.mul_f64((1.0 - headroom - usage).clamp(0.0, 1.0))
}

/// The used fraction of the filesystem holding `dir`.
fn disk_usage(dir: &Path) -> Option<f64> {
    let st = nix::sys::statvfs::statvfs(dir).ok()?;
    let total = st.blocks() as f64;
    (total > 0.0).then(|| 1.0 - st.blocks_available() as f64 / total)
}

impl Gc {
    /// Registers the metrics in `m` (the agent that keeps the process's `slave/*` names).
    pub(crate) fn with_metrics(&mut self, m: &Metrics) {
        self.metrics = Some(GcMetrics {
            pending: m.gauge("gc/path_removals_pending"),
            succeeded: m.counter("gc/path_removals_succeeded"),
            failed: m.counter("gc/path_removals_failed"),
        });
    }

    fn changed(&self) {
        if let Some(m) = &self.metrics {
            m.pending.set(self.due.len() as f64);
        }
    }
}

impl Agent {
    /// Schedules `path` for removal `--gc_delay` from now.
    pub(super) fn gc_schedule(&mut self, ctx: &mut Context<Self>, path: PathBuf) {
        let delay = self.flags.gc_delay;
        self.gc.due.insert(path, Instant::now() + delay);
        self.gc.changed();
        ctx.delay(delay, |a: &mut Agent, _| a.gc_prune(Duration::ZERO));
        self.gc_watch(ctx);
    }

    /// Takes `path` off the schedule (it is in use again).
    pub(super) fn gc_unschedule(&mut self, path: &Path) {
        if self.gc.due.remove(path).is_some() {
            self.gc.changed();
        }
    }

    /// Removes every path due within `within` from now.
    pub(super) fn gc_prune(&mut self, within: Duration) {
        let horizon = Instant::now() + within;
        let ready: Vec<PathBuf> = self
            .gc
            .due
            .iter()
            .filter(|(_, due)| **due <= horizon)
            .map(|(p, _)| p.clone())
            .collect();
        if ready.is_empty() {
            return;
        }
        for p in &ready {
            self.gc.due.remove(p);
        }
        self.gc.changed();
        let counters = self
            .gc
            .metrics
            .as_ref()
            .map(|m| (m.succeeded.clone(), m.failed.clone()));
        // A sandbox may be large: removed on a thread of its own.
        std::thread::spawn(move || {
            for p in ready {
                let r = match std::fs::remove_dir_all(&p) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    r => r,
                };
                match (&r, &counters) {
                    (Ok(()), Some((ok, _))) => ok.inc(),
                    (Err(_), Some((_, failed))) => failed.inc(),
                    _ => {}
                }
                match r {
                    Ok(()) => tracing::info!(path = %p.display(), "garbage collected"),
                    Err(e) => tracing::warn!(path = %p.display(), "cannot garbage collect: {e}"),
                }
            }
        });
    }

    /// Starts the disk watch once something is scheduled: every `--disk_watch_interval`, what
    /// the disk's usage says is too old goes.
    fn gc_watch(&mut self, ctx: &mut Context<Self>) {
        if self.gc.watching {
            return;
        }
        self.gc.watching = true;
        ctx.delay(self.flags.disk_watch_interval, |a: &mut Agent, c| {
            a.gc.watching = false;
            a.gc_check_disk();
            if !a.gc.due.is_empty() {
                a.gc_watch(c);
            }
        });
    }

    fn gc_check_disk(&mut self) {
        let Some(usage) = disk_usage(&self.flags.work_dir) else {
            return;
        };
        let f = &self.flags;
        let age = age_at(f.gc_delay, f.gc_disk_headroom, usage);
        tracing::debug!(usage, ?age, "disk usage: sandboxes are kept {age:?}");
        // Due within (delay - age): scheduled more than `age` ago.
        self.gc_prune(f.gc_delay.saturating_sub(age));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sandboxes_are_kept_less_as_the_disk_fills() {
        let week = Duration::from_secs(7 * 86400);
        assert_eq!(age_at(week, 0.1, 0.0), week.mul_f64(0.9));
        assert_eq!(age_at(week, 0.1, 0.5), week.mul_f64(0.4));
        assert_eq!(age_at(week, 0.1, 0.95), Duration::ZERO);
        assert_eq!(age_at(week, 1.0, 0.0), Duration::ZERO);
    }
}
