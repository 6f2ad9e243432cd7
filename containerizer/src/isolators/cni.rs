//! network/cni: containers on CNI networks, as Mesos's `network/cni` isolator puts them.
//!
//! A container whose `ContainerInfo.network_infos` name networks gets its own network
//! namespace (made before the launch and kept in a file the namespace is bind mounted on,
//! which the launcher joins with `setns`) and its own UTS namespace with its hostname. Each
//! network is configured by the standard plugins (CNI `ADD`, one interface per network:
//! `eth0`, `eth1`, ...) from the configurations in `--network_cni_config_dir` (`.conf` with
//! one plugin, `.conflist` with a chain), the plugins found in `--network_cni_plugins_dir`.
//! Port mappings go to plugins that declare the `portMappings` capability (`portmap`), and
//! the container's `NetworkInfo` to all of them under `args.org.apache.mesos`, as Mesos does.
//!
//! What `ADD` gave is kept under `<work_dir>/isolators/network/cni/<container id>/`: the
//! configuration used, the result, and `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf`
//! for the container (the result's DNS, else the agent's), bind mounted over its own. Its IP
//! addresses are read from there ([`network_infos`]) for its status updates and the state
//! endpoints. Cleanup runs `DEL` with the same configuration (also after an agent restart, for
//! containers that ended while it was down), then removes the namespace. Nested containers
//! join their top-level container's namespace and files; a container naming no network stays
//! on the host's.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use mesos_api::protocol::container::{IpAddress, NetworkInfo};
use serde_json::{json, Value};

use super::{Isolator, IsolatorState, LaunchInfo};
use crate::config::ContainerConfig;
use crate::error::{Error, Result};
use crate::launch::BindMount;

/// The network/cni isolator.
pub struct Cni {
    /// `--network_cni_config_dir`.
    config_dir: PathBuf,
    /// `--network_cni_plugins_dir` (colon separated).
    plugin_dirs: Vec<PathBuf>,
    /// `<work_dir>/isolators/network/cni`.
    root: PathBuf,
}

/// The directory where a container's networking is kept.
pub fn container_dir(work_dir: &Path, container_id: &str) -> PathBuf {
    work_dir.join("isolators/network/cni").join(container_id)
}

/// What one network gave a container (kept as `networks.json`).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Joined {
    name: String,
    ifname: String,
    /// The configuration `ADD` ran with (`DEL` runs with it too).
    config: Value,
    /// The last plugin's result.
    result: Value,
}

/// The container's networks and addresses, as its status reports them (none: the host's).
pub fn network_infos(work_dir: &Path, container_id: &str) -> Vec<NetworkInfo> {
    let root = container_id.split('.').next().unwrap_or(container_id);
    let path = container_dir(work_dir, root).join("networks.json");
    let Ok(text) = fs::read(&path) else {
        return Vec::new();
    };
    let joined: Vec<Joined> = serde_json::from_slice(&text).unwrap_or_default();
    joined
        .iter()
        .map(|j| NetworkInfo {
            name: Some(j.name.clone()),
            ip_addresses: addresses(&j.result)
                .into_iter()
                .map(|(ip, v6)| IpAddress {
                    protocol: Some(if v6 { "IPv6" } else { "IPv4" }.into()),
                    ip_address: Some(ip),
                })
                .collect(),
            ..NetworkInfo::default()
        })
        .collect()
}

/// The addresses in a CNI result (0.3 and later: `ips`; 0.1/0.2: `ip4`, `ip6`), without
/// prefix lengths, with whether each is IPv6.
fn addresses(result: &Value) -> Vec<(String, bool)> {
    let strip = |a: &str| a.split('/').next().unwrap_or(a).to_string();
    let mut out = Vec::new();
    if let Some(ips) = result.get("ips").and_then(Value::as_array) {
        for ip in ips {
            if let Some(a) = ip.get("address").and_then(Value::as_str) {
                out.push((strip(a), a.contains(':')));
            }
        }
    }
    for (key, v6) in [("ip4", false), ("ip6", true)] {
        if let Some(a) = result
            .pointer(&format!("/{key}/ip"))
            .and_then(Value::as_str)
        {
            out.push((strip(a), v6));
        }
    }
    out
}

impl Cni {
    /// The isolator, checking that the configuration directory holds valid configurations
    /// with unique names and that the plugins directories exist.
    pub fn new(config_dir: PathBuf, plugins: &str, work_dir: &Path) -> Result<Cni> {
        let plugin_dirs: Vec<PathBuf> = plugins
            .split(':')
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .collect();
        if plugin_dirs.is_empty() {
            return Err(Error::Invalid(
                "network/cni needs --network_cni_plugins_dir".into(),
            ));
        }
        for d in &plugin_dirs {
            if !d.is_dir() {
                return Err(Error::Invalid(format!(
                    "--network_cni_plugins_dir: '{}' is not a directory",
                    d.display()
                )));
            }
        }
        let cni = Cni {
            config_dir,
            plugin_dirs,
            root: work_dir.join("isolators/network/cni"),
        };
        cni.configs()?;
        Ok(cni)
    }

