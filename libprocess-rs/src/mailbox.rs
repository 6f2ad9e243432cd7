//! What the runtime, the transport and the HTTP server know of a process without knowing its
//! type: its [`Core`] (address, link bookkeeping, termination), the untyped [`Mailbox`] the
//! registry holds, the [`Incoming`] events any process accepts, and [`RemoteConnection`].
//!
//! A leaf below `manager`, `transport`, `http_server`, `runtime` and `process`: it imports none
//! of them.

use crate::util::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::http::HttpEvent;
use crate::message::MessageEvent;
use crate::upid::UPID;

/// How [`Context::link_with`](crate::Context::link_with) treats an existing connection to a remote peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoteConnection {
    /// Reuse the persistent connection if there is one.
    Reuse,
    /// Replace it with a new connection; every existing link moves to the new one.
    Reconnect,
}

/// What every process shares with the runtime: its address, queue length and link bookkeeping.
pub(crate) struct Core {
    pub(crate) upid: UPID,
    /// Set by an injected terminate: the loop stops before its next event.
    pub(crate) terminating: AtomicBool,
    /// Set by [`crate::Runtime::crash`]: the process ends without its `finalize`.
    pub(crate) crashed: AtomicBool,
    /// Events of the batch being handled that are not done yet (written by the loop only).
    pub(crate) batch_left: AtomicUsize,
    /// Of those, messages, dispatches and HTTP requests (written by the loop only).
    pub(crate) batch_kinds: [AtomicUsize; 3],
    pub(crate) finished: AtomicBool,
    pub(crate) done: Notify,
    /// Local processes linked to this one; `None` once it has exited.
    pub(crate) linkers: Mutex<Option<Vec<UPID>>>,
    /// What this process linked to, so its links are dropped when it ends.
    pub(crate) links: Mutex<HashSet<UPID>>,
}

impl Core {
    /// The core of a new process at `upid`.
    pub(crate) fn new(upid: UPID) -> Core {
        Core {
            upid,
            terminating: AtomicBool::new(false),
            crashed: AtomicBool::new(false),
            batch_left: AtomicUsize::new(0),
            batch_kinds: Default::default(),
            finished: AtomicBool::new(false),
            done: Notify::new(),
            linkers: Mutex::new(Some(Vec::new())),
            links: Mutex::new(HashSet::default()),
        }
    }

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
