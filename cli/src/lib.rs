//! mesos-cli: the binaries' shared parts. The network flags every binary takes, the agent's
//! flag table and its conversion into [`AgentFlags`] (the master's flags are declared once in
//! [`MasterFlags`]), and starting a master and agents on a runtime (which `mesos-local` and
//! `mesos-execute --master=local` do in one process).

pub use libprocess::flags;

use std::net::IpAddr;
use std::time::Duration;

use flags::{Flag, Flags};
use libprocess::{Config, Runtime, PID};
use mesos_agent::{Agent, AgentFlags};
use mesos_api::Attributes;
use mesos_master::{Master, MasterFlags};

libprocess::flags! {
    /// Flags every binary binding a port takes.
    #[derive(Clone, Debug)]
    pub struct NetworkFlags {
        /// IP address to listen on (0.0.0.0 for all)
        pub ip: IpAddr = "127.0.0.1";
        /// IP address advertised in UPIDs (default: --ip, or 127.0.0.1 for 0.0.0.0)
        pub advertise_ip: Option<IpAddr>;
        /// The hostname this node advertises
        pub hostname: Option<String>;
        /// Accepted for compatibility (logs go to stderr)
        pub logging_level: String = "INFO";
        /// Accepted for compatibility
        pub quiet: bool = "false";
    }
}

/// `mesos-master`'s own flags: the master's ([`MasterFlags`]) and its port.
pub const MASTER_PORT: &[Flag] = &[Flag::value("port", Some("5050"), "Port to listen on")];

/// `mesos-agent`'s own flags.
pub const AGENT_FLAGS: &[Flag] = &[
    Flag::value("master", None, "The master: host:port (or master@host:port)"),
    Flag::value("port", Some("5051"), "Port to listen on"),
    Flag::value("work_dir", None, "Where sandboxes and checkpoints live"),
    Flag::value("resources", None, "Total resources, e.g. 'cpus:4;mem:4096;ports:[31000-32000]', or a JSON array, or file://path"),
    Flag::value("attributes", None, "Attributes, e.g. 'rack:r1;zone:z1'"),
    Flag::value("default_role", Some("*"), "Role of resources with none given"),
    Flag::value("executor_registration_timeout", Some("1mins"), "Time an executor has to subscribe"),
    Flag::value("executor_shutdown_grace_period", Some("5secs"), "Time an executor has to exit after SHUTDOWN"),
    Flag::value("registration_backoff_factor", Some("1secs"), "First registration retry interval (then doubling, up to 1 min)"),
    Flag::value("launcher_dir", None, "Directory of mesos-executor and mesos-default-executor (default: next to this binary)"),
    Flag::value("isolation", Some("posix/cpu,posix/mem"), "Isolators: posix/cpu, posix/mem, posix/rlimits, cgroups/cpu, cgroups/mem, cgroups/pids, cgroups/all, namespaces/pid, filesystem/linux, volume/host_path, volume/sandbox_path, disk/du, gpu/nvidia"),
    Flag::value("launcher", None, "How containers start: linux (namespaces; the default as root) or posix"),
    Flag::value("cgroups_hierarchy", Some("/sys/fs/cgroup"), "Where cgroups are mounted (v1 per-controller mounts or the v2 unified hierarchy, detected)"),
    Flag::value("cgroups_root", Some("mesos"), "The cgroup under which containers get theirs"),
    Flag::boolean("cgroups_enable_cfs", true, "Limit CPU with a CFS quota from cpus (cgroups/cpu)"),
    Flag::value("cgroups_pids_max", None, "The most processes a container may have (cgroups/pids)"),
    Flag::boolean("enforce_container_disk_quota", false, "Fail a task whose sandbox outgrows its disk (disk/du)"),
    Flag::value("container_disk_watch_interval", Some("15secs"), "How often disk/du measures sandboxes"),
    Flag::value("docker_registry", None, "A local directory of images: repo:tag.tar (docker save) archives and OCI layouts"),
    Flag::value("docker_store_dir", None, "The image layer store (default <work_dir>/store/docker)"),
    Flag::value("image_provisioner_backend", Some("copy"), "How image rootfses are made: copy or overlay"),
    Flag::value("fetcher_cache_dir", None, "The fetcher's cache (default <work_dir>/fetch)"),
    Flag::value("fetcher_cache_size", Some("2GB"), "The fetcher cache's size"),
    Flag::value("nvidia_gpu_devices", None, "GPUs (by minor number) the agent manages, e.g. '0,1' (gpu/nvidia)"),
    Flag::value("recover", Some("reconnect"), "After a restart: reconnect to surviving executors, or cleanup (kill them)"),
    Flag::value("recovery_timeout", Some("15mins"), "How long executors wait for a restarted agent"),
    Flag::value("containerizers", Some("mesos"), "Containerizers (mesos)"),
];

