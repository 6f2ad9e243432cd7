//! The fetcher's cache: files kept per user under `--fetcher_cache_dir`, named by a hash of
//! their URI, least recently used first out once `--fetcher_cache_size` would be passed.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use tracing::{info, warn};

/// Names part-written cache files uniquely.
static PARTIAL: AtomicU64 = AtomicU64::new(0);

/// Turns an I/O error about `path` into a reason.
fn why<'a>(what: &'a str, path: &'a Path) -> impl FnOnce(io::Error) -> String + 'a {
    move |e| format!("{what} '{}': {e}", path.display())
}

/// The cache: its directory, its size limit and its bookkeeping; share it between threads.
pub(super) struct Cache {
    dir: PathBuf,
    limit: u64,
    state: Mutex<State>,
}

/// The bookkeeping, keyed by the cached file's path.
#[derive(Default)]
struct State {
    entries: HashMap<PathBuf, Entry>,
    bytes: u64,
    tick: u64,
}

struct Entry {
    uri: String,
    size: u64,
    last_used: u64,
}

impl Cache {
    /// A cache that starts empty: old contents of `dir` are removed and the directory is
    /// created (failures are logged; caching then fails per URI, not fetching).
    pub(super) fn new(dir: PathBuf, limit: u64) -> Cache {
        if let Err(e) = reset_dir(&dir) {
            warn!(dir = %dir.display(), "Failed to reset the fetcher cache: {e}");
        }
        Cache {
            dir,
            limit,
            state: Mutex::new(State::default()),
        }
    }

    /// Where `user`'s copy of `uri` is kept.
    pub(super) fn key(&self, user: &str, uri: &str) -> PathBuf {
        let hash = fnv1a(uri.as_bytes());
        self.dir.join(user).join(format!("{hash:016x}"))
    }

    /// How many files the cache holds.
    pub(super) fn entries(&self) -> usize {
        self.lock().entries.len()
    }

    /// How many bytes the cache holds.
    pub(super) fn bytes(&self) -> u64 {
        self.lock().bytes
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Copies the cached file for `uri` to `dest`; false when it is not cached.
    pub(super) fn copy_out(&self, key: &Path, uri: &str, dest: &Path) -> Result<bool, String> {
        let mut cache = self.lock();
        cache.tick += 1;
        let tick = cache.tick;
        let Some(entry) = cache.entries.get_mut(key) else {
            return Ok(false);
        };
        if entry.uri != uri {
            return Ok(false); // A hash collision: fetch this one uncached.
        }
        match fs::copy(key, dest) {
            Ok(_) => {
                entry.last_used = tick;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let size = entry.size;
                cache.entries.remove(key);
                cache.bytes = cache.bytes.saturating_sub(size);
                Ok(false)
            }
            Err(e) => Err(why("copy from the fetcher cache", key)(e)),
        }
    }

    /// Puts a copy of `fetched` into the cache under `key`, evicting the least recently used
    /// entries to make room; a file bigger than the whole cache is not cached.
    pub(super) fn store(&self, key: &Path, uri: &str, fetched: &Path) -> Result<(), String> {
        let size = fs::metadata(fetched).map_err(why("stat", fetched))?.len();
        if size > self.limit {
            info!(
                uri,
                size, "Not caching a file bigger than the fetcher cache"
            );
            return Ok(());
        }
        let dir = key.parent().unwrap_or(&self.dir);
        fs::create_dir_all(dir).map_err(why("create cache directory", dir))?;
        let n = PARTIAL.fetch_add(1, Ordering::Relaxed);
        let partial = key.with_extension(format!("partial-{}-{n}", std::process::id()));
        if let Err(e) = fs::copy(fetched, &partial) {
            let _ = fs::remove_file(&partial);
            return Err(why("copy into the fetcher cache", &partial)(e));
        }
        let mut cache = self.lock();
        if cache.entries.contains_key(key) {
            let _ = fs::remove_file(&partial);
            return Ok(());
        }
        while cache.bytes + size > self.limit {
            let Some(victim) = cache
                .entries
                .iter()
                .min_by_key(|(_, entry)| entry.last_used)
                .map(|(path, _)| path.clone())
            else {
                break;
            };
            if let Some(entry) = cache.entries.remove(&victim) {
                cache.bytes = cache.bytes.saturating_sub(entry.size);
                info!(uri = %entry.uri, size = entry.size, "Evicting from the fetcher cache");
            }
            if let Err(e) = fs::remove_file(&victim) {
                warn!(path = %victim.display(), "Failed to remove an evicted cache file: {e}");
            }
        }
        if let Err(e) = fs::rename(&partial, key) {
            let _ = fs::remove_file(&partial);
            return Err(why("rename into the fetcher cache", key)(e));
        }
        cache.tick += 1;
        let last_used = cache.tick;
        let uri = uri.to_string();
        cache.entries.insert(
            key.to_path_buf(),
            Entry {
                uri,
                size,
                last_used,
            },
        );
        cache.bytes += size;
        Ok(())
    }
}

/// Removes everything in `dir` (but never `/`) and makes sure it exists.
fn reset_dir(dir: &Path) -> io::Result<()> {
    if dir.as_os_str().is_empty() || dir == Path::new("/") {
        return Err(io::Error::other("refusing to clear it"));
    }
    if dir.is_dir() {
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                fs::remove_dir_all(entry.path())?;
            } else {
                fs::remove_file(entry.path())?;
            }
        }
    }
    fs::create_dir_all(dir)
}

/// 64-bit FNV-1a: a stable name for a URI in the cache.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_per_user_and_stable() {
        let cache = Cache {
            dir: PathBuf::from("/c"),
            limit: 0,
            state: Mutex::new(State::default()),
        };
        let a = cache.key("alice", "http://x/y");
        assert_eq!(a, cache.key("alice", "http://x/y"));
        assert_eq!(a.parent(), Some(Path::new("/c/alice")));
        assert_ne!(a.file_name(), cache.key("alice", "http://x/z").file_name());
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
    }

    #[test]
    fn the_root_is_never_cleared() {
        assert!(reset_dir(Path::new("/")).is_err());
        assert!(reset_dir(Path::new("")).is_err());
    }
}
