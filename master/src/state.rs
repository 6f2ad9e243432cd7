//! What the master knows: agents, frameworks (with their tasks) and outstanding offers.

use std::collections::{BTreeMap, VecDeque};

use libprocess::util::{HashMap, HashSet};

use libprocess::UPID;
use mesos_api::messages::Task;
use mesos_api::protocol::framework::{AgentInfo, FrameworkInfo};
use mesos_api::{AgentID, FrameworkID, OfferID, Resources, TaskID};

/// A registered agent.
pub(crate) struct AgentRec {
    pub(crate) pid: UPID,
    pub(crate) info: AgentInfo,
    /// Pings sent without a pong since.
    pub(crate) missed_pings: u32,
    /// Dynamic reservations and persistent volumes (unallocated form).
    pub(crate) checkpointed: Resources,
    /// When it (re)registered with this master (seconds since the epoch).
    pub(crate) registered_time: f64,
    /// Its version string.
    pub(crate) version: String,
    /// Deactivated by an operator (DEACTIVATE_AGENT): no offers until reactivated.
    pub(crate) deactivated: bool,
    /// Its connection broke and it has not reregistered since.
    pub(crate) disconnected: bool,
    /// DRAIN_AGENT: how it drains, and whether it is drained.
    pub(crate) drain: Option<DrainInfo>,
}

/// An agent's draining (DRAIN_AGENT), kept in the registry.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct DrainInfo {
    /// DRAINED (no task left) rather than DRAINING.
    pub(crate) drained: bool,
    /// The longest grace period a task's kill gets.
    pub(crate) max_grace_period_ns: Option<i64>,
    /// Marked gone once drained.
    pub(crate) mark_gone: bool,
}

impl DrainInfo {
    /// Mesos's `DrainInfo` JSON.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        let mut config = serde_json::json!({"mark_gone": self.mark_gone});
        if let Some(ns) = self.max_grace_period_ns {
            config["max_grace_period"] = serde_json::json!({"nanoseconds": ns});
        }
        serde_json::json!({
            "state": if self.drained { "DRAINED" } else { "DRAINING" },
            "config": config,
        })
    }
}

/// A subscribed (or recovered) framework.
pub(crate) struct FrameworkRec {
    pub(crate) info: FrameworkInfo,
    /// Where its events go (binary-transport frameworks).
    pub(crate) pid: Option<UPID>,
    /// The `Mesos-Stream-Id` of its HTTP subscription (HTTP frameworks).
    pub(crate) stream_id: Option<String>,
    /// Its framework-proxy actor (sends its events).
    pub(crate) proxy: Option<libprocess::PID<crate::master::proxy::FrameworkProxy>>,
    pub(crate) connected: bool,
    pub(crate) offers: HashSet<OfferID>,
    /// Boxed: a task is large (about 256 bytes) and a B-tree node holds eleven of its values,
    /// mostly part-full; a box keeps each node small and each task exactly its size.
    pub(crate) tasks: BTreeMap<TaskID, Box<Task>>,
    /// Terminal tasks whose last update was acknowledged (the newest
    /// `--max_completed_tasks_per_framework`).
    pub(crate) completed: VecDeque<CompletedTask>,
    /// Bumped on each (re)subscription, so a stale failover timer does nothing.
    pub(crate) generation: u64,
    /// When it first subscribed (seconds since the epoch).
    pub(crate) registered_time: f64,
    /// Its offer constraints, as it gave them.
    pub(crate) offer_constraints: Option<mesos_api::protocol::scheduler::OfferConstraints>,
    /// Handles of its per-framework counters, so that counting an event neither formats a
    /// name nor looks one up in the registry (cleared when the names change).
    pub(crate) counters: std::sync::Mutex<HashMap<FwCounter, libprocess::Counter>>,
}

/// One of a framework's counters (`master/frameworks/<name>/<id>/<what>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum FwCounter {
    /// `calls`.
    Calls,
    /// `calls/<type>`.
    Call(mesos_api::protocol::scheduler::CallType),
    /// `events`.
    Events,
    /// `events/<type>`.
    Event(mesos_api::protocol::scheduler::EventType),
    /// `offers/sent`.
    OffersSent,
    /// `offers/accepted`.
    OffersAccepted,
    /// `offers/declined`.
    OffersDeclined,
    /// `offers/rescinded`.
    OffersRescinded,
    /// `tasks/terminal/<state>`.
    TaskEnded(mesos_api::protocol::task::TaskState),
}

