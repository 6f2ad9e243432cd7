//! Processes: the [`Process`] trait, the typed [`PID`] handle, the [`Context`] a process acts
//! through, [`Runtime::spawn`], and the event loop that runs one process on its own tokio task.
//!
//! Above the runtime (a context sends, links and spawns through it) and the process manager
//! (which holds each process's [`Mailbox`]); neither imports this module.
//!
//! A process owns its state; everything reaches it as an event in one queue (messages, dispatched
//! closures, HTTP requests, exited notices, terminate), handled one at a time in arrival order.
//! The loop drains a batch of events per wake-up.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::clock::Timer;
use crate::error::{Error, Result};
use crate::http::{HttpEvent, HttpRequest, HttpResponse, Reply};
use crate::mailbox::{Core, Incoming, Mailbox, RemoteConnection};
use crate::manager::ProcessManager;
use crate::message::{Body, Message, MessageEvent, Name};
use crate::queue::{Kind, Queue, KINDS};
use crate::runtime::Runtime;
use crate::upid::UPID;
use crate::util::FxBuild;

/// An actor. Every hook runs on the process's own task with exclusive access to its state.
pub trait Process: Send + Sized + 'static {
    /// Runs once, first, before any other event (install handlers and routes here).
    fn initialize(&mut self, _ctx: &mut Context<Self>) {}
    /// Runs once, last, when the process terminates.
    fn finalize(&mut self, _ctx: &mut Context<Self>) {}
    /// A process this one linked to has exited (or its connection broke).
    fn exited(&mut self, _ctx: &mut Context<Self>, _pid: &UPID) {}
}

type DispatchFn<P> = Box<dyn FnOnce(&mut P, &mut Context<P>) + Send>;
type Handler<P> = Box<dyn FnMut(&mut P, &mut Context<P>, MessageEvent) + Send>;
type RouteFn<P> = Box<dyn FnMut(&mut P, &mut Context<P>, HttpRequest) -> Reply + Send>;

/// Which authentication realm a route is in.
enum Realm {
    /// None: always open.
    Open,
    /// The runtime's own endpoints' realm ([`crate::Runtime::set_builtin_realm`]).
    Builtin,
    /// A named realm.
    Named(Box<str>),
}

/// A route: its path under the process, its realm and its handler.
struct Route<P: Process> {
    path: String,
    realm: Realm,
    f: RouteFn<P>,
}

/// One event in a process's queue.
pub(crate) enum Event<P: Process> {
    Message(MessageEvent),
    Dispatch(DispatchFn<P>),
    Http(Box<HttpEvent>),
    Exited(UPID),
    Terminate,
}

impl<P: Process> Kind for Event<P> {
    #[inline]
    fn kind(&self) -> usize {
        match self {
            Event::Message(_) => 0,
            Event::Dispatch(_) => 1,
            Event::Http(_) => 2,
            Event::Exited(_) | Event::Terminate => 3,
        }
    }
}

/// A process's queued events by kind: those waiting and those of the batch being handled
/// that are not done yet (Mesos's `event_queue_*` gauges).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueCounts {
    /// Messages from other processes, local or remote.
    pub messages: usize,
    /// Closures dispatched onto the process (and its timers).
    pub dispatches: usize,
    /// HTTP requests to its routes.
    pub http_requests: usize,
}

fn queue_counts<P: Process>(queue: &Queue<Event<P>>, core: &Core) -> QueueCounts {
    let q = queue.counts();
    let b = |i: usize| core.batch_kinds[i].load(Ordering::Relaxed);
    QueueCounts {
        messages: q[0] + b(0),
        dispatches: q[1] + b(1),
        http_requests: q[2] + b(2),
    }
}

struct MailboxImpl<P: Process> {
    queue: Arc<Queue<Event<P>>>,
    core: Arc<Core>,
    pm: Arc<ProcessManager>,
}

impl<P: Process> Mailbox for MailboxImpl<P> {
    fn core(&self) -> &Arc<Core> {
        &self.core
    }

    fn queue_len(&self) -> usize {
        self.queue.len() + self.core.batch_left.load(Ordering::Relaxed)
    }

