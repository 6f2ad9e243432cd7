//! The registry: what must survive a master failover or restart (Mesos's `Registry`): the
//! admitted agents (with their deactivated state), unreachable agents with the time they became
//! so, gone agents, quotas, weights and the maintenance schedule.
//!
//! The [`Registrar`] applies [`Operation`]s and stores the whole registry after each batch: every
//! operation queued while a store is in flight goes into the next store (as Mesos's registrar
//! batches), so 40,000 agents registering at once make a handful of writes. A store that fails
//! is fatal to the master (Mesos aborts): its callers hear the error.
//!
//! Where it is stored ([`store::Store`]): nowhere (`--registry=in_memory`), a file under
//! `--work_dir` replaced atomically (`--registry=replicated_log` without `--zk`), or ZooKeeper
//! under the `--zk` path with fenced transactions (with `--zk`).

pub(crate) mod store;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use libprocess::{Counter, Gauge, Metrics, Timing};
use mesos_api::protocol::framework::AgentInfo;
use mesos_api::{AgentID, ResourceQuantities};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

pub(crate) use store::Store;

/// An admitted agent.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct AdmittedAgent {
    pub(crate) info: AgentInfo,
    #[serde(default)]
    pub(crate) deactivated: bool,
    /// Its draining (DRAIN_AGENT), if it drains.
    #[serde(default)]
    pub(crate) drain: Option<crate::state::DrainInfo>,
}

/// A role's quota: guarantees and limits as (name, value) pairs.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct QuotaRecord {
    pub(crate) guarantees: Vec<(String, f64)>,
    pub(crate) limits: Vec<(String, f64)>,
}

impl QuotaRecord {
    pub(crate) fn new(g: &ResourceQuantities, l: &ResourceQuantities) -> QuotaRecord {
        let pairs = |q: &ResourceQuantities| {
            q.iter()
                .map(|(n, v)| (n.to_string(), v.as_f64()))
                .collect::<Vec<_>>()
        };
        QuotaRecord {
            guarantees: pairs(g),
            limits: pairs(l),
        }
    }

    pub(crate) fn quantities(&self) -> (ResourceQuantities, ResourceQuantities) {
        let q = |p: &[(String, f64)]| {
            ResourceQuantities::from_pairs(p.iter().map(|(n, v)| (n.as_str(), *v)))
        };
        (q(&self.guarantees), q(&self.limits))
    }
}

/// The registry itself.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Registry {
    #[serde(default)]
    pub(crate) agents: BTreeMap<String, AdmittedAgent>,
    /// Unreachable agents and when they became so (seconds since the epoch).
    #[serde(default)]
    pub(crate) unreachable: BTreeMap<String, f64>,
    /// The drains of unreachable agents (applied again when they come back).
    #[serde(default)]
    pub(crate) unreachable_drains: BTreeMap<String, crate::state::DrainInfo>,
    /// Gone agents and when.
    #[serde(default)]
    pub(crate) gone: BTreeMap<String, f64>,
    #[serde(default)]
    pub(crate) quotas: BTreeMap<String, QuotaRecord>,
    #[serde(default)]
    pub(crate) weights: BTreeMap<String, f64>,
    /// The maintenance schedule and the machines brought down.
    #[serde(default)]
    pub(crate) maintenance: crate::maintenance::Maintenance,
}

/// A change to the registry (the ZooKeeper store logs batches of them, as JSON).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum Operation {
    /// A new agent registered.
    AdmitAgent(AgentInfo),
    /// An agent not admitted (unreachable, or unknown after a failover) reregistered.
    ReadmitAgent(AgentInfo),
    /// An agent stopped answering (or did not come back after a failover).
    MarkUnreachable(AgentID, f64),
    /// An operator marked the agent gone.
    MarkGone(AgentID, f64),
    /// DEACTIVATE_AGENT / REACTIVATE_AGENT.
    Deactivate(AgentID, bool),
    /// DRAIN_AGENT, an agent drained, or (None) reactivated.
    Drain(AgentID, Option<crate::state::DrainInfo>),
    /// A role's quota set (both empty: removed).
    Quota(String, QuotaRecord),
    /// Roles' weights set.
    Weights(Vec<(String, f64)>),
    /// An agent removed because its machine was brought down (it may register anew later).
    RemoveAgent(AgentID),
    /// The maintenance state after a change (schedule, machines down or up).
    Maintenance(crate::maintenance::Maintenance),
    /// Nothing: done once every operation queued before it is stored.
    Sync,
}

