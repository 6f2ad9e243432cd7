//! The v1 HTTP APIs and classic endpoints as a client sees them, against a real `mesos-local`
//! process: the scheduler API's rules in Mesos's order, event streams, the operator API and the
//! classic JSON endpoints.

mod common;

use std::process::Stdio;
use std::time::Duration;

use mesos_agent::httpc::{self, Body};
use serde_json::{json, Value};
use testkit::{eventually_async, free_port, within, Proc};

const LIMIT: Duration = Duration::from_secs(30);
const JSON: (&str, &str) = ("Content-Type", "application/json");

/// A `mesos-local` on a free port, killed on drop.
struct Local {
    child: Proc,
    addr: String,
    work: std::path::PathBuf,
}

impl Drop for Local {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.work);
    }
}

async fn local(agents: usize) -> Local {
    local_with(agents, &[]).await
}

/// [`local`] with `extra` flags.
async fn local_with(agents: usize, extra: &[&str]) -> Local {
    let port = free_port();
    let work = std::env::temp_dir().join(format!("mesos-http-{}", mesos_api::ids::new_uuid()));
    let child = Proc::spawn(
        testkit::command(env!("CARGO_BIN_EXE_mesos-local"))
            .args([
                format!("--port={port}"),
                format!("--num_agents={agents}"),
                format!("--work_dir={}", work.display()),
                "--resources=cpus:2;mem:512;disk:1024;ports:[31000-31010]".into(),
                "--allocation_interval=50ms".into(),
            ])
            .args(extra)
            .stderr(Stdio::null()),
    );
    let l = Local {
        child,
        addr: format!("127.0.0.1:{port}"),
        work,
    };
    let what = format!("mesos-local to come up with {agents} agents");
    eventually_async(LIMIT, what, || async {
        let r = get(&l.addr, "/master/slaves")
            .await
            .map_err(|e| e.to_string())?;
        let v: Value = serde_json::from_slice(&r.body).unwrap_or_default();
        match v["slaves"].as_array() {
            Some(a) if a.len() == agents => Ok(()),
            _ => Err(format!("/master/slaves: {v}")),
        }
    })
    .await;
    l
}

async fn get(addr: &str, path: &str) -> std::io::Result<httpc::Response> {
    httpc::request(addr, "GET", path, &[], b"").await
}

async fn post(addr: &str, path: &str, headers: &[(&str, &str)], body: &Value) -> httpc::Response {
    let b = serde_json::to_vec(body).unwrap();
    tokio::time::timeout(LIMIT, httpc::request(addr, "POST", path, headers, &b))
        .await
        .unwrap_or_else(|_| panic!("no answer to {body}"))
        .unwrap()
}

fn text(r: &httpc::Response) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

fn subscribe_call(name: &str) -> Value {
    json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": {
        "user": "root", "name": name, "failover_timeout": 100}}})
}

/// An HTTP framework's subscription: its stream, id and framework id.
struct Sub {
    body: Body,
    stream_id: String,
    framework_id: String,
}

async fn next_event(body: &mut Body) -> Value {
    let rec = tokio::time::timeout(LIMIT, body.next_record())
        .await
        .expect("timed out waiting for an event")
        .expect("stream broke")
        .expect("stream ended");
    serde_json::from_slice(&rec).expect("a JSON record")
}

/// The next event of `kind`, skipping others (heartbeats, offers...), within [`LIMIT`].
async fn next_of(body: &mut Body, kind: &str) -> Value {
    within(LIMIT, format!("the next {kind} event"), async {
        loop {
            let ev = next_event(body).await;
            if ev["type"] == kind {
                return ev;
            }
        }
    })
    .await
}

async fn subscribe(addr: &str, call: &Value) -> Sub {
    let b = serde_json::to_vec(call).unwrap();
    let (head, mut body) = httpc::stream(
        addr,
        "POST",
        "/api/v1/scheduler",
        &[JSON, ("Accept", "application/json")],
        &b,
    )
    .await
    .unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(head.header("transfer-encoding"), Some("chunked"));
    let stream_id = head
        .header("mesos-stream-id")
        .expect("a stream id")
        .to_string();
    let ev = next_event(&mut body).await;
    assert_eq!(ev["type"], "SUBSCRIBED", "{ev}");
    let framework_id = ev["subscribed"]["framework_id"]["value"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(ev["subscribed"]["heartbeat_interval_seconds"], 15.0);
    Sub {
        body,
        stream_id,
        framework_id,
    }
}

async fn call(addr: &str, s: &Sub, c: Value) -> httpc::Response {
    post(
        addr,
        "/api/v1/scheduler",
        &[JSON, ("Mesos-Stream-Id", &s.stream_id)],
        &c,
    )
    .await
}

/// Launches `task` (0.1 cpus, 32 MB; its agent filled in) on the next offer and acknowledges
/// its updates until it runs. Returns the offer.
async fn run_until_running(addr: &str, s: &mut Sub, mut task: Value) -> Value {
    let offers = next_of(&mut s.body, "OFFERS").await;
    let o = offers["offers"]["offers"][0].clone();
    task["agent_id"] = o["agent_id"].clone();
    task["resources"] = json!([{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                               {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}}]);
    let accept = json!({"framework_id": {"value": s.framework_id}, "type": "ACCEPT", "accept": {
        "offer_ids": [o["id"]],
        "operations": [{"type": "LAUNCH", "launch": {"task_infos": [task]}}]}});
    assert_eq!(call(addr, s, accept).await.head.status, 202);
    loop {
        let ev = next_of(&mut s.body, "UPDATE").await;
        let st = &ev["update"]["status"];
        let ack = json!({"framework_id": {"value": s.framework_id}, "type": "ACKNOWLEDGE",
            "acknowledge": {"agent_id": st["agent_id"], "task_id": st["task_id"], "uuid": st["uuid"]}});
        assert_eq!(call(addr, s, ack).await.head.status, 202);
        if st["state"] == "TASK_RUNNING" {
            return o;
        }
    }
}

#[tokio::test]
async fn subscribe_streams_records_with_a_stream_id_and_offers() {
    let l = local(1).await;
    let mut s = subscribe(&l.addr, &subscribe_call("streamer")).await;
    let offers = next_of(&mut s.body, "OFFERS").await;
    let o = &offers["offers"]["offers"][0];
    assert_eq!(o["framework_id"]["value"], s.framework_id.as_str());
    assert!(o["id"]["value"].as_str().unwrap().contains("-O"));
    assert!(o["resources"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["name"] == "cpus"));
    // Every field of Mesos's v1 Offer that applies here is written (not `domain`: no fault
    // domains; not `unavailability`: the agent is not scheduled for maintenance; `attributes` and `executor_ids` only when
    // there are some, as Mesos leaves out empty repeated fields).
    let fields: Vec<&str> = o.as_object().unwrap().keys().map(String::as_str).collect();
    for f in [
        "id",
        "framework_id",
        "agent_id",
        "hostname",
        "url",
        "resources",
        "allocation_info",
    ] {
        assert!(fields.contains(&f), "offer lacks '{f}': {o}");
    }
    // Clients find the agent's endpoints from the offer's URL.
    assert_eq!(o["url"]["scheme"], "http");
    assert!(
        o["url"]["path"].as_str().unwrap().starts_with("/slave("),
        "{o}"
    );
    assert_eq!(o["url"]["address"]["ip"], "127.0.0.1");
    assert!(o["url"]["address"]["port"].as_u64().unwrap() > 0, "{o}");
    assert_eq!(o["allocation_info"]["role"], "*");
    // Declining answers 202 and the framework shows in /master/state.
    let d = call(
        &l.addr,
        &s,
        json!({"framework_id": {"value": s.framework_id}, "type": "DECLINE",
               "decline": {"offer_ids": [o["id"]], "filters": {"refuse_seconds": 0.0}}}),
    )
    .await;
    assert_eq!(d.head.status, 202, "{}", text(&d));
    let st: Value =
        serde_json::from_slice(&get(&l.addr, "/master/state").await.unwrap().body).unwrap();
    assert_eq!(st["frameworks"][0]["id"], s.framework_id.as_str());
    assert_eq!(st["frameworks"][0]["active"], true);
    assert_eq!(st["slaves"][0]["resources"]["cpus"], 2);
    assert_eq!(st["slaves"][0]["resources"]["ports"], "[31000-31010]");
}

#[tokio::test]
async fn scheduler_api_checks_requests_in_mesos_order() {
    let l = local(1).await;
    let a = &l.addr;
    let sub = subscribe_call("rules");
    let path = "/api/v1/scheduler";
    // Not POST: 405.
    assert_eq!(get(a, path).await.unwrap().head.status, 405);
    // No content type: 400; an unsupported one: 415.
    assert_eq!(post(a, path, &[], &sub).await.head.status, 400);
    assert_eq!(
        post(a, path, &[("Content-Type", "text/plain")], &sub)
            .await
            .head
            .status,
        415
    );
    // Malformed JSON: 400 with a one-line reason.
    let r = httpc::request(a, "POST", path, &[JSON], b"{\"type\":")
        .await
        .unwrap();
    assert_eq!(r.head.status, 400);
    assert!(!text(&r).trim_end().contains('\n'));
    // An unacceptable Accept for SUBSCRIBE: 406.
    assert_eq!(
        post(a, path, &[JSON, ("Accept", "text/html")], &sub)
            .await
            .head
            .status,
        406
    );
    // SUBSCRIBE carrying a stream id: 400.
    assert_eq!(
        post(a, path, &[JSON, ("Mesos-Stream-Id", "x")], &sub)
            .await
            .head
            .status,
        400
    );
    let s = subscribe(a, &sub).await;
    let fid = json!({"value": s.framework_id});
    let revive = json!({"framework_id": fid, "type": "REVIVE"});
    // Missing and stale stream ids: 400; the right one: 202.
    assert_eq!(post(a, path, &[JSON], &revive).await.head.status, 400);
    let stale = [
        JSON,
        ("Mesos-Stream-Id", "00000000-0000-0000-0000-000000000000"),
    ];
    assert_eq!(post(a, path, &stale, &revive).await.head.status, 400);
    assert_eq!(call(a, &s, revive.clone()).await.head.status, 202);
    // An unknown framework: 400; a call with no framework id: 400.
    let unknown = json!({"framework_id": {"value": "nope"}, "type": "REVIVE"});
    assert_eq!(call(a, &s, unknown).await.head.status, 400);
    assert_eq!(
        call(a, &s, json!({"type": "REVIVE"})).await.head.status,
        400
    );
    // ACKNOWLEDGE whose uuid is not 16 bytes: 400.
    let ack = json!({"framework_id": fid, "type": "ACKNOWLEDGE", "acknowledge": {
        "agent_id": {"value": "a"}, "task_id": {"value": "t"}, "uuid": "AAEC"}});
    let r = call(a, &s, ack).await;
    assert_eq!(r.head.status, 400);
    assert!(text(&r).contains("uuid"), "{}", text(&r));
    // Wrong types and unknown enum values: 400.
    let bad = json!({"framework_id": fid, "type": "DECLINE", "decline": {"offer_ids": 5}});
    assert_eq!(call(a, &s, bad).await.head.status, 400);
    let bad = json!({"framework_id": fid, "type": "ACCEPT", "accept": {"offer_ids": [],
        "operations": [{"type": "EXPLODE"}]}});
    assert_eq!(call(a, &s, bad).await.head.status, 400);
    // A missing payload: 400.
    let bad = json!({"framework_id": fid, "type": "KILL"});
    assert_eq!(call(a, &s, bad).await.head.status, 400);
}

#[tokio::test]
async fn resubscribing_keeps_the_id_and_fails_over_the_old_stream() {
    let l = local(1).await;
    let mut first = subscribe(&l.addr, &subscribe_call("failover")).await;
    let mut again = subscribe_call("failover");
    again["framework_id"] = json!({"value": first.framework_id});
    again["subscribe"]["framework_info"]["id"] = json!({"value": first.framework_id});
    let second = subscribe(&l.addr, &again).await;
    assert_eq!(second.framework_id, first.framework_id);
    assert_ne!(second.stream_id, first.stream_id);
    let err = next_of(&mut first.body, "ERROR").await;
    assert_eq!(err["error"]["message"], "Framework failed over");
    // The old stream id is now stale.
    let revive = json!({"framework_id": {"value": first.framework_id}, "type": "REVIVE"});
    assert_eq!(call(&l.addr, &first, revive.clone()).await.head.status, 400);
    assert_eq!(call(&l.addr, &second, revive).await.head.status, 202);
}

#[tokio::test]
async fn http_framework_launches_acknowledges_and_kills() {
    let l = local(1).await;
    let a = &l.addr;
    let mut s = subscribe(a, &subscribe_call("launcher")).await;
    let fid = json!({"value": s.framework_id});
    let offers = next_of(&mut s.body, "OFFERS").await;
    let o = &offers["offers"]["offers"][0];
    let res = |cpus: f64| {
        json!([{"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
               {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}}])
    };
    let accept = json!({"framework_id": fid, "type": "ACCEPT", "accept": {
        "offer_ids": [o["id"]],
        "operations": [{"type": "LAUNCH", "launch": {"task_infos": [
            {"name": "quick", "task_id": {"value": "quick"}, "agent_id": o["agent_id"],
             "resources": res(0.1), "command": {"shell": true, "value": "echo hi"}},
            {"name": "long", "task_id": {"value": "long"}, "agent_id": o["agent_id"],
             "resources": res(0.1), "command": {"shell": true, "value": "sleep 60"}}]}}],
        "filters": {"refuse_seconds": 0.0}}});
    assert_eq!(call(a, &s, accept).await.head.status, 202);
    let (mut quick_done, mut long_running) = (false, false);
    while !(quick_done && long_running) {
        let ev = next_of(&mut s.body, "UPDATE").await;
        let st = &ev["update"]["status"];
        if let Some(uuid) = st["uuid"].as_str() {
            let ack = json!({"framework_id": fid, "type": "ACKNOWLEDGE", "acknowledge": {
                "agent_id": st["agent_id"], "task_id": st["task_id"], "uuid": uuid}});
            assert_eq!(call(a, &s, ack).await.head.status, 202);
        }
        match (st["task_id"]["value"].as_str(), st["state"].as_str()) {
            (Some("quick"), Some("TASK_FINISHED")) => quick_done = true,
            (Some("long"), Some("TASK_RUNNING")) => {
                long_running = true;
                // The fields Mesos sets on an executor's update.
                for f in ["agent_id", "executor_id", "uuid", "timestamp", "source"] {
                    assert!(!st[f].is_null(), "update lacks '{f}': {st}");
                }
                let c = &st["container_status"];
                assert!(c["container_id"]["value"].is_string(), "{st}");
                assert!(c["executor_pid"].as_u64().unwrap_or(0) > 0, "{st}");
                assert_eq!(
                    c["network_infos"][0]["ip_addresses"][0]["ip_address"], "127.0.0.1",
                    "{st}"
                );
            }
            (_, Some(s)) => assert!(
                ["TASK_STARTING", "TASK_RUNNING"].contains(&s),
                "unexpected {ev}"
            ),
            _ => panic!("bad update {ev}"),
        }
    }
    // /master/tasks sees both; filters and paging work.
    let t: Value =
        serde_json::from_slice(&get(a, "/tasks?task_id=long").await.unwrap().body).unwrap();
    assert_eq!(t["tasks"].as_array().unwrap().len(), 1);
    assert_eq!(t["tasks"][0]["state"], "TASK_RUNNING");
    let t: Value = serde_json::from_slice(
        &get(a, "/master/tasks?limit=1&order=asc")
            .await
            .unwrap()
            .body,
    )
    .unwrap();
    assert_eq!(t["tasks"].as_array().unwrap().len(), 1);
    assert_eq!(
        get(a, "/master/tasks?limit=x").await.unwrap().head.status,
        400
    );
    // As in Mesos (an int used as a size_t): a negative limit is no limit, a negative offset
    // is past the end.
    let count = |path: &'static str| async move {
        let t: Value = serde_json::from_slice(&get(a, path).await.unwrap().body).unwrap();
        t["tasks"].as_array().unwrap().len()
    };
    assert_eq!(count("/master/tasks?limit=-1").await, 2);
    assert_eq!(count("/master/tasks?offset=-1").await, 0);
    // KILL gives TASK_KILLED.
    let kill = json!({"framework_id": fid, "type": "KILL", "kill": {"task_id": {"value": "long"}}});
    assert_eq!(call(a, &s, kill).await.head.status, 202);
    loop {
        let ev = next_of(&mut s.body, "UPDATE").await;
        if ev["update"]["status"]["state"] == "TASK_KILLED" {
            assert_eq!(ev["update"]["status"]["task_id"]["value"], "long");
            break;
        }
    }
    // Explicit reconciliation of an unknown task: TASK_LOST from the master, no uuid.
    let rec = json!({"framework_id": fid, "type": "RECONCILE", "reconcile": {"tasks": [
        {"task_id": {"value": "never"}}]}});
    assert_eq!(call(a, &s, rec).await.head.status, 202);
    let ev = next_of(&mut s.body, "UPDATE").await;
    assert_eq!(ev["update"]["status"]["task_id"]["value"], "never");
    assert!(ev["update"]["status"].get("uuid").is_none());
    // TEARDOWN ends the stream.
    let td = json!({"framework_id": fid, "type": "TEARDOWN"});
    assert_eq!(call(a, &s, td).await.head.status, 202);
    let end = tokio::time::timeout(LIMIT, async {
        while let Ok(Some(_)) = s.body.next_record().await {}
    })
    .await;
    assert!(end.is_ok(), "the stream did not end after TEARDOWN");
}

