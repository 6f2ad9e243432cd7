//! Maintenance in the master: the schedule changed by operators, machines brought down (their
//! agents shut down, refused until the machine is up again) and up, the unavailability offers
//! carry, and inverse offers: each framework with tasks on an agent of a DRAINING machine is
//! asked to give it back, and its answer (ACCEPT, DECLINE, or UNKNOWN until it answers) shows
//! in the maintenance status. The schedule and the DOWN machines are in the registry; the
//! answers are not (a new master asks again, as Mesos's does).

use std::collections::{BTreeMap, BTreeSet};

use libprocess::util::HashMap;
use std::time::Instant;

use libprocess::{Context, UPID};
use mesos_api::http::Rejection;
use mesos_api::messages::ShutdownAgent;
use mesos_api::protocol::framework::AgentInfo;
use mesos_api::protocol::offer::{InverseOffer, Unavailability};
use mesos_api::protocol::scheduler::{
    Event, EventType, InverseOfferReply, InverseOffers as InverseOffersEvent, RescindInverseOffer,
};
use mesos_api::{AgentID, FrameworkID, OfferID, Resources};
use serde_json::{json, Value};

use super::agents::Removal;
use super::{now_secs, refuse_of, Master};
use crate::maintenance::{parse_machines, MachineId, Maintenance, Mode};
use crate::registry::Operation;
use crate::state::AgentRec;

/// The master's inverse offers and the frameworks' answers to them.
#[derive(Default)]
pub(crate) struct InverseOffers {
    /// Outstanding: to whom, about which agent.
    outstanding: HashMap<OfferID, (FrameworkID, AgentID)>,
    /// The answers by agent and framework: ACCEPT, DECLINE or UNKNOWN, and when.
    statuses: HashMap<AgentID, BTreeMap<FrameworkID, (&'static str, f64)>>,
    /// A framework is not asked about an agent again before this (its answer's filter).
    filters: HashMap<(FrameworkID, AgentID), Instant>,
}

/// The machine an agent is on: its hostname and the IP it talks from (as Mesos identifies it).
fn machine_at(info: &AgentInfo, pid: &UPID) -> MachineId {
    MachineId {
        hostname: info.hostname.clone(),
        ip: pid.addr().ip().to_string(),
    }
}

fn machine_of(a: &AgentRec) -> MachineId {
    machine_at(&a.info, &a.pid)
}

impl Master {
    /// When an agent's machine is unavailable, if it is scheduled.
    pub(super) fn agent_unavailability(&self, a: &AgentRec) -> Option<Unavailability> {
        if self.maintenance.windows.is_empty() {
            return None;
        }
        self.maintenance.unavailability(&machine_of(a))
    }

    /// Whether an agent (re)registering from `from` is on a DOWN machine: if so it is told to
    /// shut down, as Mesos tells it, and the refusal is counted.
    pub(super) fn machine_down(
        &self,
        ctx: &Context<Self>,
        from: &UPID,
        info: &AgentInfo,
        reregistration: bool,
    ) -> bool {
        let m = machine_at(info, from);
        if self.maintenance.mode(&m) != Mode::Down {
            return false;
        }
        tracing::warn!(%from, machine = %m.json(), "refusing an agent: its machine is DOWN");
        Self::send(
            ctx,
            from,
            ShutdownAgent {
                message: "Machine is `DOWN`".into(),
            },
        );
        if let Some(mm) = &self.metrics {
            if reregistration {
                mm.slave_reregistrations_refused.inc();
            } else {
                mm.slave_registrations_refused.inc();
            }
        }
        true
    }

    /// The schedule, for a principal allowed to see it (`get_maintenance_schedules`).
    pub(crate) fn maintenance_schedule(&self, principal: Option<&str>) -> Result<Value, Rejection> {
        self.authorize(
            "get_maintenance_schedules",
            principal,
            None,
            "view the maintenance schedule",
        )?;
        Ok(self.maintenance.schedule_json())
    }

    /// The status, for a principal allowed to see it (`get_maintenance_statuses`).
    pub(crate) fn maintenance_status(&self, principal: Option<&str>) -> Result<Value, Rejection> {
        self.authorize(
            "get_maintenance_statuses",
            principal,
            None,
            "view the maintenance status",
        )?;
        Ok(self.maintenance_status_json())
    }

