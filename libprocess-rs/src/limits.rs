//! What peers may make a node hold: connections (in all and per IP address), time to finish a
//! request body or frame once started, and memory for bodies and frames in flight (one budget
//! shared by every connection, so many large or stalled requests wait for each other instead of
//! growing the node's memory without bound).

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::metrics::{Counter, Metrics};

/// Bodies and frames up to this size need no share of the budget (the common case: a
/// connection's read buffer holds them anyway).
pub(crate) const SMALL: usize = 64 << 10;

pub(crate) struct Limits {
    /// The largest HTTP request body (larger gets 413).
    pub(crate) max_body: usize,
    /// How long a body or frame may take to arrive once started.
    pub(crate) read_timeout: Duration,
    /// Memory in flight, in KiB.
    budget: Arc<Semaphore>,
    budget_kib: usize,
    max_connections: usize,
    max_per_ip: usize,
    total: AtomicUsize,
    per_ip: DashMap<IpAddr, usize>,
    /// HTTP bodies refused: too large (413), too slow (408), no memory in time (503).
    pub(crate) bodies_too_large: Counter,
    pub(crate) bodies_timed_out: Counter,
    pub(crate) bodies_over_budget: Counter,
}

/// An admitted connection; counted until dropped.
pub(crate) struct Admitted {
    limits: Arc<Limits>,
    ip: IpAddr,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.limits.total.fetch_sub(1, Ordering::Relaxed);
        if let dashmap::mapref::entry::Entry::Occupied(mut e) = self.limits.per_ip.entry(self.ip) {
            *e.get_mut() -= 1;
            if *e.get() == 0 {
                e.remove();
            }
        }
    }
}

impl Limits {
    pub(crate) fn new(
        max_body: usize,
        read_timeout: Duration,
        budget_bytes: usize,
        max_connections: usize,
        max_per_ip: usize,
        metrics: &Metrics,
    ) -> Arc<Limits> {
        let c = |n: &str| metrics.counter(&format!("libprocess/http/{n}"));
        let budget_kib = budget_bytes.div_ceil(1024).clamp(1, Semaphore::MAX_PERMITS);
        Arc::new(Limits {
            max_body,
            read_timeout,
            budget: Arc::new(Semaphore::new(budget_kib)),
            budget_kib,
            max_connections,
            max_per_ip,
            total: AtomicUsize::new(0),
            per_ip: DashMap::new(),
            bodies_too_large: c("bodies_too_large"),
            bodies_timed_out: c("bodies_timed_out"),
            bodies_over_budget: c("bodies_over_budget"),
        })
    }

    /// Admits a new connection from `ip`, unless that would pass either cap. A connection
    /// from the node's own address (`local`: an agent's executors) is capped only in all, not
    /// per address.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr, local: bool) -> Option<Admitted> {
        if self.total.fetch_add(1, Ordering::Relaxed) >= self.max_connections {
            self.total.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        let mut n = self.per_ip.entry(ip).or_insert(0);
        if *n >= self.max_per_ip && !local {
            drop(n);
            self.total.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        *n += 1;
        drop(n);
        Some(Admitted {
            limits: self.clone(),
            ip,
        })
    }

    /// Memory for `bytes` in flight, waiting up to the read timeout for others to finish (so a
    /// reader waits instead of reading on). `None`: it did not come in time, or `bytes` is more
    /// than the whole budget.
    pub(crate) async fn reserve(&self, bytes: usize) -> Option<OwnedSemaphorePermit> {
        let kib = bytes.div_ceil(1024);
        if kib > self.budget_kib {
            return None;
        }
        let n = u32::try_from(kib).ok()?;
        tokio::time::timeout(self.read_timeout, self.budget.clone().acquire_many_owned(n))
            .await
            .ok()?
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_capped_in_all_and_per_ip() {
        let l = Limits::new(1024, Duration::from_secs(1), 1 << 20, 3, 2, &Metrics::new());
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let a1 = l.admit(a, false).unwrap();
        let _a2 = l.admit(a, false).unwrap();
        assert!(l.admit(a, false).is_none(), "a third from one IP");
        let _b1 = l.admit(b, false).unwrap();
        assert!(l.admit(b, false).is_none(), "a fourth in all");
        drop(a1);
        assert!(l.admit(b, false).is_some(), "room again once one closed");
    }

    #[test]
    fn this_hosts_own_connections_are_capped_only_in_all() {
        let l = Limits::new(1024, Duration::from_secs(1), 1 << 20, 3, 1, &Metrics::new());
        let own: IpAddr = "127.0.0.1".parse().unwrap();
        let held: Vec<_> = (0..3).map(|_| l.admit(own, true).unwrap()).collect();
        assert!(l.admit(own, true).is_none(), "a fourth in all");
        drop(held);
        let _remote = l.admit("10.0.0.1".parse().unwrap(), false).unwrap();
    }

    #[tokio::test]
    async fn the_budget_makes_readers_wait_and_refuses_what_never_fits() {
        let l = Limits::new(
            1024,
            Duration::from_millis(100),
            1 << 20,
            10,
            10,
            &Metrics::new(),
        );
        let big = l.reserve(800 << 10).await.unwrap();
        // Not enough left: waits the read timeout, then gives up.
        assert!(l.reserve(400 << 10).await.is_none());
        drop(big);
        assert!(l.reserve(400 << 10).await.is_some());
        assert!(
            l.reserve(2 << 20).await.is_none(),
            "more than the whole budget"
        );
    }
}