/// Garbage collection of the unreachable and gone lists (Mesos's `--registry_max_agent_age`
/// and `--registry_max_agent_count`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) max_agent_age: Duration,
    pub(crate) max_agent_count: usize,
}

fn prune(list: &mut BTreeMap<String, f64>, now: f64, limits: Limits) {
    let oldest = now - limits.max_agent_age.as_secs_f64();
    list.retain(|_, t| *t >= oldest);
    if list.len() > limits.max_agent_count {
        let mut by_time: Vec<(f64, String)> = list.iter().map(|(k, t)| (*t, k.clone())).collect();
        by_time.sort_by(|a, b| a.0.total_cmp(&b.0));
        let extra = list.len() - limits.max_agent_count;
        for (_, id) in by_time.into_iter().take(extra) {
            list.remove(&id);
        }
    }
}

impl Operation {
    fn apply(self, r: &mut Registry, limits: Limits) {
        match self {
            Operation::AdmitAgent(info) | Operation::ReadmitAgent(info) => {
                if let Some(id) = info.id.as_ref().map(|i| i.value.clone()) {
                    r.unreachable.remove(&id);
                    // A drain begun before it was unreachable (or while it was) goes on.
                    let drain = r.unreachable_drains.remove(&id);
                    r.agents.insert(
                        id,
                        AdmittedAgent {
                            info,
                            deactivated: drain.is_some(),
                            drain,
                        },
                    );
                }
            }
            Operation::MarkUnreachable(id, t) => {
                if let Some(a) = r.agents.remove(&id.value) {
                    if let Some(d) = a.drain {
                        r.unreachable_drains.insert(id.value.clone(), d);
                    }
                    r.unreachable.insert(id.value, t);
                    prune(&mut r.unreachable, t, limits);
                    let kept = &r.unreachable;
                    r.unreachable_drains.retain(|k, _| kept.contains_key(k));
                }
            }
            Operation::MarkGone(id, t) => {
                r.agents.remove(&id.value);
                r.unreachable.remove(&id.value);
                r.unreachable_drains.remove(&id.value);
                r.gone.insert(id.value, t);
                prune(&mut r.gone, t, limits);
            }
            Operation::Deactivate(id, off) => {
                if let Some(a) = r.agents.get_mut(&id.value) {
                    a.deactivated = off;
                    if !off {
                        a.drain = None;
                    }
                }
            }
            Operation::Drain(id, drain) => {
                if let Some(a) = r.agents.get_mut(&id.value) {
                    a.drain = drain;
                } else if r.unreachable.contains_key(&id.value) {
                    match drain {
                        Some(d) => r.unreachable_drains.insert(id.value, d),
                        None => r.unreachable_drains.remove(&id.value),
                    };
                }
            }
            Operation::Quota(role, q) => {
                if q.guarantees.is_empty() && q.limits.is_empty() {
                    r.quotas.remove(&role);
                } else {
                    r.quotas.insert(role, q);
                }
            }
            Operation::Weights(ws) => {
                for (role, w) in ws {
                    r.weights.insert(role, w);
                }
            }
            Operation::RemoveAgent(id) => {
                r.agents.remove(&id.value);
            }
            Operation::Maintenance(m) => r.maintenance = m,
            Operation::Sync => {}
        }
    }
}

/// Mesos's registrar metrics.
struct RegistrarMetrics {
    queued: Gauge,
    size: Gauge,
    fetch_ms: Gauge,
    store_ms: Timing,
    stores: Counter,
}

impl RegistrarMetrics {
    fn new(m: &Metrics) -> RegistrarMetrics {
        RegistrarMetrics {
            queued: m.gauge("registrar/queued_operations"),
            size: m.gauge("registrar/registry_size_bytes"),
            fetch_ms: m.gauge("registrar/state_fetch_ms"),
            // Statistics over a day, as Mesos's.
            store_ms: m.timing("registrar/state_store_ms", Duration::from_secs(24 * 3600)),
            stores: m.counter("registrar/state_stores"),
        }
    }
}