/// Concatenates flag tables, the first of a name winning.
pub fn merge(tables: &[&[Flag]]) -> Vec<Flag> {
    let mut out: Vec<Flag> = Vec::new();
    for t in tables {
        for f in t.iter() {
            if !out.iter().any(|o| o.name == f.name) {
                out.push(*f);
            }
        }
    }
    out
}

fn positive(f: &Flags, name: &str) -> Result<Option<Duration>, String> {
    match f.duration(name)? {
        Some(d) if d.is_zero() => Err(format!("Flag '--{name}' must be positive")),
        other => Ok(other),
    }
}

/// An agent's flags from loaded flags (`master` given separately for `mesos-local`).
pub fn agent_flags(f: &Flags, master: &str, work_dir: &str) -> Result<AgentFlags, String> {
    let mut a = AgentFlags::new(master, work_dir);
    a.resources = f.get("resources").map(str::to_string);
    a.attributes = f.get("attributes").map(str::to_string);
    a.hostname = f.get("hostname").map(str::to_string);
    if let Some(r) = f.get("default_role") {
        mesos_api::roles::validate(r).map_err(|e| format!("Flag '--default_role': {e}"))?;
        a.default_role = r.to_string();
    }
    if let Some(d) = positive(f, "executor_registration_timeout")? {
        a.executor_registration_timeout = d;
    }
    if let Some(d) = f.duration("executor_shutdown_grace_period")? {
        a.executor_shutdown_grace_period = d;
    }
    if let Some(d) = positive(f, "registration_backoff_factor")? {
        a.registration_backoff_factor = d;
    }
    a.launcher_dir = f.get("launcher_dir").map(Into::into);
    let c = &mut a.containerizer;
    if let Some(i) = f.get("isolation") {
        c.isolation = mesos_containerizer::parse_isolation(i).map_err(|e| format!("Flag {e}"))?;
    }
    if let Some(l) = f.get("launcher") {
        c.launcher =
            mesos_containerizer::LauncherKind::parse(l).map_err(|e| format!("Flag {e}"))?;
    }
    if let Some(h) = f.get("cgroups_hierarchy") {
        c.cgroups_hierarchy = h.into();
    }
    if let Some(r) = f.get("cgroups_root") {
        if r.is_empty() || r.split('/').any(|p| p == "..") {
            return Err(format!("Flag '--cgroups_root': '{r}' is not a cgroup name"));
        }
        c.cgroups_root = r.to_string();
    }
    c.cgroups_enable_cfs = f.bool("cgroups_enable_cfs")?;
    c.cgroups_pids_max = f.number("cgroups_pids_max")?;
    c.enforce_container_disk_quota = f.bool("enforce_container_disk_quota")?;
    if let Some(d) = positive(f, "container_disk_watch_interval")? {
        c.container_disk_watch_interval = d;
    }
    c.docker_registry = f.get("docker_registry").map(Into::into);
    c.docker_store_dir = f.get("docker_store_dir").map(Into::into);
    if let Some(b) = f.get("image_provisioner_backend") {
        if b != "copy" && b != "overlay" {
            return Err(format!(
                "Flag '--image_provisioner_backend': expecting 'copy' or 'overlay', got '{b}'"
            ));
        }
        c.image_provisioner_backend = b.to_string();
    }
    if let Some(d) = f.get("fetcher_cache_dir") {
        c.fetcher_cache_dir = d.into();
    }
    if let Some(s) = f.get("fetcher_cache_size") {
        c.fetcher_cache_size = flags::parse_bytes(s)
            .ok_or_else(|| format!("Flag '--fetcher_cache_size': '{s}' is not a size like 2GB"))?;
    }
    if let Some(g) = f.get("nvidia_gpu_devices") {
        let v: Result<Vec<u32>, _> = g.split(',').map(|x| x.trim().parse()).collect();
        c.nvidia_gpu_devices =
            Some(v.map_err(|_| {
                format!("Flag '--nvidia_gpu_devices': '{g}' is not a list of numbers")
            })?);
    }
    if let Some(r) = f.get("recover") {
        a.recover = mesos_agent::flags::Recover::parse(r)?;
    }
    if let Some(d) = positive(f, "recovery_timeout")? {
        a.recovery_timeout = d;
    }
    Ok(a)
}

