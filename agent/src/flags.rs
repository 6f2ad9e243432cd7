//! The agent's flags (Mesos's names and defaults), declared once: `mesos-agent --help`, the
//! `MESOS_*` environment and this struct all come from the table below (with the
//! containerizer's, [`ContainerizerFlags::FLAGS`]).

use std::path::PathBuf;
use std::time::Duration;

use libprocess::flags::check::positive;
use mesos_api::acls::{Acls, Authorizer, LocalAuthorizer};
use mesos_api::auth::{check_authenticators, credentials_for, Credential};
use mesos_containerizer::ContainerizerFlags;

/// `--jwt_secret_key`'s content; required with `--authenticate_http_executors`.
fn executor_secret(path: Option<&str>, required: bool) -> Result<Option<Vec<u8>>, String> {
    match path {
        Some(p) => {
            let p = p.strip_prefix("file://").unwrap_or(p);
            let key = std::fs::read(p)
                .map_err(|e| format!("Flag '--jwt_secret_key': cannot read '{p}': {e}"))?;
            if key.is_empty() {
                return Err(format!("Flag '--jwt_secret_key': '{p}' is empty"));
            }
            Ok(Some(key))
        }
        None if required => Err(
            "--authenticate_http_executors needs a key: give it with --jwt_secret_key=<file>"
                .into(),
        ),
        None => Ok(None),
    }
}

