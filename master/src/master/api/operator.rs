//! `POST /api/v1`: the v1 operator API of the master, and its SUBSCRIBE event stream (the
//! master pushes TASK_ADDED / TASK_UPDATED / AGENT_* / FRAMEWORK_* events and heartbeats).

use libprocess::util::HashMap;

use bytes::Bytes;
use libprocess::{Context, HttpRequest, HttpResponse, Reply};
use mesos_allocator::{AllocatorProcess, Operation, Quota};
use mesos_api::http::{self as api, Encoding, Rejection};
use mesos_api::protobuf;
use mesos_api::protocol::to_json;
use mesos_api::{AgentID, FrameworkID, ResourceFormat, ResourceQuantities, Resources};
use serde_json::{json, Value};

use super::classic::{json_reply, quantities_map, version_info_json};
use super::{json, reject};
use crate::master::authz::Viewer;
use crate::master::{Master, Subscriber};
use crate::state::{AgentRec, FrameworkRec};

/// Mesos's timestamp form.
fn time_info(secs: f64) -> Value {
    json!({"nanoseconds": (secs * 1e9) as i64})
}

/// A required field of the call's payload, or 400 naming it.
fn field<'a>(v: &'a Value, path: &[&str]) -> Result<&'a Value, Rejection> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p).filter(|x| !x.is_null()).ok_or_else(|| {
            Rejection::bad_request(format!("Expecting '{}' to be present", path.join(".")))
        })?;
    }
    Ok(cur)
}

fn id_field(v: &Value, path: &[&str]) -> Result<String, Rejection> {
    let x = field(v, path)?;
    x["value"].as_str().map(str::to_string).ok_or_else(|| {
        Rejection::bad_request(format!(
            "Expecting '{}.value' to be a string",
            path.join(".")
        ))
    })
}

fn resources_field(v: &Value, path: &[&str]) -> Result<Resources, Rejection> {
    Resources::from_json(field(v, path)?)
        .map_err(|e| Rejection::bad_request(format!("Invalid '{}': {e}", path.join("."))))
}

fn respond(kind: &str, payload: Value) -> HttpResponse {
    json_reply(&api::response(kind, payload))
}

/// A v1 `Framework` (operator form).
pub(crate) fn v1_framework(m: &Master, f: &FrameworkRec, detail: bool) -> Value {
    let (used, offered) = json::framework_usage(m, f);
    let mut o = json!({
        "framework_info": to_json(&f.info),
        "active": f.connected,
        "connected": f.connected,
        "recovered": f.generation == 0,
        "registered_time": time_info(f.registered_time),
        "allocated_resources": used.to_json(ResourceFormat::Refined),
        "offered_resources": offered.to_json(ResourceFormat::Refined),
    });
    if let Some(c) = &f.offer_constraints {
        o["offer_constraints"] = to_json(c);
    }
    if detail {
        let offers: Vec<Value> = f
            .offers
            .iter()
            .filter_map(|id| m.offers.get(id).map(|r| (id, r)))
            .map(|(id, r)| {
                json!({
                    "id": {"value": id.value},
                    "framework_id": {"value": r.framework_id.value},
                    "agent_id": {"value": r.agent_id.value},
                    "hostname": m.agents.get(&r.agent_id).map(|a| a.info.hostname.clone()),
                    "resources": r.resources.to_json(ResourceFormat::Refined),
                })
            })
            .collect();
        o["offers"] = Value::Array(offers);
    }
    o
}

/// A v1 `Agent` (operator form).
pub(crate) fn v1_agent(a: &AgentRec, usage: Option<&(Resources, Resources)>) -> Value {
    let empty = (Resources::new(), Resources::new());
    let (used, offered) = usage.unwrap_or(&empty);
    let mut v = json!({
        "agent_info": to_json(&a.info),
        "active": !a.deactivated && !a.disconnected,
        "deactivated": a.deactivated,
        "version": a.version,
        "pid": a.pid.to_string(),
        "registered_time": time_info(a.registered_time),
        "total_resources": a.info.resources.to_json(ResourceFormat::Refined),
        "allocated_resources": used.to_json(ResourceFormat::Refined),
        "offered_resources": offered.to_json(ResourceFormat::Refined),
        "capabilities": [],
    });
    if let Some(d) = &a.drain {
        v["drain_info"] = d.to_json();
    }
    v
}

