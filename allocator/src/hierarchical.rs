//! The hierarchical DRF allocator core.
//!
//! A cycle visits agents in a seeded random order. Stage 1 serves roles whose quota guarantees
//! are not yet met, in role-sorter order, their frameworks in framework-sorter order: reserved
//! resources of the role's line plus unreserved scalars up to the unmet guarantee (within
//! limits). Stage 2 serves every role by fair share: reserved resources of the role's line plus
//! unreserved resources, kept within the role's limits and leaving enough unreserved resources
//! unallocated for other roles' unmet guarantees (headroom). Everywhere: skip suppressed roles,
//! filtered (framework, agent) pairs, GPU agents for frameworks without GPU_RESOURCES, and offers
//! smaller than every `min_allocatable_resources` alternative; stop with an agent once it is empty.
//!
//! Internally agents, frameworks and roles are dense indices; sorters see scalar quantities as
//! dense vectors over a resource-name table, so sorting never touches resource objects.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use mesos_api::{
    roles, AgentID, Attributes, FrameworkID, Resource, ResourceQuantities, Resources, Scalar, Value,
};

use rustc_hash::FxBuildHasher as FxBuild;

use crate::operation::Operation;
use crate::quota::QuotaPlan;
use crate::sorter::{self, Cursor, DrfSorter, Sorter};
use crate::types::{AgentSpec, Allocation, AllocatorError, FrameworkSpec, Options, Quota};
use crate::Allocator;
use libprocess::rng::Rng;

/// Filters last at most this long (365 days).
const MAX_FILTER: Duration = Duration::from_secs(365 * 24 * 3600);

struct Agent {
    id: AgentID,
    hostname: String,
    attributes: Attributes,
    total: Resources,
    /// `total` minus what frameworks hold (unallocated form), kept up to date; what each
    /// framework holds lives with the framework.
    available: Resources,
    has_gpus: bool,
    /// In another region than the master's.
    remote: bool,
    active: bool,
}

struct Filter {
    refused: Resources,
    expires: Duration,
}

struct Framework {
    id: FrameworkID,
    spec: FrameworkSpec,
    active: bool,
    allocated: HashMap<u32, Resources, FxBuild>,
    filters: HashMap<u32, Vec<Filter>, FxBuild>,
}

struct Role {
    name_arc: Arc<str>,
    frameworks: BTreeSet<u32>,
    sorter: Box<dyn Sorter>,
}

/// See the module docs.
pub struct HierarchicalAllocator {
    opts: Options,
    names: Vec<Arc<str>>,
    name_index: HashMap<Arc<str>, usize, FxBuild>,
    agents: Vec<Option<Agent>>,
    agent_index: HashMap<AgentID, u32, FxBuild>,
    free_agents: Vec<u32>,
    frameworks: Vec<Option<Framework>>,
    fw_index: HashMap<FrameworkID, u32, FxBuild>,
    free_fws: Vec<u32>,
    roles: Vec<Option<Role>>,
    role_index: HashMap<String, u32, FxBuild>,
    role_sorter: Box<dyn Sorter>,
    total: Vec<i64>,
    quotas: HashMap<String, Quota>,
    weights: HashMap<String, f64>,
    rng: Rng,
    excluded: Vec<usize>,
    // Scratch buffers reused by every cycle.
    scratch_agents: Vec<u32>,
    scratch_roles: Vec<u64>,
    scratch_fws: Vec<u64>,
    stamp: u64,
    scratch_q: Vec<i64>,
}

impl HierarchicalAllocator {
    /// A new allocator with these options.
    pub fn new(opts: Options) -> HierarchicalAllocator {
        let mut a = HierarchicalAllocator {
            role_sorter: sorter::make(opts.role_sorter, true, Vec::new(), opts.seed ^ 1),
            rng: Rng::new(opts.seed),
            opts,
            names: Vec::new(),
            name_index: HashMap::default(),
            agents: Vec::new(),
            agent_index: HashMap::default(),
            free_agents: Vec::new(),
            frameworks: Vec::new(),
            fw_index: HashMap::default(),
            free_fws: Vec::new(),
            roles: Vec::new(),
            role_index: HashMap::default(),
            total: Vec::new(),
            quotas: HashMap::new(),
            weights: HashMap::new(),
            excluded: Vec::new(),
            scratch_agents: Vec::new(),
            scratch_roles: Vec::new(),
            scratch_fws: Vec::new(),
            stamp: 0,
            scratch_q: Vec::new(),
        };
        let excluded: Vec<usize> = a
            .opts
            .fair_sharing_excluded_resource_names
            .clone()
            .iter()
            .map(|n| a.name_id(n))
            .collect();
        a.excluded = excluded.clone();
        a.role_sorter = sorter::make(a.opts.role_sorter, true, excluded, a.opts.seed ^ 1);
        a
    }

