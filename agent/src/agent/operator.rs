//! The agent's HTTP surface for operators: the v1 operator API at `/<agent>/api/v1` (GET_* calls
//! and nested containers), `/<agent>/state`, `/files/browse`, `/files/read` and
//! `/monitor/statistics`.
//!
//! Nested containers are run by the containerizer in their parent's sandbox
//! (`<sandbox>/containers/<id>`) and cgroups, in their own process group; they end with their
//! top-level container.

use std::path::PathBuf;

use libprocess::{Context, HttpRequest, HttpResponse, Reply};
use mesos_api::auth::{AGENT_READONLY, AGENT_READWRITE};
use mesos_api::http::{self as api, Encoding, RecordReader, Rejection};
use mesos_api::protobuf;
use mesos_api::protocol::task::{CommandInfo, ExecutorInfo};
use mesos_api::protocol::to_json;
use mesos_api::ContainerID;
use mesos_api::ResourceFormat;
use serde_json::{json, Value};
use tokio::sync::oneshot;

use super::authz::{executor_user, Viewer};
use super::io::{Output, Switchboard};
use super::state::{Executor, Framework, Nested};
use super::{now_secs, reject, Agent};
use crate::os::kill_group;
use crate::paths;
use mesos_api::messages::Task;
use mesos_api::MESOS_VERSION as VERSION;

/// Mesos's limit on container nesting.
pub(crate) const MAX_NESTING: usize = 32;

pub(super) fn json_reply(v: &Value) -> HttpResponse {
    HttpResponse::json_bytes(
        200,
        bytes::Bytes::from(serde_json::to_vec(v).unwrap_or_default()),
    )
}

fn respond(kind: &str, payload: Value) -> HttpResponse {
    json_reply(&api::response(kind, payload))
}

/// The encoding of the records of a streamed call or answer (`Message-Content-Type`,
/// `Message-Accept`): JSON unless protobuf is asked for.
fn message_encoding(header: Option<&str>) -> Result<Encoding, Rejection> {
    match header {
        None => Ok(Encoding::Json),
        Some(h) => api::check_accept(Some(h)),
    }
}

/// The encoding of a streamed call's records (`Message-Content-Type`): JSON unless given;
/// an unknown one is 415.
fn message_content_type(header: Option<&str>) -> Result<Encoding, Rejection> {
    match header {
        None => Ok(Encoding::Json),
        Some(h) => api::check_content_type(Some(h)),
    }
}

/// A RecordIO response of `ProcessIO` DATA records from `output` until it ends. When the
/// client goes away first, `on_leave` runs.
fn stream_output(
    mut output: tokio::sync::mpsc::Receiver<Output>,
    encoding: Encoding,
    on_leave: Option<Box<dyn FnOnce() + Send>>,
) -> HttpResponse {
    // A few records queued at most: a slow client holds this forwarder back, and the
    // switchboard drops it when it falls too far behind.
    let (resp, tx) = HttpResponse::stream_bounded("application/recordio", 8);
    let resp = resp.with_header("Message-Content-Type", encoding.media_type());
    tokio::spawn(async move {
        loop {
            let next = tokio::select! {
                o = output.recv() => o,
                _ = tx.closed() => {
                    if let Some(f) = on_leave {
                        f();
                    }
                    return;
                }
            };
            let Some(o) = next else {
                return;
            };
            let (kind, data) = match o {
                Output::Stdout(d) => ("STDOUT", d),
                Output::Stderr(d) => ("STDERR", d),
            };
            let rec = json!({"type": "DATA", "data": {"type": kind,
                "data": mesos_api::serde_util::base64_encode(&data)}});
            if let Some(r) = api::event_record(encoding, protobuf::AGENT_PROCESS_IO, &rec) {
                if tx.send(r).await.is_err() {
                    if let Some(f) = on_leave {
                        f();
                    }
                    return;
                }
            }
        }
    });
    resp
}

/// The container-id chain of a v1 `ContainerID` (outermost first).
fn container_chain(v: &Value) -> Result<Vec<String>, Rejection> {
    let mut out = Vec::new();
    let mut cur = v;
    while !cur.is_null() {
        let id = cur["value"]
            .as_str()
            .filter(|s| !s.is_empty() && !s.contains('/') && !s.contains('.'))
            .ok_or_else(|| {
                Rejection::bad_request("'container_id.value' must be a plain name (no '/' or '.')")
            })?;
        out.push(id.to_string());
        cur = &cur["parent"];
        if out.len() > MAX_NESTING + 1 {
            return Err(Rejection::bad_request(format!(
                "Containers may nest at most {MAX_NESTING} levels"
            )));
        }
    }
    out.reverse();
    Ok(out)
}

/// The executor API's authenticator with `--authenticate_http_executors`: a `Bearer` token the
/// agent signed; the principal it proves is the token's claims (JSON: `fid`, `eid`, `cid`).
struct ExecutorTokens {
    key: Vec<u8>,
}

impl libprocess::auth::Authenticator for ExecutorTokens {
    fn authenticate(&self, req: &HttpRequest) -> Result<String, HttpResponse> {
        let token = req
            .header("authorization")
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim);
        match token.and_then(|t| mesos_api::auth::jwt_verify(&self.key, t)) {
            Some(claims) => Ok(claims.to_string()),
            None => {
                let challenge = format!("Bearer realm=\"{}\"", mesos_api::auth::AGENT_EXECUTOR);
                Err(HttpResponse::text(401, "Missing or invalid executor token")
                    .with_header("WWW-Authenticate", &challenge))
            }
        }
    }
}

/// The operator API's authenticator with `--authenticate_http_readwrite` and executor tokens:
/// a `Bearer` token proves an executor (the principal is its claims), anything else must be an
/// operator's Basic credentials.
struct TokenOrBasic {
    tokens: ExecutorTokens,
    basic: libprocess::auth::BasicAuthenticator,
}

impl libprocess::auth::Authenticator for TokenOrBasic {
    fn authenticate(&self, req: &HttpRequest) -> Result<String, HttpResponse> {
        let bearer = req
            .header("authorization")
            .is_some_and(|h| h.trim_start().starts_with("Bearer "));
        if bearer {
            self.tokens.authenticate(req)
        } else {
            self.basic.authenticate(req)
        }
    }
}

/// The executor a principal is, when it came from an executor token: its container's id.
fn executor_container(principal: Option<&str>) -> Option<String> {
    let claims: Value = serde_json::from_str(principal?).ok()?;
    claims["cid"].as_str().map(str::to_string)
}

