//! Containers and health checks: Mesos's `ContainerInfo` (volumes, image, rlimits),
//! `Volume`, `Image`, `RLimitInfo` and `HealthCheck`, with their v1 JSON names and defaults.

use serde::{Deserialize, Serialize};

use super::command::CommandInfo;
use super::enums::proto_enum;

proto_enum!(
    /// Which containerizer runs the container.
    ContainerType {
        Unknown = 0 => "UNKNOWN",
        Docker = 1 => "DOCKER",
        Mesos = 2 => "MESOS",
    } fallback Unknown
);

proto_enum!(
    /// An image's format.
    ImageType {
        Unknown = 0 => "UNKNOWN",
        Appc = 1 => "APPC",
        Docker = 2 => "DOCKER",
    } fallback Unknown
);

/// A Docker image by name (`repo:tag`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DockerImage {
    /// `repo[:tag]`; the tag defaults to `latest`.
    pub name: String,
}

/// A container image.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Image {
    /// DOCKER (APPC is not supported).
    #[serde(rename = "type")]
    pub kind: ImageType,
    /// The Docker image.
    #[serde(default)]
    pub docker: Option<DockerImage>,
    /// Use a cached copy when there is one (default true).
    #[serde(default)]
    pub cached: Option<bool>,
}

proto_enum!(
    /// How a volume is mounted.
    VolumeMode {
        Rw = 1 => "RW",
        Ro = 2 => "RO",
    }
);

proto_enum!(
    /// Where a volume comes from.
    VolumeSourceType {
        Unknown = 0 => "UNKNOWN",
        DockerVolume = 1 => "DOCKER_VOLUME",
        HostPath = 4 => "HOST_PATH",
        SandboxPath = 2 => "SANDBOX_PATH",
        Secret = 3 => "SECRET",
        CsiVolume = 5 => "CSI_VOLUME",
    } fallback Unknown
);

proto_enum!(
    /// Whose sandbox a SANDBOX_PATH volume is in.
    SandboxPathType {
        Unknown = 0 => "UNKNOWN",
        SelfSandbox = 1 => "SELF",
        Parent = 2 => "PARENT",
    } fallback Unknown
);

/// A host path volume source.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostPathSource {
    /// The path on the host.
    pub path: String,
}

/// A sandbox path volume source.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SandboxPathSource {
    /// SELF or PARENT.
    #[serde(rename = "type", default)]
    pub kind: Option<SandboxPathType>,
    /// Relative to the sandbox.
    pub path: String,
}

/// A volume's source.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VolumeSource {
    /// Its kind.
    #[serde(rename = "type")]
    pub kind: VolumeSourceType,
    /// For HOST_PATH.
    #[serde(default)]
    pub host_path: Option<HostPathSource>,
    /// For SANDBOX_PATH.
    #[serde(default)]
    pub sandbox_path: Option<SandboxPathSource>,
    /// For DOCKER_VOLUME (a docker container's).
    #[serde(default)]
    pub docker_volume: Option<DockerVolume>,
}

/// A Docker volume, by name, and its volume driver.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DockerVolume {
    /// The volume driver (default: docker's local one).
    #[serde(default)]
    pub driver: Option<String>,
    /// The volume's name.
    pub name: String,
    /// Options for the driver (refused: `docker run` takes none per volume).
    #[serde(default)]
    pub driver_options: Option<Parameters>,
}

/// Key-value parameters (Mesos's `Parameters`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Parameters {
    /// The parameters.
    #[serde(default)]
    pub parameter: Vec<Parameter>,
}

/// A volume mounted into a container.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Volume {
    /// RW or RO.
    pub mode: VolumeMode,
    /// Where it appears in the container (absolute, or relative to the sandbox).
    pub container_path: String,
    /// The host path (the older form of a HOST_PATH source).
    #[serde(default)]
    pub host_path: Option<String>,
    /// Its source.
    #[serde(default)]
    pub source: Option<VolumeSource>,
}

