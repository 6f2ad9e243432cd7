//! The classic endpoints' JSON (`/master/state` and friends): Mesos's field names and shapes,
//! with resources as summary objects (`{"cpus":4,"mem":1024,...}`) beside their `_full` arrays.

use std::collections::HashMap;

use mesos_api::messages::Task;
use mesos_api::protocol::to_json;
use mesos_api::{AgentID, FrameworkID, ResourceFormat, Resources};
use serde_json::{json, Map, Value};

use crate::master::{Master, VERSION};
use crate::state::{AgentRec, FrameworkRec};

/// A task in the classic form.
pub(crate) fn task(t: &Task, role: &str) -> Value {
    let statuses: Vec<Value> = t
        .statuses
        .iter()
        .map(|s| {
            let mut o = json!({"state": s.state.as_str(), "timestamp": s.timestamp.unwrap_or(0.0)});
            if let Some(h) = s.healthy {
                o["healthy"] = json!(h);
            }
            o
        })
        .collect();
    let mut o = json!({
        "id": t.task_id.value,
        "name": t.name,
        "framework_id": t.framework_id.value,
        "executor_id": t.executor_id.as_ref().map(|e| e.value.as_str()).unwrap_or(""),
        "slave_id": t.agent_id.value,
        "state": t.state.as_str(),
        "resources": t.resources.to_summary_json(),
        "role": role,
        "statuses": statuses,
    });
    if let Some(l) = &t.labels {
        o["labels"] = to_json(&l.labels);
    }
    o
}

/// What the tasks and offers of every framework hold, per agent: (used, offered).
pub(crate) fn agent_usage(m: &Master) -> HashMap<AgentID, (Resources, Resources)> {
    let mut out: HashMap<AgentID, (Resources, Resources)> = HashMap::new();
    for f in m.frameworks.values() {
        for t in f.tasks.values() {
            if !t.state.is_terminal() {
                out.entry(t.agent_id.clone())
                    .or_default()
                    .0
                    .add_all(&t.resources);
            }
        }
    }
    for o in m.offers.values() {
        out.entry(o.agent_id.clone())
            .or_default()
            .1
            .add_all(&o.resources);
    }
    out
}

/// A framework's used (live tasks) and offered resources.
pub(crate) fn framework_usage(m: &Master, f: &FrameworkRec) -> (Resources, Resources) {
    let mut used = Resources::new();
    for t in f.tasks.values().filter(|t| !t.state.is_terminal()) {
        used.add_all(&t.resources);
    }
    let mut offered = Resources::new();
    for o in f.offers.iter().filter_map(|o| m.offers.get(o)) {
        offered.add_all(&o.resources);
    }
    (used, offered)
}

fn role_of(f: &FrameworkRec) -> String {
    f.info
        .effective_roles()
        .into_iter()
        .next()
        .unwrap_or_else(|| "*".into())
}

