//! mesos-cli: the binaries' shared parts. The network flags every binary takes, the agent's
//! flag table and its conversion into [`AgentFlags`] (the master's flags are declared once in
//! [`MasterFlags`]), and starting a master and agents on a runtime (which `mesos-local` and
//! `mesos-execute --master=local` do in one process).

pub use libprocess::flags;

pub mod glog;
use std::net::IpAddr;
use std::path::PathBuf;

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
        /// Log at this level and above to stderr: INFO, WARNING or ERROR
        pub logging_level: String = "INFO";
        /// Disable logging to stderr
        pub quiet: bool = "false";
        /// Also log to <log_dir>/<binary>.INFO (appended), which the master serves as /master/log and an agent as /slave/log (default: no log file)
        pub log_dir: Option<PathBuf>;
    }
}

impl Default for NetworkFlags {
    fn default() -> NetworkFlags {
        NetworkFlags::from_defaults(&[]).expect("the network flags' defaults parse")
    }
}

/// `mesos-master`'s own flags: the master's ([`MasterFlags`]) and its port.
pub const MASTER_PORT: &[Flag] = &[Flag::value("port", Some("5050"), "Port to listen on")];

/// `mesos-agent`'s port flag (its other flags are [`AgentFlags::table`]).
pub const AGENT_PORT: &[Flag] = &[Flag::value("port", Some("5051"), "Port to listen on")];

pub use libprocess::flags::merge;

/// What can go wrong starting a binary's parts; each names its cause.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A flag's value does not do (the message names the flag).
    #[error("{0}")]
    Flag(String),
    /// The runtime could not listen on its address.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// `ip:port`.
        addr: String,
        /// Why not.
        source: libprocess::Error,
    },
    /// The master or an agent could not be spawned.
    #[error("cannot start the {what}: {source}")]
    Start {
        /// `master` or `agent`.
        what: &'static str,
        /// Why not.
        source: libprocess::Error,
    },
    /// The `LIBPROCESS_SSL_*` environment asks for TLS that cannot be set up.
    #[error("TLS: {0}")]
    Tls(String),
    /// The agent could not be made.
    #[error(transparent)]
    Agent(#[from] mesos_agent::AgentError),
}

impl From<String> for CliError {
    fn from(flag: String) -> CliError {
        CliError::Flag(flag)
    }
}

/// An agent's flags from loaded flags, with its master and work dir given (`mesos-local`
/// runs several agents from one command line).
pub fn agent_flags(f: &Flags, master: &str, work_dir: &str) -> Result<AgentFlags, CliError> {
    let mut f = f.clone();
    f.set("master", master)?;
    f.set("work_dir", work_dir)?;
    Ok(AgentFlags::from_flags(&f)?)
}

/// Binds the runtime on `--ip` / `--port` / `--advertise_ip`, with the send timeout of
/// [`libprocess::Config::send_timeout`] (the master's: its total ping timeout).
pub async fn bind(
    f: &Flags,
    port: Option<u16>,
    send_timeout: Option<std::time::Duration>,
) -> Result<Runtime, CliError> {
    let net = NetworkFlags::from_flags(f)?;
    init_logging(&net)?;
    return_large_buffers();
    let port = match port {
        Some(p) => p,
        None => f.number::<u16>("port")?.unwrap_or(0),
    };
    let ip = net.ip;
    let tls = libprocess::tls::Tls::from_env().map_err(CliError::Tls)?;
    Runtime::bind(Config {
        ip,
        port,
        advertise_ip: net.advertise_ip,
        send_timeout,
        // A node that advertises another IP than its own is behind NAT: so may its peers be.
        accept_unmatched_advertised_ip: net.advertise_ip.is_some(),
        tls,
        ..Config::default()
    })
    .await
    .map_err(|source| CliError::Bind {
        addr: format!("{ip}:{port}"),
        source,
    })
}

/// Makes the allocator give large buffers (request bodies, frames, state replies) back to the
/// system when they are freed: glibc otherwise raises its mmap threshold after the first large
/// free and keeps later ones in its heap, so a burst of large requests would leave the process
/// that much larger for good.
#[allow(unsafe_code)]
pub fn return_large_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets one of the allocator's parameters; it is safe to call at any
    // time.
    unsafe {
        nix::libc::mallopt(nix::libc::M_MMAP_THRESHOLD, 256 << 10);
    }
}