proto_enum!(
    /// A resource limit's kind (`setrlimit`).
    RLimitType {
        Unknown = 0 => "UNKNOWN",
        As = 1 => "RLMT_AS",
        Core = 2 => "RLMT_CORE",
        Cpu = 3 => "RLMT_CPU",
        Data = 4 => "RLMT_DATA",
        Fsize = 5 => "RLMT_FSIZE",
        Locks = 6 => "RLMT_LOCKS",
        Memlock = 7 => "RLMT_MEMLOCK",
        Msgqueue = 8 => "RLMT_MSGQUEUE",
        Nice = 9 => "RLMT_NICE",
        Nofile = 10 => "RLMT_NOFILE",
        Nproc = 11 => "RLMT_NPROC",
        Rss = 12 => "RLMT_RSS",
        Rtprio = 13 => "RLMT_RTPRIO",
        Rttime = 14 => "RLMT_RTTIME",
        Sigpending = 15 => "RLMT_SIGPENDING",
        Stack = 16 => "RLMT_STACK",
    } fallback Unknown
);

/// One resource limit; both values absent means unlimited.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RLimit {
    /// Which limit.
    #[serde(rename = "type")]
    pub kind: RLimitType,
    /// The hard limit.
    #[serde(default)]
    pub hard: Option<u64>,
    /// The soft limit.
    #[serde(default)]
    pub soft: Option<u64>,
}

/// Resource limits for a container.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RLimitInfo {
    /// The limits.
    #[serde(default)]
    pub rlimits: Vec<RLimit>,
}

/// The Mesos containerizer's part of a container: its image.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MesosInfo {
    /// The image the container runs in.
    #[serde(default)]
    pub image: Option<Image>,
}

/// How a task's or executor's container is set up.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContainerInfo {
    /// MESOS (DOCKER is not supported).
    #[serde(rename = "type")]
    pub kind: ContainerType,
    /// Volumes.
    #[serde(default)]
    pub volumes: Vec<Volume>,
    /// The hostname inside.
    #[serde(default)]
    pub hostname: Option<String>,
    /// The image.
    #[serde(default)]
    pub mesos: Option<MesosInfo>,
    /// Resource limits.
    #[serde(default)]
    pub rlimit_info: Option<RLimitInfo>,
    /// A Docker container's settings (type DOCKER).
    #[serde(default)]
    pub docker: Option<DockerInfo>,
    /// The networks to join (CNI).
    #[serde(default)]
    pub network_infos: Vec<NetworkInfo>,
    /// Linux settings: capabilities, PID namespace sharing, IPC.
    #[serde(default)]
    pub linux_info: Option<LinuxInfo>,
    /// A terminal for the container.
    #[serde(default)]
    pub tty_info: Option<TtyInfo>,
}

/// A Docker container's settings (Mesos's `ContainerInfo.DockerInfo`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DockerInfo {
    /// The image.
    pub image: String,
    /// HOST, BRIDGE, NONE or USER.
    #[serde(default)]
    pub network: Option<String>,
    /// Port mappings.
    #[serde(default)]
    pub port_mappings: Vec<PortMapping>,
    /// Privileged mode.
    #[serde(default)]
    pub privileged: Option<bool>,
    /// Extra `docker run` parameters.
    #[serde(default)]
    pub parameters: Vec<Parameter>,
    /// Pull the image even when present.
    #[serde(default)]
    pub force_pull_image: Option<bool>,
    /// The volume driver of the container's volumes.
    #[serde(default)]
    pub volume_driver: Option<String>,
}

/// A host port mapped into a container.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PortMapping {
    /// On the host.
    pub host_port: u32,
    /// In the container.
    pub container_port: u32,
    /// `tcp` or `udp`.
    #[serde(default)]
    pub protocol: Option<String>,
}

/// A key and a value.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Parameter {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
}

/// One network a container is on (or asks to join), with its addresses.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkInfo {
    /// Its addresses.
    #[serde(default)]
    pub ip_addresses: Vec<IpAddress>,
    /// The network's name (CNI), when not the host's.
    #[serde(default)]
    pub name: Option<String>,
    /// Security groups.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Labels for the network plugin.
    #[serde(default)]
    pub labels: Option<super::task::Labels>,
    /// Port mappings on this network.
    #[serde(default)]
    pub port_mappings: Vec<PortMapping>,
}

