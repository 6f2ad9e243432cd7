//! The Docker containerizer's side of the Docker daemon: the `docker` CLI (`--docker`) against
//! the daemon's socket (`--docker_socket`), and the `docker run` arguments Mesos builds from a
//! task's `ContainerInfo` of type DOCKER and its `CommandInfo`.
//!
//! A docker task's container is named `mesos-<container id>` after the agent's container for
//! it (the docker executor's), so the agent finds its containers again after a restart and
//! tells them from other containers of the daemon's.

use std::path::Path;
use std::time::Duration;

use mesos_api::protocol::container::{ContainerInfo, VolumeMode};
use mesos_api::protocol::task::CommandInfo;
use mesos_api::Resources;

/// The prefix of the names of the containers the agent runs through Docker.
pub const NAME_PREFIX: &str = "mesos-";

/// Where the sandbox appears inside a docker container (Mesos's `--sandbox_directory`).
pub const MAPPED_SANDBOX: &str = crate::launch::SANDBOX_IN_ROOTFS;

/// `docker run --cpu-shares` per cpu, and the least it is given (Mesos's figures).
const CPU_SHARES_PER_CPU: f64 = 1024.0;
const MIN_CPU_SHARES: u64 = 2;
/// The CFS period and the least quota (`--cgroups_enable_cfs`).
const CFS_PERIOD_US: f64 = 100_000.0;
const MIN_CFS_QUOTA_US: u64 = 1_000;
/// The least memory a docker container is given: 32 MB.
const MIN_MEMORY: u64 = 32 << 20;

/// The name of the docker container of the agent's container `id`.
pub fn container_name(id: &str) -> String {
    format!("{NAME_PREFIX}{id}")
}

/// The agent's container id a docker container's name carries, if it is one of the agent's
/// (`mesos-<id>`, or `mesos-<id>.executor` for an executor run in docker).
pub fn container_id_of(name: &str) -> Option<&str> {
    let name = name.strip_prefix('/').unwrap_or(name);
    let id = name.strip_prefix(NAME_PREFIX)?;
    let id = id.strip_suffix(".executor").unwrap_or(id);
    (!id.is_empty()).then_some(id)
}

