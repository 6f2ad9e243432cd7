//! Processes: the [`Process`] trait, the typed [`PID`] handle, the [`Context`] a process acts
//! through, and the event loop that runs one process on its own tokio task.
//!
//! A process owns its state; everything reaches it as an event in one queue (messages, dispatched
//! closures, HTTP requests, exited notices, terminate), handled one at a time in arrival order.
//! The loop drains a batch of events per wake-up.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{oneshot, Notify};

use crate::clock::Timer;
use crate::error::{Error, Result};
use crate::http::{HttpEvent, HttpRequest, HttpResponse, Reply};
use crate::message::{Body, Message, MessageEvent, Name};
use crate::queue::Queue;
use crate::runtime::{Runtime, RuntimeInner};
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

/// How [`Context::link_with`] treats an existing connection to a remote peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoteConnection {
    /// Reuse the persistent connection if there is one.
    Reuse,
    /// Replace it with a new connection; every existing link moves to the new one.
    Reconnect,
}

type DispatchFn<P> = Box<dyn FnOnce(&mut P, &mut Context<P>) + Send>;
type Handler<P> = Box<dyn FnMut(&mut P, &mut Context<P>, MessageEvent) + Send>;
type RouteFn<P> = Box<dyn FnMut(&mut P, &mut Context<P>, HttpRequest) -> Reply + Send>;

/// One event in a process's queue.
pub(crate) enum Event<P: Process> {
    Message(MessageEvent),
    Dispatch(DispatchFn<P>),
    Http(Box<HttpEvent>),
    Exited(UPID),
    Terminate,
}

/// What every process shares with the runtime: its address, queue length and link bookkeeping.
pub(crate) struct Core {
    pub(crate) upid: UPID,
    /// Set by an injected terminate: the loop stops before its next event.
    terminating: AtomicBool,
    /// Events of the batch being handled that are not done yet (written by the loop only).
    batch_left: AtomicUsize,
    finished: AtomicBool,
    done: Notify,
    /// Local processes linked to this one; `None` once it has exited.
    linkers: Mutex<Option<Vec<UPID>>>,
    /// What this process linked to, so its links are dropped when it ends.
    links: Mutex<std::collections::HashSet<UPID>>,
}

impl Core {
    pub(crate) fn finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }

    /// Resolves once the process has finished (finalize ran, linkers notified).
    pub(crate) async fn wait(&self) {
        loop {
            let n = self.done.notified();
            tokio::pin!(n);
            n.as_mut().enable();
            if self.finished() {
                return;
            }
            n.await;
        }
    }

    /// Adds a local linker; false if the process has already exited.
    pub(crate) fn add_linker(&self, linker: &UPID) -> bool {
        let mut l = self.linkers.lock().unwrap_or_else(|e| e.into_inner());
        match l.as_mut() {
            Some(v) => {
                if !v.contains(linker) {
                    v.push(linker.clone());
                }
                true
            }
            None => false,
        }
    }

    pub(crate) fn remove_linker(&self, linker: &UPID) {
        let mut l = self.linkers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = l.as_mut() {
            v.retain(|u| u != linker);
        }
    }

    pub(crate) fn request_terminate(&self) {
        self.terminating.store(true, Ordering::Release);
    }
}

/// The untyped face of a process's queue, held by the runtime's registry.
pub(crate) trait Mailbox: Send + Sync {
    fn core(&self) -> &Arc<Core>;
    /// Events queued or in the batch being handled.
    fn queue_len(&self) -> usize;
    /// Enqueues; gives the event back if the process is gone.
    fn deliver(&self, ev: Incoming) -> std::result::Result<(), Incoming>;
    /// Enqueues a message; gives it back if the process is gone.
    fn deliver_message(&self, m: MessageEvent) -> std::result::Result<(), MessageEvent>;
}

/// An event any process can receive, whatever its type.
pub(crate) enum Incoming {
    Message(MessageEvent),
    Http(Box<HttpEvent>),
    Exited(UPID),
    Terminate,
}

