//! mesos-scheduler: write a framework in Rust.
//!
//! Implement [`Scheduler`] (every callback has a default that does nothing) and [`start`] it
//! with a [`FrameworkInfo`] and the master's UPID. The SDK subscribes (retrying with backoff
//! until SUBSCRIBED), resubscribes with the framework id when the connection to the master
//! breaks or the master falls silent (no event, heartbeats included, for
//! [`MISSED_HEARTBEATS`] heartbeat intervals: a network partition), which within
//! `failover_timeout` keeps the framework's tasks, and by default
//! acknowledges each status update after [`Scheduler::update`] returns. Calls go through the
//! [`Driver`] handed to every callback.
//!
//! ```no_run
//! # async fn demo(rt: libprocess::Runtime, master: libprocess::UPID) {
//! use mesos_scheduler::{start, Driver, Scheduler};
//! use mesos_api::protocol::{framework::FrameworkInfo, offer::Offer};
//!
//! struct Decliner;
//! impl Scheduler for Decliner {
//!     fn offers(&mut self, d: &mut Driver, offers: Vec<Offer>) {
//!         d.decline(offers.into_iter().map(|o| o.id).collect(), None);
//!     }
//! }
//! let info = FrameworkInfo::new("decliner", "root");
//! let pid = start(&rt, master, info, Decliner).unwrap();
//! # }
//! ```

use std::time::{Duration, Instant};

use libprocess::{Context, Process, RemoteConnection, Runtime, PID, UPID};
use mesos_api::auth::{cram_md5_response, Credential, CRAM_MD5};
use mesos_api::messages::{
    Authenticate, AuthenticationCompleted, AuthenticationFailed, AuthenticationStep, WireMessage,
};
use mesos_api::protocol::framework::FrameworkInfo;
use mesos_api::protocol::offer::{
    Filters, InverseOffer, Launch, LaunchGroup, Offer, OfferOperation, OperationStatus,
    OperationType,
};
use mesos_api::protocol::scheduler::{
    Accept, Acknowledge, AcknowledgeOperationStatus, Call, CallType, Decline, Event, EventType,
    Failure, FrameworkMessage, InverseOfferReply, Kill, Reconcile, ReconcileOperation,
    ReconcileOperations, ReconcileTask, Roles, Subscribe,
};
use mesos_api::protocol::task::{ExecutorInfo, KillPolicy, TaskGroupInfo, TaskInfo, TaskStatus};
use mesos_api::{AgentID, ExecutorID, FrameworkID, OfferID, OperationID, TaskID};
use mesos_detector::{MasterSpec, ZkUrl};

pub mod http;

pub use mesos_api::http::Encoding;

/// How the SDK speaks to the master.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Transport {
    /// Calls and events as messages over the runtime's binary transport (a credential
    /// authenticates with CRAM-MD5 first, as Mesos's scheduler driver does).
    #[default]
    Binary,
    /// The v1 HTTP scheduler API in this encoding (a credential is sent as HTTP Basic), as
    /// Mesos's v1 scheduler library speaks it.
    Http(Encoding),
}

/// The callbacks of a framework. Each gets the [`Driver`] to make calls with.
#[allow(unused_variables)]
pub trait Scheduler: Send + 'static {
    /// SUBSCRIBED: the framework has an id (the same one after a failover).
    fn subscribed(&mut self, d: &mut Driver, framework_id: &FrameworkID) {}
    /// OFFERS.
    fn offers(&mut self, d: &mut Driver, offers: Vec<Offer>) {}
    /// RESCIND: an offer is no longer valid.
    fn rescind(&mut self, d: &mut Driver, offer_id: &OfferID) {}
    /// INVERSE_OFFERS: the master asks for resources back before maintenance (answer with
    /// [`Driver::accept_inverse_offers`] or [`Driver::decline_inverse_offers`]).
    fn inverse_offers(&mut self, d: &mut Driver, inverse_offers: Vec<InverseOffer>) {}
    /// RESCIND_INVERSE_OFFER: an inverse offer is no longer valid.
    fn rescind_inverse_offer(&mut self, d: &mut Driver, inverse_offer_id: &OfferID) {}
    /// UPDATE_OPERATION_STATUS: an offer operation's status (acknowledged after this returns
    /// unless implicit acknowledgements are off).
    fn update_operation_status(&mut self, d: &mut Driver, status: &OperationStatus) {}
    /// UPDATE: a task's status (acknowledged after this returns unless implicit
    /// acknowledgements are off).
    fn update(&mut self, d: &mut Driver, status: &TaskStatus) {}
    /// FAILURE: an agent (or an executor) is gone.
    fn failure(&mut self, d: &mut Driver, failure: &Failure) {}
    /// MESSAGE: data an executor sent the framework.
    fn message(&mut self, d: &mut Driver, message: &FrameworkMessage) {}
    /// ERROR: the master refused the framework; the SDK stops.
    fn error(&mut self, d: &mut Driver, message: &str) {}
    /// The connection to the master broke; the SDK is resubscribing.
    fn disconnected(&mut self, d: &mut Driver) {}
}

