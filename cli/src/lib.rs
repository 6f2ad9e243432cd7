//! mesos-cli: the binaries' shared parts. The flag tables of `mesos-master` and `mesos-agent`
//! (Mesos's names, defaults and `MESOS_*` environment), their conversion into
//! [`MasterFlags`] / [`AgentFlags`], and starting a master and agents on a runtime (which
//! `mesos-local` and `mesos-execute --master=local` do in one process).

pub mod flags;

use std::net::IpAddr;
use std::time::Duration;

use flags::{Flag, Flags};
use libprocess::{Config, Runtime, PID};
use mesos_agent::{Agent, AgentFlags};
use mesos_api::Attributes;
use mesos_master::{Master, MasterFlags};

/// Flags every binary binding a port takes.
pub const NETWORK_FLAGS: &[Flag] = &[
    Flag::value(
        "ip",
        Some("127.0.0.1"),
        "IP address to listen on (0.0.0.0 for all)",
    ),
    Flag::value(
        "advertise_ip",
        None,
        "IP address advertised in UPIDs (default: --ip, or 127.0.0.1 for 0.0.0.0)",
    ),
    Flag::value("hostname", None, "The hostname this node advertises"),
    Flag::value(
        "logging_level",
        Some("INFO"),
        "Accepted for compatibility (logs go to stderr)",
    ),
    Flag::boolean("quiet", false, "Accepted for compatibility"),
];

/// `mesos-master`'s own flags.
pub const MASTER_FLAGS: &[Flag] = &[
    Flag::value("port", Some("5050"), "Port to listen on"),
    Flag::value(
        "work_dir",
        None,
        "Where the master keeps its registry (accepted; the registry is in memory for now)",
    ),
    Flag::value(
        "registry",
        Some("in_memory"),
        "Registry backend (in_memory)",
    ),
    Flag::value(
        "allocation_interval",
        Some("1secs"),
        "Time between batch allocations",
    ),
    Flag::value(
        "agent_ping_timeout",
        Some("15secs"),
        "Time between pings to an agent",
    )
    .alias(&["slave_ping_timeout"]),
    Flag::value(
        "max_agent_ping_timeouts",
        Some("5"),
        "Missed pings before an agent is unreachable",
    )
    .alias(&["max_slave_ping_timeouts"]),
    Flag::value(
        "offer_timeout",
        None,
        "Time after which an unused offer is rescinded (default: none)",
    ),
    Flag::value(
        "max_completed_frameworks",
        Some("50"),
        "Completed frameworks kept in memory for the state endpoints",
    ),
    Flag::value(
        "max_completed_tasks_per_framework",
        Some("1000"),
        "Completed tasks kept in memory per framework for the state endpoints",
    ),
];

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
    Flag::value("isolation", Some("posix/cpu,posix/mem"), "Isolators (accepted; isolation comes with the containerizer)"),
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

/// The master's flags from loaded flags.
pub fn master_flags(f: &Flags) -> Result<MasterFlags, String> {
    let d = MasterFlags::default();
    Ok(MasterFlags {
        hostname: f.get("hostname").unwrap_or(&d.hostname).to_string(),
        allocation_interval: positive(f, "allocation_interval")?.unwrap_or(d.allocation_interval),
        agent_ping_timeout: positive(f, "agent_ping_timeout")?.unwrap_or(d.agent_ping_timeout),
        max_agent_ping_timeouts: f
            .number("max_agent_ping_timeouts")?
            .unwrap_or(d.max_agent_ping_timeouts),
        offer_timeout: positive(f, "offer_timeout")?,
        heartbeat_interval: d.heartbeat_interval,
        max_completed_frameworks: f
            .number("max_completed_frameworks")?
            .unwrap_or(d.max_completed_frameworks),
        max_completed_tasks_per_framework: f
            .number("max_completed_tasks_per_framework")?
            .unwrap_or(d.max_completed_tasks_per_framework),
    })
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
    if let Some(i) = f.get("isolation") {
        a.isolation = i.to_string();
    }
    Ok(a)
}

/// Binds the runtime on `--ip` / `--port` / `--advertise_ip`.
pub async fn bind(f: &Flags, port: Option<u16>) -> Result<Runtime, String> {
    let ip: IpAddr = f.get("ip").unwrap_or("127.0.0.1").parse().map_err(|_| {
        format!(
            "Flag '--ip': '{}' is not an IP address",
            f.get("ip").unwrap_or("")
        )
    })?;
    let advertise_ip = f
        .get("advertise_ip")
        .map(|v| {
            v.parse::<IpAddr>()
                .map_err(|_| format!("Flag '--advertise_ip': '{v}' is not an IP address"))
        })
        .transpose()?;
    let port = match port {
        Some(p) => p,
        None => f.number::<u16>("port")?.unwrap_or(0),
    };
    Runtime::bind(Config {
        ip,
        port,
        advertise_ip,
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
