//! The task status update manager (Mesos's `TaskStatusUpdateManager`): one ordered stream of updates per task. Only the head of a stream
//! is in flight to the master; it is retried with backoff until acknowledged; an acknowledgement
//! that does not match the head (a duplicate, or for an unknown update) is ignored.

use libprocess::util::HashMap;
use std::collections::VecDeque;
use std::time::Duration;

use mesos_api::messages::StatusUpdate;
use mesos_api::{FrameworkID, TaskID};

/// First retry interval (Mesos: 10 s), doubling up to [`MAX_BACKOFF`].
pub const INITIAL_BACKOFF: Duration = Duration::from_secs(10);
/// The longest retry interval (Mesos: 10 min).
pub const MAX_BACKOFF: Duration = Duration::from_secs(600);

type Key = (FrameworkID, TaskID);

struct Stream {
    pending: VecDeque<StatusUpdate>,
    backoff: Duration,
}

/// What an acknowledgement did.
#[derive(Debug, PartialEq)]
pub enum Acked {
    /// It matched nothing in flight (duplicate or unknown): ignored.
    Ignored,
    /// The head was acknowledged; this is the new head to send, if any.
    Next(Option<Box<StatusUpdate>>),
}

/// See the module docs.
#[derive(Default)]
pub struct StatusUpdateManager {
    streams: HashMap<Key, Stream>,
}

fn key(u: &StatusUpdate) -> Key {
    (u.framework_id.clone(), u.status.task_id.clone())
}

impl StatusUpdateManager {
    /// Queues an update; returns it when it is now the head (to be sent at once).
    pub fn push(&mut self, u: StatusUpdate) -> Option<StatusUpdate> {
        let s = self.streams.entry(key(&u)).or_insert_with(|| Stream {
            pending: VecDeque::new(),
            backoff: INITIAL_BACKOFF,
        });
        s.pending.push_back(u);
        (s.pending.len() == 1).then(|| s.pending[0].clone())
    }

    /// The head of a task's stream.
    pub fn head(&self, fid: &FrameworkID, tid: &TaskID) -> Option<&StatusUpdate> {
        self.streams
            .get(&(fid.clone(), tid.clone()))
            .and_then(|s| s.pending.front())
    }

    /// The next retry interval for a stream (doubling each call, capped).
    pub fn next_backoff(&mut self, fid: &FrameworkID, tid: &TaskID) -> Duration {
        match self.streams.get_mut(&(fid.clone(), tid.clone())) {
            Some(s) => {
                let d = s.backoff;
                s.backoff = (s.backoff * 2).min(MAX_BACKOFF);
                d
            }
            None => INITIAL_BACKOFF,
        }
    }

    /// An acknowledgement from the framework (through the master).
    pub fn ack(&mut self, fid: &FrameworkID, tid: &TaskID, uuid: &[u8]) -> Acked {
        let k = (fid.clone(), tid.clone());
        let Some(s) = self.streams.get_mut(&k) else {
            return Acked::Ignored;
        };
        if s.pending.front().and_then(|h| h.status.uuid.as_deref()) != Some(uuid) {
            return Acked::Ignored;
        }
        s.pending.pop_front();
        s.backoff = INITIAL_BACKOFF;
        match s.pending.front() {
            Some(h) => Acked::Next(Some(Box::new(h.clone()))),
            None => {
                self.streams.remove(&k);
                Acked::Next(None)
            }
        }
    }

    /// Every head, to resend after (re)registration.
    pub fn heads(&self) -> Vec<StatusUpdate> {
        self.streams
            .values()
            .filter_map(|s| s.pending.front().cloned())
            .collect()
    }

    /// Updates not yet acknowledged, all streams.
    pub fn pending(&self) -> usize {
        self.streams.values().map(|s| s.pending.len()).sum()
    }

    /// Drops a framework's streams (it is gone).
    pub fn remove_framework(&mut self, fid: &FrameworkID) {
        self.streams.retain(|(f, _), _| f != fid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos_api::protocol::task::{TaskState, TaskStatus};
    use mesos_api::AgentID;

    fn update(task: &str, state: TaskState, uuid: u8) -> StatusUpdate {
        let mut status = TaskStatus::new(TaskID::new(task), state);
        status.uuid = Some(vec![uuid; 16]);
        StatusUpdate {
            framework_id: FrameworkID::new("f"),
            executor_id: None,
            agent_id: AgentID::new("a"),
            status,
            timestamp: 0.0,
            latest_state: None,
        }
    }

    #[test]
    fn only_the_head_is_in_flight_and_acks_advance_in_order() {
        let mut m = StatusUpdateManager::default();
        let f = FrameworkID::new("f");
        let t = TaskID::new("t");
        assert!(m.push(update("t", TaskState::Starting, 1)).is_some());
        assert!(m.push(update("t", TaskState::Running, 2)).is_none());
        assert!(m.push(update("t", TaskState::Finished, 3)).is_none());
        // Acking something other than the head is ignored.
        assert_eq!(m.ack(&f, &t, &[2; 16]), Acked::Ignored);
        let Acked::Next(Some(n)) = m.ack(&f, &t, &[1; 16]) else {
            panic!("expected the next head")
        };
        assert_eq!(n.status.state, TaskState::Running);
        // A duplicate of the first ack is ignored.
        assert_eq!(m.ack(&f, &t, &[1; 16]), Acked::Ignored);
        assert!(matches!(m.ack(&f, &t, &[2; 16]), Acked::Next(Some(_))));
        assert_eq!(m.ack(&f, &t, &[3; 16]), Acked::Next(None));
        assert_eq!(m.pending(), 0);
        assert_eq!(m.ack(&f, &t, &[3; 16]), Acked::Ignored);
    }

    #[test]
    fn backoff_doubles_to_the_cap_and_resets_on_ack() {
        let mut m = StatusUpdateManager::default();
        let f = FrameworkID::new("f");
        let t = TaskID::new("t");
        m.push(update("t", TaskState::Running, 1));
        m.push(update("t", TaskState::Finished, 2));
        let mut seen = Vec::new();
        for _ in 0..8 {
            seen.push(m.next_backoff(&f, &t).as_secs());
        }
        assert_eq!(seen, [10, 20, 40, 80, 160, 320, 600, 600]);
        m.ack(&f, &t, &[1; 16]);
        assert_eq!(m.next_backoff(&f, &t).as_secs(), 10);
    }
}
