//! network/cni with the real CNI plugins (Debian's `containernetworking-plugins`): a task on a
//! bridge network gets its own network namespace, interface, address, hostname and `/etc`
//! files, is reachable at its address from the host, reports the address in its status, and
//! gives the address back (CNI DEL) when it ends. As root; without the plugins it says why it
//! skips, unless `MESOS_RS_REQUIRE_CNI=1` (`.ci/test`).

use std::process::{Command, Stdio};
use std::time::Duration;

use mesos_agent::httpc;
use serde_json::Value;
use testkit::{eventually_async, free_port, Proc};

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

#[tokio::test]
async fn a_task_on_a_cni_bridge_network_gets_its_own_address_and_gives_it_back() {
    if !nix::unistd::geteuid().is_root() {
        println!("skipped: network/cni needs root (namespaces)");
        return;
    }
    if !std::path::Path::new(PLUGINS).join("bridge").is_file() {
        if std::env::var("MESOS_RS_REQUIRE_CNI").as_deref() == Ok("1") {
            panic!("the CNI plugins are required (apt-get install containernetworking-plugins)");
        }
        println!("skipped: no CNI plugins in {PLUGINS}; .ci/test installs them");
        return;
    }
    let tag = &mesos_api::ids::new_uuid()[..6];
    let dir = std::env::temp_dir().join(format!("mesos-cni-{tag}"));
    let configs = dir.join("cni");
    std::fs::create_dir_all(&configs).unwrap();
    // A subnet of its own, so that tests running at once do not meet.
    let octet = 100 + (std::process::id() % 100);
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
    // Executors in the container's namespace talk to the agent: as Mesos asks, the agent's
    // address must be reachable from the network, here the bridge's own (the gateway).
    let gateway = format!("10.231.{octet}.1");
    for args in [
        vec!["link", "add", "name", &bridge.0, "type", "bridge"],
        vec!["addr", "add", &format!("{gateway}/24"), "dev", &bridge.0],
        vec!["link", "set", &bridge.0, "up"],
    ] {
        let st = Command::new("ip").args(&args).status().unwrap();
        assert!(st.success(), "ip {args:?}");
    }
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
                "--launcher=linux".into(),
                "--isolation=network/cni".into(),
                format!("--network_cni_config_dir={}", configs.display()),
                format!("--network_cni_plugins_dir={PLUGINS}"),
            ])
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
            .env("LIBPROCESS_IP", &gateway)
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
    assert!(ip.starts_with(&format!("10.231.{octet}.")), "{ip}");
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
    let lease = dir.join("ipam").join(&network).join(&ip);
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
    drop(bridge);
    let _ = std::fs::remove_dir_all(&dir);
}