/// Makes calls to the master on behalf of the framework.
pub struct Driver {
    rt: Runtime,
    me: UPID,
    master: Option<UPID>,
    info: FrameworkInfo,
    subscribed: bool,
    implicit_acks: bool,
    stop: bool,
    transport: Transport,
    /// Over HTTP: the subscription's connection task, which posts the calls.
    http_calls: Option<tokio::sync::mpsc::UnboundedSender<Call>>,
}

impl Driver {
    fn call(&self, call: Call) {
        match (&self.transport, &self.master) {
            (Transport::Binary, Some(m)) => self.rt.send_named(&self.me, m, Call::NAME, call),
            (Transport::Http(_), _) => {
                if let Some(tx) = &self.http_calls {
                    let _ = tx.send(call);
                }
            }
            (Transport::Binary, None) => {}
        }
    }

    fn new_call(&self, kind: CallType) -> Call {
        Call::new(kind, self.info.id.clone())
    }

    /// The framework's id, once subscribed.
    pub fn framework_id(&self) -> Option<&FrameworkID> {
        self.info.id.as_ref()
    }

    /// The framework as subscribed.
    pub fn framework_info(&self) -> &FrameworkInfo {
        &self.info
    }

    /// This scheduler's UPID.
    pub fn self_upid(&self) -> &UPID {
        &self.me
    }

    /// Whether SUBSCRIBED has arrived (and the connection has not broken since).
    pub fn is_subscribed(&self) -> bool {
        self.subscribed
    }

    /// Turns implicit acknowledgements off (call [`Driver::acknowledge`] yourself) or on.
    pub fn set_implicit_acknowledgements(&mut self, on: bool) {
        self.implicit_acks = on;
    }

    /// ACCEPT offers (all from one agent) with operations.
    pub fn accept(
        &self,
        offer_ids: Vec<OfferID>,
        operations: Vec<OfferOperation>,
        filters: Option<Filters>,
    ) {
        let mut c = self.new_call(CallType::Accept);
        c.accept = Some(Accept {
            offer_ids,
            operations,
            filters,
        });
        self.call(c);
    }

    /// ACCEPT one offer with a LAUNCH of these tasks.
    pub fn launch(&self, offer_id: &OfferID, tasks: Vec<TaskInfo>, filters: Option<Filters>) {
        let op = OfferOperation {
            launch: Some(Launch { task_infos: tasks }),
            ..OfferOperation::new(OperationType::Launch)
        };
        self.accept(vec![offer_id.clone()], vec![op], filters);
    }

    /// ACCEPT one offer with a LAUNCH_GROUP under a DEFAULT executor.
    pub fn launch_group(
        &self,
        offer_id: &OfferID,
        executor: ExecutorInfo,
        group: TaskGroupInfo,
        filters: Option<Filters>,
    ) {
        let op = OfferOperation {
            launch_group: Some(LaunchGroup {
                executor,
                task_group: group,
            }),
            ..OfferOperation::new(OperationType::LaunchGroup)
        };
        self.accept(vec![offer_id.clone()], vec![op], filters);
    }

    /// DECLINE offers (no filters: refuse for the default 5 s).
    pub fn decline(&self, offer_ids: Vec<OfferID>, filters: Option<Filters>) {
        let mut c = self.new_call(CallType::Decline);
        c.decline = Some(Decline { offer_ids, filters });
        self.call(c);
    }

    /// ACCEPT_INVERSE_OFFERS: the framework can give the agents' resources back in time.
    pub fn accept_inverse_offers(&self, inverse_offer_ids: Vec<OfferID>, filters: Option<Filters>) {
        let mut c = self.new_call(CallType::AcceptInverseOffers);
        c.accept_inverse_offers = Some(InverseOfferReply {
            inverse_offer_ids,
            filters,
        });
        self.call(c);
    }

