//! `http`: the master's HTTP surface under load, with the real master on loopback.
//!
//! - `state_ms`: `GET /master/state` with `--agents` simulated agents (default 10,000) holding
//!   `--tasks` running tasks (default 100,000) over 10 frameworks, from request to the last byte
//!   of the body (median of 5). Mesos 1.x took about 1.86 s at 10k agents / 100k tasks.
//! - `subscribe_to_offer_ms`: a v1 HTTP SUBSCRIBE to the first OFFERS record (median of 5, each
//!   a new framework that is then torn down).
//! - `stream_events_per_s`: UPDATE events per second over one RecordIO stream: one explicit
//!   RECONCILE of `--events` task ids (default 100,000), timed until the last record is read.
//!
//! ```text
//! http [--quick] [--json] [--agents=N] [--tasks=N] [--events=N]
//! ```
//! The simulated agents are processes in this OS process speaking the agent protocol (they
//! reregister with their tasks, as after a master failover, and answer pings); the client side
//! is a plain HTTP/1.1 client over a TCP socket.

use std::time::{Duration, Instant};

use libprocess::{Context, Process, Runtime, UPID};
use mesos_agent::httpc;
use mesos_api::messages::{PingAgent, PongAgent, ReregisterAgent, Task, WireMessage};
use mesos_api::protocol::framework::{AgentInfo, FrameworkInfo};
use mesos_api::protocol::task::{TaskState, TaskStatus};
use mesos_api::{AgentID, Attributes, FrameworkID, Resources, TaskID};
use mesos_master::{Master, MasterFlags};
use serde_json::{json, Value};

libprocess::flags! {
    /// `http`'s flags.
    struct Args {
        /// Smaller sizes (at most 1,000 agents, 10,000 tasks and events), for a smoke test
        quick: bool = "false";
        /// Print one JSON object last
        json: bool = "false";
        /// Simulated agents
        agents: usize = "10000";
        /// Running tasks over the agents
        tasks: usize = "100000";
        /// UPDATE events over one stream (task ids in one RECONCILE)
        events: usize = "100000";
    }
}

fn parse() -> Result<Args, String> {
    let f = mesos_bench::load_flags("http", Args::FLAGS, std::env::args().skip(1), 1);
    let mut a = Args::from_flags(&f)?;
    if a.quick {
        a.agents = a.agents.min(1_000);
        a.tasks = a.tasks.min(10_000);
        a.events = a.events.min(10_000);
    }
    if a.agents == 0 {
        return Err("--agents must be at least 1".into());
    }
    Ok(a)
}

/// A simulated agent: reregisters with its tasks, answers pings.
struct SimAgent {
    master: UPID,
    msg: Option<ReregisterAgent>,
}

impl Process for SimAgent {
    fn initialize(&mut self, ctx: &mut Context<Self>) {
        ctx.install_named(
            PingAgent::NAME,
            |_: &mut SimAgent, c, from, _: PingAgent| {
                c.send_named(&from, PongAgent::NAME, PongAgent {})
            },
        );
        if let Some(m) = self.msg.take() {
            ctx.send_named(&self.master, ReregisterAgent::NAME, m);
        }
    }
}

fn populate(rt: &Runtime, master: &UPID, agents: usize, tasks: usize) {
    let frameworks: Vec<FrameworkInfo> = (0..10)
        .map(|i| {
            let mut f = FrameworkInfo::new(format!("sim-{i}"), "root");
            f.id = Some(FrameworkID::new(format!("sim-framework-{i:04}")));
            f.failover_timeout = 86400.0;
            f
        })
        .collect();
    let total = Resources::parse("cpus:64;mem:262144;disk:1000000;ports:[31000-32000]", "*")
        .expect("resources");
    let per_task = Resources::parse("cpus:0.1;mem:32", "*")
        .expect("resources")
        .allocate("*");
    let now = 1.7e9;
    for a in 0..agents {
        let id = AgentID::new(format!("sim-S{a}"));
        let n = tasks / agents + usize::from(a < tasks % agents);
        let mut ts = Vec::with_capacity(n);
        for k in 0..n {
            let f = &frameworks[(a + k) % frameworks.len()];
            let fid = f.id.clone().expect("id");
            let tid = TaskID::new(format!("task-{a}-{k}"));
            let mut st = TaskStatus::new(tid.clone(), TaskState::Running);
            st.timestamp = Some(now + k as f64);
            st.agent_id = Some(id.clone());
            ts.push(Task {
                name: format!("task {k}"),
                task_id: tid,
                framework_id: fid,
                executor_id: None,
                agent_id: id.clone(),
                state: TaskState::Running,
                resources: per_task.clone(),
                statuses: vec![st],
                status_update_state: Some(TaskState::Running),
                status_update_uuid: None,
                labels: None,
                user: None,
                details: None,
            });
        }
        let msg = ReregisterAgent {
            agent: AgentInfo {
                hostname: format!("host-{a}"),
                port: 5051,
                resources: total.clone(),
                attributes: Attributes::default(),
                id: Some(id),
                domain: None,
            },
            version: "1.11.0".into(),
            capabilities: vec!["MULTI_ROLE".into()],
            checkpointed_resources: Resources::new(),
            executor_infos: Vec::new(),
            tasks: ts,
            frameworks: frameworks.clone(),
        };
        let sim = SimAgent {
            master: master.clone(),
            msg: Some(msg),
        };
        rt.spawn(&format!("sim-agent({a})"), sim).expect("spawn");
    }
}

