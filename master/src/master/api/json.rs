//! The classic endpoints' JSON (`/master/state` and friends): Mesos's field names and shapes,
//! with resources as summary objects (`{"cpus":4,"mem":1024,...}`) beside their `_full` arrays.

use std::collections::HashMap;

use mesos_api::messages::Task;
use mesos_api::protocol::to_json;
use mesos_api::{AgentID, FrameworkID, Full, ResourceFormat, Resources, Summary};
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::master::authz::Viewer;
use crate::master::{Master, VERSION};
use crate::state::{AgentRec, FrameworkRec};

/// A task in the classic form, serialized straight from the master's records.
#[derive(Serialize)]
pub(crate) struct TaskView<'a> {
    id: &'a str,
    name: &'a str,
    framework_id: &'a str,
    executor_id: &'a str,
    slave_id: &'a str,
    state: &'static str,
    resources: Summary<'a>,
    role: &'a str,
    statuses: Statuses<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    labels: Option<Value>,
    /// `container`, `discovery`, `health_check`, `kill_policy`, `max_completion_time`, when set.
    #[serde(flatten)]
    details: Option<Value>,
}

#[derive(Serialize)]
struct StatusView<'a> {
    state: &'static str,
    timestamp: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    healthy: Option<bool>,
    /// The container and its addresses (where service discovery reads a task's IP, as in
    /// Mesos's state).
    #[serde(skip_serializing_if = "Option::is_none")]
    container_status: Option<&'a mesos_api::protocol::task::ContainerStatus>,
}

/// A task's statuses, written as they are read.
struct Statuses<'a>(&'a [mesos_api::protocol::task::TaskStatus]);

impl Serialize for Statuses<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|st| StatusView {
            state: st.state.as_str(),
            timestamp: st.timestamp.unwrap_or(0.0),
            healthy: st.healthy,
            container_status: st.container_status.as_deref(),
        }))
    }
}

/// A framework's tasks (active or completed) that the viewer may see, each written as it is
/// read.
pub(crate) struct TaskList<'a> {
    f: &'a FrameworkRec,
    completed: bool,
    role: &'a str,
    viewer: Viewer<'a>,
}

impl Serialize for TaskList<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (f, v, role) = (self.f, self.viewer, self.role);
        if self.completed {
            s.collect_seq(
                f.completed
                    .iter()
                    .filter(|t| v.task(t, f))
                    .map(|t| task(t, role)),
            )
        } else {
            s.collect_seq(
                f.tasks
                    .values()
                    .filter(|t| v.task(t, f))
                    .map(|t| task(t, role)),
            )
        }
    }
}

/// A task in the classic form.
pub(crate) fn task<'a>(t: &'a Task, role: &'a str) -> TaskView<'a> {
    TaskView {
        id: &t.task_id.value,
        name: &t.name,
        framework_id: &t.framework_id.value,
        executor_id: t
            .executor_id
            .as_ref()
            .map(|e| e.value.as_str())
            .unwrap_or(""),
        slave_id: &t.agent_id.value,
        state: t.state.as_str(),
        resources: Summary(&t.resources),
        role,
        statuses: Statuses(&t.statuses),
        labels: t.labels.as_ref().map(|l| to_json(&l.labels)),
        details: t.details.as_ref().map(|d| to_json(&**d)),
    }
}

/// A framework with its tasks, in the classic form.
#[derive(Serialize)]
pub(crate) struct FrameworkView<'a> {
    #[serde(flatten)]
    head: Value,
    tasks: TaskList<'a>,
    unreachable_tasks: [(); 0],
    completed_tasks: TaskList<'a>,
}

/// A framework with its tasks (those `viewer` may see), offers and executors.
pub(crate) fn framework_view<'a>(
    m: &Master,
    fid: &FrameworkID,
    f: &'a FrameworkRec,
    role: &'a str,
    viewer: Viewer<'a>,
) -> FrameworkView<'a> {
    let list = |completed| TaskList {
        f,
        completed,
        role,
        viewer,
    };
    FrameworkView {
        head: framework(m, fid, f, true),
        tasks: list(false),
        unreachable_tasks: [],
        completed_tasks: list(true),
    }
}