    fn deliver(&self, ev: Incoming) -> std::result::Result<(), Incoming> {
        let typed = match ev {
            Incoming::Message(m) => Event::Message(m),
            Incoming::Http(h) => Event::Http(h),
            Incoming::Exited(u) => Event::Exited(u),
            Incoming::Terminate => Event::Terminate,
        };
        enqueue(&self.pm, &self.queue, typed).map_err(|ev| match ev {
            Event::Message(m) => Incoming::Message(m),
            Event::Http(h) => Incoming::Http(h),
            Event::Exited(u) => Incoming::Exited(u),
            _ => Incoming::Terminate,
        })
    }

    fn deliver_message(&self, m: MessageEvent) -> std::result::Result<(), MessageEvent> {
        match enqueue(&self.pm, &self.queue, Event::Message(m)) {
            Ok(()) => Ok(()),
            Err(Event::Message(m)) => Err(m),
            Err(_) => Ok(()), // enqueue gives back exactly what it was given
        }
    }
}

fn enqueue<P: Process>(
    pm: &ProcessManager,
    queue: &Queue<Event<P>>,
    ev: Event<P>,
) -> std::result::Result<(), Event<P>> {
    pm.busy(1);
    match queue.push(ev) {
        Ok(()) => Ok(()),
        Err(ev) => {
            pm.busy(-1);
            Err(ev)
        }
    }
}

/// A typed handle to a local process: send it messages, dispatch closures onto it, wait for it.
pub struct PID<P: Process> {
    upid: UPID,
    queue: Arc<Queue<Event<P>>>,
    core: Arc<Core>,
    pm: Arc<ProcessManager>,
}

impl<P: Process> Clone for PID<P> {
    fn clone(&self) -> Self {
        PID {
            upid: self.upid.clone(),
            queue: self.queue.clone(),
            core: self.core.clone(),
            pm: self.pm.clone(),
        }
    }
}

impl<P: Process> std::fmt::Debug for PID<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PID({})", self.upid)
    }
}

impl<P: Process> PID<P> {
    /// The process's address.
    pub fn upid(&self) -> &UPID {
        &self.upid
    }

    /// Runs `f` on the process and resolves to its result; `Err(Dropped)` if the process ends first.
    pub fn dispatch<R, F>(&self, f: F) -> impl Future<Output = Result<R>> + Send + 'static
    where
        R: Send + 'static,
        F: FnOnce(&mut P, &mut Context<P>) -> R + Send + 'static,
    {
        self.dispatch_labeled(std::any::type_name::<F>(), f)
    }

    /// [`PID::dispatch`] with a label that test filters can match (like a method name).
    pub fn dispatch_labeled<R, F>(
        &self,
        label: &'static str,
        f: F,
    ) -> impl Future<Output = Result<R>> + Send + 'static
    where
        R: Send + 'static,
        F: FnOnce(&mut P, &mut Context<P>) -> R + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.dispatch_nowait_labeled(label, move |p, c| {
            let _ = tx.send(f(p, c));
        });
        let id = self.upid.id().to_string();
        async move { rx.await.map_err(|_| Error::Dropped(id)) }
    }

    /// Runs `f` on the process without waiting for it.
    pub fn dispatch_nowait<F>(&self, f: F) -> bool
    where
        F: FnOnce(&mut P, &mut Context<P>) + Send + 'static,
    {
        self.dispatch_nowait_labeled(std::any::type_name::<F>(), f)
    }

    fn dispatch_nowait_labeled<F>(&self, label: &'static str, f: F) -> bool
    where
        F: FnOnce(&mut P, &mut Context<P>) + Send + 'static,
    {
        if !self.pm.filter_dispatch(&self.upid, label) {
            return false;
        }
        enqueue(&self.pm, &self.queue, Event::Dispatch(Box::new(f))).is_ok()
    }

    /// Runs `f` on the process once `d` has passed on the runtime's clock.
    pub fn delay<F>(&self, d: Duration, f: F) -> Timer
    where
        F: FnOnce(&mut P, &mut Context<P>) + Send + 'static,
    {
        let pid = self.clone();
        self.pm.clock.timer(d, move || {
            pid.dispatch_nowait(f);
        })
    }

    /// Sends a message from `from` to this process (local, no encoding).
    pub fn send<M: Message>(&self, from: &UPID, msg: M) -> bool {
        self.send_event(MessageEvent {
            name: Name::Static(M::NAME),
            from: from.clone(),
            body: Body::local(msg),
        })
    }

    fn send_event(&self, ev: MessageEvent) -> bool {
        match self.pm.filter_message(&self.upid, ev) {
            Some(ev) => enqueue(&self.pm, &self.queue, Event::Message(ev)).is_ok(),
            None => true,
        }
    }

    /// Terminates the process; with `inject` it stops before any event already queued.
    pub fn terminate(&self, inject: bool) {
        if inject {
            self.core.request_terminate();
        }
        let _ = enqueue(&self.pm, &self.queue, Event::Terminate);
    }

    /// Resolves when the process has ended.
    pub async fn wait(&self) {
        self.core.wait().await
    }

    /// Number of events queued and not yet handled.
    pub fn queue_len(&self) -> usize {
        self.queue.len() + self.core.batch_left.load(Ordering::Relaxed)
    }

    /// Events queued and not yet handled, by kind.
    pub fn queue_counts(&self) -> QueueCounts {
        queue_counts(&self.queue, &self.core)
    }

    /// Reads [`PID::queue_counts`] without keeping the queue alive (for a gauge that may
    /// outlive the process): `None` once the process has ended.
    pub fn queue_probe(&self) -> impl Fn() -> Option<QueueCounts> + Send + Sync + 'static {
        let queue = Arc::downgrade(&self.queue);
        let core = self.core.clone();
        move || {
            let queue = queue.upgrade()?;
            (!core.finished()).then(|| queue_counts(&queue, &core))
        }
    }
}

