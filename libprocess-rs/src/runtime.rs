//! The runtime: the registry of local processes, message routing (local mailbox or transport),
//! links, the clock, metrics, and the one listening socket. A node runs one runtime; tests may
//! run several in one OS process (each has its own port).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use serde::Serialize;

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::http::{HttpResponse, Reply};
use crate::message::{Body, Message, MessageEvent, Name};
use crate::metrics::{Counter, Metrics};
use crate::process::{self, Core, Incoming, Mailbox, Process, RemoteConnection, PID};
use crate::transport::{self, Transport};
use crate::upid::UPID;

/// The runtime, id and mailbox of the last local send on this thread.
type LastTarget = Option<(usize, Arc<str>, Arc<dyn Mailbox>)>;

thread_local! {
    static LAST_TARGET: std::cell::RefCell<LastTarget> = const { std::cell::RefCell::new(None) };
}

/// How a runtime binds and advertises itself.
#[derive(Clone, Debug)]
pub struct Config {
    /// The ip to listen on (`0.0.0.0` listens everywhere).
    pub ip: IpAddr,
    /// The port to listen on (0 picks a free one).
    pub port: u16,
    /// The ip put in this node's UPIDs; defaults to `ip`, or 127.0.0.1 when `ip` is unspecified.
    pub advertise_ip: Option<IpAddr>,
    /// The hard limit on one binary frame; larger frames close their connection.
    pub max_frame_bytes: usize,
    /// How long an outgoing connect may take before links see `exited`.
    pub connect_timeout: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            advertise_ip: None,
            max_frame_bytes: transport::wire::DEFAULT_MAX_FRAME,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// A handle to a runtime; clones share it.
#[derive(Clone)]
pub struct Runtime {
    pub(crate) inner: Arc<RuntimeInner>,
}

pub(crate) struct RuntimeInner {
    pub(crate) addr: SocketAddr,
    pub(crate) handle: tokio::runtime::Handle,
    registry: DashMap<Arc<str>, Arc<dyn Mailbox>, crate::util::FxBuild>,
    pub(crate) clock: Clock,
    pub(crate) metrics: Metrics,
    pub(crate) transport: Transport,
    aliases: DashMap<String, (String, String)>,
    next_id: AtomicU64,
    pub(crate) dropped_unknown_name: Counter,
    pub(crate) dropped_undecodable: Counter,
    dropped_no_process: Counter,
    dropped_invalid_upid: Counter,
    tasks: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
    #[cfg(feature = "test-util")]
    pending: std::sync::atomic::AtomicIsize,
    #[cfg(feature = "test-util")]
    pub(crate) filters: crate::filter::Filters,
}

impl Runtime {
    /// Binds the listening socket and starts the runtime on the current tokio runtime.
    pub async fn bind(config: Config) -> Result<Runtime> {
        let listener = tokio::net::TcpListener::bind((config.ip, config.port)).await?;
        let local = listener.local_addr()?;
        let ip = config
            .advertise_ip
            .unwrap_or(if local.ip().is_unspecified() {
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            } else {
                local.ip()
            });
        let addr = SocketAddr::new(ip, local.port());
        let metrics = Metrics::new();
        let transport = Transport::new(&metrics, config.max_frame_bytes, config.connect_timeout);
        let inner = Arc::new(RuntimeInner {
            addr,
            handle: tokio::runtime::Handle::current(),
            registry: DashMap::default(),
            clock: Clock::new(),
            dropped_unknown_name: metrics.counter("libprocess/messages_dropped_unknown_name"),
            dropped_undecodable: metrics.counter("libprocess/messages_dropped_undecodable"),
            dropped_no_process: metrics.counter("libprocess/messages_dropped_no_process"),
            dropped_invalid_upid: metrics.counter("libprocess/messages_dropped_invalid_upid"),
            metrics,
            transport,
            aliases: DashMap::new(),
            next_id: AtomicU64::new(1),
            tasks: std::sync::Mutex::new(Vec::new()),
            #[cfg(feature = "test-util")]
            pending: std::sync::atomic::AtomicIsize::new(0),
            #[cfg(feature = "test-util")]
            filters: Default::default(),
        });
        {
            let weak = Arc::downgrade(&inner);
            inner.metrics.gauge_fn("libprocess/processes", move || {
                weak.upgrade().map_or(0.0, |r| r.registry.len() as f64)
            });
        }
        let accept = tokio::spawn(transport::accept_loop(inner.clone(), listener));
        let weak = Arc::downgrade(&inner);
        let timers = tokio::spawn(inner.clock.clone().drive(move |d| {
            if let Some(rt) = weak.upgrade() {
                rt.busy(d)
            }
        }));
        inner.tasks.lock().unwrap().extend([accept, timers]);
        let rt = Runtime { inner };
        rt.spawn("metrics", MetricsProcess)?;
        Ok(rt)
    }

