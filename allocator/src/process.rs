//! The allocator as a hot actor. Events that call for allocation (an agent added, a framework
//! added or activated, offers revived) add their agents to a candidate set and enqueue one
//! allocation run only if none is pending, so a burst of events shares one run; a periodic run
//! every allocation interval covers everything else (filters expiring, resources recovered).
//! Each run hands its offers to the owner in one batch.

use std::collections::VecDeque;

use libprocess::util::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use libprocess::{Context, Process};
use mesos_api::{AgentID, FrameworkID, Resources};

use crate::types::{AgentSpec, Allocation, FrameworkSpec};
use crate::Allocator;

/// Receives each run's offers, as one batch.
pub type OfferCallback = Box<dyn FnMut(Vec<Allocation>) + Send>;

/// How many recent runs [`RunTimes`] keeps.
pub const RUN_WINDOW: usize = 4096;

/// One allocation run: its number, whether it visited every agent, and how long it took.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Run {
    /// 1 for the first run.
    pub seq: u64,
    /// A periodic (or framework-triggered) run over all agents, not a few candidates.
    pub all_agents: bool,
    /// Milliseconds in the policy's `allocate`.
    pub ms: f64,
}

/// The most recent runs (at most [`RUN_WINDOW`]), shared with the metrics registry.
#[derive(Clone, Default)]
pub struct RunTimes(Arc<Mutex<VecDeque<Run>>>);

impl RunTimes {
    fn push(&self, r: Run) {
        let mut q = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if q.len() == RUN_WINDOW {
            q.pop_front();
        }
        q.push_back(r);
    }

    /// The kept runs numbered above `seq`, oldest first.
    pub fn since(&self, seq: u64) -> Vec<Run> {
        let q = self.0.lock().unwrap_or_else(|e| e.into_inner());
        q.iter().filter(|r| r.seq > seq).copied().collect()
    }

    /// The `q` quantile (0..=1) of the kept runs' times, 0 with none.
    pub fn quantile(&self, q: f64) -> f64 {
        let mut v: Vec<f64> = self.since(0).iter().map(|r| r.ms).collect();
        quantile(&mut v, q)
    }
}