libprocess::flags! {
    /// Flags of `mesos-agent`.
    #[derive(Clone, Debug)]
    pub struct AgentFlags {
        /// The master: host:port, master@host:port, zk://[user:pass@]host:port[,...]/path or file:///path
        pub master: String;
        /// ZooKeeper session timeout (with --master=zk://...)
        pub zk_session_timeout: Duration = "10secs", check positive;
        /// Where sandboxes and checkpoints live (sandboxes under <work_dir>/slaves/)
        pub work_dir: PathBuf, check not_empty;
        /// Total resources, e.g. 'cpus:4;mem:4096;ports:[31000-32000]', or a JSON array, or file://path (overrides the detected ones by name)
        pub resources: Option<String>;
        /// Attributes, e.g. 'rack:r1;zone:z1'
        pub attributes: Option<String>;
        /// This agent's fault domain: JSON {"fault_domain": {"region": {"name": ..}, "zone": {"name": ..}}} or a file of it (may not change across a restart that recovers)
        pub domain: Option<String>;
        /// The hostname this agent advertises (default: the machine's)
        pub hostname: Option<String>;
        /// Role of resources with none given
        pub default_role: String = "*", check role;
        /// Time an executor has to subscribe
        pub executor_registration_timeout: Duration = "1mins", check positive;
        /// How often HTTP executors get a HEARTBEAT event (ours: Mesos fixes it at 30 minutes)
        pub executor_heartbeat_interval: Duration = "30mins", check positive;
        /// Time an executor has to exit after SHUTDOWN
        pub executor_shutdown_grace_period: Duration = "5secs";
        /// First registration retry interval (then doubling, up to 1 min)
        pub registration_backoff_factor: Duration = "1secs", check positive;
        /// Directory of mesos-executor, mesos-default-executor and mesos-container-init (default: next to this binary)
        pub launcher_dir: Option<PathBuf>;
        /// After a restart: reconnect to surviving executors, or cleanup (kill them)
        pub recover: Recover = "reconnect";
        /// How long executors wait for a restarted agent
        pub recovery_timeout: Duration = "15mins", check positive;
        /// How long an ended executor's sandbox (and a gone framework's) is kept before it is removed, at most
        pub gc_delay: Duration = "1weeks", check positive;
        /// The share of the disk to keep free: sandboxes are kept gc_delay x max(0, 1 - gc_disk_headroom - disk usage)
        pub gc_disk_headroom: f64 = "0.1", check fraction;
        /// How often the work directory's disk usage is checked (for garbage collection)
        pub disk_watch_interval: Duration = "1mins", check positive;
        /// Image garbage collection: JSON {"image_disk_headroom": 0.1, "image_disk_watch_interval": {"nanoseconds": ..}, "excluded_images": [{"type": "DOCKER", "docker": {"name": ..}}]} or a file of it (file:// optional); unused images are pruned when the image store's disk is fuller than 1 - headroom
        pub image_gc_config: Option<String>;
        /// Containerizers, in the order tried: mesos, docker (tasks whose container is of type DOCKER, through the Docker daemon), or both ('docker,mesos')
        pub containerizers: String = "mesos", check containerizer_list;
        /// The docker CLI the Docker containerizer runs
        pub docker: String = "docker";
        /// The Docker daemon's socket, for the agent and its docker executors
        pub docker_socket: String = "/var/run/docker.sock";
        /// At start, remove the daemon's 'mesos-*' containers this agent did not recover (set false when several agents share one daemon)
        pub docker_kill_orphans: bool = "true";
        /// How long a docker task's ended container is kept (for 'docker logs' and 'docker inspect') before 'docker rm'
        pub docker_remove_delay: Duration = "6hrs";
        /// Deprecated (use the task's kill policy): the grace period of 'docker stop' for a task without a kill policy (0: the kill policy's default)
        pub docker_stop_timeout: Duration = "0ns";
        /// File of credentials for HTTP authentication: JSON {"credentials":[{"principal":..,"secret":..}]} or 'principal secret' lines (with or without file://)
        pub http_credentials: Option<String>;
        /// Require HTTP authentication (realm mesos-agent-readonly) for read-only endpoints: /state, /files/*, /monitor/statistics, /metrics/snapshot
        pub authenticate_http_readonly: bool = "false";
        /// Require HTTP authentication (realm mesos-agent-readwrite) for the operator API (/api/v1)
        pub authenticate_http_readwrite: bool = "false";
        /// HTTP authenticators (only 'basic' is built in)
        pub http_authenticators: String = "basic", check check_authenticators;
        /// Executors must call the executor API with the token the agent gives each (MESOS_EXECUTOR_AUTHENTICATION_TOKEN, a JWT signed with --jwt_secret_key; realm mesos-agent-executor)
        pub authenticate_http_executors: bool = "false";
        /// File holding the key executor tokens are signed with (HS256)
        pub jwt_secret_key | executor_secret_key: Option<String>;
        /// This agent's credential for authenticating with the master: JSON {"principal":..,"secret":..} or a 'principal secret' line (with or without file://)
        pub credential: Option<String>;
        /// Authentication retries wait a random time in [0, b x 2^n] (n: failed attempts so far)
        pub authentication_backoff_factor: Duration = "1secs", check positive;
        /// How long the first authentication attempt may take; doubled after each that times out
        pub authentication_timeout_min: Duration = "5secs", check positive;
        /// The longest an authentication attempt may take
        pub authentication_timeout_max: Duration = "1mins", check positive;
        /// ACLs (Mesos's JSON, or a path to a file of it, with or without file://) for the local authorizer; the agent enforces launch_nested_containers_as_user
        pub acls: Option<String>;
    }
    extra |f| {
        /// The image garbage collection of `--image_gc_config`, read at start.
        pub image_gc: Option<ImageGcConfig> = image_gc_config
            .as_deref()
            .map(ImageGcConfig::from_flag)
            .transpose()?,
        /// The domain of `--domain`, read at start.
        pub domain_info: Option<mesos_api::protocol::framework::DomainInfo> = domain
            .as_deref()
            .map(mesos_api::protocol::framework::DomainInfo::from_flag)
            .transpose()?,
        /// The key of `--jwt_secret_key`, read at start (required by
        /// `--authenticate_http_executors`).
        pub executor_secret: Option<Vec<u8>> = executor_secret(
            jwt_secret_key.as_deref(),
            authenticate_http_executors,
        )?,
        /// The credential of `--credential`, read at start.
        pub credential_entry: Option<Credential> = credential
            .as_deref()
            .map(mesos_api::auth::read_credential)
            .transpose()
            .map_err(|e| format!("Flag '--credential': {e}"))?,
        /// The local authorizer of `--acls` (none: everything is allowed).
        pub authorizer: Option<std::sync::Arc<dyn Authorizer>> = acls
            .as_deref()
            .map(Acls::from_flag)
            .transpose()
            .map_err(|e| format!("Flag '--acls': {e}"))?
            .map(|a| std::sync::Arc::new(LocalAuthorizer::new(a)) as std::sync::Arc<dyn Authorizer>),
        /// The principals and secrets of `--http_credentials`, read at start.
        pub http_credential_list: Vec<Credential> = credentials_for(
            "http_credentials",
            http_credentials.as_deref(),
            [
                (authenticate_http_readonly, "authenticate_http_readonly"),
                (authenticate_http_readwrite, "authenticate_http_readwrite"),
            ]
            .into_iter()
            .find_map(|(on, name)| on.then_some(name)),
        )?,
        /// The containerizer's flags (`--launcher`, `--isolation`, cgroups, images, fetcher),
        /// read from the same command line.
        pub containerizer: ContainerizerFlags = ContainerizerFlags::from_flags(f)?,
    }
}

