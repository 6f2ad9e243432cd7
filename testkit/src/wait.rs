//! Waiting for something to happen, with a limit and a failure message that names it.

use std::fmt::Display;
use std::future::Future;
use std::time::{Duration, Instant};

/// How often [`eventually`] and [`eventually_async`] check their condition (20 ms).
pub const POLL: Duration = Duration::from_millis(20);

/// What a condition checked by [`eventually`] returns: whether it holds yet, the value to hand
/// back once it does and, while it does not, what to say about the state it saw.
///
/// - `bool`: holds when `true`; hands back `()`.
/// - `Option<T>`: holds when `Some`; hands back the `T`.
/// - `Result<T, E>`: holds when `Ok`; hands back the `T`. The last `Err` is printed in the
///   failure message, so return one that says what was seen (`Err(format!("{n} executors
///   left"))`).
pub trait Outcome {
    /// What the wait hands back once the condition holds.
    type Value;
    /// `Ok(value)` once the condition holds; otherwise `Err` with what to print about the
    /// state seen, if anything.
    fn into_outcome(self) -> Result<Self::Value, Option<String>>;
}

impl Outcome for bool {
    type Value = ();
    fn into_outcome(self) -> Result<(), Option<String>> {
        if self {
            Ok(())
        } else {
            Err(None)
        }
    }
}

impl<T> Outcome for Option<T> {
    type Value = T;
    fn into_outcome(self) -> Result<T, Option<String>> {
        self.ok_or(None)
    }
}

impl<T, E: Display> Outcome for Result<T, E> {
    type Value = T;
    fn into_outcome(self) -> Result<T, Option<String>> {
        self.map_err(|e| Some(e.to_string()))
    }
}

/// A wait for a condition: at most `limit`, checking every [`POLL`] unless told otherwise with
/// [`Eventually::every`]. [`eventually`] and [`eventually_async`] are the short forms.
///
/// ```
/// use std::time::{Duration, Instant};
/// let start = Instant::now();
/// let waited = testkit::Eventually::new(Duration::from_secs(5), "a tenth of a second to pass")
///     .every(Duration::from_millis(5))
///     .until(|| Some(start.elapsed()).filter(|e| *e >= Duration::from_millis(100)));
/// assert!(waited >= Duration::from_millis(100));
/// ```
#[derive(Debug, Clone)]
pub struct Eventually {
    limit: Duration,
    every: Duration,
    what: String,
}

impl Eventually {
    /// A wait of at most `limit` for `what` (named in the panic when it does not happen:
    /// "timed out after 30s waiting for `what`").
    pub fn new(limit: Duration, what: impl Into<String>) -> Self {
        Eventually {
            limit,
            every: POLL,
            what: what.into(),
        }
    }

    /// Checks every `every` instead of every [`POLL`] (for conditions that cost something to
    /// check, such as an HTTP request or a walk of `/proc`).
    pub fn every(mut self, every: Duration) -> Self {
        self.every = every;
        self
    }

    /// Checks `cond` now and then every interval, sleeping the thread in between, until it
    /// holds; returns its value. Panics once the limit has passed with the condition still
    /// false, naming what was awaited and printing the last state `cond` reported (see
    /// [`Outcome`]). In async code use [`Eventually::until_async`], which does not block the
    /// thread.
    pub fn until<O: Outcome>(&self, mut cond: impl FnMut() -> O) -> O::Value {
        let deadline = Instant::now() + self.limit;
        loop {
            match cond().into_outcome() {
                Ok(v) => return v,
                Err(last) => {
                    if Instant::now() >= deadline {
                        self.fail(last);
                    }
                }
            }
            std::thread::sleep(self.every);
        }
    }

    /// As [`Eventually::until`], for a condition that is a future: `cond` makes a new one for
    /// each check, which must finish within what is left of the limit (a check still running
    /// when the limit passes fails the wait too). Sleeps with `tokio::time::sleep`, so it
    /// needs a Tokio runtime with time enabled.
    pub async fn until_async<O, Fut>(&self, mut cond: impl FnMut() -> Fut) -> O::Value
    where
        O: Outcome,
        Fut: Future<Output = O>,
    {
        let deadline = tokio::time::Instant::now() + self.limit;
        let mut last = None;
        loop {
            match tokio::time::timeout_at(deadline, cond()).await {
                Ok(o) => match o.into_outcome() {
                    Ok(v) => return v,
                    Err(l) => {
                        last = l;
                        if tokio::time::Instant::now() >= deadline {
                            self.fail(last);
                        }
                    }
                },
                Err(_) => self.fail(last.map(|l| format!("{l} (and the last check hung)"))),
            }
            tokio::time::sleep(self.every).await;
        }
    }

