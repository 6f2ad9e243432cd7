//! Starting a runtime: its [`Config`], and [`Runtime::bind`], which binds the node's one port
//! and puts the parts together: the process manager, the transport's accept loop, the timer
//! driver and the `metrics` process serving `/metrics/snapshot`.
//!
//! The top of the runtime's modules: it imports the process manager, the transport, the runtime
//! and `process`, and none of them imports it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use crate::error::Result;
use crate::http::{HttpResponse, Reply};
use crate::manager::ProcessManager;
use crate::metrics::Metrics;
use crate::process::{Context, Process};
use crate::runtime::Runtime;
use crate::transport::{self, Transport};

/// How a runtime binds and advertises itself.
#[derive(Clone, Debug)]
pub struct Config {
    /// The ip to listen on (`0.0.0.0` listens everywhere).
    pub ip: IpAddr,
    /// The port to listen on (0 picks a free one).
    pub port: u16,
    /// The ip put in this node's UPIDs; defaults to `ip`, or 127.0.0.1 when `ip` is unspecified.
    pub advertise_ip: Option<IpAddr>,
    /// The hard limit on one binary frame; larger frames close their connection.
    pub max_frame_bytes: usize,
    /// How long an outgoing connect may take before links see `exited`.
    pub connect_timeout: Duration,
    /// How long data written on a connection (either way: messages, HTTP responses, event
    /// streams) may stay unacknowledged by the peer's TCP before the connection is taken for
    /// broken (`TCP_USER_TIMEOUT`): links to that peer then see `exited`. This is how a node
    /// notices a peer cut off by a network partition while it keeps sending to it (the master's
    /// pings and heartbeats). `None` leaves the kernel's default, about 15 minutes of
    /// retransmissions.
    pub send_timeout: Option<Duration>,
    /// Whether peers may advertise (in the binary handshake) an IP other than the one they
    /// connect from. Off, such a connection is refused: a peer speaks for its own address
    /// only (frames whose sender names another node are dropped either way). Nodes behind
    /// NAT need it on.
    pub accept_unmatched_advertised_ip: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            advertise_ip: None,
            max_frame_bytes: transport::wire::DEFAULT_MAX_FRAME,
            connect_timeout: Duration::from_secs(5),
            send_timeout: None,
            accept_unmatched_advertised_ip: false,
        }
    }
}

impl Runtime {
    /// Binds the listening socket and starts the runtime on the current tokio runtime.
    pub async fn bind(config: Config) -> Result<Runtime> {
        let listener = tokio::net::TcpListener::bind((config.ip, config.port)).await?;
        let local = listener.local_addr()?;
        let ip = config
            .advertise_ip
            .unwrap_or(if local.ip().is_unspecified() {
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            } else {
                local.ip()
            });
        let pm = ProcessManager::new(SocketAddr::new(ip, local.port()), Metrics::new());
        let transport = Transport::new(
            pm.clone(),
            config.max_frame_bytes,
            config.connect_timeout,
            config.send_timeout,
            config.accept_unmatched_advertised_ip,
        );
        let accept = tokio::spawn(transport::accept_loop(transport.clone(), listener));
        let weak = Arc::downgrade(&pm);
        let timers = tokio::spawn(pm.clock.clone().drive(move |d| {
            if let Some(pm) = weak.upgrade() {
                pm.busy(d)
            }
        }));
        let rt = Runtime::new(pm, transport, vec![accept, timers]);
        rt.spawn("metrics", MetricsProcess)?;
        Ok(rt)
    }

    /// A runtime on 127.0.0.1 with a free port.
    pub async fn local() -> Result<Runtime> {
        Runtime::bind(Config::default()).await
    }
}

/// Serves `/metrics/snapshot`.
struct MetricsProcess;

impl Process for MetricsProcess {
    fn initialize(&mut self, ctx: &mut Context<Self>) {
        ctx.route_builtin("snapshot", |_, ctx, _req| {
            Reply::from(HttpResponse::json(&ctx.runtime().metrics().snapshot_json()))
        });
    }
}