/// The ACL actions of LAUNCH_NESTED_CONTAINER and LAUNCH_NESTED_CONTAINER_SESSION.
const LAUNCH_ACL: &str = "launch_nested_containers_as_user";
const LAUNCH_SESSION_ACL: &str = "launch_nested_container_sessions_as_user";
const LAUNCH_STANDALONE_ACL: &str = "launch_standalone_containers";

/// The calls an executor's token is good for on the operator API, and only on containers nested
/// in its own.
const EXECUTOR_CALLS: [&str; 9] = [
    "LAUNCH_NESTED_CONTAINER",
    "LAUNCH_NESTED_CONTAINER_SESSION",
    "WAIT_NESTED_CONTAINER",
    "KILL_NESTED_CONTAINER",
    "REMOVE_NESTED_CONTAINER",
    "LAUNCH_CONTAINER",
    "WAIT_CONTAINER",
    "KILL_CONTAINER",
    "REMOVE_CONTAINER",
];

impl Agent {
    /// Makes the realms that `--authenticate_http_*` name authenticate with HTTP Basic against
    /// `--http_credentials`; the runtime's own endpoints (`/metrics/snapshot`) are read-only.
    pub(super) fn install_authenticators(&self, ctx: &mut Context<Self>) {
        let f = &self.flags;
        let realms: Vec<&str> = [
            (f.authenticate_http_readonly, AGENT_READONLY),
            (f.authenticate_http_readwrite, AGENT_READWRITE),
        ]
        .into_iter()
        .filter_map(|(on, realm)| on.then_some(realm))
        .collect();
        let creds: Vec<(String, String)> = f
            .http_credential_list
            .iter()
            .map(|c| (c.principal.clone(), c.secret.clone()))
            .collect();
        let builtin = f.authenticate_http_readonly.then_some(AGENT_READONLY);
        libprocess::auth::install_basic(ctx.runtime(), &realms, &creds, builtin);
        if let (true, Some(key)) = (f.authenticate_http_executors, &f.executor_secret) {
            let a = ExecutorTokens { key: key.clone() };
            ctx.runtime().set_authenticator(
                mesos_api::auth::AGENT_EXECUTOR,
                Some(std::sync::Arc::new(a)),
            );
            // The operator API takes executor tokens too (a default executor launches its
            // tasks' nested containers there), besides the operators' Basic credentials.
            if f.authenticate_http_readwrite {
                let a = TokenOrBasic {
                    tokens: ExecutorTokens { key: key.clone() },
                    basic: libprocess::auth::BasicAuthenticator::new(AGENT_READWRITE, creds),
                };
                ctx.runtime()
                    .set_authenticator(AGENT_READWRITE, Some(std::sync::Arc::new(a)));
            }
        }
    }

    pub(super) fn install_operator_routes(ctx: &mut Context<Self>) {
        ctx.route_in(AGENT_READWRITE, "api/v1", |a: &mut Agent, _, req| {
            a.operator_api(req)
        });
        // libprocess's `/logging/toggle?level=&duration=`, in the read-write realm.
        ctx.route_in(AGENT_READWRITE, "logging/toggle", |_, _, req| {
            libprocess::logging::toggle(&req.query_params()).into()
        });
        for r in ["state", "state.json"] {
            ctx.route_in(AGENT_READONLY, r, |a: &mut Agent, _, req| {
                json_reply(&a.state_json(a.viewer(req.principal.as_deref()))).into()
            });
        }
        ctx.route_in(AGENT_READONLY, "files/browse", |a: &mut Agent, _, req| {
            a.files_browse(&req)
        });
        ctx.route_in(AGENT_READONLY, "files/read", |a: &mut Agent, _, req| {
            a.files_read(&req)
        });
        ctx.route_in(AGENT_READONLY, "files/download", |a: &mut Agent, _, req| {
            a.files_download(&req)
        });
        ctx.route_in(
            AGENT_READONLY,
            "monitor/statistics",
            |a: &mut Agent, _, _| json_reply(&Value::Array(a.statistics())).into(),
        );
        ctx.route("health", |_, _, _| HttpResponse::empty(200).into());
    }

    fn executors(&self) -> impl Iterator<Item = &Executor> {
        self.frameworks.values().flat_map(|f| f.executors.values())
    }

    /// `/flags`, GET_FLAGS and `/state`'s `flags`: every flag's name -> its value as text.
    fn flags_json(&self) -> Value {
        let mut o = serde_json::Map::new();
        // The agent's flags, then the containerizer's (read from the same command line; a
        // name both declare, `work_dir`, is shown once).
        for (name, value) in self
            .flags
            .flag_values()
            .into_iter()
            .chain(self.flags.containerizer.flag_values())
        {
            o.entry(name).or_insert(Value::String(value));
        }
        Value::Object(o)
    }

    /// `/state`: the agent's classic state.
    fn state_json(&self, viewer: Viewer) -> Value {
        let frameworks: Vec<Value> = self
            .frameworks
            .values()
            .filter(|f| viewer.framework(f))
            .map(|f| framework_state_json(f, viewer))
            .collect();
        let completed: Vec<Value> = self
            .completed_frameworks
            .iter()
            .rev()
            .filter(|f| viewer.framework(f))
            .map(|f| framework_state_json(f, viewer))
            .collect();
        json!({
            "version": VERSION,
            "id": self.info.id.as_ref().map(|i| i.value.clone()).unwrap_or_default(),
            "hostname": self.info.hostname,
            "resources": self.info.resources.to_summary_json(),
            "reserved_resources_full": {},
            "unreserved_resources_full": self.info.resources.unreserved().to_json(ResourceFormat::Refined),
            "attributes": self.info.attributes.to_json_object(),
            "master_hostname": self.master.as_ref().map(|m| m.addr().ip().to_string()),
            "flags": if viewer.flags() { self.flags_json() } else { json!({}) },
            "frameworks": frameworks,
            "completed_frameworks": completed,
        })
    }

    /// An executor container's `ResourceStatistics`, read now.
    fn usage_json(&self, e: &Executor) -> Value {
        let u = self
            .containerizer
            .usage(&e.container_id.value, e.os_pid, &e.limits);
        serde_json::to_value(u).unwrap_or_default()
    }

    /// `/monitor/statistics`: per executor, its container's usage (cgroups or its processes).
    fn statistics(&self) -> Vec<Value> {
        self.frameworks
            .iter()
            .flat_map(|(fid, f)| f.executors.values().map(move |e| (fid, e)))
            .map(|(fid, e)| {
                json!({
                    "executor_id": e.info.executor_id.value,
                    "executor_name": e.info.name.clone().unwrap_or_default(),
                    "framework_id": fid.value,
                    "source": e.info.executor_id.value,
                    "statistics": self.usage_json(e),
                })
            })
            .collect()
    }

