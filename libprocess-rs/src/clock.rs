//! The runtime's clock and timers. Time can be paused and advanced (libprocess's `Clock`), so
//! protocol tests run in virtual time: while paused, time moves only by [`Clock::advance`]; timers
//! whose deadline has come fire on the timer task whether or not the clock is paused.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

type Callback = Box<dyn FnOnce() + Send>;

/// The time a running clock follows: tokio's, which is the machine's, or virtual time in a
/// tokio runtime started paused (a simulation: every node's timers then move with it).
fn machine_now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// A cancellable timer; see [`Clock::cancel`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Timer {
    deadline: Instant,
    seq: u64,
}

impl Timer {
    /// When the timer fires, on this clock's time line.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

struct State {
    /// `Some(now)` while paused.
    paused: Option<Instant>,
    /// Added to real time while running (time advanced during pauses).
    offset: Duration,
    timers: BTreeMap<(Instant, u64), Callback>,
    next_seq: u64,
}

/// A clock shared by one runtime's processes and timers. Cloning gives another handle.
#[derive(Clone)]
pub struct Clock {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    wake: Notify,
}

impl Clock {
    pub(crate) fn new() -> Clock {
        Clock {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    paused: None,
                    offset: Duration::ZERO,
                    timers: BTreeMap::new(),
                    next_seq: 0,
                }),
                wake: Notify::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now_of(st: &State) -> Instant {
        st.paused.unwrap_or_else(|| machine_now() + st.offset)
    }

    /// The current time on this clock.
    pub fn now(&self) -> Instant {
        Self::now_of(&self.lock())
    }

    /// Whether the clock is paused.
    pub fn paused(&self) -> bool {
        self.lock().paused.is_some()
    }

    /// Stops time: `now()` stays put until [`Clock::advance`] or [`Clock::resume`].
    pub fn pause(&self) {
        let mut st = self.lock();
        if st.paused.is_none() {
            st.paused = Some(Self::now_of(&st));
        }
    }

    /// Moves paused time forward by `d`, firing every timer that comes due. No effect when running.
    pub fn advance(&self, d: Duration) {
        {
            let mut st = self.lock();
            match st.paused.as_mut() {
                Some(t) => *t += d,
                None => return,
            }
        }
        self.inner.wake.notify_one();
    }

    /// Lets time run again from where it stood (never backwards).
    pub fn resume(&self) {
        {
            let mut st = self.lock();
            if let Some(t) = st.paused.take() {
                st.offset = t.saturating_duration_since(machine_now());
            }
        }
        self.inner.wake.notify_one();
    }

    /// Runs `f` on the timer task once `d` has passed on this clock.
    pub fn timer(&self, d: Duration, f: impl FnOnce() + Send + 'static) -> Timer {
        let timer = {
            let mut st = self.lock();
            let deadline = Self::now_of(&st) + d;
            let seq = st.next_seq;
            st.next_seq += 1;
            st.timers.insert((deadline, seq), Box::new(f));
            Timer { deadline, seq }
        };
        self.inner.wake.notify_one();
        timer
    }

    /// Cancels a timer; returns whether it was still pending.
    pub fn cancel(&self, t: Timer) -> bool {
        self.lock().timers.remove(&(t.deadline, t.seq)).is_some()
    }

    /// Whether a timer is due now (its deadline has come) but has not fired yet.
    pub fn has_due(&self) -> bool {
        let st = self.lock();
        let now = Self::now_of(&st);
        st.timers.keys().next().is_some_and(|(d, _)| *d <= now)
    }

    /// Number of timers pending.
    pub fn pending_timers(&self) -> usize {
        self.lock().timers.len()
    }

    /// Removes and returns the due timers and the real instant of the next one (if running).
    fn take_due(&self) -> (Vec<Callback>, Option<Instant>) {
        let mut st = self.lock();
        let now = Self::now_of(&st);
        let mut due = Vec::new();
        while let Some(entry) = st.timers.first_entry() {
            if entry.key().0 > now {
                break;
            }
            due.push(entry.remove());
        }
        let next = match st.paused {
            Some(_) => None,
            None => st
                .timers
                .keys()
                .next()
                .map(|(d, _)| d.checked_sub(st.offset).unwrap_or_else(machine_now)),
        };
        (due, next)
    }

    /// The timer task: fires due timers, sleeps until the next deadline or a wake-up.
    pub(crate) async fn drive(self, busy: impl Fn(isize) + Send + 'static) {
        loop {
            let woken = self.inner.wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            busy(1);
            let (due, next) = self.take_due();
            let fired = !due.is_empty();
            for f in due {
                // A panicking callback must not stop every later timer.
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err() {
                    tracing::error!("a timer callback panicked");
                }
            }
            busy(-1);
            if fired {
                continue;
            }
            match next {
                Some(at) => {
                    // In a fixed order: tokio's select! draws its order from an unseeded
                    // generator, and a simulation replays only what is ordered by its seed.
                    tokio::select! {
                        biased;
                        _ = tokio::time::sleep_until(at.into()) => {}
                        _ = &mut woken => {}
                    }
                }
                None => woken.await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paused_time_moves_only_by_advance() {
        let c = Clock::new();
        c.pause();
        let t0 = c.now();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(c.now(), t0);
        c.advance(Duration::from_secs(10));
        assert_eq!(c.now(), t0 + Duration::from_secs(10));
        c.resume();
        assert!(c.now() >= t0 + Duration::from_secs(10));
    }

    #[test]
    fn cancel_removes_a_pending_timer() {
        let c = Clock::new();
        c.pause();
        let t = c.timer(Duration::from_secs(1), || {});
        assert_eq!(c.pending_timers(), 1);
        assert!(c.cancel(t));
        assert!(!c.cancel(t));
        assert_eq!(c.pending_timers(), 0);
    }

    #[test]
    fn due_only_after_advance() {
        let c = Clock::new();
        c.pause();
        c.timer(Duration::from_secs(5), || {});
        assert!(!c.has_due());
        c.advance(Duration::from_secs(5));
        assert!(c.has_due());
        let (due, _) = c.take_due();
        assert_eq!(due.len(), 1);
    }
}
