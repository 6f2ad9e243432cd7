//! The Docker containerizer (`--containerizers=docker,mesos`) with a real Docker daemon
//! (Debian's `docker.io`), started by each test on its own socket, data root and bridge, with an
//! image `docker load`ed from an archive the test builds (busybox; no network). The master and
//! agent are the real binaries; the framework is in this process. As root; without `dockerd`
//! or `/bin/busybox` a test says why it skips, unless `MESOS_RS_REQUIRE_DOCKER=1`
//! (`.ci/test`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use mesos_api::protocol::container::{
    ContainerInfo, ContainerType, DockerInfo, PortMapping, Volume, VolumeMode,
};
use mesos_api::protocol::task::{DurationInfo, KillPolicy, TaskInfo, TaskState, TaskStatus};
use mesos_api::TaskID;
use mesos_scheduler::SchedulerProcess;
use testkit::{command_task, eventually, free_port, next, Proc, Recorder, Seen};

mod common;
use common::Framework;

const LIMIT: Duration = Duration::from_secs(60);
const IMAGE: &str = "mesos-test/busybox:1";

fn bin(name: &str) -> Command {
    testkit::command(match name {
        "mesos-master" => env!("CARGO_BIN_EXE_mesos-master"),
        "mesos-agent" => env!("CARGO_BIN_EXE_mesos-agent"),
        _ => unreachable!(),
    })
}

/// The docker CLI that came with the daemon (Debian's), else the one on the PATH.
fn docker_cli() -> String {
    if Path::new("/usr/bin/docker").is_file() {
        "/usr/bin/docker".into()
    } else {
        "docker".into()
    }
}

/// A Docker daemon of the test's own, stopped (with its containers) and its bridge removed
/// when dropped.
struct Dockerd {
    proc: Option<Proc>,
    dir: PathBuf,
    socket: PathBuf,
    bridge: String,
}

