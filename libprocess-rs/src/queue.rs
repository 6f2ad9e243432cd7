//! A process's event queue: an unbounded multi-producer queue whose single consumer takes
//! everything queued in one swap. Producers take a short lock to push and wake the consumer
//! only when it is idle, so a busy process drains thousands of events per wake-up. It counts
//! what it holds by [`Kind`] as items are pushed (under the lock it takes anyway), so the
//! counts cost no walk.

use std::sync::{Mutex, MutexGuard};

use tokio::sync::Notify;

/// Vectors above this capacity are not kept once drained.
const KEEP: usize = 1 << 16;

/// How many kinds the queue counts its items under.
pub(crate) const KINDS: usize = 4;

/// What an item is counted as: a number below [`KINDS`].
pub(crate) trait Kind {
    fn kind(&self) -> usize;
}

struct State<T> {
    items: Vec<T>,
    /// `items` by kind.
    counts: [usize; KINDS],
    idle: bool,
    closed: bool,
}

pub(crate) struct Queue<T> {
    st: Mutex<State<T>>,
    wake: Notify,
}

impl<T: Kind> Queue<T> {
    pub(crate) fn new() -> Queue<T> {
        Queue {
            st: Mutex::new(State {
                items: Vec::new(),
                counts: [0; KINDS],
                idle: false,
                closed: false,
            }),
            wake: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.st.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends an item; gives it back if the queue is closed.
    #[inline]
    pub(crate) fn push(&self, item: T) -> Result<(), T> {
        let mut st = self.lock();
        if st.closed {
            return Err(item);
        }
        st.counts[item.kind()] += 1;
        st.items.push(item);
        let wake = std::mem::take(&mut st.idle);
        drop(st);
        if wake {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Moves everything queued into `out` (which must be empty) and its counts by kind into
    /// `counts`, waiting while there is nothing; false once the queue is closed and empty.
    pub(crate) async fn take_all(&self, out: &mut Vec<T>, counts: &mut [usize; KINDS]) -> bool {
        loop {
            let woken = self.wake.notified();
            {
                let mut st = self.lock();
                if !st.items.is_empty() {
                    std::mem::swap(out, &mut st.items);
                    *counts = std::mem::take(&mut st.counts);
                    if st.items.capacity() > KEEP {
                        st.items = Vec::new();
                    }
                    return true;
                }
                if st.closed {
                    return false;
                }
                st.idle = true;
            }
            woken.await;
        }
    }

    /// Items waiting (not yet taken by the consumer).
    pub(crate) fn len(&self) -> usize {
        self.lock().items.len()
    }

    /// Items waiting (not yet taken by the consumer), by kind.
    pub(crate) fn counts(&self) -> [usize; KINDS] {
        self.lock().counts
    }

    /// Closes the queue and returns what was still in it.
    pub(crate) fn close(&self) -> Vec<T> {
        let mut st = self.lock();
        st.closed = true;
        st.counts = [0; KINDS];
        std::mem::take(&mut st.items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Kind for i32 {
        fn kind(&self) -> usize {
            (*self % KINDS as i32) as usize
        }
    }

    #[tokio::test]
    async fn takes_everything_in_order_and_closes() {
        let q = Queue::new();
        for i in 0..5 {
            q.push(i).unwrap();
        }
        assert_eq!(q.counts(), [2, 1, 1, 1]);
        let mut out = Vec::new();
        let mut counts = [0; KINDS];
        assert!(q.take_all(&mut out, &mut counts).await);
        assert_eq!(out, vec![0, 1, 2, 3, 4]);
        assert_eq!(counts, [2, 1, 1, 1]);
        assert_eq!(q.counts(), [0; KINDS]);
        q.push(9).unwrap();
        assert_eq!(q.counts(), [0, 1, 0, 0]);
        assert_eq!(q.close(), vec![9]);
        assert_eq!(q.counts(), [0; KINDS]);
        assert_eq!(q.push(10), Err(10));
        out.clear();
        assert!(!q.take_all(&mut out, &mut counts).await);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn wakes_an_idle_consumer() {
        let q = std::sync::Arc::new(Queue::new());
        let q2 = q.clone();
        let consumer = tokio::spawn(async move {
            let mut got = Vec::new();
            let mut out = Vec::new();
            while got.len() < 10_000 {
                assert!(q2.take_all(&mut out, &mut [0; KINDS]).await);
                got.append(&mut out);
            }
            got
        });
        for i in 0..10_000 {
            q.push(i).unwrap();
            if i % 1000 == 0 {
                tokio::task::yield_now().await;
            }
        }
        let got = consumer.await.unwrap();
        assert!(got.iter().copied().eq(0..10_000));
    }
}