impl Master {
    pub(crate) fn operator_api(&mut self, ctx: &mut Context<Self>, req: HttpRequest) -> Reply {
        let call = match api::operator_call(
            req.method.as_str(),
            req.header("content-type"),
            req.header("accept"),
            &req.body,
            protobuf::MASTER_CALL,
        ) {
            Ok(c) => c,
            Err(e) => return reject(e).into(),
        };
        let accept = call.accept;
        match self.operator_call(ctx, &req, call) {
            Ok(r) => super::encode_reply(self.when_stored(r), accept, protobuf::MASTER_RESPONSE),
            Err(e) => reject(e).into(),
        }
    }

    fn operator_call(
        &mut self,
        ctx: &mut Context<Self>,
        req: &HttpRequest,
        call: api::OperatorCall,
    ) -> Result<Reply, Rejection> {
        let (kind, body) = (call.kind, call.payload);
        let body = &body;
        let ok = |r: HttpResponse| Ok(Reply::from(r));
        let principal = req.principal.as_deref();
        let viewer = self.viewer(principal);
        match kind.as_str() {
            "GET_HEALTH" => ok(respond(&kind, json!({"healthy": true}))),
            "GET_LOGGING_LEVEL" => ok(respond(
                &kind,
                json!({"level": libprocess::logging::level()}),
            )),
            "SET_LOGGING_LEVEL" => {
                let (level, duration) = api::logging_level_call(body)?;
                libprocess::logging::set_level(level, duration).map_err(Rejection::unavailable)?;
                ok(HttpResponse::empty(200))
            }
            "GET_FLAGS" => {
                self.authorize("view_flags", principal, None, "view the flags")?;
                let flags = api::name_values(&self.flags_json());
                ok(respond(&kind, json!({"flags": flags})))
            }
            "GET_VERSION" => ok(respond(&kind, json!({"version_info": version_info_json()}))),
            "GET_METRICS" => {
                let metrics = api::name_values(&ctx.runtime().metrics().snapshot_json());
                ok(respond(&kind, json!({"metrics": metrics})))
            }
            "GET_STATE" => ok(respond(&kind, self.v1_state(viewer))),
            "GET_AGENTS" => ok(respond(&kind, self.v1_agents())),
            "GET_FRAMEWORKS" => ok(respond(&kind, self.v1_frameworks(viewer))),
            "GET_EXECUTORS" => ok(respond(&kind, self.v1_executors(viewer))),
            "GET_TASKS" => ok(respond(&kind, self.v1_tasks(viewer))),
            "GET_ROLES" => {
                let roles: Vec<Value> = self
                    .roles_json(viewer)
                    .into_iter()
                    .map(|r| {
                        json!({
                            "name": r["name"],
                            "weight": r["weight"],
                            "frameworks": r["frameworks"].as_array().into_iter().flatten()
                                .map(|f| json!({"value": f})).collect::<Vec<_>>(),
                        })
                    })
                    .collect();
                ok(respond(&kind, json!({"roles": roles})))
            }
            "GET_WEIGHTS" => ok(respond(
                &kind,
                json!({"weight_infos": self.weights_json(viewer)}),
            )),
            "UPDATE_WEIGHTS" => {
                self.update_weights(principal, field(body, &["weight_infos"])?)?;
                ok(HttpResponse::empty(200))
            }
            "GET_MASTER" => ok(respond(
                &kind,
                json!({
                    "master_info": self.master_info_json(),
                    "start_time": self.start_time,
                    "elected_time": self.leadership.elected_time,
                }),
            )),
            "GET_QUOTA" => {
                let configs: Vec<Value> = self
                    .quotas
                    .iter()
                    .filter(|(r, _)| viewer.quota(r))
                    .map(|(r, (g, l))| {
                        json!({"role": r, "guarantees": quantities_map(g), "limits": quantities_map(l)})
                    })
                    .collect();
                let mut status = self.quota_status_json(viewer);
                status["configs"] = Value::Array(configs);
                ok(respond(&kind, json!({"status": status})))
            }
            "UPDATE_QUOTA" => {
                let configs = field(body, &["quota_configs"])?
                    .as_array()
                    .ok_or_else(|| Rejection::bad_request("'quota_configs' must be an array"))?;
                let mut parsed = Vec::new();
                for c in configs {
                    let role = c["role"].as_str().ok_or_else(|| {
                        Rejection::bad_request("Expecting 'role' in each quota config")
                    })?;
                    mesos_api::roles::validate(role)
                        .map_err(|e| Rejection::bad_request(e.to_string()))?;
                    let g = scalar_map(&c["guarantees"], "guarantees")?;
                    let l = scalar_map(&c["limits"], "limits")?;
                    if !l.is_empty()
                        && g.names()
                            .any(|n| g.get(n) > l.get(n) && l.get(n).millis() > 0)
                    {
                        return Err(Rejection::bad_request(format!(
                            "Role '{role}': guarantees exceed limits"
                        )));
                    }
                    self.authorize(
                        "update_quotas",
                        principal,
                        Some(role),
                        &format!("update the quota of role '{role}'"),
                    )?;
                    parsed.push((role.to_string(), g, l));
                }
                for (role, g, l) in parsed {
                    self.set_quota(&role, g, l);
                }
                ok(HttpResponse::empty(200))
            }
            "SET_QUOTA" => {
                self.set_quota_request(principal, field(body, &["quota_request"])?)?;
                ok(HttpResponse::empty(200))
            }
            "REMOVE_QUOTA" => {
                let role = field(body, &["role"])?
                    .as_str()
                    .ok_or_else(|| Rejection::bad_request("'role' must be a string"))?;
                self.remove_quota(principal, role)?;
                ok(HttpResponse::empty(200))
            }
            "LIST_FILES" => ok(respond(&kind, super::files::list_files_call(body)?)),
            "READ_FILE" => ok(respond(&kind, super::files::read_file_call(body)?)),
            // The operations with feedback not yet acknowledged as done.
            "GET_OPERATIONS" => ok(respond(&kind, self.v1_operations())),
            "CREATE_VOLUMES" | "DESTROY_VOLUMES" => {
                let agent = AgentID::new(id_field(body, &["agent_id"])?);
                let volumes = resources_field(body, &["volumes"])?;
                let create = kind == "CREATE_VOLUMES";
                Ok(self.operator_volumes(ctx, principal, agent, volumes, create))
            }
            "GROW_VOLUME" | "SHRINK_VOLUME" => {
                let agent = AgentID::new(id_field(body, &["agent_id"])?);
                let volume: mesos_api::Resource =
                    serde_json::from_value(field(body, &["volume"])?.clone())
                        .map_err(|e| Rejection::bad_request(format!("Invalid 'volume': {e}")))?;
                self.authorize_resize(principal, &volume)?;
                let op = if kind == "GROW_VOLUME" {
                    let addition: mesos_api::Resource = serde_json::from_value(
                        field(body, &["addition"])?.clone(),
                    )
                    .map_err(|e| Rejection::bad_request(format!("Invalid 'addition': {e}")))?;
                    Operation::GrowVolume(volume, addition)
                } else {
                    let by = field(body, &["subtract", "value"])?
                        .as_f64()
                        .ok_or_else(|| {
                            Rejection::bad_request("'subtract.value' must be a number")
                        })?;
                    Operation::ShrinkVolume(volume, mesos_api::resources::Scalar::from_f64(by))
                };
                Ok(self.operator_apply(ctx, agent, op, 202))
            }
            "RESERVE_RESOURCES" | "UNRESERVE_RESOURCES" => {
                let agent = AgentID::new(id_field(body, &["agent_id"])?);
                let resources = resources_field(body, &["resources"])?;
                self.authorize_reservation(principal, &resources, kind == "RESERVE_RESOURCES")?;
                Ok(self.operator_reserve(ctx, agent, resources, kind == "RESERVE_RESOURCES", 202))
            }
            "TEARDOWN" => {
                let fid = FrameworkID::new(id_field(body, &["framework_id"])?);
                self.operator_teardown(ctx, principal, &fid)?;
                ok(HttpResponse::empty(200))
            }
            "MARK_AGENT_GONE" => {
                let id = AgentID::new(id_field(body, &["agent_id"])?);
                self.authorize("mark_agents_gone", principal, None, "mark agents gone")?;
                if self.gone.contains(&id) {
                    // Marking a gone agent again changes nothing (200, as in Mesos).
                    return ok(HttpResponse::empty(200));
                }
                if !self.agents.contains_key(&id)
                    && !self.unreachable.contains(&id)
                    && !self.recovered_agents.contains_key(&id)
                {
                    return Err(Rejection::not_found(format!("Agent '{id}' not found")));
                }
                self.mark_agent_gone(ctx, &id);
                ok(HttpResponse::empty(200))
            }
            "DRAIN_AGENT" => {
                let id = AgentID::new(id_field(body, &["agent_id"])?);
                self.authorize("drain_agents", principal, None, "drain agents")?;
                let d = body;
                let mark_gone = d["mark_gone"].as_bool().unwrap_or(false);
                if mark_gone {
                    self.authorize("mark_agents_gone", principal, None, "mark agents gone")?;
                }
                let max_grace_period_ns =
                    match &d["max_grace_period"] {
                        serde_json::Value::Null => None,
                        g => Some(g["nanoseconds"].as_i64().filter(|n| *n >= 0).ok_or_else(
                            || {
                                Rejection::bad_request(
                                    "'max_grace_period' needs non-negative 'nanoseconds'",
                                )
                            },
                        )?),
                    };
                if !self.agents.contains_key(&id) && !self.unreachable.contains(&id) {
                    return Err(Rejection::bad_request(if self.gone.contains(&id) {
                        format!("Agent '{id}' is gone")
                    } else {
                        "Unknown agent".to_string()
                    }));
                }
                self.drain_agent(ctx, &id, max_grace_period_ns, mark_gone);
                ok(HttpResponse::empty(200))
            }
            "DEACTIVATE_AGENT" | "REACTIVATE_AGENT" => {
                let id = AgentID::new(id_field(body, &["agent_id"])?);
                let active = kind == "REACTIVATE_AGENT";
                if active {
                    self.authorize("reactivate_agents", principal, None, "reactivate agents")?;
                } else {
                    self.authorize("deactivate_agents", principal, None, "deactivate agents")?;
                }
                let Some(a) = self.agents.get_mut(&id) else {
                    return Err(Rejection::bad_request(format!(
                        "Agent '{id}' is not registered"
                    )));
                };
                a.deactivated = !active;
                // A disconnected agent is reactivated when it reregisters, as in Mesos.
                let connected = !a.disconnected;
                // Reactivation ends a drain too, as in Mesos.
                let drained = active && a.drain.take().is_some();
                self.registry_note(crate::registry::Operation::Deactivate(id.clone(), !active));
                if active && connected {
                    self.activate_in_allocator(&id);
                } else if !active {
                    self.deactivate_in_allocator(ctx, &id);
                }
                if drained {
                    self.agent_updated(&id);
                }
                ok(HttpResponse::empty(200))
            }
            "GET_MAINTENANCE_SCHEDULE" => ok(respond(
                &kind,
                json!({"schedule": self.maintenance_schedule(principal)?}),
            )),
            "GET_MAINTENANCE_STATUS" => ok(respond(
                &kind,
                json!({"status": self.maintenance_status(principal)?}),
            )),
            "UPDATE_MAINTENANCE_SCHEDULE" => {
                self.update_maintenance_schedule(ctx, principal, field(body, &["schedule"])?)?;
                ok(HttpResponse::empty(200))
            }
            "START_MAINTENANCE" => {
                self.start_maintenance(ctx, principal, field(body, &["machines"])?)?;
                ok(HttpResponse::empty(200))
            }
            "STOP_MAINTENANCE" => {
                self.stop_maintenance(principal, field(body, &["machines"])?)?;
                ok(HttpResponse::empty(200))
            }
            "SUBSCRIBE" => {
                let (resp, tx) = HttpResponse::stream(call.accept.media_type());
                let ev = json!({
                    "type": "SUBSCRIBED",
                    "subscribed": {
                        "get_state": self.v1_state(viewer),
                        "heartbeat_interval_seconds": self.flags.heartbeat_interval.as_secs_f64(),
                    }
                });
                if let Some(r) = api::value_record(call.accept, protobuf::MASTER_EVENT, ev) {
                    let _ = tx.send(r);
                }
                self.subscribers.push(Subscriber {
                    tx,
                    principal: req.principal.clone(),
                    encoding: call.accept,
                });
                ok(resp)
            }
            other => Err(Rejection::bad_request(format!(
                "Call type '{other}' is unknown or not supported by this master"
            ))),
        }
    }

