//! Agents by their UPID, with how many each node (one connection: one advertised `ip:port`)
//! holds, so that registrations can be limited per connection without a scan.

use libprocess::util::HashMap;
use std::net::SocketAddr;

use libprocess::UPID;
use mesos_api::AgentID;

/// The agents' UPIDs (one each) and the count per node address.
#[derive(Default)]
pub(super) struct AgentPids {
    by_pid: HashMap<UPID, AgentID>,
    per_node: HashMap<SocketAddr, usize>,
}

impl AgentPids {
    pub(super) fn get(&self, pid: &UPID) -> Option<&AgentID> {
        self.by_pid.get(pid)
    }

    pub(super) fn insert(&mut self, pid: UPID, id: AgentID) {
        let addr = pid.addr();
        if self.by_pid.insert(pid, id).is_none() {
            *self.per_node.entry(addr).or_default() += 1;
        }
    }

    pub(super) fn remove(&mut self, pid: &UPID) -> Option<AgentID> {
        let id = self.by_pid.remove(pid)?;
        if let Some(n) = self.per_node.get_mut(&pid.addr()) {
            *n -= 1;
            if *n == 0 {
                self.per_node.remove(&pid.addr());
            }
        }
        Some(id)
    }

    /// How many agents the node at `addr` holds.
    pub(super) fn at(&self, addr: SocketAddr) -> usize {
        self.per_node.get(&addr).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_follow_inserts_and_removes_per_node() {
        let mut p = AgentPids::default();
        let a1: UPID = "slave(1)@127.0.0.1:5051".parse().unwrap();
        let a2: UPID = "slave(2)@127.0.0.1:5051".parse().unwrap();
        let b: UPID = "slave(1)@127.0.0.2:5051".parse().unwrap();
        p.insert(a1.clone(), AgentID::new("1"));
        p.insert(a1.clone(), AgentID::new("1"));
        p.insert(a2.clone(), AgentID::new("2"));
        p.insert(b.clone(), AgentID::new("3"));
        assert_eq!(p.at(a1.addr()), 2);
        assert_eq!(p.at(b.addr()), 1);
        assert_eq!(p.remove(&a1), Some(AgentID::new("1")));
        assert_eq!(p.remove(&a1), None);
        assert_eq!(p.at(a1.addr()), 1);
        p.remove(&a2);
        assert_eq!(p.at(a1.addr()), 0);
        assert_eq!(p.get(&b), Some(&AgentID::new("3")));
    }
}
