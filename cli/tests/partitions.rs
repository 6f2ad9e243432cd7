//! Real network partitions (root only): the master and an agent each in their own network
//! namespace on a private bridge, the test's frameworks in the root namespace, links cut and
//! healed with `nft` rules (both ways or one way, between the agent and the master or between
//! the master and the frameworks) while tasks run. Each scenario ends with an
//! explicit reconciliation whose answers must match what the agent actually runs.
//!
//! Without root (or without `ip`/`nft`) the tests say why and pass, unless
//! `MESOS_RS_REQUIRE_NETNS=1` (CI's test command) makes that a failure.

mod common;

use std::net::IpAddr;
use std::process::Stdio;
use std::time::Duration;

use common::{framework, kill_all, processes, processes_end, Framework, LIMIT};
use mesos_api::protocol::task::{Reason, TaskState};
use testkit::netns::{Dir, Net, Node};
use testkit::{http, Proc, Seen};

/// The master pings every 400 ms and removes an agent after 5 missed pings (2 s); that is also
/// how long it lets any peer leave its data unacknowledged (its send timeout). It sends
/// frameworks a heartbeat every 200 ms, so the SDK takes a silent master for lost after 1 s.
const MASTER_FLAGS: &[&str] = &[
    "--agent_ping_timeout=400ms",
    "--max_agent_ping_timeouts=5",
    "--heartbeat_interval=200ms",
    "--allocation_interval=50ms",
    "--offer_timeout=1secs",
];

struct Partitioned {
    master: String,
    agent_node: Node,
    master_node: Node,
    host: IpAddr,
    work: std::path::PathBuf,
    _agent: Proc,
    _master: Proc,
    // Last: the namespaces go after the processes in them.
    net: Net,
}

impl Drop for Partitioned {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.work);
    }
}

/// Whether the test can run; says why not (and fails when CI requires it).
fn runnable(test: &str) -> bool {
    match testkit::netns::unavailable() {
        None => true,
        Some(why) => {
            assert!(
                std::env::var("MESOS_RS_REQUIRE_NETNS").as_deref() != Ok("1"),
                "{test}: MESOS_RS_REQUIRE_NETNS=1 but {why}"
            );
            println!("skipped {test}: {why}");
            false
        }
    }
}

fn partitioned() -> Partitioned {
    let mut net = Net::new();
    let master_node = net.node("m");
    let agent_node = net.node("a");
    let master = format!("{}:5050", master_node.ip);
    let mut m = master_node.command(env!("CARGO_BIN_EXE_mesos-master"));
    m.arg(format!("--ip={}", master_node.ip))
        .arg("--port=5050")
        .args(MASTER_FLAGS)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let work = std::env::temp_dir().join(format!("mesos-partition-{}", mesos_api::ids::new_uuid()));
    let mut a = agent_node.command(env!("CARGO_BIN_EXE_mesos-agent"));
    a.arg(format!("--ip={}", agent_node.ip))
        .arg("--port=5051")
        .arg(format!("--master={master}"))
        .arg(format!("--work_dir={}", work.display()))
        .arg("--resources=cpus:4;mem:1024")
        .arg("--registration_backoff_factor=100ms")
        .arg("--launcher=posix")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    Partitioned {
        master,
        host: IpAddr::V4(net.host_ip()),
        work,
        _master: Proc::spawn(&mut m),
        _agent: Proc::spawn(&mut a),
        agent_node,
        master_node,
        net,
    }
}

impl Partitioned {
    async fn framework(&self, name: &str, partition_aware: bool) -> Framework {
        framework(self.host, &self.master, name, partition_aware, true, 60.0).await
    }

    /// Cuts the master off from the test's frameworks (the host), both ways.
    fn cut_frameworks(&self) {
        self.net
            .cut(&self.master_node, self.net.host_ip(), Dir::Both);
    }

    fn heal_frameworks(&self) {
        self.net.heal(&self.master_node);
    }

    fn cut(&self, dir: Dir) {
        self.net.cut(&self.agent_node, self.master_node.ip, dir);
    }

    fn heal(&self) {
        self.net.heal(&self.agent_node);
    }