    pub(crate) fn v1_state(&self, viewer: Viewer) -> Value {
        json!({
            "get_tasks": self.v1_tasks(viewer),
            "get_executors": self.v1_executors(viewer),
            "get_frameworks": self.v1_frameworks(viewer),
            "get_agents": self.v1_agents(),
        })
    }

    fn v1_agents(&self) -> Value {
        let usage = json::agent_usage(self);
        let agents: Vec<Value> = self
            .agents
            .iter()
            .map(|(id, a)| v1_agent(a, usage.get(id)))
            .collect();
        json!({"agents": agents, "recovered_agents": []})
    }

    fn v1_frameworks(&self, viewer: Viewer) -> Value {
        let f: Vec<Value> = self
            .frameworks
            .values()
            .filter(|f| viewer.framework(f))
            .map(|f| v1_framework(self, f, true))
            .collect();
        let c: Vec<Value> = self
            .completed_frameworks
            .iter()
            .filter(|f| viewer.framework(f))
            .map(|f| v1_framework(self, f, false))
            .collect();
        json!({"frameworks": f, "completed_frameworks": c})
    }

    fn v1_executors(&self, viewer: Viewer) -> Value {
        let mut seen: HashMap<(&str, &str), Value> = HashMap::default();
        for f in self.frameworks.values().filter(|f| viewer.executor(f)) {
            for t in f.tasks.values() {
                if let Some(e) = &t.executor_id {
                    seen.entry((&e.value, &t.agent_id.value))
                        .or_insert_with(|| {
                            json!({
                                "executor_info": {
                                    "executor_id": {"value": e.value},
                                    "framework_id": {"value": t.framework_id.value},
                                },
                                "agent_id": {"value": t.agent_id.value},
                            })
                        });
                }
            }
        }
        json!({"executors": seen.into_values().collect::<Vec<_>>(), "orphan_executors": []})
    }

