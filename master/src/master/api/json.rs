//! The classic endpoints' JSON (`/master/state` and friends): Mesos's field names and shapes,
//! with resources as summary objects (`{"cpus":4,"mem":1024,...}`) beside their `_full` arrays.

use libprocess::util::HashMap;

use bytes::Bytes;

use mesos_api::protocol::to_json;
use mesos_api::{AgentID, FrameworkID, Full, ResourceFormat, Resources, Summary};
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::master::authz::Viewer;
use crate::master::{Master, VERSION};
use crate::state::{AgentRec, FrameworkRec};
use crate::task_json::task;

/// A framework's tasks (active or completed) that the viewer may see, each written as it is
/// read.
pub(crate) struct TaskList<'a> {
    f: &'a FrameworkRec,
    /// Where its live tasks' resources are added up, for the active list; `None` for the
    /// completed list.
    used: Option<&'a std::cell::RefCell<Resources>>,
    role: &'a str,
    viewer: Viewer<'a>,
}

impl Serialize for TaskList<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (f, v, role) = (self.f, self.viewer, self.role);
        match self.used {
            None => s.collect_seq(
                f.completed
                    .iter()
                    .filter(|t| v.task(&t.task, f))
                    .map(|t| &t.json),
            ),
            // Every live task counts towards the framework's use, seen or not.
            Some(used) => s.collect_seq(
                f.tasks
                    .values()
                    .inspect(|t| {
                        if !t.state.is_terminal() {
                            used.borrow_mut().add_all(&t.resources);
                        }
                    })
                    .filter(|t| v.task(t, f))
                    .map(|t| task(t, role)),
            ),
        }
    }
}

/// A framework with its tasks (those `viewer` may see), offers and executors, in the classic
/// form. Its tasks are written first, adding up what they use on the way, so that the
/// framework's resources do not take a pass of their own over its tasks.
pub(crate) struct FrameworkView<'a> {
    m: &'a Master,
    fid: &'a FrameworkID,
    f: &'a FrameworkRec,
    role: &'a str,
    viewer: Viewer<'a>,
}

impl Serialize for FrameworkView<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let used = std::cell::RefCell::new(Resources::new());
        let list = |used| TaskList {
            f: self.f,
            used,
            role: self.role,
            viewer: self.viewer,
        };
        let mut o = s.serialize_map(None)?;
        o.serialize_entry("tasks", &list(Some(&used)))?;
        o.serialize_entry("unreachable_tasks", &[(); 0])?;
        o.serialize_entry("completed_tasks", &list(None))?;
        let used = used.into_inner();
        if let Value::Object(head) = framework_using(self.m, self.fid, self.f, true, used) {
            for (k, v) in &head {
                o.serialize_entry(k, v)?;
            }
        }
        o.end()
    }
}

/// A framework with its tasks (those `viewer` may see), offers and executors.
pub(crate) fn framework_view<'a>(
    m: &'a Master,
    fid: &'a FrameworkID,
    f: &'a FrameworkRec,
    role: &'a str,
    viewer: Viewer<'a>,
) -> FrameworkView<'a> {
    FrameworkView {
        m,
        fid,
        f,
        role,
        viewer,
    }
}

/// What the tasks and offers of every framework hold, per agent: (used, offered).
pub(crate) fn agent_usage(m: &Master) -> Usage<'_> {
    let mut out: Usage = Usage::with_capacity_and_hasher(m.agents.len(), Default::default());
    for f in m.frameworks.values() {
        for t in f.tasks.values().filter(|t| !t.state.is_terminal()) {
            out.entry(&t.agent_id).or_default().0.add_all(&t.resources);
        }
    }
    for o in m.offers.values() {
        out.entry(&o.agent_id).or_default().1.add_all(&o.resources);
    }
    out
}

/// What the tasks and offers of every framework hold, per agent: (used, offered).
pub(crate) type Usage<'a> = rustc_hash::FxHashMap<&'a AgentID, (Resources, Resources)>;

/// A framework's used (live tasks) and offered resources.
pub(crate) fn framework_usage(m: &Master, f: &FrameworkRec) -> (Resources, Resources) {
    (framework_used(f), framework_offered(m, f))
}

/// What a framework's live tasks use.
fn framework_used(f: &FrameworkRec) -> Resources {
    let mut used = Resources::new();
    for t in f.tasks.values().filter(|t| !t.state.is_terminal()) {
        used.add_all(&t.resources);
    }
    used
}

/// What a framework's outstanding offers hold.
fn framework_offered(m: &Master, f: &FrameworkRec) -> Resources {
    let mut offered = Resources::new();
    for o in f.offers.iter().filter_map(|o| m.offers.get(o)) {
        offered.add_all(&o.resources);
    }
    offered
}