async fn subscribe(addr: &str, name: &str) -> (httpc::Body, String, String, Instant) {
    let call = json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": {
        "user": "root", "name": name, "failover_timeout": 0}}});
    let body = serde_json::to_vec(&call).unwrap();
    let t0 = Instant::now();
    let (head, mut b) = httpc::stream(
        addr,
        "POST",
        "/api/v1/scheduler",
        &[("Content-Type", "application/json")],
        &body,
    )
    .await
    .expect("subscribe");
    assert_eq!(head.status, 200, "SUBSCRIBE answered {}", head.status);
    let sid = head.header("mesos-stream-id").unwrap_or("").to_string();
    let rec = b.next_record().await.expect("stream").expect("a record");
    let ev: Value = serde_json::from_slice(&rec).expect("json");
    let fid = ev["subscribed"]["framework_id"]["value"]
        .as_str()
        .unwrap_or("")
        .to_string();
    (b, sid, fid, t0)
}

async fn call(addr: &str, sid: &str, c: &Value) -> u16 {
    let body = serde_json::to_vec(c).unwrap();
    httpc::request(
        addr,
        "POST",
        "/api/v1/scheduler",
        &[
            ("Content-Type", "application/json"),
            ("Mesos-Stream-Id", sid),
        ],
        &body,
    )
    .await
    .map(|r| r.head.status)
    .unwrap_or(0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn run(a: &Args) -> Value {
    let rt = Runtime::bind(libprocess::Config::default())
        .await
        .expect("bind");
    let addr = rt.address().to_string();
    let flags = MasterFlags {
        allocation_interval: Duration::from_millis(100),
        ..MasterFlags::default()
    };
    let master = rt.spawn("master", Master::new(flags)).expect("master");
    let t0 = Instant::now();
    populate(&rt, master.upid(), a.agents, a.tasks);
    loop {
        let n = master
            .dispatch(|m: &mut Master, _| m.agent_count())
            .await
            .unwrap_or(0);
        if n == a.agents {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let admit_s = t0.elapsed().as_secs_f64();

    // /master/state.
    let mut state_ms = Vec::new();
    let mut state_bytes = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let r = httpc::request(&addr, "GET", "/master/state", &[], b"")
            .await
            .expect("state");
        state_ms.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(r.head.status, 200);
        state_bytes = r.body.len();
    }
    let v: Value = serde_json::from_slice(
        &httpc::request(&addr, "GET", "/master/state", &[], b"")
            .await
            .expect("state")
            .body,
    )
    .expect("state is JSON");
    let seen_tasks: usize = v["frameworks"]
        .as_array()
        .map(|fs| {
            fs.iter()
                .map(|f| f["tasks"].as_array().map_or(0, Vec::len))
                .sum()
        })
        .unwrap_or(0);
    assert_eq!(v["slaves"].as_array().map_or(0, Vec::len), a.agents);
    assert_eq!(seen_tasks, a.tasks);

    // SUBSCRIBE to first OFFERS.
    let mut sub_ms = Vec::new();
    for i in 0..5 {
        let (mut b, sid, fid, t) = subscribe(&addr, &format!("bench-{i}")).await;
        loop {
            let rec = b.next_record().await.expect("stream").expect("record");
            let ev: Value = serde_json::from_slice(&rec).expect("json");
            if ev["type"] == "OFFERS" {
                break;
            }
        }
        sub_ms.push(t.elapsed().as_secs_f64() * 1e3);
        let td = json!({"framework_id": {"value": fid}, "type": "TEARDOWN"});
        call(&addr, &sid, &td).await;
    }

    // Events per second over one stream: one RECONCILE of many unknown tasks.
    let (mut b, sid, fid, _) = subscribe(&addr, "bench-stream").await;
    let sup = json!({"framework_id": {"value": fid}, "type": "SUPPRESS"});
    call(&addr, &sid, &sup).await;
    let tasks: Vec<Value> = (0..a.events)
        .map(|i| json!({"task_id": {"value": format!("ghost-{i}")}}))
        .collect();
    let rec = json!({"framework_id": {"value": fid}, "type": "RECONCILE",
        "reconcile": {"tasks": tasks}});
    let t = Instant::now();
    assert_eq!(call(&addr, &sid, &rec).await, 202);
    let mut updates = 0;
    while updates < a.events {
        let r = b.next_record().await.expect("stream").expect("record");
        if r.windows(8).any(|w| w == b"\"UPDATE\"") {
            updates += 1;
        }
    }
    let events_per_s = updates as f64 / t.elapsed().as_secs_f64();
    drop(b);
    rt.shutdown().await;

    json!({
        "agents": a.agents,
        "tasks": a.tasks,
        "admit_s": admit_s,
        "state_ms": median(state_ms),
        "state_bytes": state_bytes,
        "mesos_state_ms": 1860.0,
        "subscribe_to_offer_ms": median(sub_ms),
        "stream_events": a.events,
        "stream_events_per_s": events_per_s,
    })
}

fn main() {
    let a = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("http: {e}");
            std::process::exit(1);
        }
    };
    let rt = tokio::runtime::Runtime::new().expect("tokio");
    let r = rt.block_on(run(&a));
    println!(
        "/master/state, {} agents, {} tasks: {:.1} ms ({:.1} MB)   [Mesos: ~1860 ms at 10k/100k]",
        a.agents,
        a.tasks,
        r["state_ms"].as_f64().unwrap_or(0.0),
        r["state_bytes"].as_f64().unwrap_or(0.0) / 1e6
    );
    println!(
        "SUBSCRIBE -> first OFFERS: {:.2} ms",
        r["subscribe_to_offer_ms"].as_f64().unwrap_or(0.0)
    );
    println!(
        "events over one RecordIO stream: {:.0} /s ({} UPDATEs)",
        r["stream_events_per_s"].as_f64().unwrap_or(0.0),
        a.events
    );
    if a.json {
        println!("{r}");
    }
}
