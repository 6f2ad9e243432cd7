//! A simulated framework on the scheduler SDK, with one simple policy:
//!
//! - `Decline`: decline every offer with a refuse filter of `refuse_secs`;
//! - `Launch`: fill each offer with up to `tasks_per_offer` tasks of `task` resources until
//!   `tasks` are launched (every `finish_every`-th task finishes right after RUNNING), then
//!   suppress; leftover offers are declined with the refuse filter.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use mesos_api::protocol::framework::FrameworkInfo;
use mesos_api::protocol::offer::{Filters, Offer};
use mesos_api::protocol::task::{CommandInfo, TaskInfo, TaskState, TaskStatus};
use mesos_api::{FrameworkID, Resources, TaskID};
use mesos_scheduler::{Driver, Scheduler};

use super::agent::FINISH;
use super::stats::Stats;

/// What the framework does with its offers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Policy {
    /// Decline everything.
    Decline,
    /// Launch tasks until done.
    Launch,
}

/// The framework's settings.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Its policy.
    pub policy: Policy,
    /// Tasks to launch (`Launch`).
    pub tasks: usize,
    /// Each task's resources (unreserved).
    pub task: Resources,
    /// Most tasks put on one offer.
    pub tasks_per_offer: usize,
    /// Every n-th task finishes at once (0: none do).
    pub finish_every: usize,
    /// The refuse filter on declines and on leftovers of accepted offers.
    pub refuse_secs: f64,
}

/// See the module docs.
pub struct SimFramework {
    plan: Plan,
    launched: usize,
    name: String,
    stats: Arc<Stats>,
}

impl SimFramework {
    /// A framework named `name` following `plan`.
    pub fn new(name: String, plan: Plan, stats: Arc<Stats>) -> SimFramework {
        SimFramework {
            plan,
            launched: 0,
            name,
            stats,
        }
    }

    /// Its FrameworkInfo (checkpointing, a day's failover timeout, so a master failover keeps
    /// its tasks).
    pub fn info(&self, role: &str) -> FrameworkInfo {
        let mut f = FrameworkInfo::new(self.name.clone(), "root");
        f.failover_timeout = 86400.0;
        f.checkpoint = true;
        f.role = Some(role.to_string());
        f
    }

    fn filters(&self) -> Option<Filters> {
        Some(Filters {
            refuse_seconds: self.plan.refuse_secs,
        })
    }

    fn tasks_for(&mut self, fid: &FrameworkID, o: &Offer) -> Vec<TaskInfo> {
        let mut left = o.resources.unallocate();
        let mut out = Vec::new();
        while out.len() < self.plan.tasks_per_offer
            && self.launched < self.plan.tasks
            && left.contains(&self.plan.task)
        {
            left.subtract_all(&self.plan.task);
            let n = self.launched;
            self.launched += 1;
            let finish = self.plan.finish_every > 0 && n.is_multiple_of(self.plan.finish_every);
            out.push(TaskInfo {
                name: format!("sim task {n}"),
                task_id: TaskID::new(format!("{}-{fid}-t{n}", self.name)),
                agent_id: o.agent_id.clone(),
                resources: self.plan.task.clone(),
                executor: None,
                command: Some(CommandInfo::shell("sleep 1000")),
                kill_policy: None,
                data: finish.then(|| FINISH.to_vec()),
                labels: None,
                container: None,
                health_check: None,
                check: None,
                discovery: None,
                limits: None,
                max_completion_time: None,
            });
        }
        out
    }
}

impl Scheduler for SimFramework {
    fn subscribed(&mut self, d: &mut Driver, _: &FrameworkID) {
        self.stats.subscribed.fetch_add(1, Ordering::Relaxed);
        if self.plan.policy == Policy::Launch && self.launched >= self.plan.tasks {
            d.suppress(Vec::new());
        }
    }

    fn disconnected(&mut self, _: &mut Driver) {
        self.stats.subscribed.fetch_sub(1, Ordering::Relaxed);
    }

    fn offers(&mut self, d: &mut Driver, offers: Vec<Offer>) {
        self.stats
            .offers
            .fetch_add(offers.len() as u64, Ordering::Relaxed);
        let Some(fid) = d.framework_id().cloned() else {
            return;
        };
        let mut declined = Vec::new();
        for o in offers {
            let tasks = match self.plan.policy {
                Policy::Decline => Vec::new(),
                Policy::Launch => self.tasks_for(&fid, &o),
            };
            if tasks.is_empty() {
                declined.push(o.id);
            } else {
                self.stats
                    .launched
                    .fetch_add(tasks.len() as u64, Ordering::Relaxed);
                d.launch(&o.id, tasks, self.filters());
            }
        }
        if !declined.is_empty() {
            d.decline(declined, self.filters());
        }
        if self.plan.policy == Policy::Launch && self.launched >= self.plan.tasks {
            d.suppress(Vec::new());
        }
    }

    fn update(&mut self, _: &mut Driver, s: &TaskStatus) {
        let c = match s.state {
            TaskState::Running => &self.stats.running,
            TaskState::Finished => &self.stats.finished,
            TaskState::Staging | TaskState::Starting => return,
            _ => &self.stats.failed,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
}