/// What a process acts through: its own address, the runtime, and ways to install handlers and
/// routes, send, link, and schedule work on itself.
pub struct Context<P: Process> {
    pid: PID<P>,
    rt: Runtime,
    new_handlers: Vec<(Box<str>, Handler<P>)>,
    new_routes: Vec<Route<P>>,
    stop: bool,
}

impl<P: Process> Context<P> {
    /// This process's address.
    pub fn self_upid(&self) -> &UPID {
        &self.pid.upid
    }

    /// A typed handle to this process.
    pub fn pid(&self) -> &PID<P> {
        &self.pid
    }

    /// The runtime this process lives in.
    pub fn runtime(&self) -> &Runtime {
        &self.rt
    }

    /// Installs a handler for message type `M` (by its [`Message::NAME`]).
    pub fn install<M: Message>(
        &mut self,
        mut f: impl FnMut(&mut P, &mut Context<P>, UPID, M) + Send + 'static,
    ) {
        self.install_named(M::NAME, move |p, c, from, m: M| f(p, c, from, m))
    }

    /// Installs a handler under an explicit name, decoding the body as `M`. A body that does not
    /// decode is dropped with a log line and the `libprocess/messages_dropped_undecodable` metric.
    pub fn install_named<M>(
        &mut self,
        name: &str,
        mut f: impl FnMut(&mut P, &mut Context<P>, UPID, M) + Send + 'static,
    ) where
        M: serde::de::DeserializeOwned + 'static,
    {
        self.install_raw(name, move |p, c, ev| {
            let MessageEvent { name, from, body } = ev;
            match body.decode::<M>(&name) {
                Ok(m) => f(p, c, from, m),
                Err(e) => {
                    c.pid.pm.dropped_undecodable.inc();
                    tracing::warn!(to = %c.self_upid(), %from, "dropping message: {e}");
                }
            }
        })
    }

    /// Installs a handler that receives the whole event (name, sender, undecoded body).
    pub fn install_raw(
        &mut self,
        name: &str,
        f: impl FnMut(&mut P, &mut Context<P>, MessageEvent) + Send + 'static,
    ) {
        self.new_handlers.push((name.into(), Box::new(f)));
    }

    /// Forwards every message named `name` to `to`, keeping its sender (libprocess's `delegate`).
    pub fn delegate(&mut self, name: &str, to: UPID) {
        self.install_raw(name, move |_, c, ev| {
            c.rt.inner.forward(&to, ev);
        });
    }

    /// Serves `route` at `/<id>/<route>`; the handler runs on this process in order with its messages.
    pub fn route(
        &mut self,
        route: &str,
        f: impl FnMut(&mut P, &mut Context<P>, HttpRequest) -> Reply + Send + 'static,
    ) {
        self.add_route(route, Realm::Open, Box::new(f));
    }

    /// [`Context::route`] in an authentication realm: when the runtime has an authenticator
    /// for `realm` ([`crate::Runtime::set_authenticator`]), a request it does not accept is
    /// answered with its `401` and an accepted one carries its principal
    /// ([`HttpRequest::principal`]); without one the route is open.
    pub fn route_in(
        &mut self,
        realm: &str,
        route: &str,
        f: impl FnMut(&mut P, &mut Context<P>, HttpRequest) -> Reply + Send + 'static,
    ) {
        self.add_route(route, Realm::Named(realm.into()), Box::new(f));
    }