    fn operator_api(&mut self, req: HttpRequest) -> Reply {
        if req.body_stream.is_some() {
            return self.attach_input(req);
        }
        let call = match api::operator_call(
            req.method.as_str(),
            req.header("content-type"),
            req.header("accept"),
            &req.body,
            protobuf::AGENT_CALL,
        ) {
            Ok(c) => c,
            Err(e) => return reject(e).into(),
        };
        let accept = call.accept;
        match (self.operator_call(&req, call), accept) {
            (Ok(r), Encoding::Json) => r,
            (Ok(r), Encoding::Protobuf) => r.reencode_json(api::PROTOBUF, |body| {
                api::json_body_as_protobuf(protobuf::AGENT_RESPONSE, body)
            }),
            (Err(e), _) => reject(e).into(),
        }
    }

    fn operator_call(
        &mut self,
        req: &HttpRequest,
        call: api::OperatorCall,
    ) -> Result<Reply, Rejection> {
        let (kind, body) = (call.kind, call.payload);
        let ok = |r: HttpResponse| Ok(Reply::from(r));
        // An executor (its token's claims) acts only on containers nested in its own, and is
        // then not subject to the operators' ACLs (Mesos's implicit executor rules).
        let (principal, skip_acls) = match executor_container(req.principal.as_deref()) {
            Some(own) => {
                let chain = container_chain(&body["container_id"])?;
                if !EXECUTOR_CALLS.contains(&kind.as_str()) || chain.len() < 2 || chain[0] != own {
                    return Err(Rejection::forbidden(format!(
                        "An executor's token is good only for {} on containers nested in its \
                         own ('{own}')",
                        EXECUTOR_CALLS.join(", ")
                    )));
                }
                (None, true)
            }
            None => (req.principal.as_deref(), false),
        };
        let viewer = self.viewer(principal);
        match kind.as_str() {
            "GET_HEALTH" => ok(respond(&kind, json!({"healthy": true}))),
            "GET_LOGGING_LEVEL" => ok(respond(
                &kind,
                json!({"level": libprocess::logging::level()}),
            )),
            "SET_LOGGING_LEVEL" => {
                let (level, duration) = api::logging_level_call(&body)?;
                libprocess::logging::set_level(level, duration).map_err(Rejection::unavailable)?;
                ok(HttpResponse::empty(200))
            }
            "GET_VERSION" => ok(respond(
                &kind,
                json!({"version_info": {"version": VERSION, "build_date": "", "build_time": 0,
                    "build_user": "", "git_sha": ""}}),
            )),
            "GET_FLAGS" => {
                self.authorize("view_flags", principal, None, "view the flags")?;
                let flags = api::name_values(&self.flags_json());
                ok(respond(&kind, json!({"flags": flags})))
            }
            "GET_STATE" => ok(respond(&kind, self.v1_state(viewer))),
            "GET_AGENT" => ok(respond(&kind, json!({"agent_info": to_json(&self.info)}))),
            "GET_METRICS" => {
                let snapshot = self
                    .runtime
                    .as_ref()
                    .map(|rt| rt.metrics().snapshot_json())
                    .unwrap_or_default();
                ok(respond(
                    &kind,
                    json!({"metrics": api::name_values(&snapshot)}),
                ))
            }
            "LIST_FILES" => ok(respond(&kind, self.list_files_call(principal, &body)?)),
            "READ_FILE" => ok(respond(&kind, self.read_file_call(principal, &body)?)),
            // Operations with ids and resource providers are not built: the agent tracks none.
            "GET_OPERATIONS" => ok(respond(&kind, self.v1_operations())),
            "PRUNE_IMAGES" => {
                if !skip_acls {
                    self.authorize("prune_images", principal, None, "prune images")?;
                }
                let excluded = crate::flags::excluded_images(&body["excluded_images"])
                    .map_err(Rejection::bad_request)?;
                let (tx, rx) = tokio::sync::oneshot::channel();
                self.prune_images(excluded, move |r| {
                    let _ = tx.send(r);
                });
                Ok(Reply::Later(Box::pin(async move {
                    match rx.await {
                        Ok(Ok(_)) => HttpResponse::empty(200),
                        Ok(Err(e)) => HttpResponse::text(500, format!("Failed to prune images: {e}")),
                        Err(_) => HttpResponse::text(500, "Failed to prune images"),
                    }
                })))
            }
            "GET_FRAMEWORKS" => ok(respond(&kind, self.v1_frameworks(viewer))),
            "GET_EXECUTORS" => ok(respond(&kind, self.v1_executors(viewer))),
            "GET_TASKS" => ok(respond(&kind, self.v1_tasks(viewer))),
            "GET_CONTAINERS" => ok(respond(&kind, self.v1_containers(viewer))),
            // Answered once the container has launched, as Mesos does (a task is not RUNNING
            // before its process exists).
            "LAUNCH_NESTED_CONTAINER" | "LAUNCH_CONTAINER" => {
                let chain = container_chain(&body["container_id"])?;
                let action = if kind == "LAUNCH_CONTAINER" && chain.len() == 1 {
                    LAUNCH_STANDALONE_ACL
                } else {
                    LAUNCH_ACL
                };
                let key = self.launch_nested(action, principal, skip_acls, &body)?;
                let (tx, rx) = oneshot::channel();
                if let Some(n) = self.nested.get_mut(&key) {
                    n.launch_waiters.push(tx);
                }
                Ok(Reply::Later(Box::pin(async move {
                    match rx.await {
                        Ok(Ok(())) => HttpResponse::empty(200),
                        Ok(Err(why)) => reject(Rejection::internal(format!(
                            "Failed to launch container: {why}"
                        ))),
                        Err(_) => reject(Rejection::internal(
                            "Failed to launch container: it ended before launching",
                        )),
                    }
                })))
            }
            "LAUNCH_NESTED_CONTAINER_SESSION" => {
                let accept = message_encoding(req.header("message-accept"))?;
                self.launch_nested_session(principal, skip_acls, &body, accept)
            }
            "ATTACH_CONTAINER_OUTPUT" => {
                if skip_acls {
                    return Err(Rejection::forbidden(
                        "An executor's token cannot attach to containers",
                    ));
                }
                let accept = message_encoding(req.header("message-accept"))?;
                self.attach_output(principal, &body, accept)
            }
            "ATTACH_CONTAINER_INPUT" => Err(Rejection::bad_request(
                "ATTACH_CONTAINER_INPUT is a streamed request: 'Content-Type: application/recordio'",
            )),
            "REMOVE_NESTED_CONTAINER" | "REMOVE_CONTAINER" => {
                self.authorize_on_nested("kill_nested_containers", principal, skip_acls, &body)?;
                self.remove_nested(&body)?;
                ok(HttpResponse::empty(200))
            }
            "WAIT_NESTED_CONTAINER" => {
                self.authorize_on_nested("wait_nested_containers", principal, skip_acls, &body)?;
                self.wait_nested("WAIT_NESTED_CONTAINER", &body)
            }
            "WAIT_CONTAINER" => {
                self.authorize_on_nested("wait_nested_containers", principal, skip_acls, &body)?;
                self.wait_nested("WAIT_CONTAINER", &body)
            }
            "KILL_NESTED_CONTAINER" | "KILL_CONTAINER" => {
                self.authorize_on_nested("kill_nested_containers", principal, skip_acls, &body)?;
                let chain = container_chain(&body["container_id"])?;
                let n = self.nested.get(&chain.join("/")).ok_or_else(|| {
                    Rejection::not_found(format!("Container '{}' not found", chain.join(".")))
                })?;
                let sig = body["signal"].as_i64().unwrap_or(15) as i32;
                let sig = nix::sys::signal::Signal::try_from(sig)
                    .map_err(|_| Rejection::bad_request(format!("Unknown signal {sig}")))?;
                match n.os_pid {
                    _ if n.exit.is_some() => {}
                    Some(_) => kill_group(n.os_pid, sig),
                    // Still starting: the containerizer kills it once it runs.
                    None => self.destroy_nested(&chain.join("/")),
                }
                ok(HttpResponse::empty(200))
            }
            other => Err(Rejection::bad_request(format!(
                "Call type '{other}' is unknown or not supported by this agent"
            ))),
        }
    }