/// Logs to stderr at `--logging_level` (Mesos's glog levels: INFO, WARNING, ERROR), or not at
/// all with `--quiet`, in glog's line format ([`glog::Glog`]). Once per process (a second call keeps the first setting).
pub fn init_logging(net: &NetworkFlags) -> Result<(), CliError> {
    let level = match net.logging_level.to_ascii_uppercase().as_str() {
        "INFO" => tracing::Level::INFO,
        "WARNING" => tracing::Level::WARN,
        "ERROR" => tracing::Level::ERROR,
        other => {
            return Err(CliError::Flag(format!(
                "Flag '--logging_level': unknown level '{other}' (expected INFO, WARNING or ERROR)"
            )))
        }
    };
    let file = match &net.log_dir {
        Some(dir) => {
            let fail = |e: std::io::Error| {
                CliError::Flag(format!(
                    "Flag '--log_dir': cannot write logs in '{}': {e}",
                    dir.display()
                ))
            };
            std::fs::create_dir_all(dir).map_err(fail)?;
            let binary = std::env::args()
                .next()
                .and_then(|a| {
                    std::path::Path::new(&a)
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                })
                .unwrap_or_else(|| "mesos".into());
            let path = dir.join(format!("{binary}.INFO"));
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(fail)?;
            Some((f, path))
        }
        None => None,
    };
    if net.quiet && file.is_none() {
        return Ok(());
    }
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let base = tracing_subscriber::filter::LevelFilter::from_level(level);
    let (filter, handle) = tracing_subscriber::reload::Layer::new(base);
    let stderr = (!net.quiet).then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .event_format(glog::Glog)
    });
    let (file, path) = match file {
        Some((f, p)) => (Some(f), Some(p)),
        None => (None, None),
    };
    let to_file = file.map(|f| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::sync::Mutex::new(f))
            .event_format(glog::Glog)
    });
    if tracing_subscriber::registry()
        .with(filter)
        .with(stderr)
        .with(to_file)
        .try_init()
        .is_ok()
    {
        if let Some(p) = path {
            libprocess::logging::set_log_file(p);
        }
        // SET_LOGGING_LEVEL: glog's verbose levels over --logging_level (1: debug, 2+: trace).
        libprocess::logging::install(move |v| {
            let f = match v {
                0 => base,
                1 => base.max(tracing_subscriber::filter::LevelFilter::DEBUG),
                _ => tracing_subscriber::filter::LevelFilter::TRACE,
            };
            let _ = handle.reload(f);
        });
    }
    Ok(())
}

/// Spawns the master (id `master`) on `rt`.
pub fn start_master(rt: &Runtime, flags: MasterFlags) -> Result<PID<Master>, CliError> {
    flags.validate()?;
    rt.spawn("master", Master::new(flags))
        .map_err(|source| CliError::Start {
            what: "master",
            source,
        })
}

/// Spawns an agent (id `slave(N)`) on `rt`; the first one also serves `/api/v1/executor`.
pub fn start_agent(rt: &Runtime, flags: AgentFlags) -> Result<PID<Agent>, CliError> {
    start_agent_watched(rt, flags).map(|(pid, _)| pid)
}

/// Why the agent stopped on its own, once it has (see [`mesos_agent::Agent::stopped`]).
pub type StopReason = std::sync::Arc<std::sync::Mutex<Option<mesos_agent::Stopped>>>;

/// [`start_agent`], with where the agent records why it stopped on its own, taken before it
/// runs (it may stop before anyone could ask it).
pub fn start_agent_watched(
    rt: &Runtime,
    flags: AgentFlags,
) -> Result<(PID<Agent>, StopReason), CliError> {
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
    let stopped = agent.stopped();
    let id = rt.unique_id("slave");
    let pid = rt.spawn(&id, agent).map_err(|source| CliError::Start {
        what: "agent",
        source,
    })?;
    // Executors that hard-code Mesos's unprefixed paths (pymesos) reach the first agent; a
    // master in the same process keeps its own `/api/v1` and `/state`.
    for (path, route) in mesos_agent::UNPREFIXED_ROUTES {
        rt.add_http_alias_if_absent(path, &id, route);
    }
    Ok((pid, stopped))
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