#[tokio::test]
async fn classic_endpoints_answer_in_mesos_shapes() {
    let l = local(2).await;
    let a = &l.addr;
    let v: Value = serde_json::from_slice(&get(a, "/version").await.unwrap().body).unwrap();
    let version = v["version"].as_str().unwrap();
    assert!(
        version.split('.').all(|p| p.parse::<u32>().is_ok()),
        "{version}"
    );
    let r = get(a, "/master/redirect").await.unwrap();
    assert_eq!(r.head.status, 307);
    assert!(r.head.header("location").unwrap().starts_with("//"));
    assert_eq!(get(a, "/health").await.unwrap().head.status, 200);
    let slaves: Value = serde_json::from_slice(&get(a, "/slaves").await.unwrap().body).unwrap();
    assert_eq!(slaves["slaves"].as_array().unwrap().len(), 2);
    assert_eq!(slaves["slaves"][0]["active"], true);
    let flags: Value =
        serde_json::from_slice(&get(a, "/master/flags").await.unwrap().body).unwrap();
    assert_eq!(flags["flags"]["allocation_interval"], "0.05secs");
    let summary: Value =
        serde_json::from_slice(&get(a, "/master/state-summary").await.unwrap().body).unwrap();
    assert_eq!(summary["slaves"].as_array().unwrap().len(), 2);
    // The master's gauges show a change within its refresh interval (50 ms).
    eventually_async(LIMIT, "master/slaves_active to be 2", || async {
        let m: Value =
            serde_json::from_slice(&get(a, "/metrics/snapshot").await.unwrap().body).unwrap();
        let n = m["master/slaves_active"].as_f64();
        if n == Some(2.0) {
            Ok(())
        } else {
            Err(format!("master/slaves_active is {n:?}"))
        }
    })
    .await;
    // Weights: PUT then GET, and a bad weight is 400.
    let w = json!([{"role": "eng", "weight": 2.5}]);
    let r = httpc::request(a, "PUT", "/master/weights", &[], w.to_string().as_bytes())
        .await
        .unwrap();
    assert_eq!(r.head.status, 200, "{}", text(&r));
    let got: Value = serde_json::from_slice(&get(a, "/weights").await.unwrap().body).unwrap();
    assert_eq!(got, w);
    let bad = json!([{"role": "eng", "weight": -1}]);
    let r = httpc::request(a, "PUT", "/master/weights", &[], bad.to_string().as_bytes())
        .await
        .unwrap();
    assert_eq!(r.head.status, 400);
    // Teardown of an unknown framework is 400.
    let r = httpc::request(a, "POST", "/master/teardown", &[], b"frameworkId=nope")
        .await
        .unwrap();
    assert_eq!(r.head.status, 400);
    // Reserve then unreserve through the classic endpoints.
    let agent = slaves["slaves"][0]["id"].as_str().unwrap();
    let res = json!([{"name": "cpus", "type": "SCALAR", "scalar": {"value": 1},
        "reservations": [{"type": "DYNAMIC", "role": "eng", "principal": "ops"}]}]);
    let form = format!("slaveId={agent}&resources={}", res);
    let r = httpc::request(a, "POST", "/master/reserve", &[], form.as_bytes())
        .await
        .unwrap();
    assert_eq!(r.head.status, 200, "{}", text(&r));
    let s: Value = serde_json::from_slice(
        &get(a, &format!("/slaves?slave_id={agent}"))
            .await
            .unwrap()
            .body,
    )
    .unwrap();
    assert_eq!(s["slaves"][0]["reserved_resources"]["eng"]["cpus"], 1);
    let r = httpc::request(a, "POST", "/master/unreserve", &[], form.as_bytes())
        .await
        .unwrap();
    assert_eq!(r.head.status, 200, "{}", text(&r));
    // More than the agent has: 409.
    let big = json!([{"name": "cpus", "type": "SCALAR", "scalar": {"value": 64},
        "reservations": [{"type": "DYNAMIC", "role": "eng"}]}]);
    let form = format!("slaveId={agent}&resources={big}");
    let r = httpc::request(a, "POST", "/master/reserve", &[], form.as_bytes())
        .await
        .unwrap();
    assert_eq!(r.head.status, 409, "{}", text(&r));
}