type Done = oneshot::Sender<Result<(), String>>;

/// Applies operations in batches and stores the registry after each batch.
#[derive(Clone)]
pub(crate) struct Registrar {
    tx: mpsc::UnboundedSender<(Operation, Done)>,
}

/// Reads the registry from `store` (bounded by `timeout`): its snapshot with the logged
/// batches after it applied, recording `registrar/state_fetch_ms` (read and decoded).
pub(crate) async fn recover(
    store: &mut Store,
    timeout: Duration,
    limits: Limits,
    metrics: &Metrics,
) -> Result<Registry, String> {
    let started = Instant::now();
    let stored = tokio::time::timeout(timeout, store.fetch())
        .await
        .map_err(|_| format!("fetching the registry took longer than {timeout:?}"))??;
    let m = RegistrarMetrics::new(metrics);
    let Some(stored) = stored else {
        m.fetch_ms.set(started.elapsed().as_secs_f64() * 1000.0);
        return Ok(Registry::default());
    };
    let mut r: Registry = if stored.snapshot.is_empty() {
        Registry::default()
    } else {
        serde_json::from_slice(&stored.snapshot)
            .map_err(|e| format!("the stored registry does not parse: {e}"))?
    };
    for (i, entry) in stored.log.iter().enumerate() {
        let ops: Vec<Operation> = serde_json::from_slice(entry)
            .map_err(|e| format!("entry {i} of the registry's log does not parse: {e}"))?;
        for op in ops {
            op.apply(&mut r, limits);
        }
    }
    m.fetch_ms.set(started.elapsed().as_secs_f64() * 1000.0);
    m.size
        .set((stored.snapshot.len() + stored.log.iter().map(Vec::len).sum::<usize>()) as f64);
    Ok(r)
}

/// Stores a batch: appended to the store's log when it keeps one with room, else the whole
/// registry as a new snapshot. Bounded by `timeout`; records `registrar/registry_size_bytes`.
async fn write(
    store: &mut Store,
    registry: &Registry,
    ops: &[Operation],
    m: &RegistrarMetrics,
    timeout: Duration,
) -> Result<(), String> {
    let entry = serde_json::to_vec(ops).map_err(|e| format!("cannot encode the batch: {e}"))?;
    let append = store.can_append(entry.len());
    let (size, bytes) = if append {
        (m.size.get() + entry.len() as f64, entry)
    } else {
        let b =
            serde_json::to_vec(registry).map_err(|e| format!("cannot encode the registry: {e}"))?;
        (b.len() as f64, b)
    };
    let w = async {
        if append {
            store.append(bytes).await
        } else {
            store.store(bytes).await
        }
    };
    match tokio::time::timeout(timeout, w).await {
        Ok(Ok(())) => {
            m.size.set(size);
            Ok(())
        }
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!("storing the registry took longer than {timeout:?}")),
    }
}