/// The `q` quantile (0..=1, nearest rank) of `v` (sorted in place); 0 when empty.
pub fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let i = ((v.len() - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize;
    v[i]
}

/// See the module docs.
pub struct AllocatorProcess {
    allocator: Box<dyn Allocator>,
    interval: Duration,
    candidates: HashSet<AgentID>,
    all_agents: bool,
    pending: bool,
    epoch: Option<Instant>,
    offers: OfferCallback,
    runs: u64,
    times: RunTimes,
    timer: Option<libprocess::metrics::Timing>,
}

impl AllocatorProcess {
    /// Wraps an allocator; `offers` is called with each non-empty batch.
    pub fn new(
        allocator: Box<dyn Allocator>,
        interval: Duration,
        offers: OfferCallback,
    ) -> AllocatorProcess {
        AllocatorProcess {
            allocator,
            interval,
            candidates: HashSet::default(),
            all_agents: false,
            pending: false,
            epoch: None,
            offers,
            runs: 0,
            times: RunTimes::default(),
            timer: None,
        }
    }

    /// The policy, to read.
    pub fn allocator(&self) -> &dyn Allocator {
        &*self.allocator
    }

    /// The policy, for calls that do not ask for allocation.
    pub fn allocator_mut(&mut self) -> &mut dyn Allocator {
        &mut *self.allocator
    }

    /// Allocation runs so far.
    pub fn runs(&self) -> u64 {
        self.runs
    }

    /// The recent runs' times (also served as `allocator/mesos/allocation_run_ms*` metrics).
    pub fn run_times(&self) -> RunTimes {
        self.times.clone()
    }

    /// Time on the runtime's clock since this process started.
    pub fn now(&self, ctx: &Context<Self>) -> Duration {
        let now = ctx.runtime().clock().now();
        self.epoch
            .map_or(Duration::ZERO, |e| now.saturating_duration_since(e))
    }

    /// Adds agents (all if `None`) to the candidate set and enqueues one run if none is pending.
    pub fn request_allocation(&mut self, ctx: &mut Context<Self>, agents: Option<&[AgentID]>) {
        match agents {
            Some(ids) => self.candidates.extend(ids.iter().cloned()),
            None => self.all_agents = true,
        }
        if !self.pending {
            self.pending = true;
            ctx.pid()
                .dispatch_nowait(|p: &mut AllocatorProcess, ctx| p.run(ctx));
        }
    }

    fn run(&mut self, ctx: &mut Context<Self>) {
        self.pending = false;
        let now = self.now(ctx);
        let started = Instant::now();
        let all_agents = self.all_agents;
        let out = if self.all_agents {
            self.all_agents = false;
            self.candidates.clear();
            self.allocator.allocate(now, None)
        } else {
            let c: Vec<AgentID> = self.candidates.drain().collect();
            self.allocator.allocate(now, Some(&c))
        };
        self.runs += 1;
        let ms = started.elapsed().as_secs_f64() * 1e3;
        self.times.push(Run {
            seq: self.runs,
            all_agents,
            ms,
        });
        if let Some(t) = &self.timer {
            t.record_ms(ms);
        }
        if !out.is_empty() {
            (self.offers)(out);
        }
    }

    fn periodic(&mut self, ctx: &mut Context<Self>) {
        self.request_allocation(ctx, None);
        ctx.delay(self.interval, |p: &mut AllocatorProcess, ctx| {
            p.periodic(ctx)
        });
    }

    /// Adds an agent and asks for an allocation of it.
    pub fn add_agent(
        &mut self,
        ctx: &mut Context<Self>,
        id: AgentID,
        spec: AgentSpec,
        used: &[(FrameworkID, Resources)],
    ) {
        self.allocator.add_agent(&id, spec, used);
        self.request_allocation(ctx, Some(std::slice::from_ref(&id)));
    }

    /// Adds a framework and asks for an allocation of every agent.
    pub fn add_framework(&mut self, ctx: &mut Context<Self>, id: FrameworkID, spec: FrameworkSpec) {
        self.allocator.add_framework(&id, spec, &[], true);
        self.request_allocation(ctx, None);
    }

    /// Revives offers and asks for an allocation of every agent.
    pub fn revive_offers(&mut self, ctx: &mut Context<Self>, id: FrameworkID, roles: &[String]) {
        self.allocator.revive_offers(&id, roles);
        self.request_allocation(ctx, None);
    }

    /// Takes back resources (with a refuse filter if given).
    pub fn recover_resources(
        &mut self,
        ctx: &mut Context<Self>,
        framework: FrameworkID,
        agent: AgentID,
        resources: &Resources,
        refuse: Option<Duration>,
    ) {
        let now = self.now(ctx);
        self.allocator
            .recover_resources(&framework, &agent, resources, refuse, now);
    }
}

impl Process for AllocatorProcess {
    fn initialize(&mut self, ctx: &mut Context<Self>) {
        self.epoch = Some(ctx.runtime().clock().now());
        // Mesos's allocation timer: the last run and quantiles over the recent runs.
        let m = ctx.runtime().metrics();
        let t = self.times.clone();
        let probe = ctx.pid().queue_probe();
        m.gauge_fn("allocator/mesos/event_queue_dispatches", move || {
            probe().map_or(0.0, |c| c.dispatches as f64)
        });
        m.gauge_fn("allocator/mesos/allocation_runs", move || {
            t.since(0).last().map_or(0.0, |r| r.seq as f64)
        });
        // A timer, as Mesos's (an hour's window): the last run, and once two runs are in,
        // `/count`, `/min`, `/max` and the percentiles; a summary at `/metrics`.
        self.timer = Some(m.timing(
            "allocator/mesos/allocation_run_ms",
            Duration::from_secs(3600),
        ));
        ctx.delay(self.interval, |p: &mut AllocatorProcess, ctx| {
            p.periodic(ctx)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_times_keep_a_window_and_answer_quantiles() {
        let t = RunTimes::default();
        for seq in 1..=(RUN_WINDOW as u64 + 10) {
            t.push(Run {
                seq,
                all_agents: seq.is_multiple_of(2),
                ms: seq as f64,
            });
        }
        let kept = t.since(0);
        assert_eq!(kept.len(), RUN_WINDOW);
        assert_eq!(kept[0].seq, 11);
        assert_eq!(t.since(RUN_WINDOW as u64 + 8).len(), 2);
        assert_eq!(t.quantile(0.0), 11.0);
        assert_eq!(t.quantile(1.0), (RUN_WINDOW + 10) as f64);
        assert_eq!(quantile(&mut [], 0.5), 0.0);
        assert_eq!(quantile(&mut [3.0, 1.0, 2.0], 0.5), 2.0);
    }
}