    /// [`Context::route`] in the realm of the runtime's own endpoints (`/metrics/snapshot`).
    pub(crate) fn route_builtin(
        &mut self,
        route: &str,
        f: impl FnMut(&mut P, &mut Context<P>, HttpRequest) -> Reply + Send + 'static,
    ) {
        self.add_route(route, Realm::Builtin, Box::new(f));
    }

    fn add_route(&mut self, route: &str, realm: Realm, f: RouteFn<P>) {
        let path = route.trim_matches('/').to_string();
        self.new_routes.push(Route { path, realm, f });
    }

    /// Sends `msg` to `to` with this process as the sender.
    pub fn send<M: Message>(&self, to: &UPID, msg: M) {
        self.rt
            .inner
            .send_value(self.pid.upid.clone(), to, Name::Static(M::NAME), msg);
    }

    /// Sends a value under an explicit name.
    pub fn send_named<T>(&self, to: &UPID, name: &'static str, value: T)
    where
        T: serde::Serialize + Send + 'static,
    {
        self.rt
            .inner
            .send_value(self.pid.upid.clone(), to, Name::Static(name), value);
    }

    /// Links to `to`: [`Process::exited`] fires when it terminates (local) or when the connection
    /// to its node breaks or cannot be made (remote). Linking to a local id that does not exist
    /// fires `exited` at once.
    pub fn link(&mut self, to: &UPID) {
        self.link_with(to, RemoteConnection::Reuse)
    }

    /// [`Context::link`], choosing whether to reuse or replace the connection to a remote node.
    pub fn link_with(&mut self, to: &UPID, mode: RemoteConnection) {
        {
            let mut l = self
                .pid
                .core
                .links
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if !l.contains(to) {
                l.insert(to.clone());
            }
        }
        self.rt.inner.link(&self.pid.upid, to, mode);
    }

    /// Removes a link; no exited notice for `to` follows.
    pub fn unlink(&mut self, to: &UPID) {
        self.pid
            .core
            .links
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(to);
        self.rt.inner.unlink(&self.pid.upid, to);
    }

    /// Runs `f` on this process after `d` (on the runtime's clock).
    pub fn delay(
        &self,
        d: Duration,
        f: impl FnOnce(&mut P, &mut Context<P>) + Send + 'static,
    ) -> Timer {
        self.pid.delay(d, f)
    }

    /// Cancels a timer made by [`Context::delay`]; true if it had not fired.
    pub fn cancel(&self, t: Timer) -> bool {
        self.rt.clock().cancel(t)
    }

    /// A callback that, when called from anywhere, runs `f` with its argument on this process.
    pub fn defer<A: Send + 'static>(
        &self,
        f: impl FnOnce(&mut P, &mut Context<P>, A) + Send + 'static,
    ) -> impl FnOnce(A) + Send + 'static {
        let pid = self.pid.clone();
        move |a| {
            pid.dispatch_nowait(move |p, c| f(p, c, a));
        }
    }

    /// Awaits `fut` off the process, then runs `then` with its output on the process.
    pub fn spawn_then<T: Send + 'static>(
        &self,
        fut: impl Future<Output = T> + Send + 'static,
        then: impl FnOnce(&mut P, &mut Context<P>, T) + Send + 'static,
    ) {
        let done = self.defer(then);
        self.pid.pm.handle.spawn(async move { done(fut.await) });
    }

    /// Terminates this process after the current event.
    pub fn terminate_self(&mut self) {
        self.stop = true;
    }
}

/// Handlers by name, in a vector indexed through a map (so the loop can cache the last index).
struct Handlers<P: Process> {
    index: HashMap<Box<str>, usize, FxBuild>,
    list: Vec<Handler<P>>,
    /// The last static name looked up (address, length) and its index.
    last: (usize, usize, usize),
}

impl<P: Process> Handlers<P> {
    fn new() -> Handlers<P> {
        Handlers {
            index: HashMap::default(),
            list: Vec::new(),
            last: (0, 0, usize::MAX),
        }
    }

    fn insert(&mut self, name: Box<str>, h: Handler<P>) {
        match self.index.get(&name) {
            Some(&i) => self.list[i] = h,
            None => {
                self.index.insert(name, self.list.len());
                self.list.push(h);
            }
        }
    }