/// A framework in the classic form (with its tasks and offers when `detail`).
pub(crate) fn framework(m: &Master, fid: &FrameworkID, f: &FrameworkRec, detail: bool) -> Value {
    let (used, offered) = framework_usage(m, f);
    let role = role_of(f);
    let i = &f.info;
    let capabilities: Vec<Value> = i
        .capabilities
        .iter()
        .map(to_json)
        .map(|c| c["type"].clone())
        .collect();
    let mut o = json!({
        "id": fid.value,
        "name": i.name,
        "pid": f.pid.as_ref().map(|p| p.to_string()),
        "user": i.user,
        "hostname": i.hostname.clone().unwrap_or_default(),
        "webui_url": i.webui_url.clone().unwrap_or_default(),
        "failover_timeout": i.failover_timeout,
        "checkpoint": i.checkpoint,
        "role": role,
        "roles": i.effective_roles(),
        "capabilities": capabilities,
        "active": f.connected,
        "connected": f.connected,
        "recovered": f.generation == 0,
        "registered_time": f.registered_time,
        "unregistered_time": 0,
        "used_resources": used.to_summary_json(),
        "offered_resources": offered.to_summary_json(),
        "resources": used.plus(&offered).to_summary_json(),
        "used_resources_full": used.to_json(ResourceFormat::Refined),
        "offered_resources_full": offered.to_json(ResourceFormat::Refined),
    });
    if let Some(p) = &i.principal {
        o["principal"] = json!(p);
    }
    if detail {
        o["tasks"] = f.tasks.values().map(|t| task(t, &role)).collect();
        o["unreachable_tasks"] = json!([]);
        o["completed_tasks"] = f.completed.iter().map(|t| task(t, &role)).collect();
        o["offers"] = f
            .offers
            .iter()
            .filter_map(|id| m.offers.get(id).map(|r| (id, r)))
            .map(|(id, r)| {
                json!({
                    "id": id.value,
                    "framework_id": fid.value,
                    "slave_id": r.agent_id.value,
                    "resources": r.resources.to_summary_json(),
                    "allocation_info": {"role": role},
                })
            })
            .collect();
        o["executors"] = json!([]);
    }
    o
}

/// An agent in the classic form.
pub(crate) fn agent(id: &AgentID, a: &AgentRec, usage: Option<&(Resources, Resources)>) -> Value {
    let empty = (Resources::new(), Resources::new());
    let (used, offered) = usage.unwrap_or(&empty);
    let total = &a.info.resources;
    let reserved = total.reserved().plus(&a.checkpointed.reserved());
    let mut by_role: Map<String, Value> = Map::new();
    let mut by_role_full: Map<String, Value> = Map::new();
    let roles: std::collections::BTreeSet<String> =
        reserved.iter().map(|r| r.role().to_string()).collect();
    for role in roles {
        let r = reserved.reserved_to(&role);
        by_role.insert(role.clone(), r.to_summary_json());
        by_role_full.insert(role, r.to_json(ResourceFormat::Refined));
    }
    json!({
        "id": id.value,
        "pid": a.pid.to_string(),
        "hostname": a.info.hostname,
        "port": a.info.port,
        "registered_time": a.registered_time,
        "resources": total.to_summary_json(),
        "used_resources": used.to_summary_json(),
        "offered_resources": offered.to_summary_json(),
        "reserved_resources": by_role,
        "unreserved_resources": total.unreserved().to_summary_json(),
        "attributes": a.info.attributes.to_json_object(),
        "active": !a.deactivated,
        "deactivated": a.deactivated,
        "version": a.version,
        "capabilities": [],
        "resources_full": total.to_json(ResourceFormat::Refined),
        "reserved_resources_full": by_role_full,
        "unreserved_resources_full": total.unreserved().to_json(ResourceFormat::Refined),
        "used_resources_full": used.to_json(ResourceFormat::Refined),
        "offered_resources_full": offered.to_json(ResourceFormat::Refined),
    })
}

impl Master {
    /// The top of `/master/state` and `/master/state-summary`.
    fn state_head(&self) -> Map<String, Value> {
        let pid = self
            .info
            .as_ref()
            .and_then(|i| i.pid.clone())
            .unwrap_or_default();
        let active = self.agents.values().filter(|a| !a.deactivated).count();
        let mut o = Map::new();
        o.insert("version".into(), json!(VERSION));
        o.insert("build_version".into(), json!(env!("CARGO_PKG_VERSION")));
        o.insert("id".into(), json!(self.id));
        o.insert("pid".into(), json!(pid));
        o.insert("hostname".into(), json!(self.flags.hostname));
        o.insert("start_time".into(), json!(self.start_time));
        o.insert("elected_time".into(), json!(self.start_time));
        o.insert("leader".into(), json!(pid));
        o.insert("leader_info".into(), to_json(&self.info));
        o.insert("activated_slaves".into(), json!(active));
        o.insert(
            "deactivated_slaves".into(),
            json!(self.agents.len() - active),
        );
        o.insert("unreachable_slaves".into(), json!(self.unreachable.len()));
        o.insert("cluster".into(), json!(""));
        o
    }

