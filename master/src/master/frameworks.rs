//! Frameworks: calls, subscription and failover, teardown, kill, reconciliation.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use libprocess::{Context, UPID};
use mesos_allocator::{AllocatorProcess, FrameworkSpec};
use mesos_api::messages::{ShutdownExecutor, ShutdownFramework};
use mesos_api::protocol::scheduler::{Call, CallType, Event, EventType, Subscribe, Subscribed};
use mesos_api::{AgentID, FrameworkID, OfferID};

use super::*;
use crate::state::FrameworkRec;

impl Master {
    pub(super) fn call(&mut self, ctx: &mut Context<Self>, from: UPID, call: Call) {
        let kind = call.kind.unwrap_or(CallType::Unknown);
        if kind == CallType::Subscribe {
            if let Some(m) = &self.metrics {
                m.messages_register_framework.inc();
            }
            match call.subscribe {
                Some(s) => self.subscribe(ctx, from, call.framework_id, s),
                None => ctx.send_named(
                    &from,
                    Event::NAME,
                    Event::error("SUBSCRIBE without 'subscribe'"),
                ),
            }
            return;
        }
        let Some(fid) = call.framework_id.clone() else {
            ctx.send_named(
                &from,
                Event::NAME,
                Event::error("call without 'framework_id'"),
            );
            return;
        };
        match self.frameworks.get(&fid) {
            None => {
                ctx.send_named(
                    &from,
                    Event::NAME,
                    Event::error(format!("framework '{fid}' is not subscribed")),
                );
                return;
            }
            Some(f) if f.pid.as_ref() != Some(&from) || !f.connected => {
                ctx.send_named(
                    &from,
                    Event::NAME,
                    Event::error(format!("framework '{fid}' is not connected from {from}")),
                );
                return;
            }
            Some(_) => {}
        }
        if let Some(m) = &self.metrics {
            match kind {
                CallType::Accept => m.messages_launch_tasks.inc(),
                CallType::Decline => m.messages_decline_offers.inc(),
                CallType::Kill => m.messages_kill_task.inc(),
                CallType::Acknowledge => m.messages_status_update_acknowledgement.inc(),
                CallType::Reconcile => m.messages_reconcile_tasks.inc(),
                CallType::Revive => m.messages_revive_offers.inc(),
                CallType::Suppress => m.messages_suppress_offers.inc(),
                CallType::Teardown => m.messages_unregister_framework.inc(),
                _ => {}
            }
        }
        match kind {
            CallType::Teardown => self.remove_framework(ctx, &fid),
            CallType::Shutdown => match call.shutdown {
                Some(s) => match self.agents.get(&s.agent_id) {
                    Some(a) => Self::send(
                        ctx,
                        &a.pid,
                        ShutdownExecutor {
                            framework_id: fid.clone(),
                            executor_id: s.executor_id,
                        },
                    ),
                    None => self.send_event(
                        ctx,
                        &fid,
                        Event::error(format!(
                            "SHUTDOWN: agent '{}' is not registered",
                            s.agent_id
                        )),
                    ),
                },
                None => self.send_event(ctx, &fid, Event::error("SHUTDOWN without 'shutdown'")),
            },
            CallType::Accept => match call.accept {
                Some(a) => self.accept(ctx, &fid, a),
                None => self.send_event(ctx, &fid, Event::error("ACCEPT without 'accept'")),
            },
            CallType::Decline => match call.decline {
                Some(d) => self.decline(ctx, &fid, d),
                None => self.send_event(ctx, &fid, Event::error("DECLINE without 'decline'")),
            },
            CallType::Revive => {
                let roles = call.revive.map(|r| r.roles).unwrap_or_default();
                let f = fid.clone();
                self.allocator()
                    .dispatch_nowait(move |p: &mut AllocatorProcess, c| {
                        p.revive_offers(c, f, &roles)
                    });
            }
            CallType::Suppress => {
                let roles = call.suppress.map(|r| r.roles).unwrap_or_default();
                let f = fid.clone();
                self.allocator()
                    .dispatch_nowait(move |p: &mut AllocatorProcess, _| {
                        p.allocator_mut().suppress_offers(&f, &roles)
                    });
            }
            CallType::Kill => match call.kill {
                Some(k) => self.kill(ctx, &fid, k),
                None => self.send_event(ctx, &fid, Event::error("KILL without 'kill'")),
            },
            CallType::Acknowledge => match call.acknowledge {
                Some(a) => {
                    if a.uuid.len() != 16 {
                        self.send_event(
                            ctx,
                            &fid,
                            Event::error("ACKNOWLEDGE uuid is not 16 bytes"),
                        );
                        return;
                    }
                    self.acknowledge(ctx, &fid, a.agent_id, a.task_id, a.uuid);
                }
                None => {
                    self.send_event(ctx, &fid, Event::error("ACKNOWLEDGE without 'acknowledge'"))
                }
            },
            CallType::Reconcile => self.reconcile(ctx, &fid, call.reconcile.unwrap_or_default()),
            other => {
                self.send_event(
                    ctx,
                    &fid,
                    Event::error(format!("call {other} is not supported yet")),
                );
            }
        }
    }