    fn name_id(&mut self, name: &str) -> usize {
        if let Some(&i) = self.name_index.get(name) {
            return i;
        }
        let n: Arc<str> = Arc::from(name);
        self.names.push(n.clone());
        self.name_index.insert(n, self.names.len() - 1);
        self.names.len() - 1
    }

    /// Dense scalar quantities of `r` into `out`.
    fn quantities_into(&mut self, r: &Resources, out: &mut Vec<i64>) {
        out.clear();
        out.resize(self.names.len(), 0);
        for x in r.iter() {
            if let Value::Scalar(s) = x.value {
                let i = match self.name_index.get(&x.name) {
                    Some(&i) => i,
                    None => {
                        let i = self.name_id(&x.name);
                        out.resize(self.names.len(), 0);
                        i
                    }
                };
                out[i] += s.0;
            }
        }
    }

    fn role_id(&mut self, name: &str) -> u32 {
        if let Some(&r) = self.role_index.get(name) {
            return r;
        }
        let role = Role {
            name_arc: Arc::from(name),
            frameworks: BTreeSet::new(),
            sorter: sorter::make(
                self.opts.framework_sorter,
                false,
                self.excluded.clone(),
                self.opts.seed ^ (self.roles.len() as u64 + 7),
            ),
        };
        self.roles.push(Some(role));
        let id = (self.roles.len() - 1) as u32;
        self.role_index.insert(name.to_string(), id);
        self.role_sorter.add(id, name);
        id
    }

    fn agent_mut(&mut self, id: &AgentID) -> Option<(u32, &mut Agent)> {
        let i = *self.agent_index.get(id)?;
        self.agents[i as usize].as_mut().map(|a| (i, a))
    }

    fn fw_idx(&self, id: &FrameworkID) -> Option<u32> {
        self.fw_index.get(id).copied()
    }

    /// Records an allocation everywhere (agent, framework, both sorters) and returns the
    /// resources marked as allocated to the role. With `taken`, `res` was already moved out of
    /// the agent's available resources.
    fn track_allocation(
        &mut self,
        fw: u32,
        agent: u32,
        role: u32,
        res: Resources,
        taken: bool,
        want: bool,
    ) -> Option<Resources> {
        let role_name = match self.roles[role as usize].as_ref() {
            Some(r) => r.name_arc.clone(),
            None => Arc::from("*"),
        };
        let mut q = std::mem::take(&mut self.scratch_q);
        self.quantities_into(&res, &mut q);
        if !taken {
            if let Some(a) = self.agents[agent as usize].as_mut() {
                a.available.subtract_all(&res);
            }
        }
        let alloc = res.into_allocated(&role_name);
        let mut result = None;
        if let Some(f) = self.frameworks[fw as usize].as_mut() {
            match f.allocated.entry(agent) {
                std::collections::hash_map::Entry::Vacant(v) => {
                    if want {
                        result = Some(alloc.clone());
                    }
                    v.insert(alloc);
                }
                std::collections::hash_map::Entry::Occupied(mut o) => {
                    o.get_mut().add_all(&alloc);
                    if want {
                        result = Some(alloc);
                    }
                }
            }
        }
        self.role_sorter.allocated(role, &q);
        if let Some(r) = self.roles[role as usize].as_mut() {
            r.sorter.allocated(fw, &q);
        }
        self.scratch_q = q;
        result
    }

    /// Undoes [`Self::track_allocation`] for resources in allocated form (resources without an
    /// allocation role count as the framework's first role).
    fn untrack_allocation(&mut self, fw: u32, agent: u32, res: &Resources) {
        let default_role: Arc<str> = self.frameworks[fw as usize]
            .as_ref()
            .and_then(|f| f.spec.roles.iter().next().map(|r| Arc::from(r.as_str())))
            .unwrap_or_else(|| Arc::from("*"));
        let first = res.iter().next().and_then(|r| r.allocation_role.clone());
        let single = res.iter().all(|r| r.allocation_role == first) && first.is_some();
        let groups: Vec<(Arc<str>, Resources)> = if single {
            vec![(first.expect("checked"), res.clone())]
        } else {
            let mut m: HashMap<Arc<str>, Resources> = HashMap::new();
            for r in res.iter() {
                let role = r
                    .allocation_role
                    .clone()
                    .unwrap_or_else(|| default_role.clone());
                let mut x = r.clone();
                x.allocation_role = Some(role.clone());
                m.entry(role).or_default().add_owned(x);
            }
            m.into_iter().collect()
        };
        for (role_name, held) in groups {
            let mut q = std::mem::take(&mut self.scratch_q);
            self.quantities_into(&held, &mut q);
            let role = self.role_index.get(&*role_name).copied();
            if let Some(a) = self.agents[agent as usize].as_mut() {
                for r in held.iter() {
                    let mut x = r.clone();
                    x.allocation_role = None;
                    a.available.add_owned(x);
                }
            }
            if let Some(f) = self.frameworks[fw as usize].as_mut() {
                if let Some(x) = f.allocated.get_mut(&agent) {
                    if *x == held {
                        f.allocated.remove(&agent);
                    } else {
                        x.subtract_all(&held);
                        if x.is_empty() {
                            f.allocated.remove(&agent);
                        }
                    }
                }
            }
            if let Some(role) = role {
                self.role_sorter.unallocated(role, &q);
                if let Some(r) = self.roles[role as usize].as_mut() {
                    r.sorter.unallocated(fw, &q);
                }
            }
            self.scratch_q = q;
        }
    }