impl Dockerd {
    /// Starts one with a bridge `10.232.<octet>.0/24` of its own; `None` (with why printed)
    /// where the test cannot run.
    fn start(tag: &str) -> Option<Dockerd> {
        let required = std::env::var("MESOS_RS_REQUIRE_DOCKER").as_deref() == Ok("1");
        if !nix::unistd::geteuid().is_root() {
            println!("skipped: the Docker daemon needs root");
            return None;
        }
        let have = Command::new("dockerd")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !have || !Path::new("/bin/busybox").is_file() {
            assert!(
                !required,
                "dockerd and /bin/busybox are required (apt-get install docker.io busybox-static)"
            );
            println!("skipped: no dockerd or /bin/busybox; .ci/test installs them");
            return None;
        }
        let id = &mesos_api::ids::new_uuid()[..6];
        let dir = std::env::temp_dir().join(format!("mesos-docker-{tag}-{id}"));
        std::fs::create_dir_all(&dir).unwrap();
        let bridge = format!("md{id}");
        let octet = 100 + (std::process::id() % 100) + if tag == "restart" { 50 } else { 0 };
        let octet = octet % 250;
        for args in [
            vec!["link", "add", "name", &bridge, "type", "bridge"],
            vec![
                "addr",
                "add",
                &format!("10.232.{octet}.1/24"),
                "dev",
                &bridge,
            ],
            vec!["link", "set", &bridge, "up"],
        ] {
            let st = Command::new("ip").args(&args).status().unwrap();
            assert!(st.success(), "ip {args:?}");
        }
        let socket = dir.join("docker.sock");
        let log = std::fs::File::create(dir.join("dockerd.log")).unwrap();
        let proc = Proc::spawn(
            testkit::command("dockerd")
                .arg(format!("--data-root={}", dir.join("data").display()))
                .arg(format!("--exec-root={}", dir.join("exec").display()))
                .arg(format!("--pidfile={}", dir.join("dockerd.pid").display()))
                .arg(format!("--host=unix://{}", socket.display()))
                .arg(format!("--bridge={bridge}"))
                .args(["--iptables=false", "--ip-masq=false"])
                .stdout(log.try_clone().unwrap())
                .stderr(log),
        );
        let d = Dockerd {
            proc: Some(proc),
            dir,
            socket,
            bridge,
        };
        eventually(LIMIT, "dockerd to answer", || {
            let out = d.docker(&["version", "--format", "{{.Server.Version}}"]);
            if out.status.success() {
                Ok(())
            } else {
                Err(String::from_utf8_lossy(&out.stderr).into_owned())
            }
        });
        // The test image: busybox, loaded from a docker archive.
        let archive = mesos_containerizer::testimage::write_busybox_image(
            &d.dir.join("images"),
            IMAGE,
            "inside-the-image",
            serde_json::json!({"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"]}),
        )
        .unwrap()
        .expect("busybox");
        let out = d.docker(&["load", "-i", &archive.display().to_string()]);
        assert!(out.status.success(), "docker load: {out:?}");
        Some(d)
    }

    fn docker(&self, args: &[&str]) -> std::process::Output {
        Command::new(docker_cli())
            .arg("-H")
            .arg(format!("unix://{}", self.socket.display()))
            .args(args)
            .output()
            .unwrap()
    }

    /// `docker inspect` of a container, `None` when there is none.
    fn inspect(&self, name: &str) -> Option<serde_json::Value> {
        let out = self.docker(&["inspect", "--type", "container", name]);
        out.status.success().then(|| {
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            v[0].clone()
        })
    }

    /// The agent's flags for this daemon.
    fn agent_flags(&self) -> Vec<String> {
        vec![
            "--containerizers=docker,mesos".into(),
            format!("--docker={}", docker_cli()),
            format!("--docker_socket={}", self.socket.display()),
        ]
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        // Its containers first (no test leaves one running), then the daemon, gently.
        let out = self.docker(&["ps", "-aq"]);
        for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            let _ = self.docker(&["rm", "-f", id]);
        }
        if let Some(mut p) = self.proc.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(p.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            for _ in 0..100 {
                if matches!(p.try_wait(), Ok(Some(_))) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .stderr(Stdio::null())
            .status();
        // What the daemon left mounted under its roots (its default netns) goes too.
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
        let ours: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1))
            .filter(|m| Path::new(m).starts_with(&self.dir))
            .collect();
        for m in ours.into_iter().rev() {
            let _ = nix::mount::umount2(m, nix::mount::MntFlags::MNT_DETACH);
        }
        if std::thread::panicking() {
            // What the daemon, master and agent said stays for a look.
            println!(
                "kept {} (dockerd.log, master.log, agent.log)",
                self.dir.display()
            );
            let _ = std::fs::remove_dir_all(self.dir.join("data"));
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn master(port: u16, d: &Dockerd) -> Proc {
    let log = std::fs::File::create(d.dir.join("master.log")).unwrap();
    Proc::spawn(
        bin("mesos-master")
            .args([
                format!("--port={port}"),
                "--allocation_interval=50ms".into(),
            ])
            .stderr(log),
    )
}

/// An agent of the master on `port`, itself on `own` (a restarted agent keeps its port: its
/// executors reconnect there).
fn agent(port: u16, own: u16, work: &Path, d: &Dockerd, extra: &[&str]) -> Proc {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(d.dir.join("agent.log"))
        .unwrap();
    Proc::spawn(
        bin("mesos-agent")
            .args([
                format!("--master=127.0.0.1:{port}"),
                format!("--work_dir={}", work.display()),
                format!("--port={own}"),
                "--resources=cpus:4;mem:1024;ports:[31000-31100]".into(),
                "--registration_backoff_factor=100ms".into(),
            ])
            .args(d.agent_flags())
            .args(extra)
            .stderr(log),
    )
}

/// A checkpointing framework of the test against the master on `port`.
async fn framework(port: u16) -> Framework {
    let ip = "127.0.0.1".parse().unwrap();
    common::framework(
        ip,
        &format!("127.0.0.1:{port}"),
        "docker-test",
        false,
        true,
        120.0,
    )
    .await
}

/// Updates of `task` until one in `state` (or a terminal one): all of them, the last asserted
/// to be in `state`.
async fn reach(fw: &mut Framework, task: &str, state: TaskState) -> Vec<TaskStatus> {
    let mut seen = Vec::new();
    loop {
        if let Seen::Update(s) = next(&mut fw.rx, LIMIT).await {
            if s.task_id.value == task {
                let done = s.state == state || s.state.is_terminal();
                seen.push(s);
                if done {
                    assert_eq!(
                        seen.last().unwrap().state,
                        state,
                        "{task}: {}",
                        brief(&seen)
                    );
                    return seen;
                }
            }
        }
    }
}

async fn kill(fw: &Framework, task: &str) {
    let t = TaskID::new(task);
    fw.pid
        .dispatch(move |p: &mut SchedulerProcess<Recorder>, _| p.driver().kill(t, None, None))
        .await
        .unwrap();
}

/// A command task in a docker container of the test image.
fn docker_task(id: &str, cmd: &str, res: &str, network: &str) -> TaskInfo {
    let mut t = command_task(id, &mesos_api::AgentID::new(""), cmd, res);
    t.container = Some(ContainerInfo {
        kind: ContainerType::Docker,
        docker: Some(DockerInfo {
            image: IMAGE.into(),
            network: Some(network.into()),
            ..DockerInfo::default()
        }),
        mesos: None,
        ..ContainerInfo::mesos()
    });
    t
}

/// A docker task's DockerInfo, to change.
fn docker_info(t: &mut TaskInfo) -> &mut DockerInfo {
    t.container
        .as_mut()
        .and_then(|c| c.docker.as_mut())
        .expect("a docker task")
}

fn sandbox_of(s: &TaskStatus, work: &Path) -> PathBuf {
    let cid = container_id(s);
    testkit::walk(work, testkit::Links::Skip)
        .into_iter()
        .find(|p| p.ends_with(format!("runs/{cid}/stdout")))
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| panic!("no sandbox of container {cid} under {}", work.display()))
}

