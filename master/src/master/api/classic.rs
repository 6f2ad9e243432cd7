//! The classic endpoints: `/master/state`, `/master/state-summary`, `/master/frameworks`,
//! `/master/slaves`, `/master/tasks`, `/master/roles`, `/master/flags`, `/master/redirect`,
//! `/health`, `/version`, and the operator forms `/master/teardown`, `/master/quota`,
//! `/master/weights`, `/master/reserve`, `/master/unreserve`, `/master/create-volumes`,
//! `/master/destroy-volumes`, and maintenance's
//! `/master/maintenance/schedule`, `/master/maintenance/status`, `/master/machine/down` and
//! `/master/machine/up`.

use std::collections::BTreeMap;

use libprocess::{Context, HttpRequest, HttpResponse, Reply};
use mesos_api::auth::{MASTER_READONLY, MASTER_READWRITE};
use mesos_api::http::Rejection;
use mesos_api::protocol::to_json;
use mesos_api::{AgentID, FrameworkID, Resources};
use serde_json::{json, Value};

use super::{json, led_route, reject, reply};
use crate::master::authz::Viewer;
use crate::master::{Master, VERSION};

pub(super) fn method_is(req: &HttpRequest, allowed: &[&str]) -> Result<(), Rejection> {
    if allowed.contains(&req.method.as_str()) {
        Ok(())
    } else {
        Err(Rejection::method_not_allowed(format!(
            "Expecting one of {{{}}}, received '{}'",
            allowed.join(", "),
            req.method
        )))
    }
}

/// A JSON body as bytes (serialized once, no intermediate string).
pub(crate) fn json_reply(v: &Value) -> HttpResponse {
    HttpResponse::json_bytes(
        200,
        bytes::Bytes::from(serde_json::to_vec(v).unwrap_or_default()),
    )
}

/// The v1 `VersionInfo` (GET_VERSION): `version` made only of dotted integers (pymesos parses
/// it).
pub(crate) fn version_info_json() -> Value {
    json!({
        "version": VERSION,
        "build_date": "",
        "build_time": 0,
        "build_user": "",
        "git_sha": "",
    })
}

/// `/version`: the `VersionInfo` with which implementation this is, and its own version.
pub(crate) fn version_json() -> Value {
    let mut v = version_info_json();
    v["build_version"] = json!(env!("CARGO_PKG_VERSION"));
    v["implementation"] = json!("mesos-rs");
    v
}