/// Binds the runtime on `--ip` / `--port` / `--advertise_ip`.
pub async fn bind(f: &Flags, port: Option<u16>) -> Result<Runtime, String> {
    let net = NetworkFlags::from_flags(f)?;
    let port = match port {
        Some(p) => p,
        None => f.number::<u16>("port")?.unwrap_or(0),
    };
    let ip = net.ip;
    Runtime::bind(Config {
        ip,
        port,
        advertise_ip: net.advertise_ip,
        ..Config::default()
    })
    .await
    .map_err(|e| format!("cannot listen on {ip}:{port}: {e}"))
}

/// Spawns the master (id `master`) on `rt`.
pub fn start_master(rt: &Runtime, flags: MasterFlags) -> Result<PID<Master>, String> {
    rt.spawn("master", Master::new(flags))
        .map_err(|e| format!("cannot start the master: {e}"))
}

/// Spawns an agent (id `slave(N)`) on `rt`; the first one also serves `/api/v1/executor`.
pub fn start_agent(rt: &Runtime, flags: AgentFlags) -> Result<PID<Agent>, String> {
    std::fs::create_dir_all(&flags.work_dir).map_err(|e| {
        format!(
            "Flag '--work_dir': cannot create '{}': {e}",
            flags.work_dir.display()
        )
    })?;
    let resources = mesos_agent::resources::agent_resources(
        flags.resources.as_deref(),
        &flags.default_role,
        &flags.work_dir,
    )
    .map_err(|e| format!("Flag '--resources': {e}"))?;
    let attributes = match flags.attributes.as_deref() {
        Some(a) => Attributes::parse(a).map_err(|e| format!("Flag '--attributes': {e}"))?,
        None => Attributes::default(),
    };
    let agent = Agent::new(flags, resources, attributes)?;
    let id = rt.unique_id("slave");
    let pid = rt
        .spawn(&id, agent)
        .map_err(|e| format!("cannot start the agent: {e}"))?;
    // Executors that hard-code Mesos's unprefixed paths (pymesos) reach the first agent; a
    // master in the same process keeps its own `/api/v1` and `/state`.
    for (path, route) in mesos_agent::UNPREFIXED_ROUTES {
        rt.add_http_alias_if_absent(path, &id, route);
    }
    Ok(pid)
}

/// Waits for SIGINT or SIGTERM.
pub async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Prints an error and exits 1.
pub fn die(msg: impl std::fmt::Display) -> ! {
    eprintln!("{msg}");
    std::process::exit(1)
}