struct MailboxImpl<P: Process> {
    queue: Arc<Queue<Event<P>>>,
    core: Arc<Core>,
    rt: Arc<RuntimeInner>,
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
        enqueue(&self.rt, &self.queue, typed).map_err(|ev| match ev {
            Event::Message(m) => Incoming::Message(m),
            Event::Http(h) => Incoming::Http(h),
            Event::Exited(u) => Incoming::Exited(u),
            _ => Incoming::Terminate,
        })
    }

    fn deliver_message(&self, m: MessageEvent) -> std::result::Result<(), MessageEvent> {
        match enqueue(&self.rt, &self.queue, Event::Message(m)) {
            Ok(()) => Ok(()),
            Err(Event::Message(m)) => Err(m),
            Err(_) => Ok(()), // enqueue gives back exactly what it was given
        }
    }
}

fn enqueue<P: Process>(
    rt: &RuntimeInner,
    queue: &Queue<Event<P>>,
    ev: Event<P>,
) -> std::result::Result<(), Event<P>> {
    rt.busy(1);
    match queue.push(ev) {
        Ok(()) => Ok(()),
        Err(ev) => {
            rt.busy(-1);
            Err(ev)
        }
    }
}

/// A typed handle to a local process: send it messages, dispatch closures onto it, wait for it.
pub struct PID<P: Process> {
    upid: UPID,
    queue: Arc<Queue<Event<P>>>,
    core: Arc<Core>,
    rt: Arc<RuntimeInner>,
}