    /// A runtime on 127.0.0.1 with a free port.
    pub async fn local() -> Result<Runtime> {
        Runtime::bind(Config::default()).await
    }

    /// The advertised address of this node.
    pub fn address(&self) -> SocketAddr {
        self.inner.addr
    }

    /// Starts `process` under `id` and returns its handle; fails if the id is taken.
    pub fn spawn<P: Process>(&self, id: &str, process: P) -> Result<PID<P>> {
        process::spawn(self, id.to_string(), process)
    }

    /// A fresh id `base(N)`, libprocess style.
    pub fn unique_id(&self, base: &str) -> String {
        format!(
            "{base}({})",
            self.inner.next_id.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// Sends `msg` to `to` with no return address.
    pub fn post<M: Message>(&self, to: &UPID, msg: M) {
        self.inner
            .send_value(UPID::none(), to, Name::Static(M::NAME), msg);
    }

    /// Sends `msg` to `to` as if from `from`.
    pub fn send<M: Message>(&self, from: &UPID, to: &UPID, msg: M) {
        self.inner
            .send_value(from.clone(), to, Name::Static(M::NAME), msg);
    }

    /// Sends a value under an explicit name as if from `from`.
    pub fn send_named<T>(&self, from: &UPID, to: &UPID, name: &'static str, value: T)
    where
        T: serde::Serialize + Send + 'static,
    {
        self.inner
            .send_value(from.clone(), to, Name::Static(name), value);
    }

    /// Terminates a local process; with `inject` it jumps ahead of queued events.
    pub fn terminate(&self, pid: &UPID, inject: bool) {
        if !self.inner.is_local(pid) {
            return;
        }
        if let Some(mb) = self.inner.lookup(pid.id()) {
            if inject {
                mb.core().request_terminate();
            }
            let _ = mb.deliver(Incoming::Terminate);
        }
    }

    /// Resolves once the local process has ended (at once if there is none).
    pub async fn wait(&self, pid: &UPID) {
        if !self.inner.is_local(pid) {
            return;
        }
        let core = self.inner.lookup(pid.id()).map(|m| m.core().clone());
        if let Some(c) = core {
            c.wait().await
        }
    }

    /// Whether a local process with this id exists.
    pub fn exists(&self, id: &str) -> bool {
        self.inner.registry.contains_key(id)
    }

    /// Queued events of a local process.
    pub fn queue_len(&self, pid: &UPID) -> Option<usize> {
        if !self.inner.is_local(pid) {
            return None;
        }
        self.inner.lookup(pid.id()).map(|m| m.queue_len())
    }

    /// The clock of this runtime.
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// The metrics registry of this runtime.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Serves `path` (exact match, e.g. `/health`) with route `route` of process `id`.
    pub fn add_http_alias(&self, path: &str, id: &str, route: &str) {
        self.inner.aliases.insert(
            path.to_string(),
            (id.to_string(), route.trim_matches('/').to_string()),
        );
    }

    /// [`Runtime::add_http_alias`] unless `path` is already served by an alias; true if added.
    pub fn add_http_alias_if_absent(&self, path: &str, id: &str, route: &str) -> bool {
        match self.inner.aliases.entry(path.to_string()) {
            dashmap::Entry::Occupied(_) => false,
            dashmap::Entry::Vacant(v) => {
                v.insert((id.to_string(), route.trim_matches('/').to_string()));
                true
            }
        }
    }

    /// Open outgoing connections.
    pub fn outgoing_connections(&self) -> usize {
        self.inner.transport.outgoing_count()
    }

    /// Terminates every process, stops listening and closes every connection (peers linked to
    /// processes here see `exited`); waits for the processes to end.
    pub async fn shutdown(&self) {
        for t in self.inner.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
        let all: Vec<Arc<dyn Mailbox>> = self
            .inner
            .registry
            .iter()
            .map(|e| e.value().clone())
            .collect();
        for mb in &all {
            mb.core().request_terminate();
            let _ = mb.deliver(Incoming::Terminate);
        }
        for mb in all {
            mb.core().wait().await;
        }
        self.inner.transport.shutdown();
    }
}

#[cfg(feature = "test-util")]
impl Runtime {
    /// Returns once no process is running or has queued events and no timer is due.
    pub async fn settle(&self) {
        let quiet =
            || self.inner.pending.load(Ordering::Acquire) == 0 && !self.inner.clock.has_due();
        loop {
            if quiet() {
                // Stable across a pause: nothing in flight between queues.
                tokio::time::sleep(Duration::from_millis(1)).await;
                if quiet() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }

    /// Observes the first matching message (it is still delivered).
    pub fn future_message(
        &self,
        m: crate::filter::MessageMatch,
    ) -> tokio::sync::oneshot::Receiver<crate::filter::MessageCopy> {
        self.inner.filters.add_message(m, false, false).1
    }

    /// Drops the first matching message and resolves with a copy of it.
    pub fn drop_message(
        &self,
        m: crate::filter::MessageMatch,
    ) -> tokio::sync::oneshot::Receiver<crate::filter::MessageCopy> {
        self.inner.filters.add_message(m, true, false).1
    }

    /// Drops every matching message until the filter is removed.
    pub fn drop_messages(&self, m: crate::filter::MessageMatch) -> crate::filter::FilterId {
        self.inner.filters.add_message(m, true, true).0
    }

    /// Removes a filter.
    pub fn remove_filter(&self, id: crate::filter::FilterId) {
        self.inner.filters.remove(id)
    }

    /// Observes the first dispatch to `to` whose label contains `label`.
    pub fn future_dispatch(&self, to: &UPID, label: &str) -> tokio::sync::oneshot::Receiver<()> {
        self.inner.filters.add_dispatch(to, label, false)
    }

    /// Drops the first dispatch to `to` whose label contains `label`.
    pub fn drop_dispatch(&self, to: &UPID, label: &str) -> tokio::sync::oneshot::Receiver<()> {
        self.inner.filters.add_dispatch(to, label, true)
    }
}

impl RuntimeInner {
    /// Counts events queued or running, for `settle` (test-util only).
    #[inline]
    pub(crate) fn busy(&self, _delta: isize) {
        #[cfg(feature = "test-util")]
        self.pending.fetch_add(_delta, Ordering::AcqRel);
    }

    pub(crate) fn register(&self, upid: &UPID, mb: Arc<dyn Mailbox>) -> Result<()> {
        match self.registry.entry(upid.id_arc().clone()) {
            dashmap::Entry::Occupied(_) => Err(Error::DuplicateId(upid.id().to_string())),
            dashmap::Entry::Vacant(v) => {
                let weak = Arc::downgrade(&mb);
                v.insert(mb);
                self.metrics.gauge_fn(
                    &format!("__processes__/{}/event_queue_length", upid.id()),
                    move || weak.upgrade().map_or(0.0, |m| m.queue_len() as f64),
                );
                Ok(())
            }
        }
    }

    pub(crate) fn unregister(&self, core: &Arc<Core>) {
        let id = core.upid.id();
        self.registry
            .remove_if(id, |_, mb| Arc::ptr_eq(mb.core(), core));
        self.metrics
            .remove(&format!("__processes__/{id}/event_queue_length"));
    }

    pub(crate) fn lookup(&self, id: &str) -> Option<Arc<dyn Mailbox>> {
        self.registry.get(id).map(|e| e.value().clone())
    }

    pub(crate) fn is_local(&self, to: &UPID) -> bool {
        to.addr() == self.addr
    }

    /// Delivers an event to a local process by id; false if there is none.
    pub(crate) fn deliver_to_id(&self, id: &str, ev: Incoming) -> bool {
        match self.lookup(id) {
            Some(mb) => mb.deliver(ev).is_ok(),
            None => false,
        }
    }

    /// Delivers an event to a local process; false if there is none.
    pub(crate) fn deliver(&self, to: &UPID, ev: Incoming) -> bool {
        self.deliver_to_id(to.id(), ev)
    }

    /// Passes a message through the test filters and into a mailbox.
    pub(crate) fn deliver_message(
        &self,
        mb: &Arc<dyn Mailbox>,
        ev: MessageEvent,
    ) -> std::result::Result<(), MessageEvent> {
        let Some(ev) = self.filter_message(&mb.core().upid, ev) else {
            return Ok(());
        };
        mb.deliver_message(ev)
    }

    fn drop_invalid(&self, to: &UPID, name: &str) {
        self.dropped_invalid_upid.inc();
        tracing::debug!(%to, name, "dropping message to an invalid UPID");
    }

    pub(crate) fn drop_no_process(&self, to: &str, ev: &MessageEvent) {
        self.dropped_no_process.inc();
        tracing::debug!(to, from = %ev.from, name = %ev.name, "dropping message for unknown process");
    }

    #[inline]
    pub(crate) fn filter_message(&self, _to: &UPID, ev: MessageEvent) -> Option<MessageEvent> {
        #[cfg(feature = "test-util")]
        return self.filters.on_message(_to, ev);
        #[cfg(not(feature = "test-util"))]
        Some(ev)
    }

    #[inline]
    pub(crate) fn filter_dispatch(&self, _to: &UPID, _label: &str) -> bool {
        #[cfg(feature = "test-util")]
        return self.filters.on_dispatch(_to, _label);
        #[cfg(not(feature = "test-util"))]
        true
    }

    /// Delivers to a local process by UPID. A one-entry per-thread cache of the last target
    /// skips the registry for a sender that talks to one process many times in a row.
    fn deliver_local(&self, to: &UPID, ev: MessageEvent) {
        let me = self as *const RuntimeInner as usize;
        let hit = LAST_TARGET.with(|c| match &*c.borrow() {
            Some((rt, id, mb))
                if *rt == me && (Arc::ptr_eq(id, to.id_arc()) || **id == *to.id()) =>
            {
                self.deliver_message(mb, ev)
            }
            _ => Err(ev),
        });
        // A miss, or the cached process has ended: look it up.
        let Err(ev) = hit else {
            return;
        };
        match self.lookup(to.id()) {
            Some(mb) => {
                LAST_TARGET.with(|c| {
                    *c.borrow_mut() = Some((me, to.id_arc().clone(), mb.clone()));
                });
                if let Err(ev) = self.deliver_message(&mb, ev) {
                    self.drop_no_process(to.id(), &ev);
                }
            }
            None => self.drop_no_process(to.id(), &ev),
        }
    }

    /// Routes a value: a local mailbox (no encoding) or the transport (encoded into the frame).
    pub(crate) fn send_value<T: Serialize + Send + 'static>(
        self: &Arc<Self>,
        from: UPID,
        to: &UPID,
        name: Name,
        value: T,
    ) {
        if !to.is_valid() {
            self.drop_invalid(to, &name);
            return;
        }
        if self.is_local(to) {
            self.deliver_local(
                to,
                MessageEvent {
                    name,
                    from,
                    body: Body::local(value),
                },
            );
        } else {
            self.transport.send(self, to, &from, &name, &mut |out| {
                crate::codec::encode_into(&value, out)
            });
        }
    }

    /// Forwards a received message to another process, keeping its sender.
    pub(crate) fn forward(self: &Arc<Self>, to: &UPID, ev: MessageEvent) {
        if !to.is_valid() {
            self.drop_invalid(to, &ev.name);
            return;
        }
        if self.is_local(to) {
            self.deliver_local(to, ev);
            return;
        }
        match ev.body.to_bytes() {
            Ok(bytes) => self
                .transport
                .send(self, to, &ev.from, &ev.name, &mut |out| {
                    out.extend_from_slice(&bytes);
                    Ok(())
                }),
            Err(e) => tracing::warn!(%to, "cannot forward message '{}': {e}", ev.name),
        }
    }

    pub(crate) fn link(self: &Arc<Self>, linker: &UPID, to: &UPID, mode: RemoteConnection) {
        if !to.is_valid() {
            // Nothing can be there: exited at once, no connection attempt.
            self.deliver(linker, Incoming::Exited(to.clone()));
            return;
        }
        if !self.is_local(to) {
            self.transport.link(self, linker, to, mode);
            return;
        }
        let linked = self
            .lookup(to.id())
            .is_some_and(|mb| mb.core().add_linker(linker));
        if !linked {
            self.deliver(linker, Incoming::Exited(to.clone()));
        }
    }

    pub(crate) fn unlink(&self, linker: &UPID, to: &UPID) {
        if self.is_local(to) {
            if let Some(mb) = self.lookup(to.id()) {
                mb.core().remove_linker(linker);
            }
        } else {
            self.transport.unlink(linker, to);
        }
    }

    /// Maps an HTTP path to (process id, route): an exact alias, else `/<id>/<route>`.
    pub(crate) fn resolve_http(&self, path: &str) -> Option<(String, String)> {
        if let Some(a) = self.aliases.get(path) {
            return Some(a.value().clone());
        }
        let p = path.strip_prefix('/')?;
        let (id, route) = p.split_once('/').unwrap_or((p, ""));
        if id.is_empty() {
            return None;
        }
        Some((id.to_string(), route.trim_end_matches('/').to_string()))
    }
}

/// Serves `/metrics/snapshot`.
struct MetricsProcess;

impl Process for MetricsProcess {
    fn initialize(&mut self, ctx: &mut process::Context<Self>) {
        ctx.route("snapshot", |_, ctx, _req| {
            Reply::from(HttpResponse::json(&ctx.runtime().metrics().snapshot_json()))
        });
    }
}