    /// DECLINE_INVERSE_OFFERS: the framework cannot give the agents' resources back in time.
    pub fn decline_inverse_offers(
        &self,
        inverse_offer_ids: Vec<OfferID>,
        filters: Option<Filters>,
    ) {
        let mut c = self.new_call(CallType::DeclineInverseOffers);
        c.decline_inverse_offers = Some(InverseOfferReply {
            inverse_offer_ids,
            filters,
        });
        self.call(c);
    }

    /// MESSAGE: `data` for the framework's executor on an agent (best effort, as in Mesos).
    pub fn message(&self, agent_id: AgentID, executor_id: ExecutorID, data: Vec<u8>) {
        let mut c = self.new_call(CallType::Message);
        c.message = Some(FrameworkMessage {
            agent_id,
            executor_id,
            data,
        });
        self.call(c);
    }

    /// KILL a task.
    pub fn kill(
        &self,
        task_id: TaskID,
        agent_id: Option<AgentID>,
        kill_policy: Option<KillPolicy>,
    ) {
        let mut c = self.new_call(CallType::Kill);
        c.kill = Some(Kill {
            task_id,
            agent_id,
            kill_policy,
        });
        self.call(c);
    }

    /// RECONCILE: no tasks for implicit reconciliation, else explicit.
    pub fn reconcile(&self, tasks: Vec<(TaskID, Option<AgentID>)>) {
        let mut c = self.new_call(CallType::Reconcile);
        c.reconcile = Some(Reconcile {
            tasks: tasks
                .into_iter()
                .map(|(task_id, agent_id)| ReconcileTask { task_id, agent_id })
                .collect(),
        });
        self.call(c);
    }

    /// REVIVE (no roles: all the framework's roles).
    pub fn revive(&self, roles: Vec<String>) {
        let mut c = self.new_call(CallType::Revive);
        c.revive = Some(Roles { roles });
        self.call(c);
    }

    /// SUPPRESS (no roles: all the framework's roles).
    pub fn suppress(&self, roles: Vec<String>) {
        let mut c = self.new_call(CallType::Suppress);
        c.suppress = Some(Roles { roles });
        self.call(c);
    }

    /// ACKNOWLEDGE an update (those without a uuid need none; they are skipped).
    pub fn acknowledge(&self, status: &TaskStatus) {
        let (Some(uuid), Some(agent_id)) = (status.uuid.clone(), status.agent_id.clone()) else {
            return;
        };
        let mut c = self.new_call(CallType::Acknowledge);
        c.acknowledge = Some(Acknowledge {
            agent_id,
            task_id: status.task_id.clone(),
            uuid,
        });
        self.call(c);
    }

    /// ACKNOWLEDGE_OPERATION_STATUS (statuses without a uuid need none; they are skipped).
    pub fn acknowledge_operation_status(&self, status: &OperationStatus) {
        let (Some(uuid), Some(operation_id)) = (status.uuid.clone(), status.operation_id.clone())
        else {
            return;
        };
        let mut c = self.new_call(CallType::AcknowledgeOperationStatus);
        c.acknowledge_operation_status = Some(AcknowledgeOperationStatus {
            agent_id: status.agent_id.clone(),
            uuid: uuid.value,
            operation_id,
        });
        self.call(c);
    }

    /// RECONCILE_OPERATIONS of these operations (with their agents, if known), or of all the
    /// framework's when empty: each is answered with an UPDATE_OPERATION_STATUS.
    pub fn reconcile_operations(&self, operations: Vec<(OperationID, Option<AgentID>)>) {
        let mut c = self.new_call(CallType::ReconcileOperations);
        c.reconcile_operations = Some(ReconcileOperations {
            operations: operations
                .into_iter()
                .map(|(operation_id, agent_id)| ReconcileOperation {
                    operation_id,
                    agent_id,
                })
                .collect(),
        });
        self.call(c);
    }

    /// TEARDOWN: the framework ends, its tasks are killed; the SDK stops.
    pub fn teardown(&mut self) {
        let c = self.new_call(CallType::Teardown);
        self.call(c);
        self.stop = true;
    }

    /// Stops the SDK without tearing the framework down (a failover can pick it up).
    pub fn stop(&mut self) {
        self.stop = true;
    }
}

