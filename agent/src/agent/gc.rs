//! Sandbox garbage collection, as Mesos's agent does it: when an executor's container ends its
//! run's sandbox is scheduled for removal `--gc_delay` later, and when a framework has no
//! executor left its whole sandbox directory is (taken off the schedule if the framework comes
//! back with a new executor). Every `--disk_watch_interval` the agent looks at the work
//! directory's disk: at usage `u` a sandbox is kept only
//! `gc_delay x max(0, 1 - gc_disk_headroom - u)`, so sandboxes go sooner as the disk fills.
//! Removals run off the agent's actor; `gc/path_removals_{pending,succeeded,failed}` count them.
//!
//! Images too (Mesos's image garbage collection): PRUNE_IMAGES, and with `--image_gc_config`
//! every `image_disk_watch_interval` when the image store's disk is fuller than
//! `1 - image_disk_headroom`, the provisioner removes the images no container uses and that are
//! not excluded, and the layers left over; `gc/images_removed` and `gc/image_layers_removed`
//! count them (our names: Mesos has none).

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
    images: Counter,
    layers: Counter,
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
            images: m.counter("gc/images_removed"),
            layers: m.counter("gc/image_layers_removed"),
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
        self.gc_schedule_in(ctx, path, delay);
    }

    /// After a restart: every sandbox run directory on this work directory that no recovered
    /// executor holds (its executor ended before, or it belongs to an agent of before) is
    /// scheduled again, `--gc_delay` after it was last changed, as Mesos reschedules them.
    pub(super) fn gc_recovered(&mut self, ctx: &mut Context<Self>) {
        let held: std::collections::HashSet<PathBuf> = self
            .frameworks
            .values()
            .flat_map(|f| f.executors.values().map(|e| e.directory.clone()))
            .collect();
        let sub = |p: &Path, name: &str| -> Vec<PathBuf> {
            std::fs::read_dir(p.join(name))
                .into_iter()
                .flatten()
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path())
                .collect()
        };
        let mut runs = Vec::new();
        for agent in sub(&self.flags.work_dir, "slaves") {
            for fw in sub(&agent, "frameworks") {
                for ex in sub(&fw, "executors") {
                    runs.extend(sub(&ex, "runs").into_iter().filter(|r| !held.contains(r)));
                }
            }
        }
        let delay = self.flags.gc_delay;
        for run in runs {
            let age = std::fs::metadata(&run)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .unwrap_or_default();
            tracing::debug!(path = %run.display(), ?age, "rescheduling an ended sandbox for garbage collection");
            self.gc_schedule_in(ctx, run, delay.saturating_sub(age));
        }
    }

    /// Schedules `path` for removal `delay` from now.
    fn gc_schedule_in(&mut self, ctx: &mut Context<Self>, path: PathBuf, delay: Duration) {
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

    /// Prunes the image store, keeping `excluded` and `--image_gc_config`'s excluded images,
    /// on a thread of its own; `done` hears the outcome.
    pub(super) fn prune_images(
        &self,
        mut excluded: Vec<String>,
        done: impl FnOnce(Result<mesos_containerizer::provisioner::Pruned, String>) + Send + 'static,
    ) {
        if let Some(c) = &self.flags.image_gc {
            excluded.extend(c.excluded_images.iter().cloned());
        }
        let p = self.containerizer.provisioner.clone();
        let counters = self
            .gc
            .metrics
            .as_ref()
            .map(|m| (m.images.clone(), m.layers.clone()));
        std::thread::spawn(move || {
            let r = p.prune(&excluded).map_err(|e| e.to_string());
            if let (Ok(pruned), Some((images, layers))) = (&r, &counters) {
                images.add(pruned.images.len() as u64);
                layers.add(pruned.layers as u64);
            }
            if let Err(e) = &r {
                tracing::warn!("cannot prune the image store: {e}");
            }
            done(r);
        });
    }

    /// With `--image_gc_config`: every watch interval, a prune if the store's disk is too full.
    pub(super) fn image_gc_watch(&mut self, ctx: &mut Context<Self>) {
        let Some(c) = self.flags.image_gc.clone() else {
            return;
        };
        ctx.delay(c.image_disk_watch_interval, move |a: &mut Agent, ctx| {
            let dir = a.containerizer.provisioner.store_dir().to_path_buf();
            let usage = disk_usage(&dir).unwrap_or(0.0);
            if usage >= 1.0 - c.image_disk_headroom {
                tracing::info!(
                    usage,
                    "the image store's disk is full enough to prune images"
                );
                a.prune_images(Vec::new(), |_| {});
            }
            a.image_gc_watch(ctx);
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