    /// UPDATE_MAINTENANCE_SCHEDULE (and a POST to `/maintenance/schedule`): the schedule is
    /// replaced; agents whose unavailability changed have their offers and inverse offers
    /// rescinded (to be made again with the new window) and their answers forgotten.
    pub(crate) fn update_maintenance_schedule(
        &mut self,
        ctx: &mut Context<Self>,
        principal: Option<&str>,
        schedule: &Value,
    ) -> Result<(), Rejection> {
        let windows = Maintenance::parse_schedule(schedule).map_err(Rejection::bad_request)?;
        self.authorize(
            "update_maintenance_schedules",
            principal,
            None,
            "update the maintenance schedule",
        )?;
        let before: Vec<(AgentID, Option<Unavailability>)> = self
            .agents
            .iter()
            .map(|(id, a)| (id.clone(), self.agent_unavailability(a)))
            .collect();
        self.maintenance
            .set_schedule(windows)
            .map_err(Rejection::bad_request)?;
        self.registry_note(Operation::Maintenance(self.maintenance.clone()));
        for (id, old) in before {
            let now = self
                .agents
                .get(&id)
                .and_then(|a| self.agent_unavailability(a));
            if now != old {
                self.forget_agent_inverse_offers(ctx, &id);
                self.rescind_agent_offers(ctx, &id, true);
            }
        }
        self.send_inverse_offers(ctx);
        Ok(())
    }

    /// START_MAINTENANCE (and `/machine/down`): DRAINING machines go DOWN; their agents are
    /// told to shut down and removed, their tasks GONE_BY_OPERATOR (LOST for frameworks that
    /// are not partition-aware).
    pub(crate) fn start_maintenance(
        &mut self,
        ctx: &mut Context<Self>,
        principal: Option<&str>,
        machines: &Value,
    ) -> Result<(), Rejection> {
        let machines = parse_machines(machines).map_err(Rejection::bad_request)?;
        self.authorize("start_maintenances", principal, None, "start maintenance")?;
        self.maintenance
            .start(&machines)
            .map_err(Rejection::bad_request)?;
        self.registry_note(Operation::Maintenance(self.maintenance.clone()));
        let down: Vec<(AgentID, UPID)> = self
            .agents
            .iter()
            .filter(|(_, a)| machines.contains(&machine_of(a)))
            .map(|(id, a)| (id.clone(), a.pid.clone()))
            .collect();
        for (id, pid) in down {
            tracing::info!(agent = %id, "shutting down the agent: its machine was brought DOWN");
            Self::send(
                ctx,
                &pid,
                ShutdownAgent {
                    message: "Operator initiated 'Machine DOWN'".into(),
                },
            );
            self.registry_note(Operation::RemoveAgent(id.clone()));
            self.remove_agent(ctx, &id, Removal::Down);
        }
        self.metrics_changed(ctx);
        Ok(())
    }

    /// STOP_MAINTENANCE (and `/machine/up`): DOWN machines come UP and leave the schedule.
    pub(crate) fn stop_maintenance(
        &mut self,
        principal: Option<&str>,
        machines: &Value,
    ) -> Result<(), Rejection> {
        let machines = parse_machines(machines).map_err(Rejection::bad_request)?;
        self.authorize("stop_maintenances", principal, None, "stop maintenance")?;
        self.maintenance
            .stop(&machines)
            .map_err(Rejection::bad_request)?;
        self.registry_note(Operation::Maintenance(self.maintenance.clone()));
        Ok(())
    }

    /// Mesos's `maintenance::ClusterStatus`: DRAINING machines with the frameworks' answers
    /// about their agents, and DOWN machines.
    fn maintenance_status_json(&self) -> Value {
        let mut draining = Vec::new();
        let mut seen: Vec<&MachineId> = Vec::new();
        for m in self.maintenance.machines() {
            if seen.contains(&m) || self.maintenance.mode(m) != Mode::Draining {
                continue;
            }
            seen.push(m);
            let statuses: Vec<Value> = self
                .agents
                .iter()
                .filter(|(_, a)| &machine_of(a) == m)
                .filter_map(|(id, _)| self.inverse.statuses.get(id))
                .flat_map(|by_fw| by_fw.iter())
                .map(|(fid, (status, t))| {
                    json!({
                        "framework_id": {"value": fid.value},
                        "status": status,
                        "timestamp": {"nanoseconds": (t * 1e9) as i64},
                    })
                })
                .collect();
            draining.push(json!({"id": m.json(), "statuses": statuses}));
        }
        let down: Vec<Value> = self.maintenance.down.iter().map(MachineId::json).collect();
        json!({"draining_machines": draining, "down_machines": down})
    }