    fn recompute_total(&mut self) {
        let mut total = vec![0i64; self.names.len()];
        let agents = std::mem::take(&mut self.agents);
        let mut q = Vec::new();
        for a in agents.iter().flatten() {
            self.quantities_into(&a.total, &mut q);
            sorter::add_into(&mut total, &q);
        }
        self.agents = agents;
        self.total = total;
    }

    fn is_allocatable(&self, r: &Resources) -> bool {
        if self.opts.min_allocatable_resources.is_empty() {
            return !r.is_empty();
        }
        self.opts
            .min_allocatable_resources
            .iter()
            .any(|m| m.iter().all(|(name, v)| r.scalar(name).0 >= v.0))
    }

    fn filtered(&mut self, fw: u32, agent: u32, offer: &Resources, now: Duration) -> bool {
        let Some(f) = self.frameworks[fw as usize].as_mut() else {
            return true;
        };
        let Some(list) = f.filters.get_mut(&agent) else {
            return false;
        };
        list.retain(|x| x.expires > now);
        let hit = list.iter().any(|x| x.refused.contains(offer));
        if list.is_empty() {
            f.filters.remove(&agent);
        }
        hit
    }

    /// The cycle's quota plan: consumption = allocations in each quota role's subtree plus
    /// unallocated reservations there; headroom = unreserved, unallocated scalars.
    fn quota_plan(&mut self) -> QuotaPlan {
        let role_names: Vec<Option<String>> = self
            .roles
            .iter()
            .map(|r| r.as_ref().map(|r| r.name_arc.to_string()))
            .collect();
        let names = self.names.len();
        let index = &self.name_index;
        let mut plan = QuotaPlan::new(&self.quotas, &role_names, names, |n| index.get(n).copied());
        if plan.is_empty() {
            return plan;
        }
        for ri in 0..self.roles.len() {
            if self.roles[ri].is_some() {
                let alloc = self.role_sorter.allocation(ri as u32).to_vec();
                plan.add_role_allocation(ri, &alloc);
            }
        }
        let mut q = Vec::new();
        let agents = std::mem::take(&mut self.agents);
        for a in agents.iter().flatten() {
            for r in a.available.iter().filter(|r| !r.is_unreserved()) {
                if let Value::Scalar(_) = r.value {
                    let one: Resources = std::iter::once(r.clone()).collect();
                    self.quantities_into(&one, &mut q);
                    plan.add_reservation(r.role(), &q);
                }
            }
            if a.active {
                self.quantities_into(&a.available.unreserved().non_revocable(), &mut q);
                sorter::add_into(&mut plan.headroom, &q);
            }
        }
        self.agents = agents;
        plan.headroom.resize(self.names.len(), 0);
        plan.finish();
        plan
    }

    /// Chops unreserved scalars of `offer` to at most `cap[i]` per name index (`None`: no cap).
    fn chop_unreserved(&self, offer: Resources, cap: &[Option<i64>]) -> Resources {
        let mut out = Resources::new();
        for r in offer.into_vec() {
            if !r.is_unreserved() {
                out.add(&r);
                continue;
            }
            match (r.value.clone(), self.name_index.get(&r.name)) {
                (Value::Scalar(s), Some(&i)) => match cap.get(i).copied().flatten() {
                    None => out.add(&r),
                    Some(c) if c <= 0 => {}
                    Some(c) => {
                        let mut x = r;
                        x.value = Value::Scalar(Scalar(s.0.min(c)));
                        out.add(&x);
                    }
                },
                _ => out.add(&r),
            }
        }
        out
    }