/// A framework in the classic form (with its offers and executors when `detail`; tasks come
/// with [`framework_view`]).
pub(crate) fn framework(m: &Master, fid: &FrameworkID, f: &FrameworkRec, detail: bool) -> Value {
    framework_using(m, fid, f, detail, framework_used(f))
}

/// [`framework`] with what its live tasks use already added up.
fn framework_using(
    m: &Master,
    fid: &FrameworkID,
    f: &FrameworkRec,
    detail: bool,
    used: Resources,
) -> Value {
    let offered = framework_offered(m, f);
    let role = f.role();
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
    usage: &'a Usage<'a>,
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

/// About how many bytes of `/master/state` a running task and an agent take, to size its
/// buffers (a guess too small costs a copy, not a wrong answer).
const TASK_BYTES: usize = 560;
const AGENT_BYTES: usize = 1600;

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

    /// `/master/state`, serialized straight into bytes, on three threads: the frameworks (with
    /// every task, most of it) split in two halves of about equal work, and the head with the
    /// agents; the pieces are then joined into one object (`frameworks` first).
    pub(crate) fn state_parts(&self, viewer: Viewer) -> Vec<Bytes> {
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
            let mut out = Vec::with_capacity(AGENT_BYTES * self.agents.len() + (1 << 16));
            let _ = serde_json::to_writer(&mut out, &view);
            out
        };
        let roles: Vec<String> = self.frameworks.values().map(FrameworkRec::role).collect();
        let active: Vec<FrameworkView> = self
            .frameworks
            .iter()
            .zip(&roles)
            .filter(|((_, f), _)| viewer.framework(f))
            .map(|((id, f), role)| framework_view(self, id, f, role, viewer))
            .collect();
        let completed_roles: Vec<String> = self
            .completed_frameworks
            .iter()
            .map(FrameworkRec::role)
            .collect();
        let completed: Vec<FrameworkView> = self
            .completed_frameworks
            .iter()
            .zip(&completed_roles)
            .filter(|(f, _)| viewer.framework(f))
            .filter_map(|(f, r)| {
                let id = f.info.id.as_ref()?;
                Some(framework_view(self, id, f, r, viewer))
            })
            .collect();
        // Where the work divides in two: a running task costs about twice what a completed
        // one (copied as it was written) does.
        let work = |v: &FrameworkView| 2 * v.f.tasks.len() + v.f.completed.len();
        let total: usize = active.iter().chain(&completed).map(work).sum();
        let (mut split, mut acc) = (active.len(), 0);
        for (i, v) in active.iter().enumerate() {
            if 2 * acc >= total {
                split = i;
                break;
            }
            acc += work(v);
        }
        let (first, second) = active.split_at(split);
        let first_empty = first.is_empty();
        // `[c,d]` then `[e]` in one buffer, and where the second list starts.
        let second = || {
            let mut out = Vec::with_capacity(self.state_guess(second) + (1 << 16));
            let _ = serde_json::to_writer(&mut out, second);
            let mid = out.len();
            let _ = serde_json::to_writer(&mut out, &completed);
            (out, mid)
        };
        std::thread::scope(|sc| {
            let other = sc.spawn(rest);
            let half = sc.spawn(second);
            let mut out = Vec::with_capacity(self.state_guess(first) + (1 << 16));
            out.extend_from_slice(br#"{"frameworks":"#);
            let _ = serde_json::to_writer(&mut out, first);
            // A panic on another thread is this request's failure only: write it here.
            let (second, mid) = half.join().unwrap_or_else(|_| second());
            let rest = other.join().unwrap_or_else(|_| rest());
            // `{"frameworks":[a,b]` + `[c,d][e]` + `{"version":...}` ->
            // `{"frameworks":[a,b,c,d],"completed_frameworks":[e],"version":...}`, as pieces
            // of the body rather than copied into one buffer.
            let mut first = Bytes::from(out);
            first.truncate(first.len().saturating_sub(1));
            let (second, rest) = (Bytes::from(second), Bytes::from(rest));
            let more = if mid >= 2 {
                second.slice(1..mid - 1)
            } else {
                Bytes::new()
            };
            let mut parts = vec![first];
            if !more.is_empty() {
                if !first_empty {
                    parts.push(Bytes::from_static(b","));
                }
                parts.push(more);
            }
            parts.push(Bytes::from_static(br#"],"completed_frameworks":"#));
            parts.push(second.slice(mid..));
            parts.push(Bytes::from_static(b","));
            parts.push(rest.slice(1.min(rest.len())..));
            parts
        })
    }

    /// About how many bytes these frameworks take in `/master/state`.
    fn state_guess(&self, frameworks: &[FrameworkView]) -> usize {
        frameworks
            .iter()
            .map(|v| {
                let done: usize = v.f.completed.iter().map(|t| t.json.get().len()).sum();
                TASK_BYTES * v.f.tasks.len() + done + 1024
            })
            .sum()
    }

    /// `/master/state-summary`: agents and frameworks with counts, no task lists.
    pub(crate) fn state_summary_json(&self, viewer: Viewer) -> Value {
        let mut o = self.state_head();
        let usage = agent_usage(self);
        let mut counts: HashMap<&AgentID, Map<String, Value>> = HashMap::default();
        let mut fw_on: HashMap<&AgentID, std::collections::BTreeSet<&str>> = HashMap::default();
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
    use crate::state::tests::{framework, task};
    use crate::{Master, MasterFlags};
    use mesos_api::protocol::task::TaskState;
    use mesos_api::{FrameworkID, Resources};
    use serde_json::Value;

    /// `/master/state` with `running[i]` running and `done[i]` completed tasks in active
    /// framework `i`, and `gone` completed frameworks, joined from its pieces and read back.
    fn state_of(running: &[usize], done: &[usize], gone: usize) -> Value {
        let flags = MasterFlags::from_defaults(&[]).unwrap();
        let mut m = Master::new(flags);
        let mut n = 0;
        let mut add = |f: &mut crate::state::FrameworkRec, id: &FrameworkID, live: bool| {
            let mut t = task(n);
            n += 1;
            t.framework_id = id.clone();
            t.resources = Resources::parse("cpus:1;mem:32", "*").unwrap();
            if live {
                t.state = TaskState::Running;
                f.tasks.insert(t.task_id.clone(), t);
            } else {
                f.complete(t, usize::MAX);
            }
        };
        for (i, (&r, &d)) in running.iter().zip(done).enumerate() {
            let id = FrameworkID::new(format!("F{i}"));
            let mut f = framework(&format!("f{i}"));
            f.info.id = Some(id.clone());
            (0..r).for_each(|_| add(&mut f, &id, true));
            (0..d).for_each(|_| add(&mut f, &id, false));
            m.frameworks.insert(id, f);
        }
        for i in 0..gone {
            let id = FrameworkID::new(format!("G{i}"));
            let mut f = framework(&format!("g{i}"));
            f.info.id = Some(id.clone());
            add(&mut f, &id, false);
            m.completed_frameworks.push_back(f);
        }
        let parts = m.state_parts(m.viewer(None));
        let body: Vec<u8> = parts.iter().flat_map(|p| p.iter().copied()).collect();
        serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&body)))
    }

    fn ids(v: &Value, list: &str) -> Vec<String> {
        let mut out: Vec<String> = v[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_string())
            .collect();
        out.sort();
        out
    }

    #[test]
    fn state_joins_its_pieces_into_one_object_whatever_the_split() {
        let empty = state_of(&[], &[], 0);
        assert_eq!(empty["frameworks"], Value::Array(vec![]));
        assert_eq!(empty["completed_frameworks"], Value::Array(vec![]));
        assert!(
            empty["slaves"].is_array() && empty["version"].is_string(),
            "{empty}"
        );
        for (running, done, gone) in [
            (&[3][..], &[0][..], 0),
            (&[0], &[4], 2),
            (&[5, 1, 1, 1], &[0, 2, 0, 0], 0),
            (&[1, 1, 9], &[0, 0, 0], 3),
            (&[2, 2, 2, 2, 2], &[1, 1, 1, 1, 1], 1),
        ] {
            let v = state_of(running, done, gone);
            let want: Vec<String> = (0..running.len()).map(|i| format!("F{i}")).collect();
            assert_eq!(ids(&v, "frameworks"), want, "{running:?}");
            let gone_ids: Vec<String> = (0..gone).map(|i| format!("G{i}")).collect();
            assert_eq!(ids(&v, "completed_frameworks"), gone_ids);
            for f in v["frameworks"].as_array().unwrap() {
                let i: usize = f["id"].as_str().unwrap()[1..].parse().unwrap();
                assert_eq!(f["tasks"].as_array().unwrap().len(), running[i], "{f}");
                assert_eq!(f["completed_tasks"].as_array().unwrap().len(), done[i]);
                // What its live tasks use, added up while they were written.
                assert_eq!(f["used_resources"]["cpus"], running[i], "{f}");
                for t in f["completed_tasks"].as_array().unwrap() {
                    assert_eq!(t["framework_id"], f["id"]);
                    assert_eq!(t["resources"]["mem"], 32);
                }
            }
            let task_ids: std::collections::BTreeSet<&str> = v["frameworks"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|f| f["tasks"].as_array().unwrap())
                .map(|t| t["id"].as_str().unwrap())
                .collect();
            assert_eq!(task_ids.len(), running.iter().sum::<usize>());
        }
    }

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
