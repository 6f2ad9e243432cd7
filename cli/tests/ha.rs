//! High availability with a real ZooKeeper and the real binaries: three masters contending
//! under `--zk`, agents and a framework that detect the leader through ZooKeeper, SIGKILLs of
//! the leader, the answers of masters that do not lead, and a leader cut off from ZooKeeper.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mesos_agent::httpc;
use mesos_api::protocol::framework::FrameworkInfo;
use mesos_api::protocol::task::TaskState;
use mesos_api::TaskID;
use mesos_detector::MasterSpec;
use mesos_scheduler::SchedulerProcess;
use serde_json::{json, Value};
use testkit::{command_task, eventually_async, free_port, next, Proc, Recorder, Seen, ZooKeeper};
use tokio::sync::mpsc;

const LIMIT: Duration = Duration::from_secs(40);
/// The session timeout the masters, agents and framework use here.
const SESSION: Duration = Duration::from_secs(2);

fn bin(name: &str) -> Command {
    testkit::command(match name {
        "mesos-master" => env!("CARGO_BIN_EXE_mesos-master"),
        "mesos-agent" => env!("CARGO_BIN_EXE_mesos-agent"),
        _ => unreachable!(),
    })
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("mesos-ha-{tag}-{}", mesos_api::ids::new_uuid()))
}

fn spawn_master(zk: &str, port: u16) -> Proc {
    Proc::spawn(
        bin("mesos-master")
            .args([
                format!("--port={port}"),
                format!("--zk={zk}"),
                "--quorum=2".into(),
                "--registry=replicated_log".into(),
                format!("--zk_session_timeout={}secs", SESSION.as_secs()),
                "--allocation_interval=50ms".into(),
            ])
            .stderr(Stdio::null()),
    )
}

fn spawn_agent(zk: &str, dir: &std::path::Path) -> Proc {
    Proc::spawn(
        bin("mesos-agent")
            .args([
                format!("--master={zk}"),
                format!("--work_dir={}", dir.display()),
                "--port=0".into(),
                "--resources=cpus:2;mem:256".into(),
                "--registration_backoff_factor=100ms".into(),
                format!("--zk_session_timeout={}secs", SESSION.as_secs()),
            ])
            .stderr(Stdio::null()),
    )
}

async fn get(port: u16, path: &str) -> std::io::Result<httpc::Response> {
    let addr = format!("127.0.0.1:{port}");
    match tokio::time::timeout(
        Duration::from_secs(5),
        httpc::request(&addr, "GET", path, &[], b""),
    )
    .await
    {
        Ok(r) => r,
        Err(_) => Err(std::io::Error::other("no answer within 5 s")),
    }
}

async fn json(port: u16, path: &str) -> Result<Value, String> {
    let r = get(port, path).await.map_err(|e| e.to_string())?;
    if r.head.status != 200 {
        return Err(format!("{path}: {}", r.head.status));
    }
    serde_json::from_slice(&r.body).map_err(|e| e.to_string())
}

/// `master/elected` of the master on `port` (None when it does not answer).
async fn elected(port: u16) -> Option<bool> {
    let v = json(port, "/metrics/snapshot").await.ok()?;
    Some(v["master/elected"].as_f64() == Some(1.0))
}

