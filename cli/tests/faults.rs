//! Faults with the real binaries on loopback, each ending in a state the framework is told
//! about: an agent the master removed comes back by itself (SIGSTOP/SIGCONT), a torn-down
//! framework hears why and its tasks end KILLED, a killed executor takes its task with it, a
//! gone agent is shut down and cannot come back, and a full disk fails launches loudly.
//! Partitions in network namespaces are in `partitions.rs`.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{framework, kill_all, ppid, processes, processes_end, LIMIT};
use mesos_api::protocol::task::{Reason, TaskState};
use serde_json::{json, Value};
use testkit::{free_port, http, Eventually, Proc};

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

struct Cluster {
    master: String,
    work: PathBuf,
    _master: Proc,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.work);
    }
}

fn cluster(flags: &[&str]) -> Cluster {
    let port = free_port();
    let mut m = testkit::command(env!("CARGO_BIN_EXE_mesos-master"));
    m.arg(format!("--port={port}"))
        .arg("--allocation_interval=50ms")
        .args(flags)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let master = format!("127.0.0.1:{port}");
    let mut m = Proc::spawn(&mut m);
    m.await_listening(&master, LIMIT);
    Cluster {
        master,
        work: std::env::temp_dir().join(format!("mesos-faults-{}", mesos_api::ids::new_uuid())),
        _master: m,
    }
}

impl Cluster {
    /// The `mesos-agent` command for work dir `work` (under this cluster's).
    fn agent_command(&self, work: &str, port: u16) -> Command {
        let mut c = testkit::command(env!("CARGO_BIN_EXE_mesos-agent"));
        c.arg(format!("--master={}", self.master))
            .arg(format!("--port={port}"))
            .arg(format!("--work_dir={}", self.work.join(work).display()))
            .arg("--resources=cpus:4;mem:1024")
            .arg("--registration_backoff_factor=100ms")
            .arg("--launcher=posix")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    }

    fn agent(&self, work: &str) -> Proc {
        Proc::spawn(&mut self.agent_command(work, free_port()))
    }

    async fn state(&self) -> Value {
        http::json(&self.master, "/master/state").await.unwrap()
    }

    async fn metric(&self, name: &str) -> f64 {
        let v = http::json(&self.master, "/metrics/snapshot").await.unwrap();
        v[name].as_f64().unwrap_or(-1.0)
    }
}

/// MARK_AGENT_GONE of agent `id`: the answer's status.
async fn mark_gone(c: &Cluster, id: &str) -> u16 {
    let call = json!({"type": "MARK_AGENT_GONE", "mark_agent_gone": {"agent_id": {"value": id}}});
    http::operator(&c.master, &call).await.unwrap().0
}