    fn v1_state(&self, viewer: Viewer) -> Value {
        json!({
            "get_tasks": self.v1_tasks(viewer),
            "get_executors": self.v1_executors(viewer),
            "get_frameworks": self.v1_frameworks(viewer),
        })
    }

    fn v1_frameworks(&self, viewer: Viewer) -> Value {
        let f: Vec<Value> = self
            .frameworks
            .values()
            .filter(|f| viewer.framework(f))
            .map(|f| json!({"framework_info": to_json(&f.info)}))
            .collect();
        json!({"frameworks": f, "completed_frameworks": []})
    }

    fn v1_executors(&self, viewer: Viewer) -> Value {
        let e: Vec<Value> = self
            .frameworks
            .values()
            .flat_map(|f| f.executors.values().map(move |e| (e, f)))
            .filter(|(e, f)| viewer.executor(&e.info, f))
            .map(|(e, _)| json!({"executor_info": to_json(&e.info)}))
            .collect();
        json!({"executors": e, "completed_executors": []})
    }

    fn v1_tasks(&self, viewer: Viewer) -> Value {
        let t: Vec<Value> = self
            .frameworks
            .values()
            .flat_map(|f| f.executors.values().map(move |e| (e, f)))
            .flat_map(|(e, f)| e.tasks.values().map(move |t| (t, f)))
            .filter(|(t, f)| viewer.task(t.user.as_deref(), f))
            .map(|(t, _)| to_json(t))
            .collect();
        json!({"launched_tasks": t, "queued_tasks": [], "pending_tasks": [],
               "terminated_tasks": [], "completed_tasks": []})
    }

    fn v1_containers(&self, viewer: Viewer) -> Value {
        let mut out = Vec::new();
        for (fid, f) in &self.frameworks {
            for e in f
                .executors
                .values()
                .filter(|e| viewer.container(Some(&executor_user(&e.info, f))))
            {
                out.push(json!({
                    "framework_id": {"value": fid.value},
                    "executor_id": {"value": e.info.executor_id.value},
                    "executor_name": e.info.name.clone().unwrap_or_default(),
                    "container_id": {"value": e.container_id.value},
                    "resource_statistics": self.usage_json(e),
                }));
            }
        }
        for (id, n) in self
            .nested
            .iter()
            .filter(|(_, n)| viewer.container(n.user.as_deref()))
        {
            let parts: Vec<&str> = id.split('/').collect();
            let mut cid = Value::Null;
            for p in parts {
                cid = if cid.is_null() {
                    json!({"value": p})
                } else {
                    json!({"value": p, "parent": cid})
                };
            }
            let mut c = json!({"container_id": cid});
            // Its processes: its session (a nested container shares its parent's cgroups).
            if let Some(pid) = n.os_pid.filter(|_| n.exit.is_none()) {
                let u = mesos_containerizer::session_usage(pid);
                c["resource_statistics"] = json!({"timestamp": now_secs(),
                    "cpus_user_time_secs": u.user_secs, "cpus_system_time_secs": u.system_secs,
                    "mem_rss_bytes": u.rss_bytes, "processes": u.processes});
            }
            out.push(c);
        }
        json!({"containers": out})
    }

    /// The sandbox of a top-level container (an executor's).
    /// The user a nested container runs as: its command's, else its top-level container's
    /// framework's.
    fn nested_user(&self, command_user: Option<&str>, top: &str) -> Option<String> {
        command_user
            .filter(|u| !u.is_empty())
            .map(str::to_string)
            .or_else(|| {
                self.frameworks
                    .values()
                    .find(|f| f.executors.values().any(|e| e.container_id.value == top))
                    .map(|f| f.info.user.clone())
                    .filter(|u| !u.is_empty())
            })
    }

    fn sandbox_of(&self, container: &str) -> Option<PathBuf> {
        self.executors()
            .find(|e| e.container_id.value == container)
            .map(|e| e.directory.clone())
            .or_else(|| self.nested.get(container).and_then(|n| n.sandbox.clone()))
    }