    /// `/master/state`.
    pub(crate) fn state_json(&self) -> Value {
        let mut o = self.state_head();
        o.insert("flags".into(), self.flags_json());
        let usage = agent_usage(self);
        let slaves: Vec<Value> = self
            .agents
            .iter()
            .map(|(id, a)| agent(id, a, usage.get(id)))
            .collect();
        o.insert("slaves".into(), Value::Array(slaves));
        o.insert("recovered_slaves".into(), json!([]));
        let frameworks: Vec<Value> = self
            .frameworks
            .iter()
            .map(|(id, f)| framework(self, id, f, true))
            .collect();
        o.insert("frameworks".into(), Value::Array(frameworks));
        let completed: Vec<Value> = self
            .completed_frameworks
            .iter()
            .filter_map(|f| f.info.id.as_ref().map(|id| framework(self, id, f, true)))
            .collect();
        o.insert("completed_frameworks".into(), Value::Array(completed));
        o.insert("orphan_tasks".into(), json!([]));
        o.insert("unregistered_frameworks".into(), json!([]));
        Value::Object(o)
    }

    /// `/master/state-summary`: agents and frameworks with counts, no task lists.
    pub(crate) fn state_summary_json(&self) -> Value {
        let mut o = self.state_head();
        let usage = agent_usage(self);
        let mut counts: HashMap<&AgentID, Map<String, Value>> = HashMap::new();
        let mut fw_on: HashMap<&AgentID, std::collections::BTreeSet<&str>> = HashMap::new();
        for (fid, f) in &self.frameworks {
            for t in f.tasks.values() {
                let c = counts.entry(&t.agent_id).or_default();
                let k = t.state.as_str().to_string();
                let n = c.get(&k).and_then(Value::as_u64).unwrap_or(0) + 1;
                c.insert(k, json!(n));
                fw_on.entry(&t.agent_id).or_default().insert(&fid.value);
            }
        }
        let slaves: Vec<Value> = self
            .agents
            .iter()
            .map(|(id, a)| {
                let mut s = agent(id, a, usage.get(id));
                for (k, v) in counts.remove(id).unwrap_or_default() {
                    s[k] = v;
                }
                s["framework_ids"] = json!(fw_on.remove(id).unwrap_or_default());
                s
            })
            .collect();
        o.insert("slaves".into(), Value::Array(slaves));
        let frameworks: Vec<Value> = self
            .frameworks
            .iter()
            .map(|(id, f)| {
                let mut j = framework(self, id, f, false);
                let agents: std::collections::BTreeSet<&str> = f
                    .tasks
                    .values()
                    .map(|t| t.agent_id.value.as_str())
                    .collect();
                j["slave_ids"] = json!(agents);
                j
            })
            .collect();
        o.insert("frameworks".into(), Value::Array(frameworks));
        Value::Object(o)
    }

    /// `/master/flags` (and GET_FLAGS): flag name -> string value.
    pub(crate) fn flags_json(&self) -> Value {
        let f = &self.flags;
        let secs = |d: std::time::Duration| format!("{}secs", d.as_secs_f64());
        let mut o = json!({
            "hostname": f.hostname,
            "allocation_interval": secs(f.allocation_interval),
            "agent_ping_timeout": secs(f.agent_ping_timeout),
            "max_agent_ping_timeouts": f.max_agent_ping_timeouts.to_string(),
            "heartbeat_interval": secs(f.heartbeat_interval),
            "max_completed_frameworks": crate::state::MAX_COMPLETED_FRAMEWORKS.to_string(),
            "max_completed_tasks_per_framework": crate::state::MAX_COMPLETED_TASKS.to_string(),
            "registry": "in_memory",
            "version": "false",
        });
        if let Some(t) = f.offer_timeout {
            o["offer_timeout"] = json!(secs(t));
        }
        o
    }
}
