//! The ACL actions beyond the basic ones, with the real binaries and one ACLs document for the
//! master and the agent (as Mesos operators give it): `register_agents`, `get_quotas`,
//! `view_roles`, `reserve_resources`, `unreserve_resources`, `deactivate_agents` on the master;
//! `view_frameworks`, `view_executors`, `view_tasks`, `view_containers` and `access_sandboxes`
//! on the agent.

mod common;

use std::process::Stdio;

use common::secure::*;
use common::LIMIT;
use serde_json::{json, Value};
use testkit::{free_port, Proc};

/// `dev:d3v`.
const DEV_AUTH: &str = "Basic ZGV2OmQzdg==";

/// ops: anything; dev: only `dev`'s (roles, users `nobody`, its own reservations); the rest:
/// nothing.
fn acls() -> Value {
    let pattern = |field: &str, dev: Value| {
        json!([
            {"principals": {"values": ["ops"]}, field: {"type": "ANY"}},
            {"principals": {"values": ["dev"]}, field: dev},
            {"principals": {"type": "ANY"}, field: {"type": "NONE"}},
        ])
    };
    let roles = || pattern("roles", json!({"values": ["dev"]}));
    let users = || pattern("users", json!({"values": ["nobody"]}));
    json!({
        "register_agents": [
            {"principals": {"values": ["agent1"]}, "agents": {"type": "ANY"}},
            {"principals": {"type": "ANY"}, "agents": {"type": "NONE"}},
        ],
        "get_quotas": roles(),
        "view_roles": roles(),
        "reserve_resources": roles(),
        "unreserve_resources": pattern("reserver_principals", json!({"values": ["dev"]})),
        "deactivate_agents": pattern("agents", json!({"type": "NONE"})),
        "reactivate_agents": pattern("agents", json!({"type": "NONE"})),
        "view_frameworks": users(),
        "view_executors": users(),
        "view_tasks": users(),
        "view_containers": users(),
        "access_sandboxes": users(),
        "launch_standalone_containers": users(),
        "kill_standalone_containers": users(),
    })
}