pub(crate) fn role_of(f: &FrameworkRec) -> String {
    f.info
        .effective_roles()
        .into_iter()
        .next()
        .unwrap_or_else(|| "*".into())
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

/// A framework in the classic form (with its offers and executors when `detail`; tasks come
/// with [`framework_view`]).
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
    if let Some(c) = &f.offer_constraints {
        o["offer_constraints"] = mesos_api::protocol::to_json(c);
    }
    if detail {
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

/// An agent in the classic form, serialized straight from the master's records (keys in the
/// sorted order a JSON tree writes).
#[derive(Serialize)]
pub(crate) struct AgentView<'a> {
    active: bool,
    attributes: Value,
    capabilities: [(); 0],
    deactivated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    domain: Option<&'a mesos_api::protocol::framework::DomainInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    drain_info: Option<Value>,
    hostname: &'a str,
    id: &'a str,
    offered_resources: Summary<'a>,
    offered_resources_full: Full<'a>,
    pid: String,
    port: i32,
    registered_time: f64,
    reserved_resources: Map<String, Value>,
    reserved_resources_full: Map<String, Value>,
    resources: Summary<'a>,
    resources_full: Full<'a>,
    #[serde(serialize_with = "summary_of")]
    unreserved_resources: &'a Resources,
    #[serde(serialize_with = "full_of")]
    unreserved_resources_full: &'a Resources,
    used_resources: Summary<'a>,
    used_resources_full: Full<'a>,
    version: &'a str,
}

fn summary_of<S: serde::Serializer>(r: &&Resources, s: S) -> Result<S::Ok, S::Error> {
    Summary(r).serialize(s)
}

fn full_of<S: serde::Serializer>(r: &&Resources, s: S) -> Result<S::Ok, S::Error> {
    Full(r).serialize(s)
}

static NO_RESOURCES: std::sync::OnceLock<(Resources, Resources)> = std::sync::OnceLock::new();

/// An agent in the classic form, as a view (`unreserved` holds the agent's unreserved
/// resources when it has reservations; see [`agent_view`]).
pub(crate) fn agent_view<'a>(
    id: &'a AgentID,
    a: &'a AgentRec,
    usage: Option<&'a (Resources, Resources)>,
    unreserved: &'a mut Option<Resources>,
) -> AgentView<'a> {
    let (used, offered) =
        usage.unwrap_or_else(|| NO_RESOURCES.get_or_init(|| (Resources::new(), Resources::new())));
    let total = &a.info.resources;
    let mut by_role: Map<String, Value> = Map::new();
    let mut by_role_full: Map<String, Value> = Map::new();
    let has_reserved = total.iter().any(|r| !r.reservations.is_empty())
        || a.checkpointed.iter().any(|r| !r.reservations.is_empty());
    if has_reserved {
        let reserved = total.reserved().plus(&a.checkpointed.reserved());
        let roles: std::collections::BTreeSet<String> =
            reserved.iter().map(|r| r.role().to_string()).collect();
        for role in roles {
            let r = reserved.reserved_to(&role);
            by_role.insert(role.clone(), r.to_summary_json());
            by_role_full.insert(role, r.to_json(ResourceFormat::Refined));
        }
        *unreserved = Some(total.unreserved());
    }
    let unreserved: &'a Resources = match unreserved {
        Some(u) => u,
        None => total,
    };
    AgentView {
        active: !a.deactivated && !a.disconnected,
        attributes: a.info.attributes.to_json_object(),
        capabilities: [],
        deactivated: a.deactivated,
        domain: a.info.domain.as_ref(),
        drain_info: a.drain.as_ref().map(|d| d.to_json()),
        hostname: &a.info.hostname,
        id: &id.value,
        offered_resources: Summary(offered),
        offered_resources_full: Full(offered),
        pid: a.pid.to_string(),
        port: a.info.port,
        registered_time: a.registered_time,
        reserved_resources: by_role,
        reserved_resources_full: by_role_full,
        resources: Summary(total),
        resources_full: Full(total),
        unreserved_resources: unreserved,
        unreserved_resources_full: unreserved,
        used_resources: Summary(used),
        used_resources_full: Full(used),
        version: &a.version,
    }
}

/// An agent in the classic form.
pub(crate) fn agent(id: &AgentID, a: &AgentRec, usage: Option<&(Resources, Resources)>) -> Value {
    let mut unreserved = None;
    serde_json::to_value(agent_view(id, a, usage, &mut unreserved)).unwrap_or_default()
}

/// Serializes each agent as it goes (no list of views, no JSON trees).
struct Agents<'a> {
    m: &'a Master,
    usage: &'a HashMap<AgentID, (Resources, Resources)>,
}

