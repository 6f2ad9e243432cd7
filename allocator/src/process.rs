//! The allocator as a hot actor. Events that call for allocation (an agent added, a framework
//! added or activated, offers revived) add their agents to a candidate set and enqueue one
//! allocation run only if none is pending, so a burst of events shares one run; a periodic run
//! every allocation interval covers everything else (filters expiring, resources recovered).
//! Each run hands its offers to the owner in one batch.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use libprocess::{Context, Process};
use mesos_api::{AgentID, FrameworkID, Resources};

use crate::types::{AgentSpec, Allocation, FrameworkSpec};
use crate::Allocator;

/// Receives each run's offers, as one batch.
pub type OfferCallback = Box<dyn FnMut(Vec<Allocation>) + Send>;

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
            candidates: HashSet::new(),
            all_agents: false,
            pending: false,
            epoch: None,
            offers,
            runs: 0,
        }
    }

    /// The policy, for calls that do not ask for allocation.
    pub fn allocator_mut(&mut self) -> &mut dyn Allocator {
        &mut *self.allocator
    }

    /// Allocation runs so far.
    pub fn runs(&self) -> u64 {
        self.runs
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
        let out = if self.all_agents {
            self.all_agents = false;
            self.candidates.clear();
            self.allocator.allocate(now, None)
        } else {
            let c: Vec<AgentID> = self.candidates.drain().collect();
            self.allocator.allocate(now, Some(&c))
        };
        self.runs += 1;
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
        ctx.delay(self.interval, |p: &mut AllocatorProcess, ctx| {
            p.periodic(ctx)
        });
    }
}