    /// The handler for a name. Static names (compile-time strings) hit a one-entry cache keyed by
    /// their address, which is stable for the life of the program.
    #[inline]
    fn find(&mut self, name: &Name) -> Option<&mut Handler<P>> {
        let i = match name {
            Name::Static(s) => {
                let key = (s.as_ptr() as usize, s.len());
                if (self.last.0, self.last.1) == key {
                    self.last.2
                } else {
                    let i = *self.index.get(*s)?;
                    self.last = (key.0, key.1, i);
                    i
                }
            }
            Name::Shared(s) => *self.index.get(&**s)?,
        };
        self.list.get_mut(i)
    }
}

impl Runtime {
    /// Starts `process` under `id` and returns its handle; fails if the id is taken.
    pub fn spawn<P: Process>(&self, id: &str, process: P) -> Result<PID<P>> {
        let pm = &self.inner.pm;
        let upid = UPID::new(id.to_string(), pm.addr);
        let queue = Arc::new(Queue::new());
        let core = Arc::new(Core::new(upid.clone()));
        let mailbox: Arc<dyn Mailbox> = Arc::new(MailboxImpl {
            queue: queue.clone(),
            core: core.clone(),
            pm: pm.clone(),
        });
        pm.register(&upid, mailbox)?;
        let pid = PID {
            upid,
            queue: queue.clone(),
            core,
            pm: pm.clone(),
        };
        let ctx = Context {
            pid: pid.clone(),
            rt: self.clone(),
            new_handlers: Vec::new(),
            new_routes: Vec::new(),
            stop: false,
        };
        pm.busy(1);
        let runner = Runner {
            process,
            ctx,
            handlers: Handlers::new(),
            routes: Vec::new(),
        };
        pm.handle.spawn(runner.run(queue));
        Ok(pid)
    }
}

struct Runner<P: Process> {
    process: P,
    ctx: Context<P>,
    handlers: Handlers<P>,
    routes: Vec<Route<P>>,
}

impl<P: Process> Runner<P> {
    async fn run(mut self, queue: Arc<Queue<Event<P>>>) {
        let core = self.ctx.pid.core.clone();
        let pm = self.ctx.pid.pm.clone();
        let routes = self.ctx.rt.inner.clone();
        // Each queued event holds one `busy` count (for settle). The event that ends the loop
        // hands its count to the teardown, which releases it only when the process is gone.
        // Spawned while its runtime stops (by a process handling its last event): it never
        // runs.
        let stillborn = pm.stopping.load(Ordering::Acquire);
        if stillborn {
            core.crashed.store(true, Ordering::Release);
        }
        let mut ok = stillborn || self.guard(|r| r.process.initialize(&mut r.ctx));
        let mut finish = !ok || self.ctx.stop || stillborn;
        if !finish {
            pm.busy(-1);
        }
        let mut buf: Vec<Event<P>> = Vec::new();
        let mut kinds = [0; KINDS];
        while !finish {
            if !queue.take_all(&mut buf, &mut kinds).await {
                pm.busy(1);
                break;
            }
            let n = buf.len();
            core.batch_left.store(n, Ordering::Relaxed);
            for (k, n) in core.batch_kinds.iter().zip(kinds) {
                k.store(n, Ordering::Relaxed);
            }
            let mut used = 0;
            let mut stop = false;
            // One unwind guard per batch; a panic ends the process after the event that raised it.
            ok = self.guard(|r| {
                for ev in buf.drain(..) {
                    used += 1;
                    if core.terminating.load(Ordering::Acquire) || matches!(ev, Event::Terminate) {
                        stop = true;
                        break;
                    }
                    if let Some(k) = core.batch_kinds.get(ev.kind()) {
                        // Only this loop writes it: no read-modify-write needed.
                        k.store(
                            k.load(Ordering::Relaxed).saturating_sub(1),
                            Ordering::Relaxed,
                        );
                    }
                    r.handle(ev);
                    r.merge();
                    core.batch_left.store(n - used, Ordering::Relaxed);
                    if r.ctx.stop {
                        stop = true;
                        break;
                    }
                    pm.busy(-1);
                }
            });
            buf.clear();
            finish = stop || !ok;
            // `drain` dropped whatever was left of the batch when we stopped early.
            core.batch_left.store(0, Ordering::Relaxed);
            for k in &core.batch_kinds {
                k.store(0, Ordering::Relaxed);
            }
            pm.busy(-((n - used) as isize));
        }
        if ok && !core.crashed.load(Ordering::Acquire) {
            self.guard(|r| r.process.finalize(&mut r.ctx));
        }
        // Close the queue first (late senders get their event back and look again), leave the
        // registry, drop this process's own links, then tell its linkers.
        let left = queue.close().len();
        pm.busy(-(left as isize));
        pm.unregister(&core);
        let links = std::mem::take(&mut *core.links.lock().unwrap_or_else(|e| e.into_inner()));
        for to in links {
            routes.unlink(&core.upid, &to);
        }
        let linkers = core
            .linkers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .unwrap_or_default();
        for l in linkers {
            pm.deliver(&l, Incoming::Exited(core.upid.clone()));
        }
        drop(self);
        core.finished.store(true, Ordering::Release);
        core.done.notify_waiters();
        pm.busy(-1);
    }