/// `--recover`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recover {
    /// Reconnect with the executors that survived.
    Reconnect,
    /// Kill them and start afresh.
    Cleanup,
}

impl libprocess::flags::FlagValue for Recover {
    fn parse_flag(text: &str) -> Result<Self, String> {
        match text {
            "reconnect" => Ok(Recover::Reconnect),
            "cleanup" => Ok(Recover::Cleanup),
            _ => Err(format!("expecting 'reconnect' or 'cleanup', got '{text}'")),
        }
    }
    fn show(&self) -> String {
        match self {
            Recover::Reconnect => "reconnect",
            Recover::Cleanup => "cleanup",
        }
        .to_string()
    }
}

fn role(name: &str, r: &str) -> Result<(), String> {
    mesos_api::roles::validate(r).map_err(|e| format!("Flag '--{name}': {e}"))
}

fn not_empty(name: &str, p: &std::path::Path) -> Result<(), String> {
    if p.as_os_str().is_empty() {
        return Err(format!("Flag '--{name}' is required"));
    }
    Ok(())
}

fn fraction(name: &str, v: &f64) -> Result<(), String> {
    if !(0.0..=1.0).contains(v) {
        return Err(format!("Flag '--{name}' must be between 0.0 and 1.0"));
    }
    Ok(())
}

fn containerizer_list(name: &str, v: &str) -> Result<(), String> {
    let mut seen = Vec::new();
    for c in v.split(',').map(str::trim) {
        if c != "mesos" && c != "docker" {
            return Err(format!(
                "Flag '--{name}': unknown containerizer '{c}' (mesos and docker are built)"
            ));
        }
        if seen.contains(&c) {
            return Err(format!("Flag '--{name}': '{c}' is given twice"));
        }
        seen.push(c);
    }
    Ok(())
}

impl AgentFlags {
    /// Whether the Docker containerizer is on (`--containerizers` names docker).
    pub fn docker_enabled(&self) -> bool {
        self.containerizers.split(',').any(|c| c.trim() == "docker")
    }

    /// Whether the Mesos containerizer is on.
    pub fn mesos_enabled(&self) -> bool {
        self.containerizers.split(',').any(|c| c.trim() == "mesos")
    }

    /// Flags for an agent of `master` working in `work_dir`, the rest at their defaults.
    pub fn new(master: impl Into<String>, work_dir: impl Into<PathBuf>) -> AgentFlags {
        let (master, work_dir): (String, PathBuf) = (master.into(), work_dir.into());
        AgentFlags::from_defaults(&[
            ("master", &master),
            ("work_dir", &work_dir.to_string_lossy()),
        ])
        .expect("the agent's defaults parse")
    }