/// Waits until exactly one of `ports` leads and returns its index.
async fn the_leader(ports: &[Option<u16>]) -> usize {
    let start = Instant::now();
    loop {
        let mut leaders = Vec::new();
        for (i, p) in ports.iter().enumerate() {
            if let Some(p) = p {
                if elected(*p).await == Some(true) {
                    leaders.push(i);
                }
            }
        }
        if let [one] = leaders[..] {
            return one;
        }
        assert!(
            start.elapsed() < LIMIT,
            "no single leader within {LIMIT:?}: {leaders:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A v1 operator call: (status, JSON body or Null).
async fn operator(port: u16, call: Value) -> (u16, Value) {
    let addr = format!("127.0.0.1:{port}");
    let body = serde_json::to_vec(&call).unwrap();
    let r = tokio::time::timeout(
        LIMIT,
        httpc::request(
            &addr,
            "POST",
            "/api/v1",
            &[("Content-Type", "application/json")],
            &body,
        ),
    )
    .await
    .expect("an answer")
    .expect("a response");
    (
        r.head.status,
        serde_json::from_slice(&r.body).unwrap_or(Value::Null),
    )
}

type Framework = libprocess::PID<SchedulerProcess<Recorder>>;

/// A ZooKeeper, its `/mesos` URL, three masters contending there (their ports, processes and
/// the ports of those alive), and the index of the one that leads.
async fn three_masters() -> (
    ZooKeeper,
    String,
    Vec<u16>,
    Vec<Option<Proc>>,
    Vec<Option<u16>>,
    usize,
) {
    let zk = ZooKeeper::start();
    let url = zk.url("/mesos");
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let masters: Vec<Option<Proc>> = ports.iter().map(|p| Some(spawn_master(&url, *p))).collect();
    let alive: Vec<Option<u16>> = ports.iter().map(|p| Some(*p)).collect();
    let leader = the_leader(&alive).await;
    (zk, url, ports, masters, alive, leader)
}

/// Reconciles `tasks` until every one is reported RUNNING by the current leader.
async fn all_running(pid: &Framework, rx: &mut mpsc::UnboundedReceiver<Seen>, tasks: &[&str]) {
    let ids: Vec<TaskID> = tasks.iter().map(|t| TaskID::new(*t)).collect();
    let start = Instant::now();
    let mut running = std::collections::HashSet::new();
    while running.len() < ids.len() {
        assert!(
            start.elapsed() < LIMIT,
            "tasks RUNNING after the failover: {running:?}"
        );
        let ids2 = ids.clone();
        let subscribed = pid
            .dispatch(move |p: &mut SchedulerProcess<Recorder>, _| {
                let d = p.driver();
                if d.is_subscribed() {
                    d.reconcile(ids2.into_iter().map(|t| (t, None)).collect());
                }
                d.is_subscribed()
            })
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        if !subscribed {
            continue;
        }
        while let Ok(ev) = rx.try_recv() {
            if let Seen::Update(s) = ev {
                assert!(
                    !s.state.is_terminal(),
                    "task {} became {:?} across the failover: {:?}",
                    s.task_id.value,
                    s.state,
                    s.message
                );
                if s.state == TaskState::Running {
                    running.insert(s.task_id.value.clone());
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_masters_fail_over_twice_and_every_task_keeps_running() {
    if !ZooKeeper::available("three_masters_fail_over_twice") {
        return;
    }
    let (_zk, url, ports, mut masters, mut alive, leader) = three_masters().await;

    // The others redirect to the leader, as Mesos's do.
    let other = (leader + 1) % 3;
    let lp = ports[leader];
    // A follower may detect the leader a moment after the leader knows it leads (503 "No
    // leader elected" meanwhile).
    let r = eventually_async(LIMIT, "the follower to detect the leader", || async {
        let r = get(ports[other], "/master/state?jsonp=x")
            .await
            .map_err(|e| e.to_string())?;
        match r.head.status {
            503 => Err("503".to_string()),
            _ => Ok(r),
        }
    })
    .await;
    assert_eq!(r.head.status, 307);
    assert_eq!(
        r.head.header("location"),
        Some(&*format!("//localhost:{lp}/master/state?jsonp=x"))
    );
    let r = get(ports[other], "/master/redirect").await.unwrap();
    assert_eq!(
        (r.head.status, r.head.header("location")),
        (307, Some(&*format!("//localhost:{lp}")))
    );
    let r = httpc::request(
        &format!("127.0.0.1:{}", ports[other]),
        "POST",
        "/api/v1/scheduler",
        &[("Content-Type", "application/json")],
        b"{}",
    )
    .await
    .unwrap();
    assert_eq!(
        r.head.status, 307,
        "scheduler API of a master that does not lead"
    );
    // The web UI too (its page and its files).
    for path in ["/", "/webui/app.js"] {
        let r = get(ports[other], path).await.unwrap();
        assert_eq!(
            (r.head.status, r.head.header("location")),
            (307, Some(&*format!("//localhost:{lp}{path}"))),
            "{path}"
        );
    }
    assert_eq!(get(lp, "/").await.unwrap().head.status, 200);
    assert_eq!(get(ports[other], "/health").await.unwrap().head.status, 200);
    assert_eq!(elected(ports[other]).await, Some(false));
    // The leader itself serves.
    let state = json(lp, "/master/state").await.unwrap();
    assert_eq!(state["leader"], state["pid"]);

    let dirs: Vec<_> = (0..2).map(|i| temp_dir(&format!("agent{i}"))).collect();
    let _agents: Vec<Proc> = dirs.iter().map(|d| spawn_agent(&url, d)).collect();
    eventually_async(LIMIT, "both agents registered with the leader", || async {
        let v = json(lp, "/master/slaves").await?;
        match v["slaves"].as_array().map(Vec::len) {
            Some(2) => Ok(()),
            n => Err(format!("{n:?} agents")),
        }
    })
    .await;

    // An HTTP framework pointed at a master that does not lead follows its redirect (to the
    // leader's host name) and runs its task there.
    let mut exec = testkit::command(env!("CARGO_BIN_EXE_mesos-execute"));
    exec.arg(format!("--master=127.0.0.1:{}", ports[other]))
        .args([
            "--name=redirected",
            "--command=true",
            "--resources=cpus:0.1;mem:32",
            "--content_type=json",
        ]);
    let out = tokio::task::spawn_blocking(move || testkit::Proc::run(&mut exec, LIMIT))
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success() && text.contains("TASK_FINISHED"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A framework that finds the master through ZooKeeper launches one task per agent.
    let rt = libprocess::Runtime::local().await.unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut info = FrameworkInfo::new("ha", "root");
    info.failover_timeout = 300.0;
    let spec = MasterSpec::parse(&url).unwrap();
    let pid = mesos_scheduler::start_detected(&rt, &spec, SESSION, info, Recorder(tx)).unwrap();
    let mut launched: Vec<String> = Vec::new();
    let mut agents_used = std::collections::HashSet::new();
    while launched.len() < 2 {
        if let Seen::Offers(offers) = next(&mut rx, LIMIT).await {
            for o in offers {
                let oid = o.id.clone();
                if agents_used.contains(&o.agent_id) || launched.len() == 2 {
                    continue;
                }
                agents_used.insert(o.agent_id.clone());
                let name = format!("long-{}", launched.len());
                let task = command_task(&name, &o.agent_id, "sleep 600", "cpus:1;mem:64");
                launched.push(name);
                pid.dispatch(move |p: &mut SchedulerProcess<Recorder>, _| {
                    p.driver().launch(&oid, vec![task], None)
                })
                .await
                .unwrap();
            }
        }
    }
    let names: Vec<&str> = launched.iter().map(String::as_str).collect();
    all_running(&pid, &mut rx, &names).await;

    // Weights set before the failovers stay in force after them (the registry in ZooKeeper).
    let r = operator(
        lp,
        json!({"type": "UPDATE_WEIGHTS", "update_weights": {"weight_infos": [
        {"role": "dev", "weight": 2.5}]}}),
    )
    .await;
    assert_eq!(r.0, 200, "{}", r.1);

    let mut leader = leader;
    for round in 0..2 {
        let killed = Instant::now();
        if let Some(mut m) = masters[leader].take() {
            m.kill().unwrap();
            m.wait().unwrap();
        }
        alive[leader] = None;
        let next_leader = the_leader(&alive).await;
        let election = killed.elapsed();
        assert!(
            election < SESSION + Duration::from_secs(8),
            "round {round}: a new leader took {election:?}"
        );
        let np = ports[next_leader];
        eventually_async(
            LIMIT,
            "both agents reregistered with the new leader",
            || async {
                let v = json(np, "/master/slaves").await?;
                match v["slaves"].as_array().map(Vec::len) {
                    Some(2) => Ok(()),
                    n => Err(format!("{n:?} agents")),
                }
            },
        )
        .await;
        all_running(&pid, &mut rx, &names).await;
        let (_, w) = operator(np, json!({"type": "GET_WEIGHTS"})).await;
        assert_eq!(
            w["get_weights"]["weight_infos"][0]["weight"], 2.5,
            "round {round}: {w}"
        );
        let state = json(np, "/master/state").await.unwrap();
        let fw = &state["frameworks"][0];
        assert_eq!(fw["name"], "ha", "{state}");
        assert_eq!(fw["active"], true);
        assert_eq!(fw["tasks"].as_array().map(Vec::len), Some(2), "{state}");
        // Bring the killed master back as a follower for the next round.
        let p = free_port();
        masters[leader] = Some(spawn_master(&url, p));
        alive[leader] = Some(p);
        leader = next_leader;
    }
    for d in dirs {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_cut_off_from_zookeeper_stops_and_one_master_leads_after() {
    if !ZooKeeper::available("a_leader_cut_off_from_zookeeper") {
        return;
    }
    let mut zk = ZooKeeper::start();
    let url = zk.url("/mesos");
    let ports: Vec<u16> = (0..2).map(|_| free_port()).collect();
    let mut masters: Vec<Proc> = ports.iter().map(|p| spawn_master(&url, *p)).collect();
    let alive: Vec<Option<u16>> = ports.iter().map(|p| Some(*p)).collect();
    let leader = the_leader(&alive).await;
    let other = 1 - leader;
    zk.stop();
    let cut = Instant::now();
    // The leader steps down (exits) once its session may have expired.
    let status = loop {
        if let Some(s) = masters[leader].try_wait().unwrap() {
            break s;
        }
        assert!(
            cut.elapsed() < LIMIT,
            "the leader kept running without ZooKeeper"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(!status.success(), "it exits with an error status: {status}");
    // Stepping down early is safe; leading on past the session's expiry is not.
    let took = cut.elapsed();
    assert!(
        took <= SESSION + Duration::from_secs(5),
        "it stepped down only after {took:?}"
    );
    println!("the leader stepped down {took:?} after ZooKeeper was lost");
    // The follower does not lead without ZooKeeper.
    assert_eq!(elected(ports[other]).await, Some(false));
    zk.restart();
    let mut alive = vec![None, None];
    alive[other] = Some(ports[other]);
    assert_eq!(the_leader(&alive).await, other);
    drop(masters);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_master_with_the_file_registry_restarts_with_its_state() {
    let work = temp_dir("registry");
    let port = free_port();
    let master = || {
        Proc::spawn(
            bin("mesos-master")
                .args([
                    format!("--port={port}"),
                    "--registry=replicated_log".into(),
                    format!("--work_dir={}", work.join("master").display()),
                    "--agent_reregister_timeout=2secs".into(),
                    "--allocation_interval=50ms".into(),
                ])
                .stderr(Stdio::null()),
        )
    };
    let mut m = master();
    let fixed = format!("127.0.0.1:{port}");
    let agent = |tag: &str| {
        Proc::spawn(
            bin("mesos-agent")
                .args([
                    format!("--master={fixed}"),
                    format!("--work_dir={}", work.join(tag).display()),
                    "--port=0".into(),
                    "--resources=cpus:2;mem:256".into(),
                    "--registration_backoff_factor=100ms".into(),
                ])
                .stderr(Stdio::null()),
        )
    };
    let _gone_agent = agent("gone");
    let mut lost_agent = agent("lost");
    let ids = eventually_async(LIMIT, "two agents registered", || async {
        let v = json(port, "/master/slaves").await?;
        match v["slaves"].as_array() {
            Some(a) if a.len() == 2 => Ok(a.clone()),
            _ => Err(format!("{v}")),
        }
    })
    .await;
    // Which is which: the one on the "gone" work dir is marked gone.
    let gone_id = {
        let meta = walk_for_agent_id(&work.join("gone"));
        assert!(ids.iter().any(|a| a["id"] == meta), "{meta} in {ids:?}");
        meta
    };
    let r = operator(
        port,
        json!({"type": "UPDATE_WEIGHTS", "update_weights": {"weight_infos": [
        {"role": "dev", "weight": 2.5}]}}),
    )
    .await;
    assert_eq!(r.0, 200, "{}", r.1);
    let r = operator(
        port,
        json!({"type": "UPDATE_QUOTA", "update_quota": {"quota_configs": [
        {"role": "dev", "guarantees": {"cpus": {"value": 1}}}]}}),
    )
    .await;
    assert_eq!(r.0, 200, "{}", r.1);
    let r = operator(
        port,
        json!({"type": "MARK_AGENT_GONE", "mark_agent_gone": {"agent_id": {"value": gone_id}}}),
    )
    .await;
    assert_eq!(r.0, 200, "{}", r.1);
    // Each answer came after the change was stored.
    let stored = std::fs::read_to_string(work.join("master/registry.json")).unwrap();
    assert!(
        stored.contains(&gone_id) && stored.contains("\"dev\""),
        "{stored}"
    );
    lost_agent.kill().unwrap();
    lost_agent.wait().unwrap();
    m.kill().unwrap();
    m.wait().unwrap();
    let _m = master();
    eventually_async(LIMIT, "the restarted master answering", || async {
        json(port, "/master/state").await.map(|_| ())
    })
    .await;
    let (_, w) = operator(port, json!({"type": "GET_WEIGHTS"})).await;
    assert_eq!(w["get_weights"]["weight_infos"][0]["weight"], 2.5, "{w}");
    let (_, q) = operator(port, json!({"type": "GET_QUOTA"})).await;
    assert_eq!(q["get_quota"]["status"]["configs"][0]["role"], "dev", "{q}");
    // The agent that never comes back is unreachable once --agent_reregister_timeout passed.
    eventually_async(LIMIT, "the missing agent marked unreachable", || async {
        let v = json(port, "/metrics/snapshot").await?;
        match v["master/recovery_slave_removals"].as_f64() {
            Some(1.0) => Ok(()),
            n => Err(format!("{n:?}")),
        }
    })
    .await;
    // The gone agent keeps trying to reregister, and is refused.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let v = json(port, "/master/slaves").await.unwrap();
    assert_eq!(v["slaves"].as_array().map(Vec::len), Some(0), "{v}");
    let _ = std::fs::remove_dir_all(&work);
}

/// The agent id an agent checkpointed under its work dir (in `meta/slaves/latest`).
fn walk_for_agent_id(work: &std::path::Path) -> String {
    let latest = work.join("meta/slaves/latest");
    std::fs::read_to_string(&latest)
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|e| panic!("no {}: {e}", latest.display()))
}

/// pymesos (the real Python client, finding the leader through kazoo) launches tasks, keeps
/// them across the leader's SIGKILL, resubscribes with its framework id and sees them finish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pymesos_follows_the_leader_through_zookeeper_and_finishes_its_tasks() {
    let Ok(python) = std::env::var("MESOS_RS_PYTHON") else {
        eprintln!(
            "SKIPPED: MESOS_RS_PYTHON is not set (run .ci/pymesos-venv.sh <dir> and set it to \
             <dir>/bin/python; .ci/test does)"
        );
        return;
    };
    if !ZooKeeper::available("pymesos_follows_the_leader") {
        return;
    }
    const TASKS: usize = 4;
    let (_zk, url, ports, mut masters, mut alive, leader) = three_masters().await;
    let dir = temp_dir("pymesos");
    std::fs::create_dir_all(&dir).unwrap();
    let _agent = spawn_agent(&url, &dir.join("agent"));
    let go = dir.join("go");

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pymesos/failover.py");
    let mut py = Command::new(&python)
        .arg(script)
        .arg(&url)
        .arg(&go)
        .arg(TASKS.to_string())
        .env("PYMESOS_SCENARIO_TIMEOUT", "90")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run the venv's python");
    let (tx, mut lines) = mpsc::unbounded_channel();
    let stdout = py.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let line = next_line(&mut lines).await;
    let fid = match line.as_deref().and_then(|l| l.strip_prefix("ALL RUNNING ")) {
        Some(f) => f.to_string(),
        None => panic!("expected ALL RUNNING, got {line:?}: {}", stderr_of(py)),
    };
    if let Some(mut m) = masters[leader].take() {
        m.kill().unwrap();
        m.wait().unwrap();
    }
    alive[leader] = None;
    let new_leader = ports[the_leader(&alive).await];
    let line = next_line(&mut lines).await;
    assert_eq!(
        line.as_deref(),
        Some(&*format!("REREGISTERED {fid}")),
        "{}",
        stderr_of(py)
    );
    // The new leader knows the framework under its id, with every task still running.
    eventually_async(LIMIT, "the tasks running at the new leader", || async {
        let state = json(new_leader, "/master/state").await?;
        let fw = &state["frameworks"][0];
        let running = fw["tasks"]
            .as_array()
            .map(|ts| ts.iter().filter(|t| t["state"] == "TASK_RUNNING").count());
        match (fw["id"].as_str(), running) {
            (Some(id), Some(TASKS)) if id == fid => Ok(()),
            _ => Err(format!("{state}")),
        }
    })
    .await;
    std::fs::write(&go, b"").unwrap();
    let line = next_line(&mut lines).await;
    let out = py.wait_with_output().unwrap();
    assert!(
        line.as_deref() == Some("pymesos failover PASSED") && out.status.success(),
        "got {line:?} ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    drop(masters);
    let _ = std::fs::remove_dir_all(&dir);
}

/// What a failed pymesos script said (after ending it).
fn stderr_of(mut py: std::process::Child) -> String {
    let _ = py.kill();
    py.wait_with_output()
        .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
        .unwrap_or_default()
}

/// The script's next stdout line (None after a minute without one, or at its end).
async fn next_line(lines: &mut mpsc::UnboundedReceiver<String>) -> Option<String> {
    tokio::time::timeout(Duration::from_secs(60), lines.recv())
        .await
        .ok()
        .flatten()
}
