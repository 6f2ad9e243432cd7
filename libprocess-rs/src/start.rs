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
    /// The largest HTTP request body (larger gets 413 before it is read).
    pub max_request_body: usize,
    /// How long an HTTP request body or a binary frame may take to arrive once started (then
    /// 408, or the connection closes).
    pub read_timeout: Duration,
    /// Memory for request bodies and frames in flight (beyond 64 KiB each), shared by every
    /// connection: readers wait for their share (up to `read_timeout`, then 503 or a closed
    /// connection), so many large or stalled requests cannot grow the node without bound.
    pub memory_budget: usize,
    /// Connections accepted at once, in all.
    pub max_connections: usize,
    /// Connections accepted at once from one IP address other than the node's own (the
    /// address it listens on: an agent's executors, local tools), which count only in all.
    pub max_connections_per_ip: usize,
    /// TLS for the port and for outgoing connections (see [`crate::tls`]); binaries set it
    /// from the `LIBPROCESS_SSL_*` environment with [`crate::tls::Tls::from_env`].
    pub tls: Option<Arc<crate::tls::Tls>>,
    /// The network the node is on: the machine's TCP, or a simulated network.
    pub network: Network,
}

/// The network a runtime listens and connects on.
#[derive(Clone, Debug, Default)]
pub enum Network {
    /// The machine's TCP/IP.
    #[default]
    Tcp,
    /// A simulated network ([`crate::simnet`]): the node listens at `ip:port` on it (port 0
    /// picks one) and reaches only the nodes on it. TLS is not available there.
    Sim(crate::simnet::SimNet),
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
            max_request_body: crate::http::MAX_REQUEST_BODY,
            read_timeout: Duration::from_secs(30),
            memory_budget: 128 << 20,
            max_connections: 10_000,
            max_connections_per_ip: 1_000,
            tls: None,
            network: Network::Tcp,
        }
    }
}

impl Runtime {
    /// Binds the listening socket and starts the runtime on the current tokio runtime.
    pub async fn bind(config: Config) -> Result<Runtime> {
        let (listener, local) = match &config.network {
            Network::Tcp => {
                let l = tokio::net::TcpListener::bind((config.ip, config.port)).await?;
                let local = l.local_addr()?;
                (transport::Listener::Tcp(l), local)
            }
            Network::Sim(_) if config.tls.is_some() => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::Unsupported,
                    "TLS is not available on a simulated network",
                )
                .into());
            }
            Network::Sim(net) => {
                let (local, rx) =
                    net.listen(SocketAddr::new(config.ip, config.port), config.send_timeout)?;
                (transport::Listener::Sim(rx), local)
            }
        };
        let ip = config
            .advertise_ip
            .unwrap_or(if local.ip().is_unspecified() {
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            } else {
                local.ip()
            });
        let pm = ProcessManager::new(SocketAddr::new(ip, local.port()), Metrics::new());
        let limits = crate::limits::Limits::new(
            config.max_request_body,
            config.read_timeout,
            config.memory_budget,
            config.max_connections,
            config.max_connections_per_ip,
            &pm.metrics,
        );
        let options = transport::Options {
            max_frame: config.max_frame_bytes,
            connect_timeout: config.connect_timeout,
            send_timeout: config.send_timeout,
            accept_unmatched_ip: config.accept_unmatched_advertised_ip,
            tls: config.tls.clone(),
            net: match &config.network {
                Network::Tcp => None,
                Network::Sim(net) => Some(net.clone()),
            },
        };
        let transport = Transport::new(pm.clone(), limits, options);
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

/// Serves `/metrics/snapshot` (Mesos's JSON) and `/metrics` (Prometheus's text format).
struct MetricsProcess;

/// The media type of Prometheus's text exposition format.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

impl Process for MetricsProcess {
    fn initialize(&mut self, ctx: &mut Context<Self>) {
        ctx.route_builtin("snapshot", |_, ctx, _req| {
            Reply::from(HttpResponse::json(&ctx.runtime().metrics().snapshot_json()))
        });
        ctx.route_builtin("", |_, ctx, _req| {
            Reply::from(
                HttpResponse::text(200, ctx.runtime().metrics().prometheus())
                    .with_header("Content-Type", PROMETHEUS_TEXT),
            )
        });
    }
}