    async fn metric(&self, name: &str) -> f64 {
        let v = http::json(&self.master, "/metrics/snapshot").await.unwrap();
        v[name].as_f64().unwrap_or(-1.0)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_cut_off_for_less_than_the_ping_timeout_changes_nothing() {
    if !runnable("short partition") {
        return;
    }
    let p = partitioned();
    let mut f = p.framework("short", true).await;
    let tag = "sleep 81.1";
    f.launch("t", tag).await;
    p.cut(Dir::Both);
    tokio::time::sleep(Duration::from_millis(800)).await;
    p.heal();
    // No update at all: not UNREACHABLE, and no duplicate RUNNING.
    let seen = f.updates_within("t", Duration::from_secs(4)).await;
    assert!(seen.is_empty(), "{seen:?}");
    assert_eq!(p.metric("master/slave_removals").await, 0.0);
    assert_eq!(f.reconcile("t").await.state, TaskState::Running);
    assert!(!processes(tag).is_empty());
    kill_all(tag);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_cut_off_for_longer_comes_back_and_each_framework_hears_what_it_expects() {
    if !runnable("long partition") {
        return;
    }
    let p = partitioned();
    let mut aware = p.framework("aware", true).await;
    let mut plain = p.framework("plain", false).await;
    let (tag_a, tag_p) = ("sleep 82.1", "sleep 82.2");
    aware.launch("a", tag_a).await;
    plain.launch("p", tag_p).await;
    p.cut(Dir::Both);
    let s = aware.state_of("a", |s| s == TaskState::Unreachable).await;
    assert_eq!(s.reason, Some(Reason::AgentRemoved), "{s:?}");
    let s = plain.state_of("p", |s| s == TaskState::Lost).await;
    assert_eq!(s.reason, Some(Reason::AgentRemoved), "{s:?}");
    // While cut off, reconciliation says so.
    assert_eq!(aware.reconcile("a").await.state, TaskState::Unreachable);
    tokio::time::sleep(Duration::from_secs(1)).await;
    p.heal();
    let s = aware.state_of("a", |s| s == TaskState::Running).await;
    assert_eq!(s.reason, Some(Reason::AgentReregistered), "{s:?}");
    // The task of the framework told LOST is killed on the agent.
    processes_end(LIMIT, tag_p).await;
    assert!(
        !processes(tag_a).is_empty(),
        "the partition-aware task must still run"
    );
    assert_eq!(aware.reconcile("a").await.state, TaskState::Running);
    assert_eq!(plain.reconcile("p").await.state, TaskState::Lost);
    kill_all(tag_a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_way_partitions_either_way_end_with_the_agent_back_and_its_task_running() {
    if !runnable("one-way partitions") {
        return;
    }
    let p = partitioned();
    let mut f = p.framework("one-way", true).await;
    let tag = "sleep 83.1";
    f.launch("t", tag).await;
    // Out: the master no longer hears the agent (the agent still hears the master's pings
    // until the master gives up on it); In: the agent no longer hears the master.
    for dir in [Dir::Out, Dir::In] {
        p.cut(dir);
        let s = f.state_of("t", |s| s == TaskState::Unreachable).await;
        assert_eq!(s.reason, Some(Reason::AgentRemoved), "{dir:?}: {s:?}");
        tokio::time::sleep(Duration::from_secs(1)).await;
        p.heal();
        let s = f.state_of("t", |s| s == TaskState::Running).await;
        assert_eq!(s.reason, Some(Reason::AgentReregistered), "{dir:?}: {s:?}");
        assert_eq!(f.reconcile("t").await.state, TaskState::Running, "{dir:?}");
        assert!(!processes(tag).is_empty(), "{dir:?}");
    }
    kill_all(tag);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_made_during_a_partition_arrive_after_it_once_and_in_order() {
    if !runnable("updates during a partition") {
        return;
    }
    let p = partitioned();
    let mut f = p.framework("updates", true).await;
    // It finishes while its agent is cut off.
    f.launch("t", "sleep 3.84 && echo done").await;
    p.cut(Dir::Both);
    let s = f.state_of("t", |s| s == TaskState::Unreachable).await;
    assert_eq!(s.reason, Some(Reason::AgentRemoved), "{s:?}");
    processes_end(LIMIT, "sleep 3.84").await;
    p.heal();
    // The agent's FINISHED arrives once it is back (checkpointed, retried until
    // acknowledged), once, and nothing after it. Before it the master may say RUNNING: a
    // reregistration the agent sent while cut off, before the task ended, arrives first.
    let s = loop {
        let s = f.state_of("t", |_| true).await;
        if s.state == TaskState::Running {
            assert_eq!(s.reason, Some(Reason::AgentReregistered), "{s:?}");
            continue;
        }
        break s;
    };
    assert_eq!(s.state, TaskState::Finished, "{s:?}");
    assert!(
        s.uuid.is_some(),
        "the agent's own update, to acknowledge: {s:?}"
    );
    let after = f.updates_within("t", Duration::from_secs(3)).await;
    assert!(after.is_empty(), "after FINISHED: {after:?}");
    // Finished and acknowledged: the master no longer holds it as running or unreachable.
    let r = f.reconcile("t").await;
    assert!(
        !matches!(r.state, TaskState::Running | TaskState::Unreachable),
        "{r:?}"
    );
    assert_eq!(p.metric("master/slaves_active").await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_framework_cut_off_for_less_than_its_failover_timeout_resubscribes_and_keeps_its_task() {
    if !runnable("short framework partition") {
        return;
    }
    let p = partitioned();
    let mut f = framework(p.host, &p.master, "patient", true, true, 60.0).await;
    let tag = "sleep 85.1";
    f.launch("t", tag).await;
    let id = f.id().await.expect("subscribed");
    p.cut_frameworks();
    // The SDK hears no heartbeat for 1 s and says so; the master's connection to it breaks
    // after 2 s of unacknowledged heartbeats (the framework is then disconnected, with 60 s to
    // come back).
    f.seen("the SDK to take the master for lost", |s| {
        matches!(s, Seen::Disconnected)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    p.heal_frameworks();
    // It subscribes again under the same id, and its task never stopped.
    let s = f
        .seen("the framework to resubscribe", |s| {
            matches!(s, Seen::Subscribed(_) | Seen::Error(_))
        })
        .await;
    assert!(matches!(&s, Seen::Subscribed(i) if *i == id), "{s:?}");
    assert!(!processes(tag).is_empty(), "the task died");
    assert_eq!(f.reconcile("t").await.state, TaskState::Running);
    let seen = f.updates_within("t", Duration::from_secs(2)).await;
    assert!(seen.is_empty(), "{seen:?}");
    let state = http::json(&p.master, "/master/state").await.unwrap();
    let fw = &state["frameworks"][0];
    assert_eq!(fw["id"], id.value.as_str(), "{state}");
    assert_eq!(fw["active"], true, "{fw}");
    assert_eq!(fw["tasks"][0]["state"], "TASK_RUNNING", "{fw}");
    kill_all(tag);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_framework_cut_off_for_longer_than_its_failover_timeout_is_removed_and_told_so() {
    if !runnable("long framework partition") {
        return;
    }
    let p = partitioned();
    let mut f = framework(p.host, &p.master, "hasty", true, true, 1.0).await;
    let tag = "sleep 86.1";
    f.launch("t", tag).await;
    p.cut_frameworks();
    // 2 s of unacknowledged heartbeats, then 1 s of failover timeout: the master removes the
    // framework and kills its task on the agent (which it still reaches) while the framework
    // is cut off.
    processes_end(LIMIT, tag).await;
    p.heal_frameworks();
    // Back, it resubscribes and is told it was removed; the SDK stops.
    let s = f
        .seen("the framework to hear it was removed", |s| {
            matches!(s, Seen::Subscribed(_) | Seen::Error(_))
        })
        .await;
    assert!(
        matches!(&s, Seen::Error(m) if m.contains("Framework has been removed")),
        "{s:?}"
    );
    // The master agrees with the agent: nothing runs, the task ended KILLED because its
    // framework was removed.
    let (code, v) = http::operator(&p.master, &serde_json::json!({"type": "GET_TASKS"}))
        .await
        .unwrap();
    assert_eq!(code, 200);
    let tasks = &v["get_tasks"];
    assert!(
        tasks["tasks"].as_array().is_none_or(|t| t.is_empty()),
        "{tasks}"
    );
    let done = &tasks["completed_tasks"][0];
    assert_eq!(done["state"], "TASK_KILLED", "{done}");
    let last = done["statuses"].as_array().and_then(|s| s.last()).cloned();
    assert_eq!(
        last.unwrap_or_default()["reason"],
        "REASON_FRAMEWORK_REMOVED",
        "{done}"
    );
    assert!(processes(tag).is_empty());
}
