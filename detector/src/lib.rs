//! Finding the leading master, shared by the master (which contends), the agent, the scheduler
//! SDK and the command-line tools (which detect), so that none of them imports another.
//!
//! - [`MasterSpec::parse`] reads `--master` / `--zk`: a fixed `host:port`, a
//!   `zk://[user:pass@]host:port[,...]/path` group, or `file:///path` holding either.
//! - [`zk::follow`] watches a ZooKeeper group and always holds the latest leader;
//!   [`zk::follow_each`] hands each new leader to a process.
//! - [`contend`] joins the group as a master (ephemeral sequential `json.info_<seq>` znode with
//!   its `MasterInfo` as JSON, Mesos's layout, so Mesos's own tools and pymesos find our leader)
//!   and reports the leader and the end of its candidacy.

mod url;
pub mod zk;

use std::time::Duration;

use libprocess::UPID;
use mesos_api::protocol::framework::MasterInfo;

pub use url::{MasterSpec, ZkUrl};
pub use zk::{contend, Contention};
/// The ZooKeeper client library (for sessions handed out in [`Contention::Candidate`]).
pub use zookeeper_client;

/// Mesos's default ZooKeeper session timeout (`--zk_session_timeout`).
pub const ZOOKEEPER_SESSION_TIMEOUT: Duration = Duration::from_secs(10);

/// What goes wrong finding the master.
#[derive(Debug, thiserror::Error)]
pub enum DetectorError {
    /// `--master` / `--zk` does not name a master or a ZooKeeper group.
    #[error("bad master URL '{url}': {why}")]
    Url {
        /// The URL as given.
        url: String,
        /// Why not.
        why: String,
    },
}

/// The leading master as detected.
#[derive(Clone, Debug, PartialEq)]
pub struct Leader {
    /// Its process (where messages go).
    pub upid: UPID,
    /// What it published in ZooKeeper (None for a fixed `--master`).
    pub info: Option<MasterInfo>,
}

impl Leader {
    /// The leader described by a `MasterInfo` (its `pid`, else `master@address.ip:port`).
    pub fn from_info(info: MasterInfo) -> Option<Leader> {
        let upid = info
            .pid
            .as_deref()
            .and_then(|p| p.parse::<UPID>().ok())
            .or_else(|| {
                let a = info.address.as_ref()?;
                let ip: std::net::IpAddr = a.ip.as_deref()?.parse().ok()?;
                Some(UPID::new("master", (ip, a.port as u16).into()))
            });
        match upid {
            Some(upid) => Some(Leader {
                upid,
                info: Some(info),
            }),
            None => {
                tracing::warn!(id = %info.id, "the leader's MasterInfo has neither pid nor address");
                None
            }
        }
    }
}