/// The `docker run` arguments (after `run`) for a task: Mesos's `Docker::RunOptions`.
///
/// `sandbox` is the host sandbox, mounted at [`MAPPED_SANDBOX`]; `resources` are the task's
/// (with its executor's), given to docker as `--cpu-shares` and `--memory` (and `--cpu-quota`
/// with `cfs`). The command follows Mesos: with `shell` (the default) the entrypoint is
/// `/bin/sh` and the arguments `-c <value>`; without, the value (if any) and then the
/// arguments follow the image, replacing its `Cmd`.
pub fn run_args(
    container: &ContainerInfo,
    command: &CommandInfo,
    name: &str,
    sandbox: &Path,
    resources: &Resources,
    cfs: bool,
) -> Result<Vec<String>, String> {
    let docker = container
        .docker
        .as_ref()
        .ok_or("No docker info found in container info")?;
    if docker.image.is_empty() {
        return Err("The docker image is empty".into());
    }
    let mut a: Vec<String> = Vec::new();
    if docker.privileged == Some(true) {
        a.push("--privileged".into());
    }
    let cpus = resources.cpus();
    if cpus > 0.0 {
        let shares = ((CPU_SHARES_PER_CPU * cpus) as u64).max(MIN_CPU_SHARES);
        a.extend(["--cpu-shares".into(), shares.to_string()]);
        if cfs {
            let quota = ((CFS_PERIOD_US * cpus) as u64).max(MIN_CFS_QUOTA_US);
            a.extend(["--cpu-quota".into(), quota.to_string()]);
        }
    }
    let mem = resources.mem();
    if mem > 0.0 {
        let bytes = ((mem * 1048576.0) as u64).max(MIN_MEMORY);
        a.extend(["--memory".into(), bytes.to_string()]);
    }
    // The task's environment, then the two Mesos always sets.
    let mut env: Vec<(String, String)> = command.env_pairs();
    env.retain(|(k, _)| k != "MESOS_SANDBOX" && k != "MESOS_CONTAINER_NAME");
    env.push(("MESOS_SANDBOX".into(), MAPPED_SANDBOX.into()));
    env.push(("MESOS_CONTAINER_NAME".into(), name.into()));
    if let Some(role) = resources.iter().find_map(|r| r.allocation_role.clone()) {
        env.push(("MESOS_ALLOCATION_ROLE".into(), role.to_string()));
    }
    for (k, v) in env {
        a.extend(["-e".into(), format!("{k}={v}")]);
    }
    let mut volume_driver = docker.volume_driver.clone();
    for v in &container.volumes {
        let inside = if v.container_path.starts_with('/') {
            v.container_path.clone()
        } else {
            format!("{MAPPED_SANDBOX}/{}", v.container_path)
        };
        let mode = match v.mode {
            VolumeMode::Ro => "ro",
            _ => "rw",
        };
        let outside = if let Some(h) = &v.host_path {
            if !h.starts_with('/') && !v.container_path.starts_with('/') {
                return Err(format!(
                    "Both host_path '{h}' and container_path '{}' of a volume are relative",
                    v.container_path
                ));
            }
            if h.starts_with('/') || volume_driver.is_some() {
                h.clone()
            } else {
                sandbox.join(h).display().to_string()
            }
        } else if let Some(dv) = v.source.as_ref().and_then(|s| s.docker_volume.as_ref()) {
            if dv.driver_options.is_some() {
                return Err(format!(
                    "volume '{}': 'driver_options' of a DOCKER_VOLUME are not supported by the \
                     Docker containerizer (docker run takes none per volume)",
                    v.container_path
                ));
            }
            if let Some(d) = &dv.driver {
                if volume_driver.as_ref().is_some_and(|x| x != d) {
                    return Err("Only one volume driver is supported".into());
                }
                volume_driver = Some(d.clone());
            }
            dv.name.clone()
        } else {
            return Err(format!(
                "volume '{}': a docker container takes a volume with 'host_path' or a \
                 DOCKER_VOLUME source only",
                v.container_path
            ));
        };
        a.extend(["-v".into(), format!("{outside}:{inside}:{mode}")]);
    }
    a.extend([
        "-v".into(),
        format!("{}:{MAPPED_SANDBOX}", sandbox.display()),
    ]);
    if let Some(d) = volume_driver {
        a.push(format!("--volume-driver={d}"));
    }
    // The network: a parameter 'net' or 'network' wins over DockerInfo.network.
    let mut network = match docker.network.as_deref().unwrap_or("HOST") {
        "HOST" => "host".to_string(),
        "BRIDGE" => "bridge".to_string(),
        "NONE" => "none".to_string(),
        "USER" => {
            let [n] = container.network_infos.as_slice() else {
                return Err(if container.network_infos.is_empty() {
                    "No network info found in container info".into()
                } else {
                    "Only a single network can be defined in Docker run".into()
                });
            };
            n.name
                .clone()
                .ok_or("No network name found in network info")?
        }
        other => return Err(format!("Unsupported Network mode: {other}")),
    };
    let mut extra = Vec::new();
    let mut net_given = false;
    for p in &docker.parameters {
        if !net_given && (p.key == "net" || p.key == "network") {
            network = p.value.clone();
            net_given = true;
        } else {
            extra.push(format!("--{}={}", p.key, p.value));
        }
    }
    a.extend(["--net".into(), network.clone()]);
    if let Some(h) = &container.hostname {
        if network == "host" {
            return Err("Unable to set hostname with host network mode".into());
        }
        a.extend(["--hostname".into(), h.clone()]);
    }
    if !docker.port_mappings.is_empty() {
        if network == "host" || network == "none" {
            return Err(
                "Port mappings are only supported for bridge and user-defined networks".into(),
            );
        }
        let ports = resources.ranges("ports");
        for m in &docker.port_mappings {
            let hp = u64::from(m.host_port);
            if !ports.iter().any(|&(b, e)| b <= hp && hp <= e) {
                return Err(format!("Port [{}] not included in resources", m.host_port));
            }
            let mut spec = format!("{}:{}", m.host_port, m.container_port);
            if let Some(p) = &m.protocol {
                spec.push('/');
                spec.push_str(p);
            }
            a.extend(["-p".into(), spec]);
        }
    }
    if command.shell {
        a.extend(["--entrypoint".into(), "/bin/sh".into()]);
    }
    a.extend(["--name".into(), name.into()]);
    a.extend(extra);
    a.push(docker.image.clone());
    if command.shell {
        let value = command
            .value
            .clone()
            .ok_or("Shell specified but no command value provided")?;
        a.extend(["-c".into(), value]);
    } else {
        a.extend(command.value.iter().cloned());
        a.extend(command.arguments.iter().cloned());
    }
    Ok(a)
}