impl Master {
    pub(super) fn install_classic(ctx: &mut Context<Self>) {
        super::files::install(ctx);
        for r in ["state", "state.json"] {
            led_route(ctx, MASTER_READONLY, r, |m: &mut Master, _, req| {
                reply(method_is(&req, &["GET"]).map(|_| {
                    let state = m.state_parts(m.viewer(req.principal.as_deref()));
                    HttpResponse::json_parts(200, state)
                }))
            });
        }
        led_route(
            ctx,
            MASTER_READONLY,
            "state-summary",
            |m: &mut Master, _, req| {
                reply(
                    method_is(&req, &["GET"]).map(|_| {
                        json_reply(&m.state_summary_json(m.viewer(req.principal.as_deref())))
                    }),
                )
            },
        );
        led_route(
            ctx,
            MASTER_READONLY,
            "frameworks",
            |m: &mut Master, _, req| reply(m.frameworks_endpoint(&req)),
        );
        for r in ["slaves", "agents"] {
            led_route(ctx, MASTER_READONLY, r, |m: &mut Master, _, req| {
                reply(m.slaves_endpoint(&req))
            });
        }
        for r in ["tasks", "tasks.json"] {
            led_route(ctx, MASTER_READONLY, r, |m: &mut Master, _, req| {
                reply(m.tasks_endpoint(&req))
            });
        }
        led_route(ctx, MASTER_READONLY, "roles", |m: &mut Master, _, req| {
            let viewer = m.viewer(req.principal.as_deref());
            reply(
                method_is(&req, &["GET"])
                    .map(|_| json_reply(&json!({"roles": m.roles_json(viewer)}))),
            )
        });
        ctx.route_in(MASTER_READONLY, "flags", |m: &mut Master, _, req| {
            reply(method_is(&req, &["GET"]).and_then(|_| {
                m.authorize(
                    "view_flags",
                    req.principal.as_deref(),
                    None,
                    "view the flags",
                )?;
                Ok(json_reply(&json!({"flags": m.flags_json()})))
            }))
        });
        ctx.route("health", |_, _, req| {
            reply(method_is(&req, &["GET", "HEAD"]).map(|_| HttpResponse::empty(200)))
        });
        ctx.route("version", |_, _, req| {
            reply(method_is(&req, &["GET"]).map(|_| json_reply(&version_json())))
        });
        ctx.route("redirect", |m: &mut Master, _, req| m.redirect(&req).into());
        led_route(
            ctx,
            MASTER_READWRITE,
            "teardown",
            |m: &mut Master, c, req| reply(m.teardown_endpoint(c, &req)),
        );
        led_route(
            ctx,
            MASTER_READWRITE,
            "weights",
            |m: &mut Master, _, req| {
                let r = reply(m.weights_endpoint(&req));
                m.when_stored(r)
            },
        );
        led_route(ctx, MASTER_READWRITE, "quota", |m: &mut Master, _, req| {
            let r = reply(m.quota_endpoint(&req));
            m.when_stored(r)
        });
        led_route(
            ctx,
            MASTER_READWRITE,
            "reserve",
            |m: &mut Master, c, req| m.reserve_endpoint(c, &req, true),
        );
        led_route(
            ctx,
            MASTER_READWRITE,
            "unreserve",
            |m: &mut Master, c, req| m.reserve_endpoint(c, &req, false),
        );
        for (route, create) in [("create-volumes", true), ("destroy-volumes", false)] {
            led_route(
                ctx,
                MASTER_READWRITE,
                route,
                move |m: &mut Master, c, req| m.volumes_endpoint(c, &req, create),
            );
        }
        led_route(
            ctx,
            MASTER_READWRITE,
            "maintenance/schedule",
            |m: &mut Master, c, req| {
                let r = reply(m.schedule_endpoint(c, &req));
                m.when_stored(r)
            },
        );
        led_route(
            ctx,
            MASTER_READONLY,
            "maintenance/status",
            |m: &mut Master, _, req| {
                reply(
                    method_is(&req, &["GET"]).and_then(|_| {
                        Ok(json_reply(&m.maintenance_status(req.principal.as_deref())?))
                    }),
                )
            },
        );
        for (route, down) in [("machine/down", true), ("machine/up", false)] {
            led_route(
                ctx,
                MASTER_READWRITE,
                route,
                move |m: &mut Master, c, req| {
                    let r = reply(method_is(&req, &["POST"]).and_then(|_| {
                        let v = body_json(&req)?;
                        let p = req.principal.as_deref();
                        if down {
                            m.start_maintenance(c, p, &v)?;
                        } else {
                            m.stop_maintenance(p, &v)?;
                        }
                        Ok(HttpResponse::empty(200))
                    }));
                    m.when_stored(r)
                },
            );
        }
    }

    /// `/maintenance/schedule`: GET the schedule, POST a new one.
    fn schedule_endpoint(
        &mut self,
        ctx: &mut Context<Self>,
        req: &HttpRequest,
    ) -> Result<HttpResponse, Rejection> {
        method_is(req, &["GET", "POST"])?;
        let principal = req.principal.as_deref();
        if req.method.as_str() == "GET" {
            return Ok(json_reply(&self.maintenance_schedule(principal)?));
        }
        let v = body_json(req)?;
        self.update_maintenance_schedule(ctx, principal, &v)?;
        Ok(HttpResponse::empty(200))
    }

    fn frameworks_endpoint(&self, req: &HttpRequest) -> Result<HttpResponse, Rejection> {
        method_is(req, &["GET"])?;
        let want = req.query_params().remove("framework_id");
        let viewer = self.viewer(req.principal.as_deref());
        let pick = |id: &FrameworkID, f: &crate::state::FrameworkRec| {
            want.as_ref().is_none_or(|w| *w == id.value) && viewer.framework(f)
        };
        let view = |id: &FrameworkID, f: &crate::state::FrameworkRec| {
            let role = f.role();
            serde_json::to_value(json::framework_view(self, id, f, &role, viewer))
                .unwrap_or_default()
        };
        let frameworks: Vec<Value> = self
            .frameworks
            .iter()
            .filter(|(id, f)| pick(id, f))
            .map(|(id, f)| view(id, f))
            .collect();
        let completed: Vec<Value> = self
            .completed_frameworks
            .iter()
            .filter_map(|f| f.info.id.as_ref().map(|id| (id, f)))
            .filter(|(id, f)| pick(id, f))
            .map(|(id, f)| view(id, f))
            .collect();
        Ok(json_reply(&json!({
            "frameworks": frameworks,
            "completed_frameworks": completed,
            "unregistered_frameworks": [],
        })))
    }

