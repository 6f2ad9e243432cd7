//! The runtime: the handle ([`Runtime`]) to a node's process manager and transport, and
//! message routing between them (a local mailbox or the transport), links, the clock and
//! metrics. A node runs one runtime; tests may run several in one OS process (each has its own
//! port).
//!
//! Above the process manager and the transport; below `process` (which adds
//! [`Runtime::spawn`]) and `start` (which adds [`Runtime::bind`]), neither of which it imports.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
#[cfg(feature = "test-util")]
use std::time::Duration;

use serde::Serialize;

use crate::clock::Clock;
use crate::mailbox::{Incoming, Mailbox, RemoteConnection};
use crate::manager::ProcessManager;
use crate::message::{Body, Message, MessageEvent, Name};
use crate::metrics::Metrics;
use crate::transport::Transport;
use crate::upid::UPID;

/// A handle to a runtime; clones share it.
#[derive(Clone)]
pub struct Runtime {
    pub(crate) inner: Arc<RuntimeInner>,
}

/// What a runtime's handles share.
pub(crate) struct RuntimeInner {
    /// The local processes.
    pub(crate) pm: Arc<ProcessManager>,
    /// The connections to other nodes.
    pub(crate) transport: Arc<Transport>,
    next_id: AtomicU64,
    /// The accept loop and the timer driver, stopped by [`Runtime::shutdown`].
    tasks: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Runtime {
    /// A runtime of these parts, with the tasks that serve them (see [`Runtime::bind`]).
    pub(crate) fn new(
        pm: Arc<ProcessManager>,
        transport: Arc<Transport>,
        tasks: Vec<tokio::task::JoinHandle<()>>,
    ) -> Runtime {
        Runtime {
            inner: Arc::new(RuntimeInner {
                pm,
                transport,
                next_id: AtomicU64::new(1),
                tasks: std::sync::Mutex::new(tasks),
            }),
        }
    }

    /// The advertised address of this node.
    pub fn address(&self) -> SocketAddr {
        self.inner.pm.addr
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
        let pm = &self.inner.pm;
        if !pm.is_local(pid) {
            return;
        }
        if let Some(mb) = pm.lookup(pid.id()) {
            if inject {
                mb.core().request_terminate();
            }
            let _ = mb.deliver(Incoming::Terminate);
        }
    }

    /// Resolves once the local process has ended (at once if there is none).
    pub async fn wait(&self, pid: &UPID) {
        let pm = &self.inner.pm;
        if !pm.is_local(pid) {
            return;
        }
        let core = pm.lookup(pid.id()).map(|m| m.core().clone());
        if let Some(c) = core {
            c.wait().await
        }
    }

    /// Whether a local process with this id exists.
    pub fn exists(&self, id: &str) -> bool {
        self.inner.pm.exists(id)
    }

    /// Queued events of a local process.
    pub fn queue_len(&self, pid: &UPID) -> Option<usize> {
        let pm = &self.inner.pm;
        if !pm.is_local(pid) {
            return None;
        }
        pm.lookup(pid.id()).map(|m| m.queue_len())
    }

    /// The clock of this runtime.
    pub fn clock(&self) -> &Clock {
        &self.inner.pm.clock
    }

    /// The metrics registry of this runtime.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.pm.metrics
    }

    /// Serves `path` (exact match, e.g. `/health`) with route `route` of process `id`.
    pub fn add_http_alias(&self, path: &str, id: &str, route: &str) {
        self.inner.pm.add_alias(path, id, route, true);
    }

    /// [`Runtime::add_http_alias`] unless `path` is already served by an alias; true if added.
    pub fn add_http_alias_if_absent(&self, path: &str, id: &str, route: &str) -> bool {
        self.inner.pm.add_alias(path, id, route, false)
    }

    /// Makes routes in `realm` ([`Context::route_in`](crate::Context::route_in)) authenticate
    /// with `a`; `None` opens them again.
    pub fn set_authenticator(
        &self,
        realm: &str,
        a: Option<std::sync::Arc<dyn crate::auth::Authenticator>>,
    ) {
        self.inner.pm.set_authenticator(realm, a);
    }

    /// Puts the runtime's own endpoints (`/metrics/snapshot`) in `realm` (Mesos: the
    /// read-only realm); `None` (the default) leaves them open.
    pub fn set_builtin_realm(&self, realm: Option<String>) {
        self.inner.pm.set_builtin_realm(realm);
    }

    /// Open outgoing connections.
    pub fn outgoing_connections(&self) -> usize {
        self.inner.transport.outgoing_count()
    }

    /// Terminates every process, stops listening and closes every connection (peers linked to
    /// processes here see `exited`); waits for the processes to end.
    pub async fn shutdown(&self) {
        self.stop(false).await
    }