/// Statuses as a failed assertion shows them: without `data` (all of `docker inspect`).
fn brief(states: &[TaskStatus]) -> String {
    states
        .iter()
        .map(|s| {
            format!(
                "{:?} {:?} {:?} {:?}",
                s.state, s.message, s.reason, s.container_status
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn container_id(s: &TaskStatus) -> String {
    s.container_status
        .as_ref()
        .and_then(|c| c.container_id.as_ref())
        .map(|c| c.value.clone())
        .unwrap_or_else(|| panic!("no container id in {}", brief(std::slice::from_ref(s))))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_tasks_run_through_the_daemon_with_resources_sandbox_ports_and_kill_policy() {
    let Some(d) = Dockerd::start("run") else {
        return;
    };
    let port = free_port();
    let _master = master(port, &d);
    let work = d.dir.join("work");
    let _agent = agent(port, free_port(), &work, &d, &[]);
    let mut fw = framework(port).await;

    // 1. A task runs in the image, with the sandbox mounted, to FINISHED; its output is the
    // sandbox's stdout and stderr, and docker has the container with its resources.
    let mut hello = docker_task(
        "hello",
        "cat /etc/marker; echo sandbox=$MESOS_SANDBOX; echo to-stderr >&2; \
         echo made > $MESOS_SANDBOX/made-inside; ls /host-data",
        "cpus:0.5;mem:96",
        "HOST",
    );
    let host_data = d.dir.join("host-data");
    std::fs::create_dir_all(&host_data).unwrap();
    std::fs::write(host_data.join("visible"), "x").unwrap();
    hello.container.as_mut().unwrap().volumes = vec![Volume {
        mode: VolumeMode::Ro,
        container_path: "/host-data".into(),
        host_path: Some(host_data.display().to_string()),
        source: None,
    }];
    fw.launch_task(hello).await;
    let states = reach(&mut fw, "hello", TaskState::Finished).await;
    let kinds: Vec<TaskState> = states.iter().map(|s| s.state).collect();
    assert_eq!(
        kinds,
        [TaskState::Starting, TaskState::Running, TaskState::Finished],
        "{}",
        brief(&states)
    );
    let last = states.last().unwrap();
    assert_eq!(
        last.message.as_deref(),
        Some("Container exited with status 0")
    );
    // TASK_RUNNING carries `docker inspect`'s output, as in Mesos.
    let running = &states[1];
    let inspected: serde_json::Value =
        serde_json::from_slice(running.data.as_deref().unwrap_or_default()).unwrap();
    let cid = container_id(running);
    let name = format!("mesos-{cid}");
    assert_eq!(inspected[0]["Name"], format!("/{name}"), "{inspected}");
    let sandbox = sandbox_of(running, &work);
    let stdout = std::fs::read_to_string(sandbox.join("stdout")).unwrap();
    assert_eq!(
        stdout,
        "inside-the-image\nsandbox=/mnt/mesos/sandbox\nvisible\n",
        "{}",
        sandbox.display()
    );
    let stderr = std::fs::read_to_string(sandbox.join("stderr")).unwrap();
    assert!(stderr.contains("to-stderr"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(sandbox.join("made-inside")).unwrap(),
        "made\n"
    );
    // The ended container is kept (--docker_remove_delay), with the task's resources.
    let c = d.inspect(&name).expect("the task's docker container");
    assert_eq!(c["HostConfig"]["Memory"], 96 * 1048576, "{c}");
    assert_eq!(c["HostConfig"]["CpuShares"], 512, "{c}");
    assert_eq!(c["HostConfig"]["NetworkMode"], "host", "{c}");

    // 2. A failing command fails the task with the container's exit status.
    fw.launch_task(docker_task("fails", "exit 3", "cpus:0.5;mem:64", "HOST"))
        .await;
    let last = reach(&mut fw, "fails", TaskState::Failed)
        .await
        .pop()
        .unwrap();
    assert_eq!(
        last.message.as_deref(),
        Some("Container exited with status 3")
    );

    // 3. On the bridge with a port mapping: served on the host's port, with the container's
    // address in the status; a kill stops it by its kill policy: SIGTERM first.
    let host_port = 31042;
    let mut served = docker_task(
        "served",
        "trap 'echo got-term; exit 0' TERM; httpd -p 8080 -h /etc; \
         while true; do sleep 0.2; done",
        "cpus:0.5;mem:64;ports:[31042-31042]",
        "BRIDGE",
    );
    docker_info(&mut served).port_mappings = vec![PortMapping {
        host_port,
        container_port: 8080,
        protocol: Some("tcp".into()),
    }];
    served.kill_policy = Some(KillPolicy {
        grace_period: Some(DurationInfo::from_duration(Duration::from_secs(5))),
    });
    fw.launch_task(served).await;
    let running = reach(&mut fw, "served", TaskState::Running)
        .await
        .pop()
        .unwrap();
    let ip = common::address(&running).unwrap_or_default();
    assert!(
        ip.starts_with("10.232."),
        "{}",
        brief(std::slice::from_ref(&running))
    );
    let body = testkit::eventually_async(LIMIT, "the task's server on the host port", || async {
        let r = mesos_agent::httpc::request(
            &format!("127.0.0.1:{host_port}"),
            "GET",
            "/marker",
            &[],
            b"",
        )
        .await
        .map_err(|e| e.to_string())?;
        Ok::<_, String>(String::from_utf8_lossy(&r.body).into_owned())
    })
    .await;
    assert_eq!(body, "inside-the-image\n");
    kill(&fw, "served").await;
    reach(&mut fw, "served", TaskState::Killed).await;
    let sandbox = sandbox_of(&running, &work);
    let out = std::fs::read_to_string(sandbox.join("stdout")).unwrap();
    assert!(out.contains("got-term"), "the task saw no SIGTERM: {out}");
    let name = format!("mesos-{}", container_id(&running));
    let c = d.inspect(&name).expect("the killed container, kept");
    assert_eq!(c["State"]["Running"], false, "{c}");

    // 4. An image the daemon cannot get fails the task with docker's words.
    let mut missing = docker_task("missing", "true", "cpus:0.5;mem:64", "HOST");
    docker_info(&mut missing).image = "mesos-test/nowhere:1".into();
    fw.launch_task(missing).await;
    let last = reach(&mut fw, "missing", TaskState::Failed)
        .await
        .pop()
        .unwrap();
    let msg = last.message.unwrap_or_default();
    assert!(
        msg.starts_with("Failed to run docker container:") && msg.contains("nowhere"),
        "{msg}"
    );

    // 5. A port mapping outside the task's ports fails at once, with Mesos's words.
    let mut bad = docker_task("badport", "true", "cpus:0.5;mem:64", "BRIDGE");
    docker_info(&mut bad).port_mappings = vec![PortMapping {
        host_port: 31050,
        container_port: 80,
        protocol: None,
    }];
    fw.launch_task(bad).await;
    let last = reach(&mut fw, "badport", TaskState::Failed)
        .await
        .pop()
        .unwrap();
    let msg = last.message.unwrap_or_default();
    assert!(
        msg.contains("Port [31050] not included in resources"),
        "{msg}"
    );

    // 6. mesos-execute --containerizer=docker, as an operator runs it: the image's argv.
    let out = Proc::run(
        testkit::command(env!("CARGO_BIN_EXE_mesos-execute")).args([
            format!("--master=127.0.0.1:{port}"),
            "--name=from-cli".into(),
            "--containerizer=docker".into(),
            format!("--docker_image={IMAGE}"),
            "--shell=false".into(),
            "--command=cat /etc/marker".into(),
            "--resources=cpus:0.5;mem:64".into(),
        ]),
        LIMIT,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("TASK_FINISHED for task 'from-cli'"),
        "{stdout}"
    );
    let found = testkit::walk(&work, testkit::Links::Skip)
        .into_iter()
        .filter(|p| p.ends_with("stdout") && p.to_string_lossy().contains("/from-cli/"))
        .any(|p| std::fs::read_to_string(p).unwrap_or_default() == "inside-the-image\n");
    assert!(found, "no sandbox with the image's marker for from-cli");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_docker_task_outlives_an_agent_restart_and_orphans_are_removed() {
    let Some(d) = Dockerd::start("restart") else {
        return;
    };
    // Containers of the daemon's before the agent starts: one named as the agent names its
    // own (an orphan: no agent container has its id), one not.
    for name in ["mesos-orphan1", "someone-elses"] {
        let out = d.docker(&["create", "--name", name, IMAGE, "true"]);
        assert!(out.status.success(), "{out:?}");
    }
    let port = free_port();
    let _master = master(port, &d);
    let work = d.dir.join("work");
    let extra = ["--docker_remove_delay=1secs"];
    let own = free_port();
    let mut a = agent(port, own, &work, &d, &extra);
    eventually(LIMIT, "the orphan to be removed", || {
        match d.inspect("mesos-orphan1") {
            None => Ok(()),
            Some(_) => Err("still there"),
        }
    });
    assert!(
        d.inspect("someone-elses").is_some(),
        "a container not named as the agent's was removed"
    );
    let mut fw = framework(port).await;
    fw.launch_task(docker_task(
        "long",
        "while true; do sleep 0.2; done",
        "cpus:0.5;mem:64",
        "NONE",
    ))
    .await;
    let running = reach(&mut fw, "long", TaskState::Running)
        .await
        .pop()
        .unwrap();
    let name = format!("mesos-{}", container_id(&running));
    // The agent dies; the task's container runs on, and the restarted agent recovers it
    // (its executor resubscribes) rather than removing it as an orphan.
    a.kill().unwrap();
    a.wait().unwrap();
    let _a = agent(port, own, &work, &d, &extra);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let c = d
        .inspect(&name)
        .expect("the task's container after the restart");
    assert_eq!(c["State"]["Running"], true, "{c}");
    // Killed through the recovered executor; the container is removed after the delay.
    kill(&fw, "long").await;
    reach(&mut fw, "long", TaskState::Killed).await;
    eventually(LIMIT, "the ended container to be removed", || {
        match d.inspect(&name) {
            None => Ok(()),
            Some(_) => Err("still there"),
        }
    });
}