/// The `docker` CLI against one daemon.
#[derive(Clone, Debug)]
pub struct Docker {
    /// The CLI (`--docker`).
    pub path: String,
    /// The daemon's socket (`--docker_socket`).
    pub socket: String,
}

/// What `docker inspect` tells of a container.
#[derive(Clone, Debug, Default)]
pub struct Inspected {
    /// The whole output (Mesos puts it in TASK_RUNNING's `data`).
    pub output: String,
    /// Whether it is running.
    pub running: bool,
    /// Its main process's pid on the host, while it runs.
    pub pid: Option<i32>,
    /// Its IPv4 address on its network, if it has one.
    pub ip: Option<String>,
    /// Its IPv6 address, if it has one.
    pub ip6: Option<String>,
}

impl Docker {
    /// The CLI at `path` talking to the daemon at `socket` (a path, or `unix://...`).
    pub fn new(path: &str, socket: &str) -> Docker {
        Docker {
            path: path.into(),
            socket: socket.into(),
        }
    }

    /// `docker -H unix://<socket>`: the start of every command.
    pub fn std_command(&self) -> std::process::Command {
        let mut c = std::process::Command::new(&self.path);
        let host = if self.socket.contains("://") {
            self.socket.clone()
        } else {
            format!("unix://{}", self.socket)
        };
        c.arg("-H").arg(host);
        c.stdin(std::process::Stdio::null());
        c
    }

    /// [`Docker::std_command`] for tokio, killed if dropped before it ends.
    pub fn command(&self) -> tokio::process::Command {
        let mut c = tokio::process::Command::from(self.std_command());
        c.kill_on_drop(true);
        c
    }