    fn run_stage(
        &mut self,
        now: Duration,
        mut stage1: Option<&mut DrfSorter>,
        plan: &mut QuotaPlan,
        out: &mut Vec<Allocation>,
    ) {
        let quota_stage = stage1.is_some();
        let agents = std::mem::take(&mut self.scratch_agents);
        // "Seen" marks per role and per framework, stamped per walk so they never need clearing.
        let mut role_seen = std::mem::take(&mut self.scratch_roles);
        let mut fw_seen = std::mem::take(&mut self.scratch_fws);
        role_seen.resize(self.roles.len(), 0);
        fw_seen.resize(self.frameworks.len(), 0);
        let nnames = self.names.len();
        let mut caps: Vec<Option<i64>> = vec![None; nnames];
        let mut q = Vec::new();
        let mut role_cursor = Cursor::new();
        let mut fw_cursor = Cursor::new();
        let mut unmet_buf: Vec<i64> = Vec::new();
        for &ai in &agents {
            if quota_stage && !plan.any_unmet() {
                break; // Every guarantee is met: stage 1 is done.
            }
            let Some(agent) = self.agents[ai as usize].as_ref() else {
                continue;
            };
            if !agent.active || agent.available.is_empty() {
                continue;
            }
            // Roles in sorter order, walked in place. An allocation re-sorts; the walk then
            // restarts from the front and skips roles already visited for this agent.
            self.stamp += 1;
            let role_stamp = self.stamp;
            role_cursor.reset();
            'roles: loop {
                let next = match stage1.as_mut() {
                    Some(s1) => s1.next(&mut role_cursor),
                    None => self.role_sorter.next(&mut role_cursor),
                };
                let Some(ri) = next else {
                    break;
                };
                if role_seen[ri as usize] == role_stamp {
                    continue;
                }
                role_seen[ri as usize] = role_stamp;
                let Some(role) = self.roles[ri as usize].as_ref() else {
                    continue;
                };
                let role_name = role.name_arc.clone();
                // Stage 1 only serves roles with a guarantee still unmet.
                if quota_stage && !plan.unmet_into(ri as usize, &mut unmet_buf) {
                    continue;
                }
                let unmet = quota_stage.then_some(unmet_buf.as_slice());
                self.stamp += 1;
                let fw_stamp = self.stamp;
                fw_cursor.reset();
                loop {
                    let next = self.roles[ri as usize]
                        .as_mut()
                        .and_then(|r| r.sorter.next(&mut fw_cursor));
                    let Some(fi) = next else {
                        break;
                    };
                    if fw_seen[fi as usize] == fw_stamp {
                        continue;
                    }
                    fw_seen[fi as usize] = fw_stamp;
                    let agent = self.agents[ai as usize].as_ref().expect("agent");
                    if agent.available.is_empty() {
                        break 'roles;
                    }
                    let Some(f) = self.frameworks[fi as usize].as_ref() else {
                        continue;
                    };
                    if !f.active || f.spec.suppressed_roles.contains(&*role_name) {
                        continue;
                    }
                    if (agent.has_gpus && !f.spec.gpu_resources)
                        || (agent.remote && !f.spec.region_aware)
                    {
                        continue;
                    }
                    if f.spec
                        .offer_constraints
                        .as_ref()
                        .is_some_and(|c| c.excludes(&role_name, &agent.hostname, &agent.attributes))
                    {
                        continue;
                    }
                    let quota_in_play = !plan.is_empty() || quota_stage;
                    // Common case: everything available goes to this framework. Move it out of
                    // the agent (put back if the offer does not happen) instead of copying it.
                    let whole = !quota_in_play
                        && agent.available.iter().all(|r| r.allocatable_to(&role_name));
                    let mut offer = if whole {
                        let a = self.agents[ai as usize].as_mut().expect("agent");
                        std::mem::take(&mut a.available)
                    } else {
                        agent.available.allocatable_to(&role_name)
                    };
                    if quota_in_play {
                        plan.caps(ri as usize, unmet, &mut caps);
                        offer = self.chop_unreserved(offer, &caps);
                        if quota_stage && !offer.iter().any(|r| matches!(r.value, Value::Scalar(_)))
                        {
                            continue;
                        }
                    }
                    if offer.is_empty()
                        || !self.is_allocatable(&offer)
                        || self.filtered(fi, ai, &offer, now)
                    {
                        if whole {
                            self.agents[ai as usize].as_mut().expect("agent").available = offer;
                        }
                        continue;
                    }
                    // Account for quota consumption and headroom (reserved resources were
                    // already counted as consumed).
                    if !plan.is_empty() {
                        self.quantities_into(&offer.unreserved(), &mut q);
                        plan.consume(ri as usize, &q);
                    }
                    if let Some(s1) = stage1.as_mut() {
                        let mut all = Vec::new();
                        self.quantities_into(&offer, &mut all);
                        s1.allocated(ri, &all);
                        let mut after = Vec::new();
                        if !plan.unmet_into(ri as usize, &mut after) {
                            s1.deactivate(ri);
                        }
                    }
                    let exhausts = whole || {
                        let agent = self.agents[ai as usize].as_ref().expect("agent");
                        agent.available == offer
                    };
                    let agent_id = self.agents[ai as usize].as_ref().expect("agent").id.clone();
                    let fw_id = self.frameworks[fi as usize]
                        .as_ref()
                        .expect("fw")
                        .id
                        .clone();
                    let resources = self
                        .track_allocation(fi, ai, ri, offer, whole, true)
                        .unwrap_or_default();
                    out.push(Allocation {
                        framework_id: fw_id,
                        agent_id,
                        role: role_name.to_string(),
                        resources,
                    });
                    if quota_stage || exhausts {
                        // Stage 1 serves one framework per role per agent (the next role gets
                        // the rest); an exhausted agent is done.
                        continue 'roles;
                    }
                }
            }
        }
        self.scratch_agents = agents;
        self.scratch_roles = role_seen;
        self.scratch_fws = fw_seen;
    }

    /// The agents' available resources, for tests and the master's bookkeeping.
    pub fn available(&self, agent: &AgentID) -> Option<&Resources> {
        let i = *self.agent_index.get(agent)?;
        self.agents[i as usize].as_ref().map(|a| &a.available)
    }

    /// The agent's total.
    pub fn total(&self, agent: &AgentID) -> Option<&Resources> {
        let i = *self.agent_index.get(agent)?;
        self.agents[i as usize].as_ref().map(|a| &a.total)
    }

    /// What a framework holds on an agent (allocated form).
    pub fn allocation(&self, framework: &FrameworkID, agent: &AgentID) -> Resources {
        let (Some(fi), Some(&ai)) = (self.fw_idx(framework), self.agent_index.get(agent)) else {
            return Resources::new();
        };
        self.frameworks[fi as usize]
            .as_ref()
            .and_then(|f| f.allocated.get(&ai).cloned())
            .unwrap_or_default()
    }

    /// On every agent, what is available plus what frameworks hold is its total.
    fn check_books(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (i, a) in self.agents.iter().enumerate() {
            let Some(a) = a else {
                continue;
            };
            let mut sum = a.available.clone();
            for f in self.frameworks.iter().flatten() {
                if let Some(r) = f.allocated.get(&(i as u32)) {
                    sum.add_all(&r.unallocate());
                }
            }
            if !(sum.contains(&a.total) && a.total.contains(&sum)) {
                out.push(format!(
                    "allocator: agent {}: available + allocated is {sum}, its total {}",
                    a.id, a.total
                ));
            }
        }
        out
    }

    /// Everything held on an agent (allocated form), summed over frameworks.
    pub fn allocated_on(&self, agent: &AgentID) -> Option<Resources> {
        let i = *self.agent_index.get(agent)?;
        let mut out = Resources::new();
        for f in self.frameworks.iter().flatten() {
            if let Some(r) = f.allocated.get(&i) {
                out.add_all(r);
            }
        }
        Some(out)
    }

    /// Quantities allocated to a role's subtree.
    pub fn role_allocation(&self, role: &str) -> ResourceQuantities {
        let mut q = ResourceQuantities::new();
        for (name, &id) in &self.role_index {
            if roles::is_in_subtree(name, role) {
                for (i, v) in self.role_sorter.allocation(id).iter().enumerate() {
                    if let Some(n) = self.names.get(i) {
                        q.add_one(n, Scalar(*v));
                    }
                }
            }
        }
        q
    }

    /// Agent ids, in registration order.
    pub fn agent_ids(&self) -> Vec<AgentID> {
        self.agents.iter().flatten().map(|a| a.id.clone()).collect()
    }

    /// Number of agents.
    pub fn agent_count(&self) -> usize {
        self.agent_index.len()
    }
}