    /// LAUNCH_NESTED_CONTAINER for `principal` (403 unless it may
    /// `launch_nested_containers_as_user` as the user the container would run as: its
    /// command's, else its parent executor's framework's).
    fn launch_nested(
        &mut self,
        action: &str,
        principal: Option<&str>,
        skip_acls: bool,
        body: &Value,
    ) -> Result<String, Rejection> {
        let chain = container_chain(&body["container_id"])?;
        let standalone = chain.len() == 1;
        if standalone && action != LAUNCH_STANDALONE_ACL {
            return Err(Rejection::bad_request(
                "'container_id.parent' must be present",
            ));
        }
        if standalone {
            let user = body["command"]["user"].as_str().unwrap_or("root");
            if !skip_acls {
                self.authorize(
                    action,
                    principal,
                    Some(user),
                    &format!("launch standalone containers as user '{user}'"),
                )?;
            }
        } else if !skip_acls {
            let user = self.nested_user(body["command"]["user"].as_str(), &chain[0]);
            let user = user.as_deref().unwrap_or("root");
            let what = if action == LAUNCH_SESSION_ACL {
                "launch nested container sessions"
            } else {
                "launch nested containers"
            };
            self.authorize(
                action,
                principal,
                Some(user),
                &format!("{what} as user '{user}'"),
            )?;
        }
        let key = chain.join("/");
        // Launched already: 202, as Mesos answers (once the caller was authorized).
        if self.nested.contains_key(&key) {
            return Err(Rejection::new(
                202,
                format!("Container '{}' was launched already", chain.join(".")),
            ));
        }
        if standalone && self.executors().any(|e| e.container_id.value == chain[0]) {
            return Err(Rejection::conflict(format!(
                "Container '{}' is an executor's",
                chain[0]
            )));
        }
        let parent = chain[..chain.len() - 1].join("/");
        if chain.len() > 2 && !self.nested.contains_key(&parent) {
            return Err(Rejection::not_found(format!(
                "Parent container '{parent}' not found"
            )));
        }
        let dir = if standalone {
            paths::standalone_sandbox_dir(&self.flags.work_dir, &chain[0])
        } else {
            let top = self.sandbox_of(&chain[0]).ok_or_else(|| {
                Rejection::not_found(format!("Container '{}' not found", chain[0]))
            })?;
            paths::nested_sandbox_dir(&top, &chain[1..])
        };
        // A standalone container is limited to the resources it asks for (which it must).
        let limits = if standalone {
            let r = &body["resources"];
            if r.as_array().is_none_or(Vec::is_empty) {
                return Err(Rejection::bad_request(
                    "'launch_container.resources' must be set for a standalone container",
                ));
            }
            let r = mesos_api::Resources::from_json(r)
                .map_err(|e| Rejection::bad_request(format!("Invalid 'resources': {e}")))?;
            super::executors::limits_of(&r)
        } else {
            Default::default()
        };
        let cmd: CommandInfo = mesos_api::protocol::from_json(&body["command"])
            .map_err(|e| Rejection::bad_request(format!("Invalid 'command': {e}")))?;
        let mut container_info: Option<mesos_api::protocol::container::ContainerInfo> =
            match &body["container"] {
                Value::Null => None,
                c => Some(
                    mesos_api::protocol::from_json(c)
                        .map_err(|e| Rejection::bad_request(format!("Invalid 'container': {e}")))?,
                ),
            };
        // A session may have a terminal (the agent holds its other side).
        let session = action == LAUNCH_SESSION_ACL;
        let tty = if session {
            container_info
                .as_mut()
                .and_then(|c| c.tty_info.take())
                .map(|t| t.rows_columns())
        } else {
            None
        };
        if let Some(why) = container_info.as_ref().and_then(|c| c.unsupported()) {
            return Err(Rejection::bad_request(format!(
                "Invalid 'container': {why}"
            )));
        }
        let value = cmd.value.clone().unwrap_or_default();
        // Without a value, a container with an image runs the image's command (docker/runtime).
        let has_image = container_info
            .as_ref()
            .is_some_and(|c| c.mesos.as_ref().is_some_and(|m| m.image.is_some()));
        if value.is_empty() && (cmd.shell || !has_image) {
            return Err(Rejection::bad_request("'command.value' must be set"));
        }
        std::fs::create_dir_all(&dir)
            .map_err(|e| Rejection::internal(format!("cannot create the sandbox: {e}")))?;
        let (program, args) = if value.is_empty() {
            // No program: the image's entrypoint or command, then all of these arguments.
            (String::new(), cmd.arguments.clone())
        } else {
            cmd.argv()
        };
        let user = self.nested_user(cmd.user.as_deref(), &chain[0]);
        let mut env = cmd.env_pairs();
        env.push(("MESOS_SANDBOX".into(), dir.display().to_string()));
        env.push(("MESOS_CONTAINER_ID".into(), chain.join(".")));
        // A session's container is attachable: the agent holds its standard streams.
        let (io, stdio, session_output) = if session {
            let log = |s| self.container_log(&dir, &env, s);
            let (sb, ends) = Switchboard::new(&dir, tty, log).map_err(|e| {
                Rejection::internal(format!("cannot make the container's pipes: {e}"))
            })?;
            // The session's own stream is attached before the launch: no output is missed.
            let output = sb.attach_output();
            (Some(sb), Some(ends), Some(output))
        } else {
            (None, None, None)
        };
        let config = mesos_containerizer::ContainerConfig {
            id: mesos_api::ContainerID::new(chain.join(".")),
            parent: (!standalone).then(|| mesos_api::ContainerID::new(chain[0].clone())),
            program: PathBuf::from(program),
            args,
            env,
            sandbox: dir.clone(),
            limits,
            container_info,
            image_use: mesos_containerizer::ImageUse::Enter,
            uris: cmd.uris.clone(),
            user: user.clone(),
            stdio: stdio.clone(),
            persistent_volumes: Vec::new(),
        };
        let events = self.nested_events(&key);
        let rt = self
            .runtime
            .clone()
            .ok_or_else(|| Rejection::unavailable("the agent is starting"))?;
        let container = self
            .containerizer
            .launch(&rt, config, events)
            .map_err(|e| Rejection::bad_request(format!("cannot launch: {e}")))?;
        self.nested.insert(
            key.clone(),
            Nested {
                os_pid: None,
                container: Some(container),
                exit: None,
                waiters: Vec::new(),
                launch_waiters: Vec::new(),
                user,
                sandbox: standalone.then_some(dir),
                io,
                session_output,
            },
        );
        Ok(key)
    }

    /// `action` (`kill_nested_containers`, `wait_nested_containers`) on the nested container
    /// `body` names, its user the object (unless an executor acts on its own containers).
    fn authorize_on_nested(
        &self,
        action: &str,
        principal: Option<&str>,
        skip_acls: bool,
        body: &Value,
    ) -> Result<(), Rejection> {
        if skip_acls || self.flags.authorizer.is_none() {
            return Ok(());
        }
        let chain = container_chain(&body["container_id"])?;
        let user = match self.nested.get(&chain.join("/")) {
            Some(n) => n.user.clone(),
            None => return Ok(()), // Not found: the call answers 404.
        };
        // On a standalone container, the standalone form of the action.
        let (action, kind) = match (chain.len(), action) {
            (1, "kill_nested_containers") => ("kill_standalone_containers", "standalone"),
            (1, "wait_nested_containers") => ("wait_standalone_containers", "standalone"),
            (1, _) => ("remove_standalone_containers", "standalone"),
            _ => (action, "nested"),
        };
        let verb = match action {
            "kill_nested_containers" | "kill_standalone_containers" => "kill",
            "remove_standalone_containers" => "remove",
            _ => "wait for",
        };
        self.authorize(
            action,
            principal,
            user.as_deref(),
            &format!(
                "{verb} {kind} containers of user '{}'",
                user.as_deref().unwrap_or("unknown")
            ),
        )
    }

