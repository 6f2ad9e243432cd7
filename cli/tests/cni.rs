//! network/cni with the real CNI plugins (Debian's `containernetworking-plugins`): a task on a
//! bridge network gets its own network namespace, interface, address, hostname and `/etc`
//! files, is reachable at its address from the host, reports the address in its status, and
//! gives the address back (CNI DEL) when it ends. As root; without the plugins it says why it
//! skips, unless `MESOS_RS_REQUIRE_CNI=1` (`.ci/test`).

use std::process::{Command, Stdio};
use std::time::Duration;

use mesos_agent::httpc;
use mesos_api::protocol::container::{ContainerInfo, NetworkInfo, PortMapping};
use mesos_api::protocol::task::TaskState;
use mesos_api::AgentID;
use serde_json::Value;
use testkit::{command_task, eventually_async, free_port, Proc};

mod common;

const LIMIT: Duration = Duration::from_secs(30);
const PLUGINS: &str = "/usr/lib/cni";

/// Removes the test's bridge however the test ends.
struct Bridge(String);

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.0])
            .stderr(Stdio::null())
            .status();
    }
}

async fn get_json(addr: &str, path: &str) -> Result<Value, String> {
    let r = httpc::request(addr, "GET", path, &[], b"")
        .await
        .map_err(|e| e.to_string())?;
    serde_json::from_slice(&r.body).map_err(|e| e.to_string())
}

/// A bridge network of the test's own for CNI: its configuration directory, bridge, name and
/// gateway. `None` (with why printed) where the test cannot run.
struct Net {
    dir: std::path::PathBuf,
    configs: std::path::PathBuf,
    bridge: Bridge,
    network: String,
    gateway: String,
}

impl Net {
    /// The network `10.231.<n>.0/24`, `n` from the process and `slot` (tests at once differ).
    fn setup(slot: u32) -> Option<Net> {
        if !nix::unistd::geteuid().is_root() {
            println!("skipped: network/cni needs root (namespaces)");
            return None;
        }
        if !std::path::Path::new(PLUGINS).join("bridge").is_file() {
            if std::env::var("MESOS_RS_REQUIRE_CNI").as_deref() == Ok("1") {
                panic!(
                    "the CNI plugins are required (apt-get install containernetworking-plugins)"
                );
            }
            println!("skipped: no CNI plugins in {PLUGINS}; .ci/test installs them");
            return None;
        }
        let tag = &mesos_api::ids::new_uuid()[..6];
        let dir = std::env::temp_dir().join(format!("mesos-cni-{tag}"));
        let configs = dir.join("cni");
        std::fs::create_dir_all(&configs).unwrap();
        // A subnet of its own, so that tests running at once do not meet.
        let octet = 100 + (std::process::id() % 50) + 50 * slot;
        let subnet = format!("10.231.{octet}.0/24");
        let bridge = Bridge(format!("mt{tag}"));
        let network = format!("testnet-{tag}");
        let conf = serde_json::json!({
            "cniVersion": "0.4.0",
            "name": network,
            "plugins": [
                {"type": "bridge", "bridge": bridge.0, "isGateway": true, "ipMasq": false,
                 "ipam": {"type": "host-local", "subnet": subnet,
                          "dataDir": dir.join("ipam").display().to_string()}},
                {"type": "portmap", "capabilities": {"portMappings": true}}
            ]
        });
        std::fs::write(configs.join("test.conflist"), conf.to_string()).unwrap();
        // Executors in the container's namespace talk to the agent: as Mesos asks, the
        // agent's address must be reachable from the network, here the bridge's own (the
        // gateway).
        let gateway = format!("10.231.{octet}.1");
        for args in [
            vec!["link", "add", "name", &bridge.0, "type", "bridge"],
            vec!["addr", "add", &format!("{gateway}/24"), "dev", &bridge.0],
            vec!["link", "set", &bridge.0, "up"],
        ] {
            let st = Command::new("ip").args(&args).status().unwrap();
            assert!(st.success(), "ip {args:?}");
        }
        Some(Net {
            dir,
            configs,
            bridge,
            network,
            gateway,
        })
    }

    /// The agent flags for network/cni on this network.
    fn agent_flags(&self) -> Vec<String> {
        vec![
            "--launcher=linux".into(),
            "--isolation=network/cni".into(),
            format!("--network_cni_config_dir={}", self.configs.display()),
            format!("--network_cni_plugins_dir={PLUGINS}"),
        ]
    }

    /// Where host-local keeps the lease of `ip`.
    fn lease(&self, ip: &str) -> std::path::PathBuf {
        self.dir.join("ipam").join(&self.network).join(ip)
    }
}