    fn v1_tasks(&self, viewer: Viewer) -> Value {
        let mut tasks = Vec::new();
        let mut completed = Vec::new();
        for f in self
            .frameworks
            .values()
            .chain(self.completed_frameworks.iter())
            .filter(|f| viewer.framework(f))
        {
            let seen = |t: &&mesos_api::messages::Task| viewer.task(t, f);
            tasks.extend(f.tasks.values().map(|t| &**t).filter(seen).map(to_json));
            completed.extend(
                f.completed
                    .iter()
                    .map(|c| &*c.task)
                    .filter(seen)
                    .map(to_json),
            );
        }
        json!({"tasks": tasks, "completed_tasks": completed, "unreachable_tasks": [], "pending_tasks": []})
    }

    /// TEARDOWN (operator) for `principal`: 400 when the framework is unknown, 403 when the
    /// principal may not tear down frameworks of its principal (`teardown_frameworks`).
    pub(crate) fn operator_teardown(
        &mut self,
        ctx: &mut Context<Self>,
        principal: Option<&str>,
        fid: &FrameworkID,
    ) -> Result<(), Rejection> {
        let Some(f) = self.frameworks.get(fid) else {
            return Err(Rejection::bad_request(format!(
                "No framework found with specified ID '{fid}'"
            )));
        };
        self.authorize(
            "teardown_frameworks",
            principal,
            f.info.principal.as_deref(),
            &format!("tear down framework '{fid}'"),
        )?;
        self.remove_framework(ctx, fid, true);
        self.metrics_changed(ctx);
        Ok(())
    }