    /// LAUNCH_NESTED_CONTAINER_SESSION: launches like LAUNCH_NESTED_CONTAINER, with the
    /// agent holding the container's standard streams, and streams its output back as RecordIO
    /// `ProcessIO` DATA records (in the `Message-Accept` encoding) until it ends; the container
    /// is killed when the client goes away. Its input comes through ATTACH_CONTAINER_INPUT.
    fn launch_nested_session(
        &mut self,
        principal: Option<&str>,
        skip_acls: bool,
        body: &Value,
        message_accept: Encoding,
    ) -> Result<Reply, Rejection> {
        let key = self.launch_nested(LAUNCH_SESSION_ACL, principal, skip_acls, body)?;
        let (launched, waiting) = oneshot::channel();
        let output = match self.nested.get_mut(&key) {
            Some(n) => {
                n.launch_waiters.push(launched);
                n.session_output.take()
            }
            None => None,
        }
        .ok_or_else(|| Rejection::internal("the session's container has no switchboard"))?;
        let me = self.self_pid.clone();
        let on_leave = move || {
            if let Some(me) = &me {
                me.dispatch_nowait(move |a: &mut Agent, _| a.destroy_nested(&key));
            }
        };
        // Answered once the container runs (or failed to launch).
        Ok(Reply::Later(Box::pin(async move {
            match waiting.await {
                Ok(Ok(())) => stream_output(output, message_accept, Some(Box::new(on_leave))),
                Ok(Err(why)) => reject(Rejection::internal(format!(
                    "Failed to launch container: {why}"
                ))),
                Err(_) => reject(Rejection::internal(
                    "Failed to launch container: it ended before launching",
                )),
            }
        })))
    }

    /// ATTACH_CONTAINER_OUTPUT: the output of an attachable container from now on, until it
    /// ends, as the session streams it.
    fn attach_output(
        &self,
        principal: Option<&str>,
        body: &Value,
        message_accept: Encoding,
    ) -> Result<Reply, Rejection> {
        let sb = self.switchboard("attach_containers_output", principal, body)?;
        Ok(stream_output(sb.attach_output(), message_accept, None).into())
    }

    /// The switchboard of the attachable container `body` names, if `principal` may `action`
    /// (`attach_containers_input` / `_output`) on its user's containers: 404 for an unknown
    /// container, 400 for one the agent does not hold the streams of, 403 when not allowed.
    fn switchboard(
        &self,
        action: &str,
        principal: Option<&str>,
        body: &Value,
    ) -> Result<Switchboard, Rejection> {
        let chain = container_chain(&body["container_id"])?;
        let name = chain.join(".");
        // A nested container, or an executor's container (a command task's).
        let executor = || {
            self.frameworks
                .values()
                .flat_map(|f| f.executors.values())
                .find(|e| chain.len() == 1 && e.container_id.value == chain[0])
                .map(|e| (e.user.clone(), e.io.clone()))
        };
        let (user, io) = self
            .nested
            .get(&chain.join("/"))
            .map(|n| (n.user.clone(), n.io.clone()))
            .or_else(executor)
            .ok_or_else(|| Rejection::not_found(format!("Container '{name}' not found")))?;
        let sb = io.ok_or_else(|| {
            Rejection::bad_request(format!(
                "Container '{name}' is not attachable (only nested container sessions and \
                 containers launched with 'tty_info' are)"
            ))
        })?;
        let what = if action == "attach_containers_input" {
            "attach to the input of"
        } else {
            "attach to the output of"
        };
        self.authorize(
            action,
            principal,
            user.as_deref(),
            &format!(
                "{what} containers of user '{}'",
                user.as_deref().unwrap_or("unknown")
            ),
        )?;
        Ok(sb)
    }

    /// ATTACH_CONTAINER_INPUT: a streamed request (`Content-Type: application/recordio`, its
    /// records agent `Call`s in the `Message-Content-Type` encoding). The first names the
    /// container; the rest carry `ProcessIO`: DATA (STDIN; empty data ends the input) or
    /// CONTROL (HEARTBEAT). Answered 200 when the stream ends, or an error as soon as one
    /// record is wrong; one input at a time per container (409 otherwise).
    pub(super) fn attach_input(&mut self, mut req: HttpRequest) -> Reply {
        if req.method.as_str() != "POST" {
            return reject(Rejection::method_not_allowed("Expecting a 'POST' request")).into();
        }
        if executor_container(req.principal.as_deref()).is_some() {
            return reject(Rejection::forbidden(
                "An executor's token cannot attach to containers",
            ))
            .into();
        }
        let principal = req.principal.clone();
        let encoding = match message_content_type(req.header("message-content-type")) {
            Ok(e) => e,
            Err(r) => return reject(r).into(),
        };
        let Some(mut stream) = req.body_stream.take() else {
            return reject(Rejection::bad_request("Expecting a streamed request")).into();
        };
        let me = self.self_pid.clone();
        Reply::Later(Box::pin(async move {
            let mut reader = RecordReader::default();
            let mut input = None;
            loop {
                let rec = match reader.next_record() {
                    Ok(Some(r)) => r,
                    Ok(None) => match stream.next().await {
                        Some(Ok(chunk)) => {
                            reader.push(&chunk);
                            continue;
                        }
                        Some(Err(e)) => return reject(Rejection::bad_request(e)),
                        None => return HttpResponse::empty(200),
                    },
                    Err(e) => return reject(Rejection::bad_request(e)),
                };
                let call = match api::call_json(encoding, protobuf::AGENT_CALL, &rec) {
                    Ok(c) => c,
                    Err(r) => return reject(r),
                };
                let a = &call["attach_container_input"];
                if call["type"] != "ATTACH_CONTAINER_INPUT" {
                    return reject(Rejection::bad_request(
                        "Expecting 'type' to be ATTACH_CONTAINER_INPUT",
                    ));
                }
                let Some(input) = input.as_ref() else {
                    // The first record names the container.
                    if a["type"] != "CONTAINER_ID" {
                        return reject(Rejection::bad_request(
                            "The first record must carry the container id",
                        ));
                    }
                    let body = json!({"container_id": a["container_id"]});
                    let Some(me) = &me else {
                        return reject(Rejection::unavailable("the agent is starting"));
                    };
                    let sb = match me
                        .dispatch({
                            let principal = principal.clone();
                            move |agent: &mut Agent, _| {
                                agent.switchboard(
                                    "attach_containers_input",
                                    principal.as_deref(),
                                    &body,
                                )
                            }
                        })
                        .await
                    {
                        Ok(Ok(sb)) => sb,
                        Ok(Err(r)) => return reject(r),
                        Err(e) => return reject(Rejection::unavailable(e.to_string())),
                    };
                    match sb.attach_input() {
                        Some(i) => input = Some(i),
                        None => {
                            return reject(Rejection::conflict(
                                "Another ATTACH_CONTAINER_INPUT is streaming to this container",
                            ))
                        }
                    }
                    continue;
                };
                let io = &a["process_io"];
                match (a["type"].as_str(), io["type"].as_str()) {
                    (Some("PROCESS_IO"), Some("DATA")) => {
                        if io["data"]["type"] != "STDIN" {
                            return reject(Rejection::bad_request(
                                "Only STDIN data can be attached",
                            ));
                        }
                        let data = io["data"]["data"].as_str().unwrap_or("");
                        let data = match mesos_api::serde_util::base64_decode(data) {
                            Ok(d) => d,
                            Err(e) => {
                                return reject(Rejection::bad_request(format!("Invalid data: {e}")))
                            }
                        };
                        if let Err(e) = input.write(&data).await {
                            return reject(Rejection::bad_request(format!(
                                "Cannot write to the container's input: {e}"
                            )));
                        }
                    }
                    (Some("PROCESS_IO"), Some("CONTROL")) => {
                        if io["control"]["type"] == "TTY_INFO" {
                            let size = &io["control"]["tty_info"]["window_size"];
                            let dim = |v: &Value| {
                                v.as_u64()
                                    .and_then(|v| u16::try_from(v).ok())
                                    .filter(|v| *v > 0)
                            };
                            let (Some(rows), Some(columns)) =
                                (dim(&size["rows"]), dim(&size["columns"]))
                            else {
                                return reject(Rejection::bad_request(
                                    "Expecting 'tty_info.window_size' with rows and columns",
                                ));
                            };
                            if let Err(e) = input.resize(rows, columns) {
                                return reject(Rejection::bad_request(e));
                            }
                        }
                        // HEARTBEAT: nothing to do.
                    }
                    _ => {
                        return reject(Rejection::bad_request(
                            "Expecting 'attach_container_input.process_io' DATA or CONTROL",
                        ))
                    }
                }
            }
        }))
    }

