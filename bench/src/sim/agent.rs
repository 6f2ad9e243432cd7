//! A simulated agent: speaks the agent protocol to the real master and "runs" tasks by sending
//! their status updates (no containers, no executors).
//!
//! - It registers (then reregisters, with everything it runs, whenever the master is lost),
//!   retrying with a doubling backoff that starts at a random point below `backoff` (Mesos's
//!   `--registration_backoff_factor`), and answers pings. An agent that follows a ZooKeeper
//!   group ([`SimAgent::detected`]) waits for the next leader instead of retrying a lost one.
//! - A launched task becomes RUNNING at once; a task whose `data` is `sim:finish` then becomes
//!   FINISHED, and one whose `data` is `sim:run:<ms>:<STATE>` ends in that state (FINISHED,
//!   FAILED, ...) after that many milliseconds on the runtime's clock.
//! - Made faithful ([`SimAgent::faithful`]), it also does what a real agent does beside that: it
//!   takes the master for lost when no ping comes for the total ping timeout the master gave it
//!   and reregisters, and it sends an unacknowledged update again after 10 s, then 20 s, ... up
//!   to 10 minutes (the status update manager's retries). The scale scenarios' agents, which
//!   are only load, do neither. Updates go out one at a time per task, the next after the master relays the
//!   framework's acknowledgement, as a real agent's status update manager does; unacknowledged
//!   updates are resent after a reregistration.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use libprocess::util::HashMap;
use libprocess::{Context, Process, UPID};
use mesos_api::messages::{
    AgentRegistered, AgentReregistered, KillTask, PingAgent, PongAgent, RegisterAgent,
    ReregisterAgent, RunTask, ShutdownFramework, StatusUpdate, StatusUpdateAcknowledgement, Task,
    WireMessage,
};
use mesos_api::protocol::framework::{AgentInfo, FrameworkInfo};
use mesos_api::protocol::task::{Source, TaskState, TaskStatus};
use mesos_api::{AgentID, FrameworkID, TaskID};

use super::stats::Stats;

/// What a task's `data` says when it should finish right after RUNNING.
pub const FINISH: &[u8] = b"sim:finish";

pub use mesos_containerizer::sim::{parse_run, run_for};

const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// A faithful agent's first retry of an unacknowledged update, and its longest wait.
const RETRY_MIN: Duration = Duration::from_secs(10);
const RETRY_MAX: Duration = Duration::from_secs(600);

/// See the module docs.
pub struct SimAgent {
    master: UPID,
    info: AgentInfo,
    registered: bool,
    /// Told of each new leader (ZooKeeper): a lost master is not retried.
    detected: bool,
    /// Ends stale retry chains when the leader changes.
    attempt: u64,
    backoff: Duration,
    factor: Duration,
    frameworks: HashMap<FrameworkID, FrameworkInfo>,
    tasks: HashMap<TaskID, Task>,
    /// Unacknowledged updates per task; the head is in flight.
    pending: HashMap<TaskID, VecDeque<StatusUpdate>>,
    seq: u64,
    updates: u64,
    rng: u64,
    stats: Arc<Stats>,
    /// Reregister after the total ping timeout without a ping, and retry updates.
    faithful: bool,
    ping_timeout: Duration,
    /// Bumped by each ping; a ping-timeout check for an older count does nothing.
    pings: u64,
}

impl SimAgent {
    /// An agent with these totals; `seq` makes its hostname and update uuids unique.
    pub fn new(
        master: UPID,
        seq: u64,
        resources: mesos_api::Resources,
        factor: Duration,
        stats: Arc<Stats>,
    ) -> SimAgent {
        SimAgent {
            master,
            info: AgentInfo {
                hostname: format!("sim-agent-{seq}"),
                port: 5051,
                resources,
                attributes: Default::default(),
                id: None,
                domain: None,
            },
            registered: false,
            detected: false,
            attempt: 0,
            backoff: factor,
            factor,
            frameworks: HashMap::default(),
            tasks: HashMap::default(),
            pending: HashMap::default(),
            seq,
            updates: 0,
            rng: seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            stats,
            faithful: false,
            ping_timeout: Duration::from_secs(75),
            pings: 0,
        }
    }