impl Serialize for Agents<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut q = s.serialize_seq(Some(self.m.agents.len()))?;
        for (id, a) in &self.m.agents {
            let mut unreserved = None;
            q.serialize_element(&agent_view(id, a, self.usage.get(id), &mut unreserved))?;
        }
        q.end()
    }
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
        if let Some(d) = &self.flags.domain_info {
            o.insert("domain".into(), json!(d));
        }
        o.insert("start_time".into(), json!(self.start_time));
        if let Some(t) = self.leadership.elected_time {
            o.insert("elected_time".into(), json!(t));
        }
        if let Some(l) = &self.leadership.leader {
            o.insert("leader".into(), json!(l.pid));
            o.insert("leader_info".into(), to_json(l));
        }
        o.insert("activated_slaves".into(), json!(active));
        o.insert(
            "deactivated_slaves".into(),
            json!(self.agents.len() - active),
        );
        o.insert("unreachable_slaves".into(), json!(self.unreachable.len()));
        o.insert("cluster".into(), json!(""));
        o
    }

    /// `/master/state`, serialized straight into bytes. The frameworks (with every task, most
    /// of it) are written on this thread while a second one writes the head and the agents;
    /// the two objects are then joined (so `frameworks` comes first in the object).
    pub(crate) fn state_bytes(&self, viewer: Viewer) -> Vec<u8> {
        #[derive(Serialize)]
        struct Frameworks<'a> {
            frameworks: Vec<FrameworkView<'a>>,
            completed_frameworks: Vec<FrameworkView<'a>>,
        }
        #[derive(Serialize)]
        struct Rest<'a> {
            #[serde(flatten)]
            head: Map<String, Value>,
            #[serde(skip_serializing_if = "Option::is_none")]
            flags: Option<Value>,
            slaves: Agents<'a>,
            recovered_slaves: [(); 0],
            orphan_tasks: [(); 0],
            unregistered_frameworks: [(); 0],
        }
        let rest = || {
            let usage = agent_usage(self);
            let view = Rest {
                head: self.state_head(),
                flags: viewer.flags().then(|| self.flags_json()),
                slaves: Agents {
                    m: self,
                    usage: &usage,
                },
                recovered_slaves: [],
                orphan_tasks: [],
                unregistered_frameworks: [],
            };
            let mut out = Vec::with_capacity(1 << 20);
            let _ = serde_json::to_writer(&mut out, &view);
            out
        };
        std::thread::scope(|sc| {
            let other = sc.spawn(rest);
            let roles: HashMap<&FrameworkID, String> = self
                .frameworks
                .iter()
                .map(|(id, f)| (id, role_of(f)))
                .collect();
            let completed_roles: Vec<String> =
                self.completed_frameworks.iter().map(role_of).collect();
            let view = Frameworks {
                frameworks: self
                    .frameworks
                    .iter()
                    .filter(|(_, f)| viewer.framework(f))
                    .map(|(id, f)| {
                        let role = roles.get(id).map_or("*", String::as_str);
                        framework_view(self, id, f, role, viewer)
                    })
                    .collect(),
                completed_frameworks: self
                    .completed_frameworks
                    .iter()
                    .zip(&completed_roles)
                    .filter(|(f, _)| viewer.framework(f))
                    .filter_map(|(f, r)| {
                        f.info
                            .id
                            .as_ref()
                            .map(|id| framework_view(self, id, f, r, viewer))
                    })
                    .collect(),
            };
            let mut out = Vec::with_capacity(1 << 20);
            let _ = serde_json::to_writer(&mut out, &view);
            // A panic on the other thread is this request's failure only: write it here.
            let head = other.join().unwrap_or_else(|_| rest());
            // {"frameworks":...,"completed_frameworks":...} + {"version":...} -> one object.
            out.pop();
            out.push(b',');
            out.extend_from_slice(head.get(1..).unwrap_or(b"}"));
            out
        })
    }

    /// `/master/state-summary`: agents and frameworks with counts, no task lists.
    pub(crate) fn state_summary_json(&self, viewer: Viewer) -> Value {
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
            .filter(|(_, f)| viewer.framework(f))
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

    /// `/master/flags` (and GET_FLAGS): every flag's name -> its value as text.
    pub(crate) fn flags_json(&self) -> Value {
        let f = &self.flags;
        let mut o: Map<String, Value> = f
            .flag_values()
            .into_iter()
            .map(|(name, value)| (name.to_string(), Value::String(value)))
            .collect();
        // Not a flag of ours, shown as Mesos does: `--version` (which prints the version and
        // exits; never set on a running master).
        o.insert("version".into(), json!("false"));
        Value::Object(o)
    }
}

#[cfg(test)]
mod tests {
    use crate::{Master, MasterFlags};

    #[test]
    fn flags_show_every_declared_flag_as_text() {
        let flags = MasterFlags::from_defaults(&[("allocation_interval", "50ms")]).unwrap();
        let j = Master::new(flags).flags_json();
        for f in MasterFlags::FLAGS {
            assert!(j[f.name].is_string(), "{} missing from {j}", f.name);
        }
        assert_eq!(j["allocation_interval"], "0.05secs");
        assert_eq!(j["agent_ping_timeout"], "15secs");
        assert_eq!(j["max_agent_ping_timeouts"], "5");
        assert_eq!(j["registry"], "in_memory");
        assert_eq!(j["offer_timeout"], "");
        assert_eq!(j["heartbeat_interval"], "15secs");
        assert_eq!(j["version"], "false");
    }
}
