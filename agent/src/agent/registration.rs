//! Registering with the master: RegisterAgent for a new agent, ReregisterAgent (with every
//! framework, executor and task) for one that has an id, retried with backoff until the master
//! answers. With `--credential` each attempt first authenticates (CRAM-MD5): an attempt that
//! times out is retried after a random backoff (`--authentication_backoff_factor`, timeouts
//! from `--authentication_timeout_min` doubling to `--authentication_timeout_max`); a refusal
//! ends the agent, as in Mesos.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use libprocess::{Context, RemoteConnection, UPID};
use mesos_api::auth::{cram_md5_response, CRAM_MD5};
use mesos_api::messages::{
    Authenticate, AuthenticationCompleted, AuthenticationFailed, AuthenticationStep, RegisterAgent,
    ReregisterAgent, WireMessage,
};
use mesos_api::{AgentID, MESOS_VERSION};

use mesos_detector::Leader;

use super::Agent;
use crate::paths;

/// The longest registration retry interval (Mesos: 1 min).
const MAX_REGISTRATION_BACKOFF: Duration = Duration::from_secs(60);

/// The capabilities this agent registers with.
fn capabilities() -> Vec<String> {
    vec!["MULTI_ROLE".into(), "TASK_KILLING_STATE".into()]
}

/// Where authentication with the current master stands.
#[derive(Debug, Default)]
pub(super) struct AuthState {
    /// Authenticated for the registration attempt under way.
    pub(super) done: bool,
    /// An attempt is under way (its generation).
    pending: Option<u64>,
    generation: u64,
    /// Attempts that timed out in a row.
    failures: u32,
}

/// A random duration in [0, max].
fn jitter(max: Duration) -> Duration {
    let r = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    max.mul_f64((r % 10_000) as f64 / 10_000.0)
}

impl Agent {
    pub(super) fn install_authentication(ctx: &mut Context<Self>) {
        ctx.install_named(
            AuthenticationStep::NAME,
            |a: &mut Agent, c, from, m: AuthenticationStep| a.auth_challenge(c, from, m),
        );
        ctx.install_named(
            AuthenticationCompleted::NAME,
            |a: &mut Agent, c, from, _: AuthenticationCompleted| a.auth_completed(c, from),
        );
        ctx.install_named(
            AuthenticationFailed::NAME,
            |a: &mut Agent, c, from, m: AuthenticationFailed| a.auth_refused(c, from, m.error),
        );
    }

    /// Starts an authentication attempt (once none is under way), timed out after the current
    /// timeout and then retried after a random backoff.
    fn authenticate(&mut self, ctx: &mut Context<Self>) {
        let Some(master) = self.master.clone() else {
            return;
        };
        if self.auth.pending.is_some() || self.shut_down.is_some() {
            return;
        }
        self.auth.generation += 1;
        let gen = self.auth.generation;
        self.auth.pending = Some(gen);
        ctx.link_with(&master, RemoteConnection::Reconnect);
        ctx.send_named(
            &master,
            Authenticate::NAME,
            Authenticate {
                mechanism: CRAM_MD5.into(),
            },
        );
        let f = &self.flags;
        let timeout = f
            .authentication_timeout_min
            .saturating_mul(1 << self.auth.failures.min(16))
            .min(f.authentication_timeout_max);
        ctx.delay(timeout, move |a: &mut Agent, c| {
            if a.auth.pending != Some(gen) {
                return;
            }
            a.auth.pending = None;
            a.auth.failures += 1;
            let wait = jitter(
                a.flags
                    .authentication_backoff_factor
                    .saturating_mul(1 << a.auth.failures.min(16)),
            );
            tracing::warn!(
                "authentication with the master timed out after {timeout:?}; retrying in {wait:?}"
            );
            c.delay(wait, |a: &mut Agent, c| a.try_register(c));
        });
    }

    fn auth_challenge(&mut self, ctx: &mut Context<Self>, from: UPID, m: AuthenticationStep) {
        let (Some(c), true) = (
            self.flags.credential_entry.as_ref(),
            self.auth.pending.is_some() && Some(&from) == self.master.as_ref(),
        ) else {
            return;
        };
        let data = cram_md5_response(&c.principal, &c.secret, &m.data);
        ctx.send_named(&from, AuthenticationStep::NAME, AuthenticationStep { data });
    }

    fn auth_completed(&mut self, ctx: &mut Context<Self>, from: UPID) {
        if self.auth.pending.is_none() || Some(&from) != self.master.as_ref() {
            return;
        }
        tracing::info!("authenticated with the master");
        self.auth.pending = None;
        self.auth.failures = 0;
        self.auth.done = true;
        self.try_register(ctx);
    }

