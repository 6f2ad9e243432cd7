//! The wall clock (seconds since the epoch) that timestamps what the master and agents record:
//! status updates, registration times. A deterministic simulation replaces it on its thread
//! with its virtual time ([`set_source`]), as it replaces the UUIDs
//! ([`crate::ids::set_uuid_source`]).

use std::cell::RefCell;

thread_local! {
    static SOURCE: RefCell<Option<Box<dyn FnMut() -> f64>>> = const { RefCell::new(None) };
}

/// Makes [`now_secs`] on this thread return what `now` says; `None` gives the machine's
/// clock back.
pub fn set_source(now: Option<Box<dyn FnMut() -> f64>>) {
    SOURCE.with(|s| *s.borrow_mut() = now);
}

/// Seconds since the Unix epoch: the machine's clock, or this thread's source.
pub fn now_secs() -> f64 {
    SOURCE
        .with(|s| s.borrow_mut().as_mut().map(|f| f()))
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0)
        })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_source_sets_this_threads_clock_and_none_gives_the_machines_back() {
        super::set_source(Some(Box::new(|| 42.5)));
        assert_eq!(super::now_secs(), 42.5);
        // Other threads keep the machine's clock.
        assert!(std::thread::spawn(super::now_secs).join().unwrap() > 1.6e9);
        super::set_source(None);
        assert!(super::now_secs() > 1.6e9);
    }
}