    fn slaves_endpoint(&self, req: &HttpRequest) -> Result<HttpResponse, Rejection> {
        method_is(req, &["GET"])?;
        let want = req.query_params().remove("slave_id");
        let usage = json::agent_usage(self);
        let slaves: Vec<Value> = self
            .agents
            .iter()
            .filter(|(id, _)| want.as_ref().is_none_or(|w| *w == id.value))
            .map(|(id, a)| json::agent(id, a, usage.get(id)))
            .collect();
        Ok(json_reply(
            &json!({"slaves": slaves, "recovered_slaves": []}),
        ))
    }

    /// `/master/tasks?limit=&offset=&order=asc|des&task_id=&framework_id=`: active then
    /// completed tasks, ordered by their latest status time.
    fn tasks_endpoint(&self, req: &HttpRequest) -> Result<HttpResponse, Rejection> {
        method_is(req, &["GET"])?;
        let q = req.query_params();
        // Mesos reads both as an int and uses them as a size_t: a negative limit is no limit,
        // a negative offset is past the end. (Mesos takes what is not a number for the
        // default; we answer 400.)
        let num = |k: &str, d: usize| -> Result<usize, Rejection> {
            match q.get(k) {
                None => Ok(d),
                Some(v) => match v.trim().parse::<i32>() {
                    Ok(n) => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
                    Err(_) => Err(Rejection::bad_request(format!(
                        "Failed to parse '{k}': '{v}' is not a number"
                    ))),
                },
            }
        };
        let limit = num("limit", 100)?;
        let offset = num("offset", 0)?;
        let descending = match q.get("order").map(String::as_str) {
            None | Some("des") => true,
            Some("asc") => false,
            Some(o) => {
                return Err(Rejection::bad_request(format!(
                    "Failed to parse 'order': '{o}' is not 'asc' or 'des'"
                )))
            }
        };
        let task_id = q.get("task_id");
        let framework_id = q.get("framework_id");
        let mut tasks = Vec::new();
        let all = self.frameworks.iter().chain(
            self.completed_frameworks
                .iter()
                .filter_map(|f| f.info.id.as_ref().map(|id| (id, f))),
        );
        let viewer = self.viewer(req.principal.as_deref());
        for (fid, f) in all {
            if framework_id.is_some_and(|w| *w != fid.value) || !viewer.framework(f) {
                continue;
            }
            // A completed task is shown as `/master/state` shows it: its JSON as written when
            // it completed (with the role it had then).
            let live = f.tasks.values().map(|t| (&**t, None));
            let done = f.completed.iter().map(|c| (&*c.task, Some(&c.json)));
            for (t, json) in live.chain(done) {
                if task_id.is_some_and(|w| *w != t.task_id.value) || !viewer.task(t, f) {
                    continue;
                }
                let at = t.statuses.last().and_then(|s| s.timestamp).unwrap_or(0.0);
                tasks.push((at, t, f, json));
            }
        }
        tasks.sort_by(|a, b| a.0.total_cmp(&b.0));
        if descending {
            tasks.reverse();
        }
        let out: Vec<Value> = tasks
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|(_, t, f, json)| match json {
                Some(j) => serde_json::from_str(j.get()).unwrap_or_default(),
                None => {
                    serde_json::to_value(crate::task_json::task(t, &f.role())).unwrap_or_default()
                }
            })
            .collect();
        Ok(json_reply(&json!({"tasks": out})))
    }

    /// Roles known from weights, quota, frameworks and reservations (those `viewer` may see).
    pub(crate) fn roles_json(&self, viewer: Viewer) -> Vec<Value> {
        let mut roles: BTreeMap<String, (Vec<String>, Resources)> = BTreeMap::new();
        for r in self.weights.keys().chain(self.quotas.keys()) {
            roles.entry(r.clone()).or_default();
        }
        for (fid, f) in &self.frameworks {
            let (used, _) = json::framework_usage(self, f);
            for r in f.info.effective_roles() {
                let e = roles.entry(r.clone()).or_default();
                e.0.push(fid.value.clone());
                e.1.add_all(&used.filter(|x| x.allocation_role.as_deref() == Some(r.as_str())));
            }
        }
        roles
            .into_iter()
            .filter(|(name, _)| viewer.role(name))
            .map(|(name, (frameworks, used))| {
                json!({
                    "name": name,
                    "weight": self.weights.get(&name).copied().unwrap_or(1.0),
                    "frameworks": frameworks,
                    "resources": used.to_summary_json(),
                })
            })
            .collect()
    }

    fn teardown_endpoint(
        &mut self,
        ctx: &mut Context<Self>,
        req: &HttpRequest,
    ) -> Result<HttpResponse, Rejection> {
        method_is(req, &["POST"])?;
        let form = req.form_params();
        let Some(id) = form.get("frameworkId").or(form.get("framework_id")) else {
            return Err(Rejection::bad_request(
                "Missing 'frameworkId' query parameter",
            ));
        };
        let fid = FrameworkID::new(id.clone());
        self.operator_teardown(ctx, req.principal.as_deref(), &fid)?;
        Ok(HttpResponse::empty(200))
    }

    fn weights_endpoint(&mut self, req: &HttpRequest) -> Result<HttpResponse, Rejection> {
        method_is(req, &["GET", "PUT"])?;
        if req.method.as_str() == "GET" {
            return Ok(json_reply(
                &self.weights_json(self.viewer(req.principal.as_deref())),
            ));
        }
        let v: Value = serde_json::from_slice(&req.body)
            .map_err(|e| Rejection::bad_request(format!("Failed to parse body into JSON: {e}")))?;
        self.update_weights(req.principal.as_deref(), &v)?;
        Ok(HttpResponse::empty(200))
    }

    fn quota_endpoint(&mut self, req: &HttpRequest) -> Result<HttpResponse, Rejection> {
        method_is(req, &["GET", "POST", "DELETE"])?;
        match req.method.as_str() {
            "GET" => Ok(json_reply(
                &self.quota_status_json(self.viewer(req.principal.as_deref())),
            )),
            "DELETE" => {
                let role = req.route.strip_prefix("quota/").unwrap_or("");
                self.remove_quota(req.principal.as_deref(), role)?;
                Ok(HttpResponse::empty(200))
            }
            _ => {
                let v: Value = serde_json::from_slice(&req.body).map_err(|e| {
                    Rejection::bad_request(format!("Failed to parse body into JSON: {e}"))
                })?;
                self.set_quota_request(req.principal.as_deref(), &v)?;
                Ok(HttpResponse::empty(200))
            }
        }
    }

    /// A legacy `QuotaRequest` (`/master/quota` POST, SET_QUOTA): the role's guarantee becomes
    /// both its guarantees and its limits, as in Mesos; a role with quota already is refused.
    pub(crate) fn set_quota_request(
        &mut self,
        principal: Option<&str>,
        v: &Value,
    ) -> Result<(), Rejection> {
        let role = v["role"]
            .as_str()
            .ok_or_else(|| Rejection::bad_request("Expecting 'role' to be present"))?
            .to_string();
        mesos_api::roles::validate(&role).map_err(|e| {
            Rejection::bad_request(format!("Failed to validate set quota request: {e}"))
        })?;
        if self.quotas.contains_key(&role) {
            return Err(Rejection::bad_request(format!(
                "Failed to validate set quota request: Cannot set quota for role '{role}' \
                 which already has quota"
            )));
        }
        self.authorize(
            "update_quotas",
            principal,
            Some(&role),
            &format!("set the quota of role '{role}'"),
        )?;
        let guarantee = Resources::from_json(&v["guarantee"])
            .map_err(|e| Rejection::bad_request(format!("Invalid 'guarantee': {e}")))?;
        let q = mesos_api::ResourceQuantities::from_resources(&guarantee);
        self.set_quota(&role, q.clone(), q);
        Ok(())
    }

    /// `/master/quota/<role>` DELETE, REMOVE_QUOTA: the role's quota goes.
    pub(crate) fn remove_quota(
        &mut self,
        principal: Option<&str>,
        role: &str,
    ) -> Result<(), Rejection> {
        self.authorize(
            "update_quotas",
            principal,
            Some(role),
            &format!("remove the quota of role '{role}'"),
        )?;
        if !self.quotas.contains_key(role) {
            return Err(Rejection::bad_request(format!(
                "Failed to remove quota: Role '{role}' has no quota set"
            )));
        }
        self.set_quota(role, Default::default(), Default::default());
        Ok(())
    }

    /// `/master/reserve` and `/master/unreserve`: form `slaveId=<id>&resources=<JSON array>`.
    fn reserve_endpoint(
        &mut self,
        ctx: &mut Context<Self>,
        req: &HttpRequest,
        reserve: bool,
    ) -> Reply {
        if let Err(e) = method_is(req, &["POST"]) {
            return reject(e).into();
        }
        let (agent, r) = match agent_and_resources(req, "resources") {
            Ok(x) => x,
            Err(e) => return reject(e).into(),
        };
        if let Err(e) = self.authorize_reservation(req.principal.as_deref(), &r, reserve) {
            return reject(e).into();
        }
        self.operator_reserve(ctx, agent, r, reserve, 200)
    }

    /// `/master/create-volumes` and `/master/destroy-volumes`: form
    /// `slaveId=<id>&volumes=<JSON array>`; 202 once applied.
    fn volumes_endpoint(
        &mut self,
        ctx: &mut Context<Self>,
        req: &HttpRequest,
        create: bool,
    ) -> Reply {
        if let Err(e) = method_is(req, &["POST"]) {
            return reject(e).into();
        }
        match agent_and_resources(req, "volumes") {
            Ok((agent, v)) => {
                self.operator_volumes(ctx, req.principal.as_deref(), agent, v, create)
            }
            Err(e) => reject(e).into(),
        }
    }

    /// `{"infos":[{"role":..,"guarantee":[..]}]}`, the form `/master/quota` reports.
    pub(crate) fn quota_status_json(&self, viewer: Viewer) -> Value {
        let infos: Vec<Value> = self
            .quotas
            .iter()
            .filter(|(role, _)| viewer.quota(role))
            .map(|(role, (g, l))| {
                json!({
                    "role": role,
                    "guarantee": quantities_resources(g),
                    "configs": {"guarantees": quantities_map(g), "limits": quantities_map(l)},
                })
            })
            .collect();
        json!({"infos": infos})
    }

    pub(crate) fn weights_json(&self, viewer: Viewer) -> Value {
        Value::Array(
            self.weights
                .iter()
                .filter(|(r, _)| viewer.role(r))
                .map(|(r, w)| json!({"role": r, "weight": w}))
                .collect(),
        )
    }

    /// The master's own info in the v1 form.
    pub(crate) fn master_info_json(&self) -> Value {
        to_json(&self.info)
    }
}

