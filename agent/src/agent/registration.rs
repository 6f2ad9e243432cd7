//! Registering with the master: RegisterAgent for a new agent, ReregisterAgent (with every
//! framework, executor and task) for one that has an id, retried with backoff until the master
//! answers.

use std::time::Duration;

use libprocess::{Context, RemoteConnection, UPID};
use mesos_api::messages::{RegisterAgent, ReregisterAgent, WireMessage};
use mesos_api::{AgentID, MESOS_VERSION};

use mesos_detector::Leader;

use super::Agent;

/// The longest registration retry interval (Mesos: 1 min).
const MAX_REGISTRATION_BACKOFF: Duration = Duration::from_secs(60);

/// The capabilities this agent registers with.
fn capabilities() -> Vec<String> {
    vec!["MULTI_ROLE".into(), "TASK_KILLING_STATE".into()]
}

impl Agent {
    pub(super) fn try_register(&mut self, ctx: &mut Context<Self>) {
        if self.registered {
            return;
        }
        let Some(master) = self.master.clone() else {
            return;
        };
        ctx.link_with(&master, RemoteConnection::Reconnect);
        match &self.info.id {
            None => ctx.send_named(
                &master,
                RegisterAgent::NAME,
                RegisterAgent {
                    agent: self.info.clone(),
                    version: MESOS_VERSION.into(),
                    capabilities: capabilities(),
                    checkpointed_resources: Default::default(),
                },
            ),
            Some(_) => {
                let mut tasks = Vec::new();
                let mut executor_infos = Vec::new();
                let mut frameworks = Vec::new();
                for f in self.frameworks.values() {
                    frameworks.push(f.info.clone());
                    for e in f.executors.values() {
                        executor_infos.push(e.info.clone());
                        tasks.extend(e.tasks.values().cloned());
                    }
                }
                ctx.send_named(
                    &master,
                    ReregisterAgent::NAME,
                    ReregisterAgent {
                        agent: self.info.clone(),
                        version: MESOS_VERSION.into(),
                        capabilities: capabilities(),
                        checkpointed_resources: self.checkpointed.clone(),
                        executor_infos,
                        tasks,
                        frameworks,
                    },
                )
            }
        }
        let d = self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_REGISTRATION_BACKOFF);
        let gen = self.registration_gen;
        ctx.delay(d, move |a: &mut Agent, c| {
            if a.registration_gen == gen {
                a.try_register(c)
            }
        });
    }

    /// With `--master=zk://...`: follows the leading master, registering anew with each one.
    pub(super) fn start_detection(&mut self, ctx: &mut Context<Self>) {
        let Some(url) = self.detector.clone() else {
            return;
        };
        let me = ctx.pid().clone();
        mesos_detector::zk::follow_each(url, self.flags.zk_session_timeout, move |l| {
            let me = me.clone();
            async move {
                me.dispatch(move |a: &mut Agent, c| a.master_detected(c, l))
                    .await
                    .is_ok()
            }
        });
    }

    fn master_detected(&mut self, ctx: &mut Context<Self>, leader: Option<Leader>) {
        let upid = leader.map(|l| l.upid);
        if upid == self.master {
            return;
        }
        match &upid {
            Some(m) => tracing::info!(master = %m, "new master detected"),
            None => tracing::warn!("lost the leading master; waiting for a new one"),
        }
        self.master = upid;
        self.registered = false;
        self.registration_gen += 1;
        self.backoff = self.flags.registration_backoff_factor;
        self.try_register(ctx);
    }

    pub(super) fn on_registered(&mut self, ctx: &mut Context<Self>, from: UPID, id: AgentID) {
        if Some(&from) != self.master.as_ref() {
            return;
        }
        if self.info.id.as_ref().is_some_and(|old| old != &id) {
            tracing::warn!(old = ?self.info.id, new = %id, "master gave a new agent id");
        }
        tracing::info!(agent = %id, "registered with the master");
        self.info.id = Some(id);
        self.registered = true;
        self.checkpoint_agent();
        self.backoff = self.flags.registration_backoff_factor;
        for u in self.updates.heads() {
            self.forward(ctx, u);
        }
    }
}