impl<P: Process> Clone for PID<P> {
    fn clone(&self) -> Self {
        PID {
            upid: self.upid.clone(),
            queue: self.queue.clone(),
            core: self.core.clone(),
            rt: self.rt.clone(),
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
        if !self.rt.filter_dispatch(&self.upid, label) {
            return false;
        }
        enqueue(&self.rt, &self.queue, Event::Dispatch(Box::new(f))).is_ok()
    }

    /// Runs `f` on the process once `d` has passed on the runtime's clock.
    pub fn delay<F>(&self, d: Duration, f: F) -> Timer
    where
        F: FnOnce(&mut P, &mut Context<P>) + Send + 'static,
    {
        let pid = self.clone();
        self.rt.clock.timer(d, move || {
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
        match self.rt.filter_message(&self.upid, ev) {
            Some(ev) => enqueue(&self.rt, &self.queue, Event::Message(ev)).is_ok(),
            None => true,
        }
    }

    /// Terminates the process; with `inject` it stops before any event already queued.
    pub fn terminate(&self, inject: bool) {
        if inject {
            self.core.request_terminate();
        }
        let _ = enqueue(&self.rt, &self.queue, Event::Terminate);
    }

    /// Resolves when the process has ended.
    pub async fn wait(&self) {
        self.core.wait().await
    }

    /// Number of events queued and not yet handled.
    pub fn queue_len(&self) -> usize {
        self.queue.len() + self.core.batch_left.load(Ordering::Relaxed)
    }
}

/// What a process acts through: its own address, the runtime, and ways to install handlers and
/// routes, send, link, and schedule work on itself.
pub struct Context<P: Process> {
    pid: PID<P>,
    rt: Runtime,
    new_handlers: Vec<(Box<str>, Handler<P>)>,
    new_routes: Vec<(String, RouteFn<P>)>,
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
                    c.rt.inner.dropped_undecodable.inc();
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
        let r = route.trim_matches('/').to_string();
        self.new_routes.push((r, Box::new(f)));
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
        self.rt.inner.handle.spawn(async move { done(fut.await) });
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

/// Spawns `process` under `id` on `rt`; see [`Runtime::spawn`].
pub(crate) fn spawn<P: Process>(rt: &Runtime, id: String, process: P) -> Result<PID<P>> {
    let inner = &rt.inner;
    let upid = UPID::new(id, inner.addr);
    let queue = Arc::new(Queue::new());
    let core = Arc::new(Core {
        upid: upid.clone(),
        terminating: AtomicBool::new(false),
        batch_left: AtomicUsize::new(0),
        finished: AtomicBool::new(false),
        done: Notify::new(),
        linkers: Mutex::new(Some(Vec::new())),
        links: Mutex::new(std::collections::HashSet::new()),
    });
    let mailbox: Arc<dyn Mailbox> = Arc::new(MailboxImpl {
        queue: queue.clone(),
        core: core.clone(),
        rt: inner.clone(),
    });
    inner.register(&upid, mailbox)?;
    let pid = PID {
        upid,
        queue: queue.clone(),
        core,
        rt: inner.clone(),
    };
    let ctx = Context {
        pid: pid.clone(),
        rt: rt.clone(),
        new_handlers: Vec::new(),
        new_routes: Vec::new(),
        stop: false,
    };
    inner.busy(1);
    let runner = Runner {
        process,
        ctx,
        handlers: Handlers::new(),
        routes: Vec::new(),
    };
    inner.handle.spawn(runner.run(queue));
    Ok(pid)
}

struct Runner<P: Process> {
    process: P,
    ctx: Context<P>,
    handlers: Handlers<P>,
    routes: Vec<(String, RouteFn<P>)>,
}

impl<P: Process> Runner<P> {
    async fn run(mut self, queue: Arc<Queue<Event<P>>>) {
        let core = self.ctx.pid.core.clone();
        let rt = self.ctx.pid.rt.clone();
        // Each queued event holds one `busy` count (for settle). The event that ends the loop
        // hands its count to the teardown, which releases it only when the process is gone.
        let mut ok = self.guard(|r| r.process.initialize(&mut r.ctx));
        let mut finish = !ok || self.ctx.stop;
        if !finish {
            rt.busy(-1);
        }
        let mut buf: Vec<Event<P>> = Vec::new();
        while !finish {
            if !queue.take_all(&mut buf).await {
                rt.busy(1);
                break;
            }
            let n = buf.len();
            core.batch_left.store(n, Ordering::Relaxed);
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
                    r.handle(ev);
                    r.merge();
                    core.batch_left.store(n - used, Ordering::Relaxed);
                    if r.ctx.stop {
                        stop = true;
                        break;
                    }
                    rt.busy(-1);
                }
            });
            buf.clear();
            finish = stop || !ok;
            // `drain` dropped whatever was left of the batch when we stopped early.
            core.batch_left.store(0, Ordering::Relaxed);
            rt.busy(-((n - used) as isize));
        }
        if ok {
            self.guard(|r| r.process.finalize(&mut r.ctx));
        }
        // Close the queue first (late senders get their event back and look again), leave the
        // registry, drop this process's own links, then tell its linkers.
        let left = queue.close().len();
        rt.busy(-(left as isize));
        rt.unregister(&core);
        let links = std::mem::take(&mut *core.links.lock().unwrap_or_else(|e| e.into_inner()));
        for to in links {
            rt.unlink(&core.upid, &to);
        }
        let linkers = core
            .linkers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .unwrap_or_default();
        for l in linkers {
            rt.deliver(&l, Incoming::Exited(core.upid.clone()));
        }
        drop(self);
        core.finished.store(true, Ordering::Release);
        core.done.notify_waiters();
        rt.busy(-1);
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
        for (route, f) in self.ctx.new_routes.drain(..) {
            self.routes.retain(|(r, _)| *r != route);
            self.routes.push((route, f));
        }
    }

    fn handle(&mut self, ev: Event<P>) {
        match ev {
            Event::Message(m) => match self.handlers.find(&m.name) {
                Some(h) => h(&mut self.process, &mut self.ctx, m),
                None => {
                    self.ctx.rt.inner.dropped_unknown_name.inc();
                    tracing::debug!(to = %self.ctx.pid.upid, from = %m.from, name = %m.name,
                        "dropping message with no installed handler");
                }
            },
            Event::Dispatch(f) => f(&mut self.process, &mut self.ctx),
            Event::Http(h) => {
                let HttpEvent { request, reply } = *h;
                let reply_now = match self.find_route(&request.route) {
                    Some(i) => (self.routes[i].1)(&mut self.process, &mut self.ctx, request),
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
                        self.ctx.rt.inner.handle.spawn(async move {
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
        for (i, (r, _)) in self.routes.iter().enumerate() {
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
