//! Finding the master from `--master`.

use libprocess::UPID;

use crate::error::{AgentError, Result};

/// The master's UPID from `--master` (`host:port` or `master@host:port`).
pub fn master_upid(flag: &str) -> Result<UPID> {
    if flag.starts_with("zk://") || flag.starts_with("file://") {
        return Err(bad(
            flag,
            "ZooKeeper and file detection are not supported yet; give host:port".into(),
        ));
    }
    let (id, hostport) = flag.split_once('@').unwrap_or(("master", flag));
    use std::net::ToSocketAddrs;
    let addr = hostport
        .to_socket_addrs()
        .map_err(|e| bad(flag, format!("cannot resolve '{hostport}': {e}")))?
        .find(|a| a.is_ipv4())
        .ok_or_else(|| bad(flag, format!("'{hostport}' has no IPv4 address")))?;
    Ok(UPID::new(id, addr))
}

fn bad(flag: &str, why: String) -> AgentError {
    AgentError::Master {
        flag: flag.to_string(),
        why,
    }
}