    /// An agent that watches pings and retries updates as a real agent does (module docs).
    pub fn faithful(mut self) -> SimAgent {
        self.faithful = true;
        self
    }

    /// Its tasks and their states (those not yet ended and acknowledged).
    pub fn task_states(&self) -> Vec<(TaskID, TaskState)> {
        let mut v: Vec<_> = self
            .tasks
            .iter()
            .map(|(id, t)| (id.clone(), t.state))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Expects a ping within the ping timeout.
    fn expect_ping(&mut self, ctx: &mut Context<Self>) {
        if !self.faithful {
            return;
        }
        self.pings += 1;
        let n = self.pings;
        ctx.delay(self.ping_timeout, move |a: &mut SimAgent, c| {
            if a.pings == n && a.registered {
                a.lost_master(c);
            }
        });
    }

    fn random_below(&mut self, d: Duration) -> Duration {
        // xorshift64: a spread of first attempts, so thousands of agents do not arrive at once.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let nanos = d.as_nanos().max(1) as u64;
        Duration::from_nanos(self.rng % nanos)
    }

    /// An agent that follows a ZooKeeper group: it waits for [`SimAgent::new_master`] after
    /// losing its master.
    pub fn detected(mut self) -> SimAgent {
        self.detected = true;
        self
    }

    /// A new leader was detected: (re)register with it.
    pub fn new_master(&mut self, ctx: &mut Context<Self>, master: UPID) {
        if master == self.master && self.registered {
            return;
        }
        self.master = master;
        if self.registered {
            self.registered = false;
            self.stats.registered.fetch_sub(1, Ordering::Relaxed);
        }
        self.backoff = self.factor;
        self.schedule_register(ctx);
    }

    fn schedule_register(&mut self, ctx: &mut Context<Self>) {
        self.attempt += 1;
        let attempt = self.attempt;
        let d = self.random_below(self.factor);
        ctx.delay(d, move |a: &mut SimAgent, c| a.try_register(c, attempt));
    }

    fn try_register(&mut self, ctx: &mut Context<Self>, attempt: u64) {
        if self.registered || attempt != self.attempt {
            return;
        }
        // Many agents share this runtime's one connection: link without forcing a new socket.
        ctx.link(&self.master);
        match &self.info.id {
            None => ctx.send_named(
                &self.master,
                RegisterAgent::NAME,
                RegisterAgent {
                    agent: self.info.clone(),
                    version: mesos_api::MESOS_VERSION.into(),
                    capabilities: vec!["MULTI_ROLE".into()],
                    checkpointed_resources: Default::default(),
                },
            ),
            Some(_) => ctx.send_named(
                &self.master,
                ReregisterAgent::NAME,
                ReregisterAgent {
                    agent: self.info.clone(),
                    version: mesos_api::MESOS_VERSION.into(),
                    capabilities: vec!["MULTI_ROLE".into()],
                    checkpointed_resources: Default::default(),
                    executor_infos: Vec::new(),
                    tasks: self.tasks.values().cloned().collect(),
                    frameworks: self.frameworks.values().cloned().collect(),
                },
            ),
        }
        let d = self.backoff + self.random_below(self.backoff);
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        ctx.delay(d, move |a: &mut SimAgent, c| a.try_register(c, attempt));
    }

    fn on_registered(&mut self, ctx: &mut Context<Self>, from: UPID, id: AgentID, ping: f64) {
        if from != self.master {
            return;
        }
        if self.registered {
            if self.faithful && self.info.id.as_ref() != Some(&id) {
                // A registration retry made the master take this agent for a new one (the old
                // id was removed, its tasks lost). A Mesos agent exits on the wrong id; restarted,
                // its tasks are shut down by the master, which removed the old id, and it
                // registers afresh. The end of that, at once: no task, no id, a registration.
                self.tasks.clear();
                self.pending.clear();
                self.frameworks.clear();
                self.info.id = None;
                self.registered = false;
                self.stats.registered.fetch_sub(1, Ordering::Relaxed);
                self.backoff = self.factor;
                self.schedule_register(ctx);
            }
            return;
        }
        self.info.id = Some(id);
        self.registered = true;
        if ping > 0.0 {
            self.ping_timeout = Duration::from_secs_f64(ping);
        }
        self.expect_ping(ctx);
        self.backoff = self.factor;
        self.stats.registered.fetch_add(1, Ordering::Relaxed);
        let heads: Vec<StatusUpdate> = self
            .pending
            .values()
            .filter_map(|q| q.front().cloned())
            .collect();
        for u in heads {
            self.send_update(ctx, u);
        }
    }

    fn lost_master(&mut self, ctx: &mut Context<Self>) {
        if self.registered {
            self.registered = false;
            self.stats.registered.fetch_sub(1, Ordering::Relaxed);
            self.backoff = self.factor;
            if self.detected {
                // The detector names the next leader.
                self.attempt += 1;
            } else {
                self.schedule_register(ctx);
            }
        }
    }

    fn run_task(&mut self, ctx: &mut Context<Self>, from: UPID, m: RunTask) {
        if from != self.master {
            return;
        }
        let Some(fid) = m.framework.id.clone() else {
            return;
        };
        self.frameworks.entry(fid.clone()).or_insert(m.framework);
        let t = m.task;
        let finish = t.data.as_deref() == Some(FINISH);
        let run = t.data.as_deref().and_then(parse_run);
        let id = self.info.id.clone().unwrap_or_else(|| AgentID::new(""));
        self.tasks.insert(
            t.task_id.clone(),
            Task {
                name: t.name,
                task_id: t.task_id.clone(),
                framework_id: fid.clone(),
                executor_id: None,
                agent_id: id,
                state: TaskState::Staging,
                resources: t.resources,
                statuses: Vec::new(),
                status_update_state: None,
                status_update_uuid: None,
                labels: t.labels,
                user: None,
                details: None,
            },
        );
        self.update(ctx, &fid, &t.task_id, TaskState::Running);
        if finish {
            self.update(ctx, &fid, &t.task_id, TaskState::Finished);
        }
        if let Some((d, end)) = run {
            let tid = t.task_id.clone();
            ctx.delay(d, move |a: &mut SimAgent, c| {
                if a.tasks.get(&tid).is_some_and(|t| !t.state.is_terminal()) {
                    a.update(c, &fid, &tid, end);
                }
            });
        }
    }

    fn kill_task(&mut self, ctx: &mut Context<Self>, from: UPID, k: KillTask) {
        if from != self.master {
            return;
        }
        if self
            .tasks
            .get(&k.task_id)
            .is_some_and(|t| !t.state.is_terminal())
        {
            self.update(ctx, &k.framework_id, &k.task_id, TaskState::Killed);
        }
    }

    /// Records a new state and queues its update (sent now if none is in flight for the task).
    fn update(&mut self, ctx: &mut Context<Self>, fid: &FrameworkID, tid: &TaskID, s: TaskState) {
        self.updates += 1;
        let mut uuid = self.seq.to_be_bytes().to_vec();
        uuid.extend_from_slice(&self.updates.to_be_bytes());
        let agent_id = self.info.id.clone().unwrap_or_else(|| AgentID::new(""));
        let mut status = TaskStatus::new(tid.clone(), s);
        status.source = Some(Source::Executor);
        status.agent_id = Some(agent_id.clone());
        status.uuid = Some(uuid);
        status.timestamp = Some(super::stats::now_secs());
        if let Some(t) = self.tasks.get_mut(tid) {
            t.state = s;
            // Keep only the newest status: a reregistration reports the state, not the history.
            t.statuses.clear();
            t.statuses.push(status.clone());
        }
        let u = StatusUpdate {
            framework_id: fid.clone(),
            executor_id: None,
            agent_id,
            timestamp: status.timestamp.unwrap_or_default(),
            status,
            latest_state: Some(s),
        };
        let q = self.pending.entry(tid.clone()).or_default();
        q.push_back(u.clone());
        if q.len() == 1 {
            self.send_update(ctx, u);
        }
    }

    fn send_update(&mut self, ctx: &mut Context<Self>, mut u: StatusUpdate) {
        if !self.registered {
            return;
        }
        if let Some(t) = self.tasks.get(&u.status.task_id) {
            u.latest_state = Some(t.state);
        }
        if self.faithful {
            self.retry_update(ctx, &u, RETRY_MIN);
        }
        ctx.send_named(&self.master, StatusUpdate::NAME, u);
    }

    /// Sends `u` again after `d` if it is still the task's unacknowledged head then.
    fn retry_update(&mut self, ctx: &mut Context<Self>, u: &StatusUpdate, d: Duration) {
        let (tid, uuid) = (u.status.task_id.clone(), u.status.uuid.clone());
        ctx.delay(d, move |a: &mut SimAgent, c| {
            let head = a.pending.get(&tid).and_then(|q| q.front()).cloned();
            let Some(mut u) = head.filter(|u| u.status.uuid == uuid) else {
                return;
            };
            if !a.registered {
                return; // Reregistering sends the heads again.
            }
            if let Some(t) = a.tasks.get(&tid) {
                u.latest_state = Some(t.state);
            }
            a.retry_update(c, &u, (d * 2).min(RETRY_MAX));
            c.send_named(&a.master, StatusUpdate::NAME, u);
        });
    }

    fn acknowledged(
        &mut self,
        ctx: &mut Context<Self>,
        from: UPID,
        m: StatusUpdateAcknowledgement,
    ) {
        if from != self.master {
            return;
        }
        let Some(q) = self.pending.get_mut(&m.task_id) else {
            return;
        };
        if q.front().and_then(|u| u.status.uuid.as_deref()) != Some(&m.uuid[..]) {
            return;
        }
        let done = q.pop_front().map(|u| u.status.state);
        let next = q.front().cloned();
        if q.is_empty() {
            self.pending.remove(&m.task_id);
        }
        if done.is_some_and(TaskState::is_terminal) {
            self.tasks.remove(&m.task_id);
        }
        if let Some(n) = next {
            self.send_update(ctx, n);
        }
    }

    fn shutdown_framework(&mut self, from: UPID, fid: &FrameworkID) {
        if from != self.master {
            return;
        }
        self.tasks.retain(|_, t| &t.framework_id != fid);
        self.pending
            .retain(|_, q| q.front().is_some_and(|u| &u.framework_id != fid));
        self.frameworks.remove(fid);
    }
}

impl Process for SimAgent {
    fn initialize(&mut self, ctx: &mut Context<Self>) {
        ctx.install_named(
            AgentRegistered::NAME,
            |a: &mut SimAgent, c, from, m: AgentRegistered| {
                a.on_registered(c, from, m.agent_id, m.total_ping_timeout_secs)
            },
        );
        ctx.install_named(
            AgentReregistered::NAME,
            |a: &mut SimAgent, c, from, m: AgentReregistered| {
                let master = from == a.master;
                a.on_registered(c, from, m.agent_id, m.total_ping_timeout_secs);
                if master {
                    // The master's question about tasks the reregistration did not report: an
                    // unknown one ends (LOST, or DROPPED); a known one's updates follow.
                    for r in m.reconcile {
                        if !a.tasks.contains_key(&r.task_id) {
                            let end = if r.partition_aware {
                                TaskState::Dropped
                            } else {
                                TaskState::Lost
                            };
                            a.update(c, &r.framework_id, &r.task_id, end);
                        }
                    }
                }
            },
        );
        ctx.install_named(
            PingAgent::NAME,
            |a: &mut SimAgent, c, from, p: PingAgent| {
                if from == a.master {
                    c.send_named(&from, PongAgent::NAME, PongAgent {});
                    a.expect_ping(c);
                    if !p.connected {
                        a.lost_master(c);
                    }
                }
            },
        );
        ctx.install_named(RunTask::NAME, |a: &mut SimAgent, c, from, m: RunTask| {
            a.run_task(c, from, m)
        });
        ctx.install_named(KillTask::NAME, |a: &mut SimAgent, c, from, m: KillTask| {
            a.kill_task(c, from, m)
        });
        ctx.install_named(
            ShutdownFramework::NAME,
            |a: &mut SimAgent, _, from, m: ShutdownFramework| {
                a.shutdown_framework(from, &m.framework_id)
            },
        );
        ctx.install_named(
            StatusUpdateAcknowledgement::NAME,
            |a: &mut SimAgent, c, from, m: StatusUpdateAcknowledgement| a.acknowledged(c, from, m),
        );
        self.schedule_register(ctx);
    }

    fn exited(&mut self, ctx: &mut Context<Self>, pid: &UPID) {
        if pid == &self.master {
            self.lost_master(ctx);
        }
    }
}