/// An address on a network.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IpAddress {
    /// `IPv4` (the default) or `IPv6`.
    #[serde(default)]
    pub protocol: Option<String>,
    /// The address.
    #[serde(default)]
    pub ip_address: Option<String>,
}

/// Linux settings of a container.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LinuxInfo {
    /// Capabilities (deprecated form).
    #[serde(default)]
    pub capability_info: Option<CapabilityInfo>,
    /// The bounding set.
    #[serde(default)]
    pub bounding_capabilities: Option<CapabilityInfo>,
    /// The effective set.
    #[serde(default)]
    pub effective_capabilities: Option<CapabilityInfo>,
    /// Share the parent's PID namespace.
    #[serde(default)]
    pub share_pid_namespace: Option<bool>,
    /// PRIVATE or SHARE_PARENT.
    #[serde(default)]
    pub ipc_mode: Option<String>,
    /// /dev/shm size in MB.
    #[serde(default)]
    pub shm_size: Option<u32>,
}

/// A set of Linux capabilities, by name.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CapabilityInfo {
    /// The capabilities.
    #[serde(default)]
    pub capabilities: Vec<String>,
}

/// A terminal for a container.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TtyInfo {
    /// Its size.
    #[serde(default)]
    pub window_size: Option<WindowSize>,
}

impl TtyInfo {
    /// (rows, columns): its window size, a terminal's usual 24 by 80 where unset or out of
    /// range.
    pub fn rows_columns(&self) -> (u16, u16) {
        let size = self.window_size.clone().unwrap_or_default();
        let dim =
            |v: u32, default: u16| u16::try_from(v).ok().filter(|v| *v > 0).unwrap_or(default);
        (dim(size.rows, 24), dim(size.columns, 80))
    }
}

/// A terminal's size.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WindowSize {
    /// Rows.
    pub rows: u32,
    /// Columns.
    pub columns: u32,
}

impl ContainerInfo {
    /// A MESOS container with nothing else set.
    pub fn mesos() -> ContainerInfo {
        ContainerInfo {
            kind: ContainerType::Mesos,
            volumes: Vec::new(),
            hostname: None,
            mesos: None,
            rlimit_info: None,
            docker: None,
            network_infos: Vec::new(),
            linux_info: None,
            tty_info: None,
        }
    }

    /// Why the Mesos containerizer cannot run this container as asked, if it cannot: what is
    /// set is honoured or refused with this reason, never dropped.
    pub fn unsupported(&self) -> Option<String> {
        match self.kind {
            ContainerType::Mesos => {}
            ContainerType::Docker => {
                return Some(
                    "a container of type DOCKER is a command task's, run by the Docker \
                     containerizer of an agent with --containerizers naming docker (not a task \
                     group's, nor an executor's); give the image as 'mesos.image' with type \
                     MESOS instead"
                        .into(),
                )
            }
            ContainerType::Unknown => return Some("the container's type is unknown".into()),
        }
        if self.docker.is_some() {
            return Some("'docker' is for containers of type DOCKER".into());
        }
        if let Some(l) = &self.linux_info {
            if l.share_pid_namespace.is_some() {
                return Some(
                    "'linux_info.share_pid_namespace' is not supported by this agent yet (IPC \
                     modes are, with namespaces/ipc; capabilities, with linux/capabilities)"
                        .into(),
                );
            }
        }
        if self.tty_info.is_some() {
            return Some(
                "'tty_info' (a terminal) is for a command task, an executor, or a nested \
                 container session (LAUNCH_NESTED_CONTAINER_SESSION): not for a task group's \
                 task nor a container no one can attach to"
                    .into(),
            );
        }
        None
    }

    /// The Docker image name, if the container has one.
    pub fn docker_image(&self) -> Option<&str> {
        self.mesos
            .as_ref()
            .and_then(|m| m.image.as_ref())
            .and_then(|i| i.docker.as_ref())
            .map(|d| d.name.as_str())
    }
}