/// The process that runs a [`Scheduler`].
pub struct SchedulerProcess<S: Scheduler> {
    driver: Driver,
    sched: S,
    backoff: Duration,
    generation: u64,
    /// The ZooKeeper group to detect the master in, until initialize starts detecting.
    detector: Option<(ZkUrl, Duration)>,
    /// When the master was last heard from (any event).
    heard: Instant,
    /// The credential to authenticate with before subscribing (CRAM-MD5), if any.
    credential: Option<Credential>,
    /// Authenticated for the subscription attempt under way.
    authenticated: bool,
    /// Over HTTP: the connection task of the subscription attempt under way.
    http_task: Option<tokio::task::AbortHandle>,
    /// Over HTTP: the number of that attempt (what a connection reports is ignored unless it is
    /// the latest's).
    http_attempt: u64,
    /// Over HTTP: the leader's `host:port` a master redirected to (until the master changes).
    http_target: Option<String>,
}

/// Heartbeat intervals (announced in SUBSCRIBED) without any event from the master after which
/// the SDK takes it for lost and resubscribes over a fresh connection (the interval Mesos's
/// scheduler API documentation suggests).
pub const MISSED_HEARTBEATS: u32 = 5;

/// First subscription retry interval, doubling to [`MAX_BACKOFF`].
pub const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
/// The longest subscription retry interval.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

impl<S: Scheduler> SchedulerProcess<S> {
    /// The driver, to make calls from outside a callback (through `PID::dispatch`).
    pub fn driver(&mut self) -> &mut Driver {
        &mut self.driver
    }

    /// The scheduler.
    pub fn scheduler(&mut self) -> &mut S {
        &mut self.sched
    }

    fn subscribe(&mut self, ctx: &mut Context<Self>, generation: u64) {
        if self.driver.subscribed || generation != self.generation || self.driver.stop {
            return;
        }
        // The first attempt reuses the runtime's connection (many frameworks may share it);
        // a retry means no answer came, so it forces a fresh socket.
        let mode = if self.backoff == INITIAL_BACKOFF {
            RemoteConnection::Reuse
        } else {
            RemoteConnection::Reconnect
        };
        let Some(master) = self.driver.master.clone() else {
            return;
        };
        if let Transport::Http(encoding) = self.driver.transport {
            self.subscribe_http(ctx, &master, encoding);
        } else if self.credential.is_some() && !self.authenticated {
            ctx.link_with(&master, mode);
            // SUBSCRIBE follows once authenticated.
            ctx.send_named(
                &master,
                Authenticate::NAME,
                Authenticate {
                    mechanism: CRAM_MD5.into(),
                },
            );
        } else {
            ctx.link_with(&master, mode);
            self.send_subscribe();
        }
        let d = self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        ctx.delay(d, move |p: &mut Self, c| {
            // An unanswered attempt authenticates anew (the master forgets an authentication
            // with its connection).
            p.authenticated = false;
            p.subscribe(c, generation)
        });
    }

    fn subscribe_call(&self) -> Call {
        let mut c = self.driver.new_call(CallType::Subscribe);
        c.subscribe = Some(Subscribe {
            framework_info: self.driver.info.clone(),
            suppressed_roles: Vec::new(),
            offer_constraints: None,
        });
        c
    }

    fn send_subscribe(&mut self) {
        let c = self.subscribe_call();
        self.driver.call(c);
    }

    /// Over HTTP: a new connection task subscribes (the previous attempt's is dropped).
    fn subscribe_http(&mut self, ctx: &mut Context<Self>, master: &UPID, encoding: Encoding) {
        if let Some(old) = self.http_task.take() {
            old.abort();
        }
        self.http_attempt += 1;
        let (tx, calls) = tokio::sync::mpsc::unbounded_channel();
        self.driver.http_calls = Some(tx);
        let target = self
            .http_target
            .clone()
            .unwrap_or_else(|| master.addr().to_string());
        let addr = if libprocess::tls::enabled_in_env() {
            format!("https://{target}")
        } else {
            target
        };
        let conn = http::Connection {
            me: ctx.pid().clone(),
            attempt: self.http_attempt,
            addr,
            encoding,
            authorization: self
                .credential
                .as_ref()
                .map(|c| http::basic(&c.principal, &c.secret)),
            subscribe: self.subscribe_call(),
            calls,
        };
        self.http_task = Some(tokio::spawn(conn.run()).abort_handle());
    }

