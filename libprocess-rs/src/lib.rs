//! libprocess-rs: a libprocess-style actor runtime on tokio.
//!
//! Every component is a [`Process`] with a [`UPID`] (`id@ip:port`). Processes receive named
//! messages (serde bodies, encoded only when they leave the node), dispatched closures, HTTP
//! requests and exited notices as events on one queue, handled one at a time. A runtime listens on
//! one port for both the binary transport and HTTP, keeps one persistent outgoing connection per
//! remote node, and gives processes links with libprocess's exited semantics, a pausable clock
//! and a metrics registry. With the `test-util` feature: `settle()` and message/dispatch filters.

pub mod auth;
pub mod clock;
pub mod codec;
mod error;
#[cfg(feature = "test-util")]
pub mod filter;
pub mod flags;
pub mod http;
pub mod http_client;
mod http_server;
mod limits;
pub mod logging;
mod mailbox;
mod manager;
mod message;
pub mod metrics;
mod process;
mod queue;
pub mod rng;
mod runtime;
pub mod simnet;
mod start;
pub mod stream;
pub mod tls;
pub mod transport;
mod upid;
pub mod util;

pub use clock::{Clock, Timer};
pub use error::{Error, Result};
pub use http::{BodyStream, HttpRequest, HttpResponse, Reply};
pub use mailbox::RemoteConnection;
pub use message::{Body, Message, MessageEvent, Name};
pub use metrics::{Counter, Gauge, Metrics, Timing};
pub use process::{Context, Process, QueueCounts, PID};
pub use runtime::Runtime;
pub use start::{Config, Network};
pub use upid::UPID;