impl FwCounter {
    /// Its name after the framework's prefix.
    pub(crate) fn name(self) -> String {
        match self {
            FwCounter::Calls => "calls".into(),
            FwCounter::Call(t) => format!("calls/{}", t.as_str().to_ascii_lowercase()),
            FwCounter::Events => "events".into(),
            FwCounter::Event(t) => format!("events/{}", t.as_str().to_ascii_lowercase()),
            FwCounter::OffersSent => "offers/sent".into(),
            FwCounter::OffersAccepted => "offers/accepted".into(),
            FwCounter::OffersDeclined => "offers/declined".into(),
            FwCounter::OffersRescinded => "offers/rescinded".into(),
            FwCounter::TaskEnded(s) => {
                format!("tasks/terminal/{}", s.as_str().to_ascii_lowercase())
            }
        }
    }
}

/// A task that ended, kept with its classic JSON: it never changes again, so `/master/state`
/// copies the text written when it completed instead of writing the task on every request.
pub(crate) struct CompletedTask {
    pub(crate) task: Box<Task>,
    pub(crate) json: Box<serde_json::value::RawValue>,
}

impl FrameworkRec {
    /// Moves a task to the completed list, dropping the oldest past `keep`.
    pub(crate) fn complete(&mut self, t: Box<Task>, keep: usize) {
        while self.completed.len() >= keep.max(1) {
            self.completed.pop_front();
        }
        if keep > 0 {
            let json = crate::task_json::task_json(&t, &self.role());
            self.completed.push_back(CompletedTask { task: t, json });
        }
    }

    /// The role its tasks and offers are shown under: its first role, `*` when it has none.
    pub(crate) fn role(&self) -> String {
        self.info
            .effective_roles()
            .into_iter()
            .next()
            .unwrap_or_else(|| "*".into())
    }

    pub(crate) fn partition_aware(&self) -> bool {
        self.info
            .has_capability(mesos_api::protocol::framework::FrameworkCapabilityType::PartitionAware)
    }
}

/// An outstanding offer.
pub(crate) struct OfferRec {
    pub(crate) framework_id: FrameworkID,
    pub(crate) agent_id: AgentID,
    /// Allocated form (with the role).
    pub(crate) resources: Resources,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use mesos_api::protocol::task::TaskState;

    pub(crate) fn task(n: usize) -> Box<Task> {
        Box::new(Task {
            name: format!("t{n}"),
            task_id: TaskID::new(format!("t{n}")),
            framework_id: FrameworkID::new("F"),
            executor_id: None,
            agent_id: AgentID::new("S"),
            state: TaskState::Finished,
            resources: Resources::new(),
            statuses: Vec::new(),
            status_update_state: None,
            status_update_uuid: None,
            labels: None,
            user: None,
            details: None,
        })
    }

    /// A framework record with no tasks.
    pub(crate) fn framework(name: &str) -> FrameworkRec {
        FrameworkRec {
            info: FrameworkInfo::new(name, "root"),
            pid: None,
            stream_id: None,
            proxy: None,
            connected: true,
            offers: HashSet::default(),
            tasks: BTreeMap::new(),
            completed: VecDeque::new(),
            generation: 0,
            registered_time: 0.0,
            offer_constraints: None,
            counters: Default::default(),
        }
    }

    #[test]
    fn completed_tasks_keep_the_newest_up_to_the_flag() {
        let mut f = framework("f");
        for n in 0..5 {
            f.complete(task(n), 3);
        }
        let names: Vec<&str> = f.completed.iter().map(|t| t.task.name.as_str()).collect();
        assert_eq!(names, ["t2", "t3", "t4"]);
        // A smaller limit later trims to it; zero keeps none.
        f.complete(task(5), 1);
        assert_eq!(f.completed.len(), 1);
        assert_eq!(f.completed[0].task.name, "t5");
        let json: serde_json::Value = serde_json::from_str(f.completed[0].json.get()).unwrap();
        assert_eq!(
            (json["id"].as_str(), json["role"].as_str()),
            (Some("t5"), Some("*"))
        );
        f.complete(task(6), 0);
        assert!(f.completed.is_empty());
    }
}