    /// Sends an inverse offer to each connected framework with tasks on an agent of a DRAINING
    /// machine, unless one is outstanding or its last answer's filter holds (run on every
    /// change of the schedule and every allocation interval).
    pub(super) fn send_inverse_offers(&mut self, ctx: &mut Context<Self>) {
        if self.maintenance.windows.is_empty() {
            return;
        }
        let now = Instant::now();
        let draining: Vec<(AgentID, Unavailability, UPID, String)> = self
            .agents
            .iter()
            .filter(|(_, a)| self.maintenance.mode(&machine_of(a)) == Mode::Draining)
            .filter_map(|(id, a)| {
                let u = self.agent_unavailability(a)?;
                Some((id.clone(), u, a.pid.clone(), a.info.hostname.clone()))
            })
            .collect();
        let mut batches: BTreeMap<FrameworkID, Vec<InverseOffer>> = BTreeMap::new();
        for (aid, u, pid, host) in draining {
            let users: BTreeSet<FrameworkID> = self
                .tasks_by_agent
                .get(&aid)
                .map(|s| s.iter().map(|(f, _)| f.clone()).collect())
                .unwrap_or_default();
            for fid in users {
                if !self.frameworks.get(&fid).is_some_and(|f| f.connected) {
                    continue;
                }
                let asked = self
                    .inverse
                    .outstanding
                    .values()
                    .any(|(f, a)| f == &fid && a == &aid);
                let filtered = self
                    .inverse
                    .filters
                    .get(&(fid.clone(), aid.clone()))
                    .is_some_and(|until| *until > now);
                if asked || filtered {
                    continue;
                }
                let id = OfferID::new(format!("{}-O{}", self.id, self.next_offer));
                self.next_offer += 1;
                self.inverse
                    .outstanding
                    .insert(id.clone(), (fid.clone(), aid.clone()));
                self.inverse
                    .statuses
                    .entry(aid.clone())
                    .or_default()
                    .entry(fid.clone())
                    .or_insert(("UNKNOWN", now_secs()));
                batches.entry(fid.clone()).or_default().push(InverseOffer {
                    id,
                    url: Some(super::offers::agent_url(&pid, &host)),
                    framework_id: fid,
                    agent_id: Some(aid.clone()),
                    unavailability: u.clone(),
                    resources: Resources::new(),
                });
            }
        }
        for (fid, inverse_offers) in batches {
            tracing::info!(framework = %fid, n = inverse_offers.len(), "sending inverse offers");
            let ev = Event {
                inverse_offers: Some(InverseOffersEvent { inverse_offers }),
                ..Event::new(EventType::InverseOffers)
            };
            self.send_event(ctx, &fid, ev);
        }
    }

    /// ACCEPT_INVERSE_OFFERS / DECLINE_INVERSE_OFFERS: the answer is recorded for the
    /// maintenance status and the framework is not asked about the agent again while its
    /// filter holds (default 5 s). Unknown or foreign inverse offers are ignored.
    pub(super) fn inverse_offer_reply(
        &mut self,
        fid: &FrameworkID,
        reply: InverseOfferReply,
        accept: bool,
    ) {
        let refuse = refuse_of(reply.filters);
        for id in reply.inverse_offer_ids {
            let aid = match self.inverse.outstanding.get(&id) {
                Some((f, a)) if f == fid => a.clone(),
                _ => {
                    tracing::warn!(framework = %fid, inverse_offer = %id, "ignoring an answer to an unknown inverse offer");
                    continue;
                }
            };
            self.inverse.outstanding.remove(&id);
            let status = if accept { "ACCEPT" } else { "DECLINE" };
            self.inverse
                .statuses
                .entry(aid.clone())
                .or_default()
                .insert(fid.clone(), (status, now_secs()));
            if let Some(d) = refuse {
                self.inverse
                    .filters
                    .insert((fid.clone(), aid), Instant::now() + d);
            }
        }
    }

    /// Rescinds the agent's outstanding inverse offers and forgets the answers about it (its
    /// window changed, or it is gone).
    pub(super) fn forget_agent_inverse_offers(&mut self, ctx: &mut Context<Self>, aid: &AgentID) {
        let ids: Vec<(OfferID, FrameworkID)> = self
            .inverse
            .outstanding
            .iter()
            .filter(|(_, (_, a))| a == aid)
            .map(|(id, (f, _))| (id.clone(), f.clone()))
            .collect();
        for (id, fid) in ids {
            self.inverse.outstanding.remove(&id);
            let ev = Event {
                rescind_inverse_offer: Some(RescindInverseOffer {
                    inverse_offer_id: id,
                }),
                ..Event::new(EventType::RescindInverseOffer)
            };
            self.send_event(ctx, &fid, ev);
        }
        self.inverse.statuses.remove(aid);
        self.inverse.filters.retain(|(_, a), _| a != aid);
    }

    /// A framework disconnected (`removed`: or is gone): its outstanding inverse offers lapse
    /// (it is asked again when it comes back); a removed one's answers go too.
    pub(super) fn forget_framework_inverse_offers(&mut self, fid: &FrameworkID, removed: bool) {
        self.inverse.outstanding.retain(|_, (f, _)| f != fid);
        if removed {
            for by_fw in self.inverse.statuses.values_mut() {
                by_fw.remove(fid);
            }
            self.inverse.filters.retain(|(f, _), _| f != fid);
        }
    }

    /// Every allocation interval: inverse offers for tasks launched since, and for answers
    /// whose filters expired.
    pub(super) fn maintenance_tick(&mut self, ctx: &mut Context<Self>) {
        // (Not `leading()`: a tick is not a dropped message.)
        if self.leadership.elected && self.leadership.recovered {
            self.send_inverse_offers(ctx);
        }
        let d = self.flags.allocation_interval;
        ctx.delay(d, |m: &mut Master, c| m.maintenance_tick(c));
    }
}
