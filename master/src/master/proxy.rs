//! One framework-proxy actor per framework: the master hands it the framework's events and the
//! proxy encodes and sends them, so a framework's traffic is serialized off the master's loop and
//! a slow framework's connection is its proxy's business.
//!
//! A framework is connected one of two ways: a scheduler process (binary transport; events go out
//! as named messages under the master's UPID, as Mesos's do) or an HTTP subscription (events go
//! out as RecordIO records, one per HTTP chunk, on the SUBSCRIBE response). Either way the proxy
//! sends a HEARTBEAT every `--heartbeat_interval` while the framework is connected: an HTTP
//! client or the SDK that hears none for a while reconnects, and a partitioned peer leaves them
//! unacknowledged, which breaks the connection after the runtime's send timeout (the master
//! then takes the framework for disconnected). When an HTTP stream's client goes away the proxy
//! tells the master.

use std::time::Duration;

use bytes::Bytes;
use libprocess::{Context, Process, PID, UPID};
use mesos_api::http::{self, Encoding};
use mesos_api::protobuf;
use mesos_api::protocol::scheduler::{Event, EventType};
use mesos_api::FrameworkID;
use tokio::sync::mpsc::UnboundedSender;

use super::Master;

/// An HTTP subscription: its `Mesos-Stream-Id`, the response body's chunk sender and the
/// encoding its client accepts.
pub(crate) struct HttpStream {
    pub(crate) id: String,
    pub(crate) tx: UnboundedSender<Bytes>,
    pub(crate) encoding: Encoding,
}

impl HttpStream {
    fn send(&self, ev: &Event) {
        if let Some(r) = http::event_record(self.encoding, protobuf::SCHEDULER_EVENT, ev) {
            let _ = self.tx.send(r);
        }
    }
}

/// How a framework is connected.
pub(crate) enum Conn {
    /// A scheduler process.
    Pid(UPID),
    /// A v1 HTTP subscription.
    Http(HttpStream),
}

impl Conn {
    /// The stream id of an HTTP connection.
    pub(crate) fn stream_id(&self) -> Option<&str> {
        match self {
            Conn::Http(s) => Some(&s.id),
            Conn::Pid(_) => None,
        }
    }

    /// The scheduler's UPID of a binary-transport connection.
    pub(crate) fn pid(&self) -> Option<&UPID> {
        match self {
            Conn::Pid(p) => Some(p),
            Conn::Http(_) => None,
        }
    }

    /// Sends one event from `master` (HTTP: one record).
    pub(crate) fn send(&self, rt: &libprocess::Runtime, master: &UPID, ev: Event) {
        match self {
            Conn::Pid(to) => rt.send_named(master, to, Event::NAME, ev),
            Conn::Http(s) => s.send(&ev),
        }
    }
}

pub(crate) struct FrameworkProxy {
    master: PID<Master>,
    framework: FrameworkID,
    target: Conn,
    heartbeat: Duration,
    /// Bumped at each retarget, so an old heartbeat loop or stream watcher does nothing.
    generation: u64,
    /// Dropping it ends the current stream watcher (which holds a sender of the stream, so it
    /// must not outlive the proxy's interest in it).
    stop_watch: Option<tokio::sync::oneshot::Sender<()>>,
}

impl FrameworkProxy {
    pub(crate) fn new(
        master: PID<Master>,
        framework: FrameworkID,
        target: Conn,
        heartbeat: Duration,
    ) -> FrameworkProxy {
        FrameworkProxy {
            master,
            framework,
            target,
            heartbeat,
            generation: 0,
            stop_watch: None,
        }
    }

    /// The framework subscribed again: a different connection gets "Framework failed over"
    /// (an HTTP stream is then closed) and the new one takes its place.
    pub(crate) fn retarget(&mut self, ctx: &mut Context<Self>, target: Conn) {
        let same = matches!((&self.target, &target), (Conn::Pid(a), Conn::Pid(b)) if a == b);
        if !same {
            self.target.send(
                ctx.runtime(),
                self.master.upid(),
                Event::error("Framework failed over"),
            );
        }
        self.target = target;
        self.watch(ctx);
    }

    /// The master took the framework for disconnected: no more heartbeats (nor stream watching)
    /// until it subscribes again.
    pub(crate) fn quiet(&mut self) {
        self.generation += 1;
        self.stop_watch = None;
    }

    pub(crate) fn deliver(&mut self, ctx: &mut Context<Self>, ev: Event) {
        self.target.send(ctx.runtime(), self.master.upid(), ev);
    }

    /// Heartbeats to the current target and, for an HTTP one, a notice to the master when the
    /// client goes away.
    fn watch(&mut self, ctx: &mut Context<Self>) {
        self.generation += 1;
        self.stop_watch = None;
        let generation = self.generation;
        self.schedule_heartbeat(ctx, generation);
        let Conn::Http(s) = &self.target else {
            return;
        };
        let tx = s.tx.clone();
        let stream = s.id.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        self.stop_watch = Some(stop);
        ctx.spawn_then(
            async move {
                tokio::select! {
                    _ = tx.closed() => true,
                    _ = stopped => false,
                }
            },
            move |p: &mut FrameworkProxy, _, closed: bool| {
                if !closed || p.generation != generation {
                    return;
                }
                let fid = p.framework.clone();
                p.master.dispatch_nowait(move |m: &mut Master, c| {
                    m.http_disconnected(c, fid, &stream);
                    m.metrics_changed(c);
                });
            },
        );
    }

    fn schedule_heartbeat(&self, ctx: &mut Context<Self>, generation: u64) {
        if self.heartbeat.is_zero() {
            return;
        }
        ctx.delay(self.heartbeat, move |p: &mut FrameworkProxy, c| {
            if p.generation == generation {
                p.target.send(
                    c.runtime(),
                    p.master.upid(),
                    Event::new(EventType::Heartbeat),
                );
                p.schedule_heartbeat(c, generation);
            }
        });
    }
}

impl Process for FrameworkProxy {
    fn initialize(&mut self, ctx: &mut Context<Self>) {
        self.watch(ctx);
    }
}