impl Allocator for HierarchicalAllocator {
    fn add_framework(
        &mut self,
        id: &FrameworkID,
        spec: FrameworkSpec,
        used: &[(AgentID, Resources)],
        active: bool,
    ) {
        if self.fw_index.contains_key(id) {
            self.update_framework(id, spec);
            return;
        }
        let fi = match self.free_fws.pop() {
            Some(i) => i,
            None => {
                self.frameworks.push(None);
                (self.frameworks.len() - 1) as u32
            }
        };
        let roles: Vec<String> = spec.roles.iter().cloned().collect();
        self.frameworks[fi as usize] = Some(Framework {
            id: id.clone(),
            spec,
            active,
            allocated: HashMap::with_capacity_and_hasher(16, FxBuild),
            filters: HashMap::default(),
        });
        self.fw_index.insert(id.clone(), fi);
        for role in &roles {
            self.join_role(fi, role);
        }
        for (agent, res) in used {
            let Some(&ai) = self.agent_index.get(agent) else {
                continue;
            };
            for (role, part) in split_by_role(res, roles.first().map(String::as_str).unwrap_or("*"))
            {
                let ri = self.role_id(&role);
                self.track_allocation(fi, ai, ri, part, false, false);
            }
        }
    }

    fn update_framework(&mut self, id: &FrameworkID, spec: FrameworkSpec) {
        let Some(fi) = self.fw_idx(id) else {
            return;
        };
        let old = self.frameworks[fi as usize]
            .as_ref()
            .map(|f| f.spec.roles.clone())
            .unwrap_or_default();
        for role in spec.roles.difference(&old) {
            self.join_role(fi, role);
        }
        for role in old.difference(&spec.roles) {
            self.leave_role(fi, role);
        }
        if let Some(f) = self.frameworks[fi as usize].as_mut() {
            f.spec = spec;
        }
        self.refresh_activation(fi);
    }