    /// Every configuration in the directory, by network name.
    fn configs(&self) -> Result<Vec<(String, Value)>> {
        let dir = &self.config_dir;
        let entries = fs::read_dir(dir).map_err(|e| {
            Error::Invalid(format!(
                "--network_cni_config_dir: cannot read '{}': {e}",
                dir.display()
            ))
        })?;
        let mut out: Vec<(String, Value)> = Vec::new();
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
            if !matches!(ext, "conf" | "conflist" | "json") {
                continue;
            }
            let bad = |why: String| Error::Invalid(format!("CNI config '{}': {why}", p.display()));
            let text = fs::read(&p).map_err(|e| bad(e.to_string()))?;
            let v: Value = serde_json::from_slice(&text).map_err(|e| bad(e.to_string()))?;
            let name = v
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("no 'name'".into()))?
                .to_string();
            if v.get("plugins").is_none() && v.get("type").is_none() {
                return Err(bad("neither 'type' nor 'plugins'".into()));
            }
            if out.iter().any(|(n, _)| *n == name) {
                return Err(bad(format!("network '{name}' is configured twice")));
            }
            out.push((name, v));
        }
        Ok(out)
    }

    fn plugin(&self, kind: &str) -> Result<PathBuf> {
        if kind.is_empty() || kind.contains('/') {
            return Err(Error::Invalid(format!("bad CNI plugin type '{kind}'")));
        }
        self.plugin_dirs
            .iter()
            .map(|d| d.join(kind))
            .find(|p| p.is_file())
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "CNI plugin '{kind}' is not in --network_cni_plugins_dir"
                ))
            })
    }

    /// Runs one plugin; its result (`Null` for DEL).
    fn invoke(
        &self,
        command: &str,
        container_id: &str,
        netns: &Path,
        ifname: &str,
        conf: &Value,
    ) -> Result<Value> {
        let kind = conf.get("type").and_then(Value::as_str).unwrap_or("");
        let program = self.plugin(kind)?;
        let path = self
            .plugin_dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(":");
        let mut child = Command::new(&program)
            .env("CNI_COMMAND", command)
            .env("CNI_CONTAINERID", container_id)
            .env("CNI_NETNS", netns)
            .env("CNI_IFNAME", ifname)
            .env("CNI_PATH", path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Error::io("cannot run", &program, e))?;
        if let Some(mut stdin) = child.stdin.take() {
            use std::io::Write;
            let _ = stdin.write_all(conf.to_string().as_bytes());
        }
        let out = child
            .wait_with_output()
            .map_err(|e| Error::io("cannot wait for", &program, e))?;
        let parsed: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        if !out.status.success() {
            let msg = parsed
                .get("msg")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| String::from_utf8_lossy(&out.stderr).trim().to_string());
            let details = parsed.get("details").and_then(Value::as_str).unwrap_or("");
            return Err(Error::Invalid(format!(
                "CNI plugin '{kind}' {command} failed ({}): {msg}{}{details}",
                out.status,
                if details.is_empty() { "" } else { ": " }
            )));
        }
        Ok(parsed)
    }

    /// The plugin configurations of a network, in order: each a whole network configuration
    /// (`name`, `cniVersion`) with its runtime arguments.
    fn chain(&self, network: &Value, info: &NetworkInfo) -> Vec<Value> {
        let name = network.get("name").cloned().unwrap_or(Value::Null);
        let version = network
            .get("cniVersion")
            .cloned()
            .unwrap_or_else(|| json!("0.4.0"));
        let plugins: Vec<Value> = match network.get("plugins").and_then(Value::as_array) {
            Some(list) => list.clone(),
            None => vec![network.clone()],
        };
        let mappings: Vec<Value> = info
            .port_mappings
            .iter()
            .map(|m| {
                json!({
                    "hostPort": m.host_port,
                    "containerPort": m.container_port,
                    "protocol": m.protocol.clone().unwrap_or_else(|| "tcp".into()),
                })
            })
            .collect();
        plugins
            .into_iter()
            .map(|mut p| {
                p["name"] = name.clone();
                p["cniVersion"] = version.clone();
                p["args"]["org.apache.mesos"]["network_info"] =
                    serde_json::to_value(info).unwrap_or(Value::Null);
                let wants_ports = p
                    .pointer("/capabilities/portMappings")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                if wants_ports && !mappings.is_empty() {
                    p["runtimeConfig"]["portMappings"] = Value::Array(mappings.clone());
                }
                p
            })
            .collect()
    }

    /// `ADD` through a network's chain; the last result.
    fn add(&self, id: &str, netns: &Path, ifname: &str, chain: &[Value]) -> Result<Value> {
        let mut prev = Value::Null;
        for conf in chain {
            let mut conf = conf.clone();
            if !prev.is_null() {
                conf["prevResult"] = prev.clone();
            }
            prev = self.invoke("ADD", id, netns, ifname, &conf)?;
        }
        Ok(prev)
    }

    /// `DEL` through a chain, last plugin first.
    fn del(&self, id: &str, netns: &Path, ifname: &str, chain: &[Value], result: &Value) {
        for conf in chain.iter().rev() {
            let mut conf = conf.clone();
            if !result.is_null() {
                conf["prevResult"] = result.clone();
            }
            if let Err(e) = self.invoke("DEL", id, netns, ifname, &conf) {
                tracing::warn!(container = id, "{e}");
            }
        }
    }

    /// The files a container's `/etc` gets, and their bind mounts.
    fn etc_files(&self, dir: &Path, hostname: &str, joined: &[Joined]) -> Result<Vec<BindMount>> {
        let ip = joined
            .iter()
            .flat_map(|j| addresses(&j.result))
            .map(|(ip, _)| ip)
            .next();
        let mut hosts =
            String::from("127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n");
        if let Some(ip) = ip {
            hosts.push_str(&format!("{ip} {hostname}\n"));
        }
        let dns = joined.iter().find_map(|j| {
            let d = j.result.get("dns")?;
            let servers = d.get("nameservers")?.as_array()?;
            (!servers.is_empty()).then(|| d.clone())
        });
        let resolv = match dns {
            Some(d) => {
                let list = |k: &str| -> Vec<String> {
                    d.get(k)
                        .and_then(Value::as_array)
                        .map(|a| {
                            a.iter()
                                .filter_map(|v| v.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default()
                };
                let mut s = String::new();
                for n in list("nameservers") {
                    s.push_str(&format!("nameserver {n}\n"));
                }
                if let Some(domain) = d.get("domain").and_then(Value::as_str) {
                    s.push_str(&format!("domain {domain}\n"));
                }
                let search = list("search");
                if !search.is_empty() {
                    s.push_str(&format!("search {}\n", search.join(" ")));
                }
                let options = list("options");
                if !options.is_empty() {
                    s.push_str(&format!("options {}\n", options.join(" ")));
                }
                s
            }
            None => fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
        };
        let mut mounts = Vec::new();
        for (name, text) in [
            ("hosts", hosts),
            ("hostname", format!("{hostname}\n")),
            ("resolv.conf", resolv),
        ] {
            let p = dir.join(name);
            fs::write(&p, text).map_err(|e| Error::io("cannot write", &p, e))?;
            mounts.push(BindMount {
                source: p,
                target: PathBuf::from("/etc").join(name),
                readonly: false,
            });
        }
        Ok(mounts)
    }

    /// Joins the network namespace, hostname and files of `dir` (prepared already).
    fn join(&self, dir: &Path, launch: &mut LaunchInfo) -> Result<()> {
        let hostname = fs::read_to_string(dir.join("hostname"))
            .map_err(|e| Error::io("cannot read", dir.join("hostname"), e))?;
        let iso = &mut launch.isolation;
        iso.net_namespace = Some(dir.join("ns"));
        iso.hostname = Some(hostname.trim().to_string());
        iso.mount_namespace = true;
        for name in ["hosts", "hostname", "resolv.conf"] {
            iso.mounts.push(BindMount {
                source: dir.join(name),
                target: PathBuf::from("/etc").join(name),
                readonly: false,
            });
        }
        Ok(())
    }
}

/// Makes a network namespace and keeps it on `path` (as `ip netns add` does): a thread of
/// ours moves to a new namespace, which is bind mounted on the file before the thread ends.
fn create_netns(path: &Path) -> Result<()> {
    fs::File::create(path).map_err(|e| Error::io("cannot create", path, e))?;
    let p = path.to_path_buf();
    let made = std::thread::spawn(move || -> std::result::Result<(), String> {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(|e| format!("cannot make a network namespace: {e}"))?;
        let tid = nix::unistd::gettid();
        let own = format!("/proc/self/task/{tid}/ns/net");
        nix::mount::mount(
            Some(own.as_str()),
            &p,
            None::<&str>,
            nix::mount::MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| {
            format!(
                "cannot keep the network namespace on '{}': {e}",
                p.display()
            )
        })
    })
    .join()
    .map_err(|_| Error::Invalid("the network namespace thread panicked".into()))?;
    made.map_err(Error::Invalid)
}

fn remove_netns(path: &Path) {
    let _ = nix::mount::umount2(path, nix::mount::MntFlags::MNT_DETACH);
    let _ = fs::remove_file(path);
}

impl Isolator for Cni {
    fn name(&self) -> &'static str {
        "network/cni"
    }

    fn prepare(
        &self,
        config: &ContainerConfig,
        _state: &mut IsolatorState,
        launch: &mut LaunchInfo,
    ) -> Result<()> {
        let id = &config.id.value;
        if let Some(parent) = &config.parent {
            // Nested containers share their top-level container's network.
            let dir = self.root.join(&parent.value);
            if dir.join("ns").exists() {
                self.join(&dir, launch)?;
            }
            return Ok(());
        }
        let Some(ci) = &config.container_info else {
            return Ok(());
        };
        let wanted: Vec<&NetworkInfo> = ci.network_infos.iter().collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let configs = self.configs()?;
        let mut plans = Vec::new();
        for (i, info) in wanted.iter().enumerate() {
            let name = info
                .name
                .as_deref()
                .ok_or_else(|| Error::Invalid("a network in 'network_infos' has no name".into()))?;
            let network = configs
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v)
                .ok_or_else(|| {
                    Error::Invalid(format!(
                        "unknown CNI network '{name}' (known: {})",
                        configs
                            .iter()
                            .map(|(n, _)| n.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?;
            plans.push((
                name.to_string(),
                format!("eth{i}"),
                self.chain(network, info),
            ));
        }
        let dir = self.root.join(id);
        fs::create_dir_all(&dir).map_err(|e| Error::io("cannot create", &dir, e))?;
        let netns = dir.join("ns");
        create_netns(&netns)?;
        let mut joined = Vec::new();
        for (name, ifname, chain) in plans {
            let added = self.add(id, &netns, &ifname, &chain);
            let result = match added {
                Ok(r) => r,
                Err(e) => {
                    // Undo what was added so far; cleanup then finds nothing to do.
                    self.del(id, &netns, &ifname, &chain, &Value::Null);
                    for j in &joined {
                        let j: &Joined = j;
                        let chain: Vec<Value> =
                            serde_json::from_value(j.config.clone()).unwrap_or_default();
                        self.del(id, &netns, &j.ifname, &chain, &j.result);
                    }
                    remove_netns(&netns);
                    let _ = fs::remove_dir_all(&dir);
                    return Err(e);
                }
            };
            tracing::info!(container = %id, network = %name, addresses = ?addresses(&result),
                "joined a CNI network");
            joined.push(Joined {
                name,
                ifname,
                config: Value::Array(chain),
                result,
            });
            let p = dir.join("networks.json");
            let text = serde_json::to_vec(&joined).unwrap_or_default();
            fs::write(&p, text).map_err(|e| Error::io("cannot write", &p, e))?;
        }
        let hostname: String = ci
            .hostname
            .clone()
            .unwrap_or_else(|| id.chars().take(63).collect());
        self.etc_files(&dir, &hostname, &joined)?;
        self.join(&dir, launch)
    }

    fn cleanup(&self, config: &ContainerConfig, _state: &IsolatorState) -> Result<()> {
        if config.parent.is_some() {
            return Ok(());
        }
        self.cleanup_orphan(&config.id.value)
    }

    /// CNI DEL for each network the container joined (what `networks.json` recorded), then
    /// its namespace and files go: at cleanup, and after an agent restart for a container that
    /// ended while the agent was down.
    fn cleanup_orphan(&self, id: &str) -> Result<()> {
        let dir = self.root.join(id);
        if !dir.exists() {
            return Ok(());
        }
        let netns = dir.join("ns");
        let joined: Vec<Joined> = fs::read(dir.join("networks.json"))
            .ok()
            .and_then(|t| serde_json::from_slice(&t).ok())
            .unwrap_or_default();
        for j in joined.iter().rev() {
            let chain: Vec<Value> = serde_json::from_value(j.config.clone()).unwrap_or_default();
            self.del(id, &netns, &j.ifname, &chain, &j.result);
        }
        remove_netns(&netns);
        fs::remove_dir_all(&dir).map_err(|e| Error::io("cannot remove", &dir, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_come_from_every_result_version() {
        let v1 = json!({"cniVersion": "1.0.0", "ips": [{"address": "10.1.0.5/24"},
            {"address": "fd00::5/64"}]});
        assert_eq!(
            addresses(&v1),
            vec![
                ("10.1.0.5".to_string(), false),
                ("fd00::5".to_string(), true)
            ]
        );
        let old = json!({"cniVersion": "0.2.0", "ip4": {"ip": "10.2.0.9/16"}});
        assert_eq!(addresses(&old), vec![("10.2.0.9".to_string(), false)]);
    }
}