    /// What a nested container's actor tells the agent.
    pub(super) fn nested_events(
        &self,
        key: &str,
    ) -> Box<dyn Fn(mesos_containerizer::Event) + Send> {
        let me = self.self_pid.clone();
        let k = key.to_string();
        Box::new(move |ev: mesos_containerizer::Event| {
            let Some(me) = &me else { return };
            let k = k.clone();
            me.dispatch_nowait(move |a: &mut Agent, _| match ev {
                mesos_containerizer::Event::Launched { os_pid: pid } => {
                    if let Some(n) = a.nested.get_mut(&k) {
                        n.os_pid = Some(pid);
                        for w in n.launch_waiters.drain(..) {
                            let _ = w.send(Ok(()));
                        }
                    }
                }
                mesos_containerizer::Event::Failed(why) => {
                    tracing::warn!(container = %k, "nested container failed to launch: {why}");
                    if let Some(n) = a.nested.get_mut(&k) {
                        for w in n.launch_waiters.drain(..) {
                            let _ = w.send(Err(why.clone()));
                        }
                    }
                }
                mesos_containerizer::Event::Terminated(t) => a.nested_exited(&k, t.status),
            });
        })
    }

    /// A top-level container's nested containers go with it: those still running are
    /// destroyed, and all are forgotten (their waiters hear no exit status).
    pub(super) fn forget_nested_of(&mut self, root: &str) {
        let prefix = format!("{root}/");
        let keys: Vec<String> = self
            .nested
            .keys()
            .filter(|k| k.starts_with(&prefix))
            .cloned()
            .collect();
        for k in keys {
            if let Some(n) = self.nested.remove(&k) {
                if let (None, Some(c)) = (n.exit, n.container) {
                    c.destroy();
                }
            }
        }
    }

    /// Adopts, after a restart, the nested containers of the top-level containers in `adopted`
    /// (which they join). One that ended while the agent was down ends at once, with the
    /// status its init kept.
    pub(super) fn recover_nested(&mut self, rt: &libprocess::Runtime, adopted: &mut Vec<String>) {
        let mut found: Vec<(String, i32)> = self
            .containerizer
            .checkpointed()
            .into_iter()
            .filter_map(|(id, pid)| Some((id, pid?)))
            .filter(|(id, _)| {
                id.split_once('.')
                    .is_some_and(|(root, _)| adopted.iter().any(|a| a == root))
            })
            .collect();
        // Parents before their children.
        found.sort_by_key(|(id, _)| id.matches('.').count());
        for (id, pid) in found {
            let chain: Vec<&str> = id.split('.').collect();
            let Some(mut dir) = self.sandbox_of(chain[0]) else {
                continue;
            };
            dir = paths::nested_sandbox_dir(&dir, &chain[1..]);
            let key = chain.join("/");
            let config = mesos_containerizer::ContainerConfig {
                id: mesos_api::ContainerID::new(id.clone()),
                parent: Some(mesos_api::ContainerID::new(chain[0])),
                program: PathBuf::new(),
                args: Vec::new(),
                env: Vec::new(),
                sandbox: dir,
                limits: Default::default(),
                container_info: None,
                image_use: mesos_containerizer::ImageUse::Enter,
                uris: Vec::new(),
                user: None,
                stdio: None,
                persistent_volumes: Vec::new(),
            };
            let events = self.nested_events(&key);
            match self.containerizer.recover(rt, config, pid, events) {
                Ok(c) => {
                    tracing::info!(container = %id, pid, "recovered a nested container");
                    // Its command's user is not kept: its framework's stands for it.
                    let top = key.split('/').next().unwrap_or_default();
                    let user = self.nested_user(None, top);
                    self.nested.insert(
                        key,
                        Nested {
                            os_pid: Some(pid),
                            container: Some(c),
                            exit: None,
                            waiters: Vec::new(),
                            launch_waiters: Vec::new(),
                            user,
                            sandbox: None,
                            io: None,
                            session_output: None,
                        },
                    );
                    adopted.push(id);
                }
                Err(e) => {
                    tracing::warn!(container = %id, "cannot recover: {e}");
                    self.count(|m| m.recovery_errors.inc());
                }
            }
        }
    }

