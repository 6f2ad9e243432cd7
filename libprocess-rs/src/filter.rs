//! Test filters (feature `test-util`): drop or observe a named message or a dispatch before it
//! reaches its process, like libprocess's DROP_MESSAGE / FUTURE_MESSAGE / FUTURE_DISPATCH.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use bytes::Bytes;
use tokio::sync::oneshot;

use crate::codec;
use crate::message::MessageEvent;
use crate::upid::UPID;

/// Which messages a filter applies to: a name, and optionally the sender and the target.
#[derive(Clone, Debug)]
pub struct MessageMatch {
    /// The message name.
    pub name: String,
    /// Only from this sender.
    pub from: Option<UPID>,
    /// Only to this process.
    pub to: Option<UPID>,
}

impl MessageMatch {
    /// Any message with this name.
    pub fn name(name: &str) -> MessageMatch {
        MessageMatch {
            name: name.to_string(),
            from: None,
            to: None,
        }
    }
    /// Also require this sender.
    pub fn from(mut self, from: &UPID) -> MessageMatch {
        self.from = Some(from.clone());
        self
    }
    /// Also require this target.
    pub fn to(mut self, to: &UPID) -> MessageMatch {
        self.to = Some(to.clone());
        self
    }
    fn hits(&self, to: &UPID, ev: &MessageEvent) -> bool {
        *ev.name == *self.name
            && self.from.as_ref().is_none_or(|f| *f == ev.from)
            && self.to.as_ref().is_none_or(|t| t == to)
    }
}

/// A copy of a matched message.
#[derive(Clone, Debug)]
pub struct MessageCopy {
    /// The name.
    pub name: String,
    /// The sender.
    pub from: UPID,
    /// The target.
    pub to: UPID,
    /// The encoded body.
    pub body: Bytes,
}

impl MessageCopy {
    /// Decodes the body.
    pub fn decode<M: serde::de::DeserializeOwned>(&self) -> Result<M, crate::codec::CodecError> {
        codec::decode(&self.body)
    }
}

/// A handle to remove a filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FilterId(u64);

enum Action<T> {
    Observe(Option<oneshot::Sender<T>>),
    DropOnce(Option<oneshot::Sender<T>>),
    DropAll,
}

struct MsgFilter {
    id: u64,
    m: MessageMatch,
    action: Action<MessageCopy>,
}

struct DispatchFilter {
    id: u64,
    to: UPID,
    label: String,
    action: Action<()>,
}

#[derive(Default)]
pub(crate) struct Filters {
    any: AtomicBool,
    next: AtomicU64,
    msgs: Mutex<Vec<MsgFilter>>,
    dispatches: Mutex<Vec<DispatchFilter>>,
}

impl Filters {
    fn id(&self) -> u64 {
        self.any.store(true, Ordering::Release);
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn add_message(
        &self,
        m: MessageMatch,
        drop: bool,
        all: bool,
    ) -> (FilterId, oneshot::Receiver<MessageCopy>) {
        let (tx, rx) = oneshot::channel();
        let action = match (drop, all) {
            (true, true) => Action::DropAll,
            (true, false) => Action::DropOnce(Some(tx)),
            (false, _) => Action::Observe(Some(tx)),
        };
        let id = self.id();
        self.msgs.lock().unwrap().push(MsgFilter { id, m, action });
        (FilterId(id), rx)
    }

    pub(crate) fn add_dispatch(&self, to: &UPID, label: &str, drop: bool) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let action = if drop {
            Action::DropOnce(Some(tx))
        } else {
            Action::Observe(Some(tx))
        };
        let id = self.id();
        self.dispatches.lock().unwrap().push(DispatchFilter {
            id,
            to: to.clone(),
            label: label.to_string(),
            action,
        });
        rx
    }

    pub(crate) fn remove(&self, id: FilterId) {
        self.msgs.lock().unwrap().retain(|f| f.id != id.0);
        self.dispatches.lock().unwrap().retain(|f| f.id != id.0);
    }

    /// Applies message filters; `None` means the message was dropped.
    pub(crate) fn on_message(&self, to: &UPID, ev: MessageEvent) -> Option<MessageEvent> {
        if !self.any.load(Ordering::Acquire) {
            return Some(ev);
        }
        let mut fs = self.msgs.lock().unwrap();
        let mut dropped = false;
        let copy = |ev: &MessageEvent| MessageCopy {
            name: ev.name.to_string(),
            from: ev.from.clone(),
            to: to.clone(),
            body: ev.body.to_bytes().unwrap_or_default(),
        };
        fs.retain_mut(|f| {
            if dropped || !f.m.hits(to, &ev) {
                return true;
            }
            match &mut f.action {
                Action::Observe(tx) => {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(copy(&ev));
                    }
                    false
                }
                Action::DropOnce(tx) => {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(copy(&ev));
                    }
                    dropped = true;
                    false
                }
                Action::DropAll => {
                    dropped = true;
                    true
                }
            }
        });
        (!dropped).then_some(ev)
    }

    /// Applies dispatch filters; false means the dispatch was dropped.
    pub(crate) fn on_dispatch(&self, to: &UPID, label: &str) -> bool {
        if !self.any.load(Ordering::Acquire) {
            return true;
        }
        let mut fs = self.dispatches.lock().unwrap();
        let mut pass = true;
        fs.retain_mut(|f| {
            if !pass || f.to != *to || !label.contains(f.label.as_str()) {
                return true;
            }
            match &mut f.action {
                Action::Observe(tx) => {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(());
                    }
                    false
                }
                Action::DropOnce(tx) => {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(());
                    }
                    pass = false;
                    false
                }
                Action::DropAll => {
                    pass = false;
                    true
                }
            }
        });
        pass
    }
}