    /// Sets role weights from `[{"role":..,"weight":..}]`.
    /// Sets weights for `principal` (403 unless it may `update_weights` of every role named).
    pub(crate) fn update_weights(
        &mut self,
        principal: Option<&str>,
        v: &Value,
    ) -> Result<(), Rejection> {
        let arr = v
            .as_array()
            .ok_or_else(|| Rejection::bad_request("Expecting an array of weight infos"))?;
        let mut parsed = Vec::new();
        for w in arr {
            let role = w["role"]
                .as_str()
                .ok_or_else(|| Rejection::bad_request("Expecting 'role' in each weight info"))?;
            mesos_api::roles::validate(role).map_err(|e| Rejection::bad_request(e.to_string()))?;
            let weight = w["weight"].as_f64().unwrap_or(1.0);
            if !(weight.is_finite() && weight > 0.0) {
                return Err(Rejection::bad_request(format!(
                    "Role '{role}': weight must be a positive number"
                )));
            }
            self.authorize(
                "update_weights",
                principal,
                Some(role),
                &format!("update the weight of role '{role}'"),
            )?;
            parsed.push((role.to_string(), weight));
        }
        for (r, w) in &parsed {
            self.weights.insert(r.clone(), *w);
        }
        self.registry_note(crate::registry::Operation::Weights(parsed.clone()));
        self.allocator()
            .dispatch_nowait(move |p: &mut AllocatorProcess, c| {
                p.allocator_mut().update_weights(&parsed);
                p.request_allocation(c, None);
            });
        Ok(())
    }