    /// Over HTTP: an event of subscription attempt `attempt`.
    fn http_event(&mut self, ctx: &mut Context<Self>, attempt: u64, ev: Event) {
        if attempt == self.http_attempt && !self.driver.stop {
            self.handle_event(ctx, ev);
        }
    }

    /// Over HTTP: the subscription of `generation` ended: resubscribe (to the leader, after a
    /// redirect), or stop when the master refused the framework.
    fn http_ended(&mut self, ctx: &mut Context<Self>, attempt: u64, ended: http::Ended) {
        if attempt != self.http_attempt || self.driver.stop {
            return;
        }
        self.driver.http_calls = None;
        self.http_task = None;
        if std::mem::replace(&mut self.driver.subscribed, false) {
            self.sched.disconnected(&mut self.driver);
        }
        self.generation += 1;
        let g = self.generation;
        match ended {
            http::Ended::Refused(why) => {
                tracing::error!("{why}");
                self.sched.error(&mut self.driver, &why);
                self.driver.stop = true;
                ctx.terminate_self();
            }
            http::Ended::Stopped => {}
            http::Ended::Redirect(hostport) => {
                tracing::info!(leader = %hostport, "redirected to the leading master");
                let current = self
                    .http_target
                    .clone()
                    .or_else(|| self.driver.master.as_ref().map(|m| m.addr().to_string()));
                if current.as_deref() != Some(hostport.as_str()) {
                    // A host name or an address: kept as given, until the master changes.
                    self.http_target = Some(hostport);
                    self.subscribe(ctx, g);
                } else {
                    // Nowhere new to go: try again later.
                    let d = self.backoff;
                    ctx.delay(d, move |p: &mut Self, c| p.subscribe(c, g));
                }
            }
            http::Ended::Retry(why) => {
                let d = self.backoff;
                tracing::warn!("{why}; subscribing again in {d:?}");
                ctx.delay(d, move |p: &mut Self, c| p.subscribe(c, g));
            }
        }
    }

    /// The master's authentication messages: its challenge is answered, its completion sends
    /// SUBSCRIBE, its refusal is an error that stops the SDK (as Mesos's driver aborts).
    fn install_authentication(ctx: &mut Context<Self>) {
        ctx.install_named(
            AuthenticationStep::NAME,
            |p: &mut Self, c, from, m: AuthenticationStep| {
                let Some(cred) = p.credential.as_ref() else {
                    return;
                };
                if Some(&from) != p.driver.master.as_ref() {
                    return;
                }
                let data = cram_md5_response(&cred.principal, &cred.secret, &m.data);
                c.send_named(&from, AuthenticationStep::NAME, AuthenticationStep { data });
            },
        );
        ctx.install_named(
            AuthenticationCompleted::NAME,
            |p: &mut Self, _, from, _: AuthenticationCompleted| {
                if Some(&from) != p.driver.master.as_ref() || p.driver.subscribed {
                    return;
                }
                p.authenticated = true;
                p.send_subscribe();
            },
        );
        ctx.install_named(
            AuthenticationFailed::NAME,
            |p: &mut Self, c, from, m: AuthenticationFailed| {
                if Some(&from) != p.driver.master.as_ref() {
                    return;
                }
                let why = format!("Master refused authentication: {}", m.error);
                tracing::error!("{why}");
                p.sched.error(&mut p.driver, &why);
                p.driver.stop = true;
                c.terminate_self();
            },
        );
    }

    /// Checks, every heartbeat interval while subscribed (in `generation`), that the master
    /// still speaks; after [`MISSED_HEARTBEATS`] silent intervals the connection is taken for
    /// broken.
    fn watch_heartbeats(&mut self, ctx: &mut Context<Self>, generation: u64, interval: Duration) {
        if generation != self.generation || !self.driver.subscribed || self.driver.stop {
            return;
        }
        let silent = ctx
            .runtime()
            .clock()
            .now()
            .saturating_duration_since(self.heard);
        if silent < interval * MISSED_HEARTBEATS {
            ctx.delay(interval, move |p: &mut Self, c| {
                p.watch_heartbeats(c, generation, interval)
            });
            return;
        }
        tracing::warn!(
            silent_secs = silent.as_secs_f64(),
            "no event from the master (not even a heartbeat); reconnecting"
        );
        self.driver.subscribed = false;
        self.sched.disconnected(&mut self.driver);
        self.authenticated = false;
        self.generation += 1;
        self.backoff = INITIAL_BACKOFF;
        if let (Some(m), Transport::Binary) = (self.driver.master.clone(), self.driver.transport) {
            // The old connection may be stuck in the partition: drop it for a fresh one.
            ctx.link_with(&m, RemoteConnection::Reconnect);
        }
        let g = self.generation;
        self.subscribe(ctx, g);
    }

