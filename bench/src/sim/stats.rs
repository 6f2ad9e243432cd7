//! The simulator's counters: one child's, or all children's summed.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of one child (or, summed, of all).
#[derive(Default, Debug)]
pub struct Stats {
    /// Agents registered now.
    pub registered: AtomicU64,
    /// Frameworks subscribed now.
    pub subscribed: AtomicU64,
    /// Offers received.
    pub offers: AtomicU64,
    /// Tasks launched.
    pub launched: AtomicU64,
    /// TASK_RUNNING updates received.
    pub running: AtomicU64,
    /// TASK_FINISHED updates received.
    pub finished: AtomicU64,
    /// Other terminal updates received.
    pub failed: AtomicU64,
}

/// A snapshot of [`Stats`].
#[derive(Clone, Copy, Default, Debug, PartialEq)]
pub struct Counts {
    /// See [`Stats::registered`].
    pub registered: u64,
    /// See [`Stats::subscribed`].
    pub subscribed: u64,
    /// See [`Stats::offers`].
    pub offers: u64,
    /// See [`Stats::launched`].
    pub launched: u64,
    /// See [`Stats::running`].
    pub running: u64,
    /// See [`Stats::finished`].
    pub finished: u64,
    /// See [`Stats::failed`].
    pub failed: u64,
}

impl Stats {
    pub(crate) fn line(&self) -> String {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        format!(
            "stats registered={} subscribed={} offers={} launched={} running={} finished={} failed={}",
            g(&self.registered),
            g(&self.subscribed),
            g(&self.offers),
            g(&self.launched),
            g(&self.running),
            g(&self.finished),
            g(&self.failed)
        )
    }
}

impl Counts {
    /// Parses a child's `stats ...` line.
    pub fn parse(line: &str) -> Option<Counts> {
        let rest = line.strip_prefix("stats ")?;
        let mut c = Counts::default();
        for kv in rest.split_whitespace() {
            let (k, v) = kv.split_once('=')?;
            let v: u64 = v.parse().ok()?;
            match k {
                "registered" => c.registered = v,
                "subscribed" => c.subscribed = v,
                "offers" => c.offers = v,
                "launched" => c.launched = v,
                "running" => c.running = v,
                "finished" => c.finished = v,
                "failed" => c.failed = v,
                _ => {}
            }
        }
        Some(c)
    }

    pub(crate) fn add(&mut self, o: &Counts) {
        self.registered += o.registered;
        self.subscribed += o.subscribed;
        self.offers += o.offers;
        self.launched += o.launched;
        self.running += o.running;
        self.finished += o.finished;
        self.failed += o.failed;
    }
}

/// Seconds since the epoch.
pub fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