    fn fail(&self, last: Option<String>) -> ! {
        match last {
            Some(last) => panic!(
                "timed out after {:?} waiting for {}; last seen: {last}",
                self.limit, self.what
            ),
            None => panic!("timed out after {:?} waiting for {}", self.limit, self.what),
        }
    }
}

/// Waits up to `limit` for `cond` to hold, checking every [`POLL`] and sleeping the thread in
/// between; returns what it hands back (see [`Outcome`]). Panics with "timed out after
/// `limit` waiting for `what`" (and the last state `cond` reported, for a `Result`) if it
/// never does.
///
/// ```
/// let mut n = 0;
/// testkit::eventually(std::time::Duration::from_secs(1), "three checks", || {
///     n += 1;
///     n == 3
/// });
/// ```
pub fn eventually<O: Outcome>(
    limit: Duration,
    what: impl Into<String>,
    cond: impl FnMut() -> O,
) -> O::Value {
    Eventually::new(limit, what).until(cond)
}

/// The async [`eventually`]: `cond` makes a future for each check (`|| async { ... }`, or
/// `|| std::future::ready(x)` for a plain value); waits up to `limit` for one to report that
/// the condition holds, sleeping [`POLL`] between checks without blocking the thread. Panics
/// with "timed out after `limit` waiting for `what`" (and the last state reported) if it
/// never does.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let start = tokio::time::Instant::now();
/// let ms = testkit::eventually_async(std::time::Duration::from_secs(1), "50 ms to pass", || async {
///     let ms = start.elapsed().as_millis();
///     if ms >= 50 { Ok(ms) } else { Err(format!("only {ms} ms")) }
/// })
/// .await;
/// assert!(ms >= 50);
/// # });
/// ```
pub async fn eventually_async<O, Fut>(
    limit: Duration,
    what: impl Into<String>,
    cond: impl FnMut() -> Fut,
) -> O::Value
where
    O: Outcome,
    Fut: Future<Output = O>,
{
    Eventually::new(limit, what).until_async(cond).await
}

/// Awaits `fut` for at most `limit`; panics with "timed out after `limit` waiting for `what`"
/// if it has not finished by then. For a loop that does work between its checks (reads events,
/// launches tasks): wrap the whole loop.
pub async fn within<T>(limit: Duration, what: impl Display, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(limit, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {limit:?} waiting for {what}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    const SHORT: Duration = Duration::from_millis(100);

    #[test]
    fn eventually_returns_once_the_condition_holds() {
        let n = Cell::new(0);
        eventually(Duration::from_secs(5), "the fifth check", || {
            n.set(n.get() + 1);
            n.get() == 5
        });
        assert_eq!(n.get(), 5);
        let v = eventually(Duration::from_secs(5), "a value", || Some(7));
        assert_eq!(v, 7);
        let v: u8 = eventually(Duration::from_secs(5), "an Ok", || Ok::<_, String>(8));
        assert_eq!(v, 8);
    }

    #[test]
    #[should_panic(expected = "timed out after 100ms waiting for the impossible")]
    fn eventually_panics_naming_what_never_happened() {
        eventually(SHORT, "the impossible", || false);
    }

    #[test]
    #[should_panic(expected = "waiting for a count of 3; last seen: count is 1")]
    fn eventually_prints_the_last_state_seen() {
        eventually(SHORT, "a count of 3", || Err::<(), _>("count is 1"));
    }

    #[test]
    fn eventually_checks_at_least_once_even_with_no_time() {
        eventually(Duration::ZERO, "a condition that already holds", || true);
    }

    #[tokio::test]
    async fn eventually_async_returns_the_value() {
        let n = Cell::new(0);
        let v = eventually_async(Duration::from_secs(5), "the third check", || {
            n.set(n.get() + 1);
            let k = n.get();
            async move { Some(k).filter(|k| *k == 3) }
        })
        .await;
        assert_eq!(v, 3);
    }

    #[tokio::test]
    #[should_panic(
        expected = "timed out after 100ms waiting for the async impossible; last seen: \
                               still nothing"
    )]
    async fn eventually_async_panics_naming_what_never_happened() {
        eventually_async(SHORT, "the async impossible", || async {
            Err::<(), _>("still nothing")
        })
        .await;
    }

    #[tokio::test]
    #[should_panic(expected = "waiting for a check that hangs")]
    async fn eventually_async_does_not_wait_past_the_limit_for_a_hung_check() {
        eventually_async(SHORT, "a check that hangs", || {
            std::future::pending::<bool>()
        })
        .await;
    }

    #[tokio::test]
    async fn within_hands_back_the_value() {
        assert_eq!(within(SHORT, "a ready value", async { 4 }).await, 4);
    }

    #[tokio::test]
    #[should_panic(expected = "timed out after 100ms waiting for the end of time")]
    async fn within_panics_naming_what_never_finished() {
        within(SHORT, "the end of time", std::future::pending::<()>()).await;
    }
}
