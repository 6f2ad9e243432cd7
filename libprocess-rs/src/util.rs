//! Small shared helpers.

/// Builds fast non-cryptographic hashers (rustc-hash's Fx) for short trusted keys (process
/// ids, message names, dense indices). Not for keys an adversary chooses.
pub type FxBuild = rustc_hash::FxBuildHasher;

use std::cell::Cell;
use std::hash::{BuildHasher, DefaultHasher, Hasher};
use std::sync::OnceLock;

/// std's hash map with [`SeededHash`]: what a process keeps keyed by ids that peers choose.
pub type HashMap<K, V> = std::collections::HashMap<K, V, SeededHash>;
/// std's hash set with [`SeededHash`].
pub type HashSet<K> = std::collections::HashSet<K, SeededHash>;

thread_local! {
    /// This thread's key instead of the process's (a simulation's seed).
    static THREAD_KEY: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Hashers keyed with a random key per process, as std's `RandomState` is (keys that peers
/// choose cannot be made to collide), except on a thread given its own key
/// ([`SeededHash::set_thread_key`]): there, every map iterates in the same order run after
/// run, so a deterministic simulation replays exactly.
#[derive(Clone, Copy, Debug)]
pub struct SeededHash {
    key: u64,
}

impl SeededHash {
    /// Keys the maps made on this thread from now on with `key` (`None`: the process's key).
    pub fn set_thread_key(key: Option<u64>) {
        THREAD_KEY.with(|k| k.set(key));
    }
}

impl Default for SeededHash {
    fn default() -> SeededHash {
        static PROCESS_KEY: OnceLock<u64> = OnceLock::new();
        let key = THREAD_KEY.with(Cell::get).unwrap_or_else(|| {
            *PROCESS_KEY
                .get_or_init(|| std::collections::hash_map::RandomState::new().hash_one(0u64))
        });
        SeededHash { key }
    }
}

impl BuildHasher for SeededHash {
    type Hasher = DefaultHasher;
    fn build_hasher(&self) -> DefaultHasher {
        // SipHash with a secret first word: as unpredictable to a peer as a secret key.
        let mut h = DefaultHasher::new();
        h.write_u64(self.key);
        h
    }
}