#[tokio::test]
async fn operator_api_answers_calls_and_streams_events() {
    let l = local(1).await;
    let a = &l.addr;
    let op = |body: Value| async move { post(a, "/api/v1", &[JSON], &body).await };
    let r = op(json!({"type": "GET_HEALTH"})).await;
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        v,
        json!({"type": "GET_HEALTH", "get_health": {"healthy": true}})
    );
    let v: Value = serde_json::from_slice(&op(json!({"type": "GET_AGENTS"})).await.body).unwrap();
    assert_eq!(v["get_agents"]["agents"].as_array().unwrap().len(), 1);
    assert!(v["get_agents"]["agents"][0]["agent_info"]["id"]["value"].is_string());
    let r = op(
        json!({"type": "UPDATE_WEIGHTS", "update_weights": {"weight_infos": [
        {"role": "ops", "weight": 3.0}]}}),
    )
    .await;
    assert_eq!(r.head.status, 200, "{}", text(&r));
    let v: Value = serde_json::from_slice(&op(json!({"type": "GET_WEIGHTS"})).await.body).unwrap();
    assert_eq!(v["get_weights"]["weight_infos"][0]["weight"], 3.0);
    let r = op(
        json!({"type": "UPDATE_QUOTA", "update_quota": {"quota_configs": [
        {"role": "ops", "guarantees": {"cpus": {"value": 1}}}]}}),
    )
    .await;
    assert_eq!(r.head.status, 200, "{}", text(&r));
    let v: Value = serde_json::from_slice(&op(json!({"type": "GET_QUOTA"})).await.body).unwrap();
    assert_eq!(v["get_quota"]["status"]["configs"][0]["role"], "ops");
    // The deprecated SET_QUOTA: the guarantee is the limit too; once per role; REMOVE_QUOTA.
    let set = json!({"type": "SET_QUOTA", "set_quota": {"quota_request": {"role": "legacy",
        "guarantee": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 1}}]}}});
    assert_eq!(op(set.clone()).await.head.status, 200);
    let r = op(set).await;
    assert_eq!(r.head.status, 400);
    assert!(text(&r).contains("already has quota"), "{}", text(&r));
    let v: Value = serde_json::from_slice(&op(json!({"type": "GET_QUOTA"})).await.body).unwrap();
    let legacy = v["get_quota"]["status"]["configs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["role"] == "legacy")
        .cloned()
        .unwrap_or_else(|| panic!("no quota for 'legacy': {v}"));
    assert_eq!(legacy["guarantees"]["cpus"]["value"], 1.0, "{legacy}");
    assert_eq!(legacy["limits"]["cpus"]["value"], 1.0, "{legacy}");
    let remove = json!({"type": "REMOVE_QUOTA", "remove_quota": {"role": "legacy"}});
    assert_eq!(op(remove.clone()).await.head.status, 200);
    let r = op(remove).await;
    assert_eq!(r.head.status, 400);
    assert!(text(&r).contains("has no quota set"), "{}", text(&r));
    // Without --log_dir the master has no log to serve.
    let r = op(json!({"type": "LIST_FILES", "list_files": {"path": "/master/log"}})).await;
    assert_eq!(r.head.status, 404);
    // No operation is tracked (operation feedback is not built): an empty list.
    let v: Value =
        serde_json::from_slice(&op(json!({"type": "GET_OPERATIONS"})).await.body).unwrap();
    assert_eq!(
        v,
        json!({"type": "GET_OPERATIONS", "get_operations": {"operations": []}})
    );
    // The logging level: raised for a while, then back to 0.
    let level = || async {
        let v: Value =
            serde_json::from_slice(&op(json!({"type": "GET_LOGGING_LEVEL"})).await.body).unwrap();
        v["get_logging_level"]["level"].as_u64()
    };
    assert_eq!(level().await, Some(0));
    let set = json!({"type": "SET_LOGGING_LEVEL", "set_logging_level": {
        "level": 2, "duration": {"nanoseconds": 1_000_000_000u64}}});
    assert_eq!(op(set).await.head.status, 200);
    assert_eq!(level().await, Some(2));
    eventually_async(LIMIT, "the level to go back to 0", || async {
        match level().await {
            Some(0) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let bad = json!({"type": "SET_LOGGING_LEVEL", "set_logging_level": {"level": 1}});
    assert_eq!(op(bad).await.head.status, 400);
    // libprocess's /logging/toggle does the same from a query.
    let toggle = get(a, "/logging/toggle?level=3&duration=1secs")
        .await
        .unwrap();
    assert_eq!(toggle.head.status, 200, "{}", text(&toggle));
    assert_eq!(level().await, Some(3));
    assert_eq!(text(&get(a, "/logging/toggle").await.unwrap()), "3\n");
    for q in [
        "level=1",
        "duration=1secs",
        "level=x&duration=1secs",
        "level=1&duration=x",
    ] {
        let r = get(a, &format!("/logging/toggle?{q}")).await.unwrap();
        assert_eq!(r.head.status, 400, "{q}: {}", text(&r));
    }
    // Bad calls: 400 with a reason; unknown agent in DEACTIVATE_AGENT: 400.
    assert_eq!(op(json!({"type": "NOT_A_CALL"})).await.head.status, 400);
    assert_eq!(op(json!({"type": "TEARDOWN"})).await.head.status, 400);
    assert_eq!(
        op(json!({"type": "TEARDOWN", "teardown": {"framework_id": 3}}))
            .await
            .head
            .status,
        400
    );
    let r =
        op(json!({"type": "DEACTIVATE_AGENT", "deactivate_agent": {"agent_id": {"value": "x"}}}))
            .await;
    assert_eq!(r.head.status, 400);

    // SUBSCRIBE: the state first, then events as a framework comes and launches.
    let b = serde_json::to_vec(&json!({"type": "SUBSCRIBE"})).unwrap();
    let (head, mut events) = httpc::stream(a, "POST", "/api/v1", &[JSON], &b)
        .await
        .unwrap();
    assert_eq!(head.status, 200);
    let first = next_event(&mut events).await;
    assert_eq!(first["type"], "SUBSCRIBED");
    assert_eq!(
        first["subscribed"]["get_state"]["get_agents"]["agents"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let mut s = subscribe(a, &subscribe_call("watched")).await;
    let added = next_of(&mut events, "FRAMEWORK_ADDED").await;
    assert_eq!(
        added["framework_added"]["framework"]["framework_info"]["id"]["value"],
        s.framework_id.as_str()
    );
    let offers = next_of(&mut s.body, "OFFERS").await;
    let o = &offers["offers"]["offers"][0];
    let accept = json!({"framework_id": {"value": s.framework_id}, "type": "ACCEPT", "accept": {
        "offer_ids": [o["id"]],
        "operations": [{"type": "LAUNCH", "launch": {"task_infos": [
            {"name": "t", "task_id": {"value": "t"}, "agent_id": o["agent_id"],
             "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                           {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}}],
             "command": {"shell": true, "value": "true"}}]}}]}});
    assert_eq!(call(a, &s, accept).await.head.status, 202);
    let t = next_of(&mut events, "TASK_ADDED").await;
    // The framework acknowledges each update, so the next one comes.
    loop {
        let ev = next_of(&mut s.body, "UPDATE").await;
        let st = &ev["update"]["status"];
        let ack = json!({"framework_id": {"value": s.framework_id}, "type": "ACKNOWLEDGE",
            "acknowledge": {"agent_id": st["agent_id"], "task_id": st["task_id"], "uuid": st["uuid"]}});
        assert_eq!(call(a, &s, ack).await.head.status, 202);
        if st["state"] == "TASK_FINISHED" {
            break;
        }
    }
    assert_eq!(t["task_added"]["task"]["task_id"]["value"], "t");
    loop {
        let u = next_of(&mut events, "TASK_UPDATED").await;
        let state = u["task_updated"]["state"]
            .as_str()
            .unwrap_or("")
            .to_string();
        if !["TASK_STARTING", "TASK_RUNNING"].contains(&state.as_str()) {
            assert_eq!(state, "TASK_FINISHED", "{u}");
            break;
        }
    }
    // DEACTIVATE_AGENT then REACTIVATE_AGENT.
    let agent = o["agent_id"].clone();
    let r = op(json!({"type": "DEACTIVATE_AGENT", "deactivate_agent": {"agent_id": agent}})).await;
    assert_eq!(r.head.status, 200);
    let v: Value = serde_json::from_slice(&op(json!({"type": "GET_AGENTS"})).await.body).unwrap();
    assert_eq!(v["get_agents"]["agents"][0]["deactivated"], true);
    let r = op(json!({"type": "REACTIVATE_AGENT", "reactivate_agent": {"agent_id": agent}})).await;
    assert_eq!(r.head.status, 200);
    // MARK_AGENT_GONE removes it (AGENT_REMOVED on the stream).
    let r = op(json!({"type": "MARK_AGENT_GONE", "mark_agent_gone": {"agent_id": agent}})).await;
    assert_eq!(r.head.status, 200);
    let gone = next_of(&mut events, "AGENT_REMOVED").await;
    assert_eq!(gone["agent_removed"]["agent_id"], agent);
}

#[tokio::test]
async fn agent_serves_state_files_statistics_and_nested_containers() {
    let l = local(1).await;
    let a = &l.addr;
    let mut s = subscribe(a, &subscribe_call("agent-api")).await;
    let task = json!({"name": "talker", "task_id": {"value": "talker"},
        "command": {"shell": true, "value": "echo 0123456789; sleep 60"}});
    run_until_running(a, &mut s, task).await;
    let slaves: Value = serde_json::from_slice(&get(a, "/slaves").await.unwrap().body).unwrap();
    let pid = slaves["slaves"][0]["pid"].as_str().unwrap();
    let prefix = format!("/{}", pid.split('@').next().unwrap());
    // /state: the executor with its sandbox and container.
    let st: Value =
        serde_json::from_slice(&get(a, &format!("{prefix}/state")).await.unwrap().body).unwrap();
    let exec = &st["frameworks"][0]["executors"][0];
    assert_eq!(exec["tasks"][0]["id"], "talker");
    let dir = exec["directory"].as_str().unwrap().to_string();
    let container = exec["container"].as_str().unwrap().to_string();
    // /files/browse and /files/read with paging.
    let b: Value = serde_json::from_slice(
        &get(a, &format!("{prefix}/files/browse?path={dir}"))
            .await
            .unwrap()
            .body,
    )
    .unwrap();
    assert!(b
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["path"].as_str().unwrap().ends_with("/stdout")));
    let stdout = format!("{dir}/stdout");
    let read = format!("{prefix}/files/read?path={stdout}&offset=2&length=4");
    let r = eventually_async(LIMIT, "stdout to have the output", || async {
        let r: Value = serde_json::from_slice(&get(a, &read).await.unwrap().body).unwrap();
        if r["data"] == "2345" {
            Ok(r)
        } else {
            Err(r)
        }
    })
    .await;
    assert_eq!(r["offset"], 2);
    let size: Value = serde_json::from_slice(
        &get(a, &format!("{prefix}/files/read?path={stdout}&offset=-1"))
            .await
            .unwrap()
            .body,
    )
    .unwrap();
    assert_eq!(size["offset"], 11);
    // /files/download: the whole file, as an attachment.
    let r = get(a, &format!("{prefix}/files/download?path={stdout}"))
        .await
        .unwrap();
    assert_eq!(r.head.status, 200);
    assert_eq!(r.body, b"0123456789\n");
    assert_eq!(
        r.head.header("content-disposition"),
        Some("attachment; filename=\"stdout\"")
    );
    assert_eq!(
        get(a, &format!("{prefix}/files/download?path={dir}"))
            .await
            .unwrap()
            .head
            .status,
        400
    );
    // ?jsonp= wraps any JSON answer in a call of that function.
    let r = get(
        a,
        &format!("{prefix}/files/read?path={stdout}&offset=-1&jsonp=show"),
    )
    .await
    .unwrap();
    assert_eq!(r.head.header("content-type"), Some("text/javascript"));
    assert_eq!(text(&r), r#"show({"data":"","offset":11});"#);
    let r = get(a, "/master/state?jsonp=alert(1)").await.unwrap();
    assert_eq!(r.head.status, 400);
    let r = get(a, "/master/state?jsonp=window.cb").await.unwrap();
    assert!(text(&r).starts_with("window.cb({"), "{}", text(&r));
    // Outside the sandboxes (directly, through `..`, percent-encoded or through a link) is
    // answered exactly as a missing path: nothing tells what exists elsewhere.
    std::os::unix::fs::symlink("/etc", format!("{dir}/escape")).unwrap();
    for (p, shown) in [
        ("/etc/passwd".to_string(), "/etc/passwd".to_string()),
        ("/etc/no-such-file".into(), "/etc/no-such-file".into()),
        (
            format!("{dir}/../../../../../../../../etc/passwd"),
            format!("{dir}/../../../../../../../../etc/passwd"),
        ),
        (
            format!("{dir}/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd"),
            format!("{dir}/../../../../../../../etc/passwd"),
        ),
        (
            format!("{dir}/escape/passwd"),
            format!("{dir}/escape/passwd"),
        ),
        (format!("{dir}/no-such-file"), format!("{dir}/no-such-file")),
    ] {
        let r = get(a, &format!("{prefix}/files/read?path={p}"))
            .await
            .unwrap();
        assert_eq!(r.head.status, 404, "{p}");
        assert_eq!(
            String::from_utf8_lossy(&r.body),
            format!("'{shown}' not found"),
            "{p}"
        );
    }
    assert_eq!(
        get(a, &format!("{prefix}/files/read?path={stdout}&length=x"))
            .await
            .unwrap()
            .head
            .status,
        400
    );
    // /monitor/statistics: the executor's usage.
    let m: Value = serde_json::from_slice(
        &get(a, &format!("{prefix}/monitor/statistics"))
            .await
            .unwrap()
            .body,
    )
    .unwrap();
    assert_eq!(m[0]["framework_id"], s.framework_id.as_str());
    assert!(m[0]["statistics"]["mem_rss_bytes"].as_u64().unwrap() > 0);
    // The agent's operator API.
    let api = format!("{prefix}/api/v1");
    let op = |body: Value| {
        let api = api.clone();
        async move { post(a, &api, &[JSON], &body).await }
    };
    let v: Value = serde_json::from_slice(&op(json!({"type": "GET_TASKS"})).await.body).unwrap();
    assert_eq!(
        v["get_tasks"]["launched_tasks"][0]["task_id"]["value"],
        "talker"
    );
    let v: Value = serde_json::from_slice(&op(json!({"type": "GET_HEALTH"})).await.body).unwrap();
    assert_eq!(v["get_health"]["healthy"], true);
    let v: Value = serde_json::from_slice(&op(json!({"type": "GET_AGENT"})).await.body).unwrap();
    assert!(
        v["get_agent"]["agent_info"]["id"]["value"].is_string(),
        "{v}"
    );
    let v: Value = serde_json::from_slice(&op(json!({"type": "GET_METRICS"})).await.body).unwrap();
    assert!(
        v["get_metrics"]["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "slave/checkpoint_failures"),
        "{v}"
    );
    // LIST_FILES and READ_FILE: the v1 forms of /files (mode a number, mtime in ns, data in
    // base64 with the file's size).
    let v: Value = serde_json::from_slice(
        &op(json!({"type": "LIST_FILES", "list_files": {"path": dir}}))
            .await
            .body,
    )
    .unwrap();
    let out = v["list_files"]["file_infos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"].as_str().unwrap().ends_with("/stdout"))
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(out["size"], 11, "{out}");
    assert!(out["mode"].as_u64().unwrap() & 0o100000 != 0, "{out}");
    assert!(out["mtime"]["nanoseconds"].as_u64().unwrap() > 0, "{out}");
    let v: Value = serde_json::from_slice(
        &op(json!({"type": "READ_FILE", "read_file": {"path": stdout, "offset": 2, "length": 4}}))
            .await
            .body,
    )
    .unwrap();
    assert_eq!(
        v["read_file"],
        json!({"size": 11, "data": "MjM0NQ=="}),
        "{v}"
    );
    let r =
        op(json!({"type": "READ_FILE", "read_file": {"path": "/etc/passwd", "offset": 0}})).await;
    assert_eq!(r.head.status, 404);
    // Nested containers: launch, wait for the exit status, kill.
    let nested = |id: &str| json!({"value": id, "parent": {"value": container}});
    let r = op(
        json!({"type": "LAUNCH_NESTED_CONTAINER", "launch_nested_container": {
        "container_id": nested("n1"), "command": {"shell": true, "value": "echo nested; exit 3"}}}),
    )
    .await;
    assert_eq!(r.head.status, 200, "{}", text(&r));
    let w: Value = serde_json::from_slice(
        &op(json!({"type": "WAIT_NESTED_CONTAINER", "wait_nested_container": {"container_id": nested("n1")}}))
            .await
            .body,
    )
    .unwrap();
    assert_eq!(w["wait_nested_container"]["exit_status"], 3 << 8);
    let out = std::fs::read_to_string(format!("{dir}/containers/n1/stdout")).unwrap();
    assert_eq!(out, "nested\n");
    let r = op(
        json!({"type": "LAUNCH_NESTED_CONTAINER", "launch_nested_container": {
        "container_id": nested("n2"), "command": {"shell": true, "value": "sleep 60"}}}),
    )
    .await;
    assert_eq!(r.head.status, 200);
    let r = op(
        json!({"type": "KILL_NESTED_CONTAINER", "kill_nested_container": {
        "container_id": nested("n2"), "signal": 9}}),
    )
    .await;
    assert_eq!(r.head.status, 200);
    let w: Value = serde_json::from_slice(
        &op(json!({"type": "WAIT_NESTED_CONTAINER", "wait_nested_container": {"container_id": nested("n2")}}))
            .await
            .body,
    )
    .unwrap();
    assert_eq!(w["wait_nested_container"]["exit_status"], 9);
    // REMOVE_NESTED_CONTAINER: a running one is refused; an ended one goes, sandbox and all.
    let r = op(
        json!({"type": "LAUNCH_NESTED_CONTAINER", "launch_nested_container": {
        "container_id": nested("n3"), "command": {"shell": true, "value": "sleep 60"}}}),
    )
    .await;
    assert_eq!(r.head.status, 200);
    let remove = |id: &str| {
        json!({"type": "REMOVE_NESTED_CONTAINER",
               "remove_nested_container": {"container_id": nested(id)}})
    };
    assert_eq!(op(remove("n3")).await.head.status, 400);
    let kill = json!({"type": "KILL_NESTED_CONTAINER", "kill_nested_container": {
        "container_id": nested("n3"), "signal": 9}});
    assert_eq!(op(kill).await.head.status, 200);
    let wait = json!({"type": "WAIT_NESTED_CONTAINER",
                      "wait_nested_container": {"container_id": nested("n3")}});
    assert_eq!(op(wait).await.head.status, 200);
    assert!(std::path::Path::new(&format!("{dir}/containers/n3")).exists());
    assert_eq!(op(remove("n3")).await.head.status, 200);
    assert!(!std::path::Path::new(&format!("{dir}/containers/n3")).exists());
    assert_eq!(op(remove("n3")).await.head.status, 404);
    // Unknown parent: 404; no parent: 400; a duplicate: 202 (launched already, as Mesos says).
    let orphan = json!({"value": "x", "parent": {"value": "nope"}});
    let r = op(
        json!({"type": "LAUNCH_NESTED_CONTAINER", "launch_nested_container": {
        "container_id": orphan, "command": {"value": "true"}}}),
    )
    .await;
    assert_eq!(r.head.status, 404);
    let r = op(
        json!({"type": "LAUNCH_NESTED_CONTAINER", "launch_nested_container": {
        "container_id": {"value": "top"}, "command": {"value": "true"}}}),
    )
    .await;
    assert_eq!(r.head.status, 400);
    let r = op(
        json!({"type": "LAUNCH_NESTED_CONTAINER", "launch_nested_container": {
        "container_id": nested("n1"), "command": {"value": "true"}}}),
    )
    .await;
    assert_eq!(r.head.status, 202);
    let v: Value =
        serde_json::from_slice(&op(json!({"type": "GET_CONTAINERS"})).await.body).unwrap();
    assert!(v["get_containers"]["containers"].as_array().unwrap().len() >= 3);
    // A session streams the container's output back as ProcessIO records until it ends.
    let r = op(
        json!({"type": "LAUNCH_NESTED_CONTAINER_SESSION", "launch_nested_container_session": {
        "container_id": nested("s1"), "command": {"value": "echo to-out; echo to-err >&2"}}}),
    )
    .await;
    assert_eq!(r.head.status, 200, "{}", text(&r));
    let mut got: Vec<(String, String)> = Vec::new();
    let mut rest = &r.body[..];
    while let Some(nl) = rest.iter().position(|b| *b == b'\n') {
        let len: usize = std::str::from_utf8(&rest[..nl]).unwrap().parse().unwrap();
        let rec: Value = serde_json::from_slice(&rest[nl + 1..nl + 1 + len]).unwrap();
        rest = &rest[nl + 1 + len..];
        assert_eq!(rec["type"], "DATA", "{rec}");
        let data =
            mesos_api::serde_util::base64_decode(rec["data"]["data"].as_str().unwrap()).unwrap();
        got.push((
            rec["data"]["type"].as_str().unwrap().to_string(),
            String::from_utf8(data).unwrap(),
        ));
    }
    assert!(
        got.contains(&("STDOUT".into(), "to-out\n".into())),
        "{got:?}"
    );
    assert!(
        got.contains(&("STDERR".into(), "to-err\n".into())),
        "{got:?}"
    );
    // An interactive session: its output streams (here in protobuf) while
    // ATTACH_CONTAINER_INPUT, a streamed request, feeds its input.
    let session = json!({"type": "LAUNCH_NESTED_CONTAINER_SESSION",
        "launch_nested_container_session": {"container_id": nested("s2"),
        "command": {"value": "read a; echo \"got $a\"; read b; echo \"and $b\" >&2; cat; echo done"}}});
    let (head, mut output) = httpc::stream(
        a,
        "POST",
        &format!("{prefix}/api/v1"),
        &[
            JSON,
            ("Accept", "application/recordio"),
            ("Message-Accept", "application/x-protobuf"),
        ],
        session.to_string().as_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("message-content-type"),
        Some("application/x-protobuf")
    );
    let input = |io: Value| json!({"type": "ATTACH_CONTAINER_INPUT", "attach_container_input": io});
    let stdin = |text: &str| {
        input(json!({"type": "PROCESS_IO", "process_io": {"type": "DATA",
            "data": {"type": "STDIN", "data": mesos_api::serde_util::base64_encode(text.as_bytes())}}}))
    };
    let mut body = Vec::new();
    for rec in [
        input(json!({"type": "CONTAINER_ID", "container_id": nested("s2")})),
        stdin("hello\n"),
        input(
            json!({"type": "PROCESS_IO", "process_io": {"type": "CONTROL",
            "control": {"type": "HEARTBEAT", "heartbeat": {"interval": {"nanoseconds": 1000000000u64}}}}}),
        ),
        stdin("world\n"),
        stdin("rest\n"),
        stdin(""),
    ] {
        body.extend(httpc::record(rec.to_string().as_bytes()));
    }
    let recordio = [
        ("Content-Type", "application/recordio"),
        ("Message-Content-Type", "application/json"),
    ];
    let r = httpc::request(a, "POST", &format!("{prefix}/api/v1"), &recordio, &body)
        .await
        .unwrap();
    assert_eq!(r.head.status, 200, "{}", text(&r));
    let mut out = String::new();
    let mut err = String::new();
    while let Some(rec) = tokio::time::timeout(LIMIT, output.next_record())
        .await
        .expect("the session's output")
        .unwrap()
    {
        let io = mesos_api::protobuf::decode(mesos_api::protobuf::AGENT_PROCESS_IO, &rec).unwrap();
        let data =
            mesos_api::serde_util::base64_decode(io["data"]["data"].as_str().unwrap()).unwrap();
        let text = String::from_utf8(data).unwrap();
        match io["data"]["type"].as_str() {
            Some("STDOUT") => out.push_str(&text),
            _ => err.push_str(&text),
        }
    }
    assert_eq!(out, "got hello\nrest\ndone\n");
    assert_eq!(err, "and world\n");
    // A session with a terminal: the command sees one, of the size asked for, resized by a
    // TTY_INFO control record.
    let session = json!({"type": "LAUNCH_NESTED_CONTAINER_SESSION",
        "launch_nested_container_session": {"container_id": nested("t1"),
        "command": {"value": "test -t 0 && echo tty-yes; stty size; read x; stty size; echo \"got $x\""},
        "container": {"type": "MESOS", "tty_info": {"window_size": {"rows": 30, "columns": 100}}}}});
    let (head, mut output) = httpc::stream(
        a,
        "POST",
        &format!("{prefix}/api/v1"),
        &[JSON],
        session.to_string().as_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(head.status, 200);
    let mut screen = String::new();
    while !screen.contains("30 100") {
        screen.push_str(
            &next_tty_output(&mut output)
                .await
                .expect("the output ended early"),
        );
    }
    assert!(screen.contains("tty-yes"), "{screen:?}");
    let mut body = Vec::new();
    for rec in [
        input(json!({"type": "CONTAINER_ID", "container_id": nested("t1")})),
        input(
            json!({"type": "PROCESS_IO", "process_io": {"type": "CONTROL",
            "control": {"type": "TTY_INFO", "tty_info": {"window_size": {"rows": 40, "columns": 120}}}}}),
        ),
        stdin("hi\n"),
        stdin(""),
    ] {
        body.extend(httpc::record(rec.to_string().as_bytes()));
    }
    let r = httpc::request(a, "POST", &format!("{prefix}/api/v1"), &recordio, &body)
        .await
        .unwrap();
    assert_eq!(r.head.status, 200, "{}", text(&r));
    while let Some(more) = next_tty_output(&mut output).await {
        screen.push_str(&more);
    }
    assert!(screen.contains("40 120"), "{screen:?}");
    assert!(screen.contains("got hi"), "{screen:?}");
    // Attaching to what is not a session: 400; to nothing: 404; input not streamed: 400.
    let attach_output = |id: Value| json!({"type": "ATTACH_CONTAINER_OUTPUT", "attach_container_output": {"container_id": id}});
    assert_eq!(op(attach_output(nested("n1"))).await.head.status, 400);
    assert_eq!(op(attach_output(nested("nope"))).await.head.status, 404);
    assert_eq!(
        op(input(
            json!({"type": "CONTAINER_ID", "container_id": nested("s2")})
        ))
        .await
        .head
        .status,
        400
    );
    let mut body = Vec::new();
    body.extend(httpc::record(
        input(json!({"type": "CONTAINER_ID", "container_id": nested("n1")}))
            .to_string()
            .as_bytes(),
    ));
    let r = httpc::request(a, "POST", &format!("{prefix}/api/v1"), &recordio, &body)
        .await
        .unwrap();
    assert_eq!(r.head.status, 400, "{}", text(&r));
    // Containers nest 32 levels deep, and no deeper.
    let mut id = json!({"value": container});
    for level in 1..=33 {
        id = json!({"value": format!("d{level}"), "parent": id});
        let r = op(
            json!({"type": "LAUNCH_NESTED_CONTAINER", "launch_nested_container": {
            "container_id": id.clone(), "command": {"value": "sleep 30"}}}),
        )
        .await;
        if level <= 32 {
            assert_eq!(r.head.status, 200, "level {level}: {}", text(&r));
        } else {
            assert_eq!(r.head.status, 400, "level {level}: {}", text(&r));
            assert!(text(&r).contains("32"), "{}", text(&r));
        }
    }
}

/// A binary-transport framework (the Rust SDK) that counts its offers and declines them.
struct OfferWatcher(tokio::sync::mpsc::UnboundedSender<usize>);

impl mesos_scheduler::Scheduler for OfferWatcher {
    fn offers(
        &mut self,
        d: &mut mesos_scheduler::Driver,
        o: Vec<mesos_api::protocol::offer::Offer>,
    ) {
        let _ = self.0.send(o.len());
        let ids = o.into_iter().map(|o| o.id).collect();
        d.decline(
            ids,
            Some(mesos_api::protocol::offer::Filters {
                refuse_seconds: 0.0,
            }),
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_and_binary_frameworks_share_offers() {
    let l = local(2).await;
    let mut s = subscribe(&l.addr, &subscribe_call("http-side")).await;
    let rt = libprocess::Runtime::local().await.unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let master = libprocess::UPID::new("master", l.addr.parse().unwrap());
    let info = mesos_api::protocol::framework::FrameworkInfo::new("binary-side", "root");
    let _pid = mesos_scheduler::start(&rt, master, info, OfferWatcher(tx)).unwrap();
    // Both decline with no filter for a while; both keep being offered the agents.
    let (mut http, mut binary) = (0usize, 0usize);
    let shared = tokio::time::timeout(LIMIT, async {
        while http < 5 || binary < 5 {
            while let Ok(n) = rx.try_recv() {
                binary += n;
            }
            let ev = next_of(&mut s.body, "OFFERS").await;
            let ids: Vec<Value> = ev["offers"]["offers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["id"].clone())
                .collect();
            http += ids.len();
            let decline = json!({"framework_id": {"value": s.framework_id}, "type": "DECLINE",
            "decline": {"offer_ids": ids, "filters": {"refuse_seconds": 0.0}}});
            assert_eq!(call(&l.addr, &s, decline).await.head.status, 202);
        }
    })
    .await;
    assert!(
        shared.is_ok(),
        "offers not shared: http {http}, binary {binary}"
    );
    let st: Value =
        serde_json::from_slice(&get(&l.addr, "/master/state").await.unwrap().body).unwrap();
    assert_eq!(st["frameworks"].as_array().unwrap().len(), 2);
    rt.shutdown().await;
}

/// Where `got` differs from `want` (numbers compared as numbers; an empty list and no list are
/// the same, as in protobuf): the paths of what was lost or changed.
fn differences(want: &Value, got: &Value, path: &str, out: &mut Vec<String>) {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, wv) in w {
                let p = format!("{path}.{k}");
                match g.get(k) {
                    Some(gv) => differences(wv, gv, &p, out),
                    None if wv.as_array().is_some_and(Vec::is_empty) => {}
                    None => out.push(p),
                }
            }
        }
        (Value::Array(w), Value::Array(g)) if w.len() == g.len() => {
            for (i, (wv, gv)) in w.iter().zip(g).enumerate() {
                differences(wv, gv, &format!("{path}[{i}]"), out);
            }
        }
        (Value::Number(w), Value::Number(g)) if w.as_f64() == g.as_f64() => {}
        (w, g) if w == g => {}
        _ => out.push(format!("{path}: {want} became {got}")),
    }
}

/// Every operator answer, of the master and of an agent, fits Mesos's v1 schema: its JSON
/// loses nothing through protobuf (each field is Mesos's, of Mesos's shape), and a client
/// accepting only protobuf gets the same answer in protobuf.
#[tokio::test]
async fn operator_answers_fit_the_v1_schema_and_come_in_protobuf() {
    use mesos_api::protobuf;
    let l = local(1).await;
    let a = &l.addr;
    let mut s = subscribe(a, &subscribe_call("schema")).await;
    let task = json!({"name": "sleeper", "task_id": {"value": "sleeper"},
        "labels": {"labels": [{"key": "k", "value": "v"}]},
        "command": {"shell": true, "value": "sleep 60"}});
    let o = run_until_running(a, &mut s, task).await;
    let agent_path = o["url"]["path"].as_str().unwrap().to_string();
    let apis = [
        (
            "/api/v1".to_string(),
            protobuf::MASTER_CALL,
            protobuf::MASTER_RESPONSE,
            &[
                "GET_HEALTH",
                "GET_FLAGS",
                "GET_VERSION",
                "GET_METRICS",
                "GET_LOGGING_LEVEL",
                "GET_STATE",
                "GET_AGENTS",
                "GET_FRAMEWORKS",
                "GET_EXECUTORS",
                "GET_TASKS",
                "GET_ROLES",
                "GET_WEIGHTS",
                "GET_MASTER",
                "GET_QUOTA",
                "GET_OPERATIONS",
                "GET_MAINTENANCE_SCHEDULE",
                "GET_MAINTENANCE_STATUS",
            ][..],
        ),
        (
            format!("{agent_path}/api/v1"),
            protobuf::AGENT_CALL,
            protobuf::AGENT_RESPONSE,
            &[
                "GET_HEALTH",
                "GET_FLAGS",
                "GET_VERSION",
                "GET_METRICS",
                "GET_LOGGING_LEVEL",
                "GET_STATE",
                "GET_AGENT",
                "GET_FRAMEWORKS",
                "GET_EXECUTORS",
                "GET_TASKS",
                "GET_CONTAINERS",
                "GET_OPERATIONS",
            ][..],
        ),
    ];
    let mut lost = Vec::new();
    for (path, call_message, response_message, kinds) in apis {
        for kind in kinds {
            let body = json!({ "type": kind });
            let r = post(a, &path, &[JSON], &body).await;
            assert_eq!(r.head.status, 200, "{path} {kind}: {}", text(&r));
            let answer: Value = serde_json::from_slice(&r.body).unwrap();
            let through = protobuf::decode(
                response_message,
                &protobuf::encode(response_message, &answer).unwrap(),
            )
            .unwrap();
            differences(&answer, &through, &format!("{path} {kind}"), &mut lost);
            // The same call in protobuf, answered in protobuf.
            let pb = protobuf::encode(call_message, &body).unwrap();
            let headers = [
                ("Content-Type", "application/x-protobuf"),
                ("Accept", "application/x-protobuf"),
            ];
            let r = tokio::time::timeout(LIMIT, httpc::request(a, "POST", &path, &headers, &pb))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                r.head.status,
                200,
                "{path} {kind} in protobuf: {}",
                text(&r)
            );
            assert_eq!(
                r.head.header("content-type"),
                Some("application/x-protobuf"),
                "{path} {kind}"
            );
            let decoded = protobuf::decode(response_message, &r.body).unwrap();
            assert_eq!(decoded["type"], *kind, "{path} {kind}");
        }
    }
    // The operator event stream: SUBSCRIBED (the whole state) fits, and comes in protobuf.
    for accept in ["application/json", "application/x-protobuf"] {
        let (head, mut body) = httpc::stream(
            a,
            "POST",
            "/api/v1",
            &[JSON, ("Accept", accept)],
            br#"{"type": "SUBSCRIBE"}"#,
        )
        .await
        .unwrap();
        assert_eq!(head.header("content-type"), Some(accept));
        let rec = tokio::time::timeout(LIMIT, body.next_record())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let ev = if accept == "application/json" {
            serde_json::from_slice(&rec).unwrap()
        } else {
            protobuf::decode(protobuf::MASTER_EVENT, &rec).unwrap()
        };
        assert_eq!(ev["type"], "SUBSCRIBED");
        let through = protobuf::decode(
            protobuf::MASTER_EVENT,
            &protobuf::encode(protobuf::MASTER_EVENT, &ev).unwrap(),
        )
        .unwrap();
        differences(&ev, &through, "SUBSCRIBE", &mut lost);
    }
    assert!(
        lost.is_empty(),
        "answers that do not fit the schema: {lost:#?}"
    );
}

/// The executor API in protobuf, as a Java or Go executor speaks it: an executor (here the test,
/// standing in for the `sleep` the agent started as the executor) subscribes in protobuf and
/// gets SUBSCRIBED, its LAUNCH and then HEARTBEATs (every `--executor_heartbeat_interval`), all
/// protobuf records.
#[tokio::test]
async fn executors_subscribe_in_protobuf_and_hear_heartbeats() {
    use mesos_api::protobuf;
    let l = local_with(1, &["--executor_heartbeat_interval=200ms"]).await;
    let a = &l.addr;
    let mut s = subscribe(a, &subscribe_call("custom-executor")).await;
    let offers = next_of(&mut s.body, "OFFERS").await;
    let o = &offers["offers"]["offers"][0];
    let accept = json!({"framework_id": {"value": s.framework_id}, "type": "ACCEPT", "accept": {
        "offer_ids": [o["id"]],
        "operations": [{"type": "LAUNCH", "launch": {"task_infos": [
            {"name": "t", "task_id": {"value": "t"}, "agent_id": o["agent_id"],
             "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                           {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}}],
             "executor": {"executor_id": {"value": "silent"},
                          "command": {"shell": true, "value": "sleep 30.3"}}}]}}]}});
    assert_eq!(call(a, &s, accept).await.head.status, 202);
    let subscribe = json!({"type": "SUBSCRIBE", "framework_id": {"value": s.framework_id},
        "executor_id": {"value": "silent"}, "subscribe": {}});
    let body = protobuf::encode(protobuf::EXECUTOR_CALL, &subscribe).unwrap();
    let path = format!("{}/api/v1/executor", o["url"]["path"].as_str().unwrap());
    let headers = [
        ("Content-Type", "application/x-protobuf"),
        ("Accept", "application/x-protobuf"),
    ];
    // The agent knows the executor once its launch arrived.
    let (head, mut events) = within(LIMIT, "the executor to be known to the agent", async {
        loop {
            let (head, events) = httpc::stream(a, "POST", &path, &headers, &body)
                .await
                .unwrap();
            if head.status == 200 {
                return (head, events);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert_eq!(head.header("content-type"), Some("application/x-protobuf"));
    let mut kinds = Vec::new();
    while kinds.iter().filter(|k| *k == "HEARTBEAT").count() < 2 {
        let rec = tokio::time::timeout(LIMIT, events.next_record())
            .await
            .expect("no event in time")
            .unwrap()
            .expect("the stream ended");
        let ev = protobuf::decode(protobuf::EXECUTOR_EVENT, &rec).unwrap();
        kinds.push(ev["type"].as_str().unwrap().to_string());
    }
    assert_eq!(kinds[..2], ["SUBSCRIBED", "LAUNCH"], "{kinds:?}");
    common::kill_all("sleep 30.3");
}

/// Offer constraints over the scheduler API: invalid ones refuse the subscription (ERROR) or
/// the UPDATE_FRAMEWORK (400); valid ones decide which agents the framework is offered, and
/// the operator API shows them.
#[tokio::test]
async fn offer_constraints_choose_the_agents_a_framework_is_offered() {
    let l = local_with(1, &["--attributes=rack:r1;level:2"]).await;
    let a = &l.addr;
    let rack = |predicate: Value| {
        json!({"role_constraints": {"*": {"groups": [{"attribute_constraints": [
            {"selector": {"attribute_name": "rack"}, "predicate": predicate}]}]}}})
    };
    let with = |constraints: Value| {
        let mut c = subscribe_call("constrained");
        c["subscribe"]["offer_constraints"] = constraints;
        c
    };
    // A role the framework is not in, a bad regex: ERROR, and the stream ends.
    for (bad, says) in [
        (
            json!({"role_constraints": {"other": {"groups": [{"attribute_constraints": [
                {"selector": {"attribute_name": "rack"}, "predicate": {"exists": {}}}]}]}}}),
            "not contained in the set of roles",
        ),
        (
            rack(json!({"text_matches": {"regex": "r(1"}})),
            "Failed to construct regex",
        ),
    ] {
        let b = serde_json::to_vec(&with(bad)).unwrap();
        let (head, mut body) = httpc::stream(a, "POST", "/api/v1/scheduler", &[JSON], &b)
            .await
            .unwrap();
        assert_eq!(head.status, 200);
        let ev = next_event(&mut body).await;
        assert_eq!(ev["type"], "ERROR", "{ev}");
        let message = ev["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("Offer constraints are not valid"),
            "{message}"
        );
        assert!(message.contains(says), "{message}");
    }
    // Only rack r2: the one agent (rack r1) is never offered.
    let mut s = subscribe(a, &with(rack(json!({"text_equals": {"value": "r2"}})))).await;
    let none = tokio::time::timeout(Duration::from_secs(1), next_of(&mut s.body, "OFFERS")).await;
    assert!(
        none.is_err(),
        "offered an agent the constraints exclude: {none:?}"
    );
    // UPDATE_FRAMEWORK with invalid constraints: 400 with the reason.
    let fid = json!({"value": s.framework_id});
    let update = |constraints: Value| {
        json!({"framework_id": fid, "type": "UPDATE_FRAMEWORK", "update_framework": {
            "framework_info": {"id": fid, "user": "root", "name": "constrained",
                               "failover_timeout": 100},
            "offer_constraints": constraints}})
    };
    let r = call(a, &s, update(rack(json!({})))).await;
    assert_eq!(r.head.status, 400, "{}", text(&r));
    assert!(
        text(&r).contains("'UpdateFramework' call is not valid"),
        "{}",
        text(&r)
    );
    // Rack r1 (or, for `level`, a SCALAR attribute: text predicates hold for it): offered.
    let r = call(
        a,
        &s,
        update(rack(json!({"text_matches": {"regex": "r[0-9]"}}))),
    )
    .await;
    assert_eq!(r.head.status, 200, "{}", text(&r));
    let offers = next_of(&mut s.body, "OFFERS").await;
    assert_eq!(offers["offers"]["offers"].as_array().unwrap().len(), 1);
    let v: Value = serde_json::from_slice(
        &post(a, "/api/v1", &[JSON], &json!({"type": "GET_FRAMEWORKS"}))
            .await
            .body,
    )
    .unwrap();
    let shown = &v["get_frameworks"]["frameworks"][0]["offer_constraints"];
    assert_eq!(
        shown["role_constraints"]["*"]["groups"][0]["attribute_constraints"][0]["predicate"],
        json!({"text_matches": {"regex": "r[0-9]"}}),
        "{v}"
    );
}

/// Standalone containers (LAUNCH_CONTAINER without a parent): launched with their own
/// resources and sandbox (`<work_dir>/sandboxes/<id>`), nested containers under them, waited
/// for, killed and removed with the v1 *_CONTAINER calls.
#[tokio::test]
async fn standalone_containers_launch_nest_wait_kill_and_remove() {
    let l = local(1).await;
    let a = &l.addr;
    let slaves: Value = serde_json::from_slice(&get(a, "/slaves").await.unwrap().body).unwrap();
    let pid = slaves["slaves"][0]["pid"].as_str().unwrap();
    let path = format!("/{}/api/v1", pid.split('@').next().unwrap());
    let op = |body: Value| {
        let path = path.clone();
        async move { post(a, &path, &[JSON], &body).await }
    };
    let solo = json!({"value": "solo"});
    let kid = json!({"value": "kid", "parent": solo});
    let resources = json!([{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                           {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}}]);
    let launch = |id: &Value, command: &str, resources: Option<&Value>| {
        let mut c = json!({"type": "LAUNCH_CONTAINER", "launch_container": {
            "container_id": id, "command": {"value": command}}});
        if let Some(r) = resources {
            c["launch_container"]["resources"] = r.clone();
        }
        c
    };
    // Ids are plain names: no '.' (the containerizer joins nested ids with it).
    let dotted = json!({"value": "a.b"});
    assert_eq!(
        op(launch(&dotted, "true", Some(&resources)))
            .await
            .head
            .status,
        400
    );
    // A standalone container must say what it may use.
    let r = op(launch(&solo, "sleep 30.5", None)).await;
    assert_eq!(r.head.status, 400, "{}", text(&r));
    let r = op(launch(
        &solo,
        "echo alone > out; sleep 30.5",
        Some(&resources),
    ))
    .await;
    assert_eq!(r.head.status, 200, "{}", text(&r));
    assert_eq!(
        op(launch(&solo, "true", Some(&resources)))
            .await
            .head
            .status,
        202
    );
    // Its sandbox, under the agent's work dir.
    let sandbox = eventually_async(LIMIT, "the standalone sandbox", || async {
        find_dir(&l.work, "sandboxes/solo")
            .filter(|d| d.join("out").exists())
            .ok_or("not yet")
    })
    .await;
    assert_eq!(
        std::fs::read_to_string(sandbox.join("out")).unwrap(),
        "alone\n"
    );
    // A container nested in it runs in its sandbox and is waited for.
    let r = op(launch(&kid, "exit 3", None)).await;
    assert_eq!(r.head.status, 200, "{}", text(&r));
    let wait =
        |id: &Value| json!({"type": "WAIT_CONTAINER", "wait_container": {"container_id": id}});
    let v: Value = serde_json::from_slice(&op(wait(&kid)).await.body).unwrap();
    assert_eq!(
        v,
        json!({"type": "WAIT_CONTAINER", "wait_container": {"exit_status": 3 << 8}})
    );
    assert!(sandbox.join("containers/kid").is_dir());
    // Killed with SIGKILL: its wait status says so.
    let kill =
        json!({"type": "KILL_CONTAINER", "kill_container": {"container_id": solo, "signal": 9}});
    assert_eq!(op(kill).await.head.status, 200);
    let v: Value = serde_json::from_slice(&op(wait(&solo)).await.body).unwrap();
    assert_eq!(v["wait_container"]["exit_status"], 9, "{v}");
    // Removed innermost first; then its sandbox is gone.
    let remove =
        |id: &Value| json!({"type": "REMOVE_CONTAINER", "remove_container": {"container_id": id}});
    let r = op(remove(&solo)).await;
    assert_eq!(r.head.status, 400, "{}", text(&r));
    assert_eq!(op(remove(&kid)).await.head.status, 200);
    assert_eq!(op(remove(&solo)).await.head.status, 200);
    assert!(!sandbox.exists());
    assert_eq!(op(wait(&solo)).await.head.status, 404);
}

/// A command task with `tty_info` runs on a terminal of that size, in the terminal's
/// foreground (it reads it); the agent holds the other side, attached to as to a session.
#[tokio::test]
async fn a_task_with_a_terminal_is_attached_to_through_the_agent() {
    let l = local(1).await;
    let a = &l.addr;
    let mut s = subscribe(a, &subscribe_call("tty-task")).await;
    let task = json!({"name": "typist", "task_id": {"value": "typist"},
        "command": {"shell": true,
                    "value": "read x; test -t 0 && echo tty-yes; stty size; echo \"got $x\""},
        "container": {"type": "MESOS", "tty_info": {"window_size": {"rows": 30, "columns": 100}}}});
    run_until_running(a, &mut s, task).await;
    let slaves: Value = serde_json::from_slice(&get(a, "/slaves").await.unwrap().body).unwrap();
    let pid = slaves["slaves"][0]["pid"].as_str().unwrap();
    let api = format!("/{}/api/v1", pid.split('@').next().unwrap());
    let st: Value = serde_json::from_slice(
        &get(a, &api.replace("/api/v1", "/state"))
            .await
            .unwrap()
            .body,
    )
    .unwrap();
    let container = st["frameworks"][0]["executors"][0]["container"].clone();
    let id = json!({"value": container});
    let attach = json!({"type": "ATTACH_CONTAINER_OUTPUT",
        "attach_container_output": {"container_id": id}});
    let (head, mut output) = httpc::stream(a, "POST", &api, &[JSON], attach.to_string().as_bytes())
        .await
        .unwrap();
    assert_eq!(head.status, 200);
    let input = |io: Value| json!({"type": "ATTACH_CONTAINER_INPUT", "attach_container_input": io});
    let mut body = Vec::new();
    for rec in [
        input(json!({"type": "CONTAINER_ID", "container_id": id})),
        input(json!({"type": "PROCESS_IO", "process_io": {"type": "DATA",
            "data": {"type": "STDIN", "data": mesos_api::serde_util::base64_encode(b"hi\n")}}})),
    ] {
        body.extend(httpc::record(rec.to_string().as_bytes()));
    }
    let recordio = [
        ("Content-Type", "application/recordio"),
        ("Message-Content-Type", "application/json"),
    ];
    let r = httpc::request(a, "POST", &api, &recordio, &body)
        .await
        .unwrap();
    assert_eq!(r.head.status, 200, "{}", text(&r));
    let mut screen = String::new();
    while !screen.contains("got hi") {
        match next_tty_output(&mut output).await {
            Some(more) => screen.push_str(&more),
            None => panic!("the output ended early: {screen:?}"),
        }
    }
    assert!(screen.contains("tty-yes"), "{screen:?}");
    assert!(screen.contains("30 100"), "{screen:?}");
    loop {
        let ev = next_of(&mut s.body, "UPDATE").await;
        let st = &ev["update"]["status"];
        if st["state"] == "TASK_FINISHED" {
            break;
        }
        assert_eq!(st["state"], "TASK_RUNNING", "{ev}");
    }
}

/// `/metrics` is every `/metrics/snapshot` value in Prometheus's text format, and Prometheus's
/// own checker (`promtool check metrics`, from Debian's `prometheus`) accepts it. Without
/// promtool the check says why it skips, unless `MESOS_RS_REQUIRE_PROMTOOL=1` (`.ci/test`).
#[tokio::test]
async fn metrics_are_served_for_prometheus_and_promtool_accepts_them() {
    let l = local(1).await;
    let a = &l.addr;
    let mut s = subscribe(a, &subscribe_call("scraped")).await;
    let task = json!({"name": "counted", "task_id": {"value": "counted"},
        "command": {"shell": true, "value": "sleep 30"}});
    run_until_running(a, &mut s, task).await;
    // The master's gauges follow its state within a moment.
    eventually_async(LIMIT, "mesos_master_tasks_running 1", || async {
        let t = text(&get(a, "/metrics").await.map_err(|e| e.to_string())?);
        match t.lines().any(|l| l == "mesos_master_tasks_running 1") {
            true => Ok(()),
            false => Err(t),
        }
    })
    .await;
    // The agent's metrics (Mesos's slave/* set) follow its task too.
    let slave = eventually_async(LIMIT, "the agent's metrics to show the task", || async {
        let r = get(a, "/metrics/snapshot")
            .await
            .map_err(|e| e.to_string())?;
        let m: Value = serde_json::from_slice(&r.body).map_err(|e| e.to_string())?;
        let ok = [
            "slave/registered",
            "slave/tasks_running",
            "slave/executors_running",
        ]
        .iter()
        .all(|k| m[*k] == 1.0)
            && m["slave/cpus_used"].as_f64().unwrap_or(0.0) > 0.0;
        if ok {
            Ok(m)
        } else {
            Err(m.to_string())
        }
    })
    .await;
    for name in [
        "slave/uptime_secs",
        "slave/recovery_errors",
        "slave/recovery_time_secs",
        "slave/frameworks_active",
        "slave/tasks_staging",
        "slave/tasks_starting",
        "slave/tasks_finished",
        "slave/tasks_failed",
        "slave/tasks_killed",
        "slave/tasks_lost",
        "slave/executors_registering",
        "slave/executors_terminating",
        "slave/executors_terminated",
        "slave/executors_preempted",
        "slave/container_launch_errors",
        "slave/invalid_status_updates",
        "slave/valid_framework_messages",
        "slave/invalid_framework_messages",
        "containerizer/mesos/container_destroy_errors",
        "slave/cpus_total",
        "slave/cpus_percent",
        "slave/mem_total",
        "slave/mem_used",
        "slave/mem_percent",
        "slave/disk_total",
        "slave/disk_used",
        "slave/disk_percent",
        "slave/gpus_total",
        "slave/gpus_used",
        "slave/gpus_percent",
    ] {
        assert!(slave[name].is_number(), "no {name} in {slave}");
    }
    // STARTING and RUNNING, from the executor.
    assert!(
        slave["slave/valid_status_updates"].as_f64() >= Some(2.0),
        "{slave}"
    );
    assert_eq!(slave["slave/cpus_total"], 2.0, "{slave}");
    // The framework's own metrics (--publish_per_framework_metrics, on by default).
    let prefix = format!("master/frameworks/scraped/{}/", s.framework_id);
    let fw = eventually_async(LIMIT, "the framework's metrics", || async {
        let r = get(a, "/metrics/snapshot")
            .await
            .map_err(|e| e.to_string())?;
        let m: Value = serde_json::from_slice(&r.body).map_err(|e| e.to_string())?;
        let ok = m[format!("{prefix}subscribed")] == 1.0
            && m[format!("{prefix}tasks/active/task_running")] == 1.0;
        if ok {
            Ok(m)
        } else {
            Err(m.to_string())
        }
    })
    .await;
    for (what, at_least) in [
        ("calls", 2.0),
        ("calls/accept", 1.0),
        ("calls/acknowledge", 1.0),
        ("events", 3.0),
        ("events/offers", 1.0),
        ("events/update", 2.0),
        ("offers/sent", 1.0),
        ("offers/accepted", 1.0),
    ] {
        let v = fw[format!("{prefix}{what}")].as_f64().unwrap_or(0.0);
        assert!(v >= at_least, "{prefix}{what} is {v}: {fw}");
    }
    // Renamed (UPDATE_FRAMEWORK), its metrics go under the new name and counting goes on there.
    let update = json!({"framework_id": {"value": s.framework_id}, "type": "UPDATE_FRAMEWORK",
        "update_framework": {"framework_info": {"user": "root", "name": "renamed",
            "failover_timeout": 100, "id": {"value": s.framework_id}}}});
    let r = call(a, &s, update).await;
    assert!((200..300).contains(&r.head.status), "{}", text(&r));
    let revive = json!({"framework_id": {"value": s.framework_id}, "type": "REVIVE"});
    assert_eq!(call(a, &s, revive).await.head.status, 202);
    let renamed = format!("master/frameworks/renamed/{}/", s.framework_id);
    eventually_async(LIMIT, "the renamed framework's metrics", || async {
        let r = get(a, "/metrics/snapshot")
            .await
            .map_err(|e| e.to_string())?;
        let m: Value = serde_json::from_slice(&r.body).map_err(|e| e.to_string())?;
        let old_left = m
            .as_object()
            .is_some_and(|o| o.keys().any(|k| k.starts_with(&prefix)));
        // `calls` was counted under the old name too: its handle must not be the old one.
        let counted =
            m[format!("{renamed}calls/revive")] == 1.0 && m[format!("{renamed}calls")] == 1.0;
        if counted && !old_left {
            Ok(())
        } else {
            Err(m.to_string())
        }
    })
    .await;
    let r = get(a, "/metrics").await.unwrap();
    assert_eq!(r.head.status, 200);
    assert_eq!(
        r.head.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = text(&r);
    let snapshot: Value =
        serde_json::from_slice(&get(a, "/metrics/snapshot").await.unwrap().body).unwrap();
    let helped: std::collections::HashSet<&str> = text
        .lines()
        .filter_map(|l| l.split_once(" Mesos metric "))
        .map(|(_, name)| name)
        .collect();
    let statistic = |k: &str| {
        k.rsplit_once('/').is_some_and(|(stem, stat)| {
            stem.ends_with("_ms")
                && [
                    "count", "min", "max", "p50", "p90", "p95", "p99", "p999", "p9999",
                ]
                .contains(&stat)
        })
    };
    for key in snapshot.as_object().unwrap().keys() {
        // A timer's statistics are its summary's quantiles and count.
        if !statistic(key) {
            assert!(helped.contains(key.as_str()), "'{key}' is not at /metrics");
        }
    }
    assert!(
        text.lines()
            .any(|l| l.starts_with("mesos_allocator_mesos_allocation_run_seconds_count ")),
        "{text}"
    );
    let promtool = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match promtool {
        Ok(c) => c,
        Err(e) if std::env::var("MESOS_RS_REQUIRE_PROMTOOL").as_deref() == Ok("1") => {
            panic!("promtool is required (apt-get install prometheus): {e}")
        }
        Err(e) => {
            println!("promtool check skipped: no promtool ({e}); .ci/test installs it");
            return;
        }
    };
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The next chunk of a terminal session's output (all STDOUT; JSON records); None at its end.
async fn next_tty_output(output: &mut Body) -> Option<String> {
    let rec = tokio::time::timeout(LIMIT, output.next_record())
        .await
        .expect("the terminal's output")
        .unwrap()?;
    let io: Value = serde_json::from_slice(&rec).unwrap();
    assert_eq!(io["data"]["type"], "STDOUT", "{io}");
    let data = mesos_api::serde_util::base64_decode(io["data"]["data"].as_str().unwrap()).unwrap();
    Some(String::from_utf8(data).unwrap())
}

/// The directory below `root` whose path ends with `suffix`, if any.
fn find_dir(root: &std::path::Path, suffix: &str) -> Option<std::path::PathBuf> {
    let mut todo = vec![root.to_path_buf()];
    while let Some(d) = todo.pop() {
        if d.ends_with(suffix) {
            return Some(d);
        }
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                todo.push(e.path());
            }
        }
    }
    None
}

/// `--log_dir`: the process logs to `<log_dir>/<binary>.INFO`, which the master serves as
/// `/master/log` (classic `/files/*`, LIST_FILES, READ_FILE) and the agent as `/slave/log`;
/// other paths are not found on the master.
#[tokio::test]
async fn the_log_is_served_as_master_log_and_slave_log() {
    let logs = std::env::temp_dir().join(format!("mesos-logs-{}", mesos_api::ids::new_uuid()));
    let l = local_with(1, &[&format!("--log_dir={}", logs.display())]).await;
    let a = &l.addr;
    let file = logs.join("mesos-local.INFO");
    let log = eventually_async(
        LIMIT,
        "the log to show both sides of the registration",
        || async {
            let r = get(a, "/files/read?path=/master/log&offset=0")
                .await
                .unwrap();
            let v: Value = serde_json::from_slice(&r.body).map_err(|e| e.to_string())?;
            let data = v["data"].as_str().unwrap_or("").to_string();
            // The master's line and the agent's (one process, one log).
            if data.contains("registered agent") && data.contains("registered with the master") {
                Ok(data)
            } else {
                Err(format!("{v}"))
            }
        },
    )
    .await;
    assert!(std::fs::read_to_string(&file)
        .unwrap()
        .starts_with(&log[..20]));
    let op = |body: Value| async move { post(a, "/api/v1", &[JSON], &body).await };
    let v: Value = serde_json::from_slice(
        &op(json!({"type": "READ_FILE", "read_file": {"path": "/master/log", "offset": 0, "length": 5}}))
            .await
            .body,
    )
    .unwrap();
    let data =
        mesos_api::serde_util::base64_decode(v["read_file"]["data"].as_str().unwrap()).unwrap();
    assert_eq!(data, log.as_bytes()[..5]);
    assert!(v["read_file"]["size"].as_u64().unwrap() >= log.len() as u64);
    let r = op(json!({"type": "LIST_FILES", "list_files": {"path": "/master/log"}})).await;
    assert_eq!(r.head.status, 200, "{}", text(&r));
    let r =
        op(json!({"type": "READ_FILE", "read_file": {"path": "/etc/passwd", "offset": 0}})).await;
    assert_eq!(r.head.status, 404);
    assert_eq!(
        get(a, "/files/read?path=/etc/passwd&offset=0")
            .await
            .unwrap()
            .head
            .status,
        404
    );
    let r = get(a, "/files/download?path=/master/log").await.unwrap();
    assert!(String::from_utf8_lossy(&r.body).contains("registered agent"));
    // The agent's own name for it.
    let slaves: Value = serde_json::from_slice(&get(a, "/slaves").await.unwrap().body).unwrap();
    let pid = slaves["slaves"][0]["pid"].as_str().unwrap();
    let prefix = format!("/{}", pid.split('@').next().unwrap());
    let r = get(a, &format!("{prefix}/files/read?path=/slave/log&offset=0"))
        .await
        .unwrap();
    assert!(
        text(&r).contains("registered with the master"),
        "{}",
        text(&r)
    );
    drop(l);
    let _ = std::fs::remove_dir_all(&logs);
}

/// The logrotate container logger (`--container_logger` with Mesos's `--modules` JSON): a
/// chatty task's stdout is rotated by size by the system's logrotate, keeping as many files as
/// the options say, each under the limit, and the sandbox browser lists the rotated files.
/// Without logrotate it says why it skips, unless `MESOS_RS_REQUIRE_LOGROTATE=1` (`.ci/test`).
#[tokio::test]
async fn a_chatty_tasks_output_is_rotated_by_size_and_browsable() {
    let found = std::process::Command::new("sh")
        .args(["-c", "logrotate --version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        if std::env::var("MESOS_RS_REQUIRE_LOGROTATE").as_deref() == Ok("1") {
            panic!("logrotate is required (apt-get install logrotate)");
        }
        println!("skipped: no logrotate; .ci/test installs it");
        return;
    }
    let modules = json!({"libraries": [{
        "file": "/usr/local/lib/liblogrotate_container_logger.so",
        "modules": [{"name": "org_apache_mesos_LogrotateContainerLogger", "parameters": [
            {"key": "max_stdout_size", "value": "8KB"},
            {"key": "logrotate_stdout_options", "value": "rotate 2"}]}]}]});
    let l = local_with(
        1,
        &[
            "--container_logger=org_apache_mesos_LogrotateContainerLogger",
            &format!("--modules={modules}"),
        ],
    )
    .await;
    let a = &l.addr;
    let mut s = subscribe(a, &subscribe_call("chatty")).await;
    // 40 lines of 1001 bytes, then a marker; stderr stays small.
    let script = "i=0; while [ $i -lt 40 ]; do printf '%01000d\\n' $i; i=$((i+1)); done; \
                  echo the-end; echo a-warning >&2; sleep 60";
    let task = json!({"name": "chatty", "task_id": {"value": "chatty"},
        "command": {"shell": true, "value": script}});
    run_until_running(a, &mut s, task).await;
    let slaves: Value = serde_json::from_slice(&get(a, "/slaves").await.unwrap().body).unwrap();
    let pid = slaves["slaves"][0]["pid"].as_str().unwrap();
    let prefix = format!("/{}", pid.split('@').next().unwrap());
    let st: Value =
        serde_json::from_slice(&get(a, &format!("{prefix}/state")).await.unwrap().body).unwrap();
    let dir = st["frameworks"][0]["executors"][0]["directory"]
        .as_str()
        .unwrap()
        .to_string();
    // The sandbox as the browser lists it: name and size of each file.
    let listing = || async {
        let r = get(a, &format!("{prefix}/files/browse?path={dir}"))
            .await
            .map_err(|e| e.to_string())?;
        let v: Value = serde_json::from_slice(&r.body).map_err(|e| e.to_string())?;
        let mut files: Vec<(String, u64)> = v
            .as_array()
            .ok_or("not a listing")?
            .iter()
            .map(|e| {
                let p = e["path"].as_str().unwrap_or_default();
                let name = p.rsplit('/').next().unwrap_or_default().to_string();
                (name, e["size"].as_u64().unwrap_or(0))
            })
            .collect();
        files.sort();
        Ok::<_, String>(files)
    };
    eventually_async(
        LIMIT,
        "the end of the output in the leading stdout",
        || async {
            let r = get(
                a,
                &format!("{prefix}/files/read?path={dir}/stdout&offset=0"),
            )
            .await
            .map_err(|e| e.to_string())?;
            let v: Value = serde_json::from_slice(&r.body).map_err(|e| e.to_string())?;
            match v["data"].as_str() {
                Some(d) if d.ends_with("the-end\n") => Ok(()),
                other => Err(format!(
                    "stdout is {other:?}; sandbox {:?}",
                    listing().await
                )),
            }
        },
    )
    .await;
    let files = listing().await.unwrap();
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    for want in ["stdout", "stdout.1", "stdout.2", "stderr"] {
        assert!(names.contains(&want), "no {want} in {files:?}");
    }
    // `rotate 2`: older files are gone; stderr, under its limit, was never rotated.
    assert!(!names.contains(&"stdout.3"), "{files:?}");
    assert!(!names.contains(&"stderr.1"), "{files:?}");
    for (n, size) in &files {
        if n.starts_with("stdout") && !n.contains("logrotate") {
            assert!(*size <= 8192, "{n} is {size} bytes: {files:?}");
        }
    }
    let kept: u64 = files
        .iter()
        .filter(|(n, _)| ["stdout", "stdout.1", "stdout.2"].contains(&n.as_str()))
        .map(|(_, s)| s)
        .sum();
    assert!(
        kept < 40 * 1001,
        "{kept} bytes kept: nothing was dropped? {files:?}"
    );
    // The kept files, oldest first, are the end of the output, in order, with nothing lost
    // at a rotation (a rotation may split a line).
    let mut kept_text = String::new();
    for f in ["stdout.2", "stdout.1", "stdout"] {
        let r = get(a, &format!("{prefix}/files/read?path={dir}/{f}&offset=0"))
            .await
            .unwrap();
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        kept_text.push_str(v["data"].as_str().unwrap());
    }
    let mut all: String = (0..40).map(|i| format!("{i:01000}\n")).collect();
    all.push_str("the-end\n");
    assert!(all.ends_with(&kept_text), "{} bytes kept", kept_text.len());
}
