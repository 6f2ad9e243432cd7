//! network/ports: a container on the host's network listening on a port it was not given.
//!
//! Every `--container_ports_watch_interval` the isolator lists the TCP sockets listening on
//! this host (`/proc/net/tcp`, `/proc/net/tcp6`) and the sockets each of the container's
//! processes holds (`/proc/<pid>/fd`; the processes are its cgroup's, or its first process's
//! session's), and compares the ports with the container's `ports` resources. A port outside
//! them is logged once (`Container <id> is listening on unallocated port(s): [p-p]`), and with
//! `--enforce_container_ports` it is a limitation that kills the container
//! (`REASON_CONTAINER_LIMITATION`), as Mesos's isolator does. With
//! `--check_agent_port_range_only` only ports inside the agent's own `ports` resource count.
//! Containers on CNI networks have ports of their own and are not checked.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use mesos_api::protocol::task::Reason;

use super::{Check, Isolator, IsolatorState, Verdict, Watch};
use crate::config::{ContainerConfig, Limitation};

/// The network/ports isolator.
pub struct NetworkPorts {
    /// `--container_ports_watch_interval`.
    pub interval: Duration,
    /// `--enforce_container_ports`.
    pub enforce: bool,
    /// With `--check_agent_port_range_only`: the agent's `ports` ranges.
    pub only_within: Option<Vec<(u64, u64)>>,
}

/// Listening TCP sockets of this network namespace: inode -> port.
fn listening() -> HashMap<u64, u16> {
    let mut out = HashMap::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
            if f.len() < 10 || f[3] != "0A" {
                continue;
            }
            let port = f[1]
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            if let (Some(port), Ok(inode)) = (port, f[9].parse::<u64>()) {
                out.insert(inode, port);
            }
        }
    }
    out
}

/// The container's processes: its cgroup's, else its first process's session's.
fn processes(state: &IsolatorState) -> Vec<i32> {
    if let Some(cg) = &state.cgroup {
        let pids = cg.pids();
        if !pids.is_empty() {
            return pids;
        }
    }
    let Some(leader) = state.pid else {
        return Vec::new();
    };
    let Ok(sid) = nix::unistd::getsid(Some(nix::unistd::Pid::from_raw(leader))) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        if nix::unistd::getsid(Some(nix::unistd::Pid::from_raw(pid))).ok() == Some(sid) {
            out.push(pid);
        }
    }
    out
}

/// The ports the processes listen on.
fn ports_of(pids: &[i32], listening: &HashMap<u64, u16>) -> BTreeSet<u16> {
    let mut out = BTreeSet::new();
    for pid in pids {
        for fd in std::fs::read_dir(format!("/proc/{pid}/fd"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let t = target.to_string_lossy();
            let inode = t
                .strip_prefix("socket:[")
                .and_then(|r| r.strip_suffix(']'))
                .and_then(|i| i.parse::<u64>().ok());
            if let Some(port) = inode.and_then(|i| listening.get(&i)) {
                out.insert(*port);
            }
        }
    }
    out
}

/// `[a-b, c-c]` for a sorted set of ports.
fn ranges_text(ports: &[u16]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < ports.len() {
        let start = ports[i];
        let mut end = start;
        while i + 1 < ports.len() && ports[i + 1] == end.wrapping_add(1) {
            i += 1;
            end = ports[i];
        }
        parts.push(format!("{start}-{end}"));
        i += 1;
    }
    format!("[{}]", parts.join(", "))
}

fn within(ranges: &[(u64, u64)], port: u16) -> bool {
    ranges
        .iter()
        .any(|(b, e)| (*b..=*e).contains(&u64::from(port)))
}

impl Isolator for NetworkPorts {
    fn name(&self) -> &'static str {
        "network/ports"
    }

    fn watch(&self, config: &ContainerConfig, _: &IsolatorState) -> Option<Watch> {
        let cni = config
            .container_info
            .as_ref()
            .is_some_and(|c| !c.network_infos.is_empty());
        // Nested containers are checked as part of their top-level container's processes.
        (!cni && config.parent.is_none()).then_some(Watch {
            first: self.interval,
            every: self.interval,
        })
    }

    fn check(&self, config: &ContainerConfig, state: &IsolatorState) -> Check {
        let Some(allocated) = config.limits.ports.clone() else {
            return Check::Now(None);
        };
        let pids = processes(state);
        let used = ports_of(&pids, &listening());
        let stray: Vec<u16> = used
            .into_iter()
            .filter(|p| !within(&allocated, *p))
            .filter(|p| self.only_within.as_ref().is_none_or(|r| within(r, *p)))
            .collect();
        let enforce = self.enforce;
        let id = config.id.value.clone();
        Check::Later(Box::pin(async move {
            Box::new(move |_: &ContainerConfig, state: &mut IsolatorState| {
                if stray.is_empty() {
                    state.stray_ports.clear();
                    return None;
                }
                let message = format!(
                    "Container {id} is listening on unallocated port(s): {}",
                    ranges_text(&stray)
                );
                if state.stray_ports != stray {
                    tracing::info!("{message}");
                    state.stray_ports = stray;
                }
                enforce.then_some(Limitation {
                    reason: Reason::ContainerLimitation,
                    message,
                })
            }) as Verdict
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_read_as_mesos_writes_ranges() {
        assert_eq!(
            ranges_text(&[80, 31000, 31001, 31002, 31005]),
            "[80-80, 31000-31002, 31005-31005]"
        );
        assert!(within(&[(31000, 31010)], 31005));
        assert!(!within(&[(31000, 31010)], 80));
    }

    #[test]
    fn a_process_listening_is_found_with_its_port() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let found = ports_of(&[std::process::id() as i32], &listening());
        assert!(found.contains(&port), "{found:?} lacks {port}");
    }
}