impl Registrar {
    /// Starts the registrar on a recovered registry.
    pub(crate) fn start(
        mut store: Store,
        mut registry: Registry,
        store_timeout: Duration,
        limits: Limits,
        metrics: &Metrics,
    ) -> Registrar {
        let (tx, mut rx) = mpsc::unbounded_channel::<(Operation, Done)>();
        let m = RegistrarMetrics::new(metrics);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                while let Ok(more) = rx.try_recv() {
                    batch.push(more);
                }
                m.queued.set(batch.len() as f64);
                if batch.iter().all(|(op, _)| matches!(op, Operation::Sync)) {
                    // Everything before is stored already.
                    for (_, d) in batch {
                        let _ = d.send(Ok(()));
                    }
                    continue;
                }
                // On a failed write the registrar stops for good (the master aborts), so the
                // batch applies in place.
                let mut ops = Vec::with_capacity(batch.len());
                let mut done = Vec::with_capacity(batch.len());
                for (op, d) in batch {
                    if !matches!(op, Operation::Sync) {
                        op.clone().apply(&mut registry, limits);
                        ops.push(op);
                    }
                    done.push(d);
                }
                let started = Instant::now();
                let result = write(&mut store, &registry, &ops, &m, store_timeout).await;
                m.store_ms.record(started.elapsed());
                m.stores.inc();
                m.queued.set(rx.len() as f64);
                match result {
                    Ok(()) => {
                        for d in done {
                            let _ = d.send(Ok(()));
                        }
                    }
                    Err(e) => {
                        let e = format!("Failed to update registry: {e}");
                        tracing::error!("{e}");
                        for d in done {
                            let _ = d.send(Err(e.clone()));
                        }
                        // Every later operation fails too (Mesos's registrar aborts).
                        while let Some((_, d)) = rx.recv().await {
                            let _ = d.send(Err(e.clone()));
                        }
                        return;
                    }
                }
            }
        });
        Registrar { tx }
    }

    /// Queues `op`; the receiver says when it is stored.
    pub(crate) fn apply(&self, op: Operation) -> oneshot::Receiver<Result<(), String>> {
        let (d, rx) = oneshot::channel();
        if let Err(e) = self.tx.send((op, d)) {
            let (_, d) = e.0;
            let _ = d.send(Err("the registrar stopped".into()));
        }
        rx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(n: u32) -> AgentInfo {
        AgentInfo {
            hostname: format!("h{n}"),
            port: 5051,
            resources: Default::default(),
            attributes: Default::default(),
            id: Some(AgentID::new(format!("S{n}"))),
            domain: None,
        }
    }

    const LIMITS: Limits = Limits {
        max_agent_age: Duration::from_secs(100),
        max_agent_count: 2,
    };

    #[test]
    fn operations_move_agents_between_lists_and_old_entries_are_pruned() {
        let mut r = Registry::default();
        for n in 0..4 {
            Operation::AdmitAgent(agent(n)).apply(&mut r, LIMITS);
        }
        Operation::MarkUnreachable(AgentID::new("S0"), 1000.0).apply(&mut r, LIMITS);
        Operation::MarkUnreachable(AgentID::new("S1"), 1001.0).apply(&mut r, LIMITS);
        Operation::MarkUnreachable(AgentID::new("S2"), 1002.0).apply(&mut r, LIMITS);
        // At most two kept: the oldest went.
        assert_eq!(
            r.unreachable.keys().map(String::as_str).collect::<Vec<_>>(),
            ["S1", "S2"]
        );
        Operation::ReadmitAgent(agent(1)).apply(&mut r, LIMITS);
        assert!(r.agents.contains_key("S1"));
        assert!(!r.unreachable.contains_key("S1"));
        Operation::MarkGone(AgentID::new("S3"), 1003.0).apply(&mut r, LIMITS);
        assert!(r.gone.contains_key("S3"));
        assert!(!r.agents.contains_key("S3"));
        // Too old: pruned when the next one is added.
        Operation::MarkGone(AgentID::new("S1"), 2000.0).apply(&mut r, LIMITS);
        assert_eq!(r.gone.len(), 1);
        Operation::Weights(vec![("a".into(), 2.0)]).apply(&mut r, LIMITS);
        let q = QuotaRecord::new(
            &ResourceQuantities::from_pairs([("cpus", 1.5)]),
            &ResourceQuantities::new(),
        );
        Operation::Quota("a".into(), q).apply(&mut r, LIMITS);
        let back: Registry = serde_json::from_slice(&serde_json::to_vec(&r).unwrap()).unwrap();
        assert_eq!(back.weights["a"], 2.0);
        assert_eq!(back.quotas["a"].quantities().0.get("cpus").as_f64(), 1.5);
        Operation::Quota("a".into(), QuotaRecord::default()).apply(&mut r, LIMITS);
        assert!(r.quotas.is_empty());
    }

    /// The ZooKeeper store under a storm of admissions: batches go to the log, snapshots come
    /// when it outgrows them, a new reader recovers every agent, and once the writer's
    /// candidacy znode is gone it cannot write (fencing).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_zookeeper_store_logs_batches_snapshots_and_recovers_them() {
        if !testkit::ZooKeeper::available("the_zookeeper_store_logs_batches") {
            return;
        }
        let server = testkit::ZooKeeper::start();
        let url = mesos_detector::ZkUrl::parse(&server.url("/mesos")).unwrap();
        let session = Duration::from_secs(10);
        let client = mesos_detector::zk::connect(&url, session).await.unwrap();
        let acls = mesos_detector::zk::acls(&url);
        let mode = mesos_detector::zookeeper_client::CreateMode::Persistent.with_acls(acls);
        client.create("/mesos", b"", &mode).await.unwrap();
        let ephemeral = mesos_detector::zookeeper_client::CreateMode::Ephemeral.with_acls(acls);
        let fence = "/mesos/json.info_0000000000";
        client.create(fence, b"{}", &ephemeral).await.unwrap();
        let mut store = Store::ZooKeeper(Box::new(store::ZkStore::new(
            client.clone(),
            "/mesos",
            fence.into(),
            acls,
        )));
        let metrics = Metrics::new();
        let limits = Limits {
            max_agent_age: Duration::from_secs(3600),
            max_agent_count: 100,
        };
        // As a new leader does: recover first (nothing stored yet).
        let empty = recover(&mut store, Duration::from_secs(20), limits, &metrics)
            .await
            .unwrap();
        assert!(empty.agents.is_empty());
        let r = Registrar::start(store, empty, Duration::from_secs(20), limits, &metrics);
        // 6,000 admissions at once, then 30 waves of 300 (each waits for the one before).
        let mut waits: Vec<_> = (0..6000)
            .map(|n| r.apply(Operation::AdmitAgent(agent(n))))
            .collect();
        for wave in 0..30 {
            for w in waves(&mut waits) {
                w.await.unwrap().unwrap();
            }
            waits = (0..300)
                .map(|n| r.apply(Operation::AdmitAgent(agent(6000 + wave * 300 + n))))
                .collect();
        }
        for w in waits {
            w.await.unwrap().unwrap();
        }
        r.apply(Operation::MarkGone(AgentID::new("S7"), 1.0))
            .await
            .unwrap()
            .unwrap();
        let stores = metrics.value("registrar/state_stores").unwrap();
        let (head, _) = client.get_data("/mesos/registry").await.unwrap();
        let head: serde_json::Value = serde_json::from_slice(&head).unwrap();
        let chunks = client.list_children("/mesos/registry").await.unwrap();
        // Far fewer snapshots than stores: most batches were appended.
        let snapshots = head["generation"].as_u64().unwrap();
        assert!(
            snapshots >= 2 && (snapshots as f64) < stores / 3.0,
            "{snapshots} snapshots in {stores} stores ({head})"
        );
        assert!(head["log"].as_u64().unwrap() > 0, "{head}");
        assert!(
            chunks
                .iter()
                .all(|c| c.starts_with(&format!("g{snapshots}-"))),
            "old generations are deleted: {chunks:?}"
        );
        // A new master reads it all back: the snapshot with the log applied.
        let fence2 = "/mesos/json.info_0000000001";
        client.create(fence2, b"{}", &ephemeral).await.unwrap();
        let mut reader = Store::ZooKeeper(Box::new(store::ZkStore::new(
            client.clone(),
            "/mesos",
            fence2.into(),
            acls,
        )));
        let back = read(&mut reader, limits).await;
        assert_eq!(back.agents.len(), 14_999);
        assert!(back.agents.contains_key("S14999") && !back.agents.contains_key("S7"));
        assert!(back.gone.contains_key("S7"));
        // The first writer lost its candidacy: it cannot write any more.
        client.delete(fence, None).await.unwrap();
        let e = r
            .apply(Operation::AdmitAgent(agent(20_000)))
            .await
            .unwrap()
            .unwrap_err();
        assert!(e.contains("fenced by"), "{e}");
        let after = read(&mut reader, limits).await;
        assert!(!after.agents.contains_key("S20000"));
    }

    async fn read(store: &mut Store, limits: Limits) -> Registry {
        recover(store, Duration::from_secs(20), limits, &Metrics::new())
            .await
            .unwrap()
    }

    fn waves<T>(v: &mut Vec<T>) -> Vec<T> {
        std::mem::take(v)
    }
}