proto_enum!(
    /// A health check's kind.
    HealthCheckType {
        Unknown = 0 => "UNKNOWN",
        Command = 1 => "COMMAND",
        Http = 2 => "HTTP",
        Tcp = 3 => "TCP",
    } fallback Unknown
);

/// An HTTP health check: healthy on a status in `statuses` (default 200..399).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HttpCheckInfo {
    /// `http` (default; https is not supported).
    #[serde(default)]
    pub scheme: Option<String>,
    /// The port on 127.0.0.1.
    pub port: u32,
    /// The path (default `/`).
    #[serde(default)]
    pub path: Option<String>,
    /// Statuses counted healthy.
    #[serde(default)]
    pub statuses: Vec<u32>,
}

/// A TCP health check: healthy when a connection to 127.0.0.1:port opens.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TcpCheckInfo {
    /// The port.
    pub port: u32,
}

fn d15() -> f64 {
    15.0
}
fn d10() -> f64 {
    10.0
}
fn d20() -> f64 {
    20.0
}
fn d3() -> u32 {
    3
}

/// A task's health check, with Mesos's defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HealthCheck {
    /// Before the first check (15 s).
    #[serde(default = "d15")]
    pub delay_seconds: f64,
    /// Between checks (10 s).
    #[serde(default = "d10")]
    pub interval_seconds: f64,
    /// One check's time limit (20 s).
    #[serde(default = "d20")]
    pub timeout_seconds: f64,
    /// Failures in a row that kill the task (3).
    #[serde(default = "d3")]
    pub consecutive_failures: u32,
    /// Failures within this time of the start do not count until one check passed (10 s).
    #[serde(default = "d10")]
    pub grace_period_seconds: f64,
    /// COMMAND, HTTP or TCP.
    #[serde(rename = "type", default)]
    pub kind: Option<HealthCheckType>,
    /// For COMMAND.
    #[serde(default)]
    pub command: Option<CommandInfo>,
    /// For HTTP.
    #[serde(default)]
    pub http: Option<HttpCheckInfo>,
    /// For TCP.
    #[serde(default)]
    pub tcp: Option<TcpCheckInfo>,
}

impl HealthCheck {
    /// A check of `kind` with Mesos's default timings and nothing else set.
    pub fn new(kind: HealthCheckType) -> HealthCheck {
        HealthCheck {
            delay_seconds: d15(),
            interval_seconds: d10(),
            timeout_seconds: d20(),
            consecutive_failures: d3(),
            grace_period_seconds: d10(),
            kind: Some(kind),
            command: None,
            http: None,
            tcp: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_check_json_takes_mesos_defaults() {
        let h: HealthCheck = serde_json::from_str(r#"{"type":"TCP","tcp":{"port":8080}}"#).unwrap();
        assert_eq!(h.delay_seconds, 15.0);
        assert_eq!(h.interval_seconds, 10.0);
        assert_eq!(h.timeout_seconds, 20.0);
        assert_eq!(h.consecutive_failures, 3);
        assert_eq!(h.grace_period_seconds, 10.0);
        assert_eq!(h.tcp.unwrap().port, 8080);
    }

    #[test]
    fn container_info_reads_an_image_volumes_and_rlimits() {
        let c: ContainerInfo = serde_json::from_str(
            r#"{"type":"MESOS","mesos":{"image":{"type":"DOCKER","docker":{"name":"busy:1"}}},
                "volumes":[{"mode":"RO","container_path":"/data",
                            "source":{"type":"HOST_PATH","host_path":{"path":"/tmp"}}}],
                "rlimit_info":{"rlimits":[{"type":"RLMT_NOFILE","soft":64,"hard":128}]}}"#,
        )
        .unwrap();
        assert_eq!(c.docker_image(), Some("busy:1"));
        assert_eq!(c.volumes[0].mode, VolumeMode::Ro);
        let r = &c.rlimit_info.as_ref().unwrap().rlimits[0];
        assert_eq!(
            (r.kind, r.soft, r.hard),
            (RLimitType::Nofile, Some(64), Some(128))
        );
        // The binary codec round-trips it.
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["type"], "MESOS");
    }
}