    /// Runs a hook, containing a panic: the process then terminates (linkers still hear of it).
    fn guard(&mut self, f: impl FnOnce(&mut Self)) -> bool {
        match std::panic::catch_unwind(AssertUnwindSafe(|| f(self))) {
            Ok(()) => {
                self.merge();
                true
            }
            Err(_) => {
                tracing::error!(pid = %self.ctx.pid.upid, "process panicked; terminating it");
                false
            }
        }
    }

    #[inline]
    fn merge(&mut self) {
        if self.ctx.new_handlers.is_empty() && self.ctx.new_routes.is_empty() {
            return;
        }
        for (name, h) in self.ctx.new_handlers.drain(..) {
            self.handlers.insert(name, h);
        }
        for route in self.ctx.new_routes.drain(..) {
            self.routes.retain(|r| r.path != route.path);
            self.routes.push(route);
        }
    }

    fn handle(&mut self, ev: Event<P>) {
        match ev {
            Event::Message(m) => match self.handlers.find(&m.name) {
                Some(h) => h(&mut self.process, &mut self.ctx, m),
                None => {
                    self.ctx.pid.pm.dropped_unknown_name.inc();
                    tracing::debug!(to = %self.ctx.pid.upid, from = %m.from, name = %m.name,
                        "dropping message with no installed handler");
                }
            },
            Event::Dispatch(f) => f(&mut self.process, &mut self.ctx),
            Event::Http(h) => {
                let HttpEvent { mut request, reply } = *h;
                let reply_now = match self.find_route(&request.route) {
                    Some(i) => {
                        let route = &mut self.routes[i];
                        let auth = match &route.realm {
                            Realm::Open => None,
                            Realm::Builtin => self.ctx.pid.pm.authenticator(None),
                            Realm::Named(n) => self.ctx.pid.pm.authenticator(Some(n)),
                        };
                        match auth.map(|a| a.authenticate(&request)) {
                            Some(Err(refused)) => Reply::Now(refused),
                            Some(Ok(principal)) => {
                                request.principal = Some(principal);
                                (route.f)(&mut self.process, &mut self.ctx, request)
                            }
                            None => (route.f)(&mut self.process, &mut self.ctx, request),
                        }
                    }
                    None => Reply::Now(HttpResponse::not_found(format!(
                        "no route '/{}' on process '{}'",
                        request.route,
                        self.ctx.pid.upid.id()
                    ))),
                };
                match reply_now {
                    Reply::Now(r) => {
                        let _ = reply.send(r);
                    }
                    Reply::Later(fut) => {
                        self.ctx.pid.pm.handle.spawn(async move {
                            let _ = reply.send(fut.await);
                        });
                    }
                }
            }
            Event::Exited(u) => self.process.exited(&mut self.ctx, &u),
            Event::Terminate => {}
        }
    }

    /// Exact route first, then the longest route that is a `/`-bounded prefix of the path.
    fn find_route(&self, path: &str) -> Option<usize> {
        let mut best: Option<(usize, usize)> = None;
        for (i, Route { path: r, .. }) in self.routes.iter().enumerate() {
            let hit = path == r
                || (path.starts_with(r.as_str())
                    && (r.is_empty() || path.as_bytes().get(r.len()) == Some(&b'/')));
            if hit && best.is_none_or(|(_, len)| r.len() > len) {
                best = Some((i, r.len()));
            }
        }
        best.map(|(i, _)| i)
    }
}