    /// Checks that the daemon answers, blocking (at start): its version, or why not.
    pub fn check(&self) -> Result<String, String> {
        let out = self
            .std_command()
            .args(["version", "--format", "{{.Server.Version}}"])
            .output()
            .map_err(|e| format!("cannot run '{}': {e}", self.path))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(format!(
                "'docker version' failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// Runs `docker <args>` to its end (within `limit`); its stdout, or why it failed.
    pub async fn output(&self, args: &[&str], limit: Duration) -> Result<String, String> {
        let mut c = self.command();
        c.args(args);
        let what = format!("docker {}", args.first().copied().unwrap_or_default());
        let out = tokio::time::timeout(limit, c.output())
            .await
            .map_err(|_| format!("'{what}' did not answer within {limit:?}"))?
            .map_err(|e| format!("cannot run '{}': {e}", self.path))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "'{what}' failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// Inspects a container; `None` when the daemon has no container of that name.
    pub async fn inspect(&self, name: &str) -> Result<Option<Inspected>, String> {
        match self
            .output(
                &["inspect", "--type", "container", name],
                Duration::from_secs(30),
            )
            .await
        {
            Ok(out) => parse_inspect(&out).map(Some),
            Err(e) if e.contains("No such") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `docker pull`.
    pub async fn pull(&self, image: &str) -> Result<(), String> {
        self.output(&["pull", image], Duration::from_secs(600))
            .await
            .map(drop)
    }

    /// `docker stop -t <grace>`: SIGTERM, then SIGKILL after the grace period.
    pub async fn stop(&self, name: &str, grace: Duration) -> Result<(), String> {
        let secs = grace.as_secs().to_string();
        self.output(
            &["stop", "-t", &secs, name],
            grace + Duration::from_secs(30),
        )
        .await
        .map(drop)
    }

    /// `docker kill`: SIGKILL at once.
    pub async fn kill(&self, name: &str) -> Result<(), String> {
        self.output(&["kill", name], Duration::from_secs(30))
            .await
            .map(drop)
    }

    /// `docker rm -f -v`: gone with its anonymous volumes, running or not.
    pub async fn remove(&self, name: &str) -> Result<(), String> {
        self.output(&["rm", "-f", "-v", name], Duration::from_secs(60))
            .await
            .map(drop)
    }

    /// The names of the daemon's containers (running or not) that are the agent's.
    pub async fn agent_containers(&self) -> Result<Vec<String>, String> {
        let out = self
            .output(
                &[
                    "ps",
                    "-a",
                    "--filter",
                    &format!("name={NAME_PREFIX}"),
                    "--format",
                    "{{.Names}}",
                ],
                Duration::from_secs(30),
            )
            .await?;
        Ok(out
            .lines()
            .map(str::trim)
            .filter(|n| container_id_of(n).is_some())
            .map(String::from)
            .collect())
    }
}

/// Reads `docker inspect`'s output (a JSON array of one container).
pub fn parse_inspect(out: &str) -> Result<Inspected, String> {
    let v: serde_json::Value = serde_json::from_str(out)
        .map_err(|e| format!("cannot read 'docker inspect' output: {e}"))?;
    let c = v
        .get(0)
        .ok_or("'docker inspect' gave no container")?
        .clone();
    let state = &c["State"];
    let pid = state["Pid"].as_i64().filter(|p| *p > 0).map(|p| p as i32);
    let nonempty = |v: &serde_json::Value| v.as_str().filter(|s| !s.is_empty()).map(String::from);
    let net = &c["NetworkSettings"];
    // The default bridge's address is at the top; a user network's under Networks.
    let first = net["Networks"]
        .as_object()
        .and_then(|n| n.values().next().cloned())
        .unwrap_or_default();
    Ok(Inspected {
        output: out.to_string(),
        running: state["Running"].as_bool().unwrap_or(false),
        pid,
        ip: nonempty(&net["IPAddress"]).or_else(|| nonempty(&first["IPAddress"])),
        ip6: nonempty(&net["GlobalIPv6Address"]).or_else(|| nonempty(&first["GlobalIPv6Address"])),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos_api::protocol::command::{Environment, Variable, VariableType};
    use mesos_api::protocol::container::{
        DockerInfo, DockerVolume, NetworkInfo, Parameter, PortMapping, Volume, VolumeSource,
        VolumeSourceType,
    };

    fn docker(network: &str) -> ContainerInfo {
        ContainerInfo {
            kind: mesos_api::protocol::container::ContainerType::Docker,
            docker: Some(DockerInfo {
                image: "busybox:1".into(),
                network: Some(network.into()),
                ..DockerInfo::default()
            }),
            ..ContainerInfo::mesos()
        }
    }

    fn res(s: &str) -> Resources {
        Resources::parse(s, "*").unwrap()
    }

    #[test]
    fn a_shell_command_runs_under_sh_with_resources_env_and_the_sandbox() {
        let mut cmd = CommandInfo::shell("echo hi");
        cmd.environment = Some(Environment {
            variables: vec![Variable {
                name: "A".into(),
                kind: VariableType::Value,
                value: Some("1".into()),
            }],
        });
        let a = run_args(
            &docker("HOST"),
            &cmd,
            "mesos-c1",
            Path::new("/sb"),
            &res("cpus:0.5;mem:64"),
            true,
        )
        .unwrap();
        let s = a.join(" ");
        assert_eq!(
            s,
            "--cpu-shares 512 --cpu-quota 50000 --memory 67108864 -e A=1 \
             -e MESOS_SANDBOX=/mnt/mesos/sandbox -e MESOS_CONTAINER_NAME=mesos-c1 \
             -v /sb:/mnt/mesos/sandbox --net host --entrypoint /bin/sh --name mesos-c1 \
             busybox:1 -c echo hi"
        );
    }

    #[test]
    fn without_shell_the_value_and_arguments_follow_the_image() {
        let cmd = CommandInfo {
            shell: false,
            arguments: vec!["a".into(), "b".into()],
            ..CommandInfo::shell("/bin/echo")
        };
        let a = run_args(
            &docker("NONE"),
            &cmd,
            "n",
            Path::new("/sb"),
            &res("mem:1"),
            false,
        )
        .unwrap();
        let tail: Vec<&str> = a.iter().rev().take(4).rev().map(String::as_str).collect();
        assert_eq!(tail, ["busybox:1", "/bin/echo", "a", "b"]);
        assert!(!a.contains(&"--entrypoint".to_string()));
        // The least memory docker is given.
        assert!(a.join(" ").contains("--memory 33554432"), "{a:?}");
    }

    #[test]
    fn port_mappings_volumes_parameters_and_networks_follow_mesos() {
        let mut c = docker("BRIDGE");
        let d = c.docker.as_mut().unwrap();
        d.port_mappings = vec![PortMapping {
            host_port: 31001,
            container_port: 80,
            protocol: Some("tcp".into()),
        }];
        d.parameters = vec![Parameter {
            key: "label".into(),
            value: "a=b".into(),
        }];
        d.privileged = Some(true);
        c.volumes = vec![
            Volume {
                mode: VolumeMode::Ro,
                container_path: "/data".into(),
                host_path: Some("/srv/data".into()),
                source: None,
            },
            Volume {
                mode: VolumeMode::Rw,
                container_path: "/cache".into(),
                host_path: Some("cache".into()),
                source: None,
            },
            Volume {
                mode: VolumeMode::Rw,
                container_path: "/v".into(),
                host_path: None,
                source: Some(VolumeSource {
                    kind: VolumeSourceType::DockerVolume,
                    host_path: None,
                    sandbox_path: None,
                    docker_volume: Some(DockerVolume {
                        name: "vol1".into(),
                        driver: None,
                        driver_options: None,
                    }),
                }),
            },
        ];
        let cmd = CommandInfo::shell("true");
        let r = res("cpus:1;mem:32;ports:[31000-31010]");
        let s = run_args(&c, &cmd, "n", Path::new("/sb"), &r, false)
            .unwrap()
            .join(" ");
        for part in [
            "--privileged",
            "-v /srv/data:/data:ro",
            "-v /sb/cache:/cache:rw",
            "-v vol1:/v:rw",
            "--net bridge",
            "-p 31001:80/tcp",
            "--label=a=b",
        ] {
            assert!(s.contains(part), "{part} in {s}");
        }
        // A host port the task was not given.
        let e = run_args(&c, &cmd, "n", Path::new("/sb"), &res("ports:[1-2]"), false).unwrap_err();
        assert!(e.contains("Port [31001] not included in resources"), "{e}");
        // Port mappings on the host network.
        c.docker.as_mut().unwrap().network = Some("HOST".into());
        let e = run_args(&c, &cmd, "n", Path::new("/sb"), &r, false).unwrap_err();
        assert!(e.contains("Port mappings are only supported"), "{e}");
        // A user network needs exactly one named network.
        let mut u = docker("USER");
        assert!(run_args(&u, &cmd, "n", Path::new("/sb"), &r, false)
            .unwrap_err()
            .contains("No network info"));
        u.network_infos = vec![NetworkInfo {
            name: Some("net1".into()),
            ..NetworkInfo::default()
        }];
        let s = run_args(&u, &cmd, "n", Path::new("/sb"), &r, false)
            .unwrap()
            .join(" ");
        assert!(s.contains("--net net1"), "{s}");
        // The 'network' parameter wins.
        u.docker.as_mut().unwrap().parameters = vec![Parameter {
            key: "network".into(),
            value: "none".into(),
        }];
        let s = run_args(&u, &cmd, "n", Path::new("/sb"), &r, false)
            .unwrap()
            .join(" ");
        assert!(s.contains("--net none") && !s.contains("--network="), "{s}");
        // A hostname on the host network.
        let mut h = docker("HOST");
        h.hostname = Some("x".into());
        assert!(run_args(&h, &cmd, "n", Path::new("/sb"), &r, false)
            .unwrap_err()
            .contains("hostname"));
        // A shell without a command.
        let empty = CommandInfo {
            value: None,
            ..CommandInfo::shell("")
        };
        assert!(
            run_args(&docker("HOST"), &empty, "n", Path::new("/sb"), &r, false)
                .unwrap_err()
                .contains("no command value")
        );
    }

    #[test]
    fn names_carry_the_container_id() {
        assert_eq!(container_name("abc"), "mesos-abc");
        assert_eq!(container_id_of("mesos-abc"), Some("abc"));
        assert_eq!(container_id_of("/mesos-abc.executor"), Some("abc"));
        assert_eq!(container_id_of("other"), None);
        assert_eq!(container_id_of("mesos-"), None);
    }

    #[test]
    fn inspect_output_gives_state_pid_and_addresses() {
        let out = r#"[{"State":{"Running":true,"Pid":42},
            "NetworkSettings":{"IPAddress":"","Networks":{"n1":{"IPAddress":"10.1.0.5"}}}}]"#;
        let i = parse_inspect(out).unwrap();
        assert!(i.running);
        assert_eq!(i.pid, Some(42));
        assert_eq!(i.ip.as_deref(), Some("10.1.0.5"));
        assert!(parse_inspect("[]").is_err());
    }
}