    /// Sets (or with both empty, clears) a role's quota.
    pub(crate) fn set_quota(
        &mut self,
        role: &str,
        guarantees: ResourceQuantities,
        limits: ResourceQuantities,
    ) {
        if guarantees.is_empty() && limits.is_empty() {
            self.quotas.remove(role);
        } else {
            self.quotas
                .insert(role.to_string(), (guarantees.clone(), limits.clone()));
        }
        let role = role.to_string();
        self.registry_note(crate::registry::Operation::Quota(
            role.clone(),
            crate::registry::QuotaRecord::new(&guarantees, &limits),
        ));
        self.allocator()
            .dispatch_nowait(move |p: &mut AllocatorProcess, c| {
                p.allocator_mut()
                    .update_quota(&role, Quota { guarantees, limits });
                p.request_allocation(c, None);
            });
    }

    /// Operator RESERVE / UNRESERVE of an agent's unallocated resources: 409 if they are not
    /// available, `ok` (200 or 202) when applied.
    /// `reserve_resources` for each reservation's role, or `unreserve_resources` for each
    /// reservation's principal (the one who reserved it).
    pub(crate) fn authorize_reservation(
        &self,
        principal: Option<&str>,
        resources: &Resources,
        reserve: bool,
    ) -> Result<(), Rejection> {
        for r in resources.iter() {
            let Some(last) = r.reservations.last() else {
                continue;
            };
            if reserve {
                self.authorize(
                    "reserve_resources",
                    principal,
                    Some(&last.role),
                    &format!("reserve resources for role '{}'", last.role),
                )?;
            } else {
                let by = last.principal.as_deref();
                self.authorize(
                    "unreserve_resources",
                    principal,
                    by,
                    &format!(
                        "unreserve resources reserved by {}",
                        by.map_or("no principal".to_string(), |p| format!("'{p}'"))
                    ),
                )?;
            }
        }
        Ok(())
    }

    /// CREATE / DESTROY of persistent volumes for `principal` (an operator's or a framework's):
    /// `create_volumes` for each volume's role, `destroy_volumes` for its creator, and a
    /// CREATE's volumes checked against the agent's ([`crate::validation::create_volumes`]).
    pub(crate) fn check_volumes(
        &self,
        principal: Option<&str>,
        agent: &AgentID,
        volumes: &Resources,
        create: bool,
    ) -> Result<(), Rejection> {
        for v in volumes.iter() {
            if create {
                let role = v.role();
                self.authorize(
                    "create_volumes",
                    principal,
                    Some(role),
                    &format!("create volumes for role '{role}'"),
                )?;
            } else {
                let by = v
                    .disk
                    .as_ref()
                    .and_then(|d| d.persistence.as_ref())
                    .and_then(|p| p.principal.as_deref());
                self.authorize(
                    "destroy_volumes",
                    principal,
                    by,
                    &format!(
                        "destroy volumes created by {}",
                        by.map_or("no principal".to_string(), |p| format!("'{p}'"))
                    ),
                )?;
            }
        }
        if create {
            let existing = self
                .agents
                .get(agent)
                .map(|a| a.checkpointed.clone())
                .unwrap_or_default();
            crate::validation::create_volumes(volumes, &existing)
                .map_err(Rejection::bad_request)?;
        }
        Ok(())
    }

    /// `resize_volumes` for the volume's role (GROW_VOLUME, SHRINK_VOLUME).
    pub(crate) fn authorize_resize(
        &self,
        principal: Option<&str>,
        volume: &mesos_api::Resource,
    ) -> Result<(), Rejection> {
        let role = volume.role();
        self.authorize(
            "resize_volumes",
            principal,
            Some(role),
            &format!("resize volumes of role '{role}'"),
        )
    }

    /// Operator CREATE_VOLUMES / DESTROY_VOLUMES (and `/master/create-volumes`,
    /// `/master/destroy-volumes`): checked, then applied as an operator RESERVE is (202).
    pub(crate) fn operator_volumes(
        &mut self,
        ctx: &mut Context<Self>,
        principal: Option<&str>,
        agent: AgentID,
        volumes: Resources,
        create: bool,
    ) -> Reply {
        if volumes.is_empty() {
            return reject(Rejection::bad_request("No volumes given")).into();
        }
        if let Err(e) = self.check_volumes(principal, &agent, &volumes, create) {
            return reject(e).into();
        }
        let op = if create {
            Operation::Create(volumes)
        } else {
            Operation::Destroy(volumes)
        };
        self.operator_apply(ctx, agent, op, 202)
    }