    pub(super) fn subscribe(
        &mut self,
        ctx: &mut Context<Self>,
        from: UPID,
        top_id: Option<FrameworkID>,
        s: Subscribe,
    ) {
        let info = s.framework_info;
        if top_id.is_some() && top_id != info.id {
            ctx.send_named(
                &from,
                Event::NAME,
                Event::error("'framework_id' differs from 'subscribe.framework_info.id'"),
            );
            return;
        }
        for r in info.effective_roles() {
            if let Err(e) = mesos_api::roles::validate(&r) {
                ctx.send_named(&from, Event::NAME, Event::error(e.to_string()));
                return;
            }
        }
        if info.id.as_ref().is_some_and(|id| self.removed.contains(id)) {
            ctx.send_named(
                &from,
                Event::NAME,
                Event::error("Framework has been removed"),
            );
            return;
        }
        let fid = match &info.id {
            Some(id) => id.clone(),
            None => {
                let id = FrameworkID::new(format!("{}-{:04}", self.id, self.next_framework));
                self.next_framework += 1;
                id
            }
        };
        let mut info = info;
        info.id = Some(fid.clone());
        let spec = FrameworkSpec {
            roles: info.effective_roles().into_iter().collect(),
            gpu_resources: info.has_capability(
                mesos_api::protocol::framework::FrameworkCapabilityType::GpuResources,
            ),
            suppressed_roles: s.suppressed_roles.into_iter().collect(),
        };
        let known = self.frameworks.contains_key(&fid);
        if known {
            // Failover (or reconnection): the newer subscription wins.
            let f = self.frameworks.get_mut(&fid).expect("known");
            if let Some(old) = f.pid.replace(from.clone()) {
                if old != from {
                    ctx.send_named(&old, Event::NAME, Event::error("Framework failed over"));
                    ctx.unlink(&old);
                }
            }
            f.info = info;
            f.connected = true;
            f.generation += 1;
            let f2 = fid.clone();
            self.allocator()
                .dispatch_nowait(move |p: &mut AllocatorProcess, c| {
                    p.allocator_mut().update_framework(&f2, spec);
                    p.allocator_mut().activate_framework(&f2);
                    p.request_allocation(c, None);
                });
        } else {
            self.frameworks.insert(
                fid.clone(),
                FrameworkRec {
                    info,
                    pid: Some(from.clone()),
                    proxy: None,
                    connected: true,
                    offers: HashSet::new(),
                    tasks: BTreeMap::new(),
                    completed: Vec::new(),
                    generation: 1,
                },
            );
            let f2 = fid.clone();
            self.allocator()
                .dispatch_nowait(move |p: &mut AllocatorProcess, c| p.add_framework(c, f2, spec));
        }
        ctx.link(&from);
        self.ensure_proxy(ctx, &fid, &from);
        let ev = Event {
            subscribed: Some(Subscribed {
                framework_id: fid.clone(),
                heartbeat_interval_seconds: Some(self.flags.heartbeat_interval.as_secs_f64()),
                master_info: self.info.clone(),
            }),
            ..Event::new(EventType::Subscribed)
        };
        self.send_event(ctx, &fid, ev);
    }

    /// Spawns the framework's proxy, or points it at the newly subscribed scheduler.
    fn ensure_proxy(&mut self, ctx: &mut Context<Self>, fid: &FrameworkID, to: &UPID) {
        let master = ctx.self_upid().clone();
        let Some(f) = self.frameworks.get_mut(fid) else {
            return;
        };
        match &f.proxy {
            Some(p) => {
                let t = to.clone();
                p.dispatch_nowait(move |p: &mut FrameworkProxy, _| p.retarget(t));
            }
            None => {
                let id = ctx.runtime().unique_id("framework");
                match ctx
                    .runtime()
                    .spawn(&id, FrameworkProxy::new(master, to.clone()))
                {
                    Ok(p) => f.proxy = Some(p),
                    Err(e) => tracing::warn!(framework = %fid, "no proxy ({e}); sending directly"),
                }
            }
        }
    }

    pub(super) fn remove_framework(&mut self, ctx: &mut Context<Self>, fid: &FrameworkID) {
        let Some(f) = self.frameworks.remove(fid) else {
            return;
        };
        self.removed.insert(fid.clone());
        for o in &f.offers {
            self.offers.remove(o);
        }
        let agents: HashSet<AgentID> = f.tasks.values().map(|t| t.agent_id.clone()).collect();
        for a in agents {
            if let Some(rec) = self.agents.get(&a) {
                Self::send(
                    ctx,
                    &rec.pid,
                    ShutdownFramework {
                        framework_id: fid.clone(),
                    },
                );
            }
        }
        if let Some(pid) = &f.pid {
            ctx.unlink(pid);
        }
        if let Some(p) = &f.proxy {
            p.terminate(false);
        }
        let f2 = fid.clone();
        self.allocator()
            .dispatch_nowait(move |p: &mut AllocatorProcess, _| {
                p.allocator_mut().remove_framework(&f2)
            });
    }

    pub(super) fn framework_disconnected(&mut self, ctx: &mut Context<Self>, fid: FrameworkID) {
        let (generation, timeout) = match self.frameworks.get_mut(&fid) {
            Some(f) => {
                f.connected = false;
                (f.generation, f.info.failover_timeout)
            }
            None => return,
        };
        let offers: Vec<OfferID> = self.frameworks[&fid].offers.iter().cloned().collect();
        for o in offers {
            self.rescind(ctx, &o, false);
        }
        let f2 = fid.clone();
        self.allocator()
            .dispatch_nowait(move |p: &mut AllocatorProcess, _| {
                p.allocator_mut().deactivate_framework(&f2)
            });
        let d = Duration::from_secs_f64(timeout.clamp(0.0, 365.0 * 86400.0));
        ctx.delay(d, move |m: &mut Master, c| {
            let stale = m
                .frameworks
                .get(&fid)
                .is_none_or(|f| f.connected || f.generation != generation);
            if !stale {
                m.remove_framework(c, &fid);
            }
        });
    }
}