fn signal(p: &Proc, s: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(p.id() as i32), s).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_the_master_removed_reregisters_by_itself_and_tasks_end_as_their_framework_expects(
) {
    // Pings every 300 ms, removed after 3 missed: the agent takes the master for lost after
    // 0.9 s without a ping.
    // Offers not used within a second go back (two frameworks share the agent).
    let c = cluster(&[
        "--agent_ping_timeout=300ms",
        "--max_agent_ping_timeouts=3",
        "--offer_timeout=1secs",
    ]);
    let agent = c.agent("a");
    let mut aware = framework(LOCAL, &c.master, "aware", true, true, 60.0).await;
    let mut plain = framework(LOCAL, &c.master, "plain", false, true, 60.0).await;
    let (tag_a, tag_p) = ("sleep 71.1", "sleep 71.2");
    aware.launch("aware-task", tag_a).await;
    plain.launch("plain-task", tag_p).await;

    // Stopped for longer than the master's ping timeout: the master removes it.
    signal(&agent, nix::sys::signal::Signal::SIGSTOP);
    let s = aware
        .state_of("aware-task", |s| s == TaskState::Unreachable)
        .await;
    assert_eq!(s.reason, Some(Reason::AgentRemoved), "{s:?}");
    assert!(
        s.unreachable_time.is_some_and(|t| t.nanoseconds > 0),
        "TASK_UNREACHABLE says since when: {s:?}"
    );
    let s = plain.state_of("plain-task", |s| s == TaskState::Lost).await;
    assert_eq!(s.reason, Some(Reason::AgentRemoved), "{s:?}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    signal(&agent, nix::sys::signal::Signal::SIGCONT);

    // It notices the master's silence, reregisters, and the partition-aware task is back.
    let s = aware
        .state_of("aware-task", |s| s == TaskState::Running)
        .await;
    assert_eq!(s.reason, Some(Reason::AgentReregistered), "{s:?}");
    // The other framework was told LOST: its task is killed on the agent.
    processes_end(LIMIT, tag_p).await;
    assert!(
        !processes(tag_a).is_empty(),
        "the partition-aware task died"
    );
    // Reconciliation agrees with what runs.
    assert_eq!(
        aware.reconcile("aware-task").await.state,
        TaskState::Running
    );
    assert_eq!(plain.reconcile("plain-task").await.state, TaskState::Lost);
    assert_eq!(c.state().await["slaves"].as_array().unwrap().len(), 1);
    kill_all(tag_a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teardown_tells_the_framework_and_ends_its_tasks_killed() {
    let c = cluster(&[]);
    let _agent = c.agent("a");
    let tag = "sleep 72.1";
    let mut exec = testkit::command(env!("CARGO_BIN_EXE_mesos-execute"));
    exec.arg(format!("--master={}", c.master))
        .args(["--name=doomed", &format!("--command={tag}")])
        .arg("--resources=cpus:0.5;mem:32")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let exec = Proc::spawn(&mut exec);
    let fid = Eventually::new(LIMIT, "the task to run")
        .until_async(|| async {
            let v = c.state().await;
            let f = &v["frameworks"][0];
            match f["tasks"][0]["state"].as_str() {
                Some("TASK_RUNNING") => Ok(f["id"].as_str().unwrap().to_string()),
                other => Err(format!("{other:?}")),
            }
        })
        .await;
    let body = format!("frameworkId={fid}");
    let r = libprocess::http_client::request(
        &c.master,
        "POST",
        "/master/teardown",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(r.head.status, 200);
    // mesos-execute hears why and exits (it hung forever before).
    let out = tokio::task::spawn_blocking(move || exec.output_within(LIMIT))
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("Framework has been removed"), "{stderr}");
    // Its task is killed, recorded so, and counted.
    processes_end(LIMIT, tag).await;
    let v = c.state().await;
    let done = &v["completed_frameworks"][0]["completed_tasks"][0];
    assert_eq!(done["state"], "TASK_KILLED", "{done}");
    let (code, v) = http::operator(&c.master, &json!({"type": "GET_TASKS"}))
        .await
        .unwrap();
    assert_eq!(code, 200);
    let done = &v["get_tasks"]["completed_tasks"][0];
    let last = done["statuses"].as_array().and_then(|s| s.last()).cloned();
    assert_eq!(
        last.unwrap_or_default()["reason"],
        "REASON_FRAMEWORK_REMOVED",
        "{done}"
    );
    assert_eq!(c.metric("master/tasks_killed").await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_executor_takes_its_task_with_it() {
    let c = cluster(&[]);
    let agent = c.agent("a");
    let mut f = framework(LOCAL, &c.master, "exec-kill", false, false, 0.0).await;
    let tag = "sleep 73.1";
    f.launch("t", tag).await;
    // The executor: the task's ancestor whose parent is the agent.
    let task = processes(tag)[0];
    let mut executor = task;
    while let Some(p) = ppid(executor) {
        if p == agent.id() as i32 {
            break;
        }
        assert!(p > 1, "no agent among the task's ancestors");
        executor = p;
    }
    assert_ne!(executor, task, "the task is not under an executor");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(executor),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let s = f.state_of("t", |s| s.is_terminal()).await;
    assert_eq!(s.state, TaskState::Failed, "{s:?}");
    // Nothing of its container outlives it.
    processes_end(Duration::from_secs(10), tag).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gone_agent_is_shut_down_and_a_restarted_one_is_refused_then_starts_anew() {
    let c = cluster(&[]);
    let mut live = c.agent("live");
    let mut f = framework(LOCAL, &c.master, "gone", true, true, 60.0).await;
    let tag = "sleep 74.1";
    let aid = f.launch("t", tag).await;
    assert_eq!(mark_gone(&c, &aid.value).await, 200);
    let s = f.state_of("t", |s| s.is_terminal()).await;
    assert_eq!(s.state, TaskState::GoneByOperator, "{s:?}");
    // The agent is told to shut down: its task ends and so does the agent.
    processes_end(LIMIT, tag).await;
    let status = tokio::task::spawn_blocking(move || {
        Eventually::new(LIMIT, "the gone agent to exit")
            .until(|| live.try_wait().unwrap().ok_or("running"))
    })
    .await
    .unwrap();
    assert!(status.success(), "{status:?}");
    // Marking it again is fine; an unknown agent is a 404.
    assert_eq!(mark_gone(&c, &aid.value).await, 200);
    assert_eq!(mark_gone(&c, "no-such-agent").await, 404);

    // An agent that was down when it was marked gone, restarted on its work dir.
    let port = free_port();
    let mut down = Proc::spawn(&mut c.agent_command("down", port));
    let tag2 = "sleep 74.2";
    let aid2 = f.launch("t2", tag2).await;
    down.kill().unwrap();
    down.wait().unwrap();
    assert_eq!(mark_gone(&c, &aid2.value).await, 200);
    let mut again = c.agent_command("down", port);
    again.stderr(Stdio::piped());
    let out = tokio::task::spawn_blocking(move || Proc::spawn(&mut again).output_within(LIMIT))
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Agent has been marked gone"), "{stderr}");
    // Its recovered task went with it.
    processes_end(LIMIT, tag2).await;
    // Started once more, it registers as a new agent.
    let _fresh = Proc::spawn(&mut c.agent_command("down", port));
    Eventually::new(LIMIT, "a new agent to register")
        .until_async(|| async {
            let v = c.state().await;
            let ids: Vec<String> = v["slaves"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["id"].as_str().unwrap().to_string())
                .collect();
            if ids.len() == 1 && ids[0] != aid2.value && ids[0] != aid.value {
                Ok(())
            } else {
                Err(format!("{ids:?}"))
            }
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_a_launch_loudly_and_tasks_launched_before_survive_a_restart() {
    if !nix::unistd::geteuid().is_root() {
        println!("skipped: mounting a small tmpfs for the work dir needs root");
        return;
    }
    let c = cluster(&[]);
    let work = c.work.join("small");
    std::fs::create_dir_all(&work).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
        .arg(&work)
        .status()
        .unwrap();
    assert!(mounted.success());
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(work.clone());
    let port = free_port();
    let agent_port = port;
    let mut agent = Proc::spawn(&mut c.agent_command("small", port));
    let mut f = framework(LOCAL, &c.master, "disk", false, true, 60.0).await;
    let tag = "sleep 75.1";
    f.launch("before", tag).await;
    // The disk fills up (as a task writing to its sandbox would).
    let fill = work.join("fill");
    let mut w = std::fs::File::create(&fill).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    while std::io::Write::write_all(&mut w, &chunk).is_ok() {}
    drop(w);
    let offer = loop {
        if let testkit::Seen::Offers(mut o) = testkit::next(&mut f.rx, LIMIT).await {
            break o.remove(0);
        }
    };
    let task = testkit::command_task("after", &offer.agent_id, "sleep 75.2", "cpus:0.5;mem:32");
    let oid = offer.id.clone();
    f.pid
        .dispatch(
            move |p: &mut mesos_scheduler::SchedulerProcess<testkit::Recorder>, _| {
                p.driver().launch(&oid, vec![task], None)
            },
        )
        .await
        .unwrap();
    let s = f.state_of("after", |s| s.is_terminal()).await;
    assert_eq!(s.state, TaskState::Failed, "{s:?}");
    assert_eq!(s.reason, Some(Reason::ContainerLaunchFailed), "{s:?}");
    let message = s.message.unwrap_or_default();
    assert!(message.contains("No space left"), "{message}");
    let agent_addr = format!("127.0.0.1:{agent_port}");
    let failures = http::json(&agent_addr, "/metrics/snapshot").await.unwrap()
        ["slave/checkpoint_failures"]
        .as_f64()
        .unwrap_or(0.0);
    assert!(failures >= 1.0, "slave/checkpoint_failures = {failures}");
    processes_end(LIMIT, "sleep 75.2").await;
    // Space again, and an agent restart: the task launched before is recovered, not lost.
    std::fs::remove_file(&fill).unwrap();
    agent.kill().unwrap();
    agent.wait().unwrap();
    let _agent = Proc::spawn(&mut c.agent_command("small", port));
    let seen = f.updates_within("before", Duration::from_secs(5)).await;
    assert!(
        seen.iter().all(|s| !s.state.is_terminal()),
        "the task launched before the disk filled: {seen:?}"
    );
    assert_eq!(f.reconcile("before").await.state, TaskState::Running);
    assert!(!processes(tag).is_empty());
    kill_all(tag);
}
