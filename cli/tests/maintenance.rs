//! Maintenance primitives with the real binaries and the file registry: a window scheduled over
//! one of two agents' machines, the inverse offer its framework gets and answers, offers with
//! unavailability, the machine brought down (its task ends, its agent shuts down and may not
//! register), all of it still true after the master restarts, and the machine brought up.

use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mesos_agent::httpc;
use mesos_api::protocol::framework::FrameworkInfo;
use mesos_api::protocol::offer::Filters;
use mesos_api::protocol::task::TaskState;
use mesos_detector::MasterSpec;
use mesos_scheduler::SchedulerProcess;
use serde_json::{json, Value};
use testkit::{command_task, eventually_async, free_port, next, Proc, Recorder, Seen};
use tokio::sync::mpsc;

const LIMIT: Duration = Duration::from_secs(40);

type Framework = libprocess::PID<SchedulerProcess<Recorder>>;

async fn request(port: u16, method: &str, path: &str, body: &Value) -> (u16, Value) {
    let addr = format!("127.0.0.1:{port}");
    let body = if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    let r = tokio::time::timeout(
        LIMIT,
        httpc::request(
            &addr,
            method,
            path,
            &[("Content-Type", "application/json")],
            &body,
        ),
    )
    .await
    .expect("an answer")
    .expect("a response");
    let v = serde_json::from_slice(&r.body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&r.body).into()));
    (r.head.status, v)
}

async fn get(port: u16, path: &str) -> Value {
    let (st, v) = request(port, "GET", path, &Value::Null).await;
    assert_eq!(st, 200, "{path}: {v}");
    v
}

/// The registered agents' (hostname, id, IP).
async fn agents(port: u16) -> Vec<(String, String, String)> {
    let v = get(port, "/master/slaves").await;
    v["slaves"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            let pid = a["pid"].as_str().unwrap_or_default();
            let ip = pid
                .split('@')
                .nth(1)
                .and_then(|hp| hp.rsplit_once(':'))
                .map(|(h, _)| h.to_string())
                .unwrap_or_default();
            (
                a["hostname"].as_str().unwrap_or_default().to_string(),
                a["id"].as_str().unwrap_or_default().to_string(),
                ip,
            )
        })
        .collect()
}

async fn agent_count_is(port: u16, n: usize, what: &str) {
    eventually_async(LIMIT, what, || async {
        match agents(port).await.len() {
            k if k == n => Ok(()),
            k => Err(format!("{k} agents")),
        }
    })
    .await;
}