    /// REMOVE_NESTED_CONTAINER: forgets a nested container that has ended and deletes its
    /// sandbox; one still running (or with nested containers of its own) is refused.
    fn remove_nested(&mut self, body: &Value) -> Result<(), Rejection> {
        let chain = container_chain(&body["container_id"])?;
        let key = chain.join("/");
        let name = chain.join(".");
        let n = self
            .nested
            .get(&key)
            .ok_or_else(|| Rejection::not_found(format!("Container '{name}' not found")))?;
        if n.exit.is_none() {
            return Err(Rejection::bad_request(format!(
                "Container '{name}' has not terminated yet"
            )));
        }
        let inner = format!("{key}/");
        if self.nested.keys().any(|k| k.starts_with(&inner)) {
            return Err(Rejection::bad_request(format!(
                "Container '{name}' still has nested containers"
            )));
        }
        let dir = self
            .sandbox_of(&chain[0])
            .map(|top| paths::nested_sandbox_dir(&top, &chain[1..]));
        self.nested.remove(&key);
        if let Some(dir) = dir {
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(dir = %dir.display(), "cannot remove a nested sandbox: {e}");
                }
            }
        }
        Ok(())
    }

    fn destroy_nested(&mut self, key: &str) {
        if let Some(c) = self.nested.get(key).and_then(|n| n.container.clone()) {
            c.destroy();
        }
    }

    /// Nested containers do not outlive the agent.
    pub(super) fn kill_nested(&mut self) {
        for (k, n) in self.nested.iter().filter(|(_, n)| n.exit.is_none()) {
            kill_group(n.os_pid, nix::sys::signal::Signal::SIGKILL);
            let id = k.replace('/', ".");
            self.containerizer.destroy_orphan(&id, n.os_pid);
        }
    }

    fn nested_exited(&mut self, key: &str, status: Option<i32>) {
        if let Some(n) = self.nested.get_mut(key) {
            n.exit = Some(status.unwrap_or(-1));
            for w in n.waiters.drain(..) {
                let _ = w.send(status);
            }
        }
    }

    fn wait_nested(&mut self, kind: &'static str, body: &Value) -> Result<Reply, Rejection> {
        let chain = container_chain(&body["container_id"])?;
        let n = self.nested.get_mut(&chain.join("/")).ok_or_else(|| {
            Rejection::not_found(format!("Container '{}' not found", chain.join(".")))
        })?;
        let answer = |status: Option<i32>| {
            let mut w = json!({});
            if let Some(s) = status {
                w["exit_status"] = json!(s);
            }
            respond(kind, w)
        };
        if let Some(s) = n.exit {
            return Ok(answer(Some(s)).into());
        }
        let (tx, rx) = oneshot::channel();
        n.waiters.push(tx);
        Ok(Reply::Later(Box::pin(async move {
            answer(rx.await.ok().flatten())
        })))
    }
}

/// A framework in the agent's `/state`: its executors and its completed ones (newest first),
/// each with its tasks as `viewer` may see them.
fn framework_state_json(f: &Framework, viewer: Viewer) -> Value {
    let fid = f
        .info
        .id
        .as_ref()
        .map(|i| i.value.clone())
        .unwrap_or_default();
    let tasks = |list: &mut dyn Iterator<Item = &Task>, eid: &str| -> Vec<Value> {
        list.filter(|t| viewer.task(t.user.as_deref(), f))
            .map(|t| {
                json!({
                    "id": t.task_id.value, "name": t.name,
                    "framework_id": fid,
                    "executor_id": eid,
                    "slave_id": t.agent_id.value,
                    "state": t.state.as_str(),
                    "resources": t.resources.to_summary_json(),
                })
            })
            .collect()
    };
    let executor = |info: &ExecutorInfo,
                    container: &ContainerID,
                    directory: &std::path::Path,
                    running: Vec<Value>,
                    completed: Vec<Value>| {
        json!({
            "id": info.executor_id.value,
            "name": info.name.clone().unwrap_or_default(),
            "container": container.value,
            "directory": directory.display().to_string(),
            "resources": info.resources.to_summary_json(),
            "tasks": running,
            "queued_tasks": [],
            "completed_tasks": completed,
        })
    };
    let executors: Vec<Value> = f
        .executors
        .values()
        .filter(|e| viewer.executor(&e.info, f))
        .map(|e| {
            let eid = &e.info.executor_id.value;
            executor(
                &e.info,
                &e.container_id,
                &e.directory,
                tasks(&mut e.tasks.values(), eid),
                tasks(&mut e.completed_tasks.iter().rev(), eid),
            )
        })
        .collect();
    let completed: Vec<Value> = f
        .completed_executors
        .iter()
        .rev()
        .filter(|e| viewer.executor(&e.info, f))
        .map(|e| {
            let eid = &e.info.executor_id.value;
            let done = &mut e.tasks.iter().chain(e.completed_tasks.iter().rev());
            executor(
                &e.info,
                &e.container_id,
                &e.directory,
                Vec::new(),
                tasks(done, eid),
            )
        })
        .collect();
    json!({
        "id": fid, "name": f.info.name, "user": f.info.user,
        "checkpoint": f.info.checkpoint,
        "role": f.info.effective_roles().into_iter().next().unwrap_or_default(),
        "executors": executors,
        "completed_executors": completed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AgentFlags;

    #[test]
    fn flags_show_every_declared_flag_as_text() {
        let dir = std::env::temp_dir().join(format!("flags-{}", mesos_api::ids::new_uuid()));
        let flags = AgentFlags::from_defaults(&[
            ("master", "127.0.0.1:5050"),
            ("work_dir", &dir.to_string_lossy()),
            ("launcher", "posix"),
            ("registration_backoff_factor", "50ms"),
        ])
        .unwrap();
        let agent = Agent::new(flags, Default::default(), Default::default()).unwrap();
        let j = agent.flags_json();
        let _ = std::fs::remove_dir_all(&dir);
        for f in AgentFlags::table() {
            assert!(j[f.name].is_string(), "{} missing from {j}", f.name);
        }
        assert_eq!(j["master"], "127.0.0.1:5050");
        assert_eq!(j["work_dir"], dir.display().to_string());
        assert_eq!(j["resources"], "");
        assert_eq!(j["registration_backoff_factor"], "0.05secs");
        assert_eq!(j["executor_registration_timeout"], "60secs");
        assert_eq!(j["isolation"], "posix/cpu,posix/mem");
        assert_eq!(j["launcher"], "posix");
        assert_eq!(j["recover"], "reconnect");
        assert_eq!(j["fetcher_cache_size"], "2GB");
        assert_eq!(j["cgroups_enable_cfs"], "true");
    }
}
