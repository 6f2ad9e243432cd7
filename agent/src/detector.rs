//! Finding the master from `--master`.

use libprocess::UPID;

/// The master's UPID from `--master` (`host:port` or `master@host:port`).
pub fn master_upid(flag: &str) -> Result<UPID, String> {
    if flag.starts_with("zk://") || flag.starts_with("file://") {
        return Err(format!(
            "--master={flag}: ZooKeeper and file detection are not supported yet; give host:port"
        ));
    }
    let (id, hostport) = flag.split_once('@').unwrap_or(("master", flag));
    use std::net::ToSocketAddrs;
    let addr = hostport
        .to_socket_addrs()
        .map_err(|e| format!("--master={flag}: cannot resolve '{hostport}': {e}"))?
        .find(|a| a.is_ipv4())
        .ok_or_else(|| format!("--master={flag}: '{hostport}' has no IPv4 address"))?;
    Ok(UPID::new(id, addr))
}