    fn remove_framework(&mut self, id: &FrameworkID) {
        let Some(fi) = self.fw_idx(id) else {
            return;
        };
        let held: Vec<(u32, Resources)> = self.frameworks[fi as usize]
            .as_ref()
            .map(|f| f.allocated.iter().map(|(a, r)| (*a, r.clone())).collect())
            .unwrap_or_default();
        for (ai, res) in held {
            self.untrack_allocation(fi, ai, &res);
        }
        let roles: Vec<String> = self.frameworks[fi as usize]
            .as_ref()
            .map(|f| f.spec.roles.iter().cloned().collect())
            .unwrap_or_default();
        for role in roles {
            self.leave_role(fi, &role);
        }
        self.frameworks[fi as usize] = None;
        self.fw_index.remove(id);
        self.free_fws.push(fi);
    }

    fn activate_framework(&mut self, id: &FrameworkID) {
        self.set_framework_active(id, true);
    }

    fn deactivate_framework(&mut self, id: &FrameworkID) {
        self.set_framework_active(id, false);
    }

    fn add_agent(&mut self, id: &AgentID, spec: AgentSpec, used: &[(FrameworkID, Resources)]) {
        if self.agent_index.contains_key(id) {
            self.update_agent(id, spec.total);
            return;
        }
        let ai = match self.free_agents.pop() {
            Some(i) => i,
            None => {
                self.agents.push(None);
                (self.agents.len() - 1) as u32
            }
        };
        let mut q = std::mem::take(&mut self.scratch_q);
        self.quantities_into(&spec.total, &mut q);
        sorter::add_into(&mut self.total, &q);
        self.scratch_q = q;
        self.agents[ai as usize] = Some(Agent {
            id: id.clone(),
            hostname: spec.hostname,
            attributes: spec.attributes,
            has_gpus: spec.total.scalar("gpus").0 > 0,
            remote: spec.remote,
            available: spec.total.clone(),
            total: spec.total,
            active: true,
        });
        self.agent_index.insert(id.clone(), ai);
        for (fw, res) in used {
            let Some(fi) = self.fw_idx(fw) else {
                continue;
            };
            let default_role = self.frameworks[fi as usize]
                .as_ref()
                .and_then(|f| f.spec.roles.iter().next().cloned())
                .unwrap_or_else(|| "*".into());
            for (role, part) in split_by_role(res, &default_role) {
                let ri = self.role_id(&role);
                self.track_allocation(fi, ai, ri, part, false, false);
            }
        }
    }

    fn update_agent(&mut self, id: &AgentID, total: Resources) {
        let Some(held) = self.allocated_on(id) else {
            return;
        };
        let Some((_, a)) = self.agent_mut(id) else {
            return;
        };
        a.available = total.minus(&held.unallocate());
        a.has_gpus = total.scalar("gpus").0 > 0;
        a.total = total;
        self.recompute_total();
    }

    fn remove_agent(&mut self, id: &AgentID) {
        let Some(&ai) = self.agent_index.get(id) else {
            return;
        };
        let holders: Vec<(u32, Resources)> = self
            .frameworks
            .iter()
            .enumerate()
            .filter_map(|(i, f)| {
                f.as_ref()
                    .and_then(|f| f.allocated.get(&ai).map(|r| (i as u32, r.clone())))
            })
            .collect();
        for (fi, res) in holders {
            self.untrack_allocation(fi, ai, &res);
        }
        for f in self.frameworks.iter_mut().flatten() {
            f.filters.remove(&ai);
        }
        if let Some(a) = self.agents[ai as usize].take() {
            let mut q = std::mem::take(&mut self.scratch_q);
            self.quantities_into(&a.total, &mut q);
            sorter::sub_from(&mut self.total, &q);
            self.scratch_q = q;
        }
        self.agent_index.remove(id);
        self.free_agents.push(ai);
    }

    fn activate_agent(&mut self, id: &AgentID) {
        if let Some((_, a)) = self.agent_mut(id) {
            a.active = true;
        }
    }

    fn deactivate_agent(&mut self, id: &AgentID) {
        if let Some((_, a)) = self.agent_mut(id) {
            a.active = false;
        }
    }

