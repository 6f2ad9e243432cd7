//! One framework-proxy actor per framework: the master hands it the framework's events and the
//! proxy encodes and sends them, so a framework's traffic is serialized off the master's loop and
//! a slow framework's connection is its proxy's business. Events go out under the master's UPID,
//! as Mesos's do.

use libprocess::{Context, Process, UPID};
use mesos_api::protocol::scheduler::Event;

pub(crate) struct FrameworkProxy {
    master: UPID,
    target: UPID,
}

impl FrameworkProxy {
    pub(crate) fn new(master: UPID, target: UPID) -> FrameworkProxy {
        FrameworkProxy { master, target }
    }

    /// The framework failed over to a new scheduler.
    pub(crate) fn retarget(&mut self, target: UPID) {
        self.target = target;
    }

    pub(crate) fn deliver(&mut self, ctx: &mut Context<Self>, ev: Event) {
        ctx.runtime()
            .send_named(&self.master, &self.target, Event::NAME, ev);
    }
}

impl Process for FrameworkProxy {}