    pub(crate) fn operator_reserve(
        &mut self,
        ctx: &mut Context<Self>,
        agent: AgentID,
        resources: Resources,
        reserve: bool,
        ok: u16,
    ) -> Reply {
        if resources.is_empty() || resources.iter().any(|r| r.reservations.is_empty()) {
            return reject(Rejection::bad_request(
                "Every resource must carry the reservation to add or remove",
            ))
            .into();
        }
        let op = if reserve {
            Operation::Reserve(resources)
        } else {
            Operation::Unreserve(resources)
        };
        self.operator_apply(ctx, agent, op, ok)
    }

    /// Applies an operator's operation to an agent's unallocated resources: the agent's
    /// outstanding offers are rescinded first (as Mesos rescinds what it needs), then the
    /// allocator converts them if they are available (409 if not) and the agent is told its
    /// new checkpointed resources; `ok` (200 or 202) when applied.
    fn operator_apply(
        &mut self,
        ctx: &mut Context<Self>,
        agent: AgentID,
        op: Operation,
        ok: u16,
    ) -> Reply {
        if !self.agents.contains_key(&agent) {
            return reject(Rejection::bad_request(format!(
                "Agent '{agent}' is not registered"
            )))
            .into();
        }
        if let Err(e) = op.conversion() {
            return reject(Rejection::bad_request(e.to_string())).into();
        }
        // The agent's offers come back and the operation applies in one step of the
        // allocator, so that no allocation takes the resources in between.
        let ids: Vec<mesos_api::OfferID> = self
            .offers
            .iter()
            .filter(|(_, o)| o.agent_id == agent)
            .map(|(k, _)| k.clone())
            .collect();
        let taken: Vec<_> = ids
            .iter()
            .filter_map(|id| self.take_back(ctx, id, true))
            .collect();
        // Enqueued now, whatever becomes of the request: on success the allocator has the
        // master record and send the agent's new checkpointed resources.
        let me = ctx.pid().clone();
        let applied = self
            .allocator()
            .dispatch(move |p: &mut AllocatorProcess, c| {
                for t in taken {
                    p.recover_resources(c, t.framework_id, t.agent_id, &t.resources, None);
                }
                let r = p
                    .allocator_mut()
                    .update_available(&agent, std::slice::from_ref(&op));
                if r.is_ok() {
                    me.dispatch_nowait(move |m: &mut Master, c| {
                        m.checkpoint_operations(c, &agent, std::slice::from_ref(&op))
                    });
                }
                r
            });
        Reply::Later(Box::pin(async move {
            match applied.await {
                Ok(Ok(())) => HttpResponse::empty(ok),
                Ok(Err(e)) => reject(Rejection::conflict(format!(
                    "Resources are not available: {e}"
                ))),
                Err(e) => reject(Rejection::unavailable(format!(
                    "allocator unavailable: {e}"
                ))),
            }
        }))
    }

    /// Sends an operator event to every SUBSCRIBE stream (built only if there is one) whose
    /// principal may see what it is `about` (a framework, and maybe one of its tasks).
    pub(crate) fn operator_event(
        &self,
        about: Option<(&FrameworkID, Option<&mesos_api::TaskID>)>,
        make: impl FnOnce(&Master) -> Value,
    ) {
        if self.subscribers.is_empty() {
            return;
        }
        let ev = make(self);
        let mut records: [Option<Option<Bytes>>; 2] = [None, None];
        for s in &self.subscribers {
            if about.is_none_or(|(f, t)| self.may_see(s.principal.as_deref(), f, t)) {
                let rec = records[s.encoding as usize].get_or_insert_with(|| {
                    api::event_record(s.encoding, protobuf::MASTER_EVENT, &ev)
                });
                if let Some(r) = rec {
                    let _ = s.tx.send(r.clone());
                }
            }
        }
    }