    /// A new leading master (with ZooKeeper): resubscribe to it.
    fn master_detected(&mut self, ctx: &mut Context<Self>, master: Option<UPID>) {
        if master == self.driver.master || self.driver.stop {
            return;
        }
        match &master {
            Some(m) => tracing::info!(master = %m, "new master detected"),
            None => tracing::warn!("no leading master; waiting for one"),
        }
        self.driver.master = master;
        // Over HTTP: the old master's connection goes, and so does any redirect it gave.
        self.http_target = None;
        if let Some(old) = self.http_task.take() {
            old.abort();
        }
        self.driver.http_calls = None;
        if std::mem::replace(&mut self.driver.subscribed, false) {
            self.sched.disconnected(&mut self.driver);
        }
        self.generation += 1;
        self.backoff = INITIAL_BACKOFF;
        self.authenticated = false;
        let g = self.generation;
        self.subscribe(ctx, g);
    }

    fn event(&mut self, ctx: &mut Context<Self>, from: UPID, ev: Event) {
        if Some(&from) != self.driver.master.as_ref() {
            tracing::warn!(%from, "event not from the master; ignored");
            return;
        }
        self.handle_event(ctx, ev);
    }

    fn handle_event(&mut self, ctx: &mut Context<Self>, ev: Event) {
        self.heard = ctx.runtime().clock().now();
        let d = &mut self.driver;
        match ev.kind.unwrap_or(EventType::Unknown) {
            EventType::Subscribed => {
                if let Some(s) = ev.subscribed {
                    let first = !d.subscribed;
                    d.subscribed = true;
                    d.info.id = Some(s.framework_id.clone());
                    self.backoff = INITIAL_BACKOFF;
                    self.sched.subscribed(d, &s.framework_id);
                    let every = s
                        .heartbeat_interval_seconds
                        .filter(|s| s.is_finite() && *s > 0.0)
                        .map(|s| Duration::from_secs_f64(s.min(86400.0)));
                    if let (true, Some(every)) = (first, every) {
                        let g = self.generation;
                        ctx.delay(every, move |p: &mut Self, c| {
                            p.watch_heartbeats(c, g, every)
                        });
                    }
                }
            }
            EventType::Offers => {
                if let Some(o) = ev.offers {
                    self.sched.offers(d, o.offers);
                }
            }
            EventType::Rescind => {
                if let Some(r) = ev.rescind {
                    self.sched.rescind(d, &r.offer_id);
                }
            }
            EventType::InverseOffers => {
                if let Some(o) = ev.inverse_offers {
                    self.sched.inverse_offers(d, o.inverse_offers);
                }
            }
            EventType::RescindInverseOffer => {
                if let Some(r) = ev.rescind_inverse_offer {
                    self.sched.rescind_inverse_offer(d, &r.inverse_offer_id);
                }
            }
            EventType::Update => {
                if let Some(u) = ev.update {
                    self.sched.update(d, &u.status);
                    if d.implicit_acks {
                        d.acknowledge(&u.status);
                    }
                }
            }
            EventType::UpdateOperationStatus => {
                if let Some(u) = ev.update_operation_status {
                    self.sched.update_operation_status(d, &u.status);
                    if d.implicit_acks {
                        d.acknowledge_operation_status(&u.status);
                    }
                }
            }
            EventType::Failure => {
                if let Some(f) = ev.failure {
                    self.sched.failure(d, &f);
                }
            }
            EventType::Message => {
                if let Some(m) = ev.message {
                    self.sched.message(d, &m);
                }
            }
            EventType::Error => {
                let msg = ev.error.map(|e| e.message).unwrap_or_default();
                self.sched.error(d, &msg);
                d.stop = true;
            }
            _ => {}
        }
        if self.driver.stop {
            ctx.terminate_self();
        }
    }
}

