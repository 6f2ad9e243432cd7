//! The registry in the master: recovering it when elected (gone and unreachable agents,
//! quotas and weights back before the first offer; the admitted agents get
//! `--agent_reregister_timeout` to come back), and recording every change in it.

use std::time::Duration;

use libprocess::{Context, HttpResponse, Reply, PID};
use mesos_allocator::AllocatorProcess;
use mesos_api::AgentID;
use mesos_detector::ZkUrl;

use super::{now_secs, Master};
use crate::flags::parse_percent;
use crate::registry::{self, Limits, Operation, Registrar, Registry, Store};

impl Master {
    /// The store `--registry` and `--zk` call for (None: cannot build it yet).
    fn registry_store(&self) -> Result<Store, String> {
        if self.flags.registry == "in_memory" {
            return Ok(Store::InMemory);
        }
        match &self.flags.zk {
            Some(zk) => {
                let url = ZkUrl::parse(zk).map_err(|e| e.to_string())?;
                let (client, node) = self
                    .leadership
                    .candidacy
                    .clone()
                    .ok_or("elected without a ZooKeeper candidacy")?;
                Ok(Store::ZooKeeper(Box::new(registry::store::ZkStore::new(
                    client,
                    &url.path,
                    node,
                    mesos_detector::zk::acls(&url),
                ))))
            }
            None => {
                let dir = self
                    .flags
                    .work_dir
                    .clone()
                    .ok_or("--work_dir needed for replicated log based registry")?;
                Ok(Store::File(dir.join("registry.json")))
            }
        }
    }

    fn registry_limits(&self) -> Limits {
        Limits {
            max_agent_age: self.flags.registry_max_agent_age,
            max_agent_count: self.flags.registry_max_agent_count,
        }
    }

    /// Reads the registry (in a task) and resumes in [`Master::registry_recovered`].
    pub(super) fn recover_registry(&mut self, ctx: &mut Context<Self>) {
        let mut store = match self.registry_store() {
            Ok(s) => s,
            Err(e) => return self.abdicate(ctx, &format!("Recovery failed: {e}")),
        };
        if matches!(store, Store::InMemory) {
            // Nothing to read: recovered at once (and nothing will be written).
            return self.registry_recovered(ctx, store, Ok(Registry::default()));
        }
        let timeout = self.flags.registry_fetch_timeout;
        let limits = self.registry_limits();
        let metrics = ctx.runtime().metrics().clone();
        let me = ctx.pid().clone();
        tokio::spawn(async move {
            let r = registry::recover(&mut store, timeout, limits, &metrics).await;
            me.dispatch_nowait(move |m: &mut Master, c| m.registry_recovered(c, store, r));
        });
    }

    fn registry_recovered(
        &mut self,
        ctx: &mut Context<Self>,
        store: Store,
        r: Result<Registry, String>,
    ) {
        if !self.leadership.elected {
            return;
        }
        let reg = match r {
            Ok(r) => r,
            Err(e) => return self.abdicate(ctx, &format!("Recovery failed: {e}")),
        };
        tracing::info!(
            agents = reg.agents.len(),
            unreachable = reg.unreachable.len(),
            gone = reg.gone.len(),
            "recovered the registry"
        );
        self.gone
            .extend(reg.gone.keys().map(|k| AgentID::new(k.clone())));
        self.unreachable
            .extend(reg.unreachable.keys().map(|k| AgentID::new(k.clone())));
        self.unreachable_drains.extend(
            reg.unreachable_drains
                .iter()
                .map(|(k, d)| (AgentID::new(k.clone()), d.clone())),
        );
        if !reg.weights.is_empty() {
            let parsed: Vec<(String, f64)> =
                reg.weights.iter().map(|(r, w)| (r.clone(), *w)).collect();
            self.weights.extend(parsed.iter().cloned());
            self.allocator()
                .dispatch_nowait(move |p: &mut AllocatorProcess, _| {
                    p.allocator_mut().update_weights(&parsed)
                });
        }
        self.maintenance = reg.maintenance.clone();
        for (role, q) in &reg.quotas {
            let (g, l) = q.quantities();
            self.set_quota(role, g, l);
        }
        self.recovered_agents = reg
            .agents
            .iter()
            .map(|(k, a)| (AgentID::new(k.clone()), a.clone()))
            .collect();
        let expected = self.recovered_agents.len();
        let limits = self.registry_limits();
        // In memory there is nothing to store: changes apply at once, as before the registry.
        self.registrar = (!matches!(store, Store::InMemory)).then(|| {
            Registrar::start(
                store,
                reg,
                self.flags.registry_store_timeout,
                limits,
                ctx.runtime().metrics(),
            )
        });
        self.leadership.recovered = true;
        if expected > 0 {
            let d = self.flags.agent_reregister_timeout;
            ctx.delay(d, move |m: &mut Master, c| {
                m.recovered_agents_timeout(c, expected, d)
            });
        }
        self.run_deferred(ctx);
    }