fn agent(creds: &Creds, acls: &std::path::Path, master: &str, credential: bool) -> (Proc, String) {
    let port = free_port();
    let mut c = testkit::command(env!("CARGO_BIN_EXE_mesos-agent"));
    c.arg(format!("--master={master}"))
        .arg(format!("--port={port}"))
        .arg(format!(
            "--work_dir={}",
            creds.0.join(format!("agent-{port}")).display()
        ))
        .arg(format!("--acls={}", acls.display()))
        .arg(format!("--http_credentials={}", creds.file()))
        .args([
            "--authenticate_http_readonly",
            "--authenticate_http_readwrite",
            "--resources=cpus:4;mem:1024",
            "--launcher=posix",
            "--registration_backoff_factor=100ms",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if credential {
        c.arg(format!(
            "--credential={}",
            creds.0.join("agent1.json").display()
        ));
    }
    (Proc::spawn(&mut c), format!("127.0.0.1:{port}"))
}

async fn v1(addr: &str, path: &str, auth: &str, call_body: Value) -> (u16, Value) {
    let r = call(addr, "POST", path, Some(auth), &call_body.to_string()).await;
    let v = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    (r.head.status, v)
}

async fn metric(master: &str, name: &str) -> f64 {
    let r = call(master, "GET", "/metrics/snapshot", Some(OPS), "").await;
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    v[name].as_f64().unwrap_or(-1.0)
}

fn names(v: &Value, list: &str, key: &str) -> Vec<String> {
    let mut out: Vec<String> = v[list]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x[key].as_str().map(str::to_string))
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acls_guard_agents_roles_quota_reservations_and_what_agents_show() {
    let creds = Creds::new();
    let c = json!({"credentials": [
        {"principal": "ops", "secret": "s3cret"},
        {"principal": "dev", "secret": "d3v"},
        {"principal": "agent1", "secret": "4g3nt"}]});
    std::fs::write(creds.0.join("credentials.json"), c.to_string()).unwrap();
    std::fs::write(
        creds.0.join("agent1.json"),
        json!({"principal": "agent1", "secret": "4g3nt"}).to_string(),
    )
    .unwrap();
    let acls_file = creds.0.join("acls.json");
    std::fs::write(&acls_file, acls().to_string()).unwrap();
    let (_m, master) = master(&[
        format!("--credentials={}", creds.file()),
        format!("--acls={}", acls_file.display()),
        "--authenticate_http_readonly".into(),
        "--authenticate_http_readwrite".into(),
        "--allocation_interval=50ms".into(),
    ]);
    let agents = || {
        let master = master.clone();
        async move {
            let r = call(&master, "GET", "/master/slaves", Some(OPS), "").await;
            let v: Value = serde_json::from_slice(&r.body).unwrap();
            names(&v, "slaves", "id")
        }
    };

    // register_agents: an agent that did not authenticate is the subject ANY: refused.
    let (stranger, _) = agent(&creds, &acls_file, &master, false);
    testkit::Eventually::new(LIMIT, "the stranger agent to be refused")
        .until_async(|| async {
            match metric(&master, "master/slave_registrations_refused").await {
                n if n >= 1.0 => Ok(()),
                n => Err(format!("refusals: {n}")),
            }
        })
        .await;
    assert!(agents().await.is_empty());
    drop(stranger);
    let (_agent, agent_addr) = agent(&creds, &acls_file, &master, true);
    let agent_id = testkit::Eventually::new(LIMIT, "agent1 to register")
        .until_async(|| async {
            agents()
                .await
                .pop()
                .ok_or_else(|| "no agent yet".to_string())
        })
        .await;

    // get_quotas and view_roles: dev sees role dev only.
    for role in ["dev", "prod"] {
        let (status, _) = v1(&master, "/api/v1", OPS, json!({"type": "UPDATE_QUOTA",
            "update_quota": {"quota_configs": [{"role": role, "guarantees": {"cpus": {"value": 0.1}}}]}}))
        .await;
        assert_eq!(status, 200);
        let (status, _) = v1(
            &master,
            "/api/v1",
            OPS,
            json!({"type": "UPDATE_WEIGHTS",
            "update_weights": {"weight_infos": [{"role": role, "weight": 2.0}]}}),
        )
        .await;
        assert_eq!(status, 200);
    }
    let (_, q) = v1(&master, "/api/v1", DEV_AUTH, json!({"type": "GET_QUOTA"})).await;
    assert_eq!(names(&q["get_quota"]["status"], "configs", "role"), ["dev"]);
    let (_, q) = v1(&master, "/api/v1", OPS, json!({"type": "GET_QUOTA"})).await;
    assert_eq!(
        names(&q["get_quota"]["status"], "configs", "role"),
        ["dev", "prod"]
    );
    let r = call(&master, "GET", "/quota", Some(DEV_AUTH), "").await;
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(names(&v, "infos", "role"), ["dev"], "{v}");
    let r = call(&master, "GET", "/roles", Some(DEV_AUTH), "").await;
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(names(&v, "roles", "name"), ["dev"], "{v}");
    let (_, w) = v1(&master, "/api/v1", DEV_AUTH, json!({"type": "GET_WEIGHTS"})).await;
    assert_eq!(names(&w["get_weights"], "weight_infos", "role"), ["dev"]);

    // reserve_resources by role, unreserve_resources by who reserved.
    let res = |role: &str, by: &str| {
        json!([{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5},
                "reservations": [{"type": "DYNAMIC", "role": role, "principal": by}]}])
    };
    let reserve = |kind: &str, role: &str, by: &str| {
        let field = kind.to_ascii_lowercase();
        json!({"type": kind, field: {"agent_id": {"value": agent_id}, "resources": res(role, by)}})
    };
    // In order (each changes what the next finds): who, what, for role, reserved by, answer.
    for (auth, kind, role, by, status) in [
        (DEV_AUTH, "RESERVE_RESOURCES", "prod", "dev", 403),
        (DEV_AUTH, "RESERVE_RESOURCES", "dev", "dev", 202),
        (OPS, "RESERVE_RESOURCES", "prod", "ops", 202),
        (DEV_AUTH, "UNRESERVE_RESOURCES", "prod", "ops", 403),
        (DEV_AUTH, "UNRESERVE_RESOURCES", "dev", "dev", 202),
    ] {
        let (s, v) = v1(&master, "/api/v1", auth, reserve(kind, role, by)).await;
        assert_eq!(s, status, "{kind} for {role} by {by}: {v}");
    }

    // deactivate_agents / reactivate_agents.
    for kind in ["DEACTIVATE_AGENT", "REACTIVATE_AGENT"] {
        let field = kind.to_ascii_lowercase();
        let body = json!({"type": kind, field: {"agent_id": {"value": agent_id}}});
        assert_eq!(
            v1(&master, "/api/v1", DEV_AUTH, body.clone()).await.0,
            403,
            "{kind}"
        );
        assert_eq!(v1(&master, "/api/v1", OPS, body).await.0, 200, "{kind}");
    }

    // On the agent: dev sees nobody's framework, executor, task and container only, and reads
    // nobody's sandbox only.
    let mut dev = framework_of(&master, "dev-fw", "nobody", "dev").await;
    dev.launch("dev-task", "sleep 95.1").await;
    let mut ops = framework_of(&master, "ops-fw", "root", "ops").await;
    ops.launch("ops-task", "sleep 95.2").await;
    let state = |auth: &'static str| {
        let agent_addr = agent_addr.clone();
        async move {
            let r = call(&agent_addr, "GET", "/slave(1)/state", Some(auth), "").await;
            serde_json::from_slice::<Value>(&r.body).unwrap()
        }
    };
    let s = state(DEV_AUTH).await;
    assert_eq!(names(&s, "frameworks", "user"), ["nobody"], "{s}");
    let s = state(OPS).await;
    assert_eq!(names(&s, "frameworks", "user"), ["nobody", "root"], "{s}");
    let (_, t) = v1(
        &agent_addr,
        "/slave(1)/api/v1",
        DEV_AUTH,
        json!({"type": "GET_TASKS"}),
    )
    .await;
    let tasks: Vec<&str> = t["get_tasks"]["launched_tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["task_id"]["value"].as_str())
        .collect();
    assert_eq!(tasks, ["dev-task"], "{t}");
    let (_, e) = v1(
        &agent_addr,
        "/slave(1)/api/v1",
        DEV_AUTH,
        json!({"type": "GET_EXECUTORS"}),
    )
    .await;
    assert_eq!(
        e["get_executors"]["executors"].as_array().unwrap().len(),
        1,
        "{e}"
    );
    let (_, c) = v1(
        &agent_addr,
        "/slave(1)/api/v1",
        DEV_AUTH,
        json!({"type": "GET_CONTAINERS"}),
    )
    .await;
    assert_eq!(
        c["get_containers"]["containers"].as_array().unwrap().len(),
        1,
        "{c}"
    );
    let (_, c) = v1(
        &agent_addr,
        "/slave(1)/api/v1",
        OPS,
        json!({"type": "GET_CONTAINERS"}),
    )
    .await;
    assert_eq!(
        c["get_containers"]["containers"].as_array().unwrap().len(),
        2,
        "{c}"
    );
    // Sandboxes: each executor's directory from ops's view of the state.
    let s = state(OPS).await;
    let dir_of = |user: &str| {
        s["frameworks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["user"] == user)
            .map(|f| f["executors"][0]["directory"].as_str().unwrap().to_string())
            .unwrap()
    };
    let read = |dir: String| {
        let agent_addr = agent_addr.clone();
        async move {
            let path = format!("/files/read?path={dir}/stdout&offset=0&length=10");
            call(&agent_addr, "GET", &path, Some(DEV_AUTH), "")
                .await
                .head
                .status
        }
    };
    assert_eq!(read(dir_of("nobody")).await, 200);
    assert_eq!(read(dir_of("root")).await, 403);
    // Standalone containers: dev launches and kills them as `nobody` only.
    let standalone = |kind: &str, id: &str, user: &str| {
        let c = json!({"container_id": {"value": id},
            "command": {"value": "sleep 95.3", "user": user},
            "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}}],
            "signal": 9});
        json!({"type": kind, kind.to_ascii_lowercase(): c})
    };
    let agent_v1 = |auth: &'static str, body: Value| {
        let agent_addr = agent_addr.clone();
        async move { v1(&agent_addr, "/slave(1)/api/v1", auth, body).await.0 }
    };
    assert_eq!(
        agent_v1(DEV_AUTH, standalone("LAUNCH_CONTAINER", "s-root", "root")).await,
        403
    );
    assert_eq!(
        agent_v1(DEV_AUTH, standalone("LAUNCH_CONTAINER", "s-dev", "nobody")).await,
        200
    );
    assert_eq!(
        agent_v1(OPS, standalone("LAUNCH_CONTAINER", "s-ops", "root")).await,
        200
    );
    assert_eq!(
        agent_v1(DEV_AUTH, standalone("KILL_CONTAINER", "s-ops", "")).await,
        403
    );
    assert_eq!(
        agent_v1(DEV_AUTH, standalone("KILL_CONTAINER", "s-dev", "")).await,
        200
    );
    assert_eq!(
        agent_v1(OPS, standalone("KILL_CONTAINER", "s-ops", "")).await,
        200
    );
    common::kill_all("sleep 95.1");
    common::kill_all("sleep 95.2");
    common::kill_all("sleep 95.3");
}