/// Quantities as v1 scalar resources.
/// The agent (`slaveId`, or `agentId`) and the resources (a JSON array in `field`) of a
/// classic operator form.
fn agent_and_resources(req: &HttpRequest, field: &str) -> Result<(AgentID, Resources), Rejection> {
    let form = req.form_params();
    let agent = form
        .get("slaveId")
        .or(form.get("agentId"))
        .ok_or_else(|| Rejection::bad_request("Missing 'slaveId' query parameter"))?;
    let text = form
        .get(field)
        .ok_or_else(|| Rejection::bad_request(format!("Missing '{field}' query parameter")))?;
    let r = serde_json::from_str::<Value>(text)
        .map_err(|e| e.to_string())
        .and_then(|v| Resources::from_json(&v).map_err(|e| e.to_string()))
        .map_err(|e| Rejection::bad_request(format!("Invalid '{field}': {e}")))?;
    Ok((AgentID::new(agent.clone()), r))
}

/// A request's body as JSON (400 naming the parse error otherwise).
fn body_json(req: &HttpRequest) -> Result<Value, Rejection> {
    serde_json::from_slice(&req.body)
        .map_err(|e| Rejection::bad_request(format!("Failed to parse JSON: {e}")))
}

fn quantities_resources(q: &mesos_api::ResourceQuantities) -> Value {
    Value::Array(
        q.iter()
            .map(|(n, v)| json!({"name": n, "type": "SCALAR", "scalar": {"value": v.as_f64()}}))
            .collect(),
    )
}

/// Quantities as a v1 `map<string, Value.Scalar>`.
pub(crate) fn quantities_map(q: &mesos_api::ResourceQuantities) -> Value {
    let mut o = serde_json::Map::new();
    for (n, v) in q.iter() {
        o.insert(n.to_string(), json!({"value": v.as_f64()}));
    }
    Value::Object(o)
}