    /// The master refused the credential: nothing to retry with, so the agent ends (Mesos's
    /// agent exits too).
    fn auth_refused(&mut self, ctx: &mut Context<Self>, from: UPID, why: String) {
        if self.auth.pending.is_none() || Some(&from) != self.master.as_ref() {
            return;
        }
        let why = format!("Master refused authentication: {why}");
        tracing::error!("{why}; exiting");
        *self.stopped.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(super::Stopped::Refused(why.clone()));
        self.shut_down = Some(why);
        ctx.terminate_self();
    }

    pub(super) fn try_register(&mut self, ctx: &mut Context<Self>) {
        if self.registered || self.shut_down.is_some() {
            return;
        }
        let Some(master) = self.master.clone() else {
            return;
        };
        if self.flags.credential_entry.is_some() && !self.auth.done {
            // Registration follows once authenticated.
            self.authenticate(ctx);
            return;
        }
        if self.flags.credential_entry.is_none() {
            ctx.link_with(&master, RemoteConnection::Reconnect);
        }
        match &self.info.id {
            None => ctx.send_named(
                &master,
                RegisterAgent::NAME,
                RegisterAgent {
                    agent: self.info.clone(),
                    version: MESOS_VERSION.into(),
                    capabilities: capabilities(),
                    checkpointed_resources: self.checkpointed.clone(),
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
                // An unanswered attempt: the next one authenticates anew (the master forgets
                // an authentication with its connection).
                a.auth.done = false;
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
        self.auth = AuthState::default();
        self.registered = false;
        self.auth.done = false;
        self.registration_gen += 1;
        self.backoff = self.flags.registration_backoff_factor;
        self.try_register(ctx);
    }

    pub(super) fn on_registered(
        &mut self,
        ctx: &mut Context<Self>,
        from: UPID,
        id: AgentID,
        total_ping_timeout_secs: f64,
    ) {
        if Some(&from) != self.master.as_ref() || self.shut_down.is_some() {
            return;
        }
        if total_ping_timeout_secs.is_finite() && total_ping_timeout_secs > 0.0 {
            self.ping_timeout = Some(Duration::from_secs_f64(total_ping_timeout_secs));
            self.pinged(ctx);
        }
        if self.info.id.as_ref().is_some_and(|old| old != &id) {
            tracing::warn!(old = ?self.info.id, new = %id, "master gave a new agent id");
        }
        if self.registered {
            // The answer to a retry (queued while the master was unreachable): the pending
            // updates already went at the first answer; sending them again would duplicate
            // them.
            return;
        }
        tracing::info!(agent = %id, "registered with the master");
        self.info.id = Some(id);
        self.registered = true;
        self.metrics_changed(ctx);
        self.checkpoint_agent();
        self.backoff = self.flags.registration_backoff_factor;
        for u in self.updates.heads() {
            self.forward(ctx, u);
        }
    }
}

impl Agent {
    /// A ping from the master (or a registration): the master is alive. If no other ping
    /// follows within the total ping timeout, the master has most likely removed this agent
    /// (a partition, or this agent was stopped): it reconnects and reregisters, as a Mesos
    /// agent re-detects its master.
    pub(super) fn pinged(&mut self, ctx: &mut Context<Self>) {
        self.ping_gen += 1;
        let Some(timeout) = self.ping_timeout else {
            return;
        };
        let gen = self.ping_gen;
        ctx.delay(timeout, move |a: &mut Agent, c| {
            if a.ping_gen != gen || !a.registered || a.shut_down.is_some() {
                return;
            }
            tracing::warn!(
                master = ?a.master.as_ref().map(|m| m.to_string()),
                "no ping from the master for {timeout:?}: it has probably marked this agent unreachable; reconnecting and reregistering"
            );
            a.registered = false;
            a.auth.done = false;
            a.registration_gen += 1;
            a.backoff = a.flags.registration_backoff_factor;
            a.try_register(c);
        });
    }

    /// The master told this agent to shut down (it was marked gone, or it is gone and tried to
    /// come back): every executor and nested container is killed, the agent forgets its id
    /// (`meta/slaves/latest`), so a restart on this work dir registers as a new agent, and the
    /// agent process ends.
    pub(super) fn shutdown_by_master(&mut self, ctx: &mut Context<Self>, from: UPID, why: String) {
        if Some(&from) != self.master.as_ref() {
            tracing::warn!(%from, "ignoring a shutdown from a process that is not the master");
            return;
        }
        tracing::error!(
            "the master asked this agent to shut down: {why}; killing every executor and exiting"
        );
        *self.stopped.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(super::Stopped::ShutDown(why.clone()));
        self.shut_down = Some(why);
        self.registered = false;
        let latest = paths::latest_agent_path(&self.flags.work_dir);
        if let Err(e) = std::fs::remove_file(&latest) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!("cannot remove {}: {e}", latest.display());
            }
        }
        ctx.terminate_self();
    }
}