/// Waits for `p` to exit by itself.
async fn exits(p: &mut Proc, what: &str) {
    eventually_async(LIMIT, what, || {
        let r = p.try_wait();
        async move {
            match r {
                Ok(Some(_)) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await;
}

/// A `mesos-master` on `port` with the file registry under `work/master`, and `extra` flags.
fn master_proc(port: u16, work: &std::path::Path, extra: &[&str]) -> Proc {
    Proc::spawn(
        testkit::command(env!("CARGO_BIN_EXE_mesos-master"))
            .args([
                format!("--port={port}"),
                "--registry=replicated_log".into(),
                format!("--work_dir={}", work.join("master").display()),
            ])
            .args(extra)
            .stderr(Stdio::null()),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_machine_is_offered_with_unavailability_brought_down_and_up_across_a_master_restart(
) {
    let work =
        std::env::temp_dir().join(format!("mesos-maintenance-{}", mesos_api::ids::new_uuid()));
    let port = free_port();
    let master = || master_proc(port, &work, &["--allocation_interval=50ms"]);
    let mut m = master();
    let fixed = format!("127.0.0.1:{port}");
    m.await_listening(&fixed, LIMIT);
    let agent = |host: &str| {
        Proc::spawn(
            testkit::command(env!("CARGO_BIN_EXE_mesos-agent"))
                .args([
                    format!("--master={fixed}"),
                    format!("--work_dir={}", work.join(host).display()),
                    format!("--hostname={host}"),
                    "--port=0".into(),
                    "--resources=cpus:2;mem:256".into(),
                    "--registration_backoff_factor=100ms".into(),
                ])
                .stderr(Stdio::null()),
        )
    };
    let mut agent_a = agent("maint-a");
    let _agent_b = agent("maint-b");
    agent_count_is(port, 2, "two agents registered").await;
    let all = agents(port).await;
    let find = |h: &str| all.iter().find(|a| a.0 == h).cloned().unwrap();
    let (_, a_id, a_ip) = find("maint-a");
    let (_, b_id, b_ip) = find("maint-b");
    let machine_a = json!({"hostname": "maint-a", "ip": a_ip});
    let machine_b = json!({"hostname": "maint-b", "ip": b_ip});

    // A framework runs a task on agent a.
    let rt = libprocess::Runtime::local().await.unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut info = FrameworkInfo::new("maintained", "root");
    info.failover_timeout = 300.0;
    let spec = MasterSpec::parse(&fixed).unwrap();
    let fw: Framework =
        mesos_scheduler::start_detected(&rt, &spec, Duration::from_secs(10), info, Recorder(tx))
            .unwrap();
    let mut b_offer = None;
    let mut launched = false;
    while !launched || b_offer.is_none() {
        if let Seen::Offers(offers) = next(&mut rx, LIMIT).await {
            for o in offers {
                if o.agent_id.value == b_id {
                    b_offer = Some(o);
                } else if o.agent_id.value == a_id && !launched {
                    let task = command_task("on-a", &o.agent_id, "sleep 600", "cpus:1;mem:64");
                    let oid = o.id.clone();
                    fw.dispatch(move |p: &mut SchedulerProcess<Recorder>, _| {
                        p.driver().launch(&oid, vec![task], None)
                    })
                    .await
                    .unwrap();
                    launched = true;
                }
            }
        }
    }
    assert_eq!(b_offer.unwrap().unavailability, None);
    loop {
        if let Seen::Update(s) = next(&mut rx, LIMIT).await {
            assert!(!s.state.is_terminal(), "{s:?}");
            if s.state == TaskState::Running {
                break;
            }
        }
    }

    // A malformed schedule is refused with Mesos's words; a good one is taken.
    let start = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
        + 3_600_000_000_000;
    let window = |machines: Vec<&Value>| {
        json!({"machine_ids": machines, "unavailability": {
            "start": {"nanoseconds": start}, "duration": {"nanoseconds": 3_600_000_000_000i64}}})
    };
    let (st, body) = request(
        port,
        "POST",
        "/master/maintenance/schedule",
        &json!({"windows": [window(vec![&machine_a, &machine_a])]}),
    )
    .await;
    assert_eq!(st, 400, "{body}");
    assert!(
        body.as_str()
            .unwrap_or_default()
            .contains("appears more than once"),
        "{body}"
    );
    let schedule = json!({"windows": [window(vec![&machine_a])]});
    let (st, body) = request(
        port,
        "POST",
        "/api/v1",
        &json!({"type": "UPDATE_MAINTENANCE_SCHEDULE",
            "update_maintenance_schedule": {"schedule": schedule}}),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(get(port, "/master/maintenance/schedule").await, schedule);

    // The framework is asked to give agent a back, and a's resources come again with the window.
    let mut inverse = None;
    let mut unavailable = false;
    while inverse.is_none() || !unavailable {
        match next(&mut rx, LIMIT).await {
            Seen::InverseOffers(mut list) => {
                assert_eq!(list.len(), 1, "{list:?}");
                let io = list.remove(0);
                assert_eq!(io.agent_id.as_ref().map(|a| a.value.as_str()), Some(&*a_id));
                assert_eq!(io.unavailability.start.nanoseconds, start);
                inverse = Some(io.id);
            }
            Seen::Offers(offers) => {
                for o in offers {
                    if o.agent_id.value == a_id {
                        let u = o.unavailability.expect("a's offer carries the window");
                        assert_eq!(u.start.nanoseconds, start);
                        unavailable = true;
                    } else {
                        assert_eq!(o.unavailability, None, "{o:?}");
                    }
                }
            }
            _ => {}
        }
    }
    let status = get(port, "/master/maintenance/status").await;
    assert_eq!(status["draining_machines"][0]["id"], machine_a, "{status}");
    assert_eq!(
        status["draining_machines"][0]["statuses"][0]["status"], "UNKNOWN",
        "{status}"
    );
    let ioid = inverse.unwrap();
    fw.dispatch(move |p: &mut SchedulerProcess<Recorder>, _| {
        p.driver().decline_inverse_offers(
            vec![ioid],
            Some(Filters {
                refuse_seconds: 3600.0,
            }),
        )
    })
    .await
    .unwrap();
    eventually_async(LIMIT, "the framework's answer in the status", || async {
        let s = get(port, "/master/maintenance/status").await;
        match s["draining_machines"][0]["statuses"][0]["status"].as_str() {
            Some("DECLINE") => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;

    // Only a scheduled machine goes down; a's does: its task is lost, its agent shuts down.
    let (st, body) = request(port, "POST", "/master/machine/down", &json!([machine_b])).await;
    assert_eq!(st, 400, "{body}");
    assert!(
        body.as_str()
            .unwrap_or_default()
            .contains("is not part of a maintenance schedule"),
        "{body}"
    );
    let (st, body) = request(port, "POST", "/master/machine/down", &json!([machine_a])).await;
    assert_eq!(st, 200, "{body}");
    loop {
        if let Seen::Update(s) = next(&mut rx, LIMIT).await {
            if s.task_id.value == "on-a" {
                assert_eq!(s.state, TaskState::Lost, "{s:?}");
                assert_eq!(
                    s.message.as_deref(),
                    Some("Operator initiated 'Machine DOWN'")
                );
                break;
            }
        }
    }
    exits(&mut agent_a, "agent a to shut down").await;
    assert_eq!(agents(port).await.len(), 1);

    // The master restarts: the schedule and the DOWN machine are still there.
    m.kill().unwrap();
    m.wait().unwrap();
    let mut m = master();
    m.await_listening(&fixed, LIMIT);
    let (st, v) = eventually_async(LIMIT, "the restarted master answering", || async {
        let (st, v) = request(
            port,
            "POST",
            "/api/v1",
            &json!({"type": "GET_MAINTENANCE_STATUS"}),
        )
        .await;
        if st == 200 {
            Ok((st, v))
        } else {
            Err(format!("{st}: {v}"))
        }
    })
    .await;
    assert_eq!(st, 200);
    assert_eq!(
        v["get_maintenance_status"]["status"]["down_machines"],
        json!([machine_a]),
        "{v}"
    );
    assert_eq!(get(port, "/master/maintenance/schedule").await, schedule);
    agent_count_is(port, 1, "agent b reregistered").await;

    // Agent a may not register while its machine is down: it is told to shut down.
    let mut again = agent("maint-a");
    exits(&mut again, "agent a to be refused").await;
    assert_eq!(agents(port).await.len(), 1);

    // Brought up, the machine leaves the schedule and its agent registers.
    let (st, body) = request(port, "POST", "/master/machine/up", &json!([machine_b])).await;
    assert_eq!(st, 400, "{body}");
    let (st, body) = request(
        port,
        "POST",
        "/api/v1",
        &json!({"type": "STOP_MAINTENANCE", "stop_maintenance": {"machines": [machine_a]}}),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(
        get(port, "/master/maintenance/schedule").await,
        json!({"windows": []})
    );
    let _back = agent("maint-a");
    agent_count_is(port, 2, "agent a registered again").await;
    let status = get(port, "/master/maintenance/status").await;
    assert_eq!(
        status,
        json!({"draining_machines": [], "down_machines": []})
    );
    drop(rt);
    let _ = std::fs::remove_dir_all(&work);
}

/// The agent's `drain_info.state` in GET_AGENTS and whether it is deactivated (None: not
/// registered, or the master not answering yet).
async fn drain_of(port: u16, id: &str) -> Option<(Option<String>, bool)> {
    let (st, v) = request(port, "POST", "/api/v1", &json!({"type": "GET_AGENTS"})).await;
    if st != 200 {
        // A restarted master still recovering (503).
        return None;
    }
    v["get_agents"]["agents"]
        .as_array()?
        .iter()
        .find(|a| a["agent_info"]["id"]["value"] == id)
        .map(|a| {
            (
                a["drain_info"]["state"].as_str().map(String::from),
                a["deactivated"].as_bool().unwrap_or(false),
            )
        })
}

fn signal(p: &Proc, s: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(p.id() as i32), s).unwrap();
}

/// A drain outlives the agent's unreachability and a master restart: a DRAINED agent that
/// stops answering comes back DRAINED (and deactivated); DRAIN_AGENT is taken for an
/// unreachable agent, kept in the registry across a restart, and applied when it returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_outlives_unreachability_and_a_master_restart() {
    use nix::sys::signal::Signal;
    let work = std::env::temp_dir().join(format!("mesos-drain-{}", mesos_api::ids::new_uuid()));
    let port = free_port();
    let ping = [
        "--agent_ping_timeout=200ms",
        "--max_agent_ping_timeouts=2",
        "--agent_reregister_timeout=30secs",
    ];
    let master = || master_proc(port, &work, &ping);
    let fixed = format!("127.0.0.1:{port}");
    let mut m = master();
    m.await_listening(&fixed, LIMIT);
    let agent = Proc::spawn(
        testkit::command(env!("CARGO_BIN_EXE_mesos-agent"))
            .args([
                format!("--master={fixed}"),
                format!("--work_dir={}", work.join("agent").display()),
                "--port=0".into(),
                "--resources=cpus:1;mem:128".into(),
                "--registration_backoff_factor=100ms".into(),
            ])
            .stderr(Stdio::null()),
    );
    agent_count_is(port, 1, "the agent registered").await;
    let id = agents(port).await[0].1.clone();
    let drained = |want: Option<&'static str>| {
        let id = id.clone();
        async move {
            eventually_async(LIMIT, format!("the agent back with drain {want:?}"), || {
                let id = id.clone();
                async move {
                    match drain_of(port, &id).await {
                        Some((s, deactivated)) if s.as_deref() == want && deactivated => Ok(()),
                        other => Err(format!("{other:?}")),
                    }
                }
            })
            .await
        }
    };
    let drain = json!({"type": "DRAIN_AGENT", "drain_agent": {"agent_id": {"value": id}}});
    let (st, body) = request(port, "POST", "/api/v1", &drain).await;
    assert_eq!(st, 200, "{body}");
    drained(Some("DRAINED")).await;
    // Unreachable (it stops answering pings), then back: still drained.
    signal(&agent, Signal::SIGSTOP);
    agent_count_is(port, 0, "the stopped agent unreachable").await;
    signal(&agent, Signal::SIGCONT);
    drained(Some("DRAINED")).await;
    // Unreachable again: a new drain is taken, survives a master restart, and applies on return.
    signal(&agent, Signal::SIGSTOP);
    agent_count_is(port, 0, "the stopped agent unreachable again").await;
    let (st, body) = request(port, "POST", "/api/v1", &drain).await;
    assert_eq!(st, 200, "a drain of an unreachable agent: {body}");
    m.kill().unwrap();
    m.wait().unwrap();
    let mut m = master();
    m.await_listening(&fixed, LIMIT);
    signal(&agent, Signal::SIGCONT);
    drained(Some("DRAINED")).await;
    m.kill().unwrap();
    let _ = std::fs::remove_dir_all(&work);
}