    /// Whether `principal` may see framework `fid` (and its task `tid`), live or completed.
    fn may_see(
        &self,
        principal: Option<&str>,
        fid: &FrameworkID,
        tid: Option<&mesos_api::TaskID>,
    ) -> bool {
        if self.authorizer.is_none() {
            return true;
        }
        let viewer = self.viewer(principal);
        let f = self.frameworks.get(fid).or_else(|| {
            self.completed_frameworks
                .iter()
                .find(|f| f.info.id.as_ref() == Some(fid))
        });
        let Some(f) = f.filter(|f| viewer.framework(f)) else {
            return false;
        };
        let Some(tid) = tid else {
            return true;
        };
        f.tasks
            .get(tid)
            .or_else(|| {
                f.completed
                    .iter()
                    .map(|c| &c.task)
                    .find(|t| &t.task_id == tid)
            })
            .is_some_and(|t| viewer.task(t, f))
    }

    /// TASK_ADDED for a task the master just recorded.
    pub(crate) fn task_added(&self, fid: &FrameworkID, task: &mesos_api::TaskID) {
        self.operator_event(Some((fid, Some(task))), |m| {
            let t = m.frameworks.get(fid).and_then(|f| f.tasks.get(task));
            json!({"type": "TASK_ADDED", "task_added": {"task": to_json(&t)}})
        });
    }

    /// TASK_UPDATED for a status the master forwards or makes.
    pub(crate) fn task_updated(
        &self,
        fid: &FrameworkID,
        status: &mesos_api::protocol::task::TaskStatus,
        state: mesos_api::protocol::task::TaskState,
    ) {
        self.operator_event(Some((fid, Some(&status.task_id))), |_| {
            json!({"type": "TASK_UPDATED", "task_updated": {
                "framework_id": {"value": fid.value},
                "status": to_json(status),
                "state": state.as_str(),
            }})
        });
    }

    /// AGENT_ADDED.
    /// An agent's drain state changed: AGENT_ADDED again with the agent as it is now (Mesos's
    /// stream has no AGENT_UPDATED).
    pub(crate) fn agent_updated(&self, id: &AgentID) {
        self.agent_added(id);
    }

    pub(crate) fn agent_added(&self, id: &AgentID) {
        self.operator_event(None, |m| {
            let a = m.agents.get(id).map(|a| v1_agent(a, None));
            json!({"type": "AGENT_ADDED", "agent_added": {"agent": a}})
        });
    }

    /// FRAMEWORK_ADDED or FRAMEWORK_UPDATED.
    pub(crate) fn framework_changed(&self, fid: &FrameworkID, added: bool) {
        self.operator_event(Some((fid, None)), |m| {
            let f = m.frameworks.get(fid).map(|f| v1_framework(m, f, false));
            if added {
                json!({"type": "FRAMEWORK_ADDED", "framework_added": {"framework": f}})
            } else {
                json!({"type": "FRAMEWORK_UPDATED", "framework_updated": {"framework": f}})
            }
        });
    }

    /// HEARTBEAT to operator subscribers (dropping closed streams), then again after the
    /// interval.
    pub(crate) fn operator_heartbeat(&mut self, ctx: &mut Context<Self>) {
        let heartbeat = json!({"type": "HEARTBEAT"});
        let records = [Encoding::Json, Encoding::Protobuf]
            .map(|e| api::event_record(e, protobuf::MASTER_EVENT, &heartbeat).unwrap_or_default());
        self.subscribers
            .retain(|s| s.tx.send(records[s.encoding as usize].clone()).is_ok());
        let d = self.flags.heartbeat_interval;
        if !d.is_zero() {
            ctx.delay(d, |m: &mut Master, c| m.operator_heartbeat(c));
        }
    }
}

/// A v1 `map<string, Value.Scalar>` into quantities.
fn scalar_map(v: &Value, what: &str) -> Result<ResourceQuantities, Rejection> {
    let mut q = ResourceQuantities::new();
    if v.is_null() {
        return Ok(q);
    }
    let o = v
        .as_object()
        .ok_or_else(|| Rejection::bad_request(format!("'{what}' must be an object")))?;
    for (name, s) in o {
        let x = s["value"]
            .as_f64()
            .filter(|x| *x >= 0.0)
            .and_then(mesos_api::Scalar::checked_from_f64)
            .ok_or_else(|| {
                Rejection::bad_request(format!(
                    "'{what}.{name}.value' must be a number from 0 to {}",
                    mesos_api::Scalar::MAX_VALUE
                ))
            })?;
        q.set(name, x);
    }
    Ok(q)
}