    fn recover_resources(
        &mut self,
        framework: &FrameworkID,
        agent: &AgentID,
        resources: &Resources,
        refuse: Option<Duration>,
        now: Duration,
    ) {
        let (Some(fi), Some(&ai)) = (self.fw_idx(framework), self.agent_index.get(agent)) else {
            return;
        };
        // Only what the framework holds there comes back.
        let back = {
            let held = self.frameworks[fi as usize]
                .as_ref()
                .and_then(|f| f.allocated.get(&ai));
            match held {
                None => Resources::new(),
                Some(h) if h == resources || h.contains(resources) => resources.clone(),
                Some(h) => resources
                    .iter()
                    .filter(|r| h.contains(&std::iter::once((*r).clone()).collect()))
                    .cloned()
                    .collect(),
            }
        };
        if !back.is_empty() {
            self.untrack_allocation(fi, ai, &back);
        }
        if let Some(d) = refuse {
            if d > Duration::ZERO {
                let d = d.max(self.opts.allocation_interval).min(MAX_FILTER);
                if let Some(f) = self.frameworks[fi as usize].as_mut() {
                    f.filters.entry(ai).or_default().push(Filter {
                        refused: resources.unallocate(),
                        expires: now + d,
                    });
                }
            }
        }
    }

    fn update_allocation(
        &mut self,
        framework: &FrameworkID,
        agent: &AgentID,
        offered: &Resources,
        ops: &[Operation],
    ) -> Result<Resources, AllocatorError> {
        let fi = self
            .fw_idx(framework)
            .ok_or_else(|| AllocatorError::UnknownFramework(framework.value.clone()))?;
        let ai = *self
            .agent_index
            .get(agent)
            .ok_or_else(|| AllocatorError::UnknownAgent(agent.value.clone()))?;
        let role = offered
            .allocation_roles()
            .into_iter()
            .next()
            .map(|r| r.to_string())
            .unwrap_or_else(|| "*".into());
        let mut offered = offered.clone();
        for op in ops {
            let (from, to) = op.conversion()?;
            let (from_a, to_a) = (from.allocate(&role), to.allocate(&role));
            if !offered.contains(&from_a) {
                return Err(AllocatorError::InvalidOperation(format!(
                    "'{from}' is not among the offered resources '{offered}'"
                )));
            }
            offered = offered.minus(&from_a).plus(&to_a);
            let a = self.agents[ai as usize].as_mut().expect("agent");
            a.total = a.total.minus(&from).plus(&to);
            if let Some(f) = self.frameworks[fi as usize].as_mut() {
                let x = f.allocated.entry(ai).or_default();
                *x = x.minus(&from_a).plus(&to_a);
            }
        }
        Ok(offered)
    }

    fn update_available(
        &mut self,
        agent: &AgentID,
        ops: &[Operation],
    ) -> Result<(), AllocatorError> {
        let (_, a) = self
            .agent_mut(agent)
            .ok_or_else(|| AllocatorError::UnknownAgent(agent.value.clone()))?;
        let mut available = a.available.clone();
        let mut total = a.total.clone();
        for op in ops {
            let (from, to) = op.conversion()?;
            if !available.contains(&from) {
                return Err(AllocatorError::InvalidOperation(format!(
                    "'{from}' is not available on agent (available: '{available}')"
                )));
            }
            available = available.minus(&from).plus(&to);
            total = total.minus(&from).plus(&to);
        }
        a.available = available;
        a.total = total;
        Ok(())
    }

    fn suppress_offers(&mut self, framework: &FrameworkID, roles: &[String]) {
        let Some(fi) = self.fw_idx(framework) else {
            return;
        };
        if let Some(f) = self.frameworks[fi as usize].as_mut() {
            let which: Vec<String> = if roles.is_empty() {
                f.spec.roles.iter().cloned().collect()
            } else {
                roles.to_vec()
            };
            f.spec.suppressed_roles.extend(which);
        }
        self.refresh_activation(fi);
    }

    fn revive_offers(&mut self, framework: &FrameworkID, roles: &[String]) {
        let Some(fi) = self.fw_idx(framework) else {
            return;
        };
        if let Some(f) = self.frameworks[fi as usize].as_mut() {
            if roles.is_empty() {
                f.spec.suppressed_roles.clear();
            } else {
                for r in roles {
                    f.spec.suppressed_roles.remove(r);
                }
            }
            f.filters.clear();
        }
        self.refresh_activation(fi);
    }

    fn update_quota(&mut self, role: &str, quota: Quota) {
        if quota.guarantees.is_empty() && quota.limits.is_empty() {
            self.quotas.remove(role);
        } else {
            for n in quota.guarantees.names().chain(quota.limits.names()) {
                let n = n.to_string();
                self.name_id(&n);
            }
            self.quotas.insert(role.to_string(), quota);
        }
    }

    fn update_weights(&mut self, weights: &[(String, f64)]) {
        for (role, w) in weights {
            self.weights.insert(role.clone(), *w);
            self.role_sorter.set_weight(role, *w);
        }
    }

