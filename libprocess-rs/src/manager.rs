//! The process manager (libprocess's `ProcessManager`): this node's address, its local
//! processes' mailboxes by id, delivery into them (through the test filters, counting events
//! for `settle`), the HTTP aliases, the clock and the metrics registry.
//!
//! It knows processes only through [`Mailbox`]; it imports neither the transport, nor the
//! runtime, nor `process`. The transport and the HTTP server deliver through it; the runtime
//! owns it and routes to it or to the transport.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use dashmap::DashMap;

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::mailbox::{Core, Incoming, Mailbox};
use crate::message::MessageEvent;
use crate::metrics::{Counter, Metrics};
use crate::upid::UPID;

/// The process manager, the pointer and id of the cached target, and its mailbox: the last
/// local send on this thread.
type LastTarget = Option<(usize, Arc<str>, Arc<dyn Mailbox>)>;

thread_local! {
    static LAST_TARGET: std::cell::RefCell<LastTarget> = const { std::cell::RefCell::new(None) };
}

/// This node's local processes and what delivering to them needs.
pub(crate) struct ProcessManager {
    /// The advertised address of this node.
    pub(crate) addr: SocketAddr,
    /// The tokio runtime processes and connections run on.
    pub(crate) handle: tokio::runtime::Handle,
    registry: DashMap<Arc<str>, Arc<dyn Mailbox>, crate::util::FxBuild>,
    /// Set once the runtime shuts down or crashes: a process spawned from then on ends
    /// without running (neither `initialize` nor `finalize`).
    pub(crate) stopping: std::sync::atomic::AtomicBool,
    pub(crate) clock: Clock,
    pub(crate) metrics: Metrics,
    /// Exact HTTP paths served by a process's route: path -> (process id, route).
    aliases: DashMap<String, (String, String)>,
    /// HTTP authenticators by realm ([`crate::auth`]).
    authenticators: std::sync::RwLock<HashMap<String, Arc<dyn crate::auth::Authenticator>>>,
    /// The realm of the runtime's own endpoints.
    builtin_realm: std::sync::RwLock<Option<String>>,
    pub(crate) dropped_unknown_name: Counter,
    pub(crate) dropped_undecodable: Counter,
    dropped_no_process: Counter,
    dropped_invalid_upid: Counter,
    #[cfg(feature = "test-util")]
    pending: std::sync::atomic::AtomicIsize,
    #[cfg(feature = "test-util")]
    pub(crate) filters: crate::filter::Filters,
}

impl ProcessManager {
    /// A manager for the node at `addr`, on the current tokio runtime.
    pub(crate) fn new(addr: SocketAddr, metrics: Metrics) -> Arc<ProcessManager> {
        let pm = Arc::new(ProcessManager {
            addr,
            handle: tokio::runtime::Handle::current(),
            registry: DashMap::default(),
            stopping: std::sync::atomic::AtomicBool::new(false),
            clock: Clock::new(),
            dropped_unknown_name: metrics.counter("libprocess/messages_dropped_unknown_name"),
            dropped_undecodable: metrics.counter("libprocess/messages_dropped_undecodable"),
            dropped_no_process: metrics.counter("libprocess/messages_dropped_no_process"),
            dropped_invalid_upid: metrics.counter("libprocess/messages_dropped_invalid_upid"),
            metrics,
            aliases: DashMap::new(),
            authenticators: Default::default(),
            builtin_realm: Default::default(),
            #[cfg(feature = "test-util")]
            pending: std::sync::atomic::AtomicIsize::new(0),
            #[cfg(feature = "test-util")]
            filters: Default::default(),
        });
        let weak = Arc::downgrade(&pm);
        pm.metrics.gauge_fn("libprocess/processes", move || {
            weak.upgrade().map_or(0.0, |p| p.registry.len() as f64)
        });
        pm
    }

    /// Installs the authenticator of `realm`, or with `None` opens the realm.
    pub(crate) fn set_authenticator(
        &self,
        realm: &str,
        a: Option<Arc<dyn crate::auth::Authenticator>>,
    ) {
        let mut m = self
            .authenticators
            .write()
            .unwrap_or_else(|e| e.into_inner());
        match a {
            Some(a) => m.insert(realm.to_string(), a),
            None => m.remove(realm),
        };
    }

    /// Puts the runtime's own endpoints in `realm` (`None`: open).
    pub(crate) fn set_builtin_realm(&self, realm: Option<String>) {
        *self
            .builtin_realm
            .write()
            .unwrap_or_else(|e| e.into_inner()) = realm;
    }

    /// The authenticator of a route's realm, if that realm authenticates; `None` names the
    /// runtime's own endpoints' realm.
    pub(crate) fn authenticator(
        &self,
        realm: Option<&str>,
    ) -> Option<Arc<dyn crate::auth::Authenticator>> {
        let builtin;
        let realm = match realm {
            Some(r) => r,
            None => {
                builtin = self
                    .builtin_realm
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone()?;
                builtin.as_str()
            }
        };
        let m = self
            .authenticators
            .read()
            .unwrap_or_else(|e| e.into_inner());
        m.get(realm).cloned()
    }

    /// Counts events queued or running, for `settle` (test-util only).
    #[inline]
    pub(crate) fn busy(&self, _delta: isize) {
        #[cfg(feature = "test-util")]
        self.pending
            .fetch_add(_delta, std::sync::atomic::Ordering::AcqRel);
    }

    /// Whether no event is queued or running (test-util only).
    #[cfg(feature = "test-util")]
    pub(crate) fn idle(&self) -> bool {
        self.pending.load(std::sync::atomic::Ordering::Acquire) == 0
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

    /// Whether a local process has this id.
    pub(crate) fn exists(&self, id: &str) -> bool {
        self.registry.contains_key(id)
    }

    /// Every local process's mailbox (for shutdown).
    pub(crate) fn all(&self) -> Vec<Arc<dyn Mailbox>> {
        self.registry.iter().map(|e| e.value().clone()).collect()
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

    /// Counts and logs a message to a UPID that cannot name a process.
    pub(crate) fn drop_invalid(&self, to: &UPID, name: &str) {
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
    pub(crate) fn deliver_local(&self, to: &UPID, ev: MessageEvent) {
        let me = self as *const ProcessManager as usize;
        let hit = LAST_TARGET.with(|c| match &*c.borrow() {
            Some((pm, id, mb))
                if *pm == me && (Arc::ptr_eq(id, to.id_arc()) || **id == *to.id()) =>
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

    /// Serves `path` (exact match) with `route` of process `id`; with `replace` false, only if
    /// no alias serves it yet. True if added.
    pub(crate) fn add_alias(&self, path: &str, id: &str, route: &str, replace: bool) -> bool {
        let target = (id.to_string(), route.trim_matches('/').to_string());
        match self.aliases.entry(path.to_string()) {
            dashmap::Entry::Occupied(mut o) => {
                if replace {
                    o.insert(target);
                }
                replace
            }
            dashmap::Entry::Vacant(v) => {
                v.insert(target);
                true
            }
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