    /// The agent's flag table with the containerizer's (for loading and `--help`).
    pub fn table() -> Vec<libprocess::flags::Flag> {
        libprocess::flags::merge(&[AgentFlags::FLAGS, ContainerizerFlags::FLAGS])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libprocess::flags::load;

    fn parse(args: &[&str]) -> Result<AgentFlags, String> {
        let f = load(
            "mesos-agent",
            &AgentFlags::table(),
            args.iter().map(|s| s.to_string()),
            |_| None,
        )
        .map_err(|e| e.to_string())?;
        AgentFlags::from_flags(&f)
    }

    #[test]
    fn defaults_and_the_containerizer_s_flags_from_one_command_line() {
        let a = AgentFlags::new("m:5050", "/w");
        assert_eq!(a.executor_registration_timeout, Duration::from_secs(60));
        assert_eq!(a.recover, Recover::Reconnect);
        assert_eq!(a.containerizer.work_dir, PathBuf::from("/w"));
        assert_eq!(a.containerizer.fetcher_cache_dir, PathBuf::from("/w/fetch"));
        assert_eq!(a.containerizer.fetcher_cache_size, 2 << 30);
        let a = parse(&[
            "--master=m:5050",
            "--work_dir=/x",
            "--cgroups_root=mine",
            "--no-cgroups_enable_cfs",
            "--fetcher_cache_size=1GB",
            "--nvidia_gpu_devices=0,1",
            "--recover=cleanup",
        ])
        .unwrap();
        assert_eq!(a.containerizer.cgroups_root, "mine");
        assert!(!a.containerizer.cgroups_enable_cfs);
        assert_eq!(a.containerizer.fetcher_cache_size, 1 << 30);
        assert_eq!(a.containerizer.nvidia_gpu_devices, Some(vec![0, 1]));
        assert_eq!(a.containerizer.fetcher_cache_dir, PathBuf::from("/x/fetch"));
        assert_eq!(a.recover, Recover::Cleanup);
    }

    #[test]
    fn bad_values_are_refused_naming_the_flag() {
        let base = ["--master=m:5050", "--work_dir=/x"];
        for (bad, names) in [
            ("--work_dir=", "'--work_dir' is required"),
            ("--recover=maybe", "--recover"),
            ("--isolation=cgroups/bogus", "cgroups/bogus"),
            ("--launcher=lxc", "--launcher"),
            ("--cgroups_root=../up", "--cgroups_root"),
            (
                "--image_provisioner_backend=aufs",
                "--image_provisioner_backend",
            ),
            ("--fetcher_cache_size=lots", "--fetcher_cache_size"),
            ("--containerizers=docker,lxc", "unknown containerizer 'lxc'"),
            ("--containerizers=mesos,mesos", "given twice"),
            ("--executor_registration_timeout=0secs", "must be positive"),
            ("--default_role=-bad", "--default_role"),
        ] {
            let mut args = base.to_vec();
            args.push(bad);
            let e = parse(&args).expect_err(bad);
            assert!(e.contains(names), "{bad}: {e}");
        }
        assert!(parse(&["--work_dir=/x"])
            .unwrap_err()
            .contains("'--master' is required"));
    }
}

/// Automatic image garbage collection (`--image_gc_config`, Mesos's `ImageGcConfig`).
#[derive(Clone, Debug, PartialEq)]
pub struct ImageGcConfig {
    /// Prune when the image store's disk is fuller than `1 - image_disk_headroom`.
    pub image_disk_headroom: f64,
    /// How often the disk is looked at (Mesos: 1 hour).
    pub image_disk_watch_interval: Duration,
    /// Images never pruned (`repo:tag`).
    pub excluded_images: Vec<String>,
}

impl ImageGcConfig {
    /// Reads the flag: Mesos's JSON inline, or a file of it.
    pub fn from_flag(text: &str) -> Result<ImageGcConfig, String> {
        let bad = |why: String| format!("Flag '--image_gc_config': {why}");
        let json = if text.trim_start().starts_with('{') {
            text.to_string()
        } else {
            let p = text.strip_prefix("file://").unwrap_or(text);
            std::fs::read_to_string(p).map_err(|e| bad(format!("cannot read '{p}': {e}")))?
        };
        let v: serde_json::Value = serde_json::from_str(&json).map_err(|e| bad(e.to_string()))?;
        let headroom = match &v["image_disk_headroom"] {
            serde_json::Value::Null => 0.1,
            h => h
                .as_f64()
                .filter(|h| (0.0..=1.0).contains(h))
                .ok_or_else(|| bad("'image_disk_headroom' must be a number in [0, 1]".into()))?,
        };
        let interval = match &v["image_disk_watch_interval"] {
            serde_json::Value::Null => Duration::from_secs(3600),
            d => d["nanoseconds"]
                .as_i64()
                .filter(|n| *n > 0)
                .map(|n| Duration::from_nanos(n as u64))
                .ok_or_else(|| {
                    bad("'image_disk_watch_interval' needs positive 'nanoseconds'".into())
                })?,
        };
        let excluded_images = excluded_images(&v["excluded_images"]).map_err(bad)?;
        Ok(ImageGcConfig {
            image_disk_headroom: headroom,
            image_disk_watch_interval: interval,
            excluded_images,
        })
    }
}

/// The names of a list of Mesos `Image`s (DOCKER ones; `excluded_images` of PRUNE_IMAGES and
/// `--image_gc_config`).
pub fn excluded_images(v: &serde_json::Value) -> Result<Vec<String>, String> {
    let Some(list) = v.as_array() else {
        return if v.is_null() {
            Ok(Vec::new())
        } else {
            Err("'excluded_images' must be an array".into())
        };
    };
    list.iter()
        .map(|i| {
            i["docker"]["name"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("only DOCKER images can be excluded, not {i}"))
        })
        .collect()
}