    fn allocate(&mut self, now: Duration, candidates: Option<&[AgentID]>) -> Vec<Allocation> {
        // Every sorter measures shares against the current cluster total.
        let total = self.total.clone();
        self.role_sorter.set_total(&total);
        for r in self.roles.iter_mut().flatten() {
            r.sorter.set_total(&total);
        }
        let mut agents = std::mem::take(&mut self.scratch_agents);
        agents.clear();
        match candidates {
            Some(ids) => agents.extend(
                ids.iter()
                    .filter_map(|id| self.agent_index.get(id).copied()),
            ),
            None => agents.extend(
                self.agents
                    .iter()
                    .enumerate()
                    .filter(|(_, a)| a.as_ref().is_some_and(|a| a.active))
                    .map(|(i, _)| i as u32),
            ),
        }
        agents.sort_unstable();
        agents.dedup();
        self.rng.shuffle(&mut agents);
        self.scratch_agents = agents;

        let mut out = Vec::new();
        let mut plan = self.quota_plan();
        if !plan.is_empty() {
            // Stage 1 walks only the roles whose own guarantee is unmet, in DRF order; a role
            // leaves that order as soon as its guarantee is met.
            let mut s1 = DrfSorter::new(false, self.excluded.clone());
            s1.set_total(&self.total);
            let mut buf = Vec::new();
            for ri in 0..self.roles.len() {
                if self.roles[ri].is_some() && plan.unmet_into(ri, &mut buf) {
                    let name = self.roles[ri]
                        .as_ref()
                        .map(|r| r.name_arc.to_string())
                        .unwrap_or_default();
                    s1.add(ri as u32, &name);
                    let alloc = self.role_sorter.allocation(ri as u32).to_vec();
                    if !alloc.is_empty() {
                        s1.allocated(ri as u32, &alloc);
                    }
                    s1.activate(ri as u32);
                }
            }
            self.run_stage(now, Some(&mut s1), &mut plan, &mut out);
        }
        self.run_stage(now, None, &mut plan, &mut out);
        out
    }

    fn audit(&self) -> Vec<String> {
        self.check_books()
    }
}

impl HierarchicalAllocator {
    fn join_role(&mut self, fi: u32, role: &str) {
        let ri = self.role_id(role);
        let w = self.weights.get(role).copied();
        if let Some(r) = self.roles[ri as usize].as_mut() {
            r.frameworks.insert(fi);
            let name = self.frameworks[fi as usize]
                .as_ref()
                .map(|f| f.id.value.clone())
                .unwrap_or_default();
            r.sorter.add(fi, &name);
        }
        self.refresh_activation(fi);
        if let Some(w) = w {
            self.role_sorter.set_weight(role, w);
        }
        self.role_sorter.activate(ri);
    }

    fn leave_role(&mut self, fi: u32, role: &str) {
        let Some(&ri) = self.role_index.get(role) else {
            return;
        };
        let empty = match self.roles[ri as usize].as_mut() {
            Some(r) => {
                r.frameworks.remove(&fi);
                r.sorter.remove(fi);
                r.frameworks.is_empty()
            }
            None => false,
        };
        if empty {
            self.role_sorter.deactivate(ri);
        }
    }

    fn set_framework_active(&mut self, id: &FrameworkID, active: bool) {
        let Some(fi) = self.fw_idx(id) else {
            return;
        };
        if let Some(f) = self.frameworks[fi as usize].as_mut() {
            f.active = active;
        }
        self.refresh_activation(fi);
    }

    /// A framework is in a role's order only while it is active and not suppressed there, so
    /// suppressed and disconnected frameworks cost the cycle nothing.
    fn refresh_activation(&mut self, fi: u32) {
        let Some(f) = self.frameworks[fi as usize].as_ref() else {
            return;
        };
        let wanted: Vec<(String, bool)> = f
            .spec
            .roles
            .iter()
            .map(|r| (r.clone(), f.active && !f.spec.suppressed_roles.contains(r)))
            .collect();
        for (role, on) in wanted {
            if let Some(&ri) = self.role_index.get(&role) {
                if let Some(r) = self.roles[ri as usize].as_mut() {
                    if on {
                        r.sorter.activate(fi);
                    } else {
                        r.sorter.deactivate(fi);
                    }
                }
            }
        }
    }
}

/// Groups resources by allocation role (those without one go to `default_role`), each group in
/// unallocated form.
fn split_by_role(res: &Resources, default_role: &str) -> Vec<(String, Resources)> {
    let first = res.iter().next().map(|r| r.allocation_role.clone());
    if let Some(first) = first {
        if res.iter().all(|r| r.allocation_role == first) {
            let role = first.as_deref().unwrap_or(default_role).to_string();
            let part = if first.is_some() {
                res.unallocate()
            } else {
                res.clone()
            };
            return vec![(role, part)];
        }
    }
    let mut m: HashMap<String, Resources> = HashMap::new();
    for r in res.iter() {
        let role = r
            .allocation_role
            .as_deref()
            .unwrap_or(default_role)
            .to_string();
        let mut x: Resource = r.clone();
        x.allocation_role = None;
        m.entry(role).or_default().add_owned(x);
    }
    let mut v: Vec<_> = m.into_iter().collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}
