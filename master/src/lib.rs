//! mesos-master: the master process. It admits agents, subscribes frameworks, turns the
//! allocator's decisions into offers, validates ACCEPTs and launches tasks on agents, forwards
//! status updates and acknowledgements, reconciles, and watches agents' health. Every peer is a
//! UPID: agents and binary-transport frameworks talk to it with named messages
//! (`mesos.internal.*` and `mesos.v1.scheduler.Call` / `Event`).

mod flags;
mod maintenance;
mod master;
mod registry;
mod state;
mod task_json;
mod validation;

pub use flags::MasterFlags;
pub use master::Master;