    /// Agents of the registry that did not come back in time become unreachable (unless more
    /// than `--recovery_agent_removal_limit` of them are missing: then the master aborts, as
    /// Mesos's does, rather than mark a healthy cluster unreachable).
    fn recovered_agents_timeout(&mut self, ctx: &mut Context<Self>, expected: usize, d: Duration) {
        let missing = self.recovered_agents.len();
        if missing == 0 {
            return;
        }
        let limit = parse_percent(&self.flags.recovery_agent_removal_limit).unwrap_or(1.0);
        if missing as f64 / expected as f64 > limit {
            return self.abdicate(
                ctx,
                &format!(
                    "Post-recovery agent removal limit exceeded! Limit: {}, {missing} of {expected} agents did not reregister",
                    self.flags.recovery_agent_removal_limit
                ),
            );
        }
        let now = now_secs();
        let missing: Vec<(AgentID, Option<crate::state::DrainInfo>)> = self
            .recovered_agents
            .drain()
            .map(|(k, a)| (k, a.drain))
            .collect();
        for (id, drain) in missing {
            if let Some(d) = drain {
                self.unreachable_drains.insert(id.clone(), d);
            }
            tracing::warn!(agent = %id, "did not reregister within {d:?} after master failover: unreachable");
            self.unreachable.insert(id.clone());
            if let Some(m) = &self.metrics {
                m.recovery_slave_removals.inc();
            }
            self.registry_note(Operation::MarkUnreachable(id, now));
        }
        self.metrics_changed(ctx);
    }

    /// Stores `op`, then runs `then` (the registry write comes first, as in Mesos). A failed
    /// write stops the master.
    pub(super) fn registry_then(
        &mut self,
        ctx: &mut Context<Self>,
        op: Operation,
        then: impl FnOnce(&mut Master, &mut Context<Master>) + Send + 'static,
    ) {
        let Some(r) = &self.registrar else {
            return then(self, ctx);
        };
        after_stored(ctx.pid().clone(), r.apply(op), then);
    }

    /// Records `op` in the registry without waiting for it (a failed write still stops the
    /// master).
    pub(super) fn registry_note(&self, op: Operation) {
        if let (Some(r), Some(me)) = (&self.registrar, &self.self_pid) {
            after_stored(me.clone(), r.apply(op), |_, _| {});
        }
    }

    /// Answers `r` (when it is a success) once every registry change queued so far is stored:
    /// an operator reads a 200 as durable.
    pub(super) fn when_stored(&self, r: Reply) -> Reply {
        let Some(reg) = &self.registrar else {
            return r;
        };
        let Reply::Now(resp) = r else {
            return r;
        };
        if !resp.status.is_success() {
            return Reply::Now(resp);
        }
        let done = reg.apply(Operation::Sync);
        Reply::Later(Box::pin(async move {
            match done.await {
                Ok(Ok(())) => resp,
                Ok(Err(e)) => HttpResponse::text(503, &e),
                Err(_) => HttpResponse::text(503, "the registrar stopped"),
            }
        }))
    }
}

/// Runs `then` in the master once `done` says the write is stored; a failed write stops it.
fn after_stored(
    me: PID<Master>,
    done: tokio::sync::oneshot::Receiver<Result<(), String>>,
    then: impl FnOnce(&mut Master, &mut Context<Master>) + Send + 'static,
) {
    tokio::spawn(async move {
        let res = done
            .await
            .unwrap_or_else(|_| Err("the registrar stopped".into()));
        me.dispatch_nowait(move |m: &mut Master, c| match res {
            Ok(()) => then(m, c),
            Err(e) => m.abdicate(c, &e),
        });
    });
}