#[tokio::test]
async fn a_task_on_a_cni_bridge_network_gets_its_own_address_and_gives_it_back() {
    let Some(net) = Net::setup(0) else {
        return;
    };
    let Net {
        dir,
        network,
        gateway,
        ..
    } = &net;
    let bridge = &net.bridge;
    let port = free_port();
    let addr = format!("{gateway}:{port}");
    let work = dir.join("work");
    let _local = Proc::spawn(
        testkit::command(env!("CARGO_BIN_EXE_mesos-local"))
            .args([
                format!("--ip={gateway}"),
                format!("--port={port}"),
                "--num_agents=1".into(),
                format!("--work_dir={}", work.display()),
                "--resources=cpus:2;mem:512".into(),
            ])
            .args(net.agent_flags())
            .stderr(Stdio::null()),
    );
    eventually_async(LIMIT, "mesos-local with its agent", || async {
        let v = get_json(&addr, "/master/slaves").await?;
        match v["slaves"].as_array().map(Vec::len) {
            Some(1) => Ok(()),
            _ => Err(v.to_string()),
        }
    })
    .await;
    // The task serves HTTP on its own address, and notes what it sees.
    let script = "ls /sys/class/net > $MESOS_SANDBOX/ifaces; hostname > $MESOS_SANDBOX/host; \
                  cat /etc/hosts > $MESOS_SANDBOX/hosts; \
                  exec python3 -m http.server 8080 --bind 0.0.0.0";
    let mut exec = Proc::spawn(
        testkit::command(env!("CARGO_BIN_EXE_mesos-execute"))
            .env("LIBPROCESS_IP", gateway)
            .args([
                format!("--master={addr}"),
                "--name=served".into(),
                format!("--command={script}"),
                "--resources=cpus:0.5;mem:64".into(),
                format!("--networks={network}"),
                "--kill_after=10secs".into(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    // Its address, from the master's state (where service discovery reads it).
    let ip = eventually_async(LIMIT, "the task's address in /master/state", || async {
        let v = get_json(&addr, "/master/state").await?;
        let task = &v["frameworks"][0]["tasks"][0];
        let running = task["statuses"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["state"] == "TASK_RUNNING"))
            .cloned()
            .ok_or_else(|| format!("not running yet: {task}"))?;
        let net = &running["container_status"]["network_infos"][0];
        if net["name"] != network.as_str() {
            return Err(format!("not on {network}: {running}"));
        }
        net["ip_addresses"][0]["ip_address"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| running.to_string())
    })
    .await;
    let subnet = gateway.trim_end_matches(".1");
    assert!(ip.starts_with(&format!("{subnet}.")), "{ip}");
    // Reachable from the host at that address (through the bridge).
    eventually_async(LIMIT, "an HTTP answer from the task's address", || async {
        let r = httpc::request(&format!("{ip}:8080"), "GET", "/", &[], b"")
            .await
            .map_err(|e| e.to_string())?;
        if r.head.status == 200 {
            Ok(())
        } else {
            Err(format!("status {}", r.head.status))
        }
    })
    .await;
    // What the task saw: its interface, its hostname, its address in /etc/hosts.
    let sandbox = testkit::walk(&work, testkit::Links::Follow)
        .into_iter()
        .find(|p| p.ends_with("runs/latest/ifaces"))
        .and_then(|p| p.parent().map(|d| d.to_path_buf()))
        .expect("the task's sandbox");
    let ifaces = std::fs::read_to_string(sandbox.join("ifaces")).unwrap();
    assert!(ifaces.lines().any(|l| l == "eth0"), "{ifaces}");
    assert!(
        !ifaces.contains(&bridge.0),
        "the host's interfaces: {ifaces}"
    );
    let host = std::fs::read_to_string(sandbox.join("host")).unwrap();
    // The hostname is the container's UTS namespace's, not the machine's.
    let machine = nix::unistd::gethostname().unwrap();
    assert_ne!(
        machine.to_string_lossy(),
        host.trim(),
        "the task's hostname was set on the machine"
    );
    let hosts = std::fs::read_to_string(sandbox.join("hosts")).unwrap();
    assert!(
        hosts.contains(&format!("{ip} {}", host.trim())),
        "{hosts} / {host}"
    );
    // The address was handed out by host-local, and is given back when the task ends.
    let lease = net.lease(&ip);
    assert!(lease.exists(), "no lease {}", lease.display());
    let _ = exec.wait();
    eventually_async(LIMIT, "CNI DEL to give the address back", || async {
        if lease.exists() {
            Err(format!("{} still there", lease.display()))
        } else {
            Ok(())
        }
    })
    .await;
    // Nothing is left of its namespace.
    let left: Vec<_> = testkit::walk(&work, testkit::Links::Skip)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("isolators/network/cni/"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let _ = std::fs::remove_dir_all(dir);
}

/// The processes in the network namespace kept on `ns` (a bind mount of it).
fn in_netns(ns: &std::path::Path) -> Vec<i32> {
    use std::os::unix::fs::MetadataExt;
    let Ok(want) = std::fs::metadata(ns) else {
        return Vec::new();
    };
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(m) = std::fs::metadata(e.path().join("ns/net")) {
            if m.ino() == want.ino() && m.dev() == want.dev() {
                v.push(p);
            }
        }
    }
    v
}

/// A container on a CNI network, its server published on a host port (the portmap plugin),
/// that ended while its agent was down gives its address back
/// (CNI DEL) and its namespace goes when the agent is back: a checkpointing framework's, whose
/// processes are killed while the agent is down (recovered, then found gone), and one of a
/// framework that does not checkpoint (its executor ends with the agent; an orphan at restart).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_on_a_cni_network_is_published_by_portmap_and_gives_its_address_back_after_an_agent_restart(
) {
    for checkpoint in [true, false] {
        let Some(net) = Net::setup(1) else {
            return;
        };
        not_taken_back(&net, checkpoint).await;
        let _ = std::fs::remove_dir_all(&net.dir);
    }
}

async fn not_taken_back(net: &Net, checkpoint: bool) {
    let port = free_port();
    let own = free_port();
    let _master = Proc::spawn(
        testkit::command(env!("CARGO_BIN_EXE_mesos-master"))
            .args([
                format!("--ip={}", net.gateway),
                format!("--port={port}"),
                "--allocation_interval=50ms".into(),
            ])
            .stderr(Stdio::null()),
    );
    let work = net.dir.join("work");
    let agent = || {
        Proc::spawn(
            testkit::command(env!("CARGO_BIN_EXE_mesos-agent"))
                .args([
                    format!("--master={}:{port}", net.gateway),
                    format!("--ip={}", net.gateway),
                    format!("--port={own}"),
                    format!("--work_dir={}", work.display()),
                    "--resources=cpus:2;mem:512;ports:[31000-31100]".into(),
                    "--registration_backoff_factor=100ms".into(),
                ])
                .args(net.agent_flags())
                .stderr(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(net.dir.join("agent.log"))
                        .unwrap(),
                ),
        )
    };
    let mut a = agent();
    // Everyone on the bridge's address, which the container reaches too.
    let ip: std::net::IpAddr = net.gateway.parse().unwrap();
    let master = format!("{}:{port}", net.gateway);
    let mut fw = common::framework(ip, &master, "cni", false, checkpoint, 120.0).await;
    // A server in the container, published on a host port through the portmap plugin.
    let host_port = 31000 + u32::from(checkpoint) + 2 * (std::process::id() % 40);
    let mut task = command_task(
        "netted",
        &AgentID::new(""),
        "exec python3 -m http.server 8080 --bind 0.0.0.0",
        &format!("cpus:0.5;mem:64;ports:[{host_port}-{host_port}]"),
    );
    task.container = Some(ContainerInfo {
        network_infos: vec![NetworkInfo {
            name: Some(net.network.clone()),
            port_mappings: vec![PortMapping {
                host_port,
                container_port: 8080,
                protocol: Some("tcp".into()),
            }],
            ..NetworkInfo::default()
        }],
        ..ContainerInfo::mesos()
    });
    fw.launch_task(task).await;
    let running = fw
        .state_of("netted", |s| s == TaskState::Running || s.is_terminal())
        .await;
    assert_eq!(running.state, TaskState::Running, "{running:?}");
    let ip = common::address(&running).expect("the task's address");
    let lease = net.lease(&ip);
    assert!(lease.exists(), "no lease {}", lease.display());
    // The host's port reaches the container's server (the host's address, not the task's).
    let published = format!("{}:{host_port}", net.gateway);
    eventually_async(LIMIT, "the task's server on its host port", || async {
        let r = httpc::request(&published, "GET", "/", &[], b"")
            .await
            .map_err(|e| e.to_string())?;
        match r.head.status {
            200 => Ok(()),
            s => Err(format!("status {s}")),
        }
    })
    .await;
    let ns = testkit::walk(&work, testkit::Links::Skip)
        .into_iter()
        .find(|p| p.ends_with("ns") && p.to_string_lossy().contains("isolators/network/cni/"))
        .expect("the container's network namespace");
    a.kill().unwrap();
    a.wait().unwrap();
    // A checkpointing framework's executor waits for the agent; another's ends with it.
    let procs = in_netns(&ns);
    if checkpoint {
        assert!(!procs.is_empty(), "no process in the container's namespace");
        // The container's processes (its executor and task) die while the agent is down.
        for &p in &procs {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(p),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        eventually_async(LIMIT, "the container's processes to end", || async {
            match in_netns(&ns).len() {
                0 => Ok(()),
                n => Err(format!("{n} left")),
            }
        })
        .await;
    }
    assert!(lease.exists(), "the address went back with no agent");
    // The restarted agent finds the container gone: CNI DEL gives the address back.
    let _a = agent();
    eventually_async(LIMIT, "CNI DEL after the restart", || async {
        if lease.exists() || ns.exists() {
            Err(format!(
                "{} or {} still there",
                lease.display(),
                ns.display()
            ))
        } else {
            Ok(())
        }
    })
    .await;
    // Gone, or a zombie no one reaps (their parent, the first agent, is gone).
    let alive = |p: &i32| {
        std::fs::read_to_string(format!("/proc/{p}/stat"))
            .ok()
            .and_then(|s| {
                s.rsplit(')')
                    .next()
                    .map(|r| r.trim_start().starts_with('Z'))
            })
            .is_some_and(|zombie| !zombie)
    };
    let left: Vec<&i32> = procs.iter().filter(|p| alive(p)).collect();
    assert!(
        left.is_empty(),
        "the container's processes live on: {left:?}"
    );
}