impl<S: Scheduler> Process for SchedulerProcess<S> {
    fn initialize(&mut self, ctx: &mut Context<Self>) {
        ctx.install_named(Event::NAME, |p: &mut Self, c, from, ev: Event| {
            p.event(c, from, ev)
        });
        Self::install_authentication(ctx);
        let g = self.generation;
        self.subscribe(ctx, g);
        if let Some((url, timeout)) = self.detector.take() {
            let me = ctx.pid().clone();
            mesos_detector::zk::follow_each(url, timeout, move |l| {
                let me = me.clone();
                async move {
                    let upid = l.map(|l| l.upid);
                    me.dispatch(move |p: &mut Self, c| p.master_detected(c, upid))
                        .await
                        .is_ok()
                }
            });
        }
    }

    fn exited(&mut self, ctx: &mut Context<Self>, pid: &UPID) {
        if Some(pid) != self.driver.master.as_ref() || self.driver.stop {
            return;
        }
        let was = std::mem::replace(&mut self.driver.subscribed, false);
        if was {
            self.sched.disconnected(&mut self.driver);
        }
        self.authenticated = false;
        self.generation += 1;
        self.backoff = INITIAL_BACKOFF;
        let g = self.generation;
        // Give the master a moment (it may be restarting), then resubscribe.
        ctx.delay(INITIAL_BACKOFF, move |p: &mut Self, c| p.subscribe(c, g));
    }
}

/// Starts a framework: spawns its scheduler process on `rt`, which subscribes to `master`.
pub fn start<S: Scheduler>(
    rt: &Runtime,
    master: UPID,
    info: FrameworkInfo,
    sched: S,
) -> libprocess::Result<PID<SchedulerProcess<S>>> {
    start_detected(
        rt,
        &MasterSpec::Fixed(master),
        mesos_detector::ZOOKEEPER_SESSION_TIMEOUT,
        info,
        sched,
    )
}

/// Starts a framework that finds its master as `spec` says: a fixed master, or the leader of a
/// ZooKeeper group (`zk://...`), following every change of leader (it resubscribes with its
/// framework id to each new one and ignores events from any other).
pub fn start_detected<S: Scheduler>(
    rt: &Runtime,
    spec: &MasterSpec,
    session_timeout: Duration,
    info: FrameworkInfo,
    sched: S,
) -> libprocess::Result<PID<SchedulerProcess<S>>> {
    start_with(rt, spec, session_timeout, info, None, sched)
}

/// [`start_detected`], authenticating with `credential` (CRAM-MD5) before each subscription
/// when given: what a master with `--authenticate_frameworks` requires. A master that refuses
/// the credential is reported through [`Scheduler::error`] and the SDK stops.
pub fn start_with<S: Scheduler>(
    rt: &Runtime,
    spec: &MasterSpec,
    session_timeout: Duration,
    info: FrameworkInfo,
    credential: Option<Credential>,
    sched: S,
) -> libprocess::Result<PID<SchedulerProcess<S>>> {
    start_over(
        rt,
        spec,
        session_timeout,
        info,
        credential,
        Transport::Binary,
        sched,
    )
}

/// [`start_with`] over `transport`: the binary transport, or the v1 HTTP scheduler API in JSON
/// or protobuf (its master, detected or fixed, reached at its UPID's address).
pub fn start_over<S: Scheduler>(
    rt: &Runtime,
    spec: &MasterSpec,
    session_timeout: Duration,
    info: FrameworkInfo,
    credential: Option<Credential>,
    transport: Transport,
    sched: S,
) -> libprocess::Result<PID<SchedulerProcess<S>>> {
    let (master, detector) = match spec {
        MasterSpec::Fixed(m) => (Some(m.clone()), None),
        MasterSpec::ZooKeeper(url) => (None, Some((url.clone(), session_timeout))),
    };
    let id = rt.unique_id("scheduler");
    let me = UPID::new(id.as_str(), rt.address());
    let p = SchedulerProcess {
        driver: Driver {
            rt: rt.clone(),
            me,
            master,
            info,
            subscribed: false,
            implicit_acks: true,
            stop: false,
            transport,
            http_calls: None,
        },
        sched,
        backoff: INITIAL_BACKOFF,
        generation: 0,
        detector,
        heard: rt.clock().now(),
        credential,
        authenticated: false,
        http_task: None,
        http_attempt: 0,
        http_target: None,
    };
    rt.spawn(&id, p)
}