    /// As a killed OS process: every process ends after the event it is handling, without
    /// its `finalize` (nothing is cleaned up), and every connection closes (peers see
    /// `exited`). A simulation crashes a node with it.
    pub async fn crash(&self) {
        self.stop(true).await
    }

    async fn stop(&self, crash: bool) {
        use std::sync::atomic::Ordering;
        let pm = &self.inner.pm;
        pm.stopping.store(true, Ordering::Release);
        for t in self.inner.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
        // Until none is left: one handling its last event may have spawned another (which
        // ends without running, but is waited for too).
        loop {
            let all: Vec<Arc<dyn Mailbox>> = pm.all();
            if all.is_empty() {
                break;
            }
            for mb in &all {
                if crash {
                    mb.core().crashed.store(true, Ordering::Release);
                }
                mb.core().request_terminate();
                let _ = mb.deliver(Incoming::Terminate);
            }
            for mb in all {
                mb.core().wait().await;
            }
        }
        self.inner.transport.shutdown();
    }
}

#[cfg(feature = "test-util")]
impl Runtime {
    /// Returns once no process is running or has queued events and no timer is due.
    pub async fn settle(&self) {
        let pm = &self.inner.pm;
        let quiet = || pm.idle() && !pm.clock.has_due();
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
        self.inner.pm.filters.add_message(m, false, false).1
    }

    /// Drops the first matching message and resolves with a copy of it.
    pub fn drop_message(
        &self,
        m: crate::filter::MessageMatch,
    ) -> tokio::sync::oneshot::Receiver<crate::filter::MessageCopy> {
        self.inner.pm.filters.add_message(m, true, false).1
    }

    /// Drops every matching message until the filter is removed.
    pub fn drop_messages(&self, m: crate::filter::MessageMatch) -> crate::filter::FilterId {
        self.inner.pm.filters.add_message(m, true, true).0
    }

    /// Removes a filter.
    pub fn remove_filter(&self, id: crate::filter::FilterId) {
        self.inner.pm.filters.remove(id)
    }

    /// Observes the first dispatch to `to` whose label contains `label`.
    pub fn future_dispatch(&self, to: &UPID, label: &str) -> tokio::sync::oneshot::Receiver<()> {
        self.inner.pm.filters.add_dispatch(to, label, false)
    }

    /// Drops the first dispatch to `to` whose label contains `label`.
    pub fn drop_dispatch(&self, to: &UPID, label: &str) -> tokio::sync::oneshot::Receiver<()> {
        self.inner.pm.filters.add_dispatch(to, label, true)
    }
}

impl RuntimeInner {
    /// Routes a value: a local mailbox (no encoding) or the transport (encoded into the frame).
    pub(crate) fn send_value<T: Serialize + Send + 'static>(
        &self,
        from: UPID,
        to: &UPID,
        name: Name,
        value: T,
    ) {
        if !to.is_valid() {
            self.pm.drop_invalid(to, &name);
            return;
        }
        if self.pm.is_local(to) {
            self.pm.deliver_local(
                to,
                MessageEvent {
                    name,
                    from,
                    body: Body::local(value),
                },
            );
        } else {
            self.transport.send(to, &from, &name, &mut |out| {
                crate::codec::encode_into(&value, out)
            });
        }
    }

    /// Forwards a received message to another process, keeping its sender.
    pub(crate) fn forward(&self, to: &UPID, ev: MessageEvent) {
        if !to.is_valid() {
            self.pm.drop_invalid(to, &ev.name);
            return;
        }
        if self.pm.is_local(to) {
            self.pm.deliver_local(to, ev);
            return;
        }
        match ev.body.to_bytes() {
            Ok(bytes) => self.transport.send(to, &ev.from, &ev.name, &mut |out| {
                out.extend_from_slice(&bytes);
                Ok(())
            }),
            Err(e) => tracing::warn!(%to, "cannot forward message '{}': {e}", ev.name),
        }
    }

    pub(crate) fn link(&self, linker: &UPID, to: &UPID, mode: RemoteConnection) {
        let pm = &self.pm;
        if !to.is_valid() {
            // Nothing can be there: exited at once, no connection attempt.
            pm.deliver(linker, Incoming::Exited(to.clone()));
            return;
        }
        if !pm.is_local(to) {
            self.transport.link(linker, to, mode);
            return;
        }
        let linked = pm
            .lookup(to.id())
            .is_some_and(|mb| mb.core().add_linker(linker));
        if !linked {
            pm.deliver(linker, Incoming::Exited(to.clone()));
        }
    }

    pub(crate) fn unlink(&self, linker: &UPID, to: &UPID) {
        if self.pm.is_local(to) {
            if let Some(mb) = self.pm.lookup(to.id()) {
                mb.core().remove_linker(linker);
            }
        } else {
            self.transport.unlink(linker, to);
        }
    }
}
